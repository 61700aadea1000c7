//! The test harness for the std layer: loopback servers and proxies that
//! misbehave on purpose, and launchers for real third-party peers.
//!
//! Nothing here uses wstether itself, so the harness keeps compiling while
//! the client's API changes; each test file brings its own client. Every
//! server and proxy binds 127.0.0.1 on an ephemeral port; the in-process
//! proxies refuse to tunnel anywhere but loopback, and tests ask the
//! external ones for loopback targets only.
//!
//! Nothing sleeps to wait for something that can be waited on: every wait is
//! on a socket, a condition variable or a child's output, bounded by
//! [`PATIENCE`] or a shorter deadline. The only polls are for things that
//! give no signal (a port another program opens), and they are bounded too.
//!
//! One concept per file:
//! - [`server`]: the scripted loopback server, its [`Conn`]ections and the
//!   [`Journal`] of what it saw.
//! - [`http`]: the raw HTTP side of the upgrade, every answer a hostile or
//!   unusual server gives.
//! - [`frames`]: the WebSocket frame codec for raw peers.
//! - [`raw_peer`]: a server peer speaking frames by hand ([`RawPeer`]).
//! - [`peer`]: a well-behaved server peer on tungstenite ([`Peer`]).
//! - [`tls`]: a test CA and TLS for server scripts.
//! - [`proxy`]: a fault-injecting TCP relay, an HTTP CONNECT proxy and a
//!   SOCKS5 proxy, in process.
//! - [`external`]: tinyproxy, microsocks and a python-websockets peer.

// Each test binary uses a different part of these tools.
#![allow(dead_code, unused_imports)]

pub mod external;
pub mod frames;
pub mod http;
pub mod peer;
pub mod proxy;
pub mod raw_peer;
pub mod server;
pub mod tls;

pub use external::{Microsocks, PythonPeer, PythonPeerOptions, Tinyproxy};
pub use frames::{frame_header, server_frame, Frame, RawFrame, RawStep};
pub use http::{http_date, unix_now, Request, Response};
pub use peer::{echo, record, Peer, Step};
pub use proxy::{ConnectMode, ConnectProxy, FaultRelay, Proxy, Socks5Mode, Socks5Proxy, SocksRequest, SocksTarget};
pub use raw_peer::{Flood, RawPeer, StallEnd};
pub use server::{Conn, Duplex, Journal, Registry, Script, Seen, Server};
pub use tls::{ClientIdentity, PemFiles, TestCa};

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use tungstenite::Message;

/// The longest any helper waits: far past every deadline the tests
/// configure, so a slow machine still passes and a bug fails instead of
/// hanging.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `prefix0`, `prefix1`, … `prefix{n-1}`.
pub fn numbered(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

/// The text of each message; fails the test on a binary one.
pub fn texts(messages: &[Message]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m.to_text().expect("a text message").to_string())
        .collect()
}

/// A poisoned lock still holds what the other thread wrote; a test that
/// panicked has already failed, the others should see the data.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A free port on 127.0.0.1 with nothing listening: connections to it are
/// refused until something binds it.
pub fn free_loopback_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("a bound listener has an address")
}

/// A raw client socket to `addr` with every read and write bounded by
/// [`PATIENCE`].
pub fn dial(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, PATIENCE).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(PATIENCE));
    let _ = stream.set_write_timeout(Some(PATIENCE));
    stream
}

/// Asks `probe` every `every` until it returns something or `timeout`
/// passes. Only for conditions nothing signals (a port another process
/// opens); everything else waits on the event itself.
pub fn poll_until<T>(timeout: Duration, every: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = probe() {
            return Some(found);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        thread::sleep(every.min(left));
    }
}

/// A fresh directory under the system's temp dir, removed with everything in
/// it when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "wstether-{label}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        // A leftover from a crashed run with the same pid must not leak in.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Writes `contents` to `name` inside the directory; returns its path.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One temporary file, removed when dropped.
#[derive(Debug)]
pub struct TempFile(pub PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

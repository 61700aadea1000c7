//! Proxies in process, on 127.0.0.1, each on its own ephemeral port:
//!
//! - [`FaultRelay`] (`relay.rs`): a TCP relay in front of one upstream that
//!   injects faults — blackhole, delay, cut, reset, refuse new connections.
//! - [`ConnectProxy`] (`connect.rs`): an HTTP CONNECT proxy that tunnels,
//!   asks for `Proxy-Authorization: Basic`, refuses with any status, hangs
//!   or dribbles its `200`.
//! - [`Socks5Proxy`] (`socks5.rs`): a SOCKS5 proxy (RFC 1928, RFC 1929) that
//!   tunnels with or without a password, refuses, fails with any reply code
//!   or hangs.
//!
//! The tunnelling proxies only ever dial loopback: a name is `localhost` or
//! one the test aliased to a loopback address, and anything else is refused
//! the way a real proxy refuses it (502, SOCKS reply 0x04), so a client bug
//! can never send traffic off this machine.

mod connect;
mod relay;
mod socks5;

pub use connect::{ConnectMode, ConnectProxy};
pub use relay::{FaultRelay, LinkFaults, Proxy};
pub use socks5::{reply, Socks5Mode, Socks5Proxy, SocksRequest, SocksTarget};

use std::collections::HashMap;
use std::fmt::Debug;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::{lock, PATIENCE};

/// Every socket a proxy opened (clones), so dropping the proxy ends every
/// connection and every thread blocked on one.
pub(crate) type Sockets = Arc<Mutex<Vec<TcpStream>>>;

pub(crate) fn keep(sockets: &Sockets, stream: &TcpStream) {
    if let Ok(clone) = stream.try_clone() {
        lock(sockets).push(clone);
    }
}

/// Takes `stream`'s clone out of `sockets`, for a proxy that keeps track of
/// the connection itself.
pub(crate) fn release(sockets: &Sockets, stream: &TcpStream) {
    let id = (stream.local_addr().ok(), stream.peer_addr().ok());
    lock(sockets).retain(|s| (s.local_addr().ok(), s.peer_addr().ok()) != id);
}

/// An accept loop on a fresh loopback port that runs `handle` for each
/// connection on its own thread; stopped (and every socket shut) on drop.
pub(crate) struct Acceptor {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    sockets: Sockets,
}

impl Acceptor {
    pub(crate) fn start(handle: impl Fn(TcpStream, &Sockets) + Send + Sync + 'static) -> Acceptor {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("a bound listener has an address");
        let stop = Arc::new(AtomicBool::new(false));
        let sockets: Sockets = Arc::default();
        let handle = Arc::new(handle);
        let thread = {
            let (stop, sockets) = (Arc::clone(&stop), Arc::clone(&sockets));
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let _ = stream.set_nodelay(true);
                    let _ = stream.set_read_timeout(Some(PATIENCE));
                    let _ = stream.set_write_timeout(Some(PATIENCE));
                    keep(&sockets, &stream);
                    let (handle, sockets) = (Arc::clone(&handle), Arc::clone(&sockets));
                    let spawned = thread::Builder::new()
                        .stack_size(256 << 10)
                        .spawn(move || handle(stream, &sockets));
                    assert!(spawned.is_ok(), "cannot spawn a proxy connection thread");
                }
            })
        };
        Acceptor {
            addr,
            stop,
            thread: Some(thread),
            sockets,
        }
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub(crate) fn sockets(&self) -> &Sockets {
        &self.sockets
    }
}

impl Drop for Acceptor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop; it sees the flag and drops the listener.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        for stream in lock(&self.sockets).drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// Copies bytes both ways between `a` and `b` until both directions end;
/// returns at once, the copying runs on two threads. A direction's end is
/// passed on as a FIN.
pub(crate) fn splice(a: TcpStream, b: TcpStream, faults: Option<Arc<LinkFaults>>) {
    let clones = (a.try_clone(), b.try_clone());
    let (Ok(a2), Ok(b2)) = clones else {
        let _ = a.shutdown(Shutdown::Both);
        let _ = b.shutdown(Shutdown::Both);
        return;
    };
    pump(a, b2, faults.clone());
    pump(b, a2, faults);
}

/// Copies `from` to `to` until `from` ends; passes the end on as a FIN.
/// While the link is blackholed, reads and discards; with a delay, holds
/// each chunk that long first.
fn pump(mut from: TcpStream, mut to: TcpStream, faults: Option<Arc<LinkFaults>>) {
    // Tunnels idle for as long as a test likes; only the end of the
    // connection (or the proxy's drop) ends a pump.
    let _ = from.set_read_timeout(None);
    thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if let Some(faults) = &faults {
                if faults.is_blackholed() {
                    continue;
                }
                let delay = faults.delay();
                if !delay.is_zero() {
                    // The delay is the fault being injected, not a wait.
                    thread::sleep(delay);
                }
            }
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        if !faults.as_ref().is_some_and(|f| f.is_blackholed() || f.is_reset()) {
            let _ = to.shutdown(Shutdown::Write);
        }
    });
}

/// Names a test maps to loopback addresses, so a proxy can be asked for a
/// host by name (resolved by the proxy, not the client) without DNS.
#[derive(Debug, Default)]
pub(crate) struct Aliases(Mutex<HashMap<String, IpAddr>>);

/// Where a proxy may tunnel to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Resolved {
    To(SocketAddr),
    /// An address off this machine: never dialled.
    NotLoopback,
    /// A name that is neither `localhost` nor aliased.
    Unknown,
}

impl Aliases {
    pub(crate) fn add(&self, name: &str, ip: IpAddr) {
        assert!(ip.is_loopback(), "a proxy alias must be a loopback address, not {ip}");
        lock(&self.0).insert(name.to_ascii_lowercase(), ip);
    }

    pub(crate) fn resolve(&self, host: &str, port: u16) -> Resolved {
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let ip = match bare.parse::<IpAddr>() {
            Ok(ip) if ip.is_loopback() => ip,
            Ok(_) => return Resolved::NotLoopback,
            Err(_) if bare.eq_ignore_ascii_case("localhost") => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Err(_) => match lock(&self.0).get(&bare.to_ascii_lowercase()) {
                Some(ip) => *ip,
                None => return Resolved::Unknown,
            },
        };
        Resolved::To(SocketAddr::new(ip, port))
    }
}

/// What a tunnelling proxy's connections share: how it answers (`M`), what
/// it was asked (`R`), what it did, and the names it resolves.
pub(crate) struct TunnelState<M, R> {
    pub(crate) mode: Mutex<M>,
    pub(crate) requests: Record<R>,
    pub(crate) tunnels: AtomicUsize,
    pub(crate) accepts: AtomicUsize,
    pub(crate) aliases: Aliases,
}

/// A tunnelling proxy in process — what [`ConnectProxy`] and
/// [`Socks5Proxy`] have in common: its accept loop, how it answers, and
/// what it saw.
pub struct TunnelProxy<M, R> {
    /// Names the proxy in a failed expectation.
    kind: &'static str,
    state: Arc<TunnelState<M, R>>,
    acceptor: Acceptor,
}

impl<M: Send + 'static, R: Clone + Debug + Send + 'static> TunnelProxy<M, R> {
    /// Accepts on a fresh loopback port; `serve` runs for each connection.
    pub(crate) fn start(kind: &'static str, mode: M, serve: fn(&TunnelState<M, R>, TcpStream, &Sockets)) -> Self {
        let state = Arc::new(TunnelState {
            mode: Mutex::new(mode),
            requests: Record::default(),
            tunnels: AtomicUsize::new(0),
            accepts: AtomicUsize::new(0),
            aliases: Aliases::default(),
        });
        let acceptor = {
            let state = Arc::clone(&state);
            Acceptor::start(move |client, sockets| serve(&state, client, sockets))
        };
        TunnelProxy { kind, state, acceptor }
    }

    pub fn addr(&self) -> SocketAddr {
        self.acceptor.addr()
    }

    /// Changes how the next requests are answered.
    pub fn set_mode(&self, mode: M) {
        *lock(&self.state.mode) = mode;
    }

    /// The proxy resolves `name` to `ip` (a loopback address), so a test can
    /// check that the client left the name to the proxy.
    pub fn alias(&self, name: &str, ip: IpAddr) {
        self.state.aliases.add(name, ip);
    }

    /// Every request, in order.
    pub fn requests(&self) -> Vec<R> {
        self.state.requests.snapshot()
    }

    /// Waits until `n` requests arrived, or fails the test.
    pub fn expect_requests(&self, n: usize) -> Vec<R> {
        self.state.requests.wait_len(n, PATIENCE).unwrap_or_else(|| {
            panic!(
                "the {} proxy did not get {n} requests; got {:#?}",
                self.kind,
                self.requests()
            )
        })
    }

    /// Tunnels opened (a success answer sent).
    pub fn tunnels(&self) -> usize {
        self.state.tunnels.load(Ordering::SeqCst)
    }

    /// TCP connections accepted.
    pub fn accepts(&self) -> usize {
        self.state.accepts.load(Ordering::SeqCst)
    }
}

/// What a proxy was asked, in order, with a condition to wait on.
#[derive(Debug)]
pub(crate) struct Record<T> {
    items: Mutex<Vec<T>>,
    changed: Condvar,
}

impl<T> Default for Record<T> {
    fn default() -> Self {
        Record {
            items: Mutex::new(Vec::new()),
            changed: Condvar::new(),
        }
    }
}

impl<T: Clone> Record<T> {
    pub(crate) fn push(&self, item: T) {
        lock(&self.items).push(item);
        self.changed.notify_all();
    }

    pub(crate) fn snapshot(&self) -> Vec<T> {
        lock(&self.items).clone()
    }

    /// Waits until there are `n` items; all of them, or `None` at the
    /// deadline.
    pub(crate) fn wait_len(&self, n: usize, timeout: Duration) -> Option<Vec<T>> {
        let deadline = Instant::now() + timeout;
        let mut items = lock(&self.items);
        loop {
            if items.len() >= n {
                return Some(items.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            items = self
                .changed
                .wait_timeout(items, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// Reads and discards until the peer hangs up (or the patience ends): a
/// proxy that stopped answering.
pub(crate) fn hold(mut stream: TcpStream) {
    let mut buf = [0u8; 1024];
    while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
}

/// Ends a connection after a refusal: the FIN goes after the answer, and
/// reading until the client hangs up keeps the kernel from turning the close
/// into a reset that could destroy the answer in flight.
pub(crate) fn finish(stream: TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    hold(stream);
}

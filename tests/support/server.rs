//! A scripted server on 127.0.0.1: each accepted connection runs a script on
//! its own thread, and everything the scripts see goes into one [`Journal`].
//! The server can be stopped (the port then refuses connections) and
//! restarted on the same port.
//!
//! A script gets a [`Conn`]: the accepted socket before anything was said.
//! What it does next lives with the concept it uses: the HTTP answers in
//! `http.rs`, TLS in `tls.rs`, a tungstenite peer in `peer.rs`, frames by
//! hand in `raw_peer.rs`.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::http::Request;
use super::{free_loopback_addr, lock, ms, PATIENCE};

// ---------------------------------------------------------------- journal

/// What a server (or a third-party peer) saw, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// A TCP connection was accepted; `conn` numbers them from 0.
    Accepted { conn: usize, at: Instant },
    /// The TLS handshake completed: the name the client asked for (SNI) and
    /// how many certificates it presented.
    Tls {
        conn: usize,
        sni: Option<String>,
        client_certs: usize,
    },
    /// The TLS handshake failed (the client refused our certificate, or had
    /// none where one was required, …).
    TlsFailed { conn: usize, error: String },
    /// The HTTP request head of the upgrade.
    Request { conn: usize, request: Request },
    /// A text message (binary messages are journalled as `binary:<len>`).
    Message { conn: usize, text: String },
    /// The client's close frame, with its code (`None`: no code in it).
    Closed { conn: usize, code: Option<u16> },
    /// A ping from the client (answered or not, as the script says).
    Ping { conn: usize, at: Instant },
    /// A pong from the client.
    Pong { conn: usize, at: Instant },
    /// The script for this connection ended: the peer hung up, the link
    /// failed, or the script finished.
    Ended { conn: usize, at: Instant },
}

/// Everything a server saw, with a condition to wait on.
#[derive(Debug, Default)]
pub struct Journal {
    seen: Mutex<Vec<Seen>>,
    changed: Condvar,
}

impl Journal {
    pub fn push(&self, seen: Seen) {
        lock(&self.seen).push(seen);
        self.changed.notify_all();
    }

    pub fn snapshot(&self) -> Vec<Seen> {
        lock(&self.seen).clone()
    }

    /// Waits until `f` returns something, or `timeout` passes.
    pub fn wait_for<T>(&self, timeout: Duration, mut f: impl FnMut(&[Seen]) -> Option<T>) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let mut seen = lock(&self.seen);
        loop {
            if let Some(found) = f(&seen) {
                return Some(found);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            seen = self
                .changed
                .wait_timeout(seen, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Waits until `n` messages arrived in all; returns every message with
    /// its connection, or fails the test with what was seen.
    pub fn expect_messages(&self, n: usize) -> Vec<(usize, String)> {
        let found = self.wait_for(PATIENCE, |seen| {
            let messages = messages_of(seen);
            (messages.len() >= n).then_some(messages)
        });
        found.unwrap_or_else(|| panic!("server did not receive {n} messages; saw {:#?}", self.snapshot()))
    }

    /// Text of every message, in arrival order.
    pub fn texts(&self) -> Vec<String> {
        messages_of(&self.snapshot()).into_iter().map(|(_, t)| t).collect()
    }

    /// Every message, with the connection it came on.
    pub fn messages(&self) -> Vec<(usize, String)> {
        messages_of(&self.snapshot())
    }

    pub fn accepts(&self) -> usize {
        self.snapshot()
            .iter()
            .filter(|s| matches!(s, Seen::Accepted { .. }))
            .count()
    }

    pub fn accepted_at(&self) -> Vec<Instant> {
        accept_times(&self.snapshot())
    }

    /// Waits until `n` connections were accepted.
    pub fn expect_accepts(&self, n: usize) -> Vec<Instant> {
        let found = self.wait_for(PATIENCE, |seen| {
            let at = accept_times(seen);
            (at.len() >= n).then_some(at)
        });
        found.unwrap_or_else(|| panic!("server did not accept {n} connections; saw {:#?}", self.snapshot()))
    }

    /// Waits until the script of connection `conn` ended; returns when.
    pub fn expect_ended(&self, conn: usize, timeout: Duration) -> Instant {
        let found = self.wait_for(timeout, |seen| {
            seen.iter().find_map(|s| match s {
                Seen::Ended { conn: c, at } if *c == conn => Some(*at),
                _ => None,
            })
        });
        found.unwrap_or_else(|| {
            panic!(
                "connection {conn} did not end within {timeout:?}; saw {:#?}",
                self.snapshot()
            )
        })
    }

    /// The close codes of the client's close frames.
    pub fn close_codes(&self) -> Vec<Option<u16>> {
        self.snapshot()
            .iter()
            .filter_map(|s| match s {
                Seen::Closed { code, .. } => Some(*code),
                _ => None,
            })
            .collect()
    }

    /// Every upgrade request read, in order.
    pub fn requests(&self) -> Vec<Request> {
        requests_of(&self.snapshot())
    }

    /// Waits until `n` upgrade requests were read.
    pub fn expect_requests(&self, n: usize) -> Vec<Request> {
        let found = self.wait_for(PATIENCE, |seen| {
            let requests = requests_of(seen);
            (requests.len() >= n).then_some(requests)
        });
        found.unwrap_or_else(|| panic!("server did not read {n} requests; saw {:#?}", self.snapshot()))
    }
}

/// When each connection was accepted, in order.
fn accept_times(seen: &[Seen]) -> Vec<Instant> {
    seen.iter()
        .filter_map(|s| match s {
            Seen::Accepted { at, .. } => Some(*at),
            _ => None,
        })
        .collect()
}

fn messages_of(seen: &[Seen]) -> Vec<(usize, String)> {
    seen.iter()
        .filter_map(|s| match s {
            Seen::Message { conn, text } => Some((*conn, text.clone())),
            _ => None,
        })
        .collect()
}

fn requests_of(seen: &[Seen]) -> Vec<Request> {
    seen.iter()
        .filter_map(|s| match s {
            Seen::Request { request, .. } => Some(request.clone()),
            _ => None,
        })
        .collect()
}

// ---------------------------------------------------------------- server

/// A connection's script.
pub type Script = Arc<dyn Fn(Conn) + Send + Sync>;

/// The server's handle on each open connection (a clone of its socket), so
/// `stop` can end them all. A script that wants the kernel to answer with a
/// reset removes its entry first (see [`Conn::reset`]): a socket is only
/// really closed, and only then reset, when its last handle goes.
pub type Registry = Arc<Mutex<Vec<(usize, TcpStream)>>>;

pub(crate) fn unregister(open: &Registry, conn: usize) -> Option<TcpStream> {
    let mut open = lock(open);
    let index = open.iter().position(|(c, _)| *c == conn)?;
    Some(open.swap_remove(index).1)
}

/// Ends a connection with a reset (RST) rather than a FIN: `SO_LINGER` 0
/// makes the close abortive, and every other handle on the socket goes
/// first, or the socket would stay open.
pub(crate) fn reset_socket(tcp: TcpStream, open: &Registry, conn: usize) {
    let _ = socket2::SockRef::from(&tcp).set_linger(Some(Duration::ZERO));
    drop(unregister(open, conn));
    drop(tcp);
}

/// A scripted server on 127.0.0.1: each accepted connection runs the script
/// on its own thread. It can be stopped (the port then refuses connections)
/// and restarted on the same port.
pub struct Server {
    addr: SocketAddr,
    journal: Arc<Journal>,
    script: Script,
    next_conn: Arc<AtomicUsize>,
    open: Registry,
    running: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl Server {
    /// A server on a fresh ephemeral port.
    pub fn start(script: impl Fn(Conn) + Send + Sync + 'static) -> Server {
        Server::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), script)
    }

    /// A server on `addr` (typically from [`Server::reserve`]).
    pub fn start_on(addr: SocketAddr, script: impl Fn(Conn) + Send + Sync + 'static) -> Server {
        let mut server = Server {
            addr,
            journal: Arc::default(),
            script: Arc::new(script),
            next_conn: Arc::default(),
            open: Arc::default(),
            running: None,
        };
        server.restart();
        server
    }

    /// A free port on 127.0.0.1 with nothing listening: connections to it are
    /// refused until a server starts there.
    pub fn reserve() -> SocketAddr {
        free_loopback_addr()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// The `wss://` URL by name (`localhost`), as a certificate names it.
    pub fn wss_url(&self) -> String {
        format!("wss://localhost:{}/", self.addr.port())
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// A shared handle on the journal, for threads that outlive a borrow.
    pub fn journal_handle(&self) -> Arc<Journal> {
        Arc::clone(&self.journal)
    }

    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Starts accepting again on the same port.
    pub fn restart(&mut self) {
        assert!(self.running.is_none(), "already running");
        // The port is ours, but a connection in TIME_WAIT or an outgoing
        // connection may hold it for a moment; nothing signals when it is
        // free, so retry for a while rather than fail at once.
        let deadline = Instant::now() + PATIENCE;
        let listener = loop {
            match TcpListener::bind(self.addr) {
                Ok(listener) => break listener,
                Err(_) if Instant::now() < deadline => thread::sleep(ms(20)),
                Err(e) => panic!("cannot bind {}: {e}", self.addr),
            }
        };
        self.addr = listener.local_addr().expect("a bound listener has an address");
        let stop = Arc::new(AtomicBool::new(false));
        let accept = AcceptLoop {
            listener,
            stop: Arc::clone(&stop),
            journal: Arc::clone(&self.journal),
            script: Arc::clone(&self.script),
            next_conn: Arc::clone(&self.next_conn),
            open: Arc::clone(&self.open),
        };
        self.running = Some((stop, thread::spawn(move || accept.run())));
    }

    /// Stops accepting (the port refuses connections from now on) and ends
    /// every open connection.
    pub fn stop(&mut self) {
        if let Some((stop, thread)) = self.running.take() {
            stop.store(true, Ordering::SeqCst);
            // Wake the accept loop; it sees the flag and drops the listener.
            let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
            let _ = thread.join();
        }
        for (_, stream) in lock(&self.open).drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

struct AcceptLoop {
    listener: TcpListener,
    stop: Arc<AtomicBool>,
    journal: Arc<Journal>,
    script: Script,
    next_conn: Arc<AtomicUsize>,
    open: Registry,
}

impl AcceptLoop {
    fn run(self) {
        for stream in self.listener.incoming() {
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            let Ok(stream) = stream else { continue };
            let conn = self.next_conn.fetch_add(1, Ordering::SeqCst);
            let Some(c) = Conn::accepted(conn, stream, Arc::clone(&self.journal), Arc::clone(&self.open)) else {
                continue;
            };
            self.journal.push(Seen::Accepted {
                conn,
                at: Instant::now(),
            });
            let (journal, script, open) = (
                Arc::clone(&self.journal),
                Arc::clone(&self.script),
                Arc::clone(&self.open),
            );
            // Small stacks: a test may hold hundreds of connections.
            let spawned = thread::Builder::new().stack_size(512 << 10).spawn(move || {
                script(c);
                // The registry holds a clone; end the connection for sure
                // when the script is done.
                if let Some(closer) = unregister(&open, conn) {
                    let _ = closer.shutdown(Shutdown::Both);
                }
                journal.push(Seen::Ended {
                    conn,
                    at: Instant::now(),
                });
            });
            assert!(spawned.is_ok(), "cannot spawn a connection thread");
        }
    }
}

// ---------------------------------------------------------------- connection

/// Read + Write, so plain and TLS streams are one type.
pub trait Duplex: Read + Write + Send {}
impl<T: Read + Write + Send> Duplex for T {}

/// One accepted TCP connection, before anything was said. It reads and
/// writes through `io`: the socket itself, or TLS over it after
/// [`Conn::tls`].
pub struct Conn {
    /// Numbers the server's connections from 0, across restarts.
    pub conn: usize,
    /// The socket, for timeouts, shutdown and raw bytes; what is written here
    /// bypasses TLS.
    pub stream: TcpStream,
    pub(crate) io: Box<dyn Duplex>,
    pub(crate) tls: bool,
    pub(crate) journal: Arc<Journal>,
    pub(crate) open: Registry,
}

impl Conn {
    fn accepted(conn: usize, stream: TcpStream, journal: Arc<Journal>, open: Registry) -> Option<Conn> {
        let _ = stream.set_nodelay(true);
        // No read or write may wait past the patience.
        let _ = stream.set_read_timeout(Some(PATIENCE));
        let _ = stream.set_write_timeout(Some(PATIENCE));
        let io = stream.try_clone().ok()?;
        if let Ok(clone) = stream.try_clone() {
            lock(&open).push((conn, clone));
        }
        Some(Conn {
            conn,
            stream,
            io: Box::new(io),
            tls: false,
            journal,
            open,
        })
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Whether `io` goes through TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Reads and discards until the client hangs up (or the patience ends):
    /// a server that accepts TCP and never answers.
    pub fn hold_silent(mut self) {
        let mut buf = [0u8; 1024];
        while matches!(self.io.read(&mut buf), Ok(n) if n > 0) {}
    }

    /// Same as [`Conn::hold_silent`], by the name the HTTP tests use.
    pub fn never_answer(self) {
        self.hold_silent()
    }

    /// Closes at once with a FIN, before reading anything.
    pub fn close_at_once(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }

    /// Closes at once with a reset (RST). The reset can reach the client
    /// before its connect call returns, which then fails with it.
    pub fn reset(self) {
        let Conn {
            conn, stream, io, open, ..
        } = self;
        drop(io);
        reset_socket(stream, &open, conn);
    }

    /// Copies every byte back until the client hangs up: a plain TCP echo,
    /// for proxy tests that need a target and no WebSocket.
    pub fn echo_bytes(mut self) {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match self.io.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if self.io.write_all(&buf[..n]).and_then(|()| self.io.flush()).is_err() {
                        break;
                    }
                }
            }
        }
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read(buf)
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.io.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.io.flush()
    }
}

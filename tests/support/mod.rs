//! Test tools shared by `tests/client.rs` and `tests/faults.rs`: a scripted
//! WebSocket server on 127.0.0.1 that journals what it sees, a fault proxy,
//! a test certificate authority, and helpers that wait with deadlines.
//!
//! Nothing here sleeps to wait for the client: every wait is on a condition
//! variable or a socket, bounded by [`PATIENCE`] or a shorter deadline.

// Each test binary uses a different part of these tools.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, WebSocket};
use wstether::client::{ClientBuilder, ClientEvent};
use wstether::{BackoffConfig, Event, Jitter};

/// The longest any helper waits: far past every deadline the tests
/// configure, so a slow machine still passes and a bug fails instead of
/// hanging.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

// ---------------------------------------------------------------- client side

/// A fast schedule: 20 ms, doubling to 200 ms, no jitter, never stable
/// during a test (so the attempt count keeps growing across flaps).
pub fn fast_backoff() -> BackoffConfig {
    BackoffConfig {
        initial: ms(20),
        multiplier_permille: 2_000,
        cap: ms(200),
        jitter: Jitter::None,
        cap_jitter: None,
        stable_after: Duration::from_secs(30),
        ..BackoffConfig::default()
    }
}

/// A client builder with the fast schedule, a seed and short close and
/// connect deadlines.
pub fn fast_builder(url: &str) -> ClientBuilder {
    ClientBuilder::new(url)
        .backoff(fast_backoff())
        .seed(1)
        .connect_timeout(Duration::from_secs(2))
        .close_timeout(ms(500))
}

/// The client's events as they are taken from its channel, kept for later
/// assertions.
#[derive(Debug, Default)]
pub struct Events {
    pub seen: Vec<ClientEvent>,
}

impl Events {
    /// Takes events until one matches `pred` (returned) or `timeout` passes.
    pub fn wait(
        &mut self,
        rx: &wstether::client::Events,
        timeout: Duration,
        mut pred: impl FnMut(&Event) -> bool,
    ) -> Option<ClientEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(event) => {
                    self.seen.push(event.clone());
                    if pred(&event.event) {
                        return Some(event);
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
            }
        }
    }

    /// Like [`Events::wait`], but a missing event fails the test with the
    /// events seen so far.
    pub fn expect(
        &mut self,
        rx: &wstether::client::Events,
        what: &str,
        pred: impl FnMut(&Event) -> bool,
    ) -> ClientEvent {
        match self.wait(rx, PATIENCE, pred) {
            Some(event) => event,
            None => panic!("no {what} event within {PATIENCE:?}; saw {:#?}", self.events()),
        }
    }

    /// Takes whatever is already waiting.
    pub fn drain(&mut self, rx: &wstether::client::Events) {
        while let Ok(event) = rx.try_recv() {
            self.seen.push(event);
        }
    }

    pub fn events(&self) -> Vec<Event> {
        self.seen.iter().map(|e| e.event).collect()
    }

    pub fn count(&self, mut pred: impl FnMut(&Event) -> bool) -> usize {
        self.seen.iter().filter(|e| pred(&e.event)).count()
    }
}

pub fn texts(messages: &[Message]) -> Vec<String> {
    messages
        .iter()
        .map(|m| m.to_text().expect("a text message").to_string())
        .collect()
}

pub fn numbered(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

// ---------------------------------------------------------------- journal

/// What the server saw, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// A TCP connection was accepted; `conn` numbers them from 0.
    Accepted { conn: usize, at: Instant },
    /// A text message (binary messages are journalled as `binary:<len>`).
    Message { conn: usize, text: String },
    /// The client's close frame.
    Closed { conn: usize, code: Option<u16> },
    /// A ping from the client (answered or not, as the script says).
    Ping { conn: usize, at: Instant },
    /// The script for this connection ended: the peer hung up, the link
    /// failed, or the script finished.
    Ended { conn: usize, at: Instant },
}

/// Everything the server saw, with a condition to wait on.
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

// ---------------------------------------------------------------- server

/// A connection's script.
pub type Script = Arc<dyn Fn(Conn) + Send + Sync>;

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

/// The server's handle on each open connection (a clone of its socket), so
/// `stop` can end them all. A script that wants the kernel to answer with a
/// reset removes its entry first (see [`RawPeer::reset`]): a socket is only
/// really closed, and only then reset, when its last handle goes.
pub type Registry = Arc<Mutex<Vec<(usize, TcpStream)>>>;

fn unregister(open: &Registry, conn: usize) -> Option<TcpStream> {
    let mut open = lock(open);
    let index = open.iter().position(|(c, _)| *c == conn)?;
    Some(open.swap_remove(index).1)
}

impl Server {
    /// A server on a fresh ephemeral port.
    pub fn start(script: impl Fn(Conn) + Send + Sync + 'static) -> Server {
        Server::start_on("127.0.0.1:0".parse().unwrap(), script)
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
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.local_addr().unwrap()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Starts accepting again on the same port.
    pub fn restart(&mut self) {
        assert!(self.running.is_none(), "already running");
        // The port is ours, but an outgoing connection may hold it for a
        // moment; retry for a while rather than fail at once.
        let deadline = Instant::now() + PATIENCE;
        let listener = loop {
            match TcpListener::bind(self.addr) {
                Ok(listener) => break listener,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    thread::sleep(ms(20));
                }
                Err(e) => panic!("cannot bind {}: {e}", self.addr),
            }
        };
        self.addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            let journal = Arc::clone(&self.journal);
            let script = Arc::clone(&self.script);
            let next_conn = Arc::clone(&self.next_conn);
            let open = Arc::clone(&self.open);
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let _ = stream.set_nodelay(true);
                    // No read or write may wait past the patience.
                    let _ = stream.set_read_timeout(Some(PATIENCE));
                    let _ = stream.set_write_timeout(Some(PATIENCE));
                    let conn = next_conn.fetch_add(1, Ordering::SeqCst);
                    if let Ok(clone) = stream.try_clone() {
                        lock(&open).push((conn, clone));
                    }
                    let at = Instant::now();
                    journal.push(Seen::Accepted { conn, at });
                    let journal = Arc::clone(&journal);
                    let script = Arc::clone(&script);
                    let open = Arc::clone(&open);
                    // Small stacks: a test may hold hundreds of connections.
                    let spawned = thread::Builder::new().stack_size(512 << 10).spawn(move || {
                        let c = Conn {
                            conn,
                            stream,
                            journal: Arc::clone(&journal),
                            open: Arc::clone(&open),
                        };
                        script(c);
                        // The open list holds a clone; end the connection for
                        // sure when the script is done.
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
            })
        };
        self.running = Some((stop, thread));
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

/// The plainest script: upgrade, then journal what arrives until the client
/// closes.
pub fn record(conn: Conn) {
    if let Some(mut peer) = conn.upgrade() {
        peer.serve();
    }
}

/// One accepted TCP connection, before the upgrade.
pub struct Conn {
    pub conn: usize,
    pub stream: TcpStream,
    journal: Arc<Journal>,
    open: Registry,
}

/// Read + Write, so plain and TLS peers are one type.
pub trait Duplex: Read + Write + Send {}
impl<T: Read + Write + Send> Duplex for T {}

impl Conn {
    /// Reads the HTTP request head.
    pub fn read_request(&mut self) -> Option<String> {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match self.stream.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => return None,
            }
        }
        String::from_utf8(head).ok()
    }

    /// Answers the upgrade request with `head` (status line and headers,
    /// without the final blank line), then waits for the client to hang up.
    pub fn respond(mut self, head: &str) {
        if self.read_request().is_none() {
            return;
        }
        let _ = self
            .stream
            .write_all(format!("{head}\r\nContent-Length: 0\r\n\r\n").as_bytes());
        let _ = self.stream.flush();
        self.hold_silent();
    }

    /// Reads and discards until the client hangs up (or the patience ends).
    pub fn hold_silent(mut self) {
        let mut buf = [0u8; 1024];
        while matches!(self.stream.read(&mut buf), Ok(n) if n > 0) {}
    }

    /// Reads the request, then answers one byte every `every`, never
    /// finishing, until the client hangs up.
    pub fn dribble(mut self, every: Duration) {
        if self.read_request().is_none() {
            return;
        }
        // Long enough never to finish within a test.
        let answer = format!("HTTP/1.1 101 Switching Protocols\r\nX-Padding: {}", "x".repeat(4096));
        let started = Instant::now();
        for byte in answer.as_bytes() {
            if self.stream.write_all(&[*byte]).is_err() || started.elapsed() > PATIENCE {
                return;
            }
            thread::sleep(every);
        }
    }

    /// Completes the WebSocket upgrade.
    pub fn upgrade(self) -> Option<Peer> {
        let tcp = self.stream.try_clone().ok()?;
        let Conn {
            conn, stream, journal, ..
        } = self;
        Peer::accept(conn, Box::new(stream), tcp, journal)
    }

    /// Completes TLS, then the WebSocket upgrade.
    pub fn upgrade_tls(self, config: Arc<rustls::ServerConfig>) -> Option<Peer> {
        let tcp = self.stream.try_clone().ok()?;
        let tls = rustls::ServerConnection::new(config).ok()?;
        let Conn {
            conn, stream, journal, ..
        } = self;
        Peer::accept(conn, Box::new(rustls::StreamOwned::new(tls, stream)), tcp, journal)
    }
}

impl Conn {
    /// Completes the WebSocket upgrade by hand and speaks frames directly,
    /// so a script can do what a WebSocket library will not: leave pings
    /// unanswered, stop mid-frame, send a frame header it never finishes.
    pub fn upgrade_raw(mut self) -> Option<RawPeer> {
        let head = self.read_request()?;
        let key = head.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("sec-websocket-key")
                .then(|| value.trim().to_string())
        })?;
        let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
        let answer = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
        );
        self.stream.write_all(answer.as_bytes()).ok()?;
        // The client writes nothing before it has read the 101, and the
        // request was read byte by byte: no frame bytes were consumed.
        Some(RawPeer {
            conn: self.conn,
            tcp: self.stream,
            journal: self.journal,
            open: self.open,
            buf: Vec::new(),
            fragments: None,
            quiet: false,
            answer_close: true,
            close_sent: false,
        })
    }
}

/// A client frame as read by a [`RawPeer`], unmasked.
#[derive(Debug)]
pub struct RawFrame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

/// What one read on a raw peer gave.
#[derive(Debug)]
pub enum RawStep {
    Frame(RawFrame),
    TimedOut,
    Gone,
}

/// The server side of a WebSocket spoken frame by frame (see
/// [`Conn::upgrade_raw`]). Data frames and close frames are journalled like
/// [`Peer`]'s; pings are journalled and answered only when asked.
pub struct RawPeer {
    pub conn: usize,
    pub tcp: TcpStream,
    journal: Arc<Journal>,
    open: Registry,
    /// Bytes read but not yet parsed into a frame.
    buf: Vec<u8>,
    /// A fragmented message being assembled.
    fragments: Option<Vec<u8>>,
    /// Do not journal messages and pings (a soak would fill memory).
    pub quiet: bool,
    /// Answer the client's close frame (unless we sent ours first).
    pub answer_close: bool,
    close_sent: bool,
}

/// Encodes an unmasked (server) frame.
pub fn server_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = frame_header(fin, opcode, payload.len() as u64);
    out.extend_from_slice(payload);
    out
}

/// The header of an unmasked (server) frame announcing `len` payload bytes.
pub fn frame_header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | opcode];
    if len < 126 {
        out.push(len as u8);
    } else if len <= u64::from(u16::MAX) {
        out.push(126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&len.to_be_bytes());
    }
    out
}

/// Parses one masked client frame from the front of `buf`: the frame and
/// the bytes it took, or `None` if `buf` does not hold a whole frame yet.
fn parse_client_frame(buf: &[u8]) -> Option<(RawFrame, usize)> {
    let (&b0, &b1) = (buf.first()?, buf.get(1)?);
    let short = u64::from(b1 & 0x7F);
    let (len, mut at) = match short {
        126 => (u64::from(u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?)), 4),
        127 => (u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?), 10),
        n => (n, 2),
    };
    let mask: Option<[u8; 4]> = if b1 & 0x80 != 0 {
        let m = buf.get(at..at + 4)?.try_into().ok()?;
        at += 4;
        Some(m)
    } else {
        None
    };
    let end = at.checked_add(usize::try_from(len).ok()?)?;
    let mut payload = buf.get(at..end)?.to_vec();
    if let Some(mask) = mask {
        for (i, byte) in payload.iter_mut().enumerate() {
            *byte ^= mask[i % 4];
        }
    }
    let frame = RawFrame {
        fin: b0 & 0x80 != 0,
        opcode: b0 & 0x0F,
        payload,
    };
    Some((frame, end))
}

impl RawPeer {
    /// Reads one whole frame before `deadline`. A partial frame stays
    /// buffered for the next call.
    pub fn next_frame(&mut self, deadline: Instant) -> RawStep {
        loop {
            if let Some((frame, used)) = parse_client_frame(&self.buf) {
                self.buf.drain(..used);
                return RawStep::Frame(frame);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return RawStep::TimedOut;
            }
            let _ = self.tcp.set_read_timeout(Some(left));
            let mut chunk = [0u8; 16 * 1024];
            match self.tcp.read(&mut chunk) {
                Ok(0) => return RawStep::Gone,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    return RawStep::TimedOut
                }
                Err(_) => return RawStep::Gone,
            }
        }
    }

    /// Reads frames until `deadline`, the client's close frame or the end of
    /// the link, journalling messages, pings and the close. Pings are
    /// answered only if `answer_pings`; the client's close is never answered.
    /// Returns how the loop ended.
    pub fn serve(&mut self, answer_pings: bool, deadline: Instant) -> RawStep {
        self.serve_until(answer_pings, deadline, |_| false)
    }

    /// Like [`RawPeer::serve`], and also returns (with the frame) once a text
    /// message satisfies `stop`.
    pub fn serve_until(
        &mut self,
        answer_pings: bool,
        deadline: Instant,
        mut stop: impl FnMut(&str) -> bool,
    ) -> RawStep {
        loop {
            let frame = match self.next_frame(deadline) {
                RawStep::Frame(frame) => frame,
                other => return other,
            };
            match frame.opcode {
                0x0..=0x2 => {
                    let mut whole = match (frame.opcode, self.fragments.take()) {
                        (0x0, Some(mut started)) => {
                            started.extend_from_slice(&frame.payload);
                            started
                        }
                        _ => frame.payload.clone(),
                    };
                    if !frame.fin {
                        self.fragments = Some(core::mem::take(&mut whole));
                        continue;
                    }
                    let text = String::from_utf8(whole).unwrap_or_else(|e| format!("binary:{}", e.as_bytes().len()));
                    let stop_here = stop(&text);
                    if !self.quiet {
                        self.journal.push(Seen::Message { conn: self.conn, text });
                    }
                    if stop_here {
                        return RawStep::Frame(frame);
                    }
                }
                0x8 => {
                    let code =
                        (frame.payload.len() >= 2).then(|| u16::from_be_bytes([frame.payload[0], frame.payload[1]]));
                    self.journal.push(Seen::Closed { conn: self.conn, code });
                    if self.answer_close && !self.close_sent {
                        self.close_sent = true;
                        let _ = self.write_raw(&server_frame(true, 0x8, &frame.payload));
                    }
                    return RawStep::Frame(frame);
                }
                0x9 => {
                    if !self.quiet {
                        self.journal.push(Seen::Ping {
                            conn: self.conn,
                            at: Instant::now(),
                        });
                    }
                    if answer_pings && self.write_raw(&server_frame(true, 0xA, &frame.payload)).is_err() {
                        return RawStep::Gone;
                    }
                }
                _ => {}
            }
        }
    }

    /// Writes bytes as they are.
    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.tcp.write_all(bytes)
    }

    /// Sends a text message in one frame.
    pub fn send_text(&mut self, text: &str) -> bool {
        self.write_raw(&server_frame(true, 0x1, text.as_bytes())).is_ok()
    }

    /// Sends a close frame with `code`.
    pub fn send_close(&mut self, code: u16) -> bool {
        self.close_sent = true;
        self.write_raw(&server_frame(true, 0x8, &code.to_be_bytes())).is_ok()
    }

    /// Sends a close frame with `code`, then reads (journalling what the
    /// client had already sent) until its reply or the end of the link.
    pub fn close_with(&mut self, code: u16) {
        if self.send_close(code) {
            let _ = self.serve(true, Instant::now() + PATIENCE);
        }
    }

    /// Bytes the client sent that nobody has read yet (up to 64 KiB).
    pub fn pending(&self) -> usize {
        let _ = self.tcp.set_nonblocking(true);
        let mut probe = vec![0u8; 64 * 1024];
        let n = self.tcp.peek(&mut probe).unwrap_or(0);
        let _ = self.tcp.set_nonblocking(false);
        n + self.buf.len()
    }

    /// Waits until the client has sent bytes nobody read (a ping, say), or
    /// `timeout` passes; returns whether there are some.
    pub fn wait_pending(&self, timeout: Duration) -> bool {
        // `peek` blocks until a byte is there, the peer hangs up or the
        // timeout passes.
        let _ = self.tcp.set_read_timeout(Some(timeout.max(Duration::from_millis(1))));
        let mut probe = [0u8; 1];
        matches!(self.tcp.peek(&mut probe), Ok(n) if n > 0)
    }

    /// Sends FIN (no close frame) and keeps reading, journalling what the
    /// client had sent, until it hangs up.
    pub fn fin_then_drain(mut self) {
        let _ = self.tcp.shutdown(Shutdown::Write);
        let deadline = Instant::now() + PATIENCE;
        while let RawStep::Frame(_) = self.serve(false, deadline) {}
    }

    /// Drops the connection with bytes unread, so the kernel answers with a
    /// reset (RST) instead of a FIN. Every other handle on the socket goes
    /// first, or the socket would stay open.
    pub fn reset(self) {
        drop(unregister(&self.open, self.conn));
        drop(self.tcp);
    }
}

/// What one read on a peer gave.
#[derive(Debug)]
pub enum Step {
    Data(Message),
    /// A ping (answered), a pong or a frame.
    Control,
    /// The client's close frame arrived (and was answered).
    Closed,
    /// Nothing before the deadline.
    TimedOut,
    /// The link ended.
    Gone,
}

/// The server side of an open WebSocket; everything read is journalled.
pub struct Peer {
    pub conn: usize,
    ws: WebSocket<Box<dyn Duplex>>,
    tcp: TcpStream,
    journal: Arc<Journal>,
}

impl Peer {
    /// Completes the WebSocket upgrade over `stream`.
    fn accept(conn: usize, stream: Box<dyn Duplex>, tcp: TcpStream, journal: Arc<Journal>) -> Option<Peer> {
        let ws = tungstenite::accept(stream).ok()?;
        Some(Peer { conn, ws, tcp, journal })
    }

    /// Sends and flushes one message.
    pub fn send(&mut self, message: impl Into<Message>) -> bool {
        self.ws.send(message.into()).is_ok()
    }

    /// Writes a message without flushing (the buffer goes out when full).
    pub fn write(&mut self, message: impl Into<Message>) -> bool {
        self.ws.write(message.into()).is_ok()
    }

    pub fn flush(&mut self) -> bool {
        self.ws.flush().is_ok()
    }

    /// Reads one frame before `deadline`, journalling data and close frames.
    pub fn step(&mut self, deadline: Instant) -> Step {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Step::TimedOut;
        }
        let _ = self.tcp.set_read_timeout(Some(left));
        match self.ws.read() {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                let text = match &message {
                    Message::Text(t) => t.to_string(),
                    other => format!("binary:{}", other.len()),
                };
                self.journal.push(Seen::Message { conn: self.conn, text });
                Step::Data(message)
            }
            Ok(Message::Close(frame)) => {
                self.journal.push(Seen::Closed {
                    conn: self.conn,
                    code: frame.map(|f| u16::from(f.code)),
                });
                // Sends the reply.
                let _ = self.ws.flush();
                Step::Closed
            }
            Ok(Message::Ping(_)) => {
                self.journal.push(Seen::Ping {
                    conn: self.conn,
                    at: Instant::now(),
                });
                // Sends the pong now rather than on the next read.
                let _ = self.ws.flush();
                Step::Control
            }
            Ok(_) => Step::Control,
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) =>
            {
                Step::TimedOut
            }
            Err(_) => Step::Gone,
        }
    }

    /// The next data message within `timeout`.
    pub fn next(&mut self, timeout: Duration) -> Option<Message> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.step(deadline) {
                Step::Data(message) => return Some(message),
                Step::Control => {}
                Step::Closed | Step::TimedOut | Step::Gone => return None,
            }
        }
    }

    /// Reads (answering pings, journalling messages) until the client closes,
    /// the link ends or the patience runs out.
    pub fn serve(&mut self) {
        let deadline = Instant::now() + PATIENCE;
        while let Step::Data(_) | Step::Control = self.step(deadline) {}
    }

    /// Reads until a message satisfies `stop` (returns true), or the link ends
    /// (false).
    pub fn serve_until(&mut self, mut stop: impl FnMut(&str) -> bool) -> bool {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self.step(deadline) {
                Step::Data(message) if stop(message.to_text().unwrap_or("")) => return true,
                Step::Data(_) | Step::Control => {}
                Step::Closed | Step::TimedOut | Step::Gone => return false,
            }
        }
    }

    /// Sends a close frame with `code`, then reads (journalling what the
    /// client had already sent) until its reply or the end of the link.
    pub fn close_with(&mut self, code: u16) {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: "".into(),
        };
        let _ = self.ws.close(Some(frame));
        let deadline = Instant::now() + PATIENCE;
        while let Step::Data(_) | Step::Control = self.step(deadline) {}
    }

    /// Ends TCP in both directions without a close frame (and, over TLS,
    /// without close_notify).
    pub fn drop_tcp(self) {
        let _ = self.tcp.shutdown(Shutdown::Both);
    }

    /// Stops speaking WebSocket: reads and discards raw bytes (never
    /// answering a ping or a close) until the client hangs up.
    pub fn hold_silent(self) {
        let mut tcp = self.tcp;
        let _ = tcp.set_read_timeout(Some(PATIENCE));
        let mut buf = [0u8; 1024];
        while matches!(tcp.read(&mut buf), Ok(n) if n > 0) {}
        drop(self.ws);
    }
}

// ---------------------------------------------------------------- proxy

struct ProxyLink {
    client: TcpStream,
    server: TcpStream,
    blackhole: Arc<AtomicBool>,
}

/// A TCP proxy on 127.0.0.1 in front of `upstream` that can stop forwarding
/// (both ways, silently, keeping the connections open) or refuse new
/// connections (accept and drop at once).
pub struct Proxy {
    addr: SocketAddr,
    links: Arc<Mutex<Vec<ProxyLink>>>,
    refuse: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    accepts: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    pub fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let links: Arc<Mutex<Vec<ProxyLink>>> = Arc::default();
        let refuse = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let accepts = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (links, refuse, stop, accepts) = (
                Arc::clone(&links),
                Arc::clone(&refuse),
                Arc::clone(&stop),
                Arc::clone(&accepts),
            );
            thread::spawn(move || {
                for client in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    accepts.fetch_add(1, Ordering::SeqCst);
                    if refuse.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let Ok(server) = TcpStream::connect_timeout(&upstream, PATIENCE) else {
                        continue;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let blackhole = Arc::new(AtomicBool::new(false));
                    let clones = (
                        client.try_clone(),
                        server.try_clone(),
                        client.try_clone(),
                        server.try_clone(),
                    );
                    let (Ok(c1), Ok(s1), Ok(c2), Ok(s2)) = clones else {
                        continue;
                    };
                    pump(c1, s1, Arc::clone(&blackhole));
                    pump(s2, c2, Arc::clone(&blackhole));
                    lock(&links).push(ProxyLink {
                        client,
                        server,
                        blackhole,
                    });
                }
            })
        };
        Proxy {
            addr,
            links,
            refuse,
            stop,
            accepts,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    pub fn accepts(&self) -> usize {
        self.accepts.load(Ordering::SeqCst)
    }

    /// The connections open now stop forwarding, both ways, and stay open.
    pub fn blackhole(&self) {
        for link in lock(&self.links).iter() {
            link.blackhole.store(true, Ordering::SeqCst);
        }
    }

    /// New connections are accepted and dropped at once (`true`) or
    /// forwarded again (`false`).
    pub fn refuse_new(&self, refuse: bool) {
        self.refuse.store(refuse, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        for link in lock(&self.links).drain(..) {
            let _ = link.client.shutdown(Shutdown::Both);
            let _ = link.server.shutdown(Shutdown::Both);
        }
    }
}

/// Copies `from` to `to` until either ends; while blackholed, reads and
/// discards.
fn pump(mut from: TcpStream, mut to: TcpStream, blackhole: Arc<AtomicBool>) {
    thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if !blackhole.load(Ordering::SeqCst) && to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        if !blackhole.load(Ordering::SeqCst) {
            let _ = to.shutdown(Shutdown::Write);
        }
    });
}

// ---------------------------------------------------------------- TLS

/// A test certificate authority made with rcgen.
pub struct TestCa {
    pub cert: rustls::pki_types::CertificateDer<'static>,
    pub pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.distinguished_name.push(rcgen::DnType::CommonName, name);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        TestCa {
            pem: cert.pem(),
            cert: cert.der().clone(),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A server configuration with a certificate for `names` (DNS names or
    /// IP addresses) signed by this CA.
    pub fn server_config(&self, names: &[&str]) -> Arc<rustls::ServerConfig> {
        self.server_config_with(names, |_| {})
    }

    /// Like [`TestCa::server_config`], with a certificate that expired in 2001.
    pub fn expired_server_config(&self, names: &[&str]) -> Arc<rustls::ServerConfig> {
        self.server_config_with(names, |params| {
            params.not_before = rcgen::date_time_ymd(2000, 1, 1);
            params.not_after = rcgen::date_time_ymd(2001, 1, 1);
        })
    }

    fn server_config_with(
        &self,
        names: &[&str],
        adjust: impl FnOnce(&mut rcgen::CertificateParams),
    ) -> Arc<rustls::ServerConfig> {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, names[0]);
        adjust(&mut params);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key)
            .unwrap();
        Arc::new(config)
    }

    pub fn roots(&self) -> Arc<rustls::RootCertStore> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert.clone()).unwrap();
        Arc::new(roots)
    }

    /// The CA certificate in a PEM file, removed when the guard drops.
    pub fn pem_file(&self) -> TempFile {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "wstether-test-ca-{}-{}.pem",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::write(&path, &self.pem).unwrap();
        TempFile(path)
    }
}

pub struct TempFile(pub PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

// ---------------------------------------------------------------- HTTP dates

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs_f64()
}

/// `unix_secs` as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn http_date(unix_secs: u64) -> String {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix_secs / 86_400;
    let secs = unix_secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        secs / 3_600,
        secs / 60 % 60,
        secs % 60
    )
}

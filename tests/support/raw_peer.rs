//! The server side of a WebSocket spoken frame by frame, so a script can do
//! what a WebSocket library will not: leave pings unanswered, close with any
//! code, flood the client with pings or data while still reading it, stop
//! reading so the client's writes back up, stop mid-frame, send a FIN or a
//! reset instead of a close.
//!
//! Data messages, close frames, pings and pongs are journalled in the order
//! they were read, like [`super::Peer`]'s.

use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::frames::{self, opcode, Frame, FrameReader, RawStep};
use super::server::{reset_socket, Conn, Duplex, Journal, Registry, Seen};
use super::PATIENCE;

/// How often a flood's writer, blocked on a full socket, looks up to see
/// whether it should stop.
const WRITER_SLICE: Duration = Duration::from_millis(20);

/// How long a flood's writer may still take to finish the batch it is in
/// once told to stop; past that it leaves the stream mid-frame.
const WRITER_GRACE: Duration = Duration::from_secs(2);

impl Conn {
    /// Reads the request, answers with the correct 101 and hands over to a
    /// [`RawPeer`]. `None` if the request was not an upgrade.
    pub fn upgrade_raw(mut self) -> Option<RawPeer> {
        let request = self.read_request()?;
        request.websocket_key()?;
        if !self.answer_upgrade(&request) {
            return None;
        }
        Some(self.into_raw())
    }

    /// Hands over to a [`RawPeer`] after the script answered the upgrade
    /// itself (see `http.rs`). The request was read byte by byte, so no
    /// frame bytes were consumed.
    pub fn into_raw(self) -> RawPeer {
        RawPeer {
            conn: self.conn,
            tcp: self.stream,
            io: self.io,
            tls: self.tls,
            journal: self.journal,
            open: self.open,
            reader: FrameReader::new(),
            fragments: None,
            quiet: false,
            answer_close: true,
            close_sent: false,
        }
    }
}

/// The server side of a WebSocket spoken frame by frame (see
/// [`Conn::upgrade_raw`]). Pings are journalled and answered only when
/// asked.
pub struct RawPeer {
    pub conn: usize,
    /// The socket; over TLS, what is read or written here bypasses TLS.
    pub tcp: TcpStream,
    io: Box<dyn Duplex>,
    tls: bool,
    journal: Arc<Journal>,
    open: Registry,
    reader: FrameReader,
    /// The opcode and bytes of a fragmented message being assembled.
    fragments: Option<(u8, Vec<u8>)>,
    /// Do not journal messages, pings and pongs (a soak would fill memory).
    pub quiet: bool,
    /// Answer the client's close frame (unless we sent ours first).
    pub answer_close: bool,
    close_sent: bool,
}

/// What a flood did (see [`RawPeer::flood`]).
#[derive(Debug)]
pub struct Flood {
    /// Whole batches written.
    pub batches: u64,
    /// Bytes written, whole batches or not.
    pub bytes: u64,
    /// Pongs read from the client meanwhile (not journalled one by one).
    pub pongs: usize,
    /// Whether the stream stopped between frames, so the peer can go on.
    pub clean: bool,
    /// How the reading side ended: the client's close frame, the deadline
    /// (`TimedOut`) or the end of the link.
    pub end: RawStep,
}

/// How [`RawPeer::stop_reading`] ended.
#[derive(Debug, PartialEq, Eq)]
pub enum StallEnd {
    /// The client sent a FIN or a reset.
    HungUp,
    /// The deadline passed with the client still there.
    Deadline,
}

impl RawPeer {
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Reads one whole frame before `deadline`. A partial frame stays
    /// buffered for the next call.
    pub fn next_frame(&mut self, deadline: Instant) -> RawStep {
        self.reader.read(&mut self.io, &self.tcp, deadline)
    }

    /// Reads frames, skipping others, until one with `opcode`; its payload,
    /// or `None` at `deadline` or the end of the link.
    pub fn next_payload_of(&mut self, opcode: u8, deadline: Instant) -> Option<Vec<u8>> {
        loop {
            match self.next_frame(deadline) {
                RawStep::Frame(frame) if frame.opcode == opcode => return Some(frame.payload),
                RawStep::Frame(_) => continue,
                _ => return None,
            }
        }
    }

    /// Reads frames until `deadline`, the client's close frame or the end of
    /// the link, journalling messages, pings, pongs and the close. Pings are
    /// answered only if `answer_pings`; the close is answered if
    /// `answer_close`. Returns how the loop ended.
    pub fn serve(&mut self, answer_pings: bool, deadline: Instant) -> RawStep {
        self.serve_until(answer_pings, deadline, |_| false)
    }

    /// Like [`RawPeer::serve`], and also returns (with the last frame of the
    /// message) once a message's text satisfies `stop`.
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
                opcode::CONTINUATION | opcode::TEXT | opcode::BINARY => {
                    if let Some(text) = self.take_message(&frame) {
                        if stop(&text) {
                            return RawStep::Frame(frame);
                        }
                    }
                }
                opcode::CLOSE => {
                    self.see_close(&frame);
                    if self.answer_close && !self.close_sent {
                        self.close_sent = true;
                        let _ = self.write_raw(&frames::server_frame(true, opcode::CLOSE, &frame.payload));
                    }
                    return RawStep::Frame(frame);
                }
                opcode::PING => {
                    self.see(Seen::Ping {
                        conn: self.conn,
                        at: Instant::now(),
                    });
                    if answer_pings && self.write_raw(&frames::pong(&frame.payload)).is_err() {
                        return RawStep::Gone;
                    }
                }
                opcode::PONG => self.see(Seen::Pong {
                    conn: self.conn,
                    at: Instant::now(),
                }),
                _ => {}
            }
        }
    }

    /// The next whole data message's text (binary ones as `binary:<len>`)
    /// before `deadline`, answering pings; `None` on a close, the deadline
    /// or the end of the link.
    pub fn next_message(&mut self, deadline: Instant) -> Option<String> {
        let mut found = None;
        match self.serve_until(true, deadline, |text| {
            found = Some(text.to_string());
            true
        }) {
            RawStep::Frame(frame) if !frame.is_control() => found,
            _ => None,
        }
    }

    /// Adds a data frame to the message being assembled; the whole message's
    /// text once it is complete (journalled unless quiet).
    fn take_message(&mut self, frame: &Frame) -> Option<String> {
        let (op, mut whole) = match (frame.opcode, self.fragments.take()) {
            (opcode::CONTINUATION, Some((op, mut started))) => {
                started.extend_from_slice(&frame.payload);
                (op, started)
            }
            (op, _) => (op, frame.payload.clone()),
        };
        if !frame.fin {
            self.fragments = Some((op, std::mem::take(&mut whole)));
            return None;
        }
        let text = if op == opcode::BINARY {
            format!("binary:{}", whole.len())
        } else {
            String::from_utf8_lossy(&whole).into_owned()
        };
        self.see(Seen::Message {
            conn: self.conn,
            text: text.clone(),
        });
        Some(text)
    }

    fn see_close(&self, frame: &Frame) {
        // A close is journalled even when quiet: it is rare and it is what a
        // test asserts on.
        self.journal.push(Seen::Closed {
            conn: self.conn,
            code: frame.close_code(),
        });
    }

    fn see(&self, seen: Seen) {
        if !self.quiet {
            self.journal.push(seen);
        }
    }

    /// Writes bytes as they are (through TLS if the connection has it).
    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.io.write_all(bytes)?;
        self.io.flush()
    }

    /// Sends a text message in one frame.
    pub fn send_text(&mut self, text: &str) -> bool {
        self.write_raw(&frames::text(text)).is_ok()
    }

    pub fn send_binary(&mut self, payload: &[u8]) -> bool {
        self.write_raw(&frames::binary(payload)).is_ok()
    }

    pub fn send_ping(&mut self, payload: &[u8]) -> bool {
        self.write_raw(&frames::ping(payload)).is_ok()
    }

    /// Sends a close frame with `code`, whatever it is (999, 1005, 5000, …).
    pub fn send_close(&mut self, code: u16) -> bool {
        self.send_close_with(Some(code), "")
    }

    /// Sends a close frame with `code` and `reason`, or an empty one.
    pub fn send_close_with(&mut self, code: Option<u16>, reason: &str) -> bool {
        self.close_sent = true;
        let frame = match code {
            Some(code) => frames::close(code, reason),
            None => frames::close_without_code(),
        };
        self.write_raw(&frame).is_ok()
    }

    /// Sends a close frame with `code`, then reads (journalling what the
    /// client had already sent) until its reply or the end of the link.
    pub fn close_with(&mut self, code: u16) {
        if self.send_close(code) {
            let _ = self.serve(true, Instant::now() + PATIENCE);
        }
    }

    /// Raw bytes the client sent that nobody has read yet (up to 64 KiB),
    /// buffered here or still in the socket.
    pub fn pending(&self) -> usize {
        let _ = self.tcp.set_nonblocking(true);
        let mut probe = vec![0u8; 64 * 1024];
        let n = self.tcp.peek(&mut probe).unwrap_or(0);
        let _ = self.tcp.set_nonblocking(false);
        n + self.reader.buffered()
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

    /// Reads nothing at all until `deadline` or until the client hangs up,
    /// so its writes back up: first our receive buffer fills, then its send
    /// buffer. The peer can serve again afterwards; nothing was lost.
    pub fn stop_reading(&mut self, deadline: Instant) -> StallEnd {
        // POLLRDHUP reports the client's FIN even with unread data in front
        // of it, which a read could only reach by reading.
        let mut poll = libc::pollfd {
            fd: self.tcp.as_raw_fd(),
            events: libc::POLLRDHUP,
            revents: 0,
        };
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return StallEnd::Deadline;
            }
            let timeout = i32::try_from(left.as_millis().max(1)).unwrap_or(i32::MAX);
            // SAFETY: one valid pollfd for the duration of the call, on a
            // socket this peer owns.
            let ready = unsafe { libc::poll(&mut poll, 1, timeout) };
            if ready > 0 && poll.revents & (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) != 0 {
                return StallEnd::HungUp;
            }
        }
    }

    /// Sends a FIN (no close frame) and keeps reading, journalling what the
    /// client had sent, until it hangs up.
    pub fn fin_then_drain(mut self) {
        let _ = self.tcp.shutdown(Shutdown::Write);
        let deadline = Instant::now() + PATIENCE;
        while let RawStep::Frame(_) = self.serve(false, deadline) {}
    }

    /// Ends the connection with a reset (RST) instead of a FIN.
    pub fn reset(self) {
        let RawPeer {
            conn, tcp, io, open, ..
        } = self;
        drop(io);
        reset_socket(tcp, &open, conn);
    }

    /// Pings as fast as the socket takes them, while reading (and
    /// journalling) the client's frames, until `deadline`, the client's
    /// close or the end of the link.
    pub fn ping_flood(&mut self, deadline: Instant) -> Flood {
        self.flood(frames::repeated(&frames::ping(b"flood"), 1024), deadline)
    }

    /// Sends `text` as fast as the socket takes it (a feed that never
    /// pauses), while reading the client, until `deadline`, the client's
    /// close or the end of the link.
    pub fn stream_text(&mut self, text: &str, deadline: Instant) -> Flood {
        self.flood(frames::repeated(&frames::text(text), 256), deadline)
    }

    /// Writes `batch` (whole frames, see `frames::repeated`) again and again
    /// as fast as the socket takes it, while reading the client's frames,
    /// until `deadline`, the client's close or the end of the link. Pings
    /// are answered and the close too (if `answer_close`), between batches.
    ///
    /// Writing and reading at once needs the socket on two threads, so this
    /// is for plain connections only.
    pub fn flood(&mut self, batch: Vec<u8>, deadline: Instant) -> Flood {
        assert!(!self.tls, "a flood writes from a second thread: plain connections only");
        let Ok(writer_tcp) = self.tcp.try_clone() else {
            return Flood {
                batches: 0,
                bytes: 0,
                pongs: 0,
                clean: true,
                end: RawStep::Gone,
            };
        };
        // Shared with the clone: a writer blocked on a full socket wakes this
        // often to look at the stop flag.
        let _ = self.tcp.set_write_timeout(Some(WRITER_SLICE));
        let stop = Arc::new(AtomicBool::new(false));
        let (replies, replies_rx) = mpsc::channel::<Vec<u8>>();
        let writer = {
            let stop = Arc::clone(&stop);
            thread::spawn(move || write_batches(writer_tcp, &batch, &stop, &replies_rx, deadline))
        };
        let mut pongs = 0;
        let end = loop {
            let frame = match self.next_frame(deadline) {
                RawStep::Frame(frame) => frame,
                other => break other,
            };
            match frame.opcode {
                opcode::PING => {
                    self.see(Seen::Ping {
                        conn: self.conn,
                        at: Instant::now(),
                    });
                    let _ = replies.send(frames::pong(&frame.payload));
                }
                opcode::PONG => pongs += 1,
                opcode::CLOSE => {
                    self.see_close(&frame);
                    if self.answer_close && !self.close_sent {
                        self.close_sent = true;
                        let _ = replies.send(frames::server_frame(true, opcode::CLOSE, &frame.payload));
                    }
                    break RawStep::Frame(frame);
                }
                _ => {
                    self.take_message(&frame);
                }
            }
        };
        stop.store(true, Ordering::SeqCst);
        drop(replies);
        let (batches, bytes, clean) = writer.join().unwrap_or((0, 0, false));
        let _ = self.tcp.set_write_timeout(Some(PATIENCE));
        Flood {
            batches,
            bytes,
            pongs,
            clean,
            end,
        }
    }
}

/// The writing half of a flood: `batch` again and again, queued replies
/// between batches; stops at a batch boundary once `stop` is set or the
/// deadline passed. Returns whole batches, bytes, and whether it stopped at
/// a boundary.
fn write_batches(
    mut tcp: TcpStream,
    batch: &[u8],
    stop: &AtomicBool,
    replies: &Receiver<Vec<u8>>,
    deadline: Instant,
) -> (u64, u64, bool) {
    let (mut batches, mut bytes, mut at) = (0u64, 0u64, 0usize);
    let mut give_up: Option<Instant> = None;
    loop {
        if at == 0 {
            while let Ok(reply) = replies.try_recv() {
                if !write_patiently(&mut tcp, &reply, Instant::now() + WRITER_GRACE) {
                    return (batches, bytes, false);
                }
            }
            if stop.load(Ordering::SeqCst) || Instant::now() >= deadline {
                // Replies queued after the last look.
                while let Ok(reply) = replies.recv_timeout(WRITER_SLICE) {
                    if !write_patiently(&mut tcp, &reply, Instant::now() + WRITER_GRACE) {
                        return (batches, bytes, false);
                    }
                }
                return (batches, bytes, true);
            }
        }
        match tcp.write(&batch[at..]) {
            Ok(0) => return (batches, bytes, false),
            Ok(n) => {
                bytes += n as u64;
                at += n;
                if at == batch.len() {
                    at = 0;
                    batches += 1;
                }
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                if stop.load(Ordering::SeqCst) || Instant::now() >= deadline {
                    let limit = *give_up.get_or_insert_with(|| Instant::now() + WRITER_GRACE);
                    if Instant::now() >= limit {
                        return (batches, bytes, false);
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return (batches, bytes, false),
        }
    }
}

/// Writes all of `bytes` on a socket whose write timeout is short, retrying
/// until `give_up`.
fn write_patiently(tcp: &mut TcpStream, mut bytes: &[u8], give_up: Instant) -> bool {
    while !bytes.is_empty() {
        match tcp.write(bytes) {
            Ok(0) => return false,
            Ok(n) => bytes = &bytes[n..],
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                if Instant::now() >= give_up {
                    return false;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    true
}

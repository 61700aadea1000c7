//! The byte stream under a link: a non-blocking TCP socket, with or without
//! TLS, and the queue of bytes waiting to go out.
//!
//! Everything written to a [`Stream`] — our frames and the replies
//! tungstenite queues on its own (pongs, the close reply) — goes into one
//! queue, whole and in order; [`Stream::send`] moves it to the kernel when the
//! socket takes it. Counting the bytes that reached the kernel is what lets
//! the link tell, message by message, what was written to the socket and what
//! must be handed back when the link dies. With TLS a byte counts only once
//! the record carrying it is out, so a message in a half-written record is
//! one the server cannot have read.

use std::io::{self, Read, Write};
use std::vec::Vec;

use mio::net::TcpStream;

use super::frame::{write_data_frame, Masks};
use super::inbox::{Inbox, Next};

/// Plaintext handed to rustls at a time: one full TLS record.
#[cfg(feature = "tls")]
const TLS_CHUNK: usize = 16 * 1024;

/// The socket and, over it, TLS: where received bytes come from.
#[derive(Debug)]
struct Wire {
    tcp: TcpStream,
    #[cfg(feature = "tls")]
    tls: Option<std::boxed::Box<rustls::ClientConnection>>,
    /// rustls met a bad record after plaintext that was still delivered.
    #[cfg(feature = "tls")]
    tls_fault: bool,
    /// Bytes read from the socket (wrapping): any of them proves the link alive.
    received: u64,
    /// The last read from the socket did not fill its buffer: the socket
    /// was empty then, and the next read would only say "would block".
    drained: bool,
    /// The peer's end was signalled: its edge is not signalled again, so
    /// every read goes to the socket.
    read_closed: bool,
}

/// A non-blocking byte stream with its own outbound queue.
#[derive(Debug)]
pub(crate) struct Stream {
    wire: Wire,
    out: Vec<u8>,
    /// Bytes at the front of `out` already handed on.
    out_start: usize,
    /// Plaintext bytes ever queued, handed on (to the socket or to rustls),
    /// and known to be in the kernel.
    queued: u64,
    handed: u64,
    sent: u64,
    /// The server's bytes once the link is open: read ahead of tungstenite.
    inbox: Option<Inbox>,
    /// Keys for the data frames written here.
    masks: Masks,
}

impl Stream {
    pub(crate) fn new(tcp: TcpStream) -> Stream {
        Stream {
            wire: Wire {
                tcp,
                #[cfg(feature = "tls")]
                tls: None,
                #[cfg(feature = "tls")]
                tls_fault: false,
                received: 0,
                drained: false,
                read_closed: false,
            },
            out: Vec::new(),
            out_start: 0,
            queued: 0,
            handed: 0,
            sent: 0,
            inbox: None,
            masks: Masks::new(),
        }
    }

    /// The socket, for registering with a poller.
    pub(crate) fn tcp_mut(&mut self) -> &mut TcpStream {
        &mut self.wire.tcp
    }

    /// Starts TLS over this stream (directly, or through a proxy's tunnel).
    #[cfg(feature = "tls")]
    pub(crate) fn start_tls(&mut self, connection: rustls::ClientConnection) {
        self.wire.tls = Some(std::boxed::Box::new(connection));
    }

    /// Drives the TLS handshake as far as the socket allows; `true` once it
    /// is done.
    #[cfg(feature = "tls")]
    pub(crate) fn handshake(&mut self) -> io::Result<bool> {
        while let Some(tls) = self.wire.tls.as_deref_mut() {
            if tls.wants_write() {
                match tls.write_tls(&mut self.wire.tcp) {
                    Ok(_) => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                    Err(e) => return Err(e),
                }
            }
            if !tls.is_handshaking() {
                return Ok(true);
            }
            match tls.read_tls(&mut self.wire.tcp) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.wire.received = self.wire.received.wrapping_add(n as u64),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
            tls.process_new_packets().map_err(io::Error::other)?;
        }
        Ok(true)
    }

    /// The link is open: `already_read` are the server's first bytes, read
    /// with the upgrade response; from here on the server's bytes are read
    /// ahead of tungstenite (see [`Inbox`]).
    pub(crate) fn open_inbox(&mut self, already_read: &[u8], limits: &super::Limits) {
        self.inbox = Some(Inbox::for_limits(already_read, limits));
        // Readiness seen while connecting is not seen again: read first.
        self.wire.drained = false;
    }

    /// The code of the first close frame the server sent, as sent.
    pub(crate) fn server_close(&self) -> Option<Option<u16>> {
        self.inbox.as_ref().and_then(Inbox::server_close)
    }

    /// The socket signalled readable (`closed`: and the peer's end, which
    /// may wait behind the data a short read leaves): whatever was read
    /// before, it may hold more now.
    pub(crate) fn readable_again(&mut self, closed: bool) {
        self.wire.drained = false;
        self.wire.read_closed |= closed;
    }

    /// Bytes read from the socket so far (wrapping).
    pub(crate) fn received(&self) -> u64 {
        self.wire.received
    }

    /// The next message if the inbox decodes it (see [`Inbox::next`]).
    #[inline]
    pub(crate) fn next_message(&mut self) -> Next {
        let wire = &mut self.wire;
        match &mut self.inbox {
            Some(inbox) => inbox.next(|buf| wire.read(buf)),
            None => Next::FrameLayer,
        }
    }

    /// Queues a text (`text`) or binary message as one masked frame;
    /// returns the stream position after its last byte (see
    /// [`Stream::sent`]). Whole frames only, so tungstenite's control frames
    /// queue between them.
    pub(crate) fn write_data(&mut self, text: bool, payload: &[u8]) -> u64 {
        let before = self.out.len();
        write_data_frame(&mut self.out, &mut self.masks, text, payload);
        self.queued += (self.out.len() - before) as u64;
        self.queued
    }

    /// Total bytes ever queued; a message queued between two readings of
    /// this is in the kernel once [`Stream::sent`] reaches the second.
    pub(crate) fn queued(&self) -> u64 {
        self.queued
    }

    /// Total queued bytes known to be in the kernel.
    pub(crate) fn sent(&self) -> u64 {
        self.sent
    }

    /// Queued bytes not yet in the kernel.
    pub(crate) fn unsent(&self) -> u64 {
        self.queued - self.sent
    }

    /// Whether anything waits to go out (queued bytes, or TLS records).
    pub(crate) fn has_output(&self) -> bool {
        #[cfg(feature = "tls")]
        if self.wire.tls.as_ref().is_some_and(|tls| tls.wants_write()) {
            return true;
        }
        self.out_start < self.out.len()
    }

    /// Moves queued bytes to the kernel until the socket would block.
    pub(crate) fn send(&mut self) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(tls) = self.wire.tls.as_deref_mut() {
            loop {
                if tls.wants_write() {
                    match tls.write_tls(&mut self.wire.tcp) {
                        Ok(_) => continue,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
                // Every record is out: all plaintext handed over is in the kernel.
                self.sent = self.handed;
                let pending = &self.out[self.out_start..];
                if pending.is_empty() {
                    break;
                }
                let n = tls.writer().write(&pending[..pending.len().min(TLS_CHUNK)])?;
                if n == 0 {
                    // rustls's buffer is full and its records are out: next turn.
                    break;
                }
                self.out_start += n;
                self.handed += n as u64;
            }
            self.compact();
            return Ok(());
        }
        while self.out_start < self.out.len() {
            match self.wire.tcp.write(&self.out[self.out_start..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.out_start += n;
                    self.handed += n as u64;
                    self.sent = self.handed;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.compact();
        Ok(())
    }

    /// Reclaims the space of bytes handed on, without moving bytes often.
    fn compact(&mut self) {
        if self.out_start == self.out.len() {
            self.out.clear();
            self.out_start = 0;
        } else if self.out_start > self.out.len() / 2 {
            self.out.drain(..self.out_start);
            self.out_start = 0;
        }
    }
}

impl Wire {
    /// Plaintext from the server: from rustls, or straight from the socket.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        #[cfg(feature = "tls")]
        if let Some(tls) = self.tls.as_deref_mut() {
            loop {
                match tls.reader().read(buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    other => return other,
                }
                if self.tls_fault {
                    // rustls repeats the fault it met.
                    tls.process_new_packets().map_err(io::Error::other)?;
                }
                match tls.read_tls(&mut self.tcp) {
                    // rustls remembers the end; the next read reports it.
                    Ok(n) => self.received = self.received.wrapping_add(n as u64),
                    Err(e) => return Err(e),
                }
                if let Err(e) = tls.process_new_packets() {
                    // What arrived intact before a bad record is delivered
                    // first; the next read reports the fault.
                    return match tls.reader().read(buf) {
                        Ok(n) if n > 0 => {
                            self.tls_fault = true;
                            Ok(n)
                        }
                        _ => Err(io::Error::other(e)),
                    };
                }
            }
        }
        if core::mem::take(&mut self.drained) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = self.tcp.read(buf)?;
        self.received = self.received.wrapping_add(n as u64);
        // A read that leaves room emptied the socket, and data arriving
        // after it brings a new readiness edge: the read after it is
        // skipped (the reasoning tokio applies to epoll and kqueue). At
        // small messages that was a system call in three.
        self.drained = n > 0 && n < buf.len() && !self.read_closed;
        Ok(n)
    }
}

/// Tungstenite's reads: a frame at a time from the inbox once the link is
/// open.
impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let wire = &mut self.wire;
        match &mut self.inbox {
            Some(inbox) => inbox.read_for_frame_layer(buf, |into| wire.read(into)),
            None => wire.read(buf),
        }
    }
}

/// Writing only queues: [`Stream::send`] does the I/O, so a frame is never
/// split between two writers and nothing blocks.
impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.extend_from_slice(buf);
        self.queued += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

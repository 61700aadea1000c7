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

use super::close_sniffer::CloseSniffer;
use super::frame::{write_data_frame, Masks};

/// Plaintext handed to rustls at a time: one full TLS record.
#[cfg(feature = "tls")]
const TLS_CHUNK: usize = 16 * 1024;

/// A non-blocking byte stream with its own outbound queue.
#[derive(Debug)]
pub(crate) struct Stream {
    tcp: TcpStream,
    #[cfg(feature = "tls")]
    tls: Option<std::boxed::Box<rustls::ClientConnection>>,
    out: Vec<u8>,
    /// Bytes at the front of `out` already handed on.
    out_start: usize,
    /// Plaintext bytes ever queued, handed on (to the socket or to rustls),
    /// and known to be in the kernel.
    queued: u64,
    handed: u64,
    sent: u64,
    /// Bytes read from the socket (wrapping): any of them proves the link alive.
    received: u64,
    /// Follows the server's frames once the link is open.
    sniffer: Option<CloseSniffer>,
    /// Keys for the data frames written here.
    masks: Masks,
    /// rustls met a bad record after plaintext that was still delivered.
    #[cfg(feature = "tls")]
    tls_fault: bool,
}

impl Stream {
    pub(crate) fn new(tcp: TcpStream) -> Stream {
        Stream {
            tcp,
            #[cfg(feature = "tls")]
            tls: None,
            out: Vec::new(),
            out_start: 0,
            queued: 0,
            handed: 0,
            sent: 0,
            received: 0,
            sniffer: None,
            masks: Masks::new(),
            #[cfg(feature = "tls")]
            tls_fault: false,
        }
    }

    /// The socket, for registering with a poller.
    pub(crate) fn tcp_mut(&mut self) -> &mut TcpStream {
        &mut self.tcp
    }

    /// Starts TLS over this stream (directly, or through a proxy's tunnel).
    #[cfg(feature = "tls")]
    pub(crate) fn start_tls(&mut self, connection: rustls::ClientConnection) {
        self.tls = Some(std::boxed::Box::new(connection));
    }

    /// Drives the TLS handshake as far as the socket allows; `true` once it
    /// is done.
    #[cfg(feature = "tls")]
    pub(crate) fn handshake(&mut self) -> io::Result<bool> {
        while let Some(tls) = self.tls.as_deref_mut() {
            if tls.wants_write() {
                match tls.write_tls(&mut self.tcp) {
                    Ok(_) => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                    Err(e) => return Err(e),
                }
            }
            if !tls.is_handshaking() {
                return Ok(true);
            }
            match tls.read_tls(&mut self.tcp) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.received = self.received.wrapping_add(n as u64),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
            tls.process_new_packets().map_err(io::Error::other)?;
        }
        Ok(true)
    }

    /// Starts following the server's frames: the link is open, and
    /// `already_read` are its first bytes, read with the upgrade response.
    pub(crate) fn follow_frames(&mut self, already_read: &[u8]) {
        let mut sniffer = CloseSniffer::default();
        sniffer.feed(already_read);
        self.sniffer = Some(sniffer);
    }

    /// The code of the first close frame the server sent, as sent.
    pub(crate) fn server_close(&self) -> Option<Option<u16>> {
        self.sniffer.as_ref().and_then(CloseSniffer::server_close)
    }

    /// Bytes read from the socket so far (wrapping).
    pub(crate) fn received(&self) -> u64 {
        self.received
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
        if self.tls.as_ref().is_some_and(|tls| tls.wants_write()) {
            return true;
        }
        self.out_start < self.out.len()
    }

    /// Moves queued bytes to the kernel until the socket would block.
    pub(crate) fn send(&mut self) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Some(tls) = self.tls.as_deref_mut() {
            loop {
                if tls.wants_write() {
                    match tls.write_tls(&mut self.tcp) {
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
            match self.tcp.write(&self.out[self.out_start..]) {
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

    fn read_socket(&mut self, buf: &mut [u8]) -> io::Result<usize> {
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
        let n = self.tcp.read(buf)?;
        self.received = self.received.wrapping_add(n as u64);
        Ok(n)
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.read_socket(buf)?;
        if let Some(sniffer) = &mut self.sniffer {
            sniffer.feed(&buf[..n]);
        }
        Ok(n)
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

//! The byte stream under the WebSocket: plain TCP or rustls over TCP, with a
//! deadline that bounds every socket read and write while the link is opening.

use core::net::SocketAddr;
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;
#[cfg(feature = "tls")]
use std::boxed::Box;
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Instant as StdInstant;
use std::vec::Vec;

/// How long one blocking socket call may wait before the deadline and the
/// cancel flag are checked again: the bound on how late a cancel is noticed.
const SLICE: Duration = Duration::from_millis(100);

/// The TCP stream under a link. While the link opens, every read and write
/// gets only the time left before the open deadline, so a server that
/// dribbles one byte at a time cannot stretch the open past it. Once open,
/// the stream is non-blocking and registered with the client's poller.
#[derive(Debug)]
pub struct Socket {
    phase: Phase,
    /// Bytes read so far: any inbound byte proves the link alive, even
    /// before a whole frame has arrived.
    received: u64,
    /// Once open: bytes read from the socket but not yet asked for.
    /// Tungstenite reads into what is left of its buffer, and while received
    /// messages are still held by the caller that can be a few hundred bytes;
    /// serving those small reads from here costs a copy instead of a system
    /// call each. Allocated on the first read, `buffer_size` long.
    read_ahead: Vec<u8>,
    read_pos: usize,
    buffer_size: usize,
}

#[derive(Debug)]
enum Phase {
    Opening {
        tcp: TcpStream,
        deadline: StdInstant,
        cancel: Option<Arc<AtomicBool>>,
    },
    Open(mio::net::TcpStream),
    /// Only between `establish` taking the stream and putting it back.
    Gone,
}

impl Socket {
    pub(crate) fn new(
        tcp: TcpStream,
        deadline: StdInstant,
        cancel: Option<Arc<AtomicBool>>,
        buffer_size: usize,
    ) -> Socket {
        Socket {
            phase: Phase::Opening { tcp, deadline, cancel },
            received: 0,
            read_ahead: Vec::new(),
            read_pos: 0,
            buffer_size,
        }
    }

    /// A read once open: from the read-ahead if it holds anything, else
    /// straight into `buf` when that is at least as large, else through a
    /// refill of the read-ahead.
    fn read_open(
        tcp: &mut mio::net::TcpStream,
        ahead: &mut Vec<u8>,
        pos: &mut usize,
        size: usize,
        buf: &mut [u8],
    ) -> io::Result<(usize, usize)> {
        if *pos < ahead.len() {
            let n = buf.len().min(ahead.len() - *pos);
            buf[..n].copy_from_slice(&ahead[*pos..*pos + n]);
            *pos += n;
            return Ok((n, 0));
        }
        if buf.len() >= size {
            let n = tcp.read(buf)?;
            return Ok((n, n));
        }
        ahead.resize(size, 0);
        let filled = match tcp.read(ahead) {
            Ok(n) => n,
            Err(e) => {
                ahead.clear();
                return Err(e);
            }
        };
        ahead.truncate(filled);
        let n = buf.len().min(filled);
        buf[..n].copy_from_slice(&ahead[..n]);
        *pos = n;
        Ok((n, filled))
    }

    /// Bytes read from the socket so far (wrapping).
    pub(crate) fn received(&self) -> u64 {
        self.received
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        match &self.phase {
            Phase::Opening { tcp, .. } => tcp.peer_addr(),
            Phase::Open(tcp) => tcp.peer_addr(),
            Phase::Gone => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// Ends the opening phase: no deadline, non-blocking from now on.
    pub(crate) fn establish(&mut self) -> io::Result<()> {
        match core::mem::replace(&mut self.phase, Phase::Gone) {
            Phase::Opening { tcp, .. } => {
                tcp.set_read_timeout(None)?;
                tcp.set_write_timeout(None)?;
                tcp.set_nonblocking(true)?;
                self.phase = Phase::Open(mio::net::TcpStream::from_std(tcp));
                Ok(())
            }
            other => {
                self.phase = other;
                Ok(())
            }
        }
    }

    /// The non-blocking stream, for registering with a poller.
    pub(crate) fn source(&mut self) -> Option<&mut mio::net::TcpStream> {
        match &mut self.phase {
            Phase::Open(tcp) => Some(tcp),
            _ => None,
        }
    }

    /// Runs one socket call: directly once open; while opening, in slices
    /// until it completes, the deadline passes or the open is cancelled.
    fn bounded<T>(&mut self, mut op: impl FnMut(&mut dyn ReadWrite) -> io::Result<T>) -> io::Result<T> {
        let (tcp, deadline, cancel) = match &mut self.phase {
            Phase::Open(tcp) => return op(tcp),
            Phase::Gone => return Err(io::ErrorKind::NotConnected.into()),
            Phase::Opening { tcp, deadline, cancel } => (tcp, *deadline, cancel),
        };
        loop {
            if cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed)) {
                return Err(io::Error::new(io::ErrorKind::Interrupted, "open cancelled"));
            }
            let left = deadline.saturating_duration_since(StdInstant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "open deadline passed"));
            }
            let slice = Some(left.min(SLICE));
            tcp.set_read_timeout(slice)?;
            tcp.set_write_timeout(slice)?;
            match op(tcp) {
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => continue,
                other => return other,
            }
        }
    }
}

/// Read + Write, so one closure serves both kinds of stream.
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Phase::Open(tcp) = &mut self.phase {
            let (n, from_socket) =
                Socket::read_open(tcp, &mut self.read_ahead, &mut self.read_pos, self.buffer_size, buf)?;
            self.received = self.received.wrapping_add(from_socket as u64);
            return Ok(n);
        }
        let n = self.bounded(|tcp| tcp.read(buf))?;
        self.received = self.received.wrapping_add(n as u64);
        Ok(n)
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.bounded(|tcp| tcp.write(buf))
    }
    fn flush(&mut self) -> io::Result<()> {
        self.bounded(|tcp| tcp.flush())
    }
}

/// Plain or TLS.
#[derive(Debug)]
pub enum Stream {
    /// `ws://`.
    Plain(Socket),
    /// `wss://`. Boxed: the TLS state is large, and a link moves through
    /// several stack frames while it opens.
    #[cfg(feature = "tls")]
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, Socket>>),
}

impl Stream {
    /// The socket underneath.
    pub fn socket(&self) -> &Socket {
        match self {
            Stream::Plain(s) => s,
            #[cfg(feature = "tls")]
            Stream::Tls(s) => &s.sock,
        }
    }

    pub(crate) fn socket_mut(&mut self) -> &mut Socket {
        match self {
            Stream::Plain(s) => s,
            #[cfg(feature = "tls")]
            Stream::Tls(s) => &mut s.sock,
        }
    }

    /// Whether this is a TLS stream.
    pub fn is_tls(&self) -> bool {
        !matches!(self, Stream::Plain(_))
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            #[cfg(feature = "tls")]
            Stream::Tls(s) => s.flush(),
        }
    }
}

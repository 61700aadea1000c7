//! How the client reads an open link: tungstenite's frame layer with the
//! link's limits, over a stream whose bytes the close-code follower sees,
//! and what a close frame or a read error becomes.
//!
//! The session reads its [`super::stream::Stream`] this way; [`RawLink`] is
//! the same path over any byte stream, for fuzz targets and tests that play
//! a server byte by byte.

use std::io::{self, Read, Write};
use std::string::String;
use std::vec::Vec;

use tungstenite::protocol::{CloseFrame, Role, WebSocket};
use tungstenite::Message;

use super::close_sniffer::CloseSniffer;
use super::{Limits, TransportError};

/// The error that ends a link when the server closed it first: `sent` is
/// the code of the server's close frame as sent (from the close-code
/// follower), `frame` the frame as tungstenite reports it, which turns a
/// code that must not be sent into 1002. The reason is kept when the codes
/// agree.
pub(crate) fn closed_by_server(sent: Option<Option<u16>>, frame: Option<CloseFrame>) -> TransportError {
    match (sent, frame) {
        (Some(code), Some(frame)) if code == Some(u16::from(frame.code)) => TransportError::Closed {
            code,
            reason: frame.reason.as_str().into(),
        },
        (Some(code), _) => TransportError::Closed {
            code,
            reason: String::new(),
        },
        (None, frame) => TransportError::Closed {
            code: frame.as_ref().map(|f| u16::from(f.code)),
            reason: frame.map(|f| f.reason.as_str().into()).unwrap_or_default(),
        },
    }
}

/// A read error on a link whose close frame the client has not sent. After
/// the server's close, the end of the link is that close.
pub(crate) fn read_error(sent: Option<Option<u16>>, error: tungstenite::Error) -> TransportError {
    match error {
        tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => match sent {
            Some(code) => TransportError::Closed {
                code,
                reason: String::new(),
            },
            None => TransportError::WebSocket(tungstenite::Error::ConnectionClosed),
        },
        other => TransportError::from_websocket(other),
    }
}

/// The client's WebSocket over `stream`, open after an upgrade whose
/// response came with `already_read`, the server's first bytes.
pub(crate) fn client_websocket<S: Read + Write>(stream: S, already_read: &[u8], limits: &Limits) -> WebSocket<S> {
    // The capacity becomes tungstenite's buffer's "original capacity": what
    // it allocates when received messages still share the buffer. From an
    // empty Vec it is zero, and every read is then as short as one frame.
    let mut rest = Vec::with_capacity(limits.read_buffer_size.max(already_read.len()));
    rest.extend_from_slice(already_read);
    WebSocket::from_partially_read(stream, rest, Role::Client, Some(limits.websocket_config()))
}

/// The client's read path over any byte stream: what the session does with
/// the bytes a server sends once the link is open. Not part of the stable
/// API; it exists so that fuzz targets and tests exercise the real path.
#[doc(hidden)]
#[derive(Debug)]
pub struct RawLink<S: Read + Write> {
    ws: WebSocket<Followed<S>>,
}

/// A stream whose inbound bytes the close-code follower sees, as
/// [`super::stream::Stream`] does.
#[derive(Debug)]
struct Followed<S> {
    inner: S,
    sniffer: CloseSniffer,
}

impl<S: Read> Read for Followed<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sniffer.feed(&buf[..n]);
        Ok(n)
    }
}

impl<S: Write> Write for Followed<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<S: Read + Write> RawLink<S> {
    /// A link open over `stream`; `already_read` are the server's first
    /// bytes, read with the upgrade response.
    pub fn new(stream: S, already_read: &[u8], limits: &Limits) -> RawLink<S> {
        let mut sniffer = CloseSniffer::default();
        sniffer.feed(already_read);
        RawLink {
            ws: client_websocket(Followed { inner: stream, sniffer }, already_read, limits),
        }
    }

    /// The next message, ping or pong; `Ok(None)` when the stream would
    /// block or was interrupted. An error ends the link: the server's close
    /// is [`TransportError::Closed`] with the code as the server sent it.
    pub fn read(&mut self) -> Result<Option<Message>, TransportError> {
        match self.ws.read() {
            Ok(Message::Close(frame)) => Err(closed_by_server(self.server_close(), frame)),
            Ok(message) => Ok(Some(message)),
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) =>
            {
                Ok(None)
            }
            Err(e) => Err(read_error(self.server_close(), e)),
        }
    }

    /// The code of the server's close frame as sent: `Some(None)` for a
    /// close without a code, `None` before any close frame.
    pub fn server_close(&self) -> Option<Option<u16>> {
        self.ws.get_ref().sniffer.server_close()
    }
}

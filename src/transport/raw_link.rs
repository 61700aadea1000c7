//! How the client reads an open link: plain data frames decoded by the
//! link's inbox, every other frame by tungstenite's frame layer with the
//! link's limits (the close-code follower sees those), and what a close
//! frame or a read error becomes.
//!
//! The session reads its [`super::stream::Stream`] this way; [`RawLink`] is
//! the same path over any byte stream, for fuzz targets and tests that play
//! a server byte by byte.

use std::io::{self, Read, Write};
use std::string::String;

use tungstenite::protocol::{CloseFrame, Role, WebSocket};
use tungstenite::Message;

use super::inbox::{Inbox, Next};
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

/// Tungstenite's read size behind an inbox: it is handed only the frames
/// the inbox does not decode (control frames, fragments), and copies them
/// from the inbox's memory this much at a time. Its buffer starts at this
/// size, and each link keeps it: 4 KiB cost a gateway 2 KiB a link more.
const FRAME_LAYER_READ: usize = 1 << 10;

/// The client's WebSocket over `stream`, whose inbox holds the server's
/// bytes read with the upgrade response.
pub(crate) fn client_websocket<S: Read + Write>(stream: S, limits: &Limits) -> WebSocket<S> {
    let config = limits.websocket_config().read_buffer_size(FRAME_LAYER_READ);
    WebSocket::from_raw_socket(stream, Role::Client, Some(config))
}

/// The next message of an open link: from the inbox when it decodes it,
/// otherwise through tungstenite, whose reads come to the inbox.
/// `Ok(None)`: nothing now (the stream would block).
#[inline(always)]
pub(crate) fn read_message<S: Read + Write>(
    ws: &mut WebSocket<S>,
    next: impl FnOnce(&mut S) -> Next,
) -> Result<Option<Message>, tungstenite::Error> {
    // Tungstenite refuses data after the server's close; so does this.
    if ws.can_read() {
        match next(ws.get_mut()) {
            Next::Message(message) => return Ok(Some(message)),
            Next::WouldBlock => return Ok(None),
            Next::FrameLayer => {}
        }
    }
    let message = ws.read()?;
    if matches!(message, Message::Ping(_) | Message::Close(_)) {
        // The pong or the close reply tungstenite queued goes to the stream
        // now: tungstenite writes it only when it reads or writes again,
        // and the messages after a ping may all be decoded by the inbox. A
        // stream that cannot take it fails on its next write; the frame
        // read is reported first.
        let _ = ws.flush();
    }
    Ok(Some(message))
}

/// The client's read path over any byte stream: what the session does with
/// the bytes a server sends once the link is open. Not part of the stable
/// API; it exists so that fuzz targets and tests exercise the real path.
#[doc(hidden)]
#[derive(Debug)]
pub struct RawLink<S: Read + Write> {
    ws: WebSocket<Followed<S>>,
}

/// A stream read through an inbox, as [`super::stream::Stream`] is.
#[derive(Debug)]
struct Followed<S> {
    inner: S,
    inbox: Inbox,
}

impl<S: Read> Read for Followed<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let inner = &mut self.inner;
        self.inbox.read_for_frame_layer(buf, |into| inner.read(into))
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
        let inbox = Inbox::for_limits(already_read, limits);
        RawLink {
            ws: client_websocket(Followed { inner: stream, inbox }, limits),
        }
    }

    /// The next message, ping or pong; `Ok(None)` when the stream would
    /// block or was interrupted. An error ends the link: the server's close
    /// is [`TransportError::Closed`] with the code as the server sent it.
    pub fn read(&mut self) -> Result<Option<Message>, TransportError> {
        let next = read_message(&mut self.ws, |followed| {
            let inner = &mut followed.inner;
            followed.inbox.next(|into| inner.read(into))
        });
        match next {
            Ok(Some(Message::Close(frame))) => Err(closed_by_server(self.server_close(), frame)),
            Ok(message) => Ok(message),
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
        self.ws.get_ref().inbox.server_close()
    }
}

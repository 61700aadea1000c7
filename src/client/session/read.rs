//! Reading: frames in bounded batches, counted in frames and bytes so that a
//! flood of any kind (pings included) gives writing its turn; only while the
//! caller has room, so a slow caller makes TCP push back on the server; and
//! any byte that arrived — read or still waiting — counts as life.

use std::io;

use tungstenite::protocol::CloseFrame;
use tungstenite::Message;

use super::{Link, Session};
use crate::client::event::Incoming;
use crate::transport::TransportError;
use crate::{Inbound, Instant};

/// Frames read in one turn before writing gets its turn.
const READ_FRAMES: usize = 256;
/// Bytes of messages read in one turn before writing gets its turn.
const READ_BYTES: usize = 1 << 20;

impl Session {
    /// Reads what the socket has, within the batch and the caller's room.
    pub(super) fn read(&mut self, now: Instant) {
        let Link::Open(open) = &mut self.link else {
            return;
        };
        let received_before = open.ws.get_ref().received();
        let (mut frames, mut bytes) = (0, 0);
        let (mut data, mut control) = (false, false);
        while open.readable && frames < READ_FRAMES && bytes < READ_BYTES {
            if self.reading_paused {
                break;
            }
            if !self.shared.budget.has_room() && !self.shared.budget.starve() {
                break;
            }
            match open.ws.read() {
                Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                    frames += 1;
                    bytes += message.len();
                    data = true;
                    let link = open.number;
                    if let Some(id) = self.acks.as_ref().and_then(|acks| acks.acknowledged_id(&message)) {
                        self.pending_acks.push((id, link));
                    }
                    if let Some(kind) = self.sequence.as_mut().and_then(|check| check.check(&message)) {
                        // The event goes first: it explains the message after it.
                        self.ready.push_back(Incoming::Event(self.shared.event(kind, None)));
                    }
                    self.shared.budget.add(message.len());
                    self.ready.push_back(Incoming::Message(message));
                }
                Ok(Message::Close(frame)) => {
                    return self.close_received(now, frame);
                }
                Ok(_) => {
                    // A ping (tungstenite queued the pong), a pong, a raw frame.
                    frames += 1;
                    control = true;
                }
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    open.readable = false;
                }
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.read_failed(now, e),
            }
        }
        let unread = open.readable;
        let received = open.ws.get_ref().received() != received_before;
        // Data that waits because the caller is slow is still data: neither
        // the pong nor the idle deadline may blame the server for it.
        if data || ((self.reading_paused || !self.shared.budget.has_room()) && unread) {
            self.sup.handle_inbound(now, Inbound::Data);
        } else if control || received {
            // Part of a large message arriving slowly proves the link alive.
            self.sup.handle_inbound(now, Inbound::Control);
        }
        self.apply_acknowledgements();
        // Pongs tungstenite queued go out now.
        self.send_out(now);
    }

    /// Settles the messages the acknowledgements read this turn confirm;
    /// before anything ends the link, so that none of them goes again.
    pub(super) fn apply_acknowledgements(&mut self) {
        for (id, link) in core::mem::take(&mut self.pending_acks) {
            self.acknowledged(id, link);
        }
    }

    /// Data waiting unread because the caller paused or is slow is still
    /// data: before any deadline is checked, it counts as life, so neither
    /// the pong nor the idle deadline blames the server for the caller.
    pub(super) fn note_unread(&mut self, now: Instant) {
        let Link::Open(open) = &self.link else {
            return;
        };
        let held_back = self.reading_paused || !self.shared.budget.has_room();
        if held_back && open.readable {
            self.sup.handle_inbound(now, Inbound::Data);
        }
    }

    /// The server sent a close frame: the answer to ours, or its own close.
    fn close_received(&mut self, now: Instant, frame: Option<CloseFrame>) {
        if self.closing.frame_sent() {
            return self.closed_cleanly(now);
        }
        // Send the reply tungstenite queued, then end the link with the code
        // the server sent (not tungstenite's rewrite of a code that must not
        // be sent).
        self.send_out(now);
        let Link::Open(open) = &self.link else {
            return;
        };
        let sent = open.ws.get_ref().last_close();
        let error = match (sent, frame) {
            (Some(code), Some(frame)) if code == Some(u16::from(frame.code)) => TransportError::Closed {
                code,
                reason: frame.reason.as_str().into(),
            },
            (Some(code), _) => TransportError::Closed {
                code,
                reason: std::string::String::new(),
            },
            (None, frame) => TransportError::Closed {
                code: frame.as_ref().map(|f| u16::from(f.code)),
                reason: frame.map(|f| f.reason.as_str().into()).unwrap_or_default(),
            },
        };
        self.lost(now, error);
    }

    fn read_failed(&mut self, now: Instant, error: tungstenite::Error) {
        match error {
            tungstenite::Error::ConnectionClosed if self.closing.frame_sent() => self.closed_cleanly(now),
            // Over TLS a server may drop TCP after the close handshake
            // without close_notify: clean once our close frame is out.
            tungstenite::Error::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof && self.closing.frame_sent() => {
                self.closed_cleanly(now)
            }
            tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
                let code = match &self.link {
                    Link::Open(open) => open.ws.get_ref().last_close(),
                    _ => None,
                };
                let error = match code {
                    Some(code) => TransportError::Closed {
                        code,
                        reason: std::string::String::new(),
                    },
                    None => TransportError::WebSocket(tungstenite::Error::ConnectionClosed),
                };
                self.lost(now, error)
            }
            other => self.lost(now, TransportError::from_websocket(other)),
        }
    }
}

//! Ending links and the session: a link lost (its unwritten messages go
//! again on the next), the caller's clean close (write the queue, send the
//! close frame as soon as it is written, give the handshake its own bounded
//! time), and the end, where everything still held is handed back.

use std::time::Instant as StdInstant;

use std::string::ToString;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;

use super::{Link, Session};
use crate::client::delivery::Reason;
use crate::client::error::Ending;
use crate::client::event::EventKind;
use crate::client::shared::CloseRequest;
use crate::transport::TransportError;
use crate::{Instant, Outcome};

/// Where the session is in closing.
#[derive(Debug, Default)]
pub(super) enum Closing {
    /// Not closing.
    #[default]
    No,
    /// Writing what is queued before the close frame.
    Draining {
        deadline: StdInstant,
        request: CloseRequest,
    },
    /// Close frame sent; waiting for the server's.
    Handshake { deadline: StdInstant },
    /// Ended.
    Done,
}

impl Closing {
    pub(super) fn is_done(&self) -> bool {
        matches!(self, Closing::Done)
    }

    /// Not closing: sends go out as they come.
    pub(super) fn is_open(&self) -> bool {
        matches!(self, Closing::No)
    }

    /// Our close frame is out: nothing else may be written.
    pub(super) fn frame_sent(&self) -> bool {
        matches!(self, Closing::Handshake { .. })
    }

    /// A link is being closed cleanly.
    pub(super) fn is_closing_link(&self) -> bool {
        matches!(self, Closing::Draining { .. } | Closing::Handshake { .. })
    }

    pub(super) fn deadline(&self) -> Option<StdInstant> {
        match self {
            Closing::Draining { deadline, .. } | Closing::Handshake { deadline } => Some(*deadline),
            Closing::No | Closing::Done => None,
        }
    }
}

/// A close reason fits in a control frame: at most 123 bytes, cut at a
/// character boundary.
fn fit_reason(reason: &str) -> &str {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}

impl Session {
    /// The caller asked to close.
    pub(super) fn begin_close(&mut self, now: Instant, request: CloseRequest) {
        if !matches!(self.closing, Closing::No) {
            return;
        }
        if matches!(self.link, Link::Open(_)) && !self.sup.state().is_final() {
            let deadline = StdInstant::now() + self.settings.close_timeout;
            self.closing = Closing::Draining { deadline, request };
            self.advance_close(now);
        } else {
            // No link to write to: hand back at once.
            self.sup.close(now);
            self.drain(now);
            self.finish();
        }
    }

    /// Moves a clean close on: the close frame once the queue is written (or
    /// its time is up), the end once the server answers (or the handshake's
    /// time is up).
    pub(super) fn advance_close(&mut self, now: Instant) {
        let std_now = StdInstant::now();
        match &self.closing {
            Closing::Draining { deadline, request } => {
                let Link::Open(open) = &self.link else {
                    self.sup.close(now);
                    self.drain(now);
                    return self.finish();
                };
                let written =
                    self.writer.is_empty() && self.shared.outbox.lock().is_empty() && !open.ws.get_ref().has_output();
                if written || std_now >= *deadline {
                    let request = request.clone();
                    self.send_close_frame(now, request.code, &request.reason);
                    self.sup.close(now);
                    self.drain(now);
                }
            }
            Closing::Handshake { deadline } if std_now >= *deadline => {
                log::debug!("close handshake timed out");
                self.finish();
            }
            _ => {}
        }
    }

    /// Sends our close frame now and gives the handshake its own time.
    pub(super) fn send_close_frame(&mut self, now: Instant, code: u16, reason: &str) {
        let Link::Open(open) = &mut self.link else {
            return;
        };
        let code = CloseCode::from(code);
        let code = if code.is_allowed() {
            code
        } else {
            log::warn!("close code {} may not be sent; closing with 1000", u16::from(code));
            CloseCode::Normal
        };
        let frame = CloseFrame {
            code,
            reason: fit_reason(reason).into(),
        };
        let deadline = StdInstant::now() + self.settings.close_handshake_timeout;
        self.closing = Closing::Handshake { deadline };
        match open.ws.close(Some(frame)) {
            Ok(()) => self.send_out(now),
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => self.send_out(now),
            Err(_) => self.finish(),
        }
    }

    /// The link failed under us: report it and keep what was in flight.
    pub(super) fn lost(&mut self, now: Instant, error: TransportError) {
        let failure = error.failure(&self.settings.close_codes);
        self.last_error = Some(error.to_string());
        let Some(id) = self.drop_link() else {
            return;
        };
        if self.closing.is_closing_link() {
            // The link died while closing: nothing more to wait for.
            self.sup.close(now);
            self.drain(now);
            return self.finish();
        }
        self.sup.handle_disconnected(now, id, failure);
        self.drain(now);
    }

    /// The close handshake completed.
    pub(super) fn closed_cleanly(&mut self, _now: Instant) {
        self.finish();
    }

    /// Forgets the open link (its socket closes); what it had not put in the
    /// kernel goes again on the next link. Returns the link's attempt.
    pub(super) fn drop_link(&mut self) -> Option<crate::AttemptId> {
        self.apply_acknowledgements();
        match core::mem::replace(&mut self.link, Link::None) {
            Link::Open(mut open) => {
                let _ = self.poll.registry().deregister(open.ws.get_mut().tcp_mut());
                self.writer.link_lost();
                self.shared.outbox.lock().link_closed();
                self.shared.status().subprotocol = None;
                self.report(
                    EventKind::LinkClosed {
                        link: open.number,
                        uptime: open.opened_at.elapsed(),
                    },
                    None,
                );
                Some(open.id)
            }
            Link::Connecting { id, connecting, .. } => {
                connecting.abandon(self.poll.registry());
                Some(id)
            }
            Link::None => None,
        }
    }

    /// Ends the session: refuses further sends and hands back everything
    /// still held, in order.
    pub(super) fn finish(&mut self) {
        if self.closing.is_done() {
            return;
        }
        let now = self.now();
        self.drop_link();
        if !self.sup.state().is_final() {
            self.sup.close(now);
            self.drain(now);
        }
        self.closing = Closing::Done;
        let queued = {
            let mut outbox = self.shared.outbox.lock();
            outbox.close();
            outbox.take_all()
        };
        let held = self.writer.take_all();
        let (count, bytes) = super::write::count_and_bytes(held.iter().map(|(o, _)| o));
        for (outgoing, reason) in held {
            self.hand_back(outgoing, reason);
        }
        for outgoing in queued {
            self.hand_back(outgoing, Reason::NotSent);
        }
        self.shared.outbox.lock().settled(count, bytes);
        let outcome = self.sup.outcome().unwrap_or(Outcome::Stopped);
        let ending = Ending {
            outcome,
            detail: self.outcome_detail(outcome),
        };
        self.shared.status().ending = Some(ending.clone());
        self.ending = Some(ending);
        self.shared.outbox.notify_space();
        self.shared.outbox.notify_drained();
        self.publish();
    }

    /// The supervisor asked to close the link or abandon the attempt.
    pub(super) fn close_link(&mut self, now: Instant) {
        match &self.link {
            Link::Open(_) if !self.closing.frame_sent() => {
                self.send_close_frame(now, 1000, "");
            }
            Link::Open(_) => {}
            _ => {
                self.drop_link();
            }
        }
    }
}

//! Reading: frames in bounded batches, counted in frames and bytes so that a
//! flood of any kind (pings included) gives writing its turn; only while the
//! caller has room, so a slow caller makes TCP push back on the server; and
//! any byte that arrived — read or still waiting — counts as life.

use std::io;

use tungstenite::protocol::CloseFrame;
use tungstenite::Message;

use super::{Link, Session};
use crate::transport::raw_link;
use crate::transport::stream::Stream;
use crate::{Inbound, Instant};

/// Frames read in one pass before writing gets its turn.
const READ_FRAMES: usize = 256;
/// Bytes read from the socket in one pass before writing gets its turn
/// (counted where the stream counts them, not per message).
const READ_BYTES: u64 = 1 << 20;

/// A read pass in progress on the open link: what it has read so far.
#[derive(Debug)]
pub(super) struct ReadPass {
    frames: usize,
    data: bool,
    control: bool,
    /// The socket's byte count when the pass began.
    received_before: u64,
}

/// What the next read of a pass brought.
pub(super) enum Read {
    /// A message for the caller, nothing queued before it.
    Message(Message),
    /// Something went to the ready queue (an event, or a message behind one).
    Queued,
    /// The pass ended and its bookkeeping is done.
    Ended,
    /// No pass was open.
    Idle,
}

impl Session {
    /// Opens a read pass on the open link unless one is open; whether one
    /// is open now.
    pub(super) fn open_read_pass(&mut self) -> bool {
        let Link::Open(open) = &mut self.link else {
            return false;
        };
        if open.pass.is_none() {
            open.pass = Some(ReadPass {
                frames: 0,
                data: false,
                control: false,
                received_before: open.ws.get_ref().received(),
            });
        }
        true
    }

    /// Whether reading waits for the caller: paused, or (hosted) the
    /// caller's budget is full. A session the caller drives itself reads
    /// only when polled, so its budget never fills.
    pub(super) fn reading_held_back(&self) -> bool {
        self.reading_paused || (self.hosted && !self.shared.budget.has_room())
    }

    /// Reads the open pass whole into the ready queue.
    pub(super) fn read(&mut self) {
        loop {
            match self.read_next() {
                Read::Message(message) => self.ready.push_message(message),
                Read::Queued => {}
                Read::Ended | Read::Idle => return,
            }
        }
    }

    /// Continues the open pass up to the next message: bounded in frames and
    /// bytes so that a flood of any kind (pings included) gives writing its
    /// turn; only while the caller has room (hosted: messages go to an
    /// I/O thread's client and take room in the budget until its caller
    /// takes them), so a slow caller makes TCP push back on the server.
    #[inline(always)]
    pub(super) fn read_next(&mut self) -> Read {
        let Link::Open(open) = &mut self.link else {
            return Read::Idle;
        };
        let Some(pass) = &mut open.pass else {
            return Read::Idle;
        };
        while open.readable
            && pass.frames < READ_FRAMES
            && open.ws.get_ref().received().wrapping_sub(pass.received_before) < READ_BYTES
            && !self.reading_paused
        {
            if self.hosted && !self.shared.budget.has_room() && !self.shared.budget.starve() {
                break;
            }
            match raw_link::read_message(&mut open.ws, Stream::next_message) {
                Ok(Some(message @ (Message::Text(_) | Message::Binary(_)))) => {
                    pass.frames += 1;
                    pass.data = true;
                    if self.hosted {
                        // Counted at once: the client's caller may take it
                        // (and free its room) before this pass ends.
                        self.shared.budget.add(message.len());
                    }
                    if let Some(id) = self.acks.as_ref().and_then(|acks| acks.acknowledged_id(&message)) {
                        self.pending_acks.push((id, open.number));
                    }
                    if let Some(kind) = self.sequence.as_mut().and_then(|check| check.check(&message)) {
                        // The event goes first: it explains the message after it.
                        self.ready.push_event(self.shared.event(kind, None));
                        self.ready.push_message(message);
                        return Read::Queued;
                    }
                    return Read::Message(message);
                }
                Ok(Some(Message::Close(frame))) => {
                    let now = self.now();
                    self.close_received(now, frame);
                    return Read::Ended;
                }
                Ok(Some(_)) => {
                    // A ping (its pong is queued), a pong, a raw frame.
                    pass.frames += 1;
                    pass.control = true;
                }
                Ok(None) => open.readable = false,
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    open.readable = false;
                }
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let now = self.now();
                    self.read_failed(now, e);
                    return Read::Ended;
                }
            }
        }
        self.end_read_pass();
        Read::Ended
    }

    /// Ends the pass: what it read tells the supervisor the link lives,
    /// acknowledgements apply, and the pongs tungstenite queued go out.
    fn end_read_pass(&mut self) {
        let now = self.now();
        let Link::Open(open) = &mut self.link else {
            return;
        };
        let Some(pass) = open.pass.take() else {
            return;
        };
        let unread = open.readable;
        let received = open.ws.get_ref().received() != pass.received_before;
        // Data that waits because the caller is slow is still data: neither
        // the pong nor the idle deadline may blame the server for it.
        if pass.data || (self.reading_held_back() && unread) {
            self.sup.handle_inbound(now, Inbound::Data);
        } else if pass.control || received {
            // Part of a large message arriving slowly proves the link alive.
            self.sup.handle_inbound(now, Inbound::Control);
        }
        self.apply_acknowledgements();
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
        if self.reading_held_back() && open.readable {
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
        let error = raw_link::closed_by_server(open.ws.get_ref().server_close(), frame);
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
            other => {
                let sent = match &self.link {
                    Link::Open(open) => open.ws.get_ref().server_close(),
                    _ => None,
                };
                self.lost(now, raw_link::read_error(sent, other))
            }
        }
    }
}

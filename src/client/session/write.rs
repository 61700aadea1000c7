//! Writing: subscriptions first on every link, then what must go again, then
//! the queue — in bounded batches, with each message followed until its last
//! byte is in the kernel.
//!
//! A message is the caller's until then: if the link dies first it is sent
//! again on the next link (the server cannot have read a frame that never
//! fully left), and at the end it is handed back. With acknowledgements, a
//! written message stays the caller's until the server confirms it.

use std::collections::VecDeque;
use std::time::Instant as StdInstant;
use std::vec::Vec;

use tungstenite::protocol::WebSocket;
use tungstenite::Message;

use super::{Link, Session};
use crate::client::acks::Unacknowledged;
use crate::client::delivery::{Fate, Reason, Undelivered};
use crate::client::event::EventKind;
use crate::client::outbox::{Meta, Outgoing};
use crate::client::shared::Shared;
use crate::transport::stream::Stream;
use crate::transport::TransportError;
use crate::Instant;

/// Messages written in one turn before reading gets its turn.
const WRITE_BATCH: usize = 256;

/// What waits to be written on a link, and what was written but is not yet
/// known to be in the kernel (or acknowledged).
#[derive(Debug, Default)]
pub(super) struct Writer {
    /// Sent first on a new link, and never handed back: subscriptions and
    /// what the on-link hook computed.
    opening: VecDeque<Message>,
    /// Accepted messages that must go before the queue: taken from it, or
    /// left over from a link that died.
    pending: VecDeque<Outgoing>,
    /// Written to the link's stream; `end` is the stream position after the
    /// message's last byte.
    in_flight: VecDeque<(u64, Outgoing)>,
    /// In the kernel, waiting for the server's acknowledgement.
    unacknowledged: Unacknowledged,
    /// Bytes [`Session::send`] queued since it last tried the socket.
    queued_untried: usize,
}

/// How many messages, and their bytes.
pub(super) fn count_and_bytes<'a>(messages: impl IntoIterator<Item = &'a Outgoing>) -> (usize, usize) {
    messages
        .into_iter()
        .fold((0, 0), |(n, bytes), o| (n + 1, bytes + o.message.len()))
}

/// A data message's payload and whether it is text; `None` for control
/// messages.
fn data_payload(message: &Message) -> Option<(bool, &[u8])> {
    match message {
        Message::Text(text) => Some((true, text.as_bytes())),
        Message::Binary(data) => Some((false, data)),
        _ => None,
    }
}

/// Queues `message` on the link — data as the client's own frame, anything
/// else through tungstenite — and returns the stream position after it.
fn queue_message(ws: &mut WebSocket<Stream>, message: &Message) -> Result<u64, tungstenite::Error> {
    match data_payload(message) {
        Some((text, payload)) => Ok(ws.get_mut().write_data(text, payload)),
        None => {
            ws.write(message.clone())?;
            Ok(ws.get_ref().queued())
        }
    }
}

impl Writer {
    /// Accepted messages the writer holds (not counting `opening`).
    pub(super) fn pending(&self) -> usize {
        self.pending.len() + self.in_flight.len() + self.unacknowledged.len()
    }

    /// Nothing accepted is held: all written (and acknowledged) or handed back.
    pub(super) fn is_empty(&self) -> bool {
        self.pending() == 0
    }

    /// Whether a turn could write something now. With the acknowledgement
    /// window full, a message that needs an acknowledgement waits for one
    /// (and what is queued behind it), so it is no work: counting it made
    /// the session turn without pause until the server acknowledged.
    pub(super) fn has_work(&self, shared: &Shared, window: usize) -> bool {
        if !self.opening.is_empty() {
            return true;
        }
        let window_full = self.unacknowledged.len() + self.in_flight.len() >= window;
        match self.pending.front() {
            Some(next) => !window_full || next.meta.ack_id.is_none(),
            None => {
                let outbox = shared.outbox.lock();
                outbox.has_fresh_subscriptions() || (!window_full && !outbox.is_empty())
            }
        }
    }

    /// When the earliest message the writer holds unsent expires.
    pub(super) fn next_expiry(&self) -> Option<StdInstant> {
        self.pending.iter().filter_map(|o| o.meta.expires).min()
    }

    /// A new link: what it starts with.
    pub(super) fn link_opened(&mut self, opening: VecDeque<Message>) {
        self.opening = opening;
    }

    /// The link died: what it had not put in the kernel goes again on the
    /// next link, after what waited for an acknowledgement — in the order
    /// first written.
    pub(super) fn link_lost(&mut self) {
        self.opening.clear();
        let unconfirmed = self.in_flight.drain(..).map(|(_, outgoing)| outgoing);
        let mut again: VecDeque<Outgoing> = self.unacknowledged.take_all().chain(unconfirmed).collect();
        again.append(&mut self.pending);
        self.pending = again;
    }

    /// Everything held, for handing back at the end: written messages still
    /// waiting for an acknowledgement, then what was never fully written.
    pub(super) fn take_all(&mut self) -> Vec<(Outgoing, Reason)> {
        self.opening.clear();
        let unacknowledged = self.unacknowledged.take_all().map(|o| (o, Reason::Unacknowledged));
        let mut all: Vec<(Outgoing, Reason)> = unacknowledged.collect();
        all.extend(self.in_flight.drain(..).map(|(_, o)| (o, Reason::NotSent)));
        all.extend(self.pending.drain(..).map(|o| (o, Reason::NotSent)));
        all
    }

    /// Takes out what expired unsent by `now`.
    pub(super) fn take_expired(&mut self, now: StdInstant, into: &mut Vec<Outgoing>) {
        if self.pending.iter().all(|o| o.meta.expires.is_none_or(|at| at > now)) {
            return;
        }
        let (expired, kept): (VecDeque<_>, VecDeque<_>) = self
            .pending
            .drain(..)
            .partition(|o| o.meta.expires.is_some_and(|at| at <= now));
        self.pending = kept;
        into.extend(expired);
    }
}

impl Session {
    /// Writes a plain send straight to the open link when nothing waits
    /// before it — the path of a steady stream of sends, without a trip
    /// through the queue; otherwise hands the message back for the queue.
    /// The bytes go to the kernel on the next turn, as queued ones do.
    pub(super) fn write_now(&mut self, message: Message) -> Result<(), Message> {
        let Some((text, payload)) = data_payload(&message) else {
            return Err(message);
        };
        let limit = self.settings.dialer.limits.write_buffer_size as u64;
        let plain = self.acks.is_none() && !self.shared.has_default_ttl() && self.closing.is_open();
        let nothing_before = self.writer.opening.is_empty() && self.writer.pending.is_empty();
        if !plain || !nothing_before {
            return Err(message);
        }
        if matches!(&self.link, Link::Open(open) if open.ws.get_ref().unsent() >= limit) {
            // The write buffer is full: to the kernel with it, as a raw
            // tungstenite write would do, rather than queueing.
            let now = self.now();
            self.send_out(now);
        }
        let Link::Open(open) = &mut self.link else {
            return Err(message);
        };
        if open.ws.get_ref().unsent() >= limit {
            return Err(message);
        }
        if !self.shared.outbox.lock().hold_direct(message.len()) {
            return Err(message);
        }
        let end = open.ws.get_mut().write_data(text, payload);
        self.writer.in_flight.push_back((
            end,
            Outgoing {
                message,
                meta: Meta::default(),
            },
        ));
        // No wake-up through the fd: only this session's owner sends here,
        // and `timeout()` is zero while written bytes wait for the kernel
        // (an atomic swap per message cost a tenth of a 64-byte send).
        Ok(())
    }

    /// After [`Session::send`] queued `bytes` (the socket was full, or
    /// something waited before them): once a write buffer's worth is
    /// queued, tries the socket again without waiting for a turn. A caller
    /// that sends faster than the server reads fills the queue between
    /// turns; without this the kernel's buffer ran dry meanwhile and the
    /// server waited. One system call per write buffer, even when the
    /// socket is still full.
    pub(super) fn queued_by_send(&mut self, bytes: usize) {
        self.writer.queued_untried += bytes;
        if self.writer.queued_untried < self.settings.dialer.limits.write_buffer_size {
            return;
        }
        self.writer.queued_untried = 0;
        let Link::Open(open) = &mut self.link else {
            return;
        };
        // Whether or not the writable edge came: a full socket answers
        // "would block" and the edge is armed again. Should it take
        // everything, sends from other threads must wake the session again.
        open.writable = true;
        self.shared.awake();
        let now = self.now();
        self.write(now);
    }

    /// Writes what waits, as far as the socket and the batch allow, then
    /// moves written bytes to the kernel and settles what got there.
    pub(super) fn write(&mut self, now: Instant) {
        let Link::Open(open) = &mut self.link else {
            return;
        };
        let limit = self.settings.dialer.limits.write_buffer_size as u64;
        let window = self.acks.as_ref().map_or(usize::MAX, |acks| acks.window);
        let may_write = !self.closing.frame_sent();
        let expired_now = StdInstant::now();
        let mut written = 0;
        let mut expired = Vec::new();
        let mut failed = None;
        while may_write && written < WRITE_BATCH && open.ws.get_ref().unsent() < limit {
            let w = &mut self.writer;
            if let Some(message) = w.opening.pop_front() {
                if let Err(e) = queue_message(&mut open.ws, &message) {
                    failed = Some(e);
                    break;
                }
                written += 1;
                continue;
            }
            if w.pending.is_empty() {
                // Fresh subscriptions first, then a batch, under one lock.
                let mut outbox = self.shared.outbox.lock();
                if let Some(message) = outbox.pop_fresh_subscription() {
                    drop(outbox);
                    if let Err(e) = queue_message(&mut open.ws, &message) {
                        failed = Some(e);
                        break;
                    }
                    written += 1;
                    continue;
                }
                outbox.take_batch(WRITE_BATCH - written, &mut w.pending);
            }
            let Some(outgoing) = w.pending.pop_front() else {
                break;
            };
            if outgoing.meta.expires.is_some_and(|at| at <= expired_now) {
                expired.push(outgoing);
                continue;
            }
            if outgoing.meta.ack_id.is_some() && w.unacknowledged.len() + w.in_flight.len() >= window {
                // The window is full: wait for acknowledgements.
                w.pending.push_front(outgoing);
                break;
            }
            let end = match queue_message(&mut open.ws, &outgoing.message) {
                Ok(end) => end,
                Err(e) => {
                    w.pending.push_front(outgoing);
                    failed = Some(e);
                    break;
                }
            };
            // Taken by a link, it is no longer "never sent": its
            // time-to-live no longer applies, on this link or the next.
            let mut outgoing = outgoing;
            outgoing.meta.expires = None;
            w.in_flight.push_back((end, outgoing));
            written += 1;
        }
        // Taking a batch frees no room (what the session holds counts against
        // the queue's bounds): senders are woken when messages settle.
        let (count, bytes) = count_and_bytes(&expired);
        self.hand_back_expired(expired);
        self.settled(count, bytes);
        if let Some(e) = failed {
            return self.lost(now, TransportError::from_websocket(e));
        }
        self.send_out(now);
    }

    /// Moves queued bytes to the kernel and settles the messages whose last
    /// byte got there.
    pub(super) fn send_out(&mut self, now: Instant) {
        let Link::Open(open) = &mut self.link else {
            return;
        };
        let stream = open.ws.get_mut();
        if !open.writable && stream.has_output() {
            return;
        }
        let result = stream.send();
        if stream.has_output() {
            // The socket is full; its next writable edge wakes us.
            open.writable = false;
        }
        // What reached the kernel before a write failed is settled first:
        // sending it again would repeat it.
        let sent = stream.sent();
        let link = open.number;
        let (mut confirmed, mut confirmed_bytes) = (0, 0);
        while self.writer.in_flight.front().is_some_and(|(end, _)| *end <= sent) {
            let Some((_, outgoing)) = self.writer.in_flight.pop_front() else {
                break;
            };
            if let Some(settle) = &outgoing.meta.settle {
                settle.settle(Fate::Written { link });
            }
            match outgoing.meta.ack_id {
                Some(id) => self.writer.unacknowledged.push(id, outgoing),
                None => {
                    confirmed += 1;
                    confirmed_bytes += outgoing.message.len();
                }
            }
        }
        self.settled(confirmed, confirmed_bytes);
        if let Err(e) = result {
            self.lost(now, TransportError::from_io(e, true));
        }
    }

    /// The server acknowledged `id`.
    pub(super) fn acknowledged(&mut self, id: u64, link: u64) {
        if let Some(outgoing) = self.writer.unacknowledged.acknowledge(id) {
            if let Some(settle) = &outgoing.meta.settle {
                settle.settle(Fate::Acknowledged { link });
            }
            self.settled(1, outgoing.message.len());
        }
    }

    /// Hands back what passed its time-to-live unsent, wherever it waits.
    pub(super) fn expire(&mut self, _now: Instant) {
        let now = StdInstant::now();
        let mut held = Vec::new();
        self.writer.take_expired(now, &mut held);
        let mut queued = Vec::new();
        self.shared.outbox.lock().take_expired(now, &mut queued);
        let (count, bytes) = count_and_bytes(&held);
        held.append(&mut queued);
        self.hand_back_expired(held);
        self.settled(count, bytes);
    }

    /// Hands back messages that expired on their way out, and counts them
    /// as settled when the session held them.
    fn hand_back_expired(&mut self, expired: Vec<Outgoing>) {
        if expired.is_empty() {
            return;
        }
        let count = expired.len();
        for outgoing in expired {
            self.hand_back(outgoing, Reason::Expired);
        }
        // Expired in the queue they were never held, so `settled` does not
        // signal for them: the queue may have drained here.
        self.shared.outbox.notify_space();
        self.shared.outbox.notify_drained();
        self.report(EventKind::Expired { count }, None);
    }

    /// `n` messages of `bytes` the session held were delivered or handed
    /// back: callers waiting for the drain may look again, and so may
    /// senders waiting for room once half the queue is free. Waking a
    /// blocked sender for every message that settles cost two context
    /// switches per message on a link the caller fills faster than it
    /// drains; with room for half, the sender queues a run of messages per
    /// wake-up. The end of every turn that does not wait for the socket
    /// wakes them too (see [`Session::end_turn`]), so room that frees on an
    /// idle link is not left unused.
    pub(super) fn settled(&mut self, n: usize, bytes: usize) {
        if n == 0 {
            return;
        }
        let mut outbox = self.shared.outbox.lock();
        outbox.settled(n, bytes);
        let half_free = outbox.is_half_free();
        drop(outbox);
        if half_free {
            self.shared.outbox.notify_space();
        }
        self.shared.outbox.notify_drained();
    }

    /// Whether a turn could write something now.
    pub(super) fn has_write_work(&self) -> bool {
        let window = self.acks.as_ref().map_or(usize::MAX, |acks| acks.window);
        self.writer.has_work(&self.shared, window)
    }

    /// The turn is over. Waiting for a full socket, the session need not be
    /// woken for more to write, and what it holds settles once the socket
    /// takes it. With more to write at once, the next turn settles more.
    /// Otherwise nothing may settle for a while (no link, or only an
    /// acknowledgement to wait for): senders waiting for room take whatever
    /// settled now.
    pub(super) fn end_turn(&mut self) {
        let (waiting_for_socket, writing_on) = match &self.link {
            Link::Open(open) => {
                let unsent = open.ws.get_ref().has_output();
                (
                    !open.writable && unsent,
                    open.writable && (unsent || self.has_write_work()),
                )
            }
            _ => (false, false),
        };
        if waiting_for_socket {
            self.shared.waiting_for_socket();
        } else if !writing_on {
            self.shared.outbox.notify_space();
        }
    }

    /// Gives a message back to the caller with the reason.
    pub(super) fn hand_back(&mut self, outgoing: Outgoing, reason: Reason) {
        if let Some(settle) = &outgoing.meta.settle {
            settle.settle(Fate::HandedBack(reason));
        }
        self.undelivered.push(Undelivered {
            message: outgoing.message,
            reason,
        });
    }
}

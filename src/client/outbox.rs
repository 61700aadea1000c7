//! What waits to be written: subscriptions (state, replayed on every link)
//! and the queue of messages `send` accepted, bounded in messages and bytes.
//! Shared between the caller's threads and the thread that drives the link.

use core::time::Duration;
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant as StdInstant;
use std::vec::Vec;

use tungstenite::Message;

use super::delivery::Settle;
use super::error::SendError;
use super::signal::Signal;

/// Identifies a subscription, for [`super::Client::unsubscribe`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionId(u64);

/// What travels with a queued message.
#[derive(Debug, Default)]
pub(crate) struct Meta {
    /// Not written to a socket by then: handed back as expired.
    pub(crate) expires: Option<StdInstant>,
    /// Told the message's fate.
    pub(crate) settle: Option<Settle>,
    /// The id the server acknowledges (acknowledgement mode).
    pub(crate) ack_id: Option<u64>,
}

/// A message accepted by `send`, until it is delivered or handed back.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) message: Message,
    pub(crate) meta: Meta,
}

/// The bytes a message counts for in the queue's budget.
pub(crate) fn size(message: &Message) -> usize {
    message.len()
}

#[derive(Debug)]
pub(crate) struct Outbox {
    queue: VecDeque<Outgoing>,
    bytes: usize,
    capacity: usize,
    byte_capacity: usize,
    subscriptions: Vec<(SubscriptionId, Message)>,
    next_id: u64,
    /// Subscriptions added while a link is open, still to be sent on it.
    fresh_subscriptions: VecDeque<(SubscriptionId, Message)>,
    /// A link took its replay and is open. Kept here, under the lock, so a
    /// subscription added from another thread goes either into that replay
    /// or into the fresh list, never into neither.
    link_open: bool,
    /// No more sends: the client is closing or finished.
    closed: bool,
    /// No queued message expires before this (a lower bound, made exact
    /// when the queue is scanned).
    next_expiry: Option<StdInstant>,
    /// Messages taken from the queue that the session still holds (not yet
    /// in the kernel, or awaiting an acknowledgement), and their bytes:
    /// counted here, under the same lock, so that they count against the
    /// queue's bounds and "drained" is never seen between the two.
    held: usize,
    held_bytes: usize,
}

/// The outbox behind a lock, with conditions for blocked senders and for
/// callers waiting for the queue to drain.
#[derive(Debug)]
pub(crate) struct SharedOutbox {
    outbox: Mutex<Outbox>,
    space: Signal,
    drained: Signal,
}

impl SharedOutbox {
    pub(crate) fn new(capacity: usize, byte_capacity: usize, subscriptions: Vec<Message>) -> SharedOutbox {
        let count = subscriptions.len() as u64;
        SharedOutbox {
            outbox: Mutex::new(Outbox {
                // Grows with use: an idle client should not pay for its capacity.
                queue: VecDeque::new(),
                bytes: 0,
                capacity,
                byte_capacity,
                subscriptions: subscriptions
                    .into_iter()
                    .enumerate()
                    .map(|(i, m)| (SubscriptionId(i as u64), m))
                    .collect(),
                next_id: count,
                fresh_subscriptions: VecDeque::new(),
                link_open: false,
                closed: false,
                next_expiry: None,
                held: 0,
                held_bytes: 0,
            }),
            space: Signal::new(),
            drained: Signal::new(),
        }
    }

    /// The lock, even if a thread panicked while holding it: the outbox is
    /// plain data, always consistent between operations.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `outgoing`, waiting for space until `deadline` (`None`: not at
    /// all).
    pub(crate) fn push(&self, mut outgoing: Outgoing, deadline: Option<StdInstant>) -> Result<(), SendError> {
        let mut outbox = self.lock();
        loop {
            outgoing = match outbox.push(outgoing) {
                Ok(()) => return Ok(()),
                Err((Refusal::Closed, back)) => return Err(SendError::Closed(back.message)),
                Err((Refusal::Full, back)) => back,
            };
            let left = deadline.map_or(Duration::ZERO, |d| d.saturating_duration_since(StdInstant::now()));
            if left.is_zero() {
                return Err(SendError::Full(outgoing.message));
            }
            outbox = self.space.wait_timeout(outbox, left);
        }
    }

    /// Wakes senders blocked on a full queue.
    pub(crate) fn notify_space(&self) {
        self.space.notify_all();
    }

    /// Tells callers waiting for the queue to drain that it did (or that
    /// the session ended).
    pub(crate) fn notify_drained(&self) {
        self.drained.notify_all();
    }

    /// Waits until `done` holds for the outbox or `deadline` passes; `done`
    /// is checked whenever the session signals progress.
    pub(crate) fn wait_until(&self, deadline: StdInstant, mut done: impl FnMut(&Outbox) -> bool) -> bool {
        let mut outbox = self.lock();
        loop {
            if done(&outbox) {
                return true;
            }
            let left = deadline.saturating_duration_since(StdInstant::now());
            if left.is_zero() {
                return false;
            }
            outbox = self.drained.wait_timeout(outbox, left);
        }
    }
}

/// Why the queue did not take a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    Full,
    Closed,
}

impl Outbox {
    /// Whether one more message of `bytes` fits the bounds. What the session
    /// holds counts too: taking messages for the link must not make room for
    /// more than the bounds allow. A message larger than the byte budget
    /// still fits when nothing else is accepted; otherwise it could never be
    /// sent.
    fn has_room_for(&self, bytes: usize) -> bool {
        let count = self.queue.len() + self.held;
        let accepted_bytes = self.bytes + self.held_bytes;
        let over_bytes = count > 0 && accepted_bytes.saturating_add(bytes) > self.byte_capacity;
        count < self.capacity && !over_bytes
    }

    /// Whether at most half of each bound is taken.
    pub(crate) fn is_half_free(&self) -> bool {
        let count = self.queue.len() + self.held;
        let bytes = self.bytes + self.held_bytes;
        count <= self.capacity / 2 && bytes <= self.byte_capacity / 2
    }

    /// Queues `outgoing`, or hands it back with the reason.
    fn push(&mut self, outgoing: Outgoing) -> Result<(), (Refusal, Outgoing)> {
        if self.closed {
            return Err((Refusal::Closed, outgoing));
        }
        let bytes = size(&outgoing.message);
        if !self.has_room_for(bytes) {
            return Err((Refusal::Full, outgoing));
        }
        self.bytes += bytes;
        if let Some(at) = outgoing.meta.expires {
            self.next_expiry = Some(self.next_expiry.map_or(at, |t| t.min(at)));
        }
        self.queue.push_back(outgoing);
        Ok(())
    }

    /// When the earliest queued message expires, if any may.
    pub(crate) fn next_expiry(&self) -> Option<StdInstant> {
        self.next_expiry
    }

    /// Takes out every queued message expired at `now`, in order.
    pub(crate) fn take_expired(&mut self, now: StdInstant, into: &mut Vec<Outgoing>) {
        if self.next_expiry.is_none_or(|at| at > now) {
            return;
        }
        let mut kept = VecDeque::with_capacity(self.queue.len());
        let mut next = None::<StdInstant>;
        for outgoing in self.queue.drain(..) {
            match outgoing.meta.expires {
                Some(at) if at <= now => {
                    self.bytes -= size(&outgoing.message);
                    into.push(outgoing);
                }
                expires => {
                    if let Some(at) = expires {
                        next = Some(next.map_or(at, |t| t.min(at)));
                    }
                    kept.push_back(outgoing);
                }
            }
        }
        self.queue = kept;
        self.next_expiry = next;
    }

    pub(crate) fn subscribe(&mut self, message: Message) -> SubscriptionId {
        let id = SubscriptionId(self.next_id);
        self.next_id += 1;
        if self.link_open {
            self.fresh_subscriptions.push_back((id, message.clone()));
        }
        self.subscriptions.push((id, message));
        id
    }

    pub(crate) fn unsubscribe(&mut self, id: SubscriptionId) -> Option<Message> {
        self.fresh_subscriptions.retain(|(sid, _)| *sid != id);
        let index = self.subscriptions.iter().position(|(sid, _)| *sid == id)?;
        Some(self.subscriptions.remove(index).1)
    }

    /// The subscriptions, in replay order, with their ids.
    pub(crate) fn subscriptions(&self) -> Vec<(SubscriptionId, Message)> {
        self.subscriptions.clone()
    }

    /// Every subscription, in order, for a new link.
    pub(crate) fn replay(&mut self) -> VecDeque<Message> {
        self.link_open = true;
        self.fresh_subscriptions.clear();
        self.subscriptions.iter().map(|(_, m)| m.clone()).collect()
    }

    /// The link is gone: later subscriptions wait for the next replay.
    pub(crate) fn link_closed(&mut self) {
        self.link_open = false;
    }

    /// Subscriptions added while the link is open wait to be sent.
    pub(crate) fn has_fresh_subscriptions(&self) -> bool {
        !self.fresh_subscriptions.is_empty()
    }

    pub(crate) fn pop_fresh_subscription(&mut self) -> Option<Message> {
        self.fresh_subscriptions.pop_front().map(|(_, m)| m)
    }

    /// Moves up to `max` queued messages, oldest first, to the back of `into`.
    pub(crate) fn take_batch(&mut self, max: usize, into: &mut VecDeque<Outgoing>) {
        let n = max.min(self.queue.len());
        self.held += n;
        for outgoing in self.queue.drain(..n) {
            let bytes = size(&outgoing.message);
            self.bytes -= bytes;
            self.held_bytes += bytes;
            into.push_back(outgoing);
        }
    }

    /// `n` messages of `bytes` the session held were delivered or handed
    /// back.
    pub(crate) fn settled(&mut self, n: usize, bytes: usize) {
        self.held = self.held.saturating_sub(n);
        self.held_bytes = self.held_bytes.saturating_sub(bytes);
    }

    /// Everything accepted was delivered or handed back.
    pub(crate) fn is_drained(&self) -> bool {
        self.is_empty() && self.held == 0
    }

    /// Counts a message the session writes straight to its link past an
    /// empty queue as held, within the bounds [`Outbox::push`] keeps;
    /// `false` when it must queue instead (something is queued, the queue
    /// is closed or full).
    pub(crate) fn hold_direct(&mut self, bytes: usize) -> bool {
        if self.closed || !self.is_empty() || !self.has_room_for(bytes) {
            return false;
        }
        self.held += 1;
        self.held_bytes += bytes;
        true
    }

    /// Nothing queued: no message, no fresh subscription.
    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty() && self.fresh_subscriptions.is_empty()
    }

    /// Accepted messages not yet written to the kernel (or acknowledged):
    /// queued, or held by the session.
    pub(crate) fn pending(&self) -> usize {
        self.queue.len() + self.held
    }

    pub(crate) fn close(&mut self) {
        self.closed = true;
    }

    /// Everything still queued, for handing back.
    pub(crate) fn take_all(&mut self) -> VecDeque<Outgoing> {
        self.bytes = 0;
        self.next_expiry = None;
        core::mem::take(&mut self.queue)
    }
}

//! What waits to be written: subscriptions (state, replayed on every link)
//! and the bounded queue of messages `send` accepted. Shared between the
//! caller's threads and the thread that owns the socket.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant as StdInstant;
use std::vec::Vec;

use tungstenite::Message;

use super::error::SendError;

/// Identifies a subscription, for [`super::Client::unsubscribe`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionId(u64);

#[derive(Debug)]
pub(crate) struct Outbox {
    queue: VecDeque<Message>,
    capacity: usize,
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
}

/// The outbox behind a lock, with a condition for blocked senders.
#[derive(Debug)]
pub(crate) struct SharedOutbox {
    outbox: Mutex<Outbox>,
    space: Condvar,
}

impl SharedOutbox {
    pub(crate) fn new(capacity: usize, subscriptions: Vec<Message>) -> SharedOutbox {
        let count = subscriptions.len() as u64;
        SharedOutbox {
            outbox: Mutex::new(Outbox {
                // Grows with use: an idle client should not pay for its capacity.
                queue: VecDeque::new(),
                capacity,
                subscriptions: subscriptions
                    .into_iter()
                    .enumerate()
                    .map(|(i, m)| (SubscriptionId(i as u64), m))
                    .collect(),
                next_id: count,
                fresh_subscriptions: VecDeque::new(),
                link_open: false,
                closed: false,
            }),
            space: Condvar::new(),
        }
    }

    /// The lock, even if a thread panicked while holding it: the outbox is
    /// plain data, always consistent between operations.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Outbox> {
        self.outbox.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `message`, or hands it back at once.
    pub(crate) fn try_push(&self, message: Message) -> Result<(), SendError> {
        let mut outbox = self.lock();
        outbox.push(message)
    }

    /// Queues `message`, waiting for space until `deadline`.
    pub(crate) fn push_until(&self, mut message: Message, deadline: StdInstant) -> Result<(), SendError> {
        let mut outbox = self.lock();
        loop {
            match outbox.push(message) {
                Err(SendError::Full(back)) => message = back,
                other => return other,
            }
            let left = deadline.saturating_duration_since(StdInstant::now());
            if left.is_zero() {
                return Err(SendError::Full(message));
            }
            outbox = self
                .space
                .wait_timeout(outbox, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// Wakes senders blocked on a full queue.
    pub(crate) fn notify_space(&self) {
        self.space.notify_all();
    }
}

impl Outbox {
    fn push(&mut self, message: Message) -> Result<(), SendError> {
        if self.closed {
            return Err(SendError::Closed(message));
        }
        if self.queue.len() >= self.capacity {
            return Err(SendError::Full(message));
        }
        self.queue.push_back(message);
        Ok(())
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

    /// Every subscription, in order, for a new link.
    pub(crate) fn replay(&mut self) -> Vec<Message> {
        self.link_open = true;
        self.fresh_subscriptions.clear();
        self.subscriptions.iter().map(|(_, m)| m.clone()).collect()
    }

    /// The link is gone: later subscriptions wait for the next replay.
    pub(crate) fn link_closed(&mut self) {
        self.link_open = false;
    }

    pub(crate) fn pop_fresh_subscription(&mut self) -> Option<Message> {
        self.fresh_subscriptions.pop_front().map(|(_, m)| m)
    }

    /// Moves up to `max` queued messages, oldest first, to the back of `into`.
    pub(crate) fn take_batch(&mut self, max: usize, into: &mut VecDeque<Message>) {
        let n = max.min(self.queue.len());
        into.extend(self.queue.drain(..n));
    }

    /// Puts messages that were in flight on a dead link back in front, in order.
    /// They may push the queue past its capacity for a moment; nothing is lost.
    pub(crate) fn requeue_front(&mut self, messages: Vec<Message>) {
        for message in messages.into_iter().rev() {
            self.queue.push_front(message);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queue.is_empty() && self.fresh_subscriptions.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    pub(crate) fn close(&mut self) {
        self.closed = true;
    }

    /// Everything still queued, for handing back.
    pub(crate) fn take_all(&mut self) -> Vec<Message> {
        self.queue.drain(..).collect()
    }
}

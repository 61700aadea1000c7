//! The client's events, readable from any thread.

use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;
use std::sync::mpsc::{RecvError, RecvTimeoutError, TryRecvError};
use std::sync::Arc;

use super::bounded::{Bounded, Take};
use super::event::ClientEvent;

/// Where a [`super::Client`]'s events arrive. Its methods mirror
/// `std::sync::mpsc::Receiver`, but any number of threads may use it.
///
/// It holds at most the builder's `event_capacity` unread events; newer ones
/// are dropped and counted ([`Events::dropped`]) rather than slowing the
/// link. The end of the session is never lost: [`super::Client::ending`].
#[derive(Debug)]
pub struct Events {
    queue: Arc<Bounded<ClientEvent>>,
    dropped: Arc<AtomicU64>,
}

impl Events {
    pub(crate) fn new(queue: Arc<Bounded<ClientEvent>>, dropped: Arc<AtomicU64>) -> Events {
        Events { queue, dropped }
    }

    /// The next event, waiting for it; `Err` once the client has ended and
    /// every event was taken.
    pub fn recv(&self) -> Result<ClientEvent, RecvError> {
        match self.queue.take(None) {
            Take::Item(event) => Ok(event),
            Take::TimedOut | Take::Closed => Err(RecvError),
        }
    }

    /// The next event, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<ClientEvent, RecvTimeoutError> {
        match self.queue.take_timeout(timeout) {
            Take::Item(event) => Ok(event),
            Take::TimedOut => Err(RecvTimeoutError::Timeout),
            Take::Closed => Err(RecvTimeoutError::Disconnected),
        }
    }

    /// The next event if one is waiting.
    pub fn try_recv(&self) -> Result<ClientEvent, TryRecvError> {
        match self.queue.take_timeout(Duration::ZERO) {
            Take::Item(event) => Ok(event),
            Take::TimedOut => Err(TryRecvError::Empty),
            Take::Closed => Err(TryRecvError::Disconnected),
        }
    }

    /// The events waiting now, without blocking.
    pub fn try_iter(&self) -> impl Iterator<Item = ClientEvent> + '_ {
        core::iter::from_fn(|| self.try_recv().ok())
    }

    /// Events as they arrive, until the client ends.
    pub fn iter(&self) -> impl Iterator<Item = ClientEvent> + '_ {
        core::iter::from_fn(|| self.recv().ok())
    }

    /// Events dropped because this queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

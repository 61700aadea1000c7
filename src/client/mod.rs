//! The thread client: one I/O thread keeps one WebSocket alive; any thread
//! sends, receives, watches events and closes.
//!
//! The I/O thread owns the socket (tungstenite cannot be split between a
//! reading and a writing thread) and sleeps until the socket is ready, a
//! message is queued or the supervisor's next deadline, so an idle client
//! costs almost nothing.

mod bounded;
mod builder;
mod error;
mod events;
mod outbox;
mod sequence_check;
mod session;

use core::sync::atomic::Ordering;
use core::time::Duration;
use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Instant as StdInstant;
use std::vec::Vec;

use tungstenite::Message;

use bounded::{Bounded, Take};
pub use builder::ClientBuilder;
pub use error::{BuildError, Finished, SendError};
pub use events::Events;
pub use outbox::SubscriptionId;
use session::Shared;
pub use session::{ClientEvent, Incoming, Session};

use crate::event::State;
use crate::stats::Snapshot;

/// A WebSocket kept alive on its own thread. Build one with [`ClientBuilder`].
///
/// Every message [`Client::send`] accepts is either written to a socket, in
/// order, or handed back by [`Client::close`]. Dropping the client closes it
/// (waiting at most the close timeout) and discards what was undelivered.
#[derive(Debug)]
pub struct Client {
    shared: Arc<Shared>,
    inbound: Arc<Bounded<Message>>,
    events: Events,
    thread: Option<JoinHandle<()>>,
    /// Told when the I/O thread has finished; behind a lock only so that the
    /// client can be shared between threads.
    done: Mutex<Receiver<()>>,
    undelivered: Arc<Mutex<Vec<Message>>>,
    close_timeout: Duration,
}

impl Client {
    /// Shorthand for [`ClientBuilder::new`].
    pub fn builder(url: impl Into<std::string::String>) -> ClientBuilder {
        ClientBuilder::new(url)
    }

    fn spawn(session: Session, inbound_capacity: usize, event_capacity: usize) -> Result<Client, BuildError> {
        let shared = Arc::clone(session.shared());
        let close_timeout = session.close_timeout();
        let inbound = Arc::new(Bounded::new(inbound_capacity));
        let events = Arc::new(Bounded::new(event_capacity));
        let ends = Ends {
            inbound: Arc::clone(&inbound),
            events: Arc::clone(&events),
        };
        let (done_tx, done) = mpsc::channel();
        let undelivered = Arc::new(Mutex::new(Vec::new()));
        let result_slot = Arc::clone(&undelivered);
        let thread = thread::Builder::new()
            .name("wstether-io".into())
            .spawn(move || {
                let left = run(session, ends);
                *result_slot.lock().unwrap_or_else(|p| p.into_inner()) = left;
                let _ = done_tx.send(());
            })
            .map_err(BuildError::Io)?;
        Ok(Client {
            shared,
            inbound,
            events: Events::new(events),
            thread: Some(thread),
            done: Mutex::new(done),
            undelivered,
            close_timeout,
        })
    }

    /// Queues a message, or hands it back at once when the queue is full or
    /// the client is closing. Accepted messages go out in order, after the
    /// subscriptions, on this link or the next.
    pub fn send(&self, message: impl Into<Message>) -> Result<(), SendError> {
        self.shared.outbox.try_push(message.into())?;
        self.shared.wake();
        Ok(())
    }

    /// Like [`Client::send`], but waits up to `timeout` for room in the queue.
    pub fn send_timeout(&self, message: impl Into<Message>, timeout: Duration) -> Result<(), SendError> {
        self.shared
            .outbox
            .push_until(message.into(), StdInstant::now() + timeout)?;
        self.shared.wake();
        Ok(())
    }

    /// Adds a subscription: sent now if connected, and replayed once, in
    /// order, at the start of every later link, before queued messages.
    pub fn subscribe(&self, message: impl Into<Message>) -> SubscriptionId {
        let id = self.shared.outbox.lock().subscribe(message.into());
        self.shared.wake();
        id
    }

    /// Removes a subscription from future replays; returns its message.
    pub fn unsubscribe(&self, id: SubscriptionId) -> Option<Message> {
        self.shared.outbox.lock().unsubscribe(id)
    }

    /// The next message, waiting for it. `Err(Finished)` once the client has
    /// ended and every message was taken.
    pub fn recv(&self) -> Result<Message, Finished> {
        self.taken(self.inbound.take(None))?.ok_or(Finished)
    }

    /// The next message, waiting at most `timeout`; `Ok(None)` on timeout.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<Message>, Finished> {
        self.taken(self.inbound.take_timeout(timeout))
    }

    /// The next message if one is waiting.
    pub fn try_recv(&self) -> Result<Option<Message>, Finished> {
        self.taken(self.inbound.take_timeout(Duration::ZERO))
    }

    /// Messages as they arrive, until the client finishes.
    pub fn iter(&self) -> impl Iterator<Item = Message> + '_ {
        core::iter::from_fn(|| self.recv().ok())
    }

    /// Connection events: attempts, links, delays, timeouts, the end.
    pub fn events(&self) -> &Events {
        &self.events
    }

    /// The supervisor's state.
    pub fn state(&self) -> State {
        self.shared.status().snapshot.state
    }

    /// Statistics as the I/O thread last shared them: at once after any
    /// change of state or counters, the timings at most 100 ms old.
    pub fn snapshot(&self) -> Snapshot {
        self.shared.status().snapshot
    }

    /// Messages waiting in the outgoing queue.
    pub fn queued(&self) -> usize {
        self.shared.outbox.lock().len()
    }

    /// Closes cleanly: writes what is queued, sends a close frame and waits
    /// for the server's — all within the close timeout — then stops the
    /// thread. Returns every accepted message never written to a socket.
    /// Events of the close itself go with the client; a [`Session`] shows them.
    pub fn close(mut self) -> Vec<Message> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Vec<Message> {
        let Some(thread) = self.thread.take() else {
            return Vec::new();
        };
        self.shared.request_close();
        // Past the close timeout the thread can only be inside a TCP connect,
        // which its own deadline ends; allow for it but never hang.
        let bound = self.close_timeout + Duration::from_secs(1);
        let done = self.done.lock().unwrap_or_else(|p| p.into_inner()).recv_timeout(bound);
        match done {
            Ok(()) | Err(RecvTimeoutError::Disconnected) => {
                let _ = thread.join();
                let mut left = core::mem::take(&mut *self.undelivered.lock().unwrap_or_else(|p| p.into_inner()));
                // Empty after a normal end; after a panic of the thread, the
                // queue is all that is left of what `send` accepted.
                left.extend(self.shared.outbox.lock().take_all());
                left
            }
            Err(RecvTimeoutError::Timeout) => {
                log::warn!("I/O thread still busy after the close timeout; leaving it to finish on its own");
                self.shared.outbox.lock().take_all()
            }
        }
    }

    /// What a take came to, waking the I/O thread if it had stopped
    /// reading for lack of room.
    fn taken(&self, take: Take<Message>) -> Result<Option<Message>, Finished> {
        match take {
            Take::Item(message) => {
                // A plain load first: the common case writes nothing the I/O
                // thread would have to fetch back.
                let paused = &self.shared.inbound_paused;
                if paused.load(Ordering::SeqCst) && paused.swap(false, Ordering::SeqCst) {
                    let _ = self.shared.waker.wake();
                }
                Ok(Some(message))
            }
            Take::TimedOut => Ok(None),
            Take::Closed => Err(Finished),
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let left = self.shutdown();
        if !left.is_empty() {
            log::warn!("client dropped with {} undelivered messages", left.len());
        }
    }
}

/// The I/O thread's ends of the caller's queues. Dropping them — when the
/// thread ends, even by a panic — closes both, so a caller blocked in `recv`
/// learns that nothing more will come.
struct Ends {
    inbound: Arc<Bounded<Message>>,
    events: Arc<Bounded<ClientEvent>>,
}

impl Drop for Ends {
    fn drop(&mut self) {
        self.inbound.close();
        self.events.close();
    }
}

/// The I/O thread: drives the session, hands messages over a read pass at a
/// time, and stops reading while the caller is behind.
fn run(mut session: Session, ends: Ends) -> Vec<Message> {
    let shared = Arc::clone(session.shared());
    let mut held: VecDeque<Message> = VecDeque::new();
    let mut events_dropped = 0u64;
    loop {
        let mut paused = !ends.inbound.push_from(&mut held);
        shared.inbound_paused.store(paused, Ordering::SeqCst);
        if paused {
            // A `recv` between the failed hand-over and the flag saw no pause
            // and woke no one; try once more now that any later one will wake
            // us, or the thread could sleep with room in the queue.
            paused = !ends.inbound.push_from(&mut held);
            shared.inbound_paused.store(paused, Ordering::SeqCst);
        }
        let first = session.drive(!paused, None);
        let finished = first.is_none() && session.is_finished();
        for item in first.into_iter().chain(core::iter::from_fn(|| session.pop_ready())) {
            match item {
                Incoming::Message(message) => held.push_back(message),
                // A caller who ignores events must not stall the link.
                Incoming::Event(event) => events_dropped += u64::from(ends.events.try_push(event).is_err()),
            }
        }
        if finished {
            break;
        }
    }
    // Hand over what the caller has room for; the rest of what arrived after
    // the close request is discarded with the link.
    ends.inbound.push_from(&mut held);
    if events_dropped > 0 {
        log::debug!("{events_dropped} client events dropped: the event channel was full");
    }
    session.into_undelivered()
}

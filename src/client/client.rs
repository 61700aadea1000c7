//! The handle any thread uses to a session that runs on an I/O thread.

use core::time::Duration;
use std::string::String;
use std::sync::Arc;
use std::time::Instant as StdInstant;
use std::vec::Vec;

use tungstenite::Message;

use super::bounded::{Bounded, Take};
use super::builder::ClientBuilder;
use super::delivery::{Reason, Receipt, Undelivered};
use super::error::{Ending, Finished, SendError};
use super::events::Events;
use super::io_thread::{Done, IoThread};
use super::outbox::SubscriptionId;
use super::shared::{SendOptions, Shared};
use crate::{Outcome, Snapshot, State};

/// A WebSocket kept alive on an I/O thread. Build one with [`ClientBuilder`];
/// every method takes `&self`, so a client can be shared through an `Arc`.
///
/// Every message [`Client::send`] accepts is either written to a socket, in
/// order, or handed back by [`Client::close`] (or as expired) with the
/// reason. "Written" means handed whole to the kernel: a message the kernel
/// holds when the link dies is lost without notice, unless the server
/// acknowledges messages ([`ClientBuilder::acknowledge`]). Dropping the
/// client closes it (waiting at most its close bound) and discards what was
/// undelivered.
#[derive(Debug)]
pub struct Client {
    shared: Arc<Shared>,
    inbound: Arc<Bounded<Message>>,
    events: Events,
    done: Arc<Done>,
    close_bound: Duration,
    /// The thread of a client started with [`ClientBuilder::connect`].
    _thread: Option<IoThread>,
}

impl Client {
    /// Shorthand for [`ClientBuilder::new`].
    pub fn builder(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(url)
    }

    pub(crate) fn new(
        shared: Arc<Shared>,
        inbound: Arc<Bounded<Message>>,
        events: Events,
        done: Arc<Done>,
        close_bound: Duration,
    ) -> Client {
        Client {
            shared,
            inbound,
            events,
            done,
            close_bound,
            _thread: None,
        }
    }

    /// This client owns `thread`, which ends after the client's session.
    pub(crate) fn owning(mut self, thread: IoThread) -> Client {
        self._thread = Some(thread);
        self
    }

    /// Queues a text or binary message, or hands it back at once when the
    /// queue is full, the client is closing, or it is not a data message.
    /// Accepted messages go out in order, after the subscriptions, on this
    /// link or the next.
    pub fn send(&self, message: impl Into<Message>) -> Result<(), SendError> {
        self.shared
            .send(message.into(), SendOptions::default(), false)
            .map(|_| ())
    }

    /// Like [`Client::send`], but waits up to `timeout` for room in the queue.
    pub fn send_timeout(&self, message: impl Into<Message>, timeout: Duration) -> Result<(), SendError> {
        let options = SendOptions {
            wait: Some(timeout),
            ..SendOptions::default()
        };
        self.shared.send(message.into(), options, false).map(|_| ())
    }

    /// Like [`Client::send`], with a time-to-live and a wait for room
    /// ([`SendOptions`]), and a [`Receipt`] that tells the message's fate.
    pub fn send_with(&self, message: impl Into<Message>, options: SendOptions) -> Result<Receipt, SendError> {
        self.shared
            .send(message.into(), options, true)
            .map(|receipt| receipt.expect("a tracked send returns a receipt"))
    }

    /// Adds a subscription: sent now if connected, and replayed once, in
    /// order, at the start of every later link, before queued messages.
    pub fn subscribe(&self, message: impl Into<Message>) -> SubscriptionId {
        let id = self.shared.outbox.lock().subscribe(message.into());
        self.shared.wake();
        id
    }

    /// Removes a subscription (the builder's too) from future replays;
    /// returns its message.
    pub fn unsubscribe(&self, id: SubscriptionId) -> Option<Message> {
        self.shared.outbox.lock().unsubscribe(id)
    }

    /// The subscriptions, in replay order, with their ids.
    pub fn subscriptions(&self) -> Vec<(SubscriptionId, Message)> {
        self.shared.outbox.lock().subscriptions()
    }

    /// The next message, waiting for it. `Err(Finished)`, with how the
    /// client ended, once it has ended and every message was taken.
    pub fn recv(&self) -> Result<Message, Finished> {
        self.taken(self.inbound.take(None))?.ok_or_else(|| self.finished())
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

    /// The supervisor's state, as of the session's last turn.
    pub fn state(&self) -> State {
        self.shared.state()
    }

    /// Statistics: the counters as of the session's last turn, the timings
    /// as of now.
    pub fn snapshot(&self) -> Snapshot {
        self.shared.snapshot()
    }

    /// How the client ended, once it has: stopped by the caller, gave up
    /// after N attempts, or rejected with the failure and the transport's
    /// explanation. Kept whatever the event queue dropped.
    pub fn ending(&self) -> Option<Ending> {
        self.shared.status().ending.clone()
    }

    /// The subprotocol the server chose on the open link.
    pub fn subprotocol(&self) -> Option<String> {
        self.shared.status().subprotocol.clone()
    }

    /// Accepted messages not yet delivered: queued, or taken for the link
    /// and not yet wholly in the kernel (or, with acknowledgements, not yet
    /// acknowledged).
    pub fn queued(&self) -> usize {
        self.shared.outbox.lock().pending()
    }

    /// Waits up to `timeout` until every accepted message has been written
    /// to a socket (and acknowledged, in acknowledgement mode) or handed
    /// back — waiting for a link as long as the reconnect policy goes on.
    /// `true` when nothing accepted is pending any more, `false` on timeout.
    pub fn wait_drained(&self, timeout: Duration) -> bool {
        let deadline = StdInstant::now() + timeout;
        self.shared.outbox.wait_until(deadline, |outbox| outbox.is_drained())
    }

    /// Skips the pending reconnect delay once (the network just came back);
    /// still within the connect rate limit.
    pub fn reconnect_now(&self) {
        self.shared.request(|c| c.reconnect_now = true);
    }

    /// The application says the open link is healthy: the attempt count
    /// resets now instead of after `stable_after`.
    pub fn mark_healthy(&self) {
        self.shared.request(|c| c.mark_healthy = true);
    }

    /// Stops reading: data waits in the kernel, TCP pushes back on the
    /// server, and the waiting data counts as life.
    pub fn pause_reading(&self) {
        self.shared.request(|c| c.pause_reading = Some(true));
    }

    /// Resumes reading after [`Client::pause_reading`].
    pub fn resume_reading(&self) {
        self.shared.request(|c| c.pause_reading = Some(false));
    }

    /// Closes cleanly with code 1000: writes what is queued (within the close
    /// timeout), sends a close frame and waits for the server's (within the
    /// close-handshake timeout). Returns every accepted message that was not
    /// delivered, with the reason; the first caller gets them, later calls
    /// an empty list.
    pub fn close(&self) -> Vec<Undelivered> {
        self.close_with(1000, "")
    }

    /// Like [`Client::close`], with a close code (1000, or 3000–4999) and a
    /// reason (at most 123 bytes).
    pub fn close_with(&self, code: u16, reason: &str) -> Vec<Undelivered> {
        self.shared.request_close(code, String::from(reason));
        // The thread may be inside a hook or a resolver answer; allow for it
        // but never hang.
        match self.done.wait(self.close_bound + Duration::from_secs(1)) {
            Some(undelivered) => undelivered,
            None => {
                log::warn!("I/O thread still busy after the close bound; handing back the queue");
                let queued = self.shared.outbox.lock().take_all();
                queued
                    .into_iter()
                    .map(|outgoing| Undelivered {
                        message: outgoing.message,
                        reason: Reason::NotSent,
                    })
                    .collect()
            }
        }
    }

    fn finished(&self) -> Finished {
        Finished(self.ending().unwrap_or(Ending {
            outcome: Outcome::Stopped,
            detail: Some(String::from("the I/O thread ended")),
        }))
    }

    /// What a take came to, releasing the message's room and waking the
    /// link if it had stopped reading for lack of it.
    fn taken(&self, take: Take<Message>) -> Result<Option<Message>, Finished> {
        match take {
            Take::Item(message) => {
                if self.shared.budget.release(message.len()) {
                    self.shared.wake_always();
                }
                Ok(Some(message))
            }
            Take::TimedOut => Ok(None),
            Take::Closed => Err(self.finished()),
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if self.ending().is_some() && self.done.wait(Duration::ZERO).is_some() {
            return;
        }
        let left = self.close();
        if !left.is_empty() {
            log::warn!("client dropped with {} undelivered messages", left.len());
        }
    }
}

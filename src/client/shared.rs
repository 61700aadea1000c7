//! What a session shares with the handles other threads hold: the outbox,
//! the inbound budget, requests for the session (close, reconnect now, …),
//! and the status it publishes.

use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;
use std::string::String;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant as StdInstant;

use mio::Waker;
use tungstenite::Message;

use super::acks::AckSpec;
use super::budget::InboundBudget;
use super::delivery::Receipt;
use super::error::{Ending, SendError};
use super::event::{ClientEvent, EventKind};
use super::outbox::{Meta, Outgoing, SharedOutbox};
use crate::{Instant, Snapshot, State, Stats};

/// How to send one message ([`super::Client::send_with`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendOptions {
    /// Hand the message back as expired if it is not written to a socket
    /// within this long (overrides the builder's `message_ttl`).
    pub ttl: Option<Duration>,
    /// Wait this long for room in a full queue before handing it back.
    pub wait: Option<Duration>,
}

/// A close the caller asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CloseRequest {
    pub(crate) code: u16,
    pub(crate) reason: String,
}

/// Requests from other threads, taken by the session on its next turn.
#[derive(Debug, Default)]
pub(crate) struct Control {
    pub(crate) close: Option<CloseRequest>,
    pub(crate) reconnect_now: bool,
    pub(crate) mark_healthy: bool,
    /// `Some(true)`: pause reading; `Some(false)`: resume.
    pub(crate) pause_reading: Option<bool>,
}

/// What the session publishes for other threads.
#[derive(Clone, Debug)]
pub(crate) struct Status {
    pub(crate) stats: Stats,
    pub(crate) ending: Option<Ending>,
    pub(crate) subprotocol: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) outbox: SharedOutbox,
    pub(crate) budget: InboundBudget,
    /// The session's clock starts here.
    pub(crate) epoch: StdInstant,
    waker: Waker,
    /// A wake-up is on its way or the session is awake: callers need not
    /// make the system call again.
    wake_pending: AtomicBool,
    control: Mutex<Control>,
    control_pending: AtomicBool,
    status: Mutex<Status>,
    default_ttl: Option<Duration>,
    acks: Option<Arc<AckSpec>>,
}

impl Shared {
    pub(crate) fn new(
        outbox: SharedOutbox,
        budget: InboundBudget,
        waker: Waker,
        default_ttl: Option<Duration>,
        acks: Option<Arc<AckSpec>>,
    ) -> Shared {
        let epoch = StdInstant::now();
        Shared {
            outbox,
            budget,
            epoch,
            waker,
            wake_pending: AtomicBool::new(false),
            control: Mutex::new(Control::default()),
            control_pending: AtomicBool::new(false),
            status: Mutex::new(Status {
                stats: Stats::new(Instant::ZERO),
                ending: None,
                subprotocol: None,
            }),
            default_ttl,
            acks,
        }
    }

    /// The session's clock.
    pub(crate) fn now(&self) -> Instant {
        let micros = StdInstant::now().saturating_duration_since(self.epoch).as_micros();
        Instant::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
    }

    /// An event happening now.
    pub(crate) fn event(&self, kind: EventKind, detail: Option<String>) -> ClientEvent {
        ClientEvent {
            at: Duration::from_micros(self.now().as_micros()),
            kind,
            detail,
        }
    }

    /// Wakes the session for new work, once per sleep rather than once per
    /// message, and not while it waits for its socket to take more.
    pub(crate) fn wake(&self) {
        if !self.wake_pending.swap(true, Ordering::SeqCst) {
            let _ = self.waker.wake();
        }
    }

    /// The session's socket is full and its writable edge will wake it:
    /// until then a send need not, since its bytes could not go anywhere
    /// (on a link faster to fill than to drain that was one system call
    /// per message). Requests and messages with a time-to-live still wake
    /// it; the flag clears on the session's next turn.
    pub(crate) fn waiting_for_socket(&self) {
        self.wake_pending.store(true, Ordering::SeqCst);
    }

    /// Wakes the session whatever it waits for: for a request, a message
    /// whose expiry it must schedule, room to read again, an answer from a
    /// helper thread — anything but more to write.
    pub(crate) fn wake_always(&self) {
        self.wake_pending.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
    }

    /// The session is about to look for work: later requests must wake it.
    /// A full fence (a swap, not a store): the flag is clear before the
    /// session reads the queue, or a send could find it still set and skip
    /// the wake-up.
    pub(crate) fn awake(&self) {
        self.wake_pending.swap(false, Ordering::SeqCst);
    }

    /// Queues `message` for the session, with what travels with it.
    pub(crate) fn send(
        &self,
        message: Message,
        options: SendOptions,
        track: bool,
    ) -> Result<Option<Receipt>, SendError> {
        if !matches!(message, Message::Text(_) | Message::Binary(_)) {
            return Err(SendError::NotData(message));
        }
        let ack_id = self.acks.as_ref().and_then(|acks| acks.outgoing_id(&message));
        let (receipt, settle) = match track {
            true => {
                let (receipt, settle) = Receipt::new(ack_id.is_some());
                (Some(receipt), Some(settle))
            }
            false => (None, None),
        };
        let outgoing = Outgoing {
            message,
            meta: Meta {
                expires: options.ttl.or(self.default_ttl).map(|ttl| StdInstant::now() + ttl),
                settle,
                ack_id,
            },
        };
        // Its expiry must reach the session's timers even while the socket
        // is full.
        let expires = outgoing.meta.expires.is_some();
        self.outbox
            .push(outgoing, options.wait.map(|wait| StdInstant::now() + wait))?;
        match expires {
            true => self.wake_always(),
            false => self.wake(),
        }
        Ok(receipt)
    }

    /// Whether messages get a time-to-live unless the send gives one.
    pub(crate) fn has_default_ttl(&self) -> bool {
        self.default_ttl.is_some()
    }

    /// Asks the session for something on its next turn.
    pub(crate) fn request(&self, change: impl FnOnce(&mut Control)) {
        change(&mut self.control.lock().unwrap_or_else(|p| p.into_inner()));
        self.control_pending.store(true, Ordering::Release);
        self.wake_always();
    }

    /// Whether other threads asked for something the session has not taken.
    pub(crate) fn has_requests(&self) -> bool {
        self.control_pending.load(Ordering::Acquire)
    }

    /// When the earliest queued message expires.
    pub(crate) fn outbox_expiry(&self) -> Option<StdInstant> {
        self.outbox.lock().next_expiry()
    }

    /// What other threads asked for since the last call.
    pub(crate) fn take_requests(&self) -> Option<Control> {
        if !self.control_pending.swap(false, Ordering::AcqRel) {
            return None;
        }
        Some(core::mem::take(
            &mut *self.control.lock().unwrap_or_else(|p| p.into_inner()),
        ))
    }

    /// Asks the session to close with `code` and `reason`; the first request
    /// wins. No more sends are taken from here on.
    pub(crate) fn request_close(&self, code: u16, reason: String) {
        self.outbox.lock().close();
        self.outbox.notify_space();
        self.request(|control| {
            control.close.get_or_insert(CloseRequest { code, reason });
        });
    }

    pub(crate) fn status(&self) -> MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Statistics as of now, from what the session last published.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let stats = self.status().stats;
        stats.snapshot(self.now())
    }

    /// The supervisor's state as last published.
    pub(crate) fn state(&self) -> State {
        self.snapshot().state
    }
}

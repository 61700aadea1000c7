//! What became of a message `send` accepted: written to a socket, confirmed
//! by the server, or handed back with the reason.

use core::fmt;
use core::time::Duration;
use std::sync::{Arc, Mutex};
use std::time::Instant as StdInstant;

use tungstenite::Message;

use super::signal::Signal;

/// Why a message was handed back instead of delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Its time-to-live ran out before it was written to a socket; it was
    /// never sent.
    Expired,
    /// The client closed (or gave up) before it was written to a socket; it
    /// was never sent.
    NotSent,
    /// It was written, but the client closed before the server acknowledged
    /// it (acknowledgement mode only): the server may or may not have it.
    Unacknowledged,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Reason::Expired => "expired before it was sent",
            Reason::NotSent => "never written to a socket",
            Reason::Unacknowledged => "written but not acknowledged",
        })
    }
}

/// A message handed back, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Undelivered {
    /// The message as `send` accepted it.
    pub message: Message,
    /// Why it was not delivered.
    pub reason: Reason,
}

/// The fate of one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Written whole to the kernel's socket buffer on link number `link`
    /// (links count from 1 over the session). Beyond this point only the
    /// server's acknowledgement can tell whether it arrived.
    Written {
        /// The link it went out on.
        link: u64,
    },
    /// The server acknowledged it (acknowledgement mode), on link `link`.
    Acknowledged {
        /// The link the acknowledgement came on.
        link: u64,
    },
    /// Handed back: never delivered, or not confirmed.
    HandedBack(Reason),
}

#[derive(Debug, Default)]
struct Slot {
    fate: Mutex<Option<Fate>>,
    settled: Signal,
}

/// Learns what became of one message sent with
/// [`super::Client::send_with`]; any thread may wait on it.
#[derive(Clone, Debug)]
pub struct Receipt {
    slot: Arc<Slot>,
    /// The message carries an id the server will acknowledge.
    awaits_ack: bool,
}

impl Receipt {
    pub(crate) fn new(awaits_ack: bool) -> (Receipt, Settle) {
        let slot = Arc::new(Slot::default());
        (
            Receipt {
                slot: Arc::clone(&slot),
                awaits_ack,
            },
            Settle { slot },
        )
    }

    /// The fate so far: `None` while the message is still on its way. A
    /// `Written` fate becomes `Acknowledged` in acknowledgement mode.
    pub fn fate(&self) -> Option<Fate> {
        *self.slot.fate.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits up to `timeout` for the final fate: written (for a message the
    /// server does not acknowledge), acknowledged, or handed back. Returns
    /// the fate so far when the time is up.
    pub fn wait(&self, timeout: Duration) -> Option<Fate> {
        let deadline = StdInstant::now() + timeout;
        let mut fate = self.slot.fate.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            match *fate {
                Some(Fate::Written { .. }) if self.awaits_ack => {}
                Some(final_fate) => return Some(final_fate),
                None => {}
            }
            let left = deadline.saturating_duration_since(StdInstant::now());
            if left.is_zero() {
                return *fate;
            }
            fate = self.slot.settled.wait_timeout(fate, left);
        }
    }
}

/// The session's side of a [`Receipt`].
#[derive(Debug)]
pub(crate) struct Settle {
    slot: Arc<Slot>,
}

impl Settle {
    /// Records `fate` and wakes the waiters.
    pub(crate) fn settle(&self, fate: Fate) {
        *self.slot.fate.lock().unwrap_or_else(|p| p.into_inner()) = Some(fate);
        self.slot.settled.notify_all();
    }
}

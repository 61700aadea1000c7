//! End-to-end acknowledgements: messages the server confirms by id stay the
//! client's until confirmed, are sent again on the next link if a link drops
//! first, and are handed back unconfirmed at close.
//!
//! The caller says how to read the id from an outgoing message and which id
//! an incoming message confirms (a JSON-RPC `id`, an exchange's request id).
//! That makes delivery at least once across links: a message whose
//! acknowledgement was lost with the link is sent again, and the server may
//! see it twice. Nothing is sent again after its acknowledgement arrived.

use core::fmt;
use std::collections::VecDeque;
use std::sync::Arc;

use tungstenite::Message;

use super::outbox::Outgoing;

/// Reads an id from a message.
type IdOf = Arc<dyn Fn(&Message) -> Option<u64> + Send + Sync>;

/// How messages are acknowledged, as configured on the builder.
pub(crate) struct AckSpec {
    outgoing: IdOf,
    incoming: IdOf,
    /// At most this many written messages wait for their acknowledgement;
    /// beyond it the link stops taking queued messages.
    pub(crate) window: usize,
}

impl fmt::Debug for AckSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AckSpec")
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl AckSpec {
    pub(crate) fn new(window: usize, outgoing: IdOf, incoming: IdOf) -> AckSpec {
        AckSpec {
            outgoing,
            incoming,
            window,
        }
    }

    /// The id the server will acknowledge this outgoing message with.
    pub(crate) fn outgoing_id(&self, message: &Message) -> Option<u64> {
        (self.outgoing)(message)
    }

    /// The id this incoming message acknowledges.
    pub(crate) fn acknowledged_id(&self, message: &Message) -> Option<u64> {
        (self.incoming)(message)
    }
}

/// Written messages waiting for their acknowledgement, in the order written.
#[derive(Debug, Default)]
pub(crate) struct Unacknowledged {
    waiting: VecDeque<(u64, Outgoing)>,
}

impl Unacknowledged {
    pub(crate) fn len(&self) -> usize {
        self.waiting.len()
    }

    pub(crate) fn push(&mut self, id: u64, outgoing: Outgoing) {
        self.waiting.push_back((id, outgoing));
    }

    /// The message acknowledged by `id`, if one waits for it.
    pub(crate) fn acknowledge(&mut self, id: u64) -> Option<Outgoing> {
        let index = self.waiting.iter().position(|(waiting, _)| *waiting == id)?;
        self.waiting.remove(index).map(|(_, outgoing)| outgoing)
    }

    /// Everything still waiting, in the order written.
    pub(crate) fn take_all(&mut self) -> impl DoubleEndedIterator<Item = Outgoing> + '_ {
        self.waiting.drain(..).map(|(_, outgoing)| outgoing)
    }
}

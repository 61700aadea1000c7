//! Optional sequence checking of inbound messages: the caller says how to
//! find a sequence number in a message; gaps and duplicates — typically
//! across a reconnect — become events.

use core::fmt;
use std::sync::Arc;

use tungstenite::Message;

use super::event::EventKind;
use crate::feed::{Arrival, SequenceConfigError, SequenceTracker};

/// Finds the sequence number in a message, if it carries one.
pub(crate) type Extract = Arc<dyn Fn(&Message) -> Option<u64> + Send + Sync>;

/// Missing ranges remembered at once; older ones are given up on beyond it.
const GAPS: usize = 64;

/// The extractor and its window, as configured on the builder.
#[derive(Clone)]
pub(crate) struct SequenceSpec {
    pub(crate) extract: Extract,
    pub(crate) window: u64,
}

impl fmt::Debug for SequenceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SequenceSpec")
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

/// The running check on one session.
pub(crate) struct SequenceCheck {
    extract: Extract,
    tracker: SequenceTracker<GAPS>,
}

impl fmt::Debug for SequenceCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SequenceCheck")
            .field("tracker", &self.tracker)
            .finish_non_exhaustive()
    }
}

impl SequenceCheck {
    pub(crate) fn new(spec: SequenceSpec) -> Result<SequenceCheck, SequenceConfigError> {
        Ok(SequenceCheck {
            tracker: SequenceTracker::new(spec.window)?,
            extract: spec.extract,
        })
    }

    /// The event this message's number calls for, if any.
    pub(crate) fn check(&mut self, message: &Message) -> Option<EventKind> {
        let seq = (self.extract)(message)?;
        match self.tracker.observe(seq).arrival {
            Arrival::Gap(range) => Some(EventKind::SequenceGap {
                first: range.start(),
                last: range.end(),
            }),
            Arrival::Duplicate => Some(EventKind::SequenceDuplicate { seq }),
            Arrival::InOrder | Arrival::Late => None,
        }
    }

    /// The highest sequence number seen, for resuming a feed on a new link.
    pub(crate) fn highest(&self) -> Option<u64> {
        self.tracker.highest()
    }
}

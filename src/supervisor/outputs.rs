//! The supervisor's one output queue: actions and events in the order they
//! arose, in a fixed ring.
//!
//! The ring holds [`Output`] itself (only its actions and events), so taking
//! one out is a copy, not a conversion: with [`crate::Instant`] aligned to 4
//! bytes an `Output` is 16 bytes, no larger than an event.

#[cfg(test)]
use super::event::Action;
use super::event::{Event, Output};
use super::MAX_OUTPUTS_PER_INPUT;

/// As much as one input produces, so a driver that drains after every input
/// never loses anything.
const CAPACITY: usize = MAX_OUTPUTS_PER_INPUT;
const _: () = assert!(CAPACITY >= MAX_OUTPUTS_PER_INPUT && CAPACITY <= u8::MAX as usize);

/// A ring of [`Output::Action`] and [`Output::Event`]. A driver that skips draining loses the oldest
/// entries; the loss is reported as [`Event::OutputsDropped`] ahead of what
/// is left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Outputs {
    items: [Output; CAPACITY],
    head: u8,
    len: u8,
    dropped: u16,
}

impl Outputs {
    pub(crate) const fn new() -> Outputs {
        Outputs {
            items: [Output::Timeout(None); CAPACITY],
            head: 0,
            len: 0,
            dropped: 0,
        }
    }

    pub(crate) fn free(&self) -> usize {
        CAPACITY - usize::from(self.len)
    }

    /// The slot `offset` places after the head (`offset < CAPACITY`); a
    /// subtraction rather than a remainder, on the hot path.
    #[inline]
    fn index(&self, offset: usize) -> usize {
        let slot = usize::from(self.head) + offset;
        if slot >= CAPACITY {
            slot - CAPACITY
        } else {
            slot
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, entry: Output) {
        if usize::from(self.len) == CAPACITY {
            // Only a driver that did not drain gets here; what it missed
            // first is what it can least still use.
            let _ = self.pop_entry();
            self.dropped = self.dropped.saturating_add(1);
        }
        let tail = self.index(usize::from(self.len));
        self.items[tail] = entry;
        self.len += 1;
    }

    #[inline]
    fn pop_entry(&mut self) -> Option<Output> {
        if self.len == 0 {
            return None;
        }
        let entry = self.items[usize::from(self.head)];
        self.head = self.index(1) as u8;
        self.len -= 1;
        Some(entry)
    }

    #[inline]
    pub(crate) fn pop(&mut self) -> Option<Output> {
        if self.dropped == 0 {
            return self.pop_entry();
        }
        let count = core::mem::take(&mut self.dropped);
        Some(Output::Event(Event::OutputsDropped { count: count.into() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_order_and_reports_what_an_undrained_driver_lost() {
        let mut outputs = Outputs::new();
        outputs.push(Output::Event(Event::Stable));
        outputs.push(Output::Action(Action::SendPing));
        outputs.push(Output::Event(Event::BreakerClosed));
        outputs.push(Output::Action(Action::Close));
        assert_eq!(outputs.pop(), Some(Output::Event(Event::OutputsDropped { count: 1 })));
        assert_eq!(outputs.pop(), Some(Output::Action(Action::SendPing)));
        assert_eq!(outputs.pop(), Some(Output::Event(Event::BreakerClosed)));
        assert_eq!(outputs.pop(), Some(Output::Action(Action::Close)));
        assert_eq!(outputs.pop(), None);
    }
}

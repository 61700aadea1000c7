//! The supervisor's one output queue: actions and events in the order they
//! arose, in a fixed array.
//!
//! The array holds [`Output`] itself (only its actions and events), so taking
//! one out is a copy, not a conversion: with [`crate::Instant`] aligned to 4
//! bytes an `Output` is 16 bytes, no larger than an event.
//!
//! It is a queue that starts over whenever it is drained, not a ring: a
//! driver drains after every input, so the common push and pop are an index
//! and a copy, with no wrap-around; only a push into a full queue (a driver
//! that stopped short of draining) moves entries.

#[cfg(test)]
use super::event::Action;
use super::event::{Event, Output};
use super::MAX_OUTPUTS_PER_INPUT;

/// As much as one input produces, so a driver that drains after every input
/// never loses anything.
const CAPACITY: usize = MAX_OUTPUTS_PER_INPUT;
const _: () = assert!(CAPACITY >= MAX_OUTPUTS_PER_INPUT && CAPACITY <= u8::MAX as usize);

/// A queue of [`Output::Action`] and [`Output::Event`]: `items[read..write]`
/// are waiting. A driver that skips draining loses the oldest entries; the
/// loss is reported as [`Event::OutputsDropped`] ahead of what is left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Outputs {
    items: [Output; CAPACITY],
    read: u8,
    write: u8,
    dropped: u16,
}

impl Outputs {
    pub(crate) const fn new() -> Outputs {
        Outputs {
            items: [Output::Timeout(None); CAPACITY],
            read: 0,
            write: 0,
            dropped: 0,
        }
    }

    /// How many more outputs fit before the oldest is dropped.
    pub(crate) fn free(&self) -> usize {
        CAPACITY - usize::from(self.write - self.read)
    }

    #[inline]
    pub(crate) fn push(&mut self, entry: Output) {
        if usize::from(self.write) == CAPACITY {
            self.make_room();
        }
        if let Some(slot) = self.items.get_mut(usize::from(self.write)) {
            *slot = entry;
            self.write += 1;
        }
    }

    /// Moves what is waiting to the front; when nothing was taken yet, drops
    /// the oldest first. Only a driver that did not drain gets here; what it
    /// missed first is what it can least still use.
    #[cold]
    fn make_room(&mut self) {
        if self.read == 0 {
            self.read = 1;
            self.dropped = self.dropped.saturating_add(1);
        }
        let read = usize::from(self.read);
        // By hand: `copy_within` brings a panic message the firmware does
        // not otherwise need.
        for to in 0..CAPACITY - read {
            self.items[to] = self.items[to + read];
        }
        self.write -= self.read;
        self.read = 0;
    }

    #[inline]
    pub(crate) fn pop(&mut self) -> Option<Output> {
        if self.dropped != 0 {
            let count = core::mem::take(&mut self.dropped);
            return Some(Output::Event(Event::OutputsDropped { count: count.into() }));
        }
        if self.read == self.write {
            // Drained: the next input starts at the front.
            (self.read, self.write) = (0, 0);
            return None;
        }
        let entry = *self.items.get(usize::from(self.read))?;
        self.read += 1;
        Some(entry)
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

    /// Random pushes and pops against a plain model: a list that loses its
    /// oldest entry when a push finds it full.
    #[test]
    fn partial_drains_keep_the_order_and_lose_only_when_full() {
        let mut rng = fastrand::Rng::with_seed(17);
        let mut outputs = Outputs::new();
        let (mut model, mut model_len, mut lost) = ([0u32; CAPACITY], 0, 0u32);
        for n in 0..100_000u32 {
            if rng.bool() {
                outputs.push(Output::Event(Event::Throttled { wait_ms: n }));
                if model_len == CAPACITY {
                    model.copy_within(1.., 0);
                    model_len -= 1;
                    lost += 1;
                }
                model[model_len] = n;
                model_len += 1;
            } else {
                let expected = if lost > 0 {
                    let count = core::mem::take(&mut lost);
                    Some(Output::Event(Event::OutputsDropped { count }))
                } else if model_len > 0 {
                    let wait_ms = model[0];
                    model.copy_within(1.., 0);
                    model_len -= 1;
                    Some(Output::Event(Event::Throttled { wait_ms }))
                } else {
                    None
                };
                assert_eq!(outputs.pop(), expected, "step {n}");
            }
            assert_eq!(outputs.free(), CAPACITY - model_len, "step {n}");
        }
    }
}

//! The supervisor's deadlines: one enum, one fixed table.
//!
//! Every deadline the supervisor can wait for has a slot; an unset slot holds
//! a sentinel. `handle_timeout` walks the table for what is due, so there is
//! no heap, no queue of timers and no deadline kept anywhere else.
//!
//! A slot holds its deadline and its own index in one key, `deadline << 3 |
//! slot`, so the smallest key is the earliest deadline, and of equal
//! deadlines the earlier slot: finding what is next is one pass of `min`,
//! with nothing to carry beside it. The price is range: a deadline later
//! than 2^61 µs after the epoch (about 73,000 years) is kept at that limit.

use crate::time::Instant;

/// A deadline the supervisor waits for, reported by
/// [`crate::Supervisor::poll_timeout`] and [`crate::Output::Timeout`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    /// The next connection attempt (backoff, connect rate limit or breaker).
    Reconnect,
    /// The deadline of the attempt in progress.
    ConnectTimeout,
    /// A ping is due.
    Ping,
    /// The pong deadline of the ping in flight.
    PongTimeout,
    /// The idle (stale data) deadline.
    Idle,
    /// The link will count as stable.
    Stable,
}

impl Timer {
    /// Every timer, in the order of the table; the earlier one wins a tie.
    pub(crate) const ALL: [Timer; 6] = [
        Timer::ConnectTimeout,
        Timer::PongTimeout,
        Timer::Idle,
        Timer::Stable,
        Timer::Ping,
        Timer::Reconnect,
    ];
}

/// When a timer fires, and which.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline {
    /// The instant at which to call `handle_timeout`.
    pub at: Instant,
    /// What for.
    pub timer: Timer,
}

/// The low bits of a key that name its slot.
const SLOT_BITS: u32 = 3;
const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;
/// The latest deadline a key can hold, in microseconds.
const LATEST: u64 = u64::MAX >> SLOT_BITS;
/// "Not set": above every key of a set timer, and its slot bits name no
/// timer.
const UNSET: u64 = u64::MAX;
const _: () = assert!((LATEST << SLOT_BITS | SLOT_MASK) == UNSET && SLOT_MASK as usize >= Timer::ALL.len());

/// One key per [`Timer`]: its deadline in microseconds and its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerTable {
    keys: [u64; Timer::ALL.len()],
}

impl TimerTable {
    pub(crate) const fn new() -> TimerTable {
        TimerTable {
            keys: [UNSET; Timer::ALL.len()],
        }
    }

    /// The slot of `timer`: [`Timer::ALL`]'s order, which breaks ties.
    const fn slot(timer: Timer) -> usize {
        match timer {
            Timer::ConnectTimeout => 0,
            Timer::PongTimeout => 1,
            Timer::Idle => 2,
            Timer::Stable => 3,
            Timer::Ping => 4,
            Timer::Reconnect => 5,
        }
    }

    /// Sets `timer` to fire at `at` (at the latest at the table's limit).
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        let slot = Self::slot(timer);
        // `LATEST << SLOT_BITS | slot` stays below UNSET: the slot is below
        // SLOT_MASK.
        self.keys[slot] = at.as_micros().min(LATEST) << SLOT_BITS | slot as u64;
    }

    pub(crate) fn clear(&mut self, timer: Timer) {
        self.keys[Self::slot(timer)] = UNSET;
    }

    pub(crate) fn clear_all(&mut self) {
        self.keys = [UNSET; Timer::ALL.len()];
    }

    #[cfg(test)]
    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        let key = self.keys[Self::slot(timer)];
        (key != UNSET).then_some(Instant::from_micros(key >> SLOT_BITS))
    }

    /// The earliest deadline, if any timer is set; ties go to the table's
    /// order. Six comparisons: cheaper to look than to keep track.
    pub(crate) fn next(&self) -> Option<Deadline> {
        let key = self.keys.iter().fold(UNSET, |earliest, &key| earliest.min(key));
        // UNSET's slot bits name no timer: nothing set, nothing next.
        let timer = *Timer::ALL.get((key & SLOT_MASK) as usize)?;
        Some(Deadline {
            at: Instant::from_micros(key >> SLOT_BITS),
            timer,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_matches_a_sort_over_random_changes() {
        let mut rng = fastrand::Rng::with_seed(9);
        let mut table = TimerTable::new();
        for _ in 0..100_000 {
            let timer = Timer::ALL[rng.usize(..Timer::ALL.len())];
            match rng.u8(0..4) {
                0 => table.clear(timer),
                1 if rng.u8(0..50) == 0 => table.clear_all(),
                // Near the epoch, where ties are common, and at the limit.
                2 if rng.bool() => table.set(timer, Instant::from_micros(LATEST - rng.u64(0..3) + rng.u64(0..3))),
                _ => table.set(timer, Instant::from_micros(rng.u64(0..20))),
            }
            let scanned = Timer::ALL
                .iter()
                .filter_map(|&t| table.get(t).map(|at| Deadline { at, timer: t }))
                .min_by_key(|d| (d.at, TimerTable::slot(d.timer)));
            assert_eq!(table.next(), scanned);
        }
    }

    #[test]
    fn the_earliest_set_timer_wins_and_ties_go_to_the_table_order() {
        let mut table = TimerTable::new();
        assert_eq!(table.next(), None);
        table.set(Timer::Reconnect, Instant::from_secs(5));
        table.set(Timer::Ping, Instant::from_secs(3));
        table.set(Timer::Idle, Instant::from_secs(3));
        assert_eq!(
            table.next(),
            Some(Deadline {
                at: Instant::from_secs(3),
                timer: Timer::Idle
            })
        );
        table.clear(Timer::Idle);
        table.clear(Timer::Ping);
        assert_eq!(table.next().map(|d| d.timer), Some(Timer::Reconnect));
        table.set(Timer::Stable, Instant::MAX);
        assert_eq!(table.get(Timer::Stable), Some(Instant::from_micros(LATEST)));
        assert_eq!(table.next().map(|d| d.timer), Some(Timer::Reconnect));
        table.clear(Timer::Reconnect);
        assert_eq!(
            table.next(),
            Some(Deadline {
                at: Instant::from_micros(LATEST),
                timer: Timer::Stable
            })
        );
        table.clear_all();
        assert_eq!(table.next(), None);
    }
}

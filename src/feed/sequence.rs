//! Sequence-gap tracking for feeds that number their messages.
//!
//! Market-data, telemetry and event feeds stamp every message with a sequence
//! number so that a client can tell when it missed something and ask for a
//! replay or a fresh snapshot. [`SequenceTracker`] classifies each number it is
//! fed: in order, the first number after a gap, a late arrival that fills a
//! known gap, or a duplicate. It keeps the missing ranges in a fixed-capacity
//! list and gives up on a missing number once the feed has moved more than a
//! configurable window past it.
//!
//! Every skipped number is reported as missing exactly once, when its gap
//! opens; what happens to it afterwards (filled late, given up on, dropped for
//! lack of room, or still pending) is counted in [`SequenceStats`].

use core::fmt;
use core::ops::RangeInclusive;

use heapless::Vec;

/// An inclusive, non-empty range of sequence numbers, `start..=end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SeqRange {
    start: u64,
    end: u64,
}

impl SeqRange {
    /// The range `start..=end`, or `None` if `start > end`.
    pub const fn new(start: u64, end: u64) -> Option<SeqRange> {
        if start <= end {
            Some(SeqRange { start, end })
        } else {
            None
        }
    }

    /// The first number in the range.
    pub const fn start(self) -> u64 {
        self.start
    }

    /// The last number in the range.
    pub const fn end(self) -> u64 {
        self.end
    }

    /// How many numbers the range holds, saturating at `u64::MAX` (the whole
    /// `0..=u64::MAX` holds one more than a `u64` can count).
    pub const fn len(self) -> u64 {
        self.end.saturating_sub(self.start).saturating_add(1)
    }

    /// Always `false`: a range holds at least one number. Present for the
    /// `len`/`is_empty` convention.
    pub const fn is_empty(self) -> bool {
        false
    }

    /// Whether `seq` lies in the range.
    pub const fn contains(self, seq: u64) -> bool {
        self.start <= seq && seq <= self.end
    }
}

impl From<SeqRange> for RangeInclusive<u64> {
    fn from(range: SeqRange) -> RangeInclusive<u64> {
        range.start..=range.end
    }
}

impl fmt::Display for SeqRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..={}", self.start, self.end)
    }
}

/// What one sequence number turned out to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrival {
    /// The next expected number (or the first number a fresh tracker sees).
    InOrder,
    /// Ahead of the next expected number: the numbers in the range were
    /// skipped and are now missing. The number itself is new.
    Gap(SeqRange),
    /// A missing number that arrived out of order, inside the window.
    Late,
    /// Already seen, or too old to tell: behind the window, before the point
    /// of the last [`reset`](SequenceTracker::reset), or given up on.
    Duplicate,
}

/// The result of [`SequenceTracker::observe`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observation {
    /// What the number was.
    pub arrival: Arrival,
    /// Missing numbers given up on during this call because the newest number
    /// moved more than the window past them.
    pub lost: u64,
    /// Missing numbers dropped during this call, oldest range first, because
    /// the list of missing ranges was full.
    pub overflowed: u64,
}

impl Observation {
    const fn only(arrival: Arrival) -> Observation {
        Observation {
            arrival,
            lost: 0,
            overflowed: 0,
        }
    }

    /// Whether the message carrying this number should be processed: it is
    /// in order, after a gap, or late, but not a duplicate.
    pub const fn is_new(&self) -> bool {
        !matches!(self.arrival, Arrival::Duplicate)
    }

    /// The numbers this observation found missing, if it opened a gap.
    pub const fn missing(&self) -> Option<SeqRange> {
        match self.arrival {
            Arrival::Gap(range) => Some(range),
            _ => None,
        }
    }

    /// Whether this call had to give up on missing numbers, by window or by
    /// lack of room.
    pub const fn gave_up(&self) -> bool {
        self.lost > 0 || self.overflowed > 0
    }
}

/// Counters kept by a [`SequenceTracker`] since it was created.
///
/// Every number reported in `missing` ends up in exactly one of
/// `out_of_order`, `lost`, `overflowed`, or the tracker's pending
/// [`missing`](SequenceTracker::missing) ranges (unless a
/// [`reset`](SequenceTracker::reset) abandoned it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SequenceStats {
    /// Every call to [`observe`](SequenceTracker::observe).
    pub received: u64,
    /// Numbers that arrived in order.
    pub in_order: u64,
    /// Gaps opened.
    pub gaps: u64,
    /// Numbers reported missing when their gap opened.
    pub missing: u64,
    /// Missing numbers that arrived late and filled their gap.
    pub out_of_order: u64,
    /// Numbers seen before or too old to tell.
    pub duplicates: u64,
    /// Missing numbers given up on because the feed moved past the window.
    pub lost: u64,
    /// Missing numbers dropped because the list of ranges was full.
    pub overflowed: u64,
}

impl SequenceStats {
    const ZERO: SequenceStats = SequenceStats {
        received: 0,
        in_order: 0,
        gaps: 0,
        missing: 0,
        out_of_order: 0,
        duplicates: 0,
        lost: 0,
        overflowed: 0,
    };
}

/// Why a [`SequenceTracker`] configuration was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SequenceConfigError {
    /// A window of zero would give up on every gap the moment it opens.
    ZeroWindow,
}

impl fmt::Display for SequenceConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SequenceConfigError::ZeroWindow => f.write_str("the sequence window must be at least one number"),
        }
    }
}

impl core::error::Error for SequenceConfigError {}

/// Classifies the sequence numbers of a feed and remembers up to `GAPS`
/// missing ranges.
///
/// A missing number stays pending while it is at most `window` numbers behind
/// the newest number seen; after that it is lost for good, and if it still
/// arrives it counts as a [`Duplicate`](Arrival::Duplicate). When a new range
/// does not fit, the oldest range is dropped and counted as overflowed.
///
/// A fresh tracker accepts whatever number comes first; call
/// [`reset`](SequenceTracker::reset) after loading a snapshot to say which
/// number must come next.
///
/// Each call costs at most `O(GAPS)`; nothing allocates.
///
/// # Example
///
/// ```
/// use wstether::feed::{Arrival, SeqRange, SequenceTracker};
///
/// let mut feed = SequenceTracker::<8>::new(1_000)?;
/// feed.reset(1); // the snapshot covered everything before 1
///
/// assert_eq!(feed.observe(1).arrival, Arrival::InOrder);
/// // 2 and 3 went missing: ask the server for a replay.
/// let gap = feed.observe(4);
/// assert_eq!(gap.missing(), SeqRange::new(2, 3));
/// assert_eq!(feed.observe(3).arrival, Arrival::Late);
/// assert_eq!(feed.observe(3).arrival, Arrival::Duplicate);
/// assert_eq!(feed.missing().collect::<Vec<_>>(), [SeqRange::new(2, 2).unwrap()]);
/// assert_eq!(feed.stats().missing, 2);
/// # Ok::<(), wstether::feed::SequenceConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct SequenceTracker<const GAPS: usize> {
    window: u64,
    anchored: bool,
    /// The highest number seen since the last reset; `None` when anchored at
    /// zero so that 0 itself is still expected.
    highest: Option<u64>,
    /// Missing ranges, ascending and disjoint, all above `highest - window`.
    gaps: Vec<SeqRange, GAPS>,
    stats: SequenceStats,
}

impl<const GAPS: usize> SequenceTracker<GAPS> {
    /// A tracker that accepts late numbers up to `window` behind the newest.
    ///
    /// The window is measured in sequence numbers, so it bounds how far the
    /// feed may reorder messages. `GAPS` bounds how many separate missing
    /// ranges are remembered at once.
    pub const fn new(window: u64) -> Result<Self, SequenceConfigError> {
        if window == 0 {
            return Err(SequenceConfigError::ZeroWindow);
        }
        Ok(SequenceTracker {
            window,
            anchored: false,
            highest: None,
            gaps: Vec::new(),
            stats: SequenceStats::ZERO,
        })
    }

    /// Starts over from a snapshot: `next_expected` is the next number the
    /// feed should send. Pending gaps are forgotten (the snapshot covers
    /// them); counters are kept.
    pub fn reset(&mut self, next_expected: u64) {
        self.anchored = true;
        self.highest = next_expected.checked_sub(1);
        self.gaps.clear();
    }

    /// Classifies `seq` and updates the missing ranges and counters.
    pub fn observe(&mut self, seq: u64) -> Observation {
        self.stats.received = self.stats.received.saturating_add(1);

        if !self.anchored {
            self.anchored = true;
            self.highest = Some(seq);
            self.stats.in_order = self.stats.in_order.saturating_add(1);
            return Observation::only(Arrival::InOrder);
        }

        let next_expected = match self.highest {
            None => Some(0),
            Some(highest) => highest.checked_add(1),
        };
        match next_expected {
            Some(next) if seq >= next => self.advance(next, seq),
            _ => self.fill(seq),
        }
    }

    fn advance(&mut self, next: u64, seq: u64) -> Observation {
        self.highest = Some(seq);
        // Give up on old ranges before making room, so that a range that has
        // left the window counts as lost rather than as overflowed.
        let mut lost = self.expire(seq);
        let mut overflowed = 0;
        let arrival = match seq.checked_sub(1).and_then(|end| SeqRange::new(next, end)) {
            None => {
                self.stats.in_order = self.stats.in_order.saturating_add(1);
                Arrival::InOrder
            }
            Some(skipped) => {
                self.stats.gaps = self.stats.gaps.saturating_add(1);
                self.stats.missing = self.stats.missing.saturating_add(skipped.len());
                overflowed = self.insert_range(self.gaps.len(), skipped);
                // A gap wider than the window is partly lost at once.
                lost = lost.saturating_add(self.expire(seq));
                Arrival::Gap(skipped)
            }
        };
        Observation {
            arrival,
            lost,
            overflowed,
        }
    }

    fn fill(&mut self, seq: u64) -> Observation {
        let found = self.gaps.binary_search_by(|range| {
            if range.end < seq {
                core::cmp::Ordering::Less
            } else if range.start > seq {
                core::cmp::Ordering::Greater
            } else {
                core::cmp::Ordering::Equal
            }
        });
        let Ok(index) = found else {
            self.stats.duplicates = self.stats.duplicates.saturating_add(1);
            return Observation::only(Arrival::Duplicate);
        };
        self.stats.out_of_order = self.stats.out_of_order.saturating_add(1);

        let Some(range) = self.gaps.get_mut(index) else {
            return Observation::only(Arrival::Late);
        };
        let whole = *range;
        let mut overflowed = 0;
        if whole.start == seq && whole.end == seq {
            // `index` came from the search, so it is in bounds.
            self.gaps.remove(index);
        } else if whole.start == seq {
            range.start = seq.saturating_add(1);
        } else if whole.end == seq {
            range.end = seq.saturating_sub(1);
        } else {
            // start < seq < end: the range splits in two.
            range.end = seq.saturating_sub(1);
            let upper = SeqRange {
                start: seq.saturating_add(1),
                end: whole.end,
            };
            overflowed = self.insert_range(index.saturating_add(1), upper);
        }
        Observation {
            arrival: Arrival::Late,
            lost: 0,
            overflowed,
        }
    }

    /// Inserts `range` at `index`, dropping the oldest range if the list is
    /// full. Returns how many numbers were dropped.
    fn insert_range(&mut self, index: usize, range: SeqRange) -> u64 {
        let mut dropped = 0;
        let mut index = index;
        if self.gaps.is_full() {
            if self.gaps.is_empty() {
                // No room at all (`GAPS == 0`): the new range itself goes.
                self.note_overflow(range.len());
                return range.len();
            }
            // Not empty, so index 0 exists.
            let oldest = self.gaps.remove(0);
            dropped = oldest.len();
            index = index.saturating_sub(1);
        }
        let index = index.min(self.gaps.len());
        if let Err(range) = self.gaps.insert(index, range) {
            dropped = dropped.saturating_add(range.len());
        }
        self.note_overflow(dropped);
        dropped
    }

    fn note_overflow(&mut self, numbers: u64) {
        self.stats.overflowed = self.stats.overflowed.saturating_add(numbers);
    }

    /// Drops the missing numbers more than `window` behind `highest`.
    /// Returns how many were given up.
    fn expire(&mut self, highest: u64) -> u64 {
        let Some(cutoff) = highest.checked_sub(self.window) else {
            return 0;
        };
        // Numbers below `cutoff` are more than `window` behind `highest`.
        let mut lost: u64 = 0;
        let mut whole_ranges: usize = 0;
        for range in self.gaps.iter_mut() {
            if range.end < cutoff {
                lost = lost.saturating_add(range.len());
                whole_ranges = whole_ranges.saturating_add(1);
            } else {
                if range.start < cutoff {
                    lost = lost.saturating_add(cutoff.saturating_sub(range.start));
                    range.start = cutoff;
                }
                break;
            }
        }
        if whole_ranges > 0 {
            // `whole_ranges` counts ranges just visited, so it is at most len.
            self.gaps.drain(..whole_ranges);
        }
        self.stats.lost = self.stats.lost.saturating_add(lost);
        lost
    }

    /// The missing ranges still pending, oldest first.
    pub fn missing(&self) -> impl DoubleEndedIterator<Item = SeqRange> + ExactSizeIterator + '_ {
        self.gaps.iter().copied()
    }

    /// How many numbers are still pending in [`missing`](Self::missing).
    pub fn missing_count(&self) -> u64 {
        self.gaps
            .iter()
            .fold(0u64, |total, range| total.saturating_add(range.len()))
    }

    /// The highest number seen since the last reset, if any.
    pub const fn highest(&self) -> Option<u64> {
        if self.anchored {
            self.highest
        } else {
            None
        }
    }

    /// The number that would be in order next, or `None` before the first
    /// number (or after `u64::MAX`, when nothing can follow).
    pub const fn next_expected(&self) -> Option<u64> {
        if !self.anchored {
            return None;
        }
        match self.highest {
            None => Some(0),
            Some(highest) => highest.checked_add(1),
        }
    }

    /// How far behind the newest number a late number is still accepted.
    pub const fn window(&self) -> u64 {
        self.window
    }

    /// The counters so far.
    pub const fn stats(&self) -> SequenceStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(start: u64, end: u64) -> SeqRange {
        SeqRange::new(start, end).expect("start <= end")
    }

    fn pending<const G: usize>(tracker: &SequenceTracker<G>) -> heapless::Vec<SeqRange, G> {
        tracker.missing().collect()
    }

    #[test]
    fn zero_window_is_refused() {
        assert_eq!(
            SequenceTracker::<4>::new(0).err(),
            Some(SequenceConfigError::ZeroWindow)
        );
    }

    #[test]
    fn first_number_anchors_a_fresh_tracker() {
        let mut tracker = SequenceTracker::<4>::new(10).unwrap();
        assert_eq!(tracker.next_expected(), None);
        assert_eq!(tracker.observe(500).arrival, Arrival::InOrder);
        assert_eq!(tracker.next_expected(), Some(501));
        assert_eq!(tracker.observe(499).arrival, Arrival::Duplicate);
    }

    #[test]
    fn reset_to_zero_expects_zero() {
        let mut tracker = SequenceTracker::<4>::new(10).unwrap();
        tracker.reset(0);
        assert_eq!(tracker.next_expected(), Some(0));
        assert_eq!(tracker.observe(0).arrival, Arrival::InOrder);
    }

    #[test]
    fn gap_then_fill_from_both_ends_and_the_middle() {
        let mut tracker = SequenceTracker::<4>::new(100).unwrap();
        tracker.reset(10);
        assert_eq!(tracker.observe(15).arrival, Arrival::Gap(range(10, 14)));
        assert_eq!(tracker.observe(10).arrival, Arrival::Late);
        assert_eq!(tracker.observe(14).arrival, Arrival::Late);
        assert_eq!(tracker.observe(12).arrival, Arrival::Late);
        assert_eq!(pending(&tracker), [range(11, 11), range(13, 13)]);
        assert_eq!(tracker.observe(11).arrival, Arrival::Late);
        assert_eq!(tracker.observe(13).arrival, Arrival::Late);
        assert_eq!(tracker.missing().len(), 0);
        assert_eq!(tracker.observe(13).arrival, Arrival::Duplicate);
        let stats = tracker.stats();
        assert_eq!(stats.missing, 5);
        assert_eq!(stats.out_of_order, 5);
        assert_eq!(stats.duplicates, 1);
        assert_eq!(stats.gaps, 1);
    }

    #[test]
    fn missing_number_is_kept_at_the_window_edge_and_lost_one_past_it() {
        let mut tracker = SequenceTracker::<4>::new(5).unwrap();
        tracker.reset(0);
        assert_eq!(tracker.observe(1).missing(), Some(range(0, 0)));
        // 0 is now exactly 5 behind: still pending.
        for seq in 2..=5 {
            assert_eq!(tracker.observe(seq).lost, 0);
        }
        assert_eq!(pending(&tracker), [range(0, 0)]);
        // 6 puts 0 six behind: lost.
        let observation = tracker.observe(6);
        assert_eq!(observation.arrival, Arrival::InOrder);
        assert_eq!(observation.lost, 1);
        assert_eq!(tracker.missing().len(), 0);
        assert_eq!(tracker.observe(0).arrival, Arrival::Duplicate);
    }

    #[test]
    fn gap_wider_than_the_window_is_reported_whole_and_partly_lost() {
        let mut tracker = SequenceTracker::<4>::new(10).unwrap();
        tracker.reset(0);
        let observation = tracker.observe(100);
        assert_eq!(observation.missing(), Some(range(0, 99)));
        assert_eq!(observation.lost, 90);
        assert_eq!(pending(&tracker), [range(90, 99)]);
        assert_eq!(tracker.observe(89).arrival, Arrival::Duplicate);
        assert_eq!(tracker.observe(90).arrival, Arrival::Late);
    }

    #[test]
    fn full_list_drops_the_oldest_range() {
        let mut tracker = SequenceTracker::<2>::new(1_000).unwrap();
        tracker.reset(0);
        tracker.observe(2); // 0..=1 missing
        tracker.observe(4); // 3 missing
        let observation = tracker.observe(7); // 5..=6 missing, 0..=1 dropped
        assert_eq!(observation.overflowed, 2);
        assert_eq!(pending(&tracker), [range(3, 3), range(5, 6)]);
        assert_eq!(tracker.observe(0).arrival, Arrival::Duplicate);
        assert_eq!(tracker.stats().overflowed, 2);
    }

    #[test]
    fn splitting_a_range_in_a_full_list_drops_the_oldest_piece() {
        let mut tracker = SequenceTracker::<1>::new(1_000).unwrap();
        tracker.reset(0);
        tracker.observe(10); // 0..=9 missing
        let observation = tracker.observe(4);
        assert_eq!(observation.arrival, Arrival::Late);
        assert_eq!(observation.overflowed, 4);
        assert_eq!(pending(&tracker), [range(5, 9)]);
    }

    #[test]
    fn no_room_at_all_still_reports_the_gap() {
        let mut tracker = SequenceTracker::<0>::new(10).unwrap();
        tracker.reset(0);
        let observation = tracker.observe(3);
        assert_eq!(observation.missing(), Some(range(0, 2)));
        assert_eq!(observation.overflowed, 3);
        assert_eq!(tracker.observe(1).arrival, Arrival::Duplicate);
    }

    #[test]
    fn extremes_do_not_overflow() {
        let mut tracker = SequenceTracker::<4>::new(u64::MAX).unwrap();
        tracker.reset(0);
        let observation = tracker.observe(u64::MAX);
        assert_eq!(observation.missing(), Some(range(0, u64::MAX - 1)));
        assert_eq!(observation.lost, 0);
        assert_eq!(tracker.next_expected(), None);
        assert_eq!(tracker.observe(u64::MAX).arrival, Arrival::Duplicate);
        assert_eq!(tracker.observe(0).arrival, Arrival::Late);
        assert_eq!(tracker.missing_count(), u64::MAX - 1);
        assert_eq!(range(0, u64::MAX).len(), u64::MAX);

        let mut narrow = SequenceTracker::<4>::new(1).unwrap();
        narrow.reset(u64::MAX);
        let observation = narrow.observe(u64::MAX);
        assert_eq!(observation.arrival, Arrival::InOrder);
        assert_eq!(narrow.observe(0).arrival, Arrival::Duplicate);
    }
}

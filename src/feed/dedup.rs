//! A fixed-capacity filter for message ids seen recently.
//!
//! After a reconnect many feeds replay their last messages, and some servers
//! deliver the same message on two subscriptions. [`DuplicateFilter`] remembers
//! the last `N` ids (and, optionally, only for a time-to-live) so that each one
//! is processed once. It answers in constant time with no heap: the ids live in
//! a ring that keeps their arrival order for eviction, threaded through a hash
//! table of the same size for lookup.

use core::fmt;
use core::time::Duration;

use crate::time::{duration_micros, Instant};

/// Marks the end of a hash chain.
const NO_SLOT: usize = usize::MAX;

/// At most this many stale ring slots are cleared per call, so that a call
/// after a long pause still takes constant time; lookups treat expired ids as
/// absent anyway, and each call creates at most one stale slot, so the sweep
/// keeps up.
const SWEEP_PER_CALL: usize = 4;

#[derive(Clone, Copy, Debug)]
struct Slot {
    id: u64,
    recorded_at: Instant,
    /// The next slot in the same hash chain.
    next_in_chain: usize,
    /// False for a slot never written, evicted, or vacated by an expired id
    /// that was seen again.
    occupied: bool,
}

impl Slot {
    const EMPTY: Slot = Slot {
        id: 0,
        recorded_at: Instant::ZERO,
        next_in_chain: NO_SLOT,
        occupied: false,
    };
}

/// Why a [`DuplicateFilter`] configuration was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DedupConfigError {
    /// A time-to-live of zero would forget every id at once.
    ZeroTtl,
}

impl fmt::Display for DedupConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DedupConfigError::ZeroTtl => f.write_str("the duplicate filter's time-to-live must be above zero"),
        }
    }
}

impl core::error::Error for DedupConfigError {}

/// Remembers the last `N` message ids, optionally for a limited time, and
/// says whether an id is new.
///
/// Guarantee: an id recorded by one of the last `N` calls that returned
/// `true` is remembered, unless its time-to-live (counted from when it was
/// recorded, not from later sightings) has run out. Older ids are evicted
/// oldest first.
///
/// Every call takes constant time: one hash lookup in a table of `N` chains
/// (expected length one) and a bounded sweep of expired ids. Ids come from
/// the remote side, so a server could pick ids that collide; seed the hash
/// with [`with_hash_seed`](Self::with_hash_seed) from a random source when
/// that matters. The whole filter lives inline (about 32 bytes per id on a
/// 64-bit target), so keep `N` modest or store the filter in a `static`.
///
/// # Example
///
/// ```
/// use core::time::Duration;
/// use wstether::Instant;
/// use wstether::feed::DuplicateFilter;
///
/// let mut seen = DuplicateFilter::<256>::with_ttl(Duration::from_secs(60))?;
/// let now = Instant::from_secs(1);
/// assert!(seen.check_and_record(now, 42)); // new: process it
/// assert!(!seen.check_and_record(now, 42)); // replayed after a reconnect: skip
///
/// // A minute later the id is forgotten.
/// let later = now + Duration::from_secs(60);
/// assert!(seen.check_and_record(later, 42));
/// # Ok::<(), wstether::feed::DedupConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct DuplicateFilter<const N: usize> {
    /// The ring, in recording order; `next_write` is where the next id goes.
    slots: [Slot; N],
    /// The first slot of each hash chain.
    chain_heads: [usize; N],
    next_write: usize,
    /// Ring slots written and not yet evicted or swept, occupied or not.
    filled: usize,
    /// Ids currently in the table.
    live: usize,
    ttl_micros: Option<u64>,
    hash_seed: u64,
}

impl<const N: usize> Default for DuplicateFilter<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> DuplicateFilter<N> {
    /// A filter that remembers the last `N` ids with no time limit.
    ///
    /// With `N == 0` it remembers nothing and every id is new.
    pub const fn new() -> Self {
        DuplicateFilter {
            slots: [Slot::EMPTY; N],
            chain_heads: [NO_SLOT; N],
            next_write: 0,
            filled: 0,
            live: 0,
            ttl_micros: None,
            hash_seed: 0,
        }
    }

    /// A filter that remembers the last `N` ids, each for at most `ttl` after
    /// it was recorded.
    pub const fn with_ttl(ttl: Duration) -> Result<Self, DedupConfigError> {
        let ttl_micros = duration_micros(ttl);
        if ttl_micros == 0 {
            return Err(DedupConfigError::ZeroTtl);
        }
        let mut filter = Self::new();
        filter.ttl_micros = Some(ttl_micros);
        Ok(filter)
    }

    /// The same filter, emptied and with its hash keyed by `seed`, so that a
    /// peer cannot choose ids that all land in one chain.
    pub fn with_hash_seed(mut self, seed: u64) -> Self {
        self.clear();
        self.hash_seed = seed;
        self
    }

    /// Records `id` and returns `true` if it is new: not among the ids
    /// remembered (or remembered but past its time-to-live at `now`).
    ///
    /// A duplicate does not refresh the id's age or its place in the ring.
    pub fn check_and_record(&mut self, now: Instant, id: u64) -> bool {
        if N == 0 {
            return true;
        }
        self.sweep_expired(now);
        if let Some(index) = self.find(id) {
            if !self.is_expired(index, now) {
                return false;
            }
            // Seen again after its time-to-live: it moves to the newest end.
            self.unlink(index);
        }
        self.insert(now, id);
        true
    }

    /// Whether `id` is remembered and within its time-to-live at `now`,
    /// without recording it.
    pub fn contains(&self, now: Instant, id: u64) -> bool {
        self.find(id).is_some_and(|index| !self.is_expired(index, now))
    }

    /// How many ids are stored, including any past their time-to-live that
    /// have not been swept yet.
    pub const fn len(&self) -> usize {
        self.live
    }

    /// Whether no id is stored.
    pub const fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// How many ids the filter remembers at most.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// The time-to-live, if one was set.
    pub const fn ttl(&self) -> Option<Duration> {
        match self.ttl_micros {
            Some(micros) => Some(Duration::from_micros(micros)),
            None => None,
        }
    }

    /// Forgets every id.
    pub fn clear(&mut self) {
        self.slots = [Slot::EMPTY; N];
        self.chain_heads = [NO_SLOT; N];
        self.next_write = 0;
        self.filled = 0;
        self.live = 0;
    }

    fn is_expired(&self, index: usize, now: Instant) -> bool {
        let (Some(ttl_micros), Some(slot)) = (self.ttl_micros, self.slots.get(index)) else {
            return false;
        };
        now.as_micros().saturating_sub(slot.recorded_at.as_micros()) >= ttl_micros
    }

    /// The chain an id hashes to, always below `N` (for `N > 0`).
    fn chain_of(&self, id: u64) -> usize {
        // The splitmix64 finalizer spreads consecutive ids over all chains.
        let mut hash = id ^ self.hash_seed;
        hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        hash ^= hash >> 31;
        // Multiply-shift maps the hash onto 0..N without a division.
        ((u128::from(hash) * N as u128) >> 64) as usize
    }

    fn find(&self, id: u64) -> Option<usize> {
        let mut index = *self.chain_heads.get(self.chain_of(id))?;
        // A chain never holds more than N slots; the bound only proves that
        // the loop ends.
        for _ in 0..N {
            let slot = self.slots.get(index)?;
            if slot.id == id {
                return Some(index);
            }
            index = slot.next_in_chain;
        }
        None
    }

    /// Takes the slot at `index` out of its hash chain and marks it vacant.
    fn unlink(&mut self, index: usize) {
        let Some(slot) = self.slots.get(index).copied() else {
            return;
        };
        if !slot.occupied {
            return;
        }
        let chain = self.chain_of(slot.id);
        let Some(head) = self.chain_heads.get_mut(chain) else {
            return;
        };
        if *head == index {
            *head = slot.next_in_chain;
        } else {
            let mut previous = *head;
            for _ in 0..N {
                let Some(previous_slot) = self.slots.get_mut(previous) else {
                    break;
                };
                if previous_slot.next_in_chain == index {
                    previous_slot.next_in_chain = slot.next_in_chain;
                    break;
                }
                previous = previous_slot.next_in_chain;
            }
        }
        if let Some(vacated) = self.slots.get_mut(index) {
            *vacated = Slot::EMPTY;
        }
        self.live = self.live.saturating_sub(1);
    }

    fn insert(&mut self, now: Instant, id: u64) {
        let index = self.next_write;
        if self.filled == N {
            // The ring is full: the slot about to be reused holds the oldest.
            self.unlink(index);
        } else {
            self.filled = self.filled.saturating_add(1);
        }
        let chain = self.chain_of(id);
        let Some(head) = self.chain_heads.get_mut(chain) else {
            return;
        };
        let next_in_chain = *head;
        let Some(slot) = self.slots.get_mut(index) else {
            return;
        };
        *head = index;
        *slot = Slot {
            id,
            recorded_at: now,
            next_in_chain,
            occupied: true,
        };
        self.live = self.live.saturating_add(1);
        self.next_write = self.ring_step(index, 1);
    }

    /// Clears up to [`SWEEP_PER_CALL`] expired or vacant slots from the
    /// oldest end of the ring.
    fn sweep_expired(&mut self, now: Instant) {
        if self.ttl_micros.is_none() {
            return;
        }
        for _ in 0..SWEEP_PER_CALL {
            if self.filled == 0 {
                return;
            }
            let oldest = self.ring_step(self.next_write, N - self.filled);
            let Some(slot) = self.slots.get(oldest) else {
                return;
            };
            if slot.occupied {
                if !self.is_expired(oldest, now) {
                    return;
                }
                self.unlink(oldest);
            }
            self.filled -= 1;
        }
    }

    /// `index + steps` around the ring, for `index < N` and `steps <= N`.
    fn ring_step(&self, index: usize, steps: usize) -> usize {
        let Some(wrapped) = index.checked_add(steps).and_then(|sum| sum.checked_rem(N)) else {
            return 0;
        };
        wrapped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_ttl_is_refused() {
        assert_eq!(
            DuplicateFilter::<4>::with_ttl(Duration::ZERO).err(),
            Some(DedupConfigError::ZeroTtl)
        );
        assert_eq!(
            DuplicateFilter::<4>::with_ttl(Duration::from_nanos(999)).err(),
            Some(DedupConfigError::ZeroTtl)
        );
    }

    #[test]
    fn remembers_exactly_the_last_n() {
        let mut filter = DuplicateFilter::<3>::new();
        let now = Instant::ZERO;
        for id in [1, 2, 3] {
            assert!(filter.check_and_record(now, id));
        }
        assert_eq!(filter.len(), 3);
        assert!(!filter.check_and_record(now, 1));
        assert!(filter.check_and_record(now, 4)); // evicts 1
        assert!(!filter.contains(now, 1));
        assert!(filter.contains(now, 2));
        assert!(filter.contains(now, 3));
        assert!(filter.contains(now, 4));
        assert_eq!(filter.len(), 3);
    }

    #[test]
    fn ttl_edge_is_exact() {
        let ttl = Duration::from_millis(500);
        let mut filter = DuplicateFilter::<8>::with_ttl(ttl).unwrap();
        let recorded = Instant::from_secs(10);
        assert!(filter.check_and_record(recorded, 7));
        let just_before = recorded + ttl - Duration::from_micros(1);
        assert!(filter.contains(just_before, 7));
        assert!(!filter.check_and_record(just_before, 7));
        assert!(!filter.contains(recorded + ttl, 7));
        assert!(filter.check_and_record(recorded + ttl, 7));
        // Recorded again, so it counts from the new time.
        assert!(!filter.check_and_record(recorded + ttl + ttl - Duration::from_micros(1), 7));
    }

    #[test]
    fn expired_ids_are_swept_and_their_slots_reused() {
        let ttl = Duration::from_secs(1);
        let mut filter = DuplicateFilter::<4>::with_ttl(ttl).unwrap();
        for id in 0..4 {
            assert!(filter.check_and_record(Instant::ZERO, id));
        }
        let later = Instant::from_secs(5);
        assert!(filter.check_and_record(later, 100));
        assert_eq!(filter.len(), 1);
        for id in 101..104 {
            assert!(filter.check_and_record(later, id));
        }
        for id in 100..104 {
            assert!(filter.contains(later, id));
        }
    }

    #[test]
    fn zero_capacity_remembers_nothing() {
        let mut filter = DuplicateFilter::<0>::new();
        assert!(filter.check_and_record(Instant::ZERO, 1));
        assert!(filter.check_and_record(Instant::ZERO, 1));
        assert!(filter.is_empty());
    }

    #[test]
    fn colliding_ids_in_one_chain_are_kept_apart() {
        // With one chain every id collides.
        let mut filter = DuplicateFilter::<1>::new();
        assert!(filter.check_and_record(Instant::ZERO, 5));
        assert!(!filter.check_and_record(Instant::ZERO, 5));
        assert!(filter.check_and_record(Instant::ZERO, 6));
        assert!(filter.check_and_record(Instant::ZERO, 5));

        let mut filter = DuplicateFilter::<2>::new().with_hash_seed(99);
        for round in 0..50u64 {
            assert!(filter.check_and_record(Instant::ZERO, round));
            assert!(!filter.check_and_record(Instant::ZERO, round));
            if round > 0 {
                assert!(filter.contains(Instant::ZERO, round - 1));
            }
            assert_eq!(filter.len(), core::cmp::min(round as usize + 1, 2));
        }
    }

    #[test]
    fn time_going_backwards_keeps_ids() {
        let mut filter = DuplicateFilter::<4>::with_ttl(Duration::from_secs(1)).unwrap();
        assert!(filter.check_and_record(Instant::from_secs(10), 1));
        assert!(!filter.check_and_record(Instant::ZERO, 1));
    }
}

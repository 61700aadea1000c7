//! Property tests for the application helpers: sequence tracking, duplicate
//! filtering, clock offset and link health. Every case is driven by a seeded
//! `fastrand::Rng`, so a failure names its seed and replays exactly.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;
use std::vec::Vec;

use wstether::feed::ClockOffset;
use wstether::feed::DuplicateFilter;
use wstether::feed::LinkHealth;
use wstether::feed::{Arrival, SequenceTracker};
use wstether::Instant;

const SEEDS: u64 = 200;

/// Consecutive numbers from `base`, each moved by a random distance below
/// `max_shift`: the way a feed with several paths reorders.
fn locally_shuffled(rng: &mut fastrand::Rng, base: u64, count: u64, max_shift: u64) -> Vec<u64> {
    let mut keyed: Vec<(u64, u64)> = (0..count)
        .map(|offset| (offset + rng.u64(0..max_shift), base + offset))
        .collect();
    keyed.sort_unstable();
    keyed.into_iter().map(|(_, seq)| seq).collect()
}

/// The largest distance any number arrives behind the highest number before
/// it: the smallest window that accepts the whole stream.
fn largest_lag(stream: &[u64]) -> u64 {
    let mut highest: Option<u64> = None;
    let mut lag = 0;
    for &seq in stream {
        match highest {
            Some(high) if seq < high => lag = lag.max(high - seq),
            _ => highest = Some(seq),
        }
    }
    lag
}

#[test]
fn reordering_inside_the_window_loses_nothing() {
    for seed in 0..SEEDS {
        let mut rng = fastrand::Rng::with_seed(seed);
        let base = rng.u64(0..u64::MAX / 2);
        let count = rng.u64(1..1_500);
        let max_shift = rng.u64(1..24);
        let stream = locally_shuffled(&mut rng, base, count, max_shift);
        let window = largest_lag(&stream).max(1);

        let mut tracker = SequenceTracker::<64>::new(window).unwrap();
        tracker.reset(base);
        for &seq in &stream {
            let observation = tracker.observe(seq);
            assert!(observation.is_new(), "seed {seed}: {seq} called a duplicate");
            assert!(!observation.gave_up(), "seed {seed}: gave up at {seq}");
        }
        let stats = tracker.stats();
        assert_eq!(tracker.missing().len(), 0, "seed {seed}");
        assert_eq!(stats.lost, 0, "seed {seed}");
        assert_eq!(stats.overflowed, 0, "seed {seed}");
        assert_eq!(stats.duplicates, 0, "seed {seed}");
        assert_eq!(stats.out_of_order, stats.missing, "seed {seed}");
        assert_eq!(stats.in_order + stats.gaps + stats.out_of_order, count, "seed {seed}");

        // One number narrower and the most delayed arrival is given up on.
        if window > 1 {
            let mut narrow = SequenceTracker::<64>::new(window - 1).unwrap();
            narrow.reset(base);
            for &seq in &stream {
                let _ = narrow.observe(seq);
            }
            assert!(narrow.stats().lost > 0, "seed {seed}: window {window} was not tight");
        }
    }
}

/// What the tracker should say, kept with sets of plain numbers.
struct Reference {
    window: u64,
    highest: Option<u64>,
    seen: BTreeSet<u64>,
    pending: BTreeSet<u64>,
}

impl Reference {
    /// Returns the expected arrival and how many numbers it gives up on.
    fn observe(&mut self, seq: u64) -> (Arrival, u64) {
        let next = self.highest.map_or(0, |high| high + 1);
        if seq >= next {
            let arrival = if seq == next {
                Arrival::InOrder
            } else {
                self.pending.extend(next..seq);
                Arrival::Gap(wstether::feed::SeqRange::new(next, seq - 1).unwrap())
            };
            self.highest = Some(seq);
            self.seen.insert(seq);
            let cutoff = seq.saturating_sub(self.window);
            let kept = self.pending.split_off(&cutoff);
            let lost = self.pending.len() as u64;
            self.pending = kept;
            return (arrival, lost);
        }
        if self.pending.remove(&seq) {
            self.seen.insert(seq);
            (Arrival::Late, 0)
        } else {
            (Arrival::Duplicate, 0)
        }
    }
}

#[test]
fn arrivals_match_a_set_based_reference() {
    for seed in 0..SEEDS / 2 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let window = rng.u64(1..40);
        let mut tracker = SequenceTracker::<256>::new(window).unwrap();
        tracker.reset(0);
        let mut reference = Reference {
            window,
            highest: None,
            seen: BTreeSet::new(),
            pending: BTreeSet::new(),
        };
        let mut cursor = 0u64;
        for _ in 0..2_000 {
            // Mostly forward, sometimes a jump, a step back or a repeat.
            let seq = match rng.u8(0..10) {
                0..=5 => cursor,
                6 => cursor + rng.u64(1..60),
                7 | 8 => cursor.saturating_sub(rng.u64(1..50)),
                _ => cursor.saturating_sub(1),
            };
            cursor = cursor.max(seq + 1);
            let (arrival, lost) = reference.observe(seq);
            let observation = tracker.observe(seq);
            assert_eq!(observation.arrival, arrival, "seed {seed}: seq {seq}");
            assert_eq!(observation.lost, lost, "seed {seed}: seq {seq}");
            assert_eq!(observation.overflowed, 0, "seed {seed}: seq {seq}");
            let pending: Vec<u64> = tracker
                .missing()
                .flat_map(|range| range.start()..=range.end())
                .collect();
            assert!(pending.iter().eq(reference.pending.iter()), "seed {seed}: seq {seq}");
        }
        let stats = tracker.stats();
        assert_eq!(stats.received, 2_000);
        assert_eq!(
            stats.missing,
            stats.out_of_order + stats.lost + stats.overflowed + tracker.missing_count(),
            "seed {seed}"
        );
    }
}

#[test]
fn every_skipped_number_is_reported_missing_exactly_once() {
    for seed in 0..SEEDS / 2 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let window = rng.u64(1..100);
        // A small list, so that overflow happens too.
        let mut tracker = SequenceTracker::<3>::new(window).unwrap();
        tracker.reset(0);
        let mut reported: BTreeMap<u64, u32> = BTreeMap::new();
        let mut delivered: BTreeSet<u64> = BTreeSet::new();
        let mut late: BTreeSet<u64> = BTreeSet::new();
        let mut cursor = 0u64;
        for _ in 0..3_000 {
            let seq = if rng.bool() {
                cursor + rng.u64(0..8)
            } else {
                cursor.saturating_sub(rng.u64(0..120))
            };
            cursor = cursor.max(seq + 1);
            let observation = tracker.observe(seq);
            if let Some(range) = observation.missing() {
                for skipped in range.start()..=range.end() {
                    *reported.entry(skipped).or_default() += 1;
                    assert!(!delivered.contains(&skipped), "seed {seed}: {skipped} was delivered");
                }
            }
            match observation.arrival {
                Arrival::Late => {
                    assert_eq!(
                        reported.get(&seq),
                        Some(&1),
                        "seed {seed}: {seq} late but never missing"
                    );
                    assert!(late.insert(seq), "seed {seed}: {seq} late twice");
                }
                Arrival::Duplicate => {}
                Arrival::InOrder | Arrival::Gap(_) => {
                    assert!(!reported.contains_key(&seq), "seed {seed}: {seq}");
                }
            }
            if observation.is_new() {
                assert!(delivered.insert(seq), "seed {seed}: {seq} delivered twice");
            } else {
                assert!(
                    delivered.contains(&seq) || reported.contains_key(&seq),
                    "seed {seed}: {seq} never seen yet called a duplicate"
                );
            }
        }
        let highest = tracker.highest().unwrap();
        for number in 0..=highest {
            let times = reported.get(&number).copied().unwrap_or(0);
            let arrived_fresh = delivered.contains(&number) && !late.contains(&number);
            assert_eq!(
                times,
                u32::from(!arrived_fresh),
                "seed {seed}: {number} reported missing {times} times"
            );
        }
        let stats = tracker.stats();
        assert_eq!(stats.missing, reported.len() as u64, "seed {seed}");
        assert_eq!(
            stats.missing,
            stats.out_of_order + stats.lost + stats.overflowed + tracker.missing_count(),
            "seed {seed}"
        );
    }
}

fn within_ttl(ttl: Option<Duration>, age: Duration) -> bool {
    match ttl {
        Some(ttl) => age < ttl,
        None => true,
    }
}

/// Checks one filter against the plain statement of its guarantee: an id is
/// a duplicate exactly when one of the last `N` recorded ids equals it and is
/// still within the time-to-live.
fn check_filter<const N: usize>(seed: u64, ttl: Option<Duration>) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut filter = match ttl {
        Some(ttl) => DuplicateFilter::<N>::with_ttl(ttl).unwrap(),
        None => DuplicateFilter::<N>::new(),
    }
    .with_hash_seed(rng.u64(..));
    let mut recorded: VecDeque<(u64, Instant)> = VecDeque::new();
    let mut now = Instant::from_secs(rng.u64(0..1_000_000));
    let universe = (N as u64 * 3).max(4);
    for step in 0..5_000 {
        now = now + Duration::from_millis(rng.u64(0..50));
        let id = if rng.u8(0..4) == 0 {
            rng.u64(..)
        } else {
            rng.u64(0..universe)
        };
        let remembered = recorded.iter().any(|&(old, at)| old == id && within_ttl(ttl, now - at));
        assert_eq!(filter.contains(now, id), remembered, "seed {seed} step {step} id {id}");
        let is_new = filter.check_and_record(now, id);
        assert_eq!(is_new, !remembered, "seed {seed} step {step} id {id}");
        if is_new {
            recorded.push_back((id, now));
            if recorded.len() > N {
                recorded.pop_front();
            }
        }
        assert!(filter.len() <= N);
    }
}

#[test]
fn duplicate_filter_never_forgets_inside_its_capacity() {
    for seed in 0..SEEDS / 4 {
        check_filter::<1>(seed, None);
        check_filter::<16>(seed, None);
        check_filter::<100>(seed, None);
        check_filter::<1>(seed, Some(Duration::from_millis(30)));
        check_filter::<16>(seed, Some(Duration::from_millis(200)));
        check_filter::<100>(seed, Some(Duration::from_secs(2)));
        check_filter::<100>(seed, Some(Duration::from_secs(60)));
    }
}

#[test]
fn duplicate_filter_keeps_a_long_run_of_distinct_ids() {
    let mut filter = DuplicateFilter::<512>::new();
    let now = Instant::ZERO;
    for id in 0..10_000u64 {
        assert!(filter.check_and_record(now, id.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        // Everything in the last 512 is still there, the one before is not.
        let oldest_kept = id.saturating_sub(511);
        assert!(filter.contains(now, oldest_kept.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        if id >= 512 {
            assert!(!filter.contains(now, (id - 512).wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        }
    }
}

#[test]
fn clock_offset_is_recovered_within_the_sample_noise() {
    for seed in 0..SEEDS {
        let mut rng = fastrand::Rng::with_seed(seed);
        let true_offset = rng.i64(-1_000_000_000_000_000..2_000_000_000_000_000);
        let base_delay = rng.u64(100..50_000);
        let jitter = rng.u64(0..20_000);
        let mut clock = ClockOffset::<16>::new();
        let mut now = Instant::from_secs(rng.u64(1..1_000_000));
        for _ in 0..rng.usize(1..40) {
            now = now + Duration::from_millis(rng.u64(1..1_000));
            let up = base_delay + rng.u64(0..=jitter);
            // Now and then a reply sits in a queue far longer.
            let queued = if rng.u8(0..5) == 0 { rng.u64(0..500_000) } else { 0 };
            let down = base_delay + rng.u64(0..=jitter) + queued;
            let sent = now;
            let served_at = sent + Duration::from_micros(up);
            let received = served_at + Duration::from_micros(down);
            let server_time = served_at.as_micros() as i64 + true_offset;
            clock.add_sample(sent, server_time, received).unwrap();
            now = received;
        }
        let estimate = clock.offset_micros().unwrap();
        let error = estimate.abs_diff(true_offset);
        let uncertainty = clock.uncertainty().unwrap().as_micros() as u64;
        // Integer halving of the round trip can add half a microsecond.
        assert!(error <= uncertainty + 1, "seed {seed}: error {error} > {uncertainty}");
        assert!(
            error <= jitter / 2 + 250_000 + 1,
            "seed {seed}: error {error} with jitter {jitter}"
        );

        let local = now;
        let server = clock.local_to_server(local).unwrap();
        assert_eq!(clock.server_to_local(server), Some(local), "seed {seed}");
    }
}

#[test]
fn clock_offset_with_clean_samples_is_within_the_jitter() {
    for seed in 0..SEEDS {
        let mut rng = fastrand::Rng::with_seed(seed);
        let true_offset = rng.i64(-10_000_000..10_000_000);
        let jitter = rng.u64(0..2_000);
        let mut clock = ClockOffset::<8>::new();
        let mut now = Instant::from_secs(100);
        for _ in 0..8 {
            let up = 5_000 + rng.u64(0..=jitter);
            let down = 5_000 + rng.u64(0..=jitter);
            let served_at = now + Duration::from_micros(up);
            let received = served_at + Duration::from_micros(down);
            clock
                .add_sample(now, served_at.as_micros() as i64 + true_offset, received)
                .unwrap();
            now = received + Duration::from_secs(1);
        }
        let error = clock.offset_micros().unwrap().abs_diff(true_offset);
        assert!(error <= jitter / 2 + 1, "seed {seed}: error {error}, jitter {jitter}");
    }
}

/// Up time inside `from..to`, straight from the list of links.
fn up_between(links: &[(Instant, Option<Instant>)], from: Instant, to: Instant) -> u64 {
    links
        .iter()
        .map(|&(up, down)| {
            let start = up.max(from);
            let end = down.unwrap_or(to).min(to);
            end.as_micros().saturating_sub(start.as_micros())
        })
        .sum()
}

#[test]
fn link_health_matches_the_timeline() {
    for seed in 0..SEEDS {
        let mut rng = fastrand::Rng::with_seed(seed);
        let created = Instant::from_micros(rng.u64(0..1 << 40));
        let bucket = rng.u64(1..5_000_000);
        let window = Duration::from_micros(bucket * LinkHealth::BUCKETS as u64);
        let mut health = LinkHealth::new(created, window).unwrap();
        let mut links: Vec<(Instant, Option<Instant>)> = Vec::new();
        let mut now = created;
        for step in 0..400 {
            // Steps from a sliver of a bucket to more than a whole window.
            let step_micros = match rng.u8(0..4) {
                0 => rng.u64(0..bucket),
                1 | 2 => rng.u64(0..bucket * 8),
                _ => rng.u64(0..bucket * LinkHealth::BUCKETS as u64 * 2),
            };
            now = now + Duration::from_micros(step_micros);
            if rng.bool() {
                health.link_up(now);
                let already_up = matches!(links.last(), Some(&(_, None)));
                if !already_up {
                    links.push((now, None));
                }
            } else {
                health.link_down(now);
                if let Some((_, down @ None)) = links.last_mut() {
                    *down = Some(now);
                }
            }

            let probe = now + Duration::from_micros(rng.u64(0..bucket * 3));
            let bucket_now = (probe - created).as_micros() as u64 / bucket;
            let first = bucket_now.saturating_sub(LinkHealth::BUCKETS as u64 - 1);
            let window_start = created + Duration::from_micros(first * bucket);
            assert_eq!(health.window_start(probe), window_start, "seed {seed} step {step}");

            let covered = (probe - window_start).as_micros() as u64;
            let up = up_between(&links, window_start, probe);
            let expected_ppm = if covered == 0 {
                if health.is_up() {
                    1_000_000
                } else {
                    0
                }
            } else {
                (u128::from(up) * 1_000_000 / u128::from(covered)) as u32
            };
            assert_eq!(health.reliability_ppm(probe), expected_ppm, "seed {seed} step {step}");

            let reconnects = links
                .iter()
                .skip(1)
                .filter(|&&(up, _)| up >= window_start && up <= probe)
                .count() as u64;
            assert_eq!(
                health.reconnects_in_window(probe),
                reconnects,
                "seed {seed} step {step}"
            );
            if covered > 0 {
                assert_eq!(
                    health.reconnects_per_hour(probe),
                    (u128::from(reconnects) * 3_600_000_000 / u128::from(covered)) as u64,
                    "seed {seed} step {step}"
                );
            }

            let total = up_between(&links, created, probe);
            assert_eq!(health.total_uptime(probe), Duration::from_micros(total));
            let current = match links.last() {
                Some(&(up, None)) => probe - up,
                _ => Duration::ZERO,
            };
            assert_eq!(health.current_uptime(probe), current, "seed {seed} step {step}");
        }
    }
}

#[test]
fn link_health_window_edges_in_virtual_time() {
    // A one-hour window in one-minute buckets; the link was up for the first
    // ten minutes and has been down since.
    let start = Instant::from_secs(1_000);
    let minute = Duration::from_secs(60);
    let mut health = LinkHealth::new(start, Duration::from_secs(3_600)).unwrap();
    health.link_up(start);
    health.link_down(start + minute * 10);
    health.link_up(start + minute * 20);
    health.link_down(start + minute * 21);

    let tick = Duration::from_micros(1);
    // The window starts sliding when the 61st bucket opens.
    let slide = start + minute * 60;
    assert_eq!(health.window_start(slide - tick), start);
    assert_eq!(health.window_start(slide), start + minute);
    assert_eq!(health.reliability_permille(slide - tick), 183); // 11 of 60 minutes
    assert_eq!(health.reliability_permille(slide), 169); // 10 of 59 minutes

    // The second link (minute 20 to 21) and its reconnect leave the window
    // together, with the bucket that opened at minute 20.
    let leaves = start + minute * 80;
    assert_eq!(health.reconnects_in_window(leaves - tick), 1);
    assert_eq!(health.reconnects_in_window(leaves), 0);
    assert_eq!(health.reconnects_per_hour(leaves - tick), 1);
    assert_eq!(health.reconnects_per_hour(leaves), 0);
    assert!(health.reliability_ppm(leaves - tick) > 0);
    assert_eq!(health.reliability_ppm(leaves), 0);
    assert_eq!(health.total_uptime(leaves), minute * 11);
    assert_eq!(health.time_in_state(leaves), minute * 59);
}

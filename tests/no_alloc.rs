//! The core never touches the heap: 100 000 random inputs, zero allocations.

use fastrand::Rng;

#[path = "scripts/supervisor_ops.rs"]
mod supervisor_ops;

#[test]
fn core_makes_no_heap_allocations_across_100k_random_inputs() {
    let mut rng = Rng::with_seed(100_000);
    let mut scripts = [[0u8; 1_024]; 8];
    for script in &mut scripts {
        rng.fill(script);
    }
    let mut steps = 0;
    let info = allocation_counter::measure(|| {
        let mut round = 0usize;
        while steps < 100_000 {
            let script = &mut scripts[round % scripts.len()];
            // Vary the script in place: no new buffers inside the measurement.
            script[round % 1_024] = script[round % 1_024].wrapping_add(1);
            steps += supervisor_ops::run(script).steps;
            round += 1;
        }
    });
    assert!(steps >= 100_000);
    // The counter itself works: one small vector is one allocation.
    let control = allocation_counter::measure(|| drop(std::hint::black_box(vec![1u8])));
    assert_eq!(control.count_total, 1);
    assert_eq!(info.count_total, 0, "the core allocated: {info:?}");
}

#[test]
fn stream_helpers_make_no_heap_allocations() {
    use core::time::Duration;
    use wstether::feed::ClockOffset;
    use wstether::feed::DuplicateFilter;
    use wstether::feed::LinkHealth;
    use wstether::feed::SequenceTracker;
    use wstether::Instant;

    let mut rng = Rng::with_seed(6);
    let mut tracker = SequenceTracker::<16>::new(256).unwrap();
    let mut filter = DuplicateFilter::<128>::with_ttl(Duration::from_secs(5)).unwrap();
    let mut clock = ClockOffset::<8>::new();
    let mut health = LinkHealth::new(Instant::ZERO, Duration::from_secs(3_600)).unwrap();
    let mut seq = 0u64;
    let info = allocation_counter::measure(|| {
        for step in 0..100_000u64 {
            let now = Instant::from_millis(step * 10);
            // Mostly in order, with skips, repeats and reordering.
            seq = seq.saturating_add_signed(rng.i64(-3..=5));
            let _ = tracker.observe(seq);
            let _ = filter.check_and_record(now, rng.u64(0..1_000));
            let sent = now;
            let received = now + Duration::from_micros(rng.u64(100..5_000));
            let _ = clock.add_sample(sent, 1_000_000 + now.as_micros() as i64, received);
            if step % 97 == 0 {
                health.link_down(now);
            } else if step % 97 == 3 {
                health.link_up(now);
            }
            let _ = health.reliability_ppm(now);
        }
    });
    assert_eq!(info.count_total, 0, "the stream helpers allocated: {info:?}");
}

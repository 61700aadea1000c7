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

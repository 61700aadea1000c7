//! The core's cost per input: nanoseconds per input → drain cycle of a
//! `Supervisor`, allocations per cycle, and the supervisor's size.
//!
//! `cargo bench --bench core`. A small harness on `std::time::Instant`: every
//! case runs `SAMPLES` samples of `ITERS` iterations (after a warm-up sample)
//! and reports the median and the 99th percentile of the per-iteration time
//! across samples. Time is virtual: the supervisor never reads a clock.
//! `WSTETHER_CORE_ONLY=outage` runs only the cases whose name contains
//! `outage` (for a profiler).

use core::hint::black_box;
use core::time::Duration;
use std::time::Instant as StdInstant;

use wstether::{Action, AttemptId, Cause, Config, Failure, Inbound, Instant, Output, Supervisor};

const SAMPLES: usize = 51;
const ITERS: u64 = 100_000;

/// Median and p99 of per-iteration nanoseconds across samples.
struct Timing {
    median: f64,
    p99: f64,
}

fn time_per_iter(mut one: impl FnMut()) -> Timing {
    for _ in 0..ITERS {
        one();
    }
    let mut per_iter: Vec<f64> = (0..SAMPLES)
        .map(|_| {
            let start = StdInstant::now();
            for _ in 0..ITERS {
                one();
            }
            start.elapsed().as_nanos() as f64 / ITERS as f64
        })
        .collect();
    per_iter.sort_by(f64::total_cmp);
    Timing {
        median: per_iter[per_iter.len() / 2],
        p99: per_iter[(per_iter.len() * 99).div_ceil(100) - 1],
    }
}

/// Drains what the supervisor has for its driver, as the drain contract
/// asks; returns the id of a connect it asked for and the next deadline.
fn drain(sup: &mut Supervisor) -> (Option<AttemptId>, Instant) {
    let mut id = None;
    loop {
        // No black_box: poll_output mutates the queue, so every call happens.
        match sup.poll_output() {
            Output::Action(Action::Connect { id: attempt, .. }) => id = Some(attempt),
            Output::Action(_) | Output::Event(_) => {}
            Output::Timeout(deadline) => return (id, deadline.map_or(Instant::MAX, |d| d.at)),
        }
    }
}

fn connected(config: Config, now: Instant) -> Supervisor {
    let mut sup = Supervisor::new(config, 1).expect("valid config");
    sup.start(now);
    let (id, _) = drain(&mut sup);
    sup.handle_connected(now, id.expect("a connect"));
    drain(&mut sup);
    sup
}

/// One case: its name, the goal it is held to, and the cycle to time.
struct Case {
    name: &'static str,
    /// What one iteration is.
    what: &'static str,
    goal_ns: Option<f64>,
    timing: Timing,
    allocations: u64,
}

/// Runs the case unless `WSTETHER_CORE_ONLY` names others (a part of the
/// case's name, for profiling one cycle).
fn run_case(
    name: &'static str,
    what: &'static str,
    goal_ns: Option<f64>,
    mut setup: impl FnMut() -> Box<dyn FnMut()>,
) -> Option<Case> {
    if std::env::var("WSTETHER_CORE_ONLY").is_ok_and(|only| !name.contains(only.as_str())) {
        return None;
    }
    let mut one = setup();
    let timing = time_per_iter(&mut one);
    // A fresh state for the allocation count, so the cycles measured include
    // the first ones (where a lazily growing buffer would show up).
    let mut one = setup();
    let info = allocation_counter::measure(|| {
        for _ in 0..ITERS {
            one();
        }
    });
    Some(Case {
        name,
        what,
        goal_ns,
        timing,
        allocations: info.count_total,
    })
}

fn main() {
    let mut cases = Vec::new();

    cases.extend(run_case(
        "connected: data frame",
        "handle_inbound(Data) + handle_timeout + drain (t += 1 µs)",
        Some(50.0),
        || {
            let mut now = Instant::from_secs(1);
            let mut sup = connected(Config::default(), now);
            Box::new(move || {
                now = now + Duration::from_micros(1);
                sup.handle_inbound(black_box(now), Inbound::Data);
                sup.handle_timeout(black_box(now));
                drain(&mut sup);
            })
        },
    ));

    cases.extend(run_case(
        "connected: spurious timeout",
        "handle_timeout with nothing due + drain",
        Some(50.0),
        || {
            let now = Instant::from_secs(1);
            let mut sup = connected(Config::default(), now);
            Box::new(move || {
                sup.handle_timeout(black_box(now));
                drain(&mut sup);
            })
        },
    ));

    cases.extend(run_case(
        "connected: ping → pong",
        "ping deadline → SendPing → pong (handle_inbound(Control)) + drains",
        Some(50.0),
        || {
            let mut sup = connected(Config::default(), Instant::from_secs(1));
            Box::new(move || {
                let now = sup.poll_timeout().expect("a heartbeat deadline").at;
                sup.handle_timeout(black_box(now));
                drain(&mut sup);
                sup.handle_inbound(black_box(now), Inbound::Control);
                drain(&mut sup);
            })
        },
    ));

    cases.extend(run_case(
        "outage: fail → backoff → connect",
        "handle_connect_failed + drain + handle_timeout(retry) + drain",
        Some(50.0),
        || {
            let mut now = Instant::from_secs(1);
            let mut sup = Supervisor::new(Config::default(), 1).expect("valid config");
            sup.start(now);
            let (mut id, _) = drain(&mut sup);
            Box::new(move || {
                let attempt = id.expect("an attempt in progress");
                sup.handle_connect_failed(black_box(now), attempt, Failure::transient(Cause::Refused));
                let (_, retry_at) = drain(&mut sup);
                now = retry_at;
                sup.handle_timeout(black_box(now));
                (id, _) = drain(&mut sup);
            })
        },
    ));

    println!("wstether core benchmark: {SAMPLES} samples × {ITERS} iterations per case (after one warm-up sample)");
    println!("size_of::<Supervisor>() = {} bytes", core::mem::size_of::<Supervisor>());
    println!(
        "size_of::<Event>()      = {} bytes, size_of::<Action>() = {} bytes",
        core::mem::size_of::<wstether::Event>(),
        core::mem::size_of::<wstether::Action>()
    );
    println!();
    println!("| case | one iteration | median ns | p99 ns | goal | allocations in {ITERS} iterations |");
    println!("|---|---|---:|---:|---|---:|");
    let mut all_ok = true;
    for case in &cases {
        let goal = match case.goal_ns {
            Some(goal) if case.timing.median <= goal => format!("≤ {goal:.0} ns: met"),
            Some(goal) => {
                all_ok = false;
                format!("≤ {goal:.0} ns: MISSED")
            }
            None => "—".to_string(),
        };
        all_ok &= case.allocations == 0;
        println!(
            "| {} | {} | {:.1} | {:.1} | {} | {} |",
            case.name, case.what, case.timing.median, case.timing.p99, goal, case.allocations
        );
    }
    println!();
    println!(
        "{}",
        if all_ok {
            "all goals met, zero allocations"
        } else {
            "some goal missed (see table)"
        }
    );
}

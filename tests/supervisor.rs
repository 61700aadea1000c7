//! The supervisor in virtual time: the clock is stepped, never slept on, and
//! every random generator is seeded so a failure replays.

use core::time::Duration;

use fastrand::Rng;
use wstether::{
    Action, Backoff, BackoffConfig, BreakerState, Cause, Config, EndpointConfig, Event, Failure, HeartbeatConfig,
    Inbound, Instant, Jitter, LimitPolicy, RateLimitConfig, State, Supervisor, TimerReason,
};

#[path = "scripts/supervisor_ops.rs"]
mod supervisor_ops;

const MS: Duration = Duration::from_millis(1);

fn io() -> Failure {
    Failure::transient(Cause::Io)
}

fn plain_config() -> Config {
    Config {
        backoff: BackoffConfig {
            initial: Duration::from_millis(100),
            multiplier_permille: 2_000,
            cap: Duration::from_secs(3),
            jitter: Jitter::None,
            cap_jitter: None,
            stable_after: Duration::from_secs(10),
            ..BackoffConfig::default()
        },
        heartbeat: HeartbeatConfig {
            ping_interval: Some(Duration::from_secs(20)),
            pong_timeout: Duration::from_secs(5),
            idle_timeout: None,
        },
        ..Config::default()
    }
}

/// Drains the supervisor; returns its actions and events.
fn drain(sup: &mut Supervisor) -> (Vec<Action>, Vec<Event>) {
    let actions = core::iter::from_fn(|| sup.poll_action()).collect();
    let events = core::iter::from_fn(|| sup.poll_event()).collect();
    (actions, events)
}

fn scheduled_delay(events: &[Event]) -> Option<Duration> {
    events.iter().find_map(|e| match e {
        Event::ReconnectScheduled { delay, .. } => Some(delay.delay),
        _ => None,
    })
}

/// Jumps to the next deadline and handles it.
fn advance(sup: &mut Supervisor) -> (Instant, Vec<Action>, Vec<Event>) {
    let (deadline, _) = sup.poll_timeout().expect("a deadline");
    sup.handle_timeout(deadline);
    let (actions, events) = drain(sup);
    (deadline, actions, events)
}

#[test]
fn every_jitter_kind_stays_within_its_bounds() {
    let (initial, cap) = (100u64, 30_000u64);
    for seed in 0..200 {
        let mut rng = Rng::with_seed(seed);
        for base in [0u64, 1, 7, 100, 999, 30_000] {
            let previous = rng.u64(0..=cap);
            let d = |j: Jitter, rng: &mut Rng| j.apply(rng, base, initial, cap, previous);
            assert!(d(Jitter::None, &mut rng) == base);
            assert!(d(Jitter::Full, &mut rng) <= base);
            let equal = d(Jitter::Equal, &mut rng);
            assert!(equal >= base / 2 && equal <= base);
            let decorrelated = d(Jitter::Decorrelated, &mut rng);
            assert!(decorrelated >= initial.min(cap) && decorrelated <= cap.min(3 * previous.max(initial)));
            let proportional = d(Jitter::Proportional(300), &mut rng);
            assert!(proportional >= base && proportional <= base + base * 3 / 10);
            let symmetric = d(Jitter::Symmetric(200), &mut rng);
            assert!(
                symmetric >= base - base / 5 && symmetric <= base + base / 5,
                "{symmetric} for {base}"
            );
        }
    }
}

#[test]
fn without_jitter_delays_follow_the_closed_form_and_the_cap_holds() {
    let config = plain_config();
    let mut sup = Supervisor::new(config, 1).unwrap();
    let mut now = Instant::ZERO;
    sup.start(now);
    let mut delays = Vec::new();
    for _ in 0..10 {
        drain(&mut sup);
        sup.handle_connect_failed(now, io());
        let (_, events) = drain(&mut sup);
        delays.push(scheduled_delay(&events).unwrap().as_millis() as u64);
        now = sup.poll_timeout().unwrap().0;
        sup.handle_timeout(now);
    }
    let expected: Vec<u64> = (0..10).map(|n| (100u64 << n).min(3_000)).collect();
    assert_eq!(delays, expected);
}

#[test]
fn the_cap_holds_for_every_jitter_kind() {
    for jitter in [
        Jitter::Full,
        Jitter::Equal,
        Jitter::Decorrelated,
        Jitter::Symmetric(500),
        Jitter::Proportional(300),
    ] {
        let mut config = plain_config();
        config.backoff.jitter = jitter;
        let bound = jitter.max_for(3_000, 3_000);
        for seed in 0..20 {
            let mut sup = Supervisor::new(config, seed).unwrap();
            let mut now = Instant::ZERO;
            sup.start(now);
            for _ in 0..30 {
                drain(&mut sup);
                sup.handle_connect_failed(now, io());
                let (_, events) = drain(&mut sup);
                let delay = scheduled_delay(&events).unwrap();
                assert!(delay.as_millis() as u64 <= bound, "{jitter:?}: {delay:?}");
                now = sup.poll_timeout().unwrap().0;
                sup.handle_timeout(now);
            }
        }
    }
}

#[test]
fn no_overflow_at_extreme_attempts_and_durations() {
    let config = BackoffConfig {
        initial: Duration::from_secs(u64::MAX / 4),
        cap: Duration::MAX,
        multiplier_permille: u32::MAX,
        jitter: Jitter::Symmetric(1_000),
        ..BackoffConfig::default()
    };
    let mut rng = Rng::with_seed(9);
    let mut backoff = Backoff::after_failures(&config, u32::MAX);
    for _ in 0..10 {
        backoff.next_delay(&config, &mut rng, Some(Duration::MAX));
    }
    assert_eq!(backoff.failures(), u32::MAX);

    let mut sup = Supervisor::new(
        Config {
            backoff: config,
            ..Config::default()
        },
        3,
    )
    .unwrap();
    let late = Instant::MAX - Duration::from_secs(1);
    sup.start(late);
    for _ in 0..100 {
        drain(&mut sup);
        sup.handle_connect_failed(Instant::MAX, io());
        sup.handle_timeout(Instant::MAX);
    }
}

#[test]
fn invalid_configurations_are_errors() {
    let base = Config::default();
    let mut bad = Vec::new();
    let mut c = base;
    c.backoff.multiplier_permille = 500;
    bad.push(c);
    let mut c = base;
    c.heartbeat.pong_timeout = Duration::ZERO;
    bad.push(c);
    let mut c = base;
    c.rate_limit = Some(RateLimitConfig {
        attempts: 0,
        window: Duration::from_secs(1),
    });
    bad.push(c);
    let mut c = base;
    c.endpoints.count = 0;
    bad.push(c);
    let mut c = base;
    c.connect_timeout = Duration::ZERO;
    bad.push(c);
    for config in bad {
        assert!(Supervisor::new(config, 0).is_err(), "{config:?}");
    }
    assert!(Supervisor::new(base, 0).is_ok());
}

#[test]
fn attempt_limit_gives_up_exactly_once_then_nothing_happens() {
    let mut config = plain_config();
    config.backoff.max_attempts = Some(3);
    let mut sup = Supervisor::new(config, 5).unwrap();
    let mut now = Instant::ZERO;
    sup.start(now);
    let mut gave_up = 0;
    let mut connects = 0;
    for _ in 0..10 {
        let (actions, events) = drain(&mut sup);
        connects += actions.iter().filter(|a| matches!(a, Action::Connect { .. })).count();
        gave_up += events
            .iter()
            .filter(|e| matches!(e, Event::GaveUp { attempts: 3 }))
            .count();
        sup.handle_connect_failed(now, io());
        let (_, events) = drain(&mut sup);
        gave_up += events
            .iter()
            .filter(|e| matches!(e, Event::GaveUp { attempts: 3 }))
            .count();
        if let Some((t, _)) = sup.poll_timeout() {
            now = t;
        }
        sup.handle_timeout(now);
    }
    assert_eq!((connects, gave_up), (3, 1));
    assert_eq!(sup.state(), State::Failed);
    assert_eq!(sup.poll_timeout(), None);
    sup.handle_timeout(now + Duration::from_secs(3_600));
    assert_eq!(drain(&mut sup), (vec![], vec![]));
    assert_eq!(sup.stats().limit_reached, 1);
}

#[test]
fn a_flapping_link_keeps_growing_delays_and_a_stable_one_resets() {
    let config = plain_config();
    let mut sup = Supervisor::new(config, 2).unwrap();
    let mut now = Instant::ZERO;
    sup.start(now);
    let mut delays = Vec::new();
    for _ in 0..5 {
        drain(&mut sup);
        sup.handle_connected(now);
        // Up for a second, well before stable_after (10 s).
        now = now + Duration::from_secs(1);
        sup.handle_disconnected(now, Failure::close(1001, &Default::default()));
        let (_, events) = drain(&mut sup);
        delays.push(scheduled_delay(&events).unwrap().as_millis());
        now = sup.poll_timeout().unwrap().0;
        sup.handle_timeout(now);
    }
    assert_eq!(delays, [100, 200, 400, 800, 1_600]);

    drain(&mut sup);
    sup.handle_connected(now);
    let stable_at = now + Duration::from_secs(10);
    sup.handle_timeout(stable_at - MS);
    assert!(!drain(&mut sup).1.contains(&Event::Stable));
    sup.handle_timeout(stable_at);
    assert!(drain(&mut sup).1.contains(&Event::Stable));
    sup.handle_disconnected(stable_at + MS, io());
    let (_, events) = drain(&mut sup);
    assert_eq!(scheduled_delay(&events), Some(Duration::from_millis(100)));
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::ReconnectScheduled { attempt: 1, .. })));
}

#[test]
fn retry_after_is_a_floor_clamped_and_spread() {
    let mut config = plain_config();
    config.backoff.max_retry_after = Duration::from_secs(120);
    for (retry_after, low, high) in [(30u64, 30_000u64, 36_000u64), (86_400, 120_000, 144_000)] {
        let mut seen = Vec::new();
        for seed in 0..50 {
            let mut sup = Supervisor::new(config, seed).unwrap();
            sup.start(Instant::ZERO);
            drain(&mut sup);
            sup.handle_connect_failed(
                Instant::ZERO,
                Failure::http_status(429, Some(Duration::from_secs(retry_after))),
            );
            let delay = scheduled_delay(&drain(&mut sup).1).unwrap().as_millis() as u64;
            assert!((low..=high).contains(&delay), "{delay}");
            seen.push(delay);
        }
        seen.sort_unstable();
        seen.dedup();
        assert!(seen.len() > 40, "a fleet must not come back in the same instant");
    }
    // Close 1013 without a header waits at least the rate-limited floor.
    let mut sup = Supervisor::new(config, 1).unwrap();
    sup.start(Instant::ZERO);
    drain(&mut sup);
    sup.handle_connected(Instant::ZERO);
    sup.handle_disconnected(Instant::ZERO, Failure::close(1013, &Default::default()));
    assert!(scheduled_delay(&drain(&mut sup).1).unwrap() >= config.backoff.rate_limited_floor);
}

#[test]
fn a_permanent_failure_stops_without_retrying() {
    for failure in [
        Failure::http_status(401, None),
        Failure::http_status(403, None),
        Failure::permanent(Cause::Certificate),
        Failure::close(1008, &Default::default()),
    ] {
        let mut sup = Supervisor::new(plain_config(), 1).unwrap();
        sup.start(Instant::ZERO);
        drain(&mut sup);
        sup.handle_connect_failed(Instant::ZERO, failure);
        let (actions, events) = drain(&mut sup);
        assert!(actions.is_empty());
        assert!(events.contains(&Event::Rejected { failure }));
        assert_eq!(sup.state(), State::Failed);
        assert_eq!(sup.poll_timeout(), None);
    }
}

#[test]
fn heartbeat_deadlines_hold_on_both_sides() {
    let mut sup = Supervisor::new(plain_config(), 1).unwrap();
    let t0 = Instant::from_secs(5);
    sup.start(t0);
    drain(&mut sup);
    sup.handle_connected(t0);
    drain(&mut sup);
    let ping_at = t0 + Duration::from_secs(20);
    sup.handle_timeout(ping_at - MS);
    assert!(!drain(&mut sup).0.contains(&Action::SendPing));
    sup.handle_timeout(ping_at);
    assert_eq!(drain(&mut sup).0, vec![Action::SendPing]);
    assert_eq!(sup.poll_timeout().map(|(_, r)| r), Some(TimerReason::PongTimeout));
    let pong_by = ping_at + Duration::from_secs(5);
    sup.handle_timeout(pong_by - MS);
    assert_eq!(sup.state(), State::Connected);
    sup.handle_timeout(pong_by);
    let (actions, events) = drain(&mut sup);
    assert!(events.contains(&Event::HeartbeatTimeout));
    assert!(matches!(actions.as_slice(), [Action::Drop { failure }] if failure.cause == Cause::HeartbeatTimeout));
    assert_eq!(sup.state(), State::Backoff);
    assert_eq!(sup.stats().heartbeat_timeouts, 1);
}

#[test]
fn a_pong_clears_the_deadline_and_any_frame_counts_as_life() {
    let mut sup = Supervisor::new(plain_config(), 1).unwrap();
    sup.start(Instant::ZERO);
    sup.handle_connected(Instant::ZERO);
    drain(&mut sup);
    sup.handle_timeout(Instant::from_secs(20));
    drain(&mut sup);
    sup.handle_inbound(Instant::from_secs(24), Inbound::Control);
    sup.handle_timeout(Instant::from_secs(30));
    assert_eq!(sup.state(), State::Connected);
    assert_eq!(sup.poll_timeout().map(|(t, _)| t), Some(Instant::from_secs(44)));
}

#[test]
fn idle_deadline_holds_on_both_sides_and_ignores_pongs() {
    let mut config = plain_config();
    config.heartbeat.idle_timeout = Some(Duration::from_secs(60));
    let mut sup = Supervisor::new(config, 1).unwrap();
    sup.start(Instant::ZERO);
    sup.handle_connected(Instant::ZERO);
    sup.handle_inbound(Instant::from_secs(10), Inbound::Data);
    let idle_at = Instant::from_secs(70);
    let mut now = Instant::from_secs(10);
    // Pings answered every interval, but no data.
    while now < idle_at - Duration::from_secs(1) {
        now = now + Duration::from_secs(1);
        sup.handle_inbound(now, Inbound::Control);
        sup.handle_timeout(now);
    }
    sup.handle_timeout(idle_at - MS);
    assert_eq!(sup.state(), State::Connected);
    sup.handle_timeout(idle_at);
    assert!(drain(&mut sup).1.contains(&Event::IdleTimeout));
    assert_eq!(sup.state(), State::Backoff);
}

#[test]
fn connect_timeout_holds_on_both_sides() {
    let mut config = plain_config();
    config.connect_timeout = Duration::from_secs(4);
    let mut sup = Supervisor::new(config, 1).unwrap();
    sup.start(Instant::ZERO);
    drain(&mut sup);
    sup.handle_timeout(Instant::from_secs(4) - MS);
    assert_eq!(sup.state(), State::Connecting);
    sup.handle_timeout(Instant::from_secs(4));
    let (actions, _) = drain(&mut sup);
    assert!(matches!(actions.as_slice(), [Action::Drop { failure }] if failure.cause == Cause::Timeout));
    assert_eq!(sup.state(), State::Backoff);
}

#[test]
fn breaker_opens_probes_once_and_closes_on_a_stable_link() {
    let mut config = plain_config();
    config.backoff.max_attempts = Some(2);
    config.on_limit = LimitPolicy::Breaker {
        cool_down: Duration::from_secs(60),
    };
    let mut sup = Supervisor::new(config, 1).unwrap();
    let mut now = Instant::ZERO;
    sup.start(now);
    drain(&mut sup);
    sup.handle_connect_failed(now, io());
    (now, _, _) = advance(&mut sup);
    sup.handle_connect_failed(now, io());
    let (_, events) = drain(&mut sup);
    assert!(events.contains(&Event::BreakerOpened {
        cool_down: Duration::from_secs(60)
    }));
    assert_eq!(sup.breaker(), BreakerState::Open);
    let probe_at = now + Duration::from_secs(60);
    sup.handle_timeout(probe_at - MS);
    assert_eq!(sup.breaker(), BreakerState::Open);
    // The probe fails: open again.
    let (t, actions, events) = advance(&mut sup);
    assert_eq!(t, probe_at);
    assert!(events.contains(&Event::BreakerHalfOpen));
    assert!(matches!(actions.as_slice(), [Action::Connect { .. }]));
    sup.handle_connect_failed(t, io());
    assert!(drain(&mut sup).1.contains(&Event::BreakerOpened {
        cool_down: Duration::from_secs(60)
    }));
    // The next probe connects and stays up: closed.
    let (t, _, _) = advance(&mut sup);
    sup.handle_connected(t);
    let (_, _, events) = advance(&mut sup);
    assert!(events.contains(&Event::BreakerClosed));
    assert_eq!(sup.breaker(), BreakerState::Closed);
}

#[test]
fn rate_limit_is_never_exceeded_over_a_long_random_run() {
    let config = Config {
        rate_limit: Some(RateLimitConfig {
            attempts: 5,
            window: Duration::from_secs(60),
        }),
        backoff: BackoffConfig {
            initial: Duration::from_millis(10),
            cap: Duration::from_millis(500),
            ..BackoffConfig::default()
        },
        ..Config::default()
    };
    let mut rng = Rng::with_seed(77);
    let mut sup = Supervisor::new(config, 77).unwrap();
    let mut now = Instant::ZERO;
    sup.start(now);
    let mut attempts: Vec<Instant> = Vec::new();
    for _ in 0..20_000 {
        for action in core::iter::from_fn(|| sup.poll_action()) {
            if matches!(action, Action::Connect { .. }) {
                attempts.push(now);
            }
        }
        while sup.poll_event().is_some() {}
        now = now + Duration::from_millis(rng.u64(0..2_000));
        match rng.u8(0..4) {
            0 => sup.handle_connected(now),
            1 => sup.handle_connect_failed(now, io()),
            2 => sup.handle_disconnected(now, io()),
            _ => sup.handle_timeout(now),
        }
    }
    assert!(
        attempts.len() > 100,
        "the run must actually attempt: {}",
        attempts.len()
    );
    for (i, start) in attempts.iter().enumerate() {
        let in_window = attempts[i..]
            .iter()
            .take_while(|t| **t - *start < Duration::from_secs(60))
            .count();
        assert!(in_window <= 5, "{in_window} attempts in 60 s from {start}");
    }
}

#[test]
fn close_is_safe_in_every_state() {
    let reach: [fn(&mut Supervisor); 6] = [
        |_| {},
        |s| s.start(Instant::ZERO),
        |s| {
            s.start(Instant::ZERO);
            s.handle_connected(Instant::ZERO)
        },
        |s| {
            s.start(Instant::ZERO);
            s.handle_connect_failed(Instant::ZERO, Failure::transient(Cause::Io))
        },
        |s| {
            s.start(Instant::ZERO);
            s.close(Instant::ZERO)
        },
        |s| {
            s.start(Instant::ZERO);
            s.handle_connect_failed(Instant::ZERO, Failure::http_status(403, None))
        },
    ];
    // One way to reach each state, in `State::ALL` order.
    for (reach, state) in reach.iter().zip(State::ALL) {
        let mut sup = Supervisor::new(plain_config(), 1).unwrap();
        reach(&mut sup);
        assert_eq!(sup.state(), state);
        drain(&mut sup);
        sup.close(Instant::from_secs(1));
        let (actions, _) = drain(&mut sup);
        let wants_close = matches!(state, State::Connecting | State::Connected);
        assert_eq!(
            actions,
            if wants_close { vec![Action::Close] } else { vec![] },
            "{state:?}"
        );
        assert!(sup.state().is_final());
        assert_eq!(sup.poll_timeout(), None);
        sup.close(Instant::from_secs(2));
        sup.handle_connected(Instant::from_secs(2));
        sup.handle_timeout(Instant::from_secs(100));
        assert_eq!(drain(&mut sup).0, vec![]);
    }
}

#[test]
fn endpoints_rotate_after_consecutive_failures() {
    let mut config = plain_config();
    config.endpoints = EndpointConfig {
        count: 3,
        rotate_after: 2,
    };
    let mut sup = Supervisor::new(config, 1).unwrap();
    let mut now = Instant::ZERO;
    sup.start(now);
    let mut endpoints = Vec::new();
    let mut actions = drain(&mut sup).0;
    for _ in 0..7 {
        for action in actions {
            if let Action::Connect { endpoint, .. } = action {
                endpoints.push(endpoint);
            }
        }
        sup.handle_connect_failed(now, io());
        (now, actions, _) = advance(&mut sup);
    }
    assert_eq!(endpoints, [0, 0, 1, 1, 2, 2, 0]);
}

#[test]
fn elapsed_budget_gives_up() {
    let mut config = plain_config();
    config.backoff.max_elapsed = Some(Duration::from_secs(5));
    let mut sup = Supervisor::new(config, 1).unwrap();
    let mut now = Instant::ZERO;
    sup.start(now);
    let mut events = Vec::new();
    while sup.state() != State::Failed {
        drain(&mut sup);
        sup.handle_connect_failed(now, io());
        events.extend(drain(&mut sup).1);
        if let Some((t, _)) = sup.poll_timeout() {
            now = t;
            sup.handle_timeout(now);
        }
    }
    assert!(now <= Instant::from_secs(5));
    assert!(events.iter().any(|e| matches!(e, Event::GaveUp { .. })));
}

#[test]
fn stats_track_time_and_render_as_prometheus() {
    let mut sup = Supervisor::new(plain_config(), 1).unwrap();
    sup.start(Instant::ZERO);
    sup.handle_connected(Instant::from_secs(1));
    sup.handle_disconnected(Instant::from_secs(4), io());
    let snap = sup.snapshot(Instant::from_secs(4));
    assert_eq!(snap.total_uptime, Duration::from_secs(3));
    assert_eq!(snap.reliability_ppm(), 750_000);
    assert_eq!(snap.time_in(State::Connecting), Duration::from_secs(1));
    let mut text = String::new();
    snap.write_prometheus(&mut text, &[("feed", "a\"b")]).unwrap();
    assert!(text.contains("wstether_connects_total{feed=\"a\\\"b\"} 1\n"), "{text}");
    assert!(text.contains("wstether_reconnect_delay_seconds_bucket{feed=\"a\\\"b\",le=\"1\"} 1\n"));
    assert!(text.contains("wstether_reconnect_delay_seconds_bucket{feed=\"a\\\"b\",le=\"+Inf\"} 1\n"));
    assert!(text.contains("wstether_uptime_seconds{feed=\"a\\\"b\"} 3.000\n"));
    assert!(text.contains("wstether_reliability_ratio{feed=\"a\\\"b\"} 0.750000\n"));
    assert!(text.contains("wstether_state{feed=\"a\\\"b\",state=\"backoff\"} 1\n"));
}

#[test]
fn virtual_time_soak_of_random_scripts() {
    let mut rng = Rng::with_seed(2026);
    let (mut steps, mut connects, mut runs) = (0, 0, 0);
    let mut script = [0u8; 512];
    while steps < 1_000_000 {
        rng.fill(&mut script);
        let outcome = supervisor_ops::run(&script);
        steps += outcome.steps;
        connects += outcome.connects_requested;
        runs += 1;
    }
    assert!(
        connects > runs,
        "the soak must exercise reconnects: {connects} in {runs} runs"
    );
}

#[test]
fn a_million_link_cycles_with_random_failures_keep_the_counters_consistent() {
    let mut config = plain_config();
    config.backoff.jitter = Jitter::Full;
    config.backoff.stable_after = Duration::from_secs(10);
    config.heartbeat = HeartbeatConfig {
        ping_interval: Some(Duration::from_secs(5)),
        pong_timeout: Duration::from_secs(2),
        idle_timeout: None,
    };
    let mut rng = Rng::with_seed(1_000_000);
    let mut sup = Supervisor::new(config, 1_000_000).unwrap();
    let mut now = Instant::ZERO;
    let (mut attempts, mut connects, mut connect_failures, mut links_ended, mut events) =
        (0u64, 0u64, 0u64, 0u64, 0u64);
    sup.start(now);
    // A connect that an earlier drain already took (a retry due at once).
    let mut connect_taken = false;
    while attempts < 1_000_000 {
        // Exactly one attempt is due now.
        if !core::mem::take(&mut connect_taken) {
            let action = sup.poll_action();
            assert!(
                matches!(action, Some(Action::Connect { .. })),
                "{action:?} in {:?}",
                sup.state()
            );
        }
        assert_eq!(sup.state(), State::Connecting);
        attempts += 1;
        events += core::iter::from_fn(|| sup.poll_event()).count() as u64;
        if rng.u8(0..10) < 3 {
            sup.handle_connect_failed(now, Failure::transient(Cause::Refused));
            connect_failures += 1;
        } else {
            sup.handle_connected(now);
            connects += 1;
            // The link lives a random while; now and then its pongs go missing.
            let ends_at = now + Duration::from_millis(rng.u64(0..40_000));
            let answers_pings = rng.u8(0..10) > 0;
            while sup.state() == State::Connected {
                match sup.poll_timeout() {
                    Some((t, _)) if t <= ends_at => {
                        now = t;
                        sup.handle_timeout(now);
                        while let Some(action) = sup.poll_action() {
                            match action {
                                Action::SendPing if answers_pings => sup.handle_inbound(now, Inbound::Control),
                                // A missed pong dropped the link and a zero delay retried at once.
                                Action::Connect { .. } => connect_taken = true,
                                _ => {}
                            }
                        }
                    }
                    _ => {
                        now = ends_at;
                        sup.handle_disconnected(now, Failure::transient(Cause::Abnormal));
                    }
                }
            }
            links_ended += 1;
        }
        events += core::iter::from_fn(|| sup.poll_event()).count() as u64;
        if connect_taken {
            continue;
        }
        assert_eq!(sup.state(), State::Backoff);
        let (retry_at, reason) = sup.poll_timeout().expect("a retry is scheduled");
        assert_eq!(reason, TimerReason::Reconnect);
        assert!(retry_at >= now);
        now = retry_at;
        sup.handle_timeout(now);
    }
    let stats = sup.stats();
    // The last retry started an attempt the loop did not get to.
    let started_after_the_loop = u64::from(sup.state() == State::Connecting);
    assert_eq!(stats.attempts, attempts + started_after_the_loop);
    assert_eq!(stats.connects, connects);
    assert_eq!(stats.disconnects, links_ended);
    assert_eq!(stats.failures_transient, connect_failures + links_ended);
    assert_eq!(stats.delays(), connect_failures + links_ended);
    assert_eq!(stats.events_dropped, 0);
    assert!(stats.heartbeat_timeouts > 0 && stats.heartbeat_timeouts < links_ended);
    assert!(events > 4 * attempts);
    let snapshot = sup.snapshot(now);
    assert!(snapshot.total_uptime <= snapshot.lifetime);
}

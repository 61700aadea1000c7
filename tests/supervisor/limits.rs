//! Where retrying stops: the attempt limit, permanent failures, and our own
//! connect rate limit.

use core::time::Duration;

use fastrand::Rng;
use wstether::{
    Action, BackoffConfig, Cause, Config, ConnectRateLimit, Event, Failure, Instant, Outcome, State, Supervisor,
};

use crate::{io, plain_config, Driven};

#[test]
fn attempt_limit_gives_up_exactly_once_then_nothing_happens() {
    let mut config = plain_config();
    config.backoff.max_attempts = Some(3);
    let mut d = Driven::new(config, 5);
    let mut now = Instant::ZERO;
    d.start(now);
    let (mut gave_up, mut connects) = (0, 0);
    for _ in 0..10 {
        d.connect_failed(now, io());
        if let Some(deadline) = d.deadline() {
            now = deadline.at;
        }
        d.timeout(now);
        let (actions, events) = d.take();
        connects += actions.iter().filter(|a| matches!(a, Action::Connect { .. })).count();
        gave_up += events
            .iter()
            .filter(|e| matches!(e, Event::GaveUp { attempts: 3 }))
            .count();
    }
    assert_eq!((connects, gave_up), (3, 1));
    assert_eq!(d.sup.state(), State::Failed);
    assert_eq!(d.sup.outcome(), Some(Outcome::GaveUp { attempts: 3 }));
    assert_eq!(d.deadline(), None);
    d.timeout(now + Duration::from_secs(3_600));
    assert_eq!(d.take(), (vec![], vec![]));
    assert_eq!(d.stats.counters().limit_reached, 1);
}

#[test]
fn a_permanent_failure_stops_without_retrying() {
    for failure in [
        Failure::http_status(401, None),
        Failure::http_status(403, None),
        Failure::permanent(Cause::Certificate),
        Failure::close(1008, &Default::default()),
    ] {
        let mut d = Driven::new(plain_config(), 1);
        d.start(Instant::ZERO);
        d.take();
        d.connect_failed(Instant::ZERO, failure);
        let (actions, events) = d.take();
        assert!(actions.is_empty());
        assert!(events.contains(&Event::Rejected { failure }));
        assert_eq!(d.sup.state(), State::Failed);
        assert_eq!(d.sup.outcome(), Some(Outcome::Rejected { failure }));
        assert_eq!(d.deadline(), None);
    }
}

#[test]
fn rate_limit_is_never_exceeded_over_a_long_random_run() {
    let config = Config {
        connect_rate_limit: Some(ConnectRateLimit {
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
    let mut d = Driven::new(config, 77);
    let mut now = Instant::ZERO;
    d.start(now);
    let mut attempts: Vec<Instant> = Vec::new();
    for _ in 0..20_000 {
        let connects = d
            .take()
            .0
            .iter()
            .filter(|a| matches!(a, Action::Connect { .. }))
            .count();
        attempts.extend(core::iter::repeat_n(now, connects));
        now = now + Duration::from_millis(rng.u64(0..2_000));
        match rng.u8(0..4) {
            0 => d.connected(now),
            1 => d.connect_failed(now, io()),
            2 => d.disconnected(now, io()),
            _ => d.timeout(now),
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
fn a_throttled_start_waits_for_the_rate_limit() {
    let config = Config {
        connect_rate_limit: Some(ConnectRateLimit {
            attempts: 1,
            window: Duration::from_secs(10),
        }),
        ..plain_config()
    };
    let mut d = Driven::new(config, 1);
    d.start(Instant::ZERO);
    d.connect_failed(Instant::ZERO, io());
    d.take();
    // The 100 ms backoff is over, but the one attempt of this window was spent.
    d.timeout(Instant::from_millis(100));
    assert_eq!(d.take().1, vec![Event::Throttled { wait_ms: 9_900 }]);
    assert_eq!(d.sup.state(), State::Backoff);
    let _ = Supervisor::new(config, 0).unwrap();
}

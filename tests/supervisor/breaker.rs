//! The breaker: opens when attempts run out, probes once after the
//! cool-down, opens again on a failed probe, closes on a stable link.

use core::time::Duration;

use wstether::{Action, BreakerState, Event, Instant, LimitPolicy};

use crate::{io, plain_config, Driven, MS};

#[test]
fn breaker_opens_probes_once_and_closes_on_a_stable_link() {
    let mut config = plain_config();
    config.backoff.max_attempts = Some(2);
    config.on_limit = LimitPolicy::Breaker {
        cool_down: Duration::from_secs(60),
    };
    let mut d = Driven::new(config, 1);
    let mut now = Instant::ZERO;
    d.start(now);
    d.connect_failed(now, io());
    (now, _, _) = d.advance();
    d.connect_failed(now, io());
    let (_, events) = d.take();
    assert!(events.contains(&Event::BreakerOpened { cool_down_ms: 60_000 }));
    assert_eq!(d.sup.breaker(), BreakerState::Open);
    let probe_at = now + Duration::from_secs(60);
    d.timeout(probe_at - MS);
    assert_eq!(d.sup.breaker(), BreakerState::Open);
    // The probe fails: open again.
    let (t, actions, events) = d.advance();
    assert_eq!(t, probe_at);
    assert!(events.contains(&Event::BreakerHalfOpen));
    assert!(matches!(actions.as_slice(), [Action::Connect { .. }]));
    d.connect_failed(t, io());
    assert!(d.take().1.contains(&Event::BreakerOpened { cool_down_ms: 60_000 }));
    // The next probe connects and stays up: closed.
    let (t, _, _) = d.advance();
    d.connected(t);
    let (_, _, events) = d.advance();
    assert!(events.contains(&Event::BreakerClosed));
    assert_eq!(d.sup.breaker(), BreakerState::Closed);
    assert_eq!(d.stats.counters().limit_reached, 2);
}

#[test]
fn reconnect_now_skips_the_cool_down_once() {
    let mut config = plain_config();
    config.backoff.max_attempts = Some(1);
    config.on_limit = LimitPolicy::Breaker {
        cool_down: Duration::from_secs(60),
    };
    let mut d = Driven::new(config, 1);
    d.start(Instant::ZERO);
    d.connect_failed(Instant::ZERO, io());
    assert_eq!(d.sup.breaker(), BreakerState::Open);
    d.take();
    d.reconnect_now(Instant::from_secs(1));
    assert_eq!(d.deadline().map(|d| d.at), Some(Instant::from_secs(1)));
    d.timeout(Instant::from_secs(1));
    let (actions, events) = d.take();
    assert_eq!(events[0], Event::BackoffSkipped);
    assert!(events.contains(&Event::BreakerHalfOpen));
    assert!(matches!(actions.as_slice(), [Action::Connect { .. }]));
}

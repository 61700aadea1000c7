//! Heartbeat, idle and connect deadlines, each on both sides: nothing one
//! millisecond before, the action at the deadline.

use core::time::Duration;

use wstether::{Action, Cause, Event, Inbound, Instant, State, Timer};

use crate::{plain_config, Driven, MS};

#[test]
fn heartbeat_deadlines_hold_on_both_sides() {
    let mut d = Driven::new(plain_config(), 1);
    let t0 = Instant::from_secs(5);
    d.start(t0);
    d.connected(t0);
    d.take();
    let ping_at = t0 + Duration::from_secs(20);
    d.timeout(ping_at - MS);
    assert!(!d.take().0.contains(&Action::SendPing));
    d.timeout(ping_at);
    assert_eq!(d.take().0, vec![Action::SendPing]);
    assert_eq!(d.deadline().map(|d| d.timer), Some(Timer::PongTimeout));
    let pong_by = ping_at + Duration::from_secs(5);
    d.timeout(pong_by - MS);
    assert_eq!(d.sup.state(), State::Connected);
    d.timeout(pong_by);
    let (actions, events) = d.take();
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Disconnected { failure } if failure.cause == Cause::HeartbeatTimeout)));
    assert!(matches!(actions.as_slice(), [Action::Drop { failure }] if failure.cause == Cause::HeartbeatTimeout));
    assert_eq!(d.sup.state(), State::Backoff);
    assert_eq!(d.stats.counters().heartbeat_timeouts, 1);
}

#[test]
fn a_pong_clears_the_deadline_and_any_frame_counts_as_life() {
    let mut d = Driven::new(plain_config(), 1);
    d.start(Instant::ZERO);
    d.connected(Instant::ZERO);
    d.timeout(Instant::from_secs(20));
    d.inbound(Instant::from_secs(24), Inbound::Control);
    d.timeout(Instant::from_secs(30));
    assert_eq!(d.sup.state(), State::Connected);
    assert_eq!(d.deadline().map(|d| d.at), Some(Instant::from_secs(44)));
}

#[test]
fn idle_deadline_holds_on_both_sides_and_ignores_pongs() {
    let mut config = plain_config();
    config.heartbeat.idle_timeout = Some(Duration::from_secs(60));
    let mut d = Driven::new(config, 1);
    d.start(Instant::ZERO);
    d.connected(Instant::ZERO);
    d.inbound(Instant::from_secs(10), Inbound::Data);
    let idle_at = Instant::from_secs(70);
    let mut now = Instant::from_secs(10);
    // Pings answered every interval, but no data.
    while now < idle_at - Duration::from_secs(1) {
        now = now + Duration::from_secs(1);
        d.inbound(now, Inbound::Control);
        d.timeout(now);
    }
    d.timeout(idle_at - MS);
    assert_eq!(d.sup.state(), State::Connected);
    d.take();
    d.timeout(idle_at);
    assert!(d
        .take()
        .1
        .iter()
        .any(|e| matches!(e, Event::Disconnected { failure } if failure.cause == Cause::IdleTimeout)));
    assert_eq!(d.sup.state(), State::Backoff);
    assert_eq!(d.stats.counters().idle_timeouts, 1);
}

#[test]
fn connect_timeout_holds_on_both_sides() {
    let mut config = plain_config();
    config.connect_timeout = Duration::from_secs(4);
    let mut d = Driven::new(config, 1);
    d.start(Instant::ZERO);
    d.take();
    d.timeout(Instant::from_secs(4) - MS);
    assert_eq!(d.sup.state(), State::Connecting);
    d.timeout(Instant::from_secs(4));
    let (actions, _) = d.take();
    assert!(matches!(actions.as_slice(), [Action::Drop { failure }] if failure.cause == Cause::Timeout));
    assert_eq!(d.sup.state(), State::Backoff);
}

//! The drain contract: one ordered output, a bounded queue that an
//! undrained driver cannot overflow silently, stale completions ignored, the
//! outcome kept, and the application's nudges.

use core::time::Duration;

use wstether::{Action, Cause, Event, Failure, Inbound, Instant, LimitPolicy, Outcome, Output, State, Supervisor};

use crate::{io, plain_config, Driven};

#[test]
fn actions_and_events_come_out_in_the_order_they_arose() {
    let mut config = plain_config();
    config.backoff.stable_after = Duration::from_secs(60);
    let mut d = Driven::new(config, 1);
    d.start(Instant::ZERO);
    d.connected(Instant::ZERO);
    d.take_outputs();
    let pong_by = Instant::from_secs(25);
    d.timeout(Instant::from_secs(20));
    d.timeout(pong_by);
    let outputs = d.take_outputs();
    let dead = Failure::transient(Cause::HeartbeatTimeout);
    assert_eq!(
        outputs[..3],
        [
            Output::Action(Action::SendPing),
            Output::Action(Action::Drop { failure: dead }),
            Output::Event(Event::Disconnected { failure: dead }),
        ]
    );
    assert!(matches!(
        outputs[3],
        Output::Event(Event::ReconnectScheduled { attempt: 2, .. })
    ));
}

#[test]
fn a_stale_completion_is_ignored() {
    let mut config = plain_config();
    config.connect_timeout = Duration::from_secs(1);
    let mut sup = Supervisor::new(config, 1).unwrap();
    sup.start(Instant::ZERO);
    let Output::Event(_) = sup.poll_output() else { panic!() };
    let Output::Action(Action::Connect { id: first, .. }) = sup.poll_output() else {
        panic!("a connect")
    };
    // The first attempt times out; the retry starts a second one.
    sup.handle_timeout(Instant::from_secs(1));
    while !matches!(sup.poll_output(), Output::Timeout(_)) {}
    sup.handle_timeout(Instant::from_secs(2));
    let mut second = None;
    loop {
        match sup.poll_output() {
            Output::Action(Action::Connect { id, .. }) => second = Some(id),
            Output::Timeout(_) => break,
            _ => {}
        }
    }
    let second = second.expect("a second attempt");
    assert_ne!(first, second);
    // The first attempt's socket finally opens: too late, nothing happens.
    sup.handle_connected(Instant::from_secs(2), first);
    assert_eq!(sup.state(), State::Connecting);
    assert!(matches!(sup.poll_output(), Output::Timeout(_)));
    sup.handle_connected(Instant::from_secs(2), second);
    assert_eq!(sup.state(), State::Connected);
    // A late disconnect of the first link must not end the second.
    sup.handle_disconnected(Instant::from_secs(3), first, io());
    assert_eq!(sup.state(), State::Connected);
}

#[test]
fn an_undrained_driver_is_told_what_it_lost_and_keeps_every_action_and_the_outcome() {
    let mut config = plain_config();
    config.backoff.max_attempts = Some(40);
    let mut sup = Supervisor::new(config, 1).unwrap();
    let mut now = Instant::ZERO;
    sup.start(now);
    // Fail forty attempts without ever draining.
    for _ in 0..40 {
        sup.handle_connect_failed(now, sup.last_attempt(), io());
        now = now + Duration::from_secs(5);
        sup.handle_timeout(now);
    }
    assert_eq!(sup.state(), State::Failed);
    let mut outputs = Vec::new();
    loop {
        match sup.poll_output() {
            Output::Timeout(deadline) => {
                assert_eq!(deadline, None);
                break;
            }
            output => outputs.push(output),
        }
    }
    assert!(matches!(outputs[0], Output::Event(Event::EventsDropped { count }) if count > 70));
    assert_eq!(outputs.last(), Some(&Output::Event(Event::GaveUp { attempts: 40 })));
    assert_eq!(sup.outcome(), Some(Outcome::GaveUp { attempts: 40 }));
}

#[test]
fn mark_healthy_resets_the_attempt_count_before_stable_after() {
    let mut config = plain_config();
    config.on_limit = LimitPolicy::GiveUp;
    let mut d = Driven::new(config, 1);
    let mut now = Instant::ZERO;
    d.start(now);
    for _ in 0..3 {
        d.connect_failed(now, io());
        (now, _, _) = d.advance();
    }
    assert_eq!(d.sup.attempt(), 4);
    d.connected(now);
    d.take();
    d.mark_healthy(now + Duration::from_secs(1));
    assert_eq!(d.take().1, vec![Event::Stable]);
    assert_eq!(d.sup.attempt(), 0);
    // The stable timer is gone: it does not fire again.
    d.timeout(now + Duration::from_secs(10));
    assert_eq!(d.take(), (vec![], vec![]));
    d.disconnected(now + Duration::from_secs(11), io());
    assert_eq!(crate::scheduled_delay(&d.take().1), Some(Duration::from_millis(100)));
}

#[test]
fn reconnect_now_skips_the_pending_delay_only_in_backoff() {
    let mut config = plain_config();
    config.backoff.initial = Duration::from_secs(3);
    let mut d = Driven::new(config, 1);
    d.start(Instant::ZERO);
    d.take();
    d.reconnect_now(Instant::ZERO);
    assert_eq!(d.take(), (vec![], vec![]), "nothing to skip while connecting");
    d.connect_failed(Instant::ZERO, io());
    assert_eq!(d.deadline().map(|d| d.at), Some(Instant::from_secs(3)));
    d.reconnect_now(Instant::from_secs(1));
    d.timeout(Instant::from_secs(1));
    assert_eq!(d.sup.state(), State::Connecting);
    d.connected(Instant::from_secs(1));
    d.inbound(Instant::from_secs(2), Inbound::Data);
    assert_eq!(d.sup.state(), State::Connected);
}

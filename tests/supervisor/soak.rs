//! Long runs in virtual time: random scripts through the shared invariant
//! interpreter, and a million link cycles whose counters must add up.

use core::time::Duration;

use fastrand::Rng;
use wstether::{Action, Cause, Failure, HeartbeatConfig, Inbound, Instant, Jitter, State, Timer};

use crate::{plain_config, supervisor_ops, Driven};

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
    let mut d = Driven::new(config, 1_000_000);
    let mut now = Instant::ZERO;
    let (mut attempts, mut connects, mut connect_failures, mut links_ended) = (0u64, 0u64, 0u64, 0u64);
    d.start(now);
    while attempts < 1_000_000 {
        // Exactly one attempt is in progress.
        assert_eq!(d.sup.state(), State::Connecting);
        let connects_seen = d
            .take()
            .0
            .iter()
            .filter(|a| matches!(a, Action::Connect { .. }))
            .count();
        assert_eq!(connects_seen, 1, "at {now}");
        attempts += 1;
        if rng.u8(0..10) < 3 {
            d.connect_failed(now, Failure::transient(Cause::Refused));
            connect_failures += 1;
        } else {
            d.connected(now);
            connects += 1;
            // The link lives a random while; now and then its pongs go missing.
            let ends_at = now + Duration::from_millis(rng.u64(0..40_000));
            let answers_pings = rng.u8(0..10) > 0;
            while d.sup.state() == State::Connected {
                match d.deadline() {
                    Some(deadline) if deadline.at <= ends_at => {
                        now = deadline.at;
                        d.timeout(now);
                        if answers_pings && d.sup.state() == State::Connected {
                            d.inbound(now, Inbound::Control);
                        }
                    }
                    _ => {
                        now = ends_at;
                        d.disconnected(now, Failure::transient(Cause::Abnormal));
                    }
                }
            }
            links_ended += 1;
        }
        if d.sup.state() == State::Connecting {
            // A dropped link with a zero delay retried at once.
            continue;
        }
        assert_eq!(d.sup.state(), State::Backoff);
        let retry = d.deadline().expect("a retry is scheduled");
        assert_eq!(retry.timer, Timer::Reconnect);
        assert!(retry.at >= now);
        now = retry.at;
        d.timeout(now);
    }
    let stats = *d.stats.counters();
    assert_eq!(stats.attempts, attempts + 1, "the last retry started one more");
    assert_eq!(stats.connects, connects);
    assert_eq!(stats.disconnects, links_ended);
    assert_eq!(stats.failures_transient, connect_failures + links_ended);
    assert_eq!(stats.delays(), connect_failures + links_ended);
    assert_eq!(stats.events_dropped, 0);
    assert!(stats.heartbeat_timeouts > 0 && stats.heartbeat_timeouts < links_ended);
    let snapshot = d.snapshot(now);
    assert!(snapshot.total_uptime <= snapshot.lifetime);
}

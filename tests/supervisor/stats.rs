//! Statistics fed from the drained events, and their Prometheus text.

use core::time::Duration;

use wstether::{Instant, State};

use crate::{io, plain_config, Driven};

#[test]
fn stats_track_time_and_render_as_prometheus() {
    let mut d = Driven::new(plain_config(), 1);
    d.start(Instant::ZERO);
    d.connected(Instant::from_secs(1));
    d.disconnected(Instant::from_secs(4), io());
    let snap = d.snapshot(Instant::from_secs(4));
    assert_eq!(snap.total_uptime, Duration::from_secs(3));
    assert_eq!(snap.reliability_ppm, 750_000);
    assert_eq!(snap.time_in(State::Connecting), Duration::from_secs(1));
    assert_eq!(snap.time_in(State::Connected), Duration::from_secs(3));
    assert_eq!(snap.state, State::Backoff);
    let mut text = String::new();
    snap.write_prometheus(&mut text, &[("feed", "a\"b")]).unwrap();
    assert!(text.contains("wstether_connects_total{feed=\"a\\\"b\"} 1\n"), "{text}");
    assert!(text.contains("wstether_reconnect_delay_seconds_bucket{feed=\"a\\\"b\",le=\"1\"} 1\n"));
    assert!(text.contains("wstether_reconnect_delay_seconds_bucket{feed=\"a\\\"b\",le=\"+Inf\"} 1\n"));
    assert!(text.contains("wstether_uptime_seconds{feed=\"a\\\"b\"} 3.000\n"));
    assert!(text.contains("wstether_reliability_ratio{feed=\"a\\\"b\"} 0.750000\n"));
    assert!(text.contains("wstether_state{feed=\"a\\\"b\",state=\"backoff\"} 1\n"));
}

//! The caller's controls and the end: reconnect now, mark the link healthy,
//! pause and resume reading — each reported — and an ending that survives a
//! full event queue.

use std::time::{Duration, Instant};

use wstether::client::EventKind;
use wstether::{BackoffConfig, Cause, Event, Jitter, Outcome};

use crate::quick;
use crate::support::{echo, ms, Response, Server, PATIENCE};

#[test]
fn the_ending_survives_a_full_event_queue_nobody_reads() {
    // Seventy refusals, then a 403: far more events than the queue holds.
    let server = Server::start(|conn| {
        if conn.conn < 70 {
            conn.close_at_once();
        } else {
            conn.reply(Response::new(403));
        }
    });
    let client = quick(&server.url())
        .backoff(BackoffConfig {
            initial: Duration::from_millis(1),
            multiplier_permille: 1_000,
            cap: Duration::from_millis(1),
            jitter: Jitter::None,
            cap_jitter: None,
            ..BackoffConfig::default()
        })
        .event_capacity(4)
        .connect()
        .expect("a valid configuration");
    let finished = client.recv().expect_err("the client ends");
    let Outcome::Rejected { failure } = finished.0.outcome else {
        panic!("{finished:?}")
    };
    assert_eq!(failure.cause, Cause::HttpStatus(403));
    assert!(finished.0.detail.as_deref().expect("why").contains("403"));
    assert_eq!(client.ending(), Some(finished.0));
    assert!(client.events().dropped() > 100, "dropped {}", client.events().dropped());
    assert_eq!(client.snapshot().counters.attempts, 71);
}

#[test]
fn reconnect_now_skips_the_pending_delay() {
    let mut server = Server::start(echo);
    let client = quick(&server.url())
        .backoff(BackoffConfig {
            initial: Duration::from_secs(30),
            cap: Duration::from_secs(30),
            jitter: Jitter::None,
            cap_jitter: None,
            ..BackoffConfig::default()
        })
        .connect()
        .expect("a valid configuration");
    client.send("first").expect("queued");
    client.recv_timeout(PATIENCE).expect("running").expect("an echo");
    server.stop();
    // The link drops; the next attempt is 30 s away.
    let deadline = Instant::now() + PATIENCE;
    while client.state() != wstether::State::Backoff && Instant::now() < deadline {
        let _ = client.events().recv_timeout(ms(20));
    }
    server.restart();
    let asked = Instant::now();
    client.reconnect_now();
    client.send("second").expect("queued");
    client
        .recv_timeout(PATIENCE)
        .expect("running")
        .expect("an echo on the new link");
    assert!(asked.elapsed() < Duration::from_secs(2), "took {:?}", asked.elapsed());
    let kinds: Vec<EventKind> = client.events().try_iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&EventKind::ReconnectRequested));
    assert!(kinds.contains(&EventKind::Supervisor(Event::BackoffSkipped)));
    client.close();
}

#[test]
fn mark_healthy_makes_the_link_stable_at_once() {
    let server = Server::start(echo);
    let client = quick(&server.url()).connect().expect("a valid configuration");
    client.send("hello").expect("queued");
    client.recv_timeout(PATIENCE).expect("running").expect("an echo");
    client.mark_healthy();
    let deadline = Instant::now() + PATIENCE;
    let mut kinds = Vec::new();
    while !kinds.contains(&EventKind::Supervisor(Event::Stable)) && Instant::now() < deadline {
        if let Ok(event) = client.events().recv_timeout(ms(50)) {
            kinds.push(event.kind);
        }
    }
    assert!(kinds.contains(&EventKind::MarkedHealthy));
    assert!(kinds.contains(&EventKind::Supervisor(Event::Stable)), "{kinds:?}");
    client.close();
}

#[test]
fn pausing_reading_holds_the_server_back_and_resuming_delivers_everything_in_order() {
    let server = Server::start(|conn| {
        let Some(mut raw) = conn.upgrade_raw() else { return };
        for i in 0..2_000 {
            if !raw.send_text(&format!("{i:04} {}", "x".repeat(1_000))) {
                return;
            }
        }
        raw.serve(true, Instant::now() + PATIENCE);
    });
    let client = quick(&server.url()).connect().expect("a valid configuration");
    client.pause_reading();
    // Whatever arrived before the pause took effect, then nothing more.
    std::thread::sleep(ms(300));
    let mut received = Vec::new();
    while let Ok(Some(m)) = client.recv_timeout(ms(100)) {
        received.push(m);
    }
    assert!(received.len() < 2_000, "reading did not pause: {}", received.len());
    client.resume_reading();
    while received.len() < 2_000 {
        received.push(client.recv_timeout(PATIENCE).expect("running").expect("a message"));
    }
    for (i, m) in received.iter().enumerate() {
        assert!(m.to_text().expect("text").starts_with(&format!("{i:04} ")));
    }
    let kinds: Vec<EventKind> = client.events().try_iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&EventKind::ReadingPaused(true)));
    assert!(kinds.contains(&EventKind::ReadingPaused(false)));
    assert!(!kinds
        .iter()
        .any(|k| matches!(k, EventKind::Supervisor(e) if matches!(e, Event::Disconnected { .. }))));
    client.close();
}

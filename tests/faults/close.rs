//! `close()` in the middle of things: during a backoff, mid-connect, and
//! against a peer that never answers the close frame.

use std::time::{Duration, Instant};

use wstether::{BackoffConfig, Jitter, State};

use crate::support::*;
use crate::tether::*;

/// What `close()` may take: its timeouts, with slack for a loaded machine.
const CLOSE_BOUND: Duration = Duration::from_millis(1_500);

#[test]
fn close_during_backoff_returns_queued_messages_at_once() {
    let addr = Server::reserve();
    let slow = BackoffConfig {
        initial: Duration::from_secs(30),
        cap: Duration::from_secs(30),
        jitter: Jitter::None,
        cap_jitter: None,
        ..BackoffConfig::default()
    };
    let client = fast_builder(&format!("ws://{addr}/")).backoff(slow).connect().unwrap();
    let mut events = Events::default();
    events.expect(client.events(), "ReconnectScheduled", is_scheduled);
    assert_eq!(client.state(), State::Backoff);
    for m in ["a", "b", "c"] {
        client.send(m).unwrap();
    }
    let started = Instant::now();
    let undelivered = client.close();
    assert_within(started.elapsed(), CLOSE_BOUND, "close in backoff");
    assert_eq!(handed_back(&undelivered), ["a", "b", "c"]);
}

#[test]
fn close_mid_connect_returns_queued_messages_and_drops_the_socket() {
    // TCP is accepted; the upgrade is never answered.
    let server = Server::start(|conn| conn.hold_silent());
    let client = fast_builder(&server.url())
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .unwrap();
    server.journal().expect_accepts(1);
    for m in ["a", "b", "c"] {
        client.send(m).unwrap();
    }
    let started = Instant::now();
    let undelivered = client.close();
    let returned = Instant::now();
    assert_within(returned - started, CLOSE_BOUND, "close mid-connect");
    assert_eq!(handed_back(&undelivered), ["a", "b", "c"]);
    // The attempt's socket is gone: the server sees the hang-up.
    let ended = server.journal().expect_ended(0, PATIENCE);
    assert_within(
        ended.saturating_duration_since(returned),
        ms(500),
        "hang-up after close",
    );
    assert_eq!(server.journal().accepts(), 1);
}

#[test]
fn close_against_a_silent_peer_gives_up_after_the_close_timeout() {
    // Upgrades, then never reads a frame again: our close is never answered.
    let server = Server::start(|conn| {
        if let Some(peer) = conn.upgrade() {
            peer.hold_silent();
        }
    });
    let client = fast_builder(&server.url()).connect().unwrap();
    let mut events = Events::default();
    events.expect(client.events(), "Connected", is_connected);
    let started = Instant::now();
    let undelivered = client.close();
    let returned = Instant::now();
    assert!(undelivered.is_empty());
    // The queue is empty, so the whole wait is the close handshake's.
    assert!(
        returned - started >= CLOSE_TIMEOUT - ms(50),
        "close did not wait for the reply: {:?}",
        returned - started
    );
    assert_within(returned - started, CLOSE_BOUND, "close against a silent peer");
    let ended = server.journal().expect_ended(0, PATIENCE);
    assert_within(
        ended.saturating_duration_since(returned),
        ms(500),
        "hang-up after close",
    );
}

/// A close from the server is answered with a close frame, as RFC 6455
/// asks, before the link is dropped; the answer echoes the code. (The reply
/// tungstenite queued used to stay in its buffer: the server saw the link
/// end without one.)
#[test]
fn the_servers_close_is_answered_with_a_close_frame() {
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let server = Server::start(move |conn| {
        if conn.conn > 0 {
            return record(conn);
        }
        let Some(mut peer) = conn.upgrade_raw() else { return };
        peer.send_close(4001);
        let reply = peer.next_payload_of(frames::opcode::CLOSE, Instant::now() + PATIENCE);
        let _ = tx.lock().unwrap().send(reply);
    });
    let client = fast_builder(&server.url()).connect().unwrap();
    let reply = rx.recv_timeout(PATIENCE).expect("the server's handler ends");
    let reply = reply.expect("a close frame in reply");
    assert_eq!(
        reply.get(..2),
        Some(&4001u16.to_be_bytes()[..]),
        "the reply echoes the code"
    );
    client.close();
}

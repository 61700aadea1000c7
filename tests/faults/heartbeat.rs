//! Liveness: a blackholed link, pongs that never come while TCP is fine, a
//! feed that answers pings but sends no data — with and without an idle
//! timeout.

use std::time::{Duration, Instant};

use wstether::{Cause, HeartbeatConfig, State};

use crate::support::*;
use crate::tether::*;

#[test]
fn blackhole_is_detected_by_the_heartbeat_and_queued_messages_follow_on_the_next_link() {
    let server = Server::start(|conn| {
        if let Some(mut peer) = conn.upgrade() {
            peer.send("hello");
            peer.serve();
        }
    });
    let proxy = Proxy::start(server.addr());
    let heartbeat = HeartbeatConfig {
        ping_interval: Some(ms(200)),
        pong_timeout: ms(200),
        idle_timeout: None,
    };
    let client = fast_builder(&proxy.url())
        .heartbeat(heartbeat)
        .subscribe("sub")
        .connect()
        .unwrap();
    assert_eq!(
        client.recv_timeout(PATIENCE).unwrap().unwrap().to_text().unwrap(),
        "hello"
    );
    client.send("before").unwrap();
    server.journal().expect_messages(2);

    proxy.refuse_new(true);
    proxy.blackhole();
    let blackholed = Instant::now();
    let mut events = Events::default();
    events.expect(
        client.events(),
        "Disconnected(HeartbeatTimeout)",
        disconnected_by(Cause::HeartbeatTimeout),
    );
    // Silence since at most `blackholed`: a ping within 200 ms, its pong
    // missed 200 ms later; the rest is slack for a loaded machine.
    assert_within(blackholed.elapsed(), ms(400 + 600), "detection");

    let sent = numbered("q", 10);
    for m in &sent {
        client.send(m.as_str()).unwrap();
    }
    events.expect(
        client.events(),
        "ConnectFailed through the refusing proxy",
        is_connect_failed,
    );
    proxy.refuse_new(false);
    let got = server.journal().expect_messages(2 + 1 + sent.len());
    let mut expected = vec![
        (0, "sub".to_string()),
        (0, "before".to_string()),
        (1, "sub".to_string()),
    ];
    expected.extend(sent.iter().map(|m| (1, m.clone())));
    assert_eq!(got, expected);
    assert!(client.close().is_empty());
}

#[test]
fn pings_answered_but_no_data_trip_the_idle_timeout_and_reconnect() {
    // Every link answers pings (tungstenite does) and never sends data.
    let server = Server::start(record);
    const IDLE: Duration = Duration::from_millis(600);
    let heartbeat = HeartbeatConfig {
        ping_interval: Some(ms(100)),
        pong_timeout: ms(300),
        idle_timeout: Some(IDLE),
    };
    let client = fast_builder(&server.url())
        .heartbeat(heartbeat)
        .subscribe("sub")
        .connect()
        .unwrap();
    let mut events = Events::default();
    let connected = events.expect(client.events(), "Connected", is_connected);
    let mut sent = Vec::new();
    send_all(&client, &mut sent, &["before"]);
    let idle = events.expect(
        client.events(),
        "Disconnected(IdleTimeout)",
        disconnected_by(Cause::IdleTimeout),
    );
    let after = idle.at - connected.at;
    assert!(after >= IDLE - ms(10), "idle timeout after {after:?}");
    assert_within(after, IDLE + ms(800), "the idle timeout");
    // Pings went out and were answered all along: no heartbeat timeout.
    let pings = server
        .journal()
        .snapshot()
        .iter()
        .filter(|s| matches!(s, Seen::Ping { conn: 0, .. }))
        .count();
    assert!(pings >= 3, "{pings} pings on the first link");
    assert_eq!(events.count(is_heartbeat_timeout), 0, "{:#?}", events.seen);

    send_all(&client, &mut sent, &["q0", "q1", "q2"]);
    events.expect(client.events(), "Connected again", is_connected);
    let got = server.journal().expect_messages(2 + 1 + 3);
    assert_nothing_lost(&got, &["sub"], &sent);
    assert_eq!(got[0].0, 0);
    assert_eq!(got[2].0, 1);
    // The second link idles out too, sooner or later; either way nothing is left.
    assert!(client.close().is_empty());
}

#[test]
fn pings_answered_and_no_idle_timeout_keep_a_quiet_link_up() {
    let server = Server::start(record);
    let heartbeat = HeartbeatConfig {
        ping_interval: Some(ms(100)),
        pong_timeout: ms(300),
        idle_timeout: None,
    };
    let client = fast_builder(&server.url())
        .heartbeat(heartbeat)
        .subscribe("sub")
        .connect()
        .unwrap();
    let mut events = Events::default();
    events.expect(client.events(), "Connected", is_connected);
    // Ten pings, about a second of silence from the server.
    let pings = server.journal().wait_for(PATIENCE, |seen| {
        let n = seen.iter().filter(|s| matches!(s, Seen::Ping { .. })).count();
        (n >= 10).then_some(n)
    });
    assert!(
        pings.is_some(),
        "the client stopped pinging: {:#?}",
        server.journal().snapshot()
    );
    client.send("still here").unwrap();
    server.journal().expect_messages(2);
    events.drain(client.events());
    assert_eq!(events.count(is_connected), 1, "{:#?}", events.seen);
    assert_eq!(events.count(is_disconnected), 0, "{:#?}", events.seen);
    assert_eq!(client.state(), State::Connected);
    assert!(client.close().is_empty());
    assert_eq!(server.journal().accepts(), 1);
    assert_eq!(server.journal().texts(), ["sub", "still here"]);
}

#[test]
fn pongs_dropped_while_tcp_stays_up_trip_the_heartbeat_timeout() {
    // The first link reads everything (TCP stays up, every byte is ACKed) but
    // answers no ping after the marker; later links behave.
    let server = Server::start(|conn| {
        if conn.conn > 0 {
            return record(conn);
        }
        let Some(mut peer) = conn.upgrade_raw() else { return };
        let deadline = Instant::now() + PATIENCE;
        if let RawStep::Frame(_) = peer.serve_until(true, deadline, |t| t == "marker") {
            let _ = peer.serve(false, deadline);
        }
    });
    const PING: Duration = Duration::from_millis(100);
    const PONG: Duration = Duration::from_millis(200);
    let heartbeat = HeartbeatConfig {
        ping_interval: Some(PING),
        pong_timeout: PONG,
        idle_timeout: None,
    };
    let client = fast_builder(&server.url())
        .heartbeat(heartbeat)
        .subscribe("sub")
        .connect()
        .unwrap();
    let mut sent = Vec::new();
    send_all(&client, &mut sent, &["a", "b", "marker"]);
    server.journal().expect_messages(4);
    let marked = Instant::now();
    let mut events = Events::default();
    events.expect(
        client.events(),
        "Disconnected(HeartbeatTimeout)",
        disconnected_by(Cause::HeartbeatTimeout),
    );
    assert_within(marked.elapsed(), PING + PONG + ms(800), "detection");
    // The server did read the unanswered ping: TCP was up all along.
    let snapshot = server.journal().snapshot();
    let marker_at = snapshot
        .iter()
        .position(|s| matches!(s, Seen::Message { text, .. } if text == "marker"))
        .unwrap();
    assert!(
        snapshot[marker_at..]
            .iter()
            .any(|s| matches!(s, Seen::Ping { conn: 0, .. })),
        "{snapshot:#?}"
    );

    send_all(&client, &mut sent, &["q0", "q1"]);
    events.expect(client.events(), "Connected again", is_connected);
    let got = server.journal().expect_messages(4 + 1 + 2);
    assert_nothing_lost(&got, &["sub"], &sent);
    assert!(client.close().is_empty());
}

/// A server's ping in the middle of a stream of messages is answered at
/// once, though every message around it is decoded without tungstenite
/// (which writes its queued pong only when it reads or writes again).
#[test]
fn a_ping_amid_a_stream_of_messages_is_answered_at_once() {
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let server = Server::start(move |conn| {
        let Some(mut peer) = conn.upgrade_raw() else { return };
        let mut burst = frames::repeated(&frames::text("before"), 100);
        burst.extend(frames::ping(b"amid"));
        burst.extend(frames::repeated(&frames::text("after"), 100));
        let _ = peer.write_raw(&burst);
        // No more frames: only the pong can come.
        let pong = peer.next_payload_of(frames::opcode::PONG, Instant::now() + PATIENCE);
        let _ = tx.lock().unwrap().send(pong);
        let _ = peer.serve(true, Instant::now() + PATIENCE);
    });
    let client = fast_builder(&server.url()).connect().unwrap();
    for _ in 0..200 {
        client.recv_timeout(PATIENCE).unwrap().expect("a message");
    }
    let pong = rx.recv_timeout(PATIENCE).expect("the server's handler reports");
    assert_eq!(pong.as_deref(), Some(&b"amid"[..]), "the pong, with the ping's payload");
    client.close();
}

//! The server's close codes: which reconnect, which wait, which stop — and
//! a server that accepts and closes at once, again and again.

use std::time::{Duration, Instant};

use wstether::client::{Client, ClientBuilder, SendError};
use wstether::{BackoffConfig, Cause, CloseAction, CloseCodeTable, Event, Failure, FailureClass, State};

use crate::support::*;
use crate::tether::*;

#[test]
fn server_close_1001_and_1012_reconnect() {
    for code in [1001, 1012] {
        let server = Server::start(move |conn| {
            let Some(mut peer) = conn.upgrade() else { return };
            if peer.conn == 0 {
                peer.close_with(code);
            } else {
                peer.serve();
            }
        });
        let client = fast_builder(&server.url()).subscribe("sub").connect().unwrap();
        let mut events = Events::default();
        events.expect(client.events(), "Disconnected", disconnected_by(Cause::Close(code)));
        events.expect(client.events(), "ReconnectScheduled", is_scheduled);
        events.expect(client.events(), "Connected again", is_connected);
        assert_eq!(events.count(is_connected), 2);
        client.send("after").unwrap();
        let got = server.journal().expect_messages(3);
        assert_eq!(got, vec![(0, "sub".into()), (1, "sub".into()), (1, "after".into())]);
        assert!(client.close().is_empty());
    }
}

#[test]
fn server_close_1008_is_a_rejection_even_while_the_client_is_sending() {
    let server = Server::start(|conn| {
        let Some(mut peer) = conn.upgrade() else { return };
        if peer.serve_until(|t| t == "m50") {
            peer.close_with(1008);
        }
    });
    let client = fast_builder(&server.url()).connect().unwrap();
    let mut events = Events::default();
    events.expect(client.events(), "Connected", is_connected);
    // Keep the queue busy while the close frame arrives, so the client has
    // writes pending when it reads it.
    let mut accepted = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    let mut i = 0;
    while client.state() != State::Failed && Instant::now() < deadline && i < 100_000 {
        let text = format!("m{i}");
        if client.send(text.as_str()).is_ok() {
            accepted.push(text);
        }
        i += 1;
        if i % 64 == 0 {
            std::thread::yield_now();
        }
    }
    events.expect(client.events(), "Rejected(1008)", rejected_with(Cause::Close(1008)));
    assert_eq!(client.state(), State::Failed);
    expect_finished(&client);
    assert_eq!(server.journal().accepts(), 1);
    let undelivered = handed_back(&client.close());
    // Nothing lost: what the server read, then what came back, is what was accepted.
    server.journal().expect_ended(0, PATIENCE);
    let delivered = server.journal().texts();
    assert_same(&[delivered.clone(), undelivered.clone()].concat(), &accepted);
}

#[test]
fn accept_then_close_ten_times_makes_delays_grow() {
    const FLAPS: usize = 10;
    let server = Server::start(|conn| {
        let Some(mut peer) = conn.upgrade() else { return };
        if peer.conn < FLAPS {
            peer.close_with(1001);
        } else {
            peer.serve();
        }
    });
    let client = fast_builder(&server.url()).connect().unwrap();
    let mut events = Events::default();
    let mut delays = Vec::new();
    while delays.len() < FLAPS {
        let scheduled = events.expect(client.events(), "ReconnectScheduled", is_scheduled);
        if let Event::ReconnectScheduled { delay, .. } = supervisor(&scheduled) {
            delays.push(delay.delay());
        }
    }
    while events.count(is_connected) < FLAPS + 1 {
        events.expect(client.events(), "Connected", is_connected);
    }
    assert!(delays.windows(2).all(|w| w[0] <= w[1]), "{delays:?}");
    assert_eq!(delays[0], ms(20));
    assert_eq!(delays[FLAPS - 1], ms(200), "{delays:?}");
    assert_eq!(server.journal().accepts(), FLAPS + 1);
    assert!(client.close().is_empty());
}

/// The first link is closed by the server with `code` after the marker;
/// later links are served. Returns once the client reported the close.
fn server_closes_first_link_with(
    code: u16,
    builder: impl FnOnce(ClientBuilder) -> ClientBuilder,
) -> (Events, Server, Client, Vec<String>) {
    let server = Server::start(move |conn| {
        let Some(mut peer) = conn.upgrade() else { return };
        if peer.conn == 0 {
            if peer.serve_until(|t| t == "marker") {
                peer.close_with(code);
            }
        } else {
            peer.serve();
        }
    });
    let client = builder(fast_builder(&server.url()).subscribe("sub")).connect().unwrap();
    let mut sent = Vec::new();
    send_all(&client, &mut sent, &["a", "marker"]);
    let mut events = Events::default();
    events.expect(client.events(), "Disconnected or Rejected", |e| {
        matches!(e, Event::Disconnected { failure } | Event::Rejected { failure } if failure.cause == Cause::Close(code))
    });
    (events, server, client, sent)
}

#[test]
fn server_close_1000_reconnects() {
    let (mut events, server, client, mut sent) = server_closes_first_link_with(1000, |b| b);
    assert!(
        events.count(|e| *e
            == Event::Disconnected {
                failure: Failure::transient(Cause::Close(1000))
            })
            > 0
    );
    send_all(&client, &mut sent, &["q0", "q1"]);
    events.expect(client.events(), "Connected again", is_connected);
    let got = server.journal().expect_messages(3 + 3);
    assert_nothing_lost(&got, &["sub"], &sent);
    assert!(client.close().is_empty());
}

#[test]
fn server_close_1013_reconnects_no_sooner_than_the_rate_limited_floor() {
    const FLOOR: Duration = Duration::from_millis(400);
    let backoff = BackoffConfig {
        retry_later_floor: FLOOR,
        ..fast_backoff()
    };
    let (mut events, server, client, mut sent) = server_closes_first_link_with(1013, |b| b.backoff(backoff));
    let disconnected = events.seen.last().unwrap().clone();
    let Event::Disconnected { failure } = supervisor(&disconnected) else {
        panic!("{disconnected:?}")
    };
    assert!(matches!(failure.class, FailureClass::RetryLater { .. }), "{failure:?}");
    let scheduled = events.expect(client.events(), "ReconnectScheduled", is_scheduled);
    let Event::ReconnectScheduled { delay, .. } = supervisor(&scheduled) else {
        unreachable!()
    };
    assert!(delay.floored(), "{delay:?}");
    assert!(delay.delay() >= FLOOR && delay.delay() <= FLOOR * 6 / 5, "{delay:?}");
    send_all(&client, &mut sent, &["q0"]);
    let connected = events.expect(client.events(), "Connected again", is_connected);
    assert!(
        connected.at - disconnected.at >= FLOOR,
        "reconnected after {:?}",
        connected.at - disconnected.at
    );
    let at = server.journal().expect_accepts(2);
    assert!(at[1] - at[0] >= FLOOR, "second accept after {:?}", at[1] - at[0]);
    let got = server.journal().expect_messages(3 + 2);
    assert_nothing_lost(&got, &["sub"], &sent);
    assert!(client.close().is_empty());
}

#[test]
fn server_close_4xxx_reconnects_by_default_and_stops_with_an_override() {
    for code in [4000, 4001, 4999] {
        let (mut events, server, client, mut sent) = server_closes_first_link_with(code, |b| b);
        send_all(&client, &mut sent, &["q0"]);
        events.expect(client.events(), "Connected again", is_connected);
        let got = server.journal().expect_messages(3 + 2);
        assert_nothing_lost(&got, &["sub"], &sent);
        assert!(client.close().is_empty());
    }

    let table = CloseCodeTable::default()
        .with_override(4001, CloseAction::Stop)
        .unwrap();
    let (mut events, server, client, sent) = server_closes_first_link_with(4001, |b| b.close_codes(table));
    events.expect(client.events(), "Rejected(4001)", rejected_with(Cause::Close(4001)));
    assert_eq!(client.state(), State::Failed);
    expect_finished(&client);
    events.drain(client.events());
    assert_eq!(events.count(is_scheduled), 0, "{:#?}", events.seen);
    assert!(matches!(client.send("late"), Err(SendError::Closed(_))));
    assert!(client.close().is_empty());
    assert_eq!(server.journal().accepts(), 1);
    server.journal().expect_ended(0, PATIENCE);
    assert_nothing_lost(&server.journal().messages(), &["sub"], &sent);
}

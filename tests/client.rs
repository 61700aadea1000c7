//! The thread client and the session against loopback servers started in
//! the test: messages both ways, the queue while the server is down,
//! subscriptions across links, backpressure, TLS with a test CA.
//!
//! Every test also checks that nothing is lost: each message `send` accepted
//! reached the server, in order, or came back from `close()`.

#![cfg(all(feature = "std", feature = "tls"))]

mod support;

use std::thread;
use std::time::Instant;

use tungstenite::Message;
use wstether::client::{Incoming, SendError};
use wstether::transport::TlsConfig;
use wstether::{Cause, Event, HeartbeatConfig, State};

use support::*;

fn is_connected(e: &Event) -> bool {
    matches!(e, Event::Connected { .. })
}

#[test]
fn happy_path_receives_sends_in_order_and_closes_with_1000() {
    let server = Server::start(|conn| {
        let Some(mut peer) = conn.upgrade() else { return };
        for i in 0..3 {
            peer.send(format!("hello {i}"));
        }
        peer.serve();
    });
    let client = fast_builder(&server.url()).connect().unwrap();
    let mut events = Events::default();
    events.expect(client.events(), "Connected", is_connected);

    let got: Vec<Message> = (0..3)
        .map(|_| {
            client
                .recv_timeout(PATIENCE)
                .unwrap()
                .expect("a message from the server")
        })
        .collect();
    assert_eq!(texts(&got), numbered("hello ", 3));
    assert_eq!(client.state(), State::Connected);

    // Sent right before close: close writes the queue before its close frame.
    let sent = numbered("m", 20);
    for m in &sent {
        client.send(m.as_str()).unwrap();
    }
    let undelivered = client.close();
    assert!(undelivered.is_empty(), "undelivered: {undelivered:?}");
    server.journal().expect_ended(0, PATIENCE);
    assert_eq!(server.journal().texts(), sent);
    assert_eq!(server.journal().close_codes(), vec![Some(1000)]);
    assert_eq!(server.journal().accepts(), 1);
}

#[test]
fn messages_sent_while_refused_are_delivered_in_order_after_subscriptions() {
    let addr = Server::reserve();
    let client = fast_builder(&format!("ws://{addr}/"))
        .subscribe("sub-A")
        .connect()
        .unwrap();
    let mut events = Events::default();
    events.expect(
        client.events(),
        "ConnectFailed(Refused)",
        |e| matches!(e, Event::ConnectFailed { failure, .. } if failure.cause == Cause::Refused),
    );
    let sent = numbered("q", 10);
    for m in &sent {
        client.send(m.as_str()).unwrap();
    }
    // Added while down: replayed with the builder's, in order, on the first link.
    client.subscribe("sub-B");
    events.expect(
        client.events(),
        "a second refusal",
        |e| matches!(e, Event::ConnectFailed { attempt, .. } if *attempt >= 2),
    );

    let server = Server::start_on(addr, record);
    let got = server.journal().expect_messages(12);
    let mut expected = vec!["sub-A".to_string(), "sub-B".to_string()];
    expected.extend(sent);
    assert_eq!(got.iter().map(|(_, t)| t.clone()).collect::<Vec<_>>(), expected);
    assert!(got.iter().all(|(conn, _)| *conn == 0));
    assert!(client.close().is_empty());
    assert_eq!(server.journal().messages().len(), 12, "nothing sent twice");
}

#[test]
fn subscriptions_replayed_once_per_link_before_queued_messages_across_flaps() {
    // Each link is closed (1001) by the server right after a `flap` marker.
    let server = Server::start(|conn| {
        let Some(mut peer) = conn.upgrade() else { return };
        if peer.serve_until(|text| text.starts_with("flap")) {
            peer.close_with(1001);
        }
    });
    let client = fast_builder(&server.url()).subscribe("sub-A").connect().unwrap();
    let mut events = Events::default();
    events.expect(client.events(), "Connected", is_connected);
    let b = client.subscribe("sub-B");
    server.journal().expect_messages(2);
    assert_eq!(client.unsubscribe(b), Some(Message::from("sub-B")));
    assert_eq!(client.unsubscribe(b), None);

    const FLAPS: usize = 4;
    let mut sent = Vec::new();
    let mut send = |text: String| {
        client.send(text.as_str()).unwrap();
        sent.push(text);
    };
    for flap in 0..FLAPS {
        for i in 0..3 {
            send(format!("q{flap}-{i}"));
        }
        send(format!("flap{flap}"));
        events.expect(
            client.events(),
            "Disconnected(1001)",
            |e| matches!(e, Event::Disconnected { failure, .. } if failure.cause == Cause::Close(1001)),
        );
        // Most likely queued while the client waits to reconnect.
        for i in 3..6 {
            send(format!("q{flap}-{i}"));
        }
    }
    let total = 2 + FLAPS + sent.len();
    let got = server.journal().expect_messages(total);
    let undelivered = client.close();
    assert!(undelivered.is_empty(), "undelivered: {undelivered:?}");

    let links = got.iter().map(|(conn, _)| *conn).max().unwrap() + 1;
    assert_eq!(links, FLAPS + 1);
    for link in 0..links {
        let on_link: Vec<&str> = got
            .iter()
            .filter(|(c, _)| *c == link)
            .map(|(_, t)| t.as_str())
            .collect();
        assert_eq!(on_link[0], "sub-A", "link {link}: {on_link:?}");
        assert_eq!(
            on_link.iter().filter(|t| t.starts_with("sub-A")).count(),
            1,
            "link {link}: {on_link:?}"
        );
        let b_count = on_link.iter().filter(|t| t.starts_with("sub-B")).count();
        assert_eq!(b_count, usize::from(link == 0), "link {link}: {on_link:?}");
        if link == 0 {
            assert_eq!(on_link[1], "sub-B");
        }
    }
    let queued: Vec<String> = got
        .iter()
        .map(|(_, t)| t.clone())
        .filter(|t| !t.starts_with("sub-"))
        .collect();
    assert_eq!(queued, sent, "every message once, in order");
    assert_eq!(server.journal().messages().len(), total);
}

#[test]
fn full_queue_hands_messages_back_and_keeps_the_first_256_in_order() {
    let addr = Server::reserve();
    let client = fast_builder(&format!("ws://{addr}/"))
        .queue_capacity(256)
        .connect()
        .unwrap();
    let mut accepted = Vec::new();
    let mut handed_back = Vec::new();
    for i in 0..1000 {
        let text = format!("m{i}");
        match client.send(text.as_str()) {
            Ok(()) => accepted.push(text),
            Err(SendError::Full(message)) => handed_back.push(message.to_text().unwrap().to_string()),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(accepted, numbered("m", 256));
    assert_eq!(handed_back, (256..1000).map(|i| format!("m{i}")).collect::<Vec<_>>());

    let server = Server::start_on(addr, record);
    server.journal().expect_messages(256);
    assert!(client.close().is_empty());
    server.journal().expect_ended(0, PATIENCE);
    assert_eq!(server.journal().texts(), accepted);
}

#[test]
fn slow_reader_gets_every_message_in_order_without_false_heartbeat_timeout() {
    const N: usize = 1000;
    // 1 KiB each: about a megabyte, more than the client buffers, so the
    // server is pushed back through TCP while the reader is slow.
    let padding = "x".repeat(1024);
    let server = Server::start(move |conn| {
        let Some(mut peer) = conn.upgrade() else { return };
        for i in 0..N {
            if !peer.write(format!("n{i} {padding}")) {
                return;
            }
        }
        peer.flush();
        peer.serve();
    });
    let heartbeat = HeartbeatConfig {
        ping_interval: Some(ms(100)),
        pong_timeout: ms(100),
        idle_timeout: None,
    };
    let client = fast_builder(&server.url())
        .inbound_capacity(4)
        .heartbeat(heartbeat)
        .connect()
        .unwrap();
    let mut events = Events::default();
    events.expect(client.events(), "Connected", is_connected);
    // The caller reads nothing for three ping intervals and more.
    thread::sleep(ms(400));
    let mut got = Vec::with_capacity(N);
    while got.len() < N {
        let message = client
            .recv_timeout(PATIENCE)
            .unwrap()
            .unwrap_or_else(|| panic!("only {} messages arrived", got.len()));
        let text = message.to_text().unwrap();
        got.push(text.split(' ').next().unwrap().to_string());
        if got.len() < 20 {
            // Still slow: the inbound channel (4) stays full.
            thread::sleep(ms(5));
        }
    }
    assert_eq!(got, numbered("n", N));
    events.drain(client.events());
    assert_eq!(
        events.count(|e| matches!(e, Event::HeartbeatTimeout)),
        0,
        "{:#?}",
        events.events()
    );
    assert_eq!(
        events.count(|e| matches!(e, Event::Disconnected { .. })),
        0,
        "{:#?}",
        events.events()
    );
    assert_eq!(client.state(), State::Connected);
    assert!(client.close().is_empty());
    assert_eq!(server.journal().accepts(), 1);
}

#[test]
fn session_driven_from_the_callers_loop_receives_and_sends() {
    let server = Server::start(|conn| {
        let Some(mut peer) = conn.upgrade() else { return };
        peer.send("welcome");
        if peer.serve_until(|t| t == "bye") {
            peer.send("done");
            peer.serve();
        }
    });
    let mut session = fast_builder(&server.url()).session().unwrap();
    session.send("hi").unwrap();
    session.send("bye").unwrap();
    let deadline = Instant::now() + PATIENCE;
    let mut got = Vec::new();
    let mut connected = 0;
    while got.len() < 2 && Instant::now() < deadline {
        match session.poll(Some(ms(50))) {
            Some(Incoming::Message(message)) => {
                assert_eq!(connected, 1, "the link is reported before its first message");
                got.push(message);
            }
            Some(Incoming::Event(event)) => connected += usize::from(is_connected(&event.event)),
            None => {}
        }
    }
    assert_eq!(texts(&got), ["welcome", "done"]);
    assert_eq!(connected, 1);
    assert_eq!(session.state(), State::Connected);

    session.close();
    let deadline = Instant::now() + PATIENCE;
    while !session.is_finished() && Instant::now() < deadline {
        session.poll(Some(ms(50)));
    }
    assert!(session.is_finished());
    assert_eq!(session.state(), State::Stopped);
    assert!(session.into_undelivered().is_empty());
    server.journal().expect_ended(0, PATIENCE);
    assert_eq!(server.journal().texts(), ["hi", "bye"]);
    assert_eq!(server.journal().close_codes(), vec![Some(1000)]);
}

#[test]
fn session_close_while_refused_hands_back_the_queue() {
    let addr = Server::reserve();
    let mut session = fast_builder(&format!("ws://{addr}/")).session().unwrap();
    for m in ["a", "b", "c"] {
        session.send(m).unwrap();
    }
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if let Some(Incoming::Event(e)) = session.poll(Some(ms(50))) {
            if matches!(e.event, Event::ConnectFailed { .. }) {
                break;
            }
        }
    }
    session.close();
    assert!(matches!(session.send("late"), Err(SendError::Closed(_))));
    let undelivered = session.into_undelivered();
    assert_eq!(texts(&undelivered), ["a", "b", "c"]);
}

/// A TLS server for 127.0.0.1 with a certificate from `ca`, echoing nothing
/// and sending one greeting.
fn tls_server(config: std::sync::Arc<rustls::ServerConfig>) -> Server {
    Server::start(move |conn| {
        if let Some(mut peer) = conn.upgrade_tls(std::sync::Arc::clone(&config)) {
            peer.send("secure hello");
            peer.serve();
        }
    })
}

fn tls_round_trip(server: &Server, tls: TlsConfig) {
    let url = format!("wss://{}/", server.addr());
    let client = fast_builder(&url).tls(tls).connect().unwrap();
    let mut events = Events::default();
    events.expect(client.events(), "Connected", is_connected);
    let greeting = client.recv_timeout(PATIENCE).unwrap().expect("a greeting");
    assert_eq!(greeting.to_text().unwrap(), "secure hello");
    let sent = numbered("s", 5);
    for m in &sent {
        client.send(m.as_str()).unwrap();
    }
    assert!(client.close().is_empty());
    server.journal().expect_ended(0, PATIENCE);
    assert_eq!(server.journal().texts(), sent);
    assert_eq!(server.journal().close_codes(), vec![Some(1000)]);
}

#[test]
fn tls_trusted_through_a_ca_file_connects_and_exchanges_messages() {
    let ca = TestCa::new("wstether test CA");
    let server = tls_server(ca.server_config(&["127.0.0.1"]));
    let pem = ca.pem_file();
    tls_round_trip(&server, TlsConfig::CaFile(pem.0.clone()));
}

#[test]
fn tls_trusted_through_roots_connects_and_exchanges_messages() {
    let ca = TestCa::new("wstether test CA");
    let server = tls_server(ca.server_config(&["127.0.0.1"]));
    tls_round_trip(&server, TlsConfig::Roots(ca.roots()));
}

#[test]
fn sequence_gaps_and_duplicates_across_a_reconnect_become_events() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let links = AtomicUsize::new(0);
    let server = Server::start(move |conn| {
        let Some(mut peer) = conn.upgrade() else { return };
        // The second link repeats id 3 and skips 4 and 5.
        let ids: &[u64] = if links.fetch_add(1, Ordering::SeqCst) == 0 {
            &[1, 2, 3]
        } else {
            &[3, 6, 7]
        };
        for id in ids {
            peer.send(format!("id {id}"));
        }
        if ids[0] == 1 {
            peer.close_with(1001);
        } else {
            peer.serve();
        }
    });
    let client = fast_builder(&server.url())
        .sequence(100, |m| m.to_text().ok()?.strip_prefix("id ")?.parse().ok())
        .connect()
        .unwrap();
    let got: Vec<Message> = (0..6)
        .map(|_| {
            client
                .recv_timeout(PATIENCE)
                .unwrap()
                .expect("a message from the server")
        })
        .collect();
    assert_eq!(texts(&got), ["id 1", "id 2", "id 3", "id 3", "id 6", "id 7"]);
    let mut events = Events::default();
    events.expect(client.events(), "SequenceGap", |e| {
        matches!(e, Event::SequenceGap { .. })
    });
    assert_eq!(events.count(|e| *e == Event::SequenceDuplicate { seq: 3 }), 1);
    assert_eq!(events.count(|e| *e == Event::SequenceGap { first: 4, last: 5 }), 1);
    assert!(client.close().is_empty());
}

#[test]
fn session_polled_with_a_zero_timeout_still_reads_and_writes_everything() {
    let server = Server::start(|conn| {
        let Some(mut peer) = conn.upgrade() else { return };
        for i in 0..2_000 {
            peer.write(format!("s{i}"));
        }
        peer.flush();
        peer.serve();
    });
    let mut session = fast_builder(&server.url()).session().unwrap();
    let sent = numbered("c", 2_000);
    let mut next = 0;
    let mut got = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    // A game-loop caller: never waits inside poll.
    while (got.len() < 2_000 || server.journal().messages().len() < 2_000) && Instant::now() < deadline {
        while next < sent.len() && session.send(sent[next].as_str()).is_ok() {
            next += 1;
        }
        if let Some(Incoming::Message(message)) = session.poll(Some(std::time::Duration::ZERO)) {
            got.push(message);
        }
    }
    assert_eq!(texts(&got), numbered("s", 2_000));
    assert_eq!(server.journal().texts(), sent);
    assert!(session.into_undelivered().is_empty());
}

#[test]
fn one_client_is_shared_by_a_receiving_and_a_sending_thread() {
    fn shareable<T: Send + Sync>() {}
    shareable::<wstether::client::Client>();
    let server = Server::start(|conn| {
        let Some(mut peer) = conn.upgrade() else { return };
        // Echo until the client closes.
        while let Some(message) = peer.next(PATIENCE) {
            peer.send(message);
        }
    });
    let client = std::sync::Arc::new(fast_builder(&server.url()).connect().unwrap());
    let receiver = {
        let client = std::sync::Arc::clone(&client);
        thread::spawn(move || {
            (0..50)
                .map_while(|_| client.recv_timeout(PATIENCE).ok().flatten())
                .collect::<Vec<_>>()
        })
    };
    let sent = numbered("e", 50);
    for m in &sent {
        client.send(m.as_str()).unwrap();
    }
    let got = receiver.join().unwrap();
    assert_eq!(texts(&got), sent);
    let client = std::sync::Arc::into_inner(client).expect("the receiver thread is done");
    assert!(client.close().is_empty());
}

//! Messages both ways, and the queue while no server is there.

use tungstenite::Message;
use wstether::client::SendError;
use wstether::{Cause, Event, State};

use crate::support::*;
use crate::tether::*;

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
fn full_queue_hands_messages_back_and_keeps_the_first_256_in_order() {
    let addr = Server::reserve();
    let client = fast_builder(&format!("ws://{addr}/"))
        .queue_capacity(256)
        .connect()
        .unwrap();
    let mut accepted = Vec::new();
    let mut refused = Vec::new();
    for i in 0..1000 {
        let text = format!("m{i}");
        match client.send(text.as_str()) {
            Ok(()) => accepted.push(text),
            Err(SendError::Full(message)) => refused.push(message.to_text().unwrap().to_string()),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(accepted, numbered("m", 256));
    assert_eq!(refused, (256..1000).map(|i| format!("m{i}")).collect::<Vec<_>>());

    let server = Server::start_on(addr, record);
    server.journal().expect_messages(256);
    assert!(client.close().is_empty());
    server.journal().expect_ended(0, PATIENCE);
    assert_eq!(server.journal().texts(), accepted);
}

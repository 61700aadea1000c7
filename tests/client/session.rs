//! A session driven from the caller's own loop, without an I/O thread.

use std::time::{Duration, Instant};

use wstether::client::{Incoming, SendError};
use wstether::{Event, State};

use crate::support::*;
use crate::tether::*;

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
            Some(Incoming::Event(event)) => connected += usize::from(event.supervisor().is_some_and(is_connected)),
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
    let mut refused = false;
    while !refused && Instant::now() < deadline {
        if let Some(Incoming::Event(e)) = session.poll(Some(ms(50))) {
            refused = matches!(e.supervisor(), Some(Event::ConnectFailed { .. }));
        }
    }
    assert!(refused, "no ConnectFailed within {PATIENCE:?}");
    session.close();
    assert!(matches!(session.send("late"), Err(SendError::Closed(_))));
    let undelivered = session.into_undelivered();
    assert_eq!(handed_back(&undelivered), ["a", "b", "c"]);
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
        if let Some(Incoming::Message(message)) = session.poll(Some(Duration::ZERO)) {
            got.push(message);
        }
    }
    assert_eq!(texts(&got), numbered("s", 2_000));
    assert_eq!(server.journal().texts(), sent);
    assert!(session.into_undelivered().is_empty());
}

//! Against a third-party peer people run: python-websockets (from PyPI),
//! started by the test on loopback. Skipped with a message where it is not
//! installed (`.ci/run` installs it).

use std::time::{Duration, Instant};

use wstether::client::EventKind;
use wstether::{Cause, Event, Message, Outcome};

use crate::support::{PythonPeer, PythonPeerOptions, PATIENCE};
use crate::{quick, supervisor};

#[test]
fn messages_both_ways_pings_answered_and_a_clean_close_with_python_websockets() {
    let Some(peer) = PythonPeer::start_with(PythonPeerOptions::default().ping_interval(Duration::from_millis(200)))
    else {
        return;
    };
    println!("python-websockets {}", peer.version());
    let client = quick(&peer.url()).connect().expect("a valid configuration");
    client.send("hello").expect("queued");
    assert_eq!(
        client.recv_timeout(PATIENCE).expect("running"),
        Some(Message::text("hello"))
    );
    client.send("!send 500 m").expect("queued");
    for i in 0..500 {
        assert_eq!(
            client.recv_timeout(PATIENCE).expect("running"),
            Some(Message::text(format!("m{i}")))
        );
    }
    client.send("!binary 100000").expect("queued");
    let binary = client
        .recv_timeout(PATIENCE)
        .expect("running")
        .expect("a binary message");
    assert_eq!(binary.len(), 100_000);
    // Its keepalive pings are answered: the link outlives several of them.
    std::thread::sleep(Duration::from_millis(700));
    client.send("still here").expect("queued");
    assert_eq!(
        client.recv_timeout(PATIENCE).expect("running"),
        Some(Message::text("still here"))
    );
    assert!(client.close_with(4001, "done").is_empty());
    let journal = peer.journal();
    let closed = journal.wait_for(PATIENCE, |_| None::<()>);
    let _ = closed;
    let deadline = Instant::now() + PATIENCE;
    while journal.close_codes().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(journal.close_codes(), [Some(4001)]);
}

#[test]
fn a_subprotocol_chosen_and_a_close_code_from_python_websockets() {
    let Some(peer) = PythonPeer::start_with(PythonPeerOptions::default().subprotocol("chat.v2")) else {
        return;
    };
    let client = quick(&peer.url())
        .subprotocol("chat.v2")
        .connect()
        .expect("a valid configuration");
    client.send("x").expect("queued");
    client.recv_timeout(PATIENCE).expect("running").expect("an echo");
    assert_eq!(client.subprotocol().as_deref(), Some("chat.v2"));
    client.send("!close 1008 policy").expect("queued");
    let finished = client.recv().expect_err("rejected by 1008");
    assert!(matches!(finished.0.outcome, Outcome::Rejected { failure } if failure.cause == Cause::Close(1008)));
    assert!(finished.0.detail.expect("why").contains("policy"));
    let opened = client
        .events()
        .try_iter()
        .find(|e| matches!(e.kind, EventKind::LinkOpened { .. }))
        .expect("the link event");
    assert!(matches!(opened.kind, EventKind::LinkOpened { subprotocol: Some(ref p), .. } if p == "chat.v2"));
    let _ = supervisor(&opened, |e| matches!(e, Event::Connected { .. }));
}

//! A fresh request for every attempt: the before-connect hook supplies
//! rotating credentials, a refusal is retried once when the hook has new
//! ones, the hook can fail or stop an attempt, and each new link can start
//! from state (resume from the last sequence number).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use wstether::client::{Incoming, LinkStart};
use wstether::{Cause, Event, Outcome};

use crate::support::{Response, Server, PATIENCE};
use crate::{poll_until, quick, supervisor};

/// A server that takes only `Bearer {token}` for the current token, which
/// the test changes; others get 401.
fn token_server(token: Arc<Mutex<String>>) -> Server {
    Server::start(move |mut conn| {
        let Some(request) = conn.read_request() else { return };
        let wanted = format!("Bearer {}", token.lock().expect("token").clone());
        if request.authorization() != Some(wanted.as_str()) {
            let _ = conn.send_response(&Response::new(401));
            return;
        }
        if conn.answer_upgrade(&request) {
            let mut raw = conn.into_raw();
            raw.send_text("welcome");
            raw.serve(true, std::time::Instant::now() + PATIENCE);
        }
    })
}

#[test]
fn rotated_credentials_reconnect_without_a_401_and_keep_subscriptions_and_queue() {
    let accepted = Arc::new(Mutex::new(String::from("A")));
    let mut server = token_server(Arc::clone(&accepted));
    let current = Arc::new(Mutex::new(String::from("A")));
    let hook_token = Arc::clone(&current);
    let client = quick(&server.url())
        .subscribe("subscribe:trades")
        .before_connect(move |attempt| {
            let token = hook_token.lock().expect("token").clone();
            attempt.set_header("Authorization", format!("Bearer {token}"));
        })
        .connect()
        .expect("a valid configuration");
    assert_eq!(
        client.recv_timeout(PATIENCE).expect("running").expect("welcome"),
        wstether::Message::text("welcome")
    );
    // The token expires; the server restarts and takes only B; the hook
    // already hands out B.
    *accepted.lock().expect("token") = String::from("B");
    *current.lock().expect("token") = String::from("B");
    server.stop();
    // Queued while the link is down (a message written to the dying socket
    // would be in the kernel, which is as far as delivery is promised).
    let deadline = std::time::Instant::now() + PATIENCE;
    while client.state() == wstether::State::Connected && std::time::Instant::now() < deadline {
        let _ = client.events().recv_timeout(std::time::Duration::from_millis(20));
    }
    client.send("queued across the restart").expect("queued");
    server.restart();
    assert_eq!(
        client.recv_timeout(PATIENCE).expect("running").expect("welcome again"),
        wstether::Message::text("welcome")
    );
    let journal = server.journal();
    journal
        .wait_for(PATIENCE, |seen| {
            let texts: Vec<_> = seen
                .iter()
                .filter_map(|s| match s {
                    crate::support::Seen::Message { text, .. } => Some(text.clone()),
                    _ => None,
                })
                .collect();
            texts.contains(&String::from("queued across the restart")).then_some(())
        })
        .expect("the queued message arrives on the new link");
    let refused = client
        .events()
        .try_iter()
        .filter(|e| {
            supervisor(
                e,
                |ev| matches!(ev, Event::ConnectFailed { failure, .. } if failure.cause == Cause::HttpStatus(401)),
            )
        })
        .count();
    assert_eq!(refused, 0, "no attempt went out with the old token");
    let requests = journal.requests();
    assert_eq!(requests.last().and_then(|r| r.authorization()), Some("Bearer B"));
    assert!(client.close().is_empty());
}

#[test]
fn a_401_is_retried_once_when_the_hook_gives_new_credentials_and_final_when_it_does_not() {
    let accepted = Arc::new(Mutex::new(String::from("fresh")));
    let server = token_server(Arc::clone(&accepted));
    // The hook's first token is stale; asked again after the 401, it
    // refreshes.
    let calls = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&calls);
    let mut session = quick(&server.url())
        .before_connect(move |attempt| {
            let token = if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                "stale"
            } else {
                "fresh"
            };
            attempt.set_header("Authorization", format!("Bearer {token}"));
        })
        .session()
        .expect("a valid configuration");
    let mut seen = Vec::new();
    poll_until(&mut session, PATIENCE, &mut seen, |e| {
        supervisor(e, |ev| matches!(ev, Event::Connected { .. } | Event::Rejected { .. }))
    })
    .expect("an end to the story");
    assert!(session.ending().is_none(), "connected with the fresh token: {seen:?}");
    assert_eq!(server.journal().accepts(), 2);

    // A hook that keeps giving the same refused token: the 401 is final.
    let server = token_server(Arc::new(Mutex::new(String::from("fresh"))));
    let mut session = quick(&server.url())
        .before_connect(|attempt| attempt.set_header("Authorization", "Bearer stale"))
        .session()
        .expect("a valid configuration");
    let mut seen = Vec::new();
    poll_until(&mut session, PATIENCE, &mut seen, |e| {
        supervisor(e, |ev| matches!(ev, Event::Rejected { .. }))
    })
    .expect("rejected");
    assert!(matches!(
        session.ending().map(|e| e.outcome),
        Some(Outcome::Rejected { failure }) if failure.cause == Cause::HttpStatus(401)
    ));
    assert_eq!(server.journal().accepts(), 1);
}

#[test]
fn the_hook_can_fail_an_attempt_or_stop_the_session_and_sees_each_attempt() {
    let server = Server::start(crate::support::echo);
    let numbers = Arc::new(Mutex::new(Vec::new()));
    let seen_numbers = Arc::clone(&numbers);
    let mut session = quick(&server.url())
        .before_connect(move |attempt| {
            seen_numbers.lock().expect("numbers").push(attempt.number());
            match attempt.number() {
                1 | 2 => attempt.fail("token file not written yet"),
                _ => attempt.stop("credentials revoked"),
            }
        })
        .session()
        .expect("a valid configuration");
    let mut seen = Vec::new();
    poll_until(&mut session, PATIENCE, &mut seen, |e| {
        supervisor(e, |ev| matches!(ev, Event::Rejected { .. }))
    })
    .expect("stopped by the hook");
    assert_eq!(*numbers.lock().expect("numbers"), [1, 2, 3]);
    let failed: Vec<String> = seen
        .iter()
        .filter_map(|i| match i {
            Incoming::Event(e) if supervisor(e, |ev| matches!(ev, Event::ConnectFailed { .. })) => e.detail.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 3, "two failed attempts and the stop: {failed:?}");
    assert!(failed[0].contains("token file not written yet"));
    assert!(failed[2].contains("credentials revoked"));
    let ending = session.ending().expect("ended");
    assert!(matches!(ending.outcome, Outcome::Rejected { failure } if failure.cause == Cause::Application));
    assert!(ending.detail.expect("why").contains("credentials revoked"));
    assert_eq!(server.journal().accepts(), 0, "no attempt reached the server");
}

#[test]
fn each_link_starts_with_what_the_on_link_hook_computes_then_the_subscriptions() {
    let server = Server::start(|conn| {
        let Some(mut raw) = conn.upgrade_raw() else { return };
        // Sequence numbers, then a drop after the third link's first words.
        for seq in 1..=3 {
            raw.send_text(&format!("{{\"seq\":{seq}}}"));
        }
        let _ = raw.next_message(std::time::Instant::now() + PATIENCE);
        let _ = raw.next_message(std::time::Instant::now() + PATIENCE);
        raw.reset();
    });
    let starts = Arc::new(Mutex::new(Vec::<LinkStart>::new()));
    let recorded = Arc::clone(&starts);
    let client = quick(&server.url())
        .sequence(1_000, |m| {
            let text = m.to_text().ok()?;
            text.strip_prefix("{\"seq\":")?.strip_suffix('}')?.parse().ok()
        })
        .subscribe("subscribe")
        .on_link(move |start| {
            recorded.lock().expect("starts").push(start.clone());
            vec![format!("resume after {:?}", start.last_sequence).into()]
        })
        .connect()
        .expect("a valid configuration");
    for _ in 0..6 {
        client.recv_timeout(PATIENCE).expect("running").expect("a message");
    }
    let journal = server.journal();
    let texts = journal.expect_messages(4);
    assert_eq!(texts[0].1, "resume after None");
    assert_eq!(texts[1].1, "subscribe");
    assert_eq!(texts[2].1, "resume after Some(3)");
    assert_eq!(texts[3].1, "subscribe");
    let starts = starts.lock().expect("starts").clone();
    assert_eq!(starts[0].link, 1);
    assert_eq!(starts[1].link, 2);
    client.close();
}

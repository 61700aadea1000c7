//! The HTTP upgrade as real servers answer it: `Connection` as a token list,
//! interim 1xx answers, any HTTP/1.x status classified, Retry-After
//! honoured, subprotocols negotiated or refused with both sides named.

use std::time::Duration;

use wstether::client::{EventKind, Incoming};
use wstether::{Cause, Delay, Event, FailureClass, Outcome, State};

use crate::support::{echo, ms, Response, Server, PATIENCE};
use crate::{poll_until, quick, supervisor};

/// The delay of the first retry a session against `url` schedules, and what
/// it saw until then.
fn first_scheduled_delay(url: &str) -> (Delay, Vec<Incoming>) {
    let mut session = quick(url).session().expect("a valid configuration");
    let mut seen = Vec::new();
    let scheduled = poll_until(&mut session, PATIENCE, &mut seen, |e| {
        supervisor(e, |ev| matches!(ev, Event::ReconnectScheduled { .. }))
    })
    .expect("a retry is scheduled");
    let EventKind::Supervisor(Event::ReconnectScheduled { delay, .. }) = scheduled.kind else {
        unreachable!()
    };
    (delay, seen)
}

/// A session against `server`, polled until it connects or ends; returns
/// what it saw.
fn run_until_connected_or_ended(url: &str) -> (wstether::client::Session, Vec<Incoming>) {
    let mut session = quick(url).session().expect("a valid configuration");
    let mut seen = Vec::new();
    poll_until(&mut session, PATIENCE, &mut seen, |e| {
        supervisor(e, |ev| matches!(ev, Event::Connected { .. } | Event::Rejected { .. }))
    });
    (session, seen)
}

fn connected(seen: &[Incoming]) -> bool {
    seen.iter()
        .any(|i| matches!(i, Incoming::Event(e) if supervisor(e, |ev| matches!(ev, Event::Connected { .. }))))
}

#[test]
fn a_101_with_a_connection_token_list_and_odd_header_case_opens_the_link() {
    let server = Server::start(|mut conn| {
        let Some(request) = conn.read_request() else { return };
        if conn.answer_upgrade_odd_case(&request) {
            conn.into_raw().serve(true, std::time::Instant::now() + PATIENCE);
        }
    });
    let (_, seen) = run_until_connected_or_ended(&server.url());
    assert!(connected(&seen), "{seen:?}");
}

#[test]
fn interim_103_and_100_answers_are_skipped() {
    for early_hints in [true, false] {
        let server = Server::start(move |mut conn| {
            let Some(request) = conn.read_request() else { return };
            let answered = if early_hints {
                conn.answer_early_hints_then_upgrade(&request, &["</style.css>; rel=preload; as=style"])
            } else {
                conn.answer_continue_then_upgrade(&request)
            };
            if answered {
                conn.into_raw().serve(true, std::time::Instant::now() + PATIENCE);
            }
        });
        let (_, seen) = run_until_connected_or_ended(&server.url());
        assert!(connected(&seen), "early hints {early_hints}: {seen:?}");
    }
}

#[test]
fn frames_in_the_same_write_as_the_101_are_not_lost() {
    let server = Server::start(|mut conn| {
        let Some(request) = conn.read_request() else { return };
        let mut frames = crate::support::frames::text("first");
        frames.extend(crate::support::frames::text("second"));
        if conn.answer_upgrade_then_frames(&request, &frames) {
            conn.into_raw().serve(true, std::time::Instant::now() + PATIENCE);
        }
    });
    let mut session = quick(&server.url()).session().expect("a valid configuration");
    let mut seen = Vec::new();
    poll_until(&mut session, PATIENCE, &mut seen, |_| false);
    assert_eq!(crate::texts_of(&seen)[..2], ["first", "second"]);
}

#[test]
fn an_http_1_0_403_is_a_permanent_rejection() {
    let server = Server::start(|conn| conn.reply(Response::new(403).version("HTTP/1.0")));
    let (session, seen) = run_until_connected_or_ended(&server.url());
    assert_eq!(session.state(), State::Failed, "{seen:?}");
    let ending = session.ending().expect("ended");
    let Outcome::Rejected { failure } = ending.outcome else {
        panic!("rejected: {ending:?}")
    };
    assert_eq!(failure.cause, Cause::HttpStatus(403));
    let detail = ending.detail.expect("the transport's explanation");
    assert!(detail.contains("HTTP/1.0 403"), "{detail}");
    assert_eq!(server.journal().accepts(), 1, "no retry");
}

#[test]
fn a_503_with_retry_after_waits_at_least_that_long() {
    for version in ["HTTP/1.0", "HTTP/1.1"] {
        let server = Server::start(move |conn| conn.reply(Response::retry_after_seconds(503, 30).version(version)));
        let (delay, seen) = first_scheduled_delay(&server.url());
        assert!(delay.floored(), "{version}: {delay:?}");
        assert!(
            delay.delay() >= Duration::from_secs(30) && delay.delay() <= Duration::from_secs(36),
            "{version}: {delay:?}"
        );
        let failed = seen.iter().find_map(|i| match i {
            Incoming::Event(e) => match e.kind {
                EventKind::Supervisor(Event::ConnectFailed { failure, .. }) => Some(failure),
                _ => None,
            },
            _ => None,
        });
        assert_eq!(
            failed.map(|f| f.class),
            Some(FailureClass::RetryLater {
                retry_after_secs: Some(30)
            })
        );
        assert_eq!(
            server.journal().accepts(),
            1,
            "{version}: one attempt, then a wait of 30 s"
        );
    }
}

#[test]
fn a_429_with_an_http_date_retry_after_waits_until_then() {
    let at = crate::support::unix_now() as u64 + 20;
    let server = Server::start(move |conn| conn.reply(Response::retry_after_date(429, at)));
    let (delay, _) = first_scheduled_delay(&server.url());
    assert!(delay.delay() >= Duration::from_secs(18), "{delay:?}");
}

#[test]
fn a_wrong_accept_key_is_retried_not_accepted() {
    let server = Server::start(|mut conn| {
        let Some(request) = conn.read_request() else { return };
        if conn.answer_upgrade_wrong_accept(&request) {
            conn.hold_silent();
        }
    });
    let mut session = quick(&server.url()).session().expect("a valid configuration");
    let mut seen = Vec::new();
    let failed = poll_until(&mut session, PATIENCE, &mut seen, |e| {
        supervisor(e, |ev| matches!(ev, Event::ConnectFailed { .. }))
    })
    .expect("the attempt fails");
    assert!(failed.detail.expect("why").contains("Sec-WebSocket-Accept"));
    poll_until(&mut session, PATIENCE, &mut seen, |e| {
        supervisor(e, |ev| matches!(ev, Event::AttemptStarted { attempt: 2, .. }))
    })
    .expect("a second attempt");
    server.journal().expect_accepts(2);
}

#[test]
fn the_chosen_subprotocol_is_reported_and_a_missing_one_is_a_named_mismatch() {
    let server = Server::start(|mut conn| {
        let Some(request) = conn.read_request() else { return };
        if conn.answer_upgrade_with_protocol(&request, Some("v2.feed")) {
            conn.into_raw().serve(true, std::time::Instant::now() + PATIENCE);
        }
    });
    let mut session = quick(&server.url())
        .subprotocol("v3.feed")
        .subprotocol("v2.feed")
        .session()
        .expect("a valid configuration");
    let mut seen = Vec::new();
    let opened = poll_until(&mut session, PATIENCE, &mut seen, |e| {
        matches!(e.kind, EventKind::LinkOpened { .. })
    })
    .expect("the link opens");
    assert!(matches!(opened.kind, EventKind::LinkOpened { subprotocol: Some(ref p), .. } if p == "v2.feed"));
    assert_eq!(session.subprotocol().as_deref(), Some("v2.feed"));

    let none = Server::start(|mut conn| {
        let Some(request) = conn.read_request() else { return };
        if conn.answer_upgrade_with_protocol(&request, None) {
            conn.hold_silent();
        }
    });
    let mut session = quick(&none.url())
        .subprotocol("v3.feed")
        .session()
        .expect("a valid configuration");
    let mut seen = Vec::new();
    poll_until(&mut session, PATIENCE, &mut seen, |e| {
        supervisor(e, |ev| matches!(ev, Event::Rejected { .. }))
    })
    .expect("a configuration mismatch stops the client");
    let ending = session.ending().expect("ended");
    assert!(matches!(ending.outcome, Outcome::Rejected { failure } if failure.cause == Cause::Subprotocol));
    assert!(ending.detail.expect("why").contains("v3.feed"));
    assert_eq!(none.journal().accepts(), 1);
}

#[test]
fn a_plain_echo_server_round_trip_for_reference() {
    let server = Server::start(echo);
    let client = quick(&server.url()).connect().expect("a valid configuration");
    client.send("ping").expect("queued");
    assert_eq!(
        client
            .recv_timeout(PATIENCE)
            .expect("running")
            .expect("an echo")
            .to_text()
            .expect("text"),
        "ping"
    );
    assert!(client.close().is_empty());
    let _ = ms(1);
}

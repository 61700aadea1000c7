//! Opens that fail: HTTP statuses instead of 101 (rejections, Retry-After,
//! a redirect), an upgrade never answered or dribbled past the open
//! deadline, and a host that does not resolve.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use wstether::{BackoffConfig, Cause, Delay, Event, FailureClass, RetryAfter, State};

use crate::support::*;
use crate::tether::*;

fn http_server(status_line: &'static str) -> Server {
    Server::start(move |conn| conn.respond(status_line))
}

// ---------------------------------------------------------------- rejections

#[test]
fn http_401_and_403_are_rejected_without_retry() {
    for (status, line) in [(401, "HTTP/1.1 401 Unauthorized"), (403, "HTTP/1.1 403 Forbidden")] {
        let server = http_server(line);
        let client = fast_builder(&server.url()).connect().unwrap();
        let mut events = Events::default();
        let rejected = events.expect(client.events(), "Rejected", rejected_with(Cause::HttpStatus(status)));
        let detail = rejected.detail.expect("a detail");
        assert!(detail.contains(&status.to_string()), "{detail}");
        assert_eq!(client.state(), State::Failed);
        expect_finished(&client);
        events.drain(client.events());
        assert_eq!(events.count(is_scheduled), 0, "{:#?}", events.seen);
        assert_eq!(server.journal().accepts(), 1, "no retry after {status}");
        assert!(client.close().is_empty());
    }
}

#[test]
fn http_302_redirect_is_permanent_and_not_followed() {
    let elsewhere = Server::start(record);
    let location: &'static str = Box::leak(format!("HTTP/1.1 302 Found\r\nLocation: {}", elsewhere.url()).into());
    let server = http_server(location);
    let client = fast_builder(&server.url()).connect().unwrap();
    let mut events = Events::default();
    events.expect(client.events(), "Rejected(302)", rejected_with(Cause::HttpStatus(302)));
    assert_eq!(client.state(), State::Failed);
    expect_finished(&client);
    assert_eq!(server.journal().accepts(), 1);
    assert_eq!(elsewhere.journal().accepts(), 0, "redirect followed");
}

// ---------------------------------------------------------------- Retry-After

#[test]
fn http_429_with_retry_after_waits_before_the_next_attempt() {
    let server = Server::start(|conn| {
        if conn.conn == 0 {
            conn.respond("HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1");
        } else if let Some(mut peer) = conn.upgrade() {
            peer.serve();
        }
    });
    let client = fast_builder(&server.url()).connect().unwrap();
    let mut events = Events::default();
    let scheduled = events.expect(client.events(), "ReconnectScheduled", is_scheduled);
    let Event::ReconnectScheduled { delay, .. } = supervisor(&scheduled) else {
        unreachable!()
    };
    assert!(delay.floored(), "{delay:?}");
    assert!(delay.delay() >= Duration::from_secs(1), "{delay:?}");
    events.expect(client.events(), "Connected", is_connected);
    let at = server.journal().expect_accepts(2);
    assert!(
        at[1] - at[0] >= Duration::from_secs(1),
        "second attempt after {:?}",
        at[1] - at[0]
    );
    assert!(
        events.count(|e| matches!(e, Event::ConnectFailed { failure, .. } if failure.cause == Cause::HttpStatus(429)))
            > 0
    );
    assert!(client.close().is_empty());
}

/// Connection 0 answers the upgrade with `head()`; later ones are served.
/// Returns the scheduled delay and the wall-clock times of the two accepts.
fn rate_limited_then_served(
    head: impl Fn() -> String + Send + Sync + 'static,
    backoff: BackoffConfig,
    status: u16,
) -> (Delay, f64, f64) {
    let walls = Arc::new(Mutex::new(Vec::new()));
    let server = {
        let walls = Arc::clone(&walls);
        Server::start(move |conn| {
            walls.lock().unwrap().push(unix_now());
            if conn.conn == 0 {
                let head = head();
                conn.respond(&head);
            } else {
                record(conn);
            }
        })
    };
    let client = fast_builder(&server.url())
        .backoff(backoff)
        .subscribe("sub")
        .connect()
        .unwrap();
    client.send("queued").unwrap();
    let mut events = Events::default();
    let (_, failure, detail) = events.expect_connect_failed(client.events());
    assert_eq!(failure.cause, Cause::HttpStatus(status), "{detail:?}");
    assert!(matches!(failure.class, FailureClass::RetryLater { .. }), "{failure:?}");
    let scheduled = events.expect(client.events(), "ReconnectScheduled", is_scheduled);
    let Event::ReconnectScheduled { delay, .. } = supervisor(&scheduled) else {
        unreachable!()
    };
    events.expect(client.events(), "Connected", is_connected);
    let got = server.journal().expect_messages(2);
    assert_nothing_lost(&got, &["sub"], &["queued".to_string()]);
    assert!(client.close().is_empty());
    let walls = walls.lock().unwrap().clone();
    assert_eq!(walls.len(), 2, "one retry only");
    (delay, walls[0], walls[1])
}

#[test]
fn http_429_and_503_with_retry_after_as_an_http_date_wait_until_that_date() {
    for (status, line) in [
        (503, "HTTP/1.1 503 Service Unavailable"),
        (429, "HTTP/1.1 429 Too Many Requests"),
    ] {
        let retry_at = Arc::new(Mutex::new(0u64));
        let head = {
            let retry_at = Arc::clone(&retry_at);
            move || {
                // Two seconds ahead, in whole seconds as HTTP-dates are.
                let at = unix_now() as u64 + 2;
                *retry_at.lock().unwrap() = at;
                let date = http_date(at);
                assert_eq!(RetryAfter::parse(&date), Some(RetryAfter::At(at)));
                format!("{line}\r\nRetry-After: {date}")
            }
        };
        let (delay, first, second) = rate_limited_then_served(head, fast_backoff(), status);
        let retry_at = *retry_at.lock().unwrap() as f64;
        assert!(delay.floored(), "{delay:?}");
        // The date is in whole seconds: from the client's clock it is between
        // one and two seconds away; the spread adds up to 20 %.
        assert!(
            delay.delay() >= Duration::from_secs(1) && delay.delay() <= ms(2_400),
            "{delay:?}"
        );
        // Not before the date (allowing for the clock's sub-millisecond reads).
        assert!(
            second >= retry_at - 0.01,
            "retried at {second}, before the date {retry_at} (first attempt at {first})"
        );
        assert_within(Duration::from_secs_f64(second - first), ms(2_400 + 1_000), "the retry");
    }
}

#[test]
fn http_429_and_503_with_an_absurd_retry_after_are_clamped_to_max_retry_after() {
    let backoff = BackoffConfig {
        max_retry_after: Duration::from_secs(1),
        retry_after_spread_permille: 200,
        ..fast_backoff()
    };
    for (status, line) in [
        (429, "HTTP/1.1 429 Too Many Requests"),
        (503, "HTTP/1.1 503 Service Unavailable"),
    ] {
        let head = move || format!("{line}\r\nRetry-After: 1000000000000");
        let (delay, first, second) = rate_limited_then_served(head, backoff, status);
        assert!(delay.floored(), "{delay:?}");
        // Clamped to 1 s, spread by up to +20 %.
        assert!(
            delay.delay() >= Duration::from_secs(1) && delay.delay() <= ms(1_200),
            "{delay:?}"
        );
        let waited = Duration::from_secs_f64(second - first);
        assert!(waited >= ms(990), "retried after {waited:?}");
        assert_within(waited, ms(1_200 + 1_000), "the retry");
    }
}

// ---------------------------------------------------------------- open deadline

/// Connection 0 runs `stall`; later ones are served. The open deadline must
/// end connection 0 and the client must come back after its backoff.
fn open_deadline_holds(stall: impl Fn(Conn) + Send + Sync + 'static) {
    const OPEN: Duration = Duration::from_millis(300);
    let server = Server::start(move |conn| {
        if conn.conn == 0 {
            stall(conn);
        } else if let Some(mut peer) = conn.upgrade() {
            peer.serve();
        }
    });
    let client = fast_builder(&server.url()).connect_timeout(OPEN).connect().unwrap();
    client.send("queued").unwrap();
    let mut events = Events::default();
    let (_, failure, detail) = events.expect_connect_failed(client.events());
    assert_eq!(failure.cause, Cause::Timeout, "{detail:?}");
    events.expect(client.events(), "ReconnectScheduled", is_scheduled);
    events.expect(client.events(), "Connected", is_connected);

    let accepted = server.journal().expect_accepts(1)[0];
    let ended = server.journal().expect_ended(0, PATIENCE);
    let held = ended - accepted;
    assert!(held >= OPEN - ms(50), "hung up after {held:?}");
    assert_within(held, OPEN + ms(700), "the open");
    assert_eq!(server.journal().expect_messages(1), vec![(1, "queued".to_string())]);
    assert!(client.close().is_empty());
}

#[test]
fn upgrade_never_answered_ends_at_the_open_deadline_then_backs_off() {
    open_deadline_holds(|conn| conn.hold_silent());
}

#[test]
fn upgrade_answer_dribbled_a_byte_every_50ms_ends_at_the_open_deadline() {
    open_deadline_holds(|conn| conn.dribble(ms(50)));
}

// ---------------------------------------------------------------- DNS

/// `wstether-test-` and 50 more letters: a 64-byte label, under `.invalid`.
const UNRESOLVABLE: &str = "wstether-test-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.invalid";

#[test]
fn unresolvable_host_fails_with_dns_and_backs_off() {
    // A label of 64 bytes is one longer than DNS allows: the system resolver
    // refuses the name itself, so no query leaves this machine (a plain
    // `.invalid` name was sent to the configured name server).
    let client = fast_builder(&format!("ws://{UNRESOLVABLE}/"))
        .connect_timeout(Duration::from_secs(3))
        .connect()
        .unwrap();
    client.send("queued").unwrap();
    let mut events = Events::default();
    for attempt in 1..=2u32 {
        let (n, failure, detail) = events.expect_connect_failed(client.events());
        assert_eq!(n, attempt);
        // A resolver without network may time out instead of answering.
        assert!(
            matches!(failure.cause, Cause::Dns | Cause::Timeout) && !failure.is_permanent(),
            "{failure:?}"
        );
        let detail = detail.expect("a detail");
        if failure.cause == Cause::Dns {
            assert!(detail.contains(UNRESOLVABLE), "{detail}");
        }
        events.expect(client.events(), "ReconnectScheduled", is_scheduled);
    }
    assert!(matches!(client.state(), State::Backoff | State::Connecting));
    assert_eq!(handed_back(&client.close()), ["queued"]);
}

//! The thread client against servers and proxies that misbehave: refused,
//! stalled and unresolvable opens, HTTP rejections and Retry-After, silent
//! peers, blackholes, dropped pongs, idle feeds, close codes, resets and
//! FINs mid-frame, TLS failures, a server that stops reading, oversized and
//! trickled frames, a fleet after a restart — and `close()` in the middle.
//! `RELIABILITY.md` maps the fault matrix to these tests.
//!
//! Every test also checks that nothing is lost: each message `send` accepted
//! reached the server, in order, or came back from `close()`.

// The thread client, its transport and TLS; the core alone has none of them.
#![cfg(all(feature = "std", feature = "tls"))]

mod support;

use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use wstether::client::Client;
use wstether::transport::{Connector, Limits, TlsConfig, TransportConfig};
use wstether::{BackoffConfig, Cause, Event, HeartbeatConfig, Jitter, State};

use support::*;

fn is_connected(e: &Event) -> bool {
    matches!(e, Event::Connected { .. })
}

fn rejected_with(cause: Cause) -> impl FnMut(&Event) -> bool {
    move |e| matches!(e, Event::Rejected { failure } if failure.cause == cause)
}

/// Waits until the client's I/O thread has ended: its inbound channel
/// disconnects. After this no further attempt can happen.
fn expect_finished(client: &Client) {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        match client.recv_timeout(ms(100)) {
            Err(_) => return,
            Ok(Some(message)) => panic!("unexpected message {message:?}"),
            Ok(None) => {}
        }
    }
    panic!("client did not finish");
}

/// Compares long message lists without printing them whole.
fn assert_same(got: &[String], expected: &[String]) {
    if let Some(i) = (0..got.len().max(expected.len())).find(|&i| got.get(i) != expected.get(i)) {
        panic!(
            "message lists differ at {i}: got {} messages ({:?}…), expected {} ({:?}…)",
            got.len(),
            &got[i.min(got.len())..(i + 5).min(got.len())],
            expected.len(),
            &expected[i.min(expected.len())..(i + 5).min(expected.len())],
        );
    }
}

fn assert_within(elapsed: Duration, bound: Duration, what: &str) {
    assert!(elapsed <= bound, "{what} took {elapsed:?}, more than {bound:?}");
}

// ---------------------------------------------------------------- close()

const CLOSE_TIMEOUT: Duration = Duration::from_millis(500);
/// What `close()` may take: its timeout plus the second the client allows
/// for a connect in progress.
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
    let client = fast_builder(&format!("ws://{addr}/"))
        .backoff(slow)
        .close_timeout(CLOSE_TIMEOUT)
        .connect()
        .unwrap();
    let mut events = Events::default();
    events.expect(client.events(), "ReconnectScheduled", |e| {
        matches!(e, Event::ReconnectScheduled { .. })
    });
    assert_eq!(client.state(), State::Backoff);
    for m in ["a", "b", "c"] {
        client.send(m).unwrap();
    }
    let started = Instant::now();
    let undelivered = client.close();
    assert_within(started.elapsed(), CLOSE_BOUND, "close in backoff");
    assert_eq!(texts(&undelivered), ["a", "b", "c"]);
}

#[test]
fn close_mid_connect_returns_queued_messages_and_drops_the_socket() {
    // TCP is accepted; the upgrade is never answered.
    let server = Server::start(|conn| conn.hold_silent());
    let client = fast_builder(&server.url())
        .connect_timeout(Duration::from_secs(5))
        .close_timeout(CLOSE_TIMEOUT)
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
    assert_eq!(texts(&undelivered), ["a", "b", "c"]);
    // The I/O thread is gone with its socket: the server sees the hang-up.
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
    let client = fast_builder(&server.url())
        .close_timeout(CLOSE_TIMEOUT)
        .connect()
        .unwrap();
    let mut events = Events::default();
    events.expect(client.events(), "Connected", is_connected);
    let started = Instant::now();
    let undelivered = client.close();
    let returned = Instant::now();
    assert!(undelivered.is_empty());
    assert!(
        returned - started >= CLOSE_TIMEOUT - ms(50),
        "close waited for the reply"
    );
    assert_within(returned - started, CLOSE_BOUND, "close against a silent peer");
    let ended = server.journal().expect_ended(0, PATIENCE);
    assert_within(
        ended.saturating_duration_since(returned),
        ms(500),
        "hang-up after close",
    );
}

// ---------------------------------------------------------------- HTTP

fn http_server(status_line: &'static str) -> Server {
    Server::start(move |conn| conn.respond(status_line))
}

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
        assert_eq!(events.count(|e| matches!(e, Event::ReconnectScheduled { .. })), 0);
        assert_eq!(server.journal().accepts(), 1, "no retry after {status}");
        assert!(client.close().is_empty());
    }
}

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
    let scheduled = events.expect(client.events(), "ReconnectScheduled", |e| {
        matches!(e, Event::ReconnectScheduled { .. })
    });
    let Event::ReconnectScheduled { delay, .. } = scheduled.event else {
        unreachable!()
    };
    assert!(delay.floored, "{delay:?}");
    assert!(delay.delay >= Duration::from_secs(1), "{delay:?}");
    events.expect(client.events(), "Connected", is_connected);
    let at = server.journal().expect_accepts(2);
    assert!(
        at[1] - at[0] >= Duration::from_secs(1),
        "second attempt after {:?}",
        at[1] - at[0]
    );
    assert!(events.seen.iter().any(|e| matches!(
        e.event,
        Event::ConnectFailed { failure, .. } if failure.cause == Cause::HttpStatus(429)
    )));
    assert!(client.close().is_empty());
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
    let failed = events.expect(client.events(), "ConnectFailed", |e| {
        matches!(e, Event::ConnectFailed { .. })
    });
    let Event::ConnectFailed { failure, .. } = failed.event else {
        unreachable!()
    };
    assert_eq!(failure.cause, Cause::Timeout, "{:?}", failed.detail);
    events.expect(client.events(), "ReconnectScheduled", |e| {
        matches!(e, Event::ReconnectScheduled { .. })
    });
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

// ---------------------------------------------------------------- heartbeat

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
    events.expect(client.events(), "HeartbeatTimeout", |e| {
        matches!(e, Event::HeartbeatTimeout)
    });
    // Silence since at most `blackholed`: a ping within 200 ms, its pong
    // missed 200 ms later; the rest is slack for a loaded machine.
    assert_within(blackholed.elapsed(), ms(400 + 600), "detection");
    events.expect(
        client.events(),
        "Disconnected(HeartbeatTimeout)",
        |e| matches!(e, Event::Disconnected { failure, .. } if failure.cause == Cause::HeartbeatTimeout),
    );

    let sent = numbered("q", 10);
    for m in &sent {
        client.send(m.as_str()).unwrap();
    }
    events.expect(client.events(), "ConnectFailed through the refusing proxy", |e| {
        matches!(e, Event::ConnectFailed { .. })
    });
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

// ---------------------------------------------------------------- close codes

#[test]
fn server_close_1001_and_1012_reconnect() {
    for code in [1001, 1012] {
        let server = Server::start(move |conn| {
            let Some(mut peer) = conn.upgrade() else { return };
            if conn_is_first(&peer) {
                peer.close_with(code);
            } else {
                peer.serve();
            }
        });
        let client = fast_builder(&server.url()).subscribe("sub").connect().unwrap();
        let mut events = Events::default();
        events.expect(client.events(), "Disconnected", |e| {
            matches!(e, Event::Disconnected { failure, .. } if failure.cause == Cause::Close(code) && !failure.is_permanent())
        });
        events.expect(client.events(), "ReconnectScheduled", |e| {
            matches!(e, Event::ReconnectScheduled { .. })
        });
        events.expect(client.events(), "Connected again", is_connected);
        assert_eq!(events.count(is_connected), 2);
        client.send("after").unwrap();
        let got = server.journal().expect_messages(3);
        assert_eq!(got, vec![(0, "sub".into()), (1, "sub".into()), (1, "after".into())]);
        assert!(client.close().is_empty());
    }
}

fn conn_is_first(peer: &Peer) -> bool {
    peer.conn == 0
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
    let undelivered = texts(&client.close());
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
        let scheduled = events.expect(client.events(), "ReconnectScheduled", |e| {
            matches!(e, Event::ReconnectScheduled { .. })
        });
        if let Event::ReconnectScheduled { delay, .. } = scheduled.event {
            delays.push(delay.delay);
        }
    }
    events.expect(client.events(), "the last Connected", |e| {
        matches!(e, Event::Connected { .. })
    });
    while events.count(is_connected) < FLAPS + 1 {
        events.expect(client.events(), "Connected", is_connected);
    }
    assert!(delays.windows(2).all(|w| w[0] <= w[1]), "{delays:?}");
    assert_eq!(delays[0], ms(20));
    assert_eq!(delays[FLAPS - 1], ms(200), "{delays:?}");
    assert_eq!(server.journal().accepts(), FLAPS + 1);
    assert!(client.close().is_empty());
}

// ---------------------------------------------------------------- TLS failures

fn tls_rejected(server_ca: &TestCa, names: &[&str], client_tls: TlsConfig) {
    let config = server_ca.server_config(names);
    let server = Server::start(move |conn| {
        if let Some(mut peer) = conn.upgrade_tls(Arc::clone(&config)) {
            peer.serve();
        }
    });
    let url = format!("wss://{}/", server.addr());
    let client = fast_builder(&url).tls(client_tls).connect().unwrap();
    client.send("never").unwrap();
    let mut events = Events::default();
    let rejected = events.expect(
        client.events(),
        "Rejected(Certificate)",
        rejected_with(Cause::Certificate),
    );
    let detail = rejected.detail.expect("a detail");
    assert!(detail.contains("certificate"), "{detail}");
    assert_eq!(client.state(), State::Failed);
    expect_finished(&client);
    assert_eq!(server.journal().accepts(), 1, "no retry, no fallback");
    assert!(server.journal().messages().is_empty());
    assert_eq!(texts(&client.close()), ["never"]);
}

#[test]
fn tls_untrusted_ca_is_rejected_as_a_certificate_failure() {
    let server_ca = TestCa::new("server CA");
    let other_ca = TestCa::new("some other CA");
    let pem = other_ca.pem_file();
    tls_rejected(&server_ca, &["127.0.0.1"], TlsConfig::CaFile(pem.0.clone()));
}

#[test]
fn tls_default_roots_reject_a_test_ca() {
    let server_ca = TestCa::new("server CA");
    tls_rejected(&server_ca, &["127.0.0.1"], TlsConfig::WebPkiRoots);
}

#[test]
fn tls_certificate_for_another_name_is_rejected() {
    let ca = TestCa::new("wstether test CA");
    tls_rejected(&ca, &["wrong.example"], TlsConfig::Roots(ca.roots()));
}

// ---------------------------------------------------------------- redaction

/// Every log record of this crate in this test binary, formatted.
static LOGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        let mut logs = LOGS.lock().unwrap_or_else(|p| p.into_inner());
        // Only this crate's records: tungstenite traces the whole upgrade
        // request (query and headers included) at TRACE, which no caller of
        // ours can prevent but a log filter (`tungstenite=debug`). Bounded:
        // the other tests of this binary log too.
        if record.target().starts_with("wstether") && logs.len() < 100_000 {
            logs.push(format!("{} {}", record.level(), record.args()));
        }
    }
    fn flush(&self) {}
}

fn capture_logs() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        log::set_logger(&Capture).expect("no other logger");
        log::set_max_level(log::LevelFilter::Trace);
    });
}

#[test]
fn errors_events_and_logs_never_show_userinfo_or_query_values() {
    capture_logs();
    let server = http_server("HTTP/1.1 401 Unauthorized");
    let url = format!("ws://user:hunter2@{}/feed?token=secret&v=2", server.addr());
    let client = fast_builder(&url).connect().unwrap();
    let mut events = Events::default();
    events.expect(client.events(), "Rejected(401)", rejected_with(Cause::HttpStatus(401)));
    expect_finished(&client);
    drop(client);

    let mut shown: Vec<String> = events
        .seen
        .iter()
        .flat_map(|e| [format!("{:?}", e.event), e.detail.clone().unwrap_or_default()])
        .collect();
    // A URL the transport cannot parse is echoed in the error, redacted.
    let connector = Connector::new(TransportConfig::default()).unwrap();
    let deadline = Instant::now() + PATIENCE;
    let error = connector
        .open("http://user:hunter2@127.0.0.1:1/feed?token=secret", deadline, None)
        .map(|_| ())
        .expect_err("an invalid URL");
    shown.push(error.to_string());
    shown.push(format!("{error:?}"));
    assert!(error.to_string().contains("token=***"), "{error}");

    let logs = LOGS.lock().unwrap().clone();
    let ours: Vec<&String> = logs.iter().filter(|l| l.contains("/feed?token=")).collect();
    assert!(!ours.is_empty(), "the attempt is logged with its redacted URL");
    assert!(ours.iter().all(|l| l.contains("token=***")), "{ours:#?}");
    shown.extend(logs);
    for line in &shown {
        assert!(!line.contains("hunter2") && !line.contains("secret"), "leaked: {line}");
    }
}

// ---------------------------------------------------------------- nothing lost

/// Checks what the server received across links: each link starts with
/// every subscription in `subs`, once, in order; the other messages, across
/// links, are `sent` in order, each exactly once.
fn assert_nothing_lost(got: &[(usize, String)], subs: &[&str], sent: &[String]) {
    let mut links: Vec<usize> = got.iter().map(|(conn, _)| *conn).collect();
    links.dedup();
    for link in &links {
        let on_link: Vec<&str> = got.iter().filter(|(c, _)| c == link).map(|(_, t)| t.as_str()).collect();
        assert!(
            on_link.starts_with(subs),
            "link {link} does not start with {subs:?}: {on_link:?}"
        );
        for sub in subs {
            assert_eq!(
                on_link.iter().filter(|t| *t == sub).count(),
                1,
                "{sub} on link {link}: {on_link:?}"
            );
        }
    }
    let queued: Vec<String> = got
        .iter()
        .map(|(_, t)| t.clone())
        .filter(|t| !subs.contains(&t.as_str()))
        .collect();
    assert_same(&queued, sent);
}

fn is_scheduled(e: &Event) -> bool {
    matches!(e, Event::ReconnectScheduled { .. })
}

fn disconnected_by(cause: Cause) -> impl FnMut(&Event) -> bool {
    move |e| matches!(e, Event::Disconnected { failure, .. } if failure.cause == cause && !failure.is_permanent())
}

/// Sends `messages`, remembering them.
fn send_all(client: &Client, sent: &mut Vec<String>, messages: &[&str]) {
    for m in messages {
        client.send(*m).unwrap();
        sent.push(m.to_string());
    }
}

// ---------------------------------------------------------------- idle and pongs

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
    let idle = events.expect(client.events(), "IdleTimeout", |e| matches!(e, Event::IdleTimeout));
    let after = idle.at - connected.at;
    assert!(after >= IDLE - ms(10), "idle timeout after {after:?}");
    assert_within(after, IDLE + ms(800), "the idle timeout");
    events.expect(
        client.events(),
        "Disconnected(IdleTimeout)",
        disconnected_by(Cause::IdleTimeout),
    );
    // Pings went out and were answered all along: no heartbeat timeout.
    let pings = server
        .journal()
        .snapshot()
        .iter()
        .filter(|s| matches!(s, Seen::Ping { conn: 0, .. }))
        .count();
    assert!(pings >= 3, "{pings} pings on the first link");
    assert_eq!(events.count(|e| matches!(e, Event::HeartbeatTimeout)), 0);

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
    assert_eq!(events.count(is_connected), 1, "{:#?}", events.events());
    assert_eq!(events.count(|e| matches!(e, Event::Disconnected { .. })), 0);
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
    events.expect(client.events(), "HeartbeatTimeout", |e| {
        matches!(e, Event::HeartbeatTimeout)
    });
    assert_within(marked.elapsed(), PING + PONG + ms(800), "detection");
    events.expect(
        client.events(),
        "Disconnected(HeartbeatTimeout)",
        disconnected_by(Cause::HeartbeatTimeout),
    );
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

// ---------------------------------------------------------------- Retry-After

/// Connection 0 answers the upgrade with `head(now)`; later ones are served.
/// Returns the scheduled delay and the wall-clock times of the two accepts.
fn rate_limited_then_served(
    head: impl Fn() -> String + Send + Sync + 'static,
    backoff: BackoffConfig,
    status: u16,
) -> (wstether::Delay, f64, f64) {
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
    let failed = events.expect(client.events(), "ConnectFailed", |e| {
        matches!(e, Event::ConnectFailed { .. })
    });
    let Event::ConnectFailed { failure, .. } = failed.event else {
        unreachable!()
    };
    assert_eq!(failure.cause, Cause::HttpStatus(status), "{:?}", failed.detail);
    assert!(
        matches!(failure.class, wstether::FailureClass::RateLimited { .. }),
        "{failure:?}"
    );
    let scheduled = events.expect(client.events(), "ReconnectScheduled", is_scheduled);
    let Event::ReconnectScheduled { delay, .. } = scheduled.event else {
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
                assert_eq!(wstether::RetryAfter::parse(&date), Some(wstether::RetryAfter::At(at)));
                format!("{line}\r\nRetry-After: {date}")
            }
        };
        let (delay, first, second) = rate_limited_then_served(head, fast_backoff(), status);
        let retry_at = *retry_at.lock().unwrap() as f64;
        assert!(delay.floored, "{delay:?}");
        // The date is in whole seconds: from the client's clock it is between
        // one and two seconds away; the spread adds up to 20 %.
        assert!(
            delay.delay >= Duration::from_secs(1) && delay.delay <= ms(2_400),
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
        assert!(delay.floored, "{delay:?}");
        // Clamped to 1 s, spread by up to +20 %.
        assert!(
            delay.delay >= Duration::from_secs(1) && delay.delay <= ms(1_200),
            "{delay:?}"
        );
        let waited = Duration::from_secs_f64(second - first);
        assert!(waited >= ms(990), "retried after {waited:?}");
        assert_within(waited, ms(1_200 + 1_000), "the retry");
    }
}

// ---------------------------------------------------------------- close codes

/// The first link is closed by the server with `code` after the marker;
/// later links are served. Returns the client's events.
fn server_closes_first_link_with(
    code: u16,
    builder: impl FnOnce(wstether::client::ClientBuilder) -> wstether::client::ClientBuilder,
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
    events.expect(client.events(), "Disconnected", |e| {
        matches!(e, Event::Disconnected { failure, .. } if failure.cause == Cause::Close(code))
            || matches!(e, Event::Rejected { failure } if failure.cause == Cause::Close(code))
    });
    (events, server, client, sent)
}

#[test]
fn server_close_1000_reconnects() {
    let (mut events, server, client, mut sent) = server_closes_first_link_with(1000, |b| b);
    assert!(events
        .seen
        .iter()
        .any(|e| matches!(e.event, Event::Disconnected { failure, .. } if failure == wstether::Failure::transient(Cause::Close(1000)))));
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
        rate_limited_floor: FLOOR,
        ..fast_backoff()
    };
    let (mut events, server, client, mut sent) = server_closes_first_link_with(1013, |b| b.backoff(backoff));
    let disconnected = events.seen.last().unwrap().clone();
    let Event::Disconnected { failure, .. } = disconnected.event else {
        panic!("{disconnected:?}")
    };
    assert!(
        matches!(failure.class, wstether::FailureClass::RateLimited { .. }),
        "{failure:?}"
    );
    let scheduled = events.expect(client.events(), "ReconnectScheduled", is_scheduled);
    let Event::ReconnectScheduled { delay, .. } = scheduled.event else {
        unreachable!()
    };
    assert!(delay.floored, "{delay:?}");
    assert!(delay.delay >= FLOOR && delay.delay <= FLOOR * 6 / 5, "{delay:?}");
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

    let table = wstether::CloseCodeTable::default()
        .with_override(4001, wstether::CloseAction::Stop)
        .unwrap();
    let (mut events, server, client, sent) = server_closes_first_link_with(4001, |b| b.close_codes(table));
    events.expect(client.events(), "Rejected(4001)", rejected_with(Cause::Close(4001)));
    assert_eq!(client.state(), State::Failed);
    expect_finished(&client);
    events.drain(client.events());
    assert_eq!(events.count(is_scheduled), 0);
    assert!(matches!(
        client.send("late"),
        Err(wstether::client::SendError::Closed(_))
    ));
    assert!(client.close().is_empty());
    assert_eq!(server.journal().accepts(), 1);
    server.journal().expect_ended(0, PATIENCE);
    assert_nothing_lost(&server.journal().messages(), &["sub"], &sent);
}

// ---------------------------------------------------------------- RST and FIN

/// A text frame header announcing 100 bytes, and 10 of them.
fn half_a_frame() -> Vec<u8> {
    let mut bytes = frame_header(true, 0x1, 100);
    bytes.extend_from_slice(b"half-a-mes");
    bytes
}

/// The first link ends with `fault` after the server read the marker, sent
/// "whole" and half of another frame; later links are served. The client
/// must get "whole", never the half message, and come back with nothing lost.
fn link_fault_mid_frame(fault: impl Fn(RawPeer) + Send + Sync + 'static, half: bool, causes: &[Cause]) {
    let server = Server::start(move |conn| {
        if conn.conn > 0 {
            return record(conn);
        }
        let Some(mut peer) = conn.upgrade_raw() else { return };
        if let RawStep::Frame(_) = peer.serve_until(true, Instant::now() + PATIENCE, |t| t == "marker") {
            peer.send_text("whole");
            if half {
                let _ = peer.write_raw(&half_a_frame());
            }
            fault(peer);
        }
    });
    // Pings, so the RST script has unread bytes to leave behind; a long pong
    // timeout, so the heartbeat is not what ends the link.
    let heartbeat = HeartbeatConfig {
        ping_interval: Some(ms(100)),
        pong_timeout: Duration::from_secs(5),
        idle_timeout: None,
    };
    let client = fast_builder(&server.url())
        .heartbeat(heartbeat)
        .subscribe("sub")
        .connect()
        .unwrap();
    let mut sent = Vec::new();
    send_all(&client, &mut sent, &["a", "marker"]);
    let whole = client.recv_timeout(PATIENCE).unwrap().expect("the whole message");
    assert_eq!(whole.to_text().unwrap(), "whole");
    let mut events = Events::default();
    let lost = events.expect(client.events(), "Disconnected", |e| {
        matches!(e, Event::Disconnected { .. })
    });
    let Event::Disconnected { failure, .. } = lost.event else {
        unreachable!()
    };
    assert!(
        causes.contains(&failure.cause) && !failure.is_permanent(),
        "{failure:?}: {:?}",
        lost.detail
    );
    send_all(&client, &mut sent, &["q0", "q1"]);
    events.expect(client.events(), "Connected again", is_connected);
    let got = server.journal().expect_messages(3 + 3);
    assert_nothing_lost(&got, &["sub"], &sent);
    // No half message, on the first link or later.
    assert_eq!(client.try_recv().unwrap(), None);
    assert!(client.close().is_empty());
}

#[test]
fn rst_mid_frame_reconnects_and_delivers_no_half_message() {
    link_fault_mid_frame(
        |peer| {
            // A ping the server never reads: closing now makes the kernel
            // send RST instead of FIN.
            assert!(peer.wait_pending(PATIENCE), "no ping to leave unread");
            peer.reset();
        },
        true,
        &[Cause::Abnormal, Cause::Io],
    );
}

#[test]
fn fin_without_close_frame_mid_frame_reconnects_and_delivers_no_half_message() {
    link_fault_mid_frame(RawPeer::fin_then_drain, true, &[Cause::Abnormal]);
}

#[test]
fn fin_without_close_frame_between_frames_reconnects() {
    link_fault_mid_frame(RawPeer::fin_then_drain, false, &[Cause::Abnormal]);
}

// ---------------------------------------------------------------- DNS

#[test]
fn unresolvable_host_fails_with_dns_and_backs_off() {
    // `.invalid` never resolves (RFC 6761); no server of ours is involved.
    let client = fast_builder("ws://wstether-test.invalid/")
        .connect_timeout(Duration::from_secs(3))
        .connect()
        .unwrap();
    client.send("queued").unwrap();
    let mut events = Events::default();
    for attempt in 1..=2u32 {
        let failed = events.expect(client.events(), "ConnectFailed", |e| {
            matches!(e, Event::ConnectFailed { .. })
        });
        let Event::ConnectFailed { failure, attempt: n } = failed.event else {
            unreachable!()
        };
        assert_eq!(n, attempt);
        // A resolver without network may time out instead of answering.
        assert!(
            matches!(failure.cause, Cause::Dns | Cause::Timeout) && !failure.is_permanent(),
            "{failure:?}"
        );
        let detail = failed.detail.expect("a detail");
        if failure.cause == Cause::Dns {
            assert!(detail.contains("wstether-test.invalid"), "{detail}");
        }
        events.expect(client.events(), "ReconnectScheduled", is_scheduled);
    }
    assert!(matches!(client.state(), State::Backoff | State::Connecting));
    assert_eq!(texts(&client.close()), ["queued"]);
}

// ---------------------------------------------------------------- TLS

#[test]
fn tls_expired_certificate_is_rejected_as_a_certificate_failure() {
    let ca = TestCa::new("wstether test CA");
    let config = ca.expired_server_config(&["127.0.0.1"]);
    let server = Server::start(move |conn| {
        if let Some(mut peer) = conn.upgrade_tls(Arc::clone(&config)) {
            peer.serve();
        }
    });
    let url = format!("wss://{}/", server.addr());
    let client = fast_builder(&url).tls(TlsConfig::Roots(ca.roots())).connect().unwrap();
    client.send("never").unwrap();
    let mut events = Events::default();
    let rejected = events.expect(
        client.events(),
        "Rejected(Certificate)",
        rejected_with(Cause::Certificate),
    );
    let detail = rejected.detail.expect("a detail");
    assert!(detail.to_lowercase().contains("expired"), "{detail}");
    expect_finished(&client);
    assert_eq!(server.journal().accepts(), 1, "no retry");
    assert_eq!(texts(&client.close()), ["never"]);
}

#[test]
fn tls_server_hello_never_sent_ends_at_the_open_deadline_then_backs_off() {
    const OPEN: Duration = Duration::from_millis(300);
    let ca = TestCa::new("wstether test CA");
    let config = ca.server_config(&["127.0.0.1"]);
    // Connection 0 reads the ClientHello and answers nothing.
    let server = Server::start(move |conn| {
        if conn.conn == 0 {
            conn.hold_silent();
        } else if let Some(mut peer) = conn.upgrade_tls(Arc::clone(&config)) {
            peer.serve();
        }
    });
    let url = format!("wss://{}/", server.addr());
    let client = fast_builder(&url)
        .tls(TlsConfig::Roots(ca.roots()))
        .connect_timeout(OPEN)
        .subscribe("sub")
        .connect()
        .unwrap();
    client.send("queued").unwrap();
    let mut events = Events::default();
    let failed = events.expect(client.events(), "ConnectFailed", |e| {
        matches!(e, Event::ConnectFailed { .. })
    });
    let Event::ConnectFailed { failure, .. } = failed.event else {
        unreachable!()
    };
    assert_eq!(failure.cause, Cause::Timeout, "{:?}", failed.detail);
    events.expect(client.events(), "ReconnectScheduled", is_scheduled);
    events.expect(client.events(), "Connected", is_connected);
    let accepted = server.journal().expect_accepts(1)[0];
    let held = server.journal().expect_ended(0, PATIENCE) - accepted;
    assert!(held >= OPEN - ms(50), "hung up after {held:?}");
    assert_within(held, OPEN + ms(700), "the open");
    let got = server.journal().expect_messages(2);
    assert_eq!(got, vec![(1, "sub".to_string()), (1, "queued".to_string())]);
    assert!(client.close().is_empty());
}

fn tls_server_with(
    ca: &TestCa,
    script: impl Fn(Peer) + Send + Sync + 'static,
) -> (Server, wstether::client::ClientBuilder) {
    let config = ca.server_config(&["127.0.0.1"]);
    let server = Server::start(move |conn| {
        if let Some(peer) = conn.upgrade_tls(Arc::clone(&config)) {
            script(peer);
        }
    });
    let builder = fast_builder(&format!("wss://{}/", server.addr())).tls(TlsConfig::Roots(ca.roots()));
    (server, builder)
}

#[test]
fn tls_eof_without_close_notify_mid_session_is_an_abnormal_disconnect() {
    let ca = TestCa::new("wstether test CA");
    let (server, builder) = tls_server_with(&ca, |mut peer| {
        if peer.conn > 0 {
            return peer.serve();
        }
        if peer.serve_until(|t| t == "marker") {
            // TCP ends: no close frame, no TLS close_notify.
            peer.drop_tcp();
        }
    });
    let client = builder.subscribe("sub").connect().unwrap();
    let mut sent = Vec::new();
    send_all(&client, &mut sent, &["a", "marker"]);
    let mut events = Events::default();
    let lost = events.expect(
        client.events(),
        "Disconnected(Abnormal)",
        disconnected_by(Cause::Abnormal),
    );
    let detail = lost.detail.unwrap_or_default();
    assert!(!detail.is_empty());
    send_all(&client, &mut sent, &["q0"]);
    events.expect(client.events(), "Connected again", is_connected);
    let got = server.journal().expect_messages(3 + 2);
    assert_nothing_lost(&got, &["sub"], &sent);
    assert!(client.close().is_empty());
}

#[test]
fn tls_eof_without_close_notify_after_the_close_handshake_is_a_clean_close() {
    let ca = TestCa::new("wstether test CA");
    // `serve` answers our close frame; then the script ends and TCP is shut
    // down without a TLS close_notify.
    let (server, builder) = tls_server_with(&ca, |mut peer| peer.serve());
    // The session, so that every event up to the end can be seen.
    let mut session = builder.session().unwrap();
    let sent = numbered("m", 5);
    for m in &sent {
        session.send(m.as_str()).unwrap();
    }
    let mut seen = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    while (server.journal().messages().len() < sent.len() || !seen.iter().any(is_connected))
        && Instant::now() < deadline
    {
        if let Some(wstether::client::Incoming::Event(e)) = session.poll(Some(ms(20))) {
            seen.push(e.event);
        }
    }
    assert!(seen.iter().any(is_connected), "{seen:#?}");
    session.close();
    let closed_at = seen.len();
    let deadline = Instant::now() + PATIENCE;
    while !session.is_finished() && Instant::now() < deadline {
        if let Some(wstether::client::Incoming::Event(e)) = session.poll(Some(ms(20))) {
            seen.push(e.event);
        }
    }
    assert!(session.is_finished());
    assert_eq!(session.state(), State::Stopped);
    let after_close = &seen[closed_at..];
    assert!(
        !after_close.iter().any(|e| matches!(
            e,
            Event::Disconnected { .. } | Event::ConnectFailed { .. } | Event::Rejected { .. }
        )),
        "{after_close:#?}"
    );
    assert!(session.into_undelivered().is_empty());
    server.journal().expect_ended(0, PATIENCE);
    assert_eq!(server.journal().texts(), sent);
    assert_eq!(server.journal().close_codes(), vec![Some(1000)]);
}

// ---------------------------------------------------------------- backpressure

#[test]
fn server_that_stops_reading_fills_the_queue_then_gets_everything_in_order() {
    // Small messages with pings going out while stuck; large ones (three fill
    // the link's write buffer) without pings, so nothing but the socket
    // itself can wake the client once the server reads again.
    stop_reading(8 << 10, Some(ms(50)));
    stop_reading(96 << 10, None);
}

fn stop_reading(size: usize, ping_interval: Option<Duration>) {
    const QUEUE: usize = 64;
    const WRITE_BUFFER: usize = 256 << 10;
    let (resume, resumed) = std::sync::mpsc::channel::<()>();
    let resumed = Mutex::new(resumed);
    let server = Server::start(move |conn| {
        let Some(mut peer) = conn.upgrade() else { return };
        if peer.serve_until(|t| t == "marker") {
            // Stop reading until the test says so.
            let _ = resumed.lock().unwrap().recv_timeout(PATIENCE);
            peer.serve();
        }
    });
    // The pong timeout is far away: only a real failure would end the link.
    let heartbeat = HeartbeatConfig {
        ping_interval,
        pong_timeout: Duration::from_secs(5),
        idle_timeout: None,
    };
    let limits = Limits {
        max_write_buffer_size: WRITE_BUFFER,
        ..Limits::default()
    };
    let client = fast_builder(&server.url())
        .queue_capacity(QUEUE)
        .limits(limits)
        .heartbeat(heartbeat)
        .connect()
        .unwrap();
    client.send("marker").unwrap();
    server.journal().expect_messages(1);

    // Send until the queue has stayed full for 300 ms: the socket and the
    // link's write buffer are full too.
    let padding = "x".repeat(size);
    let mut accepted = Vec::new();
    let mut full_since: Option<Instant> = None;
    let deadline = Instant::now() + PATIENCE;
    let mut i = 0usize;
    while full_since.is_none_or(|t| t.elapsed() < ms(300)) {
        assert!(
            Instant::now() < deadline,
            "the queue never stayed full; {} accepted",
            accepted.len()
        );
        let text = format!("m{i} {padding}");
        match client.send(text.as_str()) {
            Ok(()) => {
                accepted.push(format!("m{i}"));
                full_since = None;
                i += 1;
            }
            Err(wstether::client::SendError::Full(back)) => {
                assert_eq!(back.to_text().unwrap(), text, "the message handed back");
                full_since.get_or_insert_with(Instant::now);
                std::thread::yield_now();
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    // Memory stays bounded: what the client holds is the queue, the link's
    // write buffer and copies of what is in it; the rest went into the
    // kernel's socket buffers (a few MiB on Linux loopback).
    let queued = client.queued();
    assert!(queued <= QUEUE + WRITE_BUFFER / size + 1, "{queued} queued");
    let accepted_bytes = accepted.len() * size;
    assert!(
        accepted_bytes <= QUEUE * size + WRITE_BUFFER + (32 << 20),
        "{} accepted ({accepted_bytes} bytes) while the server read nothing",
        accepted.len()
    );
    assert_eq!(client.state(), State::Connected);

    resume.send(()).unwrap();
    let got = server.journal().expect_messages(1 + accepted.len());
    let got: Vec<String> = got
        .iter()
        .skip(1)
        .map(|(_, t)| t.split(' ').next().unwrap().to_string())
        .collect();
    assert_same(&got, &accepted);
    let mut events = Events::default();
    events.drain(client.events());
    assert_eq!(
        events.count(|e| matches!(e, Event::Disconnected { .. })),
        0,
        "{:#?}",
        events.seen
    );
    assert!(client.close().is_empty());
    assert_eq!(server.journal().accepts(), 1);
}

/// The first link reads the marker and 64 KiB of the large message, then
/// resets; later links are served.
fn large_message_cut_off(slow_backoff: bool) {
    const LARGE: usize = 8 << 20;
    let server = Server::start(|conn| {
        if conn.conn > 0 {
            return record(conn);
        }
        let Some(mut peer) = conn.upgrade_raw() else { return };
        if let RawStep::Frame(_) = peer.serve_until(true, Instant::now() + PATIENCE, |t| t == "marker") {
            // The start of the large frame, read as bytes: the server never
            // sees it as a message.
            let mut buf = vec![0u8; 64 << 10];
            let mut read = 0;
            while read < buf.len() {
                match std::io::Read::read(&mut peer.tcp, &mut buf[read..]) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => read += n,
                }
            }
            assert!(peer.wait_pending(PATIENCE), "the client stopped writing");
            peer.reset();
        }
    });
    // Room for the whole message in the link's write buffer; it is larger
    // than the kernel's socket buffers, so it is still being written when
    // the link dies.
    let limits = Limits {
        max_write_buffer_size: 16 << 20,
        ..Limits::default()
    };
    let backoff = if slow_backoff {
        BackoffConfig {
            initial: Duration::from_secs(30),
            cap: Duration::from_secs(30),
            ..fast_backoff()
        }
    } else {
        fast_backoff()
    };
    let client = fast_builder(&server.url())
        .limits(limits)
        .backoff(backoff)
        .subscribe("sub")
        .connect()
        .unwrap();
    client.send("marker").unwrap();
    server.journal().expect_messages(2);
    let large = format!("L{}", "x".repeat(LARGE - 1));
    client.send(large.as_str()).unwrap();
    client.send("after").unwrap();
    let mut events = Events::default();
    let lost = events.expect(client.events(), "Disconnected", |e| {
        matches!(e, Event::Disconnected { .. })
    });
    let Event::Disconnected { failure, .. } = lost.event else {
        unreachable!()
    };
    assert!(
        matches!(failure.cause, Cause::Abnormal | Cause::Io) && !failure.is_permanent(),
        "{failure:?}: {:?}",
        lost.detail
    );
    if slow_backoff {
        events.expect(client.events(), "ReconnectScheduled", is_scheduled);
        let undelivered = client.close();
        assert_eq!(undelivered.len(), 2);
        assert!(undelivered[0].to_text().unwrap() == large, "the large message, whole");
        assert_eq!(undelivered[1].to_text().unwrap(), "after");
        assert_eq!(server.journal().messages().len(), 2);
    } else {
        events.expect(client.events(), "Connected again", is_connected);
        let got = server.journal().expect_messages(2 + 3);
        assert_eq!(got.len(), 5, "nothing twice");
        assert_eq!(got[3].0, 1);
        assert!(got[3].1 == large, "the large message arrives whole on the next link");
        let short: Vec<(usize, String)> = got
            .into_iter()
            .map(|(c, t)| (c, if t.len() > 20 { "L…".to_string() } else { t }))
            .collect();
        assert_eq!(
            short,
            vec![
                (0, "sub".to_string()),
                (0, "marker".to_string()),
                (1, "sub".to_string()),
                (1, "L…".to_string()),
                (1, "after".to_string()),
            ]
        );
        assert!(client.close().is_empty());
    }
}

#[test]
fn link_killed_while_a_large_message_is_written_replays_it_whole_on_the_next_link() {
    large_message_cut_off(false);
}

#[test]
fn link_killed_while_a_large_message_is_written_hands_it_back_whole_on_close() {
    large_message_cut_off(true);
}

#[test]
fn message_larger_than_the_write_buffer_goes_out_whole_and_does_not_block_the_queue() {
    const WRITE_BUFFER: usize = 64 << 10;
    let server = Server::start(record);
    let limits = Limits {
        max_write_buffer_size: WRITE_BUFFER,
        ..Limits::default()
    };
    let client = fast_builder(&server.url()).limits(limits).connect().unwrap();
    let large = format!("L{}", "x".repeat(4 * WRITE_BUFFER));
    let mut sent = Vec::new();
    send_all(&client, &mut sent, &["before", large.as_str(), "after"]);
    let got = server.journal().expect_messages(3);
    assert!(got[1].1 == large, "the large message, whole");
    assert_eq!((got[0].1.as_str(), got[2].1.as_str()), ("before", "after"));
    assert!(client.close().is_empty());
}

// ---------------------------------------------------------------- size limits

const LIMIT: usize = 64 << 10;

fn tight_limits() -> Limits {
    Limits {
        max_message_size: LIMIT,
        max_frame_size: LIMIT,
        ..Limits::default()
    }
}

/// Each of the first `bad.len()` links sends its good messages, then its bad
/// bytes; the link after them sends "fresh". The client must get every good
/// message, lose each bad link with a size error, reconnect, and deliver what
/// it queued.
fn oversized(links: Vec<(Vec<Vec<u8>>, Vec<u8>)>, expected_good: Vec<usize>) {
    let links = Arc::new(links);
    let n_bad = links.len();
    let server = {
        let links = Arc::clone(&links);
        Server::start(move |conn| {
            let Some(mut peer) = conn.upgrade_raw() else { return };
            match links.get(peer.conn) {
                Some((good, bad)) => {
                    for frame in good {
                        let _ = peer.write_raw(frame);
                    }
                    let _ = peer.write_raw(bad);
                }
                None => {
                    peer.send_text("fresh");
                }
            }
            let _ = peer.serve(true, Instant::now() + PATIENCE);
        })
    };
    let client = fast_builder(&server.url())
        .limits(tight_limits())
        .subscribe("sub")
        .connect()
        .unwrap();
    let mut events = Events::default();
    let mut sent = Vec::new();
    for _ in 0..n_bad {
        let lost = events.expect(client.events(), "Disconnected", |e| {
            matches!(e, Event::Disconnected { .. })
        });
        let Event::Disconnected { failure, .. } = lost.event else {
            unreachable!()
        };
        assert!(
            failure == wstether::Failure::transient(Cause::TooLarge),
            "{failure:?}: {:?}",
            lost.detail
        );
        let text = format!("q{}", sent.len());
        client.send(text.as_str()).unwrap();
        sent.push(text);
    }
    events.expect(client.events(), "the last Connected", |e| {
        matches!(e, Event::Connected { attempt: _, .. })
    });
    let mut got = Vec::new();
    while got.last().map(String::as_str) != Some("fresh") {
        let message = client
            .recv_timeout(PATIENCE)
            .unwrap()
            .unwrap_or_else(|| panic!("only {got:?}"));
        let text = message.to_text().unwrap();
        got.push(if text.len() > 20 {
            format!("{}:{}", &text[..1], text.len())
        } else {
            text.to_string()
        });
    }
    let sizes: Vec<usize> = got[..got.len() - 1]
        .iter()
        .map(|t| t.split(':').nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(sizes, expected_good, "{got:?}");
    let all = server.journal().expect_messages((n_bad + 1) + sent.len());
    assert_nothing_lost(&all, &["sub"], &sent);
    assert!(client.close().is_empty());
    assert_eq!(server.journal().accepts(), n_bad + 1);
}

#[test]
fn frame_header_claiming_2_pow_63_bytes_ends_the_link_without_allocating_then_reconnects() {
    let exact = server_frame(true, 0x1, &vec![b'e'; LIMIT]);
    let claim = |len: u64| {
        let mut bytes = frame_header(true, 0x2, len);
        bytes.extend_from_slice(&[0u8; 16]);
        bytes
    };
    oversized(
        vec![
            (vec![exact], claim(1 << 63)),
            (vec![], claim((1 << 63) - 1)),
            (vec![], claim(1 << 40)),
        ],
        vec![LIMIT],
    );
}

#[test]
fn message_one_byte_over_max_message_size_ends_the_link_then_reconnects() {
    let first = LIMIT / 2;
    oversized(
        vec![
            // One frame, one byte over.
            (
                vec![server_frame(true, 0x1, &vec![b'a'; LIMIT])],
                server_frame(true, 0x1, &vec![b'b'; LIMIT + 1]),
            ),
            // Two frames within the frame limit, one byte over together.
            (
                vec![
                    server_frame(false, 0x1, &vec![b'c'; first]),
                    server_frame(true, 0x0, &vec![b'c'; LIMIT - first]),
                    server_frame(false, 0x1, &vec![b'd'; first]),
                ],
                server_frame(true, 0x0, &vec![b'd'; LIMIT - first + 1]),
            ),
        ],
        vec![LIMIT, LIMIT],
    );
}

// ---------------------------------------------------------------- trickle

/// The first link's server writes one text frame a byte every 50 ms, then
/// serves; later links say "fresh".
fn trickle_server(text: &'static str) -> Server {
    Server::start(move |conn| {
        let Some(mut peer) = conn.upgrade_raw() else { return };
        if peer.conn == 0 {
            for byte in server_frame(true, 0x1, text.as_bytes()) {
                if peer.write_raw(&[byte]).is_err() {
                    return;
                }
                std::thread::sleep(ms(50));
            }
        } else {
            peer.send_text("fresh");
        }
        let _ = peer.serve(true, Instant::now() + PATIENCE);
    })
}

const TRICKLED: &str = "trickled, one byte every 50 ms";

#[test]
fn message_trickled_one_byte_every_50ms_is_delivered_intact() {
    let server = trickle_server(TRICKLED);
    // The trickle takes 1.6 s: longer than a ping interval and a pong
    // timeout together. Bytes arriving count as life.
    let heartbeat = HeartbeatConfig {
        ping_interval: Some(ms(300)),
        pong_timeout: ms(300),
        idle_timeout: None,
    };
    let client = fast_builder(&server.url()).heartbeat(heartbeat).connect().unwrap();
    let message = client.recv_timeout(PATIENCE).unwrap().expect("the trickled message");
    assert_eq!(message.to_text().unwrap(), TRICKLED);
    let mut events = Events::default();
    events.drain(client.events());
    assert_eq!(
        events.count(|e| matches!(e, Event::Disconnected { .. })),
        0,
        "{:#?}",
        events.events()
    );
    assert!(client.close().is_empty());
    assert_eq!(server.journal().accepts(), 1);
}

#[test]
fn message_trickled_past_the_idle_timeout_is_dropped_whole_not_hung() {
    let server = trickle_server(TRICKLED);
    const IDLE: Duration = Duration::from_millis(500);
    let heartbeat = HeartbeatConfig {
        ping_interval: Some(ms(300)),
        pong_timeout: ms(300),
        idle_timeout: Some(IDLE),
    };
    let client = fast_builder(&server.url())
        .heartbeat(heartbeat)
        .subscribe("sub")
        .connect()
        .unwrap();
    let mut events = Events::default();
    events.expect(client.events(), "IdleTimeout", |e| matches!(e, Event::IdleTimeout));
    events.expect(
        client.events(),
        "Disconnected(IdleTimeout)",
        disconnected_by(Cause::IdleTimeout),
    );
    client.send("q0").unwrap();
    // The next message is the next link's: nothing of the trickled one.
    let message = client.recv_timeout(PATIENCE).unwrap().expect("a message");
    assert_eq!(message.to_text().unwrap(), "fresh");
    let got = server.journal().expect_messages(3);
    assert_nothing_lost(&got, &["sub"], &["q0".to_string()]);
    assert!(client.close().is_empty());
}

// ---------------------------------------------------------------- fleet

#[test]
fn two_hundred_clients_spread_their_first_reconnects_after_a_server_restart() {
    const CLIENTS: usize = 200;
    let mut server = Server::start(record);
    // The default schedule, seeded from entropy as in production: the first
    // delay is U(0, initial) with `Full` jitter.
    let clients: Vec<Client> = (0..CLIENTS)
        .map(|_| {
            Client::builder(server.url())
                .queue_capacity(8)
                .inbound_capacity(8)
                .event_capacity(64)
                .close_timeout(Duration::from_secs(1))
                .connect()
                .unwrap()
        })
        .collect();
    let mut events: Vec<Events> = (0..CLIENTS).map(|_| Events::default()).collect();
    for (client, events) in clients.iter().zip(&mut events) {
        events.expect(client.events(), "Connected", is_connected);
    }
    server.journal().expect_accepts(CLIENTS);

    server.stop();
    let stopped = Instant::now();
    server.restart();
    let at = server.journal().expect_accepts(2 * CLIENTS);
    let mut after: Vec<Duration> = at[CLIENTS..]
        .iter()
        .map(|t| t.saturating_duration_since(stopped))
        .collect();
    after.sort();
    let mut buckets = [0usize; 100];
    for t in &after {
        buckets[(t.as_millis() / 100).min(99) as usize] += 1;
    }
    let busiest = *buckets.iter().max().unwrap();
    let span = *after.last().unwrap() - after[0];
    eprintln!("reconnects per 100 ms after the restart: {:?}", &buckets[..20]);
    assert!(
        busiest <= CLIENTS / 2,
        "{busiest} reconnects in one 100 ms: {buckets:?}"
    );
    assert!(span >= ms(500), "all reconnects within {span:?}");

    let started = Instant::now();
    for client in clients {
        assert!(client.close().is_empty());
    }
    assert_within(started.elapsed(), Duration::from_secs(10), "closing 200 clients");
}

// ---------------------------------------------------------------- subscriptions

#[test]
fn subscriptions_changed_while_down_are_replayed_exactly_once_across_five_flaps() {
    // Each link is closed (1001) by the server right after a `flap` marker.
    let server = Server::start(|conn| {
        let Some(mut peer) = conn.upgrade() else { return };
        if peer.serve_until(|text| text.starts_with("flap")) {
            peer.close_with(1001);
        }
    });
    // A fixed 300 ms between links: room to change subscriptions while down.
    let backoff = BackoffConfig {
        initial: ms(300),
        cap: ms(300),
        ..fast_backoff()
    };
    let client = fast_builder(&server.url())
        .backoff(backoff)
        .subscribe("A")
        .connect()
        .unwrap();
    let mut events = Events::default();
    events.expect(client.events(), "Connected", is_connected);
    let b = client.subscribe("B");
    let mut c = None;
    // What each link must start with.
    let mut expected_subs: Vec<Vec<&str>> = vec![vec!["A", "B"]];
    let mut sent = Vec::new();
    const FLAPS: usize = 5;
    for flap in 0..FLAPS {
        let q = format!("q{flap}");
        let marker = format!("flap{flap}");
        send_all(&client, &mut sent, &[q.as_str(), marker.as_str()]);
        events.expect(
            client.events(),
            "Disconnected(1001)",
            disconnected_by(Cause::Close(1001)),
        );
        events.expect(client.events(), "ReconnectScheduled", is_scheduled);
        // Down: change the subscriptions before the next link replays them.
        let subs = match flap {
            0 => {
                assert_eq!(client.unsubscribe(b), Some(tungstenite::Message::from("B")));
                c = Some(client.subscribe("C"));
                vec!["A", "C"]
            }
            2 => {
                let c = c.expect("subscribed on the first flap");
                assert_eq!(client.unsubscribe(c), Some(tungstenite::Message::from("C")));
                vec!["A"]
            }
            _ => expected_subs.last().unwrap().clone(),
        };
        expected_subs.push(subs);
        let queued = format!("down{flap}");
        send_all(&client, &mut sent, &[queued.as_str()]);
        events.expect(client.events(), "Connected again", is_connected);
    }
    let total: usize = expected_subs.iter().map(Vec::len).sum::<usize>() + sent.len();
    let got = server.journal().expect_messages(total);
    assert!(client.close().is_empty());
    for (link, subs) in expected_subs.iter().enumerate() {
        let on_link: Vec<&str> = got
            .iter()
            .filter(|(conn, _)| *conn == link)
            .map(|(_, t)| t.as_str())
            .collect();
        assert!(
            on_link.starts_with(subs),
            "link {link}: {on_link:?}, expected {subs:?} first"
        );
        let all_subs = on_link.iter().filter(|t| t.len() == 1).count();
        assert_eq!(all_subs, subs.len(), "link {link}: {on_link:?}");
    }
    let queued: Vec<String> = got.iter().map(|(_, t)| t.clone()).filter(|t| t.len() > 1).collect();
    assert_same(&queued, &sent);
    assert_eq!(server.journal().messages().len(), total, "nothing twice");
}

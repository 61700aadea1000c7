//! The thread client against servers and proxies that misbehave: refused
//! and stalled opens, HTTP rejections, silent peers, blackholes, close codes,
//! bad certificates — and `close()` in the middle of each.
//!
//! Every test also checks that nothing is lost: each message `send` accepted
//! reached the server, in order, or came back from `close()`.

mod support;

use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use wstether::client::Client;
use wstether::transport::{Connector, TlsConfig, TransportConfig};
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

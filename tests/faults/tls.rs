//! TLS failures: certificates the client must refuse, a server that never
//! sends its ServerHello, and EOF without close_notify — mid-session and
//! after the close handshake.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wstether::client::{ClientBuilder, Incoming};
use wstether::transport::TlsConfig;
use wstether::{Cause, Event, State};

use crate::support::*;
use crate::tether::*;

/// A server with the certificates of `config`; the client, trusting
/// `client_tls`, must refuse it for good. Returns the rejection's detail.
fn tls_rejected(config: Arc<rustls::ServerConfig>, client_tls: TlsConfig) -> String {
    let server = Server::start(move |conn| {
        if let Some(mut peer) = conn.upgrade_tls(Arc::clone(&config)) {
            peer.serve();
        }
    });
    let url = format!("wss://{}/", server.addr());
    let client = fast_builder(&url).tls(client_tls).connect().unwrap();
    // On loopback the rejection may come before the first send: then the
    // send itself hands the message back.
    let refused_at_once = client.send("never").is_err();
    let mut events = Events::default();
    let rejected = events.expect(
        client.events(),
        "Rejected(Certificate)",
        rejected_with(Cause::Certificate),
    );
    let detail = rejected.detail.expect("a detail");
    assert_eq!(client.state(), State::Failed);
    expect_finished(&client);
    assert_eq!(server.journal().accepts(), 1, "no retry, no fallback");
    assert!(server.journal().messages().is_empty());
    let back = handed_back(&client.close());
    if refused_at_once {
        assert!(back.is_empty());
    } else {
        assert_eq!(back, ["never"]);
    }
    detail
}

#[test]
fn tls_untrusted_ca_is_rejected_as_a_certificate_failure() {
    let server_ca = TestCa::new("server CA");
    let other_ca = TestCa::new("some other CA");
    let pem = other_ca.pem_file();
    let detail = tls_rejected(
        server_ca.server_config(&["127.0.0.1"]),
        TlsConfig::CaFile(pem.0.clone()),
    );
    assert!(detail.contains("certificate"), "{detail}");
}

#[test]
fn tls_default_roots_reject_a_test_ca() {
    let server_ca = TestCa::new("server CA");
    let detail = tls_rejected(server_ca.server_config(&["127.0.0.1"]), TlsConfig::WebPkiRoots);
    assert!(detail.contains("certificate"), "{detail}");
}

#[test]
fn tls_certificate_for_another_name_is_rejected() {
    let ca = TestCa::new("wstether test CA");
    let detail = tls_rejected(ca.server_config(&["wrong.example"]), TlsConfig::Roots(ca.roots()));
    assert!(detail.contains("certificate"), "{detail}");
}

#[test]
fn tls_expired_certificate_is_rejected_as_a_certificate_failure() {
    let ca = TestCa::new("wstether test CA");
    let detail = tls_rejected(ca.expired_server_config(&["127.0.0.1"]), TlsConfig::Roots(ca.roots()));
    assert!(detail.to_lowercase().contains("expired"), "{detail}");
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
    let (_, failure, detail) = events.expect_connect_failed(client.events());
    assert_eq!(failure.cause, Cause::Timeout, "{detail:?}");
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

/// A TLS server for 127.0.0.1 running `script` on every link, and a builder
/// for a client that trusts it.
fn tls_server_with(ca: &TestCa, script: impl Fn(Peer) + Send + Sync + 'static) -> (Server, ClientBuilder) {
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
    let mut seen: Vec<Event> = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    while (server.journal().messages().len() < sent.len() || !seen.iter().any(is_connected))
        && Instant::now() < deadline
    {
        if let Some(Incoming::Event(e)) = session.poll(Some(ms(20))) {
            seen.extend(e.supervisor());
        }
    }
    assert!(seen.iter().any(is_connected), "{seen:#?}");
    session.close();
    let closed_at = seen.len();
    let deadline = Instant::now() + PATIENCE;
    while !session.is_finished() && Instant::now() < deadline {
        if let Some(Incoming::Event(e)) = session.poll(Some(ms(20))) {
            seen.extend(e.supervisor());
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

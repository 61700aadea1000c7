//! The right verdicts: close codes reported as the server sent them, a
//! rejection that comes after data delivers the data first, a client
//! certificate shown or its absence named, and a TLS fault on a working link
//! retried like a reset.

use std::io::Write;
use std::time::Duration;

use wstether::client::{ClientEvent, EventKind, Incoming, Session};
use wstether::transport::TlsConfig;
use wstether::{Cause, Event, Failure, Outcome};

use crate::support::tls::LOCAL_NAMES;
use crate::support::{Server, TestCa, PATIENCE};
use crate::{poll_until, poll_until_connected, quick, supervisor};

/// Polls `session` until its link ends; the failure and its detail.
fn link_lost(session: &mut Session, seen: &mut Vec<Incoming>) -> (Failure, Option<String>) {
    let lost = poll_until(session, PATIENCE, seen, |e| {
        supervisor(e, |ev| matches!(ev, Event::Disconnected { .. }))
    })
    .expect("the link ends");
    match lost.kind {
        EventKind::Supervisor(Event::Disconnected { failure }) => (failure, lost.detail),
        other => panic!("not a lost link: {other:?}"),
    }
}

/// An application-data record of 64 bytes that cannot decrypt, to be written
/// straight onto the TCP stream under TLS.
fn undecryptable_record() -> Vec<u8> {
    let mut record = vec![0x17, 0x03, 0x03, 0x00, 0x40];
    record.extend([0xAB; 0x40]);
    record
}

#[test]
fn close_codes_that_must_never_be_sent_are_reported_as_sent_and_reconnect() {
    for code in [999u16, 1005, 1006, 1015, 2999, 5000] {
        let server = Server::start(move |conn| {
            let Some(mut raw) = conn.upgrade_raw() else { return };
            raw.close_with(code);
        });
        let mut session = quick(&server.url()).session().expect("a valid configuration");
        let mut seen = Vec::new();
        let (failure, detail) = link_lost(&mut session, &mut seen);
        assert_eq!(failure.cause, Cause::Close(code), "{code}");
        assert!(!failure.is_permanent(), "{code} reconnects");
        assert_eq!(
            detail.as_deref(),
            Some(format!("closed by server with code {code}").as_str())
        );
        poll_until(&mut session, PATIENCE, &mut seen, |e| {
            supervisor(e, |ev| matches!(ev, Event::AttemptStarted { attempt: 2, .. }))
        })
        .expect("and reconnects");
    }
}

#[test]
fn everything_received_before_a_rejection_is_delivered_before_the_end() {
    let server = Server::start(|conn| {
        let Some(mut raw) = conn.upgrade_raw() else { return };
        for i in 0..200 {
            raw.send_text(&format!("m{i}"));
        }
        raw.close_with(1008);
    });
    let client = quick(&server.url()).connect().expect("a valid configuration");
    // The caller is slow to start reading; the end must wait for it.
    server.journal().expect_ended(0, PATIENCE);
    let mut received = Vec::new();
    let finished = loop {
        match client.recv() {
            Ok(message) => received.push(message.to_text().expect("text").to_string()),
            Err(finished) => break finished,
        }
    };
    let expected: Vec<String> = (0..200).map(|i| format!("m{i}")).collect();
    assert_eq!(received, expected);
    assert!(matches!(finished.0.outcome, Outcome::Rejected { failure } if failure.cause == Cause::Close(1008)));
}

fn tls_server(config: std::sync::Arc<rustls::ServerConfig>) -> Server {
    Server::start(move |conn| {
        let Some(conn) = conn.tls(config.clone()) else { return };
        let Some(mut peer) = conn.upgrade() else { return };
        peer.echo();
    })
}

#[test]
fn a_client_certificate_is_shown_and_its_absence_is_named() {
    let ca = TestCa::new("wstether mTLS CA");
    let files = ca.pem_files(&LOCAL_NAMES);
    let server = tls_server(ca.server_config_requiring_client_cert(&LOCAL_NAMES));
    let url = server.wss_url();

    let client = quick(&url)
        .tls(TlsConfig::ClientCert {
            chain: files.client_cert.clone(),
            key: files.client_key.clone(),
            ca: Some(files.ca.clone()),
        })
        .connect()
        .expect("a valid configuration");
    client.send("over mTLS").expect("queued");
    assert_eq!(
        client.recv_timeout(PATIENCE).expect("running").expect("an echo"),
        wstether::Message::text("over mTLS")
    );
    client.close();

    let mut session = quick(&url)
        .tls(TlsConfig::CaFile(files.ca.clone()))
        .session()
        .expect("a valid configuration");
    let mut seen = Vec::new();
    poll_until(&mut session, PATIENCE, &mut seen, |e| {
        supervisor(e, |ev| matches!(ev, Event::Rejected { .. }))
    })
    .expect("no certificate: rejected, not retried");
    let ending = session.ending().expect("ended");
    assert!(
        matches!(ending.outcome, Outcome::Rejected { failure } if failure.cause == Cause::Certificate),
        "{ending:?}"
    );
    let detail = ending.detail.expect("why");
    assert!(
        detail.contains("CertificateRequired") || detail.contains("certificate"),
        "{detail}"
    );
}

#[test]
fn what_arrived_intact_before_a_bad_tls_record_is_delivered_before_the_fault() {
    let ca = TestCa::new("wstether TLS CA");
    let config = ca.local_server_config();
    let (sent, both_sent) = std::sync::mpsc::channel();
    let server = Server::start(move |conn| {
        let Some(conn) = conn.tls(config.clone()) else { return };
        let raw_tcp = conn.stream.try_clone().expect("a second handle on the socket");
        let Some(mut peer) = conn.upgrade() else { return };
        let _ = peer.next(PATIENCE);
        // A good record and a bad one, back to back, while the client waits:
        // its next read takes both.
        peer.send("intact");
        let _ = (&raw_tcp).write_all(&undecryptable_record());
        let _ = sent.send(());
        peer.hold_silent();
    });
    let file = ca.pem_file();
    let mut session = quick(&server.wss_url())
        .tls(TlsConfig::CaFile(file.0.clone()))
        .session()
        .expect("a valid configuration");
    let mut seen = Vec::new();
    poll_until_connected(&mut session, &mut seen);
    session.send("go").expect("queued");
    // One turn writes "go" (and most likely finds nothing yet); then both
    // records wait for the next read.
    if let Some(item) = session.poll(Some(Duration::ZERO)) {
        seen.push(item);
    }
    both_sent.recv_timeout(PATIENCE).expect("the server wrote both records");
    std::thread::sleep(Duration::from_millis(50));
    let disconnected = |e: &ClientEvent| supervisor(e, |ev| matches!(ev, Event::Disconnected { .. }));
    let already = seen.iter().find_map(|i| match i {
        Incoming::Event(e) if disconnected(e) => Some(e.clone()),
        _ => None,
    });
    let lost = already
        .or_else(|| poll_until(&mut session, PATIENCE, &mut seen, disconnected))
        .expect("the link ends");
    assert!(
        supervisor(
            &lost,
            |ev| matches!(ev, Event::Disconnected { failure } if failure.cause == Cause::Tls)
        ),
        "{lost:?}"
    );
    assert!(
        seen.iter()
            .any(|i| matches!(i, Incoming::Message(m) if m.to_text().ok() == Some("intact"))),
        "the message before the bad record was lost"
    );
}

#[test]
fn a_tls_fault_on_a_working_link_is_retried_like_a_reset() {
    let ca = TestCa::new("wstether TLS CA");
    let config = ca.local_server_config();
    let server = Server::start(move |conn| {
        let Some(conn) = conn.tls(config.clone()) else { return };
        let raw_tcp = conn.stream.try_clone().expect("a second handle on the socket");
        let Some(mut peer) = conn.upgrade() else { return };
        peer.send("working");
        let _ = peer.next(PATIENCE);
        // A record that cannot decrypt, straight onto the TCP stream.
        let _ = (&raw_tcp).write_all(&undecryptable_record());
        peer.hold_silent();
    });
    let file = ca.pem_file();
    let mut session = quick(&server.wss_url())
        .tls(TlsConfig::CaFile(file.0.clone()))
        .session()
        .expect("a valid configuration");
    let mut seen = Vec::new();
    poll_until_connected(&mut session, &mut seen);
    session.send("go").expect("queued");
    let lost = poll_until(&mut session, PATIENCE, &mut seen, |e| {
        supervisor(e, |ev| {
            matches!(ev, Event::Disconnected { .. } | Event::Rejected { .. })
        })
    })
    .expect("the link ends");
    assert!(
        supervisor(
            &lost,
            |ev| matches!(ev, Event::Disconnected { failure } if failure.cause == Cause::Tls && !failure.is_permanent())
        ),
        "{lost:?}"
    );
    assert!(seen
        .iter()
        .any(|i| matches!(i, Incoming::Message(m) if m.to_text().ok() == Some("working"))));
    poll_until(&mut session, PATIENCE, &mut seen, |e| {
        supervisor(e, |ev| matches!(ev, Event::AttemptStarted { attempt: 2, .. }))
    })
    .expect("and reconnects");
}

#[test]
fn the_close_reported_is_the_first_the_server_sent_not_bytes_after_it() {
    // Two close frames in one write: tungstenite ends the link at the first,
    // so the code and reason reported are the first's.
    let server = Server::start(|conn| {
        let Some(mut raw) = conn.upgrade_raw() else { return };
        let mut bytes = crate::support::frames::close(4001, "first");
        bytes.extend(crate::support::frames::close(1006, ""));
        let _ = raw.write_raw(&bytes);
        std::thread::sleep(Duration::from_millis(200));
    });
    let mut session = quick(&server.url()).session().expect("a valid configuration");
    let mut seen = Vec::new();
    let (failure, detail) = link_lost(&mut session, &mut seen);
    assert_eq!(failure.cause, Cause::Close(4001));
    assert_eq!(detail.as_deref(), Some("closed by server with code 4001: first"));
}

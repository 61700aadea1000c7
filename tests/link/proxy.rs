//! Through proxies, as corporate networks require: HTTP CONNECT and SOCKS5,
//! in process with every fault, and the real tinyproxy and microsocks; TLS
//! through the tunnel checked against the server, never the proxy;
//! credentials never shown.

use std::time::{Duration, Instant};

use wstether::client::{Client, ClientEvent, Incoming};
use wstether::transport::TlsConfig;
use wstether::{Cause, Event, Outcome};

use crate::support::proxy::SocksTarget;
use crate::support::{
    echo, ConnectMode, ConnectProxy, Microsocks, Seen, Server, Socks5Mode, Socks5Proxy, TestCa, Tinyproxy, PATIENCE,
};
use crate::{poll_until, quick, supervisor};

/// Sends `text` and expects it back.
fn round_trip(client: &Client, text: &str) {
    client.send(text).expect("queued");
    let reply = client.recv_timeout(PATIENCE).expect("running").expect("an echo");
    assert_eq!(reply.to_text().expect("text"), text);
}

fn no_secret_in(events: &[ClientEvent], secret: &str) {
    for event in events {
        let shown = format!("{event:?}");
        assert!(!shown.contains(secret), "a credential leaked: {shown}");
    }
}

/// Runs a session until it is rejected or connects; returns the ending.
fn verdict(url: &str, proxy: &str) -> (Option<wstether::client::Ending>, Vec<Incoming>) {
    let mut session = quick(url).proxy(proxy).session().expect("a valid configuration");
    let mut seen = Vec::new();
    poll_until(&mut session, PATIENCE, &mut seen, |e| {
        supervisor(e, |ev| matches!(ev, Event::Connected { .. } | Event::Rejected { .. }))
    });
    (session.ending(), seen)
}

#[test]
fn http_connect_with_basic_credentials_tunnels_to_the_server() {
    let server = Server::start(echo);
    let proxy = ConnectProxy::start(ConnectMode::require_auth("alice", "s3cret"));
    let proxy_url = format!("http://alice:s3cret@{}", proxy.addr());
    let client = quick(&server.url())
        .proxy(proxy_url)
        .connect()
        .expect("a valid configuration");
    round_trip(&client, "through the tunnel");
    let request = &proxy.expect_requests(1)[0];
    assert_eq!(
        request.basic_credentials("Proxy-Authorization"),
        Some(("alice".into(), "s3cret".into()))
    );
    assert_eq!(request.path, server.addr().to_string());
    client.close();
    no_secret_in(&client.events().try_iter().collect::<Vec<_>>(), "s3cret");
}

#[test]
fn a_407_stops_with_the_reason_and_a_5xx_is_retried() {
    let server = Server::start(echo);
    let refusing = ConnectProxy::start(ConnectMode::status(407));
    let (ending, _) = verdict(&server.url(), &format!("http://bob:wrong@{}", refusing.addr()));
    let ending = ending.expect("rejected");
    assert!(matches!(ending.outcome, Outcome::Rejected { failure } if failure.cause == Cause::Proxy));
    let detail = ending.detail.expect("why");
    assert!(detail.contains("407"), "{detail}");
    assert!(!detail.contains("wrong"), "the password leaked: {detail}");
    for status in [502, 503, 504] {
        let failing = ConnectProxy::start(ConnectMode::status(status));
        let mut session = quick(&server.url())
            .proxy(failing.url())
            .session()
            .expect("a valid configuration");
        let mut seen = Vec::new();
        poll_until(&mut session, PATIENCE, &mut seen, |e| {
            supervisor(e, |ev| matches!(ev, Event::AttemptStarted { attempt: 2, .. }))
        })
        .unwrap_or_else(|| panic!("{status} is retried: {seen:?}"));
        assert!(session.ending().is_none());
    }
}

#[test]
fn a_hanging_or_dribbling_proxy_stays_inside_the_connect_deadline_without_blocking() {
    let server = Server::start(echo);
    let hanging = ConnectProxy::start(ConnectMode::Hang);
    let mut session = quick(&server.url())
        .proxy(hanging.url())
        .connect_timeout(Duration::from_millis(500))
        .session()
        .expect("a valid configuration");
    let started = Instant::now();
    let mut longest = Duration::ZERO;
    let mut timed_out = false;
    while started.elapsed() < Duration::from_secs(3) && !timed_out {
        let call = Instant::now();
        let item = session.poll(Some(Duration::ZERO));
        longest = longest.max(call.elapsed());
        if let Some(Incoming::Event(e)) = item {
            timed_out |= supervisor(
                &e,
                |ev| matches!(ev, Event::ConnectFailed { failure, .. } if failure.cause == Cause::Timeout),
            );
        } else {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    assert!(timed_out, "the hanging CONNECT ends at the deadline");
    assert!(longest < Duration::from_millis(50), "a zero poll took {longest:?}");

    let dribbling = ConnectProxy::start(ConnectMode::Dribble(Duration::from_millis(5)));
    let client = quick(&server.url())
        .proxy(dribbling.url())
        .connect()
        .expect("a valid configuration");
    round_trip(&client, "after a slow 200");
    client.close();
}

#[test]
fn socks5_resolves_at_the_proxy_with_socks5h_and_here_with_socks5() {
    let server = Server::start(echo);
    let proxy = Socks5Proxy::start(Socks5Mode::user_password("carol", "pa55"));
    let url = format!("ws://localhost:{}/", server.addr().port());
    for (scheme, by_name) in [("socks5h", true), ("socks5", false)] {
        let proxy_url = format!("{scheme}://carol:pa55@{}", proxy.addr());
        let client = quick(&url).proxy(proxy_url).connect().expect("a valid configuration");
        round_trip(&client, scheme);
        client.close();
        no_secret_in(&client.events().try_iter().collect::<Vec<_>>(), "pa55");
        let request = proxy.requests().pop().expect("a SOCKS request");
        assert_eq!(request.credentials, Some(("carol".into(), "pa55".into())));
        match request.target {
            Some(SocksTarget::Name(ref host, port)) if by_name => {
                assert_eq!((host.as_str(), port), ("localhost", server.addr().port()))
            }
            Some(SocksTarget::Addr(addr)) if !by_name => assert_eq!(addr, server.addr()),
            ref other => panic!("{scheme}: asked for {other:?}"),
        }
    }
}

#[test]
fn socks5_refused_credentials_stop_and_an_unreachable_host_is_retried() {
    let server = Server::start(echo);
    let rejecting = Socks5Proxy::start(Socks5Mode::RejectAuth);
    let (ending, _) = verdict(&server.url(), &format!("socks5h://dave:nope@{}", rejecting.addr()));
    assert!(matches!(
        ending.expect("rejected").outcome,
        Outcome::Rejected { failure } if failure.cause == Cause::Proxy
    ));
    let unreachable = Socks5Proxy::start(Socks5Mode::Reply(0x04));
    let mut session = quick(&server.url())
        .proxy(unreachable.url())
        .session()
        .expect("a valid configuration");
    let mut seen = Vec::new();
    let failed = poll_until(&mut session, PATIENCE, &mut seen, |e| {
        supervisor(e, |ev| matches!(ev, Event::ConnectFailed { .. }))
    })
    .expect("fails");
    assert!(failed.detail.expect("why").contains("host unreachable"));
    poll_until(&mut session, PATIENCE, &mut seen, |e| {
        supervisor(e, |ev| matches!(ev, Event::AttemptStarted { attempt: 2, .. }))
    })
    .expect("and is retried");
}

#[test]
fn tls_through_a_tunnel_is_checked_against_the_server_and_carries_its_name() {
    let ca = TestCa::new("wstether proxy CA");
    let config = ca.local_server_config();
    let server = Server::start(move |conn| {
        let Some(conn) = conn.tls(config.clone()) else { return };
        echo(conn);
    });
    let file = ca.pem_file();
    let proxy = ConnectProxy::start(ConnectMode::Tunnel);
    let client = quick(&server.wss_url())
        .proxy(proxy.url())
        .tls(TlsConfig::CaFile(file.0.clone()))
        .connect()
        .expect("a valid configuration");
    round_trip(&client, "tls through the tunnel");
    client.close();
    let sni = server.journal().snapshot().into_iter().find_map(|s| match s {
        Seen::Tls { sni, .. } => Some(sni),
        _ => None,
    });
    assert_eq!(sni, Some(Some("localhost".to_string())));
}

/// The server restarts while a client keeps its link through `proxy_url`:
/// it comes back and nothing sent is lost.
fn reconnects_through(proxy_url: &str, tls: Option<(&TestCa, String)>) {
    let mut server = match &tls {
        Some((ca, _)) => {
            let config = ca.local_server_config();
            Server::start(move |conn| {
                let Some(conn) = conn.tls(config.clone()) else { return };
                echo(conn);
            })
        }
        None => Server::start(echo),
    };
    let url = match tls {
        Some(_) => server.wss_url(),
        None => format!("ws://localhost:{}/", server.addr().port()),
    };
    let file = tls.as_ref().map(|(ca, _)| ca.pem_file());
    let mut builder = quick(&url).proxy(proxy_url);
    if let Some(file) = &file {
        builder = builder.tls(TlsConfig::CaFile(file.0.clone()));
    }
    let client = builder.connect().expect("a valid configuration");
    round_trip(&client, "before the restart");
    server.stop();
    let deadline = Instant::now() + PATIENCE;
    while client.state() == wstether::State::Connected && Instant::now() < deadline {
        let _ = client.events().recv_timeout(Duration::from_millis(20));
    }
    client.send("sent while the server was down").expect("queued");
    server.restart();
    let reply = client
        .recv_timeout(PATIENCE)
        .expect("running")
        .expect("delivered after the restart");
    assert_eq!(reply.to_text().expect("text"), "sent while the server was down");
    assert!(client.close().is_empty());
}

#[test]
fn through_the_real_tinyproxy_plain_and_tls_with_a_restart() {
    let ca = TestCa::new("wstether tinyproxy CA");
    let Some(proxy) = Tinyproxy::start(&[]) else { return };
    reconnects_through(&proxy.url(), None);
    reconnects_through(&proxy.url(), Some((&ca, String::new())));
}

#[test]
fn through_the_real_microsocks_plain_and_tls_with_a_restart() {
    let ca = TestCa::new("wstether microsocks CA");
    let Some(proxy) = Microsocks::start_with_auth("erin", "m1cro") else {
        return;
    };
    let url = format!("socks5h://erin:m1cro@{}", proxy.addr());
    reconnects_through(&url, None);
    reconnects_through(&url, Some((&ca, String::new())));
}

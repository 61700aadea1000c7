//! `wss://` with a test CA, trusted through a PEM file or a root store.

use std::sync::Arc;

use wstether::transport::TlsConfig;

use crate::support::*;
use crate::tether::*;

/// A TLS server for 127.0.0.1 with a certificate from the test CA, sending
/// one greeting and recording what arrives.
fn tls_server(config: Arc<rustls::ServerConfig>) -> Server {
    Server::start(move |conn| {
        if let Some(mut peer) = conn.upgrade_tls(Arc::clone(&config)) {
            peer.send("secure hello");
            peer.serve();
        }
    })
}

fn tls_round_trip(server: &Server, tls: TlsConfig) {
    let url = format!("wss://{}/", server.addr());
    let client = fast_builder(&url).tls(tls).connect().unwrap();
    let mut events = Events::default();
    events.expect(client.events(), "Connected", is_connected);
    let greeting = client.recv_timeout(PATIENCE).unwrap().expect("a greeting");
    assert_eq!(greeting.to_text().unwrap(), "secure hello");
    let sent = numbered("s", 5);
    for m in &sent {
        client.send(m.as_str()).unwrap();
    }
    assert!(client.close().is_empty());
    server.journal().expect_ended(0, PATIENCE);
    assert_eq!(server.journal().texts(), sent);
    assert_eq!(server.journal().close_codes(), vec![Some(1000)]);
}

#[test]
fn tls_trusted_through_a_ca_file_connects_and_exchanges_messages() {
    let ca = TestCa::new("wstether test CA");
    let server = tls_server(ca.server_config(&["127.0.0.1"]));
    let pem = ca.pem_file();
    tls_round_trip(&server, TlsConfig::CaFile(pem.0.clone()));
}

#[test]
fn tls_trusted_through_roots_connects_and_exchanges_messages() {
    let ca = TestCa::new("wstether test CA");
    let server = tls_server(ca.server_config(&["127.0.0.1"]));
    tls_round_trip(&server, TlsConfig::Roots(ca.roots()));
}

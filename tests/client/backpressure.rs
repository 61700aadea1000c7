//! A slow caller: the client stops reading, TCP pushes back on the server,
//! and the unread data counts as life.

use std::thread;

use wstether::{HeartbeatConfig, State};

use crate::support::*;
use crate::tether::*;

#[test]
fn slow_reader_gets_every_message_in_order_without_false_heartbeat_timeout() {
    const N: usize = 1000;
    // 1 KiB each: about a megabyte, more than the client buffers, so the
    // server is pushed back through TCP while the reader is slow.
    let padding = "x".repeat(1024);
    let server = Server::start(move |conn| {
        let Some(mut peer) = conn.upgrade() else { return };
        for i in 0..N {
            if !peer.write(format!("n{i} {padding}")) {
                return;
            }
        }
        peer.flush();
        peer.serve();
    });
    let heartbeat = HeartbeatConfig {
        ping_interval: Some(ms(100)),
        pong_timeout: ms(100),
        idle_timeout: None,
    };
    let client = fast_builder(&server.url())
        .inbound_capacity(4)
        .heartbeat(heartbeat)
        .connect()
        .unwrap();
    let mut events = Events::default();
    events.expect(client.events(), "Connected", is_connected);
    // The caller reads nothing for three ping intervals and more: the time
    // passing is the scenario.
    thread::sleep(ms(400));
    let mut got = Vec::with_capacity(N);
    while got.len() < N {
        let message = client
            .recv_timeout(PATIENCE)
            .unwrap()
            .unwrap_or_else(|| panic!("only {} messages arrived", got.len()));
        let text = message.to_text().unwrap();
        got.push(text.split(' ').next().unwrap().to_string());
        if got.len() < 20 {
            // Still slow: the inbound queue (4) stays full.
            thread::sleep(ms(5));
        }
    }
    assert_eq!(got, numbered("n", N));
    events.drain(client.events());
    assert_eq!(events.count(is_heartbeat_timeout), 0, "{:#?}", events.seen);
    assert_eq!(events.count(is_disconnected), 0, "{:#?}", events.seen);
    assert_eq!(client.state(), State::Connected);
    assert!(client.close().is_empty());
    assert_eq!(server.journal().accepts(), 1);
}

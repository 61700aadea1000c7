//! A server that stops reading: writes back up, the queue fills and hands
//! messages back, memory stays bounded, and everything accepted arrives in
//! order once the server reads again. Also a message larger than the link's
//! write buffer, which must not wedge the queue.

use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use wstether::client::SendError;
use wstether::transport::Limits;
use wstether::{HeartbeatConfig, State};

use crate::support::*;
use crate::tether::*;

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
    let (resume, resumed) = mpsc::channel::<()>();
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
        write_buffer_size: WRITE_BUFFER,
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
            Err(SendError::Full(back)) => {
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
    assert_eq!(events.count(is_disconnected), 0, "{:#?}", events.seen);
    assert!(client.close().is_empty());
    assert_eq!(server.journal().accepts(), 1);
}

#[test]
fn message_larger_than_the_write_buffer_goes_out_whole_and_does_not_block_the_queue() {
    const WRITE_BUFFER: usize = 64 << 10;
    let server = Server::start(record);
    let limits = Limits {
        write_buffer_size: WRITE_BUFFER,
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

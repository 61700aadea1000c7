//! Frames the client must survive: headers claiming absurd lengths, a
//! message one byte over the limit, and a message trickled a byte at a time
//! — within the heartbeat, and past the idle timeout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wstether::transport::Limits;
use wstether::{Cause, Event, Failure, HeartbeatConfig};

use crate::support::*;
use crate::tether::*;

// ---------------------------------------------------------------- size limits

const LIMIT: usize = 64 << 10;

fn tight_limits() -> Limits {
    Limits {
        max_message_size: LIMIT,
        max_frame_size: LIMIT,
        ..Limits::default()
    }
}

/// Each of the first `links.len()` links sends its good frames, then its bad
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
        let lost = events.expect(client.events(), "Disconnected", is_disconnected);
        let Event::Disconnected { failure } = supervisor(&lost) else {
            unreachable!()
        };
        assert!(
            failure == Failure::transient(Cause::TooLarge),
            "{failure:?}: {:?}",
            lost.detail
        );
        let text = format!("q{}", sent.len());
        client.send(text.as_str()).unwrap();
        sent.push(text);
    }
    events.expect(client.events(), "the last Connected", is_connected);
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

/// The first link's server writes one text frame a byte every 50 ms (the
/// pace is the fault being injected), then serves; later links say "fresh".
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
    assert_eq!(events.count(is_disconnected), 0, "{:#?}", events.seen);
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

//! Links that end without a close frame: a reset or a FIN in the middle of
//! a frame or between frames, and a reset while a large message is still
//! being written.

use std::io::Read;
use std::time::{Duration, Instant};

use wstether::transport::Limits;
use wstether::{BackoffConfig, Cause, Event, HeartbeatConfig};

use crate::support::*;
use crate::tether::*;

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
    let lost = events.expect(client.events(), "Disconnected", is_disconnected);
    let Event::Disconnected { failure } = supervisor(&lost) else {
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
            // A ping the server never reads is waiting: the kernel sends RST.
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

// ---------------------------------------------------------------- large message

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
                match peer.tcp.read(&mut buf[read..]) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => read += n,
                }
            }
            assert!(peer.wait_pending(PATIENCE), "the client stopped writing");
            peer.reset();
        }
    });
    // Room for the whole message in one write to the link; it is larger
    // than the kernel's socket buffers, so it is still being written when
    // the link dies.
    let limits = Limits {
        write_buffer_size: 16 << 20,
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
    let lost = events.expect(client.events(), "Disconnected", is_disconnected);
    let Event::Disconnected { failure } = supervisor(&lost) else {
        unreachable!()
    };
    assert!(
        matches!(failure.cause, Cause::Abnormal | Cause::Io) && !failure.is_permanent(),
        "{failure:?}: {:?}",
        lost.detail
    );
    if slow_backoff {
        events.expect(client.events(), "ReconnectScheduled", is_scheduled);
        let undelivered = handed_back(&client.close());
        assert_eq!(undelivered.len(), 2);
        assert!(undelivered[0] == large, "the large message, whole");
        assert_eq!(undelivered[1], "after");
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

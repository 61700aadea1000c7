//! Delivery accounted for to the message: at close, under a flood or against
//! a server that stopped reading, what the server read plus what was handed
//! back is exactly what was accepted, in order; the close frame goes out as
//! soon as the queue is written and the handshake has its own time;
//! receipts, time-to-live and end-to-end acknowledgements.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wstether::client::{Fate, Reason, SendError, SendOptions};
use wstether::{Event, Message};

use crate::support::{echo, ms, numbered, Server, PATIENCE};
use crate::{quick, supervisor};

/// `read` then `handed_back` is `accepted`, in order.
fn assert_accounted(accepted: &[String], read: &[String], handed_back: &[String]) {
    let mut together = read.to_vec();
    together.extend_from_slice(handed_back);
    assert_eq!(
        together.len(),
        accepted.len(),
        "{} read + {} handed back for {} accepted",
        read.len(),
        handed_back.len(),
        accepted.len()
    );
    assert!(
        together == accepted,
        "read and handed back are not the accepted messages in order"
    );
}

fn texts_of(undelivered: &[wstether::client::Undelivered]) -> Vec<String> {
    undelivered
        .iter()
        .map(|u| u.message.to_text().expect("text").to_string())
        .collect()
}

#[test]
fn under_a_ping_flood_read_plus_handed_back_is_exactly_what_was_accepted() {
    let server = Server::start(|conn| {
        let Some(mut raw) = conn.upgrade_raw() else { return };
        raw.ping_flood(Instant::now() + PATIENCE);
    });
    let client = quick(&server.url())
        .close_timeout(ms(300))
        .close_handshake_timeout(ms(300))
        .connect()
        .expect("a valid configuration");
    let accepted = numbered("line ", 300);
    for line in &accepted {
        client.send_timeout(line.as_str(), PATIENCE).expect("accepted");
    }
    let handed_back = texts_of(&client.close());
    // The server reads what the kernel holds until the client is gone.
    let journal = server.journal();
    journal.expect_ended(0, PATIENCE);
    let read: Vec<String> = journal.texts();
    println!("ping flood: {} read, {} handed back", read.len(), handed_back.len());
    assert_accounted(&accepted, &read, &handed_back);
}

#[test]
fn against_a_server_that_stopped_reading_nothing_is_in_neither_count() {
    let server = Server::start(|conn| {
        let Some(mut raw) = conn.upgrade_raw() else { return };
        // Reads nothing for a while (the client closes meanwhile), then
        // everything the kernel kept for it.
        raw.stop_reading(Instant::now() + Duration::from_secs(2));
        raw.serve(false, Instant::now() + PATIENCE);
    });
    let client = quick(&server.url())
        .close_timeout(ms(300))
        .close_handshake_timeout(ms(100))
        .queue_capacity(100_000)
        .queue_bytes(64 << 20)
        .connect()
        .expect("a valid configuration");
    let payload = "x".repeat(1_000);
    let accepted: Vec<String> = (0..15_000).map(|i| format!("{i:05} {payload}")).collect();
    for line in &accepted {
        client.send_timeout(line.as_str(), PATIENCE).expect("accepted");
    }
    let handed_back = texts_of(&client.close());
    let journal = server.journal();
    // The server reads megabytes after its stall; a busy machine is slow.
    journal.expect_ended(0, 3 * PATIENCE);
    let read = journal.texts();
    println!("stalled server: {} read, {} handed back", read.len(), handed_back.len());
    assert!(
        !handed_back.is_empty(),
        "the kernel cannot hold 40 MB: some must come back"
    );
    assert_accounted(&accepted, &read, &handed_back);
}

#[test]
fn the_close_frame_follows_the_queue_at_once_and_the_handshake_has_its_own_time() {
    // Reads the messages and the close frame, never answers the close.
    let server = Server::start(|conn| {
        let Some(mut raw) = conn.upgrade_raw() else { return };
        raw.answer_close = false;
        raw.serve(true, Instant::now() + PATIENCE);
        // Keeps the socket open, never answering the close frame.
        raw.stop_reading(Instant::now() + PATIENCE);
    });
    let client = quick(&server.url())
        .close_timeout(Duration::from_secs(5))
        .close_handshake_timeout(ms(300))
        .connect()
        .expect("a valid configuration");
    client.send("one").expect("queued");
    client.send("two").expect("queued");
    // A close during the connect would hand them back at once.
    assert!(client.wait_drained(PATIENCE));
    let started = Instant::now();
    assert!(client.close_with(4000, "bye").is_empty());
    let took = started.elapsed();
    let journal = server.journal();
    let codes = journal.wait_for(PATIENCE, |seen| {
        let codes: Vec<Option<u16>> = seen
            .iter()
            .filter_map(|s| match s {
                crate::support::Seen::Closed { code, .. } => Some(*code),
                _ => None,
            })
            .collect();
        (!codes.is_empty()).then_some(codes)
    });
    println!("close with an unanswered handshake: {took:?}");
    assert_eq!(journal.texts(), ["one", "two"]);
    assert_eq!(codes, Some(vec![Some(4000)]), "our code went out");
    assert!(
        took >= ms(250) && took < ms(1_000),
        "the drain took nothing, the handshake 300 ms: {took:?}"
    );
}

#[test]
fn control_frames_are_handed_back_and_a_shared_client_closes_from_any_thread() {
    let server = Server::start(echo);
    let client = Arc::new(quick(&server.url()).connect().expect("a valid configuration"));
    for control in [
        Message::Ping(Default::default()),
        Message::Close(None),
        Message::Pong(Default::default()),
    ] {
        assert!(matches!(client.send(control), Err(SendError::NotData(_))));
    }
    client.send("kept").expect("queued");
    assert_eq!(
        client.recv_timeout(PATIENCE).expect("running"),
        Some(Message::text("kept"))
    );
    let other = Arc::clone(&client);
    let first = std::thread::spawn(move || other.close()).join().expect("no panic");
    assert!(first.is_empty());
    assert!(
        client.close().is_empty(),
        "a second close gets nothing and does not hang"
    );
    assert!(matches!(
        client.ending().map(|e| e.outcome),
        Some(wstether::Outcome::Stopped)
    ));
}

#[test]
fn receipts_tell_written_or_handed_back() {
    let server = Server::start(echo);
    let client = quick(&server.url()).connect().expect("a valid configuration");
    let receipt = client.send_with("tracked", SendOptions::default()).expect("queued");
    assert_eq!(receipt.wait(PATIENCE), Some(Fate::Written { link: 1 }));
    drop(client);

    let down = crate::support::free_loopback_addr();
    let client = quick(&format!("ws://{down}/"))
        .connect()
        .expect("a valid configuration");
    let receipt = client.send_with("never", SendOptions::default()).expect("queued");
    assert_eq!(receipt.fate(), None);
    let undelivered = client.close();
    assert_eq!(receipt.wait(PATIENCE), Some(Fate::HandedBack(Reason::NotSent)));
    assert_eq!(undelivered.len(), 1);
    assert_eq!(undelivered[0].reason, Reason::NotSent);
}

#[test]
fn a_message_past_its_time_to_live_is_never_sent_and_comes_back_as_expired() {
    let mut server = Server::start(crate::support::record);
    server.stop();
    let client = quick(&server.url())
        .message_ttl(ms(200))
        .connect()
        .expect("a valid configuration");
    let stale = client.send_with("stale order", SendOptions::default()).expect("queued");
    let fresh = client
        .send_with(
            "long-lived",
            SendOptions {
                ttl: Some(PATIENCE),
                ..SendOptions::default()
            },
        )
        .expect("queued");
    assert_eq!(stale.wait(PATIENCE), Some(Fate::HandedBack(Reason::Expired)));
    let expired_event = client
        .events()
        .iter()
        .find(|e| matches!(e.kind, wstether::client::EventKind::Expired { count: 1 }));
    assert!(expired_event.is_some());
    server.restart();
    assert_eq!(fresh.wait(PATIENCE), Some(Fate::Written { link: 1 }));
    let undelivered = client.close();
    assert_eq!(undelivered.len(), 1);
    assert_eq!(undelivered[0].reason, Reason::Expired);
    assert_eq!(
        server.journal().texts(),
        ["long-lived"],
        "the stale message never reached the server"
    );
}

/// A message that expires in the queue while no link is open leaves the
/// queue drained: a caller waiting for the drain hears of it then, not at
/// the end of its wait.
#[test]
fn a_wait_for_the_drain_ends_when_the_last_queued_message_expires() {
    let mut server = Server::start(crate::support::record);
    server.stop();
    let client = quick(&server.url()).connect().expect("a valid configuration");
    client
        .send_with(
            "stale",
            SendOptions {
                ttl: Some(ms(100)),
                ..SendOptions::default()
            },
        )
        .expect("queued");
    let started = Instant::now();
    assert!(client.wait_drained(PATIENCE), "the queue drains by expiry");
    let waited = started.elapsed();
    assert!(waited < ms(2_000), "drained at 100 ms, heard of it after {waited:?}");
    let undelivered = client.close();
    assert_eq!(undelivered.len(), 1);
    assert_eq!(undelivered[0].reason, Reason::Expired);
}

/// A sender waiting for room in a full queue gets the first slot that
/// frees, even when the queue stays nearly full.
#[test]
fn a_blocked_sender_takes_the_first_slot_that_frees() {
    let mut server = Server::start(crate::support::record);
    server.stop();
    let client = quick(&server.url())
        .queue_capacity(4)
        .connect()
        .expect("a valid configuration");
    let with_ttl = |ttl| SendOptions {
        ttl: Some(ttl),
        ..SendOptions::default()
    };
    client.send_with("short-lived", with_ttl(ms(100))).expect("queued");
    for text in ["a", "b", "c"] {
        client.send_with(text, with_ttl(PATIENCE)).expect("queued");
    }
    let started = Instant::now();
    client.send_timeout("d", PATIENCE).expect("room once the first expired");
    let waited = started.elapsed();
    assert!(waited < ms(2_000), "a slot freed at 100 ms, taken after {waited:?}");
}

/// `msg:N` carries id N; the server's `ack:N` acknowledges it.
fn id_of(prefix: &'static str) -> impl Fn(&Message) -> Option<u64> + Send + Sync {
    move |m| m.to_text().ok()?.strip_prefix(prefix)?.parse().ok()
}

#[test]
fn acknowledged_plus_handed_back_is_accepted_across_forced_drops_and_nothing_goes_twice_after_its_ack() {
    // The first link acknowledges every message but msg:3 and msg:6, then
    // goes away after msg:6 (once its acknowledgements are out); the second
    // acknowledges everything.
    let server = Server::start(|conn| {
        let first_link = conn.conn == 0;
        let Some(mut raw) = conn.upgrade_raw() else { return };
        while let Some(text) = raw.next_message(Instant::now() + PATIENCE) {
            let id = text.strip_prefix("msg:").unwrap_or("?").to_string();
            if first_link && id == "6" {
                raw.close_with(1001);
                return;
            }
            if !(first_link && id == "3") {
                raw.send_text(&format!("ack:{id}"));
            }
        }
    });
    let client = quick(&server.url())
        .acknowledge(4, id_of("msg:"), id_of("ack:"))
        .close_timeout(ms(500))
        .connect()
        .expect("a valid configuration");
    let accepted: Vec<String> = (1..=10).map(|i| format!("msg:{i}")).collect();
    let receipts: Vec<_> = accepted
        .iter()
        .map(|m| {
            client
                .send_with(
                    m.as_str(),
                    SendOptions {
                        wait: Some(PATIENCE),
                        ..SendOptions::default()
                    },
                )
                .expect("queued")
        })
        .collect();
    let fates: Vec<_> = receipts.iter().map(|r| r.wait(PATIENCE)).collect();
    let acknowledged = fates
        .iter()
        .filter(|f| matches!(f, Some(Fate::Acknowledged { .. })))
        .count();
    let handed_back = client.close();
    assert_eq!(
        acknowledged + handed_back.len(),
        accepted.len(),
        "{fates:?} {handed_back:?}"
    );
    assert_eq!(acknowledged, 10, "all confirmed on the second link: {fates:?}");
    assert!(matches!(fates[2], Some(Fate::Acknowledged { link: 2 })));
    assert!(matches!(fates[0], Some(Fate::Acknowledged { link: 1 })));
    // Acknowledged on the first link: seen once, there. Not acknowledged
    // there (msg:3, msg:6, and whatever the server read while closing): sent
    // again on the second, never twice on one link.
    let seen = server.journal().messages();
    for (message, fate) in accepted.iter().zip(&fates) {
        let links: Vec<usize> = seen.iter().filter(|(_, t)| t == message).map(|(c, _)| *c).collect();
        match fate {
            Some(Fate::Acknowledged { link: 1 }) => assert_eq!(links, [0], "{message}"),
            _ => assert!(links == [1] || links == [0, 1], "{message} on links {links:?}"),
        }
    }
    assert!(matches!(fates[5], Some(Fate::Acknowledged { link: 2 })));
    let drops = client
        .events()
        .try_iter()
        .filter(|e| supervisor(e, |ev| matches!(ev, Event::Disconnected { .. })))
        .count();
    assert_eq!(drops, 1);
}

#[test]
fn a_written_message_waiting_for_its_acknowledgement_is_sent_again_even_past_its_time_to_live() {
    // The first link reads msg:1, never acknowledges it and goes away after
    // its time-to-live; the second acknowledges.
    let server = Server::start(|conn| {
        let first_link = conn.conn == 0;
        let Some(mut raw) = conn.upgrade_raw() else { return };
        while let Some(text) = raw.next_message(Instant::now() + PATIENCE) {
            if first_link {
                std::thread::sleep(ms(600));
                raw.close_with(1001);
                return;
            }
            raw.send_text(&text.replace("msg:", "ack:"));
        }
    });
    let client = quick(&server.url())
        .acknowledge(4, id_of("msg:"), id_of("ack:"))
        .connect()
        .expect("a valid configuration");
    let receipt = client
        .send_with(
            "msg:1",
            SendOptions {
                ttl: Some(ms(300)),
                ..SendOptions::default()
            },
        )
        .expect("queued");
    assert_eq!(
        receipt.wait(PATIENCE),
        Some(Fate::Acknowledged { link: 2 }),
        "a message already written is not \"never sent\""
    );
    assert!(client.close().is_empty());
    let links: Vec<usize> = server.journal().messages().iter().map(|(c, _)| *c).collect();
    assert_eq!(links, [0, 1]);
}

/// With the acknowledgement window full, the session waits for an
/// acknowledgement instead of turning without pause (it did: a busy
/// loop on the I/O thread until the server acknowledged).
#[test]
fn a_full_acknowledgement_window_leaves_the_session_idle() {
    let server = Server::start(crate::support::record);
    let mut session = quick(&server.url())
        .acknowledge(1, id_of("msg:"), id_of("ack:"))
        .session()
        .expect("a valid configuration");
    let mut seen = Vec::new();
    crate::poll_until_connected(&mut session, &mut seen);
    for i in 0..3 {
        session.send(format!("msg:{i}")).expect("queued");
    }
    // The first goes out; the others wait for its acknowledgement, which
    // never comes.
    let deadline = Instant::now() + PATIENCE;
    while session.timeout() == Some(Duration::ZERO) && Instant::now() < deadline {
        session.poll(Some(Duration::ZERO));
    }
    assert_ne!(session.timeout(), Some(Duration::ZERO), "the session never went idle");
    server
        .journal()
        .wait_for(PATIENCE, |seen| {
            seen.iter()
                .any(|s| matches!(s, crate::support::Seen::Message { text, .. } if text == "msg:0"))
                .then_some(())
        })
        .expect("the first message reaches the server");
    assert_eq!(session.queued(), 3, "one awaits its acknowledgement, two the window");
}

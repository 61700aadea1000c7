//! The link under stress: what waits for the caller is bounded in bytes, a
//! flood of any kind leaves room for writing, a slow caller is not mistaken
//! for a stale feed, and the outgoing bound covers what the link took.

use std::time::{Duration, Instant};

use wstether::client::{Fate, SendError, SendOptions};
use wstether::transport::Limits;
use wstether::{Event, HeartbeatConfig};

use crate::support::{ms, Server, PATIENCE};
use crate::{quick, supervisor};

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("a Linux /proc");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[test]
fn a_caller_that_stops_reading_holds_a_bounded_number_of_bytes() {
    // 1 MiB messages as fast as the socket takes them (from a batch of 4,
    // so that the server in this process costs little).
    let batch = crate::support::frames::repeated(&crate::support::frames::text(&"m".repeat(1 << 20)), 4);
    let server = Server::start(move |conn| {
        let Some(mut raw) = conn.upgrade_raw() else { return };
        raw.flood(batch.clone(), Instant::now() + PATIENCE);
    });
    let limits = Limits {
        max_message_size: 1 << 20,
        max_frame_size: 1 << 20,
        max_queued_bytes: 4 << 20,
        ..Limits::default()
    };
    let before = rss_kib();
    let client = quick(&server.url())
        .limits(limits)
        .connect()
        .expect("a valid configuration");
    // Nobody reads for two seconds while the server pushes.
    std::thread::sleep(Duration::from_secs(2));
    let grown_mib = rss_kib().saturating_sub(before) / 1024;
    println!("RSS grew by {grown_mib} MiB with 1 MiB messages and a 4 MiB budget");
    // The budget, two messages, buffers, and the allocator's slack; before
    // the byte budget this was hundreds of MiB.
    assert!(grown_mib < 48, "grew by {grown_mib} MiB");
    // The caller catches up: everything arrives, whole.
    for _ in 0..8 {
        let message = client.recv_timeout(PATIENCE).expect("running").expect("a message");
        assert_eq!(message.len(), 1 << 20);
    }
    client.close();
}

#[test]
fn sends_get_through_a_ping_flood_promptly() {
    let server = Server::start(|conn| {
        let Some(mut raw) = conn.upgrade_raw() else { return };
        raw.ping_flood(Instant::now() + PATIENCE);
    });
    let client = quick(&server.url()).connect().expect("a valid configuration");
    let journal = server.journal();
    let mut worst = Duration::ZERO;
    for i in 0..10 {
        let text = format!("during the flood {i}");
        let sent = Instant::now();
        client.send(text.as_str()).expect("queued");
        journal
            .wait_for(PATIENCE, |seen| {
                seen.iter()
                    .any(|s| matches!(s, crate::support::Seen::Message { text: t, .. } if *t == text))
                    .then_some(())
            })
            .expect("the message reaches the server during the flood");
        worst = worst.max(sent.elapsed());
    }
    println!("sends during a ping flood: worst {worst:?} from send to the server");
    assert!(worst < ms(500), "a send took {worst:?}");
    client.close();
}

#[test]
fn a_slow_caller_is_not_mistaken_for_a_stale_feed() {
    let server = Server::start(|conn| {
        let Some(mut raw) = conn.upgrade_raw() else { return };
        raw.stream_text("tick", Instant::now() + PATIENCE);
    });
    let client = quick(&server.url())
        .heartbeat(HeartbeatConfig {
            ping_interval: Some(ms(500)),
            pong_timeout: ms(500),
            idle_timeout: Some(ms(1_500)),
        })
        .inbound_capacity(64)
        .connect()
        .expect("a valid configuration");
    assert!(client.recv_timeout(PATIENCE).expect("running").is_some());
    // The caller stalls for 4 s, well past the idle and pong timeouts.
    std::thread::sleep(Duration::from_secs(4));
    for _ in 0..1_000 {
        client.recv_timeout(PATIENCE).expect("running").expect("a tick");
    }
    let dropped: Vec<_> = client
        .events()
        .try_iter()
        .filter(|e| supervisor(e, |ev| matches!(ev, Event::Disconnected { .. })))
        .collect();
    assert!(
        dropped.is_empty(),
        "the link was dropped for the caller's slowness: {dropped:?}"
    );
    client.close();
}

#[test]
fn what_the_link_took_counts_against_the_outgoing_bound() {
    let server = Server::start(|conn| {
        let Some(mut raw) = conn.upgrade_raw() else { return };
        raw.stop_reading(Instant::now() + PATIENCE);
    });
    let client = quick(&server.url())
        .queue_capacity(64)
        .limits(Limits {
            write_buffer_size: 256 << 10,
            ..Limits::default()
        })
        .connect()
        .expect("a valid configuration");
    let payload = "p".repeat(96 << 10);
    let mut receipts = Vec::new();
    loop {
        match client.send_with(payload.as_str(), SendOptions::default()) {
            Ok(receipt) => receipts.push(receipt),
            Err(SendError::Full(_)) => {
                // Full: give the link a moment to move what the kernel takes.
                std::thread::sleep(ms(200));
                if client.send_with(payload.as_str(), SendOptions::default()).is_err() {
                    break;
                }
            }
            Err(other) => panic!("{other}"),
        }
        assert!(receipts.len() < 10_000, "the bound never held");
    }
    let written = receipts
        .iter()
        .filter(|r| matches!(r.fate(), Some(Fate::Written { .. })))
        .count();
    let not_written = receipts.len() - written;
    println!(
        "{} accepted, {written} in the kernel, {not_written} held or queued",
        receipts.len()
    );
    assert!(
        not_written <= 64,
        "{not_written} accepted and not in the kernel, over the bound of 64"
    );
    assert!(client.queued() <= 64);
    drop(client);
}

#[test]
fn a_sender_waiting_for_room_is_woken_at_once_not_by_the_next_heartbeat() {
    // A small queue makes the sender wait for room thousands of times; each
    // wait ends only when the I/O thread takes messages, which a send must
    // wake it for — or the send would wait for the next timer (a minute here).
    let server = Server::start(crate::support::record);
    let client = quick(&server.url())
        .queue_capacity(4)
        .heartbeat(HeartbeatConfig {
            ping_interval: Some(Duration::from_secs(60)),
            pong_timeout: Duration::from_secs(60),
            idle_timeout: None,
        })
        .connect()
        .expect("a valid configuration");
    let mut worst = Duration::ZERO;
    for i in 0..100_000 {
        let sent = Instant::now();
        client
            .send_timeout(format!("m{i}"), PATIENCE)
            .unwrap_or_else(|e| panic!("send {i} waited {:?}: {e:?}", sent.elapsed()));
        worst = worst.max(sent.elapsed());
    }
    println!("100 000 sends through a queue of 4: the longest waited {worst:?}");
    assert!(worst < Duration::from_secs(2), "a send waited {worst:?}");
    assert!(client.close().is_empty());
}

/// A caller that only sends and drives the session once it is done: the
/// socket fills while the server is not reading, the rest of the sends are
/// queued, and once the server reads again they must reach it without
/// waiting for the caller's next turn. Before, they sat in the queue (the
/// writable edge is seen only in a turn) and the server went idle.
#[test]
fn a_session_that_only_sends_keeps_feeding_the_socket_between_turns() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    const SIZE: usize = 16 << 10;
    let frames = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&frames);
    let server = Server::start(move |conn| {
        let Some(mut raw) = conn.upgrade_raw() else { return };
        // The client's writes back up into its own socket.
        raw.stop_reading(Instant::now() + ms(300));
        let deadline = Instant::now() + PATIENCE;
        while let crate::support::RawStep::Frame(frame) = raw.next_frame(deadline) {
            if frame.opcode == 0x2 {
                counted.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    let mut session = quick(&server.url())
        .queue_capacity(100_000)
        .queue_bytes(1 << 30)
        .session()
        .expect("a valid configuration");
    let mut seen = Vec::new();
    crate::poll_until_connected(&mut session, &mut seen);
    let payload = vec![7u8; SIZE];
    // Sends for 1.5 s without a turn: 300 ms into a socket nobody reads
    // (until it is full and sends queue), then while the server reads.
    let start = Instant::now();
    let mut sent = 0;
    while start.elapsed() < ms(1_500) {
        session.send(payload.clone()).expect("room in the queue");
        sent += 1;
        std::thread::sleep(Duration::from_micros(500));
    }
    let queued_at_end = session.queued();
    let at_server = frames.load(Ordering::SeqCst);
    println!("sent {sent}, at the server {at_server}, still queued {queued_at_end}");
    assert!(sent > 1_000, "the loop sent only {sent}");
    // What stays behind is at most the kernel's buffers and one write
    // buffer (a few MiB at 16 KiB a message), not the whole second.
    assert!(
        at_server + 400 >= sent,
        "only {at_server} of {sent} reached the server before the caller's next turn"
    );
    while session.queued() > 0 {
        session.poll(Some(ms(50)));
    }
    let deadline = Instant::now() + PATIENCE;
    while frames.load(Ordering::SeqCst) < sent && Instant::now() < deadline {
        std::thread::sleep(ms(10));
    }
    assert_eq!(frames.load(Ordering::SeqCst), sent, "every message arrives");
}

/// Whether `session`'s fd turns readable within `within`.
fn fd_signals(session: &wstether::client::Session, within: Duration) -> bool {
    use std::os::fd::AsRawFd;
    let mut poll = mio::Poll::new().expect("a poller");
    let fd = session.as_raw_fd();
    poll.registry()
        .register(&mut mio::unix::SourceFd(&fd), mio::Token(0), mio::Interest::READABLE)
        .expect("the session's fd registers");
    let mut events = mio::Events::with_capacity(4);
    poll.poll(&mut events, Some(within)).expect("poll");
    !events.is_empty()
}

/// While its socket is full, a send does not wake the session: its bytes
/// could go nowhere, and the socket's writable edge wakes the session when
/// they can. (On a link filled faster than it drains, that wake-up was one
/// system call per message.) A message with a time-to-live, whose expiry
/// the session must schedule, and a request from the caller still wake it.
#[test]
fn a_send_into_a_full_socket_leaves_the_session_asleep() {
    let server = Server::start(|conn| {
        let Some(mut raw) = conn.upgrade_raw() else { return };
        raw.stop_reading(Instant::now() + PATIENCE);
    });
    let mut session = quick(&server.url()).session().expect("a valid configuration");
    let mut seen = Vec::new();
    crate::poll_until_connected(&mut session, &mut seen);
    // Fill the socket and the link's buffer, until the session waits for
    // the socket with messages queued.
    let payload = vec![7u8; 64 << 10];
    let mut sent = 0;
    loop {
        session.send(payload.clone()).expect("room in the queue");
        sent += 1;
        while let Some(item) = session.poll(Some(Duration::ZERO)) {
            seen.push(item);
        }
        if session.queued() > 0 && session.timeout() != Some(Duration::ZERO) {
            break;
        }
        assert!(sent < 4_000, "the socket never filled");
    }
    assert!(!fd_signals(&session, ms(100)), "the session waits for its socket");
    // More than the link's buffer takes, so that some are queued.
    for _ in 0..4 {
        session.send(payload.clone()).expect("room in the queue");
    }
    assert!(
        !fd_signals(&session, ms(200)),
        "a send woke a session waiting for its socket"
    );

    session
        .send_with(
            "with a time-to-live",
            SendOptions {
                ttl: Some(PATIENCE),
                ..SendOptions::default()
            },
        )
        .expect("room in the queue");
    assert!(
        fd_signals(&session, PATIENCE),
        "a send with a time-to-live wakes the session"
    );
    while session.poll(Some(Duration::ZERO)).is_some() {}
    assert!(!fd_signals(&session, ms(100)), "the wake-up was taken");
    session.mark_healthy();
    assert!(fd_signals(&session, PATIENCE), "a request wakes the session");
}

/// A caller who takes messages wakes a link that stopped reading for lack
/// of room, even while the link waits for its full socket: sends need not
/// wake it then, but room to read must. (It did not: the link read on only
/// at its next timer.)
#[test]
fn room_freed_by_the_caller_wakes_a_link_whose_socket_is_full() {
    const TICKS: usize = 20_000;
    let server = Server::start(|conn| {
        let Some(mut raw) = conn.upgrade_raw() else { return };
        // Never reads: the client's writes back up into its socket.
        let batch = crate::support::frames::repeated(&crate::support::frames::text("tick"), 1_000);
        for _ in 0..TICKS / 1_000 {
            if raw.write_raw(&batch).is_err() {
                return;
            }
        }
        std::thread::sleep(PATIENCE);
    });
    let client = quick(&server.url())
        .inbound_capacity(16)
        .heartbeat(HeartbeatConfig {
            ping_interval: None,
            pong_timeout: PATIENCE,
            idle_timeout: None,
        })
        .connect()
        .expect("a valid configuration");
    assert!(client.recv_timeout(PATIENCE).expect("running").is_some());
    // Fill the socket the server never reads.
    let payload = vec![7u8; 64 << 10];
    for _ in 0..200 {
        client.send(payload.clone()).expect("room in the queue");
    }
    std::thread::sleep(ms(300));
    let started = Instant::now();
    for i in 1..TICKS {
        let tick = client.recv_timeout(PATIENCE).expect("running");
        assert!(tick.is_some(), "tick {i} did not come within {PATIENCE:?}");
    }
    println!("{TICKS} ticks in {:?} with the socket full", started.elapsed());
    client.close();
}

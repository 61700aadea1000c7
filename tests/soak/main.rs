//! Resource use over time, on real sockets: the CPU a refused endpoint costs
//! (in CI), and a long soak against a flapping server that samples memory and
//! file descriptors (not in CI: `#[ignore]`).
//!
//! The soak:
//!
//! ```sh
//! WSTETHER_SOAK_SECS=600 cargo test --release --test soak -- --ignored --nocapture
//! ```
//!
//! Linux only (it reads `/proc/self`); elsewhere both tests skip.

// The thread client, its transport and TLS; the core alone has none of them.
#![cfg(all(feature = "std", feature = "tls"))]

#[path = "../support/mod.rs"]
mod support;
#[path = "../client/tether.rs"]
mod tether;

use std::fs;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use wstether::client::{ClientBuilder, SendError};
use wstether::{BackoffConfig, Cause, Event, HeartbeatConfig, Jitter};

use support::*;
use tether::*;

/// utime + stime of the whole process, in clock ticks (USER_HZ, 100 per
/// second on Linux).
fn process_cpu_ticks() -> Option<u64> {
    let stat = fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces; the fields follow its closing paren.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat(5), counted from 3 here.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

const TICKS_PER_SEC: f64 = 100.0;

/// Case 6 of the matrix. The only test of this binary that runs by
/// default, so the process CPU time is the client's own.
#[test]
fn refused_endpoint_backs_off_with_growing_jittered_delays_and_no_busy_loop() {
    let Some(cpu_before) = process_cpu_ticks() else {
        eprintln!("skipped: no /proc/self/stat on this system");
        return;
    };
    let addr = Server::reserve();
    let backoff = BackoffConfig {
        initial: ms(20),
        multiplier_permille: 2_000,
        cap: ms(640),
        jitter: Jitter::Equal,
        cap_jitter: None,
        stable_after: Duration::from_secs(30),
        ..BackoffConfig::default()
    };
    let client = ClientBuilder::new(format!("ws://{addr}/"))
        .no_proxy()
        .backoff(backoff)
        .seed(7)
        .close_timeout(ms(500))
        .connect()
        .unwrap();
    client.send("queued while refused").unwrap();
    let started = Instant::now();
    let mut events = Events::default();
    // About a second of refused attempts: 20 + 40 + 80 + 160 + 320 ms of
    // base delay, halved at worst by the jitter.
    let window = Duration::from_millis(1_200);
    while started.elapsed() < window {
        events.wait(client.events(), window.saturating_sub(started.elapsed()), |_| false);
    }
    let cpu = process_cpu_ticks().unwrap() - cpu_before;
    let wall = started.elapsed();
    let undelivered = client.close();
    assert_eq!(handed_back(&undelivered), ["queued while refused"]);

    let failures: Vec<Cause> = events
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::ConnectFailed { failure, .. } => Some(failure.cause),
            _ => None,
        })
        .collect();
    assert!(failures.len() >= 3, "{:#?}", events.seen);
    assert!(failures.iter().all(|c| *c == Cause::Refused), "{failures:?}");
    let delays: Vec<(Duration, Duration)> = events
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::ReconnectScheduled { delay, .. } => Some((delay.base(), delay.delay())),
            _ => None,
        })
        .collect();
    // The base doubles; the delay is jittered within [base/2, base].
    for (i, (base, delay)) in delays.iter().enumerate() {
        assert_eq!(*base, ms(20 << i).min(ms(640)), "{delays:?}");
        assert!(*delay >= *base / 2 && delay <= base, "{delays:?}");
    }
    assert!(
        delays.iter().any(|(base, delay)| base != delay),
        "no jitter: {delays:?}"
    );
    // Attempts follow the schedule: at most one more than the delays waited.
    assert!(failures.len() <= delays.len() + 1, "{failures:?} {delays:?}");

    let share = cpu as f64 / TICKS_PER_SEC / wall.as_secs_f64();
    eprintln!(
        "{} refused attempts in {wall:?}: {cpu} CPU ticks, {:.1} % of one core",
        failures.len(),
        share * 100.0
    );
    assert!(share < 0.30, "the reconnect loop used {:.0} % of a core", share * 100.0);
}

// ---------------------------------------------------------------- soak

/// What the server received, checked on the fly in constant memory: the
/// client sends `c0`, `c1`, … (each number once accepted), so every link
/// must continue where the last one stopped, give or take messages that were
/// in flight on a dead link and are sent again.
#[derive(Debug, Default)]
struct Check {
    /// The next number never seen.
    next: u64,
    /// Numbers seen again (re-sent after a link died mid-write).
    repeats: u64,
    /// Numbers skipped: lost. Must stay empty.
    gaps: Vec<(u64, u64)>,
}

impl Check {
    fn see(&mut self, text: &str) {
        let Some(n) = text.strip_prefix('c').and_then(|n| n.parse::<u64>().ok()) else {
            return;
        };
        if n < self.next {
            self.repeats += 1;
        } else {
            if n > self.next && self.gaps.len() < 16 {
                self.gaps.push((self.next, n));
            }
            self.next = n + 1;
        }
    }
}

/// A small deterministic generator for the server's choices.
fn mix(conn: usize, salt: u64) -> u64 {
    let mut x = (conn as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt;
    x ^= x >> 31;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^ (x >> 29)
}

fn status_field(name: &str) -> u64 {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                let value = line.strip_prefix(name)?.strip_prefix(':')?;
                value.split_whitespace().next()?.parse().ok()
            })
        })
        .unwrap_or(0)
}

fn open_fds() -> usize {
    fs::read_dir("/proc/self/fd").map_or(0, |dir| dir.count())
}

#[derive(Clone, Copy, Debug)]
struct Sample {
    at: Duration,
    rss_kib: u64,
    fds: usize,
    threads: u64,
}

fn sample(started: Instant) -> Sample {
    Sample {
        at: started.elapsed(),
        rss_kib: status_field("VmRSS"),
        fds: open_fds(),
        threads: status_field("Threads"),
    }
}

/// One connection of the flapping server. Every behaviour is lossless for
/// what the client wrote: the server reads until the client hangs up.
fn flapping(conn: Conn, check: &Mutex<Check>, draining: &AtomicBool, sent: &AtomicU64) {
    let choice = mix(conn.conn, 1) % 10;
    if draining.load(Ordering::SeqCst) || choice == 5 {
        conn.respond("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1");
        return;
    }
    let Some(mut peer) = conn.upgrade_raw() else { return };
    peer.quiet = true;
    let life = Instant::now() + ms(300 + mix(peer.conn, 2) % 2_700);
    let see = |text: &str| {
        check.lock().unwrap().see(text);
        false
    };
    // Pongs dropped: answer nothing and send nothing; the client's heartbeat
    // ends the link.
    if choice == 7 {
        let _ = peer.serve_until(false, Instant::now() + PATIENCE, see);
        return;
    }
    // Accept, then close at once.
    if choice == 9 {
        peer.send_close(1012);
        let _ = peer.serve_until(true, Instant::now() + PATIENCE, see);
        return;
    }
    let mut n = 0u64;
    while Instant::now() < life && !draining.load(Ordering::SeqCst) {
        match peer.serve_until(true, Instant::now() + ms(20), see) {
            RawStep::TimedOut => {}
            // The client closed or left.
            _ => return,
        }
        if !peer.send_text(&format!("s{}-{n}", peer.conn)) {
            return;
        }
        n += 1;
        sent.fetch_add(1, Ordering::Relaxed);
    }
    match choice {
        // FIN without a close frame; read what the client still sends.
        6 => {
            let _ = peer.tcp.shutdown(std::net::Shutdown::Write);
            let _ = peer.serve_until(false, Instant::now() + PATIENCE, see);
        }
        8 => {
            peer.send_close(1013);
            let _ = peer.serve_until(true, Instant::now() + PATIENCE, see);
        }
        _ => {
            peer.send_close(1001);
            let _ = peer.serve_until(true, Instant::now() + PATIENCE, see);
        }
    }
}

#[test]
#[ignore = "a long soak on real sockets; run it by hand (see the file's doc)"]
fn soak_against_a_flapping_server() {
    if !std::path::Path::new("/proc/self/status").exists() {
        eprintln!("skipped: no /proc/self on this system");
        return;
    }
    let secs: u64 = std::env::var("WSTETHER_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(600);
    let duration = Duration::from_secs(secs);
    let check = Arc::new(Mutex::new(Check::default()));
    let draining = Arc::new(AtomicBool::new(false));
    let server_sent = Arc::new(AtomicU64::new(0));
    let mut server = {
        let (check, draining, sent) = (Arc::clone(&check), Arc::clone(&draining), Arc::clone(&server_sent));
        Server::start(move |conn| flapping(conn, &check, &draining, &sent))
    };
    let started = Instant::now();
    let first = sample(started);
    let backoff = BackoffConfig {
        initial: ms(50),
        cap: Duration::from_secs(1),
        stable_after: Duration::from_secs(2),
        max_retry_after: Duration::from_secs(2),
        retry_later_floor: ms(500),
        ..BackoffConfig::default()
    };
    let heartbeat = HeartbeatConfig {
        ping_interval: Some(ms(500)),
        pong_timeout: ms(500),
        idle_timeout: None,
    };
    let client = ClientBuilder::new(server.url())
        .no_proxy()
        .backoff(backoff)
        .heartbeat(heartbeat)
        .connect_timeout(Duration::from_secs(2))
        .close_timeout(Duration::from_secs(2))
        .close_handshake_timeout(Duration::from_secs(2))
        .queue_capacity(1_024)
        .connect()
        .unwrap();

    // One thread sends and receives: `c{n}`, n counting accepted messages
    // only, about 500 a second.
    let mut accepted = 0u64;
    let mut full = 0u64;
    let mut samples = vec![first];
    let mut received = 0u64;
    let mut events = 0u64;
    let mut next_sample = started + Duration::from_secs(10);
    let mut next_outage = started + Duration::from_secs(25);
    eprintln!("soak for {secs} s; start: {first:?}");
    while started.elapsed() < duration {
        let due = (started.elapsed().as_millis() / 2) as u64;
        while accepted + full < due {
            match client.send(format!("c{accepted}")) {
                Ok(()) => accepted += 1,
                Err(SendError::Full(_)) => full += 1,
                Err(SendError::Closed(_)) => panic!("client finished during the soak: {:?}", client.ending()),
                Err(SendError::NotData(_)) => unreachable!("a text message"),
            }
        }
        while let Ok(Some(_)) = client.recv_timeout(ms(5)) {
            received += 1;
        }
        while client.events().try_recv().is_ok() {
            events += 1;
        }
        let now = Instant::now();
        if now >= next_outage {
            // Refused for two seconds: links end cleanly first, so nothing the
            // client wrote is cut off unread, then the port closes.
            draining.store(true, Ordering::SeqCst);
            thread::sleep(ms(300));
            server.stop();
            draining.store(false, Ordering::SeqCst);
            thread::sleep(Duration::from_secs(2));
            server.restart();
            next_outage = Instant::now() + Duration::from_secs(25);
        }
        if now >= next_sample {
            let s = sample(started);
            let snapshot = client.snapshot();
            let c = check.lock().unwrap();
            eprintln!(
                "t={:>4}s rss={} KiB fds={} threads={} accepted={} full={} server_got={} repeats={} gaps={} received={} server_sent={} connects={} disconnects={} attempts={} state={}",
                s.at.as_secs(),
                s.rss_kib,
                s.fds,
                s.threads,
                accepted,
                full,
                c.next,
                c.repeats,
                c.gaps.len(),
                received,
                server_sent.load(Ordering::Relaxed),
                snapshot.counters.connects,
                snapshot.counters.disconnects,
                snapshot.counters.attempts,
                snapshot.state.name(),
            );
            drop(c);
            samples.push(s);
            next_sample += Duration::from_secs(10);
        }
    }
    let snapshot = client.snapshot();
    let undelivered = client.close();
    server.stop();
    // Let connection threads see their sockets close.
    thread::sleep(ms(500));
    let last = sample(started);
    samples.push(last);

    let c = check.lock().unwrap();
    let handed_back: Vec<u64> = handed_back(&undelivered)
        .iter()
        .map(|t| t.trim_start_matches('c').parse().unwrap())
        .collect();
    let max_rss = samples.iter().map(|s| s.rss_kib).max().unwrap();
    let max_fds = samples.iter().map(|s| s.fds).max().unwrap();
    eprintln!(
        "soak done after {:?}: accepted {accepted}, delivered {} (+{} repeats), handed back {}, received {received}, events {events}; \
         connects {} disconnects {} attempts {} heartbeat timeouts {}",
        last.at,
        c.next,
        c.repeats,
        handed_back.len(),
        snapshot.counters.connects,
        snapshot.counters.disconnects,
        snapshot.counters.attempts,
        snapshot.counters.heartbeat_timeouts,
    );
    eprintln!(
        "RSS start {} KiB, end {} KiB, max {} KiB; fds start {}, end {}, max {}; threads start {}, end {}",
        first.rss_kib, last.rss_kib, max_rss, first.fds, last.fds, max_fds, first.threads, last.threads
    );
    // Nothing lost: the server saw 0..next without a gap, and the client
    // handed back exactly next..accepted.
    assert!(c.gaps.is_empty(), "lost messages: {:?}", c.gaps);
    let expected: Vec<u64> = (c.next..accepted).collect();
    assert_eq!(handed_back, expected, "handed back");
    assert!(snapshot.counters.disconnects >= secs / 10, "the server did not flap");
    // No leak: descriptors back where they were, memory flat after warm-up.
    assert!(last.fds <= first.fds + 2, "fds {} -> {}", first.fds, last.fds);
    let warm = samples.get(2).map_or(first.rss_kib, |s| s.rss_kib);
    assert!(
        last.rss_kib <= warm + 16 * 1024,
        "RSS grew from {warm} KiB (t=20 s) to {} KiB",
        last.rss_kib
    );
}

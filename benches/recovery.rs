//! Detection and recovery, measured on loopback with real sockets:
//!
//! 1. How long a blackholed link (a proxy that stops forwarding both ways)
//!    takes to be declared dead, against ping interval + pong timeout.
//! 2. How long from a server coming back to the first message received,
//!    against the reconnect delay the supervisor had scheduled.
//!
//! `cargo bench --bench recovery` (about 20 s).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tungstenite::Message;
use wstether::client::{Client, ClientBuilder, ClientEvent};
use wstether::{BackoffConfig, Event, HeartbeatConfig};

const ROUNDS: usize = 10;

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// A server that streams a message every 20 ms to every link, until told to stop.
fn ticking_server(listener: TcpListener, running: Arc<AtomicBool>) {
    listener.set_nonblocking(true).expect("non-blocking listener");
    while running.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let running = Arc::clone(&running);
                thread::spawn(move || {
                    stream.set_nonblocking(false).ok();
                    let Ok(mut ws) = tungstenite::accept(stream) else {
                        return;
                    };
                    ws.get_mut().set_read_timeout(Some(Duration::from_millis(20))).ok();
                    while running.load(Ordering::SeqCst) {
                        if ws.send(Message::text("tick")).is_err() {
                            return;
                        }
                        if let Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) = ws.read()
                        {
                            return;
                        }
                    }
                    let _ = ws.get_mut().shutdown(Shutdown::Both);
                });
            }
            Err(_) => thread::sleep(Duration::from_millis(2)),
        }
    }
}

/// Forwards bytes between one client and the server; when `blackhole` is
/// set it keeps reading but forwards nothing, like a dead route.
fn proxy(listener: TcpListener, upstream: SocketAddr, blackhole: Arc<AtomicBool>) {
    for client in listener.incoming().flatten() {
        let Ok(server) = TcpStream::connect(upstream) else {
            continue;
        };
        for (mut from, mut to) in [
            (client.try_clone().expect("clone"), server.try_clone().expect("clone")),
            (server, client),
        ] {
            let blackhole = Arc::clone(&blackhole);
            thread::spawn(move || {
                let mut buf = [0u8; 16 * 1024];
                loop {
                    match from.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) if !blackhole.load(Ordering::SeqCst) => {
                            if to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        Ok(_) => {}
                    }
                }
                let _ = to.shutdown(Shutdown::Both);
            });
        }
    }
}

fn wait_for(client: &Client, what: impl Fn(&Event) -> bool, limit: Duration) -> Option<ClientEvent> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(event) = client.events().recv_timeout(Duration::from_millis(50)) {
            if event.supervisor().is_some_and(&what) {
                return Some(event);
            }
        }
    }
    None
}

fn detection() {
    let (interval, timeout) = (Duration::from_millis(500), Duration::from_millis(500));
    let mut detected = Vec::new();
    for _ in 0..ROUNDS {
        let running = Arc::new(AtomicBool::new(true));
        let server = TcpListener::bind("127.0.0.1:0").expect("bind");
        let upstream = server.local_addr().expect("addr");
        thread::spawn({
            let running = Arc::clone(&running);
            move || ticking_server(server, running)
        });
        let front = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("ws://{}/", front.local_addr().expect("addr"));
        let blackhole = Arc::new(AtomicBool::new(false));
        thread::spawn({
            let blackhole = Arc::clone(&blackhole);
            move || proxy(front, upstream, blackhole)
        });
        let client = ClientBuilder::new(url)
            .heartbeat(HeartbeatConfig {
                ping_interval: Some(interval),
                pong_timeout: timeout,
                idle_timeout: None,
            })
            .seed(1)
            .connect()
            .expect("client");
        wait_for(
            &client,
            |e| matches!(e, Event::Connected { .. }),
            Duration::from_secs(5),
        )
        .expect("connected");
        thread::sleep(Duration::from_millis(300));
        while client.try_recv().ok().flatten().is_some() {}
        let cut = Instant::now();
        blackhole.store(true, Ordering::SeqCst);
        let event = wait_for(
            &client,
            |e| matches!(e, Event::Disconnected { failure } if failure.cause == wstether::Cause::HeartbeatTimeout),
            Duration::from_secs(5),
        );
        if event.is_some() {
            detected.push(cut.elapsed().as_secs_f64() * 1_000.0);
        }
        running.store(false, Ordering::SeqCst);
        drop(client);
    }
    let n = detected.len();
    let max = detected.iter().cloned().fold(0.0, f64::max);
    let min = detected.iter().cloned().fold(f64::MAX, f64::min);
    println!("## 1. Detecting a blackholed link\n");
    println!(
        "ping interval {} ms + pong timeout {} ms = bound {} ms; the server sends every 20 ms, so",
        interval.as_millis(),
        timeout.as_millis(),
        (interval + timeout).as_millis()
    );
    println!("the last inbound frame is at most ~20 ms before the cut.\n");
    println!("| rounds detected | min ms | median ms | max ms | bound ms |");
    println!("|---:|---:|---:|---:|---:|");
    println!(
        "| {n}/{ROUNDS} | {min:.0} | {:.0} | {max:.0} | {} |\n",
        median(&mut detected),
        (interval + timeout).as_millis()
    );
}

fn recovery() {
    let mut since_back = Vec::new();
    let mut waited_for_schedule = Vec::new();
    let mut attempt_to_message = Vec::new();
    for round in 0..ROUNDS {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        drop(listener); // refused until the server comes back
        let client_started = Instant::now();
        let client = ClientBuilder::new(format!("ws://{addr}/"))
            .backoff(BackoffConfig {
                initial: Duration::from_millis(200),
                cap: Duration::from_millis(800),
                ..BackoffConfig::default()
            })
            .seed(round as u64)
            .connect()
            .expect("client");
        // Let a few attempts fail, then bring the server back at a different phase each round.
        thread::sleep(Duration::from_millis(700 + 37 * round as u64));
        let running = Arc::new(AtomicBool::new(true));
        let Ok(listener) = TcpListener::bind(addr) else {
            continue;
        };
        let back = Instant::now();
        thread::spawn({
            let running = Arc::clone(&running);
            move || ticking_server(listener, running)
        });
        let first_message = match client.recv_timeout(Duration::from_secs(5)) {
            Ok(Some(_)) => Instant::now(),
            _ => continue,
        };
        running.store(false, Ordering::SeqCst);
        // The attempt that succeeded: the last one started before `Connected`.
        let mut started_at = None;
        for event in client.events().try_iter() {
            match event.supervisor() {
                Some(Event::AttemptStarted { .. }) => started_at = Some(client_started + event.at),
                Some(Event::Connected { .. }) => break,
                _ => {}
            }
        }
        let Some(started_at) = started_at else { continue };
        since_back.push((first_message - back).as_secs_f64() * 1_000.0);
        waited_for_schedule.push(started_at.saturating_duration_since(back).as_secs_f64() * 1_000.0);
        attempt_to_message.push(first_message.saturating_duration_since(started_at).as_secs_f64() * 1_000.0);
        drop(client);
    }
    println!("## 2. From the server coming back to the first message\n");
    println!(
        "Backoff 200 ms ×2 to 800 ms (defaults otherwise: phased jitter); the server comes back at a different phase each round,"
    );
    println!("accepts, upgrades and sends its first message at once.\n");
    println!("| rounds | server back → first message, median ms | of which waiting for the scheduled attempt | of which attempt start → first message (TCP + upgrade + message) | max of the last |");
    println!("|---:|---:|---:|---:|---:|");
    let max = attempt_to_message.iter().cloned().fold(0.0, f64::max);
    println!(
        "| {} | {:.1} | {:.1} | {:.2} | {max:.2} |\n",
        attempt_to_message.len(),
        median(&mut since_back),
        median(&mut waited_for_schedule),
        median(&mut attempt_to_message)
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let started = Instant::now();
    println!("# Detection and recovery (loopback)\n");
    detection();
    recovery();
    println!("total {:.1} s", started.elapsed().as_secs_f64());
}

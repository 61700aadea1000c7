//! wstether against raw tungstenite and tokio-tungstenite, in the same run,
//! over loopback: receive and send throughput, echo round trip, idle cost,
//! memory per idle client and the I/O thread's touched stack.
//!
//! ```sh
//! cargo bench --bench throughput                       # everything (~1 min)
//! WSTETHER_BENCH_ONLY=receive,send cargo bench --bench throughput
//! WSTETHER_BENCH_CLIENTS=raw,session,session128 WSTETHER_BENCH_ROUNDS=9 cargo bench --bench throughput
//! ```
//!
//! Sections (`WSTETHER_BENCH_ONLY`): `receive`, `send`, `echo`, `idle`,
//! `memory`, `stack`. Clients (`WSTETHER_BENCH_CLIENTS`): `raw`, `session`,
//! `client`, `tokio` (the default four) and `session128`, `client128`
//! (wstether with a 128 KiB read buffer). `WSTETHER_BENCH_ROUNDS` (default
//! 7), `WSTETHER_BENCH_SCALE` (percent of the default message counts),
//! `WSTETHER_BENCH_SIZES` (e.g. `64,1024`), `WSTETHER_BENCH_IDLE_SECS`
//! (default 20), `WSTETHER_BENCH_CSV` (a file to append every run to).
//!
//! Throughput: every round runs each client once on a fresh connection, in
//! an order that rotates from round to round, so the shared machine's noise
//! spreads over all of them; tables give the median over rounds and the
//! min–max, and the ratios are taken within each round. Only the client is
//! measured: the receive server writes frames it encoded once, in large
//! writes, and the send server follows frame headers without unmasking (see
//! `servers.rs`).
//!
//! Profiling: `WSTETHER_BENCH_PROFILE=receive:session:64:20000` runs one
//! client once against a server in a child process (so that
//! `valgrind --tool=callgrind` sees only the client) and exits.

mod clients;
mod common;
mod servers;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use clients::Kind;
use common::{env_list, env_usize, median, min_max, percentile, STEP};
use tungstenite::Message;
use wstether::client::{ClientBuilder, Incoming};
use wstether::transport::Limits;
use wstether::State;

fn wanted(section: &str) -> bool {
    env_list("WSTETHER_BENCH_ONLY").is_none_or(|only| only.iter().any(|s| s == section))
}

fn kinds() -> Vec<Kind> {
    match env_list("WSTETHER_BENCH_CLIENTS") {
        Some(keys) => keys
            .iter()
            .map(|k| Kind::from_key(k).unwrap_or_else(|| panic!("unknown client {k}")))
            .collect(),
        None => Kind::MAIN.to_vec(),
    }
}

/// (size, messages) per run, scaled by `WSTETHER_BENCH_SCALE` percent.
fn sizes() -> Vec<(usize, usize)> {
    let scale = env_usize("WSTETHER_BENCH_SCALE", 100);
    let all = [(64, 500_000), (1024, 100_000), (65536, 4_000)];
    let only: Option<Vec<usize>> =
        env_list("WSTETHER_BENCH_SIZES").map(|l| l.iter().filter_map(|s| s.parse().ok()).collect());
    all.into_iter()
        .filter(|(size, _)| only.as_ref().is_none_or(|o| o.contains(size)))
        .map(|(size, count)| (size, (count * scale / 100).max(10)))
        .collect()
}

// ------------------------------------------------------------- throughput

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Receive,
    Send,
}

impl Direction {
    fn key(self) -> &'static str {
        match self {
            Direction::Receive => "receive",
            Direction::Send => "send",
        }
    }
}

/// One run of one client: messages per second.
fn rate(direction: Direction, kind: Kind, size: usize, count: usize) -> f64 {
    let seconds = match direction {
        Direction::Receive => {
            let (url, server) = servers::receive_server(size, count);
            let s = clients::receive(kind, &url, count);
            server.join().expect("server");
            s
        }
        Direction::Send => {
            let (url, done, server) = servers::send_server(count);
            let data = common::payload(size);
            let s = clients::send(kind, &url, &done, &data, count);
            server.join().expect("server");
            s
        }
    };
    count as f64 / seconds
}

fn cell(values: &[f64], scale: f64, digits: usize) -> String {
    let (lo, hi) = min_max(values);
    format!(
        "{:.d$} ({:.d$}–{:.d$})",
        median(values) / scale,
        lo / scale,
        hi / scale,
        d = digits
    )
}

fn throughput(direction: Direction) {
    let kinds = kinds();
    let rounds = env_usize("WSTETHER_BENCH_ROUNDS", 7);
    let csv = std::env::var("WSTETHER_BENCH_CSV").ok();
    println!(
        "## {} throughput: messages/s in thousands, median over {rounds} rounds (min–max); MB/s of the median",
        match direction {
            Direction::Receive => "Receive",
            Direction::Send => "Send",
        }
    );
    println!();
    let names: Vec<String> = kinds.iter().map(|k| k.name().to_string()).collect();
    let ratio_names: Vec<(&str, Kind, Kind)> = [
        ("Session/raw", Kind::Session, Kind::Raw),
        ("Client/tokio", Kind::Client, Kind::Tokio),
        ("Client/raw", Kind::Client, Kind::Raw),
        ("Session128/raw", Kind::Session128, Kind::Raw),
        ("Client128/tokio", Kind::Client128, Kind::Tokio),
        ("Client128/raw", Kind::Client128, Kind::Raw),
    ]
    .into_iter()
    .filter(|(_, a, b)| kinds.contains(a) && kinds.contains(b))
    .collect();
    let mb_names: Vec<String> = kinds.iter().map(|k| format!("{} MB/s", k.key())).collect();
    println!(
        "| size | messages | {} | {} | {} |",
        names.join(" | "),
        ratio_names.iter().map(|r| r.0).collect::<Vec<_>>().join(" | "),
        mb_names.join(" | ")
    );
    println!("|---|---:|{}", "---:|".repeat(kinds.len() * 2 + ratio_names.len()));
    for (size, count) in sizes() {
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); kinds.len()];
        let mut ratios: Vec<Vec<f64>> = vec![Vec::new(); ratio_names.len()];
        for round in 0..rounds {
            let mut this = vec![0.0; kinds.len()];
            for i in 0..kinds.len() {
                let k = (i + round) % kinds.len();
                this[k] = rate(direction, kinds[k], size, count);
            }
            for (k, r) in this.iter().enumerate() {
                rates[k].push(*r);
                if let Some(path) = &csv {
                    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
                        let _ = writeln!(f, "{},{},{},{},{}", direction.key(), size, kinds[k].key(), round, r);
                    }
                }
            }
            let of = |kind: Kind| this[kinds.iter().position(|k| *k == kind).expect("kind")];
            for (j, (_, a, b)) in ratio_names.iter().enumerate() {
                ratios[j].push(of(*a) / of(*b));
            }
        }
        let size_name = match size {
            64 => "64 B".to_string(),
            s => format!("{} KiB", s / 1024),
        };
        println!(
            "| {size_name} | {count} | {} | {} | {} |",
            rates.iter().map(|r| cell(r, 1e3, 0)).collect::<Vec<_>>().join(" | "),
            ratios.iter().map(|r| cell(r, 1.0, 2)).collect::<Vec<_>>().join(" | "),
            rates
                .iter()
                .map(|r| format!("{:.0}", median(r) * size as f64 / 1e6))
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
    println!();
}

// ------------------------------------------------------------------- echo

fn echo_table() {
    const WARMUP: usize = 200;
    const COUNT: usize = 2000;
    const ROUNDS: usize = 3;
    let kinds = kinds();
    println!(
        "## Echo round trip, 64 B: {ROUNDS} alternating runs × {COUNT} round trips after {WARMUP} warm-up, pooled"
    );
    println!();
    println!("| client | p50 µs | p99 µs | p50 per run |");
    println!("|---|---:|---:|---|");
    let mut pooled: Vec<Vec<f64>> = vec![Vec::new(); kinds.len()];
    let mut runs: Vec<Vec<f64>> = vec![Vec::new(); kinds.len()];
    for round in 0..ROUNDS {
        for i in 0..kinds.len() {
            let k = (i + round) % kinds.len();
            let mut rtts = clients::echo(kinds[k], WARMUP, COUNT);
            rtts.sort_by(f64::total_cmp);
            runs[k].push(percentile(&rtts, 50.0));
            pooled[k].extend(rtts);
        }
    }
    for (k, kind) in kinds.iter().enumerate() {
        pooled[k].sort_by(f64::total_cmp);
        println!(
            "| {} | {:.1} | {:.1} | {} |",
            kind.name(),
            percentile(&pooled[k], 50.0),
            percentile(&pooled[k], 99.0),
            runs[k].iter().map(|v| format!("{v:.1}")).collect::<Vec<_>>().join(", ")
        );
    }
    println!();
}

// ------------------------------------------------------------------- idle

/// A tungstenite server that holds one link, reading (it answers pings).
fn idle_server() -> (String, thread::JoinHandle<()>) {
    let (listener, url) = servers::bind();
    let handle = thread::spawn(move || {
        let Ok((tcp, _)) = servers::accept_plain(&listener) else {
            return;
        };
        tcp.set_read_timeout(None).ok();
        if let Ok(mut ws) = tungstenite::accept(tcp) {
            while ws.read().is_ok() {}
        }
    });
    (url, handle)
}

fn idle_bench() {
    let secs = env_usize("WSTETHER_BENCH_IDLE_SECS", 20) as u64;
    let window = Duration::from_secs(secs);
    let per_minute = 60.0 / secs as f64;
    // The Client: its I/O thread.
    let (url, server) = idle_server();
    // Threads of earlier clients may still be ending: take the new one.
    let earlier = common::threads_named("wstether-io");
    let client = clients::client_connect(Kind::Client, &url);
    let io_tids: Vec<String> = common::threads_named("wstether-io")
        .into_iter()
        .filter(|t| !earlier.contains(t))
        .collect();
    // The Session, on a thread of its own that only polls it.
    let (session_url, session_server) = idle_server();
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let (end_tx, end_rx) = std::sync::mpsc::channel::<Instant>();
    let session_thread = {
        thread::Builder::new()
            .name("bench-session".into())
            .spawn(move || {
                let mut session = clients::session_connect(Kind::Session, &session_url);
                // SAFETY: gettid has no preconditions.
                let _ = tid_tx.send(unsafe { libc::gettid() }.to_string());
                // Waits as long as the session lets it: only its own timers
                // (the heartbeat) wake this thread, until the end it is given.
                let end: Instant = end_rx.recv_timeout(STEP).expect("end");
                while Instant::now() < end {
                    let _ = session.poll(Some(end.saturating_duration_since(Instant::now())));
                }
                let snapshot = session.snapshot();
                clients::session_close(session);
                snapshot
            })
            .expect("session thread")
    };
    let session_tid = tid_rx.recv_timeout(STEP).expect("session connected");
    assert_eq!(io_tids.len(), 1, "one new wstether-io thread");
    let io_before = common::thread_cost(&io_tids[0]);
    let session_before = common::thread_cost(&session_tid);
    // The session's loop ends just after the window, so that its last
    // wake-up falls outside it.
    end_tx
        .send(Instant::now() + window + Duration::from_millis(500))
        .expect("end");
    thread::sleep(window);
    let io_after = common::thread_cost(&io_tids[0]);
    let session_after = common::thread_cost(&session_tid);
    let client_snapshot = client.snapshot();

    let session_snapshot = session_thread.join().expect("session thread");
    client.close();
    server.join().ok();
    session_server.join().ok();
    println!("## Idle: one connected link, {secs} s measured, scaled to a minute (default heartbeat: ping after 20 s of silence)");
    println!();
    println!(
        "| thread | wakeups/min (voluntary + involuntary) | CPU ms/min | state, connects, heartbeat timeouts | goal |"
    );
    println!("|---|---:|---:|---|---|");
    for (name, before, after, snapshot, note) in [
        (
            "Client: wstether-io",
            io_before,
            io_after,
            client_snapshot,
            "≤ 10 wakeups, ≤ 10 ms",
        ),
        (
            "Session: caller's thread, poll(Some(rest of the window)) in a loop",
            session_before,
            session_after,
            session_snapshot,
            "—",
        ),
    ] {
        let wakeups = (after.voluntary + after.involuntary) - (before.voluntary + before.involuntary);
        let cpu_ms = (after.cpu_ns - before.cpu_ns) as f64 / 1e6;
        println!(
            "| {name} | {:.1} ({} + {} in {secs} s) | {:.3} | {:?}, {}, {} | {note} |",
            wakeups as f64 * per_minute,
            after.voluntary - before.voluntary,
            after.involuntary - before.involuntary,
            cpu_ms * per_minute,
            snapshot.state,
            snapshot.counters.connects,
            snapshot.counters.heartbeat_timeouts,
        );
    }
    println!();
}

// ----------------------------------------------------------------- memory

const MEMORY_CLIENTS: usize = 100;

/// Child process: accepts links and holds each on a thread until stdin closes.
fn memory_server() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    println!("{}", listener.local_addr().expect("addr"));
    std::io::stdout().flush().ok();
    thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            thread::spawn(move || {
                if let Ok(mut ws) = tungstenite::accept(tcp) {
                    while ws.read().is_ok() {}
                }
            });
        }
    });
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    std::process::exit(0);
}

/// Child process: opens `MEMORY_CLIENTS` idle links of one kind; prints RSS
/// before and after (KiB) and the average touched I/O-thread stack (KiB).
fn memory_client(kind: &str, url: &str) {
    let deadline = Instant::now() + STEP;
    // Warm what every kind needs once per process.
    let before = common::vm_rss_kib();
    let mut keep: Vec<Box<dyn std::any::Any>> = Vec::new();
    let stacks: Arc<Mutex<Vec<usize>>> = Arc::default();
    let limits = |small: bool| if small { Limits::small() } else { Limits::default() };
    match kind {
        "client-default" | "client-small" => {
            for _ in 0..MEMORY_CLIENTS {
                let stacks = Arc::clone(&stacks);
                let client = ClientBuilder::new(url)
                    .seed(1)
                    .limits(limits(kind == "client-small"))
                    .on_link(move |_| {
                        let marker = 0u8;
                        stacks
                            .lock()
                            .expect("lock")
                            .push(std::hint::black_box(&marker) as *const u8 as usize);
                        Vec::new()
                    })
                    .connect()
                    .expect("client");
                keep.push(Box::new(client));
            }
            for client in &keep {
                let client = client.downcast_ref::<wstether::client::Client>().expect("client");
                while client.state() != State::Connected {
                    assert!(Instant::now() < deadline, "clients did not connect");
                    thread::sleep(Duration::from_millis(2));
                }
            }
        }
        "session-default" | "session-small" => {
            for _ in 0..MEMORY_CLIENTS {
                let mut session = ClientBuilder::new(url)
                    .seed(1)
                    .limits(limits(kind == "session-small"))
                    .session()
                    .expect("session");
                while session.state() != State::Connected {
                    assert!(Instant::now() < deadline, "sessions did not connect");
                    let _ = session.poll(Some(Duration::from_millis(5)));
                }
                keep.push(Box::new(session));
            }
        }
        "io-thread" => {
            // Part of every Client: its I/O thread, with no session.
            for _ in 0..MEMORY_CLIENTS {
                keep.push(Box::new(wstether::client::IoThread::spawn().expect("thread")));
            }
        }
        "shared-small" => {
            // Sessions on one shared I/O thread (a gateway), small limits.
            let io = wstether::client::IoThread::spawn().expect("thread");
            for _ in 0..MEMORY_CLIENTS {
                keep.push(Box::new(
                    io.add(ClientBuilder::new(url).seed(1).limits(Limits::small()))
                        .expect("client"),
                ));
            }
            for client in &keep {
                let client = client.downcast_ref::<wstether::client::Client>().expect("client");
                while client.state() != State::Connected {
                    assert!(Instant::now() < deadline, "clients did not connect");
                    thread::sleep(Duration::from_millis(2));
                }
            }
            keep.push(Box::new(io));
        }
        "raw-thread" => {
            for _ in 0..MEMORY_CLIENTS {
                let mut ws = clients::raw_connect(url);
                ws.get_mut().set_read_timeout(None).ok();
                keep.push(Box::new(thread::spawn(move || while ws.read().is_ok() {})));
            }
        }
        "tokio" => {
            let rt = clients::tokio_runtime();
            for _ in 0..MEMORY_CLIENTS {
                let mut ws = rt.block_on(clients::tokio_connect(url));
                keep.push(Box::new(rt.spawn(async move {
                    use futures_util::StreamExt;
                    while let Some(Ok(_)) = ws.next().await {}
                })));
            }
            keep.push(Box::new(rt));
        }
        other => panic!("unknown memory kind {other}"),
    }
    thread::sleep(Duration::from_millis(300));
    let after = common::vm_rss_kib();
    let addresses = stacks.lock().expect("lock").clone();
    let touched: Vec<u64> = addresses
        .iter()
        .filter_map(|a| common::mapping_rss_kib(*a).map(|(rss, _)| rss))
        .collect();
    let stack = if touched.is_empty() {
        0.0
    } else {
        touched.iter().sum::<u64>() as f64 / touched.len() as f64
    };
    println!("{before} {after} {stack}");
    std::io::stdout().flush().ok();
    std::process::exit(0);
}

fn spawn_role(args: &[&str]) -> std::process::Child {
    Command::new(std::env::current_exe().expect("exe"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("child")
}

/// Starts a server child; its address.
fn server_child(args: &[&str]) -> (std::process::Child, String) {
    let mut server = spawn_role(args);
    let mut line = String::new();
    BufReader::new(server.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("server address");
    (server, line.trim().to_string())
}

fn memory_bench() {
    println!("## Memory: resident memory per idle connected link, {MEMORY_CLIENTS} links in one child process");
    println!();
    println!("| client | VmRSS before | VmRSS after | per link | touched I/O-thread stack (of 256 KiB) | goal |");
    println!("|---|---:|---:|---:|---:|---|");
    for (kind, name, goal) in [
        ("client-default", "wstether Client, default limits", Some(256.0)),
        ("client-small", "wstether Client, Limits::small()", Some(64.0)),
        ("session-default", "wstether Session, default limits", None),
        ("session-small", "wstether Session, Limits::small()", None),
        (
            "shared-small",
            "wstether Client, Limits::small(), all on one IoThread",
            None,
        ),
        ("io-thread", "(part) an idle IoThread, no session", None),
        ("raw-thread", "raw tungstenite, one blocking thread per link", None),
        ("tokio", "tokio-tungstenite, one task per link (2 workers)", None),
    ] {
        let (mut server, addr) = server_child(&["--role", "memory-server"]);
        let url = format!("ws://{addr}/");
        let client = Command::new(std::env::current_exe().expect("exe"))
            .args(["--role", "memory-client", "--kind", kind, "--url", &url])
            .stdout(Stdio::piped())
            .spawn()
            .expect("client child");
        let output = common::wait_bounded(client, STEP);
        drop(server.stdin.take());
        let _ = common::wait_bounded(server, STEP);
        let text = String::from_utf8_lossy(&output);
        let numbers: Vec<f64> = text.split_whitespace().filter_map(|v| v.parse().ok()).collect();
        let [before, after, stack] = numbers[..] else {
            println!("| {name} | — | — | — | — | failed: {text:?} |");
            continue;
        };
        let per = (after - before) / MEMORY_CLIENTS as f64;
        let goal = match goal {
            Some(g) if per <= g => format!("≤ {g} KiB: met"),
            Some(g) => format!("≤ {g} KiB: MISSED"),
            None => "—".into(),
        };
        let stack = if stack > 0.0 {
            format!("{stack:.1} KiB")
        } else {
            "—".into()
        };
        println!("| {name} | {before} KiB | {after} KiB | {per:.1} KiB | {stack} | {goal} |");
    }
    println!();
}

// ------------------------------------------------------------------ stack

/// The I/O thread's touched stack after a connect and traffic both ways.
fn stack_bench() {
    let marker: Arc<Mutex<usize>> = Arc::default();
    let hook_marker = Arc::clone(&marker);
    let (url, server) = servers::receive_server(65536, 200);
    let client = ClientBuilder::new(&url)
        .seed(1)
        .on_link(move |_| {
            let local = 0u8;
            *hook_marker.lock().expect("lock") = std::hint::black_box(&local) as *const u8 as usize;
            Vec::new()
        })
        .connect()
        .expect("client");
    let deadline = Instant::now() + STEP;
    while client.state() != State::Connected {
        assert!(Instant::now() < deadline);
        thread::sleep(Duration::from_millis(1));
    }
    let address = *marker.lock().expect("lock");
    let after_connect = common::mapping_rss_kib(address);
    client.send(Message::text("go")).expect("go");
    for _ in 0..200 {
        client.recv().expect("recv");
    }
    let data = common::payload(65536);
    for _ in 0..200 {
        client.send_timeout(Message::Binary(data.clone()), STEP).expect("send");
    }
    client.wait_drained(STEP);
    let after_traffic = common::mapping_rss_kib(address);
    client.close();
    server.join().ok();
    println!("## The I/O thread's stack (resident pages of its mapping, /proc/self/smaps)");
    println!();
    println!("| when | touched | mapping |");
    println!("|---|---:|---:|");
    for (when, value) in [
        ("after connecting (ws://)", after_connect),
        ("after 200 × 64 KiB received and 200 × 64 KiB sent", after_traffic),
    ] {
        match value {
            Some((rss, size)) => println!("| {when} | {rss} KiB | {size} KiB |"),
            None => println!("| {when} | — | — |"),
        }
    }
    println!();
}

// ---------------------------------------------------------------- profile

/// Child process: one throughput server on an ephemeral port.
fn profile_server(direction: &str, size: usize, count: usize) {
    let (listener, url) = servers::bind();
    println!("{url}");
    std::io::stdout().flush().ok();
    match direction {
        "receive" => {
            let (block, frame) = servers::encoded_block(size, count);
            servers::serve_receive(&listener, &block, frame, count);
        }
        _ => servers::serve_send(&listener, count, |at| {
            let _ = at;
            println!("done");
            std::io::stdout().flush().ok();
        }),
    }
    std::process::exit(0);
}

/// `direction:client:size:count` once, against a server child.
fn profile(spec: &str) {
    let parts: Vec<&str> = spec.split(':').collect();
    let [direction, kind, size, count] = parts[..] else {
        panic!("WSTETHER_BENCH_PROFILE=direction:client:size:count");
    };
    let kind = Kind::from_key(kind).expect("client");
    let size: usize = size.parse().expect("size");
    let count: usize = count.parse().expect("count");
    let mut server = spawn_role(&[
        "--role",
        "profile-server",
        "--direction",
        direction,
        "--size",
        &size.to_string(),
        "--count",
        &count.to_string(),
    ]);
    let mut lines = BufReader::new(server.stdout.take().expect("stdout")).lines();
    let url = lines.next().expect("url").expect("url");
    let seconds = match direction {
        "receive" => clients::receive(kind, &url, count),
        _ => {
            let (tx, rx) = std::sync::mpsc::channel();
            let reader = thread::spawn(move || {
                if let Some(Ok(_)) = lines.next() {
                    let _ = tx.send(Instant::now());
                }
            });
            let data = common::payload(size);
            let s = clients::send(kind, &url, &rx, &data, count);
            reader.join().ok();
            s
        }
    };
    let _ = common::wait_bounded(server, STEP);
    eprintln!("profile {spec}: {:.0} msgs/s", count as f64 / seconds);
}

// ------------------------------------------------------------------- main

fn arg(args: &[String], name: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_default()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match arg(&args, "--role").as_str() {
        "memory-server" => return memory_server(),
        "memory-client" => return memory_client(&arg(&args, "--kind"), &arg(&args, "--url")),
        "profile-server" => {
            return profile_server(
                &arg(&args, "--direction"),
                arg(&args, "--size").parse().expect("size"),
                arg(&args, "--count").parse().expect("count"),
            )
        }
        _ => {}
    }
    if let Ok(spec) = std::env::var("WSTETHER_BENCH_PROFILE") {
        return profile(&spec);
    }
    println!(
        "# wstether throughput benchmark ({} cores)",
        thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();
    let started = Instant::now();
    if wanted("receive") {
        throughput(Direction::Receive);
    }
    if wanted("send") {
        throughput(Direction::Send);
    }
    if wanted("echo") {
        echo_table();
    }
    if wanted("idle") {
        idle_bench();
    }
    if wanted("memory") {
        memory_bench();
    }
    if wanted("stack") {
        stack_bench();
    }
    eprintln!("total {:.0} s", started.elapsed().as_secs_f64());
    let _ = Incoming::Message;
}

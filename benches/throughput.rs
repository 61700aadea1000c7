//! wstether against the libraries it is built on, in the same run, over
//! loopback: receive and send throughput, echo round trip, idle cost and
//! memory per client.
//!
//! `cargo bench --bench throughput`; `WSTETHER_BENCH_IDLE=1` adds the
//! one-minute idle benchmark. Every server is plain blocking tungstenite on a
//! thread (or, for the memory benchmark, in a child process, so that its
//! buffers are not counted). Runs of the compared clients alternate, so
//! noise from the shared machine spreads over all of them; tables quote the
//! median run.
//!
//! Clients compared:
//! - `wstether Client`: the thread client (`recv` / `send_timeout`).
//! - `wstether Session`: the same transport driven from the caller's thread.
//! - `raw tungstenite`: `tungstenite::client` over a blocking `TcpStream`.
//! - `tokio-tungstenite`: `connect_async` on a current-thread runtime (`ct`)
//!   and on a two-worker multi-thread runtime (`mt`, the `#[tokio::main]` shape).
//!
//! All clients set TCP_NODELAY (wstether always does). Baselines use
//! tungstenite's default buffers (128 KiB); wstether its own defaults
//! (16 KiB), as a user would get them.

use core::time::Duration;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Instant;

use futures_util::{SinkExt, StreamExt};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Bytes, Message, WebSocket};
use wstether::client::{Client, ClientBuilder, Incoming, Session};
use wstether::transport::{Connector, Limits, TransportConfig};
use wstether::{Event, State};

/// How long any single step may take before the benchmark gives up on it.
const STEP: Duration = Duration::from_secs(30);

/// The poll timeout of the session send loop: `Session::poll` returns only
/// when it times out, so each call writes at most one queue's worth.
const SESSION_POLL: Duration = Duration::from_millis(1);

// ---------------------------------------------------------------- helpers

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((sorted.len() as f64 * p / 100.0).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn payload(size: usize) -> Bytes {
    Bytes::from((0..size).map(|i| (i % 251) as u8).collect::<Vec<u8>>())
}

fn is_data(message: &Message) -> bool {
    matches!(message, Message::Binary(_) | Message::Text(_))
}

/// A one-connection tungstenite server on a thread; `handler` gets the
/// accepted WebSocket. Gives up if nobody connects within `STEP`.
fn serve_one<T: Send + 'static>(
    handler: impl FnOnce(WebSocket<TcpStream>) -> T + Send + 'static,
) -> (String, JoinHandle<Option<T>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let url = format!("ws://{}/", listener.local_addr().expect("local addr"));
    listener.set_nonblocking(true).expect("nonblocking listener");
    let server = thread::Builder::new().name("bench-server".into());
    let handle = server
        .spawn(move || {
            let deadline = Instant::now() + STEP;
            let tcp = loop {
                match listener.accept() {
                    Ok((tcp, _)) => break tcp,
                    Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(1)),
                    Err(_) => return None,
                }
            };
            tcp.set_nonblocking(false).ok()?;
            tcp.set_nodelay(true).ok()?;
            // Nothing in these benchmarks waits this long; it bounds a stuck run.
            tcp.set_read_timeout(Some(STEP)).ok()?;
            let ws = tungstenite::accept(tcp).ok()?;
            Some(handler(ws))
        })
        .expect("server thread");
    (url, handle)
}

/// Reads until the peer closes (answering its close frame) or errors.
fn read_to_close(ws: &mut WebSocket<TcpStream>) {
    while ws.read().is_ok() {}
}

fn wait_connected(client: &Client) {
    let deadline = Instant::now() + STEP;
    while Instant::now() < deadline {
        if let Ok(event) = client.events().recv_timeout(Duration::from_millis(100)) {
            if matches!(event.event, Event::Connected { .. }) {
                return;
            }
        }
    }
    panic!("wstether client did not connect");
}

fn session_connected(session: &mut Session) {
    let deadline = Instant::now() + STEP;
    while Instant::now() < deadline {
        if let Some(Incoming::Event(event)) = session.poll(Some(Duration::from_millis(100))) {
            if matches!(event.event, Event::Connected { .. }) {
                return;
            }
        }
    }
    panic!("wstether session did not connect");
}

fn session_close(mut session: Session) {
    session.close();
    let deadline = Instant::now() + STEP;
    while !session.is_finished() && Instant::now() < deadline {
        let _ = session.poll(Some(Duration::from_millis(100)));
    }
}

fn raw_connect(url: &str, config: Option<WebSocketConfig>) -> WebSocket<TcpStream> {
    let tcp = TcpStream::connect(url.trim_start_matches("ws://").trim_end_matches('/')).expect("tcp connect");
    tcp.set_nodelay(true).expect("nodelay");
    tcp.set_read_timeout(Some(STEP)).expect("read timeout");
    tungstenite::client::client_with_config(url, tcp, config)
        .expect("handshake")
        .0
}

fn raw_close(mut ws: WebSocket<TcpStream>) {
    let _ = ws.close(None);
    read_to_close(&mut ws);
}

type TokioWs = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn tokio_connect(url: &str) -> TokioWs {
    tokio_tungstenite::connect_async_with_config(url, None, true)
        .await
        .expect("tokio connect")
        .0
}

async fn tokio_close(mut ws: TokioWs) {
    let _ = ws.close(None).await;
    let _ = tokio::time::timeout(STEP, async { while let Some(Ok(_)) = ws.next().await {} }).await;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Client,
    Session,
    Raw,
    TokioCt,
    TokioMt,
    /// wstether's Client with tungstenite's 128 KiB buffers.
    Client128,
    /// Raw tungstenite with wstether's 16 KiB buffers.
    Raw16,
}

impl Kind {
    const ALL: [Kind; 7] = [
        Kind::Client,
        Kind::Session,
        Kind::Raw,
        Kind::TokioCt,
        Kind::TokioMt,
        Kind::Client128,
        Kind::Raw16,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Client => "wstether Client",
            Kind::Session => "wstether Session",
            Kind::Raw => "raw tungstenite",
            Kind::TokioCt => "tokio-tungstenite ct",
            Kind::TokioMt => "tokio-tungstenite mt",
            Kind::Client128 => "wstether Client, 128 KiB buffers",
            Kind::Raw16 => "raw tungstenite, 16 KiB buffers",
        }
    }

    /// `WSTETHER_BENCH_CLIENTS=client,raw` runs only those (for profiling).
    fn wanted(self) -> bool {
        let only = std::env::var("WSTETHER_BENCH_CLIENTS").unwrap_or_default();
        let key = match self {
            Kind::Client => "client",
            Kind::Session => "session",
            Kind::Raw => "raw",
            Kind::TokioCt => "tokio-ct",
            Kind::TokioMt => "tokio-mt",
            Kind::Client128 => "client128",
            Kind::Raw16 => "raw16",
        };
        only.is_empty() || only.split(',').any(|o| o == key)
    }

    fn builder(self, url: &str) -> ClientBuilder {
        let builder = ClientBuilder::new(url).seed(1);
        if self == Kind::Client128 {
            builder.limits(Limits {
                read_buffer_size: 128 << 10,
                write_buffer_size: 128 << 10,
                ..Limits::default()
            })
        } else {
            builder
        }
    }

    fn raw(self, url: &str) -> WebSocket<TcpStream> {
        let config = (self == Kind::Raw16).then(|| {
            WebSocketConfig::default()
                .read_buffer_size(16 << 10)
                .write_buffer_size(16 << 10)
        });
        raw_connect(url, config)
    }

    fn runtime(self) -> Option<tokio::runtime::Runtime> {
        match self {
            Kind::TokioCt => Some(
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("rt"),
            ),
            Kind::TokioMt => Some(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("rt"),
            ),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------- receive

/// The server waits for one message ("go"), streams `count` messages of
/// `size` bytes, then reads until the client closes. Returns the seconds from
/// "go" sent to the last message received.
fn receive_run(kind: Kind, size: usize, count: usize) -> f64 {
    let data = payload(size);
    let (url, server) = serve_one(move |mut ws| {
        while let Ok(message) = ws.read() {
            if is_data(&message) {
                break;
            }
        }
        for _ in 0..count {
            if ws.write(Message::Binary(data.clone())).is_err() {
                return;
            }
        }
        let _ = ws.flush();
        read_to_close(&mut ws);
    });
    let go = || Message::text("go");
    let elapsed = match kind {
        Kind::Client | Kind::Client128 => {
            let client = kind.builder(&url).connect().expect("client");
            wait_connected(&client);
            let start = Instant::now();
            client.send(go()).expect("queue go");
            let mut got = 0;
            while got < count {
                match client.recv_timeout(STEP) {
                    Ok(Some(message)) => got += usize::from(is_data(&message)),
                    _ => panic!("wstether client stalled at {got}/{count}"),
                }
            }
            let elapsed = start.elapsed();
            client.close();
            elapsed
        }
        Kind::Session => {
            let mut session = ClientBuilder::new(&url).seed(1).session().expect("session");
            session_connected(&mut session);
            let start = Instant::now();
            session.send(go()).expect("queue go");
            let mut got = 0;
            let deadline = start + STEP;
            while got < count && Instant::now() < deadline {
                if let Some(Incoming::Message(message)) = session.poll(Some(STEP)) {
                    got += usize::from(is_data(&message));
                }
            }
            assert_eq!(got, count, "wstether session stalled");
            let elapsed = start.elapsed();
            session_close(session);
            elapsed
        }
        Kind::Raw | Kind::Raw16 => {
            let mut ws = kind.raw(&url);
            let start = Instant::now();
            ws.send(go()).expect("send go");
            let mut got = 0;
            while got < count {
                got += usize::from(is_data(&ws.read().expect("raw read")));
            }
            let elapsed = start.elapsed();
            raw_close(ws);
            elapsed
        }
        Kind::TokioCt | Kind::TokioMt => kind.runtime().expect("runtime").block_on(async {
            let mut ws = tokio_connect(&url).await;
            let start = Instant::now();
            ws.send(go()).await.expect("send go");
            let mut got = 0;
            while got < count {
                let message = ws.next().await.expect("open").expect("tokio read");
                got += usize::from(is_data(&message));
            }
            let elapsed = start.elapsed();
            tokio_close(ws).await;
            elapsed
        }),
    };
    server.join().expect("server thread");
    elapsed.as_secs_f64()
}

// ---------------------------------------------------------------- send

/// The client sends `count` messages of `size` bytes; the server notes when
/// it has read the last one. Returns the seconds from the first send to then.
fn send_run(kind: Kind, size: usize, count: usize) -> f64 {
    let (done_tx, done_rx) = mpsc::channel::<Instant>();
    let (url, server) = serve_one(move |mut ws| {
        let mut got = 0;
        while got < count {
            match ws.read() {
                Ok(message) => got += usize::from(is_data(&message)),
                Err(_) => return,
            }
        }
        let _ = done_tx.send(Instant::now());
        read_to_close(&mut ws);
    });
    let data = payload(size);
    let message = || Message::Binary(data.clone());
    let wait_done = || done_rx.recv_timeout(STEP).expect("server received everything");
    let elapsed = match kind {
        Kind::Client | Kind::Client128 => {
            let client = kind.builder(&url).connect().expect("client");
            wait_connected(&client);
            let start = Instant::now();
            for _ in 0..count {
                client.send_timeout(message(), STEP).expect("queued");
            }
            let done = wait_done();
            client.close();
            done - start
        }
        Kind::Session => {
            // Queue up to the queue capacity, then poll to write, as a
            // caller's own loop would. Not `poll(Some(Duration::ZERO))`: a
            // zero timeout never polls the socket's readiness, so once a write
            // would block the session never writes again (see BENCHMARKS).
            let mut session = ClientBuilder::new(&url).seed(1).session().expect("session");
            session_connected(&mut session);
            let start = Instant::now();
            let mut sent = 0;
            while sent < count && start.elapsed() < STEP {
                while sent < count && session.send(message()).is_ok() {
                    sent += 1;
                }
                let _ = session.poll(Some(SESSION_POLL));
            }
            let done = loop {
                if let Ok(done) = done_rx.try_recv() {
                    break done;
                }
                assert!(start.elapsed() < STEP, "wstether session stalled");
                let _ = session.poll(Some(SESSION_POLL));
            };
            session_close(session);
            done - start
        }
        Kind::Raw | Kind::Raw16 => {
            let mut ws = kind.raw(&url);
            let start = Instant::now();
            for _ in 0..count {
                ws.write(message()).expect("raw write");
            }
            ws.flush().expect("raw flush");
            let done = wait_done();
            raw_close(ws);
            done - start
        }
        Kind::TokioCt | Kind::TokioMt => kind.runtime().expect("runtime").block_on(async {
            let mut ws = tokio_connect(&url).await;
            let start = Instant::now();
            for _ in 0..count {
                ws.feed(message()).await.expect("tokio feed");
            }
            ws.flush().await.expect("tokio flush");
            // Everything is flushed: blocking the runtime here delays nothing.
            let done = wait_done();
            tokio_close(ws).await;
            done - start
        }),
    };
    server.join().expect("server thread");
    elapsed.as_secs_f64()
}

// ---------------------------------------------------------------- echo

/// Round trips of one 64-byte message through an echo server: `warmup`
/// discarded, then `count` measured, in microseconds.
fn echo_run(kind: Kind, warmup: usize, count: usize) -> Vec<f64> {
    let (url, server) = serve_one(|mut ws| {
        while let Ok(message) = ws.read() {
            if is_data(&message) && ws.send(message).is_err() {
                break;
            }
        }
    });
    let data = payload(64);
    let message = || Message::Binary(data.clone());
    let mut rtts = Vec::with_capacity(count);
    match kind {
        Kind::Client | Kind::Client128 => {
            let client = kind.builder(&url).connect().expect("client");
            wait_connected(&client);
            for i in 0..warmup + count {
                let start = Instant::now();
                client.send(message()).expect("queued");
                loop {
                    match client.recv_timeout(STEP) {
                        Ok(Some(reply)) if is_data(&reply) => break,
                        Ok(Some(_)) => {}
                        _ => panic!("no echo"),
                    }
                }
                if i >= warmup {
                    rtts.push(start.elapsed().as_secs_f64() * 1e6);
                }
            }
            client.close();
        }
        Kind::Session => {
            let mut session = ClientBuilder::new(&url).seed(1).session().expect("session");
            session_connected(&mut session);
            for i in 0..warmup + count {
                let start = Instant::now();
                session.send(message()).expect("queued");
                loop {
                    match session.poll(Some(STEP)) {
                        Some(Incoming::Message(reply)) if is_data(&reply) => break,
                        Some(_) => {}
                        None => panic!("no echo"),
                    }
                }
                if i >= warmup {
                    rtts.push(start.elapsed().as_secs_f64() * 1e6);
                }
            }
            session_close(session);
        }
        Kind::Raw | Kind::Raw16 => {
            let mut ws = kind.raw(&url);
            for i in 0..warmup + count {
                let start = Instant::now();
                ws.send(message()).expect("raw send");
                while !is_data(&ws.read().expect("raw read")) {}
                if i >= warmup {
                    rtts.push(start.elapsed().as_secs_f64() * 1e6);
                }
            }
            raw_close(ws);
        }
        Kind::TokioCt | Kind::TokioMt => {
            kind.runtime().expect("runtime").block_on(async {
                let mut ws = tokio_connect(&url).await;
                for i in 0..warmup + count {
                    let start = Instant::now();
                    ws.send(message()).await.expect("tokio send");
                    while !is_data(&ws.next().await.expect("open").expect("tokio read")) {}
                    if i >= warmup {
                        rtts.push(start.elapsed().as_secs_f64() * 1e6);
                    }
                }
                tokio_close(ws).await;
            });
        }
    }
    server.join().expect("server thread");
    rtts
}

// ---------------------------------------------------------------- idle

/// CPU nanoseconds and context switches of one thread of this process.
#[derive(Clone, Copy, Debug, Default)]
struct ThreadCost {
    cpu_ns: u64,
    voluntary: u64,
    involuntary: u64,
}

fn thread_cost(tid: &str) -> ThreadCost {
    let base = format!("/proc/self/task/{tid}");
    let schedstat = std::fs::read_to_string(format!("{base}/schedstat")).unwrap_or_default();
    let status = std::fs::read_to_string(format!("{base}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    ThreadCost {
        cpu_ns: schedstat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        voluntary: field("voluntary_ctxt_switches:"),
        involuntary: field("nonvoluntary_ctxt_switches:"),
    }
}

/// The thread ids of this process's threads named `name`.
fn threads_named(name: &str) -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(|entry| {
            let tid = entry.ok()?.file_name().into_string().ok()?;
            let comm = std::fs::read_to_string(format!("/proc/self/task/{tid}/comm")).ok()?;
            (comm.trim() == name).then_some(tid)
        })
        .collect()
}

/// utime + stime of the whole process, in milliseconds.
fn process_cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<u64> = rest.split_whitespace().filter_map(|f| f.parse().ok()).collect();
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    // USER_HZ is 100 on every Linux this runs on.
    ticks as f64 * 10.0
}

fn idle_bench() {
    const IDLE: Duration = Duration::from_secs(60);
    const PROBES: usize = 100;
    // Servers that note when each numbered probe arrives.
    let recording_server = || {
        let (arrivals_tx, arrivals_rx) = mpsc::channel::<(u64, Instant)>();
        let (url, server) = serve_one(move |mut ws| {
            // Blocking reads: the server thread sleeps and answers pings.
            ws.get_mut().set_read_timeout(Some(IDLE + STEP)).ok();
            while let Ok(message) = ws.read() {
                if let Message::Binary(data) = message {
                    let index = u64::from_le_bytes(data[..8].try_into().expect("8 bytes"));
                    let _ = arrivals_tx.send((index, Instant::now()));
                }
            }
        });
        (url, server, arrivals_rx)
    };
    let (url, server, arrivals_rx) = recording_server();
    let (raw_url, raw_server, raw_arrivals_rx) = recording_server();
    let mut raw = raw_connect(&raw_url, None);
    let client = ClientBuilder::new(&url).seed(1).connect().expect("client");
    wait_connected(&client);
    let tids = threads_named("wstether-io");
    assert_eq!(tids.len(), 1, "exactly one wstether-io thread");
    let tid = &tids[0];
    let before = thread_cost(tid);
    let cpu_before = process_cpu_ms();
    thread::sleep(IDLE);
    let after = thread_cost(tid);
    let cpu_after = process_cpu_ms();
    let pings = client.snapshot();

    // Probes alternate with probes on a raw tungstenite link that was idle
    // just as long, so both see the same machine.
    let mut sent = Vec::with_capacity(PROBES);
    let mut raw_sent = Vec::with_capacity(PROBES);
    let probe = |i: u64| {
        let mut data = i.to_le_bytes().to_vec();
        data.resize(64, 0);
        Message::Binary(data.into())
    };
    for i in 0..PROBES as u64 {
        thread::sleep(Duration::from_millis(50));
        sent.push(Instant::now());
        client.send(probe(i)).expect("queued");
        thread::sleep(Duration::from_millis(50));
        raw_sent.push(Instant::now());
        raw.send(probe(i)).expect("raw send");
    }
    let collect = |rx: &mpsc::Receiver<(u64, Instant)>, sent: &[Instant]| {
        let mut latencies: Vec<f64> = (0..PROBES)
            .map(|_| {
                let (index, at) = rx.recv_timeout(STEP).expect("probe arrived");
                (at - sent[index as usize]).as_secs_f64() * 1e6
            })
            .collect();
        latencies.sort_by(f64::total_cmp);
        latencies
    };
    let latencies = collect(&arrivals_rx, &sent);
    let raw_latencies = collect(&raw_arrivals_rx, &raw_sent);
    client.close();
    raw_close(raw);
    server.join().expect("server thread");
    raw_server.join().expect("raw server thread");

    let wakeups = (after.voluntary + after.involuntary) - (before.voluntary + before.involuntary);
    let io_cpu_ms = (after.cpu_ns - before.cpu_ns) as f64 / 1e6;
    println!("## Idle: one connected client, 60 s, ping interval 20 s (defaults)");
    println!();
    println!("| measure | value | goal |");
    println!("|---|---:|---|");
    println!(
        "| wstether-io wakeups (voluntary + involuntary context switches) | {wakeups} ({} + {}) | ≤ 10/min: {} |",
        after.voluntary - before.voluntary,
        after.involuntary - before.involuntary,
        if wakeups <= 10 { "met" } else { "MISSED" }
    );
    println!(
        "| wstether-io CPU time (schedstat) | {io_cpu_ms:.3} ms | ≤ 10 ms/min: {} |",
        if io_cpu_ms <= 10.0 { "met" } else { "MISSED" }
    );
    println!(
        "| whole process CPU (utime + stime, 10 ms ticks; includes the server thread) | {:.0} ms | — |",
        cpu_after - cpu_before
    );
    println!(
        "| link state after the idle minute | {:?}, {} connects, {} heartbeat timeouts | — |",
        pings.state, pings.stats.connects, pings.stats.heartbeat_timeouts
    );
    let p99 = percentile(&latencies, 99.0);
    println!(
        "| wstether: send → server read, {PROBES} messages 100 ms apart: p50 / p99 / max | {:.0} / {:.0} / {:.0} µs | p99 ≤ 1 ms: {} |",
        percentile(&latencies, 50.0),
        p99,
        latencies[latencies.len() - 1],
        if p99 <= 1_000.0 { "met" } else { "MISSED" }
    );
    println!(
        "| raw tungstenite, same pattern, interleaved: p50 / p99 / max | {:.0} / {:.0} / {:.0} µs | — |",
        percentile(&raw_latencies, 50.0),
        percentile(&raw_latencies, 99.0),
        raw_latencies[raw_latencies.len() - 1]
    );
    println!();
}

// ---------------------------------------------------------------- memory

const MEMORY_CLIENTS: usize = 100;

fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Resident KiB in 2 MiB mappings: Rust's thread stacks (the default
/// stack size), to split a thread client's memory into stack and heap.
fn stack_rss_kib() -> u64 {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
    let mut total = 0;
    let mut size = 0;
    for line in smaps.lines() {
        let value = |l: &str| {
            l.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        if line.starts_with("Size:") {
            size = value(line);
        } else if line.starts_with("Rss:") && size == 2048 {
            total += value(line);
        }
    }
    total
}

/// Child process: accepts connections and reads each on its own thread
/// until the parent closes our stdin.
fn memory_server() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    println!("{}", listener.local_addr().expect("addr"));
    std::io::stdout().flush().ok();
    thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            thread::spawn(move || {
                if let Ok(mut ws) = tungstenite::accept(tcp) {
                    read_to_close(&mut ws);
                }
            });
        }
    });
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    std::process::exit(0);
}

/// Child process: opens `MEMORY_CLIENTS` idle links of one kind and prints
/// the resident memory they added, in KiB.
fn memory_client(kind: &str, url: &str) {
    let deadline = Instant::now() + STEP;
    let before = vm_rss_kib();
    let stacks_before = stack_rss_kib();
    let mut keep: Vec<Box<dyn core::any::Any>> = Vec::new();
    match kind {
        "default" | "small" | "small-queues" => {
            for _ in 0..MEMORY_CLIENTS {
                let mut builder = ClientBuilder::new(url).seed(1);
                if kind != "default" {
                    builder = builder.limits(Limits::small());
                }
                if kind == "small-queues" {
                    builder = builder.queue_capacity(64).inbound_capacity(64).event_capacity(16);
                }
                keep.push(Box::new(builder.connect().expect("client")));
            }
            for client in &keep {
                let client = client.downcast_ref::<Client>().expect("a client");
                while client.state() != State::Connected {
                    assert!(Instant::now() < deadline, "clients did not connect");
                    thread::sleep(Duration::from_millis(5));
                }
            }
        }
        "session-small" => {
            // A client without its thread and channels: what the link itself costs.
            for _ in 0..MEMORY_CLIENTS {
                let mut session = ClientBuilder::new(url)
                    .seed(1)
                    .limits(Limits::small())
                    .queue_capacity(64)
                    .session()
                    .expect("session");
                session_connected(&mut session);
                keep.push(Box::new(session));
            }
        }
        "connector" => {
            // Part of every client: the transport's setup (TLS config included).
            for _ in 0..MEMORY_CLIENTS {
                let connector = Connector::new(TransportConfig::default()).expect("connector");
                keep.push(Box::new(connector));
            }
        }
        "parked-thread" => {
            // Part of every client: one thread, parked.
            let (stop_tx, stop_rx) = mpsc::channel::<()>();
            let stop_rx = std::sync::Arc::new(std::sync::Mutex::new(stop_rx));
            for _ in 0..MEMORY_CLIENTS {
                let stop_rx = std::sync::Arc::clone(&stop_rx);
                keep.push(Box::new(thread::spawn(move || {
                    let _ = stop_rx.lock().map(|rx| rx.recv());
                })));
            }
            keep.push(Box::new(stop_tx));
        }
        "raw-thread" => {
            // The plain-thread baseline: one blocking tungstenite link per
            // thread, reading (so it would answer pings) — what a user would
            // write without wstether.
            for _ in 0..MEMORY_CLIENTS {
                let mut ws = raw_connect(url, None);
                ws.get_mut().set_read_timeout(None).ok();
                keep.push(Box::new(thread::spawn(move || read_to_close(&mut ws))));
            }
        }
        "tokio" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("rt");
            for _ in 0..MEMORY_CLIENTS {
                let mut ws = rt.block_on(tokio_connect(url));
                keep.push(Box::new(
                    rt.spawn(async move { while let Some(Ok(_)) = ws.next().await {} }),
                ));
            }
            // Let each task reach its first read.
            rt.block_on(async { tokio::time::sleep(Duration::from_millis(50)).await });
            keep.push(Box::new(rt));
        }
        other => panic!("unknown memory kind {other}"),
    }
    thread::sleep(Duration::from_millis(300));
    let after = vm_rss_kib();
    let stacks = stack_rss_kib().saturating_sub(stacks_before);
    println!("{before} {after} {stacks}");
    std::io::stdout().flush().ok();
    // No clean close: the process ends, the kernel closes the sockets.
    std::process::exit(0);
}

/// Runs the memory child for `kind` against a fresh server child; returns
/// (RSS before, RSS after, thread stacks' RSS added) in KiB.
fn memory_run(kind: &str) -> (u64, u64, u64) {
    let exe = std::env::current_exe().expect("current exe");
    let mut server = Command::new(&exe)
        .args(["--role", "memory-server"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("server child");
    let mut line = String::new();
    BufReader::new(server.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("server address");
    let url = format!("ws://{}/", line.trim());
    let client = Command::new(&exe)
        .args(["--role", "memory-client", "--kind", kind, "--url", &url])
        .stdout(Stdio::piped())
        .spawn()
        .expect("client child");
    let output = wait_bounded(client);
    drop(server.stdin.take());
    let _ = wait_bounded(server);
    let text = String::from_utf8_lossy(&output);
    let mut numbers = text.split_whitespace().filter_map(|v| v.parse::<u64>().ok());
    let mut next = || numbers.next().unwrap_or(0);
    (next(), next(), next())
}

/// Waits for a child for at most `STEP`, killing it past that; its stdout.
fn wait_bounded(mut child: Child) -> Vec<u8> {
    let deadline = Instant::now() + STEP;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
        }
    }
    let mut out = Vec::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_end(&mut out);
    }
    out
}

fn memory_bench() {
    println!("## Memory: resident memory per idle connected link, {MEMORY_CLIENTS} links in one process");
    println!();
    println!(
        "size_of::<wstether::transport::Link>() = {} bytes, size_of::<Message>() = {} bytes, size_of::<Incoming>() = {} bytes",
        core::mem::size_of::<wstether::transport::Link>(),
        core::mem::size_of::<Message>(),
        core::mem::size_of::<Incoming>()
    );
    println!();
    println!("| client | VmRSS before | VmRSS after | per link | of which thread stack | goal |");
    println!("|---|---:|---:|---:|---:|---|");
    for (kind, name, goal) in [
        ("default", "wstether Client, default limits", Some(256)),
        ("small", "wstether Client, Limits::small()", Some(64)),
        (
            "small-queues",
            "wstether Client, Limits::small(), queues 64 / inbound 64 / events 16",
            None,
        ),
        (
            "session-small",
            "(part) wstether Session (no thread, no channels), Limits::small(), queue 64",
            None,
        ),
        (
            "connector",
            "(part) wstether::transport::Connector::new(default), no link",
            None,
        ),
        ("parked-thread", "(part) one parked std thread, no link", None),
        ("raw-thread", "raw tungstenite, one blocking thread per link", None),
        ("tokio", "tokio-tungstenite, one task per link (current-thread)", None),
    ] {
        let (before, after, stacks) = memory_run(kind);
        let stack = stacks as f64 / MEMORY_CLIENTS as f64;
        let per = after.saturating_sub(before) as f64 / MEMORY_CLIENTS as f64;
        let goal = match goal {
            Some(goal) if per <= goal as f64 => format!("≤ {goal} KiB: met"),
            Some(goal) => format!("≤ {goal} KiB: MISSED"),
            None => "—".to_string(),
        };
        println!("| {name} | {before} KiB | {after} KiB | {per:.1} KiB | {stack:.1} KiB | {goal} |");
    }
    println!();
}

// ---------------------------------------------------------------- main

fn rate_table(title: &str, run: fn(Kind, usize, usize) -> f64, sizes: &[(usize, usize)], repeats: usize) {
    println!("## {title}");
    println!();
    let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
    println!(
        "| size | messages | {} | Client/raw | Client/tokio ct | Client/tokio mt | Session/raw | Client/raw 16 KiB | Client 128 KiB/raw |",
        names.join(" | ")
    );
    println!(
        "|---|---:|{}---:|---:|---:|---:|---:|---:|",
        "---:|".repeat(names.len())
    );
    for &(size, count) in sizes {
        let mut rates: Vec<Vec<f64>> = vec![Vec::new(); Kind::ALL.len()];
        for _ in 0..repeats {
            for (i, kind) in Kind::ALL.into_iter().enumerate() {
                rates[i].push(if kind.wanted() {
                    count as f64 / run(kind, size, count)
                } else {
                    f64::NAN
                });
            }
        }
        let m: Vec<f64> = rates.iter_mut().map(|r| median(r)).collect();
        let label = if size >= 1024 {
            format!("{} KiB", size / 1024)
        } else {
            format!("{size} B")
        };
        let cells: Vec<String> = m.iter().map(|r| format!("{r:.0}")).collect();
        let [client, session, raw, tokio_ct, tokio_mt, client128, raw16] = m[..] else {
            unreachable!("one median per kind")
        };
        println!(
            "| {label} | {count} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            cells.join(" | "),
            client / raw,
            client / tokio_ct,
            client / tokio_mt,
            session / raw,
            client / raw16,
            client128 / raw
        );
    }
    println!();
    println!("msgs/s, median of {repeats} alternating runs per client.");
    println!();
}

fn echo_table() {
    const WARMUP: usize = 200;
    const COUNT: usize = 3_000;
    const REPEATS: usize = 3;
    // Buffer sizes do not matter for one 64-byte message.
    const ECHO_KINDS: [Kind; 5] = [Kind::Client, Kind::Session, Kind::Raw, Kind::TokioCt, Kind::TokioMt];
    println!("## Echo round trip, 64 B");
    println!();
    println!("| client | p50 µs | p99 µs | p50 overhead vs raw |");
    println!("|---|---:|---:|---:|");
    let mut all: Vec<Vec<f64>> = vec![Vec::new(); ECHO_KINDS.len()];
    for _ in 0..REPEATS {
        for (i, kind) in ECHO_KINDS.into_iter().enumerate() {
            all[i].extend(echo_run(kind, WARMUP, COUNT));
        }
    }
    for rtts in &mut all {
        rtts.sort_by(f64::total_cmp);
    }
    let raw_p50 = percentile(&all[2], 50.0);
    for (i, kind) in ECHO_KINDS.into_iter().enumerate() {
        let p50 = percentile(&all[i], 50.0);
        println!(
            "| {} | {:.1} | {:.1} | {:+.1} µs |",
            kind.name(),
            p50,
            percentile(&all[i], 99.0),
            p50 - raw_p50
        );
    }
    println!();
    println!("{REPEATS} alternating runs × {COUNT} round trips per client (after {WARMUP} warm-up), pooled.");
    println!();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    match arg("--role").as_deref() {
        Some("memory-server") => return memory_server(),
        Some("memory-client") => return memory_client(&arg("--kind").expect("--kind"), &arg("--url").expect("--url")),
        _ => {}
    }
    let only = std::env::var("WSTETHER_BENCH_ONLY").unwrap_or_default();
    let wanted = |name: &str| only.is_empty() || only.split(',').any(|o| o == name);
    let started = Instant::now();
    println!("# wstether throughput benchmarks (loopback)");
    println!();
    if wanted("receive") {
        rate_table(
            "Receive throughput (server streams, client reads)",
            receive_run,
            &[(64, 100_000), (1024, 50_000), (64 * 1024, 2_000)],
            5,
        );
    }
    if wanted("send") {
        rate_table(
            "Send throughput (client sends, until the server has read all)",
            send_run,
            &[(64, 100_000), (1024, 50_000), (64 * 1024, 2_000)],
            5,
        );
    }
    if wanted("echo") {
        echo_table();
    }
    if wanted("memory") {
        memory_bench();
    }
    if std::env::var_os("WSTETHER_BENCH_IDLE").is_some() {
        idle_bench();
    } else {
        println!("(idle benchmark skipped: it takes 70 s; run with WSTETHER_BENCH_IDLE=1)");
    }
    println!("total {:.1} s", started.elapsed().as_secs_f64());
}

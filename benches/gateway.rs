//! A gateway: 200 links (plain `ws://`, `Limits::small()`) on one
//! `IoThread`. Measures resident memory per link, the threads in the
//! process, and how long all 200 take to come back after the server
//! restarts on the same port.
//!
//! `cargo bench --bench gateway` (~15 s). `WSTETHER_GATEWAY_LINKS` (200),
//! `WSTETHER_GATEWAY_RESTARTS` (3). The server is a child process (one
//! blocking tungstenite thread per link), so its memory is not counted;
//! "restart" is: the child exits (the kernel closes every link), every link
//! sees the drop, a new child binds the same port; timed from the new
//! child's listening socket to the last link open again. Each restart
//! starts from fresh links (a link that dropped moments before still counts
//! its attempts and backs off longer).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use wstether::client::{Client, ClientBuilder, IoThread};
use wstether::transport::Limits;
use wstether::State;

const STEP: Duration = Duration::from_secs(30);

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Child process: binds `port` (0: any), prints it, holds every link on a
/// thread until stdin closes, then exits at once.
fn server(port: u16) {
    let listener = loop {
        match TcpListener::bind(("127.0.0.1", port)) {
            Ok(l) => break l,
            // The old child's sockets may linger for a moment.
            Err(_) => thread::sleep(Duration::from_millis(1)),
        }
    };
    println!("{}", listener.local_addr().expect("addr").port());
    std::io::stdout().flush().ok();
    thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            thread::Builder::new()
                .stack_size(64 << 10)
                .spawn(move || {
                    if let Ok(mut ws) = tungstenite::accept(tcp) {
                        while ws.read().is_ok() {}
                    }
                })
                .ok();
        }
    });
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    std::process::exit(0);
}

fn start_server(port: u16) -> (Child, u16) {
    let mut child = Command::new(std::env::current_exe().expect("exe"))
        .args(["--role", "server", "--port", &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("server child");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("port");
    (child, line.trim().parse().expect("port"))
}

fn stop_server(mut child: Child) {
    drop(child.stdin.take());
    let _ = child.wait();
}

/// Waits until every client is in `state`; the instant each got there.
fn wait_all(clients: &[Client], state: State, limit: Duration) -> Option<Vec<Instant>> {
    let deadline = Instant::now() + limit;
    let mut at: Vec<Option<Instant>> = vec![None; clients.len()];
    loop {
        let now = Instant::now();
        for (i, client) in clients.iter().enumerate() {
            if at[i].is_none() && client.state() == state {
                at[i] = Some(now);
            }
        }
        if at.iter().all(Option::is_some) {
            return Some(at.into_iter().flatten().collect());
        }
        if now > deadline {
            return None;
        }
        thread::sleep(Duration::from_micros(500));
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((sorted.len() as f64 * p / 100.0).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--role") {
        if args.get(i + 1).map(String::as_str) == Some("server") {
            let port = args
                .iter()
                .position(|a| a == "--port")
                .and_then(|i| args.get(i + 1))
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            return server(port);
        }
    }
    let links = env_usize("WSTETHER_GATEWAY_LINKS", 200);
    let restarts = env_usize("WSTETHER_GATEWAY_RESTARTS", 3);
    let (mut child, port) = start_server(0);
    let url = format!("ws://127.0.0.1:{port}/");

    let threads_before = status_kib("Threads:");
    let rss_before = status_kib("VmRSS:");
    let io = IoThread::spawn().expect("io thread");
    let rss_thread = status_kib("VmRSS:");
    let started = Instant::now();
    let clients: Vec<Client> = (0..links)
        .map(|i| {
            io.add(ClientBuilder::new(&url).seed(i as u64).limits(Limits::small()))
                .expect("client")
        })
        .collect();
    wait_all(&clients, State::Connected, STEP).expect("all connected");
    let connect_all = started.elapsed();
    thread::sleep(Duration::from_millis(300));
    let rss_after = status_kib("VmRSS:");
    let threads = status_kib("Threads:");
    let per_link = (rss_after - rss_thread) as f64 / links as f64;
    let per_link_all = (rss_after - rss_before) as f64 / links as f64;

    println!("# Gateway: {links} links on one IoThread, ws://, Limits::small()");
    println!();
    println!("| measure | value | goal |");
    println!("|---|---:|---|");
    println!(
        "| RSS per link (after all connected − after IoThread::spawn) | {per_link:.1} KiB ({rss_thread} → {rss_after} KiB) | ≤ 24 KiB: {} |",
        if per_link <= 24.0 { "met" } else { "MISSED" }
    );
    println!("| RSS per link, the I/O thread included | {per_link_all:.1} KiB ({rss_before} → {rss_after} KiB) | — |");
    println!("| threads in the process (/proc/self/status) | {threads} (before the IoThread: {threads_before}) | — |");
    println!(
        "| first connect of all {links} | {:.0} ms | — |",
        connect_all.as_secs_f64() * 1e3
    );

    let mut rows = Vec::new();
    let mut clients = clients;
    let mut io = io;
    for round in 0..restarts {
        if round > 0 {
            // Fresh links each round: a link that dropped moments ago keeps
            // its attempt count until it has been stable, and would back off
            // longer.
            drop(clients);
            drop(io);
            io = IoThread::spawn().expect("io thread");
            clients = (0..links)
                .map(|i| {
                    io.add(
                        ClientBuilder::new(&url)
                            .seed((round * links + i) as u64)
                            .limits(Limits::small()),
                    )
                    .expect("client")
                })
                .collect();
            wait_all(&clients, State::Connected, STEP).expect("all connected");
        }
        let stopped = Instant::now();
        stop_server(child);
        let dropped = wait_all(&clients, State::Backoff, STEP);
        let seen = stopped.elapsed();
        let (new_child, new_port) = start_server(port);
        assert_eq!(new_port, port);
        let restarted = Instant::now();
        child = new_child;
        let back = wait_all(&clients, State::Connected, STEP);
        let Some(back) = back else {
            rows.push(format!(
                "| {} | — | not all back within {} s |",
                round + 1,
                STEP.as_secs()
            ));
            continue;
        };
        let mut times: Vec<f64> = back
            .iter()
            .map(|t| t.saturating_duration_since(restarted).as_secs_f64() * 1e3)
            .collect();
        times.sort_by(f64::total_cmp);
        rows.push(format!(
            "| {} | {} | {:.0} ms | {:.0} / {:.0} / {:.0} ms |",
            round + 1,
            match dropped {
                Some(_) => format!("{:.1} ms", seen.as_secs_f64() * 1e3),
                None => "not all".into(),
            },
            times[times.len() - 1],
            percentile(&times, 50.0),
            percentile(&times, 90.0),
            percentile(&times, 99.0),
        ));
    }
    println!();
    println!("## Server restart on the same port (default backoff: first retry U(0, 1.5 s))");
    println!();
    println!(
        "| restart | all links saw the drop after | all {links} back after the restart | per link p50 / p90 / p99 |"
    );
    println!("|---|---:|---:|---|");
    for row in rows {
        println!("{row}");
    }
    println!();
    println!("Each restart starts from {links} fresh links, connected and idle.");
    drop(clients);
    drop(io);
    stop_server(child);
}

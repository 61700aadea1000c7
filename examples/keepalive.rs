//! `keepalive`: keep one WebSocket alive from the command line.
//!
//! With no URL it starts a small local server that streams messages and now
//! and then drops the link or restarts, and runs the client against it for
//! about 20 seconds, so the reconnect loop can be watched at once:
//!
//! ```text
//! cargo run --example keepalive
//! ```
//!
//! With a URL it keeps that socket alive; received messages go to stdout, one
//! per line (binary as hex), and nothing else does:
//!
//! ```text
//! cargo run --example keepalive -- [OPTIONS] URL
//! ```
//!
//! Exit codes: 0 clean end, 2 gave up at the attempt limit, 3 rejected
//! permanently (HTTP 401/403, bad certificate, …), 1 usage or other error.

use std::io::{BufRead, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::Message;
use wstether::client::{Client, ClientBuilder, ClientEvent};
use wstether::transport::{Limits, TlsConfig};
use wstether::{BackoffConfig, Cause, Event, FailureClass, HeartbeatConfig, Jitter};

const USAGE: &str = "\
usage: keepalive [OPTIONS] [URL]

Keeps one WebSocket alive. Without URL, runs a local demo server for ~20 s.

  --subscribe TEXT        sent after every connect, before queued messages (repeatable)
  --stdin                 send each stdin line; at EOF deliver the queue, close, exit
  --events human|json     event lines on stderr (default human)
  --duration SECS         stop after SECS seconds
  --count N               stop after N messages received
  --initial-delay MS      --max-delay MS      --multiplier X
  --jitter none|full|equal|decorrelated|proportional:P|symmetric:P   (P in 0..1)
  --max-attempts N (0 = unlimited)            --stable-after MS
  --ping-interval MS      --pong-timeout MS   --idle-timeout MS
  --connect-timeout MS    --close-timeout MS  --queue N
  --seed N                --ca-file PEM       --header 'Name: value' (repeatable)
  --max-message-size BYTES
  -h, --help
";

#[derive(Clone, Copy, PartialEq, Eq)]
enum EventFormat {
    Human,
    Json,
}

struct Options {
    url: Option<String>,
    subscribe: Vec<String>,
    stdin: bool,
    events: EventFormat,
    duration: Option<Duration>,
    count: Option<u64>,
    backoff: BackoffConfig,
    heartbeat: HeartbeatConfig,
    connect_timeout: Option<Duration>,
    close_timeout: Option<Duration>,
    queue: Option<usize>,
    seed: Option<u64>,
    ca_file: Option<PathBuf>,
    headers: Vec<(String, String)>,
    max_message_size: Option<usize>,
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(Some(options)) => options,
        Ok(None) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("keepalive: {message}\n\n{USAGE}");
            return ExitCode::from(1);
        }
    };
    match options.url.clone() {
        Some(url) => run(&url, options, false),
        None => demo(options),
    }
}

fn parse_args() -> Result<Option<Options>, String> {
    use lexopt::prelude::*;
    let mut o = Options {
        url: None,
        subscribe: Vec::new(),
        stdin: false,
        events: EventFormat::Human,
        duration: None,
        count: None,
        backoff: BackoffConfig::default(),
        heartbeat: HeartbeatConfig::default(),
        connect_timeout: None,
        close_timeout: None,
        queue: None,
        seed: None,
        ca_file: None,
        headers: Vec::new(),
        max_message_size: None,
    };
    let mut parser = lexopt::Parser::from_env();
    let err = |e: lexopt::Error| e.to_string();
    while let Some(arg) = parser.next().map_err(err)? {
        let flag = match arg {
            Short(c) => format!("-{c}"),
            Long(name) => format!("--{name}"),
            Value(url) if o.url.is_none() => {
                o.url = Some(url.string().map_err(err)?);
                continue;
            }
            Value(extra) => return Err(format!("unexpected argument {extra:?}")),
        };
        let mut value = || -> Result<String, String> { parser.value().map_err(err)?.string().map_err(err) };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--subscribe" => o.subscribe.push(value()?),
            "--stdin" => o.stdin = true,
            "--events" => {
                o.events = match value()?.as_str() {
                    "json" => EventFormat::Json,
                    "human" => EventFormat::Human,
                    other => return Err(format!("--events: expected human or json, got {other:?}")),
                }
            }
            "--duration" => o.duration = Some(Duration::from_secs_f64(number::<f64>("--duration", &value()?)?)),
            "--count" => o.count = Some(number("--count", &value()?)?),
            "--initial-delay" => o.backoff.initial = millis("--initial-delay", &value()?)?,
            "--max-delay" => o.backoff.cap = millis("--max-delay", &value()?)?,
            "--multiplier" => {
                let x: f64 = number("--multiplier", &value()?)?;
                if !(1.0..=1_000.0).contains(&x) {
                    return Err("--multiplier must be between 1 and 1000".into());
                }
                o.backoff.multiplier_permille = (x * 1_000.0).round() as u32;
            }
            "--jitter" => {
                o.backoff.jitter = jitter(&value()?)?;
                o.backoff.cap_jitter = None;
            }
            "--max-attempts" => {
                let n: u32 = number("--max-attempts", &value()?)?;
                o.backoff.max_attempts = (n > 0).then_some(n);
            }
            "--stable-after" => o.backoff.stable_after = millis("--stable-after", &value()?)?,
            "--ping-interval" => o.heartbeat.ping_interval = Some(millis("--ping-interval", &value()?)?),
            "--pong-timeout" => o.heartbeat.pong_timeout = millis("--pong-timeout", &value()?)?,
            "--idle-timeout" => o.heartbeat.idle_timeout = Some(millis("--idle-timeout", &value()?)?),
            "--connect-timeout" => o.connect_timeout = Some(millis("--connect-timeout", &value()?)?),
            "--close-timeout" => o.close_timeout = Some(millis("--close-timeout", &value()?)?),
            "--queue" => o.queue = Some(number("--queue", &value()?)?),
            "--seed" => o.seed = Some(number("--seed", &value()?)?),
            "--ca-file" => o.ca_file = Some(PathBuf::from(value()?)),
            "--header" => {
                let header = value()?;
                let (name, value) = header.split_once(':').ok_or("--header: expected 'Name: value'")?;
                o.headers.push((name.trim().to_string(), value.trim().to_string()));
            }
            "--max-message-size" => o.max_message_size = Some(number("--max-message-size", &value()?)?),
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(Some(o))
}

fn number<T: std::str::FromStr>(flag: &str, text: &str) -> Result<T, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{flag}: not a valid number: {text:?}"))
}

fn millis(flag: &str, text: &str) -> Result<Duration, String> {
    number::<u64>(flag, text).map(Duration::from_millis)
}

fn jitter(text: &str) -> Result<Jitter, String> {
    let proportion = |p: &str| -> Result<u16, String> {
        let p: f64 = number("--jitter", p)?;
        if !(0.0..=1.0).contains(&p) {
            return Err("--jitter: proportion must be between 0 and 1".into());
        }
        Ok((p * 1_000.0).round() as u16)
    };
    Ok(match text.split_once(':') {
        None if text == "none" => Jitter::None,
        None if text == "full" => Jitter::Full,
        None if text == "equal" => Jitter::Equal,
        None if text == "decorrelated" => Jitter::Decorrelated,
        Some(("proportional", p)) => Jitter::Proportional(proportion(p)?),
        Some(("symmetric", p)) => Jitter::Symmetric(proportion(p)?),
        _ => return Err(format!("--jitter: unknown kind {text:?}")),
    })
}

fn build(url: &str, o: &Options) -> ClientBuilder {
    let mut builder = Client::builder(url).backoff(o.backoff).heartbeat(o.heartbeat);
    if let Some(t) = o.connect_timeout {
        builder = builder.connect_timeout(t);
    }
    if let Some(t) = o.close_timeout {
        builder = builder.close_timeout(t);
    }
    if let Some(n) = o.queue {
        builder = builder.queue_capacity(n);
    }
    if let Some(seed) = o.seed {
        builder = builder.seed(seed);
    }
    if let Some(path) = &o.ca_file {
        builder = builder.tls(TlsConfig::CaFile(path.clone()));
    }
    for (name, value) in &o.headers {
        builder = builder.header(name, value);
    }
    if let Some(max) = o.max_message_size {
        builder = builder.limits(Limits {
            max_message_size: max,
            max_frame_size: max,
            ..Limits::default()
        });
    }
    for text in &o.subscribe {
        builder = builder.subscribe(text.as_str());
    }
    builder
}

/// How the run ended, for the exit code.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Clean,
    GaveUp,
    Rejected,
}

impl End {
    fn after(self, event: &ClientEvent) -> End {
        match event.event {
            Event::GaveUp { .. } => End::GaveUp,
            Event::Rejected { .. } => End::Rejected,
            _ => self,
        }
    }
}

fn run(url: &str, o: Options, demo: bool) -> ExitCode {
    let client = match build(url, &o).connect() {
        Ok(client) => client,
        Err(e) => {
            eprintln!("keepalive: {e}");
            return ExitCode::from(1);
        }
    };
    let started = Instant::now();
    let stdin_done = Arc::new(AtomicBool::new(!o.stdin));
    let (lines_tx, lines) = mpsc::channel::<String>();
    if o.stdin {
        let done = Arc::clone(&stdin_done);
        thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
            done.store(true, Ordering::SeqCst);
        });
    }

    let mut out = std::io::stdout().lock();
    let mut received = 0u64;
    let mut end = End::Clean;
    let mut rejected_early = Vec::new();
    loop {
        while let Ok(line) = lines.try_recv() {
            // Wait for room rather than drop: stdin is the sender here.
            let mut message = Message::text(line);
            loop {
                match client.send_timeout(message, Duration::from_millis(100)) {
                    Ok(()) => break,
                    Err(wstether::client::SendError::Full(back)) if !client.state().is_final() => message = back,
                    Err(e) => {
                        rejected_early.push(e.into_message());
                        break;
                    }
                }
            }
        }
        for event in client.events().try_iter() {
            end = end.after(&event);
            report(&event, o.events, demo);
        }
        if client.state().is_final() {
            break;
        }
        if o.stdin && stdin_done.load(Ordering::SeqCst) && lines.try_recv().is_err() {
            break;
        }
        if o.duration.is_some_and(|d| started.elapsed() >= d) || o.count.is_some_and(|n| received >= n) {
            break;
        }
        match client.recv_timeout(Duration::from_millis(50)) {
            Ok(Some(message)) => {
                received += 1;
                if demo {
                    if received % 50 == 0 {
                        println!(
                            "[{:6.2}s] {received} messages so far, last: {}",
                            started.elapsed().as_secs_f64(),
                            text_of(&message)
                        );
                    }
                } else if write_message(&mut out, &message).is_err() {
                    break; // stdout closed
                }
            }
            Ok(None) => {}
            Err(_) => break,
        }
    }
    if client.state().is_final() {
        // The I/O thread is ending: report everything it still has to say.
        while let Ok(event) = client.events().recv_timeout(Duration::from_secs(2)) {
            end = end.after(&event);
            report(&event, o.events, demo);
        }
    }
    let snapshot = client.snapshot();
    let mut undelivered = client.close();
    undelivered.extend(rejected_early);
    summary(&snapshot, received, undelivered.len(), o.events, started, demo);
    match end {
        End::Clean => ExitCode::SUCCESS,
        End::GaveUp => ExitCode::from(2),
        End::Rejected => ExitCode::from(3),
    }
}

fn text_of(message: &Message) -> String {
    match message {
        Message::Text(text) => text.to_string(),
        Message::Binary(bytes) => bytes.iter().map(|b| format!("{b:02x}")).collect(),
        other => format!("{other:?}"),
    }
}

fn write_message(out: &mut impl Write, message: &Message) -> std::io::Result<()> {
    writeln!(out, "{}", text_of(message))?;
    out.flush()
}

/// One event, as a JSON line or a readable line on stderr (stdout in the demo).
fn report(event: &ClientEvent, format: EventFormat, demo: bool) {
    if format == EventFormat::Json {
        if let Some(value) = event_json(event) {
            eprintln!("{value}");
        }
        return;
    }
    let Some(line) = event_text(event) else { return };
    let line = format!("[{:6.2}s] {line}", event.at.as_secs_f64());
    if demo {
        println!("{line}");
    } else {
        eprintln!("{line}");
    }
}

fn event_text(event: &ClientEvent) -> Option<String> {
    // The transport's explanation is more precise than the cause when there is one.
    let why = |failure: &wstether::Failure| event.detail.clone().unwrap_or_else(|| failure.cause.to_string());
    Some(match event.event {
        Event::AttemptStarted { attempt, .. } => format!("connecting, attempt {attempt}"),
        Event::Connected { attempt, .. } => format!("connected on attempt {attempt}"),
        Event::ConnectFailed { attempt, failure } => format!("attempt {attempt} failed: {}", why(&failure)),
        Event::Disconnected { failure, uptime } => {
            format!("disconnected after {:.1}s: {}", uptime.as_secs_f64(), why(&failure))
        }
        Event::ReconnectScheduled { attempt, delay } => {
            format!("reconnecting in {:.2}s (attempt {attempt})", delay.delay.as_secs_f64())
        }
        Event::HeartbeatTimeout => "heartbeat timeout: no pong".into(),
        Event::IdleTimeout => "idle timeout: no data".into(),
        Event::GaveUp { attempts } => format!("gave up after {attempts} attempts"),
        Event::Rejected { failure } => format!("rejected: {}", why(&failure)),
        Event::Stable => "link is stable".into(),
        Event::BreakerOpened { cool_down } => format!("breaker open for {:.0}s", cool_down.as_secs_f64()),
        _ => return None,
    })
}

fn event_json(event: &ClientEvent) -> Option<Value> {
    let mut o = Map::new();
    let failure_fields = |o: &mut Map<String, Value>, failure: &wstether::Failure| {
        o.insert("reason".into(), json!(failure.cause.to_string()));
        match failure.cause {
            Cause::Close(code) => {
                o.insert("code".into(), json!(code));
            }
            Cause::HttpStatus(status) => {
                o.insert("status".into(), json!(status));
            }
            _ => {}
        }
        if let FailureClass::RateLimited {
            retry_after_secs: Some(s),
        } = failure.class
        {
            o.insert("retry_after_s".into(), json!(s));
        }
    };
    let name = match event.event {
        Event::AttemptStarted { attempt, endpoint } => {
            o.insert("attempt".into(), json!(attempt));
            o.insert("endpoint".into(), json!(endpoint));
            "connecting"
        }
        Event::Connected { attempt, .. } => {
            o.insert("attempt".into(), json!(attempt));
            "connected"
        }
        Event::ConnectFailed { attempt, failure } => {
            o.insert("attempt".into(), json!(attempt));
            failure_fields(&mut o, &failure);
            "connect_failed"
        }
        Event::Disconnected { failure, uptime } => {
            failure_fields(&mut o, &failure);
            o.insert("uptime_ms".into(), json!(uptime.as_millis() as u64));
            "disconnected"
        }
        Event::ReconnectScheduled { attempt, delay } => {
            o.insert("attempt".into(), json!(attempt));
            o.insert("delay_ms".into(), json!(delay.delay.as_millis() as u64));
            o.insert("base_ms".into(), json!(delay.base.as_millis() as u64));
            "reconnect_scheduled"
        }
        Event::HeartbeatTimeout => "heartbeat_timeout",
        Event::IdleTimeout => "idle_timeout",
        Event::GaveUp { attempts } => {
            o.insert("attempts".into(), json!(attempts));
            "gave_up"
        }
        Event::Rejected { failure } => {
            failure_fields(&mut o, &failure);
            "rejected"
        }
        Event::Stable => "stable",
        Event::RateLimited { wait } => {
            o.insert("wait_ms".into(), json!(wait.as_millis() as u64));
            "rate_limited"
        }
        Event::BreakerOpened { cool_down } => {
            o.insert("cool_down_ms".into(), json!(cool_down.as_millis() as u64));
            "breaker_opened"
        }
        Event::BreakerHalfOpen => "breaker_half_open",
        Event::BreakerClosed => "breaker_closed",
        Event::StateChanged { from, to } => {
            o.insert("from".into(), json!(from.name()));
            o.insert("to".into(), json!(to.name()));
            "state_changed"
        }
        _ => return None,
    };
    if let Some(detail) = &event.detail {
        o.insert("detail".into(), json!(detail));
    }
    let mut line = Map::new();
    line.insert("event".into(), json!(name));
    line.insert("t_ms".into(), json!(event.at.as_millis() as u64));
    line.extend(o);
    Some(Value::Object(line))
}

fn summary(
    s: &wstether::Snapshot,
    received: u64,
    undelivered: usize,
    format: EventFormat,
    started: Instant,
    demo: bool,
) {
    let t_ms = started.elapsed().as_millis() as u64;
    if format == EventFormat::Json {
        let stats = json!({
            "event": "stats", "t_ms": t_ms, "received": received,
            "attempts": s.stats.attempts, "connects": s.stats.connects, "disconnects": s.stats.disconnects,
            "failures_transient": s.stats.failures_transient, "failures_rate_limited": s.stats.failures_rate_limited,
            "failures_permanent": s.stats.failures_permanent, "heartbeat_timeouts": s.stats.heartbeat_timeouts,
            "idle_timeouts": s.stats.idle_timeouts, "uptime_ms": s.total_uptime.as_millis() as u64,
            "reliability": f64::from(s.reliability_ppm()) / 1e6,
        });
        eprintln!("{stats}");
        eprintln!(
            "{}",
            json!({"event": "undelivered", "t_ms": t_ms, "count": undelivered})
        );
        return;
    }
    let text = format!(
        "summary: {received} messages received; {} attempts, {} connects, {} disconnects, {} heartbeat timeouts; \
         up {:.1}s of {:.1}s (reliability {:.1}%); {undelivered} undelivered; state at close {}",
        s.stats.attempts,
        s.stats.connects,
        s.stats.disconnects,
        s.stats.heartbeat_timeouts,
        s.total_uptime.as_secs_f64(),
        s.lifetime.as_secs_f64(),
        f64::from(s.reliability_ppm()) / 1e4,
        s.state.name(),
    );
    if demo {
        println!("{text}");
    } else {
        eprintln!("{text}");
    }
}

/// The demo: a local server that streams, drops links and restarts, and the
/// client kept alive against it for about 20 seconds.
fn demo(mut o: Options) -> ExitCode {
    let listener = match TcpListener::bind("127.0.0.1:0") {
        Ok(l) => l,
        Err(e) => {
            eprintln!("keepalive: cannot start the demo server: {e}");
            return ExitCode::from(1);
        }
    };
    let addr = listener.local_addr().expect("bound listener has an address");
    let seed = o.seed.unwrap_or(7);
    thread::spawn(move || demo_server(listener, seed));
    println!("demo: local server on ws://{addr}/ streams ticks, drops links every few seconds and restarts once;");
    println!("      the client keeps the link alive for 20 s (pass a URL to connect elsewhere, --help for options)");
    o.duration.get_or_insert(Duration::from_secs(20));
    o.seed.get_or_insert(seed);
    o.subscribe.push(r#"{"op":"subscribe","channel":"ticks"}"#.into());
    // Short delays so that several reconnects fit into the demo.
    o.backoff.initial = Duration::from_millis(200);
    o.backoff.cap = Duration::from_secs(2);
    o.backoff.stable_after = Duration::from_secs(2);
    let url = format!("ws://{addr}/ticks");
    run(&url, o, true)
}

fn demo_server(mut listener: TcpListener, seed: u64) {
    let addr = listener.local_addr().expect("bound listener has an address");
    let started = Instant::now();
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut restarted = false;
    let down = Arc::new(AtomicBool::new(false));
    loop {
        // One restart, 9 s in: every link drops and the port is closed for
        // 3 s, so the client meets refused attempts and growing delays.
        if !restarted && started.elapsed() >= Duration::from_secs(9) {
            restarted = true;
            down.store(true, Ordering::SeqCst);
            drop(listener);
            thread::sleep(Duration::from_secs(3));
            down.store(false, Ordering::SeqCst);
            listener = match TcpListener::bind(addr) {
                Ok(l) => l,
                Err(_) => return,
            };
        }
        listener.set_nonblocking(true).ok();
        match listener.accept() {
            Ok((stream, _)) => {
                let lifetime = Duration::from_millis(rng.u64(2_000..5_000));
                let how = rng.u8(0..3);
                let down = Arc::clone(&down);
                thread::spawn(move || serve_ticks(stream, lifetime, how, &down));
            }
            Err(_) => thread::sleep(Duration::from_millis(20)),
        }
        if started.elapsed() > Duration::from_secs(120) {
            return;
        }
    }
}

/// Streams ticks for `lifetime`, then ends the link one of three ways.
fn serve_ticks(stream: TcpStream, lifetime: Duration, how: u8, down: &AtomicBool) {
    stream.set_nonblocking(false).ok();
    let Ok(mut ws) = tungstenite::accept(stream) else {
        return;
    };
    ws.get_mut().set_read_timeout(Some(Duration::from_millis(20))).ok();
    let opened = Instant::now();
    let mut n = 0u64;
    while opened.elapsed() < lifetime {
        if down.load(Ordering::SeqCst) {
            let _ = ws.get_mut().shutdown(std::net::Shutdown::Both);
            return;
        }
        n += 1;
        if ws.send(Message::text(format!("tick {n}"))).is_err() {
            return;
        }
        // Reading answers pings and takes the client's subscription.
        if let Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) = ws.read() {
            return;
        }
    }
    match how {
        0 => {
            let _ = ws.get_mut().shutdown(std::net::Shutdown::Both);
        }
        1 => {
            let _ = ws.close(Some(CloseFrame {
                code: CloseCode::Restart,
                reason: "restarting".into(),
            }));
            let _ = ws.flush();
        }
        _ => {
            let _ = ws.close(Some(CloseFrame {
                code: CloseCode::Away,
                reason: "going away".into(),
            }));
            let _ = ws.flush();
        }
    }
}

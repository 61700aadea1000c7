//! `keepalive`: keep one WebSocket alive from the command line.
//!
//! With no URL it starts a small local server that streams messages and now
//! and then drops the link or restarts, and runs the client against it for
//! about 20 seconds, so the reconnect loop can be watched at once; the
//! events are the demo's output and go to stdout:
//!
//! ```text
//! cargo run --example keepalive
//! ```
//!
//! With a URL it keeps that socket alive; received messages go to stdout, one
//! per line (text escaped so that it stays on one line, binary as hex), and
//! nothing else does; events go to stderr:
//!
//! ```text
//! cargo run --example keepalive -- [OPTIONS] URL
//! ```
//!
//! Exit codes come from how the client ended ([`Client::ending`]), never from
//! the event stream: 0 clean end with everything delivered, 2 gave up, 3
//! rejected permanently, 4 ended with undelivered messages, 1 usage or other
//! error (3, 2 and 4 in that order of precedence).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use wstether::client::{
    Attempt, Client, ClientBuilder, ClientEvent, Ending, EventKind, Reason, SendError, Undelivered,
};
use wstether::transport::{Limits, TlsConfig};
use wstether::{BackoffConfig, Cause, Event, Failure, FailureClass, HeartbeatConfig, Jitter, Message, Outcome};

const USAGE: &str = "\
usage: keepalive [OPTIONS] [URL]

Keeps one WebSocket alive. Without URL, runs a local demo server for ~20 s and
prints its events on stdout. With URL, received messages go to stdout, one per
line, and events to stderr.

Output, one message per line: text is escaped so that every message is exactly
one line (\\ becomes \\\\, LF becomes \\n, CR becomes \\r); binary is lowercase hex.

Sending:
  --stdin                  send each stdin line (its LF or CRLF removed); a line
                           that is not valid UTF-8 is sent as a binary message.
                           At EOF: deliver the queue, waiting for a link as long
                           as the reconnect policy and --duration allow, then
                           close cleanly and exit
  --subscribe TEXT         sent at the start of every link, before queued
                           messages (repeatable)
  --ttl MS                 a stdin line not written to a socket within MS is
                           dropped unsent (counted as expired in `undelivered`)
  --queue N                outgoing queue capacity, in messages (default 1024)
  --close-code N           code of the final close: 1000 or 3000-4999 (default 1000)
  --close-reason TEXT      reason of the final close (at most 123 bytes)

Stopping:
  --duration SECS          stop after SECS seconds
  --count N                stop after N messages received (exactly N are printed)

Events:
  --events human|json      event lines on stderr (default human). json: one
                           object per line, each with \"event\" and \"t_ms\"

Reconnect policy (times in milliseconds):
  --initial-delay MS       --max-delay MS           --multiplier X (1 to 65)
  --jitter none|full|equal|decorrelated|proportional:P|symmetric:P|phased:F
                           (P, F between 0 and 1; proportional up to 10)
  --max-attempts N         give up after N failed attempts in a row (0 = never)
  --max-elapsed MS         give up when an outage has lasted MS
  --stable-after MS        a link up this long resets the attempt count
  --seed N                 seed the jitter (reproducible delays)

Deadlines (milliseconds):
  --ping-interval MS       --pong-timeout MS        --idle-timeout MS
  --connect-timeout MS     --close-timeout MS       --happy-eyeballs-delay MS

Connection:
  --header 'Name: value'   added to every upgrade request (repeatable)
  --header-file PATH       headers, one 'Name: value' per line (blank lines and
                           # comments skipped), re-read before every attempt and
                           replacing --header ones of the same name; a missing
                           or malformed file fails that attempt with the reason
                           and the reconnect schedule goes on. A 401 or 403 is
                           final unless the file changed since that attempt:
                           then one more attempt is made with the new headers
  --subprotocol NAME       offer this subprotocol (repeatable)
  --proxy URL              connect through http://[user:pass@]host:port,
                           socks5://host:port or socks5h://host:port
  --no-proxy               connect directly. Without --proxy or --no-proxy the
                           environment is read: https_proxy (wss://) or
                           http_proxy (ws://), then all_proxy, minus no_proxy;
                           loopback is never proxied
  --ca-file PEM            trust only these roots (default: the Mozilla roots)
  --client-cert PEM --client-key PEM
                           mutual TLS: present this chain and key (both needed;
                           --ca-file, if given, is the roots to trust)
  --max-message-size BYTES largest inbound message and frame
  -h, --help

Exit codes (from how the client ended, never from the event lines):
  0 clean end, everything delivered   1 usage or other error
  2 gave up (attempt limit or --max-elapsed)
  3 rejected permanently (the reason is printed)
  4 ended with undelivered messages (the `undelivered` line says why)
  When several apply: 3, then 2, then 4.
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
    happy_eyeballs_delay: Option<Duration>,
    queue: Option<usize>,
    ttl: Option<Duration>,
    close_code: u16,
    close_reason: String,
    seed: Option<u64>,
    ca_file: Option<PathBuf>,
    client_cert: Option<PathBuf>,
    client_key: Option<PathBuf>,
    headers: Vec<(String, String)>,
    header_file: Option<PathBuf>,
    subprotocols: Vec<String>,
    proxy: Option<String>,
    no_proxy: bool,
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
            eprintln!("keepalive: {message}\n(keepalive --help lists the options)");
            return ExitCode::from(1);
        }
    };
    match options.url.clone() {
        Some(url) => run(&url, options, false),
        None => demo(options),
    }
}

// ------------------------------------------------------------------ options

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
        happy_eyeballs_delay: None,
        queue: None,
        ttl: None,
        close_code: 1000,
        close_reason: String::new(),
        seed: None,
        ca_file: None,
        client_cert: None,
        client_key: None,
        headers: Vec::new(),
        header_file: None,
        subprotocols: Vec::new(),
        proxy: None,
        no_proxy: false,
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
        let mut value = || -> Result<String, String> {
            parser
                .value()
                .map_err(err)?
                .string()
                .map_err(|_| format!("{flag}: the value is not valid UTF-8"))
        };
        let f = flag.as_str();
        match f {
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
            "--duration" => {
                let secs: f64 = number(f, &value()?)?;
                match Duration::try_from_secs_f64(secs) {
                    Ok(d) if !d.is_zero() => o.duration = Some(d),
                    _ => return Err(format!("--duration: expected a positive number of seconds, got {secs}")),
                }
            }
            "--count" => o.count = Some(positive(f, &value()?)?),
            "--initial-delay" => o.backoff.initial = millis(f, &value()?)?,
            "--max-delay" => o.backoff.cap = millis(f, &value()?)?,
            "--multiplier" => {
                let x: f64 = number(f, &value()?)?;
                if !(1.0..=65.0).contains(&x) {
                    return Err("--multiplier: must be between 1 and 65".into());
                }
                o.backoff.multiplier_permille = (x * 1_000.0).round() as u16;
            }
            "--jitter" => {
                o.backoff.jitter = jitter(&value()?)?;
                o.backoff.cap_jitter = None;
            }
            "--max-attempts" => {
                let n: u32 = number(f, &value()?)?;
                o.backoff.max_attempts = (n > 0).then_some(n);
            }
            "--max-elapsed" => o.backoff.max_elapsed = Some(positive_millis(f, &value()?)?),
            "--stable-after" => o.backoff.stable_after = millis(f, &value()?)?,
            "--ping-interval" => o.heartbeat.ping_interval = Some(millis(f, &value()?)?),
            "--pong-timeout" => o.heartbeat.pong_timeout = millis(f, &value()?)?,
            "--idle-timeout" => o.heartbeat.idle_timeout = Some(millis(f, &value()?)?),
            "--connect-timeout" => o.connect_timeout = Some(positive_millis(f, &value()?)?),
            "--close-timeout" => o.close_timeout = Some(millis(f, &value()?)?),
            "--happy-eyeballs-delay" => o.happy_eyeballs_delay = Some(millis(f, &value()?)?),
            "--queue" => o.queue = Some(positive(f, &value()?)?),
            "--ttl" => o.ttl = Some(positive_millis(f, &value()?)?),
            "--close-code" => {
                let code: u16 = number(f, &value()?)?;
                if code != 1000 && !(3000..=4999).contains(&code) {
                    return Err(format!("--close-code: must be 1000 or 3000-4999, got {code}"));
                }
                o.close_code = code;
            }
            "--close-reason" => {
                let reason = value()?;
                if reason.len() > 123 {
                    return Err(format!("--close-reason: at most 123 bytes, got {}", reason.len()));
                }
                o.close_reason = reason;
            }
            "--seed" => o.seed = Some(number(f, &value()?)?),
            "--ca-file" => o.ca_file = Some(PathBuf::from(value()?)),
            "--client-cert" => o.client_cert = Some(PathBuf::from(value()?)),
            "--client-key" => o.client_key = Some(PathBuf::from(value()?)),
            "--header" => {
                let line = value()?;
                let header = parse_header(&line).ok_or("--header: expected 'Name: value'")?;
                o.headers.push(header);
            }
            "--header-file" => o.header_file = Some(PathBuf::from(value()?)),
            "--subprotocol" => o.subprotocols.push(value()?),
            "--proxy" => o.proxy = Some(value()?),
            "--no-proxy" => o.no_proxy = true,
            "--max-message-size" => o.max_message_size = Some(positive(f, &value()?)?),
            other => return Err(format!("unknown option {other}")),
        }
    }
    if o.proxy.is_some() && o.no_proxy {
        return Err("--proxy and --no-proxy exclude each other".into());
    }
    if o.client_cert.is_some() != o.client_key.is_some() {
        return Err("--client-cert and --client-key go together".into());
    }
    Ok(Some(o))
}

fn number<T: std::str::FromStr>(flag: &str, text: &str) -> Result<T, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{flag}: not a valid number: {text:?}"))
}

fn positive<T: std::str::FromStr + Default + PartialEq>(flag: &str, text: &str) -> Result<T, String> {
    let n: T = number(flag, text)?;
    if n == T::default() {
        return Err(format!("{flag}: must be at least 1"));
    }
    Ok(n)
}

fn millis(flag: &str, text: &str) -> Result<Duration, String> {
    number::<u64>(flag, text).map(Duration::from_millis)
}

fn positive_millis(flag: &str, text: &str) -> Result<Duration, String> {
    positive::<u64>(flag, text).map(Duration::from_millis)
}

fn jitter(text: &str) -> Result<Jitter, String> {
    let permille = |p: &str, max: f64| -> Result<u16, String> {
        let p: f64 = number("--jitter", p)?;
        if !(0.0..=max).contains(&p) {
            return Err(format!("--jitter: {text}: the proportion must be between 0 and {max}"));
        }
        Ok((p * 1_000.0).round() as u16)
    };
    Ok(match text.split_once(':') {
        None if text == "none" => Jitter::None,
        None if text == "full" => Jitter::Full,
        None if text == "equal" => Jitter::Equal,
        None if text == "decorrelated" => Jitter::Decorrelated,
        Some(("proportional", p)) => Jitter::Proportional(permille(p, 10.0)?),
        Some(("symmetric", p)) => Jitter::Symmetric(permille(p, 1.0)?),
        Some(("phased", f)) => Jitter::Phased(permille(f, 1.0)?),
        _ => return Err(format!("--jitter: unknown kind {text:?}")),
    })
}

/// `Name: value`, trimmed; `None` without a colon or a name.
fn parse_header(line: &str) -> Option<(String, String)> {
    let (name, value) = line.split_once(':')?;
    let name = name.trim();
    (!name.is_empty()).then(|| (name.to_string(), value.trim().to_string()))
}

/// The headers in `path`, or why not. Values are never part of the reason.
fn read_header_file(path: &Path) -> Result<Vec<(String, String)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("--header-file {}: {e}", path.display()))?;
    let mut headers = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match parse_header(line) {
            Some(header) => headers.push(header),
            None => {
                return Err(format!(
                    "--header-file {}: line {}: expected 'Name: value'",
                    path.display(),
                    n + 1
                ))
            }
        }
    }
    Ok(headers)
}

fn build(url: &str, o: &Options) -> ClientBuilder {
    let mut builder = Client::builder(url).backoff(o.backoff).heartbeat(o.heartbeat);
    if let Some(t) = o.connect_timeout {
        builder = builder.connect_timeout(t);
    }
    if let Some(t) = o.close_timeout {
        builder = builder.close_timeout(t);
    }
    if let Some(t) = o.happy_eyeballs_delay {
        builder = builder.happy_eyeballs_delay(t);
    }
    if let Some(n) = o.queue {
        builder = builder.queue_capacity(n);
    }
    if let Some(ttl) = o.ttl {
        builder = builder.message_ttl(ttl);
    }
    if let Some(seed) = o.seed {
        builder = builder.seed(seed);
    }
    match (&o.client_cert, &o.client_key, &o.ca_file) {
        (Some(chain), Some(key), ca) => {
            builder = builder.tls(TlsConfig::ClientCert {
                chain: chain.clone(),
                key: key.clone(),
                ca: ca.clone(),
            })
        }
        (_, _, Some(ca)) => builder = builder.tls(TlsConfig::CaFile(ca.clone())),
        _ => {}
    }
    if let Some(proxy) = &o.proxy {
        builder = builder.proxy(proxy);
    }
    if o.no_proxy {
        builder = builder.no_proxy();
    }
    for (name, value) in &o.headers {
        builder = builder.header(name, value);
    }
    if let Some(path) = o.header_file.clone() {
        builder = builder.before_connect(move |attempt: &mut Attempt| match read_header_file(&path) {
            Ok(headers) => {
                for (name, value) in headers {
                    attempt.set_header(name, value);
                }
            }
            Err(reason) => attempt.fail(reason),
        });
    }
    for protocol in &o.subprotocols {
        builder = builder.subprotocol(protocol);
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

// ---------------------------------------------------------------------- run

/// What the stdin reader did, for the main thread.
#[derive(Default)]
struct StdinProgress {
    /// Lines read that the client refused (it had ended). Locked from the
    /// moment a line is read until its fate is known, so the count the main
    /// thread takes after the end misses no line and counts none twice.
    refused: Mutex<u64>,
    /// Every line read was handed to the client (or refused): EOF.
    eof: AtomicBool,
}

/// Reads stdin line by line and sends each line itself, so that no line
/// waits anywhere between the reader and the client: once `eof` is set,
/// every line is in the client's queue or counted as refused.
fn read_stdin(client: Arc<Client>, progress: Arc<StdinProgress>) {
    let mut input = std::io::stdin().lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("keepalive: reading stdin failed, no more lines are read: {e}");
                break;
            }
        }
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        let mut refused = progress.refused.lock().unwrap_or_else(|p| p.into_inner());
        let mut message = match String::from_utf8(std::mem::take(&mut line)) {
            Ok(text) => Message::text(text),
            Err(e) => Message::binary(e.into_bytes()),
        };
        // Wait for room rather than drop: stdin is the sender here.
        loop {
            match client.send_timeout(message, Duration::from_millis(100)) {
                Ok(()) => break,
                Err(SendError::Full(back)) => message = back,
                // Closed: counted as never sent.
                Err(_) => {
                    *refused += 1;
                    break;
                }
            }
        }
        drop(refused);
    }
    progress.eof.store(true, Ordering::SeqCst);
}

fn run(url: &str, o: Options, demo: bool) -> ExitCode {
    let started = Instant::now();
    let client = match build(url, &o).connect() {
        Ok(client) => Arc::new(client),
        Err(e) => {
            eprintln!("keepalive: {e}");
            return ExitCode::from(1);
        }
    };
    let progress = Arc::new(StdinProgress::default());
    if o.stdin {
        let (client, progress) = (Arc::clone(&client), Arc::clone(&progress));
        thread::spawn(move || read_stdin(client, progress));
    }

    let mut out = Output {
        stdout: std::io::stdout().lock(),
        received: 0,
        count: o.count,
        demo,
        started,
        broken: false,
    };
    let mut reporter = Reporter {
        format: o.events,
        demo,
        connected_at: None,
    };
    loop {
        for event in client.events().try_iter() {
            reporter.report(&event);
        }
        if client.ending().is_some() {
            break;
        }
        if o.duration.is_some_and(|d| started.elapsed() >= d) || o.count.is_some_and(|n| out.received >= n) {
            break;
        }
        // Every line read is in the queue once `eof` is set: drained means delivered.
        if o.stdin && progress.eof.load(Ordering::SeqCst) && client.wait_drained(Duration::ZERO) {
            break;
        }
        if out.broken {
            break; // stdout closed: nobody reads the messages any more
        }
        match client.recv_timeout(Duration::from_millis(50)) {
            Ok(Some(message)) => {
                out.message(&message);
                while let Ok(Some(message)) = client.try_recv() {
                    out.message(&message);
                    if out.done() {
                        break;
                    }
                }
                out.flush();
            }
            Ok(None) => {}
            Err(_finished) => {} // ending() is set: the next turn reports it
        }
    }
    let handed_back = client.close_with(o.close_code, &o.close_reason);
    // Every message already received goes out before the end is reported.
    while let Ok(message) = client.recv() {
        out.message(&message);
    }
    out.flush();
    for event in client.events().try_iter() {
        reporter.report(&event);
    }
    // Lines read from stdin that the client never accepted (it had ended).
    let refused = *progress.refused.lock().unwrap_or_else(|p| p.into_inner());
    let undelivered = Tally::new(&handed_back, refused);
    let ending = client.ending();
    let code = exit_code(ending.as_ref().map(|e| &e.outcome), &undelivered);
    let t_ms = started.elapsed().as_millis() as u64;
    reporter.summary(&client.snapshot(), out.received, client.events().dropped(), t_ms);
    reporter.undelivered(&undelivered, t_ms);
    reporter.ending(ending.as_ref(), code, t_ms);
    ExitCode::from(code)
}

/// 3 rejected, 2 gave up, 4 undelivered, 0 clean; 1 when the client never
/// said how it ended.
fn exit_code(outcome: Option<&Outcome>, undelivered: &Tally) -> u8 {
    match outcome {
        None => 1,
        Some(Outcome::Rejected { .. }) => 3,
        Some(Outcome::GaveUp { .. }) => 2,
        Some(_) if undelivered.count() > 0 => 4,
        Some(_) => 0,
    }
}

/// What was not delivered, by reason.
struct Tally {
    expired: usize,
    not_sent: usize,
    unacknowledged: usize,
}

impl Tally {
    fn new(handed_back: &[Undelivered], refused: u64) -> Tally {
        let of = |reason| handed_back.iter().filter(|u| u.reason == reason).count();
        Tally {
            expired: of(Reason::Expired),
            not_sent: of(Reason::NotSent) + refused as usize,
            unacknowledged: of(Reason::Unacknowledged),
        }
    }

    fn count(&self) -> usize {
        self.expired + self.not_sent + self.unacknowledged
    }

    /// Each reason that applies, as the library words it, with its count.
    fn reasons(&self) -> BTreeMap<String, usize> {
        [
            (Reason::Expired, self.expired),
            (Reason::NotSent, self.not_sent),
            (Reason::Unacknowledged, self.unacknowledged),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(reason, n)| (reason.to_string(), n))
        .collect()
    }
}

// ------------------------------------------------------------------- output

/// Received messages: one line each on stdout (progress lines in the demo).
struct Output<'a> {
    stdout: std::io::StdoutLock<'a>,
    received: u64,
    count: Option<u64>,
    demo: bool,
    started: Instant,
    /// stdout is closed.
    broken: bool,
}

impl Output<'_> {
    fn done(&self) -> bool {
        self.count.is_some_and(|n| self.received >= n)
    }

    fn message(&mut self, message: &Message) {
        if self.done() || self.broken {
            return; // --count: exactly N lines
        }
        self.received += 1;
        if self.demo {
            if self.received % 50 == 0 {
                let _ = writeln!(
                    self.stdout,
                    "[{:6.2}s] {} messages so far, last: {}",
                    self.started.elapsed().as_secs_f64(),
                    self.received,
                    one_line(message)
                );
            }
            return;
        }
        if writeln!(self.stdout, "{}", one_line(message)).is_err() {
            self.broken = true;
        }
    }

    fn flush(&mut self) {
        if self.stdout.flush().is_err() {
            self.broken = true;
        }
    }
}

/// A message as exactly one line: text with `\`, LF and CR escaped, binary
/// as lowercase hex.
fn one_line(message: &Message) -> Cow<'_, str> {
    match message {
        Message::Text(text) => escape(text.as_str()),
        Message::Binary(bytes) => Cow::Owned(bytes.iter().map(|b| format!("{b:02x}")).collect()),
        other => Cow::Owned(format!("{other:?}")),
    }
}

fn escape(text: &str) -> Cow<'_, str> {
    if !text.contains(['\\', '\n', '\r']) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '\n' => escaped.push_str("\\n"),
            '\r' => escaped.push_str("\\r"),
            c => escaped.push(c),
        }
    }
    Cow::Owned(escaped)
}

/// Event lines: readable ones on stderr (stdout in the demo), or JSON
/// objects on stderr.
struct Reporter {
    format: EventFormat,
    demo: bool,
    /// When the current link's `Connected` came, for `uptime_ms`.
    connected_at: Option<Duration>,
}

impl Reporter {
    fn report(&mut self, event: &ClientEvent) {
        let uptime = match &event.kind {
            EventKind::Supervisor(Event::Connected { .. }) => {
                self.connected_at = Some(event.at);
                None
            }
            EventKind::Supervisor(Event::Disconnected { .. }) => {
                self.connected_at.take().map(|at| event.at.saturating_sub(at))
            }
            _ => None,
        };
        match self.format {
            EventFormat::Json => {
                for line in event_json(event, uptime) {
                    eprintln!("{line}");
                }
            }
            EventFormat::Human => {
                if let Some(text) = event_text(event, uptime) {
                    self.human(event.at, &text);
                }
            }
        }
    }

    fn human(&self, at: Duration, text: &str) {
        let line = format!("[{:6.2}s] {text}", at.as_secs_f64());
        if self.demo {
            println!("{line}");
        } else {
            eprintln!("{line}");
        }
    }

    fn summary(&self, s: &wstether::Snapshot, received: u64, events_dropped: u64, t_ms: u64) {
        let c = &s.counters;
        if self.format == EventFormat::Json {
            let stats = json!({
                "event": "stats", "t_ms": t_ms, "received": received,
                "attempts": c.attempts, "connects": c.connects, "disconnects": c.disconnects,
                "failures_transient": c.failures_transient, "failures_retry_later": c.failures_retry_later,
                "failures_rate_limited": c.failures_retry_later, "failures_permanent": c.failures_permanent,
                "heartbeat_timeouts": c.heartbeat_timeouts, "idle_timeouts": c.idle_timeouts,
                "uptime_ms": s.total_uptime.as_millis() as u64, "lifetime_ms": s.lifetime.as_millis() as u64,
                "reliability": f64::from(s.reliability_ppm) / 1e6, "events_dropped": events_dropped,
            });
            eprintln!("{stats}");
            return;
        }
        let text = format!(
            "summary: {received} messages received; {} attempts, {} connects, {} disconnects, {} heartbeat \
             timeouts; up {:.1}s of {:.1}s (reliability {:.1}%)",
            c.attempts,
            c.connects,
            c.disconnects,
            c.heartbeat_timeouts,
            s.total_uptime.as_secs_f64(),
            s.lifetime.as_secs_f64(),
            f64::from(s.reliability_ppm) / 1e4,
        );
        self.human(Duration::from_millis(t_ms), &text);
    }

    fn undelivered(&self, tally: &Tally, t_ms: u64) {
        if self.format == EventFormat::Json {
            let line = json!({
                "event": "undelivered", "t_ms": t_ms, "count": tally.count(),
                "expired": tally.expired, "not_sent": tally.not_sent, "unacknowledged": tally.unacknowledged,
                "reasons": tally.reasons(),
            });
            eprintln!("{line}");
            return;
        }
        if tally.count() > 0 {
            let reasons: Vec<String> = tally.reasons().iter().map(|(r, n)| format!("{n} {r}")).collect();
            let text = format!("undelivered: {} ({})", tally.count(), reasons.join(", "));
            self.human(Duration::from_millis(t_ms), &text);
        }
    }

    /// The last line. `None`: the I/O thread did not finish in time (exit 1).
    fn ending(&self, ending: Option<&Ending>, code: u8, t_ms: u64) {
        const UNFINISHED: &str = "the client did not finish within its close bound";
        if self.format == EventFormat::Json {
            let mut o = Map::new();
            let outcome = ending.map(|ending| match &ending.outcome {
                Outcome::Stopped => "stopped",
                Outcome::GaveUp { attempts } => {
                    o.insert("attempts".into(), json!(attempts));
                    "gave_up"
                }
                Outcome::Rejected { failure } => {
                    failure_fields(&mut o, failure);
                    "rejected"
                }
            });
            let detail = ending.map_or(Some(UNFINISHED.into()), |e| e.detail.clone());
            let mut line = Map::new();
            line.insert("event".into(), json!("ending"));
            line.insert("t_ms".into(), json!(t_ms));
            line.insert("outcome".into(), json!(outcome));
            line.insert("detail".into(), json!(detail));
            line.insert("exit_code".into(), json!(code));
            line.extend(o);
            eprintln!("{}", Value::Object(line));
            return;
        }
        match ending {
            Some(ending) => self.human(Duration::from_millis(t_ms), &format!("ended: {ending}")),
            None => self.human(Duration::from_millis(t_ms), &format!("ended: {UNFINISHED}")),
        }
    }
}

fn event_text(event: &ClientEvent, uptime: Option<Duration>) -> Option<String> {
    // The transport's explanation is more precise than the cause when there is one.
    let why = |failure: &Failure| event.detail.clone().unwrap_or_else(|| failure.to_string());
    let supervisor = match &event.kind {
        EventKind::Supervisor(event) => *event,
        EventKind::LinkOpened {
            link,
            peer,
            subprotocol,
        } => {
            let protocol = subprotocol
                .as_ref()
                .map(|p| format!(", subprotocol {p}"))
                .unwrap_or_default();
            return Some(format!("link {link} open to {peer}{protocol}"));
        }
        EventKind::Expired { count } => return Some(format!("{count} queued messages expired unsent")),
        EventKind::SequenceGap { first, last } => return Some(format!("sequence gap: {first}..={last} missing")),
        EventKind::SequenceDuplicate { seq } => return Some(format!("sequence {seq} seen again")),
        _ => return None,
    };
    Some(match supervisor {
        Event::AttemptStarted { attempt, .. } => match &event.detail {
            Some(url) => format!("connecting to {url}, attempt {attempt}"),
            None => format!("connecting, attempt {attempt}"),
        },
        Event::Connected { attempt, .. } => format!("connected on attempt {attempt}"),
        Event::ConnectFailed { attempt, failure } => format!("attempt {attempt} failed: {}", why(&failure)),
        Event::Disconnected { failure } => {
            let after = uptime
                .map(|u| format!(" after {:.1}s", u.as_secs_f64()))
                .unwrap_or_default();
            let what = match failure.cause {
                Cause::HeartbeatTimeout => "heartbeat timeout, ",
                Cause::IdleTimeout => "idle timeout, ",
                _ => "",
            };
            format!("{what}disconnected{after}: {}", why(&failure))
        }
        Event::ReconnectScheduled { attempt, delay } => {
            format!(
                "reconnecting in {:.2}s (attempt {attempt})",
                delay.delay().as_secs_f64()
            )
        }
        Event::Throttled { wait_ms } => format!("connect rate limit: next attempt in {wait_ms} ms"),
        Event::GaveUp { attempts } => format!("gave up after {attempts} attempts"),
        Event::Rejected { failure } => format!("rejected: {}", why(&failure)),
        Event::Stable => "link is stable".into(),
        Event::BreakerOpened { cool_down_ms } => {
            format!("breaker open for {:.1}s", f64::from(cool_down_ms) / 1_000.0)
        }
        Event::BreakerHalfOpen => "breaker half open: one probe attempt".into(),
        Event::BreakerClosed => "breaker closed".into(),
        _ => return None,
    })
}

/// `reason`, `class`, and `code`, `status` and `retry_after_s` when they apply.
fn failure_fields(o: &mut Map<String, Value>, failure: &Failure) {
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
    let class = match failure.class {
        FailureClass::Transient => "transient",
        FailureClass::RetryLater { retry_after_secs } => {
            if let Some(s) = retry_after_secs {
                o.insert("retry_after_s".into(), json!(s));
            }
            "retry_later"
        }
        FailureClass::Permanent => "permanent",
    };
    o.insert("class".into(), json!(class));
}

/// The JSON lines for one event: usually one, none for events the tool does
/// not report, two where older names are kept for scripts.
fn event_json(event: &ClientEvent, uptime: Option<Duration>) -> Vec<Value> {
    let mut o = Map::new();
    let mut lines = Vec::new();
    let name = match &event.kind {
        EventKind::Supervisor(supervisor) => match *supervisor {
            Event::AttemptStarted { attempt, endpoint } => {
                o.insert("attempt".into(), json!(attempt));
                o.insert("endpoint".into(), json!(endpoint));
                "connecting"
            }
            Event::Connected { attempt, endpoint } => {
                o.insert("attempt".into(), json!(attempt));
                o.insert("endpoint".into(), json!(endpoint));
                "connected"
            }
            Event::ConnectFailed { attempt, failure } => {
                o.insert("attempt".into(), json!(attempt));
                failure_fields(&mut o, &failure);
                "connect_failed"
            }
            Event::Disconnected { failure } => {
                // Timeouts used to be events of their own; scripts still get them.
                let timeout = match failure.cause {
                    Cause::HeartbeatTimeout => Some("heartbeat_timeout"),
                    Cause::IdleTimeout => Some("idle_timeout"),
                    _ => None,
                };
                if let Some(timeout) = timeout {
                    lines.push(line(timeout, event, Map::new()));
                }
                failure_fields(&mut o, &failure);
                if let Some(uptime) = uptime {
                    o.insert("uptime_ms".into(), json!(uptime.as_millis() as u64));
                }
                "disconnected"
            }
            Event::ReconnectScheduled { attempt, delay } => {
                o.insert("attempt".into(), json!(attempt));
                o.insert("delay_ms".into(), json!(delay.delay().as_millis() as u64));
                o.insert("base_ms".into(), json!(delay.base().as_millis() as u64));
                o.insert("floored".into(), json!(delay.floored()));
                "reconnect_scheduled"
            }
            Event::Throttled { wait_ms } => {
                o.insert("wait_ms".into(), json!(wait_ms));
                lines.push(line("throttled", event, o.clone()));
                // The old name, kept as an alias for scripts (deprecated).
                "rate_limited"
            }
            Event::GaveUp { attempts } => {
                o.insert("attempts".into(), json!(attempts));
                "gave_up"
            }
            Event::Rejected { failure } => {
                failure_fields(&mut o, &failure);
                "rejected"
            }
            Event::Stable => "stable",
            Event::BreakerOpened { cool_down_ms } => {
                o.insert("cool_down_ms".into(), json!(cool_down_ms));
                "breaker_opened"
            }
            Event::BreakerHalfOpen => "breaker_half_open",
            Event::BreakerClosed => "breaker_closed",
            _ => return lines,
        },
        EventKind::StateChanged { from, to } => {
            o.insert("from".into(), json!(from.name()));
            o.insert("to".into(), json!(to.name()));
            "state_changed"
        }
        EventKind::LinkOpened {
            link,
            peer,
            subprotocol,
        } => {
            o.insert("link".into(), json!(link));
            o.insert("peer".into(), json!(peer.to_string()));
            o.insert("subprotocol".into(), json!(subprotocol));
            "link_opened"
        }
        EventKind::Expired { count } => {
            o.insert("count".into(), json!(count));
            "expired"
        }
        EventKind::SequenceGap { first, last } => {
            o.insert("first".into(), json!(first));
            o.insert("last".into(), json!(last));
            "sequence_gap"
        }
        EventKind::SequenceDuplicate { seq } => {
            o.insert("seq".into(), json!(seq));
            "sequence_duplicate"
        }
        _ => return lines,
    };
    if let Some(detail) = &event.detail {
        o.insert("detail".into(), json!(detail));
    }
    lines.push(line(name, event, o));
    lines
}

fn line(name: &str, event: &ClientEvent, fields: Map<String, Value>) -> Value {
    let mut line = Map::new();
    line.insert("event".into(), json!(name));
    line.insert("t_ms".into(), json!(event.at.as_millis() as u64));
    line.extend(fields);
    Value::Object(line)
}

// --------------------------------------------------------------------- demo

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

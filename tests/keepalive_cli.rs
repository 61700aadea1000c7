//! Black-box tests of the `keepalive` command-line tool (`examples/keepalive.rs`):
//! its exit codes, stdout lines and JSON event lines, against servers on
//! 127.0.0.1 started here.
//!
//! Cargo gives integration tests no path to an example's binary, so the
//! first test that needs it runs `cargo build --example keepalive` once per
//! test run, into the target directory, profile and target triple this test
//! binary was built for (all read from the test's own path:
//! `<target-dir>/[<triple>/]<profile>/deps/keepalive_cli-…`), and runs
//! `<profile>/examples/keepalive`. Set `KEEPALIVE_BIN` to test another binary
//! without building.
//!
//! Nothing here sleeps to wait: servers block on their sockets, the tests on
//! channels and the child's pipes, each bounded by `PATIENCE`; every child
//! also gets its own `--duration` so that none outlives a failed test.

// tungstenite's handshake callback returns its HTTP response as the error.
#![allow(clippy::result_large_err)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tungstenite::{Message, WebSocket};

/// The longest any step waits: far past every deadline the tests configure.
const PATIENCE: Duration = Duration::from_secs(20);

/// A fast reconnect schedule for the child.
const FAST: [&str; 6] = ["--initial-delay", "20", "--max-delay", "50", "--jitter", "none"];

// ------------------------------------------------------------------ the binary

fn keepalive() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| match std::env::var_os("KEEPALIVE_BIN") {
        Some(path) => PathBuf::from(path),
        None => build_example(),
    })
}

/// Builds the example like this test was built and returns its path.
fn build_example() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let deps = exe.parent().expect("deps directory");
    let profile_dir = deps.parent().expect("profile directory");
    let profile = profile_dir.file_name().and_then(|n| n.to_str()).expect("profile name");
    let above = profile_dir.parent().expect("target directory");
    // Cargo marks the target directory's root; anything else is a triple.
    let (target_dir, triple) = match above.join("CACHEDIR.TAG").exists() {
        true => (above, None),
        false => (above.parent().expect("target directory"), above.file_name()),
    };
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args(["build", "--quiet", "--example", "keepalive", "--features", "std,tls"])
        .arg("--manifest-path")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
    match profile {
        "debug" => {}
        "release" => {
            cargo.arg("--release");
        }
        other => {
            cargo.args(["--profile", other]);
        }
    }
    if let Some(triple) = triple {
        cargo.arg("--target").arg(triple);
    }
    // What cargo set for this test, not for a build: build scripts that watch
    // these (ring's watches CARGO_MANIFEST_DIR) would otherwise rebuild the
    // whole TLS stack, and the test's next build would rebuild it back.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let for_this_test = name.starts_with("CARGO_PKG_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
                "CARGO_PRIMARY_PACKAGE",
            ]
            .contains(&name.as_ref());
        if for_this_test {
            cargo.env_remove(name.as_ref());
        }
    }
    let output = cargo.output().expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo build --example keepalive failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let bin = profile_dir
        .join("examples")
        .join(format!("keepalive{}", std::env::consts::EXE_SUFFIX));
    assert!(bin.exists(), "no binary at {}", bin.display());
    bin
}

fn command(args: &[&str]) -> Command {
    let mut command = Command::new(keepalive());
    command.args(args);
    // Loopback is never proxied, but leave nothing to chance.
    for var in [
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
    ] {
        command.env_remove(var);
    }
    command
}

struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Run {
    fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Every stderr line, each of which must be a JSON event.
    fn events(&self) -> Vec<Value> {
        self.stderr.lines().map(json_event).collect()
    }

    /// The one event line named `name`.
    fn event(&self, name: &str) -> Value {
        let found: Vec<Value> = self.events().into_iter().filter(|e| e["event"] == name).collect();
        assert_eq!(found.len(), 1, "one {name} line expected:\n{}", self.stderr);
        found.into_iter().next().unwrap()
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

fn json_event(line: &str) -> Value {
    let value: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    assert!(value["event"].is_string() && value["t_ms"].is_u64(), "{line}");
    value
}

/// Runs the tool with `stdin` (then EOF) and waits for it to exit.
fn run(args: &[&str], stdin: &[u8]) -> Run {
    let mut child = command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("keepalive starts");
    let mut input = child.stdin.take().expect("piped stdin");
    let stdin = stdin.to_vec();
    thread::spawn(move || input.write_all(&stdin)); // dropped: EOF
    finish(child)
}

/// Waits for `child` to exit, at most `PATIENCE`.
fn finish(child: Child) -> Run {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || tx.send(child.wait_with_output()));
    match rx.recv_timeout(PATIENCE) {
        Ok(output) => {
            let output = output.expect("keepalive's output");
            Run {
                status: output.status,
                stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            }
        }
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("keepalive did not exit within {PATIENCE:?}");
        }
    }
}

// ------------------------------------------------------------------ servers

fn listener() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// A port where nothing listens: connections are refused.
fn refused_port() -> u16 {
    listener().1
}

/// Accepts one WebSocket and returns it with the request's headers.
fn accept(listener: &TcpListener) -> (WebSocket<TcpStream>, Vec<(String, String)>) {
    let (stream, _) = listener.accept().expect("a connection");
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut headers = Vec::new();
    let ws = tungstenite::accept_hdr(stream, |request: &Request, response: Response| {
        headers = request
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        Ok(response)
    })
    .expect("a WebSocket upgrade");
    (ws, headers)
}

/// Reads until the client closes; returns the data messages and the close code.
fn read_until_close(ws: &mut WebSocket<TcpStream>) -> (Vec<Message>, Option<u16>) {
    let mut messages = Vec::new();
    loop {
        match ws.read() {
            Ok(Message::Close(frame)) => {
                let code = frame.map(|f| u16::from(f.code));
                // Answer the close, then see the client go.
                while ws.read().is_ok() {}
                return (messages, code);
            }
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => messages.push(message),
            Ok(_) => {}
            Err(_) => return (messages, None),
        }
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

// -------------------------------------------------------------------- tests

#[test]
fn bad_urls_and_option_values_exit_1_with_the_reason() {
    let cases: [(&[&str], &str); 7] = [
        (&["ws://127.0.0.1:99999/"], "port"),
        (&["ws:///feed"], "host"),
        (&["http://127.0.0.1/"], "scheme"),
        (&["--close-code", "1234", "ws://127.0.0.1/"], "--close-code"),
        (&["--ttl", "0", "ws://127.0.0.1/"], "--ttl"),
        (&["--header", "no colon", "ws://127.0.0.1/"], "--header"),
        (&["--frobnicate", "ws://127.0.0.1/"], "unknown option"),
    ];
    for (args, reason) in cases {
        let run = run(args, b"");
        assert_eq!(run.code(), Some(1), "{args:?}: {run:?}");
        assert!(run.stderr.contains(reason), "{args:?} should say {reason:?}: {run:?}");
        assert!(run.stdout.is_empty(), "{args:?}: {run:?}");
    }
}

#[test]
fn help_lists_every_flag() {
    let run = run(&["--help"], b"");
    assert_eq!(run.code(), Some(0), "{run:?}");
    let flags = [
        "--subscribe",
        "--stdin",
        "--ttl",
        "--queue",
        "--close-code",
        "--close-reason",
        "--duration",
        "--count",
        "--events",
        "--initial-delay",
        "--max-delay",
        "--multiplier",
        "--jitter",
        "--max-attempts",
        "--max-elapsed",
        "--stable-after",
        "--seed",
        "--ping-interval",
        "--pong-timeout",
        "--idle-timeout",
        "--connect-timeout",
        "--close-timeout",
        "--happy-eyeballs-delay",
        "--header",
        "--header-file",
        "--subprotocol",
        "--proxy",
        "--no-proxy",
        "--ca-file",
        "--client-cert",
        "--client-key",
        "--max-message-size",
        "--help",
    ];
    for flag in flags {
        assert!(run.stdout.contains(flag), "--help does not list {flag}");
    }
}

#[test]
fn http_403_exits_3_with_the_reason() {
    let (listener, port) = listener();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let _ = tungstenite::accept_hdr(stream, |_: &Request, _: Response| {
                let mut refusal = ErrorResponse::new(Some("go away".into()));
                *refusal.status_mut() = tungstenite::http::StatusCode::FORBIDDEN;
                Err(refusal)
            });
        }
    });
    // Any letter case of the scheme is accepted.
    let url = format!("WS://127.0.0.1:{port}/private");
    let run = run(&["--events", "json", "--duration", "15", &url], b"");
    assert_eq!(run.code(), Some(3), "{run:?}");
    assert_eq!(run.event("rejected")["status"], 403, "{run:?}");
    let ending = run.event("ending");
    assert_eq!(ending["outcome"], "rejected");
    assert_eq!(ending["status"], 403);
    assert_eq!(ending["exit_code"], 3);
    assert!(ending["detail"].as_str().unwrap_or("").contains("403"), "{run:?}");
    assert_eq!(
        run.events().last().unwrap()["event"],
        "ending",
        "the ending line comes last"
    );

    // The readable form prints the reason too.
    let run = self::run(&["--duration", "15", &url], b"");
    assert_eq!(run.code(), Some(3), "{run:?}");
    let last = run.stderr.lines().last().unwrap_or("");
    assert!(last.contains("ended: rejected") && last.contains("403"), "{run:?}");
}

#[test]
fn refused_port_gives_up_with_exit_2() {
    let url = format!("ws://127.0.0.1:{}/", refused_port());
    let mut args = vec!["--max-attempts", "2", "--events", "json", "--duration", "15"];
    args.extend(FAST);
    args.push(&url);
    let run = run(&args, b"");
    assert_eq!(run.code(), Some(2), "{run:?}");
    assert_eq!(run.event("gave_up")["attempts"], 2);
    assert_eq!(run.event("ending")["outcome"], "gave_up");
    let failures: Vec<Value> = run
        .events()
        .into_iter()
        .filter(|e| e["event"] == "connect_failed")
        .collect();
    assert_eq!(failures.len(), 2, "{run:?}");
    assert!(failures.iter().all(|f| f["reason"] == "connection refused"), "{run:?}");
}

#[test]
fn stdin_lines_are_all_delivered_then_a_clean_close() {
    let (listener, port) = listener();
    let (tx, seen) = mpsc::channel();
    thread::spawn(move || {
        let (mut ws, _) = accept(&listener);
        let _ = tx.send(read_until_close(&mut ws));
    });
    let url = format!("ws://127.0.0.1:{port}/in");
    let input = b"one\n\xff\xfeabc\nthree\r\n\nlast without a newline";
    let run = run(&["--stdin", "--events", "json", "--duration", "15", &url], input);
    assert_eq!(run.code(), Some(0), "{run:?}");
    let (messages, close_code) = seen.recv_timeout(PATIENCE).expect("the server saw the client close");
    assert_eq!(
        messages,
        vec![
            Message::text("one"),
            Message::binary(vec![0xff, 0xfe, b'a', b'b', b'c']),
            Message::text("three"),
            Message::text(""),
            Message::text("last without a newline"),
        ]
    );
    assert_eq!(close_code, Some(1000));
    assert_eq!(run.event("undelivered")["count"], 0);
    assert_eq!(run.event("ending")["outcome"], "stopped");
}

#[test]
fn every_message_is_one_stdout_line() {
    let (listener, port) = listener();
    thread::spawn(move || {
        let (mut ws, _) = accept(&listener);
        ws.send(Message::text("first line\nsecond\\line\r\nthird")).unwrap();
        ws.send(Message::binary(vec![0x00, 0x01, 0xab])).unwrap();
        read_until_close(&mut ws);
    });
    let url = format!("ws://127.0.0.1:{port}/out");
    let run = run(&["--count", "2", "--duration", "15", &url], b"");
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert_eq!(run.stdout, "first line\\nsecond\\\\line\\r\\nthird\n0001ab\n");
}

#[test]
fn header_file_is_read_again_before_every_attempt() {
    let dir = std::env::temp_dir().join(format!("keepalive-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("headers");
    let _ = std::fs::remove_file(&file);
    let write = |text: &str| {
        let tmp = dir.join("headers.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &file).unwrap();
    };

    let (listener, port) = listener();
    let (tokens_tx, tokens) = mpsc::channel();
    let (drop_tx, drop_first) = mpsc::channel::<()>();
    thread::spawn(move || {
        let (mut first, headers) = accept(&listener);
        tokens_tx.send(header(&headers, "x-token").map(String::from)).unwrap();
        let _ = drop_first.recv_timeout(PATIENCE);
        let _ = first.get_mut().shutdown(std::net::Shutdown::Both);
        let (mut second, headers) = accept(&listener);
        tokens_tx.send(header(&headers, "x-token").map(String::from)).unwrap();
        second.send(Message::text("hello")).unwrap();
        read_until_close(&mut second);
    });

    let url = format!("ws://127.0.0.1:{port}/private");
    let file_arg = file.to_str().unwrap();
    let mut args = vec![
        "--header-file",
        file_arg,
        "--events",
        "json",
        "--count",
        "1",
        "--duration",
        "15",
    ];
    args.extend(FAST);
    args.push(&url);
    let mut child = command(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("keepalive starts");
    let events = lines_of(child.stderr.take().unwrap());
    let failed_because = |needle: &str| {
        wait_for(&events, |e| {
            e["event"] == "connect_failed" && e["detail"].as_str().is_some_and(|d| d.contains(needle))
        })
    };

    // No file yet: the attempt fails with the reason, and the schedule goes on.
    failed_because("--header-file");
    // A malformed file: the same.
    write("X-Token one\n");
    failed_because("line 1: expected 'Name: value'");
    // A good file: the next attempt carries it.
    write("# the current token\nX-Token: one\n");
    assert_eq!(tokens.recv_timeout(PATIENCE).unwrap().as_deref(), Some("one"));
    // A new token, then the link drops: the reconnect carries the new one.
    write("X-Token: two\n");
    drop_tx.send(()).unwrap();
    assert_eq!(tokens.recv_timeout(PATIENCE).unwrap().as_deref(), Some("two"));

    let run = finish(child);
    assert_eq!(run.code(), Some(0), "{run:?}");
    assert_eq!(run.stdout, "hello\n");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn undeliverable_stdin_lines_exit_4_with_the_count() {
    let url = format!("ws://127.0.0.1:{}/", refused_port());
    let mut args = vec!["--stdin", "--events", "json", "--duration", "1"];
    args.extend(FAST);
    args.push(&url);
    let run = run(&args, b"a\nb\nc\n");
    assert_eq!(run.code(), Some(4), "{run:?}");
    let undelivered = run.event("undelivered");
    assert_eq!(undelivered["count"], 3, "{run:?}");
    assert_eq!(undelivered["not_sent"], 3);
    assert_eq!(undelivered["expired"], 0);
    assert_eq!(undelivered["reasons"]["never written to a socket"], 3);
    assert_eq!(run.event("ending")["exit_code"], 4);
}

#[test]
fn expired_stdin_lines_count_as_undelivered() {
    let url = format!("ws://127.0.0.1:{}/", refused_port());
    let mut args = vec!["--stdin", "--ttl", "100", "--events", "json", "--duration", "10"];
    args.extend(FAST);
    args.push(&url);
    let run = run(&args, b"a\nb\n");
    assert_eq!(run.code(), Some(4), "{run:?}");
    let undelivered = run.event("undelivered");
    assert_eq!(undelivered["count"], 2, "{run:?}");
    assert_eq!(undelivered["expired"], 2);
    let expired: u64 = run
        .events()
        .iter()
        .filter(|e| e["event"] == "expired")
        .map(|e| e["count"].as_u64().unwrap())
        .sum();
    assert_eq!(expired, 2, "{run:?}");
}

/// The lines `stream` carries, parsed as JSON events, as they come.
fn lines_of(stream: impl std::io::Read + Send + 'static) -> Receiver<Value> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { return };
            if tx.send(json_event(&line)).is_err() {
                return;
            }
        }
    });
    rx
}

/// Waits for the first event that matches.
fn wait_for(events: &Receiver<Value>, matches: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(event) if matches(&event) => return event,
            Ok(_) => {}
            Err(e) => panic!("the event did not come: {e}"),
        }
    }
}

//! Real third-party programs as peers, each on an ephemeral loopback port:
//! tinyproxy (an HTTP CONNECT proxy), microsocks (a SOCKS5 proxy) and a
//! python-websockets server (`peers/ws_peer.py`).
//!
//! Each launcher returns `None`, after printing why, when the program is not
//! installed or does not start, so a test can skip on a machine without it
//! (`.ci/run` installs them). With `WSTETHER_REQUIRE_EXTERNAL=1` a missing
//! program fails the test instead. Each handle kills its process on drop.
//!
//! Readiness is waited for, never slept for: the python peer prints its port
//! once it listens; the proxies, which say nothing, are polled (bounded)
//! until their port accepts.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::http::Request;
use super::server::{Journal, Seen};
use super::{free_loopback_addr, lock, ms, poll_until, TempDir, PATIENCE};

/// The peer script, carried in the test binary so no path has to be found
/// at run time.
const WS_PEER_SCRIPT: &str = include_str!("peers/ws_peer.py");

/// A program that may be installed: its path, or why not.
fn find_program(name: &str) -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| format!("{name} is not installed (.ci/run installs it)"))
}

/// Says why a program is not there, where the test output shows it even
/// when captured, and gives `None`; or fails the test when external
/// programs are required.
fn unavailable<T>(what: &str, why: &str) -> Option<T> {
    if std::env::var("WSTETHER_REQUIRE_EXTERNAL").is_ok_and(|v| v == "1") {
        panic!("{what} is required (WSTETHER_REQUIRE_EXTERNAL=1) but unavailable: {why}");
    }
    // Straight to stderr: the test harness captures `eprintln!`, and a skip
    // that nobody sees hides a missing install.
    let _ = writeln!(io::stderr(), "skipping the {what} part: {why}");
    None
}

/// A started program: killed and reaped on drop, with its scratch directory.
struct Process {
    child: Child,
    dir: TempDir,
}

impl Process {
    /// Runs `program` with `args`, its output in files in `dir`.
    fn spawn(program: &Path, args: &[String], dir: TempDir, stdin: Stdio) -> io::Result<Process> {
        let stdout = std::fs::File::create(dir.path().join("stdout.log"))?;
        let stderr = std::fs::File::create(dir.path().join("stderr.log"))?;
        let child = Command::new(program)
            .args(args)
            .current_dir(dir.path())
            .stdin(stdin)
            .stdout(stdout)
            .stderr(stderr)
            .spawn()?;
        Ok(Process { child, dir })
    }

    /// What the program wrote, for messages about why it failed.
    fn output(&self) -> String {
        ["stdout.log", "stderr.log", "tinyproxy.log"]
            .iter()
            .filter_map(|name| std::fs::read_to_string(self.dir.path().join(name)).ok())
            .filter(|text| !text.trim().is_empty())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Waits (bounded) until `addr` accepts a connection; `Err` with the
    /// program's output if it exited first or the patience ran out.
    fn wait_listening(&mut self, addr: SocketAddr) -> Result<(), String> {
        let outcome = poll_until(PATIENCE, ms(10), || {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(Err(format!("exited with {status}")));
            }
            TcpStream::connect_timeout(&addr, ms(200)).ok().map(|_| Ok(()))
        });
        match outcome {
            Some(Ok(())) => Ok(()),
            Some(Err(why)) => Err(format!("{why}: {}", self.output())),
            None => Err(format!(
                "not listening on {addr} within {PATIENCE:?}: {}",
                self.output()
            )),
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a proxy that takes its port from its arguments: picks a free port,
/// starts, waits until it listens. The port is free when picked but not
/// reserved, so another process may take it first; a few attempts make
/// that harmless.
fn start_on_free_port(
    what: &str,
    program: &Path,
    args_for: impl Fn(SocketAddr, &TempDir) -> Vec<String>,
) -> Result<(Process, SocketAddr), String> {
    let mut last = String::new();
    for _ in 0..3 {
        let addr = free_loopback_addr();
        let dir = TempDir::new(what);
        let args = args_for(addr, &dir);
        let mut process = Process::spawn(program, &args, dir, Stdio::null()).map_err(|e| e.to_string())?;
        match process.wait_listening(addr) {
            Ok(()) => return Ok((process, addr)),
            Err(why) => last = why,
        }
    }
    Err(last)
}

// ---------------------------------------------------------------- tinyproxy

/// tinyproxy, an HTTP proxy, on 127.0.0.1.
pub struct Tinyproxy {
    process: Process,
    addr: SocketAddr,
}

impl Tinyproxy {
    /// Allows CONNECT to `connect_ports` (all ports when empty).
    pub fn start(connect_ports: &[u16]) -> Option<Tinyproxy> {
        Tinyproxy::launch(connect_ports, None)
    }

    /// Like [`Tinyproxy::start`], requiring `Proxy-Authorization: Basic`
    /// for `user` and `password` (a 407 otherwise).
    pub fn start_with_auth(connect_ports: &[u16], user: &str, password: &str) -> Option<Tinyproxy> {
        Tinyproxy::launch(connect_ports, Some((user, password)))
    }

    fn launch(connect_ports: &[u16], auth: Option<(&str, &str)>) -> Option<Tinyproxy> {
        let program = match find_program("tinyproxy") {
            Ok(program) => program,
            Err(why) => return unavailable("tinyproxy", &why),
        };
        let started = start_on_free_port("tinyproxy", &program, |addr, dir| {
            let config = tinyproxy_config(addr.port(), connect_ports, auth, dir.path());
            let path = dir.write("tinyproxy.conf", config);
            // -d: stay in the foreground, so the handle owns the process.
            vec!["-d".to_string(), "-c".to_string(), path.display().to_string()]
        });
        match started {
            Ok((process, addr)) => Some(Tinyproxy { process, addr }),
            Err(why) => unavailable("tinyproxy", &format!("tinyproxy did not start: {why}")),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// tinyproxy's log so far.
    pub fn log(&self) -> String {
        self.process.output()
    }
}

/// A minimal configuration: loopback only, logs in `dir`. tinyproxy cannot
/// take `Port 0`, hence the port picked beforehand. Without a `ConnectPort`
/// line tinyproxy allows CONNECT to every port (Debian's packaged config
/// has the 443 and 563 lines commented out; upstream's sample has them
/// active), so the ports are listed when the test names them.
fn tinyproxy_config(port: u16, connect_ports: &[u16], auth: Option<(&str, &str)>, dir: &Path) -> String {
    let mut config = format!(
        "Port {port}\n\
         Listen 127.0.0.1\n\
         Timeout 30\n\
         MaxClients 64\n\
         Allow 127.0.0.1\n\
         DisableViaHeader Yes\n\
         LogFile \"{}\"\n\
         LogLevel Info\n",
        dir.join("tinyproxy.log").display()
    );
    for connect_port in connect_ports {
        config.push_str(&format!("ConnectPort {connect_port}\n"));
    }
    if let Some((user, password)) = auth {
        config.push_str(&format!("BasicAuth {user} {password}\n"));
    }
    config
}

// ---------------------------------------------------------------- microsocks

/// microsocks, a SOCKS5 proxy, on 127.0.0.1.
pub struct Microsocks {
    process: Process,
    addr: SocketAddr,
}

impl Microsocks {
    /// Without authentication.
    pub fn start() -> Option<Microsocks> {
        Microsocks::launch(None)
    }

    /// Requiring RFC 1929 user/password.
    pub fn start_with_auth(user: &str, password: &str) -> Option<Microsocks> {
        Microsocks::launch(Some((user, password)))
    }

    fn launch(auth: Option<(&str, &str)>) -> Option<Microsocks> {
        let program = match find_program("microsocks") {
            Ok(program) => program,
            Err(why) => return unavailable("microsocks", &why),
        };
        let started = start_on_free_port("microsocks", &program, |addr, _| {
            let mut args = vec![
                "-i".to_string(),
                "127.0.0.1".to_string(),
                "-p".to_string(),
                addr.port().to_string(),
            ];
            if let Some((user, password)) = auth {
                args.extend([
                    "-u".to_string(),
                    user.to_string(),
                    "-P".to_string(),
                    password.to_string(),
                ]);
            }
            args
        });
        match started {
            Ok((process, addr)) => Some(Microsocks { process, addr }),
            Err(why) => unavailable("microsocks", &format!("microsocks did not start: {why}")),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `socks5h://127.0.0.1:PORT` (microsocks resolves names itself).
    pub fn url(&self) -> String {
        format!("socks5h://{}", self.addr)
    }

    pub fn log(&self) -> String {
        self.process.output()
    }
}

// ---------------------------------------------------------------- python peer

/// How the python-websockets peer behaves (see `peers/ws_peer.py`).
#[derive(Clone, Debug, Default)]
pub struct PythonPeerOptions {
    /// Subprotocols it chooses when offered (the first shared one).
    pub subprotocols: Vec<String>,
    /// The library's own keepalive pings (none by default).
    pub ping_interval: Option<Duration>,
    /// Closes every connection with this code as soon as it opens.
    pub close_on_open: Option<u16>,
    /// A header every request must carry (name, value); a 401 otherwise.
    pub require_header: Option<(String, String)>,
}

impl PythonPeerOptions {
    pub fn subprotocol(mut self, name: &str) -> Self {
        self.subprotocols.push(name.to_string());
        self
    }

    pub fn ping_interval(mut self, every: Duration) -> Self {
        self.ping_interval = Some(every);
        self
    }

    pub fn close_on_open(mut self, code: u16) -> Self {
        self.close_on_open = Some(code);
        self
    }

    pub fn require_header(mut self, name: &str, value: &str) -> Self {
        self.require_header = Some((name.to_string(), value.to_string()));
        self
    }

    fn args(&self, script: &Path) -> Vec<String> {
        let mut args = vec!["-u".to_string(), script.display().to_string()];
        for name in &self.subprotocols {
            args.extend(["--subprotocol".to_string(), name.clone()]);
        }
        if let Some(every) = self.ping_interval {
            args.extend(["--ping-interval".to_string(), every.as_secs_f64().to_string()]);
        }
        if let Some(code) = self.close_on_open {
            args.extend(["--close-on-open".to_string(), code.to_string()]);
        }
        if let Some((name, value)) = &self.require_header {
            args.extend(["--require-header".to_string(), format!("{name}:{value}")]);
        }
        args
    }
}

/// A python-websockets server on 127.0.0.1: echoes, obeys `!` commands
/// (`!close CODE`, `!ping`, `!send N PREFIX`, `!binary N`) and journals what
/// it sees like a [`super::Server`].
pub struct PythonPeer {
    child: Child,
    addr: SocketAddr,
    version: String,
    journal: Arc<Journal>,
    events: Arc<Mutex<Vec<Value>>>,
    dir: TempDir,
}

impl PythonPeer {
    pub fn start() -> Option<PythonPeer> {
        PythonPeer::start_with(PythonPeerOptions::default())
    }

    pub fn start_with(options: PythonPeerOptions) -> Option<PythonPeer> {
        let python = match find_program("python3") {
            Ok(python) => python,
            Err(why) => return unavailable("python-websockets peer", &why),
        };
        let dir = TempDir::new("ws-peer");
        let script = dir.write("ws_peer.py", WS_PEER_SCRIPT);
        let stderr = match std::fs::File::create(dir.path().join("stderr.log")) {
            Ok(file) => Stdio::from(file),
            Err(_) => Stdio::null(),
        };
        let spawned = Command::new(python)
            .args(options.args(&script))
            // The peer exits when its stdin closes: with this handle.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => return unavailable("python-websockets peer", &format!("python3 did not start: {e}")),
        };
        let journal = Arc::new(Journal::default());
        let events = Arc::new(Mutex::new(Vec::new()));
        let (ready, listening) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            let (journal, events) = (Arc::clone(&journal), Arc::clone(&events));
            thread::spawn(move || read_events(stdout, &ready, &journal, &events));
        }
        let mut peer = PythonPeer {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            version: String::new(),
            journal,
            events,
            dir,
        };
        match listening.recv_timeout(PATIENCE) {
            Ok(Ok((port, version))) => {
                peer.addr.set_port(port);
                peer.version = version;
                Some(peer)
            }
            Ok(Err(why)) => unavailable("python-websockets peer", &why),
            Err(_) => {
                let why = format!("no port within {PATIENCE:?}: {}", peer.stderr());
                unavailable("python-websockets peer", &why)
            }
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> String {
        format!("ws://{}/", self.addr)
    }

    /// The python-websockets version it runs on.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// What it saw: accepts, requests, messages, pongs, close codes, ends.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Every event line it printed, as JSON (the `open` events carry the
    /// chosen subprotocol).
    pub fn events(&self) -> Vec<Value> {
        lock(&self.events).clone()
    }

    /// What it wrote to stderr (tracebacks, the library's log).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }
}

impl Drop for PythonPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Listening = Result<(u16, String), String>;

/// Turns the peer's event lines into journal entries; the first line (its
/// port, or why it cannot run) goes to `ready`.
fn read_events(
    stdout: std::process::ChildStdout,
    ready: &mpsc::Sender<Listening>,
    journal: &Journal,
    events: &Mutex<Vec<Value>>,
) {
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        let Ok(event) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let conn = event["conn"]
            .as_u64()
            .and_then(|c| usize::try_from(c).ok())
            .unwrap_or(0);
        let at = Instant::now();
        match event["event"].as_str().unwrap_or("") {
            "listening" => {
                let port = event["port"].as_u64().and_then(|p| u16::try_from(p).ok());
                let version = event["version"].as_str().unwrap_or("?").to_string();
                let _ = ready.send(port.map(|p| (p, version)).ok_or_else(|| line.clone()));
            }
            "error" => {
                let _ = ready.send(Err(event["error"].as_str().unwrap_or(&line).to_string()));
            }
            "open" => {
                journal.push(Seen::Accepted { conn, at });
                journal.push(Seen::Request {
                    conn,
                    request: request_of(&event),
                });
            }
            "message" => {
                let text = match event["text"].as_str() {
                    Some(text) => text.to_string(),
                    None => format!("binary:{}", event["binary"].as_u64().unwrap_or(0)),
                };
                journal.push(Seen::Message { conn, text });
            }
            "pong" => journal.push(Seen::Pong { conn, at }),
            "closed" => {
                let code = event["code"].as_u64().and_then(|c| u16::try_from(c).ok());
                journal.push(Seen::Closed { conn, code });
            }
            "ended" => journal.push(Seen::Ended { conn, at }),
            _ => {}
        }
        lock(events).push(event);
    }
}

/// The upgrade request as the peer reported it (method and version are
/// what any upgrade has).
fn request_of(event: &Value) -> Request {
    let headers: Vec<(String, String)> = event["headers"]
        .as_array()
        .map(|pairs| {
            pairs
                .iter()
                .filter_map(|pair| Some((pair[0].as_str()?.to_string(), pair[1].as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let path = event["path"].as_str().unwrap_or("/").to_string();
    let head = std::iter::once(format!("GET {path} HTTP/1.1\r\n"))
        .chain(headers.iter().map(|(n, v)| format!("{n}: {v}\r\n")))
        .chain(std::iter::once("\r\n".to_string()))
        .collect();
    Request {
        method: "GET".to_string(),
        path,
        version: 1,
        headers,
        head,
    }
}

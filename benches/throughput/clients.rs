//! The four clients, each doing the same work its own usual way:
//!
//! - `raw`: `tungstenite::client` on a blocking `TcpStream`, on the caller's
//!   thread, tungstenite's defaults (128 KiB buffers): `read` per message;
//!   `write` per message and one `flush`.
//! - `session`: wstether's `Session` on the caller's thread, default limits:
//!   `poll` per message; `send` until the queue is full, then
//!   `poll(Some(ZERO))`, and a wait on the session's fd when that did not
//!   make room.
//! - `client`: wstether's `Client` (I/O thread), default limits: `recv` per
//!   message; `send_timeout` per message.
//! - `tokio`: tokio-tungstenite on a two-worker multi-thread runtime, its
//!   defaults; messages cross to / from the caller's thread through a
//!   `tokio::sync::mpsc` channel of 1024 (the Client's queue size), as an
//!   application with a blocking thread would do it: `blocking_recv` /
//!   `blocking_send` on the caller's side, one task on the runtime.
//!
//! Opt-in variants (`WSTETHER_BENCH_CLIENTS`): `session128` and `client128`,
//! wstether with `read_buffer_size` 128 KiB (tungstenite's default).
//!
//! Every client sets TCP_NODELAY (wstether always does).

use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tungstenite::{Bytes, Message, WebSocket};
use wstether::client::{Client, ClientBuilder, Incoming, SendError, Session};
use wstether::transport::Limits;
use wstether::State;

use super::common::STEP;
use super::servers;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Raw,
    Session,
    Client,
    Tokio,
    Session128,
    Client128,
}

impl Kind {
    pub const MAIN: [Kind; 4] = [Kind::Raw, Kind::Session, Kind::Client, Kind::Tokio];
    pub const ALL: [Kind; 6] = [
        Kind::Raw,
        Kind::Session,
        Kind::Client,
        Kind::Tokio,
        Kind::Session128,
        Kind::Client128,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Kind::Raw => "raw",
            Kind::Session => "session",
            Kind::Client => "client",
            Kind::Tokio => "tokio",
            Kind::Session128 => "session128",
            Kind::Client128 => "client128",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Raw => "raw tungstenite",
            Kind::Session => "wstether Session",
            Kind::Client => "wstether Client",
            Kind::Tokio => "tokio-tungstenite mt",
            Kind::Session128 => "Session, 128 KiB read buffer",
            Kind::Client128 => "Client, 128 KiB read buffer",
        }
    }

    pub fn from_key(key: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.key() == key)
    }

    fn builder(self, url: &str) -> ClientBuilder {
        let builder = ClientBuilder::new(url).seed(1);
        match self {
            Kind::Session128 | Kind::Client128 => builder.limits(Limits {
                read_buffer_size: 128 << 10,
                ..Limits::default()
            }),
            _ => builder,
        }
    }
}

fn binary(data: &Bytes) -> Message {
    Message::Binary(data.clone())
}

fn is_data(message: &Message) -> bool {
    matches!(message, Message::Binary(_) | Message::Text(_))
}

// ------------------------------------------------------------- connecting

pub fn raw_connect(url: &str) -> WebSocket<TcpStream> {
    let tcp = TcpStream::connect(url.trim_start_matches("ws://").trim_end_matches('/')).expect("tcp connect");
    tcp.set_nodelay(true).expect("nodelay");
    tcp.set_read_timeout(Some(STEP)).expect("read timeout");
    tungstenite::client(url, tcp).expect("handshake").0
}

pub fn raw_close(mut ws: WebSocket<TcpStream>) {
    let _ = ws.close(None);
    while ws.read().is_ok() {}
}

pub fn session_connect(kind: Kind, url: &str) -> Session {
    let mut session = kind.builder(url).session().expect("session");
    let deadline = Instant::now() + STEP;
    while session.state() != State::Connected {
        assert!(Instant::now() < deadline, "session did not connect");
        let _ = session.poll(Some(Duration::from_millis(5)));
    }
    session
}

pub fn session_close(mut session: Session) {
    session.close();
    let deadline = Instant::now() + STEP;
    while !session.is_finished() && Instant::now() < deadline {
        let _ = session.poll(Some(Duration::from_millis(50)));
    }
}

pub fn client_connect(kind: Kind, url: &str) -> Client {
    let client = kind.builder(url).connect().expect("client");
    let deadline = Instant::now() + STEP;
    while client.state() != State::Connected {
        assert!(Instant::now() < deadline, "client did not connect");
        std::thread::sleep(Duration::from_millis(1));
    }
    client
}

type TokioWs = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

pub async fn tokio_connect(url: &str) -> TokioWs {
    tokio_tungstenite::connect_async_with_config(url, None, true)
        .await
        .expect("tokio connect")
        .0
}

async fn tokio_close(mut ws: TokioWs) {
    let _ = ws.close(None).await;
    let _ = tokio::time::timeout(STEP, async { while let Some(Ok(_)) = ws.next().await {} }).await;
}

/// Runs the session's due work without waiting, handing nothing back (the
/// send benchmark receives nothing).
fn session_drive(session: &mut Session) {
    while session.poll(Some(Duration::ZERO)).is_some() {}
}

/// Sleeps on the session's fd for at most its timeout, as an event loop would.
fn session_wait(session: &Session) {
    let ms = match session.timeout() {
        Some(d) if d.is_zero() => return,
        Some(d) => d.as_millis().clamp(1, 1000) as i32,
        None => 1000,
    };
    let mut fd = libc::pollfd {
        fd: session.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    unsafe { libc::poll(&mut fd, 1, ms) };
}

// ---------------------------------------------------------------- receive

/// Seconds from "go" sent to the `count`-th message received.
pub fn receive(kind: Kind, url: &str, count: usize) -> f64 {
    match kind {
        Kind::Raw => {
            let mut ws = raw_connect(url);
            let start = Instant::now();
            ws.send(Message::text("go")).expect("go");
            let mut got = 0;
            while got < count {
                if is_data(&ws.read().expect("read")) {
                    got += 1;
                }
            }
            let elapsed = start.elapsed();
            raw_close(ws);
            elapsed.as_secs_f64()
        }
        Kind::Session | Kind::Session128 => {
            let mut session = session_connect(kind, url);
            let start = Instant::now();
            session.send(Message::text("go")).expect("go");
            let mut got = 0;
            while got < count {
                match session.poll(Some(STEP)) {
                    Some(Incoming::Message(_)) => got += 1,
                    Some(Incoming::Event(_)) => {}
                    None => panic!("session: timed out after {got} messages"),
                }
            }
            let elapsed = start.elapsed();
            session_close(session);
            elapsed.as_secs_f64()
        }
        Kind::Client | Kind::Client128 => {
            let client = client_connect(kind, url);
            let start = Instant::now();
            client.send(Message::text("go")).expect("go");
            for _ in 0..count {
                client.recv().expect("recv");
            }
            let elapsed = start.elapsed();
            client.close();
            elapsed.as_secs_f64()
        }
        Kind::Tokio => {
            let rt = tokio_runtime();
            let mut ws = rt.block_on(tokio_connect(url));
            let (tx, mut rx) = tokio::sync::mpsc::channel::<Message>(1024);
            let start = Instant::now();
            let task = rt.spawn(async move {
                ws.send(Message::text("go")).await.expect("go");
                let mut got = 0;
                while got < count {
                    match ws.next().await {
                        Some(Ok(message)) if is_data(&message) => {
                            got += 1;
                            if tx.send(message).await.is_err() {
                                break;
                            }
                        }
                        Some(Ok(_)) => {}
                        _ => break,
                    }
                }
                tokio_close(ws).await;
            });
            for _ in 0..count {
                rx.blocking_recv().expect("message");
            }
            let elapsed = start.elapsed();
            rt.block_on(task).expect("task");
            elapsed.as_secs_f64()
        }
    }
}

// ------------------------------------------------------------------- send

/// Seconds from the first send to the server reading the `count`-th message.
pub fn send(kind: Kind, url: &str, done: &std::sync::mpsc::Receiver<Instant>, data: &Bytes, count: usize) -> f64 {
    let wait_done = || done.recv_timeout(STEP).expect("server counted every message");
    match kind {
        Kind::Raw => {
            let mut ws = raw_connect(url);
            let start = Instant::now();
            for _ in 0..count {
                ws.write(binary(data)).expect("write");
            }
            ws.flush().expect("flush");
            let at = wait_done();
            raw_close(ws);
            (at - start).as_secs_f64()
        }
        Kind::Session | Kind::Session128 => {
            let mut session = session_connect(kind, url);
            let start = Instant::now();
            let mut sent = 0;
            let mut drove = false;
            while sent < count {
                match session.send(binary(data)) {
                    Ok(()) => {
                        sent += 1;
                        drove = false;
                    }
                    Err(SendError::Full(_)) => {
                        if drove {
                            session_wait(&session);
                        }
                        session_drive(&mut session);
                        drove = true;
                    }
                    Err(e) => panic!("session send: {e:?}"),
                }
            }
            loop {
                session_drive(&mut session);
                if session.queued() == 0 {
                    break;
                }
                session_wait(&session);
            }
            let at = wait_done();
            session_close(session);
            (at - start).as_secs_f64()
        }
        Kind::Client | Kind::Client128 => {
            let client = client_connect(kind, url);
            let start = Instant::now();
            for _ in 0..count {
                client.send_timeout(binary(data), STEP).expect("send");
            }
            let at = wait_done();
            client.close();
            (at - start).as_secs_f64()
        }
        Kind::Tokio => {
            let rt = tokio_runtime();
            let mut ws = rt.block_on(tokio_connect(url));
            let (tx, mut rx) = tokio::sync::mpsc::channel::<Message>(1024);
            let task = rt.spawn(async move {
                while let Some(message) = rx.recv().await {
                    ws.feed(message).await.expect("feed");
                    while let Ok(message) = rx.try_recv() {
                        ws.feed(message).await.expect("feed");
                    }
                    ws.flush().await.expect("flush");
                }
                tokio_close(ws).await;
            });
            let start = Instant::now();
            for _ in 0..count {
                tx.blocking_send(binary(data)).expect("send");
            }
            let at = wait_done();
            drop(tx);
            rt.block_on(task).expect("task");
            (at - start).as_secs_f64()
        }
    }
}

// ------------------------------------------------------------------- echo

/// Round trips of one 64-byte message, in microseconds, after `warmup`.
pub fn echo(kind: Kind, warmup: usize, count: usize) -> Vec<f64> {
    let (url, server) = servers::echo_server();
    let data = super::common::payload(64);
    let mut rtts = Vec::with_capacity(count);
    match kind {
        Kind::Raw => {
            let mut ws = raw_connect(&url);
            for i in 0..warmup + count {
                let start = Instant::now();
                ws.send(binary(&data)).expect("send");
                while !is_data(&ws.read().expect("read")) {}
                if i >= warmup {
                    rtts.push(start.elapsed().as_secs_f64() * 1e6);
                }
            }
            raw_close(ws);
        }
        Kind::Session | Kind::Session128 => {
            let mut session = session_connect(kind, &url);
            for i in 0..warmup + count {
                let start = Instant::now();
                session.send(binary(&data)).expect("send");
                loop {
                    match session.poll(Some(STEP)) {
                        Some(Incoming::Message(_)) => break,
                        Some(Incoming::Event(_)) => {}
                        None => panic!("session echo timed out"),
                    }
                }
                if i >= warmup {
                    rtts.push(start.elapsed().as_secs_f64() * 1e6);
                }
            }
            session_close(session);
        }
        Kind::Client | Kind::Client128 => {
            let client = client_connect(kind, &url);
            for i in 0..warmup + count {
                let start = Instant::now();
                client.send(binary(&data)).expect("send");
                client.recv().expect("recv");
                if i >= warmup {
                    rtts.push(start.elapsed().as_secs_f64() * 1e6);
                }
            }
            client.close();
        }
        Kind::Tokio => {
            let rt = tokio_runtime();
            let mut ws = rt.block_on(tokio_connect(&url));
            let (out_tx, mut out_rx) = tokio::sync::mpsc::channel::<Message>(1024);
            let (in_tx, mut in_rx) = tokio::sync::mpsc::channel::<Message>(1024);
            let task = rt.spawn(async move {
                loop {
                    tokio::select! {
                        outgoing = out_rx.recv() => match outgoing {
                            Some(message) => ws.send(message).await.expect("send"),
                            None => break,
                        },
                        incoming = ws.next() => match incoming {
                            Some(Ok(message)) if is_data(&message) => {
                                if in_tx.send(message).await.is_err() {
                                    break;
                                }
                            }
                            Some(Ok(_)) => {}
                            _ => break,
                        },
                    }
                }
                tokio_close(ws).await;
            });
            for i in 0..warmup + count {
                let start = Instant::now();
                out_tx.blocking_send(binary(&data)).expect("send");
                in_rx.blocking_recv().expect("echo");
                if i >= warmup {
                    rtts.push(start.elapsed().as_secs_f64() * 1e6);
                }
            }
            drop(out_tx);
            rt.block_on(task).expect("task");
        }
    }
    server.join().expect("echo server");
    rtts
}

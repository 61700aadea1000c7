//! A well-behaved server peer on tungstenite's server side, for tests that
//! need a correct WebSocket and no raw control: record, echo, close with a
//! code. The upgrade answer is ours (`http.rs`), so the request is
//! journalled like every other script's; the frames are tungstenite's.

use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role};
use tungstenite::{Message, WebSocket};

use super::http::Response;
use super::server::{Conn, Duplex, Journal, Seen};
use super::PATIENCE;

/// The plainest script: upgrade, then journal what arrives until the client
/// closes.
pub fn record(conn: Conn) {
    if let Some(mut peer) = conn.upgrade() {
        peer.serve();
    }
}

/// Upgrade, then send every data message back until the client closes.
pub fn echo(conn: Conn) {
    if let Some(mut peer) = conn.upgrade() {
        peer.echo();
    }
}

impl Conn {
    /// Reads the request and completes the upgrade with a correct 101 (a
    /// 400 if it was no upgrade request).
    pub fn upgrade(self) -> Option<Peer> {
        self.upgrade_with_protocol(None)
    }

    /// Like [`Conn::upgrade`], choosing `protocol` in the 101.
    pub fn upgrade_with_protocol(mut self, protocol: Option<&str>) -> Option<Peer> {
        let request = self.read_request()?;
        if request.websocket_key().is_none() {
            self.send_response(&Response::new(400));
            return None;
        }
        if !self.answer_upgrade_with_protocol(&request, protocol) {
            return None;
        }
        Some(self.into_peer())
    }

    /// Completes TLS with `config`, then the upgrade.
    pub fn upgrade_tls(self, config: Arc<rustls::ServerConfig>) -> Option<Peer> {
        self.tls(config)?.upgrade()
    }

    /// Hands over to tungstenite after the script answered the upgrade
    /// itself (see `http.rs`).
    pub fn into_peer(self) -> Peer {
        Peer {
            conn: self.conn,
            ws: WebSocket::from_raw_socket(self.io, Role::Server, None),
            tcp: self.stream,
            journal: self.journal,
        }
    }
}

/// What one read on a peer gave.
#[derive(Debug)]
pub enum Step {
    Data(Message),
    /// A ping (answered), a pong or a frame.
    Control,
    /// The client's close frame arrived (and was answered).
    Closed,
    /// Nothing before the deadline.
    TimedOut,
    /// The link ended.
    Gone,
}

/// The server side of an open WebSocket; everything read is journalled.
pub struct Peer {
    pub conn: usize,
    ws: WebSocket<Box<dyn Duplex>>,
    /// The socket, for timeouts and shutdown.
    pub tcp: TcpStream,
    journal: Arc<Journal>,
}

impl Peer {
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Sends and flushes one message.
    pub fn send(&mut self, message: impl Into<Message>) -> bool {
        self.ws.send(message.into()).is_ok()
    }

    /// Writes a message without flushing (the buffer goes out when full).
    pub fn write(&mut self, message: impl Into<Message>) -> bool {
        self.ws.write(message.into()).is_ok()
    }

    pub fn flush(&mut self) -> bool {
        self.ws.flush().is_ok()
    }

    pub fn send_ping(&mut self, payload: &[u8]) -> bool {
        self.send(Message::Ping(payload.to_vec().into()))
    }

    /// Reads one frame before `deadline`, journalling data and control
    /// frames.
    pub fn step(&mut self, deadline: Instant) -> Step {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Step::TimedOut;
        }
        let _ = self.tcp.set_read_timeout(Some(left));
        match self.ws.read() {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                let text = match &message {
                    Message::Text(t) => t.to_string(),
                    other => format!("binary:{}", other.len()),
                };
                self.journal.push(Seen::Message { conn: self.conn, text });
                Step::Data(message)
            }
            Ok(Message::Close(frame)) => {
                self.journal.push(Seen::Closed {
                    conn: self.conn,
                    code: frame.map(|f| u16::from(f.code)),
                });
                // Sends the reply.
                let _ = self.ws.flush();
                Step::Closed
            }
            Ok(Message::Ping(_)) => {
                self.journal.push(Seen::Ping {
                    conn: self.conn,
                    at: Instant::now(),
                });
                // Sends the pong now rather than on the next read.
                let _ = self.ws.flush();
                Step::Control
            }
            Ok(Message::Pong(_)) => {
                self.journal.push(Seen::Pong {
                    conn: self.conn,
                    at: Instant::now(),
                });
                Step::Control
            }
            Ok(Message::Frame(_)) => Step::Control,
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) =>
            {
                Step::TimedOut
            }
            Err(_) => Step::Gone,
        }
    }

    /// The next data message within `timeout`.
    pub fn next(&mut self, timeout: Duration) -> Option<Message> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.step(deadline) {
                Step::Data(message) => return Some(message),
                Step::Control => {}
                Step::Closed | Step::TimedOut | Step::Gone => return None,
            }
        }
    }

    /// Reads (answering pings, journalling messages) until the client closes,
    /// the link ends or the patience runs out.
    pub fn serve(&mut self) {
        let deadline = Instant::now() + PATIENCE;
        while let Step::Data(_) | Step::Control = self.step(deadline) {}
    }

    /// Sends every data message back until the client closes, the link ends
    /// or the patience runs out.
    pub fn echo(&mut self) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self.step(deadline) {
                Step::Data(message) => {
                    if !self.send(message) {
                        return;
                    }
                }
                Step::Control => {}
                Step::Closed | Step::TimedOut | Step::Gone => return,
            }
        }
    }

    /// Reads until a message satisfies `stop` (returns true), or the link ends
    /// (false).
    pub fn serve_until(&mut self, mut stop: impl FnMut(&str) -> bool) -> bool {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self.step(deadline) {
                Step::Data(message) if stop(message.to_text().unwrap_or("")) => return true,
                Step::Data(_) | Step::Control => {}
                Step::Closed | Step::TimedOut | Step::Gone => return false,
            }
        }
    }

    /// Sends a close frame with `code`, then reads (journalling what the
    /// client had already sent) until its reply or the end of the link.
    pub fn close_with(&mut self, code: u16) {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: "".into(),
        };
        let _ = self.ws.close(Some(frame));
        let deadline = Instant::now() + PATIENCE;
        while let Step::Data(_) | Step::Control = self.step(deadline) {}
    }

    /// Ends TCP in both directions without a close frame (and, over TLS,
    /// without close_notify).
    pub fn drop_tcp(self) {
        let _ = self.tcp.shutdown(Shutdown::Both);
    }

    /// Stops speaking WebSocket: reads and discards raw bytes (never
    /// answering a ping or a close) until the client hangs up.
    pub fn hold_silent(self) {
        let Peer { ws, tcp, .. } = self;
        let mut io = ws.into_inner();
        let _ = tcp.set_read_timeout(Some(PATIENCE));
        let mut buf = [0u8; 1024];
        while matches!(io.read(&mut buf), Ok(n) if n > 0) {}
    }
}

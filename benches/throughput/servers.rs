//! The servers, written so that only the client is measured: the receive
//! server writes frames encoded once, in large writes; the send server counts
//! frames with a header-only parser (payload bytes are skipped, never
//! unmasked). Both answer the upgrade by hand. The echo server is plain
//! blocking tungstenite (latency, not throughput).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tungstenite::Message;

use super::common::STEP;

/// Bytes of frames the receive server encodes once and writes repeatedly.
const BLOCK: usize = 4 << 20;
/// The send server's read size.
const READ: usize = 256 << 10;

pub fn bind() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let url = format!("ws://{}/", listener.local_addr().expect("local addr"));
    (listener, url)
}

/// Accepts one connection within `STEP` and answers its upgrade; returns the
/// socket (blocking, no delay) and the bytes read past the request.
pub fn accept_ws(listener: &TcpListener) -> io::Result<(TcpStream, Vec<u8>)> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + STEP;
    let mut tcp = loop {
        match listener.accept() {
            Ok((tcp, _)) => break tcp,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                thread::sleep(Duration::from_micros(200))
            }
            Err(e) => return Err(e),
        }
    };
    tcp.set_nonblocking(false)?;
    tcp.set_nodelay(true)?;
    tcp.set_read_timeout(Some(STEP))?;
    let mut request = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        let n = tcp.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        request.extend_from_slice(&chunk[..n]);
        if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&request[..end]).into_owned();
    let key = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("sec-websocket-key")
                .then(|| value.trim().to_string())
        })
        .ok_or_else(|| io::Error::other("no Sec-WebSocket-Key"))?;
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    write!(
        tcp,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    )?;
    Ok((tcp, request[end..].to_vec()))
}

/// Appends one unmasked, final server frame.
pub fn encode_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    out.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= 0xffff => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
}

/// Follows a client's (masked) frames by their headers only and counts them.
#[derive(Debug, Default)]
pub struct FrameCounter {
    header: [u8; 14],
    have: usize,
    skip: u64,
    opcode: u8,
    fin: bool,
    /// Final data frames (messages, as these clients never fragment).
    pub data: u64,
    pub pings: u64,
    pub close: bool,
}

impl FrameCounter {
    fn header_len(header: &[u8]) -> usize {
        let extended = match header[1] & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        2 + extended + if header[1] & 0x80 != 0 { 4 } else { 0 }
    }

    fn start_frame(&mut self, header: &[u8]) {
        self.fin = header[0] & 0x80 != 0;
        self.opcode = header[0] & 0x0f;
        self.skip = match header[1] & 0x7f {
            126 => u64::from(u16::from_be_bytes([header[2], header[3]])),
            127 => u64::from_be_bytes(header[2..10].try_into().expect("8 bytes")),
            n => u64::from(n),
        };
        if self.skip == 0 {
            self.end_frame();
        }
    }

    fn end_frame(&mut self) {
        match self.opcode {
            0..=2 if self.fin => self.data += 1,
            8 => self.close = true,
            9 => self.pings += 1,
            _ => {}
        }
    }

    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = bytes.len().min(usize::try_from(self.skip).unwrap_or(usize::MAX));
                bytes = &bytes[n..];
                self.skip -= n as u64;
                if self.skip == 0 {
                    self.end_frame();
                }
                continue;
            }
            // A whole header at hand: parse it in place.
            if self.have == 0 && bytes.len() >= 2 {
                let len = Self::header_len(bytes);
                if bytes.len() >= len {
                    self.start_frame(&bytes[..len]);
                    bytes = &bytes[len..];
                    continue;
                }
            }
            self.header[self.have] = bytes[0];
            self.have += 1;
            bytes = &bytes[1..];
            if self.have >= 2 && self.have == Self::header_len(&self.header[..self.have]) {
                let header = self.header;
                self.have = 0;
                self.start_frame(&header);
            }
        }
    }
}

/// Answers the client's close frame (once `counter` saw it), closes our side
/// and waits briefly for the client to close its own.
fn finish(mut tcp: TcpStream, counter: &mut FrameCounter, buf: &mut [u8]) {
    tcp.set_read_timeout(Some(Duration::from_secs(5))).ok();
    while !counter.close {
        match tcp.read(buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => counter.feed(&buf[..n]),
        }
    }
    let _ = tcp.write_all(&[0x88, 0x02, 0x03, 0xe8]);
    let _ = tcp.shutdown(Shutdown::Write);
    tcp.set_read_timeout(Some(Duration::from_secs(2))).ok();
    while let Ok(n) = tcp.read(buf) {
        if n == 0 {
            break;
        }
    }
}

/// The frames the receive server writes: `size`-byte binary messages encoded
/// once, as many as fit in `BLOCK` (at least one, at most `count`).
pub fn encoded_block(size: usize, count: usize) -> (Vec<u8>, usize) {
    let payload = super::common::payload(size);
    let mut one = Vec::new();
    encode_frame(&mut one, 2, &payload);
    let frames = (BLOCK / one.len()).clamp(1, count.max(1));
    let mut block = Vec::with_capacity(frames * one.len());
    for _ in 0..frames {
        block.extend_from_slice(&one);
    }
    (block, one.len())
}

/// Waits for one data message ("go"), then writes `count` binary messages of
/// `size` bytes from a block encoded once, in writes of up to 4 MiB; then
/// answers the client's close.
pub fn receive_server(size: usize, count: usize) -> (String, JoinHandle<()>) {
    let (listener, url) = bind();
    let (block, frame) = encoded_block(size, count);
    let handle = thread::Builder::new()
        .name("bench-server".into())
        .spawn(move || serve_receive(&listener, &block, frame, count))
        .expect("server thread");
    (url, handle)
}

pub fn serve_receive(listener: &TcpListener, block: &[u8], frame: usize, count: usize) {
    let Ok((mut tcp, rest)) = accept_ws(listener) else {
        return;
    };
    let mut counter = FrameCounter::default();
    counter.feed(&rest);
    let mut buf = vec![0u8; 64 << 10];
    while counter.data == 0 {
        match tcp.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => counter.feed(&buf[..n]),
        }
    }
    let per_block = block.len() / frame;
    let mut left = count;
    while left > 0 {
        let n = left.min(per_block);
        if tcp.write_all(&block[..n * frame]).is_err() {
            return;
        }
        left -= n;
    }
    finish(tcp, &mut counter, &mut buf);
}

/// Counts the client's messages; sends the instant the `count`-th arrived
/// (read from the socket), then answers the client's close.
pub fn send_server(count: usize) -> (String, mpsc::Receiver<Instant>, JoinHandle<()>) {
    let (listener, url) = bind();
    let (done_tx, done_rx) = mpsc::channel();
    let handle = thread::Builder::new()
        .name("bench-server".into())
        .spawn(move || {
            serve_send(&listener, count, |at| {
                let _ = done_tx.send(at);
            })
        })
        .expect("server thread");
    (url, done_rx, handle)
}

pub fn serve_send(listener: &TcpListener, count: usize, mut done: impl FnMut(Instant)) {
    let Ok((mut tcp, rest)) = accept_ws(listener) else {
        return;
    };
    let mut counter = FrameCounter::default();
    counter.feed(&rest);
    let mut buf = vec![0u8; READ];
    let mut reported = false;
    loop {
        if !reported && counter.data >= count as u64 {
            done(Instant::now());
            reported = true;
        }
        if counter.close {
            break;
        }
        match tcp.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => counter.feed(&buf[..n]),
        }
    }
    finish(tcp, &mut counter, &mut buf);
}

/// A blocking tungstenite server on a thread for one connection: echoes data
/// messages until the client closes.
pub fn echo_server() -> (String, JoinHandle<()>) {
    let (listener, url) = bind();
    let handle = thread::Builder::new()
        .name("bench-server".into())
        .spawn(move || {
            let Ok((tcp, _)) = accept_plain(&listener) else {
                return;
            };
            let Ok(mut ws) = tungstenite::accept(tcp) else {
                return;
            };
            while let Ok(message) = ws.read() {
                if matches!(message, Message::Binary(_) | Message::Text(_)) && ws.send(message).is_err() {
                    return;
                }
            }
        })
        .expect("server thread");
    (url, handle)
}

/// Accepts one TCP connection within `STEP` (blocking, no delay).
pub fn accept_plain(listener: &TcpListener) -> io::Result<(TcpStream, ())> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + STEP;
    loop {
        match listener.accept() {
            Ok((tcp, _)) => {
                tcp.set_nonblocking(false)?;
                tcp.set_nodelay(true)?;
                tcp.set_read_timeout(Some(STEP))?;
                return Ok((tcp, ()));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                thread::sleep(Duration::from_micros(200))
            }
            Err(e) => return Err(e),
        }
    }
}

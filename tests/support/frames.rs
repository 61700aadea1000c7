//! The WebSocket frame codec for raw peers: unmasked server frames with any
//! opcode, flags and close code (valid or not — 999, 1005, 1006, 1015, 5000
//! are all just two bytes here), fragmented messages, pre-encoded batches
//! for floods; and a reader of client frames (masked, unmasked on parse)
//! that waits no longer than a deadline.
//!
//! No validation on purpose: the peer under test must be the one to judge.

use std::io::{self, Read};
use std::net::TcpStream;
use std::time::Instant;

/// The opcodes of RFC 6455 §5.2.
pub mod opcode {
    pub const CONTINUATION: u8 = 0x0;
    pub const TEXT: u8 = 0x1;
    pub const BINARY: u8 = 0x2;
    pub const CLOSE: u8 = 0x8;
    pub const PING: u8 = 0x9;
    pub const PONG: u8 = 0xA;
}

/// A payload announced longer than this is taken as a broken stream rather
/// than buffered: the reader stays bounded.
pub const MAX_PAYLOAD: u64 = 64 << 20;

/// One frame, as parsed (payload unmasked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    /// RSV1..3 as the low three bits.
    pub rsv: u8,
    pub opcode: u8,
    /// The masking key, if the frame was masked (client frames must be).
    pub mask: Option<[u8; 4]>,
    pub payload: Vec<u8>,
}

/// The old name, kept for the tests that use it.
pub type RawFrame = Frame;

impl Frame {
    /// The code of a close frame (`None`: no code in it, which the peer sees
    /// as 1005).
    pub fn close_code(&self) -> Option<u16> {
        match self.payload.as_slice() {
            [a, b, ..] if self.opcode == opcode::CLOSE => Some(u16::from_be_bytes([*a, *b])),
            _ => None,
        }
    }

    /// The payload as text, if it is UTF-8.
    pub fn text(&self) -> Option<&str> {
        std::str::from_utf8(&self.payload).ok()
    }

    pub fn is_control(&self) -> bool {
        self.opcode & 0x8 != 0
    }
}

// ---------------------------------------------------------------- encoding

/// The header of an unmasked frame announcing `len` payload bytes.
pub fn frame_header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | (opcode & 0x0F)];
    push_length(&mut out, 0, len);
    out
}

fn push_length(out: &mut Vec<u8>, mask_bit: u8, len: u64) {
    if len < 126 {
        out.push(mask_bit | len as u8);
    } else if let Ok(short) = u16::try_from(len) {
        out.push(mask_bit | 126);
        out.extend_from_slice(&short.to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// An unmasked (server) frame.
pub fn server_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = frame_header(fin, opcode, payload.len() as u64);
    out.extend_from_slice(payload);
    out
}

/// A masked (client) frame, for tests that play the client by hand.
pub fn client_frame(fin: bool, opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut out = vec![(u8::from(fin) << 7) | (opcode & 0x0F)];
    push_length(&mut out, 0x80, payload.len() as u64);
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// A server frame with RSV bits set (`rsv` in the low three bits), which a
/// peer that negotiated no extension must reject.
pub fn server_frame_with_rsv(rsv: u8, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = server_frame(true, opcode, payload);
    out[0] |= (rsv & 0x7) << 4;
    out
}

pub fn text(text: &str) -> Vec<u8> {
    server_frame(true, opcode::TEXT, text.as_bytes())
}

pub fn binary(payload: &[u8]) -> Vec<u8> {
    server_frame(true, opcode::BINARY, payload)
}

pub fn ping(payload: &[u8]) -> Vec<u8> {
    server_frame(true, opcode::PING, payload)
}

pub fn pong(payload: &[u8]) -> Vec<u8> {
    server_frame(true, opcode::PONG, payload)
}

/// A close frame with any code at all and a reason.
pub fn close(code: u16, reason: &str) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    server_frame(true, opcode::CLOSE, &payload)
}

/// A close frame without a code (the peer reports 1005).
pub fn close_without_code() -> Vec<u8> {
    server_frame(true, opcode::CLOSE, &[])
}

/// One message split into frames: `parts` in order, the first with
/// `opcode`, the rest continuations, FIN on the last.
pub fn fragments(opcode: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let op = if i == 0 { opcode } else { opcode::CONTINUATION };
        out.extend(server_frame(i + 1 == parts.len(), op, part));
    }
    out
}

/// `payload` as one message in `pieces` fragments of about equal size.
pub fn fragmented(opcode: u8, payload: &[u8], pieces: usize) -> Vec<u8> {
    let size = payload.len().div_ceil(pieces.max(1)).max(1);
    let parts: Vec<&[u8]> = payload.chunks(size).collect();
    if parts.is_empty() {
        return server_frame(true, opcode, &[]);
    }
    fragments(opcode, &parts)
}

/// `frame` repeated `n` times in one buffer: a batch to write in one call,
/// as fast as the socket takes it.
pub fn repeated(frame: &[u8], n: usize) -> Vec<u8> {
    frame.repeat(n)
}

/// Several frames in one buffer.
pub fn batch<I: IntoIterator<Item = Vec<u8>>>(frames: I) -> Vec<u8> {
    frames.into_iter().flatten().collect()
}

// ---------------------------------------------------------------- decoding

/// Parses one frame (masked or not) from the front of `buf`: the frame and
/// the bytes it took; `Ok(None)` if `buf` does not hold a whole frame yet;
/// `Err` if the frame announces more than [`MAX_PAYLOAD`].
pub fn parse(buf: &[u8]) -> Result<Option<(Frame, usize)>, u64> {
    let (Some(&b0), Some(&b1)) = (buf.first(), buf.get(1)) else {
        return Ok(None);
    };
    let (len, mut at) = match b1 & 0x7F {
        126 => match buf.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(b) => (u64::from_be_bytes(b.try_into().unwrap_or_default()), 10),
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    if len > MAX_PAYLOAD {
        return Err(len);
    }
    let mask = if b1 & 0x80 != 0 {
        let Some(m) = buf.get(at..at + 4) else { return Ok(None) };
        at += 4;
        Some([m[0], m[1], m[2], m[3]])
    } else {
        None
    };
    // Bounded by MAX_PAYLOAD, so it fits.
    let end = at + len as usize;
    let Some(payload) = buf.get(at..end) else {
        return Ok(None);
    };
    let payload = match mask {
        Some(mask) => payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect(),
        None => payload.to_vec(),
    };
    let frame = Frame {
        fin: b0 & 0x80 != 0,
        rsv: (b0 >> 4) & 0x7,
        opcode: b0 & 0x0F,
        mask,
        payload,
    };
    Ok(Some((frame, end)))
}

/// Parses every whole frame in `buf` (a server's output, say).
pub fn parse_all(mut buf: &[u8]) -> Vec<Frame> {
    let mut frames = Vec::new();
    while let Ok(Some((frame, used))) = parse(buf) {
        frames.push(frame);
        buf = &buf[used..];
    }
    frames
}

/// What one read of a frame gave.
#[derive(Debug)]
pub enum RawStep {
    Frame(Frame),
    /// Nothing whole before the deadline (a partial frame stays buffered).
    TimedOut,
    /// The link ended, failed, or carried something that is not a frame.
    Gone,
}

/// Reads frames from a stream, buffering partial ones between calls.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
    /// Where the unparsed bytes start in `buf`: parsed frames are dropped
    /// from the front in bulk, not one by one, so a flood of small frames
    /// costs no quadratic copying.
    start: usize,
}

impl FrameReader {
    pub fn new() -> FrameReader {
        FrameReader::default()
    }

    /// Starts with bytes already read past the HTTP head.
    pub fn with_bytes(buf: Vec<u8>) -> FrameReader {
        FrameReader { buf, start: 0 }
    }

    /// Bytes read but not yet parsed into a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Reads one whole frame from `io` before `deadline`; `tcp` is the
    /// socket under `io` (the same one, or the one under TLS), whose read
    /// timeout bounds each read.
    pub fn read(&mut self, io: &mut dyn Read, tcp: &TcpStream, deadline: Instant) -> RawStep {
        loop {
            match parse(&self.buf[self.start..]) {
                Ok(Some((frame, used))) => {
                    self.start += used;
                    return RawStep::Frame(frame);
                }
                Ok(None) => {}
                Err(_) => return RawStep::Gone,
            }
            self.buf.drain(..self.start);
            self.start = 0;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return RawStep::TimedOut;
            }
            let _ = tcp.set_read_timeout(Some(left));
            let mut chunk = [0u8; 64 * 1024];
            match io.read(&mut chunk) {
                Ok(0) => return RawStep::Gone,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                    return RawStep::TimedOut
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return RawStep::Gone,
            }
        }
    }
}

//! The data frames the client writes itself: header, masking key and masked
//! payload, straight into the link's output.
//!
//! Tungstenite encodes each frame into a buffer of its own (one more copy of
//! every byte) and draws each masking key from its random number generator
//! one at a time; on small messages that is most of the cost of sending.
//! Control frames (pings, pongs, close) still go through tungstenite.
//!
//! RFC 6455 §5.3: every client frame is masked with a fresh key from a strong
//! source of entropy. The keys come from rand's thread-local generator
//! (ChaCha, seeded by the operating system) — tungstenite's own source —
//! drawn 64 at a time.
//!
//! Also the one reader of a frame's header, for the inbox and the close
//! sniffer, which follow the server's frames without decoding them.

use std::vec::Vec;

/// Masking keys drawn in bulk.
pub(crate) struct Masks {
    keys: [u8; 256],
    next: usize,
}

impl Masks {
    pub(crate) fn new() -> Masks {
        Masks {
            keys: [0; 256],
            next: 256,
        }
    }

    /// A fresh key.
    fn next_key(&mut self) -> [u8; 4] {
        if self.next + 4 > self.keys.len() {
            rand::fill(&mut self.keys[..]);
            self.next = 0;
        }
        let mut key = [0; 4];
        key.copy_from_slice(&self.keys[self.next..self.next + 4]);
        self.next += 4;
        key
    }
}

impl core::fmt::Debug for Masks {
    /// Keys are never shown.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Masks")
    }
}

/// Appends one final, masked text (`text`) or binary frame carrying `payload`.
pub(crate) fn write_data_frame(out: &mut Vec<u8>, masks: &mut Masks, text: bool, payload: &[u8]) {
    let key = masks.next_key();
    let mut header = [0u8; 14];
    header[0] = if text { 0x81 } else { 0x82 };
    let length_end = match payload.len() {
        n @ 0..=125 => {
            header[1] = 0x80 | n as u8;
            2
        }
        n @ 126..=65_535 => {
            header[1] = 0x80 | 126;
            header[2..4].copy_from_slice(&(n as u16).to_be_bytes());
            4
        }
        n => {
            header[1] = 0x80 | 127;
            header[2..10].copy_from_slice(&(n as u64).to_be_bytes());
            10
        }
    };
    header[length_end..length_end + 4].copy_from_slice(&key);
    out.reserve(length_end + 4 + payload.len());
    out.extend_from_slice(&header[..length_end + 4]);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], key);
}

/// XORs `buf` with the key repeated: 32 bytes at a time, a loop the
/// compiler turns into vector instructions, then byte by byte.
fn apply_mask(buf: &mut [u8], key: [u8; 4]) {
    let mut wide = [0u8; 32];
    for (i, byte) in wide.iter_mut().enumerate() {
        *byte = key[i & 3];
    }
    let mut chunks = buf.chunks_exact_mut(32);
    for chunk in &mut chunks {
        for (byte, k) in chunk.iter_mut().zip(wide.iter()) {
            *byte ^= k;
        }
    }
    // The remainder starts at a multiple of 32, so at key byte 0.
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= key[i & 3];
    }
}

/// The frame header at the start of `bytes`: its first byte (FIN, reserved
/// bits, opcode), the header's length (a masking key included) and the
/// payload's; `None` while the header is not whole.
pub(crate) fn parse_header(bytes: &[u8]) -> Option<(u8, usize, u64)> {
    let (&first, &second) = (bytes.first()?, bytes.get(1)?);
    let masked = second & 0x80 != 0;
    let (extended, short) = match second & 0x7f {
        126 => (2, 0),
        127 => (8, 0),
        short => (0, u64::from(short)),
    };
    let header_len = 2 + extended + if masked { 4 } else { 0 };
    let header = bytes.get(..header_len)?;
    let length = match extended {
        0 => short,
        n => header[2..2 + n].iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
    };
    Some((first, header_len, length))
}

/// A server's frame as it arrives: unmasked, `first` its first byte (FIN,
/// reserved bits, opcode), the shortest length encoding. For tests that
/// play a server byte by byte.
#[cfg(test)]
pub(crate) fn server_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = std::vec![first];
    match payload.len() {
        n if n < 126 => frame.push(n as u8),
        n if n <= 0xffff => {
            frame.push(126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(payload);
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bytes of a masked client frame carrying `len` payload bytes.
    fn frame_len(len: usize) -> u64 {
        let extended = match len {
            0..=125 => 0,
            126..=65_535 => 2,
            _ => 8,
        };
        (2 + extended + 4 + len) as u64
    }

    /// Decodes one client frame: (opcode byte, payload unmasked, frame length).
    fn decode(frame: &[u8]) -> (u8, Vec<u8>, usize) {
        assert_eq!(frame[1] & 0x80, 0x80, "client frames are masked");
        let (len, mut at) = match frame[1] & 0x7f {
            126 => (usize::from(u16::from_be_bytes([frame[2], frame[3]])), 4),
            127 => {
                let mut n = [0; 8];
                n.copy_from_slice(&frame[2..10]);
                (usize::try_from(u64::from_be_bytes(n)).unwrap(), 10)
            }
            n => (usize::from(n), 2),
        };
        let key = [frame[at], frame[at + 1], frame[at + 2], frame[at + 3]];
        at += 4;
        let payload = frame[at..at + len]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ key[i % 4])
            .collect();
        (frame[0], payload, at + len)
    }

    #[test]
    fn frames_of_every_length_class_decode_to_their_payload() {
        let mut rng = fastrand::Rng::with_seed(3);
        let mut masks = Masks::new();
        for len in [0, 1, 7, 8, 9, 125, 126, 127, 1000, 65_535, 65_536, 70_001] {
            let payload: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
            let mut out = std::vec![0xEE; 3]; // what was queued before
            write_data_frame(&mut out, &mut masks, len % 2 == 0, &payload);
            let (first, decoded, frame) = decode(&out[3..]);
            assert_eq!(first, if len % 2 == 0 { 0x81 } else { 0x82 });
            assert_eq!(decoded, payload, "length {len}");
            assert_eq!(frame as u64, frame_len(len));
            assert_eq!(out.len(), 3 + frame);
        }
    }

    #[test]
    fn every_frame_gets_a_fresh_key() {
        let mut masks = Masks::new();
        let keys: std::collections::HashSet<[u8; 4]> = (0..1000).map(|_| masks.next_key()).collect();
        // 1000 random 32-bit keys collide with a chance of about 1e-4.
        assert!(keys.len() >= 998, "{} distinct keys", keys.len());
    }

    #[test]
    fn the_mask_matches_byte_by_byte_masking_at_every_length() {
        let key = [0x12, 0x34, 0x56, 0x78];
        for len in 0..100 {
            let mut buf: Vec<u8> = (0..len as u8).collect();
            apply_mask(&mut buf, key);
            let expected: Vec<u8> = (0..len as u8).enumerate().map(|(i, b)| b ^ key[i % 4]).collect();
            assert_eq!(buf, expected);
        }
    }
}

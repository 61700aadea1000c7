//! The close code the server actually sent.
//!
//! Tungstenite rewrites a close code that must not appear on the wire (999,
//! 1005, 1006, 1015, 2999, 5000, …) to 1002 before it reports it, and a 1002
//! is a permanent failure. To report and classify what the server really
//! sent, this follows the frame headers of the inbound byte stream (the
//! server's frames are unmasked and their lengths are in the headers) and
//! keeps the code of the first close frame: the one tungstenite reports.
//! Nothing after it is a frame to tungstenite (it refuses a frame after the
//! server's close), so the follower stops there; bytes that came in the same
//! read must not replace the code. It looks at headers only; payload bytes
//! are skipped in bulk.

use super::frame;

/// Follows server frames in the plaintext stream.
#[derive(Clone, Debug, Default)]
pub(crate) struct CloseSniffer {
    header: [u8; 14],
    /// Header bytes gathered so far.
    have: u8,
    /// Payload bytes of the current frame still to skip.
    remaining: u64,
    /// The current frame is a close frame; its code bytes as they arrive.
    close: Option<([u8; 2], u8)>,
    /// The first close frame: `Some(None)` when it carried no code.
    first: Option<Option<u16>>,
}

impl CloseSniffer {
    /// The code of the server's first close frame: `Some(None)` for a close
    /// frame without a code, `None` when no close frame has arrived.
    pub(crate) fn server_close(&self) -> Option<Option<u16>> {
        self.first
    }

    /// Follows `bytes`, the next plaintext bytes from the server, up to the
    /// end of its first close frame.
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() && self.first.is_none() {
            if self.remaining > 0 {
                bytes = self.skip_payload(bytes);
                continue;
            }
            if self.have == 0 {
                // The usual case, whole frames at hand: skip them in tight
                // loops; this runs for every frame received.
                bytes = skip_short_frames(bytes);
                if bytes.is_empty() {
                    break;
                }
                if let Some((is_close, header_len, length)) = parse_header(bytes) {
                    bytes = &bytes[header_len..];
                    match usize::try_from(length) {
                        Ok(length) if !is_close && length <= bytes.len() => bytes = &bytes[length..],
                        _ => self.start_frame(is_close, length),
                    }
                    continue;
                }
            }
            // A header split between reads: gather it byte by byte.
            self.header[usize::from(self.have)] = bytes[0];
            self.have += 1;
            bytes = &bytes[1..];
            if let Some((is_close, _, length)) = parse_header(&self.header[..usize::from(self.have)]) {
                self.have = 0;
                self.start_frame(is_close, length);
            }
        }
    }

    fn start_frame(&mut self, is_close: bool, length: u64) {
        self.remaining = length;
        if is_close {
            self.close = Some(([0; 2], 0));
        }
        if length == 0 {
            self.end_frame();
        }
    }

    /// Skips payload bytes of the current frame; returns what follows it.
    fn skip_payload<'a>(&mut self, bytes: &'a [u8]) -> &'a [u8] {
        let take = bytes.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        if let Some((code, have)) = &mut self.close {
            for &byte in &bytes[..take] {
                if usize::from(*have) < code.len() {
                    code[usize::from(*have)] = byte;
                    *have += 1;
                }
            }
        }
        self.remaining -= take as u64;
        if self.remaining == 0 {
            self.end_frame();
        }
        &bytes[take..]
    }

    fn end_frame(&mut self) {
        if let Some((code, have)) = self.close.take() {
            self.first = Some((have == 2).then(|| u16::from_be_bytes(code)));
        }
    }
}

/// Skips whole unmasked frames with payloads under 126 bytes and no close
/// among them (most of what a feed sends): two header bytes each.
fn skip_short_frames(mut bytes: &[u8]) -> &[u8] {
    while let [first, second, ..] = *bytes {
        let end = 2 + usize::from(second);
        if second >= 126 || first & 0x0f == 0x8 || bytes.len() < end {
            break;
        }
        bytes = &bytes[end..];
    }
    bytes
}

/// Whether the frame header at the start of `bytes` opens a close frame,
/// the header's length and the payload's; `None` when incomplete.
fn parse_header(bytes: &[u8]) -> Option<(bool, usize, u64)> {
    let (first, header_len, length) = frame::parse_header(bytes)?;
    Some((first & 0x0f == 0x8, header_len, length))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close_frame(code: Option<u16>, reason: &str) -> std::vec::Vec<u8> {
        let mut payload = std::vec::Vec::new();
        if let Some(code) = code {
            payload.extend_from_slice(&code.to_be_bytes());
        }
        payload.extend_from_slice(reason.as_bytes());
        frame(0x8, &payload)
    }

    #[test]
    fn finds_the_code_behind_data_frames_in_any_split() {
        let mut stream = std::vec![0x81, 126, 0x01, 0x00];
        stream.extend(core::iter::repeat_n(b'x', 256));
        stream.extend_from_slice(&[0x89, 0x00]); // an empty ping
        stream.extend(close_frame(Some(1006), "bye"));
        for split in 1..stream.len() {
            let mut sniffer = CloseSniffer::default();
            for chunk in stream.chunks(split) {
                sniffer.feed(chunk);
            }
            assert_eq!(sniffer.server_close(), Some(Some(1006)), "split {split}");
        }
    }

    /// Found by fuzzing the client's read path: a close frame followed, in
    /// the same read, by another close frame (or bytes that look like one)
    /// was reported with the later code, and without the first one's reason.
    #[test]
    fn bytes_after_the_first_close_do_not_replace_its_code() {
        let mut stream = close_frame(Some(4001), "first");
        stream.extend(close_frame(Some(1006), ""));
        stream.extend(close_frame(None, ""));
        stream.extend_from_slice(&[0x88, 0x7e, 0x00]); // a header cut short
        for split in 1..=stream.len() {
            let mut sniffer = CloseSniffer::default();
            for chunk in stream.chunks(split) {
                sniffer.feed(chunk);
            }
            assert_eq!(sniffer.server_close(), Some(Some(4001)), "split {split}");
        }
        let mut sniffer = CloseSniffer::default();
        sniffer.feed(&close_frame(None, ""));
        sniffer.feed(&close_frame(Some(1000), ""));
        assert_eq!(sniffer.server_close(), Some(None));
    }

    #[test]
    fn a_close_without_a_code_and_no_close_at_all() {
        let mut sniffer = CloseSniffer::default();
        sniffer.feed(&[0x81, 0x02, b'h', b'i']);
        assert_eq!(sniffer.server_close(), None);
        sniffer.feed(&close_frame(None, ""));
        assert_eq!(sniffer.server_close(), Some(None));
        let mut sniffer = CloseSniffer::default();
        sniffer.feed(&close_frame(Some(999), ""));
        assert_eq!(sniffer.server_close(), Some(Some(999)));
    }

    /// A final server frame with `opcode`.
    fn frame(opcode: u8, payload: &[u8]) -> std::vec::Vec<u8> {
        crate::transport::frame::server_frame(0x80 | opcode, payload)
    }

    #[test]
    fn random_frame_sequences_in_random_splits_find_the_first_close() {
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..100 {
            let (mut stream, mut expected) = (std::vec::Vec::new(), None);
            for _ in 0..rng.usize(1..40) {
                let size = match rng.u8(0..4) {
                    0 => 0,
                    1 => rng.usize(1..126),
                    2 => rng.usize(126..2000),
                    _ => rng.usize(65_536..70_000),
                };
                if rng.u8(0..8) == 0 {
                    let code = rng.u16(..);
                    let payload = match rng.bool() {
                        true => code.to_be_bytes().to_vec(),
                        false => std::vec::Vec::new(),
                    };
                    expected = expected.or(Some((payload.len() == 2).then_some(code)));
                    stream.extend(frame(0x8, &payload));
                } else {
                    let payload: std::vec::Vec<u8> = (0..size).map(|_| rng.u8(..)).collect();
                    stream.extend(frame([0x1, 0x2, 0x9, 0xa][rng.usize(..4)], &payload));
                }
            }
            let mut sniffer = CloseSniffer::default();
            let mut rest = &stream[..];
            while !rest.is_empty() {
                let take = rng.usize(1..=rest.len().min(3000));
                sniffer.feed(&rest[..take]);
                rest = &rest[take..];
            }
            assert_eq!(sniffer.server_close(), expected);
        }
    }

    #[test]
    fn huge_lengths_and_garbage_do_not_panic() {
        let mut sniffer = CloseSniffer::default();
        sniffer.feed(&[0x82, 127, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3]);
        let mut rng = fastrand::Rng::with_seed(1);
        let mut bytes = [0u8; 4096];
        for _ in 0..100 {
            rng.fill(&mut bytes);
            CloseSniffer::default().feed(&bytes);
        }
    }
}

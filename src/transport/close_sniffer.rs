//! The close code the server actually sent.
//!
//! Tungstenite rewrites a close code that must not appear on the wire (999,
//! 1005, 1006, 1015, 2999, 5000, …) to 1002 before it reports it, and a 1002
//! is a permanent failure. To report and classify what the server really
//! sent, this follows the frame headers of the inbound byte stream (the
//! server's frames are unmasked and their lengths are in the headers) and
//! keeps the code of the last close frame. It looks at headers only; payload
//! bytes are skipped in bulk.

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
    /// The last close frame: `Some(None)` when it carried no code.
    last: Option<Option<u16>>,
}

impl CloseSniffer {
    /// The code of the last close frame seen: `Some(None)` for a close frame
    /// without a code, `None` when no close frame has arrived.
    pub(crate) fn last_close(&self) -> Option<Option<u16>> {
        self.last
    }

    /// Follows `bytes`, the next plaintext bytes from the server.
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            if self.remaining > 0 {
                let take = bytes.len().min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                if let Some((code, have)) = &mut self.close {
                    for &byte in &bytes[..take] {
                        if usize::from(*have) < code.len() {
                            code[usize::from(*have)] = byte;
                            *have += 1;
                        }
                    }
                }
                bytes = &bytes[take..];
                self.remaining -= take as u64;
                if self.remaining == 0 {
                    self.end_frame();
                }
                continue;
            }
            self.header[usize::from(self.have)] = bytes[0];
            self.have += 1;
            bytes = &bytes[1..];
            if let Some((is_close, length)) = self.parse_header() {
                self.have = 0;
                self.close = is_close.then_some(([0; 2], 0));
                self.remaining = length;
                if length == 0 {
                    self.end_frame();
                }
            }
        }
    }

    /// The opcode and payload length once the header is complete.
    fn parse_header(&self) -> Option<(bool, u64)> {
        let have = usize::from(self.have);
        if have < 2 {
            return None;
        }
        let masked = self.header[1] & 0x80 != 0;
        let (extended, base) = match self.header[1] & 0x7f {
            126 => (2, 2),
            127 => (8, 2),
            short => (0, u64::from(short)),
        };
        let needed = 2 + extended + if masked { 4 } else { 0 };
        if have < needed {
            return None;
        }
        let length = match extended {
            0 => base,
            n => self.header[2..2 + n]
                .iter()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
        };
        let is_close = self.header[0] & 0x0f == 0x8;
        Some((is_close, length))
    }

    fn end_frame(&mut self) {
        if let Some((code, have)) = self.close.take() {
            self.last = Some((have == 2).then(|| u16::from_be_bytes(code)));
        }
    }
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
        let mut frame = std::vec![0x88, payload.len() as u8];
        frame.extend_from_slice(&payload);
        frame
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
            assert_eq!(sniffer.last_close(), Some(Some(1006)), "split {split}");
        }
    }

    #[test]
    fn a_close_without_a_code_and_no_close_at_all() {
        let mut sniffer = CloseSniffer::default();
        sniffer.feed(&[0x81, 0x02, b'h', b'i']);
        assert_eq!(sniffer.last_close(), None);
        sniffer.feed(&close_frame(None, ""));
        assert_eq!(sniffer.last_close(), Some(None));
        let mut sniffer = CloseSniffer::default();
        sniffer.feed(&close_frame(Some(999), ""));
        assert_eq!(sniffer.last_close(), Some(Some(999)));
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

//! What the server sent, read ahead of the frame layer.
//!
//! At small messages tungstenite's read path was most of a session's work
//! (BENCHMARKS.md §6). The inbox reads the socket in large chunks and
//! decodes the common frame itself: a whole text or binary
//! message in one final, unmasked frame without reserved bits, within both
//! size limits, while no fragmented message is under way. Every other frame
//! goes to tungstenite, whole and in order, a frame at a time, so that
//! tungstenite keeps every protocol decision: control frames (and the
//! replies they call for), fragments, close, every error. A text frame whose
//! payload is not UTF-8 goes there too, for tungstenite's own error.
//!
//! A decoded message owns a copy of its payload. (Tungstenite's messages
//! share its read buffer, so one small message kept by the caller pinned a
//! whole buffer.)
//!
//! The close-code follower sees every frame handed to tungstenite, and only
//! those: the close frame is always among them.

use std::io;
use std::string::String;
use std::vec::Vec;

use tungstenite::{Bytes, Message};

use super::close_sniffer::CloseSniffer;
use super::frame;

/// The longest frame header: 2 bytes, an 8-byte length, a 4-byte mask.
const MAX_HEADER: usize = 14;

/// Reads in a row that need no more than the usual room before the room a
/// large frame took is given back.
const SMALL_READS_BEFORE_SHRINKING: u8 = 16;

/// The buffer of a link that has not had a read fill its buffer yet: an
/// idle link holds this much, not a whole read buffer.
const FIRST_READ: usize = 4 << 10;

/// What the inbox has for a reader of messages.
#[derive(Debug)]
pub(crate) enum Next {
    /// A message decoded here.
    Message(Message),
    /// The socket has nothing now.
    WouldBlock,
    /// The next frame is for tungstenite: read the link through it.
    FrameLayer,
}

/// The server's bytes not yet read as messages, and where the frame being
/// handed to tungstenite stands.
#[derive(Debug)]
pub(crate) struct Inbox {
    /// Initialized to its length; `start..end` is unread. Allocated at the
    /// first read, so that a link that never receives does not pay for it.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The size of one read, and of the buffer between large frames.
    read_size: usize,
    /// A frame's payload decoded here is at most this long.
    max_payload: usize,
    /// Bytes of the frame being handed to tungstenite still to hand.
    owed: u64,
    /// Tungstenite holds part of a fragmented message: every frame goes to
    /// it until the message ends.
    fragmented: bool,
    /// An error met while reading ahead for a message; tungstenite's next
    /// read reports it.
    error: Option<io::Error>,
    /// Reads in a row that needed no more than `read_size` while the
    /// buffer was larger.
    small_reads: u8,
    /// A read has filled the buffer: the server sends faster than a small
    /// buffer carries, and reads take `read_size`.
    busy: bool,
    sniffer: CloseSniffer,
}

/// How a frame starting at the front of some bytes looks.
#[derive(Debug, PartialEq, Eq)]
enum Head {
    /// Its header is not whole yet.
    Incomplete,
    /// A frame decoded here: text or binary, its header's length and its
    /// payload's.
    Plain { text: bool, header: usize, payload: usize },
    /// A frame for tungstenite.
    Other,
}

impl Inbox {
    /// An inbox whose first bytes are `already_read` (read with the upgrade
    /// response), reading `read_size` bytes at a time; frames with payloads
    /// up to `max_payload` are decoded here.
    pub(crate) fn new(already_read: &[u8], read_size: usize, max_payload: usize) -> Inbox {
        Inbox {
            buf: already_read.to_vec(),
            start: 0,
            end: already_read.len(),
            read_size: read_size.max(MAX_HEADER),
            max_payload,
            owed: 0,
            fragmented: false,
            error: None,
            small_reads: 0,
            busy: false,
            sniffer: CloseSniffer::default(),
        }
    }

    /// An inbox for a link with `limits`: frames within both size limits
    /// are decoded here.
    pub(crate) fn for_limits(already_read: &[u8], limits: &super::Limits) -> Inbox {
        let max_payload = limits.max_frame_size.min(limits.max_message_size);
        Inbox::new(already_read, limits.read_buffer_size, max_payload)
    }

    /// The code of the server's first close frame, as sent.
    pub(crate) fn server_close(&self) -> Option<Option<u16>> {
        self.sniffer.server_close()
    }

    /// The next message if it is one decoded here, reading with `read` when
    /// the inbox holds only part of it. Call only while tungstenite may
    /// read messages; on [`Next::FrameLayer`], read through tungstenite,
    /// whose reads come to [`Inbox::read_for_frame_layer`].
    #[inline]
    pub(crate) fn next(&mut self, mut read: impl FnMut(&mut [u8]) -> io::Result<usize>) -> Next {
        loop {
            if self.owed > 0 || self.fragmented || self.error.is_some() {
                return Next::FrameLayer;
            }
            let unread = &self.buf[self.start..self.end];
            let want = match head(unread, self.max_payload) {
                Head::Plain { text, header, payload } if unread.len() >= header + payload => {
                    let bytes = &unread[header..header + payload];
                    let message = if text {
                        match String::from_utf8(bytes.to_vec()) {
                            Ok(text) => Message::Text(text.into()),
                            Err(_) => return Next::FrameLayer,
                        }
                    } else {
                        Message::Binary(Bytes::copy_from_slice(bytes))
                    };
                    self.start += header + payload;
                    return Next::Message(message);
                }
                Head::Plain { header, payload, .. } => header + payload,
                Head::Incomplete => MAX_HEADER,
                Head::Other => return Next::FrameLayer,
            };
            match self.fill(want, &mut read) {
                Ok(0) => return Next::FrameLayer,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Next::WouldBlock,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.error = Some(e);
                    return Next::FrameLayer;
                }
            }
        }
    }

    /// Tungstenite's read: bytes of the next frame (never past its end, so
    /// that tungstenite holds nothing between messages), reading with
    /// `read` when the inbox has none.
    pub(crate) fn read_for_frame_layer(
        &mut self,
        out: &mut [u8],
        mut read: impl FnMut(&mut [u8]) -> io::Result<usize>,
    ) -> io::Result<usize> {
        if let Some(error) = self.error.take() {
            return Err(error);
        }
        if out.is_empty() {
            return Ok(0);
        }
        if self.owed == 0 {
            // A frame starts: where it ends is in its header.
            let (length, fragmented) = loop {
                if let Some(extent) = extent(&self.buf[self.start..self.end], self.fragmented) {
                    break extent;
                }
                if self.fill(MAX_HEADER, &mut read)? == 0 {
                    // The end: tungstenite judges a frame cut short.
                    return Ok(0);
                }
            };
            self.owed = length;
            self.fragmented = fragmented;
        }
        if self.start == self.end && self.fill(1, &mut read)? == 0 {
            return Ok(0);
        }
        let owed = usize::try_from(self.owed).unwrap_or(usize::MAX);
        let n = out.len().min(self.end - self.start).min(owed);
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.sniffer.feed(&out[..n]);
        self.start += n;
        self.owed -= n as u64;
        Ok(n)
    }

    /// Reads once with `read`, with room for at least `want` unread bytes;
    /// the bytes read, 0 at the end.
    fn fill(&mut self, want: usize, read: &mut impl FnMut(&mut [u8]) -> io::Result<usize>) -> io::Result<usize> {
        // Room for large frames is kept while they keep coming, and given
        // back after a run of reads that did not need it.
        if want > self.read_size {
            self.small_reads = 0;
        } else if self.buf.len() > 2 * self.read_size {
            self.small_reads = self.small_reads.saturating_add(1);
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.small_reads >= SMALL_READS_BEFORE_SHRINKING {
                self.small_reads = 0;
                self.buf = Vec::new();
                self.busy = false;
            }
        } else if self.start > 0 {
            // Only part of one frame moves.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let room = if self.busy {
            self.read_size
        } else {
            FIRST_READ.min(self.read_size)
        };
        let size = want.max(room);
        if self.buf.len() < size {
            self.buf.resize(size, 0);
        }
        if self.buf.len() == self.end {
            self.buf.resize(self.end + room, 0);
        }
        let n = read(&mut self.buf[self.end..])?;
        self.end += n;
        self.busy |= self.end == self.buf.len();
        Ok(n)
    }
}

/// The frame at the front of `bytes`, as far as decoding it here goes.
fn head(bytes: &[u8], max_payload: usize) -> Head {
    let [first, second, ..] = *bytes else {
        return Head::Incomplete;
    };
    // Final, no reserved bits, text or binary; unmasked.
    let text = match first {
        0x81 => true,
        0x82 => false,
        _ => return Head::Other,
    };
    let (header, payload) = match second {
        126 => match bytes.get(2..4) {
            Some(&[a, b]) => (4, u64::from(u16::from_be_bytes([a, b]))),
            _ => return Head::Incomplete,
        },
        127 => match bytes.get(2..10) {
            Some(length) => (10, length.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b))),
            None => return Head::Incomplete,
        },
        short if short < 126 => (2, u64::from(short)),
        _ => return Head::Other,
    };
    match usize::try_from(payload) {
        Ok(payload) if payload <= max_payload => Head::Plain { text, header, payload },
        _ => Head::Other,
    }
}

/// The whole length of the frame at the front of `bytes` and whether a
/// fragmented message is under way after it (`fragmented`: before it);
/// `None` while its header is not whole.
fn extent(bytes: &[u8], fragmented: bool) -> Option<(u64, bool)> {
    let (first, header, length) = frame::parse_header(bytes)?;
    let fin = first & 0x80 != 0;
    let control = first & 0x08 != 0;
    let fragmented = if control { fragmented } else { !fin };
    Some(((header as u64).saturating_add(length), fragmented))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::frame::server_frame as frame;

    /// Reads `bytes` `step` at a time, then would block.
    fn source(bytes: Vec<u8>, step: usize) -> impl FnMut(&mut [u8]) -> io::Result<usize> {
        let mut at = 0;
        move |buf: &mut [u8]| {
            if at == bytes.len() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(step).min(bytes.len() - at);
            buf[..n].copy_from_slice(&bytes[at..at + n]);
            at += n;
            Ok(n)
        }
    }

    #[test]
    fn plain_frames_are_decoded_here_across_reads() {
        let mut bytes = frame(0x81, b"hello");
        bytes.extend(frame(0x82, &[7; 300]));
        bytes.extend(frame(0x82, &[9; 70_000]));
        let mut inbox = Inbox::new(&bytes[..3], 64, 1 << 20);
        let mut read = source(bytes[3..].to_vec(), 50);
        let mut got = Vec::new();
        loop {
            match inbox.next(&mut read) {
                Next::Message(m) => got.push(m),
                Next::WouldBlock => break,
                Next::FrameLayer => panic!("a plain frame went to the frame layer"),
            }
        }
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], Message::text("hello"));
        assert_eq!(got[1], Message::binary(std::vec![7; 300]));
        assert_eq!(got[2].len(), 70_000);
        assert!(inbox.buf.len() > 70_000);
        // The room of the large frame is given back after a run of reads
        // that did not need it.
        for _ in 0..SMALL_READS_BEFORE_SHRINKING {
            let _ = inbox.next(&mut read);
        }
        assert!(inbox.buf.len() < 1_000);
    }

    #[test]
    fn every_other_frame_goes_to_the_frame_layer_whole_and_alone() {
        let ping = frame(0x89, b"p");
        let fragment = frame(0x02, b"ab");
        let inside = frame(0x82, b"goes with the fragment's frames"); // invalid there: tungstenite says so
        let last = frame(0x80, b"c");
        let after = frame(0x82, b"plain again");
        let big = frame(0x82, &[1; 200]);
        let masked = {
            let mut f = frame(0x82, b"mask");
            f[1] |= 0x80;
            f.splice(2..2, [0, 0, 0, 0]);
            f
        };
        let bad_text = frame(0x81, &[0xff, 0xfe]);
        let rsv = frame(0xc2, b"rsv");
        let mut all = Vec::new();
        for f in [&ping, &fragment, &inside, &last, &after, &big, &masked, &bad_text, &rsv] {
            all.extend_from_slice(f);
        }
        let mut inbox = Inbox::new(&[], 16, 100);
        let mut read = source(all, 7);
        let expect_layer = |inbox: &mut Inbox, read: &mut dyn FnMut(&mut [u8]) -> io::Result<usize>, f: &[u8]| {
            assert!(matches!(inbox.next(&mut *read), Next::FrameLayer));
            let mut got = Vec::new();
            let mut buf = [0u8; 5];
            while got.len() < f.len() {
                let n = inbox.read_for_frame_layer(&mut buf, &mut *read).expect("bytes");
                assert!(n > 0);
                got.extend_from_slice(&buf[..n]);
            }
            assert_eq!(got, f, "one frame, whole");
        };
        expect_layer(&mut inbox, &mut read, &ping);
        expect_layer(&mut inbox, &mut read, &fragment);
        // Under way: even a plain-looking frame goes there.
        expect_layer(&mut inbox, &mut read, &inside);
        expect_layer(&mut inbox, &mut read, &last);
        assert!(matches!(inbox.next(&mut read), Next::Message(m) if m == Message::binary(b"plain again".to_vec())));
        for f in [&big, &masked, &bad_text, &rsv] {
            expect_layer(&mut inbox, &mut read, f);
        }
        assert!(matches!(inbox.next(&mut read), Next::WouldBlock));
    }

    #[test]
    fn a_quiet_link_holds_a_small_buffer_and_a_busy_one_reads_in_large_chunks() {
        let mut inbox = Inbox::new(&[], 128 << 10, 1 << 20);
        let mut nothing = |_: &mut [u8]| -> io::Result<usize> { Err(io::ErrorKind::WouldBlock.into()) };
        assert!(matches!(inbox.next(&mut nothing), Next::WouldBlock));
        assert_eq!(inbox.buf.len(), FIRST_READ);
        // A burst fills the small buffer: from then on reads take the whole
        // read size.
        let mut read = source(frame(0x82, &[1; 100]).repeat(100), usize::MAX);
        let mut got = 0;
        while let Next::Message(_) = inbox.next(&mut read) {
            got += 1;
        }
        assert_eq!(got, 100);
        assert_eq!(inbox.buf.len(), 128 << 10);
    }

    #[test]
    fn a_read_error_while_reading_ahead_reaches_the_frame_layer() {
        let mut inbox = Inbox::new(&frame(0x82, &[0; 10])[..4], 64, 100);
        let mut failing = |_: &mut [u8]| -> io::Result<usize> { Err(io::ErrorKind::ConnectionReset.into()) };
        assert!(matches!(inbox.next(&mut failing), Next::FrameLayer));
        let mut buf = [0u8; 8];
        let error = inbox
            .read_for_frame_layer(&mut buf, &mut failing)
            .expect_err("the error");
        assert_eq!(error.kind(), io::ErrorKind::ConnectionReset);
    }

    #[test]
    fn the_close_follower_sees_the_close_frame() {
        let mut bytes = frame(0x82, b"data");
        bytes.extend(frame(0x88, &[0x03, 0xe7]));
        let mut inbox = Inbox::new(&bytes, 64, 100);
        let mut read = source(Vec::new(), 1);
        assert!(matches!(inbox.next(&mut read), Next::Message(_)));
        assert!(matches!(inbox.next(&mut read), Next::FrameLayer));
        let mut buf = [0u8; 64];
        assert_eq!(inbox.read_for_frame_layer(&mut buf, &mut read).expect("bytes"), 4);
        assert_eq!(inbox.server_close(), Some(Some(999)));
    }
}

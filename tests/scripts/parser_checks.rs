// Checks on the parsers and classifiers that take untrusted input. Shared by
// the fuzz targets and the corpus replay test.

use wstether::{CloseAction, CloseCodeTable, Failure, RetryAfter};

/// Any header value: parsing never panics, and `delay` never overflows.
pub fn retry_after(data: &[u8]) {
    if let Ok(text) = core::str::from_utf8(data) {
        if let Some(parsed) = RetryAfter::parse(text) {
            let _ = parsed.delay(0);
            let _ = parsed.delay(u64::MAX);
        }
    }
}

/// Any close code and override table: classification never panics and
/// overrides always win.
pub fn close_code(data: &[u8]) {
    let mut table = CloseCodeTable::default();
    for triple in data.chunks_exact(3) {
        let code = u16::from_le_bytes([triple[0], triple[1]]);
        let action = match triple[2] % 3 {
            0 => CloseAction::Reconnect,
            1 => CloseAction::ReconnectLater,
            _ => CloseAction::Stop,
        };
        if let Ok(next) = table.with_override(code, action) {
            table = next;
            assert_eq!(table.action(code), action);
        }
        let _ = Failure::close(code, &table);
    }
}

/// Any string: redaction never panics and keeps no query value.
#[cfg(feature = "std")]
pub fn redact_url(data: &[u8]) {
    let Ok(url) = core::str::from_utf8(data) else { return };
    let redacted = wstether::transport::redact_url(url);
    let before_fragment = url.split('#').next().unwrap_or("");
    let Some((_, query)) = before_fragment.split_once('?') else {
        return;
    };
    for pair in query.split('&') {
        if let Some((_, value)) = pair.split_once('=') {
            if value.len() > 3 && !value.contains(['&', '#', '?', '=', '*']) {
                assert!(!redacted.contains(&format!("={value}")), "{url:?} -> {redacted:?}");
            }
        }
    }
}

/// Any bytes as the server's side of an open link, read as the client reads
/// them: every outcome is a message or an error that maps to a `Failure`,
/// nothing panics, and no message exceeds the size limit.
#[cfg(feature = "std")]
pub fn client_read_path(data: &[u8]) {
    use std::io::{self, Read, Write};
    use wstether::transport::{Limits, TransportError};

    /// The server's bytes in, the client's writes (pongs, close replies) discarded.
    struct Wire<'a>(&'a [u8]);
    impl Read for Wire<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            // Dribble small pieces so frame headers split across reads.
            let n = buf.len().min(self.0.len()).min(1 + usize::from(self.0[0] % 7));
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    impl Write for Wire<'_> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    let limits = Limits {
        max_message_size: 4_096,
        max_frame_size: 4_096,
        ..Limits::small()
    };
    let mut ws = tungstenite::WebSocket::from_raw_socket(
        Wire(data),
        tungstenite::protocol::Role::Client,
        Some(limits.websocket_config()),
    );
    // Each read consumes at least one byte or ends the link; the bound is a guard.
    for _ in 0..=data.len() {
        match ws.read() {
            Ok(message) => assert!(message.len() <= limits.max_message_size, "a message over the limit"),
            Err(error) => {
                let _ = TransportError::from_websocket(error).failure(&CloseCodeTable::default());
                break;
            }
        }
    }
}

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

// Checks on the parsers and classifiers that take untrusted input. Shared by
// the fuzz targets and the corpus replay test.

use wstether::{Cause, CloseAction, CloseCodeTable, Failure, FailureClass, RetryAfter};

/// Any header value: parsing never panics, and `delay` never overflows. And,
/// from the first 8 bytes as a number: its decimal form parses to that many
/// seconds, and that instant (taken below the year 10000), written in each
/// HTTP-date format a server may send, parses back to itself.
pub fn retry_after(data: &[u8]) {
    if let Ok(text) = core::str::from_utf8(data) {
        if let Some(parsed) = RetryAfter::parse(text) {
            let _ = parsed.delay(0);
            let _ = parsed.delay(u64::MAX);
        }
    }
    if let Some(bytes) = data.first_chunk::<8>() {
        let raw = u64::from_le_bytes(*bytes);
        assert_eq!(RetryAfter::parse(&raw.to_string()), Some(RetryAfter::Seconds(raw)));
        // 9999-12-31 23:59:59 is the last instant with a four-digit year.
        let at = raw % 253_402_300_800;
        let (dates, past_the_end) = http_dates(at);
        for date in dates {
            assert_eq!(RetryAfter::parse(&date), Some(RetryAfter::At(at)), "{date}");
        }
        assert_eq!(RetryAfter::parse(&past_the_end), None, "{past_the_end}");
    }
}

/// `at` (seconds since the epoch) as IMF-fixdate, asctime and, for the
/// years a two-digit year names (1970–2069), RFC 850; and an IMF-fixdate of
/// the day after the last of its month, which is no date. The calendar is
/// counted day by day, independently of the parser's arithmetic.
fn http_dates(at: u64) -> (Vec<String>, String) {
    const DAYS: [&str; 7] = [
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
    ];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (mut days, secs) = (at / 86_400, at % 86_400);
    let weekday = DAYS[(days % 7) as usize];
    let leap = |y: u64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mut year = 1970;
    while days >= if leap(year) { 366 } else { 365 } {
        days -= if leap(year) { 366 } else { 365 };
        year += 1;
    }
    let length = |month: usize| match month {
        1 if leap(year) => 29,
        1 => 28,
        3 | 5 | 8 | 10 => 30,
        _ => 31,
    };
    let mut month = 0;
    while days >= length(month) {
        days -= length(month);
        month += 1;
    }
    let (day, mon, wd) = (days + 1, MONTHS[month], &weekday[..3]);
    let time = format!("{:02}:{:02}:{:02}", secs / 3_600, secs / 60 % 60, secs % 60);
    let mut dates = vec![
        format!("{wd}, {day:02} {mon} {year} {time} GMT"),
        format!("{wd} {mon} {day:>2} {time} {year}"),
    ];
    if year < 2070 {
        dates.push(format!("{weekday}, {day:02}-{mon}-{:02} {time} GMT", year % 100));
    }
    let past_the_end = format!("{wd}, {:02} {mon} {year} {time} GMT", length(month) + 1);
    (dates, past_the_end)
}

/// Any close codes and overrides: classification never panics, the defaults
/// are the documented table, the table holds exactly the overrides a model of
/// its 8 slots holds (a full table refuses a new code and stays as it was),
/// every other code keeps its default action, and a close failure has the
/// class of its code's action.
pub fn close_code(data: &[u8]) {
    let defaults = CloseCodeTable::default();
    let mut table = defaults;
    let mut model: [Option<(u16, CloseAction)>; CloseCodeTable::MAX_OVERRIDES] = [None; CloseCodeTable::MAX_OVERRIDES];
    for triple in data.chunks_exact(3) {
        let code = u16::from_le_bytes([triple[0], triple[1]]);
        let action = match triple[2] % 3 {
            0 => CloseAction::Reconnect,
            1 => CloseAction::ReconnectLater,
            _ => CloseAction::Stop,
        };
        // Before the override: the code has its default, or what the model says.
        let expected = |model: &[Option<(u16, CloseAction)>]| {
            model
                .iter()
                .flatten()
                .find(|(c, _)| *c == code)
                .map_or(defaults.action(code), |(_, a)| *a)
        };
        // The documented table (RFC 6455 §7.4, IANA), written out again.
        let documented = match code {
            1013 => CloseAction::ReconnectLater,
            1002 | 1003 | 1007 | 1008 | 1009 | 1010 => CloseAction::Stop,
            _ => CloseAction::Reconnect,
        };
        assert_eq!(defaults.action(code), documented, "default for {code}");
        assert_eq!(table.action(code), expected(&model), "code {code} before its override");
        let slot = model
            .iter()
            .position(|o| matches!(o, Some((c, _)) if *c == code))
            .or_else(|| model.iter().position(Option::is_none));
        match (table.with_override(code, action), slot) {
            (Ok(next), Some(i)) => {
                table = next;
                model[i] = Some((code, action));
            }
            (Err(same), None) => assert_eq!(same, table),
            (result, slot) => panic!("override {code} -> {action:?}: {result:?}, free slot {slot:?}"),
        }
        for (c, a) in model.iter().flatten() {
            assert_eq!(table.action(*c), *a, "override of {c}");
        }
        let action = table.action(code);
        assert_eq!(action, expected(&model));
        let failure = Failure::close(code, &table);
        assert_eq!(failure.cause, Cause::Close(code));
        let class = match action {
            CloseAction::Reconnect => FailureClass::Transient,
            CloseAction::ReconnectLater => FailureClass::RetryLater { retry_after_secs: None },
            CloseAction::Stop => FailureClass::Permanent,
        };
        assert_eq!(failure.class, class, "close {code}");
    }
}

/// Any string: redaction never panics, and the output is the input with its
/// userinfo, every query value, every query item without a value and the
/// fragment replaced by `***`, control characters escaped, nothing else
/// changed but an authority that is not `host[:port]`, hidden whole. The
/// parts are found as `redact_url` documents: the fragment after the first
/// `#`, the query after the first `?` before it, the authority after
/// `scheme:/` (any run of `/` and `\`, the scheme holding no `/` or `@`) or
/// a leading `//`, else at the start; the userinfo up to the last `@` before
/// the query (none when what follows the scheme is a bare path), the host
/// and port up to the next `/`. Where the client's URL parser finds
/// credentials, the redaction hides a userinfo.
#[cfg(feature = "std")]
pub fn redact_url(data: &[u8]) {
    let Ok(url) = core::str::from_utf8(data) else { return };
    let redacted = wstether::transport::redact_url(url);
    let shown = || format!("{url:?} -> {redacted:?}");
    assert!(!redacted.contains(char::is_control), "a control character: {}", shown());

    // Escaping adds no `#`, `?`, `&`, `=` or `@`, so the output splits where the input does.
    let (url_head, url_query, url_fragment) = url_parts(url);
    let (head, query, fragment) = url_parts(&redacted);

    let expected_fragment = url_fragment.map(|f| if f.is_empty() { "" } else { "***" });
    assert_eq!(fragment, expected_fragment, "the fragment: {}", shown());

    match (url_query, query) {
        (None, None) => {}
        (Some(url_query), Some(query)) => {
            let mut items = query.split('&');
            for url_item in url_query.split('&') {
                let expected = match url_item.split_once('=') {
                    Some((key, _)) => format!("{}=***", escaped(key)),
                    None if url_item.is_empty() => String::new(),
                    None => "***".into(),
                };
                assert_eq!(items.next(), Some(expected.as_str()), "a query item: {}", shown());
            }
            assert_eq!(items.next(), None, "an extra query item: {}", shown());
        }
        _ => panic!("the query appeared or vanished: {}", shown()),
    }

    let start = match url_head.split_once(':') {
        Some((scheme, rest))
            if !scheme.is_empty() && !scheme.contains(['/', '\\', '@']) && rest.starts_with(['/', '\\']) =>
        {
            url_head.len() - rest.trim_start_matches(['/', '\\']).len()
        }
        _ if url_head.starts_with("//") => url_head.len() - url_head.trim_start_matches(['/', '\\']).len(),
        _ => 0,
    };
    // The userinfo: to the last `@` before the query, unless there is no authority.
    let rest = &url_head[start..];
    let (userinfo, rest) = match rest.rfind('@') {
        Some(at) if !rest.starts_with('/') => ("***@", &rest[at + 1..]),
        _ => ("", rest),
    };
    let (host_port, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    // Not `host[:port]`: hidden whole.
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    let is_host_port = match host_port.strip_prefix('[') {
        Some(bracketed) => bracketed
            .split_once(']')
            .is_some_and(|(_, after)| after.is_empty() || after.strip_prefix(':').is_some_and(digits)),
        None => host_port.split_once(':').is_none_or(|(_, port)| digits(port)),
    };
    let host_port = if is_host_port { escaped(host_port) } else { "***".into() };
    let expected_head = format!("{}{userinfo}{host_port}{}", escaped(&url_head[..start]), escaped(path));
    assert_eq!(head, expected_head, "the userinfo: {}", shown());

    // The client's own URL parser agrees: where it finds credentials, they
    // are hidden.
    if let Ok(target) = wstether::transport::Target::parse(url) {
        if target.credentials().is_some() {
            let authority = redacted.split_once("://").map(|(_, after)| after);
            assert!(
                authority.is_some_and(|a| a.starts_with("***@")),
                "credentials shown: {}",
                shown()
            );
        }
    }
}

/// Head, query and fragment, split at the first `#` and the first `?` before it.
#[cfg(feature = "std")]
fn url_parts(url: &str) -> (&str, Option<&str>, Option<&str>) {
    let (rest, fragment) = match url.split_once('#') {
        Some((rest, fragment)) => (rest, Some(fragment)),
        None => (url, None),
    };
    match rest.split_once('?') {
        Some((head, query)) => (head, Some(query), fragment),
        None => (rest, None, fragment),
    }
}

/// `text` with control characters escaped, as logs should show it.
#[cfg(feature = "std")]
fn escaped(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().collect()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Any bytes as the server's side of an open link, read as the client reads
/// them (`RawLink`: tungstenite's frame layer with the link's limits, the
/// close-code follower, the session's reading of a close or an error),
/// dribbled a few bytes at a time with a would-block now and then, the first
/// few bytes as if read with the upgrade response. The outcome must be what a
/// reference parse of the same bytes says:
///
/// - the messages, pings and pongs of the valid frames, in order, none over
///   the size limit;
/// - then, at the server's first close frame, `Closed` with its code as sent
///   (and its reason, unless tungstenite rewrote the code), and the close
///   follower agrees;
/// - or, at the first invalid or incomplete frame, an error other than
///   `Closed` that maps to a transient failure.
#[cfg(feature = "std")]
pub fn client_read_path(data: &[u8]) {
    use std::io::{self, Read, Write};
    use wstether::transport::{Limits, RawLink, TransportError};

    /// The server's bytes in, the client's writes (pongs, close replies) discarded.
    struct Wire<'a> {
        rest: &'a [u8],
        stall: bool,
    }
    impl Read for Wire<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some(&first) = self.rest.first() else { return Ok(0) };
            if std::mem::take(&mut self.stall) {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            // Dribble small pieces so frame headers split across reads.
            let n = buf.len().min(self.rest.len()).min(1 + usize::from(first % 7));
            buf[..n].copy_from_slice(&self.rest[..n]);
            self.rest = &self.rest[n..];
            self.stall = first & 0x08 != 0;
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

    // A frame may be larger than a message, so that both limits bind.
    let limits = Limits {
        max_message_size: 1_000,
        max_frame_size: 1_200,
        ..Limits::small()
    };
    let (expected, end) = reference_read(data, &limits);
    let already_read = data.len() % 11;
    let (head, rest) = data.split_at(already_read);
    let mut link = RawLink::new(Wire { rest, stall: false }, head, &limits);
    let mut expected = expected.into_iter();
    // Each read takes at least one byte, would block once, or ends the link.
    let mut error = None;
    for _ in 0..2 * data.len() + 2 {
        match link.read() {
            Ok(None) => {}
            Ok(Some(message)) => {
                assert!(message.len() <= limits.max_message_size, "a message over the limit");
                assert_eq!(Some(message), expected.next(), "a message the reference does not read");
            }
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    let error = error.expect("the link must end with the bytes");
    assert_eq!(expected.next(), None, "a message the read path missed before {error:?}");
    let failure = error.failure(&CloseCodeTable::default());
    match (&end, &error) {
        (
            ReferenceEnd::Close { code, reason },
            TransportError::Closed {
                code: got,
                reason: got_reason,
            },
        ) => {
            assert_eq!(got, code, "the close code as sent");
            assert_eq!(link.server_close(), Some(*code), "the close follower");
            // Tungstenite rewrites a code that must not be sent, and drops its reason.
            let kept = code.is_none_or(|c| tungstenite::protocol::frame::coding::CloseCode::from(c).is_allowed());
            let reason = if kept { reason.as_str() } else { "" };
            assert_eq!(got_reason, reason, "the close reason");
        }
        (ReferenceEnd::Invalid, TransportError::Closed { .. }) | (ReferenceEnd::Close { .. }, _) => {
            panic!("the reference ends with {end:?}, the read path with {error:?}")
        }
        (ReferenceEnd::Invalid, _) => assert!(!failure.is_permanent(), "{error:?} -> {failure:?}"),
    }
}

/// How a reference parse of server bytes ends.
#[cfg(feature = "std")]
#[derive(Debug)]
enum ReferenceEnd {
    /// The first close frame: its code (none for an empty payload) and reason.
    Close { code: Option<u16>, reason: String },
    /// An invalid frame, or the bytes ran out.
    Invalid,
}

/// RFC 6455 read straight through, as a client with `limits`: the messages,
/// pings and pongs up to the first close frame, invalid frame or the end of
/// the bytes. A fragmented text message is refused at the first fragment
/// that makes its bytes invalid UTF-8 (a truncated character may still be
/// completed).
#[cfg(feature = "std")]
fn reference_read(mut data: &[u8], limits: &wstether::transport::Limits) -> (Vec<tungstenite::Message>, ReferenceEnd) {
    use tungstenite::Message;
    let utf8_so_far = |bytes: &[u8]| std::str::from_utf8(bytes).map_or_else(|e| e.error_len().is_none(), |_| true);
    let mut messages = Vec::new();
    // The message being assembled: text or not, and its bytes.
    let mut partial: Option<(bool, Vec<u8>)> = None;
    loop {
        let [first, second, ref rest @ ..] = *data else {
            return (messages, ReferenceEnd::Invalid);
        };
        let (fin, rsv, opcode) = (first & 0x80 != 0, first & 0x70, first & 0x0f);
        let (masked, short) = (second & 0x80 != 0, second & 0x7f);
        let extended = match short {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let Some(length_bytes) = rest.get(..extended) else {
            return (messages, ReferenceEnd::Invalid);
        };
        let length = match extended {
            0 => u64::from(short),
            _ => length_bytes.iter().fold(0, |n, &b| (n << 8) | u64::from(b)),
        };
        // Reserved bits, a mask (server frames have none), a reserved opcode, too long.
        if rsv != 0 || masked || !matches!(opcode, 0..=2 | 8..=10) || length > limits.max_frame_size as u64 {
            return (messages, ReferenceEnd::Invalid);
        }
        let rest = &rest[extended..];
        let Some(payload) = rest.get(..length as usize) else {
            return (messages, ReferenceEnd::Invalid);
        };
        data = &rest[payload.len()..];
        if opcode >= 8 {
            if !fin || payload.len() > 125 {
                return (messages, ReferenceEnd::Invalid);
            }
            match opcode {
                9 => messages.push(Message::Ping(payload.to_vec().into())),
                10 => messages.push(Message::Pong(payload.to_vec().into())),
                _ => {
                    let end = match payload {
                        [] => ReferenceEnd::Close {
                            code: None,
                            reason: String::new(),
                        },
                        [hi, lo, reason @ ..] => match std::str::from_utf8(reason) {
                            Ok(reason) => ReferenceEnd::Close {
                                code: Some(u16::from_be_bytes([*hi, *lo])),
                                reason: reason.into(),
                            },
                            Err(_) => ReferenceEnd::Invalid,
                        },
                        [_] => ReferenceEnd::Invalid,
                    };
                    return (messages, end);
                }
            }
            continue;
        }
        let (text, mut bytes) = match (opcode, partial.take()) {
            (0, Some(partial)) => partial,
            (1 | 2, None) => (opcode == 1, Vec::new()),
            _ => return (messages, ReferenceEnd::Invalid),
        };
        bytes.extend_from_slice(payload);
        if bytes.len() > limits.max_message_size || (text && !utf8_so_far(&bytes)) {
            return (messages, ReferenceEnd::Invalid);
        }
        if !fin {
            partial = Some((text, bytes));
        } else if !text {
            messages.push(Message::Binary(bytes.into()));
        } else {
            match String::from_utf8(bytes) {
                Ok(text) => messages.push(Message::Text(text.into())),
                Err(_) => return (messages, ReferenceEnd::Invalid),
            }
        }
    }
}

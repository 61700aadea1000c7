//! The HTTP/1.1 upgrade (RFC 6455 §4.1): the request we write and the
//! response we check, without I/O.
//!
//! Stricter than tungstenite's client where RFC 6455 asks for it (tokens in
//! `Connection` and `Upgrade` are lists: `Connection: keep-alive, Upgrade` is
//! valid; an extension we did not offer fails the handshake) and more
//! tolerant where HTTP allows (interim 1xx responses such as 103 Early Hints
//! before the 101).

use core::fmt;
use std::string::String;
use std::vec::Vec;

use tungstenite::handshake::derive_accept_key;
use tungstenite::http::StatusCode;

use super::base64;
use super::url::Target;
use crate::{Cause, Failure, RetryAfter};

/// The largest response head accepted, interim responses included. Real
/// servers send well under 4 KiB; anything larger is broken or hostile.
pub(crate) const MAX_HEAD: usize = 16 * 1024;

/// Header fields per response head; more is an error, not a panic.
const MAX_HEADERS: usize = 64;

/// Longest excerpt of a server-chosen value kept in an error.
const MAX_EXCERPT: usize = 64;

/// Appends the upgrade request for `target` to `out`.
///
/// Header order: `Host`, `Upgrade`, `Connection`, `Sec-WebSocket-Key`,
/// `Sec-WebSocket-Version`, `Sec-WebSocket-Protocol` (when `subprotocols` is
/// not empty), `Authorization: Basic` (from the URL's credentials, unless
/// `headers` has an `Authorization`), then `headers` in their order.
///
/// A caller header named like `Host`, `Sec-WebSocket-Protocol` or
/// `Authorization` replaces ours (a replaced `Sec-WebSocket-Protocol` must
/// still list what is passed as `offered` to [`parse_response`]). Caller
/// headers that would break the handshake (`Upgrade`, `Connection`,
/// `Sec-WebSocket-Key`, `Sec-WebSocket-Version`, and
/// `Sec-WebSocket-Extensions`, since no extension is implemented) are
/// dropped. Headers and subprotocols are validated when the client is built;
/// any that still are not a valid name or value are dropped here rather than
/// let one inject a line into the request.
pub(crate) fn write_request(
    target: &Target,
    key: &str,
    headers: &[(String, String)],
    subprotocols: &[String],
    out: &mut Vec<u8>,
) {
    const OURS: [&str; 5] = [
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
    ];
    let theirs: Vec<&(String, String)> = headers
        .iter()
        .filter(|(name, value)| {
            is_token(name) && is_field_value(value) && !OURS.iter().any(|o| name.eq_ignore_ascii_case(o))
        })
        .collect();
    let caller_has = |name: &str| theirs.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    out.extend_from_slice(b"GET ");
    out.extend_from_slice(target.path_and_query().as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let mut line = |name: &str, value: &str| {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    };

    if !caller_has("host") {
        line("Host", &target.host_header());
    }
    line("Upgrade", "websocket");
    line("Connection", "Upgrade");
    line("Sec-WebSocket-Key", key);
    line("Sec-WebSocket-Version", "13");
    let offered: Vec<&str> = subprotocols
        .iter()
        .map(String::as_str)
        .filter(|p| is_token(p))
        .collect();
    if !offered.is_empty() && !caller_has("sec-websocket-protocol") {
        line("Sec-WebSocket-Protocol", &offered.join(", "));
    }
    if let Some((user, password)) = target.credentials() {
        if !caller_has("authorization") {
            line("Authorization", &base64::basic_auth(user, password));
        }
    }
    for (name, value) in &theirs {
        line(name, value);
    }
    out.extend_from_slice(b"\r\n");
}

/// What [`parse_response`] found so far.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Progress {
    /// No whole response head yet: read more, append, call again.
    Incomplete,
    /// The server switched to WebSocket.
    Done(Upgraded),
}

/// A successful upgrade.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Upgraded {
    /// Bytes of the response head, interim responses included:
    /// `buf[head_len..]` is the first WebSocket byte.
    pub(crate) head_len: usize,
    /// The subprotocol the server chose, one of those offered.
    pub(crate) subprotocol: Option<String>,
}

/// Checks the server's answer to the upgrade request.
///
/// `buf` is everything read so far; the caller appends and calls again while
/// this returns [`Progress::Incomplete`]. Interim 1xx responses (100, 102,
/// 103 Early Hints, …) before the final one are skipped. `key` is the
/// `Sec-WebSocket-Key` sent; `offered` the subprotocols offered (none: the
/// server must not choose one).
pub(crate) fn parse_response(buf: &[u8], key: &str, offered: &[String]) -> Result<Progress, UpgradeError> {
    let head = parse_head(buf, |head| check(head, key, offered)).map_err(|e| match e {
        HeadError::TooLarge => UpgradeError::TooLarge { limit: MAX_HEAD },
        HeadError::Malformed(reason) => UpgradeError::Malformed { reason },
    })?;
    match head {
        None => Ok(Progress::Incomplete),
        Some(result) => result.map(Progress::Done),
    }
}

fn check(head: &Head<'_, '_>, key: &str, offered: &[String]) -> Result<Upgraded, UpgradeError> {
    if head.status != 101 {
        let retry_after = head
            .values("retry-after")
            .find_map(|v| core::str::from_utf8(v).ok().and_then(RetryAfter::parse));
        return Err(UpgradeError::Status {
            status: head.status,
            version: head.version,
            retry_after,
        });
    }
    if !head.values("upgrade").any(|v| has_token(v, "websocket")) {
        return Err(UpgradeError::MissingUpgrade);
    }
    if !head.values("connection").any(|v| has_token(v, "upgrade")) {
        return Err(UpgradeError::MissingConnection);
    }
    let expected = derive_accept_key(key.as_bytes());
    let mut accepts = head.values("sec-websocket-accept");
    match (accepts.next(), accepts.next()) {
        (Some(accept), None) if accept.trim_ascii() == expected.as_bytes() => {}
        _ => return Err(UpgradeError::AcceptMismatch),
    }
    if let Some(extension) = head
        .values("sec-websocket-extensions")
        .find(|v| !v.trim_ascii().is_empty())
    {
        return Err(UpgradeError::UnexpectedExtension {
            extension: excerpt(extension),
        });
    }
    let mut chosen = head
        .values("sec-websocket-protocol")
        .map(<[u8]>::trim_ascii)
        .filter(|v| !v.is_empty());
    let subprotocol = match (chosen.next(), chosen.next()) {
        (None, _) if offered.is_empty() => None,
        (None, _) => {
            return Err(UpgradeError::SubprotocolMissing {
                offered: offered.to_vec(),
            })
        }
        (Some(one), None) => match offered.iter().find(|p| p.as_bytes() == one) {
            Some(p) => Some(p.clone()),
            None => {
                return Err(UpgradeError::UnexpectedSubprotocol {
                    chosen: excerpt(one),
                    offered: offered.to_vec(),
                })
            }
        },
        // Several headers: the server chose more than one, which RFC 6455 forbids.
        (Some(first), Some(_)) => {
            return Err(UpgradeError::UnexpectedSubprotocol {
                chosen: excerpt(first),
                offered: offered.to_vec(),
            })
        }
    };
    Ok(Upgraded {
        head_len: head.len,
        subprotocol,
    })
}

/// Why the upgrade failed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpgradeError {
    /// The final answer was not 101. Classified by [`Failure::http_status`].
    Status {
        /// The status code.
        status: u16,
        /// The minor HTTP version of the answer: 0 for HTTP/1.0, 1 for HTTP/1.1.
        version: u8,
        /// The parsed `Retry-After`, if the answer had a valid one.
        retry_after: Option<RetryAfter>,
    },
    /// The response head did not end within `limit` bytes.
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The answer is not HTTP/1.x, or breaks its syntax.
    Malformed {
        /// What is wrong.
        reason: &'static str,
    },
    /// A 101 without `Upgrade: websocket`.
    MissingUpgrade,
    /// A 101 without `Connection: upgrade`.
    MissingConnection,
    /// `Sec-WebSocket-Accept` is missing, repeated or does not match the key.
    AcceptMismatch,
    /// The server enabled an extension; none is offered.
    UnexpectedExtension {
        /// The header's value (at most 64 characters, lossy UTF-8).
        extension: String,
    },
    /// The server chose a subprotocol that was not offered, or several.
    UnexpectedSubprotocol {
        /// What it chose (at most 64 characters, lossy UTF-8).
        chosen: String,
        /// What was offered.
        offered: Vec<String>,
    },
    /// Subprotocols were offered and the server chose none: the client and
    /// the server are configured for different protocols.
    SubprotocolMissing {
        /// What was offered.
        offered: Vec<String>,
    },
}

impl UpgradeError {
    /// Whether retrying the same request cannot help. A status follows
    /// [`Failure::http_status`] (408, 429 and 5xx are worth a retry); a
    /// negotiation mismatch (subprotocol, extension) is permanent; a broken
    /// answer (malformed, no `Upgrade`, wrong accept) is transient, since it
    /// as often comes from a middlebox, captive portal or half-deployed
    /// server as from the endpoint itself, and backoff bounds the cost.
    pub fn is_permanent(&self) -> bool {
        self.failure(0).is_permanent()
    }

    /// The core's view of this error; `now_unix_secs` dates an HTTP-date
    /// `Retry-After`.
    pub fn failure(&self, now_unix_secs: u64) -> Failure {
        match self {
            UpgradeError::Status {
                status, retry_after, ..
            } => Failure::http_status(*status, retry_after.map(|r| r.delay(now_unix_secs))),
            UpgradeError::UnexpectedExtension { .. } => Failure::permanent(Cause::Protocol),
            UpgradeError::UnexpectedSubprotocol { .. } | UpgradeError::SubprotocolMissing { .. } => {
                Failure::permanent(Cause::Subprotocol)
            }
            UpgradeError::TooLarge { .. }
            | UpgradeError::Malformed { .. }
            | UpgradeError::MissingUpgrade
            | UpgradeError::MissingConnection
            | UpgradeError::AcceptMismatch => Failure::transient(Cause::Protocol),
        }
    }
}

impl fmt::Display for UpgradeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpgradeError::Status {
                status,
                version,
                retry_after,
            } => {
                write!(f, "upgrade answered with HTTP/1.{version} ")?;
                write_status(f, *status)?;
                match retry_after {
                    Some(RetryAfter::Seconds(secs)) => write!(f, " (retry after {secs} s)"),
                    Some(RetryAfter::At(at)) => write!(f, " (retry at {at} s after the Unix epoch)"),
                    None => Ok(()),
                }
            }
            UpgradeError::TooLarge { limit } => write!(f, "upgrade response head exceeds {limit} bytes"),
            UpgradeError::Malformed { reason } => write!(f, "malformed upgrade response: {reason}"),
            UpgradeError::MissingUpgrade => f.write_str("101 response without `Upgrade: websocket`"),
            UpgradeError::MissingConnection => f.write_str("101 response without `Connection: upgrade`"),
            UpgradeError::AcceptMismatch => {
                f.write_str("Sec-WebSocket-Accept is missing or does not match the key sent")
            }
            UpgradeError::UnexpectedExtension { extension } => {
                write!(f, "server enabled extension {extension:?}, which was not offered")
            }
            UpgradeError::UnexpectedSubprotocol { chosen, offered } => {
                write!(
                    f,
                    "server chose subprotocol {chosen:?}, which was not offered (offered: "
                )?;
                write_list(f, offered)?;
                f.write_str(")")
            }
            UpgradeError::SubprotocolMissing { offered } => {
                f.write_str("server chose no subprotocol; offered: ")?;
                write_list(f, offered)
            }
        }
    }
}

impl core::error::Error for UpgradeError {}

/// `403 Forbidden`: the code and its standard reason phrase (the server's own
/// phrase is not shown, so an error never repeats what a server made up).
pub(crate) fn write_status(f: &mut fmt::Formatter<'_>, status: u16) -> fmt::Result {
    let reason = StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason());
    match reason {
        Some(reason) => write!(f, "{status} {reason}"),
        None => write!(f, "{status}"),
    }
}

fn write_list(f: &mut fmt::Formatter<'_>, items: &[String]) -> fmt::Result {
    if items.is_empty() {
        return f.write_str("none");
    }
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        f.write_str(item)?;
    }
    Ok(())
}

/// A server-sent value, bounded and as UTF-8, for an error message.
fn excerpt(value: &[u8]) -> String {
    String::from_utf8_lossy(value).chars().take(MAX_EXCERPT).collect()
}

/// Whether a comma-separated header value holds `token` (ASCII
/// case-insensitive), as `Connection` and `Upgrade` are read (RFC 9110 §5.6.1).
pub(crate) fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// An RFC 9110 token: what a header name or a subprotocol must be.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// A header value that cannot end the line it is on: no control characters
/// but tab.
fn is_field_value(s: &str) -> bool {
    s.bytes().all(|b| b == b'\t' || (b >= b' ' && b != 0x7f))
}

/// The final response head of an HTTP/1.x exchange.
pub(crate) struct Head<'h, 'b> {
    /// Bytes up to the end of this head, interim responses included.
    pub(crate) len: usize,
    /// Minor version: 0 or 1.
    pub(crate) version: u8,
    /// The status code, 100 to 999 (a 1xx here is 101).
    pub(crate) status: u16,
    /// Its header fields.
    pub(crate) headers: &'h [httparse::Header<'b>],
}

impl Head<'_, '_> {
    /// The values of every field called `name` (ASCII case-insensitive).
    pub(crate) fn values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s [u8]> + 's {
        self.headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }
}

/// Why a response head could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeadError {
    /// Not complete within [`MAX_HEAD`] bytes.
    TooLarge,
    /// Not HTTP/1.x, or broken.
    Malformed(&'static str),
}

/// Reads the final response head at the start of `buf`, skipping interim 1xx
/// responses other than 101, and hands it to `on_final`. `Ok(None)` while the
/// head is incomplete. Shared by the upgrade and HTTP CONNECT.
pub(crate) fn parse_head<R>(buf: &[u8], on_final: impl FnOnce(&Head<'_, '_>) -> R) -> Result<Option<R>, HeadError> {
    // Parsing a bounded window keeps the cost bounded whatever is buffered.
    let window = buf.get(..MAX_HEAD).unwrap_or(buf);
    let mut offset = 0;
    loop {
        let rest = window.get(offset..).unwrap_or_default();
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let len = match response.parse(rest) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if window.len() == MAX_HEAD => return Err(HeadError::TooLarge),
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(e) => return Err(HeadError::Malformed(httparse_reason(e))),
        };
        let (Some(version), Some(status)) = (response.version, response.code) else {
            return Err(HeadError::Malformed("incomplete status line"));
        };
        if status < 100 {
            return Err(HeadError::Malformed("status code below 100"));
        }
        offset += len;
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        let head = Head {
            len: offset,
            version,
            status,
            headers: response.headers,
        };
        return Ok(Some(on_final(&head)));
    }
}

fn httparse_reason(error: httparse::Error) -> &'static str {
    match error {
        httparse::Error::Version => "not an HTTP/1.x response",
        httparse::Error::Status => "invalid status line",
        httparse::Error::TooManyHeaders => "more than 64 header fields",
        httparse::Error::HeaderName | httparse::Error::Token => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;
    use std::{format, vec};

    /// RFC 6455 §1.3's example key and its accept value.
    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    fn target(url: &str) -> Target {
        Target::parse(url).unwrap()
    }

    fn request(url: &str, headers: &[(&str, &str)], subprotocols: &[&str]) -> String {
        let headers: Vec<(String, String)> = headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect();
        let subprotocols: Vec<String> = subprotocols.iter().map(|p| p.to_string()).collect();
        let mut out = Vec::new();
        write_request(&target(url), KEY, &headers, &subprotocols, &mut out);
        String::from_utf8(out).unwrap()
    }

    fn switching(extra: &str) -> String {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {ACCEPT}\r\n{extra}\r\n"
        )
    }

    fn parse(buf: &[u8]) -> Result<Progress, UpgradeError> {
        parse_response(buf, KEY, &[])
    }

    fn done(buf: &[u8]) -> Upgraded {
        match parse(buf) {
            Ok(Progress::Done(upgraded)) => upgraded,
            other => panic!("{other:?}"),
        }
    }

    fn offered(protocols: &[&str]) -> Vec<String> {
        protocols.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn accept_key_matches_rfc_6455() {
        assert_eq!(derive_accept_key(KEY.as_bytes()), ACCEPT);
    }

    #[test]
    fn request_has_every_required_header_in_order() {
        assert_eq!(
            request("wss://feed.example:8443/ws?x=1", &[], &[]),
            "GET /ws?x=1 HTTP/1.1\r\nHost: feed.example:8443\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
    }

    #[test]
    fn request_offers_subprotocols_and_sends_url_credentials() {
        let text = request(
            "ws://user:p%40ss@[::1]/",
            &[("X-Api-Key", "k")],
            &["v2.feed", "v1.feed"],
        );
        assert!(text.starts_with("GET / HTTP/1.1\r\nHost: [::1]\r\n"), "{text}");
        assert!(
            text.contains("\r\nSec-WebSocket-Protocol: v2.feed, v1.feed\r\n"),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "\r\nAuthorization: {}\r\n",
                base64::basic_auth("user", "p@ss")
            )),
            "{text}"
        );
        assert!(text.ends_with("\r\nX-Api-Key: k\r\n\r\n"), "{text}");
    }

    #[test]
    fn caller_headers_replace_ours_except_the_handshake_ones() {
        let text = request(
            "ws://user:pw@h/",
            &[
                ("authorization", "Bearer t"),
                ("HOST", "virtual.example"),
                ("Sec-WebSocket-Protocol", "custom"),
                ("Sec-WebSocket-Key", "forged"),
                ("sec-websocket-version", "8"),
                ("Upgrade", "h2c"),
                ("Connection", "close"),
                ("Sec-WebSocket-Extensions", "permessage-deflate"),
                ("Cookie", "a=1"),
                ("Cookie", "b=2"),
            ],
            &["offered"],
        );
        assert_eq!(
            text,
            "GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             authorization: Bearer t\r\nHOST: virtual.example\r\nSec-WebSocket-Protocol: custom\r\n\
             Cookie: a=1\r\nCookie: b=2\r\n\r\n"
        );
    }

    #[test]
    fn request_never_carries_an_injected_line() {
        let text = request(
            "ws://h/",
            &[
                ("X-A", "1\r\nX-Injected: 1"),
                ("X B", "1"),
                ("", "1"),
                ("X-C", "ok\tvalue"),
            ],
            &["ok", "bad\r\nX-Injected: 1", "sp ace", ""],
        );
        assert!(!text.contains("Injected"), "{text}");
        assert!(text.contains("\r\nSec-WebSocket-Protocol: ok\r\n"), "{text}");
        assert!(text.ends_with("\r\nX-C: ok\tvalue\r\n\r\n"), "{text}");
        assert_eq!(text.matches("\r\n").count(), 9, "{text}");
        // A dropped caller header replaces nothing.
        let text = request("ws://u:p@h/", &[("Host", "x\r\ny"), ("Authorization", "\n")], &[]);
        assert!(
            text.contains("\r\nHost: h\r\n") && text.contains("\r\nAuthorization: Basic "),
            "{text}"
        );
    }

    #[test]
    fn request_parses_as_http_1_1() {
        // What a server reads back: the method, the target and the version.
        let text = request("ws://h:9000/p?q=1", &[("X-Trace", "1")], &["chat"]);
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut req = httparse::Request::new(&mut headers);
        assert_eq!(req.parse(text.as_bytes()), Ok(httparse::Status::Complete(text.len())));
        assert_eq!(
            (req.method, req.path, req.version),
            (Some("GET"), Some("/p?q=1"), Some(1))
        );
    }

    #[test]
    fn plain_101() {
        let response = switching("");
        let upgraded = done(response.as_bytes());
        assert_eq!(upgraded.head_len, response.len());
        assert_eq!(upgraded.subprotocol, None);
    }

    #[test]
    fn token_lists_and_repeated_headers() {
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nConnection: keep-alive, Upgrade\r\n\
             Upgrade: h2c, WebSocket\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
        );
        done(response.as_bytes());
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nConnection: keep-alive\r\nConnection: upgrade\r\n\
             Upgrade: websocket\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
        );
        done(response.as_bytes());
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nConnection: keep-alive,upgraded\r\n\
             Upgrade: websocket\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
        );
        assert_eq!(parse(response.as_bytes()), Err(UpgradeError::MissingConnection));
    }

    #[test]
    fn header_names_in_any_case() {
        let response = format!(
            "HTTP/1.1 101 OK\r\nUPGRADE: WEBSOCKET\r\nconnection: UPGRADE\r\nsec-websocket-accept: {ACCEPT}\r\n\
             SEC-WEBSOCKET-PROTOCOL: chat\r\n\r\n"
        );
        let result = parse_response(response.as_bytes(), KEY, &offered(&["chat"]));
        assert_eq!(
            result,
            Ok(Progress::Done(Upgraded {
                head_len: response.len(),
                subprotocol: Some("chat".to_string()),
            }))
        );
    }

    #[test]
    fn one_byte_at_a_time() {
        let response = switching("");
        let bytes = response.as_bytes();
        for end in 0..bytes.len() {
            assert_eq!(parse(&bytes[..end]), Ok(Progress::Incomplete), "{end}");
        }
        assert_eq!(done(bytes).head_len, bytes.len());
    }

    #[test]
    fn interim_100_then_101() {
        let response = format!("HTTP/1.1 100 Continue\r\n\r\n{}", switching(""));
        assert_eq!(done(response.as_bytes()).head_len, response.len());
        // 102 Processing and an interim without a reason phrase too.
        let response = format!("HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 100\r\n\r\n{}", switching(""));
        assert_eq!(done(response.as_bytes()).head_len, response.len());
    }

    #[test]
    fn early_hints_then_101_in_one_buffer_and_split() {
        let hints = "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\
                     Link: </script.js>; rel=preload; as=script\r\n\r\n";
        let response = format!("{hints}{}", switching(""));
        assert_eq!(done(response.as_bytes()).head_len, response.len());
        // The hints alone, or the hints and part of the 101, are not enough.
        assert_eq!(parse(hints.as_bytes()), Ok(Progress::Incomplete));
        for end in hints.len()..response.len() {
            assert_eq!(parse(&response.as_bytes()[..end]), Ok(Progress::Incomplete), "{end}");
        }
    }

    #[test]
    fn bytes_after_the_head_are_left() {
        let head = switching("");
        let mut buf = head.clone().into_bytes();
        buf.extend_from_slice(&[0x81, 0x02, b'h', b'i']); // a text frame "hi"
        assert_eq!(done(&buf).head_len, head.len());
        assert_eq!(&buf[head.len()..], &[0x81, 0x02, b'h', b'i']);
        // However many frames are buffered: the limit is on the head alone.
        buf.extend_from_slice(&[0u8; 64 * 1024]);
        assert_eq!(done(&buf).head_len, head.len());
    }

    #[test]
    fn http_1_0_403() {
        let result = parse(b"HTTP/1.0 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
        let e = result.unwrap_err();
        assert_eq!(
            e,
            UpgradeError::Status {
                status: 403,
                version: 0,
                retry_after: None
            }
        );
        assert!(e.is_permanent());
        assert_eq!(e.to_string(), "upgrade answered with HTTP/1.0 403 Forbidden");
    }

    #[test]
    fn http_503_with_retry_after_seconds() {
        let e = parse(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30\r\n\r\n").unwrap_err();
        assert_eq!(
            e,
            UpgradeError::Status {
                status: 503,
                version: 1,
                retry_after: Some(RetryAfter::Seconds(30))
            }
        );
        assert!(!e.is_permanent());
        assert_eq!(e.failure(0).retry_after(), Some(core::time::Duration::from_secs(30)));
        assert_eq!(
            e.to_string(),
            "upgrade answered with HTTP/1.1 503 Service Unavailable (retry after 30 s)"
        );
    }

    #[test]
    fn http_429_with_retry_after_date() {
        let e =
            parse(b"HTTP/1.1 429 Too Many Requests\r\nretry-after: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n").unwrap_err();
        assert_eq!(
            e,
            UpgradeError::Status {
                status: 429,
                version: 1,
                retry_after: Some(RetryAfter::At(784_111_777))
            }
        );
        assert!(!e.is_permanent());
        assert_eq!(
            e.failure(784_111_777 - 90).retry_after(),
            Some(core::time::Duration::from_secs(90))
        );
    }

    #[test]
    fn a_bad_retry_after_is_no_hint() {
        let e = parse(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: soon\r\n\r\n").unwrap_err();
        assert!(matches!(e, UpgradeError::Status { retry_after: None, .. }), "{e:?}");
    }

    #[test]
    fn other_final_statuses() {
        let e = parse(b"HTTP/1.1 302 Found\r\nLocation: ws://elsewhere/\r\n\r\n").unwrap_err();
        assert!(matches!(e, UpgradeError::Status { status: 302, .. }) && e.is_permanent());
        let e = parse(b"HTTP/1.1 200 OK\r\n\r\n").unwrap_err();
        assert!(matches!(e, UpgradeError::Status { status: 200, .. }));
        let e = parse(b"HTTP/1.1 799 Odd\r\n\r\n").unwrap_err();
        assert_eq!(e.to_string(), "upgrade answered with HTTP/1.1 799");
    }

    #[test]
    fn wrong_missing_or_repeated_accept() {
        let wrong = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                     Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n";
        assert_eq!(parse(wrong.as_bytes()), Err(UpgradeError::AcceptMismatch));
        let missing = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
        assert_eq!(parse(missing.as_bytes()), Err(UpgradeError::AcceptMismatch));
        let twice = switching(&format!("Sec-WebSocket-Accept: {ACCEPT}\r\n"));
        assert_eq!(parse(twice.as_bytes()), Err(UpgradeError::AcceptMismatch));
        // Base64 is case-sensitive.
        let lower = switching("").replace(ACCEPT, &ACCEPT.to_lowercase());
        assert_eq!(parse(lower.as_bytes()), Err(UpgradeError::AcceptMismatch));
        assert!(!UpgradeError::AcceptMismatch.is_permanent());
    }

    #[test]
    fn missing_upgrade_or_connection() {
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
        );
        assert_eq!(parse(response.as_bytes()), Err(UpgradeError::MissingUpgrade));
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
        );
        assert_eq!(parse(response.as_bytes()), Err(UpgradeError::MissingUpgrade));
        let response =
            format!("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n");
        assert_eq!(parse(response.as_bytes()), Err(UpgradeError::MissingConnection));
    }

    #[test]
    fn subprotocol_chosen() {
        let response = switching("Sec-WebSocket-Protocol: v1.feed\r\n");
        let result = parse_response(response.as_bytes(), KEY, &offered(&["v2.feed", "v1.feed"]));
        let Ok(Progress::Done(upgraded)) = result else {
            panic!("{result:?}")
        };
        assert_eq!(upgraded.subprotocol.as_deref(), Some("v1.feed"));
    }

    #[test]
    fn subprotocol_not_offered() {
        let response = switching("Sec-WebSocket-Protocol: v3.feed\r\n");
        let e = parse_response(response.as_bytes(), KEY, &offered(&["v2.feed"])).unwrap_err();
        assert!(e.is_permanent());
        assert_eq!(
            e.to_string(),
            "server chose subprotocol \"v3.feed\", which was not offered (offered: v2.feed)"
        );
        // Choosing one when none was offered.
        let e = parse(response.as_bytes()).unwrap_err();
        assert!(matches!(&e, UpgradeError::UnexpectedSubprotocol { chosen, .. } if chosen == "v3.feed"));
        assert!(e.to_string().ends_with("(offered: none)"), "{e}");
        // Subprotocols are compared exactly.
        let response = switching("Sec-WebSocket-Protocol: CHAT\r\n");
        assert!(parse_response(response.as_bytes(), KEY, &offered(&["chat"])).is_err());
        // Choosing several.
        let response = switching("Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: chat\r\n");
        assert!(parse_response(response.as_bytes(), KEY, &offered(&["chat"])).is_err());
        let response = switching("Sec-WebSocket-Protocol: chat, v2\r\n");
        assert!(parse_response(response.as_bytes(), KEY, &offered(&["chat", "v2"])).is_err());
    }

    #[test]
    fn subprotocol_missing() {
        let e = parse_response(
            switching("").as_bytes(),
            KEY,
            &offered(&["graphql-ws", "graphql-transport-ws"]),
        )
        .unwrap_err();
        assert_eq!(
            e,
            UpgradeError::SubprotocolMissing {
                offered: offered(&["graphql-ws", "graphql-transport-ws"])
            }
        );
        assert!(e.is_permanent());
        assert_eq!(
            e.to_string(),
            "server chose no subprotocol; offered: graphql-ws, graphql-transport-ws"
        );
        // An empty header is no choice either.
        let response = switching("Sec-WebSocket-Protocol: \r\n");
        let result = parse_response(response.as_bytes(), KEY, &offered(&["chat"]));
        assert!(matches!(result, Err(UpgradeError::SubprotocolMissing { .. })));
    }

    #[test]
    fn extension_not_offered() {
        let response = switching("Sec-WebSocket-Extensions: permessage-deflate\r\n");
        let e = parse(response.as_bytes()).unwrap_err();
        assert_eq!(
            e,
            UpgradeError::UnexpectedExtension {
                extension: "permessage-deflate".to_string()
            }
        );
        assert!(e.is_permanent());
        let response = switching("Sec-WebSocket-Extensions: \r\n");
        done(response.as_bytes());
    }

    #[test]
    fn twenty_kib_of_headers() {
        let big = format!(
            "HTTP/1.1 101 Switching Protocols\r\nX-Big: {}\r\n",
            "a".repeat(20 * 1024)
        );
        // Refused before the head ends: no need to wait for the rest.
        assert_eq!(parse(big.as_bytes()), Err(UpgradeError::TooLarge { limit: MAX_HEAD }));
        let whole = format!("{big}{}", switching("").split_once("\r\n").unwrap().1);
        assert_eq!(parse(whole.as_bytes()), Err(UpgradeError::TooLarge { limit: MAX_HEAD }));
        // Just under the limit it is still waited for.
        assert_eq!(parse(&big.as_bytes()[..MAX_HEAD - 1]), Ok(Progress::Incomplete));
        assert!(!UpgradeError::TooLarge { limit: MAX_HEAD }.is_permanent());
    }

    #[test]
    fn endless_interim_responses_hit_the_limit() {
        let flood = "HTTP/1.1 100 Continue\r\n\r\n".repeat(1000);
        assert_eq!(parse(flood.as_bytes()), Err(UpgradeError::TooLarge { limit: MAX_HEAD }));
    }

    #[test]
    fn too_many_headers_is_an_error() {
        let mut response = String::from("HTTP/1.1 101 Switching Protocols\r\n");
        for i in 0..100 {
            response.push_str(&format!("X-{i}: v\r\n"));
        }
        response.push_str("\r\n");
        assert_eq!(
            parse(response.as_bytes()),
            Err(UpgradeError::Malformed {
                reason: "more than 64 header fields"
            })
        );
        // 64 fields are fine.
        let mut response = switching("");
        for i in 0..60 {
            response.insert_str(response.len() - 2, &format!("X-{i}: v\r\n"));
        }
        done(response.as_bytes());
    }

    #[test]
    fn garbage() {
        for input in [
            &b"SSH-2.0-OpenSSH_9.6\r\n"[..],
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
            b"<html><body>captive portal</body></html>",
            b"HTTP/2 101\r\n\r\n",
            b"HTTP/1.1 abc\r\n\r\n",
            b"HTTP/1.1 099 Low\r\n\r\n",
            b"HTTP/1.1 101 Switching Protocols\r\nBad Header\r\n\r\n",
            b"HTTP/1.1 101 Switching Protocols\r\nX: a\x00b\r\n\r\n",
        ] {
            let e = parse(input).unwrap_err();
            assert!(matches!(e, UpgradeError::Malformed { .. }), "{input:?}: {e:?}");
            assert!(!e.is_permanent());
        }
        assert_eq!(
            parse(b"SSH-2.0").unwrap_err().to_string(),
            "malformed upgrade response: not an HTTP/1.x response"
        );
    }

    #[test]
    fn empty_buffer_and_prefixes_are_incomplete() {
        assert_eq!(parse(b""), Ok(Progress::Incomplete));
        assert_eq!(parse(b"HT"), Ok(Progress::Incomplete));
        assert_eq!(parse(b"\r\n"), Ok(Progress::Incomplete));
        assert_eq!(parse(b"HTTP/1.1 101"), Ok(Progress::Incomplete));
    }

    #[test]
    fn a_101_over_http_1_0_is_accepted() {
        let response = switching("").replacen("HTTP/1.1", "HTTP/1.0", 1);
        done(response.as_bytes());
    }

    #[test]
    fn round_trip_with_a_generated_key() {
        let key = tungstenite::handshake::client::generate_key();
        let accept = derive_accept_key(key.as_bytes());
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n\r\n"
        );
        let result = parse_response(response.as_bytes(), &key, &[]);
        assert!(matches!(result, Ok(Progress::Done(_))), "{result:?}");
        let mut out = Vec::new();
        write_request(&target("ws://h/"), &key, &[], &[], &mut out);
        assert!(String::from_utf8(out).unwrap().contains(&key));
    }

    #[test]
    fn server_values_in_errors_are_bounded() {
        let long = "x".repeat(1000);
        let response = switching(&format!("Sec-WebSocket-Protocol: {long}\r\n"));
        let Err(UpgradeError::UnexpectedSubprotocol { chosen, .. }) = parse(response.as_bytes()) else {
            panic!()
        };
        assert_eq!(chosen.len(), MAX_EXCERPT);
    }

    #[test]
    fn no_input_prefix_panics() {
        let mut inputs = vec![switching("Sec-WebSocket-Protocol: chat\r\n").into_bytes()];
        inputs.push(b"HTTP/1.1 103 Early Hints\r\nLink: <x>\r\n\r\nHTTP/1.1 404 Not Found\r\n\r\n".to_vec());
        inputs.push(b"HTTP/1.1 101 \xff\xfe\r\nUpgrade: \xff\r\n\r\n".to_vec());
        for input in &inputs {
            for end in 0..=input.len() {
                let _ = parse_response(&input[..end], KEY, &offered(&["chat"]));
            }
        }
    }

    #[test]
    fn random_mutations_do_not_panic() {
        let base = format!(
            "HTTP/1.1 103 Early Hints\r\nLink: <x>\r\n\r\n{}",
            switching("Sec-WebSocket-Protocol: chat\r\n")
        );
        let base = base.into_bytes();
        let mut rng = fastrand::Rng::with_seed(0x5eed);
        for _ in 0..5_000 {
            let mut input = base.clone();
            for _ in 0..rng.usize(1..4) {
                let at = rng.usize(..input.len());
                match rng.u8(..3) {
                    0 => input[at] = rng.u8(..),
                    1 => {
                        input.remove(at);
                    }
                    _ => input.insert(at, b"\r\n:, "[rng.usize(..5)]),
                }
            }
            let cut = rng.usize(..=input.len());
            if let Ok(Progress::Done(upgraded)) = parse_response(&input[..cut], KEY, &offered(&["chat"])) {
                assert!(upgraded.head_len <= cut);
            }
        }
    }
}

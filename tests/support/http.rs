//! The raw HTTP side of the upgrade: reading the client's request head and
//! every answer a hostile or merely unusual server gives — correct and odd
//! 101s, a 101 one byte at a time, informational answers first, refusals
//! with any status, version and headers, a wrong accept key, a subprotocol
//! nobody asked for, frames in the same write as the 101.
//!
//! A script calls these on its [`Conn`] (plain or TLS alike) and then goes on
//! as it likes: [`Conn::into_peer`] or [`Conn::into_raw`] after a 101,
//! [`Conn::hold_silent`] after a refusal. Accepting TCP and never answering
//! is [`Conn::never_answer`]; closing right after accepting is
//! [`Conn::close_at_once`] (FIN) or [`Conn::reset`] (RST).

use std::io::{Read, Write};
use std::thread;
use std::time::{Duration, Instant};

use tungstenite::handshake::derive_accept_key;

use super::server::{Conn, Seen};
use super::PATIENCE;

/// A request head longer than this is not an upgrade request; stop reading.
const HEAD_LIMIT: usize = 64 * 1024;

// ---------------------------------------------------------------- request

/// A parsed HTTP request head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The request target as sent: `/path?query`, or `host:port` for CONNECT.
    pub path: String,
    /// The minor version: `1` for HTTP/1.1.
    pub version: u8,
    /// Every header in order, names as the client spelled them.
    pub headers: Vec<(String, String)>,
    /// The head as received, up to and including the blank line.
    pub head: String,
}

impl Request {
    /// Parses a complete head (`None` if it is not one).
    pub fn parse(head: &[u8]) -> Option<Request> {
        let mut slots = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Request::new(&mut slots);
        match parsed.parse(head) {
            Ok(httparse::Status::Complete(_)) => {}
            _ => return None,
        }
        let headers = parsed
            .headers
            .iter()
            .map(|h| (h.name.to_string(), String::from_utf8_lossy(h.value).into_owned()))
            .collect();
        Some(Request {
            method: parsed.method?.to_string(),
            path: parsed.path?.to_string(),
            version: parsed.version?,
            headers,
            head: String::from_utf8_lossy(head).into_owned(),
        })
    }

    /// The first header called `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header called `name` (any case), in order.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The comma-separated tokens of every `name` header, trimmed.
    pub fn tokens(&self, name: &str) -> Vec<String> {
        self.headers_named(name)
            .iter()
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect()
    }

    /// Whether a `name` header lists `token` (any case), as in
    /// `Connection: keep-alive, Upgrade`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.tokens(name).iter().any(|t| t.eq_ignore_ascii_case(token))
    }

    pub fn host(&self) -> Option<&str> {
        self.header("Host")
    }

    pub fn authorization(&self) -> Option<&str> {
        self.header("Authorization")
    }

    /// User and password of a `Basic` credential in header `name`
    /// (`Authorization` or `Proxy-Authorization`).
    pub fn basic_credentials(&self, name: &str) -> Option<(String, String)> {
        let value = self.header(name)?.trim();
        let (scheme, encoded) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = String::from_utf8(base64_decode(encoded.trim())?).ok()?;
        let (user, password) = decoded.split_once(':')?;
        Some((user.to_string(), password.to_string()))
    }

    pub fn websocket_key(&self) -> Option<&str> {
        self.header("Sec-WebSocket-Key").map(str::trim)
    }

    /// The `Sec-WebSocket-Accept` a correct server answers with.
    pub fn accept_key(&self) -> Option<String> {
        Some(derive_accept_key(self.websocket_key()?.as_bytes()))
    }

    /// The subprotocols offered, in order.
    pub fn protocols(&self) -> Vec<String> {
        self.tokens("Sec-WebSocket-Protocol")
    }
}

/// Reads one head (up to the blank line) byte by byte, so nothing after it
/// is consumed: the frames or the tunnelled bytes that follow stay in the
/// socket for whoever reads next.
pub fn read_head(io: &mut impl Read) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= HEAD_LIMIT {
            return None;
        }
        match io.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(head)
}

// ---------------------------------------------------------------- response

/// An HTTP response head (and body) to write verbatim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// `HTTP/1.1`, `HTTP/1.0`, or anything else a test wants on the wire.
    pub version: String,
    pub status: u16,
    pub reason: String,
    /// Written in order, names as given (so odd case stays odd).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// `HTTP/1.1 {status} {standard reason}`, no headers.
    pub fn new(status: u16) -> Response {
        Response {
            version: "HTTP/1.1".to_string(),
            status,
            reason: reason_phrase(status).to_string(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn version(mut self, version: &str) -> Response {
        self.version = version.to_string();
        self
    }

    pub fn reason(mut self, reason: &str) -> Response {
        self.reason = reason.to_string();
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Response {
        self.body = body.into();
        self
    }

    /// The 101 a correct server answers `request` with (no subprotocol).
    /// Without a `Sec-WebSocket-Key` in the request the accept header is
    /// left out: that answer is wrong, as the request was.
    pub fn upgrade(request: &Request) -> Response {
        let response = Response::new(101)
            .header("Upgrade", "websocket")
            .header("Connection", "Upgrade");
        match request.accept_key() {
            Some(accept) => response.header("Sec-WebSocket-Accept", &accept),
            None => response,
        }
    }

    /// A correct 101 that a strict parser might trip on: `Connection` as a
    /// token list, header names and values in odd case, an extra header.
    pub fn upgrade_odd_case(request: &Request) -> Response {
        let accept = request.accept_key().unwrap_or_default();
        Response::new(101)
            .reason("switching protocols")
            .header("UPGRADE", "WebSocket")
            .header("connection", "keep-alive, Upgrade")
            .header("sec-websocket-ACCEPT", &accept)
            .header("X-Powered-By", "test")
    }

    /// A 101 whose `Sec-WebSocket-Accept` is right in form (base64 of a
    /// SHA-1) but derived from another key than the request's.
    pub fn upgrade_wrong_accept(request: &Request) -> Response {
        let other_key = format!("{}x", request.websocket_key().unwrap_or_default());
        Response::new(101)
            .header("Upgrade", "websocket")
            .header("Connection", "Upgrade")
            .header("Sec-WebSocket-Accept", &derive_accept_key(other_key.as_bytes()))
    }

    /// A correct 101 that chooses `protocol` (whether or not it was offered),
    /// or omits `Sec-WebSocket-Protocol` with `None`.
    pub fn upgrade_with_protocol(request: &Request, protocol: Option<&str>) -> Response {
        let response = Response::upgrade(request);
        match protocol {
            Some(protocol) => response.header("Sec-WebSocket-Protocol", protocol),
            None => response,
        }
    }

    /// `103 Early Hints` with one `Link` header per entry.
    pub fn early_hints(links: &[&str]) -> Response {
        links
            .iter()
            .fold(Response::new(103), |response, link| response.header("Link", link))
    }

    /// `status` with `Retry-After: {seconds}`.
    pub fn retry_after_seconds(status: u16, seconds: u64) -> Response {
        Response::new(status).header("Retry-After", &seconds.to_string())
    }

    /// `status` with `Retry-After` as an HTTP-date, `unix_secs` since 1970.
    pub fn retry_after_date(status: u16, unix_secs: u64) -> Response {
        Response::new(status).header("Retry-After", &http_date(unix_secs))
    }

    /// The bytes on the wire. A final answer (200 and up) that names no
    /// length gets a `Content-Length`, so a client never has to wait for the
    /// end of the connection to know the body ended.
    pub fn bytes(&self) -> Vec<u8> {
        let mut head = format!("{} {} {}\r\n", self.version, self.status, self.reason);
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        let named_length = self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding"));
        if self.status >= 200 && !named_length {
            head.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

/// The standard reason phrase, or `Unknown`.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        103 => "Early Hints",
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

// ---------------------------------------------------------------- scripts

impl Conn {
    /// Reads the request head (journalled as [`Seen::Request`]).
    pub fn read_request(&mut self) -> Option<Request> {
        let head = read_head(&mut self.io)?;
        let request = Request::parse(&head)?;
        self.journal.push(Seen::Request {
            conn: self.conn,
            request: request.clone(),
        });
        Some(request)
    }

    /// Writes and flushes `bytes`; false if the link failed.
    pub fn send_bytes(&mut self, bytes: &[u8]) -> bool {
        self.io.write_all(bytes).and_then(|()| self.io.flush()).is_ok()
    }

    pub fn send_response(&mut self, response: &Response) -> bool {
        self.send_bytes(&response.bytes())
    }

    /// Writes `bytes` one at a time, `every` apart; stops early (false) if
    /// the link fails or the patience runs out.
    pub fn send_dribbled(&mut self, bytes: &[u8], every: Duration) -> bool {
        let started = Instant::now();
        for (i, byte) in bytes.iter().enumerate() {
            if i > 0 {
                // The delay is the fault being injected, not a wait.
                thread::sleep(every);
            }
            if !self.send_bytes(&[*byte]) || started.elapsed() > PATIENCE {
                return false;
            }
        }
        true
    }

    /// Answers with the correct 101.
    pub fn answer_upgrade(&mut self, request: &Request) -> bool {
        self.send_response(&Response::upgrade(request))
    }

    /// A correct 101 with `Connection: keep-alive, Upgrade` and odd case.
    pub fn answer_upgrade_odd_case(&mut self, request: &Request) -> bool {
        self.send_response(&Response::upgrade_odd_case(request))
    }

    /// The correct 101, one byte every `every`.
    pub fn answer_upgrade_dribbled(&mut self, request: &Request, every: Duration) -> bool {
        self.send_dribbled(&Response::upgrade(request).bytes(), every)
    }

    /// `103 Early Hints` with `Link` headers, then the correct 101.
    pub fn answer_early_hints_then_upgrade(&mut self, request: &Request, links: &[&str]) -> bool {
        self.send_response(&Response::early_hints(links)) && self.answer_upgrade(request)
    }

    /// `100 Continue`, then the correct 101.
    pub fn answer_continue_then_upgrade(&mut self, request: &Request) -> bool {
        self.send_response(&Response::new(100)) && self.answer_upgrade(request)
    }

    /// A 101 choosing `protocol` (offered or not), or none.
    pub fn answer_upgrade_with_protocol(&mut self, request: &Request, protocol: Option<&str>) -> bool {
        self.send_response(&Response::upgrade_with_protocol(request, protocol))
    }

    /// A 101 whose `Sec-WebSocket-Accept` does not match the key.
    pub fn answer_upgrade_wrong_accept(&mut self, request: &Request) -> bool {
        self.send_response(&Response::upgrade_wrong_accept(request))
    }

    /// The correct 101 and `frames` (see `frames.rs`) in one write, so they
    /// arrive in the client's first read together.
    pub fn answer_upgrade_then_frames(&mut self, request: &Request, frames: &[u8]) -> bool {
        let mut bytes = Response::upgrade(request).bytes();
        bytes.extend_from_slice(frames);
        self.send_bytes(&bytes)
    }

    /// Reads the request, answers with `response`, then waits for the client
    /// to hang up.
    pub fn reply(mut self, response: Response) {
        if self.read_request().is_some() && self.send_response(&response) {
            self.hold_silent();
        }
    }

    /// Reads the request, answers with `head` (status line and headers,
    /// without the final blank line) and `Content-Length: 0`, then waits for
    /// the client to hang up.
    pub fn respond(mut self, head: &str) {
        if self.read_request().is_some() && self.send_bytes(format!("{head}\r\nContent-Length: 0\r\n\r\n").as_bytes()) {
            self.hold_silent();
        }
    }

    /// Reads the request, then answers one byte every `every`, never
    /// finishing within a test, until the client hangs up.
    pub fn dribble(mut self, every: Duration) {
        if self.read_request().is_none() {
            return;
        }
        let answer = format!("HTTP/1.1 101 Switching Protocols\r\nX-Padding: {}", "x".repeat(4096));
        self.send_dribbled(answer.as_bytes(), every);
    }
}

// ---------------------------------------------------------------- dates

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs_f64()
}

/// `unix_secs` as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn http_date(unix_secs: u64) -> String {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix_secs / 86_400;
    let secs = unix_secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        secs / 3_600,
        secs / 60 % 60,
        secs % 60
    )
}

// ---------------------------------------------------------------- base64

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding, for `Basic` credentials.
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes standard base64 (padding optional); `None` on anything else.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = text
        .trim_end_matches('=')
        .bytes()
        .map(|c| BASE64.iter().position(|&b| b == c).map(|p| p as u8))
        .collect::<Option<_>>()?;
    if digits.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &d)| n | (u32::from(d) << (18 - 6 * i)));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    Some(out)
}

/// `Basic base64(user:password)`, for `Authorization` and
/// `Proxy-Authorization`.
pub fn basic_auth(user: &str, password: &str) -> String {
    format!("Basic {}", base64_encode(format!("{user}:{password}").as_bytes()))
}

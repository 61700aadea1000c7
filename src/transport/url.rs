//! The endpoint URL, parsed once when the client is built.
//!
//! `tungstenite::http::Uri` does the RFC 3986 work; on top of it this module
//! refuses what it lets through but a WebSocket client must not accept: ports
//! it reads as "no port" (`:99999` would otherwise become the default port),
//! fragments (which it drops silently, and which the WHATWG `WebSocket`
//! constructor rejects), bracketed hosts that are not IPv6 addresses, and
//! whitespace or control characters anywhere.

use core::fmt;
use core::net::Ipv6Addr;
use std::string::{String, ToString};
use std::vec::Vec;

use tungstenite::http::Uri;

use super::redact_url;

/// `ws://` or `wss://`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Plain TCP, default port 80.
    Ws,
    /// TLS, default port 443.
    Wss,
}

impl Scheme {
    /// The port used when the URL names none.
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Ws => 80,
            Scheme::Wss => 443,
        }
    }

    /// `"ws"` or `"wss"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Ws => "ws",
            Scheme::Wss => "wss",
        }
    }
}

/// Where to connect and what to ask for: a parsed `ws://` or `wss://` URL.
///
/// Its `Debug` output hides the credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct Target {
    scheme: Scheme,
    host: String,
    port: u16,
    path_and_query: String,
    credentials: Option<(String, String)>,
}

impl Target {
    /// Parses `url`. The scheme and host are case-insensitive (the host is
    /// kept in lower case); an empty path becomes `/`; non-ASCII characters in
    /// the path and query are percent-encoded as UTF-8; the userinfo, if any,
    /// becomes percent-decoded credentials (`user@host` means an empty
    /// password).
    ///
    /// The error carries the URL redacted by [`redact_url`].
    pub fn parse(url: &str) -> Result<Target, UrlError> {
        let error = |reason| UrlError::new(url, reason);
        let parts = Parts::parse(url).map_err(error)?;
        let scheme = if parts.scheme.eq_ignore_ascii_case("ws") {
            Scheme::Ws
        } else if parts.scheme.eq_ignore_ascii_case("wss") {
            Scheme::Wss
        } else {
            return Err(error(reason::SCHEME));
        };
        Ok(Target {
            scheme,
            port: parts.port.unwrap_or(scheme.default_port()),
            host: parts.host,
            path_and_query: parts.path_and_query,
            credentials: parts.credentials,
        })
    }

    /// `ws` or `wss`.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host in lower case: a name, an IPv4 address, or an IPv6 address
    /// without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, the scheme's default when the URL names none.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The request target of the upgrade: starts with `/`, includes the query.
    pub fn path_and_query(&self) -> &str {
        &self.path_and_query
    }

    /// The percent-decoded user name and password from the URL.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.credentials
            .as_ref()
            .map(|(user, password)| (user.as_str(), password.as_str()))
    }

    /// The `Host` header: the host (IPv6 in brackets), with `:port` only when
    /// the port is not the scheme's default (RFC 9110 §7.2).
    pub fn host_header(&self) -> String {
        let port = (self.port != self.scheme.default_port()).then_some(self.port);
        authority(&self.host, port)
    }

    /// Whether the link runs over TLS (`wss`).
    pub fn is_tls(&self) -> bool {
        self.scheme == Scheme::Wss
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("scheme", &self.scheme)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("path_and_query", &redact_url(&self.path_and_query))
            .field("credentials", &self.credentials.as_ref().map(|_| "***"))
            .finish()
    }
}

/// A URL that cannot be used. Shows the URL redacted, never a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlError {
    url: String,
    reason: &'static str,
}

impl UrlError {
    pub(crate) fn new(url: &str, reason: &'static str) -> UrlError {
        UrlError {
            url: redact_url(url),
            reason,
        }
    }

    /// The URL as [`redact_url`] shows it: without userinfo, query values,
    /// bare query items or fragment, control characters escaped.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// What is wrong with it.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid URL {}: {}", self.url, self.reason)
    }
}

impl core::error::Error for UrlError {}

/// Why a URL is refused; shared with proxy URLs.
pub(crate) mod reason {
    /// Not `ws` or `wss`.
    pub(crate) const SCHEME: &str = "scheme must be ws or wss";
    /// No `scheme://` at all.
    pub(crate) const NO_SCHEME: &str = "missing scheme (expected ws:// or wss://)";
    /// Nothing between `://` (or the userinfo) and the port or path.
    pub(crate) const HOST: &str = "missing host";
    /// Not digits, zero, or above 65535.
    pub(crate) const PORT: &str = "port must be a number from 1 to 65535";
    /// A raw space, tab, newline or other control character.
    pub(crate) const WHITESPACE: &str = "contains whitespace or a control character";
    /// A `#`.
    pub(crate) const FRAGMENT: &str = "has a fragment (#), which a WebSocket URL cannot carry";
    /// `[...]` that does not hold an IPv6 address (zone identifiers included).
    pub(crate) const IPV6: &str = "brackets must hold an IPv6 address";
    /// Userinfo that decodes to something other than UTF-8.
    pub(crate) const CREDENTIALS: &str = "user name or password is not UTF-8 once percent-decoded";
    /// Anything the URI parser refuses.
    pub(crate) const SYNTAX: &str = "not a valid URL";
}

/// A URL split into what the connect path needs; the scheme is left to the
/// caller to judge.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Parts {
    /// As written (not lower-cased).
    pub(crate) scheme: String,
    /// Lower case, IPv6 without brackets.
    pub(crate) host: String,
    /// `None` when absent or empty (`host:`), as WHATWG reads it.
    pub(crate) port: Option<u16>,
    /// Starts with `/`; non-ASCII percent-encoded.
    pub(crate) path_and_query: String,
    /// Percent-decoded; `None` when the userinfo is absent or empty.
    pub(crate) credentials: Option<(String, String)>,
}

impl Parts {
    /// Splits `url`, refusing anything a client must not send or connect to.
    pub(crate) fn parse(url: &str) -> Result<Parts, &'static str> {
        if url.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(reason::WHITESPACE);
        }
        if url.contains('#') {
            return Err(reason::FRAGMENT);
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            return Err(reason::NO_SCHEME);
        };
        if scheme.is_empty() {
            return Err(reason::NO_SCHEME);
        }
        // The URI parser reports these as generic syntax errors; say what is missing.
        let raw_authority = rest.split(['/', '?']).next().unwrap_or_default();
        let raw_host_port = raw_authority.rsplit('@').next().unwrap_or_default();
        if raw_host_port.is_empty() || raw_host_port.starts_with(':') {
            return Err(reason::HOST);
        }

        let uri: Uri = url.parse().map_err(|_| reason::SYNTAX)?;
        let authority = uri.authority().ok_or(reason::SYNTAX)?.as_str();
        let (userinfo, host_port) = match authority.rsplit_once('@') {
            Some((userinfo, host_port)) => (Some(userinfo), host_port),
            None => (None, authority),
        };
        let (host, port) = split_host_port(host_port)?;
        if host.is_empty() {
            return Err(reason::HOST);
        }
        let port = match port {
            None | Some("") => None,
            Some(digits) => Some(parse_port(digits).ok_or(reason::PORT)?),
        };
        let credentials = match userinfo {
            None | Some("") => None,
            Some(userinfo) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                let user = percent_decode(user).ok_or(reason::CREDENTIALS)?;
                let password = percent_decode(password).ok_or(reason::CREDENTIALS)?;
                Some((user, password))
            }
        };
        let mut path_and_query = String::with_capacity(uri.path().len() + uri.query().map_or(0, |q| q.len() + 1));
        push_percent_encoded(&mut path_and_query, uri.path());
        if !path_and_query.starts_with('/') {
            path_and_query.insert(0, '/');
        }
        if let Some(query) = uri.query() {
            path_and_query.push('?');
            push_percent_encoded(&mut path_and_query, query);
        }
        Ok(Parts {
            scheme: scheme.to_string(),
            host: host.to_ascii_lowercase(),
            port,
            path_and_query,
            credentials,
        })
    }
}

/// `host[:port]` or `[v6][:port]`, the host without brackets.
fn split_host_port(host_port: &str) -> Result<(&str, Option<&str>), &'static str> {
    if let Some(bracketed) = host_port.strip_prefix('[') {
        let (inside, after) = bracketed.split_once(']').ok_or(reason::IPV6)?;
        if inside.parse::<Ipv6Addr>().is_err() {
            return Err(reason::IPV6);
        }
        return match after {
            "" => Ok((inside, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((inside, Some(port))),
                None => Err(reason::SYNTAX),
            },
        };
    }
    Ok(match host_port.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (host_port, None),
    })
}

/// A decimal port from 1 to 65535; leading zeros allowed, signs not.
fn parse_port(digits: &str) -> Option<u16> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let value = digits
        .bytes()
        .try_fold(0u32, |acc, b| acc.checked_mul(10)?.checked_add(u32::from(b - b'0')))?;
    u16::try_from(value).ok().filter(|&port| port != 0)
}

/// `host` and `port` as an authority, IPv6 in brackets.
pub(crate) fn authority(host: &str, port: Option<u16>) -> String {
    let mut out = String::with_capacity(host.len() + 8);
    if host.contains(':') {
        out.push('[');
        out.push_str(host);
        out.push(']');
    } else {
        out.push_str(host);
    }
    if let Some(port) = port {
        out.push(':');
        out.push_str(&port.to_string());
    }
    out
}

/// `%XX` decoded; a `%` not followed by two hex digits stays as it is (as
/// WHATWG and Python's `unquote` do). `None` when the result is not UTF-8.
pub(crate) fn percent_decode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let escaped = match (b, bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&hi), Some(&lo)) => hex(hi).zip(hex(lo)).map(|(hi, lo)| hi << 4 | lo),
            _ => None,
        };
        match escaped {
            Some(decoded) => {
                out.push(decoded);
                i += 3;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn hex(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Appends `input` with every non-ASCII byte as `%XX`, so the request line
/// stays ASCII (what browsers and python-websockets send for IRIs).
fn push_percent_encoded(out: &mut String, input: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for c in input.chars() {
        if c.is_ascii() {
            out.push(c);
            continue;
        }
        let mut utf8 = [0u8; 4];
        for &b in c.encode_utf8(&mut utf8).as_bytes() {
            out.push('%');
            for nibble in [b >> 4, b & 0xf] {
                if let Some(&digit) = HEX.get(usize::from(nibble)) {
                    out.push(char::from(digit));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    fn ok(url: &str) -> Target {
        match Target::parse(url) {
            Ok(target) => target,
            Err(e) => panic!("{url:?}: {e}"),
        }
    }

    fn refused(url: &str) -> &'static str {
        match Target::parse(url) {
            Ok(target) => panic!("{url:?} accepted as {target:?}"),
            Err(e) => e.reason(),
        }
    }

    #[test]
    fn plain_urls_and_default_ports() {
        let t = ok("ws://example.com/feed");
        assert_eq!(t.scheme(), Scheme::Ws);
        assert!(!t.is_tls());
        assert_eq!((t.host(), t.port(), t.path_and_query()), ("example.com", 80, "/feed"));
        assert_eq!(t.credentials(), None);
        let t = ok("wss://example.com/feed");
        assert_eq!(t.scheme(), Scheme::Wss);
        assert!(t.is_tls());
        assert_eq!(t.port(), 443);
    }

    #[test]
    fn scheme_is_case_insensitive() {
        assert_eq!(ok("WS://h/").scheme(), Scheme::Ws);
        assert_eq!(ok("Wss://h/").scheme(), Scheme::Wss);
        assert_eq!(ok("wSs://h/").port(), 443);
    }

    #[test]
    fn host_is_lower_cased() {
        assert_eq!(ok("ws://Example.COM/").host(), "example.com");
    }

    #[test]
    fn other_schemes_are_refused() {
        for url in ["http://h/", "https://h/", "ftp://h/", "wsx://h/", "w://h/"] {
            assert_eq!(refused(url), reason::SCHEME, "{url}");
        }
        for url in ["h/path", "example.com", "://h/", ""] {
            assert_eq!(refused(url), reason::NO_SCHEME, "{url}");
        }
    }

    #[test]
    fn empty_host_is_refused() {
        for url in [
            "ws://",
            "ws:///path",
            "ws://:80/",
            "ws://user:pw@/",
            "ws://user@:80/",
            "ws://?q",
        ] {
            assert_eq!(refused(url), reason::HOST, "{url}");
        }
    }

    #[test]
    fn bad_ports_are_refused() {
        for url in [
            "ws://127.0.0.1:99999/",
            "ws://h:65536/",
            "ws://h:0/",
            "ws://h:+80/",
            "ws://h:8o/",
            "ws://h:99999999999999999999999/",
            "ws://[::1]:70000/",
        ] {
            assert_eq!(refused(url), reason::PORT, "{url}");
        }
    }

    #[test]
    fn good_ports() {
        assert_eq!(ok("ws://h:65535/").port(), 65535);
        assert_eq!(ok("ws://h:1/").port(), 1);
        assert_eq!(ok("ws://h:0080/").port(), 80);
        assert_eq!(ok("wss://h:80/").port(), 80);
        // WHATWG reads an empty port as the default one.
        assert_eq!(ok("wss://h:/").port(), 443);
    }

    #[test]
    fn whitespace_and_control_characters_are_refused() {
        for url in [
            "ws://exa mple.com/",
            "ws://example.com/a b",
            "ws://example.com/\t",
            "ws://example.com/\n",
            "ws://example.com/?a=\r\nX-Injected: 1",
            " ws://example.com/",
            "ws://example.com/\0",
            "ws://example.com/\x7f",
        ] {
            assert_eq!(refused(url), reason::WHITESPACE, "{url:?}");
        }
    }

    #[test]
    fn fragments_are_refused() {
        for url in ["ws://h/#", "ws://h/p#frag", "ws://h#f", "ws://h/?q=1#token=secret"] {
            assert_eq!(refused(url), reason::FRAGMENT, "{url}");
        }
    }

    #[test]
    fn empty_path_becomes_slash_and_query_is_kept() {
        assert_eq!(ok("ws://h").path_and_query(), "/");
        assert_eq!(ok("ws://h:9000").path_and_query(), "/");
        assert_eq!(ok("ws://h?x=1").path_and_query(), "/?x=1");
        assert_eq!(ok("ws://h/a/b?x=1&y=%20").path_and_query(), "/a/b?x=1&y=%20");
        assert_eq!(ok("ws://h/?").path_and_query(), "/?");
    }

    #[test]
    fn non_ascii_path_is_percent_encoded() {
        assert_eq!(ok("ws://h/caf\u{e9}?q=\u{e9}").path_and_query(), "/caf%C3%A9?q=%C3%A9");
    }

    #[test]
    fn ipv6_literals() {
        let t = ok("ws://[::1]:9000/x");
        assert_eq!((t.host(), t.port(), t.path_and_query()), ("::1", 9000, "/x"));
        assert_eq!(t.host_header(), "[::1]:9000");
        let t = ok("wss://[2001:DB8::1]/");
        assert_eq!((t.host(), t.port()), ("2001:db8::1", 443));
        assert_eq!(t.host_header(), "[2001:db8::1]");
    }

    #[test]
    fn bad_brackets_are_refused() {
        for url in ["ws://[abc]/", "ws://[fe80::1%25eth0]/", "ws://[]/", "ws://[127.0.0.1]/"] {
            assert_eq!(refused(url), reason::IPV6, "{url}");
        }
        assert_eq!(refused("ws://[::1]x/"), reason::SYNTAX);
        assert_eq!(refused("ws://[::1/"), reason::SYNTAX);
    }

    #[test]
    fn syntax_errors_are_refused() {
        for url in ["ws://h:80:90/", "ws://a%zzb/", "ws://h\u{e9}.com/", "ws://h/<>"] {
            assert_eq!(refused(url), reason::SYNTAX, "{url}");
        }
    }

    #[test]
    fn userinfo_becomes_credentials() {
        let t = ok("ws://user:p%40ss@host/");
        assert_eq!(t.credentials(), Some(("user", "p@ss")));
        assert_eq!(t.host(), "host");
        assert_eq!(t.host_header(), "host");
        assert_eq!(ok("ws://us%3Aer:a:b@host/").credentials(), Some(("us:er", "a:b")));
        assert_eq!(ok("ws://token@host/").credentials(), Some(("token", "")));
        assert_eq!(ok("ws://caf%C3%A9:x@host/").credentials(), Some(("caf\u{e9}", "x")));
        // A stray `%` stays literal, as WHATWG and Python's `unquote` keep it.
        assert_eq!(ok("ws://u:100%@host/").credentials(), Some(("u", "100%")));
        assert_eq!(ok("ws://@host/").credentials(), None);
        assert_eq!(refused("ws://u:%FF@host/"), reason::CREDENTIALS);
    }

    #[test]
    fn host_header_omits_the_default_port_only() {
        assert_eq!(ok("ws://h/").host_header(), "h");
        assert_eq!(ok("ws://h:80/").host_header(), "h");
        assert_eq!(ok("ws://h:443/").host_header(), "h:443");
        assert_eq!(ok("wss://h:443/").host_header(), "h");
        assert_eq!(ok("wss://h:8443/").host_header(), "h:8443");
        assert_eq!(ok("ws://u:p@h:81/").host_header(), "h:81");
    }

    #[test]
    fn errors_never_show_secrets() {
        for url in [
            "http://user:hunter2@h/?token=hunter2",
            "ws://user:hunter2@h:99999/?token=hunter2",
            "ws://user:hunter2@h/#access_token=hunter2",
            "ws://user:hunter2@exa mple/?token=hunter2",
            "ws://u:%FF%FEhunter2@h/",
        ] {
            let e = Target::parse(url).unwrap_err();
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains("hunter2"), "{shown}");
        }
        let e = Target::parse("ws://h/a\nb").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid URL ws://h/a\\nb: contains whitespace or a control character"
        );
        assert_eq!(e.url(), "ws://h/a\\nb");
        // One redaction for every URL shown.
        for url in [
            "ws://u:p@h:99999/?t=1&k#f",
            "ws://h/#",
            "ftp://u@h/?SECRET",
            "ws://h:8o/",
        ] {
            assert_eq!(Target::parse(url).unwrap_err().url(), redact_url(url), "{url}");
        }
    }

    #[test]
    fn debug_hides_credentials() {
        let shown = format!("{:?}", ok("ws://user:hunter2@h/?token=hunter2"));
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        for url in [
            "ws://@",
            "ws://@@",
            "ws://[",
            "ws://]",
            "ws://[:",
            "ws://:",
            "ws://a:",
            "ws://%",
            "ws://%%@h/",
            "ws://a@[::1",
            "ws://[::1]:",
            "ws:/h",
            "ws:h",
            "ws://h/%",
            "ws://h/%e9",
            "wss://[::ffff:1.2.3.4]:1/",
        ] {
            let _ = Target::parse(url);
        }
        assert_eq!(ok("ws://[::1]:/").port(), 80);
        assert_eq!(ok("ws://h/%e9").path_and_query(), "/%e9");
    }

    #[test]
    fn random_urls_do_not_panic() {
        const PIECES: [&str; 24] = [
            "ws://",
            "wss://",
            "WS://",
            "http://",
            "@",
            ":",
            "[",
            "]",
            "::1",
            "%",
            "%4",
            "%41",
            "/",
            "?",
            "=",
            "&",
            "h",
            "example.com",
            "80",
            "99999",
            "0",
            "user",
            "\u{e9}",
            " ",
        ];
        let mut rng = fastrand::Rng::with_seed(0x5eed);
        for _ in 0..20_000 {
            let mut url = String::new();
            for _ in 0..rng.usize(0..10) {
                url.push_str(PIECES[rng.usize(..PIECES.len())]);
            }
            if let Ok(t) = Target::parse(&url) {
                assert!(t.path_and_query().starts_with('/'), "{url:?}");
                assert!(!t.host().is_empty() && t.port() != 0, "{url:?}");
                assert!(t.path_and_query().bytes().all(|b| b.is_ascii_graphic()), "{url:?}");
                let _ = t.host_header();
            }
        }
    }
}

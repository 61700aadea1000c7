//! Reaching the endpoint through a proxy: the proxy's URL, the HTTP CONNECT
//! and SOCKS5 handshakes without I/O, and which proxy the environment names.

pub(crate) mod env;
pub(crate) mod http_connect;
pub(crate) mod socks5;

use core::fmt;
use std::format;
use std::string::String;

use super::redact_url;
use super::upgrade::write_status;
use super::url::{self, Parts};

/// How to talk to a proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProxyKind {
    /// An HTTP proxy, asked for a tunnel with `CONNECT` (`http://`).
    Http,
    /// A SOCKS5 proxy (RFC 1928).
    Socks5 {
        /// Whether the proxy resolves the host name (`socks5h://`) rather
        /// than this client (`socks5://`).
        remote_dns: bool,
    },
}

impl ProxyKind {
    /// The URL scheme for this kind.
    pub fn scheme(self) -> &'static str {
        match self {
            ProxyKind::Http => "http",
            ProxyKind::Socks5 { remote_dns: false } => "socks5",
            ProxyKind::Socks5 { remote_dns: true } => "socks5h",
        }
    }
}

/// A proxy: its kind, address and credentials.
///
/// `Display` shows `scheme://host:port` without the credentials; `Debug`
/// hides them too.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    kind: ProxyKind,
    host: String,
    port: u16,
    credentials: Option<(String, String)>,
}

impl Proxy {
    /// Parses a proxy URL: `http://`, `socks5://` or `socks5h://` (scheme
    /// case-insensitive), with optional percent-encoded `user:password@`. A
    /// URL without a scheme (`proxy:3128`, as environment variables often
    /// hold) is taken as `http://`. The port defaults to 80 for HTTP and 1080
    /// for SOCKS; a path is ignored.
    ///
    /// `https://` proxies (TLS to the proxy itself) are not supported and are
    /// an error rather than silently used as plain HTTP.
    pub fn parse(url: &str) -> Result<Proxy, ProxyError> {
        let with_scheme;
        let url = if url.contains("://") {
            url
        } else {
            with_scheme = format!("http://{url}");
            &with_scheme
        };
        let parts = Parts::parse(url).map_err(|reason| ProxyError::Url {
            url: redact_url(url),
            reason,
        })?;
        let scheme = parts.scheme.to_ascii_lowercase();
        let kind = match scheme.as_str() {
            "http" => ProxyKind::Http,
            "socks5" => ProxyKind::Socks5 { remote_dns: false },
            "socks5h" => ProxyKind::Socks5 { remote_dns: true },
            _ => return Err(ProxyError::UnsupportedScheme { scheme: shown(&scheme) }),
        };
        let default_port = match kind {
            ProxyKind::Http => 80,
            ProxyKind::Socks5 { .. } => 1080,
        };
        Ok(Proxy {
            kind,
            host: parts.host,
            port: parts.port.unwrap_or(default_port),
            credentials: parts.credentials,
        })
    }

    /// HTTP or SOCKS5.
    pub fn kind(&self) -> ProxyKind {
        self.kind
    }

    /// The proxy's host in lower case, IPv6 without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The percent-decoded user name and password for the proxy.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.credentials
            .as_ref()
            .map(|(user, password)| (user.as_str(), password.as_str()))
    }
}

impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}",
            self.kind.scheme(),
            url::authority(&self.host, Some(self.port))
        )
    }
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("credentials", &self.credentials.as_ref().map(|_| "***"))
            .finish()
    }
}

/// A scheme as it may appear in an error: short and printable.
fn shown(scheme: &str) -> String {
    if scheme.len() <= 16 && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b)) {
        String::from(scheme)
    } else {
        String::from("?")
    }
}

/// Why going through a proxy failed. [`ProxyError::is_permanent`] tells a
/// configuration or policy problem from one worth retrying.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyError {
    /// The proxy URL cannot be used.
    Url {
        /// The URL as [`redact_url`](super::redact_url) shows it.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A scheme other than `http`, `socks5` and `socks5h` (`https` included).
    UnsupportedScheme {
        /// The scheme, in lower case.
        scheme: String,
    },
    /// The HTTP proxy answered `CONNECT` with a status other than 2xx.
    Refused {
        /// The status code.
        status: u16,
    },
    /// The SOCKS5 proxy answered the connect request with a failure.
    Socks {
        /// The reply code (RFC 1928 §6), 0x01 to 0xff.
        reply: u8,
    },
    /// The SOCKS5 proxy accepts none of the offered authentication methods
    /// (no authentication, and user name and password when configured).
    NoAcceptableMethod,
    /// The SOCKS5 proxy rejected the user name and password (RFC 1929).
    AuthRejected {
        /// The proxy's status byte.
        status: u8,
    },
    /// The destination or credentials do not fit SOCKS5's one-byte lengths.
    SocksLimit {
        /// What does not fit.
        what: &'static str,
    },
    /// The proxy's answer breaks its protocol.
    Malformed {
        /// What is wrong.
        reason: &'static str,
    },
}

impl ProxyError {
    /// Whether retrying the same way cannot help: a bad proxy URL or scheme,
    /// refused credentials (HTTP 407, SOCKS authentication), a policy refusal
    /// (other HTTP 4xx but 408 and 429, any 3xx, SOCKS "not allowed by
    /// ruleset"), a proxy without the needed feature (SOCKS "command" or
    /// "address type not supported"). The proxy failing to reach the target
    /// (HTTP 5xx, SOCKS general failure, unreachable, refused, TTL expired)
    /// or a broken answer is transient.
    pub fn is_permanent(&self) -> bool {
        match self {
            ProxyError::Url { .. }
            | ProxyError::UnsupportedScheme { .. }
            | ProxyError::NoAcceptableMethod
            | ProxyError::AuthRejected { .. }
            | ProxyError::SocksLimit { .. } => true,
            ProxyError::Refused { status } => !matches!(status, 408 | 429 | 500..=599),
            ProxyError::Socks { reply } => matches!(reply, 0x02 | 0x07 | 0x08),
            ProxyError::Malformed { .. } => false,
        }
    }
}

/// RFC 1928 §6's name for a reply code.
fn socks_reply_text(reply: u8) -> Option<&'static str> {
    Some(match reply {
        0x01 => "general SOCKS server failure",
        0x02 => "connection not allowed by ruleset",
        0x03 => "network unreachable",
        0x04 => "host unreachable",
        0x05 => "connection refused",
        0x06 => "TTL expired",
        0x07 => "command not supported",
        0x08 => "address type not supported",
        _ => return None,
    })
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyError::Url { url, reason } => write!(f, "invalid proxy URL {url}: {reason}"),
            ProxyError::UnsupportedScheme { scheme } => write!(
                f,
                "unsupported proxy scheme {scheme}:// (supported: http, socks5, socks5h)"
            ),
            ProxyError::Refused { status } => {
                f.write_str("proxy refused the tunnel: HTTP ")?;
                write_status(f, *status)
            }
            ProxyError::Socks { reply } => match socks_reply_text(*reply) {
                Some(text) => write!(f, "SOCKS5 proxy: {text}"),
                None => write!(f, "SOCKS5 proxy: unknown reply code {reply:#04x}"),
            },
            ProxyError::NoAcceptableMethod => f.write_str("SOCKS5 proxy: no acceptable authentication method"),
            ProxyError::AuthRejected { status } => {
                write!(f, "SOCKS5 proxy: user name or password rejected (status {status:#04x})")
            }
            ProxyError::SocksLimit { what } => write!(f, "SOCKS5 cannot carry {what}"),
            ProxyError::Malformed { reason } => write!(f, "malformed reply from proxy: {reason}"),
        }
    }
}

impl core::error::Error for ProxyError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    fn parse(url: &str) -> Proxy {
        match Proxy::parse(url) {
            Ok(proxy) => proxy,
            Err(e) => panic!("{url:?}: {e}"),
        }
    }

    #[test]
    fn kinds_and_default_ports() {
        let p = parse("http://proxy.example:3128");
        assert_eq!((p.kind(), p.host(), p.port()), (ProxyKind::Http, "proxy.example", 3128));
        assert_eq!(parse("http://proxy").port(), 80);
        let p = parse("socks5://10.0.0.1");
        assert_eq!((p.kind(), p.port()), (ProxyKind::Socks5 { remote_dns: false }, 1080));
        let p = parse("socks5h://proxy:9050");
        assert_eq!((p.kind(), p.port()), (ProxyKind::Socks5 { remote_dns: true }, 9050));
        assert_eq!(parse("SOCKS5H://Proxy/").kind(), ProxyKind::Socks5 { remote_dns: true });
        assert_eq!(parse("HTTP://proxy/").kind(), ProxyKind::Http);
        assert_eq!(parse("http://proxy:3128/ignored/path").port(), 3128);
    }

    #[test]
    fn no_scheme_means_http() {
        let p = parse("proxy:3128");
        assert_eq!((p.kind(), p.host(), p.port()), (ProxyKind::Http, "proxy", 3128));
        let p = parse("user:pw@10.1.2.3:8080");
        assert_eq!(
            (p.host(), p.port(), p.credentials()),
            ("10.1.2.3", 8080, Some(("user", "pw")))
        );
        assert_eq!(parse("[::1]:3128").host(), "::1");
        assert_eq!(parse("proxy").port(), 80);
    }

    #[test]
    fn credentials_and_redacted_display() {
        let p = parse("socks5h://us%40er:p%3Ass@[2001:db8::1]:1080");
        assert_eq!(p.credentials(), Some(("us@er", "p:ss")));
        assert_eq!(p.to_string(), "socks5h://[2001:db8::1]:1080");
        let shown = std::format!("{p:?}");
        assert!(!shown.contains("p:ss") && !shown.contains("us@er"), "{shown}");
        assert_eq!(parse("http://proxy").to_string(), "http://proxy:80");
    }

    #[test]
    fn unsupported_schemes_are_permanent() {
        for (url, scheme) in [
            ("https://proxy:443", "https"),
            ("socks4://proxy", "socks4"),
            ("SOCKS4A://proxy", "socks4a"),
            ("ftp://proxy", "ftp"),
        ] {
            let e = Proxy::parse(url).unwrap_err();
            assert_eq!(
                e,
                ProxyError::UnsupportedScheme {
                    scheme: scheme.to_string()
                }
            );
            assert!(e.is_permanent());
        }
        assert_eq!(
            Proxy::parse("https://p").unwrap_err().to_string(),
            "unsupported proxy scheme https:// (supported: http, socks5, socks5h)"
        );
    }

    #[test]
    fn bad_proxy_urls_are_permanent_and_redacted() {
        for url in [
            "http://user:hunter2@proxy:99999",
            "http://user:hunter2@",
            "http://user:hunter2@pro xy:3128",
            "user:hunter2@proxy:port",
            "http://user:hunter2@[zz]:1",
        ] {
            let e = Proxy::parse(url).unwrap_err();
            assert!(matches!(e, ProxyError::Url { .. }), "{url}: {e:?}");
            assert!(e.is_permanent());
            let shown = std::format!("{e} {e:?}");
            assert!(!shown.contains("hunter2"), "{shown}");
        }
    }

    #[test]
    fn http_statuses_are_classified() {
        for status in [407, 403, 400, 405, 301, 302] {
            assert!(ProxyError::Refused { status }.is_permanent(), "{status}");
        }
        for status in [502, 503, 504, 500, 599, 408, 429] {
            assert!(!ProxyError::Refused { status }.is_permanent(), "{status}");
        }
        assert_eq!(
            ProxyError::Refused { status: 407 }.to_string(),
            "proxy refused the tunnel: HTTP 407 Proxy Authentication Required"
        );
        assert_eq!(
            ProxyError::Refused { status: 504 }.to_string(),
            "proxy refused the tunnel: HTTP 504 Gateway Timeout"
        );
    }

    #[test]
    fn socks_replies_are_classified() {
        for reply in [0x02, 0x07, 0x08] {
            assert!(ProxyError::Socks { reply }.is_permanent(), "{reply}");
        }
        for reply in [0x01, 0x03, 0x04, 0x05, 0x06, 0x09, 0xff] {
            assert!(!ProxyError::Socks { reply }.is_permanent(), "{reply}");
        }
        assert_eq!(
            ProxyError::Socks { reply: 4 }.to_string(),
            "SOCKS5 proxy: host unreachable"
        );
        assert_eq!(
            ProxyError::Socks { reply: 0x2a }.to_string(),
            "SOCKS5 proxy: unknown reply code 0x2a"
        );
        assert!(ProxyError::NoAcceptableMethod.is_permanent());
        assert!(ProxyError::AuthRejected { status: 1 }.is_permanent());
        assert!(!ProxyError::Malformed { reason: "x" }.is_permanent());
    }
}

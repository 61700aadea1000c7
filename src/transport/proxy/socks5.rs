//! The client side of a SOCKS5 handshake (RFC 1928, with RFC 1929 user name
//! and password authentication), without I/O.
//!
//! The exchange is lock-step: greeting, method selection, optionally the
//! authentication sub-negotiation, then the connect request and its reply.
//! Nothing is pipelined, since many proxies drop what arrives before they
//! asked for it.

use core::net::{IpAddr, SocketAddr};
use std::string::String;
use std::vec::Vec;

use super::ProxyError;

const VERSION: u8 = 0x05;
const AUTH_VERSION: u8 = 0x01;
const NO_AUTH: u8 = 0x00;
const USER_PASSWORD: u8 = 0x02;
const NO_ACCEPTABLE: u8 = 0xff;
const CONNECT: u8 = 0x01;
const ATYP_V4: u8 = 0x01;
const ATYP_NAME: u8 = 0x03;
const ATYP_V6: u8 = 0x04;

/// Where the proxy should connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Destination {
    /// A host name the proxy resolves (`socks5h://`).
    Name {
        /// The host name, 1 to 255 bytes.
        host: String,
        /// The port.
        port: u16,
    },
    /// An address resolved by this client (`socks5://`).
    Addr(SocketAddr),
}

/// What the caller does after [`Socks5::on_input`]: in both cases, drop
/// `consumed` bytes from the front of its buffer and write whatever was
/// appended to `out`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Read more, append it to what was not consumed, call again.
    NeedMore {
        /// Bytes of the input used.
        consumed: usize,
    },
    /// The tunnel is open; the input after `consumed` belongs to it.
    Done {
        /// Bytes of the input used.
        consumed: usize,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// `start` not called yet.
    Idle,
    /// Greeting sent; waiting for the method selection.
    Method,
    /// User name and password sent; waiting for their status.
    Auth,
    /// Connect request sent; waiting for its reply.
    Reply,
    /// Tunnel open.
    Done,
    /// An error was returned; the handshake cannot go on.
    Failed,
}

/// One SOCKS5 client handshake.
#[derive(Clone)]
pub(crate) struct Socks5 {
    destination: Destination,
    credentials: Option<(String, String)>,
    state: State,
}

impl core::fmt::Debug for Socks5 {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Socks5")
            .field("destination", &self.destination)
            .field("credentials", &self.credentials.as_ref().map(|_| "***"))
            .field("state", &self.state)
            .finish()
    }
}

impl Socks5 {
    /// A handshake that asks the proxy to connect to `destination`,
    /// authenticating with `credentials` if the proxy wants them.
    ///
    /// A name that is an IP literal (`127.0.0.1`, `::1`, `[::1]`) is sent as
    /// an address, as curl does: some proxies refuse to "resolve" literals.
    /// Errors: an empty name or one over 255 bytes, a user name or password
    /// over 255 bytes (RFC 1929's length bytes; empty ones are allowed).
    pub(crate) fn new(destination: Destination, credentials: Option<(String, String)>) -> Result<Socks5, ProxyError> {
        let destination = match destination {
            Destination::Name { host, port } => {
                let literal = host
                    .strip_prefix('[')
                    .and_then(|h| h.strip_suffix(']'))
                    .unwrap_or(&host);
                match literal.parse::<IpAddr>() {
                    Ok(ip) => Destination::Addr(SocketAddr::new(ip, port)),
                    Err(_) if host.is_empty() => {
                        return Err(ProxyError::SocksLimit {
                            what: "an empty host name",
                        })
                    }
                    Err(_) if host.len() > 255 => {
                        return Err(ProxyError::SocksLimit {
                            what: "a host name over 255 bytes",
                        })
                    }
                    Err(_) => Destination::Name { host, port },
                }
            }
            addr @ Destination::Addr(_) => addr,
        };
        if let Some((user, password)) = &credentials {
            if user.len() > 255 {
                return Err(ProxyError::SocksLimit {
                    what: "a user name over 255 bytes",
                });
            }
            if password.len() > 255 {
                return Err(ProxyError::SocksLimit {
                    what: "a password over 255 bytes",
                });
            }
        }
        Ok(Socks5 {
            destination,
            credentials,
            state: State::Idle,
        })
    }

    /// Appends the greeting to `out`: no authentication, plus user name and
    /// password when credentials were given. Only the first call writes.
    pub(crate) fn start(&mut self, out: &mut Vec<u8>) {
        if self.state != State::Idle {
            return;
        }
        if self.credentials.is_some() {
            out.extend_from_slice(&[VERSION, 2, NO_AUTH, USER_PASSWORD]);
        } else {
            out.extend_from_slice(&[VERSION, 1, NO_AUTH]);
        }
        self.state = State::Method;
    }

    /// Reads the proxy's bytes. `input` is everything received and not yet
    /// consumed; the answer says how many bytes were used, and anything to
    /// send next is appended to `out`. Bytes after the final reply are never
    /// consumed. After an error, every call returns an error.
    pub(crate) fn on_input(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<Step, ProxyError> {
        let result = self.advance(input, out);
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    /// Whether the tunnel is open.
    #[cfg(test)]
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    fn advance(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<Step, ProxyError> {
        let mut consumed = 0;
        loop {
            let rest = input.get(consumed..).unwrap_or_default();
            match self.state {
                State::Idle => return Err(malformed("the proxy spoke before the greeting")),
                State::Failed => return Err(malformed("the handshake already failed")),
                State::Done => return Ok(Step::Done { consumed }),
                State::Method => {
                    let Some(&[version, method]) = rest.first_chunk::<2>() else {
                        return Ok(Step::NeedMore { consumed });
                    };
                    if version != VERSION {
                        return Err(malformed("not a SOCKS5 method selection"));
                    }
                    match method {
                        NO_AUTH => self.write_connect(out),
                        USER_PASSWORD if self.credentials.is_some() => self.write_auth(out),
                        NO_ACCEPTABLE => return Err(ProxyError::NoAcceptableMethod),
                        _ => return Err(malformed("the proxy chose a method that was not offered")),
                    }
                    consumed += 2;
                }
                State::Auth => {
                    let Some(&[version, status]) = rest.first_chunk::<2>() else {
                        return Ok(Step::NeedMore { consumed });
                    };
                    if version != AUTH_VERSION {
                        return Err(malformed("not an RFC 1929 authentication reply"));
                    }
                    if status != 0 {
                        return Err(ProxyError::AuthRejected { status });
                    }
                    self.write_connect(out);
                    consumed += 2;
                }
                State::Reply => {
                    // A failure is final whatever follows, so it is reported
                    // as soon as its code is in.
                    let Some(&[version, reply]) = rest.first_chunk::<2>() else {
                        return Ok(Step::NeedMore { consumed });
                    };
                    if version != VERSION {
                        return Err(malformed("not a SOCKS5 reply"));
                    }
                    if reply != 0 {
                        return Err(ProxyError::Socks { reply });
                    }
                    let Some(&[_, _, _reserved, address_type]) = rest.first_chunk::<4>() else {
                        return Ok(Step::NeedMore { consumed });
                    };
                    let address_len = match address_type {
                        ATYP_V4 => 4,
                        ATYP_V6 => 16,
                        ATYP_NAME => match rest.get(4) {
                            Some(&len) => 1 + usize::from(len),
                            None => return Ok(Step::NeedMore { consumed }),
                        },
                        _ => return Err(malformed("unknown address type in the SOCKS5 reply")),
                    };
                    // VER REP RSV ATYP, BND.ADDR, BND.PORT.
                    let reply_len = 4 + address_len + 2;
                    if rest.len() < reply_len {
                        return Ok(Step::NeedMore { consumed });
                    }
                    consumed += reply_len;
                    self.state = State::Done;
                }
            }
        }
    }

    fn write_auth(&mut self, out: &mut Vec<u8>) {
        if let Some((user, password)) = &self.credentials {
            out.push(AUTH_VERSION);
            for field in [user.as_bytes(), password.as_bytes()] {
                // `new` checked both fit a length byte.
                out.push(u8::try_from(field.len()).unwrap_or(u8::MAX));
                out.extend_from_slice(field.get(..255).unwrap_or(field));
            }
        }
        self.state = State::Auth;
    }

    fn write_connect(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[VERSION, CONNECT, 0x00]);
        let port = match &self.destination {
            Destination::Addr(addr) => {
                match addr.ip() {
                    IpAddr::V4(ip) => {
                        out.push(ATYP_V4);
                        out.extend_from_slice(&ip.octets());
                    }
                    IpAddr::V6(ip) => {
                        out.push(ATYP_V6);
                        out.extend_from_slice(&ip.octets());
                    }
                }
                addr.port()
            }
            Destination::Name { host, port } => {
                let host = host.as_bytes();
                out.push(ATYP_NAME);
                // `new` checked the name fits a length byte.
                out.push(u8::try_from(host.len()).unwrap_or(u8::MAX));
                out.extend_from_slice(host.get(..255).unwrap_or(host));
                *port
            }
        };
        out.extend_from_slice(&port.to_be_bytes());
        self.state = State::Reply;
    }
}

fn malformed(reason: &'static str) -> ProxyError {
    ProxyError::Malformed { reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{Ipv4Addr, Ipv6Addr};
    use std::string::ToString;
    use std::vec;

    fn name(host: &str, port: u16) -> Destination {
        Destination::Name {
            host: host.to_string(),
            port,
        }
    }

    fn creds(user: &str, password: &str) -> Option<(String, String)> {
        Some((user.to_string(), password.to_string()))
    }

    /// A success reply bound to 10.0.0.1:4242.
    const REPLY_V4: [u8; 10] = [5, 0, 0, 1, 10, 0, 0, 1, 0x10, 0x92];

    fn started(destination: Destination, credentials: Option<(String, String)>) -> (Socks5, Vec<u8>) {
        let mut socks = Socks5::new(destination, credentials).unwrap();
        let mut out = Vec::new();
        socks.start(&mut out);
        (socks, out)
    }

    fn feed(socks: &mut Socks5, input: &[u8]) -> (Result<Step, ProxyError>, Vec<u8>) {
        let mut out = Vec::new();
        let step = socks.on_input(input, &mut out);
        (step, out)
    }

    #[test]
    fn greeting_offers_no_auth_and_user_password_with_credentials() {
        assert_eq!(started(name("h", 1), None).1, [5, 1, 0]);
        assert_eq!(started(name("h", 1), creds("u", "p")).1, [5, 2, 0, 2]);
        let (mut socks, _) = started(name("h", 1), None);
        let mut again = Vec::new();
        socks.start(&mut again);
        assert!(again.is_empty());
    }

    #[test]
    fn no_auth_exchange_with_a_name() {
        let (mut socks, _) = started(name("feed.example", 443), None);
        let (step, out) = feed(&mut socks, &[5, 0]);
        assert_eq!(step, Ok(Step::NeedMore { consumed: 2 }));
        let mut expected = vec![5, 1, 0, 3, 12];
        expected.extend_from_slice(b"feed.example");
        expected.extend_from_slice(&[0x01, 0xbb]);
        assert_eq!(out, expected);
        let (step, out) = feed(&mut socks, &REPLY_V4);
        assert_eq!(step, Ok(Step::Done { consumed: 10 }));
        assert!(out.is_empty());
        assert!(socks.is_done());
    }

    #[test]
    fn connect_request_with_addresses() {
        let v4 = Destination::Addr(SocketAddr::new(Ipv4Addr::new(192, 0, 2, 7).into(), 80));
        let (mut socks, _) = started(v4, None);
        assert_eq!(feed(&mut socks, &[5, 0]).1, [5, 1, 0, 1, 192, 0, 2, 7, 0, 80]);
        let ip6 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
        let (mut socks, _) = started(Destination::Addr(SocketAddr::new(ip6.into(), 8080)), None);
        let mut expected = vec![5, 1, 0, 4];
        expected.extend_from_slice(&ip6.octets());
        expected.extend_from_slice(&[0x1f, 0x90]);
        assert_eq!(feed(&mut socks, &[5, 0]).1, expected);
    }

    #[test]
    fn ip_literal_names_travel_as_addresses() {
        let (mut socks, _) = started(name("127.0.0.1", 9000), None);
        assert_eq!(feed(&mut socks, &[5, 0]).1, [5, 1, 0, 1, 127, 0, 0, 1, 0x23, 0x28]);
        for host in ["::1", "[::1]"] {
            let (mut socks, _) = started(name(host, 1), None);
            let out = feed(&mut socks, &[5, 0]).1;
            assert_eq!(out.get(3), Some(&ATYP_V6), "{host}");
            assert_eq!(out.len(), 4 + 16 + 2);
        }
    }

    #[test]
    fn user_password_exchange() {
        let (mut socks, _) = started(name("h", 80), creds("alice", "s3cret"));
        let (step, out) = feed(&mut socks, &[5, 2]);
        assert_eq!(step, Ok(Step::NeedMore { consumed: 2 }));
        let mut expected = vec![1, 5];
        expected.extend_from_slice(b"alice");
        expected.push(6);
        expected.extend_from_slice(b"s3cret");
        assert_eq!(out, expected);
        let (step, out) = feed(&mut socks, &[1, 0]);
        assert_eq!(step, Ok(Step::NeedMore { consumed: 2 }));
        assert_eq!(out, [5, 1, 0, 3, 1, b'h', 0, 80]);
        assert_eq!(feed(&mut socks, &REPLY_V4).0, Ok(Step::Done { consumed: 10 }));
    }

    #[test]
    fn the_proxy_may_skip_authentication() {
        let (mut socks, _) = started(name("h", 80), creds("alice", "s3cret"));
        let (step, out) = feed(&mut socks, &[5, 0]);
        assert_eq!(step, Ok(Step::NeedMore { consumed: 2 }));
        assert_eq!(out, [5, 1, 0, 3, 1, b'h', 0, 80]);
    }

    #[test]
    fn empty_credentials_are_sent_as_empty() {
        let (mut socks, _) = started(name("h", 80), creds("", ""));
        assert_eq!(feed(&mut socks, &[5, 2]).1, [1, 0, 0]);
    }

    #[test]
    fn bound_addresses_of_every_type() {
        let mut v6_reply = vec![5, 0, 0, 4];
        v6_reply.extend_from_slice(&[0; 16]);
        v6_reply.extend_from_slice(&[0, 1]);
        let mut name_reply = vec![5, 0, 0, 3, 9];
        name_reply.extend_from_slice(b"proxy.lan");
        name_reply.extend_from_slice(&[0, 1]);
        let empty_name_reply = vec![5, 0, 0, 3, 0, 0, 1];
        for reply in [REPLY_V4.to_vec(), v6_reply, name_reply, empty_name_reply] {
            let (mut socks, _) = started(name("h", 80), None);
            feed(&mut socks, &[5, 0]).0.unwrap();
            assert_eq!(
                feed(&mut socks, &reply).0,
                Ok(Step::Done { consumed: reply.len() }),
                "{reply:?}"
            );
        }
    }

    #[test]
    fn replies_split_at_every_byte_boundary() {
        let mut v6_reply = vec![5, 0, 0, 4];
        v6_reply.extend_from_slice(&[7; 16]);
        v6_reply.extend_from_slice(&[0, 1]);
        let mut name_reply = vec![5, 0, 0, 3, 5];
        name_reply.extend_from_slice(b"a.lan");
        name_reply.extend_from_slice(&[0, 1]);
        for reply in [REPLY_V4.to_vec(), v6_reply, name_reply] {
            for split in 0..reply.len() {
                let (mut socks, _) = started(name("h", 80), None);
                feed(&mut socks, &[5, 0]).0.unwrap();
                let (first, _) = reply.split_at(split);
                assert_eq!(feed(&mut socks, first).0, Ok(Step::NeedMore { consumed: 0 }), "{split}");
                assert_eq!(feed(&mut socks, &reply).0, Ok(Step::Done { consumed: reply.len() }));
            }
        }
    }

    #[test]
    fn a_full_exchange_one_byte_at_a_time() {
        // What the proxy sends: method 0x02, auth success, a reply bound to a
        // name, then the first bytes of the tunnel.
        let mut proxy_bytes = vec![5, 2, 1, 0, 5, 0, 0, 3, 4];
        proxy_bytes.extend_from_slice(b"bind");
        proxy_bytes.extend_from_slice(&[0x04, 0x38]);
        let handshake_len = proxy_bytes.len();
        proxy_bytes.extend_from_slice(b"tunnel");

        let (mut socks, greeting) = started(name("feed.example", 443), creds("u", "p"));
        let mut sent = greeting;
        let mut buffer: Vec<u8> = Vec::new();
        let mut used = 0;
        let mut done = false;
        for &byte in &proxy_bytes {
            buffer.push(byte);
            let mut out = Vec::new();
            match socks.on_input(&buffer, &mut out).unwrap() {
                Step::NeedMore { consumed } => {
                    assert!(!done);
                    buffer.drain(..consumed);
                    used += consumed;
                }
                Step::Done { consumed } => {
                    if !done {
                        buffer.drain(..consumed);
                        used += consumed;
                        done = true;
                    } else {
                        assert_eq!(consumed, 0);
                    }
                }
            }
            sent.extend_from_slice(&out);
        }
        assert!(done);
        assert_eq!(used, handshake_len);
        assert_eq!(buffer, b"tunnel");
        let mut expected = vec![5, 2, 0, 2, 1, 1, b'u', 1, b'p', 5, 1, 0, 3, 12];
        expected.extend_from_slice(b"feed.example");
        expected.extend_from_slice(&[0x01, 0xbb]);
        assert_eq!(sent, expected);
    }

    #[test]
    fn bytes_after_the_reply_are_not_consumed() {
        let (mut socks, _) = started(name("h", 80), None);
        let mut input = vec![5, 0];
        let (step, _) = feed(&mut socks, &input);
        assert_eq!(step, Ok(Step::NeedMore { consumed: 2 }));
        input.clear();
        input.extend_from_slice(&REPLY_V4);
        input.extend_from_slice(b"\x81\x05hello");
        assert_eq!(feed(&mut socks, &input).0, Ok(Step::Done { consumed: 10 }));
        // Called again, it stays done and takes nothing.
        assert_eq!(feed(&mut socks, b"more").0, Ok(Step::Done { consumed: 0 }));
    }

    #[test]
    fn every_reply_code() {
        for reply in 0x01..=0xffu8 {
            let (mut socks, _) = started(name("h", 80), None);
            feed(&mut socks, &[5, 0]).0.unwrap();
            // Reported from the first two bytes, without waiting for the address.
            let e = feed(&mut socks, &[5, reply]).0.unwrap_err();
            assert_eq!(e, ProxyError::Socks { reply });
            assert_eq!(e.is_permanent(), matches!(reply, 2 | 7 | 8), "{reply}");
        }
        let texts = [
            (1, "SOCKS5 proxy: general SOCKS server failure"),
            (2, "SOCKS5 proxy: connection not allowed by ruleset"),
            (3, "SOCKS5 proxy: network unreachable"),
            (4, "SOCKS5 proxy: host unreachable"),
            (5, "SOCKS5 proxy: connection refused"),
            (6, "SOCKS5 proxy: TTL expired"),
            (7, "SOCKS5 proxy: command not supported"),
            (8, "SOCKS5 proxy: address type not supported"),
            (9, "SOCKS5 proxy: unknown reply code 0x09"),
        ];
        for (reply, text) in texts {
            assert_eq!(ProxyError::Socks { reply }.to_string(), text);
        }
    }

    #[test]
    fn no_acceptable_method() {
        for credentials in [None, creds("u", "p")] {
            let (mut socks, _) = started(name("h", 80), credentials);
            let e = feed(&mut socks, &[5, 0xff]).0.unwrap_err();
            assert_eq!(e, ProxyError::NoAcceptableMethod);
            assert!(e.is_permanent());
        }
    }

    #[test]
    fn a_method_that_was_not_offered() {
        // User and password without credentials, GSSAPI, anything else.
        for method in [0x02, 0x01, 0x80] {
            let (mut socks, _) = started(name("h", 80), None);
            let e = feed(&mut socks, &[5, method]).0.unwrap_err();
            assert!(matches!(e, ProxyError::Malformed { .. }), "{method}: {e:?}");
        }
    }

    #[test]
    fn authentication_rejected() {
        let (mut socks, _) = started(name("h", 80), creds("u", "wrong"));
        feed(&mut socks, &[5, 2]).0.unwrap();
        let e = feed(&mut socks, &[1, 1]).0.unwrap_err();
        assert_eq!(e, ProxyError::AuthRejected { status: 1 });
        assert!(e.is_permanent());
        assert_eq!(
            e.to_string(),
            "SOCKS5 proxy: user name or password rejected (status 0x01)"
        );
    }

    #[test]
    fn wrong_version_bytes() {
        let (mut socks, _) = started(name("h", 80), None);
        assert!(matches!(feed(&mut socks, &[4, 0]).0, Err(ProxyError::Malformed { .. })));
        // An HTTP proxy answering a SOCKS greeting.
        let (mut socks, _) = started(name("h", 80), None);
        assert!(matches!(
            feed(&mut socks, b"HTTP/1.1 400").0,
            Err(ProxyError::Malformed { .. })
        ));
        let (mut socks, _) = started(name("h", 80), creds("u", "p"));
        feed(&mut socks, &[5, 2]).0.unwrap();
        assert!(matches!(feed(&mut socks, &[5, 0]).0, Err(ProxyError::Malformed { .. })));
        let (mut socks, _) = started(name("h", 80), None);
        feed(&mut socks, &[5, 0]).0.unwrap();
        assert!(matches!(feed(&mut socks, &[0, 0]).0, Err(ProxyError::Malformed { .. })));
        let (mut socks, _) = started(name("h", 80), None);
        feed(&mut socks, &[5, 0]).0.unwrap();
        let e = feed(&mut socks, &[5, 0, 0, 9, 0, 0]).0.unwrap_err();
        assert_eq!(e, malformed("unknown address type in the SOCKS5 reply"));
        assert!(!e.is_permanent());
    }

    #[test]
    fn after_an_error_every_call_fails() {
        let (mut socks, _) = started(name("h", 80), None);
        assert!(feed(&mut socks, &[5, 0xff]).0.is_err());
        assert!(feed(&mut socks, &[5, 0]).0.is_err());
        assert!(!socks.is_done());
    }

    #[test]
    fn input_before_the_greeting_is_an_error() {
        let mut socks = Socks5::new(name("h", 80), None).unwrap();
        assert!(feed(&mut socks, &[5, 0]).0.is_err());
    }

    #[test]
    fn nothing_to_read_is_need_more() {
        let (mut socks, _) = started(name("h", 80), None);
        assert_eq!(feed(&mut socks, &[]), (Ok(Step::NeedMore { consumed: 0 }), vec![]));
        assert_eq!(feed(&mut socks, &[5]).0, Ok(Step::NeedMore { consumed: 0 }));
    }

    #[test]
    fn length_limits() {
        let long = "a".repeat(256);
        let e = Socks5::new(name(&long, 80), None).unwrap_err();
        assert!(matches!(e, ProxyError::SocksLimit { .. }) && e.is_permanent());
        assert_eq!(e.to_string(), "SOCKS5 cannot carry a host name over 255 bytes");
        assert!(Socks5::new(name("", 80), None).is_err());
        assert!(Socks5::new(name("h", 80), Some((long.clone(), String::new()))).is_err());
        assert!(Socks5::new(name("h", 80), Some((String::new(), long))).is_err());
        let max = "a".repeat(255);
        let (mut socks, _) = started(name(&max, 80), Some((max.clone(), max.clone())));
        let out = feed(&mut socks, &[5, 2]).1;
        assert_eq!(out.len(), 1 + 1 + 255 + 1 + 255);
        let out = feed(&mut socks, &[1, 0]).1;
        assert_eq!(out.len(), 4 + 1 + 255 + 2);
    }

    #[test]
    fn debug_hides_credentials() {
        let socks = Socks5::new(name("h", 80), creds("alice", "hunter2")).unwrap();
        let shown = std::format!("{socks:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("alice"), "{shown}");
    }

    #[test]
    fn random_replies_do_not_panic() {
        let mut rng = fastrand::Rng::with_seed(0x5eed);
        for _ in 0..20_000 {
            let credentials = rng.bool().then(|| (String::from("u"), String::from("p")));
            let (mut socks, _) = started(name("h", 80), credentials);
            let input: Vec<u8> = (0..rng.usize(0..24))
                .map(|_| if rng.bool() { rng.u8(..9) } else { rng.u8(..) })
                .collect();
            let mut out = Vec::new();
            match socks.on_input(&input, &mut out) {
                Ok(Step::NeedMore { consumed }) | Ok(Step::Done { consumed }) => assert!(consumed <= input.len()),
                Err(_) => {}
            }
        }
    }
}

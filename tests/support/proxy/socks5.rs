//! A SOCKS5 proxy (RFC 1928, with RFC 1929 user/password) on 127.0.0.1
//! that tunnels like a real one or fails the way real ones do: no
//! acceptable method, rejected credentials, any reply code (host
//! unreachable, connection refused, not allowed, …), or silence. Each
//! session is recorded: the methods offered, the credentials, and the
//! destination asked for — a name or an address, which tells whether the
//! client resolved it itself.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::ops::Deref;
use std::sync::atomic::Ordering;

use super::{finish, hold, keep, splice, Resolved, Sockets, TunnelProxy, TunnelState};
use crate::support::{lock, PATIENCE};

/// The reply codes of RFC 1928 §6.
pub mod reply {
    pub const SUCCEEDED: u8 = 0x00;
    pub const GENERAL_FAILURE: u8 = 0x01;
    pub const NOT_ALLOWED: u8 = 0x02;
    pub const NETWORK_UNREACHABLE: u8 = 0x03;
    pub const HOST_UNREACHABLE: u8 = 0x04;
    pub const CONNECTION_REFUSED: u8 = 0x05;
    pub const TTL_EXPIRED: u8 = 0x06;
    pub const COMMAND_NOT_SUPPORTED: u8 = 0x07;
    pub const ADDRESS_TYPE_NOT_SUPPORTED: u8 = 0x08;
}

const VERSION: u8 = 0x05;
const NO_AUTH: u8 = 0x00;
const USER_PASSWORD: u8 = 0x02;
const NO_ACCEPTABLE_METHOD: u8 = 0xFF;
const CONNECT: u8 = 0x01;

/// How a [`Socks5Proxy`] answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Socks5Mode {
    /// Tunnels without authentication (method 0x00).
    NoAuth,
    /// Tunnels only with this user and password (method 0x02, RFC 1929).
    UserPassword { user: String, password: String },
    /// Chooses user/password, then rejects whatever credentials come.
    RejectAuth,
    /// Accepts none of the offered methods (0xFF).
    NoAcceptableMethod,
    /// Negotiates (no auth, or any credentials), then answers the request
    /// with this reply code (see [`reply`]) and closes.
    Reply(u8),
    /// Negotiates, reads the request, and never replies.
    Hang,
    /// Reads the greeting and never answers it.
    HangAtGreeting,
}

impl Socks5Mode {
    pub fn user_password(user: &str, password: &str) -> Socks5Mode {
        Socks5Mode::UserPassword {
            user: user.to_string(),
            password: password.to_string(),
        }
    }
}

/// Where the client asked to go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SocksTarget {
    /// A name for the proxy to resolve (ATYP 0x03).
    Name(String, u16),
    /// An address the client resolved (ATYP 0x01 or 0x04).
    Addr(SocketAddr),
}

/// One SOCKS session, as far as it got.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SocksRequest {
    /// The methods the client offered.
    pub methods: Vec<u8>,
    /// The user and password it sent, if it got that far.
    pub credentials: Option<(String, String)>,
    /// The command (0x01 CONNECT) and destination, if it got that far.
    pub command: Option<u8>,
    pub target: Option<SocksTarget>,
}

type State = TunnelState<Socks5Mode, SocksRequest>;

/// An in-process SOCKS5 proxy (see [`Socks5Mode`]); what it shares with the
/// CONNECT proxy is on [`TunnelProxy`].
pub struct Socks5Proxy(TunnelProxy<Socks5Mode, SocksRequest>);

impl Socks5Proxy {
    pub fn start(mode: Socks5Mode) -> Socks5Proxy {
        Socks5Proxy(TunnelProxy::start("SOCKS5", mode, serve))
    }

    /// `socks5h://127.0.0.1:PORT` (the proxy resolves names).
    pub fn url(&self) -> String {
        format!("socks5h://{}", self.addr())
    }
}

impl Deref for Socks5Proxy {
    type Target = TunnelProxy<Socks5Mode, SocksRequest>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

fn serve(state: &State, mut client: TcpStream, sockets: &Sockets) {
    state.accepts.fetch_add(1, Ordering::SeqCst);
    let mode = lock(&state.mode).clone();
    let mut session = SocksRequest::default();
    let outcome = negotiate(state, &mode, &mut client, &mut session);
    state.requests.push(session);
    match outcome {
        Outcome::Tunnel(upstream) => {
            keep(sockets, &upstream);
            state.tunnels.fetch_add(1, Ordering::SeqCst);
            splice(client, upstream, None);
        }
        Outcome::Hang => hold(client),
        Outcome::Close => finish(client),
    }
}

enum Outcome {
    Tunnel(TcpStream),
    Hang,
    Close,
}

/// Runs the protocol up to the tunnel, recording into `session`.
fn negotiate(state: &State, mode: &Socks5Mode, client: &mut TcpStream, session: &mut SocksRequest) -> Outcome {
    let Some([version, count]) = read_array::<2>(client) else {
        return Outcome::Close;
    };
    let Some(methods) = read_vec(client, usize::from(count)) else {
        return Outcome::Close;
    };
    session.methods = methods.clone();
    if version != VERSION {
        return Outcome::Close;
    }
    let offered = |m: u8| methods.contains(&m);
    let method = match mode {
        Socks5Mode::HangAtGreeting => return Outcome::Hang,
        Socks5Mode::NoAcceptableMethod => NO_ACCEPTABLE_METHOD,
        Socks5Mode::NoAuth if offered(NO_AUTH) => NO_AUTH,
        Socks5Mode::UserPassword { .. } | Socks5Mode::RejectAuth if offered(USER_PASSWORD) => USER_PASSWORD,
        Socks5Mode::Reply(_) | Socks5Mode::Hang if offered(NO_AUTH) => NO_AUTH,
        Socks5Mode::Reply(_) | Socks5Mode::Hang if offered(USER_PASSWORD) => USER_PASSWORD,
        _ => NO_ACCEPTABLE_METHOD,
    };
    if client.write_all(&[VERSION, method]).is_err() || method == NO_ACCEPTABLE_METHOD {
        return Outcome::Close;
    }
    if method == USER_PASSWORD {
        let Some(credentials) = read_credentials(client) else {
            return Outcome::Close;
        };
        session.credentials = Some(credentials.clone());
        let accepted = match mode {
            Socks5Mode::UserPassword { user, password } => credentials == (user.clone(), password.clone()),
            Socks5Mode::RejectAuth => false,
            _ => true,
        };
        // RFC 1929: version 0x01, status 0 for success.
        if client.write_all(&[0x01, u8::from(!accepted)]).is_err() || !accepted {
            return Outcome::Close;
        }
    }
    let Some([version, command, _reserved]) = read_array::<3>(client) else {
        return Outcome::Close;
    };
    let Some(target) = read_target(client) else {
        return Outcome::Close;
    };
    session.command = Some(command);
    session.target = Some(target.clone());
    if version != VERSION {
        return Outcome::Close;
    }
    match mode {
        Socks5Mode::Hang => return Outcome::Hang,
        Socks5Mode::Reply(code) => {
            let _ = client.write_all(&reply_bytes(*code, None));
            return Outcome::Close;
        }
        _ => {}
    }
    if command != CONNECT {
        let _ = client.write_all(&reply_bytes(reply::COMMAND_NOT_SUPPORTED, None));
        return Outcome::Close;
    }
    let resolved = match &target {
        SocksTarget::Name(name, port) => state.aliases.resolve(name, *port),
        SocksTarget::Addr(addr) => state.aliases.resolve(&addr.ip().to_string(), addr.port()),
    };
    let failure = match resolved {
        Resolved::To(addr) => match TcpStream::connect_timeout(&addr, PATIENCE) {
            Ok(upstream) => {
                let _ = upstream.set_nodelay(true);
                let bound = upstream.local_addr().ok();
                if client.write_all(&reply_bytes(reply::SUCCEEDED, bound)).is_err() {
                    return Outcome::Close;
                }
                return Outcome::Tunnel(upstream);
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => reply::CONNECTION_REFUSED,
            Err(_) => reply::GENERAL_FAILURE,
        },
        Resolved::NotLoopback => reply::NOT_ALLOWED,
        Resolved::Unknown => reply::HOST_UNREACHABLE,
    };
    let _ = client.write_all(&reply_bytes(failure, None));
    Outcome::Close
}

/// A reply: version, code, reserved, then the bound address (0.0.0.0:0 when
/// there is none).
fn reply_bytes(code: u8, bound: Option<SocketAddr>) -> Vec<u8> {
    let bound = bound.unwrap_or_else(|| SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0));
    let mut out = vec![VERSION, code, 0x00];
    match bound.ip() {
        IpAddr::V4(ip) => {
            out.push(0x01);
            out.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.push(0x04);
            out.extend_from_slice(&ip.octets());
        }
    }
    out.extend_from_slice(&bound.port().to_be_bytes());
    out
}

fn read_credentials(client: &mut TcpStream) -> Option<(String, String)> {
    let [_version, user_len] = read_array::<2>(client)?;
    let user = read_vec(client, usize::from(user_len))?;
    let [password_len] = read_array::<1>(client)?;
    let password = read_vec(client, usize::from(password_len))?;
    Some((
        String::from_utf8_lossy(&user).into_owned(),
        String::from_utf8_lossy(&password).into_owned(),
    ))
}

fn read_target(client: &mut TcpStream) -> Option<SocksTarget> {
    let [kind] = read_array::<1>(client)?;
    let target = match kind {
        0x01 => {
            let ip = Ipv4Addr::from(read_array::<4>(client)?);
            SocksTarget::Addr(SocketAddr::new(IpAddr::V4(ip), read_port(client)?))
        }
        0x03 => {
            let [len] = read_array::<1>(client)?;
            let name = String::from_utf8_lossy(&read_vec(client, usize::from(len))?).into_owned();
            SocksTarget::Name(name, read_port(client)?)
        }
        0x04 => {
            let ip = Ipv6Addr::from(read_array::<16>(client)?);
            SocksTarget::Addr(SocketAddr::new(IpAddr::V6(ip), read_port(client)?))
        }
        _ => {
            let _ = client.write_all(&reply_bytes(reply::ADDRESS_TYPE_NOT_SUPPORTED, None));
            return None;
        }
    };
    Some(target)
}

fn read_port(client: &mut TcpStream) -> Option<u16> {
    Some(u16::from_be_bytes(read_array::<2>(client)?))
}

fn read_array<const N: usize>(client: &mut TcpStream) -> Option<[u8; N]> {
    let mut buf = [0u8; N];
    client.read_exact(&mut buf).ok()?;
    Some(buf)
}

fn read_vec(client: &mut TcpStream, len: usize) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; len];
    client.read_exact(&mut buf).ok()?;
    Some(buf)
}

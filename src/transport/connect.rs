//! Opening a link without blocking: resolve, race addresses, go through a
//! proxy, TLS, the HTTP upgrade — each step as far as the sockets allow, then
//! back to the caller's loop.
//!
//! A [`Connecting`] is advanced whenever its sockets are ready, its resolver
//! answers, or its next address is due; the attempt's one deadline is the
//! supervisor's connect timeout, and dropping a `Connecting` abandons the
//! attempt at once.

use core::net::SocketAddr;
use core::time::Duration;
use std::collections::VecDeque;
use std::io::{self, Read};
use std::string::String;
use std::sync::Arc;
use std::time::Instant as StdInstant;
use std::vec::Vec;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use tungstenite::protocol::WebSocket;

use super::error::TransportError;
use super::eyeballs;
use super::limits::Limits;
use super::proxy::http_connect;
use super::proxy::socks5::{Destination, Socks5, Step};
use super::proxy::{Proxy, ProxyError, ProxyKind};
use super::resolve::{resolve, Lookup, Wake};
use super::stream::Stream;
use super::upgrade::{self, Progress as UpgradeProgress};
use super::url::Target;

/// The token of the link's socket once the race is won.
pub(crate) const LINK: Token = Token(1);
/// Racing sockets use tokens from here.
const RACE_BASE: usize = 2;
/// Bytes read at a time while the proxy or the server answers.
const HEAD_CHUNK: usize = 4096;

/// Everything one attempt asks for, fixed when it starts (the before-connect
/// hook may have changed the URL and the headers).
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub(crate) target: Target,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) subprotocols: Arc<[String]>,
    pub(crate) proxy: Option<Proxy>,
}

/// What every attempt of a session shares.
#[derive(Clone, Debug)]
pub(crate) struct Dialer {
    #[cfg(feature = "tls")]
    pub(crate) tls: Arc<rustls::ClientConfig>,
    pub(crate) limits: Limits,
    /// Happy Eyeballs: how long an address gets before the next one starts too.
    pub(crate) stagger: Duration,
}

/// An open link and what the server said.
#[derive(Debug)]
pub(crate) struct Opened {
    pub(crate) ws: WebSocket<Stream>,
    pub(crate) subprotocol: Option<String>,
    /// The address that won the race (the proxy's, through a proxy).
    pub(crate) peer: SocketAddr,
}

/// How far an attempt got.
#[derive(Debug)]
pub(crate) enum Progress {
    /// Waiting for a socket, the resolver or the next address.
    Pending,
    /// The link is open.
    Open(std::boxed::Box<Opened>),
}

#[derive(Debug)]
enum Phase {
    /// `socks5://` resolves the target here, before asking the proxy.
    ResolvingTarget(Lookup),
    /// Resolving the host to dial: the server's, or the proxy's.
    Resolving(Lookup),
    Racing(Race),
    Tunnel {
        stream: Stream,
        tunnel: Tunnel,
        peer: SocketAddr,
    },
    #[cfg(feature = "tls")]
    Tls {
        stream: Stream,
        peer: SocketAddr,
    },
    Upgrade {
        stream: Stream,
        key: String,
        answer: Vec<u8>,
        peer: SocketAddr,
    },
    /// Taken out while a step runs, or after the link opened.
    Done,
}

#[derive(Debug)]
enum Tunnel {
    Http {
        answer: Vec<u8>,
    },
    Socks5 {
        socks: std::boxed::Box<Socks5>,
        answer: Vec<u8>,
    },
}

/// Happy Eyeballs (RFC 8305): addresses interleaved by family, the next one
/// started after `stagger` without waiting for the previous to fail, a
/// refused one replaced at once; the first to connect wins.
#[derive(Debug)]
struct Race {
    waiting: VecDeque<SocketAddr>,
    trying: Vec<(TcpStream, SocketAddr, Token)>,
    next_start: StdInstant,
    next_token: usize,
    last_error: Option<io::Error>,
}

/// One attempt to open a link.
#[derive(Debug)]
pub(crate) struct Connecting {
    plan: Plan,
    dialer: Dialer,
    phase: Phase,
    wake: Wake,
    /// What `socks5://` tells the proxy to connect to.
    socks_destination: Option<Destination>,
}

impl Connecting {
    /// Starts an attempt; `wake` is called from the resolver thread when it
    /// answers.
    pub(crate) fn start(plan: Plan, dialer: &Dialer, wake: Wake) -> Result<Connecting, TransportError> {
        #[cfg(not(feature = "tls"))]
        if plan.target.is_tls() {
            return Err(TransportError::Url(super::url::UrlError::new(
                &plan.target.host_header(),
                "wss:// needs the `tls` feature",
            )));
        }
        let target_by_name = Destination::Name {
            host: String::from(plan.target.host()),
            port: plan.target.port(),
        };
        let (phase, socks_destination) = match plan.proxy.as_ref().map(Proxy::kind) {
            Some(ProxyKind::Socks5 { remote_dns: false }) => (
                Phase::ResolvingTarget(resolve(plan.target.host(), plan.target.port(), wake.clone())?),
                None,
            ),
            Some(ProxyKind::Socks5 { remote_dns: true }) => (Phase::Done, Some(target_by_name)),
            _ => (Phase::Done, None),
        };
        let mut connecting = Connecting {
            dialer: dialer.clone(),
            phase,
            wake,
            socks_destination,
            plan,
        };
        if matches!(connecting.phase, Phase::Done) {
            connecting.phase = Phase::Resolving(connecting.resolve_dial_host()?);
        }
        Ok(connecting)
    }

    /// The proxy's host when there is one, else the server's.
    fn resolve_dial_host(&self) -> Result<Lookup, TransportError> {
        let (host, port) = match &self.plan.proxy {
            Some(proxy) => (proxy.host(), proxy.port()),
            None => (self.plan.target.host(), self.plan.target.port()),
        };
        resolve(host, port, self.wake.clone())
    }

    /// The proxy, without credentials, for messages.
    fn proxy_name(&self) -> String {
        self.plan
            .proxy
            .as_ref()
            .map_or_else(String::new, std::string::ToString::to_string)
    }

    /// When the next address of the race is due, if one is waiting.
    pub(crate) fn next_wakeup(&self) -> Option<StdInstant> {
        match &self.phase {
            Phase::Racing(race) if !race.waiting.is_empty() => Some(race.next_start),
            _ => None,
        }
    }

    /// Moves the attempt on as far as it can go without blocking.
    pub(crate) fn advance(&mut self, registry: &Registry, now: StdInstant) -> Result<Progress, TransportError> {
        loop {
            let phase = core::mem::replace(&mut self.phase, Phase::Done);
            let (next, moved) = match phase {
                Phase::ResolvingTarget(mut lookup) => match lookup.poll()? {
                    None => (Phase::ResolvingTarget(lookup), false),
                    Some(addrs) => {
                        let addr =
                            eyeballs::interleave(addrs)
                                .into_iter()
                                .next()
                                .ok_or_else(|| TransportError::Dns {
                                    host: String::from(self.plan.target.host()),
                                    source: None,
                                })?;
                        self.socks_destination = Some(Destination::Addr(addr));
                        (Phase::Resolving(self.resolve_dial_host()?), true)
                    }
                },
                Phase::Resolving(mut lookup) => match lookup.poll()? {
                    None => (Phase::Resolving(lookup), false),
                    Some(addrs) => (Phase::Racing(Race::new(addrs, now)), true),
                },
                Phase::Racing(mut race) => match race.advance(registry, now, self.dialer.stagger)? {
                    None => (Phase::Racing(race), false),
                    Some((tcp, peer)) => {
                        let _ = tcp.set_nodelay(true);
                        let mut stream = Stream::new(tcp);
                        registry.register(stream.tcp_mut(), LINK, Interest::READABLE | Interest::WRITABLE)?;
                        (self.after_tcp(stream, peer)?, true)
                    }
                },
                Phase::Tunnel {
                    mut stream,
                    mut tunnel,
                    peer,
                } => {
                    if self.advance_tunnel(&mut stream, &mut tunnel)? {
                        (self.after_tunnel(stream, peer)?, true)
                    } else {
                        (Phase::Tunnel { stream, tunnel, peer }, false)
                    }
                }
                #[cfg(feature = "tls")]
                Phase::Tls { mut stream, peer } => {
                    if stream.handshake()? {
                        (self.upgrade(stream, peer), true)
                    } else {
                        (Phase::Tls { stream, peer }, false)
                    }
                }
                Phase::Upgrade {
                    mut stream,
                    key,
                    mut answer,
                    peer,
                } => {
                    stream.send()?;
                    match self.read_upgrade(&mut stream, &key, &mut answer)? {
                        None => (
                            Phase::Upgrade {
                                stream,
                                key,
                                answer,
                                peer,
                            },
                            false,
                        ),
                        Some(upgraded) => {
                            let tail = &answer[upgraded.head_len..];
                            stream.open_inbox(tail, &self.dialer.limits);
                            let ws = super::raw_link::client_websocket(stream, &self.dialer.limits);
                            return Ok(Progress::Open(std::boxed::Box::new(Opened {
                                ws,
                                subprotocol: upgraded.subprotocol,
                                peer,
                            })));
                        }
                    }
                }
                Phase::Done => return Ok(Progress::Pending),
            };
            self.phase = next;
            if !moved {
                return Ok(Progress::Pending);
            }
        }
    }

    /// The next step once TCP is up: the proxy's tunnel, TLS, or the upgrade.
    fn after_tcp(&self, mut stream: Stream, peer: SocketAddr) -> Result<Phase, TransportError> {
        let Some(proxy) = &self.plan.proxy else {
            return self.after_tunnel(stream, peer);
        };
        let mut request = Vec::new();
        let tunnel = match proxy.kind() {
            ProxyKind::Http => {
                http_connect::write_request(
                    self.plan.target.host(),
                    self.plan.target.port(),
                    proxy.credentials(),
                    &mut request,
                );
                Tunnel::Http { answer: Vec::new() }
            }
            ProxyKind::Socks5 { .. } => {
                let destination = self.socks_destination.clone().ok_or_else(|| TransportError::Dns {
                    host: String::from(self.plan.target.host()),
                    source: None,
                })?;
                let credentials = proxy.credentials().map(|(u, p)| (String::from(u), String::from(p)));
                let mut socks = Socks5::new(destination, credentials).map_err(|error| self.proxy_error(error))?;
                socks.start(&mut request);
                Tunnel::Socks5 {
                    socks: std::boxed::Box::new(socks),
                    answer: Vec::new(),
                }
            }
        };
        use std::io::Write as _;
        stream.write_all(&request)?;
        stream.send()?;
        Ok(Phase::Tunnel { stream, tunnel, peer })
    }

    fn proxy_error(&self, error: ProxyError) -> TransportError {
        TransportError::Proxy {
            proxy: self.proxy_name(),
            error,
        }
    }

    /// Reads the proxy's answers; `true` once the tunnel is open.
    fn advance_tunnel(&self, stream: &mut Stream, tunnel: &mut Tunnel) -> Result<bool, TransportError> {
        stream.send()?;
        loop {
            let answer = match tunnel {
                Tunnel::Http { answer } | Tunnel::Socks5 { answer, .. } => answer,
            };
            if !read_some(stream, answer)? {
                return Ok(false);
            }
            match tunnel {
                Tunnel::Http { answer } => match http_connect::parse_response(answer) {
                    Ok(None) => {}
                    Ok(Some(head)) if head == answer.len() => return Ok(true),
                    // The server must not speak before the client.
                    Ok(Some(_)) => {
                        return Err(self.proxy_error(ProxyError::Malformed {
                            reason: "data after the proxy's answer",
                        }))
                    }
                    Err(error) => return Err(self.proxy_error(error)),
                },
                Tunnel::Socks5 { socks, answer } => {
                    let mut reply = Vec::new();
                    let step = socks.on_input(answer, &mut reply).map_err(|e| self.proxy_error(e))?;
                    use std::io::Write as _;
                    stream.write_all(&reply)?;
                    stream.send()?;
                    match step {
                        Step::NeedMore { consumed } => {
                            answer.drain(..consumed);
                        }
                        Step::Done { consumed } if consumed == answer.len() => return Ok(true),
                        Step::Done { .. } => {
                            return Err(self.proxy_error(ProxyError::Malformed {
                                reason: "data after the proxy's answer",
                            }))
                        }
                    }
                }
            }
        }
    }

    /// TLS for `wss://` (checked against the server's name, never the
    /// proxy's), then the upgrade.
    fn after_tunnel(&self, mut stream: Stream, peer: SocketAddr) -> Result<Phase, TransportError> {
        if !self.plan.target.is_tls() {
            return Ok(self.upgrade(stream, peer));
        }
        #[cfg(feature = "tls")]
        {
            let name = rustls::pki_types::ServerName::try_from(String::from(self.plan.target.host()))
                .map_err(|_| TransportError::Url(self.url_error("host is not a valid TLS server name")))?;
            let connection = rustls::ClientConnection::new(Arc::clone(&self.dialer.tls), name)
                .map_err(|e| TransportError::from_rustls(e, false))?;
            stream.start_tls(connection);
            Ok(Phase::Tls { stream, peer })
        }
        #[cfg(not(feature = "tls"))]
        {
            let _ = (&mut stream, peer);
            Err(TransportError::Url(self.url_error("wss:// needs the `tls` feature")))
        }
    }

    fn url_error(&self, reason: &'static str) -> super::url::UrlError {
        let url = std::format!(
            "{}://{}/",
            self.plan.target.scheme().as_str(),
            self.plan.target.host_header()
        );
        super::url::UrlError::new(&url, reason)
    }

    fn upgrade(&self, mut stream: Stream, peer: SocketAddr) -> Phase {
        let key = tungstenite::handshake::client::generate_key();
        let mut request = Vec::new();
        upgrade::write_request(
            &self.plan.target,
            &key,
            &self.plan.headers,
            &self.plan.subprotocols,
            &mut request,
        );
        use std::io::Write as _;
        // Writing to a stream only queues.
        let _ = stream.write_all(&request);
        Phase::Upgrade {
            stream,
            key,
            answer: Vec::new(),
            peer,
        }
    }

    fn read_upgrade(
        &self,
        stream: &mut Stream,
        key: &str,
        answer: &mut Vec<u8>,
    ) -> Result<Option<upgrade::Upgraded>, TransportError> {
        while read_some(stream, answer)? {
            match upgrade::parse_response(answer, key, &self.plan.subprotocols).map_err(TransportError::Upgrade)? {
                UpgradeProgress::Incomplete => {}
                UpgradeProgress::Done(upgraded) => return Ok(Some(upgraded)),
            }
        }
        Ok(None)
    }

    /// Deregisters the attempt's sockets; dropping it closes them.
    pub(crate) fn abandon(mut self, registry: &Registry) {
        match &mut self.phase {
            Phase::Racing(race) => {
                for (tcp, _, _) in &mut race.trying {
                    let _ = registry.deregister(tcp);
                }
            }
            Phase::Tunnel { stream, .. } | Phase::Upgrade { stream, .. } => {
                let _ = registry.deregister(stream.tcp_mut());
            }
            #[cfg(feature = "tls")]
            Phase::Tls { stream, .. } => {
                let _ = registry.deregister(stream.tcp_mut());
            }
            _ => {}
        }
    }
}

/// Appends what the stream has to `into`; `false` when nothing came (it
/// would block). The end of the stream is an error: nobody answered.
///
/// Reads into `into`'s own room, not a chunk on the stack: an I/O thread's
/// stack pages stay resident once touched, for every link it serves.
fn read_some(stream: &mut Stream, into: &mut Vec<u8>) -> Result<bool, TransportError> {
    let len = into.len();
    into.resize(len + HEAD_CHUNK, 0);
    let result = stream.read(&mut into[len..]);
    into.truncate(len + result.as_ref().map_or(0, |&n| n));
    match result {
        Ok(0) => Err(TransportError::from_io(io::ErrorKind::UnexpectedEof.into(), false)),
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(true),
        Err(e) => Err(TransportError::from_io(e, false)),
    }
}

impl Race {
    fn new(addrs: Vec<SocketAddr>, now: StdInstant) -> Race {
        Race {
            waiting: eyeballs::interleave(addrs).into(),
            trying: Vec::new(),
            next_start: now,
            next_token: RACE_BASE,
            last_error: None,
        }
    }

    /// The winner, once a connection is up.
    fn advance(
        &mut self,
        registry: &Registry,
        now: StdInstant,
        stagger: Duration,
    ) -> Result<Option<(TcpStream, SocketAddr)>, TransportError> {
        loop {
            let mut index = 0;
            while index < self.trying.len() {
                let (tcp, addr, _) = &self.trying[index];
                let addr = *addr;
                match tcp.take_error() {
                    Ok(None) => {}
                    Ok(Some(e)) | Err(e) => {
                        let (mut tcp, _, _) = self.trying.swap_remove(index);
                        let _ = registry.deregister(&mut tcp);
                        self.last_error = Some(e);
                        // A refused address makes room for the next at once.
                        self.next_start = now;
                        continue;
                    }
                }
                match tcp.peer_addr() {
                    Ok(_) => {
                        let (mut tcp, _, _) = self.trying.swap_remove(index);
                        let _ = registry.deregister(&mut tcp);
                        for (mut other, _, _) in self.trying.drain(..) {
                            let _ = registry.deregister(&mut other);
                        }
                        return Ok(Some((tcp, addr)));
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => index += 1,
                    Err(e) => {
                        let (mut tcp, _, _) = self.trying.swap_remove(index);
                        let _ = registry.deregister(&mut tcp);
                        self.last_error = Some(e);
                        self.next_start = now;
                    }
                }
            }
            if now < self.next_start && !self.trying.is_empty() {
                return Ok(None);
            }
            let Some(addr) = self.waiting.pop_front() else {
                if self.trying.is_empty() {
                    let error = self
                        .last_error
                        .take()
                        .unwrap_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "no address left to try"));
                    return Err(TransportError::Io(error));
                }
                return Ok(None);
            };
            match TcpStream::connect(addr) {
                Ok(mut tcp) => {
                    let token = Token(self.next_token);
                    self.next_token += 1;
                    registry.register(&mut tcp, token, Interest::WRITABLE)?;
                    self.trying.push((tcp, addr, token));
                    self.next_start = now + stagger;
                }
                Err(e) => {
                    self.last_error = Some(e);
                    self.next_start = now;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use mio::{Events, Poll};

    use super::*;

    /// A loopback port that never answers a SYN: a listener with a backlog
    /// of one, already full.
    fn blackhole(ip: &str) -> (socket2::Socket, std::net::TcpStream, SocketAddr) {
        let addr: SocketAddr = std::format!("{ip}:0").parse().expect("an address");
        let socket =
            socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::STREAM, None).expect("a socket");
        socket.bind(&addr.into()).expect("bind");
        socket.listen(0).expect("listen");
        let addr = socket.local_addr().expect("bound").as_socket().expect("an IP address");
        let filler = std::net::TcpStream::connect(addr).expect("the one queued connection");
        (socket, filler, addr)
    }

    /// Races `addrs` and returns how long the winner took, and which it was.
    fn race(addrs: Vec<SocketAddr>, stagger: Duration) -> (Duration, SocketAddr) {
        let mut poll = Poll::new().expect("a poller");
        let mut events = Events::with_capacity(8);
        let started = StdInstant::now();
        let mut race = Race::new(addrs, started);
        loop {
            if let Some((_, addr)) = race
                .advance(poll.registry(), StdInstant::now(), stagger)
                .expect("no error")
            {
                return (started.elapsed(), addr);
            }
            assert!(started.elapsed() < Duration::from_secs(5), "no winner");
            poll.poll(&mut events, Some(Duration::from_millis(5))).expect("poll");
        }
    }

    #[test]
    fn a_silent_address_costs_the_stagger_not_the_deadline_in_either_order() {
        let stagger = Duration::from_millis(250);
        let v4 = TcpListener::bind("127.0.0.1:0").expect("bind");
        let v6 = TcpListener::bind("[::1]:0").expect("bind");
        let (_hole6, _fill6, silent6) = blackhole("[::1]");
        let (_hole4, _fill4, silent4) = blackhole("127.0.0.1");
        for (addrs, healthy) in [
            (
                std::vec![silent6, v4.local_addr().expect("bound")],
                v4.local_addr().expect("bound"),
            ),
            (
                std::vec![silent4, v6.local_addr().expect("bound")],
                v6.local_addr().expect("bound"),
            ),
        ] {
            let (took, winner) = race(addrs, stagger);
            std::println!(
                "a silent {} first: {winner} won after {took:?}",
                if winner.is_ipv4() { "::1" } else { "127.0.0.1" }
            );
            assert_eq!(winner, healthy);
            assert!(
                took >= stagger && took < stagger + Duration::from_millis(100),
                "{took:?}"
            );
        }
    }

    #[test]
    fn a_refused_address_makes_way_at_once() {
        let healthy = TcpListener::bind("127.0.0.1:0").expect("bind");
        let refused = TcpListener::bind("[::1]:0").expect("bind").local_addr().expect("bound");
        // Nothing listens there any more.
        let (took, winner) = race(
            std::vec![refused, healthy.local_addr().expect("bound")],
            Duration::from_millis(250),
        );
        assert_eq!(winner, healthy.local_addr().expect("bound"));
        assert!(took < Duration::from_millis(100), "{took:?}");
    }
}

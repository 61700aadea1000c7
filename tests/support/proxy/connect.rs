//! An HTTP CONNECT proxy on 127.0.0.1 that tunnels like a real one or fails
//! the way real ones do: asks for `Proxy-Authorization: Basic`, answers any
//! status (407, 502, 503, 504, …), hangs after the request, or dribbles its
//! `200` one byte at a time. Every request head is recorded.

use std::io::Write;
use std::net::TcpStream;
use std::ops::Deref;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use super::{finish, hold, keep, splice, Resolved, Sockets, TunnelProxy, TunnelState};
use crate::support::http::{read_head, Request, Response};
use crate::support::{lock, PATIENCE};

/// How a [`ConnectProxy`] answers.
#[derive(Clone, Debug)]
pub enum ConnectMode {
    /// Tunnels to the target (loopback only), without asking for credentials.
    Tunnel,
    /// Tunnels only with `Proxy-Authorization: Basic` for this user and
    /// password; answers 407 otherwise.
    RequireAuth { user: String, password: String },
    /// Answers every request with this response and closes.
    Answer(Response),
    /// Reads the request and never answers.
    Hang,
    /// Tunnels, writing the `200` one byte every so often.
    Dribble(Duration),
}

impl ConnectMode {
    /// Answers `status` the way a proxy does: 407 asks for Basic
    /// credentials, the rest carry no headers.
    pub fn status(status: u16) -> ConnectMode {
        ConnectMode::Answer(match status {
            407 => auth_required(),
            _ => Response::new(status),
        })
    }

    pub fn require_auth(user: &str, password: &str) -> ConnectMode {
        ConnectMode::RequireAuth {
            user: user.to_string(),
            password: password.to_string(),
        }
    }
}

type State = TunnelState<ConnectMode, Request>;

/// An in-process HTTP CONNECT proxy (see [`ConnectMode`]); what it shares
/// with the SOCKS5 proxy is on [`TunnelProxy`].
pub struct ConnectProxy(TunnelProxy<ConnectMode, Request>);

impl ConnectProxy {
    pub fn start(mode: ConnectMode) -> ConnectProxy {
        ConnectProxy(TunnelProxy::start("CONNECT", mode, serve))
    }

    /// `http://127.0.0.1:PORT`, as a client's proxy setting names it.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }
}

impl Deref for ConnectProxy {
    type Target = TunnelProxy<ConnectMode, Request>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

fn serve(state: &State, mut client: TcpStream, sockets: &Sockets) {
    state.accepts.fetch_add(1, Ordering::SeqCst);
    let Some(request) = read_head(&mut client).and_then(|head| Request::parse(&head)) else {
        return finish(client);
    };
    state.requests.push(request.clone());
    let mode = lock(&state.mode).clone();
    let refuse = |mut client: TcpStream, response: Response| {
        let _ = client.write_all(&response.bytes());
        finish(client);
    };
    match &mode {
        ConnectMode::Answer(response) => return refuse(client, response.clone()),
        ConnectMode::Hang => return hold(client),
        ConnectMode::RequireAuth { user, password } => {
            let given = request.basic_credentials("Proxy-Authorization");
            if given.as_ref().map(|(u, p)| (u.as_str(), p.as_str())) != Some((user, password)) {
                return refuse(client, auth_required());
            }
        }
        ConnectMode::Tunnel | ConnectMode::Dribble(_) => {}
    }
    if !request.method.eq_ignore_ascii_case("CONNECT") {
        return refuse(client, Response::new(405).header("Allow", "CONNECT"));
    }
    let target = match split_authority(&request.path) {
        Some((host, port)) => state.aliases.resolve(host, port),
        None => return refuse(client, Response::new(400)),
    };
    let target = match target {
        Resolved::To(addr) => addr,
        Resolved::NotLoopback => return refuse(client, Response::new(403)),
        Resolved::Unknown => return refuse(client, Response::new(502)),
    };
    let Ok(upstream) = TcpStream::connect_timeout(&target, PATIENCE) else {
        return refuse(client, Response::new(502));
    };
    let _ = upstream.set_nodelay(true);
    keep(sockets, &upstream);
    let established = b"HTTP/1.1 200 Connection established\r\n\r\n";
    let sent = match mode {
        ConnectMode::Dribble(every) => dribble(&mut client, established, every),
        _ => client.write_all(established).is_ok(),
    };
    if sent {
        state.tunnels.fetch_add(1, Ordering::SeqCst);
        splice(client, upstream, None);
    }
}

/// The 407 that asks for Basic credentials.
pub fn auth_required() -> Response {
    Response::new(407).header("Proxy-Authenticate", "Basic realm=\"wstether-test\"")
}

/// `host:port` (or `[v6]:port`) of a CONNECT request.
fn split_authority(authority: &str) -> Option<(&str, u16)> {
    let (host, port) = authority.rsplit_once(':')?;
    Some((host, port.parse().ok()?))
}

fn dribble(client: &mut TcpStream, bytes: &[u8], every: Duration) -> bool {
    let started = Instant::now();
    for (i, byte) in bytes.iter().enumerate() {
        if i > 0 {
            // The delay is the fault being injected, not a wait.
            thread::sleep(every);
        }
        if client.write_all(&[*byte]).is_err() || started.elapsed() > PATIENCE {
            return false;
        }
    }
    true
}

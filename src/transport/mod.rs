//! The blocking transport: opens a `ws://` or `wss://` link within one
//! deadline and maps every error to a core [`crate::Failure`].
//!
//! One deadline covers DNS, TCP (`connect_timeout` per resolved address, the
//! next address on failure), TLS and the WebSocket upgrade. Redirects are not
//! followed: a 3xx is a permanent failure, and no header is ever sent to a
//! host other than the one configured. Once open, the socket is
//! non-blocking, for the client's readiness loop.

mod error;
mod redact;
mod stream;
#[cfg(feature = "tls")]
mod tls;

use core::net::SocketAddr;
use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;
use std::net::{TcpStream, ToSocketAddrs};
use std::string::{String, ToString};
use std::sync::{mpsc, Arc};
use std::time::{Instant as StdInstant, SystemTime, UNIX_EPOCH};
use std::vec::Vec;
use std::{format, thread};

use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::HandshakeError;
use tungstenite::http::{HeaderName, HeaderValue};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::WebSocket;

pub use error::TransportError;
pub use redact::redact_url;
pub use stream::{Socket, Stream};
#[cfg(feature = "tls")]
pub use tls::TlsConfig;

/// An open link.
pub type Link = WebSocket<Stream>;

/// Size limits of one link. Tungstenite's defaults (64 MiB messages, 16 MiB
/// frames, unbounded write buffer, 128 KiB buffers) suit a server; a client
/// that keeps a feed alive wants a hostile or broken server to cost little.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest inbound message; larger ones end the link (default 16 MiB).
    pub max_message_size: usize,
    /// Largest inbound frame payload (default 4 MiB).
    pub max_frame_size: usize,
    /// Read buffer, allocated per link (default 16 KiB).
    pub read_buffer_size: usize,
    /// Outbound bytes gathered before a write to the socket (default 16 KiB).
    pub write_buffer_size: usize,
    /// Most outbound bytes buffered while the socket is not writable (default 4 MiB).
    pub max_write_buffer_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: 16 << 20,
            max_frame_size: 4 << 20,
            read_buffer_size: 16 << 10,
            write_buffer_size: 16 << 10,
            max_write_buffer_size: 4 << 20,
        }
    }
}

impl Limits {
    /// Small buffers for gateways with many links or little memory: 1 MiB
    /// messages, 4 KiB buffers.
    pub fn small() -> Limits {
        Limits {
            max_message_size: 1 << 20,
            max_frame_size: 1 << 20,
            read_buffer_size: 4 << 10,
            write_buffer_size: 4 << 10,
            max_write_buffer_size: 1 << 20,
        }
    }

    /// These limits as tungstenite's configuration, for a `WebSocket` built
    /// outside the client (a test or a fuzz target over raw bytes).
    pub fn websocket_config(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            .read_buffer_size(self.read_buffer_size)
            .write_buffer_size(self.write_buffer_size)
            .max_write_buffer_size(self.max_write_buffer_size.max(self.write_buffer_size + 1))
            .max_message_size(Some(self.max_message_size))
            .max_frame_size(Some(self.max_frame_size))
    }
}

/// Everything about opening a link except the URL and the deadline.
#[derive(Clone, Debug, Default)]
pub struct TransportConfig {
    /// Extra headers on the upgrade request (never logged).
    pub headers: Vec<(String, String)>,
    /// Subprotocols to offer, in order of preference.
    pub subprotocols: Vec<String>,
    /// Size limits.
    pub limits: Limits,
    /// Trust anchors for `wss://`.
    #[cfg(feature = "tls")]
    pub tls: TlsConfig,
}

/// A transport ready to open links: the TLS configuration is built once.
#[derive(Clone, Debug)]
pub struct Connector {
    config: TransportConfig,
    #[cfg(feature = "tls")]
    tls: Arc<rustls::ClientConfig>,
}

/// What the server said when the link opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Opened {
    /// The subprotocol the server chose, if any.
    pub subprotocol: Option<String>,
}

impl Connector {
    /// Checks the configuration and builds the TLS setup (reading a CA file
    /// now, so a bad path is an error here, not at the first attempt).
    pub fn new(config: TransportConfig) -> Result<Connector, TransportError> {
        for (name, value) in &config.headers {
            if HeaderName::from_bytes(name.as_bytes()).is_err() || HeaderValue::from_str(value).is_err() {
                return Err(TransportError::Header(name.clone()));
            }
        }
        Ok(Connector {
            #[cfg(feature = "tls")]
            tls: config.tls.client_config()?,
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &TransportConfig {
        &self.config
    }

    /// Opens a link to `url` before `deadline`. `cancel`, when set from
    /// another thread, ends the attempt within about 100 ms (except during
    /// the TCP connect itself, which is bounded by the deadline).
    pub fn open(
        &self,
        url: &str,
        deadline: StdInstant,
        cancel: Option<Arc<AtomicBool>>,
    ) -> Result<(Link, Opened), TransportError> {
        let mut request = url.into_client_request().map_err(|_| TransportError::Url {
            url: redact_url(url),
            reason: "not a valid ws:// or wss:// URL",
        })?;
        let uri = request.uri().clone();
        let tls = match uri.scheme_str() {
            Some("ws") => false,
            Some("wss") => true,
            _ => {
                return Err(TransportError::Url {
                    url: redact_url(url),
                    reason: "scheme must be ws or wss",
                })
            }
        };
        let host = uri
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        for (name, value) in &self.config.headers {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| TransportError::Header(name.clone()))?;
            let value = HeaderValue::from_str(value).map_err(|_| TransportError::Header(name.to_string()))?;
            request.headers_mut().append(name, value);
        }
        if !self.config.subprotocols.is_empty() {
            let offered = self.config.subprotocols.join(", ");
            let value = HeaderValue::from_str(&offered).map_err(|_| TransportError::Header(offered.clone()))?;
            request.headers_mut().insert("sec-websocket-protocol", value);
        }

        let tcp = connect_tcp(&host, port, deadline, cancel.as_deref())?;
        let _ = tcp.set_nodelay(true);
        let socket = Socket::new(tcp, deadline, cancel, self.config.limits.read_buffer_size.max(1));
        let stream = if tls {
            self.wrap_tls(&host, socket)?
        } else {
            Stream::Plain(socket)
        };
        let config = Some(self.config.limits.websocket_config());
        let mut handshake = tungstenite::client::client_with_config(request, stream, config);
        let (mut link, response) = loop {
            match handshake {
                Ok(done) => break done,
                // The socket's deadline slices already waited; go on until it expires.
                Err(HandshakeError::Interrupted(mid)) => handshake = mid.handshake(),
                Err(HandshakeError::Failure(e)) => return Err(TransportError::from_websocket(e, unix_now())),
            }
        };
        let subprotocol = response
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        link.get_mut()
            .socket_mut()
            .establish()
            .map_err(TransportError::from_io)?;
        Ok((link, Opened { subprotocol }))
    }

    #[cfg(feature = "tls")]
    fn wrap_tls(&self, host: &str, socket: Socket) -> Result<Stream, TransportError> {
        let name = rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|_| TransportError::Url {
            url: host.to_string(),
            reason: "host is not a valid TLS server name",
        })?;
        let connection =
            rustls::ClientConnection::new(Arc::clone(&self.tls), name).map_err(TransportError::from_rustls)?;
        let mut stream = rustls::StreamOwned::new(connection, socket);
        // Finish the TLS handshake here, so its errors are told apart from the upgrade's.
        while stream.conn.is_handshaking() {
            stream
                .conn
                .complete_io(&mut stream.sock)
                .map_err(TransportError::from_io)?;
        }
        Ok(Stream::Tls(std::boxed::Box::new(stream)))
    }

    #[cfg(not(feature = "tls"))]
    fn wrap_tls(&self, host: &str, _socket: Socket) -> Result<Stream, TransportError> {
        Err(TransportError::Url {
            url: format!("wss://{host}"),
            reason: "wss:// needs the `tls` feature",
        })
    }
}

/// Resolves on a helper thread, because `getaddrinfo` has no timeout; a
/// resolver that outlives the deadline is left to finish on its own.
fn resolve(host: &str, port: u16, deadline: StdInstant) -> Result<Vec<SocketAddr>, TransportError> {
    if let Ok(ip) = host.parse::<core::net::IpAddr>() {
        return Ok(std::vec![SocketAddr::new(ip, port)]);
    }
    let (tx, rx) = mpsc::channel();
    let target = format!("{host}:{port}");
    thread::Builder::new()
        .name("wstether-dns".into())
        .spawn(move || {
            let _ = tx.send(target.to_socket_addrs().map(Iterator::collect::<Vec<_>>));
        })
        .map_err(TransportError::Io)?;
    let left = deadline.saturating_duration_since(StdInstant::now());
    match rx.recv_timeout(left) {
        Ok(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
        Ok(Ok(_)) => Err(TransportError::Dns {
            host: host.to_string(),
            source: None,
        }),
        Ok(Err(e)) => Err(TransportError::Dns {
            host: host.to_string(),
            source: Some(e),
        }),
        Err(_) => Err(TransportError::Timeout),
    }
}

fn connect_tcp(
    host: &str,
    port: u16,
    deadline: StdInstant,
    cancel: Option<&AtomicBool>,
) -> Result<TcpStream, TransportError> {
    let addrs = resolve(host, port, deadline)?;
    let mut last = TransportError::Timeout;
    for addr in addrs {
        if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return Err(TransportError::Cancelled);
        }
        let left = deadline.saturating_duration_since(StdInstant::now());
        if left.is_zero() {
            return Err(TransportError::Timeout);
        }
        match TcpStream::connect_timeout(&addr, left.max(Duration::from_millis(1))) {
            Ok(tcp) => return Ok(tcp),
            Err(e) => last = TransportError::from_io(e),
        }
    }
    Err(last)
}

/// Seconds since the Unix epoch, for HTTP-date Retry-After values.
fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

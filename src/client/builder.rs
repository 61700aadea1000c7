//! Building a client: endpoints, policy, transport, hooks and queue sizes,
//! all checked when the client is built.

use core::time::Duration;
use std::boxed::Box;
use std::string::String;
use std::sync::Arc;
use std::vec::Vec;

use tungstenite::Message;

use super::acks::AckSpec;
use super::attempt::Attempt;
use super::budget::InboundBudget;
use super::client::Client;
use super::error::BuildError;
use super::hooks::{Hooks, LinkStart};
use super::io_thread::{IoThread, DEFAULT_STACK};
use super::outbox::SharedOutbox;
use super::sequence_check::{SequenceCheck, SequenceSpec};
use super::session::Session;
use super::settings::{Endpoint, Settings};
use super::shared::Shared;
use crate::transport::connect::Dialer;
#[cfg(feature = "tls")]
use crate::transport::TlsConfig;
use crate::transport::{proxy_from_env, Limits, Proxy, Target, TransportError};
use crate::{BackoffConfig, CloseCodeTable, Config, HeartbeatConfig, Supervisor};

/// Where the proxy comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum ProxyChoice {
    /// `https_proxy` / `http_proxy` / `all_proxy`, minus `no_proxy` and
    /// loopback, as curl and python-websockets read them.
    Environment,
    /// This proxy for every endpoint.
    Explicit(String),
    /// Connect directly.
    None,
}

/// Configures and starts a [`Client`] (or a [`Session`] for the caller's own
/// loop). Everything is checked by [`ClientBuilder::connect`] and
/// [`ClientBuilder::session`]: URLs, headers, TLS files, the proxy.
///
/// ```no_run
/// use std::time::Duration;
/// use wstether::client::ClientBuilder;
///
/// let client = ClientBuilder::new("wss://stream.example.com/ws")
///     .endpoint("wss://stream-backup.example.com/ws")
///     .header("Authorization", "Bearer …")
///     .subscribe(r#"{"op":"subscribe","args":["trades"]}"#)
///     .queue_capacity(256)
///     .close_timeout(Duration::from_secs(2))
///     .connect()?;
/// for message in client.iter() {
///     println!("{message}");
/// }
/// # Ok::<(), wstether::client::BuildError>(())
/// ```
pub struct ClientBuilder {
    urls: Vec<String>,
    config: Config,
    headers: Vec<(String, String)>,
    subprotocols: Vec<String>,
    limits: Limits,
    #[cfg(feature = "tls")]
    tls: TlsConfig,
    proxy: ProxyChoice,
    happy_eyeballs_delay: Duration,
    close_codes: CloseCodeTable,
    queue_capacity: usize,
    queue_bytes: usize,
    inbound_capacity: usize,
    event_capacity: usize,
    close_timeout: Duration,
    close_handshake_timeout: Duration,
    message_ttl: Option<Duration>,
    seed: Option<u64>,
    subscriptions: Vec<Message>,
    sequence: Option<SequenceSpec>,
    acks: Option<AckSpec>,
    hooks: Hooks,
    stack_size: usize,
}

impl core::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let urls: Vec<String> = self.urls.iter().map(|u| crate::transport::redact_url(u)).collect();
        f.debug_struct("ClientBuilder")
            .field("urls", &urls)
            .field("config", &self.config)
            .field("limits", &self.limits)
            .field("hooks", &self.hooks)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// A client for `url` (`ws://` or `wss://`) with the default policy.
    pub fn new(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            urls: std::vec![url.into()],
            config: Config::default(),
            headers: Vec::new(),
            subprotocols: Vec::new(),
            limits: Limits::default(),
            #[cfg(feature = "tls")]
            tls: TlsConfig::default(),
            proxy: ProxyChoice::Environment,
            happy_eyeballs_delay: Duration::from_millis(250),
            close_codes: CloseCodeTable::default(),
            queue_capacity: 1_024,
            queue_bytes: 16 << 20,
            inbound_capacity: 1_024,
            event_capacity: 256,
            close_timeout: Duration::from_secs(5),
            close_handshake_timeout: Duration::from_secs(1),
            message_ttl: None,
            seed: None,
            subscriptions: Vec::new(),
            sequence: None,
            acks: None,
            hooks: Hooks::default(),
            stack_size: DEFAULT_STACK,
        }
    }

    /// Adds a fallback endpoint; the supervisor rotates through them in order
    /// (see [`crate::EndpointConfig`]).
    pub fn endpoint(mut self, url: impl Into<String>) -> ClientBuilder {
        self.urls.push(url.into());
        self
    }

    /// The whole supervisor configuration (the endpoint count is set from the URLs).
    pub fn config(mut self, config: Config) -> ClientBuilder {
        self.config = config;
        self
    }

    /// The reconnect schedule.
    pub fn backoff(mut self, backoff: BackoffConfig) -> ClientBuilder {
        self.config.backoff = backoff;
        self
    }

    /// Pings, pong and idle timeouts.
    pub fn heartbeat(mut self, heartbeat: HeartbeatConfig) -> ClientBuilder {
        self.config.heartbeat = heartbeat;
        self
    }

    /// The deadline for one attempt (DNS, TCP, proxy, TLS and upgrade).
    pub fn connect_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.config.connect_timeout = timeout;
        self
    }

    /// Adds a header to every upgrade request. Headers are never logged.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> ClientBuilder {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Offers a subprotocol. A server that chooses none of those offered is
    /// a permanent failure (a configuration mismatch).
    pub fn subprotocol(mut self, protocol: impl Into<String>) -> ClientBuilder {
        self.subprotocols.push(protocol.into());
        self
    }

    /// Size limits (see [`Limits`] for the defaults and what they bound).
    pub fn limits(mut self, limits: Limits) -> ClientBuilder {
        self.limits = limits;
        self
    }

    /// Trust anchors for `wss://`, and a client certificate.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: TlsConfig) -> ClientBuilder {
        self.tls = tls;
        self
    }

    /// Connects through this proxy (`http://[user:pass@]host:port`,
    /// `socks5://…` resolving names here, `socks5h://…` at the proxy),
    /// ignoring the environment.
    pub fn proxy(mut self, url: impl Into<String>) -> ClientBuilder {
        self.proxy = ProxyChoice::Explicit(url.into());
        self
    }

    /// Connects directly, ignoring any proxy in the environment. By default
    /// the environment is read as curl and python-websockets read it
    /// (`https_proxy` for `wss://`, `http_proxy` for `ws://`, then
    /// `all_proxy`; `no_proxy`), and loopback is never proxied.
    pub fn no_proxy(mut self) -> ClientBuilder {
        self.proxy = ProxyChoice::None;
        self
    }

    /// Happy Eyeballs: how long one address gets before the next one is
    /// tried too (default 250 ms, RFC 8305's recommendation).
    pub fn happy_eyeballs_delay(mut self, delay: Duration) -> ClientBuilder {
        self.happy_eyeballs_delay = delay;
        self
    }

    /// How the server's close codes are classified.
    pub fn close_codes(mut self, table: CloseCodeTable) -> ClientBuilder {
        self.close_codes = table;
        self
    }

    /// Outgoing queue capacity in messages (default 1024); `send` hands
    /// messages back beyond it.
    pub fn queue_capacity(mut self, capacity: usize) -> ClientBuilder {
        self.queue_capacity = capacity;
        self
    }

    /// Outgoing queue capacity in bytes (default 16 MiB); a larger message
    /// still goes through an empty queue.
    pub fn queue_bytes(mut self, bytes: usize) -> ClientBuilder {
        self.queue_bytes = bytes;
        self
    }

    /// Received messages that may wait for the caller (default 1024). When
    /// they, or [`Limits::max_queued_bytes`], are reached the link stops
    /// reading and TCP pushes back on the server; nothing is dropped.
    pub fn inbound_capacity(mut self, capacity: usize) -> ClientBuilder {
        self.inbound_capacity = capacity;
        self
    }

    /// Event queue capacity of a [`Client`] (default 256); events beyond it
    /// are dropped and counted, so a caller who ignores events loses nothing
    /// else. The end is kept apart ([`Client::ending`]).
    pub fn event_capacity(mut self, capacity: usize) -> ClientBuilder {
        self.event_capacity = capacity;
        self
    }

    /// How long a close may spend writing what is queued (default 5 s).
    pub fn close_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.close_timeout = timeout;
        self
    }

    /// How long the close handshake may take once the close frame is out
    /// (default 1 s).
    pub fn close_handshake_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.close_handshake_timeout = timeout;
        self
    }

    /// A time-to-live for every queued message (none by default): a message
    /// not written to a socket within it is never sent, but handed back as
    /// expired, so no stale order reaches a new link.
    pub fn message_ttl(mut self, ttl: Duration) -> ClientBuilder {
        self.message_ttl = Some(ttl);
        self
    }

    /// Seeds the jitter, for reproducible runs; by default it is seeded from
    /// entropy so that a fleet does not share one schedule.
    pub fn seed(mut self, seed: u64) -> ClientBuilder {
        self.seed = Some(seed);
        self
    }

    /// Adds a subscription, replayed at the start of every link (removable
    /// later: [`Client::subscriptions`], [`Client::unsubscribe`]).
    pub fn subscribe(mut self, message: impl Into<Message>) -> ClientBuilder {
        self.subscriptions.push(message.into());
        self
    }

    /// Computes what each new link sends first, before the subscriptions:
    /// "resume from sequence N" from [`LinkStart::last_sequence`], a login
    /// with a fresh token. Runs on the session's thread.
    pub fn on_link(mut self, hook: impl FnMut(&LinkStart) -> Vec<Message> + Send + 'static) -> ClientBuilder {
        self.hooks.on_link = Some(Box::new(hook));
        self
    }

    /// Called before every attempt with its request, which it may change
    /// (fresh credentials, another URL) or stop. Runs on the session's thread,
    /// so it should not block long. When a server refuses with 401 or 403,
    /// the hook is asked again at once: if it gives different credentials,
    /// one more attempt follows the usual delay; otherwise the refusal stops
    /// the client.
    pub fn before_connect(mut self, hook: impl FnMut(&mut Attempt) + Send + 'static) -> ClientBuilder {
        self.hooks.before_connect = Some(Box::new(hook));
        self
    }

    /// Checks inbound sequence numbers: `extract` finds the number in a
    /// message (`None` for messages without one); skipped numbers become
    /// [`super::EventKind::SequenceGap`] events and repeats
    /// [`super::EventKind::SequenceDuplicate`] — across reconnects too. A
    /// number more than `window` behind the newest counts as a duplicate.
    /// Messages are delivered either way.
    pub fn sequence(
        mut self,
        window: u64,
        extract: impl Fn(&Message) -> Option<u64> + Send + Sync + 'static,
    ) -> ClientBuilder {
        self.sequence = Some(SequenceSpec {
            extract: Arc::new(extract),
            window,
        });
        self
    }

    /// End-to-end acknowledgements: `outgoing` reads the id of a message
    /// the server will acknowledge, `incoming` the id an inbound message
    /// acknowledges. Such messages stay the client's until acknowledged: sent
    /// again, in order, on the next link if a link drops first, and handed
    /// back as unacknowledged at close — at least once, never again after the
    /// acknowledgement. At most `window` wait for theirs; then the queue
    /// waits.
    pub fn acknowledge(
        mut self,
        window: usize,
        outgoing: impl Fn(&Message) -> Option<u64> + Send + Sync + 'static,
        incoming: impl Fn(&Message) -> Option<u64> + Send + Sync + 'static,
    ) -> ClientBuilder {
        self.acks = Some(AckSpec::new(window, Arc::new(outgoing), Arc::new(incoming)));
        self
    }

    /// The I/O thread's stack for [`ClientBuilder::connect`] (default 256
    /// KiB, against the 2 MiB of a default thread).
    pub fn stack_size(mut self, bytes: usize) -> ClientBuilder {
        self.stack_size = bytes;
        self
    }

    pub(crate) fn queue_capacities(&self) -> (usize, usize) {
        (self.inbound_capacity, self.event_capacity)
    }

    /// Starts the client on an I/O thread of its own.
    pub fn connect(self) -> Result<Client, BuildError> {
        if self.stack_size == 0 {
            return Err(BuildError::ZeroCapacity);
        }
        let thread = IoThread::with_stack_size(self.stack_size).map_err(BuildError::Io)?;
        let client = thread.add(self)?;
        Ok(client.owning(thread))
    }

    /// A session to drive from the caller's own loop, without a thread.
    pub fn session(self) -> Result<Session, BuildError> {
        self.build_session(false)
    }

    /// A session for an I/O thread (`hosted`) or for the caller's loop.
    pub(crate) fn build_session(mut self, hosted: bool) -> Result<Session, BuildError> {
        let capacities = [
            self.queue_capacity,
            self.queue_bytes,
            self.inbound_capacity,
            self.event_capacity,
            self.limits.max_queued_bytes,
        ];
        if capacities.contains(&0) || self.acks.as_ref().is_some_and(|a| a.window == 0) {
            return Err(BuildError::ZeroCapacity);
        }
        self.config.endpoints.count = u8::try_from(self.urls.len()).map_err(|_| BuildError::TooManyEndpoints)?;
        let endpoints = self.endpoints()?;
        check_headers(&self.headers, &self.subprotocols).map_err(BuildError::Transport)?;
        let seed = self.seed.unwrap_or_else(|| fastrand::u64(..));
        let supervisor = Supervisor::new(self.config, seed).map_err(BuildError::Config)?;
        let dialer = Dialer {
            #[cfg(feature = "tls")]
            tls: self.tls.client_config().map_err(BuildError::Transport)?,
            limits: self.limits,
            stagger: self.happy_eyeballs_delay,
        };
        let sequence = self
            .sequence
            .map(SequenceCheck::new)
            .transpose()
            .map_err(|_| BuildError::ZeroCapacity)?;
        let settings = Settings {
            endpoints,
            headers: self.headers,
            subprotocols: self.subprotocols.into(),
            dialer,
            close_codes: self.close_codes,
            close_timeout: self.close_timeout,
            close_handshake_timeout: self.close_handshake_timeout,
        };
        let acks = self.acks.map(Arc::new);
        let outbox = SharedOutbox::new(self.queue_capacity, self.queue_bytes, self.subscriptions);
        let budget = InboundBudget::new(self.inbound_capacity, self.limits.max_queued_bytes);
        let ttl = self.message_ttl;
        let shared_acks = acks.clone();
        Session::new(
            supervisor,
            settings,
            self.hooks,
            move |waker| Shared::new(outbox, budget, waker, ttl, shared_acks),
            sequence,
            acks,
            hosted,
        )
        .map_err(BuildError::Io)
    }

    /// Every URL parsed, with the proxy that applies to it.
    fn endpoints(&self) -> Result<Vec<Endpoint>, BuildError> {
        let explicit = match &self.proxy {
            ProxyChoice::Explicit(url) => Some(Proxy::parse(url).map_err(BuildError::Proxy)?),
            _ => None,
        };
        self.urls
            .iter()
            .map(|url| {
                let target = Target::parse(url).map_err(BuildError::Url)?;
                let proxy = match &self.proxy {
                    ProxyChoice::Explicit(_) => explicit.clone(),
                    ProxyChoice::None => None,
                    ProxyChoice::Environment => {
                        proxy_from_env(&target, |name| std::env::var(name).ok()).map_err(BuildError::Proxy)?
                    }
                };
                Ok(Endpoint {
                    url: url.clone(),
                    target,
                    proxy,
                })
            })
            .collect()
    }
}

/// Header names and values, and subprotocols, that can go on the wire.
fn check_headers(headers: &[(String, String)], subprotocols: &[String]) -> Result<(), TransportError> {
    for (name, value) in headers {
        if tungstenite::http::HeaderName::from_bytes(name.as_bytes()).is_err()
            || tungstenite::http::HeaderValue::from_str(value).is_err()
        {
            return Err(TransportError::Header(name.clone()));
        }
    }
    for protocol in subprotocols {
        let token = !protocol.is_empty()
            && protocol
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b));
        if !token {
            return Err(TransportError::Header(std::format!(
                "Sec-WebSocket-Protocol: {protocol}"
            )));
        }
    }
    Ok(())
}

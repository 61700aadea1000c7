//! Building a client: endpoints, policy, transport and queue sizes.

use core::time::Duration;
use std::string::String;
use std::sync::Arc;
use std::vec::Vec;

use tungstenite::Message;

use super::error::BuildError;
use super::outbox::SharedOutbox;
use super::sequence_check::{SequenceCheck, SequenceSpec};
use super::session::Session;
use super::Client;
use crate::backoff::BackoffConfig;
use crate::config::Config;
use crate::failure::CloseCodeTable;
use crate::heartbeat::HeartbeatConfig;
use crate::supervisor::Supervisor;
#[cfg(feature = "tls")]
use crate::transport::TlsConfig;
use crate::transport::{Connector, Limits, TransportConfig};

/// Configures and starts a [`Client`] (or a [`Session`] for the caller's own loop).
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
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    urls: Vec<String>,
    config: Config,
    transport: TransportConfig,
    close_codes: CloseCodeTable,
    queue_capacity: usize,
    inbound_capacity: usize,
    event_capacity: usize,
    close_timeout: Duration,
    seed: Option<u64>,
    subscriptions: Vec<Message>,
    sequence: Option<SequenceSpec>,
}

impl ClientBuilder {
    /// A client for `url` (`ws://` or `wss://`) with the default policy.
    pub fn new(url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            urls: std::vec![url.into()],
            config: Config::default(),
            transport: TransportConfig::default(),
            close_codes: CloseCodeTable::default(),
            queue_capacity: 1_024,
            inbound_capacity: 1_024,
            event_capacity: 256,
            close_timeout: Duration::from_secs(5),
            seed: None,
            subscriptions: Vec::new(),
            sequence: None,
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

    /// The deadline for one attempt (DNS, TCP, TLS and upgrade).
    pub fn connect_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.config.connect_timeout = timeout;
        self
    }

    /// Adds a header to the upgrade request. Headers are never logged.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> ClientBuilder {
        self.transport.headers.push((name.into(), value.into()));
        self
    }

    /// Offers a subprotocol.
    pub fn subprotocol(mut self, protocol: impl Into<String>) -> ClientBuilder {
        self.transport.subprotocols.push(protocol.into());
        self
    }

    /// Size limits (see [`Limits`] for the defaults).
    pub fn limits(mut self, limits: Limits) -> ClientBuilder {
        self.transport.limits = limits;
        self
    }

    /// Trust anchors for `wss://`.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: TlsConfig) -> ClientBuilder {
        self.transport.tls = tls;
        self
    }

    /// How the server's close codes are classified.
    pub fn close_codes(mut self, table: CloseCodeTable) -> ClientBuilder {
        self.close_codes = table;
        self
    }

    /// Outgoing queue capacity (default 1024); `send` hands messages back beyond it.
    pub fn queue_capacity(mut self, capacity: usize) -> ClientBuilder {
        self.queue_capacity = capacity;
        self
    }

    /// Inbound channel capacity (default 1024). When it is full the client
    /// stops reading and TCP pushes back on the server; nothing is dropped.
    pub fn inbound_capacity(mut self, capacity: usize) -> ClientBuilder {
        self.inbound_capacity = capacity;
        self
    }

    /// Event queue capacity (default 256); events beyond it are dropped
    /// and counted, so a caller who ignores events loses nothing else.
    pub fn event_capacity(mut self, capacity: usize) -> ClientBuilder {
        self.event_capacity = capacity;
        self
    }

    /// How long `close` may take to write the queue and finish the close
    /// handshake (default 5 s).
    pub fn close_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.close_timeout = timeout;
        self
    }

    /// Seeds the jitter, for reproducible runs; by default it is seeded from
    /// entropy so that a fleet does not share one schedule.
    pub fn seed(mut self, seed: u64) -> ClientBuilder {
        self.seed = Some(seed);
        self
    }

    /// Adds a subscription, replayed at the start of every link.
    pub fn subscribe(mut self, message: impl Into<Message>) -> ClientBuilder {
        self.subscriptions.push(message.into());
        self
    }

    /// Checks inbound sequence numbers: `extract` finds the number in a
    /// message (`None` for messages without one); skipped numbers become
    /// [`crate::Event::SequenceGap`] events and repeats
    /// [`crate::Event::SequenceDuplicate`] — across reconnects too. A number
    /// more than `window` behind the newest counts as a duplicate. Messages
    /// are delivered either way.
    ///
    /// ```no_run
    /// # use wstether::client::ClientBuilder;
    /// let client = ClientBuilder::new("wss://stream.example.com/trades")
    ///     .sequence(4_096, |message| {
    ///         let text = message.to_text().ok()?;
    ///         let at = text.find("\"trade_id\":")? + 11;
    ///         text[at..].split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
    ///     })
    ///     .connect()?;
    /// # Ok::<(), wstether::client::BuildError>(())
    /// ```
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

    /// Starts the client on its own I/O thread.
    pub fn connect(self) -> Result<Client, BuildError> {
        let (inbound, events) = (self.inbound_capacity, self.event_capacity);
        let session = self.session()?;
        Client::spawn(session, inbound, events)
    }

    /// A session to drive from the caller's own loop, without a thread.
    pub fn session(mut self) -> Result<Session, BuildError> {
        if self.queue_capacity == 0 || self.inbound_capacity == 0 || self.event_capacity == 0 {
            return Err(BuildError::ZeroCapacity);
        }
        self.config.endpoints.count =
            u8::try_from(self.urls.len()).map_err(|_| BuildError::Endpoint("at most 255 endpoints"))?;
        for url in &self.urls {
            if !(url.starts_with("ws://") || url.starts_with("wss://")) {
                return Err(BuildError::Endpoint("URLs must start with ws:// or wss://"));
            }
            #[cfg(not(feature = "tls"))]
            if url.starts_with("wss://") {
                return Err(BuildError::Endpoint("wss:// needs the `tls` feature"));
            }
        }
        let seed = self.seed.unwrap_or_else(|| fastrand::u64(..));
        let supervisor = Supervisor::new(self.config, seed).map_err(BuildError::Config)?;
        let connector = Connector::new(self.transport).map_err(BuildError::Transport)?;
        let sequence = self
            .sequence
            .map(SequenceCheck::new)
            .transpose()
            .map_err(|_| BuildError::ZeroCapacity)?;
        let outbox = SharedOutbox::new(self.queue_capacity, self.subscriptions);
        Session::new(
            supervisor,
            connector,
            self.urls,
            self.close_codes,
            self.close_timeout,
            outbox,
            sequence,
        )
        .map_err(BuildError::Io)
    }
}

//! The link layer: opening a `ws://` or `wss://` link without blocking, and
//! the errors on the way, each mapped to a core [`crate::Failure`].
//!
//! One attempt resolves the host on a helper thread, races the addresses
//! (Happy Eyeballs), goes through an HTTP CONNECT or SOCKS5 proxy when one is
//! configured, does TLS with rustls (checked against the server's name, never
//! the proxy's), writes the HTTP upgrade itself and parses the answer with
//! `httparse` — 1xx interim answers skipped, `Connection` and `Upgrade` read
//! as token lists, every status classified — and hands the socket to
//! tungstenite's frame layer. Redirects are not followed: a 3xx is a
//! permanent failure, and no header is ever sent to a host other than the one
//! configured. URLs and credentials are redacted in every message.

mod base64;
mod close_sniffer;
pub(crate) mod connect;
mod error;
mod eyeballs;
pub(crate) mod frame;
pub(crate) mod inbox;
mod limits;
mod proxy;
pub(crate) mod raw_link;
mod redact;
pub(crate) mod resolve;
pub(crate) mod stream;
#[cfg(feature = "tls")]
mod tls;
mod upgrade;
mod url;

pub use error::TransportError;
pub use limits::Limits;
pub use proxy::{Proxy, ProxyError, ProxyKind};
#[doc(hidden)]
pub use raw_link::RawLink;
pub use redact::redact_url;
#[cfg(feature = "tls")]
pub use tls::TlsConfig;
pub use upgrade::UpgradeError;
pub use url::{Scheme, Target, UrlError};

pub(crate) use proxy::env::from_env as proxy_from_env;

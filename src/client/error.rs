//! Errors and outcomes of the client API. A message that cannot be taken is
//! always handed back inside the error.

use core::error::Error as StdError;
use core::fmt;
use std::string::String;

use tungstenite::Message;

use crate::transport::{ProxyError, TransportError, UrlError};
use crate::{ConfigError, Outcome};

/// `send` could not take the message; here it is back.
#[derive(Debug, PartialEq, Eq)]
pub enum SendError {
    /// The outgoing queue is full (or stayed full until the timeout).
    Full(Message),
    /// The client is closing or has ended.
    Closed(Message),
    /// A ping, pong, close or raw frame: the link sends those itself (close
    /// with [`super::Client::close_with`]).
    NotData(Message),
}

impl SendError {
    /// The message that was not taken.
    pub fn into_message(self) -> Message {
        match self {
            SendError::Full(m) | SendError::Closed(m) | SendError::NotData(m) => m,
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Full(_) => f.write_str("outgoing queue is full"),
            SendError::Closed(_) => f.write_str("client is closed"),
            SendError::NotData(_) => {
                f.write_str("only text and binary messages can be sent; close with close_with(code, reason)")
            }
        }
    }
}

impl StdError for SendError {}

/// The client could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// The supervisor configuration is invalid.
    Config(ConfigError),
    /// An endpoint URL is invalid (bad scheme, port over 65535, empty host,
    /// spaces, …).
    Url(UrlError),
    /// The proxy URL is invalid, or the environment names an invalid one.
    Proxy(ProxyError),
    /// The transport configuration is invalid (header, subprotocol, CA or
    /// certificate file, TLS setup).
    Transport(TransportError),
    /// More than 255 endpoints.
    TooManyEndpoints,
    /// A queue capacity, a byte budget, the sequence or acknowledgement
    /// window, or the stack size is zero.
    ZeroCapacity,
    /// The I/O thread or its poller could not be created.
    Io(std::io::Error),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Config(e) => write!(f, "invalid configuration: {e}"),
            BuildError::Url(e) => e.fmt(f),
            BuildError::Proxy(e) => write!(f, "invalid proxy: {e}"),
            BuildError::Transport(e) => write!(f, "invalid transport configuration: {e}"),
            BuildError::TooManyEndpoints => f.write_str("at most 255 endpoints"),
            BuildError::ZeroCapacity => {
                f.write_str("queue capacities, byte budgets, windows and the stack size must be at least 1")
            }
            BuildError::Io(e) => write!(f, "could not start the client: {e}"),
        }
    }
}

impl StdError for BuildError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            BuildError::Config(e) => Some(e),
            BuildError::Url(e) => Some(e),
            BuildError::Proxy(e) => Some(e),
            BuildError::Transport(e) => Some(e),
            BuildError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// How a client's session ended, with the transport's explanation: kept
/// after the end whatever the event queue dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ending {
    /// Stopped by the caller, gave up, or rejected.
    pub outcome: Outcome,
    /// The last error as the transport saw it (URLs redacted), for a
    /// rejection or a give-up.
    pub detail: Option<String>,
}

impl fmt::Display for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.outcome {
            Outcome::Stopped => f.write_str("stopped by the caller")?,
            Outcome::GaveUp { attempts } => write!(f, "gave up after {attempts} attempts")?,
            Outcome::Rejected { failure } => write!(f, "rejected: {failure}")?,
        }
        match &self.detail {
            Some(detail) => write!(f, "; {detail}"),
            None => Ok(()),
        }
    }
}

/// Nothing more will arrive: the client ended and everything it received
/// has been taken. Carries how it ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished(pub Ending);

impl fmt::Display for Finished {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "client finished: {}", self.0)
    }
}

impl StdError for Finished {}

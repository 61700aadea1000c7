//! Errors of the client API. A message that cannot be taken is always handed
//! back inside the error.

use core::error::Error as StdError;
use core::fmt;

use tungstenite::Message;

use crate::backoff::ConfigError;
use crate::transport::TransportError;

/// `send` could not take the message; here it is back.
#[derive(Debug, PartialEq, Eq)]
pub enum SendError {
    /// The outgoing queue is full (or stayed full until the timeout).
    Full(Message),
    /// The client is closing or has finished.
    Closed(Message),
}

impl SendError {
    /// The message that was not taken.
    pub fn into_message(self) -> Message {
        match self {
            SendError::Full(m) | SendError::Closed(m) => m,
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Full(_) => f.write_str("outgoing queue is full"),
            SendError::Closed(_) => f.write_str("client is closed"),
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
    /// The transport configuration is invalid (header, CA file, TLS setup).
    Transport(TransportError),
    /// No endpoint URL, more than 255, or one that is not `ws://`/`wss://`.
    Endpoint(&'static str),
    /// A queue or channel capacity, or the sequence window, is zero.
    ZeroCapacity,
    /// The I/O thread or its poller could not be created.
    Io(std::io::Error),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Config(e) => write!(f, "invalid configuration: {e}"),
            BuildError::Transport(e) => write!(f, "invalid transport configuration: {e}"),
            BuildError::Endpoint(why) => write!(f, "invalid endpoint: {why}"),
            BuildError::ZeroCapacity => {
                f.write_str("queue and channel capacities and the sequence window must be at least 1")
            }
            BuildError::Io(e) => write!(f, "could not start the client: {e}"),
        }
    }
}

impl StdError for BuildError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            BuildError::Config(e) => Some(e),
            BuildError::Transport(e) => Some(e),
            BuildError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Nothing more will arrive: the client finished and everything it received
/// has been taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finished;

impl fmt::Display for Finished {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("client finished")
    }
}

impl StdError for Finished {}

//! Errors of the transport, each mapped to a core [`Failure`].

use core::error::Error as StdError;
use core::fmt;
use core::time::Duration;
use std::io;
use std::path::PathBuf;
use std::string::{String, ToString};

use crate::failure::{Cause, CloseCodeTable, Failure};
use crate::retry_after::RetryAfter;

/// Why opening or using a link failed. Keeps its source; its `Display` shows
/// only the redacted URL.
#[derive(Debug)]
#[non_exhaustive]
pub enum TransportError {
    /// The URL cannot be used (bad syntax, not `ws://` or `wss://`, or
    /// `wss://` without the `tls` feature).
    Url {
        /// The redacted URL.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A custom header name or value is invalid.
    Header(String),
    /// The host name did not resolve (or resolving took past the deadline).
    Dns {
        /// Host name.
        host: String,
        /// The resolver's error, if it gave one.
        source: Option<io::Error>,
    },
    /// TCP, TLS or WebSocket I/O failed.
    Io(io::Error),
    /// The deadline for opening passed.
    Timeout,
    /// The open was cancelled by `close`.
    Cancelled,
    /// The server's certificate was not trusted.
    #[cfg(feature = "tls")]
    Certificate(rustls::Error),
    /// Another TLS error.
    #[cfg(feature = "tls")]
    Tls(rustls::Error),
    /// The TLS configuration could not be built.
    #[cfg(feature = "tls")]
    TlsSetup(rustls::Error),
    /// The CA file could not be read or held no certificate.
    CaFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The upgrade was answered with a status other than 101.
    Http {
        /// The status code.
        status: u16,
        /// The parsed `Retry-After`, as a delay from when it was received.
        retry_after: Option<Duration>,
    },
    /// The WebSocket layer failed (protocol violation, oversized message, …).
    WebSocket(tungstenite::Error),
    /// The server closed the link with a close frame.
    Closed {
        /// The close code, if the frame had one.
        code: Option<u16>,
        /// The reason text.
        reason: String,
    },
}

impl TransportError {
    /// The core's view of this error.
    pub fn failure(&self, close_codes: &CloseCodeTable) -> Failure {
        match self {
            TransportError::Url { .. } | TransportError::Header(_) | TransportError::CaFile { .. } => {
                Failure::permanent(Cause::Config)
            }
            #[cfg(feature = "tls")]
            TransportError::TlsSetup(_) => Failure::permanent(Cause::Config),
            TransportError::Dns { .. } => Failure::transient(Cause::Dns),
            TransportError::Timeout | TransportError::Cancelled => Failure::transient(Cause::Timeout),
            TransportError::Io(e) => io_failure(e),
            #[cfg(feature = "tls")]
            TransportError::Certificate(_) => Failure::permanent(Cause::Certificate),
            #[cfg(feature = "tls")]
            TransportError::Tls(_) => Failure::permanent(Cause::Tls),
            TransportError::Http { status, retry_after } => Failure::http_status(*status, *retry_after),
            TransportError::WebSocket(e) => websocket_failure(e),
            TransportError::Closed { code: Some(code), .. } => Failure::close(*code, close_codes),
            TransportError::Closed { code: None, .. } => Failure::transient(Cause::CloseWithoutCode),
        }
    }

    /// The server closed the link with `frame` (`None`: a close frame
    /// without a code, or none at all).
    pub(crate) fn closed_by(frame: Option<&tungstenite::protocol::CloseFrame>) -> TransportError {
        TransportError::Closed {
            code: frame.map(|f| u16::from(f.code)),
            reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
        }
    }

    /// Classifies an I/O error, unwrapping a rustls error inside it.
    pub(crate) fn from_io(error: io::Error) -> TransportError {
        #[cfg(feature = "tls")]
        if let Some(tls) = error.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
            return TransportError::from_rustls(tls.clone());
        }
        match error.kind() {
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => TransportError::Timeout,
            io::ErrorKind::Interrupted => TransportError::Cancelled,
            _ => TransportError::Io(error),
        }
    }

    #[cfg(feature = "tls")]
    pub(crate) fn from_rustls(error: rustls::Error) -> TransportError {
        match error {
            rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
                TransportError::Certificate(error)
            }
            other => TransportError::Tls(other),
        }
    }

    /// Maps a tungstenite error, pulling out HTTP statuses (with a
    /// Retry-After dated against `now_unix_secs`) and I/O errors.
    pub fn from_websocket(error: tungstenite::Error, now_unix_secs: u64) -> TransportError {
        match error {
            tungstenite::Error::Io(e) => TransportError::from_io(e),
            tungstenite::Error::Http(response) => {
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(RetryAfter::parse)
                    .map(|r| r.delay(now_unix_secs));
                TransportError::Http {
                    status: response.status().as_u16(),
                    retry_after,
                }
            }
            #[cfg(feature = "tls")]
            tungstenite::Error::Tls(_) => TransportError::WebSocket(error),
            other => TransportError::WebSocket(other),
        }
    }
}

fn io_failure(e: &io::Error) -> Failure {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => Failure::transient(Cause::Refused),
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => Failure::transient(Cause::Timeout),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted => {
            Failure::transient(Cause::Abnormal)
        }
        _ => Failure::transient(Cause::Io),
    }
}

fn websocket_failure(e: &tungstenite::Error) -> Failure {
    use tungstenite::error::{Error, ProtocolError};
    match e {
        Error::Io(io) => io_failure(io),
        Error::Capacity(_) => Failure::transient(Cause::TooLarge),
        Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => Failure::transient(Cause::Abnormal),
        Error::Url(_) => Failure::permanent(Cause::Config),
        Error::ConnectionClosed | Error::AlreadyClosed => Failure::transient(Cause::Abnormal),
        _ => Failure::transient(Cause::Protocol),
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Url { url, reason } => write!(f, "invalid URL {url}: {reason}"),
            TransportError::Header(name) => write!(f, "invalid header {name:?}"),
            TransportError::Dns { host, .. } => write!(f, "could not resolve {host}"),
            TransportError::Io(e) => write!(f, "I/O error: {e}"),
            TransportError::Timeout => f.write_str("open deadline passed"),
            TransportError::Cancelled => f.write_str("open cancelled"),
            #[cfg(feature = "tls")]
            TransportError::Certificate(e) => write!(f, "server certificate not trusted: {e}"),
            #[cfg(feature = "tls")]
            TransportError::Tls(e) => write!(f, "TLS error: {e}"),
            #[cfg(feature = "tls")]
            TransportError::TlsSetup(e) => write!(f, "TLS configuration error: {e}"),
            TransportError::CaFile { path, reason } => write!(f, "CA file {}: {reason}", path.display()),
            TransportError::Http {
                status,
                retry_after: Some(d),
            } => {
                write!(f, "upgrade answered with HTTP {status} (retry after {}s)", d.as_secs())
            }
            TransportError::Http {
                status,
                retry_after: None,
            } => write!(f, "upgrade answered with HTTP {status}"),
            TransportError::WebSocket(e) => write!(f, "WebSocket error: {e}"),
            TransportError::Closed {
                code: Some(code),
                reason,
            } if reason.is_empty() => {
                write!(f, "closed by server with code {code}")
            }
            TransportError::Closed {
                code: Some(code),
                reason,
            } => {
                write!(f, "closed by server with code {code}: {reason}")
            }
            TransportError::Closed { code: None, .. } => f.write_str("closed by server without a code"),
        }
    }
}

impl StdError for TransportError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            TransportError::Dns { source: Some(e), .. } | TransportError::Io(e) => Some(e),
            #[cfg(feature = "tls")]
            TransportError::Certificate(e) | TransportError::Tls(e) | TransportError::TlsSetup(e) => Some(e),
            TransportError::WebSocket(e) => Some(e),
            _ => None,
        }
    }
}

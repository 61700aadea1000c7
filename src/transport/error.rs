//! Errors of the transport, each mapped to a core [`Failure`].

use core::error::Error as StdError;
use core::fmt;
use std::io;
use std::path::PathBuf;
use std::string::String;
use std::time::{SystemTime, UNIX_EPOCH};

use super::proxy::ProxyError;
use super::upgrade::UpgradeError;
use super::url::UrlError;
use crate::{Cause, CloseCodeTable, Failure};

/// Why opening or using a link failed. Keeps its source; its `Display` shows
/// only redacted URLs and never a header value.
#[derive(Debug)]
#[non_exhaustive]
pub enum TransportError {
    /// The URL cannot be used.
    Url(UrlError),
    /// A header name or value is invalid (from the builder or the
    /// before-connect hook).
    Header(String),
    /// The host name did not resolve.
    Dns {
        /// Host name.
        host: String,
        /// The resolver's error, if it gave one.
        source: Option<io::Error>,
    },
    /// TCP or TLS I/O failed.
    Io(io::Error),
    /// The proxy refused or failed the tunnel.
    Proxy {
        /// The proxy, without credentials.
        proxy: String,
        /// What it said.
        error: ProxyError,
    },
    /// The server's certificate was not trusted, or the server refused ours
    /// (a TLS alert such as `certificate_required` or `unknown_ca` during the
    /// handshake).
    #[cfg(feature = "tls")]
    Certificate(rustls::Error),
    /// Another TLS error; `established` once the link was open (then it ends
    /// one link, like a reset, and is worth a retry).
    #[cfg(feature = "tls")]
    Tls {
        /// The error.
        error: rustls::Error,
        /// Whether the link had opened.
        established: bool,
    },
    /// The TLS configuration could not be built.
    #[cfg(feature = "tls")]
    TlsSetup(rustls::Error),
    /// A CA, certificate or key file could not be read or held nothing usable.
    TlsFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The HTTP upgrade failed: a status other than 101, or a 101 that does
    /// not complete the handshake.
    Upgrade(UpgradeError),
    /// The WebSocket layer failed (protocol violation, oversized message, …).
    WebSocket(tungstenite::Error),
    /// The server closed the link with a close frame.
    Closed {
        /// The close code the server sent, if the frame had one.
        code: Option<u16>,
        /// The reason text.
        reason: String,
    },
    /// The application's before-connect hook failed the attempt
    /// (`permanent`: stopped the session), or set an invalid header.
    Hook {
        /// Why, as the hook said.
        reason: String,
        /// Whether the session stops.
        permanent: bool,
    },
}

impl TransportError {
    /// The core's view of this error.
    pub fn failure(&self, close_codes: &CloseCodeTable) -> Failure {
        match self {
            TransportError::Url(_) | TransportError::Header(_) | TransportError::TlsFile { .. } => {
                Failure::permanent(Cause::Config)
            }
            #[cfg(feature = "tls")]
            TransportError::TlsSetup(_) => Failure::permanent(Cause::Config),
            TransportError::Dns { .. } => Failure::transient(Cause::Dns),
            TransportError::Io(e) => io_failure(e),
            TransportError::Proxy { error, .. } if error.is_permanent() => Failure::permanent(Cause::Proxy),
            TransportError::Proxy { .. } => Failure::transient(Cause::Proxy),
            #[cfg(feature = "tls")]
            TransportError::Certificate(_) => Failure::permanent(Cause::Certificate),
            #[cfg(feature = "tls")]
            TransportError::Tls { error, established } => tls_failure(error, *established),
            TransportError::Upgrade(e) => e.failure(unix_now()),
            TransportError::WebSocket(e) => websocket_failure(e),
            TransportError::Closed { code: Some(code), .. } => Failure::close(*code, close_codes),
            TransportError::Closed { code: None, .. } => Failure::transient(Cause::CloseWithoutCode),
            TransportError::Hook { permanent: true, .. } => Failure::permanent(Cause::Application),
            TransportError::Hook { permanent: false, .. } => Failure::transient(Cause::Application),
        }
    }

    /// Classifies an I/O error, unwrapping a rustls error inside it.
    pub(crate) fn from_io(error: io::Error, established: bool) -> TransportError {
        #[cfg(feature = "tls")]
        if let Some(tls) = error.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
            return TransportError::from_rustls(tls.clone(), established);
        }
        let _ = established;
        TransportError::Io(error)
    }

    /// Certificate trouble during the handshake is its own error: the
    /// server's certificate not trusted, or an alert saying ours was not.
    #[cfg(feature = "tls")]
    pub(crate) fn from_rustls(error: rustls::Error, established: bool) -> TransportError {
        use rustls::AlertDescription as Alert;
        let certificate = match &error {
            rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => true,
            rustls::Error::AlertReceived(alert) => matches!(
                alert,
                Alert::CertificateRequired
                    | Alert::BadCertificate
                    | Alert::UnsupportedCertificate
                    | Alert::CertificateRevoked
                    | Alert::CertificateExpired
                    | Alert::CertificateUnknown
                    | Alert::UnknownCA
                    | Alert::AccessDenied
            ),
            _ => false,
        };
        if certificate && !established {
            TransportError::Certificate(error)
        } else {
            TransportError::Tls { error, established }
        }
    }

    /// Maps a tungstenite error from an open link (I/O errors included).
    pub(crate) fn from_websocket(error: tungstenite::Error) -> TransportError {
        match error {
            tungstenite::Error::Io(e) => TransportError::from_io(e, true),
            other => TransportError::WebSocket(other),
        }
    }
}

/// Seconds since the Unix epoch, for HTTP-date Retry-After values.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
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

/// A handshake that cannot agree (versions, ciphers) fails the same way every
/// time; a broken record or a dropped connection may not.
#[cfg(feature = "tls")]
fn tls_failure(error: &rustls::Error, established: bool) -> Failure {
    use rustls::AlertDescription as Alert;
    let permanent = !established
        && match error {
            rustls::Error::PeerIncompatible(_) => true,
            rustls::Error::AlertReceived(alert) => matches!(
                alert,
                Alert::HandshakeFailure | Alert::ProtocolVersion | Alert::InsufficientSecurity
            ),
            _ => false,
        };
    if permanent {
        Failure::permanent(Cause::Tls)
    } else {
        Failure::transient(Cause::Tls)
    }
}

fn websocket_failure(e: &tungstenite::Error) -> Failure {
    use tungstenite::error::{Error, ProtocolError};
    match e {
        Error::Io(io) => io_failure(io),
        Error::Capacity(_) => Failure::transient(Cause::TooLarge),
        Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => Failure::transient(Cause::Abnormal),
        Error::ConnectionClosed | Error::AlreadyClosed => Failure::transient(Cause::Abnormal),
        _ => Failure::transient(Cause::Protocol),
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportError::Url(e) => e.fmt(f),
            TransportError::Header(name) => write!(f, "invalid header {name:?}"),
            TransportError::Dns { host, source: Some(e) } => write!(f, "could not resolve {host}: {e}"),
            TransportError::Dns { host, source: None } => write!(f, "could not resolve {host}: no address"),
            TransportError::Io(e) => write!(f, "I/O error: {e}"),
            TransportError::Proxy { proxy, error } => write!(f, "{error} (proxy {proxy})"),
            #[cfg(feature = "tls")]
            TransportError::Certificate(rustls::Error::AlertReceived(alert)) => {
                write!(f, "the server refused our certificate: TLS alert {alert:?}")
            }
            #[cfg(feature = "tls")]
            TransportError::Certificate(e) => write!(f, "server certificate not trusted: {e}"),
            #[cfg(feature = "tls")]
            TransportError::Tls { error, .. } => write!(f, "TLS error: {error}"),
            #[cfg(feature = "tls")]
            TransportError::TlsSetup(e) => write!(f, "TLS configuration error: {e}"),
            TransportError::TlsFile { path, reason } => write!(f, "TLS file {}: {reason}", path.display()),
            TransportError::Upgrade(e) => e.fmt(f),
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
                write!(f, "closed by server with code {code}: {}", reason.escape_debug())
            }
            TransportError::Closed { code: None, .. } => f.write_str("closed by server without a code"),
            TransportError::Hook {
                reason,
                permanent: true,
            } => {
                write!(f, "stopped by the before-connect hook: {reason}")
            }
            TransportError::Hook {
                reason,
                permanent: false,
            } => {
                write!(f, "attempt failed by the before-connect hook: {reason}")
            }
        }
    }
}

impl StdError for TransportError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            TransportError::Url(e) => Some(e),
            TransportError::Dns { source: Some(e), .. } | TransportError::Io(e) => Some(e),
            TransportError::Proxy { error, .. } => Some(error),
            #[cfg(feature = "tls")]
            TransportError::Certificate(e) | TransportError::Tls { error: e, .. } | TransportError::TlsSetup(e) => {
                Some(e)
            }
            TransportError::Upgrade(e) => Some(e),
            TransportError::WebSocket(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for TransportError {
    fn from(error: io::Error) -> TransportError {
        TransportError::from_io(error, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "tls")]
    #[test]
    fn tls_errors_are_permanent_only_for_certificates_and_incompatibility_during_the_handshake() {
        let table = CloseCodeTable::default();
        let alert = rustls::Error::AlertReceived(rustls::AlertDescription::CertificateRequired);
        let failure = TransportError::from_rustls(alert.clone(), false).failure(&table);
        assert_eq!(failure, Failure::permanent(Cause::Certificate));
        // The same alert on an open link ends one link.
        assert!(!TransportError::from_rustls(alert, true).failure(&table).is_permanent());
        let decrypt = rustls::Error::DecryptError;
        assert!(!TransportError::from_rustls(decrypt.clone(), false)
            .failure(&table)
            .is_permanent());
        assert!(!TransportError::from_rustls(decrypt, true)
            .failure(&table)
            .is_permanent());
    }

    #[test]
    fn close_codes_that_must_not_be_sent_reconnect() {
        let table = CloseCodeTable::default();
        for code in [999, 1005, 1006, 1015, 2999, 5000] {
            let error = TransportError::Closed {
                code: Some(code),
                reason: String::new(),
            };
            assert!(!error.failure(&table).is_permanent(), "{code}");
            assert_eq!(
                std::string::ToString::to_string(&error),
                std::format!("closed by server with code {code}")
            );
        }
    }
}

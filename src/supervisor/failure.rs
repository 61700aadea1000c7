//! Why an attempt or a link ended, and what that means for reconnecting.
//!
//! Every error the transport sees is mapped to a [`Failure`]: a [`Cause`] (what
//! happened, for people and logs) and a [`FailureClass`] (what the supervisor
//! does about it: retry, retry later, or stop).

use core::fmt;
use core::time::Duration;

/// What the supervisor does about a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureClass {
    /// Try again after the backoff delay: I/O errors, timeouts, 5xx, close 1006.
    Transient,
    /// The server asked us to come back later (HTTP 429/503, close 1013):
    /// wait at least its Retry-After (or the configured floor), spread by
    /// jitter.
    RetryLater {
        /// The server's Retry-After in whole seconds, if it sent one;
        /// saturates at 65 535 s (18 h), beyond any wait worth honouring.
        retry_after_secs: Option<u16>,
    },
    /// Retrying cannot help (401, 403, 404, a bad certificate, close 1008):
    /// the supervisor stops in `Failed`.
    Permanent,
}

/// What happened, as far as the transport could tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Cause {
    /// The host name did not resolve.
    Dns,
    /// The TCP connection was refused.
    Refused,
    /// Any other I/O error: reset, broken pipe, unreachable network.
    Io,
    /// A deadline passed: opening, a read, a write.
    Timeout,
    /// The server's certificate was not trusted (unknown CA, wrong name,
    /// expired, …).
    Certificate,
    /// Another TLS error.
    Tls,
    /// The upgrade was answered with this HTTP status instead of 101.
    HttpStatus(u16),
    /// The server closed the link with this close code.
    Close(u16),
    /// The server closed the link with a close frame that carried no code (1005).
    CloseWithoutCode,
    /// The link ended without a close frame (1006).
    Abnormal,
    /// The peer broke the HTTP upgrade or the WebSocket protocol (a bad
    /// frame, invalid UTF-8 in a text message, a malformed response).
    Protocol,
    /// A message exceeded the configured size limit.
    TooLarge,
    /// The URL or configuration cannot work (bad scheme, bad header).
    Config,
    /// No pong arrived within the pong timeout.
    HeartbeatTimeout,
    /// No data message arrived within the idle timeout.
    IdleTimeout,
    /// The proxy failed or refused the tunnel (its answer, or an
    /// authentication failure).
    Proxy,
    /// The server did not choose any of the subprotocols offered.
    Subprotocol,
    /// The application stopped the attempt (from its before-connect hook).
    Application,
}

/// Why an attempt or a link ended: a cause and its class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    /// What happened.
    pub cause: Cause,
    /// What to do about it.
    pub class: FailureClass,
}

impl Failure {
    /// A failure with an explicit class.
    pub const fn new(cause: Cause, class: FailureClass) -> Failure {
        Failure { cause, class }
    }

    /// A transient failure: retry after the backoff delay.
    pub const fn transient(cause: Cause) -> Failure {
        Failure::new(cause, FailureClass::Transient)
    }

    /// A permanent failure: stop.
    pub const fn permanent(cause: Cause) -> Failure {
        Failure::new(cause, FailureClass::Permanent)
    }

    /// The upgrade was answered with `status` instead of 101.
    ///
    /// 429 and 503 mean "retry later" (with `retry_after`); other 5xx and 408
    /// are transient; 3xx is permanent (redirects are not followed: the URL is
    /// wrong); every other status (401, 403, 404, 400, a 200 from a plain web
    /// server, …) is permanent.
    pub fn http_status(status: u16, retry_after: Option<Duration>) -> Failure {
        let class = match status {
            429 | 503 => FailureClass::RetryLater {
                retry_after_secs: retry_after.map(|d| u16::try_from(d.as_secs()).unwrap_or(u16::MAX)),
            },
            408 | 500..=599 => FailureClass::Transient,
            _ => FailureClass::Permanent,
        };
        Failure::new(Cause::HttpStatus(status), class)
    }

    /// The server sent a close frame with `code`, classified by `table`.
    pub fn close(code: u16, table: &CloseCodeTable) -> Failure {
        Failure::new(Cause::Close(code), table.classify(code))
    }

    /// The server's Retry-After, if this failure carries one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self.class {
            FailureClass::RetryLater { retry_after_secs } => retry_after_secs.map(|s| Duration::from_secs(s.into())),
            _ => None,
        }
    }

    /// Whether the supervisor will stop on this failure.
    pub const fn is_permanent(&self) -> bool {
        matches!(self.class, FailureClass::Permanent)
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Dns => f.write_str("host name did not resolve"),
            Cause::Refused => f.write_str("connection refused"),
            Cause::Io => f.write_str("I/O error"),
            Cause::Timeout => f.write_str("timed out"),
            Cause::Certificate => f.write_str("server certificate not trusted"),
            Cause::Tls => f.write_str("TLS error"),
            Cause::HttpStatus(status) => write!(f, "upgrade answered with HTTP {status}"),
            Cause::Close(code) => write!(f, "closed by server with code {code}"),
            Cause::CloseWithoutCode => f.write_str("closed by server without a code"),
            Cause::Abnormal => f.write_str("link dropped without a close frame"),
            Cause::Protocol => f.write_str("WebSocket protocol error"),
            Cause::TooLarge => f.write_str("message over the size limit"),
            Cause::Config => f.write_str("invalid URL or configuration"),
            Cause::HeartbeatTimeout => f.write_str("no pong within the pong timeout"),
            Cause::IdleTimeout => f.write_str("no data within the idle timeout"),
            Cause::Proxy => f.write_str("proxy failed"),
            Cause::Subprotocol => f.write_str("server chose none of the offered subprotocols"),
            Cause::Application => f.write_str("stopped by the application"),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.class {
            FailureClass::Transient => write!(f, "{} (transient)", self.cause),
            FailureClass::RetryLater {
                retry_after_secs: Some(s),
            } => {
                write!(f, "{} (retry later, after {s}s)", self.cause)
            }
            FailureClass::RetryLater { retry_after_secs: None } => write!(f, "{} (retry later)", self.cause),
            FailureClass::Permanent => write!(f, "{} (permanent)", self.cause),
        }
    }
}

/// What to do when the server closes with a given code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseAction {
    /// Reconnect after the backoff delay.
    Reconnect,
    /// Reconnect, but no sooner than the retry-later floor (close 1013,
    /// "try again later").
    ReconnectLater,
    /// Stop: the server will not take us back as we are.
    Stop,
}

impl CloseAction {
    const fn class(self) -> FailureClass {
        match self {
            CloseAction::Reconnect => FailureClass::Transient,
            CloseAction::ReconnectLater => FailureClass::RetryLater { retry_after_secs: None },
            CloseAction::Stop => FailureClass::Permanent,
        }
    }
}

/// How close codes from the server are classified.
///
/// Defaults (RFC 6455 §7.4 and the IANA registry):
///
/// | code | meaning | action |
/// |---|---|---|
/// | 1000 | normal closure | [`normal`](Self::normal), default `Reconnect`: a server that ends a feed normally usually restarts or rebalances, and a keeper keeps |
/// | 1001, 1006, 1011, 1012, 1014 | going away, abnormal, server error, restart, bad gateway | `Reconnect` |
/// | 1013 | try again later | `ReconnectLater` |
/// | 1002, 1003, 1007, 1008, 1009, 1010 | protocol error, unsupported data, bad payload, policy, too big, extension | `Stop` |
/// | other 1xxx | reserved or unknown | `Reconnect` |
/// | 3000–3999, 4000–4999 | registered and private codes | [`registered`](Self::registered) and [`private`](Self::private), default `Reconnect`, plus up to 8 [`overrides`](Self::with_override) |
///
/// Codes a server must not send (below 1000, 1004–1006, 1015 and 5000+) are
/// treated as an abnormal close: `Reconnect`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CloseCodeTable {
    /// Action for 1000 (normal closure) sent by the server.
    pub normal: CloseAction,
    /// Default action for 3000–3999.
    pub registered: CloseAction,
    /// Default action for 4000–4999.
    pub private: CloseAction,
    overrides: [Option<(u16, CloseAction)>; CloseCodeTable::MAX_OVERRIDES],
}

impl Default for CloseCodeTable {
    fn default() -> Self {
        CloseCodeTable {
            normal: CloseAction::Reconnect,
            registered: CloseAction::Reconnect,
            private: CloseAction::Reconnect,
            overrides: [None; CloseCodeTable::MAX_OVERRIDES],
        }
    }
}

impl CloseCodeTable {
    /// How many single-code overrides fit.
    pub const MAX_OVERRIDES: usize = 8;

    /// The table with `code` mapped to `action`. Returns `Err(self)` unchanged
    /// when all override slots are taken.
    pub fn with_override(mut self, code: u16, action: CloseAction) -> Result<CloseCodeTable, CloseCodeTable> {
        if let Some(slot) = self
            .overrides
            .iter_mut()
            .find(|slot| matches!(slot, Some((c, _)) if *c == code))
        {
            *slot = Some((code, action));
            return Ok(self);
        }
        match self.overrides.iter_mut().find(|slot| slot.is_none()) {
            Some(slot) => {
                *slot = Some((code, action));
                Ok(self)
            }
            None => Err(self),
        }
    }

    /// The action for `code`.
    pub fn action(&self, code: u16) -> CloseAction {
        if let Some((_, action)) = self.overrides.iter().flatten().find(|(c, _)| *c == code) {
            return *action;
        }
        match code {
            1000 => self.normal,
            1013 => CloseAction::ReconnectLater,
            1002 | 1003 | 1007 | 1008 | 1009 | 1010 => CloseAction::Stop,
            3000..=3999 => self.registered,
            4000..=4999 => self.private,
            _ => CloseAction::Reconnect,
        }
    }

    /// The failure class for `code`.
    pub fn classify(&self, code: u16) -> FailureClass {
        self.action(code).class()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_statuses_classify_as_documented() {
        assert!(Failure::http_status(401, None).is_permanent());
        assert!(Failure::http_status(403, None).is_permanent());
        assert!(Failure::http_status(404, None).is_permanent());
        assert!(Failure::http_status(302, None).is_permanent());
        assert_eq!(Failure::http_status(502, None).class, FailureClass::Transient);
        let limited = Failure::http_status(429, Some(Duration::from_secs(30)));
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(30)));
        let huge = Failure::http_status(503, Some(Duration::MAX));
        assert_eq!(
            huge.class,
            FailureClass::RetryLater {
                retry_after_secs: Some(u16::MAX)
            }
        );
    }

    #[test]
    fn close_codes_follow_the_default_table() {
        let table = CloseCodeTable::default();
        for code in [1000, 1001, 1006, 1011, 1012, 1014, 3000, 4000, 4999, 0, 5000, u16::MAX] {
            assert_eq!(table.classify(code), FailureClass::Transient, "{code}");
        }
        for code in [1002, 1003, 1007, 1008, 1009, 1010] {
            assert_eq!(table.classify(code), FailureClass::Permanent, "{code}");
        }
        assert_eq!(
            table.classify(1013),
            FailureClass::RetryLater { retry_after_secs: None }
        );
    }

    #[test]
    fn overrides_win_and_are_bounded() {
        let mut table = CloseCodeTable::default()
            .with_override(4001, CloseAction::Stop)
            .unwrap();
        assert_eq!(table.action(4001), CloseAction::Stop);
        table = table.with_override(4001, CloseAction::ReconnectLater).unwrap();
        assert_eq!(table.action(4001), CloseAction::ReconnectLater);
        for code in 0..7 {
            table = table.with_override(4100 + code, CloseAction::Stop).unwrap();
        }
        assert!(table.with_override(4200, CloseAction::Stop).is_err());
    }
}

//! Everything a [`crate::Supervisor`] can be told, validated up front, and
//! the compact form the supervisor keeps.

use core::fmt;
use core::time::Duration;

use super::backoff::{BackoffConfig, BackoffPolicy};
use super::breaker::LimitPolicy;
use super::endpoints::EndpointConfig;
use super::heartbeat::HeartbeatConfig;
use super::rate_limit::ConnectRateLimit;
use crate::time::millis_u32;

/// The supervisor's configuration. Start from [`Config::default`] and change
/// what you need; [`crate::Supervisor::new`] validates it.
///
/// Every duration must be below 49.7 days: the supervisor keeps them as `u32`
/// milliseconds, which is what lets it fit in 256 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The reconnect delay schedule.
    pub backoff: BackoffConfig,
    /// Pings, pong and idle deadlines.
    pub heartbeat: HeartbeatConfig,
    /// What happens when attempts run out.
    pub on_limit: LimitPolicy,
    /// A hard limit on our own connection attempts per window, on top of the
    /// backoff; `None` (the default) for none.
    pub connect_rate_limit: Option<ConnectRateLimit>,
    /// Endpoint count and rotation.
    pub endpoints: EndpointConfig,
    /// Deadline for one attempt: DNS, TCP, proxy, TLS and the upgrade together.
    pub connect_timeout: Duration,
}

impl Default for Config {
    /// The defaults of each part; a 10 s connect timeout, generous for a TLS
    /// handshake across an ocean and short enough that a silent server costs
    /// little.
    fn default() -> Self {
        Config {
            backoff: BackoffConfig::default(),
            heartbeat: HeartbeatConfig::default(),
            on_limit: LimitPolicy::default(),
            connect_rate_limit: None,
            endpoints: EndpointConfig::default(),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl Config {
    /// Checks that the configuration can work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        Policy::new(self).map(|_| ())
    }
}

/// A configuration value that cannot work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// `multiplier_permille` below 1000 would shrink delays.
    MultiplierBelowOne,
    /// `cap` is below `initial`.
    CapBelowInitial,
    /// A jitter proportion is out of range.
    JitterOutOfRange,
    /// `max_attempts` is `Some(0)`: not even one attempt is allowed.
    ZeroAttempts,
    /// `max_elapsed` is `Some(0)`: the budget is spent before it starts.
    ZeroBudget,
    /// A heartbeat interval or timeout is zero.
    ZeroHeartbeat,
    /// The connect rate limit allows zero attempts, or its window is zero.
    ZeroRateLimit,
    /// Zero endpoints, or rotation after zero failures.
    ZeroEndpoints,
    /// The connect timeout is zero.
    ZeroConnectTimeout,
    /// A duration is 49.7 days or longer (the core keeps `u32` milliseconds).
    DurationTooLong,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigError::MultiplierBelowOne => "backoff multiplier must be at least 1000 permille (x1.0)",
            ConfigError::CapBelowInitial => "backoff cap must not be below the initial delay",
            ConfigError::JitterOutOfRange => {
                "jitter proportion out of range (symmetric <= 1000, proportional <= 10000 permille)"
            }
            ConfigError::ZeroAttempts => "max_attempts must be at least 1 (use None for unlimited)",
            ConfigError::ZeroBudget => "max_elapsed must be non-zero (use None for no budget)",
            ConfigError::ZeroHeartbeat => "ping interval and pong timeout must be non-zero (use None to disable)",
            ConfigError::ZeroRateLimit => "connect rate limit needs at least one attempt per non-zero window",
            ConfigError::ZeroEndpoints => "need 1 to 255 endpoints and rotation after at least one failure",
            ConfigError::ZeroConnectTimeout => "connect timeout must be non-zero",
            ConfigError::DurationTooLong => "durations must be shorter than 49.7 days (u32 milliseconds)",
        })
    }
}

impl core::error::Error for ConfigError {}

/// The cool-down that means "no breaker: give up". Validation keeps every
/// duration below it.
pub(crate) const BREAKER_OFF: u32 = u32::MAX;

/// [`Config`] as the supervisor keeps it: `u32` milliseconds, zero for "none"
/// where zero is not a valid value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Policy {
    pub(crate) backoff: BackoffPolicy,
    /// Zero: no pings.
    pub(crate) ping_interval_ms: u32,
    pub(crate) pong_timeout_ms: u32,
    /// Zero: no idle timeout.
    pub(crate) idle_timeout_ms: u32,
    /// [`BREAKER_OFF`]: give up at the limit; otherwise open the breaker for
    /// this long.
    pub(crate) breaker_cool_down_ms: u32,
    /// Zero attempts: no limit.
    pub(crate) rate_attempts: u32,
    pub(crate) rate_window_ms: u32,
    pub(crate) endpoint_count: u8,
    pub(crate) rotate_after: u32,
    pub(crate) connect_timeout_ms: u32,
}

impl Policy {
    pub(crate) fn new(config: &Config) -> Result<Policy, ConfigError> {
        let ms = |d: Duration| millis_u32(d).ok_or(ConfigError::DurationTooLong);
        let nonzero = |d: Duration| match ms(d)? {
            0 => Err(ConfigError::ZeroHeartbeat),
            v => Ok(v),
        };
        let hb = &config.heartbeat;
        let (rate_attempts, rate_window_ms) = match config.connect_rate_limit {
            Some(limit) if limit.attempts == 0 || ms(limit.window)? == 0 => return Err(ConfigError::ZeroRateLimit),
            Some(limit) => (limit.attempts, ms(limit.window)?),
            None => (0, 0),
        };
        if config.endpoints.count == 0 || config.endpoints.rotate_after == 0 {
            return Err(ConfigError::ZeroEndpoints);
        }
        let connect_timeout_ms = ms(config.connect_timeout)?;
        if connect_timeout_ms == 0 {
            return Err(ConfigError::ZeroConnectTimeout);
        }
        Ok(Policy {
            backoff: BackoffPolicy::new(&config.backoff)?,
            ping_interval_ms: hb.ping_interval.map(nonzero).transpose()?.unwrap_or(0),
            pong_timeout_ms: nonzero(hb.pong_timeout)?,
            idle_timeout_ms: hb.idle_timeout.map(nonzero).transpose()?.unwrap_or(0),
            breaker_cool_down_ms: match config.on_limit {
                LimitPolicy::GiveUp => BREAKER_OFF,
                LimitPolicy::Breaker { cool_down } => ms(cool_down)?,
            },
            rate_attempts,
            rate_window_ms,
            endpoint_count: config.endpoints.count,
            rotate_after: config.endpoints.rotate_after,
            connect_timeout_ms,
        })
    }

    pub(crate) fn to_config(self) -> Config {
        let ms = |v: u32| Duration::from_millis(u64::from(v));
        let some = |v: u32| (v > 0).then(|| ms(v));
        Config {
            backoff: self.backoff.to_config(),
            heartbeat: HeartbeatConfig {
                ping_interval: some(self.ping_interval_ms),
                pong_timeout: ms(self.pong_timeout_ms),
                idle_timeout: some(self.idle_timeout_ms),
            },
            on_limit: match self.breaker_cool_down_ms {
                BREAKER_OFF => LimitPolicy::GiveUp,
                cool_down => LimitPolicy::Breaker {
                    cool_down: ms(cool_down),
                },
            },
            connect_rate_limit: (self.rate_attempts > 0).then(|| ConnectRateLimit {
                attempts: self.rate_attempts,
                window: ms(self.rate_window_ms),
            }),
            endpoints: EndpointConfig {
                count: self.endpoint_count,
                rotate_after: self.rotate_after,
            },
            connect_timeout: ms(self.connect_timeout_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_round_trips() {
        let config = Config::default();
        assert_eq!(Policy::new(&config).unwrap().to_config(), config);
    }

    #[test]
    fn zeros_and_overlong_durations_are_refused() {
        let zero_pong = Config {
            heartbeat: HeartbeatConfig {
                pong_timeout: Duration::ZERO,
                ..HeartbeatConfig::default()
            },
            ..Config::default()
        };
        assert_eq!(zero_pong.validate(), Err(ConfigError::ZeroHeartbeat));
        let long = Config {
            connect_timeout: Duration::from_secs(50 * 86_400),
            ..Config::default()
        };
        assert_eq!(long.validate(), Err(ConfigError::DurationTooLong));
        let no_endpoints = Config {
            endpoints: EndpointConfig {
                count: 0,
                rotate_after: 1,
            },
            ..Config::default()
        };
        assert_eq!(no_endpoints.validate(), Err(ConfigError::ZeroEndpoints));
    }
}

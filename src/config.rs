//! Everything a [`crate::Supervisor`] can be told, validated up front.

use core::time::Duration;

use crate::backoff::{BackoffConfig, ConfigError};
use crate::breaker::LimitPolicy;
use crate::endpoints::EndpointConfig;
use crate::heartbeat::HeartbeatConfig;
use crate::rate_limit::RateLimitConfig;

/// The supervisor's configuration. Start from [`Config::default`] and change
/// what you need; [`crate::Supervisor::new`] validates it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The reconnect delay schedule.
    pub backoff: BackoffConfig,
    /// Pings, pong and idle deadlines.
    pub heartbeat: HeartbeatConfig,
    /// What happens when attempts run out.
    pub on_limit: LimitPolicy,
    /// A hard limit on attempts per window, on top of the backoff; `None`
    /// (the default) for none.
    pub rate_limit: Option<RateLimitConfig>,
    /// Endpoint count and rotation.
    pub endpoints: EndpointConfig,
    /// Deadline for one attempt: DNS, TCP, TLS and the upgrade together.
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
            rate_limit: None,
            endpoints: EndpointConfig::default(),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl Config {
    /// Checks that the configuration can work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.backoff.validate()?;
        let hb = &self.heartbeat;
        if hb.ping_interval == Some(Duration::ZERO)
            || hb.pong_timeout.is_zero()
            || hb.idle_timeout == Some(Duration::ZERO)
        {
            return Err(ConfigError::ZeroHeartbeat);
        }
        if let Some(limit) = self.rate_limit {
            if limit.attempts == 0 || limit.window.is_zero() {
                return Err(ConfigError::ZeroRateLimit);
            }
        }
        if self.endpoints.count == 0 || self.endpoints.rotate_after == 0 {
            return Err(ConfigError::ZeroEndpoints);
        }
        if self.connect_timeout.is_zero() {
            return Err(ConfigError::ZeroConnectTimeout);
        }
        Ok(())
    }
}

//! The reconnect delay schedule.
//!
//! A [`BackoffConfig`] says how delays grow; a [`Backoff`] is the running
//! state of one outage: how many attempts have failed in a row and the delay
//! drawn last. Integer, saturating arithmetic; the base delay grows one
//! multiplication per attempt, so there is no exponent to overflow.

use core::time::Duration;

use fastrand::Rng;

use crate::jitter::{permille_of, Jitter};
use crate::time::duration_millis;

/// How reconnect delays grow. See [`BackoffConfig::default`] for the defaults
/// and why they are what they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffConfig {
    /// Base delay before the first reconnect attempt.
    pub initial: Duration,
    /// Growth factor per failed attempt, in permille: 2000 doubles, 1618 is
    /// ×1.618. At least 1000.
    pub multiplier_permille: u32,
    /// The base delay never grows past this.
    pub cap: Duration,
    /// Randomisation of the delay while the base is still growing.
    pub jitter: Jitter,
    /// Randomisation once the base has reached `cap`; `None` keeps `jitter`.
    ///
    /// Wide jitter while growing scatters a fleet that lost the same server;
    /// narrow jitter at the cap bounds how long anyone waits once it is back.
    pub cap_jitter: Option<Jitter>,
    /// Give up (or open the breaker) after this many consecutive failed
    /// attempts; `None` retries for ever.
    pub max_attempts: Option<u32>,
    /// Give up (or open the breaker) when an outage has lasted this long;
    /// `None` for no budget.
    pub max_elapsed: Option<Duration>,
    /// A link must stay up this long before the attempt count resets. A server
    /// that accepts and drops at once therefore sees growing delays.
    pub stable_after: Duration,
    /// The most a server's Retry-After can make us wait; larger values are
    /// clamped to this.
    pub max_retry_after: Duration,
    /// How far past a Retry-After the delay is spread, in permille: 200 turns
    /// "retry after 30 s" into 30–36 s, so a fleet does not return in one second.
    pub retry_after_spread_permille: u16,
    /// The floor for a rate-limited failure that carries no Retry-After
    /// (close 1013, a 429 without the header).
    pub rate_limited_floor: Duration,
}

impl Default for BackoffConfig {
    /// The defaults, tuned with the fleet simulator (`examples/herd.rs`, 10 000
    /// clients, worst of 12 seeds; figures in `BENCHMARKS.md`):
    ///
    /// - `initial` 1.5 s with `Full` jitter: after a single drop half the
    ///   clients are back within 0.75 s, and even the first wave of a fleet is
    ///   spread over 1.5 s.
    /// - ×1.4 growth to a `cap` of 12.25 s (1.5, 2.1, 2.9, 4.1, 5.8, 8.1,
    ///   11.3 s): slow enough that a short outage (5 s) still ends with a wait
    ///   of under 8 s for 99 % of the fleet, fast enough that a 5-minute outage
    ///   costs about 31 attempts.
    /// - `Full` jitter while growing scatters a fleet within half a minute;
    ///   `Symmetric(50)` (±5 %) at the cap keeps the wait once the server is
    ///   back under 13 s (p99) while arrivals stay below 10 % of the fleet in
    ///   any second. Wider jitter at the cap pushes the p99 wait past 13 s.
    /// - unlimited attempts and no elapsed budget: a keeper keeps; set a limit
    ///   when a person is waiting for the answer.
    /// - `stable_after` 15 s: longer than a handshake, an auth round trip and
    ///   a subscription burst, so an accept-then-drop server counts as failing.
    /// - Retry-After clamped to 10 minutes and spread by +20 %; 10 s floor for
    ///   "try again later" without a header.
    fn default() -> Self {
        BackoffConfig {
            initial: Duration::from_millis(1_500),
            multiplier_permille: 1_400,
            cap: Duration::from_millis(12_250),
            jitter: Jitter::Full,
            cap_jitter: Some(Jitter::Symmetric(50)),
            max_attempts: None,
            max_elapsed: None,
            stable_after: Duration::from_secs(15),
            max_retry_after: Duration::from_secs(600),
            retry_after_spread_permille: 200,
            rate_limited_floor: Duration::from_secs(10),
        }
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
    /// A heartbeat interval or timeout is zero.
    ZeroHeartbeat,
    /// The rate limit allows zero attempts, or its window is zero.
    ZeroRateLimit,
    /// Zero endpoints, or rotation after zero failures.
    ZeroEndpoints,
    /// The connect timeout is zero.
    ZeroConnectTimeout,
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ConfigError::MultiplierBelowOne => "backoff multiplier must be at least 1000 permille (x1.0)",
            ConfigError::CapBelowInitial => "backoff cap must not be below the initial delay",
            ConfigError::JitterOutOfRange => {
                "jitter proportion out of range (symmetric <= 1000, proportional <= 10000 permille)"
            }
            ConfigError::ZeroAttempts => "max_attempts must be at least 1 (use None for unlimited)",
            ConfigError::ZeroHeartbeat => "ping interval and pong timeout must be non-zero (use None to disable)",
            ConfigError::ZeroRateLimit => "rate limit needs at least one attempt per non-zero window",
            ConfigError::ZeroEndpoints => "need at least one endpoint and rotation after at least one failure",
            ConfigError::ZeroConnectTimeout => "connect timeout must be non-zero",
        })
    }
}

impl core::error::Error for ConfigError {}

impl BackoffConfig {
    /// Checks that the configuration can work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.multiplier_permille < 1_000 {
            return Err(ConfigError::MultiplierBelowOne);
        }
        if self.cap < self.initial {
            return Err(ConfigError::CapBelowInitial);
        }
        if !self.jitter.is_valid() || !self.cap_jitter.is_none_or(Jitter::is_valid) {
            return Err(ConfigError::JitterOutOfRange);
        }
        if self.max_attempts == Some(0) {
            return Err(ConfigError::ZeroAttempts);
        }
        Ok(())
    }

    /// The jitter kind used for a given base delay.
    fn jitter_for(&self, base_ms: u64) -> Jitter {
        match self.cap_jitter {
            Some(at_cap) if base_ms >= duration_millis(self.cap) => at_cap,
            _ => self.jitter,
        }
    }
}

/// One computed delay, with the parts that made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delay {
    /// The delay to wait.
    pub delay: Duration,
    /// The base delay before jitter.
    pub base: Duration,
    /// Whether a Retry-After (or the rate-limited floor) raised the delay.
    pub floored: bool,
}

impl Delay {
    /// `delay - base` in milliseconds: negative when jitter shortened the wait.
    pub fn jitter_millis(&self) -> i64 {
        let delay = i64::try_from(duration_millis(self.delay)).unwrap_or(i64::MAX);
        let base = i64::try_from(duration_millis(self.base)).unwrap_or(i64::MAX);
        delay.saturating_sub(base)
    }
}

/// The running schedule of one outage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    failures: u32,
    base_ms: u64,
    previous_ms: u64,
}

impl Backoff {
    /// A fresh schedule: no failures yet.
    pub fn new(config: &BackoffConfig) -> Backoff {
        Backoff {
            failures: 0,
            base_ms: duration_millis(config.initial),
            previous_ms: duration_millis(config.initial),
        }
    }

    /// The schedule as it stands after `failures` consecutive failures, as if
    /// `next_delay` had been called that many times. Growth is computed one
    /// step at a time and stops at the cap, when it no longer changes the
    /// base, or after [`Backoff::MAX_GROWTH_STEPS`] steps, so any count is
    /// cheap and nothing overflows.
    pub fn after_failures(config: &BackoffConfig, failures: u32) -> Backoff {
        let mut backoff = Backoff::new(config);
        let cap_ms = duration_millis(config.cap);
        for _ in 1..failures.min(Backoff::MAX_GROWTH_STEPS) {
            let grown = backoff.grown(config, cap_ms);
            if grown == backoff.base_ms {
                break;
            }
            backoff.base_ms = grown;
        }
        backoff.failures = failures;
        backoff.previous_ms = backoff.base_ms;
        backoff
    }

    /// The exponent cap of [`Backoff::after_failures`].
    pub const MAX_GROWTH_STEPS: u32 = 10_000;

    fn grown(&self, config: &BackoffConfig, cap_ms: u64) -> u64 {
        let grown = self.base_ms as u128 * config.multiplier_permille as u128 / 1_000;
        grown.min(cap_ms as u128) as u64
    }

    /// The base delay (before jitter) of the last delay drawn.
    pub fn base(&self) -> Duration {
        Duration::from_millis(self.base_ms)
    }

    /// Consecutive failed attempts since the last reset.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Forgets the outage: the next delay is the initial one again.
    pub fn reset(&mut self, config: &BackoffConfig) {
        *self = Backoff::new(config);
    }

    /// Records a failed attempt and draws the delay before the next one.
    ///
    /// `floor` is a server's Retry-After (or the rate-limited floor): it is
    /// clamped to `max_retry_after` and spread by `retry_after_spread_permille`,
    /// and the delay is never below it.
    pub fn next_delay(&mut self, config: &BackoffConfig, rng: &mut Rng, floor: Option<Duration>) -> Delay {
        let cap_ms = duration_millis(config.cap);
        let initial_ms = duration_millis(config.initial);
        // The first failure waits the initial delay; each later one grows it.
        if self.failures > 0 {
            self.base_ms = self.grown(config, cap_ms);
        }
        self.failures = self.failures.saturating_add(1);
        let base_ms = self.base_ms.min(cap_ms);
        let jitter = config.jitter_for(base_ms);
        let mut delay_ms = jitter.apply(rng, base_ms, initial_ms, cap_ms, self.previous_ms);
        let mut floored = false;
        if let Some(floor) = floor {
            let floor_ms = duration_millis(floor.min(config.max_retry_after));
            let spread = rng.u64(0..=permille_of(floor_ms, config.retry_after_spread_permille));
            let floor_ms = floor_ms.saturating_add(spread);
            if floor_ms > delay_ms {
                delay_ms = floor_ms;
                floored = true;
            }
        }
        self.previous_ms = delay_ms;
        Delay {
            delay: Duration::from_millis(delay_ms),
            base: Duration::from_millis(base_ms),
            floored,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain() -> BackoffConfig {
        BackoffConfig {
            initial: Duration::from_millis(100),
            multiplier_permille: 2_000,
            cap: Duration::from_secs(1),
            jitter: Jitter::None,
            cap_jitter: None,
            ..BackoffConfig::default()
        }
    }

    #[test]
    fn no_jitter_follows_the_closed_form_up_to_the_cap() {
        let config = plain();
        let mut backoff = Backoff::new(&config);
        let mut rng = Rng::with_seed(0);
        let delays: [u64; 6] =
            core::array::from_fn(|_| backoff.next_delay(&config, &mut rng, None).delay.as_millis() as u64);
        assert_eq!(delays, [100, 200, 400, 800, 1_000, 1_000]);
    }

    #[test]
    fn huge_values_saturate() {
        let config = BackoffConfig {
            initial: Duration::MAX,
            cap: Duration::MAX,
            multiplier_permille: u32::MAX,
            jitter: Jitter::Proportional(10_000),
            ..BackoffConfig::default()
        };
        let mut backoff = Backoff::new(&config);
        let mut rng = Rng::with_seed(0);
        for _ in 0..100 {
            backoff.next_delay(&config, &mut rng, Some(Duration::MAX));
        }
    }

    #[test]
    fn after_failures_matches_stepping_and_survives_u32_max() {
        let config = plain();
        let mut stepped = Backoff::new(&config);
        let mut rng = Rng::with_seed(0);
        for n in 1..20 {
            stepped.next_delay(&config, &mut rng, None);
            assert_eq!(Backoff::after_failures(&config, n).base(), stepped.base(), "after {n}");
        }
        let slow = BackoffConfig {
            multiplier_permille: 1_001,
            cap: Duration::MAX,
            ..config
        };
        let mut last = Backoff::after_failures(&slow, u32::MAX);
        assert_eq!(last.failures(), u32::MAX);
        let d = last.next_delay(&slow, &mut rng, None);
        assert!(d.delay >= d.base);
    }

    #[test]
    fn floor_is_clamped_and_spread() {
        let config = BackoffConfig {
            max_retry_after: Duration::from_secs(60),
            ..plain()
        };
        let mut rng = Rng::with_seed(3);
        for _ in 0..200 {
            let mut backoff = Backoff::new(&config);
            let d = backoff.next_delay(&config, &mut rng, Some(Duration::from_secs(3_600)));
            assert!(d.floored);
            assert!(
                d.delay >= Duration::from_secs(60) && d.delay <= Duration::from_secs(72),
                "{d:?}"
            );
        }
    }

    #[test]
    fn invalid_configs_are_errors() {
        let bad = [
            BackoffConfig {
                multiplier_permille: 999,
                ..plain()
            },
            BackoffConfig {
                cap: Duration::from_millis(1),
                ..plain()
            },
            BackoffConfig {
                jitter: Jitter::Symmetric(1_001),
                ..plain()
            },
            BackoffConfig {
                cap_jitter: Some(Jitter::Proportional(10_001)),
                ..plain()
            },
            BackoffConfig {
                max_attempts: Some(0),
                ..plain()
            },
        ];
        for config in bad {
            assert!(config.validate().is_err(), "{config:?}");
        }
        assert_eq!(BackoffConfig::default().validate(), Ok(()));
    }
}

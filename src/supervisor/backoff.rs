//! The reconnect delay schedule.
//!
//! A [`BackoffConfig`] says how delays grow; inside the supervisor it becomes
//! a compact [`BackoffPolicy`] (`u32` milliseconds), and a [`Backoff`] is the
//! running state of one outage. Integer arithmetic in 64 bits that saturates;
//! the base delay grows one multiplication per attempt and stops at the cap,
//! so there is no exponent to overflow.

use core::time::Duration;

use fastrand::Rng;

use super::config::ConfigError;
use super::jitter::{permille_of, Jitter};
use crate::time::millis_u32;

/// How reconnect delays grow. See [`BackoffConfig::default`] for the defaults
/// and why they are what they are. Every duration must be below 49.7 days
/// (the core keeps `u32` milliseconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffConfig {
    /// Base delay before the first reconnect attempt.
    pub initial: Duration,
    /// Growth factor per failed attempt, in permille: 2000 doubles, 1618 is
    /// ×1.618. From 1000 to 65 535.
    pub multiplier_permille: u16,
    /// The base delay never grows past this.
    pub cap: Duration,
    /// Randomisation of the delay while the base is still growing.
    /// [`Jitter::Phased`] also shapes the bases: see there.
    pub jitter: Jitter,
    /// Randomisation once the base has reached `cap`; `None` keeps `jitter`.
    /// After [`Jitter::Phased`] growth it is added to the phased delay.
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
    /// The floor when the server asks us to come back later without saying
    /// when (close 1013, a 429 or 503 without Retry-After).
    pub retry_later_floor: Duration,
}

impl Default for BackoffConfig {
    /// The defaults, tuned with the fleet simulator (`examples/herd.rs`, 10 000
    /// clients, worst of 12 seeds; figures in `BENCHMARKS.md`):
    ///
    /// - `initial` 1.5 s: the first reconnect after a drop is U(0, 1.5 s), so
    ///   half the clients are back within 0.75 s after a single drop.
    /// - [`Jitter::Phased`]`(633)`: one random phase per outage, and every
    ///   retry after the first has a base of at least 633 ‰ of the cap
    ///   (7.6 s). A server that refused once is having an outage, so the
    ///   fleet spreads out at once: whenever the server comes back, arrivals
    ///   are flat at N / base per second — at most ~14 % of the fleet in any
    ///   second after a 5-second outage, all back within 7.6 s of the return.
    ///   The floor is the trade-off between those two: a shorter one raises
    ///   the peak, a longer one the wait.
    /// - ×2 growth to a `cap` of 12 s: bases 1.5, 7.6, 7.6, 12 s, then 12 s.
    ///   At the cap arrivals stay under ~9 % of the fleet per second and 99 %
    ///   are back within 12.1 s; a 5-minute outage costs about 28 attempts.
    ///   A server that accepts only C new connections a second (N = 10 000,
    ///   C = 500) has 99 % of the fleet within 24 s of its return.
    /// - `Symmetric(50)` (±5 %) at the cap, on top of the phase: a little
    ///   noise so that no two clients keep exactly the same phase for ever;
    ///   wider jitter there pushes the p99 wait towards 13 s.
    /// - unlimited attempts and no elapsed budget: a keeper keeps; set a limit
    ///   when a person is waiting for the answer.
    /// - `stable_after` 15 s: longer than a handshake, an auth round trip and
    ///   a subscription burst, so an accept-then-drop server counts as failing.
    /// - Retry-After clamped to 10 minutes and spread by +20 %; 10 s floor for
    ///   "try again later" without a header.
    fn default() -> Self {
        BackoffConfig {
            initial: Duration::from_millis(1_500),
            multiplier_permille: 2_000,
            cap: Duration::from_secs(12),
            jitter: Jitter::Phased(633),
            cap_jitter: Some(Jitter::Symmetric(50)),
            max_attempts: None,
            max_elapsed: None,
            stable_after: Duration::from_secs(15),
            max_retry_after: Duration::from_secs(600),
            retry_after_spread_permille: 200,
            retry_later_floor: Duration::from_secs(10),
        }
    }
}

impl BackoffConfig {
    /// Checks that the schedule can work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        BackoffPolicy::new(self).map(|_| ())
    }
}

/// [`BackoffConfig`] as the supervisor keeps it: `u32` milliseconds, `0` for
/// "none" where a zero makes no sense otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BackoffPolicy {
    pub(crate) initial_ms: u32,
    pub(crate) cap_ms: u32,
    pub(crate) multiplier_permille: u16,
    pub(crate) retry_after_spread_permille: u16,
    pub(crate) jitter: Jitter,
    pub(crate) cap_jitter: Jitter,
    /// Zero: unlimited.
    pub(crate) max_attempts: u32,
    /// Zero: no budget.
    pub(crate) max_elapsed_ms: u32,
    pub(crate) stable_after_ms: u32,
    pub(crate) max_retry_after_ms: u32,
    pub(crate) retry_later_floor_ms: u32,
}

impl BackoffPolicy {
    pub(crate) fn new(config: &BackoffConfig) -> Result<BackoffPolicy, ConfigError> {
        let ms = |d: Duration| millis_u32(d).ok_or(ConfigError::DurationTooLong);
        if config.multiplier_permille < 1_000 {
            return Err(ConfigError::MultiplierBelowOne);
        }
        if config.cap < config.initial {
            return Err(ConfigError::CapBelowInitial);
        }
        let cap_jitter = config.cap_jitter.unwrap_or(config.jitter);
        if !config.jitter.is_valid() || !cap_jitter.is_valid() {
            return Err(ConfigError::JitterOutOfRange);
        }
        if config.max_attempts == Some(0) {
            return Err(ConfigError::ZeroAttempts);
        }
        let max_elapsed_ms = match config.max_elapsed {
            Some(budget) if budget.as_millis() == 0 => return Err(ConfigError::ZeroBudget),
            Some(budget) => ms(budget)?,
            None => 0,
        };
        Ok(BackoffPolicy {
            initial_ms: ms(config.initial)?,
            cap_ms: ms(config.cap)?,
            multiplier_permille: config.multiplier_permille,
            retry_after_spread_permille: config.retry_after_spread_permille,
            jitter: config.jitter,
            cap_jitter,
            max_attempts: config.max_attempts.unwrap_or(0),
            max_elapsed_ms,
            stable_after_ms: ms(config.stable_after)?,
            max_retry_after_ms: ms(config.max_retry_after)?,
            retry_later_floor_ms: ms(config.retry_later_floor)?,
        })
    }

    pub(crate) fn to_config(self) -> BackoffConfig {
        let ms = |v: u32| Duration::from_millis(u64::from(v));
        BackoffConfig {
            initial: ms(self.initial_ms),
            multiplier_permille: self.multiplier_permille,
            cap: ms(self.cap_ms),
            jitter: self.jitter,
            cap_jitter: Some(self.cap_jitter),
            max_attempts: (self.max_attempts > 0).then_some(self.max_attempts),
            max_elapsed: (self.max_elapsed_ms > 0).then(|| ms(self.max_elapsed_ms)),
            stable_after: ms(self.stable_after_ms),
            max_retry_after: ms(self.max_retry_after_ms),
            retry_after_spread_permille: self.retry_after_spread_permille,
            retry_later_floor: ms(self.retry_later_floor_ms),
        }
    }
}

/// One computed delay, with the parts that made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delay {
    delay_ms: u32,
    base_ms: u32,
    floored: bool,
}

impl Delay {
    /// The delay to wait.
    pub const fn delay(&self) -> Duration {
        Duration::from_millis(self.delay_ms as u64)
    }

    /// The base delay before jitter.
    pub const fn base(&self) -> Duration {
        Duration::from_millis(self.base_ms as u64)
    }

    /// Whether a Retry-After (or the retry-later floor) raised the delay.
    pub const fn floored(&self) -> bool {
        self.floored
    }

    /// `delay - base` in milliseconds: negative when jitter shortened the wait.
    pub const fn jitter_millis(&self) -> i64 {
        self.delay_ms as i64 - self.base_ms as i64
    }

    pub(crate) const fn delay_ms(&self) -> u32 {
        self.delay_ms
    }
}

/// The running schedule of one outage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Backoff {
    failures: u32,
    /// `initial · multiplier^(failures − 1)`, capped: growth before any floor.
    grown_ms: u32,
    /// The base of the last delay drawn, floor included (zero before the
    /// first): the phase starts from it.
    base_ms: u32,
    /// The last delay drawn, for [`Jitter::Decorrelated`].
    previous_ms: u32,
    /// The outage's phase for [`Jitter::Phased`], in units of 1 / [`PHASE_ONE`].
    phase: u16,
}

/// The phase `φ = 1`: [`Jitter::Phased`] draws a phase below it.
const PHASE_ONE: u64 = 1 << 16;

impl Backoff {
    /// A fresh schedule: no failures yet.
    pub(crate) fn new(policy: &BackoffPolicy) -> Backoff {
        Backoff {
            failures: 0,
            grown_ms: policy.initial_ms,
            base_ms: 0,
            previous_ms: policy.initial_ms,
            phase: 0,
        }
    }

    /// Forgets the outage: the next delay is the initial one again.
    pub(crate) fn reset(&mut self, policy: &BackoffPolicy) {
        *self = Backoff::new(policy);
    }

    /// The base of delay number `failures` (from 1): the growth so far, and
    /// from the second delay on [`Jitter::Phased`]'s floor.
    fn base(&self, policy: &BackoffPolicy, failures: u32) -> u32 {
        match policy.jitter {
            Jitter::Phased(floor) if failures > 1 => self.grown_ms.max(permille_of(policy.cap_ms, floor)),
            _ => self.grown_ms,
        }
    }

    /// `(1 − φ) · from + φ · to`, with `φ = phase / 2¹⁶`: a shift, not a
    /// division.
    fn at_phase(&self, from_ms: u32, to_ms: u32) -> u32 {
        let (one, phase) = (PHASE_ONE, u64::from(self.phase));
        let mixed = (u64::from(from_ms) * (one - phase) + u64::from(to_ms) * phase) >> 16;
        // A weighted mean of two u32 values is a u32.
        mixed as u32
    }

    /// Records a failed attempt and draws the delay before the next one.
    ///
    /// `floor_ms` is a server's Retry-After (or the retry-later floor): it is
    /// clamped to `max_retry_after` and spread by `retry_after_spread_permille`,
    /// and the delay is never below it. With [`Jitter::Phased`] the outage's
    /// phase is drawn at its first failure and every delay sits at that phase
    /// between the previous base and this one.
    #[inline]
    pub(crate) fn next_delay(&mut self, policy: &BackoffPolicy, rng: &mut Rng, floor_ms: Option<u32>) -> Delay {
        let phased = matches!(policy.jitter, Jitter::Phased(_));
        let previous_base_ms = self.base_ms;
        let base_ms = if self.failures > 0 && previous_base_ms >= policy.cap_ms {
            // At the cap the base stays there, floor or not, and growing
            // further changes nothing.
            policy.cap_ms
        } else {
            if self.failures == 0 {
                if phased {
                    self.phase = rng.u16(..);
                }
            } else if self.grown_ms < policy.cap_ms {
                self.grown_ms = permille_of(self.grown_ms, policy.multiplier_permille).min(policy.cap_ms);
            }
            self.base(policy, self.failures.saturating_add(1)).min(policy.cap_ms)
        };
        self.failures = self.failures.saturating_add(1);
        self.base_ms = base_ms;
        let jitter = if base_ms >= policy.cap_ms {
            policy.cap_jitter
        } else {
            policy.jitter
        };
        // Phased growth sits at the outage's phase between the previous base
        // and this one; at a steady base the phase lands on the base itself.
        let at_ms = match phased && previous_base_ms != base_ms {
            true => self.at_phase(previous_base_ms, base_ms),
            false => base_ms,
        };
        let mut delay_ms = match jitter {
            Jitter::Phased(_) if phased => at_ms,
            // Any other jitter draws around that point (a cap jitter after
            // phased growth adds its randomness to the phased delay).
            _ => jitter.apply(rng, at_ms, policy.initial_ms, policy.cap_ms, self.previous_ms),
        };
        let mut floored = false;
        if let Some(floor_ms) = floor_ms {
            let floor_ms = floor_ms.min(policy.max_retry_after_ms);
            let spread = rng.u32(0..=permille_of(floor_ms, policy.retry_after_spread_permille));
            let floor_ms = floor_ms.saturating_add(spread);
            if floor_ms > delay_ms {
                delay_ms = floor_ms;
                floored = true;
            }
        }
        self.previous_ms = delay_ms;
        Delay {
            delay_ms,
            base_ms,
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
        let policy = BackoffPolicy::new(&plain()).unwrap();
        let mut backoff = Backoff::new(&policy);
        let mut rng = Rng::with_seed(0);
        let delays: [u32; 6] = core::array::from_fn(|_| backoff.next_delay(&policy, &mut rng, None).delay_ms);
        assert_eq!(delays, [100, 200, 400, 800, 1_000, 1_000]);
    }

    #[test]
    fn huge_values_saturate() {
        let config = BackoffConfig {
            initial: Duration::from_millis(u64::from(u32::MAX - 1)),
            cap: Duration::from_millis(u64::from(u32::MAX - 1)),
            multiplier_permille: u16::MAX,
            jitter: Jitter::Proportional(10_000),
            max_retry_after: Duration::from_millis(u64::from(u32::MAX - 1)),
            ..BackoffConfig::default()
        };
        let policy = BackoffPolicy::new(&config).unwrap();
        let mut backoff = Backoff::new(&policy);
        let mut rng = Rng::with_seed(0);
        for _ in 0..100 {
            let d = backoff.next_delay(&policy, &mut rng, Some(u32::MAX));
            assert_eq!(d.base_ms, u32::MAX - 1);
        }
    }

    #[test]
    fn floor_is_clamped_and_spread() {
        let config = BackoffConfig {
            max_retry_after: Duration::from_secs(60),
            ..plain()
        };
        let policy = BackoffPolicy::new(&config).unwrap();
        let mut rng = Rng::with_seed(3);
        for _ in 0..200 {
            let mut backoff = Backoff::new(&policy);
            let d = backoff.next_delay(&policy, &mut rng, Some(3_600_000));
            assert!(d.floored());
            assert!((60_000..=72_000).contains(&d.delay_ms), "{d:?}");
        }
    }

    fn phased(floor_permille: u16) -> BackoffPolicy {
        BackoffPolicy::new(&BackoffConfig {
            initial: Duration::from_millis(1_000),
            multiplier_permille: 2_000,
            cap: Duration::from_secs(10),
            jitter: Jitter::Phased(floor_permille),
            cap_jitter: None,
            ..BackoffConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn phased_bases_take_the_floor_from_the_second_delay() {
        let policy = phased(600);
        let mut backoff = Backoff::new(&policy);
        let mut rng = Rng::with_seed(5);
        let bases: [u32; 7] = core::array::from_fn(|_| backoff.next_delay(&policy, &mut rng, None).base_ms);
        // Growth 1, 2, 4, 8, 16 → 10 s cap; floor 600 ‰ of 10 s.
        assert_eq!(bases, [1_000, 6_000, 6_000, 8_000, 10_000, 10_000, 10_000]);
    }

    #[test]
    fn phased_attempts_keep_one_phase_across_the_bases() {
        let policy = phased(600);
        let bases = [1_000u64, 6_000, 6_000, 8_000, 10_000, 10_000];
        for seed in 0..2_000 {
            let mut rng = Rng::with_seed(seed);
            let mut backoff = Backoff::new(&policy);
            let mut at = 0u64;
            for (k, &base) in bases.iter().enumerate() {
                at += u64::from(backoff.next_delay(&policy, &mut rng, None).delay_ms);
                // Retry k lands at the sum of the earlier bases plus φ · base(k),
                // give or take a millisecond of rounding per delay.
                let before: u64 = bases[..k].iter().sum();
                let expected = before + base * u64::from(backoff.phase) / PHASE_ONE;
                assert!(
                    at.abs_diff(expected) <= k as u64 + 1,
                    "seed {seed}, retry {k}: at {at} ms, expected {expected} ms"
                );
            }
        }
    }

    #[test]
    fn phased_first_delay_is_uniform_over_initial_and_the_cap_jitter_stays_within_its_spread() {
        let mut policy = phased(600);
        policy.cap_jitter = Jitter::Symmetric(50);
        let mut below_half = 0;
        for seed in 0..2_000 {
            let mut rng = Rng::with_seed(seed);
            let mut backoff = Backoff::new(&policy);
            let first = backoff.next_delay(&policy, &mut rng, None).delay_ms;
            assert!(first <= 1_000);
            below_half += u32::from(first < 500);
            for _ in 0..4 {
                backoff.next_delay(&policy, &mut rng, None);
            }
            for _ in 0..5 {
                // At the cap: the base, ±5 %.
                let d = backoff.next_delay(&policy, &mut rng, None);
                assert!((9_500..=10_500).contains(&d.delay_ms), "{d:?}");
            }
        }
        assert!((900..1_100).contains(&below_half), "{below_half} of 2000 below half");
    }

    #[test]
    fn phased_with_a_retry_after_floor_and_extremes() {
        let policy = phased(1_000);
        let mut rng = Rng::with_seed(11);
        let mut backoff = Backoff::new(&policy);
        backoff.next_delay(&policy, &mut rng, None);
        // A Retry-After above the phased delay raises it; the schedule goes on.
        let d = backoff.next_delay(&policy, &mut rng, Some(30_000));
        assert!(d.floored() && d.delay_ms >= 30_000);
        assert_eq!(d.base_ms, 10_000);
        let longest = Duration::from_millis(u64::from(u32::MAX - 1));
        let huge = BackoffPolicy::new(&BackoffConfig {
            initial: longest,
            cap: longest,
            multiplier_permille: u16::MAX,
            jitter: Jitter::Phased(1_000),
            max_retry_after: longest,
            ..BackoffConfig::default()
        })
        .unwrap();
        let mut backoff = Backoff::new(&huge);
        for _ in 0..10 {
            backoff.next_delay(&huge, &mut rng, Some(u32::MAX));
        }
    }

    #[test]
    fn the_policy_round_trips_to_the_config() {
        let config = BackoffConfig::default();
        assert_eq!(BackoffPolicy::new(&config).unwrap().to_config(), config);
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
            BackoffConfig {
                max_elapsed: Some(Duration::ZERO),
                ..plain()
            },
            BackoffConfig {
                jitter: Jitter::Phased(1_001),
                ..plain()
            },
            BackoffConfig {
                cap: Duration::from_secs(50 * 86_400),
                ..plain()
            },
        ];
        for config in bad {
            assert!(config.validate().is_err(), "{config:?}");
        }
        assert_eq!(BackoffConfig::default().validate(), Ok(()));
    }
}

//! A limit on connection attempts: at most `attempts` in any window of
//! `window`, whatever the backoff or the caller asks for.
//!
//! A token bucket of capacity `B = ceil(N/2)` refilled one token every
//! `ceil(window / (N - B))` (for N = 1: one token per window). In any window
//! of that length at most `B` tokens were stored at its start and at most
//! `N - B` arrive inside it, so the limit holds exactly with constant memory,
//! and half the budget is still available as a burst.

use core::time::Duration;

use crate::time::{duration_micros, Instant};

/// Attempts allowed per window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// At most this many attempts…
    pub attempts: u32,
    /// …in any window of this length.
    pub window: Duration,
}

/// The token bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    capacity: u32,
    refill_micros: u64,
    tokens: u32,
    /// When the next token arrives; meaningful only below capacity.
    next_refill: Instant,
}

impl RateLimit {
    /// A full bucket for `config` (which must have `attempts > 0` and a
    /// non-zero window; [`crate::Config::validate`] checks).
    pub fn new(config: &RateLimitConfig) -> RateLimit {
        let attempts = config.attempts.max(1);
        let capacity = attempts.div_ceil(2);
        let refills = u64::from((attempts - capacity).max(1));
        let refill_micros = duration_micros(config.window).div_ceil(refills).max(1);
        RateLimit {
            capacity,
            refill_micros,
            tokens: capacity,
            next_refill: Instant::ZERO,
        }
    }

    fn refill(&mut self, now: Instant) {
        if self.tokens >= self.capacity || now < self.next_refill {
            return;
        }
        let elapsed = now.as_micros() - self.next_refill.as_micros();
        let arrived = 1 + elapsed / self.refill_micros;
        let missing = u64::from(self.capacity - self.tokens);
        if arrived >= missing {
            self.tokens = self.capacity;
        } else {
            self.tokens += arrived as u32;
            let advance = arrived.saturating_mul(self.refill_micros);
            self.next_refill = Instant::from_micros(self.next_refill.as_micros().saturating_add(advance));
        }
    }

    /// Takes a token for an attempt at `now`; `false` when none is left.
    pub fn try_acquire(&mut self, now: Instant) -> bool {
        self.refill(now);
        if self.tokens == 0 {
            return false;
        }
        if self.tokens == self.capacity {
            self.next_refill = now + Duration::from_micros(self.refill_micros);
        }
        self.tokens -= 1;
        true
    }

    /// The earliest instant at or after `now` when an attempt is allowed.
    pub fn available_at(&mut self, now: Instant) -> Instant {
        self.refill(now);
        if self.tokens > 0 {
            now
        } else {
            self.next_refill
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_per_window_waits_a_full_window() {
        let mut limit = RateLimit::new(&RateLimitConfig {
            attempts: 1,
            window: Duration::from_secs(10),
        });
        assert!(limit.try_acquire(Instant::from_secs(5)));
        assert!(!limit.try_acquire(Instant::from_secs(15) - Duration::from_micros(1)));
        assert_eq!(limit.available_at(Instant::from_secs(6)), Instant::from_secs(15));
        assert!(limit.try_acquire(Instant::from_secs(15)));
    }

    #[test]
    fn burst_is_half_the_budget() {
        let mut limit = RateLimit::new(&RateLimitConfig {
            attempts: 5,
            window: Duration::from_secs(60),
        });
        let now = Instant::from_secs(1);
        assert!((0..3).all(|_| limit.try_acquire(now)));
        assert!(!limit.try_acquire(now));
    }
}

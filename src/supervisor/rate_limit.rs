//! A limit on our own connection attempts: at most `attempts` in any window
//! of `window`, whatever the backoff or the caller asks for (exchanges cap
//! connects per IP per window).
//!
//! A token bucket of capacity `B = ceil(N/2)` refilled one token every
//! `ceil(window / (N - B))` (for N = 1: one token per window). In any window
//! of that length at most `B` tokens were stored at its start and at most
//! `N - B` arrive inside it, so the limit holds exactly with constant memory,
//! and half the budget is still available as a burst.

use core::time::Duration;

use crate::time::Instant;

/// Attempts allowed per window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectRateLimit {
    /// At most this many attempts…
    pub attempts: u32,
    /// …in any window of this length.
    pub window: Duration,
}

/// The token bucket's running state; its shape comes from the policy on
/// every call, so only two numbers are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RateLimit {
    /// Tokens spent from a full bucket (zero: full).
    spent: u32,
    /// When the next token arrives; meaningful only while `spent > 0`.
    next_refill: Instant,
}

/// Capacity and refill period (µs) for `attempts` per `window_ms`.
fn shape(attempts: u32, window_ms: u32) -> (u32, u64) {
    let attempts = attempts.max(1);
    let capacity = attempts.div_ceil(2);
    let refills = u64::from((attempts - capacity).max(1));
    let refill_micros = (u64::from(window_ms) * 1_000).div_ceil(refills).max(1);
    (capacity, refill_micros)
}

impl RateLimit {
    /// A full bucket.
    pub(crate) const fn new() -> RateLimit {
        RateLimit {
            spent: 0,
            next_refill: Instant::ZERO,
        }
    }

    fn refill(&mut self, now: Instant, refill_micros: u64) {
        if self.spent == 0 || now < self.next_refill {
            return;
        }
        let arrived = 1 + (now.as_micros() - self.next_refill.as_micros()) / refill_micros;
        if arrived >= u64::from(self.spent) {
            self.spent = 0;
        } else {
            // Below `spent`, so it fits in u32.
            self.spent -= arrived as u32;
            let advance = arrived.saturating_mul(refill_micros);
            self.next_refill = Instant::from_micros(self.next_refill.as_micros().saturating_add(advance));
        }
    }

    /// Takes a token for an attempt at `now`; `false` when none is left.
    #[must_use]
    pub(crate) fn try_acquire(&mut self, attempts: u32, window_ms: u32, now: Instant) -> bool {
        let (capacity, refill_micros) = shape(attempts, window_ms);
        self.refill(now, refill_micros);
        if self.spent >= capacity {
            return false;
        }
        if self.spent == 0 {
            self.next_refill = now + Duration::from_micros(refill_micros);
        }
        self.spent += 1;
        true
    }

    /// The earliest instant at or after `now` when an attempt is allowed.
    #[must_use]
    pub(crate) fn available_at(&mut self, attempts: u32, window_ms: u32, now: Instant) -> Instant {
        let (capacity, refill_micros) = shape(attempts, window_ms);
        self.refill(now, refill_micros);
        if self.spent < capacity {
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
        let mut limit = RateLimit::new();
        assert!(limit.try_acquire(1, 10_000, Instant::from_secs(5)));
        assert!(!limit.try_acquire(1, 10_000, Instant::from_secs(15) - Duration::from_micros(1)));
        assert_eq!(
            limit.available_at(1, 10_000, Instant::from_secs(6)),
            Instant::from_secs(15)
        );
        assert!(limit.try_acquire(1, 10_000, Instant::from_secs(15)));
    }

    #[test]
    fn burst_is_half_the_budget() {
        let mut limit = RateLimit::new();
        let now = Instant::from_secs(1);
        assert!((0..3).all(|_| limit.try_acquire(5, 60_000, now)));
        assert!(!limit.try_acquire(5, 60_000, now));
    }
}

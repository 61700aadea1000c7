//! Time as the core sees it: an [`Instant`] handed in by the caller.
//!
//! The core never reads a clock. The std layer converts from
//! `std::time::Instant`; a simulator or a microcontroller counts its own ticks.
//! All arithmetic saturates, so no input can overflow or panic.

use core::fmt;
use core::ops::{Add, Sub};
use core::time::Duration;

/// A point on a monotonic clock: microseconds since an arbitrary epoch.
///
/// Only differences between instants mean anything. `Instant::ZERO` is a fine
/// epoch for tests and simulations. The supervisor's deadlines reach 2^61 µs
/// (about 73,000 years) past the epoch; a later one is held at that limit.
///
/// ```
/// use core::time::Duration;
/// use wstether::Instant;
///
/// let t = Instant::from_millis(1_500);
/// assert_eq!(t + Duration::from_millis(500), Instant::from_secs(2));
/// assert_eq!(Instant::from_secs(2) - t, Duration::from_millis(500));
/// // Saturating: an earlier instant minus a later one is zero, not a panic.
/// assert_eq!(t - Instant::from_secs(2), Duration::ZERO);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
// Aligned to 4, not 8: an `Output` carrying a deadline then fits in 16 bytes
// beside an event, so the core queues outputs as they are handed out.
#[repr(C, packed(4))]
pub struct Instant {
    micros: u64,
}

impl Instant {
    /// The epoch.
    pub const ZERO: Instant = Instant { micros: 0 };
    /// The latest representable instant; adding to it saturates here.
    pub const MAX: Instant = Instant { micros: u64::MAX };

    /// An instant `micros` microseconds after the epoch.
    pub const fn from_micros(micros: u64) -> Instant {
        Instant { micros }
    }

    /// An instant `millis` milliseconds after the epoch (saturating).
    pub const fn from_millis(millis: u64) -> Instant {
        Instant {
            micros: millis.saturating_mul(1_000),
        }
    }

    /// An instant `secs` seconds after the epoch (saturating).
    pub const fn from_secs(secs: u64) -> Instant {
        Instant {
            micros: secs.saturating_mul(1_000_000),
        }
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> u64 {
        self.micros
    }

    /// Whole milliseconds since the epoch.
    pub const fn as_millis(self) -> u64 {
        self.micros / 1_000
    }

    /// The span from `earlier` to `self`, or zero if `earlier` is later.
    pub const fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.micros.saturating_sub(earlier.micros))
    }

    /// `self + span`, saturating at [`Instant::MAX`].
    pub const fn saturating_add(self, span: Duration) -> Instant {
        Instant {
            micros: self.micros.saturating_add(duration_micros(span)),
        }
    }

    /// `self + millis` milliseconds, saturating at [`Instant::MAX`].
    pub(crate) const fn add_millis(self, millis: u32) -> Instant {
        Instant {
            micros: self.micros.saturating_add(millis as u64 * 1_000),
        }
    }

    /// Whole milliseconds from `earlier` to `self`, saturating at `u32::MAX`
    /// (zero if `earlier` is later).
    pub(crate) const fn millis_since(self, earlier: Instant) -> u32 {
        micros_to_millis(self.micros.saturating_sub(earlier.micros))
    }

    /// `self - span`, saturating at [`Instant::ZERO`].
    pub const fn saturating_sub(self, span: Duration) -> Instant {
        Instant {
            micros: self.micros.saturating_sub(duration_micros(span)),
        }
    }
}

/// `micros / 1000`, saturating at `u32::MAX`, in 32-bit operations: a
/// 64-bit division is a kilobyte of code on a Cortex-M. With
/// `micros = hi · 2³² + lo` and `2³² = 1000 · 4 294 967 + 296`, the quotient
/// is `hi · 4 294 967 + lo / 1000 + (hi · 296 + lo % 1000) / 1000`.
pub(crate) const fn micros_to_millis(micros: u64) -> u32 {
    let hi = (micros >> 32) as u32;
    let lo = micros as u32;
    if hi >= 1_000 {
        return u32::MAX;
    }
    let whole = hi * 4_294_967 + lo / 1_000;
    let rest = (hi * 296 + lo % 1_000) / 1_000;
    whole.saturating_add(rest)
}

/// A span in whole microseconds, saturating at `u64::MAX`.
pub(crate) const fn duration_micros(span: Duration) -> u64 {
    let micros = span.as_micros();
    if micros > u64::MAX as u128 {
        u64::MAX
    } else {
        micros as u64
    }
}

/// A span in whole milliseconds if it fits the core's compact `u32` form:
/// below `u32::MAX` ms (49.7 days), which stays free as a sentinel.
pub(crate) fn millis_u32(span: Duration) -> Option<u32> {
    u32::try_from(span.as_millis()).ok().filter(|&ms| ms < u32::MAX)
}

/// A span in whole milliseconds, saturating at `u64::MAX`.
pub(crate) const fn duration_millis(span: Duration) -> u64 {
    let millis = span.as_millis();
    if millis > u64::MAX as u128 {
        u64::MAX
    } else {
        millis as u64
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, span: Duration) -> Instant {
        self.saturating_add(span)
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, span: Duration) -> Instant {
        self.saturating_sub(span)
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}s", self.micros / 1_000_000, self.micros % 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_at_both_ends() {
        assert_eq!(Instant::MAX + Duration::from_secs(1), Instant::MAX);
        assert_eq!(Instant::ZERO - Duration::from_secs(1), Instant::ZERO);
        assert_eq!(Instant::ZERO + Duration::MAX, Instant::MAX);
        assert_eq!(Instant::from_secs(u64::MAX), Instant::MAX);
        assert_eq!(Instant::ZERO - Instant::MAX, Duration::ZERO);
    }

    #[test]
    fn micros_to_millis_is_exact_and_saturates() {
        let mut rng = fastrand::Rng::with_seed(5);
        for _ in 0..100_000 {
            let micros = match rng.u8(0..3) {
                0 => rng.u64(..u64::from(u32::MAX)),
                1 => rng.u64(..1_000 * (1 << 32)),
                _ => rng.u64(..),
            };
            let exact = (micros / 1_000).min(u64::from(u32::MAX));
            assert_eq!(u64::from(micros_to_millis(micros)), exact, "{micros}");
        }
        assert_eq!(micros_to_millis(u64::MAX), u32::MAX);
        assert_eq!(micros_to_millis(999), 0);
        assert_eq!(micros_to_millis(1_000), 1);
    }

    #[test]
    fn units_agree() {
        assert_eq!(Instant::from_secs(3), Instant::from_millis(3_000));
        assert_eq!(Instant::from_millis(3), Instant::from_micros(3_000));
        assert_eq!(Instant::from_millis(1_234).as_millis(), 1_234);
        assert_eq!(duration_millis(Duration::MAX), u64::MAX);
    }
}

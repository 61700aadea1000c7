//! Jitter: how a computed delay is randomised so that a fleet of clients that
//! lost the same server does not come back in the same instant.

use fastrand::Rng;

/// How a base delay `d` is turned into the delay actually waited.
///
/// Proportions are in permille (‰): `Proportional(300)` is "+0–30 %",
/// `Symmetric(200)` is gRPC's "±20 %".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jitter {
    /// Exactly `d`. Deterministic, and a fleet stays in lockstep: for tests.
    None,
    /// Uniform in `[0, d]` (AWS "full jitter").
    Full,
    /// `d/2 + U(0, d/2)` (AWS "equal jitter").
    Equal,
    /// `min(cap, U(initial, 3 · previous delay))` (AWS "decorrelated jitter").
    /// The base delay `d` is ignored; the multiplier still bounds nothing.
    Decorrelated,
    /// `d + U(0, p · d)`, with `p` in permille; the "+30 %" style.
    Proportional(u16),
    /// `d · U(1 − p, 1 + p)`, with `p` in permille (at most 1000).
    Symmetric(u16),
}

impl Jitter {
    /// Whether the parameters make sense: `Symmetric` at most 1000 ‰,
    /// `Proportional` at most 10 000 ‰ (+1000 %).
    pub const fn is_valid(self) -> bool {
        match self {
            Jitter::Symmetric(p) => p <= 1_000,
            Jitter::Proportional(p) => p <= 10_000,
            _ => true,
        }
    }

    /// The delay to wait, in milliseconds, for a base delay `base_ms`.
    ///
    /// `initial_ms`, `cap_ms` and `previous_ms` are only used by
    /// [`Jitter::Decorrelated`]. Saturating integer arithmetic throughout.
    pub fn apply(self, rng: &mut Rng, base_ms: u64, initial_ms: u64, cap_ms: u64, previous_ms: u64) -> u64 {
        match self {
            Jitter::None => base_ms,
            Jitter::Full => rng.u64(0..=base_ms),
            Jitter::Equal => {
                let half = base_ms / 2;
                // base - half keeps odd values exact: 5 → 2 + U(0, 3).
                half + rng.u64(0..=base_ms - half)
            }
            Jitter::Decorrelated => {
                let high = previous_ms.max(initial_ms).saturating_mul(3);
                let low = initial_ms.min(high);
                rng.u64(low..=high).min(cap_ms.max(initial_ms))
            }
            Jitter::Proportional(p) => base_ms.saturating_add(rng.u64(0..=permille_of(base_ms, p))),
            Jitter::Symmetric(p) => {
                let spread = permille_of(base_ms, p.min(1_000));
                (base_ms - spread).saturating_add(rng.u64(0..=spread.saturating_mul(2)))
            }
        }
    }

    /// The largest delay [`Jitter::apply`] can return for `base_ms` (with `cap_ms`
    /// used by `Decorrelated`). Property tests and schedulers use it.
    pub fn max_for(self, base_ms: u64, cap_ms: u64) -> u64 {
        match self {
            Jitter::None | Jitter::Full | Jitter::Equal => base_ms,
            Jitter::Decorrelated => cap_ms,
            Jitter::Proportional(p) => base_ms.saturating_add(permille_of(base_ms, p)),
            Jitter::Symmetric(p) => base_ms.saturating_add(permille_of(base_ms, p.min(1_000))),
        }
    }
}

/// `value · p / 1000`, in 128-bit so no product overflows.
pub(crate) fn permille_of(value: u64, p: u16) -> u64 {
    let scaled = value as u128 * p as u128 / 1_000;
    scaled.min(u64::MAX as u128) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extreme_values_neither_overflow_nor_panic() {
        let mut rng = Rng::with_seed(1);
        for jitter in [
            Jitter::None,
            Jitter::Full,
            Jitter::Equal,
            Jitter::Decorrelated,
            Jitter::Proportional(10_000),
            Jitter::Symmetric(1_000),
            Jitter::Symmetric(u16::MAX),
        ] {
            for base in [0, 1, 2, u64::MAX / 2, u64::MAX] {
                let d = jitter.apply(&mut rng, base, base, u64::MAX, u64::MAX);
                assert!(d <= jitter.max_for(base, u64::MAX).max(base));
            }
        }
    }

    #[test]
    fn equal_jitter_keeps_the_lower_half() {
        let mut rng = Rng::with_seed(7);
        for _ in 0..1_000 {
            let d = Jitter::Equal.apply(&mut rng, 5, 0, 0, 0);
            assert!((2..=5).contains(&d));
        }
    }
}

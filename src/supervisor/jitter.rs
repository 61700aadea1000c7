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
    /// AWS "decorrelated jitter": uniform between the initial delay and three
    /// times the previous delay, at most the cap. It ignores `d` and the
    /// multiplier: each delay grows from the one drawn before it.
    Decorrelated,
    /// `d + U(0, p · d)`, with `p` in permille; the "+30 %" style.
    Proportional(u16),
    /// `d · U(1 − p, 1 + p)`, with `p` in permille (at most 1000).
    Symmetric(u16),
    /// One random phase `φ ∈ [0, 1]` per outage instead of a fresh draw per
    /// delay, and every base after the first at least `f` permille of the cap
    /// (at most 1000). Delay k is `(1 − φ) · base(k−1) + φ · base(k)` (the
    /// first `φ · initial`), so retry k lands at
    /// `base(0) + … + base(k−1) + φ · base(k)` after the drop. The bases tile
    /// time: whenever the server comes back, a fleet with uniform phases
    /// arrives at N / base per second, spread over one base and no more. The
    /// floor lets the first retry be quick while any later one spreads the
    /// fleet over at least `f ‰ · cap`.
    ///
    /// As a `cap_jitter` after phased growth the phase is kept; another cap
    /// jitter adds its randomness to the phased delay. As the cap jitter of
    /// another growth jitter it draws like [`Jitter::Full`].
    Phased(u16),
}

impl Jitter {
    /// Whether the parameters make sense: `Symmetric` and `Phased` at most
    /// 1000 ‰, `Proportional` at most 10 000 ‰ (+1000 %).
    pub const fn is_valid(self) -> bool {
        match self {
            Jitter::Symmetric(p) | Jitter::Phased(p) => p <= 1_000,
            Jitter::Proportional(p) => p <= 10_000,
            _ => true,
        }
    }

    /// The delay to wait, in milliseconds, for a base delay `base_ms`.
    ///
    /// `initial_ms`, `cap_ms` and `previous_ms` are only used by
    /// [`Jitter::Decorrelated`]. Saturating arithmetic in 64 bits, so no
    /// product overflows and no 128-bit code is needed on small targets.
    pub(crate) fn apply(self, rng: &mut Rng, base_ms: u32, initial_ms: u32, cap_ms: u32, previous_ms: u32) -> u32 {
        match self {
            Jitter::None => base_ms,
            // A single delay with a fresh phase is a full-jitter draw.
            Jitter::Full | Jitter::Phased(_) => rng.u32(0..=base_ms),
            Jitter::Equal => {
                let half = base_ms / 2;
                // base - half keeps odd values exact: 5 → 2 + U(0, 3).
                half + rng.u32(0..=base_ms - half)
            }
            Jitter::Decorrelated => {
                let high = previous_ms.max(initial_ms).saturating_mul(3);
                let low = initial_ms.min(high);
                rng.u32(low..=high).min(cap_ms.max(initial_ms))
            }
            Jitter::Proportional(p) => base_ms.saturating_add(rng.u32(0..=permille_of(base_ms, p))),
            Jitter::Symmetric(p) => {
                let spread = permille_of(base_ms, p.min(1_000));
                (base_ms - spread).saturating_add(rng.u32(0..=spread.saturating_mul(2)))
            }
        }
    }

    /// The largest delay [`Jitter::apply`] can return for `base_ms` (with
    /// `cap_ms` used by `Decorrelated`).
    #[cfg(test)]
    pub(crate) fn max_for(self, base_ms: u32, cap_ms: u32) -> u32 {
        match self {
            Jitter::None | Jitter::Full | Jitter::Equal | Jitter::Phased(_) => base_ms,
            Jitter::Decorrelated => cap_ms,
            Jitter::Proportional(p) => base_ms.saturating_add(permille_of(base_ms, p)),
            Jitter::Symmetric(p) => base_ms.saturating_add(permille_of(base_ms, p.min(1_000))),
        }
    }
}

/// `value · p / 1000`, saturating at `u32::MAX`.
pub(crate) fn permille_of(value: u32, p: u16) -> u32 {
    let scaled = u64::from(value) * u64::from(p) / 1_000;
    u32::try_from(scaled).unwrap_or(u32::MAX)
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
            Jitter::Phased(1_000),
        ] {
            for base in [0, 1, 2, u32::MAX / 2, u32::MAX] {
                let d = jitter.apply(&mut rng, base, base, u32::MAX, u32::MAX);
                assert!(d <= jitter.max_for(base, u32::MAX).max(base));
            }
        }
    }

    #[test]
    fn every_jitter_kind_stays_within_its_bounds() {
        let (initial, cap) = (100u32, 30_000u32);
        for seed in 0..200 {
            let mut rng = Rng::with_seed(seed);
            for base in [0u32, 1, 7, 100, 999, 30_000] {
                let previous = rng.u32(0..=cap);
                let mut d = |j: Jitter| j.apply(&mut rng, base, initial, cap, previous);
                assert_eq!(d(Jitter::None), base);
                assert!(d(Jitter::Full) <= base);
                let equal = d(Jitter::Equal);
                assert!(equal >= base / 2 && equal <= base);
                let decorrelated = d(Jitter::Decorrelated);
                assert!(decorrelated >= initial.min(cap) && decorrelated <= cap.min(3 * previous.max(initial)));
                let proportional = d(Jitter::Proportional(300));
                assert!(proportional >= base && proportional <= base + base * 3 / 10);
                let symmetric = d(Jitter::Symmetric(200));
                assert!(
                    symmetric >= base - base / 5 && symmetric <= base + base / 5,
                    "{symmetric} for {base}"
                );
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

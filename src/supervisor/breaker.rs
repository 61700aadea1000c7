//! What happens when the attempt limit or the outage budget runs out: give up,
//! or open a circuit breaker for a cool-down and then probe once.

use core::time::Duration;

/// The policy when attempts run out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LimitPolicy {
    /// Stop in `Failed` with a `GaveUp` event. The default: a caller who set a
    /// limit wants to hear about it.
    #[default]
    GiveUp,
    /// Open the breaker: wait `cool_down`, then allow a single probe attempt
    /// (half-open). A probe that fails opens it again; a probe whose link
    /// becomes stable closes it and resets the schedule.
    Breaker {
        /// How long the breaker stays open before the probe.
        cool_down: Duration,
    },
}

/// The breaker's position.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BreakerState {
    /// Attempts follow the backoff schedule.
    #[default]
    Closed,
    /// No attempts until the cool-down ends.
    Open,
    /// One probe attempt is allowed; its outcome opens or closes the breaker.
    HalfOpen,
}

//! Liveness of an open link: pings, pong deadlines and the idle (stale data)
//! deadline, kept in the supervisor's timer table.
//!
//! Any inbound frame proves the link is alive and postpones the next ping; only
//! data messages postpone the idle deadline, so a server that answers pings but
//! has stopped streaming is still caught. At most one ping is outstanding: the
//! next one is scheduled when something answers.

use core::time::Duration;

use super::config::Policy;
use super::timers::{Timer, TimerTable};
use crate::time::Instant;

/// Heartbeat settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeartbeatConfig {
    /// Send a ping after this long without any inbound frame; `None` sends no
    /// pings (and so never times out on a missing pong).
    pub ping_interval: Option<Duration>,
    /// Drop the link when no frame arrives this long after a ping.
    pub pong_timeout: Duration,
    /// Drop the link when no data message (text or binary) arrives for this
    /// long, pongs notwithstanding; `None` to disable.
    pub idle_timeout: Option<Duration>,
}

impl Default for HeartbeatConfig {
    /// Ping after 20 s of silence, give up 10 s later: a dead link is noticed
    /// within 30 s, well inside the 60 s after which most load balancers drop
    /// idle connections, and a slow but healthy mobile link is not mistaken
    /// for a dead one. No idle timeout: quiet feeds are normal.
    fn default() -> Self {
        HeartbeatConfig {
            ping_interval: Some(Duration::from_secs(20)),
            pong_timeout: Duration::from_secs(10),
            idle_timeout: None,
        }
    }
}

/// Sets `timer` to `now + ms`, or clears it when `ms` is zero ("none").
fn schedule(timers: &mut TimerTable, timer: Timer, now: Instant, ms: u32) {
    match ms {
        0 => timers.clear(timer),
        ms => timers.set(timer, now.add_millis(ms)),
    }
}

/// A link opened at `now`.
pub(crate) fn link_up(timers: &mut TimerTable, policy: &Policy, now: Instant) {
    schedule(timers, Timer::Ping, now, policy.ping_interval_ms);
    schedule(timers, Timer::Idle, now, policy.idle_timeout_ms);
    timers.clear(Timer::PongTimeout);
}

/// A frame arrived at `now`; `is_data` for text and binary messages.
pub(crate) fn inbound(timers: &mut TimerTable, policy: &Policy, now: Instant, is_data: bool) {
    timers.clear(Timer::PongTimeout);
    schedule(timers, Timer::Ping, now, policy.ping_interval_ms);
    if is_data {
        schedule(timers, Timer::Idle, now, policy.idle_timeout_ms);
    }
}

/// A ping goes out at `now`: wait for an answer, and no further ping until then.
pub(crate) fn ping_sent(timers: &mut TimerTable, policy: &Policy, now: Instant) {
    timers.clear(Timer::Ping);
    schedule(timers, Timer::PongTimeout, now, policy.pong_timeout_ms);
}

/// The link is gone: no heartbeat deadlines.
pub(crate) fn link_down(timers: &mut TimerTable) {
    for timer in [Timer::Ping, Timer::PongTimeout, Timer::Idle] {
        timers.clear(timer);
    }
}

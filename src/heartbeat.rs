//! Liveness of an open link: pings, pong deadlines and the idle (stale data)
//! deadline.
//!
//! Any inbound frame proves the link is alive and postpones the next ping; only
//! data messages postpone the idle deadline, so a server that answers pings but
//! has stopped streaming is still caught. At most one ping is outstanding.

use core::time::Duration;

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

/// What a heartbeat deadline asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeartbeatDue {
    /// Send a ping now.
    Ping,
    /// The pong did not come: the link is dead.
    PongTimeout,
    /// No data for the idle timeout: the feed is stale.
    IdleTimeout,
}

/// The heartbeat deadlines of one link.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Heartbeat {
    next_ping: Option<Instant>,
    pong_deadline: Option<Instant>,
    idle_deadline: Option<Instant>,
}

impl Heartbeat {
    /// Deadlines for a link that opened at `now`.
    pub fn start(config: &HeartbeatConfig, now: Instant) -> Heartbeat {
        Heartbeat {
            next_ping: config.ping_interval.map(|interval| now + interval),
            pong_deadline: None,
            idle_deadline: config.idle_timeout.map(|idle| now + idle),
        }
    }

    /// A frame arrived at `now`; `is_data` for text and binary messages.
    pub fn on_inbound(&mut self, config: &HeartbeatConfig, now: Instant, is_data: bool) {
        self.pong_deadline = None;
        self.next_ping = config.ping_interval.map(|interval| now + interval);
        if is_data {
            self.idle_deadline = config.idle_timeout.map(|idle| now + idle);
        }
    }

    /// Whether a ping is waiting for its pong.
    pub fn ping_outstanding(&self) -> bool {
        self.pong_deadline.is_some()
    }

    /// The earliest deadline and what it is for.
    pub fn next_deadline(&self) -> Option<(Instant, HeartbeatDue)> {
        // While a ping is outstanding the next ping waits: its slot is idle.
        let ping = if self.pong_deadline.is_some() {
            None
        } else {
            self.next_ping
        };
        [
            self.pong_deadline.map(|t| (t, HeartbeatDue::PongTimeout)),
            self.idle_deadline.map(|t| (t, HeartbeatDue::IdleTimeout)),
            ping.map(|t| (t, HeartbeatDue::Ping)),
        ]
        .into_iter()
        .flatten()
        .min_by_key(|(t, _)| *t)
    }

    /// Handles the deadline due at `now`, if any.
    pub fn on_timeout(&mut self, config: &HeartbeatConfig, now: Instant) -> Option<HeartbeatDue> {
        let (deadline, due) = self.next_deadline()?;
        if now < deadline {
            return None;
        }
        if due == HeartbeatDue::Ping {
            self.pong_deadline = Some(now + config.pong_timeout);
            self.next_ping = config.ping_interval.map(|interval| now + interval);
        }
        Some(due)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn config() -> HeartbeatConfig {
        HeartbeatConfig {
            ping_interval: Some(Duration::from_secs(10)),
            pong_timeout: Duration::from_secs(5),
            idle_timeout: Some(Duration::from_secs(60)),
        }
    }

    #[test]
    fn ping_then_pong_deadline_both_sides() {
        let c = config();
        let start = Instant::from_secs(100);
        let mut hb = Heartbeat::start(&c, start);
        let ping_at = start + Duration::from_secs(10);
        assert_eq!(hb.on_timeout(&c, ping_at - MS), None);
        assert_eq!(hb.on_timeout(&c, ping_at), Some(HeartbeatDue::Ping));
        assert!(hb.ping_outstanding());
        let pong_by = ping_at + Duration::from_secs(5);
        assert_eq!(hb.on_timeout(&c, pong_by - MS), None);
        assert_eq!(hb.on_timeout(&c, pong_by), Some(HeartbeatDue::PongTimeout));
    }

    #[test]
    fn inbound_frames_postpone_the_ping_but_not_the_idle_deadline() {
        let c = config();
        let mut hb = Heartbeat::start(&c, Instant::ZERO);
        for s in 1..=59 {
            hb.on_inbound(&c, Instant::from_secs(s), false);
            assert_eq!(hb.on_timeout(&c, Instant::from_secs(s)), None);
        }
        assert_eq!(hb.on_timeout(&c, Instant::from_secs(60) - MS), None);
        assert_eq!(
            hb.on_timeout(&c, Instant::from_secs(60)),
            Some(HeartbeatDue::IdleTimeout)
        );
    }

    #[test]
    fn at_most_one_ping_outstanding() {
        let c = HeartbeatConfig {
            pong_timeout: Duration::from_secs(25),
            ..config()
        };
        let mut hb = Heartbeat::start(&c, Instant::ZERO);
        assert_eq!(hb.on_timeout(&c, Instant::from_secs(10)), Some(HeartbeatDue::Ping));
        assert_eq!(hb.on_timeout(&c, Instant::from_secs(20)), None);
        assert_eq!(
            hb.on_timeout(&c, Instant::from_secs(35)),
            Some(HeartbeatDue::PongTimeout)
        );
    }
}

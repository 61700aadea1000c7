//! How long a link has been up, in total and now: the one implementation
//! behind [`crate::Snapshot`] and [`crate::feed::LinkHealth`].

use core::time::Duration;

use crate::time::Instant;

/// Up and down times of a link since `created`. Instants earlier than the
/// last change are taken as that change, so a clock that steps back cannot
/// make time negative.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Uptime {
    created: Instant,
    up_since: Option<Instant>,
    /// The last change, up or down (creation counts as down).
    changed: Instant,
    /// Up time of links that have ended.
    completed_up_micros: u64,
}

impl Uptime {
    pub(crate) const fn new(now: Instant) -> Uptime {
        Uptime {
            created: now,
            up_since: None,
            changed: now,
            completed_up_micros: 0,
        }
    }

    /// `now`, but never before the last change.
    pub(crate) fn clamp(&self, now: Instant) -> Instant {
        now.max(self.changed)
    }

    pub(crate) const fn created(&self) -> Instant {
        self.created
    }

    /// The link came up; `false` if it already was.
    pub(crate) fn link_up(&mut self, now: Instant) -> bool {
        if self.up_since.is_some() {
            return false;
        }
        let now = self.clamp(now);
        self.up_since = Some(now);
        self.changed = now;
        true
    }

    /// The link went down; the span it was up, if it was.
    pub(crate) fn link_down(&mut self, now: Instant) -> Option<(Instant, Instant)> {
        let up_since = self.up_since.take()?;
        let now = self.clamp(now);
        self.completed_up_micros = self
            .completed_up_micros
            .saturating_add(now.as_micros() - up_since.as_micros());
        self.changed = now;
        Some((up_since, now))
    }

    pub(crate) const fn up_since(&self) -> Option<Instant> {
        self.up_since
    }

    pub(crate) fn current_uptime(&self, now: Instant) -> Duration {
        self.up_since.map_or(Duration::ZERO, |since| self.clamp(now) - since)
    }

    pub(crate) fn total_uptime(&self, now: Instant) -> Duration {
        Duration::from_micros(self.completed_up_micros).saturating_add(self.current_uptime(now))
    }

    /// Time since the last change, up or down.
    pub(crate) fn time_in_state(&self, now: Instant) -> Duration {
        self.clamp(now) - self.changed
    }

    pub(crate) fn lifetime(&self, now: Instant) -> Duration {
        self.clamp(now) - self.created
    }

    /// Share of the lifetime spent up, in parts per million; at the creation
    /// instant, the current state.
    pub(crate) fn reliability_ppm(&self, now: Instant) -> u32 {
        let life = self.lifetime(now).as_micros();
        if life == 0 {
            return if self.up_since.is_some() { 1_000_000 } else { 0 };
        }
        let up = self.total_uptime(now).as_micros().min(life);
        u32::try_from(up * 1_000_000 / life).unwrap_or(u32::MAX)
    }
}

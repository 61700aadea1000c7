//! Uptime, reliability and reconnect rate of a link, in integer arithmetic.
//!
//! [`LinkHealth`] is told when the link comes up and goes down and answers the
//! questions an operator asks of a long-running feed: how long has this link
//! been up, what share of the last hour were we connected, how often are we
//! reconnecting. Recent history lives in a fixed ring of time buckets, so the
//! memory is constant however often the link flaps.

use core::fmt;
use core::time::Duration;

use crate::supervisor::Uptime;
use crate::time::{duration_micros, Instant};

/// How many buckets the sliding window is cut into.
const BUCKETS: usize = LinkHealth::BUCKETS;

const MICROS_PER_HOUR: u128 = 3_600_000_000;
const PPM: u64 = 1_000_000;

#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    /// Which bucket since creation this slot holds; a slot whose index is
    /// outside the window is stale.
    index: u64,
    /// Up time of links that ended, credited to the part inside this bucket.
    up_micros: u64,
    reconnects: u32,
}

/// Why a [`LinkHealth`] configuration was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkHealthConfigError {
    /// The window must be at least one microsecond per bucket
    /// ([`LinkHealth::BUCKETS`] µs).
    WindowTooShort,
}

impl fmt::Display for LinkHealthConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LinkHealthConfigError::WindowTooShort => {
                write!(f, "the link-health window must be at least {BUCKETS} microseconds")
            }
        }
    }
}

impl core::error::Error for LinkHealthConfigError {}

/// Tracks when a link is up and reports its uptime, reliability and
/// reconnect rate.
///
/// Time before the first [`link_up`](Self::link_up) counts as down: a session
/// that cannot connect is not reliable. `link_up` and `link_down` are
/// idempotent. Instants earlier than the last state change are treated as
/// that change, so a clock that steps back cannot make time negative.
///
/// The sliding window is cut into [`LinkHealth::BUCKETS`] buckets aligned to the creation
/// instant. At `now`, it covers the bucket holding `now` and the
/// `BUCKETS - 1` before it (never reaching before creation), so its length
/// varies between `BUCKETS - 1` and `BUCKETS` bucket widths; rates are
/// computed over the length actually covered.
///
/// A *reconnect* is every link after the session's first.
///
/// # Example
///
/// ```
/// use core::time::Duration;
/// use wstether::Instant;
/// use wstether::feed::LinkHealth;
///
/// let mut health = LinkHealth::new(Instant::ZERO, Duration::from_secs(3_600))?;
/// health.link_up(Instant::from_secs(10));
/// health.link_down(Instant::from_secs(70));
/// health.link_up(Instant::from_secs(100));
///
/// let now = Instant::from_secs(200);
/// assert_eq!(health.current_uptime(now), Duration::from_secs(100));
/// assert_eq!(health.total_uptime(now), Duration::from_secs(160));
/// assert_eq!(health.reliability_permille(now), 800); // 160 s of 200 s
/// assert_eq!(health.reconnects_in_window(now), 1);
/// assert_eq!(health.reconnects_per_hour(now), 18); // 1 in 200 s
/// # Ok::<(), wstether::feed::LinkHealthConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct LinkHealth {
    uptime: Uptime,
    bucket_micros: u64,
    links: u64,
    buckets: [Bucket; BUCKETS],
}

impl LinkHealth {
    /// How many buckets the sliding window is cut into. The window slides one
    /// bucket at a time, so this is also its resolution (1/60 of the window).
    pub const BUCKETS: usize = 60;

    /// Starts tracking at `now` with the link down, over a sliding `window`
    /// (rounded down to a whole number of microseconds per bucket).
    pub fn new(now: Instant, window: Duration) -> Result<LinkHealth, LinkHealthConfigError> {
        let bucket_micros = duration_micros(window) / BUCKETS as u64;
        if bucket_micros == 0 {
            return Err(LinkHealthConfigError::WindowTooShort);
        }
        Ok(LinkHealth {
            uptime: Uptime::new(now),
            bucket_micros,
            links: 0,
            buckets: [Bucket::default(); BUCKETS],
        })
    }

    /// The link came up at `now`. Does nothing if it is already up.
    pub fn link_up(&mut self, now: Instant) {
        if !self.uptime.link_up(now) {
            return;
        }
        let now = self.clamp(now);
        if self.links > 0 {
            let slot = self.bucket_mut(self.bucket_of(now));
            slot.reconnects = slot.reconnects.saturating_add(1);
        }
        self.links = self.links.saturating_add(1);
    }

    /// The link went down at `now`. Does nothing if it is already down.
    pub fn link_down(&mut self, now: Instant) {
        if let Some((up_since, now)) = self.uptime.link_down(now) {
            self.credit_up_time(up_since, now);
        }
    }

    /// Whether the link is up.
    pub const fn is_up(&self) -> bool {
        self.uptime.up_since().is_some()
    }

    /// When the current link came up, if it is up.
    pub const fn up_since(&self) -> Option<Instant> {
        self.uptime.up_since()
    }

    /// How long the current link has been up; zero while down.
    pub fn current_uptime(&self, now: Instant) -> Duration {
        self.uptime.current_uptime(now)
    }

    /// Up time summed over every link since creation, the current one
    /// included.
    pub fn total_uptime(&self, now: Instant) -> Duration {
        self.uptime.total_uptime(now)
    }

    /// How long the link has been in its current state (up or down).
    pub fn time_in_state(&self, now: Instant) -> Duration {
        self.uptime.time_in_state(now)
    }

    /// The share of the window the link was up, in parts per million.
    ///
    /// At the creation instant, when no time has passed, this is the current
    /// state: 1 000 000 if up, 0 if down.
    pub fn reliability_ppm(&self, now: Instant) -> u32 {
        let now = self.clamp(now);
        let covered = self.window_covered_micros(now);
        if covered == 0 {
            return if self.is_up() { PPM as u32 } else { 0 };
        }
        let up = self.window_up_micros(now).min(covered);
        let ppm = u128::from(up) * u128::from(PPM) / u128::from(covered);
        u32::try_from(ppm).unwrap_or(u32::MAX)
    }

    /// The share of the window the link was up, in thousandths (rounded
    /// down).
    pub fn reliability_permille(&self, now: Instant) -> u16 {
        u16::try_from(self.reliability_ppm(now) / 1_000).unwrap_or(u16::MAX)
    }

    /// Reconnects whose link came up inside the window.
    pub fn reconnects_in_window(&self, now: Instant) -> u64 {
        let now = self.clamp(now);
        let (first, last) = self.window_buckets(now);
        self.buckets
            .iter()
            .filter(|slot| (first..=last).contains(&slot.index))
            .fold(0u64, |total, slot| total.saturating_add(u64::from(slot.reconnects)))
    }

    /// Reconnects in the window, scaled to one hour (rounded down). Zero when
    /// no time has passed.
    pub fn reconnects_per_hour(&self, now: Instant) -> u64 {
        let now = self.clamp(now);
        let covered = self.window_covered_micros(now);
        if covered == 0 {
            return 0;
        }
        let per_hour = u128::from(self.reconnects_in_window(now)) * MICROS_PER_HOUR / u128::from(covered);
        u64::try_from(per_hour).unwrap_or(u64::MAX)
    }

    /// Links that have come up since creation.
    pub const fn links(&self) -> u64 {
        self.links
    }

    /// Links since creation after the first one.
    pub const fn reconnects(&self) -> u64 {
        self.links.saturating_sub(1)
    }

    /// The full window: [`LinkHealth::BUCKETS`] bucket widths.
    pub const fn window(&self) -> Duration {
        Duration::from_micros(self.bucket_micros.saturating_mul(BUCKETS as u64))
    }

    /// The width of one bucket, the step by which the window slides.
    pub const fn bucket_width(&self) -> Duration {
        Duration::from_micros(self.bucket_micros)
    }

    /// The start of the window at `now`; bucket-aligned, never before
    /// creation.
    pub fn window_start(&self, now: Instant) -> Instant {
        let (first, _) = self.window_buckets(self.clamp(now));
        self.bucket_start(first)
    }

    fn clamp(&self, now: Instant) -> Instant {
        self.uptime.clamp(now)
    }

    fn bucket_of(&self, at: Instant) -> u64 {
        micros_between(self.uptime.created(), at) / self.bucket_micros
    }

    fn bucket_start(&self, index: u64) -> Instant {
        Instant::from_micros(
            self.uptime
                .created()
                .as_micros()
                .saturating_add(index.saturating_mul(self.bucket_micros)),
        )
    }

    /// The first and last bucket index of the window at `now`.
    fn window_buckets(&self, now: Instant) -> (u64, u64) {
        let last = self.bucket_of(now);
        (last.saturating_sub(BUCKETS as u64 - 1), last)
    }

    fn window_covered_micros(&self, now: Instant) -> u64 {
        let (first, _) = self.window_buckets(now);
        micros_between(self.bucket_start(first), now)
    }

    fn window_up_micros(&self, now: Instant) -> u64 {
        let (first, last) = self.window_buckets(now);
        let ended_links = self
            .buckets
            .iter()
            .filter(|slot| (first..=last).contains(&slot.index))
            .fold(0u64, |total, slot| total.saturating_add(slot.up_micros));
        // The current link is credited to buckets only when it ends.
        let current = self.uptime.up_since().map_or(0, |up_since| {
            micros_between(up_since.max(self.bucket_start(first)), now)
        });
        ended_links.saturating_add(current)
    }

    /// The slot for bucket `index`, emptied first if it held an older bucket.
    fn bucket_mut(&mut self, index: u64) -> &mut Bucket {
        // The remainder is below `BUCKETS`, so the index is always in bounds.
        let slot = &mut self.buckets[(index % BUCKETS as u64) as usize];
        if slot.index != index {
            *slot = Bucket {
                index,
                up_micros: 0,
                reconnects: 0,
            };
        }
        slot
    }

    /// Spreads the up time `from..to` over the buckets it touches. Buckets
    /// more than a window before `to` can never be read again, so at most
    /// [`LinkHealth::BUCKETS`] are touched.
    fn credit_up_time(&mut self, from: Instant, to: Instant) {
        let first = self
            .bucket_of(from)
            .max(self.bucket_of(to).saturating_sub(BUCKETS as u64 - 1));
        let last = self.bucket_of(to);
        let mut index = first;
        while index <= last {
            let start = self.bucket_start(index).max(from);
            let end = self.bucket_start(index.saturating_add(1)).min(to);
            let overlap = micros_between(start, end);
            if overlap > 0 {
                let slot = self.bucket_mut(index);
                slot.up_micros = slot.up_micros.saturating_add(overlap);
            }
            let Some(next) = index.checked_add(1) else {
                break;
            };
            index = next;
        }
    }
}

fn micros_between(earlier: Instant, later: Instant) -> u64 {
    later.as_micros().saturating_sub(earlier.as_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(secs: u64) -> Instant {
        Instant::from_secs(secs)
    }

    fn minute_window() -> LinkHealth {
        // One-second buckets.
        LinkHealth::new(Instant::ZERO, Duration::from_secs(60)).unwrap()
    }

    #[test]
    fn too_short_window_is_refused() {
        assert_eq!(
            LinkHealth::new(Instant::ZERO, Duration::from_micros(59)).err(),
            Some(LinkHealthConfigError::WindowTooShort)
        );
        assert!(LinkHealth::new(Instant::ZERO, Duration::from_micros(60)).is_ok());
        assert!(LinkHealth::new(Instant::ZERO, Duration::MAX).is_ok());
    }

    #[test]
    fn up_and_down_are_idempotent() {
        let mut health = minute_window();
        health.link_up(secs(1));
        health.link_up(secs(5));
        assert_eq!(health.current_uptime(secs(10)), Duration::from_secs(9));
        assert_eq!(health.links(), 1);
        health.link_down(secs(10));
        health.link_down(secs(20));
        assert_eq!(health.time_in_state(secs(30)), Duration::from_secs(20));
        assert_eq!(health.total_uptime(secs(30)), Duration::from_secs(9));
        assert_eq!(health.current_uptime(secs(30)), Duration::ZERO);
    }

    #[test]
    fn window_slides_one_bucket_at_a_time() {
        let mut health = minute_window();
        health.link_up(Instant::ZERO);
        health.link_down(secs(10));
        let edge = secs(60);
        let before = edge - Duration::from_micros(1);
        // Just before the edge the window still starts at creation.
        assert_eq!(health.window_start(before), Instant::ZERO);
        assert_eq!(
            health.reliability_ppm(before),
            (10_000_000u128 * 1_000_000 / 59_999_999) as u32
        );
        // At the edge the first second leaves the window.
        assert_eq!(health.window_start(edge), secs(1));
        assert_eq!(health.reliability_ppm(edge), 9 * 1_000_000 / 59);
    }

    #[test]
    fn current_link_is_counted_only_inside_the_window() {
        let mut health = minute_window();
        health.link_up(secs(0));
        assert_eq!(health.reliability_ppm(secs(500)), 1_000_000);
        assert_eq!(health.window_start(secs(500)), secs(441));
        health.link_down(secs(500));
        assert_eq!(health.reliability_ppm(secs(500)), 1_000_000);
        // 471..500 of the window 471..530 was up.
        assert_eq!(health.reliability_ppm(secs(530)), 29 * 1_000_000 / 59);
        assert_eq!(health.total_uptime(secs(530)), Duration::from_secs(500));
    }

    #[test]
    fn reconnects_leave_the_window() {
        let mut health = minute_window();
        health.link_up(secs(0)); // the first link is not a reconnect
        health.link_down(secs(1));
        health.link_up(secs(2));
        assert_eq!(health.reconnects(), 1);
        assert_eq!(health.reconnects_in_window(secs(2)), 1);
        assert_eq!(health.reconnects_per_hour(secs(2)), 1_800);
        assert_eq!(health.reconnects_in_window(secs(62) - Duration::from_micros(1)), 1);
        assert_eq!(health.reconnects_in_window(secs(62)), 0);
    }

    #[test]
    fn creation_instant_reflects_the_state() {
        let mut health = minute_window();
        assert_eq!(health.reliability_ppm(Instant::ZERO), 0);
        assert_eq!(health.reconnects_per_hour(Instant::ZERO), 0);
        health.link_up(Instant::ZERO);
        assert_eq!(health.reliability_ppm(Instant::ZERO), 1_000_000);
    }

    #[test]
    fn time_stepping_back_is_clamped() {
        let mut health = minute_window();
        health.link_up(secs(10));
        health.link_down(secs(5));
        assert_eq!(health.total_uptime(secs(1)), Duration::ZERO);
        assert_eq!(health.time_in_state(secs(1)), Duration::ZERO);
    }

    #[test]
    fn extreme_instants_do_not_overflow() {
        let mut health = LinkHealth::new(Instant::MAX, Duration::MAX).unwrap();
        health.link_up(Instant::MAX);
        health.link_down(Instant::MAX);
        health.link_up(Instant::MAX);
        assert_eq!(health.reliability_ppm(Instant::MAX), 1_000_000);
        let mut health = LinkHealth::new(Instant::ZERO, Duration::from_micros(60)).unwrap();
        health.link_up(Instant::ZERO);
        health.link_down(Instant::MAX);
        assert_eq!(health.reliability_ppm(Instant::MAX), 1_000_000);
        assert_eq!(health.total_uptime(Instant::MAX), Duration::from_micros(u64::MAX));
    }
}

//! An NTP-style estimate of how far the server's wall clock is from ours.
//!
//! Feeds stamp their messages with the server's wall-clock time; to measure
//! latency or to act at a server time, a client needs to map those stamps onto
//! its own monotonic [`Instant`]. Each request/response pair (a ping, or a
//! "server time" call) gives one sample: the local send and receive instants
//! and the server's clock in between. [`ClockOffset`] keeps the `W` most recent
//! samples and trusts the one with the shortest round trip, whose midpoint is
//! the least ambiguous.

use core::fmt;
use core::time::Duration;

use heapless::Deque;

use crate::time::Instant;

/// Why a clock sample was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockSampleError {
    /// The reply was received before the request was sent: the instants are
    /// swapped or come from different clocks.
    ReceivedBeforeSent,
}

impl fmt::Display for ClockSampleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClockSampleError::ReceivedBeforeSent => f.write_str("clock sample received before it was sent"),
        }
    }
}

impl core::error::Error for ClockSampleError {}

/// One accepted sample, reduced to what the estimate needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sample {
    /// Server clock minus local clock at the midpoint, in microseconds.
    offset_micros: i64,
    round_trip_micros: u64,
}

/// Estimates the server's clock offset from the `W` most recent samples.
///
/// The offset is `server_time − (sent + received) / 2`, in microseconds: add
/// it to a local instant to get server time. If the server stamped its reply
/// anywhere between our send and our receive, the true offset lies within
/// half the round trip of the estimate (see
/// [`uncertainty`](Self::uncertainty)). Of the kept samples, the one with the
/// shortest round trip wins (the newest on a tie), since queueing delay only
/// ever adds to a round trip.
///
/// Server time is a signed count of microseconds on the server's wall clock
/// (usually since the Unix epoch); local time is this crate's monotonic
/// [`Instant`]. Arithmetic is integer and saturating. `W` must be at least
/// one; `W == 0` is refused at compile time.
///
/// # Example
///
/// ```
/// use core::time::Duration;
/// use wstether::Instant;
/// use wstether::feed::ClockOffset;
///
/// let mut clock = ClockOffset::<8>::new();
/// // Sent at local 10 s, answered 40 ms later; the server said 1_700_000_000.020 s.
/// let sent = Instant::from_secs(10);
/// let received = sent + Duration::from_millis(40);
/// clock.add_sample(sent, 1_700_000_000_020_000, received)?;
///
/// assert_eq!(clock.round_trip(), Some(Duration::from_millis(40)));
/// assert_eq!(clock.offset_micros(), Some(1_700_000_000_020_000 - 10_020_000));
/// assert_eq!(clock.uncertainty(), Some(Duration::from_millis(20)));
/// // A trade the server stamped 980 ms after its reply happened at local 11 s.
/// let trade = 1_700_000_001_000_000;
/// assert_eq!(clock.server_to_local(trade), Some(Instant::from_secs(11)));
/// assert_eq!(clock.local_to_server(Instant::from_secs(11)), Some(trade));
/// # Ok::<(), wstether::feed::ClockSampleError>(())
/// ```
#[derive(Clone, Debug)]
pub struct ClockOffset<const W: usize> {
    samples: Deque<Sample, W>,
    best: Option<Sample>,
}

impl<const W: usize> Default for ClockOffset<W> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const W: usize> ClockOffset<W> {
    /// An estimator with no samples yet.
    pub const fn new() -> Self {
        ClockOffset {
            samples: Deque::new(),
            best: None,
        }
    }

    /// Adds one exchange: the request left at `sent`, the server's clock read
    /// `server_time_micros` while answering, the reply arrived at `received`.
    /// The oldest sample is dropped once `W` are kept.
    pub fn add_sample(
        &mut self,
        sent: Instant,
        server_time_micros: i64,
        received: Instant,
    ) -> Result<(), ClockSampleError> {
        if received < sent {
            return Err(ClockSampleError::ReceivedBeforeSent);
        }
        let round_trip_micros = received.as_micros().saturating_sub(sent.as_micros());
        // sent + rtt / 2 cannot pass `received`, so it cannot overflow.
        let midpoint = sent.as_micros().saturating_add(round_trip_micros / 2);
        let offset = i128::from(server_time_micros) - i128::from(midpoint);
        let sample = Sample {
            offset_micros: clamp_to_i64(offset),
            round_trip_micros,
        };
        if self.samples.is_full() {
            self.samples.pop_front();
        }
        // Cannot fail: a slot was just freed and `W > 0`.
        let _ = self.samples.push_back(sample);
        self.best = self
            .samples
            .iter()
            .fold(None, |best: Option<Sample>, &candidate| match best {
                Some(best) if best.round_trip_micros < candidate.round_trip_micros => Some(best),
                _ => Some(candidate),
            });
        Ok(())
    }

    /// Server clock minus local clock, in microseconds, from the best sample.
    pub fn offset_micros(&self) -> Option<i64> {
        self.best.map(|best| best.offset_micros)
    }

    /// The round trip of the best sample.
    pub fn round_trip(&self) -> Option<Duration> {
        self.best.map(|best| Duration::from_micros(best.round_trip_micros))
    }

    /// Half the best round trip: how far the true offset can be from
    /// [`offset_micros`](Self::offset_micros) when the server stamped its
    /// reply between our send and our receive.
    pub fn uncertainty(&self) -> Option<Duration> {
        self.best.map(|best| Duration::from_micros(best.round_trip_micros / 2))
    }

    /// The local instant at which the server's clock read
    /// `server_time_micros`, saturating at the ends of [`Instant`].
    pub fn server_to_local(&self, server_time_micros: i64) -> Option<Instant> {
        let offset = self.offset_micros()?;
        let local = i128::from(server_time_micros) - i128::from(offset);
        let micros = u64::try_from(local.max(0)).unwrap_or(u64::MAX);
        Some(Instant::from_micros(micros))
    }

    /// What the server's clock reads at the local instant `local`, in
    /// microseconds, saturating at the ends of `i64`.
    pub fn local_to_server(&self, local: Instant) -> Option<i64> {
        let offset = self.offset_micros()?;
        Some(clamp_to_i64(i128::from(local.as_micros()) + i128::from(offset)))
    }

    /// How many samples are kept.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether no sample is kept.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Drops every sample, for example after the server changed.
    pub fn clear(&mut self) {
        self.samples.clear();
        self.best = None;
    }
}

fn clamp_to_i64(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_before_sent_is_refused() {
        let mut clock = ClockOffset::<4>::new();
        assert_eq!(
            clock.add_sample(Instant::from_secs(2), 0, Instant::from_secs(1)),
            Err(ClockSampleError::ReceivedBeforeSent)
        );
        assert!(clock.is_empty());
        assert_eq!(clock.offset_micros(), None);
        assert_eq!(clock.server_to_local(5), None);
    }

    #[test]
    fn shortest_round_trip_wins_and_newest_breaks_ties() {
        let mut clock = ClockOffset::<4>::new();
        let t = Instant::from_secs(100);
        clock.add_sample(t, 1_000, t + Duration::from_millis(30)).unwrap();
        clock.add_sample(t, 2_000, t + Duration::from_millis(10)).unwrap();
        clock.add_sample(t, 3_000, t + Duration::from_millis(50)).unwrap();
        assert_eq!(clock.round_trip(), Some(Duration::from_millis(10)));
        assert_eq!(clock.offset_micros(), Some(2_000 - 100_005_000));
        clock.add_sample(t, 4_000, t + Duration::from_millis(10)).unwrap();
        assert_eq!(clock.offset_micros(), Some(4_000 - 100_005_000));
    }

    #[test]
    fn only_the_last_w_samples_count() {
        let mut clock = ClockOffset::<2>::new();
        let t = Instant::ZERO;
        clock.add_sample(t, 0, t + Duration::from_micros(2)).unwrap();
        clock.add_sample(t, 10, t + Duration::from_micros(8)).unwrap();
        assert_eq!(clock.offset_micros(), Some(-1));
        clock.add_sample(t, 20, t + Duration::from_micros(6)).unwrap();
        // The 2 µs sample has aged out.
        assert_eq!(clock.offset_micros(), Some(17));
        assert_eq!(clock.len(), 2);
    }

    #[test]
    fn conversions_saturate() {
        let mut clock = ClockOffset::<1>::new();
        clock.add_sample(Instant::MAX, i64::MIN, Instant::MAX).unwrap();
        assert_eq!(clock.offset_micros(), Some(i64::MIN));
        assert_eq!(clock.server_to_local(i64::MAX), Some(Instant::MAX));
        assert_eq!(clock.local_to_server(Instant::ZERO), Some(i64::MIN));

        clock.add_sample(Instant::ZERO, i64::MAX, Instant::ZERO).unwrap();
        assert_eq!(clock.server_to_local(i64::MIN), Some(Instant::ZERO));
        assert_eq!(clock.local_to_server(Instant::MAX), Some(i64::MAX));
    }
}

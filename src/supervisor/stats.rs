//! Counters, a delay histogram, uptime and time per state, gathered from the
//! supervisor's events and rendered as Prometheus text.
//!
//! [`Stats`] lives beside the supervisor, not inside it: the driver hands it
//! every event it drains. A device that needs no metrics pays nothing for
//! them, and the supervisor stays small.

use core::fmt::{self, Write};
use core::time::Duration;

use super::event::{Event, State};
use super::failure::{Cause, FailureClass};
use super::uptime::Uptime;
use crate::time::{duration_millis, Instant};

/// Upper bounds of the reconnect-delay histogram buckets, in seconds; a last
/// bucket takes everything longer.
pub const DELAY_BUCKETS_SECS: [u64; 8] = [1, 2, 5, 10, 20, 30, 60, 120];

/// The counters of a session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Connection attempts started.
    pub attempts: u64,
    /// Attempts that opened a link.
    pub connects: u64,
    /// Failures (of attempts and of links) classified transient.
    pub failures_transient: u64,
    /// Failures where the server asked us to come back later.
    pub failures_retry_later: u64,
    /// Failures classified permanent.
    pub failures_permanent: u64,
    /// Open links that ended (not counting the caller's close).
    pub disconnects: u64,
    /// Links dropped for a missing pong.
    pub heartbeat_timeouts: u64,
    /// Links dropped for missing data.
    pub idle_timeouts: u64,
    /// Times the attempt limit or outage budget ran out (give-ups and breaker
    /// openings).
    pub limit_reached: u64,
    /// Events lost because they were not drained in time.
    pub events_dropped: u64,
    /// Reconnect delays by bucket (see [`DELAY_BUCKETS_SECS`]), not cumulative.
    pub delay_buckets: [u64; DELAY_BUCKETS_SECS.len() + 1],
    /// Sum of all reconnect delays, in milliseconds.
    pub delay_sum_ms: u64,
}

impl Counters {
    /// Reconnect delays recorded.
    pub fn delays(&self) -> u64 {
        self.delay_buckets.iter().fold(0u64, |a, b| a.saturating_add(*b))
    }
}

/// Statistics of a supervisor's session, fed with its events.
///
/// ```
/// use wstether::{Config, Instant, Output, Stats, Supervisor};
/// let now = Instant::ZERO;
/// let mut sup = Supervisor::new(Config::default(), 7).unwrap();
/// let mut stats = Stats::new(now);
/// sup.start(now);
/// while let Output::Action(_) | Output::Event(_) = {
///     let output = sup.poll_output();
///     if let Output::Event(event) = output {
///         stats.record(now, &event);
///     }
///     output
/// } {}
/// assert_eq!(stats.snapshot(now).counters.attempts, 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    counters: Counters,
    state: State,
    state_since: Instant,
    /// Time spent in each state that has been left, in milliseconds, indexed
    /// like [`State::ALL`].
    closed_state_ms: [u64; 6],
    uptime: Uptime,
}

impl Stats {
    /// Statistics starting at `now`, in `Idle`.
    pub const fn new(now: Instant) -> Stats {
        Stats {
            counters: Counters {
                attempts: 0,
                connects: 0,
                failures_transient: 0,
                failures_retry_later: 0,
                failures_permanent: 0,
                disconnects: 0,
                heartbeat_timeouts: 0,
                idle_timeouts: 0,
                limit_reached: 0,
                events_dropped: 0,
                delay_buckets: [0; DELAY_BUCKETS_SECS.len() + 1],
                delay_sum_ms: 0,
            },
            state: State::Idle,
            state_since: now,
            closed_state_ms: [0; 6],
            uptime: Uptime::new(now),
        }
    }

    /// The counters so far.
    pub const fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Records an event drained at `now`.
    pub fn record(&mut self, now: Instant, event: &Event) {
        let c = &mut self.counters;
        let bump = |counter: &mut u64| *counter = counter.saturating_add(1);
        match *event {
            Event::AttemptStarted { .. } => bump(&mut c.attempts),
            Event::Connected { .. } => {
                bump(&mut c.connects);
                self.uptime.link_up(now);
            }
            // A rejection follows the failed attempt or the lost link it names,
            // where its failure was counted already.
            Event::ConnectFailed { failure, .. } => record_class(c, failure.class),
            Event::Disconnected { failure } => {
                bump(&mut c.disconnects);
                record_class(c, failure.class);
                match failure.cause {
                    Cause::HeartbeatTimeout => bump(&mut c.heartbeat_timeouts),
                    Cause::IdleTimeout => bump(&mut c.idle_timeouts),
                    _ => {}
                }
                self.uptime.link_down(now);
            }
            Event::ReconnectScheduled { delay, .. } => {
                let ms = u64::from(delay.delay_ms());
                let bucket = DELAY_BUCKETS_SECS
                    .iter()
                    .position(|&secs| ms <= secs * 1_000)
                    .unwrap_or(DELAY_BUCKETS_SECS.len());
                if let Some(count) = c.delay_buckets.get_mut(bucket) {
                    bump(count);
                }
                c.delay_sum_ms = c.delay_sum_ms.saturating_add(ms);
            }
            Event::GaveUp { .. } | Event::BreakerOpened { .. } => bump(&mut c.limit_reached),
            Event::EventsDropped { count } => c.events_dropped = c.events_dropped.saturating_add(u64::from(count)),
            Event::Stopped => {
                self.uptime.link_down(now);
            }
            _ => {}
        }
        if let Some(to) = event.entered_state() {
            self.enter(now, to);
        }
    }

    fn enter(&mut self, now: Instant, to: State) {
        if to == self.state {
            return;
        }
        let now = now.max(self.state_since);
        let slot = &mut self.closed_state_ms[self.state.index()];
        *slot = slot.saturating_add(duration_millis(now - self.state_since));
        self.state = to;
        self.state_since = now;
    }

    /// A consistent view as of `now`.
    pub fn snapshot(&self, now: Instant) -> Snapshot {
        let now = self.uptime.clamp(now).max(self.state_since);
        Snapshot {
            counters: self.counters,
            state: self.state,
            in_state: now - self.state_since,
            current_uptime: self.uptime.current_uptime(now),
            total_uptime: self.uptime.total_uptime(now),
            lifetime: self.uptime.lifetime(now),
            reliability_ppm: self.uptime.reliability_ppm(now),
            closed_state_ms: self.closed_state_ms,
        }
    }
}

fn record_class(c: &mut Counters, class: FailureClass) {
    let counter = match class {
        FailureClass::Transient => &mut c.failures_transient,
        FailureClass::RetryLater { .. } => &mut c.failures_retry_later,
        FailureClass::Permanent => &mut c.failures_permanent,
    };
    *counter = counter.saturating_add(1);
}

/// The statistics at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The counters.
    pub counters: Counters,
    /// Current state.
    pub state: State,
    /// Time in the current state.
    pub in_state: Duration,
    /// Uptime of the current link (zero when not connected).
    pub current_uptime: Duration,
    /// Total time connected, this link included.
    pub total_uptime: Duration,
    /// Time since the statistics started.
    pub lifetime: Duration,
    /// Share of the lifetime spent connected, in parts per million.
    pub reliability_ppm: u32,
    closed_state_ms: [u64; 6],
}

impl Snapshot {
    /// Time spent in `state` so far, the current stay included.
    pub fn time_in(&self, state: State) -> Duration {
        let closed = Duration::from_millis(self.closed_state_ms[state.index()]);
        if state == self.state {
            closed.saturating_add(self.in_state)
        } else {
            closed
        }
    }

    /// Writes Prometheus text exposition (format 0.0.4) to `out`. Every metric
    /// is named `wstether_*` and carries `labels` (name, value) pairs; values
    /// are escaped, names must be valid label names.
    ///
    /// ```
    /// # use wstether::{Instant, Stats};
    /// let stats = Stats::new(Instant::ZERO);
    /// let mut text = heapless::String::<8192>::new();
    /// stats.snapshot(Instant::ZERO).write_prometheus(&mut text, &[("feed", "trades")]).unwrap();
    /// assert!(text.contains("wstether_attempts_total{feed=\"trades\"} 0"));
    /// ```
    pub fn write_prometheus(&self, out: &mut impl Write, labels: &[(&str, &str)]) -> fmt::Result {
        let c = &self.counters;
        let counters: [(&str, &str, u64); 10] = [
            ("attempts_total", "Connection attempts started.", c.attempts),
            ("connects_total", "Attempts that opened a link.", c.connects),
            ("disconnects_total", "Open links that ended.", c.disconnects),
            (
                "heartbeat_timeouts_total",
                "Links dropped for a missing pong.",
                c.heartbeat_timeouts,
            ),
            (
                "idle_timeouts_total",
                "Links dropped for missing data.",
                c.idle_timeouts,
            ),
            (
                "limit_reached_total",
                "Times the attempt limit or budget ran out.",
                c.limit_reached,
            ),
            (
                "events_dropped_total",
                "Events lost before they were drained.",
                c.events_dropped,
            ),
            (
                "failures_transient_total",
                "Failures classified transient.",
                c.failures_transient,
            ),
            (
                "failures_retry_later_total",
                "Failures where the server asked to come back later.",
                c.failures_retry_later,
            ),
            (
                "failures_permanent_total",
                "Failures classified permanent.",
                c.failures_permanent,
            ),
        ];
        for (name, help, value) in counters {
            header(out, name, help, "counter")?;
            sample(out, name, labels, None, &value)?;
        }

        header(out, "reconnect_delay_seconds", "Reconnect delays drawn.", "histogram")?;
        let mut cumulative = 0u64;
        for (i, count) in c.delay_buckets.iter().enumerate() {
            cumulative = cumulative.saturating_add(*count);
            let mut le = heapless::String::<8>::new();
            match DELAY_BUCKETS_SECS.get(i) {
                Some(secs) => write!(le, "{secs}")?,
                None => le.push_str("+Inf").map_err(|_| fmt::Error)?,
            }
            sample(
                out,
                "reconnect_delay_seconds_bucket",
                labels,
                Some(("le", &le)),
                &cumulative,
            )?;
        }
        sample(
            out,
            "reconnect_delay_seconds_sum",
            labels,
            None,
            &Millis(c.delay_sum_ms),
        )?;
        sample(out, "reconnect_delay_seconds_count", labels, None, &cumulative)?;

        let gauges: [(&str, &str, Duration); 4] = [
            ("uptime_seconds", "Total time connected.", self.total_uptime),
            (
                "link_uptime_seconds",
                "Uptime of the current link.",
                self.current_uptime,
            ),
            ("lifetime_seconds", "Time since start.", self.lifetime),
            ("state_seconds", "Time in the current state.", self.in_state),
        ];
        for (name, help, span) in gauges {
            header(out, name, help, "gauge")?;
            sample(out, name, labels, None, &Millis(duration_millis(span)))?;
        }
        header(
            out,
            "reliability_ratio",
            "Share of the lifetime spent connected.",
            "gauge",
        )?;
        sample(out, "reliability_ratio", labels, None, &Ppm(self.reliability_ppm))?;
        header(out, "state", "1 for the current state.", "gauge")?;
        for state in State::ALL {
            let value = u64::from(state == self.state);
            sample(out, "state", labels, Some(("state", state.name())), &value)?;
        }
        Ok(())
    }
}

/// Milliseconds printed as seconds with three decimals, without floats.
struct Millis(u64);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1_000, self.0 % 1_000)
    }
}

/// Parts per million printed as a ratio with six decimals.
struct Ppm(u32);

impl fmt::Display for Ppm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

fn header(out: &mut impl Write, name: &str, help: &str, kind: &str) -> fmt::Result {
    writeln!(out, "# HELP wstether_{name} {help}")?;
    writeln!(out, "# TYPE wstether_{name} {kind}")
}

fn sample(
    out: &mut impl Write,
    name: &str,
    labels: &[(&str, &str)],
    extra: Option<(&str, &str)>,
    value: &dyn fmt::Display,
) -> fmt::Result {
    write!(out, "wstether_{name}")?;
    if !labels.is_empty() || extra.is_some() {
        out.write_char('{')?;
        for (i, (name, value)) in labels.iter().chain(extra.iter()).enumerate() {
            if i > 0 {
                out.write_char(',')?;
            }
            write!(out, "{name}=\"")?;
            for c in value.chars() {
                match c {
                    '\\' => out.write_str("\\\\")?,
                    '"' => out.write_str("\\\"")?,
                    '\n' => out.write_str("\\n")?,
                    c => out.write_char(c)?,
                }
            }
            out.write_char('"')?;
        }
        out.write_char('}')?;
    }
    writeln!(out, " {value}")
}

//! Counters, a delay histogram and uptime, rendered as Prometheus text.

use core::fmt::{self, Write};
use core::time::Duration;

use crate::event::State;
use crate::failure::{Failure, FailureClass};
use crate::time::duration_millis;

/// Upper bounds of the reconnect-delay histogram buckets, in seconds; a last
/// bucket takes everything longer.
pub const DELAY_BUCKETS_SECS: [u64; 8] = [1, 2, 5, 10, 20, 30, 60, 120];

/// Counters and timings of a supervisor's whole session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connection attempts started.
    pub attempts: u64,
    /// Attempts that opened a link.
    pub connects: u64,
    /// Failures (of attempts and of links) classified transient.
    pub failures_transient: u64,
    /// Failures classified rate-limited.
    pub failures_rate_limited: u64,
    /// Failures classified permanent.
    pub failures_permanent: u64,
    /// Open links that ended (not counting the caller's close).
    pub disconnects: u64,
    /// Links dropped for a missing pong.
    pub heartbeat_timeouts: u64,
    /// Links dropped for missing data.
    pub idle_timeouts: u64,
    /// Times the attempt limit or outage budget ran out.
    pub limit_reached: u64,
    /// Events lost because they were not polled in time.
    pub events_dropped: u64,
    /// Reconnect delays by bucket (see [`DELAY_BUCKETS_SECS`]), not cumulative.
    pub delay_buckets: [u64; DELAY_BUCKETS_SECS.len() + 1],
    /// Sum of all reconnect delays, in milliseconds.
    pub delay_sum_ms: u64,
    /// Time spent connected by links that have ended, in milliseconds.
    pub closed_uptime_ms: u64,
    /// Time spent in each state that has been left, in milliseconds, indexed
    /// like [`State::ALL`].
    pub closed_state_ms: [u64; 6],
}

impl Stats {
    pub(crate) fn record_failure(&mut self, failure: &Failure) {
        let counter = match failure.class {
            FailureClass::Transient => &mut self.failures_transient,
            FailureClass::RateLimited { .. } => &mut self.failures_rate_limited,
            FailureClass::Permanent => &mut self.failures_permanent,
        };
        *counter = counter.saturating_add(1);
    }

    pub(crate) fn record_delay(&mut self, delay: Duration) {
        let ms = duration_millis(delay);
        let bucket = DELAY_BUCKETS_SECS
            .iter()
            .position(|&secs| ms <= secs * 1_000)
            .unwrap_or(DELAY_BUCKETS_SECS.len());
        if let Some(count) = self.delay_buckets.get_mut(bucket) {
            *count = count.saturating_add(1);
        }
        self.delay_sum_ms = self.delay_sum_ms.saturating_add(ms);
    }

    /// Reconnect delays recorded.
    pub fn delays(&self) -> u64 {
        self.delay_buckets.iter().fold(0u64, |a, b| a.saturating_add(*b))
    }
}

/// A consistent view of the statistics at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The counters.
    pub stats: Stats,
    /// Current state.
    pub state: State,
    /// Time in the current state.
    pub in_state: Duration,
    /// Uptime of the current link (zero when not connected).
    pub current_uptime: Duration,
    /// Total time connected, this link included.
    pub total_uptime: Duration,
    /// Time since the supervisor started.
    pub lifetime: Duration,
}

impl Snapshot {
    /// Share of the lifetime spent connected, in parts per million.
    pub fn reliability_ppm(&self) -> u32 {
        let life = self.lifetime.as_micros();
        if life == 0 {
            return 0;
        }
        (self.total_uptime.as_micros().min(life) * 1_000_000 / life) as u32
    }

    /// Time spent in `state` so far, the current stay included.
    pub fn time_in(&self, state: State) -> Duration {
        let closed = Duration::from_millis(self.stats.closed_state_ms[state.index()]);
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
    /// # use wstether::{Config, Instant, Supervisor};
    /// let sup = Supervisor::new(Config::default(), 7).unwrap();
    /// let mut text = heapless::String::<8192>::new();
    /// sup.snapshot(Instant::ZERO).write_prometheus(&mut text, &[("feed", "trades")]).unwrap();
    /// assert!(text.contains("wstether_attempts_total{feed=\"trades\"} 0"));
    /// ```
    pub fn write_prometheus(&self, out: &mut impl Write, labels: &[(&str, &str)]) -> fmt::Result {
        let s = &self.stats;
        let counters: [(&str, &str, u64); 10] = [
            ("attempts_total", "Connection attempts started.", s.attempts),
            ("connects_total", "Attempts that opened a link.", s.connects),
            ("disconnects_total", "Open links that ended.", s.disconnects),
            (
                "heartbeat_timeouts_total",
                "Links dropped for a missing pong.",
                s.heartbeat_timeouts,
            ),
            (
                "idle_timeouts_total",
                "Links dropped for missing data.",
                s.idle_timeouts,
            ),
            (
                "limit_reached_total",
                "Times the attempt limit or budget ran out.",
                s.limit_reached,
            ),
            (
                "events_dropped_total",
                "Events lost before they were polled.",
                s.events_dropped,
            ),
            (
                "failures_transient_total",
                "Failures classified transient.",
                s.failures_transient,
            ),
            (
                "failures_rate_limited_total",
                "Failures classified rate-limited.",
                s.failures_rate_limited,
            ),
            (
                "failures_permanent_total",
                "Failures classified permanent.",
                s.failures_permanent,
            ),
        ];
        for (name, help, value) in counters {
            header(out, name, help, "counter")?;
            sample(out, name, labels, None, value)?;
        }

        header(out, "reconnect_delay_seconds", "Reconnect delays drawn.", "histogram")?;
        let mut cumulative = 0u64;
        for (i, count) in s.delay_buckets.iter().enumerate() {
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
                cumulative,
            )?;
        }
        write!(out, "wstether_reconnect_delay_seconds_sum")?;
        label_set(out, labels, None)?;
        writeln!(out, " {}", Millis(s.delay_sum_ms))?;
        sample(out, "reconnect_delay_seconds_count", labels, None, cumulative)?;

        let gauges: [(&str, &str, u64); 4] = [
            (
                "uptime_seconds",
                "Total time connected.",
                duration_millis(self.total_uptime),
            ),
            (
                "link_uptime_seconds",
                "Uptime of the current link.",
                duration_millis(self.current_uptime),
            ),
            ("lifetime_seconds", "Time since start.", duration_millis(self.lifetime)),
            (
                "state_seconds",
                "Time in the current state.",
                duration_millis(self.in_state),
            ),
        ];
        for (name, help, ms) in gauges {
            header(out, name, help, "gauge")?;
            write!(out, "wstether_{name}")?;
            label_set(out, labels, None)?;
            writeln!(out, " {}", Millis(ms))?;
        }
        header(
            out,
            "reliability_ratio",
            "Share of the lifetime spent connected.",
            "gauge",
        )?;
        write!(out, "wstether_reliability_ratio")?;
        label_set(out, labels, None)?;
        let ppm = self.reliability_ppm();
        writeln!(out, " {}.{:06}", ppm / 1_000_000, ppm % 1_000_000)?;
        header(out, "state", "1 for the current state.", "gauge")?;
        for state in State::ALL {
            sample(
                out,
                "state",
                labels,
                Some(("state", state.name())),
                u64::from(state == self.state),
            )?;
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

fn header(out: &mut impl Write, name: &str, help: &str, kind: &str) -> fmt::Result {
    writeln!(out, "# HELP wstether_{name} {help}")?;
    writeln!(out, "# TYPE wstether_{name} {kind}")
}

fn sample(
    out: &mut impl Write,
    name: &str,
    labels: &[(&str, &str)],
    extra: Option<(&str, &str)>,
    value: u64,
) -> fmt::Result {
    write!(out, "wstether_{name}")?;
    label_set(out, labels, extra)?;
    writeln!(out, " {value}")
}

fn label_set(out: &mut impl Write, labels: &[(&str, &str)], extra: Option<(&str, &str)>) -> fmt::Result {
    if labels.is_empty() && extra.is_none() {
        return Ok(());
    }
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
    out.write_char('}')
}

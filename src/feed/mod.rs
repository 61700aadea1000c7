//! Helpers for feeds, beside the supervisor: `no_std`, fixed capacity, time
//! passed in. They are what market-data and telemetry consumers build on top
//! of a kept-alive link.
//!
//! - [`SequenceTracker`]: gaps and duplicates in sequence numbers.
//! - [`DuplicateFilter`]: the last N ids, optionally for a time-to-live.
//! - [`ClockOffset`]: the server's clock offset and the round trip.
//! - [`LinkHealth`]: uptime, reliability and reconnect rate over a window.

mod clock_offset;
mod dedup;
mod link_health;
mod sequence;

pub use clock_offset::{ClockOffset, ClockSampleError};
pub use dedup::{DedupConfigError, DuplicateFilter};
pub use link_health::{LinkHealth, LinkHealthConfigError};
pub use sequence::{Arrival, Observation, SeqRange, SequenceConfigError, SequenceStats, SequenceTracker};

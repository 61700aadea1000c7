//! Keeps one WebSocket alive from a plain thread, with no async runtime.
//!
//! The core of this crate does no I/O and reads no clock: a [`Supervisor`] is
//! a state machine that is handed the time (`handle_*(now, …)`) and answers
//! with actions, events and its next deadline (`poll_*()`). It is `no_std`,
//! never allocates, and builds for microcontrollers. On top of it, behind the
//! `std` feature, a blocking transport (tungstenite, rustls) and a thread
//! client keep a real `ws://` or `wss://` link alive.
//!
//! # Features
//!
//! - `std` (default): the transport and the thread client.
//! - `tls` (default): `wss://` through rustls with the ring provider and the
//!   Mozilla roots from `webpki-roots`.
//!
//! With `default-features = false` the crate is the core alone: `no_std`, no
//! `alloc`.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs, unreachable_pub, clippy::std_instead_of_core)]

#[cfg(feature = "std")]
extern crate std;

pub mod backoff;
pub mod breaker;
pub mod clock_offset;
pub mod config;
pub mod dedup;
pub mod endpoints;
pub mod event;
pub mod failure;
pub mod heartbeat;
pub mod jitter;
pub mod link_health;
pub mod rate_limit;
pub mod retry_after;
pub mod sequence;
pub mod stats;
pub mod supervisor;
pub mod time;

pub use backoff::{Backoff, BackoffConfig, ConfigError, Delay};
pub use breaker::{BreakerState, LimitPolicy};
pub use config::Config;
pub use endpoints::EndpointConfig;
pub use event::{Action, Event, State, TimerReason};
pub use failure::{Cause, CloseAction, CloseCodeTable, Failure, FailureClass};
pub use heartbeat::HeartbeatConfig;
pub use jitter::Jitter;
pub use rate_limit::RateLimitConfig;
pub use retry_after::RetryAfter;
pub use stats::{Snapshot, Stats};
pub use supervisor::{Inbound, Supervisor};
pub use time::Instant;

#[cfg(feature = "std")]
pub mod client;
#[cfg(feature = "std")]
pub mod transport;

//! Keeps one WebSocket alive from a plain thread, with no async runtime.
//!
//! The core of this crate does no I/O and reads no clock: a [`Supervisor`] is
//! a state machine that is handed the time (`handle_*(now, …)`) and answers
//! with actions, events and its next deadline (`poll_*()`). It is `no_std`,
//! never allocates, and builds for microcontrollers. On top of it, behind the
//! `std` feature, a blocking transport (tungstenite, rustls) and a thread
//! client keep a real `ws://` or `wss://` link alive.
//!
//! # Keeping a link alive from a thread
//!
//! ```no_run
//! # #[cfg(feature = "std")] {
//! use wstether::client::Client;
//!
//! let client = Client::builder("wss://stream.example.com/ws")
//!     .subscribe(r#"{"op":"subscribe","args":["trades"]}"#) // replayed on every link
//!     .connect()
//!     .expect("a valid configuration");
//! client.send("hello").ok(); // queued while disconnected, in order after
//! for message in client.iter().take(10) {
//!     println!("{message}");
//! }
//! for event in client.events().try_iter() {
//!     eprintln!("{:?} {:?}", event.event, event.detail);
//! }
//! let undelivered = client.close(); // what never reached a socket
//! # let _ = undelivered; }
//! ```
//!
//! `client::Session` drives the same transport from the caller's own loop;
//! [`Supervisor`] alone (see its docs for the drain contract) is the whole
//! policy for a `no_std` device with its own network stack.
//!
//! # Modules
//!
//! - The core: [`supervisor`], [`backoff`] and [`jitter`], [`heartbeat`],
//!   [`failure`] and [`retry_after`], [`breaker`], [`rate_limit`],
//!   [`endpoints`], [`stats`], [`event`], [`config`], [`time`].
//! - Stream helpers for feeds: [`sequence`] (gaps and duplicates), [`dedup`],
//!   [`clock_offset`], [`link_health`].
//! - With `std`: `transport` (open a link within one deadline) and `client`.
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

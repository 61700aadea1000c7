//! Keeps one WebSocket alive from a plain thread, with no async runtime.
//!
//! The core of this crate does no I/O and reads no clock: a [`Supervisor`] is
//! a state machine that is handed the time (`handle_*(now, …)`) and answers,
//! through one ordered drain ([`Supervisor::poll_output`]), with actions,
//! events and its next deadline. It is `no_std`, never allocates, fits in 256
//! bytes and builds for microcontrollers. On top of it, behind the `std`
//! feature, a non-blocking link layer (rustls, tungstenite's frame layer) and
//! a thread client keep a real `ws://` or `wss://` link alive.
//!
//! ```text
//!             your thread / your event loop
//!                        │
//!   ┌────────────────────┴─────────────────────┐
//!   │ client    (std)  Client, Session:         │  queues, subscriptions, events,
//!   │                  one I/O thread or yours  │  one pollable fd, a clean close
//!   ├───────────────────────────────────────────┤
//!   │ transport (std)  connect, TLS, upgrade,   │  non-blocking; every error
//!   │                  proxies, frames          │  becomes a core Failure
//!   ├───────────────────────────────────────────┤
//!   │ supervisor (no_std, no alloc)             │  backoff, jitter, heartbeat,
//!   │                  time is an argument      │  breaker, rate limit, outcome
//!   └───────────────────────────────────────────┘
//!   feed (no_std): sequence gaps, duplicates, clock offset, link health
//! ```
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
//! let undelivered = client.close(); // what never reached a socket
//! # let _ = undelivered; }
//! ```
//!
//! `client::Session` drives the same link from the caller's own loop;
//! [`Supervisor`] alone (see its docs for the drain contract) is the whole
//! policy for a `no_std` device with its own network stack.
//!
//! # Features
//!
//! - `std` (default): the transport and the client.
//! - `tls` (default): `wss://` through rustls with the ring provider and the
//!   Mozilla roots from `webpki-roots`.
//!
//! With `default-features = false` the crate is the core alone: `no_std`, no
//! `alloc`.
#![no_std]
#![forbid(unsafe_code)]
#![deny(unused_must_use)]
#![warn(missing_docs, unreachable_pub, clippy::std_instead_of_core)]

#[cfg(feature = "std")]
extern crate std;

pub mod feed;
mod supervisor;
mod time;

pub use supervisor::{
    Action, AttemptId, BackoffConfig, BreakerState, Cause, CloseAction, CloseCodeTable, Config, ConfigError,
    ConnectRateLimit, Counters, Deadline, Delay, EndpointConfig, Event, Failure, FailureClass, HeartbeatConfig,
    Inbound, Jitter, LimitPolicy, Outcome, Output, RetryAfter, Snapshot, State, Stats, Supervisor, Timer,
    DELAY_BUCKETS_SECS, MAX_OUTPUTS_PER_INPUT,
};
pub use time::Instant;

#[cfg(feature = "std")]
pub mod client;
#[cfg(feature = "std")]
pub mod transport;

/// A WebSocket message (tungstenite's), re-exported so that callers need not
/// pin tungstenite themselves.
#[cfg(feature = "std")]
pub use tungstenite::Message;

/// The rustls crate this crate was built with, for the types
/// [`transport::TlsConfig`] takes (`ClientConfig`, `RootCertStore`).
#[cfg(feature = "tls")]
pub use rustls;

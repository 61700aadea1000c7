//! The thread client and the session against loopback servers started in
//! the test: messages both ways, the queue while the server is down,
//! subscriptions across links, backpressure, TLS with a test CA, sequence
//! checks, one client shared by two threads, and a session driven from the
//! caller's own loop.
//!
//! Every test also checks that nothing is lost: each message `send` accepted
//! reached the server, in order, or came back from `close()`.

#![cfg(all(feature = "std", feature = "tls"))]

#[path = "../support/mod.rs"]
mod support;
mod tether;

mod backpressure;
mod messages;
mod sequence;
mod session;
mod sharing;
mod subscriptions;
mod tls;

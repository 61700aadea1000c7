//! Keeping one WebSocket alive: a [`Session`] the caller drives from its own
//! loop, or a [`Client`] whose session runs on an I/O thread (one per
//! client, or many on one [`IoThread`]).
//!
//! Both send, subscribe, receive, report events and close the same way; the
//! session adds one pollable fd and [`Session::timeout`] for event loops, the
//! client hands messages and events to any thread.
//!
//! Delivery: every message `send` accepts is written to a socket in order
//! or handed back ([`Undelivered`]) with the reason. Written means handed
//! whole to the kernel; with [`ClientBuilder::acknowledge`], a message stays
//! the client's until the server confirms it.

mod acks;
mod attempt;
mod bounded;
mod budget;
mod builder;
#[allow(clippy::module_inception)] // The client type in the client layer.
mod client;
mod delivery;
mod error;
mod event;
mod events;
mod hooks;
mod io_thread;
mod outbox;
mod sequence_check;
mod session;
mod settings;
mod shared;
mod signal;

pub use attempt::Attempt;
pub use builder::ClientBuilder;
pub use client::Client;
pub use delivery::{Fate, Reason, Receipt, Undelivered};
pub use error::{BuildError, Ending, Finished, SendError};
pub use event::{ClientEvent, EventKind, Incoming};
pub use events::Events;
pub use hooks::LinkStart;
pub use io_thread::IoThread;
pub use outbox::SubscriptionId;
pub use session::Session;
pub use shared::SendOptions;

//! What a session reports besides messages: the supervisor's events, and the
//! link layer's own.

use core::net::SocketAddr;
use core::time::Duration;
use std::string::String;

use tungstenite::Message;

use crate::{Event, State};

/// Something the session has for its caller.
#[derive(Debug)]
pub enum Incoming {
    /// A text or binary message from the server.
    Message(Message),
    /// Something happened to the connection.
    Event(ClientEvent),
}

/// Something that happened, when, and the transport's explanation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientEvent {
    /// Time since the session started.
    pub at: Duration,
    /// What happened.
    pub kind: EventKind,
    /// For an attempt, the redacted URL (and proxy); for a failed attempt, a
    /// lost link or the end, the error as the transport saw it (URLs
    /// redacted, header values never shown).
    pub detail: Option<String>,
}

impl ClientEvent {
    /// The supervisor's event, if this is one.
    pub fn supervisor(&self) -> Option<&Event> {
        match &self.kind {
            EventKind::Supervisor(event) => Some(event),
            _ => None,
        }
    }
}

/// What a [`ClientEvent`] reports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// From the supervisor: attempts, links, delays, the breaker, the end.
    Supervisor(Event),
    /// The supervisor's state changed (reported before the event that
    /// changed it).
    StateChanged {
        /// Previous state.
        from: State,
        /// New state.
        to: State,
    },
    /// A link opened (reported just before the supervisor's `Connected`).
    LinkOpened {
        /// Links count from 1 over the session.
        link: u64,
        /// The address connected to (the proxy's, through a proxy).
        peer: SocketAddr,
        /// The subprotocol the server chose.
        subprotocol: Option<String>,
    },
    /// A link ended (reported just before the supervisor's `Disconnected`).
    LinkClosed {
        /// The link's number.
        link: u64,
        /// How long it was open.
        uptime: Duration,
    },
    /// Inbound sequence numbers skipped `first..=last`.
    SequenceGap {
        /// First missing number.
        first: u64,
        /// Last missing number.
        last: u64,
    },
    /// An inbound sequence number seen before (the message is still delivered).
    SequenceDuplicate {
        /// The repeated number.
        seq: u64,
    },
    /// Queued messages passed their time-to-live and were handed back
    /// unsent.
    Expired {
        /// How many.
        count: usize,
    },
    /// The caller paused reading (`true`) or resumed it (`false`).
    ReadingPaused(bool),
    /// The caller asked to reconnect now (the network came back); the
    /// supervisor's `BackoffSkipped` follows when a delay was pending.
    ReconnectRequested,
    /// The caller said the link is healthy; the supervisor's `Stable` follows.
    MarkedHealthy,
}

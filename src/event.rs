//! What the supervisor tells its driver: actions to perform, events to report,
//! and the state it is in.

use core::time::Duration;

use crate::backoff::Delay;
use crate::failure::Failure;

/// The lifecycle state of a [`crate::Supervisor`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum State {
    /// Created, not started.
    #[default]
    Idle,
    /// An attempt to open the link is in progress.
    Connecting,
    /// The link is open.
    Connected,
    /// Waiting before the next attempt (backoff, rate limit or open breaker).
    Backoff,
    /// Closed by the caller. Final.
    Stopped,
    /// Gave up at the attempt limit or was rejected permanently. Final.
    Failed,
}

impl State {
    /// `Stopped` or `Failed`: nothing will happen any more.
    pub const fn is_final(self) -> bool {
        matches!(self, State::Stopped | State::Failed)
    }

    /// The state's name in lower case, as used in metrics and logs.
    pub const fn name(self) -> &'static str {
        match self {
            State::Idle => "idle",
            State::Connecting => "connecting",
            State::Connected => "connected",
            State::Backoff => "backoff",
            State::Stopped => "stopped",
            State::Failed => "failed",
        }
    }

    /// All states, in lifecycle order.
    pub const ALL: [State; 6] = [
        State::Idle,
        State::Connecting,
        State::Connected,
        State::Backoff,
        State::Stopped,
        State::Failed,
    ];

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

/// Something the driver must do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Open a link to endpoint `endpoint`; report the outcome with
    /// `handle_connected` or `handle_connect_failed`.
    Connect {
        /// Index of the endpoint to use.
        endpoint: u8,
        /// Attempt number within the current outage, from 1.
        attempt: u32,
    },
    /// Send a WebSocket ping on the open link.
    SendPing,
    /// Drop the link (or abandon the attempt in progress) without ceremony:
    /// it is dead or stale. The supervisor has already moved on; no
    /// `handle_disconnected` is needed.
    Drop {
        /// Why.
        failure: Failure,
    },
    /// The caller closed the supervisor: send a close frame on the open link
    /// (or abandon the attempt in progress) and end it.
    Close,
}

/// Something that happened, for logs, metrics and the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The state changed.
    StateChanged {
        /// Previous state.
        from: State,
        /// New state.
        to: State,
    },
    /// An attempt to open the link started.
    AttemptStarted {
        /// Attempt number within the current outage, from 1.
        attempt: u32,
        /// Endpoint index.
        endpoint: u8,
    },
    /// The link opened.
    Connected {
        /// The attempt that succeeded.
        attempt: u32,
        /// Endpoint index.
        endpoint: u8,
    },
    /// An attempt failed before the link opened.
    ConnectFailed {
        /// The attempt that failed.
        attempt: u32,
        /// Why.
        failure: Failure,
    },
    /// An open link ended.
    Disconnected {
        /// Why.
        failure: Failure,
        /// How long the link had been up.
        uptime: Duration,
    },
    /// The link stayed up for `stable_after`: the attempt count was reset.
    Stable,
    /// The next attempt is scheduled.
    ReconnectScheduled {
        /// The number the next attempt will have.
        attempt: u32,
        /// The delay and how it was made.
        delay: Delay,
    },
    /// An attempt was due but the connect rate limit held it back.
    RateLimited {
        /// How long until the limit allows it.
        wait: Duration,
    },
    /// No pong arrived within the pong timeout; the link is being dropped.
    HeartbeatTimeout,
    /// No data arrived within the idle timeout; the link is being dropped.
    IdleTimeout,
    /// The attempt limit or the outage budget ran out; the supervisor stopped.
    GaveUp {
        /// Consecutive failed attempts.
        attempts: u32,
    },
    /// A permanent failure; the supervisor stopped.
    Rejected {
        /// Why.
        failure: Failure,
    },
    /// Attempts ran out and the breaker opened for its cool-down.
    BreakerOpened {
        /// How long until the probe.
        cool_down: Duration,
    },
    /// The cool-down ended; one probe attempt follows.
    BreakerHalfOpen,
    /// The probe's link became stable; the breaker closed.
    BreakerClosed,
    /// Inbound sequence numbers skipped `first..=last` (reported by the std
    /// client when given a sequence extractor; the supervisor never emits it).
    SequenceGap {
        /// First missing number.
        first: u64,
        /// Last missing number.
        last: u64,
    },
    /// An inbound sequence number seen before (std client with a sequence
    /// extractor; the message is still delivered).
    SequenceDuplicate {
        /// The repeated number.
        seq: u64,
    },
    /// Events were produced faster than they were polled; this many were lost.
    EventsDropped {
        /// How many.
        count: u32,
    },
}

/// Why [`crate::Supervisor::poll_timeout`] wants to be woken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerReason {
    /// The next connection attempt (backoff, rate limit or breaker).
    Reconnect,
    /// The deadline for the attempt in progress.
    ConnectTimeout,
    /// A ping is due.
    Ping,
    /// The pong deadline.
    PongTimeout,
    /// The idle deadline.
    IdleTimeout,
    /// The link will count as stable.
    Stable,
}

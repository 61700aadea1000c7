//! What the supervisor tells its driver, through one ordered drain: actions to
//! perform, events to report, and when to wake it next.

use super::backoff::Delay;
use super::failure::Failure;
use super::timers::Deadline;

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
    /// Waiting before the next attempt (backoff, connect rate limit or open
    /// breaker).
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

/// Names one attempt, so that the completion of an attempt the supervisor has
/// already abandoned (it timed out, the caller closed) is recognised and
/// ignored. Unique for 2³² attempts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AttemptId(pub(crate) u32);

impl AttemptId {
    /// The serial number: 1 for the supervisor's first attempt, counting
    /// every attempt since (wrapping).
    pub const fn serial(self) -> u32 {
        self.0
    }
}

/// Something the driver must do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Open a link to endpoint `endpoint`; report the outcome with
    /// `handle_connected(now, id)` or `handle_connect_failed(now, id, …)`.
    Connect {
        /// Names this attempt in the completion.
        id: AttemptId,
        /// Attempt number within the current outage, from 1.
        attempt: u32,
        /// Index of the endpoint to use.
        endpoint: u8,
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

/// Something that happened, for logs, metrics and the user. Events that move
/// the supervisor to another state say which ([`Event::entered_state`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// An attempt to open the link started (now `Connecting`).
    AttemptStarted {
        /// Attempt number within the current outage, from 1.
        attempt: u32,
        /// Endpoint index.
        endpoint: u8,
    },
    /// The link opened (now `Connected`).
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
    /// An open link ended: closed by the server, lost, or dropped by the
    /// supervisor for a missing pong ([`crate::Cause::HeartbeatTimeout`]) or
    /// missing data ([`crate::Cause::IdleTimeout`]).
    Disconnected {
        /// Why.
        failure: Failure,
    },
    /// The link stayed up for `stable_after`, or the application said it is
    /// healthy: the attempt count was reset.
    Stable,
    /// The next attempt is scheduled (now `Backoff`).
    ReconnectScheduled {
        /// The number the next attempt will have.
        attempt: u32,
        /// The delay and how it was made.
        delay: Delay,
    },
    /// An attempt was due but our own connect rate limit held it back (now
    /// `Backoff`).
    Throttled {
        /// Milliseconds until the limit allows it.
        wait_ms: u32,
    },
    /// The application asked to skip the pending delay; an attempt follows as
    /// soon as the connect rate limit allows.
    BackoffSkipped,
    /// The attempt limit or the outage budget ran out (now `Failed`).
    GaveUp {
        /// Consecutive failed attempts.
        attempts: u32,
    },
    /// A permanent failure (now `Failed`).
    Rejected {
        /// Why.
        failure: Failure,
    },
    /// The caller closed the supervisor (now `Stopped`).
    Stopped,
    /// Attempts ran out (or the probe failed) and the breaker opened for its
    /// cool-down (now `Backoff`).
    BreakerOpened {
        /// Milliseconds until the probe.
        cool_down_ms: u32,
    },
    /// The cool-down ended; one probe attempt follows.
    BreakerHalfOpen,
    /// The probe's link became stable; the breaker closed.
    BreakerClosed,
    /// The driver did not drain the outputs of earlier inputs and this many
    /// were lost to make room (the end is never lost:
    /// [`crate::Supervisor::outcome`]).
    OutputsDropped {
        /// How many.
        count: u32,
    },
}

impl Event {
    /// The state this event moved the supervisor into, if it changed state.
    /// Every state change is marked by exactly one such event.
    pub const fn entered_state(&self) -> Option<State> {
        match self {
            Event::AttemptStarted { .. } => Some(State::Connecting),
            Event::Connected { .. } => Some(State::Connected),
            Event::ReconnectScheduled { .. } | Event::Throttled { .. } | Event::BreakerOpened { .. } => {
                Some(State::Backoff)
            }
            Event::GaveUp { .. } | Event::Rejected { .. } => Some(State::Failed),
            Event::Stopped => Some(State::Stopped),
            _ => None,
        }
    }

    /// The end of the session, for the events that are one.
    pub const fn outcome(&self) -> Option<Outcome> {
        match *self {
            Event::GaveUp { attempts } => Some(Outcome::GaveUp { attempts }),
            Event::Rejected { failure } => Some(Outcome::Rejected { failure }),
            Event::Stopped => Some(Outcome::Stopped),
            _ => None,
        }
    }
}

/// How a supervisor's session ended. Kept by the supervisor once it is
/// final ([`crate::Supervisor::outcome`]), whatever its driver drained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The caller closed it.
    Stopped,
    /// The attempt limit or the outage budget ran out.
    GaveUp {
        /// Consecutive failed attempts.
        attempts: u32,
    },
    /// A permanent failure.
    Rejected {
        /// Why.
        failure: Failure,
    },
}

/// One item of [`crate::Supervisor::poll_output`], in the order things arose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Do this now.
    Action(Action),
    /// This happened.
    Event(Event),
    /// Drained: nothing more until `handle_timeout` at this deadline or a new
    /// input (`None`: no deadline is pending).
    Timeout(Option<Deadline>),
}

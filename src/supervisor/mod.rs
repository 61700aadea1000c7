//! The connection supervisor: the whole reconnect lifecycle as a pure state
//! machine, and its parts.

mod backoff;
mod breaker;
mod config;
mod endpoints;
mod event;
mod failure;
mod heartbeat;
mod jitter;
mod outputs;
mod rate_limit;
mod retry_after;
mod stats;
mod timers;
mod uptime;

pub use backoff::{BackoffConfig, Delay};
pub use breaker::{BreakerState, LimitPolicy};
pub use config::{Config, ConfigError};
pub use endpoints::EndpointConfig;
pub use event::{Action, AttemptId, Event, Outcome, Output, State};
pub use failure::{Cause, CloseAction, CloseCodeTable, Failure, FailureClass};
pub use heartbeat::HeartbeatConfig;
pub use jitter::Jitter;
pub use rate_limit::ConnectRateLimit;
pub use retry_after::RetryAfter;
pub use stats::{Counters, Snapshot, Stats, DELAY_BUCKETS_SECS};
pub use timers::{Deadline, Timer};
pub(crate) use uptime::Uptime;

use fastrand::Rng;

use backoff::Backoff;
use config::{Policy, BREAKER_OFF};
use endpoints::Endpoints;
use outputs::Outputs;
use rate_limit::RateLimit;
use timers::TimerTable;

use crate::time::Instant;

/// What kind of frame arrived on the open link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inbound {
    /// A text or binary message: proves the link alive and the feed fresh.
    Data,
    /// A ping, a pong, another control frame, or part of a message still
    /// arriving: proves the link alive.
    Control,
}

/// Keeps one link alive: decides when to connect, when to ping, when a link is
/// dead and how long to wait before the next attempt.
///
/// It performs no I/O, reads no clock and never allocates; it fits in 256
/// bytes. Feed it what happened with the `handle_*` methods (and
/// [`Supervisor::start`], [`Supervisor::close`], [`Supervisor::reconnect_now`],
/// [`Supervisor::mark_healthy`]), passing the current time. **After every
/// input, drain [`Supervisor::poll_output`] until it returns
/// [`Output::Timeout`]**: it yields actions to perform and events to report in
/// the order they arose, then the next deadline, at which to call
/// [`Supervisor::handle_timeout`]. One input produces at most
/// [`MAX_OUTPUTS_PER_INPUT`] outputs and the queue holds that many, so a
/// driver that drains is never dropped anything. Extra or early
/// `handle_timeout` calls do nothing; inputs that make no sense in the current
/// state, or that name an attempt the supervisor has abandoned, are ignored.
///
/// A plain blocking loop:
///
/// ```no_run
/// use wstether::{Action, Config, Instant, Output, Supervisor};
/// # fn open_link(_endpoint: u8) -> Result<(), wstether::Failure> { Ok(()) }
/// # fn now() -> Instant { Instant::ZERO }
/// # fn sleep_until(_t: Instant) {}
/// let mut sup = Supervisor::new(Config::default(), 42).expect("valid config");
/// sup.start(now());
/// while !sup.state().is_final() {
///     match sup.poll_output() {
///         Output::Action(Action::Connect { id, endpoint, .. }) => match open_link(endpoint) {
///             Ok(()) => sup.handle_connected(now(), id),
///             Err(failure) => sup.handle_connect_failed(now(), id, failure),
///         },
///         Output::Action(_) => {}
///         Output::Event(event) => println!("{event:?}"),
///         Output::Timeout(Some(deadline)) => {
///             sleep_until(deadline.at);
///             sup.handle_timeout(now());
///         }
///         Output::Timeout(None) => break,
///     }
/// }
/// ```
///
/// Inside a caller's own event loop, the supervisor is one more source of
/// deadlines beside sockets and channels:
///
/// ```no_run
/// use wstether::{Action, AttemptId, Config, Inbound, Instant, Output, Supervisor};
/// # enum Wake { Frame(bool), Closed(AttemptId, wstether::Failure), Opened(AttemptId), Timer }
/// # fn wait(_deadline: Option<Instant>) -> Wake { Wake::Timer }
/// # fn now() -> Instant { Instant::ZERO }
/// # fn start_connect(_id: AttemptId, _endpoint: u8) {}
/// # fn send_ping() {}
/// # fn drop_link() {}
/// let mut sup = Supervisor::new(Config::default(), 42).expect("valid config");
/// sup.start(now());
/// loop {
///     let deadline = loop {
///         match sup.poll_output() {
///             Output::Action(Action::Connect { id, endpoint, .. }) => start_connect(id, endpoint), // non-blocking
///             Output::Action(Action::SendPing) => send_ping(),
///             Output::Action(Action::Drop { .. } | Action::Close) => drop_link(),
///             Output::Event(_) => {}
///             Output::Timeout(deadline) => break deadline,
///         }
///     };
///     if sup.state().is_final() {
///         break;
///     }
///     match wait(deadline.map(|d| d.at)) {
///         Wake::Opened(id) => sup.handle_connected(now(), id),
///         Wake::Frame(is_data) => {
///             let kind = if is_data { Inbound::Data } else { Inbound::Control };
///             sup.handle_inbound(now(), kind)
///         }
///         Wake::Closed(id, failure) => sup.handle_disconnected(now(), id, failure),
///         Wake::Timer => sup.handle_timeout(now()),
///     }
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Supervisor {
    policy: Policy,
    rng: Rng,
    timers: TimerTable,
    backoff: Backoff,
    /// When the current outage began (meaningful while `in_outage`).
    outage_started: Instant,
    rate_limit: RateLimit,
    endpoints: Endpoints,
    outputs: Outputs,
    /// The permanent failure that ended the session, if one did.
    rejected: Option<Failure>,
    /// Number of the attempt in progress or last made, within the outage;
    /// zero once a link is stable. The attempt limit counts these.
    attempt: u32,
    /// The id of the attempt in progress, or of the attempt that opened the
    /// current link.
    serial: u32,
    state: State,
    breaker: BreakerState,
    in_outage: bool,
}

/// The most outputs a single input produces: a link dropped by a timer
/// (`Drop`, `Disconnected`, then one of `ReconnectScheduled`, `GaveUp`,
/// `BreakerOpened`, `Rejected`), or an attempt after the cool-down
/// (`BreakerHalfOpen`, `AttemptStarted`, `Connect`).
/// [`Supervisor::handle_timeout`] fires one more due timer only while this
/// many slots are free; a timer it leaves is still due at the next call.
pub const MAX_OUTPUTS_PER_INPUT: usize = 3;

impl Supervisor {
    /// A supervisor in `Idle`, with jitter drawn from a generator seeded with
    /// `seed` (seed from entropy in production, explicitly in tests).
    pub fn new(config: Config, seed: u64) -> Result<Supervisor, ConfigError> {
        let policy = Policy::new(&config)?;
        Ok(Supervisor {
            rng: Rng::with_seed(seed),
            timers: TimerTable::new(),
            backoff: Backoff::new(&policy.backoff),
            outage_started: Instant::ZERO,
            rate_limit: RateLimit::new(),
            endpoints: Endpoints::default(),
            outputs: Outputs::new(),
            rejected: None,
            attempt: 0,
            serial: 0,
            state: State::Idle,
            breaker: BreakerState::Closed,
            in_outage: false,
            policy,
        })
    }

    /// The configuration, as validated (durations in whole milliseconds).
    pub fn config(&self) -> Config {
        self.policy.to_config()
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The breaker's position.
    pub fn breaker(&self) -> BreakerState {
        self.breaker
    }

    /// The attempt in progress or last made, within the current outage.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The endpoint index the next (or current) attempt uses.
    pub fn endpoint(&self) -> u8 {
        self.endpoints.current()
    }

    /// The attempt in progress, or the last one made (whose link may be
    /// open). Drivers get each id from [`Action::Connect`]; this is for
    /// those that reconstruct their state, and for tests.
    pub fn last_attempt(&self) -> AttemptId {
        AttemptId(self.serial)
    }

    /// How the session ended, once the state is final; kept whatever the
    /// driver drained or missed.
    pub fn outcome(&self) -> Option<Outcome> {
        match (self.state, self.rejected) {
            (State::Stopped, _) => Some(Outcome::Stopped),
            (State::Failed, Some(failure)) => Some(Outcome::Rejected { failure }),
            (State::Failed, None) => Some(Outcome::GaveUp { attempts: self.attempt }),
            _ => None,
        }
    }

    /// Starts the first attempt (or waits for the connect rate limit). Only
    /// in `Idle`.
    pub fn start(&mut self, now: Instant) {
        if self.state == State::Idle {
            self.begin_attempt(now);
        }
    }

    /// The attempt `id` opened the link.
    pub fn handle_connected(&mut self, now: Instant, id: AttemptId) {
        if self.state != State::Connecting || id.0 != self.serial {
            return;
        }
        self.timers.clear(Timer::ConnectTimeout);
        self.timers
            .set(Timer::Stable, now.add_millis(self.policy.backoff.stable_after_ms));
        heartbeat::link_up(&mut self.timers, &self.policy, now);
        self.state = State::Connected;
        self.push_event(Event::Connected {
            attempt: self.attempt,
            endpoint: self.endpoints.current(),
        });
    }

    /// The attempt `id` failed before the link opened.
    pub fn handle_connect_failed(&mut self, now: Instant, id: AttemptId, failure: Failure) {
        if self.state != State::Connecting || id.0 != self.serial {
            return;
        }
        self.timers.clear(Timer::ConnectTimeout);
        self.push_event(Event::ConnectFailed {
            attempt: self.attempt,
            failure,
        });
        self.after_failure(now, failure);
    }

    /// A frame (or part of one) arrived on the open link.
    pub fn handle_inbound(&mut self, now: Instant, kind: Inbound) {
        if self.state == State::Connected {
            heartbeat::inbound(&mut self.timers, &self.policy, now, kind == Inbound::Data);
        }
    }

    /// The link opened by attempt `id` ended (read error, close frame, EOF).
    /// While that attempt is still connecting, this counts as its failure.
    pub fn handle_disconnected(&mut self, now: Instant, id: AttemptId, failure: Failure) {
        match self.state {
            State::Connecting => self.handle_connect_failed(now, id, failure),
            State::Connected if id.0 == self.serial => self.link_lost(now, failure),
            _ => {}
        }
    }

    /// Handles the deadlines that have passed by `now`, earliest first: the
    /// first one always, later ones while their outputs fit (see
    /// [`MAX_OUTPUTS_PER_INPUT`]); one left over is still due, so the drain
    /// ends with a deadline that is not after `now`. Harmless when none has
    /// passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut first = true;
        while first || self.outputs.free() >= MAX_OUTPUTS_PER_INPUT {
            match self.timers.next() {
                Some(deadline) if deadline.at <= now => self.fire(now, deadline.timer),
                _ => return,
            }
            first = false;
        }
    }

    /// The caller is done: ends the link (with [`Action::Close`] if one is
    /// open or opening) and stops in `Stopped`. Safe in every state; does
    /// nothing once stopped or failed.
    pub fn close(&mut self, _now: Instant) {
        match self.state {
            State::Stopped | State::Failed => return,
            State::Connected | State::Connecting => self.push_action(Action::Close),
            State::Idle | State::Backoff => {}
        }
        self.finish(Outcome::Stopped);
    }

    /// The application knows the network just came back (or the device woke
    /// up): skip the pending delay, or the breaker's cool-down, once. The
    /// reconnect deadline becomes `now`, so the driver's next
    /// `handle_timeout` starts the attempt, still within the connect rate
    /// limit. Only in `Backoff`.
    pub fn reconnect_now(&mut self, now: Instant) {
        if self.state == State::Backoff {
            self.timers.set(Timer::Reconnect, now);
            self.push_event(Event::BackoffSkipped);
        }
    }

    /// The application says the open link is healthy (it got the answer it
    /// waited for): count it as stable now, resetting the attempt count,
    /// instead of after `stable_after`. Only in `Connected`.
    pub fn mark_healthy(&mut self, _now: Instant) {
        if self.state == State::Connected {
            self.link_stable();
        }
    }

    /// The next deadline and what it is for; `None` when nothing is pending.
    /// Does not drain anything: [`Supervisor::poll_output`] ends with the
    /// same answer.
    #[must_use]
    #[inline]
    pub fn poll_timeout(&self) -> Option<Deadline> {
        self.timers.next()
    }

    /// The next output, in the order they arose: actions and events, then,
    /// once everything is drained, [`Output::Timeout`] with the next deadline.
    #[must_use]
    #[inline]
    pub fn poll_output(&mut self) -> Output {
        match self.outputs.pop() {
            Some(output) => output,
            None => Output::Timeout(self.timers.next()),
        }
    }

    fn fire(&mut self, now: Instant, timer: Timer) {
        self.timers.clear(timer);
        match timer {
            Timer::Reconnect => {
                if self.breaker == BreakerState::Open {
                    self.breaker = BreakerState::HalfOpen;
                    self.push_event(Event::BreakerHalfOpen);
                }
                self.begin_attempt(now);
            }
            Timer::ConnectTimeout => {
                let failure = Failure::transient(Cause::Timeout);
                self.push_action(Action::Drop { failure });
                self.push_event(Event::ConnectFailed {
                    attempt: self.attempt,
                    failure,
                });
                self.after_failure(now, failure);
            }
            Timer::Stable => self.link_stable(),
            Timer::Ping => {
                heartbeat::ping_sent(&mut self.timers, &self.policy, now);
                self.push_action(Action::SendPing);
            }
            Timer::PongTimeout => self.drop_link(now, Failure::transient(Cause::HeartbeatTimeout)),
            Timer::Idle => self.drop_link(now, Failure::transient(Cause::IdleTimeout)),
        }
    }

    /// Starts an attempt now, or waits for the connect rate limit.
    #[inline(always)]
    fn begin_attempt(&mut self, now: Instant) {
        let (attempts, window_ms) = (self.policy.rate_attempts, self.policy.rate_window_ms);
        if attempts > 0 && !self.rate_limit.try_acquire(attempts, window_ms, now) {
            let at = self.rate_limit.available_at(attempts, window_ms, now);
            self.timers.set(Timer::Reconnect, at);
            self.state = State::Backoff;
            self.push_event(Event::Throttled {
                wait_ms: at.millis_since(now),
            });
            return;
        }
        self.attempt = self.attempt.saturating_add(1);
        self.serial = self.serial.wrapping_add(1);
        self.timers
            .set(Timer::ConnectTimeout, now.add_millis(self.policy.connect_timeout_ms));
        self.state = State::Connecting;
        let endpoint = self.endpoints.current();
        self.push_event(Event::AttemptStarted {
            attempt: self.attempt,
            endpoint,
        });
        self.push_action(Action::Connect {
            id: AttemptId(self.serial),
            attempt: self.attempt,
            endpoint,
        });
    }

    /// The supervisor decided the link is dead.
    fn drop_link(&mut self, now: Instant, failure: Failure) {
        self.push_action(Action::Drop { failure });
        self.link_lost(now, failure);
    }

    fn link_lost(&mut self, now: Instant, failure: Failure) {
        self.timers.clear(Timer::Stable);
        heartbeat::link_down(&mut self.timers);
        self.push_event(Event::Disconnected { failure });
        self.after_failure(now, failure);
    }

    fn link_stable(&mut self) {
        self.timers.clear(Timer::Stable);
        self.backoff.reset(&self.policy.backoff);
        self.attempt = 0;
        self.in_outage = false;
        self.endpoints.on_stable();
        self.push_event(Event::Stable);
        if self.breaker != BreakerState::Closed {
            self.breaker = BreakerState::Closed;
            self.push_event(Event::BreakerClosed);
        }
    }

    /// An attempt failed or an unstable link ended: stop, retry, give up or
    /// open the breaker. Pushes exactly one event.
    fn after_failure(&mut self, now: Instant, failure: Failure) {
        if failure.is_permanent() {
            return self.finish(Outcome::Rejected { failure });
        }
        let policy = &self.policy.backoff;
        self.endpoints
            .on_failure(self.policy.endpoint_count, self.policy.rotate_after);
        if !self.in_outage {
            self.in_outage = true;
            self.outage_started = now;
        }
        if self.breaker == BreakerState::HalfOpen {
            return self.open_breaker(now);
        }
        if policy.max_attempts > 0 && self.attempt >= policy.max_attempts {
            return self.attempts_exhausted(now);
        }
        let floor_ms = match failure.class {
            FailureClass::RetryLater { retry_after_secs } => {
                Some(retry_after_secs.map_or(policy.retry_later_floor_ms, |secs| u32::from(secs) * 1_000))
            }
            _ => None,
        };
        let delay = self.backoff.next_delay(policy, &mut self.rng, floor_ms);
        let retry_at = now.add_millis(delay.delay_ms());
        if policy.max_elapsed_ms > 0 && retry_at > self.outage_started.add_millis(policy.max_elapsed_ms) {
            return self.attempts_exhausted(now);
        }
        self.timers.set(Timer::Reconnect, retry_at);
        self.state = State::Backoff;
        self.push_event(Event::ReconnectScheduled {
            attempt: self.attempt.saturating_add(1),
            delay,
        });
    }

    fn attempts_exhausted(&mut self, now: Instant) {
        match self.policy.breaker_cool_down_ms {
            BREAKER_OFF => self.finish(Outcome::GaveUp { attempts: self.attempt }),
            _ => self.open_breaker(now),
        }
    }

    fn open_breaker(&mut self, now: Instant) {
        let cool_down_ms = self.policy.breaker_cool_down_ms;
        self.breaker = BreakerState::Open;
        self.timers.set(Timer::Reconnect, now.add_millis(cool_down_ms));
        self.state = State::Backoff;
        self.push_event(Event::BreakerOpened { cool_down_ms });
    }

    /// Ends the session: no deadline is left, and the outcome is kept.
    fn finish(&mut self, outcome: Outcome) {
        self.timers.clear_all();
        self.state = match outcome {
            Outcome::Stopped => State::Stopped,
            Outcome::GaveUp { .. } => State::Failed,
            Outcome::Rejected { failure } => {
                self.rejected = Some(failure);
                State::Failed
            }
        };
        self.push_event(match outcome {
            Outcome::Stopped => Event::Stopped,
            Outcome::GaveUp { attempts } => Event::GaveUp { attempts },
            Outcome::Rejected { failure } => Event::Rejected { failure },
        });
    }

    fn push_action(&mut self, action: Action) {
        self.outputs.push(Output::Action(action));
    }

    fn push_event(&mut self, event: Event) {
        self.outputs.push(Output::Event(event));
    }
}

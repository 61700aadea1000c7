//! The connection supervisor: the whole reconnect lifecycle as a pure state
//! machine.

use core::time::Duration;

use fastrand::Rng;
use heapless::Deque;

use crate::backoff::{Backoff, ConfigError};
use crate::breaker::{BreakerState, LimitPolicy};
use crate::config::Config;
use crate::endpoints::Endpoints;
use crate::event::{Action, Event, State, TimerReason};
use crate::failure::{Cause, Failure, FailureClass};
use crate::heartbeat::{Heartbeat, HeartbeatDue};
use crate::rate_limit::RateLimit;
use crate::stats::{Snapshot, Stats};
use crate::time::{duration_millis, Instant};

/// What kind of frame arrived on the open link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inbound {
    /// A text or binary message: proves the link alive and the feed fresh.
    Data,
    /// A ping, a pong or another control frame: proves the link alive.
    Control,
}

const ACTION_CAPACITY: usize = 4;
const EVENT_CAPACITY: usize = 8;
/// Bound on timers handled in one `handle_timeout` call; each pass either
/// clears a due timer or moves it into the future, so a few suffice.
const MAX_TIMER_PASSES: usize = 8;

/// Keeps one link alive: decides when to connect, when to ping, when a link is
/// dead and how long to wait before the next attempt.
///
/// It performs no I/O, reads no clock and never allocates. Feed it what
/// happened with the `handle_*` methods and [`Supervisor::close`], passing the
/// current time; then **drain** it: [`Supervisor::poll_action`] until `None`
/// (do each action), [`Supervisor::poll_event`] until `None` (log or forward
/// them), and sleep until [`Supervisor::poll_timeout`], calling
/// [`Supervisor::handle_timeout`] when it passes. Extra or early
/// `handle_timeout` calls do nothing; inputs that make no sense in the
/// current state are ignored.
///
/// A plain blocking loop:
///
/// ```no_run
/// use wstether::{Action, Config, Instant, Supervisor};
/// # fn open_link(_endpoint: u8) -> Result<(), wstether::Failure> { Ok(()) }
/// # fn now() -> Instant { Instant::ZERO }
/// # fn sleep_until(_t: Instant) {}
/// let mut sup = Supervisor::new(Config::default(), 42).expect("valid config");
/// sup.start(now());
/// while !sup.state().is_final() {
///     while let Some(action) = sup.poll_action() {
///         if let Action::Connect { endpoint, .. } = action {
///             match open_link(endpoint) {
///                 Ok(()) => sup.handle_connected(now()),
///                 Err(failure) => sup.handle_connect_failed(now(), failure),
///             }
///         }
///     }
///     while let Some(event) = sup.poll_event() {
///         println!("{event:?}");
///     }
///     if let Some((deadline, _reason)) = sup.poll_timeout() {
///         sleep_until(deadline);
///         sup.handle_timeout(now());
///     }
/// }
/// ```
///
/// Inside a caller's own event loop, the supervisor is one more source of
/// deadlines beside sockets and channels:
///
/// ```no_run
/// use wstether::{Action, Config, Inbound, Instant, Supervisor};
/// # enum Wake { Frame(bool), Closed(wstether::Failure), Opened, Timer }
/// # fn wait(_deadline: Option<Instant>) -> Wake { Wake::Timer }
/// # fn now() -> Instant { Instant::ZERO }
/// # fn start_connect(_endpoint: u8) {}
/// # fn send_ping() {}
/// # fn drop_link() {}
/// let mut sup = Supervisor::new(Config::default(), 42).expect("valid config");
/// sup.start(now());
/// loop {
///     while let Some(action) = sup.poll_action() {
///         match action {
///             Action::Connect { endpoint, .. } => start_connect(endpoint), // non-blocking
///             Action::SendPing => send_ping(),
///             Action::Drop { .. } | Action::Close => drop_link(),
///         }
///     }
///     while sup.poll_event().is_some() {}
///     if sup.state().is_final() {
///         break;
///     }
///     match wait(sup.poll_timeout().map(|(t, _)| t)) {
///         Wake::Opened => sup.handle_connected(now()),
///         Wake::Frame(is_data) => {
///             let kind = if is_data { Inbound::Data } else { Inbound::Control };
///             sup.handle_inbound(now(), kind)
///         }
///         Wake::Closed(failure) => sup.handle_disconnected(now(), failure),
///         Wake::Timer => sup.handle_timeout(now()),
///     }
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Supervisor {
    config: Config,
    rng: Rng,
    state: State,
    state_since: Instant,
    started: Option<Instant>,
    backoff: Backoff,
    /// Number of the attempt in progress or last made, within the outage;
    /// zero once a link is stable. The attempt limit counts these.
    attempt: u32,
    outage_started: Option<Instant>,
    heartbeat: Heartbeat,
    link_since: Option<Instant>,
    breaker: BreakerState,
    rate_limit: Option<RateLimit>,
    endpoints: Endpoints,
    retry_at: Option<Instant>,
    connect_deadline: Option<Instant>,
    stable_at: Option<Instant>,
    actions: Deque<Action, ACTION_CAPACITY>,
    events: Deque<Event, EVENT_CAPACITY>,
    unreported_drops: u32,
    stats: Stats,
}

impl Supervisor {
    /// A supervisor in `Idle`, with jitter drawn from a generator seeded with
    /// `seed` (seed from entropy in production, explicitly in tests).
    pub fn new(config: Config, seed: u64) -> Result<Supervisor, ConfigError> {
        config.validate()?;
        Ok(Supervisor {
            rng: Rng::with_seed(seed),
            state: State::Idle,
            state_since: Instant::ZERO,
            started: None,
            backoff: Backoff::new(&config.backoff),
            attempt: 0,
            outage_started: None,
            heartbeat: Heartbeat::default(),
            link_since: None,
            breaker: BreakerState::Closed,
            rate_limit: config.rate_limit.as_ref().map(RateLimit::new),
            endpoints: Endpoints::default(),
            retry_at: None,
            connect_deadline: None,
            stable_at: None,
            actions: Deque::new(),
            events: Deque::new(),
            unreported_drops: 0,
            stats: Stats::default(),
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
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

    /// Counters so far.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Counters plus the timings as of `now`.
    pub fn snapshot(&self, now: Instant) -> Snapshot {
        let current_uptime = self.link_since.map_or(Duration::ZERO, |since| now - since);
        Snapshot {
            stats: self.stats,
            state: self.state,
            in_state: now - self.state_since,
            current_uptime,
            total_uptime: Duration::from_millis(self.stats.closed_uptime_ms).saturating_add(current_uptime),
            lifetime: self.started.map_or(Duration::ZERO, |started| now - started),
        }
    }

    /// Starts the first attempt (or waits for the rate limit). Only in `Idle`.
    pub fn start(&mut self, now: Instant) {
        if self.state != State::Idle {
            return;
        }
        self.started = Some(now);
        self.state_since = now;
        self.begin_attempt(now);
    }

    /// The attempt in progress opened the link.
    pub fn handle_connected(&mut self, now: Instant) {
        if self.state != State::Connecting {
            return;
        }
        self.connect_deadline = None;
        self.link_since = Some(now);
        self.stable_at = Some(now + self.config.backoff.stable_after);
        self.heartbeat = Heartbeat::start(&self.config.heartbeat, now);
        self.stats.connects = self.stats.connects.saturating_add(1);
        self.set_state(now, State::Connected);
        self.push_event(Event::Connected {
            attempt: self.attempt,
            endpoint: self.endpoints.current(),
        });
    }

    /// The attempt in progress failed before the link opened.
    pub fn handle_connect_failed(&mut self, now: Instant, failure: Failure) {
        if self.state != State::Connecting {
            return;
        }
        self.connect_deadline = None;
        self.push_event(Event::ConnectFailed {
            attempt: self.attempt,
            failure,
        });
        self.after_failure(now, failure);
    }

    /// A frame arrived on the open link.
    pub fn handle_inbound(&mut self, now: Instant, kind: Inbound) {
        if self.state != State::Connected {
            return;
        }
        self.heartbeat
            .on_inbound(&self.config.heartbeat, now, kind == Inbound::Data);
    }

    /// The open link ended (read error, close frame, EOF). In `Connecting`
    /// this counts as a failed attempt.
    pub fn handle_disconnected(&mut self, now: Instant, failure: Failure) {
        match self.state {
            State::Connecting => self.handle_connect_failed(now, failure),
            State::Connected => self.link_lost(now, failure),
            _ => {}
        }
    }

    /// Handles every deadline that has passed by `now`. Harmless when none has.
    pub fn handle_timeout(&mut self, now: Instant) {
        for _ in 0..MAX_TIMER_PASSES {
            match self.poll_timeout() {
                Some((deadline, reason)) if deadline <= now => self.fire(now, reason),
                _ => return,
            }
        }
    }

    /// The caller is done: ends the link (with [`Action::Close`] if one is
    /// open or opening) and stops in `Stopped`. Safe in every state; does
    /// nothing once stopped or failed.
    pub fn close(&mut self, now: Instant) {
        match self.state {
            State::Stopped | State::Failed => return,
            State::Connected => {
                self.end_link(now);
                self.push_action(Action::Close);
            }
            State::Connecting => self.push_action(Action::Close),
            State::Idle | State::Backoff => {}
        }
        self.enter_final(now, State::Stopped);
    }

    /// The next deadline and what it is for; `None` when nothing is pending.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<(Instant, TimerReason)> {
        match self.state {
            State::Connecting => self.connect_deadline.map(|t| (t, TimerReason::ConnectTimeout)),
            State::Backoff => self.retry_at.map(|t| (t, TimerReason::Reconnect)),
            State::Connected => {
                let heartbeat = self.heartbeat.next_deadline().map(|(t, due)| {
                    let reason = match due {
                        HeartbeatDue::Ping => TimerReason::Ping,
                        HeartbeatDue::PongTimeout => TimerReason::PongTimeout,
                        HeartbeatDue::IdleTimeout => TimerReason::IdleTimeout,
                    };
                    (t, reason)
                });
                let stable = self.stable_at.map(|t| (t, TimerReason::Stable));
                [stable, heartbeat].into_iter().flatten().min_by_key(|(t, _)| *t)
            }
            State::Idle | State::Stopped | State::Failed => None,
        }
    }

    /// The next thing the driver must do.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next thing that happened.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        if self.unreported_drops > 0 {
            let count = core::mem::take(&mut self.unreported_drops);
            return Some(Event::EventsDropped { count });
        }
        self.events.pop_front()
    }

    fn fire(&mut self, now: Instant, reason: TimerReason) {
        match reason {
            TimerReason::Reconnect => {
                self.retry_at = None;
                if self.breaker == BreakerState::Open {
                    self.breaker = BreakerState::HalfOpen;
                    self.push_event(Event::BreakerHalfOpen);
                }
                self.begin_attempt(now);
            }
            TimerReason::ConnectTimeout => {
                self.connect_deadline = None;
                let failure = Failure::transient(Cause::Timeout);
                self.push_action(Action::Drop { failure });
                self.handle_connect_failed(now, failure);
            }
            TimerReason::Stable => self.link_stable(),
            TimerReason::Ping | TimerReason::PongTimeout | TimerReason::IdleTimeout => {
                match self.heartbeat.on_timeout(&self.config.heartbeat, now) {
                    Some(HeartbeatDue::Ping) => self.push_action(Action::SendPing),
                    Some(HeartbeatDue::PongTimeout) => {
                        self.stats.heartbeat_timeouts = self.stats.heartbeat_timeouts.saturating_add(1);
                        self.push_event(Event::HeartbeatTimeout);
                        self.drop_link(now, Failure::transient(Cause::HeartbeatTimeout));
                    }
                    Some(HeartbeatDue::IdleTimeout) => {
                        self.stats.idle_timeouts = self.stats.idle_timeouts.saturating_add(1);
                        self.push_event(Event::IdleTimeout);
                        self.drop_link(now, Failure::transient(Cause::IdleTimeout));
                    }
                    None => {}
                }
            }
        }
    }

    /// Starts an attempt now, or waits for the rate limit.
    fn begin_attempt(&mut self, now: Instant) {
        if let Some(limit) = &mut self.rate_limit {
            if !limit.try_acquire(now) {
                let at = limit.available_at(now);
                self.retry_at = Some(at);
                self.push_event(Event::RateLimited { wait: at - now });
                self.set_state(now, State::Backoff);
                return;
            }
        }
        self.attempt = self.attempt.saturating_add(1);
        self.stats.attempts = self.stats.attempts.saturating_add(1);
        self.connect_deadline = Some(now + self.config.connect_timeout);
        self.set_state(now, State::Connecting);
        let endpoint = self.endpoints.current();
        self.push_event(Event::AttemptStarted {
            attempt: self.attempt,
            endpoint,
        });
        self.push_action(Action::Connect {
            endpoint,
            attempt: self.attempt,
        });
    }

    /// The supervisor decided the link is dead.
    fn drop_link(&mut self, now: Instant, failure: Failure) {
        self.push_action(Action::Drop { failure });
        self.link_lost(now, failure);
    }

    fn link_lost(&mut self, now: Instant, failure: Failure) {
        let uptime = self.end_link(now);
        self.stats.disconnects = self.stats.disconnects.saturating_add(1);
        self.push_event(Event::Disconnected { failure, uptime });
        self.after_failure(now, failure);
    }

    /// Closes the books on the open link; returns its uptime.
    fn end_link(&mut self, now: Instant) -> Duration {
        self.stable_at = None;
        self.heartbeat = Heartbeat::default();
        let uptime = self.link_since.take().map_or(Duration::ZERO, |since| now - since);
        self.stats.closed_uptime_ms = self.stats.closed_uptime_ms.saturating_add(duration_millis(uptime));
        uptime
    }

    fn link_stable(&mut self) {
        self.stable_at = None;
        self.backoff.reset(&self.config.backoff);
        self.attempt = 0;
        self.outage_started = None;
        self.endpoints.on_stable();
        self.push_event(Event::Stable);
        if self.breaker != BreakerState::Closed {
            self.breaker = BreakerState::Closed;
            self.push_event(Event::BreakerClosed);
        }
    }

    /// An attempt failed or an unstable link ended: stop, retry, give up or
    /// open the breaker.
    fn after_failure(&mut self, now: Instant, failure: Failure) {
        self.stats.record_failure(&failure);
        if failure.is_permanent() {
            self.push_event(Event::Rejected { failure });
            self.enter_final(now, State::Failed);
            return;
        }
        self.endpoints.on_failure(&self.config.endpoints);
        let outage_started = *self.outage_started.get_or_insert(now);

        if self.breaker == BreakerState::HalfOpen {
            self.open_breaker(now);
            return;
        }
        if self.config.backoff.max_attempts.is_some_and(|max| self.attempt >= max) {
            self.attempts_exhausted(now);
            return;
        }
        let floor = match failure.class {
            FailureClass::RateLimited { .. } => {
                Some(failure.retry_after().unwrap_or(self.config.backoff.rate_limited_floor))
            }
            _ => None,
        };
        let delay = self.backoff.next_delay(&self.config.backoff, &mut self.rng, floor);
        if let Some(budget) = self.config.backoff.max_elapsed {
            if now + delay.delay > outage_started + budget {
                self.attempts_exhausted(now);
                return;
            }
        }
        self.stats.record_delay(delay.delay);
        self.retry_at = Some(now + delay.delay);
        self.set_state(now, State::Backoff);
        self.push_event(Event::ReconnectScheduled {
            attempt: self.attempt.saturating_add(1),
            delay,
        });
    }

    fn attempts_exhausted(&mut self, now: Instant) {
        self.stats.limit_reached = self.stats.limit_reached.saturating_add(1);
        match self.config.on_limit {
            LimitPolicy::GiveUp => {
                self.push_event(Event::GaveUp { attempts: self.attempt });
                self.enter_final(now, State::Failed);
            }
            LimitPolicy::Breaker { .. } => self.open_breaker(now),
        }
    }

    fn open_breaker(&mut self, now: Instant) {
        let cool_down = match self.config.on_limit {
            LimitPolicy::Breaker { cool_down } => cool_down,
            // Only reachable with a breaker policy; a zero wait is still safe.
            LimitPolicy::GiveUp => Duration::ZERO,
        };
        self.breaker = BreakerState::Open;
        self.retry_at = Some(now + cool_down);
        self.set_state(now, State::Backoff);
        self.push_event(Event::BreakerOpened { cool_down });
    }

    fn enter_final(&mut self, now: Instant, state: State) {
        self.retry_at = None;
        self.connect_deadline = None;
        self.stable_at = None;
        self.heartbeat = Heartbeat::default();
        self.set_state(now, state);
    }

    fn set_state(&mut self, now: Instant, to: State) {
        let from = self.state;
        if from == to {
            return;
        }
        let spent = duration_millis(now - self.state_since);
        let slot = &mut self.stats.closed_state_ms[from.index()];
        *slot = slot.saturating_add(spent);
        self.state = to;
        self.state_since = now;
        self.push_event(Event::StateChanged { from, to });
    }

    fn push_action(&mut self, action: Action) {
        if let Err(action) = self.actions.push_back(action) {
            // An undrained driver: keep the newest, which reflects the current state.
            let _ = self.actions.pop_front();
            let _ = self.actions.push_back(action);
        }
    }

    fn push_event(&mut self, event: Event) {
        if let Err(event) = self.events.push_back(event) {
            let _ = self.events.pop_front();
            let _ = self.events.push_back(event);
            self.unreported_drops = self.unreported_drops.saturating_add(1);
            self.stats.events_dropped = self.stats.events_dropped.saturating_add(1);
        }
    }
}

//! The supervisor in virtual time: the clock is stepped, never slept on, and
//! every random generator is seeded so a failure replays.
//!
//! [`Driven`] is the driver side of the contract, written once: it drains
//! after every input, feeds the statistics and remembers the attempt in
//! progress, so each scenario reads as what happens to the link.

mod breaker;
mod close;
mod drain;
mod footprint;
mod heartbeat;
mod limits;
mod schedule;
mod soak;
mod stats;

#[path = "../scripts/supervisor_ops.rs"]
mod supervisor_ops;

use core::time::Duration;

use wstether::{
    Action, AttemptId, BackoffConfig, Cause, Config, Deadline, Event, Failure, HeartbeatConfig, Inbound, Instant,
    Jitter, Output, Snapshot, Stats, Supervisor, MAX_OUTPUTS_PER_INPUT,
};

pub const MS: Duration = Duration::from_millis(1);

pub fn io() -> Failure {
    Failure::transient(Cause::Io)
}

/// No jitter, ×2 from 100 ms to 3 s, stable after 10 s, ping after 20 s,
/// pong within 5 s.
pub fn plain_config() -> Config {
    Config {
        backoff: BackoffConfig {
            initial: Duration::from_millis(100),
            multiplier_permille: 2_000,
            cap: Duration::from_secs(3),
            jitter: Jitter::None,
            cap_jitter: None,
            stable_after: Duration::from_secs(10),
            ..BackoffConfig::default()
        },
        heartbeat: HeartbeatConfig {
            ping_interval: Some(Duration::from_secs(20)),
            pong_timeout: Duration::from_secs(5),
            idle_timeout: None,
        },
        ..Config::default()
    }
}

/// A supervisor and a driver that keeps the drain contract.
pub struct Driven {
    pub sup: Supervisor,
    pub stats: Stats,
    /// The attempt the last `Connect` named.
    pub id: Option<AttemptId>,
    actions: Vec<Action>,
    events: Vec<Event>,
    /// Everything drained, in order, since the last `take_outputs`.
    outputs: Vec<Output>,
}

impl Driven {
    pub fn new(config: Config, seed: u64) -> Driven {
        Driven {
            sup: Supervisor::new(config, seed).expect("a valid configuration"),
            stats: Stats::new(Instant::ZERO),
            id: None,
            actions: Vec::new(),
            events: Vec::new(),
            outputs: Vec::new(),
        }
    }

    fn drain(&mut self, now: Instant) {
        let mut count = 0;
        loop {
            let output = self.sup.poll_output();
            match output {
                Output::Action(action) => {
                    if let Action::Connect { id, .. } = action {
                        self.id = Some(id);
                    }
                    self.actions.push(action);
                }
                Output::Event(event) => {
                    self.stats.record(now, &event);
                    self.events.push(event);
                }
                Output::Timeout(deadline) => {
                    assert_eq!(deadline, self.sup.poll_timeout());
                    break;
                }
            }
            self.outputs.push(output);
            count += 1;
        }
        assert!(count <= MAX_OUTPUTS_PER_INPUT, "{count} outputs from one input");
    }

    fn attempt(&self) -> AttemptId {
        self.id.unwrap_or(self.sup.last_attempt())
    }

    pub fn start(&mut self, now: Instant) {
        self.sup.start(now);
        self.drain(now);
    }

    pub fn connected(&mut self, now: Instant) {
        let id = self.attempt();
        self.sup.handle_connected(now, id);
        self.drain(now);
    }

    pub fn connect_failed(&mut self, now: Instant, failure: Failure) {
        let id = self.attempt();
        self.sup.handle_connect_failed(now, id, failure);
        self.drain(now);
    }

    pub fn disconnected(&mut self, now: Instant, failure: Failure) {
        let id = self.attempt();
        self.sup.handle_disconnected(now, id, failure);
        self.drain(now);
    }

    pub fn inbound(&mut self, now: Instant, kind: Inbound) {
        self.sup.handle_inbound(now, kind);
        self.drain(now);
    }

    /// `handle_timeout(now)`, as often as the supervisor leaves a deadline
    /// that is due (it fires one more only while its outputs fit).
    /// Bounded: at the end of time every new deadline is due at once.
    pub fn timeout(&mut self, now: Instant) {
        for _ in 0..16 {
            self.sup.handle_timeout(now);
            self.drain(now);
            if self.sup.poll_timeout().is_none_or(|d| d.at > now) {
                return;
            }
        }
    }

    pub fn close(&mut self, now: Instant) {
        self.sup.close(now);
        self.drain(now);
    }

    pub fn reconnect_now(&mut self, now: Instant) {
        self.sup.reconnect_now(now);
        self.drain(now);
    }

    pub fn mark_healthy(&mut self, now: Instant) {
        self.sup.mark_healthy(now);
        self.drain(now);
    }

    /// Actions and events since the last call.
    pub fn take(&mut self) -> (Vec<Action>, Vec<Event>) {
        self.outputs.clear();
        (core::mem::take(&mut self.actions), core::mem::take(&mut self.events))
    }

    /// Everything drained since the last call, actions and events in one order.
    pub fn take_outputs(&mut self) -> Vec<Output> {
        self.actions.clear();
        self.events.clear();
        core::mem::take(&mut self.outputs)
    }

    pub fn deadline(&self) -> Option<Deadline> {
        self.sup.poll_timeout()
    }

    /// Jumps to the next deadline and handles it.
    pub fn advance(&mut self) -> (Instant, Vec<Action>, Vec<Event>) {
        let at = self.deadline().expect("a deadline").at;
        self.take();
        self.timeout(at);
        let (actions, events) = self.take();
        (at, actions, events)
    }

    pub fn snapshot(&self, now: Instant) -> Snapshot {
        self.stats.snapshot(now)
    }
}

pub fn scheduled_delay(events: &[Event]) -> Option<Duration> {
    events.iter().find_map(|e| match e {
        Event::ReconnectScheduled { delay, .. } => Some(delay.delay()),
        _ => None,
    })
}

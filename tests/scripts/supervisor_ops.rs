// Interprets arbitrary bytes as a configuration and a sequence of supervisor
// inputs, and checks the supervisor's invariants after every step. Shared by
// the fuzz target, the corpus replay test, the virtual-time soak and the
// zero-allocation test, so it uses no heap itself.

use core::time::Duration;

use heapless::Deque;
use wstether::{
    Action, BackoffConfig, Cause, Config, ConnectRateLimit, EndpointConfig, Event, Failure, FailureClass,
    HeartbeatConfig, Inbound, Instant, Jitter, LimitPolicy, Output, State, Stats, Supervisor, MAX_OUTPUTS_PER_INPUT,
};

/// What one run saw, for tests that want more than "no invariant broke".
#[derive(Debug, Default, Clone, Copy)]
pub struct Summary {
    pub steps: u64,
    pub connects_requested: u64,
    pub gave_up: u32,
}

struct Bytes<'a> {
    data: &'a [u8],
}

impl Bytes<'_> {
    fn next(&mut self) -> Option<u8> {
        let (first, rest) = self.data.split_first()?;
        self.data = rest;
        Some(*first)
    }
    fn byte(&mut self) -> u8 {
        self.next().unwrap_or(0)
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }
}

fn config_from(bytes: &mut Bytes<'_>) -> Config {
    let flags = bytes.byte();
    let jitter = match bytes.byte() % 6 {
        0 => Jitter::None,
        1 => Jitter::Full,
        2 => Jitter::Equal,
        3 => Jitter::Decorrelated,
        4 => Jitter::Proportional(bytes.u16() % 2_000),
        _ => Jitter::Symmetric(bytes.u16() % 1_001),
    };
    // Flag 128: the default schedule's shape, `Phased` growth with any cap
    // jitter, and the Retry-After knobs. Read here so that a script without
    // the flag means what it meant before the flag existed.
    let mut retry = BackoffConfig::default();
    let (jitter, cap_jitter) = if flags & 128 != 0 {
        let phased = Jitter::Phased(bytes.u16() % 1_001);
        let cap_jitter = match bytes.byte() % 3 {
            0 => None,
            1 => Some(jitter),
            _ => Some(Jitter::Symmetric(50)),
        };
        retry.max_retry_after = Duration::from_millis(u64::from(bytes.u16()) * 16);
        retry.retry_after_spread_permille = bytes.u16();
        retry.retry_later_floor = Duration::from_millis(u64::from(bytes.u16()) * 16);
        (phased, cap_jitter)
    } else if flags & 1 != 0 {
        (jitter, Some(Jitter::Symmetric(200)))
    } else {
        (jitter, None)
    };
    let initial = Duration::from_millis(u64::from(bytes.u16()));
    Config {
        backoff: BackoffConfig {
            initial,
            multiplier_permille: 1_000u16.saturating_add(bytes.u16()),
            cap: initial + Duration::from_millis(u64::from(bytes.u16()) * 16),
            jitter,
            cap_jitter,
            max_attempts: if flags & 2 != 0 {
                Some(1 + u32::from(bytes.byte() % 16))
            } else {
                None
            },
            max_elapsed: if flags & 4 != 0 {
                Some(Duration::from_secs(1 + u64::from(bytes.byte())))
            } else {
                None
            },
            stable_after: Duration::from_millis(1 + u64::from(bytes.u16())),
            ..retry
        },
        heartbeat: HeartbeatConfig {
            ping_interval: if flags & 8 != 0 {
                Some(Duration::from_millis(1 + u64::from(bytes.u16())))
            } else {
                None
            },
            pong_timeout: Duration::from_millis(1 + u64::from(bytes.u16())),
            idle_timeout: if flags & 16 != 0 {
                Some(Duration::from_millis(1 + u64::from(bytes.u16())))
            } else {
                None
            },
        },
        on_limit: if flags & 32 != 0 {
            LimitPolicy::Breaker {
                cool_down: Duration::from_millis(u64::from(bytes.u16())),
            }
        } else {
            LimitPolicy::GiveUp
        },
        connect_rate_limit: if flags & 64 != 0 {
            Some(ConnectRateLimit {
                attempts: 1 + u32::from(bytes.byte() % 8),
                window: Duration::from_millis(1 + u64::from(bytes.u16()) * 4),
            })
        } else {
            None
        },
        endpoints: EndpointConfig {
            count: 1 + bytes.byte() % 4,
            rotate_after: 1 + u32::from(bytes.byte() % 3),
        },
        connect_timeout: Duration::from_millis(1 + u64::from(bytes.u16())),
    }
}

fn failure_from(byte: u8) -> Failure {
    match byte % 8 {
        0 => Failure::transient(Cause::Io),
        1 => Failure::transient(Cause::Timeout),
        2 => Failure::http_status(429, Some(Duration::from_secs(u64::from(byte)))),
        3 => Failure::http_status(503, None),
        4 => Failure::close(1013, &Default::default()),
        5 => Failure::transient(Cause::Abnormal),
        6 if byte > 250 => Failure::http_status(401, None),
        _ => Failure::close(1001, &Default::default()),
    }
}

/// What the checks carry from one step to the next.
struct Checker {
    config: Config,
    stats: Stats,
    /// Recent connect times, to check the rate limit over a sliding window.
    recent: Deque<Instant, 16>,
    summary: Summary,
    finished_at: Option<u64>,
    /// The earliest time the next `Connect` may come: the end of the delay,
    /// throttle or cool-down announced last, until `BackoffSkipped`.
    not_before: Option<Instant>,
}

/// Runs the script in `data`; panics when an invariant breaks.
pub fn run(data: &[u8]) -> Summary {
    let mut bytes = Bytes { data };
    let config = config_from(&mut bytes);
    let seed = u64::from(bytes.u16());
    let Ok(mut sup) = Supervisor::new(config, seed) else {
        return Summary::default();
    };
    let mut now = Instant::from_secs(1);
    let mut checker = Checker {
        config,
        stats: Stats::new(now),
        recent: Deque::new(),
        summary: Summary::default(),
        finished_at: None,
        not_before: None,
    };
    sup.start(now);
    checker.drain(&mut sup, now);
    while let Some(op) = bytes.next() {
        let arg = bytes.byte();
        now = now + Duration::from_millis(u64::from(arg) * u64::from(arg % 16));
        let id = sup.last_attempt();
        match op % 11 {
            0 => sup.handle_connected(now, id),
            1 => sup.handle_connect_failed(now, id, failure_from(arg)),
            2 => sup.handle_inbound(now, Inbound::Data),
            3 => sup.handle_inbound(now, Inbound::Control),
            4 => sup.handle_disconnected(now, id, failure_from(arg)),
            5 => sup.handle_timeout(now),
            6 | 7 => {
                // Jump to the next deadline, or a step before it, to probe both sides.
                if let Some(deadline) = sup.poll_timeout() {
                    now = now.max(if op % 11 == 6 {
                        deadline.at
                    } else {
                        deadline.at - Duration::from_micros(1)
                    });
                }
                // A timer left over (its outputs did not fit) is still due:
                // the driver calls again, as the drain tells it to.
                for _ in 0..8 {
                    sup.handle_timeout(now);
                    checker.drain(&mut sup, now);
                    if sup.poll_timeout().is_none_or(|d| d.at > now) {
                        break;
                    }
                }
                if let Some(deadline) = sup.poll_timeout() {
                    assert!(
                        deadline.at > now,
                        "deadline {} not after {now} once handled",
                        deadline.at
                    );
                }
            }
            8 => sup.reconnect_now(now),
            9 => sup.mark_healthy(now),
            _ => {
                if arg % 4 == 0 {
                    sup.close(now);
                }
            }
        }
        checker.summary.steps += 1;
        checker.drain(&mut sup, now);
    }
    // Whatever happened, closing is safe and final.
    sup.close(now);
    checker.drain(&mut sup, now);
    assert!(sup.state().is_final());
    checker.summary
}

impl Checker {
    /// Drains every output of one input and checks it.
    fn drain(&mut self, sup: &mut Supervisor, now: Instant) {
        let mut count = 0;
        loop {
            match sup.poll_output() {
                Output::Action(action) => self.action(action, now),
                Output::Event(event) => self.event(sup, &event, now),
                Output::Timeout(deadline) => {
                    assert_eq!(deadline, sup.poll_timeout());
                    break;
                }
            }
            count += 1;
        }
        assert!(count <= MAX_OUTPUTS_PER_INPUT, "{count} outputs from one input");
        if sup.state().is_final() && self.finished_at.is_none() {
            self.finished_at = Some(self.summary.steps);
        }
        if sup.state().is_final() {
            assert_eq!(sup.poll_timeout(), None);
            assert!(sup.outcome().is_some());
        } else {
            assert_eq!(sup.outcome(), None);
        }
        let c = self.stats.counters();
        assert!(c.connects <= c.attempts);
        assert!(c.disconnects <= c.connects);
        assert_eq!(self.stats.snapshot(now).state, sup.state());
    }

    fn action(&mut self, action: Action, now: Instant) {
        assert!(
            self.finished_at.is_none_or(|step| step == self.summary.steps),
            "action {action:?} after the end"
        );
        if let Action::Connect { attempt, endpoint, .. } = action {
            self.summary.connects_requested += 1;
            if let Some(due) = self.not_before.take() {
                assert!(now >= due, "connect at {now}, before {due}");
            }
            // Breaker probes go past the limit by design.
            if let (Some(max), LimitPolicy::GiveUp) = (self.config.backoff.max_attempts, self.config.on_limit) {
                assert!(attempt <= max, "attempt {attempt} over the limit {max}");
            }
            assert!(endpoint < self.config.endpoints.count);
            if let Some(limit) = self.config.connect_rate_limit {
                while self.recent.front().is_some_and(|t| now - *t >= limit.window) {
                    self.recent.pop_front();
                }
                assert!(
                    (self.recent.len() as u32) < limit.attempts,
                    "rate limit exceeded at {now}"
                );
                if self.recent.is_full() {
                    self.recent.pop_front();
                }
                let _ = self.recent.push_back(now);
            }
        }
    }

    fn event(&mut self, sup: &Supervisor, event: &Event, now: Instant) {
        self.stats.record(now, event);
        match event {
            Event::GaveUp { .. } => {
                self.summary.gave_up += 1;
                assert_eq!(self.summary.gave_up, 1, "gave up twice");
                assert_eq!(sup.state(), State::Failed);
            }
            Event::Rejected { failure } => assert_eq!(failure.class, FailureClass::Permanent),
            Event::OutputsDropped { .. } => panic!("a draining driver lost events"),
            Event::ReconnectScheduled { delay, .. } => {
                let backoff = &self.config.backoff;
                assert!(delay.base() <= backoff.cap, "base {:?} over the cap", delay.base());
                let bound = max_delay(backoff);
                assert!(delay.delay() <= bound, "{delay:?} over {bound:?}");
                self.not_before = Some(now + delay.delay());
            }
            Event::Throttled { wait_ms } => self.not_before = Some(now + Duration::from_millis(u64::from(*wait_ms))),
            Event::BreakerOpened { cool_down_ms } => {
                self.not_before = Some(now + Duration::from_millis(u64::from(*cool_down_ms)));
            }
            Event::BackoffSkipped => self.not_before = None,
            _ => {}
        }
        if let Some(end) = event.outcome() {
            assert_eq!(sup.outcome(), Some(end));
        }
    }
}

/// The longest delay the schedule may draw: the cap with the widest jitter
/// that applies (growth or cap jitter), or a Retry-After clamped to
/// `max_retry_after` and spread.
fn max_delay(backoff: &BackoffConfig) -> Duration {
    let cap = backoff.cap.as_millis() as u64;
    let widest = |jitter: Jitter| match jitter {
        Jitter::None | Jitter::Full | Jitter::Equal | Jitter::Phased(_) => cap,
        Jitter::Decorrelated => cap.max(backoff.initial.as_millis() as u64),
        Jitter::Proportional(p) => cap + cap * u64::from(p) / 1_000,
        Jitter::Symmetric(p) => cap + cap * u64::from(p.min(1_000)) / 1_000,
    };
    let drawn = widest(backoff.jitter).max(widest(backoff.cap_jitter.unwrap_or(backoff.jitter)));
    let retry_after = backoff.max_retry_after.as_millis() as u64;
    let floored = retry_after + retry_after * u64::from(backoff.retry_after_spread_permille) / 1_000;
    Duration::from_millis(drawn.max(floored))
}

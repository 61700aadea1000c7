// Interprets arbitrary bytes as a configuration and a sequence of supervisor
// inputs, and checks the supervisor's invariants after every step. Shared by
// the fuzz target, the corpus replay test, the virtual-time soak and the
// zero-allocation test, so it uses no heap itself.

use core::time::Duration;

use heapless::Deque;
use wstether::{
    Action, BackoffConfig, Cause, Config, EndpointConfig, Event, Failure, FailureClass, HeartbeatConfig, Inbound,
    Instant, Jitter, LimitPolicy, RateLimitConfig, State, Supervisor,
};

/// What one run saw, for tests that want more than "no invariant broke".
#[derive(Debug, Default, Clone, Copy)]
pub struct Outcome {
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
    let initial = Duration::from_millis(u64::from(bytes.u16()));
    Config {
        backoff: BackoffConfig {
            initial,
            multiplier_permille: 1_000 + u32::from(bytes.u16()),
            cap: initial + Duration::from_millis(u64::from(bytes.u16()) * 16),
            jitter,
            cap_jitter: if flags & 1 != 0 {
                Some(Jitter::Symmetric(200))
            } else {
                None
            },
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
            ..BackoffConfig::default()
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
        rate_limit: if flags & 64 != 0 {
            Some(RateLimitConfig {
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

/// Runs the script in `data`; panics when an invariant breaks.
pub fn run(data: &[u8]) -> Outcome {
    let mut bytes = Bytes { data };
    let config = config_from(&mut bytes);
    let seed = u64::from(bytes.u16());
    let Ok(mut sup) = Supervisor::new(config, seed) else {
        return Outcome::default();
    };
    let mut outcome = Outcome::default();
    // Recent connect times, to check the rate limit over a sliding window.
    let mut recent: Deque<Instant, 16> = Deque::new();
    let mut now = Instant::from_secs(1);
    let mut finished_at: Option<u64> = None;
    sup.start(now);
    check(&mut sup, &config, now, &mut recent, &mut outcome, &mut finished_at);
    while let Some(op) = bytes.next() {
        let arg = bytes.byte();
        now = now + Duration::from_millis(u64::from(arg) * u64::from(arg % 16));
        match op % 9 {
            0 => sup.handle_connected(now),
            1 => sup.handle_connect_failed(now, failure_from(arg)),
            2 => sup.handle_inbound(now, Inbound::Data),
            3 => sup.handle_inbound(now, Inbound::Control),
            4 => sup.handle_disconnected(now, failure_from(arg)),
            5 => sup.handle_timeout(now),
            6 | 7 => {
                // Jump to the next deadline, or a step before it, to probe both sides.
                if let Some((deadline, _)) = sup.poll_timeout() {
                    now = now.max(if op % 9 == 6 {
                        deadline
                    } else {
                        deadline - Duration::from_micros(1)
                    });
                }
                sup.handle_timeout(now);
                if let Some((deadline, _)) = sup.poll_timeout() {
                    assert!(deadline > now, "deadline {deadline} not after {now} once handled");
                }
            }
            _ => {
                if arg % 4 == 0 {
                    sup.close(now);
                }
            }
        }
        outcome.steps += 1;
        check(&mut sup, &config, now, &mut recent, &mut outcome, &mut finished_at);
    }
    // Whatever happened, closing is safe and final.
    sup.close(now);
    while sup.poll_action().is_some() {}
    assert!(sup.state().is_final());
    outcome
}

fn check(
    sup: &mut Supervisor,
    config: &Config,
    now: Instant,
    recent: &mut Deque<Instant, 16>,
    outcome: &mut Outcome,
    finished_at: &mut Option<u64>,
) {
    while let Some(action) = sup.poll_action() {
        assert!(
            finished_at.is_none_or(|step| step == outcome.steps),
            "action {action:?} after the end"
        );
        if let Action::Connect { attempt, endpoint } = action {
            outcome.connects_requested += 1;
            // Breaker probes go past the limit by design.
            if let (Some(max), LimitPolicy::GiveUp) = (config.backoff.max_attempts, config.on_limit) {
                assert!(attempt <= max, "attempt {attempt} over the limit {max}");
            }
            assert!(endpoint < config.endpoints.count);
            if let Some(limit) = config.rate_limit {
                while recent.front().is_some_and(|t| now - *t >= limit.window) {
                    recent.pop_front();
                }
                assert!((recent.len() as u32) < limit.attempts, "rate limit exceeded at {now}");
                if recent.is_full() {
                    recent.pop_front();
                }
                let _ = recent.push_back(now);
            }
        }
    }
    while let Some(event) = sup.poll_event() {
        if let Event::GaveUp { .. } = event {
            outcome.gave_up += 1;
            assert_eq!(outcome.gave_up, 1, "gave up twice");
        }
        if let Event::Rejected { failure } = event {
            assert_eq!(failure.class, FailureClass::Permanent);
        }
    }
    if sup.state().is_final() && finished_at.is_none() {
        *finished_at = Some(outcome.steps);
    }
    if sup.state().is_final() {
        assert_eq!(sup.poll_timeout(), None);
    }
    if sup.state() == State::Failed && outcome.gave_up == 1 {
        assert!(sup.stats().limit_reached >= 1);
    }
    let stats = sup.stats();
    assert!(stats.connects <= stats.attempts);
    assert!(stats.disconnects <= stats.connects);
}

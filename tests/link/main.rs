//! The link layer as its users meet it: a connect that never blocks the
//! caller's loop, the HTTP upgrade as real servers answer it, a fresh
//! request for every attempt, delivery that is accounted for to the message,
//! fairness under floods, the right verdicts, proxies and address racing.
//!
//! Loopback servers and proxies from `tests/support`, started per test.

mod connect;
mod control;
mod credentials;
mod delivery;
mod fairness;
mod peers;
mod proxy;
mod upgrade;
mod verdicts;

#[path = "../support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use wstether::client::{ClientBuilder, ClientEvent, EventKind, Incoming, Session};
use wstether::{BackoffConfig, Event, Jitter};

/// Retries quickly and predictably, never through an environment proxy.
pub fn quick(url: &str) -> ClientBuilder {
    ClientBuilder::new(url)
        .no_proxy()
        .seed(1)
        .backoff(BackoffConfig {
            initial: Duration::from_millis(50),
            multiplier_permille: 1_000,
            cap: Duration::from_millis(50),
            jitter: Jitter::None,
            cap_jitter: None,
            ..BackoffConfig::default()
        })
        .connect_timeout(Duration::from_secs(5))
}

/// Polls `session` until `want` matches an event or `timeout` passes; every
/// item seen is kept in `seen`.
pub fn poll_until(
    session: &mut Session,
    timeout: Duration,
    seen: &mut Vec<Incoming>,
    mut want: impl FnMut(&ClientEvent) -> bool,
) -> Option<ClientEvent> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some(item) = session.poll(Some(Duration::from_millis(20))) {
            let hit = match &item {
                Incoming::Event(event) if want(event) => Some(event.clone()),
                _ => None,
            };
            seen.push(item);
            if hit.is_some() {
                return hit;
            }
        }
    }
    None
}

/// Polls `session` until its link is up (or fails the test); every item seen
/// is kept in `seen`.
pub fn poll_until_connected(session: &mut Session, seen: &mut Vec<Incoming>) {
    poll_until(session, support::PATIENCE, seen, |e| {
        supervisor(e, |ev| matches!(ev, Event::Connected { .. }))
    })
    .expect("the link opens");
}

/// The supervisor's event, if `event` is one and `f` says so.
pub fn supervisor(event: &ClientEvent, f: impl Fn(&Event) -> bool) -> bool {
    matches!(&event.kind, EventKind::Supervisor(e) if f(e))
}

/// The messages among `seen`, as text.
pub fn texts_of(seen: &[Incoming]) -> Vec<String> {
    seen.iter()
        .filter_map(|item| match item {
            Incoming::Message(m) => Some(m.to_text().expect("text").to_string()),
            Incoming::Event(_) => None,
        })
        .collect()
}

//! The client side of the integration tests, shared by `client`, `faults`
//! and `soak` (the harness in `tests/support/` uses no wstether API): a fast
//! reconnect schedule, a builder with short deadlines and no proxy, a
//! recorder of the client's events, and the checks every test makes on what
//! was handed back.

// Each test binary uses a different part of these helpers.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use wstether::client::{Client, ClientBuilder, ClientEvent, Ending, EventKind, Reason, Undelivered};
use wstether::{BackoffConfig, Cause, Event, Failure, Jitter};

use crate::support::{ms, PATIENCE};

/// A fast schedule: 20 ms, doubling to 200 ms, no jitter, never stable
/// during a test (so the attempt count keeps growing across flaps).
pub fn fast_backoff() -> BackoffConfig {
    BackoffConfig {
        initial: ms(20),
        multiplier_permille: 2_000,
        cap: ms(200),
        jitter: Jitter::None,
        cap_jitter: None,
        stable_after: Duration::from_secs(30),
        ..BackoffConfig::default()
    }
}

/// How long a test client may spend writing its queue on close, and then
/// again on the close handshake.
pub const CLOSE_TIMEOUT: Duration = Duration::from_millis(500);

/// A client builder with the fast schedule, a seed, short connect and close
/// deadlines, and no proxy (so a proxy variable in the environment never
/// interferes).
pub fn fast_builder(url: &str) -> ClientBuilder {
    ClientBuilder::new(url)
        .backoff(fast_backoff())
        .seed(1)
        .connect_timeout(Duration::from_secs(2))
        .close_timeout(CLOSE_TIMEOUT)
        .close_handshake_timeout(CLOSE_TIMEOUT)
        .no_proxy()
}

// ---------------------------------------------------------------- events

/// The client's events as they are taken from its queue, kept for later
/// assertions.
#[derive(Debug, Default)]
pub struct Events {
    pub seen: Vec<ClientEvent>,
}

impl Events {
    /// Takes events until one satisfies `pred` (returned) or `timeout`
    /// passes.
    pub fn wait_kind(
        &mut self,
        rx: &wstether::client::Events,
        timeout: Duration,
        mut pred: impl FnMut(&EventKind) -> bool,
    ) -> Option<ClientEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let event = rx.recv_timeout(left).ok()?;
            self.seen.push(event.clone());
            if pred(&event.kind) {
                return Some(event);
            }
        }
    }

    /// Takes events until a supervisor event satisfies `pred`, or `timeout`
    /// passes.
    pub fn wait(
        &mut self,
        rx: &wstether::client::Events,
        timeout: Duration,
        mut pred: impl FnMut(&Event) -> bool,
    ) -> Option<ClientEvent> {
        self.wait_kind(rx, timeout, |kind| matches!(kind, EventKind::Supervisor(e) if pred(e)))
    }

    /// Like [`Events::wait`], but a missing event fails the test with the
    /// events seen so far.
    pub fn expect(
        &mut self,
        rx: &wstether::client::Events,
        what: &str,
        pred: impl FnMut(&Event) -> bool,
    ) -> ClientEvent {
        match self.wait(rx, PATIENCE, pred) {
            Some(event) => event,
            None => panic!("no {what} event within {PATIENCE:?}; saw {:#?}", self.seen),
        }
    }

    /// The next failed attempt: its number, the failure and the event's
    /// detail; fails the test when none comes.
    pub fn expect_connect_failed(&mut self, rx: &wstether::client::Events) -> (u32, Failure, Option<String>) {
        let failed = self.expect(rx, "ConnectFailed", is_connect_failed);
        let Event::ConnectFailed { attempt, failure } = supervisor(&failed) else {
            unreachable!()
        };
        (attempt, failure, failed.detail)
    }

    /// Like [`Events::wait_kind`], failing the test when nothing matches.
    pub fn expect_kind(
        &mut self,
        rx: &wstether::client::Events,
        what: &str,
        pred: impl FnMut(&EventKind) -> bool,
    ) -> ClientEvent {
        match self.wait_kind(rx, PATIENCE, pred) {
            Some(event) => event,
            None => panic!("no {what} event within {PATIENCE:?}; saw {:#?}", self.seen),
        }
    }

    /// Takes whatever is already waiting.
    pub fn drain(&mut self, rx: &wstether::client::Events) {
        while let Ok(event) = rx.try_recv() {
            self.seen.push(event);
        }
    }

    /// The supervisor's events seen so far.
    pub fn events(&self) -> Vec<Event> {
        self.seen.iter().filter_map(|e| e.supervisor().copied()).collect()
    }

    /// How many supervisor events satisfy `pred`.
    pub fn count(&self, mut pred: impl FnMut(&Event) -> bool) -> usize {
        self.seen
            .iter()
            .filter(|e| e.supervisor().is_some_and(&mut pred))
            .count()
    }

    /// How many events of any kind satisfy `pred`.
    pub fn count_kind(&self, mut pred: impl FnMut(&EventKind) -> bool) -> usize {
        self.seen.iter().filter(|e| pred(&e.kind)).count()
    }
}

/// The supervisor's event inside `event`; fails the test on a link-layer one.
pub fn supervisor(event: &ClientEvent) -> Event {
    *event
        .supervisor()
        .unwrap_or_else(|| panic!("not a supervisor event: {event:?}"))
}

pub fn is_connected(e: &Event) -> bool {
    matches!(e, Event::Connected { .. })
}

pub fn is_scheduled(e: &Event) -> bool {
    matches!(e, Event::ReconnectScheduled { .. })
}

pub fn is_connect_failed(e: &Event) -> bool {
    matches!(e, Event::ConnectFailed { .. })
}

pub fn is_disconnected(e: &Event) -> bool {
    matches!(e, Event::Disconnected { .. })
}

/// A permanent failure with `cause`.
pub fn rejected_with(cause: Cause) -> impl FnMut(&Event) -> bool {
    move |e| matches!(e, Event::Rejected { failure } if failure.cause == cause)
}

/// A lost link with `cause`, worth a reconnect.
pub fn disconnected_by(cause: Cause) -> impl FnMut(&Event) -> bool {
    move |e| matches!(e, Event::Disconnected { failure } if failure.cause == cause && !failure.is_permanent())
}

/// The heartbeat dropped the link: no pong within the pong timeout.
pub fn is_heartbeat_timeout(e: &Event) -> bool {
    matches!(e, Event::Disconnected { failure } if failure.cause == Cause::HeartbeatTimeout)
}

// ---------------------------------------------------------------- endings

/// The text of each message handed back; every one must have been handed
/// back as never written (no test here uses acknowledgements or a TTL).
pub fn handed_back(undelivered: &[Undelivered]) -> Vec<String> {
    undelivered
        .iter()
        .map(|u| {
            assert_eq!(u.reason, Reason::NotSent, "{u:?}");
            u.message.to_text().expect("a text message").to_string()
        })
        .collect()
}

/// Waits until the client's session has ended and every message was taken:
/// `recv` reports the end. After this no further attempt can happen.
pub fn expect_finished(client: &Client) -> Ending {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        match client.recv_timeout(ms(100)) {
            Err(finished) => return finished.0,
            Ok(Some(message)) => panic!("unexpected message {message:?}"),
            Ok(None) => {}
        }
    }
    panic!("client did not finish");
}

/// Compares long message lists without printing them whole.
pub fn assert_same(got: &[String], expected: &[String]) {
    if let Some(i) = (0..got.len().max(expected.len())).find(|&i| got.get(i) != expected.get(i)) {
        panic!(
            "message lists differ at {i}: got {} messages ({:?}…), expected {} ({:?}…)",
            got.len(),
            &got[i.min(got.len())..(i + 5).min(got.len())],
            expected.len(),
            &expected[i.min(expected.len())..(i + 5).min(expected.len())],
        );
    }
}

pub fn assert_within(elapsed: Duration, bound: Duration, what: &str) {
    assert!(elapsed <= bound, "{what} took {elapsed:?}, more than {bound:?}");
}

/// Sends `messages`, remembering them.
pub fn send_all(client: &Client, sent: &mut Vec<String>, messages: &[&str]) {
    for m in messages {
        client.send(*m).unwrap();
        sent.push(m.to_string());
    }
}

/// Checks what the server received across links: each link starts with
/// every subscription in `subs`, once, in order; the other messages, across
/// links, are `sent` in order, each exactly once.
pub fn assert_nothing_lost(got: &[(usize, String)], subs: &[&str], sent: &[String]) {
    let mut links: Vec<usize> = got.iter().map(|(conn, _)| *conn).collect();
    links.dedup();
    for link in &links {
        let on_link: Vec<&str> = got.iter().filter(|(c, _)| c == link).map(|(_, t)| t.as_str()).collect();
        assert!(
            on_link.starts_with(subs),
            "link {link} does not start with {subs:?}: {on_link:?}"
        );
        for sub in subs {
            assert_eq!(
                on_link.iter().filter(|t| *t == sub).count(),
                1,
                "{sub} on link {link}: {on_link:?}"
            );
        }
    }
    let queued: Vec<String> = got
        .iter()
        .map(|(_, t)| t.clone())
        .filter(|t| !subs.contains(&t.as_str()))
        .collect();
    assert_same(&queued, sent);
}

//! The supervisor's drain, done: actions carried out, events recorded in the
//! statistics, logged with context, and handed to the caller in order; the
//! status other threads read.

use std::string::{String, ToString};

use log::{debug, error, info, warn};
use tungstenite::Message;

use super::{Link, Session};
use crate::client::event::EventKind;
use crate::{Action, Event, Instant, Output};

/// An attempt limit for logs: `3` or `∞`.
struct Limit(Option<u32>);

impl core::fmt::Display for Limit {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some(max) => write!(f, "{max}"),
            None => f.write_str("∞"),
        }
    }
}

impl Session {
    /// Drains the supervisor: every action done and every event reported,
    /// in the order they arose.
    pub(super) fn drain(&mut self, now: Instant) {
        loop {
            match self.sup.poll_output() {
                Output::Action(action) => self.perform(now, action),
                Output::Event(event) => self.supervisor_event(now, event),
                Output::Timeout(_) => return,
            }
        }
    }

    fn perform(&mut self, now: Instant, action: Action) {
        match action {
            Action::Connect { id, attempt, endpoint } => self.start_attempt(now, id, attempt, endpoint),
            Action::SendPing => {
                if let Link::Open(open) = &mut self.link {
                    if !self.closing.frame_sent() {
                        match open.ws.write(Message::Ping(Default::default())) {
                            Ok(()) => self.send_out(now),
                            Err(e) => self.lost(now, crate::transport::TransportError::from_websocket(e)),
                        }
                    }
                }
            }
            Action::Drop { failure } => {
                if self.last_error.is_none() || matches!(self.link, Link::Open(_)) {
                    self.last_error = Some(failure.to_string());
                }
                self.drop_link();
            }
            Action::Close => self.close_link(now),
        }
    }

    fn supervisor_event(&mut self, now: Instant, event: Event) {
        self.stats.record(now, &event);
        if let Some(to) = event.entered_state() {
            if to != self.reported_state {
                let from = core::mem::replace(&mut self.reported_state, to);
                self.report(EventKind::StateChanged { from, to }, None);
            }
        }
        let detail = match event {
            Event::ConnectFailed { .. }
            | Event::Disconnected { .. }
            | Event::Rejected { .. }
            | Event::GaveUp { .. } => self.last_error.clone(),
            Event::AttemptStarted { endpoint, .. } => self
                .settings
                .endpoints
                .get(usize::from(endpoint))
                .map(|e| describe_endpoint(&e.target, e.proxy.as_ref())),
            _ => None,
        };
        self.log(&event, detail.as_deref());
        self.report(EventKind::Supervisor(event), detail);
    }

    /// Hands an event to the caller, in order with the messages.
    pub(super) fn report(&mut self, kind: EventKind, detail: Option<String>) {
        let event = self.shared.event(kind, detail);
        self.ready.push_event(event);
    }

    fn log(&self, event: &Event, detail: Option<&str>) {
        let max = Limit(self.sup.config().backoff.max_attempts);
        let detail = detail.unwrap_or("");
        match event {
            Event::AttemptStarted { attempt, .. } => debug!("connecting attempt={attempt}/{max} {detail}"),
            Event::Connected { attempt, endpoint } => info!("connected attempt={attempt}/{max} endpoint={endpoint}"),
            Event::ConnectFailed { attempt, failure } => warn!("attempt={attempt}/{max} failed: {failure}; {detail}"),
            Event::Disconnected { failure } => warn!("link lost: {failure}; {detail}"),
            Event::ReconnectScheduled { attempt, delay } => info!(
                "reconnect attempt={attempt}/{max} delay={:.2}s jitter={:+.2}s{}",
                delay.delay().as_secs_f64(),
                delay.jitter_millis() as f64 / 1_000.0,
                if delay.floored() { " (server asked to wait)" } else { "" }
            ),
            Event::GaveUp { attempts } => error!("gave up after {attempts} attempts; {detail}"),
            Event::Rejected { failure } => error!("rejected: {failure}; {detail}"),
            other => debug!("{other:?}"),
        }
    }

    /// Shares state and statistics with other threads when they changed.
    pub(super) fn publish(&mut self) {
        if self.published.as_ref() == Some(&self.stats) {
            return;
        }
        self.published = Some(self.stats);
        self.shared.status().stats = self.stats;
    }
}

/// `wss://host/path?token=***` and the proxy, for events and logs.
pub(super) fn describe_endpoint(target: &crate::transport::Target, proxy: Option<&crate::transport::Proxy>) -> String {
    let url = std::format!(
        "{}://{}{}",
        target.scheme().as_str(),
        target.host_header(),
        target.path_and_query()
    );
    let url = crate::transport::redact_url(&url);
    match proxy {
        Some(proxy) => std::format!("{url} via {proxy}"),
        None => url,
    }
}

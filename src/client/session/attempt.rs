//! Opening links: the before-connect hook makes each attempt's request, the
//! non-blocking connect path runs it a step per turn, and a new link starts
//! with what the on-link hook and the subscriptions say.

use core::hash::{Hash, Hasher};
use std::collections::hash_map::DefaultHasher;
use std::collections::VecDeque;
use std::string::{String, ToString};

use mio::Interest;

use super::{waker_of, Link, Open, Session};
use crate::client::attempt::{Attempt, Verdict};
use crate::client::event::EventKind;
use crate::client::hooks::LinkStart;
use crate::transport::connect::{Connecting, Plan, Progress, LINK};
use crate::transport::{Target, TransportError, UpgradeError};
use crate::{AttemptId, Failure, Instant};

/// A plan, and the fingerprint of the credentials it carries.
#[derive(Debug)]
pub(super) struct Prepared {
    plan: Plan,
    credentials: u64,
}

/// What a request carries that a server may refuse: the URL and the headers.
fn credentials_of(target: &Target, headers: &[(String, String)]) -> u64 {
    let mut hasher = DefaultHasher::new();
    target.host_header().hash(&mut hasher);
    target.path_and_query().hash(&mut hasher);
    target.credentials().hash(&mut hasher);
    headers.hash(&mut hasher);
    hasher.finish()
}

fn valid_header(name: &str, value: &str) -> bool {
    tungstenite::http::HeaderName::from_bytes(name.as_bytes()).is_ok()
        && tungstenite::http::HeaderValue::from_str(value).is_ok()
}

impl Session {
    /// The supervisor asked for an attempt.
    pub(super) fn start_attempt(&mut self, now: Instant, id: AttemptId, attempt: u32, endpoint: u8) {
        self.drop_link();
        let prepared = match self.prepared.take() {
            Some(prepared) => Ok(prepared),
            None => self.prepare(attempt, endpoint),
        };
        let started = prepared.and_then(|prepared| {
            let wake = waker_of(&self.shared);
            Connecting::start(prepared.plan, &self.settings.dialer, wake)
                .map(|connecting| (connecting, prepared.credentials))
        });
        match started {
            Ok((connecting, credentials)) => {
                self.link = Link::Connecting {
                    id,
                    connecting: std::boxed::Box::new(connecting),
                    credentials,
                };
                self.advance_attempt(now);
            }
            Err(error) => self.attempt_failed(now, id, error, None),
        }
    }

    /// This attempt's request: the endpoint's URL and the builder's headers,
    /// as the before-connect hook leaves them.
    fn prepare(&mut self, attempt: u32, endpoint: u8) -> Result<Prepared, TransportError> {
        let settings = &self.settings;
        let Some(configured) = settings.endpoints.get(usize::from(endpoint)) else {
            return Err(TransportError::Hook {
                reason: String::from("no such endpoint"),
                permanent: true,
            });
        };
        let (target, headers) = match &mut self.hooks.before_connect {
            None => (configured.target.clone(), settings.headers.clone()),
            Some(hook) => {
                let mut request = Attempt::new(
                    attempt,
                    endpoint,
                    configured.url.clone(),
                    configured.target.clone(),
                    settings.headers.clone(),
                );
                hook(&mut request);
                let (target, headers, verdict) = request.into_parts();
                match verdict {
                    Some(Verdict::Fail(reason)) => {
                        return Err(TransportError::Hook {
                            reason,
                            permanent: false,
                        })
                    }
                    Some(Verdict::Stop(reason)) => {
                        return Err(TransportError::Hook {
                            reason,
                            permanent: true,
                        })
                    }
                    None => {}
                }
                if let Some((name, _)) = headers.iter().find(|(n, v)| !valid_header(n, v)) {
                    // The hook may fix it next time (a token file half written).
                    return Err(TransportError::Hook {
                        reason: std::format!("invalid header {name:?}"),
                        permanent: false,
                    });
                }
                (target, headers)
            }
        };
        let credentials = credentials_of(&target, &headers);
        Ok(Prepared {
            plan: Plan {
                target,
                headers,
                subprotocols: settings.subprotocols.clone(),
                proxy: configured.proxy.clone(),
            },
            credentials,
        })
    }

    /// Moves the attempt in progress on; opens the link when it is done.
    pub(super) fn advance_attempt(&mut self, now: Instant) {
        let Link::Connecting { id, connecting, .. } = &mut self.link else {
            return;
        };
        let id = *id;
        match connecting.advance(self.poll.registry(), std::time::Instant::now()) {
            Ok(Progress::Pending) => {}
            Ok(Progress::Open(opened)) => self.link_opened(now, id, *opened),
            Err(error) => {
                let credentials = match &self.link {
                    Link::Connecting { credentials, .. } => Some(*credentials),
                    _ => None,
                };
                self.drop_link();
                self.attempt_failed(now, id, error, credentials);
            }
        }
    }

    /// An attempt failed. A 401 or 403 is final unless the before-connect
    /// hook, asked again at once, gives different credentials: then one more
    /// attempt follows the usual delay, with those.
    fn attempt_failed(&mut self, now: Instant, id: AttemptId, error: TransportError, credentials: Option<u64>) {
        let mut failure = error.failure(&self.settings.close_codes);
        self.last_error = Some(error.to_string());
        if let (TransportError::Upgrade(UpgradeError::Status { status: 401 | 403, .. }), Some(old)) =
            (&error, credentials)
        {
            if self.hooks.before_connect.is_some() {
                let next = self.sup.attempt().saturating_add(1);
                if let Ok(prepared) = self.prepare(next, self.sup.endpoint()) {
                    if prepared.credentials != old {
                        failure = Failure::transient(failure.cause);
                        self.last_error = Some(std::format!(
                            "{error}; the before-connect hook gave new credentials: trying again with them"
                        ));
                        self.prepared = Some(prepared);
                    }
                }
            }
        }
        self.sup.handle_connect_failed(now, id, failure);
        self.drain(now);
    }

    /// The attempt opened a link: it starts with what the on-link hook
    /// computes and the subscriptions, then what waits.
    fn link_opened(&mut self, now: Instant, id: AttemptId, opened: crate::transport::connect::Opened) {
        let mut ws = opened.ws;
        // Registered by the connect path already; both directions from now.
        if let Err(e) =
            self.poll
                .registry()
                .reregister(ws.get_mut().tcp_mut(), LINK, Interest::READABLE | Interest::WRITABLE)
        {
            self.link = Link::None;
            return self.attempt_failed(now, id, TransportError::Io(e), None);
        }
        self.links += 1;
        let number = self.links;
        let mut opening: VecDeque<_> = match &mut self.hooks.on_link {
            Some(hook) => hook(&LinkStart {
                link: number,
                subprotocol: opened.subprotocol.clone(),
                last_sequence: self.sequence.as_ref().and_then(|check| check.highest()),
            })
            .into(),
            None => VecDeque::new(),
        };
        opening.append(&mut self.shared.outbox.lock().replay());
        self.writer.link_opened(opening);
        self.shared.status().subprotocol = opened.subprotocol.clone();
        self.last_error = None;
        self.link = Link::Open(std::boxed::Box::new(Open {
            id,
            number,
            ws,
            readable: true,
            writable: true,
            opened_at: std::time::Instant::now(),
            pass: None,
        }));
        // Reported before the supervisor's `Connected`, which follows.
        self.report(
            EventKind::LinkOpened {
                link: number,
                peer: opened.peer,
                subprotocol: opened.subprotocol,
            },
            None,
        );
        self.sup.handle_connected(now, id);
        self.drain(now);
    }
}

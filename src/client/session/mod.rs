//! One WebSocket kept alive, driven from the caller's loop: the supervisor,
//! the connect path, the link, the outbox and a readiness poller, without a
//! thread.
//!
//! Every turn does what is due and returns at once; waiting is the caller's
//! choice ([`Session::poll`] with a timeout, or its own poller on the
//! session's fd and [`Session::timeout`]). The session is split by concern:
//! `attempt` opens links, `read` and `write` move data, `close` ends links and
//! the session, `report` turns what happened into events, logs and status.

mod attempt;
mod close;
mod read;
mod ready;
mod report;
mod write;

use core::time::Duration;
use std::string::String;
use std::sync::Arc;
use std::time::Instant as StdInstant;
use std::vec::Vec;

use mio::{Events, Poll, Token, Waker};
use tungstenite::protocol::WebSocket;
use tungstenite::Message;

use super::acks::AckSpec;
use super::delivery::{Receipt, Undelivered};
use super::error::{Ending, SendError};
use super::event::Incoming;
use super::hooks::Hooks;
use super::outbox::SubscriptionId;
use super::sequence_check::SequenceCheck;
use super::settings::Settings;
use super::shared::{SendOptions, Shared};
use crate::transport::connect::{Connecting, LINK};
use crate::transport::resolve::Wake;
use crate::transport::stream::Stream;
use crate::{AttemptId, Instant, Outcome, Snapshot, State, Stats, Supervisor};

use close::Closing;
use read::Read;
use ready::Ready;
use write::Writer;

/// Wakes the poller from other threads: sends, requests, resolver answers.
const WAKER: Token = Token(0);

/// The link, from the attempt to open it to its end.
#[derive(Debug)]
enum Link {
    None,
    Connecting {
        id: AttemptId,
        connecting: std::boxed::Box<Connecting>,
        /// What the attempt asked with, to tell whether a refused request
        /// is worth one more try with fresh credentials.
        credentials: u64,
    },
    Open(std::boxed::Box<Open>),
}

/// An open link.
#[derive(Debug)]
struct Open {
    id: AttemptId,
    /// Links count from 1 over the session.
    number: u64,
    ws: WebSocket<Stream>,
    readable: bool,
    writable: bool,
    opened_at: StdInstant,
    /// The read pass in progress, if any.
    pass: Option<read::ReadPass>,
}

/// A kept-alive WebSocket that the caller drives: call [`Session::poll`] in
/// a loop, or wait on its fd ([`std::os::fd::AsFd`]) and
/// [`Session::timeout`] in your own loop and call `poll(Some(ZERO))` when
/// either says so. It connects, reconnects, pings, replays subscriptions,
/// writes queued messages and reports what happened — never blocking longer
/// than the timeout it was given.
///
/// The thread [`super::Client`] is exactly this, run on an I/O thread.
///
/// ```no_run
/// use std::time::Duration;
/// use wstether::client::{ClientBuilder, Incoming};
///
/// let mut session = ClientBuilder::new("ws://127.0.0.1:9000/feed").session()?;
/// session.send("hello").ok();
/// while !session.is_finished() {
///     // Other work of the caller's loop goes here; poll waits at most 50 ms.
///     match session.poll(Some(Duration::from_millis(50))) {
///         Some(Incoming::Message(message)) => println!("{message}"),
///         Some(Incoming::Event(event)) => eprintln!("{:?}", event.kind),
///         None => {}
///     }
/// }
/// # Ok::<(), wstether::client::BuildError>(())
/// ```
#[derive(Debug)]
pub struct Session {
    sup: Supervisor,
    stats: Stats,
    shared: Arc<Shared>,
    poll: Poll,
    events: Events,
    settings: Arc<Settings>,
    hooks: Hooks,
    link: Link,
    writer: Writer,
    /// Messages and events for the caller, in order.
    ready: Ready,
    /// The caller paused reading.
    reading_paused: bool,
    closing: Closing,
    /// Messages handed back, for the caller to take.
    undelivered: Vec<Undelivered>,
    sequence: Option<SequenceCheck>,
    acks: Option<Arc<AckSpec>>,
    /// The last transport error, for the events and the end.
    last_error: Option<String>,
    /// The state the caller was last told about.
    reported_state: State,
    links: u64,
    ending: Option<Ending>,
    /// Statistics as other threads last saw them.
    published: Option<Stats>,
    /// Acknowledgements read in this turn: (id, link).
    pending_acks: Vec<(u64, u64)>,
    /// The next attempt's request, made early to retry a refusal with fresh
    /// credentials.
    prepared: Option<attempt::Prepared>,
    /// Run by an I/O thread for a [`super::Client`]: turns read whole passes
    /// into the ready queue, and what is read takes room in the budget until
    /// the client's caller takes it.
    hosted: bool,
}

impl Session {
    pub(crate) fn new(
        sup: Supervisor,
        settings: Settings,
        hooks: Hooks,
        make_shared: impl FnOnce(Waker) -> Shared,
        sequence: Option<SequenceCheck>,
        acks: Option<Arc<AckSpec>>,
        hosted: bool,
    ) -> std::io::Result<Session> {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let shared = Arc::new(make_shared(waker));
        let mut session = Session {
            sup,
            stats: Stats::new(Instant::ZERO),
            shared,
            poll,
            events: Events::with_capacity(16),
            settings: Arc::new(settings),
            hooks,
            link: Link::None,
            writer: Writer::default(),
            ready: Ready::default(),
            reading_paused: false,
            closing: Closing::default(),
            undelivered: Vec::new(),
            sequence,
            acks,
            last_error: None,
            reported_state: State::Idle,
            links: 0,
            ending: None,
            published: None,
            pending_acks: Vec::new(),
            prepared: None,
            hosted,
        };
        let now = session.now();
        session.sup.start(now);
        session.work(false);
        Ok(session)
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The longest a close can take: writing the queue, then the close
    /// handshake.
    pub(crate) fn close_bound(&self) -> Duration {
        self.settings.close_timeout + self.settings.close_handshake_timeout
    }

    /// Queues a text or binary message; it goes out after the subscriptions,
    /// in order, on this link or the next. Hands it back when the queue is
    /// full, the session is closing, or it is not a data message.
    ///
    /// With an open link and nothing queued before it, the message is
    /// written straight into the link's buffer; the bytes reach the kernel
    /// on the next [`Session::poll`] (or here, once a write buffer is full).
    /// The session's fd is not signalled for it: [`Session::timeout`] is
    /// zero until they have gone.
    pub fn send(&mut self, message: impl Into<Message>) -> Result<(), SendError> {
        let message = match self.write_now(message.into()) {
            Ok(()) => return Ok(()),
            Err(message) => message,
        };
        let bytes = message.len();
        self.shared.send(message, SendOptions::default(), false)?;
        self.queued_by_send(bytes);
        Ok(())
    }

    /// Like [`Session::send`], with a time-to-live or a wait for room, and a
    /// [`Receipt`] that tells the message's fate.
    pub fn send_with(&self, message: impl Into<Message>, options: SendOptions) -> Result<Receipt, SendError> {
        self.shared
            .send(message.into(), options, true)
            .map(|receipt| receipt.expect("a tracked send returns a receipt"))
    }

    /// Adds a subscription: sent now if a link is open, and again, in order,
    /// at the start of every later link.
    pub fn subscribe(&self, message: impl Into<Message>) -> SubscriptionId {
        let id = self.shared.outbox.lock().subscribe(message.into());
        self.shared.wake();
        id
    }

    /// Removes a subscription (the builder's too) from future replays;
    /// returns its message.
    pub fn unsubscribe(&self, id: SubscriptionId) -> Option<Message> {
        self.shared.outbox.lock().unsubscribe(id)
    }

    /// The subscriptions, in replay order: the builder's first, with the ids
    /// [`Session::unsubscribe`] takes.
    pub fn subscriptions(&self) -> Vec<(SubscriptionId, Message)> {
        self.shared.outbox.lock().subscriptions()
    }

    /// The supervisor's state.
    pub fn state(&self) -> State {
        self.sup.state()
    }

    /// Statistics as of now.
    pub fn snapshot(&self) -> Snapshot {
        self.stats.snapshot(self.now())
    }

    /// Accepted messages not yet delivered: queued, or taken for the link
    /// and not yet wholly in the kernel (or, with acknowledgements, not yet
    /// acknowledged).
    pub fn queued(&self) -> usize {
        self.shared.outbox.lock().pending()
    }

    /// The subprotocol the server chose on the open link.
    pub fn subprotocol(&self) -> Option<String> {
        self.shared.status().subprotocol.clone()
    }

    /// How the session ended, once it has; kept whatever the caller drained.
    pub fn ending(&self) -> Option<Ending> {
        self.ending.clone()
    }

    /// Whether the session has ended (closed, gave up or rejected) and has
    /// nothing more to report.
    pub fn is_finished(&self) -> bool {
        self.ready.is_empty() && self.closing.is_done()
    }

    /// Whether every accepted message has been written to a socket (and
    /// acknowledged, in acknowledgement mode) or handed back.
    pub fn is_drained(&self) -> bool {
        self.shared.outbox.lock().is_drained()
    }

    /// Skips the pending reconnect delay once (the network just came back);
    /// still within the connect rate limit.
    pub fn reconnect_now(&self) {
        self.shared.request(|c| c.reconnect_now = true);
    }

    /// The application says the open link is healthy: the attempt count
    /// resets now instead of after `stable_after`.
    pub fn mark_healthy(&self) {
        self.shared.request(|c| c.mark_healthy = true);
    }

    /// Stops reading: received data waits in the kernel and TCP pushes back
    /// on the server; the data waiting counts as life, so no heartbeat or
    /// idle timeout drops the link meanwhile.
    pub fn pause_reading(&self) {
        self.shared.request(|c| c.pause_reading = Some(true));
    }

    /// Resumes reading after [`Session::pause_reading`].
    pub fn resume_reading(&self) {
        self.shared.request(|c| c.pause_reading = Some(false));
    }

    /// Starts a clean close with code 1000: queued messages are written (for
    /// at most the close timeout), a close frame is sent and the server's
    /// awaited (for at most the close-handshake timeout). Keep polling until
    /// [`Session::is_finished`]; then [`Session::take_undelivered`] hands
    /// back what never reached a socket.
    pub fn close(&mut self) {
        self.close_with(1000, "");
    }

    /// Like [`Session::close`], with a close code (1000, or 3000–4999) and a
    /// reason (at most 123 bytes; longer ones are cut at a character
    /// boundary).
    pub fn close_with(&mut self, code: u16, reason: &str) {
        self.shared.request_close(code, String::from(reason));
    }

    /// Every message handed back so far, in order, with the reason: expired
    /// ones at any time, the rest once the session ended.
    pub fn take_undelivered(&mut self) -> Vec<Undelivered> {
        core::mem::take(&mut self.undelivered)
    }

    /// Closes (if it has not ended), waits at most the close bound, and
    /// returns everything handed back.
    pub fn into_undelivered(mut self) -> Vec<Undelivered> {
        if !self.closing.is_done() {
            self.close();
            let give_up = StdInstant::now() + self.close_bound() + Duration::from_millis(100);
            while !self.closing.is_done() && StdInstant::now() < give_up {
                let left = give_up.saturating_duration_since(StdInstant::now());
                self.turn(Some(left.min(Duration::from_millis(50))), false);
            }
            if !self.closing.is_done() {
                self.finish();
            }
        }
        self.take_undelivered()
    }

    /// Does what is due and returns the next message or event, waiting at
    /// most `timeout` (`None`: until something arrives). `Some(ZERO)` never
    /// waits. Returns `None` on timeout and once finished.
    #[inline(always)]
    pub fn poll(&mut self, timeout: Option<Duration>) -> Option<Incoming> {
        // The path of every received message: from the ready queue, or
        // straight from the read pass in progress.
        if let Some(item) = self.ready.pop() {
            return Some(item);
        }
        match self.read_next() {
            Read::Message(message) => Some(Incoming::Message(message)),
            read => self.next(read, timeout),
        }
    }

    /// The next item after `read`, the pass's last read: from the ready
    /// queue, else from the read pass in progress, else after a turn (one
    /// without waiting first, so that a caller polling with a zero timeout
    /// sees what became ready).
    fn next(&mut self, mut read: Read, timeout: Option<Duration>) -> Option<Incoming> {
        let mut until = None;
        loop {
            match read {
                Read::Message(message) => return Some(Incoming::Message(message)),
                Read::Queued => {}
                Read::Ended => {
                    let now = self.now();
                    self.after_read(now);
                }
                Read::Idle => match until {
                    // A caller that polls without waiting gets a turn first;
                    // one that may wait gets it from the waiting turn, which
                    // does not wait when work is ready (a poller call less
                    // each time the socket runs dry).
                    None if timeout == Some(Duration::ZERO) => {
                        until = Some(Some(StdInstant::now()));
                        self.turn(Some(Duration::ZERO), !self.hosted);
                    }
                    None => {
                        // The clock is read only when it comes to waiting,
                        // not on the path of every message.
                        until = Some(timeout.map(|t| StdInstant::now() + t));
                        read = Read::Idle;
                        continue;
                    }
                    Some(until) => {
                        if self.closing.is_done() {
                            return None;
                        }
                        let left = until.map(|u| u.saturating_duration_since(StdInstant::now()));
                        if left == Some(Duration::ZERO) {
                            return None;
                        }
                        let wait = match (left, self.timeout()) {
                            (Some(a), Some(b)) => Some(a.min(b)),
                            (a, b) => a.or(b),
                        };
                        self.turn(wait, !self.hosted);
                    }
                },
            }
            if let Some(item) = self.ready.pop() {
                return Some(item);
            }
            read = self.read_next();
        }
    }

    /// How long the caller may sleep before calling [`Session::poll`] again,
    /// unless the session's fd becomes readable first: zero when work is
    /// waiting, `None` when only the fd can bring any (or the session has
    /// ended).
    pub fn timeout(&self) -> Option<Duration> {
        if !self.ready.is_empty() || self.has_work_now() {
            return Some(Duration::ZERO);
        }
        let now = StdInstant::now();
        [
            self.sup.poll_timeout().map(|d| self.std_instant(d.at)),
            match &self.link {
                Link::Connecting { connecting, .. } => connecting.next_wakeup(),
                _ => None,
            },
            self.closing.deadline(),
            self.writer.next_expiry(),
            self.shared.outbox_expiry(),
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|at| at.saturating_duration_since(now))
    }

    fn now(&self) -> Instant {
        self.shared.now()
    }

    fn std_instant(&self, at: Instant) -> StdInstant {
        self.shared.epoch + Duration::from_micros(at.as_micros())
    }

    /// Work that a turn would do right away, without any new readiness.
    fn has_work_now(&self) -> bool {
        if self.closing.is_done() {
            return false;
        }
        if self.shared.has_requests() {
            return true;
        }
        let Link::Open(open) = &self.link else {
            return false;
        };
        let may_read = open.readable && !self.reading_held_back();
        let may_write = open.writable && (open.ws.get_ref().has_output() || self.has_write_work());
        may_read || may_write
    }

    /// One turn: wait for readiness at most `wait`, then do what is due;
    /// with `pull`, reading is left to the caller's polls (see
    /// [`Session::work`]).
    fn turn(&mut self, wait: Option<Duration>, pull: bool) {
        let wait = if self.has_work_now() {
            Some(Duration::ZERO)
        } else {
            wait
        };
        if self.poll.poll(&mut self.events, wait).is_ok() {
            for event in self.events.iter() {
                if event.token() != LINK {
                    continue;
                }
                if let Link::Open(open) = &mut self.link {
                    if event.is_readable() || event.is_read_closed() || event.is_error() {
                        open.readable = true;
                        let closed = event.is_read_closed() || event.is_error();
                        open.ws.get_mut().readable_again(closed);
                    }
                    open.writable |= event.is_writable() || event.is_error();
                }
            }
        }
        // After the wake-ups were taken and before looking for work: a send
        // or a request from here on wakes the poller again. (Before taking
        // them, a wake-up taken by this very poll would silence the next.)
        self.shared.awake();
        self.work(pull);
    }

    /// Does everything that is due now. With `pull`, an open link's read
    /// pass is only opened: the caller's polls take its messages one by one
    /// straight from the link (no queue between), and the rest of the turn
    /// runs when the pass ends.
    fn work(&mut self, pull: bool) {
        if self.closing.is_done() {
            return;
        }
        let now = self.now();
        self.take_requests(now);
        self.note_unread(now);
        self.sup.handle_timeout(now);
        self.drain(now);
        self.advance_attempt(now);
        self.write(now);
        if self.open_read_pass() && pull {
            return;
        }
        self.read();
        self.after_read(now);
    }

    /// The rest of a turn, after reading.
    fn after_read(&mut self, now: Instant) {
        self.advance_close(now);
        self.expire(now);
        self.drain(now);
        if self.sup.state().is_final() && !self.closing.is_done() && !self.closing.is_closing_link() {
            self.finish();
        }
        self.publish();
        self.end_turn();
    }

    /// Carries out what other threads asked for.
    fn take_requests(&mut self, now: Instant) {
        let Some(control) = self.shared.take_requests() else {
            return;
        };
        if control.reconnect_now {
            self.report(super::event::EventKind::ReconnectRequested, None);
            self.sup.reconnect_now(now);
        }
        if control.mark_healthy {
            self.report(super::event::EventKind::MarkedHealthy, None);
            self.sup.mark_healthy(now);
        }
        if let Some(paused) = control.pause_reading {
            if paused != self.reading_paused {
                self.reading_paused = paused;
                self.report(super::event::EventKind::ReadingPaused(paused), None);
            }
        }
        if let Some(request) = control.close {
            self.begin_close(now, request);
        }
        self.drain(now);
    }

    /// The end of the session as the caller sees it.
    fn outcome_detail(&self, outcome: Outcome) -> Option<String> {
        match outcome {
            Outcome::Stopped => None,
            Outcome::GaveUp { .. } | Outcome::Rejected { .. } => self.last_error.clone(),
        }
    }
}

#[cfg(unix)]
impl std::os::fd::AsRawFd for Session {
    /// One fd for the session's whole life, across reconnects: readable
    /// whenever [`Session::poll`] has work (socket readiness, a send or a
    /// close from another thread, a resolver's answer).
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.poll.as_raw_fd()
    }
}

#[cfg(unix)]
impl std::os::fd::AsFd for Session {
    /// See [`std::os::fd::AsRawFd`] for `Session`.
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.poll.registry().as_fd()
    }
}

/// Makes a [`Wake`] that wakes this session's poller.
fn waker_of(shared: &Arc<Shared>) -> Wake {
    let shared = Arc::clone(shared);
    Wake(Arc::new(move || shared.wake_always()))
}

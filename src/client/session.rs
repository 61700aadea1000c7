//! One WebSocket kept alive, driven from the caller's loop: the supervisor,
//! the transport, the outbox and a readiness poller, without a thread.

use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;
use std::collections::VecDeque;
use std::string::{String, ToString};
use std::sync::{Arc, Mutex};
use std::time::Instant as StdInstant;
use std::vec::Vec;

use log::{debug, error, info, warn};
use mio::{Events, Interest, Poll, Token, Waker};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::Message;

use super::error::SendError;
use super::outbox::{SharedOutbox, SubscriptionId};
use super::sequence_check::SequenceCheck;
use crate::event::{Action, Event, State};
use crate::failure::{Cause, CloseCodeTable, Failure};
use crate::stats::{Snapshot, Stats};
use crate::supervisor::{Inbound, Supervisor};
use crate::time::Instant;
use crate::transport::{redact_url, Connector, Link, TransportError};

const SOCKET: Token = Token(0);
const WAKER: Token = Token(1);
/// Messages read or written in one pass before the other direction gets a turn.
const BATCH: usize = 256;

/// Something the session has for its caller.
#[derive(Debug)]
pub enum Incoming {
    /// A text or binary message from the server.
    Message(Message),
    /// Something happened to the connection.
    Event(ClientEvent),
}

/// A supervisor event with its time and, for failures, the transport's
/// explanation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientEvent {
    /// Time since the session started.
    pub at: Duration,
    /// What happened.
    pub event: Event,
    /// For a failed attempt, a lost link or a rejection: the error as the
    /// transport saw it (URLs redacted).
    pub detail: Option<String>,
}

/// State visible from other threads.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Status {
    pub(crate) snapshot: Snapshot,
}

/// What the session shares with a [`super::Client`] handle.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) outbox: SharedOutbox,
    pub(crate) waker: Waker,
    pub(crate) close_requested: AtomicBool,
    pub(crate) cancel: Arc<AtomicBool>,
    pub(crate) status: Mutex<Status>,
    /// The thread stopped reading because the caller is slow.
    pub(crate) inbound_paused: AtomicBool,
    /// A wake-up is on its way or the thread is awake: callers need not
    /// make the system call again.
    pub(crate) wake_pending: AtomicBool,
}

impl Shared {
    /// Wakes the I/O thread for new work, once per sleep rather than once
    /// per message.
    pub(crate) fn wake(&self) {
        if !self.wake_pending.swap(true, Ordering::SeqCst) {
            let _ = self.waker.wake();
        }
    }

    pub(crate) fn status(&self) -> Status {
        *self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn request_close(&self) {
        self.outbox.lock().close();
        self.outbox.notify_space();
        self.close_requested.store(true, Ordering::SeqCst);
        self.cancel.store(true, Ordering::SeqCst);
        let _ = self.waker.wake();
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Closing {
    No,
    /// Writing what is queued before the close frame.
    Draining {
        deadline: StdInstant,
    },
    /// Close frame sent; waiting for the server's.
    Handshake {
        deadline: StdInstant,
    },
    Done,
}

/// A kept-alive WebSocket that the caller drives: call [`Session::poll`] in
/// a loop (or whenever its socket or deadline is due) and it connects,
/// reconnects, pings, replays subscriptions and writes queued messages.
///
/// The thread [`super::Client`] is exactly this, run on its own thread.
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
///         Some(Incoming::Event(event)) => eprintln!("{:?}", event.event),
///         None => {}
///     }
/// }
/// # Ok::<(), wstether::client::BuildError>(())
/// ```
#[derive(Debug)]
pub struct Session {
    sup: Supervisor,
    connector: Connector,
    urls: Vec<String>,
    close_codes: CloseCodeTable,
    close_timeout: Duration,
    shared: Arc<Shared>,
    poll: Poll,
    events: Events,
    link: Option<Link>,
    /// Edge-triggered readiness: whether the socket may have more to read or
    /// room to write, until a call says `WouldBlock`.
    readable: bool,
    writable: bool,
    /// Subscriptions still to send on this link.
    replay: VecDeque<Message>,
    /// Messages handed to the link but not yet flushed to the socket: sent
    /// again after a reconnect if the link dies first.
    unflushed: Vec<Message>,
    /// Queued messages taken from the outbox in one go, next to be written:
    /// one lock per batch instead of one per message.
    taken: VecDeque<Message>,
    needs_flush: bool,
    epoch: StdInstant,
    ready: VecDeque<Incoming>,
    closing: Closing,
    /// The close frame the server sent on the current link.
    close_frame: Option<Option<CloseFrame>>,
    last_error: Option<String>,
    undelivered: Vec<Message>,
    sequence: Option<SequenceCheck>,
    /// What other threads last saw: state, counters, and when.
    published: Option<(State, Stats, Instant)>,
}

impl Session {
    pub(crate) fn new(
        sup: Supervisor,
        connector: Connector,
        urls: Vec<String>,
        close_codes: CloseCodeTable,
        close_timeout: Duration,
        outbox: SharedOutbox,
        sequence: Option<SequenceCheck>,
    ) -> std::io::Result<Session> {
        let poll = Poll::new()?;
        let waker = Waker::new(poll.registry(), WAKER)?;
        let epoch = StdInstant::now();
        let snapshot = sup.snapshot(Instant::ZERO);
        let shared = Arc::new(Shared {
            outbox,
            waker,
            close_requested: AtomicBool::new(false),
            cancel: Arc::new(AtomicBool::new(false)),
            status: Mutex::new(Status { snapshot }),
            inbound_paused: AtomicBool::new(false),
            wake_pending: AtomicBool::new(false),
        });
        let mut session = Session {
            sup,
            connector,
            urls,
            close_codes,
            close_timeout,
            shared,
            poll,
            events: Events::with_capacity(8),
            link: None,
            readable: false,
            writable: false,
            replay: VecDeque::new(),
            unflushed: Vec::new(),
            taken: VecDeque::new(),
            needs_flush: false,
            epoch,
            ready: VecDeque::new(),
            closing: Closing::No,
            close_frame: None,
            last_error: None,
            undelivered: Vec::new(),
            sequence,
            published: None,
        };
        let now = session.now();
        session.sup.start(now);
        Ok(session)
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub(crate) fn close_timeout(&self) -> Duration {
        self.close_timeout
    }

    /// Queues a message; it goes out after the subscriptions, in order, on
    /// this link or the next. Hands it back when the queue is full or the
    /// session is closing.
    pub fn send(&self, message: impl Into<Message>) -> Result<(), SendError> {
        self.shared.outbox.try_push(message.into())
    }

    /// Adds a subscription: sent now if a link is open, and again, in order,
    /// at the start of every later link.
    pub fn subscribe(&self, message: impl Into<Message>) -> SubscriptionId {
        self.shared.outbox.lock().subscribe(message.into())
    }

    /// Removes a subscription from future replays; returns its message.
    pub fn unsubscribe(&self, id: SubscriptionId) -> Option<Message> {
        self.shared.outbox.lock().unsubscribe(id)
    }

    /// The supervisor's state.
    pub fn state(&self) -> State {
        self.sup.state()
    }

    /// Statistics as of now.
    pub fn snapshot(&self) -> Snapshot {
        self.sup.snapshot(self.now())
    }

    /// Messages waiting in the outgoing queue.
    pub fn queued(&self) -> usize {
        self.shared.outbox.lock().len() + self.taken.len()
    }

    /// Whether the session has ended (closed, gave up or rejected) and has
    /// nothing more to report.
    pub fn is_finished(&self) -> bool {
        self.ready.is_empty() && self.closing == Closing::Done
    }

    /// Starts a clean close: queued messages are written (for at most the
    /// close timeout), a close frame is sent and the server's awaited. Keep
    /// polling until [`Session::is_finished`]; then
    /// [`Session::into_undelivered`] hands back what never reached a socket.
    pub fn close(&mut self) {
        self.shared.request_close();
    }

    /// Every message accepted by `send` that was never written to a socket,
    /// in order. Call once finished (it closes first if needed, waiting at
    /// most the close timeout).
    pub fn into_undelivered(mut self) -> Vec<Message> {
        if !self.is_finished() {
            self.close();
            let give_up = StdInstant::now() + self.close_timeout + Duration::from_secs(1);
            while self.closing != Closing::Done && StdInstant::now() < give_up {
                let _ = self.drive(true, Some(give_up));
            }
        }
        self.finish();
        core::mem::take(&mut self.undelivered)
    }

    /// Does all that is due and returns the next message or event, waiting
    /// at most `timeout` (`None`: until something arrives). Returns `None`
    /// on timeout and once finished.
    pub fn poll(&mut self, timeout: Option<Duration>) -> Option<Incoming> {
        if let Some(item) = self.ready.pop_front() {
            return Some(item);
        }
        let until = timeout.map(|t| StdInstant::now() + t);
        self.drive(true, until)
    }

    fn now(&self) -> Instant {
        let micros = StdInstant::now().saturating_duration_since(self.epoch).as_micros();
        Instant::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
    }

    fn std_instant(&self, at: Instant) -> StdInstant {
        self.epoch + Duration::from_micros(at.as_micros())
    }

    /// The loop behind `poll`. With `read` false the caller cannot take more
    /// messages: the socket is not read (TCP pushes back on the server),
    /// timers and writes go on, and a wake-up returns `None` so the caller
    /// can retry its delivery.
    pub(crate) fn drive(&mut self, read: bool, mut until: Option<StdInstant>) -> Option<Incoming> {
        let mut return_after_pass = false;
        loop {
            if let Some(item) = self.ready.pop_front() {
                return Some(item);
            }
            if self.closing == Closing::Done {
                return None;
            }
            let now = self.now();
            if !read && self.link.is_some() {
                // What the caller has not taken yet proves the link was alive;
                // without this a slow reader would look like a dead link.
                self.sup.handle_inbound(now, Inbound::Control);
            }
            self.sup.handle_timeout(now);
            self.advance_close();
            self.perform_actions();
            // Report a new link before the first message read from it.
            self.collect_events();
            if self.link.is_some() {
                self.write_pending();
            }
            if self.link.is_some() && (read || matches!(self.closing, Closing::Handshake { .. })) {
                let before = self.bytes_received();
                self.read_available();
                // Any inbound byte counts as life: a large message arriving
                // slowly holds the pong back, but the link is not dead.
                if self.link.is_some() && self.bytes_received() != before {
                    let now = self.now();
                    self.sup.handle_inbound(now, Inbound::Control);
                }
            }
            self.collect_events();
            self.finish_if_final();
            self.publish_status();
            if !self.ready.is_empty() || self.closing == Closing::Done {
                continue;
            }
            if return_after_pass {
                return None;
            }
            // From here the thread may sleep: a later `send` must wake it.
            self.shared.wake_pending.store(false, Ordering::SeqCst);
            if self.link.is_some() && ((self.readable && read) || (self.writable && self.has_writes())) {
                continue;
            }
            if self.shared.close_requested.load(Ordering::SeqCst) && self.closing == Closing::No {
                continue;
            }

            let mut deadline = self.sup.poll_timeout().map(|(t, _)| self.std_instant(t));
            if let Closing::Draining { deadline: d } | Closing::Handshake { deadline: d } = self.closing {
                deadline = Some(deadline.map_or(d, |t| t.min(d)));
            }
            if let Some(u) = until {
                deadline = Some(deadline.map_or(u, |t| t.min(u)));
            }
            // Past `until` the poller is still asked, without waiting: a
            // caller polling with a zero timeout must see new readiness too.
            let expired = until.is_some_and(|u| StdInstant::now() >= u);
            let timeout = match expired {
                true => Some(Duration::ZERO),
                false => deadline.map(|d| d.saturating_duration_since(StdInstant::now())),
            };
            if self.poll.poll(&mut self.events, timeout).is_err() {
                // Interrupted: just go round again.
                continue;
            }
            let mut woken = false;
            let mut socket_ready = false;
            for event in self.events.iter() {
                match event.token() {
                    SOCKET => {
                        socket_ready = true;
                        self.readable |= event.is_readable() || event.is_read_closed() || event.is_error();
                        self.writable |= event.is_writable() || event.is_error();
                    }
                    _ => woken = true,
                }
            }
            if woken && !read {
                return None;
            }
            if expired && !(socket_ready || woken) {
                return None;
            }
            if expired {
                // One more pass for what just became ready, then give the
                // caller its turn.
                until = None;
                return_after_pass = true;
            }
        }
    }

    /// The next item already produced, without doing any work.
    pub(crate) fn pop_ready(&mut self) -> Option<Incoming> {
        self.ready.pop_front()
    }

    fn bytes_received(&self) -> u64 {
        self.link.as_ref().map_or(0, |link| link.get_ref().socket().received())
    }

    fn has_writes(&self) -> bool {
        // Once the close frame is out, nothing but a flush may follow it.
        if matches!(self.closing, Closing::Handshake { .. }) {
            return self.needs_flush;
        }
        self.needs_flush || !self.replay.is_empty() || !self.taken.is_empty() || !self.shared.outbox.lock().is_empty()
    }

    fn perform_actions(&mut self) {
        while let Some(action) = self.sup.poll_action() {
            match action {
                Action::Connect { endpoint, attempt } => self.connect(endpoint, attempt),
                Action::SendPing => {
                    if let Some(link) = &mut self.link {
                        match link.write(Message::Ping(Default::default())) {
                            Ok(()) => self.needs_flush = true,
                            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                                self.needs_flush = true
                            }
                            // The buffer is full of data the peer has not taken:
                            // no ping now; the pong deadline still runs.
                            Err(tungstenite::Error::WriteBufferFull(_)) => self.needs_flush = true,
                            Err(e) => self.lost(TransportError::from_websocket(e, 0)),
                        }
                    }
                }
                Action::Drop { failure } => {
                    self.last_error = Some(failure.to_string());
                    self.drop_link();
                }
                Action::Close => self.send_close_frame(),
            }
        }
    }

    fn connect(&mut self, endpoint: u8, attempt: u32) {
        let Some(url) = self.urls.get(usize::from(endpoint)).cloned() else {
            let now = self.now();
            self.sup.handle_connect_failed(now, Failure::permanent(Cause::Config));
            return;
        };
        let max = self.sup.config().backoff.max_attempts;
        debug!("connecting attempt={attempt}/{} url={}", Limit(max), redact_url(&url));
        let deadline = StdInstant::now() + self.sup.config().connect_timeout;
        let result = self
            .connector
            .open(&url, deadline, Some(Arc::clone(&self.shared.cancel)));
        let now = self.now();
        match result {
            Ok((mut link, opened)) => {
                let registered = match link.get_mut().socket_mut().source() {
                    Some(source) => {
                        self.poll
                            .registry()
                            .register(source, SOCKET, Interest::READABLE | Interest::WRITABLE)
                    }
                    None => Err(std::io::ErrorKind::NotConnected.into()),
                };
                if let Err(e) = registered {
                    self.last_error = Some(e.to_string());
                    self.sup.handle_connect_failed(now, Failure::transient(Cause::Io));
                    return;
                }
                if let Some(protocol) = &opened.subprotocol {
                    debug!("server chose subprotocol {protocol}");
                }
                self.link = Some(link);
                self.readable = true;
                self.writable = true;
                self.close_frame = None;
                self.last_error = None;
                self.replay = self.shared.outbox.lock().replay().into();
                self.sup.handle_connected(now);
            }
            Err(e) => {
                self.last_error = Some(e.to_string());
                self.sup.handle_connect_failed(now, e.failure(&self.close_codes));
            }
        }
    }

    /// Writes subscriptions to replay, then fresh subscriptions, then queued
    /// messages, and flushes.
    fn write_pending(&mut self) {
        let draining_allowed = !matches!(self.closing, Closing::Handshake { .. });
        let mut written = 0;
        // The link's buffer was just written out to make room.
        let mut room_made = false;
        while draining_allowed && self.writable && written < BATCH {
            let (message, replayable) = if let Some(m) = self.replay.pop_front() {
                (m, false)
            } else if let Some(m) = self.taken.pop_front() {
                (m, true)
            } else {
                let mut outbox = self.shared.outbox.lock();
                match outbox.pop_fresh_subscription() {
                    Some(m) => (m, false),
                    None => {
                        outbox.take_batch(BATCH - written, &mut self.taken);
                        drop(outbox);
                        match self.taken.pop_front() {
                            Some(m) => (m, true),
                            None => break,
                        }
                    }
                }
            };
            let Some(link) = &mut self.link else { return };
            written += 1;
            // A queued message is remembered until flushed; a subscription
            // needs no copy, the next link replays it anyway.
            if replayable {
                self.unflushed.push(message.clone());
            }
            self.needs_flush = true;
            match link.write(message) {
                Ok(()) => room_made = false,
                Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    // Buffered inside the link; it goes out with the flush.
                    self.writable = false;
                }
                Err(tungstenite::Error::WriteBufferFull(back)) if room_made => {
                    // The buffer is empty and this message still does not fit:
                    // alone it is over `max_write_buffer_size`. It never would,
                    // and would hold the queue for ever; let the buffer take this
                    // one message (its bytes are in memory already).
                    room_made = false;
                    let limit = link.get_config().max_write_buffer_size;
                    let needed = back.len().max(link.get_config().write_buffer_size) + 1;
                    link.set_config(|c| c.max_write_buffer_size = needed);
                    let result = link.write(*back);
                    link.set_config(|c| c.max_write_buffer_size = limit);
                    match result {
                        Ok(()) => {}
                        Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            self.writable = false
                        }
                        Err(e) => return self.lost(TransportError::from_websocket(e, 0)),
                    }
                }
                Err(tungstenite::Error::WriteBufferFull(back)) => {
                    // Back in front, as the caller's message rather than
                    // tungstenite's frame of it (`close` may hand it back).
                    if replayable {
                        let original = self.unflushed.pop().unwrap_or(*back);
                        self.taken.push_front(original);
                    } else {
                        self.replay.push_front(*back);
                    }
                    // Make room: the socket takes the buffer (go round again)
                    // or says WouldBlock, and its next writable edge wakes us.
                    // Without a write that blocks, no such edge would come.
                    self.flush();
                    if !self.writable {
                        break;
                    }
                    room_made = true;
                }
                Err(e) => return self.lost(TransportError::from_websocket(e, 0)),
            }
        }
        if written > 0 {
            self.shared.outbox.notify_space();
        }
        if self.needs_flush && self.writable {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let Some(link) = &mut self.link else { return };
        match link.flush() {
            Ok(()) => {
                self.needs_flush = false;
                self.unflushed.clear();
            }
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => self.writable = false,
            Err(tungstenite::Error::ConnectionClosed) if matches!(self.closing, Closing::Handshake { .. }) => {
                self.closed_cleanly()
            }
            Err(e) => self.lost(TransportError::from_websocket(e, 0)),
        }
    }

    fn read_available(&mut self) {
        let mut read = 0;
        // One clock reading per pass: the messages of a pass arrived together.
        let now = self.now();
        while self.readable && read < BATCH {
            let Some(link) = &mut self.link else { return };
            let result = link.read();
            match result {
                Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                    read += 1;
                    self.sup.handle_inbound(now, Inbound::Data);
                    if let Some(event) = self.sequence.as_mut().and_then(|check| check.check(&message)) {
                        // The event goes first: it explains the message after it.
                        let at = StdInstant::now().saturating_duration_since(self.epoch);
                        self.ready.push_back(Incoming::Event(ClientEvent {
                            at,
                            event,
                            detail: None,
                        }));
                    }
                    self.ready.push_back(Incoming::Message(message));
                }
                Ok(Message::Ping(_)) => {
                    // Tungstenite queued the pong; it goes out with the next flush.
                    self.needs_flush = true;
                    self.sup.handle_inbound(now, Inbound::Control);
                }
                Ok(Message::Close(frame)) if matches!(self.closing, Closing::Handshake { .. }) => {
                    // The answer to our close frame: the server drops TCP next.
                    self.needs_flush = true;
                    self.close_frame = Some(frame);
                    self.sup.handle_inbound(now, Inbound::Control);
                }
                Ok(Message::Close(frame)) => {
                    // The server is closing the link. Send the reply tungstenite
                    // queued and end the link now, with the server's code: a later
                    // write would fail with "send after closing" and be reported as a
                    // transient protocol error (so a 1008 would be retried), and a
                    // server that never drops TCP would keep the link half-dead.
                    if let Some(link) = &mut self.link {
                        if link.flush().is_ok() {
                            // What was buffered went out before the reply.
                            self.unflushed.clear();
                            self.needs_flush = false;
                        }
                    }
                    return self.lost(TransportError::closed_by(frame.as_ref()));
                }
                Ok(Message::Pong(_) | Message::Frame(_)) => self.sup.handle_inbound(now, Inbound::Control),
                Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => self.readable = false,
                Err(tungstenite::Error::ConnectionClosed) => {
                    if matches!(self.closing, Closing::Handshake { .. }) {
                        return self.closed_cleanly();
                    }
                    let frame = self.close_frame.take().flatten();
                    return self.lost(TransportError::closed_by(frame.as_ref()));
                }
                // Over TLS a server may drop TCP after the close handshake without
                // close_notify: clean once our close frame is out, abnormal before.
                Err(tungstenite::Error::Io(e))
                    if e.kind() == std::io::ErrorKind::UnexpectedEof
                        && matches!(self.closing, Closing::Handshake { .. }) =>
                {
                    return self.closed_cleanly();
                }
                Err(e) => return self.lost(TransportError::from_websocket(e, 0)),
            }
        }
    }

    /// The link failed under us: report it and keep what was in flight.
    fn lost(&mut self, error: TransportError) {
        let now = self.now();
        let failure = error.failure(&self.close_codes);
        self.last_error = Some(error.to_string());
        self.drop_link();
        if matches!(self.closing, Closing::Handshake { .. }) {
            self.closing = Closing::Done;
        }
        self.sup.handle_disconnected(now, failure);
    }

    fn closed_cleanly(&mut self) {
        self.drop_link();
        self.closing = Closing::Done;
    }

    /// Forgets the link; messages in flight go back to the front of the queue.
    fn drop_link(&mut self) {
        if let Some(mut link) = self.link.take() {
            if let Some(source) = link.get_mut().socket_mut().source() {
                let _ = self.poll.registry().deregister(source);
            }
        }
        self.readable = false;
        self.writable = false;
        self.needs_flush = false;
        self.replay.clear();
        // In order: what went into the link, then what was taken for it.
        let mut in_flight = core::mem::take(&mut self.unflushed);
        in_flight.extend(self.taken.drain(..));
        let mut outbox = self.shared.outbox.lock();
        outbox.link_closed();
        if !in_flight.is_empty() {
            outbox.requeue_front(in_flight);
        }
    }

    fn advance_close(&mut self) {
        let now = StdInstant::now();
        match self.closing {
            Closing::No if self.shared.close_requested.load(Ordering::SeqCst) => {
                self.closing = Closing::Draining {
                    deadline: now + self.close_timeout,
                };
                self.advance_close();
            }
            Closing::Draining { deadline } => {
                let drained = self.unflushed.is_empty()
                    && self.taken.is_empty()
                    && self.shared.outbox.lock().is_empty()
                    && !self.needs_flush;
                if self.link.is_none() || drained || now >= deadline {
                    let at = self.now();
                    self.sup.close(at);
                    // Without a link there is no handshake to wait for.
                    self.closing = if self.link.is_some() {
                        Closing::Handshake { deadline }
                    } else {
                        Closing::Done
                    };
                }
            }
            Closing::Handshake { deadline } if now >= deadline => {
                debug!("close handshake timed out");
                self.drop_link();
                self.closing = Closing::Done;
            }
            _ => {}
        }
    }

    fn send_close_frame(&mut self) {
        let Some(link) = &mut self.link else {
            self.closing = Closing::Done;
            return;
        };
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: Default::default(),
        };
        match link.close(Some(frame)) {
            Ok(()) => self.flush(),
            Err(tungstenite::Error::Io(e)) if e.kind() == std::io::ErrorKind::WouldBlock => {
                self.needs_flush = true;
                self.writable = false;
            }
            Err(_) => self.closed_cleanly(),
        }
    }

    fn finish_if_final(&mut self) {
        if self.sup.state() == State::Failed && self.closing != Closing::Done {
            self.drop_link();
            self.closing = Closing::Done;
        }
        if self.closing == Closing::Done {
            self.finish();
        }
    }

    /// Refuses further sends and collects what was never written.
    fn finish(&mut self) {
        self.drop_link();
        let mut outbox = self.shared.outbox.lock();
        outbox.close();
        self.undelivered.extend(outbox.take_all());
        drop(outbox);
        self.shared.outbox.notify_space();
    }

    fn collect_events(&mut self) {
        while let Some(event) = self.sup.poll_event() {
            let detail = match event {
                Event::ConnectFailed { .. } | Event::Disconnected { .. } | Event::Rejected { .. } => {
                    self.last_error.clone()
                }
                _ => None,
            };
            self.log(&event, detail.as_deref());
            let at = StdInstant::now().saturating_duration_since(self.epoch);
            self.ready.push_back(Incoming::Event(ClientEvent { at, event, detail }));
        }
    }

    fn log(&self, event: &Event, detail: Option<&str>) {
        let max = Limit(self.sup.config().backoff.max_attempts);
        let detail = detail.unwrap_or("");
        match event {
            Event::Connected { attempt, endpoint } => info!("connected attempt={attempt}/{max} endpoint={endpoint}"),
            Event::ConnectFailed { attempt, failure } => {
                warn!("attempt={attempt}/{max} failed: {failure}; {detail}")
            }
            Event::Disconnected { failure, uptime } => {
                warn!("link lost after {:.2}s: {failure}; {detail}", uptime.as_secs_f64())
            }
            Event::ReconnectScheduled { attempt, delay } => info!(
                "reconnect attempt={attempt}/{max} delay={:.2}s jitter={:+.2}s{}",
                delay.delay.as_secs_f64(),
                delay.jitter_millis() as f64 / 1_000.0,
                if delay.floored { " (server asked to wait)" } else { "" }
            ),
            Event::GaveUp { attempts } => error!("gave up after {attempts} attempts; {detail}"),
            Event::Rejected { failure } => error!("rejected: {failure}; {detail}"),
            Event::HeartbeatTimeout => warn!("no pong within the pong timeout"),
            Event::IdleTimeout => warn!("no data within the idle timeout"),
            other => debug!("{other:?}"),
        }
    }

    /// Shares state and statistics with other threads: at once when they
    /// changed, otherwise at most every 100 ms for the time-based figures.
    fn publish_status(&mut self) {
        let now = self.now();
        let stats = *self.sup.stats();
        let changed = self.published.is_none_or(|(state, ref published, at)| {
            state != self.sup.state() || *published != stats || now - at >= Duration::from_millis(100)
        });
        if !changed {
            return;
        }
        self.published = Some((self.sup.state(), stats, now));
        let status = Status {
            snapshot: self.sup.snapshot(now),
        };
        *self.shared.status.lock().unwrap_or_else(|p| p.into_inner()) = status;
    }
}

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

//! An I/O thread that drives sessions: one for a [`super::Client`] of its
//! own, or many for a gateway with many upstreams. Each session keeps its own
//! poller; the thread waits on all of their fds at once and serves only those
//! that have work or whose deadline is due, so a connect that hangs on one
//! link delays none of the others.

use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;
use std::boxed::Box;
use std::collections::VecDeque;
use std::io;
use std::os::fd::AsRawFd;
use std::string::String;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Instant as StdInstant;
use std::vec::Vec;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use tungstenite::Message;

use super::bounded::Bounded;
use super::builder::ClientBuilder;
use super::client::Client;
use super::delivery::Undelivered;
use super::error::BuildError;
use super::event::{ClientEvent, Incoming};
use super::events::Events as EventQueue;
use super::session::Session;

/// Wakes the thread for a new session or for the end.
const CONTROL: Token = Token(usize::MAX);

/// Where a session's end is told: what it handed back, once finished.
#[derive(Debug, Default)]
pub(crate) struct Done {
    result: Mutex<Option<Vec<Undelivered>>>,
    finished: Condvar,
}

impl Done {
    fn finish(&self, undelivered: Vec<Undelivered>) {
        *self.result.lock().unwrap_or_else(|p| p.into_inner()) = Some(undelivered);
        self.finished.notify_all();
    }

    /// Waits up to `timeout` for the end; takes what was handed back (the
    /// first caller gets it, later ones an empty list). `None` on timeout.
    pub(crate) fn wait(&self, timeout: Duration) -> Option<Vec<Undelivered>> {
        let deadline = StdInstant::now() + timeout;
        let mut result = self.result.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(undelivered) = result.as_mut() {
                return Some(core::mem::take(undelivered));
            }
            let left = deadline.saturating_duration_since(StdInstant::now());
            if left.is_zero() {
                return None;
            }
            result = self
                .finished
                .wait_timeout(result, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// The thread's side of one client: its session and the caller's queues.
struct Hosted {
    /// Boxed: a session is kilobytes, and the thread's loop would otherwise
    /// carry copies of it in its stack frame (touched stack pages stay
    /// resident, per thread).
    session: Box<Session>,
    inbound: Arc<Bounded<Message>>,
    events: Arc<Bounded<ClientEvent>>,
    dropped: Arc<AtomicU64>,
    done: Arc<Done>,
    /// Received messages the inbound queue has not taken yet.
    held: VecDeque<Message>,
    /// When the session next needs a turn without an event on its fd.
    due: Option<StdInstant>,
}

impl Hosted {
    /// Gives the session its turns until it has nothing ready, handing what
    /// it produced to the caller's queues. `true` once it has finished.
    fn serve(&mut self) -> bool {
        while let Some(item) = self.session.poll(Some(Duration::ZERO)) {
            match item {
                Incoming::Message(message) => self.held.push_back(message),
                // A caller who ignores events must not stall the link.
                Incoming::Event(event) => {
                    if self.events.try_push(event).is_err() {
                        self.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            if self.held.len() >= 256 {
                self.inbound.push_from(&mut self.held);
            }
        }
        self.inbound.push_from(&mut self.held);
        let now = StdInstant::now();
        self.due = self.session.timeout().map(|wait| now + wait);
        self.session.is_finished()
    }

    fn end(mut self) {
        self.inbound.push_from(&mut self.held);
        self.inbound.close();
        self.events.close();
        self.done.finish(self.session.take_undelivered());
    }
}

/// A thread that runs many sessions, each behind a [`Client`] handle: a
/// gateway with many upstreams needs one thread, not one per link.
///
/// ```no_run
/// use wstether::client::{ClientBuilder, IoThread};
/// let io = IoThread::spawn()?;
/// let feeds: Vec<_> = ["wss://a.example/ws", "wss://b.example/ws"]
///     .into_iter()
///     .map(|url| io.add(ClientBuilder::new(url)))
///     .collect::<Result<_, _>>()?;
/// # let _ = feeds;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// The thread ends once every session it runs has ended and the `IoThread`
/// handle is dropped.
#[derive(Debug)]
pub struct IoThread {
    tx: Sender<Hosted>,
    waker: Arc<Waker>,
    thread: Option<JoinHandle<()>>,
    stack_size: usize,
}

impl core::fmt::Debug for Hosted {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Hosted").finish_non_exhaustive()
    }
}

/// The I/O thread's stack: tungstenite, rustls and the caller's hooks run on
/// it. Measured use stays well under it (see BENCHMARKS.md); the default
/// thread reserves 2 MiB, which adds up on 32-bit gateways with many clients.
pub(crate) const DEFAULT_STACK: usize = 256 * 1024;

impl IoThread {
    /// Starts a thread with the default stack (256 KiB).
    pub fn spawn() -> io::Result<IoThread> {
        IoThread::with_stack_size(DEFAULT_STACK)
    }

    /// Starts a thread with a stack of `bytes`.
    pub fn with_stack_size(bytes: usize) -> io::Result<IoThread> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), CONTROL)?);
        let (tx, rx) = mpsc::channel();
        // The thread keeps the waker open as long as it runs: the handle's
        // last wake-up comes just before the handle (and its reference) is
        // dropped, and closing the waker's fd would take the wake-up out of
        // the poller before the thread saw it, leaving the thread asleep.
        let keep_open = Arc::clone(&waker);
        let thread = thread::Builder::new()
            .name(String::from("wstether-io"))
            .stack_size(bytes)
            .spawn(move || {
                run(poll, rx);
                drop(keep_open);
            })?;
        Ok(IoThread {
            tx,
            waker,
            thread: Some(thread),
            stack_size: bytes,
        })
    }

    /// The stack size this thread was started with.
    pub fn stack_size(&self) -> usize {
        self.stack_size
    }

    /// Starts a client built by `builder` on this thread.
    pub fn add(&self, builder: ClientBuilder) -> Result<Client, BuildError> {
        let (inbound_capacity, event_capacity) = builder.queue_capacities();
        let session = builder.build_session(true)?;
        self.host(session, event_capacity, inbound_capacity)
    }

    pub(crate) fn host(
        &self,
        session: Session,
        event_capacity: usize,
        _inbound_capacity: usize,
    ) -> Result<Client, BuildError> {
        let shared = Arc::clone(session.shared());
        let close_bound = session.close_bound();
        // The session's budget bounds what waits; this queue only carries it.
        let inbound = Arc::new(Bounded::new(usize::MAX));
        let events = Arc::new(Bounded::new(event_capacity));
        let dropped = Arc::new(AtomicU64::new(0));
        let done = Arc::new(Done::default());
        let hosted = Hosted {
            session: Box::new(session),
            inbound: Arc::clone(&inbound),
            events: Arc::clone(&events),
            dropped: Arc::clone(&dropped),
            done: Arc::clone(&done),
            held: VecDeque::new(),
            due: Some(StdInstant::now()),
        };
        self.tx
            .send(hosted)
            .map_err(|_| BuildError::Io(io::Error::other("the I/O thread has ended")))?;
        let _ = self.waker.wake();
        Ok(Client::new(
            shared,
            inbound,
            EventQueue::new(events, dropped),
            done,
            close_bound,
        ))
    }
}

impl Drop for IoThread {
    fn drop(&mut self) {
        // Disconnects the channel: the thread ends once its sessions have.
        let (tx, _) = mpsc::channel();
        drop(core::mem::replace(&mut self.tx, tx));
        let _ = self.waker.wake();
        if let Some(thread) = self.thread.take() {
            if thread.thread().id() != thread::current().id() {
                // Not joined: sessions may still be closing; the thread ends
                // on its own once they have.
                drop(thread);
            }
        }
    }
}

/// The thread: serves sessions with work, waits on all of their fds.
fn run(mut poll: Poll, rx: Receiver<Hosted>) {
    let mut events = Events::with_capacity(64);
    let mut hosted: Vec<Option<Hosted>> = Vec::new();
    let mut ready: Vec<bool> = Vec::new();
    let mut accepting = true;
    loop {
        if accepting {
            loop {
                match rx.try_recv() {
                    Ok(new) => {
                        let slot = hosted.iter().position(Option::is_none).unwrap_or(hosted.len());
                        let fd = new.session.as_raw_fd();
                        if poll
                            .registry()
                            .register(&mut SourceFd(&fd), Token(slot), Interest::READABLE)
                            .is_err()
                        {
                            new.end();
                            continue;
                        }
                        if slot == hosted.len() {
                            hosted.push(Some(new));
                            ready.push(true);
                        } else {
                            hosted[slot] = Some(new);
                            ready[slot] = true;
                        }
                    }
                    Err(mpsc::TryRecvError::Empty) => break,
                    Err(mpsc::TryRecvError::Disconnected) => {
                        accepting = false;
                        break;
                    }
                }
            }
        }
        let now = StdInstant::now();
        for (slot, entry) in hosted.iter_mut().enumerate() {
            let Some(h) = entry else { continue };
            let due = ready[slot] || h.due.is_some_and(|at| at <= now);
            ready[slot] = false;
            if due && h.serve() {
                let fd = h.session.as_raw_fd();
                let _ = poll.registry().deregister(&mut SourceFd(&fd));
                if let Some(finished) = entry.take() {
                    finished.end();
                }
            }
        }
        if !accepting && hosted.iter().all(Option::is_none) {
            return;
        }
        let now = StdInstant::now();
        let wait = hosted
            .iter()
            .flatten()
            .filter_map(|h| h.due)
            .min()
            .map(|at| at.saturating_duration_since(now));
        if poll.poll(&mut events, wait).is_err() {
            continue;
        }
        for event in events.iter() {
            if let Some(flag) = ready.get_mut(event.token().0) {
                *flag = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What goes through the channel to the thread is small: the channel
    /// allocates its slots in blocks of 31, zeroed, so a session carried by
    /// value made every I/O thread touch about 100 KiB for one hand-over
    /// (a `Client` with `Limits::small()` took 127 KiB a link, 57 KiB after).
    #[test]
    fn a_hosted_session_is_handed_over_boxed() {
        let size = core::mem::size_of::<Hosted>();
        assert!(size <= 256, "Hosted is {size} bytes");
        assert!(core::mem::size_of::<Session>() > 4 * size, "boxing must matter");
    }
}

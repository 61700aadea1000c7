//! How much received data may wait for a [`super::Client`]'s caller:
//! messages and bytes, from the moment the I/O thread reads them until the
//! caller takes them. (A [`super::Session`] reads only when its caller
//! polls, so nothing waits there.)
//!
//! The link reads only while there is room, so a caller that stops reading
//! stops the link reading too and TCP pushes back on the server. The one
//! message that crosses the budget is let in whole, so the queue holds at most
//! the budget plus one message.

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[derive(Debug)]
pub(crate) struct InboundBudget {
    messages: AtomicUsize,
    bytes: AtomicUsize,
    max_messages: usize,
    max_bytes: usize,
    /// The link stopped reading for lack of room: whoever makes room wakes it.
    starved: AtomicBool,
}

impl InboundBudget {
    pub(crate) fn new(max_messages: usize, max_bytes: usize) -> InboundBudget {
        InboundBudget {
            messages: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            max_messages,
            max_bytes,
            starved: AtomicBool::new(false),
        }
    }

    /// Whether another message may be read.
    pub(crate) fn has_room(&self) -> bool {
        self.messages.load(Ordering::SeqCst) < self.max_messages && self.bytes.load(Ordering::SeqCst) < self.max_bytes
    }

    /// A message of `bytes` was read and waits for the client's caller.
    pub(crate) fn add(&self, bytes: usize) {
        self.messages.fetch_add(1, Ordering::SeqCst);
        self.bytes.fetch_add(bytes, Ordering::SeqCst);
    }

    /// The caller took a message of `bytes`; `true` when the link was
    /// starved and must be woken.
    pub(crate) fn release(&self, bytes: usize) -> bool {
        self.messages.fetch_sub(1, Ordering::SeqCst);
        self.bytes.fetch_sub(bytes, Ordering::SeqCst);
        // A plain load first: the common case writes nothing the link's
        // thread would have to fetch back.
        self.starved.load(Ordering::SeqCst) && self.starved.swap(false, Ordering::SeqCst)
    }

    /// The link stops reading; returns whether there is room after all (a
    /// release raced with the decision), in which case it reads on.
    ///
    /// Sequentially consistent throughout: the link sets the flag then
    /// reads the counts, a release changes the counts then reads the flag,
    /// and each must see the other's write (weaker orders let both miss).
    pub(crate) fn starve(&self) -> bool {
        self.starved.store(true, Ordering::SeqCst);
        if self.has_room() {
            self.starved.store(false, Ordering::SeqCst);
            return true;
        }
        false
    }
}

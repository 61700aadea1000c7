//! A bounded hand-over queue from the I/O thread to the caller: the thread
//! pushes a whole read pass under one lock and wakes a waiting reader once,
//! where a channel would cost a wake-up per message. Memory grows with what
//! is queued, not with the capacity.

use core::sync::atomic::{AtomicUsize, Ordering};
use core::time::Duration;
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::time::Instant as StdInstant;

use super::signal::Signal;

#[derive(Debug)]
struct State<T> {
    items: VecDeque<T>,
    /// No more items will come.
    closed: bool,
}

/// What waiting for an item came to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Take<T> {
    Item(T),
    TimedOut,
    Closed,
}

#[derive(Debug)]
pub(crate) struct Bounded<T> {
    state: Mutex<State<T>>,
    available: Signal,
    capacity: usize,
    /// The readers' side: a whole batch moved out of `state` at once, so that
    /// readers take items without touching the lock the writer uses.
    taken: Mutex<VecDeque<T>>,
    /// Items in `taken`, still counted against the capacity.
    taken_len: AtomicUsize,
}

impl<T> Bounded<T> {
    pub(crate) fn new(capacity: usize) -> Bounded<T> {
        Bounded {
            state: Mutex::new(State {
                items: VecDeque::new(),
                closed: false,
            }),
            available: Signal::new(),
            capacity,
            taken: Mutex::new(VecDeque::new()),
            taken_len: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves items from the front of `from` while there is room; returns
    /// whether everything fitted.
    pub(crate) fn push_from(&self, from: &mut VecDeque<T>) -> bool {
        if from.is_empty() {
            return true;
        }
        let mut state = self.lock();
        let held = state.items.len() + self.taken_len.load(Ordering::SeqCst);
        let room = self.capacity.saturating_sub(held);
        let moved = room.min(from.len());
        let was_empty = state.items.is_empty();
        state.items.extend(from.drain(..moved));
        drop(state);
        if was_empty && moved > 0 {
            self.available.notify_all();
        }
        from.is_empty()
    }

    /// Pushes one item unless the queue is full; hands it back otherwise.
    pub(crate) fn try_push(&self, item: T) -> Result<(), T> {
        let mut state = self.lock();
        if state.items.len() + self.taken_len.load(Ordering::SeqCst) >= self.capacity {
            return Err(item);
        }
        let was_empty = state.items.is_empty();
        state.items.push_back(item);
        drop(state);
        if was_empty {
            self.available.notify_all();
        }
        Ok(())
    }

    /// No more items: waiting readers get what is left, then `Closed`.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.available.notify_all();
    }

    /// The next item, waiting until `deadline` (`None`: for ever).
    pub(crate) fn take(&self, deadline: Option<StdInstant>) -> Take<T> {
        let mut taken = self.taken.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(item) = taken.pop_front() {
            self.taken_len.fetch_sub(1, Ordering::SeqCst);
            return Take::Item(item);
        }
        let mut state = self.lock();
        loop {
            if !state.items.is_empty() {
                // Everything at once: the writer's queue becomes the readers'.
                core::mem::swap(&mut state.items, &mut *taken);
                self.taken_len.store(taken.len() - 1, Ordering::SeqCst);
                return match taken.pop_front() {
                    Some(item) => Take::Item(item),
                    None => Take::TimedOut,
                };
            }
            if state.closed {
                return Take::Closed;
            }
            state = match deadline {
                None => self.available.wait(state),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(StdInstant::now());
                    if left.is_zero() {
                        return Take::TimedOut;
                    }
                    self.available.wait_timeout(state, left)
                }
            };
        }
    }

    /// The next item, waiting at most `timeout`.
    pub(crate) fn take_timeout(&self, timeout: Duration) -> Take<T> {
        self.take(Some(StdInstant::now() + timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_up_to_capacity_and_keeps_the_rest() {
        let queue = Bounded::new(3);
        let mut batch: VecDeque<u32> = (0..5).collect();
        assert!(!queue.push_from(&mut batch));
        assert_eq!(batch, [3, 4]);
        assert_eq!(queue.take_timeout(Duration::ZERO), Take::Item(0));
        assert!(!queue.push_from(&mut batch));
        assert_eq!(batch, [4]);
        queue.close();
        assert_eq!(queue.take(None), Take::Item(1));
        assert_eq!(queue.take(None), Take::Item(2));
        assert_eq!(queue.take(None), Take::Item(3));
        assert_eq!(queue.take(None), Take::Closed);
    }

    #[test]
    fn an_empty_queue_times_out() {
        let queue: Bounded<u8> = Bounded::new(1);
        assert_eq!(queue.take_timeout(Duration::from_millis(1)), Take::TimedOut);
    }
}

//! A condition variable that skips the wake-up when nobody waits.
//!
//! std's `Condvar::notify_all` is a system call every time, whether a thread
//! waits or not, and the I/O paths signal after every write to the socket
//! and every read pass, almost always with nobody waiting: on a busy link
//! that was two system calls per write.

use core::sync::atomic::{AtomicUsize, Ordering};
use core::time::Duration;
use std::sync::{Condvar, MutexGuard};

/// A [`Condvar`] that counts its waiters.
///
/// The rule that makes skipping safe is the one a condition variable needs
/// anyway: what a waiter waits for changes under the mutex it holds while it
/// checks. A waiter counts itself in under that mutex before it sleeps; a
/// signaller that changed the state under the same mutex afterwards sees
/// the count (the mutex orders the two), and one that changed it before is
/// seen by the waiter's check, which then does not sleep.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    condvar: Condvar,
    waiters: AtomicUsize,
}

impl Signal {
    pub(crate) const fn new() -> Signal {
        Signal {
            condvar: Condvar::new(),
            waiters: AtomicUsize::new(0),
        }
    }

    /// Sleeps until signalled (or spuriously), releasing `guard` meanwhile.
    pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let guard = self.condvar.wait(guard).unwrap_or_else(|p| p.into_inner());
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        guard
    }

    /// [`Signal::wait`], for at most `timeout`.
    pub(crate) fn wait_timeout<'a, T>(&self, guard: MutexGuard<'a, T>, timeout: Duration) -> MutexGuard<'a, T> {
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let guard = self
            .condvar
            .wait_timeout(guard, timeout)
            .unwrap_or_else(|p| p.into_inner())
            .0;
        self.waiters.fetch_sub(1, Ordering::SeqCst);
        guard
    }

    /// Wakes every waiter, if there is one. Call it after changing, under
    /// the waiters' mutex, what they wait for.
    pub(crate) fn notify_all(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.condvar.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::thread;

    /// A ping-pong of 20 000 hand-overs between two threads, each waiting
    /// for the other's change: a lost wake-up would stall it (the waits have
    /// no timeout).
    #[test]
    fn no_wake_up_is_lost_between_two_threads() {
        let shared = Arc::new((Mutex::new(0u32), Signal::new()));
        let other = Arc::clone(&shared);
        let ponger = thread::spawn(move || {
            let (turn, signal) = &*other;
            for i in 0..10_000u32 {
                let mut t = turn.lock().unwrap();
                while *t != 2 * i + 1 {
                    t = signal.wait(t);
                }
                *t += 1;
                drop(t);
                signal.notify_all();
            }
        });
        let (turn, signal) = &*shared;
        for i in 0..10_000u32 {
            let mut t = turn.lock().unwrap();
            while *t != 2 * i {
                t = signal.wait(t);
            }
            *t += 1;
            drop(t);
            signal.notify_all();
        }
        ponger.join().unwrap();
        assert_eq!(*turn.lock().unwrap(), 20_000);
    }
}

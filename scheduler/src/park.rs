//! Parking a thread until it is given work: one [`Parker`] per thread that
//! runs tasks (a worker, or a thread inside `block_on`).
//!
//! The state word makes `unpark` before `park` stick: an `unpark` that finds
//! the thread not yet parked leaves `NOTIFIED`, and the next `park` consumes
//! it and returns at once. That is what lets a worker publish "I am going to
//! sleep" (see [`idle`](crate::idle)), re-check the queues, and only then
//! park, without losing a wake sent in between. Only an `unpark` that finds
//! the thread actually asleep takes the mutex and signals the condition
//! variable.

use crate::loom::atomic::{AtomicUsize, Ordering::SeqCst};
use crate::loom::{Condvar, Mutex};

const EMPTY: usize = 0;
const PARKED: usize = 1;
const NOTIFIED: usize = 2;

/// A thread's sleep and wake-up call.
#[derive(Debug)]
pub struct Parker {
    state: AtomicUsize,
    lock: Mutex<()>,
    cvar: Condvar,
}

impl Default for Parker {
    fn default() -> Self {
        Parker::new()
    }
}

impl Parker {
    /// A parker with no pending wake-up.
    pub fn new() -> Parker {
        Parker {
            state: AtomicUsize::new(EMPTY),
            lock: Mutex::new(()),
            cvar: Condvar::new(),
        }
    }

    /// Blocks until [`unpark`](Self::unpark) is called, or returns at once if
    /// it was called since the last `park`.
    pub fn park(&self) {
        if self
            .state
            .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
            .is_ok()
        {
            return;
        }
        let mut guard = self.lock.lock();
        if let Err(actual) = self.state.compare_exchange(EMPTY, PARKED, SeqCst, SeqCst) {
            debug_assert_eq!(actual, NOTIFIED);
            self.state.store(EMPTY, SeqCst);
            return;
        }
        loop {
            self.cvar.wait(&mut guard);
            if self
                .state
                .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
                .is_ok()
            {
                return;
            }
        }
    }

    /// Wakes the thread, now or at its next `park`.
    pub fn unpark(&self) {
        if self.state.swap(NOTIFIED, SeqCst) == PARKED {
            // Taking the lock orders this notify after the parker's wait
            // began (it set PARKED under the lock).
            drop(self.lock.lock());
            self.cvar.notify_one();
        }
    }
}

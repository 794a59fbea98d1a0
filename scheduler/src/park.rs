//! Parking a thread until it is given work: one [`Parker`] per place a
//! thread sleeps (a worker slot, a spare machine's seat, a `block_on`).
//!
//! The state word makes `unpark` before `park` stick: an `unpark` that finds
//! the thread not yet parked leaves `NOTIFIED`, and the next `park` consumes
//! it and returns at once. That is what lets a worker publish "I am going to
//! sleep" (see [`idle`](crate::idle)), re-check the queues, and only then
//! park, without losing a wake sent in between. Only an `unpark` that finds
//! the thread actually asleep takes the mutex and signals the condition
//! variable.
//!
//! **Driving IO while parked.** With an [`IoDriver`] (the runtime passes its
//! reactor), a parking thread first tries to *drive* the poller: it blocks
//! in `epoll_wait` instead of on the condition variable, so an IO event wakes
//! it directly and its task runs on this thread, with no hand-over from a
//! reactor thread (Go's netpoller in `findrunnable`). Only one thread can
//! drive at a time; the others sleep on their condition variables. Waking a
//! driving thread is [`IoDriver::interrupt`].
//!
//! ```text
//!   EMPTY ──park──► DRIVING ──(event / interrupt)──► EMPTY      (IO driver free)
//!   EMPTY ──park──► PARKED  ──unpark: notify──────► NOTIFIED ──► EMPTY
//!   any   ──unpark──► NOTIFIED (a DRIVING thread is interrupted, a PARKED one notified)
//! ```
//!
//! The driver asks "may I still block?" once it holds the poller, right
//! before `epoll_wait`: an `unpark` that came earlier is seen there, one that
//! comes later leaves an interrupt pending that the poll sees. That closes the
//! window in which the interrupt went to another thread that was driving a
//! moment before. `loom_models::unpark_reaches_a_thread_about_to_drive`
//! explores it.

use std::sync::Arc;

use crate::loom::atomic::{AtomicUsize, Ordering::SeqCst};
use crate::loom::{Condvar, Mutex};

const EMPTY: usize = 0;
const PARKED: usize = 1;
const NOTIFIED: usize = 2;
const DRIVING: usize = 3;

/// An IO poller a parked thread can drive (the runtime's reactor).
pub trait IoDriver: Send + Sync {
    /// Drives the poller for one turn on this thread, blocking until an
    /// event or an [`interrupt`](Self::interrupt), unless `may_block` (asked
    /// with the poller held) says no. `false` at once if another thread
    /// drives it.
    fn try_drive(&self, may_block: &dyn Fn() -> bool) -> bool;
    /// Makes the thread driving the poller return (or the next turn not
    /// block).
    fn interrupt(&self);
    /// A busy thread's non-blocking look at IO ([`Parker::poll_io`]): one
    /// turn that does not block, if the poller is free; `true` if it found
    /// events or due timers. A driver may skip it when the poller was
    /// turned very recently (`false`).
    fn try_poll(&self) -> bool {
        self.poll_now()
    }
    /// A spinning thread's look at IO ([`Parker::poll_io_now`]): one
    /// non-blocking turn if the poller is free, never skipped; `true` if it
    /// found events or due timers. (This default cannot tell and says
    /// `true` whenever it turned.)
    fn poll_now(&self) -> bool {
        self.try_drive(&|| false)
    }
    /// A look at IO by a worker that has run out of tasks, before it
    /// steals ([`Parker::poll_io_for_work`]): as
    /// [`poll_now`](Self::poll_now), which this default is; a driver may
    /// skip it when no event can be waiting (`false`).
    fn poll_for_work(&self) -> bool {
        self.poll_now()
    }
}

/// A thread's sleep and wake-up call.
pub struct Parker {
    state: AtomicUsize,
    lock: Mutex<()>,
    cvar: Condvar,
    driver: Option<Arc<dyn IoDriver>>,
}

impl std::fmt::Debug for Parker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parker")
            .field("state", &self.state.load(SeqCst))
            .field("drives_io", &self.driver.is_some())
            .finish()
    }
}

impl Default for Parker {
    fn default() -> Self {
        Parker::new(None)
    }
}

impl Parker {
    /// A parker with no pending wake-up, which drives `driver` while parked
    /// if it can.
    pub fn new(driver: Option<Arc<dyn IoDriver>>) -> Parker {
        Parker {
            state: AtomicUsize::new(EMPTY),
            lock: Mutex::new(()),
            cvar: Condvar::new(),
            driver,
        }
    }

    /// Blocks until [`unpark`](Self::unpark) is called (or, while driving
    /// IO, until an IO event or timer woke some task), or returns at once if
    /// `unpark` was called since the last `park`. Callers re-check their
    /// condition: a return is a hint, not a promise of work.
    pub fn park(&self) {
        if self
            .state
            .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
            .is_ok()
        {
            return;
        }
        if let Some(driver) = &self.driver
            && self
                .state
                .compare_exchange(EMPTY, DRIVING, SeqCst, SeqCst)
                .is_ok()
        {
            let drove = driver.try_drive(&|| self.state.load(SeqCst) == DRIVING);
            let prev = self.state.swap(EMPTY, SeqCst);
            if drove || prev == NOTIFIED {
                return;
            }
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

    /// Polls the IO driver once without blocking, if this parker has one
    /// and no other thread drives it; `true` if that found events. A busy
    /// thread calls it every few dozen tasks (tokio's `park_yield`, Go's
    /// non-blocking `netpoll` in `findrunnable`) so that ready IO reaches
    /// its tasks without waiting for some thread to run out of work.
    /// `loom_models::busy_poll_racing_park_loses_no_unpark` checks it
    /// against a thread parking on the same poller.
    pub fn poll_io(&self) -> bool {
        self.driver.as_ref().is_some_and(|driver| driver.try_poll())
    }

    /// As [`poll_io`](Self::poll_io), but never skipped for a recent turn:
    /// the look of a worker spinning for work.
    pub fn poll_io_now(&self) -> bool {
        self.driver.as_ref().is_some_and(|driver| driver.poll_now())
    }

    /// As [`poll_io_now`](Self::poll_io_now), for a worker that has run
    /// out of tasks and looks at IO before it steals; the driver skips the
    /// turn while no IO resource is registered.
    pub fn poll_io_for_work(&self) -> bool {
        self.driver
            .as_ref()
            .is_some_and(|driver| driver.poll_for_work())
    }

    /// Consumes an [`unpark`](Self::unpark) that came since the last
    /// `park`, as `park` would at once; `true` if there was one. A thread
    /// spinning before it parks asks this instead of sleeping.
    pub fn take_notified(&self) -> bool {
        self.state
            .compare_exchange(NOTIFIED, EMPTY, SeqCst, SeqCst)
            .is_ok()
    }

    /// Wakes the thread, now or at its next `park`.
    pub fn unpark(&self) {
        match self.state.swap(NOTIFIED, SeqCst) {
            PARKED => {
                // Taking the lock orders this notify after the parker's wait
                // began (it set PARKED under the lock).
                drop(self.lock.lock());
                self.cvar.notify_one();
            }
            DRIVING => {
                if let Some(driver) = &self.driver {
                    driver.interrupt();
                }
            }
            _ => {}
        }
    }
}

//! Which workers search for work and which sleep: Go's spinning protocol,
//! with tokio's cap on searchers.
//!
//! One atomic word counts the workers that are *unparked* (awake) and, among
//! them, those *searching* (awake with no work, stealing). A list of sleeping
//! workers sits under a mutex that only the slow paths take.
//!
//! **Submitting work.** After a task is pushed where other workers can see it
//! (a local queue, the injector), the pusher calls [`Idle::worker_to_notify`].
//! If some worker is already searching, it will find the task: nobody is
//! woken. If every worker is awake, one of them will get to it. Otherwise
//! one sleeper is woken *as a searcher*, so a burst of submissions wakes one
//! worker, not a herd.
//!
//! **Searching.** At most half the workers search at once
//! ([`Idle::worker_to_searching`]): beyond that, more thieves only contend on
//! the same queues. A searcher that finds work stops searching; if it was the
//! last searcher it wakes another worker (Go's rule), since its find suggests
//! more work is coming and nobody would be looking for it. A searcher that
//! finds nothing spins for a few microseconds before it parks (step 7 in
//! [`worker`](crate::worker)): still a searcher, so pushes meanwhile wake
//! nobody; it takes the injector's work as it comes, and what waits in
//! other workers' queues when it stops, by the re-check below.
//!
//! **Parking, without losing a wake-up.** A worker with nothing to do first
//! registers as parked ([`Idle::worker_to_parked`]: decrements the counts,
//! joins the sleeper list), then re-checks the queues, and only then sleeps.
//! A pusher pushes, then reads the counts. Both sides use `SeqCst`, so either
//! the pusher sees the worker still awake/searching — and the worker's
//! re-check, which comes after its decrement, sees the task — or the pusher
//! sees the worker registered as asleep and wakes it. The re-check covers the
//! injector always and every local queue when the worker was the last
//! searcher (a local push only skips the wake-up when a searcher exists or
//! the pusher itself is awake to run it). The parker keeps an early
//! `unpark`, so a wake between the registration and the sleep is not lost.
//! `loom_models::task_pushed_while_two_workers_go_idle_is_run` checks this
//! under loom, with real worker loops.
//!
//! Rejected: waking a worker on every push (a futex syscall per spawn, and a
//! thundering herd on bursts); a single global searching flag (Go's early
//! design, which let one slow searcher delay everyone).

use crate::loom::Mutex;
use crate::loom::atomic::{AtomicUsize, Ordering::SeqCst};

/// Bits of the word per count: 16 bits allow 65 535 workers.
const UNPARKED_MASK: usize = 0xFFFF;
const SEARCH_SHIFT: usize = 16;
const SEARCH_ONE: usize = 1 << SEARCH_SHIFT;

/// The searching/parked bookkeeping of one parallel scheduler.
pub(crate) struct Idle {
    state: AtomicUsize,
    workers: usize,
    sleepers: Mutex<Vec<usize>>,
}

fn searching(state: usize) -> usize {
    state >> SEARCH_SHIFT
}

fn unparked(state: usize) -> usize {
    state & UNPARKED_MASK
}

impl Idle {
    /// All `workers` start awake and not searching.
    pub(crate) fn new(workers: usize) -> Idle {
        assert!(workers <= UNPARKED_MASK, "too many workers");
        Idle {
            state: AtomicUsize::new(workers),
            workers,
            sleepers: Mutex::new(Vec::with_capacity(workers)),
        }
    }

    /// After pushing work: the worker to wake, if one must be woken. The
    /// woken worker is counted as awake and searching.
    pub(crate) fn worker_to_notify(&self) -> Option<usize> {
        let state = self.state.load(SeqCst);
        if searching(state) != 0 || unparked(state) >= self.workers {
            return None;
        }
        let mut sleepers = self.sleepers.lock();
        let state = self.state.load(SeqCst);
        if searching(state) != 0 || unparked(state) >= self.workers {
            return None;
        }
        let index = sleepers.pop()?;
        self.state.fetch_add(SEARCH_ONE + 1, SeqCst);
        Some(index)
    }

    /// A worker with no work asks to search; refused when half the workers
    /// already do.
    pub(crate) fn worker_to_searching(&self) -> bool {
        let state = self.state.load(SeqCst);
        if 2 * searching(state) >= self.workers {
            return false;
        }
        self.state.fetch_add(SEARCH_ONE, SeqCst);
        true
    }

    /// A searcher found work or gives up; `true` if it was the last one.
    pub(crate) fn worker_from_searching(&self) -> bool {
        let prev = self.state.fetch_sub(SEARCH_ONE, SeqCst);
        debug_assert!(searching(prev) > 0);
        searching(prev) == 1
    }

    /// A worker registers as asleep. Returns `true` if it was the last
    /// searcher, in which case it must re-check every queue before sleeping.
    pub(crate) fn worker_to_parked(&self, index: usize, was_searching: bool) -> bool {
        let mut sleepers = self.sleepers.lock();
        let dec = 1 + if was_searching { SEARCH_ONE } else { 0 };
        let prev = self.state.fetch_sub(dec, SeqCst);
        sleepers.push(index);
        was_searching && searching(prev) == 1
    }

    /// A worker woke up (or decided not to sleep after all). If it is still
    /// on the sleeper list, nobody woke it on purpose: it takes itself off
    /// and counts itself awake (not searching), returning `false`. If it is
    /// not, a notifier already counted it awake and searching: `true`.
    pub(crate) fn worker_from_parked(&self, index: usize) -> bool {
        let mut sleepers = self.sleepers.lock();
        match sleepers.iter().position(|&i| i == index) {
            Some(pos) => {
                sleepers.swap_remove(pos);
                self.state.fetch_add(1, SeqCst);
                false
            }
            None => true,
        }
    }

    /// Whether every worker is awake and none is searching: nobody is free
    /// to pick up new work.
    pub(crate) fn all_busy(&self) -> bool {
        let state = self.state.load(SeqCst);
        searching(state) == 0 && unparked(state) >= self.workers
    }

    /// Workers asleep now.
    pub(crate) fn sleeping(&self) -> usize {
        self.sleepers.lock().len()
    }
}

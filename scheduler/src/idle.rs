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
//! finds nothing spins for a few microseconds before it parks (step 8 in
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
//! **The monitor's doze.** The monitor (Go's sysmon) checks the workers
//! every 10 ms while they are quiet. With every worker parked there is
//! nothing to check, so it dozes until one wakes (Go's sysmon sleeps on
//! `sysmonnote` the same way): [`Idle::monitor_sleep`] sets the word's
//! [`MONITOR_ASLEEP`] bit with a `fetch_or` and parks only if that
//! `fetch_or` saw no worker awake; each `fetch_add` that counts a worker
//! awake again sees the bit if it was set first, and unparks the monitor.
//! Read-modify-writes of one word are totally ordered, so one of the two
//! sees the other. `loom_models::worker_waking_wakes_a_dozing_monitor`
//! checks it.
//!
//! Rejected: waking a worker on every push (a futex syscall per spawn, and a
//! thundering herd on bursts); a single global searching flag (Go's early
//! design, which let one slow searcher delay everyone).

use std::sync::OnceLock;

use crate::loom::Mutex;
use crate::loom::atomic::{AtomicUsize, Ordering::SeqCst};
use crate::loom::thread::{self, Thread};

/// Bits of the word per count: 16 bits allow 65 535 workers.
const UNPARKED_MASK: usize = 0xFFFF;
const SEARCH_SHIFT: usize = 16;
const SEARCH_ONE: usize = 1 << SEARCH_SHIFT;
/// Searchers are at most half the workers: 15 bits.
const SEARCH_MASK: usize = 0x7FFF;
/// The top bit: the monitor dozes, or is about to (see the module docs).
const MONITOR_ASLEEP: usize = 1 << (usize::BITS - 1);

/// The searching/parked bookkeeping of one parallel scheduler.
pub(crate) struct Idle {
    state: AtomicUsize,
    workers: usize,
    sleepers: Mutex<Vec<usize>>,
    /// The monitor thread, registered by the monitor before it first dozes.
    monitor: OnceLock<Thread>,
}

fn searching(state: usize) -> usize {
    (state >> SEARCH_SHIFT) & SEARCH_MASK
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
            monitor: OnceLock::new(),
        }
    }

    /// A worker was counted awake again by a `fetch_add` that replaced
    /// `prev`: if that was the first one awake while the monitor dozed,
    /// wakes the monitor.
    fn woke(&self, prev: usize) {
        if prev & MONITOR_ASLEEP != 0
            && unparked(prev) == 0
            && let Some(monitor) = self.monitor.get()
        {
            monitor.unpark();
        }
    }

    /// Monitor side: if no worker is awake, parks until one is counted
    /// awake again (or the thread is unparked for another reason, such as
    /// shutdown); `true` if it parked. See the module docs.
    pub(crate) fn monitor_sleep(&self) -> bool {
        self.monitor.get_or_init(thread::current);
        let prev = self.state.fetch_or(MONITOR_ASLEEP, SeqCst);
        let idle = unparked(prev) == 0;
        if idle {
            thread::park();
        }
        self.state.fetch_and(!MONITOR_ASLEEP, SeqCst);
        idle
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
        let prev = self.state.fetch_add(SEARCH_ONE + 1, SeqCst);
        self.woke(prev);
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
                let prev = self.state.fetch_add(1, SeqCst);
                self.woke(prev);
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

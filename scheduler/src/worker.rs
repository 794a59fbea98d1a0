//! The worker loop (Go's M running with a P): find a task, run it, repeat;
//! search other processors when out of work; park when there is none.
//!
//! Finding the next task (rule 3 of DESIGN.md), in order:
//!
//! 1. every [`INJECTOR_INTERVAL`]th tick, the injector first, then this
//!    thread's pinned (`spawn_local`) tasks — so a worker busy with its own
//!    queue still serves tasks submitted from outside and its pinned tasks;
//! 2. the LIFO slot, unless it supplied the last [`MAX_LIFO_STREAK`] tasks
//!    in a row (then its task goes to the back of the local queue);
//! 3. the local queue;
//! 4. a batch from the injector (moved into the local queue);
//! 5. this thread's pinned tasks;
//! 6. searching: steal half of a victim's queue, victims tried from a
//!    random start; on the last pass, take a victim's LIFO slot.
//!
//! Then park, by the protocol in [`idle`](crate::idle).
//!
//! Each poll runs with a fresh cooperative budget ([`coop`](crate::coop)).

use std::cell::{Cell, RefCell};
use std::ptr;
use std::sync::Arc;

use crate::context;
use crate::coop;
use crate::local::LocalQueue;
use crate::loom::atomic::Ordering::Acquire;
use crate::parallel::Shared;
use crate::park::Parker;
use crate::queue::{self, MAX_LIFO_STREAK};
use crate::task::Notified;

/// Ticks between injector-first checks: Go's figure (`schedtick%61`), a
/// prime so the check does not fall into step with periodic workloads.
pub(crate) const INJECTOR_INTERVAL: u32 = 61;

/// A processor (Go's P): the right to run tasks, with its queues.
pub(crate) struct Processor {
    pub(crate) index: usize,
    local: queue::Local,
    tick: u32,
    lifo_streak: u8,
    is_searching: bool,
    rng: u32,
}

impl Processor {
    pub(crate) fn new(index: usize, local: queue::Local) -> Processor {
        Processor {
            index,
            local,
            tick: 0,
            lifo_streak: 0,
            is_searching: false,
            // Any odd seed works for xorshift; spread the workers apart.
            rng: 0x9E37_79B9u32.wrapping_mul(index as u32 + 1) | 1,
        }
    }

    fn next_rand(&mut self, n: usize) -> usize {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng = x;
        x as usize % n
    }

    /// Puts a task submitted on this worker: LIFO slot for a wake or spawn,
    /// back of the queue for a yield. Wakes a sleeper if the local queue
    /// grew, since another worker could steal from it.
    fn push(&mut self, shared: &Shared, task: Notified, yielded: bool) {
        let displaced = if yielded {
            Some(task)
        } else {
            shared.remotes[self.index].lifo.swap(task)
        };
        if let Some(task) = displaced {
            self.local.push(task);
            shared.notify_parked();
        }
    }

    /// Steps 1–5 of the module doc.
    fn next_task(&mut self, shared: &Shared, pinned: &LocalQueue) -> Option<Notified> {
        self.tick = self.tick.wrapping_add(1);
        if self.tick.is_multiple_of(INJECTOR_INTERVAL)
            && let Some(task) = shared.injector.pop().or_else(|| pinned.pop())
        {
            self.lifo_streak = 0;
            return Some(task);
        }
        let lifo = &shared.remotes[self.index].lifo;
        if let Some(task) = lifo.take() {
            if self.lifo_streak < MAX_LIFO_STREAK {
                self.lifo_streak += 1;
                return Some(task);
            }
            self.local.push(task);
        }
        self.lifo_streak = 0;
        self.local
            .pop()
            .or_else(|| shared.injector.steal_into(&self.local))
            .or_else(|| pinned.pop())
    }

    /// Step 6: steal. Returns `None` if nothing was found or searching was
    /// refused (half the workers already search).
    fn search(&mut self, shared: &Shared) -> Option<Notified> {
        if !self.is_searching {
            if !shared.idle.worker_to_searching() {
                return None;
            }
            self.is_searching = true;
        }
        let n = shared.remotes.len();
        let start = self.next_rand(n);
        let stats = &shared.stats[self.index];
        for i in 0..n {
            let victim = (start + i) % n;
            if victim == self.index {
                continue;
            }
            let before = self.local.len();
            if let Some(task) = shared.remotes[victim].steal.steal_into(&self.local) {
                stats.add_steal(self.local.len() - before + 1);
                return Some(task);
            }
        }
        if let Some(task) = shared.injector.steal_into(&self.local) {
            return Some(task);
        }
        for i in 0..n {
            let victim = (start + i) % n;
            if victim != self.index
                && let Some(task) = shared.remotes[victim].lifo.take()
            {
                stats.add_steal(1);
                return Some(task);
            }
        }
        None
    }

    fn has_work(&self, shared: &Shared) -> bool {
        !self.local.is_empty() || !shared.remotes[self.index].lifo.is_empty()
    }

    /// Drops every queued task reference (at shutdown; the owned list
    /// cancels the tasks themselves).
    fn drain(&mut self, shared: &Shared) {
        drop(shared.remotes[self.index].lifo.take());
        while self.local.pop().is_some() {}
    }
}

/// What the thread-local context knows of the worker it runs on.
struct WorkerCtx {
    shared: Arc<Shared>,
    core: RefCell<Option<Box<Processor>>>,
}

// Not `const`-initialised: loom's `thread_local!` does not take `const {}`.
crate::loom::thread_local!(#[allow(clippy::missing_const_for_thread_local)] static WORKER: Cell<*const WorkerCtx> = Cell::new(ptr::null()));

/// Puts `task` on the current worker's processor if this thread is a worker
/// of `shared` holding its processor; otherwise hands the task back.
pub(crate) fn schedule_local(
    shared: &Arc<Shared>,
    task: Notified,
    yielded: bool,
) -> Option<Notified> {
    WORKER.with(|w| {
        let ctx = w.get();
        if ctx.is_null() {
            return Some(task);
        }
        // SAFETY: the pointer is set by `run` for the duration of the loop
        // on this thread, and cleared before the context is dropped.
        let ctx = unsafe { &*ctx };
        if !Arc::ptr_eq(&ctx.shared, shared) {
            return Some(task);
        }
        match ctx.core.try_borrow_mut() {
            Ok(mut core) => match core.as_mut() {
                Some(core) => {
                    core.push(shared, task, yielded);
                    None
                }
                None => Some(task),
            },
            Err(_) => Some(task),
        }
    })
}

/// The body of a worker thread.
pub(crate) fn run(shared: Arc<Shared>, core: Processor) {
    let index = core.index;
    let parker: Arc<Parker> = shared.parkers[index].clone();
    let pinned = LocalQueue::new(parker.clone());
    let ctx = WorkerCtx {
        shared: shared.clone(),
        core: RefCell::new(Some(Box::new(core))),
    };
    WORKER.with(|w| w.set(&ctx));
    let _runtime = context::enter_worker(pinned.clone());
    let stats = &shared.stats[index];

    while !shared.shutdown.load(Acquire) {
        let task = {
            let mut core = ctx.core.borrow_mut();
            let core = core.as_mut().expect("worker lost its processor");
            match core
                .next_task(&shared, &pinned)
                .or_else(|| core.search(&shared))
            {
                Some(task) => {
                    if core.is_searching {
                        core.is_searching = false;
                        if shared.idle.worker_from_searching() {
                            shared.notify_parked();
                        }
                    }
                    Some(task)
                }
                None => {
                    park(&shared, core, &pinned, &parker);
                    None
                }
            }
        };
        if let Some(task) = task {
            stats.add_poll();
            coop::budget(|| task.run());
        }
    }

    pinned.shutdown();
    if let Some(mut core) = ctx.core.borrow_mut().take() {
        core.drain(&shared);
    }
    WORKER.with(|w| w.set(ptr::null()));
    shared.worker_exited();
}

/// Registers as asleep, re-checks, sleeps (see [`idle`](crate::idle)).
fn park(shared: &Shared, core: &mut Processor, pinned: &LocalQueue, parker: &Parker) {
    if core.has_work(shared) || pinned.has_tasks() {
        return;
    }
    let index = core.index;
    let last_searcher = shared.idle.worker_to_parked(index, core.is_searching);
    core.is_searching = false;
    let work_appeared = pinned.has_tasks()
        || !shared.injector.is_empty()
        || (last_searcher && shared.has_queued_work())
        || shared.shutdown.load(Acquire);
    if !work_appeared {
        shared.stats[index].add_park();
        parker.park();
    }
    core.is_searching = shared.idle.worker_from_parked(index);
}

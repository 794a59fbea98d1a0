//! The parallel scheduler (Go's GPM): N worker threads (M), each holding a
//! processor (P) with a local run queue and a LIFO slot, a shared injector
//! (Go's global run queue) and the idle protocol that decides who searches
//! and who sleeps.
//!
//! ```text
//!             spawn / wake from outside a worker
//!                          │
//!                          ▼
//!                ┌──────────────────┐
//!                │     Injector     │◄──── checked every 61st tick,
//!                └──────────────────┘      and when the local queue is empty
//!        ┌──────────────┐        ┌──────────────┐
//!  M0 ── │ P0           │        │ P1           │ ── M1
//!        │ lifo [task]  │ ◄steal─│ lifo [task]  │
//!        │ local queue  │ ─steal►│ local queue  │
//!        └──────────────┘        └──────────────┘
//!   spawn / wake on a worker → that worker's LIFO slot; the displaced
//!   task → back of its local queue; a yield → back of its local queue
//! ```
//!
//! Where a task goes when it is woken (rule 1 and 2 of DESIGN.md):
//! [`Shared::schedule`] looks at the thread-local worker context: on a
//! worker of this scheduler the task goes to that worker's processor
//! ([`worker`](crate::worker)); anywhere else (the reactor thread, the
//! blocking pool, a plain thread) it goes to the injector. Either way the
//! push is followed by [`Idle::worker_to_notify`], which wakes a sleeping
//! worker only if nobody is searching.
//!
//! The processor is a value the worker thread holds in its context, not a
//! part of the thread: the loop takes it out of the context to find work and
//! puts it back for each poll. That keeps the P separable from the M, as Go
//! needs for hand-off.

use std::io;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::Config;
use crate::idle::Idle;
use crate::loom::atomic::{AtomicBool, Ordering::*};
use crate::metrics::{Metrics, WorkerMetrics, WorkerStats};
use crate::park::Parker;
use crate::queue::{self, Injector, LifoSlot};
use crate::task::{self, JoinHandle, Notified, OwnedTasks, Schedule, TaskInfo, TaskMeta};
use crate::worker::{self, Processor};
use parking_lot::{Condvar, Mutex};

/// What every worker can see of processor `i`: the thief's end of its queue
/// and its LIFO slot.
pub(crate) struct Remote {
    pub(crate) steal: queue::Remote,
    pub(crate) lifo: LifoSlot,
}

/// The state the workers share.
pub(crate) struct Shared {
    pub(crate) remotes: Box<[Remote]>,
    pub(crate) injector: Injector,
    pub(crate) idle: Idle,
    pub(crate) parkers: Box<[Arc<Parker>]>,
    pub(crate) owned: OwnedTasks,
    pub(crate) stats: Box<[WorkerStats]>,
    pub(crate) shutdown: AtomicBool,
    /// Workers that have left their loop, and a condvar to wait for them.
    exited: Mutex<usize>,
    exited_cv: Condvar,
    threads: Mutex<Vec<thread::JoinHandle<()>>>,
}

/// A handle to a parallel scheduler: cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("parallel::Handle")
            .field("workers", &self.shared.remotes.len())
            .finish()
    }
}

impl Handle {
    /// Starts `config.workers` worker threads.
    pub fn start(config: &Config) -> io::Result<Handle> {
        let (shared, processors) = Shared::new(config.workers.max(1));
        let handle = Handle { shared };
        for core in processors {
            let shared = handle.shared.clone();
            let on_thread = config.on_thread.clone();
            let name = format!("{}-worker-{}", config.thread_name, core.index);
            let spawned = thread::Builder::new().name(name).spawn(move || {
                let mut body = Some(move || worker::run(shared, core));
                on_thread(&mut || {
                    if let Some(body) = body.take() {
                        body();
                    }
                });
            });
            match spawned {
                Ok(t) => handle.shared.threads.lock().push(t),
                Err(e) => {
                    handle.shutdown(None);
                    return Err(e);
                }
            }
        }
        Ok(handle)
    }

    /// Spawns a `Send` task; it starts on this worker if called from one,
    /// else through the injector.
    pub fn spawn<F>(&self, future: F, meta: TaskMeta) -> JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (notified, join) = task::bind(&self.shared.owned, future, self.shared.clone(), meta);
        if let Some(notified) = notified {
            self.shared.schedule(notified, false);
        }
        join
    }

    /// Stops the workers, waits for them up to `timeout` (a worker stuck in
    /// a poll cannot be interrupted), then cancels every task left.
    pub fn shutdown(&self, timeout: Option<Duration>) {
        let shared = &self.shared;
        shared.shutdown.store(true, SeqCst);
        for parker in shared.parkers.iter() {
            parker.unpark();
        }
        let threads = std::mem::take(&mut *shared.threads.lock());
        let deadline = timeout.map(|t| Instant::now() + t);
        {
            let mut exited = shared.exited.lock();
            while *exited < threads.len() {
                match deadline {
                    None => shared.exited_cv.wait(&mut exited),
                    Some(d) => {
                        let now = Instant::now();
                        if now >= d || shared.exited_cv.wait_for(&mut exited, d - now).timed_out() {
                            break;
                        }
                    }
                }
            }
        }
        for t in threads {
            if t.is_finished() {
                let _ = t.join();
            }
        }
        shared.owned.close_and_drain(|task| task.shutdown());
        while let Some(task) = shared.injector.pop() {
            drop(task);
        }
    }

    /// Counters per worker and for the whole scheduler.
    pub fn metrics(&self) -> Metrics {
        let shared = &self.shared;
        Metrics {
            workers: shared
                .stats
                .iter()
                .zip(shared.remotes.iter())
                .map(|(s, r)| WorkerMetrics {
                    local_queue_depth: r.steal.len() + usize::from(!r.lifo.is_empty()),
                    ..s.read()
                })
                .collect(),
            injector_depth: shared.injector.len(),
            spawned_tasks: shared.owned.spawned(),
            live_tasks: shared.owned.len(),
            sleeping_workers: shared.idle.sleeping(),
        }
    }

    /// A snapshot of every live task.
    pub fn all_tasks(&self) -> Vec<TaskInfo> {
        let mut out = Vec::new();
        self.shared.owned.for_each(|h| out.push(TaskInfo::of(h)));
        out
    }
}

impl Shared {
    /// The shared state of `n` processors, and the processors to hand to
    /// the worker threads.
    pub(crate) fn new(n: usize) -> (Arc<Shared>, Vec<Processor>) {
        let mut processors = Vec::with_capacity(n);
        let mut remotes = Vec::with_capacity(n);
        for index in 0..n {
            let (local, steal) = queue::local();
            processors.push(Processor::new(index, local));
            remotes.push(Remote {
                steal,
                lifo: LifoSlot::new(),
            });
        }
        let shared = Arc::new(Shared {
            remotes: remotes.into(),
            injector: Injector::new(),
            idle: Idle::new(n),
            parkers: (0..n).map(|_| Arc::new(Parker::new())).collect(),
            owned: OwnedTasks::new(n),
            stats: (0..n).map(|_| WorkerStats::default()).collect(),
            shutdown: AtomicBool::new(false),
            exited: Mutex::new(0),
            exited_cv: Condvar::new(),
            threads: Mutex::new(Vec::with_capacity(n)),
        });
        (shared, processors)
    }

    /// Submits from outside a worker: the injector, then maybe a wake-up.
    fn push_remote(&self, task: Notified) {
        self.injector.push(task);
        self.notify_parked();
    }

    /// Wakes a sleeping worker as a searcher if nobody is searching.
    pub(crate) fn notify_parked(&self) {
        if let Some(index) = self.idle.worker_to_notify() {
            self.parkers[index].unpark();
        }
    }

    /// Whether any processor has queued work (the last searcher's re-check).
    pub(crate) fn has_queued_work(&self) -> bool {
        !self.injector.is_empty()
            || self
                .remotes
                .iter()
                .any(|r| !r.steal.is_empty() || !r.lifo.is_empty())
    }

    /// Called by a worker leaving its loop.
    pub(crate) fn worker_exited(&self) {
        *self.exited.lock() += 1;
        self.exited_cv.notify_all();
    }
}

impl Schedule for Arc<Shared> {
    fn schedule(&self, task: Notified, yielded: bool) {
        if let Some(task) = worker::schedule_local(self, task, yielded) {
            self.push_remote(task);
        }
    }

    fn release(&self, task: &task::raw::Header) -> bool {
        self.owned.remove(task)
    }
}

//! The parallel scheduler (Go's GPM): processors (P) in slots, each with a
//! local run queue and a LIFO slot; machines (M, threads) that hold a slot
//! and run its tasks; a shared injector (Go's global run queue); the idle
//! protocol that decides who searches and who sleeps; and the monitor that
//! hands a stuck machine's slot to a spare one.
//!
//! ```text
//!             spawn / wake from outside a worker
//!                          │
//!                          ▼
//!                ┌──────────────────┐
//!                │     Injector     │◄──── checked every 61st tick,
//!                └──────────────────┘      and when the local queue is empty
//!        ┌──────────────┐        ┌──────────────┐
//!  M0 ── │ slot 0 (P0)  │        │ slot 1 (P1)  │ ── M1
//!        │ lifo [task]  │ ◄steal─│ lifo [task]  │
//!        │ local queue  │ ─steal►│ local queue  │
//!        └──────────────┘        └──────────────┘
//!   spawn / wake on a worker → that worker's LIFO slot; the displaced
//!   task → back of its local queue; a yield → back of its local queue
//! ```
//!
//! Where a task goes when it is woken (rules 1 and 2 of DESIGN.md):
//! [`Shared::schedule`] asks the thread-local machine context: inside a poll
//! on a machine of this scheduler the task goes to that machine's processor
//! ([`worker`](crate::worker)); anywhere else (the reactor thread, the
//! blocking pool, a plain thread, a machine that lost its processor) it
//! goes to the injector. Either way the push is followed by
//! [`Idle::worker_to_notify`], which wakes a sleeping worker only if nobody
//! is searching.
//!
//! **Processors are separable from threads.** A slot's processor is touched
//! only by the machine that holds the slot's [`Claim`]; the claim can change
//! hands while the old machine is still inside a poll (see
//! [`claim`](crate::claim)). Machines beyond the `N` workers are *spares*:
//! started on demand by the [`monitor`](crate::monitor) when a worker is
//! stuck in one poll with work waiting behind it, parked when unused.

use std::cell::UnsafeCell;
use std::io;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::claim::{Claim, Sample};
use crate::idle::Idle;
use crate::loom::atomic::{AtomicBool, Ordering::*};
use crate::metrics::{Metrics, WorkerMetrics, WorkerStats};
use crate::park::Parker;
use crate::queue::{self, Injector, LifoSlot};
use crate::spin::SpinOff;
use crate::task::{
    self, JoinHandle, Notified, OwnedTasks, Schedule, TaskId, TaskInfo, TaskLabel, TaskMeta,
};
use crate::worker::{self, Processor, Start};
use crate::{Config, OnThread, monitor};

/// One processor and what every machine can see of it.
pub(crate) struct Slot {
    /// The thief's end of the local queue.
    pub(crate) steal: queue::Remote,
    pub(crate) lifo: LifoSlot,
    /// Who holds the processor; also the poll clock the monitor samples.
    pub(crate) claim: Claim,
    /// The id of the task in the current poll (for the monitor's reports).
    pub(crate) polling_task: AtomicU64,
    /// The id of a task the monitor saw stuck in its poll (0: none).
    pub(crate) blocked_task: AtomicU64,
    /// The OS thread id of the machine holding the slot (see `os`).
    pub(crate) thread_id: std::sync::atomic::AtomicI64,
    pub(crate) stats: WorkerStats,
    /// The machine holding the slot sleeps here. It belongs to the slot, not
    /// to the machine, so a wake-up sent to the slot while it changes hands
    /// is never sent to a parker nobody will sleep on.
    pub(crate) parker: Arc<Parker>,
    core: UnsafeCell<Processor>,
}

// SAFETY: `core` is only reached through `Slot::core`, whose callers hold the
// claim (HELD or BORROWED) — one machine at a time, with the claim's
// acquire/release ordering between holders. The other fields are Sync.
unsafe impl Sync for Slot {}

impl Slot {
    /// The processor.
    ///
    /// # Safety
    /// The caller holds the claim (HELD, or BORROWED for the current poll)
    /// and drops the reference before giving it up.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn core(&self) -> &mut Processor {
        // SAFETY: the caller's claim makes this the only live reference.
        unsafe { &mut *self.core.get() }
    }

    pub(crate) fn unpark(&self) {
        self.parker.unpark();
    }
}

/// How machines are started and what the monitor watches for.
pub(crate) struct MachineConfig {
    pub(crate) thread_name: String,
    pub(crate) stack_size: Option<usize>,
    /// Driven by a worker with nothing to run (see `park`).
    pub(crate) io_driver: Option<Arc<dyn crate::IoDriver>>,
    pub(crate) on_thread: OnThread,
    pub(crate) handoff_after: Option<Duration>,
    pub(crate) slow_poll: Option<Duration>,
}

/// Machines without a slot, waiting to be handed one.
#[derive(Default)]
pub(crate) struct Spares {
    pub(crate) idle: Vec<Arc<Seat>>,
    pub(crate) started: usize,
}

/// Where a spare machine waits for a slot.
pub(crate) struct Seat {
    pub(crate) parker: Arc<Parker>,
    pub(crate) assigned: Mutex<Option<usize>>,
}

/// The state the machines share.
pub(crate) struct Shared {
    pub(crate) slots: Box<[Slot]>,
    pub(crate) injector: Injector,
    pub(crate) idle: Idle,
    pub(crate) owned: OwnedTasks,
    pub(crate) shutdown: AtomicBool,
    /// When spinning is off (see [`spin`](crate::spin)).
    pub(crate) spin_off: SpinOff,
    pub(crate) config: MachineConfig,
    pub(crate) spares: Mutex<Spares>,
    /// Machines that have left, and a condvar to wait for them.
    exited: Mutex<usize>,
    exited_cv: Condvar,
    threads: Mutex<Vec<thread::JoinHandle<()>>>,
    monitor: Mutex<Option<thread::JoinHandle<()>>>,
}

/// Spare machines at most: one per worker covers every worker being stuck
/// at once; more would only oversubscribe the cores.
const SPARES_PER_WORKER: usize = 1;

/// A handle to a parallel scheduler: cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("parallel::Handle")
            .field("workers", &self.shared.slots.len())
            .finish()
    }
}

impl Handle {
    /// Starts `config.workers` worker threads, and the monitor if enabled.
    pub fn start(config: &Config) -> io::Result<Handle> {
        let shared = Shared::new(
            config.workers.max(1),
            MachineConfig {
                thread_name: config.thread_name.clone(),
                stack_size: config.thread_stack_size,
                io_driver: config.io_driver.clone(),
                on_thread: config.on_thread.clone(),
                handoff_after: config.monitor.then_some(config.handoff_after),
                slow_poll: config.slow_poll_threshold,
            },
        );
        let handle = Handle { shared };
        for index in 0..handle.shared.slots.len() {
            let name = format!("{}-worker-{index}", config.thread_name);
            if let Err(e) = handle.shared.start_machine(name, Start::Worker(index)) {
                handle.shutdown(None);
                return Err(e);
            }
        }
        if config.monitor || config.slow_poll_threshold.is_some() {
            let shared = handle.shared.clone();
            let spawned = thread::Builder::new()
                .name(format!("{}-monitor", config.thread_name))
                .spawn(move || monitor::run(&Watch(shared)));
            match spawned {
                Ok(t) => *handle.shared.monitor.lock() = Some(t),
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

    /// Stops the monitor and the machines, waits for the machines up to
    /// `timeout` (one stuck in a poll cannot be interrupted), then cancels
    /// every task left.
    pub fn shutdown(&self, timeout: Option<Duration>) {
        let shared = &self.shared;
        shared.shutdown.store(true, SeqCst);
        if let Some(monitor) = shared.monitor.lock().take() {
            monitor.thread().unpark();
            let _ = monitor.join();
        }
        for slot in shared.slots.iter() {
            slot.unpark();
        }
        for seat in shared.spares.lock().idle.iter() {
            seat.parker.unpark();
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
                .slots
                .iter()
                .map(|s| WorkerMetrics {
                    polls: s.claim.sample().tick(),
                    local_queue_depth: s.steal.len() + usize::from(!s.lifo.is_empty()),
                    ..s.stats.read()
                })
                .collect(),
            injector_depth: shared.injector.len(),
            spawned_tasks: shared.owned.spawned(),
            live_tasks: shared.owned.len(),
            sleeping_workers: shared.idle.sleeping(),
            spare_threads: shared.spares.lock().started,
        }
    }

    /// A snapshot of every live task, and the snapshot's context (which
    /// tasks are blocked in a poll, whether polls are timed).
    pub(crate) fn all_tasks(&self) -> (Vec<TaskInfo>, Vec<TaskId>, bool) {
        let blocked: Vec<TaskId> = self
            .shared
            .slots
            .iter()
            .map(|s| s.blocked_task.load(Relaxed))
            .filter(|&id| id != 0)
            .map(TaskId)
            .collect();
        let timed = self.shared.config.slow_poll.is_some();
        let mut out = Vec::new();
        self.shared
            .owned
            .for_each(|h| out.push(TaskInfo::of(h, &blocked, timed)));
        (out, blocked, timed)
    }
}

impl Shared {
    /// The shared state of `n` slots, each holding a fresh processor.
    pub(crate) fn new(n: usize, config: MachineConfig) -> Arc<Shared> {
        let slots = (0..n)
            .map(|index| {
                let (local, steal) = queue::local();
                Slot {
                    steal,
                    lifo: LifoSlot::new(),
                    claim: Claim::new(),
                    polling_task: AtomicU64::new(0),
                    blocked_task: AtomicU64::new(0),
                    thread_id: std::sync::atomic::AtomicI64::new(0),
                    stats: WorkerStats::default(),
                    parker: Arc::new(Parker::new(config.io_driver.clone())),
                    core: UnsafeCell::new(Processor::new(index, local)),
                }
            })
            .collect();
        Arc::new(Shared {
            slots,
            injector: Injector::new(),
            idle: Idle::new(n),
            owned: OwnedTasks::new(n),
            shutdown: AtomicBool::new(false),
            spin_off: SpinOff::default(),
            config,
            spares: Mutex::new(Spares::default()),
            exited: Mutex::new(0),
            exited_cv: Condvar::new(),
            threads: Mutex::new(Vec::with_capacity(n)),
            monitor: Mutex::new(None),
        })
    }

    /// Starts a machine thread.
    pub(crate) fn start_machine(self: &Arc<Self>, name: String, start: Start) -> io::Result<()> {
        let shared = self.clone();
        let on_thread = self.config.on_thread.clone();
        let mut builder = thread::Builder::new().name(name);
        if let Some(size) = self.config.stack_size {
            builder = builder.stack_size(size);
        }
        let t = builder.spawn(move || {
            let mut body = Some(move || worker::run(shared, start));
            on_thread(&mut || {
                if let Some(body) = body.take() {
                    body();
                }
            });
        })?;
        self.threads.lock().push(t);
        Ok(())
    }

    /// The monitor hands slot `index`, seen stuck in the poll `seen`, to a
    /// spare machine: an idle one, or a new one while under the cap.
    /// Returns whether the slot changed hands.
    pub(crate) fn hand_off(self: &Arc<Self>, index: usize, seen: Sample) -> bool {
        let seat = {
            let mut spares = self.spares.lock();
            match spares.idle.pop() {
                Some(seat) => Some(seat),
                None if spares.started < SPARES_PER_WORKER * self.slots.len() => {
                    spares.started += 1;
                    None
                }
                None => return false,
            }
        };
        if !self.slots[index].claim.retake(seen) {
            match seat {
                Some(seat) => self.spares.lock().idle.push(seat),
                None => self.spares.lock().started -= 1,
            }
            return false;
        }
        match seat {
            Some(seat) => {
                *seat.assigned.lock() = Some(index);
                seat.parker.unpark();
            }
            None => {
                let n = self.spares.lock().started;
                let name = format!("{}-spare-{n}", self.config.thread_name);
                if let Err(e) = self.start_machine(name, Start::Handed(index)) {
                    // The slot stays HANDED: its old machine takes it back
                    // when its poll returns (see `worker::run_slot`).
                    tracing::warn!("spindle monitor: could not start a spare thread: {e}");
                    self.spares.lock().started -= 1;
                }
            }
        }
        true
    }

    /// Submits from outside a worker: the injector, then maybe a wake-up.
    fn push_remote(&self, task: Notified) {
        self.injector.push(task);
        self.notify_parked();
    }

    /// Wakes a sleeping worker as a searcher if nobody is searching.
    pub(crate) fn notify_parked(&self) {
        if let Some(index) = self.idle.worker_to_notify() {
            self.slots[index].unpark();
        }
    }

    /// Whether some processor has at least `tasks` tasks in its local
    /// queue.
    pub(crate) fn has_backlog(&self, tasks: usize) -> bool {
        self.slots.iter().any(|s| s.steal.len() >= tasks)
    }

    /// Whether any processor has queued work (the last searcher's re-check).
    pub(crate) fn has_queued_work(&self) -> bool {
        !self.injector.is_empty()
            || self
                .slots
                .iter()
                .any(|s| !s.steal.is_empty() || !s.lifo.is_empty())
    }

    /// Whether tasks wait behind slot `index`: in its queues, or in the
    /// injector while no other worker is free to take them (Go's retake
    /// condition).
    pub(crate) fn work_waiting_behind(&self, index: usize) -> bool {
        let slot = &self.slots[index];
        !slot.steal.is_empty()
            || !slot.lifo.is_empty()
            || (!self.injector.is_empty() && self.idle.all_busy())
    }

    /// Describes the task with `id` for a report, if it is still live.
    pub(crate) fn label(&self, id: TaskId) -> Option<TaskLabel> {
        let mut found = None;
        self.owned.for_each(|h| {
            if found.is_none() && h.id == id {
                found = Some(TaskLabel::of(h));
            }
        });
        found
    }

    /// Called by a machine thread leaving.
    pub(crate) fn machine_exited(&self) {
        *self.exited.lock() += 1;
        self.exited_cv.notify_all();
    }
}

/// The parallel scheduler as the monitor sees it.
struct Watch(Arc<Shared>);

impl monitor::Watched for Watch {
    fn is_shutdown(&self) -> bool {
        self.0.shutdown.load(Acquire)
    }
    fn processors(&self) -> usize {
        self.0.slots.len()
    }
    fn sample(&self, index: usize) -> Sample {
        self.0.slots[index].claim.sample()
    }
    fn polling_task(&self, index: usize) -> TaskId {
        TaskId(self.0.slots[index].polling_task.load(Relaxed))
    }
    fn label(&self, id: TaskId) -> Option<TaskLabel> {
        self.0.label(id)
    }
    fn hand_off(&self, index: usize, seen: Sample) -> bool {
        self.0.work_waiting_behind(index) && self.0.hand_off(index, seen)
    }
    fn handoff_after(&self) -> Option<Duration> {
        self.0.config.handoff_after
    }
    fn slow_poll(&self) -> Option<Duration> {
        self.0.config.slow_poll
    }
    fn set_blocked(&self, index: usize, task: u64) {
        self.0.slots[index].blocked_task.store(task, Relaxed);
    }
    fn sched_times(&self, index: usize) -> Option<(u64, u64)> {
        crate::os::sched_times(self.0.slots[index].thread_id.load(Relaxed))
    }

    fn sleep_while_idle(&self) -> bool {
        self.0.idle.monitor_sleep()
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

//! The single-thread scheduler (asyncio's model): every task runs on the
//! thread inside `block_on`, from one FIFO queue.
//!
//! The run queue lives in the *core*. A thread inside `block_on` takes the
//! core and keeps it in a thread-local while it drives, so a task spawned or
//! woken on that thread is a plain `VecDeque::push_back`, with no lock and
//! no atomic. Anything submitted from another thread (the reactor, the
//! blocking pool, a `Handle` elsewhere) goes to the *inbox*, a mutex-guarded
//! deque, and unparks the driving thread. The driver takes from the inbox
//! first every 61st tick, so remote wakes are served even while local tasks
//! keep the queue full.
//!
//! The driving thread polls IO when it parks (see [`park`](crate::park)) and,
//! while busy, once without blocking every `EVENT_INTERVAL` tasks. Before it
//! parks it spins for a few microseconds, taking unparks, the inbox and IO
//! as they come (`Driver::spin`), so a wake from another thread seldom has
//! to wake it.
//!
//! Only one thread drives at a time. A second thread calling `block_on`
//! while the core is taken just polls its own future, and is unparked to
//! try again when the core is put back. While no thread is inside
//! `block_on`, spawned tasks wait in the inbox (as with tokio's
//! current-thread runtime).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::thread;
use std::time::Duration;

use crate::block_on::{self, Drive, EVENT_INTERVAL};
use crate::claim::{Claim, Sample};
use crate::local::LocalQueue;
use crate::loom::Mutex;
use crate::loom::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use crate::metrics::{Metrics, WorkerStats};
use crate::monitor;
use crate::park::Parker;
use crate::spin::{Spin, SpinOff};
use crate::task::{
    self, JoinHandle, Notified, OwnedTasks, Schedule, TaskId, TaskInfo, TaskLabel, TaskMeta,
};
use crate::worker::INJECTOR_INTERVAL;

struct Remote {
    queue: VecDeque<Notified>,
    /// The parker of the thread that holds the core.
    driver: Option<Arc<Parker>>,
    /// Threads in `block_on` waiting for the core.
    waiters: Vec<Arc<Parker>>,
}

struct Core {
    queue: VecDeque<Notified>,
    /// A task yielded since the last look at the inbox: look first (see
    /// `worker`'s rule 1).
    yielded: bool,
    /// Polls started: the poll clock's tick.
    tick: u64,
}

pub(crate) struct Shared {
    remote: Mutex<Remote>,
    remote_len: AtomicUsize,
    /// The core while no thread drives.
    core: Mutex<Option<Box<RefCell<Core>>>>,
    owned: OwnedTasks,
    stats: WorkerStats,
    shutdown: AtomicBool,
    /// When the core's thread does not spin before it parks.
    spin_off: SpinOff,
    /// The poll clock the monitor reads (never handed off in this mode).
    clock: Claim,
    polling_task: AtomicU64,
    /// A task the monitor saw stuck in its poll (0: none).
    blocked_task: AtomicU64,
    slow_poll: Option<Duration>,
    monitor: Mutex<Option<thread::JoinHandle<()>>>,
    /// Driven by the `block_on` thread while it has nothing to run.
    io_driver: Option<Arc<dyn crate::IoDriver>>,
}

/// A handle to a single-thread scheduler.
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("single::Handle").finish_non_exhaustive()
    }
}

// The scheduler whose core this thread holds, and the core: raw pointers
// into the `Driver` that holds it, set while it does. Plain pointers keep
// each access one thread-local load: a thread-local that owns the core has
// a destructor, and every access to such a one checks its registration
// first (that cost a sixth of the scheduler's time per poll).
#[cfg(not(loom))]
thread_local! {
    static DRIVING: Cell<*const Shared> = const { Cell::new(ptr::null()) };
    static CORE: Cell<*const RefCell<Core>> = const { Cell::new(ptr::null()) };
}

// loom's `thread_local!` takes no `const {}`; each model thread gets its own.
#[cfg(loom)]
loom::thread_local! {
    static DRIVING: Cell<*const Shared> = Cell::new(ptr::null());
    static CORE: Cell<*const RefCell<Core>> = Cell::new(ptr::null());
}

/// Runs `f` with the core this thread holds, if it holds one.
#[inline]
fn with_core<R>(f: impl FnOnce(Option<&RefCell<Core>>) -> R) -> R {
    let core = CORE.with(Cell::get);
    // SAFETY: `CORE` is non-null only between `Driver::try_take_core`, which
    // points it at the box the driver then owns, and `Driver::drop`, which
    // clears it before giving the box back; the driver lives on this
    // thread's stack for the whole time, and `f` cannot drop it. The
    // `RefCell` catches any nested access.
    f(unsafe { core.as_ref() })
}

impl Handle {
    /// A scheduler with an empty queue; nothing runs until `block_on`.
    /// With a slow-poll threshold, a monitor thread reports polls that run
    /// past it.
    pub fn new(config: &crate::Config) -> std::io::Result<Handle> {
        let handle = Handle {
            shared: Arc::new(Shared {
                remote: Mutex::new(Remote {
                    queue: VecDeque::new(),
                    driver: None,
                    waiters: Vec::new(),
                }),
                remote_len: AtomicUsize::new(0),
                core: Mutex::new(Some(Box::new(RefCell::new(Core {
                    queue: VecDeque::new(),
                    yielded: false,
                    tick: 0,
                })))),
                owned: OwnedTasks::new(1),
                stats: WorkerStats::default(),
                shutdown: AtomicBool::new(false),
                spin_off: SpinOff::default(),
                clock: Claim::new(),
                polling_task: AtomicU64::new(0),
                blocked_task: AtomicU64::new(0),
                slow_poll: config.slow_poll_threshold,
                monitor: Mutex::new(None),
                io_driver: config.io_driver.clone(),
            }),
        };
        if config.slow_poll_threshold.is_some() {
            let shared = handle.shared.clone();
            let t = thread::Builder::new()
                .name(format!("{}-monitor", config.thread_name))
                .spawn(move || monitor::run(&Watch(shared)))?;
            *handle.shared.monitor.lock() = Some(t);
        }
        Ok(handle)
    }

    /// Spawns a task onto the queue.
    pub fn spawn<F>(&self, future: F, meta: TaskMeta) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (notified, join) = task::bind(&self.shared.owned, future, self.shared.clone(), meta);
        if let Some(notified) = notified {
            self.shared.schedule(notified, false);
        }
        join
    }

    /// Runs `future` on this thread, running the scheduler's tasks while it
    /// waits.
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let parker = Arc::new(Parker::new(self.shared.io_driver.clone()));
        let mut driver = Driver {
            shared: &self.shared,
            parker: parker.clone(),
            core: None,
        };
        block_on::block_on(future, parker, &mut driver)
    }

    /// Stops the monitor, cancels every task and drops every queued
    /// reference.
    pub fn shutdown(&self) {
        let shared = &self.shared;
        shared.shutdown.store(true, SeqCst);
        if let Some(monitor) = shared.monitor.lock().take() {
            monitor.thread().unpark();
            let _ = monitor.join();
        }
        shared.owned.close_and_drain(|task| task.shutdown());
        let core = shared.core.lock().take();
        drop(core);
        let remote = std::mem::take(&mut shared.remote.lock().queue);
        drop(remote);
    }

    /// Counters (one worker: the driving thread).
    pub fn metrics(&self) -> Metrics {
        let mut worker = self.shared.stats.read();
        worker.polls = self.shared.clock.sample().tick();
        worker.local_queue_depth = self
            .shared
            .core
            .lock()
            .as_ref()
            .map_or(0, |c| c.borrow().queue.len());
        Metrics {
            workers: vec![worker],
            injector_depth: self.shared.remote_len.load(Relaxed),
            spawned_tasks: self.shared.owned.spawned(),
            live_tasks: self.shared.owned.len(),
            sleeping_workers: 0,
            spare_threads: 0,
        }
    }

    /// A snapshot of every live task, and the snapshot's context (which
    /// tasks are blocked in a poll, whether polls are timed).
    pub(crate) fn all_tasks(&self) -> (Vec<TaskInfo>, Vec<TaskId>, bool) {
        let blocked: Vec<TaskId> = Some(self.shared.blocked_task.load(Relaxed))
            .filter(|&id| id != 0)
            .map(TaskId)
            .into_iter()
            .collect();
        let timed = self.shared.slow_poll.is_some();
        let mut out = Vec::new();
        self.shared
            .owned
            .for_each(|h| out.push(TaskInfo::of(h, &blocked, timed)));
        (out, blocked, timed)
    }
}

impl Shared {
    /// Submits from a thread that does not hold the core: the inbox, and
    /// an unpark of the driving thread. Out of line, so that the local
    /// push (every wake on the driving thread) stays a small function.
    #[inline(never)]
    fn push_remote(&self, task: Notified) {
        let mut remote = self.remote.lock();
        remote.queue.push_back(task);
        self.remote_len.fetch_add(1, SeqCst);
        if let Some(driver) = &remote.driver {
            driver.unpark();
        }
    }

    #[inline]
    fn pop_remote(&self) -> Option<Notified> {
        if self.remote_len.load(Acquire) == 0 {
            return None;
        }
        let task = self.remote.lock().queue.pop_front();
        if task.is_some() {
            self.remote_len.fetch_sub(1, SeqCst);
        }
        task
    }
}

impl Schedule for Arc<Shared> {
    fn schedule(&self, task: Notified, yielded: bool) {
        let here = DRIVING.with(|d| ptr::eq(d.get(), Arc::as_ptr(self)));
        let task = if here {
            with_core(|core| match core.map(RefCell::try_borrow_mut) {
                Some(Ok(mut core)) => {
                    core.yielded |= yielded;
                    core.queue.push_back(task);
                    None
                }
                _ => Some(task),
            })
        } else {
            Some(task)
        };
        if let Some(task) = task {
            self.push_remote(task);
        }
    }

    fn release(&self, task: &task::raw::Header) -> bool {
        self.owned.remove(task)
    }
}

/// The single-thread work between root polls: take the core if free, then
/// run queued tasks.
struct Driver<'a> {
    shared: &'a Arc<Shared>,
    parker: Arc<Parker>,
    /// The core, while this thread holds it (`CORE` points into the box).
    core: Option<Box<RefCell<Core>>>,
}

impl Driver<'_> {
    fn holds_core(&self) -> bool {
        self.core.is_some()
    }

    fn try_take_core(&mut self) {
        if self.holds_core() || self.shared.shutdown.load(Acquire) {
            return;
        }
        let Some(core) = self.shared.core.lock().take() else {
            let mut remote = self.shared.remote.lock();
            if !remote.waiters.iter().any(|p| Arc::ptr_eq(p, &self.parker)) {
                remote.waiters.push(self.parker.clone());
            }
            return;
        };
        CORE.with(|c| c.set(&*core));
        self.core = Some(core);
        DRIVING.with(|d| d.set(Arc::as_ptr(self.shared)));
        let mut remote = self.shared.remote.lock();
        remote.driver = Some(self.parker.clone());
        remote.waiters.retain(|p| !Arc::ptr_eq(p, &self.parker));
    }

    /// The next task and its poll tick. Without the core (another thread
    /// drives): pinned tasks only, off the poll clock.
    fn next_task(&self, pinned: &LocalQueue) -> Option<(Notified, u64)> {
        let Some(core) = &self.core else {
            return pinned.pop().map(|t| (t, 0));
        };
        let mut core = core.borrow_mut();
        let tick = core.tick + 1;
        let task = if std::mem::take(&mut core.yielded)
            || tick.is_multiple_of(u64::from(INJECTOR_INTERVAL))
        {
            self.shared.pop_remote().or_else(|| core.queue.pop_front())
        } else {
            core.queue.pop_front().or_else(|| self.shared.pop_remote())
        }
        .or_else(|| pinned.pop())?;
        core.tick = tick;
        Some((task, tick))
    }

    /// The core's thread found nothing to run: it keeps looking for up to
    /// [`spin`](crate::spin)'s limit before it parks, as a parallel
    /// searcher does, so a wake from another thread (a blocking-pool job
    /// done, a foreign spawn) costs the waker no futex or `epoll` wake-up.
    /// Each round takes an `unpark` that came meanwhile, checks the inbox
    /// and turns the IO poller without blocking. `true` if work turned up.
    fn spin(&self) -> bool {
        let Some(spin) = Spin::start(&self.shared.spin_off) else {
            return false;
        };
        spin.until(&self.shared.spin_off, &self.shared.shutdown, || {
            (self.parker.take_notified()
                || self.shared.remote_len.load(SeqCst) > 0
                || self.parker.poll_io_now())
            .then_some(())
        })
        .is_some()
    }
}

impl Drive for Driver<'_> {
    fn run_some(&mut self, pinned: &LocalQueue) -> usize {
        self.try_take_core();
        let mut ran = 0;
        while ran < EVENT_INTERVAL {
            let Some((task, tick)) = self.next_task(pinned) else {
                break;
            };
            let clock = &self.shared.clock;
            match (tick, self.shared.slow_poll) {
                (0, slow) => monitor::run_task(task, slow),
                // No monitor reads the clock: it only counts polls.
                (tick, None) => {
                    clock.begin_poll(tick);
                    monitor::run_task(task, None);
                }
                (tick, slow) => {
                    self.shared.polling_task.store(task.id().as_u64(), Relaxed);
                    clock.begin_poll(tick);
                    monitor::run_task(task, slow);
                    clock.end_poll_unshared(tick);
                }
            }
            ran += 1;
        }
        if ran == EVENT_INTERVAL && self.holds_core() {
            // Busy: look at IO without blocking (tokio's `park_yield`), so
            // events need not wait for the queue to drain or for the
            // reactor's backstop; the woken tasks join this queue.
            self.parker.poll_io();
        }
        ran
    }

    fn may_park(&mut self) -> bool {
        let idle = !self.holds_core() || self.shared.remote_len.load(SeqCst) == 0;
        if idle && self.holds_core() && self.spin() {
            return false;
        }
        if idle {
            self.shared.stats.add_park();
        }
        idle
    }
}

impl Drop for Driver<'_> {
    fn drop(&mut self) {
        let Some(core) = self.core.take() else {
            let mut remote = self.shared.remote.lock();
            remote.waiters.retain(|p| !Arc::ptr_eq(p, &self.parker));
            return;
        };
        DRIVING.with(|d| d.set(ptr::null()));
        CORE.with(|c| c.set(ptr::null()));
        *self.shared.core.lock() = Some(core);
        let mut remote = self.shared.remote.lock();
        remote.driver = None;
        for waiter in remote.waiters.drain(..) {
            waiter.unpark();
        }
    }
}

/// The single-thread scheduler as the monitor sees it: one processor,
/// watched for slow polls only.
struct Watch(Arc<Shared>);

impl monitor::Watched for Watch {
    fn is_shutdown(&self) -> bool {
        self.0.shutdown.load(Acquire)
    }
    fn processors(&self) -> usize {
        1
    }
    fn sample(&self, _index: usize) -> Sample {
        self.0.clock.sample()
    }
    fn polling_task(&self, _index: usize) -> TaskId {
        TaskId(self.0.polling_task.load(Relaxed))
    }
    fn label(&self, id: TaskId) -> Option<TaskLabel> {
        let mut found = None;
        self.0.owned.for_each(|h| {
            if found.is_none() && h.id == id {
                found = Some(TaskLabel::of(h));
            }
        });
        found
    }
    fn hand_off(&self, _index: usize, _seen: Sample) -> bool {
        false
    }
    fn handoff_after(&self) -> Option<Duration> {
        None
    }
    fn slow_poll(&self) -> Option<Duration> {
        self.0.slow_poll
    }
    fn set_blocked(&self, _index: usize, task: u64) {
        self.0.blocked_task.store(task, Relaxed);
    }
    fn sched_times(&self, _index: usize) -> Option<(u64, u64)> {
        None
    }
}

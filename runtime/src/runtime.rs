//! `Runtime` and `Handle`: one scheduler (either mode), one reactor, one
//! blocking pool, and the thread-local context that ties them together.
//!
//! Threads: `NAME-worker-N` (parallel mode), `NAME-reactor` (the mio poller
//! and timer wheel, both modes), `NAME-blocking-N` (on demand). Each enters
//! the runtime context when it starts, so `spindle::spawn` and the reactor's
//! types work in any task without a handle being passed around.
//!
//! Shutdown (drop or [`Runtime::shutdown_timeout`]): stop the workers and
//! wait for them (a worker finishes its current poll), cancel every task
//! left — its future is dropped, its `JoinHandle` resolves to cancelled —
//! then stop the reactor (IO on sockets that outlive the runtime errors) and
//! the blocking pool (queued work is cancelled, running work is waited for).

use std::fmt;
use std::future::Future;
use std::io;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use spindle_reactor::{Reactor, ReactorHandle};
use spindle_scheduler::task::UnownedTask;
use spindle_scheduler::{Config, Metrics, Scheduler};

use crate::blocking::{Pool, PoolConfig};
use crate::builder::{Builder, Mode};
use crate::context::{self, EnterGuard};
use crate::task::{JoinHandle, TaskInfo, TaskMeta};

pub(crate) struct Inner {
    mode: Mode,
    scheduler: OnceLock<Scheduler>,
    pub(crate) reactor: ReactorHandle,
    pub(crate) blocking: Arc<Pool<UnownedTask>>,
}

/// A handle to a runtime: `Clone + Send + Sync`, to spawn from any thread
/// and `block_on` from a thread outside the runtime.
///
/// ```
/// let rt = spindle::Builder::parallel().worker_threads(2).build().unwrap();
/// let handle = rt.handle().clone();
/// let answer = std::thread::spawn(move || {
///     let job = handle.spawn(async { 40 + 2 });
///     handle.block_on(job).unwrap()
/// })
/// .join()
/// .unwrap();
/// assert_eq!(answer, 42);
/// ```
#[derive(Clone)]
pub struct Handle {
    pub(crate) inner: Arc<Inner>,
}

/// An async runtime: a scheduler of the chosen [`Mode`], a reactor for IO
/// and timers, and a blocking pool.
///
/// ```
/// use spindle::{Builder, Mode};
///
/// for mode in [Mode::SingleThread, Mode::Parallel] {
///     let rt = Builder::new(mode).build().unwrap();
///     let sum = rt.block_on(async {
///         let tasks: Vec<_> = (0..10u64).map(|i| spindle::spawn(async move { i * i })).collect();
///         let mut sum = 0;
///         for t in tasks {
///             sum += t.await.unwrap();
///         }
///         sum
///     });
///     assert_eq!(sum, 285);
/// }
/// ```
pub struct Runtime {
    handle: Handle,
    reactor: Reactor,
}

impl Runtime {
    pub(crate) fn from_builder(builder: Builder) -> io::Result<Runtime> {
        spindle_reactor::coop::install(spindle_scheduler::coop::poll_proceed);
        let reactor = Reactor::start(&builder.thread_name)?;
        let inner = Arc::new_cyclic(|weak: &std::sync::Weak<Inner>| {
            let weak = weak.clone();
            let on_thread_start: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
                if let Some(inner) = weak.upgrade() {
                    context::enter_for_thread(&Handle { inner });
                }
            });
            Inner {
                mode: builder.mode,
                scheduler: OnceLock::new(),
                reactor: reactor.handle(),
                blocking: Arc::new(Pool::new(PoolConfig {
                    max_threads: builder.max_blocking_threads,
                    keep_alive: builder.blocking_keep_alive,
                    thread_name: builder.thread_name.clone(),
                    on_thread_start: Some(on_thread_start),
                })),
            }
        });
        let handle = Handle { inner };
        // The scheduler keeps this closure (spare threads start later), so it
        // holds the runtime weakly: a strong handle would be a cycle.
        let weak = Arc::downgrade(&handle.inner);
        let config = Config {
            workers: builder.worker_threads.unwrap_or_else(num_cpus::get),
            thread_name: builder.thread_name.clone(),
            thread_stack_size: builder.thread_stack_size,
            on_thread: Arc::new(move |body: &mut dyn FnMut()| match weak.upgrade() {
                Some(inner) => {
                    let _enter = context::enter(&Handle { inner });
                    body();
                }
                None => body(),
            }),
            monitor: builder.monitor,
            handoff_after: builder.handoff_after,
            slow_poll_threshold: builder.slow_poll_threshold,
            io_driver: Some(Arc::new(ReactorDriver(reactor.handle()))),
        };
        let scheduler = match builder.mode {
            Mode::SingleThread => Scheduler::single(&config),
            Mode::Parallel => Scheduler::parallel(&config),
        };
        let scheduler = match scheduler {
            Ok(s) => s,
            Err(e) => {
                reactor.shutdown();
                handle.inner.blocking.shutdown(Some(Duration::ZERO));
                return Err(e);
            }
        };
        let _ = handle.inner.scheduler.set(scheduler);
        Ok(Runtime { handle, reactor })
    }

    /// Runs `future` to completion on this thread. In single-thread mode
    /// this thread also runs every task while it waits; in parallel mode the
    /// workers do.
    ///
    /// # Panics
    /// On a thread that already runs spindle tasks (a worker, or inside
    /// another `block_on`): use `.await` there.
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }

    /// Spawns a task; see [`crate::spawn`].
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle.spawn(future)
    }

    /// A handle to this runtime.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }

    /// The runtime's counters: per-worker polls, steals, parks and queue
    /// depths, injector depth, spawned and live tasks.
    pub fn metrics(&self) -> Metrics {
        self.handle.metrics()
    }

    /// The mode the runtime runs in.
    pub fn mode(&self) -> Mode {
        self.handle.inner.mode
    }

    /// Shuts down, waiting at most `timeout` for workers to finish their
    /// current polls and for running blocking work; then cancels every task
    /// left. A thread still stuck after the timeout is left to finish on its
    /// own.
    pub fn shutdown_timeout(self, timeout: Duration) {
        self.shutdown(Some(timeout));
    }

    fn shutdown(&self, timeout: Option<Duration>) {
        let _enter = context::enter(&self.handle);
        self.handle.scheduler().shutdown(timeout);
        self.reactor.shutdown();
        self.handle.inner.blocking.shutdown(timeout);
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shutdown(None);
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("mode", &self.mode())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("mode", &self.inner.mode)
            .finish_non_exhaustive()
    }
}

impl Handle {
    /// The runtime of the current thread.
    ///
    /// # Panics
    /// Outside a runtime, with a message that names the fix.
    #[track_caller]
    pub fn current() -> Handle {
        context::current()
    }

    /// The runtime of the current thread, if any.
    pub fn try_current() -> Option<Handle> {
        context::try_current()
    }

    pub(crate) fn scheduler(&self) -> &Scheduler {
        self.inner
            .scheduler
            .get()
            .expect("runtime used before it was built")
    }

    /// Spawns a task on this runtime, from any thread.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.spawn_with(future, TaskMeta::here())
    }

    pub(crate) fn spawn_with<F>(&self, future: F, meta: TaskMeta) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.scheduler().spawn(future, meta)
    }

    /// Runs `future` to completion on this thread, which must not be a
    /// runtime thread (see [`Runtime::block_on`]).
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        let _enter = self.enter();
        self.scheduler().block_on(future)
    }

    /// Makes this runtime the current one on this thread until the guard
    /// drops (for creating sockets or timers outside a task).
    pub fn enter(&self) -> EnterGuard {
        context::enter(self)
    }

    /// The runtime's counters.
    pub fn metrics(&self) -> Metrics {
        self.scheduler().metrics()
    }

    /// A snapshot of the runtime's live tasks.
    pub fn all_tasks(&self) -> Vec<TaskInfo> {
        self.scheduler().all_tasks()
    }

    /// The mode the runtime runs in.
    pub fn mode(&self) -> Mode {
        self.inner.mode
    }
}

/// The reactor as the scheduler's idle threads drive it: where the two
/// halves meet besides `Waker` (neither crate imports the other).
struct ReactorDriver(ReactorHandle);

impl spindle_scheduler::IoDriver for ReactorDriver {
    fn try_drive(&self, may_block: &dyn Fn() -> bool) -> bool {
        self.0.try_drive(may_block)
    }

    fn interrupt(&self) {
        self.0.interrupt();
    }

    fn try_poll(&self) -> bool {
        self.0.try_poll()
    }

    fn poll_now(&self) -> bool {
        self.0.poll_now()
    }

    fn poll_for_work(&self) -> bool {
        self.0.poll_for_work()
    }
}

/// asyncio's `run`: builds a default parallel runtime, runs `future` to
/// completion, and shuts the runtime down.
///
/// ```
/// let out = spindle::run(async {
///     let t = spindle::spawn(async { "hello" });
///     t.await.unwrap()
/// });
/// assert_eq!(out, "hello");
/// ```
///
/// # Panics
/// If the runtime cannot be built (threads cannot be created), or on a
/// runtime thread.
#[track_caller]
pub fn run<F: Future>(future: F) -> F::Output {
    let rt = Builder::parallel()
        .build()
        .expect("spindle::run: could not start the runtime");
    rt.block_on(future)
}

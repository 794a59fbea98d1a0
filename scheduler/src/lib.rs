//! spindle's scheduler: tasks, run queues, workers and parking — no IO.
//!
//! This crate is the G/M/P half of spindle. It knows nothing of sockets or
//! timers: the reactor wakes a task through its `std::task::Waker`, and the
//! waker puts the task back on a run queue. Users depend on the `spindle`
//! crate, which re-exports what they need from here.
//!
//! | Go            | here                         | module                      |
//! |---------------|------------------------------|-----------------------------|
//! | G             | task                         | [`task`]                    |
//! | P             | [`worker::Processor`]        | `worker`, `queue`           |
//! | M             | worker thread                | `worker`                    |
//! | sched.runq    | injector                     | `queue`                     |
//! | spinning Ms   | searching workers            | `idle`, `spin`              |
//! | `notesleep`   | [`Parker`]                   | `park`                      |
//!
//! Two schedulers share the task type: [`parallel`] (N workers, work
//! stealing) and [`single`] (everything on the thread inside `block_on`).
//! [`Scheduler`] is the mode-agnostic handle the runtime holds.

#![warn(
    missing_docs,
    missing_debug_implementations,
    clippy::undocumented_unsafe_blocks
)]

mod block_on;
mod claim;
mod clock;
pub mod context;
pub mod coop;
mod idle;
mod local;
#[doc(hidden)]
pub mod loom;
mod metrics;
mod monitor;
mod os;
pub mod parallel;
mod park;
mod queue;
pub mod single;
mod spin;
pub mod task;
mod worker;

#[cfg(all(test, loom))]
mod loom_models;

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

pub use metrics::{Metrics, WorkerMetrics};
pub use park::{IoDriver, Parker};
use task::{JoinHandle, TaskInfo, TaskMeta};

/// Wraps the body of every thread the scheduler starts, so the runtime can
/// enter its context (reactor, handle) there: it must call the body once.
pub type OnThread = Arc<dyn Fn(&mut dyn FnMut()) + Send + Sync>;

/// How to build a scheduler.
#[derive(Clone)]
pub struct Config {
    /// Worker threads (parallel mode).
    pub workers: usize,
    /// Prefix of the worker threads' names.
    pub thread_name: String,
    /// Stack size of the worker (and spare) threads; `None`: std's default.
    pub thread_stack_size: Option<usize>,
    /// Wraps each worker thread's body.
    pub on_thread: OnThread,
    /// Runs the monitor thread (parallel mode), which hands the processor of
    /// a worker stuck in one poll to a spare thread.
    pub monitor: bool,
    /// How long one poll may run before the monitor hands its processor
    /// off (when work waits behind it).
    pub handoff_after: std::time::Duration,
    /// Reports polls longer than this with `tracing::warn!`.
    pub slow_poll_threshold: Option<std::time::Duration>,
    /// The IO poller an idle thread drives instead of sleeping (see
    /// [`park`](crate::Parker)); `None`: idle threads just sleep.
    pub io_driver: Option<Arc<dyn IoDriver>>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("workers", &self.workers)
            .field("thread_name", &self.thread_name)
            .finish()
    }
}

/// A scheduler of either mode.
#[derive(Clone, Debug)]
pub enum Scheduler {
    /// All tasks on the thread inside `block_on`.
    Single(single::Handle),
    /// Worker threads with work stealing.
    Parallel(parallel::Handle),
}

impl Scheduler {
    /// Starts a parallel scheduler's workers.
    pub fn parallel(config: &Config) -> io::Result<Scheduler> {
        parallel::Handle::start(config).map(Scheduler::Parallel)
    }

    /// A single-thread scheduler (and its monitor thread if slow polls are
    /// reported).
    pub fn single(config: &Config) -> io::Result<Scheduler> {
        single::Handle::new(config).map(Scheduler::Single)
    }

    /// Spawns a `Send` task.
    pub fn spawn<F>(&self, future: F, meta: TaskMeta) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self {
            Scheduler::Single(s) => s.spawn(future, meta),
            Scheduler::Parallel(p) => p.spawn(future, meta),
        }
    }

    /// Runs `future` to completion on this thread.
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        match self {
            Scheduler::Single(s) => s.block_on(future),
            Scheduler::Parallel(_) => {
                let parker = Arc::new(Parker::new(None));
                block_on::block_on(future, parker, &mut block_on::PinnedOnly)
            }
        }
    }

    /// Cancels every task; in parallel mode first stops the workers, waiting
    /// for them up to `timeout`.
    pub fn shutdown(&self, timeout: Option<Duration>) {
        match self {
            Scheduler::Single(s) => s.shutdown(),
            Scheduler::Parallel(p) => p.shutdown(timeout),
        }
    }

    /// Counters.
    pub fn metrics(&self) -> Metrics {
        match self {
            Scheduler::Single(s) => s.metrics(),
            Scheduler::Parallel(p) => p.metrics(),
        }
    }

    /// A snapshot of every live task, the calling thread's pinned tasks
    /// included.
    pub fn all_tasks(&self) -> Vec<TaskInfo> {
        let (mut out, blocked, timed) = match self {
            Scheduler::Single(s) => s.all_tasks(),
            Scheduler::Parallel(p) => p.all_tasks(),
        };
        context::pinned_tasks(&mut out, &blocked, timed);
        out
    }
}

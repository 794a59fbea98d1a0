//! `run_in_executor` and `ThreadPool`: blocking work off the async workers
//! (asyncio's `loop.run_in_executor(executor, f)`).
//!
//! Each closure becomes a task outside any scheduler (an
//! `UnownedTask`): a pool thread runs it once, a panic becomes the join
//! handle's `JoinError`, and a pool shut down before the closure started
//! cancels it (the join handle resolves to cancelled). The pool mechanics
//! (on-demand threads, keep-alive, the cap) are in [`crate::blocking`].

use std::fmt;
use std::sync::Arc;

use spindle_scheduler::task::UnownedTask;

use crate::blocking::{Job, Pool, PoolConfig};
use crate::context;
use crate::task::JoinHandle;

impl Job for UnownedTask {
    fn run(self) {
        UnownedTask::run(self);
    }

    fn cancel(self) {
        UnownedTask::cancel(self);
    }
}

fn submit<F, R>(pool: &Pool<UnownedTask>, f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let (task, join) = UnownedTask::new(f);
    pool.spawn(task);
    join
}

/// Runs the blocking closure `f` on the current runtime's blocking pool and
/// returns a handle to await its result.
///
/// The pool starts threads on demand up to `Builder::max_blocking_threads`
/// (default 512), reuses idle ones, retires them after
/// `Builder::blocking_keep_alive`, and queues work beyond the cap.
///
/// ```
/// spindle::run(async {
///     let len = spindle::run_in_executor(|| std::fs::read_dir(".").map(|d| d.count()).unwrap_or(0));
///     assert!(len.await.unwrap() > 0);
/// });
/// ```
///
/// # Panics
/// Outside a runtime.
#[track_caller]
pub fn run_in_executor<F, R>(f: F) -> JoinHandle<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    submit(&context::current().inner.blocking, f)
}

/// A dedicated pool of threads for blocking or CPU-bound closures, apart
/// from the runtime's blocking pool (asyncio's `run_in_executor(executor,
/// f)` with your own executor). Dropping it lets running closures finish
/// and cancels the queued ones.
///
/// ```
/// use spindle::ThreadPool;
///
/// let cpu = ThreadPool::new(2);
/// spindle::run(async move {
///     let jobs: Vec<_> = (0..8u64).map(|n| cpu.run_in_executor(move || (0..=n).sum::<u64>())).collect();
///     let mut total = 0;
///     for j in jobs {
///         total += j.await.unwrap();
///     }
///     assert_eq!(total, 84);
/// });
/// ```
pub struct ThreadPool {
    pool: Arc<Pool<UnownedTask>>,
}

impl ThreadPool {
    /// A pool of at most `threads` threads (0 is taken as 1), started on
    /// demand.
    pub fn new(threads: usize) -> ThreadPool {
        ThreadPool {
            pool: Arc::new(Pool::new(PoolConfig {
                max_threads: threads.max(1),
                thread_name: "spindle-pool".to_owned(),
                ..PoolConfig::default()
            })),
        }
    }

    /// Runs `f` on this pool; await the handle from any runtime.
    pub fn run_in_executor<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        submit(&self.pool, f)
    }

    /// Threads alive in the pool now.
    pub fn threads(&self) -> usize {
        self.pool.threads()
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.pool.shutdown(None);
    }
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool")
            .field("threads", &self.threads())
            .finish()
    }
}

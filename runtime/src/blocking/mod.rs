//! The blocking pool: the threads behind `run_in_executor` and `ThreadPool`.
//!
//! A [`Pool`] runs [`Job`]s — units of blocking work — on OS threads that it
//! starts when work arrives and retires when they have been idle for a while.
//! The runtime wraps each `run_in_executor` closure in a task and hands the
//! pool the task's handle as the `Job`; this module knows nothing about
//! tasks.
//!
//! ```
//! use spindle::blocking::{Job, Pool, PoolConfig};
//! use std::sync::mpsc;
//!
//! struct Print(mpsc::Sender<&'static str>);
//! impl Job for Print {
//!     fn run(self) { self.0.send("ran").unwrap(); }
//!     fn cancel(self) { self.0.send("cancelled").unwrap(); }
//! }
//!
//! let pool = Pool::new(PoolConfig { max_threads: 2, ..PoolConfig::default() });
//! let (tx, rx) = mpsc::channel();
//! pool.spawn(Print(tx.clone()));
//! assert_eq!(rx.recv().unwrap(), "ran");
//! pool.shutdown(None);
//! pool.spawn(Print(tx)); // refused after shutdown: cancelled at once
//! assert_eq!(rx.recv().unwrap(), "cancelled");
//! ```
//!
//! # The algorithm
//!
//! All pool state sits behind one mutex (`State` in `pool.rs`):
//!
//! - `queue`: jobs not yet started, FIFO;
//! - `num_threads`: live pool threads, counted from the moment
//!   `std::thread::Builder::spawn` succeeds until the thread's last critical
//!   section;
//! - `num_idle`: threads that wait for work and have not been claimed;
//! - `num_notify`: claims handed out and not yet taken;
//! - `num_starting`: threads started and not yet at the queue;
//! - `shutdown`, plus the threads' `JoinHandle`s.
//!
//! **Submitting** ([`Pool::spawn`]) pushes the job and then, in the same
//! critical section, does exactly one of:
//!
//! 1. an idle thread exists (`num_idle > 0`): if no claimed thread is on its
//!    way (`num_notify == 0`), *claim* one — `num_idle -= 1`,
//!    `num_notify += 1` — then, after leaving the critical section,
//!    `notify_one` on the idle condition variable; otherwise leave the job
//!    to the thread on its way, which *passes a claim on* (below);
//! 2. no idle thread and `num_threads < max_threads`: start a thread on demand
//!    (it drains the queue before it ever goes idle);
//! 3. otherwise leave the job queued: every live thread is busy and looks at
//!    the queue again, under the same lock, before it goes idle.
//!
//! **A pool thread** loops: drain the queue (running each job with the lock
//! released; on taking a job it *passes claims on*, see below), then become
//! idle (`num_idle += 1`) and wait on the condition variable until
//! `keep_alive` after it became idle. On every wake-up, under
//! the lock, it checks in this order:
//!
//! 1. `num_notify > 0`: take a claim (`num_notify -= 1`; whoever claimed already
//!    took this thread off `num_idle`) and go back to draining the queue;
//! 2. `shutdown` or the keep-alive timed out: `num_idle -= 1` and exit;
//! 3. otherwise (a spurious wake-up, or another idle thread took the claim it
//!    was woken for): wait again until the same deadline.
//!
//! The notification comes after the claim is published and outside the
//! lock. A claim belongs to whichever idle thread wakes first and sees it, not
//! to the thread the notification reaches: if a thread took the claim first
//! (its keep-alive ran out, or it was woken by an earlier notification), the
//! late notification is a spurious wake-up for another thread (step 3); if no
//! thread waits when it arrives, the claimed thread is already awake and
//! about to take the lock. Notifying under the lock cost more: parking_lot
//! moves the woken thread onto the mutex's queue and the unlock then has to
//! wake it, and the notification lengthens the critical section that the
//! pool threads, coming back after each job, wait for.
//!
//! **Passing claims on.** A thread that has just taken a job looks at the
//! jobs still queued beyond those that starting threads (`num_starting`)
//! and claimed ones (`num_notify`) will take. For them it claims idle
//! threads and notifies them after the lock, or with none idle starts a
//! thread if the pool may grow. How many depends on `draining`, set when a
//! thread comes back from a job to a non-empty queue and cleared when one
//! comes back to an empty one:
//!
//! - draining (the jobs are short next to a wake-up): one claim in flight
//!   at most, as for submitters. The threads already awake drain the queue;
//!   waking more would only add threads fighting over the lock;
//! - otherwise (the start of a burst, or jobs that outlast a wake-up): up
//!   to two per thread, so a burst reaches all its threads in a
//!   logarithmic number of hand-offs.
//!
//! Either way a thread that takes a job with uncovered jobs behind it and
//! no claim in flight claims one, so every queued job still gets a thread
//! of its own while the pool has idle threads or room to grow
//! (`blocking_job_behind_a_claim_on_its_way_gets_its_own_thread`, and
//! `a_burst_onto_idle_threads_gives_every_job_its_own_thread` with 64).
//!
//! **Why.** Waking a thread is the expensive part of a submission (a futex
//! wake, on a VM an inter-processor interrupt), and the submitter is usually
//! a runtime thread, whose other tasks wait meanwhile. Before, each
//! submission claimed and woke its own idle thread. Measured on the shared
//! 2-core VM:
//!
//! - the `blocking` bench (10 000 closures of ~0.1 µs, alternating with
//!   tokio in one run): `burst` went from 32 ms to 2.4-3.0 ms in both modes
//!   (tokio 31-41 ms), `concurrent8` from 35 ms to 15-20 ms (tokio 38-46
//!   ms). With one claim in flight always (no fan-out), `burst` was 2.3 ms
//!   and `concurrent8` 13-23 ms; without the single-thread scheduler's spin
//!   before parking, `concurrent8` single was 47-52 ms (its wake-ups came
//!   one per job from one or two threads instead of in bunches from eight);
//! - 400 jobs of 50 ms submitted at once onto 400 idle threads: the
//!   submitter is done in 60-300 µs instead of 3.3-3.5 ms, and the last job
//!   starts after 3.7-5.8 ms instead of 3.3-3.5 ms (with one claim in
//!   flight always: 9.7-13 ms); 64 such jobs: 0.4-0.55 ms either way.
//!
//! **Thread retirement** (step 2) decrements `num_threads`, moves the thread's
//! own `JoinHandle` into `last_exited` and joins the previous occupant of that
//! slot, so at most one exited thread is ever left unjoined.
//!
//! # The race between a submission and a retiring thread
//!
//! A job submitted at the moment the last idle thread's keep-alive runs out
//! must still run. Both decisions — the submitter's "is there an idle thread?"
//! and the thread's "was I claimed, or do I retire?" — are taken under the one
//! mutex, so one of them comes first:
//!
//! - the submitter first: it sees `num_idle > 0` and claims the thread; the
//!   thread, waking from its timed-out wait, sees `num_notify > 0` *before* it
//!   looks at the timeout, and runs the job instead of retiring;
//! - the thread first: it retires and decrements `num_idle` and `num_threads`;
//!   the submitter sees no idle thread and starts a new one.
//!
//! The loom models in `loom_tests.rs` check this, shutdown against
//! submission, a shutdown that times out, and failed thread creation, on this
//! very code through `spindle_scheduler::loom`. loom has no
//! clock, so under `cfg(loom)` a wait with a deadline releases the lock, lets
//! any other thread run, re-takes it and reports "timed out": the timeout is a
//! scheduling choice the model explores. A wait without a deadline
//! (`keep_alive` too large to represent) is a plain condition-variable wait.
//!
//! # Thread-creation failure
//!
//! If the OS refuses a thread, `spawn` logs a warning and leaves the job
//! queued. If some thread is alive it is busy (an idle one would have been
//! claimed) and runs the job when it comes back to the queue. If no thread is
//! alive, the job waits in the queue and the next `spawn` tries to create a
//! thread again (that thread drains the queue in order); `shutdown` cancels it
//! if no thread ever starts. Nothing is lost either way. Tests inject failures
//! with [`Pool::with_spawner`].
//!
//! # Rejected alternatives
//!
//! - *A lock-free queue with an atomic idle counter.* The retirement race then
//!   needs a Dekker-style handshake (the thread decrements `num_idle` and
//!   re-checks the queue, the submitter pushes and re-reads `num_idle`, both
//!   with `SeqCst` fences). Every submission that uses the pool already pays
//!   for waking or creating a thread (microseconds) and runs blocking work
//!   (usually far longer), so an uncontended mutex is not what costs; one
//!   critical section per decision is far easier to get right. tokio's
//!   blocking pool makes the same choice.
//! - *Waking an idle thread without claiming it* ("notify if the queue is
//!   non-empty"). Two submissions in a row would both count on the same idle
//!   thread, so the second would wait behind the first instead of getting a
//!   thread of its own. Claiming makes one idle thread serve one submission.
//! - *Creating the OS thread outside the lock* (reserve a slot, unlock, spawn,
//!   re-lock). It shortens the critical section by the cost of a `clone(2)`,
//!   but the `JoinHandle` would be registered after the thread may already
//!   have run and exited, and a failure must undo a reservation that other
//!   submitters have already acted on. Threads are created only while the pool
//!   grows, so the lock is held across creation.
//! - *Handing the job back to the caller when no thread can be created.* The
//!   contract is that `spawn` never fails and never blocks; keeping the job
//!   queued and retrying on the next submission keeps that contract.
//! - *Waking the most recently idle thread (LIFO)* instead of the condition
//!   variable's FIFO order, through one condition variable per idle thread
//!   kept on a stack. Its cache is warm and surplus threads would retire,
//!   but on the shared 2-core VM (`blocking` bench's workloads, single
//!   thread, 20 iterations, 3 alternating runs) burst went from 35-38 to
//!   30-33 ms while concurrent8 went from 39-41 to 47-54 ms: the woken
//!   thread lands on the submitter's CPU and preempts it more often (main
//!   thread preempted 61k instead of 46k times per 110k closures). The same
//!   per-thread condition variables in FIFO order measured like the shared
//!   one, so the order alone made the difference.
//! - *Boxed jobs (`Box<dyn Job>` in the queue).* The runtime's job is a task
//!   handle, one pointer; boxing it cost a second allocation per closure,
//!   made on the submitting thread and freed on the pool thread (once that
//!   thread's glibc tcache is full, each free takes the submitter's arena
//!   lock).
//!   Measured with callgrind on the `blocking` bench's workloads: 2 564 →
//!   2 284 instructions per closure (burst, single thread), 2 575 → 2 335
//!   (concurrent8). The pool is generic over its job type instead; tokio's
//!   blocking queue holds its task handles unboxed too.
//! - *Starting `max_threads` threads up front.* The default cap is 512; a pool
//!   that is mostly unused should not cost 512 stacks.

mod pool;

#[cfg(all(test, loom))]
mod loom_tests;
#[cfg(all(test, not(loom)))]
mod tests;

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use spindle_scheduler::loom::thread;

pub use pool::Pool;

/// The default cap on pool threads: DESIGN.md's default for
/// `Builder::max_blocking_threads`. Blocking work is mostly waiting (file IO,
/// DNS, FFI), so the cap is set by how many stacks a process can afford, not
/// by the number of cores.
pub const DEFAULT_MAX_THREADS: usize = 512;

/// The default time an idle pool thread waits for work before it exits.
/// tokio's default: long enough that a loop calling `run_in_executor` reuses
/// its threads instead of creating one per call, short enough that an idle
/// program gives its threads back. Reuse matters: measured on the shared
/// 2-core development VM (release build), submitting an empty job and
/// waiting for it takes ~2 µs (p50) on an idle thread and ~40 µs (p50,
/// p99 ~3 ms) when a thread has to be started for it.
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// The default thread name prefix: threads are named `spindle-blocking-{n}`.
pub const DEFAULT_THREAD_NAME: &str = "spindle";

/// A unit of blocking work.
///
/// The runtime implements it for a task handle: `run` polls the task whose
/// future calls the user's closure, `cancel` resolves its `JoinHandle` as
/// cancelled without running it. The pool calls exactly one of the two, once.
pub trait Job: Sized + Send + 'static {
    /// Runs the job on a pool thread. A panic that escapes is caught and
    /// logged; the thread goes on with the next job.
    fn run(self);
    /// Drops the job without running it: called when the pool is shut down
    /// while the job is still queued, or when it is submitted after shutdown.
    /// Runs on the thread that calls [`Pool::shutdown`] or [`Pool::spawn`].
    fn cancel(self);
}

/// How a pool creates its threads: given a `Builder` that already carries the
/// thread's name and the thread's body, start the thread.
///
/// The default is `|builder, body| builder.spawn(body)`. Tests substitute one
/// that fails to exercise the thread-creation-failure path. The function runs
/// with the pool's lock held: it must not call back into the pool, and it must
/// either run `body` on a new thread or drop it (running it inline deadlocks).
/// In a normal build the types are `std::thread`'s; under `cfg(loom)` they
/// are loom's.
pub type SpawnThread = Arc<
    dyn Fn(thread::Builder, Box<dyn FnOnce() + Send>) -> io::Result<thread::JoinHandle<()>>
        + Send
        + Sync,
>;

/// The configuration of a [`Pool`].
#[derive(Clone)]
pub struct PoolConfig {
    /// The most threads alive at once; work beyond it queues FIFO. Must be at
    /// least 1.
    pub max_threads: usize,
    /// How long an idle thread waits for work before it exits.
    pub keep_alive: Duration,
    /// Threads are named `{thread_name}-blocking-{n}`, `n` counting from 0.
    pub thread_name: String,
    /// Called first thing on every new pool thread (the runtime enters its
    /// context here). If it panics, the thread exits without running jobs.
    pub on_thread_start: Option<Arc<dyn Fn() + Send + Sync>>,
}

impl Default for PoolConfig {
    /// [`DEFAULT_MAX_THREADS`], [`DEFAULT_KEEP_ALIVE`],
    /// [`DEFAULT_THREAD_NAME`], no start hook.
    fn default() -> Self {
        PoolConfig {
            max_threads: DEFAULT_MAX_THREADS,
            keep_alive: DEFAULT_KEEP_ALIVE,
            thread_name: DEFAULT_THREAD_NAME.to_owned(),
            on_thread_start: None,
        }
    }
}

impl fmt::Debug for PoolConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolConfig")
            .field("max_threads", &self.max_threads)
            .field("keep_alive", &self.keep_alive)
            .field("thread_name", &self.thread_name)
            .field("on_thread_start", &self.on_thread_start.is_some())
            .finish()
    }
}

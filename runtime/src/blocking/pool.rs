//! [`Pool`]: the state behind one mutex, the submission path and the pool
//! thread's loop. The protocol is described in the parent module's doc.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::time::{Duration, Instant};

use spindle_scheduler::loom::{Arc, Condvar, Mutex, MutexGuard, thread};

use super::{Job, PoolConfig, SpawnThread};

/// A pool of threads that run [`Job`]s of type `J`: started on demand up to
/// `max_threads`, reused while idle, retired after `keep_alive` without work.
///
/// Jobs are queued as they are, not boxed: the runtime's job is a task
/// handle (one pointer), so a submission allocates nothing beyond the task.
/// A pool for jobs of several types takes an enum, or a box whose `Job`
/// impl forwards.
///
/// `Send + Sync`; share it behind an `Arc`. Dropping the pool shuts it down
/// without waiting (as `shutdown(Some(Duration::ZERO))`): queued jobs are
/// cancelled, running ones finish on their threads, which then exit.
pub struct Pool<J: Job> {
    inner: Arc<Inner<J>>,
}

/// What the pool threads share with the pool.
struct Inner<J> {
    state: Mutex<State<J>>,
    /// Idle threads wait here for a claim or for shutdown.
    idle: Condvar,
    /// [`Pool::shutdown`] waits here for the threads to exit.
    exited: Condvar,
    max_threads: usize,
    keep_alive: Duration,
    thread_name: String,
    on_thread_start: Option<std::sync::Arc<dyn Fn() + Send + Sync>>,
    spawn_thread: SpawnThread,
}

/// Everything that changes, under [`Inner::state`].
struct State<J> {
    /// Jobs not yet started, oldest first.
    queue: VecDeque<J>,
    /// Live threads: counted from a successful spawn until the thread's last
    /// critical section.
    num_threads: usize,
    /// Idle threads that no submitter has claimed yet.
    num_idle: usize,
    /// Claims handed to idle threads and not yet taken by one.
    num_notify: usize,
    /// Threads started and not yet at the queue: each takes a job there.
    num_starting: usize,
    /// The last thread to come back from a job found the queue non-empty:
    /// the jobs are short next to a wake-up, and claims are passed on one
    /// at a time (see [`Inner::pass_on`]).
    draining: bool,
    /// Set once by [`Pool::shutdown`]: no new jobs, no new threads.
    shutdown: bool,
    /// The `n` of the next thread's name, and its key in `threads`.
    next_thread_id: usize,
    /// The handles of live threads, by id.
    threads: HashMap<usize, thread::JoinHandle<()>>,
    /// The handle of the thread that exited last, joined by the next thread
    /// to exit or by [`Pool::shutdown`].
    last_exited: Option<thread::JoinHandle<()>>,
}

impl<J: Job> Pool<J> {
    /// Creates a pool that starts threads with `std::thread::Builder::spawn`.
    /// No thread starts until the first job arrives.
    ///
    /// # Panics
    ///
    /// If `config.max_threads` is 0.
    pub fn new(config: PoolConfig) -> Pool<J> {
        Pool::with_spawner(
            config,
            std::sync::Arc::new(|builder, body| builder.spawn(body)),
        )
    }

    /// Creates a pool that starts its threads with `spawn_thread` instead of
    /// `std::thread::Builder::spawn`; see [`SpawnThread`] for what it must do.
    /// Meant for tests that inject thread-creation failures.
    ///
    /// # Panics
    ///
    /// If `config.max_threads` is 0.
    pub fn with_spawner(config: PoolConfig, spawn_thread: SpawnThread) -> Pool<J> {
        assert!(
            config.max_threads > 0,
            "a blocking pool needs max_threads >= 1 to run anything"
        );
        Pool {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    queue: VecDeque::new(),
                    num_threads: 0,
                    num_idle: 0,
                    num_notify: 0,
                    num_starting: 0,
                    draining: false,
                    shutdown: false,
                    next_thread_id: 0,
                    threads: HashMap::new(),
                    last_exited: None,
                }),
                idle: Condvar::new(),
                exited: Condvar::new(),
                max_threads: config.max_threads,
                keep_alive: config.keep_alive,
                thread_name: config.thread_name,
                on_thread_start: config.on_thread_start,
                spawn_thread,
            }),
        }
    }

    /// Submits `job`. Never waits for other jobs: it wakes an idle thread,
    /// starts a new one, or queues the job behind the busy ones. Its cost is
    /// a short critical section, plus creating an OS thread when the pool
    /// grows. After [`shutdown`](Pool::shutdown) the job is cancelled at once,
    /// on this thread.
    pub fn spawn(&self, job: J) {
        let mut state = self.inner.state.lock();
        if state.shutdown {
            drop(state);
            cancel_job(job);
            return;
        }
        state.queue.push_back(job);
        if state.num_idle > 0 {
            // With a claimed thread already on its way, that thread passes
            // a claim on when it takes its job (`run_jobs`).
            if state.num_notify == 0 {
                state.num_idle -= 1;
                state.num_notify += 1;
                drop(state);
                self.inner.idle.notify_one();
            }
        } else if state.num_threads < self.inner.max_threads {
            Inner::start_thread(&self.inner, &mut state);
        }
    }

    /// Shuts the pool down: cancels every queued job (on this thread), refuses
    /// new ones, and waits for running jobs to finish — at most `timeout`, or
    /// without limit for `None`. Joins the threads that exited. Threads still
    /// running a job when the timeout passes are left to finish it and exit
    /// on their own. Calling it again waits again; the second call finds no
    /// queued jobs. Called from one of the pool's own threads, it does not
    /// wait for that thread.
    pub fn shutdown(&self, timeout: Option<Duration>) {
        // `None` (and a timeout too long to represent) means no deadline.
        let deadline = timeout.and_then(|timeout| Instant::now().checked_add(timeout));
        let queued = {
            let mut state = self.inner.state.lock();
            state.shutdown = true;
            self.inner.idle.notify_all();
            mem::take(&mut state.queue)
        };
        // Outside the lock: cancelling wakes tasks, which may call back in.
        for job in queued {
            cancel_job(job);
        }

        let mut state = self.inner.state.lock();
        let me = thread::current().id();
        let own = usize::from(state.threads.values().any(|h| h.thread().id() == me));
        while state.num_threads > own {
            let timed_out;
            (state, timed_out) = wait_until(&self.inner.exited, &self.inner.state, state, deadline);
            if timed_out {
                break;
            }
        }
        let last = state.last_exited.take();
        drop(state);
        if let Some(last) = last {
            // It has left its last critical section: only its own final join
            // and thread teardown remain, so this returns promptly.
            let _ = last.join();
        }
    }

    /// Live pool threads now, busy or idle.
    pub fn threads(&self) -> usize {
        self.inner.state.lock().num_threads
    }

    /// Pool threads waiting for work that no submission has claimed yet.
    pub fn idle_threads(&self) -> usize {
        self.inner.state.lock().num_idle
    }

    /// Jobs submitted and not yet started.
    pub fn queued(&self) -> usize {
        self.inner.state.lock().queue.len()
    }
}

impl<J: Job> Drop for Pool<J> {
    fn drop(&mut self) {
        self.shutdown(Some(Duration::ZERO));
    }
}

impl<J: Job> fmt::Debug for Pool<J> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.state.lock();
        f.debug_struct("Pool")
            .field("thread_name", &self.inner.thread_name)
            .field("max_threads", &self.inner.max_threads)
            .field("keep_alive", &self.inner.keep_alive)
            .field("threads", &state.num_threads)
            .field("idle_threads", &state.num_idle)
            .field("queued", &state.queue.len())
            .field("shutdown", &state.shutdown)
            .finish()
    }
}

impl<J: Job> Inner<J> {
    /// Starts one pool thread, under the lock. On failure the queued job
    /// stays queued (see "Thread-creation failure" in the module doc).
    fn start_thread(inner: &Arc<Inner<J>>, state: &mut State<J>) {
        let id = state.next_thread_id;
        let builder = thread::Builder::new().name(format!("{}-blocking-{id}", inner.thread_name));
        let body = {
            let inner = Arc::clone(inner);
            move || Inner::run_thread(&inner, id)
        };
        match (inner.spawn_thread)(builder, Box::new(body)) {
            Ok(handle) => {
                state.next_thread_id += 1;
                state.num_threads += 1;
                state.num_starting += 1;
                state.threads.insert(id, handle);
            }
            // Alive threads are busy (an idle one would have been claimed)
            // and come back to the queue; with none alive, the job waits for
            // the next submission to retry, or for shutdown to cancel it.
            Err(error) if state.num_threads > 0 => tracing::warn!(
                %error,
                live_threads = state.num_threads,
                queued = state.queue.len(),
                "blocking pool could not start a thread; the job waits for a busy one",
            ),
            Err(error) => tracing::error!(
                %error,
                queued = state.queue.len(),
                "blocking pool could not start any thread; queued jobs wait for the next submission to retry",
            ),
        }
    }

    /// The body of pool thread `id`.
    fn run_thread(inner: &Arc<Self>, id: usize) {
        let started = match &inner.on_thread_start {
            Some(hook) => panic::catch_unwind(AssertUnwindSafe(|| hook())).is_ok(),
            None => true,
        };
        let mut state = inner.state.lock();
        state.num_starting -= 1;
        if started {
            state = Inner::run_jobs(inner, state);
        } else {
            tracing::error!("on_thread_start panicked; the blocking pool thread exits");
        }
        state.num_threads -= 1;
        let me = state.threads.remove(&id);
        let previous = mem::replace(&mut state.last_exited, me);
        inner.exited.notify_all();
        drop(state);
        if let Some(previous) = previous {
            // It left its last critical section before we entered ours, so
            // this returns promptly.
            let _ = previous.join();
        }
    }

    /// A thread has just taken a job; more jobs may wait behind it than
    /// the threads still starting or claimed will take. Claims idle threads
    /// for them, or with none idle starts one if the pool may grow, and
    /// returns how many to notify once the lock is released. While the queue
    /// is `draining` (jobs are short), at most one claim is in flight: the
    /// claimed thread passes the next one on. Otherwise (jobs that outlast
    /// a wake-up, or the start of a burst) each thread passes on up to two,
    /// so a burst reaches all its threads in a logarithmic number of
    /// hand-offs. Either way every waiting job gets a thread of its own
    /// (see the module doc).
    fn pass_on(inner: &Arc<Self>, state: &mut State<J>) -> usize {
        let (fan, in_flight) = if state.draining {
            (1, 1)
        } else {
            (2, usize::MAX)
        };
        let mut notify = 0;
        while notify < fan
            && state.num_notify < in_flight
            && state.queue.len() > state.num_starting + state.num_notify
        {
            if state.num_idle == 0 {
                if state.num_threads < inner.max_threads {
                    Inner::start_thread(inner, state);
                }
                break;
            }
            state.num_idle -= 1;
            state.num_notify += 1;
            notify += 1;
        }
        notify
    }

    /// Runs jobs until shutdown or until the keep-alive runs out; returns with
    /// the lock held and this thread no longer counted as idle.
    fn run_jobs<'a>(
        inner: &'a Arc<Self>,
        mut state: MutexGuard<'a, State<J>>,
    ) -> MutexGuard<'a, State<J>> {
        loop {
            while let Some(job) = state.queue.pop_front() {
                let notify = Inner::pass_on(inner, &mut state);
                drop(state);
                for _ in 0..notify {
                    inner.idle.notify_one();
                }
                run_job(job);
                state = inner.state.lock();
                state.draining = !state.queue.is_empty();
            }
            if state.shutdown {
                return state;
            }
            state.num_idle += 1;
            let deadline = Instant::now().checked_add(inner.keep_alive);
            loop {
                let timed_out;
                (state, timed_out) = wait_until(&inner.idle, &inner.state, state, deadline);
                // A claim first: a submitter that saw this thread idle counts
                // on it, even if the keep-alive ran out meanwhile.
                if state.num_notify > 0 {
                    state.num_notify -= 1;
                    break;
                }
                if state.shutdown || timed_out {
                    state.num_idle -= 1;
                    return state;
                }
            }
        }
    }
}

/// Runs `job`, catching a panic so that the thread survives it.
fn run_job<J: Job>(job: J) {
    if panic::catch_unwind(AssertUnwindSafe(|| job.run())).is_err() {
        tracing::error!("a blocking job panicked; its pool thread goes on");
    }
}

/// Cancels `job`, catching a panic so that the other jobs are still cancelled.
fn cancel_job<J: Job>(job: J) {
    if panic::catch_unwind(AssertUnwindSafe(|| job.cancel())).is_err() {
        tracing::error!("cancelling a blocking job panicked");
    }
}

/// Waits on `condvar` (whose mutex is `mutex`, held as `guard`) until
/// notified or until `deadline` (`None`: no deadline). Returns the guard and
/// whether the deadline passed.
#[cfg(not(loom))]
fn wait_until<'a, T>(
    condvar: &Condvar,
    _mutex: &'a Mutex<T>,
    mut guard: MutexGuard<'a, T>,
    deadline: Option<Instant>,
) -> (MutexGuard<'a, T>, bool) {
    let timed_out = match deadline {
        Some(deadline) => condvar.wait_until(&mut guard, deadline).timed_out(),
        None => {
            condvar.wait(&mut guard);
            false
        }
    };
    (guard, timed_out)
}

/// Under loom, which has no clock: with a deadline, the deadline passes
/// "now" — release the lock (any other thread may run), re-take it, report
/// timed out. Without one, a plain wait.
#[cfg(loom)]
fn wait_until<'a, T>(
    condvar: &Condvar,
    mutex: &'a Mutex<T>,
    mut guard: MutexGuard<'a, T>,
    deadline: Option<Instant>,
) -> (MutexGuard<'a, T>, bool) {
    match deadline {
        Some(_) => {
            drop(guard);
            (mutex.lock(), true)
        }
        None => {
            condvar.wait(&mut guard);
            (guard, false)
        }
    }
}

//! `Mode` and `Builder`: the one switch between asyncio's model and Go's.

use std::io;
use std::time::Duration;

use crate::runtime::Runtime;

/// How a runtime executes tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Every task runs on the thread inside `block_on` (asyncio's model): no
    /// parallelism, no contended locks, lowest latency for IO-only programs.
    SingleThread,
    /// Worker threads (default: one per core), each with its own run queue,
    /// stealing from each other: for programs that mix CPU and IO.
    Parallel,
}

/// Blocking-pool threads at most, unless set: tokio's figure, large because
/// blocking threads mostly sleep in syscalls.
const DEFAULT_MAX_BLOCKING_THREADS: usize = 512;
/// asyncio's `slow_callback_duration`: a sensible value for
/// [`Builder::slow_poll_threshold`].
pub const DEFAULT_SLOW_POLL_THRESHOLD: Duration = Duration::from_millis(100);
/// Go's scheduler time slice: a poll longer than this, with work waiting
/// behind it, loses its worker's queue to a spare thread.
const DEFAULT_HANDOFF_AFTER: Duration = Duration::from_millis(10);
/// How long an idle blocking thread waits for work before it exits.
const DEFAULT_BLOCKING_KEEP_ALIVE: Duration = Duration::from_secs(10);

/// Configures and builds a [`Runtime`].
///
/// ```
/// use spindle::{Builder, Mode};
///
/// let rt = Builder::new(Mode::Parallel).worker_threads(2).thread_name("app").build().unwrap();
/// assert_eq!(rt.block_on(async { 6 * 7 }), 42);
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    pub(crate) mode: Mode,
    pub(crate) worker_threads: Option<usize>,
    pub(crate) max_blocking_threads: usize,
    pub(crate) blocking_keep_alive: Duration,
    pub(crate) thread_name: String,
    pub(crate) thread_stack_size: Option<usize>,

    pub(crate) monitor: bool,
    pub(crate) handoff_after: Duration,
    pub(crate) slow_poll_threshold: Option<Duration>,
}

impl Builder {
    /// A builder for `mode` with the defaults.
    pub fn new(mode: Mode) -> Builder {
        Builder {
            mode,
            worker_threads: None,
            max_blocking_threads: DEFAULT_MAX_BLOCKING_THREADS,
            blocking_keep_alive: DEFAULT_BLOCKING_KEEP_ALIVE,
            thread_name: "spindle".to_owned(),
            thread_stack_size: None,

            monitor: true,
            handoff_after: DEFAULT_HANDOFF_AFTER,
            slow_poll_threshold: None,
        }
    }

    /// `Builder::new(Mode::SingleThread)`.
    pub fn single_thread() -> Builder {
        Builder::new(Mode::SingleThread)
    }

    /// `Builder::new(Mode::Parallel)`.
    pub fn parallel() -> Builder {
        Builder::new(Mode::Parallel)
    }

    /// Worker threads in parallel mode (default: `num_cpus::get()`; 0 is
    /// taken as 1). Ignored in single-thread mode.
    pub fn worker_threads(mut self, n: usize) -> Builder {
        self.worker_threads = Some(n.max(1));
        self
    }

    /// The cap on blocking-pool threads (default 512; 0 is taken as 1).
    pub fn max_blocking_threads(mut self, n: usize) -> Builder {
        self.max_blocking_threads = n.max(1);
        self
    }

    /// How long an idle blocking-pool thread lives (default 10 s).
    pub fn blocking_keep_alive(mut self, keep_alive: Duration) -> Builder {
        self.blocking_keep_alive = keep_alive;
        self
    }

    /// The prefix of the runtime's thread names (default `spindle`):
    /// `NAME-worker-N`, `NAME-reactor`, `NAME-blocking-N`.
    pub fn thread_name(mut self, name: impl Into<String>) -> Builder {
        self.thread_name = name.into();
        self
    }

    /// asyncio's debug mode: slow-poll reports at asyncio's default of
    /// 100 ms ([`DEFAULT_SLOW_POLL_THRESHOLD`]); see
    /// [`slow_poll_threshold`](Self::slow_poll_threshold).
    ///
    /// ```
    /// let rt = spindle::Builder::single_thread().debug_slow_polls().build().unwrap();
    /// rt.block_on(async {});
    /// ```
    pub fn debug_slow_polls(self) -> Builder {
        self.slow_poll_threshold(DEFAULT_SLOW_POLL_THRESHOLD)
    }

    /// Stack size of the worker threads (default: std's, 2 MiB). Tasks do
    /// not run on stacks of their own, so this only matters for deep
    /// recursion inside a poll.
    pub fn thread_stack_size(mut self, bytes: usize) -> Builder {
        self.thread_stack_size = Some(bytes);
        self
    }

    /// Runs the monitor (parallel mode, on by default): when a worker has
    /// been inside one poll longer than [`handoff_after`](Self::handoff_after)
    /// and tasks wait behind it, its run queue is handed to a spare thread,
    /// as Go's sysmon does. `false` leaves them waiting, as tokio does.
    pub fn monitor(mut self, on: bool) -> Builder {
        self.monitor = on;
        self
    }

    /// How long one poll may run before the monitor hands its worker's
    /// queue to a spare thread (default 10 ms, Go's time slice).
    pub fn handoff_after(mut self, after: Duration) -> Builder {
        self.handoff_after = after;
        self
    }

    /// Debug aid (asyncio's debug mode), both modes: a task poll that takes
    /// longer than `threshold` is reported with `tracing::warn!` naming the
    /// task (id, name, spawn location) — once while it is still running and
    /// again with its duration when it returns. Each poll is then timed,
    /// which costs a clock read per poll; off by default.
    /// [`DEFAULT_SLOW_POLL_THRESHOLD`] is asyncio's 100 ms.
    pub fn slow_poll_threshold(mut self, threshold: Duration) -> Builder {
        self.slow_poll_threshold = Some(threshold);
        self
    }

    /// The mode this builder builds.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Starts the runtime's threads.
    ///
    /// # Errors
    /// The `io::Error` of a thread or poller that could not be created; the
    /// threads already started are stopped.
    pub fn build(self) -> io::Result<Runtime> {
        Runtime::from_builder(self)
    }
}

//! Tasks (Go's G): one heap allocation per spawned future.
//!
//! # Layout
//!
//! A task is a [`raw::Cell`]: a header (atomic state word with the reference
//! count, a vtable, the id, name and spawn location, the owned-list links),
//! the scheduler it submits itself to, the future — later its output — and
//! the join waker. Everything that handles tasks without knowing the
//! future's type (queues, wakers, join handles, the owned list) holds a
//! `NonNull<Header>` and goes through the vtable.
//!
//! # Handles and references
//!
//! | handle        | reference | what it may do                                   |
//! |---------------|-----------|--------------------------------------------------|
//! | [`Notified`]  | one       | sits in a run queue; `run()` polls the task once  |
//! | `Waker`       | one       | `wake` submits a `Notified` if the task is idle   |
//! | [`JoinHandle`]| one       | reads the output once; `abort` cancels            |
//! | owned list    | one       | shutdown cancels the task in place                |
//! | [`Task`]      | one       | a task taken off the owned list at shutdown       |
//!
//! The cell is freed when the count drops to zero, by whoever drops the last
//! reference, on whatever thread.
//!
//! # Lifecycle
//!
//! ```text
//!            wake (idle → NOTIFIED, +1 ref, submit)
//!   spawn ──► queued ──run──► RUNNING ──Pending──► idle ──wake──► queued …
//!                 │              │  └─woken during poll → re-queued at the back
//!                 │              └──Ready / panic──► COMPLETE (output stored or dropped,
//!                 │                                  join waker woken, list ref released)
//!                 └── abort / shutdown ──► future dropped, COMPLETE with JoinError::Cancelled
//! ```
//!
//! The state transitions, and why each bit is needed, are in
//! [`state`]; the races among wake, completion, abort and join-handle drop
//! are explored by the loom model in `tests/loom_task.rs`.
//!
//! Rejected: `Arc<Task>` with a `Mutex<Option<Future>>` per task (a lock per
//! poll and a second allocation for the waker); wakers through
//! `std::task::Wake` (would need `Arc`, i.e. a second refcount beside the
//! state word).

mod error;
mod join;
pub(crate) mod list;
pub(crate) mod raw;
mod state;
mod waker;

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::Location;
use std::ptr::NonNull;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

pub use error::JoinError;
pub use join::{AbortHandle, JoinHandle};
pub(crate) use list::OwnedTasks;
use raw::{Header, Meta};

/// Where a task is submitted when it is woken, and how it leaves its owned
/// list. Implemented by the schedulers of this crate.
pub(crate) trait Schedule: Send + Sync + 'static {
    /// Puts a woken task on a run queue; `yielded` asks for the back of the
    /// queue (the task just ran).
    fn schedule(&self, task: Notified, yielded: bool);
    /// Unlinks a completed task from the owned list; `true` if it was linked
    /// (its reference is then released by the caller).
    fn release(&self, task: &Header) -> bool;
}

/// A task's id: unique among all tasks of the process, never reused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub(crate) u64);

impl TaskId {
    /// The id as a number.
    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// A fresh id. Ids are handed out from per-thread blocks so spawning
    /// does not contend on one shared counter.
    pub(crate) fn next() -> TaskId {
        use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
        /// Ids one thread takes at a time: one shared `fetch_add` per 256
        /// spawns instead of one per spawn.
        const ID_BLOCK: u64 = 256;
        static NEXT_BLOCK: AtomicU64 = AtomicU64::new(1);
        thread_local!(static RANGE: Cell<(u64, u64)> = const { Cell::new((0, 0)) });
        RANGE.with(|range| {
            let (mut next, mut end) = range.get();
            if next == end {
                next = NEXT_BLOCK.fetch_add(ID_BLOCK, Relaxed);
                end = next + ID_BLOCK;
            }
            range.set((next + 1, end));
            TaskId(next)
        })
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskId({})", self.0)
    }
}

/// How a task is described: its optional name and where it was spawned.
#[derive(Clone, Debug)]
pub struct TaskMeta {
    /// The name given with `task::Builder::name`.
    pub name: Option<String>,
    /// The caller of `spawn`.
    pub location: &'static Location<'static>,
}

impl TaskMeta {
    /// An unnamed task spawned at the caller's location.
    #[track_caller]
    pub fn here() -> TaskMeta {
        TaskMeta {
            name: None,
            location: Location::caller(),
        }
    }

    fn into_meta(self) -> Meta {
        Meta {
            name: self.name.map(std::sync::Arc::from),
            location: self.location,
            spawned_ms: crate::clock::now_ms(),
        }
    }
}

/// A task in a run queue: owns one reference and the right to run it once.
pub struct Notified {
    raw: NonNull<Header>,
}

// SAFETY: a `Notified` is a pointer to a task whose shared parts are atomic.
// Local (`!Send`) tasks travel only to their owner thread's inbox, which is
// the only place they are run; see `local`.
unsafe impl Send for Notified {}

impl Notified {
    /// # Safety
    /// The caller gives a counted reference to the new handle, and the task
    /// has `NOTIFIED` set.
    pub(crate) unsafe fn from_raw(raw: NonNull<Header>) -> Notified {
        Notified { raw }
    }

    /// Polls the task once (or cancels it, or skips it if it finished).
    pub fn run(self) {
        let this = ManuallyDrop::new(self);
        // SAFETY: the handle's reference is handed to `run`, which releases it.
        unsafe { (this.raw.as_ref().vtable.run)(this.raw) }
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        // SAFETY: the handle holds a reference.
        unsafe { self.raw.as_ref() }.id
    }

    /// Records one timed poll of this task (slow-poll debugging), taking a
    /// reference so the record outlives the poll, which may free the task.
    pub(crate) fn poll_recorder(&self) -> PollRecorder {
        // SAFETY: the handle holds a reference.
        unsafe { self.raw.as_ref() }.state.ref_inc();
        PollRecorder { raw: self.raw }
    }

    /// The task's id, name and spawn location, for reports about it.
    pub(crate) fn label(&self) -> TaskLabel {
        // SAFETY: the handle holds a reference.
        TaskLabel::of(unsafe { self.raw.as_ref() })
    }

    /// Gives up the handle as a raw pointer (for the LIFO slot).
    pub(crate) fn into_raw(self) -> NonNull<Header> {
        ManuallyDrop::new(self).raw
    }
}

impl Drop for Notified {
    fn drop(&mut self) {
        // SAFETY: the handle's reference.
        unsafe { raw::drop_reference(self.raw) };
    }
}

impl fmt::Debug for Notified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Notified").field(&self.id()).finish()
    }
}

/// A reference kept across one timed poll to record its duration.
pub(crate) struct PollRecorder {
    raw: NonNull<Header>,
}

impl PollRecorder {
    pub(crate) fn record(self, took: std::time::Duration) {
        // SAFETY: the recorder holds a reference.
        let stats = &unsafe { self.raw.as_ref() }.stats;
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        stats.busy_ns.fetch_add(ns, Relaxed);
        stats.longest_ns.fetch_max(ns, Relaxed);
    }
}

impl Drop for PollRecorder {
    fn drop(&mut self) {
        // SAFETY: the recorder's reference.
        unsafe { raw::drop_reference(self.raw) };
    }
}

/// A task taken off its owned list at shutdown (owns the list's reference).
pub(crate) struct Task {
    raw: NonNull<Header>,
}

impl Task {
    /// # Safety
    /// The caller gives a counted reference.
    pub(crate) unsafe fn from_raw(raw: NonNull<Header>) -> Task {
        Task { raw }
    }

    /// Cancels the task: if nobody runs it, its future is dropped here and
    /// now; if it runs, it is cancelled when the poll returns.
    pub(crate) fn shutdown(self) {
        let this = ManuallyDrop::new(self);
        // SAFETY: the reference keeps the task alive.
        let header = unsafe { this.raw.as_ref() };
        if header.state.transition_to_shutdown() {
            // SAFETY: we claimed RUNNING; our reference is released by it.
            unsafe { (header.vtable.cancel_in_place)(this.raw) }
        } else {
            // SAFETY: our reference.
            unsafe { raw::drop_reference(this.raw) }
        }
    }
}

/// Allocates a task and links it into `owned`. Returns the first
/// `Notified` to submit (`None` if the list is closed: the task was
/// cancelled at once) and the join handle.
pub(crate) fn bind<F, S>(
    owned: &OwnedTasks,
    future: F,
    scheduler: S,
    meta: TaskMeta,
) -> (Option<Notified>, JoinHandle<F::Output>)
where
    F: Future + 'static,
    S: Schedule,
{
    let id = TaskId::next();
    let raw = raw::Cell::allocate(future, scheduler, id, meta.into_meta());
    // SAFETY: the three initial references go to the notified handle, the
    // join handle and (below) the list.
    let (notified, join) = unsafe { (Notified::from_raw(raw), JoinHandle::from_raw(raw)) };
    if owned.bind(raw) {
        (Some(notified), join)
    } else {
        // SAFETY: the list refused its reference; shut the task down with it.
        unsafe { Task::from_raw(raw) }.shutdown();
        drop(notified);
        (None, join)
    }
}

/// A task outside any owned list, for the blocking pool: it runs once on a
/// pool thread, or is cancelled without running when the pool shuts down.
pub struct UnownedTask {
    notified: Notified,
}

impl fmt::Debug for UnownedTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("UnownedTask")
            .field(&self.notified.id())
            .finish()
    }
}

struct Unowned;

impl Schedule for Unowned {
    fn schedule(&self, task: Notified, _yielded: bool) {
        // An unowned task's future completes on its first poll, and abort of
        // a queued or running task does not submit: nothing reaches here but
        // a waker the closure kept and woke after completion, which the
        // state turns into a no-op. Run it anyway rather than lose it.
        task.run();
    }

    fn release(&self, _task: &Header) -> bool {
        false
    }
}

impl UnownedTask {
    /// A task that calls `f` once when run, and its join handle.
    #[track_caller]
    pub fn new<F, R>(f: F) -> (UnownedTask, JoinHandle<R>)
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let id = TaskId::next();
        let mut f = Some(f);
        let future = std::future::poll_fn(move |_| {
            let f = f.take().expect("blocking closure polled twice");
            std::task::Poll::Ready(f())
        });
        // No owned list holds it, so `all_tasks` never reports its age: the
        // spawn time stays unread and the clock is not read for it.
        let meta = Meta {
            name: None,
            location: Location::caller(),
            spawned_ms: 0,
        };
        let raw = raw::Cell::allocate(future, Unowned, id, meta);
        // Three references were counted for notified, join and list; there
        // is no list, so release that one now.
        // SAFETY: the new cell holds three references; this drops one of them.
        unsafe { raw.as_ref() }.state.ref_dec();
        // SAFETY: the other two go to the handles.
        unsafe {
            (
                UnownedTask {
                    notified: Notified::from_raw(raw),
                },
                JoinHandle::from_raw(raw),
            )
        }
    }

    /// Runs the closure (a panic becomes the join handle's `JoinError`).
    pub fn run(self) {
        self.notified.run();
    }

    /// Drops the closure unrun; the join handle resolves as cancelled.
    pub fn cancel(self) {
        let raw = self.notified.into_raw();
        // SAFETY: the `Notified`'s reference becomes the `Task`'s.
        unsafe { Task::from_raw(raw) }.shutdown();
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.notified.id()
    }
}

/// The id of the task being polled on this thread, if any.
pub fn current_id() -> Option<TaskId> {
    current::get()
}

pub(crate) mod current {
    //! Which task this thread is polling: its cell, whose id
    //! `task::current_id()` reads, and by which a wake of that very task
    //! during its poll (a `yield_now`, a budget-forced yield, a resource
    //! ready at once) is recognised and made a thread-local flag instead of
    //! a compare-and-swap on the state word.
    //!
    //! The flag is sound because the thread that set it is the one holding
    //! `RUNNING`: when the poll returns `Pending`, `raw::run` reads the flag
    //! and folds it into the same CAS that ends the poll
    //! (`State::transition_to_idle`), which is where a `NOTIFIED` bit set by
    //! the wake would have been read. A wake from any other thread, or of
    //! any other task, still goes through the state word.
    use super::TaskId;
    use super::raw::Header;
    use std::cell::Cell;
    use std::ptr::{self, NonNull};

    struct Polling {
        /// The cell being polled (null: none); its id is `task_id()`.
        task: Cell<*const Header>,
        woken: Cell<bool>,
    }

    #[cfg(not(loom))]
    thread_local!(static POLLING: Polling = const {
        Polling {
            task: Cell::new(ptr::null()),
            woken: Cell::new(false),
        }
    });

    // loom's `thread_local!` takes no `const {}`; each model thread gets its own.
    #[cfg(loom)]
    loom::thread_local!(static POLLING: Polling = Polling {
        task: Cell::new(ptr::null()),
        woken: Cell::new(false),
    });

    /// The poll in progress on this thread; restores the outer one (a task
    /// polled inside another executor inside a task) when dropped.
    pub(crate) struct Guard {
        task: *const Header,
        woken: bool,
    }

    /// Marks this thread as polling `task`.
    #[inline]
    pub(crate) fn enter(task: NonNull<Header>) -> Guard {
        POLLING.with(|p| Guard {
            task: p.task.replace(task.as_ptr()),
            woken: p.woken.replace(false),
        })
    }

    impl Guard {
        /// Ends the poll; whether the task woke itself during it.
        #[inline]
        pub(crate) fn exit(self) -> bool {
            POLLING.with(|p| p.woken.get())
        }
    }

    /// A wake of `task`: if this thread is polling it, records the wake for
    /// the poll's end and returns `true`; otherwise `false` (the caller
    /// must go through the state word).
    #[inline]
    pub(crate) fn wake_self(task: NonNull<Header>) -> bool {
        POLLING.with(|p| {
            let me = ptr::eq(p.task.get(), task.as_ptr());
            if me {
                p.woken.set(true);
            }
            me
        })
    }

    pub(crate) fn get() -> Option<TaskId> {
        let task = POLLING.with(|p| p.task.get());
        // SAFETY: a non-null `task` is the cell `raw::run` is polling on
        // this thread, between `enter` and the guard's drop; `run` holds a
        // reference to it for that whole time.
        unsafe { task.as_ref() }.map(|header| header.id)
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            POLLING.with(|p| {
                p.task.set(self.task);
                p.woken.set(self.woken);
            });
        }
    }
}

/// How reports (slow-poll warnings) name a task: id, name, spawn location.
#[derive(Clone, Debug)]
pub(crate) struct TaskLabel {
    pub(crate) id: TaskId,
    name: Option<std::sync::Arc<str>>,
    location: &'static Location<'static>,
}

impl TaskLabel {
    pub(crate) fn of(header: &Header) -> TaskLabel {
        TaskLabel {
            id: header.id,
            name: header.meta.name.clone(),
            location: header.meta.location,
        }
    }
}

impl fmt::Display for TaskLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(
                f,
                "task {} {:?} spawned at {}",
                self.id, name, self.location
            ),
            None => write!(f, "task {} spawned at {}", self.id, self.location),
        }
    }
}

/// What a task is doing at the moment of a snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskState {
    /// Waiting for a wake.
    Idle,
    /// In a run queue.
    Scheduled,
    /// Being polled.
    Running,
    /// Inside one poll for longer than the monitor's threshold
    /// (`handoff_after`, or the slow-poll threshold): blocking its thread.
    BlockedInPoll,
    /// Finished; its output waits for the join handle.
    Complete,
}

/// A snapshot of one live task, from `all_tasks()`.
#[derive(Clone)]
pub struct TaskInfo {
    /// The task's id.
    pub id: TaskId,
    /// The name given at spawn, if any.
    pub name: Option<String>,
    /// Where it was spawned.
    pub location: &'static Location<'static>,
    /// What it was doing when the snapshot was taken.
    pub state: TaskState,
    /// Polls so far.
    pub polls: u64,
    /// Time spent in polls, when polls are timed (slow-poll debugging on).
    pub busy: Option<Duration>,
    /// The longest single poll, when polls are timed.
    pub longest_poll: Option<Duration>,
    /// Time since the task was spawned (millisecond resolution).
    pub age: Duration,
}

impl fmt::Debug for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskInfo")
            .field("id", &self.id.0)
            .field("name", &self.name.as_deref().unwrap_or("<unnamed>"))
            .field("location", &format_args!("{}", self.location))
            .field("state", &self.state)
            .field("polls", &self.polls)
            .field("busy", &self.busy)
            .field("longest_poll", &self.longest_poll)
            .field("age", &self.age)
            .finish()
    }
}

impl TaskInfo {
    /// A snapshot of `header`; `blocked` lists the tasks the monitor sees
    /// stuck in a poll, and `timed` says whether poll times are recorded.
    pub(crate) fn of(header: &Header, blocked: &[TaskId], timed: bool) -> TaskInfo {
        let s = header.state.load();
        let state = if s.is_complete() {
            TaskState::Complete
        } else if s.is_running() && blocked.contains(&header.id) {
            TaskState::BlockedInPoll
        } else if s.is_running() {
            TaskState::Running
        } else if s.is_notified() {
            TaskState::Scheduled
        } else {
            TaskState::Idle
        };
        let stats = &header.stats;
        let timed_ns =
            |a: &std::sync::atomic::AtomicU64| timed.then(|| Duration::from_nanos(a.load(Relaxed)));
        TaskInfo {
            id: header.id,
            name: header.meta.name.as_deref().map(str::to_owned),
            location: header.meta.location,
            state,
            polls: stats.polls.load(Relaxed),
            busy: timed_ns(&stats.busy_ns),
            longest_poll: timed_ns(&stats.longest_ns),
            age: crate::clock::since(header.meta.spawned_ms),
        }
    }
}

//! Tasks: spawning, naming, cancelling, introspection.
//!
//! A task is one spawned future, scheduled on its own (Go's goroutine,
//! asyncio's `Task`). [`spawn`] needs a `Send` future and may run it on any
//! worker; [`spawn_local`] takes a `!Send` one and pins it to the current
//! thread. Both return a [`JoinHandle`]: await it for the output, `abort()`
//! it to cancel, drop it to detach.
//!
//! ```
//! spindle::run(async {
//!     let handle = spindle::task::Builder::new().name("fetch").spawn(async {
//!         spindle::task::current_id().unwrap()
//!     });
//!     let id = handle.id();
//!     assert_eq!(handle.await.unwrap(), id);
//! });
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

pub use spindle_scheduler::task::{
    AbortHandle, JoinError, JoinHandle, TaskId, TaskInfo, TaskMeta, TaskState,
};

use crate::context;

/// The type of task ids, as `task::Id` for tokio users.
pub type Id = TaskId;

/// Spawns a task on the current runtime.
///
/// In parallel mode the task may run on any worker, in parallel with the
/// caller; in single-thread mode it runs on the `block_on` thread when the
/// caller yields.
///
/// ```
/// spindle::run(async {
///     let handle = spindle::spawn(async { 1 + 1 });
///     assert_eq!(handle.await.unwrap(), 2);
/// });
/// ```
///
/// # Panics
/// Outside a runtime, with a message that names the fix
/// (`Runtime::block_on` / `spindle::run` / `Handle::spawn`).
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    context::current().spawn_with(future, TaskMeta::here())
}

/// Spawns a `!Send` future pinned to the current thread: it is never moved
/// to another worker. On a worker it lives as long as the worker; inside
/// `block_on` it is cancelled when that `block_on` returns.
///
/// ```
/// use std::rc::Rc;
/// spindle::run(async {
///     let shared = Rc::new(5);
///     let s = shared.clone();
///     let handle = spindle::spawn_local(async move { *s * 2 });
///     assert_eq!(handle.await.unwrap(), 10);
/// });
/// ```
///
/// # Panics
/// On a thread that does not run spindle tasks.
#[track_caller]
pub fn spawn_local<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    spindle_scheduler::context::spawn_local(future, TaskMeta::here())
}

/// Yields to the scheduler: the task goes to the back of its run queue and
/// the others get a turn.
///
/// ```
/// spindle::run(async { spindle::yield_now().await });
/// ```
pub async fn yield_now() {
    YieldNow { yielded: false }.await
}

struct YieldNow {
    yielded: bool,
}

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// The id of the task being polled on this thread (`None` outside a task).
pub fn current_id() -> Option<TaskId> {
    spindle_scheduler::task::current_id()
}

/// A snapshot of every live task of the current runtime: id, name, spawn
/// location and state.
///
/// # Panics
/// Outside a runtime.
#[track_caller]
pub fn all_tasks() -> Vec<TaskInfo> {
    context::current().all_tasks()
}

/// Configures a task before spawning it (its name, for debugging and
/// introspection).
#[derive(Debug, Default, Clone)]
pub struct Builder {
    name: Option<String>,
}

impl Builder {
    /// A builder for an unnamed task.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the task (shown by `all_tasks()` and slow-poll warnings).
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    #[track_caller]
    fn meta(self) -> TaskMeta {
        TaskMeta {
            name: self.name,
            ..TaskMeta::here()
        }
    }

    /// Spawns the task on the current runtime; see [`spawn`].
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        context::current().spawn_with(future, self.meta())
    }

    /// Spawns the task on `handle`'s runtime, from any thread.
    #[track_caller]
    pub fn spawn_on<F>(self, future: F, handle: &crate::Handle) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        handle.spawn_with(future, self.meta())
    }

    /// Spawns a pinned `!Send` task; see [`spawn_local`].
    #[track_caller]
    pub fn spawn_local<F>(self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        spindle_scheduler::context::spawn_local(future, self.meta())
    }
}

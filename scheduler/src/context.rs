//! What kind of runtime thread this is, kept in a thread-local: a worker, a
//! thread inside `block_on`, or neither. It answers two questions:
//! where `spawn_local` puts a task (the thread's pinned queue), and whether
//! `block_on` may block this thread (not on a worker or inside another
//! `block_on`: that thread must keep running tasks).

use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;

use crate::local::LocalQueue;
use crate::task::{JoinHandle, TaskId, TaskInfo, TaskMeta};

// Not `const`-initialised: loom's `thread_local!` does not take `const {}`.
crate::loom::thread_local!(#[allow(clippy::missing_const_for_thread_local)] static PINNED: RefCell<Option<Arc<LocalQueue>>> = RefCell::new(None));

/// The message of the `block_on`-inside-a-runtime panic.
pub const BLOCK_ON_IN_RUNTIME: &str = "cannot call `block_on` from a thread that runs spindle tasks (a worker, \
     or inside another `block_on`): it would block the thread that must run them. Inside async code use \
     `.await` on the future, or `spindle::spawn` it and await its JoinHandle";

/// The message of the `spawn_local`-outside-a-runtime-thread panic.
pub const SPAWN_LOCAL_OUTSIDE: &str = "`spawn_local` must be called on a thread that runs spindle tasks: \
     inside `Runtime::block_on` / `spindle::run`, or inside a task";

/// Marks this thread as a runtime thread with `pinned` as its pinned queue
/// until the guard drops; the guard cancels the pinned tasks left.
pub(crate) struct Enter {
    pinned: Arc<LocalQueue>,
}

/// Enters a worker thread.
pub(crate) fn enter_worker(pinned: Arc<LocalQueue>) -> Enter {
    enter(pinned).expect("a worker thread entered twice")
}

/// Enters `block_on`; panics with [`BLOCK_ON_IN_RUNTIME`] on a runtime
/// thread.
#[track_caller]
pub(crate) fn enter_block_on(pinned: Arc<LocalQueue>) -> Enter {
    match enter(pinned) {
        Some(enter) => enter,
        None => panic!("{BLOCK_ON_IN_RUNTIME}"),
    }
}

fn enter(pinned: Arc<LocalQueue>) -> Option<Enter> {
    PINNED.with(|p| {
        let mut p = p.borrow_mut();
        if p.is_some() {
            return None;
        }
        *p = Some(pinned.clone());
        Some(Enter { pinned })
    })
}

impl Drop for Enter {
    fn drop(&mut self) {
        self.pinned.shutdown();
        PINNED.with(|p| p.borrow_mut().take());
    }
}

/// Whether this thread runs tasks (a worker, or inside `block_on`).
pub fn is_runtime_thread() -> bool {
    PINNED.with(|p| p.borrow().is_some())
}

/// Spawns a `!Send` future pinned to this thread.
///
/// # Panics
/// With [`SPAWN_LOCAL_OUTSIDE`] when this thread does not run tasks.
#[track_caller]
pub fn spawn_local<F>(future: F, meta: TaskMeta) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let pinned = PINNED.with(|p| p.borrow().clone());
    match pinned {
        Some(pinned) => pinned.spawn(future, meta),
        None => panic!("{SPAWN_LOCAL_OUTSIDE}"),
    }
}

/// The pinned tasks of this thread (for `all_tasks`).
pub(crate) fn pinned_tasks(out: &mut Vec<TaskInfo>, blocked: &[TaskId], timed: bool) {
    PINNED.with(|p| {
        if let Some(p) = p.borrow().as_ref() {
            p.all_tasks(out, blocked, timed);
        }
    });
}

//! The current runtime of a thread: set on every runtime thread (workers,
//! blocking-pool threads) and on a thread inside `block_on`, so that the
//! free functions (`spawn`, `run_in_executor`, `task::all_tasks`) and the
//! reactor's types find their runtime without a handle being passed around.

use std::cell::RefCell;

use crate::runtime::Handle;

thread_local!(static CURRENT: RefCell<Option<Handle>> = const { RefCell::new(None) });

/// Restores the previous current runtime on drop.
#[derive(Debug)]
pub struct EnterGuard {
    prev: Option<Handle>,
    _reactor: spindle_reactor::EnterGuard,
}

pub(crate) fn enter(handle: &Handle) -> EnterGuard {
    let reactor = handle.inner.reactor.enter();
    let prev = CURRENT.with(|c| c.borrow_mut().replace(handle.clone()));
    EnterGuard {
        prev,
        _reactor: reactor,
    }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        CURRENT.with(|c| *c.borrow_mut() = prev);
    }
}

pub(crate) fn try_current() -> Option<Handle> {
    CURRENT.with(|c| c.borrow().clone())
}

/// The message of the spawn-outside-a-runtime panic.
pub(crate) const NO_RUNTIME: &str = "there is no spindle runtime on this thread: call this inside \
     `Runtime::block_on` or `spindle::run` (or a task they run), or use a `Handle` to the runtime \
     (`Runtime::handle()`, then `handle.spawn(..)`)";

#[track_caller]
pub(crate) fn current() -> Handle {
    match try_current() {
        Some(handle) => handle,
        None => panic!("{NO_RUNTIME}"),
    }
}

/// Makes `handle` current on this thread for the rest of the thread's life
/// (blocking-pool threads, which have no scope to hold a guard in).
pub(crate) fn enter_for_thread(handle: &Handle) {
    std::mem::forget(handle.inner.reactor.enter());
    CURRENT.with(|c| *c.borrow_mut() = Some(handle.clone()));
}

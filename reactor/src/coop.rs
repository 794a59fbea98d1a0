//! The cooperative budget hook.
//!
//! A task whose IO keeps being ready (a socket that always has bytes) would
//! never return `Pending` and so never give its worker back. The scheduler
//! owns the budget that prevents this (it knows which task runs and when its
//! budget resets); the reactor only asks before each IO operation whether the
//! current task may proceed. The two crates never import each other, so the
//! runtime connects them at startup: it [`install`]s the scheduler's budget
//! function here once, and every IO operation in [`crate::net`] calls
//! [`poll_proceed`] first.
//!
//! The hook is process-global (a `OnceLock<fn>`): a plain function pointer,
//! read with one atomic load, costs nothing on the IO path and needs no
//! runtime lookup. A per-runtime hook stored in the reactor was rejected: the
//! budget belongs to the *task's* thread, not to the reactor, and every
//! runtime in a process uses the same scheduler code anyway.
//!
//! Timers do not consume budget: a `Sleep` that is already elapsed completes
//! at most once, so it cannot keep a task busy.
//!
//! ```
//! use std::task::{Context, Poll};
//! fn always(_: &mut Context<'_>) -> Poll<()> { Poll::Ready(()) }
//! spindle_reactor::coop::install(always);
//! ```

use std::sync::OnceLock;
use std::task::{Context, Poll};

/// The budget function the runtime installed, if any.
static HOOK: OnceLock<fn(&mut Context<'_>) -> Poll<()>> = OnceLock::new();

/// Installs the scheduler's budget function for the whole process.
///
/// The first call wins; later calls are ignored (every runtime in a process
/// runs the same scheduler, so they would install the same function). The
/// hook returns `Poll::Pending` when the current task has used up its budget,
/// and in that case it must already have arranged for the task to be woken
/// (typically `cx.waker().wake_by_ref()`).
pub fn install(hook: fn(&mut Context<'_>) -> Poll<()>) {
    // Ignoring the error is the documented "first call wins" rule.
    let _ = HOOK.set(hook);
}

/// Asks the installed hook whether the current task may do one more IO
/// operation. `Poll::Pending` means "yield now": the caller returns
/// `Pending` straight away and the hook has arranged the wake. Without a hook
/// this is always `Ready`.
#[inline]
pub fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    match HOOK.get() {
        Some(hook) => hook(cx),
        None => Poll::Ready(()),
    }
}

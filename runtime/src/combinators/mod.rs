//! asyncio's task combinators: [`gather`], [`wait`], [`as_completed`],
//! [`TaskGroup`] (and `wait_for`, which is `time::timeout`).
//!
//! Unlike `futures::join_all`, which polls its futures inside one task,
//! these spawn each future as a task of its own, so CPU-heavy futures run
//! in parallel in parallel mode, and each has its own `JoinHandle`, so a
//! panic in one is a `JoinError`, not a panic of the caller.
//!
//! Structured cancellation: `gather`, `gather!` and `TaskGroup` abort the
//! tasks they started when they fail or are dropped ([`AbortGroup`]).
//! `wait` and `as_completed` never abort anything (as in asyncio): the
//! caller keeps the handles.

mod gather;
mod group;
mod join_all;
mod wait;

pub use gather::{gather, gather_settled};
pub use group::TaskGroup;
pub use wait::{AsCompleted, Done, ReturnWhen, as_completed, wait};

use crate::task::{AbortHandle, JoinHandle};

/// Aborts the tasks it tracks when dropped, unless disarmed: the guard
/// behind gather's "first failure aborts the rest" and "dropping the gather
/// aborts its tasks".
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct AbortGroup {
    handles: Vec<AbortHandle>,
}

impl AbortGroup {
    /// An empty group.
    pub fn new() -> AbortGroup {
        AbortGroup::default()
    }

    /// Tracks `handle`'s task and gives the handle back.
    pub fn track<T>(&mut self, handle: JoinHandle<T>) -> JoinHandle<T> {
        self.handles.push(handle.abort_handle());
        handle
    }

    /// Stops tracking: nothing is aborted on drop.
    pub fn disarm(&mut self) {
        self.handles.clear();
    }
}

impl Drop for AbortGroup {
    fn drop(&mut self) {
        for h in &self.handles {
            h.abort();
        }
    }
}

/// Runs futures of different types as tasks and waits for all of them:
/// `gather!(a, b, c).await` is `Result<(A, B, C), JoinError>`. The first
/// task to fail (panic or cancellation) aborts the others and its error is
/// returned; dropping the future aborts every task it started.
///
/// ```
/// spindle::run(async {
///     let (n, s) = spindle::gather!(async { 40 + 2 }, async { "done" }).await.unwrap();
///     assert_eq!((n, s), (42, "done"));
/// });
/// ```
#[macro_export]
macro_rules! gather {
    ($($fut:expr),+ $(,)?) => {
        async {
            let mut group = $crate::combinators::AbortGroup::new();
            let res = $crate::__private::try_join!($( group.track($crate::spawn($fut)) ),+);
            if res.is_ok() {
                group.disarm();
            }
            res
        }
    };
}

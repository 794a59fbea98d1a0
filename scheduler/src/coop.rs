//! The cooperative budget: a task that keeps finding its resources ready is
//! made to yield after [`BUDGET`] operations, so one hot task cannot starve
//! the others on its queue.
//!
//! The scheduler sets the budget before each poll ([`budget`]); resources
//! (sockets, queues, locks) call [`poll_proceed`] before each operation. When
//! the budget is spent, `poll_proceed` wakes the task and returns `Pending`:
//! the task goes to the back of its run queue (a wake during a poll is a
//! yield, see `task::raw::run`). Outside a task poll there is no budget and
//! every operation proceeds.

use std::cell::Cell;
use std::task::{Context, Poll};

/// Operations per poll before a forced yield: tokio's figure, which keeps a
/// task's slice in the tens of microseconds for typical socket reads.
pub const BUDGET: u16 = 128;

/// The count outside a task poll: one that no thread can spend (at a
/// billion operations a second it lasts 584 years), so that outside a poll
/// every operation proceeds without a separate "no budget" test.
const UNCONSTRAINED: u64 = u64::MAX;

// One count for both cases keeps the check a load, a test and a decrement:
// a "no budget" sentinel tested on every operation cost two more
// instructions per queue operation inside a poll.
thread_local!(static REMAINING: Cell<u64> = const { Cell::new(UNCONSTRAINED) });

/// Runs `f` (one task poll) with a fresh budget.
#[inline]
pub fn budget<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(u64);
    impl Drop for Restore {
        fn drop(&mut self) {
            REMAINING.with(|r| r.set(self.0));
        }
    }
    let _restore = Restore(REMAINING.with(|r| r.replace(u64::from(BUDGET))));
    f()
}

/// Spends one unit of budget, or, if none is left, wakes the task and
/// returns `Pending` so it yields.
#[inline]
pub fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    REMAINING.with(|r| match r.get() {
        0 => {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
        n => {
            r.set(n - 1);
            Poll::Ready(())
        }
    })
}

/// Whether the current poll has budget left (always `true` outside a poll).
pub fn has_budget_remaining() -> bool {
    REMAINING.with(|r| r.get() != 0)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::task::Waker;

    #[test]
    fn budget_runs_out_after_budget_operations_and_resets_per_poll() {
        let mut cx = Context::from_waker(Waker::noop());
        assert!(poll_proceed(&mut cx).is_ready(), "no budget outside a poll");
        budget(|| {
            for _ in 0..BUDGET {
                assert!(poll_proceed(&mut cx).is_ready());
            }
            assert!(poll_proceed(&mut cx).is_pending());
            assert!(!has_budget_remaining());
        });
        budget(|| assert!(poll_proceed(&mut cx).is_ready()));
        assert!(has_budget_remaining());
    }
}

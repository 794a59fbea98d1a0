//! The cooperative budget: a task that keeps finding its resources ready is
//! made to yield after [`BUDGET`] operations, so one hot task cannot starve
//! the others on its queue.
//!
//! The scheduler sets the budget before each poll ([`budget`]); resources
//! call [`poll_proceed`] (sockets: an IO operation) or
//! [`poll_proceed_in_memory`] (queues, locks, semaphores) before each
//! operation. When the budget is spent, they wake the task and return
//! `Pending`: the task goes to the back of its run queue (a wake during a
//! poll is a yield, see `task::raw::run`). Outside a task poll there is no
//! budget and every operation proceeds.
//!
//! # Why operations are weighed
//!
//! The budget stands for time: it bounds how long a task keeps its thread.
//! tokio counts every operation as one, and 128 of them fit that purpose
//! for socket operations, each a system call of a microsecond or more. An
//! operation on an in-memory primitive takes 10–30 ns, so 128 of them made
//! a task yield every few microseconds: in single-thread mode each yield
//! cost more than the operations it interrupted, and in parallel mode the
//! tasks of a producer/consumer pipeline stayed runnable on every worker at
//! once and bounced the queue's cache lines between the cores. On
//! `queue/spindle_queue_4p4c` (4 producers, 4 consumers, 100 000 items),
//! run 300 times in a row on 2 workers, the median run took 2.2–2.3 ms with
//! every operation costing one, 1.6 ms with no budget at all, and 1.7 ms
//! with an in-memory operation costing a sixteenth of a socket operation
//! (tokio's multi_thread, for which spindle's `Queue` has no budget:
//! 1.6–1.7 ms).
//!
//! The weight is [`IN_MEMORY_PER_IO`] = 64: a task yields after 128 socket
//! operations or 8 192 queue operations, or any mix of the two. A socket
//! operation is a system call of 0.5–3 µs; a `Queue` operation costs ~8 ns
//! (4p4c single: 1.5 ms for 100 000 puts and gets), so 64 still
//! undercharges it, and 8 192 of them keep the slice near 60 µs, under the
//! socket budget's ~128 µs. At a sixteenth, the 4p4c tasks were forced to
//! yield every ~17 µs, and each yield reshuffled which producers and
//! consumers ran side by side on the two workers. Measured against tokio in
//! one process (alternating blocks of 20 runs, median ratio of 30 blocks):
//! 0.92–1.02 at a sixteenth, 1.06–1.11 at 1/64, 1.03–1.09 at 1/256,
//! 1.03–1.10 with no budget; single-thread mode did not move.

use std::cell::Cell;
use std::task::{Context, Poll};

/// Socket operations per poll before a forced yield: tokio's figure, which
/// keeps a task's slice in the tens of microseconds for typical socket
/// reads.
pub const BUDGET: u16 = 128;

/// How many in-memory operations (a `Queue` put or get, a lock or permit
/// taken) cost as much budget as one socket operation.
pub const IN_MEMORY_PER_IO: u64 = 64;

/// The budget of one poll, in in-memory operations.
const UNITS: u64 = BUDGET as u64 * IN_MEMORY_PER_IO;

/// The count outside a task poll: one that no thread can spend (at a
/// billion operations a second it lasts 584 years), so that outside a poll
/// every operation proceeds without a separate "no budget" test.
const UNCONSTRAINED: u64 = u64::MAX;

// One count for both cases keeps the check a load, a subtraction and a
// store: a "no budget" sentinel tested on every operation cost two more
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
    let _restore = Restore(REMAINING.with(|r| r.replace(UNITS)));
    f()
}

/// Spends the budget of one socket operation, or, if not enough is left,
/// wakes the task and returns `Pending` so it yields.
#[inline]
pub fn poll_proceed(cx: &mut Context<'_>) -> Poll<()> {
    spend(cx, IN_MEMORY_PER_IO)
}

/// Spends the budget of one operation on an in-memory primitive (1/64 of
/// a socket operation's), or, if none is left, wakes the task
/// and returns `Pending` so it yields.
#[inline]
pub fn poll_proceed_in_memory(cx: &mut Context<'_>) -> Poll<()> {
    spend(cx, 1)
}

#[inline]
fn spend(cx: &mut Context<'_>, units: u64) -> Poll<()> {
    REMAINING.with(|r| match r.get().checked_sub(units) {
        Some(left) => {
            r.set(left);
            Poll::Ready(())
        }
        None => {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
}

/// Whether the current poll has budget left for a socket operation
/// (always `true` outside a poll).
pub fn has_budget_remaining() -> bool {
    REMAINING.with(|r| r.get() >= IN_MEMORY_PER_IO)
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

    #[test]
    fn in_memory_operations_cost_a_fraction_of_a_socket_operation() {
        let mut cx = Context::from_waker(Waker::noop());
        budget(|| {
            for _ in 0..u64::from(BUDGET) * IN_MEMORY_PER_IO {
                assert!(poll_proceed_in_memory(&mut cx).is_ready());
            }
            assert!(poll_proceed_in_memory(&mut cx).is_pending());
        });
        budget(|| {
            for _ in 0..IN_MEMORY_PER_IO {
                assert!(poll_proceed_in_memory(&mut cx).is_ready());
            }
            // One socket operation's worth is gone.
            for _ in 1..BUDGET {
                assert!(poll_proceed(&mut cx).is_ready());
            }
            assert!(poll_proceed(&mut cx).is_pending());
        });
    }
}

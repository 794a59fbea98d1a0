//! The task state word: six flag bits and a reference count in one
//! `AtomicUsize`, so that every transition is a single compare-and-swap.
//!
//! ```text
//!  usize:  [ refcount ........ | JOIN_WAKER | JOIN_INTEREST | CANCELLED | NOTIFIED | COMPLETE | RUNNING ]
//!                   bits 6..           5            4             3           2          1         0
//! ```
//!
//! Who owns what is derived from the bits, never from a lock:
//!
//! * `RUNNING` — one thread is polling the future (or dropping it). Only the
//!   holder of `RUNNING` touches the future.
//! * `NOTIFIED` — a wake is pending. While it is set and `RUNNING` is not, a
//!   `Notified` handle for the task sits in exactly one run queue; while
//!   `RUNNING` is also set, the poller re-submits the task when its poll ends.
//!   This is what makes "at most one queue entry per task" hold. A wake by
//!   the polling thread itself does not touch the word: the poller sets
//!   `NOTIFIED` for it when the poll ends (see `task::current`).
//! * `COMPLETE` — the output (or the `JoinError`) is stored, or was dropped.
//!   Set once, never cleared.
//! * `CANCELLED` — abort was requested; the next thread to hold `RUNNING`
//!   drops the future instead of polling it.
//! * `JOIN_INTEREST` — a `JoinHandle` exists. If it is set when `COMPLETE` is
//!   set, the output belongs to the join handle; otherwise the task drops it.
//! * `JOIN_WAKER` — the join handle has stored a waker in the trailer. While
//!   the bit is set only the task side reads the slot; while it is clear only
//!   the join handle writes it. The handle clears the bit (failing if
//!   `COMPLETE` won the race) before it replaces the waker.
//!
//! References: each `Waker`, the `JoinHandle`, the `Notified` handle in a
//! queue and the owned-task list hold one. A new task starts with three (the
//! first `Notified`, the `JoinHandle`, the list) and `NOTIFIED` set.

use crate::loom::atomic::{AtomicUsize, Ordering::*};

const RUNNING: usize = 1 << 0;
const COMPLETE: usize = 1 << 1;
const NOTIFIED: usize = 1 << 2;
const CANCELLED: usize = 1 << 3;
const JOIN_INTEREST: usize = 1 << 4;
const JOIN_WAKER: usize = 1 << 5;
const REF_SHIFT: usize = 6;
const REF_ONE: usize = 1 << REF_SHIFT;
/// The flag part of the word.
const FLAGS: usize = REF_ONE - 1;

/// The initial state: queued once, a join handle, three references.
const INITIAL: usize = NOTIFIED | JOIN_INTEREST | (3 * REF_ONE);

/// The atomic state of one task.
pub(crate) struct State(AtomicUsize);

/// A copy of the state word, for reading flags.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot(usize);

impl Snapshot {
    pub(crate) fn is_running(self) -> bool {
        self.0 & RUNNING != 0
    }
    pub(crate) fn is_complete(self) -> bool {
        self.0 & COMPLETE != 0
    }
    pub(crate) fn is_notified(self) -> bool {
        self.0 & NOTIFIED != 0
    }
    pub(crate) fn is_cancelled(self) -> bool {
        self.0 & CANCELLED != 0
    }
    pub(crate) fn is_join_interested(self) -> bool {
        self.0 & JOIN_INTEREST != 0
    }
    pub(crate) fn is_join_waker_set(self) -> bool {
        self.0 & JOIN_WAKER != 0
    }
    pub(crate) fn ref_count(self) -> usize {
        self.0 >> REF_SHIFT
    }
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("running", &self.is_running())
            .field("complete", &self.is_complete())
            .field("notified", &self.is_notified())
            .field("cancelled", &self.is_cancelled())
            .field("join_interest", &self.is_join_interested())
            .field("join_waker", &self.is_join_waker_set())
            .field("refs", &self.ref_count())
            .finish()
    }
}

/// What the thread that took a `Notified` handle out of a queue must do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToRunning {
    /// Poll the future.
    Poll,
    /// Abort was requested: drop the future and complete as cancelled.
    Cancel,
    /// Someone else runs or ran the task (shutdown claimed it): just drop
    /// the queue's reference.
    Skip,
}

/// What the poller must do after a poll that returned `Pending`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToIdle {
    /// Nothing: the queue's reference was released.
    Idle,
    /// A wake arrived during the poll: re-submit with the queue's reference.
    Notified,
    /// Abort arrived during the poll: cancel now.
    Cancel,
}

/// What a waker must do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ToNotified {
    /// Submit a new `Notified` handle (a reference was taken for it).
    Submit,
    /// Nothing to do.
    Done,
}

impl State {
    pub(crate) fn new() -> State {
        State(AtomicUsize::new(INITIAL))
    }

    pub(crate) fn load(&self) -> Snapshot {
        Snapshot(self.0.load(Acquire))
    }

    /// Applies `f` in a CAS loop; `f` returns the new word and a result, or
    /// `None` to leave the word unchanged.
    fn update<R>(&self, mut f: impl FnMut(usize) -> (Option<usize>, R)) -> R {
        let mut cur = self.0.load(Acquire);
        loop {
            let (next, res) = f(cur);
            let Some(next) = next else { return res };
            match self.0.compare_exchange_weak(cur, next, AcqRel, Acquire) {
                Ok(_) => return res,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Called with the queue's reference in hand.
    #[inline]
    pub(crate) fn transition_to_running(&self) -> ToRunning {
        self.update(|cur| {
            if cur & (RUNNING | COMPLETE) != 0 {
                return (None, ToRunning::Skip);
            }
            let next = (cur & !NOTIFIED) | RUNNING;
            let res = if cur & CANCELLED != 0 {
                ToRunning::Cancel
            } else {
                ToRunning::Poll
            };
            (Some(next), res)
        })
    }

    /// After a `Pending` poll; `woke_itself` is a wake by the polling
    /// thread during the poll, which counts as `NOTIFIED` (see
    /// `task::current`). On `Idle` the queue's reference is dropped in the
    /// same CAS, so the caller must not touch the task afterwards unless it
    /// holds another reference.
    #[inline]
    pub(crate) fn transition_to_idle(&self, woke_itself: bool) -> ToIdle {
        self.update(|cur| {
            debug_assert!(cur & RUNNING != 0);
            if cur & CANCELLED != 0 {
                return (None, ToIdle::Cancel);
            }
            if woke_itself || cur & NOTIFIED != 0 {
                return (Some((cur & !RUNNING) | NOTIFIED), ToIdle::Notified);
            }
            debug_assert!(cur >> REF_SHIFT >= 1);
            (Some((cur & !RUNNING) - REF_ONE), ToIdle::Idle)
        })
    }

    /// Output stored: clear `RUNNING`, set `COMPLETE`. Returns the new state.
    pub(crate) fn transition_to_complete(&self) -> Snapshot {
        let prev = self.0.fetch_xor(RUNNING | COMPLETE, AcqRel);
        debug_assert!(prev & RUNNING != 0 && prev & COMPLETE == 0);
        Snapshot(prev ^ (RUNNING | COMPLETE))
    }

    /// A wake through a waker that keeps its own reference (`wake_by_ref`).
    pub(crate) fn transition_to_notified_by_ref(&self) -> ToNotified {
        self.update(|cur| {
            if cur & (COMPLETE | NOTIFIED) != 0 {
                (None, ToNotified::Done)
            } else if cur & RUNNING != 0 {
                (Some(cur | NOTIFIED), ToNotified::Done)
            } else {
                (Some((cur | NOTIFIED) + REF_ONE), ToNotified::Submit)
            }
        })
    }

    /// A wake that consumes the waker's reference (`wake`). On `Submit` the
    /// reference moves to the new `Notified` handle; on `Done` it has been
    /// released, and `true` in the second field says it was the last one.
    pub(crate) fn transition_to_notified_by_val(&self) -> (ToNotified, bool) {
        self.update(|cur| {
            if cur & (COMPLETE | NOTIFIED | RUNNING) == 0 {
                return (Some(cur | NOTIFIED), (ToNotified::Submit, false));
            }
            let mut next = cur - REF_ONE;
            if cur & RUNNING != 0 && cur & COMPLETE == 0 {
                next |= NOTIFIED;
            }
            let last = next >> REF_SHIFT == 0;
            (Some(next), (ToNotified::Done, last))
        })
    }

    /// Abort from a join handle or a task group. `Submit` means the task was
    /// idle: a reference was taken for the `Notified` the caller submits so
    /// that a worker drops the future.
    pub(crate) fn transition_to_notified_and_cancel(&self) -> ToNotified {
        self.update(|cur| {
            if cur & (COMPLETE | CANCELLED) != 0 {
                (None, ToNotified::Done)
            } else if cur & (RUNNING | NOTIFIED) != 0 {
                (Some(cur | CANCELLED | NOTIFIED), ToNotified::Done)
            } else {
                (
                    Some((cur | CANCELLED | NOTIFIED) + REF_ONE),
                    ToNotified::Submit,
                )
            }
        })
    }

    /// Shutdown: mark cancelled, and claim `RUNNING` if nobody runs the task,
    /// so the caller may drop the future in place. Returns whether it did.
    pub(crate) fn transition_to_shutdown(&self) -> bool {
        self.update(|cur| {
            if cur & (RUNNING | COMPLETE) != 0 {
                (Some(cur | CANCELLED), false)
            } else {
                (Some(cur | CANCELLED | RUNNING), true)
            }
        })
    }

    /// Fast path of dropping a join handle right after spawn.
    pub(crate) fn drop_join_handle_fast(&self) -> bool {
        self.0
            .compare_exchange(
                INITIAL,
                (INITIAL - REF_ONE) & !JOIN_INTEREST,
                AcqRel,
                Acquire,
            )
            .is_ok()
    }

    /// Clears `JOIN_INTEREST` unless the task completed. Returns the state
    /// seen: if it is complete, the output belongs to the caller.
    pub(crate) fn unset_join_interest(&self) -> Snapshot {
        self.update(|cur| {
            debug_assert!(cur & JOIN_INTEREST != 0);
            if cur & COMPLETE != 0 {
                (None, Snapshot(cur))
            } else {
                (Some(cur & !(JOIN_INTEREST | JOIN_WAKER)), Snapshot(cur))
            }
        })
    }

    /// Sets `JOIN_WAKER` after the handle wrote the waker. Fails with the
    /// state if the task completed meanwhile.
    pub(crate) fn set_join_waker(&self) -> Result<(), Snapshot> {
        self.update(|cur| {
            debug_assert!(cur & JOIN_INTEREST != 0 && cur & JOIN_WAKER == 0);
            if cur & COMPLETE != 0 {
                (None, Err(Snapshot(cur)))
            } else {
                (Some(cur | JOIN_WAKER), Ok(()))
            }
        })
    }

    /// Clears `JOIN_WAKER` so the handle may replace the waker. Fails if
    /// the task completed.
    pub(crate) fn unset_join_waker(&self) -> Result<(), Snapshot> {
        self.update(|cur| {
            debug_assert!(cur & JOIN_INTEREST != 0 && cur & JOIN_WAKER != 0);
            if cur & COMPLETE != 0 {
                (None, Err(Snapshot(cur)))
            } else {
                (Some(cur & !JOIN_WAKER), Ok(()))
            }
        })
    }

    pub(crate) fn ref_inc(&self) {
        let prev = self.0.fetch_add(REF_ONE, Relaxed);
        if prev > isize::MAX as usize {
            std::process::abort();
        }
    }

    /// Releases one reference; `true` if it was the last.
    pub(crate) fn ref_dec(&self) -> bool {
        let prev = self.0.fetch_sub(REF_ONE, AcqRel);
        debug_assert!(prev >> REF_SHIFT >= 1);
        prev & !FLAGS == REF_ONE
    }

    /// Releases two references at once (the queue's and the list's after a
    /// task completes); `true` if they were the last.
    pub(crate) fn ref_dec_twice(&self) -> bool {
        let prev = self.0.fetch_sub(2 * REF_ONE, AcqRel);
        debug_assert!(prev >> REF_SHIFT >= 2);
        prev & !FLAGS == 2 * REF_ONE
    }
}

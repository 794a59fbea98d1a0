//! `block_on`: run a future to completion on the calling thread.
//!
//! The thread enters the runtime context (so it may `spawn_local`, and may
//! not nest a `block_on`), polls the root future whenever its waker fires,
//! runs whatever tasks the mode gives it between polls ([`Drive`]) and
//! parks on its own [`Parker`] when there is nothing to do. Wakes of the
//! root future, of the thread's pinned tasks, and (in single-thread mode)
//! of the runtime's tasks all unpark that parker.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::task::{Context, Poll, Wake, Waker};

use crate::context;
use crate::coop;
use crate::local::LocalQueue;
use crate::park::Parker;

/// Tasks run between two checks of the root future's waker. Go's and
/// tokio's 61 again: enough to amortise the check, small enough that the
/// root future is never starved for long.
pub(crate) const EVENT_INTERVAL: usize = 61;

/// The work a `block_on` thread does beside polling its root future.
pub(crate) trait Drive {
    /// Runs up to `EVENT_INTERVAL` tasks; returns how many ran.
    fn run_some(&mut self, pinned: &LocalQueue) -> usize;
    /// Called before parking: `false` vetoes the sleep (work appeared).
    fn may_park(&mut self) -> bool;
}

/// Only the pinned tasks (parallel mode: the workers run the rest).
pub(crate) struct PinnedOnly;

impl Drive for PinnedOnly {
    fn run_some(&mut self, pinned: &LocalQueue) -> usize {
        let mut ran = 0;
        while ran < EVENT_INTERVAL {
            let Some(task) = pinned.pop() else { break };
            coop::budget(|| task.run());
            ran += 1;
        }
        ran
    }

    fn may_park(&mut self) -> bool {
        true
    }
}

struct RootWaker {
    woken: AtomicBool,
    parker: Arc<Parker>,
}

impl Wake for RootWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, SeqCst);
        self.parker.unpark();
    }
}

/// Runs `future` to completion on this thread, with `drive` between polls.
#[track_caller]
pub(crate) fn block_on<F: Future>(
    future: F,
    parker: Arc<Parker>,
    drive: &mut impl Drive,
) -> F::Output {
    let pinned = LocalQueue::new(parker.clone());
    let _enter = context::enter_block_on(pinned.clone());
    let root = Arc::new(RootWaker {
        woken: AtomicBool::new(true),
        parker: parker.clone(),
    });
    let waker = Waker::from(root.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if root.woken.swap(false, SeqCst)
            && let Poll::Ready(out) = coop::budget(|| future.as_mut().poll(&mut cx))
        {
            return out;
        }
        let ran = drive.run_some(&pinned);
        if ran == 0 && !root.woken.load(SeqCst) && !pinned.has_tasks() && drive.may_park() {
            parker.park();
        }
    }
}

//! [`Barrier`]: `parties` tasks wait until all of them have arrived.
//!
//! # Mechanism
//!
//! An arrival counter and a [`WaitList`] under one mutex. Each `wait`
//! counts itself in; all but the last queue. The last arrival resets the
//! counter, notifies every queued waiter at once and returns as the leader,
//! so the barrier is immediately ready for its next round: waiters of the
//! next round queue behind no one, because the notified ones left the list.
//!
//! A `wait` cancelled before its round completes counts itself back out, so
//! the round still needs `parties` live waiters. (asyncio instead *breaks*
//! the barrier on cancellation; spindle has no broken state to report, and
//! counting out is what a dropped future can do synchronously.)

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use spindle_scheduler::loom::Mutex;

use super::waitlist::{Removed, WaitList, Waiter, WakeList};

/// Lets `parties` tasks wait until all of them have called
/// [`wait`](Barrier::wait), then releases them together; reusable round
/// after round.
///
/// ```
/// use std::sync::Arc;
/// use spindle::sync::Barrier;
///
/// spindle::run(async {
///     let barrier = Arc::new(Barrier::new(3));
///     let mut tasks = Vec::new();
///     for _ in 0..3 {
///         let barrier = barrier.clone();
///         tasks.push(spindle::spawn(async move { barrier.wait().await.is_leader() }));
///     }
///     let mut leaders = 0;
///     for task in tasks {
///         leaders += task.await.unwrap() as usize;
///     }
///     assert_eq!(leaders, 1);
/// });
/// ```
pub struct Barrier {
    parties: usize,
    state: Mutex<BarrierState>,
}

#[derive(Debug)]
struct BarrierState {
    arrived: usize,
    waiters: WaitList<()>,
}

impl Barrier {
    /// A barrier for `parties` tasks. `Barrier::new(0)` behaves like
    /// `Barrier::new(1)`: every `wait` completes at once, as the leader.
    pub fn new(parties: usize) -> Self {
        Barrier {
            parties: parties.max(1),
            state: Mutex::new(BarrierState {
                arrived: 0,
                waiters: WaitList::new(),
            }),
        }
    }

    /// How many tasks each round waits for.
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// How many tasks wait in the current round.
    pub fn n_waiting(&self) -> usize {
        self.state.lock().arrived
    }

    /// Waits until `parties` tasks (this one included) are waiting. Exactly
    /// one of them, the last to arrive, gets a result that
    /// [`is_leader`](BarrierWaitResult::is_leader).
    pub async fn wait(&self) -> BarrierWaitResult {
        Wait {
            barrier: self,
            waiter: Waiter::new(),
        }
        .await
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties)
            .field("n_waiting", &self.n_waiting())
            .finish()
    }
}

/// What [`Barrier::wait`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarrierWaitResult {
    leader: bool,
}

impl BarrierWaitResult {
    /// Whether this task completed the round (exactly one per round).
    pub fn is_leader(&self) -> bool {
        self.leader
    }
}

struct Wait<'a> {
    barrier: &'a Barrier,
    waiter: Waiter,
}

impl Future for Wait<'_> {
    type Output = BarrierWaitResult;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<BarrierWaitResult> {
        let this = self.get_mut();
        let mut wakes = WakeList::new();
        {
            let mut st = this.barrier.state.lock();
            if this.waiter.is_registered() {
                return this
                    .waiter
                    .poll(&mut st.waiters, cx)
                    .map(|_| BarrierWaitResult { leader: false });
            }
            st.arrived += 1;
            if st.arrived < this.barrier.parties {
                this.waiter
                    .register(&mut st.waiters, None, Some(cx.waker()));
                return Poll::Pending;
            }
            st.arrived = 0;
            st.waiters.notify_all(&mut wakes);
        }
        wakes.wake_all();
        Poll::Ready(BarrierWaitResult { leader: true })
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        if !self.waiter.is_registered() {
            return;
        }
        let mut st = self.barrier.state.lock();
        if let Some(Removed {
            notified: false, ..
        }) = self.waiter.cancel(&mut st.waiters)
        {
            st.arrived -= 1;
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::pin::pin;

    use super::*;
    use crate::sync::testing::{counting_waker, poll_once};

    #[test]
    fn last_arrival_leads_and_the_barrier_resets() {
        let barrier = Barrier::new(2);
        let (waker, _) = counting_waker();
        for _round in 0..2 {
            let mut a = pin!(barrier.wait());
            assert!(poll_once(a.as_mut(), &waker).is_pending());
            let b = poll_once(pin!(barrier.wait()), &waker);
            assert_eq!(b, Poll::Ready(BarrierWaitResult { leader: true }));
            assert_eq!(
                poll_once(a.as_mut(), &waker),
                Poll::Ready(BarrierWaitResult { leader: false })
            );
            assert_eq!(barrier.n_waiting(), 0);
        }
    }

    #[test]
    fn cancelled_waiter_counts_itself_out() {
        let barrier = Barrier::new(2);
        let (waker, _) = counting_waker();
        let mut a = Box::pin(barrier.wait());
        assert!(poll_once(a.as_mut(), &waker).is_pending());
        drop(a);
        assert_eq!(barrier.n_waiting(), 0);
        assert!(poll_once(pin!(barrier.wait()), &waker).is_pending());
    }
}

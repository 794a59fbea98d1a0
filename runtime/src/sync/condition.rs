//! [`Condition<T>`]: wait for a change of state guarded by a [`Lock<T>`]
//! (asyncio's `Condition`).
//!
//! # Mechanism
//!
//! A `Condition` owns a `Lock<T>` and a [`WaitList`] of waiting tasks.
//! [`wait`](Condition::wait) queues the task *before* it unlocks, so a
//! `notify` issued by whoever takes the lock next cannot be missed; it then
//! waits to be notified and re-takes the lock (queuing behind other lockers,
//! in FIFO order). `notify(n)` marks the `n` longest waiters notified.
//! A notified `wait` that is dropped before it noticed passes its
//! notification to the next waiter, so a notification is never swallowed by
//! a cancelled task (asyncio 3.13 does the same).
//!
//! Unlike asyncio, `notify` does not require the lock: the lock protects
//! the *state*, and the waker only needs to change it under the lock before
//! notifying for waiters to see it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use spindle_scheduler::loom::Mutex;

use super::lock::{Lock, LockGuard};
use super::waitlist::{Removed, WaitList, Waiter, WakeList};

/// A condition variable for async tasks, with the [`Lock`] it works with.
///
/// ```
/// use std::sync::Arc;
/// use spindle::sync::Condition;
///
/// spindle::run(async {
///     let inbox = Arc::new(Condition::new(Vec::new()));
///     let reader = {
///         let inbox = inbox.clone();
///         spindle::spawn(async move {
///             let guard = inbox.lock().await;
///             let mut guard = inbox.wait_for(guard, |msgs| !msgs.is_empty()).await;
///             guard.pop().unwrap()
///         })
///     };
///     inbox.lock().await.push("hello");
///     inbox.notify_all();
///     assert_eq!(reader.await.unwrap(), "hello");
/// });
/// ```
pub struct Condition<T> {
    lock: Lock<T>,
    waiters: Mutex<WaitList<()>>,
}

impl<T> Condition<T> {
    /// A condition whose lock protects `value`.
    pub fn new(value: T) -> Self {
        Condition {
            lock: Lock::new(value),
            waiters: Mutex::new(WaitList::new()),
        }
    }

    /// Takes the condition's lock (see [`Lock::lock`]).
    pub async fn lock(&self) -> LockGuard<'_, T> {
        self.lock.lock().await
    }

    /// Takes the condition's lock if it is free (see [`Lock::try_lock`]).
    pub fn try_lock(&self) -> Option<LockGuard<'_, T>> {
        self.lock.try_lock()
    }

    /// Unlocks `guard`, waits for a [`notify`](Condition::notify), and locks
    /// again. As with every condition variable, re-check the state after it
    /// returns; [`wait_for`](Condition::wait_for) does so in a loop.
    ///
    /// Cancel-safe in that a dropped `wait` passes on a notification it
    /// received; the lock is not held again then (the guard was consumed).
    ///
    /// # Panics
    ///
    /// If `guard` belongs to another lock than this condition's.
    pub async fn wait<'a>(&'a self, guard: LockGuard<'a, T>) -> LockGuard<'a, T> {
        assert!(
            std::ptr::eq(guard.lock, &self.lock),
            "Condition::wait given the guard of another lock"
        );
        let mut notified = Notified {
            cond: self,
            waiter: Waiter::new(),
        };
        notified
            .waiter
            .register(&mut self.waiters.lock(), None, None);
        drop(guard);
        notified.await;
        self.lock.lock().await
    }

    /// Waits until `predicate` holds for the protected value, checking it
    /// first and again after every wake-up; returns with the lock held.
    pub async fn wait_for<'a>(
        &'a self,
        mut guard: LockGuard<'a, T>,
        mut predicate: impl FnMut(&mut T) -> bool,
    ) -> LockGuard<'a, T> {
        while !predicate(&mut guard) {
            guard = self.wait(guard).await;
        }
        guard
    }

    /// Wakes up to `n` waiting tasks, longest waiting first.
    pub fn notify(&self, n: usize) {
        let mut wakes = WakeList::new();
        {
            let mut waiters = self.waiters.lock();
            for _ in 0..n {
                if waiters.hand_one((), &mut wakes).is_err() {
                    break;
                }
            }
        }
        wakes.wake_all();
    }

    /// Wakes every waiting task.
    pub fn notify_all(&self) {
        let mut wakes = WakeList::new();
        self.waiters.lock().notify_all(&mut wakes);
        wakes.wake_all();
    }

    /// Consumes the condition and returns the protected value.
    pub fn into_inner(self) -> T {
        self.lock.into_inner()
    }
}

impl<T> fmt::Debug for Condition<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condition")
            .field("lock", &self.lock)
            .finish_non_exhaustive()
    }
}

/// The "wait for a notify" half of [`Condition::wait`]; registered before
/// the guard is dropped.
struct Notified<'a, T> {
    cond: &'a Condition<T>,
    waiter: Waiter,
}

impl<T> Future for Notified<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        this.waiter
            .poll(&mut this.cond.waiters.lock(), cx)
            .map(drop)
    }
}

impl<T> Drop for Notified<'_, T> {
    fn drop(&mut self) {
        if !self.waiter.is_registered() {
            return;
        }
        let mut wakes = WakeList::new();
        {
            let mut waiters = self.cond.waiters.lock();
            if let Some(Removed { notified: true, .. }) = self.waiter.cancel(&mut waiters) {
                // The next waiter, if any, gets the notification.
                let _ = waiters.hand_one((), &mut wakes);
            }
        }
        wakes.wake_all();
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::pin::pin;

    use super::*;
    use crate::sync::testing::{block_on, counting_waker, poll_once};

    #[test]
    fn notify_one_wakes_the_longest_waiter() {
        let cond = Condition::new(Vec::new());
        let (waker, _) = counting_waker();
        let mut a = pin!(async {
            let g = cond.lock().await;
            cond.wait(g).await.push('a');
        });
        let mut b = pin!(async {
            let g = cond.lock().await;
            cond.wait(g).await.push('b');
        });
        assert!(poll_once(a.as_mut(), &waker).is_pending());
        assert!(poll_once(b.as_mut(), &waker).is_pending());
        cond.notify(1);
        assert!(poll_once(b.as_mut(), &waker).is_pending());
        assert!(poll_once(a.as_mut(), &waker).is_ready());
        cond.notify(1);
        assert!(poll_once(b.as_mut(), &waker).is_ready());
        assert_eq!(*cond.try_lock().unwrap(), ['a', 'b']);
    }

    #[test]
    fn cancelled_notified_waiter_passes_the_notification_on() {
        let cond = Condition::new(());
        let (waker, _) = counting_waker();
        let mut a = Box::pin(async {
            let g = cond.lock().await;
            drop(cond.wait(g).await);
        });
        let mut b = pin!(async {
            let g = cond.lock().await;
            drop(cond.wait(g).await);
        });
        assert!(poll_once(a.as_mut(), &waker).is_pending());
        assert!(poll_once(b.as_mut(), &waker).is_pending());
        cond.notify(1);
        drop(a);
        assert!(poll_once(b.as_mut(), &waker).is_ready());
    }

    #[test]
    fn wait_for_rechecks_the_predicate() {
        let cond = std::sync::Arc::new(Condition::new(0));
        let bumper = {
            let cond = cond.clone();
            std::thread::spawn(move || {
                for _ in 0..3 {
                    *block_on(cond.lock()) += 1;
                    cond.notify_all();
                }
            })
        };
        let guard = block_on(async {
            let g = cond.lock().await;
            *cond.wait_for(g, |n| *n == 3).await
        });
        assert_eq!(guard, 3);
        bumper.join().unwrap();
    }
}

//! [`Event`]: a flag that tasks can wait for (asyncio's `Event`).
//!
//! # Mechanism
//!
//! The flag is an atomic so that `is_set` and a `wait` on a set event never
//! take the lock. Waiters queue in a [`WaitList`] under a mutex; the flag is
//! only ever *set* under that mutex, and a waiter only queues after reading
//! the flag clear under it, so "set, then notify everyone queued" and "see
//! clear, then queue" cannot interleave into a lost wakeup. `set` marks
//! every queued waiter notified, so a waiter released by a `set` completes
//! even if `clear` runs before it is polled, as in asyncio.
//!
//! Invariant: while the flag is set, no waiter is queued. So a `set` that
//! finds the flag already set has nothing to do and takes no lock.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use spindle_scheduler::loom::Mutex;
use spindle_scheduler::loom::atomic::{AtomicBool, Ordering};

use super::waitlist::{WaitList, Waiter, WakeList};

/// A flag that tasks wait for: [`wait`](Event::wait) completes once
/// [`set`](Event::set) has been called; [`clear`](Event::clear) resets it.
///
/// ```
/// use std::sync::Arc;
/// use spindle::sync::Event;
///
/// spindle::run(async {
///     let ready = Arc::new(Event::new());
///     let waiter = {
///         let ready = ready.clone();
///         spindle::spawn(async move { ready.wait().await })
///     };
///     // `set` works from any thread, runtime or not.
///     std::thread::spawn(move || ready.set()).join().unwrap();
///     waiter.await.unwrap();
/// });
/// ```
pub struct Event {
    /// Written only with `waiters` locked (except by `clear`).
    flag: AtomicBool,
    waiters: Mutex<WaitList<()>>,
}

impl Event {
    /// A new, clear event.
    pub fn new() -> Self {
        Event {
            flag: AtomicBool::new(false),
            waiters: Mutex::new(WaitList::new()),
        }
    }

    /// Sets the flag and wakes every waiting task. Callable from any thread,
    /// inside a runtime or not.
    pub fn set(&self) {
        if self.flag.load(Ordering::Acquire) {
            return;
        }
        let mut wakes = WakeList::new();
        {
            let mut waiters = self.waiters.lock();
            self.flag.store(true, Ordering::Release);
            waiters.notify_all(&mut wakes);
        }
        wakes.wake_all();
    }

    /// Clears the flag: later `wait` calls wait again for a `set`.
    pub fn clear(&self) {
        self.flag.store(false, Ordering::Release);
    }

    /// Whether the flag is set.
    pub fn is_set(&self) -> bool {
        self.flag.load(Ordering::Acquire)
    }

    /// Waits until the flag is set; completes at once if it is set now.
    pub async fn wait(&self) {
        Wait {
            event: self,
            waiter: Waiter::new(),
        }
        .await
    }
}

impl Default for Event {
    fn default() -> Self {
        Event::new()
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .finish()
    }
}

struct Wait<'a> {
    event: &'a Event,
    waiter: Waiter,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if !this.waiter.is_registered() && this.event.is_set() {
            return Poll::Ready(());
        }
        let mut waiters = this.event.waiters.lock();
        if this.waiter.is_registered() {
            return this.waiter.poll(&mut waiters, cx).map(drop);
        }
        if this.event.is_set() {
            return Poll::Ready(());
        }
        this.waiter.register(&mut waiters, None, Some(cx.waker()));
        Poll::Pending
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        if self.waiter.is_registered() {
            // Nothing to pass on: a notification is for everyone.
            self.waiter.cancel(&mut self.event.waiters.lock());
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::pin::pin;
    use std::sync::Arc;

    use super::*;
    use crate::sync::testing::{block_on, counting_waker, poll_once};

    #[test]
    fn set_releases_waiters_even_if_cleared_before_they_run() {
        let event = Event::new();
        let (waker, woken) = counting_waker();
        let mut a = pin!(event.wait());
        let mut b = pin!(event.wait());
        assert!(poll_once(a.as_mut(), &waker).is_pending());
        assert!(poll_once(b.as_mut(), &waker).is_pending());
        event.set();
        event.clear();
        assert_eq!(woken.count(), 2);
        assert!(poll_once(a.as_mut(), &waker).is_ready());
        assert!(poll_once(b.as_mut(), &waker).is_ready());
        assert!(poll_once(pin!(event.wait()), &waker).is_pending());
    }

    #[test]
    fn set_from_a_plain_thread_wakes_a_blocked_waiter() {
        let event = Arc::new(Event::new());
        let setter = {
            let event = event.clone();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(10));
                event.set();
            })
        };
        block_on(event.wait());
        assert!(event.is_set());
        setter.join().unwrap();
    }

    #[test]
    fn dropped_waiter_leaves_no_slot_behind() {
        let event = Event::new();
        let (waker, _) = counting_waker();
        let mut a = Box::pin(event.wait());
        assert!(poll_once(a.as_mut(), &waker).is_pending());
        drop(a);
        assert!(event.waiters.lock().is_empty());
    }
}

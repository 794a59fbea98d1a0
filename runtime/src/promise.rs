//! Promises: a one-shot value passed from any thread or callback to a task
//! (asyncio's `Future.set_result`, tokio's `oneshot`).
//!
//! [`promise()`] makes a pair. The [`Resolver`] is `Send` and resolves from
//! anywhere: another thread, a C callback, a runtime or not. The [`Promise`]
//! is a future that a task awaits: it completes with the value, or with
//! [`ResolverDropped`] if the resolver was dropped without resolving, so a
//! lost callback is an error rather than a task that hangs forever.
//!
//! # Mechanism
//!
//! Both halves share one `Arc` holding a small state machine under a mutex
//! (the loom shim's): the value, the promise's waker, and whether each half
//! is still alive. A promise has exactly one waiter, so it needs no wait
//! list; the lock is uncontended except in the instant both halves touch it.
//! Resolving takes the waker out and wakes it after unlocking.
//!
//! ```
//! spindle::run(async {
//!     let (resolver, promise) = spindle::promise::promise();
//!     // e.g. a callback-based API calling back on its own thread:
//!     std::thread::spawn(move || resolver.resolve(42));
//!     assert_eq!(promise.await, Ok(42));
//! });
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use spindle_scheduler::loom::{Arc, Mutex};

/// Makes a connected [`Resolver`] and [`Promise`].
pub fn promise<T>() -> (Resolver<T>, Promise<T>) {
    let shared = Arc::new(Mutex::new(Shared {
        value: None,
        waker: None,
        resolver_alive: true,
        promise_alive: true,
    }));
    (
        Resolver {
            shared: Some(shared.clone()),
        },
        Promise {
            shared,
            done: false,
        },
    )
}

struct Shared<T> {
    value: Option<T>,
    waker: Option<Waker>,
    resolver_alive: bool,
    promise_alive: bool,
}

/// The sending half of [`promise()`]: resolves the [`Promise`] once.
/// Dropping it unresolved makes the promise complete with
/// [`ResolverDropped`].
pub struct Resolver<T> {
    /// `None` once resolved, so that `Drop` knows it has nothing to report.
    shared: Option<Arc<Mutex<Shared<T>>>>,
}

impl<T> Resolver<T> {
    /// Resolves the promise with `value`, waking the task awaiting it. If the
    /// promise was already dropped, `value` is dropped here (see
    /// [`try_resolve`](Resolver::try_resolve) to get it back).
    pub fn resolve(self, value: T) {
        let _ = self.try_resolve(value);
    }

    /// Resolves the promise with `value`.
    ///
    /// # Errors
    ///
    /// Gives `value` back if the [`Promise`] was dropped: nobody would see it.
    pub fn try_resolve(mut self, value: T) -> Result<(), T> {
        let shared = self.shared.take().expect("a resolver is resolved once");
        let waker = {
            let mut st = shared.lock();
            st.resolver_alive = false;
            if !st.promise_alive {
                return Err(value);
            }
            st.value = Some(value);
            st.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        Ok(())
    }

    /// Whether the [`Promise`] was dropped, so resolving is pointless (e.g.
    /// the awaiting task was aborted).
    pub fn is_closed(&self) -> bool {
        self.shared
            .as_ref()
            .is_none_or(|shared| !shared.lock().promise_alive)
    }
}

impl<T> Drop for Resolver<T> {
    fn drop(&mut self) {
        let Some(shared) = self.shared.take() else {
            return;
        };
        let waker = {
            let mut st = shared.lock();
            st.resolver_alive = false;
            st.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> fmt::Debug for Resolver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("is_closed", &self.is_closed())
            .finish()
    }
}

/// The receiving half of [`promise()`]: a future of the resolved value.
///
/// Output: `Ok(value)`, or `Err(ResolverDropped)` if the [`Resolver`] was
/// dropped without resolving. Dropping the promise tells the resolver
/// ([`Resolver::is_closed`]) and drops a value that arrives later.
///
/// ```
/// use spindle::promise::{ResolverDropped, promise};
///
/// spindle::run(async {
///     let (resolver, promise) = promise::<u32>();
///     // A callback that never fires, e.g. its registration was cancelled:
///     std::thread::spawn(move || drop(resolver));
///     assert_eq!(promise.await, Err(ResolverDropped));
/// });
/// ```
pub struct Promise<T> {
    shared: Arc<Mutex<Shared<T>>>,
    done: bool,
}

impl<T> Future for Promise<T> {
    type Output = Result<T, ResolverDropped>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        assert!(!this.done, "Promise polled after completion");
        let mut st = this.shared.lock();
        let out = match st.value.take() {
            Some(value) => Ok(value),
            None if !st.resolver_alive => Err(ResolverDropped),
            None => {
                match &mut st.waker {
                    Some(waker) => waker.clone_from(cx.waker()),
                    None => st.waker = Some(cx.waker().clone()),
                }
                return Poll::Pending;
            }
        };
        this.done = true;
        Poll::Ready(out)
    }
}

impl<T> futures_core::FusedFuture for Promise<T> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<T> Drop for Promise<T> {
    fn drop(&mut self) {
        let value = {
            let mut st = self.shared.lock();
            st.promise_alive = false;
            st.waker = None;
            st.value.take()
        };
        // Dropped outside the lock: `T`'s destructor may do anything.
        drop(value);
    }
}

impl<T> fmt::Debug for Promise<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Promise")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// The [`Resolver`] of a [`Promise`] was dropped without resolving it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolverDropped;

impl fmt::Display for ResolverDropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("promise resolver dropped without resolving the promise")
    }
}

impl std::error::Error for ResolverDropped {}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::pin::pin;

    use super::*;
    use crate::sync::testing::{block_on, counting_waker, poll_once};

    fn assert_send<T: Send>() {}

    #[test]
    fn halves_are_send() {
        assert_send::<Resolver<String>>();
        assert_send::<Promise<String>>();
    }

    #[test]
    fn resolved_from_a_plain_thread() {
        let (resolver, promise) = promise();
        let t = std::thread::spawn(move || resolver.resolve(String::from("done")));
        assert_eq!(block_on(promise), Ok(String::from("done")));
        t.join().unwrap();
    }

    #[test]
    fn dropped_resolver_fails_the_waiting_promise() {
        let (resolver, promise) = promise::<u8>();
        let (waker, woken) = counting_waker();
        let mut promise = pin!(promise);
        assert!(poll_once(promise.as_mut(), &waker).is_pending());
        drop(resolver);
        assert_eq!(woken.count(), 1);
        assert_eq!(
            poll_once(promise.as_mut(), &waker),
            Poll::Ready(Err(ResolverDropped))
        );
        assert_eq!(
            ResolverDropped.to_string(),
            "promise resolver dropped without resolving the promise"
        );
    }

    #[test]
    fn resolver_sees_a_dropped_promise() {
        let (resolver, promise) = promise();
        assert!(!resolver.is_closed());
        drop(promise);
        assert!(resolver.is_closed());
        assert_eq!(resolver.try_resolve(3), Err(3));
    }

    #[test]
    fn value_resolved_before_the_first_poll_is_ready() {
        use futures_core::FusedFuture;

        let (resolver, promise) = promise();
        resolver.resolve(5);
        let (waker, _) = counting_waker();
        let mut promise = pin!(promise);
        assert!(!promise.is_terminated());
        assert_eq!(poll_once(promise.as_mut(), &waker), Poll::Ready(Ok(5)));
        assert!(promise.is_terminated());
    }
}

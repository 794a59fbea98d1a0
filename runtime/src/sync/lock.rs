//! [`Lock<T>`]: an async mutex, fair in FIFO order.
//!
//! # Mechanism
//!
//! A `Lock` is a one-permit [`PermitPool`] (see [`super::semaphore`]) next to
//! the protected value. Holding the permit is holding the lock: the guard
//! gives the permit back on drop, straight to the longest waiter if there is
//! one, so the lock is handed over rather than raced for and a stream of
//! newcomers cannot starve a waiter. A `lock()` future dropped after it was
//! handed the lock passes it on the same way.
//!
//! The value sits in a `std::cell::UnsafeCell`, not the loom shim's: the
//! shim's cell has no `into_inner`, and the exclusion that makes the access
//! sound is the pool's mutex, which *is* the shim's and is model-checked.

use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use super::semaphore::PermitPool;

/// An async mutual-exclusion lock (asyncio's `Lock`, holding the data it
/// protects like `std::sync::Mutex`). Waiters get the lock in FIFO order.
///
/// The guard may be held across `.await` and is `Send` when `T: Send`, so a
/// task holding it can move between workers.
///
/// ```
/// use std::sync::Arc;
/// use spindle::sync::Lock;
///
/// spindle::run(async {
///     let hits = Arc::new(Lock::new(Vec::new()));
///     let mut tasks = Vec::new();
///     for n in 0..4 {
///         let hits = hits.clone();
///         tasks.push(spindle::spawn(async move { hits.lock().await.push(n) }));
///     }
///     for task in tasks {
///         task.await.unwrap();
///     }
///     assert_eq!(hits.lock().await.len(), 4);
/// });
/// ```
pub struct Lock<T> {
    permit: PermitPool,
    value: UnsafeCell<T>,
}

// SAFETY: the lock hands out access to `value` to one guard at a time (the
// single permit), so sharing a `Lock` between threads only ever moves access
// to the `T` from one thread to another, which needs `T: Send` and no more.
unsafe impl<T: Send> Sync for Lock<T> {}
// SAFETY: `Lock` owns its `T`; sending the lock sends the value.
unsafe impl<T: Send> Send for Lock<T> {}

impl<T> Lock<T> {
    /// An unlocked lock protecting `value`.
    pub fn new(value: T) -> Self {
        Lock {
            permit: PermitPool::new(1, Some(1)),
            value: UnsafeCell::new(value),
        }
    }

    /// Waits for the lock. Cancel-safe: dropping the future after it was
    /// handed the lock passes the lock to the next waiter.
    pub async fn lock(&self) -> LockGuard<'_, T> {
        self.permit.acquire().await;
        LockGuard {
            lock: self,
            _not_sync_unless_t_is: PhantomData,
        }
    }

    /// Takes the lock if it is free and nobody waits for it.
    pub fn try_lock(&self) -> Option<LockGuard<'_, T>> {
        self.permit.try_acquire().then(|| LockGuard {
            lock: self,
            _not_sync_unless_t_is: PhantomData,
        })
    }

    /// Like [`lock`](Lock::lock), for a lock in an `Arc`: the guard owns a
    /// reference count instead of borrowing, so it can be kept in a struct or
    /// moved into a `'static` task.
    pub async fn lock_owned(self: Arc<Self>) -> OwnedLockGuard<T> {
        self.permit.acquire().await;
        OwnedLockGuard { lock: self }
    }

    /// Whether some guard holds the lock right now.
    pub fn is_locked(&self) -> bool {
        self.permit.available() == 0
    }

    /// A mutable reference to the value: no locking needed, the borrow
    /// proves no guard exists.
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    /// Consumes the lock and returns the value.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }

    /// Gives the lock back (a guard is being dropped).
    fn unlock(&self) {
        self.permit.release(1);
    }
}

impl<T: Default> Default for Lock<T> {
    fn default() -> Self {
        Lock::new(T::default())
    }
}

impl<T> fmt::Debug for Lock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("locked", &self.is_locked())
            .finish_non_exhaustive()
    }
}

/// Access to a [`Lock`]'s value; unlocks on drop.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a, T> {
    pub(crate) lock: &'a Lock<T>,
    /// `&Lock<T>` is `Sync` for any `T: Send`, but sharing the guard shares
    /// `&T`, which needs `T: Sync`: borrow the auto traits of `&mut T`.
    _not_sync_unless_t_is: PhantomData<&'a mut T>,
}

impl<T> Deref for LockGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: this guard holds the lock's only permit, so no other guard
        // can reach the value until it is dropped, and `&self` keeps the
        // returned reference within the guard's life.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for LockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only reference.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for LockGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.unlock();
    }
}

impl<T: fmt::Debug> fmt::Debug for LockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// The guard of [`Lock::lock_owned`]: holds the lock through an `Arc`.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct OwnedLockGuard<T> {
    lock: Arc<Lock<T>>,
}

impl<T> OwnedLockGuard<T> {
    /// The lock this guard holds.
    pub fn lock(this: &Self) -> &Arc<Lock<T>> {
        &this.lock
    }
}

impl<T> Deref for OwnedLockGuard<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: as in `LockGuard::deref`: this guard holds the only permit.
        unsafe { &*self.lock.value.get() }
    }
}

impl<T> DerefMut for OwnedLockGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `LockGuard::deref_mut`.
        unsafe { &mut *self.lock.value.get() }
    }
}

impl<T> Drop for OwnedLockGuard<T> {
    fn drop(&mut self) {
        self.lock.unlock();
    }
}

impl<T: fmt::Debug> fmt::Debug for OwnedLockGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::pin::pin;

    use super::*;
    use crate::sync::testing::{block_on, counting_waker, poll_once};

    fn assert_send<T: Send>() {}

    #[test]
    fn guards_are_send_when_the_value_is() {
        assert_send::<LockGuard<'static, Vec<u8>>>();
        assert_send::<OwnedLockGuard<Vec<u8>>>();
    }

    #[test]
    fn lock_is_handed_over_in_fifo_order() {
        let lock = Lock::new(Vec::new());
        let (waker, _) = counting_waker();
        let guard = lock.try_lock().unwrap();
        let mut a = pin!(async {
            lock.lock().await.push('a');
        });
        let mut b = pin!(async {
            lock.lock().await.push('b');
        });
        assert!(poll_once(b.as_mut(), &waker).is_pending());
        assert!(poll_once(a.as_mut(), &waker).is_pending());
        drop(guard);
        assert!(lock.try_lock().is_none(), "handed to b, not free");
        assert!(poll_once(a.as_mut(), &waker).is_pending());
        assert!(poll_once(b.as_mut(), &waker).is_ready());
        assert!(poll_once(a.as_mut(), &waker).is_ready());
        assert_eq!(*lock.try_lock().unwrap(), ['b', 'a']);
    }

    #[test]
    fn cancelled_lock_future_passes_the_lock_on() {
        let lock = Lock::new(0);
        let (waker, _) = counting_waker();
        let guard = lock.try_lock().unwrap();
        let mut a = Box::pin(lock.lock());
        assert!(poll_once(a.as_mut(), &waker).is_pending());
        drop(guard);
        drop(a);
        assert!(!lock.is_locked());
        *block_on(lock.lock()) += 1;
        assert_eq!(lock.into_inner(), 1);
    }

    #[test]
    fn owned_guard_unlocks_on_drop() {
        let lock = Arc::new(Lock::new(5));
        let mut guard = block_on(lock.clone().lock_owned());
        *guard += 1;
        assert!(lock.is_locked());
        drop(guard);
        assert_eq!(*lock.try_lock().unwrap(), 6);
    }
}

//! Counting semaphores: [`Semaphore`] and [`BoundedSemaphore`].
//!
//! # Mechanism
//!
//! Both are a [`PermitPool`]: an atomic state word and a [`WaitList`] of
//! acquirers under a mutex. The word holds the free permits (shifted left
//! by one) and a `QUEUED` bit that says "some acquirer may be queued: a
//! release must take the lock". The invariants, kept by doing every change
//! of the list under the lock:
//!
//! - *Queued acquirers exist only while no permit is free*, so a released
//!   permit goes straight to the front waiter (marked notified in its slot)
//!   and reaches the counter only when nobody waits. A late arrival cannot
//!   take a permit a queued waiter is entitled to: service is FIFO.
//! - *`QUEUED` is clear only while no acquirer is queued.* An acquirer that
//!   finds no permit sets the bit with a compare-and-swap that fails if a
//!   permit appeared meanwhile, and queues before it unlocks; a release that
//!   sees the bit goes to the lock and finds the waiter. The bit is cleared
//!   under the lock when the list empties. (Set with an empty list is only a
//!   slower release.)
//!
//! So the uncontended paths are lock-free: `acquire` with a permit free is
//! one CAS, a `release` with nobody queued is one CAS (tokio's semaphore
//! takes its lock on every release). A cancelled acquire that was already
//! handed a permit gives it back through the locked release path, so the
//! next waiter gets it and no permit is lost.
//!
//! [`Lock`](super::Lock) is a one-permit pool plus the protected value.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use spindle_scheduler::loom::Mutex;
use spindle_scheduler::loom::atomic::{AtomicUsize, Ordering};

use super::waitlist::{Removed, WaitList, Waiter, WakeList};

/// Bit 0 of [`PermitPool::state`]: an acquirer may be queued.
const QUEUED: usize = 1;
/// The bits above [`QUEUED`] count free permits.
const PERMIT_SHIFT: u32 = 1;
/// The most permits the state word can count.
const MAX_PERMITS: usize = usize::MAX >> PERMIT_SHIFT;

fn permits(state: usize) -> usize {
    state >> PERMIT_SHIFT
}

/// A permit counter with a FIFO list of acquirers; see the module docs.
#[derive(Debug)]
pub(crate) struct PermitPool {
    /// Free permits `<< PERMIT_SHIFT`, `| QUEUED`.
    state: AtomicUsize,
    waiters: Mutex<WaitList<()>>,
    /// `BoundedSemaphore`'s ceiling on free permits; `MAX_PERMITS` otherwise.
    bound: usize,
}

impl PermitPool {
    /// A pool holding `permits` free permits, never more than `bound`
    /// (`None`: as many as the state word counts).
    ///
    /// # Panics
    ///
    /// If `permits` exceeds `usize::MAX >> 1`.
    pub(crate) fn new(permits: usize, bound: Option<usize>) -> Self {
        assert!(
            permits <= MAX_PERMITS,
            "a semaphore holds at most {MAX_PERMITS} permits"
        );
        PermitPool {
            state: AtomicUsize::new(permits << PERMIT_SHIFT),
            waiters: Mutex::new(WaitList::new()),
            bound: bound.unwrap_or(MAX_PERMITS),
        }
    }

    /// Takes a permit if one is free (and therefore nobody waits).
    pub(crate) fn try_acquire(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        while permits(state) > 0 {
            match self.state.compare_exchange_weak(
                state,
                state - (1 << PERMIT_SHIFT),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => state = actual,
            }
        }
        false
    }

    /// Waits for a permit in FIFO order; the permit is the caller's to
    /// return with [`PermitPool::release`] once the future completes.
    pub(crate) fn acquire(&self) -> Acquire<'_> {
        Acquire {
            pool: self,
            waiter: Waiter::new(),
        }
    }

    /// [`acquire`](PermitPool::acquire) wrapped in a guard that gives the
    /// permit back on drop.
    async fn permit(&self) -> SemaphorePermit<'_> {
        self.acquire().await;
        SemaphorePermit { pool: self }
    }

    /// [`try_acquire`](PermitPool::try_acquire) wrapped like
    /// [`permit`](PermitPool::permit).
    fn try_permit(&self) -> Option<SemaphorePermit<'_>> {
        self.try_acquire().then(|| SemaphorePermit { pool: self })
    }

    /// Free permits.
    pub(crate) fn available(&self) -> usize {
        permits(self.state.load(Ordering::Acquire))
    }

    /// Returns `n` permits, waking the waiters they go to; permits past the
    /// bound are dropped.
    ///
    /// # Panics
    ///
    /// If the free permits would exceed `usize::MAX >> 1`.
    pub(crate) fn release(&self, n: usize) {
        let released = self.give_back(n, false);
        debug_assert!(released.is_ok(), "a lenient release never fails");
    }

    /// Returns one permit unless the free permits are already at the bound.
    fn release_checked(&self) -> Result<(), TooManyReleases> {
        self.give_back(1, true)
    }

    /// The free permits after adding `n` to `free`: capped at the bound, or
    /// an error past it if `strict`.
    fn added(&self, free: usize, n: usize, strict: bool) -> Result<usize, TooManyReleases> {
        let sum = free
            .checked_add(n)
            .filter(|&sum| sum <= MAX_PERMITS)
            .expect("semaphore permit count overflowed");
        match sum > self.bound {
            true if strict => Err(TooManyReleases { bound: self.bound }),
            true => Ok(self.bound),
            false => Ok(sum),
        }
    }

    /// Returns `n` permits: one CAS if nobody is queued, else under the lock.
    fn give_back(&self, n: usize, strict: bool) -> Result<(), TooManyReleases> {
        let mut state = self.state.load(Ordering::Relaxed);
        while state & QUEUED == 0 {
            let new = self.added(permits(state), n, strict)? << PERMIT_SHIFT;
            match self
                .state
                .compare_exchange_weak(state, new, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(actual) => state = actual,
            }
        }
        let mut wakes = WakeList::new();
        let given = self.give_back_locked(&mut self.waiters.lock(), n, strict, &mut wakes);
        wakes.wake_all();
        given
    }

    /// Returns `n` permits with the list locked: to queued waiters first, in
    /// order, then to the counter; clears `QUEUED` if the list is empty.
    /// With `n == 0` it only brings `QUEUED` up to date.
    fn give_back_locked(
        &self,
        waiters: &mut WaitList<()>,
        mut n: usize,
        strict: bool,
        wakes: &mut WakeList,
    ) -> Result<(), TooManyReleases> {
        if strict && n > self.bound {
            // Even with waiters queued (and so no free permit) this is past
            // the bound.
            return Err(TooManyReleases { bound: self.bound });
        }
        while n > 0 && waiters.hand_one((), wakes).is_ok() {
            n -= 1;
        }
        let queued = if waiters.is_empty() { 0 } else { QUEUED };
        // Only lock-free acquires race with us here (releases see `QUEUED`
        // and wait for the lock), and they only take permits.
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            let new = self.added(permits(state), n, strict)? << PERMIT_SHIFT | queued;
            match self
                .state
                .compare_exchange_weak(state, new, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(actual) => state = actual,
            }
        }
    }

    /// With the list locked: takes a free permit, or else sets `QUEUED` so
    /// that releases come to the lock. `true` if a permit was taken.
    fn take_or_announce(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            let (new, took) = match permits(state) {
                0 => (state | QUEUED, false),
                _ => (state - (1 << PERMIT_SHIFT), true),
            };
            match self
                .state
                .compare_exchange_weak(state, new, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return took,
                Err(actual) => state = actual,
            }
        }
    }
}

/// The future of [`PermitPool::acquire`]: completes holding one permit.
/// Dropped after a permit was handed to it, it gives the permit back.
#[derive(Debug)]
pub(crate) struct Acquire<'a> {
    pool: &'a PermitPool,
    waiter: Waiter,
}

impl Future for Acquire<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        // A fresh operation spends cooperative budget, so a task that always
        // finds the semaphore (or lock) ready still yields now and then (see `coop`).
        if !this.waiter.is_registered() {
            std::task::ready!(spindle_scheduler::coop::poll_proceed_in_memory(cx));
        }
        if !this.waiter.is_registered() && this.pool.try_acquire() {
            return Poll::Ready(());
        }
        let mut waiters = this.pool.waiters.lock();
        if this.waiter.is_registered() {
            return this.waiter.poll(&mut waiters, cx).map(drop);
        }
        if this.pool.take_or_announce() {
            return Poll::Ready(());
        }
        this.waiter.register(&mut waiters, None, Some(cx.waker()));
        Poll::Pending
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        if !self.waiter.is_registered() {
            return;
        }
        let mut wakes = WakeList::new();
        {
            let mut waiters = self.pool.waiters.lock();
            let handed = match self.waiter.cancel(&mut waiters) {
                Some(Removed { notified: true, .. }) => 1,
                _ => 0,
            };
            // Passes a handed permit on, and clears `QUEUED` if this was the
            // last waiter.
            let given = self
                .pool
                .give_back_locked(&mut waiters, handed, false, &mut wakes);
            debug_assert!(given.is_ok(), "a lenient release never fails");
        }
        wakes.wake_all();
    }
}

/// A counting semaphore (asyncio's `Semaphore`): [`acquire`](Semaphore::acquire)
/// waits for a permit, the [`SemaphorePermit`] returns it on drop. Waiters
/// are served in FIFO order, and a cancelled `acquire` never loses a permit.
///
/// ```
/// use std::sync::Arc;
/// use spindle::sync::Semaphore;
///
/// spindle::run(async {
///     // At most two downloads at a time.
///     let limit = Arc::new(Semaphore::new(2));
///     let mut tasks = Vec::new();
///     for n in 0..5 {
///         let limit = limit.clone();
///         tasks.push(spindle::spawn(async move {
///             let _permit = limit.acquire().await;
///             n * 10 // the permit is released when `_permit` drops
///         }));
///     }
///     for task in tasks {
///         task.await.unwrap();
///     }
///     assert_eq!(limit.available_permits(), 2);
/// });
/// ```
#[derive(Debug)]
pub struct Semaphore {
    pool: PermitPool,
}

impl Semaphore {
    /// A semaphore with `permits` free permits.
    pub fn new(permits: usize) -> Self {
        Semaphore {
            pool: PermitPool::new(permits, None),
        }
    }

    /// Waits until a permit is free and takes it. Cancel-safe: dropping the
    /// future gives back a permit it had already been handed.
    pub async fn acquire(&self) -> SemaphorePermit<'_> {
        self.pool.permit().await
    }

    /// Takes a permit if one is free right now.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.pool.try_permit()
    }

    /// Like [`acquire`](Semaphore::acquire), for a semaphore in an `Arc`:
    /// the permit owns a reference count instead of borrowing, so it can
    /// move into a `'static` task.
    pub async fn acquire_owned(self: Arc<Self>) -> OwnedSemaphorePermit {
        self.pool.acquire().await;
        OwnedSemaphorePermit { sem: Some(self) }
    }

    /// Like [`try_acquire`](Semaphore::try_acquire), giving an owned permit.
    pub fn try_acquire_owned(self: Arc<Self>) -> Option<OwnedSemaphorePermit> {
        self.pool
            .try_acquire()
            .then(|| OwnedSemaphorePermit { sem: Some(self) })
    }

    /// How many permits are free.
    pub fn available_permits(&self) -> usize {
        self.pool.available()
    }

    /// Adds `n` permits, serving queued waiters first.
    ///
    /// # Panics
    ///
    /// If the number of free permits would overflow `usize`.
    pub fn add_permits(&self, n: usize) {
        self.pool.release(n);
    }

    /// Adds one permit (asyncio's `release`); pairs with
    /// [`SemaphorePermit::forget`].
    pub fn release(&self) {
        self.pool.release(1);
    }
}

/// A semaphore whose free permits may never exceed the initial count
/// (asyncio's `BoundedSemaphore`): a [`release`](BoundedSemaphore::release)
/// past the bound is an error instead of a silent extra permit.
///
/// ```
/// use spindle::sync::BoundedSemaphore;
///
/// spindle::run(async {
///     let sem = BoundedSemaphore::new(1);
///     sem.acquire().await.forget();
///     assert_eq!(sem.release(), Ok(()));
///     assert!(sem.release().is_err(), "a second release exceeds the bound");
/// });
/// ```
#[derive(Debug)]
pub struct BoundedSemaphore {
    pool: PermitPool,
}

impl BoundedSemaphore {
    /// A semaphore with `permits` free permits and at most that many ever.
    pub fn new(permits: usize) -> Self {
        BoundedSemaphore {
            pool: PermitPool::new(permits, Some(permits)),
        }
    }

    /// Waits until a permit is free and takes it; cancel-safe like
    /// [`Semaphore::acquire`].
    pub async fn acquire(&self) -> SemaphorePermit<'_> {
        self.pool.permit().await
    }

    /// Takes a permit if one is free right now.
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        self.pool.try_permit()
    }

    /// How many permits are free.
    pub fn available_permits(&self) -> usize {
        self.pool.available()
    }

    /// Returns one permit taken with [`SemaphorePermit::forget`].
    ///
    /// # Errors
    ///
    /// [`TooManyReleases`] if the free permits are already at the bound
    /// (asyncio raises `ValueError`); nothing changes then.
    pub fn release(&self) -> Result<(), TooManyReleases> {
        self.pool.release_checked()
    }
}

/// One permit of a [`Semaphore`] or [`BoundedSemaphore`], returned when
/// dropped. (A `BoundedSemaphore` already at its bound, because its permits
/// were released by hand, drops the returned permit instead.)
#[must_use = "the permit is released as soon as it is dropped"]
pub struct SemaphorePermit<'a> {
    pool: &'a PermitPool,
}

impl SemaphorePermit<'_> {
    /// Keeps the permit taken for good: dropping no longer returns it. Give
    /// it back later with `release`.
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.pool.release(1);
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit").finish_non_exhaustive()
    }
}

/// A permit of a [`Semaphore`] held through an `Arc`, from
/// [`Semaphore::acquire_owned`]; returned when dropped.
#[must_use = "the permit is released as soon as it is dropped"]
#[derive(Debug)]
pub struct OwnedSemaphorePermit {
    /// `None` only after [`forget`](OwnedSemaphorePermit::forget).
    sem: Option<Arc<Semaphore>>,
}

impl OwnedSemaphorePermit {
    /// Keeps the permit taken for good (see [`SemaphorePermit::forget`]).
    pub fn forget(mut self) {
        self.sem = None;
    }

    /// The semaphore this permit belongs to.
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        self.sem.as_ref().expect("a live permit has its semaphore")
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        if let Some(sem) = &self.sem {
            sem.release();
        }
    }
}

/// [`BoundedSemaphore::release`] would raise the free permits above the
/// initial count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyReleases {
    bound: usize,
}

impl fmt::Display for TooManyReleases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "BoundedSemaphore released too many times (bound is {})",
            self.bound
        )
    }
}

impl std::error::Error for TooManyReleases {}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::pin::pin;

    use super::*;
    use crate::sync::testing::{block_on, counting_waker, poll_once};

    #[test]
    fn waiters_get_permits_in_arrival_order() {
        let sem = Semaphore::new(0);
        let (waker, _) = counting_waker();
        let mut a = pin!(sem.acquire());
        let mut b = pin!(sem.acquire());
        assert!(poll_once(a.as_mut(), &waker).is_pending());
        assert!(poll_once(b.as_mut(), &waker).is_pending());
        sem.release();
        assert!(
            poll_once(b.as_mut(), &waker).is_pending(),
            "b queued after a"
        );
        let permit = match poll_once(a.as_mut(), &waker) {
            Poll::Ready(p) => p,
            Poll::Pending => panic!("a was handed the permit"),
        };
        // A newcomer cannot barge past the still-queued b.
        assert!(sem.try_acquire().is_none());
        drop(permit);
        assert!(poll_once(b.as_mut(), &waker).is_ready());
    }

    #[test]
    fn cancelled_acquire_passes_its_handed_permit_on() {
        let sem = Semaphore::new(0);
        let (waker, woken) = counting_waker();
        let mut a = Box::pin(sem.acquire());
        let mut b = pin!(sem.acquire());
        assert!(poll_once(a.as_mut(), &waker).is_pending());
        assert!(poll_once(b.as_mut(), &waker).is_pending());
        sem.release();
        assert_eq!(woken.count(), 1);
        drop(a);
        assert_eq!(woken.count(), 2, "b is woken with the passed-on permit");
        assert!(poll_once(b.as_mut(), &waker).is_ready());
        assert_eq!(sem.available_permits(), 1, "b's permit came back on drop");
    }

    #[test]
    fn cancelled_acquire_with_no_one_behind_returns_the_permit() {
        let sem = Semaphore::new(0);
        let (waker, _) = counting_waker();
        let mut a = Box::pin(sem.acquire());
        assert!(poll_once(a.as_mut(), &waker).is_pending());
        sem.release();
        drop(a);
        assert_eq!(sem.available_permits(), 1);
    }

    #[test]
    fn failed_try_acquire_changes_nothing() {
        let sem = Semaphore::new(0);
        assert!(sem.try_acquire().is_none());
        assert_eq!(sem.available_permits(), 0);
        let bounded = BoundedSemaphore::new(1);
        let permit = bounded.try_acquire().unwrap();
        assert!(bounded.try_acquire().is_none());
        assert_eq!(bounded.available_permits(), 0);
        drop(permit);
    }

    #[test]
    fn owned_permits_return_on_drop_unless_forgotten() {
        let sem = Arc::new(Semaphore::new(2));
        let a = block_on(sem.clone().acquire_owned());
        let b = sem.clone().try_acquire_owned().unwrap();
        assert!(sem.clone().try_acquire_owned().is_none());
        assert!(Arc::ptr_eq(a.semaphore(), &sem));
        drop(a);
        b.forget();
        assert_eq!(sem.available_permits(), 1);
    }

    #[test]
    fn bounded_semaphore_rejects_release_past_bound() {
        let sem = BoundedSemaphore::new(2);
        assert_eq!(sem.release(), Err(TooManyReleases { bound: 2 }));
        let p = sem.try_acquire().unwrap();
        p.forget();
        assert_eq!(sem.available_permits(), 1);
        assert_eq!(sem.release(), Ok(()));
        assert!(sem.release().is_err());
        assert_eq!(sem.available_permits(), 2);
    }

    #[test]
    fn release_from_plain_thread_wakes_waiter() {
        let sem = Arc::new(Semaphore::new(0));
        let releaser = {
            let sem = sem.clone();
            std::thread::spawn(move || sem.release())
        };
        block_on(sem.acquire()).forget();
        releaser.join().unwrap();
        assert_eq!(sem.available_permits(), 0);
    }
}

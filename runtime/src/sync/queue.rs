//! Queues between tasks with asyncio's semantics: [`Queue`] (FIFO),
//! [`PriorityQueue`] (smallest first) and [`LifoQueue`] (newest first).
//!
//! # Mechanism
//!
//! All three are one [`GenericQueue<T, S>`] over a [`Store`]: the store only
//! orders the items ([`Fifo`], [`Priority`], [`Lifo`]); everything else
//! (bounds, waiting, `task_done`/`join`) is shared. Under one mutex sit the
//! store, the count of unfinished items and three [`WaitList`]s:
//!
//! - *getters*, queued only while the store is empty. A `put` that finds a
//!   getter queued hands its item straight into that getter's slot, so the
//!   item cannot be taken by a later `get_nowait` and getters are served in
//!   FIFO order.
//! - *putters*, queued only while the store is full, each holding its item
//!   in its slot. A `get` that frees a place moves the front putter's item
//!   into the store and notifies that putter: its `put` has completed.
//! - *joiners*, notified together when the unfinished count drops to zero.
//!
//! Cancellation: a `get` dropped after it was handed an item gives the item
//! to the next getter, or back to the front of the store (FIFO) / the store
//! (priority, LIFO), so no item is lost. Two costs, both rare (a get must
//! be cancelled between the hand-over and its next poll): in a bounded queue
//! a give-back may leave the store over `maxsize` (by one item per such get)
//! until it drains, since dropping the item is the only other choice; and
//! items given back by several such gets come out latest-cancelled first.
//! A `put` dropped while queued drops its item
//! (it was never in the queue); a `put` dropped after its item was moved in
//! has completed and the item stays.
//!
//! `unfinished` counts an item from the moment it enters the queue (the
//! store or a getter's hands) until the matching [`task_done`](GenericQueue::task_done).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use spindle_scheduler::loom::Mutex;

use super::waitlist::{Removed, WaitList, Waiter, WakeList};

/// How a queue orders its items. Implement it to make a queue with another
/// order: [`GenericQueue`] does the waiting and counting.
///
/// The methods run with the queue's lock held (as do `T`'s `Ord` methods
/// for [`Priority`]): they must not use the queue.
pub trait Store<T>: Default {
    /// Number of items held.
    fn len(&self) -> usize;
    /// Whether no item is held.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Adds an item.
    fn push(&mut self, item: T);
    /// Takes the next item out.
    fn pop(&mut self) -> Option<T>;
    /// Puts back an item just taken by `pop` (its taker was cancelled), so
    /// that it is the next one out again.
    fn unget(&mut self, item: T);
}

/// First in, first out: the order of [`Queue`].
#[derive(Debug)]
pub struct Fifo<T>(VecDeque<T>);

impl<T> Default for Fifo<T> {
    fn default() -> Self {
        Fifo(VecDeque::new())
    }
}

impl<T> Store<T> for Fifo<T> {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn push(&mut self, item: T) {
        self.0.push_back(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }
    fn unget(&mut self, item: T) {
        self.0.push_front(item);
    }
}

/// Smallest first (a binary min-heap): the order of [`PriorityQueue`].
/// Equal items come out in no particular order.
#[derive(Debug)]
pub struct Priority<T>(BinaryHeap<Reverse<T>>);

impl<T: Ord> Default for Priority<T> {
    fn default() -> Self {
        Priority(BinaryHeap::new())
    }
}

impl<T: Ord> Store<T> for Priority<T> {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn push(&mut self, item: T) {
        self.0.push(Reverse(item));
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop().map(|Reverse(item)| item)
    }
    fn unget(&mut self, item: T) {
        self.push(item);
    }
}

/// Last in, first out (a stack): the order of [`LifoQueue`].
#[derive(Debug)]
pub struct Lifo<T>(Vec<T>);

impl<T> Default for Lifo<T> {
    fn default() -> Self {
        Lifo(Vec::new())
    }
}

impl<T> Store<T> for Lifo<T> {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn push(&mut self, item: T) {
        self.0.push(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    fn unget(&mut self, item: T) {
        self.0.push(item);
    }
}

/// asyncio's `Queue`: first in, first out. See [`GenericQueue`] for the
/// methods.
///
/// ```
/// use std::sync::Arc;
/// use spindle::sync::Queue;
///
/// spindle::run(async {
///     let jobs = Arc::new(Queue::new(2)); // at most 2 items waiting
///     let worker = {
///         let jobs = jobs.clone();
///         spindle::spawn(async move {
///             let mut sum = 0;
///             loop {
///                 let n: u32 = jobs.get().await;
///                 sum += n;
///                 jobs.task_done().unwrap();
///                 if n == 0 {
///                     return sum;
///                 }
///             }
///         })
///     };
///     for n in [3, 2, 1, 0] {
///         jobs.put(n).await; // waits while the queue is full
///     }
///     jobs.join().await; // every item was marked done
///     assert_eq!(worker.await.unwrap(), 6);
/// });
/// ```
pub type Queue<T> = GenericQueue<T, Fifo<T>>;

/// asyncio's `PriorityQueue`: the smallest item first (use
/// `std::cmp::Reverse` for largest first, a `(priority, item)` tuple to order
/// by a key). See [`GenericQueue`] for the methods.
///
/// ```
/// use spindle::sync::PriorityQueue;
///
/// let q = PriorityQueue::new(0);
/// for n in [3, 1, 2] {
///     q.put_nowait(n).unwrap();
/// }
/// assert_eq!(q.get_nowait(), Ok(1));
/// ```
pub type PriorityQueue<T> = GenericQueue<T, Priority<T>>;

/// asyncio's `LifoQueue`: the newest item first. See [`GenericQueue`] for
/// the methods.
///
/// ```
/// use spindle::sync::LifoQueue;
///
/// let q = LifoQueue::new(0);
/// q.put_nowait('a').unwrap();
/// q.put_nowait('b').unwrap();
/// assert_eq!(q.get_nowait(), Ok('b'));
/// ```
pub type LifoQueue<T> = GenericQueue<T, Lifo<T>>;

/// A queue for passing items between tasks, in the order `S` keeps: the
/// shared implementation of [`Queue`], [`PriorityQueue`] and [`LifoQueue`].
///
/// Methods take `&self`; share the queue as `Arc<Queue<T>>`. Getters and
/// blocked putters are served in FIFO order, and a cancelled `get` never
/// loses an item.
pub struct GenericQueue<T, S> {
    maxsize: usize,
    state: Mutex<QueueState<T, S>>,
}

struct QueueState<T, S> {
    store: S,
    /// Items put and not yet marked done.
    unfinished: usize,
    getters: WaitList<T>,
    putters: WaitList<T>,
    joiners: WaitList<()>,
}

impl<T, S: Store<T>> QueueState<T, S> {
    fn is_full(&self, maxsize: usize) -> bool {
        maxsize > 0 && self.store.len() >= maxsize
    }

    /// Accepts `item` if a getter waits or there is room; gives it back if
    /// the queue is full.
    fn offer(&mut self, item: T, maxsize: usize, wakes: &mut WakeList) -> Result<(), T> {
        debug_assert!(
            self.getters.is_empty() || self.store.is_empty(),
            "getters queue only on an empty store"
        );
        let item = match self.getters.hand_one(item, wakes) {
            Ok(()) => {
                self.unfinished += 1;
                return Ok(());
            }
            Err(item) => item,
        };
        if self.is_full(maxsize) {
            return Err(item);
        }
        self.store.push(item);
        self.unfinished += 1;
        Ok(())
    }

    /// Takes the next item and lets the front blocked putter in behind it.
    fn take(&mut self, maxsize: usize, wakes: &mut WakeList) -> Option<T> {
        let item = self.store.pop()?;
        if !self.is_full(maxsize)
            && let Some(admitted) = self.putters.take_one(wakes)
        {
            self.store.push(admitted);
            self.unfinished += 1;
        }
        Some(item)
    }

    /// Re-delivers an item handed to a getter that was then cancelled.
    fn give_back(&mut self, item: T, wakes: &mut WakeList) {
        if let Err(item) = self.getters.hand_one(item, wakes) {
            self.store.unget(item);
        }
    }
}

impl<T, S: Store<T>> GenericQueue<T, S> {
    /// An empty queue holding at most `maxsize` items; `0` means unbounded.
    pub fn new(maxsize: usize) -> Self {
        GenericQueue {
            maxsize,
            state: Mutex::new(QueueState {
                store: S::default(),
                unfinished: 0,
                getters: WaitList::new(),
                putters: WaitList::new(),
                joiners: WaitList::new(),
            }),
        }
    }

    /// The bound given to [`new`](GenericQueue::new) (`0`: unbounded).
    pub fn maxsize(&self) -> usize {
        self.maxsize
    }

    /// Number of items in the queue.
    pub fn qsize(&self) -> usize {
        self.state.lock().store.len()
    }

    /// Whether the queue holds no item.
    pub fn is_empty(&self) -> bool {
        self.state.lock().store.is_empty()
    }

    /// Whether the queue holds `maxsize` items (never, if unbounded).
    pub fn is_full(&self) -> bool {
        self.state.lock().is_full(self.maxsize)
    }

    /// Puts `item` in the queue, waiting while it is full (behind the
    /// putters that were already waiting). If the future is dropped before
    /// the item got in, the item is dropped with it.
    pub async fn put(&self, item: T) {
        Put {
            queue: self,
            item: Some(item),
            waiter: Waiter::new(),
        }
        .await
    }

    /// Puts `item` in the queue if it is not full. Callable from any thread.
    ///
    /// # Errors
    ///
    /// [`QueueFull`] holding the item if the queue is full.
    pub fn put_nowait(&self, item: T) -> Result<(), QueueFull<T>> {
        let mut wakes = WakeList::new();
        let offered = self.state.lock().offer(item, self.maxsize, &mut wakes);
        wakes.wake_all();
        offered.map_err(QueueFull)
    }

    /// Takes the next item, waiting until there is one. Cancel-safe: if the
    /// future is dropped after an item was handed to it, the item goes to
    /// the next getter or back into the queue.
    pub async fn get(&self) -> T {
        Get {
            queue: self,
            waiter: Waiter::new(),
        }
        .await
    }

    /// Takes the next item if there is one.
    ///
    /// # Errors
    ///
    /// [`QueueEmpty`] if the queue holds no item.
    pub fn get_nowait(&self) -> Result<T, QueueEmpty> {
        let mut wakes = WakeList::new();
        let item = self.state.lock().take(self.maxsize, &mut wakes);
        wakes.wake_all();
        item.ok_or(QueueEmpty)
    }

    /// Marks one item taken from the queue as processed, for
    /// [`join`](GenericQueue::join).
    ///
    /// # Errors
    ///
    /// [`TooManyTaskDone`] if every item put was already marked done
    /// (asyncio raises `ValueError`); nothing changes then.
    pub fn task_done(&self) -> Result<(), TooManyTaskDone> {
        let mut wakes = WakeList::new();
        {
            let mut st = self.state.lock();
            if st.unfinished == 0 {
                return Err(TooManyTaskDone);
            }
            st.unfinished -= 1;
            if st.unfinished == 0 {
                st.joiners.notify_all(&mut wakes);
            }
        }
        wakes.wake_all();
        Ok(())
    }

    /// Waits until every item put in the queue has been marked done with
    /// [`task_done`](GenericQueue::task_done); completes at once if none is
    /// pending.
    pub async fn join(&self) {
        Join {
            queue: self,
            waiter: Waiter::new(),
        }
        .await
    }
}

impl<T, S: Store<T>> fmt::Debug for GenericQueue<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.state.lock();
        f.debug_struct("Queue")
            .field("maxsize", &self.maxsize)
            .field("qsize", &st.store.len())
            .field("unfinished", &st.unfinished)
            .finish_non_exhaustive()
    }
}

struct Put<'a, T, S> {
    queue: &'a GenericQueue<T, S>,
    item: Option<T>,
    waiter: Waiter,
}

// `item` is only ever moved out, never pinned: `Put` is `Unpin` whatever `T` is.
impl<T, S> Unpin for Put<'_, T, S> {}

impl<T, S: Store<T>> Future for Put<'_, T, S> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        // A fresh operation spends cooperative budget, so a task that always
        // finds the queue ready still yields now and then (see `coop`).
        if !this.waiter.is_registered() {
            std::task::ready!(spindle_scheduler::coop::poll_proceed(cx));
        }
        let mut wakes = WakeList::new();
        let mut st = this.queue.state.lock();
        if this.waiter.is_registered() {
            return this.waiter.poll(&mut st.putters, cx).map(drop);
        }
        let item = this.item.take().expect("Put polled after completion");
        match st.offer(item, this.queue.maxsize, &mut wakes) {
            Ok(()) => {
                drop(st);
                wakes.wake_all();
                Poll::Ready(())
            }
            Err(item) => {
                this.waiter
                    .register(&mut st.putters, Some(item), Some(cx.waker()));
                Poll::Pending
            }
        }
    }
}

impl<T, S> Drop for Put<'_, T, S> {
    fn drop(&mut self) {
        if self.waiter.is_registered() {
            // A queued putter takes its item back; drop it outside the lock.
            let removed = self.waiter.cancel(&mut self.queue.state.lock().putters);
            drop(removed);
        }
    }
}

struct Get<'a, T, S: Store<T>> {
    queue: &'a GenericQueue<T, S>,
    waiter: Waiter,
}

impl<T, S: Store<T>> Future for Get<'_, T, S> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        // A fresh operation spends cooperative budget, so a task that always
        // finds the queue ready still yields now and then (see `coop`).
        if !this.waiter.is_registered() {
            std::task::ready!(spindle_scheduler::coop::poll_proceed(cx));
        }
        let mut wakes = WakeList::new();
        let mut st = this.queue.state.lock();
        if this.waiter.is_registered() {
            return this
                .waiter
                .poll(&mut st.getters, cx)
                .map(|item| item.expect("a getter is notified with an item"));
        }
        match st.take(this.queue.maxsize, &mut wakes) {
            Some(item) => {
                drop(st);
                wakes.wake_all();
                Poll::Ready(item)
            }
            None => {
                this.waiter
                    .register(&mut st.getters, None, Some(cx.waker()));
                Poll::Pending
            }
        }
    }
}

impl<T, S: Store<T>> Drop for Get<'_, T, S> {
    fn drop(&mut self) {
        if !self.waiter.is_registered() {
            return;
        }
        let mut wakes = WakeList::new();
        {
            let mut st = self.queue.state.lock();
            if let Some(Removed {
                notified: true,
                value: Some(item),
            }) = self.waiter.cancel(&mut st.getters)
            {
                st.give_back(item, &mut wakes);
            }
        }
        wakes.wake_all();
    }
}

struct Join<'a, T, S> {
    queue: &'a GenericQueue<T, S>,
    waiter: Waiter,
}

impl<T, S> Future for Join<'_, T, S> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut st = this.queue.state.lock();
        if this.waiter.is_registered() {
            return this.waiter.poll(&mut st.joiners, cx).map(drop);
        }
        if st.unfinished == 0 {
            return Poll::Ready(());
        }
        this.waiter
            .register(&mut st.joiners, None, Some(cx.waker()));
        Poll::Pending
    }
}

impl<T, S> Drop for Join<'_, T, S> {
    fn drop(&mut self) {
        if self.waiter.is_registered() {
            self.waiter.cancel(&mut self.queue.state.lock().joiners);
        }
    }
}

/// [`GenericQueue::put_nowait`] found the queue full; holds the item.
#[derive(Clone, PartialEq, Eq)]
pub struct QueueFull<T>(T);

impl<T> QueueFull<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for QueueFull<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("QueueFull(..)")
    }
}

impl<T> fmt::Display for QueueFull<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue is full")
    }
}

impl<T> std::error::Error for QueueFull<T> {}

/// [`GenericQueue::get_nowait`] found the queue empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueEmpty;

impl fmt::Display for QueueEmpty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue is empty")
    }
}

impl std::error::Error for QueueEmpty {}

/// [`GenericQueue::task_done`] was called more times than items were put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyTaskDone;

impl fmt::Display for TooManyTaskDone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done() called too many times")
    }
}

impl std::error::Error for TooManyTaskDone {}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::pin::pin;
    use std::sync::Arc;

    use super::*;
    use crate::sync::testing::{block_on, counting_waker, poll_once};

    #[test]
    fn nowait_operations_respect_maxsize_and_order() {
        let q = Queue::new(2);
        q.put_nowait(1).unwrap();
        q.put_nowait(2).unwrap();
        assert!(q.is_full());
        assert_eq!(q.put_nowait(3).unwrap_err().into_inner(), 3);
        assert_eq!(q.get_nowait(), Ok(1));
        assert_eq!(q.get_nowait(), Ok(2));
        assert_eq!(q.get_nowait(), Err(QueueEmpty));
        let lifo = LifoQueue::new(0);
        let prio = PriorityQueue::new(0);
        for n in [2, 3, 1] {
            lifo.put_nowait(n).unwrap();
            prio.put_nowait(n).unwrap();
        }
        let drain = |get: &dyn Fn() -> Result<i32, QueueEmpty>| {
            (0..3).map(|_| get().unwrap()).collect::<Vec<_>>()
        };
        assert_eq!(drain(&|| lifo.get_nowait()), [1, 3, 2]);
        assert_eq!(drain(&|| prio.get_nowait()), [1, 2, 3]);
    }

    #[test]
    fn getters_are_served_in_arrival_order() {
        let q = Queue::new(0);
        let (waker, _) = counting_waker();
        let mut a = pin!(q.get());
        let mut b = pin!(q.get());
        assert!(poll_once(a.as_mut(), &waker).is_pending());
        assert!(poll_once(b.as_mut(), &waker).is_pending());
        q.put_nowait('x').unwrap();
        q.put_nowait('y').unwrap();
        assert_eq!(poll_once(b.as_mut(), &waker), Poll::Ready('y'));
        assert_eq!(poll_once(a.as_mut(), &waker), Poll::Ready('x'));
    }

    #[test]
    fn cancelled_getter_passes_its_item_to_the_next_getter() {
        let q = Queue::new(0);
        let (waker, _) = counting_waker();
        let mut a = Box::pin(q.get());
        let mut b = pin!(q.get());
        assert!(poll_once(a.as_mut(), &waker).is_pending());
        assert!(poll_once(b.as_mut(), &waker).is_pending());
        q.put_nowait(7).unwrap();
        drop(a);
        assert_eq!(poll_once(b.as_mut(), &waker), Poll::Ready(7));
    }

    #[test]
    fn cancelled_getter_puts_its_item_back_at_the_front() {
        let q = Queue::new(0);
        let (waker, _) = counting_waker();
        let mut a = Box::pin(q.get());
        assert!(poll_once(a.as_mut(), &waker).is_pending());
        q.put_nowait(1).unwrap();
        q.put_nowait(2).unwrap();
        drop(a);
        assert_eq!(q.get_nowait(), Ok(1));
        assert_eq!(q.get_nowait(), Ok(2));
    }

    #[test]
    fn blocked_putters_enter_in_order_as_room_frees() {
        let q = Queue::new(1);
        let (waker, woken) = counting_waker();
        q.put_nowait(0).unwrap();
        let mut a = pin!(q.put(1));
        let mut b = pin!(q.put(2));
        assert!(poll_once(a.as_mut(), &waker).is_pending());
        assert!(poll_once(b.as_mut(), &waker).is_pending());
        assert_eq!(q.get_nowait(), Ok(0));
        assert_eq!(woken.count(), 1);
        assert!(poll_once(a.as_mut(), &waker).is_ready());
        assert!(poll_once(b.as_mut(), &waker).is_pending());
        let mut c = Box::pin(q.put(3));
        assert!(poll_once(c.as_mut(), &waker).is_pending());
        drop(c);
        assert_eq!(q.get_nowait(), Ok(1));
        assert!(poll_once(b.as_mut(), &waker).is_ready());
        assert_eq!(q.get_nowait(), Ok(2));
        assert_eq!(
            q.get_nowait(),
            Err(QueueEmpty),
            "the cancelled put's item never entered"
        );
    }

    #[test]
    fn join_waits_for_every_task_done() {
        let q = Queue::new(0);
        let (waker, _) = counting_waker();
        assert!(poll_once(pin!(q.join()), &waker).is_ready());
        q.put_nowait('a').unwrap();
        q.put_nowait('b').unwrap();
        let mut join = pin!(q.join());
        assert!(poll_once(join.as_mut(), &waker).is_pending());
        q.get_nowait().unwrap();
        q.get_nowait().unwrap();
        assert!(
            poll_once(join.as_mut(), &waker).is_pending(),
            "taken is not done"
        );
        q.task_done().unwrap();
        assert!(poll_once(join.as_mut(), &waker).is_pending());
        q.task_done().unwrap();
        assert!(poll_once(join.as_mut(), &waker).is_ready());
        assert_eq!(q.task_done(), Err(TooManyTaskDone));
    }

    #[test]
    fn put_nowait_from_a_plain_thread_wakes_a_getter() {
        let q = Arc::new(Queue::new(0));
        let putter = {
            let q = q.clone();
            std::thread::spawn(move || q.put_nowait(String::from("hi")).unwrap())
        };
        assert_eq!(block_on(q.get()), "hi");
        putter.join().unwrap();
    }
}

//! Queues between tasks with asyncio's semantics: [`Queue`] (FIFO),
//! [`PriorityQueue`] (smallest first) and [`LifoQueue`] (newest first).
//!
//! # Mechanism
//!
//! All three are one [`GenericQueue<T, S>`] over a [`Store`]: the store only
//! orders the items ([`Fifo`], [`Priority`], [`Lifo`]); everything else
//! (bounds, waiting, `task_done`/`join`) is shared. The queue has two halves
//! that take different locks, so that a put or a get that need not wait
//! takes none of the waiters' lock:
//!
//! - the *items*. A [`Queue`] keeps them in a lock-free ring (`ring.rs`:
//!   crossbeam's `ArrayQueue`, or `SegQueue` when unbounded), so a producer
//!   and a consumer on two cores share a slot's cache line and nothing
//!   else. The store (a `Fifo`) then only holds items given back by
//!   cancelled gets, which come out first. A priority or LIFO queue, or a
//!   FIFO one bounded above [`RING_MAX`], keeps every item in its store
//!   under a short lock of its own.
//! - the *waiters*, under one mutex: three [`WaitList`]s — *getters*
//!   (queued while the queue is empty), *putters* (queued while it is full,
//!   each holding its item) and *joiners* (woken when the unfinished count
//!   drops to zero) — mirrored by two atomic counters, `getters_waiting`
//!   and `putters_waiting`, that the fast path reads.
//!
//! ## The protocol
//!
//! 1. **put**: if no putter waits, push the item (counted unfinished
//!    first); then, if a getter waits, lock and *settle*. Full, or putters
//!    waiting: the slow path.
//! 2. **get**: if no getter waits, pop; then, if a putter waits, lock and
//!    settle. Empty, or getters waiting: the slow path.
//! 3. **slow path** (under the lock): *announce* (`getters_waiting += 1`,
//!    resp. `putters_waiting += 1`), `SeqCst` fence, and if nobody of its
//!    kind is queued ahead, try the pop (push) once more; if that fails
//!    too, queue.
//! 4. **settle** (under the lock): hand items from the ring to the front
//!    getters, and move the front putters' items into the ring, until
//!    neither can move (each pop may make room for a putter, each push give
//!    a getter an item).
//!
//! *No wakeup is lost* (store buffering, as in Dekker's algorithm). A
//! getter that queues has announced, fenced and then found the ring empty;
//! a putter has pushed and then read the counter. The push moved the ring's
//! tail with a `SeqCst` CAS and the read is `SeqCst`, so in the single
//! order of `SeqCst` operations either the read comes after the
//! announcement, and sees it, or the CAS comes before the getter's fence,
//! and the getter's pop, which reports empty only after a fence and a look
//! at the tail, finds the item. In the first case the putter settles under
//! the lock, after the getter queued, so it finds it. The same argument,
//! with a pop's `SeqCst` head CAS and a full push, covers putters. The fast
//! path needs no fence of its own: an `mfence` per operation cost 25% of
//! the single-core throughput. `ring.rs` states what it relies on from the
//! ring; the locked store gives the same through its lock.
//!
//! *Nobody starves.* A get reads `getters_waiting` first and queues behind
//! any announced getter instead of taking an item; a put does the same
//! with putters; settle serves both lists front first. The only items that
//! skip a queued waiter are taken by an operation that read the counter
//! before the waiter announced: at most one per concurrent operation, once.
//! So the old "an item put while a getter waits goes straight to that
//! getter" is relaxed to "the item goes to the ring's back and the front
//! getter is handed the ring's front". Items still come out in FIFO order.
//! `put_nowait` reports [`QueueFull`] while putters wait (the free place is
//! theirs) and `get_nowait` reports [`QueueEmpty`] while getters wait.
//!
//! *Cancellation.* A `get` dropped after it was handed an item gives the
//! item to the next getter, or to the store, whose items come out before
//! the ring's (the front), so no item is lost. Two costs, both rare (a get
//! must be cancelled between the hand-over and its next poll): a give-back
//! may leave the queue over `maxsize` (by one item per such get) until it
//! drains, since dropping the item is the only other choice; and items
//! given back by several such gets come out latest-cancelled first. A
//! `put` dropped while queued drops its item (it was never in the queue);
//! a `put` dropped after its item was moved in has completed and the item
//! stays.
//!
//! `unfinished` is an atomic counting an item from just before it enters
//! the queue (so a getter's `task_done` always finds it counted; a push
//! that fails takes it back out) until the matching
//! [`task_done`](GenericQueue::task_done). Whoever brings it to zero takes
//! the waiters' lock and wakes the joiners if it is still zero; a `join`
//! checks it and queues under the same lock, so none is missed.
//!
//! Measured on `queue/native_4p1c` (4 producer tasks and 1 consumer task
//! move 100 000 items through `Queue::new(1024)`, 2 workers, both busy):
//! with one mutex over everything, ~60% of the CPU samples sat on the
//! lock's cache line (the lock CAS in the put/get polls and parking_lot's
//! spin), while only 2–7% of the puts and 0.1% of the gets had to wait and
//! the process switched context ~150 times per run (as many as now): the
//! cost was the lock, not wake-ups. 16.5 ms per run then, 8.4 ms with this design, tokio's `mpsc`
//! 12.8 ms.
//!
//! # Rejected alternatives
//!
//! - One mutex over items and waiters (the previous design): a cache-line
//!   transfer and often a spin per operation in parallel mode.
//! - Waking a getter to race for the item instead of handing it one: a
//!   cancelled get would then have nothing to pass on, but every wake-up
//!   could find the ring emptied by a newcomer, and fairness would need the
//!   same counters anyway.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crossbeam_utils::CachePadded;
use spindle_scheduler::loom::Mutex;
use spindle_scheduler::loom::atomic::{AtomicUsize, Ordering, fence};

use super::ring::Ring;
use super::waitlist::{Removed, WaitList, Waiter, WakeList};

/// The largest bound for which a [`Queue`] keeps its items in a lock-free
/// ring. The ring allocates its slots up front (64 Ki slots of a `usize`
/// item take 1 MiB); a larger bound keeps the items in the store, which
/// grows as it fills.
const RING_MAX: usize = 1 << 16;

/// How a queue orders its items. Implement it to make a queue with another
/// order: [`GenericQueue`] does the waiting and counting.
///
/// The methods run with the store's lock held (as do `T`'s `Ord` methods
/// for [`Priority`]): they must not use the queue.
pub trait Store<T>: Default {
    /// Whether this is [`Fifo`]: its queue keeps the items in a lock-free
    /// ring and the store holds only items given back by cancelled gets.
    #[doc(hidden)]
    const FIFO: bool = false;

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
    const FIFO: bool = true;
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
    items: Items<T, S>,
    /// Getters queued in `waiters.getters`, plus one while a getter on the
    /// slow path has announced itself and not yet queued. Changed only under
    /// the waiters' lock.
    getters_waiting: AtomicUsize,
    /// The same for putters.
    putters_waiting: AtomicUsize,
    /// Items put and not yet marked done. On a cache line of its own: every
    /// put writes it, and a consumer's reads of the two counters above must
    /// not miss because of that.
    unfinished: CachePadded<AtomicUsize>,
    waiters: Mutex<Waiters<T>>,
}

struct Waiters<T> {
    getters: WaitList<T>,
    putters: WaitList<T>,
    joiners: WaitList<()>,
}

/// Where a queue keeps its items (see the module docs).
struct Items<T, S> {
    /// A FIFO queue's items; `None` for the other stores and above
    /// [`RING_MAX`].
    ring: Option<Ring<T>>,
    /// With a ring, the items given back by cancelled gets, which come out
    /// first; without one, every item.
    store: Mutex<S>,
    /// `store.len()`, written under the store's lock, so that a pop skips
    /// that lock while no item was given back.
    stored: AtomicUsize,
}

impl<T, S: Store<T>> Items<T, S> {
    fn new(maxsize: usize) -> Self {
        Items {
            ring: (S::FIFO && maxsize <= RING_MAX).then(|| Ring::new(maxsize)),
            store: Mutex::new(S::default()),
            stored: AtomicUsize::new(0),
        }
    }

    /// Adds `item`, or gives it back if `maxsize` items are held (the store
    /// counts given-back items, the ring does not: they are already over).
    #[inline(always)]
    fn push(&self, item: T, maxsize: usize) -> Result<(), T> {
        match &self.ring {
            Some(ring) => ring.push(item),
            None => self.push_store(item, maxsize),
        }
    }

    /// Takes the next item out: a given-back one first.
    #[inline(always)]
    fn pop(&self) -> Option<T> {
        match &self.ring {
            Some(ring) if self.stored.load(Ordering::Relaxed) == 0 => ring.pop(),
            _ => self.pop_store(),
        }
    }

    // The store's paths stay out of line: inlined, their lock made the
    // ring's fast path save and restore every register (a third of a
    // pop's time in one build). The forwarding steps of the fast paths
    // (`try_put` → `enter` → `push` → the ring) are `inline(always)`:
    // left to LLVM, whichever one it kept out of line moved from build to
    // build and cost 10–15% of a put.
    #[inline(never)]
    fn push_store(&self, item: T, maxsize: usize) -> Result<(), T> {
        let mut store = self.store.lock();
        if maxsize > 0 && store.len() >= maxsize {
            return Err(item);
        }
        store.push(item);
        self.stored.store(store.len(), Ordering::Relaxed);
        Ok(())
    }

    #[inline(never)]
    fn pop_store(&self) -> Option<T> {
        let mut store = self.store.lock();
        if let Some(item) = store.pop() {
            self.stored.store(store.len(), Ordering::Relaxed);
            return Some(item);
        }
        drop(store);
        self.ring.as_ref()?.pop()
    }

    /// Puts back an item that a cancelled get was handed, to come out next.
    fn unget(&self, item: T) {
        let mut store = self.store.lock();
        store.unget(item);
        self.stored.store(store.len(), Ordering::Relaxed);
    }

    fn len(&self) -> usize {
        self.stored.load(Ordering::Relaxed) + self.ring.as_ref().map_or(0, Ring::len)
    }
}

/// An item that found the queue full, and whether taking back its
/// unfinished count brought the count to zero (the joiners must be woken).
struct Refused<T> {
    item: T,
    drained: bool,
}

impl<T, S: Store<T>> GenericQueue<T, S> {
    /// An empty queue holding at most `maxsize` items; `0` means unbounded.
    pub fn new(maxsize: usize) -> Self {
        GenericQueue {
            maxsize,
            items: Items::new(maxsize),
            getters_waiting: AtomicUsize::new(0),
            putters_waiting: AtomicUsize::new(0),
            unfinished: CachePadded::new(AtomicUsize::new(0)),
            waiters: Mutex::new(Waiters {
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
        self.items.len()
    }

    /// Whether the queue holds no item.
    pub fn is_empty(&self) -> bool {
        self.qsize() == 0
    }

    /// Whether the queue holds `maxsize` items (never, if unbounded).
    pub fn is_full(&self) -> bool {
        self.maxsize > 0 && self.qsize() >= self.maxsize
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

    /// Puts `item` in the queue if it is not full and no `put` is waiting
    /// for room. Callable from any thread.
    ///
    /// # Errors
    ///
    /// [`QueueFull`] holding the item if the queue is full.
    pub fn put_nowait(&self, item: T) -> Result<(), QueueFull<T>> {
        match self.try_put(item) {
            Ok(()) => Ok(()),
            Err(Refused { item, drained }) => {
                if drained {
                    self.wake_joiners_now();
                }
                Err(QueueFull(item))
            }
        }
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

    /// Takes the next item if there is one and no `get` is waiting for it.
    ///
    /// # Errors
    ///
    /// [`QueueEmpty`] if the queue holds no item.
    pub fn get_nowait(&self) -> Result<T, QueueEmpty> {
        self.try_get().ok_or(QueueEmpty)
    }

    /// Marks one item taken from the queue as processed, for
    /// [`join`](GenericQueue::join).
    ///
    /// # Errors
    ///
    /// [`TooManyTaskDone`] if every item put was already marked done
    /// (asyncio raises `ValueError`); nothing changes then.
    pub fn task_done(&self) -> Result<(), TooManyTaskDone> {
        let mut n = self.unfinished.load(Ordering::Relaxed);
        loop {
            if n == 0 {
                return Err(TooManyTaskDone);
            }
            match self.unfinished.compare_exchange_weak(
                n,
                n - 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => n = now,
            }
        }
        if n == 1 {
            self.wake_joiners_now();
        }
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

    /// The fast put: pushes `item` unless putters wait (the room is
    /// theirs), then settles if a getter waits.
    #[inline(always)]
    fn try_put(&self, item: T) -> Result<(), Refused<T>> {
        if self.putters_waiting.load(Ordering::Relaxed) > 0 {
            return Err(Refused {
                item,
                drained: false,
            });
        }
        self.enter(item)?;
        // `SeqCst`, after the push's `SeqCst` CAS: pairs with the fence in
        // `get_slow`, so either that getter's last pop finds this item or
        // this load finds the getter announced (see the module docs).
        if self.getters_waiting.load(Ordering::SeqCst) > 0 {
            self.settle_now();
        }
        Ok(())
    }

    /// The fast get: pops unless getters wait (the items are theirs), then
    /// settles if a putter waits.
    #[inline(always)]
    fn try_get(&self) -> Option<T> {
        if self.getters_waiting.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let item = self.items.pop()?;
        // `SeqCst`, after the pop's `SeqCst` CAS: pairs with the fence in
        // `put_slow`, so either that putter's last push finds the room this
        // pop made or this load finds the putter announced.
        if self.putters_waiting.load(Ordering::SeqCst) > 0 {
            self.settle_now();
        }
        Some(item)
    }

    /// Counts `item` unfinished and pushes it. Counting first means a getter
    /// that pops it and calls `task_done` at once finds it counted.
    #[inline(always)]
    fn enter(&self, item: T) -> Result<(), Refused<T>> {
        self.unfinished.fetch_add(1, Ordering::Relaxed);
        self.items.push(item, self.maxsize).map_err(|item| Refused {
            item,
            drained: self.unfinished.fetch_sub(1, Ordering::AcqRel) == 1,
        })
    }

    /// The slow put, under the waiters' lock: announce, try once more unless
    /// putters are queued ahead, else queue with the item.
    fn put_slow(&self, item: T, waiter: &mut Waiter, cx: &Context<'_>) -> Poll<()> {
        let mut wakes = WakeList::new();
        let mut w = self.waiters.lock();
        self.putters_waiting.fetch_add(1, Ordering::SeqCst);
        let item = if w.putters.is_empty() {
            fence(Ordering::SeqCst);
            match self.enter(item) {
                Ok(()) => {
                    self.putters_waiting.fetch_sub(1, Ordering::Relaxed);
                    self.settle(&mut w, &mut wakes);
                    drop(w);
                    wakes.wake_all();
                    return Poll::Ready(());
                }
                Err(Refused { item, drained }) => {
                    if drained {
                        self.wake_joiners(&mut w, &mut wakes);
                    }
                    item
                }
            }
        } else {
            item
        };
        waiter.register(&mut w.putters, Some(item), Some(cx.waker()));
        drop(w);
        wakes.wake_all();
        Poll::Pending
    }

    /// The slow get, under the waiters' lock: announce, try once more unless
    /// getters are queued ahead, else queue.
    fn get_slow(&self, waiter: &mut Waiter, cx: &Context<'_>) -> Poll<T> {
        let mut w = self.waiters.lock();
        self.getters_waiting.fetch_add(1, Ordering::SeqCst);
        if w.getters.is_empty() {
            fence(Ordering::SeqCst);
            if let Some(item) = self.items.pop() {
                self.getters_waiting.fetch_sub(1, Ordering::Relaxed);
                let mut wakes = WakeList::new();
                self.settle(&mut w, &mut wakes);
                drop(w);
                wakes.wake_all();
                return Poll::Ready(item);
            }
        }
        waiter.register(&mut w.getters, None, Some(cx.waker()));
        Poll::Pending
    }

    fn settle_now(&self) {
        let mut wakes = WakeList::new();
        self.settle(&mut self.waiters.lock(), &mut wakes);
        wakes.wake_all();
    }

    /// Hands items to the queued getters and moves the queued putters' items
    /// in, front first, until neither can move: a pop for a getter may make
    /// room for a putter, whose item may serve the next getter.
    fn settle(&self, w: &mut Waiters<T>, wakes: &mut WakeList) {
        loop {
            let mut moved = false;
            while w.getters.hand_one_from(|| self.items.pop(), wakes) {
                self.getters_waiting.fetch_sub(1, Ordering::Relaxed);
                moved = true;
            }
            let mut drained = false;
            let mut admit = |item| {
                self.enter(item).map_err(|refused| {
                    drained |= refused.drained;
                    refused.item
                })
            };
            while w.putters.take_one_into(&mut admit, wakes) {
                self.putters_waiting.fetch_sub(1, Ordering::Relaxed);
                moved = true;
            }
            if drained {
                self.wake_joiners(w, wakes);
            }
            if !moved {
                return;
            }
        }
    }

    /// Re-delivers an item handed to a getter that was then cancelled.
    fn give_back(&self, w: &mut Waiters<T>, item: T, wakes: &mut WakeList) {
        match w.getters.hand_one(item, wakes) {
            Ok(()) => {
                self.getters_waiting.fetch_sub(1, Ordering::Relaxed);
            }
            Err(item) => self.items.unget(item),
        }
    }

    /// Wakes the joiners if nothing is unfinished; under the waiters' lock,
    /// which `join` checks the count and queues under.
    fn wake_joiners(&self, w: &mut Waiters<T>, wakes: &mut WakeList) {
        if self.unfinished.load(Ordering::Acquire) == 0 {
            w.joiners.notify_all(wakes);
        }
    }

    fn wake_joiners_now(&self) {
        let mut wakes = WakeList::new();
        self.wake_joiners(&mut self.waiters.lock(), &mut wakes);
        wakes.wake_all();
    }
}

impl<T, S: Store<T>> fmt::Debug for GenericQueue<T, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("maxsize", &self.maxsize)
            .field("qsize", &self.qsize())
            .field("unfinished", &self.unfinished.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

struct Put<'a, T, S: Store<T>> {
    queue: &'a GenericQueue<T, S>,
    item: Option<T>,
    waiter: Waiter,
}

// `item` is only ever moved out, never pinned: `Put` is `Unpin` whatever `T` is.
impl<T, S: Store<T>> Unpin for Put<'_, T, S> {}

impl<T, S: Store<T>> Future for Put<'_, T, S> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.waiter.is_registered() {
            return this
                .waiter
                .poll(&mut this.queue.waiters.lock().putters, cx)
                .map(drop);
        }
        // A fresh operation spends cooperative budget, so a task that always
        // finds the queue ready still yields now and then (see `coop`).
        std::task::ready!(spindle_scheduler::coop::poll_proceed_in_memory(cx));
        let item = this.item.take().expect("Put polled after completion");
        match this.queue.try_put(item) {
            Ok(()) => Poll::Ready(()),
            Err(Refused { item, drained }) => {
                if drained {
                    this.queue.wake_joiners_now();
                }
                this.queue.put_slow(item, &mut this.waiter, cx)
            }
        }
    }
}

impl<T, S: Store<T>> Drop for Put<'_, T, S> {
    // Inline, so that dropping a put that never waited (nearly every one)
    // costs one test where it is awaited.
    #[inline]
    fn drop(&mut self) {
        if self.waiter.is_registered() {
            self.leave();
        }
    }
}

impl<T, S: Store<T>> Put<'_, T, S> {
    /// Takes a waiting put off the putters' list (it is being dropped).
    #[inline(never)]
    fn leave(&mut self) {
        let removed = {
            let mut w = self.queue.waiters.lock();
            let removed = self.waiter.cancel(&mut w.putters);
            if let Some(Removed {
                notified: false, ..
            }) = removed
            {
                self.queue.putters_waiting.fetch_sub(1, Ordering::Relaxed);
            }
            removed
        };
        // A queued putter takes its item back; drop it outside the lock.
        drop(removed);
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
        if this.waiter.is_registered() {
            return this
                .waiter
                .poll(&mut this.queue.waiters.lock().getters, cx)
                .map(|item| item.expect("a getter is notified with an item"));
        }
        // A fresh operation spends cooperative budget, so a task that always
        // finds the queue ready still yields now and then (see `coop`).
        std::task::ready!(spindle_scheduler::coop::poll_proceed_in_memory(cx));
        match this.queue.try_get() {
            Some(item) => Poll::Ready(item),
            None => this.queue.get_slow(&mut this.waiter, cx),
        }
    }
}

impl<T, S: Store<T>> Drop for Get<'_, T, S> {
    // Inline for the same reason as `Put`'s.
    #[inline]
    fn drop(&mut self) {
        if self.waiter.is_registered() {
            self.leave();
        }
    }
}

impl<T, S: Store<T>> Get<'_, T, S> {
    /// Takes a waiting get off the getters' list (it is being dropped),
    /// passing on an item it was already handed.
    #[inline(never)]
    fn leave(&mut self) {
        let mut wakes = WakeList::new();
        {
            let mut w = self.queue.waiters.lock();
            match self.waiter.cancel(&mut w.getters) {
                Some(Removed {
                    notified: false, ..
                }) => {
                    self.queue.getters_waiting.fetch_sub(1, Ordering::Relaxed);
                }
                Some(Removed {
                    notified: true,
                    value: Some(item),
                }) => self.queue.give_back(&mut w, item, &mut wakes),
                _ => {}
            }
        }
        wakes.wake_all();
    }
}

struct Join<'a, T, S: Store<T>> {
    queue: &'a GenericQueue<T, S>,
    waiter: Waiter,
}

impl<T, S: Store<T>> Future for Join<'_, T, S> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let queue = this.queue;
        if !this.waiter.is_registered() && queue.unfinished.load(Ordering::Acquire) == 0 {
            return Poll::Ready(());
        }
        let mut w = queue.waiters.lock();
        if this.waiter.is_registered() {
            return this.waiter.poll(&mut w.joiners, cx).map(drop);
        }
        if queue.unfinished.load(Ordering::Acquire) == 0 {
            return Poll::Ready(());
        }
        this.waiter.register(&mut w.joiners, None, Some(cx.waker()));
        Poll::Pending
    }
}

impl<T, S: Store<T>> Drop for Join<'_, T, S> {
    fn drop(&mut self) {
        if self.waiter.is_registered() {
            self.waiter.cancel(&mut self.queue.waiters.lock().joiners);
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

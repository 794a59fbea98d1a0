//! The FIFO list of waiting futures that every primitive in [`crate::sync`]
//! is built on.
//!
//! # Mechanism
//!
//! A [`WaitList`] is a slab of slots (`Vec<Slot>` plus a free list) threaded
//! by a doubly linked list of indices that keeps the *queued* waiters in
//! arrival order. It lives inside the primitive's own `Mutex` (the loom shim's),
//! next to the primitive's state, so "check the state, else queue" is one
//! critical section and no wakeup can fall between the two.
//!
//! A waiting future owns one slot through a [`Waiter`] (its key). A slot is
//!
//! - *queued*: linked into the FIFO list, holding the future's waker and,
//!   for a `Queue::put`, the item the future wants to deliver;
//! - *notified*: unlinked from the list by the primitive ([`WaitList::hand_one`],
//!   [`WaitList::take_one`], [`WaitList::notify_all`]); it may carry what the
//!   primitive handed over (a `Queue::get`'s item). The slot stays allocated
//!   until its future polls (and takes the result) or is dropped.
//!
//! Because a slot is freed only by the future that owns it, a key can never
//! point at a slot reused by another waiter, so keys need no generation count.
//! The slab never shrinks: a primitive keeps room for as many waiters as it
//! once had at the same time (a few dozen bytes each).
//!
//! Handing the resource to the waiter *at notification time* (instead of
//! waking it to race for the resource) is what makes the primitives FIFO fair:
//! nobody can barge in between the wake and the poll. The price is that a
//! future dropped after being notified holds something it must give back:
//! [`Waiter::cancel`] reports whether the slot was notified and returns its
//! value, and the primitive passes it on to the next waiter in the same
//! critical section.
//!
//! Wakers taken out under the lock are collected in a [`WakeList`] and woken
//! after the lock is released, so a woken task never finds the lock held by
//! its waker.
//!
//! # Rejected alternatives
//!
//! - Intrusive nodes pinned inside each future (tokio's `batch_semaphore`)
//!   avoid even the amortised slab, but need `unsafe` pointer surgery on every
//!   path and a `PhantomPinned` future. The slab reuses its slots, so a warm
//!   primitive allocates nothing per wait either; the cost is an index hop.
//! - A `VecDeque` of keys with lazy deletion makes cancellation O(1) but lets a
//!   stale key outlive its slot, which needs generations and leaves garbage in
//!   the queue under heavy cancellation. The linked list removes in O(1) and
//!   leaves nothing behind.

use std::task::{Context, Poll, Waker};

/// Marks the end of a linked list and an empty free list.
const NIL: usize = usize::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Free,
    Queued,
    Notified,
}

#[derive(Debug)]
struct Slot<T> {
    state: SlotState,
    waker: Option<Waker>,
    value: Option<T>,
    prev: usize,
    next: usize,
}

/// A FIFO list of waiters; see the module docs.
#[derive(Debug)]
pub(crate) struct WaitList<T> {
    slots: Vec<Slot<T>>,
    /// Head of the free list, linked through `Slot::next`.
    free: usize,
    head: usize,
    tail: usize,
    queued: usize,
}

/// What [`Waiter::cancel`] found in a cancelled waiter's slot.
#[derive(Debug)]
pub(crate) struct Removed<T> {
    /// Whether the primitive had already notified this waiter.
    pub(crate) notified: bool,
    /// The slot's value: the waiter's own item if it was still queued, what
    /// the primitive handed it if it was notified.
    pub(crate) value: Option<T>,
}

impl<T> WaitList<T> {
    /// An empty list; allocates nothing until the first waiter queues.
    pub(crate) const fn new() -> Self {
        WaitList {
            slots: Vec::new(),
            free: NIL,
            head: NIL,
            tail: NIL,
            queued: 0,
        }
    }

    /// Whether no waiter is queued (notified waiters do not count).
    pub(crate) fn is_empty(&self) -> bool {
        self.queued == 0
    }

    /// Queues a waiter at the back and returns its key.
    fn push(&mut self, value: Option<T>, waker: Option<Waker>) -> usize {
        let slot = Slot {
            state: SlotState::Queued,
            waker,
            value,
            prev: self.tail,
            next: NIL,
        };
        let key = if self.free == NIL {
            self.slots.push(slot);
            self.slots.len() - 1
        } else {
            let key = self.free;
            self.free = self.slots[key].next;
            self.slots[key] = slot;
            key
        };
        if self.tail == NIL {
            self.head = key;
        } else {
            self.slots[self.tail].next = key;
        }
        self.tail = key;
        self.queued += 1;
        key
    }

    /// Takes a queued slot out of the FIFO list (it stays allocated).
    fn unlink(&mut self, key: usize) {
        let (prev, next) = (self.slots[key].prev, self.slots[key].next);
        if prev == NIL {
            self.head = next;
        } else {
            self.slots[prev].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.slots[next].prev = prev;
        }
        self.queued -= 1;
    }

    /// Returns a slot to the free list and gives back its value.
    fn release(&mut self, key: usize) -> Option<T> {
        let slot = &mut self.slots[key];
        slot.state = SlotState::Free;
        slot.waker = None;
        slot.next = self.free;
        self.free = key;
        slot.value.take()
    }

    /// Unlinks the front waiter, marks it notified and queues its waker.
    fn notify_front(&mut self, wakes: &mut WakeList) -> Option<usize> {
        let key = self.head;
        if key == NIL {
            return None;
        }
        self.unlink(key);
        let slot = &mut self.slots[key];
        slot.state = SlotState::Notified;
        if let Some(waker) = slot.waker.take() {
            wakes.push(waker);
        }
        Some(key)
    }

    /// Hands `value` to the front waiter and notifies it, or gives `value`
    /// back if no waiter is queued.
    pub(crate) fn hand_one(&mut self, value: T, wakes: &mut WakeList) -> Result<(), T> {
        match self.notify_front(wakes) {
            Some(key) => {
                self.slots[key].value = Some(value);
                Ok(())
            }
            None => Err(value),
        }
    }

    /// Hands the front waiter a value from `source` and notifies it. False
    /// if no waiter is queued (`source` is not called) or `source` has
    /// nothing.
    pub(crate) fn hand_one_from(
        &mut self,
        source: impl FnOnce() -> Option<T>,
        wakes: &mut WakeList,
    ) -> bool {
        if self.head == NIL {
            return false;
        }
        let Some(value) = source() else {
            return false;
        };
        let key = self.notify_front(wakes).expect("a waiter is queued");
        self.slots[key].value = Some(value);
        true
    }

    /// Offers the value the front waiter queued with (a blocked `put`'s
    /// item) to `sink` and, if `sink` takes it, notifies that waiter. False
    /// if no waiter is queued or `sink` gives the value back (it stays in
    /// the waiter's slot).
    pub(crate) fn take_one_into(
        &mut self,
        sink: impl FnOnce(T) -> Result<(), T>,
        wakes: &mut WakeList,
    ) -> bool {
        let key = self.head;
        if key == NIL {
            return false;
        }
        let value = self.slots[key]
            .value
            .take()
            .expect("take_one_into: the front waiter queued without a value");
        match sink(value) {
            Ok(()) => {
                self.notify_front(wakes);
                true
            }
            Err(value) => {
                self.slots[key].value = Some(value);
                false
            }
        }
    }

    /// Notifies every queued waiter, in FIFO order.
    pub(crate) fn notify_all(&mut self, wakes: &mut WakeList) {
        while self.notify_front(wakes).is_some() {}
    }
}

/// A future's claim on one slot of a [`WaitList`]: the shared half of every
/// waiting future in this module. It holds no reference to the list, which
/// sits behind the primitive's lock: every method takes the locked list.
#[derive(Debug, Default)]
pub(crate) struct Waiter {
    key: Option<usize>,
}

impl Waiter {
    /// A waiter that has not queued yet.
    pub(crate) const fn new() -> Self {
        Waiter { key: None }
    }

    /// Whether this waiter holds a slot (queued or notified).
    pub(crate) fn is_registered(&self) -> bool {
        self.key.is_some()
    }

    /// Queues at the back of `list` with `value` (a put's item) and, if the
    /// caller has one, the waker to wake on notification.
    pub(crate) fn register<T>(
        &mut self,
        list: &mut WaitList<T>,
        value: Option<T>,
        waker: Option<&Waker>,
    ) {
        debug_assert!(self.key.is_none(), "waiter registered twice");
        self.key = Some(list.push(value, waker.cloned()));
    }

    /// Polls a registered waiter: `Ready` with the slot's value once the
    /// primitive has notified it (the slot is freed), otherwise stores the
    /// current waker and returns `Pending`.
    pub(crate) fn poll<T>(
        &mut self,
        list: &mut WaitList<T>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<T>> {
        let key = self.key.expect("polled an unregistered waiter");
        let slot = &mut list.slots[key];
        match slot.state {
            SlotState::Notified => {
                self.key = None;
                Poll::Ready(list.release(key))
            }
            SlotState::Queued => {
                match &mut slot.waker {
                    Some(waker) => waker.clone_from(cx.waker()),
                    None => slot.waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            SlotState::Free => unreachable!("a waiter's slot is freed only by the waiter"),
        }
    }

    /// Gives up the slot (the future is being dropped) and reports what was
    /// in it; `None` if this waiter never queued or already completed.
    pub(crate) fn cancel<T>(&mut self, list: &mut WaitList<T>) -> Option<Removed<T>> {
        let key = self.key.take()?;
        let notified = match list.slots[key].state {
            SlotState::Queued => {
                list.unlink(key);
                false
            }
            SlotState::Notified => true,
            SlotState::Free => unreachable!("a waiter's slot is freed only by the waiter"),
        };
        Some(Removed {
            notified,
            value: list.release(key),
        })
    }
}

/// Wakers collected under a lock and woken after it is released. The first
/// waker is stored inline, so the common single hand-off allocates nothing;
/// a broadcast (`Event::set`, a full `Barrier`) spills into a `Vec`.
#[derive(Debug, Default)]
pub(crate) struct WakeList {
    first: Option<Waker>,
    rest: Vec<Waker>,
}

impl WakeList {
    /// An empty list.
    pub(crate) const fn new() -> Self {
        WakeList {
            first: None,
            rest: Vec::new(),
        }
    }

    fn push(&mut self, waker: Waker) {
        if self.first.is_none() {
            self.first = Some(waker);
        } else {
            self.rest.push(waker);
        }
    }

    /// Wakes every collected waker in the order they were collected. Call
    /// it after the lock is released.
    pub(crate) fn wake_all(self) {
        if let Some(first) = self.first {
            first.wake();
        }
        for waker in self.rest {
            waker.wake();
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::sync::testing::counting_waker;

    #[test]
    fn hand_one_serves_waiters_in_arrival_order() {
        let mut list = WaitList::new();
        let (waker, _) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut waiters: Vec<Waiter> = (0..3).map(|_| Waiter::new()).collect();
        for w in &mut waiters {
            w.register(&mut list, None, Some(&waker));
        }
        let mut wakes = WakeList::new();
        list.hand_one(10, &mut wakes).unwrap();
        list.hand_one(11, &mut wakes).unwrap();
        assert_eq!(waiters[2].poll(&mut list, &mut cx), Poll::Pending);
        assert_eq!(waiters[1].poll(&mut list, &mut cx), Poll::Ready(Some(11)));
        assert_eq!(waiters[0].poll(&mut list, &mut cx), Poll::Ready(Some(10)));
        assert_eq!(list.hand_one(12, &mut WakeList::new()), Ok(()));
        assert_eq!(list.hand_one(13, &mut WakeList::new()), Err(13));
    }

    #[test]
    fn cancelled_middle_waiter_is_skipped_and_its_slot_reused() {
        let mut list = WaitList::<u32>::new();
        let mut a = Waiter::new();
        let mut b = Waiter::new();
        let mut c = Waiter::new();
        a.register(&mut list, None, None);
        b.register(&mut list, None, None);
        c.register(&mut list, None, None);
        let removed = b.cancel(&mut list).unwrap();
        assert!(!removed.notified);
        let mut d = Waiter::new();
        d.register(&mut list, None, None);
        assert_eq!(list.slots.len(), 3, "the cancelled slot is reused");
        let mut order = Vec::new();
        let mut wakes = WakeList::new();
        for n in 0..3 {
            list.hand_one(n, &mut wakes).unwrap();
        }
        let (waker, _) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        for w in [&mut a, &mut c, &mut d] {
            order.push(w.poll(&mut list, &mut cx));
        }
        assert_eq!(
            order,
            [
                Poll::Ready(Some(0)),
                Poll::Ready(Some(1)),
                Poll::Ready(Some(2))
            ]
        );
        assert!(list.is_empty());
    }

    #[test]
    fn notified_waiter_cancelled_reports_what_it_was_handed() {
        let mut list = WaitList::new();
        let mut a = Waiter::new();
        a.register(&mut list, None, None);
        list.hand_one("item", &mut WakeList::new()).unwrap();
        let removed = a.cancel(&mut list).unwrap();
        assert!(removed.notified);
        assert_eq!(removed.value, Some("item"));
        assert!(
            a.cancel(&mut list).is_none(),
            "a second cancel finds nothing"
        );
    }
}

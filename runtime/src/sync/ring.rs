//! The lock-free FIFO that holds the items of a [`Queue`](super::Queue).
//!
//! A [`Ring`] is `crossbeam_queue::ArrayQueue` (a bounded ring of
//! `maxsize` slots, allocated up front) for a bounded queue and
//! `crossbeam_queue::SegQueue` (a linked list of 31-slot blocks) for an
//! unbounded one. Both are Vyukov's sequence-stamped slots: a push claims
//! the tail with one CAS and publishes the slot with a release store, a pop
//! claims the head the same way, so a producer and a consumer on two cores
//! share only the slot's cache line, not a lock.
//!
//! The queue's waiting protocol (see `queue.rs`) relies on three
//! properties of both crossbeam types (crossbeam-queue 0.3, read in
//! 0.3.14):
//!
//! - a `push` that succeeds has moved the tail with a `SeqCst` CAS, and a
//!   `pop` that succeeds has moved the head with a `SeqCst` CAS;
//! - `pop` answers `None` only after a `SeqCst` fence and a load of the tail
//!   equal to the head: a push whose CAS precedes that fence is found (the
//!   pop waits for its slot to be published);
//! - a bounded `push` answers full only after a `SeqCst` fence and a load of
//!   the head a whole lap behind the tail: a pop whose CAS precedes that
//!   fence leaves room that the push finds.
//!
//! crossbeam-queue is not loom-aware, so under `cfg(loom)` the ring is a
//! `Mutex<VecDeque>` with the same contract (bounded push fails when full,
//! pop fails when empty, each linearizable), and the models check the
//! protocol built on it.

#[cfg(not(loom))]
use crossbeam_queue::{ArrayQueue, SegQueue};

/// A lock-free FIFO of `T`, bounded or not; see the module docs.
pub(crate) struct Ring<T> {
    #[cfg(not(loom))]
    inner: Inner<T>,
    #[cfg(loom)]
    inner: spindle_scheduler::loom::Mutex<std::collections::VecDeque<T>>,
    #[cfg(loom)]
    maxsize: usize,
}

#[cfg(not(loom))]
enum Inner<T> {
    Bounded(ArrayQueue<T>),
    Unbounded(SegQueue<T>),
}

#[cfg(not(loom))]
impl<T> Ring<T> {
    /// An empty ring of `maxsize` slots; `0` means unbounded.
    pub(crate) fn new(maxsize: usize) -> Self {
        let inner = match maxsize {
            0 => Inner::Unbounded(SegQueue::new()),
            n => Inner::Bounded(ArrayQueue::new(n)),
        };
        Ring { inner }
    }

    /// Adds `item` at the back, or gives it back if the ring is full.
    #[inline(always)]
    pub(crate) fn push(&self, item: T) -> Result<(), T> {
        match &self.inner {
            Inner::Bounded(ring) => ring.push(item),
            Inner::Unbounded(list) => {
                list.push(item);
                Ok(())
            }
        }
    }

    /// Takes the front item out.
    #[inline(always)]
    pub(crate) fn pop(&self) -> Option<T> {
        match &self.inner {
            Inner::Bounded(ring) => ring.pop(),
            Inner::Unbounded(list) => list.pop(),
        }
    }

    /// Number of items held (a snapshot).
    pub(crate) fn len(&self) -> usize {
        match &self.inner {
            Inner::Bounded(ring) => ring.len(),
            Inner::Unbounded(list) => list.len(),
        }
    }
}

#[cfg(loom)]
impl<T> Ring<T> {
    pub(crate) fn new(maxsize: usize) -> Self {
        Ring {
            inner: spindle_scheduler::loom::Mutex::new(std::collections::VecDeque::new()),
            maxsize,
        }
    }

    pub(crate) fn push(&self, item: T) -> Result<(), T> {
        let mut items = self.inner.lock();
        if self.maxsize > 0 && items.len() >= self.maxsize {
            return Err(item);
        }
        items.push_back(item);
        Ok(())
    }

    pub(crate) fn pop(&self) -> Option<T> {
        self.inner.lock().pop_front()
    }

    pub(crate) fn len(&self) -> usize {
        self.inner.lock().len()
    }
}

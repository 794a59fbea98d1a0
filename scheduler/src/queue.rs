//! A processor's run queues: the local deque and the LIFO slot.
//!
//! **Local queue.** A `crossbeam_deque::Worker` in FIFO mode: the owner
//! pushes and pops at the ends, thieves take batches from the front through
//! its `Stealer`. crossbeam's deque is unbounded and growable, where Go's and
//! tokio's are 256-slot rings that spill half into the global queue when
//! full. We keep it unbounded: the spill exists in Go and tokio because a
//! fixed ring must put the overflow somewhere, not for fairness — fairness
//! comes from the injector check every 61 ticks and from stealing, which
//! move the same work a spill would. An unbounded queue costs memory only
//! for tasks that exist anyway.
//!
//! **LIFO slot (Go's `runnext`).** The task woken or spawned most recently by
//! the running task is put in a one-task slot and run next, so a message and
//! its reply stay hot in cache. The task it displaces goes to the back of the
//! local queue. The slot is an `AtomicPtr`, so a thief can take it (Go steals
//! `runnext` on its last pass; tokio cannot, tokio#4941): a worker stuck in a
//! long poll does not hold the next task hostage. The worker caps runs from
//! the slot at [`MAX_LIFO_STREAK`] in a row so two tasks waking each other
//! cannot starve the queue.
//!
//! **Steal.** `Stealer::steal_batch_and_pop` moves about half the victim's
//! queue (crossbeam caps a batch at 32) and can fail with `Retry` when it
//! races another thief: it is retried.
//!
//! **Under loom** crossbeam is not instrumented, so `cfg(loom)` swaps the
//! deque for a `Mutex<VecDeque>` with the same interface (the model sees
//! every interleaving of its users, which is what the scheduler's protocols
//! need); the LIFO slot is the real code in both builds.

use std::ptr::{self, NonNull};

use crate::loom::atomic::{AtomicPtr, Ordering::AcqRel};
use crate::task::Notified;

/// Tasks run from the LIFO slot in a row before the slot's task is sent to
/// the back of the queue: tokio's figure; "more than 3 is probably
/// over-weighting" the slot against the queue.
pub(crate) const MAX_LIFO_STREAK: u8 = 3;

/// The one-task slot run next.
pub(crate) struct LifoSlot(AtomicPtr<crate::task::raw::Header>);

impl LifoSlot {
    pub(crate) fn new() -> LifoSlot {
        LifoSlot(AtomicPtr::new(ptr::null_mut()))
    }

    /// Puts `task` in the slot, returning the task it displaced.
    pub(crate) fn swap(&self, task: Notified) -> Option<Notified> {
        let prev = self.0.swap(task.into_raw().as_ptr(), AcqRel);
        // SAFETY: a non-null slot value is a `Notified` put there by `swap`,
        // whose reference the swap hands back exactly once.
        NonNull::new(prev).map(|p| unsafe { Notified::from_raw(p) })
    }

    /// Takes the task in the slot (owner or thief).
    pub(crate) fn take(&self) -> Option<Notified> {
        let prev = self.0.swap(ptr::null_mut(), AcqRel);
        // SAFETY: as in `swap`.
        NonNull::new(prev).map(|p| unsafe { Notified::from_raw(p) })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0
            .load(crate::loom::atomic::Ordering::Acquire)
            .is_null()
    }
}

impl Drop for LifoSlot {
    fn drop(&mut self) {
        drop(self.take());
    }
}

#[cfg(not(loom))]
mod imp {
    use crossbeam_deque::{Steal, Stealer, Worker};

    use crate::task::Notified;

    /// Repeats a steal while it reports `Retry` (a race with another thief,
    /// not an empty queue).
    fn until_settled(mut steal: impl FnMut() -> Steal<Notified>) -> Option<Notified> {
        loop {
            match steal() {
                Steal::Success(t) => return Some(t),
                Steal::Empty => return None,
                Steal::Retry => continue,
            }
        }
    }

    /// The owner's end of a local queue.
    pub(crate) struct Local(Worker<Notified>);
    /// A thief's end of a local queue.
    #[derive(Clone)]
    pub(crate) struct Remote(Stealer<Notified>);

    pub(crate) fn local() -> (Local, Remote) {
        let w = Worker::new_fifo();
        let s = w.stealer();
        (Local(w), Remote(s))
    }

    impl Local {
        pub(crate) fn push(&self, task: Notified) {
            self.0.push(task);
        }
        pub(crate) fn pop(&self) -> Option<Notified> {
            self.0.pop()
        }
        pub(crate) fn len(&self) -> usize {
            self.0.len()
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
    }

    impl Remote {
        /// Moves about half of this queue into `dst` and returns one task.
        pub(crate) fn steal_into(&self, dst: &Local) -> Option<Notified> {
            until_settled(|| self.0.steal_batch_and_pop(&dst.0))
        }
        pub(crate) fn len(&self) -> usize {
            self.0.len()
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
    }

    /// The global queue for tasks submitted from outside the workers.
    pub(crate) struct Injector(crossbeam_deque::Injector<Notified>);

    impl Injector {
        pub(crate) fn new() -> Injector {
            Injector(crossbeam_deque::Injector::new())
        }
        pub(crate) fn push(&self, task: Notified) {
            self.0.push(task);
        }
        pub(crate) fn pop(&self) -> Option<Notified> {
            until_settled(|| self.0.steal())
        }
        /// Moves a batch into `dst` and returns one task.
        pub(crate) fn steal_into(&self, dst: &Local) -> Option<Notified> {
            until_settled(|| self.0.steal_batch_and_pop(&dst.0))
        }
        pub(crate) fn len(&self) -> usize {
            self.0.len()
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.is_empty()
        }
    }
}

#[cfg(loom)]
mod imp {
    use std::collections::VecDeque;

    use crate::loom::{Arc, Mutex};
    use crate::task::Notified;

    /// Batches a thief moves at most in the model: small, so the steal path
    /// runs with few tasks.
    const MODEL_BATCH: usize = 2;

    pub(crate) struct Local(Arc<Mutex<VecDeque<Notified>>>);
    #[derive(Clone)]
    pub(crate) struct Remote(Arc<Mutex<VecDeque<Notified>>>);

    pub(crate) fn local() -> (Local, Remote) {
        let q = Arc::new(Mutex::new(VecDeque::new()));
        (Local(q.clone()), Remote(q))
    }

    fn steal(src: &Mutex<VecDeque<Notified>>, dst: &Local) -> Option<Notified> {
        let mut batch: VecDeque<Notified> = {
            let mut src = src.lock();
            let n = src.len().div_ceil(2).min(MODEL_BATCH);
            src.drain(..n).collect()
        };
        let first = batch.pop_front();
        dst.0.lock().extend(batch);
        first
    }

    impl Local {
        pub(crate) fn push(&self, task: Notified) {
            self.0.lock().push_back(task);
        }
        pub(crate) fn pop(&self) -> Option<Notified> {
            self.0.lock().pop_front()
        }
        pub(crate) fn len(&self) -> usize {
            self.0.lock().len()
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().is_empty()
        }
    }

    impl Remote {
        pub(crate) fn steal_into(&self, dst: &Local) -> Option<Notified> {
            steal(&self.0, dst)
        }
        pub(crate) fn len(&self) -> usize {
            self.0.lock().len()
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().is_empty()
        }
    }

    pub(crate) struct Injector(Mutex<VecDeque<Notified>>);

    impl Injector {
        pub(crate) fn new() -> Injector {
            Injector(Mutex::new(VecDeque::new()))
        }
        pub(crate) fn push(&self, task: Notified) {
            self.0.lock().push_back(task);
        }
        pub(crate) fn pop(&self) -> Option<Notified> {
            self.0.lock().pop_front()
        }
        pub(crate) fn steal_into(&self, dst: &Local) -> Option<Notified> {
            steal(&self.0, dst)
        }
        pub(crate) fn len(&self) -> usize {
            self.0.lock().len()
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.0.lock().is_empty()
        }
    }
}

pub(crate) use imp::{Injector, Local, Remote, local};

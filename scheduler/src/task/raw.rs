//! The task cell: the one heap allocation behind every task, and the type
//! erased functions (the vtable) through which queues, wakers and join
//! handles reach it.
//!
//! ```text
//!  Cell<F, S> (repr C)
//!  ┌──────────────┬─────────────┬──────────────────────────┬──────────────┐
//!  │ Header       │ scheduler S │ Stage<F>                 │ Trailer      │
//!  │ state, vtable│ (where to   │ Running(F) | Finished(   │ join waker   │
//!  │ id, meta,    │  submit on  │ Result<Output,JoinError>)│              │
//!  │ list links   │  wake)      │ | Consumed               │              │
//!  └──────────────┴─────────────┴──────────────────────────┴──────────────┘
//! ```
//!
//! The header comes first, so a `NonNull<Header>` is also a pointer to the
//! whole cell; the vtable (monomorphised per future and scheduler type)
//! casts it back. The harness functions below are the only code that reads
//! the stage, and they do so only under the ownership rules of
//! [`state`](super::state): the future while holding `RUNNING`, the output
//! after `COMPLETE` while holding the join interest.

use std::any::Any;
use std::future::Future;
use std::mem::ManuallyDrop;
use std::panic::{self, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll, Waker};

use super::error::JoinError;
use super::list::Links;
use super::state::{State, ToIdle, ToNotified, ToRunning};
use super::{Notified, Schedule, TaskId, waker};
use crate::loom::UnsafeCell;

/// Everything about a task that does not depend on its future's type.
#[repr(C)]
pub(crate) struct Header {
    pub(crate) state: State,
    pub(crate) vtable: &'static Vtable,
    pub(crate) id: TaskId,
    pub(crate) meta: Meta,
    pub(crate) stats: PollStats,
    /// Links of the owned-task list, guarded by that list's shard lock.
    pub(crate) links: UnsafeCell<Links>,
}

/// Descriptive data kept for introspection and debugging.
pub(crate) struct Meta {
    pub(crate) name: Option<std::sync::Arc<str>>,
    pub(crate) location: &'static Location<'static>,
    /// When the task was spawned ([`clock::now_ms`](crate::clock::now_ms)).
    pub(crate) spawned_ms: u64,
}

/// Counters of a task's polls, for introspection. `polls` is written only
/// by the holder of `RUNNING` (a plain load and store); the times only when
/// polls are timed (slow-poll debugging).
#[derive(Default)]
pub(crate) struct PollStats {
    pub(crate) polls: AtomicU64,
    pub(crate) busy_ns: AtomicU64,
    pub(crate) longest_ns: AtomicU64,
}

// SAFETY: the header's non-atomic fields are either immutable after creation
// (id, meta, vtable) or guarded by a lock (links); the state is atomic.
unsafe impl Send for Header {}
// SAFETY: as above.
unsafe impl Sync for Header {}

/// The type-erased operations on a task.
pub(crate) struct Vtable {
    /// Runs the task once: poll, cancel, or skip. Consumes the queue's
    /// reference.
    pub(crate) run: unsafe fn(NonNull<Header>),
    /// Hands a `Notified` (whose reference is already counted) to the task's
    /// scheduler. `yielded` puts it at the back of the queue.
    pub(crate) schedule: unsafe fn(NonNull<Header>, yielded: bool),
    /// Frees the cell. Called when the last reference goes.
    pub(crate) dealloc: unsafe fn(NonNull<Header>),
    /// Join handle poll: writes `Poll<Result<T, JoinError>>` to `dst` when
    /// complete, else stores the waker.
    pub(crate) try_read_output: unsafe fn(NonNull<Header>, dst: *mut (), waker: &Waker),
    /// Drops the output that a join handle owns but never read.
    pub(crate) drop_output: unsafe fn(NonNull<Header>),
    /// Drops the future in place and completes as cancelled; the caller holds
    /// `RUNNING` (claimed by shutdown).
    pub(crate) cancel_in_place: unsafe fn(NonNull<Header>),
    /// Join handle: whether the stored output is a `JoinError`.
    pub(crate) output_is_err: unsafe fn(NonNull<Header>) -> bool,
    /// Join handle: like `try_read_output` but leaves the output in place.
    pub(crate) poll_complete: unsafe fn(NonNull<Header>, waker: &Waker) -> bool,
}

pub(crate) enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, JoinError>),
    Consumed,
}

/// The join waker slot (see the `JOIN_WAKER` bit).
pub(crate) struct Trailer {
    pub(crate) join_waker: UnsafeCell<Option<Waker>>,
}

#[repr(C)]
pub(crate) struct Cell<F: Future, S> {
    pub(crate) header: Header,
    scheduler: S,
    stage: UnsafeCell<Stage<F>>,
    pub(crate) trailer: Trailer,
}

impl<F, S> Cell<F, S>
where
    F: Future + 'static,
    S: Schedule,
{
    const VTABLE: Vtable = Vtable {
        run: run::<F, S>,
        schedule: schedule::<F, S>,
        dealloc: dealloc::<F, S>,
        try_read_output: try_read_output::<F, S>,
        drop_output: drop_output::<F, S>,
        cancel_in_place: cancel_in_place::<F, S>,
        output_is_err: output_is_err::<F, S>,
        poll_complete: poll_complete::<F, S>,
    };

    /// Allocates the cell; the state starts with three references.
    pub(crate) fn allocate(future: F, scheduler: S, id: TaskId, meta: Meta) -> NonNull<Header> {
        let cell = Box::new(Cell {
            header: Header {
                state: State::new(),
                vtable: &Self::VTABLE,
                id,
                meta,
                stats: PollStats::default(),
                links: UnsafeCell::new(Links::default()),
            },
            scheduler,
            stage: UnsafeCell::new(Stage::Running(future)),
            trailer: Trailer {
                join_waker: UnsafeCell::new(None),
            },
        });
        NonNull::from(Box::leak(cell)).cast()
    }

    /// # Safety
    /// `ptr` must point to a live `Cell<F, S>`.
    unsafe fn from_header<'a>(ptr: NonNull<Header>) -> &'a Cell<F, S> {
        // SAFETY: the header is the first field of a repr(C) cell, and the
        // caller guarantees the cell is live and of this type.
        unsafe { ptr.cast::<Cell<F, S>>().as_ref() }
    }

    /// Polls the future; on `Ready` (or a panic) the stage holds the
    /// output. The caller holds `RUNNING`.
    fn poll_future(&self, cx: &mut Context<'_>) -> Poll<()> {
        let res = self.stage.with_mut(|stage| {
            // SAFETY: holding `RUNNING` gives exclusive access to the stage.
            let stage = unsafe { &mut *stage };
            let Stage::Running(fut) = stage else {
                unreachable!("polled a finished task")
            };
            // SAFETY: the future lives inside the heap cell until it is
            // dropped in place; it is never moved out, so it is pinned.
            let fut = unsafe { Pin::new_unchecked(fut) };
            let res = panic::catch_unwind(AssertUnwindSafe(|| fut.poll(cx)));
            match res {
                Ok(Poll::Ready(out)) => {
                    *stage = Stage::Finished(Ok(out));
                    Ok(Poll::Ready(()))
                }
                Ok(Poll::Pending) => Ok(Poll::Pending),
                Err(payload) => Err(payload),
            }
        });
        match res {
            Ok(poll) => poll,
            Err(payload) => {
                let err = JoinError::panic(self.header.id, payload);
                self.drop_future_catching();
                // SAFETY: the caller holds `RUNNING`.
                self.stage
                    .with_mut(|stage| unsafe { *stage = Stage::Finished(Err(err)) });
                Poll::Ready(())
            }
        }
    }

    /// Drops the future (its `Drop` may panic; the panic is returned).
    fn drop_future_catching(&self) -> Option<Box<dyn Any + Send>> {
        let res = panic::catch_unwind(AssertUnwindSafe(|| {
            // SAFETY: the caller holds `RUNNING`.
            self.stage
                .with_mut(|stage| unsafe { *stage = Stage::Consumed });
        }));
        res.err()
    }

    /// Drops the future and stores the cancellation (or the panic of the
    /// future's `Drop`) as the output. The caller holds `RUNNING`.
    fn cancel_future(&self) {
        let err = match self.drop_future_catching() {
            None => JoinError::cancelled(self.header.id),
            Some(payload) => JoinError::panic(self.header.id, payload),
        };
        // SAFETY: the caller holds `RUNNING`.
        self.stage
            .with_mut(|stage| unsafe { *stage = Stage::Finished(Err(err)) });
    }

    /// Publishes the output: `COMPLETE`, then the join handle's waker or the
    /// output's drop, then the release from the owned list. The caller holds
    /// `RUNNING` and one reference (the queue's or the shutdown's), which is
    /// released here.
    fn complete(&self) {
        let snapshot = self.header.state.transition_to_complete();
        if !snapshot.is_join_interested() {
            // Nobody will read the output: drop it now, on this thread.
            let _ = panic::catch_unwind(AssertUnwindSafe(|| {
                // SAFETY: no join handle, and `COMPLETE` bars every other
                // reader of the stage.
                self.stage
                    .with_mut(|stage| unsafe { *stage = Stage::Consumed })
            }));
        } else if snapshot.is_join_waker_set() {
            // The join waker is foreign code: if it panics, the task is
            // complete all the same, and the panic must not unwind through
            // the scheduler's loop.
            let _ = panic::catch_unwind(AssertUnwindSafe(|| {
                self.trailer.join_waker.with(|w| {
                    // SAFETY: `JOIN_WAKER` was set when `COMPLETE` was, so
                    // the join handle no longer writes the slot.
                    if let Some(w) = unsafe { &*w } {
                        w.wake_by_ref();
                    }
                })
            }));
        }
        let released = self.scheduler.release(self.header());
        let last = if released {
            self.header.state.ref_dec_twice()
        } else {
            self.header.state.ref_dec()
        };
        if last {
            // SAFETY: that was the last reference.
            unsafe { (self.header.vtable.dealloc)(self.header_ptr()) };
        }
    }

    fn header(&self) -> &Header {
        &self.header
    }

    fn header_ptr(&self) -> NonNull<Header> {
        NonNull::from(&self.header)
    }
}

unsafe fn run<F: Future + 'static, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: the queue's reference keeps the cell alive.
    let cell = unsafe { Cell::<F, S>::from_header(ptr) };
    let state = &cell.header.state;
    match state.transition_to_running() {
        ToRunning::Skip => {
            if state.ref_dec() {
                // SAFETY: last reference.
                unsafe { dealloc::<F, S>(ptr) };
            }
            return;
        }
        ToRunning::Cancel => {
            cell.cancel_future();
            cell.complete();
            return;
        }
        ToRunning::Poll => {}
    }
    // The waker borrows the queue's reference for the poll: no refcount
    // traffic unless the future clones it.
    // SAFETY: the cell outlives the poll (we hold a reference).
    let waker = ManuallyDrop::new(unsafe { waker::borrowed(ptr) });
    let mut cx = Context::from_waker(&waker);
    let polling = super::current::enter(ptr);
    let polls = &cell.header.stats.polls;
    polls.store(polls.load(Relaxed) + 1, Relaxed);
    let poll = cell.poll_future(&mut cx);
    let woke_itself = polling.exit();
    if poll.is_ready() {
        cell.complete();
        return;
    }
    match state.transition_to_idle(woke_itself) {
        ToIdle::Idle => {}
        // SAFETY: the queue's reference moves to the new `Notified`.
        ToIdle::Notified => unsafe { schedule::<F, S>(ptr, true) },
        ToIdle::Cancel => {
            cell.cancel_future();
            cell.complete();
        }
    }
}

unsafe fn schedule<F: Future + 'static, S: Schedule>(ptr: NonNull<Header>, yielded: bool) {
    // SAFETY: the caller holds a reference for the new `Notified`.
    let cell = unsafe { Cell::<F, S>::from_header(ptr) };
    // SAFETY: the reference counted for the `Notified` moves into it.
    let task = unsafe { Notified::from_raw(ptr) };
    cell.scheduler.schedule(task, yielded);
}

unsafe fn dealloc<F: Future + 'static, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: the last reference is gone: nobody else can reach the cell,
    // and it was allocated as a `Box<Cell<F, S>>`.
    drop(unsafe { Box::from_raw(ptr.cast::<Cell<F, S>>().as_ptr()) });
}

unsafe fn try_read_output<F: Future + 'static, S: Schedule>(
    ptr: NonNull<Header>,
    dst: *mut (),
    waker: &Waker,
) {
    // SAFETY: the join handle's reference keeps the cell alive.
    let cell = unsafe { Cell::<F, S>::from_header(ptr) };
    // SAFETY: the join handle passes a `*mut Poll<Result<F::Output, JoinError>>`.
    let dst = unsafe { &mut *dst.cast::<Poll<Result<F::Output, JoinError>>>() };
    if can_read_output(&cell.header, &cell.trailer, waker) {
        // SAFETY: `COMPLETE` is set and we hold the join interest: the
        // output is ours, and we read it once (the stage becomes Consumed).
        let stage = cell
            .stage
            .with_mut(|s| std::mem::replace(unsafe { &mut *s }, Stage::Consumed));
        match stage {
            Stage::Finished(out) => *dst = Poll::Ready(out),
            _ => panic!("JoinHandle polled after it returned its output"),
        }
    }
}

unsafe fn output_is_err<F: Future + 'static, S: Schedule>(ptr: NonNull<Header>) -> bool {
    // SAFETY: the join handle's reference keeps the cell alive.
    let cell = unsafe { Cell::<F, S>::from_header(ptr) };
    if !cell.header.state.load().is_complete() {
        return false;
    }
    // SAFETY: `COMPLETE` is set and the caller holds the join interest: the
    // stage is the join handle's, and nobody else touches it.
    cell.stage
        .with(|s| matches!(unsafe { &*s }, Stage::Finished(Err(_))))
}

unsafe fn poll_complete<F: Future + 'static, S: Schedule>(
    ptr: NonNull<Header>,
    waker: &Waker,
) -> bool {
    // SAFETY: the join handle's reference keeps the cell alive.
    let cell = unsafe { Cell::<F, S>::from_header(ptr) };
    can_read_output(&cell.header, &cell.trailer, waker)
}

/// Returns whether the output is ready; if not, leaves `waker` in the slot.
fn can_read_output(header: &Header, trailer: &Trailer, waker: &Waker) -> bool {
    let snapshot = header.state.load();
    if snapshot.is_complete() {
        return true;
    }
    if snapshot.is_join_waker_set() {
        // SAFETY: while `JOIN_WAKER` is set the slot only gets read.
        let same = trailer
            .join_waker
            .with(|w| unsafe { &*w }.as_ref().is_some_and(|w| w.will_wake(waker)));
        if same {
            return false;
        }
        if header.state.unset_join_waker().is_err() {
            return true;
        }
    }
    // `JOIN_WAKER` is clear: the slot is ours to write.
    // SAFETY: the task side reads the slot only while `JOIN_WAKER` is set.
    trailer
        .join_waker
        .with_mut(|w| unsafe { *w = Some(waker.clone()) });
    header.state.set_join_waker().is_err()
}

unsafe fn drop_output<F: Future + 'static, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: the join handle owns the output of a completed task.
    let cell = unsafe { Cell::<F, S>::from_header(ptr) };
    let _ = panic::catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: see above; nobody else touches the stage after COMPLETE.
        cell.stage.with_mut(|s| unsafe { *s = Stage::Consumed })
    }));
}

unsafe fn cancel_in_place<F: Future + 'static, S: Schedule>(ptr: NonNull<Header>) {
    // SAFETY: the caller holds a reference and `RUNNING`.
    let cell = unsafe { Cell::<F, S>::from_header(ptr) };
    cell.cancel_future();
    cell.complete();
}

/// Submits the task after a wake, per the state's verdict.
///
/// # Safety
/// `ptr` must be a live task and the caller must hold a reference.
pub(crate) unsafe fn wake_by_ref(ptr: NonNull<Header>) {
    if super::current::wake_self(ptr) {
        // This thread polls the task: `run` re-submits it after the poll.
        return;
    }
    // SAFETY: the caller holds a reference.
    let header = unsafe { ptr.as_ref() };
    if header.state.transition_to_notified_by_ref() == ToNotified::Submit {
        // SAFETY: a reference was taken for the `Notified`.
        unsafe { (header.vtable.schedule)(ptr, false) };
    }
}

/// Like [`wake_by_ref`] but consumes the caller's reference.
///
/// # Safety
/// `ptr` must be a live task and the caller gives up one reference.
pub(crate) unsafe fn wake_by_val(ptr: NonNull<Header>) {
    if super::current::wake_self(ptr) {
        // As in `wake_by_ref`; the poll's own reference keeps the task
        // alive, so this one is never the last.
        // SAFETY: the caller gives up its reference.
        return unsafe { drop_reference(ptr) };
    }
    // SAFETY: the caller's reference keeps the header alive until released.
    let header = unsafe { ptr.as_ref() };
    match header.state.transition_to_notified_by_val() {
        (ToNotified::Submit, _) => {
            // SAFETY: the caller's reference moves into the `Notified`.
            unsafe { (header.vtable.schedule)(ptr, false) }
        }
        (ToNotified::Done, true) => {
            // SAFETY: that was the last reference.
            unsafe { (header.vtable.dealloc)(ptr) }
        }
        (ToNotified::Done, false) => {}
    }
}

/// Releases one reference, freeing the task if it was the last.
///
/// # Safety
/// The caller gives up one reference to a live task.
pub(crate) unsafe fn drop_reference(ptr: NonNull<Header>) {
    // SAFETY: the caller's reference keeps the header alive until released.
    let header = unsafe { ptr.as_ref() };
    if header.state.ref_dec() {
        // SAFETY: last reference.
        unsafe { (header.vtable.dealloc)(ptr) }
    }
}

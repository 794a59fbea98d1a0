//! `JoinHandle`: the owned permission to read a task's output.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};

use super::TaskId;
use super::error::JoinError;
use super::raw::{self, Header};
use super::state::ToNotified;

/// An owned permission to await a task's output.
///
/// Awaiting it gives `Ok(output)`, or `Err(JoinError)` if the task panicked
/// or was cancelled. Dropping it detaches the task: it keeps running and its
/// output is dropped when it completes. [`abort`](JoinHandle::abort) cancels
/// the task: an idle task's future is dropped by a worker soon after, a
/// running one's after its current poll.
pub struct JoinHandle<T> {
    raw: NonNull<Header>,
    _output: PhantomData<T>,
}

// SAFETY: the handle only moves the output (`T: Send`) across threads; the
// task itself is shared through atomics.
unsafe impl<T: Send> Send for JoinHandle<T> {}
// SAFETY: `&JoinHandle` only reads the state (`is_finished`, `id`) or sends
// an abort, both atomic.
unsafe impl<T: Send> Sync for JoinHandle<T> {}

impl<T> Unpin for JoinHandle<T> {}

impl<T> JoinHandle<T> {
    /// # Safety
    /// `raw` is a task whose output type is `T`; the caller gives the
    /// join-interest reference to the handle.
    pub(crate) unsafe fn from_raw(raw: NonNull<Header>) -> JoinHandle<T> {
        JoinHandle {
            raw,
            _output: PhantomData,
        }
    }

    fn header(&self) -> &Header {
        // SAFETY: the handle holds a reference.
        unsafe { self.raw.as_ref() }
    }

    /// Cancels the task. Its future is dropped without being polled again
    /// (after the current poll if it is running), and awaiting this handle
    /// gives a cancelled [`JoinError`]. No effect on a finished task.
    pub fn abort(&self) {
        abort_raw(self.raw);
    }

    /// A handle that can abort the task without owning its output.
    pub fn abort_handle(&self) -> AbortHandle {
        self.header().state.ref_inc();
        AbortHandle { raw: self.raw }
    }

    /// Whether the task has finished (completed, panicked or been cancelled).
    pub fn is_finished(&self) -> bool {
        self.header().state.load().is_complete()
    }

    /// Waits for the task to finish without taking its output: `Ready` once
    /// it has, after which awaiting the handle returns at once. This is what
    /// `wait` builds on (asyncio's `wait` leaves results in the tasks).
    pub fn poll_finished(&self, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: the handle holds the join interest and a reference.
        if unsafe { (self.header().vtable.poll_complete)(self.raw, cx.waker()) } {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Whether the task finished with a `JoinError` (panicked or cancelled)
    /// that this handle has not returned yet.
    pub fn is_failed(&self) -> bool {
        // SAFETY: the handle holds the join interest and a reference.
        unsafe { (self.header().vtable.output_is_err)(self.raw) }
    }

    /// The task's id, the same value `task::current_id()` returns inside it.
    pub fn id(&self) -> TaskId {
        self.header().id
    }
}

fn abort_raw(raw: NonNull<Header>) {
    // SAFETY: the caller holds a reference.
    let header = unsafe { raw.as_ref() };
    if header.state.transition_to_notified_and_cancel() == ToNotified::Submit {
        // SAFETY: the transition took a reference for the `Notified`.
        unsafe { (header.vtable.schedule)(raw, false) };
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut out: Poll<Result<T, JoinError>> = Poll::Pending;
        // SAFETY: `out` has the type `try_read_output` writes for a task
        // whose output is `T`, which `from_raw`'s caller guaranteed.
        unsafe {
            (self.header().vtable.try_read_output)(
                self.raw,
                (&mut out as *mut Poll<_>).cast(),
                cx.waker(),
            )
        };
        out
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        let state = &self.header().state;
        if state.drop_join_handle_fast() {
            return;
        }
        if state.unset_join_interest().is_complete() {
            // The output is ours and nobody read it.
            // SAFETY: COMPLETE with join interest: the handle owns the output.
            unsafe { (self.header().vtable.drop_output)(self.raw) };
        }
        // SAFETY: the handle's reference.
        unsafe { raw::drop_reference(self.raw) };
    }
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id())
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Cancels a task without owning its output; cheap to clone, `Send + Sync`.
pub struct AbortHandle {
    raw: NonNull<Header>,
}

// SAFETY: aborting is an atomic transition plus a schedule, valid from any thread.
unsafe impl Send for AbortHandle {}
// SAFETY: as above.
unsafe impl Sync for AbortHandle {}

impl AbortHandle {
    /// Cancels the task, as [`JoinHandle::abort`].
    pub fn abort(&self) {
        abort_raw(self.raw);
    }

    /// Whether the task has finished.
    pub fn is_finished(&self) -> bool {
        // SAFETY: the handle holds a reference.
        unsafe { self.raw.as_ref() }.state.load().is_complete()
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        // SAFETY: the handle holds a reference.
        unsafe { self.raw.as_ref() }.id
    }
}

impl Clone for AbortHandle {
    fn clone(&self) -> AbortHandle {
        // SAFETY: the handle holds a reference.
        unsafe { self.raw.as_ref() }.state.ref_inc();
        AbortHandle { raw: self.raw }
    }
}

impl Drop for AbortHandle {
    fn drop(&mut self) {
        // SAFETY: the handle's reference.
        unsafe { raw::drop_reference(self.raw) };
    }
}

impl fmt::Debug for AbortHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbortHandle")
            .field("id", &self.id())
            .finish()
    }
}

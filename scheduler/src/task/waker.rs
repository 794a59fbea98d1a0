//! Wakers that point straight at the task cell.
//!
//! A `Waker` is the task pointer plus a static vtable: cloning takes a
//! reference, dropping releases one, waking runs the state transition of
//! [`state`](super::state) and, if it says so, submits the task to its
//! scheduler. No allocation and no lock on any of these paths, and no
//! state transition when the thread polling the task wakes it
//! (`task::current`).
//!
//! During a poll the task's own waker is *borrowed*: it is built over the
//! queue's reference without counting one, and wrapped in `ManuallyDrop` so
//! it never releases it. A future that keeps the waker clones it, which
//! counts.

use std::ptr::NonNull;
use std::task::{RawWaker, RawWakerVTable, Waker};

use super::raw::{self, Header};

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// A waker over `ptr` that does not own a reference.
///
/// # Safety
/// The result must be wrapped in `ManuallyDrop` and must not outlive the
/// reference the caller holds.
pub(crate) unsafe fn borrowed(ptr: NonNull<Header>) -> Waker {
    // SAFETY: the vtable functions uphold the RawWaker contract for task
    // pointers; the caller keeps the task alive.
    unsafe { Waker::from_raw(RawWaker::new(ptr.as_ptr().cast(), &VTABLE)) }
}

fn header(data: *const ()) -> NonNull<Header> {
    // SAFETY (of the callers): every waker built here carries a non-null
    // task pointer.
    NonNull::new(data as *mut Header).expect("task waker with a null pointer")
}

unsafe fn clone(data: *const ()) -> RawWaker {
    // SAFETY: the waker being cloned holds (or borrows) a reference.
    unsafe { header(data).as_ref() }.state.ref_inc();
    RawWaker::new(data, &VTABLE)
}

unsafe fn wake(data: *const ()) {
    // SAFETY: an owned waker gives up its reference here.
    unsafe { raw::wake_by_val(header(data)) }
}

unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: the waker keeps its reference.
    unsafe { raw::wake_by_ref(header(data)) }
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: an owned waker gives up its reference here.
    unsafe { raw::drop_reference(header(data)) }
}

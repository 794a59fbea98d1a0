//! The loom shim: one import path for the synchronisation types the reactor's
//! concurrent protocols use, so the same code runs on real threads in a normal
//! build and under loom's model checker with `RUSTFLAGS="--cfg loom"`.
//!
//! Only the protocols that are shared between the reactor thread and task
//! threads go through this shim: the per-registration readiness word and
//! waiter lists ([`crate::registration`]), the timer wheel lock
//! ([`crate::timer`]) and the backstop's doze ([`crate::doze`]). Everything else (the mio poller, the thread-local
//! "current reactor", the coop hook) is either single-threaded or a plain
//! `std`/`parking_lot` primitive whose correctness is not ours to model.
//!
//! `Mutex` has parking_lot's shape (`lock()` returns the guard, no poisoning)
//! in both builds so callers do not change between them; the approach is the
//! same as `spindle-scheduler`'s shim.

#[cfg(not(loom))]
mod imp {
    pub(crate) use std::sync::atomic;
    pub(crate) use std::thread;

    /// A mutex without poisoning: parking_lot's in a normal build.
    pub(crate) type Mutex<T> = parking_lot::Mutex<T>;
}

#[cfg(loom)]
mod imp {
    pub(crate) use loom::sync::atomic;
    pub(crate) use loom::thread;

    /// loom's mutex with parking_lot's shape: `lock()` returns the guard.
    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        /// Wraps `value`.
        pub(crate) fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }
        /// Locks the mutex; loom's mutex cannot be poisoned in a model that passes.
        pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
            self.0.lock().expect("loom mutex poisoned")
        }
    }
}

pub(crate) use imp::*;

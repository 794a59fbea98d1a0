//! The loom shim: one import path for every synchronisation type the
//! scheduler (and the crates built on it) use, so the same code runs on real
//! threads in a normal build and under loom's model checker with
//! `RUSTFLAGS="--cfg loom"`.
//!
//! In a normal build the atomics and `Arc` are `std`'s and the mutex and
//! condition variable are `parking_lot`'s. Under loom they are loom's, which
//! lets a model explore every interleaving of the protocols built on them.
//! `Mutex` here has parking_lot's shape (`lock()` returns the guard, no
//! poisoning) in both builds so callers do not change between them.

#[cfg(not(loom))]
mod imp {
    pub use std::sync::Arc;
    pub use std::sync::atomic;
    pub use std::thread;
    pub use std::thread_local;

    /// A mutex without poisoning: parking_lot's in a normal build.
    pub type Mutex<T> = parking_lot::Mutex<T>;
    /// The guard of [`Mutex`].
    pub type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;
    /// A condition variable that works with [`Mutex`].
    pub type Condvar = parking_lot::Condvar;

    /// An `UnsafeCell` with loom's closure-based access API, so that loom can
    /// check that no two threads touch the cell at once.
    #[derive(Debug, Default)]
    pub struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        /// Wraps `value`.
        pub const fn new(value: T) -> Self {
            UnsafeCell(std::cell::UnsafeCell::new(value))
        }
        /// Runs `f` with a shared pointer to the value.
        #[inline(always)]
        pub fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }
        /// Runs `f` with a mutable pointer to the value.
        #[inline(always)]
        pub fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }

    /// Tells the model (under loom) or the CPU (here) that this thread spins.
    #[inline(always)]
    pub fn spin_loop() {
        std::hint::spin_loop();
    }
}

#[cfg(loom)]
mod imp {
    pub use loom::cell::UnsafeCell;
    pub use loom::sync::Arc;
    pub use loom::sync::atomic;
    pub use loom::thread;
    pub use loom::thread_local;

    /// loom's mutex with parking_lot's shape: `lock()` returns the guard.
    #[derive(Debug, Default)]
    pub struct Mutex<T>(loom::sync::Mutex<T>);
    /// The guard of [`Mutex`].
    pub type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        /// Wraps `value`.
        pub fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }
        /// Locks the mutex; loom's mutex cannot be poisoned in a model that passes.
        pub fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().expect("loom mutex poisoned")
        }
        /// Locks the mutex if it is free.
        pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            self.0.try_lock().ok()
        }
        /// Consumes the mutex and returns its value.
        pub fn into_inner(self) -> T {
            self.0.into_inner().expect("loom mutex poisoned")
        }
    }

    /// loom's condition variable with parking_lot's shape.
    #[derive(Debug, Default)]
    pub struct Condvar(loom::sync::Condvar);

    impl Condvar {
        /// A new condition variable.
        pub fn new() -> Self {
            Condvar(loom::sync::Condvar::new())
        }
        /// Waits, releasing and re-taking the guard's lock.
        pub fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            // loom's wait consumes the guard; swap a placeholder in and out
            // through a raw read/write pair that never leaves `guard` empty
            // for longer than the call.
            // SAFETY: `guard` is read once and written back once before it is
            // observed again; `wait` returns the guard of the same mutex.
            unsafe {
                let g = std::ptr::read(guard);
                let g = self.0.wait(g).expect("loom mutex poisoned");
                std::ptr::write(guard, g);
            }
        }
        /// Wakes one waiter.
        pub fn notify_one(&self) -> bool {
            self.0.notify_one();
            true
        }
        /// Wakes every waiter.
        pub fn notify_all(&self) -> usize {
            self.0.notify_all();
            0
        }
    }

    /// Tells the model that this thread spins and lets others run.
    pub fn spin_loop() {
        loom::thread::yield_now();
    }
}

pub use imp::*;

//! A coarse monotonic clock for task ages: cheap enough to read on every
//! spawn.
//!
//! On Linux `CLOCK_MONOTONIC_COARSE` is read from the vDSO without touching
//! the time-stamp counter (a few nanoseconds, against ~20 ns for
//! `Instant::now()`), at the kernel tick's resolution (1–4 ms): plenty for
//! "how long has this task existed". Elsewhere `Instant` is used.

use std::time::Duration;

/// Milliseconds on a monotonic clock with an arbitrary origin.
#[cfg(target_os = "linux")]
pub(crate) fn now_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC_COARSE
    // exists on every Linux since 2.6.32.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// Milliseconds on a monotonic clock with an arbitrary origin.
#[cfg(not(target_os = "linux"))]
pub(crate) fn now_ms() -> u64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    ORIGIN.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// Time since `since_ms` (a [`now_ms`] reading).
pub(crate) fn since(since_ms: u64) -> Duration {
    Duration::from_millis(now_ms().saturating_sub(since_ms))
}

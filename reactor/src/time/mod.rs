//! Time: [`sleep`], [`sleep_until`], [`interval`] and [`timeout`], driven by
//! the reactor's timer wheel.
//!
//! ```no_run
//! # async fn demo() {
//! use std::time::Duration;
//! use spindle_reactor::time;
//!
//! time::sleep(Duration::from_millis(10)).await;
//! let slow = time::sleep(Duration::from_secs(60));
//! assert!(time::timeout(Duration::from_millis(5), slow).await.is_err());
//! # }
//! ```
//!
//! # Mechanism
//!
//! A [`Sleep`] is a deadline plus, once polled, a key into the timer wheel
//! (the polling thread's shard, see `timer`) of the reactor that was
//! current *at the first poll*: creating a `Sleep` costs
//! nothing and needs no runtime, so `sleep(d)` can be built anywhere and
//! awaited inside a runtime. Polling it outside any runtime panics with a
//! message naming the fix. A deadline that has already passed completes on
//! the first poll without touching the wheel, so zero durations complete
//! promptly and never allocate a timer entry.
//!
//! Timers fire on or after their deadline, never before, with 100 µs
//! resolution (see `timer` for how). Durations too large to add to
//! `Instant::now()` (`Duration::MAX`) saturate to a deadline about 30 years
//! out, so they never overflow or panic.
//!
//! Dropping a `Sleep` (or a [`Timeout`], or an [`Interval`]) removes its
//! entry from the wheel at once: abandoned timers cost nothing.
//!
//! After the runtime shut down, every `Sleep` completes immediately: the
//! clock that would fire it is gone, and waiting forever would hang whatever
//! awaits it. This is the one case where a timer completes before its
//! deadline.
//!
//! The types are `Unpin` (entries live in the wheel's slab, not in the
//! future), so they can be polled by `&mut` without pinning.
//!
//! Rejected: intrusive, pinned timer entries (tokio) save the slab lookup but
//! make `Sleep: !Unpin` and push `Box::pin` onto every user who stores one.

mod interval;
mod sleep;
mod timeout;

pub use interval::{Interval, interval, interval_at};
pub use sleep::{Sleep, sleep, sleep_until};
pub use timeout::{Elapsed, Timeout, timeout, timeout_at};

/// A point in time: `std`'s monotonic `Instant`, re-exported so that
/// deadlines interoperate with everything else in `std`.
pub use std::time::Instant;

use std::time::Duration;

/// How far in the future a saturated deadline lies: about 30 years, like
/// tokio's "far future". Far enough that no program waits for it, near
/// enough that `Instant` arithmetic never overflows.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `now + dur`, saturated at [`FAR_FUTURE`] from now.
fn deadline_after(dur: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(dur.min(FAR_FUTURE))
        .unwrap_or_else(|| now + FAR_FUTURE)
}

#[cfg(all(test, not(loom)))]
mod tests;

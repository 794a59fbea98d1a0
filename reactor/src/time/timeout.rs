//! [`Timeout`]: a future with a deadline.
//!
//! The inner future is polled first, so a future that is already complete
//! wins even against a zero timeout. When the deadline passes first, the
//! inner future is dropped right there (its resources are released before
//! `Err(Elapsed)` is returned, not when the `Timeout` is dropped).
//!
//! The timer is registered lazily, on the first poll that finds the inner
//! future pending, so a `timeout` around a future that is already ready
//! costs no timer entry. Rejected: racing the two with a `select` that
//! polls the timer first, which would let an elapsed zero timeout win over
//! an output that is already there.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use super::{Instant, Sleep, sleep, sleep_until};

/// Runs `future` for at most `duration`: `Ok(output)` if it completes in
/// time, `Err(Elapsed)` (and the future dropped) otherwise.
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    Timeout {
        future: Some(future),
        sleep: sleep(duration),
    }
}

/// Like [`timeout`], with an absolute deadline.
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout {
        future: Some(future),
        sleep: sleep_until(deadline),
    }
}

/// The error of a [`Timeout`] whose deadline passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed(());

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl Error for Elapsed {}

/// The future returned by [`timeout`] and [`timeout_at`]. `Unpin` when `F`
/// is.
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct Timeout<F> {
    /// The inner future; `None` once it elapsed (dropped) or completed.
    future: Option<F>,
    sleep: Sleep,
}

impl<F> Timeout<F> {
    /// The inner future, unless it was already dropped.
    pub fn get_ref(&self) -> Option<&F> {
        self.future.as_ref()
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out of
        // `self` (only polled in place through `Pin::new_unchecked`, or
        // dropped in place by `Pin::set`), and `Timeout` has no `Drop` impl
        // and no `Unpin` impl of its own that could move it. `sleep` is not
        // pinned (`Sleep: Unpin`), so handing out `&mut` to it is fine.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: see above; `this.future` is never moved while pinned.
        let mut future = unsafe { Pin::new_unchecked(&mut this.future) };
        if let Some(inner) = future.as_mut().as_pin_mut()
            && let Poll::Ready(output) = inner.poll(cx)
        {
            future.set(None);
            return Poll::Ready(Ok(output));
        }
        match this.sleep.poll_elapsed(cx) {
            Poll::Ready(()) => {
                future.set(None);
                Poll::Ready(Err(Elapsed(())))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

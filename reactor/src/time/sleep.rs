//! [`Sleep`]: a future that completes at a deadline. See [`crate::time`].

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use super::{Instant, deadline_after};
use crate::driver::ReactorHandle;
use crate::timer::{Registered, Shard, wheel::TimerKey};

/// Waits until `duration` has elapsed. `Duration::ZERO` completes on the
/// first poll; `Duration::MAX` saturates (about 30 years).
///
/// The returned future must be polled inside a spindle runtime.
pub fn sleep(duration: Duration) -> Sleep {
    Sleep::new(deadline_after(duration))
}

/// Waits until `deadline`. A deadline in the past completes on the first
/// poll.
///
/// The returned future must be polled inside a spindle runtime.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::new(deadline)
}

/// The future returned by [`sleep`] and [`sleep_until`]. `Unpin`; dropping
/// it frees its timer entry.
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    /// The wheel entry and the shard that holds it, once the first poll
    /// registered one.
    entry: Option<(Arc<Shard>, TimerKey)>,
}

impl Sleep {
    /// A sleep until `deadline`, not yet registered.
    fn new(deadline: Instant) -> Self {
        Sleep {
            deadline,
            entry: None,
        }
    }

    /// The instant this sleep completes at.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Moves the deadline (earlier or later), even after the sleep completed;
    /// the old entry is freed and the next poll registers the new one.
    pub fn reset(&mut self, deadline: Instant) {
        self.cancel();
        self.deadline = deadline;
    }

    /// Frees the wheel entry, if any.
    fn cancel(&mut self) {
        if let Some((shard, key)) = self.entry.take() {
            shard.cancel(key);
        }
    }

    /// Polls the sleep by `&mut`, for callers that hold it unpinned.
    pub fn poll_elapsed(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some((shard, key)) = &self.entry {
            let fired = shard.poll(*key, cx.waker());
            if fired.is_ready() {
                self.entry = None;
            }
            return fired;
        }
        if Instant::now() >= self.deadline {
            return Poll::Ready(());
        }
        // Borrowed, not cloned: a clone per registration would bounce the
        // reactor's reference count between the threads that use timers.
        let waker = cx.waker().clone();
        let registered = ReactorHandle::with_current("a spindle Sleep must be polled", |handle| {
            let registered = handle.inner.timers.register(self.deadline, waker);
            if let Registered::Pending {
                interrupt: true, ..
            } = registered
            {
                handle.interrupt();
            }
            registered
        });
        match registered {
            Registered::Elapsed => Poll::Ready(()),
            Registered::Pending { shard, key, .. } => {
                self.entry = Some((shard, key));
                Poll::Pending
            }
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().poll_elapsed(cx)
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl fmt::Debug for Sleep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .field("registered", &self.entry.is_some())
            .finish()
    }
}

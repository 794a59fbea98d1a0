//! `wait` and `as_completed`: watch a set of tasks without taking their
//! results away from the caller, and without cancelling any of them.

use std::fmt;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use futures_util::stream::FuturesUnordered;

use crate::task::{JoinError, JoinHandle};

/// When [`wait`] returns (asyncio's `FIRST_COMPLETED`, `FIRST_EXCEPTION`,
/// `ALL_COMPLETED`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReturnWhen {
    /// As soon as any task finishes.
    FirstCompleted,
    /// As soon as any task fails (panics or is cancelled), or all finish.
    FirstException,
    /// When every task has finished.
    AllCompleted,
}

/// What [`wait`] returns: the handles of finished tasks (awaiting them
/// returns at once) and of those still running.
#[derive(Debug)]
pub struct Done<T> {
    /// Finished tasks.
    pub done: Vec<JoinHandle<T>>,
    /// Tasks still running.
    pub pending: Vec<JoinHandle<T>>,
}

/// Waits until `when` holds for `tasks`, or `timeout` passes, and splits
/// them into finished and pending. Nothing is cancelled: pending handles stay
/// usable (asyncio's `wait`).
///
/// ```
/// use std::time::Duration;
/// use spindle::{ReturnWhen, spawn, time::sleep};
///
/// spindle::run(async {
///     let fast = spawn(async { 1 });
///     let slow = spawn(async { sleep(Duration::from_secs(60)).await; 2 });
///     let done = spindle::wait(vec![fast, slow], ReturnWhen::FirstCompleted, Some(Duration::from_secs(5))).await;
///     assert_eq!(done.done.len(), 1);
///     assert_eq!(done.pending.len(), 1);
///     for h in done.pending {
///         h.abort();
///     }
/// });
/// ```
pub async fn wait<T>(
    tasks: Vec<JoinHandle<T>>,
    when: ReturnWhen,
    timeout: Option<Duration>,
) -> Done<T> {
    let condition = poll_fn(|cx| {
        let mut finished = 0;
        let mut failed = false;
        for t in &tasks {
            if t.poll_finished(cx).is_ready() {
                finished += 1;
                failed |= t.is_failed();
            }
        }
        let all = finished == tasks.len();
        let met = match when {
            ReturnWhen::FirstCompleted => finished > 0 || all,
            ReturnWhen::FirstException => failed || all,
            ReturnWhen::AllCompleted => all,
        };
        if met { Poll::Ready(()) } else { Poll::Pending }
    });
    match timeout {
        Some(limit) => {
            let _ = crate::time::timeout(limit, condition).await;
        }
        None => condition.await,
    }
    let (done, pending) = tasks.into_iter().partition(JoinHandle::is_finished);
    Done { done, pending }
}

/// The results of `tasks` in the order they finish, as a
/// `futures_core::Stream` (asyncio's `as_completed`). Dropping the stream
/// detaches the tasks still running; it does not cancel them.
///
/// ```
/// use futures_util::StreamExt;
/// use std::time::Duration;
///
/// spindle::run(async {
///     let tasks = (0..3u64)
///         .map(|i| spindle::spawn(async move {
///             spindle::time::sleep(Duration::from_millis(30 - 10 * i)).await;
///             i
///         }))
///         .collect();
///     let order: Vec<u64> = spindle::as_completed(tasks).map(|r| r.unwrap()).collect().await;
///     assert_eq!(order, vec![2, 1, 0]);
/// });
/// ```
pub fn as_completed<T>(tasks: Vec<JoinHandle<T>>) -> AsCompleted<T> {
    AsCompleted {
        inner: tasks.into_iter().collect(),
    }
}

/// The stream returned by [`as_completed`].
pub struct AsCompleted<T> {
    inner: FuturesUnordered<JoinHandle<T>>,
}

impl<T> Stream for AsCompleted<T> {
    type Item = Result<T, JoinError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.inner).poll_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.inner.len(), Some(self.inner.len()))
    }
}

impl<T> fmt::Debug for AsCompleted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsCompleted")
            .field("pending", &self.inner.len())
            .finish()
    }
}

impl<T> Unpin for AsCompleted<T> {}

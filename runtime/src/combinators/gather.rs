//! `gather` and `gather_settled`: run futures as tasks, collect their
//! results in input order. The joining is in [`join_all`](super::join_all).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::join_all::{FailureWatch, JoinAll, Watched};
use crate::task::{JoinError, JoinHandle, spawn};

/// Runs every future as its own task and returns their outputs in input
/// order (asyncio's `gather`). The first task to fail (panic or
/// cancellation) aborts those still running and its error is returned.
/// Dropping the returned future aborts every task it started.
///
/// ```
/// use std::time::Duration;
/// spindle::run(async {
///     // Finish in reverse order; the results still come in input order.
///     let futs = (0..4u64).map(|i| async move {
///         spindle::time::sleep(Duration::from_millis(40 - 10 * i)).await;
///         i
///     });
///     assert_eq!(spindle::gather(futs).await.unwrap(), vec![0, 1, 2, 3]);
/// });
/// ```
///
/// # Panics
/// Outside a runtime.
#[track_caller]
pub fn gather<I>(
    futs: I,
) -> impl Future<Output = Result<Vec<<I::Item as Future>::Output>, JoinError>>
where
    I: IntoIterator,
    I::Item: Future + Send + 'static,
    <I::Item as Future>::Output: Send + 'static,
{
    let watch = Arc::new(FailureWatch::default());
    let handles = futs
        .into_iter()
        .map(|f| spawn(Watched::new(f, watch.clone())))
        .collect();
    JoinAll::new(handles, watch)
}

/// Runs every future as its own task and returns every outcome, successes
/// and failures, in input order (asyncio's `gather(return_exceptions=True)`).
/// Dropping the returned future aborts the tasks still running.
///
/// ```
/// spindle::run(async {
///     let out = spindle::gather_settled([
///         Box::pin(async { 1 }) as std::pin::Pin<Box<dyn std::future::Future<Output = i32> + Send>>,
///         Box::pin(async { panic!("no") }),
///     ])
///     .await;
///     assert_eq!(*out[0].as_ref().unwrap(), 1);
///     assert!(out[1].as_ref().unwrap_err().is_panic());
/// });
/// ```
#[track_caller]
pub fn gather_settled<I>(
    futs: I,
) -> impl Future<Output = Vec<Result<<I::Item as Future>::Output, JoinError>>>
where
    I: IntoIterator,
    I::Item: Future + Send + 'static,
    <I::Item as Future>::Output: Send + 'static,
{
    let handles: Vec<_> = futs.into_iter().map(spawn).collect();
    SettleAll {
        outcomes: Vec::with_capacity(handles.len()),
        handles,
    }
}

/// Joins every handle in order, keeping failures; aborts the rest on drop.
struct SettleAll<T> {
    handles: Vec<JoinHandle<T>>,
    outcomes: Vec<Result<T, JoinError>>,
}

impl<T> Unpin for SettleAll<T> {}

impl<T> Future for SettleAll<T> {
    type Output = Vec<Result<T, JoinError>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        while self.outcomes.len() < self.handles.len() {
            let next = self.outcomes.len();
            match Pin::new(&mut self.handles[next]).poll(cx) {
                Poll::Ready(outcome) => self.outcomes.push(outcome),
                Poll::Pending => return Poll::Pending,
            }
        }
        self.handles.clear();
        Poll::Ready(std::mem::take(&mut self.outcomes))
    }
}

impl<T> Drop for SettleAll<T> {
    fn drop(&mut self) {
        for h in self.handles.iter().skip(self.outcomes.len()) {
            h.abort();
        }
    }
}

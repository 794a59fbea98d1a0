//! `gather` and `gather_settled`: run futures as tasks, collect their
//! results in input order.
//!
//! Results arrive in completion order through a `FuturesUnordered` of
//! `(index, JoinHandle)` pairs, which wakes only the handle that finished
//! (no O(n) re-scan per wake), and are put back in input order at the end.

use std::future::Future;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use super::AbortGroup;
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
    let mut group = AbortGroup::new();
    let handles: Vec<_> = futs.into_iter().map(|f| group.track(spawn(f))).collect();
    async move {
        let mut results: Vec<Option<_>> = std::iter::repeat_with(|| None)
            .take(handles.len())
            .collect();
        let mut pending = indexed(handles);
        while let Some((i, res)) = pending.next().await {
            results[i] = Some(res?);
        }
        group.disarm();
        Ok(results
            .into_iter()
            .map(|r| r.expect("every task reported"))
            .collect())
    }
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
    let mut group = AbortGroup::new();
    let handles: Vec<_> = futs.into_iter().map(|f| group.track(spawn(f))).collect();
    async move {
        let mut results: Vec<Option<_>> = std::iter::repeat_with(|| None)
            .take(handles.len())
            .collect();
        let mut pending = indexed(handles);
        while let Some((i, res)) = pending.next().await {
            results[i] = Some(res);
        }
        group.disarm();
        results
            .into_iter()
            .map(|r| r.expect("every task reported"))
            .collect()
    }
}

/// The handles as a completion-order stream of `(input index, result)`.
pub(super) fn indexed<T>(
    handles: Vec<JoinHandle<T>>,
) -> FuturesUnordered<impl Future<Output = (usize, Result<T, JoinError>)>> {
    handles
        .into_iter()
        .enumerate()
        .map(|(i, h)| async move { (i, h.await) })
        .collect()
}

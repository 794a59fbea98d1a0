//! `TaskGroup`: structured concurrency (asyncio 3.11's `TaskGroup`, Trio's
//! nursery). Tasks spawned into a group do not outlive it: `join` waits for
//! all of them, the first failure aborts the rest, and dropping the group
//! aborts every task still in it.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use super::join_all::{FailureWatch, JoinAll, Watched};
use crate::task::{AbortHandle, JoinError, JoinHandle, spawn};

/// A set of tasks that live and die together.
///
/// ```
/// spindle::run(async {
///     let mut group = spindle::TaskGroup::new();
///     for i in 0..3u32 {
///         group.spawn(async move { i * 10 });
///     }
///     assert_eq!(group.join().await.unwrap(), vec![0, 10, 20]);
/// });
/// ```
pub struct TaskGroup<T> {
    handles: Vec<JoinHandle<T>>,
    watch: Arc<FailureWatch>,
}

impl<T: Send + 'static> TaskGroup<T> {
    /// An empty group.
    pub fn new() -> TaskGroup<T> {
        TaskGroup {
            handles: Vec::new(),
            watch: Arc::default(),
        }
    }

    /// Spawns `future` as a task of the group on the current runtime.
    ///
    /// # Panics
    /// Outside a runtime.
    #[track_caller]
    pub fn spawn<F>(&mut self, future: F) -> AbortHandle
    where
        F: Future<Output = T> + Send + 'static,
    {
        let handle = spawn(Watched::new(future, self.watch.clone()));
        let abort = handle.abort_handle();
        self.handles.push(handle);
        abort
    }

    /// Tasks in the group.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// Whether the group has no tasks.
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// Waits for every task; outputs come in spawn order. The first task to
    /// fail aborts the others, and its error is returned.
    pub async fn join(mut self) -> Result<Vec<T>, JoinError> {
        let handles = std::mem::take(&mut self.handles);
        JoinAll::new(handles, self.watch.clone()).await
    }
}

impl<T: Send + 'static> Default for TaskGroup<T> {
    fn default() -> Self {
        TaskGroup::new()
    }
}

impl<T> Drop for TaskGroup<T> {
    fn drop(&mut self) {
        for h in &self.handles {
            h.abort();
        }
    }
}

impl<T> fmt::Debug for TaskGroup<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskGroup")
            .field("tasks", &self.handles.len())
            .finish()
    }
}

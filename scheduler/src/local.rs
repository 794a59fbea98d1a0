//! Pinned tasks (`spawn_local`): `!Send` futures that run only on the thread
//! that spawned them.
//!
//! Every thread that runs tasks — a parallel worker, or a thread inside
//! `block_on` in either mode — has a [`LocalQueue`]. A pinned task's
//! scheduler is that queue: waking it from any thread pushes it onto the
//! queue's inbox (a mutex-guarded deque) and unparks the owner thread, which
//! is the only thread that pops from it. Thieves never see it.
//!
//! The queue has its own owned-task list. When the owner finishes (the
//! worker exits, or the `block_on` returns) it closes the list and cancels
//! every pinned task there, on the owner thread, so a `!Send` future is
//! dropped where it lived.
//!
//! Why a `!Send` future may sit in a `Send` task handle: the handle is only a
//! pointer; the future is touched only by `run` and cancellation, and both
//! happen on the owner thread (the only popper of the inbox, and the thread
//! that drains the list). The output is read by the `JoinHandle`, which is
//! `Send` only when the output is.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::Arc;

use crate::loom::Mutex;
use crate::loom::atomic::{AtomicUsize, Ordering::*};
use crate::park::Parker;
use crate::task::{self, JoinHandle, Notified, OwnedTasks, Schedule, TaskId, TaskInfo, TaskMeta};

/// One thread's queue of pinned tasks.
pub(crate) struct LocalQueue {
    inbox: Mutex<VecDeque<Notified>>,
    len: AtomicUsize,
    /// Where the owner thread sleeps now (a parallel machine moves between
    /// its slot's parker and its spare seat's). The owner checks
    /// [`has_tasks`](Self::has_tasks) before every sleep, so a wake sent to
    /// the parker it just left is not lost.
    parker: parking_lot::Mutex<Arc<Parker>>,
    owned: OwnedTasks,
}

impl LocalQueue {
    pub(crate) fn new(parker: Arc<Parker>) -> Arc<LocalQueue> {
        Arc::new(LocalQueue {
            inbox: Mutex::new(VecDeque::new()),
            len: AtomicUsize::new(0),
            parker: parking_lot::Mutex::new(parker),
            owned: OwnedTasks::new(1),
        })
    }

    /// Spawns a pinned task. Must be called on the owner thread (the
    /// context guarantees it: the queue is reachable only from there).
    pub(crate) fn spawn<F>(self: &Arc<Self>, future: F, meta: TaskMeta) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let (notified, join) = task::bind(&self.owned, future, self.clone(), meta);
        if let Some(notified) = notified {
            self.push(notified);
        }
        join
    }

    fn push(&self, task: Notified) {
        self.inbox.lock().push_back(task);
        self.len.fetch_add(1, SeqCst);
        self.parker.lock().unpark();
    }

    /// Sends future wakes to `parker` (the owner is about to sleep there).
    pub(crate) fn set_parker(&self, parker: &Arc<Parker>) {
        *self.parker.lock() = parker.clone();
    }

    pub(crate) fn pop(&self) -> Option<Notified> {
        if self.len.load(Acquire) == 0 {
            return None;
        }
        let task = self.inbox.lock().pop_front();
        if task.is_some() {
            self.len.fetch_sub(1, SeqCst);
        }
        task
    }

    pub(crate) fn has_tasks(&self) -> bool {
        self.len.load(SeqCst) != 0
    }

    pub(crate) fn all_tasks(&self, out: &mut Vec<TaskInfo>, blocked: &[TaskId], timed: bool) {
        self.owned
            .for_each(|h| out.push(TaskInfo::of(h, blocked, timed)));
    }

    /// Cancels every pinned task (on the owner thread) and drops the queue's
    /// references.
    pub(crate) fn shutdown(&self) {
        self.owned.close_and_drain(|task| task.shutdown());
        while let Some(task) = self.pop() {
            drop(task);
        }
    }
}

impl Schedule for Arc<LocalQueue> {
    fn schedule(&self, task: Notified, _yielded: bool) {
        self.push(task);
    }

    fn release(&self, task: &task::raw::Header) -> bool {
        self.owned.remove(task)
    }
}

//! The owned-task list: every live task of a scheduler, so that shutdown can
//! cancel them all and introspection can list them.
//!
//! It is an intrusive doubly linked list (the links live in each task's
//! header, so binding a task allocates nothing), split into shards by task
//! id so that spawns and completions on different workers rarely meet on
//! one lock. The list holds one reference to each task it links.
//!
//! Closing happens under every shard lock in turn: a task bound after its
//! shard was closed is refused, and the spawner cancels it at once, so no
//! task can slip in behind the shutdown sweep.
//!
//! Rejected: a global `Mutex<HashMap>` (one contended lock per spawn);
//! a lock-free list (removal from the middle needs hazard handling that
//! costs more than an uncontended parking_lot lock, which is one CAS).

use std::ptr::NonNull;

use super::raw::Header;
use super::{Task, TaskId};
use crate::loom::Mutex;

/// The list links in a task header.
#[derive(Default)]
pub(crate) struct Links {
    prev: Option<NonNull<Header>>,
    next: Option<NonNull<Header>>,
    linked: bool,
}

struct Shard {
    head: Option<NonNull<Header>>,
    len: usize,
    spawned: u64,
    closed: bool,
}

// SAFETY: the raw pointers are tasks, which are Send + Sync; the shard is
// only reached under its mutex.
unsafe impl Send for Shard {}

/// All live tasks of one scheduler.
pub(crate) struct OwnedTasks {
    shards: Box<[Mutex<Shard>]>,
}

/// Shards per worker: enough that two workers' spawns rarely share a lock
/// (ids are handed out in per-thread blocks, so neighbours in time share
/// shards; 4x keeps the collision odds per spawn under 1/8 at 2 workers).
const SHARDS_PER_WORKER: usize = 4;

impl OwnedTasks {
    /// A list for a scheduler with `workers` threads.
    pub(crate) fn new(workers: usize) -> OwnedTasks {
        // Under loom, one shard: task ids come from a process-wide counter
        // that loom's iterations do not reset, so a shard picked by id would
        // differ between iterations and make the exploration
        // non-deterministic.
        let n = if cfg!(loom) {
            1
        } else {
            (workers * SHARDS_PER_WORKER).next_power_of_two()
        };
        let shards = (0..n)
            .map(|_| {
                Mutex::new(Shard {
                    head: None,
                    len: 0,
                    spawned: 0,
                    closed: false,
                })
            })
            .collect();
        OwnedTasks { shards }
    }

    fn shard(&self, id: TaskId) -> &Mutex<Shard> {
        &self.shards[id.0 as usize & (self.shards.len() - 1)]
    }

    /// Links a new task. Refused (`false`) once the list is closed; the
    /// caller then cancels the task.
    pub(crate) fn bind(&self, task: NonNull<Header>) -> bool {
        // SAFETY: the caller holds the new task's references.
        let header = unsafe { task.as_ref() };
        let mut shard = self.shard(header.id).lock();
        if shard.closed {
            return false;
        }
        header.links.with_mut(|links| {
            // SAFETY: links are only touched under this shard's lock.
            let links = unsafe { &mut *links };
            links.next = shard.head;
            links.prev = None;
            links.linked = true;
        });
        if let Some(old) = shard.head {
            // SAFETY: `old` is linked, hence live; the lock is held.
            unsafe { old.as_ref() }
                .links
                .with_mut(|l| unsafe { (*l).prev = Some(task) });
        }
        shard.head = Some(task);
        shard.len += 1;
        shard.spawned += 1;
        true
    }

    /// Unlinks a task if it is still linked; `true` means the list's
    /// reference now belongs to the caller.
    pub(crate) fn remove(&self, header: &Header) -> bool {
        let mut shard = self.shard(header.id).lock();
        // SAFETY: links are only touched under this shard's lock.
        unsafe { unlink(&mut shard, header) }
    }

    /// Closes the list and unlinks every task, passing each (with the list's
    /// reference) to `f`.
    pub(crate) fn close_and_drain(&self, mut f: impl FnMut(Task)) {
        for shard in self.shards.iter() {
            shard.lock().closed = true;
        }
        for shard in self.shards.iter() {
            loop {
                let task = {
                    let mut shard = shard.lock();
                    let Some(head) = shard.head else { break };
                    // SAFETY: `head` is linked and the lock is held.
                    unsafe { unlink(&mut shard, head.as_ref()) };
                    head
                };
                // SAFETY: the list's reference moves into the `Task`.
                f(unsafe { Task::from_raw(task) });
            }
        }
    }

    /// Live tasks now.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len).sum()
    }

    /// Tasks ever bound.
    pub(crate) fn spawned(&self) -> u64 {
        self.shards.iter().map(|s| s.lock().spawned).sum()
    }

    /// Calls `f` on every live task, one shard lock at a time.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Header)) {
        for shard in self.shards.iter() {
            let shard = shard.lock();
            let mut cur = shard.head;
            while let Some(task) = cur {
                // SAFETY: linked tasks are live while the lock is held.
                let header = unsafe { task.as_ref() };
                f(header);
                // SAFETY: as above.
                cur = header.links.with(|l| unsafe { (*l).next });
            }
        }
    }
}

/// # Safety
/// The shard's lock must be held and `header` hashed to it.
unsafe fn unlink(shard: &mut Shard, header: &Header) -> bool {
    // SAFETY: links are guarded by the shard lock the caller holds.
    let links = header.links.with_mut(|links| unsafe {
        let links = &mut *links;
        if !links.linked {
            return None;
        }
        links.linked = false;
        Some((links.prev.take(), links.next.take()))
    });
    let Some((prev, next)) = links else {
        return false;
    };
    match prev {
        // SAFETY: a linked neighbour is live; the lock is held.
        Some(p) => unsafe { p.as_ref() }
            .links
            .with_mut(|l| unsafe { (*l).next = next }),
        None => shard.head = next,
    }
    if let Some(n) = next {
        // SAFETY: as above.
        unsafe { n.as_ref() }
            .links
            .with_mut(|l| unsafe { (*l).prev = prev });
    }
    shard.len -= 1;
    true
}

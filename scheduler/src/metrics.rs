//! Runtime metrics: counters each worker keeps for itself.
//!
//! Each worker owns one cache-line-aligned [`WorkerStats`] and is its only
//! writer, so an increment is a plain load and store (no locked
//! read-modify-write, no line shared with another writer). Readers on other
//! threads see values that may lag by a few operations, which is what
//! monitoring needs. Task counts come from the owned-task list, which keeps
//! them under the locks it takes anyway.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters of one worker (slot), written by the machine holding it only.
#[derive(Default)]
#[repr(align(128))]
pub(crate) struct WorkerStats {
    steal_operations: AtomicU64,
    stolen_tasks: AtomicU64,
    parks: AtomicU64,
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.store(counter.load(Relaxed) + by, Relaxed);
}

impl WorkerStats {
    pub(crate) fn add_steal(&self, tasks: usize) {
        bump(&self.steal_operations, 1);
        bump(&self.stolen_tasks, tasks as u64);
    }
    pub(crate) fn add_park(&self) {
        bump(&self.parks, 1);
    }
    pub(crate) fn read(&self) -> WorkerMetrics {
        WorkerMetrics {
            polls: 0,
            steal_operations: self.steal_operations.load(Relaxed),
            stolen_tasks: self.stolen_tasks.load(Relaxed),
            parks: self.parks.load(Relaxed),
            local_queue_depth: 0,
        }
    }
}

/// A snapshot of one worker's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerMetrics {
    /// Task polls run by this worker.
    pub polls: u64,
    /// Successful steals (each moves one or more tasks).
    pub steal_operations: u64,
    /// Tasks moved by those steals.
    pub stolen_tasks: u64,
    /// Times the worker went to sleep.
    pub parks: u64,
    /// Tasks in its local queue and LIFO slot now.
    pub local_queue_depth: usize,
}

/// A snapshot of the scheduler's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metrics {
    /// One entry per worker (one in single-thread mode).
    pub workers: Vec<WorkerMetrics>,
    /// Tasks waiting in the injector (single-thread mode: in the remote inbox).
    pub injector_depth: usize,
    /// Tasks spawned since the start.
    pub spawned_tasks: u64,
    /// Tasks alive now (spawned, not yet completed or cancelled).
    pub live_tasks: usize,
    /// Workers asleep now.
    pub sleeping_workers: usize,
    /// Spare threads started so far by the monitor to take over the
    /// processor of a worker stuck in one poll.
    pub spare_threads: usize,
}

impl Metrics {
    /// Polls summed over the workers.
    pub fn total_polls(&self) -> u64 {
        self.workers.iter().map(|w| w.polls).sum()
    }

    /// Tasks stolen summed over the workers.
    pub fn total_stolen_tasks(&self) -> u64 {
        self.workers.iter().map(|w| w.stolen_tasks).sum()
    }
}

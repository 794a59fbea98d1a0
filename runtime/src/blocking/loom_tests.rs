//! loom models of the pool's protocol, run on the real code through
//! `spindle_scheduler::loom`:
//!
//! `RUSTFLAGS="--cfg loom" cargo test -p spindle --release blocking`
//!
//! A lost job shows up as a deadlock (the model waits for it forever), which
//! loom reports as a failure.

use std::time::Duration;

use spindle_scheduler::loom::atomic::{AtomicUsize, Ordering};
use spindle_scheduler::loom::{Arc, Condvar, Mutex, thread};

use super::{Job, Pool, PoolConfig};

/// Preemptions explored per execution. 3 catches each of the six bugs seeded
/// into `pool.rs` while writing it (timeout checked before the claim; wake
/// without a claim; retiring without leaving `num_idle`; no `notify_one`;
/// shutdown not waiting; spawn after shutdown queuing) and runs all models in
/// about 13 s in release. 4 passed too (for the first four models) but took
/// about 60 s on a shared 2-core machine; unbounded did not finish in 6
/// minutes. When `spawn`'s notification moved out of the critical section,
/// a seventh bug was seeded, notifying before the claim is published:
/// `blocking_claimed_wakeups_run_every_job` reports it as a deadlock.
const PREEMPTION_BOUND: usize = 3;

/// Under loom a finite keep-alive times out at the first wait: the model
/// explores retiring at every point where the thread could.
const RETIRES: Duration = Duration::from_secs(1);

/// Under loom a keep-alive with no representable deadline waits for a
/// notification, as on real threads.
const NEVER_RETIRES: Duration = Duration::MAX;

/// Counts finished jobs; lets the model thread wait for a number of them.
#[derive(Default)]
struct Latch {
    done: Mutex<usize>,
    changed: Condvar,
}

impl Latch {
    fn count_down(&self) {
        *self.done.lock() += 1;
        self.changed.notify_all();
    }
    fn wait_for(&self, n: usize) {
        let mut done = self.done.lock();
        while *done < n {
            self.changed.wait(&mut done);
        }
    }
}

/// A job that reports to shared counters.
struct ModelJob {
    started: Arc<AtomicUsize>,
    ran: Arc<Latch>,
    cancelled: Arc<AtomicUsize>,
}

impl Job for ModelJob {
    fn run(self) {
        self.started.fetch_add(1, Ordering::SeqCst);
        self.ran.count_down();
    }
    fn cancel(self) {
        self.cancelled.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Clone, Default)]
struct Counters {
    started: Arc<AtomicUsize>,
    ran: Arc<Latch>,
    cancelled: Arc<AtomicUsize>,
}

impl Counters {
    fn job(&self) -> ModelJob {
        ModelJob {
            started: Arc::clone(&self.started),
            ran: Arc::clone(&self.ran),
            cancelled: Arc::clone(&self.cancelled),
        }
    }
    fn ran(&self) -> usize {
        *self.ran.done.lock()
    }
}

fn config(max_threads: usize, keep_alive: Duration) -> PoolConfig {
    PoolConfig {
        max_threads,
        keep_alive,
        thread_name: "loom".to_owned(),
        on_thread_start: None,
    }
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(PREEMPTION_BOUND);
    builder.check(f);
}

/// The race in the module doc: the second job arrives while the only thread
/// finishes the first and its keep-alive runs out. Either the thread takes
/// the job or the submitter starts a new thread; never neither.
#[test]
fn blocking_submit_racing_the_last_idle_thread_retiring_loses_no_job() {
    model(|| {
        let pool = Pool::new(config(1, RETIRES));
        let counters = Counters::default();
        pool.spawn(counters.job());
        pool.spawn(counters.job());
        counters.ran.wait_for(2);
        pool.shutdown(None);
        assert_eq!(pool.threads(), 0);
        assert_eq!(counters.cancelled.load(Ordering::SeqCst), 0);
    });
}

/// Same race with the submission from a second thread while the pool's
/// thread is already idle, and a cap that lets a second thread start.
#[test]
fn blocking_submit_from_another_thread_racing_retirement_loses_no_job() {
    model(|| {
        let pool = Arc::new(Pool::new(config(2, RETIRES)));
        let counters = Counters::default();
        pool.spawn(counters.job());
        counters.ran.wait_for(1);
        let submitter = {
            let (pool, counters) = (Arc::clone(&pool), counters.clone());
            thread::spawn(move || pool.spawn(counters.job()))
        };
        submitter.join().unwrap();
        counters.ran.wait_for(2);
        pool.shutdown(None);
        assert_eq!(pool.threads(), 0);
    });
}

/// Idle threads that never time out: two submissions claim two wake-ups,
/// whichever thread takes them, and both jobs run.
#[test]
fn blocking_claimed_wakeups_run_every_job() {
    model(|| {
        let pool = Pool::new(config(2, NEVER_RETIRES));
        let counters = Counters::default();
        pool.spawn(counters.job());
        counters.ran.wait_for(1);
        pool.spawn(counters.job());
        pool.spawn(counters.job());
        counters.ran.wait_for(3);
        pool.shutdown(None);
        assert_eq!(pool.threads(), 0);
    });
}

/// A job that only finishes once `n` jobs of its group have started, that
/// is, if each of them got a thread of its own.
struct Rendezvous {
    started: Arc<Latch>,
    n: usize,
}

impl Job for Rendezvous {
    fn run(self) {
        self.started.count_down();
        self.started.wait_for(self.n);
    }
    fn cancel(self) {
        panic!("no shutdown races this model");
    }
}

/// Two jobs submitted back to back while both threads are idle: the second
/// finds the first one's claimed thread on its way and is left to it, which
/// must pass a claim on to the other idle thread. If it did not, the first
/// job would wait for the second forever (a deadlock loom reports).
#[test]
fn blocking_job_behind_a_claim_on_its_way_gets_its_own_thread() {
    model(|| {
        let pool = Pool::new(config(2, NEVER_RETIRES));
        for round in 0..2 {
            let started = Arc::new(Latch::default());
            for _ in 0..2 {
                pool.spawn(Rendezvous {
                    started: Arc::clone(&started),
                    n: 2,
                });
            }
            started.wait_for(2);
            assert_eq!(pool.threads(), 2, "round {round}");
        }
        pool.shutdown(None);
    });
}

/// Shutdown racing a submission: every job is resolved exactly once (run or
/// cancelled), a job that started has finished when shutdown returns, and no
/// thread outlives it.
#[test]
fn blocking_shutdown_racing_submit_resolves_every_job_once() {
    model(|| {
        let pool = Arc::new(Pool::new(config(1, NEVER_RETIRES)));
        let counters = Counters::default();
        pool.spawn(counters.job());
        let submitter = {
            let (pool, counters) = (Arc::clone(&pool), counters.clone());
            thread::spawn(move || pool.spawn(counters.job()))
        };
        pool.shutdown(None);
        let started = counters.started.load(Ordering::SeqCst);
        assert_eq!(counters.ran(), started, "shutdown returned while a job ran");
        submitter.join().unwrap();
        assert_eq!(pool.threads(), 0);
        let cancelled = counters.cancelled.load(Ordering::SeqCst);
        assert_eq!(counters.ran() + cancelled, 2);
    });
}

/// A shutdown whose timeout passes while a job runs, then a second shutdown
/// that waits: the first leaves the running job alone, the second sees every
/// thread out, and every job is resolved exactly once.
#[test]
fn blocking_shutdown_timing_out_then_waiting_resolves_every_job_once() {
    model(|| {
        let pool = Pool::new(config(2, NEVER_RETIRES));
        let counters = Counters::default();
        pool.spawn(counters.job());
        pool.spawn(counters.job());
        pool.shutdown(Some(RETIRES));
        pool.shutdown(None);
        assert_eq!(pool.threads(), 0);
        let cancelled = counters.cancelled.load(Ordering::SeqCst);
        assert_eq!(counters.ran() + cancelled, 2);
    });
}

/// Thread creation fails once, at whichever submission needs a thread
/// second. A job queued by the failed submission runs on the thread that is
/// alive; if no thread is alive it waits, as documented, for the next
/// submission, which starts a thread that runs both.
#[test]
fn blocking_failed_thread_creation_loses_no_job() {
    model(|| {
        let attempts = std::sync::atomic::AtomicUsize::new(0);
        let spawner: super::SpawnThread = std::sync::Arc::new(move |builder, body| {
            // A plain std atomic: the pool calls this only under its lock.
            if attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 1 {
                return Err(std::io::Error::other("injected: no thread"));
            }
            builder.spawn(body)
        });
        let pool = Pool::with_spawner(config(2, RETIRES), spawner);
        let counters = Counters::default();
        let mut submitted = 3;
        for _ in 0..submitted {
            pool.spawn(counters.job());
        }
        // No thread alive and work queued: only a submission starts one.
        // With a thread alive, it drains the queue before it may retire.
        if pool.threads() == 0 && pool.queued() > 0 {
            pool.spawn(counters.job());
            submitted += 1;
        }
        counters.ran.wait_for(submitted);
        pool.shutdown(None);
        assert_eq!(pool.threads(), 0);
    });
}

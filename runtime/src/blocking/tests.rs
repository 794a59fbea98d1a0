//! The pool on real threads. Timing bounds are loose (seconds) so that a
//! loaded 2-core machine does not make them flaky.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Condvar, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use super::{Job, Pool, PoolConfig, SpawnThread};

/// How long a test waits for something that should happen within
/// milliseconds before it declares a hang.
const PATIENCE: Duration = Duration::from_secs(10);

/// A keep-alive no test outlives, for tests where no thread may retire.
const FOREVER: Duration = Duration::from_secs(3600);

/// What happened to a job, reported on a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ran(usize),
    Cancelled(usize),
}

/// A job built from a closure that reports its outcome.
struct TestJob {
    id: usize,
    body: Box<dyn FnOnce() + Send>,
    report: mpsc::Sender<Outcome>,
}

impl Job for TestJob {
    fn run(self) {
        (self.body)();
        let _ = self.report.send(Outcome::Ran(self.id));
    }
    fn cancel(self) {
        let _ = self.report.send(Outcome::Cancelled(self.id));
    }
}

fn job(id: usize, report: &mpsc::Sender<Outcome>, body: impl FnOnce() + Send + 'static) -> TestJob {
    TestJob {
        id,
        body: Box::new(body),
        report: report.clone(),
    }
}

fn config(max_threads: usize, keep_alive: Duration) -> PoolConfig {
    PoolConfig {
        max_threads,
        keep_alive,
        thread_name: "test".to_owned(),
        on_thread_start: None,
    }
}

/// Polls `condition` until it holds or [`PATIENCE`] runs out.
fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for: {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

fn recv(rx: &mpsc::Receiver<Outcome>) -> Outcome {
    rx.recv_timeout(PATIENCE)
        .expect("a job neither ran nor was cancelled")
}

#[test]
fn pool_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Pool<TestJob>>();
}

#[test]
fn thousand_jobs_never_exceed_max_threads_and_all_run() {
    const JOBS: usize = 1000;
    const MAX: usize = 4;
    let pool = Arc::new(Pool::new(config(MAX, FOREVER)));
    let most = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    for id in 0..JOBS {
        let (pool2, most) = (Arc::clone(&pool), Arc::clone(&most));
        pool.spawn(job(id, &tx, move || {
            most.fetch_max(pool2.threads(), Ordering::Relaxed);
            // Long enough that the submitter outpaces the threads and
            // the queue fills up.
            thread::sleep(Duration::from_micros(50));
        }));
        assert!(pool.threads() <= MAX);
    }
    let mut ran = [false; JOBS];
    for _ in 0..JOBS {
        match recv(&rx) {
            Outcome::Ran(id) => ran[id] = true,
            other => panic!("{other:?}"),
        }
    }
    assert!(ran.iter().all(|&r| r));
    let most = most.load(Ordering::Relaxed);
    assert!(most <= MAX, "saw {most} threads");
    assert!(most >= 1);
    assert_eq!(pool.queued(), 0);
    pool.shutdown(None);
    assert_eq!(pool.threads(), 0);
}

/// Jobs that each wait until all of their batch have started: a batch only
/// finishes if every job got a thread of its own. The second batch finds
/// the first batch's threads idle, so all but its first job are left to a
/// claimed thread on its way and reach their threads by claims passed on.
#[test]
fn a_burst_onto_idle_threads_gives_every_job_its_own_thread() {
    const JOBS: usize = 64;
    let pool = Pool::new(config(JOBS, FOREVER));
    let (tx, rx) = mpsc::channel();
    for batch in 0..2 {
        let all_started = Arc::new(Barrier::new(JOBS));
        for id in 0..JOBS {
            let all_started = Arc::clone(&all_started);
            pool.spawn(job(batch * JOBS + id, &tx, move || {
                all_started.wait();
            }));
        }
        for _ in 0..JOBS {
            assert!(matches!(recv(&rx), Outcome::Ran(_)), "batch {batch}");
        }
        eventually("the batch's threads go idle", || {
            pool.idle_threads() == JOBS
        });
    }
    assert_eq!(
        pool.threads(),
        JOBS,
        "the second batch reused the first's threads"
    );
}

#[test]
fn work_beyond_the_cap_runs_in_submission_order() {
    let pool = Pool::new(config(1, FOREVER));
    let gate = Arc::new(Barrier::new(2));
    let (tx, rx) = mpsc::channel();
    let g = Arc::clone(&gate);
    pool.spawn(job(0, &tx, move || {
        g.wait(); // started
        g.wait(); // released
    }));
    gate.wait();
    for id in 1..=5 {
        pool.spawn(job(id, &tx, || {}));
    }
    assert_eq!(pool.threads(), 1);
    assert_eq!(pool.queued(), 5);
    gate.wait();
    let order: Vec<Outcome> = (0..=5).map(|_| recv(&rx)).collect();
    assert_eq!(order, (0..=5).map(Outcome::Ran).collect::<Vec<_>>());
}

#[test]
fn idle_thread_is_reused_and_named() {
    let pool = Pool::new(config(4, FOREVER));
    let (tx, rx) = mpsc::channel();
    let (names_tx, names_rx) = mpsc::channel();
    for id in 0..3 {
        let names_tx = names_tx.clone();
        pool.spawn(job(id, &tx, move || {
            let me = thread::current();
            names_tx
                .send((me.id(), me.name().map(str::to_owned)))
                .unwrap();
        }));
        assert_eq!(recv(&rx), Outcome::Ran(id));
        eventually("the thread goes idle", || pool.idle_threads() == 1);
    }
    let seen: Vec<_> = names_rx.try_iter().collect();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|s| s == &seen[0]), "{seen:?}");
    assert_eq!(seen[0].1.as_deref(), Some("test-blocking-0"));
    assert_eq!(pool.threads(), 1);
}

#[test]
fn idle_threads_retire_after_keep_alive() {
    const KEEP_ALIVE: Duration = Duration::from_millis(500);
    let pool = Pool::new(config(4, KEEP_ALIVE));
    let gate = Arc::new(Barrier::new(3));
    let (tx, rx) = mpsc::channel();
    let (ends_tx, ends_rx) = mpsc::channel();
    for id in 0..2 {
        let (g, ends_tx) = (Arc::clone(&gate), ends_tx.clone());
        pool.spawn(job(id, &tx, move || {
            g.wait();
            ends_tx.send(Instant::now()).unwrap();
        }));
    }
    gate.wait();
    recv(&rx);
    recv(&rx);
    // Each thread went idle after its job ended, so neither can retire
    // before `first_end + KEEP_ALIVE`, however this machine is loaded.
    let first_end = ends_rx.iter().take(2).min().unwrap();
    thread::sleep(KEEP_ALIVE / 5);
    let threads = pool.threads();
    if Instant::now() < first_end + KEEP_ALIVE {
        assert_eq!(threads, 2, "retired before the keep-alive");
    }
    eventually("idle threads retire", || pool.threads() == 0);
    assert!(first_end.elapsed() >= KEEP_ALIVE);
    assert_eq!(pool.idle_threads(), 0);

    // The pool starts threads again afterwards.
    pool.spawn(job(9, &tx, || {}));
    assert_eq!(recv(&rx), Outcome::Ran(9));
    assert_eq!(pool.threads(), 1);
}

/// Threads that retire the moment they go idle, fed by several submitters
/// at once: the race between a submission and a retiring thread, on real
/// threads, thousands of times.
#[test]
fn submissions_racing_retiring_threads_lose_no_job() {
    const SUBMITTERS: usize = 4;
    const JOBS_EACH: usize = 500;
    // Short enough that threads retire all the time, long enough that they
    // release the lock and wait first (a zero keep-alive retires inside the
    // critical section that made the thread idle, and there is no race).
    const RACY_KEEP_ALIVE: Duration = Duration::from_micros(50);
    let pool = Arc::new(Pool::new(config(3, RACY_KEEP_ALIVE)));
    let (tx, rx) = mpsc::channel();
    let submitters: Vec<_> = (0..SUBMITTERS)
        .map(|s| {
            let (pool, tx) = (Arc::clone(&pool), tx.clone());
            thread::spawn(move || {
                for j in 0..JOBS_EACH {
                    pool.spawn(job(s * JOBS_EACH + j, &tx, || {}));
                    if j % 16 == 0 {
                        // Let the threads run dry and retire now and then.
                        thread::sleep(Duration::from_micros(200));
                    }
                }
            })
        })
        .collect();
    for submitter in submitters {
        submitter.join().unwrap();
    }
    let mut ran = vec![false; SUBMITTERS * JOBS_EACH];
    for _ in 0..ran.len() {
        match recv(&rx) {
            Outcome::Ran(id) => ran[id] = true,
            other => panic!("{other:?}"),
        }
    }
    assert!(ran.iter().all(|&r| r));
    eventually("every thread retires", || pool.threads() == 0);
}

#[test]
fn panicking_job_does_not_kill_its_thread() {
    let pool = Pool::new(config(1, FOREVER));
    let (tx, rx) = mpsc::channel();
    let (ids_tx, ids_rx) = mpsc::channel();
    let ids = ids_tx.clone();
    pool.spawn(job(0, &tx, move || {
        ids.send(thread::current().id()).unwrap();
        panic!("job 0 panics on purpose");
    }));
    pool.spawn(job(1, &tx, move || {
        ids_tx.send(thread::current().id()).unwrap();
    }));
    assert_eq!(recv(&rx), Outcome::Ran(1));
    let first = ids_rx.recv().unwrap();
    assert_eq!(ids_rx.recv().unwrap(), first);
    assert_eq!(pool.threads(), 1);
}

#[test]
fn shutdown_cancels_queued_jobs_and_waits_for_running_ones() {
    let pool = Pool::new(config(1, FOREVER));
    let gate = Arc::new(Barrier::new(2));
    let finished = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let (g, f) = (Arc::clone(&gate), Arc::clone(&finished));
    pool.spawn(job(0, &tx, move || {
        g.wait();
        thread::sleep(Duration::from_millis(200));
        f.store(true, Ordering::SeqCst);
    }));
    pool.spawn(job(1, &tx, || {}));
    pool.spawn(job(2, &tx, || {}));
    gate.wait(); // job 0 is running, 1 and 2 are queued
    pool.shutdown(None);
    assert!(
        finished.load(Ordering::SeqCst),
        "shutdown returned before the running job finished"
    );
    assert_eq!(pool.threads(), 0);
    let mut outcomes: Vec<_> = rx.try_iter().collect();
    outcomes.sort_by_key(|o| match o {
        Outcome::Ran(id) | Outcome::Cancelled(id) => *id,
    });
    assert_eq!(
        outcomes,
        [
            Outcome::Ran(0),
            Outcome::Cancelled(1),
            Outcome::Cancelled(2)
        ]
    );

    pool.spawn(job(3, &tx, || {}));
    assert_eq!(
        rx.try_recv(),
        Ok(Outcome::Cancelled(3)),
        "not cancelled at once"
    );
}

#[test]
fn shutdown_stops_waiting_at_its_timeout() {
    const TIMEOUT: Duration = Duration::from_millis(200);
    let pool = Pool::new(config(2, FOREVER));
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (tx, rx) = mpsc::channel();
    let started = Arc::new(Barrier::new(2));
    let s = Arc::clone(&started);
    pool.spawn(job(0, &tx, move || {
        s.wait();
        release_rx.recv().unwrap();
    }));
    started.wait();
    let begin = Instant::now();
    pool.shutdown(Some(TIMEOUT));
    let waited = begin.elapsed();
    assert!(waited >= TIMEOUT, "returned after {waited:?}");
    assert!(waited < PATIENCE, "returned after {waited:?}");
    assert_eq!(pool.threads(), 1, "the running thread is left to finish");
    release_tx.send(()).unwrap();
    assert_eq!(recv(&rx), Outcome::Ran(0));
    eventually("the last thread exits", || pool.threads() == 0);
}

#[test]
fn dropping_the_pool_cancels_queued_jobs_and_lets_running_ones_finish() {
    let pool = Pool::new(config(1, FOREVER));
    let gate = Arc::new(Barrier::new(2));
    let (tx, rx) = mpsc::channel();
    let g = Arc::clone(&gate);
    pool.spawn(job(0, &tx, move || {
        g.wait();
        g.wait();
    }));
    pool.spawn(job(1, &tx, || {}));
    gate.wait();
    drop(pool);
    assert_eq!(recv(&rx), Outcome::Cancelled(1));
    gate.wait();
    assert_eq!(recv(&rx), Outcome::Ran(0));
}

#[test]
fn shutdown_from_a_pool_thread_does_not_wait_for_itself() {
    let pool = Arc::new(Pool::new(config(2, FOREVER)));
    let (tx, rx) = mpsc::channel();
    let p = Arc::clone(&pool);
    pool.spawn(job(0, &tx, move || p.shutdown(None)));
    assert_eq!(recv(&rx), Outcome::Ran(0));
    eventually("the thread exits", || pool.threads() == 0);
}

#[test]
fn on_thread_start_runs_once_on_each_new_thread() {
    let starts = Arc::new(AtomicUsize::new(0));
    let s = Arc::clone(&starts);
    let pool = Pool::new(PoolConfig {
        on_thread_start: Some(Arc::new(move || {
            s.fetch_add(1, Ordering::SeqCst);
        })),
        ..config(2, FOREVER)
    });
    let gate = Arc::new(Barrier::new(3));
    let (tx, rx) = mpsc::channel();
    for id in 0..2 {
        let g = Arc::clone(&gate);
        pool.spawn(job(id, &tx, move || {
            g.wait();
        }));
    }
    gate.wait();
    recv(&rx);
    recv(&rx);
    eventually("both threads go idle", || pool.idle_threads() == 2);
    pool.spawn(job(2, &tx, || {}));
    assert_eq!(recv(&rx), Outcome::Ran(2));
    assert_eq!(starts.load(Ordering::SeqCst), 2);
}

/// A spawner that creates at most `allowed` threads and fails after that
/// (raise `allowed` to let more through), counting its attempts.
fn limited_spawner(allowed: &Arc<AtomicUsize>, attempts: &Arc<AtomicUsize>) -> SpawnThread {
    let (allowed, attempts) = (Arc::clone(allowed), Arc::clone(attempts));
    let created = AtomicUsize::new(0);
    Arc::new(
        move |builder: thread::Builder, body: Box<dyn FnOnce() + Send>| {
            attempts.fetch_add(1, Ordering::SeqCst);
            if created.load(Ordering::SeqCst) >= allowed.load(Ordering::SeqCst) {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "injected: no more threads",
                ));
            }
            created.fetch_add(1, Ordering::SeqCst);
            builder.spawn(body)
        },
    )
}

/// A gate that jobs wait at until the test opens it.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    fn wait(&self) {
        let mut open = self.open.lock().unwrap();
        while !*open {
            open = self.opened.wait(open).unwrap();
        }
    }
    fn open(&self) {
        *self.open.lock().unwrap() = true;
        self.opened.notify_all();
    }
}

#[test]
fn thread_creation_failure_keeps_working_with_fewer_threads() {
    const JOBS: usize = 50;
    const CREATABLE: usize = 2;
    let allowed = Arc::new(AtomicUsize::new(CREATABLE));
    let attempts = Arc::new(AtomicUsize::new(0));
    let pool = Pool::with_spawner(config(8, FOREVER), limited_spawner(&allowed, &attempts));
    let gate = Arc::new(Gate::default());
    let (tx, rx) = mpsc::channel();
    for id in 0..JOBS {
        let g = Arc::clone(&gate);
        pool.spawn(job(id, &tx, move || g.wait()));
    }
    // The first two jobs hold both threads at the gate, so no thread is ever
    // idle: every later submission tried to start a thread and failed (and
    // so may the two threads, passing a claim on as they took their jobs).
    let tried = attempts.load(Ordering::SeqCst);
    assert!(
        (JOBS..=JOBS + CREATABLE).contains(&tried),
        "{tried} attempts"
    );
    assert_eq!(pool.threads(), CREATABLE);
    eventually("the two threads take a job each", || {
        pool.queued() == JOBS - CREATABLE
    });
    gate.open();
    let mut ran = [false; JOBS];
    for _ in 0..JOBS {
        match recv(&rx) {
            Outcome::Ran(id) => ran[id] = true,
            other => panic!("{other:?}"),
        }
    }
    assert!(ran.iter().all(|&r| r));
    assert_eq!(pool.threads(), CREATABLE);
}

#[test]
fn job_queued_while_no_thread_can_start_runs_on_the_next_spawn() {
    let allowed = Arc::new(AtomicUsize::new(0));
    let attempts = Arc::new(AtomicUsize::new(0));
    let pool = Pool::with_spawner(config(4, FOREVER), limited_spawner(&allowed, &attempts));
    let (tx, rx) = mpsc::channel();
    pool.spawn(job(0, &tx, || {}));
    assert_eq!(attempts.load(Ordering::SeqCst), 1);
    assert_eq!(pool.threads(), 0);
    assert_eq!(pool.queued(), 1, "the job was lost");
    assert!(rx.try_recv().is_err());

    allowed.store(1, Ordering::SeqCst);
    pool.spawn(job(1, &tx, || {}));
    assert_eq!(recv(&rx), Outcome::Ran(0));
    assert_eq!(recv(&rx), Outcome::Ran(1));
    assert_eq!(pool.threads(), 1);
}

#[test]
fn shutdown_cancels_a_job_no_thread_could_run() {
    let allowed = Arc::new(AtomicUsize::new(0));
    let attempts = Arc::new(AtomicUsize::new(0));
    let pool = Pool::with_spawner(config(4, FOREVER), limited_spawner(&allowed, &attempts));
    let (tx, rx) = mpsc::channel();
    pool.spawn(job(0, &tx, || {}));
    pool.shutdown(Some(Duration::ZERO));
    assert_eq!(rx.try_recv(), Ok(Outcome::Cancelled(0)));
}

#[test]
fn panicking_start_hook_loses_no_job() {
    let fail = Arc::new(AtomicBool::new(true));
    let f = Arc::clone(&fail);
    let pool = Pool::new(PoolConfig {
        on_thread_start: Some(Arc::new(move || {
            assert!(!f.load(Ordering::SeqCst), "start hook fails on purpose");
        })),
        ..config(1, FOREVER)
    });
    let (tx, rx) = mpsc::channel();
    pool.spawn(job(0, &tx, || {}));
    eventually("the failed thread exits", || pool.threads() == 0);
    assert_eq!(pool.queued(), 1);
    fail.store(false, Ordering::SeqCst);
    pool.spawn(job(1, &tx, || {}));
    assert_eq!(recv(&rx), Outcome::Ran(0));
    assert_eq!(recv(&rx), Outcome::Ran(1));
}

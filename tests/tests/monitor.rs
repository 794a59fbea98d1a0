//! The monitor: Go-style hand-off of a worker stuck in one poll.
//!
//! These run in parallel mode only (with 2 workers): hand-off is about
//! giving a stuck worker's queue to another thread, which single-thread mode
//! does not have. Durations are bounded loosely (the blocked polls last 2 s;
//! "promptly" means under 1 s).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use spindle::{Builder, Runtime, spawn, yield_now};

/// How long the blocking tasks pin their workers.
const BLOCK: Duration = Duration::from_secs(2);

fn runtime(monitor: bool) -> Runtime {
    Builder::parallel()
        .worker_threads(2)
        .monitor(monitor)
        .build()
        .unwrap()
}

/// Two tasks each spawn 50 short tasks (into their worker's LIFO slot and
/// queue) and then block their worker. Returns when the short tasks were all
/// done, measured from the start.
fn short_tasks_behind_blocked_workers(rt: &Runtime) -> Duration {
    rt.block_on(async {
        let done = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        let blockers: Vec<_> = (0..2)
            .map(|_| {
                let done = done.clone();
                spawn(async move {
                    for _ in 0..50 {
                        let done = done.clone();
                        spawn(async move {
                            done.fetch_add(1, SeqCst);
                        });
                    }
                    std::thread::sleep(BLOCK);
                })
            })
            .collect();
        let mut finished_at = None;
        while start.elapsed() < BLOCK * 3 {
            if done.load(SeqCst) == 100 {
                finished_at = Some(start.elapsed());
                break;
            }
            spindle::time::sleep(Duration::from_millis(5)).await;
        }
        for b in blockers {
            b.await.unwrap();
        }
        finished_at.expect("the short tasks never finished")
    })
}

#[test]
fn with_the_monitor_short_tasks_queued_behind_blocked_workers_run_promptly() {
    let rt = runtime(true);
    let took = short_tasks_behind_blocked_workers(&rt);
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert!(rt.metrics().spare_threads >= 1, "{:?}", rt.metrics());
}

/// With every worker parked the monitor dozes (see `idle`); the first
/// worker to wake must wake it, or the stuck workers below would keep their
/// queues for the whole block.
#[test]
fn after_an_idle_spell_the_monitor_still_hands_off_stuck_workers() {
    let rt = runtime(true);
    rt.block_on(spindle::time::sleep(Duration::from_millis(300)));
    let took = short_tasks_behind_blocked_workers(&rt);
    assert!(took < Duration::from_secs(1), "took {took:?}");
    assert!(rt.metrics().spare_threads >= 1, "{:?}", rt.metrics());
}

#[test]
fn without_the_monitor_short_tasks_wait_for_the_blocked_workers() {
    let rt = runtime(false);
    let took = short_tasks_behind_blocked_workers(&rt);
    assert!(
        took >= BLOCK / 2,
        "took {took:?}: something ran them while both workers were blocked"
    );
    assert_eq!(rt.metrics().spare_threads, 0);
}

/// Both workers blocked, then 100 short tasks spawned from outside: they sit
/// in the injector with no free worker.
fn remote_tasks_while_workers_blocked(rt: &Runtime) -> Duration {
    let started = Arc::new(AtomicUsize::new(0));
    let blockers: Vec<_> = (0..2)
        .map(|_| {
            let started = started.clone();
            rt.spawn(async move {
                started.fetch_add(1, SeqCst);
                std::thread::sleep(BLOCK);
            })
        })
        .collect();
    while started.load(SeqCst) < 2 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let start = Instant::now();
    let shorts: Vec<_> = (0..100).map(|i| rt.spawn(async move { i })).collect();
    rt.block_on(async {
        for (i, s) in shorts.into_iter().enumerate() {
            assert_eq!(s.await.unwrap(), i);
        }
        let took = start.elapsed();
        for b in blockers {
            b.await.unwrap();
        }
        took
    })
}

#[test]
fn with_the_monitor_tasks_spawned_from_outside_run_while_both_workers_are_blocked() {
    let rt = runtime(true);
    let took = remote_tasks_while_workers_blocked(&rt);
    assert!(took < Duration::from_secs(1), "took {took:?}");
}

#[test]
fn without_the_monitor_tasks_spawned_from_outside_wait_for_a_free_worker() {
    let rt = runtime(false);
    let took = remote_tasks_while_workers_blocked(&rt);
    assert!(took >= BLOCK / 2, "took {took:?}");
}

#[test]
fn a_cpu_heavy_task_that_yields_is_never_handed_off() {
    // Polls of ~1 ms against a 100 ms threshold: a yield ends the poll and
    // restarts the clock. (At the default 10 ms, an OS preemption of a
    // worker thread on a loaded machine is a real stall the monitor may act
    // on; this test is about yields not being mistaken for stalls.)
    let rt = Builder::parallel()
        .worker_threads(2)
        .handoff_after(Duration::from_millis(100))
        .build()
        .unwrap();
    rt.block_on(async {
        let hot: Vec<_> = (0..2)
            .map(|_| {
                spawn(async {
                    let start = Instant::now();
                    let mut x = 0u64;
                    while start.elapsed() < Duration::from_millis(300) {
                        // ~1 ms of CPU per poll.
                        let slice = Instant::now();
                        while slice.elapsed() < Duration::from_millis(1) {
                            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                        }
                        yield_now().await;
                    }
                    x
                })
            })
            .collect();
        // Work waits behind them the whole time.
        let waiting: Vec<_> = (0..50).map(|i| spawn(async move { i })).collect();
        for h in hot {
            h.await.unwrap();
        }
        for w in waiting {
            w.await.unwrap();
        }
    });
    assert_eq!(rt.metrics().spare_threads, 0, "{:?}", rt.metrics());
}

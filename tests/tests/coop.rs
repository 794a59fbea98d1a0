//! The cooperative budget: a task whose resources are always ready still
//! yields, so it cannot starve the other tasks on its thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

use spindle::spawn;
use spindle::sync::{Queue, Semaphore};
use tests::both_modes;

/// Ready operations a hot loop does: far more than one budget (128).
const HOT_OPS: usize = 100_000;

#[test]
fn a_task_always_finding_its_queue_ready_still_lets_others_run() {
    both_modes(|mode| async move {
        let other_ran = Arc::new(AtomicBool::new(false));
        let hot = {
            let other_ran = other_ran.clone();
            spawn(async move {
                let q = Queue::new(0);
                for i in 0..HOT_OPS {
                    q.put_nowait(i).unwrap();
                    assert_eq!(q.get().await, i);
                    if other_ran.load(SeqCst) {
                        return true;
                    }
                }
                false
            })
        };
        let o = other_ran.clone();
        spawn(async move { o.store(true, SeqCst) });
        assert!(
            hot.await.unwrap(),
            "{mode:?}: the hot task never yielded to the other one"
        );
    });
}

#[test]
fn a_task_always_getting_permits_still_lets_others_run() {
    both_modes(|mode| async move {
        let other_ran = Arc::new(AtomicBool::new(false));
        let hot = {
            let other_ran = other_ran.clone();
            spawn(async move {
                let sem = Semaphore::new(1);
                for _ in 0..HOT_OPS {
                    drop(sem.acquire().await);
                    if other_ran.load(SeqCst) {
                        return true;
                    }
                }
                false
            })
        };
        let o = other_ran.clone();
        spawn(async move { o.store(true, SeqCst) });
        assert!(
            hot.await.unwrap(),
            "{mode:?}: the hot task never yielded to the other one"
        );
    });
}

/// Spins for `d` without yielding: a long, CPU-bound poll.
fn busy(d: std::time::Duration) {
    let start = std::time::Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

#[test]
fn tasks_woken_from_outside_are_not_starved_by_tasks_that_keep_yielding() {
    use std::time::{Duration, Instant};
    for mode in tests::MODES {
        // No monitor: this is about the run queues' own fairness.
        let rt = spindle::Builder::new(mode)
            .worker_threads(2)
            .monitor(false)
            .build()
            .unwrap();
        let took = rt.block_on(async {
            let stop = Arc::new(AtomicBool::new(false));
            let hogs: Vec<_> = (0..2)
                .map(|_| {
                    let stop = stop.clone();
                    spawn(async move {
                        let start = Instant::now();
                        while !stop.load(SeqCst) && start.elapsed() < Duration::from_secs(10) {
                            busy(Duration::from_millis(30));
                            spindle::yield_now().await;
                        }
                    })
                })
                .collect();
            // Timer wakes arrive from the reactor, i.e. from outside the
            // task queues the hogs keep full.
            let start = Instant::now();
            let ticker = spawn(async {
                for _ in 0..10 {
                    spindle::time::sleep(Duration::from_millis(5)).await;
                }
            });
            ticker.await.unwrap();
            let took = start.elapsed();
            stop.store(true, SeqCst);
            for h in hogs {
                h.await.unwrap();
            }
            took
        });
        // Ten hops of at most a burst or two each; starved, each would wait
        // 61 bursts (1.8 s).
        assert!(
            took < Duration::from_secs(3),
            "{mode:?}: ten 5 ms sleeps took {took:?}"
        );
    }
}

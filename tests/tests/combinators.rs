//! gather, gather!, gather_settled, wait, as_completed, TaskGroup,
//! run_in_executor and ThreadPool, in both modes.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use spindle::time::sleep;
use spindle::{
    Builder, ReturnWhen, TaskGroup, ThreadPool, as_completed, gather, gather_settled,
    run_in_executor, spawn, wait,
};
use tests::{MODES, both_modes};

/// Counts drops (a task's future was dropped: completed or cancelled).
struct OnDrop(Arc<AtomicUsize>);

impl Drop for OnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn gather_returns_results_in_input_order_when_they_finish_in_reverse() {
    both_modes(|_| async {
        let futs = (0..5u64).map(|i| async move {
            sleep(Duration::from_millis(50 - 10 * i)).await;
            i * 100
        });
        assert_eq!(gather(futs).await.unwrap(), vec![0, 100, 200, 300, 400]);
    });
}

#[test]
fn gather_failure_aborts_the_siblings_which_observe_cancellation() {
    both_modes(|_| async {
        let dropped = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicUsize::new(0));
        let futs: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = u32> + Send>>> = (0..4u32)
            .map(|i| {
                let guard = OnDrop(dropped.clone());
                let finished = finished.clone();
                Box::pin(async move {
                    let _g = guard;
                    if i == 2 {
                        sleep(Duration::from_millis(10)).await;
                        panic!("task 2 fails");
                    }
                    sleep(Duration::from_secs(30)).await;
                    finished.fetch_add(1, SeqCst);
                    i
                }) as _
            })
            .collect();
        let err = gather(futs).await.unwrap_err();
        assert!(err.is_panic());
        for _ in 0..200 {
            if dropped.load(SeqCst) == 4 {
                break;
            }
            sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            dropped.load(SeqCst),
            4,
            "every sibling's future was dropped"
        );
        assert_eq!(finished.load(SeqCst), 0, "no sibling ran to completion");
    });
}

#[test]
fn dropping_a_gather_aborts_the_tasks_it_started() {
    both_modes(|_| async {
        let dropped = Arc::new(AtomicUsize::new(0));
        let futs: Vec<_> = (0..3)
            .map(|_| {
                let g = OnDrop(dropped.clone());
                async move {
                    let _g = g;
                    std::future::pending::<()>().await
                }
            })
            .collect();
        let res = spindle::wait_for(Duration::from_millis(20), gather(futs)).await;
        assert!(res.is_err(), "timed out");
        for _ in 0..200 {
            if dropped.load(SeqCst) == 3 {
                break;
            }
            sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(dropped.load(SeqCst), 3);
    });
}

#[test]
fn gather_settled_returns_every_outcome_in_order() {
    both_modes(|_| async {
        let futs = (0..4u32).map(|i| async move {
            if i % 2 == 1 {
                panic!("odd");
            }
            i
        });
        let out = gather_settled(futs).await;
        assert_eq!(out.len(), 4);
        assert_eq!(*out[0].as_ref().unwrap(), 0);
        assert!(out[1].as_ref().unwrap_err().is_panic());
        assert_eq!(*out[2].as_ref().unwrap(), 2);
        assert!(out[3].as_ref().unwrap_err().is_panic());
    });
}

#[test]
fn gather_macro_joins_futures_of_different_types() {
    both_modes(|_| async {
        let (a, b, c) = spindle::gather!(async { 1u8 }, async { "two" }, async { vec![3] })
            .await
            .unwrap();
        assert_eq!((a, b, c), (1, "two", vec![3]));
        let err = spindle::gather!(async { 1 }, async {
            panic!("x");
        })
        .await;
        assert!(err.unwrap_err().is_panic());
    });
}

#[test]
fn wait_first_completed_with_a_timeout_leaves_pending_handles_usable() {
    both_modes(|_| async {
        let fast = spawn(async { 1 });
        let slow = spawn(async {
            sleep(Duration::from_millis(200)).await;
            2
        });
        let never = spawn(async {
            std::future::pending::<()>().await;
            3
        });
        let done = wait(
            vec![fast, slow, never],
            ReturnWhen::FirstCompleted,
            Some(Duration::from_secs(10)),
        )
        .await;
        assert_eq!(done.done.len(), 1);
        assert_eq!(done.pending.len(), 2);
        for h in done.done {
            assert_eq!(h.await.unwrap(), 1);
        }
        let done = wait(
            done.pending,
            ReturnWhen::AllCompleted,
            Some(Duration::from_millis(400)),
        )
        .await;
        assert_eq!(
            done.done.len(),
            1,
            "the slow task finished, the other timed out"
        );
        assert_eq!(done.done.into_iter().next().unwrap().await.unwrap(), 2);
        let never = done.pending.into_iter().next().unwrap();
        assert!(!never.is_finished(), "wait cancels nothing");
        never.abort();
        assert!(never.await.unwrap_err().is_cancelled());
    });
}

#[test]
fn wait_first_exception_returns_at_the_first_failure() {
    both_modes(|_| async {
        let ok = spawn(async {
            sleep(Duration::from_secs(30)).await;
        });
        let bad = spawn(async {
            sleep(Duration::from_millis(10)).await;
            panic!("bad")
        });
        let done = wait(vec![ok, bad], ReturnWhen::FirstException, None).await;
        assert_eq!(done.done.len(), 1);
        assert!(
            done.done
                .into_iter()
                .next()
                .unwrap()
                .await
                .unwrap_err()
                .is_panic()
        );
        done.pending.into_iter().for_each(|h| h.abort());
    });
}

#[test]
fn as_completed_yields_results_in_completion_order() {
    both_modes(|_| async {
        let tasks = (0..4u64)
            .map(|i| {
                spawn(async move {
                    sleep(Duration::from_millis(200 - 50 * i)).await;
                    i
                })
            })
            .collect();
        let order: Vec<u64> = as_completed(tasks).map(|r| r.unwrap()).collect().await;
        assert_eq!(order, vec![3, 2, 1, 0]);
    });
}

#[test]
fn task_group_joins_in_spawn_order_and_dropping_it_aborts_every_task() {
    both_modes(|_| async {
        let mut group = TaskGroup::new();
        for i in 0..5u32 {
            group.spawn(async move {
                sleep(Duration::from_millis(u64::from(5 - i))).await;
                i
            });
        }
        assert_eq!(group.join().await.unwrap(), vec![0, 1, 2, 3, 4]);

        let dropped = Arc::new(AtomicUsize::new(0));
        let mut group = TaskGroup::new();
        for _ in 0..5 {
            let g = OnDrop(dropped.clone());
            group.spawn(async move {
                let _g = g;
                std::future::pending::<()>().await
            });
        }
        sleep(Duration::from_millis(5)).await;
        drop(group);
        for _ in 0..200 {
            if dropped.load(SeqCst) == 5 {
                break;
            }
            sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(dropped.load(SeqCst), 5);
    });
}

#[test]
fn task_group_first_failure_aborts_the_rest() {
    both_modes(|_| async {
        let mut group = TaskGroup::new();
        let slow = group.spawn(async {
            sleep(Duration::from_secs(30)).await;
        });
        group.spawn(async { panic!("fail") });
        assert!(group.join().await.unwrap_err().is_panic());
        for _ in 0..200 {
            if slow.is_finished() {
                break;
            }
            sleep(Duration::from_millis(5)).await;
        }
        assert!(slow.is_finished(), "the sibling was aborted");
    });
}

#[test]
fn a_thousand_run_in_executor_calls_use_at_most_four_threads() {
    for mode in MODES {
        let rt = Builder::new(mode)
            .worker_threads(2)
            .max_blocking_threads(4)
            .build()
            .unwrap();
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let threads = Arc::new(Mutex::new(HashSet::new()));
        rt.block_on(async {
            let handles: Vec<_> = (0..1000u64)
                .map(|i| {
                    let (running, peak, threads) = (running.clone(), peak.clone(), threads.clone());
                    run_in_executor(move || {
                        let now = running.fetch_add(1, SeqCst) + 1;
                        peak.fetch_max(now, SeqCst);
                        threads.lock().unwrap().insert(std::thread::current().id());
                        std::thread::sleep(Duration::from_micros(50));
                        running.fetch_sub(1, SeqCst);
                        i
                    })
                })
                .collect();
            for (i, h) in handles.into_iter().enumerate() {
                assert_eq!(h.await.unwrap(), i as u64);
            }
        });
        assert!(
            peak.load(SeqCst) <= 4,
            "{mode:?}: {} ran at once",
            peak.load(SeqCst)
        );
        assert!(
            threads.lock().unwrap().len() <= 4,
            "{mode:?}: {} threads",
            threads.lock().unwrap().len()
        );
    }
}

#[test]
fn a_panic_in_a_blocking_closure_is_a_join_error() {
    both_modes(|_| async {
        let err = run_in_executor(|| panic!("blocking boom"))
            .await
            .unwrap_err();
        assert!(err.is_panic());
        assert_eq!(
            run_in_executor(|| 5).await.unwrap(),
            5,
            "the pool still works"
        );
    });
}

#[test]
fn a_dedicated_thread_pool_runs_closures_off_the_runtime() {
    both_modes(|mode| async move {
        let pool = ThreadPool::new(2);
        let names: Vec<_> = (0..8)
            .map(|_| pool.run_in_executor(|| std::thread::current().name().map(str::to_owned)))
            .collect();
        for n in names {
            let name = n.await.unwrap().unwrap_or_default();
            assert!(name.starts_with("spindle-pool"), "{mode:?}: ran on {name}");
        }
        assert!(pool.threads() <= 2);
    });
}

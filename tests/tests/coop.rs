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

//! Spawning, joining, aborting and shutting down tasks, in both modes.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use spindle::{Builder, Handle, Mode, spawn, spawn_local, task, yield_now};
use tests::{MODES, both_modes, runtime};

#[test]
fn hundred_thousand_tasks_are_spawned_and_joined_with_their_results() {
    both_modes(|_| async {
        let handles: Vec<_> = (0..100_000u64)
            .map(|i| spawn(async move { i * 2 }))
            .collect();
        let mut sum = 0;
        for (i, h) in handles.into_iter().enumerate() {
            let v = h.await.unwrap();
            assert_eq!(v, i as u64 * 2);
            sum += v;
        }
        assert_eq!(sum, 99_999 * 100_000);
    });
}

fn nested(depth: u32) -> spindle::JoinHandle<u32> {
    spawn(async move {
        if depth == 0 {
            0
        } else {
            nested(depth - 1).await.unwrap() + 1
        }
    })
}

#[test]
fn nested_spawns_ten_deep_return_through_every_level() {
    both_modes(|_| async {
        assert_eq!(nested(10).await.unwrap(), 10);
    });
}

#[test]
fn tasks_woken_from_foreign_threads_complete() {
    both_modes(|_| async {
        let handles: Vec<_> = (0..50)
            .map(|i| {
                let (resolver, promise) = oneshot();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(1));
                    resolver(i);
                });
                spawn(promise)
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.await.unwrap(), i);
        }
    });
}

/// A minimal one-shot channel built on a waker, so this test depends on
/// nothing but the scheduler: the sender runs on a plain thread.
fn oneshot<T: Send + 'static>() -> (
    impl FnOnce(T) + Send,
    impl std::future::Future<Output = T> + Send,
) {
    use std::sync::Mutex;
    use std::task::{Poll, Waker};
    type Slot<T> = Arc<Mutex<(Option<T>, Option<Waker>)>>;
    let slot: Slot<T> = Arc::new(Mutex::new((None, None)));
    let tx = slot.clone();
    let send = move |v: T| {
        let mut s = tx.lock().unwrap();
        s.0 = Some(v);
        if let Some(w) = s.1.take() {
            w.wake();
        }
    };
    let recv = std::future::poll_fn(move |cx| {
        let mut s = slot.lock().unwrap();
        match s.0.take() {
            Some(v) => Poll::Ready(v),
            None => {
                s.1 = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    });
    (send, recv)
}

#[test]
fn spawn_local_runs_a_future_holding_an_rc() {
    both_modes(|_| async {
        let counter = Rc::new(std::cell::Cell::new(0));
        let c = counter.clone();
        let h = spawn_local(async move {
            for _ in 0..10 {
                c.set(c.get() + 1);
                yield_now().await;
            }
            Rc::strong_count(&c)
        });
        assert_eq!(h.await.unwrap(), 2);
        assert_eq!(counter.get(), 10);
    });
}

#[test]
fn spawn_local_inside_a_worker_task_stays_on_that_thread() {
    both_modes(|_| async {
        let outer = spawn(async {
            let me = std::thread::current().id();
            let inner = spawn_local(async move {
                let mut same = true;
                for _ in 0..20 {
                    same &= std::thread::current().id() == me;
                    yield_now().await;
                }
                same
            });
            inner.await.unwrap()
        });
        assert!(outer.await.unwrap());
    });
}

#[test]
fn a_panicking_task_gives_a_panic_join_error_and_others_go_on() {
    both_modes(|_| async {
        let bad = spawn(async { panic!("boom") });
        let good: Vec<_> = (0..100).map(|i| spawn(async move { i })).collect();
        let err = bad.await.unwrap_err();
        assert!(err.is_panic());
        assert!(!err.is_cancelled());
        assert_eq!(*err.into_panic().downcast::<&str>().unwrap(), "boom");
        for (i, g) in good.into_iter().enumerate() {
            assert_eq!(g.await.unwrap(), i);
        }
    });
}

/// Counts drops of the future it is part of.
struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn abort_before_the_first_poll_cancels_and_drops_the_future_once() {
    both_modes(|_| async {
        let drops = Arc::new(AtomicUsize::new(0));
        let ran = Arc::new(AtomicBool::new(false));
        let guard = DropCounter(drops.clone());
        let r = ran.clone();
        let h = spawn(async move {
            let _g = guard;
            r.store(true, SeqCst);
        });
        h.abort();
        let err = h.await.unwrap_err();
        assert!(err.is_cancelled(), "{err:?}");
        assert_eq!(drops.load(SeqCst), 1);
        assert!(!ran.load(SeqCst) || drops.load(SeqCst) == 1);
    });
}

#[test]
fn abort_while_pending_drops_the_future_and_resolves_cancelled() {
    both_modes(|_| async {
        let drops = Arc::new(AtomicUsize::new(0));
        let guard = DropCounter(drops.clone());
        let h = spawn(async move {
            let _g = guard;
            std::future::pending::<()>().await;
        });
        for _ in 0..10 {
            yield_now().await;
        }
        assert!(!h.is_finished());
        h.abort();
        assert!(h.await.unwrap_err().is_cancelled());
        assert_eq!(drops.load(SeqCst), 1);
    });
}

#[test]
fn abort_during_a_poll_cancels_after_that_poll() {
    both_modes(|_| async {
        let drops = Arc::new(AtomicUsize::new(0));
        let guard = DropCounter(drops.clone());
        let polls = Arc::new(AtomicUsize::new(0));
        let p = polls.clone();
        let slot: Arc<std::sync::Mutex<Option<task::AbortHandle>>> = Arc::default();
        let s = slot.clone();
        let h = spawn(async move {
            let _g = guard;
            loop {
                p.fetch_add(1, SeqCst);
                if let Some(a) = s.lock().unwrap().take() {
                    a.abort();
                }
                yield_now().await;
            }
        });
        *slot.lock().unwrap() = Some(h.abort_handle());
        assert!(h.await.unwrap_err().is_cancelled());
        assert_eq!(drops.load(SeqCst), 1);
        let seen = polls.load(SeqCst);
        yield_now().await;
        assert_eq!(polls.load(SeqCst), seen, "no poll after the cancellation");
    });
}

/// Pending for `wakes` polls, each time waking itself in the way `how`
/// says; counts its polls.
struct WakesItself {
    wakes: usize,
    how: fn(&std::task::Waker),
    polls: Arc<AtomicUsize>,
}

impl std::future::Future for WakesItself {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        self.polls.fetch_add(1, SeqCst);
        if self.wakes == 0 {
            return std::task::Poll::Ready(());
        }
        self.wakes -= 1;
        (self.how)(cx.waker());
        std::task::Poll::Pending
    }
}

#[test]
// The by-value wake of a clone is one of the paths under test.
#[allow(clippy::waker_clone_wake)]
fn a_task_that_wakes_itself_in_its_poll_is_polled_once_more_per_wake() {
    // A wake by the thread polling the task skips the state word (see
    // `task::current`): each way of waking must still bring exactly one
    // more poll, and none once the task is done.
    let ways: [fn(&std::task::Waker); 3] = [
        |w| w.wake_by_ref(),
        |w| w.clone().wake(),
        // Twice in one poll is still one more poll.
        |w| {
            w.wake_by_ref();
            w.clone().wake();
        },
    ];
    both_modes(move |_| async move {
        for how in ways {
            let polls = Arc::new(AtomicUsize::new(0));
            let h = spawn(WakesItself {
                wakes: 100,
                how,
                polls: polls.clone(),
            });
            spindle::wait_for(Duration::from_secs(10), h)
                .await
                .expect("a self-wake was lost")
                .unwrap();
            assert_eq!(polls.load(SeqCst), 101);
            yield_now().await;
            assert_eq!(polls.load(SeqCst), 101, "no poll after completion");
        }
    });
}

/// Loops on `yield_now`, counting its polls, until aborted or dropped.
fn spawn_yielding_forever(
    drops: &Arc<AtomicUsize>,
    polls: &Arc<AtomicUsize>,
) -> spindle::JoinHandle<()> {
    let guard = DropCounter(drops.clone());
    let polls = polls.clone();
    spawn(async move {
        let _g = guard;
        loop {
            polls.fetch_add(1, SeqCst);
            yield_now().await;
        }
    })
}

#[test]
fn a_task_that_keeps_yielding_is_aborted_from_another_task() {
    // A yield is a self-wake that skips the state word (see
    // `task::current`): an abort through the state word must still reach
    // the task between its polls.
    both_modes(|_| async {
        let drops = Arc::new(AtomicUsize::new(0));
        let polls = Arc::new(AtomicUsize::new(0));
        let h = spawn_yielding_forever(&drops, &polls);
        while polls.load(SeqCst) < 100 {
            yield_now().await;
        }
        let abort = h.abort_handle();
        spawn(async move { abort.abort() }).await.unwrap();
        let res = spindle::wait_for(Duration::from_secs(10), h)
            .await
            .expect("the abort never reached the yielding task");
        assert!(res.unwrap_err().is_cancelled());
        assert_eq!(drops.load(SeqCst), 1);
    });
}

#[test]
fn dropping_the_runtime_drops_tasks_that_keep_yielding_exactly_once() {
    for mode in tests::MODES {
        let rt = runtime(mode);
        let drops = Arc::new(AtomicUsize::new(0));
        let polls = Arc::new(AtomicUsize::new(0));
        let handles = rt.block_on(async {
            let handles: Vec<_> = (0..64)
                .map(|_| spawn_yielding_forever(&drops, &polls))
                .collect();
            while polls.load(SeqCst) < 1_000 {
                yield_now().await;
            }
            handles
        });
        drop(rt);
        assert_eq!(drops.load(SeqCst), 64, "{mode:?}");
        for h in handles {
            let res = futures_now(h).expect("resolved at shutdown");
            assert!(res.unwrap_err().is_cancelled(), "{mode:?}");
        }
    }
}

/// Polls once with a no-op waker.
fn futures_now<F: std::future::Future + Unpin>(mut f: F) -> Option<F::Output> {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::Pin::new(&mut f).poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

#[test]
fn a_task_woken_inside_another_tasks_poll_on_the_same_thread_runs() {
    both_modes(|_| async {
        let slot: Arc<std::sync::Mutex<Option<std::task::Waker>>> = Arc::default();
        let s = slot.clone();
        let waiter = spawn(std::future::poll_fn(move |cx| {
            let mut s = s.lock().unwrap();
            if s.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                // Woken by the waker it stored: done.
                return std::task::Poll::Ready(());
            }
            *s = Some(cx.waker().clone());
            std::task::Poll::Pending
        }));
        while slot.lock().unwrap().is_none() {
            yield_now().await;
        }
        // This task's poll wakes the waiter on whatever thread runs it.
        let waker = slot.lock().unwrap().clone().unwrap();
        spawn(async move { waker.wake() }).await.unwrap();
        spindle::wait_for(Duration::from_secs(10), waiter)
            .await
            .expect("the wake was lost")
            .unwrap();
    });
}

#[test]
fn abort_after_completion_keeps_the_output() {
    both_modes(|_| async {
        let h = spawn(async { 7 });
        while !h.is_finished() {
            yield_now().await;
        }
        h.abort();
        assert_eq!(h.await.unwrap(), 7);
    });
}

#[test]
fn a_dropped_join_handle_detaches_the_task_which_still_runs() {
    both_modes(|_| async {
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        drop(spawn(async move {
            yield_now().await;
            d.store(true, SeqCst);
        }));
        let start = std::time::Instant::now();
        while !done.load(SeqCst) && start.elapsed() < Duration::from_secs(5) {
            yield_now().await;
        }
        assert!(done.load(SeqCst), "the detached task never finished");
    });
}

#[test]
fn join_handle_ids_match_current_id_inside_the_task() {
    both_modes(|_| async {
        let h = task::Builder::new()
            .name("named")
            .spawn(async { task::current_id().unwrap() });
        let id = h.id();
        assert_eq!(h.await.unwrap(), id);
    });
}

#[test]
fn dropping_the_runtime_drops_ten_thousand_pending_futures_exactly_once() {
    for mode in MODES {
        let drops = Arc::new(AtomicUsize::new(0));
        let rt = runtime(mode);
        let handles: Vec<_> = rt.block_on(async {
            (0..10_000)
                .map(|_| {
                    let g = DropCounter(drops.clone());
                    spawn(async move {
                        let _g = g;
                        std::future::pending::<()>().await;
                    })
                })
                .collect()
        });
        drop(rt);
        assert_eq!(drops.load(SeqCst), 10_000, "{mode:?}");
        for h in handles {
            assert!(h.is_finished());
            let err = futures_util::FutureExt::now_or_never(h)
                .expect("resolved")
                .unwrap_err();
            assert!(err.is_cancelled());
        }
    }
}

#[test]
fn handle_spawn_from_a_plain_thread_runs_on_the_runtime() {
    for mode in MODES {
        let rt = runtime(mode);
        let handle: Handle = rt.handle().clone();
        let h = std::thread::spawn(move || handle.spawn(async { 5 }))
            .join()
            .unwrap();
        assert_eq!(rt.block_on(h).unwrap(), 5, "{mode:?}");
    }
}

#[test]
fn spawn_outside_a_runtime_panics_naming_the_fix() {
    let err = catch_unwind(|| drop(spawn(async {}))).unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(
        msg.contains("Runtime::block_on") && msg.contains("spindle::run"),
        "{msg}"
    );
}

#[test]
fn block_on_inside_a_runtime_panics_instead_of_deadlocking() {
    for mode in MODES {
        let rt = runtime(mode);
        let handle = rt.handle().clone();
        let res = rt.block_on(async move {
            let h2 = handle.clone();
            let inner = catch_unwind(AssertUnwindSafe(|| h2.block_on(async { 1 })));
            let msg = inner.unwrap_err().downcast::<String>().unwrap();
            assert!(msg.contains("block_on") && msg.contains(".await"), "{msg}");
            // And on a worker thread, from inside a spawned task:
            let t = spawn(async move {
                catch_unwind(AssertUnwindSafe(|| handle.block_on(async { 1 }))).is_err()
            });
            t.await.unwrap()
        });
        assert!(res, "{mode:?}");
    }
}

#[test]
fn metrics_count_spawned_and_live_tasks_and_polls() {
    for mode in MODES {
        let rt = Builder::new(mode).worker_threads(2).build().unwrap();
        rt.block_on(async {
            let hs: Vec<_> = (0..1000)
                .map(|_| spawn(async { yield_now().await }))
                .collect();
            for h in hs {
                h.await.unwrap();
            }
        });
        // A task wakes its join handle a moment before it leaves the live
        // list (on its worker): let that moment pass.
        let start = std::time::Instant::now();
        while rt.metrics().live_tasks != 0 && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let m = rt.metrics();
        assert!(m.spawned_tasks >= 1000, "{mode:?} {m:?}");
        assert_eq!(m.live_tasks, 0, "{mode:?} {m:?}");
        assert!(m.total_polls() >= 2000, "{mode:?} {m:?}");
        assert_eq!(m.workers.len(), if mode == Mode::Parallel { 2 } else { 1 });
    }
}

#[test]
fn all_tasks_lists_live_named_tasks() {
    both_modes(|_| async {
        let h = task::Builder::new()
            .name("sleeper")
            .spawn(std::future::pending::<()>());
        yield_now().await;
        let tasks = task::all_tasks();
        let info = tasks.iter().find(|t| t.id == h.id()).expect("listed");
        assert_eq!(info.name.as_deref(), Some("sleeper"));
        assert!(format!("{info:?}").contains("sleeper"));
        h.abort();
    });
}

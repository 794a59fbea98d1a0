//! loom models of the races that matter in this module: a waiter queuing
//! while the state changes under it, and a cancelled waiter that may or may
//! not have been handed something. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p spindle --release --lib sync`.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Wake, Waker};

use spindle_scheduler::loom::atomic::{AtomicBool, Ordering};
use spindle_scheduler::loom::{Arc, spin_loop, thread};

use super::{Barrier, BoundedSemaphore, Condition, Event, Lock, Queue, Semaphore};

/// Runs a model exhaustively, with no preemption bound: most models have
/// two or three threads and a handful of critical sections and explore in
/// well under a second.
fn model(f: impl Fn() + Sync + Send + 'static) {
    loom::model::Builder::new().check(f);
}

/// Three preemptions: tokio's bound for its larger models. The one model
/// that needs it (three threads contending one semaphore) takes ~2 minutes
/// unbounded and 0.3 s with it.
const PREEMPTION_BOUND: usize = 3;

fn bounded_model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(PREEMPTION_BOUND);
    builder.check(f);
}

/// Wakes a loom thread parked in [`block_on`].
struct Unparker(thread::Thread);

impl Wake for Unparker {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `fut` on this loom thread, parking between polls. (loom's own
/// `future::block_on` needs its `futures` feature, which the workspace does
/// not enable.)
fn block_on<F: Future>(fut: F) -> F::Output {
    let waker = Waker::from(std::sync::Arc::new(Unparker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        thread::park();
    }
}

/// Polls `fut` once, as a task that is then aborted would.
fn poll_once<F: Future>(fut: F) -> Poll<F::Output> {
    pin!(fut).poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn event_set_races_wait_registration() {
    model(|| {
        let event = Arc::new(Event::new());
        let setter = {
            let event = event.clone();
            thread::spawn(move || event.set())
        };
        block_on(event.wait());
        setter.join().unwrap();
    });
}

#[test]
fn semaphore_release_races_a_cancelled_acquire() {
    model(|| {
        let sem = Arc::new(Semaphore::new(0));
        let releaser = {
            let sem = sem.clone();
            thread::spawn(move || sem.release())
        };
        let acquirer = {
            let sem = sem.clone();
            // Deadlocks (and loom says so) if the released permit is lost.
            thread::spawn(move || block_on(sem.acquire()).forget())
        };
        // Ready: the permit drops at once and goes back.
        let _ = poll_once(sem.acquire());
        releaser.join().unwrap();
        acquirer.join().unwrap();
        assert_eq!(sem.available_permits(), 0);
    });
}

#[test]
fn semaphore_contended_by_three_threads_conserves_its_permit() {
    bounded_model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let sem = sem.clone();
                thread::spawn(move || drop(block_on(sem.acquire())))
            })
            .collect();
        drop(block_on(sem.acquire()));
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn bounded_semaphore_racing_releases_respect_the_bound() {
    model(|| {
        let sem = Arc::new(BoundedSemaphore::new(1));
        sem.try_acquire().unwrap().forget();
        let other = {
            let sem = sem.clone();
            thread::spawn(move || sem.release().is_ok())
        };
        let mine = sem.release().is_ok();
        let theirs = other.join().unwrap();
        assert!(mine ^ theirs, "exactly one release fits under the bound");
        assert_eq!(sem.available_permits(), 1);
    });
}

/// Three threads: bounded, like the three-thread semaphore model (a getter
/// cancelled after the hand-over gives its item back while another getter
/// queues and a put settles).
#[test]
fn queue_get_cancelled_races_put() {
    bounded_model(|| {
        let queue = Arc::new(Queue::new(0));
        let putter = {
            let queue = queue.clone();
            thread::spawn(move || queue.put_nowait(7).unwrap())
        };
        let getter = {
            let queue = queue.clone();
            thread::spawn(move || block_on(queue.get()))
        };
        if let Poll::Ready(item) = poll_once(queue.get()) {
            // Took it before anyone queued: hand it on as its user would.
            queue.put_nowait(item).unwrap();
        }
        putter.join().unwrap();
        assert_eq!(getter.join().unwrap(), 7);
        assert_eq!(queue.qsize(), 0);
    });
}

#[test]
fn bounded_queue_blocked_put_races_get() {
    model(|| {
        let queue = Arc::new(Queue::new(1));
        queue.put_nowait(1).unwrap();
        let putter = {
            let queue = queue.clone();
            // Deadlocks if the room a get frees is never offered to it.
            thread::spawn(move || block_on(queue.put(2)))
        };
        assert_eq!(block_on(queue.get()), 1);
        assert_eq!(block_on(queue.get()), 2);
        putter.join().unwrap();
        assert!(queue.is_empty());
    });
}

#[test]
fn bounded_queue_cancelled_put_races_get() {
    model(|| {
        let queue = Arc::new(Queue::new(1));
        queue.put_nowait(1).unwrap();
        let getter = {
            let queue = queue.clone();
            thread::spawn(move || {
                assert_eq!(block_on(queue.get()), 1);
                queue.task_done().unwrap();
            })
        };
        // Either the put got in (now or when the get freed room) or it was
        // dropped with its item; never half of each.
        let _ = poll_once(queue.put(2));
        getter.join().unwrap();
        let left = queue.qsize();
        assert!(left <= 1);
        if left == 1 {
            assert_eq!(queue.get_nowait(), Ok(2));
            queue.task_done().unwrap();
        }
        assert!(
            queue.task_done().is_err(),
            "unfinished count matches the items"
        );
    });
}

/// The fast put against a getter queuing on an empty queue. Deadlocks (a
/// lost wakeup) if the put reads `getters_waiting` before pushing, or the
/// getter looks at the ring before announcing itself.
#[test]
fn queue_fast_put_races_a_getter_queuing() {
    model(|| {
        let queue = Arc::new(Queue::new(1));
        let putter = {
            let queue = queue.clone();
            thread::spawn(move || queue.put_nowait(1).unwrap())
        };
        assert_eq!(block_on(queue.get()), 1);
        putter.join().unwrap();
        assert!(queue.is_empty());
    });
}

/// The fast get against a putter queuing on a full queue. Deadlocks if the
/// get reads `putters_waiting` before popping, or the putter tries the ring
/// before announcing itself.
#[test]
fn bounded_queue_fast_get_races_a_putter_queuing() {
    model(|| {
        let queue = Arc::new(Queue::new(1));
        queue.put_nowait(1).unwrap();
        let getter = {
            let queue = queue.clone();
            thread::spawn(move || queue.get_nowait())
        };
        block_on(queue.put(2));
        // The put got in, so the get took 1 first and 2 is left.
        assert_eq!(getter.join().unwrap(), Ok(1));
        assert_eq!(queue.get_nowait(), Ok(2));
    });
}

/// Two putters and two getters through one slot: settles that hand items
/// to getters and let putters in interleave with both kinds queuing, and
/// every item reaches exactly one getter.
#[test]
fn queue_two_putters_and_two_getters_share_one_slot() {
    bounded_model(|| {
        let queue = Arc::new(Queue::new(1));
        let getter = {
            let queue = queue.clone();
            thread::spawn(move || block_on(queue.get()))
        };
        let putter = {
            let queue = queue.clone();
            thread::spawn(move || block_on(queue.put(1)))
        };
        let mine = block_on(async {
            queue.put(2).await;
            queue.get().await
        });
        putter.join().unwrap();
        let theirs = getter.join().unwrap();
        assert_eq!(mine + theirs, 3);
        assert!(queue.is_empty());
    });
}

/// A put refused by a full queue counts its item unfinished and takes the
/// count back; if a `task_done` brought the count down in between, the
/// put's take-back is what reaches zero and it must wake the joiner.
#[test]
fn queue_refused_put_races_task_done_and_join() {
    bounded_model(|| {
        let queue = Arc::new(Queue::new(1));
        queue.put_nowait(1).unwrap();
        let consumer = {
            let queue = queue.clone();
            thread::spawn(move || {
                assert_eq!(queue.get_nowait(), Ok(1));
                queue.task_done().unwrap();
            })
        };
        let producer = {
            let queue = queue.clone();
            thread::spawn(move || {
                // Got in only after the consumer took 1: take it and finish it.
                if queue.put_nowait(2).is_ok() {
                    assert_eq!(queue.get_nowait(), Ok(2));
                    queue.task_done().unwrap();
                }
            })
        };
        block_on(queue.join());
        consumer.join().unwrap();
        producer.join().unwrap();
        assert_eq!(queue.task_done(), Err(super::TooManyTaskDone));
    });
}

#[test]
fn condition_notify_races_wait() {
    model(|| {
        let cond = Arc::new(Condition::new(false));
        let notifier = {
            let cond = cond.clone();
            thread::spawn(move || {
                *block_on(cond.lock()) = true;
                cond.notify(1);
            })
        };
        block_on(async {
            let guard = cond.lock().await;
            assert!(*cond.wait_for(guard, |ready| *ready).await);
        });
        notifier.join().unwrap();
    });
}

#[test]
fn barrier_cancelled_wait_races_arrival() {
    model(|| {
        let barrier = Arc::new(Barrier::new(2));
        let other_done = Arc::new(AtomicBool::new(false));
        let other = {
            let (barrier, other_done) = (barrier.clone(), other_done.clone());
            thread::spawn(move || {
                let leader = block_on(barrier.wait()).is_leader();
                other_done.store(true, Ordering::Release);
                leader
            })
        };
        // Main keeps arriving and walking away (a wait polled once, then
        // dropped) until the other party is through. A dropped wait either
        // took part in a completed round or counted itself back out, so the
        // other party is released exactly once, with exactly one leader.
        let mut leaders = 0;
        while !other_done.load(Ordering::Acquire) {
            if let Poll::Ready(result) = poll_once(barrier.wait()) {
                leaders += result.is_leader() as usize;
            }
            spin_loop();
        }
        leaders += other.join().unwrap() as usize;
        assert_eq!(leaders, 1);
        assert_eq!(barrier.n_waiting(), 0);
    });
}

#[test]
fn lock_excludes_and_hands_over() {
    model(|| {
        let lock = Arc::new(Lock::new(0));
        let other = {
            let lock = lock.clone();
            thread::spawn(move || *block_on(lock.lock()) += 1)
        };
        let _ = poll_once(lock.lock());
        *block_on(lock.lock()) += 1;
        other.join().unwrap();
        assert_eq!(*block_on(lock.lock()), 2);
    });
}

#[test]
fn promise_resolved_from_another_thread() {
    model(|| {
        let (resolver, promise) = crate::promise::promise();
        let t = thread::spawn(move || resolver.resolve(1));
        assert_eq!(block_on(promise), Ok(1));
        t.join().unwrap();
    });
}

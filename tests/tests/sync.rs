//! `spindle::sync` against the public API, every case in both modes: the
//! asyncio semantics (Queue join, BoundedSemaphore's bound, Barrier leaders)
//! and the guarantees under cancellation (no item, permit or lock lost when
//! tasks are aborted at random).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use spindle::sync::{
    Barrier, BoundedSemaphore, Condition, Event, Lock, PriorityQueue, Queue, Semaphore,
    TooManyTaskDone,
};
use spindle::{JoinHandle, spawn, yield_now};
use tests::both_modes;

/// Marsaglia's xorshift64: reproducible randomness without a crate.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Kills the test process if a case hangs (a lost wakeup shows up as a
/// hang), instead of leaving CI waiting forever.
struct Watchdog(Arc<AtomicBool>);

impl Watchdog {
    fn new(name: &'static str, limit: Duration) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        std::thread::spawn(move || {
            let start = std::time::Instant::now();
            while !flag.load(Ordering::Acquire) {
                if start.elapsed() > limit {
                    eprintln!("{name}: no progress after {limit:?}: a wakeup was lost");
                    std::process::exit(101);
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Watchdog(done)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

const LIMIT: Duration = Duration::from_secs(60);

async fn yield_times(n: usize) {
    for _ in 0..n {
        yield_now().await;
    }
}

#[test]
fn queue_join_waits_until_every_item_is_marked_done() {
    let _dog = Watchdog::new("queue_join", LIMIT);
    both_modes(|mode| async move {
        let queue = Arc::new(Queue::new(0));
        let processed = Arc::new(AtomicUsize::new(0));
        for n in 0..20 {
            queue.put(n).await;
        }
        let worker = {
            let (queue, processed) = (queue.clone(), processed.clone());
            spawn(async move {
                for _ in 0..20 {
                    let _item: i32 = queue.get().await;
                    yield_now().await; // taken but not yet done
                    processed.fetch_add(1, Ordering::SeqCst);
                    queue.task_done().unwrap();
                }
            })
        };
        queue.join().await;
        assert_eq!(processed.load(Ordering::SeqCst), 20, "{mode:?}");
        assert!(queue.is_empty());
        worker.await.unwrap();
        assert_eq!(queue.task_done(), Err(TooManyTaskDone), "{mode:?}");
        queue.join().await; // nothing pending: completes at once
    });
}

#[test]
fn bounded_queue_delivers_every_item_once_while_consumers_are_aborted() {
    const PRODUCERS: usize = 100;
    const CONSUMERS: usize = 100;
    const PER_PRODUCER: usize = 100;
    const ITEMS: usize = PRODUCERS * PER_PRODUCER;
    const ABORTS: usize = 300;
    let _dog = Watchdog::new("queue_cancel", LIMIT);
    both_modes(|mode| async move {
        let queue = Arc::new(Queue::new(8));
        let seen: Arc<Vec<AtomicUsize>> =
            Arc::new((0..ITEMS).map(|_| AtomicUsize::new(0)).collect());
        let delivered = Arc::new(AtomicUsize::new(0));
        let consumer = || {
            let (queue, seen, delivered) = (queue.clone(), seen.clone(), delivered.clone());
            spawn(async move {
                loop {
                    // Between `get` returning and `task_done` there is no
                    // await: an abort can only land inside `get`.
                    let item: usize = queue.get().await;
                    seen[item].fetch_add(1, Ordering::SeqCst);
                    delivered.fetch_add(1, Ordering::SeqCst);
                    queue.task_done().unwrap();
                }
            })
        };
        let producers: Vec<JoinHandle<()>> = (0..PRODUCERS)
            .map(|p| {
                let queue = queue.clone();
                spawn(async move {
                    for k in 0..PER_PRODUCER {
                        queue.put(p * PER_PRODUCER + k).await;
                        if k % 16 == 0 {
                            yield_now().await;
                        }
                    }
                })
            })
            .collect();
        let mut consumers: Vec<JoinHandle<()>> = (0..CONSUMERS).map(|_| consumer()).collect();
        let mut aborted = Vec::with_capacity(ABORTS);
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        while aborted.len() < ABORTS && delivered.load(Ordering::SeqCst) < ITEMS {
            yield_times(rng.below(4)).await;
            let victim = rng.below(CONSUMERS);
            consumers[victim].abort();
            aborted.push(std::mem::replace(&mut consumers[victim], consumer()));
        }
        for producer in producers {
            producer.await.unwrap();
        }
        queue.join().await;
        assert_eq!(delivered.load(Ordering::SeqCst), ITEMS, "{mode:?}");
        for (item, count) in seen.iter().enumerate() {
            assert_eq!(count.load(Ordering::SeqCst), 1, "{mode:?}: item {item}");
        }
        assert!(queue.is_empty());
        for c in aborted.into_iter().chain(consumers) {
            c.abort();
            assert!(
                c.await.unwrap_err().is_cancelled(),
                "{mode:?}: a consumer panicked"
            );
        }
    });
}

/// Producers and consumers race through one small queue, both
/// fast paths and both kinds of waiting mixed: each item arrives once, each
/// consumer sees each producer's items in the order they were put (FIFO),
/// and `join` sees every `task_done`.
fn queue_keeps_each_producers_order_for(maxsize: usize) {
    const PRODUCERS: usize = 4;
    const CONSUMERS: usize = 3;
    const PER_PRODUCER: usize = 5_000;
    both_modes(|mode| async move {
        let queue = Arc::new(Queue::new(maxsize));
        let producers: Vec<JoinHandle<()>> = (0..PRODUCERS)
            .map(|p| {
                let queue = queue.clone();
                spawn(async move {
                    for k in 0..PER_PRODUCER {
                        queue.put((p, k)).await;
                    }
                })
            })
            .collect();
        let consumers: Vec<JoinHandle<Vec<usize>>> = (0..CONSUMERS)
            .map(|c| {
                let queue = queue.clone();
                spawn(async move {
                    let mut received = vec![0; PRODUCERS];
                    let mut last: Vec<Option<usize>> = vec![None; PRODUCERS];
                    for _ in 0..PRODUCERS * PER_PRODUCER / CONSUMERS {
                        let (p, k): (usize, usize) = queue.get().await;
                        assert!(
                            last[p].is_none_or(|prev| prev < k),
                            "{mode:?}: consumer {c} got {p}/{k} after {p}/{:?}",
                            last[p]
                        );
                        last[p] = Some(k);
                        received[p] += 1;
                        queue.task_done().unwrap();
                    }
                    received
                })
            })
            .collect();
        for producer in producers {
            producer.await.unwrap();
        }
        let mut total = vec![0; PRODUCERS];
        for consumer in consumers {
            for (p, n) in consumer.await.unwrap().into_iter().enumerate() {
                total[p] += n;
            }
        }
        // 20_000 items over 3 consumers: 2 are left for the test to take.
        while let Ok((p, _)) = queue.get_nowait() {
            total[p] += 1;
            queue.task_done().unwrap();
        }
        queue.join().await;
        assert_eq!(total, vec![PER_PRODUCER; PRODUCERS], "{mode:?}");
        assert_eq!(queue.task_done(), Err(TooManyTaskDone), "{mode:?}");
    });
}

#[test]
fn bounded_queue_keeps_each_producers_order_under_contention() {
    let _dog = Watchdog::new("queue_order_bounded", LIMIT);
    queue_keeps_each_producers_order_for(2);
}

#[test]
fn unbounded_queue_keeps_each_producers_order_under_contention() {
    let _dog = Watchdog::new("queue_order_unbounded", LIMIT);
    queue_keeps_each_producers_order_for(0);
}

/// Past the ring's size limit a FIFO queue keeps its items under a lock:
/// the same order, bound and `put_nowait` refusal.
#[test]
fn queue_bounded_beyond_the_ring_limit_behaves_the_same() {
    const MAXSIZE: usize = (1 << 16) + 1;
    let _dog = Watchdog::new("queue_large_bound", LIMIT);
    both_modes(|mode| async move {
        let queue = Arc::new(Queue::new(MAXSIZE));
        for n in 0..MAXSIZE {
            queue.put_nowait(n).unwrap();
        }
        assert!(queue.is_full(), "{mode:?}");
        assert_eq!(queue.put_nowait(MAXSIZE).unwrap_err().into_inner(), MAXSIZE);
        let blocked = {
            let queue = queue.clone();
            spawn(async move { queue.put(MAXSIZE).await })
        };
        for n in 0..=MAXSIZE {
            assert_eq!(queue.get().await, n, "{mode:?}");
        }
        blocked.await.unwrap();
        assert!(queue.is_empty(), "{mode:?}");
    });
}

#[test]
fn priority_queue_serves_smallest_first_to_waiting_tasks() {
    let _dog = Watchdog::new("priority_queue", LIMIT);
    both_modes(|mode| async move {
        let queue = Arc::new(PriorityQueue::new(0));
        for n in [5, 1, 4, 2, 3] {
            queue.put_nowait(n).unwrap();
        }
        let taker = {
            let queue = queue.clone();
            spawn(async move {
                let mut out = Vec::new();
                for _ in 0..5 {
                    out.push(queue.get().await);
                }
                out
            })
        };
        assert_eq!(taker.await.unwrap(), [1, 2, 3, 4, 5], "{mode:?}");
    });
}

/// Decrements the in-use count however its holder ends, abort included.
struct InUse(Arc<AtomicUsize>);

impl Drop for InUse {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[test]
fn semaphore_permits_are_conserved_under_random_cancellation() {
    // Few tasks and many aborts, so that aborts often land on a task that
    // was just handed a permit and has not run yet: the case where a
    // careless semaphore loses the permit.
    const PERMITS: usize = 4;
    const TASKS: usize = 20;
    const ABORTS: usize = 2000;
    let _dog = Watchdog::new("semaphore_cancel", LIMIT);
    both_modes(|mode| async move {
        let sem = Arc::new(Semaphore::new(PERMITS));
        let in_use = Arc::new(AtomicUsize::new(0));
        let overshoot = Arc::new(AtomicBool::new(false));
        let worker = || {
            let (sem, in_use, overshoot) = (sem.clone(), in_use.clone(), overshoot.clone());
            spawn(async move {
                loop {
                    let _permit = sem.acquire().await;
                    if in_use.fetch_add(1, Ordering::SeqCst) >= PERMITS {
                        overshoot.store(true, Ordering::SeqCst);
                    }
                    let _in_use = InUse(in_use.clone());
                    yield_now().await; // aborted here, the permit drops with the task
                }
            })
        };
        let mut tasks: Vec<JoinHandle<()>> = (0..TASKS).map(|_| worker()).collect();
        // An abort lands at the task's next await: a task aborted while it
        // runs on another worker still holds its permit until then. Keep
        // every handle and await them all before counting permits.
        let mut aborted = Vec::with_capacity(ABORTS);
        let mut rng = XorShift(0xDEAD_BEEF_CAFE_F00D);
        for _ in 0..ABORTS {
            yield_times(rng.below(3)).await;
            let victim = rng.below(TASKS);
            tasks[victim].abort();
            aborted.push(std::mem::replace(&mut tasks[victim], worker()));
        }
        for task in aborted.into_iter().chain(tasks) {
            task.abort();
            assert!(
                task.await.unwrap_err().is_cancelled(),
                "{mode:?}: a worker panicked"
            );
        }
        assert!(
            !overshoot.load(Ordering::SeqCst),
            "{mode:?}: more than {PERMITS} permits held"
        );
        assert_eq!(in_use.load(Ordering::SeqCst), 0);
        assert_eq!(
            sem.available_permits(),
            PERMITS,
            "{mode:?}: a permit was lost"
        );
        let all: Vec<_> = (0..PERMITS).map(|_| sem.try_acquire()).collect();
        assert!(all.iter().all(Option::is_some));
    });
}

#[test]
fn bounded_semaphore_refuses_release_past_its_bound() {
    both_modes(|mode| async move {
        let sem = Arc::new(BoundedSemaphore::new(2));
        assert!(sem.release().is_err(), "{mode:?}");
        let holder = {
            let sem = sem.clone();
            spawn(async move { sem.acquire().await.forget() })
        };
        holder.await.unwrap();
        assert_eq!(sem.available_permits(), 1);
        sem.release().unwrap();
        let err = sem.release().unwrap_err();
        assert!(err.to_string().contains("released too many times"), "{err}");
        assert_eq!(sem.available_permits(), 2);
    });
}

#[test]
fn event_set_from_a_plain_thread_wakes_a_thousand_waiters() {
    const WAITERS: usize = 1000;
    let _dog = Watchdog::new("event_thread", LIMIT);
    both_modes(|mode| async move {
        let event = Arc::new(Event::new());
        let woken = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<JoinHandle<()>> = (0..WAITERS)
            .map(|_| {
                let (event, woken) = (event.clone(), woken.clone());
                spawn(async move {
                    event.wait().await;
                    woken.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        yield_times(10).await; // let most of them queue
        assert_eq!(woken.load(Ordering::SeqCst), 0, "{mode:?}");
        let setter = {
            let event = event.clone();
            std::thread::spawn(move || event.set())
        };
        for task in tasks {
            task.await.unwrap();
        }
        setter.join().unwrap();
        assert_eq!(woken.load(Ordering::SeqCst), WAITERS, "{mode:?}");
        assert!(event.is_set());
    });
}

#[test]
fn lock_excludes_across_awaits_and_survives_aborted_lockers() {
    let _dog = Watchdog::new("lock", LIMIT);
    both_modes(|mode| async move {
        let lock = Arc::new(Lock::new(0u64));
        let inside = Arc::new(AtomicUsize::new(0));
        let overlap = Arc::new(AtomicBool::new(false));
        let tasks: Vec<JoinHandle<()>> = (0..50)
            .map(|_| {
                let (lock, inside, overlap) = (lock.clone(), inside.clone(), overlap.clone());
                spawn(async move {
                    for _ in 0..20 {
                        let mut guard = lock.lock().await;
                        if inside.fetch_add(1, Ordering::SeqCst) > 0 {
                            overlap.store(true, Ordering::SeqCst);
                        }
                        let _inside = InUse(inside.clone());
                        let seen = *guard;
                        yield_now().await; // holding the lock across an await
                        *guard = seen + 1;
                    }
                })
            })
            .collect();
        let mut rng = XorShift(7);
        for _ in 0..20 {
            yield_now().await;
            tasks[rng.below(50)].abort();
        }
        let mut finished = 0;
        for task in tasks {
            finished += task.await.is_ok() as u64;
        }
        assert!(
            !overlap.load(Ordering::SeqCst),
            "{mode:?}: two tasks held the lock"
        );
        let total = *lock.lock().await;
        // Aborted tasks did some rounds; finished ones all 20; no update lost
        // means the count is at least the finished tasks' share.
        assert!(
            total >= finished * 20,
            "{mode:?}: {total} < {}",
            finished * 20
        );
        assert!(
            lock.try_lock().is_some(),
            "{mode:?}: an abort kept the lock"
        );
    });
}

#[test]
fn barrier_releases_each_round_with_one_leader() {
    const PARTIES: usize = 8;
    let _dog = Watchdog::new("barrier", LIMIT);
    both_modes(|mode| async move {
        let barrier = Arc::new(Barrier::new(PARTIES));
        let leaders = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<JoinHandle<()>> = (0..PARTIES)
            .map(|_| {
                let (barrier, leaders) = (barrier.clone(), leaders.clone());
                spawn(async move {
                    for _ in 0..10 {
                        if barrier.wait().await.is_leader() {
                            leaders.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(leaders.load(Ordering::SeqCst), 10, "{mode:?}");
    });
}

#[test]
fn condition_wakes_a_consumer_when_the_state_changes() {
    let _dog = Watchdog::new("condition", LIMIT);
    both_modes(|mode| async move {
        let cond = Arc::new(Condition::new(Vec::new()));
        let consumers: Vec<JoinHandle<u32>> = (0..4)
            .map(|_| {
                let cond = cond.clone();
                spawn(async move {
                    let guard = cond.lock().await;
                    let mut guard = cond.wait_for(guard, |items| !items.is_empty()).await;
                    guard.pop().unwrap()
                })
            })
            .collect();
        for n in 0..4 {
            yield_now().await;
            cond.lock().await.push(n);
            cond.notify(1);
        }
        let mut got = Vec::new();
        for c in consumers {
            got.push(c.await.unwrap());
        }
        got.sort();
        assert_eq!(got, [0, 1, 2, 3], "{mode:?}");
    });
}

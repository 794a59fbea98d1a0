//! loom models of the scheduler's atomic protocols. Run with
//! `RUSTFLAGS="--cfg loom" cargo test -p spindle-scheduler --release`.
//!
//! | model | protocol | what would fail |
//! |---|---|---|
//! | `wake_races_completion_and_join` | task state: wake vs poll vs join-waker registration | lost wake (deadlock), output read twice or lost |
//! | `abort_races_wake_and_run` | task state: abort vs wake vs run | future dropped twice or never, poll after cancel |
//! | `join_handle_drop_races_completion` | task state: `JOIN_INTEREST` vs `COMPLETE` | output leaked or dropped twice |
//! | `self_wake_races_{a_wake_from_another_thread,an_abort_and_a_wake}` | task state: a self-wake (thread-local, folded into the poll's end) vs a wake or abort through the state word | lost wake (task never completes), a second queue entry, cell leaked |
//! | `self_wake_races_shutdown` | a self-woken task re-queued vs owned-list shutdown and the queues' drop | future never dropped or dropped twice, join never resolved, cell leaked |
//! | `task_pushed_while_{the,two}_worker(s)_go_idle_is_run` | idle + park: real worker loops vs injector push | worker asleep with a task queued (deadlock) |
//! | `lifo_slot_races_a_thief` | LIFO slot + local queue vs steal | a task run twice or lost |
//! | `unpark_reaches_a_thread_about_to_drive` | park driving the IO poller vs unpark (interrupt) | a thread asleep in the poller after its unpark (deadlock) |
//! | `handoff_races_poll_return` | claim: poll return and in-poll push vs monitor retake vs spare take | a processor used by two machines, or stranded |
//!
//! Under loom the crossbeam deque is replaced by the model in `queue.rs`.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

use crate::claim::Claim;
use crate::loom::{Mutex, thread};
use crate::parallel::{self, Shared};
use crate::queue::{self, LifoSlot};
use crate::task::{self, JoinHandle, Notified, OwnedTasks, Schedule, TaskMeta};
use crate::worker;

/// Explores with a preemption bound: 3 finds the known classes of
/// concurrency bugs (loom's documentation) and keeps CI within minutes.
fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    builder.check(f);
}

/// A scheduler that queues woken tasks for the model to run by hand.
struct TestSched {
    queue: Mutex<VecDeque<Notified>>,
    owned: OwnedTasks,
}

impl Schedule for Arc<TestSched> {
    fn schedule(&self, task: Notified, _yielded: bool) {
        self.queue.lock().push_back(task);
    }
    fn release(&self, task: &task::raw::Header) -> bool {
        self.owned.remove(task)
    }
}

impl TestSched {
    fn new() -> Arc<TestSched> {
        Arc::new(TestSched {
            queue: Mutex::new(VecDeque::new()),
            owned: OwnedTasks::new(1),
        })
    }

    fn run_all(&self) {
        loop {
            let task = self.queue.lock().pop_front();
            match task {
                Some(t) => t.run(),
                None => return,
            }
        }
    }

    fn spawn<F: Future + Send + 'static>(self: &Arc<Self>, f: F) -> JoinHandle<F::Output>
    where
        F::Output: Send,
    {
        let (notified, join) = task::bind(&self.owned, f, self.clone(), TaskMeta::here());
        self.schedule(notified.expect("list open"), false);
        join
    }
}

/// Counts drops.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Pending until `flag` is set; stores its waker in `slot` on each pending
/// poll. Its output counts its own drop.
struct WaitFlag {
    flag: Arc<AtomicBool>,
    slot: Arc<Mutex<Option<Waker>>>,
    _future_drops: Counted,
    output_drops: Arc<AtomicUsize>,
}

impl Future for WaitFlag {
    type Output = Counted;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Counted> {
        *self.slot.lock() = Some(cx.waker().clone());
        if self.flag.load(SeqCst) {
            Poll::Ready(Counted(self.output_drops.clone()))
        } else {
            Poll::Pending
        }
    }
}

struct Setup {
    sched: Arc<TestSched>,
    flag: Arc<AtomicBool>,
    slot: Arc<Mutex<Option<Waker>>>,
    future_drops: Arc<AtomicUsize>,
    output_drops: Arc<AtomicUsize>,
    join: JoinHandle<Counted>,
}

/// Spawns a `WaitFlag` task and runs its first poll (which stores a waker).
fn setup() -> Setup {
    let sched = TestSched::new();
    let flag = Arc::new(AtomicBool::new(false));
    let slot = Arc::new(Mutex::new(None));
    let future_drops = Arc::new(AtomicUsize::new(0));
    let output_drops = Arc::new(AtomicUsize::new(0));
    let join = sched.spawn(WaitFlag {
        flag: flag.clone(),
        slot: slot.clone(),
        _future_drops: Counted(future_drops.clone()),
        output_drops: output_drops.clone(),
    });
    sched.run_all();
    Setup {
        sched,
        flag,
        slot,
        future_drops,
        output_drops,
        join,
    }
}

/// Sets the flag, wakes the stored waker, runs what is queued.
fn wake_and_run(
    flag: Arc<AtomicBool>,
    slot: Arc<Mutex<Option<Waker>>>,
    sched: Arc<TestSched>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        flag.store(true, SeqCst);
        let waker = slot.lock().take();
        if let Some(w) = waker {
            w.wake();
        }
        sched.run_all();
    })
}

/// The task cell is freed: it held the only other `Arc<TestSched>`.
fn assert_freed(sched: &Arc<TestSched>) {
    sched.run_all();
    assert_eq!(Arc::strong_count(sched), 1, "a task cell leaked");
}

#[test]
fn wake_races_completion_and_join() {
    model(|| {
        let s = setup();
        let waker_thread = wake_and_run(s.flag.clone(), s.slot.clone(), s.sched.clone());
        let out = loom::future::block_on(s.join).expect("completed");
        waker_thread.join().unwrap();
        drop(out);
        drop(s.slot.lock().take());
        assert_eq!(s.future_drops.load(SeqCst), 1);
        assert_eq!(s.output_drops.load(SeqCst), 1);
        assert_freed(&s.sched);
    });
}

#[test]
fn abort_races_wake_and_run() {
    model(|| {
        let s = setup();
        let waker_thread = wake_and_run(s.flag.clone(), s.slot.clone(), s.sched.clone());
        s.join.abort();
        waker_thread.join().unwrap();
        s.sched.run_all();
        let res = futures_now(s.join).expect("finished after every queued run");
        match res {
            Ok(out) => drop(out),
            Err(e) => assert!(e.is_cancelled()),
        }
        drop(s.slot.lock().take());
        assert_eq!(s.future_drops.load(SeqCst), 1);
        assert!(s.output_drops.load(SeqCst) <= 1);
        assert_freed(&s.sched);
    });
}

#[test]
fn join_handle_drop_races_completion() {
    model(|| {
        let s = setup();
        let waker_thread = wake_and_run(s.flag.clone(), s.slot.clone(), s.sched.clone());
        drop(s.join);
        waker_thread.join().unwrap();
        drop(s.slot.lock().take());
        assert_eq!(s.future_drops.load(SeqCst), 1);
        assert_eq!(
            s.output_drops.load(SeqCst),
            1,
            "output dropped exactly once"
        );
        assert_freed(&s.sched);
    });
}

/// Wakes itself during its first two polls (`wake_by_ref`, then `wake` on
/// a clone: the thread-local self-wake of `task::current`), stores its waker
/// each poll, and completes once `flag` is set.
struct SelfWake {
    polls: usize,
    flag: Arc<AtomicBool>,
    slot: Arc<Mutex<Option<Waker>>>,
    _future_drops: Counted,
}

impl Future for SelfWake {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.polls += 1;
        *self.slot.lock() = Some(cx.waker().clone());
        match self.polls {
            1 => cx.waker().wake_by_ref(),
            2 => cx.waker().clone().wake(),
            _ if self.flag.load(SeqCst) => return Poll::Ready(()),
            _ => {}
        }
        Poll::Pending
    }
}

/// A `SelfWake` task on a fresh scheduler, not yet run.
struct SelfWakeSetup {
    sched: Arc<TestSched>,
    flag: Arc<AtomicBool>,
    slot: Arc<Mutex<Option<Waker>>>,
    future_drops: Arc<AtomicUsize>,
    join: JoinHandle<()>,
}

fn spawn_self_wake() -> SelfWakeSetup {
    let sched = TestSched::new();
    let flag = Arc::new(AtomicBool::new(false));
    let slot = Arc::new(Mutex::new(None));
    let future_drops = Arc::new(AtomicUsize::new(0));
    let join = sched.spawn(SelfWake {
        polls: 0,
        flag: flag.clone(),
        slot: slot.clone(),
        _future_drops: Counted(future_drops.clone()),
    });
    SelfWakeSetup {
        sched,
        flag,
        slot,
        future_drops,
        join,
    }
}

/// A task that wakes itself during its polls, while another thread sets
/// its flag and wakes it (and, with `abort`, this thread aborts it). The
/// self-wake is recorded in a thread-local and folded into the CAS that
/// ends the poll, so it must compose with a wake or an abort through the
/// state word: the task completes (or is cancelled) once, is never lost,
/// and its cell is freed.
fn self_wake_races_another_thread(abort: bool) {
    model(move || {
        let SelfWakeSetup {
            sched,
            flag,
            slot,
            future_drops,
            join,
        } = spawn_self_wake();
        let waker_thread = wake_and_run(flag, slot.clone(), sched.clone());
        if abort {
            join.abort();
        }
        sched.run_all();
        waker_thread.join().unwrap();
        sched.run_all();
        let res = futures_now(join).expect("finished after every queued run");
        assert!(res.is_ok() || (abort && res.unwrap_err().is_cancelled()));
        drop(slot.lock().take());
        assert_eq!(future_drops.load(SeqCst), 1);
        assert_freed(&sched);
    });
}

/// A task that wakes itself (re-queued when its poll ends) while another
/// thread shuts the scheduler down: closes the owned list, cancelling what
/// it can claim, then drops every queued handle, as the schedulers do.
/// Whichever comes first, the future is dropped exactly once, the join
/// handle resolves, and the cell is freed.
#[test]
fn self_wake_races_shutdown() {
    model(|| {
        let SelfWakeSetup {
            sched,
            slot,
            future_drops,
            join,
            ..
        } = spawn_self_wake();
        let shutdown = {
            let sched = sched.clone();
            thread::spawn(move || {
                sched.owned.close_and_drain(|task| task.shutdown());
                let queued = std::mem::take(&mut *sched.queue.lock());
                drop(queued);
            })
        };
        sched.run_all();
        shutdown.join().unwrap();
        sched.run_all();
        drop(slot.lock().take());
        assert_eq!(future_drops.load(SeqCst), 1, "the future dropped once");
        let res = futures_now(join).expect("resolved after shutdown");
        assert!(res.unwrap_err().is_cancelled());
        assert_freed(&sched);
    });
}

#[test]
fn self_wake_races_a_wake_from_another_thread() {
    self_wake_races_another_thread(false);
}

#[test]
fn self_wake_races_an_abort_and_a_wake() {
    self_wake_races_another_thread(true);
}

/// Polls once with a no-op waker.
fn futures_now<F: Future + Unpin>(mut f: F) -> Option<F::Output> {
    match Pin::new(&mut f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

/// A machine config for models: no monitor, no slow-poll reports.
fn model_config() -> crate::parallel::MachineConfig {
    crate::parallel::MachineConfig {
        thread_name: "model".into(),
        stack_size: None,
        io_driver: None,
        on_thread: Arc::new(|body: &mut dyn FnMut()| body()),
        handoff_after: None,
        slow_poll: None,
    }
}

/// Starts `workers` real worker loops, spawns one task from outside (the
/// injector path, racing the workers' search-and-park), awaits it, stops.
fn push_while_workers_go_idle(workers: usize) {
    let shared = Shared::new(workers, model_config());
    let threads: Vec<_> = (0..workers)
        .map(|index| {
            let shared = shared.clone();
            thread::spawn(move || worker::run(shared, worker::Start::Worker(index)))
        })
        .collect();
    let handle = parallel::Handle {
        shared: shared.clone(),
    };
    let join = handle.spawn(async { 7 }, TaskMeta::here());
    assert_eq!(loom::future::block_on(join).unwrap(), 7);
    shared
        .shutdown
        .store(true, std::sync::atomic::Ordering::SeqCst);
    for slot in shared.slots.iter() {
        slot.unpark();
    }
    for t in threads {
        t.join().unwrap();
    }
    handle.shutdown(None);
}

#[test]
fn task_pushed_while_the_worker_goes_idle_is_run() {
    model(|| push_while_workers_go_idle(1));
}

/// With two workers only one may search, so the other parks through the
/// non-searcher path, whose injector re-check this exercises.
#[test]
fn task_pushed_while_two_workers_go_idle_is_run() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.check(|| push_while_workers_go_idle(2));
}

#[test]
fn lifo_slot_races_a_thief() {
    model(|| {
        let runs = Arc::new(AtomicUsize::new(0));
        let sched = TestSched::new();
        let mk = |sched: &Arc<TestSched>| {
            let runs = runs.clone();
            let (n, j) = task::bind(
                &sched.owned,
                async move {
                    runs.fetch_add(1, SeqCst);
                },
                sched.clone(),
                TaskMeta::here(),
            );
            drop(j);
            n.unwrap()
        };
        let (local, remote) = queue::local();
        let lifo = Arc::new(LifoSlot::new());
        // The owner puts two tasks: the second displaces the first into the queue.
        if let Some(displaced) = lifo.swap(mk(&sched)) {
            local.push(displaced);
        }
        if let Some(displaced) = lifo.swap(mk(&sched)) {
            local.push(displaced);
        }
        let thief_lifo = lifo.clone();
        let thief = thread::spawn(move || {
            let (thief_local, _) = queue::local();
            let mut n = 0;
            if let Some(t) = remote.steal_into(&thief_local) {
                t.run();
                n += 1;
            }
            while let Some(t) = thief_local.pop() {
                t.run();
                n += 1;
            }
            if let Some(t) = thief_lifo.take() {
                t.run();
                n += 1;
            }
            n
        });
        let mut n = 0;
        if let Some(t) = lifo.take() {
            t.run();
            n += 1;
        }
        while let Some(t) = local.pop() {
            t.run();
            n += 1;
        }
        n += thief.join().unwrap();
        assert_eq!(n, 2, "each task taken exactly once");
        assert_eq!(runs.load(SeqCst), 2);
        assert_freed(&sched);
    });
}

/// The hand-off race: a machine inside poll 1 pushes (borrows its
/// processor) and then returns from the poll, while the monitor retakes the
/// processor and a spare tries to take it. At every point exactly one
/// machine may use the processor, and it always ends up with someone.
#[test]
fn handoff_races_poll_return() {
    model(|| {
        let claim = Arc::new(Claim::new());
        // A counter standing for the processor: each user checks it had it alone.
        let users = Arc::new(AtomicUsize::new(0));
        let use_core = |users: &AtomicUsize| {
            assert_eq!(
                users.fetch_add(1, SeqCst),
                0,
                "two machines on one processor"
            );
            users.fetch_sub(1, SeqCst);
        };
        claim.begin_poll(1);
        let seen = claim.sample();

        let (c, u) = (claim.clone(), users.clone());
        let monitor_and_spare = thread::spawn(move || {
            if c.retake(seen) {
                // The spare: it may find the old machine took the slot back.
                if c.take_handed().is_some() {
                    use_core(&u);
                    return true;
                }
            }
            false
        });

        // The old machine: a push from inside the poll, then the poll returns.
        let mut pushed_locally = false;
        if claim.borrow(1) {
            use_core(&users);
            pushed_locally = true;
            claim.release(1);
        }
        let kept = claim.end_poll(1) || claim.take_handed().is_some();
        if kept {
            use_core(&users);
        }
        let spare_took = monitor_and_spare.join().unwrap();
        assert!(
            kept ^ spare_took,
            "exactly one machine ends up with the processor"
        );
        let _ = pushed_locally;
    });
}

#[test]
fn parker_keeps_an_unpark_that_races_park() {
    model(|| {
        let parker = Arc::new(crate::park::Parker::new(None));
        let p = parker.clone();
        let t = thread::spawn(move || p.unpark());
        parker.park();
        t.join().unwrap();
    });
}

/// The single-thread scheduler's spin before it parks (`single::Driver::spin`):
/// the thread takes an `unpark` that came meanwhile instead of parking, then
/// looks for its work again. Work published before an `unpark` is seen,
/// whether the `unpark` lands before the spin, during it, or once the thread
/// has parked.
#[test]
fn unpark_racing_a_spin_before_park_is_not_lost() {
    model(|| {
        let parker = Arc::new(crate::park::Parker::new(None));
        let work = Arc::new(AtomicBool::new(false));
        let t = {
            let (parker, work) = (parker.clone(), work.clone());
            thread::spawn(move || {
                work.store(true, SeqCst);
                parker.unpark();
            })
        };
        while !work.load(SeqCst) {
            if !parker.take_notified() {
                parker.park();
            }
        }
        t.join().unwrap();
    });
}

/// A single-thread config for models: no monitor, no IO driver.
fn single_config() -> crate::Config {
    crate::Config {
        workers: 1,
        thread_name: "model".into(),
        thread_stack_size: None,
        on_thread: Arc::new(|body: &mut dyn FnMut()| body()),
        monitor: false,
        handoff_after: std::time::Duration::from_millis(10),
        slow_poll_threshold: None,
        io_driver: None,
    }
}

/// Single-thread mode: the `block_on` thread runs out of work, spins (one
/// round under loom: `take_notified`, the inbox count) and parks, while
/// another thread wakes its root future, either directly (the root waker's
/// unpark) or through a task it spawns (the inbox push and its unpark; the
/// task wakes the root). A lost wake-up shows as a deadlock.
fn single_thread_woken_from_another_thread(through_a_task: bool) {
    model(move || {
        let handle = crate::single::Handle::new(&single_config()).unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let root: Arc<Mutex<Option<Waker>>> = Arc::new(Mutex::new(None));
        let finish = {
            let (done, root) = (done.clone(), root.clone());
            move || {
                done.store(true, SeqCst);
                if let Some(waker) = root.lock().take() {
                    waker.wake();
                }
            }
        };
        let other = {
            let handle = handle.clone();
            thread::spawn(move || {
                if through_a_task {
                    drop(handle.spawn(async move { finish() }, TaskMeta::here()));
                } else {
                    finish();
                }
            })
        };
        handle.block_on(std::future::poll_fn(|cx| {
            if done.load(SeqCst) {
                return Poll::Ready(());
            }
            *root.lock() = Some(cx.waker().clone());
            if done.load(SeqCst) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        }));
        other.join().unwrap();
        handle.shutdown();
    });
}

#[test]
fn single_thread_task_spawned_from_another_thread_is_run() {
    single_thread_woken_from_another_thread(true);
}

#[test]
fn single_thread_root_woken_from_another_thread_is_polled() {
    single_thread_woken_from_another_thread(false);
}

/// The monitor dozes while every worker is parked (`Idle::monitor_sleep`);
/// the worker counted awake again wakes it, whether a push woke that worker
/// (`worker_to_notify`) or it woke by itself (`worker_from_parked`). A lost
/// wake-up shows as a deadlock.
fn monitor_dozes_while_a_worker_wakes(pushed: bool) {
    model(move || {
        let idle = Arc::new(crate::idle::Idle::new(1));
        assert!(!idle.worker_to_parked(0, false));
        let monitor = {
            let idle = idle.clone();
            thread::spawn(move || {
                idle.monitor_sleep();
            })
        };
        if pushed {
            assert_eq!(idle.worker_to_notify(), Some(0));
        } else {
            assert!(!idle.worker_from_parked(0));
        }
        monitor.join().unwrap();
    });
}

#[test]
fn worker_waking_wakes_a_dozing_monitor() {
    monitor_dozes_while_a_worker_wakes(true);
    monitor_dozes_while_a_worker_wakes(false);
}

/// A poller with eventfd semantics: one thread at a time drives it; an
/// interrupt stays pending until a driving thread's poll consumes it.
struct FakePoller {
    /// Held by the thread driving (the reactor's poller lock, held across
    /// `epoll_wait`).
    driving: loom::sync::atomic::AtomicBool,
    /// `true`: an interrupt is pending (the eventfd is readable).
    pending: Mutex<bool>,
    cvar: crate::loom::Condvar,
}

impl crate::park::IoDriver for FakePoller {
    fn try_drive(&self, may_block: &dyn Fn() -> bool) -> bool {
        if self.driving.swap(true, SeqCst) {
            return false;
        }
        {
            let mut pending = self.pending.lock();
            if may_block() {
                while !*pending {
                    self.cvar.wait(&mut pending);
                }
            }
            *pending = false;
        }
        self.driving.store(false, SeqCst);
        true
    }

    fn interrupt(&self) {
        *self.pending.lock() = true;
        self.cvar.notify_all();
    }
}

/// Two threads park on parkers that share one poller: one may be driving
/// while the other is about to. Unparking both must wake both: the second's
/// interrupt must not be eaten by the first's poll while the second then
/// blocks in its own.
#[test]
fn unpark_reaches_a_thread_about_to_drive() {
    model(|| {
        let poller: Arc<dyn crate::park::IoDriver> = Arc::new(FakePoller {
            driving: loom::sync::atomic::AtomicBool::new(false),
            pending: Mutex::new(false),
            cvar: crate::loom::Condvar::new(),
        });
        let a = Arc::new(crate::park::Parker::new(Some(poller.clone())));
        let b = Arc::new(crate::park::Parker::new(Some(poller)));
        let (pa, pb) = (a.clone(), b.clone());
        let ta = thread::spawn(move || pa.park());
        let tb = thread::spawn(move || pb.park());
        a.unpark();
        b.unpark();
        ta.join().unwrap();
        tb.join().unwrap();
    });
}

/// A busy thread polls the shared poller without blocking (`poll_io`, every
/// `INJECTOR_INTERVAL` tasks, and `poll_io_for_work`, a worker's look at IO
/// when it runs out of tasks) while another thread parks and is unparked:
/// the non-blocking poll may take the poller from under the parking thread
/// (which then sleeps on its condition variable) and may consume the
/// interrupt meant for it; the unpark must still wake it.
#[test]
fn busy_poll_racing_park_loses_no_unpark() {
    model(|| {
        let poller: Arc<dyn crate::park::IoDriver> = Arc::new(FakePoller {
            driving: loom::sync::atomic::AtomicBool::new(false),
            pending: Mutex::new(false),
            cvar: crate::loom::Condvar::new(),
        });
        let busy = Arc::new(crate::park::Parker::new(Some(poller.clone())));
        let sleeper = Arc::new(crate::park::Parker::new(Some(poller)));
        let s = sleeper.clone();
        let parked = thread::spawn(move || s.park());
        let polling = thread::spawn(move || {
            busy.poll_io();
            busy.poll_io_for_work();
        });
        sleeper.unpark();
        parked.join().unwrap();
        polling.join().unwrap();
    });
}

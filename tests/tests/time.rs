//! Timers on the full runtime, every case in both modes.

use std::future::{Future, pending, poll_fn};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use spindle::time::{Instant, interval, sleep, sleep_until, timeout};
use spindle::{spawn, yield_now};
use tests::both_modes;

/// Logs the reactor's wake of timer `group` before forwarding it to the
/// task's own waker: the log is the order timers *fire*, whatever order the
/// executor later runs the woken tasks in.
struct FireLog {
    group: u64,
    log: Arc<Mutex<Vec<u64>>>,
    task: Waker,
}

impl Wake for FireLog {
    fn wake(self: Arc<Self>) {
        self.log.lock().unwrap().push(self.group);
        self.task.wake_by_ref();
    }
}

/// Sleeps until `deadline`, logging the firing in `log`.
async fn logged_sleep(deadline: Instant, group: u64, log: Arc<Mutex<Vec<u64>>>) {
    let mut sleep = sleep_until(deadline);
    let mut first = true;
    poll_fn(|cx| {
        let waker = Waker::from(Arc::new(FireLog {
            group,
            log: log.clone(),
            task: cx.waker().clone(),
        }));
        let polled = Pin::new(&mut sleep).poll(&mut Context::from_waker(&waker));
        if polled.is_ready() && first {
            // Elapsed before it was ever registered: it "fired" now.
            log.lock().unwrap().push(group);
        }
        first = false;
        polled
    })
    .await
}

#[test]
fn ten_thousand_timers_fire_in_deadline_order_and_never_early() {
    const TIMERS: u64 = 10_000;
    // 200 deadlines 5 ms apart, 50 timers each, spawned in shuffled order.
    const GROUP: u64 = 50;
    both_modes(|mode| async move {
        let start = Instant::now() + Duration::from_millis(200);
        let log = Arc::new(Mutex::new(Vec::with_capacity(TIMERS as usize)));
        let tasks: Vec<_> = (0..TIMERS)
            .map(|i| (i * 7_919) % TIMERS)
            .map(|i| {
                let log = log.clone();
                let group = i / GROUP;
                let deadline = start + Duration::from_millis(5 * group);
                spawn(async move {
                    logged_sleep(deadline, group, log).await;
                    assert!(
                        Instant::now() >= deadline,
                        "{mode:?}: timer {i} fired early"
                    );
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let log = log.lock().unwrap();
        assert_eq!(log.len() as u64, TIMERS, "{mode:?}: every timer fired once");
        for (n, pair) in log.windows(2).enumerate() {
            assert!(
                pair[0] <= pair[1],
                "{mode:?}: firing {} is group {} after group {}",
                n + 1,
                pair[1],
                pair[0]
            );
        }
    });
}

/// Counts its wakes.
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_dropped_sleep_never_fires() {
    both_modes(|_| async {
        let counter = Arc::new(Counter(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        // `Sleep` is `Unpin`: it can be polled by `&mut` and dropped by value.
        // Far enough out that it cannot already be due when dropped, even if
        // this thread stalls (a due timer's wake may be in flight, and a late
        // wake is allowed).
        let mut sleep = sleep(Duration::from_millis(300));
        assert!(
            Pin::new(&mut sleep)
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        drop(sleep);
        spindle::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            counter.0.load(Ordering::SeqCst),
            0,
            "a dropped sleep woke its task"
        );
    });
}

/// Sets its flag when dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn timeout_returns_elapsed_and_drops_the_inner_future() {
    both_modes(|_| async {
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = DropFlag(dropped.clone());
        let mut timed = pin!(timeout(Duration::from_millis(20), async move {
            let _flag = flag;
            pending::<()>().await
        }));
        let result = poll_fn(|cx| timed.as_mut().poll(cx)).await;
        let elapsed = result.unwrap_err();
        assert!(dropped.load(Ordering::SeqCst), "dropped when it elapsed");
        assert_eq!(elapsed.to_string(), "deadline has elapsed");
        let in_time = timeout(Duration::from_secs(5), async { 42 }).await;
        assert_eq!(in_time.unwrap(), 42);
        assert_eq!(
            spindle::wait_for(Duration::ZERO, async { 1 })
                .await
                .unwrap(),
            1
        );
    });
}

#[test]
fn zero_and_max_durations_saturate() {
    both_modes(|_| async {
        sleep(Duration::ZERO).await;
        assert!(timeout(Duration::ZERO, pending::<()>()).await.is_err());
        assert_eq!(timeout(Duration::MAX, async { 7 }).await.unwrap(), 7);
        let mut forever = pin!(sleep(Duration::MAX));
        let polled = poll_fn(|cx| Poll::Ready(forever.as_mut().poll(cx))).await;
        assert!(polled.is_pending());
        assert!(forever.deadline() > Instant::now() + Duration::from_secs(86_400 * 365));
    });
}

#[test]
fn interval_keeps_its_period_under_load() {
    both_modes(|mode| async move {
        let stop = Arc::new(AtomicBool::new(false));
        let busy: Vec<_> = (0..4)
            .map(|_| {
                let stop = stop.clone();
                spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        // Half a millisecond of CPU, then let others run.
                        let until = std::time::Instant::now() + Duration::from_micros(500);
                        while std::time::Instant::now() < until {}
                        yield_now().await;
                    }
                })
            })
            .collect();
        let period = Duration::from_millis(20);
        let mut ticks = interval(period);
        let first = ticks.tick().await;
        let mut last = first;
        for _ in 0..25 {
            let at = ticks.tick().await;
            assert!(Instant::now() >= at, "{mode:?}: tick early");
            let gap = at - last;
            assert!(
                gap >= period && gap.as_nanos().is_multiple_of(period.as_nanos()),
                "{mode:?}: {gap:?}"
            );
            last = at;
        }
        let took = first.elapsed();
        stop.store(true, Ordering::Relaxed);
        for b in busy {
            b.await.unwrap();
        }
        assert!(took >= period * 25, "{mode:?}: 25 periods in {took:?}");
        assert!(
            took < Duration::from_secs(5),
            "{mode:?}: 25 periods took {took:?}"
        );
    });
}

/// Many tasks set and cancel timeouts on every worker (each thread has its
/// own timer shard, and a task may cancel on another worker than the one it
/// registered on), with some that elapse: the inner future wins every 5 s
/// timeout, and the 2 ms ones elapse, never early.
#[test]
fn timeouts_set_and_cancelled_across_workers_fire_only_when_due() {
    both_modes(|mode| async move {
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                spawn(async move {
                    for round in 0..20 {
                        let won = timeout(Duration::from_secs(5), yield_now()).await;
                        assert!(won.is_ok(), "{mode:?}: a 5 s timeout elapsed");
                        if round % 5 == 0 {
                            let start = Instant::now();
                            let lost = timeout(Duration::from_millis(2), pending::<()>()).await;
                            assert!(lost.is_err());
                            let took = start.elapsed();
                            assert!(took >= Duration::from_millis(2), "{mode:?}: early");
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    });
}

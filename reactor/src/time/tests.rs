//! Specification tests for `sleep`, `timeout` and `interval`.

use std::future::{Future, pending, ready};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use super::*;
use crate::test_util::{block_on, counting_waker, run};
use crate::{Reactor, ReactorHandle};

fn live_timers() -> usize {
    ReactorHandle::try_current().unwrap().live_timers()
}

/// A waker that records, on each wake, its id and the time.
struct OrderWaker {
    id: u64,
    log: Arc<parking_lot::Mutex<Vec<(u64, Instant)>>>,
}

impl std::task::Wake for OrderWaker {
    fn wake(self: Arc<Self>) {
        self.log.lock().push((self.id, Instant::now()));
    }
}

#[test]
fn timers_fire_in_deadline_order_and_never_early() {
    run(async {
        let log = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let start = Instant::now();
        // Deadlines 2 ms apart (wider than the 100 µs tick), inserted shuffled;
        // the order is the order the reactor wakes them, not an executor's.
        let mut sleeps: Vec<_> = (0..200u64)
            .map(|i| (i * 37) % 200)
            .map(|i| {
                let deadline = start + Duration::from_millis(2 * i + 1);
                let waker = std::task::Waker::from(Arc::new(OrderWaker {
                    id: i,
                    log: log.clone(),
                }));
                let mut sleep = sleep_until(deadline);
                assert!(
                    sleep
                        .poll_elapsed(&mut Context::from_waker(&waker))
                        .is_pending()
                );
                (i, deadline, sleep)
            })
            .collect();
        while log.lock().len() < sleeps.len() {
            super::sleep(Duration::from_millis(5)).await;
        }
        let log = log.lock();
        let ids: Vec<u64> = log.iter().map(|&(id, _)| id).collect();
        assert_eq!(ids, (0..200).collect::<Vec<_>>());
        for (i, deadline, sleep) in &mut sleeps {
            let woke = log[*i as usize].1;
            assert!(
                woke >= *deadline,
                "timer {i} fired {:?} early",
                *deadline - woke
            );
            let (waker, _) = counting_waker();
            assert!(
                sleep
                    .poll_elapsed(&mut Context::from_waker(&waker))
                    .is_ready()
            );
        }
        assert_eq!(live_timers(), 0);
    });
}

#[test]
fn a_dropped_sleep_frees_its_entry_and_never_fires() {
    run(async {
        let (waker, woken) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut sleep = sleep(Duration::from_millis(5));
        assert!(sleep.poll_elapsed(&mut cx).is_pending());
        assert_eq!(live_timers(), 1);
        drop(sleep);
        assert_eq!(live_timers(), 0);
        super::sleep(Duration::from_millis(20)).await;
        assert_eq!(woken.get(), 0, "a dropped sleep woke its task");
    });
}

/// A `Sleep` keeps the shard it registered in: moved to a thread with no
/// reactor (or another thread's shard), it is cancelled and fires there.
#[test]
fn a_sleep_moved_to_another_thread_is_cancelled_and_fires_there() {
    run(async {
        let (dropped_waker, dropped_woken) = counting_waker();
        let (fires_waker, _) = counting_waker();
        let mut dropped = sleep(Duration::from_secs(60));
        let deadline = Instant::now() + Duration::from_millis(20);
        let mut fires = sleep_until(deadline);
        assert!(
            dropped
                .poll_elapsed(&mut Context::from_waker(&dropped_waker))
                .is_pending()
        );
        assert!(
            fires
                .poll_elapsed(&mut Context::from_waker(&fires_waker))
                .is_pending()
        );
        assert_eq!(live_timers(), 2);
        let elsewhere = std::thread::spawn(move || {
            assert!(ReactorHandle::try_current().is_none());
            drop(dropped);
            let mut cx = Context::from_waker(&fires_waker);
            while fires.poll_elapsed(&mut cx).is_pending() {
                std::thread::sleep(Duration::from_millis(1));
            }
            Instant::now()
        });
        // The backstop drives the reactor while this thread blocks.
        let fired_at = elsewhere.join().unwrap();
        assert!(fired_at >= deadline, "fired early");
        assert_eq!(live_timers(), 0);
        assert_eq!(dropped_woken.get(), 0, "the dropped sleep woke");
    });
}

#[test]
fn zero_and_max_durations_neither_panic_nor_overflow() {
    run(async {
        sleep(Duration::ZERO).await;
        assert_eq!(live_timers(), 0, "an elapsed sleep needs no entry");
        assert_eq!(timeout(Duration::ZERO, ready(7)).await, Ok(7));
        assert!(timeout(Duration::ZERO, pending::<()>()).await.is_err());

        let (waker, _) = counting_waker();
        let mut forever = sleep(Duration::MAX);
        assert!(forever.deadline() > Instant::now() + Duration::from_secs(86_400 * 365 * 29));
        assert!(
            forever
                .poll_elapsed(&mut Context::from_waker(&waker))
                .is_pending()
        );
        assert_eq!(live_timers(), 1);
        let far = timeout(Duration::MAX, async { 3 }).await;
        assert_eq!(far, Ok(3));
        drop(forever);
        assert_eq!(live_timers(), 0);
        let mut ticks = interval(Duration::ZERO);
        assert_eq!(ticks.period(), crate::timer::TICK);
        ticks.tick().await;
        ticks.tick().await;
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
fn timeout_elapses_and_drops_the_inner_future_right_away() {
    run(async {
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = DropFlag(dropped.clone());
        let inner = async move {
            let _flag = flag;
            pending::<()>().await;
        };
        let mut timed = pin!(timeout(Duration::from_millis(10), inner));
        let start = Instant::now();
        let result = std::future::poll_fn(|cx| timed.as_mut().poll(cx)).await;
        let elapsed = result.unwrap_err();
        assert!(start.elapsed() >= Duration::from_millis(10));
        assert!(dropped.load(Ordering::SeqCst), "inner future still alive");
        assert!(timed.get_ref().is_none());
        assert_eq!(elapsed.to_string(), "deadline has elapsed");
    });
}

#[test]
fn timeout_returns_the_output_when_in_time() {
    run(async {
        let out = timeout(Duration::from_secs(5), async {
            sleep(Duration::from_millis(2)).await;
            "done"
        })
        .await;
        assert_eq!(out, Ok("done"));
        assert_eq!(live_timers(), 0);
    });
}

#[test]
fn interval_keeps_its_period() {
    run(async {
        let period = Duration::from_millis(20);
        let mut ticks = interval(period);
        let first = ticks.tick().await;
        let mut last = first;
        for _ in 0..5 {
            let at = ticks.tick().await;
            // On a loaded machine a late tick skips the missed ones, so the
            // gap is a whole number of periods, never a fraction.
            let gap = at - last;
            assert!(
                gap >= period && gap.as_nanos().is_multiple_of(period.as_nanos()),
                "{gap:?}"
            );
            assert!(Instant::now() >= at, "tick early");
            last = at;
        }
        assert!(first.elapsed() >= period * 5);
    });
}

#[test]
fn an_interval_is_a_stream_of_ticks() {
    use futures_util::StreamExt;
    run(async {
        let period = Duration::from_millis(2);
        let ticks: Vec<Instant> = interval(period).take(3).collect().await;
        let span = ticks[2] - ticks[0];
        assert!(
            span >= period * 2 && span.as_nanos().is_multiple_of(period.as_nanos()),
            "{span:?}"
        );
    });
}

#[test]
fn interval_skips_missed_ticks() {
    run(async {
        let start = Instant::now();
        let period = Duration::from_millis(10);
        let mut ticks = interval_at(start, period);
        assert_eq!(ticks.tick().await, start);
        std::thread::sleep(Duration::from_millis(35));
        assert_eq!(
            ticks.tick().await,
            start + period,
            "the late tick is delivered"
        );
        // The next tick is the first multiple of the period after "now":
        // the ticks at 2 and 3 periods are skipped, not delivered late.
        let next = ticks.tick().await;
        assert!(next >= start + period * 4, "missed ticks skipped");
        assert!((next - start).as_nanos().is_multiple_of(period.as_nanos()));
    });
}

#[test]
fn sleep_outside_a_runtime_panics_naming_the_fix() {
    let err = std::panic::catch_unwind(|| block_on(sleep(Duration::from_millis(1)))).unwrap_err();
    let msg = err.downcast_ref::<String>().unwrap();
    assert!(
        msg.contains("must be polled inside a spindle runtime"),
        "{msg}"
    );
    assert!(msg.contains("Runtime::block_on or spindle::run"), "{msg}");
}

#[test]
fn shutdown_wakes_and_completes_pending_sleeps() {
    let reactor = Reactor::start("timer-shutdown").unwrap();
    let _guard = reactor.handle().enter();
    let (waker, woken) = counting_waker();
    let mut cx = Context::from_waker(&waker);
    let mut hour = sleep(Duration::from_secs(3600));
    assert!(hour.poll_elapsed(&mut cx).is_pending());
    reactor.shutdown();
    assert_eq!(woken.get(), 1);
    assert_eq!(hour.poll_elapsed(&mut cx), Poll::Ready(()));
    assert_eq!(
        sleep(Duration::from_secs(3600)).poll_elapsed(&mut cx),
        Poll::Ready(())
    );
}

#[test]
fn a_new_earliest_timer_interrupts_a_long_poll() {
    run(async {
        let _long = {
            let mut long = sleep(Duration::from_secs(60));
            let (waker, _) = counting_waker();
            assert!(
                long.poll_elapsed(&mut Context::from_waker(&waker))
                    .is_pending()
            );
            long
        };
        // Let the reactor settle into a 60 s poll before the short timer.
        std::thread::sleep(Duration::from_millis(5));
        let start = Instant::now();
        sleep(Duration::from_millis(5)).await;
        assert!(start.elapsed() < Duration::from_secs(5));
    });
}

#[cfg(target_os = "linux")]
#[test]
fn sub_millisecond_sleeps_are_not_rounded_up_to_a_millisecond() {
    run(async {
        // With epoll's millisecond timeout every one of these would take
        // 1 ms or more; with the timerfd the fastest is well under that,
        // however loaded the machine is the rest of the time.
        let mut took: Vec<Duration> = Vec::new();
        for _ in 0..21 {
            let start = Instant::now();
            sleep(Duration::from_micros(200)).await;
            took.push(start.elapsed());
        }
        took.sort();
        assert!(took[0] >= Duration::from_micros(200), "never early");
        assert!(
            took[0] < Duration::from_micros(900),
            "fastest {:?}",
            took[0]
        );
    });
}

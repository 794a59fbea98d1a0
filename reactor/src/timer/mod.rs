//! The timer driver: the [`Wheel`] behind a lock, plus the clock that turns
//! `Instant`s into wheel ticks. The reactor thread advances it; `Sleep`s
//! register, re-register and cancel through it.
//!
//! # Mechanism
//!
//! Time is counted in ticks of [`TICK`] (1 ms) since the driver's `origin`.
//! A deadline becomes a tick by rounding **up**, the current time by
//! rounding **down**; an entry fires once the current tick reaches its
//! deadline tick, so it never fires early, and fires at most one tick (plus
//! the wake-up latency) late.
//!
//! One mutex guards the wheel. The reactor thread takes it once per loop to
//! advance the wheel and read the next deadline, from which it derives its
//! `epoll` timeout. It records that deadline in `planned`; a `Sleep` that
//! registers an earlier deadline lowers `planned` and asks the caller to
//! interrupt the poll through the reactor's `mio::Waker`. Because both
//! happen under the lock, a registration either lands before the reactor
//! computes its timeout (and is included) or sees the `planned` value the
//! reactor will sleep until (and interrupts it if too late): no timer is
//! missed.
//!
//! Wakers are collected under the lock and woken after it is released, so
//! a waker that re-enters the timer driver (a task woken inline that polls
//! another `Sleep`) cannot deadlock.
//!
//! # Why 1 ms and not finer
//!
//! Sub-millisecond ticks buy nothing while the reactor sleeps in
//! `epoll_wait`, whose timeout is whole milliseconds (mio rounds a 0.3 ms
//! timeout *up* to 1 ms so it does not spin). Finer resolution would need a
//! `timerfd` re-armed on every earliest-deadline change (one more syscall per
//! change, and a read per expiry); that is a measurable cost on the hot
//! timer path that has not been benchmarked yet, so the tick stays at tokio's
//! 1 ms.
//!
//! # Rejected alternatives
//!
//! * Per-entry atomic state with lock-free firing (tokio): lets an elapsed
//!   `Sleep` see "fired" without the lock, but needs intrusive, pinned
//!   entries (`!Unpin` sleeps) and a much larger loom surface. Here a `Sleep`
//!   polled after registration takes the lock once per poll, which is
//!   cheap next to the wake that caused the poll.
//! * A lock per level or sharded wheels: worth it only if this lock shows up
//!   in profiles of timer-heavy parallel workloads.

pub(crate) mod wheel;

use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use crate::loom::Mutex;
use wheel::{TimerKey, Wheel};

/// The wheel's resolution. See "Why 1 ms" above.
const TICK: Duration = Duration::from_millis(1);
/// Nanoseconds per tick.
const TICK_NANOS: u128 = TICK.as_nanos();
/// Deadline ticks saturate here: about 292 000 years of milliseconds, far
/// beyond any real deadline and still far from `u64` overflow in the wheel's
/// arithmetic.
const MAX_TICK: u64 = u64::MAX >> 8;

/// The lock-protected part of [`Timers`].
#[derive(Debug)]
struct State {
    wheel: Wheel,
    /// The tick the reactor thread will next wake at (`u64::MAX`: no timeout).
    planned: u64,
    shut_down: bool,
}

/// The timer driver. See the module docs.
#[derive(Debug)]
pub(crate) struct Timers {
    origin: Instant,
    state: Mutex<State>,
}

/// The outcome of [`Timers::register`].
#[derive(Debug)]
pub(crate) enum Registered {
    /// The deadline has passed (or the reactor shut down): complete now.
    Elapsed,
    /// The timer is pending; `interrupt` asks the caller to wake the reactor
    /// thread because this is now the earliest deadline.
    Pending {
        /// The new entry.
        key: TimerKey,
        /// Whether the reactor's poll must be interrupted.
        interrupt: bool,
    },
}

impl Timers {
    /// A driver whose tick 0 is now.
    pub(crate) fn new() -> Self {
        Timers {
            origin: Instant::now(),
            state: Mutex::new(State {
                wheel: Wheel::new(),
                planned: u64::MAX,
                shut_down: false,
            }),
        }
    }

    /// The tick of `deadline`, rounded up and saturated.
    fn deadline_tick(&self, deadline: Instant) -> u64 {
        let nanos = deadline.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(nanos.div_ceil(TICK_NANOS)).map_or(MAX_TICK, |t| t.min(MAX_TICK))
    }

    /// The tick `now` falls in, rounded down.
    fn now_tick(&self, now: Instant) -> u64 {
        let nanos = now.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(nanos / TICK_NANOS).map_or(MAX_TICK, |t| t.min(MAX_TICK))
    }

    /// Registers a timer for `deadline` that wakes `waker`.
    pub(crate) fn register(&self, deadline: Instant, waker: &Waker) -> Registered {
        self.register_tick(self.deadline_tick(deadline), waker)
    }

    /// [`Timers::register`] on ticks.
    fn register_tick(&self, when: u64, waker: &Waker) -> Registered {
        let mut state = self.state.lock();
        if state.shut_down {
            return Registered::Elapsed;
        }
        match state.wheel.insert(when, waker.clone()) {
            None => Registered::Elapsed,
            Some(key) => {
                let interrupt = when < state.planned;
                if interrupt {
                    state.planned = when;
                }
                Registered::Pending { key, interrupt }
            }
        }
    }

    /// Polls a registered timer: `Ready` once it fired, otherwise stores
    /// `waker` (replacing the previous one) and stays `Pending`.
    pub(crate) fn poll(&self, key: TimerKey, waker: &Waker) -> Poll<()> {
        if self.state.lock().wheel.update_waker(key, waker) {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }

    /// Removes a timer that has not fired; a fired or stale key is ignored.
    pub(crate) fn cancel(&self, key: TimerKey) {
        self.state.lock().wheel.cancel(key);
    }

    /// Reactor side: fires everything due at `now` into `wake` and returns
    /// how long the reactor may sleep before the next timer work (`None`:
    /// no timers).
    pub(crate) fn process(&self, now: Instant, wake: &mut Vec<Waker>) -> Option<Duration> {
        let next = self.process_tick(self.now_tick(now), wake)?;
        let since_origin = now.saturating_duration_since(self.origin).as_nanos();
        let wait = (u128::from(next) * TICK_NANOS).saturating_sub(since_origin);
        // Waits beyond u64 nanoseconds (584 years) are cut short; the
        // reactor then just re-computes the timeout.
        Some(Duration::from_nanos(
            u64::try_from(wait).unwrap_or(u64::MAX),
        ))
    }

    /// [`Timers::process`] on ticks; returns the next tick with work.
    fn process_tick(&self, now: u64, wake: &mut Vec<Waker>) -> Option<u64> {
        let mut state = self.state.lock();
        state.wheel.advance(now, wake);
        let next = state.wheel.next_deadline();
        state.planned = next.unwrap_or(u64::MAX);
        next
    }

    /// Fires every timer and makes later registrations complete at once.
    pub(crate) fn shutdown(&self, wake: &mut Vec<Waker>) {
        let mut state = self.state.lock();
        state.shut_down = true;
        state.wheel.drain(wake);
    }

    /// How many timers are pending.
    pub(crate) fn live(&self) -> usize {
        self.state.lock().wheel.live()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::test_util::counting_waker;

    #[test]
    fn deadlines_round_up_and_now_rounds_down() {
        let timers = Timers::new();
        let just_after = timers.origin + Duration::from_micros(1);
        assert_eq!(timers.deadline_tick(just_after), 1);
        assert_eq!(timers.now_tick(just_after), 0);
        assert_eq!(timers.deadline_tick(timers.origin + TICK), 1);
        let far = timers.origin + Duration::from_secs(1 << 47);
        assert_eq!(timers.deadline_tick(far), MAX_TICK);
    }

    #[test]
    fn an_earlier_deadline_interrupts_the_reactor_once() {
        let timers = Timers::new();
        let (waker, _) = counting_waker();
        assert!(timers.process_tick(0, &mut Vec::new()).is_none());
        let first = timers.register_tick(50, &waker);
        assert!(matches!(
            first,
            Registered::Pending {
                interrupt: true,
                ..
            }
        ));
        let later = timers.register_tick(60, &waker);
        assert!(matches!(
            later,
            Registered::Pending {
                interrupt: false,
                ..
            }
        ));
        let earlier = timers.register_tick(40, &waker);
        assert!(matches!(
            earlier,
            Registered::Pending {
                interrupt: true,
                ..
            }
        ));
        assert!(matches!(
            timers.register_tick(0, &waker),
            Registered::Elapsed
        ));
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::test_util::counting_waker;
    use loom::sync::Arc;

    /// The reactor fires a timer while its `Sleep` is dropped: the entry is
    /// freed exactly once and nothing stays live.
    #[test]
    fn fire_vs_cancel_frees_the_entry_once() {
        loom::model(|| {
            let timers = Arc::new(Timers::new());
            let (waker, woken) = counting_waker();
            let Registered::Pending { key, .. } = timers.register_tick(1, &waker) else {
                panic!("tick 1 is in the future");
            };
            let reactor = {
                let timers = timers.clone();
                loom::thread::spawn(move || {
                    let mut wake = Vec::new();
                    timers.process_tick(1, &mut wake);
                    wake.into_iter().for_each(Waker::wake);
                })
            };
            timers.cancel(key);
            reactor.join().unwrap();
            assert_eq!(timers.live(), 0);
            assert!(woken.get() <= 1);
        });
    }

    /// The reactor fires a timer while its task re-polls with a new waker:
    /// the task sees the firing or its new waker is woken.
    #[test]
    fn fire_vs_repoll_loses_no_wakeup() {
        loom::model(|| {
            let timers = Arc::new(Timers::new());
            let (first, _) = counting_waker();
            let Registered::Pending { key, .. } = timers.register_tick(1, &first) else {
                panic!("tick 1 is in the future");
            };
            let reactor = {
                let timers = timers.clone();
                loom::thread::spawn(move || {
                    let mut wake = Vec::new();
                    timers.process_tick(1, &mut wake);
                    wake.into_iter().for_each(Waker::wake);
                })
            };
            let (second, woken) = counting_waker();
            let ready = timers.poll(key, &second).is_ready();
            reactor.join().unwrap();
            assert!(ready || woken.get() == 1, "lost timer wakeup");
        });
    }
}

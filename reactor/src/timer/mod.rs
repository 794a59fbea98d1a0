//! The timer driver: the [`Wheel`] behind a lock, plus the clock that turns
//! `Instant`s into wheel ticks. The reactor thread advances it; `Sleep`s
//! register, re-register and cancel through it.
//!
//! # Mechanism
//!
//! Time is counted in ticks of [`TICK`] (100 µs) since the driver's
//! `origin`. A deadline becomes a tick by rounding **up**, the current time
//! by rounding **down**; an entry fires once the current tick reaches its
//! deadline tick, so it never fires early, and fires at most one tick (plus
//! the wake-up latency) late.
//!
//! One mutex guards the wheel. The reactor thread takes it once per loop to
//! advance the wheel and read the next deadline, from which it derives how
//! long to sleep. It records that deadline in `planned`; a `Sleep` that
//! registers an earlier deadline lowers `planned` and asks the caller to
//! interrupt the poll through the reactor's `mio::Waker`. Because both
//! happen under the lock, a registration either lands before the reactor
//! computes its sleep (and is included) or sees the `planned` value the
//! reactor will sleep until (and interrupts it if too late): no timer is
//! missed.
//!
//! Wakers are collected under the lock and woken after it is released, so
//! a waker that re-enters the timer driver (a task woken inline that polls
//! another `Sleep`) cannot deadlock.
//!
//! # Why 100 µs, and how the reactor sleeps that precisely
//!
//! `epoll_wait` takes whole milliseconds (mio rounds a 0.3 ms timeout *up*
//! to 1 ms), which is why tokio's wheel ticks at 1 ms and a 1 ms sleep
//! there takes about 2 ms. On Linux the reactor instead arms a `timerfd`
//! (nanosecond resolution) for the next deadline and waits on `epoll`
//! without a timeout; other platforms fall back to the rounded `epoll`
//! timeout. The `timerfd` costs one `timerfd_settime` when the next
//! deadline changes and nothing otherwise. Measured with
//! `benches/benches/timers.rs` on the shared 2-core dev box (load ~3):
//! `fire_1ms` (1 000 tasks sleep 1 ms) takes 1.28 ms (single) and 1.41 ms
//! (parallel), against 2.50 and 2.56 ms with the 1 ms tick and epoll
//! timeout, and 2.49 / 2.93 ms on tokio; `insert_cancel` (10 000 register +
//! cancel) moved within the box's run-to-run noise (±30 %) and stays ahead
//! of tokio (1.47 against 1.89 ms single-threaded).
//!
//! 100 µs rather than finer: each distinct tick that holds a timer is one
//! reactor wake-up, so a coarser tick coalesces timers that are close
//! together. 100 µs keeps that coalescing (at most 10 000 timer wake-ups a
//! second) while making a 1 ms sleep take about 1.1 ms. Six levels of 64
//! slots at 100 µs span about 79 days; later deadlines ride the top level as
//! a ring (see `wheel`).
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

#[cfg(target_os = "linux")]
pub(crate) mod timerfd;
pub(crate) mod wheel;

use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use crate::loom::Mutex;
use wheel::{TimerKey, Wheel};

/// The wheel's resolution. See "Why 100 µs" above.
pub(crate) const TICK: Duration = Duration::from_micros(100);
/// Nanoseconds per tick.
const TICK_NANOS: u128 = TICK.as_nanos();
/// Deadline ticks saturate here: about 228 000 years of 100 µs ticks, far
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

/// When the reactor next has timer work: the wheel tick (to notice that the
/// deadline changed) and the time from now until it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NextTimer {
    /// The wheel tick of the next expiration.
    pub(crate) tick: u64,
    /// How long until that tick starts.
    pub(crate) wait: Duration,
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
    /// when the next timer work is due (`None`: no timers).
    pub(crate) fn process(&self, now: Instant, wake: &mut Vec<Waker>) -> Option<NextTimer> {
        let tick = self.process_tick(self.now_tick(now), wake)?;
        let since_origin = now.saturating_duration_since(self.origin).as_nanos();
        let wait = (u128::from(tick) * TICK_NANOS).saturating_sub(since_origin);
        // Waits beyond u64 nanoseconds (584 years) are cut short; the
        // reactor then just re-computes the wait.
        let wait = Duration::from_nanos(u64::try_from(wait).unwrap_or(u64::MAX));
        Some(NextTimer { tick, wait })
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
        let just_after = timers.origin + Duration::from_nanos(1);
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

#[cfg(all(test, not(loom)))]
mod planned_tests {
    use super::*;
    use crate::test_util::counting_waker;

    /// Random registrations, cancels and reactor rounds: the reactor's
    /// planned wake-up is never later than a pending timer unless the
    /// registration that made it so asked for an interrupt.
    #[test]
    fn the_reactor_is_always_woken_in_time() {
        let timers = Timers::new();
        let (waker, _) = counting_waker();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut rng = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut now = 0;
        let mut keys = Vec::new();
        // The tick the reactor will actually wake at: what it planned, or
        // sooner if interrupted.
        let mut wakes_at = u64::MAX;
        for _ in 0..20_000 {
            match rng() % 4 {
                0 | 1 => {
                    let when = now + 1 + rng() % 100_000;
                    match timers.register_tick(when, &waker) {
                        Registered::Pending { key, interrupt } => {
                            if interrupt {
                                wakes_at = now;
                            }
                            assert!(wakes_at <= when, "the reactor would sleep past {when}");
                            keys.push(key);
                        }
                        Registered::Elapsed => panic!("{when} is in the future"),
                    }
                }
                2 if !keys.is_empty() => {
                    let i = (rng() % keys.len() as u64) as usize;
                    timers.cancel(keys.swap_remove(i));
                }
                _ => {
                    now = now.max(wakes_at.min(now + rng() % 1_000));
                    wakes_at = timers
                        .process_tick(now, &mut Vec::new())
                        .unwrap_or(u64::MAX);
                    assert_eq!(timers.state.lock().planned, wakes_at);
                }
            }
        }
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

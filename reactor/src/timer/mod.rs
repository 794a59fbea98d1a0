//! The timer driver: [`Wheel`]s behind locks, one per shard, plus the clock
//! that turns `Instant`s into wheel ticks. The thread driving the reactor
//! advances them; `Sleep`s register, re-register and cancel through them.
//!
//! # Mechanism
//!
//! Time is counted in ticks of [`TICK`] (100 µs) since the driver's
//! `origin`. A deadline becomes a tick by rounding **up**, the current time
//! by rounding **down**; an entry fires once the current tick reaches its
//! deadline tick, so it never fires early, and fires at most one tick (plus
//! the wake-up latency) late.
//!
//! # Sharding
//!
//! The driver holds one [`Shard`] (a wheel behind its own mutex) per CPU,
//! rounded up to a power of two, at most [`MAX_SHARDS`]. A thread registers its timers in "its" shard,
//! handed out round-robin at the thread's first timer, so two workers that
//! both set and cancel timers take different locks. The `Sleep` keeps the
//! shard it registered in (an `Arc` of the shard, not of the reactor) and
//! re-polls and cancels there, from whichever thread it is on by then.
//!
//! Each reactor turn locks every shard once, advances its wheel, reads its
//! next deadline and records it in the shard's `planned`; the reactor
//! sleeps until the earliest of them. A `Sleep` that registers a deadline
//! earlier than its shard's `planned` lowers it and asks the caller to
//! interrupt the poll through the reactor's `mio::Waker`. Both happen under
//! the shard's lock, so a registration either lands before the turn reads
//! that shard (and is included in the minimum) or sees the `planned` the
//! turn wrote, which is no earlier than the reactor's sleep, and
//! interrupts if it is due earlier: no timer is slept through. The shard
//! records its own next deadline, not the minimum over all shards, because
//! the minimum is only known after the last shard was read: writing it back
//! afterwards would leave a window in which a registration compares with a
//! stale value (`loom_tests::a_registration_racing_a_turn_is_never_slept_through`
//! fails on exactly that). The cost is a spurious interrupt when a shard's
//! own next deadline is later than another shard's.
//!
//! Wakers are collected under each lock and woken after the turn, so a
//! waker that re-enters the timer driver (a task woken inline that polls
//! another `Sleep`) cannot deadlock. When several shards fire in one turn
//! (the reactor woke late), their runs are merged by tick, so timers are
//! still woken in deadline order, as one wheel would.
//!
//! Measured (`timers/insert_cancel`, 1 000 tasks × 10 register + cancel, 2
//! workers, the shared 2-core box at load 4–7): with one global lock
//! spindle/parallel took 4.0–5.8 ms against tokio/multi_thread's 3.3–3.4 ms
//! (its wheel is sharded per worker): under load a worker preempted while
//! holding the lock stalls the other one, and `perf` put ~20 % of the
//! samples on the lock's `cmpxchg` and on the reactor `Arc`'s reference
//! count, which every `Sleep` used to clone. Sharded, 1.7–1.9 ms against
//! 2.1–3.5 ms in the same runs; single-thread mode is unchanged (1.5–1.7
//! ms). Another time the same workload in a standalone driver under
//! `perf stat` counted 2.8–3.4 s of CPU for 300 passes
//! with one lock (5.3–6.1 ms a pass) against 0.85–0.93 s sharded (1.5–1.7
//! ms). The gain needs the two workers to run at once: while other load
//! left the box about one free core, both took 1.78–1.86 ms a pass and
//! the same CPU time (tokio/multi_thread 2.1 ms).
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
//! timeout, and 2.49 / 2.93 ms on tokio (with sharding, 1.26 and 1.32 ms
//! against tokio's 2.50 and 2.51 ms); `insert_cancel` (10 000 register +
//! cancel) stays ahead of tokio: 1.54 against 1.88 ms single-threaded,
//! 1.80 against 2.14 ms with 2 workers (load ~2).
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
//!   polled after registration takes its shard's lock once per poll, which
//!   is cheap next to the wake that caused the poll: in the spread pass 77 %
//!   of that poll's samples sit on the load of the entry (written by the
//!   thread that fired it), a miss a lock-free flag in the entry would
//!   take just the same.
//! * One wheel behind one lock (this driver's first design): see "Sharding".
//! * Sharding by worker index (tokio): the reactor does not know the
//!   scheduler's workers, and threads outside any worker (a `block_on`, the
//!   blocking pool) need a shard too. Round-robin per thread gives distinct
//!   shards to the first threads that use timers, which are the workers.

#[cfg(target_os = "linux")]
pub(crate) mod timerfd;
pub(crate) mod wheel;

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use crate::loom::Mutex;
use wheel::{TimerKey, Wheel};

/// The wheel's resolution. See "Why 100 µs" above.
pub(crate) const TICK: Duration = Duration::from_micros(100);
/// Ticks per second.
const TICKS_PER_SEC: u64 = 1_000_000_000 / TICK.as_nanos() as u64;
/// Nanoseconds per tick.
const TICK_NANOS: u32 = TICK.as_nanos() as u32;
/// Deadline ticks saturate here: about 228 000 years of 100 µs ticks, far
/// beyond any real deadline and still far from `u64` overflow in the wheel's
/// arithmetic.
const MAX_TICK: u64 = u64::MAX >> 8;
/// At most this many shards, however many CPUs: every reactor turn locks
/// each shard once, so more shards make every turn dearer (an empty shard
/// costs about 40 instructions). A power of two, like every shard count.
const MAX_SHARDS: usize = 16;

/// The lock-protected part of a [`Shard`].
#[derive(Debug)]
struct State {
    wheel: Wheel,
    /// The tick the reactor will next wake at, as far as this shard knows
    /// (`u64::MAX`: no timeout). See "Sharding" above.
    planned: u64,
    shut_down: bool,
}

/// One wheel and its lock. A pending [`Sleep`](crate::time::Sleep) holds
/// its shard (not the whole reactor), so registering and cancelling touch
/// only this allocation. Aligned so that two shards never share a cache
/// line.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct Shard {
    state: Mutex<State>,
}

/// The timer driver. See the module docs.
#[derive(Debug)]
pub(crate) struct Timers {
    origin: Instant,
    shards: Box<[Arc<Shard>]>,
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
    /// The timer is pending in `shard`; `interrupt` asks the caller to wake
    /// the reactor thread because this may be the earliest deadline.
    Pending {
        /// The shard that holds the entry.
        shard: Arc<Shard>,
        /// The new entry.
        key: TimerKey,
        /// Whether the reactor's poll must be interrupted.
        interrupt: bool,
    },
}

/// Hands each thread its shard number, round-robin, at its first timer.
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's shard number (`usize::MAX`: none yet), taken modulo
    /// each driver's shard count.
    static THREAD_SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// This thread's shard number, assigned on first use.
fn thread_shard() -> usize {
    THREAD_SHARD.with(|cell| {
        if cell.get() == usize::MAX {
            cell.set(NEXT_SHARD.fetch_add(1, Relaxed));
        }
        cell.get()
    })
}

/// `duration` in ticks, rounded up (`ceil`) or down, saturated.
fn ticks(duration: Duration, ceil: bool) -> u64 {
    let sub = duration.subsec_nanos();
    let sub = if ceil {
        sub.div_ceil(TICK_NANOS)
    } else {
        sub / TICK_NANOS
    };
    duration
        .as_secs()
        .saturating_mul(TICKS_PER_SEC)
        .saturating_add(u64::from(sub))
        .min(MAX_TICK)
}

impl Timers {
    /// A driver whose tick 0 is now, with a shard per CPU (rounded up to a
    /// power of two, at most [`MAX_SHARDS`]).
    pub(crate) fn new() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::with_shards(cpus.next_power_of_two().min(MAX_SHARDS))
    }

    /// A driver with `count` shards, a power of two: a thread's shard is
    /// then a mask of its number, not a division (which showed up at 9 %
    /// of `Timers::register`'s samples).
    fn with_shards(count: usize) -> Self {
        assert!(count.is_power_of_two(), "{count} shards");
        Timers {
            origin: Instant::now(),
            shards: (0..count)
                .map(|_| {
                    Arc::new(Shard {
                        state: Mutex::new(State {
                            wheel: Wheel::new(),
                            planned: u64::MAX,
                            shut_down: false,
                        }),
                    })
                })
                .collect(),
        }
    }

    /// The tick of `deadline`, rounded up and saturated.
    fn deadline_tick(&self, deadline: Instant) -> u64 {
        ticks(deadline.saturating_duration_since(self.origin), true)
    }

    /// The tick `now` falls in, rounded down.
    fn now_tick(&self, now: Instant) -> u64 {
        ticks(now.saturating_duration_since(self.origin), false)
    }

    /// Registers a timer for `deadline` that wakes `waker`, in the calling
    /// thread's shard. The waker comes cloned, so that foreign code (its
    /// `clone`) runs neither under the shard's lock nor while the caller
    /// borrows the current reactor.
    pub(crate) fn register(&self, deadline: Instant, waker: Waker) -> Registered {
        let shard = thread_shard() & (self.shards.len() - 1);
        self.register_tick(shard, self.deadline_tick(deadline), waker)
    }

    /// [`Timers::register`] on ticks, in shard number `shard`.
    fn register_tick(&self, shard: usize, when: u64, waker: Waker) -> Registered {
        let shard = &self.shards[shard];
        let mut state = shard.state.lock();
        if state.shut_down {
            return Registered::Elapsed;
        }
        match state.wheel.insert(when, waker) {
            None => Registered::Elapsed,
            Some(key) => {
                let interrupt = when < state.planned;
                if interrupt {
                    state.planned = when;
                }
                drop(state);
                Registered::Pending {
                    shard: shard.clone(),
                    key,
                    interrupt,
                }
            }
        }
    }

    /// Reactor side: fires everything due at `now` into `fired` (each waker
    /// with its tick, in firing order) and returns when the next timer work
    /// is due (`None`: no timers).
    pub(crate) fn process(&self, now: Instant, fired: &mut Vec<(u64, Waker)>) -> Option<NextTimer> {
        let tick = self.process_tick(self.now_tick(now), fired)?;
        let since_origin = now.saturating_duration_since(self.origin).as_nanos();
        let wait = (u128::from(tick) * u128::from(TICK_NANOS)).saturating_sub(since_origin);
        // Waits beyond u64 nanoseconds (584 years) are cut short; the
        // reactor then just re-computes the wait.
        let wait = Duration::from_nanos(u64::try_from(wait).unwrap_or(u64::MAX));
        Some(NextTimer { tick, wait })
    }

    /// [`Timers::process`] on ticks; returns the next tick with work.
    fn process_tick(&self, now: u64, fired: &mut Vec<(u64, Waker)>) -> Option<u64> {
        let mut next = None::<u64>;
        let mut firing_shards = 0;
        for shard in self.shards.iter() {
            let before = fired.len();
            if let Some(tick) = shard.process(now, fired) {
                next = Some(next.map_or(tick, |next| next.min(tick)));
            }
            firing_shards += usize::from(fired.len() > before);
        }
        if firing_shards > 1 {
            // Each shard's run is in firing order; a stable sort merges them
            // into the order one wheel would have fired them in.
            fired.sort_by_key(|&(tick, _)| tick);
        }
        next
    }

    /// Fires every timer and makes later registrations complete at once.
    pub(crate) fn shutdown(&self, wake: &mut Vec<Waker>) {
        for shard in self.shards.iter() {
            let mut state = shard.state.lock();
            state.shut_down = true;
            state.wheel.drain(wake);
        }
    }

    /// How many timers are pending.
    pub(crate) fn live(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.state.lock().wheel.live())
            .sum()
    }
}

impl Shard {
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

    /// Advances this shard's wheel to `now`, firing into `fired`; returns
    /// the shard's next tick with work and records it as `planned`.
    fn process(&self, now: u64, fired: &mut Vec<(u64, Waker)>) -> Option<u64> {
        let mut state = self.state.lock();
        state.wheel.advance(now, fired);
        let next = state.wheel.next_deadline();
        state.planned = next.unwrap_or(u64::MAX);
        next
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
        let later = timers.origin + Duration::new(3, 250_050_000);
        assert_eq!(timers.deadline_tick(later), 32_501);
        assert_eq!(timers.now_tick(later), 32_500);
        let far = timers.origin + Duration::from_secs(1 << 47);
        assert_eq!(timers.deadline_tick(far), MAX_TICK);
        assert_eq!(ticks(Duration::MAX, true), MAX_TICK);
    }

    #[test]
    fn an_earlier_deadline_interrupts_the_reactor_once() {
        let timers = Timers::with_shards(1);
        let (waker, _) = counting_waker();
        assert!(timers.process_tick(0, &mut Vec::new()).is_none());
        let interrupts = |when| match timers.register_tick(0, when, waker.clone()) {
            Registered::Pending { interrupt, .. } => Some(interrupt),
            Registered::Elapsed => None,
        };
        assert_eq!(interrupts(50), Some(true));
        assert_eq!(interrupts(60), Some(false));
        assert_eq!(interrupts(40), Some(true));
        assert_eq!(interrupts(0), None);
    }

    #[test]
    fn each_thread_keeps_its_shard() {
        let timers = Timers::with_shards(4);
        let (waker, _) = counting_waker();
        let shard_of =
            |timers: &Timers| match timers.register(Instant::now() + TICK * 10, waker.clone()) {
                Registered::Pending { shard, .. } => timers
                    .shards
                    .iter()
                    .position(|s| Arc::ptr_eq(s, &shard))
                    .unwrap(),
                Registered::Elapsed => panic!("in the future"),
            };
        let here = shard_of(&timers);
        assert_eq!(shard_of(&timers), here);
        let there = std::thread::scope(|s| s.spawn(|| shard_of(&timers)).join().unwrap());
        assert_ne!(there, here, "consecutive threads get different shards");
        assert_eq!(timers.live(), 3);
    }

    #[test]
    fn a_late_turn_fires_every_shard_in_deadline_order() {
        let timers = Timers::with_shards(4);
        let (waker, _) = counting_waker();
        for (shard, when) in [(0, 30), (1, 10), (2, 20), (0, 5), (1, 5000), (2, 25)] {
            assert!(matches!(
                timers.register_tick(shard, when, waker.clone()),
                Registered::Pending { .. }
            ));
        }
        let mut fired = Vec::new();
        assert_eq!(timers.process_tick(6000, &mut fired), None);
        let ticks: Vec<u64> = fired.iter().map(|&(tick, _)| tick).collect();
        assert_eq!(ticks, [5, 10, 20, 25, 30, 5000]);
    }

    /// Random registrations on random shards, cancels and reactor rounds:
    /// the reactor's planned wake-up is never later than a pending timer
    /// unless the registration that made it so asked for an interrupt.
    #[test]
    fn the_reactor_is_always_woken_in_time() {
        let timers = Timers::with_shards(4);
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
                    let shard = (rng() % 4) as usize;
                    match timers.register_tick(shard, when, waker.clone()) {
                        Registered::Pending {
                            shard,
                            key,
                            interrupt,
                        } => {
                            if interrupt {
                                wakes_at = now;
                            }
                            assert!(wakes_at <= when, "the reactor would sleep past {when}");
                            keys.push((shard, key));
                        }
                        Registered::Elapsed => panic!("{when} is in the future"),
                    }
                }
                2 if !keys.is_empty() => {
                    let i = (rng() % keys.len() as u64) as usize;
                    let (shard, key) = keys.swap_remove(i);
                    shard.cancel(key);
                }
                _ => {
                    now = now.max(wakes_at.min(now + rng() % 1_000));
                    wakes_at = timers
                        .process_tick(now, &mut Vec::new())
                        .unwrap_or(u64::MAX);
                    let planned = timers.shards.iter().map(|s| s.state.lock().planned);
                    assert_eq!(planned.min(), Some(wakes_at));
                }
            }
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::test_util::counting_waker;

    /// Registers a timer at `when` in shard `shard`, which must be pending.
    fn pending(
        timers: &Timers,
        shard: usize,
        when: u64,
        waker: &Waker,
    ) -> (Arc<Shard>, TimerKey, bool) {
        match timers.register_tick(shard, when, waker.clone()) {
            Registered::Pending {
                shard,
                key,
                interrupt,
            } => (shard, key, interrupt),
            Registered::Elapsed => panic!("tick {when} is in the future"),
        }
    }

    /// The reactor fires a timer while its `Sleep` is dropped: the entry is
    /// freed exactly once and nothing stays live.
    #[test]
    fn fire_vs_cancel_frees_the_entry_once() {
        loom::model(|| {
            let timers = loom::sync::Arc::new(Timers::with_shards(1));
            let (waker, woken) = counting_waker();
            let (shard, key, _) = pending(&timers, 0, 1, &waker);
            let reactor = {
                let timers = timers.clone();
                loom::thread::spawn(move || {
                    let mut fired = Vec::new();
                    timers.process_tick(1, &mut fired);
                    fired.into_iter().for_each(|(_, waker)| waker.wake());
                })
            };
            shard.cancel(key);
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
            let timers = loom::sync::Arc::new(Timers::with_shards(1));
            let (first, _) = counting_waker();
            let (shard, key, _) = pending(&timers, 0, 1, &first);
            let reactor = {
                let timers = timers.clone();
                loom::thread::spawn(move || {
                    let mut fired = Vec::new();
                    timers.process_tick(1, &mut fired);
                    fired.into_iter().for_each(|(_, waker)| waker.wake());
                })
            };
            let (second, woken) = counting_waker();
            let ready = shard.poll(key, &second).is_ready();
            reactor.join().unwrap();
            assert!(ready || woken.get() == 1, "lost timer wakeup");
        });
    }

    /// The reactor computes its sleep over two shards while a task registers
    /// an earlier deadline in the second: either the reactor's sleep covers
    /// the new timer, or the registration asked for an interrupt. The second
    /// shard starts with a stale `planned` (its timer at 5 was cancelled),
    /// so a registration that misses the turn is only caught if the turn
    /// reset that shard's `planned` under its lock.
    #[test]
    fn a_registration_racing_a_turn_is_never_slept_through() {
        loom::model(|| {
            let timers = loom::sync::Arc::new(Timers::with_shards(2));
            let (waker, _) = counting_waker();
            pending(&timers, 0, 50, &waker);
            let (shard, stale, _) = pending(&timers, 1, 5, &waker);
            shard.cancel(stale);
            let reactor = {
                let timers = timers.clone();
                loom::thread::spawn(move || timers.process_tick(1, &mut Vec::new()))
            };
            let (_, _, interrupt) = pending(&timers, 1, 10, &waker);
            let sleeps_until = reactor.join().unwrap().expect("timers are pending");
            assert!(
                interrupt || sleeps_until <= 10,
                "the reactor sleeps until {sleeps_until} past the timer at 10"
            );
        });
    }
}

//! How long a worker spins before it parks, and when it does not spin at
//! all (step 8 of [`worker`](crate::worker); Go's spinning M). The
//! single-thread scheduler's thread spins by the same policy before it parks
//! (`single::Driver::spin`), where what it saves is the wake-up from another
//! thread: the blocking pool's `concurrent8` went from 47-52 ms to 13-20 ms
//! (tokio 40 ms) once the pool woke it one job at a time.
//!
//! A spin lasts at most [`SPIN`] (20 µs), in rounds of [`SPIN_ROUND`]
//! (3 µs). After each round the worker looks for work (the injector, its
//! pinned tasks, the IO poller); during a round it calls `sched_yield`, so
//! a thread outside the runtime that wants the CPU gets it. A yield that
//! comes back after [`SPIN_PREEMPTED`] (0.5 ms, a scheduler slice) means
//! another thread needed this CPU: the spin stops, and spinning stays off
//! for every worker ([`SpinOff`]) for 10 ms, doubling up to 160 ms while
//! that keeps happening.
//!
//! **Why spin.** A spinning worker still counts as a searcher, so work
//! pushed meanwhile wakes nobody ([`idle`](crate::idle)). Waking a parked
//! worker is what that saves: a futex wake and, on a VM, an
//! inter-processor interrupt that costs the waker ~6 µs. In `tcp_echo`
//! parallel those wake-ups took 11% of all CPU time. With the spin, futex
//! calls per message fell from 0.127 to 0.003 and context switches from
//! 0.065 to 0.004; criterion's time went from 0.91 of tokio's throughput
//! to 1.09, the latency pass from 245-248k to 272k msgs/s (tokio 244-251k)
//! and its p99 from 380 µs to 343 µs (tokio 385 µs).
//!
//! **Why stop when the CPU is wanted.** Spinning is only worth it with a
//! free CPU. In `mixed` (two CPU-bound tasks stuck in 30 ms polls while
//! spare threads run an echo on two cores) spinning took the echo from 86k
//! to 20k round trips/s and its p99 from 5 to 36 µs: a spinner spends its
//! fair share of CPU, so its wake-ups no longer preempt the CPU-bound
//! threads. Turning spinning off when a yield shows a busy CPU brings it
//! back to 80-83k and 5-10 µs. A fixed 100 ms pause cost `tcp_echo` its
//! gain (a stray 0.75 ms preemption every few hundred ms); the 10-160 ms
//! back-off keeps it (1.06 of tokio).
//!
//! **The price** is CPU: up to 20 µs each time a worker runs dry (a task
//! woken by a 1 kHz timer: 105 -> 162 ms of CPU in 2 s), and 3.53 -> 3.91
//! µs of CPU per `tcp_echo` message.
//!
//! **Rejected:** stealing while spinning (`queue/native_4p1c` parallel went
//! from 7.3 to 11.3 ms: the spinner pulled producers away from the
//! consumer, and every queue operation crossed cores; stealing only from
//! queues of 8 or more made `gather` 15% slower); spinning with `pause`
//! instead of `sched_yield` (a foreign thread spawning tasks lost 25-30% of
//! its CPU to the spinner); polling every 1 µs instead of 3 (most of the
//! `tcp_echo` gain lost to `epoll_wait`s on a poller another thread holds).
//!
//! Under loom, which cannot model time, a spin is one round and is never
//! turned off; the worker-loop models then cover the spin-then-park path.

use std::sync::atomic::AtomicU64;
#[cfg(not(loom))]
use std::sync::atomic::Ordering::Relaxed;
#[cfg(not(loom))]
use std::time::{Duration, Instant};

use crate::loom::atomic::{AtomicBool, Ordering::Acquire};

/// The longest a spin lasts.
#[cfg(not(loom))]
const SPIN: Duration = Duration::from_micros(20);
/// A spinning worker looks for work once per round of this length.
#[cfg(not(loom))]
const SPIN_ROUND: Duration = Duration::from_micros(3);
/// A `sched_yield` that returns later than this gave the CPU to another
/// thread: the machine has more runnable threads than CPUs.
#[cfg(not(loom))]
const SPIN_PREEMPTED: Duration = Duration::from_micros(500);
/// How long spinning stays off after that, in milliseconds: the shortest,
/// then doubled each time it happens again within one such period of
/// spinning resuming, up to the longest.
#[cfg(not(loom))]
const SPIN_OFF_MS: (u64, u64) = (10, 160);

/// When spinning is off, shared by a scheduler's workers. Relaxed: it is a
/// heuristic, and a worker that spins or parks on a stale view is correct
/// either way.
#[derive(Debug, Default)]
pub(crate) struct SpinOff {
    /// Until when (a [`clock::now_ms`](crate::clock::now_ms) reading).
    #[cfg_attr(loom, allow(dead_code))]
    until: AtomicU64,
    /// The length of the last pause, in milliseconds.
    #[cfg_attr(loom, allow(dead_code))]
    last_ms: AtomicU64,
}

impl SpinOff {
    /// Turns spinning off after a spinner lost its CPU to another thread:
    /// briefly if it is the first time in a while, longer while it keeps
    /// happening (a CPU-bound thread outside the runtime, or a worker stuck
    /// in a long poll next to the spare that took its slot).
    #[cfg(not(loom))]
    fn turn_off(&self) {
        let now = crate::clock::now_ms();
        let (shortest, longest) = SPIN_OFF_MS;
        let until = self.until.load(Relaxed);
        let last = self.last_ms.load(Relaxed);
        let off = if now < until + last {
            (last * 2).min(longest)
        } else {
            shortest
        };
        self.last_ms.store(off, Relaxed);
        self.until.store(now + off, Relaxed);
    }
}

/// One spin in progress: the time it has run.
pub(crate) struct Spin {
    #[cfg(not(loom))]
    start: Instant,
}

impl Spin {
    /// A spin starting now, or `None` while spinning is off.
    #[cfg(not(loom))]
    pub(crate) fn start(off: &SpinOff) -> Option<Spin> {
        if crate::clock::now_ms() < off.until.load(Relaxed) {
            return None;
        }
        Some(Spin {
            start: Instant::now(),
        })
    }

    /// A spin starting now.
    #[cfg(loom)]
    pub(crate) fn start(_: &SpinOff) -> Option<Spin> {
        Some(Spin {})
    }

    /// Calls `look` until it finds something (returned), with a round
    /// ([`pause_round`](Self::pause_round)) between calls; `None` once the
    /// spin has lasted [`SPIN`] or a round says stop.
    pub(crate) fn until<T>(
        &self,
        off: &SpinOff,
        shutdown: &AtomicBool,
        mut look: impl FnMut() -> Option<T>,
    ) -> Option<T> {
        loop {
            if let Some(found) = look() {
                return Some(found);
            }
            if self.spun_out() || !self.pause_round(off, shutdown) {
                return None;
            }
        }
    }

    /// Waits out one round, yielding the CPU to any other runnable thread.
    /// `false` to stop spinning: `shutdown` is set, or a yield came back
    /// after [`SPIN_PREEMPTED`] (spinning is then turned off in `off`).
    #[cfg(not(loom))]
    pub(crate) fn pause_round(&self, off: &SpinOff, shutdown: &AtomicBool) -> bool {
        let round = Instant::now();
        let mut before = round;
        while before.duration_since(round) < SPIN_ROUND {
            if shutdown.load(Acquire) {
                return false;
            }
            std::thread::yield_now();
            let after = Instant::now();
            if after - before > SPIN_PREEMPTED {
                off.turn_off();
                return false;
            }
            before = after;
        }
        true
    }

    /// One yield to the model; `false` once `shutdown` is set.
    #[cfg(loom)]
    pub(crate) fn pause_round(&self, _: &SpinOff, shutdown: &AtomicBool) -> bool {
        crate::loom::spin_loop();
        !shutdown.load(Acquire)
    }

    /// Whether the spin has lasted [`SPIN`]: time to park.
    #[cfg(not(loom))]
    fn spun_out(&self) -> bool {
        self.start.elapsed() >= SPIN
    }

    /// Under loom a spin is one round.
    #[cfg(loom)]
    fn spun_out(&self) -> bool {
        true
    }
}

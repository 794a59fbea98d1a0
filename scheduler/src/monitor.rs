//! The monitor (Go's sysmon): a thread that notices a worker stuck in one
//! poll, hands its processor to a spare machine so the tasks queued behind
//! it keep running, and reports slow polls.
//!
//! **Sampling.** The monitor reads each slot's claim word ([`claim`]): its
//! tick counts polls, its phase says whether a poll is in progress. The same
//! tick in a poll phase at two samples means the same poll is still running;
//! the monitor remembers when it first saw that tick. The workers pay
//! nothing for this beyond the claim word they keep anyway — no clock read,
//! no lock, no syscall on the poll path.
//!
//! **Sleeping.** Go's sysmon sleeps 20 µs, doubling up to 10 ms while it
//! finds nothing to do. The monitor does the same, and additionally never
//! sleeps past the moment the oldest poll in progress would cross a
//! threshold, so a stuck worker is caught within one wake-up of
//! `handoff_after` instead of up to 10 ms late.
//!
//! **Hand-off.** A poll running longer than `handoff_after` (default 10 ms,
//! Go's time slice), on a thread that was running or blocked rather than
//! waiting for a CPU (on Linux the monitor asks the kernel, see
//! [`os`](crate::os): under CPU oversubscription a preempted worker looks
//! stuck, and a spare thread would only add load), with work waiting behind it — in the slot's own queue
//! or LIFO slot, or in the injector while no other worker is free — loses
//! its processor to a spare machine ([`Shared::hand_off`]). A task that
//! yields, including on an exhausted cooperative budget, ends its poll and
//! advances the tick, so it is never "stuck".
//!
//! **Slow polls** (with `slow_poll_threshold`, asyncio's debug mode): a poll
//! still running past the threshold is reported once from here, naming the
//! task; the worker reports its duration again when it returns.
//!
//! While every worker of a parallel scheduler is parked, the monitor dozes
//! instead, until one wakes ([`Idle::monitor_sleep`](crate::idle::Idle)):
//! an idle runtime then makes no wake-ups at all. Its first check after
//! the doze comes within `MAX_SLEEP`, as before it.
//!
//! Rejected: a per-poll timestamp written by the workers (a clock read per
//! poll, ~20 ns, on every poll of every task); signals to interrupt the
//! stuck thread (a poll cannot be preempted safely in Rust).

use std::thread;
use std::time::{Duration, Instant};

use crate::claim::Sample;
use crate::coop;
use crate::task::{Notified, TaskId, TaskLabel};

/// What the monitor watches: the parallel scheduler's slots, or the
/// single-thread scheduler's one core (which is never handed off).
pub(crate) trait Watched {
    fn is_shutdown(&self) -> bool;
    /// Processors to watch.
    fn processors(&self) -> usize;
    /// The claim word (poll clock) of processor `index`.
    fn sample(&self, index: usize) -> Sample;
    /// The task in processor `index`'s current poll.
    fn polling_task(&self, index: usize) -> TaskId;
    /// Describes a live task for a report.
    fn label(&self, id: TaskId) -> Option<TaskLabel>;
    /// Hands processor `index`, seen stuck in poll `seen`, to a spare
    /// machine if work waits behind it; whether it did.
    fn hand_off(&self, index: usize, seen: Sample) -> bool;
    fn handoff_after(&self) -> Option<Duration>;
    fn slow_poll(&self) -> Option<Duration>;
    /// Publishes the task blocking processor `index` (0: none), for
    /// `all_tasks`' blocked-in-poll state.
    fn set_blocked(&self, index: usize, task: u64);
    /// How the thread holding processor `index` has spent its time (see
    /// `os`): to tell a stuck poll from a preempted thread.
    fn sched_times(&self, index: usize) -> Option<(u64, u64)>;
    /// If every processor's thread is parked, sleeps until one wakes (or
    /// the monitor is unparked for shutdown) and returns `true`; otherwise
    /// returns `false` at once.
    fn sleep_while_idle(&self) -> bool {
        false
    }
}

/// The shortest sleep: Go's sysmon's 20 µs.
const MIN_SLEEP: Duration = Duration::from_micros(20);
/// The longest sleep: Go's 10 ms.
const MAX_SLEEP: Duration = Duration::from_millis(10);

/// What the monitor remembers of one slot's current poll.
#[derive(Clone, Copy)]
struct Watch {
    seen: Sample,
    since: Instant,
    warned: bool,
    /// Published as blocked-in-poll.
    blocked: bool,
    /// The holder's (running, waiting) times when the poll was first seen.
    sched: Option<(u64, u64)>,
}

/// The monitor thread's body; returns at shutdown.
pub(crate) fn run(watched: &dyn Watched) {
    let handoff = watched.handoff_after();
    let slow = watched.slow_poll();
    // A poll this long is reported as blocked-in-poll by `all_tasks`.
    let blocked_after = match (handoff, slow) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let now = Instant::now();
    let mut watches: Vec<Watch> = (0..watched.processors())
        .map(|i| Watch {
            seen: watched.sample(i),
            since: now,
            warned: false,
            blocked: false,
            sched: None,
        })
        .collect();
    let mut sleep = MIN_SLEEP;
    while !watched.is_shutdown() {
        // Quiet for a while and nothing running: doze until a worker wakes
        // instead of checking every `MAX_SLEEP` (see `idle`).
        if sleep < MAX_SLEEP || !watched.sleep_while_idle() {
            thread::park_timeout(sleep);
        }
        let now = Instant::now();
        let mut acted = false;
        let mut next_deadline: Option<Duration> = None;
        for (index, watch) in watches.iter_mut().enumerate() {
            let sample = watched.sample(index);
            if !sample.in_poll() || sample.tick() != watch.seen.tick() || !watch.seen.in_poll() {
                if watch.blocked {
                    watched.set_blocked(index, 0);
                }
                if !sample.in_poll() {
                    *watch = Watch {
                        seen: sample,
                        since: now,
                        warned: false,
                        blocked: false,
                        sched: None,
                    };
                    continue;
                }
                let sched = if handoff.is_some() {
                    watched.sched_times(index)
                } else {
                    None
                };
                *watch = Watch {
                    seen: sample,
                    since: now,
                    warned: false,
                    blocked: false,
                    sched,
                };
            }
            let running = now - watch.since;
            if let Some(limit) = blocked_after
                && running >= limit
                && !watch.blocked
            {
                watch.blocked = true;
                watched.set_blocked(index, watched.polling_task(index).as_u64());
            }
            if let Some(threshold) = slow {
                if running >= threshold && !watch.warned {
                    watch.warned = true;
                    report_stuck(watched, watched.polling_task(index), running, threshold);
                } else if !watch.warned {
                    next_deadline = Some(
                        next_deadline.map_or(threshold - running, |d| d.min(threshold - running)),
                    );
                }
            }
            if let Some(after) = handoff {
                if running >= after {
                    // A thread the OS did not run is preempted, not stuck:
                    // another thread would only add to the overload.
                    let starved = crate::os::starved(watch.sched, watched.sched_times(index));
                    if !starved && watched.hand_off(index, sample) {
                        acted = true;
                    }
                } else {
                    next_deadline =
                        Some(next_deadline.map_or(after - running, |d| d.min(after - running)));
                }
            }
        }
        sleep = if acted {
            MIN_SLEEP
        } else {
            (sleep * 2).min(MAX_SLEEP)
        };
        if let Some(d) = next_deadline {
            sleep = sleep.min(d.max(MIN_SLEEP));
        }
    }
}

/// Runs one task poll with a fresh cooperative budget; with a slow-poll
/// threshold, times it and reports it if it took longer.
#[inline]
pub(crate) fn run_task(task: Notified, slow_poll: Option<Duration>) {
    match slow_poll {
        None => coop::budget(|| task.run()),
        Some(threshold) => run_timed(task, threshold),
    }
}

/// [`run_task`] with slow-poll reporting on: times the poll, records it,
/// and reports it if it took `threshold` or longer.
#[inline(never)]
fn run_timed(task: Notified, threshold: Duration) {
    let label = task.label();
    let recorder = task.poll_recorder();
    let start = Instant::now();
    coop::budget(|| task.run());
    let took = start.elapsed();
    recorder.record(took);
    if took >= threshold {
        tracing::warn!(
            task.id = label.id.as_u64(),
            poll_ms = took.as_secs_f64() * 1e3,
            "slow poll: {label} took {took:?} in one poll (threshold {threshold:?}), blocking its thread"
        );
    }
}

fn report_stuck(watched: &dyn Watched, id: TaskId, running: Duration, threshold: Duration) {
    let what = match watched.label(id) {
        Some(label) => label.to_string(),
        None => format!("task {id}"),
    };
    tracing::warn!(
        task.id = id.as_u64(),
        running_ms = running.as_secs_f64() * 1e3,
        "slow poll: {what} has been in one poll for {running:?} and is still running (threshold {threshold:?}), blocking its thread"
    );
}

//! [`Interval`]: ticks at a fixed period.
//!
//! # Missed ticks: skip
//!
//! When a tick is taken late (the task was busy for longer than a period),
//! the ticks that were missed are skipped, not replayed: the next deadline is
//! the first multiple of the period after now, counted from the start
//! (tokio's `MissedTickBehavior::Skip`). The schedule never drifts (ticks
//! stay on `start + k * period`) and a stalled task never gets a burst of
//! back-to-back ticks. Rejected: *burst* (tokio's default) replays every
//! missed tick at once, which turns one stall into a CPU spike and defeats
//! the point of a rate; *delay* re-bases the schedule on the late tick, which
//! makes the period drift under load.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use super::{Instant, Sleep, deadline_after, sleep_until};
use crate::timer::TICK;

/// The shortest period an interval runs at: the timer resolution. A zero
/// period is raised to this instead of panicking or spinning.
const MIN_PERIOD: Duration = TICK;

/// An interval whose first tick completes immediately and then every
/// `period` (a zero period is raised to the 100 µs timer resolution).
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// An interval whose first tick completes at `start` and then every `period`
/// (a zero period is raised to the 100 µs timer resolution).
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    Interval {
        sleep: sleep_until(start),
        period: period.max(MIN_PERIOD),
    }
}

/// Ticks every period; missed ticks are skipped (see the module docs).
#[derive(Debug)]
pub struct Interval {
    sleep: Sleep,
    period: Duration,
}

impl Interval {
    /// Waits for the next tick and returns the instant it was scheduled for.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick; see [`Interval::tick`].
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        ready!(self.sleep.poll_elapsed(cx));
        let scheduled = self.sleep.deadline();
        let now = Instant::now();
        let behind = now.saturating_duration_since(scheduled).as_nanos();
        let periods = behind / self.period.as_nanos() + 1;
        let next = u64::try_from(periods * self.period.as_nanos())
            .ok()
            .and_then(|nanos| scheduled.checked_add(Duration::from_nanos(nanos)))
            .unwrap_or_else(|| deadline_after(Duration::MAX));
        self.sleep.reset(next);
        Poll::Ready(scheduled)
    }

    /// The period between ticks.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Restarts the schedule: the next tick is one period from now.
    pub fn reset(&mut self) {
        self.sleep.reset(deadline_after(self.period));
    }
}

/// An interval is an endless stream of tick instants.
impl futures_core::Stream for Interval {
    type Item = Instant;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Instant>> {
        self.get_mut().poll_tick(cx).map(Some)
    }
}

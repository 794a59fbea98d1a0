//! The backstop's doze: how the reactor's backstop thread sleeps while a
//! runtime thread blocks in the poller, and how the end of that thread's
//! turn wakes it.
//!
//! # Why
//!
//! The backstop (see `driver`) checks every 10 ms whether anybody turns the
//! poller. While a runtime thread blocks in `epoll_wait` that check is
//! pointless: the blocked thread gets every event and timer itself. On an
//! idle runtime it was the only thing awake: 100 wake-ups a second, 300
//! context switches in 3 s of `block_on(sleep(3 s))` in single-thread mode
//! (tokio's idle runtime: almost none). So once a thread has held the
//! poller for `BACKSTOP_SLEEP_AFTER` without a turn ending, the backstop
//! sleeps until a turn ends.
//!
//! # Mechanism
//!
//! One word: the number of turns that have ended, shifted left by one, and
//! in the low bit `ASLEEP`. The backstop reads the count *before* it looks
//! at the poller (`seen`); to doze it sets `ASLEEP` with a `fetch_or` and
//! parks only if the count that `fetch_or` returned is still `seen`. A turn,
//! once it ends, adds one to the count with a `fetch_add` and unparks the
//! backstop if the value it replaced had `ASLEEP` set. Read-modify-writes of
//! one word are totally ordered, so either the backstop's `fetch_or` comes
//! first (the turn sees `ASLEEP` and unparks; an unpark before the park
//! makes the park return at once) or the turn's `fetch_add` does (the
//! backstop sees the new count and does not park). A turn that ends while
//! the backstop decides to doze is never slept through; the loom model
//! below checks it. Two words (a count and a flag) would need `SeqCst`
//! fences for the same argument, which is also what loom models poorly.
//!
//! The price on the hot path is one uncontended `fetch_add` per turn, next
//! to the `epoll_wait` every turn makes; the wake-up it may cost
//! comes after at least `BACKSTOP_SLEEP_AFTER` of idleness.
//!
//! # Rejected
//!
//! The backstop blocking on the poller's lock until the dozing thread lets
//! go: no new words, but a waker that drops the runtime from inside that
//! thread's turn would then wait for the backstop to be joined while the
//! backstop waits for the lock it holds. A parked backstop is woken by
//! shutdown's unpark whatever the lock's state.

use std::sync::OnceLock;

use crate::loom::atomic::{AtomicU64, Ordering::SeqCst};
use crate::loom::thread::{self, Thread};

/// The low bit of [`Doze::word`]: the backstop is parked or about to park.
const ASLEEP: u64 = 1;
/// One ended turn in [`Doze::word`].
const TURN: u64 = 2;

/// The backstop's doze; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct Doze {
    /// Turns that have ended, times [`TURN`], plus [`ASLEEP`].
    word: AtomicU64,
    /// The backstop thread, registered by the backstop itself before it
    /// first dozes.
    backstop: OnceLock<Thread>,
}

impl Doze {
    /// The number of turns that have ended: the backstop's snapshot, taken
    /// before it looks at the poller.
    pub(crate) fn turns(&self) -> u64 {
        self.word.load(SeqCst) / TURN
    }

    /// Backstop side: parks until a turn ends after the snapshot `seen`
    /// (or the thread is unparked for another reason, such as shutdown, or
    /// wakes spuriously: callers re-check their loop condition).
    pub(crate) fn sleep(&self, seen: u64) {
        self.backstop.get_or_init(thread::current);
        if self.word.fetch_or(ASLEEP, SeqCst) / TURN == seen {
            thread::park();
        }
        self.word.fetch_and(!ASLEEP, SeqCst);
    }

    /// Whether the backstop is dozing (tests only).
    #[cfg(test)]
    pub(crate) fn is_asleep(&self) -> bool {
        self.word.load(SeqCst) & ASLEEP != 0
    }

    /// Driver side, at the end of every turn: counts it and wakes a dozing
    /// backstop.
    pub(crate) fn turn_ended(&self) {
        if self.word.fetch_add(TURN, SeqCst) & ASLEEP != 0
            && let Some(backstop) = self.backstop.get()
        {
            backstop.unpark();
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::sync::Arc;

    /// A turn ending while the backstop decides to doze wakes it, whichever
    /// way the two interleave; a lost wake-up shows as a deadlock.
    #[test]
    fn a_turn_ending_while_the_backstop_dozes_off_wakes_it() {
        loom::model(|| {
            let doze = Arc::new(Doze::default());
            let seen = doze.turns();
            let driver = {
                let doze = doze.clone();
                thread::spawn(move || doze.turn_ended())
            };
            doze.sleep(seen);
            driver.join().unwrap();
        });
    }
}

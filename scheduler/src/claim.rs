//! Who may touch a processor: the claim word, which is also the poll clock
//! the monitor reads.
//!
//! A processor (P) is held by one machine (M) at a time. Go's sysmon takes
//! the P away from an M that is stuck in a syscall and gives it to another M;
//! spindle's monitor does the same for a worker stuck in one long poll. That
//! needs a protocol by which a P can change hands *while its old M is still
//! running user code* that may, at any moment, want to push a task onto that
//! P (a wake or spawn from inside the poll).
//!
//! One atomic word per P does it:
//!
//! ```text
//!   word = tick << 2 | phase        tick: polls started on this P (Go's schedtick)
//!
//!   HELD      the M holds the P between polls (finding work, parking): only it touches the P
//!   POLLING   the M is inside poll number `tick`; the P is at rest and may be retaken
//!   BORROWED  the M, inside poll `tick`, is pushing a task onto the P
//!   HANDED    the monitor retook the P during poll `tick`; a spare M may take it
//!
//!   M:        HELD ──begin_poll(t)──► POLLING(t) ──end_poll(t)──► HELD      (store, then CAS)
//!   M in poll:        POLLING(t) ──borrow(t)──► BORROWED(t) ──release(t)──► POLLING(t)
//!   monitor:          POLLING(t) ──retake──► HANDED(t)
//!   spare M:          HANDED(t) ──take_handed──► HELD(t)
//! ```
//!
//! The old M learns it lost the P when its `end_poll` or `borrow` CAS fails;
//! from then on it pushes what it schedules to the injector. Ticks only grow,
//! so the old M's expected `POLLING(t)` can never match a word written after
//! the hand-off (no ABA). The monitor can only retake a P that is at rest
//! (`POLLING`): never mid-push, never between polls.
//!
//! Cost on the hot path: one plain store and one uncontended CAS per poll,
//! one CAS and one store per push made from inside a poll. The same word
//! replaces a separate poll counter.
//!
//! `loom_models::handoff_races_poll_return` explores the race of a poll
//! returning (and pushing) at the moment the monitor retakes its P.

use crate::loom::atomic::{AtomicU64, Ordering::*};

const PHASE_BITS: u32 = 2;
const PHASE_MASK: u64 = (1 << PHASE_BITS) - 1;
const HELD: u64 = 0;
const POLLING: u64 = 1;
const BORROWED: u64 = 2;
const HANDED: u64 = 3;

fn word(tick: u64, phase: u64) -> u64 {
    (tick << PHASE_BITS) | phase
}

/// A sample of the claim word, for the monitor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sample(u64);

impl Sample {
    /// Polls started on the processor.
    pub(crate) fn tick(self) -> u64 {
        self.0 >> PHASE_BITS
    }

    /// Inside a poll (at rest or pushing).
    pub(crate) fn in_poll(self) -> bool {
        matches!(self.0 & PHASE_MASK, POLLING | BORROWED)
    }
}

/// The claim word of one processor.
#[derive(Debug)]
pub(crate) struct Claim(AtomicU64);

impl Claim {
    /// Held, before the first poll.
    pub(crate) fn new() -> Claim {
        Claim(AtomicU64::new(word(0, HELD)))
    }

    pub(crate) fn sample(&self) -> Sample {
        Sample(self.0.load(Acquire))
    }

    /// The holder starts poll `tick` (one more than the last).
    pub(crate) fn begin_poll(&self, tick: u64) {
        self.0.store(word(tick, POLLING), Release);
    }

    /// The poll ended: take the P back. `false` if the monitor retook it.
    pub(crate) fn end_poll(&self, tick: u64) -> bool {
        self.0
            .compare_exchange(word(tick, POLLING), word(tick, HELD), Acquire, Relaxed)
            .is_ok()
    }

    /// The poll ended, on a processor that is never handed off
    /// (single-thread mode): a plain store instead of `end_poll`'s CAS.
    pub(crate) fn end_poll_unshared(&self, tick: u64) {
        self.0.store(word(tick, HELD), Release);
    }

    /// Inside poll `tick`: lock the P to push onto it. `false` if it was
    /// retaken (push elsewhere).
    pub(crate) fn borrow(&self, tick: u64) -> bool {
        self.0
            .compare_exchange(word(tick, POLLING), word(tick, BORROWED), Acquire, Relaxed)
            .is_ok()
    }

    /// Ends a [`borrow`](Self::borrow).
    pub(crate) fn release(&self, tick: u64) {
        self.0.store(word(tick, POLLING), Release);
    }

    /// The monitor takes the P from a poll it saw as `seen`, if that poll is
    /// still running and the P at rest.
    pub(crate) fn retake(&self, seen: Sample) -> bool {
        let tick = seen.tick();
        self.0
            .compare_exchange(word(tick, POLLING), word(tick, HANDED), AcqRel, Relaxed)
            .is_ok()
    }

    /// A spare M takes a P the monitor handed over; returns the tick to
    /// continue from.
    pub(crate) fn take_handed(&self) -> Option<u64> {
        let cur = self.0.load(Acquire);
        if cur & PHASE_MASK != HANDED {
            return None;
        }
        let tick = cur >> PHASE_BITS;
        self.0
            .compare_exchange(cur, word(tick, HELD), Acquire, Relaxed)
            .ok()
            .map(|_| tick)
    }
}

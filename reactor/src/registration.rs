//! Per-resource readiness: the state one registered socket shares between
//! the reactor thread (which learns of readiness from `epoll`) and the tasks
//! that read or write it.
//!
//! # Mechanism
//!
//! Each registration owns a [`ScheduledIo`]: one atomic *readiness word* and
//! a small mutex-protected list of waiting wakers per direction.
//!
//! The readiness word packs, from the low bits up:
//!
//! | bits   | meaning                                                        |
//! |--------|----------------------------------------------------------------|
//! | 0..4   | `READABLE`, `WRITABLE`, `READ_CLOSED`, `WRITE_CLOSED`          |
//! | 4      | `SHUTDOWN`: the reactor is gone, every operation fails         |
//! | 16..32 | the *tick*: how many events the reactor has delivered, mod 2^16 |
//!
//! Registration is edge-triggered, so the kernel reports a transition once
//! and the readiness bit stays set until a task sees `WouldBlock`. A task
//! then clears the bit *only if the tick has not moved* since it read the
//! word (a compare-and-swap): if an event arrived between the failed syscall
//! and the clear, the clear is skipped and the next attempt sees the new
//! readiness. Without the tick, that interleaving loses the only edge the
//! kernel will ever send, and the task sleeps forever.
//!
//! # The no-lost-wakeup protocol
//!
//! Task side ([`ScheduledIo::poll_ready`]): load the word; if the direction
//! is ready, return. Otherwise lock the waiters, push the waker, and load
//! the word *again under the lock*; if it became ready, return ready.
//!
//! Reactor side ([`ScheduledIo::set_readiness`]): update the word first,
//! then lock the waiters and take the wakers of the directions now ready.
//!
//! Either the reactor's lock comes after the task's unlock (it finds the
//! waker and wakes it) or before the task's lock (then the update, which
//! precedes the reactor's lock, is visible to the task's second load). The
//! model in this module's loom tests checks exactly this.
//!
//! # Rejected alternatives
//!
//! * *A single `AtomicWaker` per direction* (tokio's older design): cheaper,
//!   but `accept(&self)` and `recv(&self)` may be awaited by several tasks at
//!   once and a single slot silently drops all but the last waker.
//! * *A lock-only design* (readiness inside the mutex): every successful
//!   read would take the lock; the atomic fast path keeps the hot path
//!   (data already there) lock-free.
//! * *Intrusive waiter lists*: no allocation, but they make the futures
//!   `!Unpin`, and the contract wants `Unpin` streams.
//!
//! Waiters are woken all at once when their direction becomes ready; a
//! dropped future may leave its waker behind, which only costs one spurious
//! wake. A task re-registering replaces its own entry (`Waker::will_wake`),
//! so the list holds at most one waker per waiting task, as long as the
//! task's waker is stable across polls (it is for spindle's tasks and the
//! usual combinators). Known limitation: a future that is polled with a
//! *fresh* waker each time (a combinator that wraps the waker anew on every
//! poll) adds one entry per poll until the next event in that direction
//! empties the list.

use std::io;
use std::task::{Context, Poll, Waker};

use crate::loom::Mutex;
use crate::loom::atomic::{AtomicUsize, Ordering};

/// The resource can be read (or accepted from).
pub(crate) const READABLE: usize = 1 << 0;
/// The resource can be written (or a connect finished).
pub(crate) const WRITABLE: usize = 1 << 1;
/// The peer closed its write side: reads return EOF from now on.
pub(crate) const READ_CLOSED: usize = 1 << 2;
/// The write side is closed: writes fail from now on.
pub(crate) const WRITE_CLOSED: usize = 1 << 3;
/// The reactor shut down; every operation fails.
const SHUTDOWN: usize = 1 << 4;
/// Readiness bits a task may clear after `WouldBlock`; the closed bits are
/// final, so they are never cleared.
const CLEARABLE: usize = READABLE | WRITABLE;
/// Where the event tick starts in the word.
const TICK_SHIFT: u32 = 16;
/// The tick is 16 bits wide: 65 536 events between a task's load and its
/// clear would be needed to confuse it, far beyond one syscall's duration.
const TICK_MASK: usize = 0xffff << TICK_SHIFT;

/// A direction a task waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Reading, receiving, accepting.
    Read,
    /// Writing, sending, connecting.
    Write,
}

impl Direction {
    /// The readiness bits that let an operation in this direction proceed.
    fn mask(self) -> usize {
        match self {
            Direction::Read => READABLE | READ_CLOSED,
            Direction::Write => WRITABLE | WRITE_CLOSED,
        }
    }
}

/// What [`ScheduledIo::poll_ready`] saw: the ready bits and the tick they
/// were read at, to hand back to [`ScheduledIo::clear_readiness`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadyEvent {
    tick: usize,
    ready: usize,
}

/// The waiting wakers of one registration, one list per direction.
#[derive(Debug, Default)]
struct Waiters {
    reader: Vec<Waker>,
    writer: Vec<Waker>,
}

/// The readiness state one registered resource shares with the reactor.
#[derive(Debug)]
pub(crate) struct ScheduledIo {
    readiness: AtomicUsize,
    waiters: Mutex<Waiters>,
}

/// The error every operation on a resource returns after its reactor shut down.
pub(crate) fn shutdown_error() -> io::Error {
    io::Error::other("spindle runtime has shut down")
}

impl ScheduledIo {
    /// A registration with no readiness yet.
    pub(crate) fn new() -> Self {
        ScheduledIo {
            readiness: AtomicUsize::new(0),
            waiters: Mutex::new(Waiters::default()),
        }
    }

    /// Reactor side: records `ready` (a set of the bit constants above) as a
    /// new event and collects the wakers it satisfies into `wake`; the caller
    /// wakes them once it holds no lock.
    pub(crate) fn set_readiness(&self, ready: usize, wake: &mut Vec<Waker>) {
        // `fetch_update` with a closure that always returns `Some` cannot fail.
        let _ = self
            .readiness
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                let tick = (cur + (1 << TICK_SHIFT)) & TICK_MASK;
                Some(tick | (cur & !TICK_MASK) | ready)
            });
        let mut waiters = self.waiters.lock();
        if ready & Direction::Read.mask() != 0 {
            wake.append(&mut waiters.reader);
        }
        if ready & Direction::Write.mask() != 0 {
            wake.append(&mut waiters.writer);
        }
    }

    /// Marks the registration dead and collects every waiter into `wake`.
    pub(crate) fn shutdown(&self, wake: &mut Vec<Waker>) {
        self.readiness.fetch_or(SHUTDOWN, Ordering::AcqRel);
        let mut waiters = self.waiters.lock();
        wake.append(&mut waiters.reader);
        wake.append(&mut waiters.writer);
    }

    /// Task side: is `dir` ready? If not, registers the task's waker so the
    /// next event in that direction wakes it. Errors once the reactor shut
    /// down.
    pub(crate) fn poll_ready(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
    ) -> Poll<io::Result<ReadyEvent>> {
        if let Some(ready) = Self::check(self.readiness.load(Ordering::Acquire), dir) {
            return Poll::Ready(ready);
        }
        let mut waiters = self.waiters.lock();
        let list = match dir {
            Direction::Read => &mut waiters.reader,
            Direction::Write => &mut waiters.writer,
        };
        match list.iter_mut().find(|w| w.will_wake(cx.waker())) {
            Some(existing) => existing.clone_from(cx.waker()),
            None => list.push(cx.waker().clone()),
        }
        // The second load, under the lock, is what closes the race with
        // `set_readiness` (see the module docs).
        match Self::check(self.readiness.load(Ordering::Acquire), dir) {
            Some(ready) => Poll::Ready(ready),
            None => Poll::Pending,
        }
    }

    /// Whether `dir` is ready now (tests only).
    #[cfg(test)]
    pub(crate) fn is_ready(&self, dir: Direction) -> bool {
        matches!(
            Self::check(self.readiness.load(Ordering::Acquire), dir),
            Some(Ok(_))
        )
    }

    /// The outcome of a readiness word for `dir`: `None` means "wait".
    fn check(cur: usize, dir: Direction) -> Option<io::Result<ReadyEvent>> {
        if cur & SHUTDOWN != 0 {
            return Some(Err(shutdown_error()));
        }
        let ready = cur & dir.mask();
        (ready != 0).then_some(Ok(ReadyEvent {
            tick: cur & TICK_MASK,
            ready,
        }))
    }

    /// Task side, after the operation returned `WouldBlock` (or otherwise
    /// showed the resource drained): clears the bits of `event` unless a newer
    /// event arrived since it was read.
    pub(crate) fn clear_readiness(&self, event: ReadyEvent) {
        // A `None` from the closure (tick moved) is the "newer event" case:
        // nothing to clear, so the result is ignored on purpose.
        let _ = self
            .readiness
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                (cur & TICK_MASK == event.tick).then_some(cur & !(event.ready & CLEARABLE))
            });
    }
}

impl ScheduledIo {
    /// Clears whatever readiness `dir` has now (the caller learned from the
    /// resource itself that it is not actually ready).
    pub(crate) fn clear_direction(&self, dir: Direction) {
        if let Some(Ok(event)) = Self::check(self.readiness.load(Ordering::Acquire), dir) {
            self.clear_readiness(event);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::test_util::counting_waker;

    #[test]
    fn clear_is_skipped_when_a_newer_event_arrived() {
        let io = ScheduledIo::new();
        let (waker, _) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut wake = Vec::new();
        io.set_readiness(READABLE, &mut wake);
        let Poll::Ready(Ok(seen)) = io.poll_ready(&mut cx, Direction::Read) else {
            panic!("readable after the event");
        };
        io.set_readiness(READABLE, &mut wake);
        io.clear_readiness(seen);
        assert!(io.poll_ready(&mut cx, Direction::Read).is_ready());
    }

    #[test]
    fn readiness_wakes_only_its_direction() {
        let io = ScheduledIo::new();
        let (reader, reads) = counting_waker();
        let (writer, writes) = counting_waker();
        assert!(
            io.poll_ready(&mut Context::from_waker(&reader), Direction::Read)
                .is_pending()
        );
        assert!(
            io.poll_ready(&mut Context::from_waker(&writer), Direction::Write)
                .is_pending()
        );
        let mut wake = Vec::new();
        io.set_readiness(WRITABLE, &mut wake);
        wake.drain(..).for_each(Waker::wake);
        assert_eq!((reads.get(), writes.get()), (0, 1));
        io.set_readiness(READ_CLOSED, &mut wake);
        wake.drain(..).for_each(Waker::wake);
        assert_eq!((reads.get(), writes.get()), (1, 1));
    }

    #[test]
    fn shutdown_fails_waiters_and_later_polls() {
        let io = ScheduledIo::new();
        let (waker, woken) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(io.poll_ready(&mut cx, Direction::Read).is_pending());
        let mut wake = Vec::new();
        io.shutdown(&mut wake);
        wake.drain(..).for_each(Waker::wake);
        assert_eq!(woken.get(), 1);
        match io.poll_ready(&mut cx, Direction::Write) {
            Poll::Ready(Err(e)) => assert!(e.to_string().contains("shut down")),
            other => panic!("expected the shutdown error, got {other:?}"),
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::test_util::counting_waker;
    use loom::sync::Arc;

    /// The reactor sets readiness while a task checks, registers and
    /// re-checks: the task either sees the readiness or gets woken.
    #[test]
    fn readiness_vs_waker_registration_loses_no_wakeup() {
        loom::model(|| {
            let io = Arc::new(ScheduledIo::new());
            let reactor = {
                let io = io.clone();
                loom::thread::spawn(move || {
                    let mut wake = Vec::new();
                    io.set_readiness(READABLE, &mut wake);
                    wake.into_iter().for_each(Waker::wake);
                })
            };
            let (waker, woken) = counting_waker();
            let saw_ready = io
                .poll_ready(&mut Context::from_waker(&waker), Direction::Read)
                .is_ready();
            reactor.join().unwrap();
            assert!(saw_ready || woken.get() == 1, "lost IO wakeup");
        });
    }

    /// The whole "try, clear on `WouldBlock`, wait" loop of `poll_evented`
    /// against a socket modelled as a flag: the kernel makes data available
    /// and the reactor then reports the edge, while the task, holding a stale
    /// readiness from an earlier event, tries, fails, clears and waits. The
    /// task must get the data or be woken for it.
    #[test]
    fn edge_triggered_read_loop_loses_no_data() {
        loom::model(|| {
            let io = Arc::new(ScheduledIo::new());
            // The socket's receive buffer, behind a lock as in the kernel.
            // (An atomic flag with a plain `store` against the task's `swap`
            // trips loom's known RMW-vs-store bug, tokio-rs/loom#254.)
            let data = Arc::new(Mutex::new(false));
            // A stale edge: readiness set, no data (e.g. already consumed).
            io.set_readiness(READABLE, &mut Vec::new());
            let reactor = {
                let (io, data) = (io.clone(), data.clone());
                loom::thread::spawn(move || {
                    *data.lock() = true;
                    let mut wake = Vec::new();
                    io.set_readiness(READABLE, &mut wake);
                    wake.into_iter().for_each(Waker::wake);
                })
            };
            let (waker, woken) = counting_waker();
            let mut cx = Context::from_waker(&waker);
            let got = loop {
                match io.poll_ready(&mut cx, Direction::Read) {
                    Poll::Pending => break false,
                    Poll::Ready(Err(e)) => panic!("{e}"),
                    Poll::Ready(Ok(event)) => {
                        if std::mem::take(&mut *data.lock()) {
                            break true;
                        }
                        io.clear_readiness(event); // "WouldBlock"
                    }
                }
            };
            reactor.join().unwrap();
            assert!(got || woken.get() == 1, "data arrived but the task sleeps");
        });
    }

    /// The reactor shuts down while a task registers: the task sees the
    /// shutdown error or is woken to see it.
    #[test]
    fn shutdown_vs_waker_registration_loses_no_wakeup() {
        loom::model(|| {
            let io = Arc::new(ScheduledIo::new());
            let reactor = {
                let io = io.clone();
                loom::thread::spawn(move || {
                    let mut wake = Vec::new();
                    io.shutdown(&mut wake);
                    wake.into_iter().for_each(Waker::wake);
                })
            };
            let (waker, woken) = counting_waker();
            let polled = io.poll_ready(&mut Context::from_waker(&waker), Direction::Write);
            reactor.join().unwrap();
            let failed = matches!(polled, Poll::Ready(Err(_)));
            assert!(failed || woken.get() == 1, "lost shutdown wakeup");
        });
    }

    /// A task clears readiness after `WouldBlock` while a new event arrives:
    /// the new event survives the clear or wakes the task.
    #[test]
    fn clear_racing_a_new_event_keeps_the_event() {
        loom::model(|| {
            let io = Arc::new(ScheduledIo::new());
            let mut wake = Vec::new();
            io.set_readiness(READABLE, &mut wake);
            let (waker, woken) = counting_waker();
            let mut cx = Context::from_waker(&waker);
            let Poll::Ready(Ok(seen)) = io.poll_ready(&mut cx, Direction::Read) else {
                panic!("readable after the event");
            };
            let reactor = {
                let io = io.clone();
                loom::thread::spawn(move || {
                    let mut wake = Vec::new();
                    io.set_readiness(READABLE, &mut wake);
                    wake.into_iter().for_each(Waker::wake);
                })
            };
            io.clear_readiness(seen);
            let ready = io.poll_ready(&mut cx, Direction::Read).is_ready();
            reactor.join().unwrap();
            assert!(ready || woken.get() == 1, "lost IO event across a clear");
        });
    }
}

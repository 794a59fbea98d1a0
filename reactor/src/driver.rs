//! The reactor: one `mio::Poll` per runtime, the thread that drives it, and
//! the handle through which IO resources and timers reach it.
//!
//! # Mechanism
//!
//! The poller sits behind a lock, and whoever holds the lock *drives* it:
//! one *turn* is
//!
//! 1. advance the timer wheel to now, collecting the wakers of due timers,
//!    and derive the sleep from the next deadline (on Linux a `timerfd`
//!    armed for it, elsewhere the `epoll` timeout; see `timer`);
//! 2. wake those wakers;
//! 3. block in `Poll::poll` until an IO event, the timer deadline, or the
//!    reactor's own `mio::Waker` (rung by [`ReactorHandle::interrupt`]: when
//!    a new timer becomes the earliest deadline, to wake a parked thread,
//!    and on shutdown);
//! 4. for each event, look the token up in the registration table
//!    ([`IoSlab`]), set the resource's readiness and collect the wakers it
//!    satisfies; wake them once the table lock is released.
//!
//! **Who drives.** A thread of the runtime with nothing to run drives the
//! poller instead of sleeping on a condition variable
//! ([`ReactorHandle::try_drive`], Go's netpoller in `findrunnable`): the
//! event and the task it wakes are handled on the same thread, with no
//! cross-thread wake-up per event. Waking such a thread is
//! [`ReactorHandle::interrupt`]. [`Reactor::start`] also spawns
//! `<name>-reactor`, the *backstop*: while every runtime thread is busy
//! nobody drives, so once nobody has turned the poller for [`BACKSTOP`] it
//! takes a non-blocking turn if the poller is free. The backstop never
//! blocks in `epoll_wait` holding the lock, which would shut the idle
//! threads out. While runtime threads keep turning the poller themselves
//! (idle ones in `try_drive`, spinning ones in
//! [`poll_now`](ReactorHandle::poll_now), busy ones every few dozen tasks
//! in [`try_poll`](ReactorHandle::try_poll)), the
//! backstop's checks back off from [`BACKSTOP`] to [`BACKSTOP_MAX`] (Go's
//! sysmon backs off the same way): each check wakes a thread that, on a
//! machine with every core busy, preempts a worker. In the `tcp_echo`
//! latency pass a 1 ms check preempted a spindle worker ~640 times a pass
//! (tokio's workers: none), about 80% of their preemptions. And once a
//! thread has blocked in `epoll_wait` for [`BACKSTOP_SLEEP_AFTER`], the
//! backstop dozes until that turn ends ([`Doze`]): an idle runtime is then
//! fully asleep.
//!
//! The reactor only ever calls `Waker::wake`: it knows nothing of tasks or
//! workers, so a waker whose task runs on one thread or on many behaves the
//! same.
//!
//! # Shutdown
//!
//! [`Reactor::shutdown`] (also run by `Drop`) sets the shutdown flag, rings
//! the `mio::Waker`, joins the thread, then sweeps: the registration table
//! refuses new entries and marks every resource shut down (so every pending
//! and later operation returns an error), and the timer wheel fires every
//! timer (later `Sleep`s complete at once: with no clock left to drive them,
//! completing is the only answer that neither hangs nor panics). The sweep
//! runs after the join so that no event delivery can race with it, and it
//! runs on the caller's thread so `shutdown` returning means every waiter has
//! been woken. The `mio::Registry` outlives the thread (it is a clone), so
//! resources dropped after shutdown still deregister cleanly.
//!
//! # Rejected alternatives
//!
//! * Only the reactor thread drives the poller (this crate's first design):
//!   every event then costs a cross-thread wake-up (a futex wake and a
//!   context switch) before its task runs. `benches/benches/tcp_echo.rs`
//!   (16 connections × 100 ping-pongs of 64 B) took 9.7 ms on spindle/single
//!   against 5.5 ms on tokio/current_thread, and 11.3 ms against 6.9 ms in
//!   parallel mode, which is what DESIGN.md said would decide it.
//! * The backstop blocking in `epoll_wait` and being kicked out when a
//!   runtime thread wants the poller: one more wake-up on every idle
//!   transition, the cost the change removes.
//! * A `Weak` handle in resources: lets a resource notice the runtime is gone
//!   without a flag, but costs an upgrade on every operation.

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::Waker;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use mio::event::Source;
use mio::{Events, Interest, Poll, Token};

use crate::doze::Doze;
use crate::registration::{READ_CLOSED, READABLE, ScheduledIo, WRITABLE, WRITE_CLOSED};
#[cfg(target_os = "linux")]
use crate::slab::TIMER_TOKEN;
use crate::slab::{IoSlab, WAKER_TOKEN};
use crate::timer::{NextTimer, Timers};

/// Events read per `epoll_wait`: enough to drain a busy server in few calls,
/// small enough (12 KiB of `epoll_event`s) to stay in cache.
const EVENTS_CAPACITY: usize = 1024;

/// How often the backstop takes a turn while the poller is free (every
/// runtime thread busy): the longest an IO event or a timer waits then.
/// 1 ms matches tokio's timer resolution; it costs ~1 000 non-blocking
/// `epoll_wait`s a second, and only while every thread is busy.
pub const BACKSTOP: Duration = Duration::from_millis(1);
/// A busy thread's non-blocking turn ([`ReactorHandle::try_poll`]) is
/// skipped if the poller was turned less than this long ago.
pub const BUSY_POLL_GAP: Duration = Duration::from_micros(25);
/// The backstop's sleep while some thread drives the poller.
const BACKSTOP_IDLE: Duration = Duration::from_millis(10);
/// The longest gap between the backstop's checks while runtime threads keep
/// turning the poller (see the module docs): Go's sysmon polls the network
/// if nobody has for 10 ms.
const BACKSTOP_MAX: Duration = Duration::from_millis(10);
/// A thread that has held the poller this long without a turn ending is
/// blocked in `epoll_wait`, so the runtime is idle: the backstop then dozes
/// until a turn ends instead of checking every [`BACKSTOP_IDLE`] ([`Doze`]).
const BACKSTOP_SLEEP_AFTER: Duration = Duration::from_millis(20);

/// The poller and what one turn needs, owned by whoever drives.
struct Driver {
    poll: Poll,
    events: Events,
    timer_sleep: TimerSleep,
}

/// The state shared by the reactor thread and every handle.
pub(crate) struct Inner {
    registry: mio::Registry,
    waker: mio::Waker,
    driver: parking_lot::Mutex<Driver>,
    /// When a turn last ended, in ns since `epoch`: the backstop only steps
    /// in when nobody has driven the poller for a whole [`BACKSTOP`].
    last_turn: std::sync::atomic::AtomicU64,
    epoch: Instant,
    ios: parking_lot::Mutex<IoSlab>,
    /// How many resources `ios` holds, readable without its lock: while it
    /// is 0 no resource can become ready, and
    /// [`ReactorHandle::poll_for_work`] skips its turn.
    registered: std::sync::atomic::AtomicUsize,
    pub(crate) timers: Timers,
    shut_down: AtomicBool,
    /// Where the backstop sleeps while a thread blocks in the poller.
    doze: Doze,
}

/// Owns a runtime's reactor thread: the `mio::Poll` and the timer wheel.
///
/// Dropping it shuts the reactor down and joins the thread.
///
/// ```no_run
/// let reactor = spindle_reactor::Reactor::start("doc").unwrap();
/// let _guard = reactor.handle().enter();
/// assert!(spindle_reactor::ReactorHandle::try_current().is_some());
/// ```
pub struct Reactor {
    handle: ReactorHandle,
    thread: parking_lot::Mutex<Option<JoinHandle<()>>>,
}

/// A cheap, clonable, `Send + Sync` reference to a running reactor.
///
/// Resources and timers created while a handle is [entered](Self::enter)
/// on the current thread register with that reactor.
#[derive(Clone)]
pub struct ReactorHandle {
    pub(crate) inner: Arc<Inner>,
}

thread_local! {
    /// The reactor entered on this thread, if any.
    static CURRENT: RefCell<Option<ReactorHandle>> = const { RefCell::new(None) };
}

/// Restores the previously entered reactor when dropped. Returned by
/// [`ReactorHandle::enter`]; not `Send`, because it restores a thread-local.
#[must_use = "the reactor is only current while the guard lives"]
pub struct EnterGuard {
    previous: Option<ReactorHandle>,
    _not_send: PhantomData<*const ()>,
}

impl Reactor {
    /// Creates the poller and starts the thread `"{thread_name}-reactor"`
    /// that drives it and fires timers.
    pub fn start(thread_name: &str) -> io::Result<Reactor> {
        let poll = Poll::new()?;
        let timer_sleep = TimerSleep::new(poll.registry())?;
        let inner = Arc::new(Inner {
            registry: poll.registry().try_clone()?,
            waker: mio::Waker::new(poll.registry(), WAKER_TOKEN)?,
            driver: parking_lot::Mutex::new(Driver {
                poll,
                events: Events::with_capacity(EVENTS_CAPACITY),
                timer_sleep,
            }),
            ios: parking_lot::Mutex::new(IoSlab::default()),
            registered: std::sync::atomic::AtomicUsize::new(0),
            timers: Timers::new(),
            shut_down: AtomicBool::new(false),
            last_turn: std::sync::atomic::AtomicU64::new(0),
            epoch: Instant::now(),
            doze: Doze::default(),
        });
        let thread = {
            let inner = inner.clone();
            std::thread::Builder::new()
                .name(format!("{thread_name}-reactor"))
                .spawn(move || backstop(&inner))?
        };
        Ok(Reactor {
            handle: ReactorHandle { inner },
            thread: parking_lot::Mutex::new(Some(thread)),
        })
    }

    /// A handle to this reactor.
    pub fn handle(&self) -> ReactorHandle {
        self.handle.clone()
    }

    /// Stops the reactor thread and wakes every registered waker and timer.
    ///
    /// Idempotent. Afterwards every IO operation on a resource of this
    /// reactor, and every new resource, returns the `io::Error` "spindle
    /// runtime has shut down"; every `Sleep` completes at once.
    pub fn shutdown(&self) {
        let inner = &self.handle.inner;
        if inner.shut_down.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Err(e) = inner.waker.wake() {
            tracing::error!("spindle reactor: cannot interrupt the poller for shutdown: {e}");
        }
        let thread = self.thread.lock().take();
        if let Some(thread) = &thread {
            thread.thread().unpark();
        }
        if let Some(thread) = thread {
            if thread.thread().id() == std::thread::current().id() {
                // Dropped from inside a wake on the reactor thread itself (a
                // task that owned its runtime): a thread cannot join itself.
                // It sees the flag and leaves its loop once this wake returns.
            } else if thread.join().is_err() {
                tracing::error!("spindle reactor: the reactor thread panicked");
            }
        }
        let mut wake = Vec::new();
        inner.ios.lock().shutdown(&mut wake);
        inner.timers.shutdown(&mut wake);
        wake_all(wake.drain(..));
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl fmt::Debug for Reactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reactor")
            .field("handle", &self.handle)
            .finish()
    }
}

/// How the reactor thread sleeps until the next timer deadline.
///
/// On Linux a `timerfd` armed for the deadline (sub-millisecond precision;
/// see `timer`), re-armed only when the deadline's tick changes. Elsewhere
/// the `epoll`/`kqueue` timeout, which mio rounds up to whole milliseconds.
#[derive(Debug)]
struct TimerSleep {
    #[cfg(target_os = "linux")]
    fd: crate::timer::timerfd::TimerFd,
    #[cfg(target_os = "linux")]
    armed: Option<u64>,
}

impl TimerSleep {
    /// Sets up the sleep mechanism on `registry`.
    fn new(registry: &mio::Registry) -> io::Result<TimerSleep> {
        #[cfg(target_os = "linux")]
        return Ok(TimerSleep {
            fd: crate::timer::timerfd::TimerFd::new(registry, TIMER_TOKEN)?,
            armed: None,
        });
        #[cfg(not(target_os = "linux"))]
        {
            let _ = registry;
            Ok(TimerSleep {})
        }
    }

    /// Prepares to sleep until `next` and returns the poll timeout to use.
    #[cfg(target_os = "linux")]
    fn poll_timeout(&mut self, next: Option<NextTimer>) -> Option<std::time::Duration> {
        let tick = next.map(|n| n.tick);
        if tick == self.armed {
            return None;
        }
        match self.fd.arm(next.map(|n| n.wait)) {
            Ok(()) => {
                self.armed = tick;
                None
            }
            Err(e) => {
                // Never expected (the descriptor and value are valid); fall
                // back to the millisecond poll timeout for this round.
                tracing::error!("spindle reactor: cannot arm the timerfd: {e}");
                self.armed = None;
                next.map(|n| n.wait)
            }
        }
    }

    /// Notes an event that belongs to no IO resource: the `timerfd` expired,
    /// so it is disarmed and the next deadline must be armed afresh even if
    /// its tick did not change.
    fn on_event(&mut self, token: Token) {
        #[cfg(target_os = "linux")]
        if token == TIMER_TOKEN {
            self.armed = None;
        }
        #[cfg(not(target_os = "linux"))]
        let _ = token;
    }

    /// Prepares to sleep until `next` and returns the poll timeout to use.
    #[cfg(not(target_os = "linux"))]
    fn poll_timeout(&mut self, next: Option<NextTimer>) -> Option<std::time::Duration> {
        next.map(|n| n.wait)
    }
}

/// The backstop thread's loop: a non-blocking turn whenever the poller is
/// free, every [`BACKSTOP`]. See the module docs.
fn backstop(inner: &Inner) {
    // The sleep after a check that found a recent turn: doubles while
    // runtime threads keep driving, back to `BACKSTOP` once they stop.
    let mut quiet = BACKSTOP;
    while !inner.shut_down.load(Ordering::Acquire) {
        let turns = inner.doze.turns();
        let since_turn = inner.since_last_turn();
        let sleep = if since_turn < BACKSTOP {
            // A runtime thread drove it recently: its events reach their
            // tasks without us, and a turn here would only move them to
            // this thread.
            let sleep = quiet.max(BACKSTOP - since_turn);
            quiet = (quiet * 2).min(BACKSTOP_MAX);
            sleep
        } else {
            quiet = BACKSTOP;
            match inner.driver.try_lock() {
                Some(mut driver) => {
                    turn(inner, &mut driver, Some(Duration::ZERO), &|| false);
                    BACKSTOP
                }
                None if since_turn >= BACKSTOP_SLEEP_AFTER => {
                    inner.doze.sleep(turns);
                    continue;
                }
                None => BACKSTOP_IDLE,
            }
        };
        std::thread::park_timeout(sleep);
    }
}

impl Inner {
    /// Runs `f` on the resource table under its lock, then publishes its
    /// size to `registered`.
    fn with_ios<R>(&self, f: impl FnOnce(&mut IoSlab) -> R) -> R {
        let mut ios = self.ios.lock();
        let out = f(&mut ios);
        self.registered.store(ios.live(), Ordering::Relaxed);
        out
    }

    fn since_last_turn(&self) -> Duration {
        let last = Duration::from_nanos(self.last_turn.load(Ordering::Relaxed));
        self.epoch.elapsed().saturating_sub(last)
    }
}

/// One turn of the poller (see the module docs); blocks at most `max_wait`
/// (`None`: until an event, the next timer, or an interrupt). `true` if it
/// found any event (IO, the timerfd, an interrupt) or due timers.
fn turn(
    inner: &Inner,
    driver: &mut Driver,
    max_wait: Option<Duration>,
    may_block: &dyn Fn() -> bool,
) -> bool {
    let mut fired = Vec::new();
    let next = inner.timers.process(Instant::now(), &mut fired);
    let timeout = match (driver.timer_sleep.poll_timeout(next), max_wait) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let timers_fired = !fired.is_empty();
    let timeout = if timers_fired {
        Some(Duration::ZERO)
    } else {
        timeout
    };
    wake_all(fired.into_iter().map(|(_, waker)| waker));
    // Checked with the poller held: an interrupt sent after this check
    // leaves an event this poll will see, so no wake-up can fall between
    // the check and the poll.
    let timeout = if may_block() {
        timeout
    } else {
        Some(Duration::ZERO)
    };
    if let Err(e) = driver.poll.poll(&mut driver.events, timeout) {
        if e.kind() != io::ErrorKind::Interrupted {
            // epoll_wait only fails on programming errors (bad fd, bad
            // buffer); keep going rather than strand every task.
            tracing::error!("spindle reactor: poll failed: {e}");
        }
        inner.doze.turn_ended();
        return timers_fired;
    }
    let mut wake = Vec::new();
    {
        let ios = inner.ios.lock();
        for event in &driver.events {
            if let Some(io) = ios.get(event.token()) {
                io.set_readiness(readiness_of(event), &mut wake);
            } else {
                driver.timer_sleep.on_event(event.token());
            }
        }
    }
    let found = timers_fired || !driver.events.is_empty();
    wake_all(wake.drain(..));
    let now = u64::try_from(inner.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
    inner.last_turn.store(now, Ordering::Relaxed);
    inner.doze.turn_ended();
    found
}

/// Wakes every waker. A waker is foreign code: one that panics is reported
/// and skipped, so it cannot unwind through the thread driving the poller
/// (a runtime worker) or leave the other wakers unwoken.
fn wake_all(wakers: impl Iterator<Item = Waker>) {
    for waker in wakers {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| waker.wake())).is_err() {
            tracing::error!("spindle reactor: a waker panicked when woken; skipped it");
        }
    }
}

/// The readiness bits an event reports. An error event counts as both
/// readable and writable so the next operation in either direction
/// surfaces the error (a refused connect, a reset).
fn readiness_of(event: &mio::event::Event) -> usize {
    let mut ready = 0;
    if event.is_readable() {
        ready |= READABLE;
    }
    if event.is_writable() {
        ready |= WRITABLE;
    }
    if event.is_read_closed() {
        ready |= READ_CLOSED;
    }
    if event.is_write_closed() {
        ready |= WRITE_CLOSED;
    }
    if event.is_error() {
        ready |= READABLE | WRITABLE;
    }
    ready
}

impl ReactorHandle {
    /// Makes this reactor the current one on this thread until the guard is
    /// dropped. Nestable: the guard restores whatever was current before.
    pub fn enter(&self) -> EnterGuard {
        let previous = CURRENT.with(|current| current.replace(Some(self.clone())));
        EnterGuard {
            previous,
            _not_send: PhantomData,
        }
    }

    /// The reactor entered on this thread, if any.
    pub fn try_current() -> Option<ReactorHandle> {
        CURRENT.with(|current| current.borrow().clone())
    }

    /// The current reactor, or a panic that names the fix. `what` completes
    /// the message: "... must be `what` inside a spindle runtime".
    pub(crate) fn current(what: &str) -> ReactorHandle {
        Self::with_current(what, ReactorHandle::clone)
    }

    /// Runs `f` on the current reactor without cloning its handle, or panics
    /// like [`current`](Self::current). `f` must not enter another reactor.
    pub(crate) fn with_current<R>(what: &str, f: impl FnOnce(&ReactorHandle) -> R) -> R {
        CURRENT.with(|current| match current.borrow().as_ref() {
            Some(handle) => f(handle),
            None => {
                panic!("{what} inside a spindle runtime: use Runtime::block_on or spindle::run")
            }
        })
    }

    /// How many timers are pending on this reactor (for tests and metrics).
    #[doc(hidden)]
    pub fn live_timers(&self) -> usize {
        self.inner.timers.live()
    }

    /// How many IO resources are registered with this reactor (for tests
    /// and metrics).
    #[doc(hidden)]
    pub fn live_registrations(&self) -> usize {
        self.inner.ios.lock().live()
    }

    /// Drives the poller on this thread for one turn, blocking until an IO
    /// event, the next timer, or [`interrupt`](Self::interrupt); wakes the
    /// tasks that became ready. Returns `false` at once, without waiting, if
    /// another thread drives it or the reactor has shut down: the caller
    /// then sleeps its own way.
    ///
    /// The scheduler calls this where it would park an idle thread, so IO
    /// events are handled on the thread that will run their tasks.
    /// `may_block` is asked once the poller is held, just before it blocks:
    /// `false` (the thread was woken meanwhile) makes the turn non-blocking.
    pub fn try_drive(&self, may_block: &dyn Fn() -> bool) -> bool {
        if self.inner.shut_down.load(Ordering::Acquire) {
            return false;
        }
        let Some(mut driver) = self.inner.driver.try_lock() else {
            return false;
        };
        turn(&self.inner, &mut driver, None, may_block);
        true
    }

    /// A busy thread's look at IO: one non-blocking turn, as
    /// [`poll_now`](Self::poll_now), unless another thread drives the
    /// poller now or turned it less than [`BUSY_POLL_GAP`] ago (`false`
    /// then). The gap keeps the turn's fixed cost (an `epoll_wait`, the
    /// timer shards' locks, two clock reads: about 1 µs) off workloads that
    /// never do IO, which would otherwise pay it every few dozen polls.
    pub fn try_poll(&self) -> bool {
        if self.inner.since_last_turn() < BUSY_POLL_GAP {
            return false;
        }
        self.poll_now()
    }

    /// One non-blocking turn if the poller is free (a spinning worker's
    /// look at IO); `true` if it found IO events or due timers.
    pub fn poll_now(&self) -> bool {
        if self.inner.shut_down.load(Ordering::Acquire) {
            return false;
        }
        let Some(mut driver) = self.inner.driver.try_lock() else {
            return false;
        };
        turn(&self.inner, &mut driver, Some(Duration::ZERO), &|| false)
    }

    /// A worker's look at IO when it has run out of tasks, before it
    /// steals (Go's non-blocking `netpoll` in `findrunnable`): one
    /// non-blocking turn, as [`poll_now`](Self::poll_now), but only while
    /// some IO resource is registered. With none, no IO event can be
    /// waiting, so a program without sockets pays nothing for the look.
    /// The count is read `Relaxed`: a stale 0 only skips this look, and the
    /// events still reach their tasks through the next park, spin or busy
    /// poll, which turn the poller unconditionally.
    pub fn poll_for_work(&self) -> bool {
        if self.inner.registered.load(Ordering::Relaxed) == 0 {
            return false;
        }
        self.poll_now()
    }

    /// Interrupts the poll in progress (the thread in
    /// [`try_drive`](Self::try_drive) returns), or makes the next one return
    /// at once: how a thread driving the poller is woken.
    pub fn interrupt(&self) {
        if let Err(e) = self.inner.waker.wake() {
            tracing::error!("spindle reactor: cannot interrupt the poller: {e}");
        }
    }

    /// Registers `source` for `interest`, edge-triggered, and returns the
    /// readiness state the reactor will update for it.
    pub(crate) fn register(
        &self,
        source: &mut impl Source,
        interest: Interest,
    ) -> io::Result<(Token, Arc<ScheduledIo>)> {
        let io = Arc::new(ScheduledIo::new());
        let token = self.inner.with_ios(|ios| ios.insert(io.clone()))?;
        if let Err(e) = self.inner.registry.register(source, token, interest) {
            self.inner.with_ios(|ios| ios.remove(token));
            return Err(e);
        }
        Ok((token, io))
    }

    /// Removes `source` from the poller and frees its table slot.
    pub(crate) fn deregister(&self, source: &mut impl Source, token: Token) {
        // Failing to deregister a socket that is about to be closed is
        // harmless: closing the fd removes it from epoll anyway.
        let _ = self.inner.registry.deregister(source);
        self.inner.with_ios(|ios| ios.remove(token));
    }
}

impl fmt::Debug for ReactorHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReactorHandle")
            .field("shut_down", &self.inner.shut_down.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|current| *current.borrow_mut() = previous);
    }
}

impl fmt::Debug for EnterGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnterGuard").finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_thread_is_named_after_the_runtime() {
        let reactor = Reactor::start("named").unwrap();
        let name = reactor
            .thread
            .lock()
            .as_ref()
            .unwrap()
            .thread()
            .name()
            .map(String::from);
        assert_eq!(name.as_deref(), Some("named-reactor"));
    }

    #[test]
    fn enter_nests_and_restores() {
        let a = Reactor::start("a").unwrap();
        let b = Reactor::start("b").unwrap();
        assert!(ReactorHandle::try_current().is_none());
        let outer = a.handle().enter();
        {
            let _inner = b.handle().enter();
            let current = ReactorHandle::try_current().unwrap();
            assert!(Arc::ptr_eq(&current.inner, &b.handle().inner));
        }
        let current = ReactorHandle::try_current().unwrap();
        assert!(Arc::ptr_eq(&current.inner, &a.handle().inner));
        drop(outer);
        assert!(ReactorHandle::try_current().is_none());
    }

    #[test]
    fn handles_and_resources_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Reactor>();
        send_sync::<ReactorHandle>();
        send_sync::<crate::net::TcpStream>();
        send_sync::<crate::net::tcp::OwnedReadHalf>();
        send_sync::<crate::net::UdpSocket>();
        send_sync::<crate::net::UnixStream>();
        send_sync::<crate::time::Sleep>();
        send_sync::<crate::time::Interval>();
        send_sync::<crate::time::Timeout<std::future::Ready<()>>>();
        fn unpin<T: Unpin>() {}
        unpin::<crate::net::TcpStream>();
        unpin::<crate::time::Sleep>();
    }

    /// Drops the reactor it holds when woken.
    struct DropOnWake(
        parking_lot::Mutex<Option<Reactor>>,
        std::sync::mpsc::Sender<()>,
    );

    impl std::task::Wake for DropOnWake {
        fn wake(self: Arc<Self>) {
            drop(self.0.lock().take());
            let _ = self.1.send(());
        }
    }

    #[test]
    fn a_reactor_dropped_by_a_wake_on_its_own_thread_does_not_deadlock() {
        let reactor = Reactor::start("self-drop").unwrap();
        let handle = reactor.handle();
        let (done, finished) = std::sync::mpsc::channel();
        let waker = Waker::from(Arc::new(DropOnWake(
            parking_lot::Mutex::new(Some(reactor)),
            done,
        )));
        let deadline = Instant::now() + std::time::Duration::from_millis(1);
        assert!(matches!(
            handle.inner.timers.register(deadline, waker.clone()),
            crate::timer::Registered::Pending { .. }
        ));
        handle.interrupt();
        finished
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("the reactor thread dropped its reactor without deadlocking");
        assert!(handle.inner.shut_down.load(Ordering::Acquire));
    }

    /// Polls `condition` for up to 10 s.
    fn eventually(what: &str, condition: impl Fn() -> bool) {
        let start = Instant::now();
        while !condition() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "timed out: {what}"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// While a thread blocks in the poller the backstop dozes instead of
    /// checking every 10 ms, and the end of that thread's turn wakes it.
    #[test]
    fn the_backstop_dozes_while_a_thread_blocks_in_the_poller() {
        let reactor = Reactor::start("doze").unwrap();
        let handle = reactor.handle();
        let doze = || handle.inner.doze.is_asleep();
        let driver = {
            let handle = reactor.handle();
            // The backstop's own non-blocking turn may hold the poller for
            // a moment: try until this thread is the one driving.
            std::thread::spawn(move || while !handle.try_drive(&|| true) {})
        };
        eventually("the backstop dozes off", doze);
        handle.interrupt();
        driver.join().unwrap();
        eventually("the end of the turn wakes the backstop", || !doze());
        reactor.shutdown();
        assert!(reactor.thread.lock().is_none());
    }

    #[test]
    fn shutdown_is_idempotent() {
        let reactor = Reactor::start("twice").unwrap();
        reactor.shutdown();
        reactor.shutdown();
        assert!(reactor.thread.lock().is_none());
    }
}

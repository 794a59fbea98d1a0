//! The worker loop (Go's M running with a P): find a task, run it, repeat;
//! search other processors when out of work; park when there is none.
//!
//! Finding the next task (rule 3 of DESIGN.md), in order:
//!
//! 1. every [`INJECTOR_INTERVAL`]th tick, and right after a task yielded,
//!    the injector first, then this thread's pinned (`spawn_local`) tasks —
//!    so a worker busy with its own queue still serves tasks submitted from
//!    outside and its pinned tasks. The yield rule matters when polls are
//!    long: a CPU task that yields every 30 ms would otherwise keep an IO
//!    wake waiting 61 × 30 ms (Go's `Gosched` likewise sends the yielder
//!    behind the global queue);
//! 2. the LIFO slot, unless it supplied the last [`MAX_LIFO_STREAK`] tasks
//!    in a row (then its task goes to the back of the local queue);
//! 3. the local queue;
//! 4. a batch from the injector (moved into the local queue);
//! 5. this thread's pinned tasks;
//! 6. IO: one non-blocking turn of the poller, if it is free and any IO
//!    resource is registered; the tasks it wakes are queued here (Go's
//!    `findrunnable` polls the network before it steals). While another
//!    processor has [`STEAL_FIRST_BACKLOG`] (2) or more tasks queued,
//!    step 7 comes first;
//! 7. searching: steal half of a victim's queue, victims tried from a
//!    random start; on the last pass, take a victim's LIFO slot.
//!
//! 8. spinning (Go's spinning M): a searcher that found nothing keeps
//!    looking for a few microseconds before it parks: every round it
//!    checks the injector and its pinned tasks and turns the IO poller
//!    without blocking. It does not steal while spinning: other workers'
//!    queues belong to workers that are awake and running them; if work is
//!    still there when the spin ends, the last searcher's re-check in
//!    `park` finds it. How long, how often, and when not to spin at all is
//!    [`spin`](crate::spin)'s, with the measurements behind it.
//!
//! Then park, by the protocol in [`idle`](crate::idle).
//!
//! **Why IO before stealing** (step 6, an addition to DESIGN.md's rule 3).
//! When IO produces the work, the tasks a worker could steal are the ones
//! the other worker's last turn woke, while the events that would wake more
//! wait in the poller. Stealing first moved tasks, and the sockets they
//! touch, between cores; a worker that found nothing to steal spun and
//! parked while events waited. In `tcp_echo` parallel (16 connections, 200
//! iterations) parks fell from 36 000 to 330, steals from 55 000 to 1 000
//! and `sched_yield`s from 468 000 to 21 000. Against tokio in one process
//! (alternating blocks of ten iterations, median ratio of 30 blocks) the
//! time ratio went from 0.96–0.97 to 1.10–1.16.
//!
//! **Why steal first behind a backlog.** Always IO first made the 64
//! connection latency pass unfair: a worker kept serving fresh events while
//! tasks waited in the other's queue, and p99 rose from 550–700 µs to
//! 660–850 µs (tokio 580–730). Tasks queued elsewhere have waited longest,
//! so a backlog of two or more is served first: p99 524–590 µs against
//! tokio's 561–593 µs, at 160–166k msgs/s against 155–156k, while the
//! 16-connection ratio stays at 1.09–1.10. Stealing first
//! always kept the 16-connection ratio at 0.95–1.05. A backlog of one was
//! no better in either test; four and eight cost the 16 connections a few
//! percent (1.07–1.08).
//!
//! Every [`INJECTOR_INTERVAL`]th tick a busy worker also polls the IO
//! driver once without blocking, if no other thread drives it or turned it
//! in the last 25 µs, and queues the woken tasks on its own processor
//! (tokio's `park_yield`). Without this poll ready IO waits until some
//! worker runs out of work and parks: in `tcp_echo` with both workers busy
//! that meant ~40% more condition-variable parks per message than tokio.
//! The 25 µs gap keeps the turn's ~1 µs off workloads without IO
//! (`yield_many` parallel went 1.19 -> 1.06 of tokio without a gap); at
//! 100 µs the `tcp_echo` latency pass lost 7% (259-264k msgs/s at 25 µs,
//! 243-247k at 100 µs, 266-269k without a gap).
//!
//! Each poll runs with a fresh cooperative budget ([`coop`](crate::coop)),
//! between `begin_poll` and `end_poll` on the slot's [`claim`](crate::claim).
//! If `end_poll` fails, the monitor handed the slot to a spare machine while
//! the poll ran: this machine takes it back if no spare has yet (the hand-off
//! never strands a slot), or else becomes a spare itself and waits on its
//! [`Seat`] until the monitor hands it a slot.

use std::cell::Cell;
use std::ptr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use parking_lot::Mutex;

use crate::context;
use crate::coop;
use crate::local::LocalQueue;
use crate::loom::atomic::Ordering::Acquire;
use crate::monitor;
use crate::parallel::{Seat, Shared, Slot};
use crate::park::Parker;
use crate::queue::{self, MAX_LIFO_STREAK};
use crate::spin::Spin;
use crate::task::Notified;

/// Ticks between injector-first checks: Go's figure (`schedtick%61`), a
/// prime so the check does not fall into step with periodic workloads.
pub(crate) const INJECTOR_INTERVAL: u32 = 61;

/// A worker out of tasks steals before it looks at IO while another
/// processor has this many tasks queued (see the module doc).
const STEAL_FIRST_BACKLOG: usize = 2;

/// A processor (Go's P): the right to run tasks, with its queues.
pub(crate) struct Processor {
    pub(crate) index: usize,
    local: queue::Local,
    /// Polls started on this processor: the claim word's tick.
    tick: u64,
    lifo_streak: u8,
    /// A task yielded since the last look at the injector: look first.
    yielded: bool,
    is_searching: bool,
    rng: u32,
}

impl Processor {
    pub(crate) fn new(index: usize, local: queue::Local) -> Processor {
        Processor {
            index,
            local,
            tick: 0,
            lifo_streak: 0,
            yielded: false,
            is_searching: false,
            // Any odd seed works for xorshift; spread the workers apart.
            rng: 0x9E37_79B9u32.wrapping_mul(index as u32 + 1) | 1,
        }
    }

    fn next_rand(&mut self, n: usize) -> usize {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.rng = x;
        x as usize % n
    }

    /// Puts a task submitted on this worker: LIFO slot for a wake or spawn,
    /// back of the queue for a yield. While running, wakes a sleeper if the
    /// local queue grew, since another worker could steal from it. While
    /// dispatching IO events (`notify` false: in `park` or `poll_io`) it
    /// does not: one event batch would wake a sleeper per displaced task,
    /// and the batch is usually short work this worker is about to run
    /// itself; both wake one sleeper afterwards if more than one task waits.
    fn push(&mut self, shared: &Shared, task: Notified, yielded: bool, notify: bool) {
        let displaced = if yielded {
            self.yielded = true;
            Some(task)
        } else {
            shared.slots[self.index].lifo.swap(task)
        };
        if let Some(task) = displaced {
            self.local.push(task);
            if notify {
                shared.notify_parked();
            }
        }
    }

    /// Whether this worker, back from `park` with tasks it queued itself,
    /// should wake a sleeper to share them: more than one task is waiting
    /// and it is not a searcher (a searcher that finds work wakes the next
    /// one anyway).
    fn should_notify_others(&self, shared: &Shared) -> bool {
        !self.is_searching
            && self.local.len() + usize::from(!shared.slots[self.index].lifo.is_empty()) > 1
    }

    /// Steps 1–5 of the module doc.
    fn next_task(&mut self, shared: &Shared, pinned: &LocalQueue) -> Option<Notified> {
        if (std::mem::take(&mut self.yielded)
            || self.tick.is_multiple_of(u64::from(INJECTOR_INTERVAL)))
            && let Some(task) = shared.injector.pop().or_else(|| pinned.pop())
        {
            self.lifo_streak = 0;
            return Some(task);
        }
        let lifo = &shared.slots[self.index].lifo;
        if let Some(task) = lifo.take() {
            if self.lifo_streak < MAX_LIFO_STREAK {
                self.lifo_streak += 1;
                return Some(task);
            }
            self.local.push(task);
        }
        self.lifo_streak = 0;
        self.local
            .pop()
            .or_else(|| shared.injector.steal_into(&self.local))
            .or_else(|| pinned.pop())
    }

    /// Step 7: steal. Returns `None` if nothing was found or searching was
    /// refused (half the workers already search).
    fn search(&mut self, shared: &Shared) -> Option<Notified> {
        if !self.is_searching {
            if !shared.idle.worker_to_searching() {
                return None;
            }
            self.is_searching = true;
        }
        let n = shared.slots.len();
        let start = self.next_rand(n);
        let stats = &shared.slots[self.index].stats;
        for i in 0..n {
            let victim = (start + i) % n;
            if victim == self.index {
                continue;
            }
            let before = self.local.len();
            if let Some(task) = shared.slots[victim].steal.steal_into(&self.local) {
                stats.add_steal(self.local.len() - before + 1);
                return Some(task);
            }
        }
        if let Some(task) = shared.injector.steal_into(&self.local) {
            return Some(task);
        }
        for i in 0..n {
            let victim = (start + i) % n;
            if victim != self.index
                && let Some(task) = shared.slots[victim].lifo.take()
            {
                stats.add_steal(1);
                return Some(task);
            }
        }
        None
    }

    fn has_work(&self, shared: &Shared) -> bool {
        !self.local.is_empty() || !shared.slots[self.index].lifo.is_empty()
    }

    /// Drops every queued task reference (at shutdown; the owned list
    /// cancels the tasks themselves).
    fn drain(&mut self, shared: &Shared) {
        drop(shared.slots[self.index].lifo.take());
        while self.local.pop().is_some() {}
    }
}

/// How a machine thread starts.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Start {
    /// A worker: slot `index` is its from the start.
    Worker(usize),
    /// A spare started for slot `index`, which the monitor has handed over.
    Handed(usize),
}

/// What the thread-local context knows of the machine on this thread.
struct MachineCtx {
    shared: Arc<Shared>,
    /// The slot held, `usize::MAX` when none.
    slot: Cell<usize>,
    /// The tick of the poll in progress, 0 between polls.
    poll_tick: Cell<u64>,
    /// Between polls, dispatching IO events (asleep in `park`, where it may
    /// drive the IO poller, in the busy worker's IO poll, or spinning),
    /// holding its slot: tasks woken now go onto its own processor. Set
    /// only by [`dispatch_io`](Self::dispatch_io).
    dispatching_io: Cell<bool>,
}

impl MachineCtx {
    /// Runs `f`, which may dispatch IO events on this thread, with
    /// `dispatching_io` set. The caller holds no reference to the processor
    /// meanwhile: the tasks the events wake are pushed onto it.
    fn dispatch_io<R>(&self, f: impl FnOnce() -> R) -> R {
        self.dispatching_io.set(true);
        let out = f();
        self.dispatching_io.set(false);
        out
    }
}

// Not `const`-initialised: loom's `thread_local!` does not take `const {}`.
crate::loom::thread_local!(#[allow(clippy::missing_const_for_thread_local)] static MACHINE: Cell<*const MachineCtx> = Cell::new(ptr::null()));

/// Puts `task` on the current machine's processor if this thread is inside
/// a poll on a machine of `shared` that still holds its slot; otherwise
/// hands the task back (it goes to the injector).
pub(crate) fn schedule_local(
    shared: &Arc<Shared>,
    task: Notified,
    yielded: bool,
) -> Option<Notified> {
    MACHINE.with(|m| {
        let ctx = m.get();
        if ctx.is_null() {
            return Some(task);
        }
        // SAFETY: the pointer is set by `run` for the life of the machine
        // loop on this thread and cleared before the context is dropped.
        let ctx = unsafe { &*ctx };
        if !Arc::ptr_eq(&ctx.shared, shared) {
            return Some(task);
        }
        let tick = ctx.poll_tick.get();
        if tick == 0 {
            if !ctx.dispatching_io.get() {
                return Some(task);
            }
            // Woken by the IO events this thread is dispatching.
            // SAFETY: the machine holds its slot (HELD), and neither `park`
            // nor `poll_io` keeps a reference to the processor while the
            // events are dispatched.
            unsafe { shared.slots[ctx.slot.get()].core() }.push(shared, task, yielded, false);
            return None;
        }
        let slot = &shared.slots[ctx.slot.get()];
        if !slot.claim.borrow(tick) {
            return Some(task);
        }
        // SAFETY: BORROWED for this poll: no other machine touches the core
        // until `release`, and the machine loop holds no reference during a
        // poll.
        unsafe { slot.core() }.push(shared, task, yielded, true);
        slot.claim.release(tick);
        None
    })
}

/// The body of a machine thread: run a slot until it is lost or the
/// scheduler shuts down; while without a slot, wait as a spare.
pub(crate) fn run(shared: Arc<Shared>, start: Start) {
    let parker = Arc::new(Parker::new(None));
    let pinned = LocalQueue::new(parker.clone());
    let runtime_ctx = context::enter_worker(pinned.clone());
    let ctx = MachineCtx {
        shared: shared.clone(),
        slot: Cell::new(usize::MAX),
        poll_tick: Cell::new(0),
        dispatching_io: Cell::new(false),
    };
    MACHINE.with(|m| m.set(&ctx));
    let seat = Arc::new(Seat {
        parker: parker.clone(),
        assigned: Mutex::new(None),
    });

    let mut next = match start {
        Start::Worker(index) => Some(index),
        Start::Handed(index) => shared.slots[index].claim.take_handed().map(|_| index),
    };
    while !shared.shutdown.load(Acquire) {
        match next.take() {
            Some(index) => {
                ctx.slot.set(index);
                run_slot(&shared, &ctx, &pinned);
                ctx.slot.set(usize::MAX);
                pinned.set_parker(&parker);
            }
            None => match wait_as_spare(&shared, &seat, &pinned) {
                Some(index) => next = Some(index),
                None => break,
            },
        }
    }

    MACHINE.with(|m| m.set(ptr::null()));
    drop(runtime_ctx);
    shared.machine_exited();
}

/// Runs tasks on the slot in `ctx` until the scheduler shuts down or the
/// slot is lost to a spare.
fn run_slot(shared: &Shared, ctx: &MachineCtx, pinned: &LocalQueue) {
    let slot = &shared.slots[ctx.slot.get()];
    slot.thread_id
        .store(crate::os::thread_id(), std::sync::atomic::Ordering::Relaxed);
    let parker = &slot.parker;
    pinned.set_parker(parker);
    loop {
        if shared.shutdown.load(Acquire) {
            // SAFETY: HELD by this machine between polls.
            unsafe { slot.core() }.drain(shared);
            return;
        }
        // SAFETY: HELD by this machine between polls; the reference ends
        // with the statement, before the poll.
        let found = unsafe { slot.core() }.next_task(shared, pinned);
        let found = found
            .or_else(|| find_elsewhere(shared, slot, ctx, pinned))
            .or_else(|| spin(shared, slot, ctx, pinned));
        let Some(task) = found else {
            park(shared, slot, ctx, pinned, parker);
            continue;
        };
        let tick = {
            // SAFETY: as above.
            let core = unsafe { slot.core() };
            if core.is_searching {
                core.is_searching = false;
                if shared.idle.worker_from_searching() {
                    shared.notify_parked();
                }
            }
            core.tick += 1;
            core.tick
        };
        slot.polling_task.store(task.id().as_u64(), Relaxed);
        ctx.poll_tick.set(tick);
        slot.claim.begin_poll(tick);
        monitor::run_task(task, shared.config.slow_poll);
        ctx.poll_tick.set(0);
        if !slot.claim.end_poll(tick) && slot.claim.take_handed().is_none() {
            return;
        }
        if tick.is_multiple_of(u64::from(INJECTOR_INTERVAL)) {
            poll_io(shared, slot, ctx, Parker::poll_io);
        }
    }
}

/// A look at IO between polls: `turn` (the busy worker's
/// [`Parker::poll_io`] or the out-of-work worker's
/// [`Parker::poll_io_for_work`]) takes one non-blocking turn of the poller
/// if it is free, and the tasks it wakes are queued here; then, as after
/// `park`, a sleeper is woken if more than one task waits. `true` if the
/// turn found events.
fn poll_io(shared: &Shared, slot: &Slot, ctx: &MachineCtx, turn: fn(&Parker) -> bool) -> bool {
    let polled = ctx.dispatch_io(|| turn(&slot.parker));
    // SAFETY: HELD by this machine between polls; the reference ends here.
    if polled && unsafe { slot.core() }.should_notify_others(shared) {
        shared.notify_parked();
    }
    polled
}

/// Steps 6 and 7 of the module doc: IO, then stealing; stealing first
/// while another processor has [`STEAL_FIRST_BACKLOG`] or more tasks
/// queued, since those have waited longest.
fn find_elsewhere(
    shared: &Shared,
    slot: &Slot,
    ctx: &MachineCtx,
    pinned: &LocalQueue,
) -> Option<Notified> {
    let steal = || {
        // SAFETY: HELD by this machine between polls; the reference ends
        // with the closure.
        unsafe { slot.core() }.search(shared)
    };
    if shared.has_backlog(STEAL_FIRST_BACKLOG) {
        steal().or_else(|| look_at_io(shared, slot, ctx, pinned))
    } else {
        look_at_io(shared, slot, ctx, pinned).or_else(steal)
    }
}

/// Step 6 of the module doc: a worker out of tasks takes one non-blocking
/// turn of the poller, if it is free and any IO resource is registered,
/// before it steals, and runs a task the turn woke.
fn look_at_io(
    shared: &Shared,
    slot: &Slot,
    ctx: &MachineCtx,
    pinned: &LocalQueue,
) -> Option<Notified> {
    if !poll_io(shared, slot, ctx, Parker::poll_io_for_work) {
        return None;
    }
    // SAFETY: HELD by this machine between polls; no reference was live
    // while the turn pushed the tasks it woke onto this processor, and this
    // one ends with the statement.
    unsafe { slot.core() }.next_task(shared, pinned)
}

/// Go's spinning: a searcher that found nothing keeps looking for a few
/// microseconds before it parks (step 8 of the module doc; the policy is in
/// [`spin`](crate::spin)). Returns the task found, or `None` to park; `None`
/// at once if this worker is not a searcher or spinning is off.
fn spin(shared: &Shared, slot: &Slot, ctx: &MachineCtx, pinned: &LocalQueue) -> Option<Notified> {
    // SAFETY: HELD by this machine between polls; the reference ends with
    // the statement.
    if !unsafe { slot.core() }.is_searching {
        return None;
    }
    let spin = Spin::start(&shared.spin_off)?;
    // The search just looked everywhere: the first look comes after a round.
    if !spin.pause_round(&shared.spin_off, &shared.shutdown) {
        return None;
    }
    spin.until(&shared.spin_off, &shared.shutdown, || {
        if !shared.injector.is_empty() || pinned.has_tasks() {
            // SAFETY: as above; the reference ends with this block.
            if let Some(task) = unsafe { slot.core() }.next_task(shared, pinned) {
                return Some(task);
            }
        }
        if ctx.dispatch_io(|| slot.parker.poll_io_now()) {
            // SAFETY: as above; no reference was live while `poll_io_now`
            // pushed the tasks it woke onto this processor.
            return unsafe { slot.core() }.next_task(shared, pinned);
        }
        None
    })
}

/// Waits without a slot until the monitor hands this machine one (returned)
/// or the scheduler shuts down (`None`), running this thread's pinned tasks
/// meanwhile.
fn wait_as_spare(shared: &Shared, seat: &Arc<Seat>, pinned: &LocalQueue) -> Option<usize> {
    shared.spares.lock().idle.push(seat.clone());
    loop {
        if shared.shutdown.load(Acquire) {
            return None;
        }
        if let Some(index) = seat.assigned.lock().take() {
            if shared.slots[index].claim.take_handed().is_some() {
                return Some(index);
            }
            // The stuck machine took its slot back first: wait again.
            shared.spares.lock().idle.push(seat.clone());
        }
        while let Some(task) = pinned.pop() {
            coop::budget(|| task.run());
        }
        seat.parker.park();
    }
}

/// Registers as asleep, re-checks, sleeps (see [`idle`](crate::idle)).
///
/// No reference to the processor is held across the sleep: while this
/// thread drives the IO poller there, the tasks its events wake are pushed
/// onto this processor ([`schedule_local`]), to be run by this thread when
/// it wakes, rather than handed to another thread through the injector.
fn park(shared: &Shared, slot: &Slot, ctx: &MachineCtx, pinned: &LocalQueue, parker: &Parker) {
    let (index, last_searcher) = {
        // SAFETY: HELD by this machine between polls; the reference ends
        // with this block.
        let core = unsafe { slot.core() };
        if core.has_work(shared) || pinned.has_tasks() {
            return;
        }
        let was_searching = std::mem::take(&mut core.is_searching);
        (
            core.index,
            shared.idle.worker_to_parked(core.index, was_searching),
        )
    };
    let work_appeared = pinned.has_tasks()
        || !shared.injector.is_empty()
        || (last_searcher && shared.has_queued_work())
        || shared.shutdown.load(Acquire);
    if !work_appeared {
        slot.stats.add_park();
        ctx.dispatch_io(|| parker.park());
    }
    let searching = shared.idle.worker_from_parked(index);
    // SAFETY: HELD by this machine; no other reference is live.
    let core = unsafe { slot.core() };
    core.is_searching = searching;
    if core.should_notify_others(shared) {
        shared.notify_parked();
    }
}

//! Stress: a million tasks with random yields, cross-task wakes, aborts and
//! panics, in both modes; counters prove every task ended exactly once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use spindle::sync::Event;
use spindle::{JoinHandle, spawn, yield_now};
use tests::{both_modes, rand};

/// Tasks per mode: the million.
const TASKS: usize = 1_000_000;
/// Tasks alive at once: bounds memory, and keeps every batch contended.
const BATCH: usize = 10_000;

#[derive(Default)]
struct Counters {
    /// Futures dropped (completed, cancelled or panicked: each exactly once).
    dropped: AtomicUsize,
    /// Tasks that ran to their end.
    finished: AtomicUsize,
}

/// Drops count into `dropped`.
struct Guard(Arc<Counters>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.dropped.fetch_add(1, SeqCst);
    }
}

/// One task of the stress: `r` decides what it does. It owns `guard` from
/// the start, so even a task cancelled before its first poll counts its drop.
async fn task(r: u64, guard: Guard, gate: Arc<Event>, next_gate: Arc<Event>) {
    let counters = guard.0.clone();
    for _ in 0..(r % 4) {
        yield_now().await;
    }
    if r.is_multiple_of(7) {
        // A cross-task wake: wait for the previous task of the chain to set
        // our gate, then set the next one.
        gate.wait().await;
    }
    next_gate.set();
    if r.is_multiple_of(97) {
        panic!("stress panic");
    }
    counters.finished.fetch_add(1, SeqCst);
}

#[test]
fn a_million_tasks_each_end_exactly_once() {
    // Panics are part of the workload: keep them off the test output.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&"stress panic") {
            default_hook(info);
        }
    }));
    both_modes(|mode| async move {
        let counters = Arc::new(Counters::default());
        let (mut ok, mut cancelled, mut panicked, mut aborted) = (0, 0, 0, 0);
        for batch in 0..TASKS / BATCH {
            let mut gate = Arc::new(Event::new());
            gate.set();
            let handles: Vec<JoinHandle<()>> = (0..BATCH)
                .map(|i| {
                    let r = rand((batch * BATCH + i) as u64);
                    let next = Arc::new(Event::new());
                    let h = spawn(task(r, Guard(counters.clone()), gate.clone(), next.clone()));
                    gate = next.clone();
                    if r.is_multiple_of(53) {
                        h.abort();
                        aborted += 1;
                        // A cancelled task may never set its successor's
                        // gate: the chain goes on without it.
                        next.set();
                    }
                    gate = next;
                    h
                })
                .collect();
            for h in handles {
                match h.await {
                    Ok(()) => ok += 1,
                    Err(e) if e.is_cancelled() => cancelled += 1,
                    Err(e) if e.is_panic() => panicked += 1,
                    Err(e) => panic!("{e:?}"),
                }
            }
        }
        assert_eq!(ok + cancelled + panicked, TASKS, "{mode:?}");
        assert_eq!(
            counters.dropped.load(SeqCst),
            TASKS,
            "{mode:?}: every future dropped exactly once"
        );
        assert_eq!(counters.finished.load(SeqCst), ok, "{mode:?}");
        assert!(
            cancelled <= aborted,
            "{mode:?}: only aborted tasks are cancelled"
        );
        assert!(
            cancelled > 0 && panicked > 0,
            "{mode:?}: the mix ran ({cancelled} cancelled, {panicked} panicked)"
        );
    });
}

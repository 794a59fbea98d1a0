//! Spawning from outside the runtime, through its handle:
//!
//! * `spawn_many_remote_idle`: the bench thread spawns 10_000 tasks while no
//!   one is inside `block_on`, then waits for them in `block_on` (tokio's
//!   `spawn_many_remote_idle`). The single-threaded runtimes run nothing
//!   until `block_on`, so there they measure queueing, then draining.
//! * `spawn_many_remote_foreign`: a long-lived foreign thread spawns 10_000
//!   tasks while the bench thread waits inside `block_on`, so submission
//!   and execution overlap (and each spawn may have to wake the runtime).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;

use benches::{Latch, Rt, Workload, run_group};
use criterion::{Bencher, Criterion, criterion_group, criterion_main};

const NUM_SPAWN: usize = 10_000;

fn spawn_counting<R: Rt>(handle: &R::Handle, latch: &Arc<Latch>) {
    for i in 0..NUM_SPAWN {
        let latch = latch.clone();
        R::spawn_on(handle, async move {
            black_box(i);
            latch.count_down();
        });
    }
}

struct RemoteIdle;

impl Workload for RemoteIdle {
    fn elements(&self) -> u64 {
        NUM_SPAWN as u64
    }

    fn bench<R: Rt>(&self, b: &mut Bencher<'_>, rt: &R) {
        let handle = rt.handle();
        b.iter(|| {
            let latch = Latch::new(NUM_SPAWN);
            spawn_counting::<R>(&handle, &latch);
            rt.block_on(latch.wait());
        });
    }
}

struct RemoteForeign;

impl Workload for RemoteForeign {
    fn elements(&self) -> u64 {
        NUM_SPAWN as u64
    }

    fn bench<R: Rt>(&self, b: &mut Bencher<'_>, rt: &R) {
        let (tx, rx) = mpsc::channel::<Arc<Latch>>();
        let handle = rt.handle();
        let spawner = thread::Builder::new()
            .name("foreign-spawner".to_owned())
            .spawn(move || {
                for latch in rx {
                    spawn_counting::<R>(&handle, &latch);
                }
            })
            .expect("start the foreign spawner thread");
        b.iter(|| {
            let latch = Latch::new(NUM_SPAWN);
            tx.send(latch.clone()).expect("foreign spawner alive");
            rt.block_on(latch.wait());
        });
        drop(tx);
        spawner.join().expect("foreign spawner panicked");
    }
}

fn spawn_remote(c: &mut Criterion) {
    run_group(c, "spawn_many_remote_idle", &RemoteIdle);
    run_group(c, "spawn_many_remote_foreign", &RemoteForeign);
}

criterion_group!(benches, spawn_remote);
criterion_main!(benches);

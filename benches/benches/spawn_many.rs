//! `spawn_many_local`: one task spawns 10_000 tasks from inside the runtime
//! (on a worker, in the parallel runtimes) and the bench waits for all of
//! them through a countdown latch. Modelled on tokio's
//! `benches/rt_multi_threaded.rs`.

use std::hint::black_box;

use benches::{Latch, Rt, Workload, run_group};
use criterion::{Bencher, Criterion, criterion_group, criterion_main};

const NUM_SPAWN: usize = 10_000;

struct SpawnManyLocal;

impl Workload for SpawnManyLocal {
    fn elements(&self) -> u64 {
        NUM_SPAWN as u64
    }

    fn bench<R: Rt>(&self, b: &mut Bencher<'_>, rt: &R) {
        b.iter(|| {
            let latch = Latch::new(NUM_SPAWN);
            let spawner_latch = latch.clone();
            rt.block_on(async move {
                R::spawn(async move {
                    for i in 0..NUM_SPAWN {
                        let latch = spawner_latch.clone();
                        R::spawn(async move {
                            black_box(i);
                            latch.count_down();
                        });
                    }
                });
                latch.wait().await;
            });
        });
    }
}

fn spawn_many_local(c: &mut Criterion) {
    run_group(c, "spawn_many_local", &SpawnManyLocal);
}

criterion_group!(benches, spawn_many_local);
criterion_main!(benches);

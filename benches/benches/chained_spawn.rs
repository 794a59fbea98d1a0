//! `chained_spawn`: a chain of 1_000 tasks, each spawning the next; the last
//! opens a latch. Measures spawn-to-first-poll latency, one task at a time.

use std::sync::Arc;

use benches::{Latch, Rt, Workload, run_group};
use criterion::{Bencher, Criterion, criterion_group, criterion_main};

const CHAIN: usize = 1_000;

fn link<R: Rt>(latch: Arc<Latch>, left: usize) {
    if left == 0 {
        latch.count_down();
    } else {
        R::spawn(async move { link::<R>(latch, left - 1) });
    }
}

struct ChainedSpawn;

impl Workload for ChainedSpawn {
    fn elements(&self) -> u64 {
        CHAIN as u64
    }

    fn bench<R: Rt>(&self, b: &mut Bencher<'_>, rt: &R) {
        b.iter(|| {
            let latch = Latch::new(1);
            let first = latch.clone();
            rt.block_on(async move {
                R::spawn(async move { link::<R>(first, CHAIN - 1) });
                latch.wait().await;
            });
        });
    }
}

fn chained_spawn(c: &mut Criterion) {
    run_group(c, "chained_spawn", &ChainedSpawn);
}

criterion_group!(benches, chained_spawn);
criterion_main!(benches);

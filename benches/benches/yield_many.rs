//! `yield_many`: 200 tasks, spawned through the handle, each yield 200
//! times with the runtime's own `yield_now`; the bench waits on a countdown
//! latch. Throughput counts yields (200 × 200 per iteration).

use benches::{Latch, Rt, Workload, run_group};
use criterion::{Bencher, Criterion, criterion_group, criterion_main};

const TASKS: usize = 200;
const NUM_YIELD: usize = 200;

struct YieldMany;

impl Workload for YieldMany {
    fn elements(&self) -> u64 {
        (TASKS * NUM_YIELD) as u64
    }

    fn bench<R: Rt>(&self, b: &mut Bencher<'_>, rt: &R) {
        let handle = rt.handle();
        b.iter(|| {
            let latch = Latch::new(TASKS);
            for _ in 0..TASKS {
                let latch = latch.clone();
                R::spawn_on(&handle, async move {
                    for _ in 0..NUM_YIELD {
                        R::yield_now().await;
                    }
                    latch.count_down();
                });
            }
            rt.block_on(latch.wait());
        });
    }
}

fn yield_many(c: &mut Criterion) {
    run_group(c, "yield_many", &YieldMany);
}

criterion_group!(benches, yield_many);
criterion_main!(benches);

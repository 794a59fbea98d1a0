//! `blocking`: 10_000 small closures on the runtime's blocking pool
//! (spindle `run_in_executor`, tokio `spawn_blocking`), through
//! [`Rt::run_blocking`]. Throughput counts closures.
//!
//! * `blocking/burst`: one task submits all 10_000, then awaits them in
//!   order — the pool grows towards its cap (512 threads on both runtimes)
//!   and drains a deep queue.
//! * `blocking/concurrent8`: 8 tasks each submit one closure and await it,
//!   1_250 times in a row — the submit → run → wake round trip with a few
//!   threads busy, the common "call a blocking function from async code"
//!   pattern.

use std::hint::black_box;

use benches::{Latch, Rt, Workload, run_group};
use criterion::{Bencher, Criterion, criterion_group, criterion_main};

const CALLS: usize = 10_000;
const CALLERS: usize = 8;

/// The small piece of blocking work: a sum the optimiser cannot fold.
fn small_work(seed: usize) -> u64 {
    (0..100u64).map(|i| black_box(i ^ seed as u64)).sum()
}

struct Burst;

impl Workload for Burst {
    fn elements(&self) -> u64 {
        CALLS as u64
    }

    fn bench<R: Rt>(&self, b: &mut Bencher<'_>, rt: &R) {
        b.iter(|| {
            rt.block_on(async {
                let calls: Vec<_> = (0..CALLS)
                    .map(|i| R::run_blocking(move || small_work(i)))
                    .collect();
                let mut total = 0u64;
                for call in calls {
                    total = total.wrapping_add(call.await);
                }
                black_box(total);
            });
        });
    }
}

struct Concurrent;

impl Workload for Concurrent {
    fn elements(&self) -> u64 {
        CALLS as u64
    }

    fn bench<R: Rt>(&self, b: &mut Bencher<'_>, rt: &R) {
        b.iter(|| {
            let latch = Latch::new(CALLERS);
            rt.block_on(async {
                for c in 0..CALLERS {
                    let latch = latch.clone();
                    R::spawn(async move {
                        let mut total = 0u64;
                        for i in 0..CALLS / CALLERS {
                            let seed = c * CALLS + i;
                            total =
                                total.wrapping_add(R::run_blocking(move || small_work(seed)).await);
                        }
                        black_box(total);
                        latch.count_down();
                    });
                }
                latch.wait().await;
            });
        });
    }
}

fn blocking(c: &mut Criterion) {
    run_group(c, "blocking/burst", &Burst);
    run_group(c, "blocking/concurrent8", &Concurrent);
}

criterion_group!(benches, blocking);
criterion_main!(benches);

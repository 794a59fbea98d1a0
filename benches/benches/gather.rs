//! `gather`: one task (on a worker, in the parallel runtimes) gathers 10_000
//! small futures, each run as its own task, results in input order ([`Rt::gather`]: `spindle::gather`; on
//! tokio, spawn all, then await the handles in order — what `gather` does
//! without its abort-on-first-failure bookkeeping). Throughput counts
//! futures.

use std::hint::black_box;

use benches::{Rt, Workload, run_group};
use criterion::{Bencher, Criterion, criterion_group, criterion_main};

const FUTURES: usize = 10_000;

struct Gather;

impl Workload for Gather {
    fn elements(&self) -> u64 {
        FUTURES as u64
    }

    fn bench<R: Rt>(&self, b: &mut Bencher<'_>, rt: &R) {
        b.iter(|| {
            let (tx, rx) = benches::oneshot::<usize>();
            rt.block_on(async {
                R::spawn(async move {
                    let futs: Vec<_> = (0..FUTURES)
                        .map(|i| async move { black_box(i) * 2 })
                        .collect();
                    let out = R::gather(futs).await;
                    assert_eq!(out.len(), FUTURES);
                    tx.send(out[FUTURES - 1]);
                });
                assert_eq!(rx.await, Some((FUTURES - 1) * 2));
            });
        });
    }
}

fn gather(c: &mut Criterion) {
    run_group(c, "gather", &Gather);
}

criterion_group!(benches, gather);
criterion_main!(benches);

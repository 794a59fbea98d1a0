//! `gather`: one task (on a worker, in the parallel runtimes) gathers 10_000
//! small futures, each run as its own task, results in input order ([`Rt::gather`]: `spindle::gather`; on
//! tokio, spawn all, then await the handles in order — what `gather` does
//! without its abort-on-first-failure bookkeeping). Throughput counts
//! futures.
//!
//! `gather/oneshot_in_order` is the baseline: the same spawn-all-then-await-
//! in-order written once with the harness's `spawn` and `oneshot`, identical
//! code on every runtime, so only the scheduler differs; the gap between it
//! and `gather` on one runtime is that runtime's combinator overhead.

use std::hint::black_box;

use benches::{Rt, Workload, oneshot, run_group};
use criterion::{Bencher, Criterion, criterion_group, criterion_main};

const FUTURES: usize = 10_000;

struct Gather;

impl Workload for Gather {
    fn elements(&self) -> u64 {
        FUTURES as u64
    }

    fn bench<R: Rt>(&self, b: &mut Bencher<'_>, rt: &R) {
        b.iter(|| {
            let (tx, rx) = oneshot::<usize>();
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

struct OneshotInOrder;

impl Workload for OneshotInOrder {
    fn elements(&self) -> u64 {
        FUTURES as u64
    }

    fn bench<R: Rt>(&self, b: &mut Bencher<'_>, rt: &R) {
        b.iter(|| {
            let (tx, rx) = oneshot::<usize>();
            rt.block_on(async {
                R::spawn(async move {
                    let results: Vec<_> = (0..FUTURES)
                        .map(|i| {
                            let (tx, rx) = oneshot::<usize>();
                            R::spawn(async move { tx.send(black_box(i) * 2) });
                            rx
                        })
                        .collect();
                    let mut last = 0;
                    for rx in results {
                        last = rx.await.expect("task sent");
                    }
                    tx.send(last);
                });
                assert_eq!(rx.await, Some((FUTURES - 1) * 2));
            });
        });
    }
}

fn gather(c: &mut Criterion) {
    run_group(c, "gather", &Gather);
    run_group(c, "gather/oneshot_in_order", &OneshotInOrder);
}

criterion_group!(benches, gather);
criterion_main!(benches);

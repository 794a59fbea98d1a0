//! Channels between tasks. Throughput counts items.
//!
//! * `queue/native_4p1c`: 4 producer tasks × 1 consumer task move 100_000
//!   items through each runtime's own bounded channel of 1024
//!   ([`Rt::channel`]: `spindle::sync::Queue::new(1024)`, tokio's
//!   `sync::mpsc::channel(1024)`). One consumer because tokio's channel is
//!   single-consumer; spindle's `Queue` runs the same shape so the two
//!   compare like for like (channel and scheduler together).
//! * `queue/spindle_queue_4p4c`: the MPMC case, 4 producers × 4 consumers
//!   through one `spindle::sync::Queue::new(1024)` on every runtime. The
//!   queue is waker-based and runtime-agnostic, so here only the scheduler
//!   differs (off spindle its cooperative-budget check is a no-op). tokio
//!   has no MPMC channel of its own; this avoids adding a dependency (and a
//!   workspace lock-file change) just for one.

use std::hint::black_box;
use std::sync::Arc;

use benches::{Latch, Rt, Workload, run_group};
use criterion::{Bencher, Criterion, criterion_group, criterion_main};
use spindle::sync::Queue;

const ITEMS: usize = 100_000;
const PRODUCERS: usize = 4;
const CONSUMERS: usize = 4;
const CAPACITY: usize = 1024;

struct Native4p1c;

impl Workload for Native4p1c {
    fn elements(&self) -> u64 {
        ITEMS as u64
    }

    fn bench<R: Rt>(&self, b: &mut Bencher<'_>, rt: &R) {
        b.iter(|| {
            let done = Latch::new(1);
            let consumer_done = done.clone();
            rt.block_on(async {
                let (tx, mut rx) = R::channel::<usize>(CAPACITY);
                for p in 0..PRODUCERS {
                    let tx = tx.clone();
                    R::spawn(async move {
                        for i in 0..ITEMS / PRODUCERS {
                            R::send(&tx, p * ITEMS + i).await;
                        }
                    });
                }
                drop(tx);
                R::spawn(async move {
                    let mut sum = 0usize;
                    for _ in 0..ITEMS {
                        sum = sum.wrapping_add(R::recv(&mut rx).await);
                    }
                    black_box(sum);
                    consumer_done.count_down();
                });
                done.wait().await;
            });
        });
    }
}

struct SpindleQueue4p4c;

impl Workload for SpindleQueue4p4c {
    fn elements(&self) -> u64 {
        ITEMS as u64
    }

    fn bench<R: Rt>(&self, b: &mut Bencher<'_>, rt: &R) {
        b.iter(|| {
            let done = Latch::new(CONSUMERS);
            rt.block_on(async {
                let queue = Arc::new(Queue::<usize>::new(CAPACITY));
                for p in 0..PRODUCERS {
                    let queue = queue.clone();
                    R::spawn(async move {
                        for i in 0..ITEMS / PRODUCERS {
                            queue.put(p * ITEMS + i).await;
                        }
                    });
                }
                for _ in 0..CONSUMERS {
                    let queue = queue.clone();
                    let done = done.clone();
                    R::spawn(async move {
                        let mut sum = 0usize;
                        for _ in 0..ITEMS / CONSUMERS {
                            sum = sum.wrapping_add(queue.get().await);
                        }
                        black_box(sum);
                        done.count_down();
                    });
                }
                done.wait().await;
            });
        });
    }
}

fn queue(c: &mut Criterion) {
    run_group(c, "queue/native_4p1c", &Native4p1c);
    run_group(c, "queue/spindle_queue_4p4c", &SpindleQueue4p4c);
}

criterion_group!(benches, queue);
criterion_main!(benches);

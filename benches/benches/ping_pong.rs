//! `ping_pong`: a task spawns 1_000 tasks; each spawns a partner, sends it a
//! ping through a one-shot channel and awaits the pong through another. The
//! channel is `benches::oneshot`, the same code on every runtime.
//! Throughput counts pairs.

use std::hint::black_box;

use benches::{Latch, Rt, Workload, oneshot, run_group};
use criterion::{Bencher, Criterion, criterion_group, criterion_main};

const NUM_PINGS: usize = 1_000;

struct PingPong;

impl Workload for PingPong {
    fn elements(&self) -> u64 {
        NUM_PINGS as u64
    }

    fn bench<R: Rt>(&self, b: &mut Bencher<'_>, rt: &R) {
        b.iter(|| {
            let latch = Latch::new(NUM_PINGS);
            let spawner_latch = latch.clone();
            rt.block_on(async move {
                R::spawn(async move {
                    for i in 0..NUM_PINGS {
                        let latch = spawner_latch.clone();
                        R::spawn(async move {
                            let (ping_tx, ping_rx) = oneshot::<usize>();
                            let (pong_tx, pong_rx) = oneshot::<usize>();
                            R::spawn(async move {
                                let ping = ping_rx.await.expect("ping sent");
                                pong_tx.send(ping + 1);
                            });
                            ping_tx.send(black_box(i));
                            let pong = pong_rx.await.expect("pong sent");
                            assert_eq!(pong, i + 1);
                            latch.count_down();
                        });
                    }
                });
                latch.wait().await;
            });
        });
    }
}

fn ping_pong(c: &mut Criterion) {
    run_group(c, "ping_pong", &PingPong);
}

criterion_group!(benches, ping_pong);
criterion_main!(benches);

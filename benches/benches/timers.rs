//! `timers`: the timer wheel under two loads, on spindle (both modes;
//! parallel also with the monitor off) and tokio (both flavors) in one run.
//!
//! * `timers/insert_cancel`: 1 000 tasks each run 10 `timeout(1 s, yield)`:
//!   every timeout registers a timer (the inner yield is pending on its
//!   first poll) and cancels it when the inner future wins. Throughput
//!   counts timers (10 000 per iteration); nothing ever fires.
//! * `timers/fire_1ms`: 1 000 tasks each sleep 1 ms once. Throughput counts
//!   fired timers; the time is dominated by the 1 ms wait plus each
//!   runtime's timer resolution and wake-up latency.
//!
//! The workload is one macro body per runtime: both crates have
//! `time::{sleep, timeout}`, `spawn` and `task::yield_now`-style yields.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const TASKS: usize = 1_000;
const TIMEOUTS_PER_TASK: usize = 10;
/// Worker threads of the multi-threaded runtimes (the CI box has 2 cores).
const WORKERS: usize = 2;

/// Benchmarks both timer loads on `$rt` with `$krate`'s time and spawn.
macro_rules! timers_on {
    ($c:expr, $name:literal, $rt:expr, $krate:ident, $yield_now:path) => {{
        let rt = $rt;
        let mut group = $c.benchmark_group("timers/insert_cancel");
        group
            .sample_size(20)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
            .throughput(Throughput::Elements((TASKS * TIMEOUTS_PER_TASK) as u64));
        group.bench_function($name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let tasks: Vec<_> = (0..TASKS)
                        .map(|_| {
                            $krate::spawn(async {
                                for _ in 0..TIMEOUTS_PER_TASK {
                                    let out =
                                        $krate::time::timeout(Duration::from_secs(1), $yield_now())
                                            .await;
                                    assert!(out.is_ok());
                                }
                            })
                        })
                        .collect();
                    for t in tasks {
                        t.await.unwrap();
                    }
                })
            })
        });
        group.finish();
        let mut group = $c.benchmark_group("timers/fire_1ms");
        group
            .sample_size(20)
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
            .throughput(Throughput::Elements(TASKS as u64));
        group.bench_function($name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let tasks: Vec<_> = (0..TASKS)
                        .map(|_| $krate::spawn($krate::time::sleep(Duration::from_millis(1))))
                        .collect();
                    for t in tasks {
                        t.await.unwrap();
                    }
                })
            })
        });
        group.finish();
    }};
}

fn timers(c: &mut Criterion) {
    timers_on!(
        c,
        "spindle/single",
        spindle::Builder::single_thread().build().unwrap(),
        spindle,
        spindle::yield_now
    );
    timers_on!(
        c,
        "spindle/parallel",
        spindle::Builder::parallel()
            .worker_threads(WORKERS)
            .build()
            .unwrap(),
        spindle,
        spindle::yield_now
    );
    timers_on!(
        c,
        "spindle/parallel_nomonitor",
        spindle::Builder::parallel()
            .worker_threads(WORKERS)
            .monitor(false)
            .build()
            .unwrap(),
        spindle,
        spindle::yield_now
    );
    timers_on!(
        c,
        "tokio/current_thread",
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
        tokio,
        tokio::task::yield_now
    );
    timers_on!(
        c,
        "tokio/multi_thread",
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .enable_all()
            .build()
            .unwrap(),
        tokio,
        tokio::task::yield_now
    );
}

criterion_group!(benches, timers);
criterion_main!(benches);

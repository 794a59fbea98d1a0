//! Blocking work off the async workers: `run_in_executor` on the runtime's
//! blocking pool, and a dedicated `ThreadPool` for CPU-bound work, while a
//! ticker task shows that the workers stay responsive.
//!
//! ```text
//! cargo run --release -p examples --example run_in_executor -- --mode single
//! ```

use std::time::{Duration, Instant};

use spindle::{ThreadPool, run_in_executor, spawn};

fn cpu_work(n: u64) -> u64 {
    (0..n).fold(0u64, |acc, x| {
        acc.wrapping_mul(31).wrapping_add(x ^ (x >> 3))
    })
}

async fn demo() {
    let ticker = spawn(async {
        let start = Instant::now();
        let mut ticks = 0;
        while start.elapsed() < Duration::from_millis(300) {
            spindle::time::sleep(Duration::from_millis(10)).await;
            ticks += 1;
        }
        ticks
    });

    let t0 = Instant::now();
    let sleeps: Vec<_> = (0..8)
        .map(|i| {
            run_in_executor(move || {
                std::thread::sleep(Duration::from_millis(100));
                i
            })
        })
        .collect();
    let mut ids = Vec::new();
    for s in sleeps {
        ids.push(s.await.unwrap());
    }
    println!(
        "8 blocking sleeps of 100 ms on the blocking pool: {ids:?} in {:?}",
        t0.elapsed()
    );

    let cpu = ThreadPool::new(2);
    let t0 = Instant::now();
    let jobs: Vec<_> = (0..4)
        .map(|i| cpu.run_in_executor(move || cpu_work(20_000_000 + i)))
        .collect();
    for j in jobs {
        let _ = j.await.unwrap();
    }
    println!(
        "4 CPU jobs on a dedicated 2-thread pool in {:?}",
        t0.elapsed()
    );

    let err = run_in_executor(|| panic!("a blocking closure panicked"))
        .await
        .unwrap_err();
    println!(
        "a panicking closure gives a JoinError: is_panic = {}",
        err.is_panic()
    );

    println!(
        "meanwhile the ticker task ticked {} times (every 10 ms)",
        ticker.await.unwrap()
    );
}

fn main() {
    examples::run_demo(demo);
}

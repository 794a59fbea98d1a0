//! asyncio's combinators on spindle: `gather`, `gather!`, `wait`,
//! `as_completed`, `wait_for` and `TaskGroup`, in the mode given on the
//! command line.
//!
//! ```text
//! cargo run --release -p examples --example gather_wait -- --mode single
//! cargo run --release -p examples --example gather_wait -- --mode parallel
//! ```

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use spindle::time::sleep;
use spindle::{ReturnWhen, TaskGroup, as_completed, gather, spawn, wait, wait_for};

/// A fake fetch: sleeps `ms` milliseconds, then returns its id.
async fn fetch(id: u32, ms: u64) -> u32 {
    sleep(Duration::from_millis(ms)).await;
    id
}

async fn demo() {
    let t0 = Instant::now();
    let ids = gather((0..5).map(|i| fetch(i, 100 - 20 * u64::from(i))))
        .await
        .unwrap();
    println!(
        "gather:        {ids:?} (input order, finished in reverse) in {:?}",
        t0.elapsed()
    );

    let (n, s) = spindle::gather!(fetch(7, 30), async { "text" })
        .await
        .unwrap();
    println!("gather!:       ({n}, {s:?})");

    let tasks: Vec<_> = [300, 10, 200]
        .iter()
        .enumerate()
        .map(|(i, &ms)| spawn(fetch(i as u32, ms)))
        .collect();
    let done = wait(
        tasks,
        ReturnWhen::FirstCompleted,
        Some(Duration::from_secs(1)),
    )
    .await;
    println!(
        "wait:          {} done, {} pending after the first completed",
        done.done.len(),
        done.pending.len()
    );

    let order: Vec<u32> = as_completed(done.pending)
        .map(|r| r.unwrap())
        .collect()
        .await;
    println!("as_completed:  {order:?} (completion order)");

    match wait_for(Duration::from_millis(50), fetch(9, 1_000)).await {
        Ok(id) => println!("wait_for:      finished {id}"),
        Err(elapsed) => println!("wait_for:      {elapsed}"),
    }

    let mut group = TaskGroup::new();
    for i in 0..3 {
        group.spawn(fetch(i, 20));
    }
    group.spawn(async { panic!("one task of the group fails") });
    match group.join().await {
        Ok(v) => println!("TaskGroup:     {v:?}"),
        Err(e) => println!("TaskGroup:     {e} -> the other tasks were cancelled"),
    }
}

fn main() {
    examples::run_demo(demo);
}

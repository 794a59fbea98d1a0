//! Live task introspection: a workload of named tasks runs while a plain
//! thread prints `Handle::all_tasks()` as a table every 250 ms. One task
//! blocks its worker in a long poll now and then; the table shows it as
//! `BlockedInPoll`, and the slow-poll reports name it.
//!
//! ```text
//! cargo run --release -p examples --example introspect
//! ```

use std::time::{Duration, Instant};

use spindle::task::{self, TaskInfo};
use spindle::time::sleep;
use spindle::{Builder, Mode};

fn table(tasks: &[TaskInfo]) -> String {
    let mut out = String::from(
        "  id    name            state           polls   busy ms  longest ms  age ms\n",
    );
    for t in tasks {
        let ms = |d: Option<Duration>| {
            d.map_or("-".to_owned(), |d| format!("{:.1}", d.as_secs_f64() * 1e3))
        };
        out += &format!(
            "  {:<5} {:<15} {:<15} {:>6} {:>9} {:>11} {:>7}\n",
            t.id.as_u64(),
            t.name.as_deref().unwrap_or("-"),
            format!("{:?}", t.state),
            t.polls,
            ms(t.busy),
            ms(t.longest_poll),
            t.age.as_millis(),
        );
    }
    out
}

fn main() {
    let rt = Builder::new(Mode::Parallel)
        .worker_threads(2)
        .slow_poll_threshold(Duration::from_millis(100))
        .build()
        .expect("runtime");
    let handle = rt.handle().clone();
    let printer = std::thread::spawn(move || {
        let start = Instant::now();
        while start.elapsed() < Duration::from_millis(1600) {
            std::thread::sleep(Duration::from_millis(250));
            let mut tasks = handle.all_tasks();
            tasks.sort_by_key(|t| t.id);
            println!(
                "t = {:>4} ms\n{}",
                start.elapsed().as_millis(),
                table(&tasks)
            );
        }
    });
    rt.block_on(async {
        let ticker = task::Builder::new().name("ticker").spawn(async {
            for _ in 0..150 {
                sleep(Duration::from_millis(10)).await;
            }
        });
        let crunchers: Vec<_> = (0..2)
            .map(|i| {
                task::Builder::new()
                    .name(format!("cruncher-{i}"))
                    .spawn(async {
                        let mut x = 1u64;
                        for _ in 0..3000 {
                            for _ in 0..20_000 {
                                x = x
                                    .wrapping_mul(6364136223846793005)
                                    .wrapping_add(1442695040888963407);
                            }
                            spindle::yield_now().await;
                        }
                        x
                    })
            })
            .collect();
        let blocker = task::Builder::new().name("blocker").spawn(async {
            for _ in 0..3 {
                sleep(Duration::from_millis(200)).await;
                // A blocking call inside async code: the mistake this tool finds.
                std::thread::sleep(Duration::from_millis(300));
            }
        });
        ticker.await.unwrap();
        blocker.await.unwrap();
        for c in crunchers {
            c.await.unwrap();
        }
    });
    printer.join().unwrap();
}

//! idle_memory: bytes of resident memory per parked task. 100 000 tasks each
//! wait on one shared notification (`spindle::sync::Event` / tokio's
//! `Notify`); RSS is read from `/proc/self/statm` before spawning and once
//! every task has parked. Each runtime is measured in a fresh child process
//! (this binary re-run with `--measure NAME`), so one runtime's freed
//! memory cannot be reused by the next.
//!
//! ```text
//! cargo bench -p benches --bench idle_memory
//! ```

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

const TASKS: usize = 100_000;
const WORKERS: usize = 2;

/// Resident set size in bytes (Linux).
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn measure_spindle(mode: spindle::Mode) -> f64 {
    let rt = spindle::Builder::new(mode)
        .worker_threads(WORKERS)
        .build()
        .unwrap();
    rt.block_on(async {
        let event = Arc::new(spindle::sync::Event::new());
        // Warm up the allocator and the runtime's structures.
        spindle::spawn(async {}).await.unwrap();
        let before = rss();
        let handles: Vec<_> = (0..TASKS)
            .map(|_| {
                let e = event.clone();
                spindle::spawn(async move { e.wait().await })
            })
            .collect();
        spindle::time::sleep(Duration::from_millis(200)).await;
        let after = rss();
        event.set();
        for h in handles {
            h.await.unwrap();
        }
        (after - before) as f64 / TASKS as f64
    })
}

fn measure_tokio(multi: bool) -> f64 {
    let rt = if multi {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .enable_all()
            .build()
            .unwrap()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    rt.block_on(async {
        let notify = Arc::new(tokio::sync::Notify::new());
        tokio::spawn(async {}).await.unwrap();
        let before = rss();
        let handles: Vec<_> = (0..TASKS)
            .map(|_| {
                let n = notify.clone();
                tokio::spawn(async move { n.notified().await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let after = rss();
        notify.notify_waiters();
        for h in handles {
            h.await.unwrap();
        }
        (after - before) as f64 / TASKS as f64
    })
}

const RUNTIMES: [&str; 4] = [
    "spindle/single",
    "spindle/parallel",
    "tokio/current_thread",
    "tokio/multi_thread",
];

fn measure(name: &str) -> f64 {
    match name {
        "spindle/single" => measure_spindle(spindle::Mode::SingleThread),
        "spindle/parallel" => measure_spindle(spindle::Mode::Parallel),
        "tokio/current_thread" => measure_tokio(false),
        "tokio/multi_thread" => measure_tokio(true),
        other => panic!("unknown runtime {other}"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(pos) = args.iter().position(|a| a == "--measure") {
        println!("{}", measure(&args[pos + 1]));
        return;
    }
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let mut results = Vec::new();
    for name in RUNTIMES {
        let out = Command::new(&exe)
            .args(["--measure", name])
            .output()
            .expect("run child");
        let text = String::from_utf8_lossy(&out.stdout);
        let bytes: f64 = text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}: {text}"));
        results.push((name, bytes));
    }
    println!("\n| runtime | bytes per parked task |\n|---|---|");
    for (name, bytes) in &results {
        println!("| {name} | {bytes:.0} |");
    }
    let ratio = |s: usize, t: usize| results[s].1 / results[t].1;
    println!(
        "\nspindle/tokio: single vs current_thread {:.2}, parallel vs multi_thread {:.2} (lower is better)",
        ratio(0, 2),
        ratio(1, 3)
    );
}

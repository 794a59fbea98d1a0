//! `timers`: the timer wheel under load, on spindle (both modes; parallel
//! also with the monitor off) and tokio (both flavors) in one run.
//!
//! First the spec figures, printed as a markdown table (plain code, not
//! criterion):
//!
//! * `spread`: 100 000 concurrent tasks each sleep once, for a duration
//!   drawn uniformly from 1–100 ms (µs granularity, a fixed xorshift seed, so
//!   every runtime gets the very same durations). Each task takes
//!   `deadline = Instant::now() + d` at its first poll, awaits
//!   `sleep_until(deadline)` and records `oversleep = wake − deadline`
//!   (signed: a negative value is a timer that fired early, which must never
//!   happen). Per runtime: wall time from the first spawn until every task
//!   has finished, mean / p50 / p99 / max oversleep, and the count of early
//!   wake-ups. Two diagnostic columns: when the spawning loop ended, and
//!   when the last task was first polled (deadlines that fall before the
//!   runtime has got through that first-poll backlog cannot fire on time,
//!   which is what the oversleep tail mostly measures). `TIMERS_REPS` passes per runtime (default 3), after one
//!   small warm-up pass. `TIMERS_CRITERION_ONLY=1` skips this pass (the
//!   report's later rounds do).
//!
//! Then the criterion groups:
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
//! `time::{sleep, sleep_until, timeout}`, `spawn` and `yield_now`-style
//! yields. The deadline is a `std::time::Instant` for both (spindle's
//! `time::Instant` is std's; tokio's converts with `Instant::from_std`).
//!
//! Note that tokio's timer has 1 ms granularity and rounds deadlines up to
//! its next tick, so its oversleep includes up to 1 ms of rounding by design;
//! spindle's wheel resolves 100 µs and uses a timerfd for sub-ms deadlines.
//!
//! Run: `cargo bench -p benches --bench timers`.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};

const TASKS: usize = 1_000;
const TIMEOUTS_PER_TASK: usize = 10;
/// Worker threads of the multi-threaded runtimes (the CI box has 2 cores).
const WORKERS: usize = 2;

/// Concurrent sleeps of the spec pass.
const SPREAD_SLEEPS: usize = 100_000;
/// Shortest and longest sleep of the spec pass, in µs (uniform in between).
const SPREAD_MIN_US: u64 = 1_000;
const SPREAD_MAX_US: u64 = 100_000;
/// Sleeps of the warm-up pass that precedes the measured ones.
const WARM_UP_SLEEPS: usize = 10_000;

/// Deterministic xorshift64 durations, uniform over
/// `[SPREAD_MIN_US, SPREAD_MAX_US]` µs.
fn durations(n: usize) -> Vec<Duration> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let span = SPREAD_MAX_US - SPREAD_MIN_US + 1;
            Duration::from_micros(SPREAD_MIN_US + x % span)
        })
        .collect()
}

/// What one spec pass measured.
struct Spread {
    wall: Duration,
    /// From the first spawn until the spawning loop is done.
    spawned: Duration,
    /// From the first spawn until the last task's first poll (its deadline
    /// taken and its timer registered).
    last_first_poll: Duration,
    /// Oversleep per task in ns (negative: fired early), sorted.
    oversleep_ns: Vec<i64>,
}

/// Signed `a − b` in ns.
fn signed_ns(a: Instant, b: Instant) -> i64 {
    if a >= b {
        i64::try_from((a - b).as_nanos()).unwrap_or(i64::MAX)
    } else {
        -i64::try_from((b - a).as_nanos()).unwrap_or(i64::MAX)
    }
}

/// One spec pass on `$rt` (a runtime with `block_on`) with `$krate`'s
/// `spawn`; `$sleep_until` maps a `std::time::Instant` to a sleep future.
macro_rules! spread_on {
    ($rt:expr, $krate:ident, $sleep_until:expr, $durs:expr) => {{
        let durs: &[Duration] = $durs;
        $rt.block_on(async {
            let start = Instant::now();
            let tasks: Vec<_> = durs
                .iter()
                .map(|&d| {
                    $krate::spawn(async move {
                        let first_poll = Instant::now();
                        let deadline = first_poll + d;
                        $sleep_until(deadline).await;
                        (signed_ns(Instant::now(), deadline), first_poll)
                    })
                })
                .collect();
            let spawned = start.elapsed();
            let mut last_first_poll = start;
            let mut oversleep_ns = Vec::with_capacity(tasks.len());
            for t in tasks {
                let (oversleep, first_poll) = t.await.unwrap();
                oversleep_ns.push(oversleep);
                last_first_poll = last_first_poll.max(first_poll);
            }
            let wall = start.elapsed();
            oversleep_ns.sort_unstable();
            Spread {
                wall,
                spawned,
                last_first_poll: last_first_poll - start,
                oversleep_ns,
            }
        })
    }};
}

fn quantile(sorted: &[i64], q: f64) -> i64 {
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn row(name: &str, rep: usize, out: &Spread) {
    let s = &out.oversleep_ns;
    let mean = s.iter().map(|&v| v as f64).sum::<f64>() / s.len() as f64;
    let early = s.iter().filter(|&&v| v < 0).count();
    println!(
        "| {name} | {rep} | {:.1} | {:.1} | {:.1} | {:.0} | {:.0} | {:.0} | {:.0} | {early} |",
        out.wall.as_secs_f64() * 1e3,
        out.spawned.as_secs_f64() * 1e3,
        out.last_first_poll.as_secs_f64() * 1e3,
        mean / 1e3,
        quantile(s, 0.50) as f64 / 1e3,
        quantile(s, 0.99) as f64 / 1e3,
        *s.last().expect("at least one sleep") as f64 / 1e3,
    );
}

/// The spec pass on every runtime: warm-up, then `reps` measured passes.
fn spread_table() {
    let reps: usize = std::env::var("TIMERS_REPS")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(3);
    let durs = durations(SPREAD_SLEEPS);
    let warm = &durs[..WARM_UP_SLEEPS];
    println!(
        "\ntimers/spread: {SPREAD_SLEEPS} concurrent sleeps, uniform {}-{} ms, {reps} passes per runtime\n",
        SPREAD_MIN_US / 1000,
        SPREAD_MAX_US / 1000
    );
    println!(
        "| runtime | pass | wall ms | spawned ms | last first poll ms | mean oversleep µs | p50 µs | p99 µs | max µs | early |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let spindle_sleep = |d: Instant| spindle::time::sleep_until(d);
    let tokio_sleep = |d: Instant| tokio::time::sleep_until(tokio::time::Instant::from_std(d));
    macro_rules! each {
        ($name:literal, $rt:expr, $krate:ident, $sleep:expr) => {{
            let rt = $rt;
            spread_on!(rt, $krate, $sleep, warm);
            for rep in 1..=reps {
                let out = spread_on!(rt, $krate, $sleep, &durs);
                row($name, rep, &out);
            }
        }};
    }
    each!(
        "spindle/single",
        spindle::Builder::single_thread().build().unwrap(),
        spindle,
        spindle_sleep
    );
    each!(
        "spindle/parallel",
        spindle::Builder::parallel()
            .worker_threads(WORKERS)
            .build()
            .unwrap(),
        spindle,
        spindle_sleep
    );
    each!(
        "spindle/parallel_nomonitor",
        spindle::Builder::parallel()
            .worker_threads(WORKERS)
            .monitor(false)
            .build()
            .unwrap(),
        spindle,
        spindle_sleep
    );
    each!(
        "tokio/current_thread",
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
        tokio,
        tokio_sleep
    );
    each!(
        "tokio/multi_thread",
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .enable_all()
            .build()
            .unwrap(),
        tokio,
        tokio_sleep
    );
    println!();
}

/// Benchmarks both criterion timer loads on `$rt` with `$krate`'s time and
/// spawn.
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

fn main() {
    // The spec figures first, then the criterion groups (what
    // `criterion_main!` would run). `TIMERS_SPREAD_ONLY=1` skips criterion,
    // `TIMERS_CRITERION_ONLY=1` the spec figures (the report's later rounds).
    if std::env::var_os("TIMERS_CRITERION_ONLY").is_none() {
        spread_table();
    }
    if std::env::var_os("TIMERS_SPREAD_ONLY").is_some() {
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    timers(&mut c);
    c.final_summary();
}

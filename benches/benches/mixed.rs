//! `mixed` (the monitor's showcase): a CPU-bound service saturates the
//! workers while a TCP echo on 127.0.0.1 measures round-trip latency.
//!
//! On each runtime, `W` CPU tasks (`W` = `BENCH_WORKERS`, default 2) each
//! loop `busy(30 ms); yield_now().await` — 30 ms inside one poll without
//! yielding — until the run ends. Meanwhile one client task sends a 64-byte
//! message to one server task over a loopback TCP connection (nodelay) and
//! reads the echo, back to back, timing each round trip, for 6 s (after
//! 100 ms for the CPU tasks to take the workers). Criterion's time per
//! iteration is not the figure here, so this is a plain main that prints a
//! markdown table: round trips, p50/p99/max latency (µs), round trips/s and
//! CPU bursts/s (the CPU service's own throughput, to see what the latency
//! costs it).
//!
//! Expectation: when a worker is stuck in a 30 ms poll, tasks queued behind
//! it wait. tokio leaves them there (its LIFO slot cannot be stolen), so its
//! p99 should be about a burst; spindle's monitor hands the stuck worker's
//! queue to a spare thread after `handoff_after` (10 ms). The single-thread
//! runtimes are there for reference: everything waits behind every burst.
//!
//! `MIXED_SECS` and `MIXED_BURST_MS` override the run length per runtime and
//! the burst length. Run: `cargo bench -p benches --bench mixed`.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use benches::{Rt, Spindle, Tokio, workers};

const MESSAGE: usize = 64;
const WARM_UP: Duration = Duration::from_millis(100);
/// Round trips kept at most per runtime (memory bound on fast runtimes).
const MAX_ROUND_TRIPS: usize = 2_000_000;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(default)
}

/// Spins for `dur` without yielding: the CPU-bound part of a request.
fn busy(dur: Duration) {
    let start = Instant::now();
    let mut x = 0u64;
    while start.elapsed() < dur {
        for i in 0..1_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(black_box(i));
        }
    }
    black_box(x);
}

/// One CPU task: bursts of `burst`, yielding between them, until `stop`.
async fn cpu_service<R: Rt>(burst: Duration, stop: Arc<AtomicBool>, bursts: Arc<AtomicUsize>) {
    while !stop.load(Ordering::Relaxed) {
        busy(burst);
        bursts.fetch_add(1, Ordering::Relaxed);
        R::yield_now().await;
    }
}

/// What one runtime's run measured.
struct Outcome {
    /// Round-trip latencies, sorted.
    samples: Vec<Duration>,
    /// Time the client spent measuring.
    measured: Duration,
    /// CPU bursts completed while the client was measuring.
    bursts: usize,
}

/// The workload on `$rt` (an [`Rt`] wrapper of a `$krate` runtime), using
/// `$krate`'s `net`, `io`, `time::sleep` and `spawn` — the two crates have
/// the same shapes, so both run the very same code.
macro_rules! mixed_on {
    ($rt:expr, $wrapper:ty, $krate:ident, $workers:expr, $burst:expr, $run_for:expr) => {{
        use $krate::io::{AsyncReadExt, AsyncWriteExt};
        let rt: $wrapper = $rt;
        let (workers, burst, run_for) = ($workers, $burst, $run_for);
        rt.block_on(async move {
            let stop = Arc::new(AtomicBool::new(false));
            let bursts = Arc::new(AtomicUsize::new(0));
            let cpu: Vec<_> = (0..workers)
                .map(|_| {
                    $krate::spawn(cpu_service::<$wrapper>(burst, stop.clone(), bursts.clone()))
                })
                .collect();

            let listener = $krate::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = $krate::spawn(async move {
                let (stream, _) = listener.accept().await.unwrap();
                stream.set_nodelay(true).unwrap();
                let (mut rd, mut wr) = stream.into_split();
                let mut buf = [0u8; MESSAGE];
                while rd.read_exact(&mut buf).await.is_ok() {
                    if wr.write_all(&buf).await.is_err() {
                        return;
                    }
                }
            });
            let client_bursts = bursts.clone();
            let client = $krate::spawn(async move {
                let mut stream = $krate::net::TcpStream::connect(addr).await.unwrap();
                stream.set_nodelay(true).unwrap();
                $krate::time::sleep(WARM_UP).await;
                let bursts_before = client_bursts.load(Ordering::Relaxed);
                let mut samples = Vec::with_capacity(1 << 16);
                let mut buf = [7u8; MESSAGE];
                let start = Instant::now();
                while start.elapsed() < run_for && samples.len() < MAX_ROUND_TRIPS {
                    let t0 = Instant::now();
                    stream.write_all(&buf).await.unwrap();
                    stream.read_exact(&mut buf).await.unwrap();
                    samples.push(t0.elapsed());
                }
                let measured = start.elapsed();
                let bursts = client_bursts.load(Ordering::Relaxed) - bursts_before;
                (samples, measured, bursts)
            });
            let (mut samples, measured, bursts) = client.await.unwrap();
            stop.store(true, Ordering::Relaxed);
            for task in cpu {
                task.await.unwrap();
            }
            // The client's stream is gone, so the server's read fails.
            server.await.unwrap();
            samples.sort_unstable();
            Outcome {
                samples,
                measured,
                bursts,
            }
        })
    }};
}

fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn micros(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1e6)
}

fn row(name: &str, out: &Outcome) {
    let s = &out.samples;
    let secs = out.measured.as_secs_f64();
    println!(
        "| {name} | {} | {} | {} | {} | {:.0} | {:.1} |",
        s.len(),
        micros(quantile(s, 0.50)),
        micros(quantile(s, 0.99)),
        micros(*s.last().expect("at least one round trip")),
        s.len() as f64 / secs,
        out.bursts as f64 / secs,
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    let w = workers();
    let burst = Duration::from_millis(env_u64("MIXED_BURST_MS", 30));
    let run_for = Duration::from_secs(env_u64("MIXED_SECS", 6));
    println!(
        "mixed: W = {w} CPU tasks of {} ms bursts, TCP echo for {} s per runtime\n",
        burst.as_millis(),
        run_for.as_secs()
    );
    println!("| runtime | round trips | p50 µs | p99 µs | max µs | round trips/s | CPU bursts/s |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let out = mixed_on!(
        Spindle::new(spindle::Mode::SingleThread, w),
        Spindle,
        spindle,
        w,
        burst,
        run_for
    );
    row("spindle/single", &out);
    let out = mixed_on!(
        Spindle::parallel(w, true),
        Spindle,
        spindle,
        w,
        burst,
        run_for
    );
    row("spindle/parallel", &out);
    let out = mixed_on!(
        Spindle::parallel(w, false),
        Spindle,
        spindle,
        w,
        burst,
        run_for
    );
    row("spindle/parallel_nomonitor", &out);
    let out = mixed_on!(Tokio::current_thread(), Tokio, tokio, w, burst, run_for);
    row("tokio/current_thread", &out);
    let out = mixed_on!(Tokio::multi_thread(w), Tokio, tokio, w, burst, run_for);
    row("tokio/multi_thread", &out);
}

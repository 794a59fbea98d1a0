//! The demo: one CPU+IO service, run unchanged in both execution modes.
//!
//! ```text
//! cargo run --release -p examples --example mixed
//! cargo run --release -p examples --example mixed -- --seconds 5 --clients 128 --workers 4
//! ```
//!
//! The service is a TCP server on loopback. Each request carries a payload;
//! the server hashes it (CPU work: [`HASH_ROUNDS`] rounds over the bytes),
//! appends a record to a log file through `run_in_executor` (a blocking
//! write, off the async workers), and answers with the hash. A load
//! generator of many concurrent clients sends requests for a fixed time and
//! records each round trip. `service()` is the same function in both runs;
//! only the `Builder` line differs. The program ends with a table of both
//! runs and the speed-up of parallel over single-threaded execution.

use std::fs::OpenOptions;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use spindle::io::{AsyncReadExt, AsyncWriteExt};
use spindle::net::{TcpListener, TcpStream};
use spindle::{Builder, Mode, run_in_executor, spawn};

/// Rounds of the payload hash: about 0.2 ms of CPU per request on a 2020s
/// core, so the service is CPU-bound enough for parallelism to show.
const HASH_ROUNDS: u32 = 64;
/// Bytes per request payload.
const PAYLOAD: usize = 1024;

struct Options {
    seconds: f64,
    clients: usize,
    workers: usize,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        seconds: 4.0,
        clients: 64,
        workers: num_cpus(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--seconds" => o.seconds = value.parse().map_err(|e| bad(&e))?,
            "--clients" => o.clients = value.parse().map_err(|e| bad(&e))?,
            "--workers" => o.workers = value.parse().map_err(|e| bad(&e))?,
            _ => {
                return Err(format!(
                    "unknown flag {flag}\nusage: mixed [--seconds S] [--clients N] [--workers N]"
                ));
            }
        }
    }
    Ok(o)
}

fn num_cpus() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// FNV-1a over the payload, `HASH_ROUNDS` times, each round seeded by the
/// last: a stand-in for hashing or compressing a request body.
fn hash(payload: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for round in 0..HASH_ROUNDS {
        h ^= u64::from(round);
        for &b in payload {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// What one run measured.
struct Report {
    mode: Mode,
    requests: u64,
    elapsed: Duration,
    latencies_us: Vec<u64>,
    cpu: Duration,
    logged: u64,
}

/// The service and its load generator: identical in both modes.
async fn service(
    clients: usize,
    run_for: Duration,
    log_path: std::path::PathBuf,
) -> (u64, Vec<u64>, u64) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let log = Arc::new(Mutex::new(
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("log"),
    ));
    let logged = Arc::new(AtomicU64::new(0));
    let server = {
        let (log, logged) = (log.clone(), logged.clone());
        spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    break;
                };
                spawn(serve(stream, log.clone(), logged.clone()));
            }
        })
    };
    let stop = Arc::new(AtomicBool::new(false));
    let loaders: Vec<_> = (0..clients)
        .map(|c| spawn(client(addr, c as u64, stop.clone())))
        .collect();
    let progress = spawn({
        let stop = stop.clone();
        let logged = logged.clone();
        async move {
            let start = Instant::now();
            while !stop.load(Relaxed) {
                spindle::time::sleep(Duration::from_millis(500)).await;
                eprint!(
                    "\r  {:>5.1}s  {:>8} requests served",
                    start.elapsed().as_secs_f64(),
                    logged.load(Relaxed)
                );
            }
            eprintln!();
        }
    });
    spindle::time::sleep(run_for).await;
    stop.store(true, Relaxed);
    let mut latencies = Vec::new();
    for l in loaders {
        latencies.extend(l.await.expect("client task"));
    }
    progress.await.expect("progress task");
    server.abort();
    let requests = latencies.len() as u64;
    (requests, latencies, logged.load(Relaxed))
}

/// One connection: read a length-prefixed payload, hash it, log it through
/// the blocking pool, answer with the hash.
async fn serve(mut stream: TcpStream, log: Arc<Mutex<std::fs::File>>, logged: Arc<AtomicU64>) {
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; PAYLOAD];
    while stream.read_exact(&mut buf).await.is_ok() {
        let digest = hash(&buf);
        let log = log.clone();
        let written = run_in_executor(move || {
            let mut file = log.lock().unwrap_or_else(|e| e.into_inner());
            writeln!(file, "{digest:016x}").is_ok()
        });
        if !written.await.unwrap_or(false) {
            break;
        }
        logged.fetch_add(1, Relaxed);
        if stream.write_all(&digest.to_le_bytes()).await.is_err() {
            break;
        }
    }
}

/// A client: send a payload, wait for its hash, check it, repeat until
/// told to stop. Returns its round-trip latencies in microseconds.
async fn client(addr: SocketAddr, seed: u64, stop: Arc<AtomicBool>) -> Vec<u64> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let _ = stream.set_nodelay(true);
    let mut payload = vec![0u8; PAYLOAD];
    let mut x = seed | 1;
    let mut latencies = Vec::new();
    let mut reply = [0u8; 8];
    while !stop.load(Relaxed) {
        for b in payload.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        let start = Instant::now();
        if stream.write_all(&payload).await.is_err() || stream.read_exact(&mut reply).await.is_err()
        {
            break;
        }
        latencies.push(start.elapsed().as_micros() as u64);
        assert_eq!(
            u64::from_le_bytes(reply),
            hash(&payload),
            "wrong hash from the server"
        );
    }
    latencies
}

/// User + system CPU time of this process so far (Linux `/proc`).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    // Linux reports in USER_HZ, 100 on every mainstream architecture.
    Duration::from_millis(ticks * 10)
}

fn run_mode(mode: Mode, o: &Options) -> Report {
    let rt = Builder::new(mode)
        .worker_threads(o.workers)
        .build()
        .expect("runtime");
    let log_path =
        std::env::temp_dir().join(format!("spindle-mixed-{}-{mode:?}.log", std::process::id()));
    eprintln!("{mode:?}: {} clients for {:.1}s", o.clients, o.seconds);
    let cpu0 = cpu_time();
    let start = Instant::now();
    let (requests, latencies_us, logged) = rt.block_on(service(
        o.clients,
        Duration::from_secs_f64(o.seconds),
        log_path.clone(),
    ));
    let elapsed = start.elapsed();
    drop(rt);
    let cpu = cpu_time().saturating_sub(cpu0);
    let _ = std::fs::remove_file(log_path);
    Report {
        mode,
        requests,
        elapsed,
        latencies_us,
        cpu,
        logged,
    }
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    println!(
        "spindle mixed demo: one TCP service (hash {PAYLOAD} B x {HASH_ROUNDS} rounds + blocking log write per request)"
    );
    println!("the same `service()` runs under both modes; only the Builder differs\n");
    let reports: Vec<Report> = [Mode::SingleThread, Mode::Parallel]
        .into_iter()
        .map(|m| run_mode(m, &o))
        .collect();
    println!(
        "\n| mode         | workers | requests | req/s    | p50 us | p99 us | max us | CPU s | logged |"
    );
    println!(
        "|--------------|---------|----------|----------|--------|--------|--------|-------|--------|"
    );
    let mut rates = Vec::new();
    for r in &reports {
        let mut l = r.latencies_us.clone();
        l.sort_unstable();
        let rate = r.requests as f64 / r.elapsed.as_secs_f64();
        rates.push(rate);
        let workers = if r.mode == Mode::Parallel {
            o.workers
        } else {
            1
        };
        println!(
            "| {:<12} | {:>7} | {:>8} | {:>8.0} | {:>6} | {:>6} | {:>6} | {:>5.2} | {:>6} |",
            format!("{:?}", r.mode),
            workers,
            r.requests,
            rate,
            percentile(&l, 0.50),
            percentile(&l, 0.99),
            l.last().copied().unwrap_or(0),
            r.cpu.as_secs_f64(),
            r.logged,
        );
    }
    println!(
        "\nspeed-up of Parallel over SingleThread: {:.2}x",
        rates[1] / rates[0].max(1e-9)
    );
}

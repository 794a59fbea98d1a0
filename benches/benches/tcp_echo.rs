//! `tcp_echo`: 16 persistent loopback connections, each doing 100 ping-pong
//! round trips of a 64-byte message per iteration, on spindle (both modes;
//! parallel also with the monitor off) and tokio (both flavors) in one
//! criterion group. Throughput counts round
//! trips (16 × 100 per iteration).
//!
//! The workload is one macro body instantiated per runtime: the two crates
//! expose the same shapes (`net::TcpListener::bind`, `accept`, `into_split`,
//! `read_exact`/`write_all` from their `io` extension traits, `spawn`), so
//! both run the very same code and only the runtime differs. Connections and
//! the echo server are set up once, outside the measured loop.
//!
//! After the criterion group, a latency pass (plain code) prints a markdown
//! table per runtime: `LAT_CONNECTIONS` (64) connections each do
//! `LAT_WARM_UP` (100) unrecorded round trips, then `LAT_ROUND_TRIPS` (1 000)
//! recorded ones, timing every round trip (`Instant` around
//! `write_all` + `read_exact`). Reported: msgs/s (recorded round trips over
//! the wall time from the start of the recorded phase until the last
//! connection finished), p50, p99 and max round-trip latency in µs.
//! `TCP_ECHO_REPS` passes per runtime (default 3, alternating between the
//! runtimes so that a slow spell of the machine hits them all; 0 skips the pass, e.g. to
//! profile criterion alone); `TCP_ECHO_LATENCY_ONLY=1` skips criterion;
//! `TCP_ECHO_ONLY=<part of a runtime name>` runs the pass on the matching
//! runtimes only (for `perf stat` of one runtime).
//!
//! Run: `cargo bench -p benches --bench tcp_echo`.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};

const CONNECTIONS: usize = 16;
const ROUND_TRIPS: usize = 100;
const MESSAGE: usize = 64;
/// Worker threads of the multi-threaded runtimes (the CI box has 2 cores).
const WORKERS: usize = 2;

/// Connections of the latency pass.
const LAT_CONNECTIONS: usize = 64;
/// Recorded round trips per connection in the latency pass.
const LAT_ROUND_TRIPS: usize = 1_000;
/// Unrecorded round trips per connection before the recorded ones.
const LAT_WARM_UP: usize = 100;

/// Benchmarks the echo workload on `$rt` (a runtime with `block_on`), using
/// the crate `$krate`'s `net`, `io` and `spawn`.
macro_rules! echo_on {
    ($group:expr, $name:literal, $rt:expr, $krate:ident) => {{
        use $krate::io::{AsyncReadExt, AsyncWriteExt};
        let rt = $rt;
        let mut clients: Vec<Option<$krate::net::TcpStream>> = rt.block_on(async {
            let listener = $krate::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            $krate::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    stream.set_nodelay(true).unwrap();
                    $krate::spawn(async move {
                        let (mut rd, mut wr) = stream.into_split();
                        let mut buf = [0u8; MESSAGE];
                        while rd.read_exact(&mut buf).await.is_ok() {
                            if wr.write_all(&buf).await.is_err() {
                                return;
                            }
                        }
                    });
                }
            });
            let mut clients = Vec::new();
            for _ in 0..CONNECTIONS {
                let stream = $krate::net::TcpStream::connect(addr).await.unwrap();
                stream.set_nodelay(true).unwrap();
                clients.push(Some(stream));
            }
            clients
        });
        $group.bench_function($name, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let tasks: Vec<_> = clients
                        .iter_mut()
                        .map(|slot| {
                            let mut stream = slot.take().unwrap();
                            $krate::spawn(async move {
                                let mut buf = [7u8; MESSAGE];
                                for _ in 0..ROUND_TRIPS {
                                    stream.write_all(&buf).await.unwrap();
                                    stream.read_exact(&mut buf).await.unwrap();
                                }
                                stream
                            })
                        })
                        .collect();
                    for (slot, task) in clients.iter_mut().zip(tasks) {
                        *slot = Some(task.await.unwrap());
                    }
                })
            })
        });
        drop(clients);
        drop(rt);
    }};
}

fn tcp_echo(c: &mut Criterion) {
    let mut group = c.benchmark_group("tcp_echo");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements((CONNECTIONS * ROUND_TRIPS) as u64));
    echo_on!(
        group,
        "spindle/single",
        spindle::Builder::single_thread().build().unwrap(),
        spindle
    );
    echo_on!(
        group,
        "spindle/parallel",
        spindle::Builder::parallel()
            .worker_threads(WORKERS)
            .build()
            .unwrap(),
        spindle
    );
    echo_on!(
        group,
        "spindle/parallel_nomonitor",
        spindle::Builder::parallel()
            .worker_threads(WORKERS)
            .monitor(false)
            .build()
            .unwrap(),
        spindle
    );
    echo_on!(
        group,
        "tokio/current_thread",
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
        tokio
    );
    echo_on!(
        group,
        "tokio/multi_thread",
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .enable_all()
            .build()
            .unwrap(),
        tokio
    );
    group.finish();
}

/// What one latency pass measured.
struct Latency {
    /// Every recorded round trip, sorted.
    samples: Vec<Duration>,
    /// From the start of the recorded phase until the last connection is done.
    wall: Duration,
}

/// One latency pass on `$rt` with `$krate`'s `net`, `io` and `spawn`: a
/// fresh echo server and `LAT_CONNECTIONS` connections, all warmed up (every
/// warm-up task joined) before the recorded phase starts, then every round
/// trip timed.
macro_rules! latency_on {
    ($rt:expr, $krate:ident) => {{
        use $krate::io::{AsyncReadExt, AsyncWriteExt};
        $rt.block_on(async {
            let listener = $krate::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = $krate::spawn(async move {
                let mut conns = Vec::new();
                for _ in 0..LAT_CONNECTIONS {
                    let (stream, _) = listener.accept().await.unwrap();
                    stream.set_nodelay(true).unwrap();
                    conns.push($krate::spawn(async move {
                        let (mut rd, mut wr) = stream.into_split();
                        let mut buf = [0u8; MESSAGE];
                        while rd.read_exact(&mut buf).await.is_ok() {
                            if wr.write_all(&buf).await.is_err() {
                                return;
                            }
                        }
                    }));
                }
                for c in conns {
                    c.await.unwrap();
                }
            });
            let mut streams = Vec::with_capacity(LAT_CONNECTIONS);
            for _ in 0..LAT_CONNECTIONS {
                let stream = $krate::net::TcpStream::connect(addr).await.unwrap();
                stream.set_nodelay(true).unwrap();
                streams.push(stream);
            }
            // Warm-up: every connection, to completion, before recording.
            let warm: Vec<_> = streams
                .into_iter()
                .map(|mut stream| {
                    $krate::spawn(async move {
                        let mut buf = [7u8; MESSAGE];
                        for _ in 0..LAT_WARM_UP {
                            stream.write_all(&buf).await.unwrap();
                            stream.read_exact(&mut buf).await.unwrap();
                        }
                        stream
                    })
                })
                .collect();
            let mut streams = Vec::with_capacity(LAT_CONNECTIONS);
            for t in warm {
                streams.push(t.await.unwrap());
            }
            let start = Instant::now();
            let tasks: Vec<_> = streams
                .into_iter()
                .map(|mut stream| {
                    $krate::spawn(async move {
                        let mut samples = Vec::with_capacity(LAT_ROUND_TRIPS);
                        let mut buf = [7u8; MESSAGE];
                        for _ in 0..LAT_ROUND_TRIPS {
                            let t0 = Instant::now();
                            stream.write_all(&buf).await.unwrap();
                            stream.read_exact(&mut buf).await.unwrap();
                            samples.push(t0.elapsed());
                        }
                        samples
                    })
                })
                .collect();
            let mut samples = Vec::with_capacity(LAT_CONNECTIONS * LAT_ROUND_TRIPS);
            for t in tasks {
                samples.extend(t.await.unwrap());
            }
            let wall = start.elapsed();
            // The client streams are gone, so every echo task's read fails.
            server.await.unwrap();
            samples.sort_unstable();
            Latency { samples, wall }
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

fn row(name: &str, rep: usize, out: &Latency) {
    let s = &out.samples;
    println!(
        "| {name} | {rep} | {:.0} | {} | {} | {} |",
        s.len() as f64 / out.wall.as_secs_f64(),
        micros(quantile(s, 0.50)),
        micros(quantile(s, 0.99)),
        micros(*s.last().expect("at least one round trip")),
    );
}

/// One runtime's latency pass, ready to run again.
type Pass = Box<dyn FnMut() -> Latency>;

/// The latency pass on every runtime (or those `TCP_ECHO_ONLY` names),
/// `TCP_ECHO_REPS` times each. The passes alternate between the runtimes
/// (every runtime's first pass, then every runtime's second, ...), all
/// built up front, so that a slow spell of the machine, which lasts
/// seconds, lands on all of them rather than on one runtime's passes.
fn latency_table() {
    let reps: usize = std::env::var("TCP_ECHO_REPS")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(3);
    if reps == 0 {
        return;
    }
    println!(
        "\ntcp_echo/latency: {LAT_CONNECTIONS} connections x {LAT_ROUND_TRIPS} round trips of {MESSAGE} B \
         (after {LAT_WARM_UP} warm-up round trips each), {reps} passes per runtime, \
         alternating between the runtimes\n"
    );
    let only = std::env::var("TCP_ECHO_ONLY").unwrap_or_default();
    let mut runtimes: Vec<(&str, Pass)> = Vec::new();
    macro_rules! add {
        ($name:literal, $rt:expr, $krate:ident) => {{
            if $name.contains(only.as_str()) {
                let rt = $rt;
                runtimes.push(($name, Box::new(move || latency_on!(rt, $krate))));
            }
        }};
    }
    add!(
        "spindle/single",
        spindle::Builder::single_thread().build().unwrap(),
        spindle
    );
    add!(
        "spindle/parallel",
        spindle::Builder::parallel()
            .worker_threads(WORKERS)
            .build()
            .unwrap(),
        spindle
    );
    add!(
        "spindle/parallel_nomonitor",
        spindle::Builder::parallel()
            .worker_threads(WORKERS)
            .monitor(false)
            .build()
            .unwrap(),
        spindle
    );
    add!(
        "tokio/current_thread",
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
        tokio
    );
    add!(
        "tokio/multi_thread",
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(WORKERS)
            .enable_all()
            .build()
            .unwrap(),
        tokio
    );
    let mut results: Vec<Vec<Latency>> = runtimes.iter().map(|_| Vec::new()).collect();
    for _ in 0..reps {
        for ((_, pass), out) in runtimes.iter_mut().zip(&mut results) {
            out.push(pass());
        }
    }
    println!("| runtime | pass | msgs/s | p50 µs | p99 µs | max µs |");
    println!("|---|---:|---:|---:|---:|---:|");
    for ((name, _), outs) in runtimes.iter().zip(&results) {
        for (rep, out) in outs.iter().enumerate() {
            row(name, rep + 1, out);
        }
    }
    println!();
}

fn main() {
    // What `criterion_main!` would run, then the latency pass.
    if std::env::var_os("TCP_ECHO_LATENCY_ONLY").is_none() {
        let mut c = Criterion::default().configure_from_args();
        tcp_echo(&mut c);
        c.final_summary();
    }
    latency_table();
}

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

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const CONNECTIONS: usize = 16;
const ROUND_TRIPS: usize = 100;
const MESSAGE: usize = 64;
/// Worker threads of the multi-threaded runtimes (the CI box has 2 cores).
const WORKERS: usize = 2;

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

criterion_group!(benches, tcp_echo);
criterion_main!(benches);

//! Churn: thousands of short TCP connections with random early drops and
//! checksummed payloads; timers created and cancelled at random. Both modes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use spindle::io::{AsyncReadExt, AsyncWriteExt};
use spindle::net::{TcpListener, TcpStream};
use spindle::sync::Semaphore;
use spindle::time::sleep;
use spindle::{spawn, wait_for};
use tests::{both_modes, rand};

const CONNECTIONS: usize = 2_000;
/// Connections open at once.
const CONCURRENT: usize = 64;

fn checksum(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The server: reads a length-prefixed payload and answers with its
/// checksum; a peer that goes away early just ends its task.
async fn serve(mut stream: TcpStream) {
    let mut len = [0u8; 4];
    if stream.read_exact(&mut len).await.is_err() {
        return;
    }
    let mut data = vec![0u8; u32::from_le_bytes(len) as usize];
    if stream.read_exact(&mut data).await.is_err() {
        return;
    }
    let _ = stream.write_all(&checksum(&data).to_le_bytes()).await;
}

/// One client: random payload, dropped early one time in five.
async fn client(
    addr: SocketAddr,
    seed: u64,
    verified: Arc<AtomicUsize>,
    dropped: Arc<AtomicUsize>,
) {
    let r = rand(seed);
    let data: Vec<u8> = (0..(r % 4096) as usize)
        .map(|i| rand(seed ^ i as u64) as u8)
        .collect();
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(&(data.len() as u32).to_le_bytes())
        .await
        .unwrap();
    if r.is_multiple_of(5) {
        // Drop halfway through the payload.
        stream.write_all(&data[..data.len() / 2]).await.unwrap();
        dropped.fetch_add(1, SeqCst);
        return;
    }
    stream.write_all(&data).await.unwrap();
    let mut sum = [0u8; 8];
    stream.read_exact(&mut sum).await.unwrap();
    assert_eq!(
        u64::from_le_bytes(sum),
        checksum(&data),
        "payload {seed} corrupted"
    );
    verified.fetch_add(1, SeqCst);
}

#[test]
fn thousands_of_short_connections_with_early_drops_keep_every_payload_intact() {
    both_modes(|mode| async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.expect("accept");
                spawn(serve(stream));
            }
        });
        let (verified, dropped) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let slots = Arc::new(Semaphore::new(CONCURRENT));
        let mut clients = Vec::with_capacity(CONNECTIONS);
        for seed in 0..CONNECTIONS as u64 {
            let permit = slots.clone().acquire_owned().await;
            let (v, d) = (verified.clone(), dropped.clone());
            clients.push(spawn(async move {
                client(addr, seed, v, d).await;
                drop(permit);
            }));
        }
        for c in clients {
            c.await.unwrap();
        }
        server.abort();
        let (v, d) = (verified.load(SeqCst), dropped.load(SeqCst));
        assert_eq!(v + d, CONNECTIONS, "{mode:?}");
        assert!(d > 0 && v > 0, "{mode:?}");
    });
}

#[test]
fn timers_created_and_cancelled_at_random_fire_only_when_due() {
    both_modes(|mode| async move {
        let fired = Arc::new(AtomicUsize::new(0));
        let cancelled = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..5_000u64)
            .map(|i| {
                let r = rand(i);
                let (fired, cancelled) = (fired.clone(), cancelled.clone());
                spawn(async move {
                    let due = Duration::from_micros(r % 40_000);
                    let limit = Duration::from_micros(rand(r) % 40_000);
                    let start = Instant::now();
                    match wait_for(limit, sleep(due)).await {
                        Ok(()) => {
                            assert!(start.elapsed() >= due, "a timer fired early");
                            fired.fetch_add(1, SeqCst);
                        }
                        Err(_) => {
                            assert!(start.elapsed() >= limit, "a timeout fired early");
                            cancelled.fetch_add(1, SeqCst);
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let (f, c) = (fired.load(SeqCst), cancelled.load(SeqCst));
        assert_eq!(f + c, 5_000, "{mode:?}");
        assert!(f > 0 && c > 0, "{mode:?}");
    });
}

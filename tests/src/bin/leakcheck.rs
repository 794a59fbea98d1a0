//! A workload for valgrind's memcheck (`.ci/run` runs it with
//! `--leak-check=full --error-exitcode=1`): spawn, abort, panic, pinned
//! tasks, IO, timers, blocking calls, and runtimes dropped with tasks still
//! pending, in both modes. Sized to finish in well under a minute under
//! valgrind.

use std::sync::Arc;
use std::time::Duration;

use spindle::io::{AsyncReadExt, AsyncWriteExt};
use spindle::net::{TcpListener, TcpStream};
use spindle::sync::{Event, Queue};
use spindle::{Builder, Mode, run_in_executor, spawn, spawn_local, yield_now};

async fn workload() {
    // Tasks that finish, are aborted, or panic.
    let handles: Vec<_> = (0..500u64)
        .map(|i| {
            let h = spawn(async move {
                yield_now().await;
                if i % 50 == 0 {
                    panic!("leakcheck panic");
                }
                i
            });
            if i % 7 == 0 {
                h.abort();
            }
            h
        })
        .collect();
    for h in handles {
        let _ = h.await;
    }
    // A pinned task holding an Rc.
    let rc = std::rc::Rc::new(3);
    assert_eq!(spawn_local(async move { *rc }).await.unwrap(), 3);
    // IO: a few echo round trips.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            spawn(async move {
                let mut buf = [0u8; 32];
                while s.read_exact(&mut buf).await.is_ok() {
                    if s.write_all(&buf).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    for _ in 0..5 {
        let mut c = TcpStream::connect(addr).await.unwrap();
        let mut buf = [9u8; 32];
        for _ in 0..10 {
            c.write_all(&buf).await.unwrap();
            c.read_exact(&mut buf).await.unwrap();
        }
    }
    server.abort();
    // Timers, a timeout, blocking calls, a queue.
    spindle::time::sleep(Duration::from_millis(2)).await;
    assert!(
        spindle::wait_for(Duration::from_millis(1), std::future::pending::<()>())
            .await
            .is_err()
    );
    let sums: Vec<_> = (0..20u64).map(|i| run_in_executor(move || i * 2)).collect();
    for s in sums {
        s.await.unwrap();
    }
    let q = Arc::new(Queue::new(4));
    let producer = {
        let q = q.clone();
        spawn(async move {
            for i in 0..50 {
                q.put(i).await;
            }
        })
    };
    for _ in 0..50 {
        q.get().await;
    }
    producer.await.unwrap();
    // Left pending for the runtime's drop to cancel.
    let never = Arc::new(Event::new());
    for _ in 0..100 {
        let n = never.clone();
        drop(spawn(async move { n.wait().await }));
    }
    yield_now().await;
}

fn main() {
    std::panic::set_hook(Box::new(|_| {}));
    for mode in [Mode::SingleThread, Mode::Parallel] {
        let rt = Builder::new(mode)
            .worker_threads(2)
            .build()
            .expect("runtime");
        rt.block_on(workload());
        drop(rt);
    }
    println!("leakcheck: done");
}

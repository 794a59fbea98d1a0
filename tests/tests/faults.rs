//! Shutdown under load, and faults: panicking `Drop`s, panicking wakers,
//! wakers that outlive their task. Both modes.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use spindle::net::UdpSocket;
use spindle::sync::Lock;
use spindle::time::sleep;
use spindle::{JoinHandle, run_in_executor, spawn, yield_now};
use tests::{MODES, both_modes, runtime};

/// Counts its drops.
struct Guard(Arc<AtomicUsize>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Tasks per kind of wait in the shutdown test.
const PER_KIND: usize = 2_500;

#[test]
fn dropping_a_runtime_under_load_resolves_every_handle_and_drops_every_future_once() {
    for mode in MODES {
        let rt = runtime(mode);
        let drops = Arc::new(AtomicUsize::new(0));
        let handles: Vec<JoinHandle<()>> = rt.block_on(async {
            let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
            let lock = Arc::new(Lock::new(0u32));
            let holder = {
                let lock = lock.clone();
                spawn(async move {
                    let _held = lock.lock().await;
                    std::future::pending::<()>().await;
                })
            };
            let mut handles = vec![holder];
            for i in 0..4 * PER_KIND {
                let guard = Guard(drops.clone());
                let (socket, lock) = (socket.clone(), lock.clone());
                handles.push(spawn(async move {
                    let _guard = guard;
                    match i % 4 {
                        0 => drop(socket.recv(&mut [0u8; 16]).await),
                        1 => sleep(Duration::from_secs(3600)).await,
                        2 => drop(lock.lock().await),
                        _ => drop(
                            run_in_executor(|| std::thread::sleep(Duration::from_millis(20))).await,
                        ),
                    }
                    std::future::pending::<()>().await;
                }));
            }
            // Let every task reach its wait.
            for _ in 0..20 {
                yield_now().await;
            }
            sleep(Duration::from_millis(50)).await;
            handles
        });
        let start = Instant::now();
        rt.shutdown_timeout(Duration::from_secs(10));
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{mode:?}: shutdown hung"
        );
        assert_eq!(
            drops.load(SeqCst),
            4 * PER_KIND,
            "{mode:?}: every future dropped exactly once"
        );
        for h in handles {
            assert!(h.is_finished(), "{mode:?}");
            let err = futures_util::FutureExt::now_or_never(h)
                .expect("resolved")
                .unwrap_err();
            assert!(err.is_cancelled(), "{mode:?}: {err:?}");
        }
    }
}

/// Panics when dropped.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("panic in Drop");
    }
}

#[test]
fn a_future_whose_drop_panics_is_a_join_error_on_abort_and_harmless_at_shutdown() {
    for mode in MODES {
        let rt = runtime(mode);
        rt.block_on(async {
            let p = PanicOnDrop;
            let h = spawn(async move {
                let _p = p;
                std::future::pending::<()>().await;
            });
            yield_now().await;
            h.abort();
            assert!(
                h.await.unwrap_err().is_panic(),
                "{mode:?}: the Drop's panic is the error"
            );
            assert_eq!(
                spawn(async { 5 }).await.unwrap(),
                5,
                "{mode:?}: the runtime goes on"
            );
            for _ in 0..10 {
                let p = PanicOnDrop;
                drop(spawn(async move {
                    let _p = p;
                    std::future::pending::<()>().await;
                }));
            }
            yield_now().await;
        });
        drop(rt);
    }
}

/// A waker that panics when woken.
struct PanickingWaker;

impl Wake for PanickingWaker {
    fn wake(self: Arc<Self>) {
        panic!("panicking waker");
    }
}

#[test]
fn a_panicking_join_waker_does_not_take_down_the_runtime() {
    both_modes(|mode| async move {
        let gate = Arc::new(spindle::sync::Event::new());
        let g = gate.clone();
        let mut h = spawn(async move { g.wait().await });
        // Register a waker that panics as the join handle's waker.
        let waker = Waker::from(Arc::new(PanickingWaker));
        assert!(
            Pin::new(&mut h)
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
        );
        gate.set();
        let start = Instant::now();
        while !h.is_finished() && start.elapsed() < Duration::from_secs(5) {
            yield_now().await;
        }
        assert!(h.is_finished(), "{mode:?}");
        for i in 0..100 {
            assert_eq!(
                spawn(async move { i }).await.unwrap(),
                i,
                "{mode:?}: workers still run tasks"
            );
        }
    });
}

#[test]
fn a_waker_woken_after_its_task_finished_does_nothing() {
    both_modes(|mode| async move {
        let kept: Arc<Mutex<Option<Waker>>> = Arc::default();
        let k = kept.clone();
        spawn(std::future::poll_fn(move |cx| {
            *k.lock().unwrap() = Some(cx.waker().clone());
            Poll::Ready(())
        }))
        .await
        .unwrap();
        let waker = kept.lock().unwrap().take().unwrap();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let w = waker.clone();
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        w.wake_by_ref();
                    }
                    w.wake();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(waker);
        assert_eq!(spawn(async { 1 }).await.unwrap(), 1, "{mode:?}");
    });
}

#[test]
fn a_panicking_io_waker_does_not_take_down_the_thread_driving_the_poller() {
    both_modes(|mode| async move {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        {
            let mut buf = [0u8; 8];
            let mut recv = Box::pin(socket.recv(&mut buf));
            let waker = Waker::from(Arc::new(PanickingWaker));
            assert!(
                recv.as_mut()
                    .poll(&mut Context::from_waker(&waker))
                    .is_pending()
            );
            let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            sender.send_to(b"ping", addr).await.unwrap();
            // The reactor wakes the panicking waker when the datagram lands.
            sleep(Duration::from_millis(50)).await;
        }
        for i in 0..100 {
            assert_eq!(
                spawn(async move { i }).await.unwrap(),
                i,
                "{mode:?}: the runtime still runs tasks"
            );
        }
        sleep(Duration::from_millis(5)).await;
        let mut buf = [0u8; 8];
        let n = spindle::wait_for(Duration::from_secs(5), socket.recv(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&buf[..n], b"ping", "{mode:?}: IO still works");
    });
}

#[test]
fn thread_creation_failure_is_an_io_error_from_build() {
    // A stack larger than the address space: creating the worker fails.
    let err = spindle::Builder::parallel()
        .worker_threads(2)
        .thread_stack_size(1 << 48)
        .build()
        .expect_err("no thread can have a 256 TiB stack");
    assert!(!err.to_string().is_empty());
    // The process is fine, and a sane runtime builds and runs.
    let rt = runtime(spindle::Mode::Parallel);
    assert_eq!(rt.block_on(async { spawn(async { 4 }).await.unwrap() }), 4);
}

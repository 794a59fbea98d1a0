//! Shared helpers for the scheduler benches.
//!
//! Every workload runs on four runtimes in one criterion group, so a single
//! `cargo bench` run puts them side by side:
//!
//! * `spindle/single`: [`spindle::Mode::SingleThread`]
//! * `spindle/parallel`: [`spindle::Mode::Parallel`], `W` workers
//! * `tokio/current_thread`
//! * `tokio/multi_thread`: `W` workers
//!
//! `W` is 2 unless the `BENCH_WORKERS` environment variable says otherwise.
//!
//! A workload is written once, generic over [`Rt`]; the synchronisation it
//! needs ([`Latch`], [`oneshot`]) is plain `std` code here, so both runtimes
//! run the very same futures and only the scheduler differs.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::{Bencher, Criterion, Throughput};

/// Worker threads of the two multi-threaded runtimes: `BENCH_WORKERS`, or 2.
pub fn workers() -> usize {
    std::env::var("BENCH_WORKERS")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(2)
}

/// A runtime under test: what the workloads need from it.
pub trait Rt: Sized + 'static {
    /// A `Send` handle to spawn on the runtime from any thread.
    type Handle: Clone + Send + 'static;

    /// Runs `fut` to completion on the calling thread.
    fn block_on<F: Future>(&self, fut: F) -> F::Output;

    /// A handle to the runtime.
    fn handle(&self) -> Self::Handle;

    /// Spawns a detached task through `handle`, from any thread.
    fn spawn_on<F>(handle: &Self::Handle, fut: F)
    where
        F: Future<Output = ()> + Send + 'static;

    /// Spawns a detached task on the current runtime (inside a task or
    /// `block_on`).
    fn spawn<F>(fut: F)
    where
        F: Future<Output = ()> + Send + 'static;

    /// The runtime's own `yield_now`.
    fn yield_now() -> impl Future<Output = ()> + Send;
}

/// A spindle runtime, either mode.
#[derive(Debug)]
pub struct Spindle(pub spindle::Runtime);

impl Spindle {
    /// A runtime of `mode` with `workers` worker threads (parallel mode).
    pub fn new(mode: spindle::Mode, workers: usize) -> Spindle {
        let rt = spindle::Builder::new(mode)
            .worker_threads(workers)
            .thread_name("bench")
            .build()
            .expect("build spindle runtime");
        Spindle(rt)
    }
}

impl Rt for Spindle {
    type Handle = spindle::Handle;

    fn block_on<F: Future>(&self, fut: F) -> F::Output {
        self.0.block_on(fut)
    }

    fn handle(&self) -> spindle::Handle {
        self.0.handle().clone()
    }

    fn spawn_on<F>(handle: &spindle::Handle, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(handle.spawn(fut));
    }

    fn spawn<F>(fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(spindle::spawn(fut));
    }

    fn yield_now() -> impl Future<Output = ()> + Send {
        spindle::yield_now()
    }
}

/// A tokio runtime, either flavor.
#[derive(Debug)]
pub struct Tokio(pub tokio::runtime::Runtime);

impl Tokio {
    /// A current-thread runtime.
    pub fn current_thread() -> Tokio {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("build tokio runtime");
        Tokio(rt)
    }

    /// A multi-thread runtime with `workers` worker threads.
    pub fn multi_thread(workers: usize) -> Tokio {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .expect("build tokio runtime");
        Tokio(rt)
    }
}

impl Rt for Tokio {
    type Handle = tokio::runtime::Handle;

    fn block_on<F: Future>(&self, fut: F) -> F::Output {
        self.0.block_on(fut)
    }

    fn handle(&self) -> tokio::runtime::Handle {
        self.0.handle().clone()
    }

    fn spawn_on<F>(handle: &tokio::runtime::Handle, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(handle.spawn(fut));
    }

    fn spawn<F>(fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        drop(tokio::spawn(fut));
    }

    fn yield_now() -> impl Future<Output = ()> + Send {
        tokio::task::yield_now()
    }
}

/// One workload, written once for every runtime.
pub trait Workload {
    /// Elements per iteration, for criterion's throughput.
    fn elements(&self) -> u64;

    /// Benchmarks one iteration of the workload on `rt` (set-up outside
    /// `b.iter`).
    fn bench<R: Rt>(&self, b: &mut Bencher<'_>, rt: &R);
}

/// Runs `workload` on the four runtimes in one criterion group `name`. Each
/// runtime is built before its benchmark and dropped after it, so only one
/// runtime's threads exist at a time.
pub fn run_group<W: Workload>(c: &mut Criterion, name: &str, workload: &W) {
    let w = workers();
    let mut group = c.benchmark_group(name);
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(workload.elements()));

    {
        let rt = Spindle::new(spindle::Mode::SingleThread, w);
        group.bench_function("spindle/single", |b| workload.bench(b, &rt));
    }
    {
        let rt = Spindle::new(spindle::Mode::Parallel, w);
        group.bench_function("spindle/parallel", |b| workload.bench(b, &rt));
    }
    {
        let rt = Tokio::current_thread();
        group.bench_function("tokio/current_thread", |b| workload.bench(b, &rt));
    }
    {
        let rt = Tokio::multi_thread(w);
        group.bench_function("tokio/multi_thread", |b| workload.bench(b, &rt));
    }
    group.finish();
}

/// A countdown latch: `count_down` `n` times, and `wait` resolves. The
/// atomic counter plus notification of tokio's `rt_multi_threaded` benches,
/// but awaitable, so it also works on single-threaded runtimes (where a
/// blocking `recv` inside `block_on` would deadlock).
#[derive(Debug)]
pub struct Latch {
    remaining: AtomicUsize,
    done: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl Latch {
    /// A latch that opens after `n` count-downs (`n` = 0: already open).
    pub fn new(n: usize) -> Arc<Latch> {
        Arc::new(Latch {
            remaining: AtomicUsize::new(n),
            done: AtomicBool::new(n == 0),
            waker: Mutex::new(None),
        })
    }

    /// Counts down by one; the last count-down wakes the waiter.
    pub fn count_down(&self) {
        if self.remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.done.store(true, Ordering::Release);
            let waker = self.waker.lock().unwrap().take();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }

    /// Resolves once the count reaches zero.
    pub fn wait(&self) -> LatchWait<'_> {
        LatchWait { latch: self }
    }
}

/// The future of [`Latch::wait`].
#[derive(Debug)]
pub struct LatchWait<'a> {
    latch: &'a Latch,
}

impl Future for LatchWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let latch = self.latch;
        if latch.done.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        let mut slot = latch.waker.lock().unwrap();
        // Checked again under the lock: `count_down` sets `done` before it
        // takes the lock, so either it sees this waker or this sees `done`.
        if latch.done.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        match &mut *slot {
            Some(w) if w.will_wake(cx.waker()) => {}
            other => *other = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

struct OneshotState<T> {
    value: Option<T>,
    waker: Option<Waker>,
    closed: bool,
}

/// A minimal waker-based one-shot channel (`Mutex<Option<T>>` plus the
/// receiver's waker), identical for every runtime.
pub fn oneshot<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Mutex::new(OneshotState {
        value: None,
        waker: None,
        closed: false,
    }));
    (
        Sender {
            shared: Some(shared.clone()),
        },
        Receiver { shared },
    )
}

/// The sending half of [`oneshot`].
pub struct Sender<T> {
    /// Taken by `send`, so `Drop` only closes an unsent channel.
    shared: Option<Arc<Mutex<OneshotState<T>>>>,
}

/// The receiving half of [`oneshot`]: a future of `Some(value)`, or `None`
/// if the sender was dropped without sending.
pub struct Receiver<T> {
    shared: Arc<Mutex<OneshotState<T>>>,
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}

impl<T> Sender<T> {
    /// Sends `value` and wakes the receiver.
    pub fn send(mut self, value: T) {
        let Some(shared) = self.shared.take() else {
            return;
        };
        let waker = {
            let mut state = shared.lock().unwrap();
            state.value = Some(value);
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let Some(shared) = self.shared.take() else {
            return;
        };
        let waker = {
            let mut state = shared.lock().unwrap();
            state.closed = true;
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut state = self.shared.lock().unwrap();
        if let Some(value) = state.value.take() {
            return Poll::Ready(Some(value));
        }
        if state.closed {
            return Poll::Ready(None);
        }
        match &mut state.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            other => *other = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every workload helper on every runtime, quickly.
    fn smoke<R: Rt>(rt: &R) {
        let latch = Latch::new(100);
        rt.block_on(async {
            for _ in 0..100 {
                let latch = latch.clone();
                R::spawn(async move {
                    let (tx, rx) = oneshot::<u32>();
                    R::spawn(async move {
                        R::yield_now().await;
                        tx.send(7);
                    });
                    assert_eq!(rx.await, Some(7));
                    latch.count_down();
                });
            }
            latch.wait().await;
        });
        let (tx, rx) = oneshot::<u32>();
        drop(tx);
        assert_eq!(rt.block_on(rx), None);
    }

    #[test]
    fn helpers_work_on_all_runtimes() {
        smoke(&Spindle::new(spindle::Mode::SingleThread, 2));
        smoke(&Spindle::new(spindle::Mode::Parallel, 2));
        smoke(&Tokio::current_thread());
        smoke(&Tokio::multi_thread(2));
    }
}

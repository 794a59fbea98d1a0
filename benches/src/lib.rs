//! Shared helpers for the scheduler benches.
//!
//! Every workload runs on five runtimes in one criterion group, so a single
//! `cargo bench` run puts them side by side:
//!
//! * `spindle/single`: [`spindle::Mode::SingleThread`]
//! * `spindle/parallel`: [`spindle::Mode::Parallel`], `W` workers, monitor on
//!   (the default)
//! * `spindle/parallel_nomonitor`: the same with `.monitor(false)`, so each
//!   run shows what the monitor costs
//! * `tokio/current_thread`
//! * `tokio/multi_thread`: `W` workers
//!
//! `W` is 2 unless the `BENCH_WORKERS` environment variable says otherwise.
//!
//! A workload is written once, generic over [`Rt`]; the synchronisation it
//! needs ([`Latch`], [`oneshot`]) is plain `std` code here, so both runtimes
//! run the very same futures and only the scheduler differs. Workloads that
//! compare a runtime's own facility (blocking pool, channel, `gather`) go
//! through the matching [`Rt`] method, which maps to each runtime's
//! idiomatic equivalent.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{Bencher, BenchmarkGroup, Criterion, Throughput};

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

    /// Runs `f` on the runtime's blocking pool (spindle `run_in_executor`,
    /// tokio `spawn_blocking`), submitted at the call, and resolves to its
    /// result. Call inside the runtime.
    fn run_blocking<F, T>(f: F) -> impl Future<Output = T> + Send + 'static
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static;

    /// Runs every future as its own task, spawned at the call, and resolves
    /// to their outputs in input order (spindle `gather`; tokio: spawn all,
    /// then await the handles in order). Call inside the runtime.
    fn gather<F>(futs: Vec<F>) -> impl Future<Output = Vec<F::Output>> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static;

    /// Sending half of the runtime's own bounded channel.
    type Tx<T: Send + 'static>: Clone + Send + Sync + 'static;
    /// Receiving half of the runtime's own bounded channel (one receiver:
    /// tokio's `mpsc` is single-consumer).
    type Rx<T: Send + 'static>: Send + 'static;

    /// The runtime's own bounded channel of `capacity` items
    /// (`spindle::sync::Queue`, `tokio::sync::mpsc`).
    fn channel<T: Send + 'static>(capacity: usize) -> (Self::Tx<T>, Self::Rx<T>);

    /// Sends `value`, waiting while the channel is full.
    fn send<T: Send + 'static>(tx: &Self::Tx<T>, value: T) -> impl Future<Output = ()> + Send;

    /// Receives the next value, waiting while the channel is empty.
    ///
    /// # Panics
    /// If every sender is gone (tokio) — the workloads never let that happen.
    fn recv<T: Send + 'static>(rx: &mut Self::Rx<T>) -> impl Future<Output = T> + Send;
}

/// A spindle runtime, either mode.
#[derive(Debug)]
pub struct Spindle(pub spindle::Runtime);

impl Spindle {
    /// A runtime of `mode` with `workers` worker threads (parallel mode),
    /// with the default monitor setting.
    pub fn new(mode: spindle::Mode, workers: usize) -> Spindle {
        Spindle::from_builder(spindle::Builder::new(mode).worker_threads(workers))
    }

    /// A parallel runtime with `workers` worker threads and the monitor on
    /// or off.
    pub fn parallel(workers: usize, monitor: bool) -> Spindle {
        Spindle::from_builder(
            spindle::Builder::new(spindle::Mode::Parallel)
                .worker_threads(workers)
                .monitor(monitor),
        )
    }

    /// Builds `builder`, naming its threads `bench-*`.
    pub fn from_builder(builder: spindle::Builder) -> Spindle {
        let rt = builder
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

    fn run_blocking<F, T>(f: F) -> impl Future<Output = T> + Send + 'static
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let handle = spindle::run_in_executor(f);
        async move { handle.await.expect("blocking closure panicked") }
    }

    fn gather<F>(futs: Vec<F>) -> impl Future<Output = Vec<F::Output>> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let all = spindle::gather(futs);
        async move { all.await.expect("gathered task failed") }
    }

    type Tx<T: Send + 'static> = Arc<spindle::sync::Queue<T>>;
    type Rx<T: Send + 'static> = Arc<spindle::sync::Queue<T>>;

    fn channel<T: Send + 'static>(capacity: usize) -> (Self::Tx<T>, Self::Rx<T>) {
        let queue = Arc::new(spindle::sync::Queue::new(capacity));
        (queue.clone(), queue)
    }

    fn send<T: Send + 'static>(tx: &Self::Tx<T>, value: T) -> impl Future<Output = ()> + Send {
        tx.put(value)
    }

    fn recv<T: Send + 'static>(rx: &mut Self::Rx<T>) -> impl Future<Output = T> + Send {
        rx.get()
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

    fn run_blocking<F, T>(f: F) -> impl Future<Output = T> + Send + 'static
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let handle = tokio::task::spawn_blocking(f);
        async move { handle.await.expect("blocking closure panicked") }
    }

    fn gather<F>(futs: Vec<F>) -> impl Future<Output = Vec<F::Output>> + Send + 'static
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
        async move {
            let mut out = Vec::with_capacity(handles.len());
            for handle in handles {
                out.push(handle.await.expect("gathered task failed"));
            }
            out
        }
    }

    type Tx<T: Send + 'static> = tokio::sync::mpsc::Sender<T>;
    type Rx<T: Send + 'static> = tokio::sync::mpsc::Receiver<T>;

    fn channel<T: Send + 'static>(capacity: usize) -> (Self::Tx<T>, Self::Rx<T>) {
        tokio::sync::mpsc::channel(capacity)
    }

    async fn send<T: Send + 'static>(tx: &Self::Tx<T>, value: T) {
        if tx.send(value).await.is_err() {
            panic!("receiver dropped");
        }
    }

    async fn recv<T: Send + 'static>(rx: &mut Self::Rx<T>) -> T {
        rx.recv().await.expect("senders dropped")
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

/// Something to do on each runtime under test, in turn: see
/// [`for_each_runtime`].
pub trait OnRuntime {
    /// Called once per runtime, with its display name (`spindle/single`,
    /// ...); `rt` is dropped when this returns.
    fn on<R: Rt>(&mut self, name: &str, rt: R);
}

/// Builds the five runtimes under test one at a time (`W` = [`workers`]),
/// hands each to `f` and drops it before building the next, so only one
/// runtime's threads exist at a time. The one list of runtimes every bench
/// uses.
pub fn for_each_runtime(f: &mut impl OnRuntime) {
    let w = workers();
    f.on(
        "spindle/single",
        Spindle::new(spindle::Mode::SingleThread, w),
    );
    f.on("spindle/parallel", Spindle::parallel(w, true));
    f.on("spindle/parallel_nomonitor", Spindle::parallel(w, false));
    f.on("tokio/current_thread", Tokio::current_thread());
    f.on("tokio/multi_thread", Tokio::multi_thread(w));
}

/// Runs `workload` on every runtime of [`for_each_runtime`] in one criterion
/// group `name` (20 samples, 1 s warm-up, 3 s measurement).
pub fn run_group<W: Workload>(c: &mut Criterion, name: &str, workload: &W) {
    struct Group<'a, 'c, W> {
        group: BenchmarkGroup<'c, WallTime>,
        workload: &'a W,
    }
    impl<W: Workload> OnRuntime for Group<'_, '_, W> {
        fn on<R: Rt>(&mut self, name: &str, rt: R) {
            let workload = self.workload;
            self.group.bench_function(name, |b| workload.bench(b, &rt));
        }
    }

    let mut group = c.benchmark_group(name);
    group
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(workload.elements()));
    let mut visit = Group { group, workload };
    for_each_runtime(&mut visit);
    visit.group.finish();
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

    /// The runtime-specific facilities: blocking pool, gather, channel.
    fn facilities<R: Rt>(rt: &R) {
        rt.block_on(async {
            assert_eq!(R::run_blocking(|| 6 * 7).await, 42);
            let futs: Vec<_> = (0..50u32)
                .map(|i| async move {
                    R::yield_now().await;
                    i * 2
                })
                .collect();
            assert_eq!(
                R::gather(futs).await,
                (0..50).map(|i| i * 2).collect::<Vec<_>>()
            );
            let (tx, mut rx) = R::channel::<u32>(4);
            for p in 0..3u32 {
                let tx = tx.clone();
                R::spawn(async move {
                    for i in 0..100 {
                        R::send(&tx, p * 1000 + i).await;
                    }
                });
            }
            let mut sum = 0;
            for _ in 0..300 {
                sum += R::recv(&mut rx).await;
            }
            assert_eq!(sum, (0..3).map(|p| p * 100_000 + 4950).sum::<u32>());
        });
    }

    struct Check;

    impl OnRuntime for Check {
        fn on<R: Rt>(&mut self, _name: &str, rt: R) {
            smoke(&rt);
            facilities(&rt);
        }
    }

    #[test]
    fn helpers_work_on_all_runtimes() {
        for_each_runtime(&mut Check);
    }
}

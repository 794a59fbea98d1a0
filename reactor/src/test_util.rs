//! Test helpers: a waker that counts its wakes, and (outside loom) a tiny
//! `block_on` that, like the runtime's idle threads, drives the reactor
//! between polls when it can and parks otherwise.

use std::sync::Arc;
use std::task::{Wake, Waker};

use crate::loom::atomic::{AtomicUsize, Ordering};

/// A wake counter shared with a [`counting_waker`].
#[derive(Debug, Default)]
pub(crate) struct Count(AtomicUsize);

impl Count {
    /// How many times the waker was woken.
    pub(crate) fn get(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }
}

/// A waker that counts its wakes.
#[derive(Debug)]
pub(crate) struct CountingWaker(Arc<Count>);

/// A waker that counts its wakes, and the counter it bumps.
pub(crate) fn counting_waker() -> (Waker, Arc<Count>) {
    let count = Arc::new(Count(AtomicUsize::new(0)));
    (Waker::from(Arc::new(CountingWaker(count.clone()))), count)
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.0.fetch_add(1, Ordering::AcqRel);
    }
}

#[cfg(not(loom))]
pub(crate) use executor::*;

#[cfg(not(loom))]
mod executor {
    use std::future::Future;
    use std::pin::pin;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::task::{Context, Poll, Wake, Waker};
    use std::thread::{self, Thread};

    use crate::{Reactor, ReactorHandle};

    /// Wakes the thread that runs `block_on`, wherever it waits.
    struct ThreadWaker {
        thread: Thread,
        woken: AtomicBool,
        reactor: Option<ReactorHandle>,
    }

    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.woken.store(true, SeqCst);
            self.thread.unpark();
            if let Some(reactor) = &self.reactor {
                reactor.interrupt();
            }
        }
    }

    /// Polls `fut` to completion on this thread, driving the current
    /// reactor between polls if it is free, parking otherwise.
    pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
        let mut fut = pin!(fut);
        let state = Arc::new(ThreadWaker {
            thread: thread::current(),
            woken: AtomicBool::new(true),
            reactor: ReactorHandle::try_current(),
        });
        let waker = Waker::from(state.clone());
        let mut cx = Context::from_waker(&waker);
        loop {
            if state.woken.swap(false, SeqCst) {
                if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
                    return out;
                }
                continue;
            }
            let drove = state
                .reactor
                .as_ref()
                .is_some_and(|r| r.try_drive(&|| !state.woken.load(SeqCst)));
            if !drove {
                thread::park();
            }
        }
    }

    /// Starts a reactor, enters it and runs `fut` on this thread.
    pub(crate) fn run<F: Future>(fut: F) -> F::Output {
        let reactor = Reactor::start("test").expect("start reactor");
        let _guard = reactor.handle().enter();
        block_on(fut)
    }

    /// Runs `fut` on a new thread with the current reactor entered.
    pub(crate) fn spawn_thread<F>(fut: F) -> thread::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handle = ReactorHandle::try_current().expect("inside a test reactor");
        thread::spawn(move || {
            let _guard = handle.enter();
            block_on(fut)
        })
    }
}

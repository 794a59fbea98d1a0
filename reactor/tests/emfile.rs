//! `accept` at the descriptor limit: the error reaches the caller, nothing
//! spins, and the listener accepts again once descriptors are free.
//!
//! A binary of its own because `RLIMIT_NOFILE` is process-global.
#![cfg(not(loom))]

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use spindle_reactor::Reactor;
use spindle_reactor::net::TcpListener;

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        thread::park();
    }
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(64, |dir| dir.count())
}

fn set_soft_limit(limit: libc::rlim_t) -> libc::rlim_t {
    let mut current = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `current` is a valid, writable rlimit for getrlimit to fill.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut current) },
        0
    );
    let previous = current.rlim_cur;
    current.rlim_cur = limit.min(current.rlim_max);
    // SAFETY: `current` is a valid rlimit; lowering the soft limit is always allowed.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &current) }, 0);
    previous
}

#[test]
fn accept_and_connect_at_the_fd_limit_error_then_recover() {
    let reactor = Reactor::start("emfile").unwrap();
    let _guard = reactor.handle().enter();
    let listener = block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();

    let previous = set_soft_limit(open_fds() as libc::rlim_t + 8);
    // Fill every descriptor with client sockets; each connect that succeeds
    // leaves one connection waiting in the listener's backlog.
    let mut clients = Vec::new();
    loop {
        match std::net::TcpStream::connect(addr) {
            Ok(client) => clients.push(client),
            Err(e) if e.raw_os_error() == Some(libc::EMFILE) => break,
            Err(e) => panic!("unexpected connect error: {e}"),
        }
    }
    assert!(!clients.is_empty(), "some connections are pending");

    for _ in 0..3 {
        let start = Instant::now();
        let err: io::Error = block_on(listener.accept()).map(|_| ()).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "accept must not hang"
        );
    }

    // Connecting at the limit fails the same way: an error, not a hang.
    let start = Instant::now();
    let err = block_on(spindle_reactor::net::TcpStream::connect(addr))
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "connect must not hang"
    );

    // Free descriptors: the pending connections are accepted again.
    clients.truncate(clients.len().saturating_sub(4));
    let (stream, _) = block_on(listener.accept()).expect("accept after fds freed");
    drop(stream);
    drop(clients);
    set_soft_limit(previous);
    let (_stream, _) = block_on(async {
        let connect = std::net::TcpStream::connect(addr).unwrap();
        let accepted = listener.accept().await;
        drop(connect);
        accepted
    })
    .unwrap();
}

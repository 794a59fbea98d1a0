//! spindle: an async runtime that schedules like Go and reads like Python's
//! asyncio.
//!
//! One switch picks the execution model; the program does not change:
//!
//! ```
//! use spindle::{Builder, Mode};
//!
//! async fn program() -> u64 {
//!     let tasks: Vec<_> = (1..=4u64).map(|n| spindle::spawn(async move { (1..=n).product::<u64>() })).collect();
//!     let mut total = 0;
//!     for t in tasks {
//!         total += t.await.unwrap();
//!     }
//!     total
//! }
//!
//! for mode in [Mode::SingleThread, Mode::Parallel] {
//!     let rt = Builder::new(mode).build().unwrap();
//!     assert_eq!(rt.block_on(program()), 1 + 2 + 6 + 24);
//! }
//! ```
//!
//! * [`Mode::SingleThread`]: every task on the thread inside `block_on`
//!   (asyncio's model).
//! * [`Mode::Parallel`]: one worker per core, per-worker run queues, work
//!   stealing, a global injector (Go's G/M/P).
//!
//! Both share one reactor thread (mio) for IO and timers and one blocking
//! pool for [`run_in_executor`].

#![warn(
    missing_docs,
    missing_debug_implementations,
    clippy::undocumented_unsafe_blocks
)]

pub mod blocking;
mod builder;
#[doc(hidden)]
pub mod combinators;
mod context;
mod executor;
pub mod promise;
mod runtime;
pub mod sync;
pub mod task;

pub use builder::{Builder, DEFAULT_SLOW_POLL_THRESHOLD, Mode};
pub use combinators::{
    AsCompleted, Done, ReturnWhen, TaskGroup, as_completed, gather, gather_settled, wait,
};
pub use context::EnterGuard;
pub use executor::{ThreadPool, run_in_executor};
pub use promise::{Promise, Resolver, ResolverDropped, promise};
pub use runtime::{Handle, Runtime, run};
pub use spindle_scheduler::{Metrics, WorkerMetrics};
pub use task::{JoinError, JoinHandle, spawn, spawn_local, yield_now};

/// Timers: `sleep`, `sleep_until`, `interval`, `timeout`, `Instant`.
pub mod time {
    pub use spindle_reactor::time::*;
}

/// Sockets: TCP, UDP and Unix, as `futures_io::AsyncRead`/`AsyncWrite`.
pub mod net {
    pub use spindle_reactor::net::*;
}

/// The `futures` IO extension traits (`read_exact`, `write_all`, …) for
/// spindle's streams.
pub mod io {
    pub use futures_io::{AsyncBufRead, AsyncRead, AsyncWrite};
    pub use futures_util::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, copy};
}

pub use time::timeout as wait_for;

#[doc(hidden)]
pub mod __private {
    pub use futures_util::try_join;
}

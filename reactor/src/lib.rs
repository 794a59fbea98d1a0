//! spindle's reactor: the `mio` poller thread, the timer wheel, and the
//! `time` and `net` types built on them. It knows nothing of scheduling:
//! its only output is `std::task::Waker::wake`.
//!
//! ```no_run
//! use std::time::Duration;
//! use spindle_reactor::{Reactor, time};
//!
//! // The runtime does this once per runtime, and enters the handle on every
//! // thread that polls tasks.
//! let reactor = Reactor::start("doc").unwrap();
//! let _guard = reactor.handle().enter();
//! let sleep = time::sleep(Duration::from_millis(1));
//! # drop(sleep);
//! ```
//!
//! # Map
//!
//! * [`Reactor`] / [`ReactorHandle`] (`driver`): the poller thread, the
//!   registration table (`slab`), shutdown, the thread-local "current
//!   reactor".
//! * `registration`: per-resource readiness and the no-lost-wakeup
//!   protocol; `poll_evented`: the "try, clear, wait" IO loop.
//! * `timer`: the hierarchical timing wheel and its lock; [`time`]: the
//!   futures on top.
//! * [`net`]: TCP, UDP and Unix sockets.
//! * [`coop`]: the hook through which the scheduler's cooperative budget
//!   reaches IO operations.
//!
//! The two concurrent protocols (readiness vs waker registration, timer
//! firing vs cancellation and re-polling) are model-checked with loom:
//! `RUSTFLAGS="--cfg loom" cargo test -p spindle-reactor --release`.

#![warn(
    missing_docs,
    missing_debug_implementations,
    clippy::undocumented_unsafe_blocks
)]

pub mod coop;
mod doze;
mod driver;
mod loom;
pub mod net;
mod poll_evented;
mod registration;
mod slab;
pub mod time;
mod timer;

#[cfg(test)]
mod test_util;

pub use driver::{EnterGuard, Reactor, ReactorHandle};

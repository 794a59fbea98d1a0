//! Shared helpers for the integration tests: every test body runs under both
//! execution modes.

use std::future::Future;

use spindle::{Builder, Mode};

/// The two modes every integration test runs under.
pub const MODES: [Mode; 2] = [Mode::SingleThread, Mode::Parallel];

/// Builds a runtime for `mode` (Parallel with 2 workers, so stealing and
/// cross-worker wakes happen even on a 1-core machine) and runs `body` in
/// `block_on`, once per mode. The body gets the mode to put in messages.
pub fn both_modes<F, Fut>(body: F)
where
    F: Fn(Mode) -> Fut,
    Fut: Future<Output = ()>,
{
    for mode in MODES {
        let rt = runtime(mode);
        rt.block_on(body(mode));
    }
}

/// A runtime for `mode` as [`both_modes`] builds it.
pub fn runtime(mode: Mode) -> spindle::Runtime {
    let builder = match mode {
        Mode::SingleThread => Builder::single_thread(),
        Mode::Parallel => Builder::parallel().worker_threads(2),
    };
    builder.build().expect("build runtime")
}

/// Deterministic randomness for tests (xorshift64*): the same seed gives
/// the same value, different seeds scatter.
pub fn rand(seed: u64) -> u64 {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

//! Shared helpers for the examples.

use std::future::Future;

use spindle::{Builder, Mode};

/// The mode given as `--mode single|parallel` on the command line
/// (default: parallel).
pub fn mode_from_args() -> Mode {
    let args: Vec<String> = std::env::args().collect();
    match args
        .iter()
        .position(|a| a == "--mode")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
    {
        Some("single") => Mode::SingleThread,
        _ => Mode::Parallel,
    }
}

/// Runs `demo` on a runtime of the mode given on the command line, with
/// panic messages silenced (the demos show panics as `JoinError`s).
pub fn run_demo<F: Future>(demo: impl FnOnce() -> F) -> F::Output {
    let mode = mode_from_args();
    std::panic::set_hook(Box::new(|_| {}));
    println!("mode: {mode:?}");
    Builder::new(mode)
        .build()
        .expect("runtime")
        .block_on(demo())
}

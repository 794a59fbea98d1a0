//! What the monitor asks the OS about a worker thread: its id, and how its
//! time split between running and waiting for a CPU.
//!
//! A worker whose poll has not returned for `handoff_after` is either busy
//! in the poll (a CPU loop: it runs), blocked in it (a syscall: it neither
//! runs nor waits), or simply not scheduled by the OS (oversubscribed: it
//! waits on a run queue). Handing its queue to a spare thread helps the
//! first two; in the third it only adds a thread to an overloaded machine.
//! Linux reports the split per thread in `/proc/self/task/<tid>/schedstat`
//! (nanoseconds on CPU, nanoseconds waiting on a run queue); elsewhere the
//! monitor cannot tell and hands off.

/// The calling thread's OS id (Linux), for [`sched_times`].
#[cfg(target_os = "linux")]
pub(crate) fn thread_id() -> i64 {
    // SAFETY: gettid has no preconditions and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) }
}

/// The calling thread's OS id; 0 where it is not used.
#[cfg(not(target_os = "linux"))]
pub(crate) fn thread_id() -> i64 {
    0
}

/// (ns on CPU, ns waiting for a CPU) of thread `tid` of this process.
#[cfg(target_os = "linux")]
pub(crate) fn sched_times(tid: i64) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().ok());
    Some((fields.next()??, fields.next()??))
}

/// Not available: the monitor hands off without asking.
#[cfg(not(target_os = "linux"))]
pub(crate) fn sched_times(_tid: i64) -> Option<(u64, u64)> {
    None
}

/// Whether a thread that went from `before` to `after` mostly waited for a
/// CPU: then it is preempted, not stuck.
pub(crate) fn starved(before: Option<(u64, u64)>, after: Option<(u64, u64)>) -> bool {
    match (before, after) {
        (Some((run0, wait0)), Some((run1, wait1))) => {
            wait1.saturating_sub(wait0) > run1.saturating_sub(run0)
        }
        _ => false,
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_thread_that_mostly_waited_is_starved_one_that_ran_or_slept_is_not() {
        assert!(
            starved(Some((100, 100)), Some((200, 900))),
            "waited 800, ran 100"
        );
        assert!(
            !starved(Some((100, 100)), Some((900, 200))),
            "ran 800: a CPU loop"
        );
        assert!(
            !starved(Some((100, 100)), Some((110, 105))),
            "neither: blocked in a syscall"
        );
        assert!(!starved(None, Some((1, 1))), "no data: hand off");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_kernel_reports_this_threads_cpu_time() {
        let tid = thread_id();
        let (run0, _) = sched_times(tid).expect("schedstat readable");
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < std::time::Duration::from_millis(20) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let (run1, _) = sched_times(tid).unwrap();
        assert!(run1 > run0, "running time grows while the thread runs");
    }
}

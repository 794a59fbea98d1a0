//! A Linux `timerfd` registered with the poller: how the reactor sleeps
//! until a timer deadline with sub-millisecond precision.
//!
//! `epoll_wait` takes its timeout in whole milliseconds (mio rounds up), so a
//! timer 300 µs out would wake the reactor after 1 ms. Instead the reactor
//! arms this descriptor (`timerfd_settime`, nanosecond resolution) for the
//! next wheel deadline and waits on `epoll` without a timeout; the timer
//! expiring makes the descriptor readable, which ends the wait.
//!
//! The descriptor is registered edge-triggered and never read: every
//! expiry is a new wake-up of the descriptor's wait queue, which epoll
//! reports again even though the expiry count was not drained. It is only
//! re-armed when the next deadline changes, so an IO-only loop iteration
//! costs no extra syscall.
//!
//! Rejected: `epoll_pwait2` (nanosecond timeout, Linux 5.11+) is not exposed
//! by mio and would need a hand-rolled poller; sleeping the whole
//! milliseconds in `epoll_wait` and spinning for the rest burns a core.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

/// A monotonic-clock `timerfd`. See the module docs.
#[derive(Debug)]
pub(crate) struct TimerFd {
    fd: OwnedFd,
}

impl TimerFd {
    /// Creates the descriptor and registers it with `registry` as `token`.
    pub(crate) fn new(registry: &Registry, token: Token) -> io::Result<TimerFd> {
        // SAFETY: plain syscall; the flags and clock are valid constants.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        registry.register(&mut SourceFd(&fd.as_raw_fd()), token, Interest::READABLE)?;
        Ok(TimerFd { fd })
    }

    /// Makes the descriptor expire `after` from now (`None`: never).
    pub(crate) fn arm(&self, after: Option<Duration>) -> io::Result<()> {
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let value = match after {
            // A zero `it_value` would disarm the timer: expire in 1 ns instead.
            Some(after) => libc::timespec {
                tv_sec: libc::time_t::try_from(after.as_secs()).unwrap_or(libc::time_t::MAX),
                tv_nsec: after.subsec_nanos().max(u32::from(after.is_zero())) as libc::c_long,
            },
            None => zero,
        };
        let spec = libc::itimerspec {
            it_interval: zero,
            it_value: value,
        };
        // SAFETY: `fd` is a live timerfd, `spec` a valid itimerspec, and a
        // null old-value pointer is allowed.
        let rc =
            unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

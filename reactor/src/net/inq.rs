//! Reads that say whether they drained the socket: Linux's `TCP_INQ`.
//!
//! # Why
//!
//! A read that fills the caller's buffer exactly (every `read_exact` of a
//! framed protocol) cannot tell an empty socket from one with more bytes
//! queued, so the readiness stays set and the next read pays a `recvfrom`
//! only to hear `WouldBlock`. In a request/response exchange that is one
//! syscall in three (`tcp_echo`: per message one `sendto`, one `recvfrom`
//! with data and one with `EAGAIN`, on tokio as on spindle before this).
//!
//! # Mechanism
//!
//! With the socket option `TCP_INQ` set, `recvmsg` returns a control
//! message `TCP_CM_INQ`: the bytes still queued once the read is done. Zero
//! means the read drained the socket, so [`PollEvented`] clears the read
//! readiness as it does after a short read, and the next read waits for an
//! edge instead of trying the syscall. Any byte that arrives after the count
//! was taken raises a new edge, which the clear's tick guard lets through
//! (see `registration`). A FIN queued behind the data cannot be hidden
//! either: the kernel counts it as 1 byte, and the reactor's read-closed
//! bit is never cleared.
//!
//! The option is set on a stream the first time one of its reads fills the
//! buffer exactly, the only case it helps: a stream whose reads all come
//! back short (a large buffer, a bulk transfer) never pays the extra
//! `setsockopt`, nor does a short-lived connection that reads once. A kernel
//! without the option (before 4.18) refuses it; the stream then keeps
//! reading with plain `read` and the short-read rule.
//!
//! [`PollEvented`]: crate::poll_evented::PollEvented

use std::io;
use std::mem::{MaybeUninit, size_of, size_of_val};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll};

use crate::poll_evented::PollEvented;

/// No read has filled its buffer yet: the option is not set.
const UNSET: u8 = 0;
/// The option is set: reads go through [`read`].
const ON: u8 = 1;
/// The kernel refused the option.
const UNSUPPORTED: u8 = 2;

/// Whether a TCP stream reads with `TCP_INQ`; see the module docs.
///
/// Relaxed: the state only picks which syscall reads, and two reads racing
/// to set the option both set it.
#[derive(Debug)]
pub(super) struct Inq(AtomicU8);

impl Inq {
    /// A stream that has not read yet.
    pub(super) const fn new() -> Inq {
        Inq(AtomicU8::new(UNSET))
    }

    /// Reads from `io` into `buf`, clearing the read readiness whenever the
    /// read is known to have drained the socket.
    pub(super) fn poll_read(
        &self,
        io: &PollEvented<mio::net::TcpStream>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if self.0.load(Ordering::Relaxed) == ON {
            return io.poll_read_with(cx, |stream| read(stream.as_raw_fd(), buf));
        }
        let len = buf.len();
        let result = io.poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n == len && n > 0)
            && self.0.load(Ordering::Relaxed) == UNSET
        {
            let state = if enable(io.get_ref()) {
                ON
            } else {
                UNSUPPORTED
            };
            self.0.store(state, Ordering::Relaxed);
        }
        result
    }

    /// Whether the option is set (tests only).
    #[cfg(test)]
    pub(super) fn is_on(&self) -> bool {
        self.0.load(Ordering::Relaxed) == ON
    }
}

/// Asks the kernel to report the bytes left after each read on `socket`;
/// `false` if it does not know `TCP_INQ`.
fn enable(socket: &impl AsRawFd) -> bool {
    let on: libc::c_int = 1;
    // SAFETY: `socket` is an open descriptor for the duration of the call,
    // and the option value points to a live `c_int` whose size is passed.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_TCP,
            libc::TCP_INQ,
            (&raw const on).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    rc == 0
}

/// Reads into `buf` from a socket with `TCP_INQ` set: the bytes read, and
/// whether the socket held no more once they were taken (a read of fewer
/// bytes than `buf` holds counts as draining it, as without the option).
fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, bool)> {
    // Room for one `cmsghdr` and its `c_int` (CMSG_SPACE(4) is 24 bytes on
    // 64-bit Linux), aligned as a `cmsghdr` requires.
    let mut control = [MaybeUninit::<u64>::uninit(); 4];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: `msghdr` is a plain C struct for which all-zero is a valid
    // value (null pointers, zero lengths), whatever padding a libc adds.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &raw mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = size_of_val(&control) as _;
    // SAFETY: `msg` points to one iovec over `buf` (valid for `buf.len()`
    // writable bytes) and to `control` (valid for `msg_controllen` bytes);
    // all three outlive the call. The kernel writes at most those lengths.
    let n = unsafe { libc::recvmsg(fd, &raw mut msg, 0) };
    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    let mut drained = n < buf.len();
    // SAFETY: `msg` was filled by a successful `recvmsg`: `msg_control` and
    // `msg_controllen` describe the control messages the kernel wrote, which
    // is what CMSG_FIRSTHDR and CMSG_NXTHDR walk; each header they return
    // lies inside `control`, and its data is read unaligned.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&raw const msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_TCP && (*cmsg).cmsg_type == libc::TCP_CM_INQ {
                let inq = libc::CMSG_DATA(cmsg).cast::<libc::c_int>().read_unaligned();
                drained = inq == 0;
            }
            cmsg = libc::CMSG_NXTHDR(&raw const msg, cmsg);
        }
    }
    Ok((n, drained))
}

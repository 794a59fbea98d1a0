//! [`PollEvented`]: a mio source registered with the current reactor, and the
//! retry loop every IO operation in [`crate::net`] goes through.
//!
//! # Mechanism
//!
//! An operation first asks the cooperative budget ([`crate::coop`]), then
//! waits until its direction is ready ([`ScheduledIo::poll_ready`]) and
//! tries the non-blocking syscall. `WouldBlock` clears the readiness it
//! acted on (guarded by the event tick, see [`crate::registration`]) and
//! loops, which either finds a newer event or registers the waker. Any other
//! result, error or success, goes to the caller: an `EMFILE` from `accept`
//! is returned, the readiness stays set, and the next `accept` retries the
//! syscall, so the listener recovers as soon as descriptors free up without
//! the reactor ever spinning.
//!
//! A read that fills less than the buffer, or a write that takes less than
//! offered, means the socket was drained (or filled) at that moment, so the
//! readiness is cleared right away and the next call waits for an edge
//! instead of paying for a syscall that would say `WouldBlock`. The tick
//! guard keeps this safe against data that arrives meanwhile. A read that
//! fills its buffer exactly cannot tell by itself; TCP streams on Linux ask
//! the kernel instead ([`PollEvented::poll_read_with`], `net::inq`).
//!
//! Dropping a `PollEvented` deregisters the source before its table slot
//! is freed, so no event for the closed descriptor can reach a new owner
//! of the slot (and the generation check covers events already read).

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use mio::event::Source;
use mio::{Interest, Token};

use crate::coop;
use crate::driver::ReactorHandle;
use crate::registration::{Direction, ScheduledIo};

/// A mio source registered with a reactor. See the module docs.
#[derive(Debug)]
pub(crate) struct PollEvented<E: Source> {
    /// `Some` until `drop` takes it out to deregister it.
    io: Option<E>,
    handle: ReactorHandle,
    token: Token,
    shared: Arc<ScheduledIo>,
}

impl<E: Source> PollEvented<E> {
    /// Registers `io` with `handle`'s reactor for reads and writes.
    pub(crate) fn new(handle: ReactorHandle, io: E) -> io::Result<Self> {
        Self::with_interest(handle, io, Interest::READABLE | Interest::WRITABLE)
    }

    /// Registers `io` with `handle`'s reactor for `interest`.
    pub(crate) fn with_interest(
        handle: ReactorHandle,
        mut io: E,
        interest: Interest,
    ) -> io::Result<Self> {
        let (token, shared) = handle.register(&mut io, interest)?;
        Ok(PollEvented {
            io: Some(io),
            handle,
            token,
            shared,
        })
    }

    /// The reactor this source is registered with.
    pub(crate) fn handle(&self) -> &ReactorHandle {
        &self.handle
    }

    /// The mio source.
    pub(crate) fn get_ref(&self) -> &E {
        self.io
            .as_ref()
            .expect("PollEvented: source taken before drop")
    }

    /// Waits until `dir` is ready, without attempting any operation.
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>, dir: Direction) -> Poll<io::Result<()>> {
        self.shared.poll_ready(cx, dir).map_ok(|_| ())
    }

    /// Whether `dir` is ready now (tests only).
    #[cfg(test)]
    pub(crate) fn is_ready(&self, dir: Direction) -> bool {
        self.shared.is_ready(dir)
    }

    /// Clears the readiness of `dir` so the next [`Self::poll_ready`] waits
    /// for a new event (used after a spurious wake, e.g. a connect that has
    /// not finished).
    pub(crate) fn clear(&self, dir: Direction) {
        self.shared.clear_direction(dir);
    }

    /// Runs `op` until it does not return `WouldBlock`. See the module docs.
    pub(crate) fn poll_io<R>(
        &self,
        cx: &mut Context<'_>,
        dir: Direction,
        mut op: impl FnMut(&E) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        ready!(coop::poll_proceed(cx));
        loop {
            let event = ready!(self.shared.poll_ready(cx, dir))?;
            match op(self.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.shared.clear_readiness(event);
                }
                result => return Poll::Ready(result),
            }
        }
    }

    /// Reads into `buf`; a short read clears the read readiness.
    pub(crate) fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>
    where
        for<'a> &'a E: Read,
    {
        let len = buf.len();
        self.poll_read_with(cx, |mut io| io.read(buf).map(|n| (n, n < len)))
    }

    /// Reads with `op`, which returns the bytes read and whether they
    /// drained the source; a read that drained it clears the read readiness.
    pub(crate) fn poll_read_with(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&E) -> io::Result<(usize, bool)>,
    ) -> Poll<io::Result<usize>> {
        ready!(coop::poll_proceed(cx));
        loop {
            let event = ready!(self.shared.poll_ready(cx, Direction::Read))?;
            match op(self.get_ref()) {
                Ok((n, drained)) => {
                    if n > 0 && drained {
                        self.shared.clear_readiness(event);
                    }
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.shared.clear_readiness(event);
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// Writes `op`'s bytes (`len` offered); a short write clears the write
    /// readiness.
    pub(crate) fn poll_write_with(
        &self,
        cx: &mut Context<'_>,
        len: usize,
        mut op: impl FnMut(&E) -> io::Result<usize>,
    ) -> Poll<io::Result<usize>>
    where
        for<'a> &'a E: Write,
    {
        ready!(coop::poll_proceed(cx));
        loop {
            let event = ready!(self.shared.poll_ready(cx, Direction::Write))?;
            match op(self.get_ref()) {
                Ok(n) if n > 0 && n < len => {
                    self.shared.clear_readiness(event);
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.shared.clear_readiness(event);
                }
                result => return Poll::Ready(result),
            }
        }
    }
}

impl<E: Source> Drop for PollEvented<E> {
    fn drop(&mut self) {
        if let Some(mut io) = self.io.take() {
            self.handle.deregister(&mut io, self.token);
        }
    }
}

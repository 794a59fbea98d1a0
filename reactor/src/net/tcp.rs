//! TCP: [`TcpListener`], [`TcpStream`] and the owned halves of a split
//! stream. See [`crate::net`] for the shared mechanism and error policy.

use std::fmt;
use std::future::poll_fn;
use std::io::{self, IoSlice, Write};
use std::net::{Shutdown, SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use futures_io::{AsyncRead, AsyncWrite};
use mio::Interest;

use super::{current_handle, try_each_addr};
use crate::poll_evented::PollEvented;
use crate::registration::Direction;

/// A TCP socket listening for connections.
pub struct TcpListener {
    io: PollEvented<mio::net::TcpListener>,
}

impl TcpListener {
    /// Binds to `addr` (each resolved address in turn) with `SO_REUSEADDR`
    /// and starts listening.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        let handle = current_handle();
        try_each_addr(addr, |addr| {
            let handle = handle.clone();
            async move {
                let listener = mio::net::TcpListener::bind(addr)?;
                let io = PollEvented::with_interest(handle, listener, Interest::READABLE)?;
                Ok(TcpListener { io })
            }
        })
        .await
    }

    /// Waits for and accepts the next connection. Errors (including
    /// `EMFILE` at the descriptor limit) are returned as they come; the
    /// listener stays usable.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for the next connection; see [`TcpListener::accept`].
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        let (stream, peer) = ready!(self.io.poll_io(cx, Direction::Read, |l| l.accept()))?;
        let io = PollEvented::new(self.io.handle().clone(), stream)?;
        Poll::Ready(Ok((TcpStream::new(io), peer)))
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Adopts a listener set up with `std` (or `socket2`, for options
    /// `bind` does not offer), switching it to non-blocking mode. Must be
    /// called inside a spindle runtime.
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        let listener = mio::net::TcpListener::from_std(listener);
        let io = PollEvented::with_interest(current_handle(), listener, Interest::READABLE)?;
        Ok(TcpListener { io })
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TcpListener")
            .field(self.io.get_ref())
            .finish()
    }
}

/// A TCP connection. Implements `AsyncRead` and `AsyncWrite`; `Unpin`.
pub struct TcpStream {
    io: PollEvented<mio::net::TcpStream>,
    /// Whether reads learn that they drained the socket (see `inq`).
    #[cfg(target_os = "linux")]
    inq: super::inq::Inq,
}

impl TcpStream {
    /// Connects to `addr`, trying each resolved address in turn. A refused
    /// or unreachable peer is an `Err`, never a hang.
    pub async fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        let handle = current_handle();
        try_each_addr(addr, |addr| {
            let handle = handle.clone();
            async move {
                let stream = mio::net::TcpStream::connect(addr)?;
                let io = PollEvented::new(handle, stream)?;
                poll_fn(|cx| poll_connected(&io, cx, |s| s.peer_addr())).await?;
                Ok(TcpStream::new(io))
            }
        })
        .await
    }

    /// Adopts a connected `std` stream, switching it to non-blocking mode.
    /// Must be called inside a spindle runtime.
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        let io = PollEvented::new(current_handle(), mio::net::TcpStream::from_std(stream))?;
        Ok(TcpStream::new(io))
    }

    /// Wraps a registered, connected stream.
    fn new(io: PollEvented<mio::net::TcpStream>) -> TcpStream {
        TcpStream {
            #[cfg(target_os = "linux")]
            inq: super::inq::Inq::new(),
            io,
        }
    }

    /// The address of the peer.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Whether reads use `TCP_INQ`, and whether the read direction is
    /// ready now (tests only).
    #[cfg(all(test, target_os = "linux"))]
    pub(super) fn read_state(&self) -> (bool, bool) {
        (self.inq.is_on(), self.io.is_ready(Direction::Read))
    }

    /// The local address of the connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Sets `TCP_NODELAY` (disables Nagle's algorithm when `true`).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get_ref().set_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get_ref().nodelay()
    }

    /// Shuts down the read half, the write half or both
    /// (`Shutdown::Write` sends FIN: the peer reads EOF).
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// Splits the stream into halves that can move to different tasks.
    /// Dropping the write half shuts down the write direction.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        let shared = Arc::new(self);
        (
            OwnedReadHalf {
                stream: shared.clone(),
            },
            OwnedWriteHalf { stream: shared },
        )
    }

    /// Reads into `buf`.
    fn poll_read_priv(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        #[cfg(target_os = "linux")]
        return self.inq.poll_read(&self.io, cx, buf);
        #[cfg(not(target_os = "linux"))]
        self.io.poll_read(cx, buf)
    }

    /// Writes from `buf`.
    fn poll_write_priv(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io.poll_write_with(cx, buf.len(), |mut s| s.write(buf))
    }

    /// Writes from `bufs`.
    fn poll_write_vectored_priv(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let len = bufs.iter().map(|b| b.len()).sum();
        self.io
            .poll_write_with(cx, len, |mut s| s.write_vectored(bufs))
    }
}

/// Waits until a non-blocking connect finished: `Ok` once connected, the
/// socket error (refused, unreachable, ...) otherwise. `peer` is the source's
/// `peer_addr`, whose `NotConnected` means "not finished yet".
pub(super) fn poll_connected<E, A>(
    io: &PollEvented<E>,
    cx: &mut Context<'_>,
    peer: impl Fn(&E) -> io::Result<A>,
) -> Poll<io::Result<()>>
where
    E: mio::event::Source + ConnectError,
{
    loop {
        ready!(io.poll_ready(cx, Direction::Write))?;
        if let Some(e) = io.get_ref().take_socket_error()? {
            return Poll::Ready(Err(e));
        }
        match peer(io.get_ref()) {
            Ok(_) => return Poll::Ready(Ok(())),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => io.clear(Direction::Write),
            Err(e) => return Poll::Ready(Err(e)),
        }
    }
}

/// Sockets whose pending error (`SO_ERROR`) can be taken.
pub(super) trait ConnectError {
    /// Takes the socket's pending error.
    fn take_socket_error(&self) -> io::Result<Option<io::Error>>;
}

impl ConnectError for mio::net::TcpStream {
    fn take_socket_error(&self) -> io::Result<Option<io::Error>> {
        self.take_error()
    }
}

impl ConnectError for mio::net::UnixStream {
    fn take_socket_error(&self) -> io::Result<Option<io::Error>> {
        self.take_error()
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TcpStream").field(self.io.get_ref()).finish()
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_priv(cx, buf)
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_priv(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored_priv(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // TCP has no user-space buffer to flush.
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown(Shutdown::Write))
    }
}

/// The read half of a [`TcpStream`], from [`TcpStream::into_split`].
#[derive(Debug)]
pub struct OwnedReadHalf {
    stream: Arc<TcpStream>,
}

/// The write half of a [`TcpStream`], from [`TcpStream::into_split`].
/// Dropping it (or closing it) shuts down the write direction.
#[derive(Debug)]
pub struct OwnedWriteHalf {
    stream: Arc<TcpStream>,
}

impl OwnedReadHalf {
    /// The address of the peer.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.peer_addr()
    }

    /// The local address of the connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }
}

impl OwnedWriteHalf {
    /// The address of the peer.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.peer_addr()
    }

    /// The local address of the connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }
}

impl AsyncRead for OwnedReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.stream.poll_read_priv(cx, buf)
    }
}

impl AsyncWrite for OwnedWriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.stream.poll_write_priv(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.stream.poll_write_vectored_priv(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.stream.shutdown(Shutdown::Write))
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        // The peer must see EOF even if the read half lives on; a socket
        // that is already closed or reset has nothing left to shut down.
        let _ = self.stream.shutdown(Shutdown::Write);
    }
}

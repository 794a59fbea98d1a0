//! Networking: TCP, UDP and Unix-domain sockets on the reactor.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use futures_util::io::{AsyncReadExt, AsyncWriteExt};
//! use spindle_reactor::net::{TcpListener, TcpStream};
//!
//! let listener = TcpListener::bind("127.0.0.1:0").await?;
//! let mut client = TcpStream::connect(listener.local_addr()?).await?;
//! let (mut server, _peer) = listener.accept().await?;
//! client.write_all(b"ping").await?;
//! let mut buf = [0; 4];
//! server.read_exact(&mut buf).await?;
//! # Ok(()) }
//! ```
//!
//! # Mechanism
//!
//! Every socket is a non-blocking mio socket registered, edge-triggered,
//! with the reactor that is current when it is created; operations loop
//! "try the syscall, on `WouldBlock` clear readiness and wait" (see
//! `poll_evented`). Streams implement `futures_io::AsyncRead` and
//! `AsyncWrite` and are `Unpin`. Every operation asks the cooperative budget
//! first ([`crate::coop`]), so a socket that is always ready still yields.
//!
//! Methods take `&self` where the OS allows concurrent use (`accept`,
//! `send`, `recv`): several tasks may wait on one socket at once; each
//! readiness event wakes all waiters of that direction.
//!
//! # Rejected alternatives
//!
//! * Level-triggered registration: no readiness bookkeeping, but every
//!   `epoll_wait` reports every socket that still has unread bytes, so a
//!   slow consumer makes the reactor spin and wake its task again and again.
//! * Registering on each wait and deregistering after (one-shot interest):
//!   two `epoll_ctl` syscalls per blocked operation, where edge-triggered
//!   interest registered once costs none.
//! * tokio's `AsyncRead` with `ReadBuf`: the contract is `futures_io`, which
//!   the runtime re-exports with its extension traits.
//!
//! # Errors and the runtime
//!
//! * Constructors (`bind`, `connect`, `accept`'s new stream) need a current
//!   reactor. Outside a spindle runtime they **panic** with a message naming
//!   the fix, like `spawn` and `Sleep` do: that is a programming error, not an
//!   IO condition a caller could handle.
//! * Once the runtime shut down, every operation (and every constructor)
//!   returns the `io::Error` "spindle runtime has shut down"
//!   (`ErrorKind::Other`); none hangs or panics.
//! * A refused connect, an address in use, `EMFILE` at `accept`: the OS
//!   error, unchanged. After `EMFILE` the listener keeps its readiness, so
//!   the next `accept` retries the syscall and succeeds once descriptors are
//!   free; nothing spins in between.
//! * Addresses are `impl ToSocketAddrs`, resolved with `std` (a DNS name
//!   blocks the calling thread for the lookup; literal addresses do not);
//!   each resolved address is tried in turn and the last error is returned.

#[cfg(target_os = "linux")]
mod inq;
pub mod tcp;
mod udp;
pub mod unix;

pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixListener, UnixStream};

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

use crate::driver::ReactorHandle;

/// The current reactor, for a socket constructor (panics outside a runtime).
fn current_handle() -> ReactorHandle {
    ReactorHandle::current("spindle sockets must be created")
}

/// Tries `op` on each address `addr` resolves to; the first success wins,
/// otherwise the last error is returned.
async fn try_each_addr<A, T, F, Fut>(addr: A, mut op: F) -> io::Result<T>
where
    A: ToSocketAddrs,
    F: FnMut(SocketAddr) -> Fut,
    Fut: Future<Output = io::Result<T>>,
{
    let mut last_err = None;
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
    for addr in addrs {
        match op(addr).await {
            Ok(value) => return Ok(value),
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any address",
        )
    }))
}

#[cfg(all(test, not(loom)))]
mod tests;

//! The connection's transport: what the connection loop does with a socket, a plain one
//! here and TLS in `tls::stream`. The loop is generic over it, so each transport's reads and
//! writes compile into a loop of their own.

use std::future::Future;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use monoio::BufResult;
use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::{TcpStream, UnixStream};

/// What the connection loop does with a connection, by transport. The loop is compiled for
/// each (`engine::spawn` picks one by the plan), so a plain socket's reads and writes are the
/// runtime's own, with no branch on TLS.
pub trait Transport: AsRawFd + Sized {
    /// Sends a request without waiting, as much as the socket takes at once: a request fits
    /// an idle socket's send buffer, so this is almost always all of it, and the response
    /// read goes to the ring in the same pass instead of after a trip through the runtime.
    /// Returns how many of the request's bytes went (less than all: `write_all` the rest).
    fn send_now(&mut self, request: &[u8]) -> usize;

    /// Sends `rest`, the part of a request that `send_now` did not, waiting for the socket.
    fn write_all<T: IoBuf>(&mut self, rest: T) -> impl Future<Output = BufResult<usize, T>>;

    /// Reads HTTP bytes into the buffer's room (0: the end of the stream).
    fn read<T: IoBufMut>(&mut self, buf: T) -> impl Future<Output = BufResult<usize, T>>;

    /// Whether the server has sent bytes that wait unread: asked before a request is sent on
    /// a connection that was idle, they answer no request (`ErrorKind::Unsolicited`). Over
    /// TLS the socket may hold records that are no answer but no fault either (session
    /// tickets), so only bytes after a response are checked there.
    fn unasked(&self) -> bool {
        false
    }

    /// Whether the loop may queue requests with `queue` on io_uring. Only for sockets that
    /// monoio declares `Split`: the loop reads while the queued write is pending.
    const QUEUES: bool = false;

    /// io_uring: puts one write of `buf` on the ring at once (it leaves with the runtime's
    /// next submission, the response's read after it); the future gives its result. Used
    /// only where `QUEUES`; otherwise the same as `write_all`.
    fn queue<T: IoBuf>(&mut self, buf: T) -> impl Future<Output = BufResult<usize, T>> {
        self.write_all(buf)
    }
}

/// A socket whose bytes are the HTTP bytes: TCP, or a Unix socket (`--unix-socket`). One
/// branch per read or write picks the socket's own operation.
pub enum Plain {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Transport for Plain {
    fn send_now(&mut self, request: &[u8]) -> usize {
        send_now(self.as_raw_fd(), request)
    }

    fn unasked(&self) -> bool {
        waiting_bytes(self.as_raw_fd())
    }

    fn write_all<T: IoBuf>(&mut self, rest: T) -> impl Future<Output = BufResult<usize, T>> {
        match self {
            Plain::Tcp(s) => Either::Tcp(s.write_all(rest)),
            Plain::Unix(s) => Either::Unix(s.write_all(rest)),
        }
    }

    // Both sockets are `Split` (checked below).
    const QUEUES: bool = true;

    fn queue<T: IoBuf>(&mut self, buf: T) -> impl Future<Output = BufResult<usize, T>> {
        match self {
            Plain::Tcp(s) => Either::Tcp(s.write(buf)),
            Plain::Unix(s) => Either::Unix(s.write(buf)),
        }
    }

    /// The socket's own read. The branch picks the future once; polling it adds one match
    /// and no state of its own (an `async fn` wrapper would add both, on every read).
    fn read<T: IoBufMut>(&mut self, buf: T) -> impl Future<Output = BufResult<usize, T>> {
        match self {
            Plain::Tcp(s) => Either::Tcp(s.read(buf)),
            Plain::Unix(s) => Either::Unix(s.read(buf)),
        }
    }
}

/// `Plain::QUEUES` rests on this: a read and a write of either socket may be in flight at once.
const _: () = {
    const fn split<T: monoio::io::Split>() {}
    split::<TcpStream>();
    split::<UnixStream>();
};

/// The future of one of the two sockets' operations.
enum Either<A, B> {
    Tcp(A),
    Unix(B),
}

impl<A: Future, B: Future<Output = A::Output>> Future for Either<A, B> {
    type Output = A::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<A::Output> {
        // SAFETY: the inner future is never moved out of the pinned enum: it is only polled
        // in place, pinned as the enum is.
        unsafe {
            match self.get_unchecked_mut() {
                Either::Tcp(a) => Pin::new_unchecked(a).poll(cx),
                Either::Unix(b) => Pin::new_unchecked(b).poll(cx),
            }
        }
    }
}

impl AsRawFd for Plain {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Plain::Tcp(s) => s.as_raw_fd(),
            Plain::Unix(s) => s.as_raw_fd(),
        }
    }
}

/// Writes what the socket takes at once, without waiting. Returns the bytes written (0 on
/// any error: the runtime's write then retries and reports).
pub(crate) fn send_now(fd: RawFd, bytes: &[u8]) -> usize {
    // SAFETY: `bytes` is valid for its length; MSG_NOSIGNAL turns a closed peer into EPIPE.
    // The raw syscall skips libc's cancellation-point bookkeeping, which blast never uses.
    let n = unsafe {
        libc::syscall(
            libc::SYS_sendto,
            fd,
            bytes.as_ptr(),
            bytes.len(),
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
            std::ptr::null::<libc::sockaddr>(),
            0,
        )
    };
    usize::try_from(n).unwrap_or(0)
}

/// Whether bytes wait unread on the socket (a peek that does not wait; a closed or failed
/// socket has none: its request fails when it is sent).
fn waiting_bytes(fd: RawFd) -> bool {
    let mut byte = 0u8;
    // SAFETY: a one-byte buffer that lives across the call; MSG_PEEK leaves the byte queued.
    let n = unsafe {
        libc::recv(
            fd,
            (&mut byte as *mut u8).cast(),
            1,
            libc::MSG_PEEK | libc::MSG_DONTWAIT,
        )
    };
    n > 0
}

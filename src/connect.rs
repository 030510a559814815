//! Opening connections: all of a core's first connections before its clock starts, and any
//! single one later (a reconnect, or one more in rate mode).
//!
//! The run's clock, the rate schedule and the measured window start once a core's
//! connections are open. Started earlier, a rate schedule would pile up the slots due
//! while the connections were still being made and report that wait, which is blast's own
//! start-up, as the server's latency: on 16 cores at 100,000 requests/s the first second's
//! p99 was over 100 ms against a server whose p99 was 0.2 ms the second after.

use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use monoio::BufResult;
use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{TcpStream, UnixStream};
use monoio::time::timeout_at;

use crate::plan::Plan;
use crate::signal;
use crate::target::Endpoint;
use crate::ticker::Ticks;

/// Why a connection could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectError {
    /// No local port was free for one more connection to the target (`EADDRNOTAVAIL`): the
    /// ephemeral ports are used up, mostly by closed connections waiting in TIME_WAIT. The
    /// report says so, as it is the client machine's limit, not the server's.
    NoLocalPort,
    /// Refused, unreachable, or not done within `--connect-timeout`.
    Failed,
}

/// An open connection: TCP, or a Unix socket (`--unix-socket`). One branch per read or
/// write picks the socket's own operation; the bytes on the wire are the same.
pub enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

impl Stream {
    /// The socket's own read. The branch picks the future once; polling it adds one match
    /// and no state of its own (an `async fn` wrapper would add both, on every read).
    pub fn read<T: IoBufMut>(&mut self, buf: T) -> impl Future<Output = BufResult<usize, T>> {
        match self {
            Stream::Tcp(s) => Either::Tcp(s.read(buf)),
            Stream::Unix(s) => Either::Unix(s.read(buf)),
        }
    }

    pub fn write_all<T: IoBuf>(&mut self, buf: T) -> impl Future<Output = BufResult<usize, T>> {
        match self {
            Stream::Tcp(s) => Either::Tcp(s.write_all(buf)),
            Stream::Unix(s) => Either::Unix(s.write_all(buf)),
        }
    }
}

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

impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        match self {
            Stream::Tcp(s) => s.as_raw_fd(),
            Stream::Unix(s) => s.as_raw_fd(),
        }
    }
}

/// One connection to the target within `--connect-timeout`.
pub async fn open(plan: &Plan) -> Result<Stream, ConnectError> {
    open_to(&plan.endpoint, plan.connect_timeout).await
}

async fn open_to(endpoint: &Endpoint, connect_timeout: Duration) -> Result<Stream, ConnectError> {
    let deadline = monoio::time::Instant::from_std(Instant::now() + connect_timeout);
    let opened = match endpoint {
        Endpoint::Tcp(addr) => timeout_at(deadline, TcpStream::connect_addr(*addr))
            .await
            .map(|r| r.map(Stream::Tcp)),
        Endpoint::Unix(path) => timeout_at(deadline, UnixStream::connect(path))
            .await
            .map(|r| r.map(Stream::Unix)),
    };
    let stream = opened
        .map_err(|_| ConnectError::Failed)?
        .map_err(|e| match e.kind() {
            io::ErrorKind::AddrNotAvailable => ConnectError::NoLocalPort,
            _ => ConnectError::Failed,
        })?;
    if let Stream::Tcp(tcp) = &stream {
        // Requests are small and written whole: Nagle would only add delay.
        let _ = tcp.set_nodelay(true);
    }
    Ok(stream)
}

/// Opens `count` connections at once and waits until each has succeeded or failed (at most
/// `--connect-timeout`) or Ctrl-C. Failed or unfinished ones are `None`: their connection
/// loop connects again when it has a request to send, and counts a failure there.
pub async fn open_all(plan: &Plan, count: usize, ticks: &mut Ticks) -> Vec<Option<Stream>> {
    let pending: Vec<_> = (0..count)
        .map(|_| {
            let (endpoint, timeout) = (plan.endpoint.clone(), plan.connect_timeout);
            monoio::spawn(async move { open_to(&endpoint, timeout).await.ok() })
        })
        .collect();
    let mut opened = Vec::with_capacity(count);
    monoio::select! {
        _ = async {
            for connecting in pending {
                opened.push(connecting.await);
            }
        } => {},
        _ = until_stopped(ticks) => {},
    }
    opened.resize_with(count, || None);
    opened
}

async fn until_stopped(ticks: &mut Ticks) {
    while !signal::stop_requested() {
        ticks.next().await;
    }
}

//! Opening connections: all of a core's first connections before its clock starts, and any
//! single one later (a reconnect, or one more in rate mode).
//!
//! The run's clock, the rate schedule and the measured window start once a core's
//! connections are open. Started earlier, a rate schedule would pile up the slots due
//! while the connections were still being made and report that wait, which is blast's own
//! start-up, as the server's latency: on 16 cores at 100,000 requests/s the first second's
//! p99 was over 100 ms against a server whose p99 was 0.2 ms the second after.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use monoio::net::{TcpStream, UnixStream};
use monoio::time::timeout_at;

use crate::engine::signal;
use crate::engine::ticker::Ticks;
use crate::engine::transport::{Plain, Transport};
use crate::results::stats::Cause;
use crate::run::plan::Plan;
use crate::run::url::Endpoint;
use crate::tls::Tls;
use crate::tls::stream::TlsStream;

/// Why a connection could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectError {
    /// No local port was free for one more connection to the target (`EADDRNOTAVAIL`): the
    /// ephemeral ports are used up, mostly by closed connections waiting in TIME_WAIT. The
    /// report says so, as it is the client machine's limit, not the server's.
    NoLocalPort,
    /// Refused, unreachable, or not done within `--connect-timeout`.
    Failed(Cause),
}

/// An open connection of either transport, as `open` makes it and a core keeps the ones it
/// opened before its clock started.
pub enum Stream {
    Plain(Plain),
    /// Boxed: a TLS session is kilobytes.
    Tls(Box<TlsStream>),
}

/// A transport that `open` can make: takes the connection back out of a `Stream`.
pub trait Opened: Transport {
    /// The connection `open` made, when it is of this transport.
    fn from_stream(stream: Stream) -> Option<Self>;
}

impl Opened for Plain {
    fn from_stream(stream: Stream) -> Option<Plain> {
        match stream {
            Stream::Plain(plain) => Some(plain),
            Stream::Tls(_) => None,
        }
    }
}

impl Opened for TlsStream {
    fn from_stream(stream: Stream) -> Option<TlsStream> {
        match stream {
            Stream::Tls(tls) => Some(*tls),
            Stream::Plain(_) => None,
        }
    }
}

/// One connection to the target within `--connect-timeout`: with https, the handshake
/// too, with this core's `tls`.
pub async fn open(plan: &Plan, tls: Option<&Tls>) -> Result<Stream, ConnectError> {
    let deadline = monoio::time::Instant::from_std(Instant::now() + plan.connect_timeout);
    let opened = match &plan.endpoint {
        Endpoint::Tcp(addr) => timeout_at(deadline, open_tcp(*addr, tls)).await,
        Endpoint::Unix(path) => timeout_at(deadline, UnixStream::connect(path))
            .await
            .map(|r| r.map(|s| Stream::Plain(Plain::Unix(s)))),
    };
    opened
        .map_err(|_| ConnectError::Failed(Cause::TimedOut))?
        .map_err(|e| match (e.kind(), e.raw_os_error()) {
            (io::ErrorKind::AddrNotAvailable, _) => ConnectError::NoLocalPort,
            (_, Some(code)) => ConnectError::Failed(Cause::Os(code)),
            _ => ConnectError::Failed(Cause::Handshake),
        })
}

async fn open_tcp(addr: SocketAddr, tls: Option<&Tls>) -> io::Result<Stream> {
    let tcp = TcpStream::connect_addr(addr).await?;
    // Requests are small and written whole: Nagle would only add delay.
    let _ = tcp.set_nodelay(true);
    let Some(tls) = tls else {
        return Ok(Stream::Plain(Plain::Tcp(tcp)));
    };
    let session = tls.session().map_err(io::Error::other)?;
    let stream = TlsStream::handshake(tcp, session).await?;
    Ok(Stream::Tls(Box::new(stream)))
}

/// Opens `count` connections at once and waits until each has succeeded or failed (at most
/// `--connect-timeout`) or Ctrl-C. Failed or unfinished ones are `None`: their connection
/// loop connects again when it has a request to send, and counts a failure there.
pub async fn open_all(
    plan: &Arc<Plan>,
    tls: Option<&Tls>,
    count: usize,
    ticks: &mut Ticks,
) -> Vec<Option<Stream>> {
    let pending: Vec<_> = (0..count)
        .map(|_| {
            let (plan, tls) = (plan.clone(), tls.cloned());
            monoio::spawn(async move { open(&plan, tls.as_ref()).await.ok() })
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

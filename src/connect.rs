//! Opening connections: all of a core's first connections before its clock starts, and any
//! single one later (a reconnect, or one more in rate mode).
//!
//! The run's clock, the rate schedule and the measured window start once a core's
//! connections are open. Started earlier, a rate schedule would pile up the slots due
//! while the connections were still being made and report that wait, which is blast's own
//! start-up, as the server's latency: on 16 cores at 100,000 requests/s the first second's
//! p99 was over 100 ms against a server whose p99 was 0.2 ms the second after.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use monoio::net::TcpStream;
use monoio::time::timeout_at;

use crate::plan::Plan;
use crate::signal;
use crate::ticker::Ticks;

/// One connection to the target within `--connect-timeout`; `None` when it failed.
pub async fn open(plan: &Plan) -> Option<TcpStream> {
    open_to(plan.addr, plan.connect_timeout).await
}

async fn open_to(addr: SocketAddr, connect_timeout: Duration) -> Option<TcpStream> {
    let deadline = monoio::time::Instant::from_std(Instant::now() + connect_timeout);
    let stream = timeout_at(deadline, TcpStream::connect_addr(addr))
        .await
        .ok()?
        .ok()?;
    // Requests are small and written whole: Nagle would only add delay.
    let _ = stream.set_nodelay(true);
    Some(stream)
}

/// Opens `count` connections at once and waits until each has succeeded or failed (at most
/// `--connect-timeout`) or Ctrl-C. Failed or unfinished ones are `None`: their connection
/// loop connects again when it has a request to send, and counts a failure there.
pub async fn open_all(plan: &Plan, count: usize, ticks: &mut Ticks) -> Vec<Option<TcpStream>> {
    let pending: Vec<_> = (0..count)
        .map(|_| monoio::spawn(open_to(plan.addr, plan.connect_timeout)))
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

//! The beat of each core's watcher, sent from the main thread.
//!
//! A watcher that slept on a monoio timer would keep a timer pending all run long, and the
//! runtime then reads the clock, scans its timer wheel and arms a kernel timer on every
//! wait for I/O — once per response or so on a busy core, a tenth of its user-space time.
//! Instead the main thread, which wakes every tick anyway, writes one byte to a socket pair
//! per core, and the watcher waits on a read of its end like any other I/O. Ten bytes per
//! core per 100 ms cross threads, nothing per request.

use std::io::{self, Write};
use std::os::unix::net::UnixStream as StdStream;
use std::time::Duration;

use monoio::io::AsyncReadRent;
use monoio::net::UnixStream;

/// How often each core's watcher runs: how closely `--timeout` and the stop at `-d` are kept.
pub const TICK: Duration = Duration::from_millis(10);

/// The main thread's ends of the socket pairs, one per core.
#[derive(Debug)]
pub struct Ticker {
    senders: Vec<StdStream>,
}

/// A core's end, as handed to its thread.
pub type Receiver = StdStream;

/// A core's end on its runtime: resolves once per tick.
#[derive(Debug)]
pub struct Ticks {
    stream: Option<UnixStream>,
    buf: Vec<u8>,
}

impl Ticker {
    /// A ticker for `cores` cores and their ends, in core order.
    pub fn new(cores: usize) -> io::Result<(Ticker, Vec<Receiver>)> {
        let mut senders = Vec::with_capacity(cores);
        let mut receivers = Vec::with_capacity(cores);
        for _ in 0..cores {
            let (sender, receiver) = StdStream::pair()?;
            sender.set_nonblocking(true)?;
            receiver.set_nonblocking(true)?;
            senders.push(sender);
            receivers.push(receiver);
        }
        Ok((Ticker { senders }, receivers))
    }

    /// Wakes every core's watcher. A core that has finished (EPIPE: Rust programs ignore
    /// SIGPIPE), or has not read its earlier ticks yet (the socket is non-blocking), is
    /// skipped: the write never blocks.
    pub fn tick(&self) {
        for mut sender in &self.senders {
            let _ = sender.write(b"t");
        }
    }
}

impl Ticks {
    /// Registers a core's end with the runtime it runs in.
    pub fn new(receiver: Receiver) -> Ticks {
        Ticks {
            stream: UnixStream::from_std(receiver).ok(),
            buf: Vec::with_capacity(64),
        }
    }

    /// Waits for the next tick (ticks missed while busy are taken together). Should the main
    /// thread's end be gone, falls back to sleeping one tick on the runtime's timer.
    pub async fn next(&mut self) {
        if let Some(stream) = self.stream.as_mut() {
            let (result, buf) = stream.read(std::mem::take(&mut self.buf)).await;
            self.buf = buf;
            self.buf.clear();
            if matches!(result, Ok(n) if n > 0) {
                return;
            }
            self.stream = None;
        }
        monoio::time::sleep(TICK).await;
    }
}

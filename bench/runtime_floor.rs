//! The runtime floor: the least a closed-loop HTTP/1.1 client on blast's runtime (monoio's
//! io_uring driver, set up as blast sets it up) can do per request. One thread, N keep-alive
//! connections, one task each: the request's write goes on the ring with the read after it,
//! as blast queues them, and the task reads until the response's `Content-Length` is in.
//! No latency clock, no checks, no statistics beyond a count.
//!
//! It separates what the runtime costs per request (its operations, wake-ups and ring) from
//! what blast's own work adds (framing, the `prediction` check, the clock and the
//! histograms). `bench/ab.sh` runs it as client `runtime-floor` beside bench/floor.c (the
//! raw-syscall floor), wrk and blast builds; docs/benchmarks.md has the results.
//!
//!   cargo build --release --example runtime_floor
//!   runtime_floor HOST PORT PATH CONNECTIONS SECONDS   ->   "requests N seconds S"

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use memchr::memmem::Finder;
use monoio::buf::{IoBufMut, SliceMut};
use monoio::io::{AsyncReadRent, AsyncWriteRent};
use monoio::net::TcpStream;
use monoio::time::TimeDriver;
use monoio::{IoUringDriver, RuntimeBuilder};

/// What the tasks share: the stop flag and the count.
#[derive(Default)]
struct Shared {
    stop: Cell<bool>,
    done: Cell<u64>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        eprintln!("usage: runtime_floor HOST PORT PATH CONNECTIONS SECONDS");
        std::process::exit(2);
    }
    let parsed = (|| {
        let addr: SocketAddr = format!("{}:{}", args[1], args[2]).parse().ok()?;
        let connections: usize = args[4].parse().ok()?;
        let seconds: f64 = args[5].parse().ok()?;
        Some((addr, connections, Duration::from_secs_f64(seconds)))
    })();
    let Some((addr, connections, duration)) = parsed else {
        eprintln!("runtime_floor: bad address, connection count or duration");
        std::process::exit(2);
    };
    let request: Rc<[u8]> = format!("GET {} HTTP/1.1\r\nHost: {}\r\n\r\n", args[3], args[1])
        .into_bytes()
        .into();
    // blast's ring for this many connections: twice as many entries, completion work deferred
    // to the thread's own waits (src/engine.rs).
    let mut setup = io_uring::IoUring::builder();
    setup
        .setup_coop_taskrun()
        .setup_single_issuer()
        .setup_defer_taskrun();
    let mut runtime = RuntimeBuilder::<TimeDriver<IoUringDriver>>::new()
        .with_entries((connections as u32 * 2).clamp(256, 32768))
        .uring_builder(setup)
        .build()
        .unwrap_or_else(|e| {
            eprintln!("runtime_floor: cannot start io_uring: {e}");
            std::process::exit(2);
        });
    let (done, elapsed) = runtime.block_on(run(addr, connections, duration, request));
    println!("requests {done} seconds {:.3}", elapsed.as_secs_f64());
}

/// Opens the connections, runs them for `duration`, and returns the responses counted and
/// the time they took.
async fn run(
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
    request: Rc<[u8]>,
) -> (u64, Duration) {
    let shared = Rc::new(Shared::default());
    let mut streams = Vec::with_capacity(connections);
    for _ in 0..connections {
        let stream = TcpStream::connect(addr).await.unwrap_or_else(|e| {
            eprintln!("runtime_floor: cannot connect to {addr}: {e}");
            std::process::exit(1);
        });
        streams.push(stream);
    }
    let start = Instant::now();
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|stream| monoio::spawn(connection(stream, request.clone(), shared.clone())))
        .collect();
    monoio::time::sleep(duration).await;
    shared.stop.set(true);
    let elapsed = start.elapsed();
    let done = shared.done.get();
    // Each task ends after its response in flight.
    for task in tasks {
        task.await;
    }
    (done, elapsed)
}

/// One connection: write, read one response, repeat until stopped.
async fn connection(mut stream: TcpStream, request: Rc<[u8]>, shared: Rc<Shared>) {
    let mut buf = Vec::with_capacity(16 * 1024);
    while !shared.stop.get() {
        // Queued before the read, as blast does: both leave with the next submission.
        // SAFETY: a read and a write of a TCP socket may be in flight together (monoio
        // declares it `Split`); the stream outlives both futures, as in blast's loop.
        let writer: &mut TcpStream = unsafe { &mut *(&mut stream as *mut TcpStream) };
        let write = writer.write(Request(request.clone()));
        let mut have = 0;
        let length = loop {
            let (n, back) = stream.read(room_from(buf, have)).await;
            buf = back.into_inner();
            match n {
                Ok(n) if n > 0 => have += n,
                _ => return,
            }
            if let Some(length) = complete(&buf[..have]) {
                break length;
            }
        };
        if write.await.0.is_err() || length != have {
            return;
        }
        shared.done.set(shared.done.get() + 1);
    }
}

/// The searches a response's framing needs, built once (building one costs more than a
/// search).
static HEAD_END: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\r\n\r\n"));
static LENGTH: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"Content-Length:"));

/// The length of the complete response at the start of `buf`, if it is all there.
fn complete(buf: &[u8]) -> Option<usize> {
    let head = HEAD_END.find(buf)? + 4;
    let name = LENGTH.find(&buf[..head])?;
    let value = &buf[name + 15..head];
    let digits = value.iter().skip_while(|b| **b == b' ');
    let length = digits
        .take_while(|b| b.is_ascii_digit())
        .fold(0, |n, b| n * 10 + usize::from(b - b'0'));
    (buf.len() >= head + length).then_some(head + length)
}

/// The shared request bytes as an owned buffer for the ring's write.
struct Request(Rc<[u8]>);

// SAFETY: the bytes live in the `Rc`, which the write owns until it ends, and never change.
unsafe impl monoio::buf::IoBuf for Request {
    fn read_ptr(&self) -> *const u8 {
        self.0.as_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.0.len()
    }
}

/// The buffer's room from `from` on, for one read. (A response larger than the buffer
/// would get an empty read, which ends its connection: the floor is for small responses.)
fn room_from(buf: Vec<u8>, from: usize) -> SliceMut<Vec<u8>> {
    let capacity = buf.capacity();
    buf.slice_mut(from..capacity)
}

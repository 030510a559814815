//! `blast serve`: a small thread-per-core HTTP/1.1 server on monoio, for calibrating the
//! client and for demos, over plain TCP or TLS (`wire`). `/predict` answers
//! `{"prediction":0|1}`, `/health` answers ok, `/generate` streams tokens as a model server
//! does, and the fault knobs in `faults` inject latency, 500s, bad bodies, closes and stalls,
//! each counted so that tests can check that blast counts exactly what was injected.

pub mod faults;
pub mod http;
mod wire;

pub use wire::server_config;

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use monoio::net::TcpListener;

use crate::engine;
use crate::engine::signal;
use crate::run::config::Driver;
use faults::{Fault, Faults, Injector};
use http::{Connection, MAX_REQUEST_BODY, MAX_REQUEST_HEAD, Route};
use wire::{TlsWire, Wire};

#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub listen: SocketAddr,
    /// CPUs to pin threads to; `None`: all this process may use.
    pub cpus: Option<Vec<usize>>,
    pub threads: Option<usize>,
    pub driver: Driver,
    pub faults: Faults,
    /// Stop by itself after this long (`None`: at Ctrl-C or `Server::stop`).
    pub duration: Option<Duration>,
    /// `--cert`/`--key`: speak https (`wire::server_config`).
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl ServeConfig {
    pub fn new(listen: SocketAddr) -> ServeConfig {
        ServeConfig {
            listen,
            cpus: None,
            threads: None,
            driver: Driver::Auto,
            faults: Faults::default(),
            duration: None,
            tls: None,
        }
    }
}

/// What the server did, summed over its threads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServeStats {
    pub connections: u64,
    pub requests: u64,
    /// Injected `500` responses.
    pub errors: u64,
    /// Injected bad `/predict` bodies.
    pub bad_bodies: u64,
    /// Connections closed by `--close-every`.
    pub closes: u64,
    /// Responses held back by `--stall-every`.
    pub stalls: u64,
    /// Requests that could not be parsed (answered 400, connection closed).
    pub bad_requests: u64,
    /// `--cert`: TLS handshakes completed, and how many of them resumed an earlier session
    /// (a client that resumes skips the certificate and key exchange).
    pub tls_handshakes: u64,
    pub tls_resumed: u64,
}

impl ServeStats {
    fn merge(&mut self, other: &ServeStats) {
        self.connections += other.connections;
        self.requests += other.requests;
        self.errors += other.errors;
        self.bad_bodies += other.bad_bodies;
        self.closes += other.closes;
        self.stalls += other.stalls;
        self.bad_requests += other.bad_requests;
        self.tls_handshakes += other.tls_handshakes;
        self.tls_resumed += other.tls_resumed;
    }

    /// One line for the end of `blast serve` (with the TLS handshakes when there were any).
    pub fn line(&self) -> String {
        let tls = if self.tls_handshakes > 0 {
            format!(
                "; TLS: {} handshakes, {} resumed",
                self.tls_handshakes, self.tls_resumed
            )
        } else {
            String::new()
        };
        format!(
            "blast serve: {} requests on {} connections; injected: {} errors, {} bad bodies, \
             {} closes, {} stalls; {} bad requests{tls}",
            self.requests,
            self.connections,
            self.errors,
            self.bad_bodies,
            self.closes,
            self.stalls,
            self.bad_requests
        )
    }
}

/// Pending connections the kernel may queue for `accept` (it caps this at
/// `net.core.somaxconn`, 4096 by default). std listens with a backlog of 128: a client that
/// opens a thousand connections at once would have most of its SYNs dropped and retried a
/// second or more later, and the calibration target would look slow to connect.
const BACKLOG: libc::c_int = 65_535;

/// Calling `listen` again on a listening socket only changes its backlog (Linux).
fn widen_backlog(listener: &std::net::TcpListener) {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid socket descriptor that `listener` owns for the duration of the call.
    unsafe { libc::listen(listener.as_raw_fd(), BACKLOG) };
}

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<Result<ServeStats, String>>>,
}

impl Server {
    /// Binds (port 0 picks a free port; see `addr`) and starts the threads.
    pub fn start(config: ServeConfig) -> Result<Server, String> {
        let listener = std::net::TcpListener::bind(config.listen)
            .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        widen_backlog(&listener);
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let cpus = crate::run::plan::choose_cpus(config.cpus.as_deref())?;
        let threads = config.threads.unwrap_or(cpus.len()).max(1);
        let stop = Arc::new(AtomicBool::new(false));
        let deadline = config.duration.map(|d| Instant::now() + d);
        let config = Arc::new(config);
        let (ready, started) = std::sync::mpsc::channel();
        let handles = (0..threads)
            .map(|i| {
                // Every thread accepts on the same socket (a duplicated descriptor).
                let listener = listener.try_clone().map_err(|e| e.to_string())?;
                let cpu = (!cpus.is_empty()).then(|| cpus[i % cpus.len()]);
                let (config, stop, ready) = (config.clone(), stop.clone(), ready.clone());
                let start = Start {
                    cpu,
                    seed: i as u64,
                    deadline,
                    ready,
                };
                std::thread::Builder::new()
                    .name(format!("blast-serve-{i}"))
                    .spawn(move || serve_thread(listener, start, config, stop))
                    .map_err(|e| format!("cannot start a server thread: {e}"))
            })
            .collect::<Result<Vec<_>, String>>()?;
        drop(ready);
        let server = Server {
            addr,
            stop,
            threads: handles,
        };
        // Every thread has its runtime before the server counts as started: what building
        // one says (the epoll fallback) comes before the caller's "listening" line, and a
        // runtime that cannot be built is a start error, not a server that never answers.
        match (0..threads).try_for_each(|_| started.recv()) {
            Ok(()) => Ok(server),
            Err(_) => Err(server
                .stop()
                .err()
                .unwrap_or_else(|| "a server thread did not start".into())),
        }
    }

    /// Stops the threads and returns what they did.
    pub fn stop(self) -> Result<ServeStats, String> {
        self.stop.store(true, Ordering::Relaxed);
        self.wait()
    }

    /// Waits for the threads to stop (duration, Ctrl-C or `stop`).
    pub fn wait(self) -> Result<ServeStats, String> {
        let mut total = ServeStats::default();
        for thread in self.threads {
            let stats = thread
                .join()
                .map_err(|_| "a server thread panicked".to_string())??;
            total.merge(&stats);
        }
        Ok(total)
    }
}

/// What one server thread starts with.
struct Start {
    cpu: Option<usize>,
    seed: u64,
    deadline: Option<Instant>,
    /// Told once the thread's runtime runs.
    ready: std::sync::mpsc::Sender<()>,
}

fn serve_thread(
    listener: std::net::TcpListener,
    start: Start,
    config: Arc<ServeConfig>,
    stop: Arc<AtomicBool>,
) -> Result<ServeStats, String> {
    let Start {
        cpu,
        seed,
        deadline,
        ready,
    } = start;
    if let Some(cpu) = cpu {
        core_affinity::set_for_current(core_affinity::CoreId { id: cpu });
    }
    let core = Rc::new(Core {
        tls: config.tls.clone(),
        faults: config.faults.clone(),
        responses: http::Responses::default(),
        injector: RefCell::new(Injector::new(seed + 0x9e37_79b9)),
        stats: RefCell::default(),
    });
    let run = async move {
        let _ = ready.send(());
        // monoio's epoll driver waits for readiness and then accepts: a blocking socket
        // would block the whole thread in `accept` (io_uring does not care either way).
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("cannot listen: {e}"))?;
        let listener =
            TcpListener::from_std(listener).map_err(|e| format!("cannot listen: {e}"))?;
        monoio::select! {
            _ = accept_loop(&listener, &core) => {},
            _ = watch(&stop, deadline) => {},
        }
        Ok::<ServeStats, String>(core.stats.take())
    };
    let ring = engine::Ring {
        entries: 4096,
        deferred: true,
    };
    engine::block_on(config.driver, ring, |_| run)?.0
}

/// One core's server state, shared by its connection tasks.
struct Core {
    tls: Option<Arc<rustls::ServerConfig>>,
    faults: Faults,
    responses: http::Responses,
    injector: RefCell<Injector>,
    stats: RefCell<ServeStats>,
}

async fn watch(stop: &AtomicBool, deadline: Option<Instant>) {
    while !stop.load(Ordering::Relaxed)
        && !signal::stop_requested()
        && deadline.is_none_or(|d| Instant::now() < d)
    {
        monoio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn accept_loop(listener: &TcpListener, core: &Rc<Core>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                core.stats.borrow_mut().connections += 1;
                match &core.tls {
                    None => {
                        monoio::spawn(connection(stream, core.clone()));
                    }
                    // (A session is refused only for a configuration rustls cannot use,
                    // which `server_config` has already ruled out.)
                    Some(tls) => {
                        if let Ok(wire) = TlsWire::new(stream, tls) {
                            monoio::spawn(connection(wire, core.clone()));
                        }
                    }
                }
            }
            // Out of descriptors or similar: wait instead of spinning.
            Err(_) => monoio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Serves one connection: every complete request in the buffer is answered in order
/// (pipelining), and the answers go out in one write.
async fn connection<W: Wire>(mut stream: W, core: Rc<Core>) {
    let mut buf: Vec<u8> = Vec::with_capacity(8 * 1024);
    let mut out: Vec<u8> = Vec::with_capacity(8 * 1024);
    let mut served = 0u64;
    loop {
        if buf.capacity() - buf.len() < 4096 {
            if buf.len() > MAX_REQUEST_HEAD + MAX_REQUEST_BODY {
                return;
            }
            buf.reserve(8 * 1024);
        }
        let (read, back) = stream.read_into(buf).await;
        buf = back;
        if let Some(resumed) = stream.handshake_done() {
            let mut stats = core.stats.borrow_mut();
            stats.tls_handshakes += 1;
            stats.tls_resumed += u64::from(resumed);
        }
        if !matches!(read, Ok(n) if n > 0) {
            return;
        }
        let (consumed, close) = answer(&core, &buf, &mut out, &mut served, &mut stream).await;
        buf.drain(..consumed);
        if !flush(&mut stream, &mut out).await || close {
            return;
        }
    }
}

/// Appends the answers to every complete request in `buf`; returns the bytes used and
/// whether the connection closes after them.
async fn answer(
    core: &Core,
    buf: &[u8],
    out: &mut Vec<u8>,
    served: &mut u64,
    stream: &mut impl Wire,
) -> (usize, bool) {
    let mut consumed = 0;
    loop {
        let request = match http::parse(&buf[consumed..]) {
            Ok(Some(request)) => request,
            Ok(None) => return (consumed, false),
            Err(_) => {
                core.stats.borrow_mut().bad_requests += 1;
                out.extend_from_slice(core.responses.bad_request());
                return (consumed, true);
            }
        };
        consumed += request.len;
        *served += 1;
        let predict = matches!(request.route, Route::Predict(_));
        let (fault, wait) = core.injector.borrow_mut().next(&core.faults, predict);
        let closing = core
            .faults
            .close_every
            .is_some_and(|n| served.is_multiple_of(n));
        {
            let mut stats = core.stats.borrow_mut();
            stats.requests += 1;
            stats.stalls += u64::from(core.injector.borrow().stalled(&core.faults));
            stats.errors += u64::from(fault == Fault::Error);
            stats.bad_bodies +=
                u64::from(predict && matches!(fault, Fault::BadPrediction | Fault::InvalidJson));
            stats.closes += u64::from(closing);
        }
        if !wait.is_zero() {
            // Answers already made go out before the wait, as a slow server's would.
            flush(stream, out).await;
            monoio::time::sleep(wait).await;
        }
        // A streamed answer to HTTP/1.0 is not chunked: it ends when the connection does.
        let streams = matches!(request.route, Route::Generate(_)) && fault != Fault::Error;
        let close = closing || !request.keep_alive || (streams && !request.http11);
        let connection = match (close, request.confirm_keep_alive) {
            (true, _) => Connection::Close,
            (false, true) => Connection::KeepAlive,
            (false, false) => Connection::Implicit,
        };
        match request.route {
            Route::Generate(tokens) if streams => {
                let head = core.responses.stream_head(request.http11, connection);
                out.extend_from_slice(head);
                if !stream_tokens(stream, out, tokens, request.http11).await {
                    return (consumed, true);
                }
            }
            route => out.extend_from_slice(core.responses.pick(route, fault, connection)),
        }
        if close {
            return (consumed, true);
        }
    }
}

/// Sends what `out` holds (nothing when empty); returns whether the write succeeded.
async fn flush(stream: &mut impl Wire, out: &mut Vec<u8>) -> bool {
    if out.is_empty() {
        return true;
    }
    let (written, back) = stream.send(std::mem::take(out)).await;
    *out = back;
    out.clear();
    written.is_ok()
}

/// `/generate`: sends the head in `out` at once, then each token when it is due, then the
/// end; returns whether every write succeeded.
async fn stream_tokens(
    stream: &mut impl Wire,
    out: &mut Vec<u8>,
    tokens: http::Stream,
    chunked: bool,
) -> bool {
    if !flush(stream, out).await {
        return false;
    }
    monoio::time::sleep(tokens.first).await;
    for index in 0..tokens.tokens {
        if index > 0 {
            monoio::time::sleep(tokens.delay).await;
        }
        http::push_token(out, index, chunked);
        // The end follows the last token at once, in the same write.
        if index + 1 < tokens.tokens && !flush(stream, out).await {
            return false;
        }
    }
    http::push_done(out, chunked);
    flush(stream, out).await
}

#[cfg(test)]
mod tests {
    use super::ServeStats;

    #[test]
    fn the_stop_line_names_tls_handshakes_only_when_there_were_some() {
        let mut stats = ServeStats {
            requests: 10,
            connections: 3,
            ..ServeStats::default()
        };
        assert_eq!(
            stats.line(),
            "blast serve: 10 requests on 3 connections; injected: 0 errors, 0 bad bodies, \
             0 closes, 0 stalls; 0 bad requests"
        );
        stats.tls_handshakes = 3;
        stats.tls_resumed = 2;
        assert!(
            stats
                .line()
                .ends_with("0 bad requests; TLS: 3 handshakes, 2 resumed"),
            "{}",
            stats.line()
        );
    }
}

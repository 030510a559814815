//! An in-process HTTP/1.1 server on 127.0.0.1:0 that can be told to misbehave, and that
//! counts and captures what blast sends, over TCP or over TLS (rustls's server side, with a
//! certificate from scripts/tls-cert.sh). Thread per connection, blocking I/O: simple enough
//! to trust as a test oracle.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use blast::check::{Expect, JsonExpectation, StatusSet};
use blast::results::summary::Summary;
use blast::run::app;
use blast::run::config::{Config, Driver};
use blast::run::url::Url;
use blast::serve::ServeConfig;
use blast::serve::faults::Faults;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

/// How many requests a test server keeps whole (`Server::all_requests`).
const KEPT: u64 = 16;

/// Both drivers, for tests that run each.
pub const DRIVERS: [Driver; 2] = [Driver::Uring, Driver::Epoll];

/// The model check: status 200 and a `prediction` of 0 or 1.
pub fn prediction_rule() -> Expect {
    Expect {
        status: StatusSet::parse("200").unwrap(),
        json: vec![JsonExpectation::parse("prediction=0|1").unwrap()],
        body: Vec::new(),
    }
}

/// Runs `config` on `driver`, checking that the report names the driver that ran.
pub fn run_on(mut config: Config, driver: Driver) -> Summary {
    config.driver = driver;
    let summary = app::run(&config).expect("run starts");
    let name = if driver == Driver::Epoll {
        "epoll"
    } else {
        "io_uring"
    };
    assert_eq!(summary.driver, name);
    summary
}

/// The failures of one category (the report lists every category).
pub fn errors(summary: &Summary, kind: &str) -> u64 {
    summary.errors.iter().find(|(k, _)| *k == kind).unwrap().1
}

/// `blast serve` on one thread and a free loopback port, with these faults.
pub fn builtin(faults: Faults) -> blast::serve::Server {
    builtin_on(faults, Driver::Auto)
}

/// The same on this driver.
pub fn builtin_on(faults: Faults, driver: Driver) -> blast::serve::Server {
    let mut config = ServeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    config.threads = Some(1);
    config.faults = faults;
    config.driver = driver;
    blast::serve::Server::start(config).unwrap()
}

/// Runs the blast binary with `args` and waits for it.
pub fn blast(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_blast"))
        .args(args)
        .output()
        .expect("run blast")
}

/// A fresh scratch directory of this test process, named `blast-{name}-{pid}`.
pub fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("blast-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A rate run's send count (or a server's count of them) against its schedule `want`: at most
/// `over` above it (a slot per core: the deadline falls between ticks), and at most 1% below
/// it. On an idle machine the count is exact to that slot; a core that a busy machine stalls
/// across the deadline leaves the slots due in the stall unsent, because the measured window
/// has closed (they show as shortfall). Under two CPU hogs that happened once in a dozen runs.
pub fn assert_on_schedule(got: u64, want: u64, over: u64) {
    assert!(
        (want - want / 100..=want + over).contains(&got),
        "{got} sent, {want} scheduled"
    );
}

/// Tests of one file that must not overlap take turns: timing-sensitive ones (on a 2-core
/// machine two rate runs at once would make each other's sends late) and those that read a
/// process-wide counter. Hold the guard for the whole test.
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

/// How the server answers each request.
#[derive(Clone, Debug)]
pub enum Behavior {
    /// 200 with this body and Content-Length.
    Body(&'static str),
    /// This status and body.
    Status(u16, &'static str),
    /// Every Nth response on a connection carries `Connection: close`, then the server closes.
    CloseEvery(u64),
    /// After N responses on a connection, close without warning (the next request gets EOF).
    DropAfter(u64),
    /// Answer with a TCP reset.
    Reset,
    /// Answer N requests on a connection, then reset it when the next one comes.
    ResetAfter(u64),
    /// Read the request and never answer.
    Stall,
    /// Answer with bytes that are not HTTP.
    Garbage,
    /// Chunked body, split into 3-byte chunks, with a trailer.
    Chunked(&'static str),
    /// Send the response one byte at a time with this pause between bytes.
    Drip(&'static str, Duration),
    /// A streamed body, as a generative model sends its tokens: the head of a chunked
    /// response at once, then each piece as a chunk after this pause, then the last chunk.
    Tokens(&'static [&'static str], Duration),
    /// HTTP/1.0 response without Content-Length: the body ends when the server closes.
    CloseDelimited(&'static str),
    /// 200 with the body after this delay.
    Delay(&'static str, Duration),
    /// Accept and close immediately, before reading anything.
    AcceptClose,
    /// 200 at once, but when the N-th request arrives the whole server stops answering for
    /// this long (a stop-the-world pause: every connection waits).
    PauseOnce(u64, Duration),
    /// A valid JSON body (`{"prediction":1,"pad":"xx…"}`) of this many bytes, written a
    /// mebibyte at a time.
    Huge(usize),
    /// Two responses to every request, in one write.
    Twice,
    /// The response with bytes after its Content-Length body, in one write.
    Trailing,
    /// A response as soon as the connection is accepted, before any request; then one per
    /// request, each after this delay.
    Greet(Duration),
    /// A response, then a second one after this pause.
    SecondLater(Duration),
}

pub struct Server {
    pub addr: SocketAddr,
    /// Complete requests received.
    pub requests: Arc<AtomicU64>,
    /// Connections accepted.
    pub connections: Arc<AtomicU64>,
    /// The first request's bytes, exactly as received.
    pub first_request: Arc<Mutex<Vec<u8>>>,
    /// Every request's length in bytes, in the order received.
    pub lengths: Arc<Mutex<Vec<usize>>>,
    /// The first `KEPT` requests' bytes, in the order received.
    kept: Arc<Mutex<Vec<Vec<u8>>>>,
    /// Speaks https (`start_tls`).
    pub tls: bool,
    /// TLS connections whose handshake resumed an earlier session.
    pub resumed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

/// The throw-away CA and server certificate of this test process (scripts/tls-cert.sh, made
/// once): the directory holds `ca.pem` (for `--cacert`), `server.pem` and `server.key`.
pub fn test_certs() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = scratch("certs");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/tls-cert.sh");
        let out = std::process::Command::new(script)
            .arg(&dir)
            .output()
            .expect("run scripts/tls-cert.sh");
        assert!(
            out.status.success(),
            "tls-cert.sh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    })
}

/// The test CA's certificate, for `--cacert`.
pub fn test_ca() -> String {
    test_certs().join("ca.pem").display().to_string()
}

fn server_tls() -> Arc<ServerConfig> {
    let dir = test_certs();
    let certs = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    Arc::new(config)
}

/// A connection of the test server: TCP, or TLS over it.
trait Wire: Read + Write {
    fn tcp(&self) -> &TcpStream;

    /// Whether the handshake resumed a session (once it is done).
    fn resumed(&self) -> bool {
        false
    }
}

impl Wire for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Wire for StreamOwned<ServerConnection, TcpStream> {
    fn tcp(&self) -> &TcpStream {
        &self.sock
    }

    fn resumed(&self) -> bool {
        self.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
    }
}

impl Server {
    pub fn start(behavior: Behavior) -> Server {
        Server::start_late(behavior, Duration::ZERO)
    }

    /// A server slow to take connections: its accept queue holds one connection, and it
    /// starts accepting only after `accept_after`. A second connection made before then has
    /// its SYN dropped and is retried by the client's kernel a second later, so opening two
    /// connections takes about a second.
    pub fn start_late(behavior: Behavior, accept_after: Duration) -> Server {
        Server::listen(behavior, accept_after, None)
    }

    /// The same over https, with the certificate of `test_certs` (valid for 127.0.0.1).
    pub fn start_tls(behavior: Behavior) -> Server {
        Server::listen(behavior, Duration::ZERO, Some(server_tls()))
    }

    fn listen(
        behavior: Behavior,
        accept_after: Duration,
        tls: Option<Arc<ServerConfig>>,
    ) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        if !accept_after.is_zero() {
            // SAFETY: listen(2) on a socket this function owns; it only changes the backlog.
            let re_listened = unsafe { libc::listen(listener.as_raw_fd(), 0) };
            assert_eq!(re_listened, 0, "listen with backlog 0");
        }
        let server = Server {
            addr: listener.local_addr().unwrap(),
            requests: Arc::default(),
            connections: Arc::default(),
            first_request: Arc::default(),
            lengths: Arc::default(),
            kept: Arc::default(),
            tls: tls.is_some(),
            resumed: Arc::default(),
            stop: Arc::default(),
        };
        let (requests, connections, first, lengths, stop) = (
            server.requests.clone(),
            server.connections.clone(),
            server.first_request.clone(),
            server.lengths.clone(),
            server.stop.clone(),
        );
        let (resumed, kept) = (server.resumed.clone(), server.kept.clone());
        let paused_until: Arc<Mutex<Option<Instant>>> = Arc::default();
        thread::spawn(move || {
            thread::sleep(accept_after);
            for stream in listener.incoming() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                connections.fetch_add(1, Ordering::Relaxed);
                let (behavior, requests, first, lengths, stop) = (
                    behavior.clone(),
                    requests.clone(),
                    first.clone(),
                    lengths.clone(),
                    stop.clone(),
                );
                let paused_until = paused_until.clone();
                let (tls, resumed, kept) = (tls.clone(), resumed.clone(), kept.clone());
                thread::spawn(move || {
                    let shared = Shared {
                        requests: &requests,
                        first: &first,
                        lengths: &lengths,
                        stop: &stop,
                        paused_until: &paused_until,
                        resumed: &resumed,
                        kept: &kept,
                    };
                    let _ = stream.set_nodelay(true);
                    match tls {
                        Some(config) => {
                            let session = ServerConnection::new(config).unwrap();
                            serve(StreamOwned::new(session, stream), behavior, shared)
                        }
                        None => serve(stream, behavior, shared),
                    }
                });
            }
        });
        server
    }

    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.addr)
    }

    /// A config for this server with test-friendly defaults: 4 connections, 2 threads, 1 s.
    pub fn config(&self, path: &str) -> Config {
        let mut config = Config::new(Url::parse(&self.url(path)).unwrap());
        config.connections = 4;
        config.threads = Some(2);
        config.duration = Some(Duration::from_secs(1));
        config
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The first `KEPT` requests' bytes, in the order they came (on any connection).
    pub fn all_requests(&self) -> Vec<Vec<u8>> {
        self.kept.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop; bounded, since a server still not accepting (`start_late`)
        // has a full queue and the connect would wait on SYN retries.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

/// What the connection threads of one server share.
struct Shared<'a> {
    requests: &'a AtomicU64,
    first: &'a Mutex<Vec<u8>>,
    lengths: &'a Mutex<Vec<usize>>,
    stop: &'a AtomicBool,
    paused_until: &'a Mutex<Option<Instant>>,
    resumed: &'a AtomicU64,
    kept: &'a Mutex<Vec<Vec<u8>>>,
}

fn serve(mut stream: impl Wire, behavior: Behavior, shared: Shared<'_>) {
    let Shared {
        requests,
        first,
        lengths,
        stop,
        paused_until,
        resumed,
        kept,
    } = shared;
    if let Behavior::AcceptClose = behavior {
        return;
    }
    if let Behavior::Greet(_) = behavior
        && stream
            .write_all(ok(r#"{"prediction":0}"#).as_bytes())
            .is_err()
    {
        return;
    }
    let mut buf = Vec::new();
    let mut served = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let Some(request) = read_request(&mut stream, &mut buf) else {
            return;
        };
        let number = requests.fetch_add(1, Ordering::Relaxed) + 1;
        if served == 0 && stream.resumed() {
            resumed.fetch_add(1, Ordering::Relaxed);
        }
        lengths.lock().unwrap().push(request.len());
        if number <= KEPT {
            kept.lock().unwrap().push(request.clone());
        }
        if number == 1 {
            *first.lock().unwrap() = request;
        }
        if let Behavior::PauseOnce(at, pause) = behavior {
            if number == at {
                *paused_until.lock().unwrap() = Some(Instant::now() + pause);
            }
            let until = *paused_until.lock().unwrap();
            if let Some(wait) = until.and_then(|u| u.checked_duration_since(Instant::now())) {
                thread::sleep(wait);
            }
        }
        served += 1;
        if !respond(&mut stream, &behavior, served) {
            return;
        }
    }
}

/// Reads one request (head plus Content-Length body) and returns its bytes.
fn read_request(stream: &mut impl Read, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4) {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse::<usize>().unwrap_or(0));
            if buf.len() >= end + length {
                return Some(buf.drain(..end + length).collect());
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

fn ok(body: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Answers one request; false closes the connection.
fn respond<W: Wire>(stream: &mut W, behavior: &Behavior, served: u64) -> bool {
    let body = r#"{"prediction":1}"#;
    let write = |stream: &mut W, bytes: &[u8]| stream.write_all(bytes).is_ok();
    match behavior {
        Behavior::Body(b) => write(stream, ok(b).as_bytes()),
        Behavior::Status(code, b) => {
            let text = format!(
                "HTTP/1.1 {code} X\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            );
            write(stream, text.as_bytes())
        }
        Behavior::CloseEvery(n) if served.is_multiple_of(*n) => {
            let text = format!(
                "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            write(stream, text.as_bytes());
            false
        }
        Behavior::CloseEvery(_) => write(stream, ok(body).as_bytes()),
        Behavior::DropAfter(n) if served > *n => {
            let _ = stream.tcp().shutdown(Shutdown::Both);
            false
        }
        Behavior::DropAfter(_) => write(stream, ok(body).as_bytes()),
        Behavior::Reset => {
            let _ = socket_linger_zero(stream.tcp());
            false
        }
        Behavior::ResetAfter(n) if served > *n => {
            let _ = socket_linger_zero(stream.tcp());
            false
        }
        Behavior::ResetAfter(_) => write(stream, ok(body).as_bytes()),
        Behavior::Stall => {
            thread::sleep(Duration::from_secs(30));
            false
        }
        Behavior::Garbage => {
            write(stream, b"SPAM SPAM SPAM\r\n\r\n");
            false
        }
        Behavior::Chunked(b) => {
            let mut text = String::from("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            for piece in b.as_bytes().chunks(3) {
                text += &format!(
                    "{:x}\r\n{}\r\n",
                    piece.len(),
                    String::from_utf8_lossy(piece)
                );
            }
            text += "0\r\nX-Trailer: done\r\n\r\n";
            write(stream, text.as_bytes())
        }
        Behavior::Drip(b, pause) => ok(b).as_bytes().iter().all(|byte| {
            thread::sleep(*pause);
            write(stream, &[*byte])
        }),
        Behavior::Tokens(pieces, pause) => {
            let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
            write(stream, head.as_bytes())
                && pieces.iter().all(|piece| {
                    thread::sleep(*pause);
                    write(
                        stream,
                        format!("{:x}\r\n{piece}\r\n", piece.len()).as_bytes(),
                    )
                })
                && write(stream, b"0\r\n\r\n")
        }
        Behavior::CloseDelimited(b) => {
            write(stream, format!("HTTP/1.0 200 OK\r\n\r\n{b}").as_bytes());
            false
        }
        Behavior::Delay(b, delay) => {
            thread::sleep(*delay);
            write(stream, ok(b).as_bytes())
        }
        Behavior::AcceptClose => false,
        Behavior::PauseOnce(..) => write(stream, ok(body).as_bytes()),
        Behavior::Huge(size) => {
            let shell = r#"{"prediction":1,"pad":""}"#;
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n");
            let mut left = size - shell.len();
            let piece = vec![b'x'; 1 << 20];
            write(stream, head.as_bytes())
                && write(stream, &shell.as_bytes()[..shell.len() - 2])
                && std::iter::from_fn(|| {
                    let n = left.min(piece.len());
                    left -= n;
                    (n > 0).then_some(n)
                })
                .all(|n| write(stream, &piece[..n]))
                && write(stream, b"\"}")
        }
        Behavior::Twice => write(stream, ok(body).repeat(2).as_bytes()),
        Behavior::Trailing => write(stream, (ok(body) + "\r\n").as_bytes()),
        Behavior::Greet(delay) => {
            thread::sleep(*delay);
            write(stream, ok(body).as_bytes())
        }
        Behavior::SecondLater(pause) => {
            let answered = write(stream, ok(body).as_bytes());
            thread::sleep(*pause);
            answered && write(stream, ok(body).as_bytes())
        }
    }
}

/// Closing with SO_LINGER 0 sends RST instead of FIN.
fn socket_linger_zero(stream: &TcpStream) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a valid fd with a correctly sized struct.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

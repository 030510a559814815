//! No allocation per request: the same run with many more requests (closed loop) or for
//! more seconds (rate mode) must allocate (almost) nothing more. The server here allocates
//! nothing per request either, so the global allocator's counter measures blast.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use blast::run::config::{Config, Driver};
use blast::run::url::Url;

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Answers every `\r\n\r\n`-terminated GET with the same static response, from stack buffers.
fn allocation_free_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/predict", listener.local_addr().unwrap());
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            thread::spawn(move || {
                let mut stream = stream;
                let _ = stream.set_nodelay(true);
                let response = b"HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n{\"prediction\":1}";
                let mut buf = [0u8; 4096];
                let mut tail = 0u32; // last bytes seen, to find \r\n\r\n across reads
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    for &byte in &buf[..n] {
                        tail = (tail << 8) | byte as u32;
                        if tail == u32::from_be_bytes(*b"\r\n\r\n")
                            && stream.write_all(response).is_err()
                        {
                            return;
                        }
                    }
                }
            });
        }
    });
    url
}

/// A run against `url` on 2 cores with the `prediction` check on.
fn checked_config(url: &str) -> Config {
    let mut config = Config::new(Url::parse(url).unwrap());
    config.threads = Some(2);
    config.expect.json = vec![blast::check::JsonExpectation::parse("prediction=0|1").unwrap()];
    config
}

/// Runs `config`; returns the allocations it made (the counter is global: callers hold
/// `common::one_at_a_time`) and its successes.
fn allocations_of(config: &Config) -> (u64, u64) {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let summary = blast::run::app::run(config).unwrap();
    (
        ALLOCATIONS.load(Ordering::Relaxed) - before,
        summary.successes,
    )
}

fn allocations_for(url: &str, requests: u64, driver: Driver) -> u64 {
    allocations_of_mix(url, requests, driver, None)
}

/// As `allocations_for`, with the requests of a `--targets` mix when one is given.
fn allocations_of_mix(url: &str, requests: u64, driver: Driver, mix: Option<&str>) -> u64 {
    let mut config = checked_config(url);
    if let Some(text) = mix {
        let defaults = blast::run::mix::Defaults {
            url: &config.url,
            headers: &[],
            expect: &config.expect,
        };
        config.mix = Some(blast::run::mix::parse(text, &defaults).unwrap());
    }
    config.connections = 4;
    config.duration = None;
    config.requests = Some(requests);
    config.driver = driver;
    let (used, successes) = allocations_of(&config);
    assert_eq!(successes, requests);
    used
}

#[test]
fn steady_state_allocates_nothing_per_request() {
    let _alone = common::one_at_a_time();
    let url = allocation_free_server();
    for driver in [Driver::Uring, Driver::Epoll] {
        allocations_for(&url, 100, driver); // warm up lazily initialized state
        let small = allocations_for(&url, 2_000, driver);
        let large = allocations_for(&url, 40_000, driver);
        let extra = large.saturating_sub(small);
        println!("{driver:?}: {small} allocations for 2k requests, {large} for 40k");
        // 38,000 more requests; a few allocations per elapsed second are allowed.
        assert!(
            extra < 200,
            "{driver:?}: {extra} extra allocations for 38,000 extra requests"
        );
    }
}

/// The same with a `--targets` mix: three targets, two expectations, per-target statistics
/// (whose histograms grow only while new maxima arrive, which the warm-up covers).
#[test]
fn a_mix_allocates_nothing_per_request() {
    let _alone = common::one_at_a_time();
    let url = allocation_free_server();
    let mix = r#"{"name": "a", "weight": 3}
                 {"name": "b", "path": "/other", "body": {"x": 1}}
                 {"name": "c", "path": "/c", "expect_json": "prediction"}"#;
    let run = |requests| allocations_of_mix(&url, requests, Driver::Uring, Some(mix));
    run(2_000);
    let (small, large) = (run(2_000), run(40_000));
    println!("mix: {small} allocations for 2k requests, {large} for 40k");
    assert!(large.saturating_sub(small) < 200, "{small} then {large}");
}

/// The same with a `--flow` whose second step puts a value captured from the first's JSON
/// body into its path, a header and a JSON body: each user builds that request into its own
/// buffer, which, once grown, is reused (`-n` counts flows: two requests each).
#[test]
fn a_flow_allocates_nothing_per_request() {
    let _alone = common::one_at_a_time();
    let url = allocation_free_server();
    let text = r#"{"name": "a", "capture": {"p": "prediction"}}
                  {"name": "b", "method": "POST", "path": "/predict?p=${p}", "headers": {"X-P": "${p}"}, "body": {"p": "${p}"}}"#;
    let run = |flows: u64| {
        let mut config = checked_config(&url);
        let defaults = blast::run::mix::Defaults {
            url: &config.url,
            headers: &[],
            expect: &config.expect,
        };
        let flow = blast::run::flow::parse(text, &defaults).unwrap();
        config.mix = Some(flow.lines());
        config.flow = Some(flow);
        config.connections = 4;
        config.duration = None;
        config.requests = Some(flows);
        let (used, successes) = allocations_of(&config);
        assert_eq!(successes, 2 * flows);
        used
    };
    run(1_000);
    let (small, large) = (run(1_000), run(20_000));
    println!("flow: {small} allocations for 1k flows, {large} for 20k");
    assert!(large.saturating_sub(small) < 200, "{small} then {large}");
}

/// Allocations of a rate-mode run of `seconds` at 4,000 requests/s.
fn allocations_at_rate(url: &str, seconds: u64) -> (u64, u64) {
    let mut config = checked_config(url);
    config.connections = 8;
    // Rate mode opens connections when a stall leaves slots overdue (a busy machine does
    // that), and each new one allocates its task and buffer: per connection, not per
    // request, so growth is kept out of this count.
    config.max_connections = 8;
    config.rate = Some(4_000.0);
    config.duration = Some(std::time::Duration::from_secs(seconds));
    let (used, successes) = allocations_of(&config);
    assert!(successes >= 3_900 * seconds, "{successes}");
    (used, successes)
}

#[test]
fn rate_mode_allocates_nothing_per_request() {
    let _alone = common::one_at_a_time();
    let url = allocation_free_server();
    allocations_at_rate(&url, 1); // warm up lazily initialized state
    let (short, short_requests) = allocations_at_rate(&url, 1);
    let (long, long_requests) = allocations_at_rate(&url, 4);
    let extra = long.saturating_sub(short);
    println!("{short} allocations for {short_requests} requests, {long} for {long_requests}");
    // 12,000 more requests over 3 more seconds; a few allocations per second and core (the
    // per-second sample and its histogram) are allowed.
    assert!(
        extra < 100,
        "{extra} extra allocations for {} extra requests",
        long_requests - short_requests
    );
}

/// nginx over https, started by scripts/nginx.sh and stopped by PID (it allocates nothing in
/// this process, so the counter is blast's).
struct Nginx(String);

impl Nginx {
    fn start_tls() -> (Nginx, String, String) {
        let free = || {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port().to_string()
        };
        let (port, tls_port) = (free(), free());
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/nginx.sh");
        let out = std::process::Command::new(script)
            .args(["start", &port, "1", "", &tls_port])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let url = format!("https://127.0.0.1:{tls_port}/predict");
        (Nginx(pid), url, format!("/tmp/blast-nginx-{port}-ca.pem"))
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/nginx.sh");
        let _ = std::process::Command::new(script)
            .args(["stop", &self.0])
            .status();
    }
}

/// Over https blast's own path still allocates nothing per request; rustls (0.23) allocates
/// one buffer per record it encrypts and one per record it decrypts, so a request and its
/// one-record response cost two allocations, never more: bounded, and freed at once.
#[test]
fn over_https_only_rustls_allocates_two_per_request() {
    let _alone = common::one_at_a_time();
    let (_nginx, url, ca) = Nginx::start_tls();
    let mut config = checked_config(&url);
    config.trust = blast::tls::Trust::Cacert(ca.into());
    config.connections = 4;
    config.duration = None;
    let mut allocations = |requests: u64| {
        config.requests = Some(requests);
        let (used, successes) = allocations_of(&config);
        assert_eq!(successes, requests);
        used
    };
    allocations(100); // warm up lazily initialized state
    let small = allocations(2_000);
    let large = allocations(40_000);
    let per_request = large.saturating_sub(small) as f64 / 38_000.0;
    println!("{small} allocations for 2k requests, {large} for 40k: {per_request:.3} per request");
    assert!(
        (1.9..=2.01).contains(&per_request),
        "{per_request} allocations per request over TLS"
    );
}

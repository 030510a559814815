//! The engine end to end against the in-process loopback server, on both drivers.

mod common;

use std::time::{Duration, Instant};

use blast::results::summary::Summary;
use blast::run::app;
use blast::run::config::{Config, Driver};
use common::{Behavior, DRIVERS, Server, errors, prediction_rule, run_on as run};

fn other_errors(summary: &Summary, kind: &str) -> u64 {
    summary
        .errors
        .iter()
        .filter(|(k, _)| *k != kind)
        .map(|(_, n)| n)
        .sum()
}

#[test]
fn sends_the_exact_request_bytes_and_counts_every_response() {
    for driver in DRIVERS {
        let server = Server::start(Behavior::Body(r#"{"prediction":0}"#));
        let mut config = server.config("/predict?v=2");
        config.request.method = "POST".into();
        config.request.bodies = vec![br#"{"features":[1,2,3]}"#.to_vec()];
        config.request.headers = vec![("X-Test".into(), "yes".into())];
        config.requests = Some(1000);
        config.duration = None;
        config.expect = prediction_rule();
        let summary = run(config.clone(), driver);

        let expected =
            blast::http::request::build(&config.url, &config.request, &config.request.bodies[0]);
        assert_eq!(
            *server.first_request.lock().unwrap(),
            expected,
            "request bytes on the wire"
        );
        assert!(String::from_utf8_lossy(&expected).starts_with("POST /predict?v=2 HTTP/1.1\r\n"));
        assert_eq!(
            (summary.requests, summary.successes, summary.failures),
            (1000, 1000, 0)
        );
        assert_eq!(
            server.requests(),
            1000,
            "the server saw exactly -n requests"
        );
        assert_eq!(summary.latency.count, 1000);
        assert_eq!(summary.status_codes, [(200, 1000)].into());
        assert_eq!(summary.bytes_written, 1000 * expected.len() as u64);
        assert_eq!(summary.connections.established, 4);
        assert_eq!(summary.in_flight, 0);
    }
}

#[test]
fn reconnects_when_the_server_says_close() {
    for driver in DRIVERS {
        let server = Server::start(Behavior::CloseEvery(10));
        let mut config = server.config("/");
        config.requests = Some(200);
        config.duration = None;
        config.expect = prediction_rule();
        let summary = run(config, driver);
        assert_eq!((summary.successes, summary.failures), (200, 0));
        assert!(
            summary.connections.reconnects >= 16,
            "reconnects {}",
            summary.connections.reconnects
        );
        assert_eq!(
            summary.connections.established,
            server
                .connections
                .load(std::sync::atomic::Ordering::Relaxed)
        );
    }
}

/// `--no-keepalive`: each request on its own connection, announced with `Connection: close`,
/// and closed loop still closes: a request's latency spans its whole cycle, connect included.
#[test]
fn without_keepalive_every_request_opens_its_own_connection() {
    for driver in DRIVERS {
        let server = Server::start(Behavior::Delay(
            r#"{"prediction":1}"#,
            Duration::from_millis(2),
        ));
        let mut config = server.config("/");
        config.request.no_keepalive = true;
        config.requests = Some(400);
        config.duration = None;
        config.expect = prediction_rule();
        let summary = run(config, driver);
        assert!(!summary.connections.keep_alive);
        assert_eq!((summary.successes, summary.failures), (400, 0));
        let accepted = server
            .connections
            .load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!((accepted, server.requests()), (400, 400));
        assert_eq!(
            (
                summary.connections.established,
                summary.connections.reconnects
            ),
            (400, 396),
            "the first connection of each of the 4 is not a reconnect"
        );
        let first = server.first_request.lock().unwrap().clone();
        assert!(
            String::from_utf8_lossy(&first).contains("\r\nConnection: close\r\n"),
            "{}",
            String::from_utf8_lossy(&first)
        );
        let ratio = summary.concurrency / 4.0;
        assert!(
            (0.9..=1.01).contains(&ratio),
            "mean latency x RPS / connections = {ratio}"
        );
    }
}

/// Without keep-alive the handshake is part of each request's latency; with it, the
/// connections open before the clock starts. A server whose accept queue holds one connection
/// makes the second connect wait for the kernel's SYN retry, a second later.
#[test]
fn without_keepalive_latency_includes_the_handshake() {
    for driver in DRIVERS {
        for no_keepalive in [true, false] {
            let server = Server::start_late(
                Behavior::Body(r#"{"prediction":1}"#),
                Duration::from_millis(300),
            );
            let mut config = server.config("/");
            config.request.no_keepalive = no_keepalive;
            config.connections = 2;
            config.threads = Some(1);
            config.requests = Some(2);
            config.duration = None;
            let summary = run(config, driver);
            assert_eq!(summary.successes, 2, "{driver:?}");
            let max_ms = summary.latency.max / 1000.0;
            let connect_max_ms = summary.connect.max / 1000.0;
            if no_keepalive {
                assert!(
                    max_ms >= 900.0,
                    "{driver:?}: max {max_ms} ms holds the SYN retry"
                );
                // Within the latency, but for the connect histogram's 1% precision.
                assert!(
                    (900.0..=max_ms * 1.01).contains(&connect_max_ms),
                    "{driver:?}: the connect that waited is timed: {connect_max_ms} ms"
                );
                assert_eq!(summary.connect.count, 2);
            } else {
                assert!(
                    max_ms < 500.0,
                    "{driver:?}: max {max_ms} ms, the connects came first"
                );
                assert_eq!(summary.connect.count, 0, "opened before the clock started");
            }
        }
    }
}

#[test]
fn counts_an_unannounced_close_as_a_read_error() {
    for driver in DRIVERS {
        let server = Server::start(Behavior::DropAfter(5));
        let mut config = server.config("/");
        config.requests = Some(120);
        config.duration = None;
        let summary = run(config, driver);
        assert_eq!(summary.requests, 120);
        assert!(errors(&summary, "read") >= 10, "{:?}", summary.errors);
        assert_eq!(other_errors(&summary, "read"), 0, "{:?}", summary.errors);
        assert_eq!(summary.successes + errors(&summary, "read"), 120);
    }
}

#[test]
fn counts_resets_garbage_and_bad_statuses() {
    let cases: [(Behavior, &str); 5] = [
        (Behavior::Reset, "read"),
        (Behavior::Garbage, "malformed"),
        (Behavior::Status(503, "busy"), "status"),
        (Behavior::Body(r#"{"prediction":2}"#), "body"),
        (Behavior::Body("<html>not json</html>"), "body"),
    ];
    for driver in DRIVERS {
        for (behavior, kind) in cases.clone() {
            let server = Server::start(behavior.clone());
            let mut config = server.config("/");
            config.requests = Some(20);
            config.duration = Some(Duration::from_secs(10));
            config.expect = prediction_rule();
            let summary = run(config, driver);
            assert_eq!(summary.requests, 20, "{behavior:?}");
            assert_eq!(
                errors(&summary, kind),
                20,
                "{behavior:?} {:?}",
                summary.errors
            );
            assert_eq!(summary.successes, 0, "{behavior:?}");
        }
    }
}

#[test]
fn frames_chunked_dripped_and_close_delimited_bodies() {
    let cases = [
        Behavior::Chunked(r#"{"model": "m", "prediction": 1}"#),
        Behavior::Drip(r#"{"prediction":0}"#, Duration::from_micros(200)),
        Behavior::CloseDelimited(r#"{"prediction":1}"#),
    ];
    for driver in DRIVERS {
        for behavior in cases.clone() {
            let server = Server::start(behavior.clone());
            let mut config = server.config("/");
            config.requests = Some(30);
            config.duration = Some(Duration::from_secs(10));
            config.expect = prediction_rule();
            let summary = run(config, driver);
            assert_eq!(
                (summary.successes, summary.failures),
                (30, 0),
                "{behavior:?} {:?}",
                summary.errors
            );
        }
    }
}

#[test]
fn a_stalled_server_times_out_and_the_run_still_ends_on_time() {
    // The drain waits for the requests out at the deadline until they time out; with
    // `--drain 0` they are reported in flight.
    for (driver, drain) in [
        (DRIVERS[0], None),
        (DRIVERS[1], None),
        (DRIVERS[0], Some(0)),
    ] {
        let server = Server::start(Behavior::Stall);
        let mut config = server.config("/");
        config.timeout = Duration::from_millis(200);
        config.duration = Some(Duration::from_millis(1100));
        config.drain = drain.map(Duration::from_millis);
        let started = Instant::now();
        let summary = run(config, driver);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "took {:?}",
            started.elapsed()
        );
        let timeouts = errors(&summary, "timeout");
        // 4 connections, one timeout per 200 ms each (plus reconnect backoff): 4..=20, and
        // the 4 out at the deadline when they are drained.
        assert!((4..=24).contains(&timeouts), "timeouts {timeouts}");
        assert_eq!(other_errors(&summary, "timeout"), 0, "{:?}", summary.errors);
        assert!(
            summary.connections.reconnects >= 4,
            "a timed-out connection is replaced"
        );
        let (in_flight, drained) = if drain.is_some() {
            (4, 0.0..0.05)
        } else {
            (0, 0.05..0.5)
        };
        assert_eq!(
            summary.in_flight, in_flight,
            "{driver:?} {drain:?}: the stalled requests at the deadline are drained or reported"
        );
        assert!(drained.contains(&summary.drain_s), "{}", summary.drain_s);
    }
}

/// Over a Unix socket (`--unix-socket`) a stalled server is timed out as over TCP (the
/// watcher's shutdown ends the read), and a socket nobody listens on is counted as connect
/// failures, not spun on.
#[test]
fn unix_socket_stalls_and_refusals_are_counted() {
    use std::os::unix::net::UnixListener;
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = common::scratch("engine-uds");
    // Bound and closed at once: the file stays, and connects to it are refused.
    let refusing = dir.join("refusing.sock");
    drop(UnixListener::bind(&refusing).unwrap());
    for driver in DRIVERS {
        let stalling = dir.join(format!("stall-{driver:?}.sock"));
        let listener = UnixListener::bind(&stalling).unwrap();
        listener.set_nonblocking(true).unwrap();
        // Accepts and holds every connection, reading nothing and answering nothing.
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let holder = std::thread::spawn({
            let stop = stop.clone();
            move || {
                let mut held = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => held.push(stream),
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            }
        });
        let mut config = Config::new(blast::run::url::Url::parse("http://localhost/").unwrap());
        config.url.unix_socket = Some(stalling.clone());
        config.connections = 4;
        config.threads = Some(2);
        config.timeout = Duration::from_millis(200);
        config.duration = Some(Duration::from_millis(1100));
        let started = Instant::now();
        let summary = run(config.clone(), driver);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "took {:?}",
            started.elapsed()
        );
        let timeouts = errors(&summary, "timeout");
        assert!(
            (4..=20).contains(&timeouts),
            "{driver:?}: timeouts {timeouts}"
        );
        assert_eq!(other_errors(&summary, "timeout"), 0, "{:?}", summary.errors);
        assert_eq!(
            summary.destination.unix_socket.as_deref(),
            stalling.to_str()
        );
        stop.store(true, Ordering::Relaxed);
        holder.join().unwrap();

        config.url.unix_socket = Some(refusing.clone());
        config.duration = Some(Duration::from_millis(500));
        let summary = run(config, driver);
        let refused = errors(&summary, "connect");
        // Backoff from 10 ms, doubling: a handful of attempts per connection, not thousands.
        assert!(
            (4..=40).contains(&refused),
            "{driver:?}: connect failures {refused}"
        );
        assert_eq!(summary.requests, refused);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_refused_server_is_retried_with_backoff_not_a_spin() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    for driver in DRIVERS {
        let target = blast::run::url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        let mut config = Config::new(target);
        config.connections = 4;
        config.threads = Some(2);
        config.duration = Some(Duration::from_secs(1));
        let summary = run(config, driver);
        let connects = errors(&summary, "connect");
        // Backoff 10, 20, 40, ... ms: about 7 attempts per connection per second.
        assert!((4..=40).contains(&connects), "connect errors {connects}");
        assert_eq!((summary.successes, summary.connections.established), (0, 0));
        assert_eq!(app::exit_code(&summary), app::EXIT_FAILED);
    }
}

#[test]
fn a_server_that_closes_at_once_is_counted_not_spun_on() {
    for driver in DRIVERS {
        let server = Server::start(Behavior::AcceptClose);
        let config = server.config("/");
        let summary = run(config, driver);
        let failed = errors(&summary, "read") + errors(&summary, "write");
        assert!((4..=40).contains(&failed), "{:?}", summary.errors);
        assert_eq!(summary.successes, 0);
    }
}

/// `--body-lines`: the bodies go in turn, one per request, each request whole, including one
/// far larger than a socket's send buffer (the first write takes part of it, the runtime
/// writes the rest from the shared plan).
#[test]
fn bodies_are_sent_in_turn_and_large_requests_whole() {
    let large = format!(r#"{{"x":"{}"}}"#, "y".repeat(8 << 20));
    for driver in DRIVERS {
        let server = Server::start(Behavior::Body(r#"{"prediction":1}"#));
        let mut config = server.config("/predict");
        config.request.method = "POST".into();
        config.request.bodies = vec![
            br#"{"x":1}"#.to_vec(),
            large.clone().into_bytes(),
            br#"{"x":22}"#.to_vec(),
        ];
        config.connections = 1;
        config.threads = Some(1);
        config.requests = Some(7);
        config.duration = None;
        config.expect = prediction_rule();
        let summary = run(config.clone(), driver);
        assert_eq!((summary.successes, summary.failures), (7, 0), "{driver:?}");
        let request_len =
            |body: &[u8]| blast::http::request::build(&config.url, &config.request, body).len();
        let cycle: Vec<usize> = config
            .request
            .bodies
            .iter()
            .map(|b| request_len(b))
            .collect();
        let want: Vec<usize> = cycle.iter().copied().cycle().take(7).collect();
        assert_eq!(*server.lengths.lock().unwrap(), want, "{driver:?}");
        assert_eq!(summary.bytes_written, want.iter().sum::<usize>() as u64);
    }
}

#[test]
fn closed_loop_latency_satisfies_littles_law() {
    for driver in DRIVERS {
        let server = Server::start(Behavior::Delay(
            r#"{"prediction":1}"#,
            Duration::from_millis(2),
        ));
        let mut config = server.config("/");
        config.connections = 16;
        config.duration = Some(Duration::from_secs(2));
        let summary = run(config, driver);
        let ratio = summary.concurrency / 16.0;
        assert!(
            (0.95..=1.01).contains(&ratio),
            "mean latency x RPS / connections = {ratio}"
        );
        assert!(
            summary.latency.p50 >= 2_000.0,
            "p50 {}us includes the server's 2 ms",
            summary.latency.p50
        );
        assert!(
            (summary.duration_s - 2.0).abs() < 0.05,
            "duration {}",
            summary.duration_s
        );
        // Each connection had a request out at the deadline: the drain waited for them.
        assert_eq!(summary.in_flight, 0);
        assert!(
            summary.drain_s > 0.0 && summary.drain_s < 0.05,
            "{}",
            summary.drain_s
        );
        let per_second: u64 = summary.per_second.iter().map(|r| r.requests).sum();
        assert_eq!(
            per_second, summary.requests,
            "the series covers every request"
        );
        assert_eq!(summary.per_second.len(), 2);
    }
}

#[test]
fn connections_that_do_not_divide_evenly_are_all_used() {
    let server = Server::start(Behavior::Body(r#"{"prediction":1}"#));
    let mut config = server.config("/");
    config.connections = 7;
    config.threads = Some(2);
    config.duration = Some(Duration::from_millis(300));
    let summary = run(config, Driver::Auto);
    assert_eq!(summary.connections.established, 7);
    assert_eq!(summary.threads, 2);
}

#[test]
fn health_check_gates_the_run() {
    let server = Server::start(Behavior::Status(503, "down"));
    let mut config = server.config("/");
    config.health = Some("/health".into());
    let err = app::run(&config).unwrap_err();
    assert!(
        err.contains("health check GET") && err.contains("status 503"),
        "{err}"
    );
    assert_eq!(server.requests(), 1, "only the health request was sent");

    let up = Server::start(Behavior::Body("ok"));
    let mut config = up.config("/");
    config.health = Some(up.url("/health"));
    config.requests = Some(10);
    assert_eq!(app::run(&config).unwrap().successes, 10);
}

/// `--first-byte` times the first byte of the body, not of the head: a streamed body (the
/// head at once, a token every 20 ms) has its first byte at the first token, 20 ms in, and
/// its last at the third, 60 ms in. A body that arrives whole begins when it ends. After a
/// warm-up of streamed responses too: their times are dropped with them.
#[test]
fn first_byte_is_the_first_token_of_a_streamed_body() {
    const PAUSE: Duration = Duration::from_millis(20);
    let ms = |us: f64| us / 1e3;
    for driver in DRIVERS {
        let server = Server::start(Behavior::Tokens(
            &["data: 0\n\n", "data: 1\n\n", "data: 2\n\n"],
            PAUSE,
        ));
        let mut config = server.config("/generate");
        config.connections = 2;
        config.requests = Some(20);
        config.warmup = Duration::from_millis(150);
        config.first_byte = true;
        let summary = run(config, driver);
        assert_eq!(summary.successes, 20, "{driver:?} {:?}", summary.errors);
        let first = &summary.first_byte.as_ref().expect("timed");
        let last = &summary.latency;
        assert_eq!(first.count, 20, "{driver:?}");
        // The head came at once: a clock that stopped at it would read under 20 ms.
        assert!(
            first.min >= 20_000.0,
            "{driver:?} first byte min {}ms",
            ms(first.min)
        );
        assert!(
            first.p50 < 40_000.0,
            "{driver:?} first byte p50 {}ms",
            ms(first.p50)
        );
        assert!(
            last.min >= 60_000.0,
            "{driver:?} latency min {}ms",
            ms(last.min)
        );
        // Per second too: the seconds' first bytes are the first tokens.
        let seconds = summary.per_second.iter().filter(|r| r.requests > 0);
        assert_eq!(seconds.clone().map(|r| r.requests).sum::<u64>(), 20);
        for row in seconds {
            let first = row.first_byte_p50_us.unwrap_or_default();
            assert!((20_000.0..40_000.0).contains(&first), "{driver:?} {row:?}");
            assert!(row.p50_us >= 60_000.0, "{driver:?} {row:?}");
        }

        let server = Server::start(Behavior::Body(r#"{"prediction":1}"#));
        let mut config = server.config("/predict");
        config.requests = Some(200);
        config.first_byte = true;
        let summary = run(config.clone(), driver);
        let first = &summary.first_byte.as_ref().expect("timed");
        assert_eq!(
            (first.count, first.p50, first.max),
            (
                summary.latency.count,
                summary.latency.p50,
                summary.latency.max
            ),
            "{driver:?}: one read, one time"
        );
        config.first_byte = false;
        assert_eq!(
            run(config, driver).first_byte,
            None,
            "{driver:?}: off by default"
        );
    }
}

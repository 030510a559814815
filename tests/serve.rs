//! `blast serve` driven by blast: every injected fault is counted by the client exactly as
//! the server reports injecting it.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use blast::results::summary::Summary;
use blast::run::app;
use blast::run::config::{Config, Driver};
use blast::run::url::Url;
use blast::serve::faults::{Delay, Faults};
use blast::serve::{ServeConfig, ServeStats, Server};
use blast::tls::Trust;
use common::errors;

fn client(server: &Server, requests: u64) -> Config {
    let mut config = Config::new(Url::parse(&format!("http://{}/predict", server.addr)).unwrap());
    config.connections = 4;
    config.threads = Some(1);
    config.requests = Some(requests);
    config.duration = Some(Duration::from_secs(20));
    config.request.method = "POST".into();
    config.request.bodies = vec![br#"{"features":[1,2]}"#.to_vec()];
    config.expect = common::prediction_rule();
    config
}

fn run(server: Server, config: &Config) -> (Summary, ServeStats) {
    let summary = app::run(config).unwrap();
    (summary, server.stop().unwrap())
}

/// Client and server each on either driver (a server on epoll once never answered: its
/// listener blocked the thread in `accept`).
#[test]
fn clean_run_on_both_drivers() {
    let _turn = common::one_at_a_time();
    for served_on in common::DRIVERS {
        for driver in common::DRIVERS {
            let server = common::builtin_on(Faults::default(), served_on);
            let mut config = client(&server, 2_000);
            config.driver = driver;
            let (summary, stats) = run(server, &config);
            let on = format!("client {driver:?}, server {served_on:?}");
            assert_eq!((summary.successes, summary.failures), (2_000, 0), "{on}");
            assert_eq!(stats.requests, 2_000, "{on}");
            assert_eq!(stats.connections, 4, "{on}");
        }
    }
}

/// Faults are injected the same on an epoll server, and its `-d` ends it.
#[test]
fn an_epoll_server_injects_faults_and_stops_by_itself() {
    let _turn = common::one_at_a_time();
    let mut config = ServeConfig::new(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    config.threads = Some(1);
    config.driver = Driver::Epoll;
    config.duration = Some(Duration::from_millis(1_500));
    config.faults = Faults {
        error_share: 0.1,
        ..Faults::default()
    };
    let server = Server::start(config).unwrap();
    let summary = app::run(&client(&server, 500)).unwrap();
    assert_eq!(errors(&summary, "status"), 50, "one 500 in ten, exactly");
    let began = std::time::Instant::now();
    let stats = server.wait().unwrap();
    assert!(began.elapsed() < Duration::from_secs(5), "-d ends it");
    assert_eq!((stats.requests, stats.errors), (500, 50));
}

#[test]
fn injected_errors_and_bad_bodies_are_counted_exactly() {
    let _turn = common::one_at_a_time();
    let server = common::builtin(Faults {
        error_share: 0.1,
        bad_body_share: 0.05,
        ..Faults::default()
    });
    let config = client(&server, 1_000);
    let (summary, stats) = run(server, &config);
    assert_eq!(stats.errors, 100, "one 500 in ten, exactly");
    assert_eq!(errors(&summary, "status"), stats.errors);
    assert_eq!(stats.bad_bodies, 45, "one in twenty of the other 900");
    assert_eq!(
        errors(&summary, "body"),
        stats.bad_bodies,
        "both {{\"prediction\":2}} and invalid JSON"
    );
    assert_eq!(summary.successes, 1_000 - stats.errors - stats.bad_bodies);
    assert_eq!(
        summary.status_codes,
        [(200, 1_000 - stats.errors), (500, stats.errors)].into()
    );
}

#[test]
fn closes_are_reconnected_without_errors() {
    let _turn = common::one_at_a_time();
    let server = common::builtin(Faults {
        close_every: Some(25),
        ..Faults::default()
    });
    let config = client(&server, 1_000);
    let (summary, stats) = run(server, &config);
    assert_eq!((summary.successes, summary.failures), (1_000, 0));
    // Each 25th response on a connection closes it: 40 for 1,000 responses, less the last
    // partial connection of each of the 4 client connections.
    assert!((36..=40).contains(&stats.closes), "{stats:?}");
    // Every close is followed by a reconnect, except those after blast's last request.
    assert!(
        summary.connections.reconnects <= stats.closes
            && stats.closes - summary.connections.reconnects <= 4
    );
    assert_eq!(stats.connections, summary.connections.established);
}

#[test]
fn stalls_become_timeouts() {
    let _turn = common::one_at_a_time();
    let server = common::builtin(Faults {
        stall_every: Some(50),
        stall: Duration::from_millis(400),
        ..Faults::default()
    });
    let mut config = client(&server, 200);
    config.timeout = Duration::from_millis(100);
    let (summary, stats) = run(server, &config);
    assert_eq!(stats.stalls, 4, "every 50th response");
    assert_eq!(errors(&summary, "timeout"), stats.stalls);
    assert_eq!(summary.successes + stats.stalls, 200);
}

#[test]
fn fixed_delay_shows_in_latency_and_littles_law() {
    let _turn = common::one_at_a_time();
    let server = common::builtin(Faults {
        delay: Delay::Fixed(Duration::from_millis(5)),
        ..Faults::default()
    });
    let mut config = client(&server, u64::MAX);
    config.requests = None;
    config.duration = Some(Duration::from_secs(2));
    let (summary, _) = run(server, &config);
    assert!(
        summary.latency.min >= 5_000.0,
        "min {}us",
        summary.latency.min
    );
    assert!(
        summary.latency.p50 < 7_000.0,
        "p50 {}us",
        summary.latency.p50
    );
    // One connection per request at a time, 5 ms each: 4 / 5 ms = 800/s at most.
    assert!(
        (600.0..=800.0).contains(&summary.rps),
        "rps {}",
        summary.rps
    );
    assert!(
        (0.95..=1.01).contains(&(summary.concurrency / 4.0)),
        "{}",
        summary.concurrency
    );
}

#[test]
fn random_delay_stays_in_its_range() {
    let _turn = common::one_at_a_time();
    let server = common::builtin(Faults {
        delay: Delay::parse("1ms-3ms").unwrap(),
        ..Faults::default()
    });
    let config = client(&server, 400);
    let (summary, _) = run(server, &config);
    assert_eq!(summary.successes, 400);
    // Never early. Late by up to two of the server's 1 ms timer ticks, plus whatever else a
    // shared host runs, which can push a few percent of responses past any fixed bound: so
    // the upper check is on the median (about 2 ms + the ticks; a wider range would move it).
    assert!(
        summary.latency.min >= 1_000.0 && summary.latency.p50 < 5_000.0,
        "{:?}",
        summary.latency
    );
    assert!(
        summary.latency.p90 - summary.latency.p50 > 300.0,
        "spread {:?}",
        summary.latency
    );
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let _turn = common::one_at_a_time();
    let server = common::builtin(Faults::default());
    let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\n\r\nPOST /predict HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}GET /nope HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let statuses: Vec<&str> = text
        .match_indices("HTTP/1.1 ")
        .map(|(i, _)| &text[i + 9..i + 12])
        .collect();
    assert_eq!(statuses, ["200", "200", "404"], "{text}");
    assert!(text.contains(r#"{"status":"ok"}"#) && text.contains(r#"{"prediction":"#));
    let stats = server.stop().unwrap();
    assert_eq!(stats.requests, 3);
}

#[test]
fn garbage_gets_400_and_a_close() {
    let _turn = common::one_at_a_time();
    let server = common::builtin(Faults::default());
    let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
    stream.write_all(b"NOT HTTP AT ALL\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");
    assert_eq!(server.stop().unwrap().bad_requests, 1);
}

#[test]
fn a_burst_of_a_thousand_connections_is_accepted_at_once() {
    let _turn = common::one_at_a_time();
    // Client and server share this process: room for both ends of every connection.
    blast::run::limits::ensure_open_files(2_000).unwrap();
    let server = common::builtin(Faults::default());
    let mut config = client(&server, 1);
    config.connections = 1_000;
    config.requests = None;
    config.duration = Some(Duration::from_millis(500));
    let (summary, stats) = run(server, &config);
    // With a backlog of 128 (std's), most SYNs of such a burst were dropped and retried only
    // a second later: a third of the connections were up after the first second.
    assert_eq!(summary.connections.established, 1_000);
    assert_eq!(stats.connections, 1_000);
    assert_eq!(summary.failures, 0);
    assert!(summary.successes > 1_000, "{}", summary.successes);
}

/// `/generate` streams like a model server: blast's `--first-byte` sees the first token
/// `first_ms` in and the end after the last (a dozen tokens: two-digit chunk sizes are framed
/// too), on both drivers; `--error-rate` turns exact shares of them into 500s.
#[test]
fn streamed_answers_time_their_first_token() {
    let _turn = common::one_at_a_time();
    for (driver, error_share) in [(Driver::Uring, 0.0), (Driver::Epoll, 0.25)] {
        let server = common::builtin(Faults {
            error_share,
            ..Faults::default()
        });
        let url = format!(
            "http://{}/generate?tokens=12&first_ms=30&delay_ms=3",
            server.addr
        );
        let mut config = Config::new(Url::parse(&url).unwrap());
        config.connections = 4;
        config.threads = Some(1);
        config.requests = Some(40);
        config.driver = driver;
        config.first_byte = true;
        config.expect.body = vec![b"data: {\"token\": 11}\n\ndata: [DONE]\n\n".to_vec()];
        let (summary, stats) = run(server, &config);
        assert_eq!(stats.errors, (40.0 * error_share) as u64, "{driver:?}");
        assert_eq!(errors(&summary, "status"), stats.errors, "{driver:?}");
        assert_eq!(summary.successes, 40 - stats.errors, "{driver:?}");
        let first = &summary.first_byte.as_ref().expect("timed");
        // A 500 comes whole at once; every stream's first token 30 ms in.
        let streams_from = if error_share == 0.0 {
            first.min
        } else {
            first.p50
        };
        assert!(streams_from >= 30_000.0, "{driver:?} first byte {first:?}");
        if error_share == 0.0 {
            // Eleven waits of 3 ms after the first token.
            let last = &summary.latency;
            assert!(last.min >= 63_000.0, "{driver:?} latency {last:?}");
            assert!(
                first.max < last.min - 20_000.0,
                "{driver:?} {first:?} {last:?}"
            );
        }
    }
}

/// The stream's framing on the wire: chunked for HTTP/1.1 (a pipelined request after it is
/// answered after its end), ended by the close for HTTP/1.0; bad parameters get a 400.
#[test]
fn streams_are_framed_for_each_http_version() {
    let _turn = common::one_at_a_time();
    let server = common::builtin(Faults::default());
    let exchange = |request: &[u8]| {
        let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
        stream.write_all(request).unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text
    };
    let text = exchange(
        b"GET /generate?tokens=2&first_ms=1&delay_ms=1 HTTP/1.1\r\n\r\nGET /health HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    let chunked = "Transfer-Encoding: chunked\r\n\r\n\
                   14\r\ndata: {\"token\": 0}\n\n\r\n\
                   14\r\ndata: {\"token\": 1}\n\n\r\n\
                   e\r\ndata: [DONE]\n\n\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n";
    assert!(text.contains(chunked), "{text:?}");
    assert!(text.ends_with(r#"{"status":"ok"}"#), "{text:?}");
    let text = exchange(b"GET /generate?tokens=1&first_ms=0 HTTP/1.0\r\n\r\n");
    assert!(
        text.ends_with("Connection: close\r\n\r\ndata: {\"token\": 0}\n\ndata: [DONE]\n\n"),
        "{text:?}"
    );
    for bad in ["tokens=-1", "tokens=x", "first_ms=-5", "delay_ms=1e9"] {
        let text = exchange(format!("GET /generate?{bad} HTTP/1.1\r\n\r\n").as_bytes());
        assert!(text.starts_with("HTTP/1.1 400"), "{bad}: {text:?}");
    }
    let stats = server.stop().unwrap();
    assert_eq!((stats.requests, stats.bad_requests), (3, 4));
}

/// `--cert`/`--key`: blast serve speaks https. blast's full check on both drivers (with and
/// without keep-alive: a handshake per request), injected errors counted exactly as over
/// TCP, a /generate stream over TLS, and a client that does not speak TLS is dropped
/// without harm to the others. The server counts handshakes and resumptions.
#[test]
fn serves_https_with_a_certificate() {
    let _turn = common::one_at_a_time();
    let certs = common::test_certs();
    let tls =
        blast::serve::server_config(&certs.join("server.pem"), &certs.join("server.key")).unwrap();
    for (driver, no_keepalive) in [(Driver::Uring, false), (Driver::Epoll, true)] {
        let mut serve = ServeConfig::new(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
        serve.threads = Some(1);
        serve.tls = Some(tls.clone());
        serve.faults.error_share = 0.1;
        let server = Server::start(serve).unwrap();
        let mut plain = std::net::TcpStream::connect(server.addr).unwrap();
        plain.write_all(b"GET /predict HTTP/1.1\r\n\r\n").unwrap();
        let mut answer = Vec::new();
        let _ = plain.read_to_end(&mut answer);
        assert!(!answer.starts_with(b"HTTP"), "{answer:?}");

        let mut config = client(&server, 500);
        config.url = Url::parse(&format!("https://{}/predict", server.addr)).unwrap();
        config.trust = Trust::Cacert(certs.join("ca.pem"));
        config.driver = driver;
        config.request.no_keepalive = no_keepalive;
        let summary = app::run(&config).unwrap();
        assert_eq!(
            summary
                .destination
                .tls
                .as_ref()
                .expect("negotiated")
                .version,
            "TLSv1.3"
        );
        let mut stream = config.clone();
        stream.url = Url::parse(&format!(
            "https://{}/generate?tokens=3&first_ms=20&delay_ms=1",
            server.addr
        ))
        .unwrap();
        stream.request.method = "GET".into();
        stream.expect = Default::default();
        stream.expect.body = vec![b"data: {\"token\": 2}\n\ndata: [DONE]\n\n".to_vec()];
        stream.first_byte = true;
        stream.requests = Some(20);
        let streamed = app::run(&stream).unwrap();
        let stats = server.stop().unwrap();

        assert_eq!(stats.errors, 52, "{driver:?}: 10% of 520");
        let failed = errors(&summary, "status") + errors(&streamed, "status");
        assert_eq!(failed, stats.errors, "{driver:?}");
        assert_eq!(summary.successes + streamed.successes, 520 - stats.errors);
        assert_eq!(summary.failures, errors(&summary, "status"), "{driver:?}");
        assert!(streamed.first_byte.as_ref().unwrap().p50 >= 20_000.0);
        // Each run's handshake before it, the runs' own (without keep-alive one per
        // request), and the one that spoke plain HTTP.
        let runs = if no_keepalive { 500 + 20 } else { 4 + 4 };
        assert_eq!(stats.connections, 2 + runs + 1, "{driver:?}");
        // Every connection but the plain one completed a handshake; blast's client keeps
        // its session tickets, so a connection per request resumes (all but the first few).
        assert_eq!(stats.tls_handshakes, 2 + runs, "{driver:?}");
        if no_keepalive {
            assert!(stats.tls_resumed >= runs - 20, "{stats:?}");
        }
        assert!(stats.tls_resumed < stats.tls_handshakes, "{stats:?}");
    }
    // Request bodies of many records each, several records to a socket read: the server
    // takes them a record at a time, as rustls wants.
    let mut serve = ServeConfig::new(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    serve.tls = Some(tls);
    let server = Server::start(serve).unwrap();
    let mut config = client(&server, 60);
    config.url = Url::parse(&format!("https://{}/predict", server.addr)).unwrap();
    config.trust = Trust::Cacert(certs.join("ca.pem"));
    config.request.bodies = vec![vec![b'7'; 700_000]];
    let (summary, stats) = run(server, &config);
    assert_eq!(
        (summary.successes, stats.requests),
        (60, 60),
        "{:?}",
        summary.errors
    );
}

/// Pipelined requests over TLS, each in a record of its own and all sent at once: a socket
/// read then holds more plaintext than rustls keeps unread (16 KiB), so the server must take
/// the plaintext out between records. Every request is answered, in order.
#[test]
fn pipelined_records_over_tls_are_all_answered() {
    use rustls::pki_types::ServerName;
    use rustls::pki_types::pem::PemObject;
    let _turn = common::one_at_a_time();
    let certs = common::test_certs();
    let mut serve = ServeConfig::new(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
    serve.threads = Some(1);
    serve.tls = Some(
        blast::serve::server_config(&certs.join("server.pem"), &certs.join("server.key")).unwrap(),
    );
    let server = Server::start(serve).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(certs.join("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").unwrap();
    let mut session = rustls::ClientConnection::new(client.into(), name).unwrap();
    let mut tcp = std::net::TcpStream::connect(server.addr).unwrap();
    // The handshake, then every request written as its own record into one buffer.
    while session.is_handshaking() {
        session.complete_io(&mut tcp).unwrap();
    }
    session.set_buffer_limit(None);
    const REQUESTS: usize = 64;
    let body = "1".repeat(1_050);
    for i in 0..REQUESTS {
        let close = if i + 1 == REQUESTS {
            "Connection: close\r\n"
        } else {
            ""
        };
        let request = format!(
            "POST /predict HTTP/1.1\r\nContent-Length: {}\r\n{close}\r\n{body}",
            body.len()
        );
        session.writer().write_all(request.as_bytes()).unwrap();
    }
    let mut wire = Vec::new();
    while session.wants_write() {
        session.write_tls(&mut wire).unwrap();
    }
    assert!(wire.len() > REQUESTS * 1_100, "{} bytes", wire.len());
    tcp.write_all(&wire).unwrap();
    let mut text = String::new();
    let _ = rustls::Stream::new(&mut session, &mut tcp).read_to_string(&mut text);
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), REQUESTS, "{text}");
    assert_eq!(server.stop().unwrap().requests, REQUESTS as u64);
}

#[test]
fn the_server_takes_more_connections_than_its_soft_open_files_limit() {
    // Started under a soft limit of 256 open files (the hard one above it), the server raises
    // its own: a client's 600 connections are all answered. Left at 256, the ~350 it could
    // not accept would wait in the listen queue and their requests time out.
    let hard = std::process::Command::new("sh")
        .args(["-c", "ulimit -Hn"])
        .output()
        .unwrap();
    let hard = String::from_utf8_lossy(&hard.stdout).trim().to_string();
    if hard != "unlimited" && hard.parse::<u64>().unwrap_or(0) < 1024 {
        eprintln!("skipped: the hard open-files limit here is {hard}, too low to raise to 600");
        return;
    }
    let mut server = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -Sn 256 && exec {} serve --listen 127.0.0.1:0 --threads 1 -d 30",
            env!("CARGO_BIN_EXE_blast")
        ))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A note may come first (io_uring unavailable, so epoll): the URL is on the
    // `listening on` line.
    // (Kept open until the server stops, which says its totals there.)
    let mut said = std::io::BufRead::lines(std::io::BufReader::new(server.stderr.take().unwrap()));
    let line = (said.by_ref())
        .map(Result::unwrap)
        .find(|l| l.contains("listening on"))
        .expect("blast serve starts");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("{line}"))
        .to_string()
        + "predict";
    let out = common::blast(&[
        "-c",
        "600",
        "-t",
        "1",
        "-d",
        "2",
        "--timeout",
        "1s",
        "--json",
        "-",
        &url,
    ]);
    let _ = std::process::Command::new("kill")
        .args(["-INT", &server.id().to_string()])
        .status();
    let _ = server.wait();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["connections"]["established"], 600, "{report}");
    assert_eq!(report["failures"], 0, "{}", report["errors"]);
    assert_eq!(out.status.code(), Some(0));
}

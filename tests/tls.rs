//! https end to end against the in-process server over TLS (rustls's server side, with a
//! certificate from a throw-away CA), on both drivers: the exact requests and the full check,
//! framing across records, reconnects and handshakes without keep-alive, timeouts, handshakes
//! that stall or fail, and what blast trusts.

mod common;

use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use blast::run::config::{Config, Driver};
use blast::tls::Trust;
use common::{Behavior, DRIVERS, Server, blast, errors, prediction_rule, run_on as run, test_ca};

/// A run of `requests` against the TLS server, trusting the test CA.
fn config(server: &Server, requests: u64) -> Config {
    let mut config = server.config("/predict");
    config.trust = Trust::Cacert(test_ca().into());
    config.requests = Some(requests);
    config.duration = Some(Duration::from_secs(20));
    config.expect = prediction_rule();
    config
}

#[test]
fn sends_the_exact_requests_and_checks_every_response() {
    for driver in DRIVERS {
        let server = Server::start_tls(Behavior::Body(r#"{"prediction":0}"#));
        let mut config = config(&server, 2000);
        config.request.method = "POST".into();
        config.request.bodies = vec![br#"{"features":[1,2,3]}"#.to_vec()];
        let summary = run(config.clone(), driver);
        assert!(
            summary.destination.url.starts_with("https://127.0.0.1:"),
            "{}",
            summary.destination.url
        );
        let tls = summary
            .destination
            .tls
            .clone()
            .expect("the handshake's terms are reported");
        assert_eq!(tls.version, "TLSv1.3");
        assert!(tls.cipher.starts_with("TLS13_"), "{}", tls.cipher);
        assert_eq!(
            (summary.successes, summary.failures),
            (2000, 0),
            "{driver:?} {:?}",
            summary.errors
        );
        let expected =
            blast::http::request::build(&config.url, &config.request, &config.request.bodies[0]);
        assert_eq!(
            *server.first_request.lock().unwrap(),
            expected,
            "{driver:?}"
        );
        assert_eq!(server.requests(), 2000);
        // Bytes are HTTP's, before encryption, as over TCP.
        assert_eq!(summary.bytes_written, 2000 * expected.len() as u64);
        let head =
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n";
        let response = (head.len() + r#"{"prediction":0}"#.len()) as u64;
        assert_eq!(summary.bytes_read, 2000 * response, "{driver:?}");
        assert_eq!(summary.connections.established, 4);
        assert_eq!(
            server.connections.load(Ordering::Relaxed),
            5,
            "and one handshake before the run"
        );
    }
}

/// Responses that span records and reads: a 300 KB body (19 records), a chunked one, one
/// sent a byte per record, and one that ends when the server closes.
#[test]
fn frames_bodies_across_records() {
    let large: &'static str = Box::leak(
        format!(r#"{{"prediction":1,"pad":"{}"}}"#, "x".repeat(300_000)).into_boxed_str(),
    );
    let cases = [
        Behavior::Body(large),
        Behavior::Chunked(r#"{"model": "m", "prediction": 1}"#),
        Behavior::Drip(r#"{"prediction":0}"#, Duration::from_micros(100)),
        Behavior::CloseDelimited(r#"{"prediction":1}"#),
    ];
    for driver in DRIVERS {
        for behavior in cases.clone() {
            let server = Server::start_tls(behavior.clone());
            let summary = run(config(&server, 40), driver);
            let label = format!("{driver:?} {:.40?}", behavior);
            assert_eq!(
                (summary.successes, summary.failures),
                (40, 0),
                "{label} {:?}",
                summary.errors
            );
        }
    }
}

/// A server that closes every 10th response: each reconnect is a new handshake (resumed
/// from the core's session cache), and nothing fails.
#[test]
fn reconnects_with_a_new_handshake() {
    for driver in DRIVERS {
        let server = Server::start_tls(Behavior::CloseEvery(10));
        let summary = run(config(&server, 400), driver);
        assert_eq!(
            (summary.successes, summary.failures),
            (400, 0),
            "{driver:?} {:?}",
            summary.errors
        );
        assert!(
            summary.connections.reconnects >= 36,
            "reconnects {}",
            summary.connections.reconnects
        );
        // Each core resumes its own earlier connections' sessions: every reconnect resumes;
        // the 4 connections opened at once at the start, and the handshake before the run,
        // had no session to resume.
        let resumed = server.resumed.load(Ordering::Relaxed);
        assert_eq!(
            resumed,
            summary.connections.established - 4,
            "{driver:?}: handshakes resumed"
        );
        assert_eq!(
            summary.connections.established + 1,
            server.connections.load(Ordering::Relaxed),
            "and one handshake before the run"
        );
    }
}

/// `--no-keepalive` over https: a handshake per request, timed as part of its latency.
#[test]
fn without_keepalive_every_request_has_its_own_handshake() {
    for driver in DRIVERS {
        let server = Server::start_tls(Behavior::Body(r#"{"prediction":1}"#));
        let mut config = config(&server, 300);
        config.request.no_keepalive = true;
        let summary = run(config, driver);
        assert_eq!(
            (summary.successes, summary.failures),
            (300, 0),
            "{driver:?} {:?}",
            summary.errors
        );
        assert_eq!(
            server.connections.load(Ordering::Relaxed),
            301,
            "300 and the preflight"
        );
        assert_eq!(summary.connect.count, 300, "every handshake timed");
        assert!(summary.connect.mean <= summary.latency.mean);
    }
}

/// A server that stops answering: requests time out and are replaced, and a server that
/// accepts but never completes a handshake has its connects time out, both counted, the run
/// ending on time.
#[test]
fn stalls_are_counted_not_waited_on() {
    for driver in DRIVERS {
        let server = Server::start_tls(Behavior::Stall);
        let mut config = config(&server, u64::MAX);
        config.requests = None;
        config.timeout = Duration::from_millis(200);
        config.duration = Some(Duration::from_millis(1100));
        let summary = run(config, driver);
        let timeouts = errors(&summary, "timeout");
        assert!(
            (4..=20).contains(&timeouts),
            "{driver:?}: timeouts {timeouts}"
        );
        assert_eq!(summary.failures, timeouts, "{:?}", summary.errors);

        // Accepts, and never says a word of TLS.
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut config = server.config("/");
        config.url =
            blast::run::url::Url::parse(&format!("https://{}/", silent.local_addr().unwrap()))
                .unwrap();
        config.trust = Trust::Any;
        config.connect_timeout = Duration::from_millis(200);
        config.duration = Some(Duration::from_millis(1000));
        let started = Instant::now();
        let summary = run(config, driver);
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        let connects = errors(&summary, "connect");
        assert!(connects >= 4, "{driver:?}: {:?}", summary.errors);
        assert_eq!(summary.failures, connects);
        assert_eq!(summary.successes, 0);
        drop(silent);
    }
}

/// What is trusted: the test CA with --cacert, anything with --insecure; the system's CAs do
/// not know the test CA, and a server that does not speak TLS is named as such. Both of the
/// last are one line and exit 2, before any load.
#[test]
fn trust_is_checked_before_the_run() {
    let server = Server::start_tls(Behavior::Body(r#"{"prediction":1}"#));
    let url = server.url("/predict");
    let plain_url = format!("https://{}/predict", plain_http_server());
    let ca = test_ca();
    let ok = ["-n", "50", "-c", "2", "--expect-json", "prediction=1"];
    for trust in [
        vec!["--cacert", ca.as_str()],
        vec!["--insecure"],
        vec!["-k"],
    ] {
        let out = blast(&[&ok[..], &trust, &[url.as_str()]].concat());
        assert_eq!(out.status.code(), Some(0), "{trust:?}: {out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("50 ok"), "{out:?}");
        let header = stdout.lines().next().unwrap();
        assert!(header.contains("/predict (TLSv1.3, TLS13_"), "{header}");
    }
    // By name: the certificate names localhost too, and the name is what is checked (SNI).
    let by_name = format!("https://localhost:{}/predict", server.addr.port());
    let out = blast(&[&ok[..], &["--cacert", ca.as_str(), by_name.as_str()]].concat());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let before = server.requests();
    let cases = [
        (
            vec![url.as_str()],
            "invalid peer certificate: UnknownIssuer",
        ),
        (
            vec!["-k", plain_url.as_str()],
            "does the server speak https",
        ),
    ];
    for (args, want) in cases {
        let out = blast(&[&ok[..], &args].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
    assert_eq!(
        server.requests(),
        before,
        "no load after a failed handshake"
    );
}

/// A plain HTTP server, as nginx answers anything that is not HTTP: a 400, then close.
fn plain_http_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let _ = std::io::Write::write_all(
                &mut stream,
                b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            );
        }
    });
    addr
}

/// `--health` over https goes through the same trust.
#[test]
fn health_check_over_https() {
    let server = Server::start_tls(Behavior::Body(r#"{"prediction":1}"#));
    let url = server.url("/predict");
    let ca = test_ca();
    let out = blast(&["-n", "20", "--cacert", &ca, "--health", "/health", &url]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = blast(&["-n", "20", "--health", "/health", &url]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("health check GET https://"), "{stderr}");
    assert!(stderr.contains("certificate"), "{stderr}");
}

/// `blast merge` keeps what the handshakes settled on when the runs agree.
#[test]
fn merged_https_reports_keep_the_negotiated_terms() {
    let server = Server::start_tls(Behavior::Body(r#"{"prediction":1}"#));
    let dir = common::scratch("tls-merge");
    let url = server.url("/predict");
    let ca = test_ca();
    let reports: Vec<String> = (0..2)
        .map(|i| {
            let path = dir.join(format!("run{i}.json")).display().to_string();
            let out = blast(&[
                "-n", "200", "-c", "2", "--cacert", &ca, "--json", &path, &url,
            ]);
            assert_eq!(out.status.code(), Some(0), "{out:?}");
            path
        })
        .collect();
    // Made one after the other: merged by second index.
    let out = blast(&[
        "merge",
        "--allow-skew",
        &reports[0],
        &reports[1],
        "--json",
        "-",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let merged: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(merged["tls"]["version"], "TLSv1.3", "{}", merged["tls"]);
    assert_eq!(merged["successes"], 400);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Rate mode runs the same loop over TLS: the schedule is kept and every response checked.
#[test]
fn rate_mode_over_https() {
    let _alone = common::one_at_a_time();
    let server = Server::start_tls(Behavior::Body(r#"{"prediction":1}"#));
    let mut config = config(&server, u64::MAX);
    config.requests = None;
    config.rate = Some(2_000.0);
    config.duration = Some(Duration::from_secs(2));
    let summary = run(config, Driver::Uring);
    assert_eq!(summary.failures, 0, "{:?}", summary.errors);
    let rate = summary.rate.as_ref().expect("a rate run");
    common::assert_on_schedule(rate.sent, 4_000, 2);
    assert!(
        summary.latency.p99 < 50_000.0,
        "p99 {} us",
        summary.latency.p99
    );
}

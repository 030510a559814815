//! `blast serve` driven by blast: every injected fault is counted by the client exactly as
//! the server reports injecting it.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use blast::app;
use blast::config::{Config, Driver};
use blast::report::Summary;
use blast::serve::faults::{Delay, Faults};
use blast::serve::{ServeStats, Server};
use blast::target::Target;
use common::errors;

fn client(server: &Server, requests: u64) -> Config {
    let mut config =
        Config::new(Target::parse(&format!("http://{}/predict", server.addr)).unwrap());
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

#[test]
fn clean_run_on_both_drivers() {
    let _turn = common::one_at_a_time();
    for driver in [Driver::Uring, Driver::Epoll] {
        let server = common::builtin(Faults::default());
        let mut config = client(&server, 2_000);
        config.driver = driver;
        let (summary, stats) = run(server, &config);
        assert_eq!((summary.successes, summary.failures), (2_000, 0));
        assert_eq!(stats.requests, 2_000);
        assert_eq!(stats.connections, 4);
    }
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
        vec![(200, 1_000 - stats.errors), (500, stats.errors)]
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
    assert!(summary.reconnects <= stats.closes && stats.closes - summary.reconnects <= 4);
    assert_eq!(stats.connections, summary.connections_established);
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
    blast::limits::ensure_open_files(2_000).unwrap();
    let server = common::builtin(Faults::default());
    let mut config = client(&server, 1);
    config.connections = 1_000;
    config.requests = None;
    config.duration = Some(Duration::from_millis(500));
    let (summary, stats) = run(server, &config);
    // With a backlog of 128 (std's), most SYNs of such a burst were dropped and retried only
    // a second later: a third of the connections were up after the first second.
    assert_eq!(summary.connections_established, 1_000);
    assert_eq!(stats.connections, 1_000);
    assert_eq!(summary.failures, 0);
    assert!(summary.successes > 1_000, "{}", summary.successes);
}

//! `--pipeline N`: several requests in flight on each connection, each response matched to its
//! own request. Counts are checked exactly against servers that count what they answered:
//! the in-process test server (answers dripped a byte at a time, a close after k, a reset
//! mid-pipeline, a stall) and `blast serve` (the answers to one read in one write), on both
//! drivers.

mod common;

use std::time::Duration;

use blast::results::summary::Summary;
use blast::run::config::{Config, Driver};
use blast::run::url::Url;
use blast::serve::faults::Faults;
use common::{Behavior, DRIVERS, Server, blast, errors, prediction_rule, run_on};

const DEPTH: u32 = 8;

fn pipelined(mut config: Config) -> Config {
    config.pipeline = DEPTH;
    config.expect = prediction_rule();
    config
}

/// A run of exactly `n` requests against the test server (by count, not duration: a
/// closed loop may send a request after `-d` ends, before it notices, which the server
/// answers and no window counts).
fn counted(server: &Server, n: u64) -> Config {
    let mut config = pipelined(server.config("/predict"));
    config.duration = None;
    config.requests = Some(n);
    config
}

/// Runs `config` (a `counted` run) on `driver`: every request answered once, none failed,
/// exactly what the server received.
fn assert_exact(server: &Server, config: Config, driver: Driver) -> Summary {
    let n = config.requests.unwrap();
    let before = server.requests();
    let summary = run_on(config, driver);
    assert_whole(&summary);
    assert_eq!((summary.requests, summary.failures), (n, 0), "{summary:?}");
    assert_eq!(server.requests() - before, n, "{driver:?}");
    summary
}

/// What every pipelined run must show: each request counted once, none left out, and
/// Little's law over the requests in flight (connections × depth in a closed loop).
fn assert_whole(summary: &Summary) {
    assert_eq!(summary.connections.pipeline, DEPTH);
    assert_eq!(
        summary.requests,
        summary.successes + summary.failures,
        "{summary:?}"
    );
    assert_eq!(summary.in_flight, 0, "drained");
}

#[test]
fn answers_in_one_burst_are_each_counted_once() {
    for driver in DRIVERS {
        let server = common::builtin_on(Faults::default(), driver);
        let url = format!("http://{}/predict", server.addr);
        let mut config = pipelined(Config::new(Url::parse(&url).unwrap()));
        config.connections = 4;
        config.threads = Some(1);
        config.requests = Some(50_000);
        let summary = run_on(config, driver);
        let served = server.stop().unwrap();
        assert_whole(&summary);
        assert_eq!(
            (summary.requests, summary.failures),
            (50_000, 0),
            "{summary:?}"
        );
        assert_eq!(served.requests, 50_000, "{driver:?}");
        // Little's law with pipelining: throughput × mean latency lies between the fewest
        // and the most the pipelines hold, connections × (depth − refill) and × depth.
        assert_eq!(summary.connections.pipeline_refill, DEPTH / 4);
        let (fewest, most) = summary.connections.pipelines_hold();
        assert_eq!(
            (fewest, most),
            (f64::from(4 * (DEPTH - DEPTH / 4)), f64::from(4 * DEPTH))
        );
        let out = summary.concurrency;
        assert!(
            (fewest * 0.9..=most * 1.05).contains(&out),
            "{driver:?}: {out}"
        );
    }
}

#[test]
fn answers_split_at_every_byte_are_framed_in_order() {
    let _turn = common::one_at_a_time();
    let server = Server::start(Behavior::Drip(r#"{"prediction":1}"#, Duration::ZERO));
    for driver in DRIVERS {
        assert_exact(&server, counted(&server, 500), driver);
    }
}

#[test]
fn a_close_after_k_sends_the_requests_behind_it_again() {
    let _turn = common::one_at_a_time();
    // Every third response says `Connection: close`: the five behind it in the pipeline
    // were never answered, and go out again on a new connection, counted once.
    let server = Server::start(Behavior::CloseEvery(3));
    for driver in DRIVERS {
        let summary = assert_exact(&server, counted(&server, 3_000), driver);
        assert!(summary.connections.reconnects >= 900, "{summary:?}");
    }
}

#[test]
fn pipelines_run_over_https_too() {
    let server = Server::start_tls(Behavior::CloseEvery(5));
    for driver in DRIVERS {
        let mut config = counted(&server, 1_000);
        config.trust = blast::tls::Trust::Cacert(common::test_ca().into());
        assert_exact(&server, config, driver);
    }
}

#[test]
fn a_reset_mid_pipeline_fails_every_request_out_once() {
    let _turn = common::one_at_a_time();
    // After five answers the server resets the connection on the sixth request, with up to
    // three more behind it.
    let server = Server::start(Behavior::ResetAfter(5));
    for driver in DRIVERS {
        let before = server.requests();
        let summary = run_on(counted(&server, 3_000), driver);
        assert_whole(&summary);
        assert_eq!(summary.requests, 3_000);
        assert!(summary.failures > 0, "{summary:?}");
        assert_eq!(errors(&summary, "read"), summary.failures, "{summary:?}");
        let resets = summary.connections.reconnects;
        // Each reset fails what its connection had out, at least the unanswered request and at
        // most the pipeline's depth.
        assert!(summary.failures >= resets, "{summary:?}");
        assert!(
            summary.failures <= (resets + 4) * u64::from(DEPTH),
            "{summary:?}"
        );
        // The server read every request it answered, plus the one it reset on.
        let received = server.requests() - before;
        assert!(
            (summary.successes + resets..=summary.successes + resets + 4).contains(&received),
            "{driver:?}: received {received}, {summary:?}"
        );
    }
}

#[test]
fn answers_beyond_the_requests_out_are_unsolicited() {
    let _turn = common::one_at_a_time();
    // Two answers to every request: the pipeline takes the second for the next request's
    // until more answers come than requests are out; those are unsolicited.
    let server = Server::start(Behavior::Twice);
    let summary = run_on(counted(&server, 500), Driver::Epoll);
    assert_whole(&summary);
    assert_eq!(summary.requests, 500);
    assert!(errors(&summary, "unsolicited") > 0, "{summary:?}");
}

#[test]
fn a_stalled_pipeline_times_out_each_request_once() {
    let _turn = common::one_at_a_time();
    let server = Server::start(Behavior::Stall);
    let mut config = pipelined(server.config("/predict"));
    config.connections = 2;
    config.threads = Some(1);
    config.duration = Some(Duration::from_millis(300));
    config.timeout = Duration::from_millis(200);
    config.drain = Some(Duration::from_millis(500));
    let summary = run_on(config, Driver::Epoll);
    assert_whole(&summary);
    assert_eq!(summary.successes, 0);
    assert_eq!(errors(&summary, "timeout"), summary.failures, "{summary:?}");
    // The two pipelines filled once, and timed out whole, then once more each.
    assert_eq!(summary.failures % u64::from(DEPTH), 0, "{summary:?}");
    assert!(summary.failures >= 2 * u64::from(DEPTH), "{summary:?}");
}

#[test]
fn each_response_is_judged_by_its_own_requests_expectation() {
    // A mix whose two lines expect different answers: `/predict` a prediction, `/nowhere` a
    // 404. Judged against the wrong line's expectation, every response would fail.
    let server = common::builtin(Faults::default());
    let dir = common::scratch("pipeline-mix");
    let targets = dir.join("mix.jsonl");
    std::fs::write(
        &targets,
        "{\"name\": \"predict\", \"path\": \"/predict\", \"weight\": 3, \
          \"expect_json\": [\"prediction=0|1\"]}\n\
         {\"name\": \"missing\", \"path\": \"/nowhere\", \"expect_status\": \"404\"}\n",
    )
    .unwrap();
    let json = dir.join("report.json");
    let url = format!("http://{}/", server.addr);
    let out = blast(&[
        "--targets",
        targets.to_str().unwrap(),
        "--pipeline",
        "16",
        "-c",
        "4",
        "-t",
        "1",
        "-n",
        "40000",
        "--json",
        json.to_str().unwrap(),
        &url,
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("pipelined 16 deep, topped up once 4 are free"),
        "{text}"
    );
    // Little's law read back, within what 4 connections' pipelines of 12-16 hold (over
    // 40,000 requests: in a run of a few milliseconds the start and the drain would weigh).
    let line = text.lines().find(|l| l.contains("Pipelines")).expect(&text);
    assert!(line.contains("(of 48-64: 4 x 12-16 deep)"), "{line}");
    assert!(!line.contains("fewer"), "{line}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["connections"]["pipeline"], 16);
    assert_eq!(report["connections"]["pipeline_refill"], 4);
    assert_eq!(report["failures"], 0, "{report}");
    assert_eq!(report["requests"], 40000);
    let requests = |i: usize| report["targets"][i]["requests"].as_u64().unwrap();
    let (predict, missing) = (requests(0), requests(1));
    assert_eq!(report["targets"][1]["status_codes"]["404"], missing);
    // The rotation is kept: three of one for each of the other.
    assert_eq!((predict, missing), (30000, 10000));
    assert_eq!(server.stop().unwrap().requests, predict + missing);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_rate_keeps_its_schedule_through_pipelines() {
    let _turn = common::one_at_a_time();
    let server = common::builtin(Faults::default());
    let url = format!("http://{}/predict", server.addr);
    let mut config = pipelined(Config::new(Url::parse(&url).unwrap()));
    config.connections = 2;
    config.threads = Some(1);
    config.rate = Some(2_000.0);
    config.duration = Some(Duration::from_secs(1));
    let summary = run_on(config, Driver::Auto);
    assert_whole(&summary);
    assert_eq!(summary.failures, 0, "{summary:?}");
    // Each slot goes when it is due: no top-up in batches.
    assert_eq!(summary.connections.pipeline_refill, 1);
    let rate = summary.rate.as_ref().unwrap();
    common::assert_on_schedule(rate.sent, 2_000, 2);
    assert_eq!(summary.requests, server.stop().unwrap().requests);
}

/// A flow file of the repository's (docs/retrain.jsonl).
const FLOW: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/retrain.jsonl");

#[test]
fn a_depth_that_cannot_be_kept_exits_2() {
    let url = "http://127.0.0.1:9/";
    let cases: &[(&[&str], &str)] = &[
        (&["--pipeline", "0"], "not a depth from 1 to 1024"),
        (&["--pipeline", "2000"], "not a depth from 1 to 1024"),
        (&["--pipeline", "deep"], "not a depth"),
        (&["--pipeline", "4", "--no-keepalive"], "--no-keepalive"),
        (&["--pipeline", "4", "--think", "1s"], "--think"),
        (&["--pipeline", "4", "--first-byte"], "--first-byte"),
        (&["--pipeline", "4", "--flow", FLOW], "--flow"),
    ];
    for (args, says) in cases {
        let out = blast(&[args, &["-d", "1", url][..]].concat());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(says) && err.lines().count() == 1,
            "{args:?}: {err}"
        );
    }
}

/// A server that answers each request with a write of its own, 200 µs apart, as nginx
/// answers a pipeline, and reads between its answers whatever has come: it returns how many
/// requests each read brought, in order.
fn one_answer_per_write() -> (std::net::SocketAddr, std::thread::JoinHandle<Vec<usize>>) {
    use std::io::{ErrorKind, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let counts = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_nodelay(true).unwrap();
        let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 16\r\n\r\n{\"prediction\":1}";
        let (mut buf, mut chunk, mut counts) = (Vec::new(), [0u8; 65536], Vec::new());
        let mut owed = 0;
        loop {
            // Waits for requests only with none to answer.
            stream.set_nonblocking(owed > 0).unwrap();
            match stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    let mut complete = 0;
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..end + 4);
                        complete += 1;
                    }
                    counts.push(complete);
                    owed += complete;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => panic!("{e}"),
            }
            if owed > 0 {
                std::thread::sleep(Duration::from_micros(200));
                stream.write_all(answer).unwrap();
                owed -= 1;
            }
        }
        counts
    });
    (addr, counts)
}

#[test]
fn a_closed_loop_tops_its_pipeline_up_a_quarter_at_a_time() {
    // Answers come one per segment, 200 µs apart, so the client reads them one by one:
    // topping up after each would write one request at a time, and the server would read
    // them so. At depth 16 every write after the first carries at least 4, so every read
    // of the server's brings 4 or more, the last top-up aside.
    let (addr, counts) = one_answer_per_write();
    let url = format!("http://{addr}/predict");
    let out = blast(&[
        "--pipeline",
        "16",
        "-c",
        "1",
        "-t",
        "1",
        "-n",
        "400",
        "--expect-json",
        "prediction=1",
        &url,
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("400 total, 400 ok"), "{text}");
    let counts = counts.join().unwrap();
    assert_eq!(counts.iter().sum::<usize>(), 400, "{counts:?}");
    let (first, rest) = counts.split_first().unwrap();
    assert_eq!(*first, 16, "the first write fills the pipeline: {counts:?}");
    let (_, top_ups) = rest.split_last().unwrap();
    assert!(top_ups.iter().all(|&n| n >= 4), "{counts:?}");
}

#[test]
fn a_users_sweep_says_its_connections_are_pipelined() {
    // Each step's load is its users times the depth: the sweep's first line says so, and
    // every step's requests are answered.
    let server = common::builtin(Faults::default());
    let url = format!("http://{}/predict", server.addr);
    let json = common::scratch("pipeline-sweep").join("sweep.json");
    let out = blast(&[
        "-c",
        "2,4",
        "-d",
        "0.5",
        "-t",
        "1",
        "--pipeline",
        "8",
        "--json",
        json.to_str().unwrap(),
        &url,
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next().unwrap();
    assert!(
        first.ends_with("2 steps of 0.5s, each connection pipelined 8 deep"),
        "{text}"
    );
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{report}");
    let mut answered = 0;
    for step in steps {
        assert_eq!(step["connections"]["pipeline"], 8);
        assert_eq!(step["connections"]["pipeline_refill"], 2);
        assert_eq!(step["failures"], 0, "{step}");
        answered += step["requests"].as_u64().unwrap();
    }
    assert!(answered > 0, "{report}");
    std::fs::remove_dir_all(json.parent().unwrap()).unwrap();
}

#[test]
fn uploads_larger_than_a_batch_go_whole_and_in_order() {
    // Bodies of 100 B, 150 kB, 200 B and 40 kB in turn, 8 deep on one connection: the small
    // ones are batched, the 150 kB one (over the 64 kB batch) is sent from the plan between
    // them. The server reads every request whole, in the order rotated.
    let _turn = common::one_at_a_time();
    let server = Server::start(Behavior::Body(r#"{"prediction":1}"#));
    let mut config = counted(&server, 400);
    config.connections = 1;
    config.threads = Some(1);
    config.request.method = "POST".into();
    config.request.bodies = [100, 150_000, 200, 40_000].map(|n| vec![b'x'; n]).to_vec();
    assert_exact(&server, config, Driver::Auto);
    let lengths = server.lengths.lock().unwrap().clone();
    assert_eq!(lengths.len(), 400);
    let first: Vec<usize> = lengths[..4].to_vec();
    assert!(lengths.chunks(4).all(|c| c == first), "{lengths:?}");
    // Each request is its body and a head of the same size but for Content-Length's digits.
    let heads: Vec<usize> = (first.iter().zip([100, 150_000, 200, 40_000]))
        .map(|(l, body)| l - body - body.to_string().len())
        .collect();
    assert!(heads.iter().all(|&h| h == heads[0]), "{first:?}");
}

#[test]
fn pipelined_uploads_keep_blast_small() {
    // 8 connections, 32 deep, a 1 MB body: copied into one write each, the pipelines would
    // hold 256 MB. Batches stop at 64 kB and larger requests go from the plan, so blast's
    // peak resident memory stays near its size without pipelining (under 100 MB).
    let server = Server::start(Behavior::Body(r#"{"prediction":1}"#));
    let dir = common::scratch("pipeline-upload");
    let body = dir.join("body.bin");
    std::fs::write(&body, vec![b'x'; 1 << 20]).unwrap();
    let url = server.url("/predict");
    #[allow(clippy::zombie_processes)] // waited for below, with wait4, for its own usage
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_blast"))
        .args(["--pipeline", "32", "-c", "8", "-t", "1", "-n", "512"])
        .args(["--body-file", body.to_str().unwrap(), &url])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // wait4: this child's own peak, not the largest of every child of the test process.
    let (mut status, mut usage) = (0, unsafe { std::mem::zeroed::<libc::rusage>() });
    // SAFETY: waits for our own child, once, with buffers of the right types.
    let waited = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    assert_eq!(waited, child.id() as i32);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{status}"
    );
    assert_eq!(server.requests(), 512);
    let peak_mb = usage.ru_maxrss / 1024;
    assert!(peak_mb < 100, "blast's peak resident memory: {peak_mb} MB");
    std::fs::remove_dir_all(&dir).unwrap();
}

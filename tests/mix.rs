//! `--targets`: a mix of requests, driven end to end against blast's built-in target (which
//! answers /predict, /health and 404 differently) and the capturing test server, with the
//! results broken down by target name exactly.

mod common;

use std::time::Duration;

use blast::results::slo::Slo;
use blast::results::summary::{Summary, TargetSummary};
use blast::run::config::{Config, Driver};
use blast::run::mix::{self, Defaults};
use blast::run::url::Url;
use blast::serve::faults::Faults;
use common::{Behavior, DRIVERS, blast, errors, prediction_rule, run_on, scratch};

/// predict : health : missing = 3 : 1 : 1, each with its own expectation.
const MIX: &str = r#"
# predictions three times as often as each of the others
{"name": "predict", "path": "/predict", "body": {"features": [1, 2]}, "weight": 3}
{"name": "health", "path": "/health", "expect_json": "status=ok"}
{"name": "missing", "path": "/nope", "expect_status": "404", "expect_json": []}
"#;

fn mix_config(url: &str, text: &str, requests: u64) -> Config {
    let mut config = Config::new(Url::parse(url).unwrap());
    config.connections = 4;
    config.threads = Some(1);
    config.requests = Some(requests);
    config.duration = Some(Duration::from_secs(20));
    config.expect = prediction_rule();
    let defaults = Defaults {
        url: &config.url,
        headers: &[],
        expect: &config.expect,
    };
    config.mix = Some(mix::parse(text, &defaults).unwrap());
    config
}

/// Runs the blast binary on one thread with the mix in `targets`, the prediction check (which
/// the mix's lines replace or drop) and the JSON report to `json`, plus `more`, against `url`.
fn blast_mix(
    targets: &std::path::Path,
    json: &std::path::Path,
    more: &[&str],
    url: &str,
) -> std::process::Output {
    let mut args = vec![
        "-t",
        "1",
        "--targets",
        targets.to_str().unwrap(),
        "--expect-json",
        "prediction=0|1",
        "--json",
        json.to_str().unwrap(),
    ];
    args.extend_from_slice(more);
    args.push(url);
    blast(&args)
}

/// A JSON report's targets: (name, successes) of each.
fn successes_by_target(report: &serde_json::Value) -> Vec<(&str, u64)> {
    let targets = report["targets"].as_array().unwrap().iter();
    targets
        .map(|t| {
            (
                t["name"].as_str().unwrap(),
                t["successes"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn target<'a>(summary: &'a Summary, name: &str) -> &'a TargetSummary {
    summary
        .targets
        .iter()
        .find(|t| t.target.name == name)
        .unwrap()
}

fn target_errors(t: &TargetSummary, kind: &str) -> u64 {
    t.errors.iter().find(|(k, _)| *k == kind).unwrap().1
}

/// Every target's count is its exact share of `-n`, each checked against its own
/// expectation, and the rows add up to the totals.
#[test]
fn each_target_gets_its_share_and_its_own_check() {
    let _turn = common::one_at_a_time();
    for driver in DRIVERS {
        let server = common::builtin(Faults::default());
        let url = format!("http://{}/", server.addr);
        let summary = run_on(mix_config(&url, MIX, 1_000), driver);
        let served = server.stop().unwrap();
        assert_eq!((summary.successes, summary.failures), (1_000, 0));
        assert_eq!(served.requests, 1_000);
        assert_eq!(summary.destination.method, "mix");
        let rows: Vec<(&str, &str, &str, u64, u64)> = summary
            .targets
            .iter()
            .map(|t| {
                let (name, method, path) = (
                    t.target.name.as_str(),
                    t.target.method.as_str(),
                    t.target.path.as_str(),
                );
                (name, method, path, t.target.weight, t.successes)
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("predict", "POST", "/predict", 3, 600),
                ("health", "GET", "/health", 1, 200),
                ("missing", "GET", "/nope", 1, 200),
            ]
        );
        assert_eq!(
            target(&summary, "missing").status_codes,
            [(404, 200)].into()
        );
        assert_eq!(target(&summary, "predict").share_pct, 60.0);
        let latencies: u64 = summary.targets.iter().map(|t| t.latency.count).sum();
        assert_eq!(latencies, summary.latency.count);
        assert!(summary.targets.iter().all(|t| t.latency.p50 > 0.0));
    }
}

/// In rate mode the schedule's slots take the rotation in turn: each target gets its share
/// of what was sent, to within one rotation (five slots) per thread.
#[test]
fn a_paced_mix_keeps_its_shares() {
    let _turn = common::one_at_a_time();
    let server = common::builtin(Faults::default());
    let url = format!("http://{}/", server.addr);
    let mut config = mix_config(&url, MIX, 1);
    config.requests = None;
    config.rate = Some(2_000.0);
    config.duration = Some(Duration::from_secs(1));
    let summary = run_on(config, Driver::Uring);
    server.stop().unwrap();
    assert_eq!(summary.failures, 0);
    let total: u64 = summary.targets.iter().map(|t| t.requests).sum();
    assert_eq!(total, summary.requests);
    common::assert_on_schedule(total, 2_000, 5);
    for t in &summary.targets {
        let share = t.share_pct / 100.0 * total as f64;
        assert!(
            (t.requests as f64 - share).abs() <= 5.0,
            "{}: {} of {total}",
            t.target.name,
            t.requests
        );
    }
}

/// A target whose expectation fails is the only one charged with it.
#[test]
fn failures_are_charged_to_their_target() {
    let _turn = common::one_at_a_time();
    let server = common::builtin(Faults::default());
    let url = format!("http://{}/", server.addr);
    // /health answers {"status":"ok"}: the run's prediction check fails it, and only it.
    let text = MIX.replace(r#", "expect_json": "status=ok""#, "");
    let summary = common::run_on(mix_config(&url, &text, 500), Driver::Uring);
    server.stop().unwrap();
    assert_eq!((summary.successes, errors(&summary, "body")), (400, 100));
    let health = target(&summary, "health");
    assert_eq!((health.successes, target_errors(health, "body")), (0, 100));
    assert_eq!(health.status_codes, [(200, 100)].into());
    for other in ["predict", "missing"] {
        assert_eq!(target(&summary, other).failures, 0, "{other}");
    }
}

/// The lines go out as written, in the smooth weighted order (3:1 gives a a b a), with the
/// -H headers and each line's own.
#[test]
fn lines_go_out_as_written_in_weighted_order() {
    let _turn = common::one_at_a_time();
    let server = common::Server::start(Behavior::Body(r#"{"prediction":1}"#));
    // The second line names its URL in full (on the run's origin), as vegeta's targets do.
    let text = format!(
        r#"{{"body": "0123456789", "headers": {{"X-Line": "a"}}, "weight": 3}}
           {{"method": "PUT", "url": "http://{}/other?q=1", "body": "xy"}}"#,
        server.addr
    );
    let text = text.as_str();
    let mut config = mix_config(&server.url("/predict"), text, 8);
    config.connections = 1;
    config.request.headers = vec![("X-Run".into(), "1".into())];
    let defaults = Defaults {
        url: &config.url,
        headers: &config.request.headers,
        expect: &config.expect,
    };
    config.mix = Some(mix::parse(text, &defaults).unwrap());
    let summary = run_on(config, Driver::Uring);
    assert_eq!(summary.successes, 8);
    let ua = concat!("User-Agent: blast/", env!("CARGO_PKG_VERSION"));
    let first = format!(
        "POST /predict HTTP/1.1\r\nHost: {}\r\n{ua}\r\nContent-Length: 10\r\n\
         X-Run: 1\r\nX-Line: a\r\n\r\n0123456789",
        server.addr
    );
    let first_request = server.first_request.lock().unwrap().clone();
    assert_eq!(String::from_utf8(first_request).unwrap(), first);
    let second = format!(
        "PUT /other?q=1 HTTP/1.1\r\nHost: {}\r\n{ua}\r\nContent-Length: 2\r\nX-Run: 1\r\n\r\nxy",
        server.addr
    );
    let (a, b) = (first.len(), second.len());
    assert_eq!(*server.lengths.lock().unwrap(), [a, a, b, a, a, a, b, a]);
    let names: Vec<&str> = summary
        .targets
        .iter()
        .map(|t| t.target.name.as_str())
        .collect();
    assert_eq!(names, ["POST /predict", "PUT /other?q=1"]);
}

/// A vegeta targets file (http format) runs as it is: its requests go out in turn, exactly
/// as written, with the body read from the file it names (relative to the current
/// directory, as vegeta reads it), and `# name:` groups URLs into one target.
#[test]
fn vegeta_targets_run_unchanged() {
    let _turn = common::one_at_a_time();
    let server = common::Server::start(Behavior::Body(r#"{"prediction":1}"#));
    let dir = scratch("mix-vegeta");
    std::fs::write(dir.join("body.json"), r#"{"features": [1, 2]}"#).unwrap();
    let targets = format!(
        "# vegeta's http format\n\
         POST {}\n\
         Content-Type: application/json\n\
         @body.json\n\
         \n\
         # name: items\n\
         GET {}\n\
         GET /items/2\n",
        server.url("/predict"),
        server.url("/items/1"),
    );
    std::fs::write(dir.join("targets.txt"), targets).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_blast"))
        .args(["-c", "1", "-t", "1", "-n", "6", "--targets", "targets.txt"])
        .args(["--expect-json", "prediction=1", "--json", "-"])
        .arg(server.url("/"))
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let counts = successes_by_target(&report);
    assert_eq!(counts, [("POST /predict", 2), ("items", 4)]);
    let ua = concat!("User-Agent: blast/", env!("CARGO_PKG_VERSION"));
    let first = format!(
        "POST /predict HTTP/1.1\r\nHost: {}\r\n{ua}\r\nContent-Length: 20\r\n\
         Content-Type: application/json\r\n\r\n{{\"features\": [1, 2]}}",
        server.addr
    );
    let first_request = server.first_request.lock().unwrap().clone();
    assert_eq!(String::from_utf8(first_request).unwrap(), first);
    let item = format!(
        "GET /items/1 HTTP/1.1\r\nHost: {}\r\n{ua}\r\n\r\n",
        server.addr
    );
    let (p, i) = (first.len(), item.len());
    assert_eq!(*server.lengths.lock().unwrap(), [p, i, i, p, i, i]);
}

/// Targets piped in (`--targets -`) with no URL on the command line, as vegeta takes them:
/// the first request line's URL is the run's.
#[test]
fn targets_from_stdin_need_no_url() {
    use std::io::Write;
    let _turn = common::one_at_a_time();
    let server = common::Server::start(Behavior::Body(r#"{"prediction":1}"#));
    let run = |targets: String| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_blast"))
            .args([
                "-c",
                "1",
                "-t",
                "1",
                "-n",
                "4",
                "--targets",
                "-",
                "--json",
                "-",
            ])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(targets.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run(format!("GET {}\nGET /b\n", server.url("/a")));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["url"], server.url("/a"));
    let counts = successes_by_target(&report);
    assert_eq!(counts, [("GET /a", 2), ("GET /b", 2)]);
    assert_eq!(server.requests.load(std::sync::atomic::Ordering::SeqCst), 4);

    // Paths alone name no server: one line on stderr, exit 2.
    let out = run("{\"path\": \"/a\"}\n".into());
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let error = String::from_utf8(out.stderr).unwrap();
    assert!(
        error.starts_with("blast: missing URL: give one, or an absolute URL in --targets '-'"),
        "{error}"
    );
    assert_eq!(error.lines().count(), 1, "{error}");

    // A bad line of the http format: one line naming it, exit 2, nothing sent.
    let out = run(format!("GET {}\n@/no/such/body\n", server.url("/a")));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let error = String::from_utf8(out.stderr).unwrap();
    assert!(
        error.starts_with("blast: --targets '-' line 2: cannot read body '@/no/such/body'"),
        "{error}"
    );
    assert_eq!(error.lines().count(), 1, "{error}");
    assert_eq!(server.requests.load(std::sync::atomic::Ordering::SeqCst), 4);
}

/// A request that never got a connection counts for the target it was to go to: 50
/// connections each fail their first connect, which takes 50 requests of the rotation
/// (predict, health, predict, missing, predict) in turn.
#[test]
fn connect_failures_count_for_their_target() {
    let _turn = common::one_at_a_time();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = mix_config(&format!("http://127.0.0.1:{port}/"), MIX, 50);
    config.connections = 50;
    let summary = run_on(config, Driver::Epoll);
    assert_eq!(errors(&summary, "connect"), 50);
    let per_target: Vec<u64> = summary
        .targets
        .iter()
        .map(|t| target_errors(t, "connect"))
        .collect();
    assert_eq!(per_target, [30, 10, 10]);
}

/// A sweep of a mix shows each target under each step: its rows add up to the step's
/// completions, each in its share, as the JSON's steps say.
#[test]
fn a_mix_sweep_shows_each_target_per_step() {
    let _turn = common::one_at_a_time();
    let server = common::builtin(Faults::default());
    let url = format!("http://{}/", server.addr);
    let dir = scratch("mix-sweep");
    let (targets, json) = (dir.join("targets.jsonl"), dir.join("sweep.json"));
    std::fs::write(&targets, MIX).unwrap();
    let more = ["-c", "4", "-d", "1", "--rates", "500,1000"];
    let out = blast_mix(&targets, &json, &more, &url);
    server.stop().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let steps = value["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    // The table: each step's row, then its targets' rows (name, req/s, p50, avg, p95, p99,
    // success).
    let lines: Vec<&str> = text.lines().skip(2).take(8).collect();
    for (step, rows) in steps.iter().zip(lines.chunks(4)) {
        let done = step["rps"].as_f64().unwrap();
        assert!(rows[0].contains(&format!("{done:.1}")), "{text}");
        let mut sum = 0.0;
        for (t, row) in step["targets"].as_array().unwrap().iter().zip(&rows[1..]) {
            let fields: Vec<&str> = row.split_whitespace().collect();
            let name = t["name"].as_str().unwrap();
            let rps: f64 = fields[1].parse().unwrap();
            assert_eq!((fields[0], fields[6]), (name, "100.00%"), "{text}");
            let json_rps = t["rps"].as_f64().unwrap();
            assert_eq!(fields[1], format!("{json_rps:.1}"), "{text}");
            let share = t["share_pct"].as_f64().unwrap() / 100.0 * done;
            assert!((rps - share).abs() <= 5.0, "{name}: {rps} of {done}/s");
            sum += rps;
        }
        assert!((sum - done).abs() < 0.5, "{text}");
    }
}

/// `--slo NAME:bound` judges that target's requests alone: against a server that spoils
/// one prediction body in ten, `health` meets an error bound that `predict` and the totals
/// miss, and the miss names its target. `blast merge` judges the same way.
#[test]
fn an_objective_may_bound_one_target() {
    let _turn = common::one_at_a_time();
    let server = common::builtin(Faults {
        bad_body_share: 0.1,
        ..Faults::default()
    });
    let url = format!("http://{}/", server.addr);
    let dir = scratch("mix-slo");
    let targets = dir.join("targets.jsonl");
    std::fs::write(&targets, MIX).unwrap();
    let json = dir.join("run.json");
    let run = |slo: &str| {
        let out = blast_mix(
            &targets,
            &json,
            &["-c", "2", "-n", "1000", "--slo", slo],
            &url,
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.code(), text)
    };
    let cases: &[(&str, i32, &str)] = &[
        ("health:errors<1%,missing:errors<1%", 0, ": met\n"),
        (
            "health:errors<1%,predict:errors<5%",
            1,
            "MISSED (predict: errors 10.00% >= 5%)",
        ),
        ("errors<5%", 1, "MISSED (errors 6.00% >= 5%)"),
        ("health:p99<1s, predict : p99<1s", 0, ": met\n"),
    ];
    for (slo, code, says) in cases {
        let (got, text) = run(slo);
        assert_eq!(got, Some(*code), "{slo}: {text}");
        assert!(text.contains(says), "{slo}: {text}");
    }
    server.stop().unwrap();
    let json = json.to_str().unwrap();
    let merged = blast(&["merge", json, "--slo", "predict:errors<5%"]);
    assert_eq!(merged.status.code(), Some(1), "{merged:?}");
    let text = String::from_utf8_lossy(&merged.stdout);
    assert!(
        text.contains("MISSED (predict: errors 10.00% >= 5%)"),
        "{text}"
    );
    let merged = blast(&["merge", json, "--slo", "nope:errors<5%"]);
    assert_eq!(merged.status.code(), Some(2), "{merged:?}");
    let error = String::from_utf8_lossy(&merged.stderr);
    assert!(
        error.contains("names target 'nope', which the reports do not have (their targets: predict, health, missing)"),
        "{error}"
    );
}

/// Reports of one mix merge target by target; a report of another mix is refused.
#[test]
fn mixes_merge_target_by_target() {
    let _turn = common::one_at_a_time();
    let server = common::builtin(Faults::default());
    let url = format!("http://{}/", server.addr);
    let dir = scratch("mix-merge");
    let targets = dir.join("targets.jsonl");
    std::fs::write(&targets, MIX).unwrap();
    let report = |name: &str, targets: &std::path::Path| {
        let path = dir.join(name);
        let out = blast_mix(targets, &path, &["-c", "2", "-n", "500"], &url);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        path.to_str().unwrap().to_string()
    };
    let (a, b) = (report("a.json", &targets), report("b.json", &targets));
    let merged = dir.join("merged.json");
    // Made one after the other: merged by second index.
    let out = blast(&[
        "merge",
        "--allow-skew",
        &a,
        &b,
        "--json",
        merged.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let value: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&merged).unwrap()).unwrap();
    let counts: Vec<(String, u64, u64)> = value["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let name = t["name"].as_str().unwrap().to_string();
            (
                name,
                t["successes"].as_u64().unwrap(),
                t["latency_us"]["count"].as_u64().unwrap(),
            )
        })
        .collect();
    let want = [("predict", 600), ("health", 200), ("missing", 200)];
    assert_eq!(
        counts,
        want.map(|(n, c)| (n.to_string(), c, c)),
        "two runs of 500, merged"
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("\n  predict  60.0%       600  100.00%"),
        "{text}"
    );

    let other = dir.join("other.jsonl");
    std::fs::write(&other, MIX.replace("\"weight\": 3", "\"weight\": 2")).unwrap();
    let c = report("c.json", &other);
    let out = blast(&["merge", &a, &c]);
    assert_eq!(out.status.code(), Some(2));
    let error = String::from_utf8(out.stderr).unwrap();
    assert!(error.contains("another --targets mix"), "{error}");

    // A bad key is named where it is, inside a target's flattened parts too.
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&a).unwrap()).unwrap();
    type Edit = fn(&mut serde_json::Value);
    let cases: [(&str, Edit); 4] = [
        ("'targets.1.name'", |v| v["targets"][1]["name"] = 7.into()),
        ("'targets.0.weight'", |v| {
            v["targets"][0].as_object_mut().unwrap().remove("weight");
        }),
        ("'targets.2.errors.read'", |v| {
            v["targets"][2]["errors"]["read"] = (-1).into()
        }),
        ("'connections.established'", |v| {
            v["connections"]
                .as_object_mut()
                .unwrap()
                .remove("established");
        }),
    ];
    for (key, edit) in cases {
        let mut bad = saved.clone();
        edit(&mut bad);
        let path = dir.join("bad.json");
        std::fs::write(&path, bad.to_string()).unwrap();
        let out = blast(&["merge", path.to_str().unwrap()]);
        let error = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{key}: {error}");
        assert!(
            error.contains(&format!("{key} is missing or invalid")),
            "{key}: {error}"
        );
    }
    server.stop().unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

/// With `--first-byte`, each target keeps its own first-byte times (a streamed body: the
/// first token 20 ms in, the last 40 ms in), and a target's `first_byte_` bound judges them.
#[test]
fn each_target_times_its_first_byte() {
    let _turn = common::one_at_a_time();
    let pause = Duration::from_millis(20);
    let server = common::Server::start(Behavior::Tokens(&["data: 0\n\n", "data: 1\n\n"], pause));
    let text = "{\"name\": \"a\", \"path\": \"/a\", \"expect_json\": [], \"expect_body\": \"data: 1\"}\n\
                {\"name\": \"b\", \"path\": \"/b\", \"expect_json\": []}";
    let mut config = mix_config(&server.url("/"), text, 40);
    config.first_byte = true;
    config.slo = Some(Slo::parse("a:first_byte_p50<1s,b:first_byte_max<1ms").unwrap());
    let summary = run_on(config, DRIVERS[0]);
    assert_eq!(summary.successes, 40, "{:?}", summary.errors);
    for t in &summary.targets {
        let first = &t.first_byte.as_ref().expect("timed");
        assert_eq!(first.count, t.latency.count, "{}", t.target.name);
        assert_eq!(first.count, 20, "{}", t.target.name);
        assert!(
            first.min >= 20_000.0 && first.max < t.latency.max,
            "{}: {first:?}",
            t.target.name
        );
    }
    let missed = summary.slo.unwrap().missed.unwrap();
    assert!(missed.starts_with("b: first_byte_max "), "{missed}");
}

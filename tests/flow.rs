//! `--flow` against `blast serve` and the capturing test server: every user runs the steps in
//! order, a value captured from one response goes into the next request, `-n` counts flows,
//! `--rate` starts flows, a capture that misses restarts the user's flow with its reason, on
//! both drivers. (The retrain flow against FastAPI is in real_servers.rs.)

mod common;

use blast::serve::faults::Faults;
use common::Behavior;
use common::{DRIVERS, Server, blast, builtin, scratch};
use serde_json::Value;

fn flow_file(name: &str, steps: &str) -> String {
    let dir = scratch(name);
    let path = dir.join("flow.jsonl");
    std::fs::write(&path, steps).unwrap();
    path.display().to_string()
}

/// `blast serve` and a flow file of `steps` for it: the server (keep it alive), its URL and
/// the file's path.
fn served_flow(name: &str, steps: &str) -> (blast::serve::Server, String, String) {
    let server = builtin(Faults::default());
    let url = format!("http://{}/", server.addr);
    (server, url, flow_file(name, steps))
}

fn run_json(args: &[&str]) -> Value {
    run_json_exit(args, 0)
}

/// Runs blast with `--json -`, checks its exit code, and returns the report.
fn run_json_exit(args: &[&str], code: i32) -> Value {
    let out = blast(&[args, &["--json", "-"]].concat());
    assert!(
        out.status.code() == Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn target<'a>(report: &'a Value, name: &str) -> &'a Value {
    let targets = report["targets"].as_array().unwrap();
    targets.iter().find(|t| t["name"] == name).unwrap()
}

/// Three steps, the second's query from the first's answer: `-n 30` is 30 flows of three
/// requests each, every one answered, and the flow's row has 30 of them with durations.
#[test]
fn n_counts_whole_flows_and_every_step_runs_once_per_flow() {
    let (_server, url, flow) = served_flow(
        "flow-n",
        r#"{"name": "predict", "path": "/predict", "body": {"x": 1}, "capture": {"p": "prediction"}, "expect_json": "prediction=0|1"}
{"name": "again", "path": "/predict?from=${p}", "expect_json": "prediction=0|1"}
{"name": "health", "path": "/health", "expect_json": "status=ok"}
"#,
    );
    for driver in ["uring", "epoll"] {
        let report = run_json(&[
            "--flow", &flow, "-n", "30", "-c", "4", "--driver", driver, &url,
        ]);
        assert_eq!(report["requests"], 90, "{report}");
        assert_eq!(report["failures"], 0, "{report}");
        assert_eq!(report["method"], "flow");
        for step in ["predict", "again", "health"] {
            assert_eq!(target(&report, step)["requests"], 30, "{step}: {report}");
        }
        let whole = target(&report, "flow");
        assert_eq!(
            (whole["requests"].as_u64(), whole["successes"].as_u64()),
            (Some(30), Some(30))
        );
        let duration = &whole["latency_us"];
        assert_eq!(duration["count"], 30);
        // A flow lasts at least as long as its three requests.
        let step_min: f64 = ["predict", "again", "health"]
            .iter()
            .map(|s| target(&report, s)["latency_us"]["min"].as_f64().unwrap())
            .sum();
        assert!(
            duration["min"].as_f64().unwrap() >= step_min * 0.99,
            "{report}"
        );
    }
}

/// The value captured goes into the path, a header and a JSON body of the next request,
/// escaped for each: the server sees exactly the bytes built.
#[test]
fn captured_values_are_substituted_into_the_exact_bytes() {
    let server = Server::start(Behavior::Body(
        r#"{"job": {"id": "7f 3a"}, "note": "say \"hi\""}"#,
    ));
    let flow = flow_file(
        "flow-bytes",
        r#"{"name": "create", "method": "POST", "path": "/jobs", "capture": {"id": "job.id", "note": "note"}}
{"name": "use", "method": "POST", "path": "/jobs/${id}?n=${note}", "headers": {"X-Job": "${id}"}, "body": {"note": "${note}", "id": "${id}"}}
"#,
    );
    let report = run_json(&["--flow", &flow, "-n", "1", "-c", "1", &server.url("/")]);
    assert_eq!(report["requests"], 2, "{report}");
    let sent = server.all_requests();
    let second = String::from_utf8(sent[1].clone()).unwrap();
    assert!(
        second.starts_with("POST /jobs/7f%203a?n=say%20%22hi%22 HTTP/1.1\r\n"),
        "{second}"
    );
    assert!(second.contains("\r\nX-Job: 7f 3a\r\n"), "{second}");
    let (head, body) = second.split_once("\r\n\r\n").unwrap();
    assert!(
        head.contains(&format!("Content-Length: {}", body.len())),
        "{second}"
    );
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["note"], "say \"hi\"");
    assert_eq!(body["id"], "7f 3a");
}

/// A capture that finds nothing fails its step with the reason, and the user starts over: the
/// next step is never sent with `${...}` unfilled (it is not sent at all).
#[test]
fn a_capture_that_misses_fails_the_step_and_restarts_the_flow() {
    let (_server, url, flow) = served_flow(
        "flow-miss",
        r#"{"name": "health", "path": "/health", "capture": {"id": "job.id"}}
{"name": "next", "path": "/predict?id=${id}"}
"#,
    );
    for driver in DRIVERS {
        let driver = if driver == blast::run::config::Driver::Epoll {
            "epoll"
        } else {
            "uring"
        };
        // Nothing succeeds: blast exits 1.
        let report = run_json_exit(
            &[
                "--flow", &flow, "-d", "1", "-c", "2", "--driver", driver, &url,
            ],
            1,
        );
        let health = target(&report, "health");
        let failed = health["failures"].as_u64().unwrap();
        assert!(failed > 10, "{report}");
        assert_eq!(health["requests"], failed);
        assert_eq!(target(&report, "next")["requests"], 0, "{report}");
        let reason = &health["failure_reasons"][0];
        assert_eq!(
            reason["reason"], "body: capture id: no job.id in the body",
            "{report}"
        );
        assert!(
            reason["sample"]
                .as_str()
                .unwrap()
                .contains(r#"{"status":"ok"}"#)
        );
        let whole = target(&report, "flow");
        assert_eq!(
            (whole["successes"].as_u64(), whole["failures"].as_u64()),
            (Some(0), Some(failed))
        );
    }
}

/// `--rate` starts flows: 40 flows a second for 2 s is about 80 flows, each of two requests
/// (the second follows the first at once, not on the schedule).
#[test]
fn rate_starts_flows_on_the_schedule() {
    let (_server, url, flow) = served_flow(
        "flow-rate",
        r#"{"name": "a", "path": "/predict", "capture": {"p": "prediction"}}
{"name": "b", "path": "/predict?p=${p}"}
"#,
    );
    let report = run_json(&["--flow", &flow, "--rate", "40", "-d", "2", "-c", "2", &url]);
    let whole = target(&report, "flow");
    let flows = whole["successes"].as_u64().unwrap();
    assert!((76..=81).contains(&flows), "{report}");
    let a = target(&report, "a")["requests"].as_u64().unwrap();
    let b = target(&report, "b")["requests"].as_u64().unwrap();
    assert!(a == b || a == b + 1, "{report}");
    // The rate's books count the flows the schedule started, not the steps that followed.
    let rate = &report["rate"];
    assert!(
        (76..=81).contains(&rate["sent"].as_u64().unwrap()),
        "{rate}"
    );
    assert!(rate["shortfall_pct"].as_f64().unwrap() < 2.0, "{rate}");
    assert_eq!(report["failures"], 0);
}

/// A bound on the whole flow (`flow:`) and one on a step, judged like targets' bounds.
#[test]
fn slo_bounds_the_flow_and_its_steps() {
    let (_server, url, flow) = served_flow(
        "flow-slo",
        "{\"name\": \"a\", \"path\": \"/health\", \"think\": \"20ms\"}\n{\"name\": \"b\", \"path\": \"/health\"}\n",
    );
    let met = run_json(&[
        "--flow",
        &flow,
        "-d",
        "1",
        "-c",
        "2",
        "--slo",
        "flow:p99<5s,b:errors<1%",
        &url,
    ]);
    assert_eq!(met["slo"]["met"], true, "{met}");
    let out = blast(&[
        "--flow",
        &flow,
        "-d",
        "1",
        "-c",
        "2",
        "--slo",
        "flow:p50<1ms",
        &url,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("MISSED (flow: "), "{text}");
}

/// A flow that cannot run is refused before the run: one line on stderr naming the file's
/// line, exit 2.
#[test]
fn bad_flows_are_one_line_naming_the_line_and_exit_2() {
    let cases = [
        (
            "{\"path\": \"/a\"}\n{\"path\": \"/jobs/${job_id}\"}\n",
            "line 2: ${job_id} is used before a step captures it",
        ),
        (
            "{\"path\": \"/a\", \"capture\": {\"s\": \"status\"}}\n{\"path\": \"/b\", \"repeat_until\": \"s=done\"}\n",
            "line 2: 'repeat_until' waits for 's', which this step does not capture",
        ),
        (
            "{\"path\": \"/a\"}\n\n{\"path\": \"/b\",}\n",
            "line 3: not JSON",
        ),
        (
            "{\"path\": \"/a\", \"weight\": 2}\n",
            "line 1: unknown key 'weight'",
        ),
    ];
    for (i, (text, want)) in cases.into_iter().enumerate() {
        let flow = flow_file(&format!("flow-bad-{i}"), text);
        let out = blast(&["--flow", &flow, "-d", "1", "http://127.0.0.1:1/"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{text}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains(&format!("--flow '{flow}' {want}")),
            "{text}: {stderr}"
        );
    }
    let flow = flow_file("flow-bad-ok", "{\"path\": \"/a\"}\n");
    let mix = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/mix.jsonl");
    for (args, want) in [
        (
            vec!["--flow", "/no/such/flow.jsonl"],
            "cannot read --flow '/no/such/flow.jsonl'",
        ),
        (
            vec!["--flow", &flow, "--targets", mix],
            "cannot be used with",
        ),
        (vec!["--flow", &flow, "--each"], "cannot be used with"),
        (
            vec!["--flow", &flow, "--slo", "nope:p99<1s"],
            "its targets: GET /a, flow",
        ),
    ] {
        let out = blast(&[&args[..], &["http://127.0.0.1:1/"]].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
}

/// A step's `think` pauses after it, `--think` after the steps without their own: two users
/// each run a flow of 50 ms + 100 ms of pauses, so about 2 / 0.15 s = 13 flows a second.
#[test]
fn a_steps_think_and_the_runs_think_pace_the_flow() {
    let (_server, url, flow) = served_flow(
        "flow-think",
        "{\"name\": \"a\", \"path\": \"/health\", \"think\": \"50ms\"}\n{\"name\": \"b\", \"path\": \"/health\"}\n",
    );
    let report = run_json(&[
        "--flow", &flow, "--think", "100ms", "-c", "2", "-d", "3", "--warmup", "0.5s", &url,
    ]);
    let flows_per_s = target(&report, "flow")["rps"].as_f64().unwrap();
    assert!((11.0..14.0).contains(&flows_per_s), "{report}");
    let think = &report["think"];
    let mean = think["mean_s"].as_f64().unwrap();
    assert!(
        (0.07..0.08).contains(&mean),
        "a mean of 50 and 100 ms: {think}"
    );
}

/// With `--spawn-rate`, `--csv` and `--html`: the users start one after another, the CSV's
/// rows count them, and the page holds each step's row and the flow's.
#[test]
fn a_flow_with_spawn_rate_writes_its_csv_and_page() {
    let (_server, url, flow) = served_flow(
        "flow-files",
        "{\"name\": \"first\", \"path\": \"/health\", \"think\": \"10ms\"}\n{\"name\": \"second\", \"path\": \"/predict\"}\n",
    );
    let dir = scratch("flow-files-out");
    let (csv, html) = (dir.join("run.csv"), dir.join("run.html"));
    let (csv, html) = (csv.to_str().unwrap(), html.to_str().unwrap());
    let report = run_json(&[
        "--flow",
        &flow,
        "-c",
        "4",
        "--spawn-rate",
        "4",
        "-d",
        "2",
        "--csv",
        csv,
        "--html",
        html,
        &url,
    ]);
    assert!(
        target(&report, "flow")["successes"].as_u64().unwrap() > 20,
        "{report}"
    );
    let rows = std::fs::read_to_string(csv).unwrap();
    let rows: String = (rows.lines())
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    let users: Vec<&str> = rows
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(11).unwrap())
        .collect();
    assert_eq!(users.first(), Some(&"4"), "{rows}");
    assert!(rows.lines().next().unwrap().contains(",users,"), "{rows}");
    let page = std::fs::read_to_string(html).unwrap();
    for row in ["first", "second", "flow"] {
        assert!(page.contains(&format!("{row} ")), "{row}");
    }
}

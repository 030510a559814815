//! `blast compare` end to end: reports of real runs against two setups of `blast serve` (one
//! answering at once, one 3 ms late), compared by the binary as users run it.

mod common;

use std::path::Path;
use std::time::Duration;

use blast::serve::faults::{Delay, Faults};
use common::{blast, scratch};
use serde_json::Value;

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Runs blast with `args` against `url`, its JSON report written to `dir/name`.
fn report(dir: &Path, name: &str, url: &str, args: &[&str]) -> String {
    let path = dir.join(name);
    let path = path.to_str().unwrap();
    let out = blast(&[args, &["-t", "1", "--json", path, url]].concat());
    assert!(out.status.code().is_some_and(|c| c <= 1), "{out:?}");
    path.to_string()
}

fn compared(files: &[&str], more: &[&str]) -> (Option<i32>, Value, String) {
    let out = blast(&[&["compare"], files, more, &["--json", "-"]].concat());
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code(), json, text)
}

fn refused(files: &[&str]) -> String {
    let out = blast(&[&["compare"], files].concat());
    assert_eq!(out.status.code(), Some(2), "{files:?}: {out:?}");
    assert!(out.stdout.is_empty());
    let line = String::from_utf8(out.stderr).unwrap();
    assert_eq!(line.lines().count(), 1, "{line}");
    line
}

/// Two single runs: each figure is the report's own, and each ratio is the second's over the
/// first's; the slow setup's p50 is about 3 ms higher and its rate lower; the page overlays
/// each chart with a line per report.
#[test]
fn two_setups_side_by_side_with_their_ratios() {
    let dir = scratch("compare-runs");
    let fast = common::builtin(Faults::default());
    let slow = common::builtin(Faults {
        delay: Delay::Fixed(Duration::from_millis(3)),
        ..Faults::default()
    });
    let closed = ["-c", "4", "-d", "1"];
    let a = report(
        &dir,
        "fast.json",
        &format!("http://{}/predict", fast.addr),
        &closed,
    );
    let b = report(
        &dir,
        "slow.json",
        &format!("http://{}/predict", slow.addr),
        &closed,
    );
    let page = dir.join("compare.html");
    let (code, json, text) = compared(&[&a, &b], &["--html", page.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{text}");
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{json}");
    assert_eq!(rows[0]["target"], Value::Null);
    let reports = [read(Path::new(&a)), read(Path::new(&b))];
    let values = rows[0]["values"].as_array().unwrap();
    for (value, report) in values.iter().zip(&reports) {
        assert_eq!(value["done_per_s"], report["rps"]);
        assert_eq!(value["p50_us"], report["latency_us"]["p50"]);
        assert_eq!(value["p99_us"], report["latency_us"]["p99"]);
        assert_eq!(value["success_pct"], report["success_pct"]);
        assert_eq!(value["server_cpu_pct"], Value::Null);
    }
    let ratio = |key: &str| rows[0]["ratios"][1][key].as_f64().unwrap();
    for key in ["done_per_s", "p50_us", "p95_us", "p99_us", "success_pct"] {
        let want = values[1][key].as_f64().unwrap() / values[0][key].as_f64().unwrap();
        assert!((ratio(key) - want).abs() < 1e-9, "{key}: {json}");
        assert_eq!(rows[0]["ratios"][0][key], 1.0);
    }
    let p50 = |v: &Value| v["p50_us"].as_f64().unwrap();
    assert!(p50(&values[1]) - p50(&values[0]) > 2_500.0, "{json}");
    assert!(ratio("done_per_s") < 0.5, "{json}");
    // The text: a line per report, then the ratios, as the JSON has them.
    assert!(text.contains("  [1] fast.json  GET http://"), "{text}");
    let ratios = text.lines().find(|l| l.starts_with("  [2]/[1] ")).unwrap();
    assert!(
        ratios.contains(&format!("{:.2}x", ratio("p50_us"))),
        "{ratios}"
    );
    let page = std::fs::read_to_string(page).unwrap();
    assert_eq!(page.matches("<svg").count(), 3, "ok/s, p99, percentiles");
    assert_eq!(page.matches("<title>[1] fast.json</title>").count(), 3);
    assert_eq!(page.matches("<title>[2] slow.json</title>").count(), 3);

    // Refused: a single file, a sweep against a run, a closed loop against an open one,
    // another number of connections or pipeline depth, another rate, nothing in common.
    let fast_url = format!("http://{}/predict", fast.addr);
    let sweep = report(
        &dir,
        "sweep.json",
        &fast_url,
        &["-c", "2", "-d", "0.3", "--rates", "50,100"],
    );
    let open = report(
        &dir,
        "open.json",
        &fast_url,
        &["-d", "0.3", "--rate", "100"],
    );
    let faster = report(
        &dir,
        "faster.json",
        &fast_url,
        &["-d", "0.3", "--rate", "200"],
    );
    let more = report(&dir, "more.json", &fast_url, &["-c", "8", "-d", "0.3"]);
    let deeper = report(
        &dir,
        "deeper.json",
        &fast_url,
        &["-c", "2", "-d", "0.3", "--pipeline", "4"],
    );
    let cases = [
        (vec![a.as_str()], "compare needs two or more JSON reports"),
        (vec![&a, &sweep], "is a sweep, '"),
        (vec![&a, &open], "is an open loop (--rate"),
        (vec![&a, &more], "ran 8 connections, '"),
        (vec![&a, &deeper], "ran 2 connections pipelined 4 deep, '"),
        (vec![&open, &faster], "ran at 200.0/s, '"),
        (vec![&a, "/no/such.json"], "cannot read '/no/such.json'"),
    ];
    for (files, says) in cases {
        let line = refused(&files);
        assert!(line.contains(says), "{files:?}: {line}");
    }
    fast.stop().unwrap();
    slow.stop().unwrap();
}

/// Two sweeps of a mix, each target alone (`--each`), whose mixes share one target: the
/// shared target's rows are compared at each rate, the others shown with `-`; charts come a
/// set per target. Two sweeps with no target in common are refused.
#[test]
fn each_sweeps_are_matched_by_target_and_rate() {
    let dir = scratch("compare-each");
    let server = common::builtin(Faults::default());
    let url = format!("http://{}/", server.addr);
    let mix = |name: &str, lines: &[&str]| {
        let path = dir.join(name);
        std::fs::write(&path, lines.join("\n")).unwrap();
        path.to_str().unwrap().to_string()
    };
    let predict = r#"{"name": "predict", "path": "/predict"}"#;
    let health = r#"{"name": "health", "path": "/health"}"#;
    let other = r#"{"name": "other", "path": "/health"}"#;
    let sweep = |name: &str, mix: &str| {
        let args = [
            "-c",
            "2",
            "-d",
            "0.3",
            "--each",
            "--rates",
            "50,100",
            "--targets",
            mix,
        ];
        report(&dir, name, &url, &args)
    };
    let a = sweep("a.json", &mix("a.jsonl", &[predict, health]));
    let b = sweep("b.json", &mix("b.jsonl", &[predict, other]));
    let page = dir.join("each.html");
    let (code, json, text) = compared(&[&a, &b], &["--html", page.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{text}");
    let keys: Vec<(String, f64, bool, bool)> = json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["target"].as_str().unwrap().to_string(),
                r["rate"].as_f64().unwrap(),
                r["values"][0].is_object(),
                r["values"][1].is_object(),
            )
        })
        .collect();
    let want = [
        ("predict", 50.0, true, true),
        ("health", 50.0, true, false),
        ("predict", 100.0, true, true),
        ("health", 100.0, true, false),
        ("other", 50.0, false, true),
        ("other", 100.0, false, true),
    ]
    .map(|(n, r, x, y)| (n.to_string(), r, x, y));
    assert_eq!(keys, want);
    assert!(text.contains("\npredict at 100.0/s\n"), "{text}");
    let page = std::fs::read_to_string(page).unwrap();
    assert!(page.contains(">p99 by target rate, predict<"), "{page}");
    assert_eq!(
        page.matches("<svg").count(),
        9,
        "three charts for each of three targets"
    );

    let c = sweep("c.json", &mix("c.jsonl", &[other]));
    let line = refused(&[&a, &c]);
    assert!(
        line.contains("has no run in common with the other reports"),
        "{line}"
    );
    server.stop().unwrap();
}

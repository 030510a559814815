//! `blast merge` end to end: reports of real runs against `blast serve`, read back and merged
//! by the binary as users run it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use blast::results::summary::decode_histogram;
use blast::serve::faults::{Delay, Faults};
use common::{blast, scratch};
use serde_json::Value;

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn merged(files: &[&Path], more: &[&str]) -> (Option<i32>, Value) {
    let mut args = vec!["merge"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    args.extend_from_slice(more);
    args.extend_from_slice(&["--json", "-"]);
    let out = blast(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{stderr}"));
    (out.status.code(), json)
}

/// Two runs at once (4 connections on io_uring, 2 on epoll) against one server whose bodies
/// fail the check one time in twenty, each writing its report into `dir`; rate mode (and a
/// connection per request) when `rate` is given, otherwise timing first bytes
/// (`--first-byte`). Returns the two reports' paths.
fn two_runs(dir: &Path, rate: Option<&str>) -> [PathBuf; 2] {
    let server = common::builtin(Faults {
        delay: Delay::Fixed(Duration::from_millis(1)),
        bad_body_share: 0.05,
        ..Faults::default()
    });
    let url = format!("http://{}/predict", server.addr);
    let paths = [dir.join("a.json"), dir.join("b.json")];
    let runs: Vec<_> = paths
        .iter()
        .zip([("4", "uring"), ("2", "epoll")])
        .map(|(path, (connections, driver))| {
            let mut args = vec![
                "-t",
                "1",
                "-c",
                connections,
                "-d",
                "1.5",
                "--driver",
                driver,
            ];
            if let Some(rate) = rate {
                // Without keep-alive too: every request's connect is timed, and merged.
                args.extend_from_slice(&["--rate", rate, "--no-keepalive"]);
            } else {
                args.push("--first-byte");
            }
            let args: Vec<String> = args
                .iter()
                .map(|a| a.to_string())
                .chain(["--expect-json".into(), "prediction=0|1".into()])
                .chain(["--json".into(), path.to_str().unwrap().into(), url.clone()])
                .collect();
            std::thread::spawn(move || {
                Command::new(env!("CARGO_BIN_EXE_blast"))
                    .args(&args)
                    .output()
            })
        })
        .collect();
    for run in runs {
        let out = run.join().unwrap().unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
    }
    server.stop().unwrap();
    paths
}

#[test]
fn one_report_reads_back_exactly() {
    let _turn = common::one_at_a_time();
    for (name, rate) in [("closed", None), ("rate", Some("400"))] {
        let dir = scratch(&format!("merge-{name}"));
        let [a, _] = two_runs(&dir, rate);
        let (code, again) = merged(&[&a], &[]);
        assert_eq!(code, Some(0));
        assert_eq!(
            again,
            read(&a),
            "{name}: the report read back and written again"
        );
        // Judged again against the objective it was judged against, and against another.
        let (_, judged) = merged(&[&a], &["--slo", "p99<1s"]);
        let path = a.with_file_name("judged.json");
        std::fs::write(&path, judged.to_string()).unwrap();
        let (code, again) = merged(&[&path], &[]);
        assert_eq!(code, Some(0));
        assert_eq!(again, judged, "{name}: the objective is kept");
        let (code, again) = merged(&[&path], &["--slo", "p99<1us"]);
        assert_eq!(code, Some(1));
        assert_eq!(
            again["slo"]["objective"], "p99<1us",
            "{name}: --slo overrides it"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn runs_at_the_same_time_merge_into_one() {
    let _turn = common::one_at_a_time();
    for (name, rate) in [("closed2", None), ("rate2", Some("400"))] {
        let dir = scratch(&format!("merge-{name}"));
        let [a, b] = two_runs(&dir, rate);
        let (a, b, (code, m)) = (read(&a), read(&b), merged(&[&a, &b], &[]));
        assert_eq!(code, Some(0));
        let sum = |pointer: &str| {
            a.pointer(pointer).unwrap().as_u64().unwrap()
                + b.pointer(pointer).unwrap().as_u64().unwrap()
        };
        for key in [
            "/requests",
            "/successes",
            "/failures",
            "/errors/body",
            "/status_codes/200",
            "/bytes_read",
            "/bytes_written",
            "/in_flight",
            "/threads",
            "/connections/requested",
            "/connections/established",
            "/latency_us/count",
            "/connect_us/count",
        ] {
            assert_eq!(
                m.pointer(key).unwrap().as_u64().unwrap(),
                sum(key),
                "{name}{key}"
            );
        }
        assert!(
            m["errors"]["body"].as_u64().unwrap() > 0,
            "{name}: failures merged"
        );
        assert_eq!(m["driver"], "mixed");
        let longest = a["duration_s"]
            .as_f64()
            .unwrap()
            .max(b["duration_s"].as_f64().unwrap());
        assert_eq!(m["duration_s"], longest);
        // And the longest drain after it: rates are over both.
        let drain = a["drain_s"]
            .as_f64()
            .unwrap()
            .max(b["drain_s"].as_f64().unwrap());
        assert_eq!(m["drain_s"], drain);
        let rps = m["requests"].as_f64().unwrap() / (longest + drain);
        assert!((m["rps"].as_f64().unwrap() - rps).abs() < 1e-6 * rps);
        // The merged histogram is the two added: every response once, percentiles between
        // the two runs' own.
        let hist = decode_histogram(m["histogram"]["data"].as_str().unwrap()).unwrap();
        assert_eq!(hist.len(), sum("/latency_us/count"));
        for p in ["p50", "p99", "max"] {
            let (x, y) = (
                a["latency_us"][p].as_f64().unwrap(),
                b["latency_us"][p].as_f64().unwrap(),
            );
            let got = m["latency_us"][p].as_f64().unwrap();
            assert!(
                x.min(y) <= got && got <= x.max(y),
                "{name} {p}: {got} not in {x}..{y}"
            );
        }
        // Each second adds up; its percentiles are the higher of the two.
        let rows = |v: &Value| v["per_second"].as_array().unwrap().clone();
        for (i, row) in rows(&m).iter().enumerate() {
            assert_eq!(row["second"], i);
            let of =
                |v: &Value, key: &str| rows(v).get(i).map_or(0.0, |r| r[key].as_f64().unwrap());
            for key in ["requests", "failures", "sent"] {
                assert_eq!(
                    row[key].as_f64().unwrap(),
                    of(&a, key) + of(&b, key),
                    "{name} second {i} {key}"
                );
            }
            // First-byte ones too, with --first-byte (null in the rate runs, as in theirs).
            for key in ["p50_us", "p99_us", "first_byte_p50_us", "first_byte_p99_us"] {
                let its = |v: &Value| rows(v).get(i).map(|r| r[key].clone());
                let want = match (its(&a), its(&b)) {
                    (Some(Value::Null), _) | (_, Some(Value::Null)) => Value::Null,
                    _ => of(&a, key).max(of(&b, key)).into(),
                };
                assert_eq!(row[key], want, "{name} second {i} {key}");
            }
        }
        if rate.is_some() {
            assert!(m["connect_us"]["count"].as_u64().unwrap() > 1_000);
            assert_eq!(m["rate"]["target"], 800.0);
            let sent = m["rate"]["sent"].as_u64().unwrap();
            assert_eq!(sent, sum("/rate/sent"));
            assert_eq!(m["rate"]["late"].as_u64().unwrap(), sum("/rate/late"));
            let uncorrected =
                decode_histogram(m["histogram"]["uncorrected_data"].as_str().unwrap());
            assert_eq!(uncorrected.unwrap().len(), sum("/latency_us/count"));
            assert!(m["first_byte_us"].is_null());
        } else {
            assert!(m["rate"].is_null());
            // First bytes merge exactly too: every response once.
            assert_eq!(
                m["first_byte_us"]["count"].as_u64().unwrap(),
                sum("/latency_us/count")
            );
            let first = decode_histogram(m["histogram"]["first_byte_data"].as_str().unwrap());
            assert_eq!(first.unwrap().len(), sum("/latency_us/count"));
        }
        // Judged against an objective the merged run misses: exit 1.
        let (code, judged) = merged(
            &[&dir.join("a.json"), &dir.join("b.json")],
            &["--slo", "errors<1%"],
        );
        assert_eq!(code, Some(1));
        assert_eq!(judged["slo"]["met"], false);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

#[test]
fn reports_that_cannot_merge_are_one_line_and_exit_2() {
    let _turn = common::one_at_a_time();
    let dir = scratch("merge-bad");
    let [closed, _] = two_runs(&dir, None);
    let rate_dir = scratch("merge-bad-rate");
    let [rate, _] = two_runs(&rate_dir, Some("400"));
    let report = read(&closed);
    let write = |name: &str, value: &Value| {
        let path = dir.join(name);
        std::fs::write(&path, value.to_string()).unwrap();
        path.to_str().unwrap().to_string()
    };
    let edited = |name: &str, edit: &dyn Fn(&mut Value)| {
        let mut value = report.clone();
        edit(&mut value);
        write(name, &value)
    };
    let closed = closed.to_str().unwrap().to_string();
    let not_json = dir.join("not.json");
    std::fs::write(&not_json, "blast GET http://x/\n").unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["/no/such.json".into()], "cannot read '/no/such.json'"),
        (vec![not_json.to_str().unwrap().into()], "is not JSON"),
        (
            vec![write("sweep.json", &serde_json::json!({"steps": [report]}))],
            "is a sweep",
        ),
        (
            vec![
                closed.clone(),
                edited("other.json", &|v| v["url"] = "http://elsewhere/".into()),
            ],
            "merge runs against one target",
        ),
        (
            vec![
                closed.clone(),
                edited("socket.json", &|v| {
                    v["unix_socket"] = "/run/app.sock".into()
                }),
            ],
            "went to the socket /run/app.sock, not to the URL's host",
        ),
        (
            vec![
                closed.clone(),
                edited("no-keepalive.json", &|v| {
                    v["connections"]["keep_alive"] = false.into()
                }),
            ],
            "mixes runs with and without keep-alive",
        ),
        (
            vec![
                closed.clone(),
                edited("no-first-byte.json", &|v| {
                    v["first_byte_us"] = Value::Null;
                    v["histogram"]["first_byte_data"] = Value::Null;
                }),
            ],
            "mixes runs with and without --first-byte",
        ),
        (
            vec![edited("first-byte-hist.json", &|v| {
                v["histogram"]["first_byte_data"] = "bm90IGEgaGlzdG9ncmFt".into()
            })],
            "'histogram.first_byte_data' is missing or invalid",
        ),
        (
            vec![closed.clone(), {
                // The same target: the other run's server had another port.
                let mut rate = read(&rate);
                rate["url"] = report["url"].clone();
                write("rate.json", &rate)
            }],
            "mixes a closed-loop run and a --rate run",
        ),
        (
            vec![edited("missing.json", &|v| {
                v.as_object_mut().unwrap().remove("successes");
            })],
            "'successes' is missing or invalid",
        ),
        (
            vec![edited("hist.json", &|v| {
                v["histogram"]["data"] = "bm90IGEgaGlzdG9ncmFt".into()
            })],
            "'histogram.data' is missing or invalid",
        ),
        (
            vec![edited("negative.json", &|v| {
                v["errors"]["read"] = (-1).into()
            })],
            "'errors.read' is missing or invalid",
        ),
        (
            vec![edited("status.json", &|v| {
                v["status_codes"]["ok"] = 1.into()
            })],
            "'status_codes.ok' is missing or invalid",
        ),
        (
            vec![edited("negative-p50.json", &|v| {
                v["per_second"][0]["p50_us"] = (-1.0).into()
            })],
            "'per_second.0.p50_us' is missing or invalid",
        ),
        (
            vec![edited("long.json", &|v| v["duration_s"] = 1e300.into())],
            "'duration_s' is missing or invalid",
        ),
        (
            vec![closed.clone(), "--slo".into(), "p99<soon".into()],
            "invalid --slo",
        ),
    ];
    for (args, says) in cases {
        let args: Vec<&str> = ["merge"]
            .into_iter()
            .chain(args.iter().map(String::as_str))
            .collect();
        let out = blast(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("blast: ") && stderr.contains(says),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    let out = blast(&["merge"]);
    assert_eq!(out.status.code(), Some(2), "no file at all");
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&rate_dir).unwrap();
}

/// Reports written before the drain, the `unsolicited` category and the connection causes
/// merge as they are: the keys they lack read as zero (or none).
#[test]
fn reports_from_before_the_drain_still_merge() {
    let dir = scratch("merge-older");
    let [a, b] = two_runs(&dir, None);
    let mut old = read(&a);
    let top = old.as_object_mut().unwrap();
    for key in ["drain_s", "connect_error", "tls_answers"] {
        top.remove(key).unwrap();
    }
    old["errors"].as_object_mut().unwrap().remove("unsolicited");
    old["connections"].as_object_mut().unwrap().remove("added");
    let older = dir.join("older.json");
    std::fs::write(&older, old.to_string()).unwrap();
    let (code, m) = merged(&[&older, &b], &[]);
    assert_eq!(code, Some(0), "{m}");
    let (a, b) = (read(&a), read(&b));
    let sum = |key: &str| a[key].as_u64().unwrap() + b[key].as_u64().unwrap();
    assert_eq!(m["requests"].as_u64(), Some(sum("requests")));
    assert_eq!(m["errors"]["unsolicited"], b["errors"]["unsolicited"]);
    assert_eq!(m["drain_s"], b["drain_s"]);
    assert_eq!(m["connections"]["added"], b["connections"]["added"]);
}

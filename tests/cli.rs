//! The binary as users run it: exit codes, one-line errors, the reports, Ctrl-C.

mod common;

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use blast::serve::faults::{Delay, Faults};
use common::{Behavior, Server, blast, scratch};

#[test]
fn bad_input_is_one_line_on_stderr_and_exit_2() {
    let cases: &[&[&str]] = &[
        &["--no-such-flag", "http://127.0.0.1:1/"],
        &[],
        &["wss://127.0.0.1/"],
        &["--cacert", "/nonexistent/ca.pem", "https://127.0.0.1:1/"],
        &["--cacert", "/dev/null", "https://127.0.0.1:1/"],
        &["-k", "--cacert", "ca.pem", "https://127.0.0.1:1/"],
        &["--unix-socket", "/tmp/app.sock", "https://localhost/"],
        &["127.0.0.1:8000/predict"],
        &["-c", "0", "http://127.0.0.1:1/"],
        &["-c", "-64", "http://127.0.0.1:1/"],
        &["--rate", "-100", "http://127.0.0.1:1/"],
        &["--rate", "10m", "http://127.0.0.1:1/"],
        &["-n", "1m", "http://127.0.0.1:1/"],
        &["--max-body", "16m", "http://127.0.0.1:1/"],
        &["--ramp", "10s", "-d", "1", "http://127.0.0.1:1/"],
        &["--drain", "-1s", "http://127.0.0.1:1/"],
        &["-d", "-5", "http://127.0.0.1:1/"],
        &["-d", "forever", "http://127.0.0.1:1/"],
        &[
            "--body-file",
            "/nonexistent/body.json",
            "http://127.0.0.1:1/",
        ],
        &["http://no-such-host.invalid/"],
        &["--expect-json", "=1", "http://127.0.0.1:1/"],
        &["--health", "/health", "-d", "1", "http://127.0.0.1:1/"],
        &["--cpus", "9999", "http://127.0.0.1:1/"],
        &["--server-pid", "x", "http://127.0.0.1:1/"],
        &["--each", "http://127.0.0.1:1/"],
        &["--filter", "/api", "http://127.0.0.1:1/"],
        &["--server-pid", "0", "http://127.0.0.1:1/"],
        &["--server-pid", "4194303", "http://127.0.0.1:1/"],
        &["-t", "x", "http://127.0.0.1:1/"],
        &["--expect-json", "prediction=0|", "http://127.0.0.1:1/"],
        &["--expect-body", "", "http://127.0.0.1:1/"],
        // clap names the missing flag on the lines after its message.
        &["--find-max", "http://127.0.0.1:1/"],
        &["--slo", "p99<soon", "http://127.0.0.1:1/"],
        &["--find-max", "--slo", "rps>5k", "http://127.0.0.1:1/"],
        &["--max-body", "0", "http://127.0.0.1:1/"],
        &["--max-body", "2g", "http://127.0.0.1:1/"],
        &["--max-body", "lots", "http://127.0.0.1:1/"],
        &["--body-lines", "/no/such/file", "http://127.0.0.1:1/"],
        &["--body-lines", "/dev/null", "http://127.0.0.1:1/"],
        &[
            "--body",
            "{}",
            "--body-lines",
            "/dev/null",
            "http://127.0.0.1:1/",
        ],
        &["--targets", "/no/such/file", "http://127.0.0.1:1/"],
        &["--targets", "/dev/null", "http://127.0.0.1:1/"],
        // Not JSON Lines: refused with the line's number.
        &["--targets", "/etc/passwd", "http://127.0.0.1:1/"],
        &[
            "--targets",
            "/dev/null",
            "--body",
            "{}",
            "http://127.0.0.1:1/",
        ],
        &["--targets", "/dev/null", "-X", "PUT", "http://127.0.0.1:1/"],
        &["serve", "--bogus"],
        // Found before the run, not after it: no report on stdout.
        &[
            "--json",
            "/nonexistent/dir/out.json",
            "-d",
            "5",
            "http://127.0.0.1:1/",
        ],
        &[
            "--rates",
            "10,20",
            "--json",
            "/nonexistent/out.json",
            "http://127.0.0.1:1/",
        ],
        &[
            "--csv",
            "/nonexistent/dir/out.csv",
            "-d",
            "5",
            "http://127.0.0.1:1/",
        ],
        &[
            "--html",
            "/nonexistent/dir/out.html",
            "-d",
            "5",
            "http://127.0.0.1:1/",
        ],
        &["merge", "--html", "/nonexistent/dir/out.html", "a.json"],
        &[
            "--unix-socket",
            "/nonexistent/app.sock",
            "http://localhost/",
        ],
    ];
    for args in cases {
        let out = blast(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr:?}");
        assert!(stderr.starts_with("blast: "), "{args:?}: {stderr:?}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
            "{stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn errors_name_what_is_wrong() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--no-such-flag", "http://127.0.0.1:1/"],
            "'--no-such-flag'",
        ),
        (
            &["--slo", "p99<soon", "http://127.0.0.1:1/"],
            "invalid --slo 'p99<soon' (use e.g. p99<100ms",
        ),
        (
            &["--find-max", "--slo", "rps>5k", "http://127.0.0.1:1/"],
            "--find-max cannot search with an rps bound",
        ),
        (
            &["--slo", "first_byte_p98<1s", "http://127.0.0.1:1/"],
            "invalid --slo 'first_byte_p98<1s' (use e.g. p99<100ms, max<1s, first_byte_p99<300ms",
        ),
        (
            &["--first-byte=yes", "http://127.0.0.1:1/"],
            "unexpected value 'yes' for '--first-byte'",
        ),
        (&["serve", "--cert", "/x.pem"], "not provided: --key"),
        (
            &["serve", "--cert", "/nonexistent", "--key", "/nonexistent"],
            "cannot read --cert '/nonexistent'",
        ),
        (
            &["serve", "--cert", "Cargo.toml", "--key", "Cargo.toml"],
            "--cert 'Cargo.toml' holds no PEM certificate",
        ),
        (
            &["--find-max", "http://127.0.0.1:1/"],
            "not provided: --slo",
        ),
        (
            &["--slo", "predict:p99<1s", "http://127.0.0.1:1/"],
            "--slo bound on target 'predict' needs --targets",
        ),
        (
            &[
                "--slo",
                "p99<1s,nope:errors<1%",
                "--targets",
                concat!(env!("CARGO_MANIFEST_DIR"), "/docs/mix.jsonl"),
                "http://127.0.0.1:1/",
            ],
            "--slo names target 'nope', which the run does not have (its targets: predict, predict-get, health)",
        ),
        (&["--rate", "0", "http://127.0.0.1:1/"], "invalid rate '0'"),
        (&["-c", "0", "http://127.0.0.1:1/"], "--connections"),
        // A negative value reaches its parser, as `--rate=-100` always did, rather than
        // being taken for a flag ('-1').
        (
            &["--rate", "-100", "http://127.0.0.1:1/"],
            "invalid rate '-100'",
        ),
        (
            &["--rate=-100", "http://127.0.0.1:1/"],
            "invalid rate '-100'",
        ),
        (&["-c", "-64", "http://127.0.0.1:1/"], "--connections"),
        (&["-c", "-64", "http://127.0.0.1:1/"], "'-64'"),
        // `m` is minutes in a duration, and nothing else anywhere.
        (
            &["--rate", "10m", "http://127.0.0.1:1/"],
            "'10m' is ambiguous: 'm' means minutes in a duration; for millions per second write 10M or 10000000",
        ),
        (
            &["--max-body", "16m", "http://127.0.0.1:1/"],
            "write 16M or 16MiB",
        ),
        (
            &["--ramp", "10s", "-d", "1", "http://127.0.0.1:1/"],
            "--ramp 10s is longer than the run (-d 1s + --warmup 0s)",
        ),
        (
            &["--drain", "soon", "http://127.0.0.1:1/"],
            "--drain: invalid duration 'soon'",
        ),
        (&["serve", "--bogus"], "(see blast serve --help)"),
        (&["--bogus", "http://127.0.0.1:1/"], "(see blast --help)"),
        (
            &[
                "--unix-socket",
                "/nonexistent/app.sock",
                "http://localhost/",
            ],
            "cannot use --unix-socket '/nonexistent/app.sock': No such file",
        ),
        (
            &["--unix-socket", "/tmp", "http://localhost/"],
            "--unix-socket '/tmp' is not a socket",
        ),
        (
            &["--cacert", "/nonexistent/ca.pem", "https://127.0.0.1:1/"],
            "cannot read --cacert '/nonexistent/ca.pem'",
        ),
        (
            &["--cacert", "/dev/null", "https://127.0.0.1:1/"],
            "--cacert '/dev/null' holds no PEM certificate",
        ),
        (&["wss://127.0.0.1/"], "unsupported scheme 'wss'"),
        (
            &["--unix-socket", "/tmp/app.sock", "https://localhost/"],
            "https over --unix-socket is not supported",
        ),
    ];
    for (args, names) in cases {
        let stderr = String::from_utf8_lossy(&blast(args).stderr).to_string();
        assert!(stderr.contains(names), "{args:?}: {stderr:?}");
    }
}

/// Every long flag that `--help` (and each subcommand's) lists, found in the help text itself
/// so that a new flag cannot be left out of this test, is documented in docs/usage.md (the
/// manual); and the help lists the flags the manual's examples rely on.
#[test]
fn help_documents_every_flag() {
    let manual =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/usage.md")).unwrap();
    let mut listed = 0;
    for command in [&[][..], &["serve"], &["demo"], &["merge"]] {
        let out = blast(&[command, &["--help"]].concat());
        assert_eq!(out.status.code(), Some(0), "{command:?}");
        let help = String::from_utf8_lossy(&out.stdout).to_string();
        for flag in long_flags(&help) {
            assert!(
                manual.contains(&flag),
                "docs/usage.md lacks {command:?} {flag}"
            );
            listed += 1;
        }
    }
    let help = String::from_utf8_lossy(&blast(&["--help"]).stdout).to_string();
    for flag in [
        "--url",
        "--connections",
        "--duration",
        "--rate",
        "--first-byte",
        "--expect-json",
        "--json",
        "--version",
    ] {
        assert!(long_flags(&help).contains(&flag.to_string()), "{flag}");
    }
    assert!(
        listed > 60,
        "{listed} flags found: is the help's layout still read right?"
    );
    assert!(
        manual.contains("blast merge"),
        "docs/usage.md lacks blast merge"
    );
}

/// The long flags (`--name`) an option list of clap's help names, at the start of its lines.
fn long_flags(help: &str) -> Vec<String> {
    help.lines()
        .map(str::trim_start)
        .filter(|line| line.starts_with('-'))
        .flat_map(|line| line.split([' ', ',', '=', '<']).take(3))
        .filter(|word| word.starts_with("--") && word.len() > 2)
        .map(str::to_string)
        .collect()
}

#[test]
fn text_and_json_reports_agree() {
    let server = Server::start(Behavior::Body(r#"{"prediction":1}"#));
    let dir = scratch("cli-reports");
    let path = dir.join("out.json");
    let out = blast(&[
        "-c",
        "4",
        "-n",
        "500",
        "--expect-status",
        "200",
        "--expect-json",
        "prediction=0|1",
        "--json",
        path.to_str().unwrap(),
        &server.url("/predict"),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Requests    500 total, 500 ok, 0 failed (100.00% success)"),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for key in [
        "requests",
        "successes",
        "failures",
        "duration_s",
        "rps",
        "success_rps",
        "latency_us",
        "errors",
        "status_codes",
        "bytes_read",
        "bytes_written",
        "connections",
        "driver",
        "threads",
        "per_second",
        "histogram",
        "in_flight",
        "concurrency",
    ] {
        assert!(json.get(key).is_some(), "JSON lacks {key}");
    }
    assert_eq!(json["requests"], 500);
    assert_eq!(json["status_codes"]["200"], 500);
    assert_eq!(json["errors"]["body"], 0);
    assert_eq!(json["connections"]["requested"], 4);
    let latency = &json["latency_us"];
    for q in ["min", "mean", "stdev", "p50", "p90", "p99", "p999", "max"] {
        assert!(latency[q].as_f64().is_some(), "latency_us.{q}");
    }
    assert!(
        latency["min"].as_f64() <= latency["p50"].as_f64()
            && latency["p50"].as_f64() <= latency["max"].as_f64()
    );
    let hist =
        blast::results::summary::decode_histogram(json["histogram"]["data"].as_str().unwrap())
            .unwrap();
    assert_eq!(
        hist.len(),
        500,
        "the serialized histogram holds every response"
    );
    let per_second: u64 = json["per_second"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(per_second, 500);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The CSV of a run holds its per-second series, and of a sweep its steps, with the same
/// numbers as the JSON written by the same run.
#[test]
fn csv_rows_are_the_json_numbers() {
    let server = Server::start(Behavior::Body(r#"{"prediction":1}"#));
    let dir = scratch("cli-csv");
    let (json_path, csv_path) = (dir.join("run.json"), dir.join("run.csv"));
    // The server runs in this process: `--server-pid` samples it.
    let me = std::process::id().to_string();
    let runs: [(&[&str], &str, &[&str]); 2] = [
        (
            &["-d", "2.2", "--first-byte", "--server-pid", &me],
            "/per_second",
            &[
                "second",
                "target",
                "sent",
                "requests",
                "failures",
                "p50_us",
                "p99_us",
                "first_byte_p50_us",
                "first_byte_p99_us",
                "server_cpu_pct",
                "server_rss_bytes",
                "users",
                "max_us",
                "connections",
                "send_lag_max_us",
                "unix_s",
            ],
        ),
        (
            &[
                "-d",
                "0.3",
                "--rates",
                "100,200",
                "--slo",
                "errors<1%",
                "--server-pid",
                &me,
            ],
            "/steps",
            &[
                "rate/target",
                "rate/send_rate",
                "rps",
                "latency_us/p50",
                "latency_us/p95",
                "latency_us/p99",
                "success_pct",
                "slo/met",
                "server/cpu_avg_pct",
                "server/rss_max_bytes",
                "connections/requested",
                "targets/0/name",
            ],
        ),
    ];
    for (args, rows_at, columns) in runs {
        let mut all = vec!["-c", "4", "--json", json_path.to_str().unwrap()];
        all.extend_from_slice(&["--csv", csv_path.to_str().unwrap()]);
        all.extend_from_slice(args);
        let url = server.url("/predict");
        all.push(&url);
        let out = blast(&all);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
        let want = json.pointer(rows_at).unwrap().as_array().unwrap();
        let csv = std::fs::read_to_string(&csv_path).unwrap();
        // (A run's CSV starts with its record as `#` comments.)
        let mut lines = csv.lines().filter(|l| !l.starts_with('#'));
        assert_eq!(lines.next().unwrap().split(',').count(), columns.len());
        let rows: Vec<&str> = lines.collect();
        assert_eq!(rows.len(), want.len(), "{csv}");
        assert!(rows.len() >= 2, "{csv}");
        for (row, want) in rows.iter().zip(want) {
            for (field, column) in row.split(',').zip(columns.iter()) {
                // A key the report lacks (a mix's target in a run of one request) is an
                // empty field.
                let want = want
                    .pointer(&format!("/{column}"))
                    .unwrap_or(&serde_json::Value::Null);
                let got: serde_json::Value = if field.is_empty() {
                    serde_json::Value::Null
                } else {
                    serde_json::from_str(field).unwrap()
                };
                let same = match (got.as_f64(), want.as_f64()) {
                    (Some(a), Some(b)) => a == b,
                    _ => got == *want,
                };
                assert!(same, "{column}: csv {field}, json {want}\n{csv}");
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn json_on_stdout_moves_the_text_to_stderr() {
    let server = Server::start(Behavior::Body("{}"));
    let out = blast(&["-c", "2", "-n", "50", "--json", "-", &server.url("/")]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is only JSON");
    assert_eq!(json["successes"], 50);
    assert!(String::from_utf8_lossy(&out.stderr).contains("Requests    50 total"));
}

/// `--no-keepalive` (and its alias from hey and oha) in the text and JSON reports, and in
/// what `blast merge` will combine.
/// The header counts in words that fit: one connection, and where its connections came from.
#[test]
fn one_connection_is_one_connection() {
    let server = Server::start(Behavior::Body("{}"));
    let out = blast(&["-c", "1", "-t", "1", "-n", "10", &server.url("/")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(", 1 connection (1 established: 1 at start, 0 added, 0 reopened), "),
        "{text}"
    );
}

#[test]
fn no_keepalive_is_reported() {
    let server = Server::start(Behavior::Body("{}"));
    let dir = scratch("cli-no-keepalive");
    let (with, without) = (dir.join("with.json"), dir.join("without.json"));
    let url = server.url("/");
    for (flag, path) in [
        ("--no-keepalive", &without),
        ("--disable-keepalive", &without),
    ] {
        let out = blast(&[
            "-c",
            "2",
            "-t",
            "1",
            "-n",
            "50",
            flag,
            "--json",
            path.to_str().unwrap(),
            &url,
        ]);
        assert_eq!(out.status.code(), Some(0));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("2 connections without keep-alive (50 established)"),
            "{text}"
        );
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        assert_eq!(json["connections"]["keep_alive"], false);
    }
    let out = blast(&[
        "-c",
        "2",
        "-n",
        "50",
        "--json",
        with.to_str().unwrap(),
        &url,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&with).unwrap()).unwrap();
    assert_eq!(json["connections"]["keep_alive"], true);
    let out = blast(&["merge", with.to_str().unwrap(), without.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("mixes runs with and without keep-alive"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `--body-lines` against blast's own target, whose prediction is a hash of the body: with one
/// line of each answer and `--expect-json prediction=0` (or `--expect-body` with the answer's
/// text), exactly every other request fails, on each of two threads.
#[test]
fn body_lines_go_in_turn() {
    use blast::serve::http::prediction;
    let body = |want: u8| {
        (0..)
            .map(|i| format!(r#"{{"x":{i}}}"#))
            .find(|b| prediction(b.as_bytes()) == want)
            .unwrap()
    };
    let dir = scratch("cli-lines");
    let path = dir.join("bodies.jsonl");
    std::fs::write(&path, format!("{}\n\n{}\n", body(0), body(1))).unwrap();
    let server = common::builtin(blast::serve::faults::Faults::default());
    let url = format!("http://{}/predict", server.addr);
    let path = path.to_str().unwrap();
    let args = ["-t", "2", "-c", "4", "-n", "1000", "--body-lines", path];
    // The same rule twice: as a JSON field, and as text the body must contain.
    for check in [
        ["--expect-json", "prediction=0"],
        ["--expect-body", r#"{"prediction":0}"#],
    ] {
        let out = blast(&[&args[..], &check[..], &["--json", "-", &url]].concat());
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
        assert_eq!(json["successes"], 500, "{check:?}: {json}");
        assert_eq!(json["errors"]["body"], 500, "{check:?}: {json}");
    }
    let stats = server.stop().unwrap();
    assert_eq!(stats.requests, 2000);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn no_success_exits_1() {
    let server = Server::start(Behavior::Status(500, "no"));
    let out = blast(&["-c", "2", "-n", "10", &server.url("/")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Failures    status 10"));
}

#[test]
fn an_objective_is_reported_and_a_miss_exits_1() {
    // 4 connections to a server that answers in 2 ms or more (its timer's resolution) and
    // fails one request in ten.
    let server = common::builtin(Faults {
        delay: Delay::Fixed(Duration::from_millis(2)),
        error_share: 0.1,
        ..Faults::default()
    });
    let url = format!("http://{}/predict", server.addr);
    let run = |slo: &str, more: &[&str]| {
        let mut args = vec!["-t", "1", "-c", "4", "-n", "400", "--slo", slo];
        args.extend_from_slice(more);
        args.push(&url);
        let out = blast(&args);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (out.status.code(), text)
    };
    let cases: &[(&str, Option<i32>, &str)] = &[
        (
            "p99<1s,errors<20%",
            Some(0),
            "Objective   p99<1s,errors<20%: met\n",
        ),
        ("p50<1ms", Some(1), "Objective   p50<1ms: MISSED (p50 "),
        ("max<2ms", Some(1), "Objective   max<2ms: MISSED (max "),
        ("p99<1s,errors<5%", Some(1), "MISSED (errors 10.00% >= 5%)"),
        ("rps>100", Some(0), ": met"),
        ("rps>1M", Some(1), "Objective   rps>1M: MISSED (rps "),
    ];
    for (slo, code, says) in cases {
        let (got, text) = run(slo, &[]);
        assert_eq!(got, *code, "{slo}: {text}");
        assert!(text.contains(says), "{slo}: {text}");
    }

    // The JSON carries the verdict; a sweep misses when any step does, and says which.
    let (code, json) = run("p50<1ms", &["--json", "-"]);
    assert_eq!(code, Some(1));
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["slo"]["objective"], "p50<1ms");
    assert_eq!(json["slo"]["met"], false);
    assert!(json["slo"]["missed"].as_str().unwrap().starts_with("p50 "));
    let (code, table) = run("p50<1s", &["-d", "0.3", "--rates", "100,200"]);
    assert_eq!(code, Some(0), "{table}");
    assert_eq!(table.matches("  met\n").count(), 2, "{table}");
    let (code, table) = run("errors<5%", &["-d", "0.3", "--rates", "100,200"]);
    assert_eq!(code, Some(1), "{table}");
    assert_eq!(table.matches("missed: errors").count(), 2, "{table}");
    server.stop().unwrap();
}

/// 20 connections with 10 local ports (in a network namespace of the test's own, where the
/// ephemeral port range narrows without touching the machine's): half the connects find no
/// free port, and the report says that this is the client's limit.
#[test]
fn running_out_of_local_ports_is_named() {
    let namespaces = Command::new("unshare").args(["-n", "true"]).status();
    if !namespaces.is_ok_and(|s| s.success()) {
        eprintln!("skipped: needs a network namespace of its own (unshare -n, as root)");
        return;
    }
    let bin = env!("CARGO_BIN_EXE_blast");
    let script = format!(
        "ip link set lo up && echo '40000 40009' > /proc/sys/net/ipv4/ip_local_port_range && \
         {{ {bin} serve --listen 127.0.0.1:8080 -t 1 -d 10 >/dev/null 2>&1 & S=$!; }} && \
         sleep 0.3 && {bin} -t 1 -c 20 -d 1 --json - http://127.0.0.1:8080/predict; \
         R=$?; kill $S; exit $R"
    );
    let out = Command::new("unshare")
        .args(["-n", "sh", "-c", &script])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let connections = &json["connections"];
    assert_eq!(connections["established"], 10, "{json}");
    let no_port = connections["no_local_port"].as_u64().unwrap();
    assert!(
        no_port >= 10,
        "each of 10 connections failed at least once: {json}"
    );
    assert!(
        json["errors"]["connect"].as_u64().unwrap() >= no_port,
        "{json}"
    );
    assert!(json["successes"].as_u64().unwrap() > 0, "{json}");
    assert!(
        text.contains(&format!(
            "  Ports       no free local port for {no_port} connects (EADDRNOTAVAIL)"
        )),
        "{text}"
    );
}

/// Runs blast with `args`, sends it SIGINT after `after`, and returns its output and how long
/// it took to exit after the signal.
fn interrupted(args: &[&str], after: Duration) -> (Output, Duration) {
    let child = Command::new(env!("CARGO_BIN_EXE_blast"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let sent = Instant::now();
    // SAFETY: sending SIGINT to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    (out, sent.elapsed())
}

#[test]
fn ctrl_c_prints_the_results_so_far() {
    let server = Server::start(Behavior::Body("{}"));
    let url = server.url("/");
    let (out, stopping) = interrupted(&["-c", "4", "-d", "60", &url], Duration::from_millis(1500));
    assert!(stopping < Duration::from_secs(2), "stopped promptly");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("(interrupted)"), "{text}");
    let duration: f64 = text
        .split("connections (")
        .nth(1)
        .unwrap()
        .split("), ")
        .nth(1)
        .unwrap()
        .split('s')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1.3..3.0).contains(&duration),
        "duration {duration} is the time actually run"
    );
    assert!(!text.contains("Requests    0 total"), "{text}");
}

#[test]
fn ctrl_c_while_the_connections_are_still_opening() {
    // One connection opens at once; the other three wait on SYN retries for seconds (the
    // server takes connections only after 3 s), so the run has not started when Ctrl-C
    // comes: blast must stop at once and report what it has, not wait out the connects.
    let server = Server::start_late(Behavior::Body("{}"), Duration::from_secs(3));
    let url = server.url("/");
    let args = [
        "-c",
        "4",
        "-t",
        "1",
        "-d",
        "5",
        "--connect-timeout",
        "10s",
        &url,
    ];
    let (out, stopping) = interrupted(&args, Duration::from_millis(500));
    assert!(stopping < Duration::from_secs(1), "stopped promptly");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "4 connections (1 established: 1 at start, 0 added, 0 reopened), 0.00s (interrupted)"
        ),
        "{text}"
    );
    assert!(text.contains("Requests    0 total"), "{text}");
}

#[test]
fn live_line_only_on_a_terminal() {
    let server = Server::start(Behavior::Body("{}"));
    let url = server.url("/");
    // Piped stderr: no live line at all.
    let out = blast(&["-c", "2", "-d", "2", &url]);
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // On a pseudo-terminal (util-linux `script`): one line per second, erased before the report;
    // with --first-byte it shows that second's first-byte p99 too. A second's line follows its
    // end by up to a collection period, so on a busy machine the last may not come before the
    // run ends: seconds 1 and 2 are waited for, the third may or may not show.
    let command = format!(
        "{} -c 2 -d 3.5 --first-byte {url}",
        env!("CARGO_BIN_EXE_blast")
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .expect("script(1) from util-linux");
    let tty = String::from_utf8_lossy(&out.stdout);
    let lines = tty.matches("\x1b[K[").count();
    assert!((2..=3).contains(&lines), "{tty:?}");
    assert!(
        tty.contains("[   1s]") && tty.contains("[   2s]") && !tty.contains("[   4s]"),
        "{tty:?}"
    );
    assert_eq!(tty.matches("  1st p99 ").count(), lines, "{tty:?}");
    assert!(tty.contains("Requests    "), "{tty:?}");
}

#[test]
fn serve_runs_until_ctrl_c_and_reports_what_it_did() {
    use std::io::{BufRead, BufReader};
    let mut server = Command::new(env!("CARGO_BIN_EXE_blast"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "-t",
            "1",
            "--error-rate",
            "10%",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(server.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("address printed")
        .to_string();
    let out = blast(&["-c", "2", "-n", "100", &format!("{url}predict")]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Failures    status 10"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // SAFETY: SIGINT to our own child.
    unsafe { libc::kill(server.id() as i32, libc::SIGINT) };
    let status = server.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(
        rest.contains("100 requests on 2 connections; injected: 10 errors"),
        "{rest}"
    );
}

#[test]
fn demo_runs_the_whole_job_with_nothing_installed() {
    let out = blast(&["demo", "-d", "1", "-c", "8"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(text.contains("0 failed (100.00% success)"), "{text}");
    assert!(
        log.contains("blast demo: built-in target at 127.0.0.1:"),
        "{log}"
    );
    assert!(log.contains("injected: 0 errors"), "{log}");
}

/// The report says how busy each of blast's own threads was over the window: one figure per
/// thread, the busiest named, all within a core (a closed loop keeps them working).
#[test]
fn the_report_has_each_client_thread_busy_share() {
    let server = Server::start(Behavior::Body(r#"{"prediction":1}"#));
    let url = server.url("/predict");
    let out = blast(&["-t", "2", "-c", "8", "-d", "1", "--json", "-", &url]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let client = &report["client"];
    let cores: Vec<f64> = client["cores_busy_pct"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_f64().unwrap())
        .collect();
    assert_eq!(cores.len(), 2, "{client}");
    assert!(cores.iter().all(|p| (1.0..=105.0).contains(p)), "{client}");
    assert_eq!(
        client["busiest_pct"].as_f64().unwrap(),
        cores.iter().copied().fold(0.0, f64::max)
    );
}

/// A sweep's text charts: on a terminal by default, or with `--chart`; never in piped text
/// unless asked.
#[test]
fn sweep_charts_on_a_terminal_or_with_chart() {
    let server = Server::start(Behavior::Body("{}"));
    let url = server.url("/");
    let sweep = ["-c", "2", "-d", "0.5", "--rates", "50,100"];
    let titles = [
        "  Achieved rate by target rate\n",
        "  Latency by target rate\n",
    ];
    let piped = blast(&[&sweep[..], &[url.as_str()]].concat());
    let text = String::from_utf8_lossy(&piped.stdout).to_string();
    assert!(titles.iter().all(|t| !text.contains(t)), "{text}");
    let asked = blast(&[&sweep[..], &["--chart", url.as_str()]].concat());
    let text = String::from_utf8_lossy(&asked.stdout).to_string();
    assert!(titles.iter().all(|t| text.contains(t)), "{text}");
    // The achieved chart's last point: 100/s at the right end of the x axis.
    assert!(text.contains("  target/s\n"), "{text}");
    let command = format!("{} {} {url}", env!("CARGO_BIN_EXE_blast"), sweep.join(" "));
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .output()
        .expect("script(1) from util-linux");
    let tty = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    assert!(titles.iter().all(|t| tty.contains(t)), "{tty:?}");
}

/// `--openapi` reads a YAML document as it reads the same document in JSON: the same mix.
#[test]
fn openapi_reads_yaml_as_json() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/openapi/");
    let mix = |file: &str| {
        let out = blast(&[
            "--openapi",
            &format!("{dir}{file}"),
            "--print-targets",
            "http://127.0.0.1:8000/",
        ]);
        assert_eq!(out.status.code(), Some(0), "{file}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let json = mix("fastapi-3.1.json");
    assert!(json.lines().count() >= 6, "{json}");
    assert_eq!(mix("fastapi-3.1.yaml"), json);
}

/// `--spawn-rate`: four users at two a second start at 0, 0.5, 1 and 1.5 s, so the seconds
/// of the run count 3, 4 and 4 users (started by each second's end), in the JSON and the CSV;
/// with a rate or a ramp it is refused.
#[test]
fn spawn_rate_opens_users_at_its_pace() {
    let server = Server::start(Behavior::Body("{}"));
    let url = server.url("/");
    let dir = scratch("cli-spawn");
    let csv = dir.join("seconds.csv");
    let csv = csv.to_str().unwrap();
    let args = [
        "-t",
        "1",
        "-c",
        "4",
        "--spawn-rate",
        "2",
        "-d",
        "3",
        "--csv",
        csv,
    ];
    let out = blast(&[&args[..], &["--json", "-", &url]].concat());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let users: Vec<u64> = (json["per_second"].as_array().unwrap().iter())
        .map(|r| r["users"].as_u64().unwrap())
        .collect();
    assert_eq!(users, [3, 4, 4], "{}", json["per_second"]);
    let csv = std::fs::read_to_string(csv).unwrap();
    // The `users` column, the 12th.
    let column: Vec<&str> = (csv.lines().filter(|l| !l.starts_with('#')).skip(1))
        .map(|l| l.split(',').nth(11).unwrap())
        .collect();
    assert_eq!(column, ["3", "4", "4"], "{csv}");
    let bad: [&[&str]; 3] = [
        &["--spawn-rate", "2", "--rate", "100"],
        &["--spawn-rate", "2", "--ramp", "1s"],
        &["--spawn-rate", "0"],
    ];
    for args in bad {
        let out = blast(&[&["-c", "4", "-d", "1"], args, &[url.as_str()]].concat());
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("spawn-rate"), "{stderr}");
    }
}

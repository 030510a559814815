//! `--start-at`: blast processes started at different times, given the same wall-clock
//! instant, start their load together at it (each once its connections are open), against
//! blast's own target; and an instant it cannot keep is refused before the run.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use blast::run::plan::unix_now;
use blast::serve::faults::Faults;
use blast::units::format_rfc3339;
use common::{blast, scratch};

#[test]
fn processes_started_apart_start_their_load_at_the_same_instant() {
    let server = common::builtin(Faults::default());
    let dir = scratch("start-at");
    let url = format!("http://{}/predict", server.addr);
    // A whole second three seconds ahead, written as RFC 3339 (milliseconds, UTC).
    let at = (unix_now() + 3.0).ceil();
    let instant = format_rfc3339(at);
    let run = |name: &str| {
        let json = dir.join(format!("{name}.json"));
        let child = Command::new(env!("CARGO_BIN_EXE_blast"))
            .args([
                "--instance",
                name,
                "--start-at",
                &instant,
                "-c",
                "2",
                "-t",
                "1",
                "-d",
                "1",
                "--json",
            ])
            .arg(&json)
            .arg(&url)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        (child, json)
    };
    let first = run("client-a");
    std::thread::sleep(Duration::from_millis(700));
    let second = run("client-b");
    let jsons = [first.1.clone(), second.1.clone()];
    for (child, json) in [first, second] {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        let started = report["started_unix_s"].as_f64().unwrap();
        assert!(
            (started - at).abs() < 0.05,
            "{json:?} started at {started}, asked {at}"
        );
        assert!(report["requests"].as_u64().unwrap() > 0, "{report}");
        let name = json.file_stem().unwrap().to_str().unwrap();
        assert_eq!(report["run"]["instance"], name);
        // Each second says when it began on the wall clock.
        let second = report["per_second"][0]["unix_s"].as_f64().unwrap();
        assert!((second - at).abs() < 0.05, "{second} {at}");
    }
    // Merged: their seconds line up, and the report says how far apart they began.
    let read = |path: &std::path::Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    let merged = dir.join("merged.json");
    let paths: Vec<&str> = jsons.iter().map(|p| p.to_str().unwrap()).collect();
    let out = blast(
        &[
            &["merge"],
            &paths[..],
            &["--json", merged.to_str().unwrap()],
        ]
        .concat(),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Merged      2 runs, their starts"), "{text}");
    let report = read(&merged);
    // It lists its parts by instance, each with its start and counts, in the order given.
    let parts = report["merged"]["parts"].as_array().unwrap();
    for (part, path) in parts.iter().zip(&jsons) {
        let run = read(path);
        assert_eq!(part["instance"], run["run"]["instance"]);
        assert_eq!(part["started"], run["run"]["started"]);
        assert_eq!(part["requests"], run["requests"]);
        assert!(part["start_offset_ms"].as_f64().unwrap() < 50.0, "{part}");
        let line = text
            .lines()
            .find(|l| l.contains(part["file"].as_str().unwrap()));
        let line = line.unwrap_or_else(|| panic!("{part} not listed in {text}"));
        assert!(
            line.contains(run["run"]["instance"].as_str().unwrap()),
            "{line}"
        );
    }
    // The same report twice would count its requests twice: refused.
    let out = blast(&["merge", paths[0], paths[1], paths[0]]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("is the same run as") && err.lines().count() == 1,
        "{err}"
    );
    assert!(
        report["merged"]["start_skew_ms"].as_f64().unwrap() < 50.0,
        "{report}"
    );
    let sum: u64 = jsons
        .iter()
        .map(|p| read(p)["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(report["requests"], sum);
    // A run made after them did not overlap: refused, unless --allow-skew.
    let later = dir.join("later.json");
    let out = blast(&[
        "-c",
        "2",
        "-t",
        "1",
        "-d",
        "0.5",
        "--json",
        later.to_str().unwrap(),
        &url,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let late = [paths[0], later.to_str().unwrap()];
    let out = blast(&[&["merge"], &late[..]].concat());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("the runs do not overlap") && err.lines().count() == 1,
        "{err}"
    );
    let out = blast(&[&["merge", "--allow-skew"], &late[..]].concat());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_instant_that_cannot_be_kept_exits_2_before_the_run() {
    let url = "http://127.0.0.1:9/";
    let past = format_rfc3339(unix_now() - 60.0);
    let cases: [(&str, &str); 4] = [
        ("soon", "invalid time 'soon'"),
        ("+25h", "more than 24 h ahead"),
        (&past, "in the past"),
        ("2026-12-07T10:00:00", "invalid time"),
    ];
    for (at, says) in cases {
        let out = blast(&["--start-at", at, "-d", "1", url]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{at}: {err}");
        assert_eq!(err.lines().count(), 1, "{at}: {err}");
        assert!(err.contains(says), "{at}: {err}");
    }
    let out = blast(&["--rates", "10,20", "--start-at", "+5s", "-d", "1", url]);
    assert_eq!(out.status.code(), Some(2));
    for name in ["", "a\tb"] {
        let out = blast(&["--instance", name, "-d", "1", url]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.starts_with("blast: --instance:") && err.lines().count() == 1,
            "{err}"
        );
    }
}

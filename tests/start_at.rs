//! `--start-at`: blast processes started at different times, given the same wall-clock
//! instant, start their load together at it (each once its connections are open), against
//! blast's own target; and an instant it cannot keep is refused before the run.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use blast::serve::faults::Faults;
use blast::units::format_rfc3339;
use common::{blast, scratch};

fn unix_now() -> f64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.unwrap().as_secs_f64()
}

#[test]
fn processes_started_apart_start_their_load_at_the_same_instant() {
    let server = common::builtin(Faults::default());
    let dir = scratch("start-at");
    let url = format!("http://{}/predict", server.addr);
    // A whole second three seconds ahead, written as RFC 3339 (milliseconds, UTC).
    let at = (unix_now() + 3.0).ceil();
    let instant = format_rfc3339(at);
    let run = |name: &str| {
        let json = dir.join(name);
        let child = Command::new(env!("CARGO_BIN_EXE_blast"))
            .args([
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
    let first = run("first.json");
    std::thread::sleep(Duration::from_millis(700));
    let second = run("second.json");
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
    }
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
}

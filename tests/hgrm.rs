//! `--hgrm`: the latency distribution in HdrHistogram's percentile-distribution format, checked
//! against the same run's JSON histogram as the Python hdrhistogram package decodes it
//! (scripts/check_hgrm.py: an implementation independent of the Rust crate blast uses).

mod common;

use std::process::Command;

use blast::serve::faults::Faults;
use common::{blast, builtin, scratch};

/// Runs scripts/check_hgrm.py on `hgrm` against `key` of the report at `json`.
fn check(json: &str, key: &str, hgrm: &str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/check_hgrm.py");
    let out = Command::new("python3")
        .args([script, json, key, hgrm])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{key} vs {hgrm}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_distribution_matches_the_histogram_an_independent_decoder_reads() {
    let _turn = common::one_at_a_time();
    let server = builtin(Faults::default());
    let url = format!("http://{}/predict", server.addr);
    let dir = scratch("hgrm");
    let path = |name: &str| dir.join(name).display().to_string();
    // A closed loop: one file.
    let (json, hgrm) = (path("closed.json"), path("closed.hgrm"));
    let out = blast(&["-c", "8", "-d", "1", "--json", &json, "--hgrm", &hgrm, &url]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    check(&json, "data", &hgrm);
    assert!(!std::path::Path::new(&path("closed.uncorrected.hgrm")).exists());
    // Rate mode: the uncorrected distribution beside it.
    let (json, hgrm) = (path("rate.json"), path("rate.hgrm"));
    let out = blast(&[
        "--rate", "3000", "-d", "1", "--json", &json, "--hgrm", &hgrm, &url,
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    check(&json, "data", &hgrm);
    check(&json, "uncorrected_data", &path("rate.uncorrected.hgrm"));
    let text = std::fs::read_to_string(&hgrm).unwrap();
    assert!(text.starts_with("       Value     Percentile TotalCount 1/(1-Percentile)\n\n"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn hgrm_bad_input_is_one_line_and_exit_2() {
    for (args, want) in [
        (
            &["--hgrm", "/nonexistent/dir/run.hgrm"][..],
            "cannot write --hgrm '/nonexistent/dir/run.hgrm'",
        ),
        (
            &["--hgrm", "run.hgrm", "--rates", "10,20"][..],
            "--hgrm writes one run's latency distribution",
        ),
    ] {
        let out = blast(&[args, &["-d", "1", "http://127.0.0.1:1/"]].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
}

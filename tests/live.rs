//! What blast serves while a run goes, driven end to end: a real Prometheus server (Debian's
//! `prometheus`, which `scripts/setup.sh` installs) scrapes `--metrics-listen` during a run
//! against blast's own target, and the totals it stored equal the run's JSON report, target
//! by target, category by category and status by status; a real browser (Chromium, driven
//! over its DevTools protocol by `scripts/web_check.py`) watches `--web`'s numbers grow and
//! presses Stop, which ends the run as Ctrl-C does.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use blast::serve::faults::Faults;
use common::{blast, scratch};
use serde_json::Value;

/// A free loopback port (bound and released: the test takes it right after).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A process stopped (by its PID) when the test ends, passing or not.
struct Stopped(Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(url: &str) -> Option<String> {
    let out = Command::new("curl")
        .args(["-sf", "--max-time", "5", url])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Prometheus scraping `target` every second, with its data in `dir`; ready when returned.
fn prometheus(dir: &Path, target: &str) -> (Stopped, String) {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n  \
             - job_name: blast\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .unwrap();
    let web = format!("127.0.0.1:{}", free_port());
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={web}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run prometheus (scripts/setup.sh installs it)");
    let child = Stopped(child);
    let api = format!("http://{web}");
    let ready = Instant::now() + Duration::from_secs(30);
    // Ready, and scraping already (it finds its targets a few seconds after its start): the
    // target is down until blast listens.
    let scraping = |api: &str| {
        let targets = get(&format!("{api}/api/v1/targets"))?;
        (!targets.contains("\"health\":\"unknown\"") && targets.contains("\"health\""))
            .then_some(())
    };
    while scraping(&api).is_none() {
        assert!(Instant::now() < ready, "prometheus did not start scraping");
        std::thread::sleep(Duration::from_millis(200));
    }
    (child, api)
}

/// The value of an instant PromQL query, by the label `by` (`""`: the one series).
fn query(api: &str, promql: &str, by: &str) -> Vec<(String, f64)> {
    let url = format!(
        "{api}/api/v1/query?query={}",
        promql
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    );
    let answer: Value = serde_json::from_str(&get(&url).expect("prometheus answers")).unwrap();
    assert_eq!(answer["status"], "success", "{answer}");
    let mut out: Vec<(String, f64)> = (answer["data"]["result"].as_array().unwrap().iter())
        .map(|r| {
            let label = r["metric"][by].as_str().unwrap_or("").to_string();
            (label, r["value"][1].as_str().unwrap().parse().unwrap())
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn prometheus_scrapes_the_run_and_its_totals_equal_the_report() {
    let server = common::builtin(Faults {
        error_share: 0.1,
        ..Faults::default()
    });
    let dir = scratch("prometheus");
    let metrics = format!("127.0.0.1:{}", free_port());
    let (_prometheus, api) = prometheus(&dir, &metrics);
    let targets = dir.join("targets.jsonl");
    std::fs::write(
        &targets,
        "{\"name\": \"predict\", \"path\": \"/predict\", \"weight\": 3}\n\
         {\"name\": \"health\", \"path\": \"/health\"}\n",
    )
    .unwrap();
    let json = dir.join("report.json");
    let url = format!("http://{}/", server.addr);
    let out = blast(&[
        "-c",
        "4",
        "-t",
        "1",
        "--rate",
        "400",
        "-d",
        "4",
        "--targets",
        targets.to_str().unwrap(),
        "--metrics-listen",
        &metrics,
        "--metrics-linger",
        "3s",
        "--json",
        json.to_str().unwrap(),
        &url,
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    // Counters only grow: the largest value scraped is the last.
    let last = |metric: &str, by: &str| query(&api, &format!("max_over_time({metric}[5m])"), by);
    let running = query(&api, "min_over_time(blast_running[5m])", "");
    assert_eq!(
        running,
        [(String::new(), 0.0)],
        "a scrape saw the final totals"
    );
    let by_target = |metric: &str| last(metric, "target");
    let targets = report["targets"].as_array().unwrap();
    let want = |key: &dyn Fn(&Value) -> f64| {
        let mut rows: Vec<(String, f64)> = (targets.iter())
            .map(|t| (t["name"].as_str().unwrap().to_string(), key(t)))
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows
    };
    assert_eq!(
        by_target("blast_requests_total"),
        want(&|t| t["requests"].as_f64().unwrap())
    );
    // The injected 500s (of /predict: /health never fails), by target, as the report
    // counts them.
    let statuses = query(
        &api,
        "max_over_time(blast_failures_total{category=\"status\"}[5m])",
        "target",
    );
    assert_eq!(statuses, want(&|t| t["errors"]["status"].as_f64().unwrap()));
    assert!(statuses[1].1 > 0.0, "{statuses:?}");
    for code in ["200", "500"] {
        let scraped = query(
            &api,
            &format!("max_over_time(blast_responses_total{{status=\"{code}\"}}[5m])"),
            "target",
        );
        // A status no response of a target had is not exposed for it.
        let mut counted = want(&|t| t["status_codes"][code].as_f64().unwrap_or(0.0));
        counted.retain(|(_, n)| *n > 0.0);
        assert_eq!(scraped, counted, "status {code}");
    }
    let count = last("blast_request_duration_seconds_count", "");
    let answered = report["status_codes"].as_object().unwrap();
    let answered: f64 = answered.values().map(|n| n.as_f64().unwrap()).sum();
    assert_eq!(count, [(String::new(), answered)]);
    let rate = last("blast_target_rate", "");
    assert_eq!(rate, [(String::new(), 400.0)]);
    // Seen while it ran too: more than one distinct value of the requests counter.
    let samples = query(
        &api,
        "count_over_time(blast_requests_total{target=\"predict\"}[5m])",
        "target",
    );
    assert!(samples[0].1 >= 4.0, "{samples:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_port_the_system_chose_is_said_and_serves() {
    let server = common::builtin(Faults::default());
    let url = format!("http://{}/predict", server.addr);
    let mut child = Command::new(env!("CARGO_BIN_EXE_blast"))
        .args(["--metrics-listen", "127.0.0.1:0", "--metrics-linger", "0s"])
        .args(["-c", "2", "-t", "1", "-d", "2", &url])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
    let at = line
        .strip_prefix("blast: --metrics-listen serves http://")
        .and_then(|rest| rest.trim().strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("{line}"));
    let addr: std::net::SocketAddr = at.parse().unwrap();
    assert_ne!(addr.port(), 0);
    // The address said is the one that answers, while the run goes.
    let mut scrape = std::net::TcpStream::connect(addr).unwrap();
    std::io::Write::write_all(
        &mut scrape,
        b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut scrape, &mut answer).unwrap();
    assert!(answer.contains("blast_requests_total"), "{answer}");
    assert!(child.wait().unwrap().success());
}

#[test]
fn listen_addresses_that_cannot_serve_exit_2_before_the_run() {
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = busy.local_addr().unwrap().to_string();
    let url = "http://127.0.0.1:9/";
    let cases: [(&[&str], &str); 5] = [
        (&["--metrics-listen", &busy], "--metrics-listen"),
        (&["--web", &busy], "--web"),
        (&["--metrics-listen", "nowhere"], "is not an address"),
        (&["--web", "127.0.0.1:99999"], "is not an address"),
        (&["--metrics-linger", "soon"], "--metrics-linger"),
    ];
    for (args, says) in cases {
        let out = blast(&[args, &["-d", "1", url][..]].concat());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let out = blast(&["--rates", "10,20", "--web", ":0", "-d", "1", url]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_dashboard_updates_in_a_browser_and_its_stop_button_ends_the_run() {
    let server = common::builtin(Faults::default());
    let dir = scratch("web");
    let web = format!("127.0.0.1:{}", free_port());
    let json = dir.join("report.json");
    let url = format!("http://{}/predict", server.addr);
    let args = [
        "--rate",
        "300",
        "-t",
        "1",
        "-d",
        "60",
        "--web",
        &web,
        "--metrics-linger",
        "4s",
        "--json",
        json.to_str().unwrap(),
        &url,
    ];
    let began = Instant::now();
    let mut run = Stopped(
        Command::new(env!("CARGO_BIN_EXE_blast"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let check = Command::new("timeout")
        .args(["90", "python3", "scripts/web_check.py"])
        .arg(format!("http://{web}/"))
        .arg(dir.join("profile"))
        .output()
        .unwrap();
    let seen = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{seen} {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let seen: Value = serde_json::from_str(&seen).unwrap();
    // The numbers grew while the run went, the charts drew their lines, the page raised no
    // error, and after Stop the report page took its place.
    let (before, after) = (
        seen["before"].as_u64().unwrap(),
        seen["after"].as_u64().unwrap(),
    );
    assert!(before > 0 && after > before + 300, "{seen}");
    assert_eq!(seen["lines"], 5, "{seen}");
    assert_eq!(seen["exceptions"], serde_json::json!([]), "{seen}");
    assert_eq!(seen["report"], true, "{seen}");
    let status = run.0.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(
        began.elapsed() < Duration::from_secs(40),
        "Stop ended the run"
    );
    let report: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["interrupted"], true, "{report}");
    assert!(report["requests"].as_u64().unwrap() >= after, "{report}");
    std::fs::remove_dir_all(&dir).unwrap();
}

//! `--rates` and `--find-max` end to end against `blast serve` with a known capacity.

mod common;

use std::time::Duration;

use blast::results::slo::Slo;
use blast::run::app;
use blast::run::config::{Config, Sweep};
use blast::run::url::Url;
use blast::serve::Server;
use blast::serve::faults::{Delay, Faults};

fn config(server: &Server) -> Config {
    let mut config = Config::new(Url::parse(&format!("http://{}/predict", server.addr)).unwrap());
    config.threads = Some(1);
    config.duration = Some(Duration::from_secs(1));
    config
}

#[test]
fn rates_runs_every_step_and_reports_each() {
    let _turn = common::one_at_a_time();
    let server = common::builtin(Faults::default());
    let mut config = config(&server);
    config.connections = 8;
    config.sweep = Some(Sweep::Rates(vec![500.0, 1_000.0, 2_000.0]));
    let report = app::sweep(&config).unwrap();
    server.stop().unwrap();
    let sent: Vec<u64> = report
        .steps
        .iter()
        .map(|s| s.rate.as_ref().unwrap().sent)
        .collect();
    assert_eq!(sent.len(), 3);
    for (got, want) in sent.iter().zip([500, 1_000, 2_000]) {
        common::assert_on_schedule(*got, want, 1);
    }
    let json = blast::report::sweep::to_value(&report);
    assert_eq!(json["steps"].as_array().unwrap().len(), 3);
    assert_eq!(json["steps"][2]["rate"]["target"], 2_000.0);
    assert!(json["max_rate"].is_null());
    let mut text = Vec::new();
    blast::report::sweep::write_text(&mut text, &report).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert_eq!(
        text.lines().filter(|l| l.contains("100.00%")).count(),
        3,
        "{text}"
    );
}

#[test]
fn find_max_lands_on_the_known_capacity() {
    let _turn = common::one_at_a_time();
    // 4 connections at most, 20 ms per response: 200 requests/s is the ceiling.
    let server = common::builtin(Faults {
        delay: Delay::Fixed(Duration::from_millis(20)),
        ..Faults::default()
    });
    let mut config = config(&server);
    config.connections = 4;
    config.max_connections = 4;
    config.rate = Some(50.0);
    config.sweep = Some(Sweep::FindMax);
    config.slo = Some(Slo::parse("p99<100ms").unwrap());
    let report = app::sweep(&config).unwrap();
    server.stop().unwrap();
    assert_eq!(report.max_rates.len(), 1);
    assert_eq!(report.max_rates[0].target, None);
    let best = report.max_rates[0]
        .rate
        .expect("some rate met the objective");
    assert!(
        (150.0..=220.0).contains(&best),
        "best {best}; steps {:?}",
        rates(&report)
    );
    assert_eq!(report.objective(), Some("p99<100ms"));
    let tried = rates(&report);
    assert_eq!(&tried[..3], &[50.0, 100.0, 200.0], "doubling first");
    assert!(
        report.steps.iter().any(|s| !s.slo.as_ref().unwrap().met()),
        "a step above capacity failed"
    );
}

fn rates(report: &blast::report::sweep::SweepReport) -> Vec<f64> {
    report
        .steps
        .iter()
        .map(|s| s.rate.as_ref().unwrap().target)
        .collect()
}

/// With `--first-byte` every step times first bytes: its JSON step carries them (one per
/// response) and the table two more columns. Judged by a `first_byte_` bound, which turns
/// the timing on by itself.
#[test]
fn a_sweep_times_first_bytes_in_every_step() {
    let _turn = common::one_at_a_time();
    let server = common::builtin(Faults::default());
    let url = format!("http://{}/predict", server.addr);
    let out = common::blast(&[
        "-t",
        "1",
        "-c",
        "4",
        "-d",
        "0.5",
        "--rates",
        "200,400",
        "--slo",
        "first_byte_p99<1s",
        "--json",
        "-",
        &url,
    ]);
    server.stop().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for step in json["steps"].as_array().unwrap() {
        assert_eq!(step["first_byte_us"]["count"], step["latency_us"]["count"]);
        assert_eq!(step["slo"]["met"], true);
    }
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("1st p50   1st p99  objective"), "{text}");
}

/// `--each --find-max`: a search per target, each alone, each with its own answer (200
/// requests/s at most for both here: 4 connections, 20 ms per response).
#[test]
fn find_max_with_each_searches_every_target() {
    let _turn = common::one_at_a_time();
    let server = common::builtin(Faults {
        delay: Delay::Fixed(Duration::from_millis(20)),
        ..Faults::default()
    });
    let mut config = config(&server);
    let lines = "{\"name\": \"predict\", \"path\": \"/predict\"}\n{\"name\": \"health\", \"path\": \"/health\"}";
    let defaults = blast::run::mix::Defaults {
        url: &config.url,
        headers: &[],
        expect: &config.expect,
    };
    config.mix = Some(blast::run::mix::parse(lines, &defaults).unwrap());
    config.each = true;
    config.connections = 4;
    config.max_connections = 4;
    config.rate = Some(100.0);
    config.sweep = Some(Sweep::FindMax);
    config.slo = Some(Slo::parse("p99<100ms").unwrap());
    let report = app::sweep(&config).unwrap();
    server.stop().unwrap();
    let names: Vec<&str> = (report.max_rates.iter())
        .map(|m| m.target.as_deref().unwrap())
        .collect();
    assert_eq!(names, ["predict", "health"]);
    for found in &report.max_rates {
        let name = found.target.as_deref().unwrap();
        let best = found.rate.expect("some rate met the objective");
        assert!(
            (150.0..=220.0).contains(&best),
            "{name}: {best}; steps {:?}",
            rates(&report)
        );
    }
    // All of predict's steps, then all of health's, each alone.
    let order: Vec<&str> = report
        .steps
        .iter()
        .map(blast::report::sweep::step_target)
        .collect();
    let switch = order.iter().position(|n| *n == "health").unwrap();
    assert!(
        order[..switch].iter().all(|n| *n == "predict")
            && order[switch..].iter().all(|n| *n == "health"),
        "{order:?}"
    );
    assert_eq!(app::sweep_exit_code(&report), 0);
    let mut text = Vec::new();
    blast::report::sweep::write_text(&mut text, &report).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("  Highest rate meeting p99<100ms for health: "),
        "{text}"
    );
    let json = blast::report::sweep::to_value(&report);
    assert!(json["max_rates"]["predict"].as_f64().is_some(), "{json}");
}

/// A users sweep (`-c 1,2,4`) against a server that answers each request 20 ms late and has
/// room for all of them: each step is a closed loop of its users, whose throughput is
/// users ÷ 20 ms (Little's law), so it never bends and no knee is marked; the table shows
/// the users and the failures, the CSV a `users` column.
#[test]
fn a_users_sweep_runs_each_number_of_users() {
    let _turn = common::one_at_a_time();
    let server = common::builtin(Faults {
        delay: Delay::Fixed(Duration::from_millis(20)),
        ..Faults::default()
    });
    let mut config = config(&server);
    config.sweep = Some(Sweep::Users(vec![1, 2, 4]));
    let report = app::sweep(&config).unwrap();
    server.stop().unwrap();
    assert!(report.users);
    let steps: Vec<(usize, f64)> = (report.steps.iter())
        .map(|s| (s.connections.requested, s.rps))
        .collect();
    assert_eq!(steps.iter().map(|s| s.0).collect::<Vec<_>>(), [1, 2, 4]);
    for (users, rps) in &steps {
        let little = *users as f64 / 0.0205;
        assert!(
            (rps / little - 1.0).abs() < 0.15,
            "{users} users: {rps}/s, not {little}"
        );
    }
    assert!(report.steps.iter().all(|s| s.rate.is_none()));
    assert_eq!(report.knees.len(), 1);
    assert_eq!(report.knees[0].users, None, "{steps:?}");
    let json = blast::report::sweep::to_value(&report);
    assert!(
        json["knee_users"].is_null() && json.get("knee_users").is_some(),
        "{json}"
    );
    let mut text = Vec::new();
    blast::report::sweep::write_text(&mut text, &report).unwrap();
    let text = String::from_utf8(text).unwrap();
    let head = text.lines().nth(1).unwrap();
    assert!(head.starts_with("   users     done/s"), "{text}");
    assert!(head.contains("  success  failures  objective"), "{text}");
    assert!(!text.contains("knee"), "{text}");
    let mut csv = Vec::new();
    blast::report::csv::write_steps(&mut csv, &report).unwrap();
    let csv = String::from_utf8(csv).unwrap();
    let users: Vec<&str> = (csv.lines().skip(1))
        .map(|l| l.split(',').nth(10).unwrap())
        .collect();
    assert_eq!(users, ["1", "2", "4"], "{csv}");

    // `--locust-csv`: each step's four files, named as a Locust user names the runs of a
    // scaling analysis, whose Aggregated row counts that step's requests.
    let dir = common::scratch("locust-sweep");
    let prefix = dir.join("scale").display().to_string();
    let mut outputs = config.outputs.clone();
    outputs.locust = Some(prefix.clone());
    app::check_sweep_outputs(&outputs, &[1, 2, 4]).unwrap();
    app::report_sweep(&outputs, &report).unwrap();
    for step in &report.steps {
        let users = step.connections.requested;
        let stats = format!("{}_stats.csv", app::step_prefix(&prefix, users));
        assert!(stats.ends_with(&format!("scale_{users}users_stats.csv")));
        let stats = std::fs::read_to_string(&stats).unwrap();
        let aggregated = stats.lines().last().unwrap();
        assert!(
            aggregated.starts_with(&format!(",Aggregated,{},", step.requests)),
            "{aggregated}"
        );
        for suffix in ["_failures.csv", "_exceptions.csv", "_stats_history.csv"] {
            let path = format!("{}{suffix}", app::step_prefix(&prefix, users));
            assert!(std::path::Path::new(&path).exists(), "{path}");
        }
    }
}

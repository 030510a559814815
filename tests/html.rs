//! The `--html` report of real runs against blast's own target, opened in a real headless
//! browser (Chromium; `scripts/setup.sh` installs it): the document the browser builds must
//! show the text report exactly as the run printed it, and one chart per figure with a point
//! for each second of the run (each step of a sweep), with no NaN anywhere, and a run's
//! failures in a table by reason; and `blast merge` of one run's JSON makes the same page.

mod common;

use std::path::Path;
use std::process::Command;

use blast::serve::faults::Faults;
use common::{blast, scratch};
use regex::Regex;

const BROWSER: &str = "chromium-headless-shell";

/// The DOM the browser builds from the page at `path`, serialized; bounded by `timeout`.
fn rendered(path: &Path, profile: &Path) -> String {
    rendered_at(&format!("file://{}", path.display()), profile)
}

/// The same for an address (a page with a `#fragment`).
fn rendered_at(address: &str, profile: &Path) -> String {
    let out = Command::new("timeout")
        .arg("60")
        .arg(BROWSER)
        .args(["--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(address)
        .output()
        .unwrap_or_else(|e| panic!("run {BROWSER} (scripts/setup.sh installs it): {e}"));
    assert!(
        out.status.success(),
        "{BROWSER} failed (scripts/setup.sh installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The text of the page's `<pre>`, as the browser holds it.
fn pre_text(dom: &str) -> String {
    let pre = Regex::new(r"(?s)<pre>(.*?)</pre>").unwrap();
    let text = &pre.captures(dom).expect("the page has the text report")[1];
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// The number of points of each line of each chart, chart by chart; every coordinate must
/// be a finite number.
fn points_per_line(dom: &str) -> Vec<Vec<usize>> {
    let svg = Regex::new(r"(?s)<svg\b.*?</svg>").unwrap();
    let line = Regex::new(r#"<polyline\b[^>]*\bpoints="([^"]*)""#).unwrap();
    let finite = |xy: &str| {
        xy.split(',')
            .all(|v| v.parse::<f64>().is_ok_and(f64::is_finite))
    };
    svg.find_iter(dom)
        .map(|chart| {
            line.captures_iter(chart.as_str())
                .map(|c| {
                    let points: Vec<&str> = c[1].split_whitespace().collect();
                    assert!(points.iter().all(|p| finite(p)), "{}", &c[1]);
                    points.len()
                })
                .collect()
        })
        .collect()
}

/// The page at `path` as the browser draws it: a screenshot, decoded. It must not be blank:
/// a good share of its pixels are not white, and the charts' first colour is among them.
fn drawn(path: &Path, profile: &Path) {
    let shot = profile.with_file_name("shot.png");
    let out = Command::new("timeout")
        .arg("60")
        .arg(BROWSER)
        .args(["--no-sandbox", "--disable-gpu", "--window-size=1000,2400"])
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("file://{}", path.display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let decoder = png::Decoder::new(std::fs::File::open(&shot).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    let channels = frame.color_type.samples();
    let pixels = &pixels[..frame.buffer_size()];
    let all = pixels.len() / channels;
    let rgb = |p: &[u8]| (p[0], p[1], p[2]);
    let inked = pixels
        .chunks(channels)
        .filter(|p| rgb(p) != (255, 255, 255));
    assert!(inked.count() * 50 > all, "the screenshot is (nearly) blank");
    let first_series = (0x1f, 0x77, 0xb4);
    let blue = pixels.chunks(channels).filter(|p| rgb(p) == first_series);
    assert!(blue.count() > 200, "no chart line was drawn");
    std::fs::remove_file(&shot).unwrap();
}

#[test]
fn html_reports_render_in_a_real_browser() {
    let server = common::builtin(Faults {
        error_share: 0.1,
        ..Faults::default()
    });
    let url = format!("http://{}/predict", server.addr);
    let dir = scratch("html");
    let page = dir.join("report.html");
    let json = dir.join("report.json");
    let runs: [(&[&str], &str, usize); 3] = [
        // A closed loop of 2 s: throughput (ok, failed), latency (p50, p99), distribution,
        // connections open.
        (&["-c", "4", "-d", "2"], "blast GET ", 4),
        // A rate run adds the sent line and the uncorrected distribution.
        (&["--rate", "500", "-d", "2"], "blast GET ", 4),
        // A sweep: achieved rates, latencies and success by rate, a point per step.
        (&["--rates", "300,600", "-d", "1"], "rate sweep", 3),
    ];
    for (args, title, charts) in runs {
        let common = ["-t", "1", "--html", page.to_str().unwrap()];
        let json_args = ["--json", json.to_str().unwrap(), &url];
        let out = blast(&[args, &common[..], &json_args[..]].concat());
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let dom = rendered(&page, &dir.join("profile"));
        assert!(dom.contains(title), "{args:?}: {dom}");
        assert_eq!(
            pre_text(&dom),
            String::from_utf8_lossy(&out.stdout),
            "{args:?}: the page shows the printed report"
        );
        assert!(!dom.contains("NaN"), "{dom}");
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        let lines = points_per_line(&dom);
        assert_eq!(lines.len(), charts, "{args:?}: {lines:?}");
        // A point per step, or per second of the run (a last sliver of a second under
        // 50 ms is left out).
        let want = match report.get("steps") {
            Some(steps) => steps.as_array().unwrap().len(),
            None => {
                let duration = report["duration_s"].as_f64().unwrap();
                let rows = report["per_second"].as_array().unwrap();
                rows.iter()
                    .filter(|r| duration - r["second"].as_f64().unwrap() >= 0.05)
                    .count()
            }
        };
        assert!(want >= 2, "{report}");
        if report.get("steps").is_none() {
            // The failures by reason, as a table: the injected 500s, with their sample.
            let reason = &report["failure_reasons"][0];
            assert_eq!(reason["reason"], "status 500", "{report}");
            let row = format!(
                "<td>status</td><td>status 500</td><td class=\"n\" data-v=\"{0}\">{0}</td>",
                reason["count"]
            );
            assert!(dom.contains(&row), "{args:?}: {dom}");
            assert!(dom.contains("injected error"), "{args:?}: {dom}");
            // `blast merge` of the one report reads back the same numbers: the same page.
            let merged = dir.join("merged.html");
            let out = blast(&[
                "merge",
                json.to_str().unwrap(),
                "--html",
                merged.to_str().unwrap(),
            ]);
            assert_eq!(out.status.code(), Some(0));
            assert!(std::fs::read(&merged).unwrap() == std::fs::read(&page).unwrap());
        }
        let rate = args[0] != "-c";
        // ok/s and failed/s, and sent/s with a rate; a sweep: target/s, sent/s, done/s, ok/s.
        let throughput = if charts == 3 {
            4
        } else {
            2 + usize::from(rate)
        };
        assert_eq!(lines[0], vec![want; throughput], "{args:?}");
        let distribution = lines.get(2).map_or(0, Vec::len);
        if charts == 4 {
            assert_eq!(
                lines[1],
                vec![want; 3],
                "{args:?}: p50, p99, max per second"
            );
            assert_eq!(distribution, 1 + usize::from(rate), "{args:?}");
            assert!(lines[2].iter().all(|&n| n > 10), "{lines:?}");
            assert_eq!(lines[3], vec![want], "{args:?}: connections open");
        }
        if charts == 3 {
            // Each step sent what it was asked: sent/s is drawn over target/s, dashed, and
            // the legend says so.
            assert!(dom.contains("sent/s (same as target/s)"), "{dom}");
        }
        // Every chart has hover values and its axes named.
        let charts_seen = dom.matches("<svg").count();
        assert!(
            dom.matches("class=\"hover\"").count() >= charts_seen * 2,
            "{dom}"
        );
        assert_eq!(
            dom.matches("class=\"axis\"").count(),
            charts_seen * 2,
            "{dom}"
        );
        drawn(&page, &dir.join("profile"));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A one-hour run's page (3,600 per-second rows, read back by `blast merge` from a report
/// whose seconds were multiplied) stays under 2 MB: each chart's hover bands are bounded, and
/// its lines are one point per second. (How fast Chromium renders it: bench/html_render.sh.)
#[test]
fn an_hour_long_run_makes_a_page_under_2_mb() {
    let server = common::builtin(Faults::default());
    let dir = scratch("html-hour");
    let json = dir.join("run.json");
    let url = format!("http://{}/predict", server.addr);
    let out = blast(&[
        "--rate",
        "200",
        "-d",
        "1",
        "-t",
        "1",
        "--json",
        json.to_str().unwrap(),
        &url,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let mut report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let row = report["per_second"][0].clone();
    let rows: Vec<serde_json::Value> = (0..3600)
        .map(|i| {
            let mut r = row.clone();
            r["second"] = i.into();
            r["p99_us"] = (1000.0 + f64::from(i % 97) * 13.7).into();
            r
        })
        .collect();
    report["per_second"] = rows.into();
    report["duration_s"] = 3600.0.into();
    let hour = dir.join("hour.json");
    std::fs::write(&hour, serde_json::to_vec(&report).unwrap()).unwrap();
    let page = dir.join("hour.html");
    let out = blast(&[
        "merge",
        hour.to_str().unwrap(),
        "--html",
        page.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let size = std::fs::metadata(&page).unwrap().len();
    assert!(size < 2 << 20, "{size} bytes");
    let dom = rendered(&page, &dir.join("profile"));
    let lines = points_per_line(&dom);
    assert_eq!(
        lines[0],
        vec![3600; 3],
        "sent/s, ok/s, failed/s: {:?}",
        lines[0]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_targets_table_sorts_by_a_column() {
    // Three targets of weights 1, 3 and 2: 100, 300 and 200 of 600 requests, exactly.
    let server = common::builtin(Faults::default());
    let dir = scratch("html-sort");
    let targets = dir.join("mix.jsonl");
    std::fs::write(
        &targets,
        "{\"name\": \"b-light\", \"path\": \"/predict\", \"weight\": 1}\n\
         {\"name\": \"c-heavy\", \"path\": \"/predict\", \"weight\": 3}\n\
         {\"name\": \"a-middle\", \"path\": \"/predict\", \"weight\": 2}\n",
    )
    .unwrap();
    let page = dir.join("report.html");
    let url = format!("http://{}/", server.addr);
    let out = blast(&[
        "--targets",
        targets.to_str().unwrap(),
        "-c",
        "2",
        "-t",
        "1",
        "-n",
        "600",
        "--html",
        page.to_str().unwrap(),
        &url,
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // The target names in the order the browser shows the targets table's rows.
    let order = |fragment: &str| -> Vec<String> {
        let dom = rendered_at(
            &format!("file://{}{fragment}", page.display()),
            &dir.join("profile"),
        );
        let table = Regex::new(r#"(?s)<table id="targets".*?</table>"#).unwrap();
        let table = table.find(&dom).expect("a targets table").as_str();
        let name = Regex::new(r"<tr><td>([a-z-]+)</td>").unwrap();
        name.captures_iter(table)
            .map(|c| c[1].to_string())
            .collect()
    };
    assert_eq!(
        order(""),
        ["b-light", "c-heavy", "a-middle"],
        "the mix's order"
    );
    // Numbers largest first, unless asked otherwise; text A to Z.
    assert_eq!(
        order("#sort=targets.requests"),
        ["c-heavy", "a-middle", "b-light"]
    );
    assert_eq!(
        order("#sort=targets.requests.asc"),
        ["b-light", "a-middle", "c-heavy"]
    );
    assert_eq!(
        order("#sort=targets.target"),
        ["a-middle", "b-light", "c-heavy"]
    );
    // The sorted column is marked for the reader (and for a screen reader).
    let dom = rendered_at(
        &format!("file://{}#sort=targets.req/s", page.display()),
        &dir.join("profile"),
    );
    assert!(
        dom.contains(r#"<th tabindex="0" aria-sort="descending">req/s</th>"#),
        "{dom}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

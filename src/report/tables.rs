//! The HTML page's tables (`--html`): the summary, the run's record and settings, each
//! target's numbers, the statuses, and the failures by reason with their samples. Real
//! `<table>`s, every text from the server, the command line or a file escaped.

use super::chart::escape;
use super::text::{failure_list, format_pct, pipelining};
use crate::results::numbers::Results;
use crate::results::summary::Summary;
use crate::units::format_micros;

/// Every table of a run's page, in the page's order.
pub fn all(s: &Summary) -> String {
    [summary(s), settings(s), targets(s), statuses(s), reasons(s)].concat()
}

/// A table with a heading, its header row (none for a table of pairs) and its body rows
/// (already escaped). A table with a header row sorts by a column when its header is
/// clicked (`html::SORT`): a cell's `data-v` is the number it sorts by.
fn table(class: &str, title: &str, head: &[&str], rows: &str) -> String {
    let head: String = head.iter().map(|h| format!("<th>{h}</th>")).collect();
    let (sortable, head) = match head.is_empty() {
        true => ("", head),
        false => (" sortable", format!("<thead><tr>{head}</tr></thead>\n")),
    };
    format!(
        "<h2>{title}</h2>\n<table id=\"{class}\" class=\"{class}{sortable}\">{head}<tbody>\n{rows}</tbody></table>\n"
    )
}

/// A cell that sorts by `value` and shows `text` (already escaped).
fn number(value: f64, text: &str) -> String {
    let value = match value.is_finite() {
        true => value.to_string(),
        false => "Infinity".into(),
    };
    format!("<td class=\"n\" data-v=\"{value}\">{text}</td>")
}

/// A row of two cells: a name, and its (escaped) value.
fn pair(name: &str, value: &str) -> String {
    format!("<tr><th>{name}</th><td>{value}</td></tr>\n")
}

/// The numbers a reader looks for first, and the objective's verdict.
fn summary(s: &Summary) -> String {
    let latency = |us: f64| match s.latency.count {
        0 => "-".to_string(),
        _ => format_micros(us),
    };
    let mut rows = [
        ("requests", s.requests.to_string()),
        (
            "success",
            format_pct(s.success_pct, s.successes, s.requests),
        ),
        (
            "throughput",
            format!("{:.1} req/s ({:.1} ok/s)", s.rps, s.success_rps),
        ),
        ("p50", latency(s.latency.p50)),
        ("p99", latency(s.latency.p99)),
        ("failures", failure_list(&s.errors)),
    ]
    .map(|(name, value)| pair(name, &escape(&value)))
    .concat();
    if let Some(slo) = &s.slo {
        let verdict = match &slo.missed {
            None => format!("{}: met", slo.objective),
            Some(why) => format!("{}: MISSED ({why})", slo.objective),
        };
        rows += &pair("objective", &escape(&verdict));
    }
    table("summary", "Summary", &[], &rows)
}

/// When and how the run was made (`run`), with the settings that decide its numbers.
fn settings(s: &Summary) -> String {
    let secs = |x: f64| format!("{x}s");
    let mut rows = vec![
        ("connections", s.connections.requested.to_string()),
        ("threads, driver", format!("{}, {}", s.threads, s.driver)),
        ("keep-alive", s.connections.keep_alive.to_string()),
        (
            "pipeline",
            pipelining(&s.connections).unwrap_or_else(|| "none (one request at a time)".into()),
        ),
        (
            "rate",
            (s.rate.as_ref()).map_or("closed loop".into(), |r| format!("{}/s", r.target)),
        ),
    ];
    if let Some(run) = &s.run {
        let set = &run.settings;
        let list = |items: &[String]| match items.is_empty() {
            true => "-".to_string(),
            false => items.join(", "),
        };
        rows.splice(
            0..0,
            [
                ("started", run.started.clone()),
                ("ended", run.ended.clone()),
                ("command", run.command.clone()),
                ("blast", run.version.clone()),
                (
                    "host",
                    format!(
                        "{} ({} CPUs, Linux {})",
                        run.host.name, run.host.cpus, run.host.kernel
                    ),
                ),
            ],
        );
        rows.extend([
            ("expect status", set.expect_status.clone()),
            ("expect JSON", list(&set.expect_json)),
            ("expect body", list(&set.expect_body)),
            ("timeout", secs(set.timeout_s)),
            ("connect timeout", secs(set.connect_timeout_s)),
            ("warm-up", secs(set.warmup_s)),
            ("drain, at most", secs(set.drain_max_s)),
            ("ramp", secs(set.ramp_s)),
            ("max body", format!("{} bytes", set.max_body_bytes)),
            (
                "requests (-n)",
                set.requests.map_or("-".into(), |n| n.to_string()),
            ),
        ]);
    }
    let rows: String = (rows.iter())
        .map(|(name, value)| pair(name, &format!("<code>{}</code>", escape(value))))
        .collect();
    table("settings", "Run and settings", &[], &rows)
}

/// `--targets`, `--flow`: a row per target.
fn targets(s: &Summary) -> String {
    if s.targets.is_empty() {
        return String::new();
    }
    let rows: String = (s.targets.iter())
        .map(|t| {
            let l = &t.latency;
            let us = |v: f64| {
                if l.count == 0 {
                    "-".into()
                } else {
                    format_micros(v)
                }
            };
            let text = |c: &str| format!("<td>{}</td>", escape(c));
            // A target that finished nothing sorts after every latency.
            let latency = |v: f64| number(if l.count == 0 { f64::INFINITY } else { v }, &us(v));
            let cells = [
                text(&t.target.name),
                text(&t.target.method),
                text(&t.target.path),
                number(t.requests as f64, &t.requests.to_string()),
                number(
                    t.success_pct,
                    &format_pct(t.success_pct, t.successes, t.requests),
                ),
                number(t.rps, &format!("{:.1}", t.rps)),
                latency(l.mean),
                latency(l.p50),
                latency(l.p90),
                latency(l.p95),
                latency(l.p99),
                latency(l.max),
                text(&failure_list(&t.errors)),
            ];
            format!("<tr>{}</tr>\n", cells.concat())
        })
        .collect();
    let head = [
        "target", "method", "path", "requests", "success", "req/s", "avg", "p50", "p90", "p95",
        "p99", "max", "failures",
    ];
    table("targets", "Targets", &head, &rows)
}

/// Responses by status.
fn statuses(s: &Summary) -> String {
    let rows: String = (s.status_codes.iter())
        .map(|(code, n)| {
            let n = number(*n as f64, &n.to_string());
            format!(
                "<tr>{}{n}</tr>\n",
                number(f64::from(*code), &code.to_string())
            )
        })
        .collect();
    match rows.is_empty() {
        true => rows,
        false => table("statuses", "Status codes", &["status", "responses"], &rows),
    }
}

/// The failures by reason (by target with a mix), each with its sample.
fn reasons(s: &Summary) -> String {
    let mut sets: Vec<(&str, &Results)> = (s.targets.iter())
        .map(|t| (t.target.name.as_str(), &t.results))
        .collect();
    if sets.is_empty() {
        sets.push(("", &s.results));
    }
    let mix = !s.targets.is_empty();
    let mut rows = String::new();
    for (target, results) in sets {
        for reason in &results.failure_reasons {
            let target = match mix {
                true => format!("<td>{}</td>", escape(target)),
                false => String::new(),
            };
            rows += &format!(
                "<tr>{target}<td>{}</td><td>{}</td>{}<td><code>{}</code></td></tr>\n",
                escape(&reason.category),
                escape(&reason.reason),
                number(reason.count as f64, &reason.count.to_string()),
                escape(&reason.sample),
            );
        }
    }
    if rows.is_empty() {
        return rows;
    }
    let mut head = vec![
        "category",
        "reason",
        "count",
        "sample (status line, start of the body)",
    ];
    if mix {
        head.insert(0, "target");
    }
    table("reasons", "Failures by reason", &head, &rows)
}

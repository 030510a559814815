//! `--metrics-listen`: the run's totals in Prometheus' text exposition format (version
//! 0.0.4), rendered when a scrape asks, from what the main thread already holds: the cores'
//! totals of their last second, the per-second rows, and their latencies merged.

use std::fmt::Write;

use hdrhistogram::Histogram;

use super::{Figures, Info};
use crate::results::stats::ErrorKind;
use crate::results::tally::Counts;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The latency histogram's bucket bounds, in seconds: from half a millisecond to ten
/// seconds, 1-2.5-5 per decade (Prometheus' own default buckets, one decade lower, since
/// load tests measure fast endpoints too).
pub const BUCKETS_S: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

pub fn render(info: &Info, f: &Figures) -> String {
    let mut out = String::with_capacity(4096);
    let _ = write(&mut out, info, f);
    out
}

fn write(out: &mut String, info: &Info, f: &Figures) -> std::fmt::Result {
    help(
        out,
        "blast_info",
        "gauge",
        "The run: blast's version, the URL and method (always 1).",
    )?;
    writeln!(
        out,
        "blast_info{{version=\"{}\",url=\"{}\",method=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION"),
        label(&info.url),
        label(&info.method)
    )?;
    help(
        out,
        "blast_running",
        "gauge",
        "1 while the run goes, 0 once its totals are final.",
    )?;
    writeln!(out, "blast_running {}", u8::from(f.running))?;
    let by_target = counts_by_target(info, f);
    help(
        out,
        "blast_requests_total",
        "counter",
        "Requests finished (answered, failed or timed out).",
    )?;
    for (target, counts) in &by_target {
        writeln!(out, "blast_requests_total{target} {}", counts.requests())?;
    }
    help(
        out,
        "blast_failures_total",
        "counter",
        "Failed requests, by category (docs/output.md).",
    )?;
    for (target, counts) in &by_target {
        for kind in ErrorKind::ALL {
            let labels = join(target, &format!("category=\"{}\"", kind.name()));
            writeln!(
                out,
                "blast_failures_total{labels} {}",
                counts.errors[kind as usize]
            )?;
        }
    }
    help(
        out,
        "blast_responses_total",
        "counter",
        "Complete responses, by status code (600: out of range).",
    )?;
    for (target, counts) in &by_target {
        for (status, n) in &counts.statuses {
            let labels = join(target, &format!("status=\"{status}\""));
            writeln!(out, "blast_responses_total{labels} {n}")?;
        }
    }
    help(
        out,
        "blast_sent_total",
        "counter",
        "Requests written (or attempted).",
    )?;
    writeln!(out, "blast_sent_total {}", f.tally.sent)?;
    help(
        out,
        "blast_in_flight_requests",
        "gauge",
        "Requests sent and not finished.",
    )?;
    writeln!(out, "blast_in_flight_requests {}", f.tally.in_flight)?;
    let last = f.rows.last();
    help(
        out,
        "blast_connections",
        "gauge",
        "Connections open at the end of the last second.",
    )?;
    writeln!(
        out,
        "blast_connections {}",
        last.and_then(|r| r.connections).unwrap_or(0)
    )?;
    if let Some(rate) = info.rate {
        help(
            out,
            "blast_target_rate",
            "gauge",
            "--rate: the requests per second asked for.",
        )?;
        writeln!(out, "blast_target_rate {rate}")?;
        help(
            out,
            "blast_send_lag_max_seconds",
            "gauge",
            "--rate: the latest send after its slot in the last second.",
        )?;
        let lag = last.and_then(|r| r.send_lag_max_us).unwrap_or(0.0);
        writeln!(out, "blast_send_lag_max_seconds {}", lag / 1e6)?;
    }
    latency(out, f.latency)
}

/// A target no core has counted yet.
static NONE: Counts = Counts {
    successes: 0,
    errors: [0; ErrorKind::ALL.len()],
    statuses: Vec::new(),
    reasons: Vec::new(),
};

/// `(labels, counts)` per target with `--targets`, otherwise the run's without a label.
fn counts_by_target<'a>(info: &Info, f: &'a Figures) -> Vec<(String, &'a Counts)> {
    if info.targets.is_empty() {
        return vec![(String::new(), &f.tally.run)];
    }
    (info.targets.iter().enumerate())
        .map(|(i, name)| {
            let counts = f.tally.targets.get(i).unwrap_or(&NONE);
            (format!("{{target=\"{}\"}}", label(name)), counts)
        })
        .collect()
}

/// The latency of the responses so far as a Prometheus histogram, its buckets counted to
/// the histogram's precision (1% while the run goes, 0.1% in the final totals).
fn latency(out: &mut String, hist: Option<&Histogram<u64>>) -> std::fmt::Result {
    let name = "blast_request_duration_seconds";
    help(
        out,
        name,
        "histogram",
        "Latency of complete responses (from the intended send with --rate).",
    )?;
    let count = hist.map_or(0, Histogram::len);
    for bound in BUCKETS_S {
        let below = hist.map_or(0, |h| h.count_between(0, (bound * 1e9) as u64));
        writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {}", below.min(count))?;
    }
    writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}")?;
    let sum_s = hist.map_or(0.0, |h| h.mean() * h.len() as f64 / 1e9);
    writeln!(out, "{name}_sum {sum_s}")?;
    writeln!(out, "{name}_count {count}")
}

fn help(out: &mut String, name: &str, kind: &str, text: &str) -> std::fmt::Result {
    writeln!(out, "# HELP {name} {text}\n# TYPE {name} {kind}")
}

/// `{a}` and `b="c"` as `{a,b="c"}`.
fn join(labels: &str, more: &str) -> String {
    match labels.strip_suffix('}') {
        Some(open) => format!("{open},{more}}}"),
        None => format!("{{{more}}}"),
    }
}

/// A label value: backslash, quote and newline escaped.
fn label(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::stats::Stats;
    use crate::results::tally::Tally;

    #[test]
    fn exposition_by_target_category_and_status() {
        let mut stats = Stats::default();
        let mut target = Stats::target();
        target.record(Some(200), None);
        target.record(Some(500), Some(ErrorKind::Status));
        stats.targets = vec![target, Stats::target()];
        let mut hist = crate::results::stats::new_histogram(3);
        hist.record(2_000_000).unwrap();
        hist.record(30_000_000).unwrap();
        let info = Info {
            url: "http://h/\"x\"".into(),
            method: "GET".into(),
            rate: Some(100.0),
            targets: vec!["a".into(), "b\\c".into()],
        };
        let figures = Figures {
            tally: Tally::of(&stats, 3),
            latency: Some(&hist),
            rows: &[],
            running: true,
        };
        let text = render(&info, &figures);
        for line in [
            "blast_info{version=\"",
            "url=\"http://h/\\\"x\\\"\",method=\"GET\"} 1",
            "blast_requests_total{target=\"a\"} 2",
            "blast_requests_total{target=\"b\\\\c\"} 0",
            "blast_failures_total{target=\"a\",category=\"status\"} 1",
            "blast_responses_total{target=\"a\",status=\"500\"} 1",
            "blast_in_flight_requests 3",
            "blast_target_rate 100",
            "blast_request_duration_seconds_bucket{le=\"0.001\"} 0",
            "blast_request_duration_seconds_bucket{le=\"0.0025\"} 1",
            "blast_request_duration_seconds_bucket{le=\"0.05\"} 2",
            "blast_request_duration_seconds_bucket{le=\"+Inf\"} 2",
            "blast_request_duration_seconds_count 2",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        assert!(
            text.contains("blast_request_duration_seconds_sum 0.032"),
            "{text}"
        );
    }
}

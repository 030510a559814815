//! `--locust-csv PREFIX`: the run in the four CSV files Locust 2.x writes with `--csv PREFIX`
//! (`_stats.csv`, `_failures.csv`, `_exceptions.csv`, `_stats_history.csv`), with its
//! columns, their order, its units (milliseconds) and its row names, so that scripts and
//! spreadsheets made for Locust's files read blast's unchanged. The headers are checked
//! against a real Locust run's in the tests; lines end in CRLF, as Python's csv module ends
//! them. docs/output.md says where a figure differs.

use std::io::{self, Write};

use crate::results::numbers::{Latency, Results};
use crate::results::summary::Summary;

const PERCENTILES: &str = "50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%";

/// Each file's name after the prefix, and its writer.
pub type Writer = fn(&mut dyn Write, &Summary) -> io::Result<()>;
pub const FILES: [(&str, Writer); 4] = [
    ("_stats.csv", write_stats),
    ("_failures.csv", write_failures),
    ("_exceptions.csv", write_exceptions),
    ("_stats_history.csv", write_history),
];

/// A row per target (one for a run of one request: its method and path), then
/// `Aggregated`.
pub fn write_stats(out: &mut dyn Write, s: &Summary) -> io::Result<()> {
    write!(
        out,
        "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,\
         Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,\
         {PERCENTILES}\r\n"
    )?;
    let size = s.bytes_read as f64 / s.requests.max(1) as f64;
    for (method, name, results) in rows(s) {
        write!(
            out,
            "{},{},{}\r\n",
            csv(method),
            csv(name),
            stats(results, size)
        )?;
    }
    write!(out, ",Aggregated,{}\r\n", stats(s, size))
}

/// The cells of a stats row from `Request Count` on.
fn stats(r: &Results, size: f64) -> String {
    let l = &r.latency;
    let per_s = |n: u64| {
        if r.requests == 0 {
            0.0
        } else {
            n as f64 * r.rps / r.requests as f64
        }
    };
    format!(
        "{},{},{},{},{},{},{},{},{},{}",
        r.requests,
        r.failures,
        rounded(l, l.p50),
        l.mean / 1e3,
        l.min / 1e3,
        l.max / 1e3,
        size,
        r.rps,
        per_s(r.failures),
        percentiles(l),
    )
}

/// The targets' rows: each target of a mix, or the run as its one request.
fn rows(s: &Summary) -> Vec<(&str, &str, &Results)> {
    if s.targets.is_empty() {
        return vec![(&s.destination.method, path(&s.destination.url), s)];
    }
    (s.targets.iter())
        .map(|t| (t.target.method.as_str(), t.target.name.as_str(), &t.results))
        .collect()
}

/// The path of a URL (Locust names a request by it).
fn path(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.find('/').map_or("/", |at| &rest[at..])
}

/// A failure row per target and reason: Locust's `Error` is the exception's text, blast's
/// the reason (`status 500`, `body: prediction is 2, expected 0|1`); failures under no
/// listed reason get a row per category. Locust's first and last times seen are left
/// empty: blast does not keep them.
pub fn write_failures(out: &mut dyn Write, s: &Summary) -> io::Result<()> {
    write!(
        out,
        "Method,Name,Error,Occurrences,First Seen,Last Seen\r\n"
    )?;
    for (method, name, results) in rows(s) {
        let mut row = |error: &str, count: u64| {
            write!(
                out,
                "{},{},{},{count},,\r\n",
                csv(method),
                csv(name),
                csv(error)
            )
        };
        for reason in &results.failure_reasons {
            row(&reason.reason, reason.count)?;
        }
        for (category, count) in results.unlisted_failures() {
            row(&format!("{category}: {}", meaning(category)), count)?;
        }
    }
    Ok(())
}

/// What a failure category means, in a few words (docs/output.md has the details).
fn meaning(category: &str) -> &'static str {
    match category {
        "connect" => "the connection could not be opened",
        "timeout" => "no complete response within --timeout",
        "read" => "the connection was reset or closed before the response was complete",
        "write" => "the request could not be written",
        "malformed" => "the response was not HTTP/1.x",
        "status" => "a status not expected",
        "body" => "the body failed --expect-json or --expect-body",
        "too_large" => "the body to check was over --max-body",
        "unsolicited" => "bytes came after a complete response",
        _ => "failed",
    }
}

/// Locust's file of Python exceptions raised in its users: blast runs none, so it has the
/// header only.
pub fn write_exceptions(out: &mut dyn Write, _: &Summary) -> io::Result<()> {
    write!(out, "Count,Message,Traceback,Nodes\r\n")
}

/// An `Aggregated` row per second of the window, stamped with its end on the wall clock:
/// the users (connections started by then), that second's rates and p50 and p99 (its other percentiles are
/// `N/A`: blast keeps two per second), and the totals so far (counts; the latency totals,
/// which need every response up to then, are the run's in its last row and `N/A` before).
pub fn write_history(out: &mut dyn Write, s: &Summary) -> io::Result<()> {
    write!(
        out,
        "Timestamp,User Count,Type,Name,Requests/s,Failures/s,{PERCENTILES},Total Request Count,\
         Total Failure Count,Total Median Response Time,Total Average Response Time,\
         Total Min Response Time,Total Max Response Time,Total Average Content Size\r\n"
    )?;
    let start = s.started_unix_s.unwrap_or_default();
    let (mut requests, mut failures) = (0, 0);
    let last = s.per_second.len().saturating_sub(1);
    for (i, row) in s.per_second.iter().enumerate() {
        requests += row.requests;
        failures += row.failures;
        let answered = row.requests > row.failures || row.p99_us > 0.0;
        let ms = |us: f64| match answered {
            true => rounded(&s.latency, us).to_string(),
            false => "N/A".into(),
        };
        let mut cells = vec!["N/A".to_string(); 11];
        (cells[0], cells[7]) = (ms(row.p50_us), ms(row.p99_us));
        let totals = match i == last {
            true => format!(
                "{},{},{},{},{}",
                rounded(&s.latency, s.latency.p50),
                s.latency.mean / 1e3,
                s.latency.min / 1e3,
                s.latency.max / 1e3,
                s.bytes_read as f64 / s.requests.max(1) as f64
            ),
            false => "N/A,N/A,N/A,N/A,N/A".into(),
        };
        write!(
            out,
            "{},{},,Aggregated,{:.6},{:.6},{},{requests},{failures},{totals}\r\n",
            (start + f64::from(row.second) + 1.0).floor() as u64,
            row.users.unwrap_or(s.connections.requested as u64),
            row.requests as f64,
            row.failures as f64,
            cells.join(","),
        )?;
    }
    Ok(())
}

/// The percentile columns, rounded as Locust rounds.
fn percentiles(l: &Latency) -> String {
    if l.table.is_empty() {
        return ["0"; 11].join(",");
    }
    let cells: Vec<String> = l
        .table
        .iter()
        .map(|&us| rounded(l, us).to_string())
        .collect();
    cells.join(",")
}

/// A latency in whole milliseconds as Locust keeps its response times: to the millisecond
/// under 100 ms, to 10 ms under 1 s, to 100 ms under 10 s, to the second above (0 without
/// responses).
fn rounded(l: &Latency, us: f64) -> u64 {
    if l.count == 0 {
        return 0;
    }
    let ms = us / 1e3;
    let step = match ms {
        m if m < 100.0 => 1.0,
        m if m < 1_000.0 => 10.0,
        m if m < 10_000.0 => 100.0,
        _ => 1_000.0,
    };
    ((ms / step).round() * step) as u64
}

/// A CSV field: quoted when it holds a comma, a quote or a line break.
fn csv(text: &str) -> String {
    match text.contains([',', '"', '\n', '\r']) {
        true => format!("\"{}\"", text.replace('"', "\"\"")),
        false => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_are_rounded_as_locust_keeps_them() {
        let l = Latency {
            count: 1,
            ..Latency::default()
        };
        let cases = [
            (1_400.0, 1),
            (99_400.0, 99),
            (123_000.0, 120),
            (1_260_000.0, 1_300),
            (12_600_000.0, 13_000),
        ];
        for (us, ms) in cases {
            assert_eq!(rounded(&l, us), ms, "{us}us");
        }
        assert_eq!(rounded(&Latency::default(), 5_000.0), 0);
    }

    #[test]
    fn a_name_with_a_comma_is_quoted_and_a_url_gives_its_path() {
        assert_eq!(csv("GET /a,b"), "\"GET /a,b\"");
        assert_eq!(csv("say \"hi\", you"), "\"say \"\"hi\"\", you\"");
        assert_eq!(path("http://127.0.0.1:8000/predict?x=1"), "/predict?x=1");
        assert_eq!(path("http://h"), "/");
    }
}

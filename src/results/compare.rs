//! `blast compare`: the JSON reports of runs made against different server setups (1 vs 4
//! workers, async vs sync) side by side. Each report's rows (a run, or each step of a sweep;
//! with a mix, each target too) are matched across the reports by what they ran: the
//! target's name and the target rate. The same load must have been offered to every setup,
//! or the differences would be the load's, not the server's: reports that ran another kind
//! of load (a sweep against a single run, an open loop against a closed one, another number
//! of connections or another rate) are refused, and so are reports with no row in common.

use crate::results::merge::read_reports;
use crate::results::numbers::Results;
use crate::results::summary::Summary;
use crate::results::usage::ServerUsage;

/// What each row shows, in the table's order.
pub const METRICS: [Metric; 8] = [
    Metric::new("done_per_s", "done/s", Shown::Rate),
    Metric::new("p50_us", "p50", Shown::Micros),
    Metric::new("mean_us", "avg", Shown::Micros),
    Metric::new("p95_us", "p95", Shown::Micros),
    Metric::new("p99_us", "p99", Shown::Micros),
    Metric::new("success_pct", "success", Shown::Percent),
    Metric::new("server_cpu_pct", "srv CPU%", Shown::Rate),
    Metric::new("server_rss_bytes", "srv mem", Shown::Bytes),
];
/// The index in `METRICS` of the first of the server's figures (`--server-pid`).
pub const SERVER: usize = 6;
pub const DONE: usize = 0;
pub const P99: usize = 4;
pub const SUCCESS: usize = 5;

/// One column of the comparison: its JSON key, its table heading, and how it is written.
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    pub key: &'static str,
    pub head: &'static str,
    pub shown: Shown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    Rate,
    Micros,
    Percent,
    Bytes,
}

impl Metric {
    const fn new(key: &'static str, head: &'static str, shown: Shown) -> Metric {
        Metric { key, head, shown }
    }
}

/// One row's figures, in `METRICS` order (`None`: not measured, as the server's without
/// `--server-pid`).
pub type Values = [Option<f64>; METRICS.len()];

/// One report compared.
pub struct Source {
    pub file: String,
    /// `[1]`, `[2]`, … and the file's name: how the tables and charts name it.
    pub label: String,
    /// A single run's summary, or a sweep's steps.
    pub steps: Vec<Summary>,
    pub sweep: bool,
}

/// What a row ran: a target (`None`: every request of the run or step) at a target rate
/// (`None`: a closed loop).
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub target: Option<String>,
    pub rate: Option<f64>,
}

impl Key {
    /// The row's title: `GET /api/items at 1000.0/s`, `all requests`.
    pub fn title(&self) -> String {
        let what = self.target.as_deref().unwrap_or("all requests");
        match self.rate {
            Some(rate) => format!("{what} at {rate:.1}/s"),
            None => what.to_string(),
        }
    }
}

pub struct Row {
    pub key: Key,
    /// By report, in the order given; `None` where a report has no such row.
    pub values: Vec<Option<Values>>,
}

pub struct Comparison {
    pub sources: Vec<Source>,
    pub rows: Vec<Row>,
}

impl Comparison {
    /// Whether any report sampled its server (`--server-pid`).
    pub fn has_server(&self) -> bool {
        let mut values = self.rows.iter().flat_map(|r| r.values.iter().flatten());
        values.any(|v| v[SERVER].is_some())
    }
}

/// `value / base`, where both are known and the base is not zero.
pub fn ratio(value: Option<f64>, base: Option<f64>) -> Option<f64> {
    match (value, base) {
        (Some(v), Some(b)) if b != 0.0 => Some(v / b),
        _ => None,
    }
}

/// Reads the reports at `paths` and matches their rows. `Err`: one line naming the file that
/// cannot be compared and why.
pub fn compare(paths: &[String]) -> Result<Comparison, String> {
    if paths.len() < 2 {
        return Err("compare needs two or more JSON reports".into());
    }
    let mut sources = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let (steps, sweep) = read_reports(path, "compare")?;
        let name = std::path::Path::new(path).file_name();
        let name = name.map_or(path.clone(), |n| n.to_string_lossy().into_owned());
        sources.push(Source {
            file: path.clone(),
            label: format!("[{}] {name}", i + 1),
            steps,
            sweep,
        });
    }
    for source in &sources[1..] {
        same_load(&sources[0], source)?;
    }
    let rows = match_rows(&sources);
    if let Some(alone) = (0..sources.len()).find(|&i| !shares_a_row(&rows, i)) {
        return Err(format!(
            "'{}' has no run in common with the other reports (rows are matched by target \
             name and target rate): compare runs of the same targets at the same rates",
            sources[alone].file
        ));
    }
    Ok(Comparison { sources, rows })
}

/// Refuses a report whose load differs from the first's in kind, connections (and their
/// pipeline depth) or rate.
fn same_load(first: &Source, other: &Source) -> Result<(), String> {
    let refuse = |why: String| {
        Err(format!(
            "'{}' {why}: compare runs under the same load",
            other.file
        ))
    };
    if first.sweep != other.sweep {
        let kind = |s: &Source| if s.sweep { "a sweep" } else { "a single run" };
        return refuse(format!(
            "is {}, '{}' {}",
            kind(other),
            first.file,
            kind(first)
        ));
    }
    let (a, b) = (&first.steps[0], &other.steps[0]);
    match (a.rate.as_ref(), b.rate.as_ref()) {
        (None, Some(_)) | (Some(_), None) => {
            let kind = |s: &Summary| match s.rate {
                Some(_) => "an open loop (--rate: latency from the intended send)",
                None => "a closed loop",
            };
            refuse(format!("is {}, '{}' {}", kind(b), first.file, kind(a)))
        }
        (Some(x), Some(y)) if !first.sweep && x.target != y.target => refuse(format!(
            "ran at {:.1}/s, '{}' at {:.1}/s",
            y.target, first.file, x.target
        )),
        // A closed loop's load is its connections, times the depth each keeps out.
        (None, None) if closed_load(a) != closed_load(b) => refuse(format!(
            "ran {}, '{}' {}",
            describe_load(b),
            first.file,
            describe_load(a)
        )),
        _ => Ok(()),
    }
}

/// A closed loop's load: its connections and `--pipeline` depth.
fn closed_load(s: &Summary) -> (usize, u32) {
    (s.connections.requested, s.connections.pipeline)
}

fn describe_load(s: &Summary) -> String {
    match s.connections.pipeline {
        1 => format!("{} connections", s.connections.requested),
        depth => format!(
            "{} connections pipelined {depth} deep",
            s.connections.requested
        ),
    }
}

/// Every row of every report, matched by key, in the order they first appear.
fn match_rows(sources: &[Source]) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    for (i, source) in sources.iter().enumerate() {
        for (key, values) in source.steps.iter().flat_map(rows_of) {
            let at = match rows.iter().position(|r| r.key == key) {
                Some(at) => at,
                None => {
                    rows.push(Row {
                        key,
                        values: vec![None; sources.len()],
                    });
                    rows.len() - 1
                }
            };
            rows[at].values[i] = Some(values);
        }
    }
    rows
}

/// Whether source `i` has a value in a row where another source has one too.
fn shares_a_row(rows: &[Row], i: usize) -> bool {
    let others = |r: &Row| (r.values.iter().enumerate()).any(|(j, v)| j != i && v.is_some());
    rows.iter().any(|r| r.values[i].is_some() && others(r))
}

/// A run's or step's rows: its own (named by its target when it ran one alone), and with a
/// mix of several targets, one per target.
fn rows_of(step: &Summary) -> Vec<(Key, Values)> {
    let rate = step.rate.as_ref().map(|r| r.target);
    let key = |target: Option<&str>| Key {
        target: target.map(str::to_string),
        rate,
    };
    let server = step.server.as_ref();
    match step.targets.as_slice() {
        [one] => vec![(key(Some(&one.target.name)), values(step, server))],
        targets => {
            let mut rows = vec![(key(None), values(step, server))];
            for t in targets {
                rows.push((key(Some(&t.target.name)), values(t, None)));
            }
            rows
        }
    }
}

fn values(results: &Results, server: Option<&ServerUsage>) -> Values {
    [
        Some(results.rps),
        Some(results.latency.p50),
        Some(results.latency.mean),
        Some(results.latency.p95),
        Some(results.latency.p99),
        Some(results.success_pct),
        server.map(|u| u.cpu_avg_pct),
        server.map(|u| u.rss_max_bytes as f64),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ratio_needs_both_values_and_a_base_other_than_zero() {
        assert_eq!(ratio(Some(3.0), Some(2.0)), Some(1.5));
        assert_eq!(ratio(Some(3.0), Some(0.0)), None);
        assert_eq!(ratio(None, Some(2.0)), None);
        assert_eq!(ratio(Some(1.0), None), None);
    }

    #[test]
    fn a_row_is_titled_by_its_target_and_rate() {
        let key = |target: Option<&str>, rate| Key {
            target: target.map(str::to_string),
            rate,
        };
        assert_eq!(
            key(Some("GET /a"), Some(1000.0)).title(),
            "GET /a at 1000.0/s"
        );
        assert_eq!(key(None, None).title(), "all requests");
    }
}

//! `blast merge`: one report from the JSON reports of runs made at the same time against the
//! same target (several client machines, or several blast processes). Each report is read
//! back into the `Stats` it was summarized from (its counters, and its histograms decoded
//! from the JSON), the `Stats` are merged as the cores' are after a run, and the merged run is
//! summarized like any other. Everything is exact except the per-second percentiles, whose
//! histograms the JSON does not keep: a merged second shows the highest of its runs' values.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde_json::Value;

use crate::engine::RunOutcome;
use crate::plan::Route;
use crate::report::{RunInfo, Summary, decode_histogram};
use crate::series::SecondRow;
use crate::slo::Slo;
use crate::stats::{
    CONNECT_SIGFIG, ErrorKind, LATENCY_SIGFIG, SEND_LAG_SIGFIG, Stats, growing_histogram,
    new_histogram,
};
use crate::tls::Negotiated;

/// One report read back.
struct Part {
    info: RunInfo,
    outcome: RunOutcome,
}

/// Reads and merges the reports at `paths` (one path re-renders its report), judged against
/// `slo` if given, otherwise against the objective the runs were judged against, if they all
/// had the same. `Err` names the file and what is wrong with it.
pub fn merge(paths: &[String], slo: Option<Slo>) -> Result<Summary, String> {
    let mut parts = paths.iter().map(|path| read(path));
    let Some(first) = parts.next() else {
        return Err("merge needs at least one JSON report".into());
    };
    let Part {
        mut info,
        mut outcome,
    } = first?;
    for (path, part) in paths[1..].iter().zip(parts) {
        let part = part?;
        if (&part.info.url, &part.info.method) != (&info.url, &info.method) {
            return Err(format!(
                "'{path}' is a run of {} {}, not of {} {}: merge runs against one target",
                part.info.method, part.info.url, info.method, info.url
            ));
        }
        if part.info.routes != info.routes {
            return Err(format!(
                "'{path}' is a run of another --targets mix (its target names, methods, paths \
                 or weights differ): merge runs of one mix"
            ));
        }
        if part.info.unix_socket != info.unix_socket {
            return Err(format!(
                "'{path}' went to {}, not to {}: merge runs against one target",
                socket_or_host(&part.info),
                socket_or_host(&info)
            ));
        }
        info.rate = match (info.rate, part.info.rate) {
            (None, None) => None,
            (Some(a), Some(b)) => Some(a + b),
            _ => {
                return Err(format!(
                    "'{path}' mixes a closed-loop run and a --rate run: merge runs of one kind"
                ));
            }
        };
        if part.outcome.stats.first_byte.is_some() != outcome.stats.first_byte.is_some() {
            return Err(format!(
                "'{path}' mixes runs with and without --first-byte: merge runs of one kind"
            ));
        }
        if part.info.keep_alive != info.keep_alive {
            return Err(format!(
                "'{path}' mixes runs with and without keep-alive: merge runs of one kind"
            ));
        }
        info.connections += part.info.connections;
        if info.tls != part.info.tls {
            info.tls = None;
        }
        if info.slo != part.info.slo {
            info.slo = None;
        }
        add_outcome(&mut outcome, part.outcome);
    }
    if let Some(slo) = &slo {
        let names: Vec<&str> = info.routes.iter().map(|r| r.name.as_str()).collect();
        if let Some(name) = slo.unknown_target(&names) {
            return Err(format!(
                "--slo names target '{name}', which the reports do not have (their targets: {})",
                if names.is_empty() {
                    "none, not a --targets mix".to_string()
                } else {
                    names.join(", ")
                }
            ));
        }
    }
    info.slo = slo.or(info.slo);
    Ok(Summary::of(info, outcome))
}

fn socket_or_host(info: &RunInfo) -> String {
    match &info.unix_socket {
        Some(socket) => format!("the socket {socket}"),
        None => "the URL's host".into(),
    }
}

/// Adds a run made at the same time into `into`: counts add up, the window is the longest.
fn add_outcome(into: &mut RunOutcome, from: RunOutcome) {
    into.stats.merge(&from.stats);
    let mut seconds: BTreeMap<u32, SecondRow> = std::mem::take(&mut into.seconds)
        .into_iter()
        .map(|row| (row.second, row))
        .collect();
    for row in from.seconds {
        let r = seconds.entry(row.second).or_insert_with(|| SecondRow {
            second: row.second,
            ..SecondRow::default()
        });
        r.sent += row.sent;
        r.requests += row.requests;
        r.failures += row.failures;
        r.p50_us = r.p50_us.max(row.p50_us);
        r.p99_us = r.p99_us.max(row.p99_us);
        r.first_byte_p50_us = r.first_byte_p50_us.max(row.first_byte_p50_us);
        r.first_byte_p99_us = r.first_byte_p99_us.max(row.first_byte_p99_us);
    }
    into.seconds = seconds.into_values().collect();
    if into.driver != from.driver {
        into.driver = "mixed";
    }
    into.threads += from.threads;
    into.elapsed = into.elapsed.max(from.elapsed);
    into.drain = into.drain.max(from.drain);
    into.interrupted |= from.interrupted;
}

fn read(path: &str) -> Result<Part, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read '{path}': {e}"))?;
    let value: Value = serde_json::from_str(&text)
        .map_err(|e| format!("'{path}' is not JSON ({e}): merge reads blast's --json reports"))?;
    if value.get("steps").is_some() {
        return Err(format!(
            "'{path}' is a sweep (--rates or --find-max): merge reads reports of single runs"
        ));
    }
    part(&Report {
        path,
        value: &value,
    })
}

/// A report being read, with the file it came from for error messages.
struct Report<'a> {
    path: &'a str,
    value: &'a Value,
}

impl Report<'_> {
    fn get(&self, pointer: &str) -> Result<&Value, String> {
        self.value
            .pointer(pointer)
            .ok_or_else(|| self.missing(pointer))
    }

    fn missing(&self, pointer: &str) -> String {
        format!(
            "'{}' is not a blast JSON report: '{}' is missing or invalid",
            self.path,
            pointer.trim_start_matches('/').replace('/', ".")
        )
    }

    fn count(&self, pointer: &str) -> Result<u64, String> {
        self.get(pointer)?
            .as_u64()
            .ok_or_else(|| self.missing(pointer))
    }

    fn number(&self, pointer: &str) -> Result<f64, String> {
        self.get(pointer)?
            .as_f64()
            .filter(|n| *n >= 0.0)
            .ok_or_else(|| self.missing(pointer))
    }

    /// A number that only some reports carry (null or absent in the others): 0 there.
    fn number_or_zero(&self, pointer: &str) -> Result<f64, String> {
        match self.value.pointer(pointer) {
            None | Some(Value::Null) => Ok(0.0),
            Some(_) => self.number(pointer),
        }
    }

    /// A count that reports from before it do not carry: 0 there.
    fn count_or_zero(&self, pointer: &str) -> Result<u64, String> {
        match self.value.pointer(pointer) {
            None => Ok(0),
            Some(_) => self.count(pointer),
        }
    }

    /// A flag that reports from before it do not carry: false there.
    fn flag_or_false(&self, pointer: &str) -> Result<bool, String> {
        match self.value.pointer(pointer) {
            None => Ok(false),
            Some(value) => value.as_bool().ok_or_else(|| self.missing(pointer)),
        }
    }

    fn text(&self, pointer: &str) -> Result<&str, String> {
        self.get(pointer)?
            .as_str()
            .ok_or_else(|| self.missing(pointer))
    }

    /// A histogram written by the report, re-added into one with the run's bounds (a
    /// histogram from elsewhere could have others, and merging would then fail).
    fn histogram(&self, pointer: &str, sigfig: u8) -> Result<Histogram<u64>, String> {
        self.histogram_into(pointer, new_histogram(sigfig))
    }

    /// A histogram the report may lack: `None` when it is null or missing (a run without
    /// `--first-byte`, or a report from before it).
    fn optional_histogram(
        &self,
        pointer: &str,
        hist: Histogram<u64>,
    ) -> Result<Option<Histogram<u64>>, String> {
        match self.value.pointer(pointer) {
            None | Some(Value::Null) => Ok(None),
            Some(_) => self.histogram_into(pointer, hist).map(Some),
        }
    }

    /// A histogram written by the report, added into `hist`.
    fn histogram_into(
        &self,
        pointer: &str,
        mut hist: Histogram<u64>,
    ) -> Result<Histogram<u64>, String> {
        decode_histogram(self.text(pointer)?)
            .ok()
            .and_then(|decoded| hist.add(&decoded).ok())
            .ok_or_else(|| self.missing(pointer))?;
        Ok(hist)
    }
}

fn part(r: &Report) -> Result<Part, String> {
    let seconds = seconds(r)?;
    let mut stats = Stats::default();
    let target = if r.get("/rate")?.is_null() {
        // A closed-loop report counts its sends per second only.
        stats.sent = seconds.iter().map(|s| s.sent).sum();
        None
    } else {
        stats.uncorrected = Some(r.histogram("/histogram/uncorrected_data", LATENCY_SIGFIG)?);
        stats.send_lag = Some(r.histogram("/histogram/send_lag_data", SEND_LAG_SIGFIG)?);
        stats.sent = r.count("/rate/sent")?;
        stats.late = r.count("/rate/late")?;
        stats.peak_connections = r.count("/rate/connections_used")?;
        stats.capped = u64::from(r.flag_or_false("/rate/connection_limited")?);
        Some(r.number("/rate/target")?)
    };
    stats.latency = r.histogram("/histogram/data", LATENCY_SIGFIG)?;
    stats.connect = r.histogram("/histogram/connect_data", CONNECT_SIGFIG)?;
    stats.first_byte =
        r.optional_histogram("/histogram/first_byte_data", new_histogram(LATENCY_SIGFIG))?;
    outcomes(r, "", &mut stats)?;
    let (routes, route_stats) = targets(r)?;
    stats.routes = route_stats;
    stats.bytes_read = r.count("/bytes_read")?;
    stats.bytes_written = r.count("/bytes_written")?;
    stats.established = r.count("/connections/established")?;
    stats.reconnects = r.count("/connections/reconnects")?;
    stats.added = r.count_or_zero("/connections/added")?;
    stats.no_local_port = r.count("/connections/no_local_port")?;
    // Null when no connect failed, absent in reports from before it.
    stats.connect_cause = r
        .text("/connect_error")
        .ok()
        .and_then(crate::connect::Cause::described);
    stats.tls_answers = r.count_or_zero("/tls_answers")?;
    stats.in_flight = r.count("/in_flight")?;
    let outcome = RunOutcome {
        stats,
        seconds,
        driver: match r.text("/driver")? {
            "io_uring" => "io_uring",
            "epoll" => "epoll",
            "mixed" => "mixed",
            _ => return Err(r.missing("/driver")),
        },
        threads: r.count("/threads")? as usize,
        elapsed: Duration::try_from_secs_f64(r.number("/duration_s")?)
            .map_err(|_| r.missing("/duration_s"))?,
        // Reports from before the drain have none.
        drain: Duration::try_from_secs_f64(r.number_or_zero("/drain_s")?)
            .map_err(|_| r.missing("/drain_s"))?,
        interrupted: r
            .get("/interrupted")?
            .as_bool()
            .ok_or_else(|| r.missing("/interrupted"))?,
    };
    let slo = match r.get("/slo")? {
        Value::Null => None,
        _ => Some(Slo::parse(r.text("/slo/objective")?).map_err(|_| r.missing("/slo/objective"))?),
    };
    let info = RunInfo {
        url: r.text("/url")?.to_string(),
        unix_socket: match r.get("/unix_socket")? {
            Value::Null => None,
            _ => Some(r.text("/unix_socket")?.to_string()),
        },
        tls: match r.get("/tls") {
            Ok(Value::Object(_)) => Some(Negotiated {
                version: r.text("/tls/version")?.to_string(),
                cipher: r.text("/tls/cipher")?.to_string(),
            }),
            // Null, or a report from before blast spoke https.
            _ => None,
        },
        method: r.text("/method")?.to_string(),
        connections: r.count("/connections/requested")? as usize,
        keep_alive: r
            .get("/connections/keep_alive")?
            .as_bool()
            .ok_or_else(|| r.missing("/connections/keep_alive"))?,
        rate: target,
        slo,
        routes,
    };
    Ok(Part { info, outcome })
}

/// The counts of outcomes under `at` (the report's top level, or one of its targets).
fn outcomes(r: &Report, at: &str, stats: &mut Stats) -> Result<(), String> {
    stats.over_range = r.count(&format!("{at}/latency_us/over_range"))?;
    stats.successes = r.count(&format!("{at}/successes"))?;
    for kind in ErrorKind::ALL {
        let pointer = format!("{at}/errors/{}", kind.name());
        stats.errors[kind as usize] = match kind {
            // Reports from before the category have none.
            ErrorKind::Unsolicited => r.count_or_zero(&pointer)?,
            _ => r.count(&pointer)?,
        };
    }
    let pointer = format!("{at}/status_codes");
    let codes = r.get(&pointer)?.as_object();
    for (code, n) in codes.ok_or_else(|| r.missing(&pointer))? {
        let bad = || r.missing(&format!("{pointer}/{code}"));
        stats.add_status(
            code.parse().map_err(|_| bad())?,
            n.as_u64().ok_or_else(bad)?,
        );
    }
    Ok(())
}

/// `--targets`: each target's name and counts (none in a report of a single request, or
/// one from before blast took a mix).
fn targets(r: &Report) -> Result<(Vec<Route>, Vec<Stats>), String> {
    let Ok(Value::Array(list)) = r.get("/targets") else {
        return Ok((Vec::new(), Vec::new()));
    };
    (0..list.len())
        .map(|i| {
            let at = format!("/targets/{i}");
            let route = Route {
                name: r.text(&format!("{at}/name"))?.to_string(),
                method: r.text(&format!("{at}/method"))?.to_string(),
                path: r.text(&format!("{at}/path"))?.to_string(),
                weight: r.count(&format!("{at}/weight"))?,
            };
            let mut stats = Stats::route();
            stats.latency = r.histogram_into(&format!("{at}/histogram"), growing_histogram())?;
            let first_byte = format!("{at}/first_byte_histogram");
            stats.first_byte = r.optional_histogram(&first_byte, growing_histogram())?;
            outcomes(r, &at, &mut stats)?;
            Ok((route, stats))
        })
        .collect::<Result<Vec<_>, String>>()
        .map(|pairs| pairs.into_iter().unzip())
}

fn seconds(r: &Report) -> Result<Vec<SecondRow>, String> {
    let rows = r.get("/per_second")?.as_array();
    let rows = rows.ok_or_else(|| r.missing("/per_second"))?;
    (0..rows.len())
        .map(|i| {
            let at = |key: &str| format!("/per_second/{i}/{key}");
            Ok(SecondRow {
                second: u32::try_from(r.count(&at("second"))?)
                    .map_err(|_| r.missing(&at("second")))?,
                sent: r.count(&at("sent"))?,
                requests: r.count(&at("requests"))?,
                failures: r.count(&at("failures"))?,
                p50_us: r.number(&at("p50_us"))?,
                p99_us: r.number(&at("p99_us"))?,
                first_byte_p50_us: r.number_or_zero(&at("first_byte_p50_us"))?,
                first_byte_p99_us: r.number_or_zero(&at("first_byte_p99_us"))?,
            })
        })
        .collect()
}

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

use crate::results::numbers::Results;
use crate::results::record::RunRecord;
use crate::results::series::SecondRow;
use crate::results::slo::Slo;
use crate::results::stats::{
    CONNECT_SIGFIG, LATENCY_SIGFIG, SEND_LAG_SIGFIG, Stats, growing_histogram, new_histogram,
};
use crate::results::summary::{
    Destination, Merged, MergedRun, RunInfo, RunOutcome, Summary, Target, TargetSummary,
    ThinkSummary, decode_histogram,
};
use crate::units::format_rfc3339;

/// One report read back.
struct Part {
    info: RunInfo,
    outcome: RunOutcome,
    /// The run's record: kept when one report is re-rendered (a merge of several is no one
    /// run, and has none).
    run: Option<RunRecord>,
}

/// Reads and merges the reports at `paths` (one path re-renders its report), judged against
/// `slo` if given, otherwise against the objective the runs were judged against, if they all
/// had the same. `Err` names the file and what is wrong with it.
///
/// Several runs must overlap in time (`allow_skew`: merged however far apart, and a report
/// without its start too); each run's seconds are put in the wall-clock seconds of the
/// earliest start.
pub fn merge(paths: &[String], slo: Option<Slo>, allow_skew: bool) -> Result<Summary, String> {
    let mut parts = paths
        .iter()
        .map(|path| read(path))
        .collect::<Result<Vec<_>, _>>()?;
    if parts.is_empty() {
        return Err("merge needs at least one JSON report".into());
    }
    for (path, part) in paths[1..].iter().zip(&parts[1..]) {
        same_kind(path, &parts[0], part)?;
    }
    let merged = if parts.len() > 1 {
        let listed = list(paths, &parts)?;
        Some(Merged {
            runs: parts.len(),
            start_skew_ms: align(paths, &mut parts, allow_skew)?,
            parts: listed,
        })
    } else {
        None
    };
    let mut parts = parts.into_iter();
    let Some(Part {
        mut info,
        mut outcome,
        run,
    }) = parts.next()
    else {
        unreachable!("one part at least");
    };
    let run = run.filter(|_| paths.len() == 1);
    for part in parts {
        info.rate = info.rate.zip(part.info.rate).map(|(a, b)| a + b);
        info.connections += part.info.connections;
        if info.destination.tls != part.info.destination.tls {
            info.destination.tls = None;
        }
        if info.slo != part.info.slo {
            info.slo = None;
        }
        add_outcome(&mut outcome, part.outcome);
    }
    if let Some(slo) = &slo {
        let names: Vec<&str> = info.targets.iter().map(|r| r.name.as_str()).collect();
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
    let mut summary = Summary::of(info, outcome);
    summary.run = run;
    summary.merged = merged;
    Ok(summary)
}

/// Whether the run at `path` can be merged with the first: the same target (URL, method,
/// socket, mix), the same kind of load (closed loop or `--rate`, keep-alive, `--first-byte`).
fn same_kind(path: &str, first: &Part, part: &Part) -> Result<(), String> {
    let (theirs, ours) = (&part.info.destination, &first.info.destination);
    if (&theirs.url, &theirs.method) != (&ours.url, &ours.method) {
        return Err(format!(
            "'{path}' is a run of {} {}, not of {} {}: merge runs against one target",
            theirs.method, theirs.url, ours.method, ours.url
        ));
    }
    if part.info.targets != first.info.targets {
        return Err(format!(
            "'{path}' is a run of another --targets mix (its target names, methods, paths \
             or weights differ): merge runs of one mix"
        ));
    }
    if theirs.unix_socket != ours.unix_socket {
        return Err(format!(
            "'{path}' went to {}, not to {}: merge runs against one target",
            socket_or_host(theirs),
            socket_or_host(ours)
        ));
    }
    let kind = |p: &Part| {
        (
            p.info.rate.is_some(),
            p.outcome.stats.first_byte.is_some(),
            p.info.keep_alive,
            p.info.pipeline,
        )
    };
    let (mine, others) = (kind(part), kind(first));
    let mixes = if mine.0 != others.0 {
        "a closed-loop run and a --rate run"
    } else if mine.1 != others.1 {
        "runs with and without --first-byte"
    } else if mine.2 != others.2 {
        "runs with and without keep-alive"
    } else if mine.3 != others.3 {
        "runs of different --pipeline depths"
    } else {
        return Ok(());
    };
    Err(format!("'{path}' mixes {mixes}: merge runs of one kind"))
}

/// The runs being merged, as the merged report lists them; the same report given twice (or
/// copied) is refused, as it would count its requests twice.
fn list(paths: &[String], parts: &[Part]) -> Result<Vec<MergedRun>, String> {
    let first = (parts.iter())
        .filter_map(|p| p.outcome.started_unix_s)
        .fold(f64::INFINITY, f64::min);
    let listed: Vec<MergedRun> = (paths.iter().zip(parts))
        .map(|(path, part)| {
            let started = part.outcome.started_unix_s;
            let stats = &part.outcome.stats;
            MergedRun {
                instance: instance_name(path, part),
                file: path.clone(),
                started: started.map(format_rfc3339),
                start_offset_ms: started.map(|s| (s - first) * 1e3),
                duration_s: part.outcome.elapsed.as_secs_f64(),
                requests: stats.requests(),
                failures: stats.failures(),
            }
        })
        .collect();
    // One run read twice: the same name, start and counts, to the byte.
    let key = |i: usize| {
        let (run, stats) = (&listed[i], &parts[i].outcome.stats);
        (
            run.instance.clone(),
            run.started.clone(),
            stats.requests(),
            stats.bytes_read,
            stats.bytes_written,
        )
    };
    for later in 1..listed.len() {
        if let Some(earlier) = (0..later).find(|&i| key(i) == key(later)) {
            return Err(format!(
                "'{}' is the same run as '{}' ({}, begun at {}): merging it twice would count \
                 its requests twice",
                paths[later],
                paths[earlier],
                listed[later].instance,
                listed[later]
                    .started
                    .as_deref()
                    .unwrap_or("an unknown time")
            ));
        }
    }
    Ok(listed)
}

/// What the merged report calls a run: its `--instance`, else (an older report) its host's
/// name, else its file's.
fn instance_name(path: &str, part: &Part) -> String {
    let named = |name: &str| (!name.is_empty()).then(|| name.to_string());
    (part.run.as_ref())
        .and_then(|run| named(&run.instance).or_else(|| named(&run.host.name)))
        .unwrap_or_else(|| path.to_string())
}

/// Puts each run's seconds in the wall-clock seconds of the earliest start, after checking
/// that the runs overlap; returns how far apart they began, in milliseconds. A report
/// without its start (older blast) is refused, unless `allow_skew` merges it by second index
/// (`None`: no skew to tell).
fn align(paths: &[String], parts: &mut [Part], allow_skew: bool) -> Result<Option<f64>, String> {
    let starts: Option<Vec<f64>> = parts.iter().map(|p| p.outcome.started_unix_s).collect();
    let Some(starts) = starts else {
        let i = (parts
            .iter()
            .position(|p| p.outcome.started_unix_s.is_none()))
        .unwrap_or(0);
        if !allow_skew {
            return Err(format!(
                "'{}' does not say when its run began (a report from an older blast): merge \
                 cannot line its seconds up with the others' (--allow-skew merges by second \
                 index)",
                paths[i]
            ));
        }
        return Ok(None);
    };
    let windows: Vec<(f64, f64)> = (parts.iter().zip(starts))
        .map(|(p, start)| (start, start + p.outcome.elapsed.as_secs_f64()))
        .collect();
    let first = windows.iter().map(|w| w.0).fold(f64::INFINITY, f64::min);
    let last = windows
        .iter()
        .map(|w| w.0)
        .fold(f64::NEG_INFINITY, f64::max);
    let earliest_end = windows.iter().map(|w| w.1).fold(f64::INFINITY, f64::min);
    if last >= earliest_end && !allow_skew {
        let later = windows.iter().position(|w| w.0 == last).unwrap_or(0);
        let ended = windows
            .iter()
            .position(|w| w.1 == earliest_end)
            .unwrap_or(0);
        return Err(format!(
            "'{}' began at {}, after '{}' had ended at {}: the runs do not overlap (merge \
             runs made at the same time; --allow-skew merges them anyway)",
            paths[later],
            format_rfc3339(last),
            paths[ended],
            format_rfc3339(earliest_end)
        ));
    }
    for (part, (start, _)) in parts.iter_mut().zip(&windows) {
        let offset = (start - first).round() as u32;
        part.outcome
            .seconds
            .iter_mut()
            .for_each(|r| r.second += offset);
    }
    Ok(Some((last - first) * 1e3))
}

fn socket_or_host(destination: &Destination) -> String {
    match &destination.unix_socket {
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
        r.add(&row);
    }
    into.seconds = seconds.into_values().collect();
    into.server = match (into.server.take(), from.server) {
        (Some(mut ours), Some(theirs)) => {
            ours.add(&theirs);
            Some(ours)
        }
        (ours, theirs) => ours.or(theirs),
    };
    into.client = match (into.client.take(), from.client) {
        (Some(mut ours), Some(theirs)) => {
            ours.add(&theirs);
            Some(ours)
        }
        (ours, theirs) => ours.or(theirs),
    };
    if into.driver != from.driver {
        into.driver = "mixed";
    }
    into.threads += from.threads;
    into.elapsed = into.elapsed.max(from.elapsed);
    into.drain = into.drain.max(from.drain);
    into.interrupted |= from.interrupted;
    // The earliest window start: the merged window began with the first run.
    into.started_unix_s = match (into.started_unix_s, from.started_unix_s) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
}

fn read(path: &str) -> Result<Part, String> {
    let (mut reports, sweep) = read_reports(path, "merge")?;
    if sweep {
        return Err(format!(
            "'{path}' is a sweep (--rates or --find-max): merge reads reports of single runs"
        ));
    }
    part(path, reports.remove(0))
}

/// Reads a `--json` report for `command`: a single run's (one summary), or a sweep's steps
/// (`true`).
pub fn read_reports(path: &str, command: &str) -> Result<(Vec<Summary>, bool), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read '{path}': {e}"))?;
    let value: Value = serde_json::from_str(&text).map_err(|e| {
        format!("'{path}' is not JSON ({e}): {command} reads blast's --json reports")
    })?;
    let summary = |value: &Value| {
        serde_path_to_error::deserialize::<_, Summary>(value)
            .map_err(|e| invalid(path, &where_wrong(value, e)))
    };
    match value.get("steps").map(Value::as_array) {
        Some(Some(steps)) if !steps.is_empty() => {
            let steps: Result<Vec<Summary>, String> = steps.iter().map(summary).collect();
            Ok((steps?, true))
        }
        Some(_) => Err(format!("'{path}' is a sweep without steps")),
        None => Ok((vec![summary(&value)?], false)),
    }
}

fn invalid(path: &str, key: &str) -> String {
    format!("'{path}' is not a blast JSON report: '{key}' is missing or invalid")
}

/// The key a report failed to read at, as `errors.read`. A report flattens its results and
/// destination into its top level, and a target its name and results into its object; serde
/// buffers a flattened part, which hides a key inside it, so the parts flattened where the
/// error is are read again on their own to find it.
fn where_wrong(report: &Value, error: serde_path_to_error::Error<serde_json::Error>) -> String {
    let mut keys: Vec<String> = error.path().iter().map(key).collect();
    let pointer: String = keys.iter().map(|k| format!("/{k}")).collect();
    let mut error = error.into_inner();
    let parts: &[Fault] = match keys.as_slice() {
        [] => &[fault::<Results>, fault::<Destination>],
        [targets, _] if targets == "targets" => &[fault::<Results>, fault::<Target>],
        _ => &[],
    };
    let part = report.pointer(&pointer).filter(|p| p.is_object());
    if let Some(inner) = part.and_then(|part| parts.iter().find_map(|read| read(part))) {
        keys.extend(inner.path().iter().map(key));
        error = inner.into_inner();
    }
    // A missing or unexpected key is named in the message only.
    let message = error.to_string();
    let named = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|start| message.strip_prefix(start));
    if let Some(name) = named.and_then(|m| m.split('`').next()) {
        keys.push(name.to_string());
    }
    keys.retain(|k| k != "?");
    keys.join(".")
}

/// A step of an error's path as the message names it: `targets.1.name`, not `targets.[1]`.
fn key(segment: &serde_path_to_error::Segment) -> String {
    match segment {
        serde_path_to_error::Segment::Seq { index } => index.to_string(),
        other => other.to_string(),
    }
}

type Fault = fn(&Value) -> Option<serde_path_to_error::Error<serde_json::Error>>;

/// Why `part` does not read as a `T`, if it does not.
fn fault<T: serde::de::DeserializeOwned>(
    part: &Value,
) -> Option<serde_path_to_error::Error<serde_json::Error>> {
    serde_path_to_error::deserialize::<_, T>(part).err()
}

/// A report read back into the run it summarizes.
fn part(path: &str, report: Summary) -> Result<Part, String> {
    let bad = |key: &str| invalid(path, key);
    let hist = |key: &str, text: &str, into| {
        decode_into(text, into).ok_or_else(|| bad(&format!("histogram.{key}")))
    };
    let h = &report.histogram;
    let mut stats = Stats::default();
    stats.latency = hist("data", &h.data, new_histogram(LATENCY_SIGFIG))?;
    stats.connect = hist(
        "connect_data",
        &h.connect_data,
        new_histogram(CONNECT_SIGFIG),
    )?;
    stats.first_byte = (h.first_byte_data.as_deref())
        .map(|text| hist("first_byte_data", text, new_histogram(LATENCY_SIGFIG)))
        .transpose()?;
    match &report.rate {
        // A closed-loop report counts its sends per second only.
        None => stats.sent = report.per_second.iter().map(|s| s.sent).sum(),
        Some(rate) => {
            // A rate run's report has both; a missing one fails to decode, and is named.
            let uncorrected = h.uncorrected_data.as_deref().unwrap_or_default();
            let lag = h.send_lag_data.as_deref().unwrap_or_default();
            stats.uncorrected = Some(hist(
                "uncorrected_data",
                uncorrected,
                new_histogram(LATENCY_SIGFIG),
            )?);
            stats.send_lag = Some(hist("send_lag_data", lag, new_histogram(SEND_LAG_SIGFIG))?);
            stats.sent = rate.sent;
            stats.late = rate.late;
            stats.peak_connections = rate.connections_used;
            stats.capped = u64::from(rate.connection_limited);
            if !(rate.target.is_finite() && rate.target > 0.0) {
                return Err(bad("rate.target"));
            }
        }
    }
    check_seconds(&report.per_second, &bad)?;
    count_outcomes(&report.results, &mut stats);
    let (targets, target_stats) = targets(&report.targets, &bad)?;
    stats.targets = target_stats;
    let c = &report.connections;
    stats.bytes_read = report.bytes_read;
    stats.bytes_written = report.bytes_written;
    stats.established = c.established;
    stats.reconnects = c.reconnects;
    stats.added = c.added;
    stats.no_local_port = c.no_local_port;
    stats.connect_cause =
        (report.connect_error.as_deref()).and_then(crate::results::stats::Cause::described);
    stats.tls_answers = report.tls_answers;
    stats.in_flight = report.in_flight;
    let think = report.think.as_ref();
    stats.thinks = think.map_or(0, |t| t.pauses);
    stats.think_ns = think.map_or(0, |t| (t.mean_s * 1e9 * t.pauses as f64).round() as u64);
    let range = |t: &ThinkSummary| {
        let secs = |s: f64| Duration::try_from_secs_f64(s).ok();
        Some((secs(t.min_s)?, secs(t.max_s)?))
    };
    let think = think
        .map(|t| range(t).ok_or_else(|| bad("think")))
        .transpose()?;
    let seconds = |key: &str, s: f64| Duration::try_from_secs_f64(s).map_err(|_| bad(key));
    let outcome = RunOutcome {
        driver: match report.driver.as_str() {
            "io_uring" => "io_uring",
            "epoll" => "epoll",
            "mixed" => "mixed",
            _ => return Err(bad("driver")),
        },
        threads: report.threads,
        elapsed: seconds("duration_s", report.duration_s)?,
        drain: seconds("drain_s", report.drain_s)?,
        interrupted: report.interrupted,
        started_unix_s: report.started_unix_s,
        seconds: report.per_second,
        server: report.server,
        client: report.client,
        stats,
    };
    let slo = (report.slo.as_ref())
        .map(|v| Slo::parse(&v.objective).map_err(|_| bad("slo.objective")))
        .transpose()?;
    let info = RunInfo {
        think,
        destination: report.destination,
        connections: c.requested,
        keep_alive: c.keep_alive,
        pipeline: c.pipeline,
        rate: report.rate.map(|r| r.target),
        slo,
        targets,
    };
    Ok(Part {
        info,
        outcome,
        run: report.run,
    })
}

/// Per-second times are durations: a row with a negative one is not blast's.
fn check_seconds(rows: &[SecondRow], bad: &dyn Fn(&str) -> String) -> Result<(), String> {
    for (i, row) in rows.iter().enumerate() {
        let times = [
            ("p50_us", Some(row.p50_us)),
            ("p99_us", Some(row.p99_us)),
            ("max_us", row.max_us),
            ("first_byte_p50_us", row.first_byte_p50_us),
            ("first_byte_p99_us", row.first_byte_p99_us),
            ("server_cpu_pct", row.server_cpu_pct),
            ("send_lag_max_us", row.send_lag_max_us),
        ];
        if let Some((key, _)) = times.iter().find(|(_, t)| t.is_some_and(|t| t < 0.0)) {
            return Err(bad(&format!("per_second.{i}.{key}")));
        }
    }
    Ok(())
}

/// A histogram a report saved, re-added into one with the run's bounds (a histogram from
/// elsewhere could have others, and merging would then fail).
fn decode_into(text: &str, mut into: Histogram<u64>) -> Option<Histogram<u64>> {
    into.add(decode_histogram(text).ok()?).ok()?;
    Some(into)
}

/// The counts of outcomes of the run or of one of its targets.
fn count_outcomes(results: &Results, stats: &mut Stats) {
    stats.over_range = results.latency.over_range;
    stats.successes = results.successes;
    stats.errors = results.errors.0;
    stats.reasons = results.failure_reasons.clone();
    for (code, n) in &results.status_codes {
        stats.add_status(*code, *n);
    }
}

/// `--targets`: each target's name and counts (none in a report of a single request, or
/// one from before blast took a mix).
fn targets(
    saved: &[TargetSummary],
    bad: &dyn Fn(&str) -> String,
) -> Result<(Vec<Target>, Vec<Stats>), String> {
    let read = |(i, t): (usize, &TargetSummary)| {
        let hist = |key: &str, text: &str| {
            decode_into(text, growing_histogram()).ok_or_else(|| bad(&format!("targets.{i}.{key}")))
        };
        let mut stats = Stats::target();
        stats.latency = hist("histogram", &t.histogram)?;
        stats.first_byte = (t.first_byte_histogram.as_deref())
            .map(|text| hist("first_byte_histogram", text))
            .transpose()?;
        count_outcomes(&t.results, &mut stats);
        Ok((t.target.clone(), stats))
    };
    let pairs = saved.iter().enumerate().map(read);
    pairs
        .collect::<Result<Vec<_>, String>>()
        .map(|pairs| pairs.into_iter().unzip())
}

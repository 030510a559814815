//! The report of a sweep (`--rates`, `--find-max`, `-c 10,25,50`, `--each`): one row per step.

use std::io::{self, Write};

use serde_json::{Value, json};

use super::text::{client_limit, format_pct};
use crate::results::numbers::{Latency, Results};
use crate::results::summary::Summary;
use crate::results::usage::ClientUsage;
use crate::units::{format_bytes, format_micros};

/// The steps of a sweep, in the order run, each with its verdict on `--slo` when one was
/// given.
pub struct SweepReport {
    pub steps: Vec<Summary>,
    /// `--find-max`: the search's answer; with `--each`, one per target (empty without
    /// `--find-max`).
    pub max_rates: Vec<MaxRate>,
    /// `--each`: every step ran one target of the mix alone (its row names it).
    pub each: bool,
    /// `-c 10,25,50`: the steps ran these numbers of users, a closed loop each.
    pub users: bool,
    /// A users sweep's knees: one per curve (with `--each`, per target).
    pub knees: Vec<Knee>,
}

/// Where a users sweep's throughput stopped growing with the users.
#[derive(Debug, Clone, PartialEq)]
pub struct Knee {
    /// `--each`: the target's curve; `None`: the whole run's.
    pub target: Option<String>,
    /// The users of the last step before it stopped; `None`: it grew at every step.
    pub users: Option<usize>,
}

/// The answer of one `--find-max` search.
#[derive(Debug, Clone, PartialEq)]
pub struct MaxRate {
    /// `--each`: the target searched alone; `None`: the whole mix or URL.
    pub target: Option<String>,
    /// The highest rate that met the objective; `None`: no rate tried did.
    pub rate: Option<f64>,
}

impl SweepReport {
    /// The objective the steps were judged against, as typed.
    pub fn objective(&self) -> Option<&str> {
        let verdict = self.steps.first()?.slo.as_ref()?;
        Some(&verdict.objective)
    }
}

pub fn write_text(out: &mut dyn Write, report: &SweepReport) -> io::Result<()> {
    let Some(first) = report.steps.first() else {
        return writeln!(out, "no step ran");
    };
    // A users sweep's load is its users times the depth each keeps out.
    let pipelined = match first.connections.pipeline {
        1 => String::new(),
        depth => format!(", each connection pipelined {depth} deep"),
    };
    // Whole seconds as typed (`-d 2`), a fraction where one was asked (`-d 0.5`, not "0s").
    let d = first.duration_s;
    let length = match (d - d.round()).abs() < 0.05 {
        true => format!("{d:.0}s"),
        false => format!("{d:.1}s"),
    };
    writeln!(
        out,
        "blast {} {} — {} steps of {length}{pipelined}",
        first.destination.method,
        first.destination.url,
        report.steps.len(),
    )?;
    // `--first-byte`: its p50 and p99 after the success column.
    let first_bytes = if first.first_byte.is_some() {
        format!(" {:>9} {:>9}", "1st p50", "1st p99")
    } else {
        String::new()
    };
    // `--server-pid`: the server's CPU and largest memory in each step.
    let servers = if first.server.is_some() {
        format!(" {:>9} {:>10}", "srv CPU%", "srv mem")
    } else {
        String::new()
    };
    // `--each`: each row's target first, as wide as the longest name.
    let width = match report.each {
        true => report
            .steps
            .iter()
            .map(|s| step_target(s).chars().count())
            .max()
            .unwrap_or(0),
        false => 0,
    };
    let named = |name: &str| match report.each {
        true => format!("  {name:<width$}"),
        false => String::new(),
    };
    // A users sweep: each step's users, and its failures after the success column.
    let (load, failures) = match report.users {
        true => (format!(" {:>7}", "users"), format!(" {:>9}", "failures")),
        false => (
            format!("  {:>10} {:>10}", "target/s", "sent/s"),
            String::new(),
        ),
    };
    writeln!(
        out,
        "{}{load} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9}{failures}{first_bytes}{servers}  objective",
        named("target"),
        "done/s",
        "p50",
        "avg",
        "p95",
        "p99",
        "success"
    )?;
    for step in &report.steps {
        let rate = step.rate.as_ref();
        // Without an objective the row ends at the success column (no trailing blanks).
        let verdict = match step.slo.as_ref().map(|v| &v.missed) {
            None => String::new(),
            Some(None) => "  met".into(),
            Some(Some(why)) => format!("  missed: {why}"),
        };
        let server = step.server.as_ref().map_or(String::new(), |u| {
            let mem = format_bytes(u.rss_max_bytes as f64);
            format!(" {:>9.1} {mem:>10}", u.cpu_avg_pct)
        });
        // A closed loop (`--each` without `--rates`) has no target rate.
        let per_s = |value: Option<f64>| value.map_or("-".into(), |v| format!("{v:.1}"));
        let users = step.connections.requested;
        let load = match report.users {
            true => format!(" {users:>7}"),
            false => format!(
                "  {:>10} {:>10}",
                per_s(rate.map(|r| r.target)),
                per_s(rate.map(|r| r.send_rate))
            ),
        };
        let cells = outcome_cells(step, report.users, step.first_byte.as_ref());
        let target = report.each.then(|| step_target(step).to_string());
        let knee = match report.knees.contains(&Knee {
            target,
            users: Some(users),
        }) {
            true => "  <- knee",
            false => "",
        };
        writeln!(
            out,
            "{}{load} {cells}{server}{verdict}{knee}",
            named(step_target(step)),
        )?;
        if !report.each {
            write_target_rows(out, step, report.users)?;
        }
    }
    for step in &report.steps {
        if let Some((core, pct)) = step.client.as_ref().and_then(ClientUsage::limiting) {
            let rate = step.rate.as_ref().map_or(0.0, |r| r.target);
            writeln!(
                out,
                "  WARNING     at {rate:.1}/s {}",
                client_limit(core, pct)
            )?;
        }
    }
    let slo = report.objective().unwrap_or_default();
    if !report.max_rates.is_empty() {
        writeln!(out)?;
    }
    for found in &report.max_rates {
        let scope = found
            .target
            .as_ref()
            .map_or(String::new(), |n| format!(" for {n}"));
        match found.rate {
            Some(rate) => writeln!(out, "  Highest rate meeting {slo}{scope}: {rate:.1}/s")?,
            None => writeln!(out, "  No rate tried met {slo}{scope}")?,
        }
    }
    Ok(())
}

/// The target a step of `--each` ran alone (its mix's only name).
pub fn step_target(step: &Summary) -> &str {
    step.targets.first().map_or("", |t| t.target.name.as_str())
}

/// `--targets`: under each step, one row per target, so a mix's sweep shows which target's
/// latency gives first. Its name fills the step's first two columns (longer names push the
/// row right rather than being cut); the objective column stays the step's.
fn write_target_rows(out: &mut dyn Write, step: &Summary, failures: bool) -> io::Result<()> {
    // A users sweep's load column is narrower than a rate sweep's two.
    let (indent, width) = if failures { ("  ", 6) } else { ("    ", 19) };
    for t in &step.targets {
        let cells = outcome_cells(t, failures, t.first_byte.as_ref());
        writeln!(out, "{indent}{:<width$} {cells}", t.target.name)?;
    }
    Ok(())
}

/// The columns from `done/s` to `success` (`avg`: the mean latency), a users sweep's
/// `failures` (and with `--first-byte` its two), for a step or
/// one of its targets.
fn outcome_cells(results: &Results, failures: bool, first_byte: Option<&Latency>) -> String {
    let latency = &results.latency;
    let success = format_pct(results.success_pct, results.successes, results.requests);
    let mut cells = format!(
        "{:>10.1} {:>9} {:>9} {:>9} {:>9} {success:>9}",
        results.rps,
        format_micros(latency.p50),
        format_micros(latency.mean),
        format_micros(latency.p95),
        format_micros(latency.p99),
    );
    if failures {
        cells += &format!(" {:>9}", results.failures);
    }
    if let Some(f) = first_byte {
        cells += &format!(" {:>9} {:>9}", format_micros(f.p50), format_micros(f.p99));
    }
    cells
}

pub fn to_value(report: &SweepReport) -> Value {
    let steps: Vec<Value> = report.steps.iter().map(super::json::to_value).collect();
    let whole = report.max_rates.iter().find(|m| m.target.is_none());
    let mut value = json!({
        "steps": steps,
        "slo": report.objective(),
        "max_rate": whole.and_then(|m| m.rate),
    });
    // `--each --find-max`: each target's answer, by name.
    let named = report
        .max_rates
        .iter()
        .filter_map(|m| Some((m.target.clone()?, json!(m.rate))));
    let named: serde_json::Map<String, Value> = named.collect();
    if !named.is_empty() {
        value["max_rates"] = Value::Object(named);
    }
    // A users sweep: the users at its knee (null: throughput grew with every step); with
    // `--each`, each target's, by name.
    if report.users {
        value["knee_users"] = match report.each {
            false => json!(report.knees.first().and_then(|k| k.users)),
            true => Value::Object(
                (report.knees.iter())
                    .map(|k| (k.target.clone().unwrap_or_default(), json!(k.users)))
                    .collect(),
            ),
        };
    }
    value
}

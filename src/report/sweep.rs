//! The report of a rate sweep (`--rates`, `--find-max`): one row per step.

use std::io::{self, Write};

use serde_json::{Value, json};

use super::Summary;
use crate::units::format_micros;

/// The steps of a sweep, in the order run, with the objective's verdict for `--find-max`.
pub struct SweepReport {
    pub steps: Vec<(Summary, Option<Result<(), String>>)>,
    /// `--find-max`: the highest rate that met the objective, and the objective's text.
    pub best: Option<(Option<f64>, String)>,
}

pub fn write_text(out: &mut dyn Write, report: &SweepReport) -> io::Result<()> {
    let Some((first, _)) = report.steps.first() else {
        return writeln!(out, "no step ran");
    };
    writeln!(
        out,
        "blast {} {} — {} steps of {:.0}s",
        first.method,
        first.url,
        report.steps.len(),
        first.duration_s
    )?;
    writeln!(
        out,
        "  {:>10} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9}  objective",
        "target/s", "sent/s", "done/s", "p50", "p95", "p99", "success"
    )?;
    for (step, verdict) in &report.steps {
        let rate = step.rate.as_ref();
        let verdict = match verdict {
            None => String::new(),
            Some(Ok(())) => "met".into(),
            Some(Err(why)) => format!("missed: {why}"),
        };
        writeln!(
            out,
            "  {:>10.1} {:>10.1} {:>10.1} {:>9} {:>9} {:>9} {:>8.2}%  {verdict}",
            rate.map_or(0.0, |r| r.target),
            rate.map_or(0.0, |r| r.send_rate),
            step.rps,
            format_micros(step.latency.p50),
            format_micros(step.latency.p95),
            format_micros(step.latency.p99),
            step.success_pct
        )?;
    }
    if let Some((best, slo)) = &report.best {
        match best {
            Some(rate) => writeln!(out, "\n  Highest rate meeting {slo}: {rate:.1}/s")?,
            None => writeln!(out, "\n  No rate tried met {slo}")?,
        }
    }
    Ok(())
}

pub fn to_value(report: &SweepReport) -> Value {
    let steps: Vec<Value> = report
        .steps
        .iter()
        .map(|(step, verdict)| {
            let mut value = super::json::to_value(step);
            if let (Some(verdict), Value::Object(map)) = (verdict, &mut value) {
                map.insert("slo_met".into(), json!(verdict.is_ok()));
                map.insert("slo_missed".into(), json!(verdict.as_ref().err()));
            }
            value
        })
        .collect();
    json!({
        "steps": steps,
        "slo": report.best.as_ref().map(|(_, slo)| slo),
        "max_rate": report.best.as_ref().and_then(|(best, _)| *best),
    })
}

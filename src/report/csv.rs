//! CSV for spreadsheets and plots (`--csv PATH`): a run's per-second series, or a sweep's
//! steps, one row each, with a header row. Numbers only, no units: latencies in
//! microseconds, rates per second; a field that does not apply is empty.

use std::io::{self, Write};

use super::sweep::{SweepReport, step_target};
use crate::results::summary::Summary;

/// One row per second of the run: the `per_second` series of the JSON.
pub fn write_seconds(out: &mut dyn Write, s: &Summary) -> io::Result<()> {
    // The run's record first, as comment lines (pandas: `read_csv(path, comment="#")`).
    if let Some(run) = &s.run {
        writeln!(out, "# blast run {}", super::text::describe_run(run))?;
        writeln!(out, "# command: {}", run.command)?;
    }
    writeln!(
        out,
        "second,target_rps,sent,requests,failures,p50_us,p99_us,first_byte_p50_us,first_byte_p99_us,\
         server_cpu_pct,server_rss_bytes,users,max_us,connections,send_lag_max_us,unix_s"
    )?;
    for row in &s.per_second {
        writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
            row.second,
            optional(row.target),
            row.sent,
            row.requests,
            row.failures,
            row.p50_us,
            row.p99_us,
            optional(row.first_byte_p50_us),
            optional(row.first_byte_p99_us),
            optional(row.server_cpu_pct),
            optional(row.server_rss_bytes),
            optional(row.users),
            optional(row.max_us),
            optional(row.connections),
            optional(row.send_lag_max_us),
            optional(row.unix_s),
        )?;
    }
    Ok(())
}

/// One row per step of a sweep: the table of the text report, with the objective's verdict
/// (`true`, `false`, or empty without `--slo`).
pub fn write_steps(out: &mut dyn Write, report: &SweepReport) -> io::Result<()> {
    writeln!(
        out,
        "target_rps,sent_rps,done_rps,p50_us,p95_us,p99_us,success_pct,slo_met,\
         server_cpu_pct,server_rss_max_bytes,users,target"
    )?;
    for step in &report.steps {
        let rate = step.rate.as_ref();
        let server = step.server.as_ref();
        // `--each`: the target the step ran alone (a name may hold a comma: quoted).
        let target = match report.each {
            true => format!("\"{}\"", step_target(step).replace('"', "\"\"")),
            false => String::new(),
        };
        writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{target}",
            optional(rate.map(|r| r.target)),
            optional(rate.map(|r| r.send_rate)),
            step.rps,
            step.latency.p50,
            step.latency.p95,
            step.latency.p99,
            step.success_pct,
            step.slo
                .as_ref()
                .map_or(String::new(), |v| v.met().to_string()),
            optional(server.map(|u| u.cpu_avg_pct)),
            optional(server.map(|u| u.rss_max_bytes)),
            step.connections.requested,
        )?;
    }
    Ok(())
}

fn optional<T: ToString>(value: Option<T>) -> String {
    value.map_or(String::new(), |v| v.to_string())
}

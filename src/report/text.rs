//! The human report on stdout.

use std::io::{self, Write};

use crate::results::numbers::{ErrorCounts, Latency, Results};
use crate::results::record::RunRecord;
use crate::results::series::SecondRow;
use crate::results::summary::{
    Connections, MergedRun, RateSummary, Summary, TargetSummary, ThinkSummary,
};
use crate::results::usage::{ClientUsage, ServerUsage};
use crate::units::{format_bytes, format_count, format_micros};

pub fn write(out: &mut dyn Write, s: &Summary) -> io::Result<()> {
    write_header(out, s)?;
    writeln!(
        out,
        "  Requests    {} total, {} ok, {} failed ({} success)",
        s.requests,
        s.successes,
        s.failures,
        format_pct(s.success_pct, s.successes, s.requests)
    )?;
    writeln!(
        out,
        "  Throughput  {:.1} req/s, {:.1} ok/s",
        s.rps, s.success_rps
    )?;
    write_latency(out, s)?;
    if let Some(t) = &s.think {
        write_think(out, t, s)?;
    }
    write_pipelines(out, s)?;
    if let Some(f) = s.first_byte.as_ref().filter(|f| f.count > 0) {
        writeln!(
            out,
            "  First byte  mean {}, p50 {}, p90 {}, p99 {}, p99.9 {}, max {}",
            format_micros(f.mean),
            format_micros(f.p50),
            format_micros(f.p90),
            format_micros(f.p99),
            format_micros(f.p999),
            format_micros(f.max)
        )?;
    }
    let c = &s.connect;
    if c.count > 0 {
        let which = if s.connections.keep_alive {
            "added or reopened in the window"
        } else {
            "one per request, in its latency"
        };
        writeln!(
            out,
            "  Connect     {} opened ({which}): mean {}, p50 {}, p99 {}, max {}",
            c.count,
            format_micros(c.mean),
            format_micros(c.p50),
            format_micros(c.p99),
            format_micros(c.max)
        )?;
    }
    if let Some(rate) = &s.rate {
        write_rate(out, rate, s)?;
    }
    let codes: Vec<String> = s
        .status_codes
        .iter()
        .map(|(c, n)| format!("{}: {n}", status_name(*c)))
        .collect();
    writeln!(
        out,
        "  Status      {}",
        if codes.is_empty() {
            "none".into()
        } else {
            codes.join(", ")
        }
    )?;
    write_failures(out, s)?;
    writeln!(
        out,
        "  Transfer    read {}/s, written {}/s ({} / {} in all)",
        format_bytes(s.read_per_s()),
        format_bytes(s.written_per_s()),
        format_bytes(s.bytes_read as f64),
        format_bytes(s.bytes_written as f64)
    )?;
    if let Some(server) = &s.server {
        write_server(out, server)?;
    }
    if let Some((core, pct)) = s.client.as_ref().and_then(ClientUsage::limiting) {
        writeln!(out, "  WARNING     {}", client_limit(core, pct))?;
    }
    if s.in_flight > 0 {
        writeln!(
            out,
            "  In flight   {} requests unfinished at the end (not counted above)",
            s.in_flight
        )?;
    }
    if let Some(slo) = &s.slo {
        match &slo.missed {
            None => writeln!(out, "  Objective   {}: met", slo.objective)?,
            Some(why) => writeln!(out, "  Objective   {}: MISSED ({why})", slo.objective)?,
        }
    }
    write_targets(out, &s.targets)
}

/// `--think`: the pauses, the users' cycle, and Little's law over it.
fn write_think(out: &mut dyn Write, t: &ThinkSummary, s: &Summary) -> io::Result<()> {
    let secs = |s: f64| format_micros(s * 1e6);
    let range = if t.min_s == t.max_s {
        secs(t.min_s)
    } else {
        format!("{}-{}", secs(t.min_s), secs(t.max_s))
    };
    writeln!(
        out,
        "  Think       {range} per user: {} pauses, mean {}; cycle {} (mean latency + mean think)",
        t.pauses,
        secs(t.mean_s),
        secs(t.cycle_s)
    )?;
    writeln!(
        out,
        "              users = throughput x cycle: {:.1} req/s x {} = {:.1} (of {})",
        s.rps,
        secs(t.cycle_s),
        t.users,
        s.connections.requested
    )
}

/// `--pipeline`: its depth, and in a closed loop its top-up (`None`: one request at a time).
pub fn pipelining(c: &Connections) -> Option<String> {
    match (c.pipeline, c.pipeline_refill) {
        (1, _) => None,
        (depth, 1) => Some(format!("{depth} deep")),
        (depth, refill) => Some(format!("{depth} deep, topped up once {refill} are free")),
    }
}

/// `--pipeline` in a closed loop: Little's law read back over the pipelines,
/// `requests out = throughput x mean latency`, against the fewest and the most they hold.
/// Below the fewest, requests were held back: connections reopening or failing, or a
/// client too busy to top its pipelines up.
fn write_pipelines(out: &mut dyn Write, s: &Summary) -> io::Result<()> {
    let c = &s.connections;
    if c.pipeline == 1 || s.rate.is_some() || s.latency.mean <= 0.0 {
        return Ok(());
    }
    let (fewest, most) = c.pipelines_hold();
    let holds = (fewest * 0.9..=most * 1.05).contains(&s.concurrency);
    writeln!(
        out,
        "  Pipelines   out = throughput x mean latency: {:.1} req/s x {} = {:.1} \
         (of {fewest:.0}-{most:.0}: {} x {}-{} deep){}",
        s.concurrency / (s.latency.mean / 1e6),
        format_micros(s.latency.mean),
        s.concurrency,
        c.requested,
        c.pipeline.saturating_sub(c.pipeline_refill),
        c.pipeline,
        if holds {
            ""
        } else {
            " - fewer: requests were held back"
        }
    )
}

/// A blast core busy enough to have held the run back: no peer tells its users this.
pub fn client_limit(core: usize, pct: f64) -> String {
    format!(
        "blast's thread {core} was {pct:.0}% busy: the client may be the limit (give it more \
         --threads and --cpus, or more machines: blast merge)"
    )
}

/// `--server-pid`: the server's CPU and memory, and whether it died during the run.
fn write_server(out: &mut dyn Write, u: &ServerUsage) -> io::Result<()> {
    writeln!(
        out,
        "  Server      CPU {:.1}% of a core (busiest second {:.1}%), memory {} (max {}), \
         {} process{}",
        u.cpu_avg_pct,
        u.cpu_max_pct,
        format_bytes(u.rss_avg_bytes as f64),
        format_bytes(u.rss_max_bytes as f64),
        u.processes,
        if u.processes == 1 { "" } else { "es" }
    )?;
    if let Some(at) = u.exited_at_s {
        let pids: Vec<String> = u.pids.iter().map(u32::to_string).collect();
        writeln!(
            out,
            "  Server      EXITED: PID {} was gone {at:.1}s into the run",
            pids.join(", ")
        )?;
    }
    Ok(())
}

/// The failures by category, and what the run found out about their causes.
fn write_failures(out: &mut dyn Write, s: &Summary) -> io::Result<()> {
    writeln!(out, "  Failures    {}", failure_list(&s.errors))?;
    // A mix lists them by target, after its table.
    if s.targets.is_empty() {
        write_reasons(out, "  Reasons", &s.results)?;
    }
    // (Named among the reasons, except in a report from before they were kept.)
    if let Some(cause) = s
        .connect_error
        .as_ref()
        .filter(|_| s.failure_reasons.is_empty())
    {
        writeln!(out, "  Connect     failed: {cause}")?;
    }
    if s.tls_answers > 0 {
        writeln!(
            out,
            "  Malformed   {} answered in TLS: this port speaks https (use an https:// URL)",
            s.tls_answers
        )?;
    }
    if s.connections.no_local_port > 0 {
        writeln!(
            out,
            "  Ports       no free local port for {} connect{} (EADDRNOTAVAIL): this machine \
             ran out of ephemeral ports (docs/usage.md, Tips)",
            s.connections.no_local_port,
            plural(s.connections.no_local_port)
        )?;
    }
    Ok(())
}

/// The first lines: what was run, on what, with how many connections, for how long.
fn write_header(out: &mut dyn Write, s: &Summary) -> io::Result<()> {
    let stopped = if s.interrupted { " (interrupted)" } else { "" };
    // Shown when it took long enough to matter (a closed loop's is its last latency).
    let drain = if s.drain_s >= 0.005 {
        format!(" + {:.2}s drain", s.drain_s)
    } else {
        String::new()
    };
    let d = &s.destination;
    write!(out, "blast {} {}", d.method, d.url)?;
    if let Some(socket) = &d.unix_socket {
        write!(out, " via {socket}")?;
    }
    if let Some(tls) = &d.tls {
        write!(out, " ({}, {})", tls.version, tls.cipher)?;
    }
    writeln!(out)?;
    // Without keep-alive every request reconnects, so the count that says something is
    // how many connections were opened.
    let connections = if s.connections.keep_alive {
        let at_start = s.connections.established - s.connections.reconnects - s.connections.added;
        let pipelined = match pipelining(&s.connections) {
            Some(words) => format!(", pipelined {words}"),
            None => String::new(),
        };
        format!(
            "({} established: {at_start} at start, {} added, {} reopened{pipelined})",
            s.connections.established, s.connections.added, s.connections.reconnects
        )
    } else {
        format!(
            "without keep-alive ({} established)",
            s.connections.established
        )
    };
    writeln!(
        out,
        "  {} thread{} ({}), {} connection{} {connections}, {:.2}s{drain}{stopped}",
        s.threads,
        plural(s.threads as u64),
        s.driver,
        s.connections.requested,
        plural(s.connections.requested as u64),
        s.duration_s
    )?;
    if let Some(run) = &s.run {
        writeln!(out, "  Run         {}", describe_run(run))?;
        writeln!(out, "  Command     {}", run.command)?;
    }
    if let Some(merged) = &s.merged {
        let skew = match merged.start_skew_ms {
            Some(ms) => format!("their starts {ms:.0} ms apart"),
            None => "lined up by second index (--allow-skew)".into(),
        };
        writeln!(out, "  Merged      {} runs, {skew}", merged.runs)?;
        write_parts(out, &merged.parts)?;
    }
    writeln!(out)
}

/// A merged report's runs, one line each: its instance, when it began after the first, its
/// counts, its file.
fn write_parts(out: &mut dyn Write, parts: &[MergedRun]) -> io::Result<()> {
    let width = (parts.iter())
        .map(|p| p.instance.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(8, 40);
    for part in parts {
        let offset = match part.start_offset_ms {
            Some(ms) => format!("+{ms:.0} ms"),
            None => "?".into(),
        };
        writeln!(
            out,
            "              {:<width$}  {offset:>9}  {:>9} requests  {:>7} failed  {:.2}s  {}",
            part.instance, part.requests, part.failures, part.duration_s, part.file
        )?;
    }
    Ok(())
}

/// `--targets`: one row per target name.
fn write_targets(out: &mut dyn Write, targets: &[TargetSummary]) -> io::Result<()> {
    if targets.is_empty() {
        return Ok(());
    }
    let width = targets
        .iter()
        .map(|t| t.target.name.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(6, 40);
    // `--first-byte`: two more columns, its p50 and p99.
    let first_byte = targets.iter().any(|t| t.first_byte.is_some());
    writeln!(out)?;
    write!(
        out,
        "  {:<width$} {:>6} {:>9} {:>8} {:>9} {:>8} {:>8} {:>8}",
        "Target", "share", "requests", "success", "req/s", "p50", "p99", "max"
    )?;
    if first_byte {
        write!(out, " {:>8} {:>8}", "1st p50", "1st p99")?;
    }
    writeln!(out, "  failures")?;
    for t in targets {
        let micros = |l: &Latency, us: f64| {
            if l.count == 0 {
                "-".to_string()
            } else {
                format_micros(us)
            }
        };
        let l = &t.latency;
        // A flow's own row has no share: its "requests" are whole flows.
        let share = match t.target.weight {
            0 => "-".to_string(),
            _ => format!("{:.1}%", t.share_pct),
        };
        write!(
            out,
            "  {:<width$} {:>6} {:>9} {:>8} {:>9.1} {:>8} {:>8} {:>8}",
            t.target.name,
            share,
            t.requests,
            format_pct(t.success_pct, t.successes, t.requests),
            t.rps,
            micros(l, l.p50),
            micros(l, l.p99),
            micros(l, l.max),
        )?;
        if let Some(f) = &t.first_byte {
            write!(out, " {:>8} {:>8}", micros(f, f.p50), micros(f, f.p99))?;
        }
        writeln!(out, "  {}", failure_list(&t.errors))?;
    }
    let failed = || targets.iter().filter(|t| !t.failure_reasons.is_empty());
    if failed().next().is_some() {
        writeln!(out, "\n  Failure reasons, by target")?;
    }
    for t in failed() {
        write_reasons(out, &format!("  {}", t.target.name), &t.results)?;
    }
    Ok(())
}

/// The failures' reasons, most frequent first, each with its sample (the status line, then
/// the body's start), under `title`; and how many failures fall under no listed reason.
fn write_reasons(out: &mut dyn Write, title: &str, r: &Results) -> io::Result<()> {
    let mut title = title;
    for reason in &r.failure_reasons {
        writeln!(out, "{title:<12}{:>9}  {}", reason.count, reason.reason)?;
        title = "";
        for line in reason.sample.lines() {
            writeln!(out, "{:23}{line}", "")?;
        }
    }
    // (A report from before reasons were kept lists none: its categories say it all.)
    if r.other_failures > 0 && !r.failure_reasons.is_empty() {
        writeln!(
            out,
            "{title:<12}{:>9}  under other reasons (a report lists {})",
            r.other_failures,
            crate::results::failures::LISTED
        )?;
    }
    Ok(())
}

/// `timeout 3, status 1`, or `none`.
pub(super) fn failure_list(errors: &ErrorCounts) -> String {
    let errors: Vec<String> = errors
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    if errors.is_empty() {
        "none".into()
    } else {
        errors.join(", ")
    }
}

fn write_rate(out: &mut dyn Write, r: &RateSummary, s: &Summary) -> io::Result<()> {
    let completed = s.rps;
    writeln!(
        out,
        "  Rate        target {:.1}/s, sent {:.1}/s, completed {:.1}/s; {} connections",
        r.target, r.send_rate, completed, r.connections_used
    )?;
    writeln!(
        out,
        "  Send lag    p99 {}, max {}; {} requests sent over 1ms late",
        format_micros(r.send_lag_us.p99),
        format_micros(r.send_lag_us.max),
        r.late
    )?;
    let none = Latency::default();
    let u = s.uncorrected.as_ref().unwrap_or(&none);
    writeln!(
        out,
        "  Uncorrected p50 {}, p90 {}, p99 {}, p99.9 {}, max {} (from the actual send; hides queueing)",
        format_micros(u.p50),
        format_micros(u.p90),
        format_micros(u.p99),
        format_micros(u.p999),
        format_micros(u.max)
    )?;
    if r.shortfall_pct > 1.0 {
        let why = if r.connection_limited {
            format!(
                "all {} connections (--max-connections) were waiting on the server, which \
                 could not keep up (raise --max-connections to queue more)",
                r.connections_used
            )
        } else {
            "the client could not keep the schedule".into()
        };
        writeln!(
            out,
            "  WARNING     sent {:.1}/s, {:.1}% under the target {:.1}/s: {why}",
            r.send_rate, r.shortfall_pct, r.target
        )?;
    }
    Ok(())
}

fn write_latency(out: &mut dyn Write, s: &Summary) -> io::Result<()> {
    let l = &s.latency;
    if l.count == 0 {
        return writeln!(out, "  Latency     no complete responses");
    }
    writeln!(
        out,
        "  Latency     min {}, mean {}, stdev {}, max {}",
        format_micros(l.min),
        format_micros(l.mean),
        format_micros(l.stdev),
        format_micros(l.max)
    )?;
    writeln!(
        out,
        "              p50 {}, p90 {}, p99 {}, p99.9 {}",
        format_micros(l.p50),
        format_micros(l.p90),
        format_micros(l.p99),
        format_micros(l.p999)
    )?;
    if l.over_range > 0 {
        writeln!(
            out,
            "              {} responses slower than 1h (recorded as 1h)",
            l.over_range
        )?;
    }
    Ok(())
}

fn status_name(code: u16) -> String {
    if code == 600 {
        "other".into()
    } else {
        code.to_string()
    }
}

/// The live line printed on stderr once per second while running on a terminal; with
/// `--first-byte` (`timed`) it ends with that second's first-byte p99.
pub fn live_line(row: &SecondRow, failures_so_far: u64, timed: bool) -> String {
    let mut line = format!(
        "[{:>4}s] {:>8} req/s  {:>6} failed  p99 {}",
        row.second + 1,
        format_count(row.requests as f64),
        failures_so_far,
        format_micros(row.p99_us)
    );
    if timed {
        line += &format!(
            "  1st p99 {}",
            format_micros(row.first_byte_p99_us.unwrap_or(0.0))
        );
    }
    if let Some(open) = row.connections {
        line += &format!("  {open} conns");
    }
    if let Some(lag) = row.send_lag_max_us {
        line += &format!("  lag max {}", format_micros(lag));
    }
    line
}

/// The plural ending for `n` of a thing.
fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A success share with two decimals that never rounds to a whole it is not: a run with a
/// failure is not 100.00%, and one with a success is not 0.00%.
pub fn format_pct(pct: f64, part: u64, whole: u64) -> String {
    if part < whole && pct >= 99.995 {
        ">99.99%".into()
    } else if part > 0 && pct < 0.005 {
        "<0.01%".into()
    } else {
        format!("{pct:.2}%")
    }
}

/// One line on a run's record: when, which blast, where (the text's Run line, the CSV's
/// first comment).
pub fn describe_run(run: &RunRecord) -> String {
    // The instance, when it is not the host's name (its default).
    let instance = match run.instance.as_str() {
        "" => String::new(),
        name if name == run.host.name => String::new(),
        name => format!(", instance {name}"),
    };
    format!(
        "{} to {}, blast {} on {} ({} CPU{}, Linux {}){instance}",
        run.started,
        run.ended,
        run.version,
        run.host.name,
        run.host.cpus,
        if run.host.cpus == 1 { "" } else { "s" },
        run.host.kernel
    )
}

#[cfg(test)]
mod tests {
    use super::format_pct;

    #[test]
    fn a_share_never_rounds_to_a_whole_it_is_not() {
        assert_eq!(format_pct(100.0, 5, 5), "100.00%");
        assert_eq!(format_pct(99.995, 19_999, 20_000), ">99.99%");
        assert_eq!(format_pct(99.994, 99_994, 100_000), "99.99%");
        assert_eq!(format_pct(0.0, 0, 4), "0.00%");
        assert_eq!(format_pct(0.001, 1, 100_000), "<0.01%");
        assert_eq!(format_pct(98.8, 988, 1_000), "98.80%");
    }
}

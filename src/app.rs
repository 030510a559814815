//! The run from a `Config` to exit code: checks, plan, engine, report.

use std::fs::File;
use std::io::{self, BufWriter, Write};

use crate::config::{Config, JsonOut, Sweep};
use crate::engine;
use crate::health;
use crate::limits;
use crate::plan::Plan;
use crate::plan::format_cpus;
use crate::report::sweep::{self as sweep_report, SweepReport};
use crate::report::{Summary, json, text};
use crate::serve::{ServeConfig, ServeStats, Server};
use crate::signal;
use crate::sweep::Search;
use crate::target::Target;
use std::net::SocketAddr;

/// Exit codes: 0 the run completed, 1 not a single request succeeded or the run missed its
/// `--slo`, 2 usage or setup error.
pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;

/// Runs the load and prints the report; `Err` is a setup problem (exit 2).
pub fn run(config: &Config) -> Result<Summary, String> {
    limits::ensure_open_files(config.connections)?;
    if let Some(health) = &config.health {
        let target = health::health_target(&config.target, health)?;
        health::check(&target, &config.request.headers, config.timeout)?;
    }
    let plan = Plan::new(config)?;
    signal::install();
    if config.live && !config.warmup.is_zero() {
        eprintln!("blast: warming up for {:.1}s", config.warmup.as_secs_f64());
    }
    let mut failures = 0;
    let mut live = |row: &crate::series::SecondRow| {
        failures += row.failures;
        if config.live {
            eprint!(
                "\r\x1b[K{}",
                text::live_line(row.second, row.requests, failures, row.p99_us)
            );
        }
    };
    let outcome = engine::run(plan, &mut live)?;
    if config.live {
        eprint!("\r\x1b[K");
    }
    Ok(Summary::new(config, outcome))
}

/// Fails before the run, not after it, when the `--json` file cannot be written. Leaves no
/// trace: an existing file is opened without truncating it, a new one is removed again.
pub fn check_json_out(json: Option<&JsonOut>) -> Result<(), String> {
    let Some(JsonOut::File(path)) = json else {
        return Ok(());
    };
    let existed = std::path::Path::new(path).exists();
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| format!("cannot write --json '{path}': {e}"))?;
    if !existed {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// Writes the text report (stdout, or stderr when JSON goes to stdout) and the JSON report.
pub fn report(json: Option<&JsonOut>, summary: &Summary) -> Result<(), String> {
    let io_error = |e: io::Error| format!("cannot write the report: {e}");
    match json {
        Some(JsonOut::Stdout) => {
            text::write(&mut io::stderr().lock(), summary).map_err(io_error)?;
            json::write(&mut io::stdout().lock(), summary).map_err(io_error)
        }
        Some(JsonOut::File(path)) => {
            text::write(&mut io::stdout().lock(), summary).map_err(io_error)?;
            let file =
                File::create(path).map_err(|e| format!("cannot write --json '{path}': {e}"))?;
            let mut out = BufWriter::new(file);
            json::write(&mut out, summary)
                .and_then(|_| out.flush())
                .map_err(io_error)
        }
        None => text::write(&mut io::stdout().lock(), summary).map_err(io_error),
    }
}

pub fn exit_code(summary: &Summary) -> i32 {
    if summary.successes == 0 || summary.slo.as_ref().is_some_and(|v| !v.met()) {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}

/// A sweep failed when no step had a success; a `--rates` sweep also when any step missed
/// the objective, and `--find-max` when no rate met it (its search misses steps by design).
pub fn sweep_exit_code(report: &SweepReport) -> i32 {
    let missed = match report.max_rate {
        Some(best) => best.is_none(),
        None => report
            .steps
            .iter()
            .any(|s| s.slo.as_ref().is_some_and(|v| !v.met())),
    };
    if missed || report.steps.iter().all(|s| s.successes == 0) {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}

/// `blast serve`: runs the built-in target until its duration ends or Ctrl-C.
pub fn serve(config: ServeConfig) -> Result<ServeStats, String> {
    signal::install();
    let server = Server::start(config)?;
    eprintln!(
        "blast serve: listening on http://{}/ (/predict, /health); Ctrl-C stops",
        server.addr
    );
    let stats = server.wait()?;
    eprintln!("{}", stats.line());
    Ok(stats)
}

/// `blast demo`: the built-in target on the last allowed CPU, the client on the others (or
/// both on the one CPU there is), the prediction check on. Returns the client's summary.
pub fn demo(config: &mut Config) -> Result<Summary, String> {
    let cpus = crate::plan::choose_cpus(None)?;
    let (server_cpus, client_cpus) = match cpus.split_last() {
        Some((last, rest)) if !rest.is_empty() => (vec![*last], rest.to_vec()),
        _ => (cpus.clone(), cpus.clone()),
    };
    let mut serve = ServeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    serve.threads = Some(1);
    serve.cpus = (!server_cpus.is_empty()).then_some(server_cpus.clone());
    let server = Server::start(serve)?;
    config.target = Target::parse(&format!("http://{}/predict", server.addr))?;
    config.cpus = (!client_cpus.is_empty()).then_some(client_cpus.clone());
    eprintln!(
        "blast demo: built-in target at {} on CPU {}, blast on CPU {}",
        server.addr,
        format_cpus(&server_cpus),
        format_cpus(&client_cpus)
    );
    let summary = run(config);
    let stats = server.stop()?;
    let summary = summary?;
    eprintln!("{}", stats.line());
    Ok(summary)
}

/// `--rates` and `--find-max`: runs one step per rate; stops early on Ctrl-C.
pub fn sweep(config: &Config) -> Result<SweepReport, String> {
    let mut step_config = config.clone();
    step_config.sweep = None;
    let mut steps = Vec::new();
    let mut max_rate = None;
    match &config.sweep {
        Some(Sweep::Rates(rates)) => {
            for &rate in rates {
                step_config.rate = Some(rate);
                steps.push(run(&step_config)?);
                step_config.health = None;
                if signal::stop_requested() {
                    break;
                }
            }
        }
        Some(Sweep::FindMax) => {
            let mut search = Search::new(config.rate.unwrap_or(1000.0));
            while let Some(rate) = search.next_rate() {
                step_config.rate = Some(rate);
                let step = run(&step_config)?;
                step_config.health = None;
                search.record(rate, step.slo.as_ref().is_some_and(|v| v.met()));
                steps.push(step);
                if signal::stop_requested() {
                    break;
                }
            }
            max_rate = Some(search.best());
        }
        None => {}
    }
    Ok(SweepReport { steps, max_rate })
}

/// Writes a sweep's table (stdout, or stderr when JSON goes to stdout) and its JSON.
pub fn report_sweep(config: &Config, report: &SweepReport) -> Result<(), String> {
    let io_error = |e: io::Error| format!("cannot write the report: {e}");
    let json =
        || serde_json::to_string_pretty(&sweep_report::to_value(report)).unwrap_or_default() + "\n";
    match &config.json {
        Some(JsonOut::Stdout) => {
            sweep_report::write_text(&mut io::stderr().lock(), report).map_err(io_error)?;
            io::stdout()
                .lock()
                .write_all(json().as_bytes())
                .map_err(io_error)
        }
        Some(JsonOut::File(path)) => {
            sweep_report::write_text(&mut io::stdout().lock(), report).map_err(io_error)?;
            std::fs::write(path, json()).map_err(|e| format!("cannot write --json '{path}': {e}"))
        }
        None => sweep_report::write_text(&mut io::stdout().lock(), report).map_err(io_error),
    }
}

//! The run from a `Config` to exit code: checks, plan, engine, report.

use std::fs::File;
use std::io::{self, BufWriter, Write};

use crate::engine::signal;
use crate::engine::{self, Watch};
use crate::live::{Figures, Live};
use crate::report::sweep::{self as sweep_report, Knee, MaxRate, SweepReport, step_target};
use crate::report::{ascii, compare, csv, hgrm, html, json, locust, text};
use crate::results::compare::Comparison;
use crate::results::series::{Progress, SecondRow};
use crate::results::summary::Summary;
use crate::results::tally::Tally;
use crate::run::config::{Config, JsonOut, Outputs, Sweep};
use crate::run::health;
use crate::run::limits;
use crate::run::plan::format_cpus;
use crate::run::plan::{self, Plan};
use crate::run::record;
use crate::run::sweep::Search;
use crate::run::url::Endpoint;
use crate::run::url::Url;
use crate::serve::{ServeConfig, ServeStats, Server};
use crate::tls;
use hdrhistogram::Histogram;
use std::net::SocketAddr;

/// Exit codes: 0 the run completed, 1 not a single request succeeded or the run missed its
/// `--slo`, 2 usage or setup error.
pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;

/// Runs the load; `Err` is a setup problem (exit 2).
pub fn run(config: &Config) -> Result<Summary, String> {
    measure(config).map(|(summary, _)| summary)
}

/// A single run as the command line makes it: runs the load and writes its reports; with
/// `--metrics-listen` or `--web`, serves the final totals for `--metrics-linger` after.
pub fn run_reported(config: &Config) -> Result<Summary, String> {
    let (summary, live) = measure(config)?;
    report(&config.outputs, &summary)?;
    if let Some((live, tally, latency)) = live {
        // The report page only `--web` serves.
        let mut page = None;
        if config.listen.web.is_some() {
            let page = page.insert(Vec::new());
            html::write(page, &summary).map_err(|e| format!("--web: {e}"))?;
        }
        let last = Figures {
            tally,
            latency: Some(&latency),
            rows: &summary.per_second,
            running: false,
        };
        live.linger(last, page);
    }
    Ok(summary)
}

/// The live outputs after the run, with the final totals and latencies to serve.
type Finished = Option<(Live, Tally, Histogram<u64>)>;

fn measure(config: &Config) -> Result<(Summary, Finished), String> {
    limits::ensure_open_files(config.connections)?;
    if let Some(health) = &config.health {
        let target = health::health_target(&config.url, health)?;
        health::check(
            &target,
            &config.trust,
            &config.request.headers,
            config.timeout,
        )?;
    }
    let plan = Plan::new(config)?;
    let mut info = plan.info.clone();
    if let (Some(tls), Endpoint::Tcp(addr)) = (&plan.tls, &plan.endpoint) {
        info.destination.tls = tls::preflight(tls, *addr, config.connect_timeout)?;
    }
    let live = Live::bind(&config.listen, crate::live::Info::of(&info))?;
    if let Some(late) = config
        .start_at
        .map(|at| plan::unix_now() - at)
        .filter(|s| *s > 0.0)
    {
        eprintln!("blast: --start-at was {late:.2}s ago: starting at once");
    }
    signal::install();
    if config.live && !config.warmup.is_zero() {
        eprintln!("blast: warming up for {:.1}s", config.warmup.as_secs_f64());
    }
    let mut watch = Watcher {
        line: config.live,
        failures: 0,
        timed: plan.first_byte,
        live,
    };
    let outcome = engine::run(plan, &mut watch)?;
    if config.live {
        eprint!("\r\x1b[K");
    }
    let finished = watch.live.map(|live| {
        let tally = Tally::of(&outcome.stats, outcome.stats.in_flight);
        (live, tally, outcome.stats.latency.clone())
    });
    let mut summary = Summary::of(info, outcome);
    if let Some(started) = summary.started_unix_s {
        let secs = summary.duration_s + summary.drain_s;
        summary.run = Some(record::record(config, started, secs));
    }
    Ok((summary, finished))
}

/// What a run shows while it goes: the live line on a terminal, and what `--metrics-listen`
/// and `--web` serve.
struct Watcher {
    line: bool,
    failures: u64,
    timed: bool,
    live: Option<Live>,
}

impl Watch for Watcher {
    fn second(&mut self, row: &SecondRow) {
        self.failures += row.failures;
        if self.line {
            eprint!(
                "\r\x1b[K{}",
                text::live_line(row, self.failures, self.timed)
            );
        }
    }

    fn beat(&mut self, progress: &Progress) {
        if let Some(live) = &mut self.live {
            live.serve(&|| Figures {
                tally: progress.tally(),
                latency: progress.latency(),
                rows: progress.rows(),
                running: true,
            });
        }
    }
}

/// Fails before the run, not after it, when the `--json`, `--csv` or `--html` file cannot be
/// written. Leaves no trace: an existing file is opened without truncating it, a new one is
/// removed again.
pub fn check_outputs(outputs: &Outputs) -> Result<(), String> {
    if let Some(JsonOut::File(path)) = &outputs.json {
        check_writable("--json", path)?;
    }
    for (flag, path) in files(outputs) {
        if let Some(path) = path {
            check_writable(flag, path)?;
        }
    }
    if let Some(prefix) = &outputs.locust {
        for (suffix, _) in locust::FILES {
            check_writable("--locust-csv", &format!("{prefix}{suffix}"))?;
        }
    }
    if let Some(path) = &outputs.hgrm {
        check_writable("--hgrm", path)?;
        check_writable("--hgrm", &hgrm::uncorrected_path(path))?;
    }
    Ok(())
}

/// As `check_outputs`, for a sweep: with `--locust-csv`, each users step's files.
pub fn check_sweep_outputs(outputs: &Outputs, users: &[usize]) -> Result<(), String> {
    let mut plain = outputs.clone();
    plain.locust = None;
    check_outputs(&plain)?;
    for &n in users {
        let mut step = plain.clone();
        step.locust = outputs.locust.as_ref().map(|prefix| step_prefix(prefix, n));
        check_outputs(&step)?;
    }
    Ok(())
}

/// The report files besides the JSON, by flag: CSV, then HTML.
fn files(outputs: &Outputs) -> [(&'static str, &Option<String>); 2] {
    [("--csv", &outputs.csv), ("--html", &outputs.html)]
}

fn check_writable(flag: &str, path: &str) -> Result<(), String> {
    let existed = std::path::Path::new(path).exists();
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| format!("cannot write {flag} '{path}': {e}"))?;
    if !existed {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// A report's renderings, each writing to the stream it is given.
type Render<'a> = &'a dyn Fn(&mut dyn Write) -> io::Result<()>;

/// One report in every format.
struct Renderings<'a> {
    text: Render<'a>,
    json: Render<'a>,
    csv: Render<'a>,
    html: Render<'a>,
}

/// Writes the text report (stdout, or stderr when JSON goes to stdout), then the JSON, the
/// CSV and the HTML where `outputs` sends them.
fn emit(outputs: &Outputs, report: Renderings) -> Result<(), String> {
    let io_error = |e: io::Error| format!("cannot write the report: {e}");
    match &outputs.json {
        Some(JsonOut::Stdout) => {
            (report.text)(&mut io::stderr().lock()).map_err(io_error)?;
            (report.json)(&mut io::stdout().lock()).map_err(io_error)?;
        }
        Some(JsonOut::File(path)) => {
            (report.text)(&mut io::stdout().lock()).map_err(io_error)?;
            write_file("--json", path, report.json)?;
        }
        None => (report.text)(&mut io::stdout().lock()).map_err(io_error)?,
    }
    for ((flag, path), render) in files(outputs).into_iter().zip([report.csv, report.html]) {
        if let Some(path) = path {
            write_file(flag, path, render)?;
        }
    }
    Ok(())
}

fn write_file(flag: &str, path: &str, render: Render) -> Result<(), String> {
    let error = |e: io::Error| format!("cannot write {flag} '{path}': {e}");
    let mut out = BufWriter::new(File::create(path).map_err(error)?);
    render(&mut out).and_then(|_| out.flush()).map_err(error)
}

/// Locust's four files of one run, under `prefix`.
fn write_locust(prefix: &str, summary: &Summary) -> Result<(), String> {
    for (suffix, writer) in locust::FILES {
        let path = format!("{prefix}{suffix}");
        write_file("--locust-csv", &path, &|out| writer(out, summary))?;
    }
    Ok(())
}

/// The prefix of a users sweep's step with `users` users, as a Locust user names one run of
/// a scaling analysis: `results/scale_10users`.
pub fn step_prefix(prefix: &str, users: usize) -> String {
    format!("{prefix}_{users}users")
}

/// `--hgrm`: the latency's distribution, and in rate mode the uncorrected one beside it.
fn write_hgrm(path: &str, summary: &Summary) -> Result<(), String> {
    let (latency, uncorrected) = summary.distributions()?;
    write_file("--hgrm", path, &|out| hgrm::write(out, &latency))?;
    if let Some(uncorrected) = uncorrected {
        let path = hgrm::uncorrected_path(path);
        write_file("--hgrm", &path, &|out| hgrm::write(out, &uncorrected))?;
    }
    Ok(())
}

/// Writes a run's reports (with `--locust-csv`, Locust's four files too; with `--hgrm`, the
/// latency distribution).
pub fn report(outputs: &Outputs, summary: &Summary) -> Result<(), String> {
    if let Some(prefix) = &outputs.locust {
        write_locust(prefix, summary)?;
    }
    if let Some(path) = &outputs.hgrm {
        write_hgrm(path, summary)?;
    }
    emit(
        outputs,
        Renderings {
            text: &|out| text::write(out, summary),
            json: &|out| json::write(out, summary),
            csv: &|out| csv::write_seconds(out, summary),
            html: &|out| html::write(out, summary),
        },
    )
}

pub fn exit_code(summary: &Summary) -> i32 {
    if summary.successes == 0 || summary.missed_slo() {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}

/// A sweep failed when no step had a success; a `--rates` sweep also when any step missed
/// the objective, and `--find-max` when no rate met it (its search misses steps by design).
pub fn sweep_exit_code(report: &SweepReport) -> i32 {
    let missed = match report.max_rates.is_empty() {
        false => report.max_rates.iter().any(|m| m.rate.is_none()),
        true => report.steps.iter().any(Summary::missed_slo),
    };
    if missed || report.steps.iter().all(|s| s.successes == 0) {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}

/// `blast serve`: runs the built-in target until its duration ends or Ctrl-C.
pub fn serve(config: ServeConfig) -> Result<ServeStats, String> {
    limits::raise_open_files();
    signal::install();
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let server = Server::start(config)?;
    eprintln!(
        "blast serve: listening on {scheme}://{}/ (/predict, /health, /generate); Ctrl-C stops",
        server.addr
    );
    let stats = server.wait()?;
    eprintln!("{}", stats.line());
    Ok(stats)
}

/// `blast demo`: the built-in target on the last allowed CPU, the client on the others (or
/// both on the one CPU there is), the prediction check on. Returns the client's summary.
pub fn demo(config: &mut Config) -> Result<Summary, String> {
    let cpus = crate::run::plan::choose_cpus(None)?;
    let (server_cpus, client_cpus) = match cpus.split_last() {
        Some((last, rest)) if !rest.is_empty() => (vec![*last], rest.to_vec()),
        _ => (cpus.clone(), cpus.clone()),
    };
    let mut serve = ServeConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    serve.threads = Some(1);
    serve.cpus = (!server_cpus.is_empty()).then_some(server_cpus.clone());
    let server = Server::start(serve)?;
    config.url = Url::parse(&format!("http://{}/predict", server.addr))?;
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

/// `--rates`, `--find-max` and `--each`: runs one step per rate (with `--each`, per rate and
/// target); stops early on Ctrl-C.
pub fn sweep(config: &Config) -> Result<SweepReport, String> {
    let mut step_config = config.clone();
    step_config.sweep = None;
    step_config.each = false;
    let mut steps = Vec::new();
    let mut max_rates = Vec::new();
    match &config.sweep {
        Some(Sweep::Rates(_) | Sweep::Users(_)) | None => {
            // Each step's rate and connections.
            let points: Vec<(Option<f64>, usize)> = match &config.sweep {
                Some(Sweep::Rates(rates)) => rates
                    .iter()
                    .map(|&r| (Some(r), config.connections))
                    .collect(),
                Some(Sweep::Users(users)) => users.iter().map(|&c| (None, c)).collect(),
                _ => vec![(config.rate, config.connections)],
            };
            'points: for (rate, connections) in points {
                step_config.rate = rate;
                step_config.connections = connections;
                step_config.ramp = config.ramp_for(connections);
                for alone in each_target(&step_config, config.each) {
                    steps.push(run(&alone)?);
                    step_config.health = None;
                    if signal::stop_requested() {
                        break 'points;
                    }
                }
            }
        }
        Some(Sweep::FindMax) => {
            for alone in each_target(&step_config, config.each) {
                let rate = find_max(alone, config.rate.unwrap_or(1000.0), &mut steps)?;
                let target = steps.last().filter(|_| config.each);
                let target = target.map(|last| step_target(last).to_string());
                max_rates.push(MaxRate { target, rate });
                if signal::stop_requested() {
                    break;
                }
            }
        }
    }
    let users = matches!(config.sweep, Some(Sweep::Users(_)));
    let knees = match users {
        true => knees(&steps, config.each),
        false => Vec::new(),
    };
    Ok(SweepReport {
        steps,
        max_rates,
        each: config.each,
        users,
        knees,
    })
}

/// A users sweep's knees: for its curve (with `--each`, each target's), the last number of
/// users before the throughput stopped growing with them (`crate::run::sweep::knee`);
/// `None` where it never stopped.
fn knees(steps: &[Summary], each: bool) -> Vec<Knee> {
    let mut names: Vec<Option<&str>> = Vec::new();
    for step in steps {
        let name = each.then(|| step_target(step));
        if !names.contains(&name) {
            names.push(name);
        }
    }
    let knee = |name: Option<&str>| {
        let mine: Vec<&Summary> = (steps.iter())
            .filter(|s| name.is_none_or(|n| step_target(s) == n))
            .collect();
        let points: Vec<(f64, f64)> = (mine.iter())
            .map(|s| (s.connections.requested as f64, s.rps))
            .collect();
        let at = crate::run::sweep::knee(&points)?;
        Some(mine[at].connections.requested)
    };
    (names.into_iter())
        .map(|name| Knee {
            target: name.map(str::to_string),
            users: knee(name),
        })
        .collect()
}

/// `--find-max`: doubles from `start` until a step misses the objective, then bisects; each
/// step is pushed to `steps`. Returns the highest rate that met it.
fn find_max(
    mut config: Config,
    start: f64,
    steps: &mut Vec<Summary>,
) -> Result<Option<f64>, String> {
    let mut search = Search::new(start);
    while let Some(rate) = search.next_rate() {
        config.rate = Some(rate);
        let step = run(&config)?;
        config.health = None;
        search.record(rate, step.slo.as_ref().is_some_and(|v| v.met()));
        steps.push(step);
        if signal::stop_requested() {
            break;
        }
    }
    Ok(search.best())
}

/// The runs of one step: with `--each`, one per target of the mix, alone (its lines only,
/// judged by its own bounds and the unscoped ones); otherwise the mix as it is.
fn each_target(config: &Config, each: bool) -> Vec<Config> {
    let Some(mix) = config.mix.as_ref().filter(|_| each) else {
        return vec![config.clone()];
    };
    crate::run::mix::names(mix)
        .into_iter()
        .map(|name| {
            let mut alone = config.clone();
            alone.mix = Some(mix.iter().filter(|l| l.name == name).cloned().collect());
            alone.slo = config.slo.as_ref().map(|slo| slo.for_target(name));
            alone
        })
        .collect()
}

/// Writes `blast compare`'s table, its JSON and its page (it has no CSV).
pub fn report_comparison(outputs: &Outputs, c: &Comparison) -> Result<(), String> {
    emit(
        outputs,
        Renderings {
            text: &|out| compare::write_text(out, c),
            json: &|out| {
                serde_json::to_writer_pretty(&mut *out, &compare::to_value(c))?;
                writeln!(out)
            },
            csv: &|_| Ok(()),
            html: &|out| compare::write_html(out, c),
        },
    )
}

/// Writes a sweep's reports: its table, its JSON, and a CSV row per step.
pub fn report_sweep(outputs: &Outputs, report: &SweepReport) -> Result<(), String> {
    // A users sweep (the only sweep `--locust-csv` takes): a run's files per step.
    if let Some(prefix) = &outputs.locust {
        for step in &report.steps {
            write_locust(&step_prefix(prefix, step.connections.requested), step)?;
        }
    }
    emit(
        outputs,
        Renderings {
            text: &|out| {
                sweep_report::write_text(out, report)?;
                match outputs.chart || outputs.text_on_terminal() {
                    true => ascii::write_sweep(out, report),
                    false => Ok(()),
                }
            },
            json: &|out| {
                serde_json::to_writer_pretty(&mut *out, &sweep_report::to_value(report))?;
                writeln!(out)
            },
            csv: &|out| csv::write_steps(out, report),
            html: &|out| html::write_sweep(out, report),
        },
    )
}

//! Which charts each report has: the series drawn from a run's per-second rows and latency,
//! or from a sweep's steps. The data only: `chart.rs` draws them as SVG for the HTML page,
//! `ascii.rs` as text for a terminal, so the two cannot show different numbers.

use super::chart::{self, Chart, Series, Unit};
use super::sweep::{self, Knee, SweepReport};
use crate::results::compare::{Comparison, DONE, P99, SERVER, SUCCESS};
use crate::results::numbers::Latency;
use crate::results::series::SecondRow;
use crate::results::slo::{Bound, Slo};
use crate::results::summary::{Summary, TargetSummary};
use crate::results::usage::ServerUsage;
use crate::units::format_micros;

const MIB: f64 = 1024.0 * 1024.0;

/// Targets drawn in the by-target chart: as many as it has colours for.
const CHART_TARGETS: usize = 4;

pub fn run_charts(s: &Summary) -> Vec<Chart<'_>> {
    let mut throughput = vec![
        Series {
            name: "ok/s",
            points: per_second(s, |r| (r.requests - r.failures) as f64),
        },
        Series {
            name: "failed/s",
            points: per_second(s, |r| r.failures as f64),
        },
    ];
    let mut distribution = vec![Series {
        name: if s.rate.is_some() {
            "from intended send"
        } else {
            "latency"
        },
        points: spectrum(&s.latency),
    }];
    if let Some(uncorrected) = &s.uncorrected {
        // First: the ok/s that keeps up with it is then drawn over it, dashed and named so.
        throughput.insert(
            0,
            Series {
                name: "sent/s",
                points: per_second(s, |r| r.sent as f64),
            },
        );
        distribution.push(Series {
            name: "from actual send (uncorrected)",
            points: spectrum(uncorrected),
        });
    }
    let answered = |r: &SecondRow| r.requests > r.failures || r.p99_us > 0.0;
    let mut per_second_latency = vec![
        Series {
            name: "p50",
            points: per_second_where(s, answered, |r| r.p50_us),
        },
        Series {
            name: "p99",
            points: per_second_where(s, answered, |r| r.p99_us),
        },
    ];
    if s.per_second.iter().any(|r| r.max_us.is_some()) {
        per_second_latency.push(Series {
            name: "max",
            points: per_second_where(s, answered, |r| r.max_us.unwrap_or(0.0)),
        });
    }
    if let Some(first_byte) = &s.first_byte {
        distribution.push(Series {
            name: "to the first body byte",
            points: spectrum(first_byte),
        });
        per_second_latency.push(Series {
            name: "first byte p99",
            points: per_second_where(s, answered, |r| r.first_byte_p99_us.unwrap_or(0.0)),
        });
    }
    let mut charts = vec![
        Chart {
            title: "Throughput per second".into(),
            x: Unit::Seconds,
            y: Unit::Rate,
            series: throughput,
            ..Default::default()
        },
        Chart {
            title: "Latency per second".into(),
            x: Unit::Seconds,
            y: Unit::Micros,
            series: per_second_latency,
            ..Default::default()
        },
        Chart {
            title: "Latency by percentile".into(),
            x: Unit::Nines,
            y: Unit::Micros,
            series: distribution,
            ..Default::default()
        },
    ];
    if s.server.is_some() {
        let sampled = |r: &SecondRow| r.server_cpu_pct.is_some();
        charts.push(Chart {
            title: "Server CPU per second (% of one core)".into(),
            x: Unit::Seconds,
            y: Unit::Percent,
            series: vec![Series {
                name: "server CPU %",
                points: per_second_where(s, sampled, |r| r.server_cpu_pct.unwrap_or(0.0)),
            }],
            ..Default::default()
        });
        charts.push(Chart {
            title: "Server memory per second (MiB, resident)".into(),
            x: Unit::Seconds,
            y: Unit::Mib,
            series: vec![Series {
                name: "server MiB",
                points: per_second_where(s, sampled, |r| {
                    r.server_rss_bytes.unwrap_or(0) as f64 / MIB
                }),
            }],
            ..Default::default()
        });
    }
    // The connections open, and a closed loop that ramped its users: Locust's "users" line.
    let ramped =
        s.per_second.first().and_then(|r| r.users) != s.per_second.last().and_then(|r| r.users);
    let counted = s.per_second.iter().any(|r| r.connections.is_some());
    let mut open = Vec::new();
    if ramped {
        open.push(Series {
            name: "users",
            points: per_second_where(s, |r| r.users.is_some(), |r| r.users.unwrap_or(0) as f64),
        });
    }
    if counted {
        open.push(Series {
            name: "connections open",
            points: per_second_where(
                s,
                |r| r.connections.is_some(),
                |r| r.connections.unwrap_or(0) as f64,
            ),
        });
    }
    let title = match (ramped, counted) {
        (true, true) => "Users and connections open per second",
        (true, false) => "Users per second",
        (false, _) => "Connections open per second",
    };
    if !open.is_empty() {
        charts.push(Chart {
            title: title.into(),
            x: Unit::Seconds,
            y: if ramped {
                Unit::Users
            } else {
                Unit::Connections
            },
            series: open,
            ..Default::default()
        });
    }
    charts.extend(by_target(
        &s.targets,
        [
            "Latency by percentile, by target",
            "Latency by percentile, by target (the first four)",
        ],
        Unit::Nines,
        |t| spectrum(&t.latency),
    ));
    charts
}

/// A count of each second as a rate, at the middle of the time the second covered: the
/// last second of a run is usually partial, and its count read as a whole second's would
/// show a drop that did not happen.
fn per_second(s: &Summary, count: impl Fn(&SecondRow) -> f64) -> Vec<(f64, f64)> {
    covered_seconds(s, |_| true)
        .map(|(x, covered, row)| (x, count(row) / covered))
        .collect()
}

/// A figure of each second in which `keep` holds (a percentile exists only in a second that
/// saw a response).
fn per_second_where(
    s: &Summary,
    keep: impl Fn(&SecondRow) -> bool,
    value: impl Fn(&SecondRow) -> f64,
) -> Vec<(f64, f64)> {
    covered_seconds(s, keep)
        .map(|(x, _, row)| (x, value(row)))
        .collect()
}

/// The seconds of the run with the middle of the time each covered and its length; a
/// sliver under 50 ms is left out (a rate over it is noise).
fn covered_seconds<'a>(
    s: &'a Summary,
    keep: impl Fn(&SecondRow) -> bool + 'a,
) -> impl Iterator<Item = (f64, f64, &'a SecondRow)> {
    s.per_second.iter().filter_map(move |row| {
        let start = f64::from(row.second);
        // The last second also holds the drain's completions.
        let covered = (s.duration_s + s.drain_s - start).clamp(0.0, 1.0);
        (covered >= 0.05 && keep(row)).then_some((start + covered / 2.0, covered, row))
    })
}

fn spectrum(latency: &Latency) -> Vec<(f64, f64)> {
    latency
        .spectrum
        .iter()
        .map(|&(q, us)| (chart::nines(q, latency.count), us))
        .collect()
}

/// `blast compare`: each chart with a line per report. Sweeps: done/s, p99, success % and
/// (where sampled) the server's CPU and memory against the target rate, one set per target
/// (the first four); single runs: ok/s and p99 per second, and latency by percentile.
pub fn compare_charts(c: &Comparison) -> Vec<Chart<'_>> {
    if c.sources.iter().all(|s| !s.sweep) {
        return compare_runs(c);
    }
    let mut targets: Vec<&Option<String>> = Vec::new();
    for row in c.rows.iter().filter(|r| r.key.rate.is_some()) {
        if !targets.contains(&&row.key.target) && targets.len() < CHART_TARGETS {
            targets.push(&row.key.target);
        }
    }
    let metrics = [
        (DONE, "done/s", Unit::Rate, 1.0),
        (P99, "p99", Unit::Micros, 1.0),
        (SUCCESS, "Success %", Unit::Percent, 1.0),
        (SERVER, "Server CPU (% of one core)", Unit::Percent, 1.0),
        (
            SERVER + 1,
            "Server memory (MiB, largest)",
            Unit::Mib,
            1.0 / MIB,
        ),
    ];
    let shown = if c.has_server() { metrics.len() } else { 3 };
    let mut charts = Vec::new();
    for target in targets {
        let scope = target
            .as_deref()
            .map_or(String::new(), |t| format!(", {t}"));
        for &(metric, name, y, scale) in &metrics[..shown] {
            let series = (c.sources.iter().enumerate())
                .map(|(i, source)| {
                    let rows = c.rows.iter().filter(|r| &r.key.target == target);
                    let point = |r: &crate::results::compare::Row| {
                        Some((r.key.rate?, r.values[i]?[metric]? * scale))
                    };
                    let mut points: Vec<(f64, f64)> = rows.filter_map(point).collect();
                    points.sort_by(|a, b| a.0.total_cmp(&b.0));
                    Series {
                        name: &source.label,
                        points,
                    }
                })
                .collect();
            charts.push(Chart {
                title: format!("{name} by target rate{scope}"),
                x: Unit::Rate,
                y,
                series,
                ..Default::default()
            });
        }
    }
    charts
}

/// `blast compare` of single runs: their per-second and percentile charts, overlaid.
fn compare_runs(c: &Comparison) -> Vec<Chart<'_>> {
    let per_report = |points: &dyn Fn(&Summary) -> Vec<(f64, f64)>| {
        (c.sources.iter())
            .map(|s| Series {
                name: &s.label,
                points: points(&s.steps[0]),
            })
            .collect()
    };
    let answered = |r: &SecondRow| r.requests > r.failures || r.p99_us > 0.0;
    vec![
        Chart {
            title: "ok/s per second".into(),
            x: Unit::Seconds,
            y: Unit::Rate,
            series: per_report(&|s| per_second(s, |r| (r.requests - r.failures) as f64)),
            ..Default::default()
        },
        Chart {
            title: "p99 per second".into(),
            x: Unit::Seconds,
            y: Unit::Micros,
            series: per_report(&|s| per_second_where(s, answered, |r| r.p99_us)),
            ..Default::default()
        },
        Chart {
            title: "Latency by percentile".into(),
            x: Unit::Nines,
            y: Unit::Micros,
            series: per_report(&|s| spectrum(&s.latency)),
            ..Default::default()
        },
    ]
}

pub fn sweep_charts(r: &SweepReport) -> Vec<Chart<'_>> {
    if r.users {
        return users_charts(r);
    }
    if r.each {
        return each_charts(r);
    }
    let slo = objective(r);
    let mut steps: Vec<&Summary> = r.steps.iter().collect();
    // --find-max tries rates out of order; the charts read them by rate.
    steps.sort_by(|a, b| target(a).total_cmp(&target(b)));
    let by_rate = |value: fn(&Summary) -> f64| -> Vec<(f64, f64)> {
        steps.iter().map(|s| (target(s), value(s))).collect()
    };
    let mut latency = vec![
        Series {
            name: "p50",
            points: by_rate(|s| s.latency.p50),
        },
        Series {
            name: "p95",
            points: by_rate(|s| s.latency.p95),
        },
        Series {
            name: "p99",
            points: by_rate(|s| s.latency.p99),
        },
    ];
    // `--first-byte`: its p99 beside the latency's.
    if steps.first().is_some_and(|s| s.first_byte.is_some()) {
        latency.push(Series {
            name: "first byte p99",
            points: by_rate(|s| s.first_byte.as_ref().map_or(0.0, |f| f.p99)),
        });
    }
    let mut charts = vec![
        Chart {
            title: "Achieved rate by target rate".into(),
            x: Unit::Rate,
            y: Unit::Rate,
            series: vec![
                Series {
                    name: "target/s",
                    points: by_rate(target),
                },
                Series {
                    name: "sent/s",
                    points: by_rate(|s| s.rate.as_ref().map_or(0.0, |r| r.send_rate)),
                },
                Series {
                    name: "done/s",
                    points: by_rate(|s| s.rps),
                },
                Series {
                    name: "ok/s",
                    points: by_rate(|s| s.success_rps),
                },
            ],
            bounds: throughput_bound(&slo),
            verdicts: verdicts(&steps, target),
            ..Default::default()
        },
        Chart {
            title: "Latency by target rate".into(),
            x: Unit::Rate,
            y: Unit::Micros,
            series: latency,
            bounds: latency_bounds(&slo, None),
            verdicts: verdicts(&steps, target),
            ..Default::default()
        },
        Chart {
            title: "Success % by target rate".into(),
            x: Unit::Rate,
            y: Unit::Percent,
            series: vec![Series {
                name: "success",
                points: by_rate(|s| s.success_pct),
            }],
            bounds: success_bound(&slo),
            ..Default::default()
        },
    ];
    charts.extend(server_charts(r, &[""], target, "target rate", Unit::Rate));
    // `--targets`: every step ran the same mix, so the first step names the targets.
    let targets = steps.first().map_or(&[][..], |s| &s.targets);
    charts.extend(by_target(
        targets,
        [
            "p99 by target rate, by target",
            "p99 by target rate, by target (the first four)",
        ],
        Unit::Rate,
        |t| {
            let p99 = |s: &&Summary| {
                let row = s.targets.iter().find(|u| u.target.name == t.target.name)?;
                Some((target(s), row.latency.p99))
            };
            steps.iter().filter_map(p99).collect()
        },
    ));
    charts
}

/// `--targets`: a chart of latency with a line per target (the first `CHART_TARGETS`), titled
/// `titles[1]` when there are more; none without targets.
/// `--each` with `--rates`: a line per target (the first four) of what it achieved, its p99
/// and (`--server-pid`) the server's CPU, against the target rate. A closed loop's steps have
/// no rate to draw against: its page is the table.
fn each_charts(r: &SweepReport) -> Vec<Chart<'_>> {
    if r.steps.iter().any(|s| s.rate.is_none()) {
        return Vec::new();
    }
    let names = each_names(r);
    let per_target = |value| target_lines(r, &names, value);
    let mut charts = vec![
        Chart {
            title: "Achieved (ok/s) by target rate, by target".into(),
            x: Unit::Rate,
            y: Unit::Rate,
            series: per_target(|s| Some(s.success_rps)),
            ..Default::default()
        },
        Chart {
            title: "p99 by target rate, by target".into(),
            x: Unit::Rate,
            y: Unit::Micros,
            series: per_target(|s| Some(s.latency.p99)),
            bounds: latency_bounds(&objective(r), Some(0.99)),
            ..Default::default()
        },
    ];
    charts.push(Chart {
        title: "Success % by target rate, by target".into(),
        x: Unit::Rate,
        y: Unit::Percent,
        series: per_target(|s| Some(s.success_pct)),
        bounds: success_bound(&objective(r)),
        ..Default::default()
    });
    let by = "target rate, by target";
    charts.extend(server_charts(r, &names, target, by, Unit::Rate));
    charts
}

/// A users sweep (`-c 10,25,50`): throughput, latency, success and (`--server-pid`) the
/// server's CPU and memory against the users; with `--each`, a line per target (the first
/// four) of its ok/s, p99, success and server CPU.
fn users_charts(r: &SweepReport) -> Vec<Chart<'_>> {
    let names = each_names(r);
    let lines = |value: fn(&Summary) -> Option<f64>| lines_by(r, &names, users, value);
    let slo = objective(r);
    let steps: Vec<&Summary> = r.steps.iter().collect();
    // Without `--each`, each step's verdict on the objective.
    let judged = || match r.each {
        true => Vec::new(),
        false => verdicts(&steps, users),
    };
    let latency = match r.each {
        true => lines(|s| Some(s.latency.p99)),
        false => {
            let percentile = |name, value: fn(&Summary) -> f64| Series {
                name,
                points: r.steps.iter().map(|s| (users(s), value(s))).collect(),
            };
            vec![
                percentile("p50", |s| s.latency.p50),
                percentile("avg", |s| s.latency.mean),
                percentile("p95", |s| s.latency.p95),
                percentile("p99", |s| s.latency.p99),
            ]
        }
    };
    let mut charts = vec![
        Chart {
            title: "Throughput (done/s) by users".into(),
            x: Unit::Users,
            y: Unit::Rate,
            series: named_line("done/s", lines(|s| Some(s.rps))),
            bounds: throughput_bound(&slo),
            verdicts: judged(),
            marks: knee_marks(r, &names),
        },
        Chart {
            title: format!(
                "Latency by users{}",
                if r.each { " (p99), by target" } else { "" }
            ),
            x: Unit::Users,
            y: Unit::Micros,
            series: latency,
            bounds: latency_bounds(&slo, None),
            verdicts: judged(),
            ..Default::default()
        },
        Chart {
            title: "Success % by users".into(),
            x: Unit::Users,
            y: Unit::Percent,
            series: named_line("success", lines(|s| Some(s.success_pct))),
            bounds: success_bound(&slo),
            ..Default::default()
        },
    ];
    let by = if r.each { "users, by target" } else { "users" };
    charts.extend(server_charts(r, &names, users, by, Unit::Users));
    charts
}

/// `--server-pid`: the server's CPU and largest memory against a sweep's `x` (`by` names it),
/// a line per name of [`each_names`]: with `--each` its average CPU, otherwise the average
/// and the busiest second. None without `--server-pid`.
fn server_charts<'a>(
    r: &'a SweepReport,
    names: &[&'a str],
    x: fn(&Summary) -> f64,
    by: &str,
    unit: Unit,
) -> Vec<Chart<'a>> {
    if r.steps.iter().all(|s| s.server.is_none()) {
        return Vec::new();
    }
    let usage = |value: fn(&ServerUsage) -> f64| {
        lines_by(r, names, x, move |s| Some(value(s.server.as_ref()?)))
    };
    let cpu = match r.each {
        true => usage(|u| u.cpu_avg_pct),
        false => [
            named_line("average", usage(|u| u.cpu_avg_pct)),
            named_line("busiest second", usage(|u| u.cpu_max_pct)),
        ]
        .into_iter()
        .flatten()
        .collect(),
    };
    let memory = named_line("largest", usage(|u| u.rss_max_bytes as f64 / MIB));
    vec![
        Chart {
            title: format!("Server CPU by {by} (% of one core)"),
            x: unit,
            y: Unit::Percent,
            series: cpu,
            ..Default::default()
        },
        Chart {
            title: format!("Server memory by {by} (MiB, largest)"),
            x: unit,
            y: Unit::Mib,
            series: memory,
            ..Default::default()
        },
    ]
}

/// A users sweep's knees, where throughput stopped growing with the users, as lines across
/// its throughput chart: the whole run's, or with `--each` those of the targets drawn.
fn knee_marks(r: &SweepReport, names: &[&str]) -> Vec<chart::Mark> {
    let drawn = |knee: &&Knee| knee.target.as_deref().is_none_or(|t| names.contains(&t));
    let mark = |knee: &Knee| {
        let users = knee.users?;
        let of = knee
            .target
            .as_ref()
            .map_or(String::new(), |t| format!(" of {t}"));
        Some(chart::Mark {
            x: users as f64,
            label: format!("knee{of}: {users} users"),
        })
    };
    r.knees.iter().filter(drawn).filter_map(mark).collect()
}

/// A single unnamed line (a sweep without `--each`) named by the table's column.
fn named_line<'a>(name: &'static str, mut lines: Vec<Series<'a>>) -> Vec<Series<'a>> {
    if let [only] = lines.as_mut_slice()
        && only.name.is_empty()
    {
        only.name = name;
    }
    lines
}

fn users(s: &Summary) -> f64 {
    s.connections.requested as f64
}

/// The names a sweep's lines are drawn for: with `--each` its targets (the first four),
/// otherwise one unnamed line for every step.
fn each_names(r: &SweepReport) -> Vec<&str> {
    if !r.each {
        return vec![""];
    }
    let mut names: Vec<&str> = Vec::new();
    for step in &r.steps {
        let name = sweep::step_target(step);
        if !names.contains(&name) && names.len() < CHART_TARGETS {
            names.push(name);
        }
    }
    names
}

/// `--each`: one line per name, of `value` at each rate the name ran at.
fn target_lines<'a>(
    r: &'a SweepReport,
    names: &[&'a str],
    value: fn(&Summary) -> Option<f64>,
) -> Vec<Series<'a>> {
    lines_by(r, names, target, value)
}

/// One line per name (`""`: every step), of `value` against `x`, in order of `x`.
fn lines_by<'a>(
    r: &'a SweepReport,
    names: &[&'a str],
    x: fn(&Summary) -> f64,
    value: impl Fn(&Summary) -> Option<f64>,
) -> Vec<Series<'a>> {
    let mut lines = Vec::new();
    for &name in names {
        let mine = (r.steps.iter()).filter(|s| name.is_empty() || sweep::step_target(s) == name);
        let mut points: Vec<(f64, f64)> = mine.filter_map(|s| Some((x(s), value(s)?))).collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        lines.push(Series { name, points });
    }
    lines
}

fn by_target<'a>(
    targets: &'a [TargetSummary],
    titles: [&'static str; 2],
    x: Unit,
    points: impl Fn(&TargetSummary) -> Vec<(f64, f64)>,
) -> Option<Chart<'a>> {
    (!targets.is_empty()).then(|| Chart {
        title: titles[usize::from(targets.len() > CHART_TARGETS)].into(),
        x,
        y: Unit::Micros,
        series: targets
            .iter()
            .take(CHART_TARGETS)
            .map(|t| Series {
                name: &t.target.name,
                points: points(t),
            })
            .collect(),
        ..Default::default()
    })
}

/// The objective a sweep's steps were judged against, read back from their verdict (so a
/// report read back draws it too).
fn objective(r: &SweepReport) -> Option<Slo> {
    let verdict = r.steps.iter().find_map(|s| s.slo.as_ref())?;
    Slo::parse(&verdict.objective).ok()
}

/// The objective's bounds on the whole run (not one target's) that `draw` places on a
/// chart's y axis, as lines across it.
fn drawn_bounds(
    slo: &Option<Slo>,
    draw: impl Fn(Bound) -> Option<chart::Bound>,
) -> Vec<chart::Bound> {
    let whole_run = slo
        .iter()
        .flat_map(|s| &s.bounds)
        .filter(|b| b.target.is_none());
    whole_run.filter_map(|b| draw(b.bound)).collect()
}

/// Latency bounds across a latency chart (`only`: those on this percentile alone).
fn latency_bounds(slo: &Option<Slo>, only: Option<f64>) -> Vec<chart::Bound> {
    drawn_bounds(slo, |bound| match bound {
        Bound::Latency { quantile, max_us } if only.is_none_or(|q| q == quantile) => {
            Some(chart::Bound {
                y: max_us,
                label: format!("{} < {}", percentile(quantile), format_micros(max_us)),
            })
        }
        _ => None,
    })
}

/// `errors<1%` as a success chart shows it: success > 99%.
fn success_bound(slo: &Option<Slo>) -> Vec<chart::Bound> {
    drawn_bounds(slo, |bound| match bound {
        Bound::Errors { max_pct } => Some(chart::Bound {
            y: 100.0 - max_pct,
            label: format!("success > {}% (errors < {max_pct}%)", 100.0 - max_pct),
        }),
        _ => None,
    })
}

/// `rps>5k` across a throughput chart.
fn throughput_bound(slo: &Option<Slo>) -> Vec<chart::Bound> {
    drawn_bounds(slo, |bound| match bound {
        Bound::Throughput { min_rps } => Some(chart::Bound {
            y: min_rps,
            label: format!("ok/s > {min_rps}"),
        }),
        _ => None,
    })
}

fn percentile(quantile: f64) -> String {
    match quantile {
        1.0 => "max".into(),
        q => format!("p{}", (q * 1000.0).round() / 10.0),
    }
}

/// Each judged step's verdict at its place on the x axis.
fn verdicts(steps: &[&Summary], x: fn(&Summary) -> f64) -> Vec<chart::Verdict> {
    (steps.iter())
        .filter_map(|s| {
            let verdict = s.slo.as_ref()?;
            Some(chart::Verdict {
                x: x(s),
                missed: verdict.missed.clone(),
            })
        })
        .collect()
}

fn target(s: &Summary) -> f64 {
    s.rate.as_ref().map_or(0.0, |r| r.target)
}

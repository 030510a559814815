//! Line charts as inline SVG for the HTML report. No script and no external file: the charts
//! draw anywhere, offline, and print as they show.

use std::io::{self, Write};

use crate::units::format_micros;

/// How an axis maps and labels its values, and what it is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Unit {
    /// Seconds of the run.
    Seconds,
    /// Any count.
    #[default]
    Count,
    /// Requests per second (a rate asked for, or achieved).
    Rate,
    /// A percentage (success, or a server's CPU as a share of one core).
    Percent,
    /// Mebibytes (a server's resident memory).
    Mib,
    /// Users (a closed loop's connections, as Locust counts users).
    Users,
    /// Connections open.
    Connections,
    /// Latency in microseconds, labelled `500us`, `1.50ms`, `2.00s`.
    Micros,
    /// "Nines" of a percentile: x = log10(1 / (1 - q)), labelled 0%, 90%, 99%, 99.9%…
    /// (the HdrHistogram plot's axis, on which the tail gets the room it deserves).
    Nines,
}

pub struct Series<'a> {
    pub name: &'a str,
    pub points: Vec<(f64, f64)>,
}

#[derive(Default)]
pub struct Chart<'a> {
    pub title: String,
    pub x: Unit,
    pub y: Unit,
    pub series: Vec<Series<'a>>,
    /// Horizontal lines across the plot: an objective's bounds on this chart's y.
    pub bounds: Vec<Bound>,
    /// A mark under each step of a sweep: whether it met the objective.
    pub verdicts: Vec<Verdict>,
    /// Vertical lines across the plot: a users sweep's knee.
    pub marks: Vec<Mark>,
}

/// A place on the x axis drawn as a line across the plot, named `label` (`knee: 32 users`).
pub struct Mark {
    pub x: f64,
    pub label: String,
}

/// A bound of the objective (`--slo`) drawn at `y`, named `label` (`p99 < 100ms`).
pub struct Bound {
    pub y: f64,
    pub label: String,
}

/// A sweep step at `x` that met the objective or missed it (`why`).
pub struct Verdict {
    pub x: f64,
    pub missed: Option<String>,
}

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 280.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 16.0;
/// Room above the plot for the title, the legend and the objective's verdicts.
const TOP: f64 = 62.0;
const BOTTOM: f64 = 36.0;
/// Series with at most this many points get a marker on each.
const MARKED: usize = 30;
const COLORS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
];

/// The x position on a `Nines` axis of quantile `q`; the maximum (q = 1) is put one decade
/// past the count's resolution, where `count` samples stop telling percentiles apart.
pub fn nines(q: f64, count: u64) -> f64 {
    let cap = (count.max(1) as f64).log10() + 1.0;
    if q >= 1.0 {
        cap
    } else {
        (1.0 / (1.0 - q)).log10().min(cap)
    }
}

/// Data bounds: the y axis from zero, a time or rate axis from zero too, and a degenerate
/// range widened to one unit.
fn bounds(chart: &Chart) -> (f64, f64, f64) {
    let points = chart.series.iter().flat_map(|s| &s.points);
    let (mut x0, mut x1, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, 0.0f64);
    for &(x, y) in points {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    // An objective's bound shows even above every point, a mark even beside them.
    chart.bounds.iter().for_each(|b| y1 = y1.max(b.y));
    for mark in &chart.marks {
        (x0, x1) = (x0.min(mark.x), x1.max(mark.x));
    }
    if !x0.is_finite() {
        (x0, x1) = (0.0, 1.0);
    }
    if chart.x != Unit::Nines {
        x0 = x0.min(0.0);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= 0.0 {
        y1 = 1.0;
    }
    (x0, x1, y1)
}

/// The top of the y axis: the first tick above the highest value plus 5%.
pub(super) fn top(unit: Unit, y: f64) -> f64 {
    let step = step(unit, y * 1.05);
    (y * 1.05 / step).ceil() * step
}

/// The distance between ticks over a range `span` long: whole decades on a `Nines` axis,
/// otherwise 1, 2 or 5 times a power of ten, for about five ticks.
fn step(unit: Unit, span: f64) -> f64 {
    if unit == Unit::Nines {
        return 1.0;
    }
    let raw = span / 5.0;
    let decade = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * decade)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * decade)
}

/// Tick values covering `[lo, hi]`, `step` apart.
fn ticks(unit: Unit, lo: f64, hi: f64) -> Vec<f64> {
    let step = step(unit, hi - lo);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

/// The axis' name, written along it.
fn axis_name(unit: Unit) -> &'static str {
    match unit {
        Unit::Seconds => "time of the run",
        Unit::Count => "count",
        Unit::Rate => "requests/s",
        Unit::Percent => "%",
        Unit::Mib => "MiB",
        Unit::Users => "users",
        Unit::Connections => "connections",
        Unit::Micros => "latency",
        Unit::Nines => "percentile",
    }
}

pub(super) fn label(unit: Unit, value: f64) -> String {
    match unit {
        Unit::Seconds => format!("{}s", trimmed(value)),
        Unit::Count | Unit::Rate | Unit::Percent | Unit::Mib | Unit::Users | Unit::Connections => {
            count(value)
        }
        Unit::Micros => format_micros(value),
        Unit::Nines => {
            let decimals = (value as usize).saturating_sub(2);
            format!("{:.*}%", decimals, 100.0 * (1.0 - 10f64.powf(-value)))
        }
    }
}

/// A count tick: `800`, `2k`, `2.5k`, `1.2M` (one scale for every tick of an axis would need
/// the axis; thousands from 1,000 keep 8,000 and 10,000 alike).
fn count(value: f64) -> String {
    if value >= 1e6 {
        format!("{}M", trimmed(value / 1e6))
    } else if value >= 1e3 {
        format!("{}k", trimmed(value / 1e3))
    } else {
        trimmed(value)
    }
}

/// `value` with at most three decimals and no trailing zeros (a tick step of 0.1 times 3 is
/// 0.30000000000000004).
fn trimmed(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Writes `chart` as one `<svg>` element: grid and ticks, the axes' names, the objective's
/// bounds, a line per series (a series that coincides with an earlier one dashed, and named
/// so in its legend), the steps' verdicts, and hover bands whose `<title>` gives every
/// series' value there.
pub fn write(out: &mut dyn Write, chart: &Chart) -> io::Result<()> {
    let (x0, x1, y1) = bounds(chart);
    let y1 = top(chart.y, y1);
    let plot = Plot { x0, x1, y1 };
    writeln!(
        out,
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{title}"><title>{title}</title>"#,
        title = escape(&chart.title)
    )?;
    writeln!(
        out,
        r#"<text class="title" x="{LEFT}" y="20">{}</text>"#,
        escape(&chart.title)
    )?;
    write_axes(out, chart, &plot)?;
    for bound in &chart.bounds {
        let y = plot.y(bound.y);
        writeln!(
            out,
            r##"<line class="bound" x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#555" stroke-dasharray="2 3"/><text class="tick" x="{}" y="{:.1}" text-anchor="end">objective: {}</text>"##,
            WIDTH - RIGHT,
            WIDTH - RIGHT - 2.0,
            y - 4.0,
            escape(&bound.label)
        )?;
    }
    for (i, mark) in chart.marks.iter().enumerate() {
        // Labels stack down from the plot's top, beside their lines, clear of each other.
        let x = plot.x(mark.x);
        writeln!(
            out,
            r##"<line class="mark" x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{}" stroke="#555" stroke-dasharray="4 3"/><text class="tick" x="{:.1}" y="{}">{}</text>"##,
            HEIGHT - BOTTOM,
            x + 3.0,
            TOP + 12.0 * (i + 1) as f64,
            escape(&mark.label)
        )?;
    }
    let mut legend_x = LEFT;
    for (i, series) in chart.series.iter().enumerate() {
        let same = coincides(chart, i, &plot).map(|j| chart.series[j].name);
        legend_x = write_series(out, series, COLORS[i % COLORS.len()], same, &plot, legend_x)?;
    }
    for verdict in &chart.verdicts {
        // In the strip between the legend and the plot, clear of the lines.
        let (x, y) = (plot.x(verdict.x), TOP - 6.0);
        let (mark, color, says) = match &verdict.missed {
            None => ("✓", "#2ca02c", "met the objective".to_string()),
            Some(why) => ("✗", "#d62728", format!("missed the objective: {why}")),
        };
        writeln!(
            out,
            r#"<text class="verdict" x="{x:.1}" y="{y:.1}" text-anchor="middle" fill="{color}">{mark}<title>{}: {}</title></text>"#,
            label(chart.x, verdict.x),
            escape(&says)
        )?;
    }
    if chart.series.iter().all(|s| s.points.is_empty()) {
        writeln!(
            out,
            r#"<text class="empty" x="{}" y="{}" text-anchor="middle">no data</text>"#,
            WIDTH / 2.0,
            HEIGHT / 2.0
        )?;
    }
    write_hover(out, chart, &plot)?;
    writeln!(out, "</svg>")
}

/// The data range and where it lands in the picture.
struct Plot {
    x0: f64,
    x1: f64,
    y1: f64,
}

impl Plot {
    fn x(&self, x: f64) -> f64 {
        LEFT + (x - self.x0) / (self.x1 - self.x0) * (WIDTH - LEFT - RIGHT)
    }

    fn y(&self, y: f64) -> f64 {
        HEIGHT - BOTTOM - y / self.y1 * (HEIGHT - TOP - BOTTOM)
    }
}

/// The grid, the ticks and their labels, and each axis' name.
fn write_axes(out: &mut dyn Write, chart: &Chart, plot: &Plot) -> io::Result<()> {
    for y in ticks(chart.y, 0.0, plot.y1) {
        let (yy, label) = (plot.y(y), label(chart.y, y));
        writeln!(
            out,
            r#"<line class="grid" x1="{LEFT}" x2="{}" y1="{yy:.1}" y2="{yy:.1}"/><text class="tick" x="{}" y="{:.1}" text-anchor="end">{label}</text>"#,
            WIDTH - RIGHT,
            LEFT - 6.0,
            yy + 4.0
        )?;
    }
    for x in ticks(chart.x, plot.x0, plot.x1) {
        let (xx, label) = (plot.x(x), label(chart.x, x));
        writeln!(
            out,
            r#"<line class="grid" x1="{xx:.1}" x2="{xx:.1}" y1="{TOP}" y2="{}"/><text class="tick" x="{xx:.1}" y="{}" text-anchor="middle">{label}</text>"#,
            HEIGHT - BOTTOM,
            HEIGHT - BOTTOM + 16.0
        )?;
    }
    let middle = (TOP + HEIGHT - BOTTOM) / 2.0;
    writeln!(
        out,
        r#"<text class="axis" x="14" y="{middle:.1}" text-anchor="middle" transform="rotate(-90 14 {middle:.1})">{}</text><text class="axis" x="{}" y="{}" text-anchor="end">{}</text>"#,
        axis_name(chart.y),
        WIDTH - RIGHT,
        HEIGHT - 4.0,
        axis_name(chart.x)
    )
}

/// The series drawn before series `i` that it coincides with (every point within a pixel,
/// at the same x), so the later would hide under it unnoticed.
fn coincides(chart: &Chart, i: usize, plot: &Plot) -> Option<usize> {
    let mine = &chart.series[i].points;
    (0..i).find(|&j| {
        let theirs = &chart.series[j].points;
        !mine.is_empty()
            && mine.len() == theirs.len()
            && mine
                .iter()
                .zip(theirs)
                .all(|(a, b)| a.0 == b.0 && (plot.y(a.1) - plot.y(b.1)).abs() < 1.0)
    })
}

/// One series' line (dashed over the one it coincides with, `same`), its markers when it
/// has few points (each a measurement), and its legend entry at `legend_x`; returns where
/// the next entry goes.
fn write_series(
    out: &mut dyn Write,
    series: &Series,
    color: &str,
    same: Option<&str>,
    plot: &Plot,
    legend_x: f64,
) -> io::Result<f64> {
    let name = match same {
        Some(other) => format!("{} (same as {other})", series.name),
        None => series.name.to_string(),
    };
    let dash = match same {
        Some(_) => r#" stroke-dasharray="7 5""#,
        None => "",
    };
    write!(
        out,
        r#"<polyline class="series" fill="none" stroke="{color}" stroke-width="1.8"{dash} points=""#
    )?;
    for &(x, y) in &series.points {
        write!(out, "{:.1},{:.1} ", plot.x(x), plot.y(y))?;
    }
    writeln!(out, r#""><title>{}</title></polyline>"#, escape(&name))?;
    if series.points.len() <= MARKED {
        let radius = if same.is_some() { 4.5 } else { 3.0 };
        for &(x, y) in &series.points {
            writeln!(
                out,
                r#"<circle cx="{:.1}" cy="{:.1}" r="{radius}" fill="{}" stroke="{color}" stroke-width="1.5"/>"#,
                plot.x(x),
                plot.y(y),
                if same.is_some() { "none" } else { color },
            )?;
        }
    }
    writeln!(
        out,
        r#"<line x1="{legend_x}" x2="{}" y1="34" y2="34" stroke="{color}" stroke-width="3"{dash}/><text class="legend" x="{}" y="38">{}</text>"#,
        legend_x + 16.0,
        legend_x + 21.0,
        escape(&name)
    )?;
    Ok(legend_x + 36.0 + 6.5 * name.chars().count() as f64)
}

/// Bands at most this many to a chart: a band covers several x values of a long series.
const HOVER_BANDS: usize = 240;

/// Invisible vertical bands over the plot, each with a `<title>` of every series' value at
/// its x (a band of several x values: each series' lowest and highest there), so hovering
/// anywhere reads the numbers.
fn write_hover(out: &mut dyn Write, chart: &Chart, plot: &Plot) -> io::Result<()> {
    let mut xs: Vec<f64> = (chart.series.iter())
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let per_band = xs.len().div_ceil(HOVER_BANDS).max(1);
    let bands: Vec<&[f64]> = xs.chunks(per_band).collect();
    for (k, band) in bands.iter().enumerate() {
        let (first, last) = (band[0], band[band.len() - 1]);
        // From halfway to the previous band's last x to halfway to the next band's first.
        let left = match k {
            0 => plot.x(first) - 4.0,
            _ => (plot.x(bands[k - 1][bands[k - 1].len() - 1]) + plot.x(first)) / 2.0,
        };
        let right = match bands.get(k + 1) {
            Some(next) => (plot.x(last) + plot.x(next[0])) / 2.0,
            None => plot.x(last) + 4.0,
        };
        let mut text = label(chart.x, first);
        if band.len() > 1 {
            text.push_str(&format!("–{}", label(chart.x, last)));
        }
        for series in &chart.series {
            let within = series.points.iter().filter(|p| p.0 >= first && p.0 <= last);
            let (lo, hi) = within.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
                (lo.min(p.1), hi.max(p.1))
            });
            if lo.is_finite() {
                let value = match lo == hi {
                    true => precise(chart.y, lo),
                    false => format!("{}–{}", precise(chart.y, lo), precise(chart.y, hi)),
                };
                text.push_str(&format!("\n{}: {value}", series.name));
            }
        }
        writeln!(
            out,
            r#"<rect class="hover" x="{left:.1}" y="{TOP}" width="{:.1}" height="{}" fill="transparent"><title>{}</title></rect>"#,
            (right - left).max(1.0),
            HEIGHT - TOP - BOTTOM,
            escape(&text)
        )?;
    }
    Ok(())
}

/// A value as a hover shows it: a latency as the report writes it, a count to a tenth.
fn precise(unit: Unit, value: f64) -> String {
    match unit {
        Unit::Micros => format_micros(value),
        Unit::Nines | Unit::Seconds => label(unit, value),
        _ => {
            let text = format!("{value:.1}");
            text.strip_suffix(".0").unwrap_or(&text).to_string()
        }
    }
}

/// Escapes text for HTML and SVG content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        let cases: &[(Unit, f64, f64, &[f64])] = &[
            (Unit::Count, 0.0, 10.0, &[0.0, 2.0, 4.0, 6.0, 8.0, 10.0]),
            (Unit::Count, 0.0, 87_000.0, &[0.0, 20e3, 40e3, 60e3, 80e3]),
            (Unit::Seconds, 0.5, 2.5, &[0.5, 1.0, 1.5, 2.0, 2.5]),
            (Unit::Micros, 0.0, 1_300.0, &[0.0, 500.0, 1_000.0]),
            (Unit::Nines, 0.0, 3.4, &[0.0, 1.0, 2.0, 3.0]),
        ];
        for (unit, lo, hi, want) in cases {
            assert_eq!(ticks(*unit, *lo, *hi), *want, "{unit:?} {lo}..{hi}");
        }
    }

    #[test]
    fn labels() {
        let cases: &[(Unit, f64, &str)] = &[
            (Unit::Nines, 0.0, "0%"),
            (Unit::Nines, 1.0, "90%"),
            (Unit::Nines, 2.0, "99%"),
            (Unit::Nines, 3.0, "99.9%"),
            (Unit::Nines, 5.0, "99.999%"),
            (Unit::Micros, 1_500.0, "1.50ms"),
            (Unit::Count, 20_000.0, "20k"),
            (Unit::Count, 2_500.0, "2.5k"),
            (Unit::Count, 800.0, "800"),
            (Unit::Count, 1_200_000.0, "1.2M"),
            (Unit::Seconds, 1.5, "1.5s"),
            (Unit::Seconds, 0.1 * 3.0, "0.3s"),
            (Unit::Seconds, 20.0, "20s"),
        ];
        for (unit, value, want) in cases {
            assert_eq!(label(*unit, *value), *want);
        }
    }

    #[test]
    fn nines_put_the_maximum_past_the_resolution() {
        assert_eq!(nines(0.0, 1000), 0.0);
        assert!((nines(0.99, 1000) - 2.0).abs() < 1e-9);
        assert_eq!(nines(1.0, 1000), 4.0);
        assert_eq!(nines(0.999_999_9, 1000), 4.0);
    }

    #[test]
    fn writes_every_point_and_escapes_names() {
        let chart = Chart {
            title: "a <b> & c".into(),
            x: Unit::Seconds,
            y: Unit::Count,
            series: vec![
                Series {
                    name: "ok/s",
                    points: vec![(0.5, 10.0), (1.5, 12.0), (2.5, 11.0)],
                },
                Series {
                    name: "x\"y",
                    points: Vec::new(),
                },
            ],
            ..Default::default()
        };
        let mut out = Vec::new();
        write(&mut out, &chart).unwrap();
        let svg = String::from_utf8(out).unwrap();
        assert!(svg.contains("a &lt;b&gt; &amp; c"), "{svg}");
        assert!(svg.contains("x&quot;y"), "{svg}");
        let points = svg
            .split("points=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        assert_eq!(points.split_whitespace().count(), 3);
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        let mut out = Vec::new();
        let empty = Chart {
            series: Vec::new(),
            ..chart
        };
        write(&mut out, &empty).unwrap();
        assert!(String::from_utf8(out).unwrap().contains("no data"));
    }

    fn svg(chart: &Chart) -> String {
        let mut out = Vec::new();
        write(&mut out, chart).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_series_under_another_is_dashed_and_named_so() {
        let chart = Chart {
            title: "t".into(),
            x: Unit::Seconds,
            y: Unit::Rate,
            series: vec![
                Series {
                    name: "sent/s",
                    points: vec![(0.5, 1000.0), (1.5, 1000.0)],
                },
                Series {
                    name: "ok/s",
                    points: vec![(0.5, 1000.0), (1.5, 999.0)],
                },
                Series {
                    name: "failed/s",
                    points: vec![(0.5, 0.0), (1.5, 1.0)],
                },
            ],
            ..Default::default()
        };
        let svg = svg(&chart);
        assert!(svg.contains(">ok/s (same as sent/s)</text>"), "{svg}");
        assert_eq!(
            svg.matches("stroke-dasharray=\"7 5\"").count(),
            2,
            "line and legend"
        );
        assert!(!svg.contains("failed/s (same"), "{svg}");
        // Hover: a band per second, with each series' value there.
        assert_eq!(svg.matches("<rect class=\"hover\"").count(), 2);
        assert!(
            svg.contains("<title>1.5s\nsent/s: 1000\nok/s: 999\nfailed/s: 1</title>"),
            "{svg}"
        );
        // The axes say what they measure.
        assert!(svg.contains(">requests/s</text>") && svg.contains(">time of the run</text>"));
    }

    #[test]
    fn a_long_series_shares_its_hover_bands_and_the_objective_and_marks_are_drawn() {
        let chart = Chart {
            title: "t".into(),
            x: Unit::Rate,
            y: Unit::Micros,
            series: vec![Series {
                name: "p99",
                points: (0..1000).map(|i| (f64::from(i), 100.0)).collect(),
            }],
            bounds: vec![Bound {
                y: 5000.0,
                label: "p99 < 5.00ms".into(),
            }],
            verdicts: vec![
                Verdict {
                    x: 10.0,
                    missed: None,
                },
                Verdict {
                    x: 900.0,
                    missed: Some("p99 <b>".into()),
                },
            ],
            marks: vec![Mark {
                x: 500.0,
                label: "knee of <a>: 500 users".into(),
            }],
        };
        let svg = svg(&chart);
        assert_eq!(
            svg.matches("<rect class=\"hover\"").count(),
            HOVER_BANDS - 40
        );
        assert!(svg.contains("<title>0–4\np99: 100us</title>"), "{svg}");
        assert!(svg.contains("objective: p99 &lt; 5.00ms"), "{svg}");
        // The bound is within the y axis, though above every point.
        assert!(svg.contains(">6.00ms</text>"), "{svg}");
        assert!(
            svg.contains("✓<title>10: met the objective</title>"),
            "{svg}"
        );
        assert!(svg.contains("✗<title>900: missed the objective: p99 &lt;b&gt;</title>"));
        // The mark: a line at x = 500 from the plot's top to its axis, its label escaped.
        let x = LEFT + 500.0 / 999.0 * (WIDTH - LEFT - RIGHT);
        let line = format!(r#"<line class="mark" x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="244""#);
        assert!(svg.contains(&line), "{line} in {svg}");
        assert!(
            svg.contains(">knee of &lt;a&gt;: 500 users</text>"),
            "{svg}"
        );
    }
}

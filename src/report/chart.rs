//! Line charts as inline SVG for the HTML report. No script and no external file: the report
//! opens anywhere, offline, and prints as it shows.

use std::io::{self, Write};

use crate::units::format_micros;

/// How an axis maps and labels its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Seconds of the run.
    Seconds,
    /// Requests per second, or any count.
    Count,
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

pub struct Chart<'a> {
    pub title: String,
    pub x: Unit,
    pub y: Unit,
    pub series: Vec<Series<'a>>,
}

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 280.0;
const LEFT: f64 = 72.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 50.0;
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

pub(super) fn label(unit: Unit, value: f64) -> String {
    match unit {
        Unit::Seconds => format!("{}s", trimmed(value)),
        Unit::Count => count(value),
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

/// Writes `chart` as one `<svg>` element.
pub fn write(out: &mut dyn Write, chart: &Chart) -> io::Result<()> {
    let (x0, x1, y1) = bounds(chart);
    let y1 = top(chart.y, y1);
    let px = |x: f64| LEFT + (x - x0) / (x1 - x0) * (WIDTH - LEFT - RIGHT);
    let py = |y: f64| HEIGHT - BOTTOM - y / y1 * (HEIGHT - TOP - BOTTOM);
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
    for y in ticks(chart.y, 0.0, y1) {
        let (yy, label) = (py(y), label(chart.y, y));
        writeln!(
            out,
            r#"<line class="grid" x1="{LEFT}" x2="{}" y1="{yy:.1}" y2="{yy:.1}"/><text class="tick" x="{}" y="{:.1}" text-anchor="end">{label}</text>"#,
            WIDTH - RIGHT,
            LEFT - 6.0,
            yy + 4.0
        )?;
    }
    for x in ticks(chart.x, x0, x1) {
        let (xx, label) = (px(x), label(chart.x, x));
        writeln!(
            out,
            r#"<line class="grid" x1="{xx:.1}" x2="{xx:.1}" y1="{TOP}" y2="{}"/><text class="tick" x="{xx:.1}" y="{}" text-anchor="middle">{label}</text>"#,
            HEIGHT - BOTTOM,
            HEIGHT - BOTTOM + 16.0
        )?;
    }
    // The legend is a row under the title, clear of the lines.
    let mut legend_x = LEFT;
    for (i, series) in chart.series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        write!(
            out,
            r#"<polyline class="series" fill="none" stroke="{color}" stroke-width="1.8" points=""#
        )?;
        for &(x, y) in &series.points {
            write!(out, "{:.1},{:.1} ", px(x), py(y))?;
        }
        writeln!(
            out,
            r#""><title>{}</title></polyline>"#,
            escape(series.name)
        )?;
        // A few points (the steps of a sweep) are marked: each is a measurement.
        if series.points.len() <= MARKED {
            for &(x, y) in &series.points {
                writeln!(
                    out,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"/>"#,
                    px(x),
                    py(y)
                )?;
            }
        }
        writeln!(
            out,
            r#"<line x1="{legend_x}" x2="{}" y1="34" y2="34" stroke="{color}" stroke-width="3"/><text class="legend" x="{}" y="38">{}</text>"#,
            legend_x + 16.0,
            legend_x + 21.0,
            escape(series.name)
        )?;
        legend_x += 36.0 + 6.5 * series.name.chars().count() as f64;
    }
    if chart.series.iter().all(|s| s.points.is_empty()) {
        writeln!(
            out,
            r#"<text class="empty" x="{}" y="{}" text-anchor="middle">no data</text>"#,
            WIDTH / 2.0,
            HEIGHT / 2.0
        )?;
    }
    writeln!(out, "</svg>")
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
}

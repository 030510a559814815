//! A sweep's charts drawn in text, after its table (`--chart`, or when the report goes to a
//! terminal): what the rate achieved and its latency against the target rate (a users sweep:
//! against the users), so where a server stops keeping up shows at a glance without opening the HTML page. The same
//! series as the page's first two charts (`figures.rs`), drawn on a grid of characters.

use std::io::{self, Write};

use super::chart::{self, Chart, Unit};
use super::figures;
use super::sweep::SweepReport;
use crate::results::summary::Summary;

/// Plot columns and rows.
const WIDTH: usize = 56;
const HEIGHT: usize = 10;
/// Each series' mark, in the order of the legend; `&` where marks of two series meet.
const MARKS: [char; 4] = ['*', 'o', '+', 'x'];
const MEET: char = '&';
/// Between a series' points: the line joining them.
const LINE: char = '.';

/// Writes the throughput and latency charts of a sweep, against the target rate or (a users
/// sweep) the users; nothing when its steps have neither (`--each` in a closed loop) or ran
/// at fewer than two.
pub fn write_sweep(out: &mut dyn Write, report: &SweepReport) -> io::Result<()> {
    let x = |s: &Summary| match report.users {
        true => Some(s.connections.requested as f64),
        false => Some(s.rate.as_ref()?.target),
    };
    let mut xs: Vec<f64> = report.steps.iter().filter_map(x).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    if xs.len() < 2 || report.steps.iter().any(|s| x(s).is_none()) {
        return Ok(());
    }
    let axis = if report.users { "users" } else { "target/s" };
    for chart in figures::sweep_charts(report).iter().take(2) {
        writeln!(out)?;
        write(out, chart, axis)?;
    }
    Ok(())
}

/// Writes one chart: its title, the plot with three labels on the y axis, the x axis with
/// its ends and `axis` (its name), and a legend of the marks.
pub fn write(out: &mut dyn Write, chart: &Chart, axis: &str) -> io::Result<()> {
    let points = chart.series.iter().flat_map(|s| s.points.iter());
    let x_max = points.clone().map(|p| p.0).fold(0.0, f64::max).max(1.0);
    let y_max = chart::top(chart.y, points.map(|p| p.1).fold(0.0, f64::max).max(1e-9));
    let grid = plot(chart, x_max, y_max);
    writeln!(out, "  {}", chart.title)?;
    for (row, cells) in grid.iter().enumerate() {
        let label = match row {
            0 => chart::label(chart.y, y_max),
            r if r == HEIGHT / 2 => chart::label(chart.y, y_max / 2.0),
            _ => String::new(),
        };
        let cells: String = cells.iter().collect();
        writeln!(out, "  {label:>9} |{}", cells.trim_end())?;
    }
    writeln!(
        out,
        "  {:>9} +{}",
        chart::label(chart.y, 0.0),
        "-".repeat(WIDTH)
    )?;
    let right = chart::label(Unit::Count, x_max);
    writeln!(
        out,
        "  {:>9}  0{right:>width$}  {axis}",
        "",
        width = WIDTH - 1
    )?;
    let legend: Vec<String> = (chart.series.iter().zip(MARKS))
        .map(|(s, mark)| format!("{mark} {}", s.name))
        .collect();
    writeln!(
        out,
        "  {:>9}  {}  ({MEET}: several)",
        "",
        legend.join("   ")
    )
}

/// The grid of marks: each series' points, joined by a line where the grid is empty.
fn plot(chart: &Chart, x_max: f64, y_max: f64) -> Vec<Vec<char>> {
    let mut grid = vec![vec![' '; WIDTH]; HEIGHT];
    let cell = |x: f64, y: f64| {
        let col = (x / x_max * (WIDTH - 1) as f64).round() as usize;
        let row = ((1.0 - y / y_max) * (HEIGHT - 1) as f64).round() as usize;
        (row.min(HEIGHT - 1), col.min(WIDTH - 1))
    };
    for series in &chart.series {
        for pair in series.points.windows(2) {
            let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
            let (_, from) = cell(x0, y0);
            let (_, to) = cell(x1, y1);
            let at = |col: usize| {
                let x = col as f64 / (WIDTH - 1) as f64 * x_max;
                (cell(x, y0 + (y1 - y0) * (x - x0) / (x1 - x0)).0, col)
            };
            for (row, col) in (from + 1..to).map(at) {
                let here = &mut grid[row][col];
                if *here == ' ' {
                    *here = LINE;
                }
            }
        }
    }
    for (series, mark) in chart.series.iter().zip(MARKS) {
        for &(x, y) in &series.points {
            let (row, col) = cell(x, y);
            let here = &mut grid[row][col];
            *here = match *here {
                ' ' | LINE => mark,
                same if same == mark => mark,
                _ => MEET,
            };
        }
    }
    grid
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::chart::Series;

    fn text(chart: &Chart) -> String {
        let mut out = Vec::new();
        write(&mut out, chart, "target/s").unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn points_land_on_their_cells_and_lines_join_them() {
        let chart = Chart {
            title: "done/s".into(),
            x: Unit::Count,
            y: Unit::Count,
            series: vec![
                Series {
                    name: "ideal",
                    points: vec![(0.0, 0.0), (1000.0, 1000.0)],
                },
                Series {
                    name: "flat",
                    points: vec![(0.0, 0.0), (1000.0, 500.0)],
                },
            ],
            ..Default::default()
        };
        let text = text(&chart);
        let rows: Vec<&str> = text.lines().collect();
        // The y axis tops at 1.5k (1,000 plus 5%, rounded up to a tick of 500): the ideal's
        // last point sits three rows of nine below it, in the last column.
        assert_eq!(rows[1], "       1.5k |");
        assert!(rows[4].ends_with('*'), "{text}");
        assert_eq!(rows[4].len(), "  ".len() + 9 + 2 + WIDTH);
        // Both start at the origin: one cell, two series.
        assert_eq!(rows[HEIGHT].chars().nth(13), Some(MEET), "{text}");
        assert!(rows[7].ends_with('o'), "{text}");
        assert!(rows[5].contains(LINE) && rows[8].contains(LINE), "{text}");
        assert!(text.contains("* ideal   o flat  (&: several)"), "{text}");
        assert!(text.contains("1k  target/s"), "{text}");
    }
}

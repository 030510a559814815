//! `blast compare`'s writers: the table (a block per row that the reports share, a line per
//! report and a line of each report's ratios to the first), its JSON, and an HTML page with
//! the reports' charts overlaid.

use std::io::{self, Write};

use serde_json::{Map, Value, json};

use super::figures;
use super::html;
use crate::results::compare::{Comparison, METRICS, SERVER, Shown, Values, ratio};
use crate::units::{format_bytes, format_micros};

/// Column width.
const CELL: usize = 11;

pub fn write_text(out: &mut dyn Write, c: &Comparison) -> io::Result<()> {
    writeln!(
        out,
        "blast compare: {} reports; the [n]/[1] lines are each figure over the first report's",
        c.sources.len()
    )?;
    for source in &c.sources {
        let first = &source.steps[0];
        let shape = match source.sweep {
            true => format!("{} steps", source.steps.len()),
            false => format!("{:.0}s", first.duration_s),
        };
        writeln!(
            out,
            "  {}  {} {} ({shape})",
            source.label, first.destination.method, first.destination.url
        )?;
    }
    let shown = columns(c);
    for row in &c.rows {
        writeln!(out, "\n{}", row.key.title())?;
        let heads: String = shown
            .iter()
            .map(|&m| format!("{:>CELL$}", METRICS[m].head))
            .collect();
        writeln!(out, "  {:<9}{heads}", "")?;
        let base = row.values[0];
        for (i, values) in row.values.iter().enumerate() {
            let cells: String = match values {
                Some(v) => shown.iter().map(|&m| cell(m, v[m])).collect(),
                None => format!("{:>CELL$}", "-"),
            };
            writeln!(out, "  {:<9}{cells}", format!("[{}]", i + 1))?;
            if i == 0 {
                continue;
            }
            let ratios: String = shown
                .iter()
                .map(|&m| {
                    let r = ratio(values.and_then(|v| v[m]), base.and_then(|b| b[m]));
                    let text = r.map_or("-".into(), |r| format!("{r:.2}x"));
                    format!("{text:>CELL$}")
                })
                .collect();
            writeln!(out, "  {:<9}{ratios}", format!("[{}]/[1]", i + 1))?;
        }
    }
    Ok(())
}

/// The metrics shown: the server's only where a report sampled it.
fn columns(c: &Comparison) -> Vec<usize> {
    let last = if c.has_server() {
        METRICS.len()
    } else {
        SERVER
    };
    (0..last).collect()
}

fn cell(metric: usize, value: Option<f64>) -> String {
    let text = match (METRICS[metric].shown, value) {
        (_, None) => "-".to_string(),
        (Shown::Rate, Some(v)) => format!("{v:.1}"),
        (Shown::Micros, Some(v)) => format_micros(v),
        (Shown::Percent, Some(v)) => format!("{v:.2}%"),
        (Shown::Bytes, Some(v)) => format_bytes(v),
    };
    format!("{text:>CELL$}")
}

/// `{"reports": [...], "rows": [{"target", "rate", "values": [...], "ratios": [...]}]}`.
pub fn to_value(c: &Comparison) -> Value {
    let reports: Vec<Value> = (c.sources.iter())
        .map(|s| {
            let first = &s.steps[0];
            json!({
                "file": s.file,
                "method": first.destination.method,
                "url": first.destination.url,
                "sweep": s.sweep,
                "steps": s.steps.len(),
            })
        })
        .collect();
    let rows: Vec<Value> = (c.rows.iter())
        .map(|row| {
            let base = row.values[0];
            let values: Vec<Value> = row
                .values
                .iter()
                .map(|v| object(v, &|m| v.and_then(|v| v[m])))
                .collect();
            let ratios: Vec<Value> = (row.values.iter())
                .map(|v| object(v, &|m| ratio(v.and_then(|v| v[m]), base.and_then(|b| b[m]))))
                .collect();
            json!({
                "target": row.key.target,
                "rate": row.key.rate,
                "values": values,
                "ratios": ratios,
            })
        })
        .collect();
    json!({ "reports": reports, "rows": rows })
}

/// One report's figures as an object keyed by metric; null where it has no such row.
fn object(values: &Option<Values>, figure: &dyn Fn(usize) -> Option<f64>) -> Value {
    if values.is_none() {
        return Value::Null;
    }
    let pairs = METRICS
        .iter()
        .enumerate()
        .map(|(m, metric)| (metric.key.to_string(), json!(figure(m))));
    Value::Object(pairs.collect::<Map<String, Value>>())
}

/// The page: the table, then the reports' charts overlaid (`figures::compare_charts`).
pub fn write_html(out: &mut dyn Write, c: &Comparison) -> io::Result<()> {
    let mut table = Vec::new();
    write_text(&mut table, c)?;
    html::page(
        out,
        "blast compare",
        &table,
        "",
        &figures::compare_charts(c),
    )
}

//! The HTML report (`--html`): the text report, its tables (`tables`: the summary, the run
//! and its settings, the targets, the statuses, the failures by reason), then charts of the
//! per-second series and of the latency distribution (a sweep: of its steps), in one
//! self-contained file to keep or share. The text is the text report itself, so the page
//! cannot disagree with it.

use std::io::{self, Write};

use super::chart::{self, Chart};
use super::figures::{run_charts, sweep_charts};
use super::sweep::{self, SweepReport};
use super::{tables, text};
use crate::results::summary::Summary;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:960px;\
padding:0 1em;color:#222}h1{font-size:1.2em;word-break:break-all}pre{font-size:13px;\
background:#f6f6f6;padding:1em;white-space:pre-wrap}figure{margin:1.5em 0}svg{width:100%;\
height:auto}.grid{stroke:#e3e3e3}.tick{font-size:11px;fill:#555}.title{font-size:14px;\
font-weight:600}.legend{font-size:12px}.axis{font-size:11px;fill:#777}\
.verdict{font-size:15px;font-weight:700}.empty{fill:#999}footer{font-size:12px;color:#777}\
h2{font-size:1em}table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;\
padding:.3em .5em;text-align:left;vertical-align:top}td.n{text-align:right}\
code{white-space:pre-wrap;word-break:break-all}";

pub fn write(out: &mut dyn Write, s: &Summary) -> io::Result<()> {
    let mut report = Vec::new();
    text::write(&mut report, s)?;
    let title = format!("blast {} {}", s.destination.method, s.destination.url);
    page(out, &title, &report, &tables::all(s), &run_charts(s))
}

pub fn write_sweep(out: &mut dyn Write, r: &SweepReport) -> io::Result<()> {
    let mut report = Vec::new();
    sweep::write_text(&mut report, r)?;
    let title = match r.steps.first() {
        Some(s) => format!(
            "blast {} {}: rate sweep",
            s.destination.method, s.destination.url
        ),
        None => "blast: rate sweep".into(),
    };
    page(out, &title, &report, "", &sweep_charts(r))
}

pub(super) fn page(
    out: &mut dyn Write,
    title: &str,
    report: &[u8],
    tables: &str,
    charts: &[Chart],
) -> io::Result<()> {
    let title = chart::escape(title);
    writeln!(out, "<!DOCTYPE html>")?;
    writeln!(out, r#"<html lang="en"><head><meta charset="utf-8">"#)?;
    writeln!(
        out,
        r#"<meta name="viewport" content="width=device-width, initial-scale=1">"#
    )?;
    writeln!(out, "<title>{title}</title><style>{STYLE}</style></head>")?;
    writeln!(out, "<body><h1>{title}</h1>")?;
    writeln!(
        out,
        "<pre>{}</pre>",
        chart::escape(&String::from_utf8_lossy(report))
    )?;
    writeln!(out, "{tables}")?;
    for c in charts {
        writeln!(out, "<figure>")?;
        chart::write(out, c)?;
        writeln!(out, "</figure>")?;
    }
    writeln!(
        out,
        "<footer>blast {}: latency is defined in docs/output.md; per-second rates are over \
         the part of the second the run covered.</footer></body></html>",
        env!("CARGO_PKG_VERSION")
    )
}

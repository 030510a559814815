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
code{white-space:pre-wrap;word-break:break-all}table.sortable th{cursor:pointer}\
th[aria-sort=ascending]::after{content:' \\25B2'}th[aria-sort=descending]::after{content:' \\25BC'}";

/// Sorts a table with a header row by the column whose header is clicked (or given Enter):
/// numbers (a cell's `data-v`) largest first, text A to Z, then the other way on the next
/// click. `#sort=TABLE.COLUMN[.asc|.desc]` in the page's address opens it sorted
/// (`#sort=targets.p99`: the slowest target first).
const SORT: &str = r#"(function(){
function key(c){var v=c.getAttribute('data-v');return v===null?c.textContent:parseFloat(v);}
function numeric(t,i){var r=t.tBodies[0].rows[0];return !!r&&r.cells[i].hasAttribute('data-v');}
function sort(t,i,desc){var b=t.tBodies[0],rows=Array.prototype.slice.call(b.rows);
rows.sort(function(x,y){var a=key(x.cells[i]),c=key(y.cells[i]);
var r=typeof a==='number'?(a<c?-1:a>c?1:0):String(a).localeCompare(String(c));return desc?-r:r;});
rows.forEach(function(r){b.appendChild(r);});
var h=t.tHead.rows[0].cells;for(var j=0;j<h.length;j++)h[j].removeAttribute('aria-sort');
h[i].setAttribute('aria-sort',desc?'descending':'ascending');}
document.querySelectorAll('table.sortable').forEach(function(t){var h=t.tHead.rows[0].cells;
for(var i=0;i<h.length;i++)(function(i){h[i].tabIndex=0;
var go=function(){var s=h[i].getAttribute('aria-sort');sort(t,i,s?s==='ascending':numeric(t,i));};
h[i].addEventListener('click',go);
h[i].addEventListener('keydown',function(e){if(e.key==='Enter'){e.preventDefault();go();}});})(i);});
var m=/^#sort=([\w-]+)\.([^.]+?)(?:\.(asc|desc))?$/.exec(decodeURIComponent(location.hash));
var t=m&&document.getElementById(m[1]);if(!t||!t.tHead)return;var h=t.tHead.rows[0].cells;
for(var i=0;i<h.length;i++)if(h[i].textContent===m[2])sort(t,i,m[3]?m[3]==='desc':numeric(t,i));
})();"#;

pub fn write(out: &mut dyn Write, s: &Summary) -> io::Result<()> {
    let mut report = Vec::new();
    text::write(&mut report, s)?;
    let title = format!("blast {} {}", s.destination.method, s.destination.url);
    page(out, &title, &report, &tables::all(s), &run_charts(s))
}

pub fn write_sweep(out: &mut dyn Write, r: &SweepReport) -> io::Result<()> {
    let mut report = Vec::new();
    sweep::write_text(&mut report, r)?;
    // What was swept: the users, the rate, or (`--each` in a closed loop) the targets alone.
    let kind = match r.steps.first() {
        _ if r.users => "users sweep",
        Some(s) if s.rate.is_none() => "each target alone",
        _ => "rate sweep",
    };
    let title = match r.steps.first() {
        Some(s) => format!(
            "blast {} {}: {kind}",
            s.destination.method, s.destination.url
        ),
        None => format!("blast: {kind}"),
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
         the part of the second the run covered.</footer><script>{SORT}</script></body></html>",
        env!("CARGO_PKG_VERSION")
    )
}

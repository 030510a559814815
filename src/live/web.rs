//! `--web`: a live dashboard. The page (`/`) polls `/live.json` once a second and draws the
//! numbers, two charts of the last minutes and the failures by reason; its Stop button posts
//! `/stop`, which ends the run as Ctrl-C does. Once the run is over `/` is the report page
//! (`--html`'s), which the dashboard loads in its place. The page is one file with its
//! script inline (no CDN); server text reaches it only as JSON set with `textContent`.

use serde_json::{Value, json};

use super::http::{Request, Response};
use super::{Figures, Info};
use crate::engine::signal;
use crate::results::failures;
use crate::results::stats::ErrorKind;
use crate::results::tally::Counts;

/// The per-second rows a poll returns: the last ten minutes.
const ROWS: usize = 600;

const HTML: &str = "text/html; charset=utf-8";

pub fn answer<'a>(
    r: &Request,
    info: &Info,
    figures: &dyn Fn() -> Figures<'a>,
    report: Option<&[u8]>,
) -> Response {
    match (r.method, r.path, report) {
        ("GET", "/", None) => Response::ok(HTML, PAGE.as_bytes().to_vec()),
        ("GET", "/", Some(page)) => Response::ok(HTML, page.to_vec()),
        ("GET", "/live.json", _) => {
            let body = serde_json::to_vec(&live(info, &figures())).unwrap_or_default();
            Response::ok("application/json", body)
        }
        ("POST", "/stop", _) => {
            signal::request_stop();
            Response::ok("application/json", b"{\"stopping\":true}".to_vec())
        }
        (_, "/stop", _) => Response {
            status: 405,
            ..Response::not_found()
        },
        _ => Response::not_found(),
    }
}

/// The numbers the page shows.
pub fn live(info: &Info, f: &Figures) -> Value {
    let rows = &f.rows[f.rows.len().saturating_sub(ROWS)..];
    let latency = f.latency.filter(|h| !h.is_empty());
    let quantile = |q: f64| latency.map_or(0.0, |h| h.value_at_quantile(q) as f64 / 1e3);
    json!({
        "running": f.running,
        "url": info.url,
        "method": info.method,
        "rate": info.rate,
        "seconds": f.rows.len(),
        "sent": f.tally.sent,
        "in_flight": f.tally.in_flight,
        "totals": counts(&f.tally.run),
        "latency_us": {
            "p50": quantile(0.5),
            "p90": quantile(0.9),
            "p99": quantile(0.99),
            "max": latency.map_or(0.0, |h| h.max() as f64 / 1e3),
        },
        "targets": (info.targets.iter().zip(&f.tally.targets))
            .map(|(name, c)| json!({"name": name, "counts": counts(c)}))
            .collect::<Vec<_>>(),
        "per_second": rows,
    })
}

fn counts(c: &Counts) -> Value {
    let errors: serde_json::Map<String, Value> = (ErrorKind::ALL.iter())
        .map(|k| (k.name().to_string(), json!(c.errors[*k as usize])))
        .collect();
    json!({
        "requests": c.requests(),
        "successes": c.successes,
        "failures": c.failures(),
        "errors": errors,
        "status_codes": c.statuses.iter().map(|(s, n)| (s.to_string(), json!(n)))
            .collect::<serde_json::Map<_, _>>(),
        "failure_reasons": failures::listed(&c.reasons),
    })
}

const PAGE: &str = include_str!("web.html");

//! What blast serves over HTTP while a run goes: Prometheus metrics (`--metrics-listen`)
//! and a live dashboard (`--web`). Both are answered by the main thread between its ticks,
//! from the totals the cores hand over once a second and the per-second rows: nothing here
//! runs per request. After the run the final totals stay served for `--metrics-linger`, so
//! the last scrape, and the page, see them.

pub mod http;
pub mod metrics;
pub mod web;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::engine::ticker::TICK;
use crate::results::series::SecondRow;
use crate::results::summary::RunInfo;
use crate::results::tally::Tally;
use crate::run::config::Listen;
use http::{Request, Response, Server};

/// What the run is, for the outputs' labels.
#[derive(Debug, Clone, Default)]
pub struct Info {
    pub url: String,
    pub method: String,
    pub rate: Option<f64>,
    /// `--targets` names, by `Plan::targets` index (empty without).
    pub targets: Vec<String>,
}

impl Info {
    pub fn of(run: &RunInfo) -> Info {
        Info {
            url: run.destination.url.clone(),
            method: run.destination.method.clone(),
            rate: run.rate,
            targets: run.targets.iter().map(|t| t.name.clone()).collect(),
        }
    }
}

/// The run so far, or its final totals.
pub struct Figures<'a> {
    pub tally: Tally,
    /// The latencies of the complete responses (`None`: none yet).
    pub latency: Option<&'a Histogram<u64>>,
    pub rows: &'a [SecondRow],
    pub running: bool,
}

/// The bound listeners.
pub struct Live {
    metrics: Option<Server>,
    web: Option<Server>,
    info: Info,
    linger: Duration,
    /// `--web`, once the run is over: its report page.
    report: Option<Vec<u8>>,
}

impl Live {
    /// Binds what `listen` names (`None`: nothing); a busy or unusable address is an error
    /// before the run.
    pub fn bind(listen: &Listen, info: Info) -> Result<Option<Live>, String> {
        if !listen.any() {
            return Ok(None);
        }
        let bind = |flag: &str, path: &str, addr: Option<SocketAddr>| {
            let bound = addr
                .map(|a| Server::bind(a).map_err(|e| format!("{flag} {a}: cannot listen: {e}")))
                .transpose()?;
            // Port 0 asked the system for a free port: say which one it gave.
            if let (Some(asked), Some(server)) = (addr, &bound)
                && asked.port() == 0
                && let Ok(at) = server.local_addr()
            {
                eprintln!("blast: {flag} serves http://{at}{path}");
            }
            Ok::<_, String>(bound)
        };
        Ok(Some(Live {
            metrics: bind("--metrics-listen", "/metrics", listen.metrics)?,
            web: bind("--web", "/", listen.web)?,
            info,
            linger: listen.linger,
            report: None,
        }))
    }

    /// Answers whoever asked, with `figures` taken only when someone did.
    pub fn serve<'a>(&mut self, figures: &dyn Fn() -> Figures<'a>) {
        let Live {
            metrics,
            web,
            info,
            report,
            ..
        } = self;
        if let Some(server) = metrics {
            server.poll(&mut |r: &Request| match (r.method, r.path) {
                ("GET", "/metrics") => {
                    let text = metrics::render(info, &figures());
                    Response::ok(metrics::CONTENT_TYPE, text.into_bytes())
                }
                _ => Response::not_found(),
            });
        }
        if let Some(server) = web {
            server.poll(&mut |r: &Request| web::answer(r, info, figures, report.as_deref()));
        }
    }

    /// After the run: serves the final totals (and `--web`'s report page) for the linger
    /// (Ctrl-C, as a second one always does, ends blast at once).
    pub fn linger(mut self, last: Figures, report: Option<Vec<u8>>) {
        self.report = report;
        let until = Instant::now() + self.linger;
        let figures = || Figures {
            tally: last.tally.clone(),
            ..last
        };
        while Instant::now() < until {
            self.serve(&figures);
            std::thread::sleep(TICK);
        }
    }
}

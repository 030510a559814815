//! The summary of a run: every derived number is computed here, once, and every output format
//! reads the same `Summary`, so the text and the JSON cannot disagree.

pub mod chart;
pub mod csv;
pub mod html;
pub mod json;
pub mod sweep;
pub mod text;

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};

use crate::config::Config;
use crate::engine::RunOutcome;
use crate::plan::{Plan, Route};
use crate::series::SecondRow;
use crate::slo::Slo;
use crate::stats::{ErrorKind, Stats};
use crate::tls::Negotiated;

/// Latency figures in microseconds, over complete responses.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Latency {
    pub count: u64,
    pub min: f64,
    pub mean: f64,
    pub stdev: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    /// Responses slower than the histogram's range (one hour).
    pub over_range: u64,
    /// (quantile, latency) pairs from 0 to 1, five per halving of the distance to 1 (the
    /// HdrHistogram percentile distribution), for the HTML report's plot.
    pub spectrum: Vec<(f64, f64)>,
}

/// `--first-byte` figures.
#[derive(Debug, Clone, PartialEq)]
pub struct FirstByte {
    pub latency: Latency,
    pub histogram: String,
}

impl FirstByte {
    fn of(hist: &Histogram<u64>) -> FirstByte {
        FirstByte {
            latency: latency(hist, 0),
            histogram: encode_histogram(hist),
        }
    }
}

/// Open-loop figures (`--rate`).
#[derive(Debug, Clone, PartialEq)]
pub struct RateSummary {
    /// `--rate`, requests per second.
    pub target: f64,
    /// Requests sent, and per second.
    pub sent: u64,
    pub send_rate: f64,
    /// How far the send rate fell short of the target, in percent (0 when on target).
    pub shortfall_pct: f64,
    /// How long after their intended time requests were sent.
    pub lag_p99_us: f64,
    pub lag_max_us: f64,
    /// Requests sent more than 1 ms after their intended time.
    pub late: u64,
    /// Connections open at the end (the run starts with `-c` and may grow).
    pub connections_used: u64,
    /// Slots were overdue while `--max-connections` were all open and busy: the server held
    /// the schedule back, not the client.
    pub connection_limited: bool,
    /// Latency from the actual send, which hides queueing: compare with `latency`.
    pub uncorrected: Latency,
    /// The uncorrected latency and the send lag histograms (nanoseconds), encoded like
    /// `Summary::histogram`, so that rate runs merge exactly too.
    pub uncorrected_histogram: String,
    pub send_lag_histogram: String,
}

/// One `--targets` name's results: its share of the requests, counted like the run's.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetSummary {
    pub name: String,
    /// Its lines' method and path, or `*` where they differ.
    pub method: String,
    pub path: String,
    /// The sum of its lines' weights, and that as a share of the mix's, in percent.
    pub weight: u64,
    pub share_pct: f64,
    pub requests: u64,
    pub successes: u64,
    pub failures: u64,
    pub success_pct: f64,
    pub rps: f64,
    pub success_rps: f64,
    /// At 1% precision (`stats::ROUTE_SIGFIG`).
    pub latency: Latency,
    pub errors: Vec<(&'static str, u64)>,
    pub status_codes: Vec<(u16, u64)>,
    /// Its latency histogram, encoded like `Summary::histogram`, so that mixes merge exactly.
    pub histogram: String,
    /// `--first-byte`: its time to the first body byte (at 1% precision).
    pub first_byte: Option<FirstByte>,
}

#[derive(Debug, Clone)]
pub struct Summary {
    pub url: String,
    /// `--unix-socket`: the socket the requests went to instead of the URL's host.
    pub unix_socket: Option<String>,
    /// https: the protocol version and cipher suite the handshake before the run settled on.
    pub tls: Option<Negotiated>,
    pub method: String,
    pub driver: &'static str,
    pub threads: usize,
    pub connections_requested: usize,
    /// `false` with `--no-keepalive`: a new connection for every request.
    pub keep_alive: bool,
    pub connections_established: u64,
    /// Of those: reopened in place of a closed one, and opened during the run as new ones
    /// (`Stats::added`); the rest were open before the clock started.
    pub reconnects: u64,
    pub connections_added: u64,
    /// Connects that failed for want of a free local port.
    pub no_local_port: u64,
    /// Why the first failed connect failed (`None`: none failed).
    pub connect_error: Option<String>,
    /// Malformed responses that were TLS records: plain http sent to an https port.
    pub tls_answers: u64,
    /// The measured window: `-d` (less when interrupted).
    pub duration_s: f64,
    /// The wait after it for the requests sent in it (`--drain`). Rates divide by the
    /// window and the drain together: what was answered, over the time it took.
    pub drain_s: f64,
    pub interrupted: bool,
    pub requests: u64,
    pub successes: u64,
    pub failures: u64,
    /// Percent of finished requests that succeeded (100 when none finished... see docs).
    pub success_pct: f64,
    pub rps: f64,
    pub success_rps: f64,
    pub latency: Latency,
    /// Connection set-up times in the measured window (`Stats::connect`); a count of 0 when
    /// no connection was opened in it (keep-alive connections open before it starts).
    pub connect: Latency,
    /// Mean latency × RPS: the concurrency the measurements imply (Little's law). In a closed
    /// loop it should be close to the connection count.
    pub concurrency: f64,
    pub errors: Vec<(&'static str, u64)>,
    pub status_codes: Vec<(u16, u64)>,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub read_per_s: f64,
    pub written_per_s: f64,
    pub in_flight: u64,
    pub per_second: Vec<SecondRow>,
    /// The merged latency histogram (nanoseconds), HdrHistogram V2 deflate, base64.
    pub histogram: String,
    /// The connect-time histogram, encoded the same way.
    pub connect_histogram: String,
    /// `--first-byte`: the time to each complete response's first body byte, and its
    /// histogram encoded like `histogram`.
    pub first_byte: Option<FirstByte>,
    pub rate: Option<RateSummary>,
    /// The verdict on `--slo`, when one was given.
    pub slo: Option<SloVerdict>,
    /// `--targets`: the results of each target name (empty without).
    pub targets: Vec<TargetSummary>,
}

/// How a run fared against its objective (`--slo`).
#[derive(Debug, Clone, PartialEq)]
pub struct SloVerdict {
    /// The objective as typed.
    pub objective: String,
    /// The first bound the run missed, or `None` when it met them all.
    pub missed: Option<String>,
}

impl SloVerdict {
    pub fn met(&self) -> bool {
        self.missed.is_none()
    }
}

/// What a summary reports about the run besides its numbers.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub url: String,
    pub unix_socket: Option<String>,
    pub tls: Option<Negotiated>,
    pub method: String,
    /// Connections asked for (`-c`).
    pub connections: usize,
    /// Connections were reused (`false`: `--no-keepalive`).
    pub keep_alive: bool,
    /// `--rate`, total requests per second (`None`: closed loop).
    pub rate: Option<f64>,
    pub slo: Option<Slo>,
    /// `--targets`: the target names (empty without).
    pub routes: Vec<Route>,
}

impl RunInfo {
    pub fn of(config: &Config) -> RunInfo {
        RunInfo {
            url: config.target.url(),
            unix_socket: config
                .target
                .unix_socket
                .as_ref()
                .map(|p| p.display().to_string()),
            tls: None,
            method: match &config.mix {
                Some(_) => MIX_METHOD.into(),
                None => config.request.method.clone(),
            },
            connections: config.connections,
            keep_alive: !config.request.no_keepalive,
            rate: config.rate,
            slo: config.slo.clone(),
            routes: Plan::routes_of(config),
        }
    }
}

/// The method a run of a `--targets` mix reports (each target has its own).
pub const MIX_METHOD: &str = "mix";

impl Summary {
    pub fn new(config: &Config, outcome: RunOutcome) -> Summary {
        Summary::of(RunInfo::of(config), outcome)
    }

    /// Whether the run was judged against an objective and missed it.
    pub fn missed_slo(&self) -> bool {
        self.slo.as_ref().is_some_and(|v| !v.met())
    }

    pub fn of(info: RunInfo, outcome: RunOutcome) -> Summary {
        let stats = &outcome.stats;
        let window = outcome.elapsed.as_secs_f64();
        let drain = outcome.drain.as_secs_f64();
        let secs = (window + drain).max(1e-9);
        let requests = stats.requests();
        let connect = latency(&stats.connect, 0);
        let first_byte = stats.first_byte.as_ref().map(FirstByte::of);
        let latency = latency(&stats.latency, stats.over_range);
        let rps = requests as f64 / secs;
        let mut summary = Summary {
            url: info.url,
            unix_socket: info.unix_socket,
            tls: info.tls,
            method: info.method,
            driver: outcome.driver,
            threads: outcome.threads,
            connections_requested: info.connections,
            keep_alive: info.keep_alive,
            connections_established: stats.established,
            reconnects: stats.reconnects,
            connections_added: stats.added,
            no_local_port: stats.no_local_port,
            connect_error: stats.connect_cause.map(|c| c.describe()),
            tls_answers: stats.tls_answers,
            duration_s: window,
            drain_s: drain,
            interrupted: outcome.interrupted,
            requests,
            successes: stats.successes,
            failures: stats.failures(),
            success_pct: percent(stats.successes, requests),
            rps,
            success_rps: stats.successes as f64 / secs,
            concurrency: latency.mean / 1e6 * (latency.count as f64 / secs),
            latency,
            connect,
            errors: error_counts(stats),
            status_codes: stats.status_counts().collect(),
            bytes_read: stats.bytes_read,
            bytes_written: stats.bytes_written,
            read_per_s: stats.bytes_read as f64 / secs,
            written_per_s: stats.bytes_written as f64 / secs,
            in_flight: stats.in_flight,
            per_second: outcome.seconds,
            histogram: encode_histogram(&stats.latency),
            connect_histogram: encode_histogram(&stats.connect),
            first_byte,
            // Sends happen in the window only.
            rate: info
                .rate
                .map(|target| rate_summary(target, stats, window.max(1e-9))),
            slo: None,
            targets: target_summaries(&info.routes, &stats.routes, secs),
        };
        summary.slo = info.slo.as_ref().map(|slo| SloVerdict {
            objective: slo.text.clone(),
            missed: slo.check(&summary).err(),
        });
        summary
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

fn error_counts(stats: &Stats) -> Vec<(&'static str, u64)> {
    ErrorKind::ALL
        .iter()
        .map(|k| (k.name(), stats.error_count(*k)))
        .collect()
}

fn target_summaries(routes: &[Route], stats: &[Stats], secs: f64) -> Vec<TargetSummary> {
    let total_weight: u64 = routes.iter().map(|r| r.weight).sum();
    routes
        .iter()
        .zip(stats)
        .map(|(route, stats)| {
            let requests = stats.requests();
            TargetSummary {
                name: route.name.clone(),
                method: route.method.clone(),
                path: route.path.clone(),
                weight: route.weight,
                share_pct: percent(route.weight, total_weight),
                requests,
                successes: stats.successes,
                failures: stats.failures(),
                success_pct: percent(stats.successes, requests),
                rps: requests as f64 / secs,
                success_rps: stats.successes as f64 / secs,
                latency: latency(&stats.latency, stats.over_range),
                errors: error_counts(stats),
                status_codes: stats.status_counts().collect(),
                histogram: encode_histogram(&stats.latency),
                first_byte: stats.first_byte.as_ref().map(FirstByte::of),
            }
        })
        .collect()
}

fn rate_summary(target: f64, stats: &Stats, secs: f64) -> RateSummary {
    let send_rate = stats.sent as f64 / secs;
    let lag = |q: f64| {
        stats
            .send_lag
            .as_ref()
            .map_or(0.0, |h| h.value_at_quantile(q) as f64 / 1e3)
    };
    RateSummary {
        target,
        sent: stats.sent,
        send_rate,
        shortfall_pct: (100.0 * (1.0 - send_rate / target)).max(0.0),
        lag_p99_us: lag(0.99),
        lag_max_us: lag(1.0),
        late: stats.late,
        connections_used: stats.peak_connections,
        connection_limited: stats.capped > 0,
        uncorrected: stats
            .uncorrected
            .as_ref()
            .map_or_else(Latency::default, |h| latency(h, 0)),
        uncorrected_histogram: stats
            .uncorrected
            .as_ref()
            .map_or_else(String::new, encode_histogram),
        send_lag_histogram: stats
            .send_lag
            .as_ref()
            .map_or_else(String::new, encode_histogram),
    }
}

fn latency(hist: &Histogram<u64>, over_range: u64) -> Latency {
    if hist.is_empty() {
        return Latency {
            over_range,
            ..Latency::default()
        };
    }
    let us = |ns: u64| ns as f64 / 1e3;
    Latency {
        count: hist.len(),
        min: us(hist.min()),
        mean: hist.mean() / 1e3,
        stdev: hist.stdev() / 1e3,
        p50: us(hist.value_at_quantile(0.50)),
        p90: us(hist.value_at_quantile(0.90)),
        p95: us(hist.value_at_quantile(0.95)),
        p99: us(hist.value_at_quantile(0.99)),
        p999: us(hist.value_at_quantile(0.999)),
        max: us(hist.max()),
        over_range,
        spectrum: hist
            .iter_quantiles(5)
            .map(|v| (v.quantile_iterated_to(), us(v.value_iterated_to())))
            .collect(),
    }
}

fn encode_histogram(hist: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    match V2DeflateSerializer::new().serialize(hist, &mut bytes) {
        Ok(_) => base64::engine::general_purpose::STANDARD.encode(bytes),
        Err(_) => String::new(),
    }
}

/// Decodes a histogram written by `encode_histogram` (for merging results later).
pub fn decode_histogram(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|e| e.to_string())?;
    hdrhistogram::serialization::Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("{e:?}"))
}

//! The summary of a run: every derived number is computed here, once, and every output format
//! reads the same `Summary`, so the text and the JSON cannot disagree.

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
use serde::{Deserialize, Serialize};
use std::time::Duration;

use crate::results::numbers::{Distribution, Latency, Results, latency, percent};
use crate::results::record::RunRecord;
use crate::results::series::SecondRow;
use crate::results::slo::Slo;
use crate::results::stats::Stats;
use crate::results::usage::{ClientUsage, ServerUsage};
use crate::tls::Negotiated;

/// What a run produced, before any derived number is computed.
#[derive(Debug)]
pub struct RunOutcome {
    pub stats: Stats,
    pub seconds: Vec<SecondRow>,
    /// `--server-pid`: what the server used.
    pub server: Option<ServerUsage>,
    /// How busy blast's own cores were (`None`: no window to measure).
    pub client: Option<ClientUsage>,
    /// The driver the runtimes used: `io_uring` or `epoll`.
    pub driver: &'static str,
    pub threads: usize,
    /// The measured window (the longest of the cores').
    pub elapsed: Duration,
    /// The drain after it: the wait for the requests sent in the window (the longest).
    pub drain: Duration,
    pub interrupted: bool,
    /// When the measured window began on the wall clock, in Unix seconds (the core that
    /// started first; `None` when no window began).
    pub started_unix_s: Option<f64>,
}

/// A target name of a `--targets` mix, as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub name: String,
    /// The method and path of its lines, or `*` where they differ.
    pub method: String,
    pub path: String,
    /// The sum of its lines' weights.
    pub weight: u64,
}

/// Open-loop figures (`--rate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateSummary {
    /// `--rate`, requests per second.
    pub target: f64,
    /// Requests sent, and per second.
    pub sent: u64,
    pub send_rate: f64,
    /// How far the send rate fell short of the target, in percent (0 when on target).
    pub shortfall_pct: f64,
    /// How long after their intended time requests were sent.
    pub send_lag_us: SendLag,
    /// Requests sent more than 1 ms after their intended time.
    pub late: u64,
    /// Connections open at the end (the run starts with `-c` and may grow).
    pub connections_used: u64,
    /// Slots were overdue while `--max-connections` were all open and busy: the server held
    /// the schedule back, not the client. (Reports from before it lack it.)
    #[serde(default)]
    pub connection_limited: bool,
}

/// `--think`: the users' pauses, and the cycle they make with the latency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThinkSummary {
    /// The range each pause was drawn from (uniformly), in seconds.
    pub min_s: f64,
    pub max_s: f64,
    /// Pauses begun in the measured window, and their mean length as drawn (a pause ends on
    /// a timer, a millisecond or two later, or on a nap, within 5 ms either way).
    pub pauses: u64,
    pub mean_s: f64,
    /// A user's cycle: the mean latency plus the mean pause.
    pub cycle_s: f64,
    /// Little's law, `users = throughput × cycle`, with the throughput of finished requests:
    /// about the connections when every user was busy in the window.
    pub users: f64,
}

impl ThinkSummary {
    fn of(range: (Duration, Duration), stats: &Stats, results: &Results) -> ThinkSummary {
        let mean_s = match stats.thinks {
            0 => 0.0,
            n => stats.think_ns as f64 / 1e9 / n as f64,
        };
        let cycle_s = results.latency.mean / 1e6 + mean_s;
        ThinkSummary {
            min_s: range.0.as_secs_f64(),
            max_s: range.1.as_secs_f64(),
            pauses: stats.thinks,
            mean_s,
            cycle_s,
            users: results.rps * cycle_s,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendLag {
    pub p99: f64,
    pub max: f64,
}

/// One `--targets` name's results: its share of the requests, counted like the run's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetSummary {
    /// Its name, method, path and weight.
    #[serde(flatten)]
    pub target: Target,
    /// Its weight as a share of the mix's, in percent.
    pub share_pct: f64,
    /// Its latencies at 1% precision (`stats::TARGET_SIGFIG`).
    #[serde(flatten)]
    pub results: Results,
    /// Its latency histogram, encoded like `Histograms::data`, so that mixes merge exactly.
    pub histogram: String,
    /// `--first-byte`: its first-byte histogram.
    pub first_byte_histogram: Option<String>,
}

/// The connections of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connections {
    /// Asked for (`-c`).
    pub requested: usize,
    /// `false` with `--no-keepalive`: a new connection for every request.
    pub keep_alive: bool,
    /// `--pipeline`: requests in flight on each connection at most (reports from before it
    /// read as 1).
    #[serde(default = "one")]
    pub pipeline: u32,
    /// `--pipeline` in a closed loop: how many places are free when a connection's pipeline
    /// is topped up, in one write (`RunInfo::refill`); 1 otherwise.
    #[serde(default = "one")]
    pub pipeline_refill: u32,
    pub established: u64,
    /// Of those: reopened in place of a closed one, and opened during the run as new ones
    /// (`Stats::added`; reports from before it lack it); the rest were open before the
    /// clock started.
    pub reconnects: u64,
    #[serde(default)]
    pub added: u64,
    /// Connects that failed for want of a free local port.
    pub no_local_port: u64,
}

fn one() -> u32 {
    1
}

/// The run's histograms (nanoseconds), each HdrHistogram V2 deflate, base64, so that runs
/// merge exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histograms {
    pub unit: String,
    pub encoding: String,
    /// Latency.
    pub data: String,
    pub connect_data: String,
    /// `--first-byte`.
    pub first_byte_data: Option<String>,
    /// `--rate`: the latency from the actual send, and the send lag.
    pub uncorrected_data: Option<String>,
    pub send_lag_data: Option<String>,
}

/// Where a run's requests went, and with which method: what the report's first line names,
/// and what runs must share to merge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Destination {
    pub url: String,
    /// `--unix-socket`: the socket the requests went to instead of the URL's host.
    pub unix_socket: Option<String>,
    /// https: the protocol version and cipher suite the handshake before the run settled on
    /// (`None` also after merging runs that settled on different ones).
    pub tls: Option<Negotiated>,
    /// `MIX_METHOD` for a `--targets` mix (each target has its own).
    pub method: String,
}

/// A run's report: what `--json` writes and `blast merge` reads back, and what the text,
/// CSV and HTML reports show. Every field is documented in docs/output.md.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    #[serde(flatten)]
    pub destination: Destination,
    /// `io_uring`, `epoll`, or `mixed` (a merge of both).
    pub driver: String,
    pub threads: usize,
    pub connections: Connections,
    /// Why the first failed connect failed (`None`: none failed).
    pub connect_error: Option<String>,
    /// Malformed responses that were TLS records: plain http sent to an https port.
    #[serde(default)]
    pub tls_answers: u64,
    /// The measured window: `-d` (less when interrupted).
    pub duration_s: f64,
    /// The wait after it for the requests sent in it (`--drain`; reports from before it
    /// have none). Rates divide by the window and the drain together: what was answered,
    /// over the time it took.
    #[serde(default)]
    pub drain_s: f64,
    /// When the measured window began, in Unix seconds (with milliseconds); reports from
    /// before it was kept read as null.
    #[serde(default)]
    pub started_unix_s: Option<f64>,
    pub interrupted: bool,
    /// When and how the run was made: its wall-clock times, the command line, blast's
    /// version, the host, the settings (a merged report, or one from before, has none).
    #[serde(default)]
    pub run: Option<RunRecord>,
    /// `blast merge` of several runs: how many, and how far apart their windows began.
    #[serde(default)]
    pub merged: Option<Merged>,
    #[serde(flatten)]
    pub results: Results,
    pub in_flight: u64,
    /// Mean latency × RPS: the concurrency the measurements imply (Little's law). In a closed
    /// loop it should be close to the connection count.
    pub concurrency: f64,
    /// Connection set-up times in the measured window (`Stats::connect`); a count of 0 when
    /// no connection was opened in it (keep-alive connections open before it starts).
    #[serde(rename = "connect_us")]
    pub connect: Latency,
    pub rate: Option<RateSummary>,
    /// `--rate`: latency from the actual send, which hides queueing: compare with `latency`.
    #[serde(rename = "latency_uncorrected_us")]
    pub uncorrected: Option<Latency>,
    /// `--think`: the users' pauses and cycle (`None` without).
    #[serde(default)]
    pub think: Option<ThinkSummary>,
    /// `--targets`: the results of each target name (empty without).
    #[serde(default)]
    pub targets: Vec<TargetSummary>,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub per_second: Vec<SecondRow>,
    /// `--server-pid`: the server's CPU and memory over the run (`None` without).
    #[serde(default)]
    pub server: Option<ServerUsage>,
    /// How busy each of blast's cores was over the window (`None` in a report from before).
    #[serde(default)]
    pub client: Option<ClientUsage>,
    /// The verdict on `--slo`, when one was given.
    pub slo: Option<SloVerdict>,
    pub histogram: Histograms,
}

/// A run's report is its results with what was run: its numbers read as the results'.
impl std::ops::Deref for Summary {
    type Target = Results;
    fn deref(&self) -> &Results {
        &self.results
    }
}

impl std::ops::Deref for TargetSummary {
    type Target = Results;
    fn deref(&self) -> &Results {
        &self.results
    }
}

/// How a run fared against its objective (`--slo`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloVerdict {
    /// The objective as typed.
    pub objective: String,
    pub met: bool,
    /// The first bound the run missed, or `None` when it met them all.
    pub missed: Option<String>,
}

impl SloVerdict {
    fn of(slo: &Slo, summary: &Summary) -> SloVerdict {
        let rate = summary.rate.as_ref();
        let target = |name: &str| {
            let mut targets = summary.targets.iter();
            targets.find(|t| t.target.name == name).map(|t| &t.results)
        };
        let missed = (slo.check(summary, rate.map(|r| r.shortfall_pct), target)).err();
        SloVerdict {
            objective: slo.text.clone(),
            met: missed.is_none(),
            missed,
        }
    }

    pub fn met(&self) -> bool {
        self.met
    }
}

/// What a summary reports about the run besides its numbers.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub destination: Destination,
    /// Connections asked for (`-c`).
    pub connections: usize,
    /// Connections were reused (`false`: `--no-keepalive`).
    pub keep_alive: bool,
    /// `--pipeline`: requests in flight on each connection at most.
    pub pipeline: u32,
    /// `--rate`, total requests per second (`None`: closed loop).
    pub rate: Option<f64>,
    pub slo: Option<Slo>,
    /// `--targets`: the target names (empty without).
    pub targets: Vec<Target>,
    /// `--think`: each user's pause between a response and its next request (low, high).
    pub think: Option<(Duration, Duration)>,
}

impl RunInfo {
    /// `--pipeline` in a closed loop: a connection's pipeline is topped up once a quarter of
    /// it is free, with those requests in one write, so between `pipeline - refill` and
    /// `pipeline` are out. Topping up after every response, as h2load does, writes one
    /// request per segment against a server that answers each with a segment of its own
    /// (nginx): at depth 16 that cost the client 20-25% more CPU per request than a quarter
    /// (bench/pipeline.sh), and the server reads one request per wake-up. In rate mode each
    /// slot goes when it is due.
    pub fn refill(&self) -> u32 {
        match self.rate {
            None => (self.pipeline / 4).max(1),
            Some(_) => 1,
        }
    }
}

impl Connections {
    /// Little's law over a closed loop's pipelines: the fewest and the most requests out at
    /// once, `connections × (depth - refill)` and `connections × depth`.
    pub fn pipelines_hold(&self) -> (f64, f64) {
        let most = self.requested as f64 * f64::from(self.pipeline);
        let fewest =
            self.requested as f64 * f64::from(self.pipeline.saturating_sub(self.pipeline_refill));
        (fewest, most)
    }
}

/// What a merged report was merged from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Merged {
    pub runs: usize,
    /// The latest window start less the earliest, in milliseconds (`None`: a report without
    /// its start was merged, with `--allow-skew`, by second index).
    pub start_skew_ms: Option<f64>,
    /// Each run merged, in the order given (reports from before it was kept have none).
    #[serde(default)]
    pub parts: Vec<MergedRun>,
}

/// One of the runs a merged report was merged from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedRun {
    /// Its `--instance` (a report from before it was kept: its host's name, or its file's).
    pub instance: String,
    /// The report's file, as given to merge.
    pub file: String,
    /// When its measured window began: RFC 3339 (`None`: the report does not say).
    pub started: Option<String>,
    /// How long after the earliest run's start it began, in milliseconds.
    pub start_offset_ms: Option<f64>,
    pub duration_s: f64,
    pub requests: u64,
    pub failures: u64,
}

/// The method a run of a `--targets` mix reports (each target has its own).
pub const MIX_METHOD: &str = "mix";
/// The method a `--flow` run reports, and its whole flow's row (whose "requests" are flows).
pub const FLOW_METHOD: &str = "flow";

impl Summary {
    /// Whether the run was judged against an objective and missed it.
    pub fn missed_slo(&self) -> bool {
        self.slo.as_ref().is_some_and(|v| !v.met())
    }

    pub fn of(info: RunInfo, outcome: RunOutcome) -> Summary {
        let stats = &outcome.stats;
        let window = outcome.elapsed.as_secs_f64();
        let secs = answered_over(window, outcome.drain.as_secs_f64());
        let results = Results::of(stats, secs);
        let think = (info.think).map(|range| ThinkSummary::of(range, stats, &results));
        let refill = info.refill();
        let mut summary = Summary {
            destination: info.destination,
            driver: outcome.driver.to_string(),
            threads: outcome.threads,
            connections: Connections {
                requested: info.connections,
                keep_alive: info.keep_alive,
                pipeline: info.pipeline,
                pipeline_refill: refill,
                established: stats.established,
                reconnects: stats.reconnects,
                added: stats.added,
                no_local_port: stats.no_local_port,
            },
            connect_error: stats.connect_cause.map(|c| c.describe()),
            tls_answers: stats.tls_answers,
            duration_s: window,
            drain_s: outcome.drain.as_secs_f64(),
            started_unix_s: outcome
                .started_unix_s
                .map(|s| (s * 1000.0).round() / 1000.0),
            interrupted: outcome.interrupted,
            // The run adds it (`run::record`): it reads the host and the command line.
            run: None,
            merged: None,
            in_flight: stats.in_flight,
            concurrency: results.latency.mean / 1e6 * (results.latency.count as f64 / secs),
            results,
            connect: latency(&stats.connect, 0),
            // Sends happen in the window only.
            rate: info
                .rate
                .map(|target| rate_summary(target, stats, window.max(1e-9))),
            uncorrected: info.rate.map(|_| {
                stats
                    .uncorrected
                    .as_ref()
                    .map_or_else(Latency::default, |h| latency(h, 0))
            }),
            think,
            targets: target_summaries(&info.targets, &stats.targets, secs),
            bytes_read: stats.bytes_read,
            bytes_written: stats.bytes_written,
            per_second: per_second(
                outcome.seconds,
                info.rate,
                stats.first_byte.is_some(),
                outcome.started_unix_s,
            ),
            server: outcome.server,
            client: outcome.client,
            slo: None,
            histogram: histograms(stats, info.rate.is_some()),
        };
        summary.slo = info.slo.as_ref().map(|slo| SloVerdict::of(slo, &summary));
        summary
    }

    /// Bytes per second over the window and the drain.
    /// The latency's percentile distribution, and in rate mode the one from the actual send
    /// (`--hgrm`), from the report's histograms.
    pub fn distributions(&self) -> Result<(Distribution, Option<Distribution>), String> {
        let latency = decode_histogram(&self.histogram.data)?;
        let uncorrected = (self.histogram.uncorrected_data.as_deref())
            .filter(|data| !data.is_empty())
            .map(decode_histogram)
            .transpose()?;
        Ok((
            Distribution::of(&latency),
            uncorrected.as_ref().map(Distribution::of),
        ))
    }

    pub fn read_per_s(&self) -> f64 {
        self.bytes_read as f64 / self.secs()
    }

    pub fn written_per_s(&self) -> f64 {
        self.bytes_written as f64 / self.secs()
    }

    fn secs(&self) -> f64 {
        answered_over(self.duration_s, self.drain_s)
    }
}

/// The seconds rates divide by: what was answered, over the window and the drain together
/// (never 0, for a run stopped at once).
fn answered_over(window: f64, drain: f64) -> f64 {
    (window + drain).max(1e-9)
}

/// The seconds as saved: each names the rate's target and when it began on the wall clock
/// (from the window's start), and first-byte times are null without `--first-byte` (and 0
/// in a second without responses with it).
fn per_second(
    mut rows: Vec<SecondRow>,
    rate: Option<f64>,
    timed: bool,
    started_unix_s: Option<f64>,
) -> Vec<SecondRow> {
    for row in &mut rows {
        row.target = rate;
        row.unix_s = started_unix_s.map(|s| ((s + f64::from(row.second)) * 1e3).round() / 1e3);
        row.first_byte_p50_us = timed.then(|| row.first_byte_p50_us.unwrap_or(0.0));
        row.first_byte_p99_us = timed.then(|| row.first_byte_p99_us.unwrap_or(0.0));
    }
    rows
}

fn histograms(stats: &Stats, rate: bool) -> Histograms {
    let rated = |h: &Option<Histogram<u64>>| {
        rate.then(|| h.as_ref().map_or_else(String::new, encode_histogram))
    };
    Histograms {
        unit: "ns".into(),
        encoding: "hdrhistogram-v2-deflate-base64".into(),
        data: encode_histogram(&stats.latency),
        connect_data: encode_histogram(&stats.connect),
        first_byte_data: stats.first_byte.as_ref().map(encode_histogram),
        uncorrected_data: rated(&stats.uncorrected),
        send_lag_data: rated(&stats.send_lag),
    }
}

fn target_summaries(targets: &[Target], stats: &[Stats], secs: f64) -> Vec<TargetSummary> {
    let total_weight: u64 = targets.iter().map(|r| r.weight).sum();
    targets
        .iter()
        .zip(stats)
        .map(|(target, stats)| TargetSummary {
            target: target.clone(),
            share_pct: percent(target.weight, total_weight),
            results: Results::of(stats, secs),
            histogram: encode_histogram(&stats.latency),
            first_byte_histogram: stats.first_byte.as_ref().map(encode_histogram),
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
        send_lag_us: SendLag {
            p99: lag(0.99),
            max: lag(1.0),
        },
        late: stats.late,
        connections_used: stats.peak_connections,
        connection_limited: stats.capped > 0,
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

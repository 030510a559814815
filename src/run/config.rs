//! A validated run configuration: plain data, built by `cli` or directly by tests.

use std::net::SocketAddr;
use std::time::Duration;

use crate::check::Expect;
use crate::http::request::RequestSpec;
use crate::results::slo::Slo;
use crate::run::mix::MixLine;
use crate::run::url::Url;
use crate::tls::Trust;

/// Which monoio driver each core runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Driver {
    /// io_uring where the kernel allows it (seccomp may block it, as Docker's default
    /// profile does), epoll otherwise.
    #[default]
    Auto,
    Uring,
    Epoll,
}

/// A run of several rates (`--rates`, `--find-max`).
#[derive(Debug, Clone, PartialEq)]
pub enum Sweep {
    /// Each of these rates in turn, `duration` each.
    Rates(Vec<f64>),
    /// Search for the highest rate meeting `Config::slo`, starting at `rate`.
    FindMax,
    /// `-c 10,25,50`: each number of connections (users) in turn, a closed loop, `duration`
    /// each.
    Users(Vec<usize>),
}

/// Where the JSON report goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonOut {
    /// On stdout; the text report moves to stderr.
    Stdout,
    File(String),
}

/// Where the report goes besides the text on stdout.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outputs {
    pub json: Option<JsonOut>,
    /// `--csv PATH`: the per-second series (a sweep: its steps) as CSV.
    pub csv: Option<String>,
    /// `--html PATH`: the report as a page with charts.
    pub html: Option<String>,
    /// `--chart`: a sweep's text charts even when the text does not go to a terminal.
    pub chart: bool,
    /// `--locust-csv PREFIX`: Locust's CSV files, `PREFIX_stats.csv` and the others.
    pub locust: Option<String>,
    /// `--hgrm PATH`: the latency's percentile distribution (with `--rate`, the one from the
    /// actual send beside it).
    pub hgrm: Option<String>,
}

impl Outputs {
    /// Whether the text report goes to a terminal (stderr when the JSON takes stdout).
    pub fn text_on_terminal(&self) -> bool {
        use std::io::IsTerminal;
        match self.json {
            Some(JsonOut::Stdout) => std::io::stderr().is_terminal(),
            _ => std::io::stdout().is_terminal(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub url: Url,
    /// With https: how the server's certificate is checked.
    pub trust: Trust,
    pub request: RequestSpec,
    pub expect: Expect,
    /// `--targets`: a mix of requests that replaces `request`'s method and bodies, each line
    /// with its own path, headers and expectations (`expect` and `-H` filled in).
    pub mix: Option<Vec<MixLine>>,
    /// `--flow`: the steps each user runs in order (their requests are `mix`, one line per
    /// step, in order).
    pub flow: Option<crate::run::flow::Flow>,
    /// The command line as given (`blast` first), for the report's record of the run.
    pub command: Vec<String>,
    /// `--secret`: more header names whose values the record masks.
    pub secrets: Vec<String>,
    /// Total connections, spread over the threads (in rate mode: the ones opened at start).
    pub connections: usize,
    /// Open loop: total requests per second, spread over the threads (`None`: closed loop).
    pub rate: Option<f64>,
    /// Rate mode: connections may grow to this many when the server falls behind.
    pub max_connections: usize,
    /// Load excluded from the statistics, run before the measured run.
    pub warmup: Duration,
    /// Bring connections (closed loop) or the rate (open loop) up linearly over this long.
    pub ramp: Duration,
    /// `--spawn-rate`: users (connections) opened per second, Locust's spelling of the ramp;
    /// each step of a users sweep gets the ramp its users need (`ramp_for`).
    pub spawn_rate: Option<f64>,
    /// `--think`: each user's (connection's) pause between a response and its next request,
    /// uniformly random between the two (closed loop only).
    pub think: Option<(Duration, Duration)>,
    /// Several rates in one invocation.
    pub sweep: Option<Sweep>,
    /// `--each`: run each target of the mix alone, one after another (at each rate of a
    /// sweep).
    pub each: bool,
    /// The objective each run (or sweep step) is judged against; `--find-max` searches with it.
    pub slo: Option<Slo>,
    /// Stop at this duration (`None`: only `requests` or Ctrl-C stops the run).
    pub duration: Option<Duration>,
    /// Stop after this many requests in total.
    pub requests: Option<u64>,
    /// Threads; `None` means one per CPU in `cpus`.
    pub threads: Option<usize>,
    /// CPUs to pin threads to; `None` means the CPUs this process may run on.
    pub cpus: Option<Vec<usize>>,
    pub timeout: Duration,
    /// After `-d`: how long to wait for the requests still out (`None`: up to `timeout`).
    pub drain: Option<Duration>,
    pub connect_timeout: Duration,
    pub driver: Driver,
    /// Path or URL fetched once before the run; the run aborts unless it answers 2xx.
    pub health: Option<String>,
    pub outputs: Outputs,
    /// Largest response body kept for a body check.
    pub max_body: usize,
    /// `--first-byte`: also time each response's first body byte.
    pub first_byte: bool,
    /// Print the one-line status every second (the CLI enables it when stderr is a terminal).
    pub live: bool,
    /// `--server-pid`: processes (with their descendants) whose CPU and memory are sampled.
    pub server_pids: Vec<u32>,
    /// What blast serves over HTTP while the run goes.
    pub listen: Listen,
    /// `--start-at`: the wall-clock instant (Unix seconds) the load starts at, once the
    /// connections are open.
    pub start_at: Option<f64>,
    /// `--instance`: this run's name among runs made together (the record keeps it).
    pub instance: String,
    /// `--pipeline`: requests in flight on each connection at most (1: one at a time).
    pub pipeline: u32,
}

/// `--metrics-listen`, `--metrics-linger`, `--web`: the addresses blast serves the run's live
/// numbers on (bound before the run, so a busy one fails it at once).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listen {
    /// Prometheus metrics at `/metrics`.
    pub metrics: Option<SocketAddr>,
    /// How long the final totals stay served after the run.
    pub linger: Duration,
    /// The live dashboard.
    pub web: Option<SocketAddr>,
}

impl Listen {
    pub fn any(&self) -> bool {
        self.metrics.is_some() || self.web.is_some()
    }
}

impl Config {
    /// The ramp for `connections` users: `--spawn-rate`'s (one user every 1/rate seconds,
    /// the first at once), or `--ramp` as given.
    pub fn ramp_for(&self, connections: usize) -> Duration {
        match self.spawn_rate {
            Some(rate) => Duration::from_secs_f64(connections as f64 / rate),
            None => self.ramp,
        }
    }

    /// The defaults the CLI documents, for `url`.
    pub fn new(url: Url) -> Config {
        Config {
            url,
            trust: Trust::System,
            request: RequestSpec {
                method: "GET".into(),
                headers: Vec::new(),
                bodies: vec![Vec::new()],
                no_keepalive: false,
            },
            expect: Expect::default(),
            mix: None,
            flow: None,
            command: Vec::new(),
            secrets: Vec::new(),
            connections: 64,
            rate: None,
            max_connections: 1024,
            warmup: Duration::ZERO,
            ramp: Duration::ZERO,
            spawn_rate: None,
            think: None,
            sweep: None,
            slo: None,
            duration: Some(Duration::from_secs(10)),
            requests: None,
            threads: None,
            cpus: None,
            timeout: Duration::from_secs(10),
            drain: None,
            connect_timeout: Duration::from_secs(5),
            driver: Driver::Auto,
            health: None,
            outputs: Outputs::default(),
            max_body: 16 << 20,
            first_byte: false,
            live: false,
            server_pids: Vec::new(),
            each: false,
            listen: Listen::default(),
            start_at: None,
            instance: String::new(),
            pipeline: 1,
        }
    }
}

/// `blast merge`: reports to merge, and what to do with the merged one.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeConfig {
    /// `--json` reports of single runs.
    pub files: Vec<String>,
    pub slo: Option<Slo>,
    /// `--allow-skew`: merge runs that did not overlap, or reports without their start.
    pub allow_skew: bool,
    pub outputs: Outputs,
}

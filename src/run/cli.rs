//! Flag names, defaults, help text and validation messages, turned into a `Config`.

use std::io::IsTerminal;

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::check::{Expect, JsonExpectation, MAX_JSON_EXPECTATIONS, StatusSet};
use crate::http::form;
use crate::http::request::{self, RequestSpec, parse_header, parse_method};
use crate::results::slo::Slo;
use crate::run::config::{Config, Driver, JsonOut, Listen, MergeConfig, Outputs, Sweep};
use crate::run::flow;
use crate::run::mix;
use crate::run::openapi;
use crate::run::plan::{parse_cpus, unix_now};
use crate::run::url::Url;
use crate::serve::ServeConfig;
use crate::serve::faults::{Delay, Faults};
use crate::tls::Trust;
use crate::units::{
    format_rfc3339, parse_count, parse_duration, parse_duration_range, parse_instant, parse_rate,
    parse_size,
};

#[derive(Parser, Debug)]
#[command(
    name = "blast",
    version,
    about = "HTTP/1.1 load generator: finds a server's ceiling while checking every response",
    after_help = "Examples:\n  blast -c 256 -d 60 http://127.0.0.1:8000/predict\n  \
                  blast -c 64 -d 30s -X POST --body '{\"x\":[1,2]}' --expect-status 200 \\\n        \
                  --expect-json 'prediction=0|1' --json out.json http://127.0.0.1:8000/predict\n  \
                  blast --rate 2k -d 30 --html report.html http://127.0.0.1:8000/predict\n  \
                  blast --unix-socket /run/app.sock -c 64 -d 30 http://localhost/predict\n  \
                  blast --cacert ca.pem -c 64 -d 30 https://127.0.0.1:8443/predict\n  \
                  blast --targets docs/mix.jsonl -c 64 -d 30 http://127.0.0.1:8000/\n  \
                  blast -c 32 -d 10 --first-byte 'http://127.0.0.1:8080/generate?tokens=8'\n  \
                  blast demo\n  blast serve --listen 127.0.0.1:8080 --delay 1ms-5ms --error-rate 0.01\n  \
                  blast merge host1.json host2.json --json all.json",
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run blast's built-in target: /predict, /health, a streamed /generate; fault knobs (docs/serve.md)
    Serve(ServeArgs),
    /// Start the built-in target on one CPU and blast it from the others, prediction check on
    Demo(DemoArgs),
    /// Merge the --json reports of runs made at the same time (e.g. from several machines)
    /// into one report; with one file, print its report again
    Merge(MergeArgs),
    /// Compare the --json reports of runs made against different server setups (1 vs 4
    /// workers, async vs sync): one table, each figure's ratio to the first report
    Compare(CompareArgs),
}

#[derive(Args, Debug)]
struct MergeArgs {
    /// JSON reports written by blast --json, of single runs against one target
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,

    /// Judge the merged run against this objective, as blast --slo does; a miss exits 1
    #[arg(long, value_name = "EXPR")]
    slo: Option<String>,

    /// Also write the merged report as JSON to PATH ('-': JSON on stdout, the text on stderr)
    #[arg(long, value_name = "PATH")]
    json: Option<String>,

    /// Also write the merged per-second series as CSV to PATH
    #[arg(long, value_name = "PATH")]
    csv: Option<String>,

    /// Also write the merged report as a self-contained HTML page with charts to PATH
    #[arg(long, value_name = "PATH")]
    html: Option<String>,

    /// Merge runs that did not overlap in time, and reports from an older blast that do not
    /// say when they began (lined up by second index); the start skew is still reported
    #[arg(long)]
    allow_skew: bool,
}

#[derive(Args, Debug)]
struct CompareArgs {
    /// JSON reports written by blast --json (single runs, or sweeps), the first the baseline;
    /// rows are matched by target name and target rate
    #[arg(required = true, value_name = "FILE")]
    files: Vec<String>,

    /// Also write the comparison as JSON to PATH ('-': JSON on stdout, the text on stderr)
    #[arg(long, value_name = "PATH")]
    json: Option<String>,

    /// Also write the comparison as an HTML page with the reports' charts overlaid to PATH
    #[arg(long, value_name = "PATH")]
    html: Option<String>,
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free port, printed at start)
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: String,

    /// CPUs to pin the server threads to, e.g. 1 or 2-3 [default: all allowed]
    #[arg(long, value_name = "LIST")]
    cpus: Option<String>,

    /// Server threads [default: one per CPU in --cpus]
    #[arg(allow_hyphen_values = true, short = 't', long, value_name = "N")]
    threads: Option<String>,

    /// I/O driver, as for the client
    #[arg(long, value_enum, default_value_t = DriverArg::Auto)]
    driver: DriverArg,

    /// Extra latency per response: fixed (5ms) or uniformly random (1ms-10ms)
    #[arg(allow_hyphen_values = true, long, value_name = "TIME[-TIME]")]
    delay: Option<String>,

    /// Share of responses that are 500s: 0.01 or 1%
    #[arg(allow_hyphen_values = true, long, value_name = "SHARE")]
    error_rate: Option<String>,

    /// Share of /predict responses with a bad body ({"prediction":2} and invalid JSON, alternately)
    #[arg(allow_hyphen_values = true, long, value_name = "SHARE")]
    bad_body_rate: Option<String>,

    /// Close each connection after N responses (the last says Connection: close)
    #[arg(long, value_name = "N")]
    close_every: Option<String>,

    /// Hold back every N-th response of a thread for --stall
    #[arg(long, value_name = "N")]
    stall_every: Option<String>,

    /// How long a stalled response is held back
    #[arg(
        allow_hyphen_values = true,
        long,
        default_value = "1s",
        value_name = "TIME"
    )]
    stall: String,

    /// Stop after this long [default: run until Ctrl-C]
    #[arg(allow_hyphen_values = true, short = 'd', long, value_name = "TIME")]
    duration: Option<String>,

    /// Speak https with this certificate chain (PEM; needs --key)
    #[arg(long, value_name = "PATH", requires = "key")]
    cert: Option<String>,

    /// The private key of --cert (PEM)
    #[arg(long, value_name = "PATH", requires = "cert")]
    key: Option<String>,
}

#[derive(Args, Debug)]
struct DemoArgs {
    /// Connections
    #[arg(
        allow_hyphen_values = true,
        short = 'c',
        long,
        default_value = "64",
        value_name = "N"
    )]
    connections: String,

    /// Run time
    #[arg(
        allow_hyphen_values = true,
        short = 'd',
        long,
        default_value = "10s",
        value_name = "TIME"
    )]
    duration: String,

    /// Also write the results as JSON to PATH ('-' for stdout)
    #[arg(long, value_name = "PATH")]
    json: Option<String>,

    /// Also write the report as an HTML page with charts to PATH
    #[arg(long, value_name = "PATH")]
    html: Option<String>,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Target URL (http://host[:port]/path, or https://); with --targets, the file's first
    /// absolute URL when none is given
    #[arg(value_name = "URL")]
    url: Option<String>,

    /// Target URL, as an alternative to the positional argument
    #[arg(long = "url", value_name = "URL")]
    url_flag: Option<String>,

    /// Connect to this Unix socket instead of the URL's host and port (the URL still gives
    /// the Host header and the path), e.g. Gunicorn's --bind unix:/run/app.sock
    #[arg(long, value_name = "PATH")]
    unix_socket: Option<String>,

    /// https: check the server's certificate against the CA certificates in this PEM file
    /// instead of the system's (a private CA, or a test server's self-signed certificate)
    #[arg(long, value_name = "PATH")]
    cacert: Option<String>,

    /// https: accept any server certificate, self-signed or for another name (the
    /// handshake's signatures are still checked)
    #[arg(short = 'k', long, conflicts_with = "cacert")]
    insecure: bool,

    /// Total keep-alive connections (users), spread evenly over the threads; a list
    /// (10,25,50,100) runs each in turn, -d each, and prints one table (a users sweep)
    #[arg(
        allow_hyphen_values = true,
        short = 'c',
        long,
        default_value = "64",
        value_name = "N"
    )]
    connections: String,

    /// Run time: 30, 30s, 500ms, 2m, 1h [default: 10s, or until -n is done when -n is given]
    #[arg(allow_hyphen_values = true, short = 'd', long, value_name = "TIME")]
    duration: Option<String>,

    /// Open loop: send R requests per second in total (5k and 1M accepted), latency measured
    /// from each request's intended send time
    #[arg(allow_hyphen_values = true, long, value_name = "R")]
    rate: Option<String>,

    /// Run each of these rates in turn (-d each) and print one table, e.g. 1000,2000,5k
    #[arg(
        allow_hyphen_values = true,
        long,
        value_name = "LIST",
        conflicts_with = "rate"
    )]
    rates: Option<String>,

    /// Search for the highest rate meeting --slo: double from --rate (default 1000) until a
    /// step fails, then bisect
    #[arg(long, requires = "slo", conflicts_with = "rates")]
    find_max: bool,

    /// Run each target of the mix (--targets, --openapi) alone, one after another: for -d
    /// each, or at each rate of --rates; one row per target (and rate), each judged by --slo
    #[arg(long)]
    each: bool,

    /// Objective: latency (p50 p90 p95 p99 p999 max), errors and rps bounds, e.g.
    /// 'p99<100ms,errors<1%,rps>5k'; the report says whether the run met it, and a miss exits 1
    /// (in a --rates sweep, a miss at any step). With --targets, NAME:bound bounds one target
    /// (predict:p99<100ms). With --find-max, what the search must meet
    #[arg(long, value_name = "EXPR")]
    slo: Option<String>,

    /// Load this long first, on the same connections, excluded from the results and from -n
    #[arg(allow_hyphen_values = true, long, value_name = "TIME")]
    warmup: Option<String>,

    /// Bring connections (closed loop) or the rate (--rate) up linearly over this long
    #[arg(allow_hyphen_values = true, long, value_name = "TIME")]
    ramp: Option<String>,

    /// Open this many users (connections) per second, Locust's spelling of --ramp: -c 500
    /// --spawn-rate 50 opens them over 10 s (closed loop)
    #[arg(long, value_name = "N", conflicts_with = "ramp")]
    spawn_rate: Option<String>,

    /// Each user (connection) waits this long between a response and its next request: 2s,
    /// or 1s-3s uniformly at random (Locust's wait_time = between(1, 3)); closed loop only.
    /// Latency excludes it; the report gives the users' cycle (latency + think)
    #[arg(long, value_name = "TIME[-TIME]")]
    think: Option<String>,

    /// Rate mode: open more connections, up to this many, when the server falls behind
    #[arg(
        allow_hyphen_values = true,
        long,
        default_value = "1024",
        value_name = "N"
    )]
    max_connections: String,

    /// Stop after N requests in total (10k and 1M are accepted)
    #[arg(allow_hyphen_values = true, short = 'n', long, value_name = "N")]
    requests: Option<String>,

    /// Threads, one monoio runtime each [default: one per CPU in --cpus]
    #[arg(allow_hyphen_values = true, short = 't', long, value_name = "N")]
    threads: Option<String>,

    /// CPUs to pin threads to, e.g. 0,2-3 [default: the CPUs this process may run on]
    #[arg(long, value_name = "LIST")]
    cpus: Option<String>,

    /// HTTP method [default: GET, or POST when a body is given]
    #[arg(short = 'X', long, value_name = "METHOD")]
    method: Option<String>,

    /// Request header 'Name: value' (repeatable; replaces blast's Host/User-Agent/Content-Type)
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    headers: Vec<String>,

    /// Request body; a JSON body gets Content-Type: application/json unless -H sets one
    #[arg(long, value_name = "TEXT", conflicts_with_all = ["body_file", "body_lines"])]
    body: Option<String>,

    /// Read the request body from a file
    #[arg(long, value_name = "PATH", conflicts_with = "body_lines")]
    body_file: Option<String>,

    /// Request bodies, one per line (e.g. JSON Lines), sent in turn: each thread sends the
    /// next line with each request; blank lines are skipped
    #[arg(long, value_name = "PATH")]
    body_lines: Option<String>,

    /// A multipart/form-data body in curl's -F syntax, built once: NAME=VALUE, or
    /// NAME=@FILE[;type=MIME][;filename=NAME] for a file sent byte for byte (repeatable; parts
    /// may share a name, as several files do)
    #[arg(
        long = "form",
        value_name = "NAME=VALUE",
        conflicts_with_all = ["body", "body_file", "body_lines", "targets", "openapi"]
    )]
    forms: Vec<String>,

    /// A mix of requests, one JSON object per line (name, method, path or url, headers, body,
    /// form, weight, expect_status, expect_json, expect_body; see docs/targets.md), sent in
    /// proportion to their weights on the URL's host; the report breaks results down by name.
    /// A vegeta targets file (http format: 'GET http://host/path' lines) is read as it is;
    /// '-' reads standard input
    #[arg(
        long,
        value_name = "PATH",
        conflicts_with_all = ["body", "body_file", "body_lines", "method"]
    )]
    targets: Option<String>,

    /// A user flow, one JSON object per line (a --targets line's keys, and capture, think,
    /// repeat_until, max_repeats): every user (connection) runs the steps in order, then again;
    /// values captured from a response go into later steps as ${name}; each step is a target
    /// in the report, and the whole flow a row of its own named flow (README, User flows)
    #[arg(
        long,
        value_name = "PATH",
        conflicts_with_all = ["targets", "openapi", "body", "body_file", "body_lines", "forms", "method", "each"]
    )]
    flow: Option<String>,

    /// A mix of every operation of an OpenAPI 3.0/3.1 document (JSON or YAML): its URL or file, by
    /// default the URL's origin + /openapi.json; one target per operation, parameters and JSON
    /// bodies filled from examples, defaults or schemas (docs/targets.md)
    #[arg(
        long,
        value_name = "URL_OR_FILE",
        num_args = 0..=1,
        default_missing_value = "",
        conflicts_with_all = ["targets", "body", "body_file", "body_lines", "method"]
    )]
    openapi: Option<String>,

    /// --openapi: keep the operations whose path starts with PREFIX (repeatable)
    #[arg(long = "filter", value_name = "PREFIX", requires = "openapi")]
    filters: Vec<String>,

    /// --openapi: drop the operations whose path starts with PREFIX (repeatable)
    #[arg(long = "exclude", value_name = "PREFIX", requires = "openapi")]
    excludes: Vec<String>,

    /// --openapi: the methods to take
    #[arg(
        long,
        value_name = "LIST",
        default_value = "GET,POST",
        requires = "openapi"
    )]
    methods: String,

    /// --openapi: a parameter's value (NAME=VALUE), values in turn (NAME=a,b,c) or an integer
    /// range in turn (NAME=1-2000), one request each (repeatable)
    #[arg(long = "param", value_name = "NAME=VALUES", requires = "openapi")]
    params: Vec<String>,

    /// --openapi: name each target by its operationId instead of METHOD path
    #[arg(long, requires = "openapi")]
    operation_id: bool,

    /// --openapi: print the mix as --targets JSON Lines on stdout and exit, to edit and run
    /// with --targets
    #[arg(long, requires = "openapi")]
    print_targets: bool,

    /// A new connection for every request (sent with Connection: close, closed after the
    /// response); latency then includes the TCP handshake
    #[arg(long, visible_alias = "disable-keepalive")]
    no_keepalive: bool,

    /// Per-request timeout, from the write to the last response byte; the connection is
    /// closed and reopened after one
    #[arg(
        allow_hyphen_values = true,
        long,
        default_value = "10s",
        value_name = "TIME"
    )]
    timeout: String,

    /// Timeout for establishing a TCP connection
    #[arg(
        allow_hyphen_values = true,
        long,
        default_value = "5s",
        value_name = "TIME"
    )]
    connect_timeout: String,

    /// After -d, wait up to this long for the requests still out, each until it is answered
    /// or its --timeout expires; 0 stops at -d and reports them in flight [default: --timeout]
    #[arg(allow_hyphen_values = true, long, value_name = "TIME")]
    drain: Option<String>,

    /// Also time each response's first body byte (TTFB; for a streamed body, such as a model
    /// server's tokens, the time to first token), from the same start as the latency
    #[arg(long)]
    first_byte: bool,

    /// I/O driver: auto uses io_uring and falls back to epoll where io_uring is unavailable
    #[arg(long, value_enum, default_value_t = DriverArg::Auto)]
    driver: DriverArg,

    /// HTTP/1.1 pipelining: keep up to N requests in flight on each connection, written back
    /// to back, each response matched to its own request in order; a closed loop tops a
    /// connection up once N/4 are free (1 to 1024; not with --flow, --think, --no-keepalive
    /// or --first-byte)
    #[arg(
        allow_hyphen_values = true,
        long,
        default_value = "1",
        value_name = "N"
    )]
    pipeline: String,

    /// Before the run, GET this path (/health) or URL once; exit 2 unless it answers 2xx
    #[arg(long, value_name = "PATH_OR_URL")]
    health: Option<String>,

    /// Sample this server process and all its descendants (give Gunicorn's or Uvicorn's
    /// master for all its workers) every 100 ms: CPU (% of one core) and resident memory, per
    /// second and in all, in every report (repeatable)
    #[arg(long = "server-pid", value_name = "PID")]
    server_pids: Vec<String>,

    /// Statuses that count as success: 200, 2xx, 200,204, 200-299
    #[arg(long, default_value = "2xx", value_name = "SET")]
    expect_status: String,

    /// The body must be a JSON object with this top-level field; with =, its value must be
    /// one of the |-separated JSON literals, e.g. 'prediction=0|1' (repeatable). The whole body
    /// is validated; nesting deeper than 128 arrays and objects fails it
    #[arg(long = "expect-json", value_name = "FIELD[=V1|V2]")]
    expect_json: Vec<String>,

    /// The body must contain this text, anywhere (repeatable: each must occur); for bodies
    /// that are not JSON, or a value --expect-json cannot express
    #[arg(long = "expect-body", value_name = "TEXT")]
    expect_body: Vec<String>,

    /// Largest response body --expect-json or --expect-body checks (k, M, g: KiB, MiB, GiB);
    /// a larger one is read, dropped and counted as too_large. Each connection's buffer grows
    /// to the largest body it checks
    #[arg(
        allow_hyphen_values = true,
        long,
        default_value = "16M",
        value_name = "SIZE"
    )]
    max_body: String,

    /// Also write the results as JSON to PATH ('-': JSON on stdout, the text report on stderr)
    #[arg(long, value_name = "PATH")]
    json: Option<String>,

    /// Also write the per-second series (with --rates or --find-max: the steps) as CSV to PATH
    #[arg(long, value_name = "PATH")]
    csv: Option<String>,

    /// Also write the report as a self-contained HTML page (nothing fetched: it works offline;
    /// one inline script only sorts its tables) with charts of throughput and latency per second and of the latency distribution (with
    /// --rates or --find-max: by rate) to PATH
    #[arg(long, value_name = "PATH")]
    html: Option<String>,

    /// After a sweep's table (--rates, --find-max), draw text charts of the achieved rate and
    /// the latency against the target rate (a line per target with --each) [default: when
    /// the report goes to a terminal]
    #[arg(long)]
    chart: bool,

    /// Also write the run as Locust 2.x writes it with --csv PREFIX: PREFIX_stats.csv,
    /// PREFIX_failures.csv, PREFIX_exceptions.csv and PREFIX_stats_history.csv (single runs)
    #[arg(long, value_name = "PREFIX")]
    locust_csv: Option<String>,

    /// Also write the latency distribution in HdrHistogram's percentile-distribution format
    /// (wrk2 --u_latency's, the HdrHistogram plotter's input), in milliseconds; with --rate,
    /// the one from the actual send to PATH with .uncorrected before its extension (single runs)
    #[arg(long, value_name = "PATH")]
    hgrm: Option<String>,

    /// A header whose value the reports' record of the command line shows as ***
    /// (repeatable; Authorization, Cookie and Proxy-Authorization always are)
    #[arg(long = "secret", value_name = "HEADER")]
    secrets: Vec<String>,

    /// While the run goes, serve Prometheus metrics at http://ADDR/metrics (requests,
    /// failures by target, category and status; a latency histogram; in-flight requests,
    /// connections, the rate and its send lag). ADDR is IP:PORT, or :PORT for every
    /// interface (single runs)
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<String>,

    /// After the run, keep serving the final totals (--metrics-listen) and the report page
    /// (--web) this long, so the last scrape sees them
    #[arg(
        allow_hyphen_values = true,
        long,
        default_value = "5s",
        value_name = "TIME"
    )]
    metrics_linger: String,

    /// While the run goes, serve a live dashboard at http://ADDR/: the numbers and charts of
    /// each second, the failures by reason, and a Stop button that ends the run as Ctrl-C
    /// does; at the end, the report page. ADDR as for --metrics-listen (single runs)
    #[arg(long, value_name = "ADDR")]
    web: Option<String>,

    /// Start the load at this wall-clock instant, after resolving, the health check and
    /// opening the connections: RFC 3339 (2026-12-07T10:00:00Z), Unix seconds, or +30s from
    /// now; for several blast processes or machines started together (single runs; at most
    /// 24 h ahead; up to 1 s past is started at once, and said)
    #[arg(long, value_name = "TIME")]
    start_at: Option<String>,

    /// Name this run among runs made together (one per machine or pod): the report keeps it,
    /// and blast merge lists the runs it merged by it [default: the host's name]
    #[arg(long, value_name = "NAME")]
    instance: Option<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum DriverArg {
    Auto,
    Uring,
    Epoll,
}

/// What the command line asked for.
pub enum Parsed {
    Run(Box<Config>),
    Serve(ServeConfig),
    /// The demo: a client config whose target the demo fills in, and the server CPU.
    Demo(Box<Config>),
    Merge(MergeConfig),
    /// `blast compare`: the reports, and where the comparison goes.
    Compare(Vec<String>, Outputs),
    /// `--help` or `--version`: the text to print on stdout.
    Print(String),
}

/// Parses argv. An `Err` is one line for stderr; the process exits with code 2.
pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Parsed, String> {
    let args: Vec<String> = args.into_iter().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) =>
        {
            return Ok(Parsed::Print(e.render().to_string()));
        }
        Err(e) => return Err(first_line(&e.render().to_string())),
    };
    match cli.command {
        Some(Command::Serve(args)) => serve_config(args).map(Parsed::Serve),
        Some(Command::Demo(demo)) => demo_config(demo).map(|mut c| {
            c.command = args;
            Parsed::Demo(Box::new(c))
        }),
        Some(Command::Merge(args)) => Ok(Parsed::Merge(MergeConfig {
            files: args.files,
            slo: args.slo.as_deref().map(Slo::parse).transpose()?,
            allow_skew: args.allow_skew,
            outputs: Outputs {
                json: json_out(args.json),
                csv: args.csv,
                html: args.html,
                ..Outputs::default()
            },
        })),
        Some(Command::Compare(args)) => Ok(Parsed::Compare(
            args.files,
            Outputs {
                json: json_out(args.json),
                html: args.html,
                ..Outputs::default()
            },
        )),
        None => run_or_print(cli.run, args),
    }
}

fn driver(arg: DriverArg) -> Driver {
    match arg {
        DriverArg::Auto => Driver::Auto,
        DriverArg::Uring => Driver::Uring,
        DriverArg::Epoll => Driver::Epoll,
    }
}

fn serve_config(args: ServeArgs) -> Result<ServeConfig, String> {
    let listen: SocketAddr = args.listen.parse().map_err(|_| {
        format!(
            "invalid --listen '{}' (use e.g. 127.0.0.1:8080)",
            args.listen
        )
    })?;
    let mut config = ServeConfig::new(listen);
    config.cpus = args.cpus.as_deref().map(parse_cpus).transpose()?;
    config.threads = args
        .threads
        .as_deref()
        .map(|t| positive("--threads", t).map(|t| t as usize))
        .transpose()?;
    config.driver = driver(args.driver);
    config.duration = args
        .duration
        .as_deref()
        .map(|d| positive_duration("--duration", d))
        .transpose()?;
    config.faults = Faults {
        delay: args
            .delay
            .as_deref()
            .map(Delay::parse)
            .transpose()?
            .unwrap_or_default(),
        error_share: args
            .error_rate
            .as_deref()
            .map(|r| share("--error-rate", r))
            .transpose()?
            .unwrap_or(0.0),
        bad_body_share: args
            .bad_body_rate
            .as_deref()
            .map(|r| share("--bad-body-rate", r))
            .transpose()?
            .unwrap_or(0.0),
        close_every: args
            .close_every
            .as_deref()
            .map(|n| positive("--close-every", n))
            .transpose()?,
        stall_every: args
            .stall_every
            .as_deref()
            .map(|n| positive("--stall-every", n))
            .transpose()?,
        stall: positive_duration("--stall", &args.stall)?,
    };
    if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        config.tls = Some(crate::serve::server_config(cert.as_ref(), key.as_ref())?);
    }
    Ok(config)
}

/// A share of responses: `0.01` or `1%`, between 0 and 1.
fn share(flag: &str, text: &str) -> Result<f64, String> {
    let (number, scale) = match text.strip_suffix('%') {
        Some(n) => (n, 0.01),
        None => (text, 1.0),
    };
    number
        .trim()
        .parse::<f64>()
        .ok()
        .map(|v| v * scale)
        .filter(|v| (0.0..=1.0).contains(v))
        .ok_or_else(|| {
            format!("{flag} must be a share between 0 and 1 (e.g. 0.01 or 1%), not '{text}'")
        })
}

/// The demo's client: the prediction check on a JSON POST; the target is filled in later.
fn demo_config(args: DemoArgs) -> Result<Config, String> {
    let mut config = Config::new(Url::parse("http://127.0.0.1:1/predict")?);
    config.connections = positive("--connections", &args.connections)? as usize;
    config.duration = Some(positive_duration("--duration", &args.duration)?);
    config.request = request_spec(
        None,
        &[],
        vec![br#"{"features":[5.1,3.5,1.4,0.2]}"#.to_vec()],
    )?;
    config.expect = expect("200", &["prediction=0|1".to_string()], &[])?;
    config.health = Some("/health".into());
    config.outputs.json = json_out(args.json);
    config.outputs.html = args.html;
    config.live = std::io::stderr().is_terminal();
    Ok(config)
}

/// A ramp longer than the run would leave most of its connections (or its rate) never
/// reached.
fn ramp_fits(config: &Config) -> Result<(), String> {
    let Some(duration) = config.duration.filter(|_| config.requests.is_none()) else {
        return Ok(());
    };
    // A users sweep's longest ramp: its most users at `--spawn-rate`.
    let most = match &config.sweep {
        Some(Sweep::Users(users)) => users.iter().copied().max().unwrap_or(0),
        _ => config.connections,
    };
    let ramp = config.ramp_for(most);
    if ramp > duration + config.warmup {
        return Err(format!(
            "--ramp {}s is longer than the run (-d {}s + --warmup {}s): the ramp would never \
             finish; shorten it or run longer",
            ramp.as_secs_f64(),
            duration.as_secs_f64(),
            config.warmup.as_secs_f64()
        ));
    }
    Ok(())
}

/// clap's messages span several lines (usage, tips); the first one says what is wrong, and
/// when it ends in a colon the lines after it name what it means (the missing flags).
fn first_line(rendered: &str) -> String {
    let mut lines = rendered.lines();
    let first = lines.next().unwrap_or("invalid arguments");
    let mut line = first.trim_start_matches("error: ").to_string();
    if line.ends_with(':') {
        let named: Vec<&str> = lines.map(str::trim).take_while(|l| !l.is_empty()).collect();
        line = format!("{line} {}", named.join(", "));
    }
    format!("{line} (see {} --help)", help_command(rendered))
}

/// The (sub)command a clap message is about, from its usage line: `blast` or `blast serve`.
fn help_command(rendered: &str) -> String {
    let usage = rendered
        .lines()
        .find_map(|l| l.trim().strip_prefix("Usage: "))
        .unwrap_or("blast");
    let words: Vec<&str> = usage
        .split_whitespace()
        .take_while(|w| !w.starts_with(['[', '<', '-']))
        .collect();
    if words.is_empty() {
        "blast".to_string()
    } else {
        words.join(" ")
    }
}

/// The run's `Config`, one flag group at a time: where to, how much load, what to send and
/// when to give up, what counts as success, where the results go.
/// A run, or with `--print-targets` the mix `--openapi` found (checked as a run checks it).
fn run_or_print(cli: RunArgs, command: Vec<String>) -> Result<Parsed, String> {
    let print = cli.print_targets;
    let (mut config, openapi_lines) = config(cli)?;
    config.command = command;
    match openapi_lines {
        Some(lines) if print => Ok(Parsed::Print(lines)),
        _ => Ok(Parsed::Run(Box::new(config))),
    }
}

/// The run's settings, and with `--openapi` the mix it found as `--targets` lines.
fn config(mut cli: RunArgs) -> Result<(Config, Option<String>), String> {
    // Read first: without a URL on the command line, the file's first one is the run's.
    let mut targets = match &cli.targets {
        Some(path) => Some((path.clone(), mix::read_text(path)?)),
        None => None,
    };
    openapi_names_the_api(&mut cli)?;
    let url = url(cli.url.take(), cli.url_flag.take(), targets.as_ref())?;
    let mut target = Url::parse(&url)?;
    target.unix_socket = cli.unix_socket.take().map(Into::into);
    let mut config = Config::new(target);
    config.trust = match (cli.insecure, cli.cacert.take()) {
        (true, _) => Trust::Any,
        (false, Some(path)) => Trust::Cacert(path.into()),
        (false, None) => Trust::System,
    };
    let openapi_lines = match cli.openapi {
        Some(_) => Some(openapi_mix(&config, &cli)?),
        None => None,
    };
    if let Some(lines) = &openapi_lines {
        targets = Some(("--openapi".into(), lines.clone()));
    }
    load(&mut config, &cli)?;
    sending(&mut config, &mut cli)?;
    checks(&mut config, &cli, targets.as_ref())?;
    // After `checks`, which reads `--flow`: a pipeline is refused with it.
    config.pipeline = pipeline(&cli.pipeline, &config)?;
    config.outputs = Outputs {
        json: json_out(cli.json),
        csv: cli.csv,
        html: cli.html,
        chart: cli.chart,
        locust: cli.locust_csv,
        hgrm: cli.hgrm,
    };
    config.secrets = cli.secrets;
    config.listen = listen(&cli.metrics_listen, &cli.metrics_linger, &cli.web)?;
    config.start_at = cli.start_at.as_deref().map(start_at).transpose()?;
    config.instance = match cli.instance {
        Some(name) => instance(name)?,
        None => crate::run::record::host_name(),
    };
    if config.start_at.is_some() && (config.sweep.is_some() || config.each) {
        return Err(
            "--start-at starts one run: not with a sweep (-c list, --rates, --find-max) or \
             --each"
                .into(),
        );
    }
    if config.listen.any() && (config.sweep.is_some() || config.each) {
        return Err(
            "--metrics-listen and --web serve one run: not with a sweep (-c list, --rates, \
             --find-max) or --each"
                .into(),
        );
    }
    if config.outputs.hgrm.is_some() && (config.sweep.is_some() || config.each) {
        return Err(
            "--hgrm writes one run's latency distribution: not with a sweep (-c list, \
             --rates, --find-max) or --each"
                .into(),
        );
    }
    let users_sweep = matches!(config.sweep, Some(Sweep::Users(_)));
    if config.outputs.locust.is_some() && ((config.sweep.is_some() && !users_sweep) || config.each)
    {
        return Err(
            "--locust-csv writes the files of one run, as Locust does (with a -c list, of \
                    each step): not with --rates, --find-max or --each"
                .into(),
        );
    }
    ramp_fits(&config)?;
    config.live = std::io::stderr().is_terminal();
    Ok((config, openapi_lines))
}

/// `blast --openapi http://host:8000/` (no other URL): the document's URL names the API too,
/// at its origin; the document is that URL's, or at `/` the origin's `/openapi.json`.
fn openapi_names_the_api(cli: &mut RunArgs) -> Result<(), String> {
    let Some(document) = cli.openapi.as_deref().filter(|d| d.contains("://")) else {
        return Ok(());
    };
    if cli.url.is_some() || cli.url_flag.is_some() {
        return Ok(());
    }
    let document = Url::parse(document)?;
    cli.url = Some(document.with_path("/").url());
    if document.path == "/" {
        cli.openapi = Some(String::new());
    }
    Ok(())
}

/// `--openapi`: the document's operations as `--targets` lines; the ones left out are named
/// on stderr, one line each.
fn openapi_mix(config: &Config, cli: &RunArgs) -> Result<String, String> {
    let headers = (cli.headers.iter())
        .map(|h| parse_header(h))
        .collect::<Result<Vec<_>, _>>()?;
    let document = openapi::fetch(
        cli.openapi.as_deref().unwrap_or_default(),
        &config.url,
        &config.trust,
        &headers,
    )?;
    let discovery = openapi::Discovery {
        methods: (cli.methods.split(','))
            .map(|m| m.trim().to_ascii_uppercase())
            .filter(|m| !m.is_empty())
            .collect(),
        filters: cli.filters.clone(),
        excludes: cli.excludes.clone(),
        params: (cli.params.iter())
            .map(|p| openapi::parse_param(p))
            .collect::<Result<_, _>>()?,
        operation_ids: cli.operation_id,
    };
    let found = openapi::discover(&document, &discovery)?;
    for (name, why) in &found.skipped {
        eprintln!("blast: --openapi: skipped {name}: {why}");
    }
    Ok(found.lines)
}

/// The URL, given positionally or with `--url`, or else the `--targets` file's first.
fn url(
    positional: Option<String>,
    flag: Option<String>,
    targets: Option<&(String, String)>,
) -> Result<String, String> {
    match (positional, flag) {
        (Some(_), Some(_)) => Err("give the URL once: positionally or with --url".into()),
        (Some(url), None) | (None, Some(url)) => Ok(url),
        (None, None) => match targets {
            Some((path, text)) => mix::first_url(text).ok_or_else(|| {
                format!(
                    "missing URL: give one, or an absolute URL in --targets '{path}' (a request \
                     line such as 'GET http://host/path', or a line's \"url\")"
                )
            }),
            None => Err(
                "missing URL, e.g. blast http://127.0.0.1:8000/, or blast demo (see blast --help)"
                    .into(),
            ),
        },
    }
}

/// How much load and for how long: connections, rate, sweeps, objective, warm-up, ramp, `-n`,
/// `-d`, threads and CPUs.
fn load(config: &mut Config, cli: &RunArgs) -> Result<(), String> {
    let users: Vec<usize> = (cli.connections.split(','))
        .map(|c| positive("--connections", c.trim()).map(|c| c as usize))
        .collect::<Result<_, _>>()?;
    config.connections = users[0];
    config.rate = cli
        .rate
        .as_deref()
        .map(parse_rate)
        .transpose()
        .map_err(|e| format!("--rate: {e}"))?;
    config.max_connections = positive("--max-connections", &cli.max_connections)? as usize;
    config.warmup = optional_duration("--warmup", cli.warmup.as_deref())?;
    config.ramp = optional_duration("--ramp", cli.ramp.as_deref())?;
    config.spawn_rate = (cli.spawn_rate.as_deref())
        .map(|t| parse_rate(t).map_err(|e| format!("--spawn-rate: {e}")))
        .transpose()?;
    if config.spawn_rate.is_some() && (config.rate.is_some() || cli.rates.is_some() || cli.find_max)
    {
        return Err(
            "--spawn-rate opens users (connections) in a closed loop: with --rate, \
                    bring the rate up with --ramp"
                .into(),
        );
    }
    config.ramp = config.ramp_for(config.connections);
    config.think = think(cli)?;
    config.slo = cli.slo.as_deref().map(Slo::parse).transpose()?;
    config.sweep = match &cli.rates {
        _ if users.len() > 1 => {
            if config.rate.is_some() || cli.rates.is_some() || cli.find_max {
                return Err(
                    "-c with a list sweeps users in a closed loop: not with --rate, \
                            --rates or --find-max (sweep users or rates)"
                        .into(),
                );
            }
            Some(Sweep::Users(users))
        }
        Some(list) => Some(Sweep::Rates(
            list.split(',')
                .map(|r| parse_rate(r.trim()).map_err(|e| format!("--rates: {e}")))
                .collect::<Result<_, _>>()?,
        )),
        None if cli.find_max => {
            if config.slo.as_ref().is_some_and(Slo::bounds_throughput) {
                return Err(
                    "--find-max cannot search with an rps bound in --slo: every rate \
                            below it would miss (bound latency and errors instead)"
                        .into(),
                );
            }
            config.rate.get_or_insert(1000.0);
            Some(Sweep::FindMax)
        }
        None => None,
    };
    config.requests = cli
        .requests
        .as_deref()
        .map(|n| positive("--requests", n))
        .transpose()?;
    config.duration = match (&cli.duration, config.requests) {
        (Some(d), _) => Some(positive_duration("--duration", d)?),
        (None, Some(_)) => None,
        (None, None) => config.duration,
    };
    config.threads = cli
        .threads
        .as_deref()
        .map(|t| positive("--threads", t).map(|t| t as usize))
        .transpose()?;
    config.cpus = cli.cpus.as_deref().map(parse_cpus).transpose()?;
    Ok(())
}

/// What is sent and how long it may take: method, headers, body, keep-alive, timeouts, the
/// drain, the first-byte timing, the driver, the health check and the server to sample.
fn sending(config: &mut Config, cli: &mut RunArgs) -> Result<(), String> {
    let mut bodies = bodies(cli.body.take(), cli.body_file.take(), cli.body_lines.take())?;
    let form = form(&cli.forms)?;
    if let Some((_, body)) = &form {
        bodies = vec![body.clone()];
    }
    config.request = request_spec(cli.method.take(), &cli.headers, bodies)?;
    if let Some((content_type, _)) = form {
        crate::http::form::set_content_type(&mut config.request.headers, content_type);
    }
    config.request.no_keepalive = cli.no_keepalive;
    config.timeout = positive_duration("--timeout", &cli.timeout)?;
    config.connect_timeout = positive_duration("--connect-timeout", &cli.connect_timeout)?;
    config.drain = cli
        .drain
        .as_deref()
        .map(parse_duration)
        .transpose()
        .map_err(|e| format!("--drain: {e}"))?;
    // A bound on the first byte needs it timed.
    config.first_byte = cli.first_byte || config.slo.as_ref().is_some_and(Slo::bounds_first_byte);
    config.driver = driver(cli.driver);
    config.health = cli.health.take();
    config.server_pids = cli
        .server_pids
        .iter()
        .map(|text| server_pid(text))
        .collect::<Result<_, _>>()?;
    Ok(())
}

/// How far `--start-at` may lie in the past (started at once) or ahead.
const START_GRACE_S: f64 = 1.0;
const START_AHEAD_MAX_S: f64 = 86_400.0;

/// `--start-at`: the instant as Unix seconds, neither past its grace nor a day ahead.
fn start_at(text: &str) -> Result<f64, String> {
    let now = unix_now();
    let at = parse_instant(text, now).map_err(|e| format!("--start-at: {e}"))?;
    if at < now - START_GRACE_S {
        return Err(format!(
            "--start-at: {} is {:.1}s in the past",
            format_rfc3339(at),
            now - at
        ));
    }
    if at > now + START_AHEAD_MAX_S {
        return Err(format!(
            "--start-at: {} is more than 24 h ahead",
            format_rfc3339(at)
        ));
    }
    Ok(at)
}

/// The deepest `--pipeline`: as wrk's and h2load's users go (16 is TechEmpower's), with room.
const PIPELINE_MAX: u32 = 1024;

/// `--pipeline N`: 1 to `PIPELINE_MAX`, and more than 1 only where requests may overlap on a
/// connection.
fn pipeline(text: &str, config: &Config) -> Result<u32, String> {
    let depth = text
        .parse::<u32>()
        .ok()
        .filter(|d| (1..=PIPELINE_MAX).contains(d))
        .ok_or_else(|| format!("--pipeline: '{text}' is not a depth from 1 to {PIPELINE_MAX}"))?;
    let clash = if depth == 1 {
        None
    } else if config.flow.is_some() {
        Some("--flow: a user's steps wait for each other's answers")
    } else if config.think.is_some() {
        Some("--think: a user pauses between a response and its next request")
    } else if config.request.no_keepalive {
        Some("--no-keepalive: a pipeline needs a connection that stays open")
    } else if config.first_byte {
        Some("--first-byte: a pipelined response's first byte may come in a read of others")
    } else {
        None
    };
    match clash {
        Some(why) => Err(format!("--pipeline {depth} is not for {why}")),
        None => Ok(depth),
    }
}

/// `--instance`: a name a report's line can show, 1 to 128 characters with no control
/// characters.
fn instance(name: String) -> Result<String, String> {
    let length = name.chars().count();
    if length == 0 || length > 128 || name.chars().any(char::is_control) {
        return Err(format!(
            "--instance: {name:?} is not a name: 1 to 128 characters, none of them control \
             characters"
        ));
    }
    Ok(name)
}

/// `--metrics-listen`, `--metrics-linger`, `--web`.
fn listen(metrics: &Option<String>, linger: &str, web: &Option<String>) -> Result<Listen, String> {
    let addr = |flag: &str, text: &Option<String>| {
        text.as_deref().map(|t| listen_addr(flag, t)).transpose()
    };
    Ok(Listen {
        metrics: addr("--metrics-listen", metrics)?,
        linger: parse_duration(linger).map_err(|e| format!("--metrics-linger: {e}"))?,
        web: addr("--web", web)?,
    })
}

/// `IP:PORT`, `localhost:PORT`, or `:PORT` for every interface (Prometheus exporters' way).
fn listen_addr(flag: &str, text: &str) -> Result<SocketAddr, String> {
    let full = match text.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => text.replacen("localhost:", "127.0.0.1:", 1),
    };
    full.parse().map_err(|_| {
        format!("{flag}: '{text}' is not an address to listen on (IP:PORT, or :PORT for every interface)")
    })
}

/// A `--server-pid` that names a process whose counters blast can read.
fn server_pid(text: &str) -> Result<u32, String> {
    let pid = text
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|&p| p > 0)
        .ok_or_else(|| format!("invalid --server-pid '{text}' (a process ID)"))?;
    crate::engine::usage::check_pid(pid)?;
    Ok(pid)
}

/// What counts as success: the expectations, a `--targets` mix with its own, the objective's
/// targets, and the largest body checked.
fn checks(
    config: &mut Config,
    cli: &RunArgs,
    targets: Option<&(String, String)>,
) -> Result<(), String> {
    config.expect = expect(&cli.expect_status, &cli.expect_json, &cli.expect_body)?;
    config.mix = match targets {
        Some((path, text)) => Some(mix::load(
            path,
            text,
            &mix::Defaults {
                url: &config.url,
                headers: &config.request.headers,
                expect: &config.expect,
            },
        )?),
        None => None,
    };
    if let Some(path) = &cli.flow {
        let flow = flow::load(
            path,
            &mix::Defaults {
                url: &config.url,
                headers: &config.request.headers,
                expect: &config.expect,
            },
        )?;
        config.mix = Some(flow.lines());
        config.flow = Some(flow);
    }
    if let Some(slo) = &config.slo {
        slo_targets(slo, config.mix.as_deref(), config.flow.is_some())?;
    }
    config.each = cli.each;
    if config.each && config.mix.is_none() {
        return Err("--each runs each target of a mix alone: give --targets or --openapi".into());
    }
    config.max_body = max_body(&cli.max_body)?;
    Ok(())
}

/// Each target an objective's bounds name must be one of the mix's.
/// With a flow, its steps are the targets, and the whole flow one more (`flow:p99<30s`).
fn slo_targets(slo: &Slo, mix: Option<&[mix::MixLine]>, flow: bool) -> Result<(), String> {
    let mut names = mix.map(mix::names).unwrap_or_default();
    if flow {
        names.push(flow::FLOW_NAME);
    }
    match slo.unknown_target(&names) {
        None => Ok(()),
        Some(name) if mix.is_none() => Err(format!(
            "--slo bound on target '{name}' needs --targets or --flow (whose target it is)"
        )),
        Some(name) => Err(format!(
            "--slo names target '{name}', which the run does not have (its targets: {})",
            names.join(", ")
        )),
    }
}

/// `--max-body`: at least one byte, at most 1 GiB (each connection may hold one such body).
fn max_body(text: &str) -> Result<usize, String> {
    match parse_size(text).map_err(|e| format!("--max-body: {e}"))? {
        0 => Err("--max-body must be at least 1 byte".into()),
        n if n > 1 << 30 => Err(format!("--max-body {text} is over the 1g limit")),
        n => Ok(n as usize),
    }
}

/// `--json PATH`, where `-` means stdout.
fn json_out(path: Option<String>) -> Option<JsonOut> {
    path.map(|p| {
        if p == "-" {
            JsonOut::Stdout
        } else {
            JsonOut::File(p)
        }
    })
}

fn positive(flag: &str, text: &str) -> Result<u64, String> {
    match parse_count(text) {
        Ok(0) => Err(format!("{flag} must be at least 1")),
        Ok(n) if n > 10_000_000 && flag != "--requests" => Err(format!("{flag} {n} is too large")),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{flag}: {e}")),
    }
}

fn positive_duration(flag: &str, text: &str) -> Result<Duration, String> {
    let d = parse_duration(text).map_err(|e| format!("{flag}: {e}"))?;
    if d.is_zero() {
        return Err(format!("{flag} must be greater than zero"));
    }
    if d.as_secs() > 3600 && flag != "--duration" {
        return Err(format!("{flag} may be at most 1h"));
    }
    Ok(d)
}

/// A flag that is off (zero) unless given, and positive when given.
/// `--think`, in a closed loop only (a pause of zero is none).
fn think(cli: &RunArgs) -> Result<Option<(Duration, Duration)>, String> {
    let Some(text) = cli.think.as_deref() else {
        return Ok(None);
    };
    let range = parse_duration_range(text).map_err(|e| format!("--think: {e}"))?;
    if cli.rate.is_some() || cli.rates.is_some() || cli.find_max {
        return Err(
            "--think is a closed loop's pause between a user's response and its next \
                    request: with --rate the schedule decides when requests start (use -c \
                    with --think, or --rate without it)"
                .into(),
        );
    }
    Ok((range.1 > Duration::ZERO).then_some(range))
}

fn optional_duration(flag: &str, text: Option<&str>) -> Result<Duration, String> {
    text.map_or(Ok(Duration::ZERO), |t| positive_duration(flag, t))
}

/// The bodies from `--body`, `--body-file` or `--body-lines` (clap lets one through at most).
fn bodies(
    text: Option<String>,
    file: Option<String>,
    lines: Option<String>,
) -> Result<Vec<Vec<u8>>, String> {
    Ok(match (text, file, lines) {
        (Some(text), _, _) => vec![text.into_bytes()],
        (None, Some(path), _) => vec![
            std::fs::read(&path).map_err(|e| format!("cannot read --body-file '{path}': {e}"))?,
        ],
        (None, None, Some(path)) => request::body_lines(&path)?,
        (None, None, None) => vec![Vec::new()],
    })
}

/// `--form`: the multipart body and its `Content-Type`, when parts are given.
fn form(parts: &[String]) -> Result<Option<(String, Vec<u8>)>, String> {
    if parts.is_empty() {
        return Ok(None);
    }
    let parts: Vec<_> = parts
        .iter()
        .map(|p| form::parse(p))
        .collect::<Result<_, _>>()?;
    Ok(Some(form::encode(&parts)))
}

/// The request: `method` (default GET, or POST when a body is given), `-H` headers, and the
/// bodies sent in turn (one, empty when no body is given).
fn request_spec(
    method: Option<String>,
    headers: &[String],
    bodies: Vec<Vec<u8>>,
) -> Result<RequestSpec, String> {
    let no_body = bodies.iter().all(Vec::is_empty);
    let method = match method {
        Some(method) => parse_method(&method)?,
        None if no_body => "GET".into(),
        None => "POST".into(),
    };
    let headers = headers
        .iter()
        .map(|h| parse_header(h))
        .collect::<Result<_, _>>()?;
    Ok(RequestSpec {
        method,
        headers,
        bodies,
        no_keepalive: false,
    })
}

fn expect(status: &str, json: &[String], body: &[String]) -> Result<Expect, String> {
    if body.iter().any(String::is_empty) {
        return Err("--expect-body needs a text to look for".into());
    }
    if json.len() > MAX_JSON_EXPECTATIONS {
        return Err(format!(
            "at most {MAX_JSON_EXPECTATIONS} --expect-json flags are supported"
        ));
    }
    Ok(Expect {
        status: StatusSet::parse(status).map_err(|e| format!("--expect-status: {e}"))?,
        json: json
            .iter()
            .map(|j| JsonExpectation::parse(j))
            .collect::<Result<_, _>>()?,
        body: body.iter().map(|t| t.as_bytes().to_vec()).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Config, String> {
        let argv = std::iter::once("blast")
            .chain(args.iter().copied())
            .map(String::from);
        match parse(argv)? {
            Parsed::Run(config) => Ok(*config),
            _ => Err("not a run".into()),
        }
    }

    #[test]
    fn defaults_and_flags() {
        let c = run(&["http://127.0.0.1:8000/predict"]).unwrap();
        assert_eq!(c.connections, 64);
        assert_eq!(c.duration, Some(std::time::Duration::from_secs(10)));
        assert_eq!(c.request.method, "GET");
        assert_eq!(c.expect, Expect::default());

        let c = run(&[
            "-c",
            "256",
            "-d",
            "2m",
            "-t",
            "2",
            "--cpus",
            "0-1",
            "--body",
            "{}",
            "-H",
            "X-A: 1",
            "--expect-status",
            "200",
            "--expect-json",
            "prediction=0|1",
            "--driver",
            "epoll",
            "--json",
            "-",
            "--url",
            "http://h:1/p",
        ])
        .unwrap();
        assert_eq!(
            (c.connections, c.threads, c.cpus.as_deref()),
            (256, Some(2), Some(&[0, 1][..]))
        );
        assert_eq!(c.duration, Some(std::time::Duration::from_secs(120)));
        assert_eq!(
            (c.request.method.as_str(), c.request.bodies.as_slice()),
            ("POST", &[b"{}".to_vec()][..])
        );
        assert_eq!(c.driver, Driver::Epoll);
        assert_eq!(c.outputs.json, Some(JsonOut::Stdout));
        assert_eq!(c.expect.json.len(), 1);

        let c = run(&["-n", "10k", "http://h/"]).unwrap();
        assert_eq!((c.requests, c.duration), (Some(10_000), None));
        let c = run(&["-c", "10, 25,50", "http://h/"]).unwrap();
        assert_eq!(c.sweep, Some(Sweep::Users(vec![10, 25, 50])));
        let secs = std::time::Duration::from_secs;
        let think = |text: &str| run(&["--think", text, "http://h/"]).unwrap().think;
        assert_eq!(think("1s-3s"), Some((secs(1), secs(3))));
        assert_eq!(think("2"), Some((secs(2), secs(2))));
        assert_eq!(think("0"), None, "no pause is none");
    }

    #[test]
    fn bad_input_is_one_line() {
        let cases = [
            (&["--bogus", "http://h/"][..], "unexpected argument"),
            (&[][..], "missing URL"),
            (&["ftp://h/"][..], "unsupported scheme"),
            (
                &["-c", "0", "http://h/"][..],
                "--connections must be at least 1",
            ),
            (
                &["-c", "10,0,25", "http://h/"][..],
                "--connections must be at least 1",
            ),
            (
                &["-c", "10,25", "--rate", "100", "http://h/"][..],
                "-c with a list sweeps users in a closed loop: not with --rate",
            ),
            (
                &["--think", "1s", "--rate", "100", "http://h/"][..],
                "--think is a closed loop's pause",
            ),
            (
                &[
                    "--think",
                    "1s",
                    "--find-max",
                    "--slo",
                    "p99<1s",
                    "http://h/",
                ][..],
                "--think is a closed loop's pause",
            ),
            (
                &["--think", "3s-1s", "http://h/"][..],
                "--think: '3s-1s' has its bounds reversed",
            ),
            (
                &["--think", "soon", "http://h/"][..],
                "--think: invalid duration",
            ),
            (
                &["--locust-csv", "r/x", "--rates", "1,2", "http://h/"][..],
                "--locust-csv writes the files of one run",
            ),
            (&["-d", "soon", "http://h/"][..], "invalid duration"),
            (&["-d", "0", "http://h/"][..], "greater than zero"),
            (
                &["--body-file", "/no/such/file", "http://h/"][..],
                "cannot read --body-file",
            ),
            (
                &["--expect-status", "abc", "http://h/"][..],
                "--expect-status",
            ),
            (&["--driver", "kqueue", "http://h/"][..], "invalid value"),
            (&["-H", "bad", "http://h/"][..], "invalid header"),
            (&["-X", "GE T", "http://h/"][..], "invalid method"),
            (&["--cpus", "x", "http://h/"][..], "invalid CPU list"),
            (
                &["http://a/", "--url", "http://b/"][..],
                "give the URL once",
            ),
        ];
        for (args, want) in cases {
            let err = run(args).unwrap_err();
            assert!(err.contains(want), "{args:?}: {err}");
            assert!(!err.contains('\n'), "{args:?}: one line, got {err:?}");
        }
    }
}

#[cfg(test)]
mod subcommand_tests {
    use super::*;

    fn parsed(args: &[&str]) -> Result<Parsed, String> {
        parse(
            std::iter::once("blast")
                .chain(args.iter().copied())
                .map(String::from),
        )
    }

    #[test]
    fn serve_flags() {
        let Ok(Parsed::Serve(c)) = parsed(&[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--delay",
            "1ms-2ms",
            "--error-rate",
            "5%",
            "--bad-body-rate",
            "0.01",
            "--close-every",
            "100",
            "--stall-every",
            "10",
            "--stall",
            "2s",
            "-t",
            "1",
            "-d",
            "3s",
        ]) else {
            panic!("not a serve config")
        };
        assert_eq!(c.listen, "127.0.0.1:0".parse().unwrap());
        assert_eq!(
            (c.faults.error_share, c.faults.bad_body_share),
            (0.05, 0.01)
        );
        assert_eq!(
            (c.faults.close_every, c.faults.stall_every),
            (Some(100), Some(10))
        );
        assert_eq!(
            (c.threads, c.duration),
            (Some(1), Some(Duration::from_secs(3)))
        );
        for (args, want) in [
            (&["serve", "--listen", "nowhere"][..], "invalid --listen"),
            (&["serve", "--error-rate", "2"][..], "share between 0 and 1"),
            (&["serve", "--delay", "5ms-1ms"][..], "reversed"),
            (&["serve", "--close-every", "0"][..], "at least 1"),
        ] {
            let err = parsed(args).err().expect(want);
            assert!(err.contains(want) && !err.contains('\n'), "{args:?}: {err}");
        }
    }

    #[test]
    fn demo_defaults_to_the_prediction_check() {
        let Ok(Parsed::Demo(c)) = parsed(&["demo", "-d", "2"]) else {
            panic!("not a demo")
        };
        assert_eq!(
            (c.connections, c.duration),
            (64, Some(Duration::from_secs(2)))
        );
        assert_eq!(c.expect.json.len(), 1);
        assert_eq!(c.request.method, "POST");
        assert!(
            matches!(parsed(&["http://127.0.0.1:1/"]), Ok(Parsed::Run(_))),
            "the URL form still works"
        );
    }
}

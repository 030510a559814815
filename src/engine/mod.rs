//! Threads, pinning and runtimes: one OS thread per share of the plan, each building its own
//! monoio runtime (runtimes are `!Send`), running its connections, and returning its `Stats`
//! by value. The main thread only merges the per-second series and, at the end, the stats.

pub mod clock;
pub mod conn;
pub mod connect;
pub mod flow;
pub mod pacer;
pub mod pipeline;
pub mod signal;
pub mod think;
pub mod ticker;
pub mod timeouts;
pub mod transport;
pub mod usage;
pub mod worker;

use std::future::Future;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::results::summary::RunOutcome;
use monoio::time::TimeDriver;
use monoio::{FusionRuntime, IoUringDriver, LegacyDriver, RuntimeBuilder};

use crate::engine::clock::Stamp;
use crate::engine::worker::{Times, Worker};
use crate::results::series::{Collector, CoreSeries, Progress, SecondRow};
use crate::results::stats::Stats;
use crate::run::config::Driver;
use crate::run::plan::{CoreShare, Plan};
use crate::tls::Tls;
use ticker::{Ticker, Ticks};
use usage::{ClientSampler, Sampler};

/// io_uring rejects larger rings.
const MAX_RING_ENTRIES: u32 = 32_768;
/// The most connections a core may have for its ring to defer completion work to its waits
/// (see `uring_setup`). Measured on Linux 6.18 against nginx: fine at 14,000 connections on
/// one core, but from 15,000 the connects opened at once did not complete (40 of 15,000
/// did; the rest timed out, and so did their retries), while the plain ring and epoll open
/// and serve them all. The likely cause: a wait runs at most 20 deferred completions since
/// Linux 6.10 (liburing issue 1474), and such a backlog falls behind. At 8,000 connections
/// deferring still gave 36% more responses than the plain ring.
const DEFERRED_MAX_CONNECTIONS: usize = 8_192;
/// How often the main thread collects the per-second series, in ticks.
const COLLECT_EVERY: u32 = 5;
/// How often it samples `--server-pid`, in ticks.
const SAMPLE_EVERY: u32 = (usage::SAMPLE_EVERY.as_millis() / ticker::TICK.as_millis()) as u32;

type CoreResult = Result<(Stats, &'static str, Times), String>;

/// What the main thread shows while the plan runs.
pub trait Watch {
    /// A per-second row, as soon as it is complete.
    fn second(&mut self, row: &SecondRow);
    /// Every tick: the run so far (`--metrics-listen`, `--web` answer their clients).
    fn beat(&mut self, _progress: &Progress) {}
}

/// Runs the plan to its end, shown to `watch` as it goes.
pub fn run(plan: Plan, watch: &mut dyn Watch) -> Result<RunOutcome, String> {
    let plan = Arc::new(plan);
    let series: Vec<Arc<CoreSeries>> = plan.cores.iter().map(|_| Arc::default()).collect();
    let (ticker, ticks) =
        Ticker::new(plan.cores.len()).map_err(|e| format!("cannot create a socket pair: {e}"))?;
    let handles = plan
        .cores
        .iter()
        .zip(&series)
        .zip(ticks)
        .enumerate()
        .map(|(i, ((share, series), ticks))| {
            spawn_core(i, plan.clone(), share.clone(), series.clone(), ticks)
        })
        .collect::<Result<Vec<_>, String>>()?;

    let mut collector = Collector::default();
    let mut sampling = Sampling::new(&plan);
    for beat in 1.. {
        if handles.iter().all(JoinHandle::is_finished) {
            break;
        }
        std::thread::sleep(ticker::TICK);
        ticker.tick();
        if beat % COLLECT_EVERY == 0 {
            let fresh = collector.collect(&series);
            let rows = collector.rows();
            rows[rows.len() - fresh..]
                .iter()
                .for_each(|row| watch.second(row));
        }
        watch.beat(&Progress::new(&collector, &series));
        if beat % SAMPLE_EVERY == 0 {
            sampling.sample(&series);
        }
    }
    sampling.sample(&series);

    let mut merged = Stats::default();
    let mut driver = "";
    let (mut elapsed, mut drain) = (Duration::ZERO, Duration::ZERO);
    for handle in handles {
        let (stats, name, times) = handle
            .join()
            .map_err(|_| "a core thread panicked".to_string())??;
        merged.merge(&stats);
        driver = name;
        elapsed = elapsed.max(times.window);
        drain = drain.max(times.drain);
    }
    let window_start = series.iter().filter_map(|s| s.start()).min();
    let mut seconds = collector.finish(&series);
    let server = sampling.server.map(Sampler::finish);
    if let Some(record) = &server {
        record.fill(&mut seconds);
    }
    count_users(&plan, &mut seconds);
    Ok(RunOutcome {
        stats: merged,
        seconds,
        server: server.map(|r| r.summary),
        client: sampling.client.finish(),
        driver,
        threads: plan.cores.len(),
        elapsed,
        drain,
        interrupted: signal::stop_requested(),
        started_unix_s: window_start.map(wall_clock),
    })
}

/// A closed loop's users in each second: the connections its cores' ramps had started by
/// the second's end (the window begins `--warmup` after the cores start).
fn count_users(plan: &Plan, seconds: &mut [SecondRow]) {
    if plan.cores.iter().any(|c| c.rate.is_some()) {
        return;
    }
    for row in seconds {
        let end = plan.warmup + Duration::from_secs(u64::from(row.second) + 1);
        let started = |c: &CoreShare| worker::started_by(c.connections, plan.ramp, end);
        row.users = Some(plan.cores.iter().map(started).sum());
    }
}

/// The wall-clock time of `stamp`, in Unix seconds: now on the wall clock, less the time the
/// monotonic clock has run since it.
fn wall_clock(stamp: Stamp) -> f64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.unwrap_or_default().as_secs_f64() - Stamp::now().duration_since(stamp).as_secs_f64()
}

/// What the main thread samples: `--server-pid`, and blast's own cores.
struct Sampling {
    server: Option<Sampler>,
    client: ClientSampler,
    /// The cores' thread IDs, as far as known (reused: sampling allocates nothing).
    threads: Vec<Option<u32>>,
    /// The window's last second, where later samples count (the drain's, as its answers do).
    last_second: Option<u32>,
}

impl Sampling {
    fn new(plan: &Plan) -> Sampling {
        let pids = plan.server_pids.clone();
        Sampling {
            server: (!pids.is_empty()).then(|| Sampler::new(pids)),
            client: ClientSampler::new(plan.cores.len()),
            threads: Vec::with_capacity(plan.cores.len()),
            last_second: plan
                .duration
                .map(|d| (d.as_secs_f64().ceil() as u32).saturating_sub(1)),
        }
    }

    /// One sample, in the seconds of the core that started first (cores start within the
    /// time their connects take).
    fn sample(&mut self, series: &[Arc<CoreSeries>]) {
        let now = Stamp::now();
        let from = series.iter().filter_map(|s| s.start()).min();
        if let Some(server) = &mut self.server {
            server.sample(now, from, self.last_second);
        }
        self.threads.clear();
        self.threads.extend(series.iter().map(|s| s.thread()));
        self.client.sample(now, &self.threads, from);
    }
}

fn spawn_core(
    index: usize,
    plan: Arc<Plan>,
    share: CoreShare,
    series: Arc<CoreSeries>,
    ticks: ticker::Receiver,
) -> Result<JoinHandle<CoreResult>, String> {
    std::thread::Builder::new()
        .name(format!("blast-core-{index}"))
        .spawn(move || {
            // SAFETY: gettid only returns the calling thread's ID.
            series.set_thread(unsafe { libc::gettid() } as u32);
            if let Some(cpu) = share.cpu {
                core_affinity::set_for_current(core_affinity::CoreId { id: cpu });
            }
            let entries = (share.max_connections as u32 * 2).clamp(256, MAX_RING_ENTRIES);
            let ring = Ring {
                entries,
                deferred: share.max_connections <= DEFERRED_MAX_CONNECTIONS,
            };
            let driver = plan.driver;
            let core = |uring| run_core(plan, share, series, ticks, uring);
            let ((stats, times), name) = block_on(driver, ring, core)?;
            Ok((stats, name, times))
        })
        .map_err(|e| format!("cannot start a core thread: {e}"))
}

/// This core's connections, until they finish (`-n`) or the watcher stops the core. The
/// core's clock starts once its connections are open (see `connect`); a closed loop with
/// `--ramp` opens them one by one over the ramp instead. `uring`: the runtime is io_uring's.
async fn run_core(
    plan: Arc<Plan>,
    share: CoreShare,
    series: Arc<CoreSeries>,
    ticks: ticker::Receiver,
    uring: bool,
) -> (Stats, Times) {
    let mut ticks = Ticks::new(ticks);
    let open_loop = plan.info.rate.is_some();
    // With a closed-loop ramp none is opened here: `Worker::take_opened` then finds none.
    // Nor without keep-alive, where every request's latency includes its own handshake.
    let tls = plan.tls.as_ref().map(Tls::for_core);
    let opened = if plan.info.keep_alive && (open_loop || plan.ramp.is_zero()) {
        connect::open_all(&plan, tls.as_ref(), share.connections, &mut ticks).await
    } else {
        Vec::new()
    };
    if let Some(at) = plan.start_at {
        wait_until(at, &mut ticks).await;
    }
    // Ctrl-C while the connections were opening: the clock never started, so the measured
    // window is empty, however long the books take to close on a busy machine.
    let stopped_before_start = signal::stop_requested();
    let worker = Worker::new(plan, tls, &share, Stamp::now(), series, opened, uring);
    if stopped_before_start {
        return (worker.finish().0, Times::default());
    }
    let tasks: Vec<_> = (0..share.connections)
        .map(|index| spawn(&worker, index))
        .collect();
    // In rate mode the watcher may add connections, so it decides when the core is done.
    let all_done = async {
        for task in tasks {
            task.await;
        }
        if open_loop {
            std::future::pending::<()>().await;
        }
    };
    let open = |index: usize| {
        spawn(&worker, index);
    };
    monoio::select! {
        _ = all_done => {},
        _ = worker.watch(&open, &mut ticks) => {},
    }
    worker.finish()
}

/// `--start-at`: waits for `at` on the watcher's ticks (Ctrl-C ends the wait), then sleeps
/// the last tick's remainder on the runtime's timer, once, so the core starts within a
/// fraction of a millisecond of the instant.
async fn wait_until(at: Stamp, ticks: &mut Ticks) {
    while !signal::stop_requested() {
        let now = Stamp::now();
        if now >= at {
            return;
        }
        let left = at.duration_since(now);
        if left <= ticker::TICK * 2 {
            monoio::time::sleep(left).await;
            return;
        }
        ticks.next().await;
    }
}

/// How a runtime's ring is built: its entries (also the epoll driver's event batch), and
/// whether completion work is deferred to the owner's waits (`uring_setup`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ring {
    pub entries: u32,
    pub deferred: bool,
}

/// Starts connection `index` of the worker's core, over the plan's transport: one request at
/// a time (`conn::run`), or with `--pipeline` several (`pipeline::run`).
fn spawn(worker: &std::rc::Rc<Worker>, index: usize) -> monoio::task::JoinHandle<()> {
    use crate::engine::transport::Plain;
    use crate::tls::stream::TlsStream;
    let pipelined = worker.plan.info.pipeline > 1;
    match (worker.plan.tls.is_some(), pipelined) {
        (false, false) => monoio::spawn(conn::run::<Plain>(worker.clone(), index)),
        (true, false) => monoio::spawn(conn::run::<TlsStream>(worker.clone(), index)),
        (false, true) => monoio::spawn(pipeline::run::<Plain>(worker.clone(), index)),
        (true, true) => monoio::spawn(pipeline::run::<TlsStream>(worker.clone(), index)),
    }
}

/// io_uring setup for a ring used by one thread only. With `deferred`, completions are
/// processed when the runtime waits for events instead of interrupting it (task work
/// deferred to the owner): on loopback this removes most of io_uring's cost over epoll.
/// Kernels before 6.1 reject these flags; the ring is then built without them.
fn uring_setup(deferred: bool) -> io_uring::Builder {
    let mut builder = io_uring::IoUring::builder();
    if deferred && std::env::var_os("BLAST_URING_PLAIN").is_none() {
        builder
            .setup_coop_taskrun()
            .setup_single_issuer()
            .setup_defer_taskrun();
    }
    builder
}

/// A runtime of either driver; both carry the timer.
type Runtime = FusionRuntime<TimeDriver<IoUringDriver>, TimeDriver<LegacyDriver>>;

/// Builds the runtime the driver asks for and runs the future `future(uring)` makes on it
/// (`uring`: the runtime is io_uring's); returns the driver used.
pub(crate) fn block_on<F: Future>(
    driver: Driver,
    ring: Ring,
    future: impl FnOnce(bool) -> F,
) -> Result<(F::Output, &'static str), String> {
    match build_runtime(driver, ring)? {
        FusionRuntime::Uring(mut rt) => Ok((rt.block_on(future(true)), "io_uring")),
        FusionRuntime::Legacy(mut rt) => Ok((rt.block_on(future(false)), "epoll")),
    }
}

fn build_runtime(driver: Driver, ring: Ring) -> Result<Runtime, String> {
    let uring = || {
        let build = |deferred| {
            RuntimeBuilder::<TimeDriver<IoUringDriver>>::new()
                .with_entries(ring.entries)
                .uring_builder(uring_setup(deferred))
                .build()
        };
        build(ring.deferred)
            .or_else(|_| build(false))
            .map(Runtime::from)
    };
    let epoll = || {
        RuntimeBuilder::<TimeDriver<LegacyDriver>>::new()
            .with_entries(ring.entries)
            .build()
            .map(Runtime::from)
            .map_err(|e| format!("cannot start the epoll runtime: {e}"))
    };
    match driver {
        Driver::Uring => {
            uring().map_err(|e| format!("io_uring is not available here ({e}): use --driver epoll"))
        }
        // seccomp (Docker's default profile) or an old kernel: fall back to epoll, and say so.
        Driver::Auto => uring().or_else(|e| {
            say_fallback(&e);
            epoll()
        }),
        Driver::Epoll => epoll(),
    }
}

/// One line on stderr, once per process (every core builds a runtime), when `--driver auto`
/// falls back to epoll: the numbers of the two drivers differ, so the user must know.
fn say_fallback(error: &std::io::Error) {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        eprintln!(
            "blast: io_uring is unavailable, using epoll: {}",
            why(error)
        )
    });
}

fn why(error: &std::io::Error) -> String {
    match error.raw_os_error() {
        Some(libc::EPERM | libc::EACCES) => format!(
            "{error}: blocked, by a seccomp profile (Docker's default blocks it) or by \
             kernel.io_uring_disabled"
        ),
        Some(libc::ENOSYS) => format!("{error}: this kernel has no io_uring (5.6 or later)"),
        _ => error.to_string(),
    }
}

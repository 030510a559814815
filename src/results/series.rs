//! The per-second series. Each core keeps the current second's counts and histogram; when a
//! second ends it adds that histogram into the core's run histogram, hands the second over
//! (its histogram at the coarser precision percentiles per second need) under a lock, once
//! per second and never per request, and clears it for the next. So each response is
//! recorded once, not once per second and once per run. The main thread merges the seconds
//! into one row per second, for the live line and the report.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::engine::clock::Stamp;
use crate::results::stats::{LATENCY_SIGFIG, merge_optional, new_histogram, record_latency};
use crate::results::tally::Tally;

/// Per-second percentiles need less precision than the run's (1%): a handed-over second is
/// an eighth of the size of the core's histograms.
const SECOND_SIGFIG: u8 = 2;

/// One second of one core.
#[derive(Debug)]
struct Sample {
    index: u32,
    /// Requests sent in this second.
    sent: u64,
    requests: u64,
    failures: u64,
    latency: Option<Histogram<u64>>,
    /// `--first-byte`: the times to the first body byte.
    first_byte: Option<Histogram<u64>>,
    /// The core's connections when the second closed (as its watcher last saw them).
    connections: u64,
    /// Rate mode: the latest any request of the second left after its intended time.
    lag_max_ns: Option<u64>,
}

/// The hand-over point between one core and the collector.
#[derive(Debug, Default)]
pub struct CoreSeries {
    pending: Mutex<Vec<Sample>>,
    /// Seconds this core has completed (all samples below this index are published).
    through: AtomicU32,
    finished: AtomicBool,
    /// Where this core's seconds count from (`Stamp::as_nanos`; 0 until the core starts):
    /// the main thread's `--server-pid` samples are put in the same seconds.
    start: AtomicU64,
    /// The core's thread (its Linux thread ID; 0 until it runs), whose CPU the main thread
    /// samples.
    thread: AtomicU32,
    /// `--metrics-listen`, `--web`: the core's totals as of its last completed second.
    tally: Mutex<Option<Tally>>,
}

impl CoreSeries {
    pub fn set_thread(&self, tid: u32) {
        self.thread.store(tid, Ordering::Release);
    }

    pub fn thread(&self) -> Option<u32> {
        Some(self.thread.load(Ordering::Acquire)).filter(|&t| t != 0)
    }

    /// Hands over the core's totals (once a second, from its watcher).
    pub fn set_tally(&self, tally: Tally) {
        *self.tally.lock().unwrap_or_else(|e| e.into_inner()) = Some(tally);
    }

    /// Adds this core's latest totals into `total`.
    pub fn add_tally_to(&self, total: &mut Tally) {
        if let Some(mine) = &*self.tally.lock().unwrap_or_else(|e| e.into_inner()) {
            total.add(mine);
        }
    }

    /// The start of this core's first second, once the core has started.
    pub fn start(&self) -> Option<Stamp> {
        let ns = self.start.load(Ordering::Acquire);
        (ns != 0).then(|| Stamp::from_nanos(ns))
    }
}

/// The core side: counts the current second, publishes at each second boundary.
pub struct SecondRecorder {
    shared: Arc<CoreSeries>,
    current: Sample,
    next_boundary: Stamp,
    latency: Timing,
    /// `--first-byte`: the times to the first body byte, kept the same way.
    first_byte: Option<Timing>,
}

/// One timing's histograms on a core, both at the run's precision.
struct Timing {
    /// The current second's; cleared when it is handed on.
    second: Histogram<u64>,
    /// Every second's so far: the core's run histogram.
    run: Histogram<u64>,
}

impl Sample {
    fn empty(index: u32) -> Sample {
        Sample {
            index,
            sent: 0,
            requests: 0,
            failures: 0,
            latency: None,
            first_byte: None,
            connections: 0,
            lag_max_ns: None,
        }
    }
}

impl Timing {
    fn new() -> Timing {
        Timing {
            second: new_histogram(LATENCY_SIGFIG),
            run: new_histogram(LATENCY_SIGFIG),
        }
    }

    /// Adds the current second into the run and hands it on at the per-second precision
    /// (`None`: nothing was recorded in it).
    fn close_second(&mut self) -> Option<Histogram<u64>> {
        if self.second.is_empty() {
            return None;
        }
        self.run
            .add(&self.second)
            .expect("identical histogram bounds");
        // Allocated once per active second per core, not per request.
        let mut coarse = new_histogram(SECOND_SIGFIG);
        coarse.add(&self.second).expect("same bounds");
        self.second.reset();
        Some(coarse)
    }

    fn take_run(&mut self) -> Histogram<u64> {
        std::mem::replace(&mut self.run, new_histogram(LATENCY_SIGFIG))
    }
}

impl SecondRecorder {
    /// Seconds from `start`; `first_byte`: times to the first body byte are recorded too.
    pub fn new(shared: Arc<CoreSeries>, start: Stamp, first_byte: bool) -> SecondRecorder {
        shared.start.store(start.as_nanos(), Ordering::Release);
        SecondRecorder {
            shared,
            current: Sample::empty(0),
            next_boundary: start + Duration::from_secs(1),
            latency: Timing::new(),
            first_byte: first_byte.then(Timing::new),
        }
    }

    /// Counts one finished request at `now`; `latency_ns` when a response arrived. Returns
    /// whether that latency was over the histogram's range (recorded at its maximum).
    pub fn record(&mut self, now: Stamp, latency_ns: Option<u64>, failed: bool) -> bool {
        self.roll(now);
        self.current.requests += 1;
        self.current.failures += failed as u64;
        latency_ns.is_some_and(|ns| record_latency(&mut self.latency.second, ns))
    }

    /// `--first-byte`: the response `record` just counted had its first body byte after
    /// `ns` nanoseconds. (Never over the range unless its latency was, which counts it.)
    pub fn record_first_byte(&mut self, ns: u64) {
        if let Some(timing) = &mut self.first_byte {
            record_latency(&mut timing.second, ns);
        }
    }

    /// Counts one request sent at `now`, in rate mode `lag_ns` after its intended time.
    pub fn sent(&mut self, now: Stamp, lag_ns: Option<u64>) {
        self.roll(now);
        self.current.sent += 1;
        if let Some(lag) = lag_ns {
            let max = self.current.lag_max_ns.get_or_insert(0);
            *max = (*max).max(lag);
        }
    }

    /// Where this core hands its seconds (and its totals) over.
    pub fn shared(&self) -> &CoreSeries {
        &self.shared
    }

    /// The second being counted (seconds from the start).
    pub fn second(&self) -> u32 {
        self.current.index
    }

    /// The core's connections now (its watcher's tick): the second's count when it closes.
    pub fn connections(&mut self, open: u64) {
        self.current.connections = open;
    }

    /// Publishes every second that ended before `now`. Called per record and by the core's
    /// watcher, so idle seconds are published too.
    pub fn roll(&mut self, now: Stamp) {
        while now >= self.next_boundary {
            let next = self.current.index + 1;
            let mut fresh = Sample::empty(next);
            fresh.connections = self.current.connections;
            let done = std::mem::replace(&mut self.current, fresh);
            self.publish(done);
            self.shared.through.store(next, Ordering::Release);
            self.next_boundary += Duration::from_secs(1);
        }
    }

    /// Publishes the partial last second, marks this core finished and returns the run
    /// histograms: the latencies, and with `--first-byte` the times to the first byte.
    pub fn finish(&mut self, now: Stamp) -> (Histogram<u64>, Option<Histogram<u64>>) {
        self.roll(now);
        let last = std::mem::replace(&mut self.current, Sample::empty(0));
        self.publish(last);
        self.shared.finished.store(true, Ordering::Release);
        let first_byte = self.first_byte.as_mut().map(Timing::take_run);
        (self.latency.take_run(), first_byte)
    }

    fn publish(&mut self, mut sample: Sample) {
        sample.latency = self.latency.close_second();
        sample.first_byte = self.first_byte.as_mut().and_then(Timing::close_second);
        if sample.requests > 0 || sample.sent > 0 {
            self.shared
                .pending
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(sample);
        }
    }
}

/// One row of the merged series, as the report saves it.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct SecondRow {
    /// Seconds since the measured window began (after `--warmup`): this row covers
    /// `[second, second + 1)`.
    pub second: u32,
    /// When this second began on the wall clock, in Unix seconds with milliseconds (set by
    /// the summary from the window's start; `None` in reports from before it was kept).
    #[serde(default)]
    pub unix_s: Option<f64>,
    /// `--rate`: the run's target rate (set by the summary; the series does not know it).
    #[serde(default)]
    pub target: Option<f64>,
    /// Requests sent in this second.
    pub sent: u64,
    /// Requests finished in this second.
    pub requests: u64,
    pub failures: u64,
    /// Percentiles of the responses completed in this second; 0 when there were none.
    pub p50_us: f64,
    pub p99_us: f64,
    /// The slowest response completed in this second (`None`: none, or a report from before
    /// it was kept).
    #[serde(default)]
    pub max_us: Option<f64>,
    /// The same of their times to the first body byte: `None` in a second without any
    /// (the summary makes that 0 with `--first-byte`, and `None` for every row without).
    #[serde(default)]
    pub first_byte_p50_us: Option<f64>,
    #[serde(default)]
    pub first_byte_p99_us: Option<f64>,
    /// `--server-pid`: the server's CPU in this second, as a percentage of one core, and its
    /// largest resident memory sampled in it (`None` without the option, or in a second
    /// without a sample).
    #[serde(default)]
    pub server_cpu_pct: Option<f64>,
    #[serde(default)]
    pub server_rss_bytes: Option<u64>,
    /// A closed loop: the users (connections) started by the end of this second, as the
    /// ramp (`--ramp`, `--spawn-rate`) opens them (Locust's user count); `None` in rate mode.
    #[serde(default)]
    pub users: Option<u64>,
    /// Connections open at the end of this second, over the cores (`None` in reports from
    /// before it was kept).
    #[serde(default)]
    pub connections: Option<u64>,
    /// Rate mode: the latest a request of this second was sent after its intended time, in
    /// microseconds (`None` in a closed loop).
    #[serde(default)]
    pub send_lag_max_us: Option<f64>,
}

impl SecondRow {
    /// Adds the same second of a run made at the same time (`blast merge`): counts add up;
    /// the percentiles, whose histograms a report does not keep, take the higher value, and
    /// so does the server's usage (the runs sampled the same server).
    pub fn add(&mut self, other: &SecondRow) {
        self.sent += other.sent;
        self.requests += other.requests;
        self.failures += other.failures;
        self.p50_us = self.p50_us.max(other.p50_us);
        self.p99_us = self.p99_us.max(other.p99_us);
        self.max_us = higher(self.max_us, other.max_us);
        self.first_byte_p50_us = higher(self.first_byte_p50_us, other.first_byte_p50_us);
        self.first_byte_p99_us = higher(self.first_byte_p99_us, other.first_byte_p99_us);
        self.server_cpu_pct = higher(self.server_cpu_pct, other.server_cpu_pct);
        self.server_rss_bytes = higher(self.server_rss_bytes, other.server_rss_bytes);
        // Runs made at the same time: their users add up.
        self.users = sum(self.users, other.users);
        self.connections = sum(self.connections, other.connections);
        self.send_lag_max_us = higher(self.send_lag_max_us, other.send_lag_max_us);
    }
}

fn sum(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a + b),
        (a, b) => a.or(b),
    }
}

fn higher<T: PartialOrd>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b > a { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// The run so far, as the main thread holds it: the rows closed, their latencies, and the
/// cores' totals as of their last second.
pub struct Progress<'a> {
    collector: &'a Collector,
    cores: &'a [Arc<CoreSeries>],
}

impl<'a> Progress<'a> {
    pub fn new(collector: &'a Collector, cores: &'a [Arc<CoreSeries>]) -> Progress<'a> {
        Progress { collector, cores }
    }

    pub fn rows(&self) -> &'a [SecondRow] {
        self.collector.rows()
    }

    pub fn latency(&self) -> Option<&'a Histogram<u64>> {
        self.collector.latency()
    }

    /// The cores' totals added up (taken when asked: a scrape or a page's poll).
    pub fn tally(&self) -> Tally {
        let mut total = Tally::default();
        self.cores.iter().for_each(|c| c.add_tally_to(&mut total));
        total
    }
}

/// The collector side, on the main thread.
#[derive(Default)]
pub struct Collector {
    open: BTreeMap<u32, Sample>,
    rows: Vec<SecondRow>,
    /// Every closed second's latencies (at the per-second precision): the live outputs'
    /// histogram while the run goes.
    latency: Option<Histogram<u64>>,
}

impl Collector {
    /// Takes what the cores published and closes every second that all running cores have
    /// completed. Returns the number of rows closed by this call.
    pub fn collect(&mut self, cores: &[Arc<CoreSeries>]) -> usize {
        self.drain(cores);
        let closed_below = cores
            .iter()
            .filter(|c| !c.finished.load(Ordering::Acquire))
            .map(|c| c.through.load(Ordering::Acquire))
            .min();
        match closed_below {
            Some(limit) => self.close_below(limit),
            None => 0,
        }
    }

    /// After the run: closes everything, including the partial last second.
    pub fn finish(mut self, cores: &[Arc<CoreSeries>]) -> Vec<SecondRow> {
        self.drain(cores);
        let end = self.open.keys().next_back().map_or(0, |last| last + 1);
        self.close_below(end);
        self.rows
    }

    pub fn rows(&self) -> &[SecondRow] {
        &self.rows
    }

    /// The latencies of every second closed so far (`None`: no response yet).
    pub fn latency(&self) -> Option<&Histogram<u64>> {
        self.latency.as_ref()
    }

    fn drain(&mut self, cores: &[Arc<CoreSeries>]) {
        for core in cores {
            let samples =
                std::mem::take(&mut *core.pending.lock().unwrap_or_else(|e| e.into_inner()));
            samples.into_iter().for_each(|s| self.absorb(s));
        }
    }

    fn absorb(&mut self, sample: Sample) {
        let Some(open) = self.open.get_mut(&sample.index) else {
            self.open.insert(sample.index, sample);
            return;
        };
        open.sent += sample.sent;
        open.requests += sample.requests;
        open.failures += sample.failures;
        open.connections += sample.connections;
        open.lag_max_ns = open.lag_max_ns.max(sample.lag_max_ns);
        merge_optional(&mut open.latency, &sample.latency);
        merge_optional(&mut open.first_byte, &sample.first_byte);
    }

    /// Emits rows for all seconds below `limit`, filling idle seconds with zero rows.
    fn close_below(&mut self, limit: u32) -> usize {
        let before = self.rows.len();
        let mut next = self.rows.last().map_or(0, |r| r.second + 1);
        while next < limit {
            let sample = self.open.remove(&next);
            if let Some(s) = &sample {
                merge_optional(&mut self.latency, &s.latency);
            }
            self.rows.push(row(next, sample));
            next += 1;
        }
        self.rows.len() - before
    }
}

fn row(second: u32, sample: Option<Sample>) -> SecondRow {
    let quantile = |hist: Option<&Histogram<u64>>, q: f64| {
        hist.map_or(0.0, |h| h.value_at_quantile(q) as f64 / 1e3)
    };
    let latency = sample.as_ref().and_then(|s| s.latency.as_ref());
    let first_byte = sample.as_ref().and_then(|s| s.first_byte.as_ref());
    SecondRow {
        second,
        unix_s: None,
        sent: sample.as_ref().map_or(0, |s| s.sent),
        requests: sample.as_ref().map_or(0, |s| s.requests),
        failures: sample.as_ref().map_or(0, |s| s.failures),
        p50_us: quantile(latency, 0.5),
        p99_us: quantile(latency, 0.99),
        max_us: latency.map(|h| h.max() as f64 / 1e3),
        target: None,
        first_byte_p50_us: first_byte.map(|h| quantile(Some(h), 0.5)),
        first_byte_p99_us: first_byte.map(|h| quantile(Some(h), 0.99)),
        server_cpu_pct: None,
        server_rss_bytes: None,
        users: None,
        connections: sample.as_ref().map(|s| s.connections),
        send_lag_max_us: sample.and_then(|s| s.lag_max_ns).map(|ns| ns as f64 / 1e3),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_cores_per_second() {
        let start = Stamp::now();
        let shared: Vec<Arc<CoreSeries>> = (0..2).map(|_| Arc::default()).collect();
        let mut a = SecondRecorder::new(shared[0].clone(), start, false);
        let mut b = SecondRecorder::new(shared[1].clone(), start, false);
        let at = |ms: u64| start + Duration::from_millis(ms);
        a.record(at(100), Some(1_000_000), false);
        b.record(at(200), Some(3_000_000), true);
        b.record(at(300), None, true);
        let mut collector = Collector::default();
        assert_eq!(collector.collect(&shared), 0, "no second is complete yet");
        let mut c = SecondRecorder::new(Arc::default(), start, false);
        assert!(c.record(
            at(1),
            Some(crate::results::stats::LATENCY_MAX_NS + 1),
            false
        ));
        assert!(!c.record(at(1), Some(1), false), "in range");
        assert_eq!(c.finish(at(2)).0.len(), 2);

        a.roll(at(1_100));
        assert_eq!(
            collector.collect(&shared),
            0,
            "core b has not finished second 0"
        );
        b.record(at(2_500), Some(2_000_000), false);
        assert_eq!(collector.collect(&shared), 1);
        assert_eq!(
            a.finish(at(2_600)).0.len(),
            1,
            "a's run histogram: its one second"
        );
        let (b_run, b_first_byte) = b.finish(at(2_600));
        assert!(b_first_byte.is_none(), "not timed");
        assert_eq!(b_run.len(), 2, "b's run histogram: both of its seconds");
        assert!(b_run.max() >= 3_000_000 && b_run.min() < 2_100_000);
        let rows = collector.finish(&shared);
        assert_eq!(rows.len(), 3);
        assert_eq!((rows[0].requests, rows[0].failures), (3, 2));
        assert!((rows[0].p50_us - 1_000.0).abs() < 20.0, "{:?}", rows[0]);
        assert!((rows[0].p99_us - 3_000.0).abs() < 40.0, "{:?}", rows[0]);
        assert_eq!((rows[1].requests, rows[1].p99_us), (0, 0.0), "idle second");
        assert_eq!(rows[2].requests, 1);
    }

    /// With `--first-byte`, each second also carries its responses' first-byte percentiles,
    /// merged across cores, and the run's first-byte histogram holds every second's.
    #[test]
    fn first_bytes_per_second() {
        let start = Stamp::now();
        let shared: Vec<Arc<CoreSeries>> = (0..2).map(|_| Arc::default()).collect();
        let mut a = SecondRecorder::new(shared[0].clone(), start, true);
        let mut b = SecondRecorder::new(shared[1].clone(), start, true);
        let at = |ms: u64| start + Duration::from_millis(ms);
        for (on_b, ms, latency, first) in [
            (false, 100, 5_000_000, 1_000_000),
            (true, 200, 6_000_000, 2_000_000),
            (false, 1_500, 9_000_000, 4_000_000),
        ] {
            let core = if on_b { &mut b } else { &mut a };
            core.record(at(ms), Some(latency), false);
            core.record_first_byte(first);
        }
        a.record_first_byte(crate::results::stats::LATENCY_MAX_NS + 1);
        b.record(at(2_100), None, true);
        let (_, a_first) = a.finish(at(2_600));
        let (_, b_first) = b.finish(at(2_600));
        assert_eq!((a_first.unwrap().len(), b_first.unwrap().len()), (3, 1));
        let rows = Collector::default().finish(&shared);
        assert_eq!(rows.len(), 3);
        assert!(
            (rows[0].first_byte_p50_us.unwrap() - 1_000.0).abs() < 20.0,
            "{:?}",
            rows[0]
        );
        assert!(
            (rows[0].first_byte_p99_us.unwrap() - 2_000.0).abs() < 40.0,
            "{:?}",
            rows[0]
        );
        assert!((rows[0].p99_us - 6_000.0).abs() < 100.0, "{:?}", rows[0]);
        assert!(
            rows[1].first_byte_p50_us.unwrap() >= 4_000.0,
            "{:?}",
            rows[1]
        );
        assert_eq!(rows[2].first_byte_p99_us, None, "a second of failures only");
        let mut untimed = SecondRecorder::new(Arc::default(), start, false);
        untimed.record(at(1), Some(1), false);
        untimed.record_first_byte(1);
        assert!(
            untimed.finish(at(2)).1.is_none(),
            "not kept without --first-byte"
        );
    }
}

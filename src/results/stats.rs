//! Per-core run statistics: the latency histogram, outcome counters and status counts. Each
//! core owns one `Stats`; they are merged once after the run.

use hdrhistogram::Histogram;

// The failure categories and connect causes live with the reasons; re-exported here, where
// the books that count them are.
pub use crate::results::failures::{Cause, ErrorKind, FailureReason};

/// Latencies are recorded in nanoseconds, from 1 ns up to one hour; every core uses these
/// bounds so that merging never fails.
pub const LATENCY_MAX_NS: u64 = 3_600_000_000_000;
/// Significant figures of the run histogram (0.1% worst-case quantization error).
pub const LATENCY_SIGFIG: u8 = 3;
/// Significant figures of the send-lag histogram (rate mode): a 1% error is plenty for lag.
pub const SEND_LAG_SIGFIG: u8 = 2;
/// Significant figures of the connect-time histogram: 1%, like the send lag (and an eighth of
/// the run histogram's memory per core).
pub const CONNECT_SIGFIG: u8 = 2;
/// Significant figures of each `--targets` name's latency histogram: 1% (an eighth of the
/// memory of 0.1%, for up to `mix::MAX_NAMES` names on every core).
pub const TARGET_SIGFIG: u8 = 2;

/// Status codes 0..=599 are counted individually; anything else lands in the last slot.
const STATUS_SLOTS: usize = 601;

/// Everything one core counted.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Latency of every complete response (success or not), in nanoseconds. Filled when the
    /// core finishes, from its per-second histograms (see `series`).
    pub latency: Histogram<u64>,
    /// Latencies above `LATENCY_MAX_NS`: recorded at the maximum and counted here.
    pub over_range: u64,
    pub successes: u64,
    pub errors: [u64; ErrorKind::ALL.len()],
    status: Vec<u64>,
    pub bytes_read: u64,
    pub bytes_written: u64,
    /// Connections established; how many of those replaced an earlier one (`reconnects`:
    /// reopened after a close or a failure), and how many were opened during the run as
    /// new ones (`added`: a closed loop's `--ramp`, rate mode's growth, or one whose opening
    /// before the start failed). The rest were opened before the clock started.
    pub established: u64,
    pub reconnects: u64,
    pub added: u64,
    /// Connects that failed for want of a free local port (`connect::ConnectError`).
    pub no_local_port: u64,
    /// The first connect failure's cause, named in the report.
    pub connect_cause: Option<crate::results::stats::Cause>,
    /// Malformed responses that were TLS records: an https server answering plain http.
    pub tls_answers: u64,
    /// How long each connection opened in the measured window took to establish (the TCP
    /// handshake on TCP), in nanoseconds: every request's with `--no-keepalive`, otherwise
    /// the reconnects'.
    pub connect: Histogram<u64>,
    /// Requests started but not finished when the run stopped.
    pub in_flight: u64,
    /// Requests written (or attempted: a failed connect counts).
    pub sent: u64,
    /// Rate mode: latency from the actual send (the corrected one, from the intended send
    /// time, is `latency`).
    pub uncorrected: Option<Histogram<u64>>,
    /// Rate mode: how long after its intended time each request was sent.
    pub send_lag: Option<Histogram<u64>>,
    /// `--first-byte`: the time to each complete response's first body byte, from the same
    /// start as `latency`.
    pub first_byte: Option<Histogram<u64>>,
    /// Rate mode: requests sent more than `LATE_AFTER` after their intended time.
    pub late: u64,
    /// Most connections open at once.
    pub peak_connections: u64,
    /// Rate mode: ticks on which slots were overdue and `--max-connections` allowed no more
    /// connections (the server, not the client, held the schedule back).
    pub capped: u64,
    /// `--think`: the users' pauses in the measured window, and their total length.
    pub thinks: u64,
    pub think_ns: u64,
    /// The failures by reason: by the core's reason id while it counts (`failures::Registry`),
    /// by category and text once merged.
    pub reasons: Vec<FailureReason>,
    /// `--targets`: the same counts for each target name, by `Plan::targets` index (only
    /// `latency`, `over_range`, `successes`, `errors`, the reasons and the statuses are kept).
    pub targets: Vec<Stats>,
}

/// A request sent later than this after its slot counts as late (missed its slot).
pub const LATE_AFTER_NS: u64 = 1_000_000;

impl Default for Stats {
    fn default() -> Self {
        Stats::with(new_histogram(LATENCY_SIGFIG), new_histogram(CONNECT_SIGFIG))
    }
}

impl Stats {
    /// Empty counts around these histograms.
    fn with(latency: Histogram<u64>, connect: Histogram<u64>) -> Stats {
        Stats {
            latency,
            over_range: 0,
            successes: 0,
            errors: [0; ErrorKind::ALL.len()],
            status: vec![0; STATUS_SLOTS],
            bytes_read: 0,
            bytes_written: 0,
            established: 0,
            reconnects: 0,
            added: 0,
            no_local_port: 0,
            connect_cause: None,
            tls_answers: 0,
            connect,
            in_flight: 0,
            sent: 0,
            uncorrected: None,
            send_lag: None,
            first_byte: None,
            late: 0,
            peak_connections: 0,
            capped: 0,
            thinks: 0,
            think_ns: 0,
            reasons: Vec::new(),
            targets: Vec::new(),
        }
    }
}

/// A latency histogram with the run's bounds.
pub fn new_histogram(sigfig: u8) -> Histogram<u64> {
    Histogram::new_with_bounds(1, LATENCY_MAX_NS, sigfig)
        .expect("static histogram bounds are valid")
}

/// A histogram that starts small and grows to the largest latency recorded, at most the
/// run's bound: a `--targets` name's (there may be hundreds, on every core).
pub fn growing_histogram() -> Histogram<u64> {
    Histogram::new(TARGET_SIGFIG).expect("static histogram precision is valid")
}

/// Records into `hist`, clamping to the range (growing a growing histogram up to it);
/// returns whether the value was over it.
pub fn record_latency(hist: &mut Histogram<u64>, ns: u64) -> bool {
    let value = ns.clamp(1, LATENCY_MAX_NS);
    if hist.record(value).is_err() {
        hist.saturating_record(value);
    }
    ns > LATENCY_MAX_NS
}

impl Stats {
    /// The counts of one `--targets` name: its histograms start small and grow as needed.
    pub fn target() -> Stats {
        Stats::with(growing_histogram(), growing_histogram())
    }

    /// A request that ended with a response (`status`) or without one; failed if `failure`.
    pub fn record(&mut self, status: Option<u16>, failure: Option<ErrorKind>) {
        match (status, failure) {
            (Some(status), failure) => self.record_response(status, failure),
            (None, Some(kind)) => self.record_error(kind),
            (None, None) => unreachable!("a request without a response has failed"),
        }
    }

    /// A complete response: its status is counted whatever the check said (its latency goes
    /// to the per-second histogram).
    pub fn record_response(&mut self, status: u16, failure: Option<ErrorKind>) {
        self.add_status(status, 1);
        match failure {
            None => self.successes += 1,
            Some(kind) => self.errors[kind as usize] += 1,
        }
    }

    /// A request that ended without a complete response.
    /// Adds `n` complete responses of `status` to the status counts only (for a report read
    /// back, whose successes and failures are counted apart).
    pub fn add_status(&mut self, status: u16, n: u64) {
        self.status[(status as usize).min(STATUS_SLOTS - 1)] += n;
    }

    pub fn record_error(&mut self, kind: ErrorKind) {
        self.errors[kind as usize] += 1;
    }

    pub fn failures(&self) -> u64 {
        self.errors.iter().sum()
    }

    /// Requests that finished, successfully or not.
    pub fn requests(&self) -> u64 {
        self.successes + self.failures()
    }

    pub fn error_count(&self, kind: ErrorKind) -> u64 {
        self.errors[kind as usize]
    }

    /// `(status, count)` for every status seen, ascending; 600 stands for "out of range".
    pub fn status_counts(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.status
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(code, n)| (code as u16, *n))
    }

    /// Stats for an open-loop run, with the extra histograms.
    pub fn open_loop() -> Stats {
        Stats {
            uncorrected: Some(new_histogram(LATENCY_SIGFIG)),
            send_lag: Some(new_histogram(SEND_LAG_SIGFIG)),
            ..Stats::default()
        }
    }

    /// Rate mode: the uncorrected latency and the send lag of one request.
    pub fn record_open_loop(&mut self, uncorrected_ns: Option<u64>, lag_ns: u64) {
        if let (Some(hist), Some(ns)) = (&mut self.uncorrected, uncorrected_ns) {
            record_latency(hist, ns);
        }
        if let Some(hist) = &mut self.send_lag {
            record_latency(hist, lag_ns);
        }
        self.late += u64::from(lag_ns > LATE_AFTER_NS);
    }

    /// Adds another core's counts into this one.
    pub fn merge(&mut self, other: &Stats) {
        merge_optional(&mut self.uncorrected, &other.uncorrected);
        merge_optional(&mut self.send_lag, &other.send_lag);
        merge_optional(&mut self.first_byte, &other.first_byte);
        self.sent += other.sent;
        self.late += other.late;
        self.peak_connections += other.peak_connections;
        self.capped += other.capped;
        self.latency
            .add(&other.latency)
            .expect("identical histogram bounds");
        self.over_range += other.over_range;
        self.successes += other.successes;
        self.errors
            .iter_mut()
            .zip(other.errors)
            .for_each(|(a, b)| *a += b);
        self.status
            .iter_mut()
            .zip(&other.status)
            .for_each(|(a, b)| *a += b);
        self.bytes_read += other.bytes_read;
        self.bytes_written += other.bytes_written;
        self.established += other.established;
        self.reconnects += other.reconnects;
        self.added += other.added;
        self.no_local_port += other.no_local_port;
        self.connect_cause = self.connect_cause.or(other.connect_cause);
        self.tls_answers += other.tls_answers;
        self.connect
            .add(&other.connect)
            .expect("identical histogram bounds");
        self.in_flight += other.in_flight;
        self.thinks += other.thinks;
        self.think_ns += other.think_ns;
        crate::results::failures::merge(&mut self.reasons, &other.reasons);
        if self.targets.is_empty() {
            self.targets = other.targets.clone();
        } else {
            self.targets
                .iter_mut()
                .zip(&other.targets)
                .for_each(|(a, b)| a.merge(b));
        }
    }
}

/// Adds an optional histogram (`--first-byte`'s, rate mode's) into another.
pub(crate) fn merge_optional(into: &mut Option<Histogram<u64>>, from: &Option<Histogram<u64>>) {
    match (into.as_mut(), from) {
        (Some(into), Some(from)) => into.add(from).expect("identical histogram bounds"),
        (None, Some(from)) => *into = Some(from.clone()),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a core does for one response: its latency, then its status and outcome.
    fn respond(s: &mut Stats, ns: u64, status: u16, failure: Option<ErrorKind>) {
        s.over_range += record_latency(&mut s.latency, ns) as u64;
        s.record_response(status, failure);
    }

    #[test]
    fn records_and_merges() {
        let mut a = Stats::default();
        respond(&mut a, 1_000, 200, None);
        respond(&mut a, 3_000, 500, Some(ErrorKind::Status));
        a.record_error(ErrorKind::Timeout);
        a.bytes_read = 10;
        let mut b = Stats::default();
        respond(&mut b, 2_000, 200, None);
        respond(&mut b, LATENCY_MAX_NS + 1, 200, Some(ErrorKind::Body));
        b.record_error(ErrorKind::Connect);
        b.bytes_read = 5;
        b.in_flight = 2;

        a.merge(&b);
        assert_eq!(a.requests(), 6);
        assert_eq!(a.successes, 2);
        assert_eq!(a.failures(), 4);
        assert_eq!(
            a.latency.len(),
            4,
            "errors without a response have no latency"
        );
        assert_eq!(a.over_range, 1);
        assert_eq!(a.latency.min(), 1_000);
        assert!(a.latency.max() >= LATENCY_MAX_NS - LATENCY_MAX_NS / 1000);
        assert_eq!(
            a.status_counts().collect::<Vec<_>>(),
            vec![(200, 3), (500, 1)]
        );
        for (kind, n) in [
            (ErrorKind::Status, 1),
            (ErrorKind::Timeout, 1),
            (ErrorKind::Body, 1),
            (ErrorKind::Connect, 1),
        ] {
            assert_eq!(a.error_count(kind), n, "{}", kind.name());
        }
        assert_eq!((a.bytes_read, a.in_flight), (15, 2));
    }

    #[test]
    fn odd_status_codes_share_a_slot() {
        let mut s = Stats::default();
        respond(&mut s, 10, 999, Some(ErrorKind::Status));
        respond(&mut s, 10, 600, Some(ErrorKind::Status));
        assert_eq!(s.status_counts().collect::<Vec<_>>(), vec![(600, 2)]);
    }
}

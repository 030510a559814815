//! One core's share of the run: its counters, its part of `-n`, and the decision to stop.
//! Shared by that core's connection tasks through an `Rc` (same thread, no locks).

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::plan::{CoreShare, Plan};
use crate::series::{CoreSeries, SecondRecorder};
use crate::signal;
use crate::stats::{ErrorKind, Stats};
use crate::timeouts::{self, Deadline};

/// How often the watcher looks at Ctrl-C and publishes idle seconds.
const WATCH_TICK: Duration = Duration::from_millis(10);

pub struct Worker {
    pub plan: Arc<Plan>,
    pub start: Instant,
    pub deadline: Option<Instant>,
    pub stats: RefCell<Stats>,
    /// The request deadline of each connection of this core, by connection index.
    pub deadlines: Vec<Deadline>,
    seconds: RefCell<SecondRecorder>,
    /// Requests this core may still start (`None`: unlimited).
    budget: Cell<Option<u64>>,
    in_flight: Cell<u64>,
    stopped: Cell<bool>,
}

impl Worker {
    pub fn new(
        plan: Arc<Plan>,
        share: &CoreShare,
        start: Instant,
        series: Arc<CoreSeries>,
    ) -> Rc<Worker> {
        let deadline = plan.duration.map(|d| start + d);
        Rc::new(Worker {
            plan,
            start,
            deadline,
            stats: RefCell::default(),
            deadlines: (0..share.connections)
                .map(|_| Deadline::default())
                .collect(),
            seconds: RefCell::new(SecondRecorder::new(series, start)),
            budget: Cell::new(share.requests),
            in_flight: Cell::new(0),
            stopped: Cell::new(false),
        })
    }

    /// Claims the right to start one more request; false once the run is over for this core.
    pub fn begin(&self) -> bool {
        if self.stopped.get() || signal::stop_requested() {
            self.stopped.set(true);
            return false;
        }
        if let Some(left) = self.budget.get() {
            if left == 0 {
                return false;
            }
            self.budget.set(Some(left - 1));
        }
        self.in_flight.set(self.in_flight.get() + 1);
        true
    }

    /// A request ended at `now`, with a response (`latency_ns`, `status`) or without one.
    /// One that ends after the deadline stays counted as in flight: the measured window is
    /// exactly the run's duration.
    pub fn end(&self, now: Instant, response: Option<(u64, u16)>, failure: Option<ErrorKind>) {
        if self.deadline.is_some_and(|d| now > d) {
            self.stopped.set(true);
            return;
        }
        self.in_flight.set(self.in_flight.get() - 1);
        let mut stats = self.stats.borrow_mut();
        match (response, failure) {
            (Some((latency, status)), failure) => stats.record_response(latency, status, failure),
            (None, Some(kind)) => stats.record_error(kind),
            (None, None) => unreachable!("a request without a response has failed"),
        }
        let latency = response.map(|(latency, _)| latency);
        self.seconds
            .borrow_mut()
            .record(now, latency, failure.is_some());
    }

    /// Runs until the deadline or Ctrl-C, expiring timed-out requests on every tick;
    /// returning stops this core.
    pub async fn watch(&self) {
        loop {
            let now = Instant::now();
            if signal::stop_requested() || self.deadline.is_some_and(|d| now >= d) {
                self.stopped.set(true);
                return;
            }
            self.seconds.borrow_mut().roll(now);
            timeouts::sweep(&self.deadlines, now);
            let wake = self
                .deadline
                .map_or(now + WATCH_TICK, |d| d.min(now + WATCH_TICK));
            monoio::time::sleep_until(monoio::time::Instant::from_std(wake)).await;
        }
    }

    /// Closes the books: in-flight requests and the last partial second.
    pub fn finish(&self) -> Stats {
        let end = self
            .deadline
            .map_or(Instant::now(), |d| d.min(Instant::now()));
        self.seconds.borrow_mut().finish(end);
        let mut stats = self.stats.take();
        stats.in_flight = self.in_flight.get();
        stats
    }
}

//! One core's share of the run: its counters, its part of `-n`, and the decision to stop.
//! Shared by that core's connection tasks through an `Rc` (same thread, no locks). The
//! connections report events (a connection opened or not, bytes written and read, a request
//! sent and ended, a first byte); the worker alone keeps the books and decides what falls
//! in the measured window.

use std::cell::{Cell, RefCell};
use std::num::NonZeroU8;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use crate::check::{Expect, KnownBodies};
use crate::engine::clock::Stamp;
use crate::engine::connect::{ConnectError, Stream};
use crate::engine::flow::{Ended, Users};
use crate::engine::pacer::{Pacer, Slot};
use crate::engine::signal;
use crate::engine::think::{Naps, Pauses};
use crate::engine::ticker::{TICK, Ticks};
use crate::engine::timeouts::Deadlines;
use crate::http::response::{KnownHeads, SharedHeads};
use crate::results::failures::{self, FailureReason, Registry, Why};
use crate::results::series::{CoreSeries, SecondRecorder};
use crate::results::stats::{Cause, ErrorKind, Stats};
use crate::results::tally::Tally;
use crate::run::plan::{CoreShare, Plan};
use crate::tls::Tls;

/// How a request ended: with a response (its status), and whether it failed (how).
#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    pub status: Option<u16>,
    pub failure: Option<Failure>,
}

impl Outcome {
    /// A request that ended without a response.
    pub fn failed(failure: Failure) -> Outcome {
        Outcome {
            status: None,
            failure: Some(failure),
        }
    }
}

/// A failed request: its reason's id in the core's `Registry` plus one, which also names its
/// category. One byte, with a niche: it travels through the connection loop's results, some
/// of which stay in the task's state across a wait (a response's result fits 4 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure(NonZeroU8);

impl Failure {
    fn of(id: u8) -> Failure {
        Failure(NonZeroU8::MIN.saturating_add(id))
    }

    fn id(self) -> u8 {
        self.0.get() - 1
    }
}

/// One of the plan's expectations, with the verdicts this core remembers for it.
pub struct Check {
    pub expect: Expect,
    pub known: RefCell<KnownBodies>,
}

/// How long a core measured, and how long it drained after.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Times {
    pub window: Duration,
    pub drain: Duration,
}

pub struct Worker {
    pub plan: Arc<Plan>,
    /// https: this core's client configuration, with its own session cache.
    pub tls: Option<Tls>,
    /// When load starts: once this core's connections are open (a closed loop's `--ramp`
    /// opens them after it); the ramp and the schedule begin here.
    pub start: Stamp,
    /// When the measured window starts: `start` plus `--warmup`. Requests intended before
    /// it are sent like any other on the same connections but counted nowhere.
    from: Stamp,
    /// The end of the measured window: no request starts after it.
    pub deadline: Option<Stamp>,
    /// The end of the drain after it: the requests sent in the window and still out are
    /// waited for until then (`--drain`).
    drain_end: Option<Stamp>,
    pub stats: RefCell<Stats>,
    /// The request deadline of each connection of this core, by connection index (room for
    /// `max_connections`).
    pub deadlines: Deadlines,
    /// Response heads parsed on this core, reused by all its connections.
    pub heads: SharedHeads,
    /// The plan's expectations, each with the response bodies this core checked against
    /// it and their verdicts, reused likewise (a verdict holds for one expectation only).
    pub checks: Vec<Check>,
    /// Rate mode: this core's schedule.
    pacer: Option<Pacer>,
    /// Where this core is in the plan's order of requests (they go in turn).
    next_request: Cell<usize>,
    /// Connection tasks running, and how many this core may run.
    connections: Cell<usize>,
    max_connections: usize,
    seconds: RefCell<SecondRecorder>,
    /// Measured requests this core may still start (`None`: unlimited).
    budget: Cell<Option<u64>>,
    /// Measured requests started and not ended.
    in_flight: Cell<u64>,
    /// Connections opened before `start`, by connection index, until their tasks take them.
    opened: RefCell<Vec<Option<Stream>>>,
    /// A closed loop still in its warm-up (until a `begin` sees the clock past `from`).
    warming: Cell<bool>,
    stopped: Cell<bool>,
    /// The runtime is io_uring's: plain requests are queued on its ring (`conn`).
    pub ring_sends: bool,
    /// `--think`: this core's users' pauses, and the long ones' naps (woken by the watcher).
    pauses: Option<Pauses>,
    pub naps: Naps,
    /// The reasons of failures named on this core, and the text a body check's explanation
    /// is written into (kept, so that a failure allocates nothing once its reason is known).
    reasons: RefCell<Registry>,
    explanation: RefCell<String>,
    /// `--flow`: each user's place in it (`None` without a flow: the plan's rotation).
    users: Option<Users>,
    /// `--metrics-listen`, `--web`: the second whose totals were last handed over.
    tallied: Cell<u32>,
}

impl Worker {
    pub fn new(
        plan: Arc<Plan>,
        tls: Option<Tls>,
        share: &CoreShare,
        start: Stamp,
        series: Arc<CoreSeries>,
        opened: Vec<Option<Stream>>,
        uring: bool,
    ) -> Rc<Worker> {
        let from = start + plan.warmup;
        let plan_think = plan.info.think;
        let deadline = plan.duration.map(|d| from + d);
        let drain_end = deadline.map(|d| d + plan.drain);
        let ramp = plan.ramp;
        let warming = !plan.warmup.is_zero();
        let mut stats = if share.rate.is_some() {
            Stats::open_loop()
        } else {
            Stats::default()
        };
        stats.established = opened.iter().flatten().count() as u64;
        stats.targets = vec![Stats::target(); plan.info.targets.len()];
        if plan.first_byte {
            // The whole run's histogram comes from the per-second recorder at the end.
            for target in &mut stats.targets {
                target.first_byte = Some(crate::results::stats::growing_histogram());
            }
        }
        let seconds = SecondRecorder::new(series, from, plan.first_byte);
        let checks = plan
            .expects
            .iter()
            .map(|expect| Check {
                expect: expect.clone(),
                known: RefCell::default(),
            })
            .collect();
        Rc::new(Worker {
            tls,
            start,
            from,
            deadline,
            drain_end,
            stats: RefCell::new(stats),
            deadlines: Deadlines::new(start, share.max_connections),
            heads: KnownHeads::shared(),
            checks,
            pacer: share.rate.map(|rate| Pacer::new(start, rate, ramp)),
            next_request: Cell::new(0),
            connections: Cell::new(share.connections),
            max_connections: share.max_connections,
            seconds: RefCell::new(seconds),
            budget: Cell::new(share.requests),
            in_flight: Cell::new(0),
            opened: RefCell::new(opened),
            warming: Cell::new(warming),
            stopped: Cell::new(false),
            ring_sends: uring,
            pauses: (plan_think).map(|range| Pauses::new(range, start.as_nanos())),
            naps: Naps::default(),
            reasons: RefCell::default(),
            explanation: RefCell::default(),
            users: (plan.flow.as_ref()).map(|flow| Users::new(flow, start.as_nanos())),
            tallied: Cell::new(u32::MAX),
            plan,
        })
    }

    /// The request user (connection) `user` sends next: the index of one of the plan's
    /// requests, its step's with `--flow`, otherwise the next in the plan's order (a compare
    /// rather than a division per request).
    pub fn next_request(&self, user: usize) -> u32 {
        if let (Some(users), Some(flow)) = (&self.users, &self.plan.flow) {
            return users.next(user, flow);
        }
        let at = self.next_request.get();
        let next = at + 1;
        let wrapped = if next == self.plan.order.len() {
            0
        } else {
            next
        };
        self.next_request.set(wrapped);
        self.plan.order[at]
    }

    /// The connection opened for connection `index` before the clock started, once.
    pub fn take_opened(&self, index: usize) -> Option<Stream> {
        self.opened.borrow_mut().get_mut(index)?.take()
    }

    /// When connection `index` starts: spread over `--ramp` in a closed loop (see
    /// `started_by`) (in rate mode the
    /// pacer ramps the rate instead, and connections start at once).
    pub fn ramp_start(&self, index: usize) -> Stamp {
        let first = self.connections.get().max(1);
        if self.pacer.is_some() || index >= first {
            return self.start;
        }
        self.start + self.plan.ramp.mul_f64(index as f64 / first as f64)
    }

    /// Claims the right to start one more request, and says when to send it; `None` once
    /// the run is over for this core. In rate mode the slot is the next one of the schedule.
    /// Warm-up requests take nothing from `-n`. Inlined into each transport's connection
    /// loop, as `Expect::check_recalling` is.
    ///
    /// With `--flow`, a slot of the schedule and a share of `-n` are for a flow's first
    /// request (`--rate` starts flows; `-n` counts them); the steps after it follow each other
    /// at once, and count as sent when they are.
    #[inline(always)]
    pub fn begin(&self, user: usize) -> Option<Slot> {
        if self.stopped.get() || signal::stop_requested() {
            self.stopped.set(true);
            return None;
        }
        let starts = self.users.as_ref().is_none_or(|u| u.starting(user));
        let slot = match &self.pacer {
            Some(_) if !starts => self.next_step_slot()?,
            Some(pacer) => {
                let at = pacer.peek();
                // A slot at or after the deadline would never be measured: the run is over.
                if self.deadline.is_some_and(|d| at >= d) {
                    return None;
                }
                Slot::At(at)
            }
            None if self.warming() => Slot::Warm,
            None => Slot::Now,
        };
        if self.measured(slot) {
            match self.budget.get() {
                _ if !starts => {}
                Some(0) => return None,
                Some(left) => self.budget.set(Some(left - 1)),
                None => {}
            }
            self.in_flight.set(self.in_flight.get() + 1);
        }
        // The slot's time is computed once per request (the ramp's curve takes a square root).
        if let Some(pacer) = self.pacer.as_ref().filter(|_| starts) {
            pacer.advance();
        }
        if let Some(users) = self.users.as_ref().filter(|_| starts) {
            users.begun();
        }
        Some(slot)
    }

    /// `--pipeline`: whether the next request may go at once. In a closed loop it may; in
    /// rate mode when its slot is due (a connection with requests out takes only due slots,
    /// and waits for a slot only when it has none out).
    pub fn due_now(&self) -> bool {
        self.pacer.as_ref().is_none_or(|p| p.peek() <= Stamp::now())
    }

    /// Rate mode, `--flow`: the slot of a step after a flow's first, which follows at once
    /// as in a closed loop (none past the window's end; a warm-up one during the warm-up).
    #[cold]
    fn next_step_slot(&self) -> Option<Slot> {
        let now = Stamp::now();
        if self.deadline.is_some_and(|d| now >= d) {
            return None;
        }
        Some(if now < self.from {
            Slot::Warm
        } else {
            Slot::Now
        })
    }

    /// Whether a closed loop is still warming up. The clock is read only during the warm-up.
    fn warming(&self) -> bool {
        if self.warming.get() && Stamp::now() >= self.from {
            self.warming.set(false);
        }
        self.warming.get()
    }

    /// Whether a request of this slot counts in the results (it is not a warm-up request).
    pub fn measured(&self, slot: Slot) -> bool {
        match slot {
            Slot::Now => true,
            Slot::Warm => false,
            Slot::At(at) => at >= self.from,
        }
    }

    /// A request is being written at `sent`, for its `slot`: counts it, and in rate mode
    /// records how late it left.
    pub fn sending(&self, slot: Slot, sent: Stamp) {
        if !self.measured(slot) || self.after_window(slot, sent) {
            return;
        }
        let lag = match slot {
            Slot::At(at) => Some(sent.since(at)),
            _ => None,
        };
        self.seconds.borrow_mut().sent(self.in_window(sent), lag);
        let mut stats = self.stats.borrow_mut();
        match lag {
            Some(lag) => {
                stats.sent += 1;
                stats.record_open_loop(None, lag);
            }
            // `--flow` with `--rate`: a step after a flow's first is not on the schedule,
            // whose books (sent against the rate, the send lag) count the flows it started.
            None if self.pacer.is_some() => {}
            None => stats.sent += 1,
        }
    }

    /// A connection for a request of `slot` took from `began` to `now` to open: counted when
    /// the request is (not in the warm-up, not after the deadline).
    pub fn connected(&self, slot: Slot, began: Stamp, now: Stamp) {
        if self.measured(slot) && self.deadline.is_none_or(|d| now <= d) {
            let ns = now.since(began);
            crate::results::stats::record_latency(&mut self.stats.borrow_mut().connect, ns);
        }
    }

    /// Request `request` of the plan, of `slot`, sent at `sent`, ended at `now`, with a
    /// response status or without one. Its latency runs from `slot.intended(sent)`; in rate
    /// mode the latency from the actual send is kept too. One that ends after the deadline
    /// stays counted as in flight: the measured window is exactly the run's duration.
    /// Returns the latency recorded, in nanoseconds (`None`: not a counted response).
    pub fn end(
        &self,
        now: Stamp,
        slot: Slot,
        sent: Stamp,
        request: u32,
        outcome: Outcome,
    ) -> Option<u64> {
        let Outcome { status, failure } = outcome;
        if !self.measured(slot) {
            return None;
        }
        self.in_flight.set(self.in_flight.get() - 1);
        if let Some(d) = self.deadline
            && now > d
        {
            // The window is over: no more requests start. One that started in it is
            // counted (this is the drain); one that a closed loop started after it, before
            // it noticed, belongs to no window.
            self.stopped.set(true);
            if self.after_window(slot, sent) {
                return None;
            }
        }
        let latency = status.map(|_| now.since(slot.intended(sent)));
        let over_range =
            self.seconds
                .borrow_mut()
                .record(self.in_window(now), latency, failure.is_some());
        let mut stats = self.stats.borrow_mut();
        stats.over_range += u64::from(over_range);
        let kind = failure.map(|f| self.kind(f));
        stats.record(status, kind);
        if let Some(failure) = failure {
            self.count_reason(&mut stats.reasons, failure);
        }
        if let (Some(hist), Some(_)) = (&mut stats.uncorrected, status) {
            crate::results::stats::record_latency(hist, now.since(sent));
        }
        // `--targets`: the request's target counts it too.
        if let Some(target) = self.target_stats(&mut stats, request) {
            if let Some(ns) = latency {
                target.over_range += u64::from(crate::results::stats::record_latency(
                    &mut target.latency,
                    ns,
                ));
            }
            target.record(status, kind);
            if let Some(failure) = failure {
                self.count_reason(&mut target.reasons, failure);
            }
        }
        latency
    }

    #[cold]
    fn count_reason(&self, books: &mut Vec<FailureReason>, failure: Failure) {
        self.reasons.borrow().count(failure.id(), books);
    }

    /// The category of a failure.
    #[cold]
    pub fn kind(&self, failure: Failure) -> ErrorKind {
        self.reasons.borrow().kind(failure.id())
    }

    /// A failure of `kind` for `why`. `head` and `body` are what came (the status line and
    /// the start of the body, or bytes that were no response), sampled when the reason is
    /// first seen on this core.
    #[cold]
    pub fn failure(&self, kind: ErrorKind, why: Why, head: &[u8], body: &[u8]) -> Failure {
        let sample = || failures::sample(head, body);
        Failure::of(self.reasons.borrow_mut().id(kind, why, "", sample))
    }

    /// A response (`head`, `body`) whose body failed `expect`: the reason says how.
    #[cold]
    pub fn body_failure(&self, expect: &Expect, head: &[u8], body: &[u8]) -> Failure {
        self.body_reason(head, body, |out| expect.explain(body, out))
    }

    /// A `body` failure of the response (`head`, `body`) whose reason `explain` writes (into
    /// a kept buffer: nothing is allocated once the reason is known).
    #[cold]
    fn body_reason(&self, head: &[u8], body: &[u8], explain: impl FnOnce(&mut String)) -> Failure {
        let mut explanation = self.explanation.borrow_mut();
        explanation.clear();
        explain(&mut explanation);
        let sample = || failures::sample(head, body);
        let kind = ErrorKind::Body;
        Failure::of((self.reasons.borrow_mut()).id(kind, Why::Body, &explanation, sample))
    }

    /// A failed read or write: the system's error, or what the transport said.
    #[cold]
    pub fn io_failure(&self, kind: ErrorKind, error: &std::io::Error) -> Failure {
        let why = match error.raw_os_error() {
            Some(code) => Why::Os(code),
            None if error.kind() == std::io::ErrorKind::UnexpectedEof => Why::Closed,
            None => Why::Io(error.kind()),
        };
        self.failure(kind, why, b"", b"")
    }

    /// The second of the series that an event at `at` counts in. Past the deadline it is the
    /// window's last second, whose requests they are: the drain's answers, and a rate slot
    /// of the window that left late. (A row of its own would be a second that lasted only the
    /// drain, and once a late send had opened it every answer after it would land there.)
    fn in_window(&self, at: Stamp) -> Stamp {
        self.deadline
            .map_or(at, |d| at.min(d - Duration::from_nanos(1)))
    }

    /// `--think`: the pause a user takes before its next request (`None`: no pauses). A pause
    /// that begins `now` is counted, as drawn, when `now` is in the measured window: counting
    /// pauses as they end would leave out the long ones a short run cuts off, and understate
    /// the mean.
    ///
    /// With `--flow`, the pause after the step user `user` has just ended: its own `think`,
    /// or `--think`.
    #[inline]
    pub fn pause(&self, user: usize, now: Stamp) -> Option<Duration> {
        // Without pauses (the plain path) this is all a response costs here.
        if self.users.is_none() && self.pauses.is_none() {
            return None;
        }
        self.draw_pause(user, now)
    }

    fn draw_pause(&self, user: usize, now: Stamp) -> Option<Duration> {
        let step = self.users.as_ref().and_then(|u| u.pauses(user));
        let pause = step.or(self.pauses.as_ref())?.next();
        if now >= self.from && self.deadline.is_none_or(|d| now < d) {
            let mut stats = self.stats.borrow_mut();
            stats.thinks += 1;
            stats.think_ns += u64::try_from(pause.as_nanos()).unwrap_or(u64::MAX);
        }
        Some(pause)
    }

    /// A connection was opened: one that `replaces` a closed one, or a new one.
    pub fn connection_opened(&self, replaces: bool) {
        let mut stats = self.stats.borrow_mut();
        stats.established += 1;
        stats.reconnects += u64::from(replaces);
        stats.added += u64::from(!replaces);
    }

    /// A connect failed (its request is counted by `end`): why, for the report.
    #[cold]
    pub fn connect_failed(&self, error: ConnectError) -> Failure {
        let why = {
            let mut stats = self.stats.borrow_mut();
            match error {
                ConnectError::NoLocalPort => {
                    stats.no_local_port += 1;
                    Why::NoLocalPort
                }
                ConnectError::Failed(cause) => {
                    stats.connect_cause.get_or_insert(cause);
                    match cause {
                        Cause::Os(code) => Why::Os(code),
                        Cause::TimedOut => Why::ConnectTimedOut,
                        Cause::Handshake => Why::Handshake,
                    }
                }
            }
        };
        self.failure(ErrorKind::Connect, why, b"", b"")
    }

    /// A malformed response was a TLS record: plain http went to an https port.
    #[cold]
    pub fn tls_answer(&self) {
        self.stats.borrow_mut().tls_answers += 1;
    }

    /// A request of `len` bytes is being written; counted when `measured`.
    #[inline]
    pub fn wrote(&self, len: usize, measured: bool) {
        if measured {
            self.stats.borrow_mut().bytes_written += len as u64;
        }
    }

    /// A read brought `n` bytes; counted when `measured`.
    #[inline]
    pub fn read(&self, n: usize, measured: bool) {
        if measured {
            self.stats.borrow_mut().bytes_read += n as u64;
        }
    }

    /// Whether a request of `slot` sent at `sent` started after the measured window (a closed
    /// loop's, sent before the core noticed the deadline; a slot of the schedule never is).
    fn after_window(&self, slot: Slot, sent: Stamp) -> bool {
        self.deadline.is_some_and(|d| slot.intended(sent) >= d)
    }

    /// Request `request` of `slot` failed before it could be sent (its connect failed, or its
    /// connection held bytes nobody asked for): it counts as sent and failed, now.
    #[cold]
    pub fn failed_unsent(&self, user: usize, slot: Slot, request: u32, failure: Failure) {
        let now = Stamp::now();
        self.sending(slot, now);
        let outcome = Outcome::failed(failure);
        self.end(now, slot, now, request, outcome);
        self.step_ended(user, slot, (now, now), outcome);
    }

    /// `--flow`: the step user `user` sent at `times.0` (for `slot`) ended at `times.1` with
    /// `outcome`: the user moves on, and a flow that completed or failed is counted in the
    /// flow's row (when it began in the measured window and its last request was sent in it).
    #[inline]
    pub fn step_ended(&self, user: usize, slot: Slot, times: (Stamp, Stamp), outcome: Outcome) {
        // Without `--flow` (the plain path) this is all a response costs here.
        if self.users.is_some() {
            self.flow_step_ended(user, slot, times, outcome);
        }
    }

    fn flow_step_ended(&self, user: usize, slot: Slot, times: (Stamp, Stamp), outcome: Outcome) {
        let (Some(users), Some(flow)) = (&self.users, &self.plan.flow) else {
            return;
        };
        let counted = self.measured(slot) && !self.after_window(slot, times.0);
        let ok = outcome.failure.is_none();
        let ended = users.ended(user, flow, ok, times, counted);
        let mut stats = self.stats.borrow_mut();
        let row = &mut stats.targets[usize::from(flow.target)];
        match (ended, outcome.failure) {
            (Ended::Completed { ns, counted: true }, _) => {
                row.successes += 1;
                row.over_range +=
                    u64::from(crate::results::stats::record_latency(&mut row.latency, ns));
            }
            (Ended::Failed { counted: true }, Some(failure)) => {
                row.record_error(self.kind(failure));
                self.count_reason(&mut row.reasons, failure);
            }
            _ => {}
        }
    }

    /// `--flow`: the captures of user `user`'s step, from its response (`head`, `body`); a
    /// miss fails the step, with the capture's reason.
    #[cold]
    pub fn capture(&self, user: usize, head: &[u8], body: &[u8]) -> Result<(), Failure> {
        let (Some(users), Some(flow)) = (&self.users, &self.plan.flow) else {
            return Ok(());
        };
        (users.capture(user, flow, head, body)).map_err(|(capture, missed)| {
            self.body_reason(head, body, |out| capture.explain(missed, out))
        })
    }

    /// The bytes user `user` built for its current request (`--flow`).
    pub fn user_bytes(&self, user: usize) -> &[u8] {
        self.users.as_ref().map_or(&[], |users| users.bytes(user))
    }

    /// `--first-byte`: the response to request `request`, whose latency `end` just recorded,
    /// had its first body byte `ns` nanoseconds after the latency's start.
    pub fn first_byte(&self, request: u32, ns: u64) {
        self.seconds.borrow_mut().record_first_byte(ns);
        let mut stats = self.stats.borrow_mut();
        if let Some(hist) = self
            .target_stats(&mut stats, request)
            .and_then(|target| target.first_byte.as_mut())
        {
            crate::results::stats::record_latency(hist, ns);
        }
    }

    /// `--targets`: the counts of request `request`'s target (`None` without a mix, which
    /// then reads nothing more).
    fn target_stats<'a>(&self, stats: &'a mut Stats, request: u32) -> Option<&'a mut Stats> {
        if stats.targets.is_empty() {
            return None;
        }
        Some(&mut stats.targets[self.plan.requests[request as usize].target as usize])
    }

    /// Runs until the deadline or Ctrl-C, expiring timed-out requests on every tick, and in
    /// rate mode opening connections (`open(index)`) while slots are more than a tick
    /// overdue; returning stops this core.
    ///
    /// At the deadline no request starts any more, and the core drains: it waits for the
    /// requests still out, each until it is answered or its `--timeout` expires, for at most
    /// `--drain`; what is still out then is reported in flight.
    pub async fn watch(&self, open: &dyn Fn(usize), ticks: &mut Ticks) {
        loop {
            let now = Stamp::now();
            if signal::stop_requested() {
                self.stopped.set(true);
                return;
            }
            let idle = self.in_flight.get() == 0;
            if self.deadline.is_some_and(|d| now >= d) {
                self.stopped.set(true);
                if idle {
                    return;
                }
            }
            let flows_open = self.users.as_ref().is_some_and(|u| u.open() > 0);
            if self.budget.get() == Some(0) && idle && !flows_open {
                return;
            }
            self.deadlines.sweep(now);
            self.naps.wake(now, TICK / 2);
            if self.drain_end.is_some_and(|end| now >= end) {
                // The sweep has just failed what timed out by now: one more tick lets those
                // connections count it.
                ticks.next().await;
                return;
            }
            if !self.stopped.get() {
                let mut seconds = self.seconds.borrow_mut();
                seconds.connections(self.connections.get() as u64);
                seconds.roll(now);
                self.hand_over_tally(&seconds);
                drop(seconds);
                for _ in 0..self.connections_wanted(now) {
                    open(self.connections.get());
                    self.connections.set(self.connections.get() + 1);
                }
            }
            ticks.next().await;
        }
    }

    /// `--metrics-listen`, `--web`: hands the core's totals to the main thread once a
    /// second (a copy of its counts, off the requests' path).
    fn hand_over_tally(&self, seconds: &SecondRecorder) {
        if self.plan.live_totals && seconds.second() != self.tallied.get() {
            self.tallied.set(seconds.second());
            let tally = Tally::of(&self.stats.borrow(), self.in_flight.get());
            seconds.shared().set_tally(tally);
        }
    }

    /// Rate mode: how many connections to open now. One per slot more than a tick overdue
    /// (every connection is busy, or it would have claimed it), so the schedule is kept
    /// however slow the server turns; but at most as many as are open (growth at most
    /// doubles per tick, so a brief hiccup does not open hundreds) and never past
    /// `--max-connections`.
    fn connections_wanted(&self, now: Stamp) -> usize {
        let Some(pacer) = &self.pacer else { return 0 };
        let open = self.connections.get();
        let overdue = now.checked_sub(TICK).map_or(0, |t| pacer.overdue(t));
        let overdue = usize::try_from(overdue).unwrap_or(usize::MAX);
        let room = self.max_connections.saturating_sub(open);
        if overdue > 0 && room == 0 {
            self.stats.borrow_mut().capped += 1;
        }
        overdue.min(open).min(room)
    }

    /// Closes the books: in-flight requests and the last partial second. Returns the stats
    /// and the core's times: the measured window, from the end of the warm-up to the
    /// deadline when there is one (the watcher may notice it a tick later, but no request
    /// starts after it), otherwise to now (zero when the run stopped during the warm-up);
    /// and the drain after the deadline, until now.
    pub fn finish(&self) -> (Stats, Times) {
        self.naps.clear();
        let now = Stamp::now();
        let end = self.deadline.map_or(now, |d| d.min(now));
        let (latency, first_byte) = self.seconds.borrow_mut().finish(end);
        let mut stats = self.stats.take();
        stats.latency = latency;
        stats.first_byte = first_byte;
        // Requests a closed loop started after the deadline and that did not end count in
        // flight too: they were sent, and nothing came back.
        stats.in_flight = self.in_flight.get();
        stats.peak_connections = self.connections.get() as u64;
        let times = Times {
            window: end.duration_since(self.from),
            drain: now.duration_since(end),
        };
        (stats, times)
    }
}

/// How many of a core's `connections` have started `elapsed` after its start, when a
/// closed loop's ramp opens connection i at `ramp × i / connections` (`Worker::ramp_start`).
pub fn started_by(connections: usize, ramp: Duration, elapsed: Duration) -> u64 {
    if ramp.is_zero() || elapsed >= ramp {
        return connections as u64;
    }
    let opened = (elapsed.as_secs_f64() / ramp.as_secs_f64() * connections as f64).floor();
    (opened as u64 + 1).min(connections as u64)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn a_ramp_starts_one_connection_at_once_then_the_rest_in_step() {
        let ramp = Duration::from_secs(2);
        let at = |ms: u64| started_by(4, ramp, Duration::from_millis(ms));
        // Connection i starts at 2 s × i / 4: at 0, 0.5, 1 and 1.5 s.
        assert_eq!(
            [at(0), at(499), at(500), at(1_000), at(1_999), at(5_000)],
            [1, 1, 2, 3, 4, 4]
        );
        assert_eq!(started_by(4, Duration::ZERO, Duration::ZERO), 4);
    }
    use crate::results::series::Collector;
    use crate::run::config::Config;
    use crate::run::url::Url;

    /// A rate slot of the window that leaves after the deadline (every connection was busy,
    /// or the new one opened late) counts in the window's last second, and so do the drain's
    /// answers after it: the series never grows a row past the window. (CI once saw a late
    /// send open such a row, and the drain's answers all land in it.)
    #[test]
    fn a_late_send_and_the_drain_count_in_the_last_second() {
        let mut config = Config::new(Url::parse("http://127.0.0.1:9/").unwrap());
        config.rate = Some(200.0);
        config.duration = Some(Duration::from_secs(2));
        let plan = Arc::new(Plan::new(&config).unwrap());
        let share = plan.cores[0].clone();
        let series = Arc::new(CoreSeries::default());
        let start = Stamp::now();
        let worker = Worker::new(plan, None, &share, start, series.clone(), Vec::new(), true);
        let at = |ms| start + Duration::from_millis(ms);
        let early = worker.begin(0).unwrap();
        worker.sending(early, at(10));
        let late = worker.begin(0).unwrap();
        worker.sending(late, at(2_300));
        let ok = Outcome {
            status: Some(200),
            failure: None,
        };
        assert!(worker.end(at(2_400), early, at(10), 0, ok).is_some());
        assert!(worker.end(at(2_500), late, at(2_300), 1, ok).is_some());
        worker.finish();
        let rows = Collector::default().finish(&[series]);
        let counts: Vec<_> = rows
            .iter()
            .map(|r| (r.second, r.sent, r.requests))
            .collect();
        assert_eq!(counts, [(0, 1, 0), (1, 1, 2)]);
    }
}

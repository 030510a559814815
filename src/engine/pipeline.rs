//! `--pipeline N`: one connection's loop with up to N requests in flight, as wrk's
//! `pipeline.lua` and h2load's `-m` send them. Requests go out back to back, in one write
//! for those claimed together; responses come back in the order asked (HTTP/1.1), so each
//! one is framed for, checked against and recorded as the request at the front of the
//! connection's queue: its own send time, expectation, target and timeout.
//!
//! - A closed loop tops the pipeline up once a quarter of it is free (`RunInfo::refill`),
//!   in one write before the next read, so it keeps between 3N/4 and N out. In rate mode a
//!   connection takes the slots that are due, up to N, and waits for the next slot only
//!   when it has nothing out.
//! - A connection that fails (a reset, a malformed response, a close with requests out, a
//!   timeout) fails every request in its queue, each once, in the failure's category.
//! - `Connection: close` on a response ends the connection after it: the requests behind it
//!   were never answered, and go out again on a new connection, counted once (their send
//!   time is their first).
//! - Bytes after the last response asked for are `unsolicited`, as without pipelining.
//!
//! The one-at-a-time loop (`conn::run`) stays the default: its task state is tuned to a
//! single exchange. This loop shares its connection (`Conn`) and so its framing, checks and
//! failures. Per request it allocates nothing: the queue and the write buffer are sized to
//! the depth once, when the connection starts.

use std::collections::VecDeque;
use std::future::Future;
use std::rc::Rc;

use monoio::buf::IoBuf;

use crate::engine::clock::Stamp;
use crate::engine::conn::{
    Arrived, BACKOFF_MIN, Conn, TIMER_SLACK, count_read, send_planned, spare, taken_back,
};
use crate::engine::connect::Opened;
use crate::engine::pacer::Slot;
use crate::engine::worker::{Failure, Outcome, Worker};
use crate::http::response::Response;
use crate::results::failures::Why;
use crate::results::stats::ErrorKind;

/// The most bytes of requests copied into one write. Small requests go out together; one
/// larger (an upload) goes from the plan, as the one-at-a-time loop sends it, so that a
/// connection's buffer stays small whatever the bodies (16 uploads of 1 MB would otherwise
/// make it 16 MB, on every connection).
const BATCH_MAX: usize = 64 * 1024;

/// A request claimed by the connection and not yet answered.
#[derive(Clone, Copy)]
struct Pending {
    slot: Slot,
    /// The plan's request.
    request: u32,
    /// When it was first written (`None`: not yet, so not yet counted as sent).
    sent: Option<Stamp>,
    /// Written on the current connection: a response is due for it there.
    written: bool,
}

/// The connection's pipeline: its queue, in the order written, and the bytes of the next
/// write. The requests written on the current connection come first in the queue, those
/// not yet written (claimed since, or sent again after a close) after them.
struct Pipe {
    depth: usize,
    /// Free places that start a top-up while requests are out (`RunInfo::refill`).
    refill: usize,
    queue: VecDeque<Pending>,
    out: Vec<u8>,
    /// Whether the framer is set for the response to the queue's front (a HEAD request's,
    /// one whose body a check reads).
    framing: bool,
    /// The core still starts requests (its window is not over).
    taking: bool,
}

/// Runs connection `index` of its core with up to `--pipeline` requests in flight.
#[allow(clippy::manual_async_fn)] // as `conn::run`: an `async fn` keeps its arguments twice
pub fn run<S: Opened>(worker: Rc<Worker>, index: usize) -> impl Future<Output = ()> {
    async move {
        let mut conn = Conn::<S>::new(&worker, index);
        let mut ever_connected = conn.adopt_opened(&worker, index);
        let depth = worker.plan.info.pipeline as usize;
        let longest = (worker.plan.requests.iter())
            .map(|r| r.bytes.len())
            .max()
            .unwrap_or(0);
        let mut pipe = Pipe {
            depth,
            refill: worker.plan.info.refill() as usize,
            queue: VecDeque::with_capacity(depth),
            out: Vec::with_capacity((depth * longest).min(BATCH_MAX)),
            framing: false,
            taking: true,
        };
        conn.ramp(worker.ramp_start(index)).await;
        loop {
            pipe.claim(&worker, index, &mut conn).await;
            if pipe.queue.is_empty() {
                break;
            }
            if conn.stream.is_none() {
                match Box::pin(conn.connect(&worker, &mut ever_connected)).await {
                    Ok(began) => {
                        let slot = pipe.queue[0].slot;
                        worker.connected(slot, began, Stamp::now());
                        pipe.framing = false;
                    }
                    Err(failure) => {
                        pipe.fail_all(&worker, failure);
                        conn.back_off().await;
                        continue;
                    }
                }
            } else if pipe.idle() && conn.stream.as_ref().is_some_and(S::unasked) {
                // Bytes that came while nothing was asked answer none of these requests.
                let failure = worker.failure(ErrorKind::Unsolicited, Why::BeforeRequest, b"", b"");
                pipe.end_front(&worker, None, Some(failure));
                conn.close();
                continue;
            }
            pipe.write(&worker, index, &mut conn).await;
            pipe.read(&worker, index, &mut conn).await;
        }
    }
}

impl Pipe {
    /// Whether no request is out on the connection (the written ones come first).
    fn idle(&self) -> bool {
        !self.queue.front().is_some_and(|p| p.written)
    }

    /// Whether the front request is the last one out on the connection.
    fn front_is_last(&self) -> bool {
        !self.queue.get(1).is_some_and(|p| p.written)
    }

    /// Claims requests while the pipeline has room and the core starts them: in a closed loop
    /// until it is full, once `refill` places are free; in rate mode the slots already due,
    /// or, with nothing queued, the next slot, waited for.
    async fn claim<S: Opened>(&mut self, worker: &Worker, index: usize, conn: &mut Conn<S>) {
        if !self.queue.is_empty() && self.depth - self.queue.len() < self.refill {
            return;
        }
        while self.taking && self.queue.len() < self.depth {
            if !self.queue.is_empty() && !worker.due_now() {
                return;
            }
            let Some(slot) = worker.begin(index) else {
                self.taking = false;
                return;
            };
            let request = worker.next_request(index);
            if let Slot::At(at) = slot
                && at > Stamp::now() + TIMER_SLACK
            {
                // As the one-at-a-time loop: woken early, its send measured from the slot.
                conn.timer.until(at - TIMER_SLACK).await;
            }
            self.queue.push_back(Pending {
                slot,
                request,
                sent: None,
                written: false,
            });
        }
    }

    /// Writes the queued requests not yet written on this connection, together in one write
    /// up to `BATCH_MAX` bytes; the timeout runs from the oldest request out.
    ///
    /// A write that fails is not the requests' failure yet: a server that closed or reset
    /// the connection may have answered some of them first, with the answers waiting to be
    /// read (and one of them may say `Connection: close`, which sends the rest again). The
    /// read after it takes those, and then meets the end of the connection, which fails the
    /// requests still out as a read failure.
    async fn write<S: Opened>(&mut self, worker: &Rc<Worker>, index: usize, conn: &mut Conn<S>) {
        let now = Stamp::now();
        // The written ones come first: those from here on go out now.
        let new = (self.queue.iter().position(|p| !p.written)).unwrap_or(self.queue.len());
        for pending in self.queue.range_mut(new..) {
            let bytes = &worker.plan.requests[pending.request as usize].bytes;
            worker.wrote(bytes.len(), worker.measured(pending.slot));
            // A request written again (after a `Connection: close`) was counted, and its
            // latency runs, from its first write.
            if pending.sent.is_none() {
                worker.sending(pending.slot, now);
                pending.sent = Some(now);
            }
            pending.written = true;
        }
        if let Some(oldest) = self.queue.front().and_then(|p| p.sent) {
            let at = oldest + worker.plan.timeout;
            worker.deadlines.arm(index, conn.fd(), at);
        }
        let stream = conn.stream.as_mut().expect("connected before writing");
        self.out.clear();
        for at in new..self.queue.len() {
            let request = self.queue[at].request;
            let bytes = &worker.plan.requests[request as usize].bytes;
            if self.out.len() + bytes.len() > BATCH_MAX {
                flush(stream, &mut self.out).await;
                if bytes.len() > BATCH_MAX {
                    let _ = send_planned(stream, worker, request).await;
                    continue;
                }
            }
            self.out.extend_from_slice(bytes);
        }
        flush(stream, &mut self.out).await;
    }

    /// Reads once and ends every request whose response is then complete; a failure ends the
    /// connection and every request out on it.
    async fn read<S: Opened>(&mut self, worker: &Worker, index: usize, conn: &mut Conn<S>) {
        let stream = conn.stream.as_mut().expect("connected before reading");
        let (result, slice) = stream.read(spare(&mut conn.buf)).await;
        conn.buf = taken_back(slice, &result);
        let measured = self.queue.front().is_some_and(|p| worker.measured(p.slot));
        let read = count_read(result, worker, measured);
        let timed_out = worker.deadlines.disarm(index);
        let outcome = match read {
            _ if timed_out => Err(worker.failure(ErrorKind::Timeout, Why::Timeout, b"", &conn.buf)),
            Ok(0) => self.frame_last(worker, conn),
            Ok(_) => self.frame(worker, conn),
            Err(failure) => Err(failure),
        };
        match outcome {
            Err(failure) => {
                let served = conn.served;
                self.fail_all(worker, failure);
                conn.close();
                // A server that answered (too much) is not down: no back-off.
                if served == 0 && worker.kind(failure) != ErrorKind::Unsolicited {
                    conn.back_off().await;
                }
            }
            Ok(()) => match self.queue.front().and_then(|p| p.sent) {
                Some(oldest) if !self.idle() => {
                    worker
                        .deadlines
                        .arm(index, conn.fd(), oldest + worker.plan.timeout)
                }
                _ => {}
            },
        }
    }

    /// Frames and ends the responses complete in the buffer, in order. `Ok` leaves the
    /// connection open, or closed by a `Connection: close` with the requests behind it to
    /// write again.
    fn frame<S: Opened>(&mut self, worker: &Worker, conn: &mut Conn<S>) -> Result<(), Failure> {
        while !conn.buf.is_empty() {
            let Some(front) = self.queue.front().copied().filter(|p| p.written) else {
                // Bytes with no request out: the last response brought them.
                return Err(conn.unsolicited(worker));
            };
            self.prepare(worker, conn, front);
            let response = match conn.framer.advance(&mut conn.buf) {
                Ok(Some(response)) => response,
                Ok(None) => return Ok(()),
                Err(error) => return Err(conn.malformed(worker, error)),
            };
            let keep_alive = response.keep_alive && worker.plan.info.keep_alive;
            let arrived = judge(worker, conn, front, response, keep_alive);
            if self.front_is_last() && !conn.buf.is_empty() {
                // Bytes after the last response asked for answer nothing: that response is
                // not trusted either (as without pipelining).
                return Err(conn.unsolicited(worker));
            }
            self.end_front(worker, Some(arrived.status), arrived.check.err());
            conn.served = conn.served.saturating_add(1);
            conn.backoff = BACKOFF_MIN;
            if !arrived.keep_alive {
                // The requests behind it go out again on a new connection.
                self.queue.iter_mut().for_each(|p| p.written = false);
                conn.close();
                return Ok(());
            }
        }
        Ok(())
    }

    /// The server closed the connection: a response whose body runs to the close ends
    /// there, and the requests behind it go out again; anything else fails them all.
    fn frame_last<S: Opened>(
        &mut self,
        worker: &Worker,
        conn: &mut Conn<S>,
    ) -> Result<(), Failure> {
        let Some(front) = self.queue.front().copied().filter(|p| p.written) else {
            conn.close();
            return Ok(());
        };
        self.prepare(worker, conn, front);
        let response = conn
            .framer
            .finish_eof()
            .map_err(|error| conn.malformed(worker, error))?;
        let arrived = judge(worker, conn, front, response, false);
        self.end_front(worker, Some(arrived.status), arrived.check.err());
        self.queue.iter_mut().for_each(|p| p.written = false);
        conn.close();
        Ok(())
    }

    /// Sets the framer for the front request's response, once per response.
    fn prepare<S: Opened>(&mut self, worker: &Worker, conn: &mut Conn<S>, front: Pending) {
        if !self.framing {
            let planned = &worker.plan.requests[front.request as usize];
            conn.framer.prepare(planned.head, planned.keep_body);
            self.framing = true;
        }
    }

    /// Ends the front request with its response's status, or without one, failed.
    fn end_front(&mut self, worker: &Worker, status: Option<u16>, failure: Option<Failure>) {
        let Some(front) = self.queue.pop_front() else {
            return;
        };
        self.framing = false;
        let now = Stamp::now();
        let outcome = Outcome { status, failure };
        // One that failed before it was ever written counts as sent and failed now.
        let sent = front.sent.unwrap_or_else(|| {
            worker.sending(front.slot, now);
            now
        });
        worker.end(now, front.slot, sent, front.request, outcome);
    }

    /// Fails every request in the queue, each once, with the connection's failure.
    fn fail_all(&mut self, worker: &Worker, failure: Failure) {
        while !self.queue.is_empty() {
            self.end_front(worker, None, Some(failure));
        }
    }
}

/// Checks `response` against the expectation of `front`, the request it answers, and takes
/// it out of the buffer.
fn judge<S: Opened>(
    worker: &Worker,
    conn: &mut Conn<S>,
    front: Pending,
    response: Response,
    keep_alive: bool,
) -> Arrived {
    let planned = &worker.plan.requests[front.request as usize];
    let check = &worker.checks[planned.expect as usize];
    conn.arrived(worker, check, response, keep_alive, false)
}

/// Writes `out` whole (what the socket takes at once, then the rest as it drains) and
/// empties it; a failure is left to the read after it (`Pipe::write`).
async fn flush<S: Opened>(stream: &mut S, out: &mut Vec<u8>) {
    let len = out.len();
    if len == 0 {
        return;
    }
    let sent = stream.send_now(out);
    if sent < len {
        let (_, rest) = stream.write_all(std::mem::take(out).slice(sent..)).await;
        *out = rest.into_inner();
    }
    out.clear();
}

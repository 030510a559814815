//! One connection's loop: connect, write the request, read and frame the response, check it,
//! record, and reconnect when the connection ends. Every mode runs this one loop, compiled
//! once per transport (a plain socket, or TLS): plain connections pay nothing for TLS.
//!
//! Per request it allocates nothing and arms no timeout timer: the request bytes are shared,
//! the read buffer, the framer and the pacing timer live as long as the task, and the timeout
//! is a deadline the core's watcher sweeps (see `timeouts`). The task's state is kept small
//! (rare waits live outside it): at hundreds of connections per core, every cache line of it
//! that a response touches is a cache miss.

use std::future::Future;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use monoio::buf::{IoBuf, IoBufMut, SliceMut};
use monoio::time::Sleep;

use crate::check::{CheckFailure, Expect};
use crate::engine::clock::Stamp;
use crate::engine::connect::{self, Opened};
use crate::engine::pacer::Slot;
use crate::engine::think::{NAP_MIN, Naps};
use crate::engine::worker::{Check, Failure, Outcome, Worker};
use crate::http::response::{FrameError, Framer, MAX_HEAD, Response, explain_malformed};
use crate::results::failures::Why;
use crate::results::stats::ErrorKind;

/// Initial read buffer: one page, as most responses are smaller. At 10,000 connections a
/// 16 KiB start cost 94 MB of RSS against 61 MB (glibc spreads each buffer over more pages
/// than the response touches).
const READ_BUF: usize = 4 * 1024;
/// What a buffer grows to once a read fills all it was offered, a large body streaming in:
/// read 4 KiB at a time, a 100 kB body cost 14% more CPU per request than read 16 KiB at a
/// time. Beyond this it grows only for a head or a kept body larger than it.
const READ_BUF_LARGE: usize = 16 * 1024;
/// Each read offers at least this much room.
const MIN_READ: usize = 4 * 1024;
/// Reconnect backoff after failures that served nothing: 10 ms doubling to 1 s, so a dead or
/// refusing server does not make blast spin.
pub(super) const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

/// In declaration order (`repr(C)`), what every response touches first: the task's state
/// starts with this struct, and at hundreds of connections per core each of its cache lines
/// is a miss. The stream comes after the hot fields because only its first bytes (the
/// socket's handle) are used per request; the rest of it, and the fields used only on a
/// reconnect or with `--first-byte`, fill a line that a response does not touch.
#[repr(C)]
pub(super) struct Conn<S> {
    pub(super) buf: Vec<u8>,
    pub(super) framer: Framer,
    /// Responses completed on the current connection (counted up to `u32::MAX`).
    pub(super) served: u32,
    /// The connection's index on its core: with `--flow`, its user's.
    user: u32,
    pub(super) backoff: Duration,
    pub(super) stream: Option<S>,
    pub(super) timer: Timer,
    /// `--first-byte`: when the current response's first body byte came, if a read before
    /// the one that ended it brought it (a streamed body). Set only with `--first-byte`.
    first_byte: Option<Stamp>,
}

/// A response that arrived: its status and whether the connection may be reused.
pub(super) struct Arrived {
    pub(super) status: u16,
    pub(super) keep_alive: bool,
    pub(super) check: Result<(), Failure>,
}

/// Runs connection `index` of its core until the core stops, starting on the connection the
/// core opened for it before its clock started, if any. (That connection is taken from the
/// worker rather than passed in: what the loop captures stays in the task's state for its
/// whole life, and a stream is 80 bytes of it.)
#[allow(clippy::manual_async_fn)] // the async block is the point, see below
pub(super) fn run<S: Opened>(worker: Rc<Worker>, index: usize) -> impl Future<Output = ()> {
    // An `async` block rather than an `async fn`: the function form keeps a second copy of
    // its arguments in the task's state.
    async move {
        let mut conn = Conn::new(&worker, index);
        let mut ever_connected = conn.adopt_opened(&worker, index);
        // When the last response on a kept connection ended; see `reuse` below.
        let mut ended: Option<Stamp> = None;
        // Closed-loop ramp: this core's connections start one after another over `--ramp`.
        conn.ramp(worker.ramp_start(index)).await;
        loop {
            // The request's locals end with this block: none of them lives across the
            // pause below, which would grow the task's state.
            let now = {
                let Some(slot) = worker.begin(index) else {
                    break;
                };
                let request = worker.next_request(index);
                // The timer wheel fires on whole milliseconds, up to two ticks after the time asked
                // for: waking early keeps its rounding out of the measured latency (see
                // `Slot::intended`).
                if let Slot::At(at) = slot
                    && at > Stamp::now() + TIMER_SLACK
                {
                    conn.timer.until(at - TIMER_SLACK).await;
                }
                // Without keep-alive every request opens its own connection, and starts when the
                // connect does: the handshake is part of what that mode measures.
                let mut connected_from = None;
                if conn.stream.is_none() {
                    // Boxed: connecting is rare (with keep-alive), and its future (a timeout around
                    // a connect) would otherwise make up most of the task's state. So is the time
                    // it began, which it returns.
                    match Box::pin(conn.connect(&worker, &mut ever_connected)).await {
                        Ok(began) => {
                            worker.connected(slot, began, Stamp::now());
                            connected_from = (!worker.plan.info.keep_alive).then_some(began);
                        }
                        Err(failure) => {
                            worker.failed_unsent(index, slot, request, failure);
                            conn.back_off().await;
                            continue;
                        }
                    }
                }
                // On a kept-alive connection in a closed loop, the clock read that ended the last
                // response is the send time of this one, which follows it within a microsecond of
                // bookkeeping: one clock read per request instead of two, and latency can only come
                // out longer by that microsecond, never shorter. (A connection just opened has no
                // such end: `ended` is set only on a connection kept open.)
                // (No local holds the reused end across the exchange's wait: it would stay in
                // the task's state.)
                let sent = match ended.take().filter(|_| slot == Slot::Now) {
                    Some(reused) => reused,
                    // A connection that was idle (a paced wait, or a new connection) may hold
                    // bytes the server sent while nothing was asked: they are no answer to this
                    // request. (A closed loop's kept connection was idle only for the bookkeeping
                    // since its last response, whose read took every byte then there: a peek per
                    // request would be a syscall each, for microseconds of exposure.)
                    None if conn.stream.as_ref().is_some_and(S::unasked) => {
                        let why = Why::BeforeRequest;
                        let failure = worker.failure(ErrorKind::Unsolicited, why, b"", b"");
                        worker.failed_unsent(index, slot, request, failure);
                        conn.close();
                        continue;
                    }
                    None => connected_from.unwrap_or_else(Stamp::now),
                };
                worker.sending(slot, sent);
                worker
                    .deadlines
                    .arm(index, conn.fd(), sent + worker.plan.timeout);
                let result = conn
                    .write_and_read(&worker, request, worker.measured(slot))
                    .await;
                let result = if worker.deadlines.disarm(index) {
                    // What came before the deadline, if anything, is the sample.
                    Err(worker.failure(ErrorKind::Timeout, Why::Timeout, b"", &conn.buf))
                } else {
                    result
                };
                let now = Stamp::now();
                match result {
                    Ok(arrived) => {
                        let failure = arrived.check.err();
                        let status = Some(arrived.status);
                        let outcome = Outcome { status, failure };
                        let latency = worker.end(now, slot, sent, request, outcome);
                        worker.step_ended(index, slot, (sent, now), outcome);
                        if worker.plan.first_byte {
                            // Taken whether or not the response counted (a warm-up one), so that it
                            // cannot stand for the next. A body that came whole began at the end.
                            let at = conn.first_byte.take();
                            if let Some(ns) = latency {
                                let before_end = at.map_or(0, |at| now.since(at));
                                worker.first_byte(request, ns.saturating_sub(before_end));
                            }
                        }
                        conn.served = conn.served.saturating_add(1);
                        conn.backoff = BACKOFF_MIN;
                        if arrived.keep_alive && worker.plan.info.keep_alive {
                            ended = Some(now);
                        } else {
                            conn.close();
                        }
                    }
                    Err(failure) => {
                        worker.end(now, slot, sent, request, Outcome::failed(failure));
                        worker.step_ended(index, slot, (sent, now), Outcome::failed(failure));
                        let served = conn.served;
                        conn.close();
                        // A server that answered (too much) is not down: no back-off.
                        if served == 0 && worker.kind(failure) != ErrorKind::Unsolicited {
                            conn.back_off().await;
                        }
                    }
                }
                now
            };
            // `--think`: the user pauses before its next request, which then goes out on a
            // connection that was idle (its send time is read after the pause). The pause
            // counts from the end of the exchange (a back-off after a failure is part of it).
            if let Some(pause) = worker.pause(index, now) {
                worker.naps.wake(now, Duration::ZERO);
                conn.pause(&worker.naps, now + pause, pause >= NAP_MIN)
                    .await;
                ended = None;
            }
        }
    }
}

/// A connection's timer: allocated on its first wait and re-armed for every later one. A
/// timer awaited in place would add monoio's cache-padded timer entry (640 bytes) to the
/// task's state, and every poll of the task would drag more of that state through the cache
/// (at hundreds of connections per core, the task's state is the client's main cache miss).
#[derive(Default)]
pub(super) struct Timer(Option<Pin<Box<Sleep>>>);

impl Timer {
    pub(super) async fn until(&mut self, at: Stamp) {
        let at = monoio::time::Instant::from_std(at.to_instant());
        let sleep = match &mut self.0 {
            Some(sleep) => {
                sleep.as_mut().reset(at);
                sleep
            }
            None => self.0.insert(Box::pin(monoio::time::sleep_until(at))),
        };
        sleep.await;
    }
}

/// How early a paced connection asks to be woken: two ticks of monoio's 1 ms timer wheel.
pub(super) const TIMER_SLACK: Duration = Duration::from_millis(2);

impl<S: Opened> Conn<S> {
    /// Connection `index` of the worker's core, not connected yet.
    pub(super) fn new(worker: &Worker, index: usize) -> Conn<S> {
        Conn {
            stream: None,
            buf: Vec::with_capacity(READ_BUF),
            framer: Framer::sharing(
                false,
                worker.plan.needs_body(),
                worker.plan.max_body,
                worker.heads.clone(),
            )
            .mixing_head(worker.plan.mixes_head()),
            served: 0,
            // At most `max_connections` per core, a `usize` of a few thousands.
            user: index as u32,
            backoff: BACKOFF_MIN,
            timer: Timer::default(),
            first_byte: None,
        }
    }

    /// Takes the connection the core opened for this one before its clock started, if any
    /// (counted then); returns whether there was one.
    pub(super) fn adopt_opened(&mut self, worker: &Worker, index: usize) -> bool {
        let opened = worker.take_opened(index).and_then(S::from_stream);
        opened.map(|stream| self.adopt(stream)).is_some()
    }

    /// Opens a connection and takes it into use; returns when the attempt began.
    pub(super) async fn connect(
        &mut self,
        worker: &Worker,
        ever_connected: &mut bool,
    ) -> Result<Stamp, Failure> {
        let began = Stamp::now();
        let opened = connect::open(&worker.plan, worker.tls.as_ref()).await;
        let stream = opened.map_err(|e| worker.connect_failed(e))?;
        // `open` makes the plan's kind of stream, which is the kind this loop runs.
        let stream = S::from_stream(stream).expect("the plan's kind of stream");
        worker.connection_opened(*ever_connected);
        *ever_connected = true;
        self.adopt(stream);
        Ok(began)
    }

    /// Takes a new connection into use.
    fn adopt(&mut self, stream: S) {
        self.stream = Some(stream);
        self.served = 0;
        // A response cut off on the last connection may have left its stamp.
        self.first_byte = None;
        self.buf.clear();
        self.framer.reset();
    }

    pub(super) fn close(&mut self) {
        self.stream = None;
    }

    /// Waits until `at`, when this connection's ramp lets it start. (A method: a local of the
    /// loop's function would stay in the task's state, and in its cache lines, all its life.)
    pub(super) async fn ramp(&mut self, at: Stamp) {
        if at > Stamp::now() {
            self.timer.until(at).await;
        }
    }

    /// `--think`: waits until `at`, a long pause napping on the core's watcher tick (see
    /// `think::Naps`), a short one on the connection's timer. (One method, so that the loop
    /// has one wait here: two would grow the task's state.)
    async fn pause(&mut self, naps: &Naps, at: Stamp, nap: bool) {
        if nap {
            naps.until(at).await;
        } else {
            self.timer.until(at).await;
        }
    }

    pub(super) async fn back_off(&mut self) {
        self.timer.until(Stamp::now() + self.backoff).await;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }

    pub(super) fn fd(&self) -> RawFd {
        self.stream.as_ref().map_or(-1, |s| s.as_raw_fd())
    }

    /// Writes the plan's request `index` and reads until one response is framed; its bytes
    /// are counted when it is `measured` (not a warm-up request). A request past its deadline
    /// has its socket shut down by the watcher, which ends the read here.
    #[allow(clippy::manual_async_fn)] // as `run`
    fn write_and_read<'a>(
        &'a mut self,
        worker: &'a Rc<Worker>,
        index: u32,
        measured: bool,
    ) -> impl Future<Output = Result<Arrived, Failure>> + 'a {
        // An `async` block, as `run` is.
        async move {
            let stream = self.stream.as_mut().expect("connected before exchange");
            let request = &worker.plan.requests[index as usize];
            let check = &worker.checks[request.expect as usize];
            self.framer.prepare(request.head, request.keep_body);
            let captures = request.captures;
            // Where the runtime's write finds the bytes: the plan's, or (`--flow`) the ones
            // the user built.
            let source = if request.built {
                BUILT | self.user
            } else {
                index
            };
            let bytes = match request.built {
                true => worker.user_bytes(self.user as usize),
                false => &request.bytes,
            };
            let len = bytes.len();
            worker.wrote(len, measured);
            let queued = if S::QUEUES && worker.ring_sends && len <= QUEUE_MAX {
                // On io_uring the write goes on the ring and the read after it, and both leave
                // with the runtime's next submission: one syscall for all the connections ready
                // then, instead of one per request (about 10% less user CPU per request against
                // nginx; docs/benchmarks.md). The write's result is taken once the response is in.
                //
                // SAFETY: the write's future and the reads below use the stream at once. A
                // transport that `QUEUES` is a socket monoio declares `Split` (see `Transport`):
                // a read and a write may be in flight together, as its own `into_split` lets
                // them. The stream stays in `self.stream` until this returns, after the future.
                let writer: &mut S = unsafe { &mut *(stream as *mut S) };
                Some(writer.queue(Unsent {
                    worker: worker.clone(),
                    index: source,
                    from: 0,
                }))
            } else {
                let sent = stream.send_now(bytes);
                if sent < len {
                    // Only what the write's future holds lives across this wait: the task's
                    // state stays as small as it was with one request.
                    let rest = Unsent {
                        worker: worker.clone(),
                        // One write moves at most 2 GiB (Linux's MAX_RW_COUNT), so this fits.
                        index: source,
                        from: sent as u32,
                    };
                    let (written, _) = stream.write_all(rest).await;
                    written.map_err(|e| worker.io_failure(ErrorKind::Write, &e))?;
                }
                None
            };
            // Reads until the response is framed (a `break` with the outcome, so that a queued
            // write's failure can still be named after a failed read).
            let arrived = loop {
                // Bytes read so far are framed (none at first: a response leaves nothing
                // behind, or the connection is closed), then more are read.
                if !self.buf.is_empty() {
                    match self.framer.advance(&mut self.buf) {
                        Ok(Some(response)) => {
                            let keep_alive = response.keep_alive;
                            break Ok(self.arrived(worker, check, response, keep_alive, captures));
                        }
                        // Only a response that a read left unfinished is stamped: a body that
                        // arrives whole costs no clock read.
                        Ok(None) if worker.plan.first_byte => self.stamp_first_byte(),
                        Ok(None) => {}
                        Err(error) => break Err(self.malformed(worker, error)),
                    }
                }
                // Awaited here rather than in a helper: each `async fn` layer adds its own copy of
                // the locals to the task's state.
                let stream = self.stream.as_mut().expect("connected before read");
                let (result, slice) = stream.read(spare(&mut self.buf)).await;
                self.buf = taken_back(slice, &result);
                match count_read(result, worker, measured) {
                    Ok(0) => {
                        break match self.framer.finish_eof() {
                            Ok(response) => {
                                Ok(self.arrived(worker, check, response, false, captures))
                            }
                            Err(error) => Err(self.malformed(worker, error)),
                        };
                    }
                    Ok(_) => {}
                    Err(failure) => break Err(failure),
                }
            };
            // Bytes after the response answer nothing that was asked: the response that
            // brought them is not trusted either (it may itself be one such answer). (With
            // pipelining, "asked" will be the requests still in the pipeline: bytes are
            // unsolicited only past the last of them.)
            let arrived = match arrived {
                Ok(_) if !self.buf.is_empty() => Err(self.unsolicited(worker)),
                arrived => arrived,
            };
            let Some(queued) = queued else {
                return arrived;
            };
            match queued.await.0 {
                Ok(n) if n == len => arrived,
                // A short write cannot happen to a request this small on an idle socket; a failed
                // one fails the read too, and is its cause.
                Ok(_) => Err(worker.failure(ErrorKind::Write, Why::ShortWrite, b"", b"")),
                Err(error) => Err(worker.io_failure(ErrorKind::Write, &error)),
            }
        }
    }

    /// The failure a framing error is; an answer in TLS (a plain-http request to an https
    /// port) is counted too, so that the report can say so.
    #[cold]
    pub(super) fn malformed(&self, worker: &Worker, error: FrameError) -> Failure {
        if error == FrameError::Malformed && crate::http::response::is_tls_record(&self.buf) {
            worker.tls_answer();
        }
        let (kind, why) = match error {
            FrameError::Eof => (ErrorKind::Read, Why::Closed),
            FrameError::Malformed => (
                ErrorKind::Malformed,
                Why::Malformed(explain_malformed(&self.buf)),
            ),
            FrameError::HeadTooLarge => (
                ErrorKind::Malformed,
                Why::Malformed("a response head over 64 KiB"),
            ),
        };
        worker.failure(kind, why, b"", &self.buf)
    }

    /// Bytes after a complete response: they are the sample.
    #[cold]
    pub(super) fn unsolicited(&self, worker: &Worker) -> Failure {
        worker.failure(ErrorKind::Unsolicited, Why::AfterResponse, b"", &self.buf)
    }

    /// The failure a response's check found, with the response as its sample.
    #[cold]
    fn judged(&self, worker: &Worker, expect: &Expect, r: &Response, how: CheckFailure) -> Failure {
        let (head, body) = (&self.buf[..r.body_start], &self.buf[r.body()]);
        match how {
            CheckFailure::Status => {
                worker.failure(ErrorKind::Status, Why::Status(r.status), head, body)
            }
            CheckFailure::Body => worker.body_failure(expect, head, body),
            CheckFailure::TooLarge => worker.failure(ErrorKind::TooLarge, Why::TooLarge, head, b""),
        }
    }

    /// `--flow`: the step's captures, from the response it passed its checks with.
    #[cold]
    fn captured(&self, worker: &Worker, r: &Response) -> Result<(), Failure> {
        let (head, body) = (&self.buf[..r.body_start], &self.buf[r.body()]);
        worker.capture(self.user as usize, head, body)
    }

    /// `--first-byte`: notes the time if the unfinished response's body has just begun.
    #[cold]
    fn stamp_first_byte(&mut self) {
        if self.first_byte.is_none() && self.framer.body_begun() {
            self.first_byte = Some(Stamp::now());
        }
    }

    /// Checks a framed response against its request's expectation and removes it from the
    /// buffer.
    pub(super) fn arrived(
        &mut self,
        worker: &Worker,
        check: &Check,
        response: Response,
        keep_alive: bool,
        captures: bool,
    ) -> Arrived {
        let expect = &check.expect;
        let verdict = if response.oversized {
            expect.check_oversized(response.status)
        } else {
            expect.check_recalling(
                response.status,
                &self.buf[response.body()],
                &mut check.known.borrow_mut(),
            )
        };
        let mut check = verdict.map_err(|how| self.judged(worker, expect, &response, how));
        if captures && check.is_ok() {
            check = self.captured(worker, &response);
        }
        response.remove_from(&mut self.buf);
        Arrived {
            status: response.status,
            keep_alive,
            check,
        }
    }
}

/// The result of a read into a connection's buffer, its bytes counted when `measured`.
pub(super) fn count_read(
    result: std::io::Result<usize>,
    worker: &Worker,
    measured: bool,
) -> Result<usize, Failure> {
    let n = result.map_err(|e| worker.io_failure(ErrorKind::Read, &e))?;
    worker.read(n, measured);
    Ok(n)
}

/// The buffer's spare capacity, for one read (at least `MIN_READ`, at most `MAX_READ`),
/// taken with the buffer: the runtime owns it until the read ends, and `into_inner` gives it
/// back.
pub(super) fn spare(buf: &mut Vec<u8>) -> SliceMut<Vec<u8>> {
    let len = buf.len();
    if buf.capacity() - len < MIN_READ {
        buf.reserve(MIN_READ.max(len.min(MAX_HEAD)));
    }
    let owned = std::mem::take(buf);
    let end = read_end(len, owned.capacity());
    owned.slice_mut(len..end)
}

/// The buffer back from a read; one that the read filled grows to `READ_BUF_LARGE`.
pub(super) fn taken_back(slice: SliceMut<Vec<u8>>, read: &std::io::Result<usize>) -> Vec<u8> {
    let filled = matches!(read, Ok(n) if *n == slice.end() - slice.begin());
    let mut buf = slice.into_inner();
    if filled && buf.capacity() < READ_BUF_LARGE {
        buf.reserve(READ_BUF_LARGE - buf.len());
    }
    buf
}

/// The most one read asks for. A kept body of a gigabyte grows the buffer past 2 GiB, and
/// io_uring's read takes its length as a 32-bit count and returns it in an `i32`: asked for
/// that much, every read failed for the rest of the run. Bodies that large take several reads.
const MAX_READ: usize = 64 << 20;

/// Where a read into a buffer of `len` bytes and `capacity` ends.
fn read_end(len: usize, capacity: usize) -> usize {
    capacity.min(len + MAX_READ)
}

/// A request's bytes from `from` on, as an owned buffer for the runtime's write (which may
/// outlive this task's borrow): a whole request queued on the ring, or the part the first
/// write left unsent. It keeps the core's worker, and with it the plan and the bytes, alive
/// as long as the write may run (non-atomically: the worker is this thread's). 16 bytes: it
/// lives in the task's state while it waits.
struct Unsent {
    worker: Rc<Worker>,
    index: u32,
    from: u32,
}

/// Sends the plan's request `index` from the plan, without copying it: what the socket takes
/// at once, then the rest as it drains (`--pipeline`'s requests too large to batch).
pub(super) async fn send_planned<S: Opened>(
    stream: &mut S,
    worker: &Rc<Worker>,
    index: u32,
) -> std::io::Result<()> {
    let bytes = &worker.plan.requests[index as usize].bytes;
    let sent = stream.send_now(bytes);
    if sent < bytes.len() {
        let rest = Unsent {
            worker: worker.clone(),
            index,
            from: sent as u32,
        };
        stream.write_all(rest).await.0?;
    }
    Ok(())
}

/// An `Unsent` index with this bit is a user's (`--flow`): the bytes it built.
const BUILT: u32 = 1 << 31;

impl Unsent {
    /// The whole request.
    fn bytes(&self) -> &[u8] {
        match self.index.checked_sub(BUILT) {
            Some(user) => self.worker.user_bytes(user as usize),
            None => &self.worker.plan.requests[self.index as usize].bytes,
        }
    }
}

// SAFETY: the bytes live in the plan, which the worker keeps alive, and never move or change
// (the plan is read-only during the run).
unsafe impl IoBuf for Unsent {
    fn read_ptr(&self) -> *const u8 {
        self.bytes()[self.from as usize..].as_ptr()
    }

    fn bytes_init(&self) -> usize {
        self.bytes().len() - self.from as usize
    }
}

/// The largest request queued on the ring: it fits an idle socket's send buffer (Linux's
/// smallest, `tcp_wmem`'s minimum, is 4 KiB), so the ring's write takes it whole. Larger ones
/// are sent at once as before, and the runtime writes what the socket did not take.
const QUEUE_MAX: usize = 4096;

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::engine::transport::Plain;
    use crate::run::config::Config;
    use crate::run::plan::Plan;
    use crate::run::url::Url;
    use crate::tls::stream::TlsStream;

    /// The task's state is what every response touches: at hundreds of connections per core
    /// each of its cache lines is a miss (docs/benchmarks.md, the cache-miss sections). A
    /// local that lives across the exchange's wait grows it (a 16-byte one did, once, unseen
    /// for a session), so its size is held here: 656 bytes for plain sockets when this test
    /// was written, and the TLS loop's (its stream is kilobytes, inline) by the same margin.
    /// A change that grows either must say why, here.
    #[test]
    fn the_connection_task_stays_within_its_cache_lines() {
        let config = Config::new(Url::parse("http://127.0.0.1:9/").unwrap());
        let plan = Arc::new(Plan::new(&config).unwrap());
        let share = plan.cores[0].clone();
        let worker = Worker::new(
            plan,
            None,
            &share,
            Stamp::now(),
            Arc::default(),
            Vec::new(),
            true,
        );
        let plain = std::mem::size_of_val(&run::<Plain>(worker.clone(), 0));
        assert!(plain <= 656, "{plain} bytes");
        let tls = std::mem::size_of_val(&run::<TlsStream>(worker, 0));
        assert!(tls <= 2216, "{tls} bytes");
    }

    #[test]
    fn a_read_that_fills_the_buffer_grows_it_once() {
        let read = |n: usize, capacity: usize| {
            let mut buf = Vec::with_capacity(capacity);
            let mut slice = spare(&mut buf);
            // SAFETY: writes `n` bytes within the slice's spare capacity, then marks them
            // initialized, as the kernel's read does.
            unsafe {
                std::ptr::write_bytes(slice.write_ptr(), b'x', n);
                slice.set_init(n);
            }
            let result = Ok(n);
            taken_back(slice, &result)
        };
        // A small response leaves the page it came into.
        assert_eq!(read(200, READ_BUF).capacity(), READ_BUF);
        // A full one is a large body coming: its next reads take 16 KiB each, its bytes kept.
        let grown = read(READ_BUF, READ_BUF);
        assert_eq!((grown.len(), grown.capacity()), (READ_BUF, READ_BUF_LARGE));
        assert!(grown.iter().all(|&b| b == b'x'));
        // Once grown (or grown further for a kept body), it does not grow again.
        assert_eq!(
            read(READ_BUF_LARGE, READ_BUF_LARGE).capacity(),
            READ_BUF_LARGE
        );
        // A failed read changes nothing.
        let mut buf = Vec::with_capacity(READ_BUF);
        let slice = spare(&mut buf);
        let failed = Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert_eq!(taken_back(slice, &failed).capacity(), READ_BUF);
    }

    #[test]
    fn a_read_asks_for_at_most_max_read() {
        assert_eq!(read_end(0, READ_BUF), READ_BUF);
        assert_eq!(read_end(100, 3 << 30), 100 + MAX_READ);
        assert_eq!(read_end(2 << 30, (2 << 30) + 10), (2 << 30) + 10);
        // The buffer's own slice, as the runtime gets it: never past the cap.
        let mut buf = Vec::with_capacity(3 << 30);
        buf.extend_from_slice(b"HTTP/1.1");
        let mut slice = spare(&mut buf);
        assert_eq!(slice.bytes_total(), MAX_READ);
    }
}

//! HTTP/1.1 response framing over the connection's buffer: no I/O, no clock, no allocation.
//!
//! The framer is fed the buffer after every read. A response's head stays at the front of
//! the buffer until the response is complete and its body (when kept for checking) follows
//! it, so the common case — one read holds one whole response — moves no bytes at all: the
//! caller checks the body in place and clears the buffer. Bodies that no check needs are
//! dropped as they arrive, so the buffer never grows for them.
//!
//! Every head is parsed by httparse, except one byte-identical to a final head parsed before
//! on this core (`recall`): parsing is a pure function of those bytes, so that verdict is
//! reused after one `memcmp`. Servers repeat their heads exactly (nginx's changes with its
//! `Date` once a second), and parsing a typical head is most of the client's own work per
//! request.

use std::mem::MaybeUninit;

use crate::http::chunked::Chunked;
use crate::http::recall::Recall;

/// Heads up to this size are remembered (larger ones are parsed every time).
pub const REMEMBER_HEAD: usize = 512;
/// Heads parsed on one core, with what the framer made of them.
pub type KnownHeads = Recall<Head, REMEMBER_HEAD>;
/// One core's remembered heads, shared by its connections' framers (same thread only).
pub type SharedHeads = std::rc::Rc<std::cell::RefCell<KnownHeads>>;

/// The largest response head accepted; httparse re-parses from the start on every read, so
/// an unbounded head would also be quadratic.
pub const MAX_HEAD: usize = 64 * 1024;
/// Headers beyond this count make the response malformed.
const MAX_HEADERS: usize = 64;

/// A complete response. Its body is `buf[body_start..body_end]` (empty when the body was not
/// kept); the caller removes the response with `remove_from` before the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub keep_alive: bool,
    /// The body was to be kept but ran over `max_body`: it was dropped, and the kept range
    /// is empty.
    pub oversized: bool,
    pub body_start: usize,
    pub body_end: usize,
}

impl Response {
    /// Where the kept body lies in the buffer.
    pub fn body(&self) -> std::ops::Range<usize> {
        self.body_start..self.body_end
    }

    /// Removes this response's bytes, keeping any that follow it (a pipelined or early next
    /// response). Usually nothing follows, and draining then moves no bytes.
    pub fn remove_from(&self, buf: &mut Vec<u8>) {
        buf.drain(..self.body_end);
    }
}

/// Whether these bytes begin a TLS record (a handshake or an alert, TLS 1.0 to 1.3): what an
/// https server answers to a plain-http request.
pub fn is_tls_record(bytes: &[u8]) -> bool {
    matches!(bytes, [0x15 | 0x16, 0x03, 0x00..=0x04, ..])
}

/// What is wrong with bytes that `FrameError::Malformed` refused, in a few words, for the
/// failure's reason: read again off the success path, since the framer keeps only the verdict.
pub fn explain_malformed(bytes: &[u8]) -> &'static str {
    if is_tls_record(bytes) {
        return "a TLS record: this port speaks https";
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    match httparse::Response::new(&mut headers).parse(bytes) {
        Err(httparse::Error::Status) => "an invalid status line",
        Err(httparse::Error::Version) => "not an HTTP/1.x status line",
        Err(httparse::Error::HeaderName) => "an invalid header name",
        Err(httparse::Error::HeaderValue) => "an invalid header value",
        Err(httparse::Error::TooManyHeaders) => "more than 64 headers",
        Err(_) => "an invalid response head",
        Ok(_) if parse_head(bytes, false).is_err() => {
            "an invalid Content-Length (or two that differ)"
        }
        Ok(_) => "an invalid chunked body",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Not HTTP: bad status line, bad header, bad chunk, conflicting lengths, too many headers.
    Malformed,
    /// The head did not end within `MAX_HEAD` bytes.
    HeadTooLarge,
    /// The peer closed before the response was complete.
    Eof,
}

#[derive(Debug, Clone)]
enum Body {
    Head,
    Length(u64),
    Chunked(Chunked),
    UntilClose,
}

/// Per-connection framing state for one response at a time.
#[derive(Debug)]
pub struct Framer {
    head_request: bool,
    /// HEAD and other requests share this connection's core (a `--targets` mix): the
    /// remembered heads are the others', and a HEAD response's is parsed apart.
    mixed_head: bool,
    keep_body: bool,
    max_body: usize,
    body: Body,
    /// Where the body starts in the buffer: the length of the head before it.
    start: usize,
    /// Body bytes kept so far after the head.
    kept: usize,
    /// This response's body ran over `max_body`: the rest of it is dropped as it arrives.
    oversized: bool,
    /// Some of a length-framed or close-delimited body has arrived (chunked bodies keep
    /// their own flag): `--first-byte` times the first of it.
    body_seen: bool,
    status: u16,
    keep_alive: bool,
    /// Heads parsed before, with their verdicts (shared by the core's framers).
    known: SharedHeads,
}

/// What the head says about the body and the connection.
#[derive(Debug, Clone)]
pub struct Head {
    len: usize,
    status: u16,
    keep_alive: bool,
    body: Body,
}

impl Framer {
    /// `head_request`: the request was HEAD, so no response has a body. `keep_body`: a check
    /// reads the body, so it is kept (up to `max_body` bytes) instead of dropped.
    pub fn new(head_request: bool, keep_body: bool, max_body: usize) -> Framer {
        Framer::sharing(head_request, keep_body, max_body, KnownHeads::shared())
    }

    /// A framer that reuses (and adds to) `known`, the heads other framers of the same core
    /// and the same `head_request` have parsed.
    pub fn sharing(
        head_request: bool,
        keep_body: bool,
        max_body: usize,
        known: SharedHeads,
    ) -> Framer {
        Framer {
            head_request,
            mixed_head: false,
            keep_body,
            max_body,
            body: Body::Head,
            start: 0,
            kept: 0,
            oversized: false,
            body_seen: false,
            status: 0,
            keep_alive: false,
            known,
        }
    }

    /// For a core whose requests are HEAD and others mixed (see `mixed_head`).
    pub fn mixing_head(mut self, mixed: bool) -> Framer {
        self.mixed_head = mixed;
        self
    }

    /// Prepares for the response to the next request on the same connection: a HEAD
    /// request's has no body; `keep_body` when a check reads it.
    pub fn prepare(&mut self, head_request: bool, keep_body: bool) {
        self.head_request = head_request;
        self.keep_body = keep_body;
        self.reset();
    }

    /// Prepares for the next response on the same connection.
    pub fn reset(&mut self) {
        self.body = Body::Head;
        self.start = 0;
        self.kept = 0;
        self.oversized = false;
        self.body_seen = false;
    }

    /// Whether a byte of the current response's body has arrived (not its head, nor a chunk's
    /// framing): for a streamed body, its first token.
    pub fn body_begun(&self) -> bool {
        match &self.body {
            Body::Head => false,
            Body::Chunked(chunked) => chunked.data_seen(),
            Body::Length(_) | Body::UntilClose => self.body_seen,
        }
    }

    /// Frames what is in `buf`. `Ok(None)` means more bytes are needed.
    pub fn advance(&mut self, buf: &mut Vec<u8>) -> Result<Option<Response>, FrameError> {
        while let Body::Head = self.body {
            let Some(head) = self.head(buf)? else {
                return Ok(None);
            };
            // 1xx responses are interim: the real one follows on the same connection.
            if is_interim(head.status) {
                buf.drain(..head.len);
                continue;
            }
            self.start = head.len;
            self.status = head.status;
            self.keep_alive = head.keep_alive;
            self.body = head.body;
        }
        let keep = self.keeps() && !self.oversized;
        let done = match &mut self.body {
            Body::Head => unreachable!("head parsed above"),
            Body::Length(left) => {
                let take = (*left).min((buf.len() - self.start - self.kept) as u64) as usize;
                *left -= take as u64;
                let done = *left == 0;
                self.consume(buf, take);
                done
            }
            Body::Chunked(chunked) => {
                let end = chunked
                    .decode(buf, self.start + self.kept, keep)
                    .map_err(|_| FrameError::Malformed)?;
                self.kept = end - self.start;
                chunked.is_done()
            }
            Body::UntilClose => {
                let take = buf.len() - self.start - self.kept;
                self.consume(buf, take);
                false
            }
        };
        if self.kept > self.max_body {
            // Too large to check: drop what was kept and the rest as it arrives, and frame
            // the response to its end, so the connection stays usable.
            buf.drain(self.start..self.start + self.kept);
            self.kept = 0;
            self.oversized = true;
        }
        Ok(done.then(|| self.response()))
    }

    /// The head at the front of `buf`: a remembered one when the bytes are the same, else
    /// parsed (and remembered when final).
    fn head(&mut self, buf: &[u8]) -> Result<Option<Head>, FrameError> {
        // The same head frames a HEAD request's response differently (no body): where the
        // remembered heads are other requests', a HEAD response's head is parsed apart.
        if self.head_request && self.mixed_head {
            return parse_head(buf, true);
        }
        if let Some(known) = self.known.borrow().find_prefix(buf) {
            return Ok(Some(known));
        }
        let head = parse_head(buf, self.head_request)?;
        if let Some(head) = &head
            && !is_interim(head.status)
        {
            self.known.borrow_mut().remember(&buf[..head.len], head);
        }
        Ok(head)
    }

    /// The peer closed the connection: completes a close-delimited body, fails anything else.
    pub fn finish_eof(&mut self) -> Result<Response, FrameError> {
        match self.body {
            Body::UntilClose => Ok(self.response()),
            _ => Err(FrameError::Eof),
        }
    }

    /// Keeps or drops the next `take` body bytes that follow the kept ones.
    fn consume(&mut self, buf: &mut Vec<u8>, take: usize) {
        self.body_seen |= take > 0;
        if self.keeps() && !self.oversized {
            self.kept += take;
        } else {
            let from = self.start + self.kept;
            buf.drain(from..from + take);
        }
    }

    /// Whether this response's body is kept: a check reads it, or its status is not a
    /// success's (its start is the failure's sample). A success's body is dropped as it
    /// comes unless a check reads it. (A method, not a field: the framer lives in the
    /// connection task's state, which every response touches.)
    fn keeps(&self) -> bool {
        self.keep_body || !(200..300).contains(&self.status)
    }

    fn response(&self) -> Response {
        Response {
            status: self.status,
            keep_alive: self.keep_alive,
            oversized: self.oversized,
            body_start: self.start,
            body_end: self.start + self.kept,
        }
    }
}

fn is_interim(status: u16) -> bool {
    (100..200).contains(&status) && status != 101
}

fn parse_head(buf: &[u8], head_request: bool) -> Result<Option<Head>, FrameError> {
    // Uninitialized slots: zeroing 64 headers on every parse would cost more than the parse.
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut []);
    let config = httparse::ParserConfig::default();
    let len = match config.parse_response_with_uninit_headers(&mut parsed, buf, &mut slots) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD => {
            return Err(FrameError::HeadTooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(FrameError::Malformed),
    };
    let status = parsed.code.unwrap_or(0);
    let http11 = parsed.version == Some(1);
    let mut length: Option<u64> = None;
    let (mut chunked, mut encoded, mut close, mut keep) = (false, false, false, false);
    for header in parsed.headers.iter() {
        let name = header.name.as_bytes();
        if lower_eq(name, b"content-length") {
            let value = parse_length(header.value)?;
            if length.is_some_and(|l| l != value) {
                return Err(FrameError::Malformed);
            }
            length = Some(value);
        } else if lower_eq(name, b"transfer-encoding") {
            // Only the last coding decides whether the body is chunked.
            encoded = true;
            chunked = last_token_is(header.value, b"chunked");
        } else if lower_eq(name, b"connection") {
            // Servers almost always send one of the two tokens alone: try that first.
            if lower_eq(header.value, b"keep-alive") {
                keep = true;
            } else if lower_eq(header.value, b"close") {
                close = true;
            } else {
                close |= has_token(header.value, b"close");
                keep |= has_token(header.value, b"keep-alive");
            }
        }
    }
    let no_body = head_request || (100..200).contains(&status) || status == 204 || status == 304;
    let body = if no_body {
        Body::Length(0)
    } else if chunked {
        Body::Chunked(Chunked::default())
    } else if encoded {
        // Transfer-Encoding without chunked last: the body runs until the server closes.
        Body::UntilClose
    } else if let Some(length) = length {
        Body::Length(length)
    } else {
        Body::UntilClose
    };
    let keep_alive =
        !matches!(body, Body::UntilClose) && status != 101 && if http11 { !close } else { keep };
    Ok(Some(Head {
        len,
        status,
        keep_alive,
        body,
    }))
}

/// Case-insensitive match against a lowercase word made of letters and `-`. Setting bit
/// 0x20 lowercases ASCII letters and maps no other byte httparse lets through in a header
/// name or value onto a letter or `-` (only CR would map to `-`), so this is exact and
/// cheaper than a general case fold; the length check rejects most candidates at once.
fn lower_eq(text: &[u8], lowercase: &[u8]) -> bool {
    if text.len() != lowercase.len() {
        return false;
    }
    // Eight bytes at a time: header names are short, but this runs for every header.
    let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
    let (mut a, mut b) = (text.chunks_exact(8), lowercase.chunks_exact(8));
    let words_equal = a
        .by_ref()
        .zip(b.by_ref())
        .all(|(x, y)| word(x) | 0x2020_2020_2020_2020 == word(y));
    words_equal
        && a.remainder()
            .iter()
            .zip(b.remainder())
            .all(|(x, y)| x | 0x20 == *y)
}

fn parse_length(value: &[u8]) -> Result<u64, FrameError> {
    let value = value.trim_ascii();
    if value.is_empty() || value.len() > 18 || !value.iter().all(u8::is_ascii_digit) {
        return Err(FrameError::Malformed);
    }
    Ok(value.iter().fold(0, |n, d| n * 10 + (d - b'0') as u64))
}

fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value.split(|&b| b == b',').map(|t| t.trim_ascii())
}

fn has_token(value: &[u8], token: &[u8]) -> bool {
    tokens(value).any(|t| lower_eq(t, token))
}

fn last_token_is(value: &[u8], token: &[u8]) -> bool {
    tokens(value).last().is_some_and(|t| lower_eq(t, token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_malformed_response_is_explained() {
        let cases = [
            (
                "\x16\x03\x01\x00\x02",
                "a TLS record: this port speaks https",
            ),
            ("HTTP/1.1 2x0 OK\r\n\r\n", "an invalid status line"),
            ("SSH-2.0-OpenSSH_9.2\r\n", "not an HTTP/1.x status line"),
            (
                "HTTP/1.1 200 OK\r\nbad name: x\r\n\r\n",
                "an invalid header name",
            ),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                "an invalid Content-Length (or two that differ)",
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                "an invalid chunked body",
            ),
        ];
        for (wire, want) in cases {
            assert_eq!(explain_malformed(wire.as_bytes()), want, "{wire:?}");
        }
    }

    struct Case {
        wire: &'static str,
        head_request: bool,
        /// Expected status, keep-alive, body (when kept) and bytes left after the response.
        want: Result<(u16, bool, &'static str, &'static str), FrameError>,
    }

    const fn case(
        wire: &'static str,
        want: Result<(u16, bool, &'static str, &'static str), FrameError>,
    ) -> Case {
        Case {
            wire,
            head_request: false,
            want,
        }
    }

    const CASES: &[Case] = &[
        case(
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
            Ok((200, true, "hello", "")),
        ),
        case(
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP",
            Ok((200, true, "ok", "HTTP")),
        ),
        case(
            "HTTP/1.1 200 OK\r\nCONTENT-LENGTH: 1\r\nConnection: Keep-Alive, Close\r\n\r\nx",
            Ok((200, false, "x", "")),
        ),
        // Not Content-Length: the body runs until the server closes.
        case(
            "HTTP/1.1 200 OK\r\nContent_Length: 1\r\n\r\nx",
            Ok((200, false, "x", "")),
        ),
        case(
            "HTTP/1.1 500 Oops\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            Ok((500, false, "", "")),
        ),
        case(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nT: 1\r\n\r\n",
            Ok((200, true, "abc", "")),
        ),
        case(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 99\r\n\r\n1\r\nz\r\n0\r\n\r\n",
            Ok((200, true, "z", "")),
        ),
        case(
            "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
            Ok((204, true, "", "")),
        ),
        case("HTTP/1.1 304 Not Modified\r\n\r\n", Ok((304, true, "", ""))),
        case(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
            Ok((200, true, "x", "")),
        ),
        case(
            "HTTP/1.1 103 Early Hints\r\nLink: <a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
            Ok((201, true, "", "")),
        ),
        case(
            "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi",
            Ok((200, false, "hi", "")),
        ),
        case(
            "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi",
            Ok((200, true, "hi", "")),
        ),
        case(
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
            Ok((200, true, "abc", "")),
        ),
        case(
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            Err(FrameError::Malformed),
        ),
        case(
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            Err(FrameError::Malformed),
        ),
        case(
            "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
            Err(FrameError::Malformed),
        ),
        case(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            Err(FrameError::Malformed),
        ),
        case("garbage\r\n\r\n", Err(FrameError::Malformed)),
        case("HTTP/1.1 abc OK\r\n\r\n", Err(FrameError::Malformed)),
        // Close-delimited bodies complete only at EOF.
        case(
            "HTTP/1.1 200 OK\r\n\r\nuntil close",
            Ok((200, false, "until close", "")),
        ),
        case(
            "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            Err(FrameError::Eof),
        ),
        Case {
            wire: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
            head_request: true,
            want: Ok((200, true, "", "")),
        },
    ];

    type Framed = Result<(u16, bool, Vec<u8>, Vec<u8>), FrameError>;

    /// Frames `wire` fed in two pieces cut at `cut`, then reports EOF if still incomplete.
    fn frame(case: &Case, cut: usize, keep: bool) -> Framed {
        let mut framer = Framer::new(case.head_request, keep, 1 << 20);
        frame_with(&mut framer, case.wire.as_bytes(), cut)
    }

    fn frame_with(framer: &mut Framer, wire: &[u8], cut: usize) -> Framed {
        framer.reset();
        let mut buf = wire[..cut].to_vec();
        let mut done = framer.advance(&mut buf)?;
        buf.extend_from_slice(&wire[cut..]);
        if done.is_none() {
            done = framer.advance(&mut buf)?;
        }
        let response = match done {
            Some(response) => response,
            None => framer.finish_eof()?,
        };
        let body = buf[response.body()].to_vec();
        response.remove_from(&mut buf);
        Ok((response.status, response.keep_alive, body, buf))
    }

    #[test]
    fn frames_every_case_at_every_split() {
        for case in CASES {
            for cut in 0..=case.wire.len() {
                for keep in [true, false] {
                    let got = frame(case, cut, keep);
                    let want = case.want.map(|(status, ka, body, rest)| {
                        let body = if keep {
                            body.as_bytes().to_vec()
                        } else {
                            vec![]
                        };
                        (status, ka, body, rest.as_bytes().to_vec())
                    });
                    assert_eq!(got, want, "{:?} cut {cut} keep {keep}", case.wire);
                    // Again with this very head remembered from a first, whole response.
                    let mut warm = Framer::new(case.head_request, keep, 1 << 20);
                    let _ = frame_with(&mut warm, case.wire.as_bytes(), case.wire.len());
                    let again = frame_with(&mut warm, case.wire.as_bytes(), cut);
                    assert_eq!(again, want, "{:?} cut {cut} keep {keep} warm", case.wire);
                }
            }
        }
    }

    #[test]
    fn remembered_head_is_reused_only_for_identical_bytes() {
        let mut framer = Framer::new(false, true, 1024);
        let base = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
        let variants: &[(&str, (u16, bool, &str))] = &[
            (base, (200, true, "abc")),
            (base, (200, true, "abc")),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd",
                (200, true, "abcd"),
            ),
            (base, (200, true, "abc")),
            (
                "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
                (200, false, "abc"),
            ),
            (
                "HTTP/1.1 201 OK\r\nContent-Length: 3\r\n\r\nxyz",
                (201, true, "xyz"),
            ),
            (
                "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 OK\r\nContent-Length: 3\r\n\r\nxyz",
                (201, true, "xyz"),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
                (200, true, "a"),
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n",
                (200, true, "ab"),
            ),
        ];
        for (wire, (status, keep_alive, body)) in variants {
            let want = Ok((*status, *keep_alive, body.as_bytes().to_vec(), vec![]));
            assert_eq!(
                frame_with(&mut framer, wire.as_bytes(), wire.len()),
                want,
                "{wire:?}"
            );
        }
        let bad = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nBad Header\r\n\r\nabc";
        assert_eq!(
            frame_with(&mut framer, bad.as_bytes(), bad.len()),
            Err(FrameError::Malformed)
        );
    }

    #[test]
    fn drip_one_byte_at_a_time() {
        let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwxyz\r\n0\r\n\r\n";
        let mut framer = Framer::new(false, true, 1024);
        let mut buf = Vec::new();
        let mut result = None;
        for &byte in wire {
            assert!(result.is_none(), "completed early");
            buf.push(byte);
            result = framer.advance(&mut buf).unwrap();
        }
        let response = result.expect("complete after last byte");
        assert_eq!(&buf[response.body()], b"wxyz");
    }

    /// `body_begun` turns true with the byte that brings the first byte of body data — not
    /// with the head, an interim response, or a chunk's size line — whether the body is kept
    /// or dropped. Fed one byte at a time; `|` marks the first body byte (`None`: no body).
    #[test]
    fn body_begins_at_its_first_data_byte() {
        let cases: &[(&str, bool)] = &[
            ("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n|abc", false),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\n|wxyz\r\n0\r\n\r\n",
                false,
            ),
            (
                "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n|ok",
                false,
            ),
            ("HTTP/1.1 200 OK\r\n\r\n|until close", false),
            ("HTTP/1.1 204 No Content\r\n\r\n", false),
            ("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", true),
        ];
        for &(marked, head_request) in cases {
            let want = marked.find('|');
            let wire = marked.replace('|', "");
            for keep in [true, false] {
                let mut framer = Framer::new(head_request, keep, 1024);
                let mut buf = Vec::new();
                let mut begun_at = None;
                for (i, &byte) in wire.as_bytes().iter().enumerate() {
                    buf.push(byte);
                    let done = framer.advance(&mut buf).unwrap();
                    if begun_at.is_none() && framer.body_begun() {
                        begun_at = Some(i);
                    }
                    if done.is_some() {
                        break;
                    }
                }
                assert_eq!(begun_at, want, "{marked:?} keep {keep}");
                framer.reset();
                assert!(!framer.body_begun(), "reset for the next response");
            }
        }
    }

    #[test]
    fn close_delimited_body_completes_at_eof() {
        let mut framer = Framer::new(false, true, 1024);
        let mut buf = b"HTTP/1.1 200 OK\r\n\r\nuntil close".to_vec();
        assert_eq!(framer.advance(&mut buf), Ok(None));
        let response = framer.finish_eof().unwrap();
        assert_eq!((response.status, response.keep_alive), (200, false));
        assert_eq!(&buf[response.body()], b"until close");
    }

    #[test]
    fn limits_the_head_and_drops_unchecked_bodies() {
        let mut framer = Framer::new(false, true, 1024);
        let mut head = b"HTTP/1.1 200 OK\r\n".to_vec();
        head.resize(MAX_HEAD, b'a');
        assert_eq!(framer.advance(&mut head), Err(FrameError::HeadTooLarge));

        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n";
        let mut big = head.to_vec();
        big.resize(big.len() + 2000, b'x');
        assert_eq!(Framer::new(false, false, 1024).advance(&mut big), Ok(None));
        assert_eq!(big, head, "unchecked body bytes are dropped as they arrive");
    }

    /// A kept body over the limit is dropped, and the response is still framed to its end
    /// and marked, so the next one on the connection frames as usual. Fed a few bytes at a
    /// time, so the limit is crossed in the middle of a read.
    #[test]
    fn an_oversized_body_is_dropped_and_framed_to_its_end() {
        let body = "x".repeat(3000);
        let chunked = format!(
            "7d0\r\n{}\r\n3e8\r\n{}\r\n0\r\n\r\n",
            &body[..2000],
            &body[..1000]
        );
        let next = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        for (head, body, keep_alive) in [
            (
                "HTTP/1.1 503 Busy\r\nContent-Length: 3000\r\n\r\n",
                &body,
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                &chunked,
                true,
            ),
            ("HTTP/1.1 200 OK\r\n\r\n", &body, false),
        ] {
            let wire = format!("{head}{body}{}", if keep_alive { next } else { "" });
            let mut framer = Framer::new(false, true, 1024);
            let mut buf = Vec::new();
            let mut responses = Vec::new();
            for piece in wire.as_bytes().chunks(700) {
                buf.extend_from_slice(piece);
                while let Some(response) = framer.advance(&mut buf).unwrap() {
                    responses.push((response, buf[response.body()].to_vec()));
                    response.remove_from(&mut buf);
                    framer.reset();
                }
                assert!(
                    buf.len() <= head.len() + 1024 + 700,
                    "{head}: dropped as it came"
                );
            }
            if !keep_alive {
                let response = framer.finish_eof().unwrap();
                responses.push((response, buf[response.body()].to_vec()));
            }
            let (first, first_body) = &responses[0];
            assert!(first.oversized, "{head}");
            assert_eq!(first.status, head[9..12].parse::<u16>().unwrap());
            assert_eq!(
                (first.keep_alive, first_body.len()),
                (keep_alive, 0),
                "{head}"
            );
            if keep_alive {
                let (second, second_body) = &responses[1];
                assert!(!second.oversized);
                assert_eq!((second.status, second_body.as_slice()), (200, &b"ok"[..]));
            }
            assert_eq!(responses.len(), 1 + usize::from(keep_alive), "{head}");
        }
        // At the limit exactly, the body is kept.
        let mut buf = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: 1024\r\n\r\n{}",
            &body[..1024]
        )
        .into_bytes();
        let response = Framer::new(false, true, 1024)
            .advance(&mut buf)
            .unwrap()
            .unwrap();
        assert!(!response.oversized);
        assert_eq!(response.body().len(), 1024);
    }

    #[test]
    fn too_many_headers_is_malformed() {
        let mut wire = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            wire.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
        }
        wire.extend_from_slice(b"\r\n");
        assert_eq!(
            Framer::new(false, false, 1024).advance(&mut wire),
            Err(FrameError::Malformed)
        );
    }

    #[test]
    fn reused_for_consecutive_responses() {
        let mut framer = Framer::new(false, true, 1024);
        let mut buf = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 404 NF\r\nContent-Length: 1\r\n\r\nb".to_vec();
        let first = framer.advance(&mut buf).unwrap().unwrap();
        assert_eq!((first.status, &buf[first.body()]), (200, &b"a"[..]));
        first.remove_from(&mut buf);
        framer.reset();
        let second = framer.advance(&mut buf).unwrap().unwrap();
        assert_eq!((second.status, &buf[second.body()]), (404, &b"b"[..]));
        second.remove_from(&mut buf);
        assert!(buf.is_empty());
    }
}

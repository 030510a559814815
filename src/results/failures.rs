//! Failures by reason: what a user needs in order to fix them (`status 500`, `body:
//! prediction is 2, expected 0|1`, `connect: Connection refused (os error 111)`), each with a
//! count and one sample of what the server sent.
//!
//! Kept on the failure path only, in bounded memory: a core names at most `KEEP` distinct
//! reasons (its `Registry`), each once, with its text and sample built when it is first seen;
//! a failure after that is a compare against a small key and a counter. Reasons past `KEEP`
//! count under their category's catch-all, so the reasons always add up to the failures.

use serde::{Deserialize, Serialize};

/// Why a request failed. Order is the report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The TCP connection could not be established (refused, unreachable, connect timeout).
    Connect,
    /// No complete response within `--timeout`.
    Timeout,
    /// The connection failed while reading: reset, or EOF before the response was complete.
    Read,
    /// The request could not be written.
    Write,
    /// The bytes received are not a valid HTTP/1.x response (or exceed the size limits).
    Malformed,
    /// The server sent bytes while no request was outstanding on the connection: after a
    /// complete response (trailing bytes, a second response) or before the request was
    /// sent. They are never taken for an answer: the request fails and the connection is
    /// closed and reopened.
    Unsolicited,
    /// A complete response whose status is not in `--expect-status`.
    Status,
    /// A complete response whose body fails `--expect-json`.
    Body,
    /// A complete response whose body is over `--max-body`, so `--expect-json` could not
    /// check it (it was read and dropped; the connection stays open).
    TooLarge,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 9] = [
        ErrorKind::Connect,
        ErrorKind::Timeout,
        ErrorKind::Read,
        ErrorKind::Write,
        ErrorKind::Malformed,
        ErrorKind::Unsolicited,
        ErrorKind::Status,
        ErrorKind::Body,
        ErrorKind::TooLarge,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Read => "read",
            ErrorKind::Write => "write",
            ErrorKind::Malformed => "malformed",
            ErrorKind::Unsolicited => "unsolicited",
            ErrorKind::Status => "status",
            ErrorKind::Body => "body",
            ErrorKind::TooLarge => "too_large",
        }
    }
}

/// Why a connect failed, as the report names it once (the first of a run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The system's error: refused, no target, reset, ...
    Os(i32),
    /// Not done within `--connect-timeout`.
    TimedOut,
    /// The TCP connection opened but the TLS handshake failed.
    Handshake,
}

impl Cause {
    /// The cause `describe` named (a report read back by `blast merge`).
    pub fn described(text: &str) -> Option<Cause> {
        [Cause::TimedOut, Cause::Handshake]
            .into_iter()
            .find(|c| c.describe() == text)
            .or_else(|| {
                let code = text.strip_suffix(')')?.rsplit_once("(os error ")?.1;
                code.parse().ok().map(Cause::Os)
            })
    }

    pub fn describe(self) -> String {
        match self {
            Cause::Os(code) => std::io::Error::from_raw_os_error(code).to_string(),
            Cause::TimedOut => "not connected within --connect-timeout".into(),
            Cause::Handshake => "the TLS handshake failed".into(),
        }
    }
}

/// Most distinct reasons one core names; the ones after count under their category's
/// catch-all (`Why::Other`). With those, an id fits a byte (the engine carries it as one).
pub const KEEP: usize = 128;
const _: () = assert!(KEEP + ErrorKind::ALL.len() < u8::MAX as usize);
/// Reasons a report lists for a set of requests (the run, each target), most frequent first.
pub const LISTED: usize = 20;
/// Bytes of a response's body (or of bytes that were no response) a sample keeps.
pub const SAMPLE_BYTES: usize = 256;

/// What tells one reason from another without its text: compared on every failure, so that
/// the text is built once, when the reason is first seen. (A body check's explanation is
/// text: `Body` reasons are told apart by it.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// A status `--expect-status` does not allow.
    Status(u16),
    /// The system's error on connect, read or write.
    Os(i32),
    /// A connect that did not finish within `--connect-timeout`.
    ConnectTimedOut,
    /// The TCP connection opened, the TLS handshake failed.
    Handshake,
    /// No free local port (`EADDRNOTAVAIL`).
    NoLocalPort,
    /// No complete response within `--timeout`.
    Timeout,
    /// The server closed the connection before the response was complete.
    Closed,
    /// Not an HTTP/1.x response: what was wrong with it.
    Malformed(&'static str),
    /// Bytes after a complete response.
    AfterResponse,
    /// Bytes on an idle connection, before the request was sent.
    BeforeRequest,
    /// The request was not written whole.
    ShortWrite,
    /// An error without a system code (TLS's, for one).
    Io(std::io::ErrorKind),
    /// A body to check was over `--max-body`.
    TooLarge,
    /// A body that failed `--expect-json` or `--expect-body`: the explanation says how.
    Body,
    /// A reason past the `KEEP` a core names.
    Other,
}

impl Why {
    /// The reason's text, with its category first (`status 500` is its own category's name).
    fn text(self, kind: ErrorKind, explanation: &str) -> String {
        let detail = match self {
            Why::Status(code) => return format!("status {code}"),
            Why::Os(code) => std::io::Error::from_raw_os_error(code).to_string(),
            Why::ConnectTimedOut => Cause::TimedOut.describe(),
            Why::Handshake => Cause::Handshake.describe(),
            Why::NoLocalPort => "no free local port (EADDRNOTAVAIL)".into(),
            Why::Timeout => "no complete response within --timeout".into(),
            Why::Closed => {
                "the server closed the connection before the response was complete".into()
            }
            Why::Malformed(what) => what.into(),
            Why::AfterResponse => "bytes after a complete response".into(),
            Why::BeforeRequest => "bytes on an idle connection, before the request".into(),
            Why::ShortWrite => "the request was not written whole".into(),
            Why::Io(kind) => kind.to_string(),
            Why::TooLarge => "the body to check was over --max-body".into(),
            Why::Body => explanation.into(),
            Why::Other => format!("other reasons (a core names at most {KEEP})"),
        };
        format!("{}: {detail}", kind.name())
    }
}

/// Failures of one reason: as a set of requests counts them, and as a report saves them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FailureReason {
    /// The failure category (`status`, `body`, `connect`, ...).
    pub category: String,
    /// The reason, its category first: `status 500`, `body: prediction is 2, expected 0|1`.
    pub reason: String,
    pub count: u64,
    /// The first such response's status line and the start of its body (or the bytes that
    /// were no response), escaped; empty where nothing came.
    pub sample: String,
}

/// One core's named reasons; a reason's index is its id, which a failure carries to the
/// books (`count`).
#[derive(Debug, Default)]
pub struct Registry {
    named: Vec<Named>,
}

#[derive(Debug)]
struct Named {
    kind: ErrorKind,
    why: Why,
    /// A body check's explanation (empty for the other reasons).
    explanation: String,
    reason: FailureReason,
}

impl Registry {
    /// The id of the reason `why` for a failure of `kind` (with `explanation` for a body
    /// check's), named with `sample()` when first seen.
    pub fn id(
        &mut self,
        kind: ErrorKind,
        why: Why,
        explanation: &str,
        sample: impl FnOnce() -> String,
    ) -> u8 {
        let same = |n: &Named| n.kind == kind && n.why == why && n.explanation == explanation;
        if let Some(at) = self.named.iter().position(same) {
            return at as u8;
        }
        if self.named.len() >= KEEP && why != Why::Other {
            return self.id(kind, Why::Other, "", String::new);
        }
        self.named.push(Named {
            kind,
            why,
            explanation: explanation.into(),
            reason: FailureReason {
                category: kind.name().into(),
                reason: why.text(kind, explanation),
                count: 0,
                sample: sample(),
            },
        });
        (self.named.len() - 1) as u8
    }

    /// The category of reason `id`.
    pub fn kind(&self, id: u8) -> ErrorKind {
        self.named[id as usize].kind
    }

    /// Counts one failure of reason `id` into `books` (a set of requests' reasons, by id).
    pub fn count(&self, id: u8, books: &mut Vec<FailureReason>) {
        let id = id as usize;
        if books.len() <= id {
            // Empty strings allocate nothing: a reason's text is copied into a set's books
            // when it first counts there.
            books.resize_with(id + 1, FailureReason::default);
        }
        let entry = &mut books[id];
        if entry.count == 0 {
            *entry = self.named[id].reason.clone();
        }
        entry.count += 1;
    }
}

/// Adds `from`'s reasons into `into`, by category and reason (the first sample stays).
pub fn merge(into: &mut Vec<FailureReason>, from: &[FailureReason]) {
    for reason in from.iter().filter(|r| r.count > 0) {
        let same = |r: &&mut FailureReason| {
            r.count > 0 && r.category == reason.category && r.reason == reason.reason
        };
        match into.iter_mut().find(same) {
            Some(kept) => kept.count += reason.count,
            None => into.push(reason.clone()),
        }
    }
}

/// The `LISTED` most frequent reasons, most first (ties in category order, then by text).
pub fn listed(books: &[FailureReason]) -> Vec<FailureReason> {
    let order = |category: &str| ErrorKind::ALL.iter().position(|k| k.name() == category);
    let mut all: Vec<FailureReason> = books.iter().filter(|r| r.count > 0).cloned().collect();
    all.sort_by(|a, b| {
        (b.count, order(&a.category), &a.reason).cmp(&(a.count, order(&b.category), &b.reason))
    });
    all.truncate(LISTED);
    all
}

/// What came, for a sample: `head`'s status line, then a newline and the first
/// `SAMPLE_BYTES` of `body`, each escaped (`\r`, `\n`, `\t`, `\\`, other control bytes as
/// `\xNN`; invalid UTF-8 as U+FFFD), with `…` where the body was cut.
pub fn sample(head: &[u8], body: &[u8]) -> String {
    let line_end = (head.iter().position(|&b| b == b'\r' || b == b'\n')).unwrap_or(head.len());
    let mut text = escape(&head[..line_end]);
    if !body.is_empty() {
        if !text.is_empty() {
            text.push('\n');
        }
        text += &escape(&body[..body.len().min(SAMPLE_BYTES)]);
        if body.len() > SAMPLE_BYTES {
            text.push('…');
        }
    }
    text
}

fn escape(bytes: &[u8]) -> String {
    let mut text = String::new();
    for c in String::from_utf8_lossy(bytes).chars() {
        match c {
            '\r' => text.push_str("\\r"),
            '\n' => text.push_str("\\n"),
            '\t' => text.push_str("\\t"),
            '\\' => text.push_str("\\\\"),
            c if c.is_control() => text += &format!("\\x{:02x}", c as u32),
            c => text.push(c),
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_is_named_once_and_counted_by_id() {
        let mut registry = Registry::default();
        let mut samples = 0;
        let mut sample = || {
            samples += 1;
            "HTTP/1.1 500 Internal Server Error".to_string()
        };
        let a = registry.id(ErrorKind::Status, Why::Status(500), "", &mut sample);
        let b = registry.id(ErrorKind::Status, Why::Status(500), "", &mut sample);
        let c = registry.id(ErrorKind::Status, Why::Status(503), "", &mut sample);
        let d = registry.id(ErrorKind::Body, Why::Body, "prediction is 2", &mut sample);
        let e = registry.id(ErrorKind::Body, Why::Body, "prediction is 3", &mut sample);
        assert_eq!((a, b, c, d, e), (0, 0, 1, 2, 3));
        assert_eq!(
            samples, 4,
            "a sample is taken when a reason is first seen only"
        );
        let mut books = Vec::new();
        for id in [a, b, d, a] {
            registry.count(id, &mut books);
        }
        let listed = listed(&books);
        let names: Vec<_> = listed.iter().map(|r| (&*r.reason, r.count)).collect();
        assert_eq!(
            names,
            [("status 500", 3), ("body: prediction is 2", 1)],
            "uncounted ids are left out"
        );
        assert_eq!(listed[0].sample, "HTTP/1.1 500 Internal Server Error");
    }

    #[test]
    fn past_keep_reasons_count_under_their_category() {
        let mut registry = Registry::default();
        for n in 0..KEEP {
            registry.id(ErrorKind::Body, Why::Body, &n.to_string(), String::new);
        }
        let past = registry.id(ErrorKind::Body, Why::Body, "one more", String::new);
        let again = registry.id(ErrorKind::Body, Why::Body, "and another", String::new);
        assert_eq!((past, again), (KEEP as u8, KEEP as u8));
        let mut books = Vec::new();
        registry.count(past, &mut books);
        assert_eq!(
            books[KEEP].reason,
            format!("body: other reasons (a core names at most {KEEP})")
        );
    }

    #[test]
    fn merging_adds_by_reason_and_listing_keeps_the_most_frequent() {
        let reason = |category: &str, text: &str, count| FailureReason {
            category: category.into(),
            reason: text.into(),
            count,
            sample: format!("{text} sample"),
        };
        let mut into = vec![reason("status", "status 500", 2), FailureReason::default()];
        merge(
            &mut into,
            &[
                reason("status", "status 500", 3),
                reason("read", "read: x", 9),
            ],
        );
        assert_eq!(listed(&into)[0].reason, "read: x");
        assert_eq!(listed(&into)[1].count, 5);
        let many: Vec<_> = (0..30)
            .map(|n| reason("body", &format!("body: {n:02}"), 1 + n % 3))
            .collect();
        let top = listed(&many);
        assert_eq!(top.len(), LISTED);
        assert!(top.windows(2).all(|w| w[0].count >= w[1].count));
        assert_eq!(top[0].reason, "body: 02", "ties go by text");
    }

    #[test]
    fn a_sample_is_the_status_line_and_the_start_of_the_body_escaped() {
        let head = b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 9\r\n\r\n";
        assert_eq!(
            sample(head, b"{\"a\":\n1}\x01"),
            "HTTP/1.1 500 Internal Server Error\n{\"a\":\\n1}\\x01"
        );
        let long = vec![b'x'; SAMPLE_BYTES + 1];
        let cut = sample(b"", &long);
        assert_eq!(cut.chars().count(), SAMPLE_BYTES + 1);
        assert!(cut.ends_with("x…"));
        assert_eq!(sample(b"", b""), "");
        assert_eq!(sample(b"\xffGET\\", b""), "\u{fffd}GET\\\\");
    }
}

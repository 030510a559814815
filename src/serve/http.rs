//! The server side of HTTP/1.1 for `blast serve`: request framing with httparse and the
//! response bytes, all built once.

use std::mem::MaybeUninit;
use std::time::Duration;

use super::faults::Fault;

/// Largest request head and body accepted.
pub const MAX_REQUEST_HEAD: usize = 16 * 1024;
pub const MAX_REQUEST_BODY: usize = 1 << 20;
const MAX_HEADERS: usize = 64;

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `/predict`, with the prediction derived from the request.
    Predict(u8),
    Health,
    /// `/generate`: an answer streamed token by token, as a generative model's.
    Generate(Stream),
    NotFound,
}

/// A streamed answer (`/generate?tokens=8&first_ms=50&delay_ms=10`, the FastAPI app's
/// parameters and defaults): server-sent events `data: {"token": i}`, the first after
/// `first`, then one every `delay`, then `data: [DONE]`. The head goes out at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stream {
    pub tokens: u32,
    pub first: Duration,
    pub delay: Duration,
}

/// Bounds on `/generate`'s parameters: a bigger value is a bad request.
const MAX_TOKENS: u32 = 100_000;
const MAX_WAIT_MS: f64 = 600_000.0;

/// A complete request at the front of the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub route: Route,
    pub keep_alive: bool,
    /// An HTTP/1.0 client that asked for keep-alive must be told it got it (ab relies on it).
    pub confirm_keep_alive: bool,
    /// HTTP/1.1: a streamed answer may be chunked (to HTTP/1.0 it ends with the connection).
    pub http11: bool,
    /// Bytes of the buffer this request used.
    pub len: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadRequest;

/// Frames the first request in `buf`: `Ok(None)` when more bytes are needed.
pub fn parse(buf: &[u8]) -> Result<Option<Request>, BadRequest> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut []);
    let head = match httparse::ParserConfig::default().parse_request_with_uninit_headers(
        &mut request,
        buf,
        &mut slots,
    ) {
        Ok(httparse::Status::Complete(head)) => head,
        Ok(httparse::Status::Partial) if buf.len() < MAX_REQUEST_HEAD => return Ok(None),
        _ => return Err(BadRequest),
    };
    let mut length = 0usize;
    let mut close = false;
    let mut keep = false;
    for header in request.headers.iter() {
        if header.name.eq_ignore_ascii_case("content-length") {
            length = std::str::from_utf8(header.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .filter(|l| *l <= MAX_REQUEST_BODY)
                .ok_or(BadRequest)?;
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked request bodies are not needed by any load test: refuse them plainly.
            return Err(BadRequest);
        } else if header.name.eq_ignore_ascii_case("connection") {
            close |= header.value.eq_ignore_ascii_case(b"close");
            keep |= header.value.eq_ignore_ascii_case(b"keep-alive");
        }
    }
    if buf.len() < head + length {
        return Ok(None);
    }
    let body = &buf[head..head + length];
    let path = request.path.unwrap_or("/");
    let route = match path.split('?').next() {
        Some("/predict") => Route::Predict(prediction(if body.is_empty() {
            path.as_bytes()
        } else {
            body
        })),
        Some("/health") => Route::Health,
        Some("/generate") => Route::Generate(stream_of(path)?),
        _ => Route::NotFound,
    };
    let http11 = request.version == Some(1);
    let keep_alive = if http11 { !close } else { keep };
    Ok(Some(Request {
        route,
        keep_alive,
        confirm_keep_alive: !http11 && keep,
        http11,
        len: head + length,
    }))
}

/// `/generate`'s parameters from the query; unknown ones are ignored.
fn stream_of(path: &str) -> Result<Stream, BadRequest> {
    let mut stream = Stream {
        tokens: 8,
        first: Duration::from_millis(50),
        delay: Duration::from_millis(10),
    };
    let query = path.split_once('?').map_or("", |(_, q)| q);
    let millis = |v: &str| {
        v.parse::<f64>()
            .ok()
            .filter(|ms| (0.0..=MAX_WAIT_MS).contains(ms))
            .map(|ms| Duration::from_secs_f64(ms / 1e3))
            .ok_or(BadRequest)
    };
    for (key, value) in query.split('&').filter_map(|kv| kv.split_once('=')) {
        match key {
            "tokens" => {
                stream.tokens = value
                    .parse()
                    .ok()
                    .filter(|n| *n <= MAX_TOKENS)
                    .ok_or(BadRequest)?
            }
            "first_ms" => stream.first = millis(value)?,
            "delay_ms" => stream.delay = millis(value)?,
            _ => {}
        }
    }
    Ok(stream)
}

/// A deterministic 0 or 1 from the request (FNV-1a of the body, or of the path).
pub fn prediction(input: &[u8]) -> u8 {
    let hash = input.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100_0000_01b3)
    });
    (hash & 1) as u8
}

/// How the response speaks of the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    /// HTTP/1.1 keep-alive: nothing to say.
    Implicit = 0,
    Close = 1,
    /// `Connection: keep-alive`, for HTTP/1.0 clients.
    KeepAlive = 2,
}

/// Every response the server can send, serialized once, in each `Connection` variant.
pub struct Responses {
    predict: [[Vec<u8>; 3]; 2],
    health: [Vec<u8>; 3],
    not_found: [Vec<u8>; 3],
    error: [Vec<u8>; 3],
    bad_prediction: [Vec<u8>; 3],
    invalid_json: [Vec<u8>; 3],
    bad_request: Vec<u8>,
    /// `/generate`'s head: chunked, in each `Connection` variant; and for HTTP/1.0, ended by
    /// the close.
    stream_head: [Vec<u8>; 3],
    stream_head_http10: Vec<u8>,
}

fn stream_head(extra: &str) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\nServer: blast\r\nContent-Type: text/event-stream\r\n{extra}\r\n")
        .into_bytes()
}

fn response(status: &str, content_type: &str, body: &str) -> [Vec<u8>; 3] {
    let make = |connection: &str| {
        format!(
            "HTTP/1.1 {status}\r\nServer: blast\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{connection}\r\n{body}",
            body.len()
        )
        .into_bytes()
    };
    [
        make(""),
        make("Connection: close\r\n"),
        make("Connection: keep-alive\r\n"),
    ]
}

impl Default for Responses {
    fn default() -> Self {
        let json = "application/json";
        Responses {
            predict: [
                response("200 OK", json, r#"{"prediction":0}"#),
                response("200 OK", json, r#"{"prediction":1}"#),
            ],
            health: response("200 OK", json, r#"{"status":"ok"}"#),
            not_found: response("404 Not Found", json, r#"{"detail":"Not Found"}"#),
            error: response(
                "500 Internal Server Error",
                json,
                r#"{"detail":"injected error"}"#,
            ),
            bad_prediction: response("200 OK", json, r#"{"prediction":2}"#),
            invalid_json: response("200 OK", json, r#"{"prediction":1"#),
            bad_request: response("400 Bad Request", json, r#"{"detail":"bad request"}"#)[1]
                .clone(),
            stream_head: [
                stream_head("Transfer-Encoding: chunked\r\n"),
                stream_head("Transfer-Encoding: chunked\r\nConnection: close\r\n"),
                stream_head("Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n"),
            ],
            stream_head_http10: stream_head("Connection: close\r\n"),
        }
    }
}

impl Responses {
    /// The bytes for `route` with `fault` applied; `close` selects `Connection: close`.
    pub fn pick(&self, route: Route, fault: Fault, connection: Connection) -> &[u8] {
        let variant = connection as usize;
        let set = match (fault, route) {
            (Fault::Error, _) => &self.error,
            (Fault::BadPrediction, Route::Predict(_)) => &self.bad_prediction,
            (Fault::InvalidJson, Route::Predict(_)) => &self.invalid_json,
            (_, Route::Predict(p)) => &self.predict[p as usize],
            (_, Route::Health) => &self.health,
            (_, Route::Generate(_) | Route::NotFound) => &self.not_found,
        };
        &set[variant]
    }

    pub fn bad_request(&self) -> &[u8] {
        &self.bad_request
    }

    /// The head of a streamed answer; `chunked` for HTTP/1.1 (otherwise the answer ends with
    /// the connection).
    pub fn stream_head(&self, chunked: bool, connection: Connection) -> &[u8] {
        if chunked {
            &self.stream_head[connection as usize]
        } else {
            &self.stream_head_http10
        }
    }
}

/// Appends token `index` of a streamed answer, as a chunk when `chunked`.
pub fn push_token(out: &mut Vec<u8>, index: u32, chunked: bool) {
    use std::io::Write;
    let event_len = "data: {\"token\": }\n\n".len() + decimal_len(index);
    if chunked {
        let _ = write!(out, "{event_len:x}\r\n");
    }
    let _ = write!(out, "data: {{\"token\": {index}}}\n\n");
    if chunked {
        out.extend_from_slice(b"\r\n");
    }
}

/// Appends the end of a streamed answer: `data: [DONE]`, and the last chunk when `chunked`.
pub fn push_done(out: &mut Vec<u8>, chunked: bool) {
    if chunked {
        out.extend_from_slice(b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n");
    } else {
        out.extend_from_slice(b"data: [DONE]\n\n");
    }
}

fn decimal_len(n: u32) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_requests() {
        let get = b"GET /predict HTTP/1.1\r\nHost: x\r\n\r\n";
        let r = parse(get).unwrap().unwrap();
        assert!(matches!(r.route, Route::Predict(_)) && r.keep_alive && r.len == get.len());
        let post =
            b"POST /predict?x=1 HTTP/1.1\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabcGET";
        let r = parse(post).unwrap().unwrap();
        assert_eq!((r.len, r.keep_alive), (post.len() - 3, false));
        assert_eq!(parse(&post[..post.len() - 5]), Ok(None), "body incomplete");
        assert_eq!(
            parse(b"GET /health HTTP/1.0\r\n\r\n")
                .unwrap()
                .unwrap()
                .route,
            Route::Health
        );
        assert!(
            !parse(b"GET /health HTTP/1.0\r\n\r\n")
                .unwrap()
                .unwrap()
                .keep_alive
        );
        assert_eq!(
            parse(b"GET /x HTTP/1.1\r\n\r\n").unwrap().unwrap().route,
            Route::NotFound
        );
        let generate = |target: &str| {
            parse(format!("POST {target} HTTP/1.1\r\n\r\n").as_bytes()).map(|r| r.unwrap().route)
        };
        let ms = Duration::from_millis;
        let stream = |tokens, first, delay| {
            Ok(Route::Generate(Stream {
                tokens,
                first,
                delay,
            }))
        };
        assert_eq!(generate("/generate"), stream(8, ms(50), ms(10)), "defaults");
        assert_eq!(
            generate("/generate?delay_ms=2.5&x=y&tokens=0&first_ms=0"),
            stream(0, ms(0), Duration::from_micros(2_500))
        );
        assert_eq!(generate("/generate?tokens=100001"), Err(BadRequest));
        assert_eq!(parse(b"BLAH\r\n\r\n"), Err(BadRequest));
        assert_eq!(
            parse(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(BadRequest)
        );
    }

    #[test]
    fn predictions_are_deterministic_and_both_occur() {
        let of = |body: &str| prediction(body.as_bytes());
        assert_eq!(of("abc"), of("abc"));
        let ones = (0..100)
            .filter(|i| of(&format!("{{\"x\":{i}}}")) == 1)
            .count();
        assert!((20..80).contains(&ones), "{ones}");
    }

    #[test]
    fn responses_are_valid_http() {
        let responses = Responses::default();
        let variants = [
            (Connection::Implicit, true),
            (Connection::Close, false),
            (Connection::KeepAlive, true),
        ];
        for (connection, keep_alive) in variants {
            let bytes = responses.pick(Route::Predict(1), Fault::None, connection);
            let mut framer = crate::http::response::Framer::new(false, true, 1024);
            let mut buf = bytes.to_vec();
            let r = framer.advance(&mut buf).unwrap().unwrap();
            assert_eq!(
                (r.status, r.keep_alive, &buf[r.body()]),
                (200, keep_alive, &br#"{"prediction":1}"#[..])
            );
        }
        let error = responses.pick(Route::Predict(0), Fault::Error, Connection::Implicit);
        assert!(error.starts_with(b"HTTP/1.1 500"));
        let health = responses.pick(Route::Health, Fault::BadPrediction, Connection::Implicit);
        assert!(
            health.ends_with(br#"{"status":"ok"}"#),
            "bad bodies only touch /predict"
        );
        let http10 = parse(b"GET /health HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(http10.keep_alive && http10.confirm_keep_alive);
    }
}

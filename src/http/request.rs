//! The exact bytes of the requests, built once before the run and shared read-only by every
//! connection on every core: one request, one per body of `--body-lines`, or one per line
//! of `--targets`.

use crate::run::url::Url;

/// What the user asked to send.
#[derive(Clone, Debug, Default)]
pub struct RequestSpec {
    pub method: String,
    /// Headers in the order given; a user `Host`, `User-Agent`, `Content-Length`,
    /// `Content-Type` or `Connection` replaces blast's own.
    pub headers: Vec<(String, String)>,
    /// The bodies, sent in turn, one per request: one (empty without a body), or one per
    /// line of `--body-lines`.
    pub bodies: Vec<Vec<u8>>,
    /// `--no-keepalive`: every request on a new connection, which the request says with
    /// `Connection: close` (as browsers, hey and oha do), so the server need not wait for a
    /// second request that never comes.
    pub no_keepalive: bool,
}

/// Methods whose requests carry a `Content-Length` even with an empty body, because servers
/// (and proxies) expect one for them.
const BODY_METHODS: &[&str] = &["POST", "PUT", "PATCH"];

/// Serializes the request with `body` to the URL's path. Validation of names and values
/// happened in `cli`.
pub fn build(url: &Url, spec: &RequestSpec, body: &[u8]) -> Vec<u8> {
    build_at(url, &url.path, spec, body)
}

/// Serializes the request with `body` to `path` (a `--targets` line's) on the URL's host.
pub fn build_at(url: &Url, path: &str, spec: &RequestSpec, body: &[u8]) -> Vec<u8> {
    let mut out = head(url, path, spec, body, true);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// The request line and headers of the request with `body` (each line ending in CRLF, without
/// the blank line after them). With `length`, the `Content-Length` the body needs among them;
/// without, none (a flow's templated request writes its own, once its body is built).
pub fn head(url: &Url, path: &str, spec: &RequestSpec, body: &[u8], length: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + body.len());
    push_line(&mut out, &format!("{} {path} HTTP/1.1", spec.method));
    let has = |name: &str| has_header(spec, name);
    if !has("host") {
        push_header(&mut out, "Host", &url.authority);
    }
    if !has("user-agent") {
        push_header(
            &mut out,
            "User-Agent",
            concat!("blast/", env!("CARGO_PKG_VERSION")),
        );
    }
    if !has("content-type") && looks_like_json(body) {
        push_header(&mut out, "Content-Type", "application/json");
    }
    if length && needs_length(spec, body.is_empty()) {
        push_header(&mut out, "Content-Length", &body.len().to_string());
    }
    if spec.no_keepalive && !has("connection") {
        push_header(&mut out, "Connection", "close");
    }
    for (name, value) in &spec.headers {
        push_header(&mut out, name, value);
    }
    out
}

/// Whether the request needs a `Content-Length` that blast writes: it has a body, or its
/// method expects one, and the user gave none.
pub fn needs_length(spec: &RequestSpec, empty_body: bool) -> bool {
    (!empty_body || BODY_METHODS.contains(&spec.method.as_str()))
        && !has_header(spec, "content-length")
}

fn has_header(spec: &RequestSpec, name: &str) -> bool {
    (spec.headers.iter()).any(|(n, _)| n.eq_ignore_ascii_case(name))
}

/// The bodies of a `--body-lines` file: one per line (a trailing CR is dropped), blank lines
/// skipped. Reports the file's name when it cannot be read or holds no body.
pub fn body_lines(path: &str) -> Result<Vec<Vec<u8>>, String> {
    let text =
        std::fs::read(path).map_err(|e| format!("cannot read --body-lines '{path}': {e}"))?;
    let bodies: Vec<Vec<u8>> = text
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.trim_ascii().is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    if bodies.is_empty() {
        return Err(format!(
            "--body-lines '{path}' holds no body (every line is blank)"
        ));
    }
    Ok(bodies)
}

/// A body that parses as a JSON object or array gets `Content-Type: application/json` unless
/// the user set one: FastAPI and most model servers reject JSON sent without it.
pub fn looks_like_json(body: &[u8]) -> bool {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    matches!(first, Some(b'{') | Some(b'['))
        && serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    push_line(out, &format!("{name}: {value}"));
}

fn push_line(out: &mut Vec<u8>, line: &str) {
    out.extend_from_slice(line.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Checks a method: an HTTP token (`GET`, `POST`, `PURGE`...).
pub fn parse_method(text: &str) -> Result<String, String> {
    if text.is_empty() || !text.bytes().all(is_token) {
        return Err(format!("invalid method '{text}'"));
    }
    Ok(text.to_string())
}

fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Checks a `-H` header: a token name, a value without control characters.
pub fn parse_header(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("invalid header '{text}' (use 'Name: value')"))?;
    let name = name.trim();
    let value = value.trim();
    if name.is_empty() || !name.bytes().all(is_token) {
        return Err(format!("invalid header name in '{text}'"));
    }
    if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
        return Err(format!("invalid header value in '{text}'"));
    }
    Ok((name.to_string(), value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Url {
        Url::parse("http://127.0.0.1:8000/predict?x=1").unwrap()
    }

    fn spec(method: &str, headers: &[(&str, &str)], body: &str) -> RequestSpec {
        RequestSpec {
            method: method.into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            bodies: vec![body.as_bytes().to_vec()],
            no_keepalive: false,
        }
    }

    fn closing(mut spec: RequestSpec) -> RequestSpec {
        spec.no_keepalive = true;
        spec
    }

    #[test]
    fn builds_exact_bytes() {
        let ua = concat!("User-Agent: blast/", env!("CARGO_PKG_VERSION"), "\r\n");
        let cases: Vec<(RequestSpec, String)> = vec![
            (
                spec("GET", &[], ""),
                format!("GET /predict?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n{ua}\r\n"),
            ),
            (
                spec("POST", &[], r#"{"a":1}"#),
                format!(
                    "POST /predict?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n{ua}\
                     Content-Type: application/json\r\nContent-Length: 7\r\n\r\n{{\"a\":1}}"
                ),
            ),
            (
                spec("POST", &[], ""),
                format!(
                    "POST /predict?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n{ua}\
                     Content-Length: 0\r\n\r\n"
                ),
            ),
            (
                spec(
                    "PUT",
                    &[("host", "h"), ("Content-Type", "text/plain")],
                    "{}",
                ),
                format!(
                    "PUT /predict?x=1 HTTP/1.1\r\n{ua}Content-Length: 2\r\n\
                     host: h\r\nContent-Type: text/plain\r\n\r\n{{}}"
                ),
            ),
            (
                spec("DELETE", &[("X-A", "1"), ("X-A", "2")], "not json"),
                format!(
                    "DELETE /predict?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n{ua}\
                     Content-Length: 8\r\nX-A: 1\r\nX-A: 2\r\n\r\nnot json"
                ),
            ),
            (
                closing(spec("GET", &[], "")),
                format!(
                    "GET /predict?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n{ua}\
                     Connection: close\r\n\r\n"
                ),
            ),
            (
                closing(spec("GET", &[("connection", "Close")], "")),
                format!(
                    "GET /predict?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n{ua}\
                     connection: Close\r\n\r\n"
                ),
            ),
        ];
        for (spec, want) in cases {
            let got = String::from_utf8(build(&target(), &spec, &spec.bodies[0])).unwrap();
            assert_eq!(got, want);
        }
    }

    /// Each body gets its own request, with its own length and content type.
    #[test]
    fn builds_one_request_per_body() {
        let mut spec = spec("POST", &[("X-A", "1")], "");
        spec.bodies = vec![br#"{"x":1}"#.to_vec(), b"plain".to_vec(), b"[]".to_vec()];
        let built: Vec<Vec<u8>> = spec
            .bodies
            .iter()
            .map(|body| build(&target(), &spec, body))
            .collect();
        assert_eq!(built.len(), 3);
        for (request, body) in built.iter().zip(&spec.bodies) {
            let text = String::from_utf8(request.to_vec()).unwrap();
            assert!(text.ends_with(&format!("X-A: 1\r\n\r\n{}", String::from_utf8_lossy(body))));
            assert!(
                text.contains(&format!("Content-Length: {}\r\n", body.len())),
                "{text}"
            );
            let json = body[0] != b'p';
            assert_eq!(text.contains("application/json"), json, "{text}");
        }
    }

    #[test]
    fn reads_body_lines() {
        let dir = std::env::temp_dir().join(format!("blast-lines-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bodies.jsonl");
        std::fs::write(&path, "{\"x\":1}\r\n\n  \n{\"x\": 2}\nlast").unwrap();
        let bodies = body_lines(path.to_str().unwrap()).unwrap();
        assert_eq!(bodies, [&br#"{"x":1}"#[..], br#"{"x": 2}"#, b"last"]);
        std::fs::write(&path, "\n \r\n").unwrap();
        let error = body_lines(path.to_str().unwrap()).unwrap_err();
        assert!(error.contains("holds no body"), "{error}");
        let error = body_lines(dir.join("missing").to_str().unwrap()).unwrap_err();
        assert!(error.starts_with("cannot read --body-lines"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn parses_headers() {
        assert_eq!(
            parse_header("Content-Type:  application/json ").unwrap(),
            ("Content-Type".into(), "application/json".into())
        );
        assert_eq!(
            parse_header("X-Empty:").unwrap(),
            ("X-Empty".into(), "".into())
        );
        for bad in ["NoColon", ": value", "Bad Name: x", "X: a\r\nInjected: 1"] {
            assert!(parse_header(bad).is_err(), "{bad:?}");
        }
    }
}

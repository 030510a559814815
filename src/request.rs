//! The exact bytes of the request, built once before the run and shared read-only by every
//! connection on every core.

use crate::target::Target;

/// What the user asked to send.
#[derive(Clone, Debug, Default)]
pub struct RequestSpec {
    pub method: String,
    /// Headers in the order given; a user `Host`, `User-Agent`, `Content-Length` or
    /// `Content-Type` replaces blast's own.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Methods whose requests carry a `Content-Length` even with an empty body, because servers
/// (and proxies) expect one for them.
const BODY_METHODS: &[&str] = &["POST", "PUT", "PATCH"];

/// Serializes the request. Validation of names and values happened in `cli`.
pub fn build(target: &Target, spec: &RequestSpec) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + spec.body.len());
    push_line(
        &mut out,
        &format!("{} {} HTTP/1.1", spec.method, target.path),
    );
    let has = |name: &str| {
        spec.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    };
    if !has("host") {
        push_header(&mut out, "Host", &target.authority);
    }
    if !has("user-agent") {
        push_header(
            &mut out,
            "User-Agent",
            concat!("blast/", env!("CARGO_PKG_VERSION")),
        );
    }
    if !has("content-type") && looks_like_json(&spec.body) {
        push_header(&mut out, "Content-Type", "application/json");
    }
    let needs_length = !spec.body.is_empty() || BODY_METHODS.contains(&spec.method.as_str());
    if needs_length && !has("content-length") {
        push_header(&mut out, "Content-Length", &spec.body.len().to_string());
    }
    for (name, value) in &spec.headers {
        push_header(&mut out, name, value);
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&spec.body);
    out
}

/// A body that parses as a JSON object or array gets `Content-Type: application/json` unless
/// the user set one: FastAPI and most model servers reject JSON sent without it.
fn looks_like_json(body: &[u8]) -> bool {
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

/// Checks a `-H` header: a token name, a value without control characters.
pub fn parse_header(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| format!("invalid header '{text}' (use 'Name: value')"))?;
    let name = name.trim();
    let value = value.trim();
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(token) {
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

    fn target() -> Target {
        Target::parse("http://127.0.0.1:8000/predict?x=1").unwrap()
    }

    fn spec(method: &str, headers: &[(&str, &str)], body: &str) -> RequestSpec {
        RequestSpec {
            method: method.into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
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
        ];
        for (spec, want) in cases {
            let got = String::from_utf8(build(&target(), &spec)).unwrap();
            assert_eq!(got, want);
        }
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

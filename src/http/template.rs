//! A flow step's request with `${name}` in its path, query, headers or body: compiled once,
//! before the run, into literal pieces and variables, and built per request into the user's
//! own buffer (no allocation once the buffer has grown to the request's size). Each variable
//! is escaped for where it stands: percent-encoded in the request line, as it is in a header
//! (a captured value with a line break never gets there: see `capture`), JSON-escaped inside
//! a string of a JSON body (a captured quote keeps the body valid JSON), as it is elsewhere.
//! The `Content-Length` is written after the body is built, since a value's length varies.

use std::ops::Range;

use crate::http::request::{self, RequestSpec};
use crate::run::url::Url;

/// How a variable's value is written where it stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// In the request line: every byte but `A-Z a-z 0-9 - . _ ~` percent-encoded.
    Path,
    /// In a header value, or outside a string of a JSON body: as it is.
    Raw,
    /// Inside a string of a JSON body: quotes, backslashes and control characters escaped.
    JsonString,
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(Range<usize>),
    Var { var: u8, escape: Escape },
}

/// A request with variables.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// The literal pieces' bytes.
    text: Vec<u8>,
    /// The request line and headers (each line with its CRLF), without a `Content-Length`.
    head: Vec<Piece>,
    body: Vec<Piece>,
    /// Whether blast writes the `Content-Length` (see `request::needs_length`).
    length: bool,
}

/// The variables of `text`, in order, each with its byte range (`${` to `}`). A `${` not
/// followed by a name (letters, digits, `_`) and `}` is an error.
pub fn variables(text: &[u8]) -> Result<Vec<(&str, Range<usize>)>, String> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = find(&text[from..], b"${").map(|i| i + from) {
        let name_start = at + 2;
        let len = (text[name_start..].iter())
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
            .count();
        let end = name_start + len;
        if len == 0 || text.get(end) != Some(&b'}') {
            let shown = String::from_utf8_lossy(&text[at..(at + 12).min(text.len())]);
            return Err(format!(
                "'{shown}': a '${{' must start a variable, ${{name}} (letters, digits and _)"
            ));
        }
        let name = std::str::from_utf8(&text[name_start..end]).expect("ASCII");
        found.push((name, at..end + 1));
        from = end + 1;
    }
    Ok(found)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl Template {
    /// The request (as `request::build_at` would serialize it) as a template, or `None` when
    /// nothing in it is variable. `var` gives a variable's index by name (the flow checked
    /// that every name is captured before it is used).
    pub fn compile(
        url: &Url,
        path: &str,
        spec: &RequestSpec,
        body: &[u8],
        var: &dyn Fn(&str) -> Option<u8>,
    ) -> Result<Option<Template>, String> {
        let body_vars = variables(body)?;
        // Whether the body is JSON (for its Content-Type, and its strings' escaping) is
        // decided with each variable standing as a number, which is valid JSON inside a
        // string and outside one.
        let mut probe = body.to_vec();
        for (_, range) in body_vars.iter().rev() {
            probe.splice(range.clone(), *b"0");
        }
        let head = request::head(url, path, spec, &probe, false);
        let json = request::looks_like_json(&probe)
            || (spec.headers.iter())
                .any(|(n, v)| n.eq_ignore_ascii_case("content-type") && v.contains("json"));
        let head_vars = variables(&head)?;
        if head_vars.is_empty() && body_vars.is_empty() {
            return Ok(None);
        }
        let line_end = find(&head, b"\r\n").unwrap_or(head.len());
        let mut template = Template {
            text: Vec::new(),
            head: Vec::new(),
            body: Vec::new(),
            length: request::needs_length(spec, body.is_empty()),
        };
        let head_escape = |at: usize| {
            if at < line_end {
                Escape::Path
            } else {
                Escape::Raw
            }
        };
        let pieces = template.pieces(&head, &head_vars, &head_escape, var)?;
        template.head = pieces;
        let strings = json.then(|| json_strings(body));
        let body_escape = |at: usize| match &strings {
            Some(inside) if inside[at] => Escape::JsonString,
            _ => Escape::Raw,
        };
        template.body = template.pieces(body, &body_vars, &body_escape, var)?;
        Ok(Some(template))
    }

    /// `bytes` as pieces: the text between the variables, and the variables.
    fn pieces(
        &mut self,
        bytes: &[u8],
        vars: &[(&str, Range<usize>)],
        escape: &dyn Fn(usize) -> Escape,
        var: &dyn Fn(&str) -> Option<u8>,
    ) -> Result<Vec<Piece>, String> {
        let mut pieces = Vec::new();
        let mut from = 0;
        for (name, range) in vars {
            self.push_text(&mut pieces, &bytes[from..range.start]);
            let index = var(name).ok_or_else(|| format!("${{{name}}} is never captured"))?;
            pieces.push(Piece::Var {
                var: index,
                escape: escape(range.start),
            });
            from = range.end;
        }
        self.push_text(&mut pieces, &bytes[from..]);
        Ok(pieces)
    }

    fn push_text(&mut self, pieces: &mut Vec<Piece>, bytes: &[u8]) {
        if !bytes.is_empty() {
            let start = self.text.len();
            self.text.extend_from_slice(bytes);
            pieces.push(Piece::Text(start..self.text.len()));
        }
    }

    /// Builds the request with the user's `vars` into `out` (cleared first); `body` is a
    /// buffer for the body, which is built first for its length.
    pub fn build(&self, vars: &[Vec<u8>], out: &mut Vec<u8>, body: &mut Vec<u8>) {
        out.clear();
        body.clear();
        self.write(&self.body, vars, body);
        self.write(&self.head, vars, out);
        if self.length {
            out.extend_from_slice(b"Content-Length: ");
            push_number(out, body.len());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
    }

    fn write(&self, pieces: &[Piece], vars: &[Vec<u8>], out: &mut Vec<u8>) {
        for piece in pieces {
            match piece {
                Piece::Text(range) => out.extend_from_slice(&self.text[range.clone()]),
                Piece::Var { var, escape } => escaped(&vars[*var as usize], *escape, out),
            }
        }
    }
}

/// Which bytes of a JSON text lie inside a string (between its quotes).
fn json_strings(text: &[u8]) -> Vec<bool> {
    let mut inside = vec![false; text.len() + 1];
    let (mut in_string, mut escaped) = (false, false);
    for (i, &b) in text.iter().enumerate() {
        inside[i] = in_string;
        if in_string && escaped {
            escaped = false;
        } else if in_string && b == b'\\' {
            escaped = true;
        } else if b == b'"' {
            in_string = !in_string;
        }
    }
    inside
}

/// Writes `value` as `escape` says.
fn escaped(value: &[u8], escape: Escape, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    match escape {
        Escape::Raw => out.extend_from_slice(value),
        Escape::Path => {
            for &b in value {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    out.push(b);
                } else {
                    out.extend_from_slice(&[b'%', HEX[(b >> 4) as usize], HEX[(b & 15) as usize]]);
                }
            }
        }
        Escape::JsonString => {
            for &b in value {
                match b {
                    b'"' => out.extend_from_slice(b"\\\""),
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    0..=0x1f => out.extend_from_slice(&[
                        b'\\',
                        b'u',
                        b'0',
                        b'0',
                        HEX[(b >> 4) as usize].to_ascii_lowercase(),
                        HEX[(b & 15) as usize].to_ascii_lowercase(),
                    ]),
                    _ => out.push(b),
                }
            }
        }
    }
}

/// Writes `n` in decimal, without formatting machinery.
fn push_number(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(path: &str, headers: &[(&str, &str)], body: &str) -> Template {
        let url = Url::parse("http://127.0.0.1:8000/").unwrap();
        let spec = RequestSpec {
            method: if body.is_empty() { "GET" } else { "POST" }.into(),
            headers: (headers.iter())
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            ..RequestSpec::default()
        };
        let names = ["job_id", "token", "n"];
        let var = |name: &str| names.iter().position(|n| *n == name).map(|i| i as u8);
        Template::compile(&url, path, &spec, body.as_bytes(), &var)
            .unwrap()
            .unwrap()
    }

    fn build(template: &Template, vars: &[&str]) -> String {
        let vars: Vec<Vec<u8>> = vars.iter().map(|v| v.as_bytes().to_vec()).collect();
        let (mut out, mut body) = (Vec::new(), Vec::new());
        template.build(&vars, &mut out, &mut body);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn substitutes_each_variable_escaped_for_where_it_stands() {
        let t = compile(
            "/jobs/${job_id}?n=${n}",
            &[("Authorization", "Bearer ${token}")],
            "",
        );
        let request = build(&t, &["7f/3a b", "abc", "1"]);
        assert!(
            request.starts_with("GET /jobs/7f%2F3a%20b?n=1 HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(request.contains("\r\nAuthorization: Bearer abc\r\n"));
        assert!(request.ends_with("\r\n\r\n"));
        assert!(!request.contains("Content-Length"));
    }

    #[test]
    fn a_json_body_stays_json_and_its_length_is_exact() {
        let t = compile(
            "/retrain",
            &[],
            r#"{"job": "${job_id}", "n": ${n}, "raw": "x${n}"}"#,
        );
        let request = build(&t, &["say \"hi\"\n\\", "-", "42"]);
        let (head, body) = request.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("Content-Type: application/json"), "{head}");
        assert!(
            head.contains(&format!("Content-Length: {}", body.len())),
            "{head}"
        );
        let value: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(value["job"], "say \"hi\"\n\\");
        assert_eq!(value["n"], 42);
        assert_eq!(value["raw"], "x42");
        // The same template, built again with other values, reuses the buffers.
        let again = build(&t, &["", "-", "1"]);
        assert!(
            again.ends_with(r#"{"job": "", "n": 1, "raw": "x1"}"#),
            "{again}"
        );
    }

    #[test]
    fn nothing_variable_is_no_template_and_bad_names_are_refused() {
        let url = Url::parse("http://127.0.0.1:8000/").unwrap();
        let spec = RequestSpec {
            method: "GET".into(),
            ..RequestSpec::default()
        };
        let none = |_: &str| None;
        assert_eq!(Template::compile(&url, "/a", &spec, b"", &none), Ok(None));
        let unknown = Template::compile(&url, "/${nope}", &spec, b"", &none).unwrap_err();
        assert!(unknown.contains("${nope} is never captured"), "{unknown}");
        for bad in ["${}", "${a b}", "x ${a", "${-}"] {
            assert!(variables(bad.as_bytes()).is_err(), "{bad}");
        }
        let found = variables(b"$x ${a}${b_2}").unwrap();
        let names: Vec<_> = found.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["a", "b_2"]);
        let mut out = Vec::new();
        push_number(&mut out, 0);
        push_number(&mut out, 1_234_567);
        assert_eq!(out, b"01234567");
    }
}

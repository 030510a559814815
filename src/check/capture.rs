//! A flow step's captures (`--flow`): values taken from a response into the user's variables,
//! for later steps' `${name}`. From the JSON body by a path (`job_id`, `job.id`,
//! `items.0.id`), or from a response header (`header:Location`). Taken without allocating once
//! the variable's buffer has grown to its value's size: the body is walked by `json_scan`
//! (validated whole, as a check would), a header found by a scan of the head's lines.

use crate::check::json_scan::{self, Value};

/// Where a captured value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// The JSON body, at this path (a member's name, or an array's index, per step).
    Json(Vec<Box<[u8]>>),
    /// A response header, by name (any case).
    Header(String),
}

/// One capture of a step: variable `var` (an index into the flow's variables) from `source`.
#[derive(Debug, Clone, PartialEq)]
pub struct Capture {
    pub var: u8,
    /// The variable's name, for the failure's reason.
    pub name: String,
    pub source: Source,
    /// The value goes into a header of a later step: a control character in it (a line
    /// break) would split the header, so such a value fails the capture instead.
    pub into_header: bool,
}

/// Why a capture found no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missed {
    /// The body is not JSON (it stops being JSON at this byte).
    NotJson(usize),
    /// The body is JSON, with nothing at the path.
    NoValue,
    NoHeader,
    /// The value holds a control character and would go into a header.
    Unsafe,
}

impl Capture {
    /// Parses a capture's source: `header:NAME`, or a path of names and indices joined by
    /// dots (`job.id`; a leading `$.`, as in JSONPath, is allowed).
    pub fn parse(var: u8, name: &str, text: &str) -> Result<Capture, String> {
        let source = match text.strip_prefix("header:") {
            Some(header) => {
                let header = header.trim();
                if header.is_empty() || header.bytes().any(|b| b <= b' ' || b == b':') {
                    return Err(format!("capture '{name}': invalid header name '{header}'"));
                }
                Source::Header(header.to_string())
            }
            None => {
                let path = text.strip_prefix("$.").unwrap_or(text);
                if path.is_empty() || path.split('.').any(str::is_empty) {
                    return Err(format!(
                        "capture '{name}': '{text}' is not a path (names and indices joined \
                         by dots, e.g. job.id or items.0.id; or header:NAME)"
                    ));
                }
                Source::Json(path.split('.').map(|s| s.as_bytes().into()).collect())
            }
        };
        Ok(Capture {
            var,
            name: name.to_string(),
            source,
            into_header: false,
        })
    }

    /// Whether it reads the response body.
    pub fn needs_body(&self) -> bool {
        matches!(self.source, Source::Json(_))
    }

    /// Takes the value from a response (`head`: its status line and headers) into `out`
    /// (cleared first). A string is taken decoded; any other value as its JSON text.
    pub fn take(&self, head: &[u8], body: &[u8], out: &mut Vec<u8>) -> Result<(), Missed> {
        out.clear();
        match &self.source {
            Source::Json(path) => {
                let steps = path.iter().map(|s| &s[..]);
                let found = json_scan::find(body, steps)
                    .map_err(|_| Missed::NotJson(json_scan::invalid_at(body).unwrap_or(0)))?
                    .ok_or(Missed::NoValue)?;
                match found.value {
                    Value::Str(s) => json_scan::decode_into(s.raw, out),
                    _ => out.extend_from_slice(found.raw),
                }
            }
            Source::Header(name) => {
                out.extend_from_slice(header(head, name).ok_or(Missed::NoHeader)?)
            }
        }
        if self.into_header && out.iter().any(|&b| b.is_ascii_control() && b != b'\t') {
            return Err(Missed::Unsafe);
        }
        Ok(())
    }

    /// Writes the failure's explanation (its reason, under `body:`) into `out`.
    pub fn explain(&self, missed: Missed, out: &mut String) {
        use std::fmt::Write;
        let name = &self.name;
        let _ = write!(out, "capture {name}: ");
        let _ = match (missed, &self.source) {
            (Missed::NotJson(at), _) => write!(out, "the body is not JSON (cut off at byte {at})"),
            (Missed::NoValue, Source::Json(path)) => {
                out.push_str("no ");
                for (i, step) in path.iter().enumerate() {
                    out.push_str(if i == 0 { "" } else { "." });
                    out.push_str(&String::from_utf8_lossy(step));
                }
                write!(out, " in the body")
            }
            (Missed::NoHeader, Source::Header(header)) => write!(out, "no {header} header"),
            (Missed::Unsafe, _) => {
                write!(out, "the value holds a line break, and goes into a header")
            }
            // A path misses a value, a header misses the header: never the other way.
            (Missed::NoValue | Missed::NoHeader, _) => write!(out, "not found"),
        };
    }
}

/// The value of header `name` in a response head (the first of that name), trimmed.
fn header<'a>(head: &'a [u8], name: &str) -> Option<&'a [u8]> {
    head.split(|&b| b == b'\n').skip(1).find_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let colon = line.iter().position(|&b| b == b':')?;
        let (key, value) = (&line[..colon], &line[colon + 1..]);
        key.eq_ignore_ascii_case(name.as_bytes())
            .then(|| value.trim_ascii())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(source: &str, head: &str, body: &str) -> Result<String, Missed> {
        let capture = Capture::parse(0, "v", source).unwrap();
        let mut out = b"old".to_vec();
        capture.take(head.as_bytes(), body.as_bytes(), &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn takes_values_by_path_and_header() {
        let head = "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nlocation:  /jobs/7 \r\n\r\n";
        let body =
            r#"{"job_id": "7f3a", "job": {"id": 12, "q": "a \"b\""}, "items": [{"id": true}]}"#;
        assert_eq!(take("job_id", head, body).unwrap(), "7f3a");
        assert_eq!(take("$.job.id", head, body).unwrap(), "12");
        assert_eq!(take("job.q", head, body).unwrap(), "a \"b\"");
        assert_eq!(take("items.0.id", head, body).unwrap(), "true");
        assert_eq!(
            take("job", head, body).unwrap(),
            r#"{"id": 12, "q": "a \"b\""}"#
        );
        assert_eq!(take("header:Location", head, body).unwrap(), "/jobs/7");
        assert_eq!(take("job.nope", head, body), Err(Missed::NoValue));
        assert_eq!(take("header:X-Nope", head, body), Err(Missed::NoHeader));
        assert_eq!(
            take("job_id", head, "{\"job_id\": 1,"),
            Err(Missed::NotJson(13))
        );
        assert_eq!(
            take("job_id", head, "Internal error"),
            Err(Missed::NotJson(0))
        );
    }

    #[test]
    fn a_value_for_a_header_holds_no_line_break() {
        let mut capture = Capture::parse(0, "token", "t").unwrap();
        capture.into_header = true;
        let mut out = Vec::new();
        let missed = capture.take(b"", br#"{"t": "a\r\nX-Evil: 1"}"#, &mut out);
        assert_eq!(missed, Err(Missed::Unsafe));
        let mut why = String::new();
        capture.explain(Missed::Unsafe, &mut why);
        assert!(why.contains("line break"), "{why}");
        assert!(capture.take(b"", br#"{"t": "abc"}"#, &mut out).is_ok());
    }

    #[test]
    fn refuses_bad_sources_and_explains_misses() {
        for bad in ["", ".", "a..b", "header:", "header:a b", "$."] {
            assert!(Capture::parse(0, "v", bad).is_err(), "{bad:?}");
        }
        let capture = Capture::parse(0, "job_id", "job.id").unwrap();
        let explained = |missed| {
            let mut why = String::new();
            capture.explain(missed, &mut why);
            why
        };
        assert_eq!(
            explained(Missed::NoValue),
            "capture job_id: no job.id in the body"
        );
        assert_eq!(
            explained(Missed::NotJson(3)),
            "capture job_id: the body is not JSON (cut off at byte 3)"
        );
        let header = Capture::parse(0, "loc", "header:Location").unwrap();
        let mut why = String::new();
        header.explain(Missed::NoHeader, &mut why);
        assert_eq!(why, "capture loc: no Location header");
    }
}

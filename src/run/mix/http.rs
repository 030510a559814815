//! vegeta's http targets format, so that a vegeta targets file runs in blast unchanged:
//!
//! ```text
//! # a comment
//! GET http://127.0.0.1:8000/health
//! POST http://127.0.0.1:8000/predict
//! Content-Type: application/json
//! X-Account-ID: 99
//! @bodies/predict.json
//! ```
//!
//! A request is a line `METHOD URL` (or `METHOD /path`), then its headers, one per line, and
//! optionally `@FILE`, whose contents are its body (a relative path is from the current
//! directory, as in vegeta). A blank line, or the next request line, ends a request. Lines
//! starting with `#` are comments; blast reads one kind of its own, which vegeta ignores:
//! `# name: NAME` reports the requests after it under NAME (until the next such line), so
//! that many URLs can be one target. Every request has weight 1; the command line's
//! headers and expectations apply as to JSON lines.

use std::collections::HashMap;

use super::{Defaults, MAX_LINES, MixLine, checked_path, same_origin, with_defaults};
use crate::http::request::{parse_header, parse_method};

/// A request being read: its request line, then headers until its end.
struct Draft {
    method: String,
    path: String,
    name: Option<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Where a line may go: after a request line or a header, more headers or a body; after a
/// body or a blank line, only the next request.
#[derive(PartialEq)]
enum Expecting {
    HeadersOrBody,
    Request,
}

pub fn parse(text: &str, defaults: &Defaults) -> Result<Vec<MixLine>, String> {
    let mut reader = Reader {
        defaults,
        lines: Vec::new(),
        draft: None,
        expecting: Expecting::Request,
        name: None,
        bodies: HashMap::new(),
    };
    for (number, line) in text.lines().enumerate() {
        reader
            .line(line.trim())
            .map_err(|e| format!("line {}: {e}", number + 1))?;
    }
    reader.finish();
    Ok(reader.lines)
}

struct Reader<'a> {
    defaults: &'a Defaults<'a>,
    lines: Vec<MixLine>,
    draft: Option<Draft>,
    expecting: Expecting,
    /// The last `# name:` line's name.
    name: Option<String>,
    /// Body files by path: a file that many requests name is read once.
    bodies: HashMap<String, Vec<u8>>,
}

impl Reader<'_> {
    fn line(&mut self, line: &str) -> Result<(), String> {
        if let Some(comment) = line.strip_prefix('#') {
            self.comment(comment);
            return Ok(());
        }
        if line.is_empty() {
            self.expecting = Expecting::Request;
            return Ok(());
        }
        if let Some((method, url)) = request_line(line) {
            return self.request(method, url);
        }
        let draft = match (&mut self.draft, &self.expecting) {
            (Some(draft), Expecting::HeadersOrBody) => draft,
            _ => {
                return Err(format!(
                    "expected a request line such as 'GET http://host/path', found '{line}'"
                ));
            }
        };
        if let Some(path) = line.strip_prefix('@') {
            if path.starts_with("<<") {
                return Err("inline bodies (@<<) are not supported: put the body in a file".into());
            }
            draft.body = read_body(&mut self.bodies, path)?;
            self.expecting = Expecting::Request;
        } else {
            draft.headers.push(parse_header(line)?);
        }
        Ok(())
    }

    /// `# name: NAME` names the requests that follow (an empty NAME returns to the default);
    /// any other comment is skipped.
    fn comment(&mut self, comment: &str) {
        let Some((key, value)) = comment.split_once(':') else {
            return;
        };
        if key.trim().eq_ignore_ascii_case("name") {
            let value = value.trim();
            self.name = (!value.is_empty()).then(|| value.to_string());
        }
    }

    fn request(&mut self, method: &str, url: &str) -> Result<(), String> {
        self.finish();
        if self.lines.len() == MAX_LINES {
            return Err(format!("more than {MAX_LINES} requests"));
        }
        let path = if url.starts_with('/') {
            checked_path(url)?
        } else {
            same_origin(url, self.defaults.url)?
        };
        self.draft = Some(Draft {
            method: parse_method(method)?,
            path,
            name: self.name.clone(),
            headers: Vec::new(),
            body: Vec::new(),
        });
        self.expecting = Expecting::HeadersOrBody;
        Ok(())
    }

    /// Completes the request being read, if any.
    fn finish(&mut self) {
        let Some(draft) = self.draft.take() else {
            return;
        };
        let name = draft
            .name
            .unwrap_or_else(|| format!("{} {}", draft.method, draft.path));
        self.lines.push(MixLine {
            name,
            method: draft.method,
            path: draft.path,
            headers: with_defaults(draft.headers, self.defaults.headers),
            body: draft.body,
            weight: 1,
            expect: self.defaults.expect.clone(),
        });
    }
}

/// `METHOD URL`: a method in capitals (so that a header such as `Accept: x` is not one), then
/// an absolute URL or a path.
pub(super) fn request_line(line: &str) -> Option<(&str, &str)> {
    let (method, url) = line.split_once(' ')?;
    let url = url.trim();
    let is_url = ["http://", "https://", "/"]
        .iter()
        .any(|p| url.starts_with(p));
    let capitals = !method.is_empty() && method.bytes().all(|b| b.is_ascii_uppercase());
    (capitals && is_url).then_some((method, url))
}

fn read_body(bodies: &mut HashMap<String, Vec<u8>>, path: &str) -> Result<Vec<u8>, String> {
    let path = path.trim();
    if let Some(body) = bodies.get(path) {
        return Ok(body.clone());
    }
    let body = std::fs::read(path).map_err(|e| format!("cannot read body '@{path}': {e}"))?;
    bodies.insert(path.to_string(), body.clone());
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::super::tests::defaults_parse;

    /// (name, method, path, headers, body) of each request.
    type Row = (String, String, String, Vec<(String, String)>, Vec<u8>);

    fn rows(text: &str) -> Vec<Row> {
        let lines = defaults_parse(text).unwrap();
        lines
            .into_iter()
            .map(|l| (l.name, l.method, l.path, l.headers, l.body))
            .collect()
    }

    fn header(name: &str, value: &str) -> (String, String) {
        (name.into(), value.into())
    }

    #[test]
    fn reads_vegeta_targets() {
        let body = std::env::temp_dir().join(format!("blast-http-body-{}", std::process::id()));
        std::fs::write(&body, br#"{"x": 1}"#).unwrap();
        let text = format!(
            "# vegeta's http format\n\
             GET http://127.0.0.1:8000/health\n\
             \n\
             POST http://127.0.0.1:8000/predict\n\
             Content-Type: application/json\n\
             X-Run: 9\n\
             @{}\n\
             GET /items/1?x=2\n\
             # name: items\n\
             GET http://127.0.0.1:8000/items/2\n\
             \n\
             GET http://127.0.0.1:8000/items/3\n\
             #name:\n\
             DELETE /items/4\n",
            body.display()
        );
        let run = || vec![header("X-Run", "7")];
        let row = |name: &str, method: &str, path: &str, headers, body: &[u8]| {
            (
                name.into(),
                method.into(),
                path.into(),
                headers,
                body.to_vec(),
            )
        };
        assert_eq!(
            rows(&text),
            vec![
                row("GET /health", "GET", "/health", run(), b""),
                row(
                    "POST /predict",
                    "POST",
                    "/predict",
                    vec![
                        header("Content-Type", "application/json"),
                        header("X-Run", "9")
                    ],
                    br#"{"x": 1}"#,
                ),
                row("GET /items/1?x=2", "GET", "/items/1?x=2", run(), b""),
                row("items", "GET", "/items/2", run(), b""),
                row("items", "GET", "/items/3", run(), b""),
                row("DELETE /items/4", "DELETE", "/items/4", run(), b""),
            ]
        );
        std::fs::remove_file(&body).unwrap();
        // A byte-order mark and CRLF line ends, as some editors write them.
        let crlf = defaults_parse("\u{feff}GET /a\r\nX-A: 1\r\n\r\nGET /b\r\n").unwrap();
        assert_eq!(crlf[0].headers.last(), Some(&header("X-A", "1")));
        assert_eq!(crlf[1].path, "/b");
        // The command line's expectations apply to every request.
        let lines = defaults_parse("GET /a").unwrap();
        assert_eq!(lines[0].expect.json.len(), 1);
        assert_eq!(lines[0].weight, 1);
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            (
                "GET /a\nX-A: 1\n\nX-B: 2\n",
                "line 4: expected a request line",
            ),
            ("GET /a\nget /b\n", "line 2: invalid header 'get /b'"),
            ("GET /a\n\nX-A: 1\n", "line 3: expected a request line"),
            (
                "GET /a\nbad header\n",
                "line 2: invalid header 'bad header'",
            ),
            (
                "GET /a\n@/no/such/file\n",
                "line 2: cannot read body '@/no/such/file'",
            ),
            ("GET /a\n@<<EOF\n{}\nEOF\n", "line 2: inline bodies (@<<)"),
            ("GET /a b\n", "line 1: path '/a b' must start with /"),
            (
                "# x\nGET http://127.0.0.1:9/a\n",
                "line 2: http://127.0.0.1:9/a is not on the run's URL's scheme, host and port",
            ),
            ("# only\n# comments\n", "holds no request"),
        ];
        for (text, want) in cases {
            let error = defaults_parse(text).unwrap_err();
            assert!(error.starts_with(want), "{text:?}: {error}");
        }
    }
}

//! `--targets`: a mix of requests read from a JSON Lines file, one request per line, each with
//! its own method, path, headers, body, weight and expectations, reported per target name.
//! Read and validated once, before the run, into plain lines the plan serializes.
//!
//! A line is a JSON object; every key is optional (`url`, an absolute URL on the run's
//! origin, may stand for `path`):
//! `{"name": "predict", "method": "POST", "path": "/predict", "headers": {"X-A": "1"},
//!   "body": {"x": [1, 2]}, "weight": 3, "expect_status": "200",
//!   "expect_json": "prediction=0|1", "expect_body": "ok"}`.
//! Blank lines and lines starting with `#` are skipped.
//!
//! A file whose first line (past blanks and comments) is a request line such as
//! `GET http://host/path` is read in vegeta's http format instead (`http`), so that vegeta's
//! targets files run unchanged.

mod http;

use std::collections::HashSet;
use std::io::IsTerminal;

use serde_json::{Map, Value};

use crate::check::{Expect, JsonExpectation, MAX_JSON_EXPECTATIONS, StatusSet};
use crate::http::request::{parse_header, parse_method};
use crate::run::url::Url;

/// Most distinct target names one mix may report (each has its own statistics on every core).
pub const MAX_NAMES: usize = 256;
/// Most lines, and the largest sum of weights (the rotation holds one slot per unit).
pub const MAX_LINES: usize = 100_000;
pub const MAX_WEIGHT_SUM: u64 = 1_000_000;

pub(crate) const KEYS: &[&str] = &[
    "name",
    "method",
    "path",
    "url",
    "headers",
    "body",
    "form",
    "weight",
    "expect_status",
    "expect_json",
    "expect_body",
];

/// One request of the mix, with everything the command line gave filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct MixLine {
    /// The target it is reported under: its `name`, or `METHOD path`.
    pub name: String,
    pub method: String,
    /// Path and query, from the line or the URL.
    pub path: String,
    /// `-H` headers, then the line's (a line's header replaces a `-H` one of the same name).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Share of the requests, relative to the other lines' weights.
    pub weight: u64,
    /// The command line's expectations, with the ones the line sets replaced.
    pub expect: Expect,
}

/// What every line starts from: the URL (its path), the `-H` headers, the expectations.
pub struct Defaults<'a> {
    pub url: &'a Url,
    pub headers: &'a [(String, String)],
    pub expect: &'a Expect,
}

/// The text of the `--targets` file at `path` (`-`: standard input, as vegeta reads targets).
pub fn read_text(path: &str) -> Result<String, String> {
    let text = if path == "-" {
        if std::io::stdin().is_terminal() {
            eprintln!("blast: reading --targets from the terminal; end them with Ctrl-D");
        }
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    };
    text.map_err(|e| format!("cannot read --targets '{path}': {e}"))
}

/// Parses the `text` of the `--targets` file at `path`. Errors name the file and the line.
pub fn load(path: &str, text: &str, defaults: &Defaults) -> Result<Vec<MixLine>, String> {
    parse(text, defaults).map_err(|e| format!("--targets '{path}' {e}"))
}

/// The first absolute URL a targets file names (a request line's, or a JSON line's `url`):
/// the run's URL when the command line gives none, as vegeta needs none besides its targets.
pub fn first_url(text: &str) -> Option<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    text.lines().map(str::trim).find_map(|line| {
        if let Some((_, url)) = http::request_line(line) {
            return url.starts_with("http").then(|| url.to_string());
        }
        let value: Value = serde_json::from_str(line).ok()?;
        value.get("url")?.as_str().map(str::to_string)
    })
}

/// Parses the text of a targets file (see the module's documentation).
pub fn parse(text: &str, defaults: &Defaults) -> Result<Vec<MixLine>, String> {
    // Some editors start a UTF-8 file with a byte-order mark; it is not part of the first line.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let first = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#'));
    let lines = match first {
        Some(line) if http::request_line(line).is_some() => http::parse(text, defaults)?,
        _ => parse_json_lines(text, defaults)?,
    };
    check_mix(&lines)?;
    Ok(lines)
}

fn parse_json_lines(text: &str, defaults: &Defaults) -> Result<Vec<MixLine>, String> {
    let mut lines = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if lines.len() == MAX_LINES {
            return Err(format!("holds more than {MAX_LINES} requests"));
        }
        let parsed = parse_line(line, defaults).map_err(|e| format!("line {}: {e}", number + 1))?;
        lines.push(parsed);
    }
    Ok(lines)
}

fn check_mix(lines: &[MixLine]) -> Result<(), String> {
    if lines.is_empty() {
        return Err("holds no request (every line is blank or a comment)".into());
    }
    let weights: u64 = lines.iter().map(|l| l.weight).sum();
    if weights > MAX_WEIGHT_SUM {
        return Err(format!(
            "has weights summing to {weights}, over {MAX_WEIGHT_SUM}"
        ));
    }
    if names(lines).len() > MAX_NAMES {
        return Err(format!(
            "has more than {MAX_NAMES} target names: requests that share a name are reported together (a 'name' key, or a '# name:' comment in the http format)"
        ));
    }
    Ok(())
}

/// The distinct names of `lines`, in order of first appearance: the report's targets.
pub fn names(lines: &[MixLine]) -> Vec<&str> {
    let mut seen = HashSet::new();
    lines
        .iter()
        .map(|line| line.name.as_str())
        .filter(|name| seen.insert(*name))
        .collect()
}

fn parse_line(line: &str, defaults: &Defaults) -> Result<MixLine, String> {
    let fields = object(line, KEYS)?;
    line_of(&fields, defaults)
}

/// A line of JSON Lines as an object whose keys are all among `keys`.
pub(crate) fn object(line: &str, keys: &[&str]) -> Result<Map<String, Value>, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON ({e})"))?;
    let Value::Object(fields) = value else {
        return Err("not a JSON object".into());
    };
    if let Some(key) = fields.keys().find(|k| !keys.contains(&k.as_str())) {
        return Err(format!("unknown key '{key}' (known: {})", keys.join(", ")));
    }
    Ok(fields)
}

/// The request a line's `fields` describe (a mix's line, or a flow's step).
pub(crate) fn line_of(fields: &Map<String, Value>, defaults: &Defaults) -> Result<MixLine, String> {
    let (body, content_type) = match (fields.get("body"), fields.get("form")) {
        (Some(_), Some(_)) => return Err("give 'body' or 'form', not both".into()),
        (_, Some(parts)) => form(parts)?,
        (body_value, None) => (body(body_value)?, None),
    };
    let method = match text(fields, "method")? {
        Some(m) => parse_method(m)?,
        None if body.is_empty() => "GET".into(),
        None => "POST".into(),
    };
    let path = match (text(fields, "path")?, text(fields, "url")?) {
        (Some(_), Some(_)) => return Err("give 'path' or 'url', not both".into()),
        (Some(path), None) => checked_path(path)?,
        (None, Some(url)) => same_origin(url, defaults.url)?,
        (None, None) => defaults.url.path.clone(),
    };
    let name = match text(fields, "name")? {
        Some("") => return Err("an empty name".into()),
        Some(name) => name.to_string(),
        None => format!("{method} {path}"),
    };
    let mut headers = headers(fields.get("headers"), defaults.headers)?;
    if let Some(content_type) = content_type {
        crate::http::form::set_content_type(&mut headers, content_type);
    }
    Ok(MixLine {
        name,
        method,
        path,
        headers,
        body,
        weight: weight(fields.get("weight"))?,
        expect: expect(fields, defaults.expect)?,
    })
}

/// A path as given: it must start with `/` and hold no spaces or control characters.
fn checked_path(path: &str) -> Result<String, String> {
    if !path.starts_with('/') || path.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(format!(
            "path '{path}' must start with / and hold no spaces or control characters"
        ));
    }
    Ok(path.to_string())
}

/// The path of `url`, which must be on the run's scheme, host and port: every request of the
/// mix goes over the same connections.
fn same_origin(url: &str, run_url: &Url) -> Result<String, String> {
    let parsed = Url::parse(url)?;
    let origin = |t: &Url| (t.tls, t.host.to_ascii_lowercase(), t.port);
    if origin(&parsed) != origin(run_url) {
        return Err(format!(
            "{url} is not on the run's URL's scheme, host and port ({}): a mix goes \
             to one server",
            run_url.url()
        ));
    }
    Ok(parsed.path)
}

pub(crate) fn text<'a>(
    fields: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a str>, String> {
    match fields.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("'{key}' must be a string")),
    }
}

/// A string body is sent as written; any other JSON value is sent serialized.
fn body(value: Option<&Value>) -> Result<Vec<u8>, String> {
    Ok(match value {
        None => Vec::new(),
        Some(Value::String(s)) => s.as_bytes().to_vec(),
        Some(other) => serde_json::to_vec(other).map_err(|e| format!("'body': {e}"))?,
    })
}

/// `form`: a list of parts in `--form`'s syntax, encoded as a multipart body (with its
/// `Content-Type`).
fn form(value: &Value) -> Result<(Vec<u8>, Option<String>), String> {
    let parts = value.as_array().filter(|p| !p.is_empty());
    let parts = parts.ok_or("'form' must be a list of parts, e.g. [\"file=@cat.png\"]")?;
    let parts: Vec<_> = (parts.iter())
        .map(|p| {
            p.as_str()
                .ok_or("'form' parts must be strings")
                .map_err(String::from)
        })
        .map(|p| p.and_then(crate::http::form::parse))
        .collect::<Result<_, _>>()?;
    let (content_type, body) = crate::http::form::encode(&parts);
    Ok((body, Some(content_type)))
}

fn weight(value: Option<&Value>) -> Result<u64, String> {
    match value {
        None => Ok(1),
        Some(v) => v
            .as_u64()
            .filter(|w| (1..=MAX_WEIGHT_SUM).contains(w))
            .ok_or_else(|| format!("'weight' must be a whole number from 1 to {MAX_WEIGHT_SUM}")),
    }
}

/// The `-H` headers, with the line's added (replacing any of the same name).
fn headers(
    value: Option<&Value>,
    defaults: &[(String, String)],
) -> Result<Vec<(String, String)>, String> {
    let own = match value {
        None => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return Err("'headers' must be an object of strings".into()),
    };
    let own: Vec<(String, String)> = own
        .iter()
        .map(|(name, value)| match value {
            Value::String(v) => parse_header(&format!("{name}: {v}")),
            _ => Err(format!("header '{name}' must be a string")),
        })
        .collect::<Result<_, _>>()?;
    Ok(with_defaults(own, defaults))
}

/// The `-H` headers that `own` does not replace, then `own`.
fn with_defaults(
    own: Vec<(String, String)>,
    defaults: &[(String, String)],
) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = defaults
        .iter()
        .filter(|(name, _)| !own.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)))
        .cloned()
        .collect();
    all.extend(own);
    all
}

/// The command line's expectations, each replaced where the line sets its own.
fn expect(fields: &Map<String, Value>, defaults: &Expect) -> Result<Expect, String> {
    let mut expect = defaults.clone();
    if let Some(status) = text(fields, "expect_status")? {
        expect.status = StatusSet::parse(status).map_err(|e| format!("'expect_status': {e}"))?;
    }
    if let Some(json) = texts(fields, "expect_json")? {
        if json.len() > MAX_JSON_EXPECTATIONS {
            return Err(format!(
                "at most {MAX_JSON_EXPECTATIONS} 'expect_json' expectations are supported"
            ));
        }
        expect.json = json
            .iter()
            .map(|j| JsonExpectation::parse(j))
            .collect::<Result<_, _>>()?;
    }
    if let Some(body) = texts(fields, "expect_body")? {
        if body.iter().any(|t| t.is_empty()) {
            return Err("'expect_body' needs a text to look for".into());
        }
        expect.body = body.iter().map(|t| t.as_bytes().to_vec()).collect();
    }
    Ok(expect)
}

/// A string, or an array of strings (`[]` clears the command line's).
pub(crate) fn texts<'a>(
    fields: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<Vec<&'a str>>, String> {
    let bad = || format!("'{key}' must be a string or an array of strings");
    match fields.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![s])),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().ok_or_else(bad))
            .collect::<Result<_, _>>()
            .map(Some),
        Some(_) => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn defaults_parse(text: &str) -> Result<Vec<MixLine>, String> {
        let headers = vec![("X-Run".to_string(), "7".to_string())];
        let url = Url::parse("http://127.0.0.1:8000/predict").unwrap();
        let expect = Expect {
            json: vec![JsonExpectation::parse("prediction=0|1").unwrap()],
            ..Expect::default()
        };
        parse(
            text,
            &Defaults {
                url: &url,
                headers: &headers,
                expect: &expect,
            },
        )
    }

    #[test]
    fn the_first_absolute_url_may_stand_for_the_runs() {
        let cases: &[(&str, Option<&str>)] = &[
            ("GET /a\nGET http://h:1/b\n", Some("http://h:1/b")),
            (
                "# GET http://h:1/c\nPOST https://h/d\n",
                Some("https://h/d"),
            ),
            (
                "{\"path\": \"/a\"}\n{\"url\": \"http://h/e\"}\n",
                Some("http://h/e"),
            ),
            ("{\"path\": \"/a\"}\nGET /b\n", None),
            ("", None),
            ("\u{feff}GET http://h/f\r\n", Some("http://h/f")),
        ];
        for (text, want) in cases {
            assert_eq!(first_url(text).as_deref(), *want, "{text:?}");
        }
    }

    #[test]
    fn reads_lines_with_defaults_and_overrides() {
        let lines = defaults_parse(
            "# a comment\n\
             {\"body\": {\"x\": [1, 2]}, \"weight\": 3}\n\
             \n\
             {\"name\": \"health\", \"path\": \"/health\", \"expect_json\": [], \
              \"expect_body\": \"ok\", \"expect_status\": \"200\", \"headers\": {\"x-run\": \"8\"}}\n\
             {\"method\": \"PUT\", \"body\": \"raw text\"}\n",
        )
        .unwrap();
        assert_eq!(lines.len(), 3);
        let (predict, health, put) = (&lines[0], &lines[1], &lines[2]);
        assert_eq!(predict.name, "POST /predict");
        assert_eq!((predict.method.as_str(), predict.weight), ("POST", 3));
        assert_eq!(predict.body, br#"{"x":[1,2]}"#);
        assert_eq!(predict.headers, [("X-Run".to_string(), "7".to_string())]);
        assert_eq!(predict.expect.json.len(), 1);
        assert_eq!(health.name, "health");
        assert_eq!(
            (health.method.as_str(), health.path.as_str()),
            ("GET", "/health")
        );
        assert!(health.expect.json.is_empty());
        assert_eq!(health.expect.body, [b"ok".to_vec()]);
        assert!(!health.expect.status.contains(204));
        assert_eq!(health.headers, [("x-run".to_string(), "8".to_string())]);
        assert_eq!(
            (put.name.as_str(), put.body.as_slice()),
            ("PUT /predict", &b"raw text"[..])
        );
        assert_eq!(names(&lines), ["POST /predict", "health", "PUT /predict"]);
    }

    #[test]
    fn refuses_bad_lines_by_number() {
        let cases = [
            ("{}\nnot json", "line 2: not JSON"),
            ("[1]", "line 1: not a JSON object"),
            ("{\"paht\": \"/x\"}", "line 1: unknown key 'paht'"),
            ("{\"method\": \"GE T\"}", "line 1: invalid method"),
            ("{\"method\": 1}", "line 1: 'method' must be a string"),
            ("{\"path\": \"x\"}", "line 1: path 'x' must start with /"),
            (
                "{\"path\": \"/a b\"}",
                "line 1: path '/a b' must start with /",
            ),
            ("{\"name\": \"\"}", "line 1: an empty name"),
            ("{\"weight\": 0}", "line 1: 'weight' must be a whole number"),
            (
                "{\"weight\": 1.5}",
                "line 1: 'weight' must be a whole number",
            ),
            (
                "{\"headers\": {\"X\": 1}}",
                "line 1: header 'X' must be a string",
            ),
            (
                "{\"headers\": {\"Bad Name\": \"1\"}}",
                "line 1: invalid header name",
            ),
            ("{\"headers\": []}", "line 1: 'headers' must be an object"),
            (
                "{\"expect_status\": \"2xy\"}",
                "line 1: 'expect_status': invalid status",
            ),
            (
                "{\"expect_json\": 5}",
                "line 1: 'expect_json' must be a string or an array",
            ),
            (
                "{\"expect_json\": \"=1\"}",
                "line 1: invalid JSON expectation",
            ),
            (
                "{\"expect_body\": \"\"}",
                "line 1: 'expect_body' needs a text",
            ),
            ("\n# only a comment\n", "holds no request"),
            (
                "{\"weight\": 600000}\n{\"weight\": 400001}",
                "has weights summing to 1000001",
            ),
        ];
        for (text, want) in cases {
            let error = defaults_parse(text).unwrap_err();
            assert!(error.starts_with(want), "{text:?}: {error}");
        }
        let many: String = (0..=MAX_NAMES)
            .map(|i| format!("{{\"name\": \"n{i}\"}}\n"))
            .collect();
        assert!(defaults_parse(&many).unwrap_err().contains("target names"));
    }

    #[test]
    fn a_url_on_the_runs_origin_gives_the_path() {
        let lines = defaults_parse(
            "{\"url\": \"http://127.0.0.1:8000/items/7?full=1\"}\n\
             {\"url\": \"http://127.0.0.1:8000\"}",
        )
        .unwrap();
        assert_eq!(lines[0].path, "/items/7?full=1");
        assert_eq!(lines[0].name, "GET /items/7?full=1");
        assert_eq!(lines[1].path, "/");
    }

    #[test]
    fn lines_sharing_a_name_are_one_target() {
        let lines = defaults_parse(
            "{\"name\": \"item\", \"path\": \"/items/1\"}\n\
             {\"name\": \"item\", \"path\": \"/items/2\"}\n\
             {\"path\": \"/health\"}",
        )
        .unwrap();
        assert_eq!(names(&lines), ["item", "GET /health"]);
    }
}

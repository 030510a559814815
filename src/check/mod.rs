//! Response expectations: which statuses count as success and what the JSON body must hold.
//! Parsed once from the command line; checked per response without allocating.

pub mod capture;
pub mod json_scan;

use crate::http::recall::Recall;
use json_scan::Value;

/// Bodies up to this size are remembered (larger ones are checked every time).
pub const REMEMBER_BODY: usize = 256;
/// Bodies checked on one core, with the `--expect-json` verdict on each.
pub type KnownBodies = Recall<Result<(), CheckFailure>, REMEMBER_BODY>;

/// Most `--expect-json` flags one run may carry (their results are bits of a `u8`).
pub const MAX_JSON_EXPECTATIONS: usize = 8;

/// Why a response is not a success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckFailure {
    Status,
    Body,
    /// The body an `--expect-json` would read was over `--max-body`.
    TooLarge,
}

/// A set of status codes, 100..=599, as a bitmap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusSet([u64; 10]);

impl StatusSet {
    /// Parses `200`, `2xx`, `200,204`, `200-299`, `2xx,301`.
    pub fn parse(text: &str) -> Result<StatusSet, String> {
        let mut set = StatusSet([0; 10]);
        for part in text.split(',').map(str::trim) {
            let (low, high) = parse_status_range(part).ok_or_else(|| {
                format!("invalid status '{part}' in '{text}' (use e.g. 200, 2xx, 200-299, 200,204)")
            })?;
            (low..=high).for_each(|code| set.0[code as usize / 64 - 1] |= 1 << (code % 64));
        }
        Ok(set)
    }

    pub fn contains(&self, code: u16) -> bool {
        (100..640).contains(&code) && self.0[code as usize / 64 - 1] & (1 << (code % 64)) != 0
    }

    /// The set as ranges, `200-299` or `200,204` (for the report's record of the run).
    pub fn describe(&self) -> String {
        let mut ranges: Vec<(u16, u16)> = Vec::new();
        for code in (100..=599).filter(|&c| self.contains(c)) {
            match ranges.last_mut() {
                Some((_, high)) if *high + 1 == code => *high = code,
                _ => ranges.push((code, code)),
            }
        }
        let ranges: Vec<String> = (ranges.iter())
            .map(|&(l, h)| {
                if l == h {
                    l.to_string()
                } else {
                    format!("{l}-{h}")
                }
            })
            .collect();
        ranges.join(",")
    }
}

fn parse_status_range(part: &str) -> Option<(u16, u16)> {
    let code = |s: &str| s.parse::<u16>().ok().filter(|c| (100..=599).contains(c));
    if let Some(class) = part.strip_suffix("xx").or_else(|| part.strip_suffix("XX")) {
        let class = class.parse::<u16>().ok().filter(|c| (1..=5).contains(c))?;
        return Some((class * 100, class * 100 + 99));
    }
    match part.split_once('-') {
        Some((low, high)) => Some((code(low)?, code(high)?)).filter(|(l, h)| l <= h),
        None => code(part).map(|c| (c, c)),
    }
}

/// A literal an `--expect-json` value is compared with.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Number(f64),
    Str(String),
    Bool(bool),
    Null,
}

/// `field` must be a top-level member; when `allowed` is not empty its value must equal one.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonExpectation {
    pub field: String,
    pub allowed: Vec<Literal>,
}

impl JsonExpectation {
    /// Parses `field` or `field=v1|v2|…`. Each alternative is read as a JSON literal (`1`,
    /// `1.0`, `"1"`, `true`, `null`); a bare word is taken as a plain string. An empty
    /// alternative, or one that starts like a JSON string, array or object but is not a
    /// literal, is a mistake on the command line (`x=1|`, `x="a`), not a value to compare.
    pub fn parse(text: &str) -> Result<JsonExpectation, String> {
        let (field, values) = match text.split_once('=') {
            Some((field, values)) => (field, Some(values)),
            None => (text, None),
        };
        let field = field.trim();
        if field.is_empty() {
            return Err(format!(
                "invalid JSON expectation '{text}' (use e.g. prediction=0|1)"
            ));
        }
        let allowed = match values {
            Some(v) => v
                .split('|')
                .map(|alt| parse_literal(alt).ok_or_else(|| bad_alternative(text, alt)))
                .collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        Ok(JsonExpectation {
            field: field.to_string(),
            allowed,
        })
    }

    fn accepts(&self, value: Value<'_>) -> bool {
        // A number is parsed once, however many alternatives it is compared with.
        let number = match value {
            Value::Number(raw) => parse_number(raw),
            _ => None,
        };
        self.allowed.is_empty()
            || self
                .allowed
                .iter()
                .any(|lit| literal_matches(lit, value, number))
    }
}

fn parse_literal(text: &str) -> Option<Literal> {
    let text = text.trim();
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Number(n)) => Some(Literal::Number(n.as_f64()?)),
        Ok(serde_json::Value::String(s)) => Some(Literal::Str(s)),
        Ok(serde_json::Value::Bool(b)) => Some(Literal::Bool(b)),
        Ok(serde_json::Value::Null) => Some(Literal::Null),
        Ok(_) => None,
        Err(_) if text.is_empty() || text.starts_with(['"', '[', '{']) => None,
        Err(_) => Some(Literal::Str(text.to_string())),
    }
}

fn bad_alternative(text: &str, alternative: &str) -> String {
    let what = if alternative.trim().is_empty() {
        "an empty alternative (write \"\" for the empty string)".to_string()
    } else {
        format!("'{}' is not a JSON literal", alternative.trim())
    };
    format!("invalid JSON expectation '{text}': {what} (use e.g. prediction=0|1)")
}

/// Numbers compare by value (`1.0` equals `1`; `number` is the value's, parsed); strings
/// after decoding escapes; types never convert (`"1"` is not `1`, `true` is not `1`).
fn literal_matches(literal: &Literal, value: Value<'_>, number: Option<f64>) -> bool {
    match (literal, value) {
        (Literal::Number(want), Value::Number(_)) => number == Some(*want),
        (Literal::Str(want), Value::Str(got)) => got.decodes_to(want.as_bytes()),
        (Literal::Bool(want), Value::Bool(got)) => *want == got,
        (Literal::Null, Value::Null) => true,
        _ => false,
    }
}

fn parse_number(raw: &[u8]) -> Option<f64> {
    // Fast path for the common case, small integers such as a class label: exact in f64.
    let (negative, digits) = match raw.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, raw),
    };
    if !digits.is_empty() && digits.len() <= 15 && digits.iter().all(u8::is_ascii_digit) {
        let value = digits
            .iter()
            .fold(0u64, |n, d| n * 10 + u64::from(d - b'0')) as f64;
        return Some(if negative { -value } else { value });
    }
    std::str::from_utf8(raw).ok()?.parse().ok()
}

/// Everything a response must satisfy to count as a success.
#[derive(Clone, Debug, PartialEq)]
pub struct Expect {
    pub status: StatusSet,
    pub json: Vec<JsonExpectation>,
    /// Byte strings the body must contain (`--expect-body`), each somewhere.
    pub body: Vec<Vec<u8>>,
}

impl Default for Expect {
    fn default() -> Self {
        Expect {
            status: StatusSet::parse("2xx").expect("valid default"),
            json: Vec::new(),
            body: Vec::new(),
        }
    }
}

impl Expect {
    /// Whether a check reads the body (otherwise the framer drops it unread).
    pub fn needs_body(&self) -> bool {
        !self.json.is_empty() || !self.body.is_empty()
    }

    /// Checks one response. Runs per request: no allocation.
    pub fn check(&self, status: u16, body: &[u8]) -> Result<(), CheckFailure> {
        self.judge(status, || self.check_body(body))
    }

    /// As `check`, reusing the verdict on a body byte-identical to one checked before on
    /// this core (`known`): the verdict is a pure function of the body's bytes, and servers
    /// repeat their answers, so one `memcmp` replaces the JSON scan. Inlined, with `judge`,
    /// into the connection loop, which is compiled once per transport: called from two
    /// loops, LLVM would otherwise keep them out of line, a call per request.
    #[inline(always)]
    pub fn check_recalling(
        &self,
        status: u16,
        body: &[u8],
        known: &mut KnownBodies,
    ) -> Result<(), CheckFailure> {
        self.judge(status, || known.recall_or(body, || self.check_body(body)))
    }

    /// As `check`, for a response whose body was over `--max-body` and dropped unread: the
    /// status is judged as usual, and a body that a check reads fails as too large.
    pub fn check_oversized(&self, status: u16) -> Result<(), CheckFailure> {
        self.judge(status, || Err(CheckFailure::TooLarge))
    }

    /// The status first; then, when a check reads it, the body's verdict.
    #[inline(always)]
    fn judge(
        &self,
        status: u16,
        body_verdict: impl FnOnce() -> Result<(), CheckFailure>,
    ) -> Result<(), CheckFailure> {
        if !self.status.contains(status) {
            return Err(CheckFailure::Status);
        }
        if !self.needs_body() {
            return Ok(());
        }
        body_verdict()
    }

    /// Whether `body` contains every `--expect-body` text and meets every `--expect-json`.
    fn check_body(&self, body: &[u8]) -> Result<(), CheckFailure> {
        let contains = |text: &Vec<u8>| memchr::memmem::find(body, text).is_some();
        if !self.body.iter().all(contains) || !self.json_holds(body) {
            return Err(CheckFailure::Body);
        }
        Ok(())
    }

    /// Whether `body` meets every `--expect-json` (true when there is none).
    fn json_holds(&self, body: &[u8]) -> bool {
        if self.json.is_empty() {
            return true;
        }
        // One bit per expectation: its field was seen, and its (last) value was accepted.
        let (mut seen, mut holds) = (0u8, 0u8);
        let top = json_scan::scan(body, |key, value| {
            for (bit, expectation) in self.json.iter().enumerate() {
                // The last duplicate member wins, as in JavaScript and serde_json.
                if key.decodes_to(expectation.field.as_bytes()) {
                    seen |= 1 << bit;
                    holds &= !(1 << bit);
                    holds |= u8::from(expectation.accepts(value)) << bit;
                }
            }
        });
        let all = u8::MAX >> (8 - self.json.len());
        matches!(top, Ok(Value::Object)) && seen == all && holds == all
    }
}

impl Expect {
    /// Why `body` fails the body checks, in a few words, for the failure's reason: the first
    /// `--expect-body` text it lacks, or where it is not JSON, or the first `--expect-json`
    /// it does not meet. Called only for a body that `check` failed (off the success path).
    pub fn explain(&self, body: &[u8], out: &mut String) {
        use std::fmt::Write;
        let lacks = |text: &&Vec<u8>| memchr::memmem::find(body, text).is_none();
        if let Some(text) = self.body.iter().find(lacks) {
            let _ = write!(out, "does not contain {}", quoted(text));
            return;
        }
        if body.is_empty() {
            out.push_str("not JSON (the body is empty)");
            return;
        }
        match json_scan::invalid_at(body) {
            Some(at) if at == body.len() => {
                let _ = write!(out, "not JSON (cut off at byte {at})");
                return;
            }
            Some(at) => {
                let _ = write!(out, "not JSON (invalid at byte {at} of {})", body.len());
                return;
            }
            None => {}
        }
        // The last duplicate member wins, as in `json_holds`.
        let mut seen = [None; MAX_JSON_EXPECTATIONS];
        let top = json_scan::scan(body, |key, value| {
            for (at, expectation) in self.json.iter().enumerate() {
                if key.decodes_to(expectation.field.as_bytes()) {
                    seen[at] = Some(value);
                }
            }
        });
        if !matches!(top, Ok(Value::Object)) {
            let _ = write!(out, "not a JSON object (it is {})", top.map_or("?", kind));
            return;
        }
        for (expectation, value) in self.json.iter().zip(seen) {
            let field = &expectation.field;
            match value {
                None => {
                    let _ = write!(out, "no field {}", quoted(field.as_bytes()));
                }
                Some(value) if !expectation.accepts(value) => {
                    let _ = write!(out, "{field} is {}, expected {}", shown(value), expectation);
                }
                Some(_) => continue,
            }
            return;
        }
        out.push_str("failed the check");
    }
}

/// The allowed values, as `--expect-json` takes them: `0|1`, `"cat"|null`.
impl JsonExpectation {
    /// As it was given: `prediction=0|1`, or `prediction` for a field that must be there.
    pub fn describe(&self) -> String {
        match self.allowed.is_empty() {
            true => self.field.clone(),
            false => format!("{}={self}", self.field),
        }
    }
}

/// The allowed values, `0|1` (the explanation of a failed check reads "expected 0|1").
impl std::fmt::Display for JsonExpectation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, literal) in self.allowed.iter().enumerate() {
            let text = match literal {
                Literal::Number(n) => n.to_string(),
                Literal::Str(s) => serde_json::Value::from(s.as_str()).to_string(),
                Literal::Bool(b) => b.to_string(),
                Literal::Null => "null".into(),
            };
            write!(f, "{}{text}", if i == 0 { "" } else { "|" })?;
        }
        Ok(())
    }
}

/// A value as the body has it (up to 40 bytes), or its kind for a container.
fn shown(value: Value<'_>) -> String {
    let raw = match value {
        Value::Number(raw) => raw,
        Value::Str(s) => return quoted(s.raw),
        Value::Bool(b) => return b.to_string(),
        Value::Null => return "null".into(),
        other => return kind(other).into(),
    };
    String::from_utf8_lossy(&raw[..raw.len().min(40)]).into_owned()
}

fn kind(value: Value<'_>) -> &'static str {
    match value {
        Value::Object => "an object",
        Value::Array => "an array",
        Value::Str(_) => "a string",
        Value::Number(_) => "a number",
        Value::Bool(_) => "a boolean",
        Value::Null => "null",
    }
}

/// Text in quotes, cut at 40 bytes.
fn quoted(text: &[u8]) -> String {
    let cut = &text[..text.len().min(40)];
    let more = if cut.len() < text.len() { "…" } else { "" };
    format!("\"{}{more}\"", String::from_utf8_lossy(cut).escape_debug())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_sets() {
        let cases: &[(&str, &[u16], &[u16])] = &[
            ("200", &[200], &[201, 199, 500]),
            ("2xx", &[200, 204, 299], &[199, 300]),
            ("200,204", &[200, 204], &[201]),
            ("200-202, 404", &[200, 201, 202, 404], &[203, 403]),
            ("5XX", &[500, 599], &[499]),
        ];
        for (text, yes, no) in cases {
            let set = StatusSet::parse(text).unwrap();
            yes.iter()
                .for_each(|c| assert!(set.contains(*c), "{text} should contain {c}"));
            no.iter()
                .for_each(|c| assert!(!set.contains(*c), "{text} should not contain {c}"));
        }
        for bad in ["", "abc", "6xx", "99", "600", "300-200", "2xxx", "200,"] {
            assert!(StatusSet::parse(bad).is_err(), "{bad:?}");
        }
        assert!(!StatusSet::parse("2xx").unwrap().contains(0));
        assert!(!StatusSet::parse("2xx").unwrap().contains(65535));
    }

    #[test]
    fn json_expectation_parsing() {
        let e = JsonExpectation::parse("prediction=0|1").unwrap();
        assert_eq!(e.field, "prediction");
        assert_eq!(e.allowed, vec![Literal::Number(0.0), Literal::Number(1.0)]);
        let e = JsonExpectation::parse(r#"label="1"|true|null|ok"#).unwrap();
        assert_eq!(
            e.allowed,
            vec![
                Literal::Str("1".into()),
                Literal::Bool(true),
                Literal::Null,
                Literal::Str("ok".into())
            ]
        );
        assert!(
            JsonExpectation::parse("prediction")
                .unwrap()
                .allowed
                .is_empty()
        );
        assert!(JsonExpectation::parse("=1").is_err());
        // Typos are usage errors, not values that no response could ever match.
        for bad in [
            "x=",
            "x=1|",
            "x=|1",
            "x=1||2",
            r#"x="a"#,
            "x=[1]",
            r#"x={"a":1}"#,
        ] {
            let error = JsonExpectation::parse(bad).unwrap_err();
            assert!(
                error.starts_with("invalid JSON expectation"),
                "{bad}: {error}"
            );
        }
        assert!(JsonExpectation::parse("x=\"\"").unwrap().allowed == [Literal::Str("".into())]);
    }

    fn prediction_rule() -> Expect {
        Expect {
            status: StatusSet::parse("200").unwrap(),
            json: vec![JsonExpectation::parse("prediction=0|1").unwrap()],
            body: Vec::new(),
        }
    }

    #[test]
    fn the_prediction_rule() {
        let ok = Ok(());
        let body = Err(CheckFailure::Body);
        let cases: &[(u16, &str, Result<(), CheckFailure>)] = &[
            (200, r#"{"prediction":1}"#, ok),
            (200, r#"{"prediction":0}"#, ok),
            (200, r#" { "prediction" : 1.0 } "#, ok),
            (200, r#"{"prediction":1e0}"#, ok),
            (200, r#"{"prediction":-0}"#, ok),
            (
                200,
                r#"{"model":"m","prediction":1,"scores":[0.1,0.9]}"#,
                ok,
            ),
            (200, r#"{"pred\u0069ction":1}"#, ok),
            (200, r#"{"prediction":2}"#, body),
            (200, r#"{"prediction":"1"}"#, body),
            (200, r#"{"prediction":true}"#, body),
            (200, r#"{"prediction":null}"#, body),
            (200, r#"{"prediction":[1]}"#, body),
            (200, r#"{"other":1}"#, body),
            (200, r#"{"note":"\"prediction\":1"}"#, body),
            (200, r#"{"inner":{"prediction":1}}"#, body),
            (200, r#"[{"prediction":1}]"#, body),
            (200, r#"{"prediction":1"#, body),
            (200, r#"{"prediction":1,}"#, body),
            (200, r#"{"prediction":01}"#, body),
            (200, r#"{"prediction":1} trailing"#, body),
            (200, r#"{"prediction":1,"prediction":2}"#, body),
            (200, r#"{"prediction":2,"prediction":1}"#, ok),
            (200, "", body),
            (201, r#"{"prediction":1}"#, Err(CheckFailure::Status)),
            (500, "not json", Err(CheckFailure::Status)),
        ];
        let rule = prediction_rule();
        for (status, text, want) in cases {
            assert_eq!(
                rule.check(*status, text.as_bytes()),
                *want,
                "{status} {text}"
            );
        }
        // A remembered verdict is the same verdict: through one core's recall, forwards and
        // backwards (a status failure first must not be taken for the body's), with bodies
        // that differ from remembered ones by a byte or by their length.
        let mut known = KnownBodies::default();
        for (status, text, want) in cases.iter().chain(cases.iter().rev()).chain(cases) {
            assert_eq!(
                rule.check_recalling(*status, text.as_bytes(), &mut known),
                *want,
                "{status} {text}"
            );
        }
    }

    #[test]
    fn only_short_bodies_are_remembered() {
        let rule = prediction_rule();
        let mut known = KnownBodies::default();
        let padded = format!(
            r#"{{"prediction":1,"pad":"{}"}}"#,
            "x".repeat(REMEMBER_BODY)
        );
        assert_eq!(
            rule.check_recalling(200, padded.as_bytes(), &mut known),
            Ok(())
        );
        assert_eq!(known.find(padded.as_bytes()), None);
        assert_eq!(
            rule.check_recalling(200, br#"{"prediction":2}"#, &mut known),
            Err(CheckFailure::Body)
        );
        assert_eq!(
            known.find(br#"{"prediction":2}"#),
            Some(Err(CheckFailure::Body))
        );
        assert_eq!(
            known.find(br#"{"prediction":2} "#),
            None,
            "exact bytes only"
        );
        assert_eq!(known.find(br#"{"prediction":2"#), None, "exact bytes only");
    }

    #[test]
    fn field_presence_and_strings() {
        let rule = Expect {
            status: StatusSet::parse("2xx").unwrap(),
            json: vec![
                JsonExpectation::parse("id").unwrap(),
                JsonExpectation::parse("label=cat|\"dog\"").unwrap(),
            ],
            body: Vec::new(),
        };
        assert_eq!(rule.check(200, br#"{"id":null,"label":"cat"}"#), Ok(()));
        assert_eq!(rule.check(200, br#"{"id":{},"label":"d\u006fg"}"#), Ok(()));
        assert_eq!(
            rule.check(200, br#"{"label":"cat"}"#),
            Err(CheckFailure::Body)
        );
        assert_eq!(
            rule.check(200, br#"{"id":1,"label":"cow"}"#),
            Err(CheckFailure::Body)
        );
    }

    #[test]
    fn expect_body_texts_must_all_occur() {
        let text = |t: &str| t.as_bytes().to_vec();
        let rule = Expect {
            body: vec![text("ok"), text("ready")],
            ..Expect::default()
        };
        assert!(rule.needs_body());
        let cases: &[(u16, &[u8], Result<(), CheckFailure>)] = &[
            (200, b"ok, ready", Ok(())),
            (200, b"ready: ok", Ok(())),
            (200, b"ok", Err(CheckFailure::Body)),
            (200, b"o k ready", Err(CheckFailure::Body)),
            (200, b"", Err(CheckFailure::Body)),
            (500, b"ok, ready", Err(CheckFailure::Status)),
        ];
        for (status, body, want) in cases {
            assert_eq!(
                rule.check(*status, body),
                *want,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        // With an --expect-json as well, both must hold; the text need not be JSON-aware.
        let both = Expect {
            body: vec![text(r#""model":"v2""#)],
            ..prediction_rule()
        };
        let cases: &[(&[u8], Result<(), CheckFailure>)] = &[
            (br#"{"prediction":1,"model":"v2"}"#, Ok(())),
            (br#"{"prediction":1,"model":"v1"}"#, Err(CheckFailure::Body)),
            (br#"{"prediction":2,"model":"v2"}"#, Err(CheckFailure::Body)),
            (br#"{"model":"v2"} "#, Err(CheckFailure::Body)),
        ];
        for (body, want) in cases {
            assert_eq!(
                both.check(200, body),
                *want,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn a_failed_body_is_explained() {
        let rule = Expect {
            body: vec![b"model".to_vec()],
            ..prediction_rule()
        };
        let two = Expect {
            json: vec![
                JsonExpectation::parse("prediction=0|1").unwrap(),
                JsonExpectation::parse(r#"label="cat"|null"#).unwrap(),
            ],
            ..Expect::default()
        };
        let cases: &[(&Expect, &str, &str)] = &[
            (&rule, r#"{"prediction":1}"#, r#"does not contain "model""#),
            (&rule, "", r#"does not contain "model""#),
            (&prediction_rule(), "", "not JSON (the body is empty)"),
            (
                &prediction_rule(),
                r#"{"prediction":1"#,
                "not JSON (cut off at byte 15)",
            ),
            (
                &rule,
                r#"{"prediction":1,"model":x}"#,
                "not JSON (invalid at byte 24 of 26)",
            ),
            (
                &rule,
                r#"{"model":1} trailing"#,
                "not JSON (invalid at byte 12 of 20)",
            ),
            (&rule, r#"["model"]"#, "not a JSON object (it is an array)"),
            (&rule, r#"{"model":1}"#, r#"no field "prediction""#),
            (
                &rule,
                r#"{"model":1,"prediction":2}"#,
                "prediction is 2, expected 0|1",
            ),
            (
                &rule,
                r#"{"model":1,"prediction":"1"}"#,
                r#"prediction is "1", expected 0|1"#,
            ),
            (
                &rule,
                r#"{"model":1,"prediction":[1]}"#,
                "prediction is an array, expected 0|1",
            ),
            (
                &rule,
                r#"{"model":1,"prediction":1,"prediction":2}"#,
                "prediction is 2, expected 0|1",
            ),
            (
                &two,
                r#"{"prediction":1,"label":"dog"}"#,
                r#"label is "dog", expected "cat"|null"#,
            ),
        ];
        for (rule, body, want) in cases {
            assert!(rule.check(200, body.as_bytes()).is_err(), "{body}");
            let mut out = String::new();
            rule.explain(body.as_bytes(), &mut out);
            assert_eq!(out, *want, "{body}");
        }
    }

    #[test]
    fn default_is_any_2xx_without_reading_the_body() {
        let rule = Expect::default();
        assert!(!rule.needs_body());
        assert_eq!(rule.check(204, b"anything"), Ok(()));
        assert_eq!(rule.check(302, b""), Err(CheckFailure::Status));
    }
}

//! `--flow`: a user's sequence of requests, read from a JSON Lines file (one step per line)
//! and validated once, before the run. A step has what a `--targets` line has (but `weight`)
//! and may also `capture` values from its response into the user's variables, which later
//! steps use as `${name}`; `think` after it; and `repeat_until` a captured value is one of a
//! set (a polling loop), at most `max_repeats` times.
//!
//! `{"name": "retrain", "method": "POST", "path": "/retrain", "body": {"epochs": 1},
//!   "capture": {"job_id": "job_id"}}`
//! `{"name": "poll", "path": "/retrain_jobs/${job_id}", "capture": {"status": "status"},
//!   "repeat_until": "status=done|failed", "max_repeats": 100, "think": "200ms"}`

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Map, Value};

use crate::check::capture::Capture;
use crate::http::template;
use crate::run::mix::{self, Defaults, MixLine};

/// The name of the flow's own row in the report (no step may take it).
pub const FLOW_NAME: &str = "flow";
/// Most steps in a flow, and most variables.
pub const MAX_STEPS: usize = 256;
pub const MAX_VARS: usize = 64;
/// A `repeat_until` step's most repeats, when the step does not say.
pub const DEFAULT_MAX_REPEATS: u32 = 100;
const MAX_REPEATS: u64 = 1_000_000;

/// What a step may hold besides a `--targets` line's keys (of which `weight` does not apply).
const FLOW_KEYS: &[&str] = &["capture", "think", "repeat_until", "max_repeats"];

/// One step: its request, as a mix line, and what the flow does around it.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub line: MixLine,
    pub captures: Vec<Capture>,
    /// The pause after it (as `--think`, which it replaces for this step).
    pub think: Option<(Duration, Duration)>,
    pub repeat: Option<Repeat>,
}

/// `repeat_until`: the step runs again until variable `var` holds one of `values`, at most
/// `max` times in all.
#[derive(Debug, Clone, PartialEq)]
pub struct Repeat {
    pub var: u8,
    pub values: Vec<Vec<u8>>,
    pub max: u32,
}

impl Repeat {
    /// Whether the step runs again after its `runs`-th run in this pass, whose answer left
    /// `value` in the variable it waits for.
    pub fn again(&self, runs: u32, value: &[u8]) -> bool {
        runs < self.max && !self.values.iter().any(|v| v == value)
    }
}

/// A flow: its steps, and its variables' names (a variable's index is its place here).
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    pub steps: Vec<Step>,
    pub vars: Vec<String>,
}

impl Flow {
    /// The steps' requests, as the mix a plan is built from.
    pub fn lines(&self) -> Vec<MixLine> {
        self.steps.iter().map(|s| s.line.clone()).collect()
    }

    /// The index of variable `name`.
    pub fn var(&self, name: &str) -> Option<u8> {
        self.vars.iter().position(|v| v == name).map(|i| i as u8)
    }
}

/// Reads the `--flow` file at `path`. Errors name the file and the line.
pub fn load(path: &str, defaults: &Defaults) -> Result<Flow, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read --flow '{path}': {e}"))?;
    parse(&text, defaults).map_err(|e| format!("--flow '{path}' {e}"))
}

/// Parses the text of a flow file (see the module's documentation).
pub fn parse(text: &str, defaults: &Defaults) -> Result<Flow, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let keys: Vec<&str> = (mix::KEYS.iter().chain(FLOW_KEYS))
        .copied()
        .filter(|k| *k != "weight")
        .collect();
    let mut flow = Flow {
        steps: Vec::new(),
        vars: Vec::new(),
    };
    let mut in_headers = HashSet::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if flow.steps.len() == MAX_STEPS {
            return Err(format!("holds more than {MAX_STEPS} steps"));
        }
        let step = step(&mut flow, line, &keys, defaults, &mut in_headers)
            .map_err(|e| format!("line {}: {e}", number + 1))?;
        flow.steps.push(step);
    }
    if flow.steps.is_empty() {
        return Err("holds no step (every line is blank or a comment)".into());
    }
    for capture in flow.steps.iter_mut().flat_map(|s| &mut s.captures) {
        capture.into_header = in_headers.contains(&capture.var);
    }
    Ok(flow)
}

/// One line's step; its captures' new variables are added to `flow`, and the variables its
/// headers use to `in_headers`.
fn step(
    flow: &mut Flow,
    line: &str,
    keys: &[&str],
    defaults: &Defaults,
    in_headers: &mut HashSet<u8>,
) -> Result<Step, String> {
    let fields = mix::object(line, keys)?;
    let line = mix::line_of(&fields, defaults)?;
    if line.name == FLOW_NAME {
        return Err(format!(
            "the name '{FLOW_NAME}' is the whole flow's row in the report: name the step otherwise"
        ));
    }
    // Every variable the request uses is captured by an earlier step: a flow never sends a
    // `${...}` as it is.
    let mut uses = template::variables(line.path.as_bytes())?;
    uses.extend(template::variables(&line.body)?);
    for (_, value) in &line.headers {
        let used = template::variables(value.as_bytes())?;
        for (name, _) in &used {
            in_headers.extend(flow.var(name));
        }
        uses.extend(used);
    }
    if let Some((name, _)) = uses.iter().find(|(name, _)| flow.var(name).is_none()) {
        return Err(format!(
            "${{{name}}} is used before a step captures it (a step's 'capture' names it)"
        ));
    }
    let captures = captures(flow, &fields)?;
    let think = match mix::text(&fields, "think")? {
        Some(text) => {
            Some(crate::units::parse_duration_range(text).map_err(|e| format!("'think': {e}"))?)
        }
        None => None,
    };
    let repeat = repeat(flow, &fields, &captures)?;
    Ok(Step {
        line,
        captures,
        think,
        repeat,
    })
}

/// `capture`: `{"VAR": "path" | "header:NAME"}`, each variable indexed on first capture.
fn captures(flow: &mut Flow, fields: &Map<String, Value>) -> Result<Vec<Capture>, String> {
    let Some(value) = fields.get("capture") else {
        return Ok(Vec::new());
    };
    let bad =
        || "'capture' must be an object of variable names to paths, e.g. {\"job_id\": \"job.id\"}";
    let map = value
        .as_object()
        .filter(|m| !m.is_empty())
        .ok_or_else(bad)?;
    map.iter()
        .map(|(name, source)| {
            let source = source.as_str().ok_or_else(bad)?;
            let valid =
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid {
                return Err(format!(
                    "capture '{name}': a variable's name is letters, digits and _"
                ));
            }
            let var = match flow.var(name) {
                Some(var) => var,
                None if flow.vars.len() == MAX_VARS => {
                    return Err(format!("more than {MAX_VARS} variables"));
                }
                None => {
                    flow.vars.push(name.clone());
                    (flow.vars.len() - 1) as u8
                }
            };
            Capture::parse(var, name, source)
        })
        .collect()
}

/// `repeat_until: "VAR=a|b"` with `max_repeats`; the variable must be one the step itself
/// captures, or the answer it waits for could never come.
fn repeat(
    flow: &Flow,
    fields: &Map<String, Value>,
    captures: &[Capture],
) -> Result<Option<Repeat>, String> {
    let max = match fields.get("max_repeats") {
        None => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|n| (1..=MAX_REPEATS).contains(n))
                .ok_or_else(|| {
                    format!("'max_repeats' must be a whole number from 1 to {MAX_REPEATS}")
                })? as u32,
        ),
    };
    let Some(text) = mix::text(fields, "repeat_until")? else {
        if max.is_some() {
            return Err("'max_repeats' needs 'repeat_until'".into());
        }
        return Ok(None);
    };
    let (name, values) = text
        .split_once('=')
        .filter(|(n, v)| !n.trim().is_empty() && !v.is_empty())
        .ok_or_else(|| format!("'repeat_until' '{text}' is not VAR=value|value"))?;
    let name = name.trim();
    let var = flow
        .var(name)
        .filter(|v| captures.iter().any(|c| c.var == *v));
    let var = var.ok_or_else(|| {
        format!(
            "'repeat_until' waits for '{name}', which this step does not capture: the step \
             would repeat the same answer, a loop that cannot end (capture it here)"
        )
    })?;
    Ok(Some(Repeat {
        var,
        values: values.split('|').map(|v| v.as_bytes().to_vec()).collect(),
        max: max.unwrap_or(DEFAULT_MAX_REPEATS),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Expect;
    use crate::run::url::Url;

    fn parse_flow(text: &str) -> Result<Flow, String> {
        let url = Url::parse("http://127.0.0.1:8000/").unwrap();
        let headers = vec![("X-Run".to_string(), "7".to_string())];
        let expect = Expect::default();
        let defaults = Defaults {
            url: &url,
            headers: &headers,
            expect: &expect,
        };
        parse(text, &defaults)
    }

    #[test]
    fn reads_the_retrain_flow() {
        let flow = parse_flow(
            r#"# upload, retrain, poll
            {"name": "retrain", "path": "/retrain", "body": {"epochs": 1}, "capture": {"job_id": "job_id"}}
            {"name": "poll", "path": "/retrain_jobs/${job_id}", "headers": {"X-Job": "${job_id}"},
             "capture": {"status": "status"}, "repeat_until": "status=done|failed", "think": "100ms-200ms"}
            {"path": "/retrain_jobs/${job_id}", "think": "1s"}"#
                .replace("\n             ", " ")
                .as_str(),
        )
        .unwrap();
        assert_eq!(flow.vars, ["job_id", "status"]);
        let [retrain, poll, last] = &flow.steps[..] else {
            panic!("three steps")
        };
        assert_eq!(retrain.line.method, "POST");
        assert_eq!(retrain.captures[0].var, 0);
        assert!(retrain.captures[0].into_header, "job_id goes into X-Job");
        assert_eq!(poll.line.path, "/retrain_jobs/${job_id}");
        assert!(!poll.captures[0].into_header);
        let repeat = poll.repeat.as_ref().unwrap();
        assert_eq!((repeat.var, repeat.max), (1, DEFAULT_MAX_REPEATS));
        assert_eq!(repeat.values, [b"done".to_vec(), b"failed".to_vec()]);
        assert_eq!(
            poll.think,
            Some((Duration::from_millis(100), Duration::from_millis(200)))
        );
        assert_eq!(last.line.name, "GET /retrain_jobs/${job_id}");
        assert_eq!(flow.lines().len(), 3);
    }

    #[test]
    fn refuses_flows_that_cannot_run_by_line() {
        let cases = [
            (
                r#"{"path": "/jobs/${id}"}"#,
                "line 1: ${id} is used before a step captures it",
            ),
            (
                "{\"path\": \"/a\"}\n{\"path\": \"/b/${id}\", \"capture\": {\"id\": \"id\"}}",
                "line 2: ${id} is used before",
            ),
            (
                r#"{"body": "${x"}"#,
                "line 1: '${x': a '${' must start a variable",
            ),
            (
                r#"{"capture": {"s": "status"}, "repeat_until": "t=done"}"#,
                "line 1: 'repeat_until' waits for 't', which this step does not capture",
            ),
            (
                "{\"capture\": {\"s\": \"status\"}}\n{\"repeat_until\": \"s=done\"}",
                "line 2: 'repeat_until' waits for 's'",
            ),
            (
                r#"{"max_repeats": 3}"#,
                "line 1: 'max_repeats' needs 'repeat_until'",
            ),
            (
                r#"{"capture": {"s": "s"}, "repeat_until": "s=x", "max_repeats": 0}"#,
                "line 1: 'max_repeats' must be a whole number",
            ),
            (
                r#"{"repeat_until": "done"}"#,
                "line 1: 'repeat_until' 'done' is not VAR",
            ),
            (r#"{"weight": 2}"#, "line 1: unknown key 'weight'"),
            (
                r#"{"name": "flow"}"#,
                "line 1: the name 'flow' is the whole flow's row",
            ),
            (
                r#"{"capture": {"a b": "x"}}"#,
                "line 1: capture 'a b': a variable's name",
            ),
            (
                r#"{"capture": {"x": 1}}"#,
                "line 1: 'capture' must be an object",
            ),
            (
                r#"{"capture": {"x": "a..b"}}"#,
                "line 1: capture 'x': 'a..b' is not a path",
            ),
            (r#"{"think": "soon"}"#, "line 1: 'think':"),
            ("{}\nnot json", "line 2: not JSON"),
            ("# nothing\n", "holds no step"),
        ];
        for (text, want) in cases {
            let error = parse_flow(text).unwrap_err();
            assert!(error.starts_with(want), "{text:?}: {error}");
        }
    }
}

//! `--openapi`: an API's OpenAPI 3.0 or 3.1 document (JSON or YAML) turned into the request mix that
//! `--targets` would make, one target per operation, written as `--targets` JSON Lines so
//! that the mix is read, checked and reported exactly as a file's would be (and
//! `--print-targets` can hand it to the user to edit).
//!
//! The document is walked as JSON: the OpenAPI crates model 3.0 or 3.1 but not both (FastAPI
//! writes 3.1), and blast needs only paths, parameters, request bodies and schemas. A YAML
//! document is read (serde-saphyr, a maintained pure-Rust YAML parser) into the same JSON
//! value, so everything after reading is one code path.

mod schema;

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::run::health;
use crate::run::url::Url;
use crate::tls::Trust;
use schema::{Document, given_value};

/// The largest document read (FastAPI's for a few hundred routes is well under 1 MiB).
const MAX_DOCUMENT: usize = 64 << 20;

/// Most values one `--param` range may give (each is one request of the rotation).
const MAX_RANGE: u64 = 10_000;

/// What to take from the document.
pub struct Discovery {
    /// Methods to keep, upper case (GET and POST by default).
    pub methods: Vec<String>,
    /// Keep only paths under one of these prefixes (all when empty).
    pub filters: Vec<String>,
    /// Drop paths under these.
    pub excludes: Vec<String>,
    /// `--param NAME=VALUES`: the values a parameter takes, in turn.
    pub params: Vec<(String, Vec<String>)>,
    /// Name targets by `operationId` instead of `METHOD path`.
    pub operation_ids: bool,
}

/// The mix found: `--targets` JSON Lines, and the operations left out with the reason.
pub struct Discovered {
    pub lines: String,
    pub targets: usize,
    pub skipped: Vec<(String, String)>,
}

/// The document `--openapi` names: a URL (http or https, GET with the run's headers and
/// trust), a file, or by default (`""`) the run URL's origin + `/openapi.json`.
pub fn fetch(
    source: &str,
    run_url: &Url,
    trust: &Trust,
    headers: &[(String, String)],
) -> Result<Value, String> {
    let (text, from) = if source.is_empty() || source.contains("://") {
        let url = match source {
            "" => run_url.with_path("/openapi.json"),
            _ => Url::parse(source)?,
        };
        let from = url.url();
        let timeout = Duration::from_secs(10);
        let (status, body) = health::get(&url, trust, headers, timeout, MAX_DOCUMENT)
            .map_err(|e| format!("--openapi: GET {from} failed: {e}"))?;
        if status != 200 {
            return Err(format!("--openapi: GET {from} answered {status}"));
        }
        (body, from)
    } else {
        let text =
            std::fs::read(source).map_err(|e| format!("--openapi: cannot read '{source}': {e}"))?;
        (text, format!("'{source}'"))
    };
    parse_document(&text).map_err(|e| format!("--openapi: {from} {e}"))
}

/// A document as JSON, or as YAML when it is not JSON. `Err` says why it is neither, in one
/// line: the JSON parser's reason for a text that opens as JSON does, the YAML parser's
/// otherwise.
fn parse_document(text: &[u8]) -> Result<Value, String> {
    let json_error = match serde_json::from_slice::<Value>(text) {
        Ok(value) => return Ok(value),
        Err(e) => e,
    };
    let opens_as_json = text.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let yaml = std::str::from_utf8(text)
        .map_err(|_| "not UTF-8 text".to_string())
        .and_then(|text| serde_saphyr::from_str::<Value>(text).map_err(|e| e.to_string()));
    match yaml {
        Ok(value) if value.is_object() => Ok(value),
        _ if opens_as_json => Err(format!("is not a JSON document ({json_error})")),
        Ok(_) => Err("is neither a JSON nor a YAML document (no mapping at its top)".into()),
        Err(e) => {
            let reason = e
                .lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("error: ");
            Err(format!(
                "is neither a JSON nor a YAML document (YAML: {reason})"
            ))
        }
    }
}

/// `--param NAME=VALUE`, `NAME=a,b,c` or `NAME=LO-HI` (integers, one request each in turn).
pub fn parse_param(text: &str) -> Result<(String, Vec<String>), String> {
    let bad = || format!("invalid --param '{text}' (NAME=VALUE, NAME=a,b,c or NAME=1-2000)");
    let (name, values) = text.split_once('=').ok_or_else(bad)?;
    if name.is_empty() || values.is_empty() {
        return Err(bad());
    }
    let range = values
        .split_once('-')
        .and_then(|(lo, hi)| Some((lo.parse::<i64>().ok()?, hi.parse::<i64>().ok()?)));
    let values: Vec<String> = match range {
        Some((lo, hi)) if lo <= hi && (hi - lo) as u64 <= MAX_RANGE => {
            (lo..=hi).map(|v| v.to_string()).collect()
        }
        Some(_) => {
            return Err(format!(
                "--param '{text}': a range of 1 to {MAX_RANGE} values, low to high"
            ));
        }
        None => values.split(',').map(str::to_string).collect(),
    };
    Ok((name.to_string(), values))
}

/// The operations of `document` that `discovery` keeps, as `--targets` lines.
pub fn discover(document: &Value, discovery: &Discovery) -> Result<Discovered, String> {
    // YAML reads an unquoted `openapi: 3.0` as a number.
    let version = match document.get("openapi") {
        Some(Value::String(version)) => version.clone(),
        Some(Value::Number(version)) => version.to_string(),
        _ => String::new(),
    };
    if !version.starts_with("3.") {
        return Err(
            "--openapi: the document is not an OpenAPI 3 document (no \"openapi\": \"3.x\" key)"
                .into(),
        );
    }
    let paths = document
        .get("paths")
        .and_then(Value::as_object)
        .ok_or("--openapi: the document has no paths")?;
    let doc = Document { root: document };
    let mut operations = Vec::new();
    let mut skipped = Vec::new();
    for (path, item) in paths {
        if !kept(path, discovery) {
            continue;
        }
        for method in &discovery.methods {
            let Some(operation) = item.get(method.to_lowercase()) else {
                continue;
            };
            let name = match operation.get("operationId").and_then(Value::as_str) {
                Some(id) if discovery.operation_ids => id.to_string(),
                _ => format!("{method} {path}"),
            };
            match requests(&doc, method, path, item, operation, discovery) {
                Ok(lines) => operations.push((name, lines)),
                Err(why) => skipped.push((name, why)),
            }
        }
    }
    unknown_params(document, discovery)?;
    if operations.is_empty() {
        return Err(format!(
            "--openapi: the document has no {} operation under the filters{}",
            discovery.methods.join(" or "),
            skipped.first().map_or(String::new(), |(n, why)| format!(
                " ({n} was skipped: {why})"
            ))
        ));
    }
    Ok(Discovered {
        targets: operations.len(),
        lines: interleaved(operations)?,
        skipped,
    })
}

fn kept(path: &str, discovery: &Discovery) -> bool {
    let under = |prefix: &String| path.starts_with(prefix.as_str());
    (discovery.filters.is_empty() || discovery.filters.iter().any(under))
        && !discovery.excludes.iter().any(under)
}

/// A `--param` must name a parameter some operation of the document has.
fn unknown_params(document: &Value, discovery: &Discovery) -> Result<(), String> {
    let doc = Document { root: document };
    let mut names = Vec::new();
    let paths = document.get("paths").and_then(Value::as_object);
    for item in paths.into_iter().flat_map(|p| p.values()) {
        let operations = item.as_object().into_iter().flat_map(|o| o.values());
        for list in std::iter::once(item).chain(operations) {
            let parameters = list.get("parameters").and_then(Value::as_array);
            for parameter in parameters.into_iter().flatten() {
                let parameter = match parameter.get("$ref").and_then(Value::as_str) {
                    Some(reference) => doc.resolve(reference).unwrap_or(parameter),
                    None => parameter,
                };
                names.extend(parameter.get("name").and_then(Value::as_str));
            }
        }
    }
    match discovery
        .params
        .iter()
        .find(|(name, _)| !names.contains(&name.as_str()))
    {
        Some((name, _)) => Err(format!(
            "--param {name}: no operation of the OpenAPI document has a parameter of that name"
        )),
        None => Ok(()),
    }
}

/// One request line per value of the operation's cycled parameter (one line without any),
/// each a `--targets` object without its name and weight.
fn requests(
    doc: &Document,
    method: &str,
    template: &str,
    item: &Value,
    operation: &Value,
    discovery: &Discovery,
) -> Result<Vec<Map<String, Value>>, String> {
    let mut parameters: Vec<&Value> = Vec::new();
    for list in [item.get("parameters"), operation.get("parameters")] {
        parameters.extend(list.and_then(Value::as_array).into_iter().flatten());
    }
    // Each parameter's values; the one with the most is cycled, the rest take their first.
    let mut filled: Vec<(String, String, Vec<String>)> = Vec::new();
    for parameter in parameters {
        let parameter = match parameter.get("$ref").and_then(Value::as_str) {
            Some(reference) => doc.resolve(reference)?,
            None => parameter,
        };
        let name = parameter.get("name").and_then(Value::as_str).unwrap_or("");
        let place = parameter.get("in").and_then(Value::as_str).unwrap_or("");
        let required = parameter.get("required").and_then(Value::as_bool) == Some(true);
        let given = discovery.params.iter().find(|(n, _)| n == name);
        if !required && given.is_none() || place == "cookie" {
            continue;
        }
        let values = match given {
            Some((_, values)) => values.clone(),
            None => vec![text_of(&parameter_value(doc, parameter)?)],
        };
        filled.retain(|(n, p, _)| (n, p) != (&name.to_string(), &place.to_string()));
        filled.push((name.to_string(), place.to_string(), values));
    }
    let body = body(doc, operation)?;
    let count = filled.iter().map(|(_, _, v)| v.len()).max().unwrap_or(1);
    (0..count)
        .map(|i| {
            let pick = |values: &Vec<String>| values[i % values.len()].clone();
            request_line(method, template, &filled, pick, body.as_ref())
        })
        .collect()
}

/// A parameter's value: its example, examples, or its schema's.
fn parameter_value(doc: &Document, parameter: &Value) -> Result<Value, String> {
    if let Some(example) = parameter.get("example") {
        return Ok(example.clone());
    }
    let first_example = parameter
        .get("examples")
        .and_then(Value::as_object)
        .and_then(|e| e.values().next())
        .and_then(|e| e.get("value"));
    if let Some(value) = first_example {
        return Ok(value.clone());
    }
    doc.example(parameter.get("schema").unwrap_or(&Value::Null))
}

/// A value as it goes into a path, query or header: strings bare, the rest as JSON.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The operation's JSON body, if it takes one; an error when it requires a body blast cannot
/// build.
fn body(doc: &Document, operation: &Value) -> Result<Option<Value>, String> {
    let Some(request_body) = operation.get("requestBody") else {
        return Ok(None);
    };
    let request_body = match request_body.get("$ref").and_then(Value::as_str) {
        Some(reference) => doc.resolve(reference)?,
        None => request_body,
    };
    let required = request_body.get("required").and_then(Value::as_bool) == Some(true);
    let content = request_body.get("content").and_then(Value::as_object);
    let json = content.and_then(|c| {
        c.iter()
            .find(|(media, _)| media.starts_with("application/json") || media.ends_with("+json"))
    });
    let Some((_, media)) = json else {
        if !required {
            return Ok(None);
        }
        let kinds: Vec<&str> = content
            .into_iter()
            .flatten()
            .map(|(m, _)| m.as_str())
            .collect();
        return Err(format!(
            "its required body is {}, not JSON",
            kinds.join(" or ")
        ));
    };
    let fields = media.as_object().cloned().unwrap_or_default();
    if let Some(example) = given_value(&fields) {
        return Ok(Some(example));
    }
    let example = fields
        .get("examples")
        .and_then(Value::as_object)
        .and_then(|e| e.values().next())
        .and_then(|e| e.get("value"));
    match example {
        Some(value) => Ok(Some(value.clone())),
        None => doc
            .example(media.get("schema").unwrap_or(&Value::Null))
            .map(Some),
    }
}

/// One `--targets` object: the path with its parameters filled and the query built.
fn request_line(
    method: &str,
    template: &str,
    filled: &[(String, String, Vec<String>)],
    pick: impl Fn(&Vec<String>) -> String,
    body: Option<&Value>,
) -> Result<Map<String, Value>, String> {
    let mut path = template.to_string();
    let mut query = Vec::new();
    let mut headers = Map::new();
    for (name, place, values) in filled {
        let value = pick(values);
        match place.as_str() {
            "path" => path = path.replace(&format!("{{{name}}}"), &encode(&value)),
            "query" => query.push(format!("{}={}", encode(name), encode(&value))),
            "header" => {
                headers.insert(name.clone(), Value::String(value));
            }
            _ => {}
        }
    }
    if let Some(left) = path.split('{').nth(1) {
        let name = left.split('}').next().unwrap_or(left);
        return Err(format!("its path parameter {{{name}}} is not described"));
    }
    if !query.is_empty() {
        path = format!("{path}?{}", query.join("&"));
    }
    let mut line = Map::new();
    line.insert("method".into(), json!(method));
    line.insert("path".into(), json!(path));
    if !headers.is_empty() {
        line.insert("headers".into(), Value::Object(headers));
    }
    if let Some(body) = body {
        line.insert("body".into(), body.clone());
    }
    Ok(line)
}

/// Percent-encodes all but RFC 3986's unreserved characters.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The lines, each named, in turns: one request of every operation per turn, and as many
/// turns as the longest list of cycled values, so that every operation gets the same share
/// (the rotation of lines of equal weight is their order) and its values come in turn.
fn interleaved(operations: Vec<(String, Vec<Map<String, Value>>)>) -> Result<String, String> {
    let turns = operations.iter().map(|(_, l)| l.len()).max().unwrap_or(0);
    if turns * operations.len() > crate::run::mix::MAX_LINES {
        return Err(format!(
            "--param: {turns} values for each of {} operations is over {} requests; use a \
             shorter range",
            operations.len(),
            crate::run::mix::MAX_LINES
        ));
    }
    let mut text = String::new();
    for turn in 0..turns {
        for (name, lines) in &operations {
            let mut line = lines[turn % lines.len()].clone();
            line.insert("name".into(), json!(name));
            text += &Value::Object(line).to_string();
            text.push('\n');
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn discovery() -> Discovery {
        Discovery {
            methods: vec!["GET".into(), "POST".into()],
            filters: Vec::new(),
            excludes: Vec::new(),
            params: Vec::new(),
            operation_ids: false,
        }
    }

    fn lines(found: &Discovered) -> Vec<Value> {
        found
            .lines
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// A hand-written 3.0 document with examples, a shared parameter, a header and a body of
    /// another media type.
    /// The FastAPI document as block YAML (its `200:` keys unquoted, as hand-written
    /// documents have them) reads as the JSON does; broken documents say why in one line.
    #[test]
    fn a_yaml_document_reads_as_its_json() {
        let json: Value =
            serde_json::from_str(include_str!("../../../tests/openapi/fastapi-3.1.json")).unwrap();
        let yaml = include_str!("../../../tests/openapi/fastapi-3.1.yaml");
        assert!(yaml.contains("\n        200:\n"));
        assert_eq!(parse_document(yaml.as_bytes()).unwrap(), json);
        let numbered = parse_document(b"openapi: 3.0\npaths:\n  /a:\n    get: {}\n").unwrap();
        let found = discover(&numbered, &discovery()).expect("a 3.0 written as a number");
        assert_eq!(found.targets, 1);
        let cases: [(&[u8], &str); 4] = [
            (
                b"{\"openapi\": ",
                "is not a JSON document (EOF while parsing",
            ),
            (
                b"a: [1, 2\nb: }",
                "is neither a JSON nor a YAML document (YAML: line 2",
            ),
            (
                b"<html>not found</html>",
                "is neither a JSON nor a YAML document (no mapping",
            ),
            (
                b"\xff\xfe",
                "is neither a JSON nor a YAML document (YAML: not UTF-8 text)",
            ),
        ];
        for (text, says) in cases {
            let error = parse_document(text).unwrap_err();
            assert!(error.starts_with(says), "{error}");
            assert_eq!(error.lines().count(), 1, "{error}");
        }
    }

    const DOC_30: &str = r##"{"openapi": "3.0.3", "info": {"title": "t", "version": "1"},
      "components": {
        "parameters": {"Limit": {"name": "limit", "in": "query", "required": true,
                                 "schema": {"type": "integer", "default": 10}}},
        "schemas": {"Order": {"type": "object", "required": ["sku", "qty"],
                              "properties": {"sku": {"type": "string", "example": "A-1"},
                                             "qty": {"type": "integer", "minimum": 1}}}}},
      "paths": {
        "/orders/{order_id}": {
          "parameters": [{"name": "order_id", "in": "path", "required": true,
                          "schema": {"type": "integer"}, "example": 42}],
          "get": {"operationId": "getOrder",
                  "parameters": [{"name": "X-Tenant", "in": "header", "required": true,
                                  "schema": {"type": "string", "enum": ["acme", "other"]}}]},
          "delete": {}},
        "/orders": {
          "get": {"parameters": [{"$ref": "#/components/parameters/Limit"},
                                 {"name": "q", "in": "query", "schema": {"type": "string"}}]},
          "post": {"requestBody": {"required": true, "content": {"application/json":
                   {"schema": {"$ref": "#/components/schemas/Order"}}}}}},
        "/upload": {"post": {"requestBody": {"required": true,
                   "content": {"multipart/form-data": {"schema": {"type": "object"}}}}}},
        "/admin/stats": {"get": {}}}}"##;

    #[test]
    fn a_30_document_becomes_a_mix() {
        let doc: Value = serde_json::from_str(DOC_30).unwrap();
        let found = discover(&doc, &discovery()).unwrap();
        assert_eq!(
            lines(&found),
            [
                json!({"name": "GET /admin/stats", "method": "GET", "path": "/admin/stats"}),
                json!({"name": "GET /orders", "method": "GET", "path": "/orders?limit=10"}),
                json!({"name": "POST /orders", "method": "POST", "path": "/orders",
                       "body": {"sku": "A-1", "qty": 1}}),
                json!({"name": "GET /orders/{order_id}", "method": "GET", "path": "/orders/42",
                       "headers": {"X-Tenant": "acme"}}),
            ]
        );
        assert_eq!(found.targets, 4);
        assert_eq!(
            found.skipped,
            [(
                "POST /upload".to_string(),
                "its required body is multipart/form-data, not JSON".to_string()
            )]
        );
    }

    #[test]
    fn filters_ranges_and_operation_ids() {
        let doc: Value = serde_json::from_str(DOC_30).unwrap();
        let mut wanted = discovery();
        wanted.filters = vec!["/orders".into()];
        wanted.excludes = vec!["/orders/".into()];
        wanted.methods = vec!["GET".into()];
        let found = discover(&doc, &wanted).unwrap();
        assert_eq!(lines(&found).len(), 1, "{}", found.lines);
        wanted.excludes.clear();
        wanted.operation_ids = true;
        wanted.params = vec![
            parse_param("order_id=1-3").unwrap(),
            parse_param("q=a b").unwrap(),
        ];
        let found = lines(&discover(&doc, &wanted).unwrap());
        let paths: Vec<(&str, &str)> = found
            .iter()
            .map(|l| (l["name"].as_str().unwrap(), l["path"].as_str().unwrap()))
            .collect();
        // In turns: every operation once per turn, the cycled values in order.
        let all = "/orders?limit=10&q=a%20b";
        assert_eq!(
            paths,
            [
                ("GET /orders", all),
                ("getOrder", "/orders/1"),
                ("GET /orders", all),
                ("getOrder", "/orders/2"),
                ("GET /orders", all),
                ("getOrder", "/orders/3"),
            ]
        );
    }

    /// FastAPI's own 3.1 output (scripts/api_app.py's, saved): `anyOf` with null, an enum
    /// through `$ref`, a nested model list, a bounded float, operation ids.
    #[test]
    fn fastapis_31_document_becomes_a_mix() {
        let doc: Value =
            serde_json::from_str(include_str!("../../../tests/openapi/fastapi-3.1.json")).unwrap();
        let mut wanted = discovery();
        wanted.operation_ids = true;
        let found = discover(&doc, &wanted).unwrap();
        let by_name: Vec<(String, Value)> = lines(&found)
            .into_iter()
            .map(|l| (l["name"].as_str().unwrap().to_string(), l))
            .collect();
        let line = |name: &str| &by_name.iter().find(|(n, _)| n == name).unwrap().1;
        assert_eq!(found.targets, 7, "{}", found.lines);
        assert_eq!(line("read_item")["path"], "/api/items/1");
        // Optional query parameters (limit has a default) are sent only when --param names them.
        assert_eq!(line("list_items_api_items_get")["path"], "/api/items");
        assert_eq!(
            line("create_item_api_items_post")["body"],
            json!({"name": "string", "kind": "tool", "price": 1.0, "tags": [{"name": "string"}]})
        );
        assert_eq!(found.skipped.len(), 1);
        assert!(found.skipped[0].0.starts_with("upload_api_upload_post"));
    }

    #[test]
    fn bad_params_and_empty_mixes_are_refused() {
        let doc: Value = serde_json::from_str(DOC_30).unwrap();
        for bad in ["x", "=1", "n=", "n=5-1", "n=1-20000"] {
            assert!(parse_param(bad).is_err(), "{bad}");
        }
        let mut wanted = discovery();
        wanted.params = vec![parse_param("nope=1").unwrap()];
        assert_eq!(
            discover(&doc, &wanted).err().unwrap(),
            "--param nope: no operation of the OpenAPI document has a parameter of that name"
        );
        wanted.params.clear();
        wanted.filters = vec!["/nothing".into()];
        let none = discover(&doc, &wanted).err().unwrap();
        assert!(
            none.starts_with("--openapi: the document has no GET or POST operation"),
            "{none}"
        );
        let not_openapi = json!({"swagger": "2.0", "paths": {}});
        assert!(discover(&not_openapi, &discovery()).is_err());
    }
}

//! A value that fits a JSON Schema of an OpenAPI document: the schema's own example when it
//! has one, otherwise one built from its type (required properties only, `$ref`s resolved,
//! `allOf` merged, the first of `anyOf`/`oneOf`, the first `enum` value).

use serde_json::{Map, Value, json};

/// How deep schemas may nest (a `$ref` that leads back to itself stops here).
const MAX_DEPTH: usize = 16;

/// The document the schemas' `$ref`s point into.
pub struct Document<'a> {
    pub root: &'a Value,
}

impl Document<'_> {
    /// The schema a local `$ref` (`#/components/schemas/Item`) points at.
    pub fn resolve<'v>(&'v self, reference: &str) -> Result<&'v Value, String> {
        let pointer = reference
            .strip_prefix('#')
            .ok_or_else(|| format!("$ref '{reference}' is not in this document"))?;
        let pointer = pointer.replace("~1", "/").replace("~0", "~");
        self.root
            .pointer(&pointer)
            .ok_or_else(|| format!("$ref '{reference}' points at nothing"))
    }

    /// An example of `schema`.
    pub fn example(&self, schema: &Value) -> Result<Value, String> {
        self.example_at(schema, 0)
    }

    fn example_at(&self, schema: &Value, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Ok(Value::Null);
        }
        let Some(fields) = schema.as_object() else {
            // `true` (anything) or `{}`.
            return Ok(Value::Null);
        };
        if let Some(reference) = fields.get("$ref").and_then(Value::as_str) {
            return self.example_at(self.resolve(reference)?, depth + 1);
        }
        if let Some(given) = given_value(fields) {
            return Ok(given);
        }
        if let Some(parts) = fields.get("allOf").and_then(Value::as_array) {
            return self.all_of(parts, depth);
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(options) = fields.get(key).and_then(Value::as_array) {
                let option = options.iter().find(|o| !is_null_type(o));
                return self.example_at(option.unwrap_or(&Value::Null), depth + 1);
            }
        }
        match type_of(fields) {
            Some("object") => self.object(fields, depth),
            Some("array") => {
                let items = fields.get("items").unwrap_or(&Value::Null);
                Ok(json!([self.example_at(items, depth + 1)?]))
            }
            Some("integer") => Ok(json!(integer(fields))),
            Some("number") => Ok(json!(number(fields))),
            Some("string") => Ok(json!(string(fields))),
            Some("boolean") => Ok(json!(true)),
            _ => Ok(Value::Null),
        }
    }

    /// Every part's object, merged.
    fn all_of(&self, parts: &[Value], depth: usize) -> Result<Value, String> {
        let mut merged = Map::new();
        for part in parts {
            match self.example_at(part, depth + 1)? {
                Value::Object(fields) => merged.extend(fields),
                // A single non-object part (`allOf: [{$ref: Enum}]`, as pydantic writes).
                other if parts.len() == 1 => return Ok(other),
                _ => {}
            }
        }
        Ok(Value::Object(merged))
    }

    /// The required properties, each with its example.
    fn object(&self, fields: &Map<String, Value>, depth: usize) -> Result<Value, String> {
        let mut object = Map::new();
        let properties = fields.get("properties").and_then(Value::as_object);
        let required = fields.get("required").and_then(Value::as_array);
        for name in required.into_iter().flatten().filter_map(Value::as_str) {
            let schema = properties.and_then(|p| p.get(name)).unwrap_or(&Value::Null);
            object.insert(name.to_string(), self.example_at(schema, depth + 1)?);
        }
        Ok(Value::Object(object))
    }
}

/// The value the schema gives itself: `example`, the first of `examples`, `default`, `const`,
/// or the first `enum` value.
pub fn given_value(fields: &Map<String, Value>) -> Option<Value> {
    if let Some(example) = fields.get("example") {
        return Some(example.clone());
    }
    let first = |key| fields.get(key).and_then(Value::as_array)?.first().cloned();
    first("examples")
        .or_else(|| fields.get("default").cloned())
        .or_else(|| fields.get("const").cloned())
        .or_else(|| first("enum"))
}

/// The schema's type: 3.0's string, or 3.1's list (its first that is not `null`); an object
/// when it has properties but no type.
fn type_of(fields: &Map<String, Value>) -> Option<&str> {
    match fields.get("type") {
        Some(Value::String(t)) => Some(t),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null"),
        _ if fields.contains_key("properties") => Some("object"),
        _ => None,
    }
}

fn is_null_type(schema: &Value) -> bool {
    schema.get("type").and_then(Value::as_str) == Some("null")
}

/// 1, moved inside `minimum`/`maximum` (and their exclusive forms).
fn integer(fields: &Map<String, Value>) -> i64 {
    let bound = |key| fields.get(key).and_then(Value::as_f64);
    let mut value = 1.0f64;
    if let Some(min) = bound("minimum") {
        value = value.max(min.ceil());
    }
    if let Some(min) = bound("exclusiveMinimum") {
        value = value.max(min.floor() + 1.0);
    }
    if let Some(max) = bound("maximum") {
        value = value.min(max.floor());
    }
    if let Some(max) = bound("exclusiveMaximum") {
        value = value.min(max.ceil() - 1.0);
    }
    value as i64
}

fn number(fields: &Map<String, Value>) -> f64 {
    let bound = |key| fields.get(key).and_then(Value::as_f64);
    let mut value = 1.0f64;
    if let Some(min) = bound("minimum").or(bound("exclusiveMinimum")) {
        value = value.max(min + f64::from(u8::from(bound("minimum").is_none())));
    }
    if let Some(max) = bound("maximum").or(bound("exclusiveMaximum")) {
        value = value.min(max);
    }
    value
}

/// A string of the schema's format, at least `minLength` long and at most `maxLength`.
fn string(fields: &Map<String, Value>) -> String {
    let text = match fields.get("format").and_then(Value::as_str) {
        Some("date-time") => "2026-01-01T00:00:00Z",
        Some("date") => "2026-01-01",
        Some("time") => "00:00:00",
        Some("uuid") => "00000000-0000-4000-8000-000000000000",
        Some("email") => "user@example.com",
        Some("uri" | "url") => "http://example.com/",
        Some("ipv4") => "127.0.0.1",
        _ => "string",
    };
    let length = |key| fields.get(key).and_then(Value::as_u64).map(|n| n as usize);
    let mut text = text.to_string();
    if let Some(min) = length("minLength").filter(|&m| m > text.len()) {
        text += &"x".repeat(min - text.len());
    }
    if let Some(max) = length("maxLength").filter(|&m| m < text.len()) {
        text.truncate(max);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(root: &Value, schema: Value) -> Value {
        Document { root }.example(&schema).unwrap()
    }

    #[test]
    fn builds_required_properties_through_refs() {
        let root = json!({"components": {"schemas": {
            "Kind": {"type": "string", "enum": ["cat", "dog"]},
            "Tag": {"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string", "minLength": 8}, "note": {"type": "string"}}},
            "Item": {"type": "object", "required": ["id", "kind", "tags", "price", "owner"],
                "properties": {
                    "id": {"type": "integer", "minimum": 1, "maximum": 2000},
                    "kind": {"$ref": "#/components/schemas/Kind"},
                    "tags": {"type": "array", "items": {"$ref": "#/components/schemas/Tag"}},
                    "price": {"anyOf": [{"type": "number", "exclusiveMinimum": 5}, {"type": "null"}]},
                    "owner": {"allOf": [{"type": "object", "required": ["email"],
                        "properties": {"email": {"type": "string", "format": "email"}}},
                        {"type": "object", "required": ["age"], "properties": {"age": {"type": ["integer", "null"], "default": 30}}}]},
                    "optional": {"type": "string"}}}}}});
        let item = example(&root, json!({"$ref": "#/components/schemas/Item"}));
        assert_eq!(
            item,
            json!({"id": 1, "kind": "cat", "tags": [{"name": "stringxx"}], "price": 6.0,
                   "owner": {"email": "user@example.com", "age": 30}})
        );
    }

    #[test]
    fn a_schema_example_wins_and_bounds_hold() {
        let root = json!({});
        assert_eq!(
            example(&root, json!({"type": "object", "example": {"x": [1]}})),
            json!({"x": [1]})
        );
        assert_eq!(
            example(&root, json!({"type": "integer", "examples": [7]})),
            json!(7)
        );
        assert_eq!(
            example(&root, json!({"type": "integer", "minimum": 10})),
            json!(10)
        );
        assert_eq!(
            example(&root, json!({"type": "integer", "maximum": -3})),
            json!(-3)
        );
        assert_eq!(
            example(&root, json!({"type": "integer", "exclusiveMaximum": 0})),
            json!(-1)
        );
        assert_eq!(
            example(&root, json!({"type": "string", "maxLength": 3})),
            json!("str")
        );
        assert_eq!(example(&root, json!({"const": "v1"})), json!("v1"));
    }

    #[test]
    fn a_ref_to_itself_stops_and_a_missing_one_is_an_error() {
        let root = json!({"components": {"schemas": {"Node": {"type": "object",
            "required": ["next"], "properties": {"next": {"$ref": "#/components/schemas/Node"}}}}}});
        let node = example(&root, json!({"$ref": "#/components/schemas/Node"}));
        assert!(node.pointer("/next/next/next").is_some(), "{node}");
        let missing =
            Document { root: &root }.example(&json!({"$ref": "#/components/schemas/Gone"}));
        assert_eq!(
            missing,
            Err("$ref '#/components/schemas/Gone' points at nothing".into())
        );
        let external = Document { root: &root }.example(&json!({"$ref": "other.json#/X"}));
        assert_eq!(
            external,
            Err("$ref 'other.json#/X' is not in this document".into())
        );
    }
}

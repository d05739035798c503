//! A made-up example from a JSON schema, for operations that give none. Deterministic (the same
//! schema always gives the same value) and bounded: recursive schemas stop at a fixed depth and a
//! node budget caps very wide ones.

use serde_json::{Map, Value, json};

use super::refs::Refs;

/// Objects and arrays nested deeper than this are cut off (an empty array, or `null`).
const MAX_DEPTH: usize = 8;
/// At most this many values in one generated example.
const MAX_NODES: usize = 5_000;

/// Generates a value for `schema`, preferring what the schema itself offers (`example`,
/// `default`, `const`, the first `enum` entry) over made-up values.
pub(crate) fn generate(refs: Refs<'_>, schema: &Value) -> Value {
    Generator { refs, nodes: 0 }.value(schema, 0)
}

struct Generator<'a> {
    refs: Refs<'a>,
    nodes: usize,
}

impl Generator<'_> {
    fn value(&mut self, schema: &Value, depth: usize) -> Value {
        self.nodes += 1;
        if depth > MAX_DEPTH || self.nodes > MAX_NODES {
            return Value::Null;
        }
        let Some(schema) = self.refs.get(schema) else {
            return Value::Null;
        };
        if let Some(offered) = offered_value(schema) {
            return offered;
        }
        if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
            return self.all_of(parts, depth);
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(first) = schema.get(key).and_then(|v| v.get(0)) {
                return self.value(first, depth + 1);
            }
        }
        match schema_type(schema) {
            Some("object") => self.object(schema, depth),
            Some("array") => match schema.get("items") {
                Some(items) if depth < MAX_DEPTH => json!([self.value(items, depth + 1)]),
                _ => json!([]),
            },
            Some("string") => Value::String(string_for(schema)),
            Some("integer") => json!(number_bound(schema).map_or(0, |n| n.ceil() as i64)),
            Some("number") => json!(number_bound(schema).unwrap_or(0.0)),
            Some("boolean") => Value::Bool(true),
            _ => Value::Null,
        }
    }

    fn object(&mut self, schema: &Value, depth: usize) -> Value {
        let mut object = Map::new();
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (name, property) in properties {
                let value = self.value(property, depth + 1);
                object.insert(name.clone(), value);
            }
        }
        Value::Object(object)
    }

    fn all_of(&mut self, parts: &[Value], depth: usize) -> Value {
        let mut merged = Map::new();
        for part in parts {
            match self.value(part, depth + 1) {
                Value::Object(object) => merged.extend(object),
                Value::Null => {}
                other if merged.is_empty() => return other,
                _ => {}
            }
        }
        Value::Object(merged)
    }
}

/// A value the schema states itself: OpenAPI's `example`, 3.1's `examples` list, `default`,
/// `const` or the first `enum` entry.
fn offered_value(schema: &Value) -> Option<Value> {
    schema
        .get("example")
        .or_else(|| schema.get("examples").and_then(|e| e.get(0)))
        .or_else(|| schema.get("default"))
        .or_else(|| schema.get("const"))
        .or_else(|| schema.get("enum").and_then(|e| e.get(0)))
        .cloned()
}

/// The schema's type; 3.1 allows a list (`["string", "null"]`), whose first non-null entry counts.
/// Without a type, properties mean an object and items an array.
fn schema_type(schema: &Value) -> Option<&str> {
    match schema.get("type") {
        Some(Value::String(kind)) => Some(kind),
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|kind| *kind != "null"),
        _ if schema.get("properties").is_some() => Some("object"),
        _ if schema.get("items").is_some() => Some("array"),
        _ => None,
    }
}

fn number_bound(schema: &Value) -> Option<f64> {
    schema
        .get("minimum")
        .or_else(|| schema.get("exclusiveMinimum"))
        .and_then(Value::as_f64)
}

fn string_for(schema: &Value) -> String {
    let text = match schema.get("format").and_then(Value::as_str) {
        Some("date-time") => "2024-01-01T00:00:00Z",
        Some("date") => "2024-01-01",
        Some("time") => "00:00:00",
        Some("uuid") => "00000000-0000-4000-8000-000000000000",
        Some("email") => "user@example.com",
        Some("uri" | "url" | "uri-reference") => "https://example.com",
        Some("hostname") => "example.com",
        Some("ipv4") => "192.0.2.1",
        Some("ipv6") => "2001:db8::1",
        Some("byte") => "c3RyaW5n",
        Some("binary") => "",
        _ => "string",
    };
    // Held to the schema's lengths: padded with `x`, or cut (a currency code is 3 long).
    let length = |name: &str| {
        schema
            .get(name)
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
    };
    let mut text = text.to_owned();
    if let Some(min) = length("minLength") {
        while text.len() < min {
            text.push('x');
        }
    }
    if let Some(max) = length("maxLength") {
        text.truncate(max);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_arrays_and_formats_are_generated_deterministically() {
        let root = json!({
            "Pet": {"type": "object", "properties": {
                "id": {"type": "integer", "minimum": 1},
                "born": {"type": "string", "format": "date"},
                "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}},
                "kind": {"type": "string", "example": "cat"}
            }}
        });
        let schema = json!({"$ref": "#/Pet"});
        let value = generate(Refs::new(&root), &schema);
        assert_eq!(
            value,
            json!({"id": 1, "born": "2024-01-01", "tags": ["a"], "kind": "cat"})
        );
        assert_eq!(value, generate(Refs::new(&root), &schema));
    }

    #[test]
    fn recursive_schemas_stop() {
        let root = json!({"Node": {"type": "object", "properties": {
            "children": {"type": "array", "items": {"$ref": "#/Node"}},
            "parent": {"$ref": "#/Node"}
        }}});
        let value = generate(Refs::new(&root), &json!({"$ref": "#/Node"}));
        let text = value.to_string();
        assert!(text.len() < 2_000_000, "bounded: {} bytes", text.len());
        assert!(value["parent"]["parent"].is_object());
    }

    #[test]
    fn all_of_merges_and_one_of_takes_the_first() {
        let root = json!({});
        let schema = json!({"allOf": [
            {"properties": {"a": {"type": "boolean"}}},
            {"oneOf": [{"properties": {"b": {"type": "number"}}}, {"type": "string"}]}
        ]});
        assert_eq!(
            generate(Refs::new(&root), &schema),
            json!({"a": true, "b": 0.0})
        );
    }
}

//! What differs between an upstream's answer and an example's response: the status, the media
//! type, the headers the example names (but those that change from answer to answer), and,
//! when both bodies are JSON, their shape: which fields there are and what type each holds, by
//! a JSONPath-like path (`$.user.email`, `$.items[*].id`). An array's shape is the union of
//! its elements'. Values are not compared: ids and times differ from any example.

use std::collections::{BTreeMap, BTreeSet};

use lyrebird_engine::render::json_shaped;
use lyrebird_engine::request::media_type;
use lyrebird_engine::{Example, ResponseSpec};
use lyrebird_runtime::upstream::Answered;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// Differences kept per example; past them, a note says how many more there were.
const MAX_DIFFERENCES: usize = 50;

/// Response headers whose value, or presence, changes from one answer to the next, or that
/// belong to the connection: an example naming them says nothing of the API.
const VOLATILE: [&str; 11] = [
    "age",
    "connection",
    "content-length",
    "date",
    "etag",
    "expires",
    "keep-alive",
    "last-modified",
    "server",
    "set-cookie",
    "transfer-encoding",
];

/// How an answer departs from the example.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// Another status (`path`: `status`).
    Status,
    /// Another media type, parameters aside (`path`: `content-type`).
    ContentType,
    /// A header the example's response names is not in the answer (`path`: its name).
    HeaderMissing,
    /// A field of the answer's JSON that the example's has not.
    FieldAdded,
    /// A field of the example's JSON that the answer's has not.
    FieldMissing,
    /// The same place holds another type: `string`, `number`, `boolean`, `null`, `object` or
    /// `array` (several, joined by `|`, where an array's elements differ).
    TypeChanged,
    /// The example breaks the mock's OpenAPI contract (`path`: where in the example;
    /// `expected`: the schema keyword's place in the document; `actual`: what is wrong).
    Contract,
}

/// One difference: where, what the example has and what the upstream answered (`null` for
/// nothing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DriftDifference {
    pub kind: DriftKind,
    pub path: String,
    pub expected: Value,
    pub actual: Value,
}

/// The differences found, and what was not compared, and why.
#[derive(Debug, Default)]
pub(super) struct Compared {
    pub differences: Vec<DriftDifference>,
    pub notes: Vec<String>,
}

impl Compared {
    fn differ(&mut self, kind: DriftKind, path: impl Into<String>, expected: Value, actual: Value) {
        self.differences.push(DriftDifference {
            kind,
            path: path.into(),
            expected,
            actual,
        });
    }
}

/// `answered` compared with what `example` answers; `head` when the request was a `HEAD`,
/// whose answer has no body.
pub(super) fn compare(example: &Example, head: bool, answered: &Answered) -> Compared {
    let mut compared = Compared::default();
    let response = match example.sequence.as_ref().and_then(|s| s.responses.first()) {
        Some(first) => {
            compared
                .notes
                .push("a sequence: compared with its first response".to_owned());
            first
        }
        None => &example.response,
    };
    if response.status != answered.status {
        compared.differ(
            DriftKind::Status,
            "status",
            response.status.into(),
            answered.status.into(),
        );
    }
    let received = |name: &str| {
        answered
            .headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    };
    let expected_type = sent_media_type(response);
    let actual_type = received("content-type").map(media_type);
    if let Some(expected) = &expected_type
        && actual_type.as_ref() != Some(expected)
    {
        compared.differ(
            DriftKind::ContentType,
            "content-type",
            expected.as_str().into(),
            actual_type.clone().into(),
        );
    }
    let mut named = BTreeSet::new();
    for header in &response.headers {
        let name = header.name.to_ascii_lowercase();
        let compared_otherwise = name == "content-type" || VOLATILE.contains(&name.as_str());
        if !compared_otherwise && received(&name).is_none() && named.insert(name.clone()) {
            compared.differ(
                DriftKind::HeaderMissing,
                name,
                header.value.as_str().into(),
                Value::Null,
            );
        }
    }
    let types = (expected_type.as_deref(), actual_type.as_deref());
    compare_bodies(response, types, head, &answered.body, &mut compared);
    let found = compared.differences.len();
    if found > MAX_DIFFERENCES {
        compared.differences.truncate(MAX_DIFFERENCES);
        compared.notes.push(format!(
            "{} more differences left out",
            found - MAX_DIFFERENCES
        ));
    }
    compared
}

/// The shapes of the bodies, when both are JSON; `types` are their media types, the example's
/// and the answer's.
fn compare_bodies(
    response: &ResponseSpec,
    (expected_type, actual_type): (Option<&str>, Option<&str>),
    head: bool,
    answered: &[u8],
    compared: &mut Compared,
) {
    let Some(body) = &response.body else {
        return;
    };
    if response.template {
        let note = "the body is a template: its shape is not compared";
        compared.notes.push(note.to_owned());
        return;
    }
    if head {
        let note = "a HEAD is answered without a body: its shape is not compared";
        compared.notes.push(note.to_owned());
        return;
    }
    let expected = match body {
        Value::String(text) if expected_type.is_some_and(is_json) => {
            serde_json::from_str(text).ok()
        }
        Value::String(_) => None,
        value => Some(value.clone()),
    };
    let Some(expected) = expected else {
        return;
    };
    let actual = actual_type
        .filter(|media| is_json(media))
        .and_then(|_| serde_json::from_slice::<Value>(answered).ok());
    match actual {
        Some(actual) => {
            shape_differences(&Shape::of(&expected), &Shape::of(&actual), "$", compared)
        }
        None => compared
            .notes
            .push("the upstream's body is not JSON: its shape is not compared".to_owned()),
    }
}

/// The media type an example's response is sent with: its `Content-Type`, or JSON for a body
/// the engine sends as JSON; `None` when it names none.
fn sent_media_type(response: &ResponseSpec) -> Option<String> {
    let declared = response
        .headers
        .iter()
        .find(|header| header.name.eq_ignore_ascii_case("content-type"));
    match (declared, &response.body) {
        (Some(header), _) => Some(media_type(&header.value)),
        (None, Some(Value::String(text))) if json_shaped(text, response.template) => {
            Some("application/json".to_owned())
        }
        (None, Some(Value::String(_)) | None) => None,
        (None, Some(_)) => Some("application/json".to_owned()),
    }
}

fn is_json(media: &str) -> bool {
    media == "application/json" || media.ends_with("+json")
}

/// The shape of a JSON value, or of several (an array's elements): the types found at a place,
/// and below it the fields of its objects and the elements of its arrays.
#[derive(Debug, Default)]
struct Shape {
    types: BTreeSet<&'static str>,
    fields: BTreeMap<String, Shape>,
    elements: Option<Box<Shape>>,
}

impl Shape {
    fn of(value: &Value) -> Self {
        let mut shape = Self::default();
        shape.add(value);
        shape
    }

    fn add(&mut self, value: &Value) {
        self.types.insert(match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        });
        match value {
            Value::Object(fields) => {
                for (name, field) in fields {
                    self.fields.entry(name.clone()).or_default().add(field);
                }
            }
            Value::Array(elements) => {
                for element in elements {
                    self.elements.get_or_insert_default().add(element);
                }
            }
            _ => {}
        }
    }

    fn types(&self) -> Value {
        let types: Vec<&str> = self.types.iter().copied().collect();
        types.join("|").into()
    }
}

fn shape_differences(expected: &Shape, actual: &Shape, path: &str, compared: &mut Compared) {
    if expected.types != actual.types {
        compared.differ(
            DriftKind::TypeChanged,
            path,
            expected.types(),
            actual.types(),
        );
    }
    if expected.types.contains("object") && actual.types.contains("object") {
        let names: BTreeSet<&String> = expected.fields.keys().chain(actual.fields.keys()).collect();
        for name in names {
            let at = field_path(path, name);
            match (expected.fields.get(name), actual.fields.get(name)) {
                (Some(expected), Some(actual)) => {
                    shape_differences(expected, actual, &at, compared);
                }
                (Some(expected), None) => {
                    compared.differ(DriftKind::FieldMissing, at, expected.types(), Value::Null);
                }
                (None, Some(actual)) => {
                    compared.differ(DriftKind::FieldAdded, at, Value::Null, actual.types());
                }
                (None, None) => {}
            }
        }
    }
    if let (Some(expected), Some(actual)) = (&expected.elements, &actual.elements) {
        shape_differences(expected, actual, &format!("{path}[*]"), compared);
    }
}

/// `$.name`, or `$['a name']` for a name that is not a plain identifier.
fn field_path(parent: &str, name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if plain {
        format!("{parent}.{name}")
    } else {
        let quoted = name.replace('\\', "\\\\").replace('\'', "\\'");
        format!("{parent}['{quoted}']")
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Bytes;
    use serde_json::json;

    use super::*;

    fn answered(status: u16, content_type: &str, body: &str) -> Answered {
        Answered {
            status,
            headers: vec![("content-type".to_owned(), content_type.to_owned())],
            body: Bytes::from(body.to_owned()),
        }
    }

    fn example(response: Value) -> Example {
        serde_json::from_value(json!({"name": "e", "response": response})).unwrap()
    }

    fn differences(
        example: &Example,
        answered: &Answered,
    ) -> Vec<(DriftKind, String, Value, Value)> {
        compare(example, false, answered)
            .differences
            .into_iter()
            .map(|d| (d.kind, d.path, d.expected, d.actual))
            .collect()
    }

    #[test]
    fn a_renamed_field_is_one_missing_and_one_added_and_values_do_not_count() {
        let example =
            example(json!({"body": {"user": {"id": 1, "name": "Ada"}, "items": [{"id": 1}]}}));
        let upstream = answered(
            200,
            "application/json; charset=utf-8",
            r#"{"user": {"id": 2, "full_name": "Ada L."}, "items": [{"id": 7}, {"id": 8, "sku": "x"}]}"#,
        );
        assert_eq!(
            differences(&example, &upstream),
            [
                (
                    DriftKind::FieldAdded,
                    "$.items[*].sku".to_owned(),
                    Value::Null,
                    json!("string")
                ),
                (
                    DriftKind::FieldAdded,
                    "$.user.full_name".to_owned(),
                    Value::Null,
                    json!("string")
                ),
                (
                    DriftKind::FieldMissing,
                    "$.user.name".to_owned(),
                    json!("string"),
                    Value::Null
                ),
            ]
        );
    }

    #[test]
    fn types_status_media_type_and_named_headers_are_compared() {
        let example = example(json!({
            "status": 200,
            "headers": [
                {"name": "Content-Type", "value": "application/json"},
                {"name": "X-Rate-Limit", "value": "100"},
                {"name": "Date", "value": "Tue, 01 Jan 2030 00:00:00 GMT"}
            ],
            "body": "{\"id\": 1, \"tags\": [\"a\"], \"odd name\": true}"
        }));
        let upstream = answered(
            201,
            "application/problem+json",
            r#"{"id": "1", "tags": [1, null], "odd name": true}"#,
        );
        assert_eq!(
            differences(&example, &upstream),
            [
                (
                    DriftKind::Status,
                    "status".to_owned(),
                    json!(200),
                    json!(201)
                ),
                (
                    DriftKind::ContentType,
                    "content-type".to_owned(),
                    json!("application/json"),
                    json!("application/problem+json")
                ),
                (
                    DriftKind::HeaderMissing,
                    "x-rate-limit".to_owned(),
                    json!("100"),
                    Value::Null
                ),
                (
                    DriftKind::TypeChanged,
                    "$.id".to_owned(),
                    json!("number"),
                    json!("string")
                ),
                (
                    DriftKind::TypeChanged,
                    "$.tags[*]".to_owned(),
                    json!("string"),
                    json!("null|number")
                ),
            ]
        );
    }

    #[test]
    fn a_template_a_head_or_a_body_that_is_not_json_is_said_not_compared() {
        let template = example(json!({"body": "{\"id\": {{ path.id }}}", "template": true}));
        let upstream = answered(200, "application/json", r#"{"other": 1}"#);
        let compared = compare(&template, false, &upstream);
        assert!(compared.differences.is_empty());
        assert_eq!(
            compared.notes,
            ["the body is a template: its shape is not compared"]
        );
        let json = example(json!({"body": {"id": 1}}));
        assert!(compare(&json, true, &upstream).notes[0].starts_with("a HEAD"));
        let html = answered(200, "text/html", "<p>moved</p>");
        let compared = compare(&json, false, &html);
        assert_eq!(compared.differences[0].kind, DriftKind::ContentType);
        assert_eq!(
            compared.notes,
            ["the upstream's body is not JSON: its shape is not compared"]
        );
    }
}

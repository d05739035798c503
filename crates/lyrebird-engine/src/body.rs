//! Body conditions, compiled: text compared byte for byte, JSON compared semantically (or by
//! containment), XML compared structurally through [`crate::xml`], and form parameters.
//!
//! The expected side is parsed once at compile time; the request side is parsed at most once per
//! request through the caches of [`Request`]. JSON comparison recurses at most [`MAX_JSON_DEPTH`]
//! levels, so even a document built by hand (not through serde_json's own nesting limit) cannot
//! exhaust the stack.

use serde_json::Value;

use crate::error::ValidationError;
use crate::explain::Failure;
use crate::model::{BodyMatch, JsonMode};
use crate::request::{Request, percent_decode};
use crate::value::ValueCheck;
use crate::xml::{self, XmlDoc};

/// Deeper JSON is treated as different rather than compared.
const MAX_JSON_DEPTH: usize = 256;

#[derive(Debug, Clone)]
pub(crate) enum BodyCheck {
    None,
    /// `form` holds the text parsed as form parameters when it is valid form data, for form
    /// requests (docs/matching.md, "Levels with a form body").
    Text {
        bytes: Vec<u8>,
        form: Option<Vec<(String, ValueCheck)>>,
    },
    Json {
        value: Value,
        mode: JsonMode,
    },
    Xml(Box<XmlDoc>),
    Form(Vec<(String, ValueCheck)>),
    /// The catch-all: any request with a body. An empty text rule means the same
    /// (docs/examples-format.md, "Body conditions").
    Any,
}

impl BodyCheck {
    /// The condition's kind as the explanations name it; `None` for no condition.
    pub(crate) fn kind(&self) -> Option<&'static str> {
        match self {
            BodyCheck::None => None,
            BodyCheck::Text { .. } => Some("text"),
            BodyCheck::Json { .. } => Some("json"),
            BodyCheck::Xml(_) => Some("xml"),
            BodyCheck::Form(_) => Some("form"),
            BodyCheck::Any => Some("any"),
        }
    }

    pub(crate) fn compile(body: &BodyMatch) -> Result<Self, Vec<ValidationError>> {
        Ok(match body {
            BodyMatch::None {} => Self::None,
            BodyMatch::Any {} => Self::Any,
            BodyMatch::Text { value } if value.is_empty() => Self::Any,
            BodyMatch::Text { value } => Self::Text {
                bytes: value.as_bytes().to_vec(),
                form: parse_form_text(value),
            },
            BodyMatch::Json { value, mode } => Self::Json {
                value: value.clone(),
                mode: *mode,
            },
            BodyMatch::Xml { value } => match xml::guard(value).and_then(|()| xml::parse(value)) {
                Ok(doc) => Self::Xml(Box::new(doc)),
                Err(message) => {
                    return Err(vec![ValidationError::new("request.body.value", message)]);
                }
            },
            BodyMatch::Form { params } => {
                let mut errors = Vec::new();
                let mut checks = Vec::with_capacity(params.len());
                for (name, value) in params {
                    match ValueCheck::compile(value) {
                        Ok(check) => checks.push((name.clone(), check)),
                        Err(message) => errors.push(ValidationError::new(
                            format!("request.body.params.{name}"),
                            message,
                        )),
                    }
                }
                if !errors.is_empty() {
                    return Err(errors);
                }
                Self::Form(checks)
            }
        })
    }

    /// The form parameters this body condition stands for, when it can match a form request:
    /// a form rule's own, or those of a text rule that is valid form data.
    pub(crate) fn form_params(&self) -> Option<&[(String, ValueCheck)]> {
        match self {
            Self::Form(params) => Some(params),
            Self::Text { form, .. } => form.as_deref(),
            _ => None,
        }
    }

    /// Checks a request that is not a form post: text, JSON, XML and the catch-all
    /// (docs/examples-format.md, "Body conditions").
    pub(crate) fn check(&self, request: &Request) -> Result<(), Failure> {
        match self {
            Self::None => Ok(()),
            Self::Any if request.body.is_empty() => Err(body_failure(
                None,
                "the request has no body; this catch-all rule needs one",
            )),
            Self::Any => Ok(()),
            Self::Text { bytes, .. } => text_difference(bytes, &request.body),
            Self::Json { value, mode } => {
                let actual = request
                    .json_body()
                    .ok_or_else(|| body_failure(None, "the request body is not valid JSON"))?;
                json_difference(value, actual, *mode == JsonMode::Contains)
            }
            Self::Xml(expected) => {
                let actual = request
                    .xml_body()
                    .ok_or_else(|| body_failure(None, "the request body is not valid XML"))?;
                xml::structurally_equal(expected, actual).map_err(|difference| Failure::Body {
                    location: Some(difference.location),
                    message: difference.message,
                })
            }
            Self::Form(_) => Err(body_failure(
                None,
                format!(
                    "a form rule needs Content-Type application/x-www-form-urlencoded, the request has {}",
                    request.content_type().as_deref().unwrap_or("none")
                ),
            )),
        }
    }
}

fn body_failure(location: Option<String>, message: impl Into<String>) -> Failure {
    Failure::Body {
        location,
        message: message.into(),
    }
}

/// `foo=1&bar=2` as parameters; `None` unless every `&`-separated part is `name=value` with a
/// name, which keeps ordinary sentences from counting as form data.
fn parse_form_text(text: &str) -> Option<Vec<(String, ValueCheck)>> {
    text.split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=')?;
            (!name.is_empty()).then(|| {
                (
                    percent_decode(name),
                    ValueCheck::Equals(percent_decode(value)),
                )
            })
        })
        .collect()
}

fn text_difference(expected: &[u8], actual: &[u8]) -> Result<(), Failure> {
    if expected == actual {
        return Ok(());
    }
    let offset = expected
        .iter()
        .zip(actual)
        .position(|(e, a)| e != a)
        .unwrap_or_else(|| expected.len().min(actual.len()));
    Err(body_failure(
        None,
        format!(
            "the text differs from byte {offset} (expected {} bytes, got {})",
            expected.len(),
            actual.len()
        ),
    ))
}

/// Where a JSON document differs from the expected one, as a JSON pointer. With `contains`, the
/// actual document may have more object members, and each expected array element only needs some
/// actual element that contains it.
pub(crate) fn json_difference(
    expected: &Value,
    actual: &Value,
    contains: bool,
) -> Result<(), Failure> {
    compare(expected, actual, contains, 0).map_err(|(mut tokens, message)| {
        tokens.reverse();
        let pointer: String = tokens.iter().map(|token| format!("/{token}")).collect();
        Failure::Body {
            location: Some(if pointer.is_empty() {
                "/".to_owned()
            } else {
                pointer
            }),
            message,
        }
    })
}

/// The pointer tokens (innermost first) and message of the first difference.
type JsonMismatch = (Vec<String>, String);

fn compare(
    expected: &Value,
    actual: &Value,
    contains: bool,
    depth: usize,
) -> Result<(), JsonMismatch> {
    if depth > MAX_JSON_DEPTH {
        return Err((Vec::new(), "nested too deeply to compare".to_owned()));
    }
    match (expected, actual) {
        (Value::Object(expected), Value::Object(actual)) => {
            for (key, value) in expected {
                let Some(other) = actual.get(key) else {
                    return Err((vec![escape(key)], "member is missing".to_owned()));
                };
                compare(value, other, contains, depth + 1).map_err(|(mut tokens, message)| {
                    tokens.push(escape(key));
                    (tokens, message)
                })?;
            }
            if !contains && let Some(extra) = actual.keys().find(|key| !expected.contains_key(*key))
            {
                return Err((vec![escape(extra)], "member is not expected".to_owned()));
            }
            Ok(())
        }
        (Value::Array(expected), Value::Array(actual)) if contains => {
            for (index, element) in expected.iter().enumerate() {
                if !actual
                    .iter()
                    .any(|other| compare(element, other, true, depth + 1).is_ok())
                {
                    return Err((
                        vec![index.to_string()],
                        "no element of the request's array contains this one".to_owned(),
                    ));
                }
            }
            Ok(())
        }
        (Value::Array(expected), Value::Array(actual)) => {
            for (index, (element, other)) in expected.iter().zip(actual).enumerate() {
                compare(element, other, false, depth + 1).map_err(|(mut tokens, message)| {
                    tokens.push(index.to_string());
                    (tokens, message)
                })?;
            }
            if expected.len() != actual.len() {
                return Err((
                    Vec::new(),
                    format!(
                        "array has {} elements, expected {}",
                        actual.len(),
                        expected.len()
                    ),
                ));
            }
            Ok(())
        }
        (Value::Number(e), Value::Number(a)) if numbers_equal(e, a) => Ok(()),
        (e, a) if e == a => Ok(()),
        (e, a) => Err((
            Vec::new(),
            format!("expected {}, got {}", brief(e), brief(a)),
        )),
    }
}

/// `1` and `1.0` are the same number in JSON.
fn numbers_equal(expected: &serde_json::Number, actual: &serde_json::Number) -> bool {
    match (expected.as_i128(), actual.as_i128()) {
        (Some(e), Some(a)) => e == a,
        _ => expected.as_f64() == actual.as_f64(),
    }
}

/// RFC 6901 escaping of one pointer token.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// A short rendering of a value for messages; long values are cut.
fn brief(value: &Value) -> String {
    const LIMIT: usize = 60;
    let text = value.to_string();
    match text.char_indices().nth(LIMIT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn location(expected: Value, actual: Value, contains: bool) -> Option<String> {
        match json_difference(&expected, &actual, contains) {
            Ok(()) => None,
            Err(Failure::Body { location, .. }) => location,
            Err(other) => panic!("unexpected failure {other:?}"),
        }
    }

    #[test]
    fn json_differences_are_located_with_a_pointer() {
        assert_eq!(
            location(
                json!({"a": {"b/c": [1, 2]}}),
                json!({"a": {"b/c": [1, 3]}}),
                false
            ),
            Some("/a/b~1c/1".to_owned())
        );
        assert_eq!(
            location(json!({"a": 1}), json!({"a": 1, "b": 2}), false),
            Some("/b".to_owned())
        );
        assert_eq!(
            location(json!([1]), json!([1, 2]), false),
            Some("/".to_owned())
        );
    }

    #[test]
    fn integers_and_floats_of_equal_value_are_equal() {
        assert_eq!(location(json!({"n": 1}), json!({"n": 1.0}), false), None);
    }

    #[test]
    fn containment_allows_extra_members_and_elements() {
        let actual = json!({"id": 7, "tags": ["a", "b", {"x": 1, "y": 2}], "extra": true});
        assert_eq!(
            location(json!({"tags": [{"x": 1}, "b"]}), actual.clone(), true),
            None
        );
        assert_eq!(
            location(json!({"tags": ["c"]}), actual, true),
            Some("/tags/0".to_owned())
        );
    }

    #[test]
    fn comparison_of_hand_built_deep_documents_stops_at_the_limit() {
        let mut deep = json!(1);
        for _ in 0..(MAX_JSON_DEPTH + 10) {
            deep = json!([deep]);
        }
        assert!(json_difference(&deep, &deep, false).is_err());
    }

    #[test]
    fn text_that_is_form_data_also_reads_as_form_parameters() {
        assert_eq!(parse_form_text("foo=1&bar=2").map(|p| p.len()), Some(2));
        assert!(parse_form_text("foo bar").is_none());
        assert!(parse_form_text("a=1&&b=2").is_none());
    }

    #[test]
    fn text_differences_give_the_first_differing_byte() {
        let failure = text_difference(b"foobar", b"foo bar").expect_err("differs");
        assert!(
            failure.describe().contains("byte 3"),
            "{}",
            failure.describe()
        );
    }
}

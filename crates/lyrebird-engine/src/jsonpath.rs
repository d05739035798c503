//! JSON reading for the helpers of expressions and templates: a lenient parser for the
//! not-quite-JSON bodies people send, and JSONPath selection that cannot take a worker down.
//!
//! Leniency (docs/expressions.md, "JSON bodies and leniency", whose example is
//! `{foo:"ok",bar:{p1:1,p2:[1,2,3]}}` plus a stray brace): a body is read as strict JSON first;
//! if that fails, once more with bare object keys quoted (`{foo:1}` reads as `{"foo":1}`) and
//! anything after the first complete value ignored.
//! Nothing else is repaired: single quotes, comments and trailing commas still fail.

use std::panic::{AssertUnwindSafe, catch_unwind};

use serde_json::Value;

/// Longer JSONPath expressions are refused.
pub const MAX_JSONPATH_LEN: usize = 1024;
/// Strict JSON nesting that serde_json accepts is 128; the lenient retry inherits that bound.
const MAX_PATH_NESTING: usize = 32;

/// The body as JSON, strictly if possible, else with the leniency described above.
pub fn parse_lenient(text: &str) -> Option<Value> {
    if let Ok(value) = serde_json::from_str(text) {
        return Some(value);
    }
    let quoted = quote_bare_keys(text);
    serde_json::Deserializer::from_str(&quoted)
        .into_iter::<Value>()
        .next()
        .and_then(Result::ok)
}

/// True when `text` is strict JSON (any value, including a bare string or number).
pub fn is_json(text: &str) -> bool {
    serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok()
}

/// Selects `path` in the JSON `text` (read leniently); text that is not JSON selects nothing, but
/// a malformed path is an error either way.
pub fn select_in_text(text: &str, path: &str) -> Result<Option<Value>, String> {
    match parse_lenient(text) {
        Some(json) => select(&json, path),
        None => select(&Value::Null, path).map(|_| None),
    }
}

/// Selects `path` in `json`: no match gives `None`, one match that value, several an array of
/// them. A malformed path is an error.
pub fn select(json: &Value, path: &str) -> Result<Option<Value>, String> {
    if path.len() > MAX_JSONPATH_LEN {
        return Err(format!(
            "JSONPath expressions over {MAX_JSONPATH_LEN} bytes are refused"
        ));
    }
    let nesting = path
        .bytes()
        .scan(0usize, |depth, b| {
            match b {
                b'(' | b'[' => *depth += 1,
                b')' | b']' => *depth = depth.saturating_sub(1),
                _ => {}
            }
            Some(*depth)
        })
        .max()
        .unwrap_or(0);
    if nesting > MAX_PATH_NESTING {
        return Err(format!(
            "JSONPath expressions nested deeper than {MAX_PATH_NESTING} brackets are refused"
        ));
    }
    // jsonpath_lib panics on some malformed paths; a user's path must only ever be an error.
    let selected = catch_unwind(AssertUnwindSafe(|| {
        jsonpath_lib::select(json, path).map(|found| match found.as_slice() {
            [] => None,
            [one] => Some((*one).clone()),
            many => Some(Value::Array(many.iter().map(|v| (*v).clone()).collect())),
        })
    }));
    match selected {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(format!("invalid JSONPath {path:?}: {error}")),
        Err(_) => Err(format!("invalid JSONPath {path:?}")),
    }
}

/// Puts double quotes around identifiers that stand where an object key belongs (after `{` or
/// `,`, before `:`), leaving string literals alone.
fn quote_bare_keys(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut chars = text.char_indices().peekable();
    let mut in_string = false;
    let mut escaped = false;
    let mut expecting_key = false;
    while let Some((at, c)) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => escaped = false,
            }
            continue;
        }
        if expecting_key && (c.is_alphabetic() || c == '_' || c == '$') {
            let rest = &text[at..];
            let end = rest
                .find(|ch: char| !(ch.is_alphanumeric() || ch == '_' || ch == '$'))
                .unwrap_or(rest.len());
            let key = &rest[..end];
            if rest[end..].trim_start().starts_with(':') {
                out.push('"');
                out.push_str(key);
                out.push('"');
            } else {
                out.push_str(key);
            }
            for _ in 1..key.chars().count() {
                chars.next();
            }
            expecting_key = false;
            continue;
        }
        out.push(c);
        match c {
            '"' => in_string = true,
            '{' | ',' => expecting_key = true,
            c if c.is_whitespace() => {}
            _ => expecting_key = false,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bare_keys_and_a_stray_closing_brace_are_read() {
        let value = parse_lenient(r#"{foo:"ok",bar:{p1:1,p2:[1,2,3]}}}"#).unwrap();
        assert_eq!(
            value,
            json!({"foo": "ok", "bar": {"p1": 1, "p2": [1, 2, 3]}})
        );
    }

    #[test]
    fn strings_that_look_like_keys_are_left_alone() {
        let value = parse_lenient(r#"{a: "b, c: d", e_1 : true}"#).unwrap();
        assert_eq!(value, json!({"a": "b, c: d", "e_1": true}));
        assert_eq!(parse_lenient("[1, true]").unwrap(), json!([1, true]));
    }

    #[test]
    fn other_malformed_json_is_not_repaired() {
        assert_eq!(parse_lenient("{'a': 1}"), None);
        assert_eq!(parse_lenient("not json"), None);
        assert!(!is_json("{a:1}"));
        assert!(is_json("\"text\""));
    }

    #[test]
    fn selection_gives_none_one_or_many() {
        let value = json!({"bar": {"p2": [1, 2, 3]}});
        assert_eq!(select(&value, "$.bar.p2[0]").unwrap(), Some(json!(1)));
        assert_eq!(
            select(&value, "$.bar.p2[*]").unwrap(),
            Some(json!([1, 2, 3]))
        );
        assert_eq!(select(&value, "$.nothing").unwrap(), None);
        assert!(select(&value, "$.[").is_err());
        assert!(
            select(&value, &"[".repeat(100))
                .unwrap_err()
                .contains("nested")
        );
    }
}

//! Text that PostgreSQL can store. Everything Lyrebird saves ends up in `text` or `jsonb`
//! columns, and both refuse U+0000 (NUL): `text` with "invalid byte sequence", `jsonb` with
//! "unsupported Unicode escape sequence". In a UTF-8 database (the only encoding Lyrebird
//! creates or accepts) NUL is the only character either refuses: every other Unicode scalar
//! value is stored, and Rust strings cannot hold the surrogates JSON could otherwise escape.
//!
//! Edges that accept text (the admin API's JSON bodies and query strings, imported files, the
//! engine's own [`crate::validate_example`]) find NUL here and refuse it naming where it is,
//! instead of letting the database fail the request with an internal error.

use serde_json::Value;

/// What every refusal says about the character.
pub const NUL_MESSAGE: &str = "contains a NUL character (U+0000), which cannot be stored";

/// Whether JSON text may hold a NUL: it can only be written as the escape `\u0000` (a raw NUL
/// byte is not allowed in JSON strings), so text without that sequence certainly holds none
/// and needs no walk. A linear scan, much cheaper than the parse it precedes.
pub fn json_may_hold_nul(json: &[u8]) -> bool {
    json.windows(6).any(|window| window == b"\\u0000")
}

/// The path of the first string in `value`, object key or value at any depth, that holds a NUL:
/// `name`, `environment.TOKEN`, `[2].response.body`, in the notation of field errors. A key
/// that holds one is named with the NUL written as `\0`. `None` when there is none.
pub fn nul_at(value: &Value) -> Option<String> {
    let mut path = String::new();
    nul_within(value, &mut path).then(|| {
        if path.is_empty() {
            ".".to_owned()
        } else {
            path
        }
    })
}

/// Walks `value`, with `path` the place of `value` itself; on a find, leaves `path` naming it.
fn nul_within(value: &Value, path: &mut String) -> bool {
    let start = path.len();
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().enumerate().any(|(index, item)| {
            path.truncate(start);
            path.push_str(&format!("[{index}]"));
            nul_within(item, path)
        }),
        Value::Object(members) => members.iter().any(|(key, item)| {
            path.truncate(start);
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&key.replace('\0', "\\0"));
            key.contains('\0') || nul_within(item, path)
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_nul_is_found_at_any_depth_and_named() {
        assert_eq!(nul_at(&json!({"name": "a\u{0}b"})).as_deref(), Some("name"));
        let nested = json!({"ok": [1, "x"], "environment": {"A": "1", "TOKEN": "\u{0}"}});
        assert_eq!(nul_at(&nested).as_deref(), Some("environment.TOKEN"));
        let listed = json!([{}, {"response": {"body": ["", "\u{0}"]}}]);
        assert_eq!(nul_at(&listed).as_deref(), Some("[1].response.body[1]"));
        assert_eq!(nul_at(&json!("\u{0}")).as_deref(), Some("."));
    }

    #[test]
    fn a_key_with_a_nul_is_named_with_it_written_out() {
        let value = json!({"environment": {"a\u{0}b": "fine"}});
        assert_eq!(nul_at(&value).as_deref(), Some("environment.a\\0b"));
    }

    #[test]
    fn an_example_holding_a_nul_is_refused_naming_the_field() {
        let example: crate::Example = serde_json::from_value(json!({
            "name": "decoded",
            "request": {"path": "/a", "query": {"q": "x\u{0}"}},
        }))
        .unwrap();
        let errors = crate::validate_example(&example, &Default::default()).unwrap_err();
        assert_eq!(errors[0].field, "request.query.q");
        assert_eq!(errors[0].message, NUL_MESSAGE);
    }

    #[test]
    fn text_without_a_nul_is_left_alone() {
        assert_eq!(
            nul_at(&json!({"a": ["\\u0000", 1, null, {"b": true}]})),
            None
        );
        assert!(!json_may_hold_nul(br#"{"a": "\u0001"}"#));
        assert!(json_may_hold_nul(br#"{"a": "\u0000"}"#));
    }
}

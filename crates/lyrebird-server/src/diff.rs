//! What changed between two JSON documents, field by field: how versions of a mock, and a draft
//! and its mock, are compared.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// One difference: where (a JSON Pointer, `""` for the whole document) and the values before
/// and after; a side without the field has none.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct JsonChange {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
}

/// The differences from `before` to `after`, in document order: objects by field, arrays by
/// position (elements past the shorter one's end are added or removed).
pub fn json_changes(before: &Value, after: &Value) -> Vec<JsonChange> {
    let mut changes = Vec::new();
    compare(&mut String::new(), Some(before), Some(after), &mut changes);
    changes
}

fn compare(
    path: &mut String,
    before: Option<&Value>,
    after: Option<&Value>,
    changes: &mut Vec<JsonChange>,
) {
    match (before, after) {
        (Some(Value::Object(old)), Some(Value::Object(new))) => {
            let names = old
                .keys()
                .chain(new.keys().filter(|name| !old.contains_key(*name)));
            for name in names {
                within(path, &escape(name), |path| {
                    compare(path, old.get(name), new.get(name), changes);
                });
            }
        }
        (Some(Value::Array(old)), Some(Value::Array(new))) => {
            for i in 0..old.len().max(new.len()) {
                within(path, &i.to_string(), |path| {
                    compare(path, old.get(i), new.get(i), changes);
                });
            }
        }
        (old, new) if old != new => changes.push(JsonChange {
            path: path.clone(),
            before: old.cloned(),
            after: new.cloned(),
        }),
        _ => {}
    }
}

/// Runs `f` with `/segment` added to the path.
fn within(path: &mut String, segment: &str, f: impl FnOnce(&mut String)) {
    let length = path.len();
    path.push('/');
    path.push_str(segment);
    f(path);
    path.truncate(length);
}

/// A field name as a JSON Pointer segment (RFC 6901).
fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn changes_name_each_field_that_differs_by_its_pointer() {
        let before = json!({"request": {"path": "/users/1", "a/b": 1}, "tags": [1, 2], "x": 1});
        let after = json!({"request": {"path": "/users/:id", "a/b": 1}, "tags": [1, 3, 4], "y": 2});
        let changes = json_changes(&before, &after);
        let summary: Vec<(&str, Option<&Value>, Option<&Value>)> = changes
            .iter()
            .map(|c| (c.path.as_str(), c.before.as_ref(), c.after.as_ref()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "/request/path",
                    Some(&json!("/users/1")),
                    Some(&json!("/users/:id"))
                ),
                ("/tags/1", Some(&json!(2)), Some(&json!(3))),
                ("/tags/2", None, Some(&json!(4))),
                ("/x", Some(&json!(1)), None),
                ("/y", None, Some(&json!(2))),
            ]
        );
        assert!(json_changes(&before, &before).is_empty());
        let escaped = json_changes(&json!({"a/b": 1}), &json!({"a/b": 2}));
        assert_eq!(escaped[0].path, "/a~1b");
        let whole = json_changes(&json!(1), &json!("1"));
        assert_eq!(whole[0].path, "");
    }
}

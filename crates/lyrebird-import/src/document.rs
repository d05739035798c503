//! Reading an uploaded file into a JSON value, whether it was written as JSON or YAML, and telling
//! what kind of file it is.

use lyrebird_engine::storable;
use serde_json::Value;

use crate::{ImportError, Kind, nesting};

/// Parses JSON, or YAML when the text does not start like JSON. Nesting is capped at 128 levels:
/// JSON by serde_json's recursion limit, YAML by a linear scan before the parser, whose time
/// grows with the square of the depth (the parser also refuses alias bombs), so hostile input
/// fails cleanly and at once.
pub(crate) fn parse(bytes: &[u8]) -> Result<Value, ImportError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|error| ImportError::NotJsonOrYaml {
        detail: format!("not UTF-8 text ({error})"),
    })?;
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err(ImportError::NotJsonOrYaml {
            detail: "the file is empty".to_owned(),
        });
    }
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let value = serde_json::from_str(text).map_err(|error| ImportError::NotJsonOrYaml {
            detail: format!("JSON: {error}"),
        })?;
        // JSON writes a NUL only as `\u0000`: without it there is nothing to look for.
        return if storable::json_may_hold_nul(bytes) {
            refuse_nul(value)
        } else {
            Ok(value)
        };
    }
    if let Some(line) = nesting::too_deep_at(text, nesting::MAX_DEPTH) {
        return Err(ImportError::NotJsonOrYaml {
            detail: format!(
                "YAML: nested deeper than {} levels at line {line}",
                nesting::MAX_DEPTH
            ),
        });
    }
    let value: Value =
        serde_norway::from_str(text).map_err(|error| ImportError::NotJsonOrYaml {
            detail: format!("YAML: {error}"),
        })?;
    if value.is_object() {
        // YAML has several ways to write a NUL (`"\0"`, `"\x00"`, `"\u0000"`): walk it all.
        refuse_nul(value)
    } else {
        Err(ImportError::NotJsonOrYaml {
            detail: "the document is a plain value, not an object".to_owned(),
        })
    }
}

/// Every importer starts from [`parse`], so a NUL anywhere in a file (a title, a name, a
/// variable, an example) is refused here, naming where, rather than by the database when the
/// mock is saved. Values the importers decode further (percent-encoded queries, base64 bodies)
/// are checked by the engine's [`lyrebird_engine::validate_example`], which leaves out the
/// example with a warning.
fn refuse_nul(value: Value) -> Result<Value, ImportError> {
    match storable::nul_at(&value) {
        Some(at) => Err(ImportError::invalid(at, storable::NUL_MESSAGE)),
        None => Ok(value),
    }
}

/// Tells the kind of a parsed document from the keys each format requires.
pub(crate) fn classify(document: &Value) -> Kind {
    let Some(object) = document.as_object() else {
        return Kind::Unknown;
    };
    if object.contains_key("lyrebird") && object.contains_key("examples") {
        Kind::Native
    } else if object.contains_key("openapi") {
        Kind::OpenApi
    } else if object.contains_key("swagger") {
        Kind::Swagger
    } else if object
        .get("log")
        .is_some_and(|log| log.get("entries").is_some())
    {
        Kind::Har
    } else if object.contains_key("info") && object.contains_key("item")
        || object.contains_key("requests") && object.contains_key("order")
    {
        Kind::PostmanCollection
    } else if object.get("values").is_some_and(Value::is_array) {
        Kind::PostmanEnvironment
    } else {
        Kind::Unknown
    }
}

/// Parses and checks the kind in one step, for importers that read one kind.
pub(crate) fn parse_expecting(bytes: &[u8], expected: Kind) -> Result<Value, ImportError> {
    let document = parse(bytes)?;
    let found = classify(&document);
    if found == expected {
        Ok(document)
    } else {
        Err(ImportError::WrongKind { expected, found })
    }
}

/// A JSON value as the text a user would see: strings without quotes, `null` as nothing.
pub(crate) fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        Value::Bool(_) | Value::Number(_) => Some(value.to_string()),
        Value::Array(_) | Value::Object(_) => Some(value.to_string()),
    }
}

/// The string at `key`, if it is one.
pub(crate) fn str_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// The array at `key`, or an empty slice when it is missing or not an array.
pub(crate) fn array_at<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_with_numeric_keys_reads_as_string_keys() {
        let value = parse(b"responses:\n  200:\n    description: ok\n").expect("yaml");
        assert_eq!(value["responses"]["200"]["description"], "ok");
    }

    #[test]
    fn binary_garbage_is_not_json_or_yaml() {
        let error = parse(&[0xff, 0xfe, 0x00, 0x01]).expect_err("binary");
        assert!(
            matches!(error, ImportError::NotJsonOrYaml { .. }),
            "{error}"
        );
    }

    #[test]
    fn a_plain_yaml_scalar_is_refused() {
        let error = parse(b"just some words").expect_err("scalar");
        assert!(error.to_string().contains("plain value"), "{error}");
    }

    #[test]
    fn deeply_nested_json_fails_instead_of_overflowing() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(deep.as_bytes()).is_err());
    }

    #[test]
    fn a_yaml_alias_bomb_is_refused() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for (previous, name) in ["a", "b", "c", "d", "e", "f", "g", "h"]
            .iter()
            .zip(["b", "c", "d", "e", "f", "g", "h", "i"])
        {
            let refs = vec![format!("*{previous}"); 10].join(", ");
            bomb.push_str(&format!("{name}: &{name} [{refs}]\n"));
        }
        let error = parse(bomb.as_bytes()).expect_err("refused");
        assert!(
            matches!(error, ImportError::NotJsonOrYaml { .. }),
            "{error}"
        );
    }

    #[test]
    fn a_nul_anywhere_in_json_or_yaml_is_refused_naming_where() {
        let json = br#"{"openapi": "3.0.3", "info": {"title": "a\u0000b"}}"#;
        let yaml = b"openapi: 3.0.3\ninfo:\n  title: \"a\\0b\"\n";
        for file in [&json[..], &yaml[..]] {
            let error = parse(file).expect_err("refused");
            assert!(
                matches!(&error, ImportError::Invalid { at, .. } if at == "info.title"),
                "{error}"
            );
        }
    }

    #[test]
    fn deeply_nested_yaml_is_refused_before_it_is_parsed_naming_the_line() {
        let deep = format!("a: 1\nb: {}{}", "[".repeat(100_000), "]".repeat(100_000));
        let error = parse(deep.as_bytes()).expect_err("refused");
        assert_eq!(
            error.to_string(),
            "the file is not valid JSON or YAML: YAML: nested deeper than 128 levels at line 2"
        );
    }

    #[test]
    fn deeply_nested_json_is_refused_by_the_parsers_limit() {
        let deep = format!("{{\"a\": {}{}}}", "[".repeat(200), "]".repeat(200));
        let error = parse(deep.as_bytes()).expect_err("refused");
        assert!(error.to_string().contains("recursion limit"), "{error}");
    }
}

//! `$ref` resolution inside one OpenAPI / Swagger document.

use serde_json::Value;

/// Chains of references longer than this are treated as a loop.
const MAX_HOPS: usize = 16;

/// The document that local references (`#/components/...`) point into.
#[derive(Clone, Copy)]
pub(crate) struct Refs<'a> {
    root: &'a Value,
}

impl<'a> Refs<'a> {
    pub(crate) fn new(root: &'a Value) -> Self {
        Self { root }
    }

    /// Follows `$ref` until a value without one; the error says why a reference cannot be
    /// followed (another file, a pointer to nothing, a loop).
    pub(crate) fn follow(&self, mut value: &'a Value) -> Result<&'a Value, String> {
        for _ in 0..MAX_HOPS {
            let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
                return Ok(value);
            };
            let Some(pointer) = reference.strip_prefix('#') else {
                return Err(format!(
                    "the reference `{reference}` points into another file, which is not read"
                ));
            };
            let pointer = if pointer.contains('%') {
                lyrebird_engine::request::percent_decode(pointer)
            } else {
                pointer.to_owned()
            };
            value = self
                .root
                .pointer(&pointer)
                .ok_or_else(|| format!("the reference `{reference}` points to nothing"))?;
        }
        Err(format!("references nest deeper than {MAX_HOPS} levels"))
    }

    /// Like [`Self::follow`], for places where a broken reference just means "nothing here".
    pub(crate) fn get(&self, value: &'a Value) -> Option<&'a Value> {
        self.follow(value).ok()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn references_are_followed_through_chains_and_escapes() {
        let root = json!({
            "components": {"examples": {"a/b": {"$ref": "#/components/examples/c"}, "c": {"value": 1}}},
            "use": {"$ref": "#/components/examples/a~1b"}
        });
        let refs = Refs::new(&root);
        assert_eq!(refs.follow(&root["use"]).unwrap()["value"], 1);
    }

    #[test]
    fn loops_and_other_files_are_reported() {
        let root =
            json!({"a": {"$ref": "#/b"}, "b": {"$ref": "#/a"}, "c": {"$ref": "other.yaml#/x"}});
        let refs = Refs::new(&root);
        assert!(refs.follow(&root["a"]).unwrap_err().contains("deeper"));
        assert!(
            refs.follow(&root["c"])
                .unwrap_err()
                .contains("another file")
        );
    }
}

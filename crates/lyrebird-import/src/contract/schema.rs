//! The schemas of an OpenAPI 3.0 / 3.1 document applied to a value: JSON Schema's validation
//! keywords as OpenAPI uses them, with 3.0's `nullable` and boolean `exclusiveMinimum` /
//! `exclusiveMaximum` beside 3.1's type lists, `const` and numeric exclusive bounds.
//!
//! Checked: `$ref` (inside the document), `type`, `nullable`, `enum`, `const`, `properties`,
//! `required`, `additionalProperties`, `minProperties` / `maxProperties`, `items` (and 3.1's
//! `prefixItems`), `minItems` / `maxItems`, `uniqueItems`, `minLength` / `maxLength`,
//! `pattern`, `minimum` / `maximum` and their exclusive forms, `multipleOf`, `allOf`, `anyOf`,
//! `oneOf` and `not`. Not checked: `format`, `readOnly` / `writeOnly`, `discriminator` and
//! `dependentSchemas`-style keywords (an annotation is not a constraint here).

use std::collections::{BTreeSet, HashMap};

use regex::Regex;
use serde_json::Value;

/// References followed within one check before it gives up: a loop, or a schema too deep.
const MAX_DEPTH: usize = 64;
/// Violations one value gets at most.
pub const MAX_VIOLATIONS: usize = 50;

/// One way a value breaks its schema.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    /// Where in what was checked: `response.body.pets[0].name`.
    pub at: String,
    /// The schema keyword that failed, as a JSON pointer into the document:
    /// `#/components/schemas/Pet/properties/name/type`.
    pub schema_path: String,
    pub message: String,
}

/// A check of one value against one schema of the document.
pub(super) struct Check<'a> {
    root: &'a Value,
    /// The document's `pattern`s, compiled once.
    patterns: &'a HashMap<String, Regex>,
    pub(super) violations: Vec<Violation>,
}

impl<'a> Check<'a> {
    pub(super) fn new(root: &'a Value, patterns: &'a HashMap<String, Regex>) -> Self {
        Self {
            root,
            patterns,
            violations: Vec::new(),
        }
    }

    /// Checks `value` at `at` against the schema at `pointer` (`#/paths/...`).
    pub(super) fn value(&mut self, value: &Value, at: &str, pointer: &str) {
        let Some(schema) = self.root.pointer(&pointer[1..]) else {
            return;
        };
        self.schema(value, at, schema, pointer, 0);
    }

    fn fail(&mut self, at: &str, schema_path: String, message: String) {
        if self.violations.len() < MAX_VIOLATIONS {
            self.violations.push(Violation {
                at: at.to_owned(),
                schema_path,
                message,
            });
        }
    }

    /// Whether `value` fits the schema, without keeping why: for `anyOf`, `oneOf` and `not`.
    fn fits(&self, value: &Value, schema: &'a Value, pointer: &str, depth: usize) -> bool {
        let mut trial = Check::new(self.root, self.patterns);
        trial.schema(value, "", schema, pointer, depth);
        trial.violations.is_empty()
    }

    fn schema(&mut self, value: &Value, at: &str, schema: &'a Value, pointer: &str, depth: usize) {
        if depth > MAX_DEPTH || self.violations.len() >= MAX_VIOLATIONS {
            return;
        }
        let Some(schema) = schema.as_object() else {
            if schema == &Value::Bool(false) {
                self.fail(at, pointer.to_owned(), "nothing is allowed here".to_owned());
            }
            return;
        };
        let keyword = |name: &str| format!("{pointer}/{name}");
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            if let Some(target) = reference
                .strip_prefix('#')
                .and_then(|path| self.root.pointer(path))
            {
                self.schema(value, at, target, reference, depth + 1);
            }
            // Before 3.1 a reference replaces its siblings; 3.1 reads them too.
            if schema.len() == 1 || !self.is_31() {
                return;
            }
        }

        if value.is_null() && schema.get("nullable") == Some(&Value::Bool(true)) {
            return;
        }
        if let Some(expected) = schema.get("type")
            && !type_fits(value, expected)
        {
            let expected = match expected {
                Value::Array(types) => types
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" or "),
                other => other.as_str().unwrap_or_default().to_owned(),
            };
            let message = format!("{} where the schema wants {expected}", described(value));
            self.fail(at, keyword("type"), message);
            return;
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.iter().any(|one| same(one, value))
        {
            let message = format!("{} is not one of the values allowed", brief(value));
            self.fail(at, keyword("enum"), message);
        }
        if let Some(constant) = schema.get("const")
            && !same(constant, value)
        {
            let message = format!("{} is not {}", brief(value), brief(constant));
            self.fail(at, keyword("const"), message);
        }
        match value {
            Value::Object(members) => self.object(members, at, schema, pointer, depth),
            Value::Array(items) => self.array(items, at, schema, pointer, depth),
            Value::String(text) => self.string(text, at, schema, pointer),
            Value::Number(_) => self.number(value, at, schema, pointer),
            _ => {}
        }
        for (index, part) in schema
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            self.schema(
                value,
                at,
                part,
                &format!("{pointer}/allOf/{index}"),
                depth + 1,
            );
        }
        for combinator in ["anyOf", "oneOf"] {
            let Some(parts) = schema.get(combinator).and_then(Value::as_array) else {
                continue;
            };
            let fitting = parts
                .iter()
                .enumerate()
                .filter(|(index, part)| {
                    self.fits(
                        value,
                        part,
                        &format!("{pointer}/{combinator}/{index}"),
                        depth + 1,
                    )
                })
                .count();
            let wrong = match combinator {
                "anyOf" => (fitting == 0).then_some("fits none of the schemas of anyOf"),
                _ if fitting == 0 => Some("fits none of the schemas of oneOf"),
                _ => (fitting > 1).then_some("fits more than one of the schemas of oneOf"),
            };
            if let Some(wrong) = wrong {
                self.fail(at, keyword(combinator), format!("{} {wrong}", brief(value)));
            }
        }
        if let Some(not) = schema.get("not")
            && self.fits(value, not, &keyword("not"), depth + 1)
        {
            let message = format!("{} fits the schema it must not", brief(value));
            self.fail(at, keyword("not"), message);
        }
    }

    fn is_31(&self) -> bool {
        self.root
            .get("openapi")
            .and_then(Value::as_str)
            .is_some_and(|version| version.starts_with("3.1"))
    }

    fn object(
        &mut self,
        members: &serde_json::Map<String, Value>,
        at: &str,
        schema: &'a serde_json::Map<String, Value>,
        pointer: &str,
        depth: usize,
    ) {
        for name in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !members.contains_key(name) {
                let message = format!("the required property {name:?} is missing");
                self.fail(at, format!("{pointer}/required"), message);
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (name, member) in members {
            let here = format!("{at}.{name}");
            match properties.and_then(|properties| properties.get(name)) {
                Some(property) => {
                    let pointer = format!("{pointer}/properties/{}", escape(name));
                    self.schema(member, &here, property, &pointer, depth + 1);
                }
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => self.fail(
                        &here,
                        format!("{pointer}/additionalProperties"),
                        format!("the property {name:?} is not in the schema"),
                    ),
                    Some(extra @ Value::Object(_)) => {
                        let pointer = format!("{pointer}/additionalProperties");
                        self.schema(member, &here, extra, &pointer, depth + 1);
                    }
                    _ => {}
                },
            }
        }
        let count = members.len();
        self.bound(at, pointer, schema, "minProperties", count, "properties");
        self.bound(at, pointer, schema, "maxProperties", count, "properties");
    }

    fn array(
        &mut self,
        items: &[Value],
        at: &str,
        schema: &'a serde_json::Map<String, Value>,
        pointer: &str,
        depth: usize,
    ) {
        let prefix = schema.get("prefixItems").and_then(Value::as_array);
        for (index, item) in items.iter().enumerate() {
            let here = format!("{at}[{index}]");
            if let Some(first) = prefix.and_then(|prefix| prefix.get(index)) {
                let pointer = format!("{pointer}/prefixItems/{index}");
                self.schema(item, &here, first, &pointer, depth + 1);
            } else if let Some(each) = schema.get("items") {
                self.schema(item, &here, each, &format!("{pointer}/items"), depth + 1);
            }
        }
        let count = items.len();
        self.bound(at, pointer, schema, "minItems", count, "items");
        self.bound(at, pointer, schema, "maxItems", count, "items");
        if schema.get("uniqueItems") == Some(&Value::Bool(true)) {
            let distinct: BTreeSet<String> = items.iter().map(Value::to_string).collect();
            if distinct.len() < items.len() {
                let message = "the items are not unique".to_owned();
                self.fail(at, format!("{pointer}/uniqueItems"), message);
            }
        }
    }

    fn string(
        &mut self,
        text: &str,
        at: &str,
        schema: &serde_json::Map<String, Value>,
        pointer: &str,
    ) {
        let count = text.chars().count();
        self.bound(at, pointer, schema, "minLength", count, "characters");
        self.bound(at, pointer, schema, "maxLength", count, "characters");
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
            // A pattern the regex engine cannot read is the document's fault, not the value's.
            if let Some(regex) = self.patterns.get(pattern)
                && !regex.is_match(text)
            {
                let message = format!(
                    "{} does not match the pattern {pattern:?}",
                    brief(&Value::from(text))
                );
                self.fail(at, format!("{pointer}/pattern"), message);
            }
        }
    }

    fn number(
        &mut self,
        value: &Value,
        at: &str,
        schema: &serde_json::Map<String, Value>,
        pointer: &str,
    ) {
        let Some(number) = value.as_f64() else {
            return;
        };
        let limit = |name: &str| schema.get(name).and_then(Value::as_f64);
        let flag = |name: &str| schema.get(name) == Some(&Value::Bool(true));
        let mut check = |name: &str, bound: Option<f64>, exclusive: bool, below: bool| {
            let Some(bound) = bound else { return };
            let fits = match (below, exclusive) {
                (false, false) => number >= bound,
                (false, true) => number > bound,
                (true, false) => number <= bound,
                (true, true) => number < bound,
            };
            if !fits {
                let relation = match (below, exclusive) {
                    (false, false) => "at least",
                    (false, true) => "more than",
                    (true, false) => "at most",
                    (true, true) => "less than",
                };
                let message = format!("{number} is not {relation} {bound}");
                self.fail(at, format!("{pointer}/{name}"), message);
            }
        };
        // 3.0: `exclusiveMinimum: true` makes `minimum` exclusive; 3.1: it is the bound.
        check("minimum", limit("minimum"), flag("exclusiveMinimum"), false);
        check("maximum", limit("maximum"), flag("exclusiveMaximum"), true);
        check("exclusiveMinimum", limit("exclusiveMinimum"), true, false);
        check("exclusiveMaximum", limit("exclusiveMaximum"), true, true);
        if let Some(step) = limit("multipleOf").filter(|step| *step > 0.0) {
            let ratio = number / step;
            if (ratio - ratio.round()).abs() > 1e-9 {
                let message = format!("{number} is not a multiple of {step}");
                self.fail(at, format!("{pointer}/multipleOf"), message);
            }
        }
    }

    /// A count held to a `min…` or `max…` keyword.
    fn bound(
        &mut self,
        at: &str,
        pointer: &str,
        schema: &serde_json::Map<String, Value>,
        name: &str,
        count: usize,
        unit: &str,
    ) {
        let minimum = name.starts_with("min");
        let count = count as u64;
        if let Some(limit) = schema.get(name).and_then(Value::as_u64)
            && (if minimum {
                count < limit
            } else {
                count > limit
            })
        {
            let relation = if minimum { "at least" } else { "at most" };
            let message = format!("{count} {unit} where the schema wants {relation} {limit}");
            self.fail(at, format!("{pointer}/{name}"), message);
        }
    }
}

/// Whether the value is of the type (or one of the types) named; an integer is a number, and a
/// number with no fraction an integer.
fn type_fits(value: &Value, expected: &Value) -> bool {
    let fits = |name: &str| match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.as_f64().is_some_and(|number| number.fract() == 0.0),
        _ => true,
    };
    match expected {
        Value::String(name) => fits(name),
        Value::Array(names) => names.iter().filter_map(Value::as_str).any(fits),
        _ => true,
    }
}

/// Equal as JSON values, numbers by value (`1` and `1.0` are the same).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(number) if number.is_f64() => "a number",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The value and its kind: `"25" (a string)`; a long value by its kind alone.
fn described(value: &Value) -> String {
    let (shown, kind) = (brief(value), kind_of(value));
    if shown == kind {
        shown
    } else {
        format!("{shown} ({kind})")
    }
}

/// The value in a message: short values as JSON, longer ones by their kind.
fn brief(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() <= 40 {
        text
    } else {
        kind_of(value).to_owned()
    }
}

/// A name as a JSON pointer token (RFC 6901).
pub(super) fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

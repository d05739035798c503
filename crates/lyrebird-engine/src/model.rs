//! The example format: what a user saves, as plain serde types.
//!
//! This is the JSON that the admin API accepts and returns, that the store keeps as JSONB and that
//! native export writes, so it changes only in ways that old documents still deserialize. What
//! serving needs (compiled patterns, parsed bodies, indexes) lives in [`crate::compile`], built once
//! from these types.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A request to recognise and the response to give.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Example {
    pub name: String,
    /// Higher wins among examples that fit equally well; absent counts as 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    #[serde(default)]
    pub request: RequestPattern,
    #[serde(default)]
    pub response: ResponseSpec,
}

/// The conditions a request must meet. Every condition left out matches anything.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestPattern {
    /// An HTTP method such as `GET`, or absent / `"*"` for any method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The path after the mock's base URL, optionally with a query string whose parameters are
    /// added to `query` (`/users?active=true`). Segments `:id` or `{id}` capture one segment, a
    /// final `*` captures the rest, and `{{var}}` (Postman's unresolved variable) is a capture too.
    #[serde(default = "root_path")]
    pub path: String,
    /// `exact` (default) or `prefix`: the request path only has to start with `path`. The prefix
    /// form is the "base url" of expression rules (docs/examples-format.md, "Expressions and
    /// prefix paths").
    #[serde(default, skip_serializing_if = "is_default")]
    pub path_match: PathMatch,
    /// Query parameters that must be present with these values; extra request parameters are
    /// allowed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, ValueMatch>,
    /// Header conditions; names are compared case-insensitively.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, ValueMatch>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cookies: BTreeMap<String, ValueMatch>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub body: BodyMatch,
    /// A Rhai expression over the whole request that must evaluate to `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

fn root_path() -> String {
    "/".to_owned()
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PathMatch {
    #[default]
    Exact,
    Prefix,
}

/// How one query parameter, header or cookie value is compared.
///
/// A plain string means "equals"; the object forms say more: `{"equals": "1"}`,
/// `{"matches": "^\\d+$"}` (a regular expression that must match the whole value),
/// `{"absent": true}` (the name must not be there), `{"present": true}` (any value).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ValueMatch {
    Equals(String),
    Rule(ValueRule),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ValueRule {
    Equals(String),
    Matches(String),
    Absent(bool),
    Present(bool),
}

/// The body condition. The variants without fields are written `None {}` and `Any {}`: serde
/// refuses unknown members only in variants with fields, so `{"type": "none", "other": 1}` would
/// otherwise be read as if `other` were not there, which the published schema forbids.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum BodyMatch {
    /// No condition on the body.
    None {},
    /// The body equals this text byte for byte. A text rule whose text is valid form data also
    /// matches form requests as form parameters (docs/matching.md, "Levels with a form body").
    Text { value: String },
    /// The body is JSON equal to `value` (member order and white space ignored), or with
    /// `mode: contains`, JSON that has at least the given members and array elements.
    Json {
        value: serde_json::Value,
        #[serde(default, skip_serializing_if = "is_default")]
        mode: JsonMode,
    },
    /// The body is XML structurally equal to `value`.
    Xml { value: String },
    /// A form request (`application/x-www-form-urlencoded`) whose query and body parameters,
    /// pooled, include these.
    Form {
        #[serde(default)]
        params: BTreeMap<String, ValueMatch>,
    },
    /// Any request that has a body (the catch-all).
    Any {},
}

impl Default for BodyMatch {
    fn default() -> Self {
        BodyMatch::None {}
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum JsonMode {
    #[default]
    Equals,
    Contains,
}

/// What to answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponseSpec {
    #[serde(default = "ok_status")]
    pub status: u16,
    /// Response headers in order; a name may repeat (`Set-Cookie`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<Header>,
    /// The body: a string is sent as it is; any other JSON value is sent as JSON, with
    /// `Content-Type: application/json` unless a header says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    /// The body (a string) is a MiniJinja template rendered per request.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub template: bool,
    /// Milliseconds to wait before answering, added to the mock's delay.
    #[serde(default, skip_serializing_if = "is_default")]
    pub delay_ms: u64,
}

fn ok_status() -> u16 {
    200
}

impl Default for ResponseSpec {
    fn default() -> Self {
        Self {
            status: ok_status(),
            headers: Vec::new(),
            body: None,
            template: false,
            delay_ms: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub name: String,
    pub value: String,
}

/// How a mock chooses among its examples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SelectionMode {
    /// Explicit rules and priority levels (`docs/matching.md`, "Rules mode").
    #[default]
    Rules,
    /// Postman's scoring, control headers and tie-breaks, for imported collections.
    Postman,
}

/// The mock-level settings the engine needs to match and render.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchSettings {
    #[serde(default)]
    pub selection: SelectionMode,
    /// Postman mode only: allow the fuzzy path steps (case, ids removed, edit distance).
    #[serde(default = "yes")]
    pub fuzzy_paths: bool,
    /// Postman mode only: header names that must match when the request does not say otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_headers: Vec<String>,
    /// Postman mode only: match request bodies unless the request says otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub match_body: bool,
}

fn yes() -> bool {
    true
}

impl Default for MatchSettings {
    fn default() -> Self {
        Self {
            selection: SelectionMode::default(),
            fuzzy_paths: true,
            match_headers: Vec::new(),
            match_body: false,
        }
    }
}

/// The JSON Schema of [`Example`] (draft 2020-12), for the admin API to publish. It is derived
/// from the same types serde reads, so the schema and the accepted documents cannot drift apart.
pub fn example_json_schema() -> serde_json::Value {
    schemars::schema_for!(Example).to_value()
}

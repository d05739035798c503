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
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
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
    /// A scenario this example requires a state of, or moves to another state when it answers
    /// (docs/state.md, "Scenarios").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<ScenarioStep>,
    /// Several responses given in turn, at random or by weight, in place of `response`
    /// (docs/state.md, "Sequences").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<Sequence>,
    /// Serves one of the mock's collections as a REST resource at `request.path` and
    /// `request.path/:id`, in place of `response` (docs/state.md, "Collections").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<Resource>,
    /// Whether a drift check sends this example's request to the mock's upstream
    /// (docs/proxy.md, "Drift check"): absent, a `GET` or `HEAD` example is sent and others are
    /// not; `true` sends it whatever its method; `false` never does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift_check: Option<bool>,
}

/// A step of a named scenario: a small state machine of the mock that starts in `started`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioStep {
    pub name: String,
    /// The state the scenario must be in for this example to match; absent: any state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires: Option<String>,
    /// The state the scenario moves to when this example answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub then: Option<String>,
}

/// Responses given in turn.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Sequence {
    #[serde(default)]
    pub policy: SequencePolicy,
    /// Makes `random` and `weighted` choose the same responses in the same order on every run
    /// (from a reset state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    pub responses: Vec<ResponseSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SequencePolicy {
    /// Each response in turn, then the last one from then on.
    #[default]
    InOrder,
    /// Each response in turn, then from the first again.
    Cycle,
    /// Any response, each as likely.
    Random,
    /// Any response, as likely as its `weight` says.
    Weighted,
}

/// An example that serves a collection as REST.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    /// The name of one of the mock's collections (`settings.collections`).
    pub collection: String,
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
    /// In a `weighted` sequence: how likely this response is, relative to the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// A wait drawn per call from a distribution, added to `delay_ms`
    /// (docs/testing-with-lyrebird.md, "Latency").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
    /// The answer broken on purpose (docs/testing-with-lyrebird.md, "Faults").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<Fault>,
    /// Pass the call to the mock's upstream and answer with the upstream's answer
    /// (docs/proxy.md, "One example to the upstream"): the status, headers, body and template
    /// are not used; the delay, latency and fault are.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub proxy: bool,
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
            weight: None,
            latency: None,
            fault: None,
            proxy: false,
        }
    }
}

/// A way to break an answer on purpose. The variants without fields are written `Close {}` for
/// the reason given at [`BodyMatch`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Closes the connection without answering.
    Close {},
    /// Resets the connection (a TCP RST) without answering.
    Reset {},
    /// Answers the status and headers with an empty body.
    Empty {},
    /// Declares the whole body's length, sends its first half, and closes the connection.
    Truncated {},
    /// Sends the first half of the body followed by `{"`, which is never valid JSON.
    Malformed {},
    /// Sends the body in `chunks` pieces spread evenly over `over_ms` milliseconds.
    Trickle { chunks: u32, over_ms: u64 },
    /// Answers one of these statuses, chosen at random, with an error body in place of the
    /// response's.
    Status { statuses: Vec<u16> },
}

/// How long to wait before answering, drawn per call.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Latency {
    /// Always `ms`.
    Fixed { ms: u64 },
    /// Any whole number of milliseconds from `min_ms` to `max_ms`, each as likely.
    Uniform { min_ms: u64, max_ms: u64 },
    /// Lognormal: half the waits are shorter than `median_ms`; `sigma` (0 to 4) is the spread
    /// of the wait's logarithm, so about one wait in six is longer than `median_ms × e^sigma`.
    Lognormal { median_ms: u64, sigma: f64 },
}

/// Faults and error statuses for a share of a mock's calls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Chaos {
    /// The share of calls that get one of `faults`, in percent (0 to 100).
    pub percent: f64,
    /// The faults to apply; each affected call gets one, chosen at random.
    pub faults: Vec<Fault>,
    /// Makes the same calls, counted from the mock's last change, get the same faults on every
    /// run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Other shares for some paths: the first whose pattern fits a call's path applies in place
    /// of `percent`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<ChaosPath>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChaosPath {
    /// A path pattern as in an example's request (`/orders/:id`, `/admin/*`).
    pub path: String,
    pub percent: f64,
}

/// A simulated rate limit: `limit` calls per `window_s` seconds per client, then 429s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub limit: u32,
    pub window_s: u32,
    /// What tells clients apart.
    #[serde(default)]
    pub by: ClientBy,
    /// With `by: header`, the header whose value names the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
}

/// The real API behind a mock (docs/proxy.md): calls that no example matches are sent on to it
/// and its answer is returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    /// An `http` or `https` URL without a query: a call's path and query are added to it
    /// (`https://api.example.com/v2` and `/users/1?x=2` make
    /// `https://api.example.com/v2/users/1?x=2`).
    pub url: String,
    /// Send the calls no example matches to the upstream. Off, the upstream is kept for later
    /// (and the mock answers as it would without one).
    #[serde(default = "yes")]
    pub pass_through: bool,
    /// How long the upstream has to answer, from sending the request to the last byte of its
    /// answer: 1 to 30,000 ms; absent, 30,000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientBy {
    /// The client's address (behind trusted proxies, the one they forwarded).
    #[default]
    Address,
    /// The `x-api-key` the client sent (none: one client for all calls without a key).
    Key,
    /// The value of the header named in `header`.
    Header,
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

/// A mock's settings kept as one document: how it matches, its collections, and how it serves
/// calls (latency, chaos, a rate limit).
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
    /// The mock's collections of JSON records, by name, with the records every state starts
    /// with (docs/state.md, "Collections").
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub collections: BTreeMap<String, CollectionSpec>,
    /// A wait drawn per call, added to the mock's delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
    /// Faults for a share of the mock's calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chaos: Option<Chaos>,
    /// A simulated per-client rate limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// The real API behind the mock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<Upstream>,
}

/// A collection's definition and seed records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CollectionSpec {
    /// The member of each record that holds its id.
    #[serde(default = "id_field", skip_serializing_if = "is_id_field")]
    pub id_field: String,
    /// How ids of created records are made when the request gives none: `integer` (one more
    /// than the largest integer id) or `uuid`. Absent: `integer` when every seed id is an
    /// integer, else `uuid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<IdKind>,
    /// The records every state of the mock starts with, and returns to on a reset.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seed: Vec<serde_json::Value>,
}

fn id_field() -> String {
    "id".to_owned()
}

fn is_id_field(field: &str) -> bool {
    field == "id"
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IdKind {
    Integer,
    Uuid,
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
            collections: BTreeMap::new(),
            latency: None,
            chaos: None,
            rate_limit: None,
            upstream: None,
        }
    }
}

/// The JSON Schema of [`Example`] (draft 2020-12), for the admin API to publish. It is derived
/// from the same types serde reads, so the schema and the accepted documents cannot drift apart.
pub fn example_json_schema() -> serde_json::Value {
    schemars::schema_for!(Example).to_value()
}

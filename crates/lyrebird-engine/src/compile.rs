//! The compiled form of examples: every pattern, regular expression, body, expression and
//! response prepared once, so that serving a request only compares.
//!
//! [`validate_example`] is the same compilation with its result thrown away: the admin API calls
//! it before saving, with the mock's environment (which `{{variables}}` in paths resolve from),
//! so an example that is saved always compiles.

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::body::BodyCheck;
use crate::error::ValidationError;
use crate::expr::Expression;
use crate::faults;
use crate::model::{Example, PathMatch, ResponseSpec, ScenarioStep, SequencePolicy};
use crate::path::{self, PathPattern};
use crate::render::CompiledResponse;
use crate::resource::{RECORD_ID, Target};
use crate::state::check_name;
use crate::storable;
use crate::value::ValueCheck;

/// The most responses a sequence holds.
pub const MAX_SEQUENCE_RESPONSES: usize = 100;

/// Postman's largest custom delay; longer waits are refused rather than held open.
pub const MAX_DELAY_MS: u64 = 180_000;

/// One example, ready to be matched.
#[derive(Debug)]
pub(crate) struct CompiledExample {
    pub(crate) id: Uuid,
    /// Position in the list the mock was compiled from (a resource example compiles to two).
    pub(crate) position: usize,
    pub(crate) name: String,
    pub(crate) priority: i32,
    /// Upper case; `None` for any method.
    pub(crate) method: Option<String>,
    pub(crate) path: PathPattern,
    pub(crate) prefix: bool,
    /// From the path's query string and the `query` map.
    pub(crate) query: Vec<(String, ValueCheck)>,
    /// Names in lower case.
    pub(crate) headers: Vec<(String, ValueCheck)>,
    pub(crate) cookies: Vec<(String, ValueCheck)>,
    pub(crate) body: BodyCheck,
    pub(crate) expression: Option<Expression>,
    pub(crate) scenario: Option<ScenarioStep>,
    /// The status of the (first) response, which postman mode compares.
    pub(crate) status: u16,
    pub(crate) answer: Answer,
}

/// What an example answers with.
#[derive(Debug)]
pub(crate) enum Answer {
    One(CompiledResponse),
    Sequence {
        policy: SequencePolicy,
        seed: Option<u64>,
        /// With each response's weight (1 when the policy has none).
        responses: Vec<(u32, CompiledResponse)>,
    },
    Resource(Target),
}

impl Answer {
    /// Whether answering may change the mock's state (a random sequence without a seed does
    /// not: it keeps no place).
    pub(crate) fn is_stateful(&self) -> bool {
        match self {
            Answer::One(response) => response.reads_state(),
            Answer::Sequence {
                policy,
                seed,
                responses,
            } => {
                !matches!(policy, SequencePolicy::Random | SequencePolicy::Weighted)
                    || seed.is_some()
                    || responses.iter().any(|(_, response)| response.reads_state())
            }
            Answer::Resource(_) => true,
        }
    }
}

/// Checks an example the way compiling it would, naming each problem's field, and that it holds
/// no NUL, which the database cannot store ([`crate::storable`]): values decoded from a file
/// (percent-encoded queries, base64 bodies) can hold one that the file's text did not show.
/// `env` is the mock's environment: a path that is within its limit as written may not be once
/// its variables are resolved.
pub fn validate_example(
    example: &Example,
    env: &BTreeMap<String, String>,
) -> Result<(), Vec<ValidationError>> {
    // An example serializes to JSON whatever it holds: it was made from JSON.
    if let Some(field) = serde_json::to_value(example)
        .ok()
        .as_ref()
        .and_then(storable::nul_at)
    {
        return Err(vec![ValidationError::new(field, storable::NUL_MESSAGE)]);
    }
    CompiledExample::compile_all(Uuid::nil(), 0, example, env).map(drop)
}

impl CompiledExample {
    /// The example compiled, at `position` in its mock: a resource example gives two, one for
    /// the collection's path and one for its records' (`path/:record_id`).
    pub(crate) fn compile_all(
        id: Uuid,
        position: usize,
        example: &Example,
        env: &BTreeMap<String, String>,
    ) -> Result<Vec<Self>, Vec<ValidationError>> {
        let Some(resource) = &example.resource else {
            return Self::compile(id, position, example, env, None).map(|one| vec![one]);
        };
        let collection = Self::compile(
            id,
            position,
            example,
            env,
            Some(resource_target(resource, None)),
        )?;
        let mut item = example.clone();
        let (path, query) = match item.request.path.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (item.request.path.as_str(), None),
        };
        let mut item_path = format!("{}/:{RECORD_ID}", path.trim_end_matches('/'));
        if let Some(query) = query {
            item_path.push('?');
            item_path.push_str(query);
        }
        item.request.path = item_path;
        let item = Self::compile(
            id,
            position,
            &item,
            env,
            Some(resource_target(resource, Some(RECORD_ID))),
        )?;
        Ok(vec![collection, item])
    }

    fn compile(
        id: Uuid,
        position: usize,
        example: &Example,
        env: &BTreeMap<String, String>,
        resource: Option<Target>,
    ) -> Result<Self, Vec<ValidationError>> {
        let mut errors = Vec::new();
        let request = &example.request;

        let method = match request.method.as_deref().map(str::trim) {
            None | Some("*") => None,
            Some(method) if is_token(method) => Some(method.to_ascii_uppercase()),
            Some(method) => {
                errors.push(ValidationError::new(
                    "request.method",
                    format!("{method:?} is not an HTTP method; use a token such as GET, or \"*\" for any"),
                ));
                None
            }
        };

        let (path, path_query) = match path::parse(&request.path, env) {
            Ok(parsed) => parsed,
            Err(message) => {
                errors.push(ValidationError::new("request.path", message));
                (PathPattern::root(), Vec::new())
            }
        };

        let mut query: Vec<(String, ValueCheck)> = path_query
            .into_iter()
            .map(|(name, value)| (name, ValueCheck::Equals(value)))
            .collect();
        for (name, value) in &request.query {
            if query.iter().any(|(n, _)| n == name) {
                errors.push(ValidationError::new(
                    format!("request.query.{name}"),
                    "is also given in the path's query string; keep one",
                ));
                continue;
            }
            match ValueCheck::compile(value) {
                Ok(check) => query.push((name.clone(), check)),
                Err(message) => {
                    errors.push(ValidationError::new(
                        format!("request.query.{name}"),
                        message,
                    ));
                }
            }
        }

        let mut headers = Vec::with_capacity(request.headers.len());
        for (name, value) in &request.headers {
            let field = format!("request.headers.{name}");
            if !is_token(name) {
                errors.push(ValidationError::new(&field, "is not a valid header name"));
                continue;
            }
            if let crate::model::ValueMatch::Equals(text) = value
                && !is_header_value(text)
            {
                errors.push(ValidationError::new(
                    &field,
                    "contains characters a header value cannot have (control characters or line breaks)",
                ));
                continue;
            }
            match ValueCheck::compile(value) {
                Ok(check) => headers.push((name.to_ascii_lowercase(), check)),
                Err(message) => errors.push(ValidationError::new(field, message)),
            }
        }

        let mut cookies = Vec::with_capacity(request.cookies.len());
        for (name, value) in &request.cookies {
            match ValueCheck::compile(value) {
                Ok(check) => cookies.push((name.clone(), check)),
                Err(message) => {
                    errors.push(ValidationError::new(
                        format!("request.cookies.{name}"),
                        message,
                    ));
                }
            }
        }

        let body = BodyCheck::compile(&request.body).unwrap_or_else(|mut body_errors| {
            errors.append(&mut body_errors);
            BodyCheck::None
        });

        let expression = request.expression.as_deref().and_then(|source| {
            Expression::compile(source)
                .map_err(|error| {
                    errors.push(ValidationError::in_source("request.expression", error));
                })
                .ok()
        });

        let prefix = request.path_match == PathMatch::Prefix;
        if prefix && request.expression.is_none() {
            errors.push(ValidationError::new(
                "request.path_match",
                "a prefix path is the base url of an expression rule: add an expression that reads `url`",
            ));
        } else if prefix && expression.as_ref().is_some_and(|e| !e.uses_url()) {
            errors.push(ValidationError::new(
                "request.expression",
                "with a prefix path the expression must read `url` (rules mode's prefix level)",
            ));
        }

        if let Some(step) = &example.scenario {
            check_scenario(step, &mut errors);
        }
        let answer = compile_answer(example, resource, &mut errors);
        let Some((status, answer)) = answer else {
            return Err(errors);
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            id,
            position,
            name: example.name.clone(),
            priority: example.priority.unwrap_or(0),
            method,
            path,
            prefix,
            query,
            headers,
            cookies,
            body,
            expression,
            scenario: example.scenario.clone(),
            status,
            answer,
        })
    }
}

fn resource_target(resource: &crate::model::Resource, item: Option<&'static str>) -> Target {
    Target {
        collection: resource.collection.clone(),
        item,
    }
}

fn check_scenario(step: &ScenarioStep, errors: &mut Vec<ValidationError>) {
    let named = [
        ("scenario.name", Some(&step.name), "scenario name"),
        (
            "scenario.requires",
            step.requires.as_ref(),
            "scenario state",
        ),
        ("scenario.then", step.then.as_ref(), "scenario state"),
    ];
    for (field, name, what) in named {
        if let Some(Err(message)) = name.map(|name| check_name(what, name)) {
            errors.push(ValidationError::new(field, message));
        }
    }
}

/// The example's answer and the status of its (first) response; `None` when a response does
/// not compile (its errors are in `errors`).
fn compile_answer(
    example: &Example,
    resource: Option<Target>,
    errors: &mut Vec<ValidationError>,
) -> Option<(u16, Answer)> {
    let response_given = example.response != ResponseSpec::default();
    if example.response.weight.is_some() {
        errors.push(ValidationError::new(
            "response.weight",
            "a weight belongs to a response of a weighted sequence",
        ));
    }
    if let Some(target) = resource {
        if example.sequence.is_some() || response_given {
            errors.push(ValidationError::new(
                "resource",
                "a resource answers from its collection: leave out `response` and `sequence`",
            ));
        }
        if example
            .request
            .method
            .as_deref()
            .is_some_and(|method| method.trim() != "*")
        {
            errors.push(ValidationError::new(
                "request.method",
                "a resource answers every method: leave the method out",
            ));
        }
        if let Err(message) = check_name("collection name", &target.collection) {
            errors.push(ValidationError::new("resource.collection", message));
        }
        return Some((200, Answer::Resource(target)));
    }
    let Some(sequence) = &example.sequence else {
        validate_serving(&example.response, "response", errors);
        let response = compile_response(&example.response, "response", errors)?;
        return Some((example.response.status, Answer::One(response)));
    };
    if response_given {
        errors.push(ValidationError::new(
            "response",
            "with a sequence, every response goes in `sequence.responses`",
        ));
    }
    if sequence.responses.is_empty() || sequence.responses.len() > MAX_SEQUENCE_RESPONSES {
        errors.push(ValidationError::new(
            "sequence.responses",
            format!("a sequence has 1 to {MAX_SEQUENCE_RESPONSES} responses"),
        ));
    }
    let weighted = sequence.policy == SequencePolicy::Weighted;
    let mut responses = Vec::with_capacity(sequence.responses.len());
    for (i, spec) in sequence.responses.iter().enumerate() {
        let field = format!("sequence.responses[{i}]");
        let weight = match (weighted, spec.weight) {
            (true, Some(weight)) if weight > 0 => weight,
            (true, _) => {
                errors.push(ValidationError::new(
                    format!("{field}.weight"),
                    "each response of a weighted sequence has a weight of 1 or more",
                ));
                1
            }
            (false, Some(_)) => {
                errors.push(ValidationError::new(
                    format!("{field}.weight"),
                    "weights are for the `weighted` policy",
                ));
                1
            }
            (false, None) => 1,
        };
        validate_serving(spec, &field, errors);
        if let Some(response) = compile_response(spec, &field, errors) {
            responses.push((weight, response));
        }
    }
    let status = sequence.responses.first().map_or(200, |first| first.status);
    (responses.len() == sequence.responses.len()).then_some((
        status,
        Answer::Sequence {
            policy: sequence.policy,
            seed: sequence.seed,
            responses,
        },
    ))
}

/// Compiles one response, its errors' fields under `field` rather than `response`.
fn compile_response(
    spec: &ResponseSpec,
    field: &str,
    errors: &mut Vec<ValidationError>,
) -> Option<CompiledResponse> {
    CompiledResponse::compile(spec)
        .map_err(|found| {
            errors.extend(found.into_iter().map(|mut error| {
                if let Some(rest) = error.field.strip_prefix("response") {
                    error.field = format!("{field}{rest}");
                }
                error
            }));
        })
        .ok()
}

/// Status, headers and templates are checked by [`CompiledResponse::compile`]; the delay, the
/// latency and the fault are about serving, so they are checked here.
fn validate_serving(response: &ResponseSpec, field: &str, errors: &mut Vec<ValidationError>) {
    if let Some(latency) = &response.latency {
        faults::check_latency(latency, &format!("{field}.latency"), errors);
    }
    if let Some(fault) = &response.fault {
        faults::check_fault(fault, &format!("{field}.fault"), errors);
    }
    if response.delay_ms > MAX_DELAY_MS {
        errors.push(ValidationError::new(
            format!("{field}.delay_ms"),
            format!(
                "{} ms is longer than the limit of {MAX_DELAY_MS} ms",
                response.delay_ms
            ),
        ));
    }
}

/// RFC 9110 token: what methods and header names are made of.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte))
}

/// RFC 9110 field value: visible characters, spaces and tabs, and non-ASCII.
fn is_header_value(text: &str) -> bool {
    text.bytes()
        .all(|byte| byte == b'\t' || (byte >= 0x20 && byte != 0x7f))
}

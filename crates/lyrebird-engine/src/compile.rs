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
use crate::model::{Example, PathMatch, ResponseSpec};
use crate::path::{self, PathPattern};
use crate::render::CompiledResponse;
use crate::storable;
use crate::value::ValueCheck;

/// Postman's largest custom delay; longer waits are refused rather than held open.
pub const MAX_DELAY_MS: u64 = 180_000;

/// One example, ready to be matched.
#[derive(Debug)]
pub(crate) struct CompiledExample {
    pub(crate) id: Uuid,
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
    pub(crate) status: u16,
    pub(crate) response: CompiledResponse,
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
    CompiledExample::compile(Uuid::nil(), example, env).map(drop)
}

impl CompiledExample {
    pub(crate) fn compile(
        id: Uuid,
        example: &Example,
        env: &BTreeMap<String, String>,
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

        let response = CompiledResponse::compile(&example.response).map_err(|mut found| {
            errors.append(&mut found);
        });
        validate_delay(&example.response, &mut errors);

        let Ok(response) = response else {
            return Err(errors);
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            id,
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
            status: example.response.status,
            response,
        })
    }
}

/// Status, headers and templates are checked by [`CompiledResponse::compile`]; the delay is a
/// limit of serving, so it is checked here.
fn validate_delay(response: &ResponseSpec, errors: &mut Vec<ValidationError>) {
    if response.delay_ms > MAX_DELAY_MS {
        errors.push(ValidationError::new(
            "response.delay_ms",
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

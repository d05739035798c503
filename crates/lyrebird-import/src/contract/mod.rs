//! A mock's OpenAPI contract (docs/proxy.md, "OpenAPI contract"): the OpenAPI 3.0 / 3.1
//! document the mock stands for, against which its examples are checked when saved and,
//! when the mock asks, the calls it receives (Prism's validation).
//!
//! Paths are the document's own, relative to the mock's base as the importer makes them: a
//! document's `/pets/{petId}` is the example path `/pets/:petId`, and the request path
//! `/pets/7`.

mod schema;

use std::collections::HashMap;

use lyrebird_engine::{BodyMatch, Example, JsonMode, Request, ResponseSpec, ValueMatch};
use regex::Regex;
use serde_json::Value;

use crate::document::{self, text_of};
use crate::http::is_json_media;
use crate::openapi::{METHODS, check_version, refs::Refs};
use crate::{ImportError, Kind};
use lyrebird_engine::request::media_type;
use schema::{Check, escape};
pub use schema::{MAX_VIOLATIONS, Violation};

/// An OpenAPI document read for checking.
#[derive(Debug)]
pub struct Contract {
    document: Value,
    patterns: HashMap<String, Regex>,
    operations: Vec<Operation>,
}

#[derive(Debug)]
struct Operation {
    method: String,
    /// The path as the document writes it: `/pets/{petId}`.
    path: String,
    segments: Vec<Segment>,
    /// `#/paths/~1pets~1{petId}/get`.
    pointer: String,
}

#[derive(Debug)]
enum Segment {
    Literal(String),
    Parameter,
}

/// A parameter of an operation, found through its `$ref`.
struct Parameter<'a> {
    name: &'a str,
    place: &'a str,
    required: bool,
    /// Its schema, as a pointer; `None` when it has none.
    schema: Option<String>,
}

/// What a request or an example path finds in the document.
enum Found<'a> {
    Operation(&'a Operation),
    /// The path is there, not with this method: the methods it has.
    OtherMethods(Vec<&'a str>),
    NoPath,
}

impl Contract {
    /// Reads an OpenAPI 3.0 or 3.1 document, JSON or YAML.
    pub fn parse(bytes: &[u8]) -> Result<Self, ImportError> {
        Self::new(document::parse_expecting(bytes, Kind::OpenApi)?)
    }

    /// A document already read, as the store keeps it.
    pub fn new(document: Value) -> Result<Self, ImportError> {
        if document::classify(&document) != Kind::OpenApi {
            return Err(ImportError::WrongKind {
                expected: Kind::OpenApi,
                found: document::classify(&document),
            });
        }
        check_version(&document, Kind::OpenApi)?;
        let paths = document
            .get("paths")
            .and_then(Value::as_object)
            .ok_or_else(|| {
                ImportError::invalid("paths", "the description has no `paths` object")
            })?;
        let refs = Refs::new(&document);
        let mut operations = Vec::new();
        for (path, item) in paths {
            let item = refs.get(item).unwrap_or(item);
            for method in METHODS {
                if item.get(method).is_some() {
                    operations.push(Operation {
                        method: method.to_ascii_uppercase(),
                        path: path.clone(),
                        segments: segments(path),
                        pointer: format!("#/paths/{}/{method}", escape(path)),
                    });
                }
            }
        }
        let mut patterns = HashMap::new();
        collect_patterns(&document, &mut patterns);
        Ok(Self {
            document,
            patterns,
            operations,
        })
    }

    /// The document as JSON.
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// `info.title` and `info.version`.
    pub fn title_and_version(&self) -> (String, String) {
        let info = |key: &str| {
            self.document
                .get("info")
                .and_then(|info| info.get(key))
                .and_then(text_of)
                .unwrap_or_default()
        };
        (info("title"), info("version"))
    }

    pub fn operations(&self) -> usize {
        self.operations.len()
    }

    /// Where the example breaks the contract: its request (method, path, the query values and
    /// JSON body it states) and each of its responses (a status the operation declares, a
    /// declared content type, a JSON body of the declared schema). Template bodies are not
    /// checked; nor are examples serving a collection.
    pub fn check_example(&self, example: &Example) -> Vec<Violation> {
        let request = &example.request;
        let mut check = Check::new(&self.document, &self.patterns);
        if example.resource.is_some() {
            return Vec::new();
        }
        let path: Vec<&str> = split(&request.path);
        let method = request
            .method
            .as_deref()
            .filter(|method| *method != "*")
            .map(str::to_ascii_uppercase);
        let operation = match self.find(method.as_deref(), &path) {
            Found::Operation(operation) => operation,
            missing => {
                let method = method.as_deref().unwrap_or("any method");
                return vec![self.missing(missing, method, &request.path, "request")];
            }
        };
        let parameters = self.parameters(operation);
        self.path_parameters(&mut check, operation, &parameters, &path, is_capture);
        for (name, condition) in &request.query {
            if let ValueMatch::Equals(value) = condition {
                let at = format!("request.query.{name}");
                let parameter = named(&parameters, "query", name);
                self.parameter(&mut check, parameter, std::slice::from_ref(value), &at);
            }
        }
        if let BodyMatch::Json {
            value,
            mode: JsonMode::Equals,
        } = &request.body
        {
            let media = request
                .headers
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
                .and_then(|(_, condition)| match condition {
                    ValueMatch::Equals(value) => Some(value.as_str()),
                    ValueMatch::Rule(_) => None,
                })
                .unwrap_or("application/json");
            self.request_body(&mut check, operation, media, Some(value));
        }
        let responses: Vec<(String, &ResponseSpec)> = match &example.sequence {
            Some(sequence) => sequence
                .responses
                .iter()
                .enumerate()
                .map(|(index, response)| (format!("sequence.responses[{index}]"), response))
                .collect(),
            None => vec![("response".to_owned(), &example.response)],
        };
        for (at, response) in responses {
            if !response.proxy {
                self.response(&mut check, operation, &at, response);
            }
        }
        check.violations
    }

    /// Where a request breaks the contract, Prism's way: its path and query parameters,
    /// headers and cookies of the declared types, the required ones present, and its body of
    /// the declared content type and schema. `None` when the document has no operation for
    /// the request: the mock answers it as it would without a contract.
    pub fn check_request(&self, request: &Request) -> Option<Vec<Violation>> {
        let path = split(&request.path);
        let Found::Operation(operation) = self.find(Some(&request.method), &path) else {
            return None;
        };
        let mut check = Check::new(&self.document, &self.patterns);
        let parameters = self.parameters(operation);
        self.path_parameters(&mut check, operation, &parameters, &path, |_| false);
        for parameter in parameters.iter().filter(|p| p.place != "path") {
            let values: Vec<String> = match parameter.place {
                "query" => request
                    .query_params()
                    .iter()
                    .filter(|(name, _)| name == parameter.name)
                    .map(|(_, value)| value.clone())
                    .collect(),
                "header" => request
                    .headers
                    .iter()
                    .filter(|(name, _)| name.eq_ignore_ascii_case(parameter.name))
                    .map(|(_, value)| value.clone())
                    .collect(),
                "cookie" => request
                    .cookies()
                    .iter()
                    .filter(|(name, _)| name == parameter.name)
                    .map(|(_, value)| value.clone())
                    .collect(),
                _ => continue,
            };
            let at = format!("request.{}.{}", parameter.place, parameter.name);
            if values.is_empty() {
                if parameter.required {
                    let message = format!(
                        "the required {} parameter {:?} is missing",
                        parameter.place, parameter.name
                    );
                    check_fail(
                        &mut check,
                        &at,
                        format!("{}/parameters", operation.pointer),
                        message,
                    );
                }
                continue;
            }
            self.parameter(&mut check, Some(parameter), &values, &at);
        }
        let media = request.content_type().unwrap_or_default();
        let body = (!request.body.is_empty()).then_some(&request.body);
        match body {
            Some(bytes) if is_json_media(&media) => match serde_json::from_slice::<Value>(bytes) {
                Ok(value) => self.request_body(&mut check, operation, &media, Some(&value)),
                Err(error) => check_fail(
                    &mut check,
                    "request.body",
                    format!("{}/requestBody", operation.pointer),
                    format!("the body is not JSON: {error}"),
                ),
            },
            Some(_) => self.request_body(&mut check, operation, &media, None),
            None => {
                let required = self
                    .request_body_of(operation)
                    .is_some_and(|(body, _)| body.get("required") == Some(&Value::Bool(true)));
                if required {
                    check_fail(
                        &mut check,
                        "request.body",
                        format!("{}/requestBody/required", operation.pointer),
                        "the operation requires a body".to_owned(),
                    );
                }
            }
        }
        Some(check.violations)
    }

    /// The operation a method and path find; without a method, the path's first.
    fn find(&self, method: Option<&str>, path: &[&str]) -> Found<'_> {
        let mut best: Option<(&Operation, usize)> = None;
        let mut methods = Vec::new();
        for operation in &self.operations {
            let Some(literals) = fits(&operation.segments, path) else {
                continue;
            };
            if method.is_some_and(|method| !method.eq_ignore_ascii_case(&operation.method)) {
                methods.push(operation.method.as_str());
                continue;
            }
            if best.is_none_or(|(_, most)| literals > most) {
                best = Some((operation, literals));
            }
        }
        match (best, methods.is_empty()) {
            (Some((operation, _)), _) => Found::Operation(operation),
            (None, false) => Found::OtherMethods(methods),
            (None, true) => Found::NoPath,
        }
    }

    fn missing(&self, found: Found<'_>, method: &str, path: &str, at: &str) -> Violation {
        let message = match found {
            Found::OtherMethods(methods) => format!(
                "the contract has no {method} operation at {path} (it has {})",
                methods.join(", ")
            ),
            _ => format!("the contract has no path that {path} fits"),
        };
        Violation {
            at: format!("{at}.path"),
            schema_path: "#/paths".to_owned(),
            message,
        }
    }

    /// The names of the path's parameters, by segment (none for literal segments).
    fn path_names<'a>(&self, operation: &'a Operation) -> impl Iterator<Item = Option<&'a str>> {
        split(&operation.path).into_iter().map(|segment| {
            segment
                .strip_prefix('{')
                .and_then(|rest| rest.strip_suffix('}'))
        })
    }

    /// Checks the path's segments that hold parameters (but those `skip` says not to).
    fn path_parameters(
        &self,
        check: &mut Check<'_>,
        operation: &Operation,
        parameters: &[Parameter<'_>],
        path: &[&str],
        skip: fn(&str) -> bool,
    ) {
        for (segment, name) in path.iter().zip(self.path_names(operation)) {
            if let Some(name) = name.filter(|_| !skip(segment)) {
                let value = lyrebird_engine::request::percent_decode(segment);
                let at = format!("request.path.{name}");
                self.parameter(check, named(parameters, "path", name), &[value], &at);
            }
        }
    }

    /// The operation's parameters and its path's, the operation's overriding.
    fn parameters(&self, operation: &Operation) -> Vec<Parameter<'_>> {
        let refs = Refs::new(&self.document);
        let item_pointer = &operation.pointer[..operation.pointer.rfind('/').unwrap_or(0)];
        let mut found: Vec<Parameter<'_>> = Vec::new();
        for owner in [item_pointer, operation.pointer.as_str()] {
            let list = self
                .document
                .pointer(&format!("{}/parameters", &owner[1..]))
                .and_then(Value::as_array);
            for (index, parameter) in list.into_iter().flatten().enumerate() {
                let pointer = match parameter.get("$ref").and_then(Value::as_str) {
                    Some(reference) if reference.starts_with('#') => reference.to_owned(),
                    _ => format!("{owner}/parameters/{index}"),
                };
                let Some(parameter) = refs.get(parameter) else {
                    continue;
                };
                let (Some(name), Some(place)) = (
                    parameter.get("name").and_then(Value::as_str),
                    parameter.get("in").and_then(Value::as_str),
                ) else {
                    continue;
                };
                let schema = parameter.get("schema").map(|_| format!("{pointer}/schema"));
                let required =
                    place == "path" || parameter.get("required") == Some(&Value::Bool(true));
                found.retain(|kept| !(kept.name == name && kept.place == place));
                found.push(Parameter {
                    name,
                    place,
                    required,
                    schema,
                });
            }
        }
        found
    }

    /// Checks the values of a parameter (taken as its schema's type) against its schema.
    fn parameter(
        &self,
        check: &mut Check<'_>,
        parameter: Option<&Parameter<'_>>,
        values: &[String],
        at: &str,
    ) {
        let Some(schema) = parameter.and_then(|parameter| parameter.schema.as_deref()) else {
            return;
        };
        let refs = Refs::new(&self.document);
        let resolved = self
            .document
            .pointer(&schema[1..])
            .and_then(|value| refs.get(value));
        let kind = resolved
            .and_then(|schema| schema.get("type"))
            .and_then(Value::as_str);
        let typed = |text: &str, kind: Option<&str>| -> Value {
            match kind {
                Some("integer") => text
                    .parse::<i64>()
                    .map_or_else(|_| Value::from(text), Value::from),
                Some("number") => text
                    .parse::<f64>()
                    .map_or_else(|_| Value::from(text), Value::from),
                Some("boolean") => match text {
                    "true" => Value::Bool(true),
                    "false" => Value::Bool(false),
                    _ => Value::from(text),
                },
                _ => Value::from(text),
            }
        };
        let value = if kind == Some("array") {
            let items = resolved
                .and_then(|schema| schema.get("items"))
                .and_then(|items| refs.get(items))
                .and_then(|items| items.get("type"))
                .and_then(Value::as_str);
            Value::Array(
                values
                    .iter()
                    .flat_map(|value| value.split(','))
                    .map(|value| typed(value, items))
                    .collect(),
            )
        } else {
            typed(&values[0], kind)
        };
        check.value(&value, at, schema);
    }

    /// The request body object of the operation (through its `$ref`) and its pointer.
    fn request_body_of(&self, operation: &Operation) -> Option<(&Value, String)> {
        let pointer = format!("{}/requestBody", operation.pointer);
        let body = self.document.pointer(&pointer[1..])?;
        match body.get("$ref").and_then(Value::as_str) {
            Some(reference) => Some((Refs::new(&self.document).get(body)?, reference.to_owned())),
            None => Some((body, pointer)),
        }
    }

    /// Checks a body's content type, and its JSON against the schema declared for it.
    fn request_body(
        &self,
        check: &mut Check<'_>,
        operation: &Operation,
        media: &str,
        json: Option<&Value>,
    ) {
        let Some((body, pointer)) = self.request_body_of(operation) else {
            return;
        };
        let Some(content) = body.get("content").and_then(Value::as_object) else {
            return;
        };
        match declared(content, media) {
            Some(key) => {
                if let Some(json) = json {
                    let schema = format!("{pointer}/content/{}/schema", escape(key));
                    check.value(json, "request.body", &schema);
                }
            }
            None => check_fail(
                check,
                "request.headers.content-type",
                format!("{pointer}/content"),
                format!(
                    "the operation takes {}, not {}",
                    content
                        .keys()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                        .join(", "),
                    media_type(media)
                ),
            ),
        }
    }

    fn response(
        &self,
        check: &mut Check<'_>,
        operation: &Operation,
        at: &str,
        response: &ResponseSpec,
    ) {
        let pointer = format!("{}/responses", operation.pointer);
        let Some(responses) = self
            .document
            .pointer(&pointer[1..])
            .and_then(Value::as_object)
        else {
            return;
        };
        let status = response.status.to_string();
        let range = format!("{}XX", &status[..1]);
        let lower = range.to_ascii_lowercase();
        let key = [status.as_str(), range.as_str(), lower.as_str(), "default"]
            .into_iter()
            .find(|key| responses.contains_key(*key));
        let Some(key) = key else {
            let declared: Vec<&str> = responses.keys().map(String::as_str).collect();
            check_fail(
                check,
                &format!("{at}.status"),
                pointer,
                format!(
                    "the operation declares no {status} (it declares {})",
                    declared.join(", ")
                ),
            );
            return;
        };
        let mut pointer = format!("{pointer}/{}", escape(key));
        let mut declared_response = &responses[key];
        if let Some(reference) = declared_response.get("$ref").and_then(Value::as_str) {
            let Some(target) = Refs::new(&self.document).get(declared_response) else {
                return;
            };
            declared_response = target;
            pointer = reference.to_owned();
        }
        let Some(body) = &response.body else {
            return;
        };
        let Some(content) = declared_response.get("content").and_then(Value::as_object) else {
            return;
        };
        let header = response
            .headers
            .iter()
            .find(|header| header.name.eq_ignore_ascii_case("content-type"))
            .map(|header| header.value.as_str());
        let media = match (header, body) {
            (Some(media), _) => media,
            (None, Value::String(_)) => "text/plain",
            (None, _) => "application/json",
        };
        let Some(key) = declared(content, media) else {
            check_fail(
                check,
                &format!("{at}.headers.content-type"),
                format!("{pointer}/content"),
                format!(
                    "the response is {}, where the operation declares {}",
                    media_type(media),
                    content
                        .keys()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
            return;
        };
        if !is_json_media(media) || response.template {
            return;
        }
        let parsed;
        let value = match body {
            Value::String(text) => match serde_json::from_str::<Value>(text) {
                Ok(value) => {
                    parsed = value;
                    &parsed
                }
                Err(error) => {
                    check_fail(
                        check,
                        &format!("{at}.body"),
                        format!("{pointer}/content/{}", escape(key)),
                        format!("the body is not JSON: {error}"),
                    );
                    return;
                }
            },
            value => value,
        };
        let schema = format!("{pointer}/content/{}/schema", escape(key));
        check.value(value, &format!("{at}.body"), &schema);
    }
}

fn named<'a, 'b>(
    parameters: &'a [Parameter<'b>],
    place: &str,
    name: &str,
) -> Option<&'a Parameter<'b>> {
    parameters
        .iter()
        .find(|parameter| parameter.place == place && parameter.name == name)
}

fn check_fail(check: &mut Check<'_>, at: &str, schema_path: String, message: String) {
    if check.violations.len() < MAX_VIOLATIONS {
        check.violations.push(Violation {
            at: at.to_owned(),
            schema_path,
            message,
        });
    }
}

/// The content key a media type falls under: itself, `type/*` or `*/*`.
fn declared<'a>(content: &'a serde_json::Map<String, Value>, media: &str) -> Option<&'a str> {
    let media = media_type(media);
    let family = media.split('/').next().unwrap_or_default();
    content
        .keys()
        .find(|key| media_type(key) == media)
        .or_else(|| {
            content
                .keys()
                .find(|key| media_type(key) == format!("{family}/*"))
        })
        .or_else(|| content.keys().find(|key| key.as_str() == "*/*"))
        .map(String::as_str)
}

fn split(path: &str) -> Vec<&str> {
    path.trim_start_matches('/').split('/').collect()
}

fn segments(path: &str) -> Vec<Segment> {
    split(path)
        .into_iter()
        .map(|segment| {
            if segment.starts_with('{') && segment.ends_with('}') {
                Segment::Parameter
            } else {
                Segment::Literal(segment.to_owned())
            }
        })
        .collect()
}

/// An example path segment that captures: `:id`, `{id}`, `{{var}}`, `*`.
fn is_capture(segment: &str) -> bool {
    segment.starts_with(':') || segment.starts_with('{') || segment == "*"
}

/// How many literal segments a path fits the template with; `None` when it does not fit.
fn fits(template: &[Segment], path: &[&str]) -> Option<usize> {
    if template.len() != path.len() {
        return None;
    }
    let mut literals = 0;
    for (segment, given) in template.iter().zip(path) {
        match segment {
            Segment::Parameter => {}
            Segment::Literal(literal) => {
                if is_capture(given) || lyrebird_engine::request::percent_decode(given) != *literal
                {
                    return None;
                }
                literals += 1;
            }
        }
    }
    Some(literals)
}

/// Every `pattern` of the document's schemas, compiled; those the engine cannot read are left
/// out (and not checked).
fn collect_patterns(value: &Value, patterns: &mut HashMap<String, Regex>) {
    match value {
        Value::Object(members) => {
            if let Some(Value::String(pattern)) = members.get("pattern")
                && !patterns.contains_key(pattern)
                && let Ok(regex) = Regex::new(pattern)
            {
                patterns.insert(pattern.clone(), regex);
            }
            members
                .values()
                .for_each(|member| collect_patterns(member, patterns));
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| collect_patterns(item, patterns)),
        _ => {}
    }
}

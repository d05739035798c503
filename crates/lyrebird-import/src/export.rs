//! A mock as a Postman collection v2.1: neighbouring examples with the same method and path become
//! one request with several saved examples (neighbours only, so the order that breaks Postman's
//! ties survives), each with its original request, so Postman and this crate's
//! importer read it back. What Postman cannot express (regular-expression conditions, Rhai
//! expressions, cookies, delays, templates in Lyrebird's language) is left out or kept as plain
//! text, with a warning for each.

use std::collections::BTreeMap;

use lyrebird_engine::{BodyMatch, Example, JsonMode, PathMatch, ValueMatch, ValueRule};
use serde_json::{Value, json};

use crate::Warning;
use crate::http::reason_phrase;

const SCHEMA: &str = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json";

/// The variable that stands for the mock's base URL in exported request URLs.
const BASE_VARIABLE: &str = "{{baseUrl}}";

/// Methods whose body Postman drops unless told not to (see the importer).
const PRUNED_BODY_METHODS: [&str; 5] = ["GET", "HEAD", "COPY", "PURGE", "UNLOCK"];

/// What [`export_postman`] gives: the collection and what it could not carry.
#[derive(Debug, Clone, PartialEq)]
pub struct PostmanExport {
    pub collection: Value,
    pub warnings: Vec<Warning>,
}

/// Writes a mock's examples and environment as a Postman collection v2.1.
pub fn export_postman(
    name: &str,
    examples: &[Example],
    environment: &BTreeMap<String, String>,
) -> PostmanExport {
    let mut warnings = Vec::new();
    let mut groups: Vec<((String, String), Vec<&Example>)> = Vec::new();
    for example in examples {
        let key = (method_of(example), example.request.path.clone());
        match groups.last_mut() {
            Some((last, group)) if *last == key => group.push(example),
            _ => groups.push((key, vec![example])),
        }
    }
    let items: Vec<Value> = groups
        .into_iter()
        .map(|((method, path), group)| {
            let responses: Vec<Value> = group
                .iter()
                .map(|example| {
                    let location = [format!("{method} {path}"), example.name.clone()];
                    unexpressible(example, &location, &mut warnings);
                    let original = request_json(example, &location, &mut warnings);
                    response_json(example, original, &location, &mut warnings)
                })
                .collect();
            let mut item = json!({
                "name": group[0].name,
                "request": responses[0]["originalRequest"].clone(),
                "response": responses,
            });
            if PRUNED_BODY_METHODS.contains(&method.as_str())
                && group.iter().any(|e| e.request.body != BodyMatch::None {})
            {
                item["protocolProfileBehavior"] = json!({ "disableBodyPruning": true });
            }
            item
        })
        .collect();
    let variables: Vec<Value> = environment
        .iter()
        .map(|(key, value)| json!({ "key": key, "value": value }))
        .collect();
    PostmanExport {
        collection: json!({
            "info": { "name": name, "schema": SCHEMA },
            "item": items,
            "variable": variables,
        }),
        warnings,
    }
}

fn method_of(example: &Example) -> String {
    match example.request.method.as_deref() {
        None | Some("*") => "GET".to_owned(),
        Some(method) => method.to_ascii_uppercase(),
    }
}

/// Warns about the parts of an example that a Postman collection has no place for.
fn unexpressible(example: &Example, location: &[String], warnings: &mut Vec<Warning>) {
    let mut lost =
        |what: &str| warnings.push(Warning::new(location, format!("{what} not exported")));
    let request = &example.request;
    if matches!(request.method.as_deref(), None | Some("*")) {
        lost("\"any method\" (written as GET)");
    }
    if request.path_match == PathMatch::Prefix {
        lost("prefix path matching");
    }
    if !request.cookies.is_empty() {
        lost("cookie conditions");
    }
    if request.expression.is_some() {
        lost("the expression condition");
    }
    if example.priority.is_some() {
        lost("the priority");
    }
    if example.response.delay_ms > 0 {
        lost("the delay");
    }
    if example.response.template {
        lost("template rendering (the template is written as plain text)");
    }
}

fn request_json(example: &Example, location: &[String], warnings: &mut Vec<Warning>) -> Value {
    let request = &example.request;
    let (path, inline_query) = request
        .path
        .split_once('?')
        .unwrap_or((request.path.as_str(), ""));
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut pairs = lyrebird_engine::request::parse_urlencoded(inline_query);
    for (key, condition) in &request.query {
        if let Some(value) = value_text(condition, location, "query parameter", key, warnings) {
            pairs.push((key.clone(), value));
        }
    }
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(key, value)| (encode_query_part(key), encode_query_part(value)))
        .collect();
    let query: Vec<Value> = pairs
        .iter()
        .map(|(key, value)| json!({ "key": key, "value": value }))
        .collect();
    let raw_query: Vec<String> = pairs
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    let mut raw = format!("{BASE_VARIABLE}{path}");
    if !raw_query.is_empty() {
        raw = format!("{raw}?{}", raw_query.join("&"));
    }
    let variables: Vec<Value> = segments
        .iter()
        .filter_map(|segment| segment.strip_prefix(':'))
        .map(|name| json!({ "key": name, "value": "" }))
        .collect();
    let headers: Vec<Value> = request
        .headers
        .iter()
        .filter_map(|(key, condition)| {
            value_text(condition, location, "header", key, warnings)
                .map(|value| json!({ "key": key, "value": value }))
        })
        .collect();
    let mut json = json!({
        "method": method_of(example),
        "header": headers,
        "url": {
            "raw": raw,
            "host": [BASE_VARIABLE],
            "path": segments,
            "query": query,
            "variable": variables,
        },
    });
    if let Some(body) = body_json(&request.body, location, warnings) {
        json["body"] = body;
    }
    json
}

/// Postman keeps query parameters as they appear in the URL, and the importer decodes them:
/// escape what decoding would otherwise change or what would split the query.
fn encode_query_part(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' | '+' | '&' | '=' | '#' => out.push_str(&format!("%{:02X}", c as u32)),
            ' ' => out.push_str("%20"),
            c => out.push(c),
        }
    }
    out
}

/// The value Postman can hold for a condition: equality as the value, "present" as a `<any>`
/// placeholder (which the importer reads back as "present"); the rest cannot be written.
fn value_text(
    condition: &ValueMatch,
    location: &[String],
    kind: &str,
    name: &str,
    warnings: &mut Vec<Warning>,
) -> Option<String> {
    match condition {
        ValueMatch::Equals(value) | ValueMatch::Rule(ValueRule::Equals(value)) => {
            Some(value.clone())
        }
        ValueMatch::Rule(ValueRule::Present(true)) => Some("<any>".to_owned()),
        ValueMatch::Rule(_) => {
            warnings.push(Warning::new(
                location,
                format!("the {kind} condition on `{name}` has no Postman form; not exported"),
            ));
            None
        }
    }
}

fn body_json(body: &BodyMatch, location: &[String], warnings: &mut Vec<Warning>) -> Option<Value> {
    let raw = |text: String, language: &str| json!({ "mode": "raw", "raw": text, "options": { "raw": { "language": language } } });
    match body {
        BodyMatch::None {} => None,
        BodyMatch::Text { value } => Some(raw(value.clone(), "text")),
        BodyMatch::Xml { value } => Some(raw(value.clone(), "xml")),
        BodyMatch::Json { value, mode } => {
            if *mode == JsonMode::Contains {
                warnings.push(Warning::new(
                    location,
                    "the body condition \"contains\" is exported as the whole body",
                ));
            }
            Some(raw(
                serde_json::to_string_pretty(value).unwrap_or_default(),
                "json",
            ))
        }
        BodyMatch::Form { params } => {
            let fields: Vec<Value> = params
                .iter()
                .filter_map(|(key, condition)| {
                    value_text(condition, location, "form field", key, warnings)
                        .map(|value| json!({ "key": key, "value": value }))
                })
                .collect();
            Some(json!({ "mode": "urlencoded", "urlencoded": fields }))
        }
        BodyMatch::Any {} => {
            warnings.push(Warning::new(
                location,
                "the condition \"any body\" has no Postman form; not exported",
            ));
            None
        }
    }
}

fn response_json(
    example: &Example,
    original_request: Value,
    location: &[String],
    warnings: &mut Vec<Warning>,
) -> Value {
    let response = &example.response;
    let (body, language) = match &response.body {
        None => (String::new(), None),
        Some(Value::String(text)) => (text.clone(), None),
        Some(value) => (
            serde_json::to_string_pretty(value).unwrap_or_default(),
            Some("json"),
        ),
    };
    let mut headers: Vec<Value> = response
        .headers
        .iter()
        .map(|header| json!({ "key": header.name, "value": header.value }))
        .collect();
    if language.is_some()
        && !response
            .headers
            .iter()
            .any(|header| header.name.eq_ignore_ascii_case("content-type"))
    {
        headers.push(json!({ "key": "Content-Type", "value": "application/json" }));
    }
    if response.template && body.contains("{%") {
        warnings.push(Warning::new(
            location,
            "the template uses statements Postman does not know; they are exported as text",
        ));
    }
    let mut json = json!({
        "name": example.name,
        "originalRequest": original_request,
        "status": reason_phrase(response.status),
        "code": response.status,
        "header": headers,
        "cookie": [],
        "body": body,
    });
    if let Some(language) = language {
        json["_postman_previewlanguage"] = json!(language);
    }
    json
}

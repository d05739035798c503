//! Postman collections (v2.0, v2.1 and the 2.0 drafts) and environment files.
//!
//! Every saved example (`response[]`) of every request, in every folder, becomes one engine
//! example: its conditions come from the example's `originalRequest` (method, path, query, headers
//! and the body Postman would send), its answer from the saved response. The mock gets Postman's
//! selection mode, so headers and bodies are compared only when a client or the mock's settings
//! ask, as in Postman. `docs/import.md` tells the rules in prose.

mod url;
mod vars;

use std::collections::{BTreeMap, BTreeSet};

use lyrebird_engine::template::translate_postman_template;
use lyrebird_engine::{
    BodyMatch, Example, Header, JsonMode, MatchSettings, RequestPattern, ResponseSpec,
    SelectionMode, ValueMatch, ValueRule,
};
use serde_json::{Value, json};

use crate::document::{array_at, parse_expecting, str_at, text_of};
use crate::http::{body_condition, header_value, is_transport_header, join_path, status_from_text};
use crate::{Counts, ImportError, ImportedMock, Kind, Warning};
use url::{Bases, PostmanUrl};
use vars::{Variables, has_dynamic_reference, has_reference, is_placeholder};

/// Folders nested deeper than this are refused rather than followed.
pub const MAX_FOLDER_DEPTH: usize = 32;

/// Methods whose body Postman does not send unless the request disables body pruning.
const PRUNED_BODY_METHODS: [&str; 5] = ["GET", "HEAD", "COPY", "PURGE", "UNLOCK"];

/// Imports a collection, with an environment file whose values win over the collection's
/// variables.
pub fn import(collection: &[u8], environment: Option<&[u8]>) -> Result<ImportedMock, ImportError> {
    let document = parse_expecting(collection, Kind::PostmanCollection)?;
    check_version(&document)?;
    let items = document
        .get("item")
        .and_then(Value::as_array)
        .ok_or_else(|| ImportError::invalid("item", "the collection's items must be a list"))?;

    let mut values = collection_variables(&document);
    if let Some(environment) = environment {
        values.extend(environment_values(environment)?);
    }
    let vars = Variables::new(values);
    let bases = Bases::from_values(vars.resolved_values().iter().map(String::as_str));

    let mut importer = Importer {
        vars,
        bases,
        examples: Vec::new(),
        warnings: Vec::new(),
        counts: Counts::default(),
        soap: false,
    };
    importer.walk(items, &mut Vec::new())?;

    let name = document
        .get("info")
        .and_then(|info| str_at(info, "name"))
        .unwrap_or("Imported collection")
        .to_owned();
    let settings = MatchSettings {
        selection: SelectionMode::Postman,
        match_headers: if importer.soap {
            vec!["SOAPAction".to_owned()]
        } else {
            Vec::new()
        },
        ..MatchSettings::default()
    };
    importer.counts.examples = importer.examples.len();
    Ok(ImportedMock {
        name,
        examples: importer.examples,
        environment: importer.vars.into_map()?,
        settings,
        warnings: importer.warnings,
        counts: importer.counts,
    })
}

/// Refuses v1 collections and schemas other than 2.0 / 2.1; a file without any schema is read as
/// 2.x, as Postman's own SDK does.
fn check_version(document: &Value) -> Result<(), ImportError> {
    const SUPPORTED: &str = "2.0.0, 2.1.0";
    let unsupported = |version: &str| ImportError::UnsupportedVersion {
        kind: Kind::PostmanCollection,
        version: version.to_owned(),
        supported: SUPPORTED,
    };
    if document.get("item").is_none() {
        return Err(unsupported("1.0"));
    }
    let info = document.get("info").unwrap_or(&Value::Null);
    let schema = str_at(info, "schema").or_else(|| str_at(info, "_postman_schema"));
    let Some(schema) = schema else {
        return Ok(());
    };
    let version = schema
        .rsplit(['/', '#'])
        .find(|part| part.starts_with('v') || part.starts_with(|c: char| c.is_ascii_digit()))
        .map(|part| part.trim_start_matches('v'))
        .unwrap_or(schema);
    if version.starts_with("2.0") || version.starts_with("2.1") {
        Ok(())
    } else {
        Err(unsupported(version))
    }
}

/// The collection's `variable` list (`key`, or `id` in the drafts); disabled and null values are
/// left out.
fn collection_variables(document: &Value) -> BTreeMap<String, String> {
    array_at(document, "variable")
        .iter()
        .filter(|variable| variable.get("disabled") != Some(&Value::Bool(true)))
        .filter_map(|variable| {
            let name = str_at(variable, "key").or_else(|| str_at(variable, "id"))?;
            let value = variable.get("value").and_then(text_of)?;
            Some((name.to_owned(), value))
        })
        .collect()
}

/// The enabled values of a Postman environment (or globals) file.
pub fn environment_values(bytes: &[u8]) -> Result<BTreeMap<String, String>, ImportError> {
    let document = parse_expecting(bytes, Kind::PostmanEnvironment)?;
    Ok(array_at(&document, "values")
        .iter()
        .filter(|variable| variable.get("enabled") != Some(&Value::Bool(false)))
        .filter_map(|variable| {
            let name = str_at(variable, "key")?;
            let value = variable.get("value").and_then(text_of)?;
            Some((name.to_owned(), value))
        })
        .collect())
}

struct Importer {
    vars: Variables,
    bases: Bases,
    examples: Vec<Example>,
    warnings: Vec<Warning>,
    counts: Counts,
    /// Some example is a SOAP call: operations share a path and differ by `SOAPAction`.
    soap: bool,
}

/// A request as saved with an example, before it becomes conditions.
struct SavedRequest {
    method: String,
    url: PostmanUrl,
    headers: Vec<(String, String)>,
    body: Option<Value>,
}

impl Importer {
    fn walk(&mut self, items: &[Value], location: &mut Vec<String>) -> Result<(), ImportError> {
        for item in items {
            let name = str_at(item, "name").unwrap_or("(unnamed)").to_owned();
            let children = item.get("item");
            if children.is_some() && location.len() >= MAX_FOLDER_DEPTH {
                return Err(ImportError::TooDeep {
                    limit: MAX_FOLDER_DEPTH,
                    at: location.join(" / "),
                });
            }
            location.push(name);
            match (children, item.get("request")) {
                (Some(children), _) => {
                    self.counts.folders += 1;
                    match children.as_array() {
                        Some(children) => self.walk(children, location)?,
                        None => self.warn(location, "the folder's items are not a list; skipped"),
                    }
                }
                (None, Some(_)) => self.request(item, location),
                (None, None) => self.warn(location, "neither a folder nor a request; skipped"),
            }
            location.pop();
        }
        Ok(())
    }

    fn warn(&mut self, location: &[String], message: impl Into<String>) {
        self.warnings.push(Warning::new(location, message));
    }

    fn request(&mut self, item: &Value, location: &mut Vec<String>) {
        self.counts.requests += 1;
        let responses = array_at(item, "response");
        if responses.is_empty() {
            self.counts.without_examples += 1;
            return;
        }
        let keep_body = item
            .get("protocolProfileBehavior")
            .and_then(|behavior| behavior.get("disableBodyPruning"))
            == Some(&Value::Bool(true));
        let saved: Vec<SavedRequest> = responses
            .iter()
            .map(|response| {
                let original = response
                    .get("originalRequest")
                    .or_else(|| item.get("request"));
                self.saved_request(original)
            })
            .collect();
        let literal = literal_path_variables(&saved);
        for (response, request) in responses.iter().zip(saved) {
            let example_name = match str_at(response, "name") {
                Some(name) if !name.trim().is_empty() => name.to_owned(),
                _ => location.last().cloned().unwrap_or_default(),
            };
            location.push(example_name.clone());
            if response.get("originalRequest").is_none() {
                self.warn(
                    location,
                    "the example has no original request; the request's own is used",
                );
            }
            let example = Example {
                name: example_name,
                priority: None,
                request: self.pattern(request, &literal, keep_body, location),
                response: self.response(response, location),
                ..Example::default()
            };
            if let Some(example) =
                crate::accepted(example, location, &BTreeMap::new(), &mut self.warnings)
            {
                self.examples.push(example);
            }
            location.pop();
        }
    }

    /// Reads a saved request, which the drafts may give as a bare URL string.
    fn saved_request(&self, request: Option<&Value>) -> SavedRequest {
        let request = request.unwrap_or(&Value::Null);
        let url = if request.is_string() {
            Some(request)
        } else {
            request.get("url")
        };
        SavedRequest {
            method: str_at(request, "method")
                .unwrap_or("GET")
                .to_ascii_uppercase(),
            url: url::parse(url, &self.vars, &self.bases),
            headers: header_list(request.get("header")),
            body: request.get("body").cloned(),
        }
    }

    fn pattern(
        &mut self,
        request: SavedRequest,
        literal: &BTreeSet<String>,
        keep_body: bool,
        location: &[String],
    ) -> RequestPattern {
        let segments: Vec<String> = request
            .url
            .segments
            .iter()
            .map(|segment| {
                let value = segment
                    .strip_prefix(':')
                    .filter(|name| literal.contains(*name))
                    .and_then(|name| request.url.path_variables.get(name))
                    .filter(|value| !value.is_empty() && !is_placeholder(value))
                    .map(|value| value.replace('/', "%2F"));
                value.unwrap_or_else(|| segment.clone())
            })
            .collect();
        let query = request
            .url
            .query
            .iter()
            .map(|(name, value)| (name.clone(), self.value_match(value)))
            .collect();
        let headers: BTreeMap<String, ValueMatch> = request
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), self.value_match(value)))
            .collect();
        if headers
            .keys()
            .any(|name| name.eq_ignore_ascii_case("soapaction"))
        {
            self.soap = true;
        }
        let sends_body = keep_body || !PRUNED_BODY_METHODS.contains(&request.method.as_str());
        let body = match &request.body {
            Some(body) if sends_body => self.body(body, &request.headers, location),
            _ => BodyMatch::None {},
        };
        RequestPattern {
            method: Some(request.method),
            path: join_path(&segments),
            query,
            headers,
            body,
            ..RequestPattern::default()
        }
    }

    /// A query or header value: variables resolved; a value the file leaves open (an unresolved
    /// variable, a `<string>` placeholder) only has to be present.
    fn value_match(&self, value: &str) -> ValueMatch {
        let resolved = self.vars.resolve(value);
        if is_placeholder(&resolved) || has_reference(&resolved) {
            ValueMatch::Rule(ValueRule::Present(true))
        } else {
            ValueMatch::Equals(resolved)
        }
    }

    fn body(
        &mut self,
        body: &Value,
        headers: &[(String, String)],
        location: &[String],
    ) -> BodyMatch {
        if body.get("disabled") == Some(&Value::Bool(true)) {
            return BodyMatch::None {};
        }
        let content_type = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            .map(|(_, value)| value.as_str());
        match str_at(body, "mode") {
            Some("raw") => {
                let text = self
                    .vars
                    .resolve(&body.get("raw").and_then(text_of).unwrap_or_default());
                let language = body
                    .pointer("/options/raw/language")
                    .and_then(Value::as_str)
                    .filter(|language| *language != "text");
                body_condition(&text, language.or(content_type))
            }
            Some("urlencoded") => {
                let params: BTreeMap<String, ValueMatch> = enabled_fields(body, "urlencoded")
                    .map(|field| {
                        let value = field.get("value").and_then(text_of).unwrap_or_default();
                        (key_of(field), self.value_match(&value))
                    })
                    .collect();
                if params.is_empty() {
                    BodyMatch::None {}
                } else {
                    BodyMatch::Form { params }
                }
            }
            Some("graphql") => {
                let graphql = body.get("graphql").unwrap_or(&Value::Null);
                let query = str_at(graphql, "query").unwrap_or_default();
                let variables = match graphql.get("variables") {
                    Some(Value::String(text)) if !text.trim().is_empty() => {
                        serde_json::from_str(text).unwrap_or_else(|_| json!({}))
                    }
                    Some(value @ Value::Object(_)) => value.clone(),
                    _ => json!({}),
                };
                BodyMatch::Json {
                    value: json!({ "query": self.vars.resolve(query), "variables": variables }),
                    mode: JsonMode::Equals,
                }
            }
            Some("formdata") => {
                if enabled_fields(body, "formdata").next().is_some() {
                    self.warn(
                        location,
                        "multipart form-data request body is not compared; the example matches any body",
                    );
                }
                BodyMatch::None {}
            }
            Some("file") => {
                let source = body.pointer("/file/src").and_then(text_of);
                if source.is_some_and(|source| !source.is_empty()) {
                    self.warn(
                        location,
                        "file request body is not compared; the example matches any body",
                    );
                }
                BodyMatch::None {}
            }
            Some(other) => {
                self.warn(
                    location,
                    format!("request body mode `{other}` is not known; the body is not compared"),
                );
                BodyMatch::None {}
            }
            None => BodyMatch::None {},
        }
    }

    fn response(&mut self, response: &Value, location: &[String]) -> ResponseSpec {
        let code = response.get("code").and_then(|code| match code {
            Value::Number(number) => number.as_u64().and_then(|n| u16::try_from(n).ok()),
            Value::String(text) => status_from_text(text),
            _ => None,
        });
        let status = code
            .filter(|code| (100..=599).contains(code))
            .or_else(|| str_at(response, "status").and_then(status_from_text));
        let status = status.unwrap_or_else(|| {
            self.warn(location, "the example has no status code; 200 is used");
            200
        });
        let mut headers: Vec<Header> = header_list(response.get("header"))
            .into_iter()
            .filter(|(name, _)| !is_transport_header(name))
            .map(|(name, value)| Header {
                name,
                value: self.vars.resolve(&value),
            })
            .collect();
        let mut text = match response.get("body") {
            Some(Value::String(text)) => text.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        let language = str_at(response, "_postman_previewlanguage");
        if !text.is_empty()
            && header_value(&headers, "content-type").is_none()
            && let Some(content_type) = language.and_then(content_type_for_language)
        {
            headers.push(Header {
                name: "Content-Type".to_owned(),
                value: content_type.to_owned(),
            });
        }
        let template =
            has_dynamic_reference(&text) || headers.iter().any(|h| has_dynamic_reference(&h.value));
        if template {
            text = translate_postman_template(&text);
            for header in &mut headers {
                header.value = translate_postman_template(&header.value);
            }
        }
        ResponseSpec {
            status,
            headers,
            body: (!text.is_empty()).then_some(Value::String(text)),
            template,
            ..ResponseSpec::default()
        }
    }
}

/// Path variables whose value differs between the examples of one request: those examples are
/// told apart by the value, so it becomes a literal segment; elsewhere `:name` captures any value.
fn literal_path_variables(saved: &[SavedRequest]) -> BTreeSet<String> {
    let mut values: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for request in saved {
        for (name, value) in &request.url.path_variables {
            if !value.is_empty() && !is_placeholder(value) {
                values.entry(name).or_default().insert(value);
            }
        }
    }
    values
        .into_iter()
        .filter(|(_, values)| values.len() > 1)
        .map(|(name, _)| name.to_owned())
        .collect()
}

/// Headers given as a list of `key` / `value` objects (disabled ones left out) or, in the drafts,
/// as raw `Name: value` lines.
fn header_list(headers: Option<&Value>) -> Vec<(String, String)> {
    match headers {
        Some(Value::Array(list)) => list
            .iter()
            .filter(|header| header.get("disabled") != Some(&Value::Bool(true)))
            .filter_map(|header| {
                let name = str_at(header, "key")?.trim();
                let value = header.get("value").and_then(text_of).unwrap_or_default();
                (!name.is_empty()).then(|| (name.to_owned(), value))
            })
            .collect(),
        Some(Value::String(lines)) => lines
            .lines()
            .filter_map(|line| {
                let (name, value) = line.split_once(':')?;
                Some((name.trim().to_owned(), value.trim().to_owned()))
            })
            .filter(|(name, _)| !name.is_empty())
            .collect(),
        _ => Vec::new(),
    }
}

fn enabled_fields<'a>(body: &'a Value, mode: &str) -> impl Iterator<Item = &'a Value> {
    array_at(body, mode)
        .iter()
        .filter(|field| field.get("disabled") != Some(&Value::Bool(true)))
        .filter(|field| field.get("key").is_some())
}

fn key_of(field: &Value) -> String {
    field.get("key").and_then(text_of).unwrap_or_default()
}

/// The Content-Type Postman shows for a saved body in a given preview language.
fn content_type_for_language(language: &str) -> Option<&'static str> {
    match language {
        "json" => Some("application/json"),
        "xml" => Some("application/xml"),
        "html" => Some("text/html"),
        "text" => Some("text/plain"),
        _ => None,
    }
}

//! OpenAPI 3.0 / 3.1 and Swagger 2.0 descriptions, JSON or YAML.
//!
//! Each operation's saved response examples (`example`, named `examples`, Swagger's `examples`
//! keyed by media type, `$ref`s followed) become engine examples. A named response example is
//! paired with the request-side examples of the same name (parameters and request bodies), as
//! Microcks files do, so `GET /pets/1` answers `pet_1` and `GET /pets/2` answers `pet_2`. An
//! operation whose success response has no example gets one generated from its schema.
//!
//! Example paths are the description's paths: the mock's base stands for the server URL with its
//! base path (`servers[0]`, Swagger's `basePath`), just as a client configured with that server
//! URL would call it.

pub(crate) mod refs;
mod schema;

use std::collections::BTreeMap;

use lyrebird_engine::{
    BodyMatch, Example, Header, MatchSettings, RequestPattern, ResponseSpec, SelectionMode,
    ValueMatch,
};
use serde_json::Value;

use crate::document::{self, array_at, str_at, text_of};
use crate::http::{body_condition, is_json_media};
use crate::{Counts, ImportError, ImportedMock, Kind, Warning};
use refs::Refs;

pub(crate) const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Imports an OpenAPI 3.0 / 3.1 or Swagger 2.0 description.
pub fn import(bytes: &[u8]) -> Result<ImportedMock, ImportError> {
    let document = document::parse(bytes)?;
    let kind = document::classify(&document);
    let swagger = match kind {
        Kind::OpenApi => false,
        Kind::Swagger => true,
        found => {
            return Err(ImportError::WrongKind {
                expected: Kind::OpenApi,
                found,
            });
        }
    };
    check_version(&document, kind)?;
    let paths = document
        .get("paths")
        .and_then(Value::as_object)
        .ok_or_else(|| ImportError::invalid("paths", "the description has no `paths` object"))?;

    let mut importer = Importer {
        refs: Refs::new(&document),
        swagger,
        produces: array_at(&document, "produces")
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        examples: Vec::new(),
        warnings: Vec::new(),
        counts: Counts::default(),
    };
    for (path, item) in paths {
        let item = match importer.refs.follow(item) {
            Ok(item) => item,
            Err(message) => {
                importer.warn(std::slice::from_ref(path), message);
                continue;
            }
        };
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                importer.operation(path, method, item, operation);
            }
        }
    }

    let name = document
        .get("info")
        .and_then(|info| str_at(info, "title"))
        .unwrap_or("Imported API")
        .to_owned();
    importer.counts.examples = importer.examples.len();
    Ok(ImportedMock {
        name,
        examples: unique_names(importer.examples),
        environment: BTreeMap::new(),
        settings: MatchSettings {
            selection: SelectionMode::Postman,
            ..MatchSettings::default()
        },
        warnings: importer.warnings,
        counts: importer.counts,
    })
}

/// Example names as the file gives them, except that a name several examples share
/// (`default_example` in many operations, `generic` under several statuses) gets its operation's
/// label in front, and the status too when that is not enough, so that `x-mock-response-name`
/// reaches every example.
fn unique_names(examples: Vec<(String, bool, Example)>) -> Vec<Example> {
    let count = |names: &mut dyn Iterator<Item = String>| {
        let mut uses: BTreeMap<String, usize> = BTreeMap::new();
        for name in names {
            *uses.entry(name).or_default() += 1;
        }
        uses
    };
    let labelled =
        |(label, _, example): &(String, bool, Example)| format!("{label} {}", example.name);
    let plain_uses = count(&mut examples.iter().map(|(_, _, e)| e.name.clone()));
    let labelled_uses = count(&mut examples.iter().map(labelled));
    examples
        .iter()
        .map(|entry| {
            let (label, authored, example) = entry;
            let mut example = example.clone();
            if *authored && plain_uses[&example.name] > 1 {
                example.name = if labelled_uses[&labelled(entry)] > 1 {
                    format!("{label} {} {}", example.response.status, example.name)
                } else {
                    labelled(entry)
                };
            }
            example
        })
        .collect()
}

pub(crate) fn check_version(document: &Value, kind: Kind) -> Result<(), ImportError> {
    let (key, supported, accepts): (_, _, fn(&str) -> bool) = if kind == Kind::Swagger {
        ("swagger", "2.0", |v| v == "2.0")
    } else {
        ("openapi", "3.0.x, 3.1.x", |v| {
            v.starts_with("3.0") || v.starts_with("3.1")
        })
    };
    let version = document.get(key).and_then(text_of).unwrap_or_default();
    if accepts(&version) {
        Ok(())
    } else {
        Err(ImportError::UnsupportedVersion {
            kind,
            version,
            supported,
        })
    }
}

struct Importer<'a> {
    refs: Refs<'a>,
    swagger: bool,
    /// Swagger's document-wide `produces`.
    produces: Vec<String>,
    /// Each example with its operation's label and whether the file named it.
    examples: Vec<(String, bool, Example)>,
    warnings: Vec<Warning>,
    counts: Counts,
}

/// One response example before it becomes an engine example.
struct Found {
    name: Option<String>,
    status: u16,
    media: String,
    value: Value,
    headers: Vec<Header>,
    /// The operation answers this status in several media types: `Accept` tells them apart.
    several_media: bool,
    /// Made up from the schema.
    generated: bool,
}

/// Request-side examples of one name: parameter values and a request body.
#[derive(Default)]
struct RequestSide {
    path: BTreeMap<String, String>,
    query: BTreeMap<String, ValueMatch>,
    headers: BTreeMap<String, ValueMatch>,
    body: Option<(String, Value)>,
}

impl<'a> Importer<'a> {
    fn warn(&mut self, location: &[String], message: impl Into<String>) {
        self.warnings.push(Warning::new(location, message));
    }

    fn operation(&mut self, path: &str, method: &str, item: &'a Value, operation: &'a Value) {
        self.counts.requests += 1;
        let method = method.to_ascii_uppercase();
        let location = vec![format!("{method} {path}")];
        let label = str_at(operation, "operationId")
            .or_else(|| str_at(operation, "summary"))
            .map_or_else(|| format!("{method} {path}"), str::to_owned);
        let parameters = self.parameters(item, operation);
        let responses: Vec<(u16, &Value)> = self.responses(operation, &location);

        let mut found = Vec::new();
        for (status, response) in &responses {
            found.extend(self.response_examples(*status, response, &location));
        }
        let success = responses
            .iter()
            .find(|(status, _)| (200..300).contains(status));
        if let Some((status, response)) = success
            && !found.iter().any(|f| f.status == *status)
        {
            let position = found.iter().position(|f| f.status > *status);
            let generated = self.generated(*status, response, operation);
            found.insert(position.unwrap_or(found.len()), generated);
        }
        if found.is_empty() {
            self.counts.without_examples += 1;
            return;
        }

        for example in found {
            let is_generated = example.generated;
            let request_side = example
                .name
                .as_deref()
                .map(|name| self.request_side(name, &parameters, operation))
                .unwrap_or_default();
            let name = match (&example.name, is_generated) {
                (Some(name), _) => name.clone(),
                (None, true) => format!("{label} {} (generated)", example.status),
                (None, false) if example.several_media => {
                    format!("{label} {} {}", example.status, example.media)
                }
                (None, false) => format!("{label} {}", example.status),
            };
            let authored = example.name.is_some();
            let built = build_example(name, &method, path, example, request_side);
            let mut at = location.clone();
            at.extend([built.response.status.to_string(), built.name.clone()]);
            if let Some(built) = crate::accepted(built, &at, &BTreeMap::new(), &mut self.warnings) {
                self.counts.generated += usize::from(is_generated);
                self.examples.push((label.clone(), authored, built));
            }
        }
    }

    /// The path item's parameters overridden by the operation's, references followed.
    fn parameters(&mut self, item: &'a Value, operation: &'a Value) -> Vec<&'a Value> {
        let mut parameters: Vec<&Value> = Vec::new();
        for parameter in array_at(item, "parameters")
            .iter()
            .chain(array_at(operation, "parameters"))
        {
            let Some(parameter) = self.refs.get(parameter) else {
                continue;
            };
            let key = (str_at(parameter, "name"), str_at(parameter, "in"));
            parameters.retain(|p| (str_at(p, "name"), str_at(p, "in")) != key);
            parameters.push(parameter);
        }
        parameters
    }

    /// The responses with a usable status: `2XX` ranges count as their first code; `default`
    /// counts as 200 when nothing else is a success, and is left out otherwise.
    fn responses(&mut self, operation: &'a Value, location: &[String]) -> Vec<(u16, &'a Value)> {
        let Some(responses) = operation.get("responses").and_then(Value::as_object) else {
            return Vec::new();
        };
        let has_success = responses.keys().any(|code| code.starts_with('2'));
        let mut out = Vec::new();
        for (code, response) in responses {
            let status = if code == "default" {
                (!has_success).then_some(200)
            } else if let Ok(status) = code.parse::<u16>() {
                (100..=599).contains(&status).then_some(status)
            } else if code.len() == 3
                && code
                    .get(1..)
                    .is_some_and(|xx| xx.eq_ignore_ascii_case("xx"))
            {
                // `get`: the code is the file's text, and its first character may be wider
                // than a byte.
                code.get(..1)
                    .and_then(|class| class.parse::<u16>().ok())
                    .map(|class| class * 100)
            } else {
                None
            };
            let Some(status) = status else {
                if code != "default" {
                    self.warn(location, format!("response `{code}` is not a status code"));
                }
                continue;
            };
            match self.refs.follow(response) {
                Ok(response) => out.push((status, response)),
                Err(message) => {
                    let mut at = location.to_vec();
                    at.push(code.clone());
                    self.warn(&at, message);
                }
            }
        }
        out
    }

    fn response_examples(
        &mut self,
        status: u16,
        response: &'a Value,
        location: &[String],
    ) -> Vec<Found> {
        let mut at = location.to_vec();
        at.push(status.to_string());
        let headers = self.response_headers(response);
        let mut found = Vec::new();
        if self.swagger {
            if let Some(examples) = response.get("examples").and_then(Value::as_object) {
                for (media, value) in examples {
                    found.push(Found {
                        name: None,
                        status,
                        media: media.clone(),
                        value: value.clone(),
                        headers: headers.clone(),
                        several_media: examples.len() > 1,
                        generated: false,
                    });
                }
            }
            return found;
        }
        let Some(content) = response.get("content").and_then(Value::as_object) else {
            return found;
        };
        let several_media = content.len() > 1;
        for (media, media_object) in content {
            let mut add = |name: Option<String>, value: Value| {
                found.push(Found {
                    name,
                    status,
                    media: media.clone(),
                    value,
                    headers: headers.clone(),
                    several_media,
                    generated: false,
                });
            };
            if let Some(examples) = media_object.get("examples").and_then(Value::as_object) {
                for (name, example) in examples {
                    match self.example_value(example) {
                        Ok(value) => add(Some(name.clone()), value),
                        Err(message) => {
                            let mut at = at.clone();
                            at.push(name.clone());
                            self.warnings.push(Warning::new(&at, message));
                        }
                    }
                }
            } else if let Some(value) = media_object.get("example") {
                add(None, value.clone());
            }
        }
        found
    }

    /// The value of a named example object, following `$ref`.
    fn example_value(&self, example: &'a Value) -> Result<Value, String> {
        let example = self.refs.follow(example)?;
        if let Some(value) = example.get("value") {
            Ok(value.clone())
        } else if let Some(url) = str_at(example, "externalValue") {
            Err(format!(
                "the example is only given by URL ({url}), which is not fetched"
            ))
        } else {
            Err("the example has no `value`".to_owned())
        }
    }

    /// Response headers that the description gives an example value for.
    fn response_headers(&self, response: &'a Value) -> Vec<Header> {
        let Some(headers) = response.get("headers").and_then(Value::as_object) else {
            return Vec::new();
        };
        headers
            .iter()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("content-type"))
            .filter_map(|(name, header)| {
                let header = self.refs.get(header)?;
                let value = header
                    .get("example")
                    .or_else(|| header.pointer("/schema/example"))
                    .or_else(|| header.get("x-example"))?;
                Some(Header {
                    name: name.clone(),
                    value: text_of(value)?,
                })
            })
            .collect()
    }

    /// An example made up from the success response's schema (or an empty answer when it has
    /// none), in its first JSON media type if it has one.
    fn generated(&self, status: u16, response: &'a Value, operation: &'a Value) -> Found {
        let (media, schema) = if self.swagger {
            let produces: Vec<&str> = array_at(operation, "produces")
                .iter()
                .filter_map(Value::as_str)
                .chain(self.produces.iter().map(String::as_str))
                .collect();
            let media = produces
                .iter()
                .find(|media| is_json_media(media))
                .or(produces.first())
                .map_or("application/json", |media| *media);
            (media.to_owned(), response.get("schema"))
        } else {
            let content = response.get("content").and_then(Value::as_object);
            let entry = content.and_then(|content| {
                content
                    .iter()
                    .find(|(media, _)| is_json_media(media))
                    .or_else(|| content.iter().next())
            });
            match entry {
                Some((media, object)) => (media.clone(), object.get("schema")),
                None => (String::new(), None),
            }
        };
        let value = schema.map_or(Value::Null, |schema| schema::generate(self.refs, schema));
        Found {
            name: None,
            status,
            media,
            value,
            headers: self.response_headers(response),
            several_media: false,
            generated: true,
        }
    }

    /// The request-side examples named `name`: parameter values and a request body.
    fn request_side(
        &self,
        name: &str,
        parameters: &[&'a Value],
        operation: &'a Value,
    ) -> RequestSide {
        let mut side = RequestSide::default();
        for parameter in parameters {
            let Some(value) = parameter
                .get("examples")
                .and_then(|examples| examples.get(name))
                .and_then(|example| self.example_value(example).ok())
                .and_then(|value| text_of(&value))
            else {
                continue;
            };
            let Some(parameter_name) = str_at(parameter, "name") else {
                continue;
            };
            match str_at(parameter, "in") {
                Some("path") => {
                    side.path.insert(parameter_name.to_owned(), value);
                }
                Some("query") => {
                    side.query
                        .insert(parameter_name.to_owned(), ValueMatch::Equals(value));
                }
                Some("header") => {
                    side.headers
                        .insert(parameter_name.to_owned(), ValueMatch::Equals(value));
                }
                _ => {}
            }
        }
        let body = operation
            .get("requestBody")
            .and_then(|body| self.refs.get(body))
            .and_then(|body| body.get("content"))
            .and_then(Value::as_object);
        if let Some(content) = body {
            side.body = content.iter().find_map(|(media, object)| {
                let example = object.get("examples")?.get(name)?;
                Some((media.clone(), self.example_value(example).ok()?))
            });
            if side.body.is_some() && content.len() > 1 {
                let media = side.body.as_ref().map(|(media, _)| media.clone());
                side.headers.insert(
                    "Content-Type".to_owned(),
                    ValueMatch::Equals(media.unwrap_or_default()),
                );
            }
        }
        side
    }
}

fn build_example(
    name: String,
    method: &str,
    path: &str,
    found: Found,
    side: RequestSide,
) -> Example {
    let path = path
        .split('/')
        .map(|segment| {
            segment
                .strip_prefix('{')
                .and_then(|s| s.strip_suffix('}'))
                .and_then(|param| side.path.get(param))
                .map_or_else(|| segment.to_owned(), |value| value.replace('/', "%2F"))
        })
        .collect::<Vec<_>>()
        .join("/");
    let mut headers = side.headers;
    if found.several_media && !found.media.is_empty() {
        headers.insert("Accept".to_owned(), ValueMatch::Equals(found.media.clone()));
    }
    let body = match side.body {
        Some((media, Value::String(text))) => body_condition(&text, Some(&media)),
        Some((_, value)) => BodyMatch::Json {
            value,
            mode: lyrebird_engine::JsonMode::Equals,
        },
        None => BodyMatch::None {},
    };
    let body_value = match found.value {
        Value::Null => None,
        Value::String(text) if text.is_empty() => None,
        value @ Value::String(_) => Some(value),
        value if is_json_media(&found.media) => Some(value),
        value => Some(Value::String(
            serde_json::to_string_pretty(&value).unwrap_or_default(),
        )),
    };
    let mut response_headers = Vec::new();
    if body_value.is_some() && !found.media.is_empty() {
        response_headers.push(Header {
            name: "Content-Type".to_owned(),
            value: found.media,
        });
    }
    response_headers.extend(found.headers);
    Example {
        name,
        priority: None,
        request: RequestPattern {
            method: Some(method.to_owned()),
            path,
            query: side.query,
            headers,
            body,
            ..RequestPattern::default()
        },
        response: ResponseSpec {
            status: found.status,
            headers: response_headers,
            body: body_value,
            ..ResponseSpec::default()
        },
        ..Example::default()
    }
}

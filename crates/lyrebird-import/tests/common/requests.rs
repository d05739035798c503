//! The requests the corpus replay sends: for each Postman example, its original request rebuilt
//! from the collection file as a client of the mock would send it; for each OpenAPI example, a
//! request built from its operation. Shared by this crate's engine-level replay and the server's
//! replay over HTTP (`crates/lyrebird-server/tests/imports.rs`), so both send the same requests.

use std::collections::BTreeMap;
use std::ops::Range;

use lyrebird_engine::{BodyMatch, Example, Request, ValueMatch, ValueRule};
use serde_json::Value;

/// One example to replay: the request a client would send and what must come back.
pub struct Case {
    pub location: String,
    pub request: Request,
    /// Position of the example in the import.
    pub index: usize,
    /// The examples of the same Postman request.
    pub group: Range<usize>,
}

// --- Postman: requests rebuilt from the collection file, as Postman would send them ---

/// A client of the mock: the collection's variables, with the mock's URL in place of the base.
struct Client {
    vars: BTreeMap<String, String>,
    /// Variables whose values are URLs with a path: hosts and path segments.
    bases: Vec<(String, Vec<String>)>,
}

impl Client {
    fn new(document: &Value) -> Self {
        let vars: BTreeMap<String, String> = document["variable"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| {
                let key = v["key"].as_str().or_else(|| v["id"].as_str())?;
                let value = v["value"].as_str()?;
                Some((key.to_owned(), value.to_owned()))
            })
            .collect();
        let mut client = Self {
            vars,
            bases: Vec::new(),
        };
        let values: Vec<String> = client.vars.values().map(|v| client.resolve(v)).collect();
        for value in values {
            let Some(rest) = value
                .strip_prefix("https://")
                .or_else(|| value.strip_prefix("http://"))
            else {
                continue;
            };
            let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
            let segments: Vec<String> = path
                .split('/')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            client.bases.push((host.to_ascii_lowercase(), segments));
        }
        client
            .bases
            .sort_by_key(|(_, s)| std::cmp::Reverse(s.len()));
        client
    }

    fn resolve(&self, text: &str) -> String {
        let mut current = text.to_owned();
        for _ in 0..10 {
            let mut next = current.clone();
            for (name, value) in &self.vars {
                next = next.replace(&format!("{{{{{name}}}}}"), value);
            }
            if next == current {
                break;
            }
            current = next;
        }
        current
    }

    /// A value the client has to make up for a variable nobody defined.
    fn resolve_or_invent(&self, text: &str) -> String {
        let resolved = self.resolve(text);
        resolved.replace("{{", "v-").replace("}}", "")
    }

    fn request(&self, original: &Value, send_body: bool) -> Request {
        let (method, url) = match original {
            Value::String(url) => ("GET".to_owned(), Value::String(url.clone())),
            _ => (
                original["method"].as_str().unwrap_or("GET").to_owned(),
                original["url"].clone(),
            ),
        };
        let (host, segments, query, path_vars) = url_parts(&url);
        let segments: Vec<String> = segments
            .iter()
            .map(|segment| match segment.strip_prefix(':') {
                Some(name) => path_vars
                    .get(name)
                    .filter(|v| !v.is_empty())
                    .cloned()
                    .unwrap_or_else(|| "1".to_owned()),
                None => self.resolve_or_invent(segment),
            })
            .collect();
        let path = self.path_after_base(&host, segments);
        let query = query
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(&self.resolve(v))))
            .collect::<Vec<_>>()
            .join("&");
        let mut headers: Vec<(String, String)> = header_pairs(&original["header"])
            .into_iter()
            .map(|(k, v)| (k, self.resolve(&v)))
            .collect();
        let body = if send_body {
            self.body(&original["body"], &mut headers)
        } else {
            Vec::new()
        };
        Request::new(method, path, query, headers, body)
    }

    fn path_after_base(&self, host: &str, segments: Vec<String>) -> String {
        let mut segments = segments;
        if !host.contains("{{") {
            let host = self.resolve(host).to_ascii_lowercase();
            let host = host.rsplit('@').next().unwrap_or_default().to_owned();
            if let Some((_, base)) = self.bases.iter().find(|(base_host, base)| {
                *base_host == host
                    && segments.len() >= base.len()
                    && segments[..base.len()] == base[..]
            }) {
                segments.drain(..base.len());
            }
        }
        let trailing = segments.len() > 1 && segments.last().is_some_and(String::is_empty);
        let kept: Vec<String> = segments.into_iter().filter(|s| !s.is_empty()).collect();
        format!("/{}{}", kept.join("/"), if trailing { "/" } else { "" })
    }

    /// The body Postman sends for a body mode, with the Content-Type Postman adds.
    fn body(&self, body: &Value, headers: &mut Vec<(String, String)>) -> Vec<u8> {
        let mut content_type = |value: &str| {
            if !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            {
                headers.push(("content-type".to_owned(), value.to_owned()));
            }
        };
        match body["mode"].as_str() {
            Some("raw") => {
                match body
                    .pointer("/options/raw/language")
                    .and_then(Value::as_str)
                {
                    Some("json") => content_type("application/json"),
                    Some("xml") => content_type("application/xml"),
                    _ => {}
                }
                self.resolve(body["raw"].as_str().unwrap_or_default())
                    .into_bytes()
            }
            Some("urlencoded") => {
                content_type("application/x-www-form-urlencoded");
                enabled(&body["urlencoded"])
                    .map(|(k, v)| format!("{}={}", encode(&k), encode(&self.resolve(&v))))
                    .collect::<Vec<_>>()
                    .join("&")
                    .into_bytes()
            }
            Some("graphql") => {
                content_type("application/json");
                let variables = body["graphql"]["variables"]
                    .as_str()
                    .and_then(|v| serde_json::from_str::<Value>(v).ok())
                    .unwrap_or_else(|| serde_json::json!({}));
                serde_json::json!({
                    "query": self.resolve(body["graphql"]["query"].as_str().unwrap_or_default()),
                    "variables": variables,
                })
                .to_string()
                .into_bytes()
            }
            _ => Vec::new(),
        }
    }
}

/// Host, path segments, enabled query pairs and path variables of a Postman URL.
type UrlParts = (
    String,
    Vec<String>,
    Vec<(String, String)>,
    BTreeMap<String, String>,
);

fn url_parts(url: &Value) -> UrlParts {
    let path_vars: BTreeMap<String, String> = url["variable"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| {
            Some((
                v["key"].as_str()?.to_owned(),
                v["value"].as_str().unwrap_or_default().to_owned(),
            ))
        })
        .collect();
    let structured = url.get("host").is_some() || url.get("path").is_some();
    if let (false, Some(raw)) = (structured, url.as_str().or_else(|| url["raw"].as_str())) {
        let raw = raw.split('#').next().unwrap_or_default();
        let (before, query) = raw.split_once('?').unwrap_or((raw, ""));
        let after = before.split_once("://").map_or(before, |(_, rest)| rest);
        let (host, path) = if after.starts_with('/') {
            ("", after)
        } else {
            after.split_once('/').unwrap_or((after, ""))
        };
        let query = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect();
        let segments = path
            .trim_start_matches('/')
            .split('/')
            .map(str::to_owned)
            .collect();
        return (host.to_owned(), segments, query, path_vars);
    }
    let host = match &url["host"] {
        Value::Array(parts) => parts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("."),
        Value::String(host) => host.clone(),
        _ => String::new(),
    };
    let segments = match &url["path"] {
        Value::Array(parts) => parts
            .iter()
            .map(|p| {
                p.as_str()
                    .or_else(|| p["value"].as_str())
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect(),
        Value::String(path) => path
            .trim_start_matches('/')
            .split('/')
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    (host, segments, enabled(&url["query"]).collect(), path_vars)
}

fn enabled(list: &Value) -> impl Iterator<Item = (String, String)> + '_ {
    list.as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["disabled"] != Value::Bool(true))
        .filter_map(|p| {
            Some((
                p["key"].as_str()?.to_owned(),
                p["value"].as_str().unwrap_or_default().to_owned(),
            ))
        })
}

fn header_pairs(headers: &Value) -> Vec<(String, String)> {
    match headers {
        Value::String(lines) => lines
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect(),
        other => enabled(other).collect(),
    }
}

/// Percent-encodes what would otherwise change the meaning of a query string.
fn encode(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' | '=' | '#' | '+' | '%' | ' ' => format!("%{:02X}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

pub fn postman_cases(document: &Value) -> Vec<Case> {
    let client = Client::new(document);
    let mut cases = Vec::new();
    walk(
        &client,
        document["item"].as_array().expect("items"),
        &mut Vec::new(),
        &mut cases,
    );
    cases
}

fn walk(client: &Client, items: &[Value], location: &mut Vec<String>, cases: &mut Vec<Case>) {
    for item in items {
        let name = item["name"].as_str().unwrap_or("(unnamed)").to_owned();
        if let Some(children) = item["item"].as_array() {
            location.push(name);
            walk(client, children, location, cases);
            location.pop();
            continue;
        }
        let responses = item["response"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let start = cases.len();
        let group = start..start + responses.len();
        for response in responses {
            let original = response.get("originalRequest").unwrap_or(&item["request"]);
            let method = original["method"].as_str().unwrap_or("GET");
            let send_body = !["GET", "HEAD", "COPY", "PURGE", "UNLOCK"].contains(&method)
                || item.pointer("/protocolProfileBehavior/disableBodyPruning")
                    == Some(&Value::Bool(true));
            cases.push(Case {
                location: format!(
                    "{} / {}",
                    location
                        .iter()
                        .chain([&name])
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(" / "),
                    response["name"].as_str().unwrap_or_default()
                ),
                request: client.request(original, send_body),
                index: cases.len(),
                group: group.clone(),
            });
        }
    }
}

// --- OpenAPI: a request built from each example's operation ---

fn request_for(example: &Example) -> Request {
    let pattern = &example.request;
    let path: Vec<String> = pattern
        .path
        .split('/')
        .map(|segment| {
            let capture = segment.starts_with(':') || segment.starts_with('{') || segment == "*";
            if capture {
                "1".to_owned()
            } else {
                segment.to_owned()
            }
        })
        .collect();
    let value = |condition: &ValueMatch| match condition {
        ValueMatch::Equals(v) | ValueMatch::Rule(ValueRule::Equals(v)) => Some(v.clone()),
        ValueMatch::Rule(ValueRule::Present(true)) => Some("1".to_owned()),
        _ => None,
    };
    let query = pattern
        .query
        .iter()
        .filter_map(|(k, c)| Some(format!("{}={}", encode(k), encode(&value(c)?))))
        .collect::<Vec<_>>()
        .join("&");
    let mut headers: Vec<(String, String)> = pattern
        .headers
        .iter()
        .filter_map(|(k, c)| Some((k.clone(), value(c)?)))
        .collect();
    let body = match &pattern.body {
        BodyMatch::Json { value, .. } => {
            headers.push(("content-type".to_owned(), "application/json".to_owned()));
            value.to_string()
        }
        BodyMatch::Xml { value } | BodyMatch::Text { value } => value.clone(),
        _ => String::new(),
    };
    Request::new(
        pattern.method.clone().unwrap_or_else(|| "GET".to_owned()),
        path.join("/"),
        query,
        headers,
        body,
    )
}

pub fn openapi_cases(examples: &[Example]) -> Vec<Case> {
    examples
        .iter()
        .enumerate()
        .map(|(index, example)| Case {
            location: format!(
                "{} {} / {}",
                example.request.method.as_deref().unwrap_or_default(),
                example.request.path,
                example.name
            ),
            request: request_for(example),
            index,
            group: index..index + 1,
        })
        .collect()
}

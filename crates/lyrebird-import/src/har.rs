//! HAR 1.2 recordings (a browser's or proxy's saved network log, and Lyrebird's own call-log
//! export): one example per recorded exchange, identical exchanges imported once.
//!
//! The recorded host is dropped, as for Postman's literal URLs: `https://api.example.com/v1/x`
//! becomes `/v1/x`. Request headers are not kept as conditions (a browser sends dozens that say
//! nothing about which answer is meant); the query and body are.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use lyrebird_engine::{
    BodyMatch, Example, Header, MatchSettings, RequestPattern, ResponseSpec, SelectionMode,
    ValueMatch,
};
use serde_json::Value;

use crate::document::{array_at, parse_expecting, str_at, text_of};
use crate::http::{body_condition, header_value, is_transport_header, join_path};
use crate::{Counts, ImportError, ImportedMock, Kind, Warning};

/// Imports a HAR file.
pub fn import(bytes: &[u8]) -> Result<ImportedMock, ImportError> {
    let document = parse_expecting(bytes, Kind::Har)?;
    let log = &document["log"];
    let version = log.get("version").and_then(text_of).unwrap_or_default();
    if !matches!(version.as_str(), "1.1" | "1.2") {
        return Err(ImportError::UnsupportedVersion {
            kind: Kind::Har,
            version,
            supported: "1.1, 1.2",
        });
    }
    let entries = log
        .get("entries")
        .and_then(Value::as_array)
        .ok_or_else(|| ImportError::invalid("log.entries", "the entries must be a list"))?;

    let mut examples: Vec<Example> = Vec::new();
    let mut warnings = Vec::new();
    let mut counts = Counts::default();
    let mut hosts = BTreeSet::new();
    for (index, entry) in entries.iter().enumerate() {
        counts.requests += 1;
        let request = entry.get("request").unwrap_or(&Value::Null);
        let method = str_at(request, "method")
            .unwrap_or("GET")
            .to_ascii_uppercase();
        let url = str_at(request, "url").unwrap_or("/");
        let (host, path) = split_url(url);
        let location = vec![format!("entry {} ({method} {path})", index + 1)];
        let response = entry.get("response").unwrap_or(&Value::Null);
        let status = response
            .get("status")
            .and_then(Value::as_u64)
            .and_then(|status| u16::try_from(status).ok())
            .filter(|status| (100..=599).contains(status));
        let Some(status) = status else {
            warnings.push(Warning::new(
                &location,
                "the exchange has no response status (aborted or blocked); skipped",
            ));
            counts.without_examples += 1;
            continue;
        };
        if !host.is_empty() {
            hosts.insert(host.to_ascii_lowercase());
        }
        let example = Example {
            name: format!("{method} {path} {status}"),
            priority: None,
            request: RequestPattern {
                method: Some(method),
                path,
                query: query_of(request, url),
                body: body_of(request),
                ..RequestPattern::default()
            },
            response: response_of(response, status, &location, &mut warnings),
            ..Example::default()
        };
        if examples.contains(&example) {
            counts.duplicates += 1;
        } else if let Some(example) =
            crate::accepted(example, &location, &BTreeMap::new(), &mut warnings)
        {
            examples.push(example);
        } else {
            counts.without_examples += 1;
        }
    }
    if hosts.len() > 1 {
        let hosts: Vec<String> = hosts.into_iter().collect();
        warnings.push(Warning::new(
            &[],
            format!(
                "the recording holds several hosts ({}); their paths now share one mock",
                hosts.join(", ")
            ),
        ));
    }
    counts.examples = examples.len();
    let name = log
        .get("pages")
        .and_then(|pages| pages.get(0))
        .and_then(|page| str_at(page, "title"))
        .unwrap_or("Imported recording")
        .to_owned();
    Ok(ImportedMock {
        name,
        examples,
        environment: BTreeMap::new(),
        settings: MatchSettings {
            selection: SelectionMode::Postman,
            ..MatchSettings::default()
        },
        warnings,
        counts,
    })
}

/// The host and the path (without query or fragment) of an absolute or relative URL.
fn split_url(url: &str) -> (String, String) {
    let url = url.split('#').next().unwrap_or_default();
    let url = url.split('?').next().unwrap_or_default();
    let (host, path) = match url.split_once("://") {
        Some((_, rest)) => rest.split_once('/').unwrap_or((rest, "")),
        None => ("", url),
    };
    let segments: Vec<String> = path.split('/').map(str::to_owned).collect();
    (host.to_owned(), join_path(&segments))
}

/// The recorded `queryString`, or the URL's query when a tool left that list out.
fn query_of(request: &Value, url: &str) -> BTreeMap<String, ValueMatch> {
    let listed = array_at(request, "queryString");
    let pairs: Vec<(String, String)> = if listed.is_empty() {
        let query = url.split('#').next().unwrap_or_default();
        let query = query.split_once('?').map_or("", |(_, query)| query);
        lyrebird_engine::request::parse_urlencoded(query)
    } else {
        listed
            .iter()
            .filter_map(|param| {
                let name = str_at(param, "name")?;
                let value = param.get("value").and_then(text_of).unwrap_or_default();
                Some((
                    lyrebird_engine::request::percent_decode(name),
                    lyrebird_engine::request::percent_decode(&value),
                ))
            })
            .collect()
    };
    pairs
        .into_iter()
        .map(|(name, value)| (name, ValueMatch::Equals(value)))
        .collect()
}

fn body_of(request: &Value) -> BodyMatch {
    let Some(post) = request.get("postData") else {
        return BodyMatch::None {};
    };
    let mime = str_at(post, "mimeType").unwrap_or_default();
    match str_at(post, "text") {
        Some(text) if !text.is_empty() => body_condition(text, Some(mime)),
        _ => {
            let params: BTreeMap<String, ValueMatch> = array_at(post, "params")
                .iter()
                .filter_map(|param| {
                    let name = str_at(param, "name")?;
                    let value = param.get("value").and_then(text_of).unwrap_or_default();
                    Some((name.to_owned(), ValueMatch::Equals(value)))
                })
                .collect();
            if params.is_empty() {
                BodyMatch::None {}
            } else {
                BodyMatch::Form { params }
            }
        }
    }
}

fn response_of(
    response: &Value,
    status: u16,
    location: &[String],
    warnings: &mut Vec<Warning>,
) -> ResponseSpec {
    let mut headers: Vec<Header> = array_at(response, "headers")
        .iter()
        .filter_map(|header| {
            let name = str_at(header, "name")?;
            let value = header.get("value").and_then(text_of).unwrap_or_default();
            Some(Header {
                name: name.to_owned(),
                value,
            })
        })
        .filter(|header| !header.name.starts_with(':') && !is_transport_header(&header.name))
        .collect();
    let content = response.get("content").unwrap_or(&Value::Null);
    let text = str_at(content, "text").unwrap_or_default();
    let body = if str_at(content, "encoding") == Some("base64") {
        match base64::engine::general_purpose::STANDARD.decode(text.trim()) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => text,
                Err(_) => {
                    warnings.push(Warning::new(
                        location,
                        "the response body is binary, which an example cannot hold; left out",
                    ));
                    String::new()
                }
            },
            Err(error) => {
                warnings.push(Warning::new(
                    location,
                    format!("the response body is not valid base64 ({error}); left out"),
                ));
                String::new()
            }
        }
    } else {
        text.to_owned()
    };
    let mime = str_at(content, "mimeType").unwrap_or_default();
    if !body.is_empty() && !mime.is_empty() && header_value(&headers, "content-type").is_none() {
        headers.push(Header {
            name: "Content-Type".to_owned(),
            value: mime.to_owned(),
        });
    }
    ResponseSpec {
        status,
        headers,
        body: (!body.is_empty()).then_some(Value::String(body)),
        ..ResponseSpec::default()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn har(entries: Value) -> Vec<u8> {
        json!({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "entries": entries}})
            .to_string()
            .into_bytes()
    }

    fn entry(url: &str, status: u16, text: &str) -> Value {
        json!({
            "request": {"method": "get", "url": url, "headers": [{"name": "User-Agent", "value": "x"}],
                        "queryString": [{"name": "page", "value": "2"}]},
            "response": {"status": status, "headers": [{"name": "Content-Length", "value": "9"},
                          {"name": "Content-Type", "value": "application/json"}],
                         "content": {"mimeType": "application/json", "text": text}}
        })
    }

    #[test]
    fn each_exchange_becomes_an_example_without_its_host_and_transport_headers() {
        let mock = import(&har(json!([entry(
            "https://api.example.com/v1/users?page=2",
            200,
            "[1]"
        )])))
        .expect("imports");
        let example = &mock.examples[0];
        assert_eq!(example.request.method.as_deref(), Some("GET"));
        assert_eq!(example.request.path, "/v1/users");
        assert_eq!(
            example.request.query["page"],
            ValueMatch::Equals("2".to_owned())
        );
        assert!(example.request.headers.is_empty());
        assert_eq!(example.response.headers.len(), 1);
        assert_eq!(example.response.body, Some(json!("[1]")));
    }

    #[test]
    fn identical_exchanges_are_imported_once() {
        let same = entry("https://a/x", 200, "{}");
        let mock =
            import(&har(json!([same, same, entry("https://a/x", 500, "{}")]))).expect("imports");
        assert_eq!(mock.examples.len(), 2);
        assert_eq!(mock.counts.duplicates, 1);
    }

    #[test]
    fn base64_bodies_are_decoded_and_binary_ones_left_out_with_a_warning() {
        let mut text = entry("https://a/t", 200, "aGVsbG8=");
        text["response"]["content"]["encoding"] = json!("base64");
        let mut binary = entry("https://a/b", 200, "/w==");
        binary["response"]["content"]["encoding"] = json!("base64");
        let mock = import(&har(json!([text, binary]))).expect("imports");
        assert_eq!(mock.examples[0].response.body, Some(json!("hello")));
        assert_eq!(mock.examples[1].response.body, None);
        assert_eq!(mock.warnings.len(), 1);
        assert!(
            mock.warnings[0].to_string().contains("binary"),
            "{}",
            mock.warnings[0]
        );
    }

    #[test]
    fn aborted_exchanges_are_skipped_with_a_warning() {
        let mock = import(&har(json!([entry("https://a/x", 0, "")]))).expect("imports");
        assert!(mock.examples.is_empty());
        assert!(mock.warnings[0].to_string().starts_with("entry 1 (GET /x)"));
    }

    #[test]
    fn a_har_of_another_version_is_refused() {
        let bytes = json!({"log": {"version": "2.0", "entries": []}}).to_string();
        let error = import(bytes.as_bytes()).expect_err("refused");
        assert!(
            matches!(error, ImportError::UnsupportedVersion { .. }),
            "{error}"
        );
    }
}

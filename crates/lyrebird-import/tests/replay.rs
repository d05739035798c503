//! Replays the corpus against mocks made from it: each Postman example's original request,
//! rebuilt from the collection file as a client would send it, must get that example's status and
//! body with `x-mock-response-name`, and one of its request's examples without control headers;
//! each OpenAPI example must answer a request built from its operation. The per-file rates are
//! the ones `docs/compatibility.md` reports, so a change that loses an example fails here (run
//! with `--nocapture` to print the table and the reasons for the page).

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::ops::Range;

use lyrebird_engine::{
    BodyMatch, CompiledMock, Example, Request, Selection, ValueMatch, ValueRule,
};
use serde_json::Value;

/// One example to replay: the request a client would send and what must come back.
struct Case {
    location: String,
    request: Request,
    /// Position of the example in the import.
    index: usize,
    /// The examples of the same Postman request.
    group: Range<usize>,
}

/// What replaying one file gave.
#[derive(Default)]
struct Report {
    examples: usize,
    by_name: usize,
    plain: usize,
    failures: Vec<String>,
}

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::UNIX_EPOCH
}

fn replay(mock: &CompiledMock, examples: &[Example], cases: &[Case], plain: bool) -> Report {
    let mut report = Report {
        examples: cases.len(),
        ..Report::default()
    };
    for case in cases {
        let expected = &examples[case.index];
        let mut named = case.request.clone();
        named
            .headers
            .push(("x-mock-response-name".to_owned(), expected.name.clone()));
        let outcome = mock.respond(&named, now());
        let rendered = outcome.rendered.as_ref();
        let status_fits = rendered.is_some_and(|r| r.status == expected.response.status);
        let body_fits = expected.response.template
            || rendered.is_some_and(|r| r.body == expected_body(expected));
        if status_fits && body_fits {
            report.by_name += 1;
        } else {
            let why = match &outcome.selection {
                Selection::Matched(matched) => format!(
                    "the name is shared by {} examples; `{}` ({}) answered",
                    examples.iter().filter(|e| e.name == expected.name).count(),
                    matched.name,
                    examples[matched.index].response.status
                ),
                other => format!("{other:?}"),
            };
            report
                .failures
                .push(format!("{} — by name: {why}", case.location));
        }
        if !plain {
            continue;
        }
        match mock.select(&case.request) {
            Selection::Matched(matched)
                if case
                    .group
                    .clone()
                    .any(|i| same_answer(&examples[i], &examples[matched.index])) =>
            {
                report.plain += 1
            }
            Selection::Matched(matched) => report.failures.push(format!(
                "{} — without control headers: `{}` of another request answered, with another body ({:?})",
                case.location, matched.name, matched.decided_by
            )),
            other => report.failures.push(format!(
                "{} — without control headers: {}",
                case.location,
                serde_json::to_string(&other).unwrap_or_default()
            )),
        }
    }
    report
}

/// Two examples that answer alike: an example copied into several requests counts for each.
fn same_answer(a: &Example, b: &Example) -> bool {
    a.response == b.response
}

fn expected_body(example: &Example) -> Vec<u8> {
    match &example.response.body {
        None => Vec::new(),
        Some(Value::String(text)) => text.clone().into_bytes(),
        Some(value) => serde_json::to_vec(value).unwrap_or_default(),
    }
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

fn postman_cases(document: &Value) -> Vec<Case> {
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

fn openapi_cases(examples: &[Example]) -> Vec<Case> {
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

// --- the tests ---

fn table_row(name: &str, report: &Report, plain: bool) -> String {
    let rate = |n: usize| {
        if report.examples == 0 {
            "—".to_owned()
        } else {
            format!(
                "{n}/{} ({:.0}%)",
                report.examples,
                100.0 * n as f64 / report.examples as f64
            )
        }
    };
    format!(
        "| `{name}` | {} | {} | {} |",
        report.examples,
        rate(report.by_name),
        if plain {
            rate(report.plain)
        } else {
            "—".to_owned()
        }
    )
}

#[test]
fn postman_corpus_examples_replay_by_name_and_by_request() {
    // (file prefix, examples, replayed by name, replayed without control headers)
    let expected: &[(&str, usize, usize, usize)] = &[
        ("Adyen", 40, 40, 40),
        ("RoxyAPI", 25, 25, 25),
        ("Xray-App", 2, 2, 2),
        ("aruba", 96, 96, 96),
        ("docusign", 35, 35, 35),
        ("experiandataquality", 12, 12, 12),
        ("grafana", 6, 6, 6),
        ("joolfe", 5, 4, 5),
        ("kevinswiber", 8, 8, 8),
        ("microcks", 5, 5, 5),
        ("postmanlabs", 2, 2, 2),
        ("twitterdev", 75, 75, 75),
    ];
    let mut table = String::new();
    let mut failures = String::new();
    for (name, bytes) in common::corpus_files("postman") {
        let document: Value = serde_json::from_slice(&bytes).expect("json");
        let mock = lyrebird_import::postman::import(&bytes, None).expect("imports");
        let cases = postman_cases(&document);
        assert_eq!(
            cases.len(),
            mock.examples.len(),
            "{name}: one case per example"
        );
        let compiled = common::compile(&mock);
        let report = replay(&compiled, &mock.examples, &cases, true);
        writeln!(table, "{}", table_row(&name, &report, true)).unwrap();
        for failure in &report.failures {
            writeln!(failures, "- `{name}`: {failure}").unwrap();
        }
        let (_, examples, by_name, plain) = expected
            .iter()
            .find(|(prefix, ..)| name.starts_with(prefix))
            .unwrap_or_else(|| panic!("{name}: no expected replay counts"));
        assert_eq!(report.examples, *examples, "{name}");
        assert!(
            report.by_name >= *by_name && report.plain >= *plain,
            "{name}: {} by name, {} without control headers: {:#?}",
            report.by_name,
            report.plain,
            report.failures
        );
    }
    println!("{table}\n{failures}");
}

#[test]
fn openapi_corpus_examples_answer_requests_built_from_their_operations() {
    let expected: &[(&str, usize, usize)] = &[
        ("Adyen", 278, 278),
        ("OAI", 4, 4),
        ("Redocly", 9, 9),
        ("microcks__microcks__APIPastry", 6, 6),
        ("microcks__microcks__petstore", 5, 5),
        ("moby", 139, 139),
    ];
    let mut table = String::new();
    let mut failures = String::new();
    for (name, bytes) in common::corpus_files("openapi") {
        let mock = lyrebird_import::openapi::import(&bytes).expect("imports");
        let cases = openapi_cases(&mock.examples);
        let compiled = common::compile(&mock);
        let report = replay(&compiled, &mock.examples, &cases, false);
        writeln!(table, "{}", table_row(&name, &report, false)).unwrap();
        for failure in &report.failures {
            writeln!(failures, "- `{name}`: {failure}").unwrap();
        }
        let (_, examples, by_name) = expected
            .iter()
            .find(|(prefix, ..)| name.starts_with(prefix))
            .unwrap_or_else(|| panic!("{name}: no expected replay counts"));
        assert_eq!(report.examples, *examples, "{name}");
        assert!(
            report.by_name >= *by_name,
            "{name}: {} by name: {:#?}",
            report.by_name,
            report.failures
        );
    }
    println!("{table}\n{failures}");
}

fn answer(mock: &CompiledMock, examples: &[Example], method: &str, url: &str) -> String {
    let request = Request::from_url(method, url, &[], "");
    match mock.select(&request) {
        Selection::Matched(matched) => examples[matched.index].name.clone(),
        other => panic!("{method} {url}: {other:?}"),
    }
}

#[test]
fn paired_openapi_examples_answer_plain_requests_by_their_values() {
    let petstore =
        common::corpus_dir("openapi").join("microcks__microcks__petstore-1.0.0-openapi.yaml");
    let mock =
        lyrebird_import::openapi::import(&std::fs::read(petstore).unwrap()).expect("imports");
    let compiled = common::compile(&mock);
    assert_eq!(answer(&compiled, &mock.examples, "GET", "/pets/1"), "pet_1");
    assert_eq!(answer(&compiled, &mock.examples, "GET", "/pets/2"), "pet_2");
    assert_eq!(
        answer(&compiled, &mock.examples, "GET", "/pets?filter=k"),
        "k_pets"
    );
    let pastry = common::corpus_dir("openapi").join("microcks__microcks__APIPastry-openapi.yaml");
    let mock = lyrebird_import::openapi::import(&std::fs::read(pastry).unwrap()).expect("imports");
    let compiled = common::compile(&mock);
    assert_eq!(
        answer(&compiled, &mock.examples, "GET", "/pastry/Millefeuille"),
        "Millefeuille"
    );
}

#[test]
fn an_operation_answers_a_plain_request_with_its_success_example() {
    let moby = common::corpus_dir("openapi").join("moby__moby__api_swagger.yaml");
    let mock = lyrebird_import::openapi::import(&std::fs::read(moby).unwrap()).expect("imports");
    let compiled = common::compile(&mock);
    assert_eq!(
        answer(
            &compiled,
            &mock.examples,
            "GET",
            "/containers/4fa6e0f0c678/json"
        ),
        "ContainerInspect 200 (generated)"
    );
    let mut gone = Request::from_url("GET", "/containers/4fa6e0f0c678/json", &[], "");
    gone.headers
        .push(("x-mock-response-code".to_owned(), "404".to_owned()));
    let outcome = compiled.respond(&gone, now());
    assert_eq!(outcome.rendered.expect("answered").status, 404);
}

#[test]
fn postman_examples_told_apart_by_path_value_answer_plain_requests() {
    let beer =
        common::corpus_dir("postman").join("microcks__microcks__BeerCatalogAPI-collection.json");
    let mock =
        lyrebird_import::postman::import(&std::fs::read(beer).unwrap(), None).expect("imports");
    let compiled = common::compile(&mock);
    assert_eq!(
        answer(&compiled, &mock.examples, "GET", "/beer/Weissbier"),
        "Weissbier"
    );
    assert_eq!(
        answer(&compiled, &mock.examples, "GET", "/beer/Rodenbach"),
        "Rodenbach"
    );
}

#[test]
fn postman_dynamic_values_and_variables_render_while_other_braces_stay_text() {
    let collection = br#"{"info": {"name": "d", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},
        "variable": [{"key": "user", "value": "ann"}],
        "item": [{"name": "r", "request": {"url": "{{base}}/who"},
          "response": [{"name": "who", "code": 200, "originalRequest": {"url": "{{base}}/who"},
            "header": [{"key": "X-Request", "value": "{{$guid}}"}],
            "body": "{\"id\": \"{{$guid}}\", \"user\": \"{{user}}\", \"echo\": \"{{$queryParams 'q'}}\", \"raw\": \"{{ not postman }} {% x %}\"}"}]}]}"#;
    let mock = lyrebird_import::postman::import(collection, None).expect("imports");
    assert!(mock.examples[0].response.template);
    let compiled = common::compile(&mock);
    let outcome = compiled.respond(&Request::from_url("GET", "/who?q=hi", &[], ""), now());
    let rendered = outcome.rendered.expect("answered");
    let body: Value = serde_json::from_slice(&rendered.body).expect("json body");
    assert_eq!(body["user"], "ann");
    assert_eq!(body["echo"], "hi");
    assert_eq!(body["raw"], "{{ not postman }} {% x %}");
    let id = body["id"].as_str().expect("id");
    assert_eq!(id.len(), 36, "{id}");
    let header = rendered
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("x-request"));
    assert_eq!(header.map(|(_, value)| value.len()), Some(36));
}

#[test]
fn a_postman_body_without_postman_references_is_not_a_template() {
    let collection = br#"{"info": {"name": "d"}, "item": [{"name": "r", "request": {"url": "/a"},
        "response": [{"name": "a", "code": 200, "body": "{{ x + 1 }} {% y %}"}]}]}"#;
    let mock = lyrebird_import::postman::import(collection, None).expect("imports");
    assert!(!mock.examples[0].response.template);
    let compiled = common::compile(&mock);
    let rendered = compiled
        .respond(&Request::from_url("GET", "/a", &[], ""), now())
        .rendered
        .expect("answered");
    assert_eq!(rendered.body, b"{{ x + 1 }} {% y %}");
}

#[test]
fn a_har_recording_answers_its_recorded_requests() {
    let har = serde_json::json!({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "entries": [
        {"request": {"method": "GET", "url": "https://api.example.com/v1/users?page=1", "headers": []},
         "response": {"status": 200, "headers": [{"name": "Content-Type", "value": "application/json"}],
                      "content": {"mimeType": "application/json", "text": "[1]"}}},
        {"request": {"method": "GET", "url": "https://api.example.com/v1/users?page=2", "headers": []},
         "response": {"status": 200, "headers": [], "content": {"mimeType": "application/json", "text": "[2]"}}},
        {"request": {"method": "POST", "url": "https://api.example.com/v1/users", "headers": [],
                     "postData": {"mimeType": "application/json", "text": "{\"name\": \"x\"}"}},
         "response": {"status": 201, "headers": [], "content": {"mimeType": "application/json", "text": "{\"id\": 3}"}}}
    ]}});
    let mock = lyrebird_import::har::import(har.to_string().as_bytes()).expect("imports");
    let compiled = common::compile(&mock);
    let body = |method: &str, url: &str, body: &str| {
        let outcome =
            compiled.respond(&Request::from_url(method, url, &[], body.to_owned()), now());
        String::from_utf8(outcome.rendered.expect("answered").body).unwrap()
    };
    assert_eq!(body("GET", "/v1/users?page=2", ""), "[2]");
    assert_eq!(body("GET", "/v1/users?page=1", ""), "[1]");
    assert_eq!(
        body("POST", "/v1/users", "{\"name\": \"x\"}"),
        "{\"id\": 3}"
    );
}

#[test]
fn imported_postman_bodies_only_filter_when_body_matching_is_asked() {
    let collection = br#"{"info": {"name": "b"}, "item": [{"name": "create", "request": {"method": "POST", "url": "{{base}}/things"},
        "response": [
          {"name": "one", "code": 201, "body": "1", "originalRequest": {"method": "POST", "url": "{{base}}/things",
             "body": {"mode": "raw", "raw": "{\"a\": 1}", "options": {"raw": {"language": "json"}}}}},
          {"name": "two", "code": 201, "body": "2", "originalRequest": {"method": "POST", "url": "{{base}}/things",
             "body": {"mode": "raw", "raw": "{\"a\": 2}", "options": {"raw": {"language": "json"}}}}}
        ]}]}"#;
    let mock = lyrebird_import::postman::import(collection, None).expect("imports");
    let compiled = common::compile(&mock);
    let json = [("Content-Type", "application/json")];
    let pick = |body: &str, headers: &[(&str, &str)]| match compiled.select(&Request::from_url(
        "POST",
        "/things",
        headers,
        body.to_owned(),
    )) {
        Selection::Matched(matched) => Some(mock.examples[matched.index].name.clone()),
        _ => None,
    };
    assert_eq!(pick("{\"a\": 3}", &json).as_deref(), Some("one"));
    assert_eq!(pick("{\"a\":2}", &json).as_deref(), Some("two"));
    let asking = [json[0], ("x-mock-match-request-body", "true")];
    assert_eq!(pick("{\"a\": 3}", &asking), None);
    assert_eq!(pick("{\"a\": 2}", &asking).as_deref(), Some("two"));
}

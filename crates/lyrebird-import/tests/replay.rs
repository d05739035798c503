//! Replays the corpus against mocks made from it: each Postman example's original request,
//! rebuilt from the collection file as a client would send it, must get that example's status and
//! body with `x-mock-response-name`, and one of its request's examples without control headers;
//! each OpenAPI example must answer a request built from its operation. The per-file rates are
//! the ones `docs/compatibility.md` reports, so a change that loses an example fails here (run
//! with `--nocapture` to print the table and the reasons for the page).

mod common;

use std::fmt::Write as _;

use common::requests::{Case, openapi_cases, postman_cases};
use lyrebird_engine::{CompiledMock, Example, Request, Selection};
use serde_json::Value;

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

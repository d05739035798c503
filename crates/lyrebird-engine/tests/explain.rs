//! Explanations: the near misses of a request that matched nothing, and what decided a match.

use std::collections::BTreeMap;

use lyrebird_engine::{
    CompiledMock, DecidedBy, Explanation, Failure, MatchSettings, Request, Selection, SelectionMode,
};
use serde_json::{Value, json};
use uuid::Uuid;

fn mock_in(selection: SelectionMode, examples: &[(&str, Value)]) -> CompiledMock {
    let examples = examples
        .iter()
        .enumerate()
        .map(|(position, (name, request))| {
            let example = serde_json::from_value(json!({"name": name, "request": request}))
                .expect("a valid example");
            (Uuid::from_u128(position as u128 + 1), example)
        })
        .collect();
    let settings = MatchSettings {
        selection,
        ..MatchSettings::default()
    };
    CompiledMock::compile(examples, settings, BTreeMap::new()).expect("compiles")
}

fn mock(examples: &[(&str, Value)]) -> CompiledMock {
    mock_in(SelectionMode::Rules, examples)
}

fn explanation(mock: &CompiledMock, request: &Request) -> Explanation {
    match mock.select(request) {
        Selection::NoMatch(explanation) => explanation,
        other => panic!("expected no match, got {other:?}"),
    }
}

/// The first failure of the closest example.
fn closest_failure(mock: &CompiledMock, request: &Request) -> Failure {
    explanation(mock, request).near_misses[0].failed.clone()
}

fn json_post(url: &str, body: &str) -> Request {
    Request::from_url("POST", url, &[("Content-Type", "application/json")], body)
}

#[test]
fn the_three_closest_examples_are_listed_closest_first() {
    let examples = mock(&[
        (
            "far",
            json!({"method": "DELETE", "path": "/admin/settings/all"}),
        ),
        (
            "close",
            json!({"method": "GET", "path": "/users/:id", "query": {"full": "true"}}),
        ),
        (
            "closer",
            json!({"method": "GET", "path": "/users/:id", "headers": {"X-Key": "k"}}),
        ),
        (
            "medium",
            json!({"method": "GET", "path": "/users/:id/orders"}),
        ),
        ("farther", json!({"method": "POST", "path": "/orders"})),
    ]);
    let request = Request::from_url("GET", "/users/7?full=false", &[], "");
    let found = explanation(&examples, &request);
    assert_eq!(found.near_misses.len(), 3);
    let names: Vec<&str> = found.near_misses.iter().map(|m| m.name.as_str()).collect();
    assert!(
        names.contains(&"close") && names.contains(&"closer"),
        "{names:?}"
    );
    assert!(!names.contains(&"far"), "{names:?}");
    let distances: Vec<f64> = found.near_misses.iter().map(|m| m.distance).collect();
    assert!(distances.windows(2).all(|w| w[0] <= w[1]), "{distances:?}");
    assert_eq!(
        (found.method.as_str(), found.url.as_str()),
        ("GET", "/users/7?full=false")
    );
}

#[test]
fn a_method_mismatch_names_both_methods() {
    let examples = mock(&[("create", json!({"method": "POST", "path": "/users"}))]);
    assert_eq!(
        closest_failure(&examples, &Request::from_url("GET", "/users", &[], "")),
        Failure::Method {
            expected: "POST".to_owned(),
            actual: "GET".to_owned()
        }
    );
}

#[test]
fn a_path_mismatch_names_the_segment() {
    let examples = mock(&[("orders", json!({"path": "/users/:id/orders"}))]);
    assert_eq!(
        closest_failure(
            &examples,
            &Request::from_url("GET", "/users/1/invoices", &[], "")
        ),
        Failure::Path {
            segment: 3,
            expected: "orders".to_owned(),
            actual: Some("invoices".to_owned())
        }
    );
}

#[test]
fn a_query_mismatch_names_the_parameter_with_expected_and_actual() {
    let examples = mock(&[("page", json!({"path": "/items?page=2"}))]);
    assert_eq!(
        closest_failure(
            &examples,
            &Request::from_url("GET", "/items?page=3", &[], "")
        ),
        Failure::Query {
            name: "page".to_owned(),
            expected: "2".to_owned(),
            actual: Some("3".to_owned())
        }
    );
}

#[test]
fn a_missing_header_is_named() {
    let examples = mock(&[(
        "auth",
        json!({"path": "/me", "headers": {"Authorization": {"matches": "Bearer .+"}}}),
    )]);
    let failure = closest_failure(&examples, &Request::from_url("GET", "/me", &[], ""));
    assert_eq!(
        failure,
        Failure::Header {
            name: "authorization".to_owned(),
            expected: "matching Bearer .+".to_owned(),
            actual: None
        }
    );
    assert_eq!(
        failure.describe(),
        "header \"authorization\" should be \"matching Bearer .+\", it is missing"
    );
}

#[test]
fn a_json_body_difference_has_its_json_pointer() {
    let examples = mock(&[(
        "order",
        json!({"path": "/orders", "body": {"type": "json", "value": {"items": [{"sku": "a"}, {"sku": "b"}]}}}),
    )]);
    let failure = closest_failure(
        &examples,
        &json_post("/orders", r#"{"items":[{"sku":"a"},{"sku":"c"}]}"#),
    );
    assert_eq!(
        failure,
        Failure::Body {
            location: Some("/items/1/sku".to_owned()),
            message: "expected \"b\", got \"c\"".to_owned()
        }
    );
}

#[test]
fn an_xml_body_difference_has_its_xpath_location() {
    let examples = mock(&[(
        "xml",
        json!({"path": "/x", "body": {"type": "xml", "value": "<foo><bar attr=\"true\">value</bar></foo>"}}),
    )]);
    let request = Request::from_url(
        "POST",
        "/x",
        &[("Content-Type", "application/xml")],
        "<foo><bar attr=\" true \">value</bar></foo>",
    );
    let Failure::Body {
        location: Some(location),
        ..
    } = closest_failure(&examples, &request)
    else {
        panic!("a located body failure expected");
    };
    assert!(
        location.contains("bar") && location.contains("@attr"),
        "{location}"
    );
}

#[test]
fn a_body_that_is_not_json_is_reported_as_such() {
    let examples = mock(&[(
        "json",
        json!({"path": "/j", "body": {"type": "json", "value": {}}}),
    )]);
    let failure = closest_failure(&examples, &json_post("/j", "{not json"));
    assert!(
        failure.describe().contains("not valid JSON"),
        "{}",
        failure.describe()
    );
}

#[test]
fn a_false_expression_is_reported_with_its_reason() {
    let examples = mock(&[(
        "expr",
        json!({"path": "/e", "expression": "body == \"yes\""}),
    )]);
    let failure = closest_failure(&examples, &json_post("/e", "no"));
    assert_eq!(
        failure,
        Failure::Expression {
            reason: "evaluated to false".to_owned()
        }
    );
}

#[test]
fn a_form_rule_explains_a_missing_form_parameter() {
    let examples = mock(&[(
        "form",
        json!({"path": "/f", "body": {"type": "form", "params": {"a": "1"}}}),
    )]);
    let request = Request::from_url(
        "POST",
        "/f",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "b=2",
    );
    assert_eq!(
        closest_failure(&examples, &request),
        Failure::FormParameter {
            name: "a".to_owned(),
            expected: "1".to_owned(),
            actual: None
        }
    );
}

#[test]
fn the_explanation_serialises_for_the_404_body_and_reads_back() {
    let examples = mock(&[("page", json!({"path": "/items?page=2"}))]);
    let selection = examples.select(&Request::from_url("GET", "/items?page=3", &[], ""));
    let body = serde_json::to_value(&selection).expect("serialises");
    assert_eq!(body["outcome"], "no_match");
    assert_eq!(body["mode"], "rules");
    let miss = &body["near_misses"][0];
    assert_eq!(miss["name"], "page");
    assert_eq!(miss["failed"]["condition"], "query");
    assert_eq!(miss["failed"]["actual"], "3");
    assert_eq!(
        miss["message"],
        "query parameter \"page\" should be \"2\", got \"3\""
    );
    let back: Selection = serde_json::from_value(body).expect("reads back");
    assert_eq!(back, selection);
}

#[test]
fn a_match_says_which_level_decided_and_serialises() {
    let examples = mock(&[("users", json!({"method": "GET", "path": "/users"}))]);
    let selection = examples.select(&Request::from_url("GET", "/users", &[], ""));
    let body = serde_json::to_value(&selection).expect("serialises");
    assert_eq!(body["outcome"], "matched");
    assert_eq!(body["decided_by"]["by"], "level");
    assert_eq!(body["decided_by"]["level"], 1);
    assert_eq!(body["decided_by"]["name"], "url equal, body equal as text");
}

#[test]
fn a_postman_match_says_which_path_step_decided() {
    let examples = mock_in(
        SelectionMode::Postman,
        &[("user", json!({"path": "/users/10"}))],
    );
    let selection = examples.select(&Request::from_url("GET", "/users/11", &[], ""));
    let Some(DecidedBy::Score { path_step, .. }) = selection.matched().map(|m| &m.decided_by)
    else {
        panic!("a score expected, got {selection:?}");
    };
    let body = serde_json::to_value(&selection).expect("serialises");
    assert_eq!(body["decided_by"]["path_step"], "ids_removed");
    assert_eq!(*path_step, lyrebird_engine::PathStep::IdsRemoved);
}

#[test]
fn postman_near_misses_name_the_path_when_no_step_fits() {
    let settings_strict = MatchSettings {
        selection: SelectionMode::Postman,
        fuzzy_paths: false,
        ..MatchSettings::default()
    };
    let example = serde_json::from_value(json!({"name": "user", "request": {"path": "/users/10"}}))
        .expect("example");
    let examples = CompiledMock::compile(
        vec![(Uuid::from_u128(1), example)],
        settings_strict,
        BTreeMap::new(),
    )
    .expect("compiles");
    let found = explanation(&examples, &Request::from_url("GET", "/users/11", &[], ""));
    assert_eq!(found.mode, SelectionMode::Postman);
    assert_eq!(
        found.near_misses[0].failed,
        Failure::Path {
            segment: 2,
            expected: "10".to_owned(),
            actual: Some("11".to_owned())
        }
    );
}

#[test]
fn a_mock_without_examples_explains_with_no_near_misses() {
    let empty = mock(&[]);
    assert!(
        explanation(&empty, &Request::from_url("GET", "/", &[], ""))
            .near_misses
            .is_empty()
    );
}

/// The expressions of one request share a time budget: two that each run to their own limit
/// spend it, and the next example's expression, however cheap, is not run; the explanation says
/// why.
#[test]
fn the_expressions_of_one_request_share_one_time_budget() {
    let costly = format!(
        "let s = path; while s.len() * 4 <= {} {{ s += s; }} while path != \"\" {{ let t = s + s; }} true",
        lyrebird_engine::expr::MAX_STRING_BYTES
    );
    let mock = mock(&[
        ("slow 1", json!({"path": "/a", "expression": costly})),
        ("slow 2", json!({"path": "/a", "expression": costly})),
        (
            "cheap",
            json!({"path": "/a", "expression": "path == \"/a\""}),
        ),
    ]);
    let request = Request::from_url("GET", "/a", &[], "");
    let found = explanation(&mock, &request);
    let cheap = found
        .near_misses
        .iter()
        .find(|miss| miss.name == "cheap")
        .expect("the cheap example is among the near misses");
    let spent = format!(
        "expression: the request's expression time of {} ms was spent",
        lyrebird_engine::expr::MAX_REQUEST_EVAL_TIME.as_millis()
    );
    assert_eq!(cheap.message, spent);

    // The budget is the request's: the next request starts with all of it.
    let cheap_alone = mock_in(
        SelectionMode::Rules,
        &[(
            "cheap",
            json!({"path": "/a", "expression": "path == \"/a\""}),
        )],
    );
    assert!(matches!(
        cheap_alone.select(&request),
        Selection::Matched(_)
    ));
}

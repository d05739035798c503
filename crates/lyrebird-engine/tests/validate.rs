//! `validate_example`: what the admin API refuses to save, and the field it blames.

use std::collections::BTreeMap;

use lyrebird_engine::{Example, MAX_PATH_BYTES, ValidationError, validate_example};
use serde_json::json;

fn example(value: serde_json::Value) -> Example {
    serde_json::from_value(value).expect("an example")
}

fn errors(value: serde_json::Value) -> Vec<ValidationError> {
    validate_example(&example(value), &BTreeMap::new()).expect_err("should be refused")
}

fn fields(value: serde_json::Value) -> Vec<String> {
    errors(value).into_iter().map(|error| error.field).collect()
}

#[test]
fn a_complete_example_is_accepted() {
    let accepted = validate_example(
        &example(json!({
            "name": "create user",
            "priority": 2,
            "request": {
                "method": "POST",
                "path": "/users/:team?verbose=1",
                "query": {"dry": {"matches": "true|false"}},
                "headers": {"X-Trace": {"present": true}},
                "cookies": {"session": "abc"},
                "body": {"type": "json", "value": {"name": "ada"}, "mode": "contains"},
                "expression": "method == \"POST\""
            },
            "response": {"status": 201, "headers": [{"name": "Location", "value": "/users/1"}], "body": {"id": 1}}
        })),
        &BTreeMap::new(),
    );
    assert_eq!(accepted, Ok(()));
}

#[test]
fn a_method_that_is_not_a_token_is_refused() {
    assert_eq!(
        fields(json!({"name": "x", "request": {"method": "GE T"}})),
        ["request.method"]
    );
}

#[test]
fn a_malformed_path_is_refused() {
    assert_eq!(
        fields(json!({"name": "x", "request": {"path": "/a/*/b"}})),
        ["request.path"]
    );
}

#[test]
fn an_invalid_regular_expression_names_its_parameter() {
    let found = errors(json!({"name": "x", "request": {"query": {"id": {"matches": "(["}}}}));
    assert_eq!(found[0].field, "request.query.id");
    assert!(
        found[0].message.contains("regular expression"),
        "{}",
        found[0].message
    );
}

#[test]
fn a_query_parameter_given_twice_is_refused() {
    assert_eq!(
        fields(json!({"name": "x", "request": {"path": "/a?id=1", "query": {"id": "2"}}})),
        ["request.query.id"]
    );
}

#[test]
fn a_status_outside_100_to_599_is_refused() {
    assert_eq!(
        fields(json!({"name": "x", "response": {"status": 99}})),
        ["response.status"]
    );
    assert_eq!(
        fields(json!({"name": "x", "response": {"status": 600}})),
        ["response.status"]
    );
}

#[test]
fn invalid_header_names_and_values_are_refused() {
    assert_eq!(
        fields(json!({
            "name": "x",
            "request": {"headers": {"Bad Name": "1", "X-Ok": "line\nbreak"}},
            "response": {"headers": [{"name": "Set:Cookie", "value": "a"}, {"name": "X", "value": "a\r\nb"}]}
        })),
        [
            "request.headers.Bad Name",
            "request.headers.X-Ok",
            "response.headers[0].name",
            "response.headers[1].value"
        ]
    );
}

#[test]
fn malformed_xml_in_a_body_rule_is_refused() {
    assert_eq!(
        fields(
            json!({"name": "x", "request": {"body": {"type": "xml", "value": "<foo><bar></foo>"}}})
        ),
        ["request.body.value"]
    );
}

#[test]
fn xml_with_a_document_type_is_refused() {
    let found = errors(json!({"name": "x", "request": {"body": {"type": "xml",
        "value": "<!DOCTYPE foo [<!ENTITY a \"b\">]><foo>&a;</foo>"}}}));
    assert_eq!(found[0].field, "request.body.value");
}

#[test]
fn an_expression_syntax_error_has_line_and_column() {
    let found = errors(json!({"name": "x", "request": {"expression": "url matches\n  (("}}));
    assert_eq!(found[0].field, "request.expression");
    assert!(found[0].line.is_some(), "{found:?}");
}

#[test]
fn a_prefix_path_without_an_expression_is_refused() {
    assert_eq!(
        fields(json!({"name": "x", "request": {"path": "/api", "path_match": "prefix"}})),
        ["request.path_match"]
    );
}

#[test]
fn a_prefix_path_whose_expression_ignores_the_url_is_refused() {
    assert_eq!(
        fields(
            json!({"name": "x", "request": {"path": "/api", "path_match": "prefix",
            "expression": "method == \"GET\""}})
        ),
        ["request.expression"]
    );
}

#[test]
fn a_delay_beyond_three_minutes_is_refused() {
    assert_eq!(
        fields(json!({"name": "x", "response": {"delay_ms": 180001}})),
        ["response.delay_ms"]
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    assert_eq!(
        fields(
            json!({"name": "x", "request": {"method": "", "path": "/:"}, "response": {"status": 0}})
        ),
        ["request.method", "request.path", "response.status"]
    );
}

#[test]
fn a_path_is_checked_with_the_environment_it_will_be_served_with() {
    let example = example(json!({"name": "long", "request": {"path": "/{{a}}/{{a}}/{{a}}"}}));
    let small = BTreeMap::from([("a".to_owned(), "x".repeat(100))]);
    assert_eq!(validate_example(&example, &small), Ok(()));
    let large = BTreeMap::from([("a".to_owned(), "x".repeat(MAX_PATH_BYTES / 2))]);
    let errors = validate_example(&example, &large).expect_err("too long once resolved");
    assert_eq!(errors[0].field, "request.path");
    assert!(
        errors[0].message.contains("once the environment"),
        "{}",
        errors[0].message
    );
}

#[test]
fn a_body_condition_without_fields_refuses_unknown_members_too() {
    for kind in ["none", "any"] {
        let read = serde_json::from_value::<Example>(json!({
            "name": "x",
            "request": {"body": {"type": kind, "other": 1}}
        }));
        let error = read.expect_err("an unknown member is refused").to_string();
        assert!(error.contains("unknown field `other`"), "{error}");
    }
}

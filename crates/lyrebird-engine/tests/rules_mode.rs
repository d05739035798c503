//! Rules mode case by case: the conditions of docs/examples-format.md ("Paths", "Value
//! conditions", "Body conditions", "Expressions and prefix paths") and the priority levels and ties
//! of docs/matching.md ("Levels without a form body", "Levels with a form body", "Ties"), then
//! templates through selection and rendering; each test is named after the behaviour it checks.
//!
//! Each rule's name is also its response text, so a test reads as "this request gets that answer".

use std::collections::BTreeMap;

use lyrebird_engine::{CompiledMock, DecidedBy, MatchSettings, Request};
use serde_json::{Value, json};
use uuid::Uuid;

/// A rules-mode mock whose examples are given as (name, request pattern), oldest first.
fn mock(rules: &[(&str, Value)]) -> CompiledMock {
    let examples = rules
        .iter()
        .enumerate()
        .map(|(position, (name, request))| {
            let example = serde_json::from_value(json!({
                "name": name,
                "request": request,
                "response": {"body": name}
            }))
            .expect("a valid example");
            (Uuid::from_u128(position as u128 + 1), example)
        })
        .collect();
    CompiledMock::compile(examples, MatchSettings::default(), BTreeMap::new())
        .expect("the rules compile")
}

fn chosen(mock: &CompiledMock, request: &Request) -> Option<String> {
    mock.select(request).matched().map(|m| m.name.clone())
}

fn get(url: &str) -> Request {
    Request::from_url("GET", url, &[], "")
}

fn post(url: &str, content_type: &str, body: &str) -> Request {
    Request::from_url("POST", url, &[("Content-Type", content_type)], body)
}

fn form(url: &str, body: &str) -> Request {
    post(url, "application/x-www-form-urlencoded", body)
}

fn level(mock: &CompiledMock, request: &Request) -> u8 {
    match mock.select(request).matched().map(|m| &m.decided_by) {
        Some(DecidedBy::Level { level, .. }) => *level,
        other => panic!("expected a level, got {other:?}"),
    }
}

// The URL (docs/examples-format.md, "Paths")

fn url_rule() -> CompiledMock {
    mock(&[("url matched.", json!({"method": "GET", "path": "foo/bar"}))])
}

#[test]
fn url_equal_to_the_rule_matches() {
    assert_eq!(
        chosen(&url_rule(), &get("/foo/bar")).as_deref(),
        Some("url matched.")
    );
}

#[test]
fn url_with_segments_swapped_matches_nothing() {
    assert_eq!(chosen(&url_rule(), &get("/bar/foo")), None);
}

// The URL with query parameters (docs/examples-format.md, "Value conditions"; docs/matching.md,
// "Ties", for the rule with the most parameters)

fn query_rules() -> CompiledMock {
    mock(&[
        (
            "url parameters [foo=1] matched.",
            json!({"method": "GET", "path": "url?foo=1"}),
        ),
        (
            "url parameters [foo=1&bar=2] matched.",
            json!({"method": "GET", "path": "url?foo=1&bar=2"}),
        ),
    ])
}

#[test]
fn url_with_the_rules_single_parameter_matches_that_rule() {
    assert_eq!(
        chosen(&query_rules(), &get("/url?foo=1")).as_deref(),
        Some("url parameters [foo=1] matched.")
    );
}

#[test]
fn url_with_a_different_parameter_value_matches_nothing() {
    assert_eq!(chosen(&query_rules(), &get("/url?foo=3")), None);
}

#[test]
fn url_with_both_parameters_matches_the_rule_naming_both() {
    assert_eq!(
        chosen(&query_rules(), &get("/url?foo=1&bar=2")).as_deref(),
        Some("url parameters [foo=1&bar=2] matched.")
    );
}

#[test]
fn url_with_extra_query_parameter_matches_rule_with_fewer() {
    assert_eq!(
        chosen(&query_rules(), &get("/url?foo=1&bar=3")).as_deref(),
        Some("url parameters [foo=1] matched.")
    );
}

#[test]
fn url_fitting_several_rules_matches_the_one_with_most_parameters() {
    assert_eq!(
        chosen(&query_rules(), &get("/url?foo=1&bar=2&foobar=3")).as_deref(),
        Some("url parameters [foo=1&bar=2] matched.")
    );
}

// Body: text (docs/examples-format.md, "Body conditions")

fn text_rule() -> CompiledMock {
    mock(&[(
        "text body matched.",
        json!({"path": "text", "body": {"type": "text", "value": "foobar"}}),
    )])
}

#[test]
fn text_rule_does_not_match_a_request_without_body() {
    assert_eq!(chosen(&text_rule(), &get("/text")), None);
}

#[test]
fn text_rule_matches_the_same_text() {
    assert_eq!(
        chosen(&text_rule(), &post("/text", "text/plain", "foobar")).as_deref(),
        Some("text body matched.")
    );
}

#[test]
fn text_rule_does_not_match_text_differing_in_white_space() {
    assert_eq!(
        chosen(&text_rule(), &post("/text", "text/plain", "foo bar")),
        None
    );
}

// Body: JSON (docs/examples-format.md, "Body conditions")

fn json_rule() -> CompiledMock {
    mock(&[(
        "json body matched.",
        json!({"path": "json", "body": {"type": "json", "value": {"foo": 1, "bar": 2}}}),
    )])
}

fn json_post(body: &str) -> Request {
    post("/json", "application/json", body)
}

#[test]
fn json_rule_ignores_insignificant_white_space() {
    assert_eq!(
        chosen(&json_rule(), &json_post("{ \"foo\" : 1,\n \"bar\": 2 }")).as_deref(),
        Some("json body matched.")
    );
}

#[test]
fn json_rule_ignores_member_order() {
    assert_eq!(
        chosen(&json_rule(), &json_post(r#"{"bar":2,"foo":1}"#)).as_deref(),
        Some("json body matched.")
    );
}

#[test]
fn json_rule_does_not_match_a_different_value() {
    assert_eq!(
        chosen(&json_rule(), &json_post(r#"{"foo":2,"bar":2}"#)),
        None
    );
}

#[test]
fn json_rule_does_not_match_an_extra_member() {
    assert_eq!(
        chosen(&json_rule(), &json_post(r#"{"foo":1,"bar":2,"foobar":3}"#)),
        None
    );
}

#[test]
fn json_rule_does_not_match_a_missing_member() {
    assert_eq!(chosen(&json_rule(), &json_post(r#"{"foo":1}"#)), None);
}

// Body: XML (docs/examples-format.md, "Body conditions")

fn xml_rule() -> CompiledMock {
    mock(&[(
        "xml body matched.",
        json!({"path": "xml", "body": {"type": "xml", "value": "<foo><bar attr=\"true\">value</bar></foo>"}}),
    )])
}

fn xml_post(body: &str) -> Request {
    post("/xml", "application/xml", body)
}

#[test]
fn xml_rule_ignores_white_space_between_elements() {
    assert_eq!(
        chosen(
            &xml_rule(),
            &xml_post("<foo>\n  <bar attr=\"true\">value</bar>\n</foo>\n")
        )
        .as_deref(),
        Some("xml body matched.")
    );
}

#[test]
fn xml_rule_does_not_match_an_attribute_value_with_extra_white_space() {
    assert_eq!(
        chosen(
            &xml_rule(),
            &xml_post("<foo><bar attr=\" true \">value</bar></foo>")
        ),
        None
    );
}

#[test]
fn xml_rule_does_not_match_a_missing_or_extra_element_or_attribute() {
    for body in [
        "<foo></foo>",
        "<foo><bar attr=\"true\">value</bar><baz/></foo>",
        "<foo><bar>value</bar></foo>",
        "<foo><bar attr=\"true\" other=\"1\">value</bar></foo>",
    ] {
        assert_eq!(chosen(&xml_rule(), &xml_post(body)), None, "{body}");
    }
}

#[test]
fn xml_rule_does_not_match_child_elements_in_another_order() {
    let rule = mock(&[(
        "ordered",
        json!({"path": "xml", "body": {"type": "xml", "value": "<foo><a/><b/></foo>"}}),
    )]);
    assert_eq!(chosen(&rule, &xml_post("<foo><b/><a/></foo>")), None);
    assert!(chosen(&rule, &xml_post("<foo><a/><b/></foo>")).is_some());
}

// Body: the catch-all, `any` or empty text (docs/examples-format.md, "Body conditions")

fn catch_all_rule() -> CompiledMock {
    mock(&[(
        "text with empty body matched.",
        json!({"path": "text", "body": {"type": "text", "value": ""}}),
    )])
}

#[test]
fn empty_text_rule_matches_any_body_whatever_its_type() {
    for (content_type, body) in [
        ("text/plain", "foobar"),
        ("application/json", r#"{"a":1}"#),
        ("application/xml", "<a/>"),
    ] {
        assert_eq!(
            chosen(&catch_all_rule(), &post("/text", content_type, body)).as_deref(),
            Some("text with empty body matched."),
            "{content_type}"
        );
    }
}

#[test]
fn empty_text_rule_does_not_match_a_get_without_body() {
    assert_eq!(chosen(&catch_all_rule(), &get("/text")), None);
}

#[test]
fn catch_all_body_type_behaves_like_the_empty_text_rule() {
    let rule = mock(&[("any", json!({"path": "text", "body": {"type": "any"}}))]);
    assert!(chosen(&rule, &post("/text", "text/plain", "x")).is_some());
    assert_eq!(chosen(&rule, &get("/text")), None);
}

// Form bodies (docs/matching.md, "Levels with a form body")

fn form_params_rule() -> CompiledMock {
    mock(&[(
        "form with form parameters [foo=2&bar=1] matched.",
        json!({"path": "form", "body": {"type": "form", "params": {"foo": "2", "bar": "1"}}}),
    )])
}

#[test]
fn form_rule_matches_a_form_post_with_its_parameters() {
    assert_eq!(
        chosen(&form_params_rule(), &form("/form", "foo=2&bar=1")).as_deref(),
        Some("form with form parameters [foo=2&bar=1] matched.")
    );
}

#[test]
fn form_rule_does_not_match_the_same_body_sent_as_plain_text() {
    assert_eq!(
        chosen(
            &form_params_rule(),
            &post("/form", "text/plain", "foo=2&bar=1")
        ),
        None
    );
}

fn form_text_rule() -> CompiledMock {
    mock(&[(
        "form with text parameters [foo=1&bar=2] matched.",
        json!({"path": "form", "body": {"type": "text", "value": "foo=1&bar=2"}}),
    )])
}

#[test]
fn text_rule_that_is_valid_form_data_matches_a_form_post() {
    assert_eq!(
        chosen(&form_text_rule(), &form("/form", "foo=1&bar=2")).as_deref(),
        Some("form with text parameters [foo=1&bar=2] matched.")
    );
}

#[test]
fn text_rule_that_is_valid_form_data_matches_a_plain_text_post() {
    assert_eq!(
        chosen(
            &form_text_rule(),
            &post("/form", "text/plain", "foo=1&bar=2")
        )
        .as_deref(),
        Some("form with text parameters [foo=1&bar=2] matched.")
    );
}

#[test]
fn text_rule_that_is_valid_form_data_matches_its_parameters_in_any_order() {
    assert!(chosen(&form_text_rule(), &form("/form", "bar=2&foo=1")).is_some());
}

fn url_and_form_rule() -> CompiledMock {
    mock(&[(
        "form with both url [foo=bar] and map parameters [bar=foo] matched.",
        json!({"path": "form?foo=bar", "body": {"type": "form", "params": {"bar": "foo"}}}),
    )])
}

#[test]
fn form_rule_with_url_parameter_matches_both_in_the_body() {
    assert_eq!(
        chosen(&url_and_form_rule(), &form("/form", "foo=bar&bar=foo")).as_deref(),
        Some("form with both url [foo=bar] and map parameters [bar=foo] matched.")
    );
}

#[test]
fn form_rule_accepts_query_and_body_parameters_interchangeably() {
    assert_eq!(
        chosen(&url_and_form_rule(), &form("/form?bar=foo", "foo=bar")).as_deref(),
        Some("form with both url [foo=bar] and map parameters [bar=foo] matched.")
    );
}

#[test]
fn form_rule_without_parameters_matches_every_form_post() {
    let rule = mock(&[(
        "form with empty map parameters matched.",
        json!({"path": "form", "body": {"type": "form"}}),
    )]);
    for body in ["", "a=1", "x=y&z=w"] {
        assert_eq!(
            chosen(&rule, &form("/form", body)).as_deref(),
            Some("form with empty map parameters matched."),
            "{body}"
        );
    }
    assert_eq!(chosen(&rule, &post("/form", "text/plain", "a=1")), None);
}

#[test]
fn form_rule_with_more_matching_parameters_wins() {
    let rules = mock(&[
        (
            "one",
            json!({"path": "form", "body": {"type": "form", "params": {"a": "1"}}}),
        ),
        (
            "two",
            json!({"path": "form", "body": {"type": "form", "params": {"a": "1", "b": "2"}}}),
        ),
    ]);
    assert_eq!(
        chosen(&rules, &form("/form", "a=1&b=2&c=3")).as_deref(),
        Some("two")
    );
    assert_eq!(
        chosen(&rules, &form("/form", "a=1&b=3")).as_deref(),
        Some("one")
    );
}

// Expressions (docs/examples-format.md, "Expressions and prefix paths"; docs/expressions.md)

fn base_url_expression_rule() -> CompiledMock {
    mock(&[(
        "user",
        json!({"path": "api", "path_match": "prefix", "expression": r"url matches `.*/user/\d+`"}),
    )])
}

#[test]
fn expression_rule_with_base_url_matches_a_numeric_user() {
    assert_eq!(
        chosen(&base_url_expression_rule(), &get("/api/user/1")).as_deref(),
        Some("user")
    );
}

#[test]
fn expression_rule_with_base_url_does_not_match_when_the_regex_fails() {
    assert_eq!(
        chosen(&base_url_expression_rule(), &get("/api/user/foobar")),
        None
    );
}

#[test]
fn expression_rule_with_base_url_does_not_match_outside_the_base_url() {
    assert_eq!(
        chosen(&base_url_expression_rule(), &get("/foobar/user/1")),
        None
    );
}

#[test]
fn expression_on_the_body_start_matches() {
    let rule = mock(&[(
        "starts",
        json!({"path": "expression", "expression": r#"body.starts_with("str")"#}),
    )]);
    assert!(chosen(&rule, &post("/expression", "text/plain", "string")).is_some());
    assert_eq!(
        chosen(&rule, &post("/expression", "text/plain", "other")),
        None
    );
}

#[test]
fn expression_on_the_cookie_header_matches() {
    let rule = mock(&[(
        "cookie",
        json!({"path": "expression", "expression": r#"headers["cookie"] == "str""#}),
    )]);
    let request = Request::from_url("GET", "/expression", &[("Cookie", "str")], "");
    assert!(chosen(&rule, &request).is_some());
    assert_eq!(chosen(&rule, &get("/expression")), None);
}

#[test]
fn expression_with_json_path_on_the_body_matches() {
    let rule = mock(&[(
        "jsonpath",
        json!({"path": "expression", "expression": r#"json_path(body, "$.bar.p2[0]") == 1"#}),
    )]);
    let request = post(
        "/expression",
        "application/json",
        r#"{"foo":"ok","bar":{"p1":1,"p2":[1,2,3]}}"#,
    );
    assert!(chosen(&rule, &request).is_some());
}

#[test]
fn expression_with_xpath_on_the_body_matches() {
    let rule = mock(&[(
        "xpath",
        json!({"path": "expression", "expression": r#"xpath(body, "//bar[@attr='true']/text()") == "value""#}),
    )]);
    let request = post(
        "/expression",
        "application/xml",
        r#"<foo><bar attr="true">value</bar></foo>"#,
    );
    assert!(chosen(&rule, &request).is_some());
}

// Priority levels without a form body (docs/matching.md, "Levels without a form body")

#[test]
fn each_level_without_a_form_body_is_reported() {
    let cases: [(u8, Value, Request); 11] = [
        (
            1,
            json!({"path": "/p?q=1", "body": {"type": "text", "value": "x"}}),
            post("/p?q=1", "text/plain", "x"),
        ),
        (
            2,
            json!({"path": "/p?q=1", "body": {"type": "json", "value": 1}}),
            post("/p?q=1", "application/json", "1"),
        ),
        (
            3,
            json!({"path": "/p?q=1", "body": {"type": "xml", "value": "<a/>"}}),
            post("/p?q=1", "application/xml", "<a/>"),
        ),
        (
            4,
            json!({"path": "/p?q=1", "expression": "method == \"POST\""}),
            post("/p?q=1", "text/plain", "x"),
        ),
        (
            5,
            json!({"path": "/p?q=1", "body": {"type": "any"}}),
            post("/p?q=1", "text/plain", "x"),
        ),
        (
            6,
            json!({"path": "/p?q=1", "body": {"type": "text", "value": "x"}}),
            post("/p?q=1&z=2", "text/plain", "x"),
        ),
        (
            7,
            json!({"path": "/p?q=1", "body": {"type": "json", "value": 1}}),
            post("/p?q=1&z=2", "application/json", "1"),
        ),
        (
            8,
            json!({"path": "/p?q=1", "body": {"type": "xml", "value": "<a/>"}}),
            post("/p?q=1&z=2", "application/xml", "<a/>"),
        ),
        (
            9,
            json!({"path": "/p?q=1", "expression": "method == \"POST\""}),
            post("/p?q=1&z=2", "text/plain", "x"),
        ),
        (
            10,
            json!({"path": "/p?q=1", "body": {"type": "any"}}),
            post("/p?q=1&z=2", "text/plain", "x"),
        ),
        (
            11,
            json!({"path": "/p", "path_match": "prefix", "expression": "url.contains(\"q=1\")"}),
            post("/p/deeper?q=1", "text/plain", "x"),
        ),
    ];
    for (expected, rule, request) in cases {
        assert_eq!(level(&mock(&[("rule", rule)]), &request), expected);
    }
}

#[test]
fn a_rule_without_body_condition_matches_a_bodiless_request_at_the_text_level() {
    assert_eq!(level(&url_rule(), &get("/foo/bar")), 1);
    assert_eq!(level(&url_rule(), &get("/foo/bar?x=1")), 6);
}

#[test]
fn text_body_beats_json_body_when_both_fit() {
    let rules = mock(&[
        (
            "json",
            json!({"path": "/p", "body": {"type": "json", "value": {"a": 1}}}),
        ),
        (
            "text",
            json!({"path": "/p", "body": {"type": "text", "value": "{\"a\":1}"}}),
        ),
    ]);
    let request = post("/p", "application/json", r#"{"a":1}"#);
    assert_eq!(chosen(&rules, &request).as_deref(), Some("text"));
}

#[test]
fn json_body_beats_expression_when_both_fit() {
    let rules = mock(&[
        (
            "expression",
            json!({"path": "/p", "expression": "body.len() > 0"}),
        ),
        (
            "json",
            json!({"path": "/p", "body": {"type": "json", "value": {"a": 1}}}),
        ),
    ]);
    let request = post("/p", "application/json", r#"{"a":1}"#);
    assert_eq!(chosen(&rules, &request).as_deref(), Some("json"));
}

#[test]
fn xml_body_beats_expression_when_both_fit() {
    let rules = mock(&[
        (
            "expression",
            json!({"path": "/p", "expression": "body.len() > 0"}),
        ),
        (
            "xml",
            json!({"path": "/p", "body": {"type": "xml", "value": "<a/>"}}),
        ),
    ]);
    assert_eq!(
        chosen(&rules, &post("/p", "application/xml", "<a/>")).as_deref(),
        Some("xml")
    );
}

#[test]
fn expression_beats_catch_all_when_both_fit() {
    let rules = mock(&[
        ("catch-all", json!({"path": "/p", "body": {"type": "any"}})),
        (
            "expression",
            json!({"path": "/p", "expression": "body == \"x\""}),
        ),
    ]);
    assert_eq!(
        chosen(&rules, &post("/p", "text/plain", "x")).as_deref(),
        Some("expression")
    );
}

#[test]
fn any_rule_with_the_whole_url_beats_every_rule_matching_a_query_subset() {
    let rules = mock(&[
        (
            "subset text",
            json!({"path": "/p", "body": {"type": "text", "value": "x"}}),
        ),
        (
            "url catch-all",
            json!({"path": "/p?q=1", "body": {"type": "any"}}),
        ),
    ]);
    assert_eq!(
        chosen(&rules, &post("/p?q=1", "text/plain", "x")).as_deref(),
        Some("url catch-all")
    );
}

#[test]
fn query_subset_levels_keep_the_order_of_the_url_levels() {
    let rules = mock(&[
        ("catch-all", json!({"path": "/p", "body": {"type": "any"}})),
        (
            "expression",
            json!({"path": "/p", "expression": "body.len() > 0"}),
        ),
        (
            "json",
            json!({"path": "/p", "body": {"type": "json", "value": {"a": 1}}}),
        ),
        (
            "text",
            json!({"path": "/p", "body": {"type": "text", "value": "{\"a\":1}"}}),
        ),
    ]);
    let with_query = |body: &str| post("/p?extra=1", "application/json", body);
    assert_eq!(
        chosen(&rules, &with_query(r#"{"a":1}"#)).as_deref(),
        Some("text")
    );
    assert_eq!(
        chosen(&rules, &with_query(r#"{ "a": 1 }"#)).as_deref(),
        Some("json")
    );
    assert_eq!(
        chosen(&rules, &with_query(r#"{"a":2}"#)).as_deref(),
        Some("expression")
    );
    assert_eq!(level(&rules, &with_query(r#"{"a":2}"#)), 9);
}

#[test]
fn catch_all_with_query_subset_beats_a_prefix_expression() {
    let rules = mock(&[
        (
            "prefix",
            json!({"path": "/p", "path_match": "prefix", "expression": "url.starts_with(\"/p\")"}),
        ),
        ("catch-all", json!({"path": "/p", "body": {"type": "any"}})),
    ]);
    assert_eq!(
        chosen(&rules, &post("/p?z=1", "text/plain", "x")).as_deref(),
        Some("catch-all")
    );
    assert_eq!(
        chosen(&rules, &post("/p/more", "text/plain", "x")).as_deref(),
        Some("prefix")
    );
}

// Priority levels with a form body (docs/matching.md, "Levels with a form body")

#[test]
fn each_level_with_a_form_body_is_reported() {
    let cases: [(u8, Value, Request); 4] = [
        (1, json!({"path": "/f"}), form("/f", "a=1")),
        (
            2,
            json!({"path": "/f", "body": {"type": "form", "params": {"a": "1"}}}),
            form("/f", "a=1"),
        ),
        (
            3,
            json!({"path": "/f", "expression": "method == \"POST\""}),
            form("/f", "a=1"),
        ),
        (
            4,
            json!({"path": "/f", "path_match": "prefix", "expression": "url.starts_with(\"/f\")"}),
            form("/f/x", "a=1"),
        ),
    ];
    for (expected, rule, request) in cases {
        let rules = mock(&[("rule", rule)]);
        assert_eq!(level(&rules, &request), expected);
        let decided_by = rules
            .select(&request)
            .matched()
            .map(|m| m.decided_by.clone());
        assert!(
            matches!(
                decided_by,
                Some(DecidedBy::Level {
                    form_body: true,
                    ..
                })
            ),
            "{decided_by:?}"
        );
    }
}

#[test]
fn form_rule_without_parameters_and_equal_url_beats_form_parameters() {
    let rules = mock(&[
        (
            "params",
            json!({"path": "/f", "body": {"type": "form", "params": {"a": "1"}}}),
        ),
        ("bodiless", json!({"path": "/f"})),
    ]);
    assert_eq!(
        chosen(&rules, &form("/f", "a=1")).as_deref(),
        Some("bodiless")
    );
    // With a query the bodiless rule does not name, its url is no longer equal.
    assert_eq!(
        chosen(&rules, &form("/f?z=1", "a=1")).as_deref(),
        Some("params")
    );
}

#[test]
fn form_parameters_beat_an_expression_for_form_requests() {
    let rules = mock(&[
        (
            "expression",
            json!({"path": "/f", "expression": "method == \"POST\""}),
        ),
        (
            "params",
            json!({"path": "/f", "body": {"type": "form", "params": {"a": "1"}}}),
        ),
    ]);
    assert_eq!(
        chosen(&rules, &form("/f", "a=1")).as_deref(),
        Some("params")
    );
    assert_eq!(
        chosen(&rules, &form("/f", "a=2")).as_deref(),
        Some("expression")
    );
}

#[test]
fn form_expression_beats_a_prefix_expression() {
    let rules = mock(&[
        (
            "prefix",
            json!({"path": "/f", "path_match": "prefix", "expression": "url.starts_with(\"/f\")"}),
        ),
        (
            "expression",
            json!({"path": "/f", "expression": "method == \"POST\""}),
        ),
    ]);
    assert_eq!(
        chosen(&rules, &form("/f", "a=1")).as_deref(),
        Some("expression")
    );
    assert_eq!(
        chosen(&rules, &form("/f/g", "a=1")).as_deref(),
        Some("prefix")
    );
}

#[test]
fn json_and_xml_rules_never_match_a_form_request() {
    let rules = mock(&[
        (
            "json",
            json!({"path": "/f", "body": {"type": "json", "value": {"a": "1"}}}),
        ),
        (
            "xml",
            json!({"path": "/f", "body": {"type": "xml", "value": "<a/>"}}),
        ),
    ]);
    assert_eq!(chosen(&rules, &form("/f", "a=1")), None);
}

// Ties inside a level (docs/matching.md, "Ties")

#[test]
fn explicit_priority_breaks_ties_inside_a_level() {
    let rules = mock(&[
        ("more conditions", json!({"path": "/t?a=1&b=2"})),
        ("preferred", json!({"path": "/t?a=1"})),
    ]);
    let request = get("/t?a=1&b=2&c=3");
    assert_eq!(chosen(&rules, &request).as_deref(), Some("more conditions"));

    let examples = vec![
        (
            Uuid::from_u128(1),
            serde_json::from_value(
                json!({"name": "more conditions", "request": {"path": "/t?a=1&b=2"}}),
            )
            .expect("example"),
        ),
        (
            Uuid::from_u128(2),
            serde_json::from_value(
                json!({"name": "preferred", "priority": 5, "request": {"path": "/t?a=1"}}),
            )
            .expect("example"),
        ),
    ];
    let prioritised = CompiledMock::compile(examples, MatchSettings::default(), BTreeMap::new())
        .expect("compiles");
    assert_eq!(chosen(&prioritised, &request).as_deref(), Some("preferred"));
}

#[test]
fn the_oldest_example_wins_a_complete_tie() {
    let rules = mock(&[
        ("older", json!({"path": "/t"})),
        ("newer", json!({"path": "/t"})),
    ]);
    let selection = rules.select(&get("/t"));
    let matched = selection.matched().expect("a match");
    assert_eq!(matched.name, "older");
    assert!(matches!(
        matched.decided_by,
        DecidedBy::Level { candidates: 2, .. }
    ));
}

#[test]
fn a_literal_segment_beats_a_captured_one() {
    let rules = mock(&[
        ("by id", json!({"path": "/users/:id"})),
        ("me", json!({"path": "/users/me"})),
    ]);
    assert_eq!(chosen(&rules, &get("/users/me")).as_deref(), Some("me"));
    let selection = rules.select(&get("/users/42"));
    let matched = selection.matched().expect("a match");
    assert_eq!(matched.name, "by id");
    assert_eq!(matched.captures, [("id".to_owned(), "42".to_owned())]);
}

#[test]
fn a_method_specific_rule_beats_an_any_method_rule() {
    let rules = mock(&[
        ("any", json!({"path": "/m"})),
        ("get", json!({"method": "GET", "path": "/m"})),
    ]);
    assert_eq!(chosen(&rules, &get("/m")).as_deref(), Some("get"));
    assert_eq!(
        chosen(&rules, &Request::from_url("DELETE", "/m", &[], "")).as_deref(),
        Some("any")
    );
}

#[test]
fn header_and_cookie_conditions_must_hold() {
    let rules = mock(&[(
        "guarded",
        json!({"path": "/h", "headers": {"X-Key": "k"}, "cookies": {"session": {"matches": "[a-z]+"}}}),
    )]);
    let with = |headers: &[(&str, &str)]| Request::from_url("GET", "/h", headers, "");
    assert!(chosen(&rules, &with(&[("x-key", "k"), ("Cookie", "session=abc")])).is_some());
    assert_eq!(
        chosen(&rules, &with(&[("x-key", "k"), ("Cookie", "session=123")])),
        None
    );
    assert_eq!(chosen(&rules, &with(&[("Cookie", "session=abc")])), None);
}

// Response templates, through selection and rendering (docs/templates.md)

fn templated(name: &str, request: Value, body: &str) -> CompiledMock {
    let example = serde_json::from_value(json!({
        "name": name,
        "request": request,
        "response": {"body": body, "template": true}
    }))
    .expect("a valid example");
    CompiledMock::compile(
        vec![(Uuid::from_u128(1), example)],
        MatchSettings::default(),
        BTreeMap::from([("region".to_owned(), "eu".to_owned())]),
    )
    .expect("compiles")
}

fn rendered_body(mock: &CompiledMock, request: &Request) -> String {
    let now = time::macros::datetime!(2016-02-29 16:39:54 UTC);
    let outcome = mock.respond(request, now);
    let rendered = outcome.rendered.expect("an example was chosen");
    assert_eq!(rendered.error, None);
    String::from_utf8(rendered.body).expect("text")
}

#[test]
fn greet_template_answers_with_name_count_url_and_time() {
    let greet = templated(
        "greet",
        json!({"path": "greet", "expression": "is_json(body)"}),
        "Hello, {{ request.json.name }}!\n {{ request.json.count + 1 }} times you visit \
         [{{ request.url | trim('/') }}] api.\n --{{ now() | date('yyyy-M-d H:mm:ss') }}",
    );
    assert_eq!(
        rendered_body(
            &greet,
            &post("/greet", "application/json", r#"{"name":"foo","count":5}"#)
        ),
        "Hello, foo!\n 6 times you visit [greet] api.\n --2016-2-29 16:39:54"
    );
    assert!(
        rendered_body(
            &greet,
            &post(
                "/greet",
                "application/json",
                r#"{"name":"bar","count":100}"#
            )
        )
        .starts_with("Hello, bar!\n 101 times you visit [greet] api.")
    );
    assert!(
        greet
            .respond(
                &post("/greet", "text/plain", "not json"),
                time::OffsetDateTime::UNIX_EPOCH
            )
            .rendered
            .is_none()
    );
}

#[test]
fn templates_read_the_captured_path_segments_and_the_environment() {
    let user = templated(
        "user",
        json!({"method": "GET", "path": "/users/:id"}),
        "{{ path.id }} in {{ env.region }}",
    );
    assert_eq!(rendered_body(&user, &get("/users/42")), "42 in eu");
}

#[test]
fn a_trailing_slash_makes_another_path_in_rules_mode() {
    let rules = url_rule();
    assert_eq!(chosen(&rules, &get("/foo/bar/")), None);
    assert_eq!(
        chosen(&rules, &get("/foo/b%61r")).as_deref(),
        Some("url matched.")
    );
}

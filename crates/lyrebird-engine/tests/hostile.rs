//! Hostile requests: arbitrary bytes, invalid UTF-8, deep JSON, entity-expanding XML, huge
//! headers and random requests. Nothing may panic, and the same request always gets the same
//! answer.

use std::collections::BTreeMap;

use lyrebird_engine::{CompiledMock, MatchSettings, Request, Selection, SelectionMode};
use proptest::prelude::*;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

/// A mock with one example of each kind of condition.
fn varied(selection: SelectionMode) -> CompiledMock {
    let requests = [
        json!({"method": "GET", "path": "/users/:id", "query": {"full": {"matches": "true|false"}}}),
        json!({"method": "POST", "path": "/users", "body": {"type": "json", "value": {"name": "a", "tags": [1, 2]}}}),
        json!({"method": "POST", "path": "/users", "body": {"type": "json", "value": {"name": "a"}, "mode": "contains"}}),
        json!({"path": "/xml", "body": {"type": "xml", "value": "<a><b c=\"1\">x</b></a>"}}),
        json!({"path": "/form?x=1", "body": {"type": "form", "params": {"a": "1"}}}),
        json!({"path": "/text", "body": {"type": "text", "value": "a=1&b=2"}}),
        json!({"path": "/any", "body": {"type": "any"}, "headers": {"X-Key": {"present": true}}}),
        json!({"path": "/expr", "expression": "body.len() > 3 && headers[\"x-a\"] == \"1\""}),
        json!({"path": "/api", "path_match": "prefix", "expression": "url matches `.*/\\d+`"}),
        json!({"path": "/files/*", "cookies": {"s": "1"}}),
        json!({"path": "/{{version}}/items/{{id}}"}),
    ];
    let examples = requests
        .into_iter()
        .enumerate()
        .map(|(position, request)| {
            let example = serde_json::from_value(json!({
                "name": format!("example {position}"),
                "request": request,
                "response": {"body": "{{ request.path }}", "template": true}
            }))
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

fn both_modes() -> [CompiledMock; 2] {
    [varied(SelectionMode::Rules), varied(SelectionMode::Postman)]
}

fn post(url: &str, content_type: &str, body: impl Into<Vec<u8>>) -> Request {
    Request::from_url("POST", url, &[("Content-Type", content_type)], body)
}

#[test]
fn invalid_utf8_bodies_do_not_match_text_or_json_and_do_not_panic() {
    for mock in both_modes() {
        for url in ["/users", "/text", "/xml", "/form", "/expr", "/any"] {
            for content_type in [
                "application/json",
                "application/x-www-form-urlencoded",
                "text/plain",
            ] {
                let request = post(url, content_type, vec![0xff, 0xfe, b'{', 0x80, b'}']);
                let _ = mock.select(&request);
            }
        }
    }
}

#[test]
fn deeply_nested_json_is_refused_without_exhausting_the_stack() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let objects = format!("{}1{}", "{\"a\":".repeat(50_000), "}".repeat(50_000));
    let [rules, postman] = both_modes();
    for body in [&deep, &objects] {
        let request = post("/users", "application/json", body.as_str());
        assert!(rules.select(&request).matched().is_none());
        // Postman mode does not filter on the body unless asked, so it may still answer.
        let _ = postman.select(&request);
    }
}

#[test]
fn entity_expansion_in_xml_is_refused() {
    let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><a><b c="1">&lol3;</b></a>"#;
    let external =
        r#"<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a><b c="1">&x;</b></a>"#;
    let mock = varied(SelectionMode::Rules);
    for body in [laughs, external] {
        let selection = mock.select(&post("/xml", "application/xml", body));
        assert!(matches!(selection, Selection::NoMatch(_)), "{selection:?}");
    }
}

#[test]
fn huge_headers_and_many_query_parameters_are_handled() {
    let huge = "x".repeat(1 << 20);
    let many: Vec<String> = (0..20_000).map(|n| format!("p{n}={n}")).collect();
    let url = format!("/users/1?{}", many.join("&"));
    for mock in both_modes() {
        let request = Request::from_url(
            "GET",
            &url,
            &[
                ("X-Key", huge.as_str()),
                ("Cookie", huge.as_str()),
                ("X-Mock-Response-Name", huge.as_str()),
            ],
            "",
        );
        let _ = mock.select(&request);
        let plain = Request::from_url("GET", &url, &[("X-Big", huge.as_str())], "");
        let _ = mock.respond(&plain, OffsetDateTime::UNIX_EPOCH);
    }
}

#[test]
fn very_long_paths_are_handled() {
    let long = "/a".repeat(50_000);
    let wide = format!("/{}", "z".repeat(200_000));
    for mock in both_modes() {
        for path in [&long, &wide] {
            assert!(
                mock.select(&Request::from_url("GET", path, &[], ""))
                    .matched()
                    .is_none()
            );
        }
    }
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("GET".to_owned()),
        Just("POST".to_owned()),
        Just("PUT".to_owned()),
        "[A-Za-z]{0,8}",
    ]
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("users".to_owned()),
        Just("api".to_owned()),
        Just("files".to_owned()),
        Just("v1".to_owned()),
        Just("items".to_owned()),
        Just("1".to_owned()),
        Just("%zz".to_owned()),
        Just("%41".to_owned()),
        Just(String::new()),
        any::<String>().prop_map(|s| s.replace(['/', '?'], "")),
    ]
}

fn header() -> impl Strategy<Value = (String, String)> {
    (
        prop_oneof![
            Just("content-type".to_owned()),
            Just("cookie".to_owned()),
            Just("x-key".to_owned()),
            Just("x-a".to_owned()),
            Just("x-mock-response-code".to_owned()),
            Just("x-mock-match-request-body".to_owned()),
            Just("x-mock-match-request-headers".to_owned()),
            "[a-z-]{1,12}",
        ],
        prop_oneof![
            Just("application/json".to_owned()),
            Just("application/x-www-form-urlencoded".to_owned()),
            Just("application/xml".to_owned()),
            Just("s=1; t".to_owned()),
            Just("true".to_owned()),
            Just("1".to_owned()),
            any::<String>(),
        ],
    )
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(br#"{"name":"a","tags":[1,2]}"#.to_vec()),
        Just(b"a=1&b=2".to_vec()),
        Just(br#"<a><b c="1">x</b></a>"#.to_vec()),
        proptest::collection::vec(any::<u8>(), 0..64),
        any::<String>().prop_map(String::into_bytes),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    (
        method(),
        proptest::collection::vec(segment(), 0..6),
        proptest::collection::vec(("[a-z]{1,3}", "[a-z0-9%+]{0,4}"), 0..4),
        proptest::collection::vec(header(), 0..5),
        body(),
    )
        .prop_map(|(method, segments, query, headers, body)| {
            let query: Vec<String> = query.into_iter().map(|(n, v)| format!("{n}={v}")).collect();
            Request::new(
                method,
                format!("/{}", segments.join("/")),
                query.join("&"),
                headers,
                body,
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_requests_never_panic_and_always_get_the_same_answer(request in request()) {
        for mock in both_modes() {
            let first = mock.select(&request);
            // A fresh request has none of the first one's parsing caches.
            let fresh = Request::new(
                request.method.clone(),
                request.path.clone(),
                request.query.clone(),
                request.headers.clone(),
                request.body.clone(),
            );
            let again = mock.select(&fresh);
            prop_assert_eq!(&first, &again);
            let outcome = mock.respond(&request, OffsetDateTime::UNIX_EPOCH);
            prop_assert_eq!(&outcome.selection, &first);
            prop_assert_eq!(outcome.rendered.is_some(), first.matched().is_some());
        }
    }
}

#[test]
fn an_environment_value_repeated_in_a_path_is_refused_before_it_is_built() {
    // 4 MB named by 1,000 segments once took 3 GB and 7 s to compile, on every restart.
    let environment = BTreeMap::from([("a".to_owned(), "x".repeat(4_000_000))]);
    let example = serde_json::from_value(json!({
        "name": "poison",
        "request": {"path": "/{{a}}".repeat(1000)},
        "response": {"body": "ok"}
    }))
    .expect("a valid example");
    let errors = CompiledMock::compile(
        vec![(Uuid::nil(), example)],
        MatchSettings::default(),
        environment.clone(),
    )
    .expect_err("refused");
    let (_, error) = &errors[0];
    assert_eq!(error.field, "request.path");
    assert_eq!(
        error.message,
        format!(
            "is longer than {} bytes once the environment's variables are replaced",
            lyrebird_engine::MAX_PATH_BYTES
        )
    );
    assert_eq!(
        lyrebird_engine::check_environment(&environment),
        Err(format!(
            "holds 4000001 bytes; at most {} are kept",
            lyrebird_engine::MAX_ENVIRONMENT_BYTES
        ))
    );
}

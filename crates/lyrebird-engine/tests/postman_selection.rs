//! Every rule of docs/matching.md, "Postman mode" (and "A name that several examples share"), in
//! postman mode; the numbered sections below follow that page's numbered steps.

use std::collections::BTreeMap;

use lyrebird_engine::{
    CompiledMock, DecidedBy, MatchSettings, PathStep, Request, Selection, SelectionMode,
};
use serde_json::{Value, json};
use uuid::Uuid;

fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn settings() -> MatchSettings {
    MatchSettings {
        selection: SelectionMode::Postman,
        ..MatchSettings::default()
    }
}

fn strict() -> MatchSettings {
    MatchSettings {
        fuzzy_paths: false,
        ..settings()
    }
}

/// A postman-mode mock from (name, request, status), ids 1, 2, ... in order.
fn mock_with(
    settings: MatchSettings,
    env: BTreeMap<String, String>,
    examples: &[(&str, Value, u16)],
) -> CompiledMock {
    let examples = examples
        .iter()
        .enumerate()
        .map(|(position, (name, request, status))| {
            let example = serde_json::from_value(json!({
                "name": name,
                "request": request,
                "response": {"status": status, "body": name}
            }))
            .expect("a valid example");
            (id(position as u128 + 1), example)
        })
        .collect();
    CompiledMock::compile(examples, settings, env).expect("the examples compile")
}

fn mock(examples: &[(&str, Value, u16)]) -> CompiledMock {
    mock_with(settings(), BTreeMap::new(), examples)
}

fn get(url: &str) -> Request {
    Request::from_url("GET", url, &[], "")
}

fn get_with(url: &str, headers: &[(&str, &str)]) -> Request {
    Request::from_url("GET", url, headers, "")
}

fn chosen(mock: &CompiledMock, request: &Request) -> Option<String> {
    mock.select(request).matched().map(|m| m.name.clone())
}

/// The score and path step that decided.
fn score(mock: &CompiledMock, request: &Request) -> (f64, PathStep) {
    match mock.select(request).matched().map(|m| m.decided_by.clone()) {
        Some(DecidedBy::Score {
            score, path_step, ..
        }) => (score, path_step),
        other => panic!("expected a score, got {other:?}"),
    }
}

// 1. Method

#[test]
fn an_example_of_another_method_is_dropped() {
    let examples = mock(&[("post", json!({"method": "POST", "path": "/a"}), 200)]);
    assert_eq!(chosen(&examples, &get("/a")), None);
    assert!(chosen(&examples, &Request::from_url("POST", "/a", &[], "")).is_some());
}

// 2. Control headers

fn statuses() -> CompiledMock {
    mock(&[
        ("ok", json!({"method": "GET", "path": "/a"}), 200),
        ("missing", json!({"method": "GET", "path": "/a"}), 404),
        ("elsewhere", json!({"method": "GET", "path": "/b"}), 500),
    ])
}

#[test]
fn response_code_header_keeps_only_examples_with_that_status() {
    let examples = statuses();
    assert_eq!(chosen(&examples, &get("/a")).as_deref(), Some("ok"));
    let request = get_with("/a", &[("x-mock-response-code", "404")]);
    assert_eq!(chosen(&examples, &request).as_deref(), Some("missing"));
    let none = get_with("/a", &[("x-mock-response-code", "500")]);
    assert_eq!(chosen(&examples, &none), None);
}

#[test]
fn response_id_header_returns_that_example_directly() {
    let examples = statuses();
    let request = get_with("/anything", &[("x-mock-response-id", &id(3).to_string())]);
    let selection = examples.select(&request);
    let matched = selection.matched().expect("found by id");
    assert_eq!(matched.name, "elsewhere");
    assert_eq!(matched.decided_by, DecidedBy::ResponseId { id: id(3) });
}

#[test]
fn an_unknown_response_id_is_a_specific_error() {
    let examples = statuses();
    for unknown in [id(9).to_string(), "not-a-uuid".to_owned()] {
        let request = get_with("/a", &[("x-mock-response-id", &unknown)]);
        assert_eq!(
            examples.select(&request),
            Selection::UnknownResponseId { id: unknown }
        );
    }
}

#[test]
fn a_response_id_of_another_method_is_unknown() {
    let examples = mock(&[
        ("read", json!({"method": "GET", "path": "/a"}), 200),
        ("create", json!({"method": "POST", "path": "/a"}), 201),
    ]);
    let request = get_with("/a", &[("x-mock-response-id", &id(2).to_string())]);
    assert_eq!(
        examples.select(&request),
        Selection::UnknownResponseId {
            id: id(2).to_string()
        }
    );
    let post = Request::from_url(
        "POST",
        "/a",
        &[("x-mock-response-id", &id(2).to_string())],
        "",
    );
    assert_eq!(
        examples.select(&post).matched().map(|m| m.name.as_str()),
        Some("create")
    );
}

#[test]
fn response_name_header_returns_the_example_with_that_name() {
    let examples = statuses();
    let request = get_with("/somewhere", &[("x-mock-response-name", "missing")]);
    let selection = examples.select(&request);
    let matched = selection.matched().expect("found by name");
    assert_eq!(matched.index, 1);
    assert_eq!(
        matched.decided_by,
        DecidedBy::ResponseName {
            name: "missing".to_owned(),
            candidates: 1,
            path_step: None
        }
    );
}

/// "Success" on three requests, as real collections name their examples.
fn successes() -> CompiledMock {
    mock(&[
        (
            "Success",
            json!({"method": "GET", "path": "/users/{{id}}"}),
            200,
        ),
        (
            "Success",
            json!({"method": "GET", "path": "/orders/{{id}}"}),
            200,
        ),
        (
            "Success",
            json!({"method": "GET", "path": "/orders/{{id}}/items"}),
            200,
        ),
        ("Success", json!({"method": "POST", "path": "/orders"}), 201),
        (
            "Not found",
            json!({"method": "GET", "path": "/orders/{{id}}"}),
            404,
        ),
    ])
}

#[test]
fn a_shared_name_answers_with_the_example_whose_path_fits() {
    let request = get_with("/orders/7", &[("x-mock-response-name", "Success")]);
    let selection = successes().select(&request);
    let matched = selection.matched().expect("found by name");
    assert_eq!(matched.index, 1);
    assert_eq!(matched.captures, [("id".to_owned(), "7".to_owned())]);
    assert_eq!(
        matched.decided_by,
        DecidedBy::ResponseName {
            name: "Success".to_owned(),
            candidates: 3,
            path_step: Some(PathStep::Wildcards)
        }
    );
    let items = get_with("/orders/7/items", &[("x-mock-response-name", "Success")]);
    assert_eq!(
        successes().select(&items).matched().map(|m| m.index),
        Some(2)
    );
}

#[test]
fn a_shared_name_is_chosen_among_examples_of_the_requests_method() {
    let request = Request::from_url(
        "POST",
        "/orders/7",
        &[("x-mock-response-name", "Success")],
        "",
    );
    // The POST example's path does not fit, but it is the only one of that name and method.
    assert_eq!(
        successes().select(&request).matched().map(|m| m.index),
        Some(3)
    );
    let delete = Request::from_url(
        "DELETE",
        "/orders/7",
        &[("x-mock-response-name", "Success")],
        "",
    );
    assert_eq!(
        successes().select(&delete),
        Selection::UnknownResponseName {
            name: "Success".to_owned()
        }
    );
}

#[test]
fn a_shared_name_is_told_apart_by_the_query_too() {
    let examples = mock(&[
        ("Success", json!({"path": "/search?q=cats"}), 200),
        ("Success", json!({"path": "/search?q=dogs"}), 200),
    ]);
    let request = get_with("/search?q=dogs", &[("x-mock-response-name", "Success")]);
    assert_eq!(
        examples.select(&request).matched().map(|m| m.index),
        Some(1)
    );
}

#[test]
fn a_shared_name_that_fits_no_path_falls_back_to_the_first_with_status_200() {
    let request = get_with("/elsewhere", &[("x-mock-response-name", "Success")]);
    let selection = successes().select(&request);
    let matched = selection.matched().expect("found by name");
    assert_eq!(matched.index, 0);
    assert_eq!(
        matched.decided_by,
        DecidedBy::ResponseName {
            name: "Success".to_owned(),
            candidates: 3,
            path_step: None
        }
    );
}

#[test]
fn duplicate_names_prefer_the_first_with_status_200_by_id() {
    let examples = mock(&[
        ("same", json!({"path": "/x"}), 500),
        ("same", json!({"path": "/y"}), 200),
        ("same", json!({"path": "/z"}), 200),
    ]);
    let request = get_with("/", &[("x-mock-response-name", "same")]);
    assert_eq!(
        examples.select(&request).matched().map(|m| m.index),
        Some(1)
    );
}

#[test]
fn duplicate_names_without_status_200_give_the_first_by_id() {
    let examples = mock(&[
        ("same", json!({"path": "/x"}), 500),
        ("same", json!({"path": "/y"}), 404),
    ]);
    let request = get_with("/", &[("x-mock-response-name", "same")]);
    assert_eq!(
        examples.select(&request).matched().map(|m| m.index),
        Some(0)
    );
}

#[test]
fn an_unknown_response_name_is_a_specific_error() {
    let request = get_with("/a", &[("x-mock-response-name", "nope")]);
    assert_eq!(
        statuses().select(&request),
        Selection::UnknownResponseName {
            name: "nope".to_owned()
        }
    );
}

// 3. Path score

#[test]
fn each_path_step_gives_its_score() {
    let cases: [(&str, &str, PathStep); 8] = [
        ("/users/list", "/users/list", PathStep::Exact),
        ("/users/list", "/users/list/", PathStep::TrailingSlash),
        ("/users/list", "/Users/List", PathStep::CaseInsensitive),
        (
            "/users/list",
            "/Users/List/",
            PathStep::CaseAndTrailingSlash,
        ),
        ("/users/{{id}}", "/users/7", PathStep::Wildcards),
        ("/users/10/orders", "/users/20/orders", PathStep::IdsRemoved),
        (
            "/users/10/orders",
            "/users/20/orders/",
            PathStep::IdsAndTrailingSlashRemoved,
        ),
        ("/users/profile", "/users/profle", PathStep::EditDistance),
    ];
    for (example_path, request_path, step) in cases {
        let examples = mock(&[("only", json!({"path": example_path}), 200)]);
        // 100, the step's score, and +10 because both sides have no query parameters.
        assert_eq!(
            score(&examples, &get(request_path)),
            (110.0 + f64::from(step.score()), step),
            "{example_path} vs {request_path}"
        );
    }
}

#[test]
fn a_misspelt_path_reaches_the_example_of_the_requests_method() {
    let examples = mock(&[
        (
            "read",
            json!({"method": "GET", "path": "/users/profile"}),
            200,
        ),
        (
            "update",
            json!({"method": "PUT", "path": "/users/profile"}),
            200,
        ),
        (
            "other",
            json!({"method": "PUT", "path": "/teams/everyone"}),
            200,
        ),
    ]);
    let put = Request::from_url("PUT", "/users/profle", &[], "");
    assert_eq!(score(&examples, &put), (80.0, PathStep::EditDistance));
    assert_eq!(chosen(&examples, &put).as_deref(), Some("update"));
    assert_eq!(
        chosen(&examples, &get("/users/profle")).as_deref(),
        Some("read")
    );
    let delete = Request::from_url("DELETE", "/users/profle", &[], "");
    assert_eq!(chosen(&examples, &delete), None);
}

#[test]
fn the_exact_path_beats_a_fuzzy_one() {
    let examples = mock(&[
        ("ten", json!({"path": "/users/10"}), 200),
        ("twenty", json!({"path": "/users/20"}), 200),
    ]);
    assert_eq!(
        chosen(&examples, &get("/users/20")).as_deref(),
        Some("twenty")
    );
}

#[test]
fn an_example_that_fits_no_path_step_is_dropped() {
    let examples = mock(&[("users", json!({"path": "/users"}), 200)]);
    assert_eq!(chosen(&examples, &get("/orders/unrelated")), None);
}

#[test]
fn fuzzy_paths_off_stops_another_id_from_answering() {
    let examples = [("ten", json!({"path": "/users/10"}), 200)];
    assert_eq!(
        chosen(&mock(&examples), &get("/users/20")).as_deref(),
        Some("ten")
    );
    let strict = mock_with(strict(), BTreeMap::new(), &examples);
    assert_eq!(chosen(&strict, &get("/users/20")), None);
}

#[test]
fn fuzzy_paths_off_stops_misspelled_paths_and_case_changes() {
    let examples = [("profile", json!({"path": "/users/profile"}), 200)];
    let strict = mock_with(strict(), BTreeMap::new(), &examples);
    assert_eq!(chosen(&strict, &get("/users/profle")), None);
    assert_eq!(chosen(&strict, &get("/Users/Profile")), None);
    assert_eq!(
        score(&strict, &get("/users/profile/")),
        (105.0, PathStep::TrailingSlash)
    );
}

// 4. Query parameters

fn query_score(example_path: &str, request_url: &str) -> f64 {
    let examples = mock(&[("only", json!({"path": example_path}), 200)]);
    score(&examples, &get(request_url)).0 - 100.0
}

#[test]
fn all_query_parameters_matching_add_ten() {
    assert_eq!(query_score("/q?a=1&b=2", "/q?b=2&a=1"), 10.0);
}

#[test]
fn some_query_parameters_matching_add_their_share_of_ten() {
    // a matches, b is partial (another value), c is missing from the example: 1 of 3.
    let share = query_score("/q?a=1&b=2", "/q?a=1&b=3&c=4");
    assert!((share - 10.0 / 3.0).abs() < 1e-9, "{share}");
}

#[test]
fn no_query_parameter_matching_subtracts_the_missing_ones() {
    assert_eq!(query_score("/q", "/q?a=1&b=2"), -2.0);
    assert_eq!(query_score("/q?a=1", "/q?a=2"), 0.0);
    let many: Vec<String> = (0..15).map(|n| format!("p{n}=1")).collect();
    assert_eq!(query_score("/q", &format!("/q?{}", many.join("&"))), -10.0);
}

#[test]
fn the_example_with_more_matching_parameters_wins() {
    let examples = mock(&[
        ("page one", json!({"path": "/items?page=1"}), 200),
        ("page two", json!({"path": "/items?page=2"}), 200),
    ]);
    assert_eq!(
        chosen(&examples, &get("/items?page=2")).as_deref(),
        Some("page two")
    );
}

// 5. Headers and body

fn json_post(body: &str, headers: &[(&str, &str)]) -> Request {
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    Request::from_url("POST", "/b", &all, body)
}

fn bodies(settings: MatchSettings) -> CompiledMock {
    mock_with(
        settings,
        BTreeMap::new(),
        &[
            (
                "one",
                json!({"method": "POST", "path": "/b", "body": {"type": "json", "value": {"n": 1}}}),
                200,
            ),
            (
                "two",
                json!({"method": "POST", "path": "/b", "body": {"type": "json", "value": {"n": 2}}}),
                200,
            ),
        ],
    )
}

#[test]
fn without_body_matching_an_equal_body_adds_five() {
    let examples = bodies(settings());
    assert_eq!(
        chosen(&examples, &json_post(r#"{"n":2}"#, &[])).as_deref(),
        Some("two")
    );
    assert_eq!(score(&examples, &json_post(r#"{"n":2}"#, &[])).0, 115.0);
    // A body equal to neither still gets an answer: the body does not filter.
    assert_eq!(
        chosen(&examples, &json_post(r#"{"n":3}"#, &[])).as_deref(),
        Some("one")
    );
}

#[test]
fn body_matching_header_makes_the_body_filter() {
    let examples = bodies(settings());
    let request = json_post(r#"{"n":3}"#, &[("x-mock-match-request-body", "true")]);
    assert_eq!(chosen(&examples, &request), None);
}

#[test]
fn body_matching_setting_filters_unless_the_request_turns_it_off() {
    let examples = bodies(MatchSettings {
        match_body: true,
        ..settings()
    });
    assert_eq!(chosen(&examples, &json_post(r#"{"n":3}"#, &[])), None);
    let off = json_post(r#"{"n":3}"#, &[("x-mock-match-request-body", "false")]);
    assert_eq!(chosen(&examples, &off).as_deref(), Some("one"));
}

fn tenants(settings: MatchSettings) -> CompiledMock {
    mock_with(
        settings,
        BTreeMap::new(),
        &[
            (
                "acme",
                json!({"path": "/t", "headers": {"X-Tenant": "acme"}}),
                200,
            ),
            (
                "globex",
                json!({"path": "/t", "headers": {"X-Tenant": "globex"}}),
                200,
            ),
        ],
    )
}

#[test]
fn headers_do_not_filter_unless_asked() {
    let request = get_with("/t", &[("x-tenant", "globex")]);
    assert_eq!(
        chosen(&tenants(settings()), &request).as_deref(),
        Some("acme")
    );
}

#[test]
fn configured_header_keys_must_match() {
    let examples = tenants(MatchSettings {
        match_headers: vec!["X-Tenant".to_owned()],
        ..settings()
    });
    let request = get_with("/t", &[("x-tenant", "globex")]);
    assert_eq!(chosen(&examples, &request).as_deref(), Some("globex"));
    assert_eq!(
        chosen(&examples, &get_with("/t", &[("x-tenant", "initech")])),
        None
    );
}

#[test]
fn the_match_headers_request_header_overrides_the_configuration() {
    let request = get_with(
        "/t",
        &[
            ("x-tenant", "globex"),
            ("x-mock-match-request-headers", "x-tenant"),
        ],
    );
    assert_eq!(
        chosen(&tenants(settings()), &request).as_deref(),
        Some("globex")
    );
}

// 6. Ties

#[test]
fn ties_go_to_the_first_example_with_status_200_by_id() {
    let examples = mock(&[
        ("error", json!({"path": "/t"}), 500),
        ("first ok", json!({"path": "/t"}), 200),
        ("second ok", json!({"path": "/t"}), 200),
    ]);
    assert_eq!(chosen(&examples, &get("/t")).as_deref(), Some("first ok"));
}

#[test]
fn ties_without_status_200_go_to_the_first_by_id() {
    let examples = mock(&[
        ("created", json!({"path": "/t"}), 201),
        ("accepted", json!({"path": "/t"}), 202),
    ]);
    assert_eq!(chosen(&examples, &get("/t")).as_deref(), Some("created"));
}

// 7. Variables

#[test]
fn an_unresolved_variable_is_a_one_segment_wildcard_captured_by_name() {
    let examples = mock(&[("user", json!({"path": "/users/{{userId}}"}), 200)]);
    let selection = examples.select(&get("/users/42"));
    let matched = selection.matched().expect("a match");
    assert_eq!(matched.captures, [("userId".to_owned(), "42".to_owned())]);
    let strict = mock_with(
        strict(),
        BTreeMap::new(),
        &[("user", json!({"path": "/users/{{userId}}"}), 200)],
    );
    assert_eq!(chosen(&strict, &get("/users/42/orders")), None);
    assert!(chosen(&strict, &get("/users/42")).is_some());
}

#[test]
fn variables_resolve_from_the_environment_first() {
    let env = BTreeMap::from([("version".to_owned(), "v1".to_owned())]);
    let examples = mock_with(
        strict(),
        env,
        &[("user", json!({"path": "/{{version}}/users/{{id}}"}), 200)],
    );
    let selection = examples.select(&get("/v1/users/7"));
    assert_eq!(
        selection.matched().map(|m| m.captures.clone()),
        Some(vec![("id".to_owned(), "7".to_owned())])
    );
    assert_eq!(chosen(&examples, &get("/v2/users/7")), None);
}

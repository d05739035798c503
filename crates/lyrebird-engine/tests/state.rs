//! Mocks that remember (docs/state.md), as the engine decides them: scenarios as a condition in
//! both modes, sequences, collections served as REST, and state in templates. The engine reads
//! one state and returns the writes; these tests apply them as the runtime does.

mod support;

use lyrebird_engine::state::StateWrite;
use lyrebird_engine::{CompiledMock, Failure, Request, Selection};
use serde_json::{Value, json};
use support::{Client, mock};
use time::OffsetDateTime;

fn login_flow(selection: &str) -> CompiledMock {
    mock(
        json!({"selection": selection}),
        json!([
            {"name": "logged out", "request": {"method": "GET", "path": "/me"},
             "response": {"status": 401, "body": "who?"},
             "scenario": {"name": "login", "requires": "started"}},
            {"name": "log in", "request": {"method": "POST", "path": "/login"},
             "response": {"status": 204},
             "scenario": {"name": "login", "then": "logged_in"}},
            {"name": "logged in", "request": {"method": "GET", "path": "/me"},
             "response": {"body": "ada"},
             "scenario": {"name": "login", "requires": "logged_in"}},
            {"name": "log out", "request": {"method": "POST", "path": "/logout"},
             "response": {"status": 204},
             "scenario": {"name": "login", "then": "started"}}
        ]),
    )
}

#[test]
fn a_scenario_moves_when_its_example_answers_in_both_modes() {
    for selection in ["rules", "postman"] {
        let mut client = Client::new(login_flow(selection));
        assert_eq!(client.call("GET", "/me", "").0, 401, "{selection}");
        assert_eq!(client.call("POST", "/login", "").0, 204);
        assert_eq!(client.state.scenario("login"), "logged_in");
        assert_eq!(client.call("GET", "/me", "").1, "ada", "{selection}");
        client.call("POST", "/logout", "");
        assert_eq!(client.call("GET", "/me", "").0, 401, "{selection}");
    }
}

#[test]
fn an_answer_that_leaves_the_scenario_where_it_is_writes_nothing() {
    let mock = login_flow("rules");
    let outcome = mock.respond(
        &Request::from_url("GET", "/me", &[], ""),
        OffsetDateTime::UNIX_EPOCH,
    );
    assert!(outcome.writes.is_empty());
}

#[test]
fn a_required_state_is_explained_when_nothing_matches() {
    let mock = mock(
        json!({}),
        json!([{"name": "paid", "request": {"path": "/order"},
                "scenario": {"name": "checkout", "requires": "cart_full"}}]),
    );
    let Selection::NoMatch(explanation) = mock.select(&Request::from_url("GET", "/order", &[], ""))
    else {
        panic!("nothing matches in `started`");
    };
    let nearest = &explanation.near_misses[0];
    assert_eq!(
        nearest.failed,
        Failure::Scenario {
            name: "checkout".into(),
            current: "started".into(),
            required: "cart_full".into(),
        }
    );
    assert_eq!(
        nearest.message,
        "scenario checkout is in `started`, the example needs `cart_full`"
    );
}

#[test]
fn an_example_that_requires_the_current_state_wins_a_tie_in_both_modes() {
    for selection in ["rules", "postman"] {
        let mut client = Client::new(mock(
            json!({"selection": selection}),
            json!([
                {"name": "any", "request": {"method": "GET", "path": "/x"}, "response": {"body": "any"}},
                {"name": "started", "request": {"method": "GET", "path": "/x"}, "response": {"body": "started"},
                 "scenario": {"name": "s", "requires": "started"}}
            ]),
        ));
        assert_eq!(client.call("GET", "/x", "").1, "started", "{selection}");
    }
}

fn sequence(policy: &str, seed: Option<u64>, weights: bool) -> CompiledMock {
    let responses: Vec<Value> = ["a", "b", "c"]
        .iter()
        .enumerate()
        .map(|(n, body)| {
            if weights {
                json!({"body": body, "weight": if n == 0 { 8 } else { 1 }})
            } else {
                json!({"body": body})
            }
        })
        .collect();
    mock(
        json!({}),
        json!([{"name": "seq", "request": {"path": "/s"},
                "sequence": {"policy": policy, "seed": seed, "responses": responses}}]),
    )
}

fn bodies(mock: CompiledMock, calls: usize) -> String {
    let mut client = Client::new(mock);
    (0..calls).map(|_| client.call("GET", "/s", "").1).collect()
}

#[test]
fn sequences_go_in_order_cycle_or_draw_repeatably_with_a_seed() {
    assert_eq!(bodies(sequence("in_order", None, false), 5), "abccc");
    assert_eq!(bodies(sequence("cycle", None, false), 5), "abcab");
    let seeded = bodies(sequence("random", Some(7), false), 30);
    assert_eq!(seeded, bodies(sequence("random", Some(7), false), 30));
    assert_ne!(seeded, bodies(sequence("random", Some(8), false), 30));
    let weighted = bodies(sequence("weighted", Some(1), true), 1000);
    let a = weighted.matches('a').count();
    assert!(
        (700..900).contains(&a),
        "{a} of 1000 drew the weight-8 response"
    );
}

#[test]
fn a_random_sequence_without_a_seed_keeps_no_place() {
    let mock = sequence("random", None, false);
    assert!(!mock.is_stateful());
}

#[test]
fn a_weighted_sequence_needs_every_weight_and_other_policies_none() {
    let invalid = |example: Value| {
        lyrebird_engine::validate_example(
            &serde_json::from_value(example).unwrap(),
            &Default::default(),
        )
        .unwrap_err()
        .into_iter()
        .map(|e| e.field)
        .collect::<Vec<_>>()
    };
    assert_eq!(
        invalid(
            json!({"name": "w", "sequence": {"policy": "weighted", "responses": [{"weight": 1}, {}]}})
        ),
        ["sequence.responses[1].weight"]
    );
    assert_eq!(
        invalid(json!({"name": "w", "sequence": {"responses": [{"weight": 1}]}})),
        ["sequence.responses[0].weight"]
    );
    assert_eq!(
        invalid(json!({"name": "w", "response": {"status": 201}, "sequence": {"responses": [{}]}})),
        ["response"]
    );
    assert_eq!(
        invalid(
            json!({"name": "r", "request": {"method": "GET"}, "resource": {"collection": "t"}})
        ),
        ["request.method"]
    );
    assert_eq!(
        invalid(json!({"name": "s", "scenario": {"name": ""}})),
        ["scenario.name"]
    );
}

fn todos() -> Client {
    Client::new(mock(
        json!({"collections": {"todos": {"seed": [
            {"id": 1, "title": "milk", "done": false},
            {"id": 2, "title": "eggs", "done": true}
        ]}}}),
        json!([{"name": "todos", "request": {"path": "/todos"}, "resource": {"collection": "todos"}}]),
    ))
}

#[test]
fn a_collection_is_served_as_rest() {
    let mut client = todos();
    assert_eq!(
        client.json("GET", "/todos", "").1.as_array().unwrap().len(),
        2
    );
    assert_eq!(client.json("GET", "/todos/2", "").1["title"], "eggs");
    let (status, created) = client.json("POST", "/todos", r#"{"title": "tea"}"#);
    assert_eq!((status, created["id"].clone()), (201, json!(3)));
    assert_eq!(
        client.json("PATCH", "/todos/3", r#"{"done": true}"#).1,
        json!({"id": 3, "title": "tea", "done": true})
    );
    assert_eq!(
        client.json("PUT", "/todos/1", r#"{"title": "oat milk"}"#).1,
        json!({"id": 1, "title": "oat milk"})
    );
    assert_eq!(client.call("DELETE", "/todos/2", "").0, 204);
    let (_, done) = client.json("GET", "/todos?done=true", "");
    assert_eq!(done, json!([{"id": 3, "title": "tea", "done": true}]));
    let (_, sorted) = client.json("GET", "/todos?sort=-id&limit=1", "");
    assert_eq!(sorted[0]["id"], 3);
    let (_, page) = client.json("GET", "/todos?page=2&per_page=1", "");
    assert_eq!(page[0]["id"], 3);
}

#[test]
fn collection_errors_have_their_documented_shape_and_change_nothing() {
    let mut client = todos();
    let cases = [
        ("GET", "/todos/9", "", 404, "not_found"),
        ("POST", "/todos", r#"{"id": 1}"#, 409, "conflict"),
        ("POST", "/todos", "[1]", 422, "invalid_record"),
        ("POST", "/todos", "{nope", 422, "invalid_record"),
        ("PATCH", "/todos/1", r#"{"id": 5}"#, 422, "invalid_record"),
        ("PATCH", "/todos/1", "3", 422, "invalid_record"),
        ("GET", "/todos?limit=x", "", 422, "invalid_query"),
        ("POST", "/todos/1", "{}", 405, "method_not_allowed"),
    ];
    for (method, url, body, status, code) in cases {
        let (got, answer) = client.json(method, url, body);
        assert_eq!(
            (got, answer["error"]["code"].as_str()),
            (status, Some(code)),
            "{method} {url} {body}"
        );
    }
    assert_eq!(client.state.version, 0, "no refused call wrote anything");
    let big = format!(r#"{{"title": "{}"}}"#, "x".repeat(70_000));
    assert_eq!(client.json("POST", "/todos", &big).0, 422);
}

#[test]
fn a_collection_written_once_keeps_its_seed_and_a_cleared_one_stays_empty() {
    let mut client = todos();
    client.call("DELETE", "/todos/1", "");
    assert_eq!(
        client.json("GET", "/todos", "").1,
        json!([{"id": 2, "title": "eggs", "done": true}])
    );
    assert_eq!(client.call("DELETE", "/todos", "").0, 204);
    assert_eq!(client.json("GET", "/todos", "").1, json!([]));
    assert_eq!(client.json("POST", "/todos", "{}").1, json!({"id": 3}));
}

#[test]
fn templates_read_and_write_the_state() {
    let mut client = Client::new(mock(
        json!({"collections": {"todos": {"seed": [{"id": "a", "title": "milk"}]}}}),
        json!([
            {"name": "count", "request": {"method": "POST", "path": "/visits"}, "response": {
                "template": true, "body": "{{ state.incr('visits') }}"}},
            {"name": "remember", "request": {"method": "PUT", "path": "/name"}, "response": {
                "template": true, "body": "{{ state.set('name', request.body) }}{{ state.get('name') }}"}},
            {"name": "recall", "request": {"method": "GET", "path": "/name"}, "response": {
                "template": true, "body": "{{ state.get('name', 'nobody') }} {{ collection('todos') | length }} {{ state.scenario('x') }}"}}
        ]),
    ));
    assert_eq!(client.call("GET", "/name", "").1, "nobody 1 started");
    assert_eq!(client.call("POST", "/visits", "").1, "1");
    assert_eq!(client.call("POST", "/visits", "").1, "2");
    assert_eq!(client.call("PUT", "/name", "ada").1, "ada");
    assert_eq!(client.call("GET", "/name", "").1, "ada 1 started");
    assert_eq!(
        client.state.values.get("visits"),
        Some(&json!(2)),
        "the counter is kept as a number"
    );
}

#[test]
fn a_state_write_is_described_for_the_call_log() {
    let write = StateWrite::Scenario {
        name: "login".into(),
        state: "logged_in".into(),
    };
    assert_eq!(write.describe(), "scenario login moved to `logged_in`");
}

#[test]
fn a_generated_id_never_takes_one_a_record_has() {
    let mut client = todos();
    assert_eq!(client.json("POST", "/todos", r#"{"id": "3"}"#).0, 201);
    assert_eq!(client.json("POST", "/todos", "{}").1, json!({"id": 4}));
    let (status, _) = client.json("POST", "/todos", r#"{"id": 9223372036854775807}"#);
    assert_eq!(status, 201);
    let (status, answer) = client.json("POST", "/todos", "{}");
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (507, Some("state_full")),
        "no id is left above the largest"
    );
}

#[test]
fn a_nul_is_refused_in_records_and_in_template_values() {
    let mut client = todos();
    let (status, answer) = client.json("POST", "/todos", r#"{"title": "a\u0000b"}"#);
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (422, Some("invalid_record"))
    );
    assert_eq!(client.state.version, 0);
}

#[test]
fn a_template_cannot_pass_the_limits_of_a_state_within_one_render() {
    let mut client = Client::new(mock(
        json!({}),
        json!([
            {"name": "churn", "request": {"path": "/churn"}, "response": {"template": true,
             "body": "{% for i in range(1100) %}{{ state.delete('k' ~ i) }}{{ state.set('k' ~ i, 1) }}{% endfor %}"}},
            {"name": "big", "request": {"path": "/big"}, "response": {"template": true,
             "body": "{% for i in range(200) %}{{ state.set('b' ~ i, request.body) }}{% endfor %}"}}
        ]),
    ));
    let large = "x".repeat(60_000);
    let (status, body, _) = client.call("POST", "/churn", "");
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("would hold more than 1000 keys"), "{body}");
    // 200 values of 60 KB pass 8 MiB at the 140th; an unoptimised build may run out of render
    // time first. Either way the render fails, and nothing of it is written.
    let (status, body, _) = client.call("POST", "/big", &large);
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("would hold more than") || body.contains("render_limit"),
        "{body}"
    );
    assert_eq!(client.state.version, 0, "nothing was written");
}

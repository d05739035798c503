//! Mocks that remember, black-box: `lyrebird serve` processes on real ports and a real
//! PostgreSQL. Scenarios, sequences and collections over HTTP; two processes on one database
//! moving one scenario and creating records at once; state that survives a restart; state keys
//! kept apart; the state API; and bad input refused with nothing changed.

#[path = "../support/binary.rs"]
mod support;

use std::time::{Duration, Instant};

use lyrebird_store::testing::TestDatabase;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Server, User, json_of};

fn login_examples() -> Vec<Value> {
    vec![
        json!({"name": "logged out", "request": {"method": "GET", "path": "/me"},
               "response": {"status": 401, "body": {"error": "log in first"}},
               "scenario": {"name": "login", "requires": "started"}}),
        json!({"name": "log in", "request": {"method": "POST", "path": "/login"},
               "response": {"status": 204},
               "scenario": {"name": "login", "then": "logged_in"}}),
        json!({"name": "me", "request": {"method": "GET", "path": "/me"},
               "response": {"body": {"name": "Ada"}},
               "scenario": {"name": "login", "requires": "logged_in"}}),
    ]
}

fn todo_mock() -> Value {
    json!({"name": "todos", "collections": {"todos": {"seed": [
        {"id": 1, "title": "milk", "done": false},
        {"id": 2, "title": "eggs", "done": true}
    ]}}})
}

fn todo_resource() -> Value {
    json!({"name": "todos", "request": {"path": "/todos"}, "resource": {"collection": "todos"}})
}

async fn call(
    server: &Server,
    method: Method,
    mock: &str,
    path: &str,
    state_key: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = server.by_path(method, mock, path);
    if let Some(key) = state_key {
        request = request.header("x-lyrebird-state", key);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    json_of(request.send().await.unwrap()).await
}

async fn state_of(server: &Server, user: &User, mock: &str, key: &str) -> Value {
    let (status, state) = server
        .api(
            Method::GET,
            &format!("/api/v1/mocks/{mock}/state?key={key}"),
            &user.key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{state}");
    state
}

#[tokio::test]
async fn a_login_flow_moves_its_scenario_and_the_call_log_says_so() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("scenario@example.com").await;
    let mock = server
        .create_mock(&user.key, json!({"name": "login"}), &login_examples())
        .await;

    let (status, _) = call(&server, Method::GET, &mock, "/me", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&server, Method::POST, &mock, "/login", None, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let answer = server
        .by_host(Method::GET, &mock, "/me")
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(answer).await.1, json!({"name": "Ada"}));

    let state = state_of(&server, &user, &mock, "").await;
    assert_eq!(state["scenarios"], json!({"login": "logged_in"}));
    let calls = server.logged_calls(&user.key, &mock, 3).await;
    let detail = |call: &Value| {
        format!(
            "/api/v1/mocks/{mock}/calls/{}",
            call["id"].as_str().unwrap()
        )
    };
    let (_, login) = server
        .api(Method::GET, &detail(&calls[1]), &user.key, None)
        .await;
    let noted = &login["explanation"]["state"];
    assert_eq!(
        noted["changed"],
        json!(["scenario login moved to `logged_in`"]),
        "{login}"
    );
    assert_eq!(noted["key"], "");
    let (_, me) = server
        .api(Method::GET, &detail(&calls[0]), &user.key, None)
        .await;
    assert_eq!(
        me["explanation"]["state"]["scenarios"]["login"],
        "logged_in"
    );

    // Reset: the flow starts over.
    let path = format!("/api/v1/mocks/{mock}/state");
    let (status, _) = server.api(Method::DELETE, &path, &user.key, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = call(&server, Method::GET, &mock, "/me", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn a_call_that_no_state_allows_is_explained() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("explained@example.com").await;
    let mock = server
        .create_mock(
            &user.key,
            json!({"name": "paid"}),
            &[json!({
            "name": "receipt", "request": {"method": "GET", "path": "/receipt"},
            "scenario": {"name": "checkout", "requires": "paid"}})],
        )
        .await;
    let (status, body) = call(&server, Method::GET, &mock, "/receipt", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body["explanation"]["near_misses"][0]["message"],
        "scenario checkout is in `started`, the example needs `paid`"
    );
}

#[tokio::test]
async fn two_processes_move_one_scenario_once_and_lose_no_record() {
    let db = TestDatabase::new().await;
    let a = Server::start(&db, &[]);
    let b = Server::start(&db, &[]);
    let user = a.sign_up("replicas@example.com").await;
    let mock = a
        .create_mock(
            &user.key,
            todo_mock(),
            &[
                todo_resource(),
                json!({"name": "first", "request": {"method": "POST", "path": "/claim"},
                   "response": {"body": {"won": true}},
                   "scenario": {"name": "prize", "requires": "started", "then": "claimed"}}),
                json!({"name": "later", "request": {"method": "POST", "path": "/claim"},
                   "response": {"body": {"won": false}},
                   "scenario": {"name": "prize", "requires": "claimed"}}),
            ],
        )
        .await;
    // Both processes hold the state in memory before the race.
    for server in [&a, &b] {
        let (status, _) = call(server, Method::GET, &mock, "/todos", None, None).await;
        assert_eq!(status, StatusCode::OK);
    }

    let claims = (0..20).map(|n| {
        let server = if n % 2 == 0 { &a } else { &b };
        call(server, Method::POST, &mock, "/claim", None, None)
    });
    let winners = futures_util::future::join_all(claims)
        .await
        .into_iter()
        .filter(|(status, body)| {
            assert_eq!(*status, StatusCode::OK, "{body}");
            body["won"] == true
        })
        .count();
    assert_eq!(winners, 1, "the scenario moved exactly once");

    let posts = (0..40).map(|n| {
        let server = if n % 2 == 0 { &a } else { &b };
        call(
            server,
            Method::POST,
            &mock,
            "/todos",
            None,
            Some(json!({"title": format!("todo {n}")})),
        )
    });
    let mut ids: Vec<i64> = futures_util::future::join_all(posts)
        .await
        .into_iter()
        .map(|(status, body)| {
            assert_eq!(status, StatusCode::CREATED, "{body}");
            body["id"].as_i64().unwrap()
        })
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        (3..43).collect::<Vec<_>>(),
        "every POST got its own id"
    );
    for server in [&a, &b] {
        let listed = eventually(server, &mock, |todos| {
            todos.as_array().map(Vec::len) == Some(42)
        })
        .await;
        assert_eq!(listed.as_array().unwrap().len(), 42);
    }
}

/// The list of todos from `server`, once `done` holds of it (a process sees another's write
/// when its notification arrives).
async fn eventually(server: &Server, mock: &str, done: impl Fn(&Value) -> bool) -> Value {
    let started = Instant::now();
    loop {
        let (_, todos) = call(server, Method::GET, mock, "/todos", None, None).await;
        if done(&todos) {
            return todos;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "never seen: {todos}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn one_process_reads_what_another_wrote_and_state_survives_a_restart() {
    let db = TestDatabase::new().await;
    let a = Server::start(&db, &[]);
    let b = Server::start(&db, &[]);
    let user = a.sign_up("restart@example.com").await;
    let mock = a
        .create_mock(&user.key, todo_mock(), &[todo_resource()])
        .await;
    let (_, before) = call(&b, Method::GET, &mock, "/todos/1", None, None).await;
    assert_eq!(before["title"], "milk");

    let patch = Some(json!({"title": "oat milk"}));
    let (status, _) = call(&a, Method::PATCH, &mock, "/todos/1", None, patch).await;
    assert_eq!(status, StatusCode::OK);
    eventually(&b, &mock, |todos| todos[0]["title"] == "oat milk").await;

    a.interrupt();
    b.interrupt();
    let c = Server::start(&db, &[]);
    let (_, after) = call(&c, Method::GET, &mock, "/todos/1", None, None).await;
    assert_eq!(after["title"], "oat milk");
}

#[tokio::test]
async fn state_keys_keep_test_runs_apart() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("keys@example.com").await;
    let mock = server
        .create_mock(&user.key, todo_mock(), &[todo_resource()])
        .await;
    let created = Some(json!({"title": "only in run 1"}));
    let (status, _) = call(
        &server,
        Method::POST,
        &mock,
        "/todos",
        Some("run-1"),
        created,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, run1) = call(&server, Method::GET, &mock, "/todos", Some("run-1"), None).await;
    let (_, run2) = call(&server, Method::GET, &mock, "/todos", Some("run-2"), None).await;
    let (_, default) = call(&server, Method::GET, &mock, "/todos", None, None).await;
    assert_eq!(run1.as_array().unwrap().len(), 3);
    assert_eq!(run2.as_array().unwrap().len(), 2);
    assert_eq!(default.as_array().unwrap().len(), 2);

    let state = state_of(&server, &user, &mock, "run-1").await;
    assert_eq!(state["collections"]["todos"].as_array().unwrap().len(), 3);
    let keys: Vec<&str> = state["states"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["run-1"]);

    let reset = format!("/api/v1/mocks/{mock}/state?key=run-1");
    let (status, _) = server.api(Method::DELETE, &reset, &user.key, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, run1) = call(&server, Method::GET, &mock, "/todos", Some("run-1"), None).await;
    assert_eq!(run1.as_array().unwrap().len(), 2, "reset to the seed");

    let long = "k".repeat(200);
    let (status, body) = call(&server, Method::GET, &mock, "/todos", Some(&long), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_state_key");
}

#[tokio::test]
async fn the_state_api_sets_a_whole_state_and_refuses_bad_input_changing_nothing() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("api@example.com").await;
    let mut examples = login_examples();
    examples.push(todo_resource());
    let mock = server.create_mock(&user.key, todo_mock(), &examples).await;
    let path = format!("/api/v1/mocks/{mock}/state");

    let set = json!({"scenarios": {"login": "logged_in"}, "values": {"visits": 3},
                     "collections": {"todos": [{"id": 7, "title": "tea"}]}});
    let (status, state) = server.api(Method::PUT, &path, &user.key, Some(set)).await;
    assert_eq!(status, StatusCode::OK, "{state}");
    assert_eq!(state["scenarios"], json!({"login": "logged_in"}));
    assert_eq!(state["values"], json!({"visits": 3}));
    let (_, me) = call(&server, Method::GET, &mock, "/me", None, None).await;
    assert_eq!(me["name"], "Ada", "calls answer from the state set");
    let (_, created) = call(
        &server,
        Method::POST,
        &mock,
        "/todos",
        None,
        Some(json!({})),
    )
    .await;
    assert_eq!(created["id"], 8, "ids go on from the largest set");

    let refused = [
        (json!({"scenarios": {"nope": "x"}}), "scenarios.nope"),
        (json!({"collections": {"nope": []}}), "collections.nope"),
        (
            json!({"collections": {"todos": [{"title": "no id"}]}}),
            "collections.todos[0]",
        ),
        (
            json!({"collections": {"todos": [{"id": 1, "big": "x".repeat(70_000)}]}}),
            "collections.todos[0]",
        ),
        (json!({"other": 1}), "other"),
    ];
    for (body, field) in refused {
        let (status, error) = server.api(Method::PUT, &path, &user.key, Some(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
        assert!(
            error["error"]["field"]
                .as_str()
                .unwrap_or_default()
                .starts_with(field),
            "{error}"
        );
    }
    let (status, malformed) = call(&server, Method::PATCH, &mock, "/todos/7", None, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(malformed["error"]["code"], "invalid_record");
    let big = Some(json!({"title": "x".repeat(70_000)}));
    let (status, _) = call(&server, Method::POST, &mock, "/todos", None, big).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let state = state_of(&server, &user, &mock, "").await;
    assert_eq!(
        state["collections"]["todos"],
        json!([{"id": 7, "title": "tea"}, {"id": 8}])
    );
    assert_eq!(state["scenarios"], json!({"login": "logged_in"}));

    let other = server.sign_up("other@example.com").await;
    let (status, _) = server.api(Method::GET, &path, &other.key, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another workspace's mock");
    let (status, _) = server.api(Method::DELETE, &path, &other.key, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sequences_and_counters_go_on_across_processes() {
    let db = TestDatabase::new().await;
    let a = Server::start(&db, &[]);
    let b = Server::start(&db, &[]);
    let user = a.sign_up("sequence@example.com").await;
    let mock = a
        .create_mock(&user.key, json!({"name": "seq"}), &[
            json!({"name": "flaky", "request": {"method": "GET", "path": "/flaky"},
                   "sequence": {"policy": "cycle", "responses": [{"status": 503}, {"status": 200}]}}),
            json!({"name": "count", "request": {"method": "POST", "path": "/count"},
                   "response": {"template": true, "body": "{{ state.incr('calls') }}"}}),
        ])
        .await;
    let mut statuses = Vec::new();
    for n in 0..4 {
        let server = if n % 2 == 0 { &a } else { &b };
        statuses.push(
            call(server, Method::GET, &mock, "/flaky", None, None)
                .await
                .0
                .as_u16(),
        );
    }
    assert_eq!(statuses, [503, 200, 503, 200]);
    let mut counts = Vec::new();
    for n in 0..4 {
        let server = if n % 2 == 0 { &a } else { &b };
        counts.push(
            call(server, Method::POST, &mock, "/count", None, None)
                .await
                .1,
        );
    }
    assert_eq!(counts, [json!(1), json!(2), json!(3), json!(4)]);
}

#[tokio::test]
async fn trying_a_request_reads_the_state_and_never_writes_it() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("try@example.com").await;
    let mock = server
        .create_mock(&user.key, json!({"name": "try"}), &login_examples())
        .await;
    let path = format!("/api/v1/mocks/{mock}/try");
    let try_request = |method: &str, url: &str, key: &str| json!({"method": method, "path": url, "headers": [{"name": "x-lyrebird-state", "value": key}]});

    let (status, tried) = server
        .api(
            Method::POST,
            &path,
            &user.key,
            Some(try_request("POST", "/login", "run-1")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tried}");
    assert_eq!(
        tried["decided_by"]["state"]["changed"],
        json!(["scenario login moved to `logged_in`"]),
        "the try says what the call would change"
    );
    let (status, _) = call(&server, Method::GET, &mock, "/me", Some("run-1"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the try changed nothing");

    let (status, _) = call(&server, Method::POST, &mock, "/login", Some("run-1"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, tried) = server
        .api(
            Method::POST,
            &path,
            &user.key,
            Some(try_request("GET", "/me", "run-1")),
        )
        .await;
    assert_eq!(
        tried["example"]["name"], "me",
        "the try reads the state of its key"
    );

    let (status, refused) = server
        .api(
            Method::POST,
            &path,
            &user.key,
            Some(try_request("GET", "/me", "a b")),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["field"], "headers");
}

#[tokio::test]
async fn a_mock_holds_at_most_a_thousand_states_even_when_new_keys_arrive_at_once() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("keys-limit@example.com").await;
    let mock = server
        .create_mock(
            &user.key,
            json!({"name": "counted"}),
            &[json!({
            "name": "count", "request": {"method": "POST", "path": "/count"},
            "response": {"template": true, "body": "{{ state.incr('n') }}"}})],
        )
        .await;
    let count = |key: String| {
        let server = &server;
        let mock = &mock;
        async move {
            call(server, Method::POST, mock, "/count", Some(&key), None)
                .await
                .0
        }
    };
    for batch in (0..990).collect::<Vec<_>>().chunks(30) {
        let done =
            futures_util::future::join_all(batch.iter().map(|n| count(format!("k{n}")))).await;
        assert!(
            done.iter().all(|status| *status == StatusCode::OK),
            "{done:?}"
        );
    }
    // 20 new keys at once, with room for 10.
    let statuses = futures_util::future::join_all((0..20).map(|n| count(format!("late{n}")))).await;
    let admitted = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    let full = statuses
        .iter()
        .filter(|s| **s == StatusCode::INSUFFICIENT_STORAGE)
        .count();
    assert_eq!((admitted, full), (10, 10), "{statuses:?}");
    let (status, body) = call(
        &server,
        Method::POST,
        &mock,
        "/count",
        Some("one-more"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::INSUFFICIENT_STORAGE);
    assert_eq!(body["error"]["code"], "state_full");
    let (status, _) = call(&server, Method::POST, &mock, "/count", Some("k1"), None).await;
    assert_eq!(status, StatusCode::OK, "a key already there still writes");
}

//! Serving mocks, black-box: `lyrebird serve` processes on real ports, on a real PostgreSQL,
//! called over HTTP by both URL forms: routing, edits on the next call, LISTEN/NOTIFY between two
//! processes, private mocks, monthly quotas (one process exactly, two within the bound), delays,
//! CORS, fallbacks and explained 404s, usage and `lyrebird workspace set-quota`.

#[path = "serving/support.rs"]
mod support;

use std::time::{Duration, Instant};

use lyrebird_store::testing::TestDatabase;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Server, example, json_of, lyrebird};

/// A mock whose one example echoes the path the engine saw, for any method.
fn echo_example() -> Value {
    json!({
        "name": "echo",
        "request": {"path": "/", "path_match": "prefix", "expression": "url != \"\""},
        "response": {"status": 200, "body": "path={{ request.path }} method={{ request.method }}", "template": true}
    })
}

async fn text(request: reqwest::RequestBuilder) -> (StatusCode, String) {
    let response = request.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn status_of(request: reqwest::RequestBuilder) -> StatusCode {
    request.send().await.unwrap().status()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn both_url_forms_reach_the_mock_and_the_engine_sees_the_same_path() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("forms@example.com").await;
    let mock = server
        .create_mock(&user.key, json!({"name": "forms"}), &[echo_example()])
        .await;

    let expected = "path=/users/7 method=GET";
    let by_path = text(server.by_path(Method::GET, &mock, "/users/7")).await;
    assert_eq!(by_path, (StatusCode::OK, expected.to_owned()));
    let by_host = text(server.by_host(Method::GET, &mock, "/users/7")).await;
    assert_eq!(by_host, (StatusCode::OK, expected.to_owned()));

    // Any letter case, and without the port.
    let shouting = server
        .client
        .get(server.url("/users/7"))
        .header("host", format!("{}.MOCK.LocalHost", mock.to_uppercase()));
    assert_eq!(text(shouting).await.1, expected);
    // The mock's root, in both forms.
    assert_eq!(
        text(server.client.get(server.url(&format!("/m/{mock}"))))
            .await
            .1,
        "path=/ method=GET"
    );
    assert_eq!(
        text(server.by_host(Method::GET, &mock, "/")).await.1,
        "path=/ method=GET"
    );
}

#[tokio::test]
async fn every_method_reaches_the_mock_and_head_answers_like_get_without_a_body() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("methods@example.com").await;
    let mock = server
        .create_mock(&user.key, json!({"name": "methods"}), &[echo_example()])
        .await;

    for method in ["POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PURGE"] {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let (status, body) = text(server.by_host(method.clone(), &mock, "/x")).await;
        assert_eq!(status, StatusCode::OK, "{method}");
        assert_eq!(body, format!("path=/x method={method}"));
    }
    let head = server
        .by_path(Method::HEAD, &mock, "/x")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.headers().contains_key("ratelimit-remaining"));
    assert_eq!(head.bytes().await.unwrap().len(), 0);
}

#[tokio::test]
async fn an_unknown_deleted_or_malformed_mock_is_a_404_that_says_so() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("unknown@example.com").await;
    let mock = server
        .create_mock(
            &user.key,
            json!({"name": "doomed"}),
            &[example("a", "GET", "/a")],
        )
        .await;
    assert_eq!(
        status_of(server.by_path(Method::GET, &mock, "/a")).await,
        StatusCode::OK
    );
    let (status, _) = server
        .api(
            Method::DELETE,
            &format!("/api/v1/mocks/{mock}"),
            &user.key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let unknown = uuid::Uuid::now_v7().to_string();
    for request in [
        server.by_path(Method::GET, &mock, "/a"),
        server.by_host(Method::GET, &mock, "/a"),
        server.by_path(Method::GET, &unknown, "/a"),
        server.client.get(server.url("/m/not-a-mock/a")),
        server
            .client
            .get(server.url("/a"))
            .header("host", "nope.mock.localhost"),
    ] {
        let (status, body) = json_of(request.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["error"]["code"], "mock_not_found", "{body}");
    }
}

#[tokio::test]
async fn an_edit_through_the_api_is_seen_on_the_very_next_call() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("edits@example.com").await;
    let mock = server
        .create_mock(
            &user.key,
            json!({"name": "edits"}),
            &[example("first", "GET", "/a")],
        )
        .await;
    let (_, body) = json_of(
        server
            .by_path(Method::GET, &mock, "/a")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(body["example"], "first");

    let examples = format!("/api/v1/mocks/{mock}/examples");
    for round in 0..5 {
        let name = format!("edit {round}");
        let (status, _) = server
            .api(
                Method::PUT,
                &examples,
                &user.key,
                Some(json!([example(&name, "GET", "/a")])),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (_, body) = json_of(
            server
                .by_host(Method::GET, &mock, "/a")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(body["example"], name.as_str());
    }
    let (status, _) = server
        .api(
            Method::PATCH,
            &format!("/api/v1/mocks/{mock}"),
            &user.key,
            Some(json!({"private": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        status_of(server.by_path(Method::GET, &mock, "/a")).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn an_edit_through_one_process_is_seen_by_another_within_a_second() {
    let db = TestDatabase::new().await;
    let a = Server::start(&db, &[]);
    let b = Server::start(&db, &[]);
    let user = a.sign_up("two@example.com").await;
    let mock = a
        .create_mock(
            &user.key,
            json!({"name": "shared"}),
            &[example("before", "GET", "/a")],
        )
        .await;
    let (_, body) = json_of(b.by_path(Method::GET, &mock, "/a").send().await.unwrap()).await;
    assert_eq!(body["example"], "before", "B has the mock cached");

    let examples = format!("/api/v1/mocks/{mock}/examples");
    let (status, _) = a
        .api(
            Method::PUT,
            &examples,
            &user.key,
            Some(json!([example("after", "GET", "/a")])),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let edited = Instant::now();
    loop {
        let (_, body) = json_of(b.by_path(Method::GET, &mock, "/a").send().await.unwrap()).await;
        if body["example"] == "after" {
            break;
        }
        assert!(
            edited.elapsed() < Duration::from_secs(1),
            "B still answers {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Deleting through A: B forgets the mock too.
    a.api(
        Method::DELETE,
        &format!("/api/v1/mocks/{mock}"),
        &user.key,
        None,
    )
    .await;
    let deleted = Instant::now();
    while status_of(b.by_path(Method::GET, &mock, "/a")).await != StatusCode::NOT_FOUND {
        assert!(
            deleted.elapsed() < Duration::from_secs(1),
            "B still serves the deleted mock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_key_created_or_revoked_through_one_process_is_seen_by_another_within_a_second() {
    let db = TestDatabase::new().await;
    let a = Server::start(&db, &[]);
    let b = Server::start(&db, &[]);
    let user = a.sign_up("keys@example.com").await;
    let mock = a
        .create_mock(
            &user.key,
            json!({"name": "private", "private": true}),
            &[example("a", "GET", "/a")],
        )
        .await;
    let call = |key: &str| b.by_host(Method::GET, &mock, "/a").header("x-api-key", key);
    // B loaded the sign-up's key as it was created, at A.
    let signed_up = Instant::now();
    while status_of(call(&user.key)).await != StatusCode::OK {
        assert!(
            signed_up.elapsed() < Duration::from_secs(1),
            "B refuses the key"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (status, created) = a
        .api(
            Method::POST,
            "/api/v1/keys",
            &user.key,
            Some(json!({"name": "frontend", "scope": "mock"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["api_key"].as_str().unwrap().to_owned();
    let key_id = created["key"]["id"].as_str().unwrap().to_owned();
    let made = Instant::now();
    while status_of(call(&key)).await != StatusCode::OK {
        assert!(
            made.elapsed() < Duration::from_secs(1),
            "B refuses the new key"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (status, _) = a
        .api(
            Method::DELETE,
            &format!("/api/v1/keys/{key_id}"),
            &user.key,
            None,
        )
        .await;
    assert!(status.is_success(), "{status}");
    let revoked = Instant::now();
    while status_of(call(&key)).await != StatusCode::UNAUTHORIZED {
        assert!(
            revoked.elapsed() < Duration::from_secs(1),
            "B still takes the revoked key"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        status_of(call(&user.key)).await,
        StatusCode::OK,
        "the other key lives on"
    );
}

#[tokio::test]
async fn a_private_mock_answers_only_live_keys_of_its_workspace() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let owner = server.sign_up("owner@example.com").await;
    let stranger = server.sign_up("stranger@example.com").await;
    let mock = server
        .create_mock(
            &owner.key,
            json!({"name": "private", "private": true}),
            &[example("a", "GET", "/a")],
        )
        .await;
    let (status, created) = server
        .api(
            Method::POST,
            "/api/v1/keys",
            &owner.key,
            Some(json!({"name": "frontend", "scope": "mock"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let mock_key = created["api_key"].as_str().unwrap().to_owned();
    let mock_key_id = created["key"]["id"].as_str().unwrap().to_owned();

    let call = |key: Option<&str>| {
        let request = server.by_host(Method::GET, &mock, "/a");
        match key {
            Some(key) => request.header("x-api-key", key),
            None => request,
        }
    };
    let forged = format!("lb_{}", "x".repeat(40));
    for (key, why) in [
        (None, "no key"),
        (Some(forged.as_str()), "a key that does not exist"),
        (Some(stranger.key.as_str()), "another workspace's key"),
    ] {
        let (status, body) = json_of(call(key).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}: {body}");
        assert_eq!(body["error"]["code"], "invalid_credentials", "{body}");
        assert_eq!(body["error"]["name"], "invalidCredentialsError");
    }
    assert_eq!(
        status_of(call(Some(&owner.key))).await,
        StatusCode::OK,
        "admin key"
    );
    assert_eq!(
        status_of(call(Some(&mock_key))).await,
        StatusCode::OK,
        "mock key"
    );

    // Every call is in the call log, refusals included; the last names the mock key.
    let calls_path = format!("/api/v1/mocks/{mock}/calls");
    let calls = server.logged_calls(&owner.key, &mock, 5).await;
    let outcomes: Vec<&str> = calls
        .iter()
        .map(|c| c["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["matched", "matched", "refused", "refused", "refused"]
    );
    let newest = calls[0]["id"].as_str().unwrap();
    let (_, detail) = server
        .api(
            Method::GET,
            &format!("{calls_path}/{newest}"),
            &owner.key,
            None,
        )
        .await;
    assert_eq!(detail["key_id"], mock_key_id.as_str(), "{detail}");

    // The mock key's use is recorded, off the request path.
    let used = Instant::now();
    loop {
        let (_, keys) = server
            .api(Method::GET, "/api/v1/keys", &owner.key, None)
            .await;
        let key = keys
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == mock_key_id.as_str())
            .unwrap();
        if !key["last_used_at"].is_null() {
            break;
        }
        assert!(
            used.elapsed() < Duration::from_secs(5),
            "last_used_at never written"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (status, _) = server
        .api(
            Method::DELETE,
            &format!("/api/v1/keys/{mock_key_id}"),
            &owner.key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        status_of(call(Some(&mock_key))).await,
        StatusCode::UNAUTHORIZED,
        "a revoked key is refused on the very next call"
    );
}

/// Sets the quota through the CLI, as an operator does.
fn set_quota(db: &TestDatabase, workspace: &str, quota: u64) {
    let output = lyrebird()
        .args(["workspace", "set-quota", workspace, &quota.to_string()])
        .env("DATABASE_URL", db.url())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(said.contains(&format!("set to {quota}")), "{said}");
}

#[tokio::test]
async fn one_process_admits_exactly_the_quota_then_answers_429_with_the_monthly_limit() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[("LYREBIRD_MONTHLY_QUOTA", "5")]);
    let user = server.sign_up("quota@example.com").await;
    let mock = server
        .create_mock(
            &user.key,
            json!({"name": "quota"}),
            &[example("a", "GET", "/a")],
        )
        .await;

    for remaining in (0..5).rev() {
        let response = server
            .by_path(Method::GET, &mock, "/a")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "ratelimit-limit"), "5");
        assert_eq!(
            header(&response, "ratelimit-remaining"),
            remaining.to_string()
        );
        let reset: u64 = header(&response, "ratelimit-reset").parse().unwrap();
        assert!(reset > 0 && reset <= 31 * 24 * 3600, "{reset}");
    }
    let refused = server
        .by_path(Method::GET, &mock, "/a")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&refused, "ratelimit-remaining"), "0");
    assert!(refused.headers().contains_key("retry-after"));
    let (status, body) = json_of(refused).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let error = &body["error"];
    assert_eq!(error["code"], "monthly_quota_exceeded", "{body}");
    assert!(error["message"].as_str().unwrap().contains("monthly quota"));
    assert_eq!(
        (error["limit"].as_u64(), error["used"].as_u64()),
        (Some(5), Some(5))
    );
    let resets_at = error["resets_at"].as_str().unwrap();
    assert!(resets_at.ends_with("-01T00:00:00Z"), "{resets_at}");

    let (status, usage) = server
        .api(Method::GET, "/api/v1/usage", &user.key, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (usage["calls"].as_u64(), usage["quota"].as_u64()),
        (Some(5), Some(5)),
        "{usage}"
    );
    assert_eq!(usage["resets_at"], resets_at);
    let month = usage["month"].as_str().unwrap();
    assert!(resets_at > month, "{month} resets at {resets_at}");

    // The operator raises the quota; the running server applies it without a restart.
    set_quota(&db, "quota@example.com", 7);
    let raised = Instant::now();
    while status_of(server.by_path(Method::GET, &mock, "/a")).await != StatusCode::OK {
        assert!(
            raised.elapsed() < Duration::from_secs(5),
            "the new quota never applied"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        status_of(server.by_path(Method::GET, &mock, "/a")).await,
        StatusCode::OK
    );
    assert_eq!(
        status_of(server.by_path(Method::GET, &mock, "/a")).await,
        StatusCode::TOO_MANY_REQUESTS,
        "7 calls in all"
    );
    let (_, usage) = server
        .api(Method::GET, "/api/v1/usage", &user.key, None)
        .await;
    assert_eq!(
        (usage["calls"].as_u64(), usage["quota"].as_u64()),
        (Some(7), Some(7)),
        "{usage}"
    );
}

#[tokio::test]
async fn refused_calls_do_not_count_against_the_quota() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("refused@example.com").await;
    set_quota(&db, &user.workspace, 2);
    let mock = server
        .create_mock(
            &user.key,
            json!({"name": "p", "private": true}),
            &[example("a", "GET", "/a")],
        )
        .await;
    for _ in 0..5 {
        assert_eq!(
            status_of(server.by_path(Method::GET, &mock, "/a")).await,
            StatusCode::UNAUTHORIZED
        );
    }
    let with_key = || {
        server
            .by_path(Method::GET, &mock, "/a")
            .header("x-api-key", &user.key)
    };
    assert_eq!(status_of(with_key()).await, StatusCode::OK);
    assert_eq!(status_of(with_key()).await, StatusCode::OK);
    assert_eq!(status_of(with_key()).await, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn two_processes_together_admit_no_more_than_the_quota() {
    const QUOTA: usize = 1000;
    const CALLS: usize = 5000;
    const LEASE: usize = 100;
    let db = TestDatabase::new().await;
    let envs = [
        ("LYREBIRD_MONTHLY_QUOTA", "1000"),
        ("LYREBIRD_QUOTA_LEASE", "100"),
    ];
    let a = Server::start(&db, &envs);
    let b = Server::start(&db, &envs);
    let user = a.sign_up("pooled@example.com").await;
    let mock = a
        .create_mock(
            &user.key,
            json!({"name": "pooled"}),
            &[example("a", "GET", "/a")],
        )
        .await;

    let (a, b) = (std::sync::Arc::new(a), std::sync::Arc::new(b));
    let mut workers = Vec::new();
    for worker in 0..20 {
        let server = std::sync::Arc::clone(if worker % 2 == 0 { &a } else { &b });
        let mock = mock.clone();
        workers.push(tokio::spawn(async move {
            let mut answered = 0;
            for _ in 0..CALLS / 20 {
                match status_of(server.by_path(Method::GET, &mock, "/a")).await {
                    StatusCode::OK => answered += 1,
                    StatusCode::TOO_MANY_REQUESTS => {}
                    other => panic!("unexpected {other}"),
                }
            }
            answered
        }));
    }
    let mut answered = 0;
    for worker in workers {
        answered += worker.await.unwrap();
    }
    eprintln!("two processes answered {answered} of {CALLS} calls, quota {QUOTA}");
    assert!(
        answered <= QUOTA,
        "{answered} calls admitted over a quota of {QUOTA}"
    );
    assert!(
        answered >= QUOTA - 2 * LEASE,
        "only {answered} calls admitted of a quota of {QUOTA}"
    );

    // Stopped gracefully, both write what they served: usage agrees with the answers.
    let (a, b) = (
        std::sync::Arc::into_inner(a).unwrap(),
        std::sync::Arc::into_inner(b).unwrap(),
    );
    assert!(a.interrupt().success());
    assert!(b.interrupt().success());
    let c = Server::start(&db, &envs);
    let (_, usage) = c.api(Method::GET, "/api/v1/usage", &user.key, None).await;
    assert_eq!(usage["calls"].as_u64(), Some(answered as u64), "{usage}");
}

#[tokio::test]
async fn delays_sleep_on_the_timer_so_concurrent_delayed_calls_finish_together() {
    let db = TestDatabase::new().await;
    let server = std::sync::Arc::new(Server::start(&db, &[]));
    let user = server.sign_up("slow@example.com").await;
    let slow = json!({
        "name": "slow",
        "request": {"method": "GET", "path": "/slow"},
        "response": {"status": 200, "body": "late", "delay_ms": 200}
    });
    let mock = server
        .create_mock(&user.key, json!({"name": "slow", "delay": 300}), &[slow])
        .await;
    // Warm up the cache and the quota lease, so the calls below only wait for their delay.
    assert_eq!(
        status_of(server.by_path(Method::GET, &mock, "/slow")).await,
        StatusCode::OK
    );

    let started = Instant::now();
    let calls: Vec<_> = (0..100)
        .map(|_| {
            let server = std::sync::Arc::clone(&server);
            let mock = mock.clone();
            tokio::spawn(async move {
                let sent = Instant::now();
                let status = status_of(server.by_path(Method::GET, &mock, "/slow")).await;
                (status, sent.elapsed())
            })
        })
        .collect();
    for call in calls {
        let (status, took) = call.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert!(
            took >= Duration::from_millis(500),
            "answered after {took:?}, before its delay"
        );
    }
    let all = started.elapsed();
    eprintln!("100 concurrent calls with 500 ms of delay each took {all:?}");
    assert!(
        all < Duration::from_secs(5),
        "100 delayed calls took {all:?}: delays block"
    );
}

#[tokio::test]
async fn browsers_preflights_are_answered_and_every_response_allows_the_origin() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("cors@example.com").await;
    let own_options = json!({
        "name": "own options",
        "request": {"method": "OPTIONS", "path": "/own"},
        "response": {"status": 200, "body": "my own OPTIONS"}
    });
    let mock = server
        .create_mock(
            &user.key,
            json!({"name": "cors", "private": true}),
            &[example("a", "PUT", "/a"), own_options],
        )
        .await;
    let origin = "http://app.example:3000";

    // A browser's preflight carries no key, even for a private mock.
    let preflight = server
        .by_host(Method::OPTIONS, &mock, "/a")
        .header("origin", origin)
        .header("access-control-request-method", "PUT")
        .header("access-control-request-headers", "content-type, x-api-key")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&preflight, "access-control-allow-origin"), origin);
    assert_eq!(
        header(&preflight, "access-control-allow-credentials"),
        "true"
    );
    assert!(header(&preflight, "access-control-allow-methods").contains("PUT"));
    assert_eq!(
        header(&preflight, "access-control-allow-headers"),
        "content-type, x-api-key"
    );
    assert!(preflight.headers().contains_key("access-control-max-age"));

    // An example that answers OPTIONS itself keeps answering it.
    let own = server
        .by_host(Method::OPTIONS, &mock, "/own")
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .header("x-api-key", &user.key);
    assert_eq!(
        text(own).await,
        (StatusCode::OK, "my own OPTIONS".to_owned())
    );

    // The call itself, and a refusal, both readable by the page.
    for (key, status) in [
        (Some(user.key.as_str()), StatusCode::OK),
        (None, StatusCode::UNAUTHORIZED),
    ] {
        let mut request = server
            .by_host(Method::PUT, &mock, "/a")
            .header("origin", origin);
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status);
        assert_eq!(header(&response, "access-control-allow-origin"), origin);
        assert_eq!(
            header(&response, "access-control-allow-credentials"),
            "true"
        );
        let exposed = header(&response, "access-control-expose-headers").to_ascii_lowercase();
        assert!(exposed.contains("content-type"), "{exposed}");
        if status == StatusCode::OK {
            assert!(exposed.contains("ratelimit-remaining"), "{exposed}");
        }
    }

    // The preflight is in the call log with the rest; only the two answered calls count.
    let calls = server.logged_calls(&user.key, &mock, 4).await;
    let logged: Vec<(&str, &str, u64)> = calls
        .iter()
        .map(|c| {
            let method = c["method"].as_str().unwrap();
            (
                method,
                c["outcome"].as_str().unwrap(),
                c["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        logged,
        [
            ("PUT", "refused", 401),
            ("PUT", "matched", 200),
            ("OPTIONS", "matched", 200),
            ("OPTIONS", "preflight", 204),
        ]
    );
    let (_, usage) = server
        .api(Method::GET, "/api/v1/usage", &user.key, None)
        .await;
    assert_eq!(usage["calls"], 2, "{usage}");
}

#[tokio::test]
async fn without_a_match_the_404_explains_unless_a_fallback_answers() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("nomatch@example.com").await;
    let mock = server
        .create_mock(
            &user.key,
            json!({"name": "nomatch"}),
            &[example("list users", "GET", "/users")],
        )
        .await;

    let (status, body) = json_of(
        server
            .by_path(Method::POST, &mock, "/users")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "no_match", "{body}");
    assert_eq!(body["error"]["name"], "mockRequestNotFoundError");
    assert_eq!(body["error"]["header"], "No matching requests");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("list users") && message.contains("method"),
        "{message}"
    );
    let nearest = &body["explanation"]["near_misses"][0];
    assert_eq!(nearest["name"], "list users", "{body}");
    assert_eq!(nearest["failed"]["condition"], "method", "{body}");

    let fallback = json!({"fallback": {"status": 418, "body": {"fallback": true}}});
    let (status, _) = server
        .api(
            Method::PATCH,
            &format!("/api/v1/mocks/{mock}"),
            &user.key,
            Some(fallback),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = json_of(
        server
            .by_path(Method::POST, &mock, "/users")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::IM_A_TEAPOT, json!({"fallback": true}))
    );
}

#[tokio::test]
async fn a_mock_call_body_over_the_limit_is_a_413_in_our_error_shape() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[("LYREBIRD_MOCK_MAX_BODY_BYTES", "1024")]);
    let user = server.sign_up("big@example.com").await;
    let mock = server
        .create_mock(&user.key, json!({"name": "big"}), &[echo_example()])
        .await;
    let small = server
        .by_path(Method::POST, &mock, "/")
        .body(vec![b'x'; 1024]);
    assert_eq!(status_of(small).await, StatusCode::OK);
    let large = server
        .by_path(Method::POST, &mock, "/")
        .body(vec![b'x'; 1025]);
    let (status, body) = json_of(large.send().await.unwrap()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["code"], "payload_too_large", "{body}");
}

#[tokio::test]
async fn a_mock_never_sees_the_apps_cookies_and_by_path_it_cannot_set_any_or_run_scripts() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("cookies@example.com").await;
    let thief = json!({
        "name": "thief",
        "request": {"method": "GET", "path": "/x"},
        "response": {
            "status": 200,
            "headers": [
                {"name": "Content-Type", "value": "text/html"},
                {"name": "Set-Cookie", "value": "lyrebird_session=planted; Path=/"},
                {"name": "Set-Cookie", "value": "wide=1; Path=/; Domain=localhost"},
                {"name": "Set-Cookie", "value": "own=1; Path=/"}
            ],
            "body": "session=[{{ request.cookies.lyrebird_session | default('none') }}] csrf=[{{ request.cookies.lyrebird_csrf | default('none') }}] theme=[{{ request.cookies.theme | default('none') }}]",
            "template": true
        }
    });
    let mock = server
        .create_mock(&user.key, json!({"name": "thief"}), &[thief])
        .await;
    let cookie = "lyrebird_session=victim-secret; theme=dark; lyrebird_csrf=token";
    let expected = "session=[none] csrf=[none] theme=[dark]";

    let by_path = server
        .by_path(Method::GET, &mock, "/x")
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(header(&by_path, "content-security-policy"), "sandbox");
    assert_eq!(header(&by_path, "x-content-type-options"), "nosniff");
    assert!(by_path.headers().get("set-cookie").is_none());
    assert_eq!(by_path.text().await.unwrap(), expected);

    let by_host = server
        .by_host(Method::GET, &mock, "/x")
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let set: Vec<&str> = by_host
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap())
        .collect();
    assert_eq!(set, ["lyrebird_session=planted; Path=/", "own=1; Path=/"]);
    assert!(by_host.headers().get("content-security-policy").is_none());
    assert_eq!(by_host.text().await.unwrap(), expected);

    // Nor does the call log keep the session.
    let calls_path = format!("/api/v1/mocks/{mock}/calls");
    let logged = Instant::now();
    let calls = loop {
        let (_, page) = server.api(Method::GET, &calls_path, &user.key, None).await;
        let calls = page["calls"].as_array().cloned().unwrap_or_default();
        if calls.len() == 2 {
            break calls;
        }
        assert!(
            logged.elapsed() < Duration::from_secs(5),
            "calls never logged: {page}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for call in calls {
        let id = call["id"].as_str().unwrap();
        let (_, detail) = server
            .api(Method::GET, &format!("{calls_path}/{id}"), &user.key, None)
            .await;
        assert!(!detail.to_string().contains("victim-secret"), "{detail}");
    }
}

#[tokio::test]
async fn sign_ups_from_one_address_are_throttled() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    // The log-in throttle's per-address allowance.
    for i in 0..20 {
        server.sign_up(&format!("user{i}@example.com")).await;
    }
    let response = server
        .client
        .post(server.url("/api/v1/accounts"))
        .json(&json!({"email": "one-more@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(header(&response, "retry-after").parse::<u64>().unwrap() > 0);
    let (_, body) = json_of(response).await;
    assert_eq!(body["error"]["code"], "too_many_attempts", "{body}");
}

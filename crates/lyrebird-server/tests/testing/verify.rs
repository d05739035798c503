//! The verification API: counts exact right after a burst, near misses explained, order,
//! unmatched calls, one test run's state key, and bad checks refused by field.

use lyrebird_store::testing::TestDatabase;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::burst;
use crate::support::{Server, User};

async fn verify(
    server: &Server,
    user: &User,
    mock: &str,
    kind: &str,
    check: Value,
) -> (StatusCode, Value) {
    let path = format!("/api/v1/mocks/{mock}/verify{kind}");
    server
        .api(Method::POST, &path, &user.key, Some(check))
        .await
}

fn orders() -> Vec<Value> {
    vec![
        json!({"name": "list", "request": {"method": "GET", "path": "/orders"}, "response": {"body": []}}),
        json!({"name": "create", "request": {"method": "POST", "path": "/orders"}, "response": {"status": 201}}),
    ]
}

#[tokio::test]
async fn counts_are_exact_right_after_a_burst_and_misses_are_explained() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("verify@example.com").await;
    let mock = server
        .create_mock(&user.key, json!({"name": "orders"}), &orders())
        .await;

    let statuses = burst(&server, &mock, "/orders?page=2", 1_000, 32).await;
    assert!(statuses.iter().all(|status| *status == StatusCode::OK));
    // At once: the check waits for the log to have written every call answered before it.
    let (status, verdict) = verify(
        &server,
        &user,
        &mock,
        "",
        json!({
            "request": {"method": "GET", "path": "/orders", "query": {"page": "2"}}, "count": 1000
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{verdict}");
    assert_eq!(verdict["held"], true, "{verdict}");
    assert_eq!(verdict["matched"], 1000);
    assert_eq!(verdict["calls"].as_array().unwrap().len(), 100);
    assert_eq!(verdict["near_misses"], json!([]));

    // A pattern that does not hold: the nearest calls and the condition each failed.
    let (_, verdict) = verify(
        &server,
        &user,
        &mock,
        "",
        json!({
            "request": {"method": "GET", "path": "/orders", "query": {"page": "1"}}
        }),
    )
    .await;
    assert_eq!(verdict["held"], false);
    assert_eq!(
        verdict["message"],
        "0 calls fit the pattern; expected at least 1"
    );
    let nearest = &verdict["near_misses"][0];
    assert_eq!(nearest["call"]["query"], "page=2");
    assert_eq!(
        nearest["failed"],
        json!(["query parameter \"page\" should be \"1\", got \"2\""])
    );
    assert_eq!(verdict["near_misses"].as_array().unwrap().len(), 5);

    let (_, verdict) = verify(
        &server,
        &user,
        &mock,
        "",
        json!({
            "request": {"path": "/orders"}, "at_least": 10, "at_most": 999
        }),
    )
    .await;
    assert_eq!(verdict["held"], false);
    assert_eq!(
        verdict["message"],
        "1000 calls fit the pattern; expected 10 to 999"
    );
}

#[tokio::test]
async fn order_unmatched_and_one_runs_state_key() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("order@example.com").await;
    let mock = server
        .create_mock(&user.key, json!({"name": "orders"}), &orders())
        .await;
    let since = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let send = |method: Method, path: &'static str, run: &'static str| {
        server
            .by_path(method, &mock, path)
            .header("x-lyrebird-state", run)
            .send()
    };
    send(Method::GET, "/orders", "run-1").await.unwrap();
    send(Method::POST, "/orders", "run-1").await.unwrap();
    send(Method::GET, "/missing", "run-1").await.unwrap();
    send(Method::POST, "/orders", "run-2").await.unwrap();
    send(Method::GET, "/orders", "run-2").await.unwrap();

    let list = json!({"method": "GET", "path": "/orders"});
    let create = json!({"method": "POST", "path": "/orders"});
    let (_, verdict) = verify(
        &server,
        &user,
        &mock,
        "/order",
        json!({
            "requests": [list, create], "state": "run-1", "since": since
        }),
    )
    .await;
    assert_eq!(verdict["held"], true, "{verdict}");
    assert_eq!(verdict["calls"].as_array().unwrap().len(), 2);
    let (_, verdict) = verify(
        &server,
        &user,
        &mock,
        "/order",
        json!({
            "requests": [list, create], "state": "run-2"
        }),
    )
    .await;
    assert_eq!(verdict["held"], false);
    assert_eq!(verdict["failed_at"], 1);
    assert!(
        verdict["message"]
            .as_str()
            .unwrap()
            .starts_with("no call fitting pattern 1 (POST /orders) came after")
    );

    let unmatched = |run: &str| {
        let check = json!({"state": run});
        verify(&server, &user, &mock, "/unmatched", check)
    };
    let (_, run_1) = unmatched("run-1").await;
    assert_eq!(run_1["count"], 1);
    assert_eq!(run_1["calls"][0]["path"], "/missing");
    assert_eq!(unmatched("run-2").await.1["count"], 0);
    let (_, counted) = verify(
        &server,
        &user,
        &mock,
        "",
        json!({"request": create, "count": 1, "state": "run-2"}),
    )
    .await;
    assert_eq!(counted["held"], true, "{counted}");
}

#[tokio::test]
async fn bad_checks_are_refused_with_the_field_at_fault() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("refuse@example.com").await;
    let mock = server
        .create_mock(&user.key, json!({"name": "m"}), &orders())
        .await;
    for (kind, check, field) in [
        ("", json!({"request": {"methd": "GET"}}), "request.methd"),
        ("", json!({"request": {"path": "/a/*/b"}}), "request.path"),
        (
            "",
            json!({"request": {"query": {"page": {"matches": "("}}}}),
            "request.query.page",
        ),
        (
            "",
            json!({"request": {}, "count": 1, "at_least": 1}),
            "count",
        ),
        (
            "",
            json!({"request": {}, "at_least": 3, "at_most": 1}),
            "at_least",
        ),
        ("", json!({"request": {}, "since": "yesterday"}), "since"),
        ("", json!({"request": {}, "state": "a b"}), "state"),
        ("/order", json!({"requests": []}), "requests"),
        (
            "/order",
            json!({"requests": [{}, {"expression": "1 +"}]}),
            "requests[1].expression",
        ),
        (
            "/unmatched",
            json!({"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}),
            "until",
        ),
    ] {
        let (status, refused) = verify(&server, &user, &mock, kind, check).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert_eq!(refused["error"]["field"], field, "{refused}");
    }
    // Another workspace's mock is not found.
    let other = server.sign_up("other@example.com").await;
    let (status, _) = verify(&server, &other, &mock, "/unmatched", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

//! The simulated rate limit: its 429s and headers, clients apart, and two processes.

use lyrebird_store::testing::TestDatabase;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{Server, json_of};

/// A window long enough that a test never crosses its end, unless it starts right before it.
const WINDOW_S: u64 = 3_600;

/// Waits, if the current window ends within a minute, for the next one to start.
async fn away_from_a_window_end() {
    let now = time::OffsetDateTime::now_utc()
        .unix_timestamp()
        .unsigned_abs();
    let left = WINDOW_S - now % WINDOW_S;
    if left < 60 {
        tokio::time::sleep(std::time::Duration::from_secs(left + 1)).await;
    }
}

fn limited(limit: u32) -> serde_json::Value {
    json!({"name": "limited",
           "rate_limit": {"limit": limit, "window_s": WINDOW_S, "by": "header", "header": "x-client"}})
}

fn any() -> serde_json::Value {
    json!({"name": "any", "request": {"path": "/*"}, "response": {"body": {"ok": true}}})
}

async fn call(server: &Server, mock: &str, client: &str) -> reqwest::Response {
    server
        .by_path(Method::GET, mock, "/items")
        .header("x-client", client)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_client_gets_its_limit_then_429s_that_say_when_to_come_back() {
    away_from_a_window_end().await;
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("limits@example.com").await;
    let mock = server.create_mock(&user.key, limited(3), &[any()]).await;

    for remaining in [2, 1, 0] {
        let allowed = call(&server, &mock, "a").await;
        assert_eq!(allowed.status(), StatusCode::OK);
        assert_eq!(allowed.headers()["ratelimit-limit"], "3");
        assert_eq!(
            allowed.headers()["ratelimit-remaining"],
            remaining.to_string()
        );
        assert_eq!(
            allowed.headers()["ratelimit-policy"],
            format!("3;w={WINDOW_S}")
        );
    }
    let refused = call(&server, &mock, "a").await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let reset: u64 = refused.headers()["ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        retry > 0 && retry <= WINDOW_S && retry == reset,
        "{retry} {reset}"
    );
    let (_, body) = json_of(refused).await;
    assert_eq!(body["error"]["code"], "rate_limited");
    // Another client counts alone.
    assert_eq!(call(&server, &mock, "b").await.status(), StatusCode::OK);

    let calls = server.logged_calls(&user.key, &mock, 5).await;
    let path = format!(
        "/api/v1/mocks/{mock}/calls/{}",
        calls[1]["id"].as_str().unwrap()
    );
    let (_, detail) = server.api(Method::GET, &path, &user.key, None).await;
    assert_eq!(detail["explanation"]["reason"], "rate_limited");
    assert_eq!(
        detail["explanation"]["rate_limit"],
        json!({"client": "a", "limit": 3, "window_s": WINDOW_S})
    );
    // Saving the mock starts the count again.
    let settings = format!("/api/v1/mocks/{mock}");
    server
        .api(
            Method::PATCH,
            &settings,
            &user.key,
            Some(json!({"name": "renamed"})),
        )
        .await;
    assert_eq!(call(&server, &mock, "a").await.status(), StatusCode::OK);
}

/// Each process counts its own calls: behind a balancer of two, a client is admitted at most
/// twice the limit in a window (docs/testing-with-lyrebird.md, "Rate limits").
#[tokio::test]
async fn two_processes_admit_at_most_their_number_times_the_limit() {
    away_from_a_window_end().await;
    let db = TestDatabase::new().await;
    let first = Server::start(&db, &[]);
    let second = Server::start(&db, &[]);
    let user = first.sign_up("two@example.com").await;
    let mock = first.create_mock(&user.key, limited(5), &[any()]).await;
    let mut admitted = 0;
    for round in 0..20 {
        let server = if round % 2 == 0 { &first } else { &second };
        if call(server, &mock, "a").await.status() == StatusCode::OK {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 10, "5 in each process");
}

/// A limit by a header that carries secrets logs only the end of the client's value.
#[tokio::test]
async fn a_secret_header_as_the_client_is_not_logged() {
    away_from_a_window_end().await;
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("secret@example.com").await;
    let settings = json!({"name": "by token",
        "rate_limit": {"limit": 1, "window_s": WINDOW_S, "by": "header", "header": "authorization"}});
    let mock = server.create_mock(&user.key, settings, &[any()]).await;
    for expected in [StatusCode::OK, StatusCode::TOO_MANY_REQUESTS] {
        let answer = server
            .by_path(Method::GET, &mock, "/items")
            .header("authorization", "Bearer s3cret-token-abcd")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), expected);
    }
    let calls = server.logged_calls(&user.key, &mock, 2).await;
    let path = format!(
        "/api/v1/mocks/{mock}/calls/{}",
        calls[0]["id"].as_str().unwrap()
    );
    let (_, detail) = server.api(Method::GET, &path, &user.key, None).await;
    assert_eq!(
        detail["explanation"]["rate_limit"]["client"],
        "a value ending abcd"
    );
    assert!(!detail.to_string().contains("s3cret"), "{detail}");
}

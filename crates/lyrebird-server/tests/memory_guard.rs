//! The memory guard, black-box: a `lyrebird serve` process holding more memory than its limit
//! refuses new requests with `503 memory_pressure` and `Retry-After`, says it is not ready, and
//! stays alive; with room, it answers as usual.

#[path = "support/binary.rs"]
mod support;

use lyrebird_store::testing::TestDatabase;
use reqwest::{Method, StatusCode};
use serde_json::json;
use support::{Server, example, json_of};

fn assert_pressed(status: StatusCode, retry_after: Option<&str>, body: &serde_json::Value) {
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "memory_pressure", "{body}");
    assert_eq!(retry_after, Some("1"), "{body}");
}

async fn refused(request: reqwest::RequestBuilder) {
    let response = request.send().await.unwrap();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|value| value.to_str().unwrap().to_owned());
    let (status, body) = json_of(response).await;
    assert_pressed(status, retry_after.as_deref(), &body);
}

#[tokio::test]
async fn a_server_over_its_memory_limit_refuses_new_requests_and_stays_alive() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("memory@example.com").await;
    let mock = server
        .create_mock(
            &user.key,
            json!({"name": "guarded"}),
            &[example("a", "GET", "/a")],
        )
        .await;
    let answered = server.by_path(Method::GET, &mock, "/a").send().await;
    assert_eq!(answered.unwrap().status(), StatusCode::OK);
    assert!(server.interrupt().success());

    // Every process holds more than one MiB.
    let server = Server::start(&db, &[("LYREBIRD_MEMORY_LIMIT_BYTES", "1048576")]);
    refused(server.by_path(Method::GET, &mock, "/a")).await;
    refused(server.by_host(Method::GET, &mock, "/a")).await;
    refused(
        server
            .client
            .get(server.url("/api/v1/mocks"))
            .bearer_auth(&user.key),
    )
    .await;
    refused(server.client.get(server.url("/readyz"))).await;
    let alive = server.client.get(server.url("/healthz")).send().await;
    assert_eq!(alive.unwrap().status(), StatusCode::OK, "liveness stays up");
}

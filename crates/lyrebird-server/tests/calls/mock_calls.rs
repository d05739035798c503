//! Real mock calls in the log: outcome, explanation and redaction, a large body, refused calls of
//! a private mock, and the live tail of mock calls.

use super::*;

#[tokio::test]
async fn mock_calls_are_logged_with_their_outcome_explanation_and_secrets_redacted() {
    let app = TestApp::start().await;
    let tenant = app.tenant("ada@example.com").await;
    app.add_example(&tenant, hello_example()).await;

    let response = app
        .mock_request(&tenant, Method::GET, "/hello?lang=en")
        .header("authorization", "Bearer caller-secret")
        .header("cookie", "sid=cookie-secret; theme=dark")
        .header("x-trace", "trace-7")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .mock_request(&tenant, Method::DELETE, "/nope")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let calls = app.wait_for(&tenant, "", 2).await;
    assert_eq!(calls[0]["path"], "/nope");
    assert_eq!(calls[0]["outcome"], "no_match");
    assert_eq!(calls[0]["status"], 404);
    assert_eq!(calls[1]["path"], "/hello");
    assert_eq!(calls[1]["query"], "lang=en");
    assert_eq!(calls[1]["matched"], true);
    assert_eq!(calls[1]["example_name"], "hello");
    assert_eq!(calls[1]["client_addr"], "127.0.0.1");
    assert_eq!(
        app.paths(&tenant, "matched=false&method=DELETE").await,
        ["/nope"]
    );
    assert_eq!(app.paths(&tenant, "q=trace-7").await, ["/hello"]);
    assert_eq!(app.paths(&tenant, "q=lang%3Den").await, ["/hello"]);

    let detail_of = |call: &Value| {
        format!(
            "/api/v1/mocks/{}/calls/{}",
            tenant.mock,
            call["id"].as_str().unwrap()
        )
    };
    let (status, hello) = app.get(&detail_of(&calls[1]), &tenant.key).await;
    assert_eq!(status, StatusCode::OK);
    let text = hello.to_string();
    for secret in ["caller-secret", "cookie-secret", "server-secret"] {
        assert!(!text.contains(secret), "{secret} in {hello}");
    }
    let request_headers = hello["request"]["headers"].as_array().unwrap();
    assert!(request_headers.contains(&json!(["cookie", "sid=[redacted]; theme=[redacted]"])));
    assert!(request_headers.contains(&json!(["authorization", "[redacted]"])));
    let body: Value =
        serde_json::from_str(hello["response"]["body"]["text"].as_str().unwrap()).unwrap();
    assert_eq!(body, json!({"hello": "world"}));
    assert!(hello["explanation"].is_object(), "{hello}");

    let (_, nope) = app.get(&detail_of(&calls[0]), &tenant.key).await;
    let explained = nope["explanation"].to_string();
    assert!(
        explained.contains("hello"),
        "the closest example is named: {nope}"
    );
}

#[tokio::test]
async fn a_large_request_body_is_logged_up_to_the_cap_with_its_size() {
    let app = TestApp::start_with(CallLogOptions {
        flush_interval: Duration::from_millis(20),
        body_cap: 1000,
        ..CallLogOptions::default()
    })
    .await;
    let tenant = app.tenant("ada@example.com").await;
    let response = app
        .mock_request(&tenant, Method::POST, "/upload")
        .body("x".repeat(5000))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let calls = app.wait_for(&tenant, "", 1).await;
    let path = format!(
        "/api/v1/mocks/{}/calls/{}",
        tenant.mock,
        calls[0]["id"].as_str().unwrap()
    );
    let (_, detail) = app.get(&path, &tenant.key).await;
    let body = &detail["request"]["body"];
    assert_eq!(body["size"], 5000);
    assert_eq!(body["truncated"], true);
    assert_eq!(body["text"].as_str().unwrap().len(), 1000);
}

#[tokio::test]
async fn refused_calls_of_a_private_mock_are_logged_too() {
    let app = TestApp::start().await;
    let tenant = app.tenant("ada@example.com").await;
    let private = Tenant {
        mock: app
            .create_mock(&tenant.key, json!({"name": "private", "private": true}))
            .await,
        key: tenant.key.clone(),
        workspace: tenant.workspace,
    };
    let response = app
        .mock_request(&private, Method::GET, "/hello")
        .header("x-api-key", "lb_wrong_key")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let calls = app.wait_for(&private, "", 1).await;
    assert_eq!(calls[0]["outcome"], "refused");
    assert_eq!(calls[0]["status"], 401);
    let path = format!(
        "/api/v1/mocks/{}/calls/{}",
        private.mock,
        calls[0]["id"].as_str().unwrap()
    );
    let (_, detail) = app.get(&path, &private.key).await;
    assert!(!detail.to_string().contains("lb_wrong_key"), "{detail}");
}

#[tokio::test]
async fn the_live_tail_shows_a_mock_call_made_after_subscribing() {
    let app = TestApp::start().await;
    let tenant = app.tenant("ada@example.com").await;
    app.add_example(&tenant, hello_example()).await;
    let mut stream = app
        .client
        .get(format!(
            "{}/api/v1/mocks/{}/calls/stream",
            app.base, tenant.mock
        ))
        .bearer_auth(&tenant.key)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let response = app
        .mock_request(&tenant, Method::GET, "/hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut received = String::new();
    tokio::time::timeout(GUARD, async {
        while !received.contains("\"path\":\"/hello\"") {
            let chunk = stream.chunk().await.unwrap().expect("the stream ended");
            received.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .expect("the call did not arrive on the tail");
    assert!(received.contains("event: call"), "{received}");
}

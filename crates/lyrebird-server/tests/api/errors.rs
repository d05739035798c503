//! Bad requests get the one error shape with a fitting status.

use reqwest::{Method, StatusCode, header};
use serde_json::json;

use crate::support::{MAX_BODY_BYTES, TestApp, error_of, read};

#[tokio::test]
async fn malformed_json_is_a_400_that_says_where() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let response = app
        .client
        .post(format!("{}/api/v1/mocks", app.base))
        .bearer_auth(&user.key)
        .header(header::CONTENT_TYPE, "application/json")
        .body("{\n  \"name\": \"Orders\",\n  \"private\": tru,\n  \"delay\": 5\n}")
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    let error = error_of(status, &body, StatusCode::BAD_REQUEST, "malformed_json");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("line 3, column"),
        "{error}"
    );
}

#[tokio::test]
async fn a_body_over_the_limit_is_a_413() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let huge = json!({"name": "x".repeat(MAX_BODY_BYTES + 1)});
    let (status, body) = app.post("/api/v1/mocks", &user.key, huge).await;
    let error = error_of(
        status,
        &body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains(&MAX_BODY_BYTES.to_string())
    );
    let (_, mocks) = app.get("/api/v1/mocks", &user.key).await;
    assert_eq!(mocks, json!([]));
}

#[tokio::test]
async fn a_body_that_does_not_say_it_is_json_is_a_415() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let response = app
        .client
        .post(format!("{}/api/v1/mocks", app.base))
        .bearer_auth(&user.key)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("name=Orders")
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    error_of(
        status,
        &body,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
}

#[tokio::test]
async fn an_unknown_route_is_a_json_404() {
    let app = TestApp::start().await;
    let (status, body) = app.call(Method::GET, "/api/v1/nothing", None, None).await;
    error_of(status, &body, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn health_answers_and_readiness_checks_the_database() {
    let app = TestApp::start().await;
    let (status, body) = app.call(Method::GET, "/healthz", None, None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    let (status, body) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ready"})));
}

#[tokio::test]
async fn json_nested_past_the_parsers_limit_is_a_400_that_says_where() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let deep = format!(
        r#"{{"name": "a", "fallback": {{"body": {}{}}}}}"#,
        "[".repeat(1_000),
        "]".repeat(1_000)
    );
    let response = app
        .client
        .post(format!("{}/api/v1/mocks", app.base))
        .bearer_auth(&user.key)
        .header(header::CONTENT_TYPE, "application/json")
        .body(deep)
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    let error = error_of(status, &body, StatusCode::BAD_REQUEST, "malformed_json");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("recursion limit exceeded") && message.contains("line 1, column"),
        "{message}"
    );
    let (_, mocks) = app.get("/api/v1/mocks", &user.key).await;
    assert_eq!(mocks, json!([]));
}

#[tokio::test]
async fn yaml_nested_past_the_limit_is_refused_at_once_naming_the_line() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    // Within the tests' upload limit; the parser took seconds on this before the pre-scan.
    let brackets = (MAX_BODY_BYTES - 100) / 2;
    let deep = format!(
        "openapi: 3.0.3\na: {}{}\n",
        "[".repeat(brackets),
        "]".repeat(brackets)
    );
    let started = std::time::Instant::now();
    let response = app
        .client
        .post(format!("{}/api/v1/imports/openapi", app.base))
        .bearer_auth(&user.key)
        .body(deep)
        .send()
        .await
        .unwrap();
    let (status, body) = read(response).await;
    let error = error_of(status, &body, StatusCode::BAD_REQUEST, "invalid_file");
    assert_eq!(error["field"], "file");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .ends_with("YAML: nested deeper than 128 levels at line 2"),
        "{error}"
    );
    // A generous bound: the point is that it is not the parser's seconds.
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    let (_, mocks) = app.get("/api/v1/mocks", &user.key).await;
    assert_eq!(mocks, json!([]));
}

/// Sends `request` as it is over a new connection and reads the answer until the server closes.
async fn raw_exchange(app: &TestApp, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_string(&mut answer),
    )
    .await
    .expect("the server answers and closes")
    .unwrap();
    answer
}

#[tokio::test]
async fn a_request_with_two_host_headers_is_a_400_for_the_api_and_mocks_alike() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let mock = app.create_mock(&user.key, json!({"name": "Orders"})).await;
    let port = app.base.rsplit(':').next().unwrap();
    let mock_host = format!("{mock}.mock.lyrebird.test:{port}");
    for (path, hosts) in [
        ("/healthz", ["localhost", "lyrebird.test"]),
        ("/", [mock_host.as_str(), "lyrebird.test"]),
        ("/", ["lyrebird.test", mock_host.as_str()]),
        (&*format!("/m/{mock}/"), ["a.example", "b.example"]),
    ] {
        let answer = raw_exchange(
            &app,
            &format!(
                "GET {path} HTTP/1.1\r\nHost: {}\r\nHost: {}\r\n\r\n",
                hosts[0], hosts[1]
            ),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 400 "), "{path}: {answer}");
        assert!(answer.contains("\"code\":\"bad_request\""), "{answer}");
        assert!(answer.contains("more than one Host header"), "{answer}");
    }
    // One Host header is answered as ever.
    let answer = raw_exchange(
        &app,
        &format!("GET / HTTP/1.1\r\nHost: {mock_host}\r\nConnection: close\r\n\r\n"),
    )
    .await;
    assert!(!answer.starts_with("HTTP/1.1 400 "), "{answer}");
}

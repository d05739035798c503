//! API keys: creation, listing, revocation and scopes.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{TestApp, error_of};

#[tokio::test]
async fn a_created_key_is_shown_once_and_listed_by_its_prefix() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let (status, created) = app
        .post(
            "/api/v1/keys",
            &user.key,
            json!({"name": "ci", "scope": "admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let new_key = created["api_key"].as_str().unwrap();
    assert_eq!(created["key"]["prefix"], &new_key[..10]);

    let (status, keys) = app.get("/api/v1/keys", new_key).await;
    assert_eq!(status, StatusCode::OK, "the new key works");
    let names: Vec<&str> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["First key", "ci"]);
    assert!(keys[1]["last_used_at"].is_string(), "use is recorded");
}

#[tokio::test]
async fn a_revoked_key_is_refused_on_the_next_request() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let (_, created) = app
        .post(
            "/api/v1/keys",
            &user.key,
            json!({"name": "old", "scope": "admin"}),
        )
        .await;
    let old_key = created["api_key"].as_str().unwrap();
    let id = created["key"]["id"].as_str().unwrap();
    assert_eq!(app.get("/api/v1/mocks", old_key).await.0, StatusCode::OK);

    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/keys/{id}"),
            Some(&user.key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.get("/api/v1/mocks", old_key).await;
    error_of(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );

    let (_, keys) = app.get("/api/v1/keys", &user.key).await;
    assert!(keys[1]["revoked_at"].is_string(), "{keys}");
}

#[tokio::test]
async fn a_mock_scoped_key_is_forbidden_on_the_admin_api() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let (_, created) = app
        .post(
            "/api/v1/keys",
            &user.key,
            json!({"name": "frontend", "scope": "mock"}),
        )
        .await;
    let mock_key = created["api_key"].as_str().unwrap();
    for (method, path) in [
        (Method::GET, "/api/v1/mocks"),
        (Method::GET, "/api/v1/keys"),
        (Method::POST, "/api/v1/keys"),
    ] {
        let (status, body) = app
            .call(
                method,
                path,
                Some(mock_key),
                Some(json!({"name": "x", "scope": "admin"})),
            )
            .await;
        error_of(status, &body, StatusCode::FORBIDDEN, "admin_scope_required");
    }
}

#[tokio::test]
async fn missing_unknown_or_malformed_credentials_are_refused() {
    let app = TestApp::start().await;
    app.sign_up("ada@example.com").await;
    let (status, body) = app.call(Method::GET, "/api/v1/mocks", None, None).await;
    error_of(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );

    let unknown = format!("lb_{}", "x".repeat(40));
    let (status, body) = app.get("/api/v1/mocks", &unknown).await;
    error_of(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );

    let by_header = app
        .client
        .get(format!("{}/api/v1/mocks", app.base))
        .header("x-api-key", unknown)
        .send()
        .await
        .unwrap();
    assert_eq!(by_header.status(), StatusCode::UNAUTHORIZED);

    let basic = app
        .client
        .get(format!("{}/api/v1/mocks", app.base))
        .header("authorization", "Basic YWRhOnB3")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_x_api_key_header_works_like_a_bearer_token() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let response = app
        .client
        .get(format!("{}/api/v1/keys", app.base))
        .header("x-api-key", &user.key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_key_needs_a_name_and_a_known_scope() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    for (body, field) in [
        (json!({"name": " ", "scope": "admin"}), "name"),
        (json!({"name": "x", "scope": "root"}), "scope"),
        (json!({"name": "x"}), "scope"),
    ] {
        let (status, answer) = app.post("/api/v1/keys", &user.key, body).await;
        let error = error_of(
            status,
            &answer,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        );
        assert_eq!(error["field"], field);
    }
}

//! NUL (U+0000), which PostgreSQL cannot store in text or JSONB: every place a request can put
//! one answers 422 naming the field, and nothing is stored.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, error_of, example};

/// What the user can see of their workspace: mocks, the mock's examples, key names.
async fn snapshot(app: &TestApp, key: &str, mock: &str) -> (Value, Value, Vec<Value>) {
    let (_, keys) = app.get("/api/v1/keys", key).await;
    (
        app.get("/api/v1/mocks", key).await.1,
        app.get(&format!("/api/v1/mocks/{mock}/examples"), key)
            .await
            .1,
        keys.as_array()
            .unwrap()
            .iter()
            .map(|key| key["name"].clone())
            .collect(),
    )
}

/// An example whose request body rule and response body are given.
fn example_with(body_rule: Value, response_body: Value) -> Value {
    json!({
        "name": "nul",
        "request": {"method": "POST", "path": "/n", "body": body_rule},
        "response": {"status": 200, "body": response_body}
    })
}

/// A small OpenAPI description titled `title`.
fn openapi(title: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "openapi": "3.0.3",
        "info": {"title": title, "version": "1"},
        "paths": {"/pets": {"get": {"responses": {"200": {
            "description": "ok",
            "content": {"application/json": {"example": {"id": 1}}}
        }}}}}
    }))
    .unwrap()
}

#[tokio::test]
async fn a_nul_anywhere_is_a_422_naming_the_field_and_nothing_is_stored() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let mock = app.create_mock(&user.key, json!({"name": "Orders"})).await;
    app.add_example(&user.key, &mock, example("a", "/a")).await;
    let mock_path = format!("/api/v1/mocks/{mock}");
    let examples = format!("{mock_path}/examples");
    let nul = "a\u{0}b";
    let cases: Vec<(Method, &str, Value, &str)> = vec![
        (Method::POST, "/api/v1/mocks", json!({"name": nul}), "name"),
        (
            Method::PATCH,
            &mock_path,
            json!({"version_tag": nul}),
            "version_tag",
        ),
        (
            Method::PATCH,
            &mock_path,
            json!({"environment": {nul: "1"}}),
            "environment.a\\0b",
        ),
        (
            Method::PATCH,
            &mock_path,
            json!({"environment": {"TOKEN": nul}}),
            "environment.TOKEN",
        ),
        (
            Method::PATCH,
            &mock_path,
            json!({"match_headers": ["accept", nul]}),
            "match_headers[1]",
        ),
        (
            Method::PATCH,
            &mock_path,
            json!({"fallback": {"status": 404, "body": nul}}),
            "fallback.body",
        ),
        (Method::POST, &examples, example(nul, "/n"), "name"),
        (
            Method::POST,
            &examples,
            example_with(json!({"type": "none"}), json!(nul)),
            "response.body",
        ),
        (
            Method::POST,
            &examples,
            example_with(json!({"type": "json", "value": {"id": nul}}), json!("")),
            "request.body.value.id",
        ),
        (
            Method::PUT,
            &examples,
            json!([example("a", "/a"), example(nul, "/n")]),
            "[1].name",
        ),
        (
            Method::POST,
            "/api/v1/keys",
            json!({"name": nul, "scope": "mock"}),
            "name",
        ),
    ];
    let before = snapshot(&app, &user.key, &mock).await;
    for (method, path, body, field) in cases {
        let (status, answer) = app.call(method, path, Some(&user.key), Some(body)).await;
        let error = error_of(
            status,
            &answer,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        );
        assert_eq!(error["field"], field, "{path}: {answer}");
        assert!(
            error["message"].as_str().unwrap().contains("NUL"),
            "{answer}"
        );
    }

    let import = |query: &str, file: Vec<u8>| {
        app.client
            .post(format!("{}/api/v1/imports/openapi{query}", app.base))
            .bearer_auth(&user.key)
            .body(file)
            .send()
    };
    let (status, answer) =
        crate::support::read(import("?name=a%00b", openapi("Pets")).await.unwrap()).await;
    let error = error_of(
        status,
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );
    assert_eq!(error["field"], "name", "{answer}");
    let (status, answer) = crate::support::read(import("", openapi(nul)).await.unwrap()).await;
    let error = error_of(
        status,
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_document",
    );
    assert_eq!(error["field"], "file", "{answer}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.starts_with("info.title: ") && message.contains("NUL"),
        "{message}"
    );

    assert_eq!(
        before,
        snapshot(&app, &user.key, &mock).await,
        "nothing stored"
    );
    // The same requests without the NUL are accepted: the refusals were about it alone.
    let (status, answer) =
        crate::support::read(import("?name=Pets", openapi("Pets")).await.unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
}

#[tokio::test]
async fn text_that_only_looks_like_a_nul_escape_is_stored_as_written() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let mock = app
        .create_mock(&user.key, json!({"name": "back\\u0000slash"}))
        .await;
    let (_, stored) = app.get(&format!("/api/v1/mocks/{mock}"), &user.key).await;
    assert_eq!(stored["name"], "back\\u0000slash");
}

//! Every mock endpoint.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{TestApp, error_of};

#[tokio::test]
async fn a_new_mock_has_defaults_and_carries_both_of_its_urls() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let (status, mock) = app
        .post("/api/v1/mocks", &user.key, json!({"name": " Orders "}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{mock}");
    let id = mock["id"].as_str().unwrap();
    let port = app.base.rsplit(':').next().unwrap();
    assert_eq!(mock["name"], "Orders");
    assert_eq!(mock["private"], false);
    assert_eq!(mock["delay"], "none");
    assert_eq!(mock["environment"], json!({}));
    assert_eq!(mock["selection"], "rules");
    assert_eq!(mock["fallback"], json!(null));
    assert_eq!(
        mock["url"],
        format!("http://{id}.mock.lyrebird.test:{port}/")
    );
    assert_eq!(
        mock["path_url"],
        format!("http://lyrebird.test:{port}/m/{id}/")
    );
}

#[tokio::test]
async fn a_mock_is_listed_read_edited_field_by_field_and_deleted() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let id = app
        .create_mock(
            &user.key,
            json!({
                "name": "Orders",
                "private": true,
                "delay": "2g",
                "environment": {"region": "eu"},
                "version_tag": "v1",
                "fallback": {"status": 418, "body": "no example fits"},
                "selection": "postman",
                "match_headers": ["x-tenant"]
            }),
        )
        .await;
    let path = format!("/api/v1/mocks/{id}");

    let (status, list) = app.get("/api/v1/mocks", &user.key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], id.as_str());

    let (status, read) = app.get(&path, &user.key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["delay"], "2g");
    assert_eq!(read["fallback"]["status"], 418);
    assert_eq!(read["match_headers"], json!(["x-tenant"]));

    let (status, edited) = app
        .call(
            Method::PATCH,
            &path,
            Some(&user.key),
            Some(json!({"delay": 1500, "version_tag": null, "private": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["delay"], 1500);
    assert_eq!(edited["version_tag"], json!(null));
    assert_eq!(edited["private"], false);
    assert_eq!(
        edited["name"], "Orders",
        "fields left out stay as they were"
    );
    assert_eq!(edited["selection"], "postman");
    assert_eq!(edited["environment"], json!({"region": "eu"}));
    assert!(edited["updated_at"].as_str() >= read["updated_at"].as_str());

    let (status, _) = app.call(Method::DELETE, &path, Some(&user.key), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.get(&path, &user.key).await;
    error_of(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = app.call(Method::DELETE, &path, Some(&user.key), None).await;
    error_of(status, &body, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn bad_mock_settings_are_refused_naming_the_field() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    for (body, field) in [
        (json!({"private": true}), "name"),
        (json!({"name": ""}), "name"),
        (json!({"name": "x", "delay": 180_001}), "delay"),
        (json!({"name": "x", "delay": "4g"}), "delay"),
        (
            json!({"name": "x", "environment": {"a": 1}}),
            "environment.a",
        ),
        (json!({"name": "x", "selection": "random"}), "selection"),
        (
            json!({"name": "x", "fallback": {"status": "teapot"}}),
            "fallback.status",
        ),
        (json!({"name": "x", "privat": true}), "privat"),
    ] {
        let (status, answer) = app.post("/api/v1/mocks", &user.key, body.clone()).await;
        let error = error_of(
            status,
            &answer,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        );
        assert_eq!(error["field"], field, "{body}");
    }
}

#[tokio::test]
async fn a_fallback_with_a_broken_template_is_refused_with_its_position() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let (status, answer) = app
        .post(
            "/api/v1/mocks",
            &user.key,
            json!({"name": "x", "fallback": {"body": "{{ broken(", "template": true}}),
        )
        .await;
    let error = error_of(
        status,
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_example",
    );
    assert_eq!(error["field"], "fallback.body");
    assert!(error["line"].is_u64(), "{error}");
}

#[tokio::test]
async fn a_rejected_edit_changes_nothing() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let id = app.create_mock(&user.key, json!({"name": "Orders"})).await;
    let path = format!("/api/v1/mocks/{id}");
    let (status, _) = app
        .call(
            Method::PATCH,
            &path,
            Some(&user.key),
            Some(json!({"name": "Renamed", "version_tag": "x".repeat(101)})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, mock) = app.get(&path, &user.key).await;
    assert_eq!(mock["name"], "Orders");
}

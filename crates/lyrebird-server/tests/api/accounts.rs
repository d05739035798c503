//! Sign-up, login and logout.

use reqwest::{Method, StatusCode, header};
use serde_json::json;

use crate::support::{TestApp, error_of};

#[tokio::test]
async fn sign_up_creates_the_account_a_workspace_and_a_working_admin_key_shown_once() {
    let app = TestApp::start().await;
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/accounts",
            None,
            Some(json!({"email": "  Ada@Example.com ", "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["account"]["email"], "ada@example.com");
    assert_eq!(body["workspace"]["monthly_quota"], 1000);
    let key = body["api_key"].as_str().unwrap();
    assert!(key.starts_with("lb_") && key.len() == 43, "{key}");

    let (status, keys) = app.get("/api/v1/keys", key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(keys[0]["scope"], "admin");
    assert_eq!(keys[0]["prefix"], &key[..10]);
    assert!(
        !keys.to_string().contains(key),
        "listings never show the key"
    );
}

#[tokio::test]
async fn signing_up_twice_with_one_email_is_a_conflict() {
    let app = TestApp::start().await;
    app.sign_up("ada@example.com").await;
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/accounts",
            None,
            Some(json!({"email": "ADA@example.com", "password": "another password"})),
        )
        .await;
    let error = error_of(status, &body, StatusCode::CONFLICT, "email_taken");
    assert_eq!(error["field"], "email");
}

#[tokio::test]
async fn a_short_password_or_an_address_without_at_sign_is_refused_naming_the_field() {
    let app = TestApp::start().await;
    for (body, field) in [
        (
            json!({"email": "ada@example.com", "password": "short"}),
            "password",
        ),
        (
            json!({"email": "ada.example.com", "password": "long enough!"}),
            "email",
        ),
        (json!({"email": "ada@example.com"}), "password"),
    ] {
        let (status, answer) = app
            .call(Method::POST, "/api/v1/accounts", None, Some(body))
            .await;
        let error = error_of(
            status,
            &answer,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        );
        assert_eq!(error["field"], field);
    }
}

#[tokio::test]
async fn logging_in_sets_an_http_only_cookie_that_opens_the_api_until_logging_out() {
    let app = TestApp::start().await;
    app.sign_up("ada@example.com").await;
    let response = app
        .client
        .post(format!("{}/api/v1/sessions", app.base))
        .json(&json!({"email": "ada@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("lyrebird_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );

    // The client's cookie store now sends the session with every request.
    let (status, mocks) = app.call(Method::GET, "/api/v1/mocks", None, None).await;
    assert_eq!(status, StatusCode::OK, "{mocks}");

    let (status, _) = app
        .call(Method::DELETE, "/api/v1/sessions", None, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.call(Method::GET, "/api/v1/mocks", None, None).await;
    error_of(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
}

#[tokio::test]
async fn a_stale_session_cookie_is_refused_after_logout() {
    let app = TestApp::start().await;
    app.sign_up("ada@example.com").await;
    let response = app
        .client
        .post(format!("{}/api/v1/sessions", app.base))
        .json(&json!({"email": "ada@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
    let pair = cookie.split(';').next().unwrap().to_owned();
    app.call(Method::DELETE, "/api/v1/sessions", None, None)
        .await;

    // A copy of the cookie kept elsewhere no longer works either.
    let replay = reqwest::Client::new()
        .get(format!("{}/api/v1/mocks", app.base))
        .header(header::COOKIE, pair)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_wrong_password_is_refused_without_saying_which_part_was_wrong() {
    let app = TestApp::start().await;
    app.sign_up("ada@example.com").await;
    for credentials in [
        json!({"email": "ada@example.com", "password": "wrong password"}),
        json!({"email": "nobody@example.com", "password": "correct horse battery"}),
    ] {
        let (status, body) = app
            .call(Method::POST, "/api/v1/sessions", None, Some(credentials))
            .await;
        let error = error_of(
            status,
            &body,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        );
        assert_eq!(error["message"], "wrong email or password");
    }
}

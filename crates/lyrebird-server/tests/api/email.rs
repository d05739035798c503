//! The email flows of an account over the API and their links' pages, with mail delivered to
//! an SMTP server the test runs: changing the email (confirmed by link, or at once without
//! SMTP) and resetting a forgotten password.

use std::time::Duration;

use lyrebird_server::config::{MailArgs, SmtpUrl};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::invitations::Browser;
use crate::smtp::{Behaviour, SmtpSink};
use crate::support::{TestApp, error_of};

const PASSWORD: &str = "correct horse battery";

fn mail_to(sink: &SmtpSink) -> MailArgs {
    MailArgs {
        smtp_url: Some(SmtpUrl(sink.url.clone())),
        ..MailArgs::default()
    }
}

/// A browser without a session, following a mailed link: the page, then its form.
struct Visitor {
    client: reqwest::Client,
}

impl Visitor {
    fn new() -> Self {
        Self {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .build()
                .unwrap(),
        }
    }

    async fn get(&self, url: &str) -> (StatusCode, String) {
        let response = self.client.get(url).send().await.unwrap();
        (response.status(), response.text().await.unwrap())
    }

    /// Opens `url` and posts its form with `fields` (and the page's CSRF token).
    async fn submit(&self, url: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
        let (status, page) = self.get(url).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let marker = r#"name="csrf_token" value=""#;
        let start = page.find(marker).expect("a csrf_token field") + marker.len();
        let token = page[start..].split('"').next().unwrap().to_owned();
        let mut form = vec![("csrf_token", token.as_str())];
        form.extend_from_slice(fields);
        let response = self.client.post(url).form(&form).send().await.unwrap();
        (response.status(), response.text().await.unwrap())
    }
}

/// A mailed link (on the app's base host, `lyrebird.test:<port>`) as this test reaches it.
fn local(app: &TestApp, link: &str) -> String {
    let path = link.split_once("lyrebird.test:").unwrap().1;
    let path = &path[path.find('/').unwrap()..];
    format!("{}{path}", app.base)
}

async fn logs_in(app: &TestApp, email: &str, password: &str) -> bool {
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/sessions",
            None,
            Some(json!({"email": email, "password": password})),
        )
        .await;
    status == StatusCode::OK
}

#[tokio::test]
async fn a_new_email_is_confirmed_by_the_link_mailed_to_it() {
    let sink = SmtpSink::start(Behaviour::Accept).await;
    let app = TestApp::with_mail(mail_to(&sink)).await;
    let ada = app.sign_up("ada@example.com").await;
    let body = json!({"email": "Ada@Example.org", "password": PASSWORD});
    let (status, change) = app.post("/api/v1/account/email", &ada.key, body).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{change}");
    assert_eq!(change["email"], "ada@example.com");
    assert_eq!(change["pending_email"], "ada@example.org");
    assert_eq!(change["mailed"], "sent");

    let mail = sink.wait_for(1).await.remove(0);
    assert_eq!(mail.to, ["ada@example.org"]);
    let link = local(
        &app,
        &mail.link("/confirm-email/").expect("a link in the mail"),
    );
    // Nothing changes until the link is followed, and opening it changes nothing either.
    let visitor = Visitor::new();
    let (status, page) = visitor.get(&link).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("ada@example.org"), "{page}");
    assert!(logs_in(&app, "ada@example.com", PASSWORD).await);

    let (status, page) = visitor.submit(&link, &[]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Email changed"), "{page}");
    assert!(logs_in(&app, "ada@example.org", PASSWORD).await);
    assert!(!logs_in(&app, "ada@example.com", PASSWORD).await);
    let (status, page) = visitor.get(&link).await;
    assert_eq!(status, StatusCode::GONE, "{page}");
    assert!(page.contains("used already"), "{page}");
}

#[tokio::test]
async fn without_smtp_the_email_changes_at_once_after_the_password() {
    let app = TestApp::start().await;
    let ada = app.sign_up("ada@example.com").await;
    app.sign_up("grace@example.com").await;
    for (body, status, code) in [
        (
            json!({"email": "ada@example.org", "password": "not the password"}),
            StatusCode::FORBIDDEN,
            "wrong_password",
        ),
        (
            json!({"email": "Grace@example.com", "password": PASSWORD}),
            StatusCode::CONFLICT,
            "email_taken",
        ),
        (
            json!({"email": "ada@example.com", "password": PASSWORD}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"email": "ada.example.org", "password": PASSWORD}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
    ] {
        let (got, refused) = app.post("/api/v1/account/email", &ada.key, body).await;
        error_of(got, &refused, status, code);
    }
    assert!(
        logs_in(&app, "ada@example.com", PASSWORD).await,
        "unchanged"
    );

    let body = json!({"email": "ada@example.org", "password": PASSWORD});
    let (status, change) = app.post("/api/v1/account/email", &ada.key, body).await;
    assert_eq!(status, StatusCode::OK, "{change}");
    assert_eq!(change["email"], "ada@example.org");
    assert_eq!(change["pending_email"], serde_json::Value::Null);
    assert_eq!(change["mailed"], "not_configured");
    assert!(logs_in(&app, "ada@example.org", PASSWORD).await);

    // A viewer in a team workspace changes their own email too: the session acts anywhere.
    let browser = Browser::log_in(&app, "ada@example.org").await;
    let body = json!({"email": "ada@example.net", "password": PASSWORD});
    let (status, change) = browser
        .call(Method::POST, "/api/v1/account/email", Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{change}");
}

#[tokio::test]
async fn a_password_is_reset_by_the_mailed_link_which_ends_every_session() {
    let sink = SmtpSink::start(Behaviour::Accept).await;
    let app = TestApp::with_mail(mail_to(&sink)).await;
    app.sign_up("ada@example.com").await;
    let old_session = Browser::log_in(&app, "ada@example.com").await;

    // No account, same answer, no mail.
    let (status, answer) = app
        .call(
            Method::POST,
            "/api/v1/password-resets",
            None,
            Some(json!({"email": "nobody@example.com"})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    let unknown = answer["note"].clone();
    let (status, answer) = app
        .call(
            Method::POST,
            "/api/v1/password-resets",
            None,
            Some(json!({"email": "ADA@example.com"})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert_eq!(
        answer["note"]
            .as_str()
            .unwrap()
            .replace("ada@example.com", "nobody@example.com"),
        unknown.as_str().unwrap()
    );
    let mail = sink.wait_for(1).await.remove(0);
    assert_eq!(mail.to, ["ada@example.com"]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        sink.received().len(),
        1,
        "nothing mailed for an unknown email"
    );

    let link = local(
        &app,
        &mail.link("/reset-password/").expect("a link in the mail"),
    );
    let visitor = Visitor::new();
    let (status, page) = visitor.submit(&link, &[("password", "short")]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("at least 10 characters"), "{page}");
    assert!(
        logs_in(&app, "ada@example.com", PASSWORD).await,
        "nothing changed"
    );

    let (status, page) = visitor
        .submit(&link, &[("password", "a brand new secret")])
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Password changed"), "{page}");
    assert!(logs_in(&app, "ada@example.com", "a brand new secret").await);
    assert!(!logs_in(&app, "ada@example.com", PASSWORD).await);
    let (status, body) = old_session.call(Method::GET, "/api/v1/mocks", None).await;
    error_of(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
    let (status, page) = visitor.get(&link).await;
    assert_eq!(status, StatusCode::GONE, "{page}");
}

#[tokio::test]
async fn reset_requests_are_limited_per_email_and_need_an_email() {
    let sink = SmtpSink::start(Behaviour::Accept).await;
    let app = TestApp::with_mail(mail_to(&sink)).await;
    app.sign_up("ada@example.com").await;
    let ask = json!({"email": "ada@example.com"});
    for _ in 0..3 {
        let (status, answer) = app
            .call(
                Method::POST,
                "/api/v1/password-resets",
                None,
                Some(ask.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    }
    let (status, refused) = app
        .call(Method::POST, "/api/v1/password-resets", None, Some(ask))
        .await;
    error_of(
        status,
        &refused,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
    );
    sink.wait_for(3).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sink.received().len(), 3);
    let (status, refused) = app
        .call(
            Method::POST,
            "/api/v1/password-resets",
            None,
            Some(json!({"email": "nope"})),
        )
        .await;
    let error = error_of(
        status,
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );
    assert_eq!(error["field"], "email");
}

#[tokio::test]
async fn without_smtp_an_operator_issues_the_reset_link() {
    let app = TestApp::start().await;
    app.sign_up("ada@example.com").await;
    let (status, answer) = app
        .call(
            Method::POST,
            "/api/v1/password-resets",
            None,
            Some(json!({"email": "ada@example.com"})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    assert!(
        answer["note"].as_str().unwrap().contains("operator"),
        "{answer}"
    );

    let email = lyrebird_store::Email::parse("ada@example.com").unwrap();
    let token = app.store().issue_password_reset(&email).await.unwrap();
    let link = format!("{}/reset-password/{}", app.base, token.expose());
    let (status, page) = Visitor::new()
        .submit(&link, &[("password", "a brand new secret")])
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(logs_in(&app, "ada@example.com", "a brand new secret").await);
    let nobody = lyrebird_store::Email::parse("nobody@example.com").unwrap();
    assert!(matches!(
        app.store().issue_password_reset(&nobody).await,
        Err(lyrebird_store::StoreError::NotFound)
    ));
}

#[tokio::test]
async fn guessing_the_password_through_an_email_change_is_held_like_logging_in() {
    let app = TestApp::start().await;
    let ada = app.sign_up("ada@example.com").await;
    let wrong = json!({"email": "ada@example.org", "password": "not the password"});
    for _ in 0..5 {
        let (status, refused) = app
            .post("/api/v1/account/email", &ada.key, wrong.clone())
            .await;
        error_of(status, &refused, StatusCode::FORBIDDEN, "wrong_password");
    }
    let right = json!({"email": "ada@example.org", "password": PASSWORD});
    let (status, refused) = app.post("/api/v1/account/email", &ada.key, right).await;
    error_of(
        status,
        &refused,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
    );
    assert!(
        !logs_in(&app, "ada@example.com", PASSWORD).await,
        "held for logging in too"
    );
    let email: String = sqlx::query_scalar("SELECT email FROM accounts")
        .fetch_one(app.store().pool())
        .await
        .unwrap();
    assert_eq!(email, "ada@example.com", "nothing changed");
}

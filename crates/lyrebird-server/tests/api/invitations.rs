//! Invitations over the API, with mail delivered to an SMTP server the test runs: inviting,
//! the mail and its link, accepting as the invited account, and every refusal.

use std::time::{Duration, Instant};

use lyrebird_server::config::{MailArgs, SmtpUrl};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::smtp::{Behaviour, SmtpSink};
use crate::support::{TestApp, error_of, read};

const PASSWORD: &str = "correct horse battery";

fn mail_to(sink: &SmtpSink) -> MailArgs {
    MailArgs {
        smtp_url: Some(SmtpUrl(sink.url.clone())),
        mail_from: "Lyrebird <lyrebird@example.com>".to_owned(),
        public_url: Some("https://lyrebird.example.com".to_owned()),
        ..MailArgs::default()
    }
}

/// A person logged in with the session cookie, sending the session's CSRF token with changes.
pub struct Browser {
    base: String,
    client: reqwest::Client,
    csrf: String,
}

impl Browser {
    pub async fn log_in(app: &TestApp, email: &str) -> Self {
        let client = reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let response = client
            .post(format!("{}/api/v1/sessions", app.base))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let page = client
            .get(format!("{}/mocks", app.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let marker = r#"name="csrf-token" content=""#;
        let start = page.find(marker).expect("a CSRF meta tag") + marker.len();
        let csrf = page[start..].split('"').next().unwrap().to_owned();
        Self {
            base: app.base.clone(),
            client,
            csrf,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("x-csrf-token", &self.csrf);
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.unwrap()).await
    }
}

/// The token at the end of an invitation's link.
fn token_of(link: &str) -> &str {
    link.rsplit('/').next().unwrap()
}

async fn invite(app: &TestApp, key: &str, email: &str, role: &str) -> Value {
    let (status, created) = app
        .post(
            "/api/v1/invitations",
            key,
            json!({"email": email, "role": role}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

async fn pending(app: &TestApp, key: &str) -> Vec<Value> {
    let (status, list) = app.get("/api/v1/invitations", key).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list.as_array().unwrap().clone()
}

/// `email` signs up, is invited by `owner_key` with `role`, accepts with their session, and
/// makes an admin key there: the key, acting for them in the owner's workspace.
async fn member(app: &TestApp, owner_key: &str, email: &str, role: &str) -> String {
    app.sign_up(email).await;
    let created = invite(app, owner_key, email, role).await;
    let browser = Browser::log_in(app, email).await;
    let token = token_of(created["link"].as_str().unwrap());
    let path = format!("/api/v1/invitations/{token}/accept");
    let (status, joined) = browser.call(Method::POST, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    let (status, key) = browser
        .call(
            Method::POST,
            "/api/v1/keys",
            Some(json!({"name": "script", "scope": "admin"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    key["api_key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_invitation_is_mailed_and_accepting_it_makes_a_member_with_the_role() {
    let sink = SmtpSink::start(Behaviour::Accept).await;
    let app = TestApp::with_mail(mail_to(&sink)).await;
    let ada = app.sign_up("ada@example.com").await;
    let mock = app.create_mock(&ada.key, json!({"name": "Shop"})).await;

    let created = invite(&app, &ada.key, "Grace@Example.com", "editor").await;
    assert_eq!(created["mailed"], "sent", "{created}");
    assert_eq!(created["invitation"]["email"], "grace@example.com");
    assert_eq!(created["invitation"]["role"], "editor");
    assert_eq!(created["invitation"]["invited_by"], "ada@example.com");
    let link = created["link"].as_str().unwrap();
    assert!(
        link.starts_with("https://lyrebird.example.com/invite/lbi_"),
        "{link}"
    );

    let mail = sink.wait_for(1).await.remove(0);
    assert_eq!(mail.to, ["grace@example.com"]);
    assert_eq!(mail.from, "lyrebird@example.com");
    assert!(
        mail.data
            .contains("Subject: You are invited to \"Personal\" on Lyrebird"),
        "{}",
        mail.data
    );
    assert_eq!(
        mail.link("/invite/").as_deref(),
        Some(link),
        "{}",
        mail.data
    );

    let listed = pending(&app, &ada.key).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], created["invitation"]["id"]);
    assert!(listed[0].get("link").is_none(), "the link is never listed");

    // Whoever has the link sees what it is, without signing in.
    let token = token_of(link);
    let shown = format!("/api/v1/invitations/{token}");
    let (status, summary) = app.call(Method::GET, &shown, None, None).await;
    assert_eq!(status, StatusCode::OK, "{summary}");
    assert_eq!(
        summary["workspace_id"].as_str(),
        Some(ada.workspace.as_str())
    );
    assert_eq!(summary["workspace_name"], "Personal");
    assert_eq!(summary["role"], "editor");
    assert_eq!(summary["invited_by"], "ada@example.com");

    // Grace signs up, accepts, and her session works in Ada's workspace as an editor.
    app.sign_up("grace@example.com").await;
    let grace = Browser::log_in(&app, "grace@example.com").await;
    let accept = format!("/api/v1/invitations/{token}/accept");
    let (status, joined) = grace.call(Method::POST, &accept, None).await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    assert_eq!(joined["id"].as_str(), Some(ada.workspace.as_str()));
    assert_eq!(joined["role"], "editor");
    let (status, mocks) = grace.call(Method::GET, "/api/v1/mocks", None).await;
    assert_eq!(status, StatusCode::OK, "{mocks}");
    assert_eq!(mocks[0]["id"].as_str(), Some(mock.as_str()), "{mocks}");
    let (status, made) = grace
        .call(
            Method::POST,
            "/api/v1/mocks",
            Some(json!({"name": "Grace's"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");

    // Used up: no longer pending, and the link says so; revoking it is refused (Grace stays).
    assert!(pending(&app, &ada.key).await.is_empty());
    let revoke = format!(
        "/api/v1/invitations/{}",
        created["invitation"]["id"].as_str().unwrap()
    );
    let (status, body) = app
        .call(Method::DELETE, &revoke, Some(&ada.key), None)
        .await;
    error_of(status, &body, StatusCode::GONE, "invitation_used");
    let (status, body) = grace.call(Method::POST, &accept, None).await;
    error_of(status, &body, StatusCode::GONE, "invitation_used");
    let (status, body) = app.call(Method::GET, &shown, None, None).await;
    error_of(status, &body, StatusCode::GONE, "invitation_used");
}

#[tokio::test]
async fn without_smtp_the_link_is_answered_and_nothing_is_mailed() {
    let sink = SmtpSink::start(Behaviour::Accept).await;
    let app = TestApp::start().await;
    let ada = app.sign_up("ada@example.com").await;
    let created = invite(&app, &ada.key, "grace@example.com", "viewer").await;
    assert_eq!(created["mailed"], "not_configured");
    assert!(
        created["note"].as_str().unwrap().contains("copy the link"),
        "{created}"
    );
    let link = created["link"].as_str().unwrap();
    // Links start with the base host when no public URL is set.
    assert!(link.starts_with("http://lyrebird.test:"), "{link}");
    assert!(link.contains("/invite/lbi_"), "{link}");

    // Grace accepts with her key: she joins, and her key's own workspace is unchanged.
    let grace = app.sign_up("grace@example.com").await;
    let accept = format!("/api/v1/invitations/{}/accept", token_of(link));
    let (status, joined) = app.post(&accept, &grace.key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    assert_eq!(joined["role"], "viewer");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(sink.received().is_empty());
}

#[tokio::test]
async fn a_mail_that_cannot_be_sent_leaves_the_invitation_and_says_so() {
    let refusing = SmtpSink::start(Behaviour::RefuseRecipients).await;
    let app = TestApp::with_mail(mail_to(&refusing)).await;
    let ada = app.sign_up("ada@example.com").await;
    let created = invite(&app, &ada.key, "grace@example.com", "editor").await;
    assert_eq!(created["mailed"], "failed", "{created}");
    assert!(
        created["note"]
            .as_str()
            .unwrap()
            .contains("could not be mailed"),
        "{created}"
    );
    assert_eq!(pending(&app, &ada.key).await.len(), 1);
    let grace = app.sign_up("grace@example.com").await;
    let accept = format!(
        "/api/v1/invitations/{}/accept",
        token_of(created["link"].as_str().unwrap())
    );
    let (status, joined) = app.post(&accept, &grace.key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{joined}");

    // A server that never answers holds the answer up for the timeout only.
    let silent = SmtpSink::start(Behaviour::Silent).await;
    let app = TestApp::with_mail(MailArgs {
        smtp_timeout_ms: 300,
        ..mail_to(&silent)
    })
    .await;
    let ada = app.sign_up("ada@example.com").await;
    let started = Instant::now();
    let created = invite(&app, &ada.key, "grace@example.com", "editor").await;
    assert_eq!(created["mailed"], "failed", "{created}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(pending(&app, &ada.key).await.len(), 1);
}

#[tokio::test]
async fn who_may_invite_whom_and_with_what() {
    let app = TestApp::start().await;
    let ada = app.sign_up("ada@example.com").await;
    let admin = member(&app, &ada.key, "alan@example.com", "admin").await;
    let editor = member(&app, &ada.key, "edsger@example.com", "editor").await;
    let viewer = member(&app, &ada.key, "barbara@example.com", "viewer").await;
    let before = pending(&app, &ada.key).await;
    assert!(before.is_empty());

    let body = json!({"email": "grace@example.com", "role": "viewer"});
    for key in [&editor, &viewer] {
        let (status, refused) = app.post("/api/v1/invitations", key, body.clone()).await;
        error_of(status, &refused, StatusCode::FORBIDDEN, "role_required");
        let (status, refused) = app.get("/api/v1/invitations", key).await;
        error_of(status, &refused, StatusCode::FORBIDDEN, "role_required");
    }
    // An admin invites admins, editors and viewers, but no owner.
    let owner = json!({"email": "grace@example.com", "role": "owner"});
    let (status, refused) = app.post("/api/v1/invitations", &admin, owner.clone()).await;
    error_of(status, &refused, StatusCode::FORBIDDEN, "role_required");
    // A personal workspace gets no other owner, even from its owner.
    let (status, refused) = app.post("/api/v1/invitations", &ada.key, owner).await;
    error_of(status, &refused, StatusCode::CONFLICT, "personal_workspace");
    // Members are not invited again.
    let again = json!({"email": "Alan@example.com", "role": "viewer"});
    let (status, refused) = app.post("/api/v1/invitations", &admin, again).await;
    error_of(status, &refused, StatusCode::CONFLICT, "already_member");
    for (bad, field) in [
        (
            json!({"email": "grace.example.com", "role": "viewer"}),
            "email",
        ),
        (
            json!({"email": "grace@example.com", "role": "boss"}),
            "role",
        ),
    ] {
        let (status, refused) = app.post("/api/v1/invitations", &admin, bad).await;
        let error = error_of(
            status,
            &refused,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        );
        assert_eq!(error["field"], field, "{refused}");
    }
    assert!(
        pending(&app, &ada.key).await.is_empty(),
        "nothing refused was made"
    );

    let created = invite(&app, &admin, "grace@example.com", "admin").await;
    assert_eq!(created["invitation"]["invited_by"], "alan@example.com");
    assert_eq!(pending(&app, &admin).await.len(), 1);
}

#[tokio::test]
async fn used_revoked_and_expired_links_say_which_and_the_wrong_account_cannot_accept() {
    let app = TestApp::start().await;
    let ada = app.sign_up("ada@example.com").await;
    let grace = app.sign_up("grace@example.com").await;
    let eve = app.sign_up("eve@example.com").await;
    let accept = |link: &Value| {
        format!(
            "/api/v1/invitations/{}/accept",
            token_of(link.as_str().unwrap())
        )
    };
    let shown = |link: &Value| format!("/api/v1/invitations/{}", token_of(link.as_str().unwrap()));

    // Another email's account cannot accept, and nothing changes.
    let created = invite(&app, &ada.key, "grace@example.com", "editor").await;
    let (status, refused) = app
        .post(&accept(&created["link"]), &eve.key, json!({}))
        .await;
    let error = error_of(
        status,
        &refused,
        StatusCode::FORBIDDEN,
        "invitation_email_mismatch",
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("grace@example.com")
    );
    assert_eq!(pending(&app, &ada.key).await.len(), 1);

    // Inviting again replaces the pending invitation: the first link is revoked.
    let second = invite(&app, &ada.key, "grace@example.com", "viewer").await;
    let (status, refused) = app
        .post(&accept(&created["link"]), &grace.key, json!({}))
        .await;
    error_of(status, &refused, StatusCode::GONE, "invitation_revoked");
    assert_eq!(pending(&app, &ada.key).await.len(), 1);

    // Revoked by an admin.
    let id = second["invitation"]["id"].as_str().unwrap();
    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/invitations/{id}"),
            Some(&ada.key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(pending(&app, &ada.key).await.is_empty());
    let (status, refused) = app
        .call(Method::GET, &shown(&second["link"]), None, None)
        .await;
    error_of(status, &refused, StatusCode::GONE, "invitation_revoked");
    let (status, refused) = app
        .post(&accept(&second["link"]), &grace.key, json!({}))
        .await;
    error_of(status, &refused, StatusCode::GONE, "invitation_revoked");
    let (status, again) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/invitations/{id}"),
            Some(&ada.key),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "revoking again is no error: {again}"
    );

    // Expired.
    let third = invite(&app, &ada.key, "grace@example.com", "viewer").await;
    sqlx::query("UPDATE invitations SET expires_at = now() - interval '1 second' WHERE email = $1 AND revoked_at IS NULL")
        .bind("grace@example.com")
        .execute(app.store().pool())
        .await
        .unwrap();
    assert!(
        pending(&app, &ada.key).await.is_empty(),
        "expired is not pending"
    );
    let (status, refused) = app
        .call(Method::GET, &shown(&third["link"]), None, None)
        .await;
    error_of(status, &refused, StatusCode::GONE, "invitation_expired");
    let (status, refused) = app
        .post(&accept(&third["link"]), &grace.key, json!({}))
        .await;
    error_of(status, &refused, StatusCode::GONE, "invitation_expired");

    // Not a member after all of it.
    let (status, mocks) = app.get("/api/v1/mocks", &grace.key).await;
    assert_eq!(status, StatusCode::OK, "{mocks}");
    let members: i64 =
        sqlx::query_scalar("SELECT count(*) FROM workspace_members WHERE workspace_id = $1::uuid")
            .bind(&ada.workspace)
            .fetch_one(app.store().pool())
            .await
            .unwrap();
    assert_eq!(members, 1);

    // Unknown tokens are not found.
    let (status, refused) = app
        .call(Method::GET, "/api/v1/invitations/lbi_nothing", None, None)
        .await;
    error_of(status, &refused, StatusCode::NOT_FOUND, "not_found");
    let (status, refused) = app
        .post(
            "/api/v1/invitations/lbi_nothing/accept",
            &grace.key,
            json!({}),
        )
        .await;
    error_of(status, &refused, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn another_workspaces_invitation_is_not_found() {
    let app = TestApp::start().await;
    let ada = app.sign_up("ada@example.com").await;
    let eve = app.sign_up("eve@example.com").await;
    let created = invite(&app, &ada.key, "grace@example.com", "editor").await;
    let id = created["invitation"]["id"].as_str().unwrap();
    let path = format!("/api/v1/invitations/{id}");
    let (status, refused) = app.call(Method::DELETE, &path, Some(&eve.key), None).await;
    error_of(status, &refused, StatusCode::NOT_FOUND, "not_found");
    assert!(pending(&app, &eve.key).await.is_empty());
    assert_eq!(pending(&app, &ada.key).await.len(), 1, "still pending");
    let (status, refused) = app
        .call(
            Method::DELETE,
            "/api/v1/invitations/not-an-id",
            Some(&ada.key),
            None,
        )
        .await;
    error_of(status, &refused, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn an_owner_invites_another_owner_into_a_team_workspace() {
    let app = TestApp::start().await;
    app.sign_up("ada@example.com").await;
    let ada = Browser::log_in(&app, "ada@example.com").await;
    let (status, team) = ada
        .call(
            Method::POST,
            "/api/v1/workspaces",
            Some(json!({"name": "Team"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{team}");
    let team = team["id"].as_str().unwrap().to_owned();
    let switch = format!("/api/v1/workspaces/{team}/switch");
    let (status, body) = ada.call(Method::POST, &switch, None).await;
    assert!(status.is_success(), "{body}");
    let (status, created) = ada
        .call(
            Method::POST,
            "/api/v1/invitations",
            Some(json!({"email": "grace@example.com", "role": "owner"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let grace = app.sign_up("grace@example.com").await;
    let accept = format!(
        "/api/v1/invitations/{}/accept",
        token_of(created["link"].as_str().unwrap())
    );
    let (status, joined) = app.post(&accept, &grace.key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    assert_eq!(joined["id"].as_str(), Some(team.as_str()));
    assert_eq!(joined["name"], "Team");
    assert_eq!(joined["role"], "owner");
    let (_, members) = ada.call(Method::GET, "/api/v1/members", None).await;
    let owners = members
        .as_array()
        .unwrap()
        .iter()
        .filter(|member| member["role"] == "owner")
        .count();
    assert_eq!(owners, 2, "{members}");
}

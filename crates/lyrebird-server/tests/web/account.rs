//! The account pages: what deleting the account would take is named before it is done, the
//! forms' refusals change nothing, and another account's session cannot be ended.

use lyrebird_store::AccountId;
use reqwest::StatusCode;

use crate::{PASSWORD, Site};

/// The account whose email is `email`.
async fn account_id(site: &Site, email: &str) -> AccountId {
    sqlx::query_scalar("SELECT id FROM accounts WHERE email = $1")
        .bind(email)
        .fetch_one(site.db.store().pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn the_deletion_page_names_the_workspaces_that_go_and_those_that_stay() {
    let site = Site::start().await;
    let ada = site.signed_up("ada@example.com").await;
    site.signed_up("grace@example.com").await;
    let store = site.db.store();
    let (ada_id, grace_id) = (
        account_id(&site, "ada@example.com").await,
        account_id(&site, "grace@example.com").await,
    );
    let solo = store.create_workspace(ada_id, "Solo").await.unwrap().id;
    let shared = store.create_workspace(ada_id, "Shared").await.unwrap().id;
    for (workspace, role) in [(solo, "editor"), (shared, "owner")] {
        sqlx::query(
            "INSERT INTO workspace_members (workspace_id, account_id, role) VALUES ($1, $2, $3)",
        )
        .bind(workspace)
        .bind(grace_id)
        .bind(role)
        .execute(store.pool())
        .await
        .unwrap();
    }

    let (status, page) = ada.get("/account/delete").await;
    assert_eq!(status, StatusCode::OK);
    let listed = page
        .split("<ul class=\"deleted-workspaces\">")
        .nth(1)
        .and_then(|rest| rest.split("</ul>").next())
        .expect("the list of what goes");
    assert!(
        listed.contains("<strong>Personal</strong> (your personal workspace)"),
        "{listed}"
    );
    assert!(
        listed.contains("<strong>Solo</strong>: its 1 other member loses it too"),
        "{listed}"
    );
    assert!(!listed.contains("Shared"), "{listed}");
    assert!(
        page.contains("keep everything:\n    <strong>Shared</strong>."),
        "{page}"
    );
}

#[tokio::test]
async fn refused_account_forms_change_nothing_and_another_accounts_session_is_a_404() {
    let site = Site::start().await;
    let ada = site.signed_up("ada@example.com").await;
    let grace = site.signed_up("grace@example.com").await;
    let token = ada.csrf().await;
    let grace_session: uuid::Uuid = sqlx::query_scalar(
        "SELECT s.id FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE a.email = $1",
    )
    .bind("grace@example.com")
    .fetch_one(site.db.store().pool())
    .await
    .unwrap();

    let (status, page) = ada
        .post_form(
            &format!("/account/sessions/{grace_session}/end"),
            &[("csrf_token", &token)],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{page}");
    let (status, _) = ada
        .post_form(
            "/account/sessions/not-a-uuid/end",
            &[("csrf_token", &token)],
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(grace.get("/account").await.0, StatusCode::OK);

    let (status, page) = ada
        .post_form(
            "/account/delete",
            &[
                ("csrf_token", &token),
                ("email", "grace@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("Type your account&#x27;s email exactly as shown."),
        "{page}"
    );
    assert!(
        page.contains("value=\"grace@example.com\""),
        "the email typed is kept"
    );
    let (status, page) = ada
        .post_form(
            "/account/delete",
            &[
                ("csrf_token", &token),
                ("email", "ada@example.com"),
                ("password", "wrong one"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("This is not your password."), "{page}");
    let (status, page) = ada
        .post_form(
            "/account/password",
            &[
                ("csrf_token", &token),
                ("current_password", PASSWORD),
                ("new_password", "short"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains("A password has at least 10 characters."),
        "{page}"
    );
    // Without the token, nothing is done either.
    let (status, _) = ada
        .post_form("/account/sessions/end-others", &[("csrf_token", "forged")])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, page) = ada.get("/account").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("ada@example.com"));
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(site.db.store().pool())
        .await
        .unwrap();
    assert_eq!(sessions, 2, "both accounts keep their sessions");
}

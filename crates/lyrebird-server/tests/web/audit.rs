//! The audit log from the pages: a form's change is recorded as the signed-in account's, a form
//! sent back with an error records nothing, and the page is an admin's.

use reqwest::StatusCode;

use crate::Site;

/// Every event of the site's database, oldest first: action and actor.
async fn recorded(site: &Site) -> Vec<(String, String)> {
    sqlx::query_as("SELECT action, actor FROM audit_events ORDER BY id")
        .fetch_all(site.db.store().pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_forms_change_is_the_accounts_and_a_refused_form_records_nothing() {
    let site = Site::start().await;
    let browser = site.signed_up("ann@example.com").await;
    let id = browser.create_mock("Orders").await;
    let token = browser.csrf().await;
    let expected = vec![("mock.created".to_owned(), "ann@example.com".to_owned())];
    assert_eq!(recorded(&site).await, expected);

    // Sent back to the page with an error (a redirect): nothing changed, nothing recorded.
    let (status, page) = browser
        .post_form(
            &format!("/mocks/{id}/upstream-headers"),
            &[("csrf_token", &token), ("headers", "no colon here")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Each line is one header"), "{page}");
    // Refused with the form shown again (422), and refused for its CSRF token (403).
    let (status, _) = browser
        .post_form(
            &format!("/mocks/{id}/settings"),
            &[
                ("csrf_token", &token),
                ("name", "Orders"),
                ("delay", "slow"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = browser
        .post_form(&format!("/mocks/{id}/delete"), &[("csrf_token", "0")])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(recorded(&site).await, expected);

    let (status, page) = browser.get("/audit").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains(r#"<a href="/audit" aria-current="page">Audit log</a>"#),
        "{page}"
    );
    assert!(
        page.contains("mock.created") && page.contains("Orders"),
        "{page}"
    );
}

#[tokio::test]
async fn the_page_is_an_admins() {
    let site = Site::start().await;
    let browser = site.signed_up("ann@example.com").await;
    sqlx::query("UPDATE workspace_members SET role = 'editor'")
        .execute(site.db.store().pool())
        .await
        .unwrap();
    let (status, page) = browser.get("/audit").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("admin"), "{page}");
    let (_, mocks) = browser.get("/mocks").await;
    assert!(!mocks.contains("Audit log"), "no link for an editor");

    let (status, page) = browser.get("/audit?before=nope").await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "refused before reading anything: {page}"
    );
}

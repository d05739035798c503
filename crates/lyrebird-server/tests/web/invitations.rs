//! The invitations page and an invitation's page through their forms: inviting shows the link
//! once, a visitor signs up from the link and accepts, the accepted link is gone, and members
//! below admin are refused the page. And the email page of an account.

use reqwest::StatusCode;

use crate::{Browser, PASSWORD, Site, hidden_token};

/// The link an invitations page shows once, in its Copy button.
fn shown_link(page: &str) -> String {
    let marker = r#"data-copy=""#;
    let start = page.find(marker).expect("a copy button") + marker.len();
    page[start..]
        .split('"')
        .next()
        .unwrap()
        .replace("&#x2f;", "/")
}

/// The path of a link on the site (`http://lyrebird.test:<port>/invite/...`).
fn path_of(link: &str) -> String {
    let after_host = link.split_once("://").unwrap().1;
    after_host[after_host.find('/').unwrap()..].to_owned()
}

async fn invite(browser: &Browser, email: &str, role: &str) -> (StatusCode, String) {
    let token = browser.csrf().await;
    browser
        .post_form(
            "/invitations",
            &[("csrf_token", &token), ("email", email), ("role", role)],
        )
        .await
}

/// `email` signs up from the invitation's page and accepts: the browser, in the workspace.
async fn accepts_as_new_account(site: &Site, path: &str, email: &str) -> Browser {
    let visitor = site.browser();
    let (status, page) = visitor.get(path).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains(&format!(r#"value="{email}""#)), "{page}");
    let token = hidden_token(&page);
    let (status, page) = visitor
        .post_form(
            "/signup",
            &[
                ("csrf_token", &token),
                ("email", email),
                ("password", PASSWORD),
                ("next", path),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("Accept and join"),
        "back on the invitation: {page}"
    );
    let token = hidden_token(&page);
    let (status, page) = visitor.post_form(path, &[("csrf_token", &token)]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("You joined “Personal” as"), "{page}");
    visitor
}

#[tokio::test]
async fn an_invitation_made_on_the_page_is_accepted_from_its_link() {
    let site = Site::start().await;
    let ada = site.signed_up("ada@example.com").await;
    ada.create_mock("Shop").await;
    let (status, page) = invite(&ada, "grace@example.com", "editor").await;
    assert_eq!(status, StatusCode::CREATED, "{page}");
    assert!(page.contains("this is the only time it is shown"), "{page}");
    assert!(page.contains("does not send mail"), "{page}");
    let link = shown_link(&page);
    assert!(link.contains("/invite/lbi_"), "{link}");
    let (_, listed) = ada.get("/invitations").await;
    assert!(listed.contains("grace@example.com"), "{listed}");
    assert!(!listed.contains(&link), "shown once only");

    let path = path_of(&link);
    let grace = accepts_as_new_account(&site, &path, "grace@example.com").await;
    let (_, mocks) = grace.get("/mocks").await;
    assert!(
        mocks.contains("Shop"),
        "working in Ada's workspace: {mocks}"
    );
    let (_, listed) = ada.get("/invitations").await;
    assert!(listed.contains("No pending invitations"), "{listed}");
    let (status, page) = site.browser().get(&path).await;
    assert_eq!(status, StatusCode::GONE, "{page}");
    assert!(page.contains("used already"), "{page}");
}

#[tokio::test]
async fn the_invitations_page_is_an_admins_and_a_link_is_for_its_email_only() {
    let site = Site::start().await;
    let ada = site.signed_up("ada@example.com").await;
    let (_, page) = invite(&ada, "vera@example.com", "viewer").await;
    let vera =
        accepts_as_new_account(&site, &path_of(&shown_link(&page)), "vera@example.com").await;
    let (status, page) = vera.get("/invitations").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    let (status, page) = invite(&vera, "eve@example.com", "viewer").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");

    // Bad input is shown beside its field.
    let (status, page) = invite(&ada, "not-an-email", "viewer").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("An email address needs an @."), "{page}");
    let (status, page) = invite(&ada, "eve@example.com", "owner").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("personal workspace"), "{page}");

    // Signed in as someone else, the link's page says so and offers no Accept.
    let (_, page) = invite(&ada, "grace@example.com", "editor").await;
    let path = path_of(&shown_link(&page));
    let (status, page) = vera.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("this invitation is\n    for grace@example.com"),
        "{page}"
    );
    assert!(!page.contains("Accept and join"), "{page}");
    let token = vera.csrf().await;
    let (status, page) = vera.post_form(&path, &[("csrf_token", &token)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");

    // Revoked from the page: the link is gone.
    let (_, listed) = ada.get("/invitations").await;
    let marker = r#"action="/invitations/"#;
    let start = listed.find(marker).unwrap() + marker.len();
    let id = listed[start..].split('/').next().unwrap().to_owned();
    let token = ada.csrf().await;
    let (status, page) = ada
        .post_form(
            &format!("/invitations/{id}/revoke"),
            &[("csrf_token", &token)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("grace@example.com is revoked"), "{page}");
    let (status, page) = site.browser().get(&path).await;
    assert_eq!(status, StatusCode::GONE, "{page}");
    assert!(page.contains("revoked"), "{page}");
    let (status, _) = site.browser().get("/invite/lbi_nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_email_page_changes_the_email_after_the_password() {
    let site = Site::start().await;
    let ada = site.signed_up("ada@example.com").await;
    let change = |email: &'static str, password: &'static str| {
        let ada = &ada;
        async move {
            let token = ada.csrf().await;
            ada.post_form(
                "/account/email",
                &[
                    ("csrf_token", &token),
                    ("email", email),
                    ("password", password),
                ],
            )
            .await
        }
    };
    let (status, page) = change("ada@example.org", "not the password").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(
        page.contains("this is not the account&#x27;s password"),
        "{page}"
    );
    let (status, page) = change("ada@example.org", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("The account&#x27;s email is ada@example.org now."),
        "{page}"
    );
}

#[tokio::test]
async fn someone_with_an_account_logs_in_from_the_link_and_joins() {
    let site = Site::start().await;
    let ada = site.signed_up("ada@example.com").await;
    site.signed_up("grace@example.com").await;
    let (_, page) = invite(&ada, "grace@example.com", "viewer").await;
    let path = path_of(&shown_link(&page));

    let grace = site.browser();
    let (status, page) = grace.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let token = hidden_token(&page);
    let (status, page) = grace
        .post_form(
            "/login",
            &[
                ("csrf_token", &token),
                ("email", "grace@example.com"),
                ("password", PASSWORD),
                ("next", &path),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("Accept and join"),
        "back on the invitation: {page}"
    );
    let token = hidden_token(&page);
    let (status, page) = grace.post_form(&path, &[("csrf_token", &token)]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("You joined “Personal” as viewer"), "{page}");
}

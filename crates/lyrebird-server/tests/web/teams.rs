//! The team pages: a workspace made from the page, a member switching into it with the header's
//! form, a viewer shown no edit controls and refused a form sent anyway, a role changed on the
//! Team page, and the last owner kept.

use super::*;

/// Makes `email` a member of `workspace` with `role` (invitations are the product's way; this
/// test is about what a member may do once in).
async fn add_member(site: &Site, workspace: &str, email: &str, role: &str) {
    sqlx::query(
        "INSERT INTO workspace_members (workspace_id, account_id, role)
         SELECT $1::uuid, id, $2 FROM accounts WHERE email = $3",
    )
    .bind(workspace)
    .bind(role)
    .bind(email)
    .execute(site.db.store().pool())
    .await
    .unwrap();
}

/// The id of the workspace named `name` in the page's switcher.
fn workspace_id(page: &str, name: &str) -> String {
    let option = page
        .split("<option value=\"")
        .find(|option| option.contains(&format!(">{name} (")))
        .unwrap_or_else(|| panic!("{name} is in the switcher: {page}"));
    option.split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_viewer_sees_no_edit_controls_is_refused_a_change_and_an_editor_may_make_it() {
    let site = Site::start().await;
    let ada = site.signed_up("ada@example.com").await;
    let token = ada.csrf().await;
    let (status, page) = ada
        .post_form(
            "/workspaces",
            &[("csrf_token", &token), ("name", "Payments team")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("Created Payments team: you are its owner."),
        "{page}"
    );
    let team = workspace_id(&page, "Payments team");
    let mock = ada.create_mock("Payments API").await;

    let bob = site.signed_up("bob@example.com").await;
    add_member(&site, &team, "bob@example.com", "viewer").await;
    let token = bob.csrf().await;
    let (_, mocks) = bob.get("/mocks").await;
    assert!(
        !mocks.contains("Payments API"),
        "still in his personal workspace"
    );
    let (status, mocks) = bob
        .post_form(
            "/workspaces/switch",
            &[("csrf_token", &token), ("workspace", &team)],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(mocks.contains("Payments API"), "{mocks}");
    assert!(
        !mocks.contains("New mock"),
        "a viewer is not offered a new mock"
    );

    let (status, page) = bob.get(&format!("/mocks/{mock}")).await;
    assert_eq!(status, StatusCode::OK);
    for control in ["Add example", "Save settings", "Start a draft", "Delete “"] {
        assert!(!page.contains(control), "a viewer sees no {control}");
    }
    let rename = [
        ("csrf_token", token.as_str()),
        ("name", "Bob's now"),
        ("delay", "none"),
    ];
    let (status, page) = bob
        .post_form(&format!("/mocks/{mock}/settings"), &rename)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        page.contains("This needs the editor role in the workspace, and you are viewer."),
        "{page}"
    );
    let (_, page) = ada.get(&format!("/mocks/{mock}")).await;
    assert!(page.contains("Payments API") && !page.contains("Bob&#x27;s now"));

    // Ada makes Bob an editor on the Team page; now the form goes through.
    let bob_id: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM accounts WHERE email = 'bob@example.com'")
            .fetch_one(site.db.store().pool())
            .await
            .unwrap();
    let ada_token = ada.csrf().await;
    let (status, page) = ada
        .post_form(
            &format!("/members/{bob_id}"),
            &[("csrf_token", &ada_token), ("role", "editor")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("bob@example.com is now editor."), "{page}");
    let (status, page) = bob
        .post_form(&format!("/mocks/{mock}/settings"), &rename)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Bob&#x27;s now"), "{page}");

    // Bob, an editor, may not change roles; Ada, the last owner, may not leave.
    let (status, _) = bob
        .post_form(
            &format!("/members/{bob_id}"),
            &[("csrf_token", &token), ("role", "admin")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, page) = ada
        .post_form("/workspace/leave", &[("csrf_token", &ada_token)])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("A workspace keeps at least one owner"),
        "{page}"
    );
}

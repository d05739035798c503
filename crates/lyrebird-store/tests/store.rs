//! The store against a real PostgreSQL: a fresh migrated database per test.

use lyrebird_engine::Example;
use lyrebird_store::testing::TestDatabase;
use lyrebird_store::{
    Access, Change, Delay, Email, FirstAccess, MockSettings, NewKey, NewPassword, Scope, Secret,
    SessionOrigin, StoreError,
};

fn example(name: &str) -> Example {
    serde_json::from_value(serde_json::json!({
        "name": name,
        "request": {"method": "GET", "path": format!("/{name}")},
        "response": {"status": 200, "body": {"name": name}}
    }))
    .unwrap()
}

#[tokio::test]
async fn signing_up_twice_with_the_same_email_in_another_case_is_refused_as_taken() {
    let db = TestDatabase::new().await;
    db.sign_up("ada@example.com").await;
    let error = db
        .store()
        .sign_up(
            &Email::parse("ADA@example.com").unwrap(),
            NewPassword::parse(Secret::new("another password")).unwrap(),
            FirstAccess::Session(SessionOrigin::default()),
        )
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::EmailTaken), "{error:?}");
}

#[tokio::test]
async fn login_checks_the_password_and_the_session_leads_to_the_personal_workspace() {
    let db = TestDatabase::new().await;
    let caller = db.sign_up("ada@example.com").await;
    let email = Email::parse("ada@example.com").unwrap();
    let wrong = db
        .store()
        .log_in(
            &email,
            Secret::new("wrong password"),
            &SessionOrigin::default(),
        )
        .await
        .unwrap();
    assert!(wrong.is_none());
    let session = db
        .store()
        .log_in(
            &email,
            Secret::new("correct horse battery"),
            &SessionOrigin::default(),
        )
        .await
        .unwrap()
        .expect("the right password opens a session");
    let by_session = db
        .store()
        .authenticate_session(&session.token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_session.workspace.id(), caller.workspace.id());
    assert_eq!(by_session.scope(), Scope::Admin);

    db.store().log_out(&session.token).await.unwrap();
    let after = db
        .store()
        .authenticate_session(&session.token)
        .await
        .unwrap();
    assert!(after.is_none(), "a closed session no longer authenticates");
}

#[tokio::test]
async fn a_revoked_key_no_longer_authenticates_and_use_is_recorded() {
    let db = TestDatabase::new().await;
    let caller = db.sign_up("ada@example.com").await;
    let (key, token) = db
        .store()
        .create_key(
            &caller.workspace,
            &NewKey {
                name: "frontend",
                scope: Scope::Mock,
                role: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(&token.expose()[..10], key.prefix);
    let by_key = db.store().authenticate_key(&token).await.unwrap().unwrap();
    assert_eq!(by_key.scope(), Scope::Mock);
    let listed = db.store().list_keys(&caller.workspace).await.unwrap();
    let used = listed.iter().find(|k| k.id == key.id).unwrap();
    assert!(used.last_used_at.is_some());

    db.store()
        .revoke_key(&caller.workspace, key.id)
        .await
        .unwrap();
    assert!(db.store().authenticate_key(&token).await.unwrap().is_none());
}

#[tokio::test]
async fn another_workspace_sees_neither_mocks_nor_examples_nor_keys() {
    let db = TestDatabase::new().await;
    let owner = db.sign_up("owner@example.com").await;
    let other = db.sign_up("other@example.com").await;
    let store = db.store();
    let draft = MockSettings {
        name: "Orders".into(),
        ..MockSettings::default()
    };
    let mock = store.create_mock(&owner.workspace, &draft).await.unwrap();
    let stored = store
        .add_example(&owner.workspace, mock.id, &example("a"))
        .await
        .unwrap();
    let keys = store.list_keys(&owner.workspace).await.unwrap();

    let w = &other.workspace;
    assert!(matches!(
        store.mock(w, mock.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(store.list_mocks(w).await.unwrap().is_empty());
    assert!(matches!(
        store.list_examples(w, mock.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.example(w, mock.id, stored.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.add_example(w, mock.id, &example("b")).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.replace_examples(w, mock.id, &[]).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.delete_mock(w, mock.id).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.revoke_key(w, keys[0].id).await,
        Err(StoreError::NotFound)
    ));
    let untouched = store
        .list_examples(&owner.workspace, mock.id)
        .await
        .unwrap();
    assert_eq!(untouched, vec![stored]);
}

#[tokio::test]
async fn replacing_all_examples_keeps_given_ids_orders_them_and_announces_the_change() {
    let db = TestDatabase::new().await;
    let owner = db.sign_up("owner@example.com").await;
    let store = db.store();
    let mock = store
        .create_mock(
            &owner.workspace,
            &MockSettings {
                name: "Orders".into(),
                delay: Delay::ThreeG,
                ..MockSettings::default()
            },
        )
        .await
        .unwrap();
    let kept = store
        .add_example(&owner.workspace, mock.id, &example("kept"))
        .await
        .unwrap();
    store
        .add_example(&owner.workspace, mock.id, &example("dropped"))
        .await
        .unwrap();

    let mut listener = store.listen_for_changes().await.unwrap();
    let replaced = store
        .replace_examples(
            &owner.workspace,
            mock.id,
            &[(None, example("new")), (Some(kept.id), example("kept"))],
        )
        .await
        .unwrap();
    let names: Vec<&str> = replaced.iter().map(|e| e.example.name.as_str()).collect();
    assert_eq!(names, ["new", "kept"]);
    assert_eq!(replaced[1].id, kept.id);
    assert_eq!(
        replaced.iter().map(|e| e.position).collect::<Vec<_>>(),
        [0, 1]
    );
    let change = listener.next().await.unwrap();
    assert_eq!(change, Some(Change::Mock(mock.id)));
    assert_eq!(
        store.mock(&owner.workspace, mock.id).await.unwrap().delay,
        Delay::ThreeG
    );
}

#[tokio::test]
async fn the_sweep_deletes_expired_sessions_of_every_account_and_keeps_live_ones() {
    let db = TestDatabase::new().await;
    let store = db.store();
    for email in ["ada@example.com", "grace@example.com"] {
        db.sign_up(email).await;
        for _ in 0..2 {
            store
                .log_in(
                    &Email::parse(email).unwrap(),
                    Secret::new("correct horse battery"),
                    &SessionOrigin::default(),
                )
                .await
                .unwrap()
                .expect("the password is right");
        }
    }
    // One session of each account expires; nobody logs in again.
    sqlx::query(
        "UPDATE sessions SET expires_at = now() - interval '1 minute'
         WHERE digest IN (SELECT DISTINCT ON (account_id) digest FROM sessions
                          ORDER BY account_id, created_at)",
    )
    .execute(store.pool())
    .await
    .unwrap();

    assert_eq!(store.delete_expired_sessions().await.unwrap(), 2);
    let (left, expired): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(*) FILTER (WHERE expires_at < now()) FROM sessions")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!((left, expired), (2, 0));
}

/// The web app's sign-up opens a session at once, with no second password check, and makes no
/// key that nobody would ever see.
#[tokio::test]
async fn a_sign_up_with_a_session_is_signed_in_and_has_no_key() {
    let db = TestDatabase::new().await;
    let signed_up = db
        .store()
        .sign_up(
            &Email::parse("web@example.com").unwrap(),
            NewPassword::parse(Secret::new("correct horse battery")).unwrap(),
            FirstAccess::Session(SessionOrigin::default()),
        )
        .await
        .unwrap();
    let Access::Session(session) = signed_up.access else {
        panic!("a session was asked for");
    };
    let caller = db
        .store()
        .authenticate_session(&session.token)
        .await
        .unwrap()
        .expect("the new session is live");
    assert_eq!(caller.workspace.id(), signed_up.workspace.id);
    assert_eq!(db.store().list_keys(&caller.workspace).await.unwrap(), []);
}

#[tokio::test]
async fn a_mock_keeps_its_newest_drift_reports_for_its_own_workspace() {
    let db = TestDatabase::new().await;
    let owner = db.sign_up("ada@example.com").await;
    let stranger = db.sign_up("eve@example.com").await;
    let mock = db.mock(&owner).await;
    let store = db.store();
    let mut added = Vec::new();
    for run in 0..52 {
        let summary = serde_json::json!({"agrees": run});
        let report = serde_json::json!({"entries": []});
        let kept = store
            .add_drift_report(&owner.workspace, mock, "upstream", &summary, &report)
            .await
            .unwrap();
        added.push(kept.summary.id);
    }
    let listed = store
        .list_drift_reports(&owner.workspace, mock)
        .await
        .unwrap();
    let ids: Vec<_> = listed.iter().map(|report| report.id).collect();
    let newest: Vec<_> = added.iter().rev().take(50).copied().collect();
    assert_eq!(ids, newest, "the newest 50, newest first");
    let oldest = store.drift_report(&owner.workspace, mock, added[0]).await;
    assert!(matches!(oldest, Err(StoreError::NotFound)), "{oldest:?}");
    let newest = store
        .drift_report(&owner.workspace, mock, added[51])
        .await
        .unwrap();
    assert_eq!(newest.summary.summary["agrees"], 51);
    assert_eq!(newest.summary.source, "upstream");

    let theirs = store
        .drift_report(&stranger.workspace, mock, added[51])
        .await;
    assert!(matches!(theirs, Err(StoreError::NotFound)), "{theirs:?}");
    let refused = store
        .add_drift_report(
            &stranger.workspace,
            mock,
            "upstream",
            &serde_json::json!({}),
            &serde_json::json!({}),
        )
        .await;
    assert!(matches!(refused, Err(StoreError::NotFound)), "{refused:?}");
}

#[tokio::test]
async fn changing_the_email_uses_up_a_password_reset_sent_to_the_old_address() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let caller = db.sign_up("old@example.com").await;
    let old = Email::parse("old@example.com").unwrap();
    let reset = store.issue_password_reset(&old).await.unwrap();
    assert!(
        store.password_reset(&reset).await.is_ok(),
        "it works until then"
    );

    let new = Email::parse("new@example.com").unwrap();
    let moved = store
        .change_email(caller.workspace.member(), &new)
        .await
        .unwrap();
    assert_eq!(moved.email, "new@example.com");
    assert!(
        matches!(
            store.password_reset(&reset).await,
            Err(StoreError::LinkGone(_))
        ),
        "the old address's link no longer resets the password"
    );
}

//! The migration to workspaces with members (0016) keeps every account, workspace, key,
//! session, mock, example and logged call, and each keeps working as before: an account owns
//! its workspaces, its keys do what they did, its session acts in its personal workspace.

use lyrebird_store::calls::CallFilter;
use lyrebird_store::testing::{self, TestDatabase, encoded};
use lyrebird_store::{MockId, Role, Scope, Secret, Store, WorkspaceId};
use time::OffsetDateTime;

/// Rows per table, in a fixed order.
async fn counts(store: &Store) -> Vec<(&'static str, i64)> {
    let mut counted = Vec::new();
    for table in [
        "accounts",
        "workspaces",
        "api_keys",
        "sessions",
        "mocks",
        "examples",
        "call_blocks",
    ] {
        let rows: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                .fetch_one(store.pool())
                .await
                .unwrap();
        counted.push((table, rows));
    }
    counted
}

async fn legacy_mock(store: &Store, workspace: WorkspaceId) -> MockId {
    let mock = MockId::generate();
    sqlx::query("INSERT INTO mocks (id, workspace_id, name) VALUES ($1, $2, 'Orders')")
        .bind(mock)
        .bind(workspace)
        .execute(store.pool())
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO examples (id, mock_id, position, body)
         VALUES (gen_random_uuid(), $1, 0, '{\"name\": \"a\"}')",
    )
    .bind(mock)
    .execute(store.pool())
    .await
    .unwrap();
    let calls: Vec<_> = (0..3)
        .map(|_| testing::call(workspace, mock, OffsetDateTime::now_utc()))
        .collect();
    store.insert_calls(&encoded(&calls), &[]).await.unwrap();
    mock
}

#[tokio::test]
async fn every_account_workspace_key_session_mock_and_call_survives_and_works() {
    let db = TestDatabase::at_migration(15).await;
    let store = db.store();
    let (ada_personal, ada_key) = db.legacy_sign_up("ada@example.com").await;
    let (bob_personal, bob_key) = db.legacy_sign_up("bob@example.com").await;
    // A second workspace of Ada's, made after her first, and a mock key and a session of hers.
    let ada_second = WorkspaceId::generate();
    sqlx::query(
        "INSERT INTO workspaces (id, owner_id, name, created_at)
         SELECT $1, owner_id, 'Side project', created_at + interval '1 day'
         FROM workspaces WHERE id = $2",
    )
    .bind(ada_second)
    .bind(ada_personal)
    .execute(store.pool())
    .await
    .unwrap();
    let mock_key = Secret::new("lb_mockkeymockkeymockkeymockkeymockkeymockk");
    sqlx::query(
        "INSERT INTO api_keys (id, workspace_id, name, scope, prefix, digest)
         VALUES (gen_random_uuid(), $1, 'frontend', 'mock', 'lb_mockkey', $2)",
    )
    .bind(ada_second)
    .bind(mock_key.digest())
    .execute(store.pool())
    .await
    .unwrap();
    let session = Secret::new("a-session-token-of-the-old-schema");
    sqlx::query(
        "INSERT INTO sessions (digest, account_id, expires_at)
         SELECT $1, owner_id, now() + interval '1 day' FROM workspaces WHERE id = $2",
    )
    .bind(session.digest())
    .bind(ada_personal)
    .execute(store.pool())
    .await
    .unwrap();
    let mocks = [
        legacy_mock(store, ada_personal).await,
        legacy_mock(store, ada_second).await,
        legacy_mock(store, bob_personal).await,
    ];
    let before = counts(store).await;

    lyrebird_store::MIGRATOR.run(store.pool()).await.unwrap();

    assert_eq!(counts(store).await, before, "no row of any table is lost");

    let ada = store.authenticate_key(&ada_key).await.unwrap().unwrap();
    assert_eq!(
        (ada.workspace.id(), ada.workspace.role()),
        (ada_personal, Role::Owner)
    );
    let listed = store.workspaces_of(ada.workspace.member()).await.unwrap();
    let seen: Vec<_> = listed
        .iter()
        .map(|membership| (membership.id, membership.role, membership.personal))
        .collect();
    assert_eq!(
        seen,
        [
            (ada_personal, Role::Owner, true),
            (ada_second, Role::Owner, false)
        ],
        "Ada owns both; the first is her personal one"
    );
    let by_session = store.authenticate_session(&session).await.unwrap().unwrap();
    assert_eq!(by_session.workspace.id(), ada_personal);
    let by_mock_key = store.authenticate_key(&mock_key).await.unwrap().unwrap();
    assert_eq!(
        (by_mock_key.workspace.id(), by_mock_key.scope()),
        (ada_second, Scope::Mock)
    );
    assert_eq!(store.live_keys().await.unwrap().len(), 3);

    let bob = store.authenticate_key(&bob_key).await.unwrap().unwrap();
    assert_eq!(
        (bob.workspace.id(), bob.workspace.role()),
        (bob_personal, Role::Owner)
    );
    for (caller, mock) in [(&ada, mocks[0]), (&bob, mocks[2])] {
        let listed = store.list_mocks(&caller.workspace).await.unwrap();
        assert_eq!(listed.iter().map(|m| m.id).collect::<Vec<_>>(), [mock]);
        let ids = testing::listed_ids(store, caller, mock, &CallFilter::default(), 10).await;
        assert_eq!(ids.len(), 3, "the calls are kept and listed");
    }
}

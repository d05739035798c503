//! Quota leases and usage against a real PostgreSQL: concurrent leases never pass the quota,
//! handed-back calls can be leased again, served calls add up, and set-quota finds workspaces
//! by id or owner email.

use lyrebird_store::testing::TestDatabase;
use lyrebird_store::{
    Email, FirstAccess, NewPassword, Secret, StoreError, UsageMonth, WorkspaceId, WorkspaceRef,
};

async fn workspace(db: &TestDatabase, email: &str) -> WorkspaceId {
    let signed_up = db
        .store()
        .sign_up(
            &Email::parse(email).unwrap(),
            NewPassword::parse(Secret::new("correct horse battery")).unwrap(),
            FirstAccess::ApiKey,
        )
        .await
        .unwrap();
    signed_up.workspace.id
}

#[tokio::test]
async fn concurrent_leases_never_grant_more_than_the_quota() {
    let db = TestDatabase::new().await;
    let id = workspace(&db, "lease@example.com").await;
    let month = UsageMonth::current();
    let leases: Vec<_> = (0..40)
        .map(|_| {
            let store = db.store().clone();
            tokio::spawn(async move { store.lease_calls(id, month, 100, |_| 7).await.unwrap() })
        })
        .collect();
    let mut granted = 0;
    for lease in leases {
        let lease = lease.await.unwrap();
        assert!(lease.leased <= 100 && lease.quota == 100, "{lease:?}");
        granted += lease.granted;
    }
    assert_eq!(granted, 100);

    // Calls handed back can be leased again, and only those.
    db.store().return_calls(id, month, 10).await.unwrap();
    let again = db
        .store()
        .lease_calls(id, month, 100, |left| left + 5)
        .await
        .unwrap();
    assert_eq!((again.granted, again.leased), (10, 100));
}

#[tokio::test]
async fn served_calls_add_up_per_month_and_the_quota_is_set_by_id_or_email() {
    let db = TestDatabase::new().await;
    let id = workspace(&db, "usage@example.com").await;
    let month = UsageMonth::current();
    let store = db.store();
    store.add_served_calls(&[(id, month, 3)]).await.unwrap();
    store
        .add_served_calls(&[(id, month, 4), (WorkspaceId::generate(), month, 9)])
        .await
        .unwrap();

    let by_email = WorkspaceRef::OwnerEmail(Email::parse("Usage@Example.com").unwrap());
    assert_eq!(
        store.set_monthly_quota(&by_email, Some(50)).await.unwrap(),
        id
    );
    let lease = store.lease_calls(id, month, 10_000, |_| 1).await.unwrap();
    assert_eq!(lease.quota, 50);
    store
        .set_monthly_quota(&WorkspaceRef::Id(id), Some(60))
        .await
        .unwrap();
    let unknown = WorkspaceRef::Id(WorkspaceId::generate());
    assert!(matches!(
        store.set_monthly_quota(&unknown, Some(1)).await,
        Err(StoreError::NotFound)
    ));

    let (calls, quota): (i64, i64) = sqlx::query_as(
        "SELECT u.calls, w.monthly_quota FROM usage u JOIN workspaces w ON w.id = u.workspace_id
         WHERE u.workspace_id = $1",
    )
    .bind(id)
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!((calls, quota), (7, 60));
}

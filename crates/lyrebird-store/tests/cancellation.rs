//! Store operations cut off part-way, as a request is when its client goes away, against a real
//! PostgreSQL: the pool gets every connection back outside any transaction, so the writes that
//! follow commit.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;

use lyrebird_store::testing::TestDatabase;
use lyrebird_store::{MockSettings, Store, UsageMonth};
use sqlx::{Connection, PgConnection};
use tokio::task::JoinSet;

/// Runs `operation` until it has waited `waits` times, then drops it where it stands.
async fn cut_off<F: Future>(operation: F, waits: usize) {
    let mut operation = pin!(operation);
    let mut left = waits;
    poll_fn(|cx| match operation.as_mut().poll(cx) {
        Poll::Ready(_) => Poll::Ready(()),
        Poll::Pending if left == 0 => Poll::Ready(()),
        Poll::Pending => {
            left -= 1;
            Poll::Pending
        }
    })
    .await;
}

/// How many of the pool's connections are inside a transaction, asked from a connection of
/// its own once every pooled one is back: they are all checked out first, which waits for
/// the ones still on their way back to the pool.
async fn pooled_connections_in_a_transaction(db: &TestDatabase) -> i64 {
    let pool = db.store().pool();
    let mut held = Vec::new();
    for _ in 0..pool.options().get_max_connections() {
        held.push(pool.acquire().await.unwrap());
    }
    let mut observer = PgConnection::connect(&db.url()).await.unwrap();
    let in_transaction = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()
           AND state LIKE 'idle in transaction%'",
    )
    .fetch_one(&mut observer)
    .await
    .unwrap();
    observer.close().await.unwrap();
    in_transaction
}

#[tokio::test]
async fn operations_cut_off_at_any_moment_leave_no_pooled_connection_in_a_transaction() {
    let db = TestDatabase::new().await;
    let caller = db.sign_up("ada@example.com").await;
    let draft = MockSettings {
        name: "Orders".into(),
        ..MockSettings::default()
    };
    let mock = db
        .store()
        .create_mock(&caller.workspace, &draft)
        .await
        .unwrap();

    // 15 rounds of 24 operations that open a transaction (reading, reading at a set isolation
    // level, writing), more than the pool holds, each dropped after 0 to 3 waits: inside
    // acquiring, inside BEGIN, inside the queries, or not at all.
    for round in 0..15 {
        let mut operations = JoinSet::new();
        for i in 0..24 {
            let store: Store = db.store().clone();
            let workspace = caller.workspace.clone();
            let draft = draft.clone();
            let waits = (round + i) % 4;
            operations.spawn(async move {
                match i % 3 {
                    0 => cut_off(store.list_examples(&workspace, mock.id), waits).await,
                    1 => cut_off(store.served_mock(mock.id), waits).await,
                    _ => cut_off(store.create_mock(&workspace, &draft), waits).await,
                }
            });
        }
        operations.join_all().await;
    }
    assert_eq!(pooled_connections_in_a_transaction(&db).await, 0);

    // One write per pooled connection: the pool hands idle connections out in turn.
    let month = UsageMonth::current();
    let writes = db.store().pool().options().get_max_connections();
    for _ in 0..writes {
        db.store()
            .add_served_calls(&[(caller.workspace.id(), month, 1)])
            .await
            .unwrap();
    }
    let mut observer = PgConnection::connect(&db.url()).await.unwrap();
    let written: i64 =
        sqlx::query_scalar("SELECT calls FROM usage WHERE workspace_id = $1 AND month = $2")
            .bind(caller.workspace.id())
            .bind(month.first_day())
            .fetch_one(&mut observer)
            .await
            .unwrap();
    assert_eq!(written, i64::from(writes));
}

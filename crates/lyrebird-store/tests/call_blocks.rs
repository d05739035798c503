//! The call log's blocks against a real PostgreSQL: calls logged before blocks move into them
//! whole, and blocks that overlap in time still list newest first.

use lyrebird_store::MockId;
use lyrebird_store::calls::{CallFilter, NewCall};
use lyrebird_store::testing::{self, TestDatabase, encoded};
use serde_json::json;
use time::OffsetDateTime;
use time::macros::datetime;
use uuid::Uuid;

#[tokio::test]
async fn calls_logged_before_blocks_move_into_blocks_and_read_back_whole() {
    // The schema as it was before blocks, with calls in its table.
    let db = TestDatabase::at_migration(5).await;
    let store = db.store();
    let (workspace, first_key) = db.legacy_sign_up("owner@example.com").await;
    // A mock as that schema held it (today's store writes columns it did not have).
    let mock = MockId::generate();
    sqlx::query("INSERT INTO mocks (id, workspace_id, name) VALUES ($1, $2, 'Orders')")
        .bind(mock)
        .bind(workspace)
        .execute(store.pool())
        .await
        .unwrap();
    let full = Uuid::new_v4();
    let example = Uuid::now_v7();
    let key = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO calls (id, workspace_id, mock_id, at, method, host, path, query, \
             request_headers, request_body, request_body_base64, request_body_size, status, \
             response_headers, response_body, response_body_base64, response_body_size, \
             body_cap, outcome, example_id, example_name, explanation, error, latency_us, \
             client_addr, key_id, callbacks_queued) \
         VALUES ($1, $2, $3, '2026-10-31 23:59:59.123456+00', 'POST', 'Ünï.mock.example.com', \
             '/orders/é', 'a=1', '[[\"x-trace\",\"t-1\"],[\"x-trace\",\"t-2\"]]', 'AAEC', \
             true, 3, 201, '[[\"content-type\",\"application/json\"]]', '{\"id\":\"42\"}', \
             false, 70000, 65536, 'matched', $4, 'create an order', \
             '{\"by\":\"level\",\"level\":2}', 'template: line 1', 1234567, '2001:db8::7', $5, 3)",
    )
    .bind(full)
    .bind(workspace)
    .bind(mock)
    .bind(example)
    .bind(key)
    .execute(store.pool())
    .await
    .unwrap();
    // 1,001 more in November, a millisecond apart: two blocks of that month.
    sqlx::query(
        "INSERT INTO calls (id, workspace_id, mock_id, at, method, host, path, query, \
             request_headers, request_body, request_body_base64, request_body_size, status, \
             response_headers, response_body, response_body_base64, response_body_size, \
             body_cap, outcome, latency_us, callbacks_queued) \
         SELECT gen_random_uuid(), $1, $2, \
             '2026-11-02 10:00:00+00'::timestamptz + i * interval '1 millisecond', 'GET', \
             'localhost', '/n/' || i, '', '[]', '', false, 0, 404, '[]', '', false, 0, 65536, \
             'no_match', 10, 0 \
         FROM generate_series(1, 1001) AS i",
    )
    .bind(workspace)
    .bind(mock)
    .execute(store.pool())
    .await
    .unwrap();

    lyrebird_store::MIGRATOR.run(store.pool()).await.unwrap();
    let owner = store.authenticate_key(&first_key).await.unwrap().unwrap();

    let blocks: Vec<(i16, i32)> = testing::blocks_of(store, mock)
        .await
        .into_iter()
        .map(|(_, format, calls)| (format, calls))
        .collect();
    assert_eq!(blocks, [(0, 1), (0, 1000), (0, 1)]);

    let (call, _) = store.call(&owner.workspace, mock, full).await.unwrap();
    let summary = &call.summary;
    assert_eq!(summary.at, datetime!(2026-10-31 23:59:59.123456 UTC));
    assert_eq!(
        (summary.method.as_str(), summary.host.as_str()),
        ("POST", "Ünï.mock.example.com")
    );
    assert_eq!(
        (summary.path.as_str(), summary.query.as_str()),
        ("/orders/é", "a=1")
    );
    assert_eq!((summary.status, summary.outcome.as_str()), (201, "matched"));
    assert_eq!(summary.example_id, Some(example));
    assert_eq!(summary.example_name.as_deref(), Some("create an order"));
    assert_eq!(summary.error.as_deref(), Some("template: line 1"));
    assert_eq!(summary.latency_us, 1_234_567);
    assert_eq!(summary.client_addr.as_deref(), Some("2001:db8::7"));
    assert_eq!(
        call.request_headers.0,
        [
            ("x-trace".into(), "t-1".into()),
            ("x-trace".into(), "t-2".into())
        ]
    );
    assert_eq!(
        (
            call.request_body.as_str(),
            call.request_body_base64,
            call.request_body_size
        ),
        ("AAEC", true, 3)
    );
    assert_eq!(
        call.response_headers.0,
        [("content-type".into(), "application/json".into())]
    );
    assert_eq!(
        (
            call.response_body.as_str(),
            call.response_body_base64,
            call.response_body_size
        ),
        ("{\"id\":\"42\"}", false, 70_000)
    );
    assert_eq!(call.body_cap, 65_536);
    assert_eq!(call.explanation, Some(json!({"by": "level", "level": 2})));
    assert_eq!((call.key_id, call.callbacks_queued), (Some(key), 3));

    let ids = testing::listed_ids(store, &owner, mock, &CallFilter::default(), 300).await;
    assert_eq!(ids.len(), 1002);
    assert_eq!(ids.last(), Some(&full));
    // The moved blocks' trigrams are not known: a search for text reads them all.
    for text in ["X-TRACE", "orders/É", "/n/1001"] {
        let filter = CallFilter {
            text: Some(text.into()),
            ..CallFilter::default()
        };
        let page = store
            .list_calls(&owner.workspace, mock, &filter, None, 10)
            .await
            .unwrap();
        assert_eq!(page.calls.len(), 1, "{text}");
    }
    let november = datetime!(2026-11-01 0:00 UTC);
    let counted = store
        .calls_per_mock(&owner.workspace, november)
        .await
        .unwrap();
    assert_eq!(counted, [(mock, 1001)]);
}

#[tokio::test]
async fn blocks_that_overlap_in_time_list_their_calls_strictly_newest_first() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let owner = db.sign_up("owner@example.com").await;
    let mock = db.mock(&owner).await;
    // Two servers logging the same mock at once: their blocks interleave in time. Calls
    // with the same time are ordered by id.
    let start = OffsetDateTime::now_utc().replace_millisecond(0).unwrap();
    let calls: Vec<NewCall> = (0..300)
        .map(|i| {
            testing::call(
                owner.workspace.id(),
                mock,
                start + time::Duration::milliseconds(i / 2),
            )
        })
        .collect();
    let (even, odd): (Vec<NewCall>, Vec<NewCall>) = calls
        .iter()
        .cloned()
        .partition(|call| call.id.as_bytes()[15] % 2 == 0);
    for batch in [
        &odd[..150.min(odd.len())],
        &even[..],
        &odd[150.min(odd.len())..],
    ] {
        store.insert_calls(&encoded(batch), &[]).await.unwrap();
    }

    let mut expected: Vec<(OffsetDateTime, Uuid)> =
        calls.iter().map(|call| (call.at, call.id)).collect();
    expected.sort_unstable_by(|a, b| b.cmp(a));
    let expected: Vec<Uuid> = expected.into_iter().map(|(_, id)| id).collect();
    for limit in [1, 7, 50, 500] {
        assert_eq!(
            testing::listed_ids(store, &owner, mock, &CallFilter::default(), limit).await,
            expected,
            "limit {limit}"
        );
    }
}

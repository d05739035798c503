//! The call log's reads against a real PostgreSQL: they only see the asking workspace's calls.

use lyrebird_store::calls::{CallOutcomeKind, NewCall, NewCallback, StoredBody};
use lyrebird_store::testing::TestDatabase;
use lyrebird_store::{Caller, MockDraft, MockId, Store};
use time::OffsetDateTime;
use uuid::Uuid;

async fn mock(store: &Store, owner: &Caller) -> MockId {
    let draft = MockDraft {
        name: "Orders".into(),
        ..MockDraft::default()
    };
    store
        .create_mock(&owner.workspace, &draft)
        .await
        .unwrap()
        .id
}

fn body() -> StoredBody {
    StoredBody {
        text: String::new(),
        base64: false,
        size: 0,
    }
}

fn call(owner: &Caller, mock: MockId, outcome: CallOutcomeKind) -> NewCall {
    NewCall {
        id: Uuid::new_v4(),
        workspace_id: owner.workspace.id(),
        mock_id: mock,
        at: OffsetDateTime::now_utc(),
        method: "GET".into(),
        host: "localhost".into(),
        path: "/orders".into(),
        query: String::new(),
        request_headers: Vec::new(),
        request_body: body(),
        status: 200,
        response_headers: Vec::new(),
        response_body: body(),
        body_cap: 1024,
        outcome,
        example_id: None,
        example_name: None,
        explanation: None,
        error: None,
        latency_us: 10,
        client_addr: None,
        key_id: None,
        callbacks_queued: 1,
    }
}

fn callback(call: &NewCall) -> NewCallback {
    NewCallback {
        id: Uuid::new_v4(),
        call_id: call.id,
        at: OffsetDateTime::now_utc(),
        url: "http://127.0.0.1:9/hook".into(),
        method: "POST".into(),
        status: Some(204),
        latency_us: 20,
        error: None,
    }
}

#[tokio::test]
async fn callback_results_of_another_workspaces_call_are_not_found() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let owner = db.sign_up("owner@example.com").await;
    let other = db.sign_up("other@example.com").await;
    let mock = mock(store, &owner).await;
    let logged = call(&owner, mock, CallOutcomeKind::Matched);
    store
        .insert_calls(std::slice::from_ref(&logged), &[callback(&logged)])
        .await
        .unwrap();

    let own = store
        .callbacks_of(&owner.workspace, &[logged.id])
        .await
        .unwrap();
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].call_id, logged.id);
    let foreign = store
        .callbacks_of(&other.workspace, &[logged.id])
        .await
        .unwrap();
    assert!(foreign.is_empty(), "{foreign:?}");
}

#[tokio::test]
async fn calls_per_mock_counts_only_calls_that_count_against_the_quota() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let owner = db.sign_up("owner@example.com").await;
    let mock = mock(store, &owner).await;
    let calls: Vec<NewCall> = [
        CallOutcomeKind::Matched,
        CallOutcomeKind::NoMatch,
        CallOutcomeKind::Fallback,
        CallOutcomeKind::Refused,
        CallOutcomeKind::OverQuota,
    ]
    .into_iter()
    .map(|outcome| call(&owner, mock, outcome))
    .collect();
    store.insert_calls(&calls, &[]).await.unwrap();

    let since = OffsetDateTime::now_utc() - time::Duration::hours(1);
    let counted = store.calls_per_mock(&owner.workspace, since).await.unwrap();
    assert_eq!(counted, vec![(mock, 3)]);
}

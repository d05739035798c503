//! The call log's reads against a real PostgreSQL: they only see the asking workspace's calls.

use lyrebird_store::calls::{
    CallFilter, CallOutcomeKind, NewCall, NewCallback, SEARCH_WINDOW, StoredBody,
};
use lyrebird_store::testing::{self, TestDatabase, encoded};
use lyrebird_store::{Caller, ExampleId, KeyId, MockId};
use serde_json::json;
use serde_json::value::to_raw_value;
use time::OffsetDateTime;
use uuid::Uuid;

fn call(owner: &Caller, mock: MockId, outcome: CallOutcomeKind) -> NewCall {
    NewCall {
        outcome,
        path: "/orders".into(),
        body_cap: 1024,
        callbacks_queued: 1,
        ..testing::call(owner.workspace.id(), mock, OffsetDateTime::now_utc())
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
    let mock = db.mock(&owner).await;
    let logged = call(&owner, mock, CallOutcomeKind::Matched);
    store
        .insert_calls(
            &encoded(std::slice::from_ref(&logged)),
            &[callback(&logged)],
        )
        .await
        .unwrap();

    let own = store
        .callbacks_of(&owner.workspace, mock, &[logged.position()])
        .await
        .unwrap();
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].call_id, logged.id);
    let foreign = store
        .callbacks_of(&other.workspace, mock, &[logged.position()])
        .await
        .unwrap();
    assert!(foreign.is_empty(), "{foreign:?}");
}

#[tokio::test]
async fn calls_per_mock_counts_only_calls_that_count_against_the_quota() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let owner = db.sign_up("owner@example.com").await;
    let mock = db.mock(&owner).await;
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
    store.insert_calls(&encoded(&calls), &[]).await.unwrap();

    let since = OffsetDateTime::now_utc() - time::Duration::hours(1);
    let counted = store.calls_per_mock(&owner.workspace, since).await.unwrap();
    assert_eq!(counted, vec![(mock, 3)]);
}

#[tokio::test]
async fn every_field_of_a_call_reads_back_as_written() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let owner = db.sign_up("owner@example.com").await;
    let mock = db.mock(&owner).await;
    let at = time::macros::datetime!(2026-11-21 14:30:05.123456 UTC);
    let full = NewCall {
        at,
        method: "POST".into(),
        host: "Ünïcode.mock.example.com:8080".into(),
        path: "/orders/é".into(),
        query: "a=1&b=two".into(),
        request_headers: vec![
            ("x-trace".into(), "t-1".into()),
            ("x-trace".into(), "t-2".into()),
        ],
        request_body: StoredBody {
            text: "AAEC".into(),
            base64: true,
            size: 3,
        },
        status: 201,
        response_headers: vec![("content-type".into(), "application/json".into())],
        response_body: StoredBody {
            text: "{\"id\":\"42\"}".into(),
            base64: false,
            size: 70_000,
        },
        body_cap: 65_536,
        example_id: Some(ExampleId::generate()),
        example_name: Some("create an order".into()),
        explanation: Some(to_raw_value(&json!({"by": "level", "level": 2})).unwrap()),
        error: Some("template: line 1".into()),
        latency_us: 1_234_567,
        client_addr: Some("2001:db8::7".parse().unwrap()),
        key_id: Some(KeyId::generate()),
        callbacks_queued: 3,
        ..call(&owner, mock, CallOutcomeKind::Fallback)
    };
    let v4 = NewCall {
        id: Uuid::now_v7(),
        client_addr: Some("192.0.2.10".parse().unwrap()),
        ..call(&owner, mock, CallOutcomeKind::Refused)
    };
    store
        .insert_calls(&encoded(&[full.clone(), v4.clone()]), &[])
        .await
        .unwrap();

    let (stored, _) = store.call(&owner.workspace, mock, full.id).await.unwrap();
    let summary = &stored.summary;
    assert_eq!(summary.at, at);
    assert_eq!(
        (
            summary.method.as_str(),
            summary.host.as_str(),
            summary.path.as_str()
        ),
        ("POST", "Ünïcode.mock.example.com:8080", "/orders/é")
    );
    assert_eq!((summary.query.as_str(), summary.status), ("a=1&b=two", 201));
    assert_eq!(summary.outcome, "fallback");
    assert_eq!(summary.example_id, full.example_id.map(|id| id.as_uuid()));
    assert_eq!(summary.example_name.as_deref(), Some("create an order"));
    assert_eq!(summary.error.as_deref(), Some("template: line 1"));
    assert_eq!(summary.latency_us, 1_234_567);
    assert_eq!(summary.client_addr.as_deref(), Some("2001:db8::7"));
    assert_eq!(stored.request_headers.0, full.request_headers);
    assert_eq!(
        (
            stored.request_body.as_str(),
            stored.request_body_base64,
            stored.request_body_size
        ),
        ("AAEC", true, 3)
    );
    assert_eq!(stored.response_headers.0, full.response_headers);
    assert_eq!(
        (
            stored.response_body.as_str(),
            stored.response_body_base64,
            stored.response_body_size
        ),
        ("{\"id\":\"42\"}", false, 70_000)
    );
    assert_eq!(stored.body_cap, 65_536);
    assert_eq!(stored.explanation, Some(json!({"by": "level", "level": 2})));
    assert_eq!(stored.key_id, full.key_id.map(|id| id.as_uuid()));
    assert_eq!(stored.callbacks_queued, 3);

    let (stored, _) = store.call(&owner.workspace, mock, v4.id).await.unwrap();
    assert_eq!(stored.summary.client_addr.as_deref(), Some("192.0.2.10"));
    assert_eq!(
        (stored.explanation, stored.key_id, stored.summary.example_id),
        (None, None, None)
    );
}

#[tokio::test]
async fn a_text_search_reads_a_window_of_calls_per_page_and_goes_on_from_its_end() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let owner = db.sign_up("owner@example.com").await;
    let mock = db.mock(&owner).await;
    // Whole milliseconds: what PostgreSQL keeps (microseconds) compares equal.
    let start = (OffsetDateTime::now_utc() - time::Duration::hours(1))
        .replace_millisecond(0)
        .unwrap();
    let window = SEARCH_WINDOW;
    // The two oldest calls have the text, "abcde"; a window's worth of newer calls do not, but
    // hold "abcd" and "bcde", so every block holds its trigrams and the index rules none out.
    // The rare "zyxwv" is in one call of the newest window.
    let calls: Vec<NewCall> = (0..window + 2)
        .map(|i| {
            let mut logged = call(&owner, mock, CallOutcomeKind::Matched);
            logged.at = start + time::Duration::milliseconds(i as i64);
            logged.response_body.text = if i < 2 { "ABCDE" } else { "abcd, bcde" }.into();
            if i == 10_000 {
                logged.query = "q=zyxwv".into();
            }
            logged
        })
        .collect();
    for batch in calls.chunks(5000) {
        store.insert_calls(&encoded(batch), &[]).await.unwrap();
    }
    let filter = CallFilter {
        text: Some("abcde".into()),
        ..CallFilter::default()
    };

    // The first page reads the newest window's calls, finds none, and says where it stopped.
    let first = store
        .list_calls(&owner.workspace, mock, &filter, None, 50)
        .await
        .unwrap();
    assert!(first.calls.is_empty(), "{:?}", first.calls);
    let oldest_read = calls[2].at;
    assert_eq!(first.searched_back_to, Some(oldest_read));
    assert_eq!(first.next.map(|next| next.at), Some(oldest_read));

    // The next page goes on from there and finds both, newest first; nothing is older.
    let second = store
        .list_calls(&owner.workspace, mock, &filter, first.next, 50)
        .await
        .unwrap();
    let found: Vec<Uuid> = second.calls.iter().map(|call| call.id).collect();
    assert_eq!(found, [calls[1].id, calls[0].id]);
    assert_eq!((second.next, second.searched_back_to), (None, None));

    // Blocks the index rules out are not read and do not count: one page finds the rare text
    // and has searched everything.
    let rare = CallFilter {
        text: Some("ZYXWV".into()),
        ..CallFilter::default()
    };
    let page = store
        .list_calls(&owner.workspace, mock, &rare, None, 50)
        .await
        .unwrap();
    let found: Vec<Uuid> = page.calls.iter().map(|call| call.id).collect();
    assert_eq!(found, [calls[10_000].id]);
    assert_eq!((page.next, page.searched_back_to), (None, None));

    // Text found before the window is read fills the page at once; paging goes on from it.
    let common = CallFilter {
        text: Some("/ORDERS".into()),
        ..CallFilter::default()
    };
    let page = store
        .list_calls(&owner.workspace, mock, &common, None, 3)
        .await
        .unwrap();
    assert_eq!(page.calls.len(), 3);
    assert_eq!(page.next, Some(page.calls[2].position()));
    assert_eq!(page.searched_back_to, None);
}

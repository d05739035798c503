//! The call log: calls recorded through the `CallLog` handle (as the runtime does) and through
//! real mock calls, found again through the API on a real port, with a real PostgreSQL.

#[path = "../support/in_process.rs"]
mod in_process;
mod mock_calls;
mod search;
mod storage;
mod tail_and_export;

use std::net::IpAddr;
use std::time::Duration;

use axum::body::Bytes;
use in_process::Options;
use lyrebird_engine::{DecidedBy, Selection};
use lyrebird_runtime::call_log::{
    CallLog, CallLogOptions, CallOutcome, CallRecord, CallbackResult, Miss,
};
use lyrebird_store::calls::{CallOutcomeKind, NewCall, SEARCH_WINDOW};
use lyrebird_store::embedded::{EmbeddedOptions, EmbeddedPostgres};
use lyrebird_store::testing::{TestDatabase, encoded};
use lyrebird_store::{ExampleId, MockId, Store, WorkspaceId};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

/// How long a test waits for calls to show up before it fails (a hang guard, not a
/// measurement).
const GUARD: Duration = Duration::from_secs(30);

struct TestApp {
    base: String,
    client: reqwest::Client,
    call_log: CallLog,
    store: Store,
    /// Kept for the test's lifetime (dropping it drops the database), unless the test brings
    /// its own cluster.
    _db: Option<TestDatabase>,
    server: tokio::task::JoinHandle<()>,
}

/// A signed-up user with a mock.
struct Tenant {
    key: String,
    workspace: WorkspaceId,
    mock: MockId,
}

impl TestApp {
    async fn start() -> Self {
        Self::start_with(CallLogOptions {
            flush_interval: Duration::from_millis(20),
            ..CallLogOptions::default()
        })
        .await
    }

    async fn start_with(options: CallLogOptions) -> Self {
        let db = TestDatabase::new().await;
        let store = db.store().clone();
        Self::start_on(store, options, Some(db)).await
    }

    async fn start_on(store: Store, options: CallLogOptions, db: Option<TestDatabase>) -> Self {
        let running = in_process::start(
            store.clone(),
            Options {
                monthly_quota: 1_000_000,
                call_log: options,
                ..Options::default()
            },
        )
        .await;
        Self {
            base: running.base,
            client: reqwest::Client::new(),
            call_log: running.call_log,
            store,
            _db: db,
            server: running.server,
        }
    }

    fn store(&self) -> &Store {
        &self.store
    }

    async fn call(&self, method: Method, path: &str, key: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        (status, body)
    }

    async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, key).await
    }

    async fn text(&self, path: &str, key: &str) -> (StatusCode, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    async fn tenant(&self, email: &str) -> Tenant {
        let response = self
            .client
            .post(format!("{}/api/v1/accounts", self.base))
            .json(&json!({"email": email, "password": "correct horse battery"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let account: Value = response.json().await.unwrap();
        let key = account["api_key"].as_str().unwrap().to_owned();
        let workspace = account["workspace"]["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let mock = self.create_mock(&key, json!({"name": "shop"})).await;
        Tenant {
            key,
            workspace,
            mock,
        }
    }

    async fn create_mock(&self, key: &str, body: Value) -> MockId {
        let response = self
            .client
            .post(format!("{}/api/v1/mocks", self.base))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let mock: Value = response.json().await.unwrap();
        mock["id"].as_str().unwrap().parse().unwrap()
    }

    async fn add_example(&self, tenant: &Tenant, example: Value) {
        let response = self
            .client
            .post(format!(
                "{}/api/v1/mocks/{}/examples",
                self.base, tenant.mock
            ))
            .bearer_auth(&tenant.key)
            .json(&example)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }

    /// Calls the mock through the `/m/<id>/` form.
    fn mock_request(&self, tenant: &Tenant, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}/m/{}{path}", self.base, tenant.mock))
    }

    /// The mock's calls matching `query`, waiting until there are `count` of them.
    async fn wait_for(&self, tenant: &Tenant, query: &str, count: usize) -> Vec<Value> {
        let path = format!("/api/v1/mocks/{}/calls?limit=200&{query}", tenant.mock);
        let deadline = tokio::time::Instant::now() + GUARD;
        loop {
            let (status, page) = self.get(&path, &tenant.key).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            let calls = page["calls"].as_array().unwrap().clone();
            if calls.len() >= count || tokio::time::Instant::now() > deadline {
                assert_eq!(calls.len(), count, "calls for {query:?}: {page}");
                return calls;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The paths of the calls a search finds, newest first (everything is written already).
    async fn paths(&self, tenant: &Tenant, query: &str) -> Vec<String> {
        let path = format!("/api/v1/mocks/{}/calls?limit=200&{query}", tenant.mock);
        let (status, page) = self.get(&path, &tenant.key).await;
        assert_eq!(status, StatusCode::OK, "{query}: {page}");
        page["calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|call| call["path"].as_str().unwrap().to_owned())
            .collect()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A matched `GET <path>` answered 200, as the runtime records it; tests adjust the rest.
fn record(tenant: &Tenant, path: &str) -> CallRecord {
    CallRecord {
        id: Uuid::now_v7(),
        workspace_id: tenant.workspace,
        mock_id: tenant.mock,
        at: OffsetDateTime::now_utc(),
        method: "GET".to_owned(),
        host: format!("{}.mock.lyrebird.test", tenant.mock),
        path: path.to_owned(),
        query: String::new(),
        request_headers: vec![("accept".into(), "application/json".into())],
        request_body: Bytes::new(),
        status: 200,
        response_headers: vec![("content-type".into(), "application/json".into())],
        response_body: Bytes::from_static(b"{\"ok\":true}"),
        outcome: CallOutcome::Matched {
            example_id: ExampleId::generate(),
            example_name: "ok".to_owned(),
            state: None,
            decided_by: DecidedBy::Level {
                level: 1,
                name: "ok".to_owned(),
                form_body: false,
                priority: 0,
                conditions: 0,
                candidates: 1,
                body: None,
            },
        },
        error: None,
        latency_us: 120,
        client_addr: Some(IpAddr::from([127, 0, 0, 1])),
        key_id: None,
        callbacks: 0,
        note: None,
        version: 1,
    }
}

fn no_match(tenant: &Tenant, path: &str) -> CallRecord {
    CallRecord {
        status: 404,
        outcome: CallOutcome::NoMatch {
            explanation: Miss(Selection::UnknownResponseName {
                name: "nothing".to_owned(),
            }),
        },
        response_body: Bytes::from_static(b"{\"error\":\"no match\"}"),
        ..record(tenant, path)
    }
}

/// An example answering `GET /hello` with a JSON greeting.
fn hello_example() -> Value {
    json!({
        "name": "hello",
        "request": {"method": "GET", "path": "/hello"},
        "response": {
            "status": 200,
            "headers": [{"name": "Set-Cookie", "value": "sid=server-secret; Path=/"}],
            "body": {"hello": "world"}
        }
    })
}

/// A call for the store alone, at `at`.
fn stored_call(mock: MockId, at: OffsetDateTime) -> NewCall {
    NewCall {
        id: Uuid::now_v7(),
        outcome: CallOutcomeKind::OverQuota,
        ..lyrebird_store::testing::call(WorkspaceId::generate(), mock, at)
    }
}

/// How many calls of the mock the call log holds.
async fn logged_calls(store: &Store, mock: MockId) -> i64 {
    sqlx::query_scalar(
        "SELECT coalesce(sum(cardinality(call_ids)), 0)::bigint FROM call_blocks \
         WHERE mock_id = $1",
    )
    .bind(mock)
    .fetch_one(store.pool())
    .await
    .unwrap()
}

//! The call log: calls recorded through the `CallLog` handle (as the runtime does) and through
//! real mock calls, found again through the API on a real port, with a real PostgreSQL.

#[path = "support/in_process.rs"]
mod in_process;

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
            decided_by: DecidedBy::Level {
                level: 1,
                name: "ok".to_owned(),
                form_body: false,
                priority: 0,
                conditions: 0,
                candidates: 1,
            },
        },
        error: None,
        latency_us: 120,
        client_addr: Some(IpAddr::from([127, 0, 0, 1])),
        key_id: None,
        callbacks: 0,
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

#[tokio::test]
async fn each_filter_narrows_the_search() {
    let app = TestApp::start().await;
    let tenant = app.tenant("ada@example.com").await;
    let earlier = OffsetDateTime::now_utc() - time::Duration::hours(2);
    app.call_log.record(CallRecord {
        at: earlier,
        ..record(&tenant, "/old")
    });
    app.call_log.record(record(&tenant, "/users/1"));
    app.call_log.record(CallRecord {
        method: "POST".to_owned(),
        status: 201,
        ..record(&tenant, "/users")
    });
    app.call_log.record(no_match(&tenant, "/users/2/orders"));
    app.call_log.record(CallRecord {
        status: 503,
        ..no_match(&tenant, "/health")
    });
    app.wait_for(&tenant, "", 5).await;

    let sorted = |mut paths: Vec<String>| {
        paths.sort();
        paths
    };
    assert_eq!(app.paths(&tenant, "method=post").await, ["/users"]);
    assert_eq!(app.paths(&tenant, "status=404").await, ["/users/2/orders"]);
    assert_eq!(
        sorted(app.paths(&tenant, "status=2xx").await),
        ["/old", "/users", "/users/1"]
    );
    assert_eq!(app.paths(&tenant, "status=5xx").await, ["/health"]);
    assert_eq!(
        sorted(app.paths(&tenant, "path_prefix=/users/").await),
        ["/users/1", "/users/2/orders"]
    );
    assert_eq!(
        sorted(app.paths(&tenant, "matched=false").await),
        ["/health", "/users/2/orders"]
    );
    assert_eq!(app.paths(&tenant, "matched=true").await.len(), 3);
    let hour_ago = (OffsetDateTime::now_utc() - time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let to = format!("to={}", hour_ago.replace('+', "%2B"));
    assert_eq!(app.paths(&tenant, &to).await, ["/old"]);
    let from = format!("from={}", hour_ago.replace('+', "%2B"));
    assert_eq!(app.paths(&tenant, &from).await.len(), 4);
    assert_eq!(
        app.paths(&tenant, "method=GET&matched=false&path_prefix=/users")
            .await,
        ["/users/2/orders"]
    );
}

#[tokio::test]
async fn free_text_finds_calls_by_path_query_headers_and_bodies() {
    let app = TestApp::start().await;
    let tenant = app.tenant("ada@example.com").await;
    app.call_log.record(record(&tenant, "/invoices/INV-2024"));
    app.call_log.record(CallRecord {
        query: "coupon=SPRING50".to_owned(),
        ..record(&tenant, "/cart")
    });
    app.call_log.record(CallRecord {
        request_headers: vec![("x-trace".into(), "trace-42-abc".into())],
        ..record(&tenant, "/traced")
    });
    app.call_log.record(CallRecord {
        method: "POST".to_owned(),
        request_body: Bytes::from_static(b"{\"email\":\"grace@example.com\"}"),
        ..record(&tenant, "/signup")
    });
    app.call_log.record(CallRecord {
        response_body: Bytes::from_static(b"{\"name\":\"Lovelace\"}"),
        ..record(&tenant, "/people/1")
    });
    app.call_log.record(record(&tenant, "/100%_done"));
    app.wait_for(&tenant, "", 6).await;

    for (q, path) in [
        ("inv-2024", "/invoices/INV-2024"),
        ("spring50", "/cart"),
        ("TRACE-42", "/traced"),
        ("grace@example", "/signup"),
        ("lovelace", "/people/1"),
        // LIKE's wildcards are plain characters in a search.
        ("100%25_", "/100%_done"),
    ] {
        assert_eq!(app.paths(&tenant, &format!("q={q}")).await, [path], "q={q}");
    }
    assert!(app.paths(&tenant, "q=nowhere-to-be-found").await.is_empty());
}

#[tokio::test]
async fn a_text_search_says_how_far_back_it_read_and_its_cursor_reads_on() {
    let app = TestApp::start().await;
    let tenant = app.tenant("ada@example.com").await;
    // The oldest call has the text; a whole search window of newer calls does not.
    let start = OffsetDateTime::now_utc() - time::Duration::hours(1);
    let window = SEARCH_WINDOW;
    let calls: Vec<NewCall> = (0..=window)
        .map(|i| NewCall {
            workspace_id: tenant.workspace,
            path: if i == 0 { "/needle" } else { "/hay" }.to_owned(),
            ..stored_call(tenant.mock, start + time::Duration::milliseconds(i as i64))
        })
        .collect();
    for batch in calls.chunks(5000) {
        app.store()
            .insert_calls(&encoded(batch), &[])
            .await
            .unwrap();
    }

    let search = format!("/api/v1/mocks/{}/calls?q=NEEDLE", tenant.mock);
    let (status, first) = app.get(&search, &tenant.key).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["calls"], json!([]));
    assert!(first["searched_back_to"].is_string(), "{first}");
    let cursor = first["next_cursor"].as_str().expect("a cursor to read on");
    let (_, second) = app
        .get(&format!("{search}&cursor={cursor}"), &tenant.key)
        .await;
    assert_eq!(second["calls"][0]["path"], "/needle", "{second}");
    assert!(second.get("searched_back_to").is_none(), "{second}");

    // The call log page says the same, with a button that searches older calls.
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let signed_in = browser
        .post(format!("{}/api/v1/sessions", app.base))
        .json(&json!({"email": "ada@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert!(signed_in.status().is_success(), "{}", signed_in.status());
    let page = browser
        .get(format!("{}/mocks/{}/calls?q=needle", app.base, tenant.mock))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Searched back to"), "{page}");
    assert!(page.contains("Search older calls"), "{page}");
    assert!(!page.contains("/needle"), "{page}");
}

#[tokio::test]
async fn pages_follow_the_cursor_newest_first_without_gaps_or_repeats() {
    let app = TestApp::start().await;
    let tenant = app.tenant("ada@example.com").await;
    let start = OffsetDateTime::now_utc() - time::Duration::minutes(10);
    for i in 0..7 {
        app.call_log.record(CallRecord {
            at: start + time::Duration::seconds(i),
            ..record(&tenant, &format!("/items/{i}"))
        });
    }
    // Two calls at the same instant: the id breaks the tie, and paging keeps both.
    let same = start + time::Duration::seconds(3);
    app.call_log.record(CallRecord {
        at: same,
        ..record(&tenant, "/items/3b")
    });
    app.wait_for(&tenant, "", 8).await;

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = format!("/api/v1/mocks/{}/calls?limit=3", tenant.mock);
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let (status, page) = app.get(&path, &tenant.key).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        pages += 1;
        for call in page["calls"].as_array().unwrap() {
            seen.push(call["path"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let (three, three_b) = (seen[3].clone(), seen[4].clone());
    assert_eq!(
        [&seen[..3], &seen[5..]].concat(),
        [
            "/items/6", "/items/5", "/items/4", "/items/2", "/items/1", "/items/0"
        ]
    );
    let mut tied = [three, three_b];
    tied.sort();
    assert_eq!(tied, ["/items/3", "/items/3b"]);
}

#[tokio::test]
async fn a_call_in_full_has_its_secrets_redacted_its_bodies_capped_and_its_callbacks() {
    let app = TestApp::start_with(CallLogOptions {
        flush_interval: Duration::from_millis(20),
        body_cap: 16,
        ..CallLogOptions::default()
    })
    .await;
    let tenant = app.tenant("ada@example.com").await;
    let call = CallRecord {
        method: "POST".to_owned(),
        query: "page=2".to_owned(),
        request_headers: vec![
            ("x-api-key".into(), "lb_secret_key".into()),
            ("Authorization".into(), "Bearer lb_secret_token".into()),
            ("proxy-authorization".into(), "Basic c2VjcmV0".into()),
            ("cookie".into(), "session=abc123; theme=dark".into()),
            ("content-type".into(), "text/plain".into()),
        ],
        // 20 bytes, cut to the first 16...
        request_body: Bytes::from("0123456789abcdefghij"),
        response_headers: vec![(
            "set-cookie".into(),
            "session=xyz789; Path=/; HttpOnly".into(),
        )],
        // ...and here the 16th byte is the first half of "é", so the cut moves before it.
        response_body: Bytes::from("012345678901234é and more"),
        callbacks: 1,
        ..record(&tenant, "/orders")
    };
    let id = call.id;
    app.call_log.record(call);
    app.call_log.record(CallRecord {
        request_body: Bytes::from_static(&[0xff, 0x00, 0x10]),
        ..record(&tenant, "/binary")
    });
    app.call_log.record_callback(
        id,
        CallbackResult {
            url: "http://127.0.0.1:9/hook".to_owned(),
            method: "POST".to_owned(),
            at: OffsetDateTime::now_utc(),
            status: Some(202),
            latency_us: 1500,
            error: None,
        },
    );
    let calls = app.wait_for(&tenant, "", 2).await;

    let (status, detail) = app
        .get(
            &format!("/api/v1/mocks/{}/calls/{id}", tenant.mock),
            &tenant.key,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    let text = detail.to_string();
    for secret in ["lb_secret", "c2VjcmV0", "abc123", "xyz789"] {
        assert!(!text.contains(secret), "{secret} in {detail}");
    }
    let headers = &detail["request"]["headers"];
    assert_eq!(headers[0], json!(["x-api-key", "[redacted]"]));
    assert_eq!(headers[1], json!(["Authorization", "[redacted]"]));
    assert_eq!(
        headers[3],
        json!(["cookie", "session=[redacted]; theme=[redacted]"])
    );
    assert_eq!(headers[4], json!(["content-type", "text/plain"]));
    assert_eq!(
        detail["response"]["headers"][0],
        json!(["set-cookie", "session=[redacted]; Path=/; HttpOnly"])
    );
    assert_eq!(
        detail["request"]["body"],
        json!({"text": "0123456789abcdef", "encoding": "utf8", "size": 20, "truncated": true})
    );
    assert_eq!(detail["response"]["body"]["text"], "012345678901234");
    assert_eq!(detail["response"]["body"]["truncated"], true);
    assert_eq!(detail["body_cap"], 16);
    assert_eq!(detail["query"], "page=2");
    assert_eq!(detail["outcome"], "matched");
    assert_eq!(detail["example_name"], "ok");
    assert_eq!(detail["explanation"]["by"], "level");
    assert_eq!(detail["client_addr"], "127.0.0.1");
    assert_eq!(detail["callbacks_queued"], 1);
    assert_eq!(detail["callbacks"][0]["status"], 202);
    assert_eq!(detail["callbacks"][0]["url"], "http://127.0.0.1:9/hook");

    let binary = calls.iter().find(|c| c["path"] == "/binary").unwrap();
    let (_, detail) = app
        .get(
            &format!(
                "/api/v1/mocks/{}/calls/{}",
                tenant.mock,
                binary["id"].as_str().unwrap()
            ),
            &tenant.key,
        )
        .await;
    assert_eq!(
        detail["request"]["body"],
        json!({"text": "/wAQ", "encoding": "base64", "size": 3, "truncated": false})
    );

    let (status, _) = app
        .get(
            &format!("/api/v1/mocks/{}/calls/{}", tenant.mock, Uuid::now_v7()),
            &tenant.key,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn clearing_removes_the_calls_of_that_mock_only() {
    let app = TestApp::start().await;
    let tenant = app.tenant("ada@example.com").await;
    let other = Tenant {
        mock: app.create_mock(&tenant.key, json!({"name": "other"})).await,
        key: tenant.key.clone(),
        workspace: tenant.workspace,
    };
    for i in 0..3 {
        app.call_log.record(record(&tenant, &format!("/a/{i}")));
    }
    app.call_log.record(record(&other, "/b"));
    app.wait_for(&tenant, "", 3).await;
    app.wait_for(&other, "", 1).await;

    let path = format!("/api/v1/mocks/{}/calls", tenant.mock);
    let (status, body) = app.call(Method::DELETE, &path, &tenant.key).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(app.paths(&tenant, "").await.is_empty());
    assert_eq!(app.paths(&other, "").await, ["/b"]);
}

#[tokio::test]
async fn bad_filters_are_refused_naming_the_parameter() {
    let app = TestApp::start().await;
    let tenant = app.tenant("ada@example.com").await;
    for (query, field) in [
        ("status=6xx", "status"),
        ("status=abc", "status"),
        ("matched=maybe", "matched"),
        ("from=yesterday", "from"),
        ("to=2026-13-01T00:00:00Z", "to"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        ("method=G%20T", "method"),
    ] {
        let path = format!("/api/v1/mocks/{}/calls?{query}", tenant.mock);
        let (status, body) = app.get(&path, &tenant.key).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
    let path = format!("/api/v1/mocks/{}/calls/export?format=csv", tenant.mock);
    let (status, body) = app.get(&path, &tenant.key).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "format");
}

#[tokio::test]
async fn every_calls_endpoint_answers_404_for_another_workspaces_mock() {
    let app = TestApp::start().await;
    let owner = app.tenant("ada@example.com").await;
    let intruder = app.tenant("eve@example.com").await;
    let call = record(&owner, "/private");
    let id = call.id;
    app.call_log.record(call);
    app.wait_for(&owner, "", 1).await;

    let base = format!("/api/v1/mocks/{}/calls", owner.mock);
    for (method, path) in [
        (Method::GET, base.clone()),
        (Method::GET, format!("{base}/{id}")),
        (Method::GET, format!("{base}/stream")),
        (Method::GET, format!("{base}/export?format=ndjson")),
        (Method::GET, format!("{base}/export?format=har")),
        (Method::DELETE, base.clone()),
    ] {
        let (status, body) = app.call(method.clone(), &path, &intruder.key).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
        assert_eq!(body["error"]["code"], "not_found");
    }
    // The intruder's own mock does not reach the owner's call either.
    let path = format!("/api/v1/mocks/{}/calls/{id}", intruder.mock);
    let (status, _) = app.get(&path, &intruder.key).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(app.paths(&owner, "").await, ["/private"]);
}

#[tokio::test]
async fn the_live_tail_receives_a_call_recorded_after_subscribing() {
    let app = TestApp::start().await;
    let tenant = app.tenant("ada@example.com").await;
    let other = app.tenant("eve@example.com").await;
    let mut response = app
        .client
        .get(format!(
            "{}/api/v1/mocks/{}/calls/stream",
            app.base, tenant.mock
        ))
        .bearer_auth(&tenant.key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    // Another tenant's call first: the tail must not show it.
    app.call_log.record(record(&other, "/not-yours"));
    let call = no_match(&tenant, "/live");
    let id = call.id;
    app.call_log.record(call);

    let mut received = String::new();
    let event = tokio::time::timeout(GUARD, async {
        loop {
            let chunk = response.chunk().await.unwrap().expect("the stream ended");
            received.push_str(&String::from_utf8_lossy(&chunk));
            if let Some(at) = received.find("\n\n")
                && received[..at].contains("event: call")
            {
                return received[..at].to_owned();
            }
        }
    })
    .await
    .expect("no event arrived");
    assert!(!event.contains("/not-yours"), "{event}");
    assert!(event.contains(&format!("id: {id}")), "{event}");
    let data = event
        .lines()
        .find_map(|line| line.strip_prefix("data: "))
        .unwrap();
    let summary: Value = serde_json::from_str(data).unwrap();
    assert_eq!(summary["path"], "/live");
    assert_eq!(summary["outcome"], "no_match");
    assert_eq!(summary["matched"], false);
    assert_eq!(summary["status"], 404);

    // Shutting the log down ends the stream.
    app.call_log.close_live_tails();
    let rest = tokio::time::timeout(GUARD, async {
        while let Some(chunk) = response.chunk().await.unwrap() {
            assert!(!String::from_utf8_lossy(&chunk).contains("event: call"));
        }
    })
    .await;
    assert!(rest.is_ok(), "the stream did not end");
}

#[tokio::test]
async fn ndjson_export_has_every_matching_call_one_per_line() {
    let app = TestApp::start().await;
    let tenant = app.tenant("ada@example.com").await;
    // More than one page of the export (200), so the paging inside is exercised.
    for i in 0..230 {
        app.call_log.record(record(&tenant, &format!("/n/{i}")));
    }
    app.call_log.record(no_match(&tenant, "/missing"));
    app.wait_for(&tenant, "matched=true", 200).await;
    let deadline = tokio::time::Instant::now() + GUARD;
    let lines = loop {
        let (status, text) = app
            .text(
                &format!(
                    "/api/v1/mocks/{}/calls/export?format=ndjson&path_prefix=/n/",
                    tenant.mock
                ),
                &tenant.key,
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let lines: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        if lines.len() == 230 || tokio::time::Instant::now() > deadline {
            break lines;
        }
    };
    assert_eq!(lines.len(), 230);
    let mut paths: Vec<&str> = lines.iter().map(|l| l["path"].as_str().unwrap()).collect();
    paths.sort();
    paths.dedup();
    assert_eq!(paths.len(), 230);
    assert_eq!(lines[0]["response"]["body"]["text"], "{\"ok\":true}");
    assert_eq!(
        lines[0]["request"]["headers"][0],
        json!(["accept", "application/json"])
    );
}

#[tokio::test]
async fn har_export_imports_back_as_a_mock_answering_the_same() {
    let app = TestApp::start().await;
    let tenant = app.tenant("ada@example.com").await;
    app.call_log.record(CallRecord {
        query: "q=shoes&page=2".to_owned(),
        response_body: Bytes::from_static(b"{\"items\":[]}"),
        ..record(&tenant, "/search")
    });
    app.call_log.record(CallRecord {
        method: "POST".to_owned(),
        status: 201,
        request_headers: vec![("content-type".into(), "application/json".into())],
        request_body: Bytes::from_static(b"{\"name\":\"Ada\"}"),
        response_body: Bytes::from_static(b"{\"id\":7}"),
        ..record(&tenant, "/users")
    });
    app.wait_for(&tenant, "", 2).await;

    let (status, har) = app
        .text(
            &format!("/api/v1/mocks/{}/calls/export?format=har", tenant.mock),
            &tenant.key,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let document: Value = serde_json::from_str(&har).unwrap();
    assert_eq!(document["log"]["version"], "1.2");
    assert_eq!(document["log"]["entries"].as_array().unwrap().len(), 2);

    let imported = lyrebird_import::har::import(har.as_bytes()).unwrap();
    assert_eq!(imported.examples.len(), 2, "{:?}", imported.warnings);
    let search = imported
        .examples
        .iter()
        .find(|e| e.request.path == "/search")
        .unwrap();
    assert_eq!(search.request.method.as_deref(), Some("GET"));
    assert_eq!(search.request.query.len(), 2);
    assert_eq!(search.response.status, 200);
    let users = imported
        .examples
        .iter()
        .find(|e| e.request.path == "/users")
        .unwrap();
    assert_eq!(users.request.method.as_deref(), Some("POST"));
    assert_eq!(users.response.status, 201);
    let body = users.response.body.clone().unwrap();
    let body = match body {
        Value::String(text) => serde_json::from_str(&text).unwrap(),
        json => json,
    };
    assert_eq!(body, json!({"id": 7}));
}

#[tokio::test]
async fn shutdown_writes_every_queued_call() {
    let app = TestApp::start_with(CallLogOptions {
        // A long interval: only the shutdown's flush writes the last batch in time.
        flush_interval: Duration::from_secs(3600),
        ..CallLogOptions::default()
    })
    .await;
    let tenant = app.tenant("ada@example.com").await;
    for i in 0..1234 {
        app.call_log.record(record(&tenant, &format!("/s/{i}")));
    }
    app.call_log.shutdown().await;
    let count = logged_calls(app.store(), tenant.mock).await;
    assert_eq!(count, 1234);
    assert_eq!(app.call_log.dropped(), 0);
}

#[tokio::test]
async fn a_full_queue_drops_calls_instead_of_waiting() {
    let app = TestApp::start_with(CallLogOptions {
        queue_capacity: 10,
        batch_size: 10,
        flush_interval: Duration::from_millis(20),
        ..CallLogOptions::default()
    })
    .await;
    let tenant = app.tenant("ada@example.com").await;
    // Recorded from a thread outside the runtime, faster than any database: some must drop,
    // and record returns every time.
    let log = app.call_log.clone();
    let records: Vec<CallRecord> = (0..5000)
        .map(|i| record(&tenant, &format!("/f/{i}")))
        .collect();
    std::thread::spawn(move || {
        for call in records {
            log.record(call);
        }
    })
    .join()
    .unwrap();
    app.call_log.shutdown().await;
    let dropped = app.call_log.dropped();
    assert!(dropped > 0);
    let count = logged_calls(app.store(), tenant.mock).await;
    assert_eq!(count as u64 + dropped, 5000);
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

#[tokio::test]
async fn mock_calls_are_logged_with_their_outcome_explanation_and_secrets_redacted() {
    let app = TestApp::start().await;
    let tenant = app.tenant("ada@example.com").await;
    app.add_example(&tenant, hello_example()).await;

    let response = app
        .mock_request(&tenant, Method::GET, "/hello?lang=en")
        .header("authorization", "Bearer caller-secret")
        .header("cookie", "sid=cookie-secret; theme=dark")
        .header("x-trace", "trace-7")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .mock_request(&tenant, Method::DELETE, "/nope")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let calls = app.wait_for(&tenant, "", 2).await;
    assert_eq!(calls[0]["path"], "/nope");
    assert_eq!(calls[0]["outcome"], "no_match");
    assert_eq!(calls[0]["status"], 404);
    assert_eq!(calls[1]["path"], "/hello");
    assert_eq!(calls[1]["query"], "lang=en");
    assert_eq!(calls[1]["matched"], true);
    assert_eq!(calls[1]["example_name"], "hello");
    assert_eq!(calls[1]["client_addr"], "127.0.0.1");
    assert_eq!(
        app.paths(&tenant, "matched=false&method=DELETE").await,
        ["/nope"]
    );
    assert_eq!(app.paths(&tenant, "q=trace-7").await, ["/hello"]);
    assert_eq!(app.paths(&tenant, "q=lang%3Den").await, ["/hello"]);

    let detail_of = |call: &Value| {
        format!(
            "/api/v1/mocks/{}/calls/{}",
            tenant.mock,
            call["id"].as_str().unwrap()
        )
    };
    let (status, hello) = app.get(&detail_of(&calls[1]), &tenant.key).await;
    assert_eq!(status, StatusCode::OK);
    let text = hello.to_string();
    for secret in ["caller-secret", "cookie-secret", "server-secret"] {
        assert!(!text.contains(secret), "{secret} in {hello}");
    }
    let request_headers = hello["request"]["headers"].as_array().unwrap();
    assert!(request_headers.contains(&json!(["cookie", "sid=[redacted]; theme=[redacted]"])));
    assert!(request_headers.contains(&json!(["authorization", "[redacted]"])));
    let body: Value =
        serde_json::from_str(hello["response"]["body"]["text"].as_str().unwrap()).unwrap();
    assert_eq!(body, json!({"hello": "world"}));
    assert!(hello["explanation"].is_object(), "{hello}");

    let (_, nope) = app.get(&detail_of(&calls[0]), &tenant.key).await;
    let explained = nope["explanation"].to_string();
    assert!(
        explained.contains("hello"),
        "the closest example is named: {nope}"
    );
}

#[tokio::test]
async fn a_large_request_body_is_logged_up_to_the_cap_with_its_size() {
    let app = TestApp::start_with(CallLogOptions {
        flush_interval: Duration::from_millis(20),
        body_cap: 1000,
        ..CallLogOptions::default()
    })
    .await;
    let tenant = app.tenant("ada@example.com").await;
    let response = app
        .mock_request(&tenant, Method::POST, "/upload")
        .body("x".repeat(5000))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let calls = app.wait_for(&tenant, "", 1).await;
    let path = format!(
        "/api/v1/mocks/{}/calls/{}",
        tenant.mock,
        calls[0]["id"].as_str().unwrap()
    );
    let (_, detail) = app.get(&path, &tenant.key).await;
    let body = &detail["request"]["body"];
    assert_eq!(body["size"], 5000);
    assert_eq!(body["truncated"], true);
    assert_eq!(body["text"].as_str().unwrap().len(), 1000);
}

#[tokio::test]
async fn refused_calls_of_a_private_mock_are_logged_too() {
    let app = TestApp::start().await;
    let tenant = app.tenant("ada@example.com").await;
    let private = Tenant {
        mock: app
            .create_mock(&tenant.key, json!({"name": "private", "private": true}))
            .await,
        key: tenant.key.clone(),
        workspace: tenant.workspace,
    };
    let response = app
        .mock_request(&private, Method::GET, "/hello")
        .header("x-api-key", "lb_wrong_key")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let calls = app.wait_for(&private, "", 1).await;
    assert_eq!(calls[0]["outcome"], "refused");
    assert_eq!(calls[0]["status"], 401);
    let path = format!(
        "/api/v1/mocks/{}/calls/{}",
        private.mock,
        calls[0]["id"].as_str().unwrap()
    );
    let (_, detail) = app.get(&path, &private.key).await;
    assert!(!detail.to_string().contains("lb_wrong_key"), "{detail}");
}

#[tokio::test]
async fn the_live_tail_shows_a_mock_call_made_after_subscribing() {
    let app = TestApp::start().await;
    let tenant = app.tenant("ada@example.com").await;
    app.add_example(&tenant, hello_example()).await;
    let mut stream = app
        .client
        .get(format!(
            "{}/api/v1/mocks/{}/calls/stream",
            app.base, tenant.mock
        ))
        .bearer_auth(&tenant.key)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let response = app
        .mock_request(&tenant, Method::GET, "/hello")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut received = String::new();
    tokio::time::timeout(GUARD, async {
        while !received.contains("\"path\":\"/hello\"") {
            let chunk = stream.chunk().await.unwrap().expect("the stream ended");
            received.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .expect("the call did not arrive on the tail");
    assert!(received.contains("event: call"), "{received}");
}

/// A call for the store alone, at `at`.
fn stored_call(mock: MockId, at: OffsetDateTime) -> NewCall {
    NewCall {
        id: Uuid::now_v7(),
        outcome: CallOutcomeKind::OverQuota,
        ..lyrebird_store::testing::call(WorkspaceId::generate(), mock, at)
    }
}

/// The name of the monthly partition holding `at`.
fn partition_of(at: OffsetDateTime) -> String {
    format!("call_blocks_p{:04}{:02}", at.year(), u8::from(at.month()))
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

async fn partition_exists(store: &Store, name: &str) -> bool {
    sqlx::query_scalar::<_, bool>("SELECT to_regclass($1) IS NOT NULL")
        .bind(name)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn calls_land_in_monthly_partitions_created_ahead() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let now = OffsetDateTime::now_utc();
    let next_month = now + time::Duration::days(32 - i64::from(now.day()));
    assert!(partition_exists(store, &partition_of(now)).await);
    assert!(partition_exists(store, &partition_of(next_month)).await);

    // A month ahead: created by the hourly maintenance when the month turns.
    let later = now + time::Duration::days(80);
    assert!(!partition_exists(store, &partition_of(later)).await);
    store.ensure_call_partitions(later).await.unwrap();
    store.ensure_call_partitions(later).await.unwrap();
    assert!(partition_exists(store, &partition_of(later)).await);

    let mock = MockId::generate();
    let call = stored_call(mock, now);
    store
        .insert_calls(&encoded(std::slice::from_ref(&call)), &[])
        .await
        .unwrap();
    // Writing the same batch again (a retry after a lost answer) adds nothing.
    store.insert_calls(&encoded(&[call]), &[]).await.unwrap();
    let partitions: Vec<String> =
        sqlx::query_scalar("SELECT tableoid::regclass::text FROM call_blocks WHERE mock_id = $1")
            .bind(mock)
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(partitions, [partition_of(now)]);
}

#[tokio::test]
async fn retention_drops_whole_old_months_and_deletes_older_calls_of_the_month_it_cuts() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let now = OffsetDateTime::now_utc();
    let day = time::Duration::days(1);
    for months_ago in [4, 3, 2] {
        store
            .ensure_call_partitions(now - day * (31 * months_ago))
            .await
            .unwrap();
    }
    let mock = MockId::generate();
    let ages = [120, 95, 70, 45, 41, 39, 10, 0];
    let calls: Vec<NewCall> = ages
        .iter()
        .map(|days| stored_call(mock, now - day * *days))
        .collect();
    store.insert_calls(&encoded(&calls), &[]).await.unwrap();

    let cutoff = now - day * 40;
    let report = store.apply_call_retention(cutoff).await.unwrap();
    let old = partition_of(now - day * 120);
    assert!(report.dropped_partitions.contains(&old), "{report:?}");
    assert!(!partition_exists(store, &old).await);
    // The month the cut-off falls in is kept, with its older calls deleted.
    assert!(partition_exists(store, &partition_of(cutoff)).await);
    assert!(!report.dropped_partitions.contains(&partition_of(cutoff)));
    // The block the cut-off falls in was written again without its older call.
    let kept = lyrebird_store::testing::blocks_of(store, mock).await;
    let oldest_kept = (now - kept[0].0).whole_days();
    let kept_calls: i32 = kept.iter().map(|(_, _, calls)| calls).sum();
    assert_eq!((oldest_kept, kept_calls), (39, 3), "{kept:?}");
}

/// A data directory of its own for a private PostgreSQL cluster, under cargo's temporary
/// directory (reachable by the `postgres` user when the tests run as root). Dropping it stops
/// a cluster left running in it and removes it.
struct ClusterDir(std::path::PathBuf);

impl ClusterDir {
    fn new() -> Self {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("lyrebird-calls-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn options(&self) -> EmbeddedOptions {
        EmbeddedOptions {
            durable: false,
            ..EmbeddedOptions::new(&self.0)
        }
    }
}

impl Drop for ClusterDir {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(self.0.join("postgres/postmaster.pid"))
            .ok()
            .and_then(|text| text.lines().next()?.trim().parse::<u32>().ok());
        if let Some(pid) = pid {
            let _ = std::process::Command::new("kill")
                .args(["-QUIT", &pid.to_string()])
                .status();
            for _ in 0..100 {
                if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn mocks_keep_answering_while_postgres_restarts_and_their_calls_are_written_afterwards() {
    let dir = ClusterDir::new();
    let postgres = EmbeddedPostgres::start(&dir.options()).await.unwrap();
    let store = Store::connect(postgres.connect_options()).await.unwrap();
    let app = TestApp::start_on(
        store,
        CallLogOptions {
            flush_interval: Duration::from_millis(20),
            ..CallLogOptions::default()
        },
        None,
    )
    .await;
    let tenant = app.tenant("ada@example.com").await;
    app.add_example(&tenant, hello_example()).await;
    let call = || async {
        app.mock_request(&tenant, Method::GET, "/hello")
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(call().await, StatusCode::OK);
    app.wait_for(&tenant, "", 1).await;

    postgres.stop().await.unwrap();
    for _ in 0..30 {
        assert_eq!(call().await, StatusCode::OK);
    }
    // The calls wait in the writer's batch and queue, none dropped.
    assert_eq!(app.call_log.dropped(), 0);

    let postgres = EmbeddedPostgres::start(&dir.options()).await.unwrap();
    app.wait_for(&tenant, "", 31).await;
    app.call_log.shutdown().await;
    app.store().close().await;
    postgres.stop().await.unwrap();
}

/// `lyrebird serve` on a free loopback port with this database; the address it listens on.
fn start_binary(database_url: &str) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_lyrebird"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "info")
        .env_remove("LYREBIRD_BASE_HOST")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            eprintln!("[lyrebird] {line}");
            if let Some(listen) = line.split("listen=").nth(1) {
                let address = listen.split_whitespace().next().unwrap_or_default();
                let _ = sender.send(address.to_owned());
            }
        }
    });
    let address = receiver
        .recv_timeout(GUARD)
        .expect("lyrebird did not start");
    (child, format!("http://{address}"))
}

#[tokio::test]
async fn a_graceful_shutdown_writes_every_call_answered_before_it() {
    let db = TestDatabase::new().await;
    let (mut child, base) = start_binary(&db.url());
    let client = reqwest::Client::new();
    let account: Value = client
        .post(format!("{base}/api/v1/accounts"))
        .json(&json!({"email": "ada@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = account["api_key"].as_str().unwrap();
    let mock: Value = client
        .post(format!("{base}/api/v1/mocks"))
        .bearer_auth(key)
        .json(&json!({"name": "shop"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mock = mock["id"].as_str().unwrap();
    let response = client
        .post(format!("{base}/api/v1/mocks/{mock}/examples"))
        .bearer_auth(key)
        .json(&hello_example())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);

    const CALLS: usize = 500;
    for _ in 0..CALLS {
        let response = client
            .get(format!("{base}/m/{mock}/hello"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status}");

    let mock: MockId = mock.parse().unwrap();
    assert_eq!(logged_calls(db.store(), mock).await, CALLS as i64);
}

//! Callbacks against real receivers on loopback: the worker alone (what arrives, when, and what
//! is recorded when it cannot be sent), then through a mock whose template asks for one, with the
//! result found in the call log. Every address these tests send to is on 127.0.0.1 or ::1.

#[path = "support/in_process.rs"]
mod in_process;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::IntoResponse;
use in_process::Options;
use lyrebird_engine::render::Callback;
use lyrebird_runtime::call_log::{CallLogOptions, CallbackResult};
use lyrebird_runtime::callbacks::{CallbackOptions, Callbacks};
use lyrebird_runtime::network::AllowList;
use lyrebird_store::WorkspaceId;
use lyrebird_store::testing::TestDatabase;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, mpsc};
use uuid::Uuid;

/// One request as a receiver saw it.
#[derive(Debug)]
struct Received {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
    at: Instant,
}

/// What a receiver's handler shares: where it reports, and a gate that holds requests until the
/// test opens it (open from the start unless a test wants to hold them).
#[derive(Clone)]
struct Hub {
    requests: mpsc::UnboundedSender<Received>,
    gate: Arc<Semaphore>,
    in_flight: Arc<AtomicUsize>,
    most_in_flight: Arc<AtomicUsize>,
}

struct Receiver {
    address: SocketAddr,
    requests: mpsc::UnboundedReceiver<Received>,
    hub: Hub,
}

impl Receiver {
    /// A receiver on 127.0.0.1 answering 202, except `/redirect` (302 to `/target`).
    async fn start() -> Self {
        let (sender, requests) = mpsc::unbounded_channel();
        let hub = Hub {
            requests: sender,
            gate: Arc::new(Semaphore::new(Semaphore::MAX_PERMITS)),
            in_flight: Arc::default(),
            most_in_flight: Arc::default(),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let app = Router::new().fallback(receive).with_state(hub.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            address,
            requests,
            hub,
        }
    }

    /// Holds every request until [`Receiver::release`].
    fn hold(&self) {
        self.hub.gate.forget_permits(Semaphore::MAX_PERMITS);
    }

    fn release(&self) {
        self.hub.gate.add_permits(Semaphore::MAX_PERMITS);
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }
}

async fn receive(
    State(hub): State<Hub>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let at = Instant::now();
    let now = hub.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    hub.most_in_flight.fetch_max(now, Ordering::SeqCst);
    let path = uri.path().to_owned();
    hub.requests
        .send(Received {
            method,
            path: path.clone(),
            headers,
            body,
            at,
        })
        .unwrap();
    drop(hub.gate.acquire().await.unwrap());
    hub.in_flight.fetch_sub(1, Ordering::SeqCst);
    if path == "/redirect" {
        (StatusCode::FOUND, [(header::LOCATION, "/target")]).into_response()
    } else {
        StatusCode::ACCEPTED.into_response()
    }
}

/// A worker whose results come out of the returned channel.
fn worker(
    options: CallbackOptions,
) -> (Callbacks, mpsc::UnboundedReceiver<(Uuid, CallbackResult)>) {
    let (sender, results) = mpsc::unbounded_channel();
    let callbacks = Callbacks::start(options, move |call, result| {
        sender.send((call, result)).unwrap();
    })
    .unwrap();
    (callbacks, results)
}

/// The workspace the worker's own tests queue callbacks for.
fn ours() -> WorkspaceId {
    Uuid::nil().into()
}

fn allowing(list: &str) -> CallbackOptions {
    CallbackOptions {
        allow: list.parse::<AllowList>().unwrap(),
        ..CallbackOptions::default()
    }
}

fn post(url: String) -> Callback {
    Callback {
        url,
        method: "POST".into(),
        headers: Vec::new(),
        body: String::new(),
        delay_ms: 0,
    }
}

/// The one result the worker recorded for `call`.
async fn result_of(
    call: Uuid,
    results: &mut mpsc::UnboundedReceiver<(Uuid, CallbackResult)>,
) -> CallbackResult {
    let (id, result) = results.recv().await.unwrap();
    assert_eq!(id, call);
    result
}

#[tokio::test]
async fn an_allowed_receiver_gets_the_method_headers_and_body_after_the_delay() {
    let mut receiver = Receiver::start().await;
    let (callbacks, mut results) = worker(allowing("127.0.0.1"));
    let call = Uuid::now_v7();
    let enqueued = Instant::now();
    let enqueued_at = time::OffsetDateTime::now_utc();
    callbacks.enqueue(
        ours(),
        call,
        vec![Callback {
            method: "PUT".into(),
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("X-Order".into(), "42".into()),
            ],
            body: r#"{"order":"42","state":"shipped"}"#.into(),
            delay_ms: 300,
            ..post(receiver.url("/hooks/orders"))
        }],
    );

    let received = receiver.requests.recv().await.unwrap();
    assert_eq!(received.method, Method::PUT);
    assert_eq!(received.path, "/hooks/orders");
    assert_eq!(received.headers["x-order"], "42");
    assert_eq!(received.headers["content-type"], "application/json");
    assert_eq!(&received.body[..], br#"{"order":"42","state":"shipped"}"#);
    assert!(
        received.at.duration_since(enqueued) >= Duration::from_millis(300),
        "sent before its delay ran out"
    );

    let result = result_of(call, &mut results).await;
    assert_eq!(result.url, receiver.url("/hooks/orders"));
    assert_eq!(result.method, "PUT");
    assert_eq!(result.status, Some(202));
    assert_eq!(result.error, None);
    assert!(result.at - enqueued_at >= time::Duration::milliseconds(300));
}

#[tokio::test]
async fn a_callback_to_loopback_is_refused_and_recorded_without_the_allow_list() {
    let mut receiver = Receiver::start().await;
    let (callbacks, mut results) = worker(CallbackOptions::default());
    let call = Uuid::now_v7();
    callbacks.enqueue(ours(), call, vec![post(receiver.url("/hooks"))]);

    let result = result_of(call, &mut results).await;
    assert_eq!(result.status, None);
    let error = result.error.unwrap();
    assert!(
        error.starts_with("refused: 127.0.0.1 is a loopback address"),
        "{error}"
    );
    assert!(
        receiver.requests.try_recv().is_err(),
        "the receiver was reached"
    );
}

#[tokio::test]
async fn an_ipv6_loopback_literal_is_refused() {
    let (callbacks, mut results) = worker(allowing("127.0.0.1"));
    let call = Uuid::now_v7();
    callbacks.enqueue(ours(), call, vec![post("http://[::1]:9/hooks".into())]);

    let error = result_of(call, &mut results).await.error.unwrap();
    assert!(
        error.starts_with("refused: ::1 is a loopback address"),
        "{error}"
    );
}

#[tokio::test]
async fn a_host_name_that_resolves_to_loopback_is_refused() {
    let mut receiver = Receiver::start().await;
    let (callbacks, mut results) = worker(allowing("10.0.0.0/8"));
    let call = Uuid::now_v7();
    let url = format!("http://localhost:{}/hooks", receiver.address.port());
    callbacks.enqueue(ours(), call, vec![post(url)]);

    let result = result_of(call, &mut results).await;
    assert_eq!(result.status, None);
    let error = result.error.unwrap();
    assert!(
        error.starts_with("refused: localhost resolves to "),
        "{error}"
    );
    assert!(error.contains("a loopback address"), "{error}");
    assert!(
        receiver.requests.try_recv().is_err(),
        "the receiver was reached"
    );
}

#[tokio::test]
async fn a_host_name_on_the_allow_list_may_resolve_to_loopback() {
    let mut receiver = Receiver::start().await;
    let (callbacks, mut results) = worker(allowing("LocalHost"));
    let call = Uuid::now_v7();
    let url = format!("http://localhost:{}/ping", receiver.address.port());
    callbacks.enqueue(ours(), call, vec![post(url)]);

    assert_eq!(receiver.requests.recv().await.unwrap().path, "/ping");
    assert_eq!(result_of(call, &mut results).await.status, Some(202));
}

#[tokio::test]
async fn a_receiver_that_does_not_answer_in_time_is_recorded_as_a_timeout() {
    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let (callbacks, mut results) = worker(CallbackOptions {
        timeout: Duration::from_millis(200),
        ..allowing("127.0.0.1")
    });
    let call = Uuid::now_v7();
    callbacks.enqueue(ours(), call, vec![post(format!("http://{address}/slow"))]);

    let result = result_of(call, &mut results).await;
    assert_eq!(result.status, None);
    assert_eq!(result.error.as_deref(), Some("timed out after 200 ms"));
}

#[tokio::test]
async fn a_refused_connection_is_recorded_with_its_cause() {
    // A port that was free a moment ago: nothing listens there.
    let address = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let (callbacks, mut results) = worker(allowing("127.0.0.1"));
    let call = Uuid::now_v7();
    callbacks.enqueue(ours(), call, vec![post(format!("http://{address}/gone"))]);

    let result = result_of(call, &mut results).await;
    assert_eq!(result.status, None);
    let error = result.error.unwrap();
    assert!(error.contains("Connection refused"), "{error}");
    assert!(error.contains(&format!("http://{address}/gone")), "{error}");
}

#[tokio::test]
async fn redirects_are_recorded_not_followed() {
    let mut receiver = Receiver::start().await;
    let (callbacks, mut results) = worker(allowing("127.0.0.1"));
    let call = Uuid::now_v7();
    callbacks.enqueue(ours(), call, vec![post(receiver.url("/redirect"))]);

    assert_eq!(result_of(call, &mut results).await.status, Some(302));
    assert_eq!(receiver.requests.recv().await.unwrap().path, "/redirect");
    assert!(
        receiver.requests.try_recv().is_err(),
        "the redirect was followed"
    );
}

#[tokio::test]
async fn no_more_callbacks_than_the_concurrency_are_sent_at_once() {
    let mut receiver = Receiver::start().await;
    receiver.hold();
    let (callbacks, mut results) = worker(CallbackOptions {
        concurrency: 2,
        ..allowing("127.0.0.1")
    });
    let call = Uuid::now_v7();
    callbacks.enqueue(ours(), call, vec![post(receiver.url("/hooks")); 5]);

    receiver.requests.recv().await.unwrap();
    receiver.requests.recv().await.unwrap();
    // Time for any callback beyond the bound to arrive too, were it sent.
    tokio::time::sleep(Duration::from_millis(200)).await;
    receiver.release();
    for _ in 0..5 {
        assert_eq!(result_of(call, &mut results).await.status, Some(202));
    }
    assert_eq!(receiver.hub.most_in_flight.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn past_the_capacity_a_callback_is_recorded_as_not_sent() {
    let receiver = Receiver::start().await;
    let (callbacks, mut results) = worker(CallbackOptions {
        capacity: 1,
        ..allowing("127.0.0.1")
    });
    let call = Uuid::now_v7();
    let waiting = Callback {
        delay_ms: 60_000,
        ..post(receiver.url("/later"))
    };
    callbacks.enqueue(ours(), call, vec![waiting, post(receiver.url("/now"))]);

    let overflow = result_of(call, &mut results).await;
    assert_eq!(overflow.url, receiver.url("/now"));
    assert_eq!(
        overflow.error.as_deref(),
        Some("not sent: 1 callbacks are already waiting")
    );
}

#[tokio::test]
async fn past_the_bytes_of_a_workspace_or_of_all_a_callback_is_recorded_as_not_sent() {
    let receiver = Receiver::start().await;
    let (callbacks, mut results) = worker(CallbackOptions {
        capacity_bytes: 3_000,
        workspace_bytes: 2_000,
        ..allowing("127.0.0.1")
    });
    let call = Uuid::now_v7();
    let waiting = |path: &str| Callback {
        delay_ms: 60_000,
        body: "x".repeat(900),
        ..post(receiver.url(path))
    };
    let other = WorkspaceId::generate();
    // Two of 900 bytes and their URLs fit in the workspace's 2,000; a third does not.
    callbacks.enqueue(
        ours(),
        call,
        vec![waiting("/a"), waiting("/b"), waiting("/c")],
    );
    let refused = result_of(call, &mut results).await;
    assert_refused(
        &refused,
        &receiver.url("/c"),
        "not sent: the workspace's callbacks waiting already hold ",
        " of 2000 bytes",
    );
    // Another workspace has room of its own, up to what all may hold.
    callbacks.enqueue(other, call, vec![waiting("/d"), waiting("/e")]);
    let refused = result_of(call, &mut results).await;
    assert_refused(
        &refused,
        &receiver.url("/e"),
        "not sent: the callbacks waiting already hold ",
        " of 3000 bytes",
    );
    assert!(
        results.try_recv().is_err(),
        "the others wait out their delay"
    );
}

/// `result` is the callback to `url`, not sent, for the reason that starts and ends so.
fn assert_refused(result: &CallbackResult, url: &str, starts: &str, ends: &str) {
    assert_eq!(result.url, url);
    let error = result.error.as_deref().expect("refused");
    assert!(
        error.starts_with(starts) && error.ends_with(ends),
        "{error}"
    );
}

#[tokio::test]
async fn stopping_records_the_callbacks_still_waiting_out_their_delay() {
    let mut receiver = Receiver::start().await;
    let (callbacks, mut results) = worker(allowing("127.0.0.1"));
    let call = Uuid::now_v7();
    let waiting = Callback {
        delay_ms: 60_000,
        ..post(receiver.url("/later"))
    };
    callbacks.enqueue(ours(), call, vec![waiting]);

    callbacks.shutdown().await;
    let result = results
        .try_recv()
        .expect("recorded before shutdown returned");
    assert_eq!(result.0, call);
    assert_eq!(
        result.1.error.as_deref(),
        Some("not sent: the server stopped during its delay")
    );
    assert!(receiver.requests.try_recv().is_err());
}

#[tokio::test]
async fn an_invalid_method_or_header_is_recorded_as_an_error() {
    let (callbacks, mut results) = worker(allowing("127.0.0.1"));
    let call = Uuid::now_v7();
    callbacks.enqueue(
        ours(),
        call,
        vec![Callback {
            method: "NOT A METHOD".into(),
            ..post("http://127.0.0.1:9/".into())
        }],
    );
    assert_eq!(
        result_of(call, &mut results).await.error.as_deref(),
        Some(r#"invalid method "NOT A METHOD""#)
    );
    callbacks.enqueue(
        ours(),
        call,
        vec![Callback {
            headers: vec![("bad header".into(), "x".into())],
            ..post("http://127.0.0.1:9/".into())
        }],
    );
    assert_eq!(
        result_of(call, &mut results).await.error.as_deref(),
        Some(r#"invalid header name "bad header""#)
    );
}

/// The whole server (runtime, call log, callbacks) on a port of its own, on a fresh database.
struct Server {
    base: String,
    client: reqwest::Client,
    key: String,
    _db: TestDatabase,
}

impl Server {
    /// Starts the app with callbacks allowed to `allow` and signs a user up.
    async fn start(allow: &str) -> Self {
        let db = TestDatabase::new().await;
        let running = in_process::start(
            db.store().clone(),
            Options {
                call_log: CallLogOptions {
                    flush_interval: Duration::from_millis(20),
                    ..CallLogOptions::default()
                },
                callbacks: allowing(allow),
                ..Options::default()
            },
        )
        .await;
        let base = running.base;
        let client = reqwest::Client::new();
        let account: Value = client
            .post(format!("{base}/api/v1/accounts"))
            .json(&json!({"email": "hooks@example.com", "password": "correct horse battery"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Self {
            key: account["api_key"].as_str().unwrap().to_owned(),
            base,
            client,
            _db: db,
        }
    }

    async fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    /// A mock whose one example answers `POST /orders/:id` and asks for `template_callback`.
    async fn mock_calling_back(&self, template_callback: &str) -> String {
        let mock = self
            .api(
                reqwest::Method::POST,
                "/api/v1/mocks",
                Some(json!({"name": "hooks"})),
            )
            .await;
        let id = mock["id"].as_str().unwrap().to_owned();
        let example = json!({
            "name": "order accepted",
            "request": {"method": "POST", "path": "/orders/:id"},
            "response": {
                "status": 201,
                "body": format!("Accepted{{{{ {template_callback} }}}}"),
                "template": true
            }
        });
        self.api(
            reqwest::Method::POST,
            &format!("/api/v1/mocks/{id}/examples"),
            Some(example),
        )
        .await;
        id
    }

    /// The call's details once the call log holds `callbacks` results for it.
    async fn logged_call(&self, mock: &str, callbacks: usize) -> Value {
        for _ in 0..600 {
            let page = self
                .api(
                    reqwest::Method::GET,
                    &format!("/api/v1/mocks/{mock}/calls"),
                    None,
                )
                .await;
            if let Some(call) = page["calls"].as_array().and_then(|calls| calls.first()) {
                let path = format!(
                    "/api/v1/mocks/{mock}/calls/{}",
                    call["id"].as_str().unwrap()
                );
                let detail = self.api(reqwest::Method::GET, &path, None).await;
                if detail["callbacks"].as_array().unwrap().len() == callbacks {
                    return detail;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the call log never showed the call with {callbacks} callback results");
    }
}

#[tokio::test]
async fn a_mock_call_sends_its_template_callback_and_logs_the_result_with_the_call() {
    let mut receiver = Receiver::start().await;
    let server = Server::start("127.0.0.1").await;
    let hook = receiver.url("/hooks/orders");
    let mock = server
        .mock_calling_back(&format!(
            r#"callback("{hook}", "PUT", {{"order": path.id}}, 100)"#
        ))
        .await;

    let answer = server
        .client
        .post(format!("{}/m/{mock}/orders/7", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    assert_eq!(answer.text().await.unwrap(), "Accepted");

    let received = receiver.requests.recv().await.unwrap();
    assert_eq!(received.method, Method::PUT);
    assert_eq!(received.path, "/hooks/orders");
    assert_eq!(received.headers["content-type"], "application/json");
    assert_eq!(&received.body[..], br#"{"order":"7"}"#);

    let call = server.logged_call(&mock, 1).await;
    assert_eq!(call["callbacks_queued"], 1);
    let result = &call["callbacks"][0];
    assert_eq!(result["url"], hook);
    assert_eq!(result["method"], "PUT");
    assert_eq!(result["status"], 202);
    assert_eq!(result["error"], Value::Null);
}

#[tokio::test]
async fn a_mock_callback_to_loopback_is_refused_and_the_refusal_logged_without_the_allow_list() {
    let mut receiver = Receiver::start().await;
    let server = Server::start("").await;
    let hook = receiver.url("/hooks");
    let mock = server
        .mock_calling_back(&format!(r#"callback("{hook}")"#))
        .await;

    let answer = server
        .client
        .post(format!("{}/m/{mock}/orders/7", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);

    let call = server.logged_call(&mock, 1).await;
    let result = &call["callbacks"][0];
    assert_eq!(result["url"], hook);
    assert_eq!(result["status"], Value::Null);
    let error = result["error"].as_str().unwrap();
    assert!(
        error.starts_with("refused: 127.0.0.1 is a loopback address"),
        "{error}"
    );
    assert!(
        receiver.requests.try_recv().is_err(),
        "the receiver was reached"
    );
}

#[tokio::test]
async fn the_ndjson_export_shows_each_call_with_its_own_callback_results() {
    let server = Server::start("").await;
    // Refused (loopback, no allow list), so recorded without sending anything.
    let mock = server
        .mock_calling_back(r#"callback("http://127.0.0.1:9/hooks/" ~ path.id)"#)
        .await;
    for order in ["7", "8"] {
        let answer = server
            .client
            .post(format!("{}/m/{mock}/orders/{order}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 201);
    }

    for _ in 0..600 {
        let export = server
            .client
            .get(format!(
                "{}/api/v1/mocks/{mock}/calls/export?format=ndjson",
                server.base
            ))
            .bearer_auth(&server.key)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let calls: Vec<Value> = export
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let complete = calls.len() == 2
            && calls
                .iter()
                .all(|call| call["callbacks"].as_array().unwrap().len() == 1);
        if complete {
            for call in &calls {
                let order = call["path"].as_str().unwrap().rsplit('/').next().unwrap();
                assert_eq!(
                    call["callbacks"][0]["url"],
                    format!("http://127.0.0.1:9/hooks/{order}"),
                    "{call}"
                );
            }
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the export never showed both calls with their callback results");
}

//! Drift checks: a mock's examples sent to its upstream, a real server on loopback here whose
//! API has moved on from the examples, and the report of what differs; the report kept, listed,
//! read and downloaded, and nobody else's; the guard's refusals and unreachable upstreams as
//! failed entries; the refusals of the API.

use std::collections::BTreeSet;
use std::sync::Mutex;

use super::mock_calls::{Server, sign_up};
use super::upstream::refusal;
use super::*;

/// A request the upstream received.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    /// With its query.
    target: String,
    headers: HeaderMap,
    body: Bytes,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// An upstream on 127.0.0.1 whose API has moved on from the examples of [`examples`]; it
/// notes every request it receives in the log returned.
async fn moved_on_api() -> (SocketAddr, Log) {
    async fn answer(
        State(log): State<Log>,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> axum::response::Response {
        let target = uri.path_and_query().unwrap().to_string();
        log.lock().unwrap().push(Seen {
            method: method.clone(),
            target,
            headers,
            body,
        });
        let body = |status: StatusCode, value: Value| (status, axum::Json(value)).into_response();
        match (method.as_str(), uri.path()) {
            ("GET", "/v2/users/1") => body(
                StatusCode::OK,
                json!({"id": 1, "full_name": "Ada Lovelace", "email": "ada@example.com"}),
            ),
            ("GET", "/v2/orders/7") => body(
                StatusCode::OK,
                json!({"id": "7", "lines": [{"sku": "a", "qty": "1"}]}),
            ),
            ("GET", "/v2/status") => body(StatusCode::SERVICE_UNAVAILABLE, json!({"up": false})),
            ("GET", "/v2/page") => (
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                "<h1>Moved</h1>",
            )
                .into_response(),
            ("GET", "/v2/health") => {
                ([("x-version", "3")], axum::Json(json!({"ok": false}))).into_response()
            }
            ("POST", "/v2/users") => body(StatusCode::CREATED, json!({"id": 3})),
            ("GET", "/v2/items/42") => body(StatusCode::OK, json!({"id": 42, "name": "lamp"})),
            _ => body(StatusCode::NOT_FOUND, json!({"error": "no such thing"})),
        }
    }
    let log = Log::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = Router::new().fallback(answer).with_state(Arc::clone(&log));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (address, log)
}

/// The examples of the mock the moved-on API stands behind.
fn examples() -> Value {
    let get = |name: &str, path: &str, body: Value| json!({"name": name, "request": {"method": "GET", "path": path}, "response": {"status": 200, "body": body}});
    json!([
        get("user", "/users/1", json!({"id": 1, "name": "Ada", "email": "ada@example.com"})),
        get("order", "/orders/7", json!({"id": 7, "lines": [{"sku": "a", "qty": 1}]})),
        get("status", "/status", json!({"up": true})),
        get("page", "/page", json!({"title": "Home"})),
        {
            "name": "health",
            "request": {
                "method": "GET",
                "path": "/health",
                "query": {"verbose": "1"},
                "headers": {"accept": "application/json"}
            },
            "response": {"headers": [{"name": "X-Version", "value": "2"}], "body": {"ok": true}}
        },
        {
            "name": "create user",
            "request": {"method": "POST", "path": "/users", "body": {"type": "json", "value": {"name": "Bob"}}},
            "response": {"status": 201, "body": {"id": 2}}
        },
        get("item", "/items/:id", json!({"id": 1, "name": "lamp"})),
        get("cart", "/carts/:id", json!({"id": 1, "items": []})),
    ])
}

impl Server {
    /// A mock with these examples whose upstream is `url`; its id.
    async fn mock_behind(&self, url: &str, examples: Value) -> String {
        let mock = self
            .api(
                reqwest::Method::POST,
                "/api/v1/mocks",
                Some(json!({"name": "moved on", "upstream": {"url": url}})),
            )
            .await;
        let id = mock["id"].as_str().unwrap().to_owned();
        self.api(
            reqwest::Method::PUT,
            &format!("/api/v1/mocks/{id}/examples"),
            Some(examples),
        )
        .await;
        id
    }

    /// `method path` with `key` and a JSON body when given, answered as it is.
    async fn send(
        &self,
        key: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        request.send().await.unwrap()
    }

    /// `POST .../drift-reports` with `body` and `key`, answered as it is.
    async fn run_drift(&self, mock: &str, key: &str, body: &str) -> reqwest::Response {
        let path = format!("/api/v1/mocks/{mock}/drift-reports");
        self.send(key, reqwest::Method::POST, &path, Some(body))
            .await
    }

    /// A drift report of the mock, run with `{}`, once it is answered 201.
    async fn drift_report(&self, mock: &str) -> Value {
        let answer = self.run_drift(mock, self.key(), "{}").await;
        assert_eq!(answer.status(), StatusCode::CREATED);
        let location = answer.headers()[header::LOCATION]
            .to_str()
            .unwrap()
            .to_owned();
        let report: Value = answer.json().await.unwrap();
        assert_eq!(
            location,
            format!(
                "/api/v1/mocks/{mock}/drift-reports/{}",
                report["id"].as_str().unwrap()
            )
        );
        report
    }
}

/// The report's entry for the example named `name`.
fn entry<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["example"] == name)
        .unwrap_or_else(|| panic!("no entry {name} in {report}"))
}

/// The differences of an entry as (kind, path, expected, actual).
fn differences(entry: &Value) -> Vec<(String, String, Value, Value)> {
    entry["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|difference| {
            (
                difference["kind"].as_str().unwrap().to_owned(),
                difference["path"].as_str().unwrap().to_owned(),
                difference["expected"].clone(),
                difference["actual"].clone(),
            )
        })
        .collect()
}

fn difference(
    kind: &str,
    path: &str,
    expected: Value,
    actual: Value,
) -> (String, String, Value, Value) {
    (kind.to_owned(), path.to_owned(), expected, actual)
}

#[tokio::test]
async fn a_drift_report_finds_what_the_upstream_changed_and_says_what_it_sent() {
    let (api, log) = moved_on_api().await;
    let server = Server::start("127.0.0.1").await;
    let mock = server
        .mock_behind(&format!("http://{api}/v2"), examples())
        .await;
    server
        .api(
            reqwest::Method::PUT,
            &format!("/api/v1/mocks/{mock}/upstream-headers"),
            Some(json!({"authorization": "Bearer upstream-token"})),
        )
        .await;
    // The call the example with a captured path answered, for the check to send again.
    let logged = server
        .client
        .get(format!("{}/m/{mock}/items/42?color=red", server.base))
        .header("x-api-key", "lb_the_callers_key")
        .header("authorization", "Bearer the-callers")
        .header("x-trace", "t-1")
        .send()
        .await
        .unwrap();
    assert_eq!(logged.status(), StatusCode::OK);
    let logged_call = server.newest_call(&mock, 1).await;

    let report = server.drift_report(&mock).await;
    assert_eq!(report["source"], "upstream");
    assert_eq!(report["upstream"], format!("http://{api}/v2"));
    assert_eq!(report["author"]["kind"], "key", "run with a key");
    assert_eq!(report["examples_left_out"], 0);
    assert_eq!(
        report["summary"],
        json!({"agrees": 2, "differs": 4, "skipped": 2, "failed": 0}),
        "{report}"
    );

    let user = entry(&report, "user");
    assert_eq!(user["verdict"], "differs");
    assert_eq!(user["status"], 200);
    assert_eq!(
        user["request"],
        json!({"method": "GET", "url": format!("http://{api}/v2/users/1"), "from_call": null})
    );
    assert_eq!(
        differences(user),
        [
            difference("field_added", "$.full_name", Value::Null, json!("string")),
            difference("field_missing", "$.name", json!("string"), Value::Null),
        ],
        "a renamed field, its value not compared"
    );
    assert_eq!(
        differences(entry(&report, "order")),
        [
            difference("type_changed", "$.id", json!("number"), json!("string")),
            difference(
                "type_changed",
                "$.lines[*].qty",
                json!("number"),
                json!("string")
            ),
        ]
    );
    assert_eq!(
        differences(entry(&report, "status")),
        [difference("status", "status", json!(200), json!(503))]
    );
    let page = entry(&report, "page");
    assert_eq!(
        differences(page),
        [difference(
            "content_type",
            "content-type",
            json!("application/json"),
            json!("text/html")
        )]
    );
    assert_eq!(
        page["notes"],
        json!(["the upstream's body is not JSON: its shape is not compared"])
    );
    let health = entry(&report, "health");
    assert_eq!(
        health["verdict"], "agrees",
        "values differ, the shape does not: {health}"
    );
    assert_eq!(health["differences"], json!([]));

    let create = entry(&report, "create user");
    assert_eq!(create["verdict"], "skipped");
    assert_eq!(create["request"], Value::Null);
    assert!(
        create["reason"]
            .as_str()
            .unwrap()
            .contains("drift_check: true"),
        "{create}"
    );
    let item = entry(&report, "item");
    assert_eq!(item["verdict"], "agrees", "{item}");
    assert_eq!(
        item["request"]["url"],
        format!("http://{api}/v2/items/42?color=red")
    );
    assert_eq!(item["request"]["from_call"], logged_call["id"]);
    let cart = entry(&report, "cart");
    assert_eq!(cart["verdict"], "skipped");
    assert_eq!(
        cart["reason"],
        "its path /carts/:id has captures, and no call it answered is among the mock's newest 20000 logged calls"
    );

    // What the upstream received: the example's query and headers, the upstream's token in
    // place of what the caller sent, never a key of the mock's, nothing for skipped examples.
    let received = log.lock().unwrap().clone();
    let targets: BTreeSet<&str> = received.iter().map(|seen| seen.target.as_str()).collect();
    assert_eq!(
        targets,
        BTreeSet::from([
            "/v2/users/1",
            "/v2/orders/7",
            "/v2/status",
            "/v2/page",
            "/v2/health?verbose=1",
            "/v2/items/42?color=red"
        ])
    );
    for request in &received {
        assert_eq!(request.method, Method::GET);
        assert_eq!(request.headers["authorization"], "Bearer upstream-token");
        assert_eq!(request.headers["via"], "1.1 lyrebird");
        assert!(request.headers.get("x-api-key").is_none(), "{request:?}");
    }
    let sent = |part: &str| {
        received
            .iter()
            .find(|seen| seen.target.contains(part))
            .unwrap()
    };
    assert_eq!(sent("health").headers["accept"], "application/json");
    assert_eq!(
        sent("items").headers["x-trace"],
        "t-1",
        "the logged call's own headers"
    );

    // Opted in, the POST example is sent, with its body; opted out, a GET is not.
    let mut opted = examples();
    opted[5]["drift_check"] = true.into();
    opted[0]["drift_check"] = false.into();
    server
        .api(
            reqwest::Method::PUT,
            &format!("/api/v1/mocks/{mock}/examples"),
            Some(opted),
        )
        .await;
    let again = server.drift_report(&mock).await;
    let create = entry(&again, "create user");
    assert_eq!(create["verdict"], "agrees", "{create}");
    assert_eq!(create["status"], 201);
    assert_eq!(create["request"]["method"], "POST");
    assert_eq!(
        entry(&again, "user")["reason"],
        "the example opts out (drift_check: false)"
    );
    let posts: Vec<Seen> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|seen| seen.method == Method::POST)
        .cloned()
        .collect();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].body, r#"{"name":"Bob"}"#);
    assert_eq!(posts[0].headers["content-type"], "application/json");
}

#[tokio::test]
async fn drift_reports_are_kept_listed_read_and_downloaded_in_their_workspace_only() {
    let (api, _) = moved_on_api().await;
    let server = Server::start("127.0.0.1").await;
    let one_example = json!([examples()[0]]);
    let mock = server
        .mock_behind(&format!("http://{api}/v2"), one_example)
        .await;
    let first = server.drift_report(&mock).await;
    let second = server.drift_report(&mock).await;
    let reports = format!("/api/v1/mocks/{mock}/drift-reports");

    let listed = server.api(reqwest::Method::GET, &reports, None).await;
    let listed = listed["reports"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["id"], second["id"], "newest first");
    assert_eq!(listed[1]["id"], first["id"]);
    assert_eq!(
        listed[0]["summary"],
        json!({"agrees": 0, "differs": 1, "skipped": 0, "failed": 0})
    );
    assert_eq!(listed[0]["source"], "upstream");
    assert!(
        listed[0].get("entries").is_none(),
        "a list is brief: {}",
        listed[0]
    );

    let one = format!("{reports}/{}", second["id"].as_str().unwrap());
    let read = server.api(reqwest::Method::GET, &one, None).await;
    assert_eq!(read, second);
    let download = server
        .send(
            server.key(),
            reqwest::Method::GET,
            &format!("{one}?download=true"),
            None,
        )
        .await;
    assert_eq!(download.status(), StatusCode::OK);
    let disposition = download.headers()[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .to_owned();
    let name = disposition
        .strip_prefix(&format!("attachment; filename=\"drift-{mock}-"))
        .and_then(|rest| rest.strip_suffix(".json\""))
        .unwrap_or_else(|| panic!("{disposition}"));
    assert!(
        name.len() == 16 && name.as_bytes()[8] == b'T' && name.ends_with('Z'),
        "a time such as 20260101T120000Z: {name}"
    );
    assert_eq!(download.json::<Value>().await.unwrap(), second);

    // Another workspace finds neither the mock's reports nor a way to run one; its own mock
    // does not lead to them either.
    let stranger = sign_up(&server.client, &server.base, "stranger@example.com").await;
    let (server, stranger) = (&server, stranger.as_str());
    let status = |path: String| async move {
        let answer = server.send(stranger, reqwest::Method::GET, &path, None);
        answer.await.status()
    };
    assert_eq!(
        server.run_drift(&mock, stranger, "{}").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(status(reports.clone()).await, StatusCode::NOT_FOUND);
    assert_eq!(status(one.clone()).await, StatusCode::NOT_FOUND);
    let theirs: Value = server
        .send(
            stranger,
            reqwest::Method::POST,
            "/api/v1/mocks",
            Some(r#"{"name": "theirs"}"#),
        )
        .await
        .json()
        .await
        .unwrap();
    let across = format!(
        "/api/v1/mocks/{}/drift-reports/{}",
        theirs["id"].as_str().unwrap(),
        second["id"].as_str().unwrap()
    );
    assert_eq!(status(across).await, StatusCode::NOT_FOUND);
    for missing in [
        format!("{reports}/{}", Uuid::now_v7()),
        format!("{reports}/not-an-id"),
    ] {
        let answer = server
            .send(server.key(), reqwest::Method::GET, &missing, None)
            .await;
        let error = refusal(answer, StatusCode::NOT_FOUND).await;
        assert_eq!(error["code"], "not_found");
    }

    // The mock's reports go with it.
    let path = format!("/api/v1/mocks/{mock}");
    server
        .send(server.key(), reqwest::Method::DELETE, &path, None)
        .await;
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM drift_reports")
        .fetch_one(server.db().store().pool())
        .await
        .unwrap();
    assert_eq!(kept, 0);
}

#[tokio::test]
async fn a_drift_check_without_an_upstream_or_with_a_bad_body_is_refused_and_one_without_examples_is_empty()
 {
    let (api, _) = moved_on_api().await;
    let server = Server::start("127.0.0.1").await;
    let without = server
        .api(
            reqwest::Method::POST,
            "/api/v1/mocks",
            Some(json!({"name": "alone"})),
        )
        .await;
    let without = without["id"].as_str().unwrap();
    let error = refusal(
        server.run_drift(without, server.key(), "{}").await,
        StatusCode::CONFLICT,
    )
    .await;
    assert_eq!(error["code"], "no_upstream", "{error}");
    assert_eq!(error["field"], "upstream");

    let error = refusal(
        server
            .run_drift(&Uuid::now_v7().to_string(), server.key(), "{}")
            .await,
        StatusCode::NOT_FOUND,
    )
    .await;
    assert_eq!(error["code"], "not_found");

    let mock = server
        .mock_behind(&format!("http://{api}/v2"), json!([]))
        .await;
    let error = refusal(
        server
            .run_drift(&mock, server.key(), "{\"against\": ")
            .await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(error["code"], "malformed_json");
    for (body, field) in [
        (r#"{"against": "the moon"}"#, "against"),
        (r#"{"against": "upstream", "examples": []}"#, "examples"),
    ] {
        let error = refusal(
            server.run_drift(&mock, server.key(), body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(error["code"], "invalid_field", "{body}: {error}");
        assert_eq!(error["field"], field, "{body}: {error}");
    }

    let answer = server
        .run_drift(&mock, server.key(), r#"{"against": "upstream"}"#)
        .await;
    assert_eq!(answer.status(), StatusCode::CREATED);
    let empty: Value = answer.json().await.unwrap();
    assert_eq!(empty["entries"], json!([]));
    assert_eq!(
        empty["summary"],
        json!({"agrees": 0, "differs": 0, "skipped": 0, "failed": 0})
    );
}

#[tokio::test]
async fn a_drift_check_of_an_upstream_nobody_listens_on_fails_each_example_with_the_cause() {
    let server = Server::start("127.0.0.1").await;
    let closed = nobody_listens();
    let mock = server
        .mock_behind(&format!("http://{closed}/v2"), json!([examples()[0]]))
        .await;
    let report = server.drift_report(&mock).await;
    assert_eq!(report["summary"]["failed"], 1, "{report}");
    let user = entry(&report, "user");
    assert_eq!(user["verdict"], "failed");
    assert_eq!(user["status"], Value::Null);
    assert_eq!(
        user["request"]["url"],
        format!("http://{closed}/v2/users/1")
    );
    assert_eq!(user["error"]["code"], "upstream_unreachable");
    let message = user["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("the upstream could not be reached: "),
        "{message}"
    );
}

#[tokio::test]
async fn the_guard_refuses_drift_requests_to_addresses_not_allowed_and_nothing_is_sent() {
    let (api, log) = moved_on_api().await;
    let guarded = Server::start("").await;
    for (url, refused) in [
        (
            format!("http://{api}/v2"),
            "refused: 127.0.0.1 is a loopback address",
        ),
        (
            "http://169.254.169.254/latest".to_owned(),
            "refused: 169.254.169.254 is a cloud metadata address",
        ),
    ] {
        let mock = guarded.mock_behind(&url, json!([examples()[0]])).await;
        let report = guarded.drift_report(&mock).await;
        let user = entry(&report, "user");
        assert_eq!(user["verdict"], "failed", "{report}");
        assert_eq!(user["error"]["code"], "upstream_refused");
        let message = user["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(refused), "{message}");
        assert!(message.contains("LYREBIRD_CALLBACK_ALLOW"), "{message}");
    }
    assert!(
        log.lock().unwrap().is_empty(),
        "the upstream received nothing"
    );
}

//! Pass-through: calls no example matches go to the mock's upstream, a real server on loopback
//! here, and come back with its answer; the guard refuses upstreams on addresses the operator
//! did not allow, and redirects are handed to the client, not followed.

use super::mock_calls::Server;
use super::*;

use axum::routing::any;

/// An upstream on 127.0.0.1 that answers every request with what it received, as JSON, except
/// `/elsewhere`: a redirect to the cloud metadata address.
async fn upstream() -> SocketAddr {
    async fn echo(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
        if uri.path().ends_with("/elsewhere") {
            return (
                StatusCode::FOUND,
                [(header::LOCATION, "http://169.254.169.254/latest/meta-data/")],
            )
                .into_response();
        }
        let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_owned());
        (
            StatusCode::CREATED,
            [("x-upstream", "yes")],
            axum::Json(json!({
                "method": method.as_str(),
                "path": uri.path(),
                "query": uri.query(),
                "authorization": header("authorization"),
                "x_api_key": header("x-api-key"),
                "x_forwarded_for": header("x-forwarded-for"),
                "body": String::from_utf8_lossy(&body),
            })),
        )
            .into_response()
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = Router::new().fallback(any(echo));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

/// The status of `GET <path>` sent as written, dot segments and all.
async fn raw_status(base: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = base.trim_start_matches("http://");
    let mut connection = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    connection.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    connection.read_to_string(&mut answer).await.unwrap();
    answer
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned()
}

impl Server {
    /// A mock with one example, `GET /here`, and these settings; its id.
    async fn mock_with(&self, settings: Value) -> String {
        let example = json!({
            "name": "here",
            "request": {"method": "GET", "path": "/here"},
            "response": {"status": 200, "body": "from the mock"}
        });
        self.mock_of(settings, example).await
    }

    /// `PUT .../upstream-headers`, answered as it is.
    async fn put_upstream_headers(&self, mock: &str, headers: Value) -> reqwest::Response {
        self.client
            .put(format!(
                "{}/api/v1/mocks/{mock}/upstream-headers",
                self.base
            ))
            .bearer_auth(self.key())
            .json(&headers)
            .send()
            .await
            .unwrap()
    }

    /// `GET <path>` of the mock, answered as it is.
    pub(super) async fn get(&self, mock: &str, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}/m/{mock}{path}", self.base))
            .send()
            .await
            .unwrap()
    }

    /// The newest logged call of the mock, in detail, once the log holds `count` calls.
    pub(super) async fn newest_call(&self, mock: &str, count: usize) -> Value {
        self.newest_call_once(mock, |calls, _| calls == count).await
    }
}

/// The error of a refused request, once its status is checked.
pub(super) async fn refusal(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    body["error"].clone()
}

#[tokio::test]
async fn calls_no_example_matches_are_answered_by_the_upstream_and_logged_as_proxied() {
    let upstream = upstream().await;
    let server = Server::start("127.0.0.1").await;
    let mock = server
        .mock_with(json!({"name": "proxy", "upstream": {"url": format!("http://{upstream}/v2")}}))
        .await;
    let call = |method: reqwest::Method, path: &str| {
        server
            .client
            .request(method, format!("{}/m/{mock}{path}", server.base))
    };

    let here = call(reqwest::Method::GET, "/here").send().await.unwrap();
    assert_eq!(
        here.text().await.unwrap(),
        "from the mock",
        "an example still answers"
    );

    let passed = call(reqwest::Method::POST, "/users/7?expand=orders")
        .header("authorization", "Bearer for-the-upstream")
        .header("x-api-key", "lb_not_for_the_upstream")
        .body("{\"name\": \"Ada\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(passed.status(), StatusCode::CREATED);
    assert_eq!(passed.headers()["x-upstream"], "yes");
    let seen: Value = passed.json().await.unwrap();
    assert_eq!(seen["method"], "POST");
    assert_eq!(seen["path"], "/v2/users/7", "after the upstream's own path");
    assert_eq!(seen["query"], "expand=orders");
    assert_eq!(seen["authorization"], "Bearer for-the-upstream");
    assert_eq!(
        seen["x_api_key"],
        Value::Null,
        "the mock's key stays behind"
    );
    assert_eq!(seen["x_forwarded_for"], "127.0.0.1");
    assert_eq!(seen["body"], "{\"name\": \"Ada\"}");

    let logged = server.newest_call(&mock, 2).await;
    assert_eq!(logged["outcome"], "proxied", "{logged}");
    assert_eq!(logged["status"], 201);
    let note = &logged["explanation"]["upstream"];
    assert_eq!(
        note["url"],
        format!("http://{upstream}/v2/users/7?expand=orders")
    );
    assert_eq!(note["status"], 201);
    assert!(note["latency_ms"].as_f64().unwrap() > 0.0, "{note}");
    assert!(
        logged["explanation"]["near_misses"].is_array(),
        "why no example matched is kept: {logged}"
    );

    // Headers added to every call passed through, such as a token, replace the caller's of the
    // same name; their values are never shown again, nor made a version.
    let before = server
        .api(reqwest::Method::GET, &format!("/api/v1/mocks/{mock}"), None)
        .await;
    let shown = server
        .api(
            reqwest::Method::PUT,
            &format!("/api/v1/mocks/{mock}/upstream-headers"),
            Some(json!({"Authorization": "Bearer upstream-token", "x-tenant": "acme"})),
        )
        .await;
    assert_eq!(
        shown["upstream_headers"],
        json!(["authorization", "x-tenant"])
    );
    assert_eq!(shown["version"], before["version"], "not a version");
    assert!(!shown.to_string().contains("upstream-token"), "{shown}");
    let seen: Value = call(reqwest::Method::GET, "/users/8")
        .header("authorization", "Bearer the-callers")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(seen["authorization"], "Bearer upstream-token");
    let versions = server
        .api(
            reqwest::Method::GET,
            &format!("/api/v1/mocks/{mock}/versions"),
            None,
        )
        .await;
    assert!(!versions.to_string().contains("upstream-token"));
    for (headers, field) in [
        (json!({"Host": "elsewhere"}), "headers.Host"),
        (json!({"x-token": "two\nlines"}), "headers.x-token"),
        (json!({"bad name": "x"}), "headers.bad name"),
        (json!({"X-Token": "a", "x-token": "b"}), "headers.x-token"),
    ] {
        let refused = server.put_upstream_headers(&mock, headers).await;
        let error = refusal(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(error["field"], field, "{error}");
    }

    // Calls that are not passed on: a path that would leave the upstream's, a call that came
    // through a mock's upstream already (a loop), a TRACE (it would echo the token back).
    // (Sent by hand: an HTTP client resolves the dot segments before sending.)
    let escaping = raw_status(&server.base, &format!("/m/{mock}/%2e%2e/admin")).await;
    assert_eq!(escaping, "400");
    let looping = call(reqwest::Method::GET, "/users/1")
        .header("via", "1.1 lyrebird")
        .send()
        .await
        .unwrap();
    assert_eq!(looping.status(), StatusCode::LOOP_DETECTED);
    let traced = call(reqwest::Method::TRACE, "/users/1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        traced.status(),
        StatusCode::NOT_FOUND,
        "the miss, not passed on"
    );

    // Pointed at another origin, the mock no longer sends the headers, nor shows them.
    let moved = server
        .api(
            reqwest::Method::PATCH,
            &format!("/api/v1/mocks/{mock}"),
            Some(json!({"upstream": {"url": format!("http://localhost:{}/v2", upstream.port())}})),
        )
        .await;
    assert_eq!(moved["upstream_headers"], json!([]), "{moved}");
    let seen: Value = call(reqwest::Method::GET, "/users/9")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        seen["authorization"],
        Value::Null,
        "the token stays with its origin"
    );
    let copied: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM mock_versions WHERE settings::text LIKE '%upstream-token%'",
    )
    .fetch_one(server.db().store().pool())
    .await
    .unwrap();
    assert_eq!(copied, 0, "no version of the mock holds the token");

    // Switched off, the upstream is kept but calls get the 404 that explains.
    server
        .api(
            reqwest::Method::PATCH,
            &format!("/api/v1/mocks/{mock}"),
            Some(json!({"upstream": {"url": format!("http://{upstream}/v2"), "pass_through": false}})),
        )
        .await;
    let missed = call(reqwest::Method::GET, "/users/7").send().await.unwrap();
    assert_eq!(missed.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_example_or_the_fallback_can_pass_its_calls_to_the_upstream_with_pass_through_off() {
    let upstream = upstream().await;
    let server = Server::start("127.0.0.1").await;
    let mock = server
        .mock_with(json!({"name": "partly live", "upstream": {
            "url": format!("http://{upstream}/v2"), "pass_through": false
        }}))
        .await;
    let examples = format!("/api/v1/mocks/{mock}/examples");
    for example in [
        json!({"name": "live orders", "request": {"method": "GET", "path": "/orders/:id"},
               "response": {"proxy": true, "delay_ms": 150}}),
        json!({"name": "traced", "request": {"method": "TRACE", "path": "/trace"},
               "response": {"proxy": true}}),
    ] {
        server
            .api(reqwest::Method::POST, &examples, Some(example))
            .await;
    }
    let call = |method: &str, path: &str| {
        server.client.request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}/m/{mock}{path}", server.base),
        )
    };

    let started = Instant::now();
    let passed = call("GET", "/orders/7?full=1").send().await.unwrap();
    assert_eq!(passed.status(), StatusCode::CREATED);
    let seen: Value = passed.json().await.unwrap();
    assert_eq!(seen["path"], "/v2/orders/7");
    assert_eq!(seen["query"], "full=1");
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "the example's delay still applies"
    );
    let logged = server.newest_call(&mock, 1).await;
    assert_eq!(logged["outcome"], "proxied", "{logged}");
    assert_eq!(logged["example_name"], "live orders");
    assert_eq!(logged["explanation"]["upstream"]["status"], 201);
    assert!(
        logged["explanation"]["level"].is_number(),
        "why the example matched is kept: {logged}"
    );

    let here = call("GET", "/here").send().await.unwrap();
    assert_eq!(here.text().await.unwrap(), "from the mock");
    let missed = call("GET", "/users/1").send().await.unwrap();
    assert_eq!(
        missed.status(),
        StatusCode::NOT_FOUND,
        "misses stay the mock's"
    );
    let traced = call("TRACE", "/trace").send().await.unwrap();
    let error = refusal(traced, StatusCode::METHOD_NOT_ALLOWED).await;
    assert_eq!(error["code"], "method_not_passed");

    let unmatched = server
        .api(
            reqwest::Method::POST,
            &format!("/api/v1/mocks/{mock}/verify/unmatched"),
            Some(json!({})),
        )
        .await;
    assert_eq!(
        unmatched["count"], 1,
        "the example's passed call was matched; the miss was not: {unmatched}"
    );

    // A fallback response that passes calls on sends the misses.
    server
        .api(
            reqwest::Method::PATCH,
            &format!("/api/v1/mocks/{mock}"),
            Some(json!({"fallback": {"proxy": true}})),
        )
        .await;
    let fallen = call("GET", "/users/1").send().await.unwrap();
    assert_eq!(fallen.status(), StatusCode::CREATED);

    // Without an upstream, such an example is a 502 that says so.
    let alone = server
        .mock_of(
            json!({"name": "no upstream"}),
            json!({"name": "live", "request": {"path": "/live"}, "response": {"proxy": true}}),
        )
        .await;
    let answered = server
        .client
        .get(format!("{}/m/{alone}/live", server.base))
        .send()
        .await
        .unwrap();
    let error = refusal(answered, StatusCode::BAD_GATEWAY).await;
    assert_eq!(error["code"], "no_upstream");
}

#[tokio::test]
async fn upstreams_on_addresses_not_allowed_are_refused_and_redirects_are_not_followed() {
    let upstream = upstream().await;
    let guarded = Server::start("").await;
    for (url, refused) in [
        (
            "http://169.254.169.254/".to_owned(),
            "refused: 169.254.169.254 is a cloud metadata address",
        ),
        (
            format!("http://localhost:{}/", upstream.port()),
            "refused: localhost resolves to 127.0.0.1, a loopback address",
        ),
    ] {
        let mock = guarded
            .mock_with(json!({"name": "guarded", "upstream": {"url": url}}))
            .await;
        let answer = guarded.get(&mock, "/users/1").await;
        let error = refusal(answer, StatusCode::BAD_GATEWAY).await;
        assert_eq!(error["code"], "upstream_refused", "{error}");
        let message = error["message"].as_str().unwrap();
        assert!(message.starts_with(refused), "{message}");
        assert!(message.contains("LYREBIRD_CALLBACK_ALLOW"), "{message}");
        let logged = guarded.newest_call(&mock, 1).await;
        assert_eq!(logged["outcome"], "proxied");
        assert_eq!(logged["explanation"]["upstream"]["error"], message);
    }

    // Allowed, the upstream redirects to the metadata address: the client gets the redirect
    // to follow from its own network; the server does not follow it.
    let allowed = Server::start("127.0.0.1").await;
    let mock = allowed
        .mock_with(json!({"name": "redirected", "upstream": {"url": format!("http://{upstream}")}}))
        .await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = client
        .get(format!("{}/m/{mock}/elsewhere", allowed.base))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::FOUND);
    assert_eq!(
        answer.headers()[header::LOCATION],
        "http://169.254.169.254/latest/meta-data/"
    );
}

#[tokio::test]
async fn an_upstream_that_cannot_be_reached_is_a_502_that_says_why() {
    let server = Server::start("127.0.0.1").await;
    let closed = nobody_listens();
    let mock = server
        .mock_with(json!({"name": "failing", "upstream": {"url": format!("http://{closed}")}}))
        .await;
    let error = refusal(server.get(&mock, "/users/1").await, StatusCode::BAD_GATEWAY).await;
    assert_eq!(error["code"], "upstream_unreachable", "{error}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.starts_with("the upstream could not be reached: "),
        "{message}"
    );
    let logged = server.newest_call(&mock, 1).await;
    assert_eq!(logged["explanation"]["upstream"]["error"], message);
}

#[tokio::test]
async fn an_upstream_url_that_cannot_work_is_refused_when_saved() {
    let server = Server::start("").await;
    let without = server.mock_with(json!({"name": "no upstream"})).await;
    let refused = server
        .put_upstream_headers(&without, json!({"authorization": "Bearer t"}))
        .await;
    let error = refusal(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(
        error["field"], "upstream",
        "headers need an upstream: {error}"
    );
    for (url, message) in [
        ("ftp://files.example.com/", "not ftp"),
        (
            "https://user:secret@api.example.com/",
            "carries no credentials",
        ),
        ("https://api.example.com/v2?token=1", "no query or fragment"),
        ("api.example.com", "not a URL"),
    ] {
        let answer = server
            .client
            .post(format!("{}/api/v1/mocks", server.base))
            .bearer_auth(server.key())
            .json(&json!({"name": "bad", "upstream": {"url": url}}))
            .send()
            .await
            .unwrap();
        let error = refusal(answer, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(error["field"], "upstream.url", "{url}: {error}");
        let said = error["message"].as_str().unwrap();
        assert!(said.contains(message), "{url}: {said}");
    }
}

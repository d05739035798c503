//! Recording and examples from calls: a real upstream on loopback answers while the mock
//! records; stopping turns the calls into draft examples, and once published they answer the
//! same calls the same way with the upstream gone.

use super::mock_calls::Server;
use super::*;

use axum::extract::{Path, RawQuery};
use axum::routing::{get, post};
use tokio::sync::oneshot;

/// A small API on 127.0.0.1: users by id, a search, orders; every answer sets a session cookie.
/// Dropping the handle shuts it down, idle connections included.
struct Upstream {
    address: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<()>,
}

impl Upstream {
    async fn start() -> Self {
        const NAMES: [&str; 3] = ["Ada", "Grace", "Edsger"];
        const COOKIE: [(&str, &str); 1] = [("set-cookie", "session=upstream-secret")];
        let user = move |Path(id): Path<usize>| async move {
            match NAMES.get(id.wrapping_sub(1)) {
                Some(name) => (COOKIE, axum::Json(json!({"id": id, "name": name}))).into_response(),
                None => (StatusCode::NOT_FOUND, COOKIE, "no such user").into_response(),
            }
        };
        let search = move |RawQuery(query): RawQuery| async move {
            (COOKIE, format!("results for {}", query.unwrap_or_default()))
        };
        let order = move |body: String| async move {
            (StatusCode::CREATED, COOKIE, format!("ordered {body}"))
        };
        let app = Router::new()
            .route("/v1/users/{id}", get(user))
            .route("/v1/search", get(search))
            .route("/v1/orders", post(order));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel();
        let served = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            address,
            stop: Some(stop),
            served,
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        (&mut self.served).await.unwrap();
    }
}

/// A call to the mock: its status, content type and body. (Called by path, a mock sets no
/// cookies: that cookies are not saved is seen in the examples.)
async fn answer(server: &Server, mock: &str, method: Method, path: &str, body: &str) -> String {
    let response = server
        .client
        .request(
            reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap(),
            format!("{}/m/{mock}{path}", server.base),
        )
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    format!("{status} {content_type} {}", response.text().await.unwrap())
}

/// `POST` of the API, answered as it is: its status and body.
async fn post_api(server: &Server, path: &str, body: Value) -> (StatusCode, Value) {
    let response = server
        .client
        .post(format!("{}{path}", server.base))
        .bearer_auth(server.key())
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_recording_becomes_draft_examples_that_answer_the_same_calls_with_the_upstream_gone() {
    let upstream = Upstream::start().await;
    let server = Server::start("127.0.0.1").await;
    let mock = server
        .api(
            reqwest::Method::POST,
            "/api/v1/mocks",
            Some(json!({"name": "recorded", "upstream": {
                "url": format!("http://{}/v1", upstream.address), "pass_through": false
            }})),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let recording = format!("/api/v1/mocks/{mock}/recording");
    let calls: [(Method, &str, &str); 8] = [
        (Method::GET, "/users/1", ""),
        (Method::GET, "/users/2", ""),
        (Method::GET, "/users/1", ""),
        (Method::GET, "/users/9", ""),
        (Method::GET, "/search?q=birds&page=1", ""),
        (Method::GET, "/search?q=bees&page=1", ""),
        (Method::POST, "/orders", "{\"item\": \"seed\"}"),
        (Method::POST, "/orders", "{\"item\": \"nest\"}"),
    ];

    assert!(
        answer(&server, &mock, Method::GET, "/users/1", "")
            .await
            .starts_with("404 "),
        "without pass-through or a recording, a miss is the mock's own 404"
    );
    let stopped = post_api(&server, &format!("{recording}/stop"), json!({})).await;
    assert_eq!(stopped.0, StatusCode::CONFLICT);
    assert_eq!(stopped.1["error"]["code"], "not_recording");

    let started = post_api(&server, &recording, json!({})).await;
    assert_eq!(started.0, StatusCode::OK, "{}", started.1);
    assert_eq!(started.1["recording"], true);
    let again = post_api(&server, &recording, json!({})).await;
    assert_eq!(
        again.1["since"], started.1["since"],
        "a second start keeps the first"
    );
    let shown = server
        .api(reqwest::Method::GET, &format!("/api/v1/mocks/{mock}"), None)
        .await;
    assert_eq!(shown["recording_since"], started.1["since"]);

    let mut recorded = Vec::new();
    for (method, path, body) in &calls {
        recorded.push(answer(&server, &mock, method.clone(), path, body).await);
    }
    assert_eq!(
        recorded[0],
        "200 application/json {\"id\":1,\"name\":\"Ada\"}"
    );
    assert!(recorded[3].starts_with("404 "), "{}", recorded[3]);

    let (status, learned) = post_api(&server, &format!("{recording}/stop"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{learned}");
    assert_eq!(learned["calls"], 8);
    assert_eq!(learned["folded"], 1, "GET /users/1 twice: {learned}");
    assert_eq!(learned["skipped"], json!([]));
    let names: Vec<&str> = learned["draft"]["examples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|example| example["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "GET /users/1 200",
            "GET /users/2 200",
            "GET /users/9 404",
            "GET /users/:userId 404",
            "GET /search?q=birds 200",
            "GET /search?q=bees 200",
            "POST /orders 201",
            "POST /orders 201",
        ],
        "{learned}"
    );
    let orders = &learned["draft"]["examples"][6]["request"]["body"];
    assert_eq!(orders, &json!({"type": "json", "value": {"item": "seed"}}));
    assert!(
        !learned.to_string().contains("upstream-secret"),
        "cookies are not saved: {learned}"
    );
    assert_eq!(
        server.api(reqwest::Method::GET, &recording, None).await["recording"],
        false
    );
    assert!(
        answer(&server, &mock, Method::GET, "/users/2", "")
            .await
            .starts_with("404 "),
        "recorded examples wait in the draft"
    );

    server
        .api(
            reqwest::Method::POST,
            &format!("/api/v1/mocks/{mock}/draft/publish"),
            Some(json!({})),
        )
        .await;
    upstream.stop().await;
    for ((method, path, body), seen) in calls.iter().zip(&recorded) {
        let replayed = answer(&server, &mock, method.clone(), path, body).await;
        assert_eq!(&replayed, seen, "{method} {path}");
    }
    assert_eq!(
        answer(&server, &mock, Method::GET, "/users/3", "").await,
        "404 text/plain; charset=utf-8 no such user",
        "an id never seen gets the capture's answer, the last one recorded"
    );
}

#[tokio::test]
async fn chosen_calls_become_examples_and_calls_no_api_answered_are_skipped() {
    let server = Server::start("127.0.0.1").await;
    let mock = server
        .mock_of(
            json!({"name": "history"}),
            json!({"name": "hello", "request": {"method": "GET", "path": "/hello/:name"},
                   "response": {"body": "hello {{ path.name }}", "template": true}}),
        )
        .await;
    let other = server
        .mock_of(
            json!({"name": "other"}),
            json!({"name": "x", "request": {"path": "/x"}}),
        )
        .await;
    answer(&server, &mock, Method::GET, "/hello/ada", "").await;
    answer(&server, &mock, Method::GET, "/missing", "").await;
    answer(&server, &other, Method::GET, "/x", "").await;
    let logged = server.newest_call_once(&mock, |calls, _| calls == 2).await;
    let page = server
        .api(
            reqwest::Method::GET,
            &format!("/api/v1/mocks/{mock}/calls"),
            None,
        )
        .await;
    let ids: Vec<&str> = page["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|call| call["id"].as_str().unwrap())
        .collect();
    assert_eq!(logged["path"], "/missing");
    let other_call = server.newest_call_once(&other, |calls, _| calls == 1).await;
    let from_calls = format!("/api/v1/mocks/{mock}/draft/examples/from-calls");
    let (status, refused) = post_api(
        &server,
        &format!("/api/v1/mocks/{mock}/recording"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["error"]["code"], "no_upstream", "nothing to record");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("set `upstream` first")
    );

    for (body, field) in [
        (json!({"calls": []}), "calls"),
        (json!({"calls": [ids[0], Uuid::now_v7()]}), "calls[1]"),
        (json!({"calls": [other_call["id"]]}), "calls[0]"),
    ] {
        let (status, refused) = post_api(&server, &from_calls, body).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        assert_eq!(refused["error"]["field"], field, "{refused}");
    }
    let (status, malformed) = post_api(&server, &from_calls, json!({"calls": "all"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{malformed}");
    let unknown = post_api(
        &server,
        &format!("/api/v1/mocks/{}/draft/examples/from-calls", Uuid::now_v7()),
        json!({"calls": [ids[0]]}),
    )
    .await;
    assert_eq!(unknown.0, StatusCode::NOT_FOUND);
    let draft = server
        .client
        .get(format!("{}/api/v1/mocks/{mock}/draft", server.base))
        .bearer_auth(server.key())
        .send()
        .await
        .unwrap();
    assert_eq!(
        draft.status(),
        StatusCode::NOT_FOUND,
        "refusals start no draft"
    );

    let (status, learned) = post_api(&server, &from_calls, json!({"calls": ids})).await;
    assert_eq!(status, StatusCode::OK, "{learned}");
    assert_eq!(learned["calls"], 2);
    assert_eq!(learned["added"], 1);
    assert_eq!(learned["skipped"][0]["call_id"], logged["id"]);
    assert!(
        learned["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("no_match"),
        "{learned}"
    );
    let examples = learned["draft"]["examples"].as_array().unwrap();
    assert_eq!(examples.len(), 2, "the mock's example, then the new one");
    assert_eq!(examples[1]["name"], "GET /hello/ada 200");
    assert_eq!(
        examples[1]["response"]["body"], "hello ada",
        "the answer as it was"
    );
}

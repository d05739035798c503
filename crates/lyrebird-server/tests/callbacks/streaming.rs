//! Pass-through's answers as they come, and its limits: the body passed on piece by piece and
//! logged with its start and size, the mock's time for its upstream, an informational status,
//! and the calls a workspace may have at its upstreams at once, which a client that goes away
//! gives back.

use std::convert::Infallible;

use axum::body::Body;
use axum::routing::get;
use futures_util::{StreamExt, stream};

use super::mock_calls::Server;
use super::upstream::refusal;
use super::*;

/// What the upstream answers after its first piece in `/pause`.
const REST: usize = 100 * 1024;

/// An upstream on 127.0.0.1 whose answers take their time.
#[derive(Clone)]
struct Upstream {
    address: SocketAddr,
    /// Answers of `/stall` whose connection is still open.
    stalled: Arc<AtomicUsize>,
    /// Requests waiting at `/hold`, and the gate they wait at.
    holding: Arc<AtomicUsize>,
    gate: Arc<Semaphore>,
}

/// Counts an answer of `/stall` until its body is dropped: its connection closed.
struct Stalled(Arc<AtomicUsize>);

impl Drop for Stalled {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn piece(text: &'static str) -> Result<Bytes, Infallible> {
    Ok(Bytes::from_static(text.as_bytes()))
}

impl Upstream {
    /// `/slow` answers after a second; `/pause` sends `first|` at once and 100 KiB a second
    /// later; `/stall` sends `first|` and then nothing; `/hold` answers once the gate opens;
    /// `/big` is 17 MiB.
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let upstream = Self {
            address: listener.local_addr().unwrap(),
            stalled: Arc::default(),
            holding: Arc::default(),
            gate: Arc::new(Semaphore::new(0)),
        };
        let app = Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    "slow"
                }),
            )
            .route(
                "/pause",
                get(|| async {
                    let rest = async {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        Ok(Bytes::from(vec![b'x'; REST]))
                    };
                    let pieces = stream::once(async { piece("first|") }).chain(stream::once(rest));
                    Body::from_stream(pieces)
                }),
            )
            .route(
                "/stall",
                get(|State(upstream): State<Upstream>| async move {
                    upstream.stalled.fetch_add(1, Ordering::SeqCst);
                    let open = Stalled(upstream.stalled.clone());
                    let pieces = stream::once(async { piece("first|") })
                        .chain(stream::pending())
                        .map(move |piece| {
                            let _open = &open;
                            piece
                        });
                    Body::from_stream(pieces)
                }),
            )
            .route(
                "/hold",
                get(|State(upstream): State<Upstream>| async move {
                    upstream.holding.fetch_add(1, Ordering::SeqCst);
                    drop(upstream.gate.acquire().await.unwrap());
                    "held"
                }),
            )
            .route("/big", get(|| async { vec![b'x'; 17 << 20] }))
            .with_state(upstream.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        upstream
    }

    /// Waits until `counter` reads `value` (at most 10 s, a third of the upstream's default time).
    async fn until(counter: &AtomicUsize, value: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while counter.load(Ordering::SeqCst) != value {
            assert!(
                Instant::now() < deadline,
                "{} rather than {value}",
                counter.load(Ordering::SeqCst)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Server {
    /// A mock with `upstream` passing every call on (its one example answers `/here`), and
    /// `timeout_ms` when given; its id.
    async fn passing_to(&self, upstream: &Upstream, timeout_ms: Option<u32>) -> String {
        let mut setting = json!({"url": format!("http://{}", upstream.address)});
        if let Some(ms) = timeout_ms {
            setting["timeout_ms"] = json!(ms);
        }
        self.mock_of(
            json!({"name": "streaming", "upstream": setting}),
            json!({"name": "here", "request": {"path": "/here"}, "response": {"body": "here"}}),
        )
        .await
    }
}

#[tokio::test]
async fn the_upstreams_answer_is_passed_on_as_it_comes_and_logged_with_its_start_and_size() {
    let upstream = Upstream::start().await;
    let server = Server::start("127.0.0.1").await;
    let mock = server.passing_to(&upstream, None).await;

    let sent = Instant::now();
    let mut answer = server.get(&mock, "/pause").await;
    let head = sent.elapsed();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.chunk().await.unwrap().unwrap(), "first|");
    let first = sent.elapsed();
    let mut size = 6;
    while let Some(piece) = answer.chunk().await.unwrap() {
        size += piece.len();
    }
    let whole = sent.elapsed();
    assert!(
        head < Duration::from_millis(700) && first < Duration::from_millis(700),
        "the head and first piece come before the rest: {head:?}, {first:?}"
    );
    assert!(whole >= Duration::from_millis(950), "{whole:?}");
    assert_eq!(size, 6 + REST);
    let logged = server.newest_call(&mock, 1).await;
    assert_eq!(logged["status"], 200);
    let body = &logged["response"]["body"];
    assert_eq!(body["size"], 6 + REST, "the whole size: {body}");
    assert_eq!(body["truncated"], true);
    let kept = body["text"].as_str().unwrap();
    assert_eq!(kept.len(), 64 * 1024, "the call log's cap");
    assert!(kept.starts_with("first|xxx"));
    let note = &logged["explanation"]["upstream"];
    assert_eq!(note["status"], 200);
    assert_eq!(note["error"], Value::Null, "{note}");
    assert!(note["latency_ms"].as_f64().unwrap() >= 950.0, "{note}");
    assert!(
        logged["latency_us"].as_u64().unwrap() >= 950_000,
        "{logged}"
    );

    // Far larger than an answer read whole may be, it goes through as it is, its length told.
    let big = server.get(&mock, "/big").await;
    assert_eq!(big.status(), StatusCode::OK);
    assert_eq!(big.content_length(), Some(17 << 20));
    assert_eq!(big.bytes().await.unwrap().len(), 17 << 20);
    let logged = server.newest_call(&mock, 2).await;
    assert_eq!(logged["response"]["body"]["size"], 17 << 20);

    // A client that goes away ends the answer, and the log says after how much.
    let mut stalled = server.get(&mock, "/stall").await;
    assert_eq!(stalled.chunk().await.unwrap().unwrap(), "first|");
    drop(stalled);
    Upstream::until(&upstream.stalled, 0).await;
    let logged = server.newest_call(&mock, 3).await;
    assert_eq!(
        logged["explanation"]["upstream"]["error"],
        "the client went away after 6 bytes of the answer",
        "{logged}"
    );
    assert_eq!(logged["response"]["body"]["size"], 6);

    // A fault needs the answer whole (a trickle cuts it in pieces): read whole, it has the
    // bound of 16 MiB.
    server
        .api(
            reqwest::Method::POST,
            &format!("/api/v1/mocks/{mock}/examples"),
            Some(json!({"name": "big and trickled", "request": {"path": "/big"},
                        "response": {"proxy": true, "fault": {"type": "trickle", "chunks": 2, "over_ms": 10}}})),
        )
        .await;
    let error = refusal(server.get(&mock, "/big").await, StatusCode::BAD_GATEWAY).await;
    assert_eq!(error["code"], "upstream_too_large", "{error}");
}

#[tokio::test]
async fn the_mocks_time_for_its_upstream_ends_an_answer_that_is_late_or_stalls() {
    let upstream = Upstream::start().await;
    let server = Server::start("127.0.0.1").await;
    let mock = server.passing_to(&upstream, Some(200)).await;

    let sent = Instant::now();
    let late = server.get(&mock, "/slow").await;
    let error = refusal(late, StatusCode::GATEWAY_TIMEOUT).await;
    assert!(sent.elapsed() < Duration::from_millis(900));
    assert_eq!(error["code"], "upstream_timeout");
    assert_eq!(
        error["message"],
        "the upstream did not answer within 200 ms"
    );
    let logged = server.newest_call(&mock, 1).await;
    assert_eq!(logged["outcome"], "proxied");
    assert_eq!(
        logged["explanation"]["upstream"]["error"],
        "the upstream did not answer within 200 ms"
    );

    // Started, the answer is cut where the upstream stalls once the time is up.
    let mut stalled = server.get(&mock, "/pause").await;
    assert_eq!(stalled.status(), StatusCode::OK);
    assert_eq!(stalled.chunk().await.unwrap().unwrap(), "first|");
    assert!(stalled.chunk().await.is_err(), "the client sees the cut");
    let logged = server.newest_call(&mock, 2).await;
    assert_eq!(
        logged["explanation"]["upstream"]["error"],
        "the upstream's answer did not end within 200 ms: it was cut after 6 bytes",
        "{logged}"
    );

    // A drift check gives the upstream the same time.
    let checked = server
        .mock_of(
            json!({"name": "checked", "upstream": {
                "url": format!("http://{}", upstream.address), "pass_through": false, "timeout_ms": 200
            }}),
            json!({"name": "slow", "request": {"method": "GET", "path": "/slow"}, "response": {"body": "slow"}}),
        )
        .await;
    let report = server
        .api(
            reqwest::Method::POST,
            &format!("/api/v1/mocks/{checked}/drift-reports"),
            Some(json!({})),
        )
        .await;
    let entry = &report["entries"][0];
    assert_eq!(entry["verdict"], "failed", "{entry}");
    assert_eq!(entry["error"]["code"], "upstream_timeout");
    assert_eq!(
        entry["error"]["message"],
        "the upstream did not answer within 200 ms"
    );

    // 1 to 30,000 ms.
    for timeout_ms in [0, 30_001] {
        let refused = server
            .client
            .patch(format!("{}/api/v1/mocks/{mock}", server.base))
            .bearer_auth(server.key())
            .json(
                &json!({"upstream": {"url": "https://api.example.com", "timeout_ms": timeout_ms}}),
            )
            .send()
            .await
            .unwrap();
        let error = refusal(refused, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(error["field"], "upstream.timeout_ms", "{error}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains("1 to 30000 ms"), "{message}");
    }
}

#[tokio::test]
async fn an_upstream_that_answers_an_informational_status_is_a_502() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut connection, _) = listener.accept().await.unwrap();
            let mut request = [0; 4096];
            let _ = connection.read(&mut request).await.unwrap();
            let switching = "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n";
            connection.write_all(switching.as_bytes()).await.unwrap();
        }
    });
    let server = Server::start("127.0.0.1").await;
    let mock = server
        .mock_of(
            json!({"name": "switching", "upstream": {"url": format!("http://{address}")}}),
            json!({"name": "here", "request": {"path": "/here"}, "response": {"body": "here"}}),
        )
        .await;
    let error = refusal(server.get(&mock, "/chat").await, StatusCode::BAD_GATEWAY).await;
    assert_eq!(error["code"], "upstream_bad_status", "{error}");
    assert_eq!(
        error["message"],
        "the upstream answered 101, which is not passed on"
    );
    let logged = server.newest_call(&mock, 1).await;
    assert_eq!(logged["status"], 502);
    assert_eq!(logged["explanation"]["upstream"]["status"], Value::Null);
}

#[tokio::test]
async fn a_workspace_has_64_calls_at_its_upstreams_and_a_client_that_goes_away_gives_its_own_back()
{
    let upstream = Upstream::start().await;
    let server = Server::start("127.0.0.1").await;
    let mock = server.passing_to(&upstream, None).await;
    let busy = |answer: reqwest::Response| async {
        let error = refusal(answer, StatusCode::SERVICE_UNAVAILABLE).await;
        assert_eq!(error["code"], "upstream_busy", "{error}");
        assert!(error["message"].as_str().unwrap().contains("64 calls"));
    };

    // 64 answers under way, each at its first piece; the clients go away.
    let mut stalled = Vec::new();
    for _ in 0..64 {
        let mut answer = server.get(&mock, "/stall").await;
        assert_eq!(answer.chunk().await.unwrap().unwrap(), "first|");
        stalled.push(answer);
    }
    busy(server.get(&mock, "/stall").await).await;
    drop(stalled);
    Upstream::until(&upstream.stalled, 0).await;

    // Their slots are free: 64 more calls wait at the upstream, the 65th is refused, and the
    // 64 are answered once the upstream answers.
    let held: Vec<_> = (0..64)
        .map(|_| {
            let call = server.client.get(format!("{}/m/{mock}/hold", server.base));
            tokio::spawn(async move { call.send().await.unwrap() })
        })
        .collect();
    Upstream::until(&upstream.holding, 64).await;
    busy(server.get(&mock, "/hold").await).await;
    upstream.gate.add_permits(64);
    for call in held {
        let answer = call.await.unwrap();
        assert_eq!(answer.status(), StatusCode::OK);
        assert_eq!(answer.text().await.unwrap(), "held");
    }
}

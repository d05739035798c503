//! Faults, chaos and drawn latency, as a client sees them.

use std::time::{Duration, Instant};

use lyrebird_store::testing::TestDatabase;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Server, json_of};
use crate::{all_calls, burst, written};

const BODY: &str = r#"{"order": 42, "items": ["tea", "milk", "bread"]}"#;

fn faulty(name: &str, fault: Value) -> Value {
    json!({"name": name, "request": {"method": "GET", "path": format!("/{name}")},
           "response": {"headers": [{"name": "content-type", "value": "application/json"}],
                        "body": BODY, "fault": fault}})
}

/// What a raw client reads after sending `GET path`: the bytes, or the error that ended them.
async fn raw(server: &Server, path: &str) -> Result<Vec<u8>, std::io::Error> {
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).await?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut read = Vec::new();
    stream.read_to_end(&mut read).await?;
    Ok(read)
}

#[tokio::test]
async fn every_fault_is_what_a_real_client_sees() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("faults@example.com").await;
    let examples = [
        faulty("close", json!({"type": "close"})),
        faulty("reset", json!({"type": "reset"})),
        faulty("empty", json!({"type": "empty"})),
        faulty("truncated", json!({"type": "truncated"})),
        faulty("malformed", json!({"type": "malformed"})),
        faulty(
            "trickle",
            json!({"type": "trickle", "chunks": 4, "over_ms": 900}),
        ),
        faulty("status", json!({"type": "status", "statuses": [503]})),
    ];
    let mock = server
        .create_mock(&user.key, json!({"name": "faults"}), &examples)
        .await;
    let at = |name: &str| format!("/m/{mock}/{name}");

    // Closed: the end of the stream, not a byte of an answer.
    assert_eq!(raw(&server, &at("close")).await.unwrap(), b"");
    // Reset: the read fails with a reset.
    let reset = raw(&server, &at("reset")).await.unwrap_err();
    assert_eq!(reset.kind(), std::io::ErrorKind::ConnectionReset, "{reset}");

    let empty = server
        .client
        .get(server.url(&at("empty")))
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), StatusCode::OK);
    assert_eq!(empty.content_length(), Some(0));

    // Truncated: the head declares the whole body; half of it comes, then the connection ends.
    let read = raw(&server, &at("truncated")).await;
    let text = String::from_utf8(read.unwrap_or_default()).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(
        head.contains(&format!("content-length: {}", BODY.len())),
        "{head}"
    );
    assert_eq!(body, &BODY[..BODY.len() / 2]);
    let truncated = server
        .client
        .get(server.url(&at("truncated")))
        .send()
        .await
        .unwrap();
    assert!(
        truncated.bytes().await.is_err(),
        "a client sees the body cut short"
    );

    let malformed = server
        .client
        .get(server.url(&at("malformed")))
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.headers()["content-type"], "application/json");
    let malformed = malformed.text().await.unwrap();
    assert!(
        malformed.starts_with(&BODY[..BODY.len() / 2]),
        "{malformed}"
    );
    assert!(
        serde_json::from_str::<Value>(&malformed).is_err(),
        "{malformed}"
    );

    // Trickled: 4 pieces over 900 ms, the whole body in the end.
    let started = Instant::now();
    let mut trickle = server
        .client
        .get(server.url(&at("trickle")))
        .send()
        .await
        .unwrap();
    let mut pieces = Vec::new();
    while let Some(piece) = trickle.chunk().await.unwrap() {
        pieces.push((started.elapsed(), piece));
    }
    let received: Vec<u8> = pieces
        .iter()
        .flat_map(|(_, piece)| piece.to_vec())
        .collect();
    assert_eq!(received, BODY.as_bytes());
    assert!(pieces.len() >= 3, "{} pieces", pieces.len());
    let (first, last) = (pieces[0].0, pieces.last().unwrap().0);
    assert!(
        last - first >= Duration::from_millis(600),
        "{first:?} to {last:?}"
    );

    let (status, body) = json_of(
        server
            .client
            .get(server.url(&at("status")))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"]["code"], "injected_fault");

    // The call log says which fault each call got, and why.
    let calls = server.logged_calls(&user.key, &mock, 8).await;
    for call in &calls {
        let path = format!(
            "/api/v1/mocks/{mock}/calls/{}",
            call["id"].as_str().unwrap()
        );
        let (_, detail) = server.api(Method::GET, &path, &user.key, None).await;
        let fault = &detail["explanation"]["fault"];
        assert_eq!(
            fault["type"],
            call["path"].as_str().unwrap()[1..],
            "{detail}"
        );
        assert_eq!(fault["reason"], "the example's response has this fault");
    }
}

#[tokio::test]
async fn seeded_chaos_repeats_itself_and_keeps_its_share() {
    let db = TestDatabase::new().await;
    // More calls than the default monthly quota: every one must reach chaos.
    let server = Server::start(&db, &[("LYREBIRD_MONTHLY_QUOTA", "100000")]);
    let user = server.sign_up("chaos@example.com").await;
    let chaos = json!({"percent": 20, "seed": 7,
        "faults": [{"type": "status", "statuses": [500, 503]}],
        "paths": [{"path": "/orders/:id", "percent": 100}]});
    let mock = server
        .create_mock(
            &user.key,
            json!({"name": "chaos", "chaos": chaos}),
            &[json!({"name": "any", "request": {"path": "/*"}, "response": {"status": 200}})],
        )
        .await;
    let first = burst(&server, &mock, "/items", 200, 1).await;
    // Saving the mock starts its count again, so the same calls get the same faults.
    let path = format!("/api/v1/mocks/{mock}");
    let (status, _) = server
        .api(
            Method::PATCH,
            &path,
            &user.key,
            Some(json!({"chaos": chaos})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let again = burst(&server, &mock, "/items", 200, 1).await;
    assert_eq!(first, again);
    let faulted = first
        .iter()
        .filter(|status| status.is_server_error())
        .count();
    assert!((15..=70).contains(&faulted), "{faulted} of 200");
    assert!(first.contains(&StatusCode::INTERNAL_SERVER_ERROR));
    assert!(first.contains(&StatusCode::SERVICE_UNAVAILABLE));
    // A path of its own share.
    let orders = burst(&server, &mock, "/orders/7", 20, 4).await;
    assert!(orders.iter().all(StatusCode::is_server_error), "{orders:?}");

    // Without a seed, over 10,000 calls, the share is within four standard deviations of 20%
    // (sd = sqrt(10000 × 0.2 × 0.8) = 40 calls).
    let unseeded = json!({"percent": 20, "faults": [{"type": "status", "statuses": [503]}]});
    server
        .api(
            Method::PATCH,
            &path,
            &user.key,
            Some(json!({"chaos": unseeded})),
        )
        .await;
    let statuses = burst(&server, &mock, "/items", 10_000, 16).await;
    let answered = [StatusCode::OK, StatusCode::SERVICE_UNAVAILABLE];
    assert!(statuses.iter().all(|status| answered.contains(status)));
    let faulted = statuses
        .iter()
        .filter(|status| status.is_server_error())
        .count();
    assert!((1840..=2160).contains(&faulted), "{faulted} of 10000");
    written(&server, &user, &mock).await;
    let failed = format!("/api/v1/mocks/{mock}/calls?status=503&limit=1");
    let (_, failed) = server.api(Method::GET, &failed, &user.key, None).await;
    let id = failed["calls"][0]["id"].as_str().unwrap();
    let path = format!("/api/v1/mocks/{mock}/calls/{id}");
    let (_, detail) = server.api(Method::GET, &path, &user.key, None).await;
    assert_eq!(
        detail["explanation"]["fault"]["reason"],
        "chaos: 20% of calls"
    );
}

#[tokio::test]
async fn lognormal_waits_have_their_median_and_spread() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("latency@example.com").await;
    let latency = json!({"type": "lognormal", "median_ms": 40, "sigma": 0.5});
    let mock = server
        .create_mock(
            &user.key,
            json!({"name": "slow", "latency": latency}),
            &[json!({"name": "any", "request": {"path": "/"}, "response": {"status": 204}})],
        )
        .await;
    let statuses = burst(&server, &mock, "/", 2_000, 64).await;
    assert!(
        statuses
            .iter()
            .all(|status| *status == StatusCode::NO_CONTENT)
    );
    written(&server, &user, &mock).await;
    // The log's latency is the wait plus the answer's own work (well under a millisecond).
    let mut waits: Vec<f64> = all_calls(&server, &user, &mock)
        .await
        .iter()
        .map(|call| call["latency_us"].as_f64().unwrap() / 1000.0)
        .collect();
    assert_eq!(waits.len(), 2_000);
    waits.sort_by(f64::total_cmp);
    let median = waits[1_000];
    assert!((37.0..=44.0).contains(&median), "median {median} ms");
    // One sigma above the median (40 × e^0.5 = 66 ms) lies about 84% of the waits.
    let under = waits.iter().filter(|ms| **ms < 66.0).count() as f64 / 2_000.0;
    assert!((0.80..=0.88).contains(&under), "{under} under 66 ms");
}

#[tokio::test]
async fn bad_serving_settings_are_refused_by_field_and_change_nothing() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("refused@example.com").await;
    let mock = server
        .create_mock(&user.key, json!({"name": "m"}), &[])
        .await;
    let path = format!("/api/v1/mocks/{mock}");
    for (body, field) in [
        (
            json!({"chaos": {"percent": 120, "faults": [{"type": "reset"}]}}),
            "chaos.percent",
        ),
        (
            json!({"chaos": {"percent": 5, "faults": []}}),
            "chaos.faults",
        ),
        (
            json!({"chaos": {"percent": 5, "faults": [{"type": "explode"}]}}),
            "chaos.faults[0]",
        ),
        (
            json!({"latency": {"type": "uniform", "min_ms": 9, "max_ms": 1}}),
            "latency.min_ms",
        ),
        (
            json!({"latency": {"type": "lognormal", "median_ms": 9, "sigma": 9}}),
            "latency.sigma",
        ),
        (
            json!({"rate_limit": {"limit": 0, "window_s": 60}}),
            "rate_limit.limit",
        ),
        (
            json!({"rate_limit": {"limit": 1, "window_s": 60, "by": "header"}}),
            "rate_limit.header",
        ),
    ] {
        let (status, refused) = server
            .api(Method::PATCH, &path, &user.key, Some(body))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
        let named = refused["error"]["field"].as_str().unwrap();
        assert!(named.starts_with(field), "{field}: {refused}");
    }
    let examples = format!("/api/v1/mocks/{mock}/examples");
    let fault =
        json!({"name": "e", "response": {"fault": {"type": "trickle", "chunks": 0, "over_ms": 5}}});
    let (status, refused) = server
        .api(Method::POST, &examples, &user.key, Some(fault))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused["error"]["field"], "response.fault.chunks");
    let (_, saved) = server.api(Method::GET, &path, &user.key, None).await;
    assert_eq!(
        (saved["chaos"].clone(), saved["latency"].clone()),
        (Value::Null, Value::Null)
    );
    assert_eq!(saved["rate_limit"], Value::Null);
}

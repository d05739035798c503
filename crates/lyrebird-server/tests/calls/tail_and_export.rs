//! The live tail, the NDJSON and HAR exports, and the writer's queue at shutdown and when full.

use super::*;

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

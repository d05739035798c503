//! Finding calls again: filters, free text, pages and their cursors, a call in full, clearing,
//! refused filters, and another workspace's mock.

use super::*;

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
    // The oldest call has the text; a whole search window of newer calls does not. Text of two
    // characters is read, not looked up in the index, so the window applies.
    let start = OffsetDateTime::now_utc() - time::Duration::hours(1);
    let window = SEARCH_WINDOW;
    let calls: Vec<NewCall> = (0..=window)
        .map(|i| NewCall {
            workspace_id: tenant.workspace,
            path: if i == 0 { "/zq" } else { "/hay" }.to_owned(),
            ..stored_call(tenant.mock, start + time::Duration::milliseconds(i as i64))
        })
        .collect();
    for batch in calls.chunks(5000) {
        app.store()
            .insert_calls(&encoded(batch), &[])
            .await
            .unwrap();
    }

    let search = format!("/api/v1/mocks/{}/calls?q=ZQ", tenant.mock);
    let (status, first) = app.get(&search, &tenant.key).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["calls"], json!([]));
    assert!(first["searched_back_to"].is_string(), "{first}");
    let cursor = first["next_cursor"].as_str().expect("a cursor to read on");
    let (_, second) = app
        .get(&format!("{search}&cursor={cursor}"), &tenant.key)
        .await;
    assert_eq!(second["calls"][0]["path"], "/zq", "{second}");
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
        .get(format!("{}/mocks/{}/calls?q=zq", app.base, tenant.mock))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Searched back to"), "{page}");
    assert!(page.contains("Search older calls"), "{page}");
    assert!(!page.contains("/zq"), "{page}");
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

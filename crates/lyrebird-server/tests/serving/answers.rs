//! What a mock call gets: delays, CORS, explained 404s and fallbacks, the body limit, the app's
//! cookies kept away, and throttled sign-ups.

use super::*;

#[tokio::test]
async fn delays_sleep_on_the_timer_so_concurrent_delayed_calls_finish_together() {
    let db = TestDatabase::new().await;
    let server = std::sync::Arc::new(Server::start(&db, &[]));
    let user = server.sign_up("slow@example.com").await;
    let slow = json!({
        "name": "slow",
        "request": {"method": "GET", "path": "/slow"},
        "response": {"status": 200, "body": "late", "delay_ms": 200}
    });
    let mock = server
        .create_mock(&user.key, json!({"name": "slow", "delay": 300}), &[slow])
        .await;
    // Warm up the cache and the quota lease, so the calls below only wait for their delay.
    assert_eq!(
        status_of(server.by_path(Method::GET, &mock, "/slow")).await,
        StatusCode::OK
    );

    let started = Instant::now();
    let calls: Vec<_> = (0..100)
        .map(|_| {
            let server = std::sync::Arc::clone(&server);
            let mock = mock.clone();
            tokio::spawn(async move {
                let sent = Instant::now();
                let status = status_of(server.by_path(Method::GET, &mock, "/slow")).await;
                (status, sent.elapsed())
            })
        })
        .collect();
    for call in calls {
        let (status, took) = call.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert!(
            took >= Duration::from_millis(500),
            "answered after {took:?}, before its delay"
        );
    }
    let all = started.elapsed();
    eprintln!("100 concurrent calls with 500 ms of delay each took {all:?}");
    assert!(
        all < Duration::from_secs(5),
        "100 delayed calls took {all:?}: delays block"
    );
}

#[tokio::test]
async fn browsers_preflights_are_answered_and_every_response_allows_the_origin() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("cors@example.com").await;
    let own_options = json!({
        "name": "own options",
        "request": {"method": "OPTIONS", "path": "/own"},
        "response": {"status": 200, "body": "my own OPTIONS"}
    });
    let mock = server
        .create_mock(
            &user.key,
            json!({"name": "cors", "private": true}),
            &[example("a", "PUT", "/a"), own_options],
        )
        .await;
    let origin = "http://app.example:3000";

    // A browser's preflight carries no key, even for a private mock.
    let preflight = server
        .by_host(Method::OPTIONS, &mock, "/a")
        .header("origin", origin)
        .header("access-control-request-method", "PUT")
        .header("access-control-request-headers", "content-type, x-api-key")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&preflight, "access-control-allow-origin"), origin);
    assert_eq!(
        header(&preflight, "access-control-allow-credentials"),
        "true"
    );
    assert!(header(&preflight, "access-control-allow-methods").contains("PUT"));
    assert_eq!(
        header(&preflight, "access-control-allow-headers"),
        "content-type, x-api-key"
    );
    assert!(preflight.headers().contains_key("access-control-max-age"));

    // An example that answers OPTIONS itself keeps answering it.
    let own = server
        .by_host(Method::OPTIONS, &mock, "/own")
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .header("x-api-key", &user.key);
    assert_eq!(
        text(own).await,
        (StatusCode::OK, "my own OPTIONS".to_owned())
    );

    // The call itself, and a refusal, both readable by the page.
    for (key, status) in [
        (Some(user.key.as_str()), StatusCode::OK),
        (None, StatusCode::UNAUTHORIZED),
    ] {
        let mut request = server
            .by_host(Method::PUT, &mock, "/a")
            .header("origin", origin);
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status);
        assert_eq!(header(&response, "access-control-allow-origin"), origin);
        assert_eq!(
            header(&response, "access-control-allow-credentials"),
            "true"
        );
        let exposed = header(&response, "access-control-expose-headers").to_ascii_lowercase();
        assert!(exposed.contains("content-type"), "{exposed}");
        if status == StatusCode::OK {
            assert!(exposed.contains("ratelimit-remaining"), "{exposed}");
        }
    }

    // The preflight is in the call log with the rest; only the two answered calls count.
    let calls = server.logged_calls(&user.key, &mock, 4).await;
    let logged: Vec<(&str, &str, u64)> = calls
        .iter()
        .map(|c| {
            let method = c["method"].as_str().unwrap();
            (
                method,
                c["outcome"].as_str().unwrap(),
                c["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        logged,
        [
            ("PUT", "refused", 401),
            ("PUT", "matched", 200),
            ("OPTIONS", "matched", 200),
            ("OPTIONS", "preflight", 204),
        ]
    );
    let (_, usage) = server
        .api(Method::GET, "/api/v1/usage", &user.key, None)
        .await;
    assert_eq!(usage["calls"], 2, "{usage}");
}

#[tokio::test]
async fn without_a_match_the_404_explains_unless_a_fallback_answers() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("nomatch@example.com").await;
    let mock = server
        .create_mock(
            &user.key,
            json!({"name": "nomatch"}),
            &[example("list users", "GET", "/users")],
        )
        .await;

    let (status, body) = json_of(
        server
            .by_path(Method::POST, &mock, "/users")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "no_match", "{body}");
    assert_eq!(body["error"]["name"], "mockRequestNotFoundError");
    assert_eq!(body["error"]["header"], "No matching requests");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("list users") && message.contains("method"),
        "{message}"
    );
    let nearest = &body["explanation"]["near_misses"][0];
    assert_eq!(nearest["name"], "list users", "{body}");
    assert_eq!(nearest["failed"]["condition"], "method", "{body}");

    let fallback = json!({"fallback": {"status": 418, "body": {"fallback": true}}});
    let (status, _) = server
        .api(
            Method::PATCH,
            &format!("/api/v1/mocks/{mock}"),
            &user.key,
            Some(fallback),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = json_of(
        server
            .by_path(Method::POST, &mock, "/users")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::IM_A_TEAPOT, json!({"fallback": true}))
    );
}

#[tokio::test]
async fn a_mock_call_body_over_the_limit_is_a_413_in_our_error_shape() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[("LYREBIRD_MOCK_MAX_BODY_BYTES", "1024")]);
    let user = server.sign_up("big@example.com").await;
    let mock = server
        .create_mock(&user.key, json!({"name": "big"}), &[echo_example()])
        .await;
    let small = server
        .by_path(Method::POST, &mock, "/")
        .body(vec![b'x'; 1024]);
    assert_eq!(status_of(small).await, StatusCode::OK);
    let large = server
        .by_path(Method::POST, &mock, "/")
        .body(vec![b'x'; 1025]);
    let (status, body) = json_of(large.send().await.unwrap()).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"]["code"], "payload_too_large", "{body}");
}

#[tokio::test]
async fn a_mock_never_sees_the_apps_cookies_and_by_path_it_cannot_set_any_or_run_scripts() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("cookies@example.com").await;
    let thief = json!({
        "name": "thief",
        "request": {"method": "GET", "path": "/x"},
        "response": {
            "status": 200,
            "headers": [
                {"name": "Content-Type", "value": "text/html"},
                {"name": "Set-Cookie", "value": "lyrebird_session=planted; Path=/"},
                {"name": "Set-Cookie", "value": "wide=1; Path=/; Domain=localhost"},
                {"name": "Set-Cookie", "value": "own=1; Path=/"}
            ],
            "body": "session=[{{ request.cookies.lyrebird_session | default('none') }}] csrf=[{{ request.cookies.lyrebird_csrf | default('none') }}] theme=[{{ request.cookies.theme | default('none') }}]",
            "template": true
        }
    });
    let mock = server
        .create_mock(&user.key, json!({"name": "thief"}), &[thief])
        .await;
    let cookie = "lyrebird_session=victim-secret; theme=dark; lyrebird_csrf=token";
    let expected = "session=[none] csrf=[none] theme=[dark]";

    let by_path = server
        .by_path(Method::GET, &mock, "/x")
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(header(&by_path, "content-security-policy"), "sandbox");
    assert_eq!(header(&by_path, "x-content-type-options"), "nosniff");
    assert!(by_path.headers().get("set-cookie").is_none());
    assert_eq!(by_path.text().await.unwrap(), expected);

    let by_host = server
        .by_host(Method::GET, &mock, "/x")
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    let set: Vec<&str> = by_host
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap())
        .collect();
    assert_eq!(set, ["lyrebird_session=planted; Path=/", "own=1; Path=/"]);
    assert!(by_host.headers().get("content-security-policy").is_none());
    assert_eq!(by_host.text().await.unwrap(), expected);

    // Nor does the call log keep the session.
    let calls_path = format!("/api/v1/mocks/{mock}/calls");
    let logged = Instant::now();
    let calls = loop {
        let (_, page) = server.api(Method::GET, &calls_path, &user.key, None).await;
        let calls = page["calls"].as_array().cloned().unwrap_or_default();
        if calls.len() == 2 {
            break calls;
        }
        assert!(
            logged.elapsed() < Duration::from_secs(5),
            "calls never logged: {page}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    for call in calls {
        let id = call["id"].as_str().unwrap();
        let (_, detail) = server
            .api(Method::GET, &format!("{calls_path}/{id}"), &user.key, None)
            .await;
        assert!(!detail.to_string().contains("victim-secret"), "{detail}");
    }
}

#[tokio::test]
async fn sign_ups_from_one_address_are_throttled() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    // The log-in throttle's per-address allowance.
    for i in 0..20 {
        server.sign_up(&format!("user{i}@example.com")).await;
    }
    let response = server
        .client
        .post(server.url("/api/v1/accounts"))
        .json(&json!({"email": "one-more@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(header(&response, "retry-after").parse::<u64>().unwrap() > 0);
    let (_, body) = json_of(response).await;
    assert_eq!(body["error"]["code"], "too_many_attempts", "{body}");
}

/// An example whose JSON body is written as a template (text until it is rendered) is sent as
/// JSON, by path and by host alike, as one written as a JSON value is.
#[tokio::test]
async fn a_json_template_written_as_text_is_served_as_json() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("json-template@example.com").await;
    let example = json!({
        "name": "user",
        "request": {"method": "GET", "path": "/users/:id"},
        "response": {"status": 200, "body": "{\"id\": \"{{ path.id }}\"}", "template": true}
    });
    let mock = server
        .create_mock(&user.key, json!({"name": "typed"}), &[example])
        .await;
    for request in [
        server.by_path(Method::GET, &mock, "/users/7"),
        server.by_host(Method::GET, &mock, "/users/7"),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(header(&response, "content-type"), "application/json");
        assert_eq!(response.text().await.unwrap(), r#"{"id": "7"}"#);
    }
}

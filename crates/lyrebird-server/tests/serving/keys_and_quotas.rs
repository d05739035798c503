//! Private mocks and their keys, and the monthly quota in one process and in two.

use super::*;

#[tokio::test]
async fn a_private_mock_answers_only_live_keys_of_its_workspace() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let owner = server.sign_up("owner@example.com").await;
    let stranger = server.sign_up("stranger@example.com").await;
    let mock = server
        .create_mock(
            &owner.key,
            json!({"name": "private", "private": true}),
            &[example("a", "GET", "/a")],
        )
        .await;
    let (status, created) = server
        .api(
            Method::POST,
            "/api/v1/keys",
            &owner.key,
            Some(json!({"name": "frontend", "scope": "mock"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let mock_key = created["api_key"].as_str().unwrap().to_owned();
    let mock_key_id = created["key"]["id"].as_str().unwrap().to_owned();

    let call = |key: Option<&str>| {
        let request = server.by_host(Method::GET, &mock, "/a");
        match key {
            Some(key) => request.header("x-api-key", key),
            None => request,
        }
    };
    let forged = format!("lb_{}", "x".repeat(40));
    for (key, why) in [
        (None, "no key"),
        (Some(forged.as_str()), "a key that does not exist"),
        (Some(stranger.key.as_str()), "another workspace's key"),
    ] {
        let (status, body) = json_of(call(key).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}: {body}");
        assert_eq!(body["error"]["code"], "invalid_credentials", "{body}");
        assert_eq!(body["error"]["name"], "invalidCredentialsError");
    }
    assert_eq!(
        status_of(call(Some(&owner.key))).await,
        StatusCode::OK,
        "admin key"
    );
    assert_eq!(
        status_of(call(Some(&mock_key))).await,
        StatusCode::OK,
        "mock key"
    );

    // Every call is in the call log, refusals included; the last names the mock key.
    let calls_path = format!("/api/v1/mocks/{mock}/calls");
    let calls = server.logged_calls(&owner.key, &mock, 5).await;
    let outcomes: Vec<&str> = calls
        .iter()
        .map(|c| c["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        ["matched", "matched", "refused", "refused", "refused"]
    );
    let newest = calls[0]["id"].as_str().unwrap();
    let (_, detail) = server
        .api(
            Method::GET,
            &format!("{calls_path}/{newest}"),
            &owner.key,
            None,
        )
        .await;
    assert_eq!(detail["key_id"], mock_key_id.as_str(), "{detail}");

    // The mock key's use is recorded, off the request path.
    let used = Instant::now();
    loop {
        let (_, keys) = server
            .api(Method::GET, "/api/v1/keys", &owner.key, None)
            .await;
        let key = keys
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == mock_key_id.as_str())
            .unwrap();
        if !key["last_used_at"].is_null() {
            break;
        }
        assert!(
            used.elapsed() < Duration::from_secs(5),
            "last_used_at never written"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (status, _) = server
        .api(
            Method::DELETE,
            &format!("/api/v1/keys/{mock_key_id}"),
            &owner.key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        status_of(call(Some(&mock_key))).await,
        StatusCode::UNAUTHORIZED,
        "a revoked key is refused on the very next call"
    );
}

/// Sets the quota through the CLI, as an operator does.
fn set_quota(db: &TestDatabase, workspace: &str, quota: u64) {
    let output = lyrebird()
        .args(["workspace", "set-quota", workspace, &quota.to_string()])
        .env("DATABASE_URL", db.url())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(said.contains(&format!("set to {quota}")), "{said}");
}

#[tokio::test]
async fn one_process_admits_exactly_the_quota_then_answers_429_with_the_monthly_limit() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[("LYREBIRD_MONTHLY_QUOTA", "5")]);
    let user = server.sign_up("quota@example.com").await;
    let mock = server
        .create_mock(
            &user.key,
            json!({"name": "quota"}),
            &[example("a", "GET", "/a")],
        )
        .await;

    for remaining in (0..5).rev() {
        let response = server
            .by_path(Method::GET, &mock, "/a")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(&response, "ratelimit-limit"), "5");
        assert_eq!(
            header(&response, "ratelimit-remaining"),
            remaining.to_string()
        );
        let reset: u64 = header(&response, "ratelimit-reset").parse().unwrap();
        assert!(reset > 0 && reset <= 31 * 24 * 3600, "{reset}");
    }
    let refused = server
        .by_path(Method::GET, &mock, "/a")
        .send()
        .await
        .unwrap();
    assert_eq!(header(&refused, "ratelimit-remaining"), "0");
    assert!(refused.headers().contains_key("retry-after"));
    let (status, body) = json_of(refused).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let error = &body["error"];
    assert_eq!(error["code"], "monthly_quota_exceeded", "{body}");
    assert!(error["message"].as_str().unwrap().contains("monthly quota"));
    assert_eq!(
        (error["limit"].as_u64(), error["used"].as_u64()),
        (Some(5), Some(5))
    );
    let resets_at = error["resets_at"].as_str().unwrap();
    assert!(resets_at.ends_with("-01T00:00:00Z"), "{resets_at}");

    let (status, usage) = server
        .api(Method::GET, "/api/v1/usage", &user.key, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (usage["calls"].as_u64(), usage["quota"].as_u64()),
        (Some(5), Some(5)),
        "{usage}"
    );
    assert_eq!(usage["resets_at"], resets_at);
    let month = usage["month"].as_str().unwrap();
    assert!(resets_at > month, "{month} resets at {resets_at}");

    // The operator raises the quota; the running server applies it without a restart.
    set_quota(&db, "quota@example.com", 7);
    let raised = Instant::now();
    while status_of(server.by_path(Method::GET, &mock, "/a")).await != StatusCode::OK {
        assert!(
            raised.elapsed() < Duration::from_secs(5),
            "the new quota never applied"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        status_of(server.by_path(Method::GET, &mock, "/a")).await,
        StatusCode::OK
    );
    assert_eq!(
        status_of(server.by_path(Method::GET, &mock, "/a")).await,
        StatusCode::TOO_MANY_REQUESTS,
        "7 calls in all"
    );
    let (_, usage) = server
        .api(Method::GET, "/api/v1/usage", &user.key, None)
        .await;
    assert_eq!(
        (usage["calls"].as_u64(), usage["quota"].as_u64()),
        (Some(7), Some(7)),
        "{usage}"
    );
}

#[tokio::test]
async fn refused_calls_do_not_count_against_the_quota() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("refused@example.com").await;
    set_quota(&db, &user.workspace, 2);
    let mock = server
        .create_mock(
            &user.key,
            json!({"name": "p", "private": true}),
            &[example("a", "GET", "/a")],
        )
        .await;
    for _ in 0..5 {
        assert_eq!(
            status_of(server.by_path(Method::GET, &mock, "/a")).await,
            StatusCode::UNAUTHORIZED
        );
    }
    let with_key = || {
        server
            .by_path(Method::GET, &mock, "/a")
            .header("x-api-key", &user.key)
    };
    assert_eq!(status_of(with_key()).await, StatusCode::OK);
    assert_eq!(status_of(with_key()).await, StatusCode::OK);
    assert_eq!(status_of(with_key()).await, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn two_processes_together_admit_no_more_than_the_quota() {
    const QUOTA: usize = 1000;
    const CALLS: usize = 5000;
    const LEASE: usize = 100;
    let db = TestDatabase::new().await;
    let envs = [
        ("LYREBIRD_MONTHLY_QUOTA", "1000"),
        ("LYREBIRD_QUOTA_LEASE", "100"),
    ];
    let a = Server::start(&db, &envs);
    let b = Server::start(&db, &envs);
    let user = a.sign_up("pooled@example.com").await;
    let mock = a
        .create_mock(
            &user.key,
            json!({"name": "pooled"}),
            &[example("a", "GET", "/a")],
        )
        .await;

    let (a, b) = (std::sync::Arc::new(a), std::sync::Arc::new(b));
    let mut workers = Vec::new();
    for worker in 0..20 {
        let server = std::sync::Arc::clone(if worker % 2 == 0 { &a } else { &b });
        let mock = mock.clone();
        workers.push(tokio::spawn(async move {
            let mut answered = 0;
            for _ in 0..CALLS / 20 {
                match status_of(server.by_path(Method::GET, &mock, "/a")).await {
                    StatusCode::OK => answered += 1,
                    StatusCode::TOO_MANY_REQUESTS => {}
                    other => panic!("unexpected {other}"),
                }
            }
            answered
        }));
    }
    let mut answered = 0;
    for worker in workers {
        answered += worker.await.unwrap();
    }
    eprintln!("two processes answered {answered} of {CALLS} calls, quota {QUOTA}");
    assert!(
        answered <= QUOTA,
        "{answered} calls admitted over a quota of {QUOTA}"
    );
    assert!(
        answered >= QUOTA - 2 * LEASE,
        "only {answered} calls admitted of a quota of {QUOTA}"
    );

    // Stopped gracefully, both write what they served: usage agrees with the answers.
    let (a, b) = (
        std::sync::Arc::into_inner(a).unwrap(),
        std::sync::Arc::into_inner(b).unwrap(),
    );
    assert!(a.interrupt().success());
    assert!(b.interrupt().success());
    let c = Server::start(&db, &envs);
    let (_, usage) = c.api(Method::GET, "/api/v1/usage", &user.key, None).await;
    assert_eq!(usage["calls"].as_u64(), Some(answered as u64), "{usage}");
}

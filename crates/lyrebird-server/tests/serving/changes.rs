//! Edits reach the answers: on the very next call, and in another process within a second.

use super::*;

#[tokio::test]
async fn an_edit_through_the_api_is_seen_on_the_very_next_call() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("edits@example.com").await;
    let mock = server
        .create_mock(
            &user.key,
            json!({"name": "edits"}),
            &[example("first", "GET", "/a")],
        )
        .await;
    let (_, body) = json_of(
        server
            .by_path(Method::GET, &mock, "/a")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(body["example"], "first");

    let examples = format!("/api/v1/mocks/{mock}/examples");
    for round in 0..5 {
        let name = format!("edit {round}");
        let (status, _) = server
            .api(
                Method::PUT,
                &examples,
                &user.key,
                Some(json!([example(&name, "GET", "/a")])),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (_, body) = json_of(
            server
                .by_host(Method::GET, &mock, "/a")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(body["example"], name.as_str());
    }
    let (status, _) = server
        .api(
            Method::PATCH,
            &format!("/api/v1/mocks/{mock}"),
            &user.key,
            Some(json!({"private": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        status_of(server.by_path(Method::GET, &mock, "/a")).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn an_edit_through_one_process_is_seen_by_another_within_a_second() {
    let db = TestDatabase::new().await;
    let a = Server::start(&db, &[]);
    let b = Server::start(&db, &[]);
    let user = a.sign_up("two@example.com").await;
    let mock = a
        .create_mock(
            &user.key,
            json!({"name": "shared"}),
            &[example("before", "GET", "/a")],
        )
        .await;
    let (_, body) = json_of(b.by_path(Method::GET, &mock, "/a").send().await.unwrap()).await;
    assert_eq!(body["example"], "before", "B has the mock cached");

    let examples = format!("/api/v1/mocks/{mock}/examples");
    let (status, _) = a
        .api(
            Method::PUT,
            &examples,
            &user.key,
            Some(json!([example("after", "GET", "/a")])),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let edited = Instant::now();
    loop {
        let (_, body) = json_of(b.by_path(Method::GET, &mock, "/a").send().await.unwrap()).await;
        if body["example"] == "after" {
            break;
        }
        assert!(
            edited.elapsed() < Duration::from_secs(1),
            "B still answers {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Deleting through A: B forgets the mock too.
    a.api(
        Method::DELETE,
        &format!("/api/v1/mocks/{mock}"),
        &user.key,
        None,
    )
    .await;
    let deleted = Instant::now();
    while status_of(b.by_path(Method::GET, &mock, "/a")).await != StatusCode::NOT_FOUND {
        assert!(
            deleted.elapsed() < Duration::from_secs(1),
            "B still serves the deleted mock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_key_created_or_revoked_through_one_process_is_seen_by_another_within_a_second() {
    let db = TestDatabase::new().await;
    let a = Server::start(&db, &[]);
    let b = Server::start(&db, &[]);
    let user = a.sign_up("keys@example.com").await;
    let mock = a
        .create_mock(
            &user.key,
            json!({"name": "private", "private": true}),
            &[example("a", "GET", "/a")],
        )
        .await;
    let call = |key: &str| b.by_host(Method::GET, &mock, "/a").header("x-api-key", key);
    // B loaded the sign-up's key as it was created, at A.
    let signed_up = Instant::now();
    while status_of(call(&user.key)).await != StatusCode::OK {
        assert!(
            signed_up.elapsed() < Duration::from_secs(1),
            "B refuses the key"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (status, created) = a
        .api(
            Method::POST,
            "/api/v1/keys",
            &user.key,
            Some(json!({"name": "frontend", "scope": "mock"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["api_key"].as_str().unwrap().to_owned();
    let key_id = created["key"]["id"].as_str().unwrap().to_owned();
    let made = Instant::now();
    while status_of(call(&key)).await != StatusCode::OK {
        assert!(
            made.elapsed() < Duration::from_secs(1),
            "B refuses the new key"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (status, _) = a
        .api(
            Method::DELETE,
            &format!("/api/v1/keys/{key_id}"),
            &user.key,
            None,
        )
        .await;
    assert!(status.is_success(), "{status}");
    let revoked = Instant::now();
    while status_of(call(&key)).await != StatusCode::UNAUTHORIZED {
        assert!(
            revoked.elapsed() < Duration::from_secs(1),
            "B still takes the revoked key"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        status_of(call(&user.key)).await,
        StatusCode::OK,
        "the other key lives on"
    );
}

//! The README's walk-through against the binary, and a hostile tenant under a memory cap.

use super::*;

#[tokio::test]
async fn the_readme_walk_through_works_against_the_binary() {
    let db = TestDatabase::new().await;
    let server = Server::start_with(&[("DATABASE_URL", &db.url()), ("RUST_LOG", "debug")]);
    let key = sign_up(&server, "ada@example.com").await;
    let (status, mock) = server
        .post(
            "/api/v1/mocks",
            Some(&key),
            json!({"name": "Petstore", "delay": "3g"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{mock}");
    let port = server.base.rsplit(':').next().unwrap();
    let id = mock["id"].as_str().unwrap();
    assert_eq!(mock["url"], format!("http://{id}.mock.localhost:{port}/"));
    let (status, example) = server
        .post(
            &format!("/api/v1/mocks/{id}/examples"),
            Some(&key),
            json!({
                "name": "One pet",
                "request": {"method": "GET", "path": "/pets/:id"},
                "response": {"status": 200, "body": {"id": 1, "name": "Rex"}}
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{example}");
    let answer = reqwest::get(format!("{}/m/{id}/pets/1", server.base))
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(
        answer.json::<Value>().await.unwrap(),
        json!({"id": 1, "name": "Rex"})
    );
    assert_eq!(log_in(&server, "ada@example.com").await, StatusCode::OK);

    let logged = server.logged();
    assert!(logged.contains("/api/v1/mocks"), "requests are logged");
    for secret in [key.as_str(), &key[10..], "correct horse battery"] {
        assert!(!logged.contains(secret), "a secret reached the log");
    }
    assert!(server.interrupt().success());
}

/// What once aborted the whole server, each sent by a tenant who just signed up, against the
/// binary with its address space capped at 3 GiB: every one gets its documented answer, and
/// the server goes on answering everyone.
#[tokio::test]
async fn a_hostile_tenant_cannot_abort_the_server_under_a_memory_cap() {
    let db = TestDatabase::new().await;
    let server = Server::start_capped(&[("DATABASE_URL", &db.url())], 3 << 30);
    let key = sign_up(&server, "mallory@example.com").await;
    let (status, mock) = server
        .post("/api/v1/mocks", Some(&key), json!({"name": "bombs"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{mock}");
    let id = mock["id"].as_str().unwrap().to_owned();
    let examples = format!("/api/v1/mocks/{id}/examples");

    // Five doublings of 100 MB: `memory allocation of 1600000000 bytes failed`.
    let bomb = r#"{% set a = "x" * 100000000 %}{% set b = a ~ a %}{% set c = b ~ b %}{% set d = c ~ c %}{% set e = d ~ d %}{% set f = e ~ e %}{{ f }}"#;
    for (path, body) in [("/bomb", bomb), ("/repeat", r#"{{ "x" * 100000000 }}"#)] {
        let example = json!({
            "name": path, "request": {"method": "GET", "path": path},
            "response": {"body": body, "template": true}
        });
        let (status, saved) = server.post(&examples, Some(&key), example).await;
        assert_eq!(status, StatusCode::CREATED, "{saved}");
        let (status, tried) = server
            .post(
                &format!("/api/v1/mocks/{id}/try"),
                Some(&key),
                json!({"path": path}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{tried}");
        assert_eq!(tried["response"]["status"], 500, "{tried}");
        let answer: Value = serde_json::from_str(tried["response"]["body"].as_str().unwrap())
            .expect("a JSON error");
        assert_eq!(answer["code"], "render_limit", "{answer}");
        let called = reqwest::get(format!("{}/m/{id}{path}", server.base))
            .await
            .unwrap();
        assert_eq!(called.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            called.json::<Value>().await.unwrap()["message"],
            "the template built more than 32 MiB of strings"
        );
    }

    // A poison environment: 4 MB named by a 1,000-segment path.
    let response = reqwest::Client::new()
        .patch(format!("{}/api/v1/mocks/{id}", server.base))
        .bearer_auth(&key)
        .json(&json!({"environment": {"a": "x".repeat(4_000_000)}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused: Value = response.json().await.unwrap();
    assert_eq!(refused["error"]["field"], "environment", "{refused}");
    assert_eq!(
        refused["error"]["message"],
        "environment: holds 4000001 bytes; at most 65536 are kept"
    );

    // Postman variables that name each other a hundred times: 2,950 bytes, 10 GB resolved.
    let mut variables = Vec::new();
    for level in 0..4 {
        let value = format!("{{{{v{}}}}}", level + 1).repeat(100);
        variables.push(json!({"key": format!("v{level}"), "value": value}));
    }
    variables.push(json!({"key": "v4", "value": "x".repeat(100)}));
    let collection = json!({
        "info": {"name": "chain", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},
        "item": [{"name": "r", "request": {"method": "GET", "url": "https://api.example.com/{{v0}}"}}],
        "variable": variables,
    });
    let (status, refused) = server
        .post("/api/v1/imports/postman", Some(&key), collection)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["code"], "invalid_document", "{refused}");

    // Still up, for everyone.
    assert_eq!(server.ready().await, StatusCode::OK);
    let other = sign_up(&server, "ada@example.com").await;
    let (status, _) = server
        .post("/api/v1/mocks", Some(&other), json!({"name": "fine"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(server.interrupt().success());
}

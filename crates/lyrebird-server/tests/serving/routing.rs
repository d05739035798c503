//! Reaching a mock: both URL forms, every method, and mocks that are not there.

use super::*;

#[tokio::test]
async fn both_url_forms_reach_the_mock_and_the_engine_sees_the_same_path() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("forms@example.com").await;
    let mock = server
        .create_mock(&user.key, json!({"name": "forms"}), &[echo_example()])
        .await;

    let expected = "path=/users/7 method=GET";
    let by_path = text(server.by_path(Method::GET, &mock, "/users/7")).await;
    assert_eq!(by_path, (StatusCode::OK, expected.to_owned()));
    let by_host = text(server.by_host(Method::GET, &mock, "/users/7")).await;
    assert_eq!(by_host, (StatusCode::OK, expected.to_owned()));

    // Any letter case, and without the port.
    let shouting = server
        .client
        .get(server.url("/users/7"))
        .header("host", format!("{}.MOCK.LocalHost", mock.to_uppercase()));
    assert_eq!(text(shouting).await.1, expected);
    // The mock's root, in both forms.
    assert_eq!(
        text(server.client.get(server.url(&format!("/m/{mock}"))))
            .await
            .1,
        "path=/ method=GET"
    );
    assert_eq!(
        text(server.by_host(Method::GET, &mock, "/")).await.1,
        "path=/ method=GET"
    );
}

#[tokio::test]
async fn every_method_reaches_the_mock_and_head_answers_like_get_without_a_body() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("methods@example.com").await;
    let mock = server
        .create_mock(&user.key, json!({"name": "methods"}), &[echo_example()])
        .await;

    for method in ["POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PURGE"] {
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let (status, body) = text(server.by_host(method.clone(), &mock, "/x")).await;
        assert_eq!(status, StatusCode::OK, "{method}");
        assert_eq!(body, format!("path=/x method={method}"));
    }
    let head = server
        .by_path(Method::HEAD, &mock, "/x")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.headers().contains_key("ratelimit-remaining"));
    assert_eq!(head.bytes().await.unwrap().len(), 0);
}

#[tokio::test]
async fn an_unknown_deleted_or_malformed_mock_is_a_404_that_says_so() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("unknown@example.com").await;
    let mock = server
        .create_mock(
            &user.key,
            json!({"name": "doomed"}),
            &[example("a", "GET", "/a")],
        )
        .await;
    assert_eq!(
        status_of(server.by_path(Method::GET, &mock, "/a")).await,
        StatusCode::OK
    );
    let (status, _) = server
        .api(
            Method::DELETE,
            &format!("/api/v1/mocks/{mock}"),
            &user.key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let unknown = uuid::Uuid::now_v7().to_string();
    for request in [
        server.by_path(Method::GET, &mock, "/a"),
        server.by_host(Method::GET, &mock, "/a"),
        server.by_path(Method::GET, &unknown, "/a"),
        server.client.get(server.url("/m/not-a-mock/a")),
        server
            .client
            .get(server.url("/a"))
            .header("host", "nope.mock.localhost"),
    ] {
        let (status, body) = json_of(request.send().await.unwrap()).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["error"]["code"], "mock_not_found", "{body}");
    }
}

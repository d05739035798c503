//! The pages themselves: escaping, another workspace's mock, settings, the example editor, the
//! try panel and deleting a mock.

use super::*;

#[tokio::test]
async fn a_wrong_password_on_the_page_says_so_and_keeps_the_email() {
    let site = Site::start().await;
    site.signed_up("ada@example.com").await;
    let browser = site.browser();
    let (_, landing) = browser.get("/").await;
    let token = hidden_token(&landing);
    let (status, page) = browser
        .post_form(
            "/login",
            &[
                ("csrf_token", &token),
                ("email", "ada@example.com"),
                ("password", "wrong password"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("Wrong email or password."), "{page}");
    assert!(page.contains(r#"value="ada@example.com""#), "{page}");
}

#[tokio::test]
async fn what_users_typed_is_escaped() {
    let site = Site::start().await;
    let browser = site.signed_up("ada@example.com").await;
    let id = browser.create_mock("<script>alert(1)</script>").await;
    for path in ["/mocks".to_owned(), format!("/mocks/{id}")] {
        let (status, page) = browser.get(&path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!page.contains("<script>alert(1)"), "{path}: {page}");
        assert!(page.contains("&lt;script&gt;alert(1)"), "{path}");
    }
}

#[tokio::test]
async fn another_workspaces_mock_is_not_found() {
    let site = Site::start().await;
    let ada = site.signed_up("ada@example.com").await;
    let id = ada.create_mock("Ada's mock").await;
    let bob = site.signed_up("bob@example.com").await;
    for path in [
        format!("/mocks/{id}"),
        format!("/mocks/{id}/examples/new"),
        format!("/mocks/{id}/delete"),
    ] {
        let (status, page) = bob.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(!page.contains("Ada's mock"));
    }
    let token = bob.csrf().await;
    let (status, _) = bob
        .post_form(&format!("/mocks/{id}/delete"), &[("csrf_token", &token)])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = bob
        .post_json(&format!("/api/v1/mocks/{id}/try"), json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = ada.get(&format!("/mocks/{id}")).await;
    assert_eq!(status, StatusCode::OK, "still there for its owner");
    let (status, page) = ada.get("/mocks/not-an-id").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        page.contains("This page does not exist"),
        "a page, not JSON: {page}"
    );
}

/// The pages once looked for the mock and read its examples side by side, and dropped the read
/// when the mock was not found. Dropped inside its `BEGIN`, the read left its pooled connection
/// in a transaction (sqlx 0.9), and the `SET TRANSACTION` of the next request to start a
/// transaction there failed: the try below answered 500 now and then.
#[tokio::test]
async fn pages_of_another_workspaces_mock_leave_no_connection_in_a_transaction() {
    let site = Site::start().await;
    let ada = site.signed_up("ada@example.com").await;
    let bob = site.signed_up("bob@example.com").await;
    for _ in 0..8 {
        let id = ada.create_mock("Ada's mock").await;
        let path = format!("/mocks/{id}");
        let pages = futures_util::future::join_all((0..24).map(|_| bob.get(&path))).await;
        assert!(
            pages
                .iter()
                .all(|(status, _)| *status == StatusCode::NOT_FOUND)
        );
        assert_eq!(site.connections_left_in_a_transaction().await, 0);
        let (status, body) = bob
            .post_json(&format!("/api/v1/mocks/{id}/try"), json!({}))
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
}

#[tokio::test]
async fn settings_are_saved_and_a_bad_value_is_shown_beside_its_field() {
    let site = Site::start().await;
    let browser = site.signed_up("ada@example.com").await;
    let id = browser.create_mock("Pets").await;
    let token = browser.csrf().await;
    let settings = |delay: &'static str, timeout_ms: &'static str| {
        vec![
            ("csrf_token", token.clone()),
            ("name", "Pets v2".to_owned()),
            ("private", "on".to_owned()),
            ("delay", delay.to_owned()),
            ("environment", "TOKEN=abc\nhost = api.test".to_owned()),
            ("selection", "postman".to_owned()),
            ("match_headers", "accept, x-tenant".to_owned()),
            (
                "fallback",
                r#"{"status": 418, "body": "teapot"}"#.to_owned(),
            ),
            ("upstream_url", "https://api.example.com/v2".to_owned()),
            ("pass_through", "on".to_owned()),
            ("upstream_timeout_ms", timeout_ms.to_owned()),
        ]
    };
    let save = async |delay, timeout_ms| {
        let fields = settings(delay, timeout_ms);
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        browser
            .post_form(&format!("/mocks/{id}/settings"), &fields)
            .await
    };
    let (status, page) = save("4g", "soon").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains(r#"<p class="error" id="e-delay">"#), "{page}");
    assert!(page.contains(r#"value="4g""#), "what was typed is kept");
    assert!(page.contains(r#"<p class="error" id="e-upstream_timeout_ms">"#));

    // Refused by the API, the upstream's timeout is shown beside its own field.
    let (status, page) = save("250", "30001").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let error = page
        .split(r#"<p class="error" id="e-upstream_timeout_ms">"#)
        .nth(1)
        .expect("an error beside the timeout");
    assert!(
        error.starts_with("an upstream&#x27;s timeout is 1 to 30000 ms"),
        "{error}"
    );

    let (status, page) = save("250", "5000").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Saved the settings of Pets v2."));
    assert!(page.contains(r#"<span class="badge private">Private</span>"#));

    let response = browser
        .client
        .get(format!("{}/api/v1/mocks/{id}", site.base))
        .send()
        .await
        .unwrap();
    let mock: Value = response.json().await.unwrap();
    assert_eq!(mock["delay"], 250);
    assert_eq!(mock["private"], true);
    assert_eq!(mock["selection"], "postman");
    assert_eq!(
        mock["environment"],
        json!({"TOKEN": "abc", "host": "api.test"})
    );
    assert_eq!(mock["match_headers"], json!(["accept", "x-tenant"]));
    assert_eq!(mock["fallback"]["status"], 418);
    assert_eq!(
        mock["upstream"],
        json!({"url": "https://api.example.com/v2", "pass_through": true, "timeout_ms": 5000})
    );
}

#[tokio::test]
async fn the_editor_saves_an_example_and_shows_a_bad_template_beside_the_body() {
    let site = Site::start().await;
    let browser = site.signed_up("ada@example.com").await;
    let id = browser.create_mock("Pets").await;
    let token = browser.csrf().await;
    let example = |body: &'static str| {
        [
            ("csrf_token", token.clone()),
            ("mode", "fields".to_owned()),
            ("name", "one pet".to_owned()),
            ("method", "GET".to_owned()),
            ("path", "/pets/:id".to_owned()),
            ("query", r#"{"expand": {"present": true}}"#.to_owned()),
            ("status", "200".to_owned()),
            ("response_body_kind", "text".to_owned()),
            ("response_body", body.to_owned()),
            ("template", "on".to_owned()),
        ]
    };
    let fields = example("{\"id\": {{ request.params.id ");
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, page) = browser
        .post_form(&format!("/mocks/{id}/examples/new"), &fields)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let error = page
        .split(r#"<p class="error" id="e-response_body">"#)
        .nth(1)
        .expect("an error beside the body");
    assert!(error.starts_with("line 1, column "), "{error}");

    let fields = example("{\"id\": {{ request.params.id }}}");
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, page) = browser
        .post_form(&format!("/mocks/{id}/examples/new"), &fields)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Saved one pet."));

    let (_, mock_page) = browser.get(&format!("/mocks/{id}")).await;
    assert!(mock_page.contains("one pet"));
    // MiniJinja escapes `/` too.
    assert!(mock_page.contains("&#x2f;pets&#x2f;:id"), "{mock_page}");
    assert!(!mock_page.contains("No examples yet"));
}

#[tokio::test]
async fn the_json_mode_of_the_editor_places_errors_on_the_json() {
    let site = Site::start().await;
    let browser = site.signed_up("ada@example.com").await;
    let id = browser.create_mock("Pets").await;
    let token = browser.csrf().await;
    let (status, page) = browser
        .post_form(
            &format!("/mocks/{id}/examples/new"),
            &[
                ("csrf_token", &token),
                ("mode", "json"),
                ("json", "{\"name\": \"x\",\n \"response\": {\"status\": }}"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.contains(r#"id="e-json">malformed JSON at line 2"#),
        "{page}"
    );
    assert!(page.contains("<details class=\"panel json-mode\" open>"));
}

#[tokio::test]
async fn trying_a_request_says_which_example_answers_and_counts_nothing() {
    let site = Site::start().await;
    let browser = site.signed_up("ada@example.com").await;
    let id = browser.create_mock("Pets").await;
    let (status, _) = browser
        .post_json(
            &format!("/api/v1/mocks/{id}/examples"),
            json!({
                "name": "one pet",
                "request": {"method": "GET", "path": "/pets/:id"},
                "response": {"status": 200, "body": {"name": "Rex"}, "delay_ms": 30}
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, tried) = browser
        .post_json(
            &format!("/api/v1/mocks/{id}/try"),
            json!({"method": "get", "path": "/pets/7?expand=owner",
                   "headers": [{"name": "Accept", "value": "application/json"}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tried}");
    assert_eq!(tried["outcome"], "matched");
    assert_eq!(tried["example"]["name"], "one pet");
    assert_eq!(tried["decided_by"]["by"], "level");
    assert_eq!(tried["response"]["status"], 200);
    assert_eq!(tried["response"]["body"], r#"{"name":"Rex"}"#);
    assert_eq!(tried["response"]["delay_ms"], 30);

    let (_, missed) = browser
        .post_json(
            &format!("/api/v1/mocks/{id}/try"),
            json!({"method": "DELETE", "path": "/pets/7"}),
        )
        .await;
    assert_eq!(missed["outcome"], "no_match");
    assert_eq!(missed["response"]["status"], 404);
    let nearest = &missed["explanation"]["near_misses"][0];
    assert_eq!(nearest["name"], "one pet");
    assert_eq!(nearest["failed"]["condition"], "method");

    let (status, refused) = browser
        .post_json(&format!("/api/v1/mocks/{id}/try"), json!({"method": "G T"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused["error"]["field"], "method");

    let usage: Value = browser
        .client
        .get(format!("{}/api/v1/usage", site.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(usage["calls"], 0, "tries do not count against the quota");
    let calls: Value = browser
        .client
        .get(format!("{}/api/v1/mocks/{id}/calls", site.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(calls["calls"], json!([]), "tries are not logged: {calls}");
}

#[tokio::test]
async fn deleting_a_mock_asks_first_then_removes_it() {
    let site = Site::start().await;
    let browser = site.signed_up("ada@example.com").await;
    let id = browser.create_mock("Short-lived").await;
    let (status, page) = browser.get(&format!("/mocks/{id}/delete")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Delete “Short-lived”?"), "{page}");
    let token = hidden_token(&page);
    let (status, page) = browser
        .post_form(&format!("/mocks/{id}/delete"), &[("csrf_token", &token)])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Deleted Short-lived"), "{page}");
    assert!(page.contains("No mocks yet"));
    let (status, _) = browser.get(&format!("/mocks/{id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// The call log page's search form gives times as a browser's `datetime-local` field does; its
/// export links hand them to the API as the RFC 3339 times the API reads, and the export then
/// answers rather than refusing the filter.
#[tokio::test]
async fn the_call_logs_export_links_carry_the_forms_times_as_the_api_reads_them() {
    let site = Site::start().await;
    let browser = site.signed_up("exporter@example.com").await;
    let id = browser.create_mock("Exported").await;
    let (status, page) = browser
        .get(&format!(
            "/mocks/{id}/calls?from=2026-11-21T12:00&to=2026-11-22T08:30"
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let href = page
        .split('"')
        .find(|part| part.contains("/calls/export?format=har"))
        .expect("an export link")
        .replace("&amp;", "&");
    assert!(
        href.ends_with("from=2026-11-21T12%3A00%3A00Z&to=2026-11-22T08%3A30%3A00Z"),
        "{href}"
    );
    let (status, _) = browser.get(&href).await;
    assert_eq!(status, StatusCode::OK, "{href}");
}

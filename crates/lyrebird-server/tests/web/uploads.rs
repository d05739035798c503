//! Uploading files through the page: a Postman collection, warnings, the token checked first,
//! and NUL characters in form fields.

use super::*;

/// Posts the upload form as a browser does: multipart, with the session's token.
async fn upload(
    browser: &Browser,
    kind: &str,
    file_name: &str,
    content: &str,
) -> reqwest::Response {
    let token = browser.csrf().await;
    let boundary = "lyrebirdboundary";
    let field = |name: &str, value: &str| {
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        )
    };
    let body = [
        field("csrf_token", &token),
        field("kind", kind),
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\nContent-Type: application/json\r\n\r\n{content}\r\n"
        ),
        field("import_name", ""),
        format!("--{boundary}--\r\n"),
    ]
    .concat();
    browser
        .client
        .post(format!("{}/mocks/import", browser.base))
        .header(
            CONTENT_TYPE,
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn uploading_a_postman_collection_creates_the_mock_with_its_examples() {
    let site = Site::start().await;
    let browser = site.signed_up("ada@example.com").await;
    let collection = json!({
        "info": {"name": "Tiny <shop>", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},
        "item": [{
            "name": "list items",
            "request": {"method": "GET", "url": "{{base}}/items"},
            "response": [{"name": "ok", "code": 200, "body": "[]",
                          "originalRequest": {"method": "GET", "url": "{{base}}/items"}}]
        }]
    });
    let response = upload(&browser, "postman", "shop.json", &collection.to_string()).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.url().path().starts_with("/mocks/"));
    let page = response.text().await.unwrap();
    assert!(
        page.contains("Imported shop.json as Tiny &lt;shop&gt;: 1 example from 1 request."),
        "{page}"
    );
    assert!(page.contains("&#x2f;items"), "{page}");
}

#[tokio::test]
async fn an_uploads_warnings_are_shown_and_a_wrong_kind_of_file_is_refused_on_the_form() {
    let site = Site::start().await;
    let browser = site.signed_up("ada@example.com").await;
    let har = json!({"log": {"version": "1.2", "creator": {"name": "test", "version": "1"}, "entries": [
        {"request": {"method": "GET", "url": "http://api.test/items", "headers": []},
         "response": {"status": 200, "headers": [], "content": {"text": "[]"}}},
        {"request": {"method": "POST", "url": "http://api.test/items", "headers": []},
         "response": {"status": 0, "headers": [], "content": {}}}
    ]}});
    let response = upload(&browser, "har", "session.har", &har.to_string()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert!(page.contains(r#"class="flash flash-warning""#), "{page}");
    assert!(
        page.contains("entry 2 (POST &#x2f;items): the exchange has no response status"),
        "{page}"
    );

    let response = upload(&browser, "openapi", "session.har", &har.to_string()).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    assert!(
        page.contains(
            r#"id="e-file">session.har could not be imported: expected an OpenAPI description"#
        ),
        "{page}"
    );
    let (_, dashboard) = browser.get("/mocks").await;
    assert_eq!(
        dashboard.matches("mock-card").count(),
        1,
        "the refused file made no mock"
    );
}

/// The session cookie (`lyrebird_session=...`) of a new log-in as `email`, for raw requests.
async fn session_cookie(site: &Site, email: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/sessions", site.base))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

#[tokio::test]
async fn an_upload_without_its_token_first_is_refused_before_its_file_is_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let site = Site::start().await;
    let browser = site.signed_up("ada@example.com").await;
    let cookie = session_cookie(&site, "ada@example.com").await;
    let part = |name: &str| format!("--b\r\nContent-Disposition: form-data; name=\"{name}\"");
    let wrong_token = format!("{}\r\n\r\n{}\r\n", part("csrf_token"), "0".repeat(64));
    let file = format!(
        "{}; filename=\"big.json\"\r\n\r\n{{\"info\": ",
        part("file")
    );
    for first_bytes in [format!("{wrong_token}{file}"), file.clone()] {
        let mut stream = tokio::net::TcpStream::connect(site.base.trim_start_matches("http://"))
            .await
            .unwrap();
        // Announces a large file, sends its first bytes and holds the connection open.
        let head = format!(
            "POST /mocks/import HTTP/1.1\r\nHost: lyrebird.test\r\nCookie: {cookie}\r\n\
             Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000000\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        stream.write_all(first_bytes.as_bytes()).await.unwrap();
        let mut answer = vec![0; 64 * 1024];
        let read =
            tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut answer))
                .await
                .expect("answered without the rest of the body")
                .unwrap();
        let answer = String::from_utf8_lossy(&answer[..read]).to_lowercase();
        assert!(answer.starts_with("http/1.1 403 "), "{answer}");
        assert!(answer.contains("connection: close"), "{answer}");
    }
    let (_, page) = browser.get("/mocks").await;
    assert!(page.contains("No mocks yet"), "nothing was created");
}

#[tokio::test]
async fn a_form_field_holding_a_nul_is_refused_naming_it() {
    let site = Site::start().await;
    let browser = site.signed_up("ada@example.com").await;
    let token = browser.csrf().await;
    let (status, page) = browser
        .post_form("/mocks", &[("csrf_token", &token), ("name", "Pe\0ts")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(
        page.contains("The field name contains a NUL character"),
        "{page}"
    );
    let (_, page) = browser.get("/mocks").await;
    assert!(page.contains("No mocks yet"), "nothing was created");
    // The call log's search, a query string, says so on the page, as for any bad filter.
    let id = browser.create_mock("Pets").await;
    let (status, page) = browser.get(&format!("/mocks/{id}/calls?q=a%00b")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(page.contains("NUL character"), "{page}");
}

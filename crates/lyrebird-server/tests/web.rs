//! The web pages over real HTTP against a real database: a browser-like client (cookies kept,
//! redirects followed) signs up, creates mocks and examples through the forms, and is refused
//! what it should be refused. The browser itself is tested in `web/tests/`.

#[path = "support/in_process.rs"]
mod in_process;

use in_process::Options;
use lyrebird_store::testing::TestDatabase;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, LOCATION, RETRY_AFTER};
use serde_json::{Value, json};
use sqlx::Row;

const PASSWORD: &str = "correct horse battery";

struct Site {
    base: String,
    db: TestDatabase,
    server: tokio::task::JoinHandle<()>,
}

impl Site {
    async fn start() -> Self {
        let db = TestDatabase::new().await;
        let running = in_process::start(
            db.store().clone(),
            Options {
                max_body_bytes: 64 * 1024,
                ..Options::default()
            },
        )
        .await;
        Self {
            base: running.base,
            db,
            server: running.server,
        }
    }

    /// A browser: cookies kept, redirects followed.
    fn browser(&self) -> Browser {
        Browser {
            base: self.base.clone(),
            client: reqwest::Client::builder()
                .cookie_store(true)
                .build()
                .unwrap(),
        }
    }

    /// A browser signed up (and so logged in) as `email`.
    async fn signed_up(&self, email: &str) -> Browser {
        let browser = self.browser();
        let landing = browser.get("/").await;
        let token = hidden_token(&landing.1);
        let (status, page) = browser
            .post_form(
                "/signup",
                &[
                    ("csrf_token", &token),
                    ("email", email),
                    ("password", PASSWORD),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("Welcome to Lyrebird"), "{page}");
        browser
    }
}

impl Site {
    /// How many idle connections of the site's pool are inside a transaction that a finished
    /// request left open. Outside one, each statement is a transaction of its own, which begins
    /// when the statement does (one message of the simple protocol).
    async fn connections_left_in_a_transaction(&self) -> usize {
        let pool = self.db.store().pool();
        // Held until all are asked, so that none is asked twice.
        let mut held = Vec::new();
        let mut open = 0;
        while let Some(mut connection) = pool.try_acquire() {
            let row = sqlx::raw_sql("SELECT transaction_timestamp() = statement_timestamp()")
                .fetch_one(&mut *connection)
                .await
                .unwrap();
            open += usize::from(!row.get::<bool, _>(0));
            held.push(connection);
        }
        open
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        self.server.abort();
    }
}

struct Browser {
    base: String,
    client: reqwest::Client,
}

impl Browser {
    async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .form(fields)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap())
    }

    /// A script's JSON request as app.js sends it: with the session's CSRF token when signed
    /// in.
    async fn post_json(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let mut request = self.client.post(format!("{}{path}", self.base)).json(&body);
        if let Some(token) = csrf_meta(&self.get("/mocks").await.1) {
            request = request.header("x-csrf-token", token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The session's CSRF token, as the layout gives it to scripts.
    async fn csrf(&self) -> String {
        csrf_meta(&self.get("/mocks").await.1).expect("a csrf meta tag")
    }

    /// Creates a mock through the form; returns its id.
    async fn create_mock(&self, name: &str) -> String {
        let token = self.csrf().await;
        let response = self
            .client
            .post(format!("{}/mocks", self.base))
            .form(&[("csrf_token", token.as_str()), ("name", name)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let path = response.url().path().to_owned();
        path.strip_prefix("/mocks/")
            .expect("lands on the mock page")
            .to_owned()
    }
}

/// The CSRF token a signed-in page gives its scripts, if any.
fn csrf_meta(page: &str) -> Option<String> {
    let start = page.find(r#"name="csrf-token" content=""#)? + 27;
    page.get(start..start + 64).map(str::to_owned)
}

/// The value of the first hidden `csrf_token` field of a page.
fn hidden_token(page: &str) -> String {
    let marker = r#"name="csrf_token" value=""#;
    let start = page.find(marker).expect("a csrf_token field") + marker.len();
    let end = start + page[start..].find('"').unwrap();
    page[start..end].to_owned()
}

#[tokio::test]
async fn a_new_user_signs_up_and_lands_on_an_empty_dashboard() {
    let site = Site::start().await;
    let browser = site.signed_up("ada@example.com").await;
    let (status, page) = browser.get("/mocks").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("No mocks yet"), "{page}");
    assert!(
        page.contains("ada@example.com"),
        "the nav shows who is signed in"
    );
    // The flash was shown once.
    assert!(!page.contains("Welcome to Lyrebird"));
    // Signed in, the landing page leads to the dashboard.
    let (_, landing) = browser.get("/").await;
    assert!(landing.contains("No mocks yet"));
}

#[tokio::test]
async fn a_page_without_a_session_redirects_to_log_in_and_back() {
    let site = Site::start().await;
    site.signed_up("ada@example.com").await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let response = no_redirects
        .get(format!("{}/mocks/new", site.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[LOCATION], "/login?next=/mocks/new");
    let response = no_redirects
        .post(format!("{}/mocks", site.base))
        .form(&[("name", "Pets")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()[LOCATION],
        "/login?next=/mocks",
        "a form's address answers only POST, so it is not where to come back to"
    );

    let browser = site.browser();
    let (_, login) = browser.get("/login?next=/mocks/new").await;
    let token = hidden_token(&login);
    let (status, page) = browser
        .post_form(
            "/login",
            &[
                ("csrf_token", &token),
                ("email", "ada@example.com"),
                ("password", PASSWORD),
                ("next", "/mocks/new"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Start from scratch"), "{page}");
}

#[tokio::test]
async fn forms_without_the_csrf_token_are_refused() {
    let site = Site::start().await;
    let browser = site.signed_up("ada@example.com").await;
    let (status, page) = browser.post_form("/mocks", &[("name", "Pets")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("security token"), "{page}");
    let (status, _) = browser
        .post_form(
            "/mocks",
            &[("csrf_token", &"0".repeat(64)), ("name", "Pets")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = browser.post_form("/logout", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, page) = browser.get("/mocks").await;
    assert!(page.contains("No mocks yet"), "nothing was created");

    // Sign-up without the double-submit token, as another site's form would post it.
    let stranger = reqwest::Client::new();
    let response = stranger
        .post(format!("{}/signup", site.base))
        .form(&[("email", "eve@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn api_changes_made_with_the_session_cookie_need_the_csrf_header() {
    let site = Site::start().await;
    let browser = site.signed_up("forged@example.com").await;
    let url = format!("{}/api/v1/mocks", browser.base);
    // What another page can make a browser send: a plain form, or JSON without the header.
    let forged = [
        browser.client.post(&url).form(&[("name", "forged")]),
        browser.client.post(&url).json(&json!({"name": "forged"})),
        browser
            .client
            .post(&url)
            .header("x-csrf-token", "0".repeat(64))
            .json(&json!({"name": "forged"})),
    ];
    for request in forged {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "csrf_token_invalid", "{body}");
    }
    // Reading needs no token; the app's own request, with it, is accepted.
    let listed = browser.client.get(&url).send().await.unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    let (status, created) = browser
        .post_json("/api/v1/mocks", json!({"name": "mine"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (_, mocks) = browser.get("/api/v1/mocks").await;
    assert!(!mocks.contains("forged"), "{mocks}");
}

#[tokio::test]
async fn pages_cannot_be_framed_and_nothing_showing_a_secret_is_cached() {
    let site = Site::start().await;
    let browser = site.signed_up("frames@example.com").await;
    for path in ["/", "/mocks", "/keys"] {
        let response = browser
            .client
            .get(format!("{}{path}", browser.base))
            .send()
            .await
            .unwrap();
        let headers = response.headers();
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(
            headers["content-security-policy"], "frame-ancestors 'none'",
            "{path}"
        );
        assert_eq!(headers["cache-control"], "no-store", "{path}");
    }
    // The API's answers, a new key's included, are never stored either.
    let token = browser.csrf().await;
    let created = browser
        .client
        .post(format!("{}/api/v1/keys", browser.base))
        .header("x-csrf-token", token)
        .json(&json!({"name": "ci", "scope": "admin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_eq!(created.headers()["cache-control"], "no-store");
    // Static files keep their own caching.
    let script = browser
        .client
        .get(format!("{}/static/app.js", browser.base))
        .send()
        .await
        .unwrap();
    assert_eq!(script.headers()["cache-control"], "public, max-age=300");
}

#[tokio::test]
async fn logging_out_ends_the_session() {
    let site = Site::start().await;
    let browser = site.signed_up("ada@example.com").await;
    let token = browser.csrf().await;
    let (status, page) = browser
        .post_form("/logout", &[("csrf_token", &token)])
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Create my account"), "{page}");
    let (_, page) = browser.get("/mocks").await;
    assert!(page.contains("Log in"), "back on the log-in page: {page}");
}

#[tokio::test]
async fn repeated_failed_logins_are_throttled_on_the_api_and_the_page() {
    let site = Site::start().await;
    site.signed_up("ada@example.com").await;
    let browser = site.browser();
    let wrong = json!({"email": "ada@example.com", "password": "not the password"});
    for attempt in 1..=5 {
        let (status, _) = browser.post_json("/api/v1/sessions", wrong.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    let response = browser
        .client
        .post(format!("{}/api/v1/sessions", site.base))
        .json(&json!({"email": "ada@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    let wait: u64 = response.headers()[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=31).contains(&wait), "{wait}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "too_many_attempts");

    let (_, landing) = browser.get("/login").await;
    let token = hidden_token(&landing);
    let (status, page) = browser
        .post_form(
            "/login",
            &[
                ("csrf_token", &token),
                ("email", "ADA@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(page.contains("Too many failed attempts"), "{page}");

    // Another account is not affected.
    site.signed_up("bob@example.com").await;
}

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
    let settings = |delay: &'static str| {
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
        ]
    };
    let fields = settings("4g");
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, page) = browser
        .post_form(&format!("/mocks/{id}/settings"), &fields)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.contains(r#"<p class="error" id="e-delay">"#), "{page}");
    assert!(page.contains(r#"value="4g""#), "what was typed is kept");

    let fields = settings("250");
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, page) = browser
        .post_form(&format!("/mocks/{id}/settings"), &fields)
        .await;
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

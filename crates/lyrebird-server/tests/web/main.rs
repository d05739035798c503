//! The web pages over real HTTP against a real database: a browser-like client (cookies kept,
//! redirects followed) signs up, creates mocks and examples through the forms, and is refused
//! what it should be refused. The browser itself is tested in `web/tests/`.

mod account;
mod audit;
#[path = "../support/in_process.rs"]
mod in_process;
mod invitations;
mod pages;
mod sessions;
mod teams;
mod uploads;

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

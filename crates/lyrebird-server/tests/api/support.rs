//! A running app for one test, and a small client for it.

use lyrebird_store::testing::TestDatabase;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use lyrebird_server::config::MailArgs;

use crate::in_process::{self, Options};

/// The body limit the tests run with, small enough to exceed cheaply.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    /// Kept for the test's lifetime: dropping it drops the database.
    pub db: TestDatabase,
    server: tokio::task::JoinHandle<()>,
}

/// A signed-up user: their admin key and workspace.
pub struct User {
    pub key: String,
    pub workspace: String,
}

impl TestApp {
    pub async fn start() -> Self {
        Self::with_body_limit(MAX_BODY_BYTES).await
    }

    /// An app whose admin API takes bodies of up to `max_body_bytes`.
    pub async fn with_body_limit(max_body_bytes: usize) -> Self {
        Self::with_options(Options {
            max_body_bytes,
            max_import_bytes: max_body_bytes,
            ..Options::default()
        })
        .await
    }

    /// An app with these mail settings (`smtp_url` pointing at a test's SMTP sink).
    pub async fn with_mail(mail: MailArgs) -> Self {
        Self::with_options(Options {
            max_body_bytes: MAX_BODY_BYTES,
            max_import_bytes: MAX_BODY_BYTES,
            mail,
            ..Options::default()
        })
        .await
    }

    /// An app with `options`.
    pub async fn with_options(options: Options) -> Self {
        let db = TestDatabase::new().await;
        let running = in_process::start(db.store().clone(), options).await;
        Self {
            base: running.base,
            client: reqwest::Client::builder()
                .cookie_store(true)
                .build()
                .unwrap(),
            db,
            server: running.server,
        }
    }

    /// Sends a request with an optional key (as a bearer token) and JSON body; returns the status
    /// and the JSON answer (`Null` when the body is empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.unwrap()).await
    }

    /// The app's store, for setting up what the API has no shortcut for.
    pub fn store(&self) -> &lyrebird_store::Store {
        self.db.store()
    }

    pub async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(key), None).await
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(key), Some(body)).await
    }

    pub async fn sign_up(&self, email: &str) -> User {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/accounts",
                None,
                Some(json!({"email": email, "password": "correct horse battery"})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        User {
            key: body["api_key"].as_str().unwrap().to_owned(),
            workspace: body["workspace"]["id"].as_str().unwrap().to_owned(),
        }
    }

    /// Creates a mock and returns its id.
    pub async fn create_mock(&self, key: &str, body: Value) -> String {
        let (status, mock) = self.post("/api/v1/mocks", key, body).await;
        assert_eq!(status, StatusCode::CREATED, "{mock}");
        mock["id"].as_str().unwrap().to_owned()
    }

    /// Adds an example to a mock and returns its id.
    pub async fn add_example(&self, key: &str, mock: &str, example: Value) -> String {
        let path = format!("/api/v1/mocks/{mock}/examples");
        let (status, stored) = self.post(&path, key, example).await;
        assert_eq!(status, StatusCode::CREATED, "{stored}");
        stored["id"].as_str().unwrap().to_owned()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    (status, body)
}

/// An example in the engine's format that answers `GET <path>`.
pub fn example(name: &str, path: &str) -> Value {
    json!({
        "name": name,
        "request": {"method": "GET", "path": path},
        "response": {"status": 200, "body": {"example": name}}
    })
}

/// Asserts the error shape and returns the error object.
pub fn error_of(status: StatusCode, body: &Value, expected: StatusCode, code: &str) -> Value {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    body["error"].clone()
}

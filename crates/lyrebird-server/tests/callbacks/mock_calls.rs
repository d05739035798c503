//! Callbacks of real mock calls, through the server: sent, refused, and logged with their call.

use super::*;

/// The whole server (runtime, call log, callbacks) on a port of its own, on a fresh database.
pub(super) struct Server {
    pub(super) base: String,
    pub(super) client: reqwest::Client,
    key: String,
    _db: TestDatabase,
}

/// Signs `email` up on the server at `base`; the account's first admin key.
pub(super) async fn sign_up(client: &reqwest::Client, base: &str, email: &str) -> String {
    let account: Value = client
        .post(format!("{base}/api/v1/accounts"))
        .json(&json!({"email": email, "password": "correct horse battery"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    account["api_key"].as_str().unwrap().to_owned()
}

impl Server {
    /// Starts the app with callbacks allowed to `allow` and signs a user up.
    pub(super) async fn start(allow: &str) -> Self {
        let db = TestDatabase::new().await;
        let running = in_process::start(
            db.store().clone(),
            Options {
                call_log: CallLogOptions {
                    flush_interval: Duration::from_millis(20),
                    ..CallLogOptions::default()
                },
                callbacks: allowing(allow),
                ..Options::default()
            },
        )
        .await;
        let base = running.base;
        let client = reqwest::Client::new();
        Self {
            key: sign_up(&client, &base, "hooks@example.com").await,
            base,
            client,
            _db: db,
        }
    }

    pub(super) fn db(&self) -> &TestDatabase {
        &self._db
    }

    pub(super) fn key(&self) -> &str {
        &self.key
    }

    pub(super) async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    /// A mock with these settings and one example; its id.
    pub(super) async fn mock_of(&self, settings: Value, example: Value) -> String {
        let mock = self
            .api(reqwest::Method::POST, "/api/v1/mocks", Some(settings))
            .await;
        let id = mock["id"].as_str().unwrap().to_owned();
        self.api(
            reqwest::Method::POST,
            &format!("/api/v1/mocks/{id}/examples"),
            Some(example),
        )
        .await;
        id
    }

    /// A mock whose one example answers `POST /orders/:id` and asks for `template_callback`.
    async fn mock_calling_back(&self, template_callback: &str) -> String {
        let example = json!({
            "name": "order accepted",
            "request": {"method": "POST", "path": "/orders/:id"},
            "response": {
                "status": 201,
                "body": format!("Accepted{{{{ {template_callback} }}}}"),
                "template": true
            }
        });
        self.mock_of(json!({"name": "hooks"}), example).await
    }

    /// The call's details once the call log holds `callbacks` results for it.
    async fn logged_call(&self, mock: &str, callbacks: usize) -> Value {
        self.newest_call_once(mock, |_, detail| {
            detail["callbacks"].as_array().unwrap().len() == callbacks
        })
        .await
    }

    /// The details of the mock's newest logged call, once `ready` (given how many calls the
    /// log's first page holds, and the details) says so: the writer logs calls a moment after
    /// they are answered.
    pub(super) async fn newest_call_once(
        &self,
        mock: &str,
        ready: impl Fn(usize, &Value) -> bool,
    ) -> Value {
        for _ in 0..600 {
            let page = self
                .api(
                    reqwest::Method::GET,
                    &format!("/api/v1/mocks/{mock}/calls"),
                    None,
                )
                .await;
            let calls = page["calls"].as_array().unwrap();
            if let Some(call) = calls.first() {
                let path = format!(
                    "/api/v1/mocks/{mock}/calls/{}",
                    call["id"].as_str().unwrap()
                );
                let detail = self.api(reqwest::Method::GET, &path, None).await;
                if ready(calls.len(), &detail) {
                    return detail;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the call log never showed the call awaited");
    }
}

#[tokio::test]
async fn a_mock_call_sends_its_template_callback_and_logs_the_result_with_the_call() {
    let mut receiver = Receiver::start().await;
    let server = Server::start("127.0.0.1").await;
    let hook = receiver.url("/hooks/orders");
    let mock = server
        .mock_calling_back(&format!(
            r#"callback("{hook}", "PUT", {{"order": path.id}}, 100)"#
        ))
        .await;

    let answer = server
        .client
        .post(format!("{}/m/{mock}/orders/7", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    assert_eq!(answer.text().await.unwrap(), "Accepted");

    let received = receiver.requests.recv().await.unwrap();
    assert_eq!(received.method, Method::PUT);
    assert_eq!(received.path, "/hooks/orders");
    assert_eq!(received.headers["content-type"], "application/json");
    assert_eq!(&received.body[..], br#"{"order":"7"}"#);

    let call = server.logged_call(&mock, 1).await;
    assert_eq!(call["callbacks_queued"], 1);
    let result = &call["callbacks"][0];
    assert_eq!(result["url"], hook);
    assert_eq!(result["method"], "PUT");
    assert_eq!(result["status"], 202);
    assert_eq!(result["error"], Value::Null);
}

#[tokio::test]
async fn a_mock_callback_to_loopback_is_refused_and_the_refusal_logged_without_the_allow_list() {
    let mut receiver = Receiver::start().await;
    let server = Server::start("").await;
    let hook = receiver.url("/hooks");
    let mock = server
        .mock_calling_back(&format!(r#"callback("{hook}")"#))
        .await;

    let answer = server
        .client
        .post(format!("{}/m/{mock}/orders/7", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);

    let call = server.logged_call(&mock, 1).await;
    let result = &call["callbacks"][0];
    assert_eq!(result["url"], hook);
    assert_eq!(result["status"], Value::Null);
    let error = result["error"].as_str().unwrap();
    assert!(
        error.starts_with("refused: 127.0.0.1 is a loopback address"),
        "{error}"
    );
    assert!(
        receiver.requests.try_recv().is_err(),
        "the receiver was reached"
    );
}

#[tokio::test]
async fn the_ndjson_export_shows_each_call_with_its_own_callback_results() {
    let server = Server::start("").await;
    // Refused (loopback, no allow list), so recorded without sending anything.
    let mock = server
        .mock_calling_back(r#"callback("http://127.0.0.1:9/hooks/" ~ path.id)"#)
        .await;
    for order in ["7", "8"] {
        let answer = server
            .client
            .post(format!("{}/m/{mock}/orders/{order}", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 201);
    }

    for _ in 0..600 {
        let export = server
            .client
            .get(format!(
                "{}/api/v1/mocks/{mock}/calls/export?format=ndjson",
                server.base
            ))
            .bearer_auth(&server.key)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let calls: Vec<Value> = export
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let complete = calls.len() == 2
            && calls
                .iter()
                .all(|call| call["callbacks"].as_array().unwrap().len() == 1);
        if complete {
            for call in &calls {
                let order = call["path"].as_str().unwrap().rsplit('/').next().unwrap();
                assert_eq!(
                    call["callbacks"][0]["url"],
                    format!("http://127.0.0.1:9/hooks/{order}"),
                    "{call}"
                );
            }
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the export never showed both calls with their callback results");
}

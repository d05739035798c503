//! `lyrebird serve` as a real process on a real port, as every black-box test runs it: on a test
//! database of its own (or shared between two processes), on an embedded cluster in a data
//! directory, or under a memory cap; with what it logs kept, the signals a user sends, and a
//! small client for the admin API and for mock calls.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use lyrebird_store::testing::TestDatabase;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};

/// How long a server may take to come up (a hang guard, not a measurement: a first start on an
/// embedded cluster runs initdb).
pub const STARTUP_GUARD: Duration = Duration::from_secs(120);

/// Where a server listens unless told: a free loopback port.
const ANY_PORT: &str = "127.0.0.1:0";

/// A running `lyrebird serve`.
pub struct Server {
    pub child: Child,
    pub port: u16,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub client: reqwest::Client,
    /// Everything it has logged so far.
    log: Arc<Mutex<Vec<String>>>,
}

/// A signed-up user: their admin key and workspace id.
pub struct User {
    pub key: String,
    pub workspace: String,
}

impl Server {
    /// Starts the binary on a free loopback port, on `db`, with extra environment variables.
    pub fn start(db: &TestDatabase, envs: &[(&str, &str)]) -> Self {
        let mut command = lyrebird();
        command.env("DATABASE_URL", db.url());
        Self::spawn(command, ANY_PORT, envs)
    }

    /// Starts the binary with these settings alone (an embedded cluster unless they name a
    /// `DATABASE_URL`).
    pub fn start_with(envs: &[(&str, &str)]) -> Self {
        Self::spawn(lyrebird(), ANY_PORT, envs)
    }

    /// The same, listening on `listen` (a replica started again on its port).
    pub fn start_listening(listen: &str, envs: &[(&str, &str)]) -> Self {
        Self::spawn(lyrebird(), listen, envs)
    }

    /// The same, with the process's address space capped at `bytes` (`prlimit --as`): an
    /// allocation past it fails, and in Rust a failed allocation aborts the process.
    pub fn start_capped(envs: &[(&str, &str)], bytes: u64) -> Self {
        let mut command = Command::new("prlimit");
        command
            .arg(format!("--as={bytes}"))
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_lyrebird"));
        Self::spawn(clean(command), ANY_PORT, envs)
    }

    fn spawn(mut command: Command, listen: &str, envs: &[(&str, &str)]) -> Self {
        let mut child = command
            .args(["serve", "--listen", listen])
            .envs(envs.iter().copied())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (sender, receiver) = mpsc::channel();
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[lyrebird] {line}");
                lines.lock().unwrap().push(line.clone());
                if let Some(listen) = line.split("listen=").nth(1) {
                    let address = listen.split_whitespace().next().unwrap_or_default();
                    let _ = sender.send(address.to_owned());
                }
            }
        });
        let address = receiver
            .recv_timeout(STARTUP_GUARD)
            .unwrap_or_else(|_| panic!("lyrebird did not start: {:?}", child.try_wait()));
        let port = address.rsplit(':').next().unwrap().parse().unwrap();
        Self {
            child,
            port,
            base: format!("http://{address}"),
            client: reqwest::Client::new(),
            log,
        }
    }

    /// What it has logged so far, one line after the other.
    pub fn logged(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The mock's host as a browser would send it: `<id>.mock.localhost:<port>`.
    pub fn mock_host(&self, mock: &str) -> String {
        format!("{mock}.mock.localhost:{}", self.port)
    }

    /// A call to the mock by its path form, `/m/<id><path>`.
    pub fn by_path(&self, method: Method, mock: &str, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(&format!("/m/{mock}{path}")))
    }

    /// A call to the mock by its host form.
    pub fn by_host(&self, method: Method, mock: &str, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .header("host", self.mock_host(mock))
    }

    /// An admin API call with a bearer key and an optional JSON body.
    pub async fn api(
        &self,
        method: Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, self.url(path)).bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        json_of(request.send().await.unwrap()).await
    }

    pub async fn sign_up(&self, email: &str) -> User {
        let response = self
            .client
            .post(self.url("/api/v1/accounts"))
            .json(&json!({"email": email, "password": "correct horse battery"}))
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(response).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        User {
            key: body["api_key"].as_str().unwrap().to_owned(),
            workspace: body["workspace"]["id"].as_str().unwrap().to_owned(),
        }
    }

    /// Creates a mock with these settings and examples; returns its id.
    pub async fn create_mock(&self, key: &str, settings: Value, examples: &[Value]) -> String {
        let (status, mock) = self
            .api(Method::POST, "/api/v1/mocks", key, Some(settings))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{mock}");
        let id = mock["id"].as_str().unwrap().to_owned();
        for example in examples {
            let path = format!("/api/v1/mocks/{id}/examples");
            let (status, stored) = self
                .api(Method::POST, &path, key, Some(example.clone()))
                .await;
            assert_eq!(status, StatusCode::CREATED, "{stored}");
        }
        id
    }

    /// The mock's logged calls, newest first, once the writer has stored `count` of them (it
    /// writes in batches, a moment after the calls).
    pub async fn logged_calls(&self, key: &str, mock: &str, count: usize) -> Vec<Value> {
        let path = format!("/api/v1/mocks/{mock}/calls");
        let waiting = std::time::Instant::now();
        loop {
            let (_, page) = self.api(Method::GET, &path, key, None).await;
            let calls = page["calls"].as_array().cloned().unwrap_or_default();
            if calls.len() == count {
                return calls;
            }
            assert!(
                waiting.elapsed() < Duration::from_secs(5),
                "{count} calls never logged: {page}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends SIGINT and waits for the process to end.
    pub fn interrupt(mut self) -> ExitStatus {
        signal(self.child.id(), "INT");
        self.wait()
    }

    /// Sends SIGTERM and waits for the process to end.
    pub fn terminate(mut self) -> ExitStatus {
        signal(self.child.id(), "TERM");
        self.wait()
    }

    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.wait();
    }

    pub fn wait(&mut self) -> ExitStatus {
        for _ in 0..1200 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("lyrebird did not stop");
    }

    pub async fn post(&self, path: &str, key: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut request = self.client.post(self.url(path)).json(&body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        json_of(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str, key: &str) -> (StatusCode, String) {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap_or_default())
    }

    pub async fn ready(&self) -> StatusCode {
        self.client
            .get(self.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary, with no settings inherited from the environment running the tests.
pub fn lyrebird() -> Command {
    clean(Command::new(env!("CARGO_BIN_EXE_lyrebird")))
}

/// `command` without the settings of the environment the tests run in; request lines are left
/// out of the log so that thousands of calls do not flood it.
pub fn clean(mut command: Command) -> Command {
    command
        .env_remove("DATABASE_URL")
        .env_remove("LYREBIRD_LISTEN")
        .env_remove("LYREBIRD_BASE_HOST")
        .env_remove("LYREBIRD_DATA_DIR")
        .env_remove("LYREBIRD_MONTHLY_QUOTA")
        .env_remove("LYREBIRD_TRUSTED_PROXIES")
        .env("RUST_LOG", "info,tower_http=warn");
    command
}

/// Sends the signal `name` (`INT`, `TERM`, `KILL`, `QUIT`) to `pid`.
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} {pid}");
}

/// Whether a process exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat.rsplit(')').next().unwrap_or_default().trim_start();
        !state.starts_with('Z')
    })
}

pub fn wait_until_dead(pid: u32) {
    for _ in 0..600 {
        if !alive(pid) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("process {pid} did not end");
}

/// The status and the JSON body (`Null` when empty or not JSON).
pub async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// An example answering `method path` with a JSON body naming it.
pub fn example(name: &str, method: &str, path: &str) -> Value {
    json!({
        "name": name,
        "request": {"method": method, "path": path},
        "response": {"status": 200, "body": {"example": name}}
    })
}

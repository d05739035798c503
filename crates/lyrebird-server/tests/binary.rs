//! The `lyrebird` binary as a user runs it: a real process on a real port, with the embedded
//! PostgreSQL cluster (started, killed, restarted) or a `DATABASE_URL`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use lyrebird_store::testing::TestDatabase;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// How long a server may take to come up before the test gives up (a hang guard, not a
/// measurement: a first start runs initdb).
const STARTUP_GUARD: Duration = Duration::from_secs(120);

/// A data directory of its own, under cargo's temporary directory (reachable by the `postgres`
/// user when the tests run as root). Dropping it stops any cluster left in it and removes it.
struct DataDir(PathBuf);

impl DataDir {
    fn new() -> Self {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("lyrebird-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// Waits for the postmaster `pid` to end, and checks that it removed its pid file: a clean
    /// stop, not a crash.
    fn assert_stopped(&self, pid: u32) {
        wait_until_dead(pid);
        assert!(
            self.postmaster_pid().is_none(),
            "PostgreSQL stopped cleanly"
        );
    }

    fn postmaster_pid(&self) -> Option<u32> {
        let text = std::fs::read_to_string(self.0.join("postgres/postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }
}

impl Drop for DataDir {
    fn drop(&mut self) {
        if let Some(pid) = self.postmaster_pid().filter(|pid| alive(*pid)) {
            signal(pid, "QUIT");
            wait_until_dead(pid);
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `lyrebird serve`.
struct Server {
    child: Child,
    base: String,
    /// Everything it has logged so far.
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts the binary on a free loopback port and waits until it listens.
    fn start(envs: &[(&str, &str)]) -> Self {
        Self::spawn(lyrebird(), envs)
    }

    /// The same, with the process's address space capped at `bytes` (`prlimit --as`): an
    /// allocation past it fails, and in Rust a failed allocation aborts the process.
    fn start_capped(envs: &[(&str, &str)], bytes: u64) -> Self {
        let mut command = Command::new("prlimit");
        command
            .arg(format!("--as={bytes}"))
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_lyrebird"));
        Self::spawn(clean(command), envs)
    }

    fn spawn(mut command: Command, envs: &[(&str, &str)]) -> Self {
        let mut child = command
            .args(["serve", "--listen", "127.0.0.1:0"])
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
        Self {
            child,
            base: format!("http://{address}"),
            log,
        }
    }

    /// Sends SIGINT and waits for the process to end.
    fn interrupt(mut self) -> ExitStatus {
        signal(self.child.id(), "INT");
        self.wait()
    }

    fn logged(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.wait();
    }

    fn wait(&mut self) -> ExitStatus {
        for _ in 0..1200 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("lyrebird did not stop");
    }

    async fn post(&self, path: &str, key: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut request = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .json(&body);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.unwrap();
        (
            response.status(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    async fn get(&self, path: &str, key: &str) -> (StatusCode, String) {
        let response = reqwest::Client::new()
            .get(format!("{}{path}", self.base))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        (response.status(), response.text().await.unwrap_or_default())
    }

    async fn ready(&self) -> StatusCode {
        reqwest::get(format!("{}/readyz", self.base))
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

fn lyrebird() -> Command {
    clean(Command::new(env!("CARGO_BIN_EXE_lyrebird")))
}

/// `command` without the settings of the environment the tests run in.
fn clean(mut command: Command) -> Command {
    command
        .env_remove("DATABASE_URL")
        .env_remove("LYREBIRD_LISTEN")
        .env_remove("LYREBIRD_BASE_HOST")
        .env_remove("LYREBIRD_DATA_DIR")
        .env("RUST_LOG", "info");
    command
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} {pid}");
}

/// Whether a process exists and is not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        let state = stat.rsplit(')').next().unwrap_or_default().trim_start();
        !state.starts_with('Z')
    })
}

fn wait_until_dead(pid: u32) {
    for _ in 0..600 {
        if !alive(pid) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("process {pid} did not end");
}

async fn sign_up(server: &Server, email: &str) -> String {
    let (status, body) = server
        .post(
            "/api/v1/accounts",
            None,
            json!({"email": email, "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["api_key"].as_str().unwrap().to_owned()
}

async fn log_in(server: &Server, email: &str) -> StatusCode {
    server
        .post(
            "/api/v1/sessions",
            None,
            json!({"email": email, "password": "correct horse battery"}),
        )
        .await
        .0
}

#[tokio::test]
async fn the_readme_walk_through_works_against_the_binary() {
    let db = TestDatabase::new().await;
    let server = Server::start(&[("DATABASE_URL", &db.url()), ("RUST_LOG", "debug")]);
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

#[tokio::test]
async fn a_request_in_flight_when_sigint_arrives_is_still_answered() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let db = TestDatabase::new().await;
    let server = Server::start(&[("DATABASE_URL", &db.url())]);
    let address = server.base.trim_start_matches("http://").to_owned();
    let body = json!({"email": "ada@example.com", "password": "correct horse battery"}).to_string();
    let (first_half, second_half) = body.split_at(body.len() / 2);
    let mut connection = tokio::net::TcpStream::connect(&address).await.unwrap();
    connection
        .write_all(
            format!(
                "POST /api/v1/accounts HTTP/1.1\r\nHost: {address}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{first_half}",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    // Make sure the server has the request's head before it is told to stop.
    tokio::time::sleep(Duration::from_millis(200)).await;
    signal(server.child.id(), "INT");
    tokio::time::sleep(Duration::from_millis(200)).await;
    connection.write_all(second_half.as_bytes()).await.unwrap();
    let mut answer = String::new();
    connection.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let mut server = server;
    assert!(server.wait().success());
}

/// Reads HTTP/1.1 responses from `connection` until the server closes it; returns each one's
/// status code and whether it says `connection: close`. (The bodies read here never hold
/// `HTTP/1.1 `.)
async fn responses(connection: &mut tokio::net::TcpStream) -> Vec<(String, bool)> {
    use tokio::io::AsyncReadExt;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), connection.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection")
        .unwrap();
    String::from_utf8_lossy(&answer)
        .split("HTTP/1.1 ")
        .skip(1)
        .map(|response| {
            let status = response.split_whitespace().next().unwrap_or_default();
            (status.to_owned(), response.contains("connection: close"))
        })
        .collect()
}

#[tokio::test]
async fn pipelined_requests_on_a_keep_alive_connection_at_sigterm_are_answered() {
    use tokio::io::AsyncWriteExt;

    let db = TestDatabase::new().await;
    let server = Server::start(&[("DATABASE_URL", &db.url())]);
    let key = sign_up(&server, "ada@example.com").await;
    let (status, mock) = server
        .post(
            "/api/v1/mocks",
            Some(&key),
            json!({"name": "Slow", "delay": 1000}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{mock}");
    let id = mock["id"].as_str().unwrap();
    let (status, _) = server
        .post(
            &format!("/api/v1/mocks/{id}/examples"),
            Some(&key),
            json!({"name": "slow", "request": {"path": "/slow"}, "response": {"status": 200}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut connection = tokio::net::TcpStream::connect(&address).await.unwrap();
    // A first request answered on the connection, then two more sent together: the first of
    // them is slow (the mock's delay), the second waits behind it, already sent.
    let request = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: {address}\r\n\r\n");
    connection
        .write_all(request("/healthz").as_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pipelined = format!(
        "{}{}",
        request(&format!("/m/{id}/slow")),
        request("/healthz")
    );
    connection.write_all(pipelined.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    signal(server.child.id(), "TERM");
    let answers = responses(&mut connection).await;
    let ok = |close| ("200".to_owned(), close);
    // All three are answered, the last closing the connection; then the server stops.
    assert_eq!(answers, [ok(false), ok(false), ok(true)]);
    let mut server = server;
    assert!(server.wait().success());
}

#[tokio::test]
async fn the_embedded_cluster_starts_survives_a_killed_server_and_stops_on_sigint() {
    let data = DataDir::new();
    let data_dir = data.0.to_str().unwrap();
    let server = Server::start(&[("LYREBIRD_DATA_DIR", data_dir)]);
    assert_eq!(server.ready().await, StatusCode::OK);
    sign_up(&server, "ada@example.com").await;
    let postmaster = data.postmaster_pid().expect("the cluster runs");
    server.kill();
    assert!(
        alive(postmaster),
        "a killed server leaves its cluster running"
    );

    let server = Server::start(&[("LYREBIRD_DATA_DIR", data_dir)]);
    assert_eq!(server.ready().await, StatusCode::OK);
    assert_eq!(
        log_in(&server, "ada@example.com").await,
        StatusCode::OK,
        "the account survived"
    );

    let second = lyrebird()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir])
        .output()
        .unwrap();
    assert!(!second.status.success());
    let message = String::from_utf8_lossy(&second.stderr);
    assert!(message.contains("in use by another lyrebird"), "{message}");

    assert!(server.interrupt().success());
    data.assert_stopped(postmaster);
}

#[tokio::test]
async fn a_cluster_killed_with_its_server_is_recovered_on_the_next_start() {
    let data = DataDir::new();
    let data_dir = data.0.to_str().unwrap();
    let server = Server::start(&[("LYREBIRD_DATA_DIR", data_dir)]);
    sign_up(&server, "ada@example.com").await;
    let postmaster = data.postmaster_pid().expect("the cluster runs");
    server.kill();
    signal(postmaster, "KILL");
    wait_until_dead(postmaster);
    assert_eq!(
        data.postmaster_pid(),
        Some(postmaster),
        "a stale postmaster.pid is left behind"
    );

    let server = Server::start(&[("LYREBIRD_DATA_DIR", data_dir)]);
    assert_eq!(server.ready().await, StatusCode::OK);
    assert_eq!(log_in(&server, "ada@example.com").await, StatusCode::OK);
    assert!(server.interrupt().success());
}

#[test]
fn missing_postgres_programs_are_named_in_one_line() {
    let data = DataDir::new();
    let output = lyrebird()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("LYREBIRD_DATA_DIR", &data.0)
        .env("PATH", "/nonexistent")
        .env("LYREBIRD_PG_SEARCH_DIR", "/nonexistent")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("PostgreSQL server programs"), "{stderr}");
    assert!(stderr.contains("apt-get install postgresql"), "{stderr}");
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
}

#[test]
fn a_malformed_database_url_is_refused_without_showing_its_password() {
    for url in [
        "postgres://lyre:s3cr3t@db.internal:notaport/lyrebird",
        "postgres://lyre@db.internal:notaport/lyrebird?password=s3cr3t",
        "postgres://lyre:s3cr3t@db.internal:5432/lyrebird?sslmode=bogus",
    ] {
        let output = lyrebird()
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("DATABASE_URL", url)
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("DATABASE_URL is not a PostgreSQL URL"),
            "{stderr}"
        );
        assert!(!stderr.contains("s3cr3t"), "{stderr}");
        if url.contains("sslmode") {
            assert!(
                stderr.contains(r#"unknown value "bogus" for `ssl_mode`"#),
                "{stderr}"
            );
        }
    }
}

#[test]
fn help_lists_every_setting_with_its_variable_and_hides_the_database_password() {
    let output = lyrebird()
        .args(["serve", "--help"])
        .env(
            "DATABASE_URL",
            "postgres://lyre:s3cr3t@db.internal/lyrebird",
        )
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for variable in [
        "LYREBIRD_LISTEN",
        "LYREBIRD_BASE_HOST",
        "LYREBIRD_DATA_DIR",
        "DATABASE_URL",
        "LYREBIRD_MONTHLY_QUOTA",
        "LYREBIRD_MAX_BODY_BYTES",
        "LYREBIRD_PG_SEARCH_DIR",
        "LYREBIRD_LOG_FORMAT",
    ] {
        assert!(help.contains(variable), "{variable} missing from:\n{help}");
    }
    assert!(!help.contains("s3cr3t"), "{help}");
}

#[test]
fn a_data_directory_the_postgres_user_cannot_reach_is_named_with_a_way_out() {
    let running_as_root = std::fs::read_to_string("/proc/self/status")
        .is_ok_and(|status| status.lines().any(|l| l.starts_with("Uid:\t0\t")));
    if !running_as_root {
        eprintln!("skipped: only root runs the cluster as another user");
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let data = DataDir::new();
    let locked = data.0.join("private");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
    let output = lyrebird()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(locked.join("lyrebird"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "{} cannot be entered by the `postgres` user",
            locked.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("LYREBIRD_DATA_DIR"), "{stderr}");
}

/// A mock answering `GET /hello/:n`, called once so that it is warm; its id.
async fn warm_mock(server: &Server, key: &str) -> String {
    let (status, mock) = server
        .post("/api/v1/mocks", Some(key), json!({"name": "Hello"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{mock}");
    let id = mock["id"].as_str().unwrap().to_owned();
    let (status, example) = server
        .post(
            &format!("/api/v1/mocks/{id}/examples"),
            Some(key),
            json!({
                "name": "Hello",
                "request": {"method": "GET", "path": "/hello/:n"},
                "response": {"status": 200, "body": {"hello": "world"}}
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{example}");
    let warm = reqwest::get(format!("{}/m/{id}/hello/warm", server.base))
        .await
        .unwrap();
    assert_eq!(warm.status(), StatusCode::OK);
    id
}

/// What a steady stream of calls saw: for each call, its number, status (or error) and how
/// long it took, and when it was answered.
struct Load {
    calls: Vec<(usize, Result<StatusCode, String>, Duration, Instant)>,
}

/// Calls `GET /hello/<n>` one after the other over one keep-alive connection until `stop`.
fn steady_load(
    server: &Server,
    mock: &str,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<Load> {
    let base = format!("{}/m/{mock}/hello", server.base);
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        let mut calls = Vec::new();
        for n in 0.. {
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                break;
            }
            let started = Instant::now();
            let answer = client
                .get(format!("{base}/{n}"))
                .timeout(STARTUP_GUARD)
                .send()
                .await
                .map(|response| response.status())
                .map_err(|error| error.to_string());
            calls.push((n, answer, started.elapsed(), Instant::now()));
            // A few hundred calls a second at most, which the call log's queue holds for
            // half a minute.
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        Load { calls }
    })
}

/// The paths of the mock's logged calls, from the NDJSON export.
async fn logged_paths(server: &Server, key: &str, mock: &str) -> Vec<String> {
    let (status, text) = server
        .get(
            &format!("/api/v1/mocks/{mock}/calls/export?format=ndjson&path_prefix=/hello/"),
            key,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    text.lines()
        .map(|line| {
            let call: Value = serde_json::from_str(line).unwrap();
            call["path"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_postmaster_is_restarted_while_warm_mocks_answer_and_every_call_is_logged_once() {
    let data = DataDir::new();
    let data_dir = data.0.to_str().unwrap();
    let server = Server::start(&[
        ("LYREBIRD_DATA_DIR", data_dir),
        ("LYREBIRD_MONTHLY_QUOTA", "100000000"),
    ]);
    let key = sign_up(&server, "ada@example.com").await;
    let mock = warm_mock(&server, &key).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = steady_load(&server, &mock, Arc::clone(&stop));
    tokio::time::sleep(Duration::from_secs(1)).await;

    let postmaster = data.postmaster_pid().expect("the cluster runs");
    signal(postmaster, "KILL");
    let killed = Instant::now();
    // Back once a new postmaster runs and the server's pool reaches it.
    let ready_after = loop {
        let restarted = data
            .postmaster_pid()
            .is_some_and(|pid| pid != postmaster && alive(pid));
        if restarted && server.ready().await == StatusCode::OK {
            break killed.elapsed();
        }
        assert!(
            killed.elapsed() < Duration::from_secs(15),
            "not ready 15 s after the postmaster was killed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!("ready {ready_after:?} after the postmaster was killed");
    let (status, mocks) = server.get("/api/v1/mocks", &key).await;
    assert_eq!(status, StatusCode::OK, "the admin API works again: {mocks}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let Load { calls } = load.await.unwrap();

    let failed: Vec<_> = calls
        .iter()
        .filter(|(_, answer, _, _)| answer.as_ref().ok() != Some(&StatusCode::OK))
        .collect();
    assert!(failed.is_empty(), "calls not answered 200: {failed:?}");
    let slowest = calls.iter().map(|(_, _, took, _)| *took).max().unwrap();
    assert!(slowest < Duration::from_secs(3), "a call took {slowest:?}");
    let during_outage = calls
        .iter()
        .filter(|(_, _, _, at)| *at > killed && *at < killed + ready_after)
        .count();
    assert!(during_outage > 0, "no call was answered during the outage");
    eprintln!(
        "{} calls answered, {during_outage} of them during the outage, the slowest in {slowest:?}",
        calls.len()
    );

    let mut answered: Vec<String> = calls
        .iter()
        .map(|(n, _, _, _)| format!("/hello/{n}"))
        .chain(["/hello/warm".to_owned()])
        .collect();
    answered.sort();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut logged = logged_paths(&server, &key, &mock).await;
    while logged.len() < answered.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        logged = logged_paths(&server, &key, &mock).await;
    }
    // Any duplicate would come with the batch written twice, at once.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut logged = logged_paths(&server, &key, &mock).await;
    logged.sort();
    assert_eq!(logged.len(), answered.len(), "calls logged vs answered");
    assert!(logged == answered, "every answered call is logged once");

    let log = server.logged();
    assert!(
        log.contains("embedded PostgreSQL died; restarting it"),
        "the restart is logged"
    );
    assert!(!log.contains("calls dropped"), "no call was dropped");
    let restarted = data.postmaster_pid().expect("the cluster runs");
    let interrupted = Instant::now();
    assert!(server.interrupt().success());
    assert!(
        interrupted.elapsed() < Duration::from_secs(15),
        "stopping took {:?}",
        interrupted.elapsed()
    );
    data.assert_stopped(restarted);
}

#[tokio::test]
async fn sigint_while_the_postmaster_is_dead_stops_promptly_and_cleanly() {
    let data = DataDir::new();
    let data_dir = data.0.to_str().unwrap();
    let server = Server::start(&[("LYREBIRD_DATA_DIR", data_dir)]);
    let key = sign_up(&server, "ada@example.com").await;
    warm_mock(&server, &key).await;
    let postmaster = data.postmaster_pid().expect("the cluster runs");
    signal(postmaster, "KILL");
    wait_until_dead(postmaster);
    let interrupted = Instant::now();
    assert!(server.interrupt().success());
    assert!(
        interrupted.elapsed() < Duration::from_secs(15),
        "stopping took {:?}",
        interrupted.elapsed()
    );
    if let Some(pid) = data.postmaster_pid() {
        assert!(!alive(pid), "no PostgreSQL is left running");
    }

    let server = Server::start(&[("LYREBIRD_DATA_DIR", data_dir)]);
    let (status, usage) = server.get("/api/v1/usage", &key).await;
    assert_eq!(status, StatusCode::OK, "{usage}");
    let usage: Value = serde_json::from_str(&usage).unwrap();
    assert_eq!(usage["calls"], 1, "the served call was counted: {usage}");
    assert!(server.interrupt().success());
}

#[tokio::test]
async fn with_database_url_lost_connections_are_recovered_and_missed_changes_picked_up() {
    let db = TestDatabase::new().await;
    let server = Server::start(&[("DATABASE_URL", &db.url())]);
    let other = Server::start(&[("DATABASE_URL", &db.url())]);
    let key = sign_up(&server, "ada@example.com").await;
    let mock = warm_mock(&server, &key).await;
    let call = |path: &str| reqwest::get(format!("{}/m/{mock}{path}", server.base));

    // What a restart of the database server or a network failure does to both servers'
    // connections, their listeners' included.
    let terminated: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(db.store().pool())
    .await
    .unwrap();
    assert!(terminated.len() >= 2, "both servers' connections were cut");
    assert_eq!(call("/hello/1").await.unwrap().status(), StatusCode::OK);
    // A change through the other server while this one is not listening: its notification is
    // missed, so only reloading after listening again brings it in.
    let (status, example) = other
        .post(
            &format!("/api/v1/mocks/{mock}/examples"),
            Some(&key),
            json!({
                "name": "Again",
                "request": {"method": "GET", "path": "/again"},
                "response": {"status": 200, "body": {"hello": "again"}}
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{example}");

    let cut = Instant::now();
    while call("/again").await.unwrap().status() != StatusCode::OK {
        assert!(
            cut.elapsed() < Duration::from_secs(15),
            "the change was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(server.ready().await, StatusCode::OK);
    let (status, mocks) = server.get("/api/v1/mocks", &key).await;
    assert_eq!(status, StatusCode::OK, "{mocks}");
    assert!(
        server.logged().contains("listening for changes again"),
        "the listener reconnected"
    );
    assert!(other.interrupt().success());
    assert!(server.interrupt().success());
}

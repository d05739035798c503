//! The `lyrebird` binary as a user runs it: a real process on a real port, with the embedded
//! PostgreSQL cluster (started, killed, restarted) or a `DATABASE_URL`.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

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
        let mut child = lyrebird()
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
    let mut command = Command::new(env!("CARGO_BIN_EXE_lyrebird"));
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
    wait_until_dead(postmaster);
    assert!(
        data.postmaster_pid().is_none(),
        "PostgreSQL stopped cleanly"
    );
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

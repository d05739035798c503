//! The `lyrebird` binary as a user runs it: a real process on a real port, with the embedded
//! PostgreSQL cluster (started, killed, restarted) or a `DATABASE_URL`.

mod cluster;
mod database_outages;
mod shutdown;
mod walk_through;

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

//! The `lyrebird` binary as a user runs it: a real process on a real port, with the embedded
//! PostgreSQL cluster (started, killed, restarted) or a `DATABASE_URL`.

mod cluster;
mod database_outages;
mod guides;
mod replicas;
mod shutdown;
#[path = "../support/binary.rs"]
mod support;
mod walk_through;

use support::{STARTUP_GUARD, Server, alive, lyrebird, signal, wait_until_dead};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lyrebird_store::testing::TestDatabase;
use reqwest::StatusCode;
use serde_json::{Value, json};

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

//! The embedded PostgreSQL cluster and the settings around it: start, adoption after a killed
//! server, and clear messages for missing programs, bad URLs and unreachable directories.

use super::*;

#[tokio::test]
async fn the_embedded_cluster_starts_survives_a_killed_server_and_stops_on_sigint() {
    let data = DataDir::new();
    let data_dir = data.0.to_str().unwrap();
    let server = Server::start_with(&[("LYREBIRD_DATA_DIR", data_dir)]);
    assert_eq!(server.ready().await, StatusCode::OK);
    sign_up(&server, "ada@example.com").await;
    let postmaster = data.postmaster_pid().expect("the cluster runs");
    server.kill();
    assert!(
        alive(postmaster),
        "a killed server leaves its cluster running"
    );

    let server = Server::start_with(&[("LYREBIRD_DATA_DIR", data_dir)]);
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
    let server = Server::start_with(&[("LYREBIRD_DATA_DIR", data_dir)]);
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

    let server = Server::start_with(&[("LYREBIRD_DATA_DIR", data_dir)]);
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

/// Two servers on one database give one allowance of failed log-ins, not one each: the
/// failures are counted in PostgreSQL.
#[tokio::test]
async fn failed_log_ins_are_counted_across_servers() {
    let db = TestDatabase::new().await;
    let first = Server::start(&db, &[]);
    let second = Server::start(&db, &[]);
    sign_up(&first, "ada@example.com").await;
    let wrong = json!({"email": "ada@example.com", "password": "not her password"});
    for attempt in 0..5 {
        let server = if attempt % 2 == 0 { &first } else { &second };
        let (status, _) = server.post("/api/v1/sessions", None, wrong.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    for server in [&first, &second] {
        let (status, body) = server.post("/api/v1/sessions", None, wrong.clone()).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
        assert_eq!(
            log_in(server, "ada@example.com").await,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
}

/// A live tail on one server shows the calls another server on the same database answered,
/// once that server's call log has written them.
#[tokio::test]
async fn a_live_tail_shows_every_servers_calls() {
    let db = TestDatabase::new().await;
    let first = Server::start(&db, &[]);
    let second = Server::start(&db, &[]);
    let key = sign_up(&first, "tail@example.com").await;
    let (status, mock) = first
        .post("/api/v1/mocks", Some(&key), json!({"name": "tailed"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{mock}");
    let mock = mock["id"].as_str().unwrap().to_owned();
    let mut tail = first
        .client
        .get(first.url(&format!("/api/v1/mocks/{mock}/calls/stream")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(tail.status(), StatusCode::OK);
    for (server, path) in [
        (&second, "/from-second/1"),
        (&first, "/from-first"),
        (&second, "/from-second/2"),
    ] {
        let answer = reqwest::get(server.url(&format!("/m/{mock}{path}")))
            .await
            .unwrap();
        assert_eq!(
            answer.status(),
            StatusCode::NOT_FOUND,
            "no example: a 404 that is logged"
        );
    }
    let mut received = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while ["/from-second/1", "/from-first", "/from-second/2"]
        .iter()
        .any(|path| !received.contains(&format!("\"path\":\"{path}\"")))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk = tokio::time::timeout(left, tail.chunk())
            .await
            .unwrap_or_else(|_| panic!("not every call arrived: {received}"))
            .unwrap()
            .expect("the stream ended");
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    // The second server's calls in the order it answered them.
    let one = received.find("/from-second/1").unwrap();
    let two = received.find("/from-second/2").unwrap();
    assert!(one < two, "{received}");
}

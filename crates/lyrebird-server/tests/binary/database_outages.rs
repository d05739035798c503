//! When the database goes away: a killed postmaster is restarted while warm mocks answer, a
//! SIGINT meanwhile stops promptly, and with DATABASE_URL lost connections are recovered.

use super::*;

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

/// Kills the embedded postmaster and waits until a new one runs and the server is ready
/// again, checking meanwhile that it says it serves mocks; when it was killed, and how long
/// until ready.
async fn kill_the_postmaster(server: &Server, data: &DataDir) -> (Instant, Duration) {
    let postmaster = data.postmaster_pid().expect("the cluster runs");
    signal(postmaster, "KILL");
    let killed = Instant::now();
    // Back once a new postmaster runs and the server's pool reaches it; meanwhile the server
    // says it serves mocks, and whether the database answers.
    let mut database_seen_away = false;
    let ready_after = loop {
        let serving = server
            .client
            .get(server.url("/readyz/mocks"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            serving.status(),
            StatusCode::OK,
            "mocks are served during the outage"
        );
        let serving: Value = serving.json().await.unwrap();
        database_seen_away |= serving["database"] == "unavailable";
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
    eprintln!(
        "ready {ready_after:?} after the postmaster was killed \
         (database seen unavailable by /readyz/mocks: {database_seen_away})"
    );
    (killed, ready_after)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_postmaster_is_restarted_while_warm_mocks_answer_and_every_call_is_logged_once() {
    let data = DataDir::new();
    let data_dir = data.0.to_str().unwrap();
    // A lease of the quota larger than the calls of the outage: they are all admitted.
    let server = Server::start_with(&[
        ("LYREBIRD_DATA_DIR", data_dir),
        ("LYREBIRD_MONTHLY_QUOTA", "100000000"),
        ("LYREBIRD_QUOTA_LEASE", "100000"),
    ]);
    let key = sign_up(&server, "ada@example.com").await;
    let mock = warm_mock(&server, &key).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = steady_load(&server, &mock, Arc::clone(&stop));
    tokio::time::sleep(Duration::from_secs(1)).await;

    let (killed, ready_after) = kill_the_postmaster(&server, &data).await;
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

/// Stops every process of the embedded cluster (SIGSTOP): a database that does not answer, its
/// connections open; `resume` sends SIGCONT to the same processes.
fn stall_the_cluster(data: &DataDir) -> Vec<u32> {
    let postmaster = data.postmaster_pid().expect("the cluster runs");
    let children = std::process::Command::new("pgrep")
        .args(["-P", &postmaster.to_string()])
        .output()
        .expect("pgrep runs");
    let mut processes: Vec<u32> = String::from_utf8_lossy(&children.stdout)
        .lines()
        .filter_map(|line| line.trim().parse().ok())
        .collect();
    processes.push(postmaster);
    for pid in &processes {
        signal(*pid, "STOP");
    }
    processes
}

fn resume(processes: &[u32]) {
    for pid in processes.iter().rev() {
        signal(*pid, "CONT");
    }
}

#[tokio::test]
async fn past_the_lease_held_calls_are_refused_with_a_503_until_the_database_answers() {
    let data = DataDir::new();
    let server = Server::start_with(&[
        ("LYREBIRD_DATA_DIR", data.0.to_str().unwrap()),
        ("LYREBIRD_MONTHLY_QUOTA", "100000000"),
        ("LYREBIRD_QUOTA_LEASE", "20"),
    ]);
    let key = sign_up(&server, "ada@example.com").await;
    let mock = warm_mock(&server, &key).await;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = steady_load(&server, &mock, Arc::clone(&stop));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stalled = stall_the_cluster(&data);
    let stalled_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    resume(&stalled);
    let resumed_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let Load { calls } = load.await.unwrap();

    let status = |wanted: StatusCode| {
        calls
            .iter()
            .filter(move |(_, answer, _, _)| answer.as_ref().ok() == Some(&wanted))
    };
    let refused: Vec<_> = status(StatusCode::SERVICE_UNAVAILABLE).collect();
    let admitted = status(StatusCode::OK).count();
    assert_eq!(
        refused.len() + admitted,
        calls.len(),
        "every call was answered 200 or 503"
    );
    assert!(!refused.is_empty(), "no call went past the lease held");
    let (_, _, _, first_refused) = refused[0];
    let (_, _, _, last_refused) = refused[refused.len() - 1];
    assert!(
        *first_refused > stalled_at,
        "refused only once the database stopped answering"
    );
    assert!(
        *last_refused < resumed_at + Duration::from_secs(1),
        "refused until the database answered again, not after"
    );
    let slowest = calls.iter().map(|(_, _, took, _)| *took).max().unwrap();
    assert!(slowest < Duration::from_secs(3), "a call took {slowest:?}");
    let answer = reqwest::get(format!("{}/m/{mock}/hello/after", server.base))
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK, "admitted again");
    eprintln!(
        "{} calls: {admitted} admitted, {} refused while the quota could not be checked",
        calls.len(),
        refused.len()
    );

    // Every call is logged, refused ones too; the usage counts the admitted calls exactly: the
    // warm call, the load's and the last one.
    let deadline = Instant::now() + Duration::from_secs(30);
    while logged_paths(&server, &key, &mock).await.len() < calls.len() + 2 {
        assert!(Instant::now() < deadline, "calls not logged 30 s on");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, usage) = server.get("/api/v1/usage", &key).await;
        let usage: Value = serde_json::from_str(&usage).unwrap();
        let used = usage["calls"].as_u64().unwrap_or_default();
        if used == admitted as u64 + 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "usage says {used} calls, {} were admitted",
            admitted + 2
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn sigint_while_the_postmaster_is_dead_stops_promptly_and_cleanly() {
    let data = DataDir::new();
    let data_dir = data.0.to_str().unwrap();
    let server = Server::start_with(&[("LYREBIRD_DATA_DIR", data_dir)]);
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

    let server = Server::start_with(&[("LYREBIRD_DATA_DIR", data_dir)]);
    let (status, usage) = server.get("/api/v1/usage", &key).await;
    assert_eq!(status, StatusCode::OK, "{usage}");
    let usage: Value = serde_json::from_str(&usage).unwrap();
    assert_eq!(usage["calls"], 1, "the served call was counted: {usage}");
    assert!(server.interrupt().success());
}

#[tokio::test]
async fn with_database_url_lost_connections_are_recovered_and_missed_changes_picked_up() {
    let db = TestDatabase::new().await;
    let server = Server::start_with(&[("DATABASE_URL", &db.url())]);
    let other = Server::start_with(&[("DATABASE_URL", &db.url())]);
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

//! Where calls are kept: monthly partitions and retention, a PostgreSQL restart while mocks
//! answer, and a graceful shutdown of the binary.

use super::*;

/// The name of the monthly partition holding `at`.
fn partition_of(at: OffsetDateTime) -> String {
    format!("call_blocks_p{:04}{:02}", at.year(), u8::from(at.month()))
}

async fn partition_exists(store: &Store, name: &str) -> bool {
    sqlx::query_scalar::<_, bool>("SELECT to_regclass($1) IS NOT NULL")
        .bind(name)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn calls_land_in_monthly_partitions_created_ahead() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let now = OffsetDateTime::now_utc();
    let next_month = now + time::Duration::days(32 - i64::from(now.day()));
    assert!(partition_exists(store, &partition_of(now)).await);
    assert!(partition_exists(store, &partition_of(next_month)).await);

    // A month ahead: created by the hourly maintenance when the month turns.
    let later = now + time::Duration::days(80);
    assert!(!partition_exists(store, &partition_of(later)).await);
    store.ensure_call_partitions(later).await.unwrap();
    store.ensure_call_partitions(later).await.unwrap();
    assert!(partition_exists(store, &partition_of(later)).await);

    let mock = MockId::generate();
    let call = stored_call(mock, now);
    store
        .insert_calls(&encoded(std::slice::from_ref(&call)), &[])
        .await
        .unwrap();
    // Writing the same batch again (a retry after a lost answer) adds nothing.
    store.insert_calls(&encoded(&[call]), &[]).await.unwrap();
    let partitions: Vec<String> =
        sqlx::query_scalar("SELECT tableoid::regclass::text FROM call_blocks WHERE mock_id = $1")
            .bind(mock)
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(partitions, [partition_of(now)]);
}

#[tokio::test]
async fn retention_drops_whole_old_months_and_deletes_older_calls_of_the_month_it_cuts() {
    let db = TestDatabase::new().await;
    let store = db.store();
    let now = OffsetDateTime::now_utc();
    let day = time::Duration::days(1);
    for months_ago in [4, 3, 2] {
        store
            .ensure_call_partitions(now - day * (31 * months_ago))
            .await
            .unwrap();
    }
    let mock = MockId::generate();
    let ages = [120, 95, 70, 45, 41, 39, 10, 0];
    let calls: Vec<NewCall> = ages
        .iter()
        .map(|days| stored_call(mock, now - day * *days))
        .collect();
    store.insert_calls(&encoded(&calls), &[]).await.unwrap();

    let cutoff = now - day * 40;
    let report = store.apply_call_retention(cutoff).await.unwrap();
    let old = partition_of(now - day * 120);
    assert!(report.dropped_partitions.contains(&old), "{report:?}");
    assert!(!partition_exists(store, &old).await);
    // The month the cut-off falls in is kept, with its older calls deleted.
    assert!(partition_exists(store, &partition_of(cutoff)).await);
    assert!(!report.dropped_partitions.contains(&partition_of(cutoff)));
    // The block the cut-off falls in was written again without its older call.
    let kept = lyrebird_store::testing::blocks_of(store, mock).await;
    let oldest_kept = (now - kept[0].0).whole_days();
    let kept_calls: i32 = kept.iter().map(|(_, _, calls)| calls).sum();
    assert_eq!((oldest_kept, kept_calls), (39, 3), "{kept:?}");
}

#[tokio::test]
async fn a_plans_retention_keeps_its_workspaces_calls_shorter_or_longer_than_the_servers() {
    use lyrebird_store::{PlanLimits, WorkspaceRef};
    let db = TestDatabase::new().await;
    let store = db.store();
    let now = OffsetDateTime::now_utc();
    let day = time::Duration::days(1);
    for months_ago in [3, 2, 1] {
        store
            .ensure_call_partitions(now - day * (31 * months_ago))
            .await
            .unwrap();
    }
    for (plan, days) in [("short", 5), ("long", 90)] {
        let limits = PlanLimits {
            call_retention_days: Some(days),
            ..PlanLimits::default()
        };
        store.create_plan(plan, limits).await.unwrap();
    }
    let mut mocks = Vec::new();
    for plan in [Some("short"), Some("long"), None] {
        let email = format!("{}@example.com", plan.unwrap_or("plain"));
        let workspace = db.sign_up(&email).await.workspace.id();
        store
            .assign_plan(&WorkspaceRef::Id(workspace), plan)
            .await
            .unwrap();
        let mock = MockId::generate();
        let calls: Vec<NewCall> = [60, 20, 2]
            .iter()
            .map(|days| NewCall {
                id: Uuid::now_v7(),
                ..lyrebird_store::testing::call(workspace, mock, now - day * *days)
            })
            .collect();
        store.insert_calls(&encoded(&calls), &[]).await.unwrap();
        mocks.push(mock);
    }

    let report = store.apply_call_retention(now - day * 30).await.unwrap();
    let mut kept = Vec::new();
    for mock in &mocks {
        kept.push(logged_calls(store, *mock).await);
    }
    assert_eq!(
        kept,
        [1, 3, 2],
        "5 days, 90 days, the server's 30: {report:?}"
    );
    assert!(
        partition_exists(store, &partition_of(now - day * 60)).await,
        "a partition with calls a plan keeps is not dropped"
    );
}

/// A data directory of its own for a private PostgreSQL cluster, under cargo's temporary
/// directory (reachable by the `postgres` user when the tests run as root). Dropping it stops
/// a cluster left running in it and removes it.
struct ClusterDir(std::path::PathBuf);

impl ClusterDir {
    fn new() -> Self {
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("lyrebird-calls-{}", Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn options(&self) -> EmbeddedOptions {
        EmbeddedOptions {
            durable: false,
            ..EmbeddedOptions::new(&self.0)
        }
    }
}

impl Drop for ClusterDir {
    fn drop(&mut self) {
        let pid = std::fs::read_to_string(self.0.join("postgres/postmaster.pid"))
            .ok()
            .and_then(|text| text.lines().next()?.trim().parse::<u32>().ok());
        if let Some(pid) = pid {
            let _ = std::process::Command::new("kill")
                .args(["-QUIT", &pid.to_string()])
                .status();
            for _ in 0..100 {
                if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn mocks_keep_answering_while_postgres_restarts_and_their_calls_are_written_afterwards() {
    let dir = ClusterDir::new();
    let postgres = EmbeddedPostgres::start(&dir.options()).await.unwrap();
    let store = Store::connect(postgres.connect_options()).await.unwrap();
    let app = TestApp::start_on(
        store,
        CallLogOptions {
            flush_interval: Duration::from_millis(20),
            ..CallLogOptions::default()
        },
        None,
    )
    .await;
    let tenant = app.tenant("ada@example.com").await;
    app.add_example(&tenant, hello_example()).await;
    let call = || async {
        app.mock_request(&tenant, Method::GET, "/hello")
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(call().await, StatusCode::OK);
    app.wait_for(&tenant, "", 1).await;

    postgres.stop().await.unwrap();
    for _ in 0..30 {
        assert_eq!(call().await, StatusCode::OK);
    }
    // The calls wait in the writer's batch and queue, none dropped.
    assert_eq!(app.call_log.dropped(), 0);

    let postgres = EmbeddedPostgres::start(&dir.options()).await.unwrap();
    app.wait_for(&tenant, "", 31).await;
    app.call_log.shutdown().await;
    app.store().close().await;
    postgres.stop().await.unwrap();
}

/// `lyrebird serve` on a free loopback port with this database; the address it listens on.
fn start_binary(database_url: &str) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_lyrebird"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "info")
        .env_remove("LYREBIRD_BASE_HOST")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            eprintln!("[lyrebird] {line}");
            if let Some(listen) = line.split("listen=").nth(1) {
                let address = listen.split_whitespace().next().unwrap_or_default();
                let _ = sender.send(address.to_owned());
            }
        }
    });
    let address = receiver
        .recv_timeout(GUARD)
        .expect("lyrebird did not start");
    (child, format!("http://{address}"))
}

#[tokio::test]
async fn a_graceful_shutdown_writes_every_call_answered_before_it() {
    let db = TestDatabase::new().await;
    let (mut child, base) = start_binary(&db.url());
    let client = reqwest::Client::new();
    let account: Value = client
        .post(format!("{base}/api/v1/accounts"))
        .json(&json!({"email": "ada@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = account["api_key"].as_str().unwrap();
    let mock: Value = client
        .post(format!("{base}/api/v1/mocks"))
        .bearer_auth(key)
        .json(&json!({"name": "shop"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mock = mock["id"].as_str().unwrap();
    let response = client
        .post(format!("{base}/api/v1/mocks/{mock}/examples"))
        .bearer_auth(key)
        .json(&hello_example())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);

    const CALLS: usize = 500;
    for _ in 0..CALLS {
        let response = client
            .get(format!("{base}/m/{mock}/hello"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status}");

    let mock: MockId = mock.parse().unwrap();
    assert_eq!(logged_calls(db.store(), mock).await, CALLS as i64);
}

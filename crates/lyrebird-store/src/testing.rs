//! Databases for tests: a fresh, migrated database per test, dropped when the test ends.
//!
//! With `DATABASE_URL` set, the databases are created on that server (the URL's user must be
//! allowed to create databases). Otherwise every test process shares one throwaway embedded
//! cluster, started by the first test that needs it with the server's own [`crate::embedded`]
//! code, in `$TMPDIR/lyrebird-test-postgres` (or `LYREBIRD_TEST_PG_DIR`), without fsync. The
//! cluster stays up between test processes (nextest runs one per test) and between runs; the
//! project's test command stops it at the end.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::OnceLock;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::embedded::{Cluster, EmbeddedOptions, open_lock_file};
use crate::{Caller, Email, NewPassword, Secret, Store};

/// The shared cluster's directory when `LYREBIRD_TEST_PG_DIR` is not set.
pub fn shared_cluster_dir() -> PathBuf {
    std::env::var_os("LYREBIRD_TEST_PG_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("lyrebird-test-postgres"))
}

/// Where test databases are created: the `postgres` database of the server they live on.
fn server() -> &'static PgConnectOptions {
    static SERVER: OnceLock<PgConnectOptions> = OnceLock::new();
    SERVER.get_or_init(|| match std::env::var("DATABASE_URL") {
        Ok(url) => PgConnectOptions::from_str(&url)
            .expect("DATABASE_URL is not a valid PostgreSQL URL")
            .database("postgres"),
        Err(_) => shared_cluster().connect_options("postgres"),
    })
}

/// Starts the shared cluster unless a test process already has: the data directory's lock is
/// held only while starting, so concurrent test processes queue up instead of racing `initdb`.
fn shared_cluster() -> Cluster {
    let options = EmbeddedOptions {
        durable: false,
        ..EmbeddedOptions::new(shared_cluster_dir())
    };
    let cluster = Cluster::locate(&options).unwrap_or_else(|e| panic!("{e}"));
    let lock = open_lock_file(&shared_cluster_dir()).unwrap_or_else(|e| panic!("{e}"));
    lock.lock().expect("locking the test cluster's directory");
    cluster.prepare().unwrap_or_else(|e| panic!("{e}"));
    drop(lock);
    cluster
}

/// A migrated database of its own for one test.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    options: PgConnectOptions,
    store: Store,
}

impl TestDatabase {
    pub async fn new() -> Self {
        let (name, options) = Self::create().await;
        let store = Store::connect(options.clone())
            .await
            .expect("connecting to and migrating the test database");
        Self {
            name,
            options,
            store,
        }
    }

    /// A database with the migrations up to `version` only, for tests of a migration: run
    /// the rest with [`crate::MIGRATOR`].
    pub async fn at_migration(version: i64) -> Self {
        let (name, options) = Self::create().await;
        let pool = sqlx::PgPool::connect_with(options.clone())
            .await
            .expect("connecting to the test database");
        crate::MIGRATOR
            .run_to(version, &pool)
            .await
            .expect("migrating the test database");
        Self {
            name,
            options,
            store: Store::on(pool),
        }
    }

    async fn create() -> (String, PgConnectOptions) {
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = server()
            .connect()
            .await
            .expect("connecting to the test PostgreSQL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut admin)
            .await
            .expect("creating a test database");
        admin.close().await.ok();
        let options = server().clone().database(&name);
        (name, options)
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Signs `email` up and authenticates with the first key: a caller for tests of tenant data.
    pub async fn sign_up(&self, email: &str) -> Caller {
        let signed_up = self
            .store
            .sign_up(
                &Email::parse(email).expect("a valid test email"),
                NewPassword::parse(Secret::new("correct horse battery")).expect("a long password"),
                crate::FirstAccess::ApiKey,
            )
            .await
            .expect("signing up");
        let crate::Access::ApiKey { secret, .. } = signed_up.access else {
            panic!("an API sign-up gives a key");
        };
        self.store
            .authenticate_key(&secret)
            .await
            .expect("authenticating")
            .expect("the first key works")
    }

    /// An account, its workspace and an admin key, written as the schema held them before
    /// workspaces had members (migrations up to 15), for tests of the migrations since. Once
    /// migrated, the key authenticates ([`Store::authenticate_key`]).
    pub async fn legacy_sign_up(&self, email: &str) -> (crate::WorkspaceId, Secret) {
        let account = crate::AccountId::generate();
        let workspace = crate::WorkspaceId::generate();
        let key = crate::secret::random_token(crate::keys::KEY_PREFIX, 40);
        let pool = self.store.pool();
        sqlx::query("INSERT INTO accounts (id, email, password_hash) VALUES ($1, $2, 'none')")
            .bind(account)
            .bind(email)
            .execute(pool)
            .await
            .expect("an account of the old schema");
        sqlx::query("INSERT INTO workspaces (id, owner_id, name) VALUES ($1, $2, 'Personal')")
            .bind(workspace)
            .bind(account)
            .execute(pool)
            .await
            .expect("a workspace of the old schema");
        sqlx::query(
            "INSERT INTO api_keys (id, workspace_id, name, scope, prefix, digest)
             VALUES ($1, $2, 'First key', 'admin', $3, $4)",
        )
        .bind(crate::KeyId::generate())
        .bind(workspace)
        .bind(&key.expose()[..10])
        .bind(key.digest())
        .execute(pool)
        .await
        .expect("a key of the old schema");
        (workspace, key)
    }

    /// A new mock named "Orders" in the caller's workspace.
    pub async fn mock(&self, owner: &Caller) -> crate::MockId {
        let draft = crate::MockSettings {
            name: "Orders".into(),
            ..crate::MockSettings::default()
        };
        self.store
            .create_mock(&owner.workspace, &draft)
            .await
            .expect("creating a mock")
            .id
    }

    /// A `DATABASE_URL` for this database, to hand to a server process.
    pub fn url(&self) -> String {
        self.options.to_url_lossy().to_string()
    }
}

impl Drop for TestDatabase {
    /// Drops the database on a thread of its own: `Drop` cannot await, and the test's runtime
    /// may be shutting down.
    fn drop(&mut self) {
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut admin = server().connect().await.map_err(std::io::Error::other)?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut admin)
                .await
                .map_err(std::io::Error::other)?;
                admin.close().await.map_err(std::io::Error::other)
            })
        })
        .join();
        if let Ok(Err(error)) = dropped {
            eprintln!("could not drop test database {}: {error}", self.name);
        }
    }
}

/// A cluster of its own, for a test that stops its database and starts it again (an outage),
/// which the shared cluster cannot do to the tests beside it. Durable, like a server's. Dropping
/// it stops the cluster.
#[derive(Debug)]
pub struct OwnCluster(Cluster);

impl OwnCluster {
    /// Creates and starts a cluster in `data_dir`, with the server's database in it.
    pub async fn start(data_dir: &std::path::Path) -> Self {
        let cluster =
            Cluster::locate(&EmbeddedOptions::new(data_dir)).unwrap_or_else(|e| panic!("{e}"));
        cluster.prepare().unwrap_or_else(|e| panic!("{e}"));
        cluster
            .create_database_if_missing(crate::embedded::DATABASE)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        Self(cluster)
    }

    /// A `DATABASE_URL` for the server's database in it.
    pub fn url(&self) -> String {
        self.0
            .connect_options(crate::embedded::DATABASE)
            .to_url_lossy()
            .to_string()
    }

    /// Stops it (`pg_ctl stop -m fast`: every connection is cut).
    pub fn stop(&self) {
        self.0.stop().unwrap_or_else(|e| panic!("{e}"));
    }

    /// Starts it again after [`OwnCluster::stop`].
    pub fn start_again(&self) {
        self.0.prepare().unwrap_or_else(|e| panic!("{e}"));
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        if let Err(error) = self.0.stop_if_running() {
            eprintln!("could not stop a test's own cluster: {error}");
        }
    }
}

/// A mock's stored blocks, oldest first: when each begins, its format and how many calls it
/// holds.
pub async fn blocks_of(
    store: &Store,
    mock: crate::MockId,
) -> Vec<(time::OffsetDateTime, i16, i32)> {
    sqlx::query_as(
        "SELECT first_at, format, cardinality(call_ids) FROM call_blocks WHERE mock_id = $1 \
         ORDER BY first_at",
    )
    .bind(mock)
    .fetch_all(store.pool())
    .await
    .expect("the mock's blocks")
}

/// The ids of every call a listing finds, following its cursor page by page of `limit`.
pub async fn listed_ids(
    store: &Store,
    owner: &Caller,
    mock: crate::MockId,
    filter: &crate::calls::CallFilter,
    limit: u32,
) -> Vec<uuid::Uuid> {
    let mut ids = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_calls(&owner.workspace, mock, filter, after, limit)
            .await
            .expect("listing calls");
        ids.extend(page.calls.iter().map(|call| call.id));
        match page.next {
            Some(next) => after = Some(next),
            None => return ids,
        }
    }
}

/// Calls in blocks, as the call-log writer hands them to [`Store::insert_calls`].
pub fn encoded(calls: &[crate::calls::NewCall]) -> crate::calls::CallBlocks {
    let mut blocks = crate::calls::CallBlocks::default();
    for call in calls {
        blocks.push(call.clone()).expect("the call encodes");
    }
    blocks
}

/// A call to log for tests of the call log: `GET /` answered 200 by an example, empty bodies,
/// at `at`, a new v4 id. Tests change what they look at with `NewCall { .., ..call(..) }`.
pub fn call(
    workspace: crate::WorkspaceId,
    mock: crate::MockId,
    at: time::OffsetDateTime,
) -> crate::calls::NewCall {
    let body = crate::calls::StoredBody {
        text: String::new(),
        base64: false,
        size: 0,
    };
    crate::calls::NewCall {
        id: uuid::Uuid::new_v4(),
        workspace_id: workspace,
        mock_id: mock,
        at,
        method: "GET".into(),
        host: "localhost".into(),
        path: "/".into(),
        query: String::new(),
        request_headers: Vec::new(),
        request_body: body.clone(),
        status: 200,
        response_headers: Vec::new(),
        response_body: body,
        body_cap: 65_536,
        outcome: crate::calls::CallOutcomeKind::Matched,
        example_id: None,
        example_name: None,
        explanation: None,
        error: None,
        latency_us: 10,
        client_addr: None,
        key_id: None,
        callbacks_queued: 0,
        version: 1,
    }
}

//! PostgreSQL storage of Lyrebird, through sqlx.
//!
//! - [`Store`]: a connection pool with one method per operation, grouped by resource in
//!   [`accounts`], [`keys`], [`mocks`], [`examples`], [`state`] (mocks' state) and [`calls`]
//!   (the call log).
//! - [`changes`]: the typed feed of changes that serving processes must see, published with
//!   each write and applied at once to the process that wrote it. Tenant data is
//!   only reachable through a [`Workspace`] handle, which only authentication creates
//!   ([`workspace`]); writing calls, which the mock runtime does for the workspace that owns the
//!   mock, is the exception.
//! - [`embedded`]: the private PostgreSQL cluster the server runs when no `DATABASE_URL` is set.
//! - [`ids`] and [`secret`]: typed ids, and secrets that never reach a log.
//! - `testing` (feature `test-support`): a fresh migrated database per test.
//!
//! Queries are plain `query_as` with `FromRow` rows, checked by the tests against a real
//! database rather than at compile time (see `docs/architecture.md`).

pub mod account_settings;
pub mod account_tokens;
pub mod accounts;
pub mod audit;
mod blocks;
pub mod calls;
pub mod changes;
pub mod contracts;
mod delta;
pub mod drafts;
pub mod drift;
pub mod embedded;
pub mod error;
pub mod examples;
pub mod ids;
pub mod invitations;
pub mod keys;
pub mod members;
pub mod mocks;
pub mod operator;
mod search;
pub mod secret;
pub mod serving;
pub mod state;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod throttle;
pub mod usage;
pub mod versions;
pub mod workspace;

use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

pub use account_settings::{AccountSummary, DeletedAccount, SessionSummary};
pub use accounts::{
    Access, Account, Email, FirstAccess, NewPassword, Session, SessionOrigin, SignUp,
    WorkspaceDetails,
};
pub use audit::{AuditActor, AuditEvent, AuditFilter, NewAuditEvent};
pub use changes::{ApplyChange, Change, ChangeListener, WrittenBlock};
pub use contracts::{ContractBrief, StoredContract};
pub use drafts::Draft;
pub use drift::{DriftReport, DriftSummary};
pub use error::{Gone, Result, StoreError};
pub use examples::{MAX_EXAMPLE_BYTES_PER_MOCK, MAX_EXAMPLES_PER_MOCK, StoredExample};
pub use ids::{AccountId, DriftReportId, ExampleId, InvitationId, KeyId, MockId, WorkspaceId};
pub use invitations::{Invitation, InvitationDetails};
pub use keys::{ApiKey, NewKey};
pub use members::{Member, Membership, workspace_name};
pub use mocks::{Delay, Mock, MockSettings};
pub use operator::{
    MemberBrief, Plan, PlanChange, PlanLimits, WorkspaceOverview, WorkspacePage, plan_name,
};
pub use secret::Secret;
pub use serving::{LiveKey, ServedMock, WorkspaceTerms};
pub use state::{StateLock, StateSummary};
pub use usage::{Lease, Usage, UsageMonth, WorkspaceRef};
pub use versions::{Author, MockVersion, VersionChanges, VersionSummary};
pub use workspace::{Actor, Caller, Credential, Role, Scope, Workspace};

/// The migrations in the repository's `migrations/`, compiled into the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// Access to Lyrebird's database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
    /// Applies the changes this store commits to this process ([`Store::applying_changes`]).
    local: Option<Arc<dyn ApplyChange>>,
    /// This store's own mark on what it announces, so that it can tell its own notifications
    /// from other processes' ([`Change::CallsWritten`]).
    origin: uuid::Uuid,
}

impl Store {
    /// Connects and brings the schema up to date.
    ///
    /// The pool outlives its database's restarts: an idle connection is checked before it is
    /// handed out, so one the database dropped is replaced, and while the database is away a
    /// connection is tried again (with backoff) until the acquire timeout, so requests fail
    /// within 10 s and succeed again as soon as the database is back.
    pub async fn connect(options: PgConnectOptions) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .test_before_acquire(true)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self::on(pool))
    }

    /// A store on a pool whose schema is up to date.
    pub(crate) fn on(pool: PgPool) -> Self {
        Self {
            pool,
            local: None,
            origin: uuid::Uuid::new_v4(),
        }
    }

    /// This store's mark on the calls it announces ([`Change::CallsWritten`]).
    pub fn origin(&self) -> uuid::Uuid {
        self.origin
    }

    /// The pool the store's modules query through; public for tests that check rows no store
    /// method reads.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Begins a transaction on a pooled connection. Every transaction of the store starts
    /// here, because however the caller is dropped (a client gone, a `select!` or `try_join!`
    /// that stopped it), the pool gets the connection back in no transaction.
    ///
    /// sqlx 0.9's `Pool::begin` cannot promise that on PostgreSQL (launchbadge/sqlx#4393): its
    /// rollback guards act only once `BEGIN` has answered, so a caller dropped while `BEGIN` is
    /// on its way returns the connection with a transaction open, and whoever borrows it next
    /// runs inside it. Taking the connection is safe to interrupt and is done here; `BEGIN`
    /// runs on a task of its own, which a dropped caller does not stop, and a transaction that
    /// nobody awaits any more is dropped there once begun, which rolls it back. (The task runs
    /// the second half of `Pool::begin`, `Transaction::begin`, which sqlx hides from its docs:
    /// look again when upgrading sqlx.)
    pub async fn begin(&self) -> Result<Transaction<'static, Postgres>> {
        self.begin_with(None).await
    }

    /// [`Store::begin`] with a `BEGIN` of the caller's, which may set the transaction's
    /// isolation or a `SET LOCAL` in the same round trip (`"BEGIN; SET LOCAL ..."`).
    pub(crate) async fn begin_with(
        &self,
        statement: Option<&'static str>,
    ) -> Result<Transaction<'static, Postgres>> {
        let connection = self.pool.acquire().await?;
        let statement = statement.map(sqlx::SqlStr::from_static);
        Ok(tokio::spawn(Transaction::begin(connection, statement)).await??)
    }

    /// Succeeds when the database answers a query.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Deletes the expired sessions of every account, returning how many: logging in removes
    /// only that account's own, so the server sweeps the rest now and then.
    pub async fn delete_expired_sessions(&self) -> Result<u64> {
        let deleted = sqlx::query("DELETE FROM sessions WHERE expires_at < now()")
            .execute(&self.pool)
            .await?;
        Ok(deleted.rows_affected())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

//! Monthly quotas, counted in memory and kept honest across processes by leases.
//!
//! A process admits a workspace's call only out of calls it has leased from Postgres
//! (`Store::lease_calls`), and leases are granted only while the workspace's leased total stays
//! within its quota. So all processes on one database together never admit more than the quota,
//! and a single process admits exactly the quota. The price is under-admission: calls leased by
//! one process and not yet used cannot be used by another. So leases are small near the end of
//! the quota (a quarter of what is left, at most `block`); a process that finds the quota spent
//! asks the others for their unused calls (`wanted:<workspace>` on `lyrebird_usage_changed`),
//! they hand them back (`returned:<workspace>`), and it looks again; without news it looks again
//! after [`SPENT_RECHECK`]. Every lease goes back at shutdown.
//!
//! The hot path takes one short lock; the database is asked once per lease, ahead of need when
//! a lease runs low. A lease starts at `block` calls; when calls outrun the lease (a call finds
//! it used up and has to wait for the database), the workspace's leases in this process double,
//! up to [`MAX_LEASE_GROWTH`] times `block`, so a busy workspace asks the database rarely and its
//! calls do not wait. A call never waits for the database longer than [`LEASE_PATIENCE`]: the
//! lease is asked for on a task of its own, which keeps what it gets even when the call stopped
//! waiting. When the database cannot be reached (or is that slow), calls go on being admitted out
//! of the lease already held, and once it is spent are refused ([`Admission::Unavailable`]: the
//! quota cannot be checked) rather than admitted beyond it, so an outage never lets a workspace
//! past its quota; one task at a time tries to lease again every [`UNREACHABLE_BACKOFF`]; see
//! `docs/serving.md`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use lyrebird_store::{Store, StoreError, UsageMonth, WorkspaceId};
use time::OffsetDateTime;

/// How long a process that found the quota spent answers 429 before asking Postgres again
/// (earlier when calls are handed back or the quota changes).
const SPENT_RECHECK: Duration = Duration::from_secs(5);
/// How long a call waits for a lease before it is refused for want of one.
const LEASE_PATIENCE: Duration = Duration::from_millis(500);
/// How long a process waits between lease attempts while Postgres cannot be reached.
const UNREACHABLE_BACKOFF: Duration = Duration::from_secs(1);
/// At shutdown, how long writing usage and handing back leases is tried while the database is
/// away, and how often.
const SHUTDOWN_PATIENCE: Duration = Duration::from_secs(5);
const SHUTDOWN_RETRY: Duration = Duration::from_millis(250);
/// How many times `block` a workspace's lease may grow to under load.
const MAX_LEASE_GROWTH: u64 = 1024;

/// The quota figures a mock response reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub limit: u64,
    /// Calls counted so far this month, across processes, as far as this process knows.
    pub used: u64,
    pub month: UsageMonth,
}

impl Limits {
    pub fn remaining(&self) -> u64 {
        self.limit.saturating_sub(self.used)
    }

    pub fn resets_at(&self) -> OffsetDateTime {
        self.month.resets_at()
    }

    /// Whole seconds until the reset, for `RateLimit-Reset`.
    pub fn reset_seconds(&self, now: OffsetDateTime) -> u64 {
        let seconds = (self.resets_at() - now).whole_seconds();
        u64::try_from(seconds).unwrap_or(0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Admitted(Limits),
    Exceeded(Limits),
    /// The lease held is spent and no new one can be had (the database is away or stalled):
    /// the quota cannot be checked, so the call is not admitted.
    Unavailable(Limits),
}

/// The quota counters of every workspace this process has served.
#[derive(Debug, Clone)]
pub struct Quotas {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    default_quota: u64,
    block: u64,
    accounts: RwLock<HashMap<WorkspaceId, Arc<Account>>>,
    /// Served calls of months gone by, still to be written.
    unwritten_past: Mutex<Vec<(WorkspaceId, UsageMonth, u64)>>,
    /// Leases taken from the database, for the metrics.
    leases: AtomicU64,
}

#[derive(Debug, Default)]
struct Account {
    state: Mutex<State>,
    /// One lease request at a time per workspace.
    leasing: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Debug, Default)]
struct State {
    month: Option<UsageMonth>,
    /// Known after the first lease of the month.
    quota: Option<u64>,
    /// The workspace's leased total over all processes, at our last lease.
    leased_total: u64,
    /// Calls this process may still admit.
    unused: u64,
    /// Served calls of `month` not yet written.
    unwritten: u64,
    /// Served calls of `month` being written now (still counted by [`Quotas::unwritten`]).
    writing: u64,
    spent_until: Option<Instant>,
    /// The last lease failed or took longer than [`LEASE_PATIENCE`]: once the lease held is
    /// spent, calls are refused until a lease succeeds.
    unreachable: bool,
    /// A lease is being asked for in the background.
    refilling: bool,
    /// The most this process leases at a time for the workspace (0: not set yet, `block`).
    lease_size: u64,
}

impl State {
    fn limits(&self, default_quota: u64, month: UsageMonth) -> Limits {
        let limit = self.quota.unwrap_or(default_quota);
        Limits {
            limit,
            used: self.leased_total.saturating_sub(self.unused),
            month,
        }
    }
}

/// What to do once the state's lock is released.
enum Next {
    Done(Admission),
    Lease,
}

impl Quotas {
    pub fn new(store: Store, default_quota: u64, block: u64) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                default_quota,
                block: block.max(1),
                accounts: RwLock::default(),
                unwritten_past: Mutex::default(),
                leases: AtomicU64::new(0),
            }),
        }
    }

    fn account(&self, workspace: WorkspaceId) -> Arc<Account> {
        if let Some(account) = self
            .inner
            .accounts
            .read()
            .expect("quota lock")
            .get(&workspace)
        {
            return Arc::clone(account);
        }
        let mut accounts = self.inner.accounts.write().expect("quota lock");
        Arc::clone(accounts.entry(workspace).or_default())
    }

    /// Counts one call against the workspace's quota, or says the quota is spent.
    pub async fn admit(&self, workspace: WorkspaceId) -> Admission {
        let account = self.account(workspace);
        loop {
            let month = UsageMonth::current();
            match self.try_admit(workspace, &account, month) {
                Next::Done(admission) => return admission,
                Next::Lease => {}
            }
            let lease = async {
                let leasing = Arc::clone(&account.leasing).lock_owned().await;
                let must_lease = {
                    let state = account.state.lock().expect("quota lock");
                    state.unused == 0 && !is_future(state.spent_until) && !state.unreachable
                };
                if must_lease {
                    // On a task of its own, so that what the lease gets is kept when the call
                    // stops waiting for it.
                    let (quotas, account) = (self.clone(), Arc::clone(&account));
                    let _ = tokio::spawn(async move {
                        let _leasing = leasing;
                        quotas.lease(workspace, &account, month).await;
                    })
                    .await;
                }
            };
            if tokio::time::timeout(LEASE_PATIENCE, lease).await.is_err() {
                account.state.lock().expect("quota lock").unreachable = true;
            }
        }
    }

    fn try_admit(&self, workspace: WorkspaceId, account: &Arc<Account>, month: UsageMonth) -> Next {
        let mut state = account.state.lock().expect("quota lock");
        if state.month != Some(month) {
            self.roll_over(workspace, &mut state, month);
        }
        if state.unused > 0 {
            state.unused -= 1;
            state.unwritten += 1;
            if state.unused == state.lease_size / 4 {
                self.refill_in_background(workspace, account, &mut state, month);
            }
            return Next::Done(Admission::Admitted(
                state.limits(self.inner.default_quota, month),
            ));
        }
        if is_future(state.spent_until) {
            return Next::Done(Admission::Exceeded(
                state.limits(self.inner.default_quota, month),
            ));
        }
        if state.unreachable {
            self.refill_in_background(workspace, account, &mut state, month);
            return Next::Done(Admission::Unavailable(
                state.limits(self.inner.default_quota, month),
            ));
        }
        // After the month's first lease, a call that finds none left means calls come faster
        // than leases: lease more at a time.
        state.lease_size = if state.quota.is_none() {
            self.inner.block
        } else {
            (state.lease_size * 2).min(self.inner.block * MAX_LEASE_GROWTH)
        };
        Next::Lease
    }

    /// A new month: what was leased for the old one goes back, what was served of it is kept
    /// for writing, and counting starts afresh.
    fn roll_over(&self, workspace: WorkspaceId, state: &mut State, month: UsageMonth) {
        if let Some(old) = state.month {
            if state.unwritten > 0 {
                self.inner.unwritten_past.lock().expect("quota lock").push((
                    workspace,
                    old,
                    state.unwritten,
                ));
            }
            self.return_in_background(workspace, old, state.unused);
        }
        *state = State {
            month: Some(month),
            lease_size: self.inner.block,
            ..State::default()
        };
    }

    /// Leases taken from the database so far.
    pub fn leases(&self) -> u64 {
        self.inner.leases.load(Ordering::Relaxed)
    }

    async fn lease(&self, workspace: WorkspaceId, account: &Account, month: UsageMonth) {
        let most = account.state.lock().expect("quota lock").lease_size.max(1);
        // A quarter of what is left under the quota, so that near the end little sits unused in
        // one process while another is refused.
        let lease = self
            .inner
            .store
            .lease_calls(workspace, month, self.inner.default_quota, |left| {
                left.div_ceil(4).clamp(1, most)
            })
            .await;
        let mut state = account.state.lock().expect("quota lock");
        if state.month != Some(month) {
            // The month turned while we asked; hand the calls back to the month they are of.
            if let Ok(lease) = lease {
                self.return_in_background(workspace, month, lease.granted);
            }
            return;
        }
        match lease {
            Ok(lease) => {
                self.inner.leases.fetch_add(1, Ordering::Relaxed);
                state.quota = Some(lease.quota);
                state.unused += lease.granted;
                state.leased_total = lease.leased;
                state.unreachable = false;
                if lease.granted == 0 && state.unused == 0 {
                    state.spent_until = Some(Instant::now() + SPENT_RECHECK);
                    self.ask_for_calls_in_background(workspace);
                }
            }
            Err(StoreError::NotFound) => {
                state.spent_until = Some(Instant::now() + SPENT_RECHECK);
            }
            Err(error) => {
                if !state.unreachable {
                    tracing::warn!(%error, %workspace, "no quota lease: admitting calls without one until the database answers");
                }
                state.unreachable = true;
            }
        }
    }

    /// Leases on a task of its own unless one does already: when a lease runs low, and every
    /// [`UNREACHABLE_BACKOFF`] while Postgres cannot be reached.
    fn refill_in_background(
        &self,
        workspace: WorkspaceId,
        account: &Arc<Account>,
        state: &mut State,
        month: UsageMonth,
    ) {
        if std::mem::replace(&mut state.refilling, true) {
            return;
        }
        let quotas = self.clone();
        let account = Arc::clone(account);
        tokio::spawn(async move {
            let unreachable = {
                let _leasing = account.leasing.lock().await;
                quotas.lease(workspace, &account, month).await;
                account.state.lock().expect("quota lock").unreachable
            };
            if unreachable {
                tokio::time::sleep(UNREACHABLE_BACKOFF).await;
            }
            account.state.lock().expect("quota lock").refilling = false;
        });
    }

    fn ask_for_calls_in_background(&self, workspace: WorkspaceId) {
        let store = self.inner.store.clone();
        tokio::spawn(async move {
            if let Err(error) = store.ask_for_calls(workspace).await {
                tracing::warn!(%error, %workspace, "could not ask other processes for calls");
            }
        });
    }

    fn return_in_background(&self, workspace: WorkspaceId, month: UsageMonth, calls: u64) {
        if calls == 0 {
            return;
        }
        let store = self.inner.store.clone();
        tokio::spawn(async move {
            if let Err(error) = store.return_calls(workspace, month, calls).await {
                tracing::warn!(%error, %workspace, calls, "could not hand back leased calls");
            }
        });
    }

    /// The workspace's quota changed: what this process holds goes back, and the next call
    /// leases under the new quota.
    pub fn quota_changed(&self, workspace: WorkspaceId) {
        let quotas = self.clone();
        tokio::spawn(async move { quotas.hand_back(workspace, true).await });
    }

    /// Another process found the quota spent: hand back what this one holds unused.
    pub fn calls_wanted(&self, workspace: WorkspaceId) {
        let quotas = self.clone();
        tokio::spawn(async move { quotas.hand_back(workspace, false).await });
    }

    /// Hands back the calls this process holds unused, under the lease lock so that no lease is
    /// asked for meanwhile (a lease then would still count them as taken). When the database
    /// cannot take them, this process keeps them, and `false` says so.
    async fn hand_back(&self, workspace: WorkspaceId, quota_changed: bool) -> bool {
        let account = self.account(workspace);
        let _leasing = account.leasing.lock().await;
        let (month, unused) = {
            let mut state = account.state.lock().expect("quota lock");
            let unused = std::mem::take(&mut state.unused);
            state.leased_total = state.leased_total.saturating_sub(unused);
            if quota_changed {
                state.quota = None;
                state.spent_until = None;
            }
            (state.month, unused)
        };
        let (Some(month), 1..) = (month, unused) else {
            return true;
        };
        let Err(error) = self
            .inner
            .store
            .return_calls(workspace, month, unused)
            .await
        else {
            return true;
        };
        tracing::warn!(%error, %workspace, unused, "could not hand back leased calls");
        let mut state = account.state.lock().expect("quota lock");
        if state.month == Some(month) {
            state.unused += unused;
            state.leased_total += unused;
        }
        false
    }

    /// Another process handed calls back: look again before refusing.
    pub fn calls_returned(&self, workspace: WorkspaceId) {
        if let Some(account) = self
            .inner
            .accounts
            .read()
            .expect("quota lock")
            .get(&workspace)
        {
            account.state.lock().expect("quota lock").spent_until = None;
        }
    }

    /// Changes may have been missed: every workspace looks again before refusing.
    pub fn recheck_all(&self) {
        for account in self.inner.accounts.read().expect("quota lock").values() {
            account.state.lock().expect("quota lock").spent_until = None;
        }
    }

    /// Served calls not yet written, for `GET /api/v1/usage`.
    pub fn unwritten(&self, workspace: WorkspaceId, month: UsageMonth) -> u64 {
        let accounts = self.inner.accounts.read().expect("quota lock");
        accounts.get(&workspace).map_or(0, |account| {
            let state = account.state.lock().expect("quota lock");
            if state.month == Some(month) {
                state.unwritten + state.writing
            } else {
                0
            }
        })
    }

    /// Writes the served calls not written yet; `false` when some could not be. Run every
    /// second.
    pub async fn write_usage(&self) -> bool {
        let mut served =
            std::mem::take(&mut *self.inner.unwritten_past.lock().expect("quota lock"));
        let accounts = self.accounts();
        for (workspace, account) in &accounts {
            let mut state = account.state.lock().expect("quota lock");
            if let (Some(month), unwritten @ 1..) = (state.month, state.unwritten) {
                served.push((*workspace, month, unwritten));
                state.writing = std::mem::take(&mut state.unwritten);
            }
        }
        if served.is_empty() {
            return true;
        }
        let written = self.inner.store.add_served_calls(&served).await;
        for (_, account) in &accounts {
            account.state.lock().expect("quota lock").writing = 0;
        }
        let Err(error) = written else {
            return true;
        };
        tracing::warn!(%error, "could not write usage; will try again");
        self.inner
            .unwritten_past
            .lock()
            .expect("quota lock")
            .extend(served);
        false
    }

    /// At shutdown: writes the served calls and hands back every unused leased call, trying
    /// again for up to [`SHUTDOWN_PATIENCE`] while the database is away (a restarting embedded
    /// PostgreSQL is back within a second or two).
    pub async fn shutdown(&self) {
        let deadline = Instant::now() + SHUTDOWN_PATIENCE;
        let mut holding: Vec<WorkspaceId> = self.accounts().into_iter().map(|(id, _)| id).collect();
        loop {
            let written = self.write_usage().await;
            let mut still_holding = Vec::new();
            for workspace in holding {
                if !self.hand_back(workspace, false).await {
                    still_holding.push(workspace);
                }
            }
            holding = still_holding;
            if written && holding.is_empty() {
                return;
            }
            if Instant::now() >= deadline {
                tracing::error!(
                    workspaces = holding.len(),
                    "the database is away at shutdown: usage not written or leased calls not handed back"
                );
                return;
            }
            tokio::time::sleep(SHUTDOWN_RETRY).await;
        }
    }

    fn accounts(&self) -> Vec<(WorkspaceId, Arc<Account>)> {
        let accounts = self.inner.accounts.read().expect("quota lock");
        accounts
            .iter()
            .map(|(id, account)| (*id, Arc::clone(account)))
            .collect()
    }
}

fn is_future(at: Option<Instant>) -> bool {
    at.is_some_and(|at| at > Instant::now())
}

#[cfg(test)]
mod tests {
    use lyrebird_store::testing::TestDatabase;

    use super::*;

    async fn leased(store: &Store, workspace: WorkspaceId) -> i64 {
        sqlx::query_scalar("SELECT leased FROM usage WHERE workspace_id = $1")
            .bind(workspace)
            .fetch_one(store.pool())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn leases_double_when_calls_outrun_them() {
        let db = TestDatabase::new().await;
        let workspace = db.sign_up("lease@example.com").await.workspace.id();
        let quotas = Quotas::new(db.store().clone(), 1_000_000, 100);
        // A hundred calls in a row use up the first lease before its refill (asked for when 25
        // were left) could run; the next call waits for a lease, which is twice as large, and so
        // is the refill after it.
        for _ in 0..101 {
            assert!(matches!(
                quotas.admit(workspace).await,
                Admission::Admitted(_)
            ));
        }
        let waiting = Instant::now();
        while leased(db.store(), workspace).await < 500 {
            assert!(
                waiting.elapsed() < Duration::from_secs(5),
                "leased {} calls, not 100 + 200 + 200",
                leased(db.store(), workspace).await
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(leased(db.store(), workspace).await, 500);
    }

    #[tokio::test]
    async fn past_the_lease_held_calls_are_refused_not_kept_waiting_and_what_it_gets_is_kept() {
        let db = TestDatabase::new().await;
        let workspace = db.sign_up("stall@example.com").await.workspace.id();
        let quotas = Quotas::new(db.store().clone(), 1_000_000, 100);
        assert!(matches!(
            quotas.admit(workspace).await,
            Admission::Admitted(_)
        ));
        // A database that does not answer: every lease waits for this row.
        let mut stall = db.store().pool().begin().await.unwrap();
        sqlx::query("SELECT 1 FROM usage WHERE workspace_id = $1 FOR UPDATE")
            .bind(workspace)
            .execute(&mut *stall)
            .await
            .unwrap();
        let calls = async {
            let mut admitted = 0;
            for _ in 0..300 {
                match quotas.admit(workspace).await {
                    Admission::Admitted(_) => admitted += 1,
                    Admission::Unavailable(_) => {}
                    Admission::Exceeded(_) => panic!("the quota is far from spent"),
                }
            }
            admitted
        };
        let admitted = tokio::time::timeout(Duration::from_secs(15), calls)
            .await
            .expect("calls waited for the stalled lease");
        assert_eq!(
            admitted, 99,
            "the rest of the lease held, and not a call more"
        );
        stall.rollback().await.unwrap();
        let waiting = Instant::now();
        while leased(db.store(), workspace).await <= 100 {
            assert!(
                waiting.elapsed() < Duration::from_secs(15),
                "the lease asked for meanwhile was not granted"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(matches!(
            quotas.admit(workspace).await,
            Admission::Admitted(_)
        ));
    }
}

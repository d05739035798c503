//! Monthly usage of mock calls per workspace, and the leases through which serving processes
//! admit calls without a database round trip per call.
//!
//! A process asks for a block of calls ([`Store::lease_calls`]) and admits calls out of it in
//! memory. A lease is granted only as far as the workspace's `leased` total stays within its
//! quota, under a row lock, so all processes together never admit more calls than the quota.
//! Unused calls go back with [`Store::return_calls`] (announced, so a process that found the
//! quota spent looks again). Served calls are added up separately, in batches
//! ([`Store::add_served_calls`]), and are what `GET /api/v1/usage` reports.

use sqlx::FromRow;
use time::{Date, Month, OffsetDateTime, Time};

use crate::Store;
use crate::accounts::Email;
use crate::changes::Change;
use crate::error::{Result, StoreError};
use crate::ids::WorkspaceId;
use crate::workspace::Workspace;

/// A calendar month in UTC, the period of a quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UsageMonth(Date);

impl UsageMonth {
    pub fn of(at: OffsetDateTime) -> Self {
        let date = at.to_offset(time::UtcOffset::UTC).date();
        Self(date.replace_day(1).expect("every month has a first day"))
    }

    pub fn current() -> Self {
        Self::of(OffsetDateTime::now_utc())
    }

    /// The first day, as stored.
    pub fn first_day(self) -> Date {
        self.0
    }

    /// When the next month starts: the moment the quota resets.
    pub fn resets_at(self) -> OffsetDateTime {
        let (year, month) = match self.0.month() {
            Month::December => (self.0.year() + 1, Month::January),
            month => (self.0.year(), month.next()),
        };
        Date::from_calendar_date(year, month, 1)
            .expect("the first of a month is a date")
            .with_time(Time::MIDNIGHT)
            .assume_utc()
    }
}

impl std::fmt::Display for UsageMonth {
    /// `2026-11`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.0.year(), u8::from(self.0.month()))
    }
}

/// What a lease request got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// Calls this process may now admit; 0 when the quota is spent.
    pub granted: u64,
    /// The workspace's leased total after this lease, over all processes.
    pub leased: u64,
    pub quota: u64,
}

/// A workspace's month so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Calls served and written so far (the runtime adds what it has not written yet).
    pub calls: u64,
    pub quota: u64,
}

/// A workspace named on the command line: by its id or by its owner's email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkspaceRef {
    Id(WorkspaceId),
    OwnerEmail(Email),
}

impl std::str::FromStr for WorkspaceRef {
    type Err = String;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        if let Ok(id) = input.trim().parse() {
            return Ok(Self::Id(id));
        }
        Email::parse(input).map(Self::OwnerEmail).map_err(|reason| {
            format!("{input:?} is neither a workspace id nor an account's email ({reason})")
        })
    }
}

#[derive(FromRow)]
struct Leased {
    leased: i64,
    quota: i64,
}

/// Quotas are `u64` in Rust and `bigint` in SQL; nothing near `i64::MAX` is a real quota.
fn to_sql(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn from_sql(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl Store {
    /// Reserves calls of `month` for this process: `size` gets the calls left under the quota
    /// and says how many to take (never more than are left). `NotFound` when the workspace is
    /// gone.
    pub async fn lease_calls(
        &self,
        workspace: WorkspaceId,
        month: UsageMonth,
        default_quota: u64,
        size: impl FnOnce(u64) -> u64,
    ) -> Result<Lease> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO usage (workspace_id, month) SELECT id, $2 FROM workspaces WHERE id = $1
             ON CONFLICT (workspace_id, month) DO NOTHING",
        )
        .bind(workspace)
        .bind(month.first_day())
        .execute(&mut *tx)
        .await?;
        let current: Leased = sqlx::query_as(
            "SELECT u.leased, coalesce(w.monthly_quota, p.monthly_quota, $3) AS quota
             FROM usage u JOIN workspaces w ON w.id = u.workspace_id
             LEFT JOIN plans p ON p.id = w.plan_id
             WHERE u.workspace_id = $1 AND u.month = $2
             FOR UPDATE OF u",
        )
        .bind(workspace)
        .bind(month.first_day())
        .bind(to_sql(default_quota))
        .fetch_one(&mut *tx)
        .await?;
        let (leased, quota) = (from_sql(current.leased), from_sql(current.quota));
        let left = quota.saturating_sub(leased);
        let granted = size(left).min(left);
        if granted > 0 {
            sqlx::query(
                "UPDATE usage SET leased = leased + $3 WHERE workspace_id = $1 AND month = $2",
            )
            .bind(workspace)
            .bind(month.first_day())
            .bind(to_sql(granted))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Lease {
            granted,
            leased: leased + granted,
            quota,
        })
    }

    /// Hands back calls leased but not used, and announces it.
    pub async fn return_calls(
        &self,
        workspace: WorkspaceId,
        month: UsageMonth,
        calls: u64,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE usage SET leased = greatest(leased - $3, 0)
             WHERE workspace_id = $1 AND month = $2",
        )
        .bind(workspace)
        .bind(month.first_day())
        .bind(to_sql(calls))
        .execute(&mut *tx)
        .await?;
        self.commit(tx, Change::CallsReturned(workspace)).await
    }

    /// Asks the other processes to hand back the calls they leased and did not use.
    pub async fn ask_for_calls(&self, workspace: WorkspaceId) -> Result<()> {
        self.announce(Change::CallsWanted(workspace)).await
    }

    /// Adds served calls, one entry per workspace and month, in one statement. Workspaces
    /// deleted meanwhile are skipped.
    pub async fn add_served_calls(&self, served: &[(WorkspaceId, UsageMonth, u64)]) -> Result<()> {
        let workspaces: Vec<uuid::Uuid> = served.iter().map(|(w, ..)| w.as_uuid()).collect();
        let months: Vec<Date> = served.iter().map(|(_, m, _)| m.first_day()).collect();
        let calls: Vec<i64> = served.iter().map(|(.., n)| to_sql(*n)).collect();
        sqlx::query(
            "INSERT INTO usage AS u (workspace_id, month, calls)
             SELECT t.workspace_id, t.month, t.calls
             FROM unnest($1::uuid[], $2::date[], $3::bigint[]) AS t (workspace_id, month, calls)
             JOIN workspaces w ON w.id = t.workspace_id
             ON CONFLICT (workspace_id, month) DO UPDATE SET calls = u.calls + excluded.calls",
        )
        .bind(&workspaces)
        .bind(&months)
        .bind(&calls)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The workspace's served calls of `month` as written so far, and its quota: its own,
    /// else its plan's, else `default_quota`.
    pub async fn usage(
        &self,
        workspace: &Workspace,
        month: UsageMonth,
        default_quota: u64,
    ) -> Result<Usage> {
        let (calls, quota): (i64, i64) = sqlx::query_as(
            "SELECT coalesce(u.calls, 0), coalesce(w.monthly_quota, p.monthly_quota, $3)
             FROM workspaces w LEFT JOIN usage u ON u.workspace_id = w.id AND u.month = $2
             LEFT JOIN plans p ON p.id = w.plan_id
             WHERE w.id = $1",
        )
        .bind(workspace.id())
        .bind(month.first_day())
        .bind(to_sql(default_quota))
        .fetch_one(self.pool())
        .await?;
        Ok(Usage {
            calls: from_sql(calls),
            quota: from_sql(quota),
        })
    }

    /// Sets a workspace's own monthly quota, which beats its plan's (an operator's command;
    /// `None` removes it), announced so that serving processes apply it at once. Returns the
    /// workspace's id.
    pub async fn set_monthly_quota(
        &self,
        workspace: &WorkspaceRef,
        quota: Option<u64>,
    ) -> Result<WorkspaceId> {
        let mut tx = self.begin().await?;
        let query = match workspace {
            WorkspaceRef::Id(id) => sqlx::query_scalar(
                "UPDATE workspaces SET monthly_quota = $2 WHERE id = $1 RETURNING id",
            )
            .bind(*id),
            WorkspaceRef::OwnerEmail(email) => sqlx::query_scalar(
                "UPDATE workspaces SET monthly_quota = $2
                 WHERE personal_of = (SELECT id FROM accounts WHERE email = $1) RETURNING id",
            )
            .bind(email.as_str()),
        };
        let id: WorkspaceId = query
            .bind(quota.map(to_sql))
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        self.commit(tx, Change::QuotaSet(id)).await?;
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_month_resets_at_the_first_of_the_next_in_utc() {
        let november = UsageMonth::of(datetime!(2026-11-30 23:59:59 -01:00));
        assert_eq!(november.to_string(), "2026-12");
        let december = UsageMonth::of(datetime!(2026-12-31 12:00 UTC));
        assert_eq!(december.resets_at(), datetime!(2027-01-01 00:00 UTC));
    }

    #[test]
    fn a_workspace_is_named_by_id_or_owner_email() {
        let id = WorkspaceId::generate();
        assert_eq!(
            id.to_string().parse::<WorkspaceRef>().unwrap(),
            WorkspaceRef::Id(id)
        );
        assert!(matches!(
            " Ann@Example.com ".parse::<WorkspaceRef>().unwrap(),
            WorkspaceRef::OwnerEmail(email) if email.as_str() == "ann@example.com"
        ));
        assert!("nobody".parse::<WorkspaceRef>().is_err());
    }
}

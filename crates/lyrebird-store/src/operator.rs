//! What the server's operators govern: who is an operator, every workspace at a glance,
//! suspension, and plans (named limits a workspace gets).
//!
//! None of this takes a [`crate::Workspace`] handle: an operator is not a member of the
//! workspaces they govern, and the server checks that the caller is an operator (or is the
//! command line) before calling any of it.
//!
//! Every change that serving processes must see is announced: suspending or unsuspending a
//! workspace, or changing its plan, reloads its mocks ([`Change::Mock`], which carry the
//! workspace's terms, [`crate::serving::WorkspaceTerms`]) and its quota ([`Change::QuotaSet`]).

use serde::Serialize;
use sqlx::FromRow;
use sqlx::types::Json;
use time::OffsetDateTime;

use crate::Store;
use crate::accounts::Email;
use crate::changes::Change;
use crate::error::{Result, StoreError};
use crate::ids::{AccountId, MockId, WorkspaceId};
use crate::usage::{UsageMonth, WorkspaceRef};
use crate::workspace::Role;

/// The longest plan name.
pub const MAX_PLAN_NAME_CHARS: usize = 40;

/// A plan name: 1 to [`MAX_PLAN_NAME_CHARS`] lowercase letters, digits, `-` and `_`, starting
/// with a letter or digit (it is typed on the command line).
pub fn plan_name(input: &str) -> Result<&str, String> {
    let name = input.trim();
    let valid = !name.is_empty()
        && name.len() <= MAX_PLAN_NAME_CHARS
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !name.starts_with(['-', '_']);
    if valid {
        Ok(name)
    } else {
        Err(format!(
            "a plan name is 1 to {MAX_PLAN_NAME_CHARS} lowercase letters, digits, - and _, starting with a letter or digit"
        ))
    }
}

/// The limits of a plan; `None` is the server's default for that limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PlanLimits {
    /// Mock calls per calendar month (UTC), unless the workspace has a quota of its own.
    pub monthly_quota: Option<u64>,
    /// Mocks a workspace may hold.
    pub max_mocks: Option<u32>,
    /// Days the call log keeps the workspace's calls (at least 1).
    pub call_retention_days: Option<u32>,
    /// Bytes one state of a mock may hold.
    pub state_max_bytes: Option<u64>,
}

/// A change to some of a plan's limits: `None` leaves a limit as it is, `Some(None)` gives it
/// back to the server's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanChange {
    pub monthly_quota: Option<Option<u64>>,
    pub max_mocks: Option<Option<u32>>,
    pub call_retention_days: Option<Option<u32>>,
    pub state_max_bytes: Option<Option<u64>>,
}

impl PlanChange {
    fn applied_to(self, limits: PlanLimits) -> PlanLimits {
        PlanLimits {
            monthly_quota: self.monthly_quota.unwrap_or(limits.monthly_quota),
            max_mocks: self.max_mocks.unwrap_or(limits.max_mocks),
            call_retention_days: self
                .call_retention_days
                .unwrap_or(limits.call_retention_days),
            state_max_bytes: self.state_max_bytes.unwrap_or(limits.state_max_bytes),
        }
    }
}

/// A plan as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub name: String,
    pub limits: PlanLimits,
    /// Workspaces on this plan.
    pub workspaces: i64,
    /// Whether new workspaces get this plan.
    pub default: bool,
    pub created_at: OffsetDateTime,
}

#[derive(FromRow)]
struct PlanRow {
    name: String,
    monthly_quota: Option<i64>,
    max_mocks: Option<i32>,
    call_retention_days: Option<i32>,
    state_max_bytes: Option<i64>,
    workspaces: i64,
    is_default: bool,
    created_at: OffsetDateTime,
}

impl From<PlanRow> for Plan {
    fn from(row: PlanRow) -> Self {
        let unsigned = |n: i64| u64::try_from(n).unwrap_or(0);
        let small = |n: i32| u32::try_from(n).unwrap_or(0);
        Plan {
            name: row.name,
            limits: PlanLimits {
                monthly_quota: row.monthly_quota.map(unsigned),
                max_mocks: row.max_mocks.map(small),
                call_retention_days: row.call_retention_days.map(small),
                state_max_bytes: row.state_max_bytes.map(unsigned),
            },
            workspaces: row.workspaces,
            default: row.is_default,
            created_at: row.created_at,
        }
    }
}

macro_rules! plan_columns {
    () => {
        "p.name, p.monthly_quota, p.max_mocks, p.call_retention_days, p.state_max_bytes, \
         (SELECT count(*) FROM workspaces w WHERE w.plan_id = p.id) AS workspaces, \
         p.id IS NOT DISTINCT FROM (SELECT default_plan_id FROM operator_settings) AS is_default, \
         p.created_at"
    };
}

/// A member as the operator's list shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct MemberBrief {
    pub email: String,
    pub role: Role,
}

/// A workspace as the operator sees it.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct WorkspaceOverview {
    pub id: WorkspaceId,
    pub name: String,
    /// Whether this is an account's personal workspace.
    pub personal: bool,
    /// Members, owners first.
    pub members: Json<Vec<MemberBrief>>,
    pub mocks: i64,
    /// Mock calls of this month written so far.
    pub calls_this_month: i64,
    /// The workspace's own quota, which beats its plan's.
    pub monthly_quota: Option<i64>,
    pub plan: Option<String>,
    /// The plan's quota, which beats the server's default.
    pub plan_quota: Option<i64>,
    /// The latest call or change of a mock.
    pub last_activity: Option<OffsetDateTime>,
    pub suspended_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

/// A page of the operator's list of workspaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspacePage {
    pub workspaces: Vec<WorkspaceOverview>,
    /// Workspaces matching the search, over all pages.
    pub total: i64,
}

/// The workspaces `w` a search finds: its text (or NULL, for all) is `$N`.
macro_rules! found_by {
    ($n:literal) => {
        concat!(
            "($", $n, "::text IS NULL
              OR strpos(lower(w.name), lower($", $n, ")) > 0
              OR w.id::text = lower($", $n, ")
              OR EXISTS (SELECT 1 FROM workspace_members m JOIN accounts a ON a.id = m.account_id
                         WHERE m.workspace_id = w.id AND strpos(a.email, lower($", $n, ")) > 0))"
        )
    };
}

/// The workspaces of `page` (ids, which the caller's `WITH` chooses), newest first, as the
/// operator sees them; `$1` is the month. Only the page's workspaces are looked into: the
/// subqueries are not run for the rows an `OFFSET` skips.
const OVERVIEW: &str = "SELECT w.id, w.name, w.personal_of IS NOT NULL AS personal,
        coalesce((SELECT jsonb_agg(jsonb_build_object('email', a.email, 'role', m.role)
                   ORDER BY array_position(ARRAY['owner','admin','editor','viewer'], m.role),
                            a.email)
                  FROM workspace_members m JOIN accounts a ON a.id = m.account_id
                  WHERE m.workspace_id = w.id), '[]') AS members,
        (SELECT count(*) FROM mocks x WHERE x.workspace_id = w.id) AS mocks,
        coalesce((SELECT u.calls FROM usage u WHERE u.workspace_id = w.id AND u.month = $1), 0)
            AS calls_this_month,
        w.monthly_quota, p.name AS plan, p.monthly_quota AS plan_quota,
        nullif(greatest(
            (SELECT max(b.last_at) FROM call_blocks b WHERE b.workspace_id = w.id),
            (SELECT max(x.updated_at) FROM mocks x WHERE x.workspace_id = w.id),
            '-infinity'::timestamptz), '-infinity'::timestamptz) AS last_activity,
        w.suspended_at, w.created_at
    FROM page JOIN workspaces w ON w.id = page.id LEFT JOIN plans p ON p.id = w.plan_id
    ORDER BY w.created_at DESC, w.id DESC";

/// The workspace a reference names: `WHERE` conditions on `w` with the reference as `$1`.
fn named(workspace: &WorkspaceRef) -> (&'static str, String) {
    match workspace {
        WorkspaceRef::Id(id) => ("w.id = $1::uuid", id.to_string()),
        WorkspaceRef::OwnerEmail(email) => (
            "w.personal_of = (SELECT id FROM accounts WHERE email = $1)",
            email.as_str().to_owned(),
        ),
    }
}

impl Store {
    /// Makes the account with this email an operator, or no longer one.
    pub async fn set_operator(&self, email: &Email, operator: bool) -> Result<AccountId> {
        sqlx::query_scalar("UPDATE accounts SET operator = $2 WHERE email = $1 RETURNING id")
            .bind(email.as_str())
            .bind(operator)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Whether the account is an operator.
    pub async fn is_operator(&self, account: AccountId) -> Result<bool> {
        Ok(
            sqlx::query_scalar("SELECT operator FROM accounts WHERE id = $1")
                .bind(account)
                .fetch_optional(self.pool())
                .await?
                .unwrap_or(false),
        )
    }

    /// The workspaces whose name, id or member's email contains `search` (all without one),
    /// newest first, `limit` of them after the first `offset`.
    pub async fn operator_workspaces(
        &self,
        search: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<WorkspacePage> {
        let search = search.map(str::trim).filter(|search| !search.is_empty());
        let month = UsageMonth::current().first_day();
        let workspaces = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "WITH page AS (SELECT w.id FROM workspaces w WHERE {}
                           ORDER BY w.created_at DESC, w.id DESC OFFSET $3 LIMIT $4)
             {OVERVIEW}",
            found_by!("2")
        )))
        .bind(month)
        .bind(search)
        .bind(i64::try_from(offset).unwrap_or(i64::MAX))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.pool())
        .await?;
        let total = sqlx::query_scalar(concat!(
            "SELECT count(*) FROM workspaces w WHERE ",
            found_by!("1")
        ))
        .bind(search)
        .fetch_one(self.pool())
        .await?;
        Ok(WorkspacePage { workspaces, total })
    }

    /// One workspace as the operator sees it.
    pub async fn operator_workspace(&self, id: WorkspaceId) -> Result<WorkspaceOverview> {
        sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "WITH page AS (SELECT $2::uuid AS id) {OVERVIEW}"
        )))
        .bind(UsageMonth::current().first_day())
        .bind(id)
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound)
    }

    /// The id of the workspace a reference names.
    pub async fn workspace_id(&self, workspace: &WorkspaceRef) -> Result<WorkspaceId> {
        let (condition, value) = named(workspace);
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT w.id FROM workspaces w WHERE {condition}"
        )))
        .bind(value)
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound)
    }

    /// Suspends the workspace (or lifts its suspension): its mocks are reloaded by every
    /// serving process, and answer 403 while it is suspended.
    pub async fn set_suspended(
        &self,
        workspace: &WorkspaceRef,
        suspended: bool,
    ) -> Result<WorkspaceId> {
        let tx = self.begin().await?;
        let suspension = "suspended_at = CASE WHEN $2 THEN coalesce(suspended_at, now()) END";
        self.change_terms(tx, workspace, suspension, suspended)
            .await
    }

    /// Sets `assignment` (which reads its value as `$2`) on the workspace a reference names,
    /// in `tx`, and announces that its terms changed.
    async fn change_terms<T>(
        &self,
        mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
        workspace: &WorkspaceRef,
        assignment: &str,
        value: T,
    ) -> Result<WorkspaceId>
    where
        T: for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send,
    {
        let (condition, reference) = named(workspace);
        let id: WorkspaceId = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "UPDATE workspaces w SET {assignment} WHERE {condition} RETURNING w.id"
        )))
        .bind(reference)
        .bind(value)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let changes = self.workspace_changes(&mut tx, &[id]).await?;
        self.commit_all(tx, changes).await?;
        Ok(id)
    }

    /// Whether the workspace is suspended (a workspace that is gone is not).
    pub async fn workspace_suspended(&self, id: WorkspaceId) -> Result<bool> {
        Ok(
            sqlx::query_scalar("SELECT suspended_at IS NOT NULL FROM workspaces WHERE id = $1")
                .bind(id)
                .fetch_optional(self.pool())
                .await?
                .unwrap_or(false),
        )
    }

    /// Deletes a team workspace with everything in it. A personal workspace is deleted only
    /// with its account ([`StoreError::PersonalWorkspace`]).
    pub async fn operator_delete_workspace(&self, workspace: &WorkspaceRef) -> Result<WorkspaceId> {
        let id = self.workspace_id(workspace).await?;
        self.delete_team_workspace(id).await?;
        Ok(id)
    }

    /// What serving processes must take in when these workspaces' terms changed: every mock of
    /// theirs reloads, and their quotas.
    async fn workspace_changes(
        &self,
        tx: &mut sqlx::PgConnection,
        workspaces: &[WorkspaceId],
    ) -> Result<Vec<Change>> {
        let ids: Vec<uuid::Uuid> = workspaces.iter().map(WorkspaceId::as_uuid).collect();
        let mocks: Vec<MockId> =
            sqlx::query_scalar("SELECT id FROM mocks WHERE workspace_id = ANY($1)")
                .bind(&ids)
                .fetch_all(tx)
                .await?;
        Ok(workspaces
            .iter()
            .copied()
            .map(Change::QuotaSet)
            .chain(mocks.into_iter().map(Change::Mock))
            .collect())
    }

    /// Every plan, by name.
    pub async fn plans(&self) -> Result<Vec<Plan>> {
        let rows: Vec<PlanRow> = sqlx::query_as(concat!(
            "SELECT ",
            plan_columns!(),
            " FROM plans p ORDER BY p.name"
        ))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(Plan::from).collect())
    }

    /// The plan with this name.
    pub async fn plan(&self, name: &str) -> Result<Plan> {
        let row: PlanRow = sqlx::query_as(concat!(
            "SELECT ",
            plan_columns!(),
            " FROM plans p WHERE p.name = $1"
        ))
        .bind(name)
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(row.into())
    }

    /// Creates a plan ([`StoreError::PlanExists`] when the name is taken).
    pub async fn create_plan(&self, name: &str, limits: PlanLimits) -> Result<Plan> {
        let inserted = sqlx::query(
            "INSERT INTO plans (name, monthly_quota, max_mocks, call_retention_days, state_max_bytes)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(name)
        .bind(limits.monthly_quota.map(to_bigint))
        .bind(limits.max_mocks.map(to_integer))
        .bind(limits.call_retention_days.map(to_integer))
        .bind(limits.state_max_bytes.map(to_bigint))
        .execute(self.pool())
        .await;
        match inserted {
            Err(sqlx::Error::Database(db)) if db.constraint() == Some("plans_name_key") => {
                return Err(StoreError::PlanExists);
            }
            other => other?,
        };
        self.plan(name).await
    }

    /// Changes some of a plan's limits; the workspaces on it take them in at once.
    pub async fn update_plan(&self, name: &str, change: PlanChange) -> Result<Plan> {
        let current = self.plan(name).await?;
        let limits = change.applied_to(current.limits);
        let mut tx = self.begin().await?;
        let updated = sqlx::query(
            "UPDATE plans SET monthly_quota = $2, max_mocks = $3, call_retention_days = $4,
                              state_max_bytes = $5
             WHERE name = $1",
        )
        .bind(name)
        .bind(limits.monthly_quota.map(to_bigint))
        .bind(limits.max_mocks.map(to_integer))
        .bind(limits.call_retention_days.map(to_integer))
        .bind(limits.state_max_bytes.map(to_bigint))
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let workspaces: Vec<WorkspaceId> = sqlx::query_scalar(
            "SELECT w.id FROM workspaces w JOIN plans p ON p.id = w.plan_id WHERE p.name = $1",
        )
        .bind(name)
        .fetch_all(&mut *tx)
        .await?;
        let changes = self.workspace_changes(&mut tx, &workspaces).await?;
        self.commit_all(tx, changes).await?;
        self.plan(name).await
    }

    /// Deletes a plan no workspace is on ([`StoreError::PlanInUse`] otherwise). When it was
    /// the default, new workspaces get no plan.
    pub async fn delete_plan(&self, name: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        // Locked first: a workspace put on the plan meanwhile (which shares the lock) waits.
        let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM plans WHERE name = $1 FOR UPDATE")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
        let in_use: i64 = sqlx::query_scalar("SELECT count(*) FROM workspaces WHERE plan_id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        if in_use > 0 {
            return Err(StoreError::PlanInUse { workspaces: in_use });
        }
        sqlx::query("DELETE FROM plans WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Puts the workspace on the plan (`None`: on no plan, the server's defaults).
    pub async fn assign_plan(
        &self,
        workspace: &WorkspaceRef,
        plan: Option<&str>,
    ) -> Result<WorkspaceId> {
        let mut tx = self.begin().await?;
        let plan_id: Option<uuid::Uuid> = match plan {
            Some(name) => Some(
                sqlx::query_scalar("SELECT id FROM plans WHERE name = $1 FOR SHARE")
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or(StoreError::NotFound)?,
            ),
            None => None,
        };
        self.change_terms(tx, workspace, "plan_id = $2", plan_id)
            .await
    }

    /// Makes new workspaces get this plan (`None`: no plan).
    pub async fn set_default_plan(&self, plan: Option<&str>) -> Result<()> {
        let updated = sqlx::query(
            "UPDATE operator_settings SET default_plan_id = p.id
             FROM (SELECT (SELECT id FROM plans WHERE name = $1) AS id) p
             WHERE $1::text IS NULL OR p.id IS NOT NULL",
        )
        .bind(plan)
        .execute(self.pool())
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

fn to_bigint(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn to_integer(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_names_are_typed_on_a_command_line() {
        assert_eq!(plan_name(" pro-2 "), Ok("pro-2"));
        for bad in ["", "Pro", "-x", "with space", &"x".repeat(41)] {
            assert!(plan_name(bad).is_err(), "{bad:?}");
        }
    }
}

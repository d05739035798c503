//! Workspaces shared by several accounts: which workspaces an account belongs to and with what
//! role, the members of a workspace, their roles, and the workspaces themselves.
//!
//! The rules every change keeps, whoever asks: a workspace always has an owner; an admin
//! manages members but not owners (nor makes anyone an owner); a personal workspace has its
//! account as its only owner and is deleted only with the account. Changes to one workspace's
//! members are serialised by locking its row, so two owners demoting each other at once cannot
//! leave it without one.

use sqlx::{FromRow, PgConnection};
use time::OffsetDateTime;

use crate::Store;
use crate::changes::Change;
use crate::error::{Result, StoreError};
use crate::ids::{AccountId, KeyId, MockId, WorkspaceId};
use crate::secret::Secret;
use crate::workspace::{Role, Workspace};

/// The longest workspace name.
pub const MAX_WORKSPACE_NAME_CHARS: usize = 100;

/// A workspace an account belongs to, as the workspace switcher lists it.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Membership {
    pub id: WorkspaceId,
    pub name: String,
    pub role: Role,
    /// Whether this is the account's own personal workspace.
    pub personal: bool,
    pub members: i64,
    pub created_at: OffsetDateTime,
}

/// A member of a workspace.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Member {
    pub account_id: AccountId,
    pub email: String,
    pub role: Role,
    /// When they joined.
    pub created_at: OffsetDateTime,
}

/// Adds `account` to `workspace` with `role`, inside the caller's transaction (sign-up, a new
/// workspace and an accepted invitation add members). A member already there keeps the
/// stronger of the two roles.
pub(crate) async fn insert_member(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    account: AccountId,
    role: Role,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO workspace_members (workspace_id, account_id, role) VALUES ($1, $2, $3)
         ON CONFLICT (workspace_id, account_id) DO UPDATE SET role = CASE
             WHEN array_position(ARRAY['viewer','editor','admin','owner'], EXCLUDED.role)
                > array_position(ARRAY['viewer','editor','admin','owner'], workspace_members.role)
             THEN EXCLUDED.role ELSE workspace_members.role END",
    )
    .bind(workspace)
    .bind(account)
    .bind(role)
    .execute(conn)
    .await?;
    Ok(())
}

/// A workspace name: trimmed, not empty, at most [`MAX_WORKSPACE_NAME_CHARS`].
pub fn workspace_name(input: &str) -> Result<&str, String> {
    let name = input.trim();
    if name.is_empty() {
        return Err("a workspace needs a name".into());
    }
    if name.chars().count() > MAX_WORKSPACE_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(format!(
            "a workspace name has at most {MAX_WORKSPACE_NAME_CHARS} characters and no control characters"
        ));
    }
    Ok(name)
}

impl Store {
    /// The workspaces `account` belongs to, its personal one first, then by name.
    pub async fn workspaces_of(&self, account: AccountId) -> Result<Vec<Membership>> {
        Ok(sqlx::query_as(
            "SELECT w.id, w.name, m.role, w.personal_of IS NOT DISTINCT FROM m.account_id AS personal,
                    (SELECT count(*) FROM workspace_members x WHERE x.workspace_id = w.id) AS members,
                    w.created_at
             FROM workspace_members m JOIN workspaces w ON w.id = m.workspace_id
             WHERE m.account_id = $1
             ORDER BY personal DESC, lower(w.name), w.created_at",
        )
        .bind(account)
        .fetch_all(self.pool())
        .await?)
    }

    /// The workspace the caller acts in, as [`Store::workspaces_of`] lists it.
    pub async fn membership(&self, workspace: &Workspace) -> Result<Membership> {
        self.workspaces_of(workspace.member())
            .await?
            .into_iter()
            .find(|membership| membership.id == workspace.id())
            .ok_or(StoreError::NotFound)
    }

    /// A new team workspace with `account` as its owner.
    pub async fn create_workspace(&self, account: AccountId, name: &str) -> Result<Membership> {
        let id = WorkspaceId::generate();
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO workspaces (id, name) VALUES ($1, $2)")
            .bind(id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        insert_member(&mut tx, id, account, Role::Owner).await?;
        tx.commit().await?;
        self.workspaces_of(account)
            .await?
            .into_iter()
            .find(|membership| membership.id == id)
            .ok_or(StoreError::NotFound)
    }

    /// Makes `workspace` the one the session acts in from its next request. A workspace the
    /// session's account is not a member of is not found.
    pub async fn switch_workspace(&self, session: &Secret, workspace: WorkspaceId) -> Result<()> {
        sqlx::query(
            "UPDATE sessions s SET workspace_id = $2
             FROM workspace_members m
             WHERE s.digest = $1 AND m.workspace_id = $2 AND m.account_id = s.account_id",
        )
        .bind(session.digest())
        .bind(workspace)
        .execute(self.pool())
        .await?
        .rows_affected()
        .eq(&1)
        .then_some(())
        .ok_or(StoreError::NotFound)
    }

    /// Renames the workspace.
    pub async fn rename_workspace(&self, workspace: &Workspace, name: &str) -> Result<()> {
        sqlx::query("UPDATE workspaces SET name = $2 WHERE id = $1")
            .bind(workspace.id())
            .bind(name)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// The members of the workspace, owners first, then by email.
    pub async fn members(&self, workspace: &Workspace) -> Result<Vec<Member>> {
        Ok(sqlx::query_as(
            "SELECT m.account_id, a.email, m.role, m.created_at
             FROM workspace_members m JOIN accounts a ON a.id = m.account_id
             WHERE m.workspace_id = $1
             ORDER BY array_position(ARRAY['owner','admin','editor','viewer'], m.role), a.email",
        )
        .bind(workspace.id())
        .fetch_all(self.pool())
        .await?)
    }

    /// Gives a member another role. Only an owner touches owners (making one, or changing
    /// one's role); the last owner keeps the role.
    pub async fn set_member_role(
        &self,
        workspace: &Workspace,
        account: AccountId,
        role: Role,
    ) -> Result<Member> {
        let mut tx = self.begin().await?;
        let (current, personal, caller) = lock_member(&mut tx, workspace, account).await?;
        if role == current {
            tx.rollback().await?;
            return self.member(workspace, account).await;
        }
        if (role == Role::Owner || current == Role::Owner) && caller < Role::Owner {
            return Err(StoreError::OwnerRequired);
        }
        if role == Role::Owner && personal {
            return Err(StoreError::PersonalWorkspace);
        }
        if current == Role::Owner {
            refuse_last_owner(&mut tx, workspace.id(), personal).await?;
        }
        sqlx::query(
            "UPDATE workspace_members SET role = $3 WHERE workspace_id = $1 AND account_id = $2",
        )
        .bind(workspace.id())
        .bind(account)
        .bind(role)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.member(workspace, account).await
    }

    /// Removes a member, answering who they were: their keys stop working in this workspace at once, and their sessions
    /// there go back to their personal workspace. Only an owner removes an owner; the last
    /// owner cannot be removed (nor leave). Anyone may remove themselves ([`Store::leave`]).
    pub async fn remove_member(&self, workspace: &Workspace, account: AccountId) -> Result<Member> {
        let removed = self.member(workspace, account).await?;
        let mut tx = self.begin().await?;
        let (current, personal, caller) = lock_member(&mut tx, workspace, account).await?;
        let leaving = account == workspace.member();
        if current == Role::Owner && !leaving && caller < Role::Owner {
            return Err(StoreError::OwnerRequired);
        }
        if current == Role::Owner {
            refuse_last_owner(&mut tx, workspace.id(), personal).await?;
        }
        sqlx::query("DELETE FROM workspace_members WHERE workspace_id = $1 AND account_id = $2")
            .bind(workspace.id())
            .bind(account)
            .execute(&mut *tx)
            .await?;
        let keys: Vec<KeyId> = sqlx::query_scalar(
            "SELECT id FROM api_keys
             WHERE workspace_id = $1 AND account_id = $2 AND revoked_at IS NULL",
        )
        .bind(workspace.id())
        .bind(account)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let revoked = keys.into_iter().map(|key| Change::KeyRevoked {
            workspace: workspace.id(),
            key,
        });
        self.announce_all(revoked.collect()).await?;
        Ok(removed)
    }

    /// The caller leaves the workspace (not their personal one, and not as its last owner).
    pub async fn leave(&self, workspace: &Workspace) -> Result<()> {
        self.remove_member(workspace, workspace.member())
            .await
            .map(drop)
    }

    /// Deletes a team workspace and everything in it: mocks, examples, keys, call logs
    /// ([`delete_workspaces`]). Only an owner may; a personal workspace goes only with its
    /// account.
    pub async fn delete_workspace(&self, workspace: &Workspace) -> Result<()> {
        if workspace.role() < Role::Owner {
            return Err(StoreError::OwnerRequired);
        }
        self.delete_team_workspace(workspace.id()).await
    }

    /// Deletes a team workspace, announcing its mocks and keys gone (an owner's wish, or an
    /// operator's).
    pub(crate) async fn delete_team_workspace(&self, id: WorkspaceId) -> Result<()> {
        let mut tx = self.begin().await?;
        let personal: bool = sqlx::query_scalar(
            "SELECT personal_of IS NOT NULL FROM workspaces WHERE id = $1 FOR UPDATE",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        if personal {
            return Err(StoreError::PersonalWorkspace);
        }
        let changes = delete_workspaces(&mut tx, &[id]).await?;
        tx.commit().await?;
        self.announce_all(changes).await
    }

    async fn member(&self, workspace: &Workspace, account: AccountId) -> Result<Member> {
        self.members(workspace)
            .await?
            .into_iter()
            .find(|member| member.account_id == account)
            .ok_or(StoreError::NotFound)
    }
}

/// Deletes `workspaces` and everything in them inside the caller's transaction: the rows that
/// reference a workspace or its mocks go with it (mocks, examples, versions, state, keys,
/// usage, memberships, drift reports), and the call log's blocks and their callbacks, which
/// reference nothing, are deleted here. Returns what serving processes must hear once the
/// transaction is committed ([`Store::announce_all`]): every mock gone and every key revoked.
pub(crate) async fn delete_workspaces(
    conn: &mut PgConnection,
    workspaces: &[WorkspaceId],
) -> Result<Vec<Change>> {
    let mocks: Vec<MockId> =
        sqlx::query_scalar("SELECT id FROM mocks WHERE workspace_id = ANY($1)")
            .bind(workspaces)
            .fetch_all(&mut *conn)
            .await?;
    let keys: Vec<(WorkspaceId, KeyId)> = sqlx::query_as(
        "SELECT workspace_id, id FROM api_keys
         WHERE workspace_id = ANY($1) AND revoked_at IS NULL",
    )
    .bind(workspaces)
    .fetch_all(&mut *conn)
    .await?;
    sqlx::query(
        "WITH blocks AS (
             DELETE FROM call_blocks WHERE workspace_id = ANY($1) RETURNING call_ids
         )
         DELETE FROM call_callbacks WHERE call_id IN (SELECT unnest(call_ids) FROM blocks)",
    )
    .bind(workspaces)
    .execute(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM workspaces WHERE id = ANY($1)")
        .bind(workspaces)
        .execute(&mut *conn)
        .await?;
    let revoked = keys
        .into_iter()
        .map(|(workspace, key)| Change::KeyRevoked { workspace, key });
    Ok(mocks.into_iter().map(Change::Mock).chain(revoked).collect())
}

/// Locks the workspace's members against concurrent changes and reads `account`'s role there,
/// whether the workspace is someone's personal one, and the caller's role as it is now, under
/// the lock (a member demoted while their request ran acts with the new role; a key keeps its
/// ceiling). A caller below admin acting on anyone but themselves is refused; an account that
/// is not a member is not found.
async fn lock_member(
    conn: &mut PgConnection,
    workspace: &Workspace,
    account: AccountId,
) -> Result<(Role, bool, Role)> {
    let (role, personal): (Role, bool) = sqlx::query_as(
        "SELECT m.role, w.personal_of IS NOT NULL
         FROM workspaces w JOIN workspace_members m ON m.workspace_id = w.id
         WHERE w.id = $1 AND m.account_id = $2
         FOR UPDATE OF w",
    )
    .bind(workspace.id())
    .bind(account)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StoreError::NotFound)?;
    let caller: Option<Role> = sqlx::query_scalar(
        "SELECT role FROM workspace_members WHERE workspace_id = $1 AND account_id = $2",
    )
    .bind(workspace.id())
    .bind(workspace.member())
    .fetch_optional(&mut *conn)
    .await?;
    let caller = caller.ok_or(StoreError::NotFound)?.min(workspace.role());
    if caller < Role::Admin && account != workspace.member() {
        return Err(StoreError::AdminRequired);
    }
    Ok((role, personal, caller))
}

/// [`StoreError::LastOwner`] unless the workspace has another owner; a personal workspace's
/// owner is always its only one.
async fn refuse_last_owner(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    personal: bool,
) -> Result<()> {
    let owners: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM workspace_members WHERE workspace_id = $1 AND role = 'owner'",
    )
    .bind(workspace)
    .fetch_one(conn)
    .await?;
    if owners <= 1 || personal {
        return Err(StoreError::LastOwner);
    }
    Ok(())
}

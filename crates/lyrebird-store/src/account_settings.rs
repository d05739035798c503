//! An account's own settings: its password, its sessions, and deleting it.
//!
//! Each of these acts on one account, named by the caller (the signed-in person, or the member a
//! key acts for), never on a workspace. Checking a password costs an Argon2 verification on the
//! hashing threads ([`crate::accounts`]), as logging in does; the server counts a wrong one
//! against the same login throttle.

use sqlx::{FromRow, PgConnection};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Store;
use crate::accounts::{NewPassword, hash_password, verify_password};
use crate::changes::Change;
use crate::error::{Result, StoreError};
use crate::ids::{AccountId, KeyId, WorkspaceId};
use crate::members::delete_workspaces;
use crate::secret::Secret;

/// An account as its settings page shows it.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct AccountSummary {
    pub id: AccountId,
    pub email: String,
    pub created_at: OffsetDateTime,
    /// Whether the account governs every workspace of the server.
    pub operator: bool,
}

/// A live session of an account, as its owner sees it (never its token).
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct SessionSummary {
    pub id: Uuid,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    /// The client's address when it was opened.
    pub address: Option<String>,
    pub user_agent: Option<String>,
    /// Whether this is the session asking.
    pub current: bool,
}

/// What deleting an account removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeletedAccount {
    /// Its personal workspace and the team workspaces it was the only owner of.
    pub workspaces: Vec<WorkspaceId>,
    /// The team workspaces it left, which other owners keep.
    pub left: Vec<WorkspaceId>,
}

impl Store {
    /// The account, with its operator flag.
    pub async fn account_summary(&self, account: AccountId) -> Result<AccountSummary> {
        sqlx::query_as("SELECT id, email, created_at, operator FROM accounts WHERE id = $1")
            .bind(account)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Whether `password` is the account's. Takes as long as a log-in's check.
    pub async fn check_password(&self, account: AccountId, password: Secret) -> Result<bool> {
        let stored: String = sqlx::query_scalar("SELECT password_hash FROM accounts WHERE id = $1")
            .bind(account)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        verify_password(password, stored).await
    }

    /// Replaces the account's password when `current` is right (`None` when it is not, and
    /// nothing changes), and ends every session of the account but `keep` (the one asking, if
    /// it is a session). Returns how many sessions ended.
    pub async fn change_password(
        &self,
        account: AccountId,
        current: Secret,
        new: NewPassword,
        keep: Option<&Secret>,
    ) -> Result<Option<u64>> {
        if !self.check_password(account, current).await? {
            return Ok(None);
        }
        let hash = hash_password(new).await?;
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE accounts SET password_hash = $2 WHERE id = $1")
            .bind(account)
            .bind(hash)
            .execute(&mut *tx)
            .await?;
        let ended = end_sessions_but(&mut tx, account, keep).await?;
        tx.commit().await?;
        Ok(Some(ended))
    }

    /// The account's sessions that have not expired, newest first; `current` marks the one
    /// whose token is `asking`.
    pub async fn sessions_of(
        &self,
        account: AccountId,
        asking: Option<&Secret>,
    ) -> Result<Vec<SessionSummary>> {
        Ok(sqlx::query_as(
            "SELECT id, created_at, expires_at, address, user_agent,
                    digest IS NOT DISTINCT FROM $2 AS current
             FROM sessions
             WHERE account_id = $1 AND expires_at > now()
             ORDER BY created_at DESC, id",
        )
        .bind(account)
        .bind(asking.map(Secret::digest))
        .fetch_all(self.pool())
        .await?)
    }

    /// Ends one of the account's sessions; another account's, or one that does not exist, is
    /// not found.
    pub async fn end_session(&self, account: AccountId, id: Uuid) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE account_id = $1 AND id = $2")
            .bind(account)
            .bind(id)
            .execute(self.pool())
            .await?
            .rows_affected()
            .eq(&1)
            .then_some(())
            .ok_or(StoreError::NotFound)
    }

    /// Ends every session of the account but `keep`; returns how many ended.
    pub async fn end_other_sessions(
        &self,
        account: AccountId,
        keep: Option<&Secret>,
    ) -> Result<u64> {
        let mut conn = self.pool().acquire().await?;
        end_sessions_but(&mut conn, account, keep).await
    }

    /// The workspaces that deleting the account would delete with it, as things are now: its
    /// personal one and every one it is the only owner of.
    pub async fn workspaces_deleted_with(&self, account: AccountId) -> Result<Vec<WorkspaceId>> {
        deleted_with(&mut *self.pool().acquire().await?, account).await
    }

    /// Deletes the account when `password` is its own (`None` when it is not, and nothing
    /// changes): its personal workspace and every workspace it is the only owner of, with all
    /// they hold ([`delete_workspaces`]), its memberships elsewhere, its keys and its sessions.
    /// A workspace with another owner keeps all its data. Serving processes hear of every mock
    /// and key that went.
    pub async fn delete_account(
        &self,
        account: AccountId,
        password: Secret,
    ) -> Result<Option<DeletedAccount>> {
        if !self.check_password(account, password).await? {
            return Ok(None);
        }
        let mut tx = self.begin().await?;
        // The workspaces it belongs to, locked in one order as member changes lock them, so an
        // owner demoted or deleted at the same time is seen before deciding who owns what.
        let memberships: Vec<WorkspaceId> = sqlx::query_scalar(
            "SELECT w.id FROM workspaces w JOIN workspace_members m ON m.workspace_id = w.id
             WHERE m.account_id = $1
             ORDER BY w.id
             FOR UPDATE OF w",
        )
        .bind(account)
        .fetch_all(&mut *tx)
        .await?;
        // Read once the locks are held, so the owners seen are the ones now.
        let sole = deleted_with(&mut tx, account).await?;
        let left: Vec<WorkspaceId> = memberships
            .into_iter()
            .filter(|id| !sole.contains(id))
            .collect();
        let mut changes = delete_workspaces(&mut tx, &sole).await?;
        // Its keys in the workspaces that stay go with the account (`ON DELETE CASCADE`).
        let keys: Vec<(WorkspaceId, KeyId)> = sqlx::query_as(
            "SELECT workspace_id, id FROM api_keys WHERE account_id = $1 AND revoked_at IS NULL",
        )
        .bind(account)
        .fetch_all(&mut *tx)
        .await?;
        changes.extend(
            keys.into_iter()
                .map(|(workspace, key)| Change::KeyRevoked { workspace, key }),
        );
        sqlx::query("DELETE FROM accounts WHERE id = $1")
            .bind(account)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.announce_all(changes).await?;
        Ok(Some(DeletedAccount {
            workspaces: sole,
            left,
        }))
    }
}

/// The workspaces that go with the account: its personal one and those it is the only owner of.
async fn deleted_with(conn: &mut PgConnection, account: AccountId) -> Result<Vec<WorkspaceId>> {
    Ok(sqlx::query_scalar(
        "SELECT w.id FROM workspaces w JOIN workspace_members m ON m.workspace_id = w.id
         WHERE m.account_id = $1 AND (w.personal_of = $1 OR (m.role = 'owner' AND NOT EXISTS (
             SELECT 1 FROM workspace_members o
             WHERE o.workspace_id = w.id AND o.role = 'owner' AND o.account_id <> $1)))
         ORDER BY w.id",
    )
    .bind(account)
    .fetch_all(conn)
    .await?)
}

/// Deletes the account's sessions but `keep`; returns how many.
async fn end_sessions_but(
    conn: &mut PgConnection,
    account: AccountId,
    keep: Option<&Secret>,
) -> Result<u64> {
    Ok(
        sqlx::query("DELETE FROM sessions WHERE account_id = $1 AND digest IS DISTINCT FROM $2")
            .bind(account)
            .bind(keep.map(Secret::digest))
            .execute(conn)
            .await?
            .rows_affected(),
    )
}

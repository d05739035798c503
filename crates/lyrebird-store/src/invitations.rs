//! Invitations to join a workspace: made by an admin for an email and a role, accepted once,
//! before they expire, by the account with that email.
//!
//! An invitation is a link with a random token; only the token's SHA-256 digest is stored, so
//! the link is shown to the inviter once (and mailed, when the server can). Who may invite
//! follows the members' rules ([`crate::members`]): an admin invites admins, editors and
//! viewers, only an owner invites an owner, and a personal workspace gets no other owner.
//! Inviting an email again replaces its pending invitation.

use sqlx::FromRow;
use time::{Duration, OffsetDateTime};

use crate::Store;
use crate::accounts::Email;
use crate::error::{Gone, Result, StoreError};
use crate::ids::{AccountId, InvitationId, WorkspaceId};
use crate::members::{Membership, insert_member};
use crate::secret::{Secret, random_token};
use crate::workspace::{Role, Workspace};

/// Every invitation token starts with this.
pub const INVITATION_PREFIX: &str = "lbi_";
/// Random base62 characters after the prefix: about 238 bits.
const TOKEN_RANDOM_CHARS: usize = 40;

/// A pending invitation, as its workspace's admins list it.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Invitation {
    pub id: InvitationId,
    pub email: String,
    pub role: Role,
    /// The email of the member who invited; `None` once their account is gone.
    pub invited_by: Option<String>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

macro_rules! invitation_columns {
    () => {
        "i.id, i.email, i.role, a.email AS invited_by, i.created_at, i.expires_at"
    };
}

/// What an invitation's link shows whoever has it: where it leads and for whom.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct InvitationDetails {
    pub workspace_id: WorkspaceId,
    pub workspace_name: String,
    pub email: String,
    pub role: Role,
    pub invited_by: Option<String>,
    pub expires_at: OffsetDateTime,
}

/// An invitation's row as accepting reads it.
#[derive(FromRow)]
struct Pending {
    id: InvitationId,
    workspace_id: WorkspaceId,
    email: String,
    role: Role,
    expires_at: OffsetDateTime,
    revoked_at: Option<OffsetDateTime>,
    accepted_at: Option<OffsetDateTime>,
}

impl Pending {
    /// Why it can no longer be used, if it cannot.
    fn gone(&self, now: OffsetDateTime) -> Option<Gone> {
        if self.accepted_at.is_some() {
            Some(Gone::Used)
        } else if self.revoked_at.is_some() {
            Some(Gone::Revoked)
        } else if self.expires_at <= now {
            Some(Gone::Expired)
        } else {
            None
        }
    }
}

impl Store {
    /// Invites `email` into the caller's workspace with `role`, for `lifetime`. Returns the
    /// invitation and its token, which is never seen again. A pending invitation of the same
    /// email is revoked; an email that is a member already is [`StoreError::AlreadyMember`].
    pub async fn invite(
        &self,
        workspace: &Workspace,
        email: &Email,
        role: Role,
        lifetime: Duration,
    ) -> Result<(Invitation, Secret)> {
        if workspace.role() < Role::Admin {
            return Err(StoreError::AdminRequired);
        }
        if role == Role::Owner && workspace.role() < Role::Owner {
            return Err(StoreError::OwnerRequired);
        }
        let mut tx = self.begin().await?;
        let (personal, member): (bool, bool) = sqlx::query_as(
            "SELECT w.personal_of IS NOT NULL,
                    EXISTS (SELECT 1 FROM workspace_members m JOIN accounts a ON a.id = m.account_id
                            WHERE m.workspace_id = w.id AND a.email = $2)
             FROM workspaces w WHERE w.id = $1 FOR UPDATE",
        )
        .bind(workspace.id())
        .bind(email.as_str())
        .fetch_one(&mut *tx)
        .await?;
        if role == Role::Owner && personal {
            return Err(StoreError::PersonalWorkspace);
        }
        if member {
            return Err(StoreError::AlreadyMember {
                email: email.as_str().to_owned(),
            });
        }
        sqlx::query(
            "UPDATE invitations SET revoked_at = now()
             WHERE workspace_id = $1 AND email = $2 AND revoked_at IS NULL AND accepted_at IS NULL",
        )
        .bind(workspace.id())
        .bind(email.as_str())
        .execute(&mut *tx)
        .await?;
        let token = random_token(INVITATION_PREFIX, TOKEN_RANDOM_CHARS);
        let id = InvitationId::generate();
        sqlx::query(
            "INSERT INTO invitations (id, workspace_id, email, role, digest, invited_by, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(workspace.id())
        .bind(email.as_str())
        .bind(role)
        .bind(token.digest())
        .bind(workspace.member())
        .bind(OffsetDateTime::now_utc() + lifetime)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        let invitation = self
            .invitations(workspace)
            .await?
            .into_iter()
            .find(|invitation| invitation.id == id)
            .ok_or(StoreError::NotFound)?;
        Ok((invitation, token))
    }

    /// The workspace's pending invitations (neither accepted, revoked nor expired), newest
    /// first.
    pub async fn invitations(&self, workspace: &Workspace) -> Result<Vec<Invitation>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            invitation_columns!(),
            " FROM invitations i LEFT JOIN accounts a ON a.id = i.invited_by
             WHERE i.workspace_id = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL
               AND i.expires_at > now()
             ORDER BY i.created_at DESC"
        ))
        .bind(workspace.id())
        .fetch_all(self.pool())
        .await?)
    }

    /// Revokes one of the workspace's invitations; its link stops working at once. Revoking
    /// one that was revoked or has expired changes nothing and is no error; another
    /// workspace's is not found; one that was accepted is [`StoreError::InvitationGone`] (the
    /// member is removed instead).
    pub async fn revoke_invitation(&self, workspace: &Workspace, id: InvitationId) -> Result<()> {
        if workspace.role() < Role::Admin {
            return Err(StoreError::AdminRequired);
        }
        let revoked = sqlx::query(
            "UPDATE invitations SET revoked_at = coalesce(revoked_at, now())
             WHERE id = $1 AND workspace_id = $2 AND accepted_at IS NULL",
        )
        .bind(id)
        .bind(workspace.id())
        .execute(self.pool())
        .await?;
        if revoked.rows_affected() == 1 {
            return Ok(());
        }
        let accepted: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM invitations WHERE id = $1 AND workspace_id = $2)",
        )
        .bind(id)
        .bind(workspace.id())
        .fetch_one(self.pool())
        .await?;
        Err(match accepted {
            true => StoreError::InvitationGone(Gone::Used),
            false => StoreError::NotFound,
        })
    }

    /// What the invitation behind `token` is, for its page. An unknown token is not found; one
    /// that can no longer be accepted is [`StoreError::InvitationGone`].
    pub async fn invitation(&self, token: &Secret) -> Result<InvitationDetails> {
        let pending = find_pending(self.pool(), token, false).await?;
        if let Some(gone) = pending.gone(OffsetDateTime::now_utc()) {
            return Err(StoreError::InvitationGone(gone));
        }
        Ok(sqlx::query_as(
            "SELECT w.id AS workspace_id, w.name AS workspace_name, i.email, i.role,
                    a.email AS invited_by, i.expires_at
             FROM invitations i JOIN workspaces w ON w.id = i.workspace_id
             LEFT JOIN accounts a ON a.id = i.invited_by
             WHERE i.id = $1",
        )
        .bind(pending.id)
        .fetch_one(self.pool())
        .await?)
    }

    /// Accepts the invitation behind `token` as `account`, whose email must be the invited one
    /// (in any case): the account joins the workspace with the invited role (a member already
    /// keeps the stronger of the two), the invitation is used up, and `session`, when given,
    /// acts in the workspace from its next request.
    pub async fn accept_invitation(
        &self,
        token: &Secret,
        account: AccountId,
        session: Option<&Secret>,
    ) -> Result<Membership> {
        let mut tx = self.begin().await?;
        let pending = find_pending(&mut *tx, token, true).await?;
        if let Some(gone) = pending.gone(OffsetDateTime::now_utc()) {
            return Err(StoreError::InvitationGone(gone));
        }
        let email: String = sqlx::query_scalar("SELECT email FROM accounts WHERE id = $1")
            .bind(account)
            .fetch_one(&mut *tx)
            .await?;
        if !email.eq_ignore_ascii_case(&pending.email) {
            return Err(StoreError::WrongInvitee {
                invited: pending.email,
            });
        }
        insert_member(&mut tx, pending.workspace_id, account, pending.role).await?;
        sqlx::query("UPDATE invitations SET accepted_at = now(), accepted_by = $2 WHERE id = $1")
            .bind(pending.id)
            .bind(account)
            .execute(&mut *tx)
            .await?;
        if let Some(session) = session {
            sqlx::query(
                "UPDATE sessions SET workspace_id = $2 WHERE digest = $1 AND account_id = $3",
            )
            .bind(session.digest())
            .bind(pending.workspace_id)
            .bind(account)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.workspaces_of(account)
            .await?
            .into_iter()
            .find(|membership| membership.id == pending.workspace_id)
            .ok_or(StoreError::NotFound)
    }
}

/// The invitation whose token this is, locked for the transaction when `lock`.
async fn find_pending(
    conn: impl sqlx::PgExecutor<'_>,
    token: &Secret,
    lock: bool,
) -> Result<Pending> {
    let query = if lock {
        "SELECT id, workspace_id, email, role, expires_at, revoked_at, accepted_at
         FROM invitations WHERE digest = $1 FOR UPDATE"
    } else {
        "SELECT id, workspace_id, email, role, expires_at, revoked_at, accepted_at
         FROM invitations WHERE digest = $1"
    };
    sqlx::query_as(query)
        .bind(token.digest())
        .fetch_optional(conn)
        .await?
        .ok_or(StoreError::NotFound)
}

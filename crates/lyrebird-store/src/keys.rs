//! API keys: created with a scope, listed by their visible prefix, revoked, and checked on every
//! request by the digest of the presented token.

use sqlx::{FromRow, PgConnection};
use time::OffsetDateTime;

use crate::Store;
use crate::changes::Change;
use crate::error::{Result, StoreError};
use crate::ids::{AccountId, KeyId, WorkspaceId};
use crate::secret::{Secret, random_token};
use crate::workspace::{Actor, Caller, Credential, Role, Scope, Workspace};

/// Every key starts with this, so leaked keys are easy to recognise (and to scan for).
pub const KEY_PREFIX: &str = "lb_";
/// Random base62 characters after the prefix: about 238 bits.
const KEY_RANDOM_CHARS: usize = 40;
/// How much of a key listings show.
const VISIBLE_PREFIX_CHARS: usize = 10;

/// A key as listings show it: never the secret, only its first characters.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct ApiKey {
    pub id: KeyId,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub scope: Scope,
    /// The most an `admin` key may do, whatever its member's role; `None` for a `mock` key.
    pub role: Option<Role>,
    /// The member the key acts for.
    pub account_id: AccountId,
    pub prefix: String,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

macro_rules! key_columns {
    () => {
        "id, name, scope, role, account_id, prefix, created_at, last_used_at, revoked_at"
    };
}

/// Who a live key belongs to, and what its member may do.
#[derive(FromRow)]
struct KeyOwner {
    id: KeyId,
    workspace_id: WorkspaceId,
    account_id: AccountId,
    #[sqlx(try_from = "String")]
    scope: Scope,
    ceiling: Option<Role>,
    member_role: Role,
}

/// What a new key is: its name, its scope, and for an `admin` key the most it may do.
#[derive(Debug, Clone)]
pub struct NewKey<'a> {
    pub name: &'a str,
    pub scope: Scope,
    /// Ignored for a `mock` key; for an `admin` key, `None` is the member's own role.
    pub role: Option<Role>,
}

/// Creates a key of `account` in `workspace` inside the caller's transaction (sign-up makes one
/// too). An `admin` key's ceiling is the one asked for, but never above `member_role`.
pub(crate) async fn insert_key(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    account: AccountId,
    member_role: Role,
    new: &NewKey<'_>,
) -> Result<(ApiKey, Secret)> {
    let role = match new.scope {
        Scope::Admin => Some(new.role.map_or(member_role, |asked| asked.min(member_role))),
        Scope::Mock => None,
    };
    let token = random_token(KEY_PREFIX, KEY_RANDOM_CHARS);
    let key = sqlx::query_as(concat!(
        "INSERT INTO api_keys (id, workspace_id, account_id, name, scope, role, prefix, digest)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         RETURNING ",
        key_columns!()
    ))
    .bind(KeyId::generate())
    .bind(workspace)
    .bind(account)
    .bind(new.name)
    .bind(new.scope.as_str())
    .bind(role)
    .bind(&token.expose()[..VISIBLE_PREFIX_CHARS])
    .bind(token.digest())
    .fetch_one(&mut *conn)
    .await?;
    Ok((key, token))
}

/// Which keys of the workspace (`k`) the caller manages, with `$2` their account and `$3` their
/// role: their own; an admin's also every member's but an owner's; an owner's all.
macro_rules! managed_keys {
    () => {
        "(k.account_id = $2 OR $3 = 'owner' OR ($3 = 'admin' AND NOT EXISTS (
             SELECT 1 FROM workspace_members m
             WHERE m.workspace_id = k.workspace_id AND m.account_id = k.account_id
               AND m.role = 'owner')))"
    };
}

impl Store {
    /// A new key of the member acting in `workspace`, acting for them; the returned secret is the
    /// only copy there will ever be.
    pub async fn create_key(
        &self,
        workspace: &Workspace,
        new: &NewKey<'_>,
    ) -> Result<(ApiKey, Secret)> {
        let mut tx = self.begin().await?;
        let (key, secret) = insert_key(
            &mut tx,
            workspace.id(),
            workspace.member(),
            workspace.role(),
            new,
        )
        .await?;
        let change = Change::KeyCreated {
            workspace: workspace.id(),
            key: key.id,
        };
        self.commit(tx, change).await?;
        Ok((key, secret))
    }

    /// The keys the caller may manage, revoked ones included (with `revoked_at`), oldest first:
    /// their own; an admin's also every other member's but an owner's; an owner's all.
    pub async fn list_keys(&self, workspace: &Workspace) -> Result<Vec<ApiKey>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            key_columns!(),
            " FROM api_keys k WHERE k.workspace_id = $1 AND ",
            managed_keys!(),
            " ORDER BY k.created_at, k.id"
        ))
        .bind(workspace.id())
        .bind(workspace.member())
        .bind(workspace.role())
        .fetch_all(self.pool())
        .await?)
    }

    /// Revokes a key the caller may manage ([`Store::list_keys`]) from the next request on.
    /// Revoking a revoked key changes nothing; another member's key is not found.
    pub async fn revoke_key(&self, workspace: &Workspace, id: KeyId) -> Result<ApiKey> {
        let mut tx = self.begin().await?;
        let key = sqlx::query_as(concat!(
            "UPDATE api_keys k SET revoked_at = coalesce(revoked_at, now())
             WHERE k.id = $4 AND k.workspace_id = $1 AND ",
            managed_keys!(),
            " RETURNING ",
            key_columns!()
        ))
        .bind(workspace.id())
        .bind(workspace.member())
        .bind(workspace.role())
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        let change = Change::KeyRevoked {
            workspace: workspace.id(),
            key: id,
        };
        self.commit(tx, change).await?;
        Ok(key)
    }

    /// The caller presenting `token`, if it is a live key; records the use in the same
    /// statement, so checking a key costs one round trip.
    pub async fn authenticate_key(&self, token: &Secret) -> Result<Option<Caller>> {
        if !token.expose().starts_with(KEY_PREFIX) {
            return Ok(None);
        }
        let owner: Option<KeyOwner> = sqlx::query_as(
            "UPDATE api_keys k SET last_used_at = now()
             FROM workspace_members m
             WHERE k.digest = $1 AND k.revoked_at IS NULL
               AND m.workspace_id = k.workspace_id AND m.account_id = k.account_id
             RETURNING k.id, k.workspace_id, k.account_id, k.scope, k.role AS ceiling,
                       m.role AS member_role",
        )
        .bind(token.digest())
        .fetch_optional(self.pool())
        .await?;
        Ok(owner.map(|owner| {
            let role = owner
                .ceiling
                .map_or(owner.member_role, |ceiling| ceiling.min(owner.member_role));
            Caller {
                workspace: Workspace::granted(
                    owner.workspace_id,
                    Actor::Key(owner.id),
                    owner.account_id,
                    role,
                ),
                credential: Credential::ApiKey {
                    id: owner.id,
                    scope: owner.scope,
                },
            }
        }))
    }
}

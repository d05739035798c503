//! API keys: created with a scope, listed by their visible prefix, revoked, and checked on every
//! request by the digest of the presented token.

use sqlx::{FromRow, PgConnection};
use time::OffsetDateTime;

use crate::Store;
use crate::changes::Change;
use crate::error::{Result, StoreError};
use crate::ids::{KeyId, WorkspaceId};
use crate::secret::{Secret, random_token};
use crate::workspace::{Actor, Caller, Credential, Scope, Workspace};

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
    pub prefix: String,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

macro_rules! key_columns {
    () => {
        "id, name, scope, prefix, created_at, last_used_at, revoked_at"
    };
}

/// Who a live key belongs to.
#[derive(FromRow)]
struct KeyOwner {
    id: KeyId,
    workspace_id: WorkspaceId,
    #[sqlx(try_from = "String")]
    scope: Scope,
}

/// Creates a key in `workspace` inside the caller's transaction (sign-up makes one too).
pub(crate) async fn insert_key(
    conn: &mut PgConnection,
    workspace: WorkspaceId,
    name: &str,
    scope: Scope,
) -> Result<(ApiKey, Secret)> {
    let token = random_token(KEY_PREFIX, KEY_RANDOM_CHARS);
    let key = sqlx::query_as(concat!(
        "INSERT INTO api_keys (id, workspace_id, name, scope, prefix, digest)
         VALUES ($1, $2, $3, $4, $5, $6)
         RETURNING ",
        key_columns!()
    ))
    .bind(KeyId::generate())
    .bind(workspace)
    .bind(name)
    .bind(scope.as_str())
    .bind(&token.expose()[..VISIBLE_PREFIX_CHARS])
    .bind(token.digest())
    .fetch_one(&mut *conn)
    .await?;
    Ok((key, token))
}

impl Store {
    /// A new key; the returned secret is the only copy there will ever be.
    pub async fn create_key(
        &self,
        workspace: &Workspace,
        name: &str,
        scope: Scope,
    ) -> Result<(ApiKey, Secret)> {
        let mut tx = self.begin().await?;
        let (key, secret) = insert_key(&mut tx, workspace.id(), name, scope).await?;
        let change = Change::KeyCreated {
            workspace: workspace.id(),
            key: key.id,
        };
        self.commit(tx, change).await?;
        Ok((key, secret))
    }

    /// The workspace's keys, revoked ones included (with `revoked_at`), oldest first.
    pub async fn list_keys(&self, workspace: &Workspace) -> Result<Vec<ApiKey>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            key_columns!(),
            " FROM api_keys WHERE workspace_id = $1 ORDER BY created_at, id"
        ))
        .bind(workspace.id())
        .fetch_all(self.pool())
        .await?)
    }

    /// Revokes a key from the next request on. Revoking a revoked key changes nothing.
    pub async fn revoke_key(&self, workspace: &Workspace, id: KeyId) -> Result<ApiKey> {
        let mut tx = self.begin().await?;
        let key = sqlx::query_as(concat!(
            "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now())
             WHERE id = $1 AND workspace_id = $2
             RETURNING ",
            key_columns!()
        ))
        .bind(id)
        .bind(workspace.id())
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
            "UPDATE api_keys SET last_used_at = now()
             WHERE digest = $1 AND revoked_at IS NULL
             RETURNING id, workspace_id, scope",
        )
        .bind(token.digest())
        .fetch_optional(self.pool())
        .await?;
        Ok(owner.map(|owner| Caller {
            workspace: Workspace::granted(owner.workspace_id, Actor::Key(owner.id)),
            credential: Credential::ApiKey {
                id: owner.id,
                scope: owner.scope,
            },
        }))
    }
}

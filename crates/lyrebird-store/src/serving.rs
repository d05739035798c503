//! What the mock runtime reads: a mock with its examples by id alone (serving starts from the
//! host name, not from a signed-in workspace), every live API key at once for the in-memory key
//! map (and one key by id, when it is created), and the batched record of keys used on mock
//! calls. Exports and drift checks read a mock as serving does, through its workspace.
//!
//! These functions hand back workspace *ids*, never a [`crate::Workspace`] handle: serving a
//! mock grants no access to the owner's other data.

use std::collections::BTreeMap;

use sqlx::FromRow;
use sqlx::types::Json;

use crate::Store;
use crate::error::{Result, StoreError};
use crate::examples::{StoredExample, example_columns};
use crate::ids::{KeyId, MockId, WorkspaceId};
use crate::mocks::{Mock, mock_columns};
use crate::workspace::{Scope, Workspace};

/// A mock as serving needs it: its settings (which name the owning workspace) and its examples
/// in order.
#[derive(Debug, Clone, PartialEq)]
pub struct ServedMock {
    pub mock: Mock,
    pub examples: Vec<StoredExample>,
    /// The headers added to the requests passed to the mock's upstream, by name, and the
    /// upstream origin they are for (see [`crate::Store::set_upstream_headers`]).
    pub upstream_headers: BTreeMap<String, String>,
    /// The mock's OpenAPI contract, when the calls it receives are checked against it
    /// (see [`crate::Store::set_contract`]).
    pub request_contract: Option<serde_json::Value>,
    /// What the mock's workspace may do now, read with the mock.
    pub terms: WorkspaceTerms,
}

/// What serving a workspace's mocks obeys besides the mock itself: whether an operator
/// suspended the workspace, and the state size its plan allows. A change to either reloads
/// the workspace's mocks ([`crate::operator`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromRow)]
pub struct WorkspaceTerms {
    pub suspended: bool,
    /// Bytes one state of a mock may hold, when the plan sets it.
    pub state_max_bytes: Option<i64>,
}

/// A key that is not revoked, as the runtime's key map holds it.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct LiveKey {
    pub id: KeyId,
    pub workspace_id: WorkspaceId,
    #[sqlx(try_from = "String")]
    pub scope: Scope,
    /// SHA-256 of the key ([`crate::Secret::digest`]).
    pub digest: Vec<u8>,
}

impl Store {
    /// The mock and its examples, read in one repeatable-read transaction so the two agree;
    /// `None` when no mock has this id.
    pub async fn served_mock(&self, id: MockId) -> Result<Option<ServedMock>> {
        let mut tx = self
            .begin_with(Some("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
            .await?;
        let mock: Option<Mock> = sqlx::query_as(concat!(
            "SELECT ",
            mock_columns!(),
            " FROM mocks WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(mock) = mock else {
            return Ok(None);
        };
        let (Json(upstream_headers), request_contract): (_, Option<Json<serde_json::Value>>) =
            sqlx::query_as(
                "SELECT coalesce(upstream_headers -> 'headers', '{}'),
                     (SELECT document FROM mock_contracts WHERE mock_id = $1 AND requests)
                 FROM mocks WHERE id = $1",
            )
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let terms = sqlx::query_as(
            "SELECT w.suspended_at IS NOT NULL AS suspended, p.state_max_bytes
             FROM workspaces w LEFT JOIN plans p ON p.id = w.plan_id WHERE w.id = $1",
        )
        .bind(mock.workspace_id)
        .fetch_one(&mut *tx)
        .await?;
        let examples = sqlx::query_as(concat!(
            "SELECT ",
            example_columns!(),
            " FROM examples e WHERE e.mock_id = $1 ORDER BY e.position"
        ))
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(ServedMock {
            mock,
            examples,
            upstream_headers,
            request_contract: request_contract.map(|Json(document)| document),
            terms,
        }))
    }

    /// The workspace's mock and its examples as serving reads them, in one snapshot, the values
    /// of its upstream's headers included: what an export writes, and what a drift check sends
    /// and compares.
    pub async fn served_mock_in(&self, workspace: &Workspace, id: MockId) -> Result<ServedMock> {
        match self.served_mock(id).await? {
            Some(served) if served.mock.workspace_id == workspace.id() => Ok(served),
            _ => Err(StoreError::NotFound),
        }
    }

    /// Every key that is not revoked, of every workspace, whose member is still one.
    pub async fn live_keys(&self) -> Result<Vec<LiveKey>> {
        Ok(sqlx::query_as(
            "SELECT k.id, k.workspace_id, k.scope, k.digest FROM api_keys k
             JOIN workspace_members m USING (workspace_id, account_id)
             WHERE k.revoked_at IS NULL",
        )
        .fetch_all(self.pool())
        .await?)
    }

    /// The key with this id, if it is not revoked and its member is still one.
    pub async fn live_key(&self, id: KeyId) -> Result<Option<LiveKey>> {
        Ok(sqlx::query_as(
            "SELECT k.id, k.workspace_id, k.scope, k.digest FROM api_keys k
             JOIN workspace_members m USING (workspace_id, account_id)
             WHERE k.id = $1 AND k.revoked_at IS NULL",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Records that these keys called a mock just now (batched by the runtime, so the hot path
    /// never waits for it).
    pub async fn touch_keys(&self, ids: &[KeyId]) -> Result<()> {
        let ids: Vec<uuid::Uuid> = ids.iter().map(KeyId::as_uuid).collect();
        sqlx::query("UPDATE api_keys SET last_used_at = now() WHERE id = ANY($1)")
            .bind(&ids)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

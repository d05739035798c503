//! A mock's OpenAPI contract (docs/proxy.md, "OpenAPI contract"): the document, kept as JSON,
//! and what the mock does with it. Attaching one changes what the mock answers when it checks
//! requests, so the mock is announced as changed; it is not a version of the mock.

use serde_json::Value;
use sqlx::FromRow;
use sqlx::types::Json;
use time::OffsetDateTime;

use crate::Store;
use crate::changes::Change;
use crate::error::{Result, StoreError};
use crate::ids::MockId;
use crate::workspace::Workspace;

/// A mock's contract.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct StoredContract {
    #[sqlx(json)]
    pub document: Value,
    /// Examples that break it are refused when saved (otherwise saved with a warning).
    pub refuse_examples: bool,
    /// Calls that break it are answered 422.
    pub requests: bool,
    pub attached_at: OffsetDateTime,
}

/// A contract in brief, for a page that shows it without reading the document.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct ContractBrief {
    pub title: String,
    pub version: String,
    pub refuse_examples: bool,
    pub requests: bool,
    pub attached_at: OffsetDateTime,
}

impl Store {
    /// The mock's contract in brief, if it has one (the mock is the caller's: found already).
    pub async fn contract_brief(
        &self,
        workspace: &Workspace,
        mock: MockId,
    ) -> Result<Option<ContractBrief>> {
        Ok(sqlx::query_as(
            "SELECT coalesce(c.document -> 'info' ->> 'title', '') AS title,
                 coalesce(c.document -> 'info' ->> 'version', '') AS version,
                 c.refuse_examples, c.requests, c.attached_at
             FROM mock_contracts c JOIN mocks m ON m.id = c.mock_id
             WHERE c.mock_id = $1 AND m.workspace_id = $2",
        )
        .bind(mock)
        .bind(workspace.id())
        .fetch_optional(self.pool())
        .await?)
    }

    /// Attaches the contract to the mock, in place of any it had.
    pub async fn set_contract(
        &self,
        workspace: &Workspace,
        mock: MockId,
        document: &Value,
        refuse_examples: bool,
        requests: bool,
    ) -> Result<StoredContract> {
        let mut tx = self.begin().await?;
        let contract = sqlx::query_as(
            "INSERT INTO mock_contracts (mock_id, document, refuse_examples, requests)
             SELECT id, $3, $4, $5 FROM mocks WHERE id = $1 AND workspace_id = $2
             ON CONFLICT (mock_id) DO UPDATE SET document = excluded.document,
                 refuse_examples = excluded.refuse_examples, requests = excluded.requests,
                 attached_at = now()
             RETURNING document, refuse_examples, requests, attached_at",
        )
        .bind(mock)
        .bind(workspace.id())
        .bind(Json(document))
        .bind(refuse_examples)
        .bind(requests)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        self.commit(tx, Change::Mock(mock)).await?;
        Ok(contract)
    }

    /// The mock's contract, if it has one; [`StoreError::NotFound`] for a mock not in the
    /// workspace.
    pub async fn contract(
        &self,
        workspace: &Workspace,
        mock: MockId,
    ) -> Result<Option<StoredContract>> {
        let found = sqlx::query_as(
            "SELECT c.document, c.refuse_examples, c.requests, c.attached_at
             FROM mock_contracts c JOIN mocks m ON m.id = c.mock_id
             WHERE c.mock_id = $1 AND m.workspace_id = $2",
        )
        .bind(mock)
        .bind(workspace.id())
        .fetch_optional(self.pool())
        .await?;
        if found.is_none() {
            // Another workspace's mock, or none: not found either way.
            self.mock(workspace, mock).await?;
        }
        Ok(found)
    }

    /// Detaches the mock's contract; [`StoreError::NotFound`] when it has none.
    pub async fn remove_contract(&self, workspace: &Workspace, mock: MockId) -> Result<()> {
        let mut tx = self.begin().await?;
        let removed = sqlx::query(
            "DELETE FROM mock_contracts c USING mocks m
             WHERE c.mock_id = $1 AND m.id = c.mock_id AND m.workspace_id = $2",
        )
        .bind(mock)
        .bind(workspace.id())
        .execute(&mut *tx)
        .await?;
        if removed.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.commit(tx, Change::Mock(mock)).await
    }
}

//! Drift reports: a mock's examples checked against the real API behind it, its upstream
//! (docs/proxy.md, "Drift check"). A report is kept whole, as the server wrote it, with who ran
//! it; a mock keeps its newest [`KEPT_REPORTS`].

use serde_json::Value;
use sqlx::FromRow;
use time::OffsetDateTime;

use crate::Store;
use crate::error::{Result, StoreError};
use crate::ids::{DriftReportId, MockId};
use crate::versions::{Author, author_args};
use crate::workspace::Workspace;

/// How many reports a mock keeps: older ones are removed as new ones come.
pub const KEPT_REPORTS: i64 = 50;

/// A report in a list: when, by whom, against what, and its counts.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct DriftSummary {
    pub id: DriftReportId,
    pub mock_id: MockId,
    pub created_at: OffsetDateTime,
    #[sqlx(json)]
    pub author: Author,
    /// What the examples were checked against (`upstream`).
    pub source: String,
    /// How many examples got each verdict, as the server counted them.
    pub summary: Value,
}

/// A whole report.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct DriftReport {
    #[sqlx(flatten)]
    pub summary: DriftSummary,
    /// The rest of the report, as the server wrote it.
    pub report: Value,
}

macro_rules! summary_columns {
    () => {
        "id, mock_id, created_at, author, source, summary"
    };
}

impl Store {
    /// Keeps a new report of the mock, run by the workspace's actor, and removes its reports
    /// older than the newest [`KEPT_REPORTS`].
    pub async fn add_drift_report(
        &self,
        workspace: &Workspace,
        mock: MockId,
        source: &str,
        summary: &Value,
        report: &Value,
    ) -> Result<DriftReport> {
        let mut tx = self.begin().await?;
        let (kind, actor) = author_args(workspace);
        let added: DriftReport = sqlx::query_as(concat!(
            "INSERT INTO drift_reports (id, mock_id, workspace_id, author, source, summary, report)
             SELECT $1, id, workspace_id, lyrebird_author($4, $5), $6, $7, $8
             FROM mocks WHERE id = $2 AND workspace_id = $3
             RETURNING ",
            summary_columns!(),
            ", report"
        ))
        .bind(DriftReportId::generate())
        .bind(mock)
        .bind(workspace.id())
        .bind(kind)
        .bind(actor)
        .bind(source)
        .bind(summary)
        .bind(report)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        sqlx::query(
            "DELETE FROM drift_reports WHERE mock_id = $1 AND id NOT IN (
                 SELECT id FROM drift_reports WHERE mock_id = $1 ORDER BY id DESC LIMIT $2)",
        )
        .bind(mock)
        .bind(KEPT_REPORTS)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(added)
    }

    /// The mock's kept reports, newest first, without their entries.
    pub async fn list_drift_reports(
        &self,
        workspace: &Workspace,
        mock: MockId,
    ) -> Result<Vec<DriftSummary>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            summary_columns!(),
            " FROM drift_reports WHERE mock_id = $1 AND workspace_id = $2 ORDER BY id DESC"
        ))
        .bind(mock)
        .bind(workspace.id())
        .fetch_all(self.pool())
        .await?)
    }

    /// One of the mock's reports, whole.
    pub async fn drift_report(
        &self,
        workspace: &Workspace,
        mock: MockId,
        id: DriftReportId,
    ) -> Result<DriftReport> {
        sqlx::query_as(concat!(
            "SELECT ",
            summary_columns!(),
            ", report FROM drift_reports WHERE id = $1 AND mock_id = $2 AND workspace_id = $3"
        ))
        .bind(id)
        .bind(mock)
        .bind(workspace.id())
        .fetch_optional(self.pool())
        .await?
        .ok_or(StoreError::NotFound)
    }
}

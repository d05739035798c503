//! A mock's draft: a copy of its settings and examples that edits change without touching what
//! the mock answers, until it is published as the mock's next version, or discarded.
//!
//! Every edit gives the draft a new revision, from one sequence for all drafts, so a revision
//! never names two states of a draft, nor a draft discarded and started again. An edit may name
//! the revision it read and is then refused when the draft has changed since
//! ([`StoreError::DraftChanged`]); without one the last write wins. Publishing refuses a draft whose mock changed since the draft began, unless
//! forced, so edits made to the live mock meanwhile are not lost unseen.

use std::collections::BTreeMap;

use lyrebird_engine::Example;
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection};
use time::OffsetDateTime;

use crate::Store;
use crate::error::{Result, StoreError};
use crate::examples::StoredExample;
use crate::ids::{ExampleId, MockId};
use crate::mocks::{Mock, MockSettings, mock_columns};
use crate::serving::{ServedMock, WorkspaceTerms};
use crate::versions::{Author, KeptSettings, author_args};
use crate::workspace::Workspace;

/// A mock's draft.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub mock_id: MockId,
    /// The version of the mock it started from.
    pub based_on: i32,
    pub revision: i64,
    pub settings: MockSettings,
    pub examples: Vec<(ExampleId, Example)>,
    /// The last impact report of this revision, as it was kept.
    pub impact: Option<serde_json::Value>,
    /// Who edited it last.
    pub author: Author,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl Draft {
    /// The draft as serving would read it, were it published: `live`'s identity with the
    /// draft's settings and examples.
    pub fn served(&self, live: &Mock) -> ServedMock {
        let settings = self.settings.clone();
        let mock = Mock {
            name: settings.name,
            private: settings.private,
            delay: settings.delay,
            environment: settings.environment,
            version_tag: settings.version_tag,
            fallback: settings.fallback,
            settings: settings.settings,
            updated_at: self.updated_at,
            ..live.clone()
        };
        let examples = self
            .examples
            .iter()
            .zip(0..)
            .map(|((id, example), position)| StoredExample {
                id: *id,
                mock_id: live.id,
                position,
                example: example.clone(),
                created_at: self.created_at,
                updated_at: self.updated_at,
            })
            .collect();
        // Drafts are tried, never served to callers: nothing goes to an upstream, and no call
        // is checked against a contract.
        ServedMock {
            mock,
            examples,
            upstream_headers: BTreeMap::new(),
            request_contract: None,
            terms: WorkspaceTerms::default(),
        }
    }
}

/// An example as a draft keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct DraftExample {
    id: ExampleId,
    example: Example,
}

#[derive(Debug, FromRow)]
struct DraftRow {
    mock_id: MockId,
    based_on: i32,
    revision: i64,
    #[sqlx(json)]
    settings: KeptSettings,
    #[sqlx(json)]
    examples: Vec<DraftExample>,
    impact: Option<serde_json::Value>,
    #[sqlx(json)]
    author: Author,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl DraftRow {
    fn into_draft(self) -> Result<Draft> {
        Ok(Draft {
            mock_id: self.mock_id,
            based_on: self.based_on,
            revision: self.revision,
            settings: self.settings.into_settings(self.mock_id)?,
            examples: self
                .examples
                .into_iter()
                .map(|kept| (kept.id, kept.example))
                .collect(),
            impact: self.impact,
            author: self.author,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

macro_rules! draft_columns {
    () => {
        "d.mock_id, d.based_on, d.revision, d.settings, d.examples, d.impact, d.author, \
         d.created_at, d.updated_at"
    };
}

/// The mock's draft, locked for an edit when `lock`, if the mock is in the workspace.
async fn draft_of(
    conn: &mut PgConnection,
    workspace: &Workspace,
    mock: MockId,
    lock: bool,
) -> Result<Draft> {
    macro_rules! select {
        ($lock:literal) => {
            concat!(
                "SELECT ",
                draft_columns!(),
                " FROM mock_drafts d JOIN mocks m ON m.id = d.mock_id
                 WHERE d.mock_id = $1 AND m.workspace_id = $2",
                $lock
            )
        };
    }
    let query = if lock {
        select!(" FOR UPDATE OF d")
    } else {
        select!("")
    };
    let row: DraftRow = sqlx::query_as(query)
        .bind(mock)
        .bind(workspace.id())
        .fetch_one(conn)
        .await?;
    row.into_draft()
}

fn kept_examples(examples: &[(ExampleId, Example)]) -> Result<serde_json::Value> {
    let kept: Vec<DraftExample> = examples
        .iter()
        .map(|(id, example)| DraftExample {
            id: *id,
            example: example.clone(),
        })
        .collect();
    serde_json::to_value(kept).map_err(|source| StoreError::Json {
        column: "mock_drafts.examples",
        source,
    })
}

/// Refuses an edit naming a revision the draft is no longer at.
fn check_revision(draft: &Draft, expected: Option<i64>) -> Result<()> {
    match expected {
        Some(expected) if expected != draft.revision => Err(StoreError::DraftChanged {
            expected,
            current: draft.revision,
        }),
        _ => Ok(()),
    }
}

impl Store {
    /// Starts a draft of the mock as it is now; [`StoreError::DraftExists`] when it has one.
    pub async fn start_draft(&self, workspace: &Workspace, mock: MockId) -> Result<Draft> {
        let mut tx = self.begin().await?;
        let live: Mock = sqlx::query_as(concat!(
            "SELECT ",
            mock_columns!(),
            " FROM mocks WHERE id = $1 AND workspace_id = $2 FOR SHARE"
        ))
        .bind(mock)
        .bind(workspace.id())
        .fetch_one(&mut *tx)
        .await?;
        let examples: Vec<StoredExample> = sqlx::query_as(concat!(
            "SELECT ",
            crate::examples::example_columns!(),
            " FROM examples e WHERE e.mock_id = $1 ORDER BY e.position"
        ))
        .bind(mock)
        .fetch_all(&mut *tx)
        .await?;
        let examples: Vec<(ExampleId, Example)> = examples
            .into_iter()
            .map(|stored| (stored.id, stored.example))
            .collect();
        let (kind, id) = author_args(workspace);
        let row: Option<DraftRow> = sqlx::query_as(concat!(
            "INSERT INTO mock_drafts AS d (mock_id, based_on, settings, examples, author)
             VALUES ($1, $2, $3, $4, lyrebird_author($5, $6))
             ON CONFLICT (mock_id) DO NOTHING
             RETURNING ",
            draft_columns!()
        ))
        .bind(mock)
        .bind(live.version)
        .bind(Json(KeptSettings::from(&live.to_settings())))
        .bind(kept_examples(&examples)?)
        .bind(kind)
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let draft = row.ok_or(StoreError::DraftExists)?.into_draft()?;
        tx.commit().await?;
        Ok(draft)
    }

    /// The mock's draft; [`StoreError::NotFound`] when it has none.
    pub async fn draft(&self, workspace: &Workspace, mock: MockId) -> Result<Draft> {
        draft_of(&mut *self.pool().acquire().await?, workspace, mock, false).await
    }

    /// Edits the draft: `edit` changes its settings and examples, or refuses (its error is
    /// returned and nothing is written). With `expected`, refused unless the draft is at that
    /// revision. The edit drops the draft's impact report.
    pub async fn edit_draft<T, E>(
        &self,
        workspace: &Workspace,
        mock: MockId,
        expected: Option<i64>,
        edit: impl FnOnce(&mut MockSettings, &mut Vec<(ExampleId, Example)>) -> Result<T, E>,
    ) -> Result<(Draft, T), E>
    where
        E: From<StoreError>,
    {
        let mut tx = self.begin().await?;
        let mut draft = draft_of(&mut tx, workspace, mock, true).await?;
        check_revision(&draft, expected)?;
        let outcome = edit(&mut draft.settings, &mut draft.examples)?;
        let (kind, id) = author_args(workspace);
        let row: DraftRow = sqlx::query_as(concat!(
            "UPDATE mock_drafts AS d SET settings = $2, examples = $3, impact = NULL,
                 revision = nextval('lyrebird_draft_revisions'), author = lyrebird_author($4, $5),
                 updated_at = now()
             WHERE mock_id = $1
             RETURNING ",
            draft_columns!()
        ))
        .bind(mock)
        .bind(Json(KeptSettings::from(&draft.settings)))
        .bind(kept_examples(&draft.examples)?)
        .bind(kind)
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let draft = row.into_draft()?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok((draft, outcome))
    }

    /// Drops the mock's draft.
    pub async fn discard_draft(&self, workspace: &Workspace, mock: MockId) -> Result<()> {
        let deleted = sqlx::query(
            "DELETE FROM mock_drafts d USING mocks m
             WHERE d.mock_id = $1 AND m.id = d.mock_id AND m.workspace_id = $2",
        )
        .bind(mock)
        .bind(workspace.id())
        .execute(self.pool())
        .await?;
        match deleted.rows_affected() {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    /// Keeps an impact report with the draft, if the draft is still at `revision`; returns
    /// whether it was kept.
    pub async fn keep_impact(
        &self,
        workspace: &Workspace,
        mock: MockId,
        revision: i64,
        report: &serde_json::Value,
    ) -> Result<bool> {
        let kept = sqlx::query(
            "UPDATE mock_drafts d SET impact = $4 FROM mocks m
             WHERE d.mock_id = $1 AND m.id = d.mock_id AND m.workspace_id = $2
                 AND d.revision = $3",
        )
        .bind(mock)
        .bind(workspace.id())
        .bind(revision)
        .bind(report)
        .execute(self.pool())
        .await?;
        Ok(kept.rows_affected() == 1)
    }

    /// Makes the draft the mock's next version and drops it. Refused
    /// ([`StoreError::DraftChanged`]) when `expected` names another revision, and
    /// ([`StoreError::LiveChanged`]) when the mock changed since the draft began, unless
    /// `force`.
    pub async fn publish_draft(
        &self,
        workspace: &Workspace,
        mock: MockId,
        expected: Option<i64>,
        force: bool,
    ) -> Result<(Mock, Vec<StoredExample>)> {
        let mut tx = self.begin().await?;
        // The mock first, as every write of it locks it (and deleting it, its draft after it):
        // its version cannot move between this check and the publish.
        let live: i32 = sqlx::query_scalar(
            "SELECT version FROM mocks WHERE id = $1 AND workspace_id = $2 FOR UPDATE",
        )
        .bind(mock)
        .bind(workspace.id())
        .fetch_one(&mut *tx)
        .await?;
        let draft = draft_of(&mut tx, workspace, mock, true).await?;
        check_revision(&draft, expected)?;
        if live != draft.based_on && !force {
            return Err(StoreError::LiveChanged {
                based_on: draft.based_on,
                live,
            });
        }
        sqlx::query("DELETE FROM mock_drafts WHERE mock_id = $1")
            .bind(mock)
            .execute(&mut *tx)
            .await?;
        let note = format!("published the draft of version {}", draft.based_on);
        self.put_mock_in(tx, workspace, mock, draft.settings, &draft.examples, &note)
            .await
    }
}

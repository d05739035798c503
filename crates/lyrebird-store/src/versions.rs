//! A mock's versions: every change that leaves a mock different is recorded as a numbered
//! version (its settings, and its examples by id and the digest of their JSON), in the
//! transaction of the change; versions are listed, read, and restored as a new version.
//!
//! The texts of examples are kept once per mock, by digest (`example_bodies`): a version is its
//! settings and two arrays, so editing one example of a large mock costs one new text. A mock
//! keeps its newest [`KEPT_VERSIONS`] versions.

use std::collections::BTreeMap;

use lyrebird_engine::{Example, MatchSettings, ResponseSpec};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Store;
use crate::changes::Change;
use crate::error::{Result, StoreError};
use crate::examples::{Ids, StoredExample, check_size, write_examples};
use crate::ids::{ExampleId, MockId};
use crate::mocks::{Delay, Mock, MockSettings, edit_mock};
use crate::workspace::{Actor, Workspace};

/// How many versions a mock keeps: older ones are removed as new ones come.
pub const KEPT_VERSIONS: i32 = 200;
/// Texts of examples no kept version names are removed once every this many versions.
const SWEEP_EVERY: i32 = 50;

/// Who made a version or edited a draft, named as they were then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Author {
    Account { id: Uuid, name: Option<String> },
    Key { id: Uuid, name: Option<String> },
    System,
}

/// The arguments of the database's `lyrebird_author(kind, id)`, which names the actor.
pub(crate) fn author_args(workspace: &Workspace) -> (&'static str, Option<Uuid>) {
    match workspace.actor() {
        Actor::Account(id) => ("account", Some(id.as_uuid())),
        Actor::Key(id) => ("key", Some(id.as_uuid())),
        Actor::System => ("system", None),
    }
}

/// A mock's settings as a version or a draft keeps them: the columns of `mocks`, by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct KeptSettings {
    name: String,
    private: bool,
    delay: String,
    environment: BTreeMap<String, String>,
    version_tag: Option<String>,
    fallback: Option<ResponseSpec>,
    settings: MatchSettings,
}

impl From<&MockSettings> for KeptSettings {
    fn from(settings: &MockSettings) -> Self {
        Self {
            name: settings.name.clone(),
            private: settings.private,
            delay: settings.delay.to_string(),
            environment: settings.environment.clone(),
            version_tag: settings.version_tag.clone(),
            fallback: settings.fallback.clone(),
            settings: settings.settings.clone(),
        }
    }
}

impl KeptSettings {
    pub(crate) fn into_settings(self, mock: MockId) -> Result<MockSettings> {
        let delay = Delay::try_from(self.delay).map_err(|error| StoreError::Kept {
            mock,
            reason: error.to_string(),
        })?;
        Ok(MockSettings {
            name: self.name,
            private: self.private,
            delay,
            environment: self.environment,
            version_tag: self.version_tag,
            fallback: self.fallback,
            settings: self.settings,
        })
    }
}

/// A version in a list: what it is, and how it differs from the one before it.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionSummary {
    pub number: i32,
    pub created_at: OffsetDateTime,
    pub author: Author,
    pub note: Option<String>,
    pub examples: usize,
    /// Against the version before (none for the mock's first).
    pub changes: Option<VersionChanges>,
}

#[derive(Debug, FromRow)]
struct SummaryRow {
    number: i32,
    created_at: OffsetDateTime,
    #[sqlx(json)]
    author: Author,
    note: Option<String>,
    examples: i32,
    #[sqlx(json(nullable))]
    changes: Option<VersionChanges>,
}

/// How a version differs from the one before it, in counts (kept with the version).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub struct VersionChanges {
    pub settings: bool,
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
    /// The same examples in another order.
    pub reordered: bool,
}

/// A whole version: the mock as it was.
#[derive(Debug, Clone, PartialEq)]
pub struct MockVersion {
    pub number: i32,
    pub created_at: OffsetDateTime,
    pub author: Author,
    pub note: Option<String>,
    pub settings: MockSettings,
    pub examples: Vec<(ExampleId, Example)>,
}

#[derive(Debug, FromRow)]
struct VersionRow {
    number: i32,
    created_at: OffsetDateTime,
    #[sqlx(json)]
    author: Author,
    note: Option<String>,
    settings: serde_json::Value,
    example_ids: Vec<Uuid>,
    digests: Vec<Vec<u8>>,
}

/// Records the mock as it now is, in the caller's transaction (which has locked the mock), as
/// its next version, unless it is the same as its newest; returns the mock's version number.
pub(crate) async fn record_version(
    conn: &mut PgConnection,
    workspace: &Workspace,
    mock: MockId,
    note: Option<&str>,
) -> Result<i32> {
    sqlx::query(
        "INSERT INTO example_bodies (mock_id, digest, body)
         SELECT mock_id, digest, body FROM examples WHERE mock_id = $1
         ON CONFLICT DO NOTHING",
    )
    .bind(mock)
    .execute(&mut *conn)
    .await?;
    let (kind, id) = author_args(workspace);
    let recorded: Option<i32> = sqlx::query_scalar(
        "WITH now AS (
             SELECT to_jsonb(m) - 'id' - 'workspace_id' - 'created_at' - 'updated_at'
                        - 'version' - 'upstream_headers'
                        - 'recording_since' AS settings,
                 coalesce((SELECT array_agg(e.id ORDER BY e.position) FROM examples e
                           WHERE e.mock_id = m.id), '{}') AS example_ids,
                 coalesce((SELECT array_agg(e.digest ORDER BY e.position) FROM examples e
                           WHERE e.mock_id = m.id), '{}') AS digests
             FROM mocks m WHERE m.id = $1
         ), newest AS (
             SELECT number, settings, example_ids, digests FROM mock_versions
             WHERE mock_id = $1 ORDER BY number DESC LIMIT 1
         ), old AS (
             SELECT o.id, o.digest, o.place
             FROM newest, unnest(newest.example_ids, newest.digests)
                 WITH ORDINALITY AS o (id, digest, place)
         ), new AS (
             SELECT n.id, n.digest, n.place
             FROM now, unnest(now.example_ids, now.digests) WITH ORDINALITY AS n (id, digest, place)
         ), changes AS (
             SELECT jsonb_build_object(
                 'settings', newest.settings IS DISTINCT FROM now.settings,
                 'added', (SELECT count(*) FROM new WHERE id NOT IN (SELECT id FROM old)),
                 'removed', (SELECT count(*) FROM old WHERE id NOT IN (SELECT id FROM new)),
                 'changed', (SELECT count(*) FROM new JOIN old USING (id)
                             WHERE new.digest <> old.digest),
                 'reordered', (SELECT array_agg(id ORDER BY place) FROM new
                               WHERE id IN (SELECT id FROM old))
                     IS DISTINCT FROM (SELECT array_agg(id ORDER BY place) FROM old
                                       WHERE id IN (SELECT id FROM new))
             ) AS counts
             FROM newest, now
         ), recorded AS (
             INSERT INTO mock_versions (mock_id, number, author, note, settings, example_ids,
                                        digests, changes)
             SELECT $1, coalesce((SELECT number FROM newest), 0) + 1, lyrebird_author($2, $3),
                 $4, now.settings, now.example_ids, now.digests,
                 (SELECT counts FROM changes)
             FROM now
             WHERE NOT EXISTS (
                 SELECT 1 FROM newest
                 WHERE newest.settings = now.settings AND newest.example_ids = now.example_ids
                     AND newest.digests = now.digests)
             RETURNING number
         )
         UPDATE mocks SET version = recorded.number FROM recorded
         WHERE mocks.id = $1 RETURNING recorded.number",
    )
    .bind(mock)
    .bind(kind)
    .bind(id)
    .bind(note)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(number) = recorded else {
        return Ok(
            sqlx::query_scalar("SELECT version FROM mocks WHERE id = $1")
                .bind(mock)
                .fetch_one(&mut *conn)
                .await?,
        );
    };
    if number > KEPT_VERSIONS {
        sqlx::query("DELETE FROM mock_versions WHERE mock_id = $1 AND number <= $2")
            .bind(mock)
            .bind(number - KEPT_VERSIONS)
            .execute(&mut *conn)
            .await?;
        if number % SWEEP_EVERY == 0 {
            sqlx::query(
                "DELETE FROM example_bodies WHERE mock_id = $1 AND digest NOT IN (
                     SELECT d FROM mock_versions, unnest(digests) AS d WHERE mock_id = $1)",
            )
            .bind(mock)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(number)
}

/// Checks that the mock is in the workspace.
pub(crate) async fn own_mock(
    conn: &mut PgConnection,
    workspace: &Workspace,
    mock: MockId,
) -> Result<()> {
    let found: Option<MockId> =
        sqlx::query_scalar("SELECT id FROM mocks WHERE id = $1 AND workspace_id = $2")
            .bind(mock)
            .bind(workspace.id())
            .fetch_optional(conn)
            .await?;
    found.map(|_| ()).ok_or(StoreError::NotFound)
}

macro_rules! version_columns {
    () => {
        "number, created_at, author, note, settings, example_ids, digests"
    };
}

impl Store {
    /// Records the mock's new version in `tx` and commits it with the change's announcement;
    /// returns the mock's version number.
    pub(crate) async fn commit_version(
        &self,
        mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
        workspace: &Workspace,
        mock: MockId,
        note: Option<&str>,
    ) -> Result<i32> {
        let version = record_version(&mut tx, workspace, mock, note).await?;
        self.commit(tx, Change::Mock(mock)).await?;
        Ok(version)
    }

    /// The mock's kept versions, newest first, `limit` of them older than `before` when given.
    pub async fn list_versions(
        &self,
        workspace: &Workspace,
        mock: MockId,
        before: Option<i32>,
        limit: u32,
    ) -> Result<Vec<VersionSummary>> {
        let mut tx = self.begin().await?;
        own_mock(&mut tx, workspace, mock).await?;
        let rows: Vec<SummaryRow> = sqlx::query_as(
            "SELECT number, created_at, author, note, cardinality(example_ids) AS examples, changes
             FROM mock_versions WHERE mock_id = $1 AND number < $2
             ORDER BY number DESC LIMIT $3",
        )
        .bind(mock)
        .bind(before.unwrap_or(i32::MAX))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| VersionSummary {
                number: row.number,
                created_at: row.created_at,
                author: row.author,
                note: row.note,
                examples: usize::try_from(row.examples).unwrap_or_default(),
                changes: row.changes,
            })
            .collect())
    }

    /// One kept version of the mock, whole.
    pub async fn version(
        &self,
        workspace: &Workspace,
        mock: MockId,
        number: i32,
    ) -> Result<MockVersion> {
        self.version_with(workspace, mock, number, None).await
    }

    /// One kept version of the mock with only these of its examples (those it has), in its
    /// order: what a comparison of two examples needs, without the rest's texts.
    pub async fn version_of_examples(
        &self,
        workspace: &Workspace,
        mock: MockId,
        number: i32,
        examples: &[ExampleId],
    ) -> Result<MockVersion> {
        self.version_with(workspace, mock, number, Some(examples))
            .await
    }

    async fn version_with(
        &self,
        workspace: &Workspace,
        mock: MockId,
        number: i32,
        only: Option<&[ExampleId]>,
    ) -> Result<MockVersion> {
        // One snapshot: the retention may remove the version's texts between two statements.
        let mut tx = self
            .begin_with(Some("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
            .await?;
        own_mock(&mut tx, workspace, mock).await?;
        let row: VersionRow = sqlx::query_as(concat!(
            "SELECT ",
            version_columns!(),
            " FROM mock_versions WHERE mock_id = $1 AND number = $2"
        ))
        .bind(mock)
        .bind(number)
        .fetch_one(&mut *tx)
        .await?;
        let only: Option<Vec<Uuid>> = only.map(|ids| ids.iter().map(ExampleId::as_uuid).collect());
        let examples: Vec<(Uuid, Json<Example>)> = sqlx::query_as(
            "SELECT v.id, b.body
             FROM unnest($2::uuid[], $3::bytea[]) WITH ORDINALITY AS v (id, digest, position)
             JOIN example_bodies b ON b.mock_id = $1 AND b.digest = v.digest
             WHERE $4::uuid[] IS NULL OR v.id = ANY($4)
             ORDER BY v.position",
        )
        .bind(mock)
        .bind(&row.example_ids)
        .bind(&row.digests)
        .bind(&only)
        .fetch_all(&mut *tx)
        .await?;
        let named = match &only {
            Some(only) => row
                .example_ids
                .iter()
                .filter(|id| only.contains(id))
                .count(),
            None => row.example_ids.len(),
        };
        if examples.len() != named {
            return Err(StoreError::Kept {
                mock,
                reason: format!("version {number} names examples whose text is gone"),
            });
        }
        let settings: KeptSettings =
            serde_json::from_value(row.settings).map_err(|error| StoreError::Kept {
                mock,
                reason: format!("version {number}: {error}"),
            })?;
        tx.commit().await?;
        Ok(MockVersion {
            number: row.number,
            created_at: row.created_at,
            author: row.author,
            note: row.note,
            settings: settings.into_settings(mock)?,
            examples: examples
                .into_iter()
                .map(|(id, Json(example))| (ExampleId::from(id), example))
                .collect(),
        })
    }

    /// Makes the mock what `number` was, as its next version (unless it is that already).
    pub async fn restore_version(
        &self,
        workspace: &Workspace,
        mock: MockId,
        number: i32,
    ) -> Result<(Mock, Vec<StoredExample>)> {
        let old = self.version(workspace, mock, number).await?;
        let note = format!("restored version {number}");
        let tx = self.begin().await?;
        self.put_mock_in(tx, workspace, mock, old.settings, &old.examples, &note)
            .await
    }

    /// Puts settings and examples kept by the store itself (a version, a draft) in place of the
    /// mock's, keeping their example ids, in `tx`, and commits them as a new version with
    /// `note`.
    pub(crate) async fn put_mock_in(
        &self,
        mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
        workspace: &Workspace,
        mock: MockId,
        settings: MockSettings,
        examples: &[(ExampleId, Example)],
        note: &str,
    ) -> Result<(Mock, Vec<StoredExample>)> {
        let mut stored = edit_mock(&mut tx, workspace, mock, |current| {
            *current = settings;
            Ok::<_, StoreError>(())
        })
        .await?;
        let examples: Vec<(Option<ExampleId>, Example)> = examples
            .iter()
            .map(|(id, example)| (Some(*id), example.clone()))
            .collect();
        let written = write_examples(&mut tx, mock, &examples, Ids::Keep).await?;
        check_size(&mut tx, mock).await?;
        stored.version = self.commit_version(tx, workspace, mock, Some(note)).await?;
        Ok((stored, written))
    }
}

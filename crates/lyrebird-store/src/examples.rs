//! A mock's examples, kept in the order the user gave them, as JSONB in the engine's own format.
//!
//! Every write first locks the mock's row through the workspace (which is also the tenancy
//! check), bumps its `updated_at` and announces the change, all in one transaction.

use std::collections::HashSet;

use lyrebird_engine::Example;
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection};
use time::OffsetDateTime;

use crate::Store;
use crate::error::{Result, StoreError};
use crate::ids::{ExampleId, MockId};
use crate::mocks::{Mock, MockSettings, edit_mock, insert_mock};
use crate::workspace::Workspace;

/// A saved example and where it sits in its mock.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct StoredExample {
    pub id: ExampleId,
    pub mock_id: MockId,
    pub position: i32,
    #[sqlx(json, rename = "body")]
    pub example: Example,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

macro_rules! example_columns {
    () => {
        "e.id, e.mock_id, e.position, e.body, e.created_at, e.updated_at"
    };
}
pub(crate) use example_columns;

/// Locks the mock for a change of its examples, if it is in `workspace`.
async fn lock_mock(conn: &mut PgConnection, workspace: &Workspace, mock: MockId) -> Result<()> {
    sqlx::query("UPDATE mocks SET updated_at = now() WHERE id = $1 AND workspace_id = $2")
        .bind(mock)
        .bind(workspace.id())
        .execute(conn)
        .await?
        .rows_affected()
        .eq(&1)
        .then_some(())
        .ok_or(StoreError::NotFound)
}

async fn examples_of(conn: &mut PgConnection, mock: MockId) -> Result<Vec<StoredExample>> {
    Ok(sqlx::query_as(concat!(
        "SELECT ",
        example_columns!(),
        " FROM examples e WHERE e.mock_id = $1 ORDER BY e.position"
    ))
    .bind(mock)
    .fetch_all(conn)
    .await?)
}

/// Which ids given with examples are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ids {
    /// Those of the mock's examples now; the others get new ones, whatever id they were given.
    /// An id that is unknown, another mock's or another workspace's is treated alike: ids are
    /// global, so keeping an unknown one would make another workspace's stand out (as taken)
    /// from one that does not exist.
    Own,
    /// All of them: ids the store itself kept for this mock (a version's, a draft's), which
    /// were this mock's or made for it.
    Keep,
}

/// Puts `examples` in place of all of the mock's examples, in order, in the caller's transaction
/// (which has locked the mock), keeping the ids `ids` says.
pub(crate) async fn write_examples(
    conn: &mut PgConnection,
    mock: MockId,
    examples: &[(Option<ExampleId>, Example)],
    ids: Ids,
) -> Result<Vec<StoredExample>> {
    let bodies = examples
        .iter()
        .map(|(_, example)| serde_json::to_value(example))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| StoreError::Json {
            column: "examples.body",
            source,
        })?;
    let own: HashSet<ExampleId> =
        sqlx::query_scalar("DELETE FROM examples WHERE mock_id = $1 RETURNING id")
            .bind(mock)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect();
    let ids: Vec<uuid::Uuid> = examples
        .iter()
        .map(|(id, _)| {
            id.filter(|id| ids == Ids::Keep || own.contains(id))
                .unwrap_or_else(ExampleId::generate)
                .as_uuid()
        })
        .collect();
    sqlx::query(
        "INSERT INTO examples (id, mock_id, position, body)
         SELECT id, $2, position::integer - 1, body
         FROM unnest($1::uuid[], $3::jsonb[]) WITH ORDINALITY AS t (id, body, position)",
    )
    .bind(&ids)
    .bind(mock)
    .bind(&bodies)
    .execute(&mut *conn)
    .await?;
    examples_of(conn, mock).await
}

/// Most examples one mock may hold: every one is compiled, and kept compiled while the mock is
/// in the runtime's cache.
pub const MAX_EXAMPLES_PER_MOCK: i64 = 10_000;
/// Most bytes of examples (their JSON text) one mock may hold, for the same reason.
pub const MAX_EXAMPLE_BYTES_PER_MOCK: i64 = 32 << 20;

/// Refuses a write that leaves the mock larger than a mock may be; called before the
/// transaction commits, so a refused write leaves nothing behind.
pub(crate) async fn check_size(conn: &mut PgConnection, mock: MockId) -> Result<()> {
    let (examples, bytes): (i64, i64) = sqlx::query_as(
        "SELECT count(*), coalesce(sum(bytes), 0)::bigint FROM examples WHERE mock_id = $1",
    )
    .bind(mock)
    .fetch_one(conn)
    .await?;
    if examples > MAX_EXAMPLES_PER_MOCK || bytes > MAX_EXAMPLE_BYTES_PER_MOCK {
        return Err(StoreError::MockTooLarge { examples, bytes });
    }
    Ok(())
}

impl Store {
    /// Runs `edit` on the mock's examples in a transaction that first locks the mock (and so
    /// checks it is in `workspace`) and ends by announcing the change.
    async fn edit_examples<T>(
        &self,
        workspace: &Workspace,
        mock: MockId,
        edit: impl AsyncFnOnce(&mut PgConnection) -> Result<T>,
    ) -> Result<T> {
        let mut tx = self.begin().await?;
        lock_mock(&mut tx, workspace, mock).await?;
        let outcome = edit(&mut tx).await?;
        check_size(&mut tx, mock).await?;
        self.commit_version(tx, workspace, mock, None).await?;
        Ok(outcome)
    }

    /// How many examples each of the workspace's mocks has; mocks without any are left out.
    pub async fn examples_per_mock(&self, workspace: &Workspace) -> Result<Vec<(MockId, i64)>> {
        Ok(sqlx::query_as(
            "SELECT e.mock_id, count(*) FROM examples e JOIN mocks m ON m.id = e.mock_id
             WHERE m.workspace_id = $1 GROUP BY e.mock_id",
        )
        .bind(workspace.id())
        .fetch_all(self.pool())
        .await?)
    }

    /// The mock's examples in order; `NotFound` when the mock is not in the workspace.
    pub async fn list_examples(
        &self,
        workspace: &Workspace,
        mock: MockId,
    ) -> Result<Vec<StoredExample>> {
        let mut tx = self.begin().await?;
        let exists: Option<MockId> =
            sqlx::query_scalar("SELECT id FROM mocks WHERE id = $1 AND workspace_id = $2")
                .bind(mock)
                .bind(workspace.id())
                .fetch_optional(&mut *tx)
                .await?;
        exists.ok_or(StoreError::NotFound)?;
        examples_of(&mut tx, mock).await
    }

    pub async fn example(
        &self,
        workspace: &Workspace,
        mock: MockId,
        id: ExampleId,
    ) -> Result<StoredExample> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            example_columns!(),
            " FROM examples e JOIN mocks m ON m.id = e.mock_id
             WHERE e.id = $1 AND e.mock_id = $2 AND m.workspace_id = $3"
        ))
        .bind(id)
        .bind(mock)
        .bind(workspace.id())
        .fetch_one(self.pool())
        .await?)
    }

    /// Adds an example after the mock's last one.
    pub async fn add_example(
        &self,
        workspace: &Workspace,
        mock: MockId,
        example: &Example,
    ) -> Result<StoredExample> {
        self.edit_examples(workspace, mock, async |conn| {
            Ok(sqlx::query_as(concat!(
                "INSERT INTO examples AS e (id, mock_id, position, body)
                 SELECT $1, $2, coalesce(max(position) + 1, 0), $3 FROM examples WHERE mock_id = $2
                 RETURNING ",
                example_columns!()
            ))
            .bind(ExampleId::generate())
            .bind(mock)
            .bind(Json(example))
            .fetch_one(conn)
            .await?)
        })
        .await
    }

    /// Replaces one example's content; it keeps its id and position.
    pub async fn replace_example(
        &self,
        workspace: &Workspace,
        mock: MockId,
        id: ExampleId,
        example: &Example,
    ) -> Result<StoredExample> {
        self.edit_examples(workspace, mock, async |conn| {
            Ok(sqlx::query_as(concat!(
                "UPDATE examples AS e SET body = $3, updated_at = now()
                 WHERE e.id = $1 AND e.mock_id = $2
                 RETURNING ",
                example_columns!()
            ))
            .bind(id)
            .bind(mock)
            .bind(Json(example))
            .fetch_one(conn)
            .await?)
        })
        .await
    }

    pub async fn delete_example(
        &self,
        workspace: &Workspace,
        mock: MockId,
        id: ExampleId,
    ) -> Result<()> {
        self.edit_examples(workspace, mock, async |conn| {
            let deleted = sqlx::query("DELETE FROM examples WHERE id = $1 AND mock_id = $2")
                .bind(id)
                .bind(mock)
                .execute(conn)
                .await?;
            match deleted.rows_affected() {
                0 => Err(StoreError::NotFound),
                _ => Ok(()),
            }
        })
        .await
    }

    /// Replaces all of a mock's examples at once, in the given order: readers see the old set or
    /// the new one, never a mix. An example given with the id of one of the mock's examples keeps
    /// it (so a mock kept in git and put back keeps its example ids); the others get new ones.
    pub async fn replace_examples(
        &self,
        workspace: &Workspace,
        mock: MockId,
        examples: &[(Option<ExampleId>, Example)],
    ) -> Result<Vec<StoredExample>> {
        self.edit_examples(workspace, mock, async |conn| {
            write_examples(conn, mock, examples, Ids::Own).await
        })
        .await
    }

    /// Creates a mock together with its examples in one transaction, so an import that fails
    /// halfway leaves no mock behind; its first version carries `note`.
    pub async fn create_mock_with_examples(
        &self,
        workspace: &Workspace,
        draft: &MockSettings,
        examples: &[Example],
        note: &str,
    ) -> Result<(Mock, Vec<StoredExample>)> {
        let examples: Vec<(Option<ExampleId>, Example)> =
            examples.iter().map(|e| (None, e.clone())).collect();
        let mut tx = self.begin().await?;
        let mock = insert_mock(&mut tx, workspace, draft).await?;
        let stored = write_examples(&mut tx, mock.id, &examples, Ids::Own).await?;
        check_size(&mut tx, mock.id).await?;
        self.commit_version(tx, workspace, mock.id, Some(note))
            .await?;
        Ok((mock, stored))
    }

    /// Changes a mock's settings and replaces all of its examples in one transaction: readers see
    /// the mock before or after, never settings of one with examples of the other. `edit` may
    /// refuse, and then nothing is written. The version made carries `note`.
    pub async fn update_mock_and_replace_examples<E>(
        &self,
        workspace: &Workspace,
        id: MockId,
        edit: impl FnOnce(&mut MockSettings) -> Result<(), E>,
        examples: &[(Option<ExampleId>, Example)],
        note: &str,
    ) -> Result<(Mock, Vec<StoredExample>), E>
    where
        E: From<StoreError>,
    {
        let mut tx = self.begin().await?;
        let mut mock = edit_mock(&mut tx, workspace, id, edit).await?;
        let stored = write_examples(&mut tx, id, examples, Ids::Own).await?;
        check_size(&mut tx, id).await?;
        mock.version = self.commit_version(tx, workspace, id, Some(note)).await?;
        Ok((mock, stored))
    }
}

//! Mock state in PostgreSQL (docs/state.md): one `mock_states` row per written state (the
//! default state is the key `""`) and one `mock_state_entries` row per scenario, key, sequence
//! place, collection and record.
//!
//! Writes go through a [`StateLock`]: the state's row locked for the transaction, so the writes
//! of one state (from any process) happen one after the other, each computed from the state as
//! the one before left it. Each write takes a version from one sequence, so a version names one
//! content of one state, and a process can tell whether the state it holds is current.

use std::borrow::Cow;
use std::collections::HashMap;

use lyrebird_engine::state::{State, StateWrite};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection, Postgres, Transaction};
use uuid::Uuid;

use crate::Store;
use crate::changes::Change;
use crate::error::{Result, StoreError};
use crate::ids::{MockId, WorkspaceId};
use crate::workspace::Workspace;

/// States one mock may hold: its default state and its state keys'.
pub const MAX_STATES_PER_MOCK: i64 = 1_000;
/// The longest state key (the `x-lyrebird-state` header).
pub const MAX_STATE_KEY_BYTES: usize = 128;

/// Checks a state key: up to [`MAX_STATE_KEY_BYTES`] of visible ASCII (`""` is the default
/// state).
pub fn check_state_key(key: &str) -> std::result::Result<(), String> {
    if key.len() > MAX_STATE_KEY_BYTES || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "a state key is at most {MAX_STATE_KEY_BYTES} visible ASCII characters (no spaces)"
        ));
    }
    Ok(())
}

#[derive(FromRow)]
struct Entry {
    kind: String,
    scope: String,
    name: String,
    value: sqlx::types::Json<Value>,
}

impl Entry {
    /// The write that makes this entry, applied to an empty state.
    fn write(self) -> Option<StateWrite> {
        let Entry {
            kind,
            scope,
            name,
            value: sqlx::types::Json(value),
        } = self;
        Some(match kind.as_str() {
            "scenario" => StateWrite::Scenario {
                name,
                state: value.as_str()?.to_owned(),
            },
            "value" => StateWrite::Value {
                key: name,
                value: Some(value),
            },
            "sequence" => StateWrite::Sequence {
                example: name.parse().ok()?,
                next: value.as_u64()?,
            },
            "collection" => StateWrite::Collection {
                name,
                next_id: value.as_i64()?,
            },
            "record" => StateWrite::Record {
                collection: scope,
                id: name,
                record: Some(value.into()),
            },
            _ => return None,
        })
    }
}

/// The state `key` of `mock` as the open transaction sees it.
async fn load(conn: &mut PgConnection, mock: MockId, key: &str) -> Result<State> {
    let version: Option<i64> =
        sqlx::query_scalar("SELECT version FROM mock_states WHERE mock_id = $1 AND state_key = $2")
            .bind(mock)
            .bind(key)
            .fetch_optional(&mut *conn)
            .await?;
    let mut state = State::default();
    state.version = version.unwrap_or(0);
    if version.is_none() {
        return Ok(state);
    }
    let entries: Vec<Entry> = sqlx::query_as(
        "SELECT kind, scope, name, value FROM mock_state_entries
         WHERE mock_id = $1 AND state_key = $2 ORDER BY seq",
    )
    .bind(mock)
    .bind(key)
    .fetch_all(&mut *conn)
    .await?;
    for write in entries.into_iter().filter_map(Entry::write) {
        state.apply(&write);
    }
    Ok(state)
}

/// A state locked for writing, until [`StateLock::commit`] or drop.
pub struct StateLock {
    store: Store,
    tx: Transaction<'static, Postgres>,
    mock: MockId,
    key: String,
    version: i64,
}

impl std::fmt::Debug for StateLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateLock")
            .field("mock", &self.mock)
            .field("key", &self.key)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl StateLock {
    /// The version of the state as locked: the state a caller holds is current when its
    /// version is this one.
    pub fn version(&self) -> i64 {
        self.version
    }

    /// The state as locked.
    pub async fn load(&mut self) -> Result<State> {
        load(&mut self.tx, self.mock, &self.key).await
    }

    /// Empties the state, for writes that set the whole of it.
    pub async fn clear(&mut self) -> Result<()> {
        sqlx::query("DELETE FROM mock_state_entries WHERE mock_id = $1 AND state_key = $2")
            .bind(self.mock)
            .bind(&self.key)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Writes `writes`, gives the state a new version and commits; every process is told.
    /// Returns the new version.
    pub async fn commit(mut self, writes: &[StateWrite]) -> Result<i64> {
        let mut upserts = Upserts::default();
        for write in writes {
            match Row::of(write) {
                Row::Upsert(key, value) => upserts.add(key, value),
                Row::Delete(kind, scope, name) => {
                    // Deletes and upserts keep their order: what came before is written first.
                    self.upsert(std::mem::take(&mut upserts)).await?;
                    self.delete(kind, scope, name).await?;
                }
            }
        }
        self.upsert(upserts).await?;
        let version: i64 = sqlx::query_scalar(
            "UPDATE mock_states SET version = nextval('mock_state_versions'), updated_at = now()
             WHERE mock_id = $1 AND state_key = $2 RETURNING version",
        )
        .bind(self.mock)
        .bind(&self.key)
        .fetch_one(&mut *self.tx)
        .await?;
        let change = Change::StateWritten {
            mock: self.mock,
            key: self.key,
            version,
        };
        self.store.commit(self.tx, change).await?;
        Ok(version)
    }

    /// Inserts or replaces entries in one statement, in their order (which gives new records
    /// their places).
    async fn upsert(&mut self, upserts: Upserts<'_>) -> Result<()> {
        if upserts.rows.is_empty() {
            return Ok(());
        }
        let rows = &upserts.rows;
        let kinds: Vec<&str> = rows.iter().map(|((kind, ..), _)| *kind).collect();
        let scopes: Vec<&str> = rows.iter().map(|((_, scope, _), _)| *scope).collect();
        let names: Vec<&str> = rows.iter().map(|((.., name), _)| &**name).collect();
        let values: Vec<Json<&Value>> = rows.iter().map(|(_, value)| Json(&**value)).collect();
        sqlx::query(
            "INSERT INTO mock_state_entries (mock_id, state_key, kind, scope, name, value)
             SELECT $1, $2, kind, scope, name, value
             FROM unnest($3::text[], $4::text[], $5::text[], $6::jsonb[]) WITH ORDINALITY
                  AS w(kind, scope, name, value, n)
             ORDER BY n
             ON CONFLICT (mock_id, state_key, kind, scope, name) DO UPDATE SET value = EXCLUDED.value",
        )
        .bind(self.mock)
        .bind(&self.key)
        .bind(kinds)
        .bind(scopes)
        .bind(names)
        .bind(values)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Deletes one entry, or with no name every entry of the kind and scope.
    async fn delete(&mut self, kind: &str, scope: &str, name: Option<&str>) -> Result<()> {
        sqlx::query(
            "DELETE FROM mock_state_entries
             WHERE mock_id = $1 AND state_key = $2 AND kind = $3 AND scope = $4
               AND ($5::text IS NULL OR name = $5)",
        )
        .bind(self.mock)
        .bind(&self.key)
        .bind(kind)
        .bind(scope)
        .bind(name)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }
}

/// An entry's key: kind, scope (a record's collection) and name.
type EntryKey<'w> = (&'static str, &'w str, Cow<'w, str>);

/// A write as a row to upsert or rows to delete.
enum Row<'w> {
    Upsert(EntryKey<'w>, Cow<'w, Value>),
    /// Without a name: every entry of the kind and scope.
    Delete(&'static str, &'w str, Option<&'w str>),
}

impl<'w> Row<'w> {
    fn of(write: &'w StateWrite) -> Self {
        let owned = |value: Value| Cow::Owned(value);
        match write {
            StateWrite::Scenario { name, state } => Row::Upsert(
                ("scenario", "", Cow::Borrowed(name)),
                owned(Value::from(state.as_str())),
            ),
            StateWrite::Value {
                key,
                value: Some(value),
            } => Row::Upsert(("value", "", Cow::Borrowed(key)), Cow::Borrowed(value)),
            StateWrite::Value { key, value: None } => Row::Delete("value", "", Some(key)),
            StateWrite::Sequence { example, next } => Row::Upsert(
                ("sequence", "", Cow::Owned(example.to_string())),
                owned(Value::from(*next)),
            ),
            StateWrite::Collection { name, next_id } => Row::Upsert(
                ("collection", "", Cow::Borrowed(name)),
                owned(Value::from(*next_id)),
            ),
            StateWrite::Record {
                collection,
                id,
                record: Some(record),
            } => Row::Upsert(
                ("record", collection, Cow::Borrowed(id)),
                Cow::Borrowed(record),
            ),
            StateWrite::Record {
                collection,
                id,
                record: None,
            } => Row::Delete("record", collection, Some(id)),
            StateWrite::Clear { collection } => Row::Delete("record", collection, None),
        }
    }
}

/// Rows to upsert in one statement: one per key (PostgreSQL refuses a statement that would
/// change a row twice), at the place of its first write, with the value of its last.
#[derive(Default)]
struct Upserts<'w> {
    rows: Vec<(EntryKey<'w>, Cow<'w, Value>)>,
    places: HashMap<EntryKey<'w>, usize>,
}

impl<'w> Upserts<'w> {
    fn add(&mut self, key: EntryKey<'w>, value: Cow<'w, Value>) {
        match self.places.get(&key) {
            Some(&place) => self.rows[place].1 = value,
            None => {
                self.places.insert(key.clone(), self.rows.len());
                self.rows.push((key, value));
            }
        }
    }
}

/// A mock's states as the admin API shows them: each key with its version.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct StateSummary {
    pub key: String,
    pub version: i64,
    pub updated_at: time::OffsetDateTime,
}

impl Store {
    /// The state `key` of `mock`, for serving (by mock id alone, as [`Store::served_mock`]).
    pub async fn mock_state(&self, mock: MockId, key: &str) -> Result<State> {
        let mut tx = self
            .begin_with(Some("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"))
            .await?;
        let state = load(&mut tx, mock, key).await?;
        tx.commit().await?;
        Ok(state)
    }

    /// Locks the state `key` of `mock` (of `workspace`) for a write, waiting for a write of
    /// another process under way. A state key that is new counts against
    /// [`MAX_STATES_PER_MOCK`].
    pub async fn lock_state(
        &self,
        workspace: WorkspaceId,
        mock: MockId,
        key: &str,
    ) -> Result<StateLock> {
        let mut tx = self
            .begin_with(Some("BEGIN; SET LOCAL lock_timeout = '10s'"))
            .await?;
        // Inserts the state's row, or locks it when it is there, in one statement: a no-op
        // update locks the row as `SELECT ... FOR UPDATE` would. Nothing comes back when the
        // mock is not the workspace's.
        let (version, created): (i64, bool) = sqlx::query_as(
            "INSERT INTO mock_states AS s (mock_id, state_key, workspace_id)
             SELECT id, $2, workspace_id FROM mocks WHERE id = $1 AND workspace_id = $3
             ON CONFLICT (mock_id, state_key) DO UPDATE SET version = s.version
             WHERE s.workspace_id = EXCLUDED.workspace_id
             RETURNING s.version, s.xmax = 0",
        )
        .bind(mock)
        .bind(key)
        .bind(workspace)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        if created {
            // New states of one mock are counted one transaction at a time: each waits here for
            // the one before to commit, and then counts its state.
            sqlx::query("SELECT 1 FROM mocks WHERE id = $1 FOR NO KEY UPDATE")
                .bind(mock)
                .execute(&mut *tx)
                .await?;
            let states: i64 =
                sqlx::query_scalar("SELECT count(*) FROM mock_states WHERE mock_id = $1")
                    .bind(mock)
                    .fetch_one(&mut *tx)
                    .await?;
            if states > MAX_STATES_PER_MOCK {
                return Err(StoreError::TooManyStates);
            }
        }
        Ok(StateLock {
            store: self.clone(),
            tx,
            mock,
            key: key.to_owned(),
            version,
        })
    }

    /// The written states of a mock of `workspace`, default first then by key.
    pub async fn mock_states(
        &self,
        workspace: &Workspace,
        mock: MockId,
    ) -> Result<Vec<StateSummary>> {
        Ok(sqlx::query_as(
            "SELECT s.state_key AS key, s.version, s.updated_at FROM mock_states s
             JOIN mocks m ON m.id = s.mock_id
             WHERE s.mock_id = $1 AND m.workspace_id = $2 AND s.version > 0
             ORDER BY s.state_key",
        )
        .bind(mock)
        .bind(workspace.id())
        .fetch_all(self.pool())
        .await?)
    }

    /// Resets a mock's state `key` (every state, with `None`) to how every state starts.
    /// `NotFound` when the mock is not in the workspace.
    pub async fn reset_state(
        &self,
        workspace: &Workspace,
        mock: MockId,
        key: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let exists: Option<Uuid> = sqlx::query_scalar(
            "SELECT id FROM mocks WHERE id = $1 AND workspace_id = $2 FOR UPDATE",
        )
        .bind(mock)
        .bind(workspace.id())
        .fetch_optional(&mut *tx)
        .await?;
        exists.ok_or(StoreError::NotFound)?;
        sqlx::query(
            "DELETE FROM mock_states WHERE mock_id = $1 AND ($2::text IS NULL OR state_key = $2)",
        )
        .bind(mock)
        .bind(key)
        .execute(&mut *tx)
        .await?;
        let change = Change::StateReset {
            mock,
            key: key.map(str::to_owned),
        };
        self.commit(tx, change).await
    }
}

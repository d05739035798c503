//! Mocks: their settings, created, listed, edited and deleted within a workspace.
//!
//! Every change commits together with a [`Change::Mock`] carrying the mock's id, so every process
//! serving this database can drop its compiled copy at once.

use std::collections::BTreeMap;
use std::fmt;

use lyrebird_engine::{MatchSettings, ResponseSpec};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sqlx::postgres::PgArguments;
use sqlx::query::QueryAs;
use sqlx::types::Json;
use sqlx::{FromRow, PgConnection, Postgres};
use time::OffsetDateTime;

use crate::Store;
use crate::changes::Change;
use crate::error::{Result, StoreError};
use crate::ids::{MockId, WorkspaceId};
use crate::workspace::Workspace;

/// The longest delay a mock may ask for: three minutes.
pub const MAX_DELAY_MS: u32 = 180_000;

/// How long a mock waits before answering, on top of an example's own delay.
///
/// In JSON: `"none"`, `"2g"` (300 ms), `"3g"` (100 ms), or a number of milliseconds up to
/// [`MAX_DELAY_MS`]. The names are kept as given so the user sees what they chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Delay {
    #[default]
    None,
    TwoG,
    ThreeG,
    Millis(u32),
}

impl Delay {
    pub fn millis(self) -> u32 {
        match self {
            Delay::None => 0,
            Delay::TwoG => 300,
            Delay::ThreeG => 100,
            Delay::Millis(ms) => ms,
        }
    }

    fn millis_checked(ms: u64) -> Result<Self, InvalidDelay> {
        u32::try_from(ms)
            .ok()
            .filter(|ms| *ms <= MAX_DELAY_MS)
            .map(Delay::Millis)
            .ok_or(InvalidDelay)
    }
}

impl fmt::Display for Delay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Delay::None => f.write_str("none"),
            Delay::TwoG => f.write_str("2g"),
            Delay::ThreeG => f.write_str("3g"),
            Delay::Millis(ms) => write!(f, "{ms}"),
        }
    }
}

/// A delay that is neither a known name nor a number of milliseconds in range.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("a delay is \"none\", \"2g\", \"3g\" or a number of milliseconds from 0 to {MAX_DELAY_MS}")]
pub struct InvalidDelay;

impl TryFrom<String> for Delay {
    type Error = InvalidDelay;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "none" => Ok(Delay::None),
            "2g" => Ok(Delay::TwoG),
            "3g" => Ok(Delay::ThreeG),
            digits => digits
                .parse::<u64>()
                .map_err(|_| InvalidDelay)
                .and_then(Delay::millis_checked),
        }
    }
}

impl Serialize for Delay {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Delay::Millis(ms) => serializer.serialize_u32(*ms),
            named => serializer.collect_str(named),
        }
    }
}

impl<'de> Deserialize<'de> for Delay {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Name(String),
            Millis(u64),
            Other(serde::de::IgnoredAny),
        }
        let delay = match Raw::deserialize(deserializer)? {
            Raw::Name(name) if !name.bytes().all(|b| b.is_ascii_digit()) => Delay::try_from(name),
            Raw::Millis(ms) => Delay::millis_checked(ms),
            Raw::Name(_) | Raw::Other(_) => Err(InvalidDelay),
        };
        delay.map_err(serde::de::Error::custom)
    }
}

/// What a user edits: every setting of a mock.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MockSettings {
    pub name: String,
    /// Private mocks answer only requests with an `x-api-key` of their workspace.
    pub private: bool,
    pub delay: Delay,
    /// Variables the templates can read.
    pub environment: BTreeMap<String, String>,
    pub version_tag: Option<String>,
    /// Answered when no example matches; without it such a request gets a 404 that explains.
    pub fallback: Option<ResponseSpec>,
    pub settings: MatchSettings,
}

/// A stored mock.
#[derive(Debug, Clone, PartialEq, FromRow)]
pub struct Mock {
    pub id: MockId,
    pub workspace_id: WorkspaceId,
    pub name: String,
    pub private: bool,
    #[sqlx(try_from = "String")]
    pub delay: Delay,
    #[sqlx(json)]
    pub environment: BTreeMap<String, String>,
    pub version_tag: Option<String>,
    #[sqlx(json(nullable))]
    pub fallback: Option<ResponseSpec>,
    #[sqlx(json)]
    pub settings: MatchSettings,
    /// The version that answers the mock's calls: its newest (see [`crate::versions`]).
    pub version: i32,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// The names of the headers added to requests passed to the upstream; their values are
    /// read only by the runtime ([`crate::ServedMock`]).
    pub upstream_header_names: Vec<String>,
    /// The upstream origin they were set for, the only one they are sent to.
    pub upstream_headers_origin: Option<String>,
    /// When the mock's recording began; `None` when it is not recording.
    pub recording_since: Option<OffsetDateTime>,
}

impl Mock {
    pub fn to_settings(&self) -> MockSettings {
        MockSettings {
            name: self.name.clone(),
            private: self.private,
            delay: self.delay,
            environment: self.environment.clone(),
            version_tag: self.version_tag.clone(),
            fallback: self.fallback.clone(),
            settings: self.settings.clone(),
        }
    }
}

macro_rules! mock_columns {
    () => {
        "id, workspace_id, name, private, delay, environment, version_tag, fallback, settings, \
         version, created_at, updated_at, \
         ARRAY(SELECT jsonb_object_keys(coalesce(upstream_headers -> 'headers', '{}')) ORDER BY 1) \
             AS upstream_header_names, \
         upstream_headers ->> 'origin' AS upstream_headers_origin, recording_since"
    };
}
pub(crate) use mock_columns;

/// Binds the draft's settings as parameters `$3` to `$9` (after the id and the workspace), the
/// order both `INSERT` and `UPDATE` use.
fn bind_draft<'q>(
    query: QueryAs<'q, Postgres, Mock, PgArguments>,
    draft: &'q MockSettings,
) -> QueryAs<'q, Postgres, Mock, PgArguments> {
    query
        .bind(&draft.name)
        .bind(draft.private)
        .bind(draft.delay.to_string())
        .bind(Json(&draft.environment))
        .bind(&draft.version_tag)
        .bind(draft.fallback.as_ref().map(Json))
        .bind(Json(&draft.settings))
}

/// Inserts a new mock in the caller's transaction, unless the workspace holds as many as its
/// plan allows ([`StoreError::MockLimit`]); announcing it is the caller's part. The workspace's
/// row is locked meanwhile, so mocks created at once cannot pass the limit together.
pub(crate) async fn insert_mock(
    conn: &mut PgConnection,
    workspace: &Workspace,
    draft: &MockSettings,
) -> Result<Mock> {
    let (max, held): (Option<i32>, i64) = sqlx::query_as(
        "SELECT p.max_mocks, (SELECT count(*) FROM mocks m WHERE m.workspace_id = w.id)
         FROM workspaces w LEFT JOIN plans p ON p.id = w.plan_id
         WHERE w.id = $1 FOR NO KEY UPDATE OF w",
    )
    .bind(workspace.id())
    .fetch_one(&mut *conn)
    .await?;
    if let Some(max) = max.map(i64::from)
        && held >= max
    {
        return Err(StoreError::MockLimit { max });
    }
    let insert = sqlx::query_as(concat!(
        "INSERT INTO mocks (id, workspace_id, name, private, delay, environment, version_tag,
                            fallback, settings)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         RETURNING ",
        mock_columns!()
    ))
    .bind(MockId::generate())
    .bind(workspace.id());
    Ok(bind_draft(insert, draft).fetch_one(conn).await?)
}

/// Locks the mock (if it is in `workspace`), lets `edit` change its settings or refuse, and writes
/// them, in the caller's transaction; announcing the change is the caller's part.
pub(crate) async fn edit_mock<E>(
    conn: &mut PgConnection,
    workspace: &Workspace,
    id: MockId,
    edit: impl FnOnce(&mut MockSettings) -> Result<(), E>,
) -> Result<Mock, E>
where
    E: From<StoreError>,
{
    let current: Mock = sqlx::query_as(concat!(
        "SELECT ",
        mock_columns!(),
        " FROM mocks WHERE id = $1 AND workspace_id = $2 FOR UPDATE"
    ))
    .bind(id)
    .bind(workspace.id())
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::from)?;
    let mut draft = current.to_settings();
    edit(&mut draft)?;
    let update = sqlx::query_as(concat!(
        "UPDATE mocks SET name = $3, private = $4, delay = $5, environment = $6,
                          version_tag = $7, fallback = $8, settings = $9, updated_at = now()
         WHERE id = $1 AND workspace_id = $2
         RETURNING ",
        mock_columns!()
    ))
    .bind(id)
    .bind(workspace.id());
    Ok(bind_draft(update, &draft)
        .fetch_one(conn)
        .await
        .map_err(StoreError::from)?)
}

impl Store {
    pub async fn create_mock(&self, workspace: &Workspace, draft: &MockSettings) -> Result<Mock> {
        let mut tx = self.begin().await?;
        let mock = insert_mock(&mut tx, workspace, draft).await?;
        self.commit_version(tx, workspace, mock.id, None).await?;
        Ok(mock)
    }

    /// The workspace's mocks, oldest first.
    pub async fn list_mocks(&self, workspace: &Workspace) -> Result<Vec<Mock>> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            mock_columns!(),
            " FROM mocks WHERE workspace_id = $1 ORDER BY created_at, id"
        ))
        .bind(workspace.id())
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn mock(&self, workspace: &Workspace, id: MockId) -> Result<Mock> {
        Ok(sqlx::query_as(concat!(
            "SELECT ",
            mock_columns!(),
            " FROM mocks WHERE id = $1 AND workspace_id = $2"
        ))
        .bind(id)
        .bind(workspace.id())
        .fetch_one(self.pool())
        .await?)
    }

    /// Edits a mock in one transaction: `edit` gets the current settings under a row lock and
    /// may refuse them (its error is returned and nothing is written).
    pub async fn update_mock<E>(
        &self,
        workspace: &Workspace,
        id: MockId,
        edit: impl FnOnce(&mut MockSettings) -> Result<(), E>,
    ) -> Result<Mock, E>
    where
        E: From<StoreError>,
    {
        let mut tx = self.begin().await?;
        let mut mock = edit_mock(&mut tx, workspace, id, edit).await?;
        mock.version = self.commit_version(tx, workspace, id, None).await?;
        Ok(mock)
    }

    /// Replaces the headers added to the requests the mock passes to its upstream, for the
    /// upstream `origin` (no headers: none for any). Not a version of the mock: versions keep no
    /// secrets.
    pub async fn set_upstream_headers(
        &self,
        workspace: &Workspace,
        id: MockId,
        origin: &str,
        headers: &BTreeMap<String, String>,
    ) -> Result<Mock> {
        let mut tx = self.begin().await?;
        let mock = sqlx::query_as(concat!(
            "UPDATE mocks SET updated_at = now(), upstream_headers = CASE
                 WHEN $4::jsonb = '{}' THEN '{}'
                 ELSE jsonb_build_object('origin', $3::text, 'headers', $4::jsonb) END
             WHERE id = $1 AND workspace_id = $2 RETURNING ",
            mock_columns!()
        ))
        .bind(id)
        .bind(workspace.id())
        .bind(origin)
        .bind(Json(headers))
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        self.commit(tx, Change::Mock(id)).await?;
        Ok(mock)
    }

    /// Starts the mock's recording (when it is not recording already: the start stays) or
    /// stops it. Not a version of the mock.
    pub async fn set_recording(
        &self,
        workspace: &Workspace,
        id: MockId,
        recording: bool,
    ) -> Result<Mock> {
        let mut tx = self.begin().await?;
        let mock = sqlx::query_as(concat!(
            "UPDATE mocks SET updated_at = now(), recording_since = CASE
                 WHEN $3 THEN coalesce(recording_since, now()) END
             WHERE id = $1 AND workspace_id = $2 RETURNING ",
            mock_columns!()
        ))
        .bind(id)
        .bind(workspace.id())
        .bind(recording)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        self.commit(tx, Change::Mock(id)).await?;
        Ok(mock)
    }

    /// Deletes a mock and its examples.
    pub async fn delete_mock(&self, workspace: &Workspace, id: MockId) -> Result<()> {
        let mut tx = self.begin().await?;
        let deleted = sqlx::query("DELETE FROM mocks WHERE id = $1 AND workspace_id = $2")
            .bind(id)
            .bind(workspace.id())
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        self.commit(tx, Change::Mock(id)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_read_names_and_milliseconds() {
        let parse = |json: &str| serde_json::from_str::<Delay>(json);
        assert_eq!(parse("\"2g\"").unwrap(), Delay::TwoG);
        assert_eq!(parse("\"3g\"").unwrap().millis(), 100);
        assert_eq!(parse("1500").unwrap(), Delay::Millis(1500));
        assert_eq!(parse("180000").unwrap().millis(), MAX_DELAY_MS);
    }

    #[test]
    fn delays_beyond_three_minutes_or_unknown_are_refused() {
        for bad in ["180001", "-1", "\"4g\"", "\"100\"", "1.5", "true"] {
            assert!(
                serde_json::from_str::<Delay>(bad).is_err(),
                "{bad} was accepted"
            );
        }
    }

    #[test]
    fn delays_round_trip_through_their_stored_text() {
        for delay in [Delay::None, Delay::TwoG, Delay::ThreeG, Delay::Millis(42)] {
            assert_eq!(Delay::try_from(delay.to_string()).unwrap(), delay);
        }
    }
}

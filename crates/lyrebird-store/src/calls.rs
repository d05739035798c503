//! The call log's rows: written in batches by the server's call-log writer, searched, read,
//! exported and cleared through a [`Workspace`], and kept for a number of days.
//!
//! `calls` is partitioned by month (`calls_pYYYYMM`, plus a default partition for rows outside
//! them); [`Store::ensure_call_partitions`] creates the months ahead and
//! [`Store::apply_call_retention`] drops the old ones. Callback results live in
//! `call_callbacks`, since they may be reported before or after their call is written.

use std::net::IpAddr;

use serde_json::Value;
use sqlx::types::Json;
use sqlx::{FromRow, Postgres, QueryBuilder};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Store;
use crate::error::Result;
use crate::ids::{ExampleId, KeyId, MockId, WorkspaceId};
use crate::workspace::Workspace;

/// How a call was answered, as stored in `calls.outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcomeKind {
    Matched,
    NoMatch,
    Fallback,
    Refused,
    OverQuota,
}

impl CallOutcomeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcomeKind::Matched => "matched",
            CallOutcomeKind::NoMatch => "no_match",
            CallOutcomeKind::Fallback => "fallback",
            CallOutcomeKind::Refused => "refused",
            CallOutcomeKind::OverQuota => "over_quota",
        }
    }
}

/// A body as stored: text when it was UTF-8, else base64 of its bytes; cut to the log's cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBody {
    pub text: String,
    pub base64: bool,
    /// The size in bytes before the cut.
    pub size: u64,
}

/// A call to write. The writer builds it from what the runtime recorded.
#[derive(Debug, Clone)]
pub struct NewCall {
    pub id: Uuid,
    pub workspace_id: WorkspaceId,
    pub mock_id: MockId,
    pub at: OffsetDateTime,
    pub method: String,
    pub host: String,
    pub path: String,
    pub query: String,
    pub request_headers: Vec<(String, String)>,
    pub request_body: StoredBody,
    pub status: u16,
    pub response_headers: Vec<(String, String)>,
    pub response_body: StoredBody,
    pub body_cap: u64,
    pub outcome: CallOutcomeKind,
    pub example_id: Option<ExampleId>,
    pub example_name: Option<String>,
    pub explanation: Option<Value>,
    pub error: Option<String>,
    pub latency_us: u64,
    pub client_addr: Option<IpAddr>,
    pub key_id: Option<KeyId>,
    pub callbacks_queued: u32,
}

/// A callback result to write, for the call `call_id`.
#[derive(Debug, Clone)]
pub struct NewCallback {
    pub id: Uuid,
    pub call_id: Uuid,
    pub at: OffsetDateTime,
    pub url: String,
    pub method: String,
    pub status: Option<u16>,
    pub latency_us: u64,
    pub error: Option<String>,
}

/// Which calls a search or an export wants; `None` fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    /// Upper case, e.g. `GET`.
    pub method: Option<String>,
    pub status: Option<StatusFilter>,
    pub path_prefix: Option<String>,
    /// `true`: answered by an example; `false`: everything else.
    pub matched: Option<bool>,
    /// Inclusive.
    pub from: Option<OffsetDateTime>,
    /// Exclusive.
    pub to: Option<OffsetDateTime>,
    /// A substring, any letter case, of the path, query, headers or bodies.
    pub text: Option<String>,
}

/// A status code, or a class such as 4xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Exact(u16),
    /// 1 to 5: the hundreds digit.
    Class(u8),
}

/// Where a page of calls starts: strictly older than this call (newest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallPosition {
    pub at: OffsetDateTime,
    pub id: Uuid,
}

/// A call in a listing.
#[derive(Debug, Clone, FromRow)]
pub struct CallSummary {
    pub id: Uuid,
    pub at: OffsetDateTime,
    pub method: String,
    pub host: String,
    pub path: String,
    pub query: String,
    pub status: i16,
    pub outcome: String,
    pub example_id: Option<Uuid>,
    pub example_name: Option<String>,
    pub error: Option<String>,
    pub latency_us: i64,
    pub client_addr: Option<String>,
}

impl CallSummary {
    pub fn position(&self) -> CallPosition {
        CallPosition {
            at: self.at,
            id: self.id,
        }
    }
}

/// Everything stored of a call.
#[derive(Debug, Clone, FromRow)]
pub struct StoredCall {
    #[sqlx(flatten)]
    pub summary: CallSummary,
    pub request_headers: Json<Vec<(String, String)>>,
    pub request_body: String,
    pub request_body_base64: bool,
    pub request_body_size: i64,
    pub response_headers: Json<Vec<(String, String)>>,
    pub response_body: String,
    pub response_body_base64: bool,
    pub response_body_size: i64,
    pub body_cap: i64,
    pub explanation: Option<Value>,
    pub key_id: Option<Uuid>,
    pub callbacks_queued: i32,
}

/// A stored callback result.
#[derive(Debug, Clone, FromRow)]
pub struct StoredCallback {
    pub call_id: Uuid,
    pub at: OffsetDateTime,
    pub url: String,
    pub method: String,
    pub status: Option<i16>,
    pub latency_us: i64,
    pub error: Option<String>,
}

/// What a retention pass removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionReport {
    pub dropped_partitions: Vec<String>,
    pub deleted_rows: u64,
}

const SUMMARY_COLUMNS: &str = "id, at, method, host, path, query, status, outcome, example_id, \
     example_name, error, latency_us, host(client_addr) AS client_addr";

const DETAIL_COLUMNS: &str = "id, at, method, host, path, query, status, outcome, example_id, \
     example_name, error, latency_us, host(client_addr) AS client_addr, request_headers, \
     request_body, request_body_base64, request_body_size, response_headers, response_body, \
     response_body_base64, response_body_size, body_cap, explanation, key_id, callbacks_queued";

/// `%`, `_` and `\` taken literally in a LIKE pattern.
fn like_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

impl Store {
    /// Writes calls and callback results in one transaction; a batch written twice (a retry
    /// after a lost answer) is written once.
    pub async fn insert_calls(&self, calls: &[NewCall], callbacks: &[NewCallback]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        // A log, not a ledger: the commit does not wait for the disk. A crash of PostgreSQL
        // itself may lose the last fraction of a second of calls (three times
        // wal_writer_delay at most), never leaves a torn row.
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut *tx)
            .await?;
        if !calls.is_empty() {
            insert_call_rows(&mut tx, calls).await?;
        }
        if !callbacks.is_empty() {
            insert_callback_rows(&mut tx, callbacks).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Calls of a mock, newest first, strictly older than `after` when given.
    pub async fn list_calls(
        &self,
        workspace: &Workspace,
        mock: MockId,
        filter: &CallFilter,
        after: Option<CallPosition>,
        limit: u32,
    ) -> Result<Vec<CallSummary>> {
        let mut query = search(SUMMARY_COLUMNS, workspace, mock, filter, after, limit);
        Ok(query.build_query_as().fetch_all(&self.pool).await?)
    }

    /// Like [`Store::list_calls`], with everything stored of each call.
    pub async fn export_calls(
        &self,
        workspace: &Workspace,
        mock: MockId,
        filter: &CallFilter,
        after: Option<CallPosition>,
        limit: u32,
    ) -> Result<Vec<StoredCall>> {
        let mut query = search(DETAIL_COLUMNS, workspace, mock, filter, after, limit);
        Ok(query.build_query_as().fetch_all(&self.pool).await?)
    }

    /// One call of a mock, with its callback results.
    pub async fn call(
        &self,
        workspace: &Workspace,
        mock: MockId,
        id: Uuid,
    ) -> Result<(StoredCall, Vec<StoredCallback>)> {
        let call: StoredCall = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {DETAIL_COLUMNS} FROM calls WHERE workspace_id = $1 AND mock_id = $2 AND id = $3"
        )))
        .bind(workspace.id())
        .bind(mock)
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        let callbacks = self.callbacks_of(workspace, &[id]).await?;
        Ok((call, callbacks))
    }

    /// The callback results of some of the workspace's calls, oldest first; ids of other
    /// workspaces' calls find nothing.
    pub async fn callbacks_of(
        &self,
        workspace: &Workspace,
        calls: &[Uuid],
    ) -> Result<Vec<StoredCallback>> {
        Ok(sqlx::query_as(
            "SELECT cb.call_id, cb.at, cb.url, cb.method, cb.status, cb.latency_us, cb.error \
             FROM call_callbacks cb \
             WHERE cb.call_id = ANY($2) AND EXISTS ( \
                 SELECT 1 FROM calls c WHERE c.id = cb.call_id AND c.workspace_id = $1) \
             ORDER BY cb.at, cb.id",
        )
        .bind(workspace.id())
        .bind(calls)
        .fetch_all(&self.pool)
        .await?)
    }

    /// How many calls each of the workspace's mocks served since `since` (the dashboard's "calls
    /// this month"); mocks without calls are left out. Like the quota, it counts the calls a mock
    /// answered (matched, no match, fallback), not those refused or over the quota.
    pub async fn calls_per_mock(
        &self,
        workspace: &Workspace,
        since: OffsetDateTime,
    ) -> Result<Vec<(MockId, i64)>> {
        Ok(sqlx::query_as(
            "SELECT mock_id, count(*) FROM calls
             WHERE workspace_id = $1 AND at >= $2
               AND outcome IN ('matched', 'no_match', 'fallback')
             GROUP BY mock_id",
        )
        .bind(workspace.id())
        .bind(since)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Deletes every call of a mock; returns how many there were.
    pub async fn clear_calls(&self, workspace: &Workspace, mock: MockId) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let deleted = sqlx::query(
            "WITH deleted AS ( \
                 DELETE FROM calls WHERE workspace_id = $1 AND mock_id = $2 RETURNING id \
             ), callbacks AS ( \
                 DELETE FROM call_callbacks WHERE call_id IN (SELECT id FROM deleted) \
             ) SELECT count(*) FROM deleted",
        )
        .bind(workspace.id())
        .bind(mock)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(sqlx::Row::get::<i64, _>(&deleted, 0)
            .try_into()
            .unwrap_or(0))
    }

    /// Creates the monthly partitions of the month of `now` and the next, unless they exist.
    pub async fn ensure_call_partitions(&self, now: OffsetDateTime) -> Result<()> {
        sqlx::query("SELECT lyrebird_calls_ensure_partitions($1, 2)")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes calls older than `cutoff`: monthly partitions that end at or before it are
    /// dropped whole, older rows of the others (and callback results) are deleted.
    pub async fn apply_call_retention(&self, cutoff: OffsetDateTime) -> Result<RetentionReport> {
        let partitions: Vec<(String,)> = sqlx::query_as(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = 'calls'::regclass ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut report = RetentionReport::default();
        for (partition,) in partitions {
            if partition_end(&partition).is_some_and(|end| end <= cutoff) {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP TABLE IF EXISTS {partition}"
                )))
                .execute(&self.pool)
                .await?;
                report.dropped_partitions.push(partition);
            }
        }
        report.deleted_rows = sqlx::query("DELETE FROM calls WHERE at < $1")
            .bind(cutoff)
            .execute(&self.pool)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM call_callbacks WHERE at < $1")
            .bind(cutoff)
            .execute(&self.pool)
            .await?;
        Ok(report)
    }
}

/// The end of a monthly partition `calls_pYYYYMM`: the first instant of the next month (UTC).
fn partition_end(name: &str) -> Option<OffsetDateTime> {
    let digits = name.strip_prefix("calls_p")?;
    if digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i32 = digits[..4].parse().ok()?;
    let month: u8 = digits[4..].parse().ok()?;
    let (year, month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    let month = time::Month::try_from(month).ok()?;
    let day = time::Date::from_calendar_date(year, month, 1).ok()?;
    Some(day.midnight().assume_utc())
}

fn search(
    columns: &str,
    workspace: &Workspace,
    mock: MockId,
    filter: &CallFilter,
    after: Option<CallPosition>,
    limit: u32,
) -> QueryBuilder<Postgres> {
    let mut query = QueryBuilder::new(format!("SELECT {columns} FROM calls WHERE workspace_id = "));
    query.push_bind(workspace.id());
    query.push(" AND mock_id = ").push_bind(mock);
    if let Some(method) = &filter.method {
        query.push(" AND method = ").push_bind(method.clone());
    }
    match filter.status {
        Some(StatusFilter::Exact(status)) => {
            query.push(" AND status = ").push_bind(status as i16);
        }
        Some(StatusFilter::Class(class)) => {
            let low = i16::from(class) * 100;
            query.push(" AND status BETWEEN ").push_bind(low);
            query.push(" AND ").push_bind(low + 99);
        }
        None => {}
    }
    if let Some(prefix) = &filter.path_prefix {
        query
            .push(" AND path LIKE ")
            .push_bind(format!("{}%", like_escape(prefix)));
    }
    match filter.matched {
        Some(true) => {
            query.push(" AND outcome = 'matched'");
        }
        Some(false) => {
            query.push(" AND outcome <> 'matched'");
        }
        None => {}
    }
    if let Some(from) = filter.from {
        query.push(" AND at >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        query.push(" AND at < ").push_bind(to);
    }
    if let Some(text) = &filter.text {
        query
            .push(
                " AND lyrebird_call_text(path, query, request_headers, request_body, \
                 response_headers, response_body) ILIKE ",
            )
            .push_bind(format!("%{}%", like_escape(text)));
    }
    if let Some(after) = after {
        query.push(" AND (at, id) < (").push_bind(after.at);
        query.push(", ").push_bind(after.id).push(")");
    }
    query.push(" ORDER BY at DESC, id DESC LIMIT ");
    query.push_bind(i64::from(limit));
    query
}

async fn insert_call_rows(tx: &mut sqlx::PgConnection, calls: &[NewCall]) -> Result<()> {
    // Header pairs go as JSON text, cast to jsonb by PostgreSQL: no JSON tree is built here.
    let headers = |headers: &[(String, String)]| {
        serde_json::to_string(headers).unwrap_or_else(|_| "[]".to_owned())
    };
    let request_headers: Vec<String> = calls.iter().map(|c| headers(&c.request_headers)).collect();
    let response_headers: Vec<String> =
        calls.iter().map(|c| headers(&c.response_headers)).collect();
    let explanations: Vec<Option<&Value>> = calls.iter().map(|c| c.explanation.as_ref()).collect();
    sqlx::query(
        "INSERT INTO calls (id, workspace_id, mock_id, at, method, host, path, query, \
             request_headers, request_body, request_body_base64, request_body_size, status, \
             response_headers, response_body, response_body_base64, response_body_size, body_cap, \
             outcome, example_id, example_name, explanation, error, latency_us, client_addr, \
             key_id, callbacks_queued) \
         SELECT id, workspace_id, mock_id, at, method, host, path, query, request_headers::jsonb, \
             request_body, request_body_base64, request_body_size, status, response_headers::jsonb, \
             response_body, response_body_base64, response_body_size, body_cap, outcome, \
             example_id, example_name, explanation, error, latency_us, client_addr::inet, key_id, \
             callbacks_queued \
         FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::timestamptz[], $5::text[], \
             $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::bool[], \
             $12::int8[], $13::int2[], $14::text[], $15::text[], $16::bool[], $17::int8[], \
             $18::int8[], $19::text[], $20::uuid[], $21::text[], $22::jsonb[], $23::text[], \
             $24::int8[], $25::text[], $26::uuid[], $27::int4[]) \
             AS t(id, workspace_id, mock_id, at, method, host, path, query, request_headers, \
             request_body, request_body_base64, request_body_size, status, response_headers, \
             response_body, response_body_base64, response_body_size, body_cap, outcome, \
             example_id, example_name, explanation, error, latency_us, client_addr, key_id, \
             callbacks_queued) \
         ON CONFLICT DO NOTHING",
    )
    .bind(column(calls, |c| c.id))
    .bind(column(calls, |c| c.workspace_id.as_uuid()))
    .bind(column(calls, |c| c.mock_id.as_uuid()))
    .bind(column(calls, |c| c.at))
    .bind(column(calls, |c| c.method.as_str()))
    .bind(column(calls, |c| c.host.as_str()))
    .bind(column(calls, |c| c.path.as_str()))
    .bind(column(calls, |c| c.query.as_str()))
    .bind(request_headers)
    .bind(column(calls, |c| c.request_body.text.as_str()))
    .bind(column(calls, |c| c.request_body.base64))
    .bind(column(calls, |c| size(c.request_body.size)))
    .bind(column(calls, |c| c.status as i16))
    .bind(response_headers)
    .bind(column(calls, |c| c.response_body.text.as_str()))
    .bind(column(calls, |c| c.response_body.base64))
    .bind(column(calls, |c| size(c.response_body.size)))
    .bind(column(calls, |c| size(c.body_cap)))
    .bind(column(calls, |c| c.outcome.as_str()))
    .bind(column(calls, |c| c.example_id.map(|e| e.as_uuid())))
    .bind(column(calls, |c| c.example_name.as_deref()))
    .bind(explanations)
    .bind(column(calls, |c| c.error.as_deref()))
    .bind(column(calls, |c| size(c.latency_us)))
    .bind(column(calls, |c| c.client_addr.map(|a| a.to_string())))
    .bind(column(calls, |c| c.key_id.map(|k| k.as_uuid())))
    .bind(column(calls, |c| c.callbacks_queued as i32))
    .execute(tx)
    .await?;
    Ok(())
}

async fn insert_callback_rows(
    tx: &mut sqlx::PgConnection,
    callbacks: &[NewCallback],
) -> Result<()> {
    sqlx::query(
        "INSERT INTO call_callbacks (id, call_id, at, url, method, status, latency_us, error) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::timestamptz[], $4::text[], $5::text[], \
             $6::int2[], $7::int8[], $8::text[]) \
         ON CONFLICT DO NOTHING",
    )
    .bind(callbacks.iter().map(|c| c.id).collect::<Vec<_>>())
    .bind(callbacks.iter().map(|c| c.call_id).collect::<Vec<_>>())
    .bind(callbacks.iter().map(|c| c.at).collect::<Vec<_>>())
    .bind(callbacks.iter().map(|c| c.url.as_str()).collect::<Vec<_>>())
    .bind(
        callbacks
            .iter()
            .map(|c| c.method.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(
        callbacks
            .iter()
            .map(|c| c.status.map(|s| s as i16))
            .collect::<Vec<_>>(),
    )
    .bind(
        callbacks
            .iter()
            .map(|c| size(c.latency_us))
            .collect::<Vec<_>>(),
    )
    .bind(
        callbacks
            .iter()
            .map(|c| c.error.as_deref())
            .collect::<Vec<_>>(),
    )
    .execute(tx)
    .await?;
    Ok(())
}

/// A count or size as a `bigint`, saturating (no call is 2^63 bytes or microseconds).
/// One column of the batch, as the array `UNNEST` reads.
fn column<'a, T>(calls: &'a [NewCall], value: impl Fn(&'a NewCall) -> T) -> Vec<T> {
    calls.iter().map(value).collect()
}

fn size(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

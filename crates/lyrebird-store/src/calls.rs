//! The call log's rows: written in batches by the server's call-log writer, searched, read,
//! exported and cleared through a [`Workspace`], and kept for a number of days.
//!
//! `calls` is partitioned by month (`calls_pYYYYMM`, plus a default partition for rows outside
//! them); [`Store::ensure_call_partitions`] creates the months ahead and
//! [`Store::apply_call_retention`] drops the old ones. Callback results live in
//! `call_callbacks`, since they may be reported before or after their call is written.

use std::net::IpAddr;

use serde_json::Value;
use serde_json::value::RawValue;
use sqlx::types::Json;
use sqlx::{FromRow, Postgres, QueryBuilder};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Store;
use crate::copy::CopyRows;
use crate::error::{Result, StoreError};
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
    /// A browser's CORS preflight, answered by the runtime for the mock.
    Preflight,
}

impl CallOutcomeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcomeKind::Matched => "matched",
            CallOutcomeKind::NoMatch => "no_match",
            CallOutcomeKind::Fallback => "fallback",
            CallOutcomeKind::Refused => "refused",
            CallOutcomeKind::OverQuota => "over_quota",
            CallOutcomeKind::Preflight => "preflight",
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
    /// JSON, built by the writer from the engine's typed reasons.
    pub explanation: Option<Box<RawValue>>,
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

/// Calls a text search reads per page at most: about 60 ms of PostgreSQL's time for calls with
/// bodies of a few hundred bytes (docs/call-log.md).
pub const TEXT_SEARCH_WINDOW: i64 = 20_000;

/// A page of calls, newest first.
#[derive(Debug, Clone)]
pub struct CallPage {
    pub calls: Vec<CallSummary>,
    /// Where the next (older) page starts; `None` on the last page.
    pub next: Option<CallPosition>,
    /// Set when a text search read its whole window before the page was full: the time of the
    /// oldest call it read. Older calls were not searched; `next` goes on from there.
    pub searched_back_to: Option<OffsetDateTime>,
}

impl CallPage {
    /// The page of `limit` out of `calls` (fetched one more than `limit`, to know whether more
    /// follow), or a window's end when a text search stopped there.
    fn of(mut calls: Vec<CallSummary>, limit: u32, window_end: Option<CallPosition>) -> Self {
        if calls.len() > limit as usize {
            calls.truncate(limit as usize);
            let next = calls.last().map(CallSummary::position);
            return Self {
                calls,
                next,
                searched_back_to: None,
            };
        }
        Self {
            calls,
            next: window_end,
            searched_back_to: window_end.map(|end| end.at),
        }
    }
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
    /// Writes calls and callback results in one transaction, with `COPY`; a batch written twice
    /// (a retry after a lost answer) is written once.
    pub async fn insert_calls(&self, calls: &[NewCall], callbacks: &[NewCallback]) -> Result<()> {
        match self.copy_calls(calls, callbacks).await {
            // Call and callback ids are made once, so only the primary keys can refuse a row,
            // and only because this very batch was committed before (its rows go in together).
            Err(StoreError::Conflict { .. }) => Ok(()),
            other => other,
        }
    }

    async fn copy_calls(&self, calls: &[NewCall], callbacks: &[NewCallback]) -> Result<()> {
        let mut tx = self.begin().await?;
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

    /// A page of a mock's calls, newest first, strictly older than `after` when given.
    ///
    /// With a text filter the calls are read, not looked up: at most [`TEXT_SEARCH_WINDOW`] of
    /// them per page (those the other filters keep), so a search for rare text answers as quickly
    /// as one for common text. A page the window ended early says how far it read, and `next`
    /// goes on from there.
    pub async fn list_calls(
        &self,
        workspace: &Workspace,
        mock: MockId,
        filter: &CallFilter,
        after: Option<CallPosition>,
        limit: u32,
    ) -> Result<CallPage> {
        let Some(text) = &filter.text else {
            let mut query = QueryBuilder::new(format!("SELECT {SUMMARY_COLUMNS}"));
            push_filters(&mut query, workspace, mock, filter, after);
            push_newest_first(&mut query, i64::from(limit) + 1);
            let calls = query.build_query_as().fetch_all(&self.pool).await?;
            return Ok(CallPage::of(calls, limit, None));
        };
        // The calls of the window that have the text, read newest first until the page is
        // full or the window is read.
        let mut query = QueryBuilder::new(format!("SELECT * FROM (SELECT {SUMMARY_COLUMNS}, "));
        push_text_match(&mut query, text);
        query.push(" AS hit");
        push_filters(&mut query, workspace, mock, filter, after);
        push_newest_first(&mut query, TEXT_SEARCH_WINDOW);
        query.push(") AS scanned WHERE hit");
        push_newest_first(&mut query, i64::from(limit) + 1);
        let calls = query.build_query_as().fetch_all(&self.pool).await?;
        if calls.len() > limit as usize {
            return Ok(CallPage::of(calls, limit, None));
        }
        // The page is not full: the window's oldest call, if the window was full (older calls
        // were not read).
        let mut query = QueryBuilder::new("SELECT at, id");
        push_filters(&mut query, workspace, mock, filter, after);
        query.push(" ORDER BY at DESC, id DESC OFFSET ");
        query.push_bind(TEXT_SEARCH_WINDOW - 1).push(" LIMIT 1");
        let window_end: Option<(OffsetDateTime, Uuid)> =
            query.build_query_as().fetch_optional(&self.pool).await?;
        let window_end = window_end.map(|(at, id)| CallPosition { at, id });
        Ok(CallPage::of(calls, limit, window_end))
    }

    /// Everything stored of a mock's calls, newest first, strictly older than `after` when
    /// given: `limit` of them, for an export reading them all (so the text filter reads every
    /// call the other filters keep, with no window).
    pub async fn export_calls(
        &self,
        workspace: &Workspace,
        mock: MockId,
        filter: &CallFilter,
        after: Option<CallPosition>,
        limit: u32,
    ) -> Result<Vec<StoredCall>> {
        let mut query = QueryBuilder::new(format!("SELECT {DETAIL_COLUMNS}"));
        push_filters(&mut query, workspace, mock, filter, after);
        if let Some(text) = &filter.text {
            query.push(" AND ");
            push_text_match(&mut query, text);
        }
        push_newest_first(&mut query, i64::from(limit));
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
        let mut tx = self.begin().await?;
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

/// ` FROM calls WHERE` the workspace, the mock, every filter but the text, and `after`.
fn push_filters(
    query: &mut QueryBuilder<Postgres>,
    workspace: &Workspace,
    mock: MockId,
    filter: &CallFilter,
    after: Option<CallPosition>,
) {
    query.push(" FROM calls WHERE workspace_id = ");
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
    if let Some(after) = after {
        query.push(" AND (at, id) < (").push_bind(after.at);
        query.push(", ").push_bind(after.id).push(")");
    }
}

/// Whether the call's path, query, headers or bodies hold `text`, in any letter case.
fn push_text_match(query: &mut QueryBuilder<Postgres>, text: &str) {
    query
        .push(
            "lyrebird_call_text(path, query, request_headers, request_body, response_headers, \
             response_body) ILIKE ",
        )
        .push_bind(format!("%{}%", like_escape(text)));
}

fn push_newest_first(query: &mut QueryBuilder<Postgres>, limit: i64) {
    query
        .push(" ORDER BY at DESC, id DESC LIMIT ")
        .push_bind(limit);
}

/// The columns `insert_call_rows` writes, in its order.
const CALL_COLUMNS: &str = "id, workspace_id, mock_id, at, method, host, path, query, \
     request_headers, request_body, request_body_base64, request_body_size, status, \
     response_headers, response_body, response_body_base64, response_body_size, body_cap, outcome, \
     example_id, example_name, explanation, error, latency_us, client_addr, key_id, \
     callbacks_queued";

async fn insert_call_rows(tx: &mut sqlx::PgConnection, calls: &[NewCall]) -> Result<()> {
    let statement = format!("COPY calls ({CALL_COLUMNS}) FROM STDIN (FORMAT binary)");
    let mut rows = CopyRows::start(tx, &statement).await?;
    for call in calls {
        rows.row(27).await?;
        rows.uuid(call.id);
        rows.uuid(call.workspace_id.as_uuid());
        rows.uuid(call.mock_id.as_uuid());
        rows.timestamptz(call.at);
        rows.text(&call.method);
        rows.text(&call.host);
        rows.text(&call.path);
        rows.text(&call.query);
        rows.json(&call.request_headers);
        stored_body(&mut rows, &call.request_body);
        rows.int2(call.status as i16);
        rows.json(&call.response_headers);
        stored_body(&mut rows, &call.response_body);
        rows.int8(size(call.body_cap));
        rows.text(call.outcome.as_str());
        rows.nullable(call.example_id, |rows, id| rows.uuid(id.as_uuid()));
        rows.nullable(call.example_name.as_deref(), CopyRows::text);
        rows.nullable(call.explanation.as_deref(), |rows, raw| {
            rows.text(raw.get())
        });
        rows.nullable(call.error.as_deref(), CopyRows::text);
        rows.int8(size(call.latency_us));
        rows.nullable(call.client_addr, CopyRows::inet);
        rows.nullable(call.key_id, |rows, id| rows.uuid(id.as_uuid()));
        rows.int4(i32::try_from(call.callbacks_queued).unwrap_or(i32::MAX));
    }
    rows.finish().await
}

fn stored_body(rows: &mut CopyRows, body: &StoredBody) {
    rows.text(&body.text);
    rows.bool(body.base64);
    rows.int8(size(body.size));
}

async fn insert_callback_rows(
    tx: &mut sqlx::PgConnection,
    callbacks: &[NewCallback],
) -> Result<()> {
    let statement = "COPY call_callbacks (id, call_id, at, url, method, status, latency_us, \
                     error) FROM STDIN (FORMAT binary)";
    let mut rows = CopyRows::start(tx, statement).await?;
    for callback in callbacks {
        rows.row(8).await?;
        rows.uuid(callback.id);
        rows.uuid(callback.call_id);
        rows.timestamptz(callback.at);
        rows.text(&callback.url);
        rows.text(&callback.method);
        rows.nullable(callback.status, |rows, status| rows.int2(status as i16));
        rows.int8(size(callback.latency_us));
        rows.nullable(callback.error.as_deref(), CopyRows::text);
    }
    rows.finish().await
}

/// A count or size as a `bigint`, saturating (no call is 2^63 bytes or microseconds).
fn size(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

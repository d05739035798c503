//! The call log: calls written in blocks by the mock runtime's call-log writer, searched, read,
//! exported and cleared through a [`Workspace`], and kept for a number of days.
//!
//! Calls are stored in `call_blocks`, one row per mock and writer batch (see [`crate::blocks`]
//! for the encoding), partitioned by month (`call_blocks_pYYYYMM`, plus a default partition for
//! blocks outside them); [`Store::ensure_call_partitions`] creates the months ahead and
//! [`Store::apply_call_retention`] removes the old ones. Listings read a mock's blocks newest
//! first and filter their calls here. Callback results live in `call_callbacks`, since they may
//! be reported before or after their call is written.

use std::borrow::Cow;
use std::net::IpAddr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Store;
pub use crate::blocks::CallBlocks;
use crate::blocks::{self, NewBlock, Scan, ScanRange};
use crate::changes::{CALLS_CHANNEL, WrittenBlock};
use crate::error::{Result, StoreError};
use crate::ids::{ExampleId, KeyId, MockId, WorkspaceId};
use crate::search::{needle_keys, searched_fields};
use crate::workspace::Workspace;

/// The cut-off of block `b`'s workspace: its plan's (`$2` the workspaces, `$3` their cut-offs)
/// or the server's (`$1`).
macro_rules! cutoff_of_block {
    () => {
        "coalesce((SELECT o.cutoff FROM unnest($2::uuid[], $3::timestamptz[]) AS o (workspace_id, cutoff) \
                   WHERE o.workspace_id = b.workspace_id), $1)"
    };
}

/// How a call was answered. Stored by position in blocks of format 1: new kinds go at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcomeKind {
    Matched,
    NoMatch,
    Fallback,
    Refused,
    OverQuota,
    /// A browser's CORS preflight, answered by the runtime for the mock.
    Preflight,
    /// No example matched and the mock's upstream answered (docs/proxy.md).
    Proxied,
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
            CallOutcomeKind::Proxied => "proxied",
        }
    }

    /// Whether the mock answered the call (matched, no match, fallback, proxied): what the
    /// monthly quota and the dashboard count.
    pub fn counts_against_quota(self) -> bool {
        matches!(
            self,
            CallOutcomeKind::Matched
                | CallOutcomeKind::NoMatch
                | CallOutcomeKind::Fallback
                | CallOutcomeKind::Proxied
        )
    }
}

/// A header as the call log keeps it: name and value. The fixed headers the server adds to
/// every mock response (CORS, quota) are borrowed, so logging them copies nothing.
pub type Header = (Cow<'static, str>, Cow<'static, str>);

/// A body as stored: text when it was UTF-8, else base64 of its bytes; cut to the log's cap.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredBody {
    pub text: String,
    pub base64: bool,
    /// The size in bytes before the cut.
    pub size: u64,
}

/// A call as the mock runtime's call log hands it to the writer and as a block keeps it. The
/// order of the fields is the encoding of blocks of format 1 (see [`crate::blocks`]) and the
/// order format 3 writes them in (`crate::delta`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewCall {
    pub id: Uuid,
    /// Kept by the block, not by each call in it.
    #[serde(skip, default = "unset_id")]
    pub workspace_id: WorkspaceId,
    /// Kept by the block, not by each call in it.
    #[serde(skip, default = "unset_id")]
    pub mock_id: MockId,
    /// Kept to the microsecond.
    #[serde(with = "unix_micros")]
    pub at: OffsetDateTime,
    pub method: String,
    pub host: String,
    pub path: String,
    pub query: String,
    pub request_headers: Vec<Header>,
    pub request_body: StoredBody,
    pub status: u16,
    pub response_headers: Vec<Header>,
    pub response_body: StoredBody,
    pub body_cap: u64,
    pub outcome: CallOutcomeKind,
    pub example_id: Option<ExampleId>,
    pub example_name: Option<String>,
    /// JSON, written when the call is encoded, straight from the engine's typed reasons.
    #[serde(with = "raw_json")]
    pub explanation: Option<Box<RawValue>>,
    pub error: Option<String>,
    pub latency_us: u64,
    pub client_addr: Option<IpAddr>,
    pub key_id: Option<KeyId>,
    pub callbacks_queued: u32,
    /// The mock's version that answered it; 0 for calls logged before mocks had versions.
    /// Kept after the call's other fields (format 2 of a block), not among them.
    #[serde(skip)]
    pub version: u32,
}

/// What a decoded call's workspace and mock are until the block's are set.
fn unset_id<T: From<Uuid>>() -> T {
    Uuid::nil().into()
}

impl NewCall {
    pub fn position(&self) -> CallPosition {
        CallPosition {
            at: self.at,
            id: self.id,
        }
    }
}

/// A call's time as microseconds since the Unix epoch (what PostgreSQL's `timestamptz` keeps).
pub(crate) mod unix_micros {
    use serde::de::Error;

    use super::{Deserialize, Deserializer, OffsetDateTime, Serializer};

    pub(crate) fn micros(at: OffsetDateTime) -> i64 {
        i64::try_from(at.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
    }

    pub(crate) fn from_micros(micros: i64) -> Result<OffsetDateTime, time::error::ComponentRange> {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000)
    }

    pub fn serialize<S: Serializer>(at: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(micros(*at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<OffsetDateTime, D::Error> {
        from_micros(i64::deserialize(deserializer)?).map_err(D::Error::custom)
    }
}

/// JSON text kept as a string, read back as the same text.
mod raw_json {
    use serde::de::Error;

    use super::{Deserialize, Deserializer, RawValue, Serializer};

    pub fn serialize<S: Serializer>(
        value: &Option<Box<RawValue>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(raw) => serializer.serialize_some(raw.get()),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Box<RawValue>>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| RawValue::from_string(text).map_err(D::Error::custom))
            .transpose()
    }
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
    /// Where `text` is looked for.
    pub text_in: TextScope,
}

/// Where a call log search looks for its text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TextScope {
    /// The request (path, query, headers, body) and the response (headers, body).
    #[default]
    Anywhere,
    /// The request alone: what the caller sent.
    Request,
    /// The response alone: what the mock answered (a 404's explanation included).
    Response,
}

impl CallFilter {
    /// The text to look for, lower-cased, and a scan of the calls in the filter's time range
    /// older than `after`, in the blocks that may hold that text.
    fn scan<'a>(
        &self,
        store: &'a Store,
        workspace: &Workspace,
        mock: MockId,
        after: Option<CallPosition>,
    ) -> (Option<String>, Scan<'a>) {
        let folded = self.text.as_deref().map(str::to_lowercase);
        let range = ScanRange {
            from: self.from,
            to: self.to,
            before: after,
        };
        let keys = folded
            .as_deref()
            .and_then(|folded| needle_keys(folded, self.text_in));
        let scan = Scan::new(store, workspace, mock, range).only_blocks_with(keys);
        (folded, scan)
    }

    /// Whether the call passes every filter but the time range (the scan applies that).
    fn keeps(&self, call: &NewCall, folded_text: Option<&str>) -> bool {
        self.method
            .as_ref()
            .is_none_or(|method| call.method == *method)
            && self.status.is_none_or(|status| status.keeps(call.status))
            && self
                .path_prefix
                .as_ref()
                .is_none_or(|prefix| call.path.starts_with(prefix.as_str()))
            && self
                .matched
                .is_none_or(|matched| matched == (call.outcome == CallOutcomeKind::Matched))
            && folded_text.is_none_or(|text| has_text(call, text, self.text_in))
    }
}

/// Whether the call's path, query, headers or bodies (those `scope` names) hold `folded` (lower
/// case), in any letter case.
fn has_text<'a>(call: &'a NewCall, folded: &str, scope: TextScope) -> bool {
    let pairs = |headers: &'a [Header]| headers.iter().map(|(name, value)| (&**name, &**value));
    searched_fields(
        [call.path.as_str(), &call.query, &call.request_body.text],
        pairs(&call.request_headers),
        call.response_body.text.as_str(),
        pairs(&call.response_headers),
    )
    .any(|(side, field)| scope.looks_at(side) && contains_folded(field, folded))
}

fn contains_folded(haystack: &str, folded: &str) -> bool {
    if folded.is_empty() {
        return true;
    }
    if haystack.is_ascii() && folded.is_ascii() {
        return haystack
            .as_bytes()
            .windows(folded.len())
            .any(|window| window.eq_ignore_ascii_case(folded.as_bytes()));
    }
    haystack.to_lowercase().contains(folded)
}

/// A status code, or a class such as 4xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Exact(u16),
    /// 1 to 5: the hundreds digit.
    Class(u8),
}

impl StatusFilter {
    fn keeps(self, status: u16) -> bool {
        match self {
            StatusFilter::Exact(exact) => status == exact,
            StatusFilter::Class(class) => status / 100 == u16::from(class),
        }
    }
}

/// Where a page of calls starts: strictly older than this call (newest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallPosition {
    pub at: OffsetDateTime,
    pub id: Uuid,
}

/// Calls a filtered listing reads per page at most, so a search for something rare answers as
/// quickly as one for something common (docs/call-log.md).
pub const SEARCH_WINDOW: usize = 20_000;

/// A page of calls, newest first.
#[derive(Debug, Clone)]
pub struct CallPage {
    pub calls: Vec<CallSummary>,
    /// Where the next (older) page starts; `None` on the last page.
    pub next: Option<CallPosition>,
    /// Set when a filtered listing read its whole window before the page was full: the time of
    /// the oldest call it read. Older calls were not searched; `next` goes on from there.
    pub searched_back_to: Option<OffsetDateTime>,
}

/// A call in a listing.
#[derive(Debug, Clone)]
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
    /// The mock's version that answered, when known.
    pub version: Option<u32>,
}

impl CallSummary {
    pub fn position(&self) -> CallPosition {
        CallPosition {
            at: self.at,
            id: self.id,
        }
    }
}

/// A mock's calls read one at a time, newest first ([`Store::read_calls`]).
pub struct CallReader<'a>(Scan<'a>);

impl CallReader<'_> {
    /// The next older call; `None` after the oldest.
    pub async fn next(&mut self) -> Result<Option<NewCall>> {
        self.0.next().await
    }
}

/// Everything stored of a call.
#[derive(Debug, Clone)]
pub struct StoredCall {
    pub summary: CallSummary,
    pub request_headers: Json<Vec<Header>>,
    pub request_body: String,
    pub request_body_base64: bool,
    pub request_body_size: i64,
    pub response_headers: Json<Vec<Header>>,
    pub response_body: String,
    pub response_body_base64: bool,
    pub response_body_size: i64,
    pub body_cap: i64,
    pub explanation: Option<Value>,
    pub key_id: Option<Uuid>,
    pub callbacks_queued: i32,
}

impl From<NewCall> for CallSummary {
    fn from(call: NewCall) -> Self {
        CallSummary {
            id: call.id,
            at: call.at,
            method: call.method,
            host: call.host,
            path: call.path,
            query: call.query,
            status: i16::try_from(call.status).unwrap_or(i16::MAX),
            outcome: call.outcome.as_str().to_owned(),
            example_id: call.example_id.map(|id| id.as_uuid()),
            example_name: call.example_name,
            error: call.error,
            latency_us: size(call.latency_us),
            client_addr: call.client_addr.map(|addr| addr.to_string()),
            version: (call.version > 0).then_some(call.version),
        }
    }
}

impl From<NewCall> for StoredCall {
    fn from(mut call: NewCall) -> Self {
        let request_body = std::mem::take(&mut call.request_body);
        let response_body = std::mem::take(&mut call.response_body);
        StoredCall {
            explanation: call
                .explanation
                .take()
                .and_then(|raw| serde_json::from_str(raw.get()).ok()),
            request_headers: Json(std::mem::take(&mut call.request_headers)),
            request_body: request_body.text,
            request_body_base64: request_body.base64,
            request_body_size: size(request_body.size),
            response_headers: Json(std::mem::take(&mut call.response_headers)),
            response_body: response_body.text,
            response_body_base64: response_body.base64,
            response_body_size: size(response_body.size),
            body_cap: size(call.body_cap),
            key_id: call.key_id.map(|id| id.as_uuid()),
            callbacks_queued: i32::try_from(call.callbacks_queued).unwrap_or(i32::MAX),
            summary: CallSummary::from(call),
        }
    }
}

/// A count or size as a `bigint`, saturating (no call is 2^63 bytes or microseconds).
fn size(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A stored callback result.
#[derive(Debug, Clone, sqlx::FromRow)]
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
    /// Calls removed from the months that were kept.
    pub deleted_rows: u64,
}

/// How far around the time in a UUIDv7 call id its call's time may be: the runtime takes both
/// from the clock one after the other.
const ID_TIME_SLACK: time::Duration = time::Duration::seconds(5);

impl Store {
    /// Writes calls, in blocks, and callback results in one transaction; a batch written twice
    /// (a retry after a lost answer) is written once.
    pub async fn insert_calls(&self, calls: &CallBlocks, callbacks: &[NewCallback]) -> Result<()> {
        match self.write_blocks(calls.blocks(), callbacks).await {
            // Block and callback ids are the same in a retry, so only the primary keys can
            // refuse a row, and only because this very batch was committed before.
            Err(StoreError::Conflict { .. }) => Ok(()),
            other => other,
        }
    }

    async fn write_blocks(&self, blocks: &[NewBlock], callbacks: &[NewCallback]) -> Result<()> {
        // The commit waits for the write-ahead log to reach the disk (PostgreSQL's default, one
        // flush for up to a batch of calls): the writer lets go of a batch once it is committed,
        // so one committed without waiting would be lost to a crash of PostgreSQL a moment
        // later (the last few hundred milliseconds of calls, then).
        let mut tx = self.begin().await?;
        for block in blocks {
            insert_block(&mut tx, block).await?;
        }
        if !callbacks.is_empty() {
            insert_callback_rows(&mut tx, callbacks).await?;
        }
        tx.commit().await?;
        self.announce_blocks(blocks).await;
        Ok(())
    }

    /// Tells live tails on other processes which blocks were written, after the commit and
    /// best effort: a write never fails for it (a full notification queue, say), and a tail
    /// then misses those calls, which a search shows all the same.
    async fn announce_blocks(&self, blocks: &[NewBlock]) {
        let written: Vec<String> = blocks
            .iter()
            .map(|block| {
                WrittenBlock {
                    origin: self.origin(),
                    workspace: block.workspace_id,
                    mock: block.mock_id,
                    block: block.id,
                    first_at: block.first_at,
                }
                .payload()
            })
            .collect();
        let announced =
            sqlx::query("SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload")
                .bind(CALLS_CHANNEL)
                .bind(&written)
                .execute(&self.pool)
                .await;
        if let Err(error) = announced {
            tracing::warn!(%error, "written calls were not announced to the live tails");
        }
    }

    /// A page of a mock's calls, newest first, strictly older than `after` when given.
    ///
    /// With a filter beyond the time range the calls are read, not looked up: at most
    /// [`SEARCH_WINDOW`] of them per page, so a search for something rare answers as quickly as
    /// one for something common. A page the window ended early says how far it read, and
    /// `next` goes on from there.
    pub async fn list_calls(
        &self,
        workspace: &Workspace,
        mock: MockId,
        filter: &CallFilter,
        after: Option<CallPosition>,
        limit: u32,
    ) -> Result<CallPage> {
        let limit = limit as usize;
        let (folded, mut scan) = filter.scan(self, workspace, mock, after);
        let mut calls = Vec::new();
        let mut read = 0;
        while let Some(call) = scan.next().await? {
            read += 1;
            let position = call.position();
            if filter.keeps(&call, folded.as_deref()) {
                calls.push(CallSummary::from(call));
                if calls.len() > limit {
                    calls.truncate(limit);
                    let next = calls.last().map(CallSummary::position);
                    return Ok(CallPage {
                        calls,
                        next,
                        searched_back_to: None,
                    });
                }
            }
            if read == SEARCH_WINDOW {
                return Ok(CallPage {
                    calls,
                    next: Some(position),
                    searched_back_to: Some(position.at),
                });
            }
        }
        Ok(CallPage {
            calls,
            next: None,
            searched_back_to: None,
        })
    }

    /// Everything stored of a mock's calls, newest first, strictly older than `after` when
    /// given: `limit` of them, for an export reading them all (so the filters read every call,
    /// with no window).
    pub async fn export_calls(
        &self,
        workspace: &Workspace,
        mock: MockId,
        filter: &CallFilter,
        after: Option<CallPosition>,
        limit: u32,
    ) -> Result<Vec<StoredCall>> {
        let (folded, mut scan) = filter.scan(self, workspace, mock, after);
        let mut calls = Vec::new();
        while calls.len() < limit as usize {
            let Some(call) = scan.next().await? else {
                break;
            };
            if filter.keeps(&call, folded.as_deref()) {
                calls.push(StoredCall::from(call));
            }
        }
        Ok(calls)
    }

    /// A reader of every call of a mock in a time range (`from` inclusive, `to` exclusive),
    /// newest first, whole, one at a time: for checks that must see them all (verification).
    pub fn read_calls(
        &self,
        workspace: &Workspace,
        mock: MockId,
        from: Option<OffsetDateTime>,
        to: Option<OffsetDateTime>,
    ) -> CallReader<'_> {
        let range = ScanRange {
            from,
            to,
            before: None,
        };
        CallReader(Scan::new(self, workspace, mock, range))
    }

    /// The calls of one block of a mock, oldest first, as a [`WrittenBlock`] announced it;
    /// none when the block is gone (cleared, or past the retention).
    pub async fn block_calls(&self, written: &WrittenBlock) -> Result<Vec<NewCall>> {
        let mut calls = blocks::read_block(
            &self.pool,
            written.block,
            written.first_at,
            written.workspace,
            written.mock,
        )
        .await?;
        calls.sort_by_key(|call| (call.at, call.id));
        Ok(calls)
    }

    /// One call of a mock, with its callback results.
    pub async fn call(
        &self,
        workspace: &Workspace,
        mock: MockId,
        id: Uuid,
    ) -> Result<(StoredCall, Vec<StoredCallback>)> {
        // A UUIDv7 says when the call was made: only blocks around that time are looked in
        // first.
        let around = id.get_timestamp().and_then(|stamp| {
            let (seconds, nanos) = stamp.to_unix();
            let seconds = i64::try_from(seconds).ok()?;
            OffsetDateTime::from_unix_timestamp(seconds)
                .ok()
                .map(|at| at + time::Duration::nanoseconds(i64::from(nanos)))
        });
        let mut found = self.find_call(workspace, mock, id, around).await?;
        if found.is_none() && around.is_some() {
            found = self.find_call(workspace, mock, id, None).await?;
        }
        let call = StoredCall::from(found.ok_or(StoreError::NotFound)?);
        let callbacks = self
            .callbacks_of(workspace, mock, &[call.summary.position()])
            .await?;
        Ok((call, callbacks))
    }

    async fn find_call(
        &self,
        workspace: &Workspace,
        mock: MockId,
        id: Uuid,
        around: Option<OffsetDateTime>,
    ) -> Result<Option<NewCall>> {
        let mut query = sqlx::QueryBuilder::new(
            "SELECT id, format, calls FROM call_blocks WHERE workspace_id = ",
        );
        query.push_bind(workspace.id());
        query.push(" AND mock_id = ").push_bind(mock);
        query.push(" AND ").push_bind(id).push(" = ANY(call_ids)");
        if let Some(around) = around {
            query
                .push(" AND first_at <= ")
                .push_bind(around + ID_TIME_SLACK);
            query
                .push(" AND last_at >= ")
                .push_bind(around - ID_TIME_SLACK);
        }
        let rows: Vec<(Uuid, i16, Vec<u8>)> = query.build_query_as().fetch_all(&self.pool).await?;
        for (block, format, bytes) in rows {
            let calls = blocks::decode(block, format, &bytes, workspace.id(), mock)?;
            if let Some(call) = calls.into_iter().find(|call| call.id == id) {
                return Ok(Some(call));
            }
        }
        Ok(None)
    }

    /// The callback results of some of a mock's calls, oldest first; calls of other mocks or
    /// workspaces find nothing.
    pub async fn callbacks_of(
        &self,
        workspace: &Workspace,
        mock: MockId,
        calls: &[CallPosition],
    ) -> Result<Vec<StoredCallback>> {
        let (Some(oldest), Some(newest)) = (
            calls.iter().map(|call| call.at).min(),
            calls.iter().map(|call| call.at).max(),
        ) else {
            return Ok(Vec::new());
        };
        let ids: Vec<Uuid> = calls.iter().map(|call| call.id).collect();
        // A microsecond either side: the blocks keep times to the microsecond.
        let slack = time::Duration::microseconds(1);
        Ok(sqlx::query_as(
            "SELECT cb.call_id, cb.at, cb.url, cb.method, cb.status, cb.latency_us, cb.error \
             FROM call_callbacks cb \
             WHERE cb.call_id = ANY($3) AND cb.call_id IN ( \
                 SELECT unnest(b.call_ids) FROM call_blocks b \
                 WHERE b.workspace_id = $1 AND b.mock_id = $2 AND b.call_ids && $3 \
                   AND b.last_at >= $4 AND b.first_at <= $5) \
             ORDER BY cb.at, cb.id",
        )
        .bind(workspace.id())
        .bind(mock)
        .bind(&ids)
        .bind(oldest - slack)
        .bind(newest + slack)
        .fetch_all(&self.pool)
        .await?)
    }

    /// How many calls each of the workspace's mocks answered in blocks that start at or after
    /// `since` (the dashboard's "calls this month"; blocks never span two months); mocks without
    /// such calls are left out. Like the quota, it counts the calls a mock answered (matched, no
    /// match, fallback), not those refused or over the quota.
    pub async fn calls_per_mock(
        &self,
        workspace: &Workspace,
        since: OffsetDateTime,
    ) -> Result<Vec<(MockId, i64)>> {
        Ok(sqlx::query_as(
            "SELECT mock_id, sum(answered)::bigint FROM call_blocks
             WHERE workspace_id = $1 AND first_at >= $2
             GROUP BY mock_id HAVING sum(answered) > 0",
        )
        .bind(workspace.id())
        .bind(since)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Deletes every call of a mock; returns how many there were.
    pub async fn clear_calls(&self, workspace: &Workspace, mock: MockId) -> Result<u64> {
        let mut tx = self.begin().await?;
        let deleted: i64 = sqlx::query_scalar(
            "WITH deleted AS ( \
                 DELETE FROM call_blocks WHERE workspace_id = $1 AND mock_id = $2 \
                 RETURNING call_ids \
             ), callbacks AS ( \
                 DELETE FROM call_callbacks \
                 WHERE call_id IN (SELECT unnest(call_ids) FROM deleted) \
             ) SELECT coalesce(sum(cardinality(call_ids)), 0)::bigint FROM deleted",
        )
        .bind(workspace.id())
        .bind(mock)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(u64::try_from(deleted).unwrap_or(0))
    }

    /// Creates the monthly partitions of the month of `now` and the next, unless they exist.
    pub async fn ensure_call_partitions(&self, now: OffsetDateTime) -> Result<()> {
        sqlx::query("SELECT lyrebird_call_blocks_ensure_partitions($1, 2)")
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes calls older than `cutoff`, or than the retention of the workspace's plan when it
    /// sets one (counted back from now): monthly partitions that end at or before every
    /// workspace's cut-off are dropped whole, older blocks of the others deleted, and the blocks
    /// a cut-off falls in written again without their older calls. Callback results go by their
    /// own time, at the earliest cut-off.
    pub async fn apply_call_retention(&self, cutoff: OffsetDateTime) -> Result<RetentionReport> {
        let plans: Vec<(WorkspaceId, i32)> = sqlx::query_as(
            "SELECT w.id, p.call_retention_days FROM workspaces w JOIN plans p ON p.id = w.plan_id
             WHERE p.call_retention_days IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        let now = OffsetDateTime::now_utc();
        let (workspaces, cutoffs): (Vec<uuid::Uuid>, Vec<OffsetDateTime>) = plans
            .iter()
            .map(|(workspace, days)| {
                let kept = time::Duration::days(i64::from(*days));
                (workspace.as_uuid(), now - kept)
            })
            .unzip();
        let earliest = cutoffs.iter().copied().fold(cutoff, OffsetDateTime::min);
        let latest = cutoffs.iter().copied().fold(cutoff, OffsetDateTime::max);
        let partitions: Vec<(String,)> = sqlx::query_as(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
             WHERE i.inhparent = 'call_blocks'::regclass ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut report = RetentionReport::default();
        for (partition,) in partitions {
            if partition_end(&partition).is_some_and(|end| end <= earliest) {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP TABLE IF EXISTS {partition}"
                )))
                .execute(&self.pool)
                .await?;
                report.dropped_partitions.push(partition);
            }
        }
        let deleted: Option<i64> = sqlx::query_scalar(concat!(
            "WITH deleted AS (DELETE FROM call_blocks b WHERE b.first_at < $4 AND b.last_at < ",
            cutoff_of_block!(),
            " RETURNING call_ids) SELECT sum(cardinality(call_ids))::bigint FROM deleted",
        ))
        .bind(cutoff)
        .bind(&workspaces)
        .bind(&cutoffs)
        .bind(latest)
        .fetch_one(&self.pool)
        .await?;
        report.deleted_rows = u64::try_from(deleted.unwrap_or(0)).unwrap_or(0);
        report.deleted_rows += self
            .cut_blocks(cutoff, &workspaces, &cutoffs, latest)
            .await?;
        sqlx::query("DELETE FROM call_callbacks WHERE at < $1")
            .bind(earliest)
            .execute(&self.pool)
            .await?;
        Ok(report)
    }

    /// Writes the blocks that hold calls on both sides of their workspace's cut-off again with
    /// the newer calls only; returns how many calls were removed.
    async fn cut_blocks(
        &self,
        cutoff: OffsetDateTime,
        workspaces: &[Uuid],
        cutoffs: &[OffsetDateTime],
        latest: OffsetDateTime,
    ) -> Result<u64> {
        type Cut = (
            Uuid,
            OffsetDateTime,
            WorkspaceId,
            MockId,
            i16,
            Vec<u8>,
            OffsetDateTime,
        );
        let cut: Vec<Cut> = sqlx::query_as(concat!(
            "SELECT id, first_at, workspace_id, mock_id, format, calls, ",
            cutoff_of_block!(),
            " FROM call_blocks b WHERE b.first_at < $4 AND b.first_at < ",
            cutoff_of_block!(),
        ))
        .bind(cutoff)
        .bind(workspaces)
        .bind(cutoffs)
        .bind(latest)
        .fetch_all(&self.pool)
        .await?;
        let mut removed = 0;
        for (id, first_at, workspace_id, mock_id, format, bytes, cutoff) in cut {
            let calls = blocks::decode(id, format, &bytes, workspace_id, mock_id)?;
            let before = calls.len();
            let mut kept = CallBlocks::default();
            for call in calls.into_iter().filter(|call| call.at >= cutoff) {
                kept.push(call)?;
            }
            removed += (before - kept.len()) as u64;
            let mut tx = self.begin().await?;
            sqlx::query("DELETE FROM call_blocks WHERE id = $1 AND first_at = $2")
                .bind(id)
                .bind(first_at)
                .execute(&mut *tx)
                .await?;
            for block in kept.blocks() {
                insert_block(&mut tx, block).await?;
            }
            tx.commit().await?;
        }
        Ok(removed)
    }
}

/// The end of a monthly partition `call_blocks_pYYYYMM`: the first instant of the next month
/// (UTC).
fn partition_end(name: &str) -> Option<OffsetDateTime> {
    let digits = name.strip_prefix("call_blocks_p")?;
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

async fn insert_block(tx: &mut sqlx::PgConnection, block: &NewBlock) -> Result<()> {
    sqlx::query(
        "INSERT INTO call_blocks (id, workspace_id, mock_id, first_at, last_at, answered, \
         format, call_ids, calls, trigrams) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(block.id)
    .bind(block.workspace_id)
    .bind(block.mock_id)
    .bind(block.first_at)
    .bind(block.last_at)
    .bind(block.answered)
    .bind(NewBlock::FORMAT)
    .bind(&block.call_ids)
    .bind(block.compressed())
    .bind(block.trigrams())
    .execute(tx)
    .await?;
    Ok(())
}

async fn insert_callback_rows(
    tx: &mut sqlx::PgConnection,
    callbacks: &[NewCallback],
) -> Result<()> {
    /// One field of every callback, for one `UNNEST` array.
    fn column<T>(callbacks: &[NewCallback], field: impl Fn(&NewCallback) -> T) -> Vec<T> {
        callbacks.iter().map(field).collect()
    }
    sqlx::query(
        "INSERT INTO call_callbacks (id, call_id, at, url, method, status, latency_us, error) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::timestamptz[], $4::text[], \
             $5::text[], $6::int2[], $7::int8[], $8::text[])",
    )
    .bind(column(callbacks, |callback| callback.id))
    .bind(column(callbacks, |callback| callback.call_id))
    .bind(column(callbacks, |callback| callback.at))
    .bind(column(callbacks, |callback| callback.url.clone()))
    .bind(column(callbacks, |callback| callback.method.clone()))
    .bind(column(callbacks, |callback| {
        callback.status.map(|status| status as i16)
    }))
    .bind(column(callbacks, |callback| size(callback.latency_us)))
    .bind(column(callbacks, |callback| callback.error.clone()))
    .execute(tx)
    .await?;
    Ok(())
}

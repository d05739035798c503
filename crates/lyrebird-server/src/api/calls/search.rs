//! The call log's admin routes, under `/api/v1/mocks/{id}/calls`: search with filters and
//! cursor paging, one call in full, clear, live tail (`stream`) and export (`export`).
//!
//! Every route first finds the mock in the caller's workspace, so another workspace's mock is a
//! 404 exactly like a missing one; the store functions then filter by that workspace again.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lyrebird_engine::storable::NUL_MESSAGE;
use lyrebird_runtime::call_log::{CallRecord, plain_headers};
use lyrebird_store::calls::{
    CallFilter, CallPosition, CallSummary, StatusFilter, StoredCall, StoredCallback, TextScope,
};
use lyrebird_store::{Mock, MockId, Workspace};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{export, stream};
use crate::AppState;
use crate::api::calls::changes::{AnswerChange, answer_change};
use crate::auth::{Admin, OwnMock, own_mock};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};

/// Calls per page unless `limit` says otherwise, and the most it may say.
const DEFAULT_LIMIT: u32 = 50;
pub(crate) const MAX_LIMIT: u32 = 200;
/// The longest free-text search accepted.
pub(crate) const MAX_TEXT_CHARS: usize = 200;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_calls, clear_calls))
        .routes(routes!(stream::stream_calls))
        .routes(routes!(export::export_calls))
        .routes(routes!(get_call))
}

/// The filters of a search or an export, as the query string gives them.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FilterParams {
    /// Request method, any letter case: `get`, `POST`.
    pub method: Option<String>,
    /// A status (`404`) or a class (`4xx`).
    pub status: Option<String>,
    /// Calls whose path starts with this, e.g. `/users/`.
    pub path_prefix: Option<String>,
    /// `true`: answered by an example; `false`: everything else (no match, fallback, refused,
    /// over quota).
    pub matched: Option<bool>,
    /// Calls at or after this time (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<OffsetDateTime>,
    /// Calls before this time (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<OffsetDateTime>,
    /// Text anywhere in the path, query, headers or bodies, any letter case. With this or any
    /// filter above, a page reads at most 20,000 calls (text of three bytes or more is looked
    /// up in an index first, and blocks of calls that cannot hold it are not read); one that
    /// ends there before it is full says `searched_back_to`, and its `next_cursor` searches on
    /// from there.
    pub q: Option<String>,
    /// Where `q` is looked for: `anywhere` (default), `request` (what the caller sent) or
    /// `response` (what the mock answered, a 404's explanation included).
    #[param(value_type = Option<String>, pattern = "^(anywhere|request|response)$")]
    pub q_in: Option<TextScope>,
}

/// Where a page of a search starts, and its size.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Calls per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl FilterParams {
    /// The filters, or a 422 naming the one that does not read.
    pub fn parse(&self) -> Result<CallFilter, ApiError> {
        let method = given(&self.method)
            .map(|method| {
                if method.bytes().all(|b| b.is_ascii_alphabetic()) && method.len() <= 20 {
                    Ok(method.to_ascii_uppercase())
                } else {
                    Err(ApiError::invalid("method", "a method is letters, e.g. GET"))
                }
            })
            .transpose()?;
        let status = given(&self.status).map(parse_status).transpose()?;

        // The API's query extractor refuses these already; the call log page's search comes
        // here without it.
        for (field, value) in [("q", &self.q), ("path_prefix", &self.path_prefix)] {
            if value.as_deref().is_some_and(|value| value.contains('\0')) {
                return Err(ApiError::invalid(field, NUL_MESSAGE));
            }
        }
        let text = given(&self.q).map(str::to_owned);
        if text
            .as_ref()
            .is_some_and(|text| text.chars().count() > MAX_TEXT_CHARS)
        {
            return Err(ApiError::invalid(
                "q",
                format!("search for at most {MAX_TEXT_CHARS} characters"),
            ));
        }
        Ok(CallFilter {
            method,
            status,
            path_prefix: self.path_prefix.clone().filter(|prefix| !prefix.is_empty()),
            matched: self.matched,
            from: self.from,
            to: self.to,
            text,
            text_in: self.q_in.unwrap_or_default(),
        })
    }
}

/// A parameter that is present and not blank.
fn given(value: &Option<String>) -> Option<&str> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

fn parse_status(status: &str) -> Result<StatusFilter, ApiError> {
    let invalid = || ApiError::invalid("status", "use a status such as 404 or a class such as 4xx");
    let lower = status.to_ascii_lowercase();
    if let Some(class) = lower.strip_suffix("xx") {
        return match class.parse::<u8>() {
            Ok(class @ 1..=5) => Ok(StatusFilter::Class(class)),
            _ => Err(invalid()),
        };
    }
    match status.parse::<u16>() {
        Ok(code @ 100..=599) => Ok(StatusFilter::Exact(code)),
        _ => Err(invalid()),
    }
}

/// A cursor is the position of the last call of a page, opaque to clients.
fn encode_cursor(position: CallPosition) -> String {
    let text = format!(
        "{}.{}",
        position.at.unix_timestamp_nanos(),
        position.id.simple()
    );
    URL_SAFE_NO_PAD.encode(text)
}

fn decode_cursor(cursor: &str) -> Result<CallPosition, ApiError> {
    let invalid = || ApiError::invalid("cursor", "not a cursor from a previous page");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (nanos, id) = text.split_once('.').ok_or_else(invalid)?;
    let nanos: i128 = nanos.parse().map_err(|_| invalid())?;
    Ok(CallPosition {
        at: OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| invalid())?,
        id: Uuid::parse_str(id).map_err(|_| invalid())?,
    })
}

/// A call in a listing or a live tail.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallSummaryView {
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub method: String,
    pub host: String,
    pub path: String,
    /// The query string, without `?`.
    pub query: String,
    pub status: u16,
    /// `matched`, `no_match`, `fallback`, `refused`, `over_quota`, `preflight` or `proxied`.
    #[schema(example = "no_match")]
    pub outcome: String,
    /// Whether an example answered.
    pub matched: bool,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub example_id: Option<Uuid>,
    pub example_name: Option<String>,
    /// A render error, when the example's response could not be rendered.
    pub error: Option<String>,
    pub latency_us: u64,
    pub client_addr: Option<String>,
    /// The mock's version that answered (absent for calls logged before mocks had versions).
    pub version: Option<u32>,
}

impl From<CallSummary> for CallSummaryView {
    fn from(call: CallSummary) -> Self {
        Self {
            id: call.id,
            at: call.at,
            matched: call.outcome == "matched",
            method: call.method,
            host: call.host,
            path: call.path,
            query: call.query,
            status: u16::try_from(call.status).unwrap_or_default(),
            outcome: call.outcome,
            example_id: call.example_id,
            example_name: call.example_name,
            error: call.error,
            latency_us: u64::try_from(call.latency_us).unwrap_or_default(),
            client_addr: call.client_addr,
            version: call.version,
        }
    }
}

impl From<&CallRecord> for CallSummaryView {
    fn from(record: &CallRecord) -> Self {
        let example = record.outcome.example();
        Self {
            id: record.id,
            at: record.at,
            method: record.method.clone(),
            host: record.host.clone(),
            path: record.path.clone(),
            query: record.query.clone(),
            status: record.status,
            outcome: record.outcome.kind().as_str().to_owned(),
            matched: example.is_some(),
            example_id: example.map(|(id, _)| id.as_uuid()),
            example_name: example.map(|(_, name)| name.to_owned()),
            error: record.error.clone(),
            latency_us: record.latency_us,
            client_addr: record.client_addr.map(|addr| addr.to_string()),
            version: Some(record.version).filter(|version| *version > 0),
        }
    }
}

/// A page of calls, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallPage {
    pub calls: Vec<CallSummaryView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<String>,
    /// Set when this page read the most calls a page reads (20,000) before it was full (only a
    /// filter can leave it short); the time of the oldest call read. Older calls were not
    /// searched yet: the next page goes on from there.
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub searched_back_to: Option<time::OffsetDateTime>,
}

/// A body as logged.
#[derive(Debug, Serialize, ToSchema)]
pub struct BodyView {
    /// The body, or base64 of its bytes when it was not UTF-8 text.
    pub text: String,
    /// `utf8` or `base64`.
    #[schema(example = "utf8")]
    pub encoding: &'static str,
    /// Size in bytes as received or sent.
    pub size: u64,
    /// Whether only the first `body_cap` bytes were kept.
    pub truncated: bool,
}

/// One side of a call: its headers (in order, `[name, value]` pairs, secrets redacted) and body.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageView {
    pub headers: Vec<(String, String)>,
    pub body: BodyView,
}

/// The result of a callback the call queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallbackView {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub method: String,
    pub url: String,
    /// The receiver's status, when it answered.
    pub status: Option<u16>,
    pub latency_us: u64,
    pub error: Option<String>,
}

impl From<StoredCallback> for CallbackView {
    fn from(callback: StoredCallback) -> Self {
        Self {
            at: callback.at,
            method: callback.method,
            url: callback.url,
            status: callback.status.and_then(|s| u16::try_from(s).ok()),
            latency_us: u64::try_from(callback.latency_us).unwrap_or_default(),
            error: callback.error,
        }
    }
}

/// Everything logged of a call.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallDetailView {
    #[serde(flatten)]
    pub summary: CallSummaryView,
    pub request: MessageView,
    pub response: MessageView,
    /// The largest body size kept, in bytes.
    pub body_cap: u64,
    /// Matched: which rule decided; no match and fallback: the closest examples and the
    /// condition each failed; refused: the reason.
    #[schema(value_type = Option<Object>)]
    pub explanation: Option<serde_json::Value>,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub key_id: Option<Uuid>,
    /// Callbacks the call queued, and the results that came back so far.
    pub callbacks_queued: u32,
    pub callbacks: Vec<CallbackView>,
    /// When the newest earlier call of the same request (method, path, query, body) got
    /// another example or status: that answer, and why, version to version (not in exports).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer_changed: Option<AnswerChange>,
}

impl CallDetailView {
    pub fn new(
        call: StoredCall,
        callbacks: Vec<StoredCallback>,
        answer_changed: Option<AnswerChange>,
    ) -> Self {
        let cap = u64::try_from(call.body_cap).unwrap_or_default();
        let body = |text: String, base64: bool, size: i64| {
            let size = u64::try_from(size).unwrap_or_default();
            BodyView {
                text,
                encoding: if base64 { "base64" } else { "utf8" },
                size,
                truncated: size > cap,
            }
        };
        Self {
            summary: call.summary.into(),
            request: MessageView {
                headers: plain_headers(call.request_headers.0),
                body: body(
                    call.request_body,
                    call.request_body_base64,
                    call.request_body_size,
                ),
            },
            response: MessageView {
                headers: plain_headers(call.response_headers.0),
                body: body(
                    call.response_body,
                    call.response_body_base64,
                    call.response_body_size,
                ),
            },
            body_cap: cap,
            explanation: call.explanation,
            key_id: call.key_id,
            callbacks_queued: u32::try_from(call.callbacks_queued).unwrap_or_default(),
            callbacks: callbacks.into_iter().map(CallbackView::from).collect(),
            answer_changed,
        }
    }
}

/// Searches a mock's calls, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/mocks/{id}/calls",
    tag = "calls",
    params(
        ("id" = String, Path, format = Uuid, description = "The mock's id"),
        FilterParams,
        PageParams,
    ),
    responses(
        (status = 200, body = CallPage),
        (status = 404, body = ErrorBody),
        (status = 422, description = "A filter that does not read", body = ErrorBody),
    )
)]
async fn list_calls(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(mock): ApiPath<MockId>,
    ApiQuery(filter): ApiQuery<FilterParams>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<CallPage>, ApiError> {
    let page = search(&state, &admin.workspace, mock, &filter, &page).await?;
    Ok(Json(page))
}

/// The `limit` of a page: 1 to [`MAX_LIMIT`], `default` when left out; a 422 naming `limit`
/// otherwise.
pub(crate) fn page_size(limit: Option<u32>, default: u32) -> Result<u32, ApiError> {
    match limit {
        None => Ok(default),
        Some(limit @ 1..=MAX_LIMIT) => Ok(limit),
        Some(_) => Err(ApiError::invalid(
            "limit",
            format!("use a number from 1 to {MAX_LIMIT}"),
        )),
    }
}

/// A page of a mock's calls, newest first: what the API and the call log page show.
pub async fn search(
    state: &AppState,
    workspace: &Workspace,
    mock: MockId,
    filter: &FilterParams,
    params: &PageParams,
) -> Result<CallPage, ApiError> {
    let filter = filter.parse()?;
    let limit = page_size(params.limit, DEFAULT_LIMIT)?;
    let after = params
        .cursor
        .as_deref()
        .filter(|cursor| !cursor.is_empty())
        .map(decode_cursor)
        .transpose()?;
    own_mock(state, workspace, mock).await?;
    let page = state
        .store
        .list_calls(workspace, mock, &filter, after, limit)
        .await?;
    Ok(CallPage {
        calls: page.calls.into_iter().map(CallSummaryView::from).collect(),
        next_cursor: page.next.map(encode_cursor),
        searched_back_to: page.searched_back_to,
    })
}

/// One call in full: headers, bodies, explanation and callback results.
#[utoipa::path(
    get,
    path = "/api/v1/mocks/{id}/calls/{call_id}",
    tag = "calls",
    params(
        ("id" = String, Path, format = Uuid, description = "The mock's id"),
        ("call_id" = String, Path, format = Uuid),
    ),
    responses((status = 200, body = CallDetailView), (status = 404, body = ErrorBody))
)]
async fn get_call(
    State(state): State<AppState>,
    OwnMock(admin, mock): OwnMock,
    ApiPath(CallPath { call_id }): ApiPath<CallPath>,
) -> Result<Json<CallDetailView>, ApiError> {
    Ok(Json(
        detail(&state, &admin.workspace, &mock, call_id).await?,
    ))
}

/// The route's `{call_id}`, beside the mock's `{id}`.
#[derive(Debug, Deserialize)]
pub struct CallPath {
    pub call_id: Uuid,
}

/// One call of a mock of the workspace in full: what the API and the call's page show.
pub async fn detail(
    state: &AppState,
    workspace: &Workspace,
    mock: &Mock,
    call: Uuid,
) -> Result<CallDetailView, ApiError> {
    let (call, callbacks) = state.store.call(workspace, mock.id, call).await?;
    let answer_changed = answer_change(state, workspace, mock, &call).await?;
    Ok(CallDetailView::new(call, callbacks, answer_changed))
}

/// Deletes every logged call of the mock.
#[utoipa::path(
    delete,
    path = "/api/v1/mocks/{id}/calls",
    tag = "calls",
    params(("id" = String, Path, format = Uuid, description = "The mock's id")),
    responses((status = 204, description = "Cleared"), (status = 404, body = ErrorBody))
)]
async fn clear_calls(
    State(state): State<AppState>,
    OwnMock(admin, mock): OwnMock,
) -> Result<StatusCode, ApiError> {
    clear(&state, &admin.workspace, &mock).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes every logged call of a mock of the workspace; returns how many there were.
pub async fn clear(state: &AppState, workspace: &Workspace, mock: &Mock) -> Result<u64, ApiError> {
    Ok(state.store.clear_calls(workspace, mock.id).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_as_the_position_it_was_made_from() {
        let position = CallPosition {
            at: OffsetDateTime::from_unix_timestamp_nanos(1_763_726_400_123_456_789).unwrap(),
            id: Uuid::now_v7(),
        };
        assert_eq!(decode_cursor(&encode_cursor(position)).unwrap(), position);
        for bad in ["", "abc", "!!!", &URL_SAFE_NO_PAD.encode("12.not-a-uuid")] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_status_filter_is_a_code_or_a_class() {
        assert_eq!(parse_status("404").unwrap(), StatusFilter::Exact(404));
        assert_eq!(parse_status("4xx").unwrap(), StatusFilter::Class(4));
        assert_eq!(parse_status("5XX").unwrap(), StatusFilter::Class(5));
        for bad in ["6xx", "0xx", "99", "600", "4x", "abc"] {
            assert!(parse_status(bad).is_err(), "{bad}");
        }
    }
}

//! Examples from the real API (docs/proxy.md, "Recording" and "Examples from calls"): a mock's
//! recording (`GET/POST /api/v1/mocks/{id}/recording`, `POST .../recording/stop`), which passes
//! every call no example matches to the upstream and, when stopped, turns those calls into
//! examples; and calls chosen in the call log turned into examples
//! (`POST .../draft/examples/from-calls`). Both learn the examples the same way
//! ([`lyrebird_import::learn`]) and add them to the mock's draft, where they are reviewed (kept,
//! edited or deleted) and published: nothing they add answers a call before that.

use std::borrow::Cow;
use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use lyrebird_import::learn::{self, Exchange};
use lyrebird_store::calls::{CallFilter, CallPosition, StoredCall};
use lyrebird_store::{Mock, MockId, StoreError, Workspace};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::api::drafts::{DraftView, ExampleEdit};
use crate::api::verify::CALL_LOG_WAIT;
use crate::auth::{Admin, OwnMock};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath};

/// The most calls one stop or one request turns into examples: a recording's newest ones.
pub const MAX_CALLS: usize = 1000;
/// Calls read from the log at a time.
const PAGE: u32 = 200;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(recording, start_recording))
        .routes(routes!(stop_recording))
        .routes(routes!(examples_from_calls))
}

/// Whether the mock is recording.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordingView {
    pub recording: bool,
    /// When the recording began.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub since: Option<OffsetDateTime>,
}

impl From<&Mock> for RecordingView {
    fn from(mock: &Mock) -> Self {
        RecordingView {
            recording: mock.recording_since.is_some(),
            since: mock.recording_since,
        }
    }
}

/// What calls became.
#[derive(Debug, Serialize, ToSchema)]
pub struct LearnedView {
    /// Calls read.
    pub calls: usize,
    /// Examples added to the draft.
    pub added: usize,
    /// Calls that repeated an example already made from another.
    pub folded: usize,
    /// Calls that could not become examples, and why.
    pub skipped: Vec<SkippedCall>,
    /// Examples the engine refused, and other notes.
    pub warnings: Vec<String>,
    /// The draft with the new examples last; none when nothing was added and the mock had no
    /// draft.
    pub draft: Option<DraftView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SkippedCall {
    pub call_id: Uuid,
    pub reason: String,
}

/// The calls to turn into examples.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChosenCalls {
    /// Ids of calls in the mock's call log, 1 to 1,000.
    pub calls: Vec<Uuid>,
}

/// Whether the mock is recording, and since when.
#[utoipa::path(
    get,
    path = "/api/v1/mocks/{id}/recording",
    tag = "recording",
    params(("id" = String, Path, format = Uuid, description = "The mock's id")),
    responses((status = 200, body = RecordingView), (status = 404, body = ErrorBody))
)]
async fn recording(OwnMock(_admin, mock): OwnMock) -> Json<RecordingView> {
    Json(RecordingView::from(&mock))
}

/// Starts recording: from now on, every call no example matches goes to the mock's upstream,
/// pass-through on or off. Starting a recording that runs already keeps its start.
#[utoipa::path(
    post,
    path = "/api/v1/mocks/{id}/recording",
    tag = "recording",
    params(("id" = String, Path, format = Uuid, description = "The mock's id")),
    responses(
        (status = 200, body = RecordingView),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The mock has no upstream (`no_upstream`)", body = ErrorBody),
    )
)]
async fn start_recording(
    State(state): State<AppState>,
    OwnMock(admin, mock): OwnMock,
) -> Result<Json<RecordingView>, ApiError> {
    let mock = start(&state, &admin.workspace, &mock).await?;
    Ok(Json(RecordingView::from(&mock)))
}

/// Starts the mock's recording (the API's and the web app's).
pub(crate) async fn start(
    state: &AppState,
    workspace: &Workspace,
    mock: &Mock,
) -> Result<Mock, ApiError> {
    if mock.settings.upstream.is_none() {
        return Err(ApiError::StateConflict {
            code: "no_upstream",
            message: "the mock has no upstream to record: set `upstream` first".to_owned(),
        });
    }
    Ok(state.store.set_recording(workspace, mock.id, true).await?)
}

/// Stops recording and turns the calls the upstream answered since it began (the newest 1,000)
/// into examples of the mock's draft, which is started when the mock has none.
#[utoipa::path(
    post,
    path = "/api/v1/mocks/{id}/recording/stop",
    tag = "recording",
    params(("id" = String, Path, format = Uuid, description = "The mock's id")),
    responses(
        (status = 200, body = LearnedView),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The mock is not recording (`not_recording`)", body = ErrorBody),
        (status = 413, description = "The draft would hold too much (`mock_too_large`)", body = ErrorBody),
        (status = 503, description = "The call log is behind (`call_log_behind`)", body = ErrorBody),
    )
)]
async fn stop_recording(
    State(state): State<AppState>,
    OwnMock(admin, mock): OwnMock,
) -> Result<Json<LearnedView>, ApiError> {
    Ok(Json(stop(&state, &admin.workspace, &mock).await?))
}

/// Stops the mock's recording and learns from its calls (the API's and the web app's).
pub(crate) async fn stop(
    state: &AppState,
    workspace: &Workspace,
    mock: &Mock,
) -> Result<LearnedView, ApiError> {
    let Some(since) = mock.recording_since else {
        return Err(ApiError::StateConflict {
            code: "not_recording",
            message: "the mock is not recording: start a recording first".to_owned(),
        });
    };
    let mock = state.store.set_recording(workspace, mock.id, false).await?;
    tokio::time::timeout(CALL_LOG_WAIT, state.runtime.call_log().written())
        .await
        .map_err(|_| ApiError::CallLogBehind)?;
    let filter = CallFilter {
        matched: Some(false),
        from: Some(since),
        ..CallFilter::default()
    };
    let mut calls = Vec::new();
    let mut after: Option<CallPosition> = None;
    while calls.len() < MAX_CALLS {
        let page = state
            .store
            .export_calls(workspace, mock.id, &filter, after, PAGE)
            .await?;
        after = page.last().map(|call| call.summary.position());
        let more = page.len() == PAGE as usize;
        calls.extend(
            page.into_iter().filter(|call| {
                call.summary.outcome == "proxied" && call.summary.example_id.is_none()
            }),
        );
        if !more {
            break;
        }
    }
    calls.truncate(MAX_CALLS);
    calls.reverse();
    learn_into_draft(state, workspace, &mock, &calls).await
}

/// Turns calls chosen in the mock's call log into examples of its draft, which is started when
/// the mock has none. Calls the upstream or an example answered are used; others (a miss's 404,
/// a refusal) are skipped and named.
#[utoipa::path(
    post,
    path = "/api/v1/mocks/{id}/draft/examples/from-calls",
    tag = "recording",
    params(("id" = String, Path, format = Uuid, description = "The mock's id")),
    request_body = ChosenCalls,
    responses(
        (status = 200, body = LearnedView),
        (status = 404, body = ErrorBody),
        (status = 413, description = "The draft would hold too much (`mock_too_large`)", body = ErrorBody),
        (status = 422, description = "No calls, too many, or one not in the mock's log (`field: calls[i]`)", body = ErrorBody),
    )
)]
async fn examples_from_calls(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<MockId>,
    ApiJson(chosen): ApiJson<ChosenCalls>,
) -> Result<Json<LearnedView>, ApiError> {
    let mock = state.store.mock(&admin.workspace, id).await?;
    Ok(Json(
        from_calls(&state, &admin.workspace, &mock, &chosen.calls).await?,
    ))
}

/// Learns examples from the chosen calls (the API's and the web app's).
pub(crate) async fn from_calls(
    state: &AppState,
    workspace: &Workspace,
    mock: &Mock,
    ids: &[Uuid],
) -> Result<LearnedView, ApiError> {
    if ids.is_empty() || ids.len() > MAX_CALLS {
        return Err(ApiError::invalid(
            "calls",
            format!("name 1 to {MAX_CALLS} calls of the mock's call log"),
        ));
    }
    let mut calls: Vec<StoredCall> = Vec::with_capacity(ids.len());
    let mut read = BTreeSet::new();
    for (index, id) in ids.iter().enumerate() {
        if !read.insert(*id) {
            continue;
        }
        match state.store.call(workspace, mock.id, *id).await {
            Ok((call, _)) => calls.push(call),
            Err(StoreError::NotFound) => {
                return Err(ApiError::invalid(
                    format!("calls[{index}]"),
                    format!("call {id} is not in the mock's call log"),
                ));
            }
            Err(error) => return Err(error.into()),
        }
    }
    calls.sort_by_key(|call| call.summary.id);
    learn_into_draft(state, workspace, mock, &calls).await
}

/// Learns examples from the calls, oldest first, and adds them to the mock's draft.
async fn learn_into_draft(
    state: &AppState,
    workspace: &Workspace,
    mock: &Mock,
    calls: &[StoredCall],
) -> Result<LearnedView, ApiError> {
    let mut skipped = Vec::new();
    let exchanges: Vec<Exchange> = calls
        .iter()
        .filter_map(|call| match exchange(call) {
            Ok(exchange) => Some(exchange),
            Err(reason) => {
                skipped.push(SkippedCall {
                    call_id: call.summary.id,
                    reason,
                });
                None
            }
        })
        .collect();
    let learned = learn::examples_from(&exchanges, &mock.upstream_header_names);
    let added = learned.examples.len();
    let draft = if added == 0 {
        match state.store.draft(workspace, mock.id).await {
            Ok(draft) => Some(draft),
            Err(StoreError::NotFound) => None,
            Err(error) => return Err(error.into()),
        }
    } else {
        match state.store.start_draft(workspace, mock.id).await {
            Ok(_) | Err(StoreError::DraftExists) => {}
            Err(error) => return Err(error.into()),
        }
        let (draft, ()) = state
            .store
            .edit_draft(workspace, mock.id, None, |_, examples| {
                ExampleEdit::AddAll(learned.examples).apply(examples)
            })
            .await?;
        Some(draft)
    };
    Ok(LearnedView {
        calls: calls.len(),
        added,
        folded: learned.folded,
        skipped,
        warnings: learned.warnings.iter().map(ToString::to_string).collect(),
        draft: draft.map(DraftView::from),
    })
}

/// The call as an exchange with an API, or why it cannot be one.
fn exchange(call: &StoredCall) -> Result<Exchange, String> {
    let summary = &call.summary;
    match summary.outcome.as_str() {
        "matched" => {}
        "proxied" => {
            let upstream = call
                .explanation
                .as_ref()
                .and_then(|explanation| explanation.get("upstream"));
            let status = upstream.and_then(|upstream| upstream.get("status"));
            let error = upstream
                .and_then(|upstream| upstream.get("error"))
                .and_then(Value::as_str);
            match (status.and_then(Value::as_i64), error) {
                // An answer passed on as it came, and cut short.
                (Some(_), Some(error)) => {
                    return Err(format!("the upstream's answer was not whole: {error}"));
                }
                (Some(status), None) if status == i64::from(summary.status) => {}
                (Some(_), None) => {
                    return Err(
                        "the mock's fault or chaos changed the upstream's answer".to_owned()
                    );
                }
                (None, error) => {
                    let error = error.unwrap_or("no answer");
                    return Err(format!("the upstream did not answer: {error}"));
                }
            }
        }
        outcome => {
            return Err(format!(
                "answered by Lyrebird ({outcome}), not by an example or the upstream"
            ));
        }
    }
    if call.request_body_base64 || call.response_body_base64 {
        return Err("a body is binary, which an example cannot hold".to_owned());
    }
    if call.request_body_size > call.body_cap || call.response_body_size > call.body_cap {
        return Err(format!(
            "the call log kept only the first {} bytes of a body",
            call.body_cap
        ));
    }
    let content_type = call
        .request_headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        .map(|(_, value)| value.to_string());
    Ok(Exchange {
        method: summary.method.clone(),
        path: summary.path.clone(),
        query: summary.query.clone(),
        request_content_type: content_type,
        request_body: call.request_body.clone(),
        status: u16::try_from(summary.status).unwrap_or_default(),
        response_headers: call
            .response_headers
            .iter()
            .map(|(name, value)| lyrebird_engine::Header {
                name: Cow::clone(name).into_owned(),
                value: Cow::clone(value).into_owned(),
            })
            .collect(),
        response_body: call.response_body.clone(),
    })
}

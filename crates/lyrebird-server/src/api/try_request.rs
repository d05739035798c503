//! `POST /api/v1/mocks/{id}/try`: sends a sample request through a mock and answers which
//! example would answer it, why, and the response it would give.
//!
//! The request goes through the compiled mock that serves real calls (the runtime's cache), so
//! the answer is the one a call would get, but nothing is counted against the quota, nothing is
//! written to the call log, no key is needed for a private mock, there is no delay (it is
//! reported), and no callback is sent. The web app's "try a request" panel calls it.
//!
//! A try costs what a call costs, up to a render's and a request's expressions' budgets, but
//! spends no quota: a workspace may have two under way at once ([`TRIES`]).

use axum::Json;
use axum::extract::State;
use axum::http::Method;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lyrebird_runtime::call_log::CallOutcome;
use lyrebird_runtime::{TriedAnswer, TryError};
use lyrebird_store::MockId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::api::gate::Gate;
use crate::auth::Admin;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath};

/// Tries under way: two at a time for a workspace, two per core in all.
pub(crate) static TRIES: Gate = Gate::new(
    2,
    2,
    "this workspace has two tries under way: send the next when one is answered",
    "the server is trying as many requests as it can: try again in a moment",
);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(try_request))
}

/// A request to try. Every field has a default: `{}` tries `GET /`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TryRequest {
    /// `GET` unless given.
    #[serde(default = "get")]
    #[schema(example = "GET")]
    pub method: String,
    /// The path after the mock's URL, with its query string.
    #[serde(default = "root")]
    #[schema(example = "/pets/1?expand=owner")]
    pub path: String,
    /// In order; a name may repeat.
    #[serde(default)]
    pub headers: Vec<TryHeader>,
    /// The body, as text.
    #[serde(default)]
    pub body: String,
}

fn get() -> String {
    "GET".to_owned()
}

fn root() -> String {
    "/".to_owned()
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TryHeader {
    pub name: String,
    pub value: String,
}

/// What the mock would do with the request.
#[derive(Debug, Serialize, ToSchema)]
pub struct TryResult {
    /// `matched` (an example answers), `fallback` (none does; the mock's fallback response
    /// answers) or `no_match` (none does; a 404 that explains).
    #[schema(example = "matched")]
    pub outcome: &'static str,
    /// The example that answers, when one does.
    pub example: Option<TriedExample>,
    /// Why that example: the engine's `decided_by` (rules level, or Postman score and path step).
    #[schema(value_type = Option<Object>)]
    pub decided_by: Option<Value>,
    /// The same, in words: what of the request the example matched, and what broke a tie.
    pub reason: Option<String>,
    /// Why no example answers: the nearest misses, closest first, each with the condition it
    /// failed.
    #[schema(value_type = Option<Object>)]
    pub explanation: Option<Value>,
    pub response: TriedResponse,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TriedExample {
    #[schema(value_type = String, format = Uuid)]
    pub id: lyrebird_store::ExampleId,
    pub name: String,
}

/// The response, rendered as a real call would get it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TriedResponse {
    pub status: u16,
    pub headers: Vec<TryHeader>,
    /// The body as text, or base64 when it is not UTF-8 (`body_base64`).
    pub body: String,
    pub body_base64: bool,
    /// The delay a real call would wait (the mock's and the example's); not waited here.
    pub delay_ms: u64,
    /// Why the response could not be rendered as the example says, if it could not.
    pub error: Option<String>,
}

impl TryRequest {
    pub(crate) fn into_engine_request(self) -> Result<lyrebird_engine::Request, ApiError> {
        let method = self.method.trim().to_ascii_uppercase();
        if method.is_empty() || Method::from_bytes(method.as_bytes()).is_err() {
            return Err(ApiError::invalid(
                "method",
                "a method is a word such as GET or POST",
            ));
        }
        let (path, query) = self
            .path
            .trim()
            .split_once('?')
            .unwrap_or((self.path.trim(), ""));
        let headers = self
            .headers
            .into_iter()
            .map(|header| (header.name.trim().to_ascii_lowercase(), header.value))
            .collect();
        Ok(lyrebird_engine::Request::new(
            method,
            path,
            query,
            headers,
            self.body.into_bytes(),
        ))
    }
}

impl From<TriedAnswer> for TryResult {
    fn from(answer: TriedAnswer) -> Self {
        let (example, decided_by, reason, explanation) = match &answer.outcome {
            CallOutcome::Matched {
                example_id,
                example_name,
                decided_by,
                ..
            } => (
                Some(TriedExample {
                    id: *example_id,
                    name: example_name.clone(),
                }),
                answer.outcome.explanation(),
                Some(decided_by.describe()),
                None,
            ),
            other => (None, None, None, other.explanation()),
        };
        let (body, body_base64) = match String::from_utf8(answer.body.to_vec()) {
            Ok(text) => (text, false),
            Err(_) => (STANDARD.encode(&answer.body), true),
        };
        TryResult {
            outcome: answer.outcome.kind().as_str(),
            example,
            decided_by,
            reason,
            explanation,
            response: TriedResponse {
                status: answer.status,
                headers: answer
                    .headers
                    .into_iter()
                    .map(|(name, value)| TryHeader { name, value })
                    .collect(),
                body,
                body_base64,
                delay_ms: answer.delay_ms,
                error: answer.error,
            },
        }
    }
}

/// Tries a request against the mock, without the quota or the call log.
#[utoipa::path(
    post,
    path = "/api/v1/mocks/{id}/try",
    tag = "mocks",
    params(("id" = String, Path, format = Uuid, description = "The mock's id")),
    request_body = TryRequest,
    responses(
        (status = 200, description = "What the mock would answer", body = TryResult),
        (status = 404, body = ErrorBody),
        (status = 422, description = "A method that is not one", body = ErrorBody),
        (status = 429, description = "Two tries of this workspace are under way, or the server is trying all it can (`busy`)", body = ErrorBody),
    )
)]
async fn try_request(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<MockId>,
    ApiJson(request): ApiJson<TryRequest>,
) -> Result<Json<TryResult>, ApiError> {
    let request = request.into_engine_request()?;
    let _trying = TRIES.enter(admin.workspace.id())?;
    let answer = state
        .runtime
        .try_request(admin.workspace.id(), id, request)
        .await;
    Ok(Json(tried(answer)?.ok_or(ApiError::NotFound)?))
}

/// The runtime's answer to a try, or its refusal, as the API gives them.
pub(crate) fn tried(
    answer: Result<Option<TriedAnswer>, TryError>,
) -> Result<Option<TryResult>, ApiError> {
    answer
        .map(|answer| answer.map(TryResult::from))
        .map_err(|error| match error {
            TryError::Store(error) => ApiError::from(error),
            TryError::Broken(reason) => ApiError::invalid("mock", reason),
            TryError::StateKey(reason) => {
                ApiError::invalid("headers", format!("x-lyrebird-state: {reason}"))
            }
        })
}

//! What a mock received, checked: `POST /api/v1/mocks/{id}/verify` (how many calls fit a
//! pattern), `.../verify/order` (calls fitting these patterns came in this order) and
//! `.../verify/unmatched` (the calls no example answered) — docs/testing-with-lyrebird.md,
//! "Verifying what a mock received".
//!
//! A pattern is written as an example's `request`, and compiled as the one example of a mock
//! of its own: a logged call fits when the engine would choose that example for it, and a call
//! that does not fit is explained by the engine as it explains a miss. The checks read the
//! durable call log, so they see the calls of every server on the database; each waits first
//! for this server's log writer to have written the calls answered before it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lyrebird_engine::{CompiledMock, Example, RequestPattern, Selection};
use lyrebird_store::calls::{CallOutcomeKind, NewCall};
use lyrebird_store::state::check_state_key;
use lyrebird_store::{Mock, Workspace};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::api::gate::Gate;
use crate::auth::OwnMock;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;

/// The most calls one check reads; a range with more is refused (narrow it).
pub const MAX_CALLS_EXAMINED: usize = 100_000;
/// The longest wait for this server's call log writer.
pub const CALL_LOG_WAIT: Duration = Duration::from_secs(5);
/// Calls listed in an answer, and near misses shown.
const CALLS_LISTED: usize = 100;
const NEAR_MISSES: usize = 5;
/// Calls checked at a time, off the async workers: a batch holds their requests' bodies, up to
/// the call log's cap each.
const BATCH: usize = 256;
/// Room for checks: one per workspace at a time, two per core in all.
static CHECKS: Gate = Gate::new(
    1,
    2,
    "this workspace has a check of its calls under way: send the next when it is answered",
    "the server is checking as many call logs as it can: try again in a moment",
);
/// The most patterns of an order check.
const MAX_ORDER_REQUESTS: usize = 50;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(verify_count))
        .routes(routes!(verify_order))
        .routes(routes!(verify_unmatched))
}

/// How many of the mock's calls fit a pattern. Without `count`, `at_least` or `at_most`, at
/// least one must.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CountCheck {
    /// A request pattern in the example format's `request` form (method, path, query,
    /// headers, cookies, body, expression).
    #[schema(value_type = Object)]
    pub request: RequestPattern,
    /// Exactly this many.
    pub count: Option<u64>,
    pub at_least: Option<u64>,
    pub at_most: Option<u64>,
    /// Calls at or after this time (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub since: Option<OffsetDateTime>,
    /// Calls before this time (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub until: Option<OffsetDateTime>,
    /// Only calls that sent this `x-lyrebird-state` (one test run's).
    pub state: Option<String>,
}

/// Calls fitting these patterns, one after the other, in this order (others may come between).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderCheck {
    /// 1 to 50 request patterns.
    #[schema(value_type = Vec<Object>)]
    pub requests: Vec<RequestPattern>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub since: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub until: Option<OffsetDateTime>,
    pub state: Option<String>,
}

/// The calls no example answered (a 404 without a match, or the fallback's answer).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnmatchedCheck {
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub since: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub until: Option<OffsetDateTime>,
    pub state: Option<String>,
}

/// A logged call, briefly.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CheckedCall {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
}

/// A call that did not fit, and why, in the engine's words.
#[derive(Debug, Serialize, ToSchema)]
pub struct NearCall {
    pub call: CheckedCall,
    /// 0 would fit; 1 shares nothing with the pattern.
    pub distance: f64,
    /// The condition it failed.
    pub failed: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CountVerdict {
    pub held: bool,
    /// The verdict in one sentence.
    pub message: String,
    /// Calls that fit the pattern.
    pub matched: usize,
    /// Calls read (in the range and of the state).
    pub examined: usize,
    /// The first 100 calls that fit, oldest first.
    pub calls: Vec<CheckedCall>,
    /// When it did not hold: the 5 calls closest to fitting, closest first.
    pub near_misses: Vec<NearCall>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderVerdict {
    pub held: bool,
    pub message: String,
    pub examined: usize,
    /// The call found for each pattern, in order, as far as the order held.
    pub calls: Vec<CheckedCall>,
    /// The pattern no call fitted after the ones before it.
    pub failed_at: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UnmatchedCalls {
    pub count: usize,
    pub examined: usize,
    /// The first 100, oldest first.
    pub calls: Vec<CheckedCall>,
}

/// Counts the mock's calls that fit a request pattern, and explains the closest ones when the
/// count is not what was expected.
#[utoipa::path(
    post,
    path = "/api/v1/mocks/{id}/verify",
    tag = "verify",
    params(("id" = String, Path, format = Uuid, description = "The mock's id")),
    request_body = CountCheck,
    responses(
        (status = 200, body = CountVerdict),
        (status = 404, body = ErrorBody),
        (status = 422, description = "A bad pattern or expectation (`field` names it), or more than 100000 calls in the range", body = ErrorBody),
        (status = 429, description = "Another check of the workspace is under way", body = ErrorBody),
        (status = 503, description = "The call log did not catch up within 5 s", body = ErrorBody),
    )
)]
async fn verify_count(
    State(state): State<AppState>,
    OwnMock(admin, mock): OwnMock,
    ApiJson(check): ApiJson<CountCheck>,
) -> Result<Json<CountVerdict>, ApiError> {
    count(&state, &admin.workspace, &mock, check)
        .await
        .map(Json)
}

/// The count check, for the API and the call log page.
pub(crate) async fn count(
    state: &AppState,
    workspace: &Workspace,
    mock: &Mock,
    check: CountCheck,
) -> Result<CountVerdict, ApiError> {
    let expected = Expected::of(&check)?;
    let pattern = Pattern::compile(&check.request, mock).map_err(|e| e.within("request"))?;
    let scope = Scope::new(check.since, check.until, check.state)?;
    let mut matched = 0;
    let mut fitting = Oldest::default();
    let mut near = Vec::new();
    let examined = scope
        .check(state, workspace, mock, move |call| {
            match pattern.miss(call) {
                None => Checked::Fits(brief(call)),
                Some(miss) => Checked::Misses(miss),
            }
        })
        .fold(|checked| match checked {
            Checked::Fits(call) => {
                matched += 1;
                fitting.push(call);
            }
            Checked::Misses(miss) => {
                near.push(miss);
                if near.len() > 4 * NEAR_MISSES {
                    closest(&mut near);
                }
            }
        })
        .await?;
    let held = expected.holds(matched);
    let found = match matched {
        1 => "1 call fits the pattern".to_owned(),
        n => format!("{n} calls fit the pattern"),
    };
    let message = if held {
        format!("{found}, as expected ({expected})")
    } else {
        format!("{found}; expected {expected}")
    };
    let near_misses = if held {
        Vec::new()
    } else {
        closest(&mut near);
        near
    };
    Ok(CountVerdict {
        held,
        message,
        matched: matched as usize,
        examined,
        calls: fitting.oldest_first(),
        near_misses,
    })
}

/// The oldest [`CALLS_LISTED`] of the calls handed to it newest first.
#[derive(Default)]
struct Oldest(VecDeque<CheckedCall>);

impl Oldest {
    fn push(&mut self, call: CheckedCall) {
        self.0.push_back(call);
        if self.0.len() > CALLS_LISTED {
            self.0.pop_front();
        }
    }

    fn oldest_first(self) -> Vec<CheckedCall> {
        self.0.into_iter().rev().collect()
    }
}

/// A call checked against a pattern.
enum Checked {
    Fits(CheckedCall),
    Misses(NearCall),
}

/// Keeps the closest near misses, closest first (the oldest of equally close ones).
fn closest(near: &mut Vec<NearCall>) {
    near.sort_by(|a, b| {
        (a.distance.total_cmp(&b.distance)).then_with(|| a.call.at.cmp(&b.call.at))
    });
    near.truncate(NEAR_MISSES);
}

/// Checks that calls fitting the patterns came in their order.
#[utoipa::path(
    post,
    path = "/api/v1/mocks/{id}/verify/order",
    tag = "verify",
    params(("id" = String, Path, format = Uuid, description = "The mock's id")),
    request_body = OrderCheck,
    responses(
        (status = 200, body = OrderVerdict),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, description = "Another check of the workspace is under way", body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
async fn verify_order(
    State(state): State<AppState>,
    OwnMock(admin, mock): OwnMock,
    ApiJson(check): ApiJson<OrderCheck>,
) -> Result<Json<OrderVerdict>, ApiError> {
    if check.requests.is_empty() || check.requests.len() > MAX_ORDER_REQUESTS {
        return Err(ApiError::invalid(
            "requests",
            format!("an order check has 1 to {MAX_ORDER_REQUESTS} request patterns"),
        ));
    }
    let patterns = check
        .requests
        .iter()
        .enumerate()
        .map(|(i, request)| {
            Pattern::compile(request, &mock).map_err(|e| e.within(&format!("requests[{i}]")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let scope = Scope::new(check.since, check.until, check.state)?;
    // Each call with the patterns it fits (a bit each), for the calls that fit one.
    let mut fitting = Vec::new();
    let examined = scope
        .check(&state, &admin.workspace, &mock, move |call| {
            let fits = patterns
                .iter()
                .enumerate()
                .filter(|(_, pattern)| pattern.miss(call).is_none())
                .fold(0u64, |bits, (i, _)| bits | 1 << i);
            (fits != 0).then(|| (brief(call), fits))
        })
        .fold(|checked| fitting.extend(checked))
        .await?;
    let wanted = check.requests.len();
    let mut found: Vec<CheckedCall> = Vec::new();
    for (call, fits) in fitting.into_iter().rev() {
        if found.len() < wanted && fits & 1 << found.len() != 0 {
            found.push(call);
        }
    }
    let held = found.len() == wanted;
    let message = if held {
        format!("calls fitting all {wanted} patterns came in order")
    } else {
        let missing = &check.requests[found.len()];
        let after = found.last().map_or_else(String::new, |call| {
            let at = call.at.format(&Rfc3339).unwrap_or_default();
            format!(" after the call at {at}")
        });
        format!(
            "no call fitting pattern {} ({} {}) came{after}",
            found.len(),
            missing.method.as_deref().unwrap_or("any method"),
            missing.path
        )
    };
    Ok(Json(OrderVerdict {
        held,
        message,
        examined,
        failed_at: (!held).then_some(found.len()),
        calls: found,
    }))
}

/// The calls that no example of the mock answered.
#[utoipa::path(
    post,
    path = "/api/v1/mocks/{id}/verify/unmatched",
    tag = "verify",
    params(("id" = String, Path, format = Uuid, description = "The mock's id")),
    request_body = UnmatchedCheck,
    responses(
        (status = 200, body = UnmatchedCalls),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, description = "Another check of the workspace is under way", body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
async fn verify_unmatched(
    State(state): State<AppState>,
    OwnMock(admin, mock): OwnMock,
    ApiJson(check): ApiJson<UnmatchedCheck>,
) -> Result<Json<UnmatchedCalls>, ApiError> {
    let scope = Scope::new(check.since, check.until, check.state)?;
    let mut count = 0;
    let mut unmatched = Oldest::default();
    let examined = scope
        .check(&state, &admin.workspace, &mock, |call| {
            // A call an example passed to the upstream was matched.
            let missed = call.example_id.is_none()
                && matches!(
                    call.outcome,
                    CallOutcomeKind::NoMatch | CallOutcomeKind::Fallback | CallOutcomeKind::Proxied
                );
            missed.then(|| brief(call))
        })
        .fold(|checked| {
            if let Some(call) = checked {
                count += 1;
                unmatched.push(call);
            }
        })
        .await?;
    Ok(Json(UnmatchedCalls {
        count,
        examined,
        calls: unmatched.oldest_first(),
    }))
}

/// How many calls must fit.
struct Expected {
    at_least: u64,
    at_most: Option<u64>,
}

impl Expected {
    fn of(check: &CountCheck) -> Result<Self, ApiError> {
        match (check.count, check.at_least, check.at_most) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(ApiError::invalid(
                "count",
                "give `count`, or `at_least` and/or `at_most`, not both",
            )),
            (Some(count), None, None) => Ok(Self {
                at_least: count,
                at_most: Some(count),
            }),
            (None, Some(least), Some(most)) if least > most => Err(ApiError::invalid(
                "at_least",
                format!("at_least ({least}) is more than at_most ({most})"),
            )),
            (None, at_least, at_most) => Ok(Self {
                at_least: at_least.unwrap_or(u64::from(at_most.is_none())),
                at_most,
            }),
        }
    }

    fn holds(&self, found: u64) -> bool {
        found >= self.at_least && self.at_most.is_none_or(|most| found <= most)
    }
}

impl std::fmt::Display for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.at_least, self.at_most) {
            (least, Some(most)) if least == most => write!(f, "exactly {least}"),
            (0, Some(most)) => write!(f, "at most {most}"),
            (least, Some(most)) => write!(f, "{least} to {most}"),
            (least, None) => write!(f, "at least {least}"),
        }
    }
}

/// A request pattern as the one example of a mock of its own, in the mock's environment (its
/// paths may name the mock's variables).
struct Pattern(CompiledMock);

impl Pattern {
    fn compile(request: &RequestPattern, mock: &Mock) -> Result<Self, ApiError> {
        let example = Example {
            name: "pattern".to_owned(),
            request: request.clone(),
            ..Example::default()
        };
        let strip = |errors: Vec<lyrebird_engine::ValidationError>| {
            let errors = errors
                .into_iter()
                .map(|mut error| {
                    error.field = error.field.trim_start_matches("request.").to_owned();
                    error
                })
                .collect();
            ApiError::InvalidExample(errors)
        };
        lyrebird_engine::validate_example(&example, &mock.environment).map_err(strip)?;
        CompiledMock::compile(
            vec![(Uuid::nil(), example)],
            lyrebird_engine::MatchSettings::default(),
            mock.environment.clone(),
        )
        .map(Self)
        .map_err(|errors| strip(errors.into_iter().map(|(_, error)| error).collect()))
    }

    /// Nothing when the call fits; else how near it came and the condition it failed.
    fn miss(&self, call: &NewCall) -> Option<NearCall> {
        match self.0.select(&engine_request(call)) {
            Selection::Matched(_) => None,
            selection => {
                let nearest = match &selection {
                    Selection::NoMatch(explanation) => explanation.near_misses.first(),
                    _ => None,
                };
                Some(NearCall {
                    call: brief(call),
                    distance: nearest.map_or(1.0, |miss| miss.distance),
                    failed: nearest
                        .map(|miss| miss.message.clone())
                        .into_iter()
                        .collect(),
                })
            }
        }
    }
}

/// A logged call as the engine reads a request.
pub(crate) fn engine_request(call: &NewCall) -> lyrebird_engine::Request {
    let body = if call.request_body.base64 {
        STANDARD.decode(&call.request_body.text).unwrap_or_default()
    } else {
        call.request_body.text.clone().into_bytes()
    };
    let headers = call
        .request_headers
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    lyrebird_engine::Request::new(
        call.method.as_str(),
        call.path.as_str(),
        call.query.as_str(),
        headers,
        body,
    )
}

pub(crate) fn brief(call: &NewCall) -> CheckedCall {
    CheckedCall {
        id: call.id,
        at: call.at,
        method: call.method.clone(),
        path: call.path.clone(),
        query: call.query.clone(),
        status: call.status,
    }
}

/// Which calls a check reads.
pub(crate) struct Scope {
    since: Option<OffsetDateTime>,
    until: Option<OffsetDateTime>,
    state: Option<String>,
}

impl Scope {
    pub(crate) fn new(
        since: Option<OffsetDateTime>,
        until: Option<OffsetDateTime>,
        state: Option<String>,
    ) -> Result<Self, ApiError> {
        if let (Some(since), Some(until)) = (since, until)
            && since >= until
        {
            return Err(ApiError::invalid("until", "`until` comes after `since`"));
        }
        let state = state.map(|key| key.trim().to_owned());
        if let Some(key) = &state {
            check_state_key(key).map_err(|message| ApiError::invalid("state", message))?;
        }
        Ok(Self {
            since,
            until,
            state,
        })
    }

    /// A check of the scope's calls by `check`, which [`Checking::fold`] runs.
    pub(crate) fn check<'a, T, F>(
        &'a self,
        state: &'a AppState,
        workspace: &'a Workspace,
        mock: &'a Mock,
        check: F,
    ) -> Checking<'a, F>
    where
        F: Fn(&NewCall) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        Checking {
            scope: self,
            state,
            workspace,
            mock,
            check: Arc::new(check),
        }
    }

    fn keeps(&self, call: &NewCall) -> bool {
        self.state
            .as_deref()
            .is_none_or(|key| state_key(call) == key)
    }
}

/// A check of every call in a scope, read newest first in batches that are checked off the
/// async workers; one per workspace at a time ([`CHECKS`]).
pub(crate) struct Checking<'a, F> {
    scope: &'a Scope,
    state: &'a AppState,
    workspace: &'a Workspace,
    mock: &'a Mock,
    check: Arc<F>,
}

impl<F> Checking<'_, F> {
    /// Checks every call once this server's log writer has written the calls answered before,
    /// handing each result to `fold`, newest call first; returns how many calls were checked.
    /// A scope of more than [`MAX_CALLS_EXAMINED`] calls is refused.
    async fn fold<T>(self, fold: impl FnMut(T)) -> Result<usize, ApiError>
    where
        F: Fn(&NewCall) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        self.run(false, fold).await.map(|(checked, _)| checked)
    }

    /// [`Checking::fold`] of the newest [`MAX_CALLS_EXAMINED`] calls of a larger scope; also
    /// says whether older calls were left out.
    pub(crate) async fn fold_newest<T>(self, fold: impl FnMut(T)) -> Result<(usize, bool), ApiError>
    where
        F: Fn(&NewCall) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        self.run(true, fold).await
    }

    async fn run<T>(self, newest: bool, mut fold: impl FnMut(T)) -> Result<(usize, bool), ApiError>
    where
        F: Fn(&NewCall) -> T + Send + Sync + 'static,
        T: Send + 'static,
    {
        let _checking = CHECKS.enter(self.workspace.id())?;
        tokio::time::timeout(CALL_LOG_WAIT, self.state.runtime.call_log().written())
            .await
            .map_err(|_| ApiError::CallLogBehind)?;
        let Scope { since, until, .. } = *self.scope;
        let mut reader = self
            .state
            .store
            .read_calls(self.workspace, self.mock.id, since, until);
        let (mut read, mut checked, mut left_out) = (0, 0, false);
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            let mut call = reader.next().await?;
            if call.is_some() && read == MAX_CALLS_EXAMINED {
                if !newest {
                    return Err(ApiError::TooManyCalls {
                        limit: MAX_CALLS_EXAMINED,
                    });
                }
                (call, left_out) = (None, true);
            }
            let last = call.is_none();
            if let Some(mut call) = call {
                read += 1;
                if self.scope.keeps(&call) {
                    // No check reads what the mock answered.
                    call.response_body.text = String::new();
                    batch.push(call);
                }
            }
            if batch.len() == BATCH || (last && !batch.is_empty()) {
                let calls = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                checked += calls.len();
                let check = Arc::clone(&self.check);
                let results = tokio::task::spawn_blocking(move || {
                    calls.iter().map(|call| check(call)).collect::<Vec<T>>()
                })
                .await
                .map_err(|error| ApiError::Internal(Box::new(error)))?;
                results.into_iter().for_each(&mut fold);
            }
            if last {
                return Ok((checked, left_out));
            }
        }
    }
}

/// The `x-lyrebird-state` a call sent (empty: none).
fn state_key(call: &NewCall) -> &str {
    call.request_headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("x-lyrebird-state"))
        .map_or("", |(_, value)| value.trim())
}

//! What publishing a draft would do to the mock's clients: `POST /api/v1/mocks/{id}/draft/impact`
//! replays the mock's logged calls of the last days through the live mock and through the draft
//! with the engine, off the request path, and reports the calls that would get another
//! example, status or body, grouped by (example before → example after) with a few calls each;
//! `GET .../draft/impact` reads the report kept with the draft (docs/versions-and-impact.md).
//!
//! Both sides are compiled for the replay and decide each call alone, in the state nothing has
//! written (a sequence answers its first step, a state condition sees the initial state), at
//! the call's own time. The replay reads the newest 100,000 calls of the period; with
//! `Accept: application/x-ndjson` it streams its progress as it goes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use lyrebird_engine::{CompiledMock, Example, MatchSettings};
use lyrebird_store::calls::NewCall;
use lyrebird_store::{Draft, ExampleId, Mock, StoredExample, Workspace};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use tokio::sync::mpsc;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::api::verify::{CheckedCall, Scope, brief, engine_request};
use crate::auth::OwnMock;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;

/// The longest period a replay or a health report reads.
const MAX_DAYS: u32 = 90;

/// The period a replay or a health report reads, in days: 7 unless given, 1 to [`MAX_DAYS`].
pub(crate) fn period(days: Option<u32>) -> Result<u32, ApiError> {
    match days.unwrap_or(7) {
        days @ 1..=MAX_DAYS => Ok(days),
        _ => Err(ApiError::invalid(
            "days",
            format!("use a number from 1 to {MAX_DAYS}"),
        )),
    }
}

/// Calls shown per group.
const SAMPLES: usize = 5;
/// Progress is streamed once per this many calls.
const PROGRESS_EVERY: usize = 10_000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(run_impact, kept_impact))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImpactRequest {
    /// Replay the calls of this many days back from now, 1 to 90 (default 7).
    #[schema(minimum = 1, maximum = 90)]
    pub days: Option<u32>,
}

/// How many of the replayed calls would be answered otherwise.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct ImpactCounts {
    /// By another example (or by one where none answered, or by none where one did).
    pub example: usize,
    pub status: usize,
    pub body: usize,
    /// In any of these ways.
    pub any: usize,
    /// Matched nothing before and would match an example.
    pub newly_matched: usize,
    /// Matched an example and would match nothing.
    pub no_longer_matched: usize,
}

/// An example on one side of a change; none (`null`) when no example answers.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExampleName {
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    pub name: String,
}

/// The calls that went from one example to another (or stay with one that answers otherwise).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ImpactGroup {
    pub before: Option<ExampleName>,
    pub after: Option<ExampleName>,
    pub calls: usize,
    pub status_changed: usize,
    pub body_changed: usize,
    /// The newest few.
    #[schema(value_type = Vec<Object>)]
    pub samples: Vec<CheckedCall>,
}

/// The impact of publishing a draft, over the calls of a period.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ImpactReport {
    /// The draft's revision and the mock's version compared.
    pub revision: i64,
    pub live_version: i32,
    pub days: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
    /// Calls replayed.
    pub calls: usize,
    /// The period held more calls than a replay reads: these are the newest 100,000.
    pub left_out_older: bool,
    pub changed: ImpactCounts,
    /// Largest first.
    pub groups: Vec<ImpactGroup>,
    pub elapsed_ms: u64,
}

/// One side of the replay: a mock compiled as it would serve, and what it answers when no
/// example matches.
struct Side {
    engine: CompiledMock,
    /// The fallback's status, or the 404 that explains.
    unmatched_status: u16,
}

impl Side {
    fn compile(
        examples: Vec<(ExampleId, Example)>,
        settings: MatchSettings,
        environment: BTreeMap<String, String>,
        fallback_status: Option<u16>,
        which: &str,
    ) -> Result<Self, ApiError> {
        let examples = examples
            .into_iter()
            .map(|(id, example)| (id.as_uuid(), example))
            .collect();
        let engine = CompiledMock::compile(examples, settings, environment).map_err(|errors| {
            let reason = errors
                .first()
                .map_or_else(String::new, |(position, error)| {
                    format!(": example {position}: {error}")
                });
            ApiError::invalid(which, format!("the {which} does not compile{reason}"))
        })?;
        Ok(Self {
            engine,
            unmatched_status: fallback_status.unwrap_or(404),
        })
    }

    /// The example that answers, the status and the body.
    fn answer(&self, call: &NewCall) -> (Option<Uuid>, u16, Option<Vec<u8>>) {
        let outcome = self.engine.respond(&engine_request(call), call.at);
        let example = outcome.selection.matched().map(|matched| matched.id);
        match outcome.rendered {
            Some(rendered) => (example, rendered.status, Some(rendered.body)),
            None => (example, self.unmatched_status, None),
        }
    }
}

/// A call replayed on both sides, when its answer would change.
struct Changed {
    before: Option<Uuid>,
    after: Option<Uuid>,
    status: bool,
    body: bool,
    call: CheckedCall,
}

struct Replay {
    live: Side,
    draft: Side,
    /// The fallbacks differ, so a call neither side matches is answered otherwise.
    fallback_changed: bool,
}

impl Replay {
    fn new(mock: &Mock, examples: Vec<StoredExample>, draft: &Draft) -> Result<Self, ApiError> {
        let live = Side::compile(
            examples.into_iter().map(|e| (e.id, e.example)).collect(),
            mock.settings.clone(),
            mock.environment.clone(),
            mock.fallback.as_ref().map(|fallback| fallback.status),
            "mock",
        )?;
        let settings = &draft.settings;
        let draft_side = Side::compile(
            draft.examples.clone(),
            settings.settings.clone(),
            settings.environment.clone(),
            settings.fallback.as_ref().map(|fallback| fallback.status),
            "draft",
        )?;
        Ok(Self {
            live,
            draft: draft_side,
            fallback_changed: mock.fallback != settings.fallback,
        })
    }

    fn replay(&self, call: &NewCall) -> Option<Changed> {
        let (before, old_status, old_body) = self.live.answer(call);
        let (after, new_status, new_body) = self.draft.answer(call);
        let body = match (&old_body, &new_body) {
            (None, None) => self.fallback_changed,
            _ => old_body != new_body,
        };
        let status = old_status != new_status;
        (before != after || status || body).then(|| Changed {
            before,
            after,
            status,
            body,
            call: brief(call),
        })
    }
}

/// The report as it is gathered.
#[derive(Default)]
struct Tally {
    calls: usize,
    changed: ImpactCounts,
    groups: HashMap<(Option<Uuid>, Option<Uuid>), ImpactGroup>,
}

impl Tally {
    fn add(&mut self, changed: Option<Changed>, names: &HashMap<Uuid, String>) {
        self.calls += 1;
        let Some(changed) = changed else {
            return;
        };
        let counts = &mut self.changed;
        counts.any += 1;
        counts.example += usize::from(changed.before != changed.after);
        counts.status += usize::from(changed.status);
        counts.body += usize::from(changed.body);
        counts.newly_matched += usize::from(changed.before.is_none() && changed.after.is_some());
        counts.no_longer_matched +=
            usize::from(changed.before.is_some() && changed.after.is_none());
        let name = |id: Option<Uuid>| {
            id.map(|id| ExampleName {
                id,
                name: names.get(&id).cloned().unwrap_or_default(),
            })
        };
        let group = self
            .groups
            .entry((changed.before, changed.after))
            .or_insert_with(|| ImpactGroup {
                before: name(changed.before),
                after: name(changed.after),
                calls: 0,
                status_changed: 0,
                body_changed: 0,
                samples: Vec::new(),
            });
        group.calls += 1;
        group.status_changed += usize::from(changed.status);
        group.body_changed += usize::from(changed.body);
        if group.samples.len() < SAMPLES {
            group.samples.push(changed.call);
        }
    }
}

/// A line of a streamed replay.
#[derive(Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Line {
    Progress { replayed: usize },
    Report(Box<ImpactReport>),
    Error(crate::error::ErrorDetail),
}

/// Replays the period's calls through the mock and the draft; `progress` hears of every
/// [`PROGRESS_EVERY`] calls.
pub(crate) async fn impact(
    state: &AppState,
    workspace: &Workspace,
    mock: &Mock,
    draft: &Draft,
    days: u32,
    progress: Option<&mpsc::Sender<Line>>,
) -> Result<ImpactReport, ApiError> {
    let days = period(Some(days))?;
    let started = Instant::now();
    let live_examples = state.store.list_examples(workspace, mock.id).await?;
    let names: HashMap<Uuid, String> = live_examples
        .iter()
        .map(|e| (e.id.as_uuid(), e.example.name.clone()))
        .chain(
            draft
                .examples
                .iter()
                .map(|(id, example)| (id.as_uuid(), example.name.clone())),
        )
        .collect();
    let replay = Arc::new(Replay::new(mock, live_examples, draft)?);
    let until = OffsetDateTime::now_utc();
    let from = until - Duration::days(i64::from(days));
    let scope = Scope::new(Some(from), Some(until), None)?;
    let mut tally = Tally::default();
    let (calls, left_out_older) = scope
        .check(state, workspace, mock, move |call| replay.replay(call))
        .fold_newest(|changed| {
            tally.add(changed, &names);
            if let Some(progress) = progress
                && tally.calls % PROGRESS_EVERY == 0
            {
                let _ = progress.try_send(Line::Progress {
                    replayed: tally.calls,
                });
            }
        })
        .await?;
    let mut groups: Vec<ImpactGroup> = tally.groups.into_values().collect();
    // Largest first; equal ones in the order of their examples' ids, so reports read alike.
    groups.sort_by_key(|group| {
        let id = |side: &Option<ExampleName>| side.as_ref().map(|example| example.id);
        (
            std::cmp::Reverse(group.calls),
            id(&group.before),
            id(&group.after),
        )
    });
    Ok(ImpactReport {
        revision: draft.revision,
        live_version: mock.version,
        days,
        from,
        until,
        calls,
        left_out_older,
        changed: tally.changed,
        groups,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

/// Replays the mock's calls of the last days through the live mock and the draft, and reports
/// which would be answered otherwise; the report is kept with the draft (until its next edit).
/// With `Accept: application/x-ndjson`: lines `{"progress": {"replayed": n}}`, then
/// `{"report": …}` (or `{"error": …}`).
#[utoipa::path(
    post,
    path = "/api/v1/mocks/{id}/draft/impact",
    tag = "drafts",
    params(("id" = String, Path, format = Uuid, description = "The mock's id")),
    request_body = ImpactRequest,
    responses(
        (status = 200, description = "The report; with `Accept: application/x-ndjson`, progress lines and then the report", body = ImpactReport),
        (status = 404, description = "No such mock, or it has no draft", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, description = "Another check of the workspace's calls is under way", body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
async fn run_impact(
    State(state): State<AppState>,
    OwnMock(admin, mock): OwnMock,
    headers: HeaderMap,
    ApiJson(request): ApiJson<ImpactRequest>,
) -> Result<Response, ApiError> {
    let days = period(request.days)?;
    let draft = state.store.draft(&admin.workspace, mock.id).await?;
    let streamed = headers
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("application/x-ndjson"));
    if !streamed {
        let report = impact(&state, &admin.workspace, &mock, &draft, days, None).await?;
        keep(&state, &admin.workspace, &mock, &report).await?;
        return Ok(Json(report).into_response());
    }
    let (sender, mut receiver) = mpsc::channel(16);
    tokio::spawn(async move {
        let workspace = &admin.workspace;
        let outcome = match impact(&state, workspace, &mock, &draft, days, Some(&sender)).await {
            Ok(report) => match keep(&state, workspace, &mock, &report).await {
                Ok(()) => Ok(report),
                Err(error) => Err(error),
            },
            Err(error) => Err(error),
        };
        let line = match outcome {
            Ok(report) => Line::Report(Box::new(report)),
            Err(error) => Line::Error(error.detail()),
        };
        let _ = sender.send(line).await;
    });
    let lines = futures_util::stream::poll_fn(move |cx| {
        receiver.poll_recv(cx).map(|line| {
            line.map(|line| {
                let mut text = serde_json::to_vec(&line).unwrap_or_default();
                text.push(b'\n');
                Ok::<_, std::convert::Infallible>(text)
            })
        })
    });
    let mut response = Body::from_stream(lines).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(response)
}

/// Keeps the report with the draft, if the draft has not changed meanwhile.
pub(crate) async fn keep(
    state: &AppState,
    workspace: &Workspace,
    mock: &Mock,
    report: &ImpactReport,
) -> Result<(), ApiError> {
    let value = serde_json::to_value(report).map_err(|error| ApiError::Internal(error.into()))?;
    state
        .store
        .keep_impact(workspace, mock.id, report.revision, &value)
        .await?;
    Ok(())
}

/// The impact report kept with the draft: the last one run on its current revision.
#[utoipa::path(
    get,
    path = "/api/v1/mocks/{id}/draft/impact",
    tag = "drafts",
    params(("id" = String, Path, format = Uuid, description = "The mock's id")),
    responses(
        (status = 200, body = ImpactReport),
        (status = 404, description = "No such mock or draft, or no report on this revision", body = ErrorBody),
    )
)]
async fn kept_impact(
    State(state): State<AppState>,
    OwnMock(admin, mock): OwnMock,
) -> Result<Json<ImpactReport>, ApiError> {
    let draft = state.store.draft(&admin.workspace, mock.id).await?;
    let kept = draft.impact.ok_or(ApiError::NotFound)?;
    let report = serde_json::from_value(kept).map_err(|error| ApiError::Internal(error.into()))?;
    Ok(Json(report))
}

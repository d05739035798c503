//! A mock's health report, `GET /api/v1/mocks/{id}/health-report`: from the calls of a period,
//! how many each example answered, the examples never hit, the examples shadowed (they fit
//! requests another example always wins), the calls decided only by a tie-break, and the calls
//! that matched nothing, clustered by the condition they failed, each cluster with the smallest
//! change to the nearest example that would have matched it (docs/versions-and-impact.md,
//! "Health report").
//!
//! Counts per example are what the call log says answered; the rest replays the period's calls
//! through the mock as it is now, off the request path, as the impact of a draft does.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use lyrebird_engine::{
    CompiledMock, DecidedBy, Example, Failure, MatchSettings, Selection, SelectionMode,
};
use lyrebird_store::calls::NewCall;
use lyrebird_store::{ExampleId, Mock, Workspace};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::api::impact::{ExampleName, period};
use crate::api::verify::{CheckedCall, Scope, brief, engine_request};
use crate::auth::OwnMock;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;

/// Distinct requests kept for finding shadowed examples.
const MAX_DISTINCT: usize = 5_000;
/// The most bytes of request bodies the report keeps, for the shadow search and the clusters'
/// suggestions together: past it, calls are counted but no longer kept.
const KEPT_BYTES: usize = 16 << 20;
/// Requests kept per cluster to check its suggestion against, and calls shown.
const CLUSTER_REQUESTS: usize = 20;
const CLUSTER_SAMPLES: usize = 3;
/// Values shown of what clustered calls sent instead.
const CLUSTER_VALUES: usize = 5;
/// Passes of the shadow search: each finds the examples that win among those not yet found.
const SHADOW_PASSES: usize = 4;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health_report))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// The calls of this many days back from now, 1 to 90 (default 7).
    #[param(minimum = 1, maximum = 90)]
    pub days: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthReport {
    pub version: i32,
    pub days: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
    /// Calls read: the newest 100,000 of the period at most.
    pub calls: usize,
    pub left_out_older: bool,
    /// Every example, in order, with the calls it answered.
    pub examples: Vec<ExampleUse>,
    /// Examples that answered no call of the period.
    pub never_hit: Vec<ExampleName>,
    /// Examples that fit requests of the period but never won them.
    pub shadowed: Vec<Shadowed>,
    /// Calls several examples fitted equally well, so the tie-break (priority, then conditions,
    /// then age) chose; by the example that won.
    pub tie_breaks: Vec<TieBreak>,
    /// Calls that matched nothing, by the nearest example and the condition it failed, largest
    /// first.
    pub unmatched: Vec<Cluster>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExampleUse {
    #[serde(flatten)]
    pub example: ExampleName,
    pub calls: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Shadowed {
    #[serde(flatten)]
    pub example: ExampleName,
    /// The requests it fits, as distinct requests of the period.
    pub requests: usize,
    /// In a mock with Postman's matching: a request still reaches it by naming it in
    /// `x-mock-response-name` (or `-id`, or its status in `-code`), as Postman's error examples
    /// are meant to be reached.
    pub by_header: bool,
    /// Who won them instead, with how many.
    pub won_by: Vec<Winner>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Winner {
    #[serde(flatten)]
    pub example: ExampleName,
    pub requests: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TieBreak {
    #[serde(flatten)]
    pub example: ExampleName,
    pub calls: usize,
    /// The most examples that fitted one of those calls equally.
    pub candidates: usize,
}

/// Unmatched calls that failed the same condition of the same example.
#[derive(Debug, Serialize, ToSchema)]
pub struct Cluster {
    pub calls: usize,
    /// The nearest example.
    pub example: ExampleName,
    /// `path segment 2`, `query page`, `header x-tenant`, `method`, `body /id`…
    pub condition: String,
    /// The cluster in one sentence: "412 calls: query parameter \"page\" should be \"1\", got
    /// other values (\"2\", \"3\")".
    pub summary: String,
    /// A few of the calls, newest first.
    #[schema(value_type = Vec<Object>)]
    pub samples: Vec<CheckedCall>,
    /// The smallest change found that makes the cluster's calls match, checked against them.
    pub suggestion: Option<Suggestion>,
}

/// A change to apply to the mock's draft: `edit` replaces the example `example_id` with
/// `example` (`PUT .../draft/examples/{example_id}`), `add` adds `example`
/// (`POST .../draft/examples`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Suggestion {
    #[schema(example = "edit")]
    pub kind: &'static str,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub example_id: Option<Uuid>,
    /// What it changes, in words.
    pub summary: String,
    #[schema(value_type = Object)]
    pub example: Example,
}

/// The mock as it is now, compiled, with its examples by id.
struct Current {
    engine: CompiledMock,
    examples: Vec<(ExampleId, Example)>,
    settings: MatchSettings,
    environment: BTreeMap<String, String>,
}

impl Current {
    fn compile(
        examples: &[(ExampleId, Example)],
        settings: &MatchSettings,
        environment: &BTreeMap<String, String>,
    ) -> Option<CompiledMock> {
        let examples = examples
            .iter()
            .map(|(id, example)| (id.as_uuid(), example.clone()))
            .collect();
        CompiledMock::compile(examples, settings.clone(), environment.clone()).ok()
    }

    fn example(&self, id: Uuid) -> Option<&Example> {
        self.examples
            .iter()
            .find(|(own, _)| own.as_uuid() == id)
            .map(|(_, example)| example)
    }

    fn name(&self, id: Uuid) -> ExampleName {
        ExampleName {
            id,
            name: self
                .example(id)
                .map_or_else(String::new, |e| e.name.clone()),
        }
    }
}

/// What the replay of one call found.
enum Replayed {
    Won {
        example: Uuid,
        tie: Option<usize>,
    },
    Missed(Option<(Uuid, Failure)>),
    /// Postman's response headers named nothing: not a matching problem.
    Other,
}

struct Seen {
    logged: Option<ExampleId>,
    replayed: Replayed,
    /// The call, when its request was the first of its kind (for the shadow search) or it
    /// missed (for its cluster).
    kept: Option<NewCall>,
}

fn replay(current: &CompiledMock, call: &NewCall) -> Replayed {
    match current.select(&engine_request(call)) {
        Selection::Matched(matched) => {
            let tie = match matched.decided_by {
                DecidedBy::Level { candidates, .. } if candidates > 1 => Some(candidates),
                _ => None,
            };
            Replayed::Won {
                example: matched.id,
                tie,
            }
        }
        Selection::NoMatch(explanation) => Replayed::Missed(
            explanation
                .near_misses
                .into_iter()
                .next()
                .map(|miss| (miss.id, miss.failed)),
        ),
        _ => Replayed::Other,
    }
}

/// What identifies a request for the shadow search.
fn request_digest(call: &NewCall) -> u64 {
    let mut hasher = DefaultHasher::new();
    (
        &call.method,
        &call.path,
        &call.query,
        &call.request_body.text,
    )
        .hash(&mut hasher);
    for (name, value) in &call.request_headers {
        (&**name, &**value).hash(&mut hasher);
    }
    hasher.finish()
}

/// A failed condition's name, what it expected and what the call sent.
fn condition(failure: &Failure) -> (String, Option<String>, Option<String>) {
    match failure {
        Failure::Method { expected, actual } => (
            "method".to_owned(),
            Some(expected.clone()),
            Some(actual.clone()),
        ),
        Failure::Path {
            segment,
            expected,
            actual,
        } => (
            format!("path segment {segment}"),
            Some(expected.clone()),
            actual.clone(),
        ),
        Failure::Query {
            name,
            expected,
            actual,
        } => (
            format!("query {name}"),
            Some(expected.clone()),
            actual.clone(),
        ),
        Failure::Header {
            name,
            expected,
            actual,
        } => (
            format!("header {}", name.to_ascii_lowercase()),
            Some(expected.clone()),
            actual.clone(),
        ),
        Failure::Cookie {
            name,
            expected,
            actual,
        } => (
            format!("cookie {name}"),
            Some(expected.clone()),
            actual.clone(),
        ),
        Failure::FormParameter {
            name,
            expected,
            actual,
        } => (
            format!("form parameter {name}"),
            Some(expected.clone()),
            actual.clone(),
        ),
        Failure::Body { location, .. } => (
            format!("body {}", location.as_deref().unwrap_or(""))
                .trim_end()
                .to_owned(),
            None,
            None,
        ),
        Failure::Expression { .. } => ("expression".to_owned(), None, None),
        Failure::Scenario { name, .. } => (format!("scenario {name}"), None, None),
    }
}

/// A cluster as it is gathered.
struct Gathering {
    example: Uuid,
    condition: String,
    failure: Failure,
    calls: usize,
    values: Vec<Option<String>>,
    requests: Vec<NewCall>,
}

/// Reads the period's calls and reports on the mock's examples.
#[utoipa::path(
    get,
    path = "/api/v1/mocks/{id}/health-report",
    tag = "versions",
    params(("id" = String, Path, format = Uuid, description = "The mock's id"), ReportParams),
    responses(
        (status = 200, body = HealthReport),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, description = "Another check of the workspace's calls is under way", body = ErrorBody),
        (status = 503, body = ErrorBody),
    )
)]
async fn health_report(
    State(state): State<AppState>,
    OwnMock(admin, mock): OwnMock,
    ApiQuery(params): ApiQuery<ReportParams>,
) -> Result<Json<HealthReport>, ApiError> {
    report(&state, &admin.workspace, &mock, params.days)
        .await
        .map(Json)
}

/// The report of the mock's calls of the last `days` (default 7), for the API and the page.
pub(crate) async fn report(
    state: &AppState,
    workspace: &Workspace,
    mock: &Mock,
    days: Option<u32>,
) -> Result<HealthReport, ApiError> {
    let days = period(days)?;
    let examples: Vec<(ExampleId, Example)> = state
        .store
        .list_examples(workspace, mock.id)
        .await?
        .into_iter()
        .map(|stored| (stored.id, stored.example))
        .collect();
    let engine = Current::compile(&examples, &mock.settings, &mock.environment)
        .ok_or_else(|| ApiError::invalid("mock", "the mock does not compile"))?;
    let current = Arc::new(Current {
        engine,
        examples,
        settings: mock.settings.clone(),
        environment: mock.environment.clone(),
    });
    let until = OffsetDateTime::now_utc();
    let from = until - Duration::days(i64::from(days));
    let scope = Scope::new(Some(from), Some(until), None)?;
    let distinct = Arc::new(Mutex::new(HashSet::new()));
    let kept_bytes = Arc::new(AtomicUsize::new(0));
    let replaying = Arc::clone(&current);
    let check = move |call: &NewCall| {
        let replayed = replay(&replaying.engine, call);
        let first = {
            let mut seen = distinct.lock().unwrap_or_else(|poison| poison.into_inner());
            seen.len() < MAX_DISTINCT && seen.insert(request_digest(call))
        };
        let size = call.request_body.text.len() + call.path.len() + call.query.len();
        let keep = (first || matches!(replayed, Replayed::Missed(Some(_))))
            && kept_bytes.fetch_add(size, Ordering::Relaxed) + size <= KEPT_BYTES;
        Seen {
            logged: call.example_id,
            replayed,
            kept: keep.then(|| call.clone()),
        }
    };
    let mut answered: HashMap<Uuid, usize> = HashMap::new();
    let mut ties: HashMap<Uuid, (usize, usize)> = HashMap::new();
    let mut requests: Vec<(NewCall, Option<Uuid>)> = Vec::new();
    let mut winners: HashSet<Uuid> = HashSet::new();
    let mut clusters: HashMap<(Uuid, String), Gathering> = HashMap::new();
    let (calls, left_out_older) = scope
        .check(state, workspace, mock, check)
        .fold_newest(|seen: Seen| {
            if let Some(id) = seen.logged {
                *answered.entry(id.as_uuid()).or_default() += 1;
            }
            match seen.replayed {
                Replayed::Won { example, tie } => {
                    winners.insert(example);
                    if let Some(candidates) = tie {
                        let entry = ties.entry(example).or_default();
                        entry.0 += 1;
                        entry.1 = entry.1.max(candidates);
                    }
                    if let Some(call) = seen.kept {
                        requests.push((call, Some(example)));
                    }
                }
                Replayed::Missed(Some((example, failure))) => {
                    let (name, _, actual) = condition(&failure);
                    let gathering =
                        clusters
                            .entry((example, name.clone()))
                            .or_insert_with(|| Gathering {
                                example,
                                condition: name,
                                failure,
                                calls: 0,
                                values: Vec::new(),
                                requests: Vec::new(),
                            });
                    gathering.calls += 1;
                    if gathering.values.len() < CLUSTER_VALUES
                        && !gathering.values.contains(&actual)
                    {
                        gathering.values.push(actual);
                    }
                    if let Some(call) = seen.kept
                        && gathering.requests.len() < CLUSTER_REQUESTS
                    {
                        gathering.requests.push(call);
                    }
                }
                Replayed::Missed(None) | Replayed::Other => {}
            }
        })
        .await?;
    let current = Arc::clone(&current);
    let report = tokio::task::spawn_blocking(move || {
        let shadowed = shadowed(&current, &requests, &winners);
        let unmatched = clusters_of(&current, clusters.into_values().collect());
        (shadowed, unmatched, current)
    });
    let (shadowed, unmatched, current) = report
        .await
        .map_err(|error| ApiError::Internal(Box::new(error)))?;
    let examples: Vec<ExampleUse> = current
        .examples
        .iter()
        .map(|(id, example)| ExampleUse {
            example: ExampleName {
                id: id.as_uuid(),
                name: example.name.clone(),
            },
            calls: answered.get(&id.as_uuid()).copied().unwrap_or_default(),
        })
        .collect();
    let never_hit = examples
        .iter()
        .filter(|example| example.calls == 0)
        .map(|example| example.example.clone())
        .collect();
    let mut tie_breaks: Vec<TieBreak> = ties
        .into_iter()
        .map(|(id, (calls, candidates))| TieBreak {
            example: current.name(id),
            calls,
            candidates,
        })
        .collect();
    tie_breaks.sort_by_key(|tie| (std::cmp::Reverse(tie.calls), tie.example.id));
    Ok(HealthReport {
        version: mock.version,
        days,
        from,
        until,
        calls,
        left_out_older,
        examples,
        never_hit,
        shadowed,
        tie_breaks,
        unmatched,
    })
}

/// The examples that fit requests of the period but won none: the examples no call of the
/// period chose (`winners` are those some call chose) are compiled on their own and offered
/// each distinct request kept; one that fits is shadowed by
/// the example that won that request. Each pass takes out the examples found, so one shadowed
/// behind another is found in a later pass.
fn shadowed(
    current: &Current,
    requests: &[(NewCall, Option<Uuid>)],
    winners: &HashSet<Uuid>,
) -> Vec<Shadowed> {
    let mut losing: Vec<(ExampleId, Example)> = current
        .examples
        .iter()
        .filter(|(id, _)| !winners.contains(&id.as_uuid()))
        .cloned()
        .collect();
    let mut found: BTreeMap<Uuid, (usize, HashMap<Uuid, usize>)> = BTreeMap::new();
    for _ in 0..SHADOW_PASSES {
        if losing.is_empty() {
            break;
        }
        let Some(engine) = Current::compile(&losing, &current.settings, &current.environment)
        else {
            break;
        };
        let mut new = HashSet::new();
        for (call, won) in requests {
            let Some(winner) = won else { continue };
            let selection = engine.select(&engine_request(call));
            let Some(fits) = selection.matched().map(|matched| matched.id) else {
                continue;
            };
            new.insert(fits);
            let (count, by) = found.entry(fits).or_default();
            *count += 1;
            *by.entry(*winner).or_default() += 1;
        }
        if new.is_empty() {
            break;
        }
        losing.retain(|(id, _)| !new.contains(&id.as_uuid()));
    }
    found
        .into_iter()
        .map(|(id, (requests, by))| {
            let mut won_by: Vec<Winner> = by
                .into_iter()
                .map(|(winner, requests)| Winner {
                    example: current.name(winner),
                    requests,
                })
                .collect();
            won_by.sort_by_key(|winner| (std::cmp::Reverse(winner.requests), winner.example.id));
            Shadowed {
                example: current.name(id),
                requests,
                by_header: current.settings.selection == SelectionMode::Postman,
                won_by,
            }
        })
        .collect()
}

/// The clusters, largest first, each with its summary and a suggestion checked against it.
fn clusters_of(current: &Current, mut gathered: Vec<Gathering>) -> Vec<Cluster> {
    gathered.sort_by_key(|cluster| (std::cmp::Reverse(cluster.calls), cluster.example));
    gathered
        .into_iter()
        .map(|cluster| {
            let (_, expected, _) = condition(&cluster.failure);
            let calls = match cluster.calls {
                1 => "1 call".to_owned(),
                n => format!("{n} calls"),
            };
            let sent = match cluster.values.as_slice() {
                [None] => "it is missing".to_owned(),
                [Some(one)] => format!("got {one:?}"),
                values => {
                    let mut shown: Vec<String> = values
                        .iter()
                        .map(|value| {
                            value
                                .as_deref()
                                .map_or("(missing)".to_owned(), |v| format!("{v:?}"))
                        })
                        .collect();
                    shown.sort();
                    format!("got other values ({})", shown.join(", "))
                }
            };
            let summary = match &expected {
                Some(expected) => format!(
                    "{calls}: {} should be {expected:?}, {sent}",
                    cluster.condition
                ),
                None => format!("{calls}: {}", cluster.failure.describe()),
            };
            Cluster {
                calls: cluster.calls,
                example: current.name(cluster.example),
                condition: cluster.condition.clone(),
                summary,
                samples: cluster
                    .requests
                    .iter()
                    .take(CLUSTER_SAMPLES)
                    .map(brief)
                    .collect(),
                suggestion: suggest(current, &cluster),
            }
        })
        .collect()
}

/// The smallest change that makes every kept call of the cluster match: an edit of the nearest
/// example (a path segment made a parameter, a query, header or cookie condition dropped), else
/// a new example made from the newest call with the nearest example's response.
fn suggest(current: &Current, cluster: &Gathering) -> Option<Suggestion> {
    let nearest = current.example(cluster.example)?;
    let edit = edited(nearest, &cluster.failure).map(|(example, summary)| Suggestion {
        kind: "edit",
        example_id: Some(cluster.example),
        summary,
        example,
    });
    let newest = cluster.requests.first()?;
    let added = {
        let example = Example {
            name: format!("{} {}", newest.method, newest.path),
            request: lyrebird_engine::RequestPattern {
                method: Some(newest.method.clone()),
                path: newest.path.clone(),
                ..lyrebird_engine::RequestPattern::default()
            },
            ..nearest.clone()
        };
        Suggestion {
            kind: "add",
            example_id: None,
            summary: format!(
                "add an example for {} {} answering as {:?} does",
                newest.method, newest.path, nearest.name
            ),
            example,
        }
    };
    [edit, Some(added)]
        .into_iter()
        .flatten()
        .find(|suggestion| fits_all(current, &suggestion.example, &cluster.requests))
}

/// The nearest example with the failed condition relaxed, and what changed.
fn edited(example: &Example, failure: &Failure) -> Option<(Example, String)> {
    let mut edited = example.clone();
    let request = &mut edited.request;
    let summary = match failure {
        Failure::Path { segment, .. } => {
            let (path, query) = match request.path.split_once('?') {
                Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
                None => (request.path.clone(), None),
            };
            let mut segments: Vec<String> = path.split('/').map(str::to_owned).collect();
            let slot = segments.get_mut(*segment)?;
            // Only a segment that reads as an id becomes a parameter: `/users/1` to
            // `/users/:id`, never `/numbers/1` to `/:id/1`, which would answer every path of
            // that shape; a word that differs asks for an example of its own.
            if !looks_like_an_id(slot) {
                return None;
            }
            let name = if path.contains(":id") {
                format!("param{segment}")
            } else {
                "id".to_owned()
            };
            let old = std::mem::replace(slot, format!(":{name}"));
            let new_path = segments.join("/");
            let summary = format!("make path segment {segment} ({old:?}) the parameter :{name}");
            request.path = match query {
                Some(query) => format!("{new_path}?{query}"),
                None => new_path,
            };
            summary
        }
        Failure::Query { name, .. } => {
            request.query.remove(name)?;
            format!("drop the condition on query parameter {name:?}")
        }
        Failure::Header { name, .. } => {
            let key = request
                .headers
                .keys()
                .find(|key| key.eq_ignore_ascii_case(name))?
                .clone();
            request.headers.remove(&key);
            format!("drop the condition on header {name:?}")
        }
        Failure::Cookie { name, .. } => {
            request.cookies.remove(name)?;
            format!("drop the condition on cookie {name:?}")
        }
        _ => return None,
    };
    Some((edited, summary))
}

/// Whether a path segment is an id rather than a word: digits, a UUID or hexadecimal digest, or
/// a word a third or more of which is digits, two at least (`ord_123`; not `v2`).
fn looks_like_an_id(segment: &str) -> bool {
    let digits = segment.bytes().filter(u8::is_ascii_digit).count();
    let hex = segment.len() >= 8 && segment.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    !segment.is_empty()
        && (digits == segment.len() || hex || (digits >= 2 && digits * 3 >= segment.len()))
}

/// Whether `example`, beside nothing else, matches every one of `requests`.
fn fits_all(current: &Current, example: &Example, requests: &[NewCall]) -> bool {
    let alone = [(ExampleId::from(Uuid::nil()), example.clone())];
    let Some(engine) = Current::compile(&alone, &current.settings, &current.environment) else {
        return false;
    };
    !requests.is_empty()
        && requests
            .iter()
            .all(|call| engine.select(&engine_request(call)).matched().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_told_from_words() {
        for id in [
            "1",
            "42",
            "ord_123",
            "0193a1f2-7c1d-7000-8000-000000000000",
            "deadbeefcafe",
        ] {
            assert!(looks_like_an_id(id), "{id} is an id");
        }
        for word in ["numbers", "users", "v2", "me", "decade", ""] {
            assert!(!looks_like_an_id(word), "{word} is a word");
        }
    }
}

//! A drift check run: the request of each example sent to the mock's upstream, a few at a
//! time, through the runtime's pass-through client ([`lyrebird_runtime::Runtime::send_upstream`]),
//! so behind the same guard and limits, with the upstream's headers and never the mock's key;
//! and each answer compared with the example's response.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use axum::http::Method;
use futures_util::StreamExt;
use lyrebird_runtime::upstream::{Forward, Upstream};
use lyrebird_store::calls::{CallOutcomeKind, NewCall};
use lyrebird_store::{ExampleId, MockId, StoredExample, Workspace};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::compare::{DriftDifference, DriftKind, compare};
use super::request::{self, Outgoing, Plan};
use crate::AppState;
use crate::api::gate::Gate;
use crate::api::verify::CALL_LOG_WAIT;
use crate::error::ApiError;
use lyrebird_import::contract::Contract;

/// The most examples one check sends; a mock's further examples are left out, and counted.
const MAX_EXAMPLES: usize = 500;
/// Requests at the upstream at the same moment, per check.
const AT_ONCE: usize = 4;
/// Requests are sent until this long after the check began; later ones are skipped. One sent
/// has the upstream's own time limit (`upstream.timeout_ms`, 30 s at most) on top.
const SENDING_TIME: Duration = Duration::from_secs(120);
/// Logged calls read to find the newest each example answered.
const CALLS_SEARCHED: usize = 20_000;
/// Room for checks: one per workspace at a time, two per core in all.
static CHECKS: Gate = Gate::new(
    1,
    2,
    "this workspace has a drift check under way: run the next when it is answered",
    "the server is running as many drift checks as it can: try again in a moment",
);

/// What an example's answer came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DriftVerdict {
    /// The upstream's answer is like the example's response in every way compared.
    Agrees,
    /// It differs: see `differences`.
    Differs,
    /// Nothing was sent: see `reason`.
    Skipped,
    /// Sent, with no answer of the upstream's: see `error`.
    Failed,
}

/// How many examples got each verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DriftCounts {
    pub agrees: usize,
    pub differs: usize,
    pub skipped: usize,
    pub failed: usize,
}

/// The request sent for an example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DriftSentRequest {
    pub method: String,
    /// The upstream's URL with the request's path and query.
    pub url: String,
    /// The logged call it repeated, when the example describes more than one request.
    pub from_call: Option<Uuid>,
}

/// Why the upstream gave no answer, as pass-through says it (`upstream_refused`,
/// `upstream_unreachable`, `upstream_timeout`...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DriftFailure {
    pub code: String,
    pub message: String,
}

/// One example of the mock, checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DriftEntry {
    #[schema(value_type = String, format = Uuid)]
    pub example_id: ExampleId,
    /// The example's name.
    pub example: String,
    pub verdict: DriftVerdict,
    /// What was sent; absent when nothing was.
    pub request: Option<DriftSentRequest>,
    /// The upstream's status, when it answered.
    pub status: Option<u16>,
    pub differences: Vec<DriftDifference>,
    /// What was not compared, and why.
    pub notes: Vec<String>,
    /// Why nothing was sent (`skipped`).
    pub reason: Option<String>,
    /// Why there is no answer (`failed`).
    pub error: Option<DriftFailure>,
}

/// A report's findings: what the examples were checked against, and each example's entry, in
/// the mock's order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DriftFindings {
    /// The upstream's URL as the mock had it.
    pub upstream: String,
    /// Examples past the first 500, not checked.
    pub examples_left_out: usize,
    pub entries: Vec<DriftEntry>,
}

impl DriftFindings {
    pub fn counts(&self) -> DriftCounts {
        let mut counts = DriftCounts::default();
        for entry in &self.entries {
            *match entry.verdict {
                DriftVerdict::Agrees => &mut counts.agrees,
                DriftVerdict::Differs => &mut counts.differs,
                DriftVerdict::Skipped => &mut counts.skipped,
                DriftVerdict::Failed => &mut counts.failed,
            } += 1;
        }
        counts
    }
}

/// What every example's check shares.
struct Run<'a> {
    state: &'a AppState,
    workspace: &'a Workspace,
    upstream: &'a Upstream,
    /// The newest logged call each example that needs one answered.
    calls: HashMap<ExampleId, NewCall>,
    /// No request is sent after it.
    stop_sending: Instant,
}

/// Checks the workspace's mock against its upstream; `409 no_upstream` when it has none.
/// Checks each of the mock's examples against its OpenAPI contract, as a save would: nothing
/// is sent.
pub(super) async fn check_contract(
    state: &AppState,
    workspace: &Workspace,
    id: MockId,
) -> Result<DriftFindings, ApiError> {
    let Some(stored) = state.store.contract(workspace, id).await? else {
        return Err(ApiError::Conflict {
            code: "no_contract",
            field: "against",
            message: "the mock has no OpenAPI contract: attach one at /api/v1/mocks/{id}/contract first",
        });
    };
    let contract =
        Contract::new(stored.document).map_err(|error| ApiError::Internal(error.into()))?;
    let examples = state.store.list_examples(workspace, id).await?;
    let (title, version) = contract.title_and_version();
    let entries = examples
        .iter()
        .take(MAX_EXAMPLES)
        .map(|stored| {
            let differences: Vec<DriftDifference> = contract
                .check_example(&stored.example)
                .into_iter()
                .map(|violation| DriftDifference {
                    kind: DriftKind::Contract,
                    path: violation.at,
                    expected: violation.schema_path.into(),
                    actual: violation.message.into(),
                })
                .collect();
            DriftEntry {
                example_id: stored.id,
                example: stored.example.name.clone(),
                verdict: if differences.is_empty() {
                    DriftVerdict::Agrees
                } else {
                    DriftVerdict::Differs
                },
                request: None,
                status: None,
                differences,
                notes: if stored.example.response.template {
                    vec!["the body is a template: its JSON is not checked".to_owned()]
                } else {
                    Vec::new()
                },
                reason: None,
                error: None,
            }
        })
        .collect();
    Ok(DriftFindings {
        upstream: format!("the OpenAPI contract {title} {version}"),
        examples_left_out: examples.len().saturating_sub(MAX_EXAMPLES),
        entries,
    })
}

pub(super) async fn check_upstream(
    state: &AppState,
    workspace: &Workspace,
    id: MockId,
) -> Result<DriftFindings, ApiError> {
    let served = state.store.served_mock_in(workspace, id).await?;
    let mock = &served.mock;
    let Some(setting) = &mock.settings.upstream else {
        return Err(ApiError::Conflict {
            code: "no_upstream",
            field: "upstream",
            message: "the mock has no upstream: set `upstream` to the real API to check its examples against it",
        });
    };
    let upstream = Upstream::new(
        setting,
        &served.upstream_headers,
        mock.upstream_headers_origin.as_deref(),
    )
    .map_err(|reason| ApiError::invalid("upstream", reason))?;
    let _checking = CHECKS.enter(workspace.id())?;
    let examples = &served.examples[..served.examples.len().min(MAX_EXAMPLES)];
    let plans: Vec<Plan> = examples
        .iter()
        .map(|stored| request::plan(&stored.example, &mock.environment))
        .collect();
    let wanted: HashSet<ExampleId> = examples
        .iter()
        .zip(&plans)
        .filter(|(_, plan)| matches!(plan, Plan::FromCall(_)))
        .map(|(stored, _)| stored.id)
        .collect();
    let run = Run {
        state,
        workspace,
        upstream: &upstream,
        calls: newest_calls(state, workspace, id, wanted).await?,
        stop_sending: Instant::now() + SENDING_TIME,
    };
    // The futures are made first: a stream that makes them holds a closure over borrowed
    // examples, which the handler's future could not be proven `Send` with.
    let checks: Vec<_> = examples
        .iter()
        .zip(plans)
        .map(|(stored, plan)| run.entry(stored, plan))
        .collect();
    let entries = futures_util::stream::iter(checks)
        .buffered(AT_ONCE)
        .collect()
        .await;
    Ok(DriftFindings {
        upstream: setting.url.clone(),
        examples_left_out: served.examples.len() - examples.len(),
        entries,
    })
}

/// The newest call of the mock's call log that each of `wanted` answered, among its newest
/// [`CALLS_SEARCHED`], once this server's log writer has written the calls answered before.
async fn newest_calls(
    state: &AppState,
    workspace: &Workspace,
    mock: MockId,
    wanted: HashSet<ExampleId>,
) -> Result<HashMap<ExampleId, NewCall>, ApiError> {
    let mut found = HashMap::new();
    if wanted.is_empty() {
        return Ok(found);
    }
    tokio::time::timeout(CALL_LOG_WAIT, state.runtime.call_log().written())
        .await
        .map_err(|_| ApiError::CallLogBehind)?;
    let mut reader = state.store.read_calls(workspace, mock, None, None);
    for _ in 0..CALLS_SEARCHED {
        let Some(call) = reader.next().await? else {
            break;
        };
        if call.outcome == CallOutcomeKind::Matched
            && let Some(example) = call.example_id.filter(|id| wanted.contains(id))
        {
            found.entry(example).or_insert(call);
            if found.len() == wanted.len() {
                break;
            }
        }
    }
    Ok(found)
}

impl Run<'_> {
    async fn entry(&self, stored: &StoredExample, plan: Plan) -> DriftEntry {
        let mut entry = DriftEntry {
            example_id: stored.id,
            example: stored.example.name.clone(),
            verdict: DriftVerdict::Skipped,
            request: None,
            status: None,
            differences: Vec::new(),
            notes: Vec::new(),
            reason: None,
            error: None,
        };
        let outgoing = match self.outgoing(stored, plan) {
            Ok(outgoing) => outgoing,
            Err(reason) => {
                entry.reason = Some(reason);
                return entry;
            }
        };
        let forward = Forward {
            workspace: self.workspace.id(),
            method: &outgoing.method,
            path: &outgoing.path,
            query: &outgoing.query,
            headers: &outgoing.headers,
            client_addr: None,
            body: outgoing.body.clone(),
        };
        let (result, note) = self
            .state
            .runtime
            .send_upstream(self.upstream, forward)
            .await;
        entry.request = Some(DriftSentRequest {
            method: outgoing.method.to_string(),
            url: note.url,
            from_call: outgoing.from_call,
        });
        match result {
            Ok(answered) => {
                let head = outgoing.method == Method::HEAD;
                let compared = compare(&stored.example, head, &answered);
                entry.verdict = if compared.differences.is_empty() {
                    DriftVerdict::Agrees
                } else {
                    DriftVerdict::Differs
                };
                entry.status = Some(answered.status);
                entry.differences = compared.differences;
                entry.notes = compared.notes;
            }
            Err(failure) => {
                entry.verdict = DriftVerdict::Failed;
                entry.error = Some(DriftFailure {
                    code: failure.code.to_owned(),
                    message: failure.message,
                });
            }
        }
        entry
    }

    /// The request to send for the example; why none is sent.
    fn outgoing(&self, stored: &StoredExample, plan: Plan) -> Result<Outgoing, String> {
        let outgoing = match plan {
            Plan::Send(outgoing) => outgoing,
            Plan::Skip(reason) => return Err(reason),
            Plan::FromCall(why) => {
                let call = self.calls.get(&stored.id).ok_or_else(|| {
                    format!(
                        "{why}, and no call it answered is among the mock's newest \
                         {CALLS_SEARCHED} logged calls"
                    )
                })?;
                let outgoing = request::from_call(call)?;
                request::sendable(&outgoing.method, stored.example.drift_check)?;
                outgoing
            }
        };
        if Instant::now() >= self.stop_sending {
            return Err(format!(
                "the check sends requests for {} s, and they had passed",
                SENDING_TIME.as_secs()
            ));
        }
        Ok(outgoing)
    }
}

//! Drift checks of a mock against the real API behind it (docs/proxy.md, "Drift check"):
//! `POST /api/v1/mocks/{id}/drift-reports` sends each example's request to the mock's upstream
//! and reports, per example, whether the answer agrees with the example's response, how it
//! differs, or why nothing was sent or answered; the report is kept.
//! `GET .../drift-reports` lists the kept reports (a mock keeps 50), `GET .../{report_id}`
//! reads one, as a download with `?download=true`.
//!
//! - `request`: what is sent for an example;
//! - `compare`: what is compared, and how;
//! - `check`: a run, a few requests at a time, through the runtime's pass-through client.

mod check;
mod compare;
mod request;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use lyrebird_store::{DriftReport, DriftReportId, MockId, Workspace};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::macros::format_description;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use check::{DriftCounts, DriftEntry, DriftFindings, DriftVerdict};
pub use compare::{DriftDifference, DriftKind};

use crate::AppState;
use crate::api::versions::AuthorView;
use crate::auth::{Admin, OwnMock};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(run_check, list_reports))
        .routes(routes!(get_report))
}

/// What a mock's examples are checked against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DriftSource {
    /// The mock's upstream (`upstream.url`), with the headers set for it.
    #[default]
    Upstream,
    /// The mock's OpenAPI contract (`/api/v1/mocks/{id}/contract`): nothing is sent.
    Openapi,
}

impl DriftSource {
    fn as_str(self) -> &'static str {
        match self {
            DriftSource::Upstream => "upstream",
            DriftSource::Openapi => "openapi",
        }
    }
}

/// A check to run.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DriftCheck {
    /// What to check the examples against (default `upstream`).
    #[serde(default)]
    pub against: DriftSource,
}

/// A report in brief: when, by whom, against what, and how many examples got each verdict.
#[derive(Debug, Serialize, ToSchema)]
pub struct DriftReportBrief {
    #[schema(value_type = String, format = Uuid)]
    pub id: DriftReportId,
    #[schema(value_type = String, format = Uuid)]
    pub mock_id: MockId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Who ran it, as a version names its author.
    pub author: AuthorView,
    pub source: DriftSource,
    pub summary: DriftCounts,
}

/// A whole report: the brief, what was checked against, and an entry per example.
#[derive(Debug, Serialize, ToSchema)]
pub struct DriftReportView {
    #[serde(flatten)]
    pub brief: DriftReportBrief,
    #[serde(flatten)]
    pub findings: DriftFindings,
}

/// The mock's kept reports.
#[derive(Debug, Serialize, ToSchema)]
pub struct DriftReportList {
    /// Newest first; a mock keeps its newest 50.
    pub reports: Vec<DriftReportBrief>,
}

impl DriftReportBrief {
    pub(crate) fn of(kept: lyrebird_store::DriftSummary) -> Result<Self, ApiError> {
        let unreadable = |error: serde_json::Error| ApiError::Internal(error.into());
        Ok(Self {
            id: kept.id,
            mock_id: kept.mock_id,
            created_at: kept.created_at,
            author: AuthorView(kept.author),
            source: serde_json::from_value(kept.source.into()).map_err(unreadable)?,
            summary: serde_json::from_value(kept.summary).map_err(unreadable)?,
        })
    }
}

impl DriftReportView {
    pub(crate) fn of(kept: DriftReport) -> Result<Self, ApiError> {
        Ok(Self {
            brief: DriftReportBrief::of(kept.summary)?,
            findings: serde_json::from_value(kept.report)
                .map_err(|error| ApiError::Internal(error.into()))?,
        })
    }

    /// `drift-<mock>-<time>.json`, the name of the report downloaded.
    pub(crate) fn file_name(&self) -> String {
        let time = self
            .brief
            .created_at
            .format(format_description!(
                "[year][month][day]T[hour][minute][second]Z"
            ))
            .unwrap_or_default();
        format!("drift-{}-{time}.json", self.brief.mock_id)
    }
}

/// Runs a check of the workspace's mock and keeps its report.
pub(crate) async fn run(
    state: &AppState,
    workspace: &Workspace,
    mock: MockId,
    asked: DriftCheck,
) -> Result<DriftReportView, ApiError> {
    let findings = match asked.against {
        DriftSource::Upstream => check::check_upstream(state, workspace, mock).await?,
        DriftSource::Openapi => check::check_contract(state, workspace, mock).await?,
    };
    let json = |value: Result<serde_json::Value, serde_json::Error>| {
        value.map_err(|error| ApiError::Internal(error.into()))
    };
    let kept = state
        .store
        .add_drift_report(
            workspace,
            mock,
            asked.against.as_str(),
            &json(serde_json::to_value(findings.counts()))?,
            &json(serde_json::to_value(&findings))?,
        )
        .await?;
    DriftReportView::of(kept)
}

/// Sends the request of each of the mock's examples to its upstream and compares the answers
/// with the examples' responses: status, media type, the headers the example names, and the
/// shape of JSON bodies. Only `GET` and `HEAD` examples are sent, unless an example says
/// otherwise (`drift_check`); one whose path has captures sends the newest logged call it
/// answered. The report is kept (a mock keeps 50).
#[utoipa::path(
    post,
    path = "/api/v1/mocks/{id}/drift-reports",
    tag = "drift",
    params(("id" = String, Path, format = Uuid, description = "The mock's id")),
    request_body = DriftCheck,
    responses(
        (status = 201, description = "The report, kept at the URL `Location` gives", body = DriftReportView),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The mock has no upstream (`no_upstream`)", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, description = "Another drift check of the workspace is under way", body = ErrorBody),
        (status = 503, description = "The call log did not catch up within 5 s", body = ErrorBody),
    )
)]
async fn run_check(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(mock): ApiPath<MockId>,
    ApiJson(check): ApiJson<DriftCheck>,
) -> Result<Response, ApiError> {
    let report = run(&state, &admin.workspace, mock, check).await?;
    let location = format!("/api/v1/mocks/{mock}/drift-reports/{}", report.brief.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(report),
    )
        .into_response())
}

/// The mock's kept drift reports, newest first, in brief.
#[utoipa::path(
    get,
    path = "/api/v1/mocks/{id}/drift-reports",
    tag = "drift",
    params(("id" = String, Path, format = Uuid, description = "The mock's id")),
    responses((status = 200, body = DriftReportList), (status = 404, body = ErrorBody))
)]
async fn list_reports(
    State(state): State<AppState>,
    OwnMock(admin, mock): OwnMock,
) -> Result<Json<DriftReportList>, ApiError> {
    let kept = state
        .store
        .list_drift_reports(&admin.workspace, mock.id)
        .await?;
    let reports = kept
        .into_iter()
        .map(DriftReportBrief::of)
        .collect::<Result<_, _>>()?;
    Ok(Json(DriftReportList { reports }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// Answer as a file to save: `Content-Disposition: attachment;
    /// filename="drift-<mock>-<time>.json"`.
    pub download: Option<bool>,
}

/// One drift report, whole.
#[utoipa::path(
    get,
    path = "/api/v1/mocks/{id}/drift-reports/{report_id}",
    tag = "drift",
    params(
        ("id" = String, Path, format = Uuid, description = "The mock's id"),
        ("report_id" = String, Path, format = Uuid, description = "The report's id"),
        ReportParams,
    ),
    responses((status = 200, body = DriftReportView), (status = 404, body = ErrorBody))
)]
async fn get_report(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath((mock, id)): ApiPath<(MockId, DriftReportId)>,
    ApiQuery(params): ApiQuery<ReportParams>,
) -> Result<Response, ApiError> {
    let kept = state.store.drift_report(&admin.workspace, mock, id).await?;
    let report = DriftReportView::of(kept)?;
    if params.download != Some(true) {
        return Ok(Json(report).into_response());
    }
    let disposition = format!("attachment; filename=\"{}\"", report.file_name());
    Ok(([(header::CONTENT_DISPOSITION, disposition)], Json(report)).into_response())
}

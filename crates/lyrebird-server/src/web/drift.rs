//! Drift checks in the web app: the mock page's "Check against the upstream" button
//! (`POST /mocks/{id}/drift`), which runs a check and opens its report, the mock page's list of
//! reports, and a report (`/mocks/{id}/drift/{report_id}`): each example with the request sent,
//! the verdict and the differences, and its JSON to download.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use lyrebird_store::{DriftReportId, MockId};
use minijinja::context;
use minijinja::value::{Serde, Value};
use serde::Deserialize;

use super::csrf::PostedForm;
use super::versions::when;
use super::{Flash, PageError, PagePath, WebSession, page, redirect_with};
use crate::AppState;
use crate::api::drift::{
    DriftCheck, DriftCounts, DriftReportBrief, DriftReportView, DriftSource, run,
};
use crate::auth::OwnMock;
use crate::error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/mocks/{id}/drift", post(run_check))
        .route("/mocks/{id}/drift/{report_id}", get(report_page))
}

/// The counts in brief: "2 agree, 1 differs, 1 skipped"; "no examples" for none.
fn in_words(counts: &DriftCounts) -> String {
    let counted = [
        (counts.agrees, "agrees", "agree"),
        (counts.differs, "differs", "differ"),
        (counts.skipped, "skipped", "skipped"),
        (counts.failed, "failed", "failed"),
    ];
    let words: Vec<String> = counted
        .iter()
        .filter(|(count, ..)| *count > 0)
        .map(|&(count, one, many)| format!("{count} {}", if count == 1 { one } else { many }))
        .collect();
    if words.is_empty() {
        "no examples".to_owned()
    } else {
        words.join(", ")
    }
}

/// The mock's kept reports as the mock page lists them, newest first.
pub(super) async fn reports_of(
    state: &AppState,
    session: &WebSession,
    mock: MockId,
) -> Result<Vec<Value>, PageError> {
    let kept = state
        .store
        .list_drift_reports(&session.workspace, mock)
        .await?;
    kept.into_iter()
        .map(|kept| {
            let brief = DriftReportBrief::of(kept)?;
            Ok(context! {
                id => brief.id.to_string(),
                when => when(brief.created_at),
                counts => in_words(&brief.summary),
            })
        })
        .collect()
}

/// The check form: what to check against (the upstream unless it says `openapi`).
#[derive(Debug, Deserialize)]
struct CheckForm {
    #[serde(default)]
    against: DriftSource,
}

/// Runs a check against the upstream or the contract and opens its report; a mock without
/// one, or a check already under way, is said on the mock page.
async fn run_check(
    State(state): State<AppState>,
    PagePath(id): PagePath<MockId>,
    PostedForm { session, form }: PostedForm<CheckForm>,
) -> Result<Response, PageError> {
    let against = form.against;
    match run(&state, &session.workspace, id, DriftCheck { against }).await {
        Ok(report) => Ok(redirect_with(
            &format!("/mocks/{id}/drift/{}", report.brief.id),
            &[Flash::success(format!(
                "Checked against the {}: {}.",
                match against {
                    DriftSource::Upstream => "upstream",
                    DriftSource::Openapi => "OpenAPI contract",
                },
                in_words(&report.brief.summary)
            ))],
        )),
        Err(
            refused @ (ApiError::Conflict { .. } | ApiError::Busy(_) | ApiError::CallLogBehind),
        ) => Ok(redirect_with(
            &format!("/mocks/{id}#drift"),
            &[Flash::error(format!("No drift check was run: {refused}."))],
        )),
        Err(error) => Err(error.into()),
    }
}

#[derive(Debug, Deserialize)]
struct ReportPath {
    report_id: DriftReportId,
}

async fn report_page(
    State(state): State<AppState>,
    OwnMock(session, mock): OwnMock<WebSession>,
    PagePath(ReportPath { report_id }): PagePath<ReportPath>,
) -> Result<Response, PageError> {
    let kept = state
        .store
        .drift_report(&session.workspace, mock.id, report_id)
        .await?;
    let report = DriftReportView::of(kept)?;
    page(
        &session,
        StatusCode::OK,
        "drift.html",
        context! {
            nav => "mocks",
            mock => context! { id => mock.id.to_string(), name => &mock.name },
            when => when(report.brief.created_at),
            counts => in_words(&report.brief.summary),
            report => Serde(report),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_as_words_without_the_zeros() {
        let counts = DriftCounts {
            agrees: 2,
            differs: 1,
            skipped: 0,
            failed: 1,
        };
        assert_eq!(in_words(&counts), "2 agree, 1 differs, 1 failed");
        assert_eq!(in_words(&DriftCounts::default()), "no examples");
    }
}

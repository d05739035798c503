//! The usage page (`/usage`): the workspace's mock calls this month against its quota, as a
//! number and a bar, and when the count starts again. The numbers are the API's
//! ([`crate::api::usage::this_month`]), calls not yet written to the database included.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use minijinja::context;

use super::{PageError, WebSession, format, page};
use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/usage", get(usage_page))
}

/// From this share of the quota on, the bar turns to a warning.
const WARN_AT_PERCENT: u64 = 80;

async fn usage_page(
    State(state): State<AppState>,
    session: WebSession,
) -> Result<Response, PageError> {
    let usage = crate::api::usage::this_month(&state, &session.workspace).await?;
    // A quota of 0 is used up from the start.
    let percent = usage
        .calls
        .saturating_mul(100)
        .checked_div(usage.quota)
        .map_or(100, |percent| percent.min(100));
    page(
        &session,
        StatusCode::OK,
        "usage.html",
        context! {
            nav => "usage",
            month => format::month(&usage.month),
            bar_max => usage.quota.max(1),
            bar_value => usage.calls.min(usage.quota.max(1)),
            calls_text => format::count(usage.calls),
            quota_text => format::count(usage.quota),
            remaining_text => format::count(usage.remaining),
            percent_text => percent_text(percent, usage.calls),
            warn => percent >= WARN_AT_PERCENT,
            used_up => usage.remaining == 0,
            resets_on => format::date(usage.resets_at),
            resets_at => format::time(usage.resets_at),
        },
    )
}

/// The share used, as the page says it: a first call is not "0%".
fn percent_text(percent: u64, calls: u64) -> String {
    if percent == 0 && calls > 0 {
        "less than 1".to_owned()
    } else {
        percent.to_string()
    }
}

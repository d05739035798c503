//! Recording and examples from calls, from the pages: start and stop a mock's recording (the
//! mock page's Upstream part), and turn the calls chosen in the call log into examples. Both
//! land in the draft page, where the new examples are reviewed and published.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use lyrebird_store::MockId;
use uuid::Uuid;

use super::csrf::PostedForm;
use super::{Flash, PageError, PagePath, redirect_with};
use crate::AppState;
use crate::api::recording::{self, LearnedView};
use crate::error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/mocks/{id}/recording", post(start))
        .route("/mocks/{id}/recording/stop", post(stop))
        .route("/mocks/{id}/calls/examples", post(from_calls))
}

/// What the form held besides its token; the forms carry nothing else but the chosen calls.
type Fields = Vec<(String, String)>;

async fn start(
    State(state): State<AppState>,
    PagePath(id): PagePath<MockId>,
    PostedForm { session, .. }: PostedForm<Fields>,
) -> Result<Response, PageError> {
    let mock = state.store.mock(&session.workspace, id).await?;
    let back = format!("/mocks/{id}#recording");
    let flash = match recording::start(&state, &session.workspace, &mock).await {
        Ok(_) => Flash::success(
            "Recording: calls no example matches go to the upstream. Stop to review them as examples.",
        ),
        Err(ApiError::StateConflict { message, .. }) => Flash::error(message),
        Err(error) => return Err(error.into()),
    };
    Ok(redirect_with(&back, &[flash]))
}

async fn stop(
    State(state): State<AppState>,
    PagePath(id): PagePath<MockId>,
    PostedForm { session, .. }: PostedForm<Fields>,
) -> Result<Response, PageError> {
    let mock = state.store.mock(&session.workspace, id).await?;
    match recording::stop(&state, &session.workspace, &mock).await {
        Ok(learned) => Ok(learned_page(id, &learned, "Recorded")),
        Err(ApiError::StateConflict { message, .. }) => Ok(redirect_with(
            &format!("/mocks/{id}#recording"),
            &[Flash::error(message)],
        )),
        Err(error) => Err(error.into()),
    }
}

async fn from_calls(
    State(state): State<AppState>,
    PagePath(id): PagePath<MockId>,
    PostedForm { session, form }: PostedForm<Fields>,
) -> Result<Response, PageError> {
    let mock = state.store.mock(&session.workspace, id).await?;
    let chosen: Vec<Uuid> = form
        .iter()
        .filter(|(name, _)| name == "call")
        .filter_map(|(_, value)| value.parse().ok())
        .collect();
    if chosen.is_empty() {
        return Ok(redirect_with(
            &format!("/mocks/{id}/calls"),
            &[Flash::error(
                "Choose the calls to make examples of: tick them in the first column.",
            )],
        ));
    }
    let learned = recording::from_calls(&state, &session.workspace, &mock, &chosen).await?;
    Ok(learned_page(id, &learned, "Read"))
}

/// The draft page when examples were added (to review them), the mock page otherwise; with
/// what became of the calls.
fn learned_page(id: MockId, learned: &LearnedView, verb: &str) -> Response {
    let calls = learned.calls;
    let mut flashes = vec![if learned.added > 0 {
        Flash::success(format!(
            "{verb} {calls} call(s): {} example(s) added to the draft{}. Review them, then publish.",
            learned.added,
            match learned.folded {
                0 => String::new(),
                folded => format!(" ({folded} repeated call(s) folded)"),
            }
        ))
    } else {
        Flash::warning(format!("{verb} {calls} call(s): no example was made."))
    }];
    flashes.extend(learned.skipped.iter().map(|skipped| {
        Flash::warning(format!(
            "Call {} was skipped: {}.",
            skipped.call_id, skipped.reason
        ))
    }));
    flashes.extend(learned.warnings.iter().map(Flash::warning));
    let to = if learned.added > 0 {
        format!("/mocks/{id}/draft")
    } else {
        format!("/mocks/{id}#recording")
    };
    redirect_with(&to, &flashes)
}

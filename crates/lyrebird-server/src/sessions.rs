//! Web sessions: `POST /api/v1/sessions` logs in and sets an HttpOnly cookie,
//! `DELETE /api/v1/sessions` logs out.
//!
//! The cookie is `SameSite=Lax` and the API only takes JSON bodies, so another site can neither
//! send the cookie with a script's request nor forge a JSON request with a plain form.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse};
use lyrebird_store::accounts::SESSION_LIFETIME;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::accounts::{AccountView, Credentials, WorkspaceView};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, SESSION_COOKIE, session_token};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(log_in, log_out))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoggedIn {
    pub account: AccountView,
    pub workspace: WorkspaceView,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// Logs in: sets the `lyrebird_session` cookie.
#[utoipa::path(
    post,
    path = "/api/v1/sessions",
    tag = "sessions",
    security(()),
    request_body = Credentials,
    responses(
        (status = 200, description = "Logged in; the cookie is set", body = LoggedIn),
        (status = 401, description = "Wrong email or password", body = ErrorBody),
    )
)]
async fn log_in(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<impl IntoResponse, ApiError> {
    let (email, password) = body.parse()?;
    let session = state
        .store
        .log_in(&email, password)
        .await?
        .ok_or(ApiError::InvalidCredentials("wrong email or password"))?;
    let cookie = session_cookie(session.token.expose(), SESSION_LIFETIME.whole_seconds())?;
    Ok((
        AppendHeaders([(header::SET_COOKIE, cookie)]),
        Json(LoggedIn {
            account: session.account.into(),
            workspace: WorkspaceView::new(session.workspace, &state.settings),
            expires_at: session.expires_at,
        }),
    ))
}

/// Logs out: ends the session of the cookie, if any, and clears the cookie.
#[utoipa::path(
    delete,
    path = "/api/v1/sessions",
    tag = "sessions",
    security(()),
    responses((status = 204, description = "Logged out"))
)]
async fn log_out(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    if let Some(token) = session_token(&headers) {
        state.store.log_out(&token).await?;
    }
    Ok((
        StatusCode::NO_CONTENT,
        AppendHeaders([(header::SET_COOKIE, session_cookie("", 0)?)]),
    ))
}

fn session_cookie(token: &str, max_age_seconds: i64) -> Result<HeaderValue, ApiError> {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age_seconds}"
    ))
    .map_err(|e| ApiError::Internal(e.into()))
}

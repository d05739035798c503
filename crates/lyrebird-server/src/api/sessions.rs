//! Web sessions: `POST /api/v1/sessions` logs in and sets an HttpOnly cookie,
//! `DELETE /api/v1/sessions` logs out.
//!
//! The cookie is `SameSite=Lax`, and a change made with it must carry the session's CSRF token in
//! `x-csrf-token` ([`crate::auth::Admin`]), which another site cannot read. Logging in goes
//! through the same throttle as the log-in page ([`crate::auth::throttle`]).

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Response};
use lyrebird_store::Secret;
use lyrebird_store::accounts::SESSION_LIFETIME;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::api::accounts::{AccountView, Credentials, WorkspaceView};
use crate::auth::client_addr::ClientOrigin;
use crate::auth::cookies::session_token;
use crate::auth::cookies::{is_https, session_cookie};
use crate::auth::throttle::{LoginRefused, LoginThrottle, log_in as throttled_log_in};
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(log_in, log_out))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoggedIn {
    pub account: AccountView,
    pub workspace: WorkspaceView,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// What a change made with this session's cookie sends in `x-csrf-token`. Only the one who
    /// logged in reads it; another site cannot.
    pub csrf_token: String,
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
        (status = 429, description = "Too many failed attempts for this email or address; `Retry-After` says how long to wait", body = ErrorBody),
    )
)]
async fn log_in(
    State(state): State<AppState>,
    Extension(throttle): Extension<LoginThrottle>,
    ClientOrigin(origin): ClientOrigin,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Response, ApiError> {
    let (email, password) = body.parse()?;
    let session = match throttled_log_in(&state.store, &throttle, &email, password, &origin).await {
        Ok(session) => session,
        Err(LoginRefused::WrongCredentials) => {
            return Err(ApiError::InvalidCredentials("wrong email or password"));
        }
        Err(LoginRefused::Throttled(seconds)) => {
            return Err(ApiError::TooManyAttempts {
                what: "failed attempts to log in",
                seconds,
            });
        }
        Err(LoginRefused::Store(error)) => return Err(error.into()),
    };
    let cookie = session_cookie(
        &session.token,
        SESSION_LIFETIME.whole_seconds(),
        is_https(&headers),
    );
    Ok((
        AppendHeaders([(header::SET_COOKIE, cookie)]),
        Json(LoggedIn {
            account: session.account.into(),
            workspace: WorkspaceView::new(session.workspace, &state.settings),
            expires_at: session.expires_at,
            csrf_token: crate::auth::csrf::session_token(&session.token),
        }),
    )
        .into_response())
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
        AppendHeaders([(
            header::SET_COOKIE,
            session_cookie(&Secret::new(""), 0, is_https(&headers)),
        )]),
    ))
}

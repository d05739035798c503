//! The caller's own account: `GET /api/v1/account`, `PUT /api/v1/account/password`,
//! `GET/DELETE /api/v1/account/sessions`, `DELETE /api/v1/account/sessions/{id}` and
//! `DELETE /api/v1/account`.
//!
//! These act on the signed-in person, or on the member an `admin` key acts for, whatever their
//! role in the workspace. A key may read the account and its sessions, end sessions and change
//! the password (which takes the current one); it may not delete the account, which is
//! `403 session_required`: that needs the person, signed in. A password asked again (the current
//! one, or the one confirming a deletion) is one attempt of the login throttle
//! ([`crate::auth::throttle`]), so these routes cannot be used to guess it.

use std::net::IpAddr;

use axum::Json;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse, Response};
use lyrebird_store::{
    AccountId, AccountSummary, Actor, DeletedAccount, Email, NewPassword, Secret, SessionSummary,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::AppState;
use crate::api::workspaces::WorkspaceMembership;
use crate::auth::Admin;
use crate::auth::cookies::{is_https, session_cookie, session_token};
use crate::auth::throttle::{ClientAddr, LoginRefused, LoginThrottle, throttled};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(show_account, delete_account))
        .routes(routes!(change_password))
        .routes(routes!(list_sessions, end_other_sessions))
        .routes(routes!(end_session))
}

/// The account, and the workspaces it belongs to.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountSettings {
    #[schema(value_type = String, format = Uuid)]
    pub id: AccountId,
    pub email: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Whether the account governs every workspace of the server.
    pub operator: bool,
    /// Its personal workspace first, then by name.
    pub workspaces: Vec<WorkspaceMembership>,
}

/// A live session of the account.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountSession {
    /// What ends it: `DELETE /api/v1/account/sessions/{id}`.
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The client's address when it was opened.
    #[schema(example = "192.0.2.7")]
    pub address: Option<String>,
    /// The browser's `User-Agent` when it was opened.
    pub user_agent: Option<String>,
    /// Whether this is the session making the request.
    pub current: bool,
}

impl From<SessionSummary> for AccountSession {
    fn from(session: SessionSummary) -> Self {
        Self {
            id: session.id,
            created_at: session.created_at,
            expires_at: session.expires_at,
            address: session.address,
            user_agent: session.user_agent,
            current: session.current,
        }
    }
}

/// A new password, confirmed by the current one. No `Debug`: it holds passwords.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    #[schema(format = Password)]
    pub current_password: String,
    /// At least 10 characters.
    #[schema(format = Password)]
    pub new_password: String,
}

/// How many sessions a change ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionsEnded {
    pub ended_sessions: u64,
}

/// What confirms deleting the account: its email, typed again, and its password. No `Debug`:
/// it holds a password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountDeletion {
    #[schema(example = "ada@example.com")]
    pub email: String,
    #[schema(format = Password)]
    pub password: String,
}

/// The account, its operator flag and its workspaces.
#[utoipa::path(
    get,
    path = "/api/v1/account",
    tag = "account",
    responses(
        (status = 200, body = AccountSettings),
        (status = 401, body = ErrorBody),
        (status = 403, description = "A mock-scoped key", body = ErrorBody),
    )
)]
async fn show_account(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<Json<AccountSettings>, ApiError> {
    let account = state
        .store
        .account_summary(admin.workspace.member())
        .await?;
    let workspaces = state.store.workspaces_of(account.id).await?;
    Ok(Json(AccountSettings {
        id: account.id,
        email: account.email,
        created_at: account.created_at,
        operator: account.operator,
        workspaces: workspaces
            .into_iter()
            .map(|membership| WorkspaceMembership::of(membership, admin.workspace.id()))
            .collect(),
    }))
}

/// Changes the password. The current one must be right; every other session of the account
/// ends (all of them, with a key), the one asking stays.
#[utoipa::path(
    put,
    path = "/api/v1/account/password",
    tag = "account",
    request_body = PasswordChange,
    responses(
        (status = 200, description = "Changed", body = SessionsEnded),
        (status = 401, body = ErrorBody),
        (status = 403, description = "`wrong_password`: the current password is wrong; or a mock-scoped key", body = ErrorBody),
        (status = 422, description = "The new password is too short", body = ErrorBody),
        (status = 429, description = "Too many wrong passwords for this account or address; see Retry-After", body = ErrorBody),
    )
)]
async fn change_password(
    State(state): State<AppState>,
    Extension(throttle): Extension<LoginThrottle>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    admin: Admin,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<Json<SessionsEnded>, ApiError> {
    let asking = asking_session(&admin, &headers);
    let ended_sessions = set_password(
        &state,
        &throttle,
        address,
        admin.workspace.member(),
        asking.as_ref(),
        Secret::new(body.current_password),
        Secret::new(body.new_password),
    )
    .await?;
    Ok(Json(SessionsEnded { ended_sessions }))
}

/// The account's live sessions, newest first, the one asking marked `current`.
#[utoipa::path(
    get,
    path = "/api/v1/account/sessions",
    tag = "account",
    responses(
        (status = 200, body = Vec<AccountSession>),
        (status = 401, body = ErrorBody),
        (status = 403, description = "A mock-scoped key", body = ErrorBody),
    )
)]
async fn list_sessions(
    State(state): State<AppState>,
    headers: HeaderMap,
    admin: Admin,
) -> Result<Json<Vec<AccountSession>>, ApiError> {
    let asking = asking_session(&admin, &headers);
    let sessions = state
        .store
        .sessions_of(admin.workspace.member(), asking.as_ref())
        .await?;
    Ok(Json(
        sessions.into_iter().map(AccountSession::from).collect(),
    ))
}

/// Ends one of the account's sessions (the one asking included: that logs it out). Another
/// account's session is not found.
#[utoipa::path(
    delete,
    path = "/api/v1/account/sessions/{id}",
    tag = "account",
    params(("id" = String, Path, format = Uuid, description = "The session's id")),
    responses(
        (status = 204, description = "Ended"),
        (status = 401, body = ErrorBody),
        (status = 403, description = "A mock-scoped key", body = ErrorBody),
        (status = 404, body = ErrorBody),
    )
)]
async fn end_session(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .end_session(admin.workspace.member(), id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of the account but the one asking (every one, with a key).
#[utoipa::path(
    delete,
    path = "/api/v1/account/sessions",
    tag = "account",
    responses(
        (status = 200, body = SessionsEnded),
        (status = 401, body = ErrorBody),
        (status = 403, description = "A mock-scoped key", body = ErrorBody),
    )
)]
async fn end_other_sessions(
    State(state): State<AppState>,
    headers: HeaderMap,
    admin: Admin,
) -> Result<Json<SessionsEnded>, ApiError> {
    let asking = asking_session(&admin, &headers);
    let ended_sessions = state
        .store
        .end_other_sessions(admin.workspace.member(), asking.as_ref())
        .await?;
    Ok(Json(SessionsEnded { ended_sessions }))
}

/// Deletes the account, with a session only: its personal workspace and every workspace it is
/// the only owner of, with all their mocks, keys and call logs; its memberships elsewhere (those
/// workspaces keep everything); its keys and sessions. The session cookie is cleared.
#[utoipa::path(
    delete,
    path = "/api/v1/account",
    tag = "account",
    request_body = AccountDeletion,
    responses(
        (status = 204, description = "Deleted; the cookie is cleared"),
        (status = 401, body = ErrorBody),
        (status = 403, description = "`wrong_password`; `session_required` with a key", body = ErrorBody),
        (status = 422, description = "The email typed is not the account's", body = ErrorBody),
        (status = 429, description = "Too many wrong passwords for this account or address; see Retry-After", body = ErrorBody),
    )
)]
async fn delete_account(
    State(state): State<AppState>,
    Extension(throttle): Extension<LoginThrottle>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    admin: Admin,
    ApiJson(body): ApiJson<AccountDeletion>,
) -> Result<Response, ApiError> {
    if !matches!(admin.workspace.actor(), Actor::Account(_)) {
        return Err(ApiError::SessionRequired(
            "an account is deleted only by its owner, signed in: log in and use the session, \
             not a key",
        ));
    }
    remove_account(
        &state,
        &throttle,
        address,
        admin.workspace.member(),
        &body.email,
        Secret::new(body.password),
    )
    .await?;
    Ok((
        StatusCode::NO_CONTENT,
        AppendHeaders([(
            header::SET_COOKIE,
            session_cookie(&Secret::new(""), 0, is_https(&headers)),
        )]),
    )
        .into_response())
}

/// The session making the request, when the caller is a signed-in person (a key presented
/// with a cookie acts as the key: the cookie is not the caller then).
pub(crate) fn asking_session(admin: &Admin, headers: &HeaderMap) -> Option<Secret> {
    match admin.workspace.actor() {
        Actor::Account(_) => session_token(headers),
        Actor::Key(_) | Actor::System => None,
    }
}

/// Changes `account`'s password from `current` to `new`, keeping the session `keep`; the
/// API's and the settings page's one way to do it. Returns how many sessions ended.
pub(crate) async fn set_password(
    state: &AppState,
    throttle: &LoginThrottle,
    address: Option<IpAddr>,
    account: AccountId,
    keep: Option<&Secret>,
    current: Secret,
    new: Secret,
) -> Result<u64, ApiError> {
    let new = NewPassword::parse(new).map_err(|m| ApiError::invalid("new_password", m))?;
    let email = account_email(state, account).await?;
    let change = state.store.change_password(account, current, new, keep);
    throttled(throttle, &email, address, change)
        .await
        .map_err(|refused| password_refused(refused, "current_password"))
}

/// Deletes `account` once `typed` is its email and `password` its password; the API's and the
/// settings page's one way to do it. A wrong email changes nothing and counts no attempt.
pub(crate) async fn remove_account(
    state: &AppState,
    throttle: &LoginThrottle,
    address: Option<IpAddr>,
    account: AccountId,
    typed: &str,
    password: Secret,
) -> Result<DeletedAccount, ApiError> {
    let email = account_email(state, account).await?;
    if Email::parse(typed).ok().as_ref() != Some(&email) {
        return Err(ApiError::invalid(
            "email",
            "type the account's email exactly to confirm deleting it",
        ));
    }
    let deletion = state.store.delete_account(account, password);
    throttled(throttle, &email, address, deletion)
        .await
        .map_err(|refused| password_refused(refused, "password"))
}

async fn account_email(state: &AppState, account: AccountId) -> Result<Email, ApiError> {
    let AccountSummary { email, .. } = state.store.account_summary(account).await?;
    Email::parse(&email).map_err(|m| ApiError::Internal(m.into()))
}

/// A refused password check as the API answers it, naming the `field` that was wrong.
pub(crate) fn password_refused(refused: LoginRefused, field: &'static str) -> ApiError {
    match refused {
        LoginRefused::WrongCredentials => ApiError::WrongPassword(field),
        LoginRefused::Throttled(seconds) => ApiError::TooManyAttempts {
            what: "wrong passwords",
            seconds,
        },
        LoginRefused::Store(error) => error.into(),
    }
}

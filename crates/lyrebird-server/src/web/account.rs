//! The account settings page (`/account`): changing the password, the account's sessions with
//! a button to end each one or all the others, and deleting the account after a page that asks
//! for its email and password.
//!
//! Every action goes through the API's own functions ([`crate::api::account`]), so the checks
//! and the login throttle are the same; the page only shows their refusals beside the fields.

use axum::Router;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use lyrebird_store::{Secret, SessionSummary};
use minijinja::context;
use minijinja::value::Serde;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::csrf::PostedForm;
use super::{Flash, PageError, PagePath, WebSession, format, page, redirect_with, render};
use crate::AppState;
use crate::api::account::{remove_account, set_password};
use crate::auth::cookies::{is_https, session_cookie, session_token};
use crate::auth::throttle::{ClientAddr, LoginThrottle};
use crate::error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account", get(account_page))
        .route("/account/password", post(change_password))
        .route("/account/sessions/{id}/end", post(end_session))
        .route("/account/sessions/end-others", post(end_other_sessions))
        .route("/account/delete", get(confirm_delete).post(delete_account))
}

/// A session as the page lists it.
#[derive(Debug, Serialize)]
struct SessionRow {
    id: String,
    created: String,
    expires: String,
    address: Option<String>,
    /// The browser as people name it, and the whole `User-Agent` beside it.
    browser: Option<String>,
    user_agent: Option<String>,
    current: bool,
}

impl From<SessionSummary> for SessionRow {
    fn from(session: SessionSummary) -> Self {
        Self {
            id: session.id.to_string(),
            created: format::time(session.created_at),
            expires: format::date(session.expires_at),
            address: session.address,
            browser: session.user_agent.as_deref().map(format::browser),
            user_agent: session.user_agent,
            current: session.current,
        }
    }
}

/// The password form's errors, beside their fields. The values are never sent back.
#[derive(Debug, Default, Serialize)]
struct PasswordErrors {
    current_password: Option<String>,
    new_password: Option<String>,
}

/// The password form as sent. No `Debug`: it holds passwords.
#[derive(Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

/// The deletion form as sent. No `Debug`: it holds a password.
#[derive(Deserialize)]
struct DeletionForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// What the deletion page shows besides its form: the email typed and the errors.
#[derive(Debug, Default, Serialize)]
struct DeletionState {
    email: String,
    email_error: Option<String>,
    password_error: Option<String>,
}

async fn account_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    session: WebSession,
) -> Result<Response, PageError> {
    render_account(
        &state,
        &headers,
        &session,
        StatusCode::OK,
        PasswordErrors::default(),
    )
    .await
}

async fn render_account(
    state: &AppState,
    headers: &HeaderMap,
    session: &WebSession,
    status: StatusCode,
    password: PasswordErrors,
) -> Result<Response, PageError> {
    let account = state.store.account_summary(session.account.id).await?;
    let token = session_token(headers);
    let sessions: Vec<SessionRow> = state
        .store
        .sessions_of(account.id, token.as_ref())
        .await?
        .into_iter()
        .map(SessionRow::from)
        .collect();
    let workspaces = state.store.workspaces_of(account.id).await?;
    page(
        session,
        status,
        "account.html",
        context! {
            nav => "account",
            account => context! {
                email => account.email,
                created => format::date(account.created_at),
                operator => account.operator,
            },
            workspaces => workspaces.iter().map(|w| context! {
                name => &w.name,
                role => w.role.as_str(),
                personal => w.personal,
                members => w.members,
            }).collect::<Vec<_>>(),
            sessions => Serde(sessions),
            password => Serde(password),
        },
    )
}

async fn change_password(
    State(state): State<AppState>,
    Extension(throttle): Extension<LoginThrottle>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    PostedForm { session, form }: PostedForm<PasswordForm>,
) -> Result<Response, PageError> {
    let keep = session_token(&headers);
    let changed = set_password(
        &state,
        &throttle,
        address,
        session.account.id,
        keep.as_ref(),
        Secret::new(form.current_password),
        Secret::new(form.new_password),
    )
    .await;
    let (status, errors) = match changed {
        Ok(ended) => {
            let text = format!("Password changed. {}", others_ended(ended));
            return Ok(redirect_with("/account", &[Flash::success(text)]));
        }
        Err(ApiError::WrongPassword(_)) => (
            StatusCode::FORBIDDEN,
            PasswordErrors {
                current_password: Some("This is not your current password.".to_owned()),
                ..PasswordErrors::default()
            },
        ),
        Err(ApiError::Invalid { message, .. }) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            PasswordErrors {
                new_password: Some(format::sentence(&message)),
                ..PasswordErrors::default()
            },
        ),
        Err(ApiError::TooManyAttempts { seconds, .. }) => {
            return Err(PageError::Throttled(seconds));
        }
        Err(other) => return Err(other.into()),
    };
    render_account(&state, &headers, &session, status, errors).await
}

/// A form with nothing but its CSRF token.
#[derive(Debug, Deserialize)]
struct NoFields {}

async fn end_session(
    State(state): State<AppState>,
    PagePath(id): PagePath<Uuid>,
    PostedForm { session, .. }: PostedForm<NoFields>,
) -> Result<Response, PageError> {
    state.store.end_session(session.account.id, id).await?;
    Ok(redirect_with(
        "/account",
        &[Flash::success(
            "The session was ended: that browser must log in again.",
        )],
    ))
}

async fn end_other_sessions(
    State(state): State<AppState>,
    headers: HeaderMap,
    PostedForm { session, .. }: PostedForm<NoFields>,
) -> Result<Response, PageError> {
    let keep = session_token(&headers);
    let ended = state
        .store
        .end_other_sessions(session.account.id, keep.as_ref())
        .await?;
    Ok(redirect_with(
        "/account",
        &[Flash::success(others_ended(ended))],
    ))
}

/// What ending the account's other sessions did, for a flash message.
fn others_ended(ended: u64) -> String {
    match ended {
        0 => "No other session was open.".to_owned(),
        1 => "Your 1 other session was ended.".to_owned(),
        n => format!("Your {n} other sessions were ended."),
    }
}

async fn confirm_delete(
    State(state): State<AppState>,
    session: WebSession,
) -> Result<Response, PageError> {
    render_delete(&state, &session, StatusCode::OK, DeletionState::default()).await
}

/// A workspace as the deletion page names it.
#[derive(Debug, Serialize)]
struct WorkspaceRow {
    name: String,
    personal: bool,
    /// The other members, who lose it when it goes.
    others: i64,
}

async fn render_delete(
    state: &AppState,
    session: &WebSession,
    status: StatusCode,
    form: DeletionState,
) -> Result<Response, PageError> {
    let account = session.account.id;
    let going = state.store.workspaces_deleted_with(account).await?;
    let (deleted, kept): (Vec<_>, Vec<_>) = state
        .store
        .workspaces_of(account)
        .await?
        .into_iter()
        .partition(|workspace| going.contains(&workspace.id));
    let rows = |workspaces: Vec<lyrebird_store::Membership>| -> Vec<WorkspaceRow> {
        workspaces
            .into_iter()
            .map(|workspace| WorkspaceRow {
                name: workspace.name,
                personal: workspace.personal,
                others: workspace.members - 1,
            })
            .collect()
    };
    page(
        session,
        status,
        "account_delete.html",
        context! {
            nav => "account",
            form => Serde(form),
            deleted => Serde(rows(deleted)),
            kept => Serde(rows(kept)),
        },
    )
}

async fn delete_account(
    State(state): State<AppState>,
    Extension(throttle): Extension<LoginThrottle>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    PostedForm { session, form }: PostedForm<DeletionForm>,
) -> Result<Response, PageError> {
    let deleted = remove_account(
        &state,
        &throttle,
        address,
        session.account.id,
        &form.email,
        Secret::new(form.password),
    )
    .await;
    let mut shown = DeletionState {
        email: form.email,
        ..DeletionState::default()
    };
    let status = match deleted {
        Ok(deleted) => {
            let html = render(
                "account_deleted.html",
                context! { email => &session.account.email, workspaces => deleted.workspaces.len() },
            )?;
            let mut response = Html(html).into_response();
            response.headers_mut().append(
                header::SET_COOKIE,
                session_cookie(&Secret::new(""), 0, is_https(&headers)),
            );
            return Ok(response);
        }
        Err(ApiError::Invalid { .. }) => {
            shown.email_error = Some("Type your account's email exactly as shown.".to_owned());
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Err(ApiError::WrongPassword(_)) => {
            shown.password_error = Some("This is not your password.".to_owned());
            StatusCode::FORBIDDEN
        }
        Err(ApiError::TooManyAttempts { seconds, .. }) => {
            return Err(PageError::Throttled(seconds));
        }
        Err(other) => return Err(other.into()),
    };
    render_delete(&state, &session, status, shown).await
}

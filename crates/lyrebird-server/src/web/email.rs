//! The email pages of an account: changing its email (`/account/email`, signed in; the account
//! page has the same form), following
//! the link that confirms a new email (`/confirm-email/{token}`), asking for a password reset
//! (`/reset-password`) and following its link (`/reset-password/{token}`). The links' pages
//! only show what the link does on GET; the change is a POST of their form, so that a mail
//! scanner that opens links uses none up.

use axum::Router;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use lyrebird_store::{Email, NewPassword, Secret};
use minijinja::{Value, context};
use serde::Deserialize;

use super::csrf::{AnonymousForm, PostedForm};
use super::{
    Flash, FlashKind, PageError, PagePath, WebSession, format, page, redirect_with, render,
};
use crate::AppState;
use crate::api::email::{change_email_of, request_reset};
use crate::auth::csrf::anonymous_token;
use crate::auth::throttle::{ClientAddr, LoginThrottle};
use crate::error::ApiError;
use crate::mail::Mailed;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/account/email", get(email_page).post(change_email))
        .route(
            "/confirm-email/{token}",
            get(confirm_page).post(confirm_email),
        )
        .route(
            "/reset-password",
            get(reset_request_page).post(request_reset_form),
        )
        .route(
            "/reset-password/{token}",
            get(reset_page).post(reset_password),
        )
}

/// The email-change form as sent. No `Debug`: it holds a password.
#[derive(Deserialize)]
struct EmailForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

async fn email_page(session: WebSession) -> Result<Response, PageError> {
    render_email_page(&session, StatusCode::OK, "", context! {})
}

fn render_email_page(
    session: &WebSession,
    status: StatusCode,
    email: &str,
    errors: Value,
) -> Result<Response, PageError> {
    page(
        session,
        status,
        "account_email_page.html",
        context! { nav => "account", email, ..errors },
    )
}

async fn change_email(
    State(state): State<AppState>,
    Extension(throttle): Extension<LoginThrottle>,
    ClientAddr(address): ClientAddr,
    PostedForm { session, form }: PostedForm<EmailForm>,
) -> Result<Response, PageError> {
    let refused = StatusCode::UNPROCESSABLE_ENTITY;
    let caller = (&throttle, address);
    match change_email_of(
        &state,
        caller,
        &session.workspace,
        &form.email,
        form.password,
    )
    .await
    {
        Ok(change) => {
            let flash = Flash {
                kind: match change.mailed {
                    Mailed::Failed => FlashKind::Warning,
                    _ => FlashKind::Success,
                },
                text: change.note,
            };
            Ok(redirect_with("/account", &[flash]))
        }
        Err(ApiError::Invalid { message, .. }) => {
            let errors = context! { email_error => format::sentence(&message) };
            render_email_page(&session, refused, &form.email, errors)
        }
        Err(ApiError::Conflict { message, .. }) => {
            let errors = context! { email_error => format::sentence(message) };
            render_email_page(&session, StatusCode::CONFLICT, &form.email, errors)
        }
        Err(error @ ApiError::WrongPassword(_)) => {
            let errors = context! { password_error => format::sentence(&error.to_string()) };
            render_email_page(&session, StatusCode::FORBIDDEN, &form.email, errors)
        }
        Err(ApiError::TooManyAttempts { seconds, .. }) => Err(PageError::Throttled(seconds)),
        Err(other) => Err(other.into()),
    }
}

/// A page for someone who may not be signed in: `email_link.html` showing `step`, with the
/// double-submit CSRF token its form needs.
fn link_page(headers: &HeaderMap, status: StatusCode, ctx: Value) -> Result<Response, PageError> {
    let (csrf_token, set_cookie) = anonymous_token(headers);
    let html = render("email_link.html", context! { csrf_token, ..ctx })?;
    let mut response = (status, Html(html)).into_response();
    if let Some(cookie) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

async fn confirm_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    PagePath(token): PagePath<String>,
) -> Result<Response, PageError> {
    let (account, new_email) = state.store.email_change(&Secret::new(&token)).await?;
    link_page(
        &headers,
        StatusCode::OK,
        context! { step => "confirm_email", token, current => account.email, new_email },
    )
}

async fn confirm_email(
    State(state): State<AppState>,
    headers: HeaderMap,
    PagePath(token): PagePath<String>,
    AnonymousForm(_): AnonymousForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    let account = match state.store.confirm_email_change(&Secret::new(token)).await {
        Ok(account) => account,
        Err(lyrebird_store::StoreError::EmailTaken) => {
            return Err(PageError::Conflict(
                "Another account has taken this email since the link was sent.".to_owned(),
            ));
        }
        Err(error) => return Err(error.into()),
    };
    link_page(
        &headers,
        StatusCode::OK,
        context! { step => "email_changed", new_email => account.email },
    )
}

/// The reset request form as sent.
#[derive(Debug, Deserialize)]
struct ResetRequestForm {
    #[serde(default)]
    email: String,
}

async fn reset_request_page(headers: HeaderMap) -> Result<Response, PageError> {
    link_page(
        &headers,
        StatusCode::OK,
        context! { step => "request_reset" },
    )
}

async fn request_reset_form(
    State(state): State<AppState>,
    Extension(throttle): Extension<LoginThrottle>,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    AnonymousForm(form): AnonymousForm<ResetRequestForm>,
) -> Result<Response, PageError> {
    let email = match Email::parse(&form.email) {
        Ok(email) => email,
        Err(message) => {
            return link_page(
                &headers,
                StatusCode::UNPROCESSABLE_ENTITY,
                context! { step => "request_reset", email => form.email, email_error => format::sentence(message) },
            );
        }
    };
    let note = match request_reset(&state, &throttle, address, email).await {
        Ok(note) => note,
        Err(ApiError::TooManyAttempts { seconds, .. }) => {
            return Err(PageError::ResetsThrottled(seconds));
        }
        Err(other) => return Err(other.into()),
    };
    link_page(
        &headers,
        StatusCode::ACCEPTED,
        context! { step => "reset_requested", note },
    )
}

/// The new password as sent. No `Debug`: it holds a password.
#[derive(Deserialize)]
struct ResetForm {
    #[serde(default)]
    password: String,
}

async fn reset_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    PagePath(token): PagePath<String>,
) -> Result<Response, PageError> {
    let account = state.store.password_reset(&Secret::new(&token)).await?;
    link_page(
        &headers,
        StatusCode::OK,
        context! { step => "reset", token, current => account.email },
    )
}

async fn reset_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    PagePath(token): PagePath<String>,
    AnonymousForm(form): AnonymousForm<ResetForm>,
) -> Result<Response, PageError> {
    let secret = Secret::new(&token);
    let password = match NewPassword::parse(Secret::new(form.password)) {
        Ok(password) => password,
        Err(message) => {
            let account = state.store.password_reset(&secret).await?;
            return link_page(
                &headers,
                StatusCode::UNPROCESSABLE_ENTITY,
                context! { step => "reset", token, current => account.email, password_error => format::sentence(&message) },
            );
        }
    };
    let account = state.store.reset_password(&secret, password).await?;
    link_page(
        &headers,
        StatusCode::OK,
        context! { step => "password_changed", current => account.email },
    )
}

//! The landing page with its sign-up and log-in forms (`/`, `/login`), and logging out.
//!
//! Signing up creates the account, its workspace and first key (as the API does), then opens a
//! session at once. Logging in goes through the same throttle as `POST /api/v1/sessions`.

use axum::Router;
use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use lyrebird_store::accounts::SESSION_LIFETIME;
use lyrebird_store::{Access, Email, FirstAccess, NewPassword, Secret, Session};
use minijinja::context;
use minijinja::value::{Serde, Value};
use serde::{Deserialize, Serialize};

use super::csrf::{AnonymousForm, PostedForm};
use super::session::safe_next;
use super::{Flash, PageError, redirect_with, render};
use crate::AppState;
use crate::api::accounts::sign_up_from;
use crate::auth::client_addr::ClientOrigin;
use crate::auth::cookies::session_token;
use crate::auth::cookies::{is_https, session_cookie};
use crate::auth::csrf::anonymous_token;
use crate::auth::throttle::{LoginRefused, LoginThrottle, log_in};
use crate::error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(landing))
        .route("/login", get(login_page).post(log_in_form))
        .route("/signup", post(sign_up_form))
        .route("/logout", post(log_out))
}

#[derive(Debug, Default, Deserialize)]
struct Next {
    next: Option<String>,
}

/// What the landing page shows besides its forms: which form was used and what was wrong.
#[derive(Debug, Default, Serialize)]
struct Landing {
    /// `login` or `signup`: the form that was sent, whose errors are shown.
    form: &'static str,
    email: String,
    next: Option<String>,
    /// The error of the log-in form, or of the sign-up form's fields.
    login_error: Option<String>,
    email_error: Option<String>,
    password_error: Option<String>,
}

/// `/`: the dashboard for a signed-in person, sign up and log in for everyone else.
async fn landing(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(next): Query<Next>,
) -> Result<Response, PageError> {
    if signed_in(&state, &headers).await? {
        return Ok(Redirect::to(safe_next(next.next.as_deref())).into_response());
    }
    landing_page(
        &headers,
        StatusCode::OK,
        Landing {
            next: next.next,
            ..Landing::default()
        },
    )
}

/// `/login?next=...`: where pages send people without a session.
async fn login_page(
    state: State<AppState>,
    headers: HeaderMap,
    next: Query<Next>,
) -> Result<Response, PageError> {
    landing(state, headers, next).await
}

async fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<bool, PageError> {
    match session_token(headers) {
        Some(token) => Ok(state.store.authenticate_session(&token).await?.is_some()),
        None => Ok(false),
    }
}

fn landing_page(
    headers: &HeaderMap,
    status: StatusCode,
    landing: Landing,
) -> Result<Response, PageError> {
    let (token, set_cookie) = anonymous_token(headers);
    let html = render(
        "landing.html",
        context! { csrf_token => token, ..Value::from(Serde(&landing)) },
    )?;
    let mut response = (status, Html(html)).into_response();
    if let Some(cookie) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// The two forms' fields. No `Debug`: it holds a password.
#[derive(Deserialize)]
struct CredentialsForm {
    email: String,
    password: String,
    next: Option<String>,
}

async fn log_in_form(
    State(state): State<AppState>,
    Extension(throttle): Extension<LoginThrottle>,
    ClientOrigin(origin): ClientOrigin,
    headers: HeaderMap,
    AnonymousForm(form): AnonymousForm<CredentialsForm>,
) -> Result<Response, PageError> {
    let refused = |message: &str| {
        landing_page(
            &headers,
            StatusCode::UNAUTHORIZED,
            Landing {
                form: "login",
                email: form.email.clone(),
                next: form.next.clone(),
                login_error: Some(message.to_owned()),
                ..Landing::default()
            },
        )
    };
    let email = match Email::parse(&form.email) {
        Ok(email) => email,
        Err(message) => return refused(message),
    };
    let password = Secret::new(form.password.as_str());
    match log_in(&state.store, &throttle, &email, password, &origin).await {
        Ok(session) => Ok(signed_in_response(
            &headers,
            &session,
            safe_next(form.next.as_deref()),
            &[],
        )),
        Err(LoginRefused::WrongCredentials) => refused("Wrong email or password."),
        Err(LoginRefused::Throttled(seconds)) => Err(PageError::Throttled(seconds)),
        Err(LoginRefused::Store(error)) => Err(error.into()),
    }
}

async fn sign_up_form(
    State(state): State<AppState>,
    Extension(throttle): Extension<LoginThrottle>,
    ClientOrigin(origin): ClientOrigin,
    headers: HeaderMap,
    AnonymousForm(form): AnonymousForm<CredentialsForm>,
) -> Result<Response, PageError> {
    let mut landing = Landing {
        form: "signup",
        email: form.email.clone(),
        next: form.next.clone(),
        ..Landing::default()
    };
    let email = Email::parse(&form.email).map_err(str::to_owned);
    let password = NewPassword::parse(Secret::new(form.password.as_str()));
    let (email, password) = match (email, password) {
        (Ok(email), Ok(password)) => (email, password),
        (email, password) => {
            landing.email_error = email.err();
            landing.password_error = password.err();
            return landing_page(&headers, StatusCode::UNPROCESSABLE_ENTITY, landing);
        }
    };
    let address = origin.address;
    let first = FirstAccess::Session(origin);
    let signed_up = match sign_up_from(&state, &throttle, address, &email, password, first).await {
        Ok(signed_up) => signed_up,
        Err(ApiError::Conflict { .. }) => {
            landing.email_error =
                Some("An account with this email already exists. Log in instead.".to_owned());
            return landing_page(&headers, StatusCode::CONFLICT, landing);
        }
        Err(ApiError::TooManyAttempts { seconds, .. }) => {
            return Err(PageError::SignUpsThrottled(seconds));
        }
        Err(error) => return Err(error.into()),
    };
    let Access::Session(session) = signed_up.access else {
        return Err(PageError::Internal("a web sign-up gave no session".into()));
    };
    Ok(signed_in_response(
        &headers,
        &session,
        safe_next(form.next.as_deref()),
        &[Flash::success(
            "Welcome to Lyrebird. Create your first mock to get a URL your app can call.",
        )],
    ))
}

fn signed_in_response(
    headers: &HeaderMap,
    session: &Session,
    to: &str,
    flashes: &[Flash],
) -> Response {
    let mut response = redirect_with(to, flashes);
    response.headers_mut().append(
        header::SET_COOKIE,
        session_cookie(
            &session.token,
            SESSION_LIFETIME.whole_seconds(),
            is_https(headers),
        ),
    );
    response
}

/// A form with nothing but its CSRF token.
#[derive(Debug, Deserialize)]
struct NoFields {}

async fn log_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    PostedForm { .. }: PostedForm<NoFields>,
) -> Result<Response, PageError> {
    if let Some(token) = session_token(&headers) {
        state.store.log_out(&token).await?;
    }
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        session_cookie(&Secret::new(""), 0, is_https(&headers)),
    );
    Ok(response)
}

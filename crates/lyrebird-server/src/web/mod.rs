//! The web app: server-rendered pages on top of the same store and engine as the REST API.
//!
//! Pages are MiniJinja templates from the repository's `web/templates/`, with the stylesheet and
//! the small progressive script of `web/static/`, all compiled into the binary with
//! `include_str!` (no JavaScript build step, nothing fetched from elsewhere). The page
//! [`Environment`] is separate from the engine's sandboxed one and auto-escapes every `.html`
//! template, so whatever a user typed is escaped unless a template says otherwise (none does for
//! user data).
//!
//! Forms POST to page routes and redirect (POST/redirect/GET); each carries the session's CSRF
//! token ([`csrf`]). Layout of the module:
//! - [`session`]: the [`WebSession`] extractor (cookie → account, workspace, CSRF token, flashes);
//! - [`csrf`]: tokens and the [`csrf::PostedForm`] extractor that checks them;
//! - [`throttle`]: login throttling, shared with `POST /api/v1/sessions`;
//! - [`landing`]: sign up, log in, log out;
//! - [`mocks`]: the dashboard, creating (from scratch or by upload), a mock's page and settings;
//! - [`upload`]: creating a mock from a Postman, OpenAPI or HAR file;
//! - [`examples`]: the example editor;
//! - [`drift`]: checks of a mock against its upstream, and their reports;
//! - [`invitations`]: inviting members, and accepting an invitation;
//! - [`email`]: changing the account's email, and resetting a forgotten password;
//! - [`account`]: the signed-in person's account: password, sessions, deleting it;
//! - [`audit`]: the workspace's audit log;
//! - [`members`]: the team pages and the workspace switcher;
//! - [`operator`]: the operator's console, for operators only.

pub mod account;
pub mod audit;
pub mod calls;
pub mod contract;
pub mod csrf;
pub mod drift;
pub mod email;
pub mod examples;
pub mod format;
pub mod invitations;
pub mod keys;
pub mod landing;
pub mod members;
pub mod mocks;
pub mod operator;
pub mod recording;
pub mod reveal;
pub mod session;
pub mod upload;
pub mod usage;
pub mod versions;

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use lyrebird_store::Role;
use minijinja::value::Serde;
use minijinja::{Environment, Value, context};
use serde::Serialize;

use crate::AppState;
use crate::error::ApiError;
pub use session::WebSession;

/// Every page route. Paths stay clear of `/api/v1/`, `/m/`, `/healthz` and `/readyz`.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(landing::router())
        .merge(mocks::router())
        .merge(examples::router())
        .merge(upload::router())
        .merge(keys::router())
        .merge(members::router())
        .merge(account::router())
        .merge(usage::router())
        .merge(calls::router())
        .merge(versions::router())
        .merge(recording::router())
        .merge(contract::router())
        .merge(drift::router())
        .merge(invitations::router())
        .merge(email::router())
        .merge(audit::router())
        .merge(operator::router())
        .route("/static/app.css", get(stylesheet))
        .route("/static/app.js", get(script))
        .layer(axum::middleware::map_response(page_headers))
}

/// Headers of every page answer: no other site may frame a page (clickjacking), and nothing is
/// cached unless the route says otherwise, since pages show a workspace's data and, once, each
/// new key.
async fn page_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.append(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("frame-ancestors 'none'"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// The page templates, by name, as compiled into the binary. A new page adds its line here.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "base.html",
        include_str!("../../../../web/templates/base.html"),
    ),
    (
        "macros.html",
        include_str!("../../../../web/templates/macros.html"),
    ),
    (
        "error.html",
        include_str!("../../../../web/templates/error.html"),
    ),
    (
        "landing.html",
        include_str!("../../../../web/templates/landing.html"),
    ),
    (
        "mocks.html",
        include_str!("../../../../web/templates/mocks.html"),
    ),
    (
        "mock_new.html",
        include_str!("../../../../web/templates/mock_new.html"),
    ),
    (
        "mock.html",
        include_str!("../../../../web/templates/mock.html"),
    ),
    (
        "mock_delete.html",
        include_str!("../../../../web/templates/mock_delete.html"),
    ),
    (
        "try_panel.html",
        include_str!("../../../../web/templates/try_panel.html"),
    ),
    (
        "example.html",
        include_str!("../../../../web/templates/example.html"),
    ),
    (
        "keys.html",
        include_str!("../../../../web/templates/keys.html"),
    ),
    (
        "key_revoke.html",
        include_str!("../../../../web/templates/key_revoke.html"),
    ),
    (
        "account.html",
        include_str!("../../../../web/templates/account.html"),
    ),
    (
        "account_delete.html",
        include_str!("../../../../web/templates/account_delete.html"),
    ),
    (
        "account_deleted.html",
        include_str!("../../../../web/templates/account_deleted.html"),
    ),
    (
        "usage.html",
        include_str!("../../../../web/templates/usage.html"),
    ),
    (
        "calls.html",
        include_str!("../../../../web/templates/calls.html"),
    ),
    (
        "verify.html",
        include_str!("../../../../web/templates/verify.html"),
    ),
    (
        "verify_form.html",
        include_str!("../../../../web/templates/verify_form.html"),
    ),
    (
        "call.html",
        include_str!("../../../../web/templates/call.html"),
    ),
    (
        "versions.html",
        include_str!("../../../../web/templates/versions.html"),
    ),
    (
        "version.html",
        include_str!("../../../../web/templates/version.html"),
    ),
    (
        "diff.html",
        include_str!("../../../../web/templates/diff.html"),
    ),
    (
        "draft.html",
        include_str!("../../../../web/templates/draft.html"),
    ),
    (
        "health.html",
        include_str!("../../../../web/templates/health.html"),
    ),
    (
        "drift.html",
        include_str!("../../../../web/templates/drift.html"),
    ),
    (
        "invitations.html",
        include_str!("../../../../web/templates/invitations.html"),
    ),
    (
        "invite.html",
        include_str!("../../../../web/templates/invite.html"),
    ),
    (
        "account_email.html",
        include_str!("../../../../web/templates/account_email.html"),
    ),
    (
        "account_email_page.html",
        include_str!("../../../../web/templates/account_email_page.html"),
    ),
    (
        "email_link.html",
        include_str!("../../../../web/templates/email_link.html"),
    ),
    (
        "members.html",
        include_str!("../../../../web/templates/members.html"),
    ),
    (
        "workspaces.html",
        include_str!("../../../../web/templates/workspaces.html"),
    ),
    (
        "audit.html",
        include_str!("../../../../web/templates/audit.html"),
    ),
    (
        "operator.html",
        include_str!("../../../../web/templates/operator.html"),
    ),
    (
        "operator_workspace.html",
        include_str!("../../../../web/templates/operator_workspace.html"),
    ),
    (
        "operator_plans.html",
        include_str!("../../../../web/templates/operator_plans.html"),
    ),
];

/// The page environment, built once. A template that does not parse is a bug in this binary,
/// found by the first test that renders any page.
static PAGES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .unwrap_or_else(|error| panic!("page template {name} does not parse: {error:#}"));
    }
    env
});

/// A flash message: shown once, on the next page.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Flash {
    /// `success`, `info`, `warning` or `error`: the message's colour and role.
    pub kind: FlashKind,
    pub text: String,
}

#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FlashKind {
    Success,
    Warning,
    Error,
}

impl Flash {
    pub fn success(text: impl Into<String>) -> Self {
        Self {
            kind: FlashKind::Success,
            text: text.into(),
        }
    }

    pub fn error(text: impl Into<String>) -> Self {
        Self {
            kind: FlashKind::Error,
            text: text.into(),
        }
    }

    pub fn warning(text: impl Into<String>) -> Self {
        Self {
            kind: FlashKind::Warning,
            text: text.into(),
        }
    }
}

/// Renders a page for a signed-in person: the layout gets the session (for the nav, the
/// log-out form and the CSRF token the scripts send) and the flashes, which are then cleared.
pub fn page(
    session: &WebSession,
    status: StatusCode,
    template: &str,
    ctx: Value,
) -> Result<Response, PageError> {
    let role = session.workspace.role();
    let workspaces: Vec<Value> = session
        .workspaces
        .iter()
        .map(|membership| {
            context! {
                id => membership.id.to_string(),
                name => &membership.name,
                role => membership.role.as_str(),
                current => membership.id == session.workspace.id(),
            }
        })
        .collect();
    let workspace_name = session
        .workspaces
        .iter()
        .find(|membership| membership.id == session.workspace.id())
        .map(|membership| membership.name.as_str());
    let ctx = context! {
        session => context! {
            email => &session.account.email,
            csrf_token => &session.csrf_token,
            workspace => workspace_name,
            workspaces,
            role => role.as_str(),
            can_edit => role >= Role::Editor,
            can_admin => role >= Role::Admin,
            is_owner => role == Role::Owner,
        },
        // Operators see the way to their console on every page.
        operator => session.account.operator,
        flashes => Serde(&session.flashes),
        ..ctx
    };
    let html = render(template, ctx)?;
    let mut response = (status, Html(html)).into_response();
    if !session.flashes.is_empty() {
        response
            .headers_mut()
            .append(header::SET_COOKIE, session::clear_flash_cookie());
    }
    Ok(response)
}

/// Renders a template into HTML.
pub fn render(template: &str, ctx: Value) -> Result<String, PageError> {
    PAGES
        .get_template(template)
        .and_then(|template| template.render(ctx))
        .map_err(|error| PageError::Internal(Box::new(error)))
}

/// A redirect after a successful POST, with a message for the next page.
pub fn redirect_with(to: &str, flashes: &[Flash]) -> Response {
    let mut response = Redirect::to(to).into_response();
    if let Some(cookie) = session::flash_cookie(flashes) {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    if flashes.iter().any(|flash| flash.kind == FlashKind::Error) {
        // Back to the form with why: nothing was changed.
        response.extensions_mut().insert(crate::audit::Refused);
    }
    response
}

/// The field errors of a refused value, by field path (`name`, `response.body`), with the line
/// and column where the engine gives them; any other error is the page's own.
pub fn field_errors(error: ApiError) -> Result<BTreeMap<String, String>, PageError> {
    match error {
        ApiError::Invalid { field, message } => Ok(BTreeMap::from([(field, message)])),
        ApiError::InvalidExample(errors) => {
            let mut fields = BTreeMap::<String, String>::new();
            for error in errors {
                let at = match (error.line, error.column) {
                    (Some(line), Some(column)) => format!("line {line}, column {column}: "),
                    (Some(line), None) => format!("line {line}: "),
                    _ => String::new(),
                };
                let message = format!("{at}{}", error.message);
                fields
                    .entry(error.field)
                    .and_modify(|text| {
                        text.push_str("; ");
                        text.push_str(&message);
                    })
                    .or_insert(message);
            }
            Ok(fields)
        }
        // Beside the editor's field: `response.body` for `response.body.pets[0].name`.
        ApiError::ContractViolation { violations, .. } => {
            let mut fields = BTreeMap::<String, String>::new();
            for violation in violations {
                let field = match violation.at.split('.').collect::<Vec<_>>().as_slice() {
                    ["sequence", ..] => "sequence".to_owned(),
                    [part, field, ..] => format!("{part}.{field}"),
                    _ => violation.at.clone(),
                };
                let message = format!(
                    "the mock's OpenAPI contract: {} at {} ({})",
                    violation.message, violation.at, violation.schema_path
                );
                fields
                    .entry(field)
                    .and_modify(|text| {
                        text.push_str("; ");
                        text.push_str(&message);
                    })
                    .or_insert(message);
            }
            Ok(fields)
        }
        other => Err(other.into()),
    }
}

/// Path parameters of a page parsed into typed ids. Anything that does not parse names nothing
/// that exists: the 404 page, as for a missing mock.
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(PageError))]
pub struct PagePath<T>(pub T);

impl From<PathRejection> for PageError {
    fn from(_: PathRejection) -> Self {
        PageError::NotFound
    }
}

/// What can go wrong on a page, answered with a page of its own.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// 404: missing, or another workspace's (indistinguishable, as in the API).
    #[error("This page does not exist, or belongs to another workspace.")]
    NotFound,
    /// 403: a form without the session's CSRF token.
    #[error(
        "This form was sent without a valid security token. Reload the page and try again; if it keeps happening, log out and in again."
    )]
    Csrf,
    /// 403: the member's role in the workspace is below what the page's action needs.
    #[error("{0}")]
    Forbidden(String),
    /// 409: a change the workspace's rules do not allow (its last owner leaving, ...).
    #[error("{0}")]
    Conflict(String),
    /// 429: too many failed logins; the wait in seconds.
    #[error("Too many failed attempts to log in. Wait {0} seconds and try again.")]
    Throttled(u64),
    /// 429: too many sign-ups from one address; the wait in seconds.
    #[error("Too many sign-ups from your address. Wait {0} seconds and try again.")]
    SignUpsThrottled(u64),
    /// 410: a link (an invitation, a password reset, an email change) that no longer works.
    #[error("{0}")]
    Gone(String),
    /// 429: too many password-reset requests for an email or from an address; the wait.
    #[error(
        "Too many password-reset requests for this email or from your address. Wait {0} seconds and try again."
    )]
    ResetsThrottled(u64),
    /// 400: a request the page cannot read.
    #[error("{0}")]
    BadRequest(String),
    /// 500/503: logged, answered without details.
    #[error("Something went wrong on our side. Try again in a moment.")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl PageError {
    fn status(&self) -> StatusCode {
        match self {
            PageError::NotFound => StatusCode::NOT_FOUND,
            PageError::Csrf | PageError::Forbidden(_) => StatusCode::FORBIDDEN,
            PageError::Conflict(_) => StatusCode::CONFLICT,
            PageError::Gone(_) => StatusCode::GONE,
            PageError::Throttled(_)
            | PageError::SignUpsThrottled(_)
            | PageError::ResetsThrottled(_) => StatusCode::TOO_MANY_REQUESTS,
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<ApiError> for PageError {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::NotFound | ApiError::NoRoute => PageError::NotFound,
            ApiError::MalformedJson(message) | ApiError::BadRequest(message) => {
                PageError::BadRequest(message)
            }
            ApiError::Invalid { .. } | ApiError::InvalidExample(_) | ApiError::MockTooLarge(_) => {
                PageError::BadRequest(error.to_string())
            }
            ApiError::RoleRequired(message) | ApiError::Refused { message, .. } => {
                PageError::Forbidden(format::sentence(&message))
            }
            ApiError::Gone { message, .. } => PageError::Gone(format::sentence(&message)),
            ApiError::WorkspaceSuspended => {
                PageError::Forbidden(format::sentence(&ApiError::WorkspaceSuspended.to_string()))
            }
            ApiError::StateConflict { message, .. } => {
                PageError::Conflict(format::sentence(&message))
            }
            other => PageError::Internal(Box::new(other)),
        }
    }
}

impl From<lyrebird_store::StoreError> for PageError {
    fn from(error: lyrebird_store::StoreError) -> Self {
        ApiError::from(error).into()
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let PageError::Internal(cause) = &self {
            tracing::error!(error = %cause, "page failed");
        }
        let html = render(
            "error.html",
            context! { status => status.as_u16(), reason => status.canonical_reason(), message => self.to_string() },
        )
        .unwrap_or_else(|_| self.to_string());
        let mut response = (status, Html(html)).into_response();
        if let PageError::Throttled(seconds)
        | PageError::SignUpsThrottled(seconds)
        | PageError::ResetsThrottled(seconds) = self
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

async fn stylesheet() -> impl IntoResponse {
    static_file(
        "text/css; charset=utf-8",
        include_str!("../../../../web/static/app.css"),
    )
}

async fn script() -> impl IntoResponse {
    static_file(
        "text/javascript; charset=utf-8",
        include_str!("../../../../web/static/app.js"),
    )
}

fn static_file(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            // Short: a new binary's files are picked up within minutes without versioned names.
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
}

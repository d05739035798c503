//! Who is calling: the admin API's [`Admin`] (a key, or a session with its CSRF token), the
//! caller's own mock ([`OwnMock`]), and what the API and the pages share to know a caller —
//! the session cookie ([`cookies`]), CSRF tokens ([`csrf`]), login throttling ([`throttle`])
//! and the client's address behind trusted proxies ([`client_addr`]).
//!
//! Nothing here depends on the API's handlers or on the pages; both depend on this.

pub mod client_addr;
pub mod cookies;
pub mod csrf;
pub mod operator;
pub mod roles;
pub mod throttle;

use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use lyrebird_store::{Caller, Mock, MockId, Scope, Secret, Workspace};
use serde::Deserialize;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::ApiPath;
pub use cookies::{SESSION_COOKIE, session_token};

/// The header in which a script sends the session's CSRF token ([`csrf::session_token`]).
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A caller allowed to use the admin API, in their workspace: an `admin` key or a session,
/// whose role there is at least what the route needs ([`roles`]). Handlers get tenant access
/// only through this.
///
/// A browser sends the session cookie with any request to this site, a form posted by another
/// page included (imports take text and multipart bodies), so a change made with the cookie
/// must also carry the session's CSRF token in `x-csrf-token`, which only the app's own pages
/// know. Keys are never sent by a browser on its own, so they need no token.
#[derive(Debug)]
pub struct Admin {
    pub workspace: Workspace,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (caller, session) = authenticate(&parts.headers, state).await?;
        check_csrf(parts, session.as_ref())?;
        if caller.scope() == Scope::Mock {
            return Err(ApiError::AdminScopeRequired);
        }
        authorize(state, parts, &caller.workspace).await?;
        Ok(Admin {
            workspace: caller.workspace,
        })
    }
}

/// Refuses a change made with the session cookie (`session`) without the session's CSRF token.
fn check_csrf(parts: &Parts, session: Option<&Secret>) -> Result<(), ApiError> {
    if let Some(session) = session
        && !matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS)
    {
        let given = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|value| value.to_str().ok());
        if !given.is_some_and(|given| csrf::same_token(&csrf::session_token(session), given)) {
            return Err(ApiError::CsrfTokenInvalid);
        }
    }
    Ok(())
}

/// Refuses, as a 403 `workspace_suspended`, a change in a workspace the server's operator
/// suspended: whatever needs more than a viewer ([`roles::required`]). Reading, exporting,
/// trying requests and a member's own keys and membership stay open.
/// What the API's `Admin` and the pages' `WebSession` ask of an authenticated caller before any
/// handler runs: the role the route needs ([`roles`]), a workspace that is not suspended for a
/// change, and the caller noted for the audit log.
pub async fn authorize(
    state: &AppState,
    parts: &Parts,
    workspace: &Workspace,
) -> Result<(), ApiError> {
    let route = matched_route(parts);
    roles::check(workspace, &parts.method, route)?;
    refuse_if_suspended(state, workspace, &parts.method, route).await?;
    crate::audit::seen(parts, workspace);
    Ok(())
}

async fn refuse_if_suspended(
    state: &AppState,
    workspace: &Workspace,
    method: &Method,
    route: &str,
) -> Result<(), ApiError> {
    let reads = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if !reads
        && roles::required(method, route) > lyrebird_store::Role::Viewer
        && state.store.workspace_suspended(workspace.id()).await?
    {
        return Err(ApiError::WorkspaceSuspended);
    }
    Ok(())
}

/// The route the request matched, as written in the router (`/api/v1/mocks/{id}`); empty when
/// there is none, which [`roles::required`] treats as a change an editor may make.
pub fn matched_route(parts: &Parts) -> &str {
    parts
        .extensions
        .get::<MatchedPath>()
        .map_or("", MatchedPath::as_str)
}

/// A caller acting in a workspace: the API's [`Admin`] or a page's `WebSession`. Each answers
/// in its own way (JSON or a page) when what it asks for is not there.
pub trait InWorkspace: FromRequestParts<AppState> + Send + Sync {
    /// What the caller's routes answer errors with.
    type Error: From<ApiError> + IntoResponse;

    fn workspace(&self) -> &Workspace;
}

impl InWorkspace for Admin {
    type Error = ApiError;

    fn workspace(&self) -> &Workspace {
        &self.workspace
    }
}

/// The caller and the mock named by the route's `{id}`, found in the caller's workspace: where
/// the routes that show or act on one mock start. An id that does not parse, a missing mock and
/// another workspace's mock are the same 404 (the caller's [`InWorkspace::Error`]), so nobody
/// learns which ids exist elsewhere. The caller is checked first, as by `C` alone.
#[derive(Debug)]
pub struct OwnMock<C = Admin>(pub C, pub Mock);

/// The route's `{id}`; other parameters (`{call_id}`, `{example_id}`) are the handler's.
#[derive(Debug, Deserialize)]
struct MockPath {
    id: MockId,
}

impl<C: InWorkspace> FromRequestParts<AppState> for OwnMock<C> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let caller = C::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let found = match ApiPath::<MockPath>::from_request_parts(parts, state).await {
            Ok(ApiPath(MockPath { id })) => own_mock(state, caller.workspace(), id).await,
            Err(error) => Err(error),
        };
        match found {
            Ok(mock) => Ok(OwnMock(caller, mock)),
            Err(error) => Err(C::Error::from(error).into_response()),
        }
    }
}

/// The mock, if it is in the workspace; a 404 otherwise. [`OwnMock`] finds its mock with this;
/// routes that check their query before the mock call it themselves.
pub async fn own_mock(
    state: &AppState,
    workspace: &Workspace,
    id: MockId,
) -> Result<Mock, ApiError> {
    Ok(state.store.mock(workspace, id).await?)
}

/// The caller behind `Authorization: Bearer`, `x-api-key` or the session cookie, in that order,
/// with the session's token when it was the cookie. A credential that is presented but wrong is
/// refused, never skipped for the next one.
pub(crate) async fn authenticate(
    headers: &HeaderMap,
    state: &AppState,
) -> Result<(Caller, Option<Secret>), ApiError> {
    const INVALID: ApiError = ApiError::InvalidCredentials("the API key or session is not valid");
    let store = &state.store;
    if let Some(key) = presented_key(headers)? {
        let caller = store.authenticate_key(&key).await?.ok_or(INVALID)?;
        return Ok((caller, None));
    }
    if let Some(token) = session_token(headers) {
        let caller = store.authenticate_session(&token).await?.ok_or(INVALID)?;
        return Ok((caller, Some(token)));
    }
    Err(ApiError::InvalidCredentials(
        "send an API key (Authorization: Bearer <key> or x-api-key: <key>) or log in",
    ))
}

fn presented_key(headers: &HeaderMap) -> Result<Option<Secret>, ApiError> {
    const UNREADABLE: ApiError =
        ApiError::InvalidCredentials("the Authorization header is not `Bearer <key>`");
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| UNREADABLE)?;
        let (scheme, key) = value.split_once(' ').ok_or(UNREADABLE)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(UNREADABLE);
        }
        return Ok(Some(Secret::new(key.trim())));
    }
    Ok(headers
        .get("x-api-key")
        .map(|value| Secret::new(value.to_str().unwrap_or_default().trim())))
}

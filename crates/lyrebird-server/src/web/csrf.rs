//! Page forms, their CSRF tokens checked ([`crate::auth::csrf`]): [`PostedForm`] for a
//! signed-in person, whose form must carry the session's token, and [`AnonymousForm`] for sign-up
//! and log-in, whose form must repeat the double-submit cookie. A missing or wrong token is a 403
//! page, before the handler runs.

use axum::body::{Body, Bytes};
use axum::extract::{Form, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use lyrebird_engine::storable::NUL_MESSAGE;
use serde::de::DeserializeOwned;

use super::PageError;
use super::session::WebSession;
use crate::AppState;
use crate::auth::csrf::{FIELD, anonymous_cookie, same_token};
use crate::extract::nul_in_pairs;

/// Checks a token sent outside a form (the `x-csrf-token` header of a script's request, or a
/// multipart field).
pub fn check(session: &WebSession, given: Option<&str>) -> Result<(), PageError> {
    match given {
        Some(given) if same_token(&session.csrf_token, given) => Ok(()),
        _ => Err(PageError::Csrf),
    }
}

/// A URL-encoded form posted by a signed-in person, its CSRF token checked.
#[derive(Debug)]
pub struct PostedForm<T> {
    pub session: WebSession,
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for PostedForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let session = WebSession::from_request_parts(&mut parts, state).await?;
        let request = Request::from_parts(parts, body);
        let (parts, bytes) = read_body(request, state).await?;
        let token = form_token(&parts, &bytes, state).await;
        check(&session, token.as_deref()).map_err(IntoResponse::into_response)?;
        let form = parse_form(parts, bytes, state).await?;
        Ok(PostedForm { session, form })
    }
}

/// A URL-encoded form posted without a session (sign up, log in), its double-submit token
/// checked against the cookie.
#[derive(Debug)]
pub struct AnonymousForm<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for AnonymousForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let (parts, bytes) = read_body(request, state).await?;
        let expected = anonymous_cookie(&parts.headers);
        match (expected, form_token(&parts, &bytes, state).await) {
            (Some(expected), Some(given)) if same_token(&expected, &given) => {}
            _ => return Err(PageError::Csrf.into_response()),
        }
        Ok(AnonymousForm(parse_form(parts, bytes, state).await?))
    }
}

async fn read_body(request: Request, state: &AppState) -> Result<(Parts, Bytes), Response> {
    let (parts, body) = request.into_parts();
    let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
        .await
        .map_err(|rejection| PageError::BadRequest(rejection.body_text()).into_response())?;
    Ok((parts, bytes))
}

async fn form_token(parts: &Parts, bytes: &Bytes, state: &AppState) -> Option<String> {
    let pairs: Vec<(String, String)> = decode_form(parts.clone(), bytes.clone(), state)
        .await
        .unwrap_or_default();
    pairs
        .into_iter()
        .find(|(name, _)| name == FIELD)
        .map(|(_, value)| value)
}

/// The form as `T`; a field whose name or value holds a NUL, which the database cannot store,
/// is a 400 page naming it (only a body with `%00` is decoded to look).
async fn parse_form<T: DeserializeOwned>(
    parts: Parts,
    bytes: Bytes,
    state: &AppState,
) -> Result<T, Response> {
    if bytes.windows(3).any(|window| window == b"%00")
        && let Ok(pairs) =
            decode_form::<Vec<(String, String)>>(parts.clone(), bytes.clone(), state).await
        && let Some(name) = nul_in_pairs(&pairs)
    {
        return Err(
            PageError::BadRequest(format!("The field {name} {NUL_MESSAGE}.")).into_response(),
        );
    }
    decode_form(parts, bytes, state).await
}

async fn decode_form<T: DeserializeOwned>(
    parts: Parts,
    bytes: Bytes,
    state: &AppState,
) -> Result<T, Response> {
    let request = Request::from_parts(parts, Body::from(bytes));
    Form::<T>::from_request(request, state)
        .await
        .map(|Form(form)| form)
        .map_err(|rejection| PageError::BadRequest(rejection.body_text()).into_response())
}

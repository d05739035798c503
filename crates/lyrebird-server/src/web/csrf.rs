//! Protection against cross-site request forgery on page forms.
//!
//! A signed-in form carries `csrf_token`, which must equal the session's token: the SHA-256 of
//! a fixed label and the session's own secret token. Only someone holding the session cookie
//! (HttpOnly, so not even the page's scripts) can compute it, it needs no server-side storage
//! or server secret, and it differs from the digest the database keeps of the session, so a
//! copy of the database does not reveal it either. [`PostedForm`] checks it before a handler
//! runs; a missing or wrong token is a 403 page.
//!
//! Sign-up and log-in forms have no session yet; they use a double-submit token instead: a
//! random value in a `lyrebird_csrf` cookie that the form must repeat (another site can make a
//! browser post a form, but cannot read or set this site's cookies).

use axum::body::{Body, Bytes};
use axum::extract::{Form, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use lyrebird_engine::storable::NUL_MESSAGE;
use lyrebird_store::Secret;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::PageError;
use super::session::{WebSession, cookie};
use crate::AppState;
use crate::extract::nul_in_pairs;

/// The form field that carries the token.
pub const FIELD: &str = "csrf_token";

/// The cookie of the double-submit token on sign-up and log-in forms.
pub const ANONYMOUS_COOKIE: &str = "lyrebird_csrf";

/// The CSRF token of the session whose cookie holds `session_token`.
pub fn session_token(session_token: &Secret) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"lyrebird csrf token\0");
    hasher.update(session_token.expose().as_bytes());
    hex(&hasher.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Compares in time that depends only on the length, so the token cannot be guessed a
/// character at a time by timing the answers.
pub fn same_token(expected: &str, given: &str) -> bool {
    expected.len() == given.len()
        && expected
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

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

/// The double-submit token for the sign-up and log-in forms: the browser's, or a new one with
/// the cookie that sets it.
pub fn anonymous_token(headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    match anonymous_cookie(headers) {
        Some(token) => (token, None),
        None => {
            let token = uuid::Uuid::new_v4().simple().to_string();
            let set = cookie(ANONYMOUS_COOKIE, &token, 60 * 60 * 24, false);
            (token, Some(set))
        }
    }
}

fn anonymous_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == ANONYMOUS_COOKIE && !value.is_empty())
        .map(|(_, value)| value.to_owned())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_tied_to_the_session_and_is_not_its_stored_digest() {
        let a = Secret::new("session-a");
        let b = Secret::new("session-b");
        assert_eq!(session_token(&a), session_token(&a));
        assert_ne!(session_token(&a), session_token(&b));
        assert_ne!(session_token(&a), hex(&a.digest()));
    }

    #[test]
    fn tokens_compare_equal_only_when_identical() {
        assert!(same_token("abc", "abc"));
        assert!(!same_token("abc", "abd"));
        assert!(!same_token("abc", "ab"));
        assert!(!same_token("abc", ""));
    }
}

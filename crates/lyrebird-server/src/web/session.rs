//! The signed-in person behind a page request, and the cookies pages set.
//!
//! [`WebSession`] is the only way a page handler gets a [`Workspace`]: it reads the
//! `lyrebird_session` cookie, checks the session in the store, and carries the account, the
//! CSRF token derived from the session ([`super::csrf`]) and the flash messages left by the
//! previous POST. Without a live session, a page redirects to `/login?next=<where it was>`.
//! The cookies themselves are written and read by [`crate::auth::cookies`].

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lyrebird_store::{Account, Credential, Membership, Workspace};

use super::reveal::RevealKey;
use super::{Flash, PageError};
use crate::AppState;
use crate::auth::cookies::{self, FLASH_COOKIE, cookie, session_token};
use crate::auth::{InWorkspace, csrf};

impl InWorkspace for WebSession {
    type Error = PageError;

    fn workspace(&self) -> &Workspace {
        &self.workspace
    }
}

/// Flash cookies stay well under the 4 KB browsers keep per cookie.
const MAX_FLASH_COOKIE_BYTES: usize = 3000;

/// A signed-in person, in the workspace their session acts in, with a role there enough for
/// the page asked for ([`crate::auth::roles`]).
#[derive(Debug)]
pub struct WebSession {
    pub account: Account,
    pub workspace: Workspace,
    /// Every workspace the account belongs to, for the header's switcher; the current one among
    /// them.
    pub workspaces: Vec<Membership>,
    /// What every form and state-changing fetch of this session must send back.
    pub csrf_token: String,
    /// Messages left by the previous request; cleared once a page shows them.
    pub flashes: Vec<Flash>,
    /// Seals what this session's next page shows once (a new API key).
    pub reveal: RevealKey,
}

impl FromRequestParts<AppState> for WebSession {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(token) = session_token(&parts.headers) else {
            return Err(to_login(parts));
        };
        let caller = state
            .store
            .authenticate_session(&token)
            .await
            .map_err(|error| PageError::from(error).into_response())?;
        let Some(caller) = caller else {
            return Err(to_login(parts));
        };
        let Credential::Session { account } = caller.credential else {
            return Err(to_login(parts));
        };
        crate::auth::authorize(state, parts, &caller.workspace)
            .await
            .map_err(|error| PageError::from(error).into_response())?;
        let (account, workspaces) = tokio::try_join!(
            state.store.account(account),
            state.store.workspaces_of(account)
        )
        .map_err(|error| PageError::from(error).into_response())?;
        Ok(WebSession {
            account,
            workspace: caller.workspace,
            workspaces,
            csrf_token: csrf::session_token(&token),
            flashes: read_flashes(&parts.headers),
            reveal: RevealKey::of(&token),
        })
    }
}

/// `/login?next=<path and query>`, so that logging in leads back to the page asked for. A form
/// posted after the session ended leads back to the dashboard instead: its address answers
/// only POST.
fn to_login(parts: &Parts) -> Response {
    let next = match parts.method {
        Method::GET | Method::HEAD => parts.uri.path_and_query().map(|p| p.as_str()),
        _ => None,
    }
    .unwrap_or("/mocks");
    Redirect::to(&format!("/login?next={}", percent_encode(next))).into_response()
}

/// A place to go after logging in: only a path on this site, never another host
/// (`//evil.example` or `https://...` would make the login form an open redirect).
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path
        }
        _ => "/mocks",
    }
}

/// Escapes everything but unreserved characters, for a value inside a query string.
pub fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// The flashes as a cookie: base64url of their JSON. When they would not fit, the last ones
/// are dropped and one line says how many were.
pub fn flash_cookie(flashes: &[Flash]) -> Option<HeaderValue> {
    if flashes.is_empty() {
        return None;
    }
    let mut shown = flashes.len();
    loop {
        let mut kept = flashes[..shown].to_vec();
        if shown < flashes.len() {
            let left_out = flashes.len() - shown;
            kept.push(Flash::warning(format!(
                "…and {left_out} more messages not shown."
            )));
        }
        let value = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&kept).expect("flashes serialise"));
        if value.len() <= MAX_FLASH_COOKIE_BYTES || shown == 0 {
            return Some(cookie(FLASH_COOKIE, &value, 60, false));
        }
        // Shrink in proportion to the excess, by at least one message.
        shown = (shown * MAX_FLASH_COOKIE_BYTES / value.len()).min(shown - 1);
    }
}

pub fn clear_flash_cookie() -> HeaderValue {
    cookie(FLASH_COOKIE, "", 0, false)
}

fn read_flashes(headers: &HeaderMap) -> Vec<Flash> {
    cookies::read(headers, FLASH_COOKIE)
        .and_then(|value| URL_SAFE_NO_PAD.decode(value).ok())
        .and_then(|json| serde_json::from_slice(&json).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header;

    #[test]
    fn next_is_only_ever_a_path_on_this_site() {
        assert_eq!(safe_next(Some("/mocks/1?x=2")), "/mocks/1?x=2");
        assert_eq!(safe_next(Some("//evil.example/")), "/mocks");
        assert_eq!(safe_next(Some("https://evil.example/")), "/mocks");
        assert_eq!(safe_next(Some("/\\evil.example")), "/mocks");
        assert_eq!(safe_next(None), "/mocks");
    }

    #[test]
    fn flashes_survive_the_cookie_round_trip() {
        let flashes = vec![Flash::success("Saved <b>"), Flash::warning("ünïcode")];
        let headers = cookies::sent_back(&flash_cookie(&flashes).unwrap());
        assert_eq!(read_flashes(&headers), flashes);
    }

    #[test]
    fn too_many_flashes_are_cut_with_a_count_of_what_was_left_out() {
        let flashes: Vec<Flash> = (0..200)
            .map(|i| Flash::warning(format!("warning number {i} about something")))
            .collect();
        let cookie = flash_cookie(&flashes).unwrap();
        let value = cookie
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(&value).unwrap());
        let read = read_flashes(&headers);
        assert!(value.len() < 3100, "{}", value.len());
        let last = read.last().unwrap();
        assert!(last.text.contains("more messages not shown"), "{last:?}");
        let shown = read.len() - 1;
        assert!(last.text.contains(&(200 - shown).to_string()), "{last:?}");
    }

    #[test]
    fn percent_encoding_keeps_paths_readable_and_escapes_the_rest() {
        assert_eq!(
            percent_encode("/mocks/a b?x=1&y"),
            "/mocks/a%20b%3Fx%3D1%26y"
        );
    }
}

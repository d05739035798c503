//! Tokens against cross-site request forgery, for the API and the pages alike.
//!
//! A signed-in change (a page's form, or a script's request with the session cookie) carries the
//! session's token: the SHA-256 of a fixed label and the session's own secret token. Only someone
//! holding the session cookie (HttpOnly, so not even the page's scripts) can compute it, it needs
//! no server-side storage or server secret, and it differs from the digest the database keeps
//! of the session, so a copy of the database does not reveal it either.
//!
//! Sign-up and log-in forms have no session yet; they use a double-submit token instead: a
//! random value in a `lyrebird_csrf` cookie that the form must repeat (another site can make a
//! browser post a form, but cannot read or set this site's cookies).

use axum::http::{HeaderMap, HeaderValue};
use lyrebird_store::Secret;
use sha2::{Digest, Sha256};

use super::cookies::{self, ANONYMOUS_COOKIE, cookie};

/// The form field that carries the token.
pub const FIELD: &str = "csrf_token";

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

/// The double-submit token the browser holds, if any.
pub fn anonymous_cookie(headers: &HeaderMap) -> Option<String> {
    cookies::read(headers, ANONYMOUS_COOKIE)
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
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

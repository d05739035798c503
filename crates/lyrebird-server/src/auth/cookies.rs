//! The app's cookies: one reader for every cookie the app looks for, and the `Set-Cookie` values
//! it writes.
//!
//! Cookies are `HttpOnly; SameSite=Lax`, and `Secure` when the request came through a proxy
//! that says it was HTTPS (`X-Forwarded-Proto: https`): the server itself speaks plain HTTP, so
//! that header is the one sign of HTTPS it can see.

use axum::http::{HeaderMap, HeaderValue, header};
use lyrebird_store::Secret;

/// The cookie that carries a web session's token.
pub const SESSION_COOKIE: &str = "lyrebird_session";
/// The cookie of the double-submit token on sign-up and log-in forms ([`super::csrf`]).
pub const ANONYMOUS_COOKIE: &str = "lyrebird_csrf";
/// The cookie that carries flash messages from a page's POST to the page it redirects to.
pub const FLASH_COOKIE: &str = "lyrebird_flash";
/// The cookie that carries a new API key, sealed, from its form to the keys page
/// (`crate::web::reveal`).
pub const REVEAL_COOKIE: &str = "lyrebird_reveal";
/// Every cookie the app sets on its own origin, which the mock runtime strips from mock calls.
pub const APP_COOKIES: [&str; 4] = [
    SESSION_COOKIE,
    ANONYMOUS_COOKIE,
    FLASH_COOKIE,
    REVEAL_COOKIE,
];

/// The value of the first cookie called `name` in the request's `Cookie` headers.
pub fn read<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(found, value)| (found == name).then_some(value))
}

/// The session token from the `Cookie` headers, if any.
pub fn session_token(headers: &HeaderMap) -> Option<Secret> {
    read(headers, SESSION_COOKIE).map(Secret::new)
}

/// True when a proxy in front says the browser used HTTPS.
pub fn is_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|value| value.to_str().ok())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// A cookie with the attributes every Lyrebird cookie has.
pub fn cookie(name: &str, value: &str, max_age_seconds: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; HttpOnly; SameSite=Lax; Path=/; Max-Age={max_age_seconds}{secure}"
    ))
    .expect("cookie names and values are built from URL-safe characters")
}

/// The session cookie holding `token`; an empty token with no age clears it.
pub fn session_cookie(token: &Secret, max_age_seconds: i64, secure: bool) -> HeaderValue {
    cookie(SESSION_COOKIE, token.expose(), max_age_seconds, secure)
}

/// A `Set-Cookie` value as the browser sends it back: a request's `Cookie` header.
#[cfg(test)]
pub(crate) fn sent_back(set_cookie: &HeaderValue) -> HeaderMap {
    let pair = set_cookie.to_str().unwrap().split(';').next().unwrap();
    let mut headers = HeaderMap::new();
    headers.insert(header::COOKIE, HeaderValue::from_str(pair).unwrap());
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=1; lyrebird_session=tok; b=2".parse().unwrap(),
        );
        assert_eq!(session_token(&headers).unwrap().expose(), "tok");
    }
}

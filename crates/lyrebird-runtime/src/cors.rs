//! CORS for mocks, so a web app on any origin can call one: browser preflights are answered by
//! the runtime (unless an example answers `OPTIONS` on that path itself), and every mock
//! response allows the caller's origin with credentials and exposes its headers.

use axum::http::{HeaderMap, header};
use lyrebird_store::calls::Header;

/// Methods a preflight is told are allowed, besides the one it asks for.
const METHODS: &str = "GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS";
/// How long a browser may cache a preflight's answer, in seconds.
const MAX_AGE: &str = "86400";
/// The CORS headers' common prefix: those are never listed as exposed.
const CORS_PREFIX: &str = "access-control-";

/// A browser's preflight: `OPTIONS` with `Access-Control-Request-Method`.
pub fn is_preflight(method: &str, headers: &HeaderMap) -> bool {
    method.eq_ignore_ascii_case("OPTIONS")
        && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The headers of the runtime's answer to a preflight (a 204).
pub fn preflight_headers(request: &HeaderMap) -> Vec<Header> {
    let mut headers = Vec::new();
    allow_origin(request, &mut headers);
    let asked = text(request, header::ACCESS_CONTROL_REQUEST_METHOD).unwrap_or_default();
    let methods =
        if asked.is_empty() || METHODS.split(", ").any(|m| m == asked.to_ascii_uppercase()) {
            METHODS.into()
        } else {
            format!("{METHODS}, {asked}").into()
        };
    headers.push(("access-control-allow-methods".into(), methods));
    if let Some(asked) = text(request, header::ACCESS_CONTROL_REQUEST_HEADERS) {
        headers.push((
            "access-control-allow-headers".into(),
            asked.to_owned().into(),
        ));
    }
    headers.push(("access-control-max-age".into(), MAX_AGE.into()));
    headers.push((
        "vary".into(),
        "Origin, Access-Control-Request-Method, Access-Control-Request-Headers".into(),
    ));
    headers
}

/// Adds the CORS headers to a mock's response, unless the example set its own
/// `Access-Control-Allow-Origin`. Every other header of the response is exposed to scripts.
pub fn add_response_headers(request: &HeaderMap, response: &mut Vec<Header>) {
    if response
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("access-control-allow-origin"))
    {
        return;
    }
    // Built in one string of the right size: this runs on every mock call.
    let exposable = || {
        response.iter().map(|(name, _)| name).filter(|name| {
            !name
                .get(..CORS_PREFIX.len())
                .is_some_and(|prefix| prefix.eq_ignore_ascii_case(CORS_PREFIX))
        })
    };
    let mut exposed = String::with_capacity(exposable().map(|name| name.len() + 2).sum());
    for name in exposable() {
        if !exposed.is_empty() {
            exposed.push_str(", ");
        }
        exposed.push_str(name);
    }
    allow_origin(request, response);
    if !exposed.is_empty() {
        response.push(("access-control-expose-headers".into(), exposed.into()));
    }
    response.push(("vary".into(), "Origin".into()));
}

/// The request's origin (with credentials allowed), or `*` when it sent none.
fn allow_origin(request: &HeaderMap, headers: &mut Vec<Header>) {
    match text(request, header::ORIGIN) {
        Some(origin) => headers.extend([
            (
                "access-control-allow-origin".into(),
                origin.to_owned().into(),
            ),
            ("access-control-allow-credentials".into(), "true".into()),
        ]),
        None => headers.push(("access-control-allow-origin".into(), "*".into())),
    }
}

fn text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (name.parse().unwrap(), value.parse().unwrap()))
            .collect()
    }

    fn get<'a>(headers: &'a [Header], name: &str) -> Option<&'a str> {
        headers.iter().find(|(n, _)| n == name).map(|(_, v)| &**v)
    }

    #[test]
    fn a_preflight_is_granted_the_origin_method_and_headers_it_asks_for() {
        let request = headers(&[
            ("origin", "https://app.example"),
            ("access-control-request-method", "PUT"),
            ("access-control-request-headers", "content-type, x-api-key"),
        ]);
        assert!(is_preflight("OPTIONS", &request));
        assert!(!is_preflight("GET", &request));
        let answer = preflight_headers(&request);
        assert_eq!(
            get(&answer, "access-control-allow-origin"),
            Some("https://app.example")
        );
        assert_eq!(
            get(&answer, "access-control-allow-credentials"),
            Some("true")
        );
        assert!(
            get(&answer, "access-control-allow-methods")
                .unwrap()
                .contains("PUT")
        );
        assert_eq!(
            get(&answer, "access-control-allow-headers"),
            Some("content-type, x-api-key")
        );
    }

    #[test]
    fn responses_expose_their_headers_unless_the_example_set_cors_itself() {
        let request = headers(&[("origin", "https://app.example")]);
        let mut response = vec![
            ("content-type".into(), "application/json".into()),
            ("ratelimit-remaining".into(), "9".into()),
        ];
        add_response_headers(&request, &mut response);
        assert_eq!(
            get(&response, "access-control-expose-headers"),
            Some("content-type, ratelimit-remaining")
        );
        let mut own = vec![("Access-Control-Allow-Origin".into(), "https://x".into())];
        add_response_headers(&request, &mut own);
        assert_eq!(own.len(), 1);
    }
}

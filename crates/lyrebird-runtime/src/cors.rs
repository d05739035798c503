//! CORS for mocks, so a web app on any origin can call one: browser preflights are answered by
//! the runtime (unless an example answers `OPTIONS` on that path itself), and every mock
//! response allows the caller's origin with credentials and exposes its headers.

use axum::http::{HeaderMap, header};

use crate::headers::{self, Added, Headers, Value};

/// The CORS headers' common prefix: those are never listed as exposed.
const CORS_PREFIX: &str = "access-control-";

/// A browser's preflight: `OPTIONS` with `Access-Control-Request-Method`.
pub fn is_preflight(method: &str, headers: &HeaderMap) -> bool {
    method.eq_ignore_ascii_case("OPTIONS")
        && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The headers of the runtime's answer to a preflight (a 204).
pub fn preflight_headers(request: &HeaderMap) -> Vec<Added> {
    let mut added = Vec::new();
    allow_origin(request, &mut added);
    let asked = text(request, header::ACCESS_CONTROL_REQUEST_METHOD).unwrap_or_default();
    let known = headers::METHODS
        .split(", ")
        .any(|method| method == asked.to_ascii_uppercase());
    let methods = if asked.is_empty() || known {
        Some(headers::ALL_METHODS)
    } else {
        Value::text(format!("{}, {asked}", headers::METHODS))
    };
    added.extend(methods.map(|methods| (headers::ALLOW_METHODS, methods)));
    if let Some(asked) = text(request, header::ACCESS_CONTROL_REQUEST_HEADERS) {
        added.extend(Value::text(asked.to_owned()).map(|asked| (headers::ALLOW_HEADERS, asked)));
    }
    added.push((headers::MAX_AGE, headers::ONE_DAY));
    added.push((headers::VARY, headers::PREFLIGHT_VARY));
    added
}

/// Adds the CORS headers to a mock's response, unless the example set its own
/// `Access-Control-Allow-Origin`. Every other header of the response is exposed to scripts.
pub fn add_response_headers(request: &HeaderMap, headers: &mut Headers) {
    if headers
        .names()
        .any(|name| name.eq_ignore_ascii_case(headers::ALLOW_ORIGIN.as_str()))
    {
        return;
    }
    // Built in one string of the right size: this runs on every mock call.
    let exposable = || {
        headers.names().filter(|name| {
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
    allow_origin(request, headers);
    if !exposed.is_empty()
        && let Some(exposed) = Value::text(exposed)
    {
        headers.add((headers::EXPOSE_HEADERS, exposed));
    }
    headers.add((headers::VARY, headers::ORIGIN));
}

/// The request's origin (with credentials allowed), or `*` when it sent none.
fn allow_origin(request: &HeaderMap, into: &mut impl Extend<Added>) {
    match text(request, header::ORIGIN).and_then(|origin| Value::text(origin.to_owned())) {
        Some(origin) => into.extend([
            (headers::ALLOW_ORIGIN, origin),
            (headers::ALLOW_CREDENTIALS, headers::TRUE),
        ]),
        None => into.extend([(headers::ALLOW_ORIGIN, headers::ANY_ORIGIN)]),
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
    use lyrebird_store::calls::Header;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| (name.parse().unwrap(), value.parse().unwrap()))
            .collect()
    }

    /// The added headers as the call log keeps them.
    fn logged(added: Vec<Added>) -> Vec<Header> {
        let mut headers = Headers::new(Vec::new(), added.len());
        headers.extend(added);
        headers.into_parts().1
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
        let answer = logged(preflight_headers(&request));
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
        let rendered = vec![("content-type".into(), "application/json".into())];
        let mut response = Headers::new(rendered, 5);
        response.add((headers::RATELIMIT_REMAINING, Value::number(9)));
        add_response_headers(&request, &mut response);
        assert_eq!(
            get(&response.into_parts().1, "access-control-expose-headers"),
            Some("content-type, ratelimit-remaining")
        );
        let own = vec![("Access-Control-Allow-Origin".into(), "https://x".into())];
        let mut response = Headers::new(own, 0);
        add_response_headers(&request, &mut response);
        assert_eq!(response.into_parts().1.len(), 1);
    }
}

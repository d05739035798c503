//! The headers of a mock's response: the answer's, confined, then the rate limit's or quota's,
//! the confinement's and CORS's.
//!
//! A mock called again and again answers with the same headers but for the numbers of its rate
//! (`RateLimit-Remaining` and `-Reset`). So each thread keeps the headers it made last, with
//! what they were made from; a call made from the same gets a copy (which shares the bytes of
//! its names and values) with its own numbers put in place. Anything else different, down to
//! the request's `Origin` or the rate's limit, makes them anew.

use std::cell::RefCell;

use axum::http::header::Entry;
use axum::http::{HeaderMap, HeaderValue, header};
use lyrebird_store::calls::Header;

use crate::cors;
use crate::headers::{self, Added, Headers, Name, Value};

/// Keeps a mock's answer from acting for the app. Called by path, the mock may be on the app's
/// own origin: its HTML runs sandboxed (no scripts, an opaque origin), is never sniffed into
/// another type, and it sets no cookies. On its own host it may set cookies for that host only,
/// never with a `Domain` that would reach the app's host or other mocks.
fn confine(rendered: &mut Vec<Header>, own_host: bool) {
    rendered.retain(|(name, value)| {
        if !name.eq_ignore_ascii_case("set-cookie") {
            // Replaced below by `nosniff`.
            return own_host || !name.eq_ignore_ascii_case("x-content-type-options");
        }
        own_host
            && !value.split(';').skip(1).any(|attribute| {
                let name = attribute
                    .split_once('=')
                    .map_or(attribute, |(name, _)| name);
                name.trim().eq_ignore_ascii_case("domain")
            })
    });
}

/// The answer's headers and the runtime's own (`added`), with room for `more`.
pub(crate) fn own_headers(rendered: Vec<Header>, added: Vec<Added>, more: usize) -> Headers {
    let mut headers = Headers::new(rendered, added.len() + more);
    headers.extend(added);
    headers
}

/// The numbers of the `RateLimit-*` headers: the mock's simulated rate limit when it has one
/// (with its window), else the workspace's monthly quota.
pub(crate) struct RateHeaders {
    pub limit: u64,
    pub remaining: u64,
    /// Seconds until the count starts again.
    pub reset: u64,
    pub window_s: Option<u32>,
}

/// Every header of the response, as HTTP sends them and as the call log keeps them.
pub(crate) fn response_headers(
    request: &HeaderMap,
    own_host: bool,
    rendered: Vec<Header>,
    added: Vec<Added>,
    rate: Option<RateHeaders>,
) -> (HeaderMap, Vec<Header>) {
    let made_from = MadeFrom {
        rendered,
        added,
        own_host,
        rate: rate.as_ref().map(|rate| (rate.limit, rate.window_s)),
        origin: request.get(header::ORIGIN).cloned(),
    };
    LAST.with_borrow_mut(|last| {
        let made = match last {
            Some(made) if made.from == made_from => made,
            _ => last.insert(Made::new(made_from, request, rate.as_ref())),
        };
        if let Some(rate) = rate {
            made.set(&headers::RATELIMIT_REMAINING, 1, rate.remaining);
            made.set(&headers::RATELIMIT_RESET, 2, rate.reset);
        }
        (made.http.clone(), made.logged.clone())
    })
}

thread_local! {
    /// The headers this thread made last.
    static LAST: RefCell<Option<Made>> = const { RefCell::new(None) };
}

/// What a response's headers are made from, but the rate's remaining calls and reset.
#[derive(PartialEq)]
struct MadeFrom {
    rendered: Vec<Header>,
    added: Vec<Added>,
    own_host: bool,
    /// The rate's limit and window, when the rate's headers are added.
    rate: Option<(u64, Option<u32>)>,
    /// The request's `Origin`, which CORS answers.
    origin: Option<HeaderValue>,
}

/// A response's headers, kept to be copied.
struct Made {
    from: MadeFrom,
    http: HeaderMap,
    logged: Vec<Header>,
    /// Where the rate's headers start in `logged`, and the numbers they hold there.
    rate: Option<(usize, [u64; 3])>,
}

impl Made {
    fn new(from: MadeFrom, request: &HeaderMap, rate: Option<&RateHeaders>) -> Self {
        let mut rendered = from.rendered.clone();
        confine(&mut rendered, from.own_host);
        // Room for what is added below: the rate's 4 headers, the confinement's 2 and CORS's 4.
        let mut headers = own_headers(rendered, from.added.clone(), 10);
        let rate = rate.map(|rate| {
            let at = headers.len();
            headers.extend([
                (headers::RATELIMIT_LIMIT, Value::number(rate.limit)),
                (headers::RATELIMIT_REMAINING, Value::number(rate.remaining)),
                (headers::RATELIMIT_RESET, Value::number(rate.reset)),
            ]);
            let policy = rate
                .window_s
                .and_then(|window| Value::text(format!("{};w={window}", rate.limit)));
            if let Some(policy) = policy {
                headers.add((headers::RATELIMIT_POLICY, policy));
            }
            (at, [rate.limit, rate.remaining, rate.reset])
        });
        if !from.own_host {
            headers.extend([
                (headers::CONTENT_SECURITY_POLICY, headers::SANDBOX),
                (headers::X_CONTENT_TYPE_OPTIONS, headers::NOSNIFF),
            ]);
        }
        cors::add_response_headers(request, &mut headers);
        let (http, logged) = headers.into_parts();
        Self {
            from,
            http,
            logged,
            rate,
        }
    }

    /// Puts `number` in the rate's header `name`, the `index`th of them.
    fn set(&mut self, name: &Name, index: usize, number: u64) {
        let Some((at, numbers)) = &mut self.rate else {
            return;
        };
        if numbers[index] == number {
            return;
        }
        numbers[index] = number;
        let (text, http) = Value::number(number).into_parts();
        self.logged[*at + index].1 = text;
        // The rate's value is the last of its name: an example may send one of its own.
        if let Entry::Occupied(mut entry) = self.http.entry(name.http())
            && let Some(value) = entry.iter_mut().last()
        {
            *value = http;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(remaining: u64, reset: u64) -> Option<RateHeaders> {
        Some(RateHeaders {
            limit: 100,
            remaining,
            reset,
            window_s: None,
        })
    }

    fn made(
        request: &HeaderMap,
        rendered: &[(&'static str, &'static str)],
        rate: Option<RateHeaders>,
    ) -> (HeaderMap, Vec<Header>) {
        let rendered = rendered
            .iter()
            .map(|&(name, value)| (name.into(), value.into()))
            .collect();
        response_headers(request, false, rendered, Vec::new(), rate)
    }

    fn logged<'a>(headers: &'a [Header], name: &str) -> Vec<&'a str> {
        headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| &**v)
            .collect()
    }

    #[test]
    fn a_copy_of_the_last_headers_gets_its_own_numbers_and_anything_else_new_makes_them_anew() {
        let request = HeaderMap::new();
        let example = [("content-type", "application/json")];
        let (first, _) = made(&request, &example, rate(9, 30));
        let (http, log) = made(&request, &example, rate(8, 29));
        assert_eq!(http["ratelimit-remaining"], "8");
        assert_eq!(http["ratelimit-reset"], "29");
        assert_eq!(logged(&log, "ratelimit-remaining"), ["8"]);
        assert_eq!(logged(&log, "ratelimit-reset"), ["29"]);
        // The copy handed out before is not changed.
        assert_eq!(first["ratelimit-remaining"], "9");
        // In the same order as made anew.
        let names = |http: &HeaderMap| http.keys().map(|name| name.to_string()).collect::<Vec<_>>();
        assert_eq!(names(&http), names(&first));

        let mut from_app = HeaderMap::new();
        from_app.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://app.example"),
        );
        let (http, _) = made(&from_app, &example, rate(7, 29));
        assert_eq!(http["access-control-allow-origin"], "https://app.example");
        let (http, _) = made(&request, &[("content-type", "text/plain")], rate(6, 29));
        assert_eq!(http["content-type"], "text/plain");
        assert_eq!(http["access-control-allow-origin"], "*");
        let (http, log) = made(&request, &example, None);
        assert!(!http.contains_key("ratelimit-remaining"));
        assert!(logged(&log, "ratelimit-limit").is_empty());
    }

    #[test]
    fn an_example_s_own_rate_header_keeps_its_value_beside_the_runtime_s() {
        let request = HeaderMap::new();
        let example = [("RateLimit-Remaining", "example's")];
        made(&request, &example, rate(5, 10));
        let (http, log) = made(&request, &example, rate(4, 10));
        let values: Vec<_> = http.get_all("ratelimit-remaining").iter().collect();
        assert_eq!(values, ["example's", "4"]);
        assert_eq!(logged(&log, "ratelimit-remaining"), ["example's", "4"]);
    }
}

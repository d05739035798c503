//! Examples learned from exchanges with a real API: a mock's recording, or calls chosen in its
//! call log.
//!
//! - **Paths.** Paths of the same shape whose segments differ only where they hold ids (a
//!   segment with a digit, other than a version such as `v2`) share a capture there when two or
//!   more values were seen: `/users/1` and `/users/2` become `/users/:userId`.
//! - **Conditions.** Exchanges with the same method and path that were answered alike become one
//!   example with no further condition. Answered differently, each keeps what told it apart from
//!   the others: the literal path where its ids differ, the query parameters that differ, the
//!   body when bodies differ. Where ids told them apart, an example with the capture answers ids
//!   never seen, as the last exchange was answered.
//! - **Duplicates** are folded: of exchanges that would make the same example, the last one's
//!   answer is kept.
//! - **Headers.** Request headers never become conditions, and response headers that describe one
//!   transfer (`Content-Length`, `Date`, `X-Request-Id`, the rate-limit counters…) or carry
//!   secrets (`Set-Cookie`, `Authorization`, and the names the caller says are private) are not
//!   saved, nor compared when answers are told alike or apart.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use lyrebird_engine::{BodyMatch, Example, Header, RequestPattern, ResponseSpec, ValueMatch};
use serde_json::Value;

use crate::Warning;
use crate::http::{body_condition, is_transport_header, join_path};

/// Response headers never saved: they describe one answer's moment or route, or carry secrets.
const NOT_SAVED: [&str; 12] = [
    "date",
    "age",
    "via",
    "server-timing",
    "x-request-id",
    "request-id",
    "x-correlation-id",
    "set-cookie",
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
];

/// Prefixes of response headers that count down with each call (`RateLimit-Remaining`,
/// `X-RateLimit-Reset`): replayed, they would lie, and two answers alike would differ by them.
const COUNTING: [&str; 2] = ["ratelimit-", "x-ratelimit-"];

/// One request to the real API and its answer, as the call log keeps them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub method: String,
    /// The path as it was sent, percent-encoded as it was.
    pub path: String,
    /// The query string, without `?`.
    pub query: String,
    pub request_content_type: Option<String>,
    pub request_body: String,
    pub status: u16,
    pub response_headers: Vec<Header>,
    pub response_body: String,
}

/// The examples, in the order their first exchange came, and what became of the rest.
#[derive(Debug, Default)]
pub struct Learned {
    pub examples: Vec<Example>,
    /// Exchanges that repeated an example already made.
    pub folded: usize,
    /// Examples the engine refused, each named.
    pub warnings: Vec<Warning>,
}

/// An exchange taken apart.
struct Seen {
    method: String,
    segments: Vec<String>,
    /// The positions of `segments` that became captures, and the captures' names.
    captures: Vec<(usize, String)>,
    query: Vec<(String, String)>,
    body: BodyMatch,
    response: ResponseSpec,
}

impl Seen {
    fn path(&self, literal_at: &BTreeSet<usize>) -> String {
        let mut segments: Vec<String> = self.segments.iter().map(|s| literal(s)).collect();
        for (position, name) in &self.captures {
            if !literal_at.contains(position) {
                segments[*position] = format!(":{name}");
            }
        }
        join_path(&segments)
    }

    fn query_value(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .query
            .iter()
            .filter(|(own, _)| own == name)
            .map(|(_, value)| value.as_str())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    }
}

/// Learns examples from exchanges given oldest first; headers named in `private` (any letter
/// case) are not saved either.
pub fn examples_from(exchanges: &[Exchange], private: &[String]) -> Learned {
    let mut seen: Vec<Seen> = exchanges
        .iter()
        .map(|exchange| taken_apart(exchange, private))
        .collect();
    find_captures(&mut seen);

    let mut groups: Vec<((String, String), Vec<&Seen>)> = Vec::new();
    for one in &seen {
        let key = (one.method.clone(), one.path(&BTreeSet::new()));
        match groups.iter_mut().find(|(own, _)| *own == key) {
            Some((_, members)) => members.push(one),
            None => groups.push((key, vec![one])),
        }
    }

    let mut learned = Learned::default();
    for ((method, template), members) in groups {
        let made = group_examples(&method, &template, &members);
        if made.len() == 1 {
            // Answered alike: one example stands for them all.
            learned.folded += members.len() - 1;
        }
        for (request, response) in made {
            let name = example_name(&request, response.status);
            let example = Example {
                name: name.clone(),
                request,
                response,
                ..Example::default()
            };
            match learned
                .examples
                .iter_mut()
                .find(|own| own.request == example.request)
            {
                Some(own) => {
                    own.response = example.response;
                    learned.folded += 1;
                }
                None => learned.examples.push(example),
            }
        }
    }
    learned.examples.retain(|example| {
        let location = [example.name.clone()];
        crate::accepted(
            example.clone(),
            &location,
            &BTreeMap::new(),
            &mut learned.warnings,
        )
        .is_some()
    });
    learned
}

/// The request and response of each example one group (one method and path) makes, before
/// duplicates are folded.
fn group_examples(
    method: &str,
    template: &str,
    members: &[&Seen],
) -> Vec<(RequestPattern, ResponseSpec)> {
    let pattern = |path: String, query, body| RequestPattern {
        method: Some(method.to_owned()),
        path,
        query,
        body,
        ..RequestPattern::default()
    };
    let last = members.last().expect("a group has a member");
    if members
        .iter()
        .all(|member| member.response == last.response)
    {
        return vec![(
            pattern(template.to_owned(), BTreeMap::new(), BodyMatch::None {}),
            last.response.clone(),
        )];
    }
    let differing_ids: BTreeSet<usize> = last
        .captures
        .iter()
        .map(|(position, _)| *position)
        .filter(|position| {
            members
                .iter()
                .any(|member| member.segments[*position] != last.segments[*position])
        })
        .collect();
    let names: BTreeSet<&str> = members
        .iter()
        .flat_map(|member| member.query.iter().map(|(name, _)| name.as_str()))
        .collect();
    let differing_names: Vec<&str> = names
        .into_iter()
        .filter(|name| {
            members
                .iter()
                .any(|member| member.query_value(name) != last.query_value(name))
        })
        .collect();
    let bodies_differ = members.iter().any(|member| member.body != last.body);

    let mut examples: Vec<(RequestPattern, ResponseSpec)> = members
        .iter()
        .map(|member| {
            let query = differing_names
                .iter()
                .filter_map(|name| {
                    let value = member.query_value(name)?;
                    Some(((*name).to_owned(), ValueMatch::Equals(value)))
                })
                .collect();
            let body = if bodies_differ {
                member.body.clone()
            } else {
                BodyMatch::None {}
            };
            (
                pattern(member.path(&differing_ids), query, body),
                member.response.clone(),
            )
        })
        .collect();
    if !differing_ids.is_empty() {
        examples.push((
            pattern(template.to_owned(), BTreeMap::new(), BodyMatch::None {}),
            last.response.clone(),
        ));
    }
    examples
}

fn taken_apart(exchange: &Exchange, private: &[String]) -> Seen {
    let path = exchange.path.strip_prefix('/').unwrap_or(&exchange.path);
    let headers = exchange
        .response_headers
        .iter()
        .filter(|header| {
            let name = header.name.as_str();
            let lower = name.to_ascii_lowercase();
            !is_transport_header(name)
                && !NOT_SAVED.contains(&lower.as_str())
                && !COUNTING.iter().any(|prefix| lower.starts_with(prefix))
                && !private.iter().any(|own| own.eq_ignore_ascii_case(name))
        })
        .cloned()
        .collect();
    Seen {
        method: exchange.method.to_ascii_uppercase(),
        segments: path.split('/').map(str::to_owned).collect(),
        captures: Vec::new(),
        query: lyrebird_engine::request::parse_urlencoded(&exchange.query),
        body: body_condition(
            &exchange.request_body,
            exchange.request_content_type.as_deref(),
        ),
        response: ResponseSpec {
            status: exchange.status,
            headers,
            body: (!exchange.response_body.is_empty())
                .then(|| Value::String(exchange.response_body.clone())),
            ..ResponseSpec::default()
        },
    }
}

/// Whether a path segment holds an id: it has a digit, and is not a version such as `v2`.
fn holds_id(segment: &str) -> bool {
    let version = segment
        .strip_prefix(['v', 'V'])
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()));
    !version && segment.bytes().any(|b| b.is_ascii_digit())
}

/// Marks the id segments that vary among paths of the same shape as captures.
fn find_captures(seen: &mut [Seen]) {
    let shape = |one: &Seen| -> Vec<Option<String>> {
        one.segments
            .iter()
            .map(|segment| (!holds_id(segment)).then(|| segment.clone()))
            .collect()
    };
    let mut shapes: HashMap<Vec<Option<String>>, Vec<usize>> = HashMap::new();
    for (index, one) in seen.iter().enumerate() {
        shapes.entry(shape(one)).or_default().push(index);
    }
    for (shape, members) in shapes {
        let mut taken = BTreeSet::new();
        let captures: Vec<(usize, String)> = shape
            .iter()
            .enumerate()
            .filter(|(position, literal)| {
                literal.is_none() && {
                    let values: BTreeSet<&str> = members
                        .iter()
                        .map(|index| seen[*index].segments[*position].as_str())
                        .collect();
                    values.len() > 1
                }
            })
            .map(|(position, _)| {
                let before = position
                    .checked_sub(1)
                    .and_then(|previous| shape[previous].as_deref());
                (position, capture_name(before, &mut taken))
            })
            .collect();
        for index in members {
            seen[index].captures.clone_from(&captures);
        }
    }
}

/// `userId` after `users`, `categoryId` after `categories`; `id` (then `id2`, …) otherwise.
fn capture_name(before: Option<&str>, taken: &mut BTreeSet<String>) -> String {
    let word: String = before
        .map(|segment| {
            let singular = match segment.strip_suffix("ies") {
                Some(stem) => format!("{stem}y"),
                None => segment.strip_suffix('s').unwrap_or(segment).to_owned(),
            };
            let mut parts = singular
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|part| !part.is_empty());
            let mut word = parts.next().unwrap_or_default().to_ascii_lowercase();
            for part in parts {
                let mut chars = part.chars();
                word.extend(chars.next().map(|c| c.to_ascii_uppercase()));
                word.push_str(&chars.as_str().to_ascii_lowercase());
            }
            word
        })
        .unwrap_or_default();
    let base = if word.is_empty() {
        "id".to_owned()
    } else {
        format!("{word}Id")
    };
    let mut name = base.clone();
    let mut n = 1;
    while !taken.insert(name.clone()) {
        n += 1;
        name = format!("{base}{n}");
    }
    name
}

/// A recorded segment as an example path's literal segment: one that would read as a capture
/// (`:id`, `{id}`, a final `*`) has its first character percent-encoded, which the comparison
/// decodes.
fn literal(segment: &str) -> String {
    match segment.as_bytes().first() {
        Some(b':') => format!("%3A{}", &segment[1..]),
        Some(b'{') => format!("%7B{}", &segment[1..]),
        _ if segment == "*" => "%2A".to_owned(),
        _ => segment.to_owned(),
    }
}

fn example_name(request: &RequestPattern, status: u16) -> String {
    let method = request.method.as_deref().unwrap_or("*");
    let query: Vec<String> = request
        .query
        .iter()
        .map(|(name, value)| match value {
            ValueMatch::Equals(value) => format!("{name}={value}"),
            ValueMatch::Rule(_) => name.clone(),
        })
        .collect();
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{}", query.join("&"))
    };
    format!("{method} {}{query} {status}", request.path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(method: &str, url: &str, status: u16, body: &str) -> Exchange {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        Exchange {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            request_content_type: None,
            request_body: String::new(),
            status,
            response_headers: vec![
                Header {
                    name: "Content-Type".to_owned(),
                    value: "application/json".to_owned(),
                },
                Header {
                    name: "Set-Cookie".to_owned(),
                    value: "session=secret".to_owned(),
                },
                Header {
                    name: "X-Token".to_owned(),
                    value: "secret".to_owned(),
                },
                Header {
                    name: "Date".to_owned(),
                    value: "Sun, 06 Dec 2026 03:00:00 GMT".to_owned(),
                },
            ],
            response_body: body.to_owned(),
        }
    }

    fn learned(exchanges: &[Exchange]) -> Vec<(String, String)> {
        examples_from(exchanges, &["x-token".to_owned()])
            .examples
            .into_iter()
            .map(|example| {
                let body = example
                    .response
                    .body
                    .and_then(|body| body.as_str().map(str::to_owned))
                    .unwrap_or_default();
                (example.name, body)
            })
            .collect()
    }

    #[test]
    fn ids_answered_alike_share_a_capture() {
        let counted = |remaining: &str, id: &str| {
            let mut one = exchange("GET", &format!("/v2/users/{id}/orders/7{id}"), 200, "[]");
            for (name, value) in [("RateLimit-Remaining", remaining), ("X-Request-Id", id)] {
                one.response_headers.push(Header {
                    name: name.to_owned(),
                    value: value.to_owned(),
                });
            }
            one
        };
        let examples = learned(&[
            counted("99", "1"),
            counted("98", "2"),
            exchange("GET", "/v2/users/me", 200, "{}"),
        ]);
        assert_eq!(
            examples,
            [
                (
                    "GET /v2/users/:userId/orders/:orderId 200".to_owned(),
                    "[]".to_owned()
                ),
                ("GET /v2/users/me 200".to_owned(), "{}".to_owned()),
            ]
        );
    }

    #[test]
    fn ids_answered_differently_keep_their_literal_paths_and_a_capture_for_the_rest() {
        let examples = learned(&[
            exchange("GET", "/users/1", 200, "{\"id\":1}"),
            exchange("GET", "/users/2", 200, "{\"id\":2}"),
            exchange("DELETE", "/users/3", 204, ""),
        ]);
        assert_eq!(
            examples,
            [
                ("GET /users/1 200".to_owned(), "{\"id\":1}".to_owned()),
                ("GET /users/2 200".to_owned(), "{\"id\":2}".to_owned()),
                ("GET /users/:userId 200".to_owned(), "{\"id\":2}".to_owned()),
                ("DELETE /users/:userId 204".to_owned(), String::new()),
            ]
        );
    }

    #[test]
    fn only_the_query_parameters_and_bodies_that_differ_become_conditions() {
        let mut first = exchange("POST", "/search?q=a&trace=1", 200, "A");
        first.request_content_type = Some("application/json".to_owned());
        first.request_body = "{\"page\": 1}".to_owned();
        let mut second = exchange("POST", "/search?q=b&trace=1", 200, "B");
        second.request_content_type = Some("application/json".to_owned());
        second.request_body = "{\"page\": 1}".to_owned();
        let learned = examples_from(&[first.clone(), second, first], &[]);
        let conditions: Vec<_> = learned
            .examples
            .iter()
            .map(|example| (example.request.query.clone(), example.request.body.clone()))
            .collect();
        assert_eq!(
            conditions,
            [
                (
                    BTreeMap::from([("q".to_owned(), ValueMatch::Equals("a".to_owned()))]),
                    BodyMatch::None {}
                ),
                (
                    BTreeMap::from([("q".to_owned(), ValueMatch::Equals("b".to_owned()))]),
                    BodyMatch::None {}
                ),
            ]
        );
        assert_eq!(learned.folded, 1);
    }

    #[test]
    fn calls_answered_alike_are_counted_as_folded() {
        let alike = examples_from(
            &[
                exchange("GET", "/a/1", 200, "{}"),
                exchange("GET", "/a/2", 200, "{}"),
                exchange("GET", "/a/3", 200, "{}"),
            ],
            &[],
        );
        assert_eq!((alike.examples.len(), alike.folded), (1, 2));
    }

    #[test]
    fn a_request_answered_twice_keeps_the_last_answer() {
        let examples = learned(&[
            exchange("GET", "/time", 200, "1"),
            exchange("GET", "/time", 200, "2"),
        ]);
        assert_eq!(examples, [("GET /time 200".to_owned(), "2".to_owned())]);
    }

    #[test]
    fn transfer_and_secret_headers_are_not_saved() {
        let learned = examples_from(&[exchange("GET", "/a", 200, "{}")], &["X-TOKEN".to_owned()]);
        let names: Vec<&str> = learned.examples[0]
            .response
            .headers
            .iter()
            .map(|header| header.name.as_str())
            .collect();
        assert_eq!(names, ["Content-Type"]);
    }

    #[test]
    fn segments_that_would_read_as_captures_stay_literal() {
        let examples = learned(&[exchange("GET", "/a/:b/{c}/*", 200, "")]);
        assert_eq!(examples[0].0, "GET /a/%3Ab/%7Bc}/%2A 200");
    }

    #[test]
    fn capture_names_come_from_the_segment_before() {
        let mut taken = BTreeSet::new();
        assert_eq!(capture_name(Some("categories"), &mut taken), "categoryId");
        assert_eq!(capture_name(Some("line-items"), &mut taken), "lineItemId");
        assert_eq!(capture_name(None, &mut taken), "id");
        assert_eq!(capture_name(None, &mut taken), "id2");
        assert!(holds_id("42") && holds_id("a1b2") && !holds_id("v2") && !holds_id("me"));
    }
}

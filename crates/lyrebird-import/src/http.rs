//! HTTP knowledge the importers share: which recorded headers must not be replayed, how a saved
//! request body becomes a body condition, status reason phrases, and path assembly.

use lyrebird_engine::request::media_type;
use lyrebird_engine::{BodyMatch, Header, JsonMode};

/// Headers that describe one past transfer rather than the answer: replaying them would lie
/// (a `Content-Length` of another body, a `Content-Encoding: gzip` over a body saved decoded).
pub(crate) fn is_transport_header(name: &str) -> bool {
    const TRANSPORT: [&str; 7] = [
        "content-length",
        "transfer-encoding",
        "content-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "trailer",
    ];
    TRANSPORT.iter().any(|t| t.eq_ignore_ascii_case(name))
}

pub(crate) fn is_json_media(content_type: &str) -> bool {
    let media = media_type(content_type);
    media == "application/json" || media.ends_with("+json") || media.ends_with("/json")
}

pub(crate) fn is_xml_media(content_type: &str) -> bool {
    let media = media_type(content_type);
    media.ends_with("/xml") || media.ends_with("+xml")
}

/// The condition for a saved request body: JSON compared as JSON, XML as XML, anything else as
/// text. `hint` is a content type or a Postman raw language (`json`, `xml`, `text`).
pub(crate) fn body_condition(text: &str, hint: Option<&str>) -> BodyMatch {
    if text.trim().is_empty() {
        return BodyMatch::None {};
    }
    let hint = hint.unwrap_or_default();
    let looks_json = hint.eq_ignore_ascii_case("json") || is_json_media(hint);
    let looks_xml = hint.eq_ignore_ascii_case("xml") || is_xml_media(hint);
    if looks_json && let Ok(value) = serde_json::from_str(text) {
        return BodyMatch::Json {
            value,
            mode: JsonMode::Equals,
        };
    }
    if looks_xml {
        return BodyMatch::Xml {
            value: text.to_owned(),
        };
    }
    BodyMatch::Text {
        value: text.to_owned(),
    }
}

/// The value of the first header with this name, compared case-insensitively.
pub(crate) fn header_value<'a>(headers: &'a [Header], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|header| header.name.eq_ignore_ascii_case(name))
        .map(|header| header.value.as_str())
}

const REASONS: [(u16, &str); 40] = [
    (100, "Continue"),
    (101, "Switching Protocols"),
    (200, "OK"),
    (201, "Created"),
    (202, "Accepted"),
    (203, "Non-Authoritative Information"),
    (204, "No Content"),
    (205, "Reset Content"),
    (206, "Partial Content"),
    (207, "Multi-Status"),
    (300, "Multiple Choices"),
    (301, "Moved Permanently"),
    (302, "Found"),
    (303, "See Other"),
    (304, "Not Modified"),
    (307, "Temporary Redirect"),
    (308, "Permanent Redirect"),
    (400, "Bad Request"),
    (401, "Unauthorized"),
    (402, "Payment Required"),
    (403, "Forbidden"),
    (404, "Not Found"),
    (405, "Method Not Allowed"),
    (406, "Not Acceptable"),
    (408, "Request Timeout"),
    (409, "Conflict"),
    (410, "Gone"),
    (412, "Precondition Failed"),
    (413, "Payload Too Large"),
    (415, "Unsupported Media Type"),
    (418, "I'm a teapot"),
    (422, "Unprocessable Entity"),
    (423, "Locked"),
    (429, "Too Many Requests"),
    (500, "Internal Server Error"),
    (501, "Not Implemented"),
    (502, "Bad Gateway"),
    (503, "Service Unavailable"),
    (504, "Gateway Timeout"),
    (505, "HTTP Version Not Supported"),
];

/// The standard reason phrase, or an empty string for codes without a well-known one.
pub(crate) fn reason_phrase(code: u16) -> &'static str {
    REASONS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or("", |(_, reason)| reason)
}

/// A status code from a status line such as `200 OK` or just `Not Found`.
pub(crate) fn status_from_text(text: &str) -> Option<u16> {
    let text = text.trim();
    let digits: String = text.chars().take_while(char::is_ascii_digit).collect();
    if let Ok(code) = digits.parse::<u16>()
        && (100..=599).contains(&code)
    {
        return Some(code);
    }
    REASONS
        .iter()
        .find(|(_, reason)| reason.eq_ignore_ascii_case(text))
        .map(|(code, _)| *code)
}

/// Joins path segments into the example path: empty segments are dropped, except that a final
/// empty segment keeps the trailing slash the file wrote.
pub(crate) fn join_path(segments: &[String]) -> String {
    let trailing = segments.len() > 1 && segments.last().is_some_and(String::is_empty);
    let kept: Vec<&str> = segments
        .iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .collect();
    let mut path = format!("/{}", kept.join("/"));
    if trailing && !kept.is_empty() {
        path.push('/');
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_comes_from_digits_or_reason() {
        assert_eq!(status_from_text("201 Created"), Some(201));
        assert_eq!(status_from_text("not found"), Some(404));
        assert_eq!(status_from_text("Whatever"), None);
    }

    #[test]
    fn json_bodies_become_json_conditions_and_broken_json_stays_text() {
        assert!(matches!(
            body_condition("{\"a\": 1}", Some("json")),
            BodyMatch::Json { .. }
        ));
        assert!(matches!(
            body_condition("{\"a\": {{id}}}", Some("application/json")),
            BodyMatch::Text { .. }
        ));
        assert!(matches!(
            body_condition("<a/>", Some("text/xml; charset=utf-8")),
            BodyMatch::Xml { .. }
        ));
        assert_eq!(body_condition("  ", Some("json")), BodyMatch::None {});
    }

    #[test]
    fn paths_drop_empty_segments_but_keep_a_trailing_slash() {
        let segments = |s: &[&str]| s.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            join_path(&segments(&["", "", "beer", ":name"])),
            "/beer/:name"
        );
        assert_eq!(join_path(&segments(&["status", "400", ""])), "/status/400/");
        assert_eq!(join_path(&[]), "/");
    }
}

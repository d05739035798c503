//! How the keys, usage and call-log pages write times, counts, latencies and bodies: the same
//! way everywhere, in UTC (the month of a quota and the times of the call log are UTC), and
//! bodies pretty-printed on the server so that the pages need no script to read them.

use std::fmt::Write as _;

use sxd_document::dom::{ChildOfElement, Element};
use time::OffsetDateTime;
use time::macros::format_description;

/// `2026-11-21 12:49:03 UTC`
pub fn time(at: OffsetDateTime) -> String {
    let utc = at.to_offset(time::UtcOffset::UTC);
    utc.format(format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
    ))
    .unwrap_or_else(|_| utc.to_string())
}

/// `2026-11-21 12:49:03.123 UTC`: the call log's times, to the millisecond.
pub fn precise_time(at: OffsetDateTime) -> String {
    let utc = at.to_offset(time::UtcOffset::UTC);
    utc.format(format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3] UTC"
    ))
    .unwrap_or_else(|_| utc.to_string())
}

/// RFC 3339, for a `<time datetime>` that scripts read.
pub fn iso_time(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A `User-Agent` as people name browsers: `Firefox on Linux`, `Safari on iPhone`; the whole
/// string when neither is recognised. Only for showing: nothing is decided by it.
pub fn browser(user_agent: &str) -> String {
    // Order matters: Edge and Opera say Chrome, Chrome says Safari, Android says Linux.
    const BROWSERS: [(&str, &str); 6] = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ];
    const SYSTEMS: [(&str, &str); 6] = [
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Android", "Android"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ];
    let find = |names: &[(&str, &'static str)]| {
        names
            .iter()
            .find(|(mark, _)| user_agent.contains(mark))
            .map(|(_, name)| *name)
    };
    match (find(&BROWSERS), find(&SYSTEMS)) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_owned(),
        _ => user_agent.to_owned(),
    }
}

/// `1 December 2026`
pub fn date(at: OffsetDateTime) -> String {
    let utc = at.to_offset(time::UtcOffset::UTC);
    format!("{} {} {}", utc.day(), utc.month(), utc.year())
}

/// `November 2026` for the month `2026-11`; anything else as it is.
pub fn month(month: &str) -> String {
    let named = month.split_once('-').and_then(|(year, number)| {
        let number = number.parse::<u8>().ok()?;
        Some(format!("{} {year}", time::Month::try_from(number).ok()?))
    });
    named.unwrap_or_else(|| month.to_owned())
}

/// An API message (lower case, no full stop) as a sentence for a page.
pub fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let first = chars.next().map(|c| c.to_uppercase().to_string());
    format!("{}{}.", first.unwrap_or_default(), chars.as_str())
}

/// `12,345`
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// `0.4 ms`, `12 ms`, `1.25 s`: enough digits to compare calls, no more.
pub fn latency(microseconds: u64) -> String {
    let ms = microseconds as f64 / 1000.0;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

/// A logged body as a page shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ShownBody {
    /// `json`, `xml`, `text`, `binary` or `empty`: what the text is.
    pub kind: &'static str,
    pub text: String,
}

/// The body pretty-printed when it is JSON or XML (by its content type, or by its look when
/// the type says nothing), else as it came. A body that claims to be JSON or XML but does not
/// parse (or was cut at the log's cap) is shown as it came, too.
pub fn body(text: &str, base64: bool, content_type: Option<&str>) -> ShownBody {
    if base64 {
        return ShownBody {
            kind: "binary",
            text: text.to_owned(),
        };
    }
    if text.is_empty() {
        return ShownBody {
            kind: "empty",
            text: String::new(),
        };
    }
    let media = content_type
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let trimmed = text.trim_start();
    let looks_json =
        media.ends_with("json") || (media.is_empty() && trimmed.starts_with(['{', '[']));
    let looks_xml = media.ends_with("xml") || (!looks_json && trimmed.starts_with('<'));
    if looks_json && let Some(pretty) = pretty_json(text) {
        return ShownBody {
            kind: "json",
            text: pretty,
        };
    }
    if looks_xml && let Some(pretty) = pretty_xml(text) {
        return ShownBody {
            kind: "xml",
            text: pretty,
        };
    }
    ShownBody {
        kind: "text",
        text: text.to_owned(),
    }
}

/// A value as indented JSON, as the editors show it.
pub(crate) fn pretty(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

fn pretty_json(text: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    serde_json::to_string_pretty(&value).ok()
}

/// XML indented two spaces per level; elements holding only text stay on one line. Parsed
/// behind the engine's guard (no document types, bounded size and depth), as request bodies
/// are hostile.
fn pretty_xml(text: &str) -> Option<String> {
    lyrebird_engine::xml::guard(text).ok()?;
    let package = sxd_document::parser::parse(text).ok()?;
    let document = package.as_document();
    let mut out = String::new();
    for child in document.root().children() {
        if let sxd_document::dom::ChildOfRoot::Element(element) = child {
            write_element(&mut out, element, &[], 0);
        }
    }
    Some(out.trim_end().to_owned())
}

/// Writes `element` and its children; `outer` are the namespace prefixes declared around it,
/// so that each declaration is written once, where it was made.
fn write_element(out: &mut String, element: Element<'_>, outer: &[(String, String)], depth: usize) {
    let indent = "  ".repeat(depth);
    let name = qualified(element.preferred_prefix(), element.name().local_part());
    let _ = write!(out, "{indent}<{name}");
    if let Some(uri) = element.default_namespace_uri() {
        let _ = write!(out, " xmlns=\"{}\"", escape(uri));
    }
    let scope: Vec<(String, String)> = element
        .namespaces_in_scope()
        .into_iter()
        .map(|namespace| (namespace.prefix().to_owned(), namespace.uri().to_owned()))
        .filter(|(prefix, _)| prefix != "xml")
        .collect();
    for (prefix, uri) in scope.iter().filter(|declared| !outer.contains(declared)) {
        let _ = write!(out, " xmlns:{prefix}=\"{}\"", escape(uri));
    }
    for attribute in element.attributes() {
        let name = qualified(attribute.preferred_prefix(), attribute.name().local_part());
        let _ = write!(out, " {name}=\"{}\"", escape(attribute.value()));
    }
    // The parser splits text at entity references; adjacent pieces are joined again.
    let mut children: Vec<Child<'_>> = Vec::new();
    for child in element.children() {
        match child {
            ChildOfElement::Text(text) => match children.last_mut() {
                Some(Child::Text(joined)) => joined.push_str(text.text()),
                _ => children.push(Child::Text(text.text().to_owned())),
            },
            ChildOfElement::Element(element) => children.push(Child::Element(element)),
            _ => {}
        }
    }
    children.retain(|child| !matches!(child, Child::Text(text) if text.trim().is_empty()));
    match children.as_slice() {
        [] => out.push_str("/>\n"),
        [Child::Text(text)] => {
            let _ = writeln!(out, ">{}</{name}>", escape(text.trim()));
        }
        _ => {
            out.push_str(">\n");
            for child in children {
                match child {
                    Child::Element(child) => write_element(out, child, &scope, depth + 1),
                    Child::Text(text) => {
                        let _ = writeln!(out, "{indent}  {}", escape(text.trim()));
                    }
                }
            }
            let _ = writeln!(out, "{indent}</{name}>");
        }
    }
}

/// What an element holds, as printed: elements, and runs of text.
enum Child<'d> {
    Element(Element<'d>),
    Text(String),
}

fn qualified(prefix: Option<&str>, local: &str) -> String {
    match prefix {
        Some(prefix) if !prefix.is_empty() => format!("{prefix}:{local}"),
        _ => local.to_owned(),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_are_named_as_people_name_them() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(browser(firefox), "Firefox on Linux");
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 Edg/120.0";
        assert_eq!(browser(edge), "Edge on Windows");
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        assert_eq!(browser(iphone), "Safari on iPhone");
        assert_eq!(browser("my-script/1.0"), "my-script/1.0");
    }

    #[test]
    fn json_bodies_are_indented() {
        let shown = body(r#"{"id":1,"tags":["a"]}"#, false, Some("application/json"));
        assert_eq!(shown.kind, "json");
        assert_eq!(
            shown.text,
            "{\n  \"id\": 1,\n  \"tags\": [\n    \"a\"\n  ]\n}"
        );
    }

    #[test]
    fn xml_bodies_are_indented_with_text_elements_on_one_line() {
        let shown = body(
            r#"<?xml version="1.0"?><beer id="7"><name>Rodenbach &amp; co</name><empty/></beer>"#,
            false,
            Some("text/xml; charset=utf-8"),
        );
        assert_eq!(shown.kind, "xml");
        assert_eq!(
            shown.text,
            "<beer id=\"7\">\n  <name>Rodenbach &amp; co</name>\n  <empty/>\n</beer>"
        );
    }

    #[test]
    fn namespaces_survive_pretty_printing() {
        let shown = body(
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>1</s:Body></s:Envelope>"#,
            false,
            None,
        );
        assert_eq!(
            shown.text,
            "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\">\n  <s:Body>1</s:Body>\n</s:Envelope>"
        );
    }

    #[test]
    fn bodies_that_do_not_parse_are_shown_as_they_came() {
        let cut = r#"{"id": 1, "name": "Re"#;
        assert_eq!(body(cut, false, Some("application/json")).text, cut);
        assert_eq!(body(cut, false, Some("application/json")).kind, "text");
        let doctype = "<!DOCTYPE x [<!ENTITY a \"b\">]><x>&a;</x>";
        assert_eq!(body(doctype, false, Some("application/xml")).kind, "text");
        assert_eq!(body("", false, None).kind, "empty");
        assert_eq!(body("AAEC", true, Some("application/json")).kind, "binary");
    }

    #[test]
    fn numbers_and_times_read_the_same_on_every_page() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(latency(420), "0.4 ms");
        assert_eq!(latency(12_400), "12 ms");
        assert_eq!(latency(1_250_000), "1.25 s");
        let at = OffsetDateTime::from_unix_timestamp(1_764_547_200).unwrap();
        assert_eq!(time(at), "2025-12-01 00:00:00 UTC");
        assert_eq!(date(at), "1 December 2025");
        assert_eq!(month("2026-11"), "November 2026");
        assert_eq!(month("2026-13"), "2026-13");
        assert_eq!(sentence("use true or false"), "Use true or false.");
    }
}

//! XML for `xml` body conditions (docs/examples-format.md, "Body conditions") and the XPath
//! helpers of expressions and templates.
//!
//! Request bodies are hostile input, so every document goes through [`guard`] before a parser
//! sees it: document type declarations are refused outright (which rules out entity expansion,
//! "billion laughs" and external entities), and the size and nesting depth are capped. Parsing
//! itself is sxd-document's, whose DOM is then copied into the owned, thread-safe [`XmlDoc`] that
//! compiled mocks keep.

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;
use sxd_document::dom;

/// Larger documents are refused rather than parsed.
pub const MAX_XML_BYTES: usize = 4 * 1024 * 1024;
/// Deeper element nesting is refused; real documents stay far below it.
pub const MAX_XML_DEPTH: usize = 256;
/// Longer XPath expressions are refused.
pub const MAX_XPATH_LEN: usize = 1024;
/// XPath's parser is recursive; deeper bracket nesting is refused to keep the stack bounded.
const MAX_XPATH_NESTING: usize = 32;

/// A parsed document, reduced to what structural equality looks at: elements (by namespace and
/// local name), attributes and text. Comments and processing instructions are dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlDoc {
    root: Element,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Name {
    namespace: Option<String>,
    local: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Element {
    name: Name,
    /// In document order; compared as a set.
    attributes: Vec<(Name, String)>,
    children: Vec<Node>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Element(Element),
    /// Adjacent text and CDATA merged, leading and trailing white space trimmed; white space
    /// only text is dropped.
    Text(String),
}

/// Where two documents first differ: an XPath-like location (`/foo/bar[1]/@attr`) and what
/// differs there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct XmlDifference {
    pub location: String,
    pub message: String,
}

impl fmt::Display for XmlDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(namespace) => write!(f, "{{{namespace}}}{}", self.local),
            None => f.write_str(&self.local),
        }
    }
}

/// Parses a document after [`guard`] has accepted it.
pub fn parse(text: &str) -> Result<XmlDoc, String> {
    with_document(text, |document| {
        let root = document
            .root()
            .children()
            .into_iter()
            .find_map(|child| child.element())
            .ok_or_else(|| "the XML document has no root element".to_owned())?;
        Ok(XmlDoc {
            root: convert(root),
        })
    })
}

/// True when `text` is a well-formed XML document that [`parse`] accepts: the `is_xml(s)` helper
/// of expressions and the `is xml` test of templates.
pub fn is_xml(text: &str) -> bool {
    parse(text).is_ok()
}

/// Evaluates `expr` against the document and returns the XPath string value of the result (for a
/// node set, the text of its first node; an empty node set gives `""`).
pub fn xpath(doc_text: &str, expr: &str) -> Result<String, String> {
    guard_xpath(expr)?;
    with_document(doc_text, |document| {
        sxd_xpath::evaluate_xpath(document, expr)
            .map(|value| value.string())
            .map_err(|error| format!("XPath error: {error}"))
    })
}

/// Compares two documents as an `xml` body condition asks (docs/examples-format.md, "Body
/// conditions"): white space between elements is ignored; names, attribute values (white space
/// included), text and the order of child elements must all agree.
pub fn structurally_equal(expected: &XmlDoc, actual: &XmlDoc) -> Result<(), XmlDifference> {
    let location = format!("/{}", expected.root.name.local);
    if expected.root.name != actual.root.name {
        return Err(XmlDifference {
            location,
            message: format!(
                "expected root element <{}>, found <{}>",
                expected.root.name, actual.root.name
            ),
        });
    }
    compare_elements(&expected.root, &actual.root, &location)
}

fn compare_elements(
    expected: &Element,
    actual: &Element,
    location: &str,
) -> Result<(), XmlDifference> {
    let at_attribute = |name: &Name, message: String| XmlDifference {
        location: format!("{location}/@{}", name.local),
        message,
    };
    for (name, value) in &expected.attributes {
        match actual.attributes.iter().find(|(n, _)| n == name) {
            None => return Err(at_attribute(name, format!("attribute {name} is missing"))),
            Some((_, found)) if found != value => {
                return Err(at_attribute(
                    name,
                    format!("expected attribute value {value:?}, found {found:?}"),
                ));
            }
            Some(_) => {}
        }
    }
    if let Some((name, _)) = actual
        .attributes
        .iter()
        .find(|(name, _)| !expected.attributes.iter().any(|(n, _)| n == name))
    {
        return Err(at_attribute(name, format!("unexpected attribute {name}")));
    }

    let mut positions = Positions::default();
    for index in 0..expected.children.len().max(actual.children.len()) {
        let (want, found) = (expected.children.get(index), actual.children.get(index));
        let child_location = format!("{location}/{}", positions.step(want.or(found)));
        match (want, found) {
            (Some(Node::Element(want)), Some(Node::Element(found))) if want.name == found.name => {
                compare_elements(want, found, &child_location)?;
            }
            (Some(Node::Text(want)), Some(Node::Text(found))) if want == found => {}
            (Some(want), Some(found)) => {
                return Err(XmlDifference {
                    location: child_location,
                    message: format!("expected {}, found {}", describe(want), describe(found)),
                });
            }
            (Some(want), None) => {
                return Err(XmlDifference {
                    location: child_location,
                    message: format!("{} is missing", describe(want)),
                });
            }
            (None, Some(found)) => {
                return Err(XmlDifference {
                    location: child_location,
                    message: format!("unexpected {}", describe(found)),
                });
            }
            (None, None) => {}
        }
    }
    Ok(())
}

/// Counts XPath positions (`bar[2]`, `text()[1]`) of children as they are visited.
#[derive(Default)]
struct Positions<'a> {
    seen: HashMap<Option<&'a Name>, usize>,
}

impl<'a> Positions<'a> {
    fn step(&mut self, node: Option<&'a Node>) -> String {
        let key = match node {
            Some(Node::Element(element)) => Some(&element.name),
            _ => None,
        };
        let count = self.seen.entry(key).or_default();
        *count += 1;
        match key {
            Some(name) => format!("{}[{count}]", name.local),
            None => format!("text()[{count}]"),
        }
    }
}

fn describe(node: &Node) -> String {
    match node {
        Node::Element(element) => format!("element <{}>", element.name),
        Node::Text(text) => format!("text {text:?}"),
    }
}

fn with_document<T>(
    text: &str,
    then: impl FnOnce(&dom::Document<'_>) -> Result<T, String>,
) -> Result<T, String> {
    guard(text)?;
    let package = sxd_document::parser::parse(text).map_err(|error| {
        let (line, column) = line_and_column(text, error.location());
        let detail = error.to_string();
        let detail = detail.split_once(": ").map_or(detail.as_str(), |(_, d)| d);
        format!("not well-formed XML (line {line}, column {column}): {detail}")
    })?;
    then(&package.as_document())
}

fn line_and_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn convert(element: dom::Element<'_>) -> Element {
    let name = |q: sxd_document::QName<'_>| Name {
        namespace: q.namespace_uri().map(str::to_owned),
        local: q.local_part().to_owned(),
    };
    let mut children = Vec::new();
    let mut text = String::new();
    let flush = |text: &mut String, children: &mut Vec<Node>| {
        let trimmed = text.trim();
        if !trimmed.is_empty() {
            children.push(Node::Text(trimmed.to_owned()));
        }
        text.clear();
    };
    for child in element.children() {
        match child {
            dom::ChildOfElement::Text(t) => text.push_str(t.text()),
            dom::ChildOfElement::Element(e) => {
                flush(&mut text, &mut children);
                children.push(Node::Element(convert(e)));
            }
            dom::ChildOfElement::Comment(_) | dom::ChildOfElement::ProcessingInstruction(_) => {}
        }
    }
    flush(&mut text, &mut children);
    Element {
        name: name(element.name()),
        attributes: element
            .attributes()
            .into_iter()
            .map(|a| (name(a.name()), a.value().to_owned()))
            .collect(),
        children,
    }
}

/// Refuses what no parser should see: documents over [`MAX_XML_BYTES`], any `<!DOCTYPE` or other
/// markup declaration, and nesting deeper than [`MAX_XML_DEPTH`]. One linear pass, no allocation.
pub fn guard(text: &str) -> Result<(), String> {
    if text.len() > MAX_XML_BYTES {
        return Err(format!(
            "XML documents over {MAX_XML_BYTES} bytes are refused"
        ));
    }
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    let skip_past = |from: usize, end: &str| {
        text.get(from..)
            .and_then(|rest| rest.find(end))
            .map_or(bytes.len(), |at| from + at + end.len())
    };
    while let Some(offset) = bytes[i..].iter().position(|&b| b == b'<') {
        let start = i + offset;
        let rest = &bytes[start..];
        i = if rest.starts_with(b"<!--") {
            skip_past(start + 4, "-->")
        } else if rest.starts_with(b"<![CDATA[") {
            skip_past(start + 9, "]]>")
        } else if rest.starts_with(b"<!") {
            return Err(
                "DOCTYPE and other markup declarations are not allowed in XML documents".to_owned(),
            );
        } else if rest.starts_with(b"<?") {
            skip_past(start + 2, "?>")
        } else if rest.starts_with(b"</") {
            depth = depth.saturating_sub(1);
            skip_past(start + 2, ">")
        } else {
            let end = start_tag_end(bytes, start + 1);
            if bytes.get(end.wrapping_sub(2)) != Some(&b'/') {
                depth += 1;
                if depth > MAX_XML_DEPTH {
                    return Err(format!(
                        "XML nested deeper than {MAX_XML_DEPTH} elements is refused"
                    ));
                }
            }
            end
        };
    }
    Ok(())
}

/// The index just past the `>` that closes a start tag, skipping quoted attribute values.
fn start_tag_end(bytes: &[u8], mut i: usize) -> usize {
    let mut quote = None;
    while let Some(&b) = bytes.get(i) {
        i += 1;
        match (quote, b) {
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), _) if q == b => quote = None,
            (None, b'>') => return i,
            _ => {}
        }
    }
    i
}

/// Checks that `expr` is an XPath expression [`xpath`] accepts, without a document.
pub fn check_xpath(expr: &str) -> Result<(), String> {
    guard_xpath(expr)?;
    match sxd_xpath::Factory::new().build(expr) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err("the XPath expression is empty".to_owned()),
        Err(error) => Err(format!("XPath error: {error}")),
    }
}

fn guard_xpath(expr: &str) -> Result<(), String> {
    if expr.len() > MAX_XPATH_LEN {
        return Err(format!(
            "XPath expressions over {MAX_XPATH_LEN} bytes are refused"
        ));
    }
    let mut depth = 0usize;
    for b in expr.bytes() {
        match b {
            b'(' | b'[' => {
                depth += 1;
                if depth > MAX_XPATH_NESTING {
                    return Err(format!(
                        "XPath expressions nested deeper than {MAX_XPATH_NESTING} brackets are refused"
                    ));
                }
            }
            b')' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: &str = r#"<foo><bar attr="true">value</bar></foo>"#;

    fn difference(expected: &str, actual: &str) -> Option<XmlDifference> {
        let expected = parse(expected).expect("expected document parses");
        let actual = parse(actual).expect("actual document parses");
        structurally_equal(&expected, &actual).err()
    }

    #[test]
    fn white_space_between_elements_is_ignored() {
        let pretty = "<?xml version=\"1.0\"?>\n<foo>\n  <bar attr=\"true\">value</bar>\n</foo>\n";
        assert_eq!(difference(RULE, pretty), None);
    }

    #[test]
    fn attribute_values_must_be_equal_white_space_included() {
        let found = difference(RULE, r#"<foo><bar attr=" true ">value</bar></foo>"#).unwrap();
        assert_eq!(found.location, "/foo/bar[1]/@attr");
        assert!(found.message.contains("\" true \""), "{}", found.message);
    }

    #[test]
    fn missing_and_extra_attributes_fail() {
        let missing = difference(RULE, "<foo><bar>value</bar></foo>").unwrap();
        assert_eq!(missing.location, "/foo/bar[1]/@attr");
        assert!(missing.message.contains("missing"));
        let extra = difference(RULE, r#"<foo><bar attr="true" x="1">value</bar></foo>"#).unwrap();
        assert_eq!(extra.location, "/foo/bar[1]/@x");
        assert!(extra.message.contains("unexpected"));
    }

    #[test]
    fn missing_and_extra_elements_fail() {
        let missing = difference(RULE, "<foo/>").unwrap();
        assert_eq!(missing.location, "/foo/bar[1]");
        assert!(missing.message.contains("missing"));
        let extra = difference(RULE, r#"<foo><bar attr="true">value</bar><baz/></foo>"#).unwrap();
        assert_eq!(extra.location, "/foo/baz[1]");
        assert!(extra.message.contains("unexpected element <baz>"));
    }

    #[test]
    fn reordered_children_fail() {
        let expected = "<foo><a/><b/></foo>";
        let found = difference(expected, "<foo><b/><a/></foo>").unwrap();
        assert_eq!(found.location, "/foo/a[1]");
        assert_eq!(found.message, "expected element <a>, found element <b>");
        assert_eq!(difference(expected, expected), None);
    }

    #[test]
    fn text_differences_are_located() {
        let found = difference(RULE, r#"<foo><bar attr="true">other</bar></foo>"#).unwrap();
        assert_eq!(found.location, "/foo/bar[1]/text()[1]");
        assert_eq!(
            found.message,
            "expected text \"value\", found text \"other\""
        );
    }

    #[test]
    fn namespaces_compare_by_uri_not_prefix() {
        let a = r#"<a:foo xmlns:a="urn:x"><a:bar/></a:foo>"#;
        let b = r#"<b:foo xmlns:b="urn:x"><b:bar/></b:foo>"#;
        assert_eq!(difference(a, b), None);
        assert!(difference(a, r#"<a:foo xmlns:a="urn:y"><a:bar/></a:foo>"#).is_some());
    }

    #[test]
    fn doctype_is_refused_which_stops_billion_laughs() {
        let laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<lolz>&lol3;</lolz>"#;
        assert!(parse(laughs).unwrap_err().contains("DOCTYPE"));
        let external =
            r#"<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><foo>&xxe;</foo>"#;
        assert!(parse(external).unwrap_err().contains("DOCTYPE"));
        assert!(xpath(external, "/foo").unwrap_err().contains("DOCTYPE"));
    }

    #[test]
    fn undeclared_entities_are_errors_not_expansions() {
        assert!(parse("<foo>&xxe;</foo>").is_err());
        assert_eq!(xpath("<foo>&amp;&#65;</foo>", "/foo").unwrap(), "&A");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = format!("{}{}", "<a>".repeat(10_000), "</a>".repeat(10_000));
        assert!(parse(&deep).unwrap_err().contains("deeper"));
        let fine = format!("{}{}", "<a>".repeat(100), "</a>".repeat(100));
        assert!(parse(&fine).is_ok());
    }

    #[test]
    fn markup_inside_comments_cdata_and_attributes_does_not_count_as_nesting() {
        let text = r#"<a x="b>" y='/>'><!-- <!DOCTYPE x> <c> --><![CDATA[<d><e>]]></a>"#;
        assert!(guard(text).is_ok());
        assert_eq!(xpath(text, "string(/a)").unwrap(), "<d><e>");
    }

    #[test]
    fn oversized_documents_are_refused() {
        let big = format!("<a>{}</a>", "x".repeat(MAX_XML_BYTES));
        assert!(parse(&big).unwrap_err().contains("bytes"));
    }

    #[test]
    fn malformed_xml_reports_line_and_column() {
        let error = parse("<foo>\n  <bar></baz>\n</foo>").unwrap_err();
        assert!(error.contains("line 2"), "{error}");
        assert!(parse("not xml").is_err());
        assert!(!is_xml("{\"a\":1}"));
        assert!(is_xml(RULE));
    }

    #[test]
    fn xpath_returns_the_string_value() {
        assert_eq!(xpath(RULE, "//bar[@attr='true']/text()").unwrap(), "value");
        assert_eq!(xpath(RULE, "count(//bar)").unwrap(), "1");
        assert_eq!(xpath(RULE, "//missing").unwrap(), "");
        assert!(xpath(RULE, "//bar[").is_err());
        assert!(
            xpath(RULE, &"(".repeat(1000))
                .unwrap_err()
                .contains("nested")
        );
    }
}

//! The examples of docs/expressions.md and docs/templates.md are run, so the docs cannot rot.
//!
//! A ```http block sets the request for what follows (`METHOD /url`, header lines, a blank line,
//! the body). A ```rhai block is an expression and a ```jinja block a template; the ```text block
//! right after either is what it gives (`error: <part of the message>` for a failure). After a
//! template's ```text, a ```json block is its effects. A ```postman block is a Postman string,
//! translated and then rendered.

use std::collections::BTreeMap;
use std::path::Path;

use lyrebird_engine::expr::Expression;
use lyrebird_engine::render::{CompiledResponse, RenderContext, Rendered};
use lyrebird_engine::template::translate_postman_template;
use lyrebird_engine::{Request, ResponseSpec};
use regex::Regex;
use time::macros::datetime;

/// The fenced blocks of a Markdown file in docs/, with their info strings.
fn blocks(doc: &str) -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs")
        .join(doc);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut found = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            continue;
        };
        let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        found.push((info.trim().to_owned(), body.join("\n")));
    }
    found
}

fn parse_request(block: &str) -> Request {
    let (head, body) = block.split_once("\n\n").unwrap_or((block, ""));
    let mut lines = head.lines();
    let start = lines.next().expect("a request line");
    let (method, url) = start.split_once(' ').expect("METHOD /url");
    let headers: Vec<(&str, &str)> = lines
        .map(|l| {
            let (name, value) = l.split_once(':').expect("Name: value");
            (name.trim(), value.trim())
        })
        .collect();
    Request::from_url(method, url, &headers, body)
}

/// Runs `check` on each (kind, source, expected, effects) of `doc` with the request in force.
fn run(
    doc: &str,
    kinds: &[&str],
    mut check: impl FnMut(&str, &Request, &str, &str, Option<&str>),
) -> usize {
    let blocks = blocks(doc);
    let mut request = Request::from_url("GET", "/", &[], "");
    let mut checked = 0;
    for (i, (info, body)) in blocks.iter().enumerate() {
        if info == "http" {
            request = parse_request(body);
        } else if kinds.contains(&info.as_str()) {
            let (next_info, expected) = blocks.get(i + 1).expect("an expected block");
            assert_eq!(
                next_info, "text",
                "{doc}: the block after {body:?} must be ```text"
            );
            let effects = blocks
                .get(i + 2)
                .filter(|(info, _)| info == "json")
                .map(|(_, json)| json.as_str());
            check(info, &request, body, expected, effects);
            checked += 1;
        }
    }
    checked
}

fn assert_failure(doc: &str, source: &str, expected: &str, error: Option<String>) {
    let wanted = expected.strip_prefix("error: ").unwrap_or_else(|| {
        panic!("{doc}: {source:?} should give {expected:?}, but failed with {error:?}")
    });
    let error = error.unwrap_or_else(|| panic!("{doc}: {source:?} should fail with {wanted:?}"));
    assert!(
        error.contains(wanted),
        "{doc}: {source:?} failed with {error:?}, not {wanted:?}"
    );
}

#[test]
fn every_expression_of_the_expressions_guide_gives_what_it_claims() {
    let checked = run(
        "expressions.md",
        &["rhai"],
        |_, request, source, expected, _| {
            let result = Expression::compile(source)
                .map_err(|e| e.to_string())
                .and_then(|expression| expression.eval(request));
            match result {
                Ok(value) => assert_eq!(value.to_string(), expected, "expressions.md: {source:?}"),
                Err(error) => assert_failure("expressions.md", source, expected, Some(error)),
            }
        },
    );
    assert!(checked >= 12, "only {checked} expressions checked");
}

fn render(source: &str, request: &Request) -> Rendered {
    let spec = ResponseSpec {
        body: Some(serde_json::Value::String(source.to_owned())),
        template: true,
        ..ResponseSpec::default()
    };
    let response = CompiledResponse::compile(&spec).unwrap_or_else(|e| panic!("{source:?}: {e:?}"));
    let env = BTreeMap::from([
        ("region".to_owned(), "eu".to_owned()),
        ("api_key".to_owned(), "k-123".to_owned()),
    ]);
    response.render(
        &RenderContext {
            request,
            captures: &[("id".to_owned(), "42".to_owned())],
            env: &env,
            now: datetime!(2016-02-29 16:39:54 UTC),
            state: None,
        },
        &mut Vec::new(),
    )
}

#[test]
fn every_template_of_the_templates_guide_renders_what_it_claims() {
    let uuid = Regex::new("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}").unwrap();
    let checked = run(
        "templates.md",
        &["jinja", "postman"],
        |kind, request, source, expected, effects| {
            let template = match kind {
                "postman" => translate_postman_template(source),
                _ => source.to_owned(),
            };
            let rendered = render(&template, request);
            if expected.starts_with("error: ") {
                return assert_failure("templates.md", source, expected, rendered.error);
            }
            assert_eq!(rendered.error, None, "templates.md: {source:?}");
            let text = String::from_utf8(rendered.body).unwrap();
            assert_eq!(
                uuid.replace_all(&text, "<uuid>"),
                expected,
                "templates.md: {source:?}"
            );
            if let Some(effects) = effects {
                let claimed: serde_json::Value = serde_json::from_str(effects).unwrap();
                let actual = serde_json::json!({
                    "delay_ms": rendered.delay_ms,
                    "callbacks": rendered.callbacks,
                });
                assert_eq!(actual, claimed, "templates.md effects of {source:?}");
            }
        },
    );
    assert!(checked >= 12, "only {checked} templates checked");
}

//! The JSON in docs/examples-format.md, docs/matching.md and docs/state.md is run, so the docs
//! cannot rot: every ```json block of the format guide is a valid example, every ```json
//! scenario of the matching guide gives the answers it claims, every ```json selection reads as
//! a [`Selection`], and every call of the state guide gets the answer it shows.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use lyrebird_engine::{
    CompiledMock, Example, MatchSettings, Request, Selection, SelectionMode, example_json_schema,
    validate_example,
};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

/// The fenced blocks of a Markdown file with their info strings.
fn blocks(doc: &str) -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs")
        .join(doc);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut found = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(info) = line.trim_start().strip_prefix("```") else {
            continue;
        };
        let body: Vec<&str> = lines
            .by_ref()
            .take_while(|l| l.trim_start() != "```")
            .collect();
        found.push((info.trim().to_owned(), body.join("\n")));
    }
    found
}

#[test]
fn every_json_block_of_the_format_guide_is_a_valid_example() {
    let examples: Vec<String> = blocks("examples-format.md")
        .into_iter()
        .filter(|(info, _)| info == "json")
        .map(|(_, body)| body)
        .collect();
    assert!(
        examples.len() >= 8,
        "only {} examples found",
        examples.len()
    );
    for body in examples {
        let example: Example =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e} in\n{body}"));
        assert_eq!(
            validate_example(&example, &BTreeMap::new()),
            Ok(()),
            "in\n{body}"
        );
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    mode: SelectionMode,
    #[serde(default)]
    settings: BTreeMap<String, Value>,
    examples: Vec<ScenarioExample>,
    requests: Vec<ScenarioRequest>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioExample {
    name: String,
    #[serde(default)]
    priority: Option<i32>,
    #[serde(default)]
    status: Option<u16>,
    request: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioRequest {
    method: String,
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: String,
    expect: Option<String>,
}

fn run(scenario: Scenario, source: &str) {
    let mut settings = serde_json::to_value(MatchSettings {
        selection: scenario.mode,
        ..MatchSettings::default()
    })
    .expect("settings serialise");
    for (key, value) in scenario.settings {
        settings[key] = value;
    }
    let settings: MatchSettings = serde_json::from_value(settings).expect("valid settings");
    let examples = scenario
        .examples
        .into_iter()
        .enumerate()
        .map(|(position, example)| {
            let example: Example = serde_json::from_value(serde_json::json!({
                "name": example.name,
                "priority": example.priority,
                "request": example.request,
                "response": {"status": example.status.unwrap_or(200)}
            }))
            .unwrap_or_else(|e| panic!("{e} in\n{source}"));
            (Uuid::from_u128(position as u128 + 1), example)
        })
        .collect();
    let mock = CompiledMock::compile(examples, settings, BTreeMap::new())
        .unwrap_or_else(|e| panic!("{e:?} in\n{source}"));
    for request in scenario.requests {
        let headers: Vec<(&str, &str)> = request
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let incoming = Request::from_url(&request.method, &request.url, &headers, request.body);
        let got = mock.select(&incoming).matched().map(|m| m.name.clone());
        assert_eq!(
            got, request.expect,
            "{} {} in\n{source}",
            request.method, request.url
        );
    }
}

#[test]
fn every_scenario_of_the_matching_guide_gives_the_answers_it_claims() {
    let scenarios: Vec<String> = blocks("matching.md")
        .into_iter()
        .filter(|(info, _)| info == "json scenario")
        .map(|(_, body)| body)
        .collect();
    assert!(
        scenarios.len() >= 5,
        "only {} scenarios found",
        scenarios.len()
    );
    for body in scenarios {
        let scenario: Scenario =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e} in\n{body}"));
        run(scenario, &body);
    }
}

#[test]
fn every_selection_shown_in_the_matching_guide_reads_back() {
    let selections: Vec<String> = blocks("matching.md")
        .into_iter()
        .filter(|(info, _)| info == "json selection")
        .map(|(_, body)| body)
        .collect();
    assert!(selections.len() >= 3);
    for body in selections {
        let selection: Selection =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e} in\n{body}"));
        let written: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(
            serde_json::to_value(&selection).expect("serialises"),
            written,
            "the guide shows a field the engine does not write, in\n{body}"
        );
    }
}

#[test]
fn the_json_schema_describes_the_example_format() {
    let schema = example_json_schema();
    assert_eq!(schema["title"], "Example");
    assert!(
        schema["$schema"]
            .as_str()
            .is_some_and(|s| s.contains("json-schema.org"))
    );
    assert_eq!(schema["required"], serde_json::json!(["name"]));
    let definitions = schema["$defs"].as_object().expect("definitions");
    for name in ["RequestPattern", "BodyMatch", "ValueMatch", "ResponseSpec"] {
        assert!(definitions.contains_key(name), "{name} missing");
    }
    let body = serde_json::to_string(&definitions["BodyMatch"]).expect("json");
    for kind in ["\"text\"", "\"json\"", "\"xml\"", "\"form\"", "\"any\""] {
        assert!(body.contains(kind), "{kind} missing from {body}");
    }
}

/// One line of a `calls` block of docs/state.md: `METHOD /path [JSON body] → status [body]`.
fn state_call(line: &str) -> (String, String, String, u16, Option<String>) {
    let (request, answer) = line
        .split_once(" → ")
        .unwrap_or_else(|| panic!("no → in {line:?}"));
    let mut request = request.splitn(3, ' ');
    let method = request.next().unwrap_or_default().to_owned();
    let url = request.next().unwrap_or_default().to_owned();
    let body = request.next().unwrap_or_default().to_owned();
    let (status, expected) = match answer.split_once(' ') {
        Some((status, body)) => (status, Some(body.to_owned())),
        None => (answer, None),
    };
    let status = status
        .parse()
        .unwrap_or_else(|_| panic!("no status in {line:?}"));
    (method, url, body, status, expected)
}

#[test]
fn every_call_of_the_state_guide_gets_the_answer_it_shows() {
    let blocks = blocks("state.md");
    let mut mocks = 0;
    for (at, (info, body)) in blocks.iter().enumerate() {
        if info != "json mock" {
            continue;
        }
        mocks += 1;
        let document: Value =
            serde_json::from_str(body).unwrap_or_else(|e| panic!("{e} in\n{body}"));
        let mut client = support::Client::new(support::mock(
            document["settings"].clone(),
            document["examples"].clone(),
        ));
        let (next_info, calls) = &blocks[at + 1];
        assert_eq!(
            next_info, "text calls",
            "a mock block is followed by its calls"
        );
        for line in calls.lines() {
            let (method, url, request_body, status, expected) = state_call(line);
            let (got, answer) = client.json(&method, &url, &request_body);
            assert_eq!(got, status, "{line}: {answer}");
            if let Some(expected) = expected {
                let expected: Value = serde_json::from_str(&expected)
                    .unwrap_or_else(|e| panic!("{e} in the expected body of {line}"));
                assert_eq!(answer, expected, "{line}");
            }
        }
    }
    assert!(mocks >= 4, "only {mocks} mocks in docs/state.md");
}

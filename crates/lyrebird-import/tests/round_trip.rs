//! Export then import: a Postman collection written by the exporter reads back into the same
//! examples, environment and settings; the native document reads back exactly.

mod common;

use std::collections::BTreeMap;

use lyrebird_engine::{
    BodyMatch, Example, Header, JsonMode, MatchSettings, PathMatch, RequestPattern, ResponseSpec,
    ValueMatch, ValueRule,
};
use lyrebird_import::{NativeMock, export_native, export_postman, import_native};
use serde_json::json;

#[test]
fn every_imported_postman_corpus_file_exports_and_reads_back_unchanged() {
    for (name, bytes) in common::corpus_files("postman") {
        let imported = lyrebird_import::postman::import(&bytes, None).expect("imports");
        let export = export_postman(&imported.name, &imported.examples, &imported.environment);
        assert!(export.warnings.is_empty(), "{name}: {:?}", export.warnings);
        let text = serde_json::to_vec(&export.collection).expect("serialises");
        let again = lyrebird_import::postman::import(&text, None).expect("reads back");
        assert_eq!(again.examples.len(), imported.examples.len(), "{name}");
        for (before, after) in imported.examples.iter().zip(&again.examples) {
            assert_eq!(before, after, "{name}");
        }
        assert_eq!(again.environment, imported.environment, "{name}");
        assert_eq!(again.settings, imported.settings, "{name}");
        assert_eq!(again.name, imported.name, "{name}");
    }
}

#[test]
fn every_imported_corpus_file_round_trips_exactly_through_the_native_format() {
    let files = common::corpus_files("postman")
        .into_iter()
        .map(|(name, bytes)| (name, lyrebird_import::postman::import(&bytes, None)))
        .chain(
            common::corpus_files("openapi")
                .into_iter()
                .map(|(name, bytes)| (name, lyrebird_import::openapi::import(&bytes))),
        );
    for (name, imported) in files {
        let imported = imported.expect("imports");
        let native = NativeMock::new(
            imported.name.clone(),
            imported.settings.clone(),
            imported.environment.clone(),
            imported.examples.clone(),
        );
        let again = import_native(export_native(&native).as_bytes()).expect("reads back");
        assert_eq!(again.examples, imported.examples, "{name}");
        assert_eq!(again.settings, imported.settings, "{name}");
        assert_eq!(again.environment, imported.environment, "{name}");
    }
}

fn example(name: &str, request: RequestPattern, response: ResponseSpec) -> Example {
    Example {
        name: name.to_owned(),
        request,
        response,
        ..Example::default()
    }
}

#[test]
fn postman_export_keeps_what_postman_can_express() {
    let examples = vec![
        example(
            "created",
            RequestPattern {
                method: Some("POST".to_owned()),
                path: "/users/:id/{{tenant}}/".to_owned(),
                query: BTreeMap::from([
                    ("q".to_owned(), ValueMatch::Equals("a b&c+d=50%".to_owned())),
                    (
                        "page".to_owned(),
                        ValueMatch::Rule(ValueRule::Present(true)),
                    ),
                ]),
                headers: BTreeMap::from([("X-Key".to_owned(), ValueMatch::Equals("k".to_owned()))]),
                body: BodyMatch::Json {
                    value: json!({"name": "Jo", "tags": [1, 2]}),
                    mode: JsonMode::Equals,
                },
                ..RequestPattern::default()
            },
            ResponseSpec {
                status: 201,
                headers: vec![Header {
                    name: "Content-Type".to_owned(),
                    value: "application/json".to_owned(),
                }],
                body: Some(json!("{\"id\": 1}")),
                ..ResponseSpec::default()
            },
        ),
        example(
            "form",
            RequestPattern {
                method: Some("GET".to_owned()),
                path: "/search".to_owned(),
                body: BodyMatch::Form {
                    params: BTreeMap::from([("f".to_owned(), ValueMatch::Equals("1".to_owned()))]),
                },
                ..RequestPattern::default()
            },
            ResponseSpec {
                status: 204,
                ..ResponseSpec::default()
            },
        ),
    ];
    let environment = BTreeMap::from([("tenant".to_owned(), "acme".to_owned())]);
    let export = export_postman("Users", &examples, &environment);
    assert!(export.warnings.is_empty(), "{:?}", export.warnings);
    let text = serde_json::to_vec(&export.collection).expect("serialises");
    let again = lyrebird_import::postman::import(&text, None).expect("reads back");
    assert_eq!(again.examples, examples);
    assert_eq!(again.environment, environment);
    assert_eq!(
        export.collection["info"]["schema"],
        "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
    );
}

#[test]
fn postman_export_warns_about_each_thing_it_cannot_carry() {
    let examples = vec![example(
        "fancy",
        RequestPattern {
            method: None,
            path: "/files/*".to_owned(),
            path_match: PathMatch::Prefix,
            query: BTreeMap::from([(
                "id".to_owned(),
                ValueMatch::Rule(ValueRule::Matches("^\\d+$".to_owned())),
            )]),
            expression: Some("true".to_owned()),
            body: BodyMatch::Any {},
            ..RequestPattern::default()
        },
        ResponseSpec {
            body: Some(json!("{{ uuid() }}")),
            template: true,
            delay_ms: 10,
            ..ResponseSpec::default()
        },
    )];
    let export = export_postman("Fancy", &examples, &BTreeMap::new());
    let warnings: Vec<String> = export.warnings.iter().map(ToString::to_string).collect();
    for expected in [
        "any method",
        "prefix path matching",
        "expression",
        "delay",
        "template",
        "`id`",
        "any body",
    ] {
        assert!(
            warnings.iter().any(|w| w.contains(expected)),
            "no warning about {expected}: {warnings:#?}"
        );
    }
    assert!(
        warnings
            .iter()
            .all(|w| w.starts_with("GET /files/* / fancy: ")),
        "{warnings:#?}"
    );
}

#[test]
fn a_json_response_value_exports_as_pretty_json_text_with_its_content_type() {
    let examples = vec![example(
        "value",
        RequestPattern::default(),
        ResponseSpec {
            body: Some(json!({"a": 1})),
            ..ResponseSpec::default()
        },
    )];
    let export = export_postman("V", &examples, &BTreeMap::new());
    let response = &export.collection["item"][0]["response"][0];
    assert_eq!(response["body"], "{\n  \"a\": 1\n}");
    assert_eq!(response["header"][0]["value"], "application/json");
    let again =
        lyrebird_import::postman::import(&serde_json::to_vec(&export.collection).unwrap(), None)
            .expect("reads back");
    let body = again.examples[0]
        .response
        .body
        .as_ref()
        .and_then(|b| b.as_str())
        .expect("text");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(body).unwrap(),
        json!({"a": 1})
    );
    assert_eq!(
        again.settings,
        MatchSettings {
            selection: lyrebird_engine::SelectionMode::Postman,
            ..MatchSettings::default()
        }
    );
}

//! The native format: a mock as one JSON document in the engine's own example format, so export
//! then import gives back exactly the same mock. It is also a handy way to keep mocks in git.

use std::collections::BTreeMap;

use lyrebird_engine::{Example, MatchSettings};
use serde::{Deserialize, Serialize};

use crate::document::{classify, parse};
use crate::{Counts, ImportError, ImportedMock, Kind};

/// The version this build writes and reads.
pub const NATIVE_VERSION: u32 = 1;

/// `{ "lyrebird": 1, "name", "settings", "environment", "examples": [...] }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeMock {
    pub lyrebird: u32,
    pub name: String,
    #[serde(default)]
    pub settings: MatchSettings,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub examples: Vec<Example>,
}

impl NativeMock {
    pub fn new(
        name: impl Into<String>,
        settings: MatchSettings,
        environment: BTreeMap<String, String>,
        examples: Vec<Example>,
    ) -> Self {
        Self {
            lyrebird: NATIVE_VERSION,
            name: name.into(),
            settings,
            environment,
            examples,
        }
    }
}

/// The native document, pretty-printed.
pub fn export_native(mock: &NativeMock) -> String {
    serde_json::to_string_pretty(mock).unwrap_or_default()
}

/// Reads a native document (JSON, or YAML for hand-written ones).
pub fn import_native(bytes: &[u8]) -> Result<ImportedMock, ImportError> {
    let document = parse(bytes)?;
    let found = classify(&document);
    if found != Kind::Native {
        return Err(ImportError::WrongKind {
            expected: Kind::Native,
            found,
        });
    }
    let version = document["lyrebird"].as_u64();
    if version != Some(u64::from(NATIVE_VERSION)) {
        return Err(ImportError::UnsupportedVersion {
            kind: Kind::Native,
            version: document["lyrebird"].to_string(),
            supported: "1",
        });
    }
    let mock: NativeMock = serde_json::from_value(document)
        .map_err(|error| ImportError::invalid("the Lyrebird document", error.to_string()))?;
    lyrebird_engine::check_environment(&mock.environment)
        .map_err(|message| ImportError::invalid("environment", message))?;
    let mut errors = lyrebird_engine::state::check_collections(&mock.settings.collections)
        .err()
        .unwrap_or_default();
    errors.extend(lyrebird_engine::faults::check_settings(&mock.settings));
    if !errors.is_empty() {
        let reasons: Vec<String> = errors.iter().map(ToString::to_string).collect();
        return Err(ImportError::invalid("settings", reasons.join("; ")));
    }
    let requests = mock.examples.len();
    let mut warnings = Vec::new();
    let examples: Vec<Example> = mock
        .examples
        .into_iter()
        .enumerate()
        .filter_map(|(index, example)| {
            let location = [format!("examples[{index}]"), example.name.clone()];
            crate::accepted(example, &location, &mock.environment, &mut warnings)
        })
        .collect();
    let counts = Counts {
        requests,
        examples: examples.len(),
        ..Counts::default()
    };
    Ok(ImportedMock {
        name: mock.name,
        examples,
        environment: mock.environment,
        settings: mock.settings,
        warnings,
        counts,
    })
}

#[cfg(test)]
mod tests {
    use lyrebird_engine::{
        BodyMatch, Chaos, ClientBy, CollectionSpec, Fault, JsonMode, Latency, RateLimit,
        RequestPattern, Resource, ResponseSpec, ScenarioStep, SelectionMode, Sequence,
        SequencePolicy, Upstream,
    };
    use serde_json::json;

    use super::*;

    fn sample() -> NativeMock {
        let example = Example {
            name: "created".to_owned(),
            priority: Some(3),
            request: RequestPattern {
                method: Some("POST".to_owned()),
                path: "/users/:id".to_owned(),
                body: BodyMatch::Json {
                    value: json!({"b": [1, 2], "a": null}),
                    mode: JsonMode::Contains,
                },
                expression: Some("method == \"POST\"".to_owned()),
                ..RequestPattern::default()
            },
            response: ResponseSpec {
                status: 201,
                body: Some(json!("{{ uuid() }}")),
                template: true,
                delay_ms: 20,
                ..ResponseSpec::default()
            },
            scenario: Some(ScenarioStep {
                name: "signup".to_owned(),
                requires: Some("started".to_owned()),
                then: Some("created".to_owned()),
            }),
            ..Example::default()
        };
        let flaky = Example {
            name: "flaky".to_owned(),
            sequence: Some(Sequence {
                policy: SequencePolicy::Weighted,
                seed: Some(7),
                responses: vec![
                    ResponseSpec {
                        status: 503,
                        weight: Some(1),
                        ..ResponseSpec::default()
                    },
                    ResponseSpec {
                        weight: Some(9),
                        ..ResponseSpec::default()
                    },
                ],
            }),
            ..Example::default()
        };
        let todos = Example {
            name: "todos".to_owned(),
            request: RequestPattern {
                path: "/todos".to_owned(),
                ..RequestPattern::default()
            },
            resource: Some(Resource {
                collection: "todos".to_owned(),
            }),
            ..Example::default()
        };
        let collection = CollectionSpec {
            id_field: "key".to_owned(),
            ids: None,
            seed: vec![json!({"key": "a", "title": "milk"})],
        };
        NativeMock::new(
            "Users",
            MatchSettings {
                selection: SelectionMode::Postman,
                fuzzy_paths: false,
                match_headers: vec!["x-tenant".to_owned()],
                match_body: true,
                collections: BTreeMap::from([("todos".to_owned(), collection)]),
                latency: Some(Latency::Lognormal {
                    median_ms: 80,
                    sigma: 0.5,
                }),
                chaos: Some(Chaos {
                    percent: 5.0,
                    faults: vec![Fault::Reset {}],
                    seed: Some(7),
                    paths: Vec::new(),
                }),
                rate_limit: Some(RateLimit {
                    limit: 10,
                    window_s: 60,
                    by: ClientBy::Header,
                    header: Some("x-client".to_owned()),
                }),
                upstream: Some(Upstream {
                    url: "https://api.example.com/v2".to_owned(),
                    pass_through: false,
                    timeout_ms: Some(5_000),
                }),
            },
            BTreeMap::from([("region".to_owned(), "eu".to_owned())]),
            vec![example, flaky, todos],
        )
    }

    #[test]
    fn native_export_then_import_is_exact() {
        let mock = sample();
        let imported = import_native(export_native(&mock).as_bytes()).expect("imports");
        assert_eq!(imported.name, mock.name);
        assert_eq!(imported.settings, mock.settings);
        assert_eq!(imported.environment, mock.environment);
        assert_eq!(imported.warnings, []);
        assert_eq!(imported.examples, mock.examples);
    }

    #[test]
    fn a_collection_whose_seed_does_not_check_is_refused() {
        let error = import_native(
            br#"{"lyrebird": 1, "name": "x", "examples": [], "settings": {"collections": {"t": {"seed": [{"no": "id"}]}}}}"#,
        )
        .expect_err("refused");
        assert!(
            error.to_string().contains("collections.t.seed[0]"),
            "{error}"
        );
    }

    #[test]
    fn another_native_version_is_refused() {
        let error =
            import_native(br#"{"lyrebird": 2, "name": "x", "examples": []}"#).expect_err("refused");
        assert!(error.to_string().contains("version 2"), "{error}");
    }

    #[test]
    fn a_misspelt_field_is_named_in_the_error() {
        let error = import_native(br#"{"lyrebird": 1, "name": "x", "examples": [{"nme": "a"}]}"#)
            .expect_err("refused");
        assert!(error.to_string().contains("nme"), "{error}");
    }
}

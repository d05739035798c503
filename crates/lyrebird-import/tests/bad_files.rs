//! Files that cannot be imported get a clear, typed error and never a panic; `detect` tells an
//! upload page which importer a file is for.

mod common;

use lyrebird_import::{ImportError, Kind, detect};

fn collection(body: &str) -> Vec<u8> {
    format!(
        r#"{{"info": {{"name": "c", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"}}, "item": {body}}}"#
    )
    .into_bytes()
}

#[test]
fn a_file_that_is_neither_json_nor_yaml_is_refused_as_such() {
    for bytes in [
        &b"\x89PNG\r\n\x1a\n\0\0"[..],
        b"{ \"info\": ",
        b"key: [unclosed",
        b"",
    ] {
        for error in [
            lyrebird_import::postman::import(bytes, None).expect_err("refused"),
            lyrebird_import::openapi::import(bytes).expect_err("refused"),
            lyrebird_import::har::import(bytes).expect_err("refused"),
        ] {
            assert!(
                matches!(error, ImportError::NotJsonOrYaml { .. }),
                "{error}"
            );
        }
    }
}

#[test]
fn an_openapi_file_given_to_the_postman_importer_is_the_wrong_kind() {
    let (_, openapi) = &common::corpus_files("openapi")[0];
    let error = lyrebird_import::postman::import(openapi, None).expect_err("refused");
    assert_eq!(
        error,
        ImportError::WrongKind {
            expected: Kind::PostmanCollection,
            found: Kind::OpenApi
        }
    );
    assert_eq!(
        error.to_string(),
        "expected a Postman collection, but the file looks like an OpenAPI description"
    );
}

#[test]
fn a_postman_collection_given_to_the_openapi_and_har_importers_is_the_wrong_kind() {
    let (_, postman) = &common::corpus_files("postman")[0];
    for error in [
        lyrebird_import::openapi::import(postman).expect_err("refused"),
        lyrebird_import::har::import(postman).expect_err("refused"),
        lyrebird_import::import_native(postman).expect_err("refused"),
    ] {
        assert!(
            matches!(
                error,
                ImportError::WrongKind {
                    found: Kind::PostmanCollection,
                    ..
                }
            ),
            "{error}"
        );
    }
}

#[test]
fn an_environment_in_place_of_a_collection_and_the_reverse_are_refused() {
    let environment =
        br#"{"name": "dev", "values": [{"key": "a", "value": "1", "enabled": true}]}"#;
    let error = lyrebird_import::postman::import(environment, None).expect_err("refused");
    assert!(matches!(
        error,
        ImportError::WrongKind {
            found: Kind::PostmanEnvironment,
            ..
        }
    ));
    let error = lyrebird_import::postman::import(&collection("[]"), Some(&collection("[]")))
        .expect_err("refused");
    assert!(matches!(
        error,
        ImportError::WrongKind {
            expected: Kind::PostmanEnvironment,
            ..
        }
    ));
}

#[test]
fn unknown_schema_versions_are_refused_with_the_supported_ones() {
    let v3 = br#"{"info": {"name": "c", "schema": "https://schema.getpostman.com/json/collection/v3.0.0/collection.json"}, "item": []}"#;
    let error = lyrebird_import::postman::import(v3, None).expect_err("refused");
    assert_eq!(
        error.to_string(),
        "a Postman collection version 3.0.0 is not supported (supported: 2.0.0, 2.1.0)"
    );
    let v1 = br#"{"id": "x", "name": "old", "order": [], "requests": []}"#;
    let error = lyrebird_import::postman::import(v1, None).expect_err("refused");
    assert!(
        matches!(error, ImportError::UnsupportedVersion { ref version, .. } if version == "1.0"),
        "{error}"
    );
    let openapi = b"openapi: 4.0.0\npaths: {}\n";
    let error = lyrebird_import::openapi::import(openapi).expect_err("refused");
    assert!(error.to_string().contains("4.0.0"), "{error}");
    let swagger = br#"{"swagger": "1.2", "paths": {}}"#;
    assert!(matches!(
        lyrebird_import::openapi::import(swagger).expect_err("refused"),
        ImportError::UnsupportedVersion {
            kind: Kind::Swagger,
            ..
        }
    ));
}

#[test]
fn folders_nested_past_the_limit_are_refused_with_where() {
    let depth = lyrebird_import::postman::MAX_FOLDER_DEPTH + 1;
    let mut items = String::from("[]");
    for level in (0..depth).rev() {
        items = format!(r#"[{{"name": "f{level}", "item": {items}}}]"#);
    }
    let error = lyrebird_import::postman::import(&collection(&items), None).expect_err("refused");
    let ImportError::TooDeep { limit, at } = &error else {
        panic!("{error}");
    };
    assert_eq!(*limit, lyrebird_import::postman::MAX_FOLDER_DEPTH);
    assert!(at.starts_with("f0 / f1 / f2"), "{at}");
}

#[test]
fn nesting_beyond_what_the_parser_follows_is_an_error_not_a_crash() {
    let mut items = String::from("[]");
    for _ in 0..10_000 {
        items = format!(r#"[{{"item": {items}}}]"#);
    }
    let error = lyrebird_import::postman::import(&collection(&items), None).expect_err("refused");
    assert!(
        matches!(error, ImportError::NotJsonOrYaml { .. }),
        "{error}"
    );
}

#[test]
fn a_large_collection_imports_without_trouble() {
    let item = r#"{"name": "r", "request": {"method": "GET", "url": "{{b}}/a/:id"},
        "response": [{"name": "ok", "code": 200, "body": "{\"a\": 1}",
                      "originalRequest": {"method": "GET", "url": "{{b}}/a/:id"}}]}"#;
    let items = format!("[{}]", vec![item; 20_000].join(","));
    let mock = lyrebird_import::postman::import(&collection(&items), None).expect("imports");
    assert_eq!(mock.counts.examples, 20_000);
}

#[test]
fn structural_problems_name_where_they_are() {
    let error = lyrebird_import::postman::import(&collection("{}"), None).expect_err("refused");
    assert_eq!(
        error.to_string(),
        "item: the collection's items must be a list"
    );
    let error = lyrebird_import::openapi::import(b"openapi: 3.0.0\ninfo: {title: t}\n")
        .expect_err("refused");
    assert_eq!(
        error.to_string(),
        "paths: the description has no `paths` object"
    );
}

#[test]
fn odd_parts_become_warnings_and_the_rest_imports() {
    let items = r#"[
        {"name": "lost"},
        {"name": "no status", "request": {"url": "/x"},
         "response": [{"name": "saved", "originalRequest": {"url": "/x"}}]},
        {"name": "no original", "request": {"url": "/y", "method": "POST",
            "body": {"mode": "formdata", "formdata": [{"key": "f", "value": "1"}]}},
         "response": [{"name": "kept", "code": 201}]}
    ]"#;
    let mock = lyrebird_import::postman::import(&collection(items), None).expect("imports");
    assert_eq!(mock.examples.len(), 2);
    assert_eq!(mock.examples[0].response.status, 200);
    let warnings: Vec<String> = mock.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "lost: neither a folder nor a request; skipped",
            "no status / saved: the example has no status code; 200 is used",
            "no original / kept: the example has no original request; the request's own is used",
            "no original / kept: multipart form-data request body is not compared; the example matches any body",
        ]
    );
}

#[test]
fn an_openapi_example_given_only_by_url_is_a_warning() {
    let description = br#"
openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /a:
    get:
      responses:
        "200":
          content:
            application/json:
              examples:
                remote: {externalValue: "https://example.com/a.json"}
                local: {value: {a: 1}}
                broken: {$ref: "other.yaml#/x"}
"#;
    let mock = lyrebird_import::openapi::import(description).expect("imports");
    assert_eq!(mock.examples.len(), 1);
    assert_eq!(mock.examples[0].name, "local");
    let warnings: Vec<String> = mock.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("GET /a / 200 / remote: the example is only given by URL"))
    );
    assert!(warnings.iter().any(|w| w.contains("another file")));
}

#[test]
fn a_response_code_that_is_not_ascii_is_a_warning() {
    let description = r#"
openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /a:
    get:
      responses:
        "éx": {description: odd}
        "2ñ": {description: odd}
        "200": {description: ok}
"#;
    let mock = lyrebird_import::openapi::import(description.as_bytes()).expect("imports");
    assert_eq!(mock.examples.len(), 1);
    let warnings: Vec<String> = mock.warnings.iter().map(ToString::to_string).collect();
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("`éx` is not a status code")),
        "{warnings:?}"
    );
}

#[test]
fn detect_tells_each_kind_of_file_apart() {
    for (name, bytes) in common::corpus_files("postman") {
        assert_eq!(detect(&bytes), Kind::PostmanCollection, "{name}");
    }
    for (name, bytes) in common::corpus_files("openapi") {
        let expected = if name.starts_with("moby") {
            Kind::Swagger
        } else {
            Kind::OpenApi
        };
        assert_eq!(detect(&bytes), expected, "{name}");
    }
    assert_eq!(
        detect(br#"{"log": {"version": "1.2", "entries": []}}"#),
        Kind::Har
    );
    assert_eq!(
        detect(br#"{"name": "e", "values": []}"#),
        Kind::PostmanEnvironment
    );
    assert_eq!(
        detect(br#"{"lyrebird": 1, "name": "n", "examples": []}"#),
        Kind::Native
    );
    assert_eq!(detect(b"hello: world"), Kind::Unknown);
    assert_eq!(detect(b"\x00\x01"), Kind::Unknown);
}

#[test]
fn an_environment_file_wins_over_collection_variables() {
    let bytes = br#"{"info": {"name": "c"}, "variable": [{"key": "host", "value": "https://a/v1"}, {"key": "x", "value": "1"}],
        "item": [{"name": "r", "request": {"url": "https://b/v2/things"},
          "response": [{"name": "ok", "code": 200, "originalRequest": {"url": "https://b/v2/things"}}]}]}"#;
    let environment =
        br#"{"name": "dev", "values": [{"key": "host", "value": "https://b/v2", "enabled": true},
        {"key": "off", "value": "1", "enabled": false}]}"#;
    let mock = lyrebird_import::postman::import(bytes, Some(environment)).expect("imports");
    assert_eq!(mock.environment["host"], "https://b/v2");
    assert!(!mock.environment.contains_key("off"));
    assert_eq!(mock.examples[0].request.path, "/things");
}

#[test]
fn an_example_the_engine_refuses_is_left_out_with_its_reason() {
    let items = r#"[
        {"name": "odd", "request": {"url": "{{b}}/users/:user@id"},
         "response": [{"name": "refused", "code": 200, "originalRequest": {"url": "{{b}}/users/:user@id"}}]},
        {"name": "fine", "request": {"url": "{{b}}/users/:id"},
         "response": [{"name": "kept", "code": 200, "originalRequest": {"url": "{{b}}/users/:id"}}]}
    ]"#;
    let mock = lyrebird_import::postman::import(&collection(items), None).expect("imports");
    assert_eq!(mock.examples.len(), 1);
    assert_eq!(mock.examples[0].name, "kept");
    assert_eq!(mock.warnings.len(), 1);
    let warning = mock.warnings[0].to_string();
    assert!(
        warning.starts_with("odd / refused: left out: request.path"),
        "{warning}"
    );
}

/// `v0` names `v1` a hundred times, `v1` names `v2` a hundred times, ...: 2,950 bytes that once
/// resolved to 10 GB and aborted the server.
fn variable_chain(times: usize) -> Vec<u8> {
    let mut variables = Vec::new();
    for level in 0..4 {
        let value = format!("{{{{v{}}}}}", level + 1).repeat(times);
        variables.push(serde_json::json!({"key": format!("v{level}"), "value": value}));
    }
    variables.push(serde_json::json!({"key": "v4", "value": "x".repeat(100)}));
    let mut document: serde_json::Value = serde_json::from_slice(&collection(
        r#"[{"name": "r", "request": {"method": "GET", "url": "https://api.example.com/{{v0}}"}}]"#,
    ))
    .expect("JSON");
    document["variable"] = serde_json::Value::Array(variables);
    serde_json::to_vec(&document).expect("JSON")
}

#[test]
fn variables_that_multiply_each_other_are_refused_within_the_import_budget() {
    let error = lyrebird_import::postman::import(&variable_chain(100), None).expect_err("refused");
    assert_eq!(
        error,
        ImportError::Invalid {
            at: "variables".to_owned(),
            message: "resolving the variables makes more than 64 MiB of text".to_owned(),
        }
    );
    // Ten times ten times ... is 1 MB for each value that names `v0`: within the budget.
    let bytes = variable_chain(10);
    let imported = lyrebird_import::postman::import(&bytes, None).expect("imports");
    assert_eq!(imported.counts.requests, 1);
}

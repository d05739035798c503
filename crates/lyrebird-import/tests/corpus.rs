//! Every file of the corpus (`tests/corpus`) imports without error, with the counts its SOURCES.md entry
//! leads to, every example passes the engine's validation, and each awkward case listed there
//! comes out as `docs/import.md` says.

mod common;

use std::collections::BTreeMap;

use lyrebird_engine::{BodyMatch, Example, SelectionMode, ValueMatch, ValueRule, validate_example};
use lyrebird_import::{Counts, ImportedMock};

fn postman(file: &str) -> ImportedMock {
    let bytes = std::fs::read(common::corpus_dir("postman").join(file)).expect("corpus file");
    lyrebird_import::postman::import(&bytes, None).expect("imports")
}

fn openapi(file: &str) -> ImportedMock {
    let bytes = std::fs::read(common::corpus_dir("openapi").join(file)).expect("corpus file");
    lyrebird_import::openapi::import(&bytes).expect("imports")
}

fn find<'a>(mock: &'a ImportedMock, name: &str) -> &'a Example {
    mock.examples
        .iter()
        .find(|e| e.name == name)
        .unwrap_or_else(|| panic!("no example named {name}"))
}

fn assert_valid(mock: &ImportedMock) {
    for example in &mock.examples {
        if let Err(errors) = validate_example(example, &BTreeMap::new()) {
            panic!("{} / {}: {errors:?}", mock.name, example.name);
        }
    }
}

#[test]
fn every_postman_corpus_file_imports_with_its_counts_and_valid_examples() {
    // (file prefix, folders, requests, examples, requests without examples)
    let expected = [
        ("Adyen", 66, 57, 40, 17),
        ("RoxyAPI", 1, 4, 25, 0),
        ("Xray-App", 67, 131, 2, 130),
        ("aruba", 4, 12, 96, 0),
        ("docusign", 6, 14, 35, 8),
        ("experiandataquality", 3, 12, 12, 0),
        ("grafana", 6, 19, 6, 14),
        ("joolfe", 0, 2, 5, 0),
        ("kevinswiber", 2, 8, 8, 0),
        ("microcks", 1, 3, 5, 0),
        ("postmanlabs", 4, 7, 2, 5),
        ("twitterdev", 19, 56, 75, 39),
    ];
    let files = common::corpus_files("postman");
    assert_eq!(
        files.len(),
        expected.len(),
        "a corpus file without expected counts"
    );
    for (name, bytes) in files {
        let mock = lyrebird_import::postman::import(&bytes, None)
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        let (_, folders, requests, examples, without_examples) = expected
            .iter()
            .find(|(prefix, ..)| name.starts_with(prefix))
            .unwrap_or_else(|| panic!("{name}: no expected counts"));
        assert_eq!(
            mock.counts,
            Counts {
                folders: *folders,
                requests: *requests,
                examples: *examples,
                without_examples: *without_examples,
                ..Counts::default()
            },
            "{name}"
        );
        assert_eq!(mock.examples.len(), *examples, "{name}");
        assert_eq!(mock.settings.selection, SelectionMode::Postman, "{name}");
        assert!(mock.warnings.is_empty(), "{name}: {:?}", mock.warnings);
        assert_valid(&mock);
    }
}

#[test]
fn every_openapi_corpus_file_imports_with_its_counts_and_valid_examples() {
    // (file prefix, operations, examples, generated, operations without examples)
    let expected = [
        ("Adyen", 51, 278, 28, 0),
        ("OAI", 2, 4, 0, 0),
        ("Redocly", 8, 9, 2, 0),
        ("microcks__microcks__APIPastry", 3, 6, 0, 0),
        ("microcks__microcks__petstore", 4, 5, 0, 0),
        ("moby", 108, 139, 99, 1),
    ];
    let files = common::corpus_files("openapi");
    assert_eq!(
        files.len(),
        expected.len(),
        "a corpus file without expected counts"
    );
    for (name, bytes) in files {
        let mock = lyrebird_import::openapi::import(&bytes)
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        let (_, operations, examples, generated, without_examples) = expected
            .iter()
            .find(|(prefix, ..)| name.starts_with(prefix))
            .unwrap_or_else(|| panic!("{name}: no expected counts"));
        assert_eq!(
            mock.counts,
            Counts {
                requests: *operations,
                examples: *examples,
                generated: *generated,
                without_examples: *without_examples,
                ..Counts::default()
            },
            "{name}"
        );
        assert!(mock.warnings.is_empty(), "{name}: {:?}", mock.warnings);
        let mut names: Vec<&str> = mock.examples.iter().map(|e| e.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            names.len(),
            mock.examples.len(),
            "{name}: example names are unique"
        );
        assert_valid(&mock);
    }
}

#[test]
fn urls_given_only_as_host_and_path_arrays_lose_the_base_variable() {
    let mock = postman("docusign__postman-collections__navigator-collection.json");
    let example = find(&mock, "Job created successfully");
    assert_eq!(example.request.path, "/v1/accounts/:accountId/upload/jobs");
    assert_eq!(example.request.method.as_deref(), Some("POST"));
}

#[test]
fn a_base_url_variable_with_a_path_is_dropped_whole() {
    let mock = postman("RoxyAPI__postman-collections__angel-numbers.json");
    assert!(
        mock.examples
            .iter()
            .all(|e| !e.request.path.starts_with("/api/"))
    );
    assert_eq!(
        mock.environment["baseUrl"],
        "https://roxyapi.com/api/v2/angel-numbers"
    );
}

#[test]
fn examples_told_apart_only_by_a_path_variable_get_literal_paths() {
    let mock = postman("microcks__microcks__BeerCatalogAPI-collection.json");
    assert_eq!(find(&mock, "Rodenbach").request.path, "/beer/Rodenbach");
    assert_eq!(find(&mock, "Weissbier").request.path, "/beer/Weissbier");
}

#[test]
fn a_path_variable_without_distinct_values_stays_a_capture() {
    let mock = postman("Adyen__adyen-postman__BalancePlatformService-v1.json");
    assert!(
        mock.examples
            .iter()
            .any(|e| e.request.path == "/balancePlatforms/:id")
    );
}

#[test]
fn disabled_query_parameters_are_left_out_and_placeholders_only_need_presence() {
    let twitter =
        postman("twitterdev__postman-twitter-api__Twitter_API_v2.postman_collection.json");
    let default = find(
        &twitter,
        "200 Success - Default Payload (No additonal fields requested)",
    );
    assert!(default.request.query.is_empty());
    let aruba = postman("aruba__aruba-postman-collections__Central_msp_api.json");
    let listing = &aruba.examples[0];
    assert_eq!(
        listing.request.query["customer_name"],
        ValueMatch::Rule(ValueRule::Present(true))
    );
    assert_eq!(
        listing.request.query["limit"],
        ValueMatch::Equals("10".to_owned())
    );
}

#[test]
fn soap_operations_are_told_apart_by_their_soap_action_header() {
    let mock = postman("kevinswiber__postman2openapi__calculator-soap.postman.json");
    assert_eq!(mock.settings.match_headers, ["SOAPAction"]);
    let add = find(&mock, "Add response");
    assert_eq!(add.request.path, "/calculator.asmx");
    assert_eq!(
        add.request.headers["SOAPAction"],
        ValueMatch::Equals("http://tempuri.org/Add".to_owned())
    );
    assert!(matches!(add.request.body, BodyMatch::Xml { .. }));
}

#[test]
fn a_get_with_a_body_is_matched_without_it_as_postman_sends_it() {
    let mock = postman("grafana__postman-to-k6__example_v2_echo.json");
    assert!(
        mock.examples
            .iter()
            .all(|e| e.request.body == BodyMatch::None {})
    );
}

#[test]
fn draft_collections_with_string_requests_and_header_strings_import() {
    let mock = postman("postmanlabs__postman-collection__examples_collection-v2.json");
    let first = &mock.examples[0];
    assert_eq!(first.request.path, "/status/200");
    assert_eq!(first.response.status, 200);
    assert_eq!(first.response.headers[0].name, "Content-Type");
    assert_eq!(mock.environment["var-1"], "hello-world");
}

#[test]
fn an_unresolved_collection_variable_in_a_path_stays_a_variable() {
    let mock = postman("joolfe__postman-to-openapi__v21_ResponsesMultiLang.json");
    assert_eq!(
        find(&mock, "Get User data OK").request.path,
        "/api/v1/users/{{user_id}}"
    );
    assert_eq!(mock.environment["user_id"], "50");
}

#[test]
fn graphql_bodies_become_json_conditions() {
    let bytes = br#"{"info": {"name": "g", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},
        "item": [{"name": "q", "request": {"method": "POST", "url": "{{u}}/graphql",
            "body": {"mode": "graphql", "graphql": {"query": "{ a }", "variables": "{\"x\": 1}"}}},
          "response": [{"name": "ok", "code": 200, "body": "{}", "originalRequest": {"method": "POST", "url": "{{u}}/graphql",
            "body": {"mode": "graphql", "graphql": {"query": "{ a }", "variables": "{\"x\": 1}"}}}}]}]}"#;
    let mock = lyrebird_import::postman::import(bytes, None).expect("imports");
    assert_eq!(
        mock.examples[0].request.body,
        BodyMatch::Json {
            value: serde_json::json!({"query": "{ a }", "variables": {"x": 1}}),
            mode: lyrebird_engine::JsonMode::Equals,
        }
    );
}

#[test]
fn paired_openapi_examples_take_their_request_values() {
    let mock = openapi("microcks__microcks__petstore-1.0.0-openapi.yaml");
    assert_eq!(find(&mock, "pet_1").request.path, "/pets/1");
    assert_eq!(
        find(&mock, "k_pets").request.query["filter"],
        ValueMatch::Equals("k".to_owned())
    );
    let pastry = openapi("microcks__microcks__APIPastry-openapi.yaml");
    let xml = find(&pastry, "PatchPastry Eclair Cafe Xml");
    assert_eq!(xml.request.path, "/pastry/Eclair Cafe");
    assert!(matches!(xml.request.body, BodyMatch::Xml { .. }));
    assert_eq!(
        xml.request.headers["Content-Type"],
        ValueMatch::Equals("text/xml".to_owned())
    );
}

#[test]
fn openapi_paths_start_after_the_server_base_path() {
    let moby = openapi("moby__moby__api_swagger.yaml");
    assert!(
        moby.examples
            .iter()
            .all(|e| !e.request.path.starts_with("/v1."))
    );
    assert!(
        moby.examples
            .iter()
            .any(|e| e.request.path == "/containers/{id}/json")
    );
}

#[test]
fn referenced_examples_are_resolved() {
    let museum = openapi("Redocly__museum-openapi-example__openapi.yaml");
    let hours = find(&museum, "getMuseumHours default_example");
    assert!(hours.response.body.as_ref().is_some_and(|b| b.is_array()));
}

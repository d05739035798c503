//! OpenAPI contracts against real documents: the examples a document's own importer makes
//! keep to it, and examples and requests that break it are found, each with where it broke and
//! the schema keyword's place in the document.

mod common;

use lyrebird_engine::{Example, Request};
use lyrebird_import::contract::{Contract, Violation};
use serde_json::{Value, json};

fn museum() -> (Contract, Vec<u8>) {
    let bytes = std::fs::read(
        common::corpus_dir("openapi").join("Redocly__museum-openapi-example__openapi.yaml"),
    )
    .expect("the museum document");
    (Contract::parse(&bytes).expect("a contract"), bytes)
}

fn example(value: Value) -> Example {
    serde_json::from_value(value).expect("an example")
}

fn places(violations: &[Violation]) -> Vec<(&str, &str)> {
    violations
        .iter()
        .map(|violation| (violation.at.as_str(), violation.schema_path.as_str()))
        .collect()
}

#[test]
fn the_examples_of_the_corpus_documents_keep_to_their_own_contract() {
    for (name, bytes) in common::corpus_files("openapi") {
        let Ok(contract) = Contract::parse(&bytes) else {
            continue; // Swagger 2.0 and Postman files are not contracts.
        };
        let imported = lyrebird_import::openapi::import(&bytes).expect("imports");
        let mut checked = 0;
        for example in &imported.examples {
            let violations = contract.check_example(example);
            // The museum's documents are consistent; others may not be, but none is checked
            // into an error it does not have: each violation names a real schema keyword.
            for violation in &violations {
                assert!(
                    contract
                        .document()
                        .pointer(&violation.schema_path[1..])
                        .is_some(),
                    "{name}: {} points to nothing",
                    violation.schema_path
                );
            }
            if name.starts_with("Redocly") {
                assert_eq!(violations, [], "{name}: {}", example.name);
            }
            checked += 1;
        }
        assert!(checked > 0, "{name}");
    }
}

#[test]
fn an_example_that_breaks_the_contract_is_told_where_and_by_which_keyword() {
    let (contract, _) = museum();
    let broken = example(json!({
        "name": "an event",
        "request": {"method": "GET", "path": "/special-events/:eventId", "query": {"limit": "lots"}},
        "response": {"status": 200, "body": {
            "eventId": 7, "name": "Pirate coding", "location": "Room 3",
            "dates": ["2023-10-29"], "price": "25"
        }}
    }));
    let violations = contract.check_example(&broken);
    assert_eq!(
        places(&violations),
        [
            (
                "response.body",
                "#/components/schemas/SpecialEvent/required"
            ),
            ("response.body.eventId", "#/components/schemas/EventId/type"),
            (
                "response.body.price",
                "#/components/schemas/EventPrice/type"
            ),
        ],
        "{violations:#?}"
    );
    assert_eq!(
        violations[0].message,
        "the required property \"eventDescription\" is missing"
    );
    assert_eq!(
        violations[2].message,
        "\"25\" (a string) where the schema wants number"
    );

    let listed = example(json!({
        "name": "events, too many",
        "request": {"method": "GET", "path": "/special-events", "query": {"limit": "31"}},
        "response": {"status": 418, "body": []}
    }));
    assert_eq!(
        places(&contract.check_example(&listed)),
        [
            (
                "request.query.limit",
                "#/components/parameters/PaginationLimit/schema/maximum"
            ),
            ("response.status", "#/paths/~1special-events/get/responses"),
        ]
    );

    let nowhere =
        example(json!({"name": "x", "request": {"method": "DELETE", "path": "/tickets"}}));
    let violations = contract.check_example(&nowhere);
    assert_eq!(
        violations[0].message,
        "the contract has no DELETE operation at /tickets (it has POST)"
    );
    let elsewhere =
        example(json!({"name": "x", "request": {"method": "GET", "path": "/gift-shop"}}));
    assert_eq!(
        contract.check_example(&elsewhere)[0].message,
        "the contract has no path that /gift-shop fits"
    );
}

#[test]
fn templates_and_other_content_types_are_told_apart_from_json_that_breaks() {
    let (contract, _) = museum();
    let templated = example(json!({
        "name": "templated", "request": {"method": "GET", "path": "/special-events/:id"},
        "response": {"status": 200, "template": true, "body": "{\"eventId\": {{ path.id }}}",
                     "headers": [{"name": "Content-Type", "value": "application/json"}]}
    }));
    assert_eq!(
        contract.check_example(&templated),
        [],
        "a template is not read"
    );
    let text = example(json!({
        "name": "text", "request": {"method": "GET", "path": "/special-events/:id"},
        "response": {"status": 200, "body": "an event"}
    }));
    assert_eq!(
        places(&contract.check_example(&text)),
        [(
            "response.headers.content-type",
            "#/paths/~1special-events~1{eventId}/get/responses/200/content"
        )]
    );
}

#[test]
fn requests_are_checked_as_prism_does_and_paths_outside_the_contract_are_left_alone() {
    let (contract, _) = museum();
    let request = |method: &str, url: &str, body: &str| {
        Request::from_url(method, url, &[("content-type", "application/json")], body)
    };
    assert_eq!(
        contract.check_request(&request("GET", "/special-events?limit=10", "")),
        Some(vec![])
    );
    let violations = contract
        .check_request(&request("GET", "/special-events?limit=ten&page=two", ""))
        .expect("an operation");
    assert_eq!(
        places(&violations),
        [
            (
                "request.query.page",
                "#/components/parameters/PaginationPage/schema/type"
            ),
            (
                "request.query.limit",
                "#/components/parameters/PaginationLimit/schema/type"
            ),
        ],
        "{violations:#?}"
    );
    let created = contract
        .check_request(&request(
            "POST",
            "/special-events",
            r#"{"name": "Talk", "location": "Hall", "eventDescription": "x", "dates": ["2024-01-01"], "price": -1}"#,
        ))
        .expect("an operation");
    assert_eq!(created, [], "{created:#?}");
    let missing = contract
        .check_request(&request("POST", "/special-events", ""))
        .expect("an operation");
    assert_eq!(missing[0].message, "the operation requires a body");
    let broken = contract
        .check_request(&request("POST", "/special-events", "{not json"))
        .expect("an operation");
    assert!(
        broken[0].message.starts_with("the body is not JSON"),
        "{broken:?}"
    );
    assert_eq!(
        contract.check_request(&request("GET", "/gift-shop", "")),
        None
    );
}

#[test]
fn swagger_and_broken_documents_are_refused() {
    let swagger = std::fs::read(common::corpus_dir("openapi").join("moby__moby__api_swagger.yaml"))
        .expect("moby");
    assert!(Contract::parse(&swagger).is_err());
    assert!(
        Contract::parse(b"{\"openapi\": \"3.0.3\"}").is_err(),
        "no paths"
    );
    assert!(Contract::parse(b"openapi: [").is_err());
}

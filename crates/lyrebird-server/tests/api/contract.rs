//! A mock's OpenAPI contract: attached as YAML, its examples checked (warned of, then refused),
//! the calls it receives checked as Prism does, and detached again.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, error_of, read};

/// OpenAPI 3.0, with its own dialect: `nullable` and a boolean `exclusiveMinimum`.
const PETS: &str = r##"
openapi: 3.0.3
info: {title: Pets, version: "1.0"}
paths:
  /pets/{petId}:
    get:
      parameters:
        - {name: petId, in: path, required: true, schema: {type: integer, minimum: 0, exclusiveMinimum: true}}
      responses:
        "200":
          description: A pet.
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Pet"}
        "404": {description: No such pet.}
  /pets:
    post:
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: "#/components/schemas/NewPet"}
      responses:
        "201":
          description: Created.
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Pet"}
components:
  schemas:
    Pet:
      type: object
      required: [id, name]
      properties:
        id: {type: integer}
        name: {type: string}
        tag: {type: string, nullable: true}
    NewPet:
      type: object
      required: [name]
      additionalProperties: false
      properties:
        name: {type: string, minLength: 1}
        tag: {type: string, nullable: true}
"##;

fn pet(name: &str, path: &str, body: Value) -> Value {
    json!({"name": name, "request": {"method": "GET", "path": path},
           "response": {"status": 200, "body": body}})
}

async fn attach(
    app: &TestApp,
    key: &str,
    mock: &str,
    query: &str,
    body: &str,
) -> (StatusCode, Value) {
    let response = app
        .client
        .put(format!("{}/api/v1/mocks/{mock}/contract{query}", app.base))
        .bearer_auth(key)
        .header("content-type", "application/yaml")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    read(response).await
}

async fn call(
    app: &TestApp,
    mock: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app
        .client
        .request(method, format!("{}/m/{mock}{path}", app.base));
    if let Some(body) = body {
        request = request.json(&body);
    }
    read(request.send().await.unwrap()).await
}

#[tokio::test]
async fn examples_are_warned_of_then_refused_and_calls_are_checked_as_prism_does() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let key = &user.key;
    let mock = app.create_mock(key, json!({"name": "Pets"})).await;
    let examples = format!("/api/v1/mocks/{mock}/examples");
    app.add_example(
        key,
        &mock,
        pet(
            "rex",
            "/pets/:petId",
            json!({"id": 1, "name": "Rex", "tag": null}),
        ),
    )
    .await;
    let broken = app
        .add_example(key, &mock, pet("broken", "/pets/2", json!({"id": "2"})))
        .await;

    let (status, contract) = attach(&app, key, &mock, "", PETS).await;
    assert_eq!(status, StatusCode::OK, "{contract}");
    assert_eq!(contract["title"], "Pets");
    assert_eq!(contract["openapi"], "3.0.3");
    assert_eq!(contract["operations"], 2);
    assert_eq!(contract["examples"], "warn");
    assert_eq!(contract["requests"], false);
    let found = &contract["violations"];
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found[0]["example_id"], broken.as_str());
    assert_eq!(
        found[0]["violations"],
        json!([
            {"at": "response.body", "schema_path": "#/components/schemas/Pet/required",
             "message": "the required property \"name\" is missing"},
            {"at": "response.body.id", "schema_path": "#/components/schemas/Pet/properties/id/type",
             "message": "\"2\" (a string) where the schema wants integer"},
        ])
    );

    // Warned: saved, and the answer says where it breaks the contract.
    let (status, saved) = app
        .post(
            &examples,
            key,
            pet("zero", "/pets/0", json!({"id": 0, "name": "Nil"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{saved}");
    assert_eq!(saved["contract_violations"][0]["at"], "request.path.petId");
    assert_eq!(
        saved["contract_violations"][0]["schema_path"],
        "#/paths/~1pets~1{petId}/get/parameters/0/schema/minimum"
    );

    // Refused, and the calls checked.
    let (status, contract) = attach(&app, key, &mock, "?examples=refuse&requests=true", PETS).await;
    assert_eq!(status, StatusCode::OK, "{contract}");
    assert_eq!(contract["examples"], "refuse");
    let (status, refused) = app
        .post(
            &examples,
            key,
            pet("no name", "/pets/:petId", json!({"id": 3})),
        )
        .await;
    let error = error_of(
        status,
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "contract_violation",
    );
    assert_eq!(error["field"], "response.body");
    assert_eq!(
        error["violations"][0]["schema_path"],
        "#/components/schemas/Pet/required"
    );
    let (status, listed) = app.get(&examples, key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed.as_array().unwrap().len(), 3, "nothing saved");
    let (status, replaced) = app
        .call(
            Method::PUT,
            &examples,
            Some(key),
            Some(json!([
                pet("fine", "/pets/:petId", json!({"id": 1, "name": "Rex"})),
                pet("not fine", "/pets/:petId", json!([]))
            ])),
        )
        .await;
    let error = error_of(
        status,
        &replaced,
        StatusCode::UNPROCESSABLE_ENTITY,
        "contract_violation",
    );
    assert_eq!(error["field"], "[1].response.body");

    let (status, answer) = call(&app, &mock, Method::GET, "/pets/abc", None).await;
    let error = error_of(
        status,
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "request_invalid",
    );
    assert_eq!(error["violations"][0]["at"], "request.path.petId");
    assert_eq!(
        error["message"],
        "the request breaks the mock's OpenAPI contract: \"abc\" (a string) where the schema wants integer (request.path.petId)"
    );
    let (status, answer) = call(
        &app,
        &mock,
        Method::POST,
        "/pets",
        Some(json!({"name": "", "age": 3})),
    )
    .await;
    let error = error_of(
        status,
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "request_invalid",
    );
    let at: Vec<&str> = error["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|violation| violation["at"].as_str().unwrap())
        .collect();
    assert_eq!(at, ["request.body.name", "request.body.age"], "{error}");
    let (status, answer) = call(&app, &mock, Method::POST, "/pets", None).await;
    error_of(
        status,
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "request_invalid",
    );
    let (status, answer) = call(&app, &mock, Method::GET, "/pets/1", None).await;
    assert_eq!((status, &answer["name"]), (StatusCode::OK, &json!("Rex")));
    let (status, answer) = call(
        &app,
        &mock,
        Method::POST,
        "/pets",
        Some(json!({"name": "Tom"})),
    )
    .await;
    error_of(status, &answer, StatusCode::NOT_FOUND, "no_match");
    let (status, answer) = call(&app, &mock, Method::GET, "/elsewhere", None).await;
    error_of(status, &answer, StatusCode::NOT_FOUND, "no_match");

    // A drift report against the document: each example checked as a save would.
    let reports = format!("/api/v1/mocks/{mock}/drift-reports");
    let (status, report) = app.post(&reports, key, json!({"against": "openapi"})).await;
    assert_eq!(status, StatusCode::CREATED, "{report}");
    assert_eq!(report["source"], "openapi");
    assert_eq!(
        report["summary"],
        json!({"agrees": 1, "differs": 2, "skipped": 0, "failed": 0})
    );
    let differs = &report["entries"][1];
    assert_eq!(differs["differences"][0]["kind"], "contract");
    assert_eq!(
        differs["differences"][0]["expected"],
        "#/components/schemas/Pet/required"
    );

    let (status, document) = app
        .get(&format!("/api/v1/mocks/{mock}/contract/document"), key)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        document["components"]["schemas"]["Pet"]["required"],
        json!(["id", "name"])
    );

    // Detached: nothing is checked any more.
    let contract = format!("/api/v1/mocks/{mock}/contract");
    let (status, _) = app.call(Method::DELETE, &contract, Some(key), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = app.get(&contract, key).await;
    error_of(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = app.call(Method::DELETE, &contract, Some(key), None).await;
    error_of(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, answer) = call(&app, &mock, Method::GET, "/pets/abc", None).await;
    assert_eq!(
        (status, &answer["name"]),
        (StatusCode::OK, &json!("Rex")),
        "the example answers what the contract refused"
    );
}

#[tokio::test]
async fn a_document_that_is_no_openapi_3_or_another_workspaces_mock_is_refused() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let other = app.sign_up("eve@example.com").await;
    let mock = app.create_mock(&user.key, json!({"name": "Pets"})).await;

    let (status, body) = attach(&app, &user.key, &mock, "", "swagger: '2.0'\npaths: {}\n").await;
    error_of(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "wrong_file_kind",
    );
    let (status, body) = attach(&app, &user.key, &mock, "", "openapi: [").await;
    error_of(status, &body, StatusCode::BAD_REQUEST, "invalid_file");
    let (status, body) = attach(
        &app,
        &user.key,
        &mock,
        "",
        "openapi: 3.0.3\ninfo: {title: x}\n",
    )
    .await;
    error_of(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_document",
    );
    let (status, body) = attach(&app, &user.key, &mock, "?examples=sometimes", PETS).await;
    let error = error_of(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );
    assert_eq!(error["field"], "examples");
    let (status, body) = attach(&app, &other.key, &mock, "", PETS).await;
    error_of(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, body) = app
        .get(&format!("/api/v1/mocks/{mock}/contract"), &user.key)
        .await;
    error_of(status, &body, StatusCode::NOT_FOUND, "not_found");
    let reports = format!("/api/v1/mocks/{mock}/drift-reports");
    let (status, body) = app
        .post(&reports, &user.key, json!({"against": "openapi"}))
        .await;
    error_of(status, &body, StatusCode::CONFLICT, "no_contract");
    let huge = format!("{PETS}\n# {}\n", "x".repeat(crate::support::MAX_BODY_BYTES));
    let (status, body) = attach(&app, &user.key, &mock, "", &huge).await;
    error_of(
        status,
        &body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
}

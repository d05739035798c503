//! What an import keeps and refuses: examples checked with their mock's environment, multipart
//! uploads with an environment file, imports into an existing mock.

use super::*;

/// A native document is checked like the other formats: an example the engine refuses, here a
/// broken template and a path too long once the document's own environment is put in, is left
/// out with a warning; importing into a mock whose variables would break it is refused.
#[tokio::test]
async fn examples_that_would_not_compile_in_their_mock_are_left_out_or_refused() {
    let db = TestDatabase::new().await;
    let server = start(&db);
    let user = server.sign_up("native-checks@example.com").await;
    let example = |name: &str, path: &str, body: &str| json!({"name": name, "request": {"path": path}, "response": {"status": 200, "body": body, "template": true}});
    let document = json!({
        "lyrebird": 1,
        "name": "checked",
        "environment": {"a": "x".repeat(3_000), "b": "ok"},
        "examples": [
            example("good", "/{{b}}", "fine"),
            example("broken template", "/t", "{{ unclosed"),
            example("too long", "/{{a}}/{{a}}/{{a}}", "never"),
        ],
    });
    let answer = import(
        &server,
        &user.key,
        "native",
        document.to_string().into_bytes(),
    )
    .await;
    assert_eq!(answer["counts"]["examples"], 1, "{answer}");
    let warnings: Vec<&str> = answer["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["location"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        warnings,
        ["examples[1] / broken template", "examples[2] / too long"],
        "{answer}"
    );
    let mock = answer["mock"]["id"].as_str().unwrap();
    let answered = server
        .client
        .get(server.url(&format!("/m/{mock}/ok")))
        .send()
        .await
        .unwrap();
    assert_eq!(answered.text().await.unwrap(), "fine");

    // Into an existing mock: the file's `{{a}}` path with the mock's own long `a`.
    let target = server
        .api(
            Method::POST,
            "/api/v1/mocks",
            &user.key,
            Some(json!({"name": "target", "environment": {"a": "y".repeat(3_000)}})),
        )
        .await
        .1;
    let target = target["id"].as_str().unwrap();
    let url = json!({"raw": "https://api.test/{{a}}/{{a}}/{{a}}"});
    let collection = json!({
        "info": {"name": "c", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},
        "item": [{
            "name": "r",
            "request": {"method": "GET", "url": url},
            "response": [{"name": "ok", "originalRequest": {"method": "GET", "url": url}, "code": 200, "body": "x"}],
        }],
    });
    let (status, refused) = upload(
        &server,
        &user.key,
        "postman",
        &format!("?mock={target}"),
        collection.to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["field"], "environment", "{refused}");
    let (_, examples) = server
        .api(
            Method::GET,
            &format!("/api/v1/mocks/{target}/examples"),
            &user.key,
            None,
        )
        .await;
    assert_eq!(examples, json!([]), "nothing was written");
}

#[tokio::test]
async fn a_postman_export_imports_back_with_equal_examples() {
    let db = TestDatabase::new().await;
    let server = start(&db);
    let user = server.sign_up("postman-export@example.com").await;
    for prefix in ["twitterdev", "kevinswiber", "Xray-App"] {
        let original = import(
            &server,
            &user.key,
            "postman",
            corpus_file("postman", prefix),
        )
        .await;
        let original = original["mock"]["id"].as_str().unwrap();
        let (status, disposition, collection) =
            export(&server, &user.key, original, "postman").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            disposition.ends_with(".postman_collection.json\""),
            "{disposition}"
        );
        let again = import(
            &server,
            &user.key,
            "postman",
            serde_json::to_vec(&collection).unwrap(),
        )
        .await;
        let again = again["mock"]["id"].as_str().unwrap();
        assert_eq!(
            examples_of(&server, &user.key, again).await,
            examples_of(&server, &user.key, original).await,
            "{prefix}"
        );
    }
}

// --- uploads: multipart, replacing a mock ---

/// A `multipart/form-data` upload of these named parts, as a browser's form sends it.
async fn multipart_upload(
    server: &Server,
    key: &str,
    path: &str,
    parts: &[(&str, String)],
) -> (StatusCode, Value) {
    const BOUNDARY: &str = "lyrebird-test-boundary";
    let mut body = String::new();
    for (name, content) in parts {
        write!(
            body,
            "--{BOUNDARY}\r\ncontent-disposition: form-data; name=\"{name}\"; filename=\"{name}.json\"\r\n\
             content-type: application/json\r\n\r\n{content}\r\n"
        )
        .unwrap();
    }
    write!(body, "--{BOUNDARY}--\r\n").unwrap();
    let response = server
        .client
        .post(server.url(path))
        .bearer_auth(key)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    json_of(response).await
}

#[tokio::test]
async fn a_multipart_upload_takes_the_collection_and_its_environment_file() {
    let db = TestDatabase::new().await;
    let server = start(&db);
    let user = server.sign_up("multipart@example.com").await;
    let collection = json!({
        "info": {"name": "Greeter", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},
        "variable": [{"key": "who", "value": "collection"}],
        "item": [{"name": "hello", "request": {"url": "{{baseUrl}}/hello"}, "response": [
            {"name": "hi", "code": 200, "body": "hello {{who}}", "originalRequest": {"url": "{{baseUrl}}/hello"}}
        ]}]
    });
    let environment = json!({"name": "prod", "values": [{"key": "who", "value": "environment", "enabled": true}]});
    let (status, answer) = multipart_upload(
        &server,
        &user.key,
        "/api/v1/imports/postman?name=Greeter%20mock",
        &[
            ("file", collection.to_string()),
            ("environment", environment.to_string()),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    assert_eq!(answer["mock"]["name"], "Greeter mock");
    assert_eq!(answer["mock"]["environment"]["who"], "environment");
    let mock = answer["mock"]["id"].as_str().unwrap();
    let body = server
        .by_host(Method::GET, mock, "/hello")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "hello environment");

    // A part this upload does not take is named, and nothing is created.
    let (status, error) = multipart_upload(
        &server,
        &user.key,
        "/api/v1/imports/postman",
        &[("file", collection.to_string()), ("extra", "x".to_owned())],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
    assert_eq!(error["error"]["field"], "extra");
    assert_eq!(mock_count(&server, &user).await, 1);
}

#[tokio::test]
async fn importing_into_a_mock_replaces_its_examples_and_keeps_the_users_variables() {
    let db = TestDatabase::new().await;
    let server = start(&db);
    let user = server.sign_up("replace@example.com").await;
    let first = import(
        &server,
        &user.key,
        "openapi",
        corpus_file("openapi", "microcks__microcks__petstore"),
    )
    .await;
    let mock = first["mock"]["id"].as_str().unwrap();
    let (status, _) = server
        .api(
            Method::PATCH,
            &format!("/api/v1/mocks/{mock}"),
            &user.key,
            Some(json!({"environment": {"token": "secret"}, "private": false, "delay": 5})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        server
            .by_host(Method::GET, mock, "/pets/1")
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    let beer = corpus_file("postman", "microcks__microcks__BeerCatalogAPI");
    let (status, answer) = upload(
        &server,
        &user.key,
        "postman",
        &format!("?mock={mock}"),
        beer,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["mock"]["id"], mock);
    assert_eq!(
        answer["mock"]["name"], first["mock"]["name"],
        "the name stays"
    );
    assert_eq!(answer["mock"]["delay"], 5, "settings the user chose stay");
    assert_eq!(answer["mock"]["environment"]["token"], "secret");
    assert_eq!(answer["counts"]["examples"], 5);
    assert_eq!(examples_of(&server, &user.key, mock).await.len(), 5);
    assert_eq!(mock_count(&server, &user).await, 1);
    let pets = server
        .by_host(Method::GET, mock, "/pets/1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        pets.status(),
        StatusCode::NOT_FOUND,
        "the old examples are gone"
    );
    let beer = server
        .by_host(Method::GET, mock, "/beer/Weissbier")
        .send()
        .await
        .unwrap();
    assert_eq!(beer.status(), StatusCode::OK);
}

// --- bad files ---

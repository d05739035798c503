//! Import and export through the API, black-box: a `lyrebird serve` process on a real port and a
//! real PostgreSQL. Every corpus file is uploaded and its mock called over HTTP for each imported
//! example (by name), the answer compared with the example and with what the engine gives for the
//! same request; a HAR of real calls goes back in; native and Postman exports read back; bad
//! files are refused and leave nothing behind; `?mock=` and exports stay within the workspace.

#[path = "../../lyrebird-import/tests/common/requests.rs"]
mod requests;
#[path = "serving/support.rs"]
#[allow(dead_code)] // The serving tests' support; this file uses part of it.
mod support;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use lyrebird_engine::{CompiledMock, Example, MatchSettings, Request};
use lyrebird_store::testing::TestDatabase;
use requests::{Case, openapi_cases, postman_cases};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Server, User, json_of};

/// Calls needed by a test file: the whole corpus is about 700 examples.
const QUOTA: &str = "1000000";

fn start(db: &TestDatabase) -> Server {
    Server::start(db, &[("LYREBIRD_MONTHLY_QUOTA", QUOTA)])
}

/// The importer's corpus of real files, `crates/lyrebird-import/tests/corpus/<kind>`.
fn corpus(kind: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../lyrebird-import/tests/corpus")
        .join(kind);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("{}: {error}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

fn corpus_file(kind: &str, prefix: &str) -> Vec<u8> {
    corpus(kind)
        .into_iter()
        .find(|(name, _)| name.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} in the corpus"))
        .1
}

/// Uploads `bytes` as the raw body of `POST /api/v1/imports/<kind><query>`.
async fn upload(
    server: &Server,
    key: &str,
    kind: &str,
    query: &str,
    bytes: Vec<u8>,
) -> (StatusCode, Value) {
    let response = server
        .client
        .post(server.url(&format!("/api/v1/imports/{kind}{query}")))
        .bearer_auth(key)
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .unwrap();
    json_of(response).await
}

/// Uploads and expects a new mock; returns the answer.
async fn import(server: &Server, key: &str, kind: &str, bytes: Vec<u8>) -> Value {
    let (status, answer) = upload(server, key, kind, "", bytes).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    answer
}

async fn mock_count(server: &Server, user: &User) -> usize {
    let (status, mocks) = server
        .api(Method::GET, "/api/v1/mocks", &user.key, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    mocks.as_array().unwrap().len()
}

/// `GET /api/v1/mocks/{id}/export?format=...`: the status, the Content-Disposition and the body.
async fn export(
    server: &Server,
    key: &str,
    mock: &str,
    format: &str,
) -> (StatusCode, String, Value) {
    let response = server
        .client
        .get(server.url(&format!("/api/v1/mocks/{mock}/export?format={format}")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let disposition = response
        .headers()
        .get("content-disposition")
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let (status, body) = json_of(response).await;
    (status, disposition, body)
}

/// The mock's examples in the engine's format, without the fields the API adds.
async fn examples_of(server: &Server, key: &str, mock: &str) -> Vec<Example> {
    let (status, list) = server
        .api(
            Method::GET,
            &format!("/api/v1/mocks/{mock}/examples"),
            key,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list.as_array()
        .unwrap()
        .iter()
        .map(|view| {
            let mut view = view.clone();
            let object = view.as_object_mut().unwrap();
            for field in ["id", "position", "created_at", "updated_at"] {
                object.remove(field);
            }
            serde_json::from_value(view).unwrap()
        })
        .collect()
}

// --- replaying a mock's examples over HTTP ---

fn expected_body(example: &Example) -> Vec<u8> {
    match &example.response.body {
        None => Vec::new(),
        Some(Value::String(text)) => text.clone().into_bytes(),
        Some(value) => serde_json::to_vec(value).unwrap(),
    }
}

/// Whether an HTTP answer is the one `example` gives (a template's body varies, a HEAD has none).
fn answers_as(example: &Example, method: &str, status: u16, body: &[u8]) -> bool {
    status == example.response.status
        && (example.response.template || method == "HEAD" || body == expected_body(example))
}

/// The replay's request as HTTP can carry it: without the headers HTTP sets itself and without
/// header names or values HTTP cannot hold.
fn sendable(request: &Request) -> Request {
    let headers = request
        .headers
        .iter()
        .filter(|(name, value)| {
            !["host", "content-length", "transfer-encoding", "connection"]
                .contains(&name.to_ascii_lowercase().as_str())
                && reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_ok()
                && reqwest::header::HeaderValue::from_str(value).is_ok()
        })
        .map(|(name, value)| (name.to_ascii_lowercase(), value.clone()))
        .collect();
    Request::new(
        request.method.clone(),
        request.path.clone(),
        request.query.clone(),
        headers,
        request.body.clone(),
    )
}

/// Sends the request to the mock by its host; the status and body.
async fn send(server: &Server, mock: &str, request: &Request) -> (u16, Vec<u8>) {
    let target = if request.query.is_empty() {
        request.path.clone()
    } else {
        format!("{}?{}", request.path, request.query)
    };
    let method = Method::from_bytes(request.method.as_bytes()).unwrap();
    let mut call = server.by_host(method, mock, &target);
    for (name, value) in &request.headers {
        call = call.header(name, value);
    }
    let response = call.body(request.body.clone()).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

/// What replaying one mock over HTTP gave.
#[derive(Default)]
struct Replay {
    examples: usize,
    /// Answered with the example's status and body, with `x-mock-response-name`.
    by_name: usize,
    /// Answered by one of the request's examples, without control headers.
    plain: usize,
    /// Answers that differ from the example, with the reason.
    failures: Vec<String>,
}

/// Sends each case's request to the mock over HTTP with `x-mock-response-name` (and, with
/// `plain`, without control headers), and checks every answer against the example and against
/// the engine's answer to the same request, computed here from the mock's native export.
async fn replay(server: &Server, key: &str, mock: &str, cases: &[Case], plain: bool) -> Replay {
    let (status, _, document) = export(server, key, mock, "native").await;
    assert_eq!(status, StatusCode::OK);
    let examples: Vec<Example> = serde_json::from_value(document["examples"].clone()).unwrap();
    let settings: MatchSettings = serde_json::from_value(document["settings"].clone()).unwrap();
    let environment: BTreeMap<String, String> =
        serde_json::from_value(document["environment"].clone()).unwrap();
    let engine = CompiledMock::compile(
        examples
            .iter()
            .enumerate()
            .map(|(i, e)| (uuid::Uuid::from_u128(i as u128 + 1), e.clone()))
            .collect(),
        settings,
        environment,
    )
    .unwrap();
    assert_eq!(cases.len(), examples.len(), "one case per example");
    let mut report = Replay {
        examples: examples.len(),
        ..Replay::default()
    };
    for case in cases {
        let expected = &examples[case.index];
        let mut named = sendable(&case.request);
        named
            .headers
            .push(("x-mock-response-name".to_owned(), expected.name.clone()));
        let mut requests = vec![(true, named)];
        if plain {
            requests.push((false, sendable(&case.request)));
        }
        for (by_name, request) in requests {
            let (status, body) = send(server, mock, &request).await;
            // Over HTTP as in the engine: the same answer to the same request.
            let rendered = engine
                .respond(&request, time::OffsetDateTime::now_utc())
                .rendered;
            let location = format!(
                "{} ({})",
                case.location,
                if by_name { "by name" } else { "plain" }
            );
            assert_eq!(
                status,
                rendered.as_ref().map_or(404, |r| r.status),
                "{location}: HTTP and the engine differ"
            );
            let method = request.method.as_str();
            let answered = |example: &Example| answers_as(example, method, status, &body);
            if by_name && answered(expected) {
                report.by_name += 1;
            } else if !by_name && case.group.clone().any(|i| answered(&examples[i])) {
                report.plain += 1;
            } else {
                report
                    .failures
                    .push(format!("{location}: answered {status}"));
            }
        }
    }
    report
}

/// (file prefix, examples, floor by name, floor without control headers): the engine-level
/// rates of `docs/compatibility.md`.
type Floors = [(&'static str, usize, usize, usize)];

#[tokio::test]
async fn every_postman_corpus_file_uploads_and_its_mock_answers_each_original_request() {
    let floors: &Floors = &[
        ("Adyen", 40, 40, 40),
        ("RoxyAPI", 25, 25, 25),
        ("Xray-App", 2, 2, 2),
        ("aruba", 96, 96, 96),
        ("docusign", 35, 35, 35),
        ("experiandataquality", 12, 12, 12),
        ("grafana", 6, 6, 6),
        ("joolfe", 5, 4, 5),
        ("kevinswiber", 8, 8, 8),
        ("microcks", 5, 5, 5),
        ("postmanlabs", 2, 2, 2),
        ("twitterdev", 75, 75, 75),
    ];
    replay_corpus("postman", floors).await;
}

#[tokio::test]
async fn every_openapi_corpus_file_uploads_and_its_mock_answers_each_operation_example() {
    let floors: &Floors = &[
        ("Adyen", 278, 278, 0),
        ("OAI", 4, 4, 0),
        ("Redocly", 9, 9, 0),
        ("microcks__microcks__APIPastry", 6, 6, 0),
        ("microcks__microcks__petstore", 5, 5, 0),
        ("moby", 139, 139, 0),
    ];
    replay_corpus("openapi", floors).await;
}

/// Uploads every file of a corpus folder into one workspace and replays each mock with the
/// requests of the engine-level replay; prints the table for `docs/compatibility.md` (with
/// `--nocapture`).
async fn replay_corpus(kind: &str, floors: &Floors) {
    let db = TestDatabase::new().await;
    let server = start(&db);
    let user = server.sign_up(&format!("{kind}@example.com")).await;
    let postman = kind == "postman";
    let mut table = String::new();
    for (name, bytes) in corpus(kind) {
        let answer = import(&server, &user.key, kind, bytes.clone()).await;
        let mock = answer["mock"]["id"].as_str().unwrap();
        assert_eq!(answer["mock"]["selection"], "postman", "{name}");
        let cases = if postman {
            postman_cases(&serde_json::from_slice(&bytes).unwrap())
        } else {
            openapi_cases(&examples_of(&server, &user.key, mock).await)
        };
        let report = replay(&server, &user.key, mock, &cases, postman).await;
        let (_, examples, by_name, plain) = floors
            .iter()
            .find(|(prefix, ..)| name.starts_with(prefix))
            .unwrap_or_else(|| panic!("{name}: no floor"));
        assert_eq!(answer["counts"]["examples"], report.examples, "{name}");
        assert_eq!(report.examples, *examples, "{name}");
        writeln!(
            table,
            "| `{name}` | {} | {}/{} | {} | {} |",
            report.examples,
            report.by_name,
            report.examples,
            if postman {
                format!("{}/{}", report.plain, report.examples)
            } else {
                "—".to_owned()
            },
            answer["warnings"].as_array().unwrap().len()
        )
        .unwrap();
        assert!(
            report.by_name >= *by_name && report.plain >= *plain,
            "{name}: {} by name, {} plain, of {} over HTTP: {:#?}",
            report.by_name,
            report.plain,
            report.examples,
            report.failures
        );
        for failure in &report.failures {
            writeln!(table, "  - {failure}").unwrap();
        }
    }
    println!("{table}");
}

// --- round trips ---

#[tokio::test]
async fn a_har_export_of_real_calls_imports_as_a_mock_that_gives_the_same_answers() {
    let db = TestDatabase::new().await;
    let server = start(&db);
    let user = server.sign_up("har@example.com").await;
    let beer = corpus_file("postman", "microcks__microcks__BeerCatalogAPI");
    let recorded = import(&server, &user.key, "postman", beer).await;
    let recorded = recorded["mock"]["id"].as_str().unwrap();
    let calls = [
        "/beer/Rodenbach",
        "/beer/Weissbier",
        "/beer?page=0",
        "/beer/Nope",
    ];
    let mut answers = Vec::new();
    for path in calls {
        let response = server
            .by_host(Method::GET, recorded, path)
            .send()
            .await
            .unwrap();
        answers.push((response.status(), response.text().await.unwrap()));
    }
    assert!(
        answers[..3].iter().all(|(status, _)| status.is_success()),
        "{answers:?}"
    );

    // The call log is written in batches: wait until it holds every call.
    let calls_path = format!("/api/v1/mocks/{recorded}/calls");
    let mut logged = 0;
    for _ in 0..100 {
        let (_, page) = server.api(Method::GET, &calls_path, &user.key, None).await;
        logged = page["calls"].as_array().map_or(0, Vec::len);
        if logged == calls.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(logged, calls.len(), "calls logged");
    let har = server
        .client
        .get(server.url(&format!("{calls_path}/export?format=har")))
        .bearer_auth(&user.key)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let replayed = import(&server, &user.key, "har", har.to_vec()).await;
    assert_eq!(replayed["counts"]["requests"], calls.len(), "{replayed}");
    let replayed = replayed["mock"]["id"].as_str().unwrap();
    for (path, (status, body)) in calls.iter().zip(&answers) {
        let response = server
            .by_host(Method::GET, replayed, path)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), *status, "{path}");
        assert_eq!(response.text().await.unwrap(), *body, "{path}");
    }
}

#[tokio::test]
async fn a_native_export_imports_as_exactly_the_same_mock() {
    let db = TestDatabase::new().await;
    let server = start(&db);
    let user = server.sign_up("native@example.com").await;
    for (kind, prefix) in [("postman", "twitterdev"), ("openapi", "moby")] {
        let original = import(&server, &user.key, kind, corpus_file(kind, prefix)).await;
        let original = original["mock"]["id"].as_str().unwrap();
        let (status, disposition, document) = export(&server, &user.key, original, "").await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            disposition.starts_with("attachment; filename=\"")
                && disposition.ends_with(".lyrebird.json\""),
            "{disposition}"
        );
        assert_eq!(document["lyrebird"], 1);
        let copy = import(
            &server,
            &user.key,
            "native",
            serde_json::to_vec(&document).unwrap(),
        )
        .await;
        assert_eq!(
            copy["counts"]["examples"],
            document["examples"].as_array().unwrap().len()
        );
        let copy = copy["mock"]["id"].as_str().unwrap();
        let (_, _, again) = export(&server, &user.key, copy, "native").await;
        assert_eq!(again, document, "{prefix}");
    }
}

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

/// A Postman collection whose folders nest `depth` deep.
fn nested_collection(depth: usize) -> Value {
    let mut item = json!([{"name": "leaf", "request": {"url": "/x"}, "response": []}]);
    for level in 0..depth {
        item = json!([{"name": format!("folder {level}"), "item": item}]);
    }
    json!({"info": {"name": "deep", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"}, "item": item})
}

#[tokio::test]
async fn bad_files_get_a_clear_error_and_create_nothing() {
    let db = TestDatabase::new().await;
    let server = Server::start(
        &db,
        &[
            ("LYREBIRD_MONTHLY_QUOTA", QUOTA),
            ("LYREBIRD_MAX_IMPORT_BYTES", "2000000"),
        ],
    );
    let user = server.sign_up("bad@example.com").await;
    let openapi = corpus_file("openapi", "microcks__microcks__petstore");
    let v1_collection = json!({"id": "x", "name": "old", "requests": [], "order": []});
    let v3_collection = json!({"info": {"name": "n", "schema": "https://schema.getpostman.com/json/collection/v3.0.0/collection.json"}, "item": []});
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str, &str)> = vec![
        (
            "postman",
            b"\x00\x01 not a file".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_file",
            "JSON or YAML",
        ),
        (
            "openapi",
            b"{\"openapi\": ".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_file",
            "JSON",
        ),
        (
            "postman",
            openapi.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong_file_kind",
            "an OpenAPI description",
        ),
        (
            "har",
            openapi,
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong_file_kind",
            "an OpenAPI description",
        ),
        (
            "native",
            corpus_file("postman", "grafana"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong_file_kind",
            "a Postman collection",
        ),
        (
            "openapi",
            b"openapi: 4.0.0\npaths: {}\n".to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_version",
            "4.0.0",
        ),
        (
            "postman",
            v3_collection.to_string().into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_version",
            "3.0.0",
        ),
        (
            "postman",
            v1_collection.to_string().into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_version",
            "",
        ),
        (
            "native",
            br#"{"lyrebird": 2, "name": "x", "examples": []}"#.to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unsupported_version",
            "2",
        ),
        (
            "postman",
            nested_collection(40).to_string().into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "file_too_deep",
            "deeper than 32 levels at folder 39 / folder 38",
        ),
        (
            "postman",
            nested_collection(500).to_string().into_bytes(),
            StatusCode::BAD_REQUEST,
            "invalid_file",
            "recursion limit",
        ),
        (
            "postman",
            vec![b' '; 2_000_001],
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "LYREBIRD_MAX_IMPORT_BYTES",
        ),
    ];
    for (kind, bytes, status, code, mention) in cases {
        let (got, error) = upload(&server, &user.key, kind, "", bytes).await;
        assert_eq!(got, status, "{kind}: {error}");
        assert_eq!(error["error"]["code"], code, "{kind}: {error}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.contains(mention), "{kind}: {message}");
        if status != StatusCode::PAYLOAD_TOO_LARGE {
            assert_eq!(error["error"]["field"], "file", "{kind}: {error}");
        }
    }
    assert_eq!(mock_count(&server, &user).await, 0);
}

#[tokio::test]
async fn a_fifty_megabyte_upload_is_refused_with_a_413_in_the_api_error_shape() {
    let db = TestDatabase::new().await;
    let server = start(&db);
    let user = server.sign_up("huge@example.com").await;
    // A length over the limit is refused from the headers alone, before any of the body is read.
    let answer = raw_upload(
        &server,
        &user.key,
        "/api/v1/imports/postman",
        Framing::Length(50 * 1024 * 1024),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // The rest of the body is not read, so the connection is not reused.
    assert!(answer.contains("connection: close"), "{answer}");
    assert!(answer.contains("\"payload_too_large\""), "{answer}");
    // Without a length announced, the limit is found while reading the chunks.
    let answer = raw_upload(
        &server,
        &user.key,
        "/api/v1/imports/openapi",
        Framing::Chunked { megabytes: 50 },
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    assert!(answer.contains("\"payload_too_large\""), "{answer}");
    // Counted on a connection of its own, whatever became of the ones the uploads used.
    let (status, mocks) = json_of(
        reqwest::Client::new()
            .get(server.url("/api/v1/mocks"))
            .bearer_auth(&user.key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mocks, json!([]));
}

/// How [`raw_upload`] frames its body.
enum Framing {
    /// Announce this many bytes and send none of them: the server must answer from the headers.
    Length(usize),
    /// Send this many megabytes of spaces with `Transfer-Encoding: chunked`, no length announced.
    Chunked { megabytes: usize },
}

/// Sends an upload on a raw connection and returns the raw answer. The answer is read while
/// the body is still being written, so it is in hand before the server closes a connection
/// whose body it left unread (a close that may reset the connection and drop unread data).
async fn raw_upload(server: &Server, key: &str, path: &str, framing: Framing) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    let (mut reader, mut writer) = socket.into_split();
    let reading = tokio::spawn(async move {
        let mut answer = Vec::new();
        let _ = reader.read_to_end(&mut answer).await;
        String::from_utf8_lossy(&answer).into_owned()
    });
    let framing_header = match framing {
        Framing::Length(bytes) => format!("content-length: {bytes}"),
        Framing::Chunked { .. } => "transfer-encoding: chunked".to_owned(),
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer {key}\r\n\
         {framing_header}\r\nconnection: close\r\n\r\n"
    );
    writer.write_all(head.as_bytes()).await.unwrap();
    if let Framing::Chunked { megabytes } = framing {
        let chunk = format!("100000\r\n{}\r\n", " ".repeat(0x10_0000));
        for _ in 0..megabytes {
            if reading.is_finished() || writer.write_all(chunk.as_bytes()).await.is_err() {
                break;
            }
        }
        let _ = writer.write_all(b"0\r\n\r\n").await;
    }
    reading.await.unwrap()
}

// --- tenancy ---

#[tokio::test]
async fn another_workspaces_mock_can_be_neither_replaced_nor_exported() {
    let db = TestDatabase::new().await;
    let server = start(&db);
    let owner = server.sign_up("owner@example.com").await;
    let stranger = server.sign_up("stranger@example.com").await;
    let beer = corpus_file("postman", "microcks__microcks__BeerCatalogAPI");
    let answer = import(&server, &owner.key, "postman", beer.clone()).await;
    let mock = answer["mock"]["id"].as_str().unwrap();
    let before = examples_of(&server, &owner.key, mock).await;

    let petstore = corpus_file("openapi", "microcks__microcks__petstore");
    let (status, error) = upload(
        &server,
        &stranger.key,
        "openapi",
        &format!("?mock={mock}"),
        petstore,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{error}");
    assert_eq!(error["error"]["code"], "not_found");
    for format in ["native", "postman"] {
        let (status, _, _) = export(&server, &stranger.key, mock, format).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{format}");
    }
    assert_eq!(examples_of(&server, &owner.key, mock).await, before);
    assert_eq!(mock_count(&server, &stranger).await, 0);

    // Without credentials, nothing at all.
    let response = server
        .client
        .post(server.url("/api/v1/imports/postman"))
        .body(beer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

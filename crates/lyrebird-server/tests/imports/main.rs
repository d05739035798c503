//! Import and export through the API, black-box: a `lyrebird serve` process on a real port and a
//! real PostgreSQL. Every corpus file is uploaded and its mock called over HTTP for each imported
//! example (by name), the answer compared with the example and with what the engine gives for the
//! same request; a HAR of real calls goes back in; native and Postman exports read back; bad
//! files are refused and leave nothing behind; `?mock=` and exports stay within the workspace.

mod corpus;
mod into_mocks;
mod refusals;
#[path = "../../../lyrebird-import/tests/common/requests.rs"]
mod requests;
#[path = "../support/binary.rs"]
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

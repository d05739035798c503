//! The impact of a draft on a busy mock: 100,000 logged calls of a 500-example mock replayed
//! through the live mock and through a draft with 70 examples changed, then its health report
//! over the same calls, on a real PostgreSQL and the whole app (docs/performance.md, "Versions
//! and impact"). Prints the times and the process's peak memory; checks the counts.
//!
//! ```sh
//! cargo bench -p lyrebird-server --bench impact
//! ```

#[path = "../tests/support/in_process.rs"]
mod in_process;

use std::time::Instant;

use lyrebird_store::calls::{CallOutcomeKind, NewCall, StoredBody};
use lyrebird_store::testing::{TestDatabase, call, encoded};
use lyrebird_store::{MockId, WorkspaceId};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

const EXAMPLES: usize = 500;
const CALLS: usize = 100_000;
/// Examples whose path the draft changes, removes, and adds.
const MOVED: usize = 50;
const REMOVED: usize = 10;
const ADDED: usize = 10;

fn example(i: usize, path: &str) -> Value {
    json!({
        "name": format!("resource {i}"),
        "request": {"method": "GET", "path": path, "query": if i.is_multiple_of(5) { json!({"v": "1"}) } else { json!({}) }},
        "response": {"status": 200, "body": {"resource": i, "items": [1, 2, 3]}}
    })
}

/// The JSON answer to a request (the benchmark sends nothing the app refuses).
async fn json_of(request: reqwest::RequestBuilder) -> Value {
    request.send().await.unwrap().json().await.unwrap()
}

/// A number of kibibytes from /proc/self/status.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_default()
}

#[tokio::main]
async fn main() {
    // `cargo bench` runs this with --bench; the test runners (`cargo test --all-targets`,
    // nextest listing tests with --list) run it without, and it is a measurement, not a test.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let db = TestDatabase::new().await;
    let app = in_process::start(db.store().clone(), in_process::Options::default()).await;
    let client = reqwest::Client::new();
    let api =
        |method: reqwest::Method, path: &str| client.request(method, format!("{}{path}", app.base));
    let account: Value = json_of(
        api(reqwest::Method::POST, "/api/v1/accounts")
            .json(&json!({"email": "bench@example.com", "password": "correct horse battery"})),
    )
    .await;
    let key = account["api_key"].as_str().unwrap().to_owned();
    let workspace: WorkspaceId = account["workspace"]["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let mock: Value = json_of(
        api(reqwest::Method::POST, "/api/v1/mocks")
            .bearer_auth(&key)
            .json(&json!({"name": "busy"})),
    )
    .await;
    let id = mock["id"].as_str().unwrap().to_owned();
    let mock_id: MockId = id.parse().unwrap();
    let examples: Vec<Value> = (0..EXAMPLES)
        .map(|i| example(i, &format!("/r{i}/:id")))
        .collect();
    let stored: Value = json_of(
        api(
            reqwest::Method::PUT,
            &format!("/api/v1/mocks/{id}/examples"),
        )
        .bearer_auth(&key)
        .json(&examples),
    )
    .await;
    assert_eq!(stored.as_array().map(Vec::len), Some(EXAMPLES), "{stored}");

    // The calls, logged through the store as the call log's writer logs them: a resource each
    // (some beyond the examples, so they missed), over the last six days.
    let started = Instant::now();
    let now = OffsetDateTime::now_utc();
    // What a browser or an HTTP client sends, and a typical JSON answer.
    let headers: Vec<(String, String)> = [
        ("host", "busy.mock.example.com"),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0",
        ),
        ("accept", "application/json, text/plain, */*"),
        ("accept-language", "en-GB,en;q=0.9"),
        ("accept-encoding", "gzip, deflate, br"),
        (
            "authorization",
            "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abc",
        ),
    ]
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .to_vec();
    let answer = json!({"items": (0..12).map(|i| json!({"id": i, "name": format!("item {i}"), "price": 9.99})).collect::<Vec<_>>()}).to_string();
    let calls: Vec<NewCall> = (0..CALLS)
        .map(|n| {
            let resource = n % (EXAMPLES + ADDED);
            NewCall {
                path: format!("/r{resource}/{n}"),
                query: if resource.is_multiple_of(5) {
                    "v=1".to_owned()
                } else {
                    String::new()
                },
                outcome: if resource < EXAMPLES {
                    CallOutcomeKind::Matched
                } else {
                    CallOutcomeKind::NoMatch
                },
                request_headers: headers
                    .iter()
                    .map(|(name, value)| (name.clone().into(), value.clone().into()))
                    .collect(),
                response_body: StoredBody {
                    text: answer.clone(),
                    base64: false,
                    size: answer.len() as u64,
                },
                ..call(
                    workspace,
                    mock_id,
                    now - Duration::seconds((CALLS - n) as i64 * 5),
                )
            }
        })
        .collect();
    for chunk in calls.chunks(1_000) {
        db.store().insert_calls(&encoded(chunk), &[]).await.unwrap();
    }
    println!(
        "logged {CALLS} calls in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let draft = format!("/api/v1/mocks/{id}/draft");
    api(reqwest::Method::POST, &draft)
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    let mut edited: Vec<Value> = stored
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .take(EXAMPLES - REMOVED)
        .map(|(i, example)| {
            let mut example = example.clone();
            if i < MOVED {
                example["request"]["path"] = json!(format!("/r{i}/:id/v2"));
            }
            example
        })
        .collect();
    edited.extend((EXAMPLES..EXAMPLES + ADDED).map(|i| example(i, &format!("/r{i}/:id"))));
    let answer = api(reqwest::Method::PUT, &format!("{draft}/examples"))
        .bearer_auth(&key)
        .json(&edited)
        .send()
        .await
        .unwrap();
    assert!(
        answer.status().is_success(),
        "{}",
        answer.text().await.unwrap()
    );

    drop(calls);
    // The peak counts from here ("5" resets it: proc(5), /proc/pid/clear_refs).
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let resident = status_kib("VmRSS:");
    let started = Instant::now();
    let report: Value = json_of(
        api(reqwest::Method::POST, &format!("{draft}/impact"))
            .bearer_auth(&key)
            .json(&json!({"days": 7})),
    )
    .await;
    let took = started.elapsed();
    let peak = status_kib("VmHWM:");
    assert_eq!(report["calls"], CALLS, "{report}");
    // Each resource is called CALLS / (EXAMPLES + ADDED) times, give or take one.
    let per_resource = CALLS as f64 / (EXAMPLES + ADDED) as f64;
    let changed = report["changed"]["any"].as_f64().unwrap();
    let expected = (MOVED + REMOVED + ADDED) as f64 * per_resource;
    assert!((changed - expected).abs() <= 70.0, "{}", report["changed"]);
    println!(
        "replayed {} calls of a {EXAMPLES}-example mock in {:.2} s ({} ms by the server): {} changed ({} newly matched, {} no longer)",
        report["calls"],
        took.as_secs_f64(),
        report["elapsed_ms"],
        report["changed"]["any"],
        report["changed"]["newly_matched"],
        report["changed"]["no_longer_matched"],
    );
    println!(
        "resident memory before {} MiB, peak {} MiB",
        resident / 1024,
        peak / 1024
    );

    // The health report reads the same calls, through the live mock alone.
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let resident = status_kib("VmRSS:");
    let started = Instant::now();
    let health: Value = json_of(
        api(
            reqwest::Method::GET,
            &format!("/api/v1/mocks/{id}/health-report?days=7"),
        )
        .bearer_auth(&key),
    )
    .await;
    let took = started.elapsed();
    assert_eq!(health["calls"], CALLS, "{health}");
    println!(
        "health report of {} calls in {:.2} s: {} unmatched clusters, {} examples never hit; resident memory before {} MiB, peak {} MiB",
        health["calls"],
        took.as_secs_f64(),
        health["unmatched"].as_array().map_or(0, Vec::len),
        health["never_hit"].as_array().map_or(0, Vec::len),
        resident / 1024,
        status_kib("VmHWM:") / 1024,
    );
}

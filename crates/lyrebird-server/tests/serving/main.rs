//! Serving mocks, black-box: `lyrebird serve` processes on real ports, on a real PostgreSQL,
//! called over HTTP by both URL forms: routing, edits on the next call, LISTEN/NOTIFY between two
//! processes, private mocks, monthly quotas (one process exactly, two within the bound), delays,
//! CORS, fallbacks and explained 404s, usage and `lyrebird workspace set-quota`.

mod answers;
mod changes;
mod keys_and_quotas;
mod routing;
#[path = "../support/binary.rs"]
mod support;

use std::time::{Duration, Instant};

use lyrebird_store::testing::TestDatabase;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Server, example, json_of, lyrebird};

/// A mock whose one example echoes the path the engine saw, for any method.
fn echo_example() -> Value {
    json!({
        "name": "echo",
        "request": {"path": "/", "path_match": "prefix", "expression": "url != \"\""},
        "response": {"status": 200, "body": "path={{ request.path }} method={{ request.method }}", "template": true}
    })
}

async fn text(request: reqwest::RequestBuilder) -> (StatusCode, String) {
    let response = request.send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn status_of(request: reqwest::RequestBuilder) -> StatusCode {
    request.send().await.unwrap().status()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

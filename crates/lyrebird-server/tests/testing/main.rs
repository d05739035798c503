//! Mocks for test suites, black-box: `lyrebird serve` on a real port and a real PostgreSQL.
//! Every fault seen by a real client (the reset, the truncation, the trickle), chaos repeated by
//! its seed and keeping its share, drawn latencies fitting their setting, the simulated rate
//! limit in one process and two, and the verification API.

#[path = "../support/binary.rs"]
mod support;

mod faults;
mod rate_limit;
mod verify;

use futures_util::StreamExt;
use futures_util::stream;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use support::{Server, User};

/// Sends `count` calls of `path` to the mock, `concurrency` at a time; their statuses in order.
async fn burst(
    server: &Server,
    mock: &str,
    path: &str,
    count: usize,
    concurrency: usize,
) -> Vec<StatusCode> {
    stream::iter(0..count)
        .map(|_| async {
            server
                .by_path(Method::GET, mock, path)
                .send()
                .await
                .unwrap()
                .status()
        })
        .buffered(concurrency)
        .collect()
        .await
}

/// Returns once the server has written every call it answered before: the verification API
/// waits for that before it reads.
async fn written(server: &Server, user: &User, mock: &str) {
    let path = format!("/api/v1/mocks/{mock}/verify/unmatched");
    let (status, body) = server
        .api(Method::POST, &path, &user.key, Some(serde_json::json!({})))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Every logged call of the mock, newest first, paging through the call log.
async fn all_calls(server: &Server, user: &User, mock: &str) -> Vec<Value> {
    let mut calls = Vec::new();
    let mut cursor = String::new();
    loop {
        let path = format!("/api/v1/mocks/{mock}/calls?limit=200{cursor}");
        let (status, page) = server.api(Method::GET, &path, &user.key, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        calls.extend(page["calls"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => return calls,
        }
    }
}

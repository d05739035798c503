//! `GET /metrics`, black-box: `lyrebird serve` on a real port and a real PostgreSQL. Not served
//! without a token; refused without the right one; the counts exactly what the test sent; and
//! the same on an address of its own.

#[path = "../support/binary.rs"]
mod support;

use std::collections::BTreeMap;

use lyrebird_store::testing::TestDatabase;
use reqwest::{Method, StatusCode};
use serde_json::json;
use support::{Server, User};

const TOKEN: &str = "a-metrics-token-for-tests";

/// The samples of a scrape, by series with its labels (`name{label="value"}`).
async fn scrape(server: &Server, url: &str) -> BTreeMap<String, f64> {
    let answer = server
        .client
        .get(url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let kind = answer.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    let text = answer.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap();
            assert!(series.starts_with("lyrebird_"), "{line}");
            (series.to_owned(), value.parse().unwrap())
        })
        .collect()
}

/// Waits until the server has written every call it answered (the verification API waits for
/// that before it reads).
async fn written(server: &Server, user: &User, mock: &str) {
    let path = format!("/api/v1/mocks/{mock}/verify/unmatched");
    let (status, _) = server
        .api(Method::POST, &path, &user.key, Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn without_a_token_there_are_no_metrics() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let answer = server
        .client
        .get(server.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_counts_are_what_was_sent_and_only_the_token_reads_them() {
    let db = TestDatabase::new().await;
    let server = Server::start(
        &db,
        &[
            ("LYREBIRD_METRICS_TOKEN", TOKEN),
            ("LYREBIRD_METRICS_LISTEN", "127.0.0.1:0"),
        ],
    );
    for token in [None, Some("wrong")] {
        let mut request = server.client.get(server.url("/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        assert_eq!(
            request.send().await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }

    let user = server.sign_up("metrics@example.com").await;
    let examples = [
        json!({"name": "ok", "request": {"path": "/ok"}, "response": {"status": 200}}),
        json!({"name": "reset", "request": {"path": "/reset"},
               "response": {"fault": {"type": "reset"}}}),
    ];
    let settings = json!({"name": "counted", "rate_limit": {"limit": 5, "window_s": 86400}});
    let mock = server.create_mock(&user.key, settings, &examples).await;
    let before = scrape(&server, &server.url("/metrics")).await;
    for path in ["/ok", "/ok", "/ok", "/missing"] {
        server
            .by_path(Method::GET, &mock, path)
            .send()
            .await
            .unwrap();
    }
    assert!(
        server
            .by_path(Method::GET, &mock, "/reset")
            .send()
            .await
            .is_err()
    );
    let limited = server
        .by_path(Method::GET, &mock, "/ok")
        .send()
        .await
        .unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    written(&server, &user, &mock).await;

    let after = scrape(&server, &server.url("/metrics")).await;
    let grew = |series: &str| after[series] - before.get(series).copied().unwrap_or(0.0);
    assert_eq!(grew("lyrebird_mock_calls_total{outcome=\"matched\"}"), 4.0);
    assert_eq!(grew("lyrebird_mock_calls_total{outcome=\"no_match\"}"), 1.0);
    assert_eq!(
        grew("lyrebird_mock_calls_total{outcome=\"rate_limited\"}"),
        1.0
    );
    assert_eq!(grew("lyrebird_mock_faults_total{fault=\"reset\"}"), 1.0);
    assert_eq!(grew("lyrebird_mock_call_duration_seconds_count"), 6.0);
    assert_eq!(
        grew("lyrebird_mock_call_duration_seconds_bucket{le=\"+Inf\"}"),
        6.0
    );
    assert_eq!(grew("lyrebird_call_log_written_total"), 6.0);
    assert_eq!(after["lyrebird_call_log_dropped_total"], 0.0);
    // Every call looked its mock up once: loaded at first (and again if the database's word of
    // the last change came after it), then warm.
    let (hits, misses) = (
        grew("lyrebird_mock_cache_hits_total"),
        grew("lyrebird_mock_cache_misses_total"),
    );
    assert_eq!(hits + misses, 6.0);
    assert!((1.0..=2.0).contains(&misses), "{misses}");
    assert!(after["lyrebird_quota_leases_total"] >= 1.0);
    assert!(after["lyrebird_database_connections"] >= 1.0);

    // The same numbers on the address of its own.
    let logged = server.logged();
    let own = logged
        .split("metrics_listen=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the metrics address is logged");
    let there = scrape(&server, &format!("http://{own}/metrics")).await;
    assert_eq!(
        there["lyrebird_mock_calls_total{outcome=\"matched\"}"],
        after["lyrebird_mock_calls_total{outcome=\"matched\"}"]
    );
}

/// Every series the Grafana dashboard in deploy/ asks for is one the server serves.
#[tokio::test]
async fn the_dashboard_reads_only_series_that_exist() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[("LYREBIRD_METRICS_TOKEN", TOKEN)]);
    let served: Vec<String> = scrape(&server, &server.url("/metrics"))
        .await
        .into_keys()
        .map(|series| series.split('{').next().unwrap().to_owned())
        .collect();
    let dashboard = include_str!("../../../../deploy/grafana/lyrebird.json");
    let asked: Vec<&str> = dashboard
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("lyrebird_"))
        .collect();
    assert!(asked.len() > 10, "{asked:?}");
    for series in asked {
        assert!(
            served.iter().any(|name| name == series),
            "{series} is not served"
        );
    }
}

//! `GET /metrics`: the server's numbers in the Prometheus (OpenMetrics) text format, every
//! series named `lyrebird_…` (docs/operations.md, "Metrics").
//!
//! The runtime counts with plain atomics on the request path ([`lyrebird_runtime::stats`]);
//! a scrape reads them all at once and encodes them here with `prometheus-client`. On the public
//! listener the endpoint exists only when `LYREBIRD_METRICS_TOKEN` is set, and answers only
//! `Authorization: Bearer <token>`; `LYREBIRD_METRICS_LISTEN` serves it on an address of its own
//! (with the token too, when one is set), for a scraper inside the cluster's network.

use std::fmt;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use lyrebird_runtime::Runtime;
use lyrebird_runtime::stats::{DURATION_BUCKETS, FAULTS, OUTCOMES, Snapshot};
use lyrebird_store::Store;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use sha2::{Digest, Sha256};

use crate::AppState;
use crate::error::ApiError;

/// The OpenMetrics text format, which Prometheus reads.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `GET /metrics` on the public listener: not there without a token.
pub(crate) async fn public(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match &state.settings.metrics_token {
        None => ApiError::NoRoute.into_response(),
        Some(token) => scrape(&state, Some(&token.0), &headers),
    }
}

/// The router of `LYREBIRD_METRICS_LISTEN`: `GET /metrics` alone.
pub fn own_listener(state: AppState) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(
                |State(state): State<AppState>, headers: HeaderMap| async move {
                    let token = state.settings.metrics_token.as_ref();
                    scrape(&state, token.map(|token| token.0.as_str()), &headers)
                },
            ),
        )
        .with_state(state)
}

/// The metrics, to a caller that shows `token` when there is one.
fn scrape(state: &AppState, token: Option<&str>, headers: &HeaderMap) -> Response {
    if let Some(token) = token
        && !shows(headers, token)
    {
        return ApiError::InvalidCredentials(
            "send the metrics token: Authorization: Bearer <LYREBIRD_METRICS_TOKEN>",
        )
        .into_response();
    }
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scraped {
        runtime: state.runtime.clone(),
        store: state.store.clone(),
    }));
    let mut text = String::new();
    if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &registry) {
        return ApiError::Internal(Box::new(error)).into_response();
    }
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}

/// Whether the request carries `Authorization: Bearer <token>`, compared by digest so that the
/// time taken says nothing of how much of it was right.
fn shows(headers: &HeaderMap, token: &str) -> bool {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    Sha256::digest(given.trim()) == Sha256::digest(token.trim())
}

/// Everything read at one scrape.
#[derive(Debug)]
struct Scraped {
    runtime: Runtime,
    store: Store,
}

impl Collector for Scraped {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let numbers = self.runtime.metrics();
        let Snapshot {
            calls,
            faults,
            durations,
            duration_sum,
            ..
        } = &numbers;
        let mut family = encoder.encode_descriptor(
            "lyrebird_mock_calls",
            "Mock calls by outcome: the example answered, no match, the fallback, a preflight, or the reason of a refusal.",
            None,
            MetricType::Counter,
        )?;
        for (outcome, count) in OUTCOMES.iter().zip(calls) {
            ConstCounter::new(*count).encode(family.encode_family(&[("outcome", *outcome)])?)?;
        }
        let mut family = encoder.encode_descriptor(
            "lyrebird_mock_faults",
            "Mock calls answered with a fault, by fault (an example's or chaos's).",
            None,
            MetricType::Counter,
        )?;
        for (fault, count) in FAULTS.iter().zip(faults) {
            ConstCounter::new(*count).encode(family.encode_family(&[("fault", *fault)])?)?;
        }
        let buckets: Vec<(f64, u64)> = DURATION_BUCKETS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(durations.iter().copied())
            .collect();
        encoder
            .encode_descriptor(
                "lyrebird_mock_call_duration_seconds",
                "How long mock calls took, from the request read to the answer (delays included).",
                None,
                MetricType::Histogram,
            )?
            .encode_histogram::<NoLabelSet>(
                duration_sum.as_secs_f64(),
                durations.iter().sum(),
                &buckets,
                None,
            )?;
        let counters = [
            (
                "lyrebird_mock_cache_hits",
                "Lookups of a mock (calls, tries) that found it compiled in memory.",
                numbers.cache_hits,
            ),
            (
                "lyrebird_mock_cache_misses",
                "Loads of a mock from the database, compiled (calls waiting for one load count once).",
                numbers.cache_misses,
            ),
            (
                "lyrebird_quota_leases",
                "Leases of calls taken from a workspace's monthly quota in the database.",
                numbers.quota_leases,
            ),
            (
                "lyrebird_call_log_written",
                "Calls written to the call log.",
                numbers.log_written,
            ),
            (
                "lyrebird_call_log_dropped",
                "Calls (and callback results) the call log dropped: its queue was full, or the database stayed away at shutdown.",
                numbers.log_dropped,
            ),
            (
                "lyrebird_callbacks_answered",
                "Callbacks sent that got an answer (any status).",
                numbers.callbacks_answered,
            ),
            (
                "lyrebird_callbacks_failed",
                "Callbacks that failed or were not sent (refused address, timeout, shutdown).",
                numbers.callbacks_failed,
            ),
        ];
        for (name, help, value) in counters {
            ConstCounter::new(value).encode(encoder.encode_descriptor(
                name,
                help,
                None,
                MetricType::Counter,
            )?)?;
        }
        let pool = self.store.pool();
        let whole = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        let gauges = [
            (
                "lyrebird_mock_cache_mocks",
                "Compiled mocks held in memory.",
                whole(numbers.cache_mocks),
            ),
            (
                "lyrebird_call_log_queued",
                "Calls waiting for the call log's writer.",
                whole(numbers.log_queued),
            ),
            (
                "lyrebird_database_connections",
                "Connections of the database pool, open.",
                i64::from(pool.size()),
            ),
            (
                "lyrebird_database_connections_idle",
                "Connections of the database pool, idle.",
                whole(pool.num_idle() as u64),
            ),
        ];
        for (name, help, value) in gauges {
            ConstGauge::new(value).encode(encoder.encode_descriptor(
                name,
                help,
                None,
                MetricType::Gauge,
            )?)?;
        }
        ConstGauge::new(numbers.log_lag.as_secs_f64()).encode(encoder.encode_descriptor(
            "lyrebird_call_log_lag_seconds",
            "How long the oldest call of the last batch written waited for the writer (it stays while nothing is written).",
            None,
            MetricType::Gauge,
        )?)?;
        Ok(())
    }
}

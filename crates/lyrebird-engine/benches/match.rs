//! Selection time against mocks of 100, 1,000 and 10,000 examples with realistic variety:
//! different resources with path parameters, every common method, query conditions, header
//! conditions and JSON bodies. The budget (issue 3): the 10,000 case under 5 µs median and
//! under twice the 100 case. Results go into docs/performance.md.
//!
//! Each measured call gets a freshly built request, so parsing the query and body (cached on the
//! request after first use) is part of what is measured, as it is when serving.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use lyrebird_engine::{CompiledMock, Example, MatchSettings, Request, SelectionMode};
use serde_json::json;
use uuid::Uuid;

const NOUNS: [&str; 20] = [
    "users",
    "orders",
    "invoices",
    "products",
    "carts",
    "payments",
    "shipments",
    "reviews",
    "accounts",
    "teams",
    "projects",
    "tickets",
    "comments",
    "files",
    "events",
    "webhooks",
    "sessions",
    "tokens",
    "reports",
    "settings",
];

/// The resource name of example group `n`: `users`, ..., `users-b`, `orders-b`, ... Letters,
/// not digits, because real resource names have none (Postman's fuzzy step drops id-like
/// segments, and digits would make every resource look alike to it).
fn resource(n: usize) -> String {
    let noun = NOUNS[n % NOUNS.len()];
    let mut round = n / NOUNS.len();
    if round == 0 {
        return noun.to_owned();
    }
    let mut suffix = Vec::new();
    while round > 0 {
        suffix.push(b'a' + (round % 26) as u8);
        round /= 26;
    }
    suffix.reverse();
    format!("{noun}-{}", String::from_utf8_lossy(&suffix))
}

/// Example `i`: five shapes per resource.
fn example(i: usize) -> Example {
    let resource = resource(i / 5);
    let request = match i % 5 {
        0 => json!({"method": "GET", "path": format!("/api/v1/{resource}/:id"),
                    "query": {"fields": {"matches": "all|summary"}}}),
        1 => json!({"method": "GET", "path": format!("/api/v1/{resource}"),
                    "query": {"page": (i % 3).to_string(), "sort": "name"}}),
        2 => json!({"method": "POST", "path": format!("/api/v1/{resource}"),
                    "body": {"type": "json", "value": {"name": format!("item {i}"), "count": i, "tags": ["a", "b"]}}}),
        3 => json!({"method": "PUT", "path": format!("/api/v1/{resource}/:id/items/{{item}}"),
                    "headers": {"X-Tenant": "acme"}}),
        _ => json!({"method": "DELETE", "path": format!("/api/v1/{resource}/:id")}),
    };
    serde_json::from_value(json!({
        "name": format!("example {i}"),
        "request": request,
        "response": {"status": 200, "body": {"ok": true}}
    }))
    .expect("a valid example")
}

fn mock(size: usize, selection: SelectionMode) -> CompiledMock {
    let examples = (0..size)
        .map(|i| (Uuid::from_u128(i as u128 + 1), example(i)))
        .collect();
    let settings = MatchSettings {
        selection,
        ..MatchSettings::default()
    };
    CompiledMock::compile(examples, settings, BTreeMap::new()).expect("compiles")
}

/// Requests aimed at the middle of the mock, one for each of three shapes.
fn requests(size: usize) -> Vec<(&'static str, Request)> {
    let group = size / 10;
    let target = resource(group);
    let post = group * 5 + 2;
    let json_body = json!({"tags": ["a", "b"], "count": post, "name": format!("item {post}")});
    vec![
        (
            "get_with_id_and_query",
            Request::from_url(
                "GET",
                &format!("/api/v1/{target}/42?fields=all&trace=1"),
                &[],
                "",
            ),
        ),
        (
            "post_json",
            Request::from_url(
                "POST",
                &format!("/api/v1/{target}"),
                &[("Content-Type", "application/json")],
                json_body.to_string(),
            ),
        ),
        (
            "put_with_header",
            Request::from_url(
                "PUT",
                &format!("/api/v1/{target}/7/items/9"),
                &[("X-Tenant", "acme"), ("Accept", "application/json")],
                "",
            ),
        ),
    ]
}

fn fresh(request: &Request) -> Request {
    Request::new(
        request.method.clone(),
        request.path.clone(),
        request.query.clone(),
        request.headers.clone(),
        request.body.clone(),
    )
}

fn select(c: &mut Criterion, selection: SelectionMode, group_name: &str) {
    let mut group = c.benchmark_group(group_name);
    for size in [100, 1_000, 10_000] {
        let mock = mock(size, selection);
        for (name, request) in requests(size) {
            assert!(
                mock.select(&request).matched().is_some(),
                "{name} should match in a mock of {size}"
            );
            group.bench_with_input(BenchmarkId::new(name, size), &request, |b, request| {
                b.iter_batched(
                    || fresh(request),
                    |request| black_box(mock.select(&request)),
                    BatchSize::SmallInput,
                );
            });
        }
    }
    group.finish();
}

/// A request that matches nothing, explained by its closest examples. Its path shares `/api/v1`
/// with every example and a resource with none, so thousands of examples are about as close.
fn no_match(c: &mut Criterion, selection: SelectionMode, group_name: &str) {
    let mut group = c.benchmark_group(group_name);
    for size in [100, 1_000, 10_000] {
        let mock = mock(size, selection);
        let request = Request::from_url("GET", "/api/v1/nothing/here?fields=none", &[], "");
        assert!(mock.select(&request).matched().is_none());
        group.bench_with_input(BenchmarkId::from_parameter(size), &request, |b, request| {
            b.iter_batched(
                || fresh(request),
                |request| black_box(mock.select(&request)),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

/// Postman's control headers naming the example in the middle of the mock.
fn control_headers(c: &mut Criterion) {
    let mut group = c.benchmark_group("control_headers_postman");
    for size in [100, 1_000, 10_000] {
        let mock = mock(size, SelectionMode::Postman);
        let target = size / 2;
        let headers = [
            (
                "by_id",
                "x-mock-response-id",
                Uuid::from_u128(target as u128 + 1).to_string(),
            ),
            (
                "by_name",
                "x-mock-response-name",
                format!("example {target}"),
            ),
        ];
        for (name, header, value) in headers {
            let request = Request::from_url("GET", "/elsewhere", &[(header, value.as_str())], "");
            let selection = mock.select(&request);
            assert_eq!(selection.matched().map(|m| m.index), Some(target), "{name}");
            group.bench_with_input(BenchmarkId::new(name, size), &request, |b, request| {
                b.iter_batched(
                    || fresh(request),
                    |request| black_box(mock.select(&request)),
                    BatchSize::SmallInput,
                );
            });
        }
    }
    group.finish();
}

fn rules(c: &mut Criterion) {
    select(c, SelectionMode::Rules, "select_rules");
}

fn postman(c: &mut Criterion) {
    select(c, SelectionMode::Postman, "select_postman");
}

fn no_match_rules(c: &mut Criterion) {
    no_match(c, SelectionMode::Rules, "explain_no_match_rules");
}

fn no_match_postman(c: &mut Criterion) {
    no_match(c, SelectionMode::Postman, "explain_no_match_postman");
}

criterion_group!(
    benches,
    rules,
    postman,
    no_match_rules,
    no_match_postman,
    control_headers
);
criterion_main!(benches);

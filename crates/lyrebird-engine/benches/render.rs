//! Rendering a typical JSON response template: about fifteen fields drawn from the request, the
//! path captures, the environment, a uuid and a formatted date. Budget: under 10 µs.
//!
//! And the template most mocks have: a JSON body (given as a JSON value, so compiled from its
//! compact text) of fixed fields and a few plain lookups and `now()`, answering `GET /orders/42`;
//! and one that echoes fields of the request's JSON body and a header.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use lyrebird_engine::render::{CompiledResponse, RenderContext};
use lyrebird_engine::{Request, ResponseSpec};
use serde_json::json;
use time::macros::datetime;

const TEMPLATE: &str = r#"{
  "id": "{{ uuid() }}",
  "order": "{{ path.id }}",
  "customer": "{{ request.json.customer.name }}",
  "email": "{{ request.json.customer.email }}",
  "items": {{ request.json['items'] | length }},
  "first_sku": "{{ request.json['items'][0].sku }}",
  "total": {{ (request.json.total * 1.2) | format_number(2) }},
  "currency": "{{ request.query.currency | default('EUR') }}",
  "method": "{{ request.method }}",
  "path": "{{ request.path }}",
  "trace": "{{ request.headers['x-trace-id'] }}",
  "session": "{{ request.cookies.session }}",
  "region": "{{ env.region }}",
  "created": "{{ now() | date('yyyy-MM-dd HH:mm:ss') }}",
  "expires": "{{ now() | add_days(30) | date('%Y-%m-%d') }}"
}"#;

fn render(c: &mut Criterion) {
    let spec = ResponseSpec {
        body: Some(serde_json::Value::String(TEMPLATE.to_owned())),
        template: true,
        ..ResponseSpec::default()
    };
    let response = CompiledResponse::compile(&spec).expect("the benchmark template compiles");
    let request = Request::from_url(
        "POST",
        "/orders/1234?currency=USD",
        &[
            ("Content-Type", "application/json"),
            ("X-Trace-Id", "abc-123"),
            ("Cookie", "session=s1; theme=dark"),
        ],
        r#"{"customer":{"name":"Ada","email":"ada@example.com"},"items":[{"sku":"A1","qty":2},{"sku":"B2","qty":1}],"total":99.5}"#,
    );
    let env = BTreeMap::from([("region".to_owned(), "eu-west".to_owned())]);
    let captures = [("id".to_owned(), "1234".to_owned())];
    let ctx = RenderContext {
        request: &request,
        captures: &captures,
        env: &env,
        now: datetime!(2016-02-29 16:39:54 UTC),
        state: None,
    };
    let rendered = response.render(&ctx, &mut Vec::new());
    assert_eq!(rendered.error, None);
    serde_json::from_slice::<serde_json::Value>(&rendered.body).expect("the body is JSON");

    c.bench_function("render typical JSON template", |b| {
        b.iter(|| black_box(response.render(black_box(&ctx), &mut Vec::new())))
    });
}

fn render_plain(c: &mut Criterion) {
    let spec = ResponseSpec {
        body: Some(json!({
            "id": "{{ path.id }}", "status": "shipped", "url": "{{ request.url }}", "at": "{{ now() }}",
            "customer": {"name": "Ada Lovelace", "email": "ada@example.com"},
            "items": [{"sku": "A1", "qty": 2, "price": 9.5}, {"sku": "B2", "qty": 1, "price": 80.5}],
            "total": 99.5
        })),
        template: true,
        ..ResponseSpec::default()
    };
    let response = CompiledResponse::compile(&spec).expect("the benchmark template compiles");
    let request = Request::from_url("GET", "/orders/42", &[("Accept", "*/*")], "");
    let captures = [("id".to_owned(), "42".to_owned())];
    let ctx = RenderContext {
        request: &request,
        captures: &captures,
        env: &BTreeMap::new(),
        now: datetime!(2026-12-06 08:46:03.792917763 UTC),
        state: None,
    };
    let rendered = response.render(&ctx, &mut Vec::new());
    assert_eq!(rendered.error, None);
    assert_eq!(
        String::from_utf8(rendered.body).expect("the body is text"),
        r#"{"id":"42","status":"shipped","url":"/orders/42","at":"2026-12-06T08:46:03.792917763Z","customer":{"name":"Ada Lovelace","email":"ada@example.com"},"items":[{"sku":"A1","qty":2,"price":9.5},{"sku":"B2","qty":1,"price":80.5}],"total":99.5}"#
    );

    c.bench_function("render plain JSON template", |b| {
        b.iter(|| black_box(response.render(black_box(&ctx), &mut Vec::new())))
    });
}

fn render_echo(c: &mut Criterion) {
    let spec = ResponseSpec {
        body: Some(json!({
            "customer": "{{ request.json.customer.name }}",
            "email": "{{ request.json.customer.email }}",
            "first_sku": "{{ request.json['items'][0].sku }}",
            "trace": "{{ request.headers['x-trace-id'] }}"
        })),
        template: true,
        ..ResponseSpec::default()
    };
    let response = CompiledResponse::compile(&spec).expect("the benchmark template compiles");
    let request = Request::from_url(
        "POST",
        "/orders",
        &[
            ("Content-Type", "application/json"),
            ("X-Trace-Id", "abc-123"),
        ],
        r#"{"customer":{"name":"Ada","email":"ada@example.com"},"items":[{"sku":"A1","qty":2},{"sku":"B2","qty":1}],"total":99.5}"#,
    );
    let ctx = RenderContext {
        request: &request,
        captures: &[],
        env: &BTreeMap::new(),
        now: datetime!(2026-12-06 08:46:03 UTC),
        state: None,
    };
    let rendered = response.render(&ctx, &mut Vec::new());
    assert_eq!(
        String::from_utf8(rendered.body).expect("the body is text"),
        r#"{"customer":"Ada","email":"ada@example.com","first_sku":"A1","trace":"abc-123"}"#
    );

    c.bench_function("render JSON echo template", |b| {
        b.iter(|| black_box(response.render(black_box(&ctx), &mut Vec::new())))
    });
}

criterion_group!(benches, render, render_plain, render_echo);
criterion_main!(benches);

//! Postman-mode selection in a mock imported from a real collection, compiled as the server
//! compiles it: the Aruba Central MSP API collection of the test corpus, 96 examples, eight saved
//! responses (200, 400, 401, ...) for each of its twelve requests. Collections generated from an
//! OpenAPI document look like this, and it is what a Postman-mode mock mostly serves.
//!
//! The bench lives in the importer because the engine does not depend on it: the mock is built
//! from the collection by the same import the server runs. Each measured call gets a freshly
//! built request, as in the engine's `match` bench.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use lyrebird_engine::{CompiledMock, Request};
use uuid::Uuid;

fn aruba() -> CompiledMock {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus/postman/aruba__aruba-postman-collections__Central_msp_api.json");
    let bytes = std::fs::read(file).expect("the corpus file");
    let imported = lyrebird_import::postman::import(&bytes, None).expect("imports");
    // Ids in example order, as UUIDv7 ids from the store would be.
    let examples = imported
        .examples
        .into_iter()
        .enumerate()
        .map(|(position, example)| (Uuid::from_u128(position as u128 + 1), example))
        .collect();
    CompiledMock::compile(examples, imported.settings, imported.environment).expect("compiles")
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

fn select(c: &mut Criterion) {
    let mock = aruba();
    let mut group = c.benchmark_group("select_postman_imported");
    let requests = [
        ("get_by_id", "GET", "/msp_api/v1/customers/42"),
        (
            "get_with_query",
            "GET",
            "/msp_api/v1/customers?offset=0&limit=10&customer_name=acme",
        ),
        ("no_match", "GET", "/msp_api/v2/nothing"),
    ];
    for (name, method, url) in requests {
        let request = Request::from_url(method, url, &[], "");
        assert_eq!(
            mock.select(&request).matched().is_some(),
            name != "no_match",
            "{name}"
        );
        group.bench_function(name, |b| {
            b.iter_batched(
                || fresh(&request),
                |request| black_box(mock.select(&request)),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, select);
criterion_main!(benches);

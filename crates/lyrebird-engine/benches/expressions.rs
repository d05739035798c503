//! What one expression evaluation costs at the limits (`docs/expressions.md`, "Limits"): the
//! worst an example's condition can cost a request, next to an ordinary condition.
//!
//! - `ordinary`: a typical condition on the method and a header.
//! - `operation_limit`: a loop that runs until the operation limit stops it.
//! - `largest_strings`: a loop that builds strings as large as the string limit allows, over
//!   and over, until the operation limit stops it: the most memory traffic an evaluation can
//!   cause.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use lyrebird_engine::Request;
use lyrebird_engine::expr::Expression;

fn expressions(c: &mut Criterion) {
    let request = Request::new(
        "POST",
        "/orders",
        "",
        vec![("x-tenant".to_owned(), "acme".to_owned())],
        b"{}".to_vec(),
    );
    let cases = [
        (
            "ordinary",
            r#"method == "POST" && headers["x-tenant"] == "acme""#,
        ),
        (
            "operation_limit",
            "let n = 0; while path != \"\" { n += 1; } true",
        ),
        (
            "largest_strings",
            "let s = path; while s.len() * 4 <= MAX { s += s; } \
             while path != \"\" { let t = s + s; } true",
        ),
    ];
    let mut group = c.benchmark_group("expression");
    group.sample_size(10);
    for (name, source) in cases {
        let source = source.replace("MAX", &lyrebird_engine::expr::MAX_STRING_BYTES.to_string());
        let expression = Expression::compile(&source).expect("compiles");
        group.bench_function(name, |b| b.iter(|| black_box(expression.eval(&request))));
    }
    group.finish();
}

criterion_group!(benches, expressions);
criterion_main!(benches);

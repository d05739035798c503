//! A template cannot take more than one render's budget: strings that would pass
//! `RENDER_BYTES` are refused before they are allocated, or stop the render once they are, and
//! a render that runs past `RENDER_TIME` stops. Each case is what once aborted the whole server
//! (`memory allocation of 1600000000 bytes failed`) or held a worker for minutes.

use lyrebird_engine::template::{RENDER_BYTES, RENDER_TIME, RenderError, Template};
use minijinja::Value;

fn render(source: &str) -> Result<String, RenderError> {
    let template = Template::compile(source).expect("compiles");
    template
        .render(Value::UNDEFINED)
        .map(|(bytes, _)| String::from_utf8(bytes).expect("UTF-8"))
}

fn assert_over_memory(source: &str) {
    let error = render(source).expect_err(source);
    assert!(error.limit, "{source}: {error:?}");
    assert_eq!(
        error.message,
        format!(
            "the template built more than {} MiB of strings",
            RENDER_BYTES >> 20
        ),
        "{source}"
    );
}

#[test]
fn five_doublings_of_a_long_string_stop_at_the_budget() {
    assert_over_memory(
        r#"{% set a = "x" * 10000000 %}{% set b = a ~ a %}{% set c = b ~ b %}{% set d = c ~ c %}{% set e = d ~ d %}{% set f = e ~ e %}{{ f | length }}"#,
    );
    assert_over_memory(
        r#"{% set a = "x" * 10000000 %}{% set b = a + a %}{% set c = b + b %}{% set d = c + c %}{{ d | length }}"#,
    );
}

#[test]
fn a_repetition_larger_than_the_budget_is_refused_before_it_is_made() {
    assert_over_memory(r#"{{ "x" * 100000000 }}"#);
    assert_over_memory(r#"{{ ("x" * 1000) * 100000 }}"#);
    assert_over_memory(r#"{{ (["x"] * 100000000) | length }}"#);
}

#[test]
fn strings_made_one_by_one_count_together() {
    assert_over_memory(
        r#"{% set ns = namespace(parts=[]) %}{% for i in range(200) %}{% set ns.parts = ns.parts + [("y" * 200000) ~ i] %}{% endfor %}{{ ns.parts | length }}"#,
    );
}

#[test]
fn displaying_a_repeated_long_string_stops_at_the_budget() {
    assert_over_memory(
        r#"{% set a = "x" * 1000000 %}{% set s = [a] * 100000 %}{{ (s ~ "") | length }}"#,
    );
    assert_over_memory(r#"{% set a = "x" * 1000000 %}{{ ([a] * 100000) | join(",") | length }}"#);
    assert_over_memory(r#"{% set a = "x" * 1000000 %}{{ ([a] * 100000) | tojson | length }}"#);
}

#[test]
fn widths_and_growth_asked_by_filters_are_refused_before_they_are_made() {
    assert_over_memory(r#"{{ "%999999999999s" | format("x") }}"#);
    assert_over_memory(r#"{{ "%.999999999999f" | format(1.5) }}"#);
    assert_over_memory(r#"{{ ("a\n" * 1000) | indent(999999999) }}"#);
    assert_over_memory(r#"{{ ("a" * 100000) | replace("a", "b" * 100000) }}"#);
    assert_over_memory(r#"{{ [[[[1]]]] | tojson(indent=999999999) }}"#);
}

#[test]
fn a_render_that_runs_past_its_time_stops() {
    let error = render(
        r#"{% set a = "x" * 20000000 %}{% for i in range(90000) %}{% if "y" in a %}{% endif %}{% endfor %}"#,
    )
    .expect_err("stops");
    assert!(error.limit, "{error:?}");
    assert_eq!(
        error.message,
        format!(
            "the template ran for more than {} ms",
            RENDER_TIME.as_millis()
        )
    );
}

#[test]
fn ordinary_templates_are_untouched_and_the_budget_is_per_render() {
    let source = r#"{% set a = "x" * 10000000 %}{{ (a ~ a) | length }}"#;
    for _ in 0..5 {
        assert_eq!(render(source).expect("renders"), "20000000");
    }
    assert_eq!(
        render(r#"{{ "id-" ~ 7 }} {{ [1, 2] * 2 }} {{ "%05.1f" | format(3.14159) }}"#)
            .expect("renders"),
        "id-7 [1, 2, 1, 2] 003.1"
    );
}

#[test]
fn compiling_does_not_fold_a_constant_past_the_budget() {
    // MiniJinja folds constant expressions when it compiles: the folding is budgeted too, and
    // left to the render, which refuses it.
    assert_over_memory(r#"{{ ("x" * 30000000) ~ ("x" * 30000000) }}"#);
}

#[test]
fn a_callback_body_is_capped_because_it_waits_in_memory() {
    let error = render(r#"{{ callback("https://hooks.example.com/", body="y" * 300000) }}"#)
        .expect_err("refused");
    assert!(!error.limit);
    assert_eq!(
        error.message,
        format!(
            "invalid operation: a callback body may be at most {} bytes, this one has 300000 (line 1)",
            lyrebird_engine::template::MAX_CALLBACK_BODY_BYTES
        )
    );
}

//! The scripting side of the engine from the outside: expressions (docs/expressions.md), XML body
//! comparison (docs/examples-format.md, "Body conditions"), templates (docs/templates.md), and what
//! hostile scripts and documents get.

use std::collections::BTreeMap;

use lyrebird_engine::expr::Expression;
use lyrebird_engine::render::{CompiledResponse, RenderContext, Rendered};
use lyrebird_engine::template::{postman_dynamic_to_template, translate_postman_template};
use lyrebird_engine::{Header, Request, ResponseSpec, xml};
use proptest::prelude::*;
use serde_json::json;
use time::macros::datetime;

fn eval(expression: &str, request: &Request) -> Result<bool, String> {
    Expression::compile(expression)
        .expect("the expression compiles")
        .eval(request)
}

fn post(url: &str, content_type: &str, body: &str) -> Request {
    Request::from_url("POST", url, &[("Content-Type", content_type)], body)
}

#[test]
fn url_expression_matches_user_ids_only() {
    let expression = Expression::compile(r#"url matches `.*/user/\d+`"#).unwrap();
    assert!(expression.uses_url());
    let get = |url| Request::from_url("GET", url, &[], "");
    assert_eq!(expression.eval(&get("/api/user/1")), Ok(true));
    assert_eq!(expression.eval(&get("/api/user/foobar")), Ok(false));
}

#[test]
fn body_starts_with_expression() {
    let request = post("/expression", "text/plain", "string");
    assert_eq!(eval(r#"body.starts_with("str")"#, &request), Ok(true));
    assert_eq!(eval(r#"body.starts_with("xyz")"#, &request), Ok(false));
}

#[test]
fn cookie_header_expression() {
    let request = Request::from_url("GET", "/expression", &[("Cookie", "str")], "");
    assert_eq!(eval(r#"headers["cookie"] == "str""#, &request), Ok(true));
    assert_eq!(eval(r#"headers.cookie == "other""#, &request), Ok(false));
    assert_eq!(
        eval(r#"headers["x-missing"] == "str""#, &request),
        Ok(false)
    );
}

#[test]
fn json_path_expression_reads_the_not_quite_json_body() {
    let expression = r#"json_path(body, "$.bar.p2[0]") == 1"#;
    let strict = post(
        "/expression",
        "application/json",
        r#"{"foo":"ok","bar":{"p1":1,"p2":[1,2,3]}}"#,
    );
    assert_eq!(eval(expression, &strict), Ok(true));
    let lenient = post(
        "/expression",
        "application/json",
        r#"{foo:"ok",bar:{p1:1,p2:[1,2,3]}}}"#,
    );
    assert_eq!(eval(expression, &lenient), Ok(true));
    assert_eq!(eval(r#"is_json(body)"#, &lenient), Ok(false));
    assert_eq!(
        eval(r#"json_path(body, "$.nothing") == ()"#, &strict),
        Ok(true)
    );
}

#[test]
fn xpath_expression_on_the_body() {
    let request = post(
        "/expression",
        "application/xml",
        r#"<foo><bar attr="true">value</bar></foo>"#,
    );
    let expression = r#"xpath(body, "//bar[@attr='true']/text()") == "value""#;
    assert_eq!(eval(expression, &request), Ok(true));
    assert_eq!(eval("is_xml(body)", &request), Ok(true));
    let not_xml = post("/expression", "text/plain", "value");
    assert_eq!(eval(expression, &not_xml), Ok(false));
    assert_eq!(eval(r#"xpath(body, "/foo") == ()"#, &not_xml), Ok(true));
}

#[test]
fn every_input_is_readable() {
    let request = Request::from_url(
        "post",
        "/shop/cart?item=7&item=8",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", "session=abc"),
            ("X-Trace", "t1"),
        ],
        "qty=2",
    );
    let expression = r#"
        url == "/shop/cart?item=7&item=8" && path == "/shop/cart" && method == "POST"
            && body == "qty=2" && headers["x-trace"] == "t1" && query.item == "7"
            && form.qty == "2" && form.item == "7" && params.qty == "2"
            && cookies.session == "abc"
    "#;
    assert_eq!(eval(expression, &request), Ok(true));
    let plain = Request::from_url("GET", "/shop?item=7", &[], "");
    assert_eq!(
        eval("form.len() == 0 && params.item == \"7\"", &plain),
        Ok(true)
    );
}

#[test]
fn uses_url_is_false_when_url_appears_only_in_a_string() {
    let expression = Expression::compile(r#"path == "/url" && "url" != body"#).unwrap();
    assert!(!expression.uses_url());
}

#[test]
fn regex_helpers_say_whole_or_anywhere() {
    let request = Request::from_url("GET", "/api/user/12", &[], "");
    assert_eq!(
        eval("regex_match(path, `/api/user/\\d+`)", &request),
        Ok(true)
    );
    assert_eq!(
        eval(r#"regex_match(path, "user/\\d+")"#, &request),
        Ok(false)
    );
    assert_eq!(eval("regex_find(path, `user/\\d+`)", &request), Ok(true));
    assert_eq!(eval(r#"headers.missing matches ".*""#, &request), Ok(false));
    let error = eval(r#"path matches "(""#, &request).unwrap_err();
    assert!(error.contains("invalid regular expression"), "{error}");
}

#[test]
fn syntax_errors_name_line_and_column() {
    let error = Expression::compile("path == \"/a\" &&\n  (method == ").unwrap_err();
    assert_eq!(error.line, Some(2));
    assert!(error.column.is_some());
    let typo = Expression::compile("pth == \"/a\"").unwrap_err();
    assert!(typo.message.contains("pth"), "{}", typo.message);
    assert_eq!((typo.line, typo.column), (Some(1), Some(1)));
}

#[test]
fn constant_expressions_must_be_boolean() {
    assert!(Expression::compile("true").is_ok());
    let error = Expression::compile("\"yes\"").unwrap_err();
    assert!(error.message.contains("true or false"), "{}", error.message);
    assert!(Expression::compile("  ").is_err());
}

#[test]
fn non_boolean_results_are_errors_with_a_reason() {
    let request = Request::from_url("GET", "/a", &[], "");
    let error = eval("path", &request).unwrap_err();
    assert!(
        error.contains("true or false") && error.contains("string"),
        "{error}"
    );
}

#[test]
fn an_endless_loop_hits_the_operation_limit() {
    let request = Request::from_url("GET", "/a", &[], "");
    let error = eval("while path != \"\" { } true", &request).unwrap_err();
    assert!(error.contains("operation limit"), "{error}");
}

#[test]
fn deep_recursion_hits_the_call_depth_limit() {
    let request = Request::from_url("GET", "/a", &[], "");
    let error = eval("fn f(n) { f(n + 1) } f(path.len)", &request).unwrap_err();
    assert!(error.contains("call depth limit"), "{error}");
}

#[test]
fn huge_strings_are_refused() {
    // Past the limit in one step, so that the time limit cannot come first however slow the
    // build is.
    let half = "x".repeat(lyrebird_engine::expr::MAX_STRING_BYTES / 2 + 1);
    let request = Request::from_url("POST", "/a", &[], half.as_str());
    let error = eval("let s = body + body; true", &request).unwrap_err();
    assert!(error.contains("too large"), "{error}");
}

#[test]
fn copying_the_largest_strings_over_and_over_hits_the_time_limit() {
    // Every operation copies megabytes: the operation limit alone let this run for seconds.
    let source = format!(
        "let s = path; while s.len() * 4 <= {} {{ s += s; }} while path != \"\" {{ let t = s + s; }} true",
        lyrebird_engine::expr::MAX_STRING_BYTES
    );
    let error = eval(&source, &Request::from_url("GET", "/a", &[], "")).unwrap_err();
    let limit = lyrebird_engine::expr::MAX_EVAL_TIME.as_millis();
    assert!(
        error.contains(&format!("time limit of {limit} ms reached")),
        "{error}"
    );
}

#[test]
fn huge_arrays_and_maps_are_refused() {
    let members: Vec<String> = (0..=lyrebird_engine::expr::MAX_COLLECTION_LEN)
        .map(|i| format!("\"k{i}\": {i}"))
        .collect();
    let body = format!("{{{}}}", members.join(","));
    let request = Request::from_url("POST", "/a", &[], body.as_str());
    for source in [
        "let a = [path]; loop { a += a; } true",
        "let m = json_path(body, \"$\"); true",
    ] {
        let error = eval(source, &request).unwrap_err();
        assert!(error.contains("too large"), "{source}: {error}");
    }
}

#[test]
fn expressions_cannot_import_modules_or_eval() {
    let import = Expression::compile("import \"/etc/passwd\" as p; path == \"/\"").unwrap();
    let error = import.eval(&Request::default()).unwrap_err();
    assert!(error.contains("/etc/passwd"), "{error}");
    assert!(Expression::compile("eval(\"true\")").is_err());
}

#[test]
fn hostile_xml_is_refused_without_expansion() {
    let laughs = format!(
        "<!DOCTYPE l [<!ENTITY a \"{}\">]><l>&a;</l>",
        "ha".repeat(10)
    );
    assert!(xml::parse(&laughs).unwrap_err().contains("DOCTYPE"));
    let external = r#"<?xml version="1.0"?><!DOCTYPE x SYSTEM "http://127.0.0.1/evil.dtd"><x/>"#;
    assert!(xml::parse(external).is_err());
    let deep = format!("{}{}", "<a>".repeat(10_000), "</a>".repeat(10_000));
    assert!(xml::parse(&deep).is_err());
    assert!(!xml::is_xml(&deep));
}

#[test]
fn xml_structural_equality_cases() {
    let rule = xml::parse(r#"<foo><bar attr="true">value</bar></foo>"#).unwrap();
    let check = |text: &str| xml::structurally_equal(&rule, &xml::parse(text).unwrap());
    assert!(check("<foo>\n  <bar attr=\"true\">value</bar>\n</foo>").is_ok());
    assert!(check(r#"<foo><bar attr=" true ">value</bar></foo>"#).is_err());
    assert!(check(r#"<foo><bar attr="true">value</bar><bar/></foo>"#).is_err());
    assert!(check(r#"<foo><bar>value</bar></foo>"#).is_err());
    let difference = check(r#"<foo><baz/><bar attr="true">value</bar></foo>"#).unwrap_err();
    assert_eq!(difference.location, "/foo/bar[1]");
    let json = serde_json::to_value(&difference).unwrap();
    assert_eq!(json["location"], "/foo/bar[1]");
}

fn template_spec(body: &str) -> ResponseSpec {
    ResponseSpec {
        body: Some(json!(body)),
        template: true,
        ..ResponseSpec::default()
    }
}

fn render_spec(spec: &ResponseSpec, request: &Request) -> Rendered {
    let env = BTreeMap::from([("region".to_owned(), "eu".to_owned())]);
    let captures = [("id".to_owned(), "42".to_owned())];
    let response = CompiledResponse::compile(spec).expect("the response compiles");
    response.render(
        &RenderContext {
            request,
            captures: &captures,
            env: &env,
            now: datetime!(2016-02-29 16:39:54 UTC),
            state: None,
        },
        &mut Vec::new(),
    )
}

fn render(template: &str, request: &Request) -> String {
    let rendered = render_spec(&template_spec(template), request);
    assert_eq!(rendered.error, None, "rendering {template:?}");
    String::from_utf8(rendered.body).unwrap()
}

fn get(url: &str) -> Request {
    Request::from_url("GET", url, &[], "")
}

#[test]
fn greet_template_renders_exactly() {
    let template = "Hello, {{ request.json.name }}!\n {{ request.json.count + 1 }} times you visit \
                    [{{ request.url | trim('/') }}] api.\n --{{ now() | date('yyyy-M-d H:mm:ss') }}";
    let foo = post("/greet", "application/json", r#"{"name":"foo","count":5}"#);
    assert_eq!(
        render(template, &foo),
        "Hello, foo!\n 6 times you visit [greet] api.\n --2016-2-29 16:39:54"
    );
    let bar = post(
        "/greet",
        "application/json",
        r#"{"name":"bar","count":100}"#,
    );
    assert!(render(template, &bar).starts_with("Hello, bar!\n 101 times you visit [greet] api."));
}

#[test]
fn request_data_env_and_captures_are_in_the_context() {
    let request = Request::from_url(
        "POST",
        "/orders/42?expand=items&expand=other",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", "session=abc"),
            ("X-Trace", "t1"),
        ],
        "qty=2",
    );
    let template = "{{ request.method }} {{ request.path }} {{ request.url }} {{ request.query.expand }} \
                    {{ request.headers['x-trace'] }} {{ request.cookies.session }} {{ request.form.qty }} \
                    {{ request.body }} {{ request.segments[1] }} {{ path.id }} {{ env.region }}";
    assert_eq!(
        render(template, &request),
        "POST /orders/42 /orders/42?expand=items&expand=other items t1 abc 2 qty=2 42 42 eu"
    );
}

#[test]
fn json_bodies_are_sent_compact_with_a_content_type() {
    let spec = ResponseSpec {
        body: Some(json!({"id": 1, "tags": ["a"]})),
        ..ResponseSpec::default()
    };
    let rendered = render_spec(&spec, &get("/"));
    assert_eq!(rendered.body, br#"{"id":1,"tags":["a"]}"#);
    assert_eq!(
        rendered.headers,
        [("content-type".to_owned(), "application/json".to_owned())]
    );
    let explicit = ResponseSpec {
        headers: vec![Header {
            name: "Content-Type".into(),
            value: "application/vnd.api+json".into(),
        }],
        ..spec
    };
    assert_eq!(render_spec(&explicit, &get("/")).headers.len(), 1);
    let text = ResponseSpec {
        body: Some(json!("{{ not a template }}")),
        ..ResponseSpec::default()
    };
    let rendered = render_spec(&text, &get("/"));
    assert_eq!(rendered.body, b"{{ not a template }}");
    assert!(rendered.headers.is_empty());
}

#[test]
fn a_templated_json_body_renders_its_strings() {
    let spec = ResponseSpec {
        body: Some(json!({"id": "{{ path.id }}", "region": "{{ env.region }}"})),
        template: true,
        delay_ms: 5,
        ..ResponseSpec::default()
    };
    let rendered = render_spec(&spec, &get("/"));
    assert_eq!(rendered.body, br#"{"id":"42","region":"eu"}"#);
    assert_eq!(rendered.delay_ms, 5);
}

#[test]
fn templated_header_values_render() {
    let spec = ResponseSpec {
        headers: vec![
            Header {
                name: "Location".into(),
                value: "/orders/{{ path.id }}".into(),
            },
            Header {
                name: "X-Fixed".into(),
                value: "plain".into(),
            },
        ],
        ..template_spec("")
    };
    let rendered = render_spec(&spec, &get("/"));
    assert_eq!(
        rendered.headers[0],
        ("Location".to_owned(), "/orders/42".to_owned())
    );
    assert_eq!(rendered.headers[1].1, "plain");
}

#[test]
fn save_time_errors_name_their_field_line_and_column() {
    let spec = ResponseSpec {
        status: 1000,
        headers: vec![
            Header {
                name: "Bad Name".into(),
                value: "x".into(),
            },
            Header {
                name: "X-T".into(),
                value: "{{ oops(".into(),
            },
        ],
        ..template_spec("line one\n  {{ request.body | }}")
    };
    let errors = CompiledResponse::compile(&spec).unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "response.status",
            "response.headers[0].name",
            "response.headers[1].value",
            "response.body"
        ]
    );
    let body = &errors[3];
    assert_eq!(body.line, Some(2));
    assert!(body.column.is_some_and(|c| c > 1), "{body:?}");
}

#[test]
fn running_out_of_fuel_answers_500_naming_it() {
    let rendered = render_spec(
        &template_spec("{% for i in range(100000) %}{{ i }}{% endfor %}"),
        &get("/"),
    );
    assert_eq!(rendered.status, 500);
    let error = rendered.error.unwrap();
    assert!(error.contains("fuel"), "{error}");
    let body: serde_json::Value = serde_json::from_slice(&rendered.body).unwrap();
    assert_eq!(body["message"], error.as_str());
}

#[test]
fn oversized_output_answers_500() {
    let rendered = render_spec(
        // 2 MB of output made in a few cheap steps, so that the time limit cannot come first
        // however slow the build or busy the machine.
        &template_spec("{% for i in range(200) %}{{ 'x' * 10000 }}{% endfor %}"),
        &get("/"),
    );
    assert_eq!(rendered.status, 500);
    let error = rendered.error.unwrap();
    assert!(error.contains("larger than"), "{error}");
}

#[test]
fn runtime_errors_answer_500_and_never_panic() {
    for template in [
        "{{ 1 / 0 }}",
        "{% include 'other' %}",
        "{{ json_path(request.body, '$.[') }}",
        "{{ xpath('<a/>', '//[') }}",
        "{{ 'x' | date('%Q') }}",
        "{{ callback('file:///etc/passwd') }}",
        "{{ random_int(5, 1) }}",
        "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
    ] {
        let rendered = render_spec(&template_spec(template), &get("/"));
        assert_eq!(rendered.status, 500, "{template}");
        assert!(rendered.error.is_some(), "{template}");
    }
}

#[test]
fn delay_and_callbacks_are_returned_as_effects() {
    let spec = ResponseSpec {
        delay_ms: 100,
        ..template_spec(
            "ok{{ delay(250) }}{{ callback('http://127.0.0.1:9/hook', 'put', {'id': path.id}, 500) }}\
             {{ callback('http://127.0.0.1:9/ping', 'GET', 'x', headers={'X-A': '1'}, delay_ms=7) }}",
        )
    };
    let rendered = render_spec(&spec, &get("/"));
    assert_eq!(rendered.body, b"ok");
    assert_eq!(rendered.delay_ms, 350);
    let [first, second] = rendered.callbacks.as_slice() else {
        panic!("two callbacks")
    };
    assert_eq!(
        (first.method.as_str(), first.body.as_str(), first.delay_ms),
        ("PUT", r#"{"id":"42"}"#, 500)
    );
    assert_eq!(
        first.headers,
        [("content-type".to_owned(), "application/json".to_owned())]
    );
    assert_eq!(second.headers, [("X-A".to_owned(), "1".to_owned())]);
    assert_eq!(second.delay_ms, 7);
}

#[test]
fn dates_format_and_shift() {
    let request = get("/");
    assert_eq!(render("{{ now() }}", &request), "2016-02-29T16:39:54Z");
    assert_eq!(
        render("{{ now() | add_days(1) | date('yyyy-MM-dd') }}", &request),
        "2016-03-01"
    );
    assert_eq!(
        render("{{ now() | add_hours(-17) | date('%F %T') }}", &request),
        "2016-02-28 23:39:54"
    );
    assert_eq!(
        render(
            "{{ now() | add_minutes(21) | add_seconds(6) | date('HH:mm:ss') }}",
            &request
        ),
        "17:01:00"
    );
    assert_eq!(
        render("{{ timestamp() }} {{ iso_timestamp() }}", &request),
        "1456763994 2016-02-29T16:39:54.000Z"
    );
    assert_eq!(render("{{ 0 | date }}", &request), "1970-01-01T00:00:00Z");
    let past = render("{{ date_past() }}", &request);
    assert!(
        past.as_str() < "2016-02-29T16:39:54Z" && past.as_str() > "2015-02-28",
        "{past}"
    );
    assert!(render("{{ date_future(2) }}", &request).as_str() > "2016-02-29T16:39:54Z");
    assert!(render("{{ date_recent() }}", &request).starts_with("2016-02-2"));
}

#[test]
fn numbers_format_and_compute() {
    let request = get("/");
    assert_eq!(
        render("{{ 1234567.891 | format_number(2, ',') }}", &request),
        "1,234,567.89"
    );
    assert_eq!(
        render("{{ -1234.5 | format_number(0, ' ') }}", &request),
        "-1 234"
    );
    assert_eq!(render("{{ 3.14159 | format_number }}", &request), "3.14");
    assert_eq!(
        render("{{ (7 * 6) // 4 }} {{ 2 ** 10 }}", &request),
        "10 1024"
    );
}

#[test]
fn json_and_xml_helpers_read_the_body() {
    let json_request = post(
        "/",
        "application/json",
        r#"{"user":{"name":"Ada","ids":[3,4]}}"#,
    );
    assert_eq!(
        render(
            "{{ json_path(request.body, '$.user.name') }} {{ request.body | json_path('$.user.ids[1]') }} {{ request.body is json }}",
            &json_request
        ),
        "Ada 4 true"
    );
    assert_eq!(
        render(
            "{{ json_path(request.body, '$.nothing') is none }}",
            &json_request
        ),
        "true"
    );
    let xml_request = post("/", "application/xml", r#"<a><b id="1">x</b></a>"#);
    assert_eq!(
        render(
            "{{ xpath(request.body, '/a/b/@id') }} {{ request.body is xml }} {{ request.body is json }}",
            &xml_request
        ),
        "1 true false"
    );
    assert_eq!(
        render("{{ xpath('not xml', '/a') is none }}", &xml_request),
        "true"
    );
}

#[test]
fn every_random_value_function_renders_its_kind_of_value() {
    let request = get("/");
    let check = |template: &str, valid: &dyn Fn(&str) -> bool| {
        let value = render(template, &request);
        assert!(valid(&value), "{template} gave {value:?}");
    };
    check("{{ uuid() }}", &|v| {
        v.len() == 36 && v.matches('-').count() == 4
    });
    check("{{ random_int(3, 5) }}", &|v| matches!(v, "3" | "4" | "5"));
    check("{{ random_int() }}", &|v| {
        v.parse::<u32>().is_ok_and(|n| n <= 1000)
    });
    check("{{ random_float(1, 2) }}", &|v| {
        v.parse::<f64>().is_ok_and(|n| (1.0..2.0).contains(&n))
    });
    check("{{ random_bool() }}", &|v| v == "true" || v == "false");
    check("{{ words(4) }}", &|v| v.split(' ').count() == 4);
    check("{{ random_alphanumeric(6) }}", &|v| v.len() == 6);
    check("{{ latitude() }},{{ longitude() }}", &|v| {
        v.split(',').all(|n| n.parse::<f64>().is_ok())
    });
    check("{{ email() }}", &|v| v.contains('@') && v.contains('.'));
    check("{{ url() }}", &|v| v.starts_with("https://"));
    check("{{ ip() }}", &|v| v.parse::<std::net::Ipv4Addr>().is_ok());
    check("{{ ipv6() }}", &|v| v.parse::<std::net::Ipv6Addr>().is_ok());
    check("{{ hex_color() }}", &|v| v.starts_with('#') && v.len() == 7);
    check("{{ mac_address() }}", &|v| v.len() == 17);
    check("{{ semver() }}", &|v| v.split('.').count() == 3);
    check("{{ price() }}", &|v| v.parse::<f64>().is_ok());
    check("{{ sentence() }}", &|v| v.ends_with('.'));
    check("{{ slug() }}", &|v| v.split('-').count() == 3);
    for name in [
        "first_name",
        "last_name",
        "full_name",
        "user_name",
        "domain",
        "word",
        "paragraph",
        "company",
        "job_title",
        "city",
        "street_address",
        "country",
        "country_code",
        "phone",
        "color",
        "password",
        "currency_code",
        "weekday",
        "month",
    ] {
        check(&format!("{{{{ {name}() }}}}"), &|v| !v.trim().is_empty());
    }
}

#[test]
fn every_postman_dynamic_variable_translates_to_a_working_template() {
    let request = get("/");
    for name in [
        "$guid",
        "$timestamp",
        "$isoTimestamp",
        "$randomInt",
        "$randomFirstName",
        "$randomEmail",
        "$randomUUID",
        "$randomDatePast",
        "$randomLoremSentence",
        "$randomIPV6",
        "$randomPrice",
    ] {
        let template =
            postman_dynamic_to_template(name).unwrap_or_else(|| panic!("{name} is mapped"));
        assert!(!render(template, &request).is_empty(), "{name}");
    }
    assert_eq!(postman_dynamic_to_template("$notAThing"), None);
}

#[test]
fn postman_strings_translate_to_templates_that_render_the_same() {
    let request = Request::from_url(
        "POST",
        "/users/7/orders?page=2",
        &[("X-Api-Key", "k1"), ("Content-Type", "application/json")],
        r#"{"user":{"name":"Ada"}}"#,
    );
    let postman = "{\"id\": \"{{$guid}}\", \"name\": \"{{$body 'user.name'}}\", \"page\": {{$queryParams 'page'}}, \
                   \"segment\": \"{{$pathSegments '1'}}\", \"key\": \"{{$headers 'X-Api-Key'}}\", \
                   \"region\": \"{{region}}\", \"missing\": \"{{nope}}\", \"odd\": \"{{$unknownThing}} {% raw %} {# x #} {{ 1 + 1 }}\"}";
    let template = translate_postman_template(postman);
    let rendered = render(&template, &request);
    let value: serde_json::Value =
        serde_json::from_str(&rendered).unwrap_or_else(|e| panic!("{e}: {rendered}"));
    assert_eq!(value["id"].as_str().unwrap().len(), 36);
    assert_eq!(value["name"], "Ada");
    assert_eq!(value["page"], 2);
    assert_eq!(value["segment"], "7");
    assert_eq!(value["key"], "k1");
    assert_eq!(value["region"], "eu");
    assert_eq!(value["missing"], "{{nope}}");
    assert_eq!(
        value["odd"],
        "{{$unknownThing}} {% raw %} {# x #} {{ 1 + 1 }}"
    );
}

#[test]
fn text_without_postman_variables_translates_to_itself_or_renders_literally() {
    assert_eq!(
        translate_postman_template("plain {\"a\": 1}"),
        "plain {\"a\": 1}"
    );
    for text in ["{{ x }} {%- y -%} {#", "{{{$guid}", "{", "a {{", "}} {{}}"] {
        let translated = translate_postman_template(text);
        if text.contains("$guid") {
            assert!(render(&translated, &get("/")).starts_with('{'));
        } else {
            assert_eq!(render(&translated, &get("/")), text, "{translated}");
        }
    }
}

#[test]
fn compiled_responses_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<CompiledResponse>();
    shareable::<Expression>();
}

#[test]
fn a_template_that_passes_the_whole_request_around_still_sees_every_field() {
    let request = post("/a/b", "application/json", r#"{"k":"v"}"#);
    let template = "{% set r = request %}{{ r.method }} {{ r.json.k }} {{ r.segments | length }} {{ r['url'] }}";
    assert_eq!(render(template, &request), "POST v 2 /a/b");
    assert_eq!(
        render("{{ request.body | json_path('$.k') }} {{ env }}", &request),
        r#"v {"region":"eu"}"#
    );
}

#[test]
fn deeply_nested_sources_are_refused_at_save_time() {
    let expression = format!("{}true{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(Expression::compile(&expression).is_err());
    let template = format!("{{{{ {}1{} }}}}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(CompiledResponse::compile(&template_spec(&template)).is_err());
    let huge = "x".repeat(300 * 1024);
    assert!(CompiledResponse::compile(&template_spec(&huge)).is_err());
}

#[test]
fn date_arithmetic_out_of_range_is_an_error_not_a_panic() {
    for template in [
        "{{ now() | add_days(1e300) }}",
        "{{ now() | add_days(9999999) }}",
    ] {
        let rendered = render_spec(&template_spec(template), &get("/"));
        assert_eq!(rendered.status, 500, "{template}");
    }
}

#[test]
fn variables_read_inside_macros_are_in_the_context() {
    let request = post("/m", "application/json", r#"{"a":"b"}"#);
    let template =
        "{% macro show() %}{{ request.json.a }}{{ env.region }}{% endmacro %}{{ show() }}";
    assert_eq!(render(template, &request), "beu");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_text_never_panics_the_parsers(text in any::<String>()) {
        let _ = xml::parse(&text);
        let _ = lyrebird_engine::jsonpath::parse_lenient(&text);
        let _ = Expression::compile(&text);
        if let Ok(response) = CompiledResponse::compile(&template_spec(&text)) {
            let env = BTreeMap::new();
            let _ = response.render(&RenderContext {
                request: &get("/"),
                captures: &[],
                env: &env,
                now: datetime!(2016-02-29 16:39:54 UTC),
                state: None,
            }, &mut Vec::new());
        }
    }

    #[test]
    fn template_like_text_renders_or_fails_cleanly(text in "[{}%#a()|.,~ 0-9\"'\n-]{0,40}") {
        if CompiledResponse::compile(&template_spec(&text)).is_ok() {
            let rendered = render_spec(&template_spec(&text), &get("/"));
            prop_assert!(rendered.error.is_none() || rendered.status == 500);
        }
    }

    #[test]
    fn postman_text_without_dynamic_values_renders_as_itself(text in "[{}%#ab '\"\n-]{0,40}") {
        let rendered = render_spec(&template_spec(&translate_postman_template(&text)), &get("/"));
        prop_assert_eq!(String::from_utf8(rendered.body).unwrap(), text);
    }
}

/// A body written as text is sent as JSON when it is JSON, or, for a template, when it opens and
/// closes as JSON does; a declared `Content-Type` wins, and other text gets none.
#[test]
fn a_json_body_written_as_text_is_sent_as_json() {
    let content_type = |spec: &ResponseSpec| {
        render_spec(spec, &Request::from_url("GET", "/", &[], ""))
            .headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            .map(|(_, value)| value.clone())
    };
    let json = Some("application/json".to_owned());
    assert_eq!(
        content_type(&template_spec(r#"{"id": "{{ path.id }}"}"#)),
        json
    );
    assert_eq!(content_type(&template_spec("[{{ path.id }}]")), json);
    let text = |body: &str| ResponseSpec {
        body: Some(json!(body)),
        ..ResponseSpec::default()
    };
    assert_eq!(content_type(&text(r#" {"id": 1} "#)), json);
    assert_eq!(content_type(&text("{not json}")), None);
    assert_eq!(content_type(&text("hello")), None);
    assert_eq!(
        content_type(&template_spec("{% if true %}{}{% endif %}")),
        None
    );
    let declared = ResponseSpec {
        headers: vec![Header {
            name: "Content-Type".to_owned(),
            value: "text/plain".to_owned(),
        }],
        ..text(r#"{"id": 1}"#)
    };
    assert_eq!(content_type(&declared), Some("text/plain".to_owned()));
}

//! The scripting side of the engine from the outside: seed §3.8 expressions, §3.5 XML, §3.10
//! templates, and what hostile scripts and documents get.

use lyrebird_engine::Request;
use lyrebird_engine::expr::Expression;
use lyrebird_engine::xml;

fn eval(expression: &str, request: &Request) -> Result<bool, String> {
    Expression::compile(expression)
        .expect("the expression compiles")
        .eval(request)
}

fn post(url: &str, content_type: &str, body: &str) -> Request {
    Request::from_url("POST", url, &[("Content-Type", content_type)], body)
}

#[test]
fn seed_url_expression_matches_user_ids_only() {
    let expression = Expression::compile(r#"url matches `.*/user/\d+`"#).unwrap();
    assert!(expression.uses_url());
    let get = |url| Request::from_url("GET", url, &[], "");
    assert_eq!(expression.eval(&get("/api/user/1")), Ok(true));
    assert_eq!(expression.eval(&get("/api/user/foobar")), Ok(false));
}

#[test]
fn seed_body_starts_with_expression() {
    let request = post("/expression", "text/plain", "string");
    assert_eq!(eval(r#"body.starts_with("str")"#, &request), Ok(true));
    assert_eq!(eval(r#"body.starts_with("xyz")"#, &request), Ok(false));
}

#[test]
fn seed_cookie_header_expression() {
    let request = Request::from_url("GET", "/expression", &[("Cookie", "str")], "");
    assert_eq!(eval(r#"headers["cookie"] == "str""#, &request), Ok(true));
    assert_eq!(eval(r#"headers.cookie == "other""#, &request), Ok(false));
    assert_eq!(
        eval(r#"headers["x-missing"] == "str""#, &request),
        Ok(false)
    );
}

#[test]
fn seed_json_path_expression_reads_the_not_quite_json_body() {
    let expression = r#"json_path(body, "$.bar.p2[0]") == 1"#;
    let strict = post(
        "/expression",
        "application/json",
        r#"{"foo":"ok","bar":{"p1":1,"p2":[1,2,3]}}"#,
    );
    assert_eq!(eval(expression, &strict), Ok(true));
    let seeds = post(
        "/expression",
        "application/json",
        r#"{foo:"ok",bar:{p1:1,p2:[1,2,3]}}}"#,
    );
    assert_eq!(eval(expression, &seeds), Ok(true));
    assert_eq!(eval(r#"is_json(body)"#, &seeds), Ok(false));
    assert_eq!(
        eval(r#"json_path(body, "$.nothing") == ()"#, &strict),
        Ok(true)
    );
}

#[test]
fn seed_xpath_expression() {
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
    let request = Request::from_url("GET", "/a", &[], "");
    let error = eval("let s = path; loop { s += s; } true", &request).unwrap_err();
    assert!(error.contains("too large"), "{error}");
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
fn seed_xml_structural_equality_cases() {
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

//! Every example endpoint, and the engine's checks on what is saved.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, error_of, example};

fn names(list: &Value) -> Vec<&str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn examples_are_added_in_order_read_replaced_and_deleted() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let mock = app.create_mock(&user.key, json!({"name": "Orders"})).await;
    let list_path = format!("/api/v1/mocks/{mock}/examples");
    let first = app
        .add_example(&user.key, &mock, example("first", "/a"))
        .await;
    let second = app
        .add_example(&user.key, &mock, example("second", "/b"))
        .await;

    let (status, list) = app.get(&list_path, &user.key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&list), ["first", "second"]);
    assert_eq!(list[1]["position"], 1);
    assert_eq!(
        list[0]["request"]["path"], "/a",
        "the engine's format, flattened"
    );

    let one = format!("{list_path}/{first}");
    let (status, read) = app.get(&one, &user.key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["id"], first.as_str());

    let (status, replaced) = app
        .call(
            Method::PUT,
            &one,
            Some(&user.key),
            Some(example("first, edited", "/a2")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["id"], first.as_str());
    assert_eq!(replaced["position"], 0);
    assert_eq!(replaced["request"]["path"], "/a2");

    let (status, _) = app.call(Method::DELETE, &one, Some(&user.key), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = app.get(&list_path, &user.key).await;
    assert_eq!(names(&list), ["second"]);
    assert_eq!(list[0]["id"], second.as_str());
    let (status, body) = app.get(&one, &user.key).await;
    error_of(status, &body, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn replacing_all_examples_takes_the_new_list_in_order_and_a_listing_can_be_put_back() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let mock = app.create_mock(&user.key, json!({"name": "Orders"})).await;
    let path = format!("/api/v1/mocks/{mock}/examples");
    app.add_example(&user.key, &mock, example("old", "/old"))
        .await;

    let (status, replaced) = app
        .call(
            Method::PUT,
            &path,
            Some(&user.key),
            Some(json!([example("x", "/x"), example("y", "/y")])),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(names(&replaced), ["x", "y"]);

    // What GET returns goes back in unchanged, ids included.
    let (_, listed) = app.get(&path, &user.key).await;
    let (status, again) = app
        .call(Method::PUT, &path, Some(&user.key), Some(listed.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    let ids = |list: &Value| {
        list.as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&again), ids(&listed));
}

#[tokio::test]
async fn one_bad_example_in_a_replace_all_changes_nothing_and_is_named_by_its_index() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let mock = app.create_mock(&user.key, json!({"name": "Orders"})).await;
    let path = format!("/api/v1/mocks/{mock}/examples");
    app.add_example(&user.key, &mock, example("kept", "/kept"))
        .await;

    let mut bad = example("bad", "/bad");
    bad["request"]["method"] = json!(42);
    let (status, body) = app
        .call(
            Method::PUT,
            &path,
            Some(&user.key),
            Some(json!([example("fine", "/fine"), bad])),
        )
        .await;
    let error = error_of(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );
    assert_eq!(error["field"], "[1].request.method");

    let (_, list) = app.get(&path, &user.key).await;
    assert_eq!(names(&list), ["kept"]);
}

#[tokio::test]
async fn an_example_the_engine_refuses_is_a_422_naming_field_line_and_column() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let mock = app.create_mock(&user.key, json!({"name": "Orders"})).await;
    let path = format!("/api/v1/mocks/{mock}/examples");
    let mut broken = example("broken", "/x");
    broken["response"] = json!({"body": "{% for x in %}", "template": true});
    let (status, body) = app.post(&path, &user.key, broken).await;
    let error = error_of(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_example",
    );
    assert_eq!(error["field"], "response.body");
    assert_eq!(error["line"], 1);
    assert!(error["column"].is_u64(), "{error}");
    assert!(error["details"].is_array());

    let (status, body) = app
        .post(&path, &user.key, json!({"name": "x", "reqest": {}}))
        .await;
    let error = error_of(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );
    assert!(
        error["message"].as_str().unwrap().contains("reqest"),
        "{error}"
    );

    let (_, list) = app.get(&path, &user.key).await;
    assert!(list.as_array().unwrap().is_empty());
}

#[tokio::test]
async fn examples_of_a_missing_mock_or_with_a_malformed_id_are_not_found() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let missing = "01a1fdf6-0000-7000-8000-000000000000";
    for path in [
        format!("/api/v1/mocks/{missing}/examples"),
        "/api/v1/mocks/not-a-uuid/examples".to_owned(),
        format!("/api/v1/mocks/{missing}/examples/not-a-uuid"),
    ] {
        let (status, body) = app.get(&path, &user.key).await;
        error_of(status, &body, StatusCode::NOT_FOUND, "not_found");
    }
}

#[tokio::test]
async fn examples_and_environments_are_checked_against_each_other_before_they_are_saved() {
    let app = TestApp::start().await;
    let user = app.sign_up("env@example.com").await;
    let long = "x".repeat(3_000);
    let mock = app
        .create_mock(
            &user.key,
            json!({"name": "Env", "environment": {"a": long, "b": "short"}}),
        )
        .await;
    let examples = format!("/api/v1/mocks/{mock}/examples");

    // Three times 3,000 bytes once `{{a}}` is put in: past the 8 KiB a path may have.
    let (status, body) = app
        .post(&examples, &user.key, example("long", "/{{a}}/{{a}}/{{a}}"))
        .await;
    let error = error_of(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_example",
    );
    assert_eq!(error["field"], "request.path", "{body}");
    let (status, body) = app
        .call(
            Method::PUT,
            &examples,
            Some(&user.key),
            Some(json!([example("long", "/{{a}}/{{a}}/{{a}}")])),
        )
        .await;
    error_of(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_example",
    );

    // The same path with a short value is fine; then the environment may not make it too long.
    let id = app
        .add_example(&user.key, &mock, example("short", "/{{b}}/{{b}}/{{b}}"))
        .await;
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/mocks/{mock}"),
            Some(&user.key),
            Some(json!({"environment": {"b": "y".repeat(3_000)}})),
        )
        .await;
    let error = error_of(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );
    assert_eq!(error["field"], "environment", "{body}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("example 0 (short) would not compile with this environment"),
        "{body}"
    );

    // Nothing was written: the mock keeps its environment and answers.
    let (_, read) = app.get(&format!("/api/v1/mocks/{mock}"), &user.key).await;
    assert_eq!(read["environment"]["b"], "short");
    let (status, tried) = app
        .post(
            &format!("/api/v1/mocks/{mock}/try"),
            &user.key,
            json!({"method": "GET", "path": "/short/short/short"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{tried}");
    assert_eq!(tried["example"]["id"], id.as_str(), "{tried}");
}

/// A mock's size is bounded in examples and in their bytes as the engine reads them, however
/// well they compress; the write that would pass a bound is refused whole.
#[tokio::test]
async fn a_mock_larger_than_a_mock_may_be_is_refused_and_nothing_is_written() {
    let app = TestApp::with_body_limit(5 << 20).await;
    let user = app.sign_up("large@example.com").await;
    let mock = app.create_mock(&user.key, json!({"name": "Large"})).await;
    let examples = format!("/api/v1/mocks/{mock}/examples");

    let count = usize::try_from(lyrebird_store::MAX_EXAMPLES_PER_MOCK).unwrap();
    let many: Vec<Value> = (0..=count)
        .map(|i| example(&format!("e{i}"), &format!("/e/{i}")))
        .collect();
    let (status, body) = app
        .call(Method::PUT, &examples, Some(&user.key), Some(json!(many)))
        .await;
    let error = error_of(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "mock_too_large",
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains(&format!("this one would hold {} examples", count + 1)),
        "{body}"
    );
    let (_, list) = app.get(&examples, &user.key).await;
    assert_eq!(list, json!([]));

    // Four-MiB bodies of one repeated letter: a few KiB on disk, 4 MiB each in a compiled
    // mock. Seven fit in 32 MiB with their other fields; an eighth does not.
    assert_eq!(lyrebird_store::MAX_EXAMPLE_BYTES_PER_MOCK, 32 << 20);
    let big = |name: &str| json!({"name": name, "response": {"status": 200, "body": "x".repeat(4 << 20)}});
    for i in 0..7 {
        app.add_example(&user.key, &mock, big(&format!("big {i}")))
            .await;
    }
    let (status, body) = app.post(&examples, &user.key, big("one too many")).await;
    error_of(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "mock_too_large",
    );
    let (_, list) = app.get(&examples, &user.key).await;
    assert_eq!(list.as_array().unwrap().len(), 7);
}

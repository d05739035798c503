//! Tenant isolation: every endpoint called with another workspace's key answers 404, exactly
//! like a missing resource, and changes nothing.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, error_of, example};

/// What the owner sees of their mock, its examples and their keys, and of its draft and
/// versions.
async fn snapshot(app: &TestApp, key: &str, mock: &str) -> (Value, Value, Value, Value) {
    (
        app.get(&format!("/api/v1/mocks/{mock}"), key).await.1,
        app.get(&format!("/api/v1/mocks/{mock}/examples"), key)
            .await
            .1,
        app.get("/api/v1/keys", key).await.1,
        json!([
            app.get(&format!("/api/v1/mocks/{mock}/draft"), key).await.1,
            app.get(&format!("/api/v1/mocks/{mock}/versions"), key)
                .await
                .1,
        ]),
    )
}

#[tokio::test]
async fn every_endpoint_with_another_workspaces_key_is_a_404_and_changes_nothing() {
    let app = TestApp::start().await;
    let owner = app.sign_up("owner@example.com").await;
    let intruder = app.sign_up("intruder@example.com").await;
    let mock = app.create_mock(&owner.key, json!({"name": "Orders"})).await;
    let example_id = app.add_example(&owner.key, &mock, example("a", "/a")).await;
    let (_, keys) = app.get("/api/v1/keys", &owner.key).await;
    let owner_key_id = keys[0]["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .post(
            &format!("/api/v1/mocks/{mock}/draft"),
            &owner.key,
            json!(null),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let before = snapshot(&app, &owner.key, &mock).await;

    let mock_path = format!("/api/v1/mocks/{mock}");
    let examples_path = format!("{mock_path}/examples");
    let example_path = format!("{examples_path}/{example_id}");
    let calls: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, mock_path.clone(), None),
        (
            Method::PATCH,
            mock_path.clone(),
            Some(json!({"name": "Mine now"})),
        ),
        (Method::DELETE, mock_path.clone(), None),
        (Method::GET, examples_path.clone(), None),
        (
            Method::POST,
            examples_path.clone(),
            Some(example("b", "/b")),
        ),
        (Method::PUT, examples_path.clone(), Some(json!([]))),
        (Method::GET, example_path.clone(), None),
        (Method::PUT, example_path.clone(), Some(example("c", "/c"))),
        (Method::DELETE, example_path.clone(), None),
        (Method::DELETE, format!("/api/v1/keys/{owner_key_id}"), None),
        (Method::GET, format!("{mock_path}/versions"), None),
        (Method::GET, format!("{mock_path}/versions/1"), None),
        (Method::GET, format!("{mock_path}/versions/2/diff"), None),
        (
            Method::POST,
            format!("{mock_path}/versions/1/restore"),
            None,
        ),
        (Method::GET, format!("{mock_path}/draft"), None),
        (Method::POST, format!("{mock_path}/draft"), None),
        (
            Method::PATCH,
            format!("{mock_path}/draft"),
            Some(json!({"name": "Mine now"})),
        ),
        (
            Method::POST,
            format!("{mock_path}/draft/examples"),
            Some(example("b", "/b")),
        ),
        (
            Method::PUT,
            format!("{mock_path}/draft/examples"),
            Some(json!([])),
        ),
        (
            Method::PUT,
            format!("{mock_path}/draft/examples/{example_id}"),
            Some(example("c", "/c")),
        ),
        (
            Method::DELETE,
            format!("{mock_path}/draft/examples/{example_id}"),
            None,
        ),
        (Method::GET, format!("{mock_path}/draft/diff"), None),
        (
            Method::POST,
            format!("{mock_path}/draft/impact"),
            Some(json!({})),
        ),
        (Method::GET, format!("{mock_path}/draft/impact"), None),
        (Method::GET, format!("{mock_path}/health-report"), None),
        (
            Method::POST,
            format!("{mock_path}/draft/try"),
            Some(json!({"path": "/a"})),
        ),
        (
            Method::POST,
            format!("{mock_path}/draft/publish"),
            Some(json!({"force": true})),
        ),
        (Method::DELETE, format!("{mock_path}/draft"), None),
    ];
    for (method, path, body) in calls {
        let (status, answer) = app
            .call(method.clone(), &path, Some(&intruder.key), body.clone())
            .await;
        let error = error_of(status, &answer, StatusCode::NOT_FOUND, "not_found");
        let missing = path.replace(&mock, "01a1fdf6-0000-7000-8000-000000000000");
        let (_, like_missing) = app.call(method, &missing, Some(&intruder.key), body).await;
        assert_eq!(
            error, like_missing["error"],
            "indistinguishable from missing: {path}"
        );
    }

    let (_, intruders_mocks) = app.get("/api/v1/mocks", &intruder.key).await;
    assert_eq!(intruders_mocks, json!([]));
    let (_, intruders_keys) = app.get("/api/v1/keys", &intruder.key).await;
    assert_eq!(intruders_keys.as_array().unwrap().len(), 1);

    let after = snapshot(&app, &owner.key, &mock).await;
    assert_eq!(before.0, after.0, "the mock is unchanged");
    assert_eq!(before.1, after.1, "the examples are unchanged");
    assert_eq!(
        before.3, after.3,
        "the draft and the versions are unchanged"
    );
    assert_eq!(
        before.2[0]["revoked_at"], after.2[0]["revoked_at"],
        "the owner's key is not revoked"
    );
    assert_ne!(owner.workspace, intruder.workspace);
}

/// `example(name, path)` with `id` set.
fn with_id(id: &str, name: &str) -> Value {
    let mut example = example(name, "/x");
    example["id"] = json!(id);
    example
}

#[tokio::test]
async fn a_replace_all_with_another_workspaces_example_id_is_like_one_with_an_unknown_id() {
    let app = TestApp::start().await;
    let owner = app.sign_up("owner@example.com").await;
    let intruder = app.sign_up("intruder@example.com").await;
    let owners_mock = app.create_mock(&owner.key, json!({"name": "Orders"})).await;
    let taken = app
        .add_example(&owner.key, &owners_mock, example("a", "/a"))
        .await;
    let owners_examples = format!("/api/v1/mocks/{owners_mock}/examples");
    let (_, before) = app.get(&owners_examples, &owner.key).await;

    let mock = app
        .create_mock(&intruder.key, json!({"name": "Mine"}))
        .await;
    let path = format!("/api/v1/mocks/{mock}/examples");
    let unknown = "01a1fdf7-0000-7000-8000-000000000000";
    let mut answers = Vec::new();
    for id in [taken.as_str(), unknown] {
        let (status, list) = app
            .call(
                Method::PUT,
                &path,
                Some(&intruder.key),
                Some(json!([with_id(id, "given")])),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let new_id = list[0]["id"].as_str().unwrap().to_owned();
        assert_ne!(new_id, id, "a new id, not the one given");
        answers.push((
            status,
            list.as_array().unwrap().len(),
            list[0]["name"].clone(),
        ));
    }
    assert_eq!(
        answers[0], answers[1],
        "indistinguishable from an unknown id"
    );

    let (_, after) = app.get(&owners_examples, &owner.key).await;
    assert_eq!(before, after, "the owner's example is untouched");
    // The mock's own ids are still kept.
    let (_, listed) = app.get(&path, &intruder.key).await;
    let own = listed[0]["id"].as_str().unwrap().to_owned();
    let (_, again) = app
        .call(
            Method::PUT,
            &path,
            Some(&intruder.key),
            Some(json!([with_id(&own, "renamed")])),
        )
        .await;
    assert_eq!(again[0]["id"], own.as_str());
}

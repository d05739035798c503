//! Versions and drafts of a mock: every write path makes a version, versions are listed,
//! compared and restored, and a draft changes nothing the mock answers until it is published.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, error_of, example};

/// The mock's versions, newest first: (number, note, changes).
async fn versions(app: &TestApp, key: &str, mock: &str) -> Vec<(i64, Value, Value)> {
    let (status, list) = app
        .get(&format!("/api/v1/mocks/{mock}/versions?limit=200"), key)
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["number"].as_i64().unwrap(),
                v["note"].clone(),
                v["changes"].clone(),
            )
        })
        .collect()
}

/// What the mock answers to `GET <path>`: status and body.
async fn answer(app: &TestApp, mock: &str, path: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .get(format!("{}/m/{mock}{path}", app.base))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn upload(app: &TestApp, key: &str, query: &str, document: Value) -> (StatusCode, Value) {
    let response = app
        .client
        .post(format!("{}/api/v1/imports/native{query}", app.base))
        .bearer_auth(key)
        .header("content-type", "application/octet-stream")
        .body(document.to_string())
        .send()
        .await
        .unwrap();
    crate::support::read(response).await
}

#[tokio::test]
async fn every_write_makes_a_version_and_a_write_that_changes_nothing_makes_none() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let mock = app.create_mock(&user.key, json!({"name": "Orders"})).await;
    let examples = format!("/api/v1/mocks/{mock}/examples");
    let first = app.add_example(&user.key, &mock, example("a", "/a")).await;
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/mocks/{mock}"),
            Some(&user.key),
            Some(json!({"delay": "2g"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let one = format!("{examples}/{first}");
    let (status, _) = app
        .call(
            Method::PUT,
            &one,
            Some(&user.key),
            Some(example("a", "/a2")),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .call(
            Method::PUT,
            &examples,
            Some(&user.key),
            Some(json!([example("b", "/b"), example("c", "/c")])),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = app.get(&examples, &user.key).await;
    let c = list[1]["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("{examples}/{c}"),
            Some(&user.key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = upload(
        &app,
        &user.key,
        &format!("?mock={mock}"),
        json!({"lyrebird": 1, "name": "Orders", "examples": [example("d", "/d")]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // Saving what is already there is no change.
    let (status, mock_now) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/mocks/{mock}"),
            Some(&user.key),
            Some(json!({"name": "Orders"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let listed = versions(&app, &user.key, &mock).await;
    let numbers: Vec<i64> = listed.iter().map(|(n, _, _)| *n).collect();
    assert_eq!(numbers, [7, 6, 5, 4, 3, 2, 1], "one version per change");
    assert_eq!(
        mock_now["version"], 7,
        "the mock says which version answers"
    );
    assert_eq!(listed[0].1, "imported a Lyrebird mock");
    assert_eq!(listed[0].2["added"], 1);
    assert_eq!(listed[0].2["removed"], 1);
    assert_eq!(listed[1].2["removed"], 1, "v6 deleted c");
    assert_eq!(listed[2].2["added"], 2, "v5 replaced a by b and c");
    assert_eq!(listed[2].2["removed"], 1);
    assert_eq!(listed[3].2["changed"], 1, "v4 edited a");
    assert_eq!(listed[4].2["settings"], true, "v3 changed the delay");
    assert_eq!(listed[6].2, Value::Null, "the first has nothing before it");

    let (_, list) = app
        .get(&format!("/api/v1/mocks/{mock}/versions"), &user.key)
        .await;
    assert_eq!(list["versions"][0]["author"]["kind"], "key");
    assert_eq!(list["versions"][0]["author"]["name"], "First key");

    // An import that creates a mock notes it on the mock's first version.
    let (status, imported) = upload(
        &app,
        &user.key,
        "",
        json!({"lyrebird": 1, "name": "New", "examples": [example("e", "/e")]}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{imported}");
    let new = imported["mock"]["id"].as_str().unwrap();
    let listed = versions(&app, &user.key, new).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].1, "imported a Lyrebird mock");
}

#[tokio::test]
async fn a_version_is_read_compared_with_another_and_restored_as_a_new_one() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let mock = app.create_mock(&user.key, json!({"name": "Users"})).await;
    let id = app
        .add_example(&user.key, &mock, example("user", "/users/1"))
        .await;
    let one = format!("/api/v1/mocks/{mock}/examples/{id}");
    let (status, _) = app
        .call(
            Method::PUT,
            &one,
            Some(&user.key),
            Some(example("user", "/users/:id")),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer(&app, &mock, "/users/7").await.0, StatusCode::OK);

    let base = format!("/api/v1/mocks/{mock}/versions");
    let (status, v2) = app.get(&format!("{base}/2"), &user.key).await;
    assert_eq!(status, StatusCode::OK, "{v2}");
    assert_eq!(v2["examples"][0]["id"], id.as_str());
    assert_eq!(v2["examples"][0]["request"]["path"], "/users/1");
    assert_eq!(v2["mock"]["name"], "Users");

    let (status, diff) = app.get(&format!("{base}/3/diff"), &user.key).await;
    assert_eq!(status, StatusCode::OK, "{diff}");
    assert_eq!(
        diff["changed"],
        json!([{"id": id, "name": "user", "changes": [
            {"path": "/request/path", "before": "/users/1", "after": "/users/:id"}
        ]}])
    );
    let (_, from_first) = app.get(&format!("{base}/3/diff?from=1"), &user.key).await;
    assert_eq!(from_first["added"][0]["id"], id.as_str());

    let (status, restored) = app
        .post(&format!("{base}/2/restore"), &user.key, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{restored}");
    assert_eq!(restored["version"], 4, "a restore is a new version");
    let (_, list) = app.get(&base, &user.key).await;
    assert_eq!(list["versions"][0]["note"], "restored version 2");
    let (_, examples) = app
        .get(&format!("/api/v1/mocks/{mock}/examples"), &user.key)
        .await;
    assert_eq!(examples[0]["id"], id.as_str(), "the example keeps its id");
    assert_eq!(
        answer(&app, &mock, "/users/7").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(answer(&app, &mock, "/users/1").await.0, StatusCode::OK);

    // Every call names the version that answered it.
    let calls = format!("/api/v1/mocks/{mock}/calls");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let logged = loop {
        let (_, page) = app.get(&calls, &user.key).await;
        let logged = page["calls"].as_array().unwrap().clone();
        if logged.len() == 3 || tokio::time::Instant::now() > deadline {
            break logged;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let stamps: Vec<(&str, &Value)> = logged
        .iter()
        .map(|call| (call["path"].as_str().unwrap(), &call["version"]))
        .collect();
    assert_eq!(
        stamps,
        [
            ("/users/1", &json!(4)),
            ("/users/7", &json!(4)),
            ("/users/7", &json!(3))
        ]
    );

    // The call's detail says why the same request was answered otherwise than before.
    let detail = format!("{calls}/{}", logged[1]["id"].as_str().unwrap());
    let (status, call) = app.get(&detail, &user.key).await;
    assert_eq!(status, StatusCode::OK, "{call}");
    let changed = &call["answer_changed"];
    assert_eq!(changed["previous"]["call_id"], logged[2]["id"]);
    assert_eq!(changed["previous"]["version"], 3);
    assert_eq!(
        changed["message"],
        "answered by \"user\" at v3, by no example (404) at v4: \"user\"'s request.path changed"
    );
    assert_eq!(
        changed["diff"]["changed"][0]["changes"][0],
        json!({"path": "/request/path", "before": "/users/:id", "after": "/users/1"})
    );
    let first = format!("{calls}/{}", logged[2]["id"].as_str().unwrap());
    let (_, call) = app.get(&first, &user.key).await;
    assert!(call.get("answer_changed").is_none(), "{call}");

    for missing in [format!("{base}/9"), format!("{base}/3/diff?from=0")] {
        let (status, body) = app.get(&missing, &user.key).await;
        error_of(status, &body, StatusCode::NOT_FOUND, "not_found");
    }
    let (status, body) = app.get(&format!("{base}?limit=0"), &user.key).await;
    error_of(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );
}

#[tokio::test]
async fn a_mock_keeps_its_newest_two_hundred_versions() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let mock = app.create_mock(&user.key, json!({"name": "v"})).await;
    for n in 2..=205 {
        let (status, _) = app
            .call(
                Method::PATCH,
                &format!("/api/v1/mocks/{mock}"),
                Some(&user.key),
                Some(json!({"name": format!("v{n}")})),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let listed = versions(&app, &user.key, &mock).await;
    assert_eq!(listed.len(), 200);
    assert_eq!(listed.first().unwrap().0, 205);
    assert_eq!(listed.last().unwrap().0, 6);
    let (status, body) = app
        .get(&format!("/api/v1/mocks/{mock}/versions/5"), &user.key)
        .await;
    error_of(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (_, page) = app
        .get(
            &format!("/api/v1/mocks/{mock}/versions?before=10&limit=3"),
            &user.key,
        )
        .await;
    let numbers: Vec<i64> = page["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["number"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [9, 8, 7]);
    assert_eq!(page["next_before"], 7);
    // The oldest kept is 6: the page that ends there says there is nothing older.
    let (_, last) = app
        .get(
            &format!("/api/v1/mocks/{mock}/versions?before=7&limit=5"),
            &user.key,
        )
        .await;
    assert_eq!(last["versions"].as_array().unwrap().len(), 1);
    assert_eq!(last["next_before"], Value::Null);
}

/// Sends a draft write with `If-Match` when given; returns status, body and the ETag.
async fn draft_call(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    if_match: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value, Option<String>) {
    let mut request = app
        .client
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(key);
    if let Some(revision) = if_match {
        request = request.header("if-match", revision);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let etag = response
        .headers()
        .get("etag")
        .map(|value| value.to_str().unwrap().to_owned());
    let (status, body) = crate::support::read(response).await;
    (status, body, etag)
}

#[tokio::test]
async fn a_draft_changes_nothing_until_it_is_published() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let key = user.key.as_str();
    let mock = app.create_mock(key, json!({"name": "Users"})).await;
    let id = app
        .add_example(key, &mock, example("one", "/users/1"))
        .await;
    let draft = format!("/api/v1/mocks/{mock}/draft");

    let (status, body) = app.get(&draft, key).await;
    error_of(status, &body, StatusCode::NOT_FOUND, "not_found");
    let (status, started, etag) = draft_call(&app, Method::POST, &draft, key, None, None).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    let first = etag.expect("the draft's revision as ETag");
    assert_eq!(first, format!("\"{}\"", started["revision"]));
    assert_eq!(started["based_on"], 2);
    assert_eq!(started["examples"][0]["id"], id.as_str());
    let (status, body, _) = draft_call(&app, Method::POST, &draft, key, None, None).await;
    error_of(status, &body, StatusCode::CONFLICT, "draft_exists");

    // Edits go to the draft; the mock answers as before.
    let (status, edited, etag) = draft_call(
        &app,
        Method::PUT,
        &format!("{draft}/examples/{id}"),
        key,
        Some(&first),
        Some(example("one", "/users/:id")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    let second = etag.unwrap();
    assert_ne!(second, first, "every edit renews the revision");
    let (status, added, _) = draft_call(
        &app,
        Method::POST,
        &format!("{draft}/examples"),
        key,
        None,
        Some(example("list", "/users")),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    let new_id = added["examples"][1]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        answer(&app, &mock, "/users/7").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(answer(&app, &mock, "/users").await.0, StatusCode::NOT_FOUND);

    // A write naming a revision the draft has left is refused and changes nothing.
    let (status, body, _) = draft_call(
        &app,
        Method::PATCH,
        &draft,
        key,
        Some(&first),
        Some(json!({"name": "stale"})),
    )
    .await;
    error_of(
        status,
        &body,
        StatusCode::PRECONDITION_FAILED,
        "draft_changed",
    );
    let (status, body, _) = draft_call(
        &app,
        Method::PATCH,
        &draft,
        key,
        Some("one"),
        Some(json!({"name": "x"})),
    )
    .await;
    error_of(status, &body, StatusCode::BAD_REQUEST, "bad_request");
    let (status, body, _) = draft_call(
        &app,
        Method::POST,
        &format!("{draft}/examples"),
        key,
        None,
        Some(json!({"name": "bad", "request": {"path": "/x", "expression": "1 +"}, "response": {"status": 200}})),
    )
    .await;
    error_of(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_example",
    );
    let (_, now) = app.get(&draft, key).await;
    assert_eq!(
        now["revision"], added["revision"],
        "refused edits leave the draft alone"
    );
    assert_eq!(now["mock"]["name"], "Users");
    let current = format!("\"{}\"", now["revision"]);

    // The try panel answers for both.
    let (status, tried) = app
        .post(&format!("{draft}/try"), key, json!({"path": "/users/7"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{tried}");
    assert_eq!(tried["draft"]["outcome"], "matched");
    assert_eq!(tried["draft"]["example"]["id"], id.as_str());
    assert_eq!(tried["live"]["outcome"], "no_match");
    assert_eq!(tried["same"], false);

    let (status, diff) = app.get(&format!("{draft}/diff"), key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(diff["added"][0]["id"], new_id.as_str());
    assert_eq!(diff["changed"][0]["changes"][0]["path"], "/request/path");

    let (status, published, _) = draft_call(
        &app,
        Method::POST,
        &format!("{draft}/publish"),
        key,
        Some(&current),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{published}");
    assert_eq!(published["version"], 3);
    assert_eq!(answer(&app, &mock, "/users/7").await.0, StatusCode::OK);
    assert_eq!(answer(&app, &mock, "/users").await.1["example"], "list");
    let (_, examples) = app
        .get(&format!("/api/v1/mocks/{mock}/examples"), key)
        .await;
    assert_eq!(
        examples[1]["id"],
        new_id.as_str(),
        "ids made in the draft are kept"
    );
    let (status, _) = app.get(&draft, key).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "publishing ends the draft");
    let listed = versions(&app, key, &mock).await;
    assert_eq!(listed[0].1, "published the draft of version 2");
}

#[tokio::test]
async fn a_draft_of_a_mock_that_changed_since_is_published_only_when_forced() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let key = user.key.as_str();
    let mock = app.create_mock(key, json!({"name": "Users"})).await;
    let draft = format!("/api/v1/mocks/{mock}/draft");
    let (status, _) = app.post(&draft, key, json!(null)).await;
    assert_eq!(status, StatusCode::CREATED);
    app.add_example(key, &mock, example("live", "/live")).await;

    let publish = format!("{draft}/publish");
    let (status, body) = app.post(&publish, key, json!({})).await;
    let error = error_of(status, &body, StatusCode::CONFLICT, "live_changed");
    assert!(
        error["message"].as_str().unwrap().contains("version 2"),
        "{error}"
    );
    assert_eq!(answer(&app, &mock, "/live").await.0, StatusCode::OK);
    let (status, published) = app.post(&publish, key, json!({"force": true})).await;
    assert_eq!(status, StatusCode::OK, "{published}");
    assert_eq!(published["version"], 3);
    assert_eq!(answer(&app, &mock, "/live").await.0, StatusCode::NOT_FOUND);

    // A discarded draft leaves the mock as it was.
    app.post(&draft, key, json!(null)).await;
    let (status, _, _) = draft_call(
        &app,
        Method::PATCH,
        &draft,
        key,
        None,
        Some(json!({"name": "Renamed"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, renamed) = app.get(&draft, key).await;
    let (status, _) = app.call(Method::DELETE, &draft, Some(key), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, now) = app.get(&format!("/api/v1/mocks/{mock}"), key).await;
    assert_eq!(now["name"], "Users");
    assert_eq!(now["version"], 3);

    // A draft started again never has a revision of the one discarded: an edit or publish
    // naming the old draft's revision is refused.
    let (_, again) = app.post(&draft, key, json!(null)).await;
    assert!(again["revision"].as_i64() > renamed["revision"].as_i64());
    let (status, body, _) = draft_call(
        &app,
        Method::POST,
        &format!("{draft}/publish"),
        key,
        Some(&format!("\"{}\"", renamed["revision"])),
        Some(json!({})),
    )
    .await;
    error_of(
        status,
        &body,
        StatusCode::PRECONDITION_FAILED,
        "draft_changed",
    );
}

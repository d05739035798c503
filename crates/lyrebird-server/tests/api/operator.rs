//! The operator: routes that do not exist for anyone else, suspension (mocks answer 403, the
//! admin API refuses changes, reads and exports go on), plans and their limits (quota, mocks,
//! state size), the plan new workspaces get, and deleting one workspace only.

use lyrebird_store::{Secret, WorkspaceId};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, User, error_of, example};

/// Signs up an account and makes it an operator, as `lyrebird operator grant` does.
async fn operator(app: &TestApp, email: &str) -> User {
    let user = app.sign_up(email).await;
    let email = lyrebird_store::Email::parse(email).unwrap();
    app.db.store().set_operator(&email, true).await.unwrap();
    user
}

/// Logs the app's client in: its cookie store keeps the session.
async fn log_in(app: &TestApp, email: &str) {
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/sessions",
            None,
            Some(json!({"email": email, "password": "correct horse battery"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn call_mock(app: &TestApp, mock: &str, path: &str) -> (StatusCode, Value) {
    let response = app
        .client
        .get(format!("{}/m/{mock}{path}", app.base))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn patch(app: &TestApp, key: &str, path: &str, body: Value) -> (StatusCode, Value) {
    app.call(Method::PATCH, path, Some(key), Some(body)).await
}

/// The operator's view of the workspace.
async fn seen(app: &TestApp, op: &User, workspace: &str) -> Value {
    let (status, body) = app
        .get(&format!("/api/v1/operator/workspaces/{workspace}"), &op.key)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test]
async fn to_anyone_but_an_operator_every_operator_route_is_a_404_and_changes_nothing() {
    let app = TestApp::start().await;
    let op = operator(&app, "op@example.com").await;
    let user = app.sign_up("user@example.com").await;
    let (status, _) = app
        .post("/api/v1/operator/plans", &op.key, json!({"name": "pro"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, mock_key) = app
        .post(
            "/api/v1/keys",
            &user.key,
            json!({"name": "m", "scope": "mock"}),
        )
        .await;
    let mock_key = mock_key["api_key"].as_str().unwrap().to_owned();

    let workspace = format!("/api/v1/operator/workspaces/{}", op.workspace);
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/api/v1/operator/workspaces".into(), None),
        (Method::GET, workspace.clone(), None),
        (
            Method::PATCH,
            workspace.clone(),
            Some(json!({"suspended": true})),
        ),
        (Method::DELETE, workspace.clone(), None),
        (Method::GET, "/api/v1/operator/plans".into(), None),
        (
            Method::POST,
            "/api/v1/operator/plans".into(),
            Some(json!({"name": "x"})),
        ),
        (
            Method::PATCH,
            "/api/v1/operator/plans/pro".into(),
            Some(json!({"max_mocks": 1})),
        ),
        (Method::DELETE, "/api/v1/operator/plans/pro".into(), None),
        (Method::GET, "/api/v1/operator/settings".into(), None),
        (
            Method::PUT,
            "/api/v1/operator/settings".into(),
            Some(json!({"default_plan": "pro"})),
        ),
    ];
    for (method, path, body) in &routes {
        for key in [
            Some(user.key.as_str()),
            Some(mock_key.as_str()),
            Some("lb_wrong"),
            None,
        ] {
            let (status, answer) = app.call(method.clone(), path, key, body.clone()).await;
            error_of(status, &answer, StatusCode::NOT_FOUND, "not_found");
            assert_eq!(
                answer,
                app.get("/api/v1/no/such/route", &user.key).await.1,
                "{method} {path}: the same answer as a path no route has"
            );
        }
    }
    // Nothing changed: the plan is there, unused and not the default, the workspace active.
    let (_, plans) = app.get("/api/v1/operator/plans", &op.key).await;
    assert_eq!(plans.as_array().unwrap().len(), 1, "{plans}");
    assert_eq!(plans[0]["default"], false);
    assert_eq!(plans[0]["max_mocks"], Value::Null);
    assert_eq!(seen(&app, &op, &op.workspace).await["suspended"], false);

    // The console's pages are the 404 page, signed in or not.
    for path in [
        "/operator".to_owned(),
        "/operator/plans".to_owned(),
        format!("/operator/workspaces/{}", op.workspace),
    ] {
        let anonymous = reqwest::get(format!("{}{path}", app.base)).await.unwrap();
        assert_eq!(anonymous.status(), StatusCode::NOT_FOUND, "{path}");
    }
    log_in(&app, "user@example.com").await;
    let page = app
        .client
        .get(format!("{}/operator", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    let form = app
        .client
        .post(format!(
            "{}/operator/workspaces/{}/suspend",
            app.base, user.workspace
        ))
        .form(&[("csrf_token", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::NOT_FOUND);
    assert_eq!(seen(&app, &op, &user.workspace).await["suspended"], false);
}

#[tokio::test]
async fn a_suspended_workspace_answers_403_changes_nothing_but_reads_and_exports_until_unsuspended()
{
    let app = TestApp::start().await;
    let op = operator(&app, "op@example.com").await;
    let user = app.sign_up("user@example.com").await;
    let other = app.sign_up("other@example.com").await;
    let mock = app.create_mock(&user.key, json!({"name": "Orders"})).await;
    app.add_example(&user.key, &mock, example("a", "/a")).await;
    let others = app.create_mock(&other.key, json!({"name": "Else"})).await;
    app.add_example(&other.key, &others, example("b", "/b"))
        .await;
    assert_eq!(call_mock(&app, &mock, "/a").await.0, StatusCode::OK);

    let path = format!("/api/v1/operator/workspaces/{}", user.workspace);
    let (status, body) = patch(&app, &op.key, &path, json!({"suspended": true})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["suspended"], true);
    assert!(body["suspended_at"].is_string());
    // Its members read in its audit log who suspended it.
    let (_, log) = app
        .get("/api/v1/audit?action=workspace.operator_changed", &user.key)
        .await;
    let event = &log["events"][0];
    assert_eq!(
        (&event["actor"], &event["details"]["suspended"]),
        (&json!("op@example.com"), &json!(true)),
        "{log}"
    );

    // At once: the mock's next call is refused, in the mocks' error format.
    let (status, answer) = call_mock(&app, &mock, "/a").await;
    error_of(
        status,
        &answer,
        StatusCode::FORBIDDEN,
        "workspace_suspended",
    );
    assert_eq!(answer["error"]["name"], "workspaceSuspendedError");
    // Another workspace's mocks are not touched.
    assert_eq!(call_mock(&app, &others, "/b").await.0, StatusCode::OK);

    // Changes are refused and change nothing...
    let mock_path = format!("/api/v1/mocks/{mock}");
    let before = app.get(&mock_path, &user.key).await.1;
    for (method, path, body) in [
        (
            Method::POST,
            "/api/v1/mocks".to_owned(),
            json!({"name": "New"}),
        ),
        (Method::PATCH, mock_path.clone(), json!({"name": "Renamed"})),
        (Method::DELETE, mock_path.clone(), Value::Null),
        (
            Method::POST,
            format!("{mock_path}/examples"),
            example("c", "/c"),
        ),
    ] {
        let (status, answer) = app
            .call(method.clone(), &path, Some(&user.key), Some(body))
            .await;
        error_of(
            status,
            &answer,
            StatusCode::FORBIDDEN,
            "workspace_suspended",
        );
    }
    assert_eq!(app.get(&mock_path, &user.key).await.1, before);
    let (_, mocks) = app.get("/api/v1/mocks", &user.key).await;
    assert_eq!(mocks.as_array().map(Vec::len), Some(1), "{mocks}");
    // ...while reading and exporting go on.
    let (status, export) = app.get(&format!("{mock_path}/export"), &user.key).await;
    assert_eq!(status, StatusCode::OK, "{export}");
    assert_eq!(app.get("/api/v1/usage", &user.key).await.0, StatusCode::OK);
    // The other workspace changes as it likes.
    let (status, _) = app
        .post("/api/v1/mocks", &other.key, json!({"name": "Two"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let (status, body) = patch(&app, &op.key, &path, json!({"suspended": false})).await;
    assert_eq!(
        (status, &body["suspended"]),
        (StatusCode::OK, &json!(false))
    );
    assert_eq!(call_mock(&app, &mock, "/a").await.0, StatusCode::OK);
    let (status, _) = app
        .post("/api/v1/mocks", &user.key, json!({"name": "New"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_plan_limits_mocks_quota_and_state_size_and_refusals_change_nothing() {
    let app = TestApp::start().await;
    let op = operator(&app, "op@example.com").await;
    let user = app.sign_up("user@example.com").await;

    // Plans that cannot be made.
    for (body, expected, code) in [
        (
            json!({"max_mocks": 1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"name": "Has Space"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"name": "x", "call_retention_days": 0}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"name": "x", "max_mocks": -1}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
    ] {
        let (status, answer) = app.post("/api/v1/operator/plans", &op.key, body).await;
        error_of(status, &answer, expected, code);
    }
    let (status, plan) = app
        .post(
            "/api/v1/operator/plans",
            &op.key,
            json!({"name": "small", "max_mocks": 1, "state_max_bytes": 300, "call_retention_days": 3}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{plan}");
    assert_eq!(plan["monthly_quota"], Value::Null);
    let (status, answer) = app
        .post("/api/v1/operator/plans", &op.key, json!({"name": "small"}))
        .await;
    error_of(status, &answer, StatusCode::CONFLICT, "plan_exists");

    let path = format!("/api/v1/operator/workspaces/{}", user.workspace);
    let (status, answer) = patch(&app, &op.key, &path, json!({"plan": "nope"})).await;
    let error = error_of(
        status,
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );
    assert_eq!(error["field"], "plan");
    let (status, body) = patch(&app, &op.key, &path, json!({"plan": "small"})).await;
    assert_eq!((status, &body["plan"]), (StatusCode::OK, &json!("small")));
    let (status, answer) = app
        .call(
            Method::DELETE,
            "/api/v1/operator/plans/small",
            Some(&op.key),
            None,
        )
        .await;
    error_of(status, &answer, StatusCode::CONFLICT, "plan_in_use");

    // Mocks: the plan's one, then 409 for the next, by the API and by import alike.
    let todos = app
        .create_mock(
            &user.key,
            json!({"name": "todos", "collections": {"todos": {"seed": [{"id": 1, "title": "milk"}]}}}),
        )
        .await;
    app.add_example(
        &user.key,
        &todos,
        json!({"name": "todos", "request": {"path": "/todos"}, "resource": {"collection": "todos"}}),
    )
    .await;
    let (status, answer) = app
        .post("/api/v1/mocks", &user.key, json!({"name": "Two"}))
        .await;
    let error = error_of(status, &answer, StatusCode::CONFLICT, "mock_limit_reached");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("at most 1 mocks"),
        "{error}"
    );
    let (status, answer) = app
        .post(
            "/api/v1/imports/openapi",
            &user.key,
            json!({"openapi": "3.0.0", "info": {"title": "t", "version": "1"},
                   "paths": {"/a": {"get": {"responses": {"200": {"description": "ok"}}}}}}),
        )
        .await;
    error_of(status, &answer, StatusCode::CONFLICT, "mock_limit_reached");
    let (_, mocks) = app.get("/api/v1/mocks", &user.key).await;
    assert_eq!(mocks.as_array().map(Vec::len), Some(1), "{mocks}");

    // State: a small record fits in 300 bytes, a large one does not and is not written.
    let post = |body: Value| {
        app.client
            .post(format!("{}/m/{todos}/todos", app.base))
            .json(&body)
            .send()
    };
    assert_eq!(
        post(json!({"id": 2, "title": "eggs"}))
            .await
            .unwrap()
            .status(),
        StatusCode::CREATED
    );
    let refused = post(json!({"id": 3, "title": "x".repeat(400)}))
        .await
        .unwrap();
    let status = refused.status();
    let answer: Value = refused.json().await.unwrap();
    error_of(
        status,
        &answer,
        StatusCode::INSUFFICIENT_STORAGE,
        "state_full",
    );
    let (_, state) = app
        .get(&format!("/api/v1/mocks/{todos}/state"), &user.key)
        .await;
    assert_eq!(
        state["collections"]["todos"].as_array().map(Vec::len),
        Some(2),
        "{state}"
    );

    // A larger plan lets the next mock in at once.
    let (status, body) = patch(
        &app,
        &op.key,
        "/api/v1/operator/plans/small",
        json!({"max_mocks": 2, "state_max_bytes": null}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["max_mocks"].clone(), body["state_max_bytes"].clone()),
        (json!(2), Value::Null)
    );
    let (status, _) = app
        .post("/api/v1/mocks", &user.key, json!({"name": "Two"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let big = post(json!({"id": 3, "title": "x".repeat(400)}))
        .await
        .unwrap();
    assert_eq!(
        big.status(),
        StatusCode::CREATED,
        "the engine's own bound applies again"
    );
}

#[tokio::test]
async fn a_plans_quota_applies_and_the_workspaces_own_quota_beats_it() {
    let app = TestApp::start().await;
    let op = operator(&app, "op@example.com").await;
    let user = app.sign_up("user@example.com").await;
    let mock = app.create_mock(&user.key, json!({"name": "Orders"})).await;
    app.add_example(&user.key, &mock, example("a", "/a")).await;
    app.post(
        "/api/v1/operator/plans",
        &op.key,
        json!({"name": "tiny", "monthly_quota": 2}),
    )
    .await;
    let path = format!("/api/v1/operator/workspaces/{}", user.workspace);
    let (_, body) = patch(&app, &op.key, &path, json!({"plan": "tiny"})).await;
    assert_eq!(body["quota"], 2);
    assert_eq!(app.get("/api/v1/usage", &user.key).await.1["quota"], 2);
    for _ in 0..2 {
        assert_eq!(call_mock(&app, &mock, "/a").await.0, StatusCode::OK);
    }
    let (status, answer) = call_mock(&app, &mock, "/a").await;
    let error = error_of(
        status,
        &answer,
        StatusCode::TOO_MANY_REQUESTS,
        "monthly_quota_exceeded",
    );
    assert_eq!(error["limit"], 2);

    let (_, body) = patch(&app, &op.key, &path, json!({"monthly_quota": 3})).await;
    assert_eq!(
        (body["quota"].clone(), body["own_quota"].clone()),
        (json!(3), json!(3))
    );
    assert_eq!(call_mock(&app, &mock, "/a").await.0, StatusCode::OK);
    let (status, _) = call_mock(&app, &mock, "/a").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let (_, body) = patch(&app, &op.key, &path, json!({"monthly_quota": null})).await;
    assert_eq!(
        (body["quota"].clone(), body["own_quota"].clone()),
        (json!(2), Value::Null)
    );
    assert_eq!(body["calls_this_month"], 3);
}

#[tokio::test]
async fn new_sign_ups_get_the_default_plan_and_existing_workspaces_keep_theirs() {
    let app = TestApp::start().await;
    let op = operator(&app, "op@example.com").await;
    let before = app.sign_up("before@example.com").await;
    app.post(
        "/api/v1/operator/plans",
        &op.key,
        json!({"name": "starter", "max_mocks": 5}),
    )
    .await;
    let settings = "/api/v1/operator/settings";
    let (status, answer) = app
        .call(
            Method::PUT,
            settings,
            Some(&op.key),
            Some(json!({"default_plan": "nope"})),
        )
        .await;
    error_of(
        status,
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );
    assert_eq!(
        app.get(settings, &op.key).await.1,
        json!({"default_plan": null})
    );
    let (status, _) = app
        .call(
            Method::PUT,
            settings,
            Some(&op.key),
            Some(json!({"default_plan": "starter"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        app.get(settings, &op.key).await.1,
        json!({"default_plan": "starter"})
    );

    let after = app.sign_up("after@example.com").await;
    assert_eq!(seen(&app, &op, &after.workspace).await["plan"], "starter");
    assert_eq!(
        seen(&app, &op, &before.workspace).await["plan"],
        Value::Null
    );
    let (_, plans) = app.get("/api/v1/operator/plans", &op.key).await;
    assert_eq!(
        (plans[0]["default"].clone(), plans[0]["workspaces"].clone()),
        (json!(true), json!(1))
    );

    // A team workspace made later gets it too.
    let caller = app
        .db
        .store()
        .authenticate_key(&Secret::new(before.key.clone()))
        .await
        .unwrap()
        .unwrap();
    let team = app
        .db
        .store()
        .create_workspace(caller.workspace.member(), "Team")
        .await
        .unwrap();
    assert_eq!(
        seen(&app, &op, &team.id.to_string()).await["plan"],
        "starter"
    );
}

#[tokio::test]
async fn the_list_searches_by_name_email_or_id_and_pages() {
    let app = TestApp::start().await;
    let op = operator(&app, "op@example.com").await;
    let ada = app.sign_up("ada@lovelace.example").await;
    app.sign_up("grace@hopper.example").await;
    app.create_mock(&ada.key, json!({"name": "Engine"})).await;

    let app = &app;
    let key = &op.key;
    let list = |query: &str| {
        let path = format!("/api/v1/operator/workspaces{query}");
        async move { app.get(&path, key).await }
    };
    let (status, all) = list("").await;
    assert_eq!(status, StatusCode::OK, "{all}");
    assert_eq!(all["total"], 3);
    let (_, found) = list("?search=LOVELACE").await;
    assert_eq!(found["total"], 1);
    let ada_seen = &found["workspaces"][0];
    assert_eq!(ada_seen["id"], ada.workspace.as_str());
    assert_eq!(
        ada_seen["members"],
        json!([{"email": "ada@lovelace.example", "role": "owner"}])
    );
    assert_eq!(ada_seen["mocks"], 1);
    assert!(ada_seen["last_activity"].is_string(), "{ada_seen}");
    assert_eq!(ada_seen["suspended"], false);
    assert_eq!(
        list(&format!("?search={}", ada.workspace)).await.1["total"],
        1
    );
    let (_, second) = list("?per_page=2&page=2").await;
    assert_eq!(
        (
            second["workspaces"].as_array().unwrap().len(),
            &second["total"]
        ),
        (1, &json!(3))
    );
    for (query, field) in [
        ("?page=0", "page"),
        ("?per_page=0", "per_page"),
        ("?per_page=201", "per_page"),
    ] {
        let (status, answer) = list(query).await;
        let error = error_of(
            status,
            &answer,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        );
        assert_eq!(error["field"], field);
    }
    let missing = format!("/api/v1/operator/workspaces/{}", WorkspaceId::generate());
    let (status, answer) = app.get(&missing, &op.key).await;
    error_of(status, &answer, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn deleting_a_workspace_removes_it_alone_and_a_personal_one_is_refused() {
    let app = TestApp::start().await;
    let op = operator(&app, "op@example.com").await;
    let user = app.sign_up("user@example.com").await;
    let mock = app.create_mock(&user.key, json!({"name": "Mine"})).await;
    let store = app.db.store();
    let caller = store
        .authenticate_key(&Secret::new(user.key.clone()))
        .await
        .unwrap()
        .unwrap();
    let team = store
        .create_workspace(caller.workspace.member(), "Team")
        .await
        .unwrap();
    let counts = || async {
        sqlx::query_as::<_, (i64, i64, i64)>(
            "SELECT (SELECT count(*) FROM workspaces), (SELECT count(*) FROM mocks),
                    (SELECT count(*) FROM accounts)",
        )
        .fetch_one(store.pool())
        .await
        .unwrap()
    };
    let before = counts().await;

    let personal = format!("/api/v1/operator/workspaces/{}", user.workspace);
    let (status, answer) = app
        .call(Method::DELETE, &personal, Some(&op.key), None)
        .await;
    error_of(status, &answer, StatusCode::CONFLICT, "personal_workspace");
    assert_eq!(counts().await, before);

    let path = format!("/api/v1/operator/workspaces/{}", team.id);
    let (status, _) = app.call(Method::DELETE, &path, Some(&op.key), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(counts().await, (before.0 - 1, before.1, before.2));
    let (status, answer) = app.get(&path, &op.key).await;
    error_of(status, &answer, StatusCode::NOT_FOUND, "not_found");
    let (status, answer) = app.call(Method::DELETE, &path, Some(&op.key), None).await;
    error_of(status, &answer, StatusCode::NOT_FOUND, "not_found");
    assert_eq!(
        app.get(&format!("/api/v1/mocks/{mock}"), &user.key).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_operators_session_changes_only_with_its_csrf_token() {
    let app = TestApp::start().await;
    operator(&app, "op@example.com").await;
    let user = app.sign_up("user@example.com").await;
    log_in(&app, "op@example.com").await;
    let path = format!("/api/v1/operator/workspaces/{}", user.workspace);
    let (status, listed) = app.call(Method::GET, &path, None, None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let (status, answer) = app
        .call(Method::PATCH, &path, None, Some(json!({"suspended": true})))
        .await;
    error_of(status, &answer, StatusCode::FORBIDDEN, "csrf_token_invalid");
    assert_eq!(
        app.call(Method::GET, &path, None, None).await.1["suspended"],
        false
    );
}

#[tokio::test]
async fn the_consoles_forms_delete_only_with_the_name_typed_and_refuse_a_taken_plan_name() {
    let app = TestApp::start().await;
    let op = operator(&app, "op@example.com").await;
    let store = app.db.store();
    let caller = store
        .authenticate_key(&Secret::new(op.key.clone()))
        .await
        .unwrap()
        .unwrap();
    let team = store
        .create_workspace(caller.workspace.member(), "Team Blue")
        .await
        .unwrap();
    log_in(&app, "op@example.com").await;
    let console = app
        .client
        .get(format!("{}/operator", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = console
        .split(r#"name="csrf-token" content=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let post = |path: String, fields: Vec<(&'static str, String)>| {
        let mut form = fields;
        form.push(("csrf_token", token.clone()));
        let client = &app.client;
        let url = format!("{}{path}", app.base);
        async move { client.post(url).form(&form).send().await.unwrap() }
    };
    let exists = || async {
        app.get(&format!("/api/v1/operator/workspaces/{}", team.id), &op.key)
            .await
            .0
    };

    let delete = format!("/operator/workspaces/{}/delete", team.id);
    let wrong = post(delete.clone(), vec![("name", "Team Red".to_owned())]).await;
    assert!(
        wrong.url().path().ends_with(&team.id.to_string()),
        "back to its page"
    );
    assert!(wrong.text().await.unwrap().contains("Type the workspace"));
    assert_eq!(
        exists().await,
        StatusCode::OK,
        "a wrong name deletes nothing"
    );
    let right = post(delete, vec![("name", "Team Blue".to_owned())]).await;
    assert_eq!(right.url().path(), "/operator");
    assert_eq!(exists().await, StatusCode::NOT_FOUND);

    let plan = |name: &str| {
        vec![
            ("name", name.to_owned()),
            ("monthly_quota", "1,000".to_owned()),
            ("max_mocks", String::new()),
            ("call_retention_days", String::new()),
            ("state_max_bytes", String::new()),
        ]
    };
    let created = post("/operator/plans".into(), plan("pro")).await;
    assert!(created.text().await.unwrap().contains("Plan pro created."));
    let taken = post("/operator/plans".into(), plan("pro")).await;
    assert!(
        taken
            .text()
            .await
            .unwrap()
            .contains("A plan with this name exists already")
    );
    let (_, plans) = app.get("/api/v1/operator/plans", &op.key).await;
    assert_eq!(plans.as_array().map(Vec::len), Some(1), "{plans}");
    assert_eq!(plans[0]["monthly_quota"], 1000);
}

//! The audit log: every change recorded with who, from where and what; searchable, paged,
//! per workspace, admins only, and append-only in the database.

use lyrebird_server::auth::client_addr::TrustedProxies;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::in_process::Options;
use crate::support::{TestApp, error_of, example};

/// The events of a page of the log.
async fn events(app: &TestApp, key: &str, query: &str) -> (Vec<Value>, Value) {
    let (status, page) = app.get(&format!("/api/v1/audit{query}"), key).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    (
        page["events"].as_array().unwrap().clone(),
        page["next"].clone(),
    )
}

fn actions(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|event| event["action"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn changes_are_recorded_with_who_from_where_and_a_diff_of_examples() {
    let app = TestApp::start().await;
    let ann = app.sign_up("ann@example.com").await;
    let mock = app.create_mock(&ann.key, json!({"name": "Payments"})).await;
    let example_id = app
        .add_example(&ann.key, &mock, example("list", "/payments"))
        .await;
    let mut changed = example("list", "/payments");
    changed["response"]["status"] = json!(201);
    let path = format!("/api/v1/mocks/{mock}/examples/{example_id}");
    let (status, _) = app
        .call(Method::PUT, &path, Some(&ann.key), Some(changed))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/mocks/{mock}"),
            Some(&ann.key),
            Some(json!({"name": "Payments v2"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.call(Method::DELETE, &path, Some(&ann.key), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // A refused change records nothing.
    let (status, _) = app
        .post(
            &format!("/api/v1/mocks/{mock}/examples"),
            &ann.key,
            json!({"name": "refused", "request": 5}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let (events, next) = events(&app, &ann.key, "").await;
    assert_eq!(
        actions(&events),
        [
            "example.deleted",
            "mock.changed",
            "example.changed",
            "example.created",
            "mock.created"
        ]
    );
    assert_eq!(next, Value::Null);
    // Sign-up's key acted: its name and prefix, and whose it is.
    let (_, keys) = app.get("/api/v1/keys", &ann.key).await;
    let prefix = keys[0]["prefix"].as_str().unwrap();
    for event in &events {
        let actor = format!("key First key ({prefix}…) of ann@example.com");
        assert_eq!(event["actor"], actor, "{event}");
        assert_eq!(event["key_id"], keys[0]["id"], "{event}");
        assert_eq!(event["address"], "127.0.0.1", "{event}");
        assert_eq!(event["mock_id"], mock.as_str(), "{event}");
        assert_eq!(event["account_id"], keys[0]["account_id"], "{event}");
    }
    let edit = &events[2];
    assert_eq!(edit["target"], "list");
    assert_eq!(edit["mock_name"], "Payments");
    assert_eq!(edit["details"]["example_id"], example_id.as_str());
    assert_eq!(
        edit["details"]["changes"],
        json!([{"path": "/response/status", "before": 200, "after": 201}])
    );
    let rename = &events[1];
    assert_eq!(rename["target"], "Payments v2");
    assert_eq!(
        rename["details"]["changes"],
        json!([{"path": "/name", "before": "Payments", "after": "Payments v2"}])
    );
    // The deleted example is still named.
    assert_eq!(events[0]["target"], "list");
    assert_eq!(events[4]["target"], "Payments");
}

#[tokio::test]
async fn the_address_is_the_forwarded_one_only_behind_a_trusted_proxy() {
    for (trusted, expected) in [("", "127.0.0.1"), ("127.0.0.1", "203.0.113.7")] {
        let app = TestApp::with_options(Options {
            trusted_proxies: trusted.parse::<TrustedProxies>().unwrap(),
            ..Options::default()
        })
        .await;
        let ann = app.sign_up("ann@example.com").await;
        let response = app
            .client
            .post(format!("{}/api/v1/mocks", app.base))
            .bearer_auth(&ann.key)
            .header("x-forwarded-for", "203.0.113.7")
            .json(&json!({"name": "Forwarded"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let (events, _) = events(&app, &ann.key, "").await;
        assert_eq!(events[0]["address"], expected, "trusting {trusted:?}");
    }
}

#[tokio::test]
async fn search_filters_and_pages_newest_first() {
    let app = TestApp::start().await;
    let ann = app.sign_up("ann@example.com").await;
    let mut mocks = Vec::new();
    for name in ["alpha", "beta", "gamma", "delta", "epsilon"] {
        mocks.push(app.create_mock(&ann.key, json!({"name": name})).await);
    }
    let (status, key) = app
        .post(
            "/api/v1/keys",
            &ann.key,
            json!({"name": "ci", "scope": "admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let ci = key["api_key"].as_str().unwrap();
    app.add_example(ci, &mocks[1], example("needle in beta", "/x"))
        .await;

    // Pages of two, newest first, until `next` is null: every event once.
    let mut seen = Vec::new();
    let mut query = "?limit=2".to_owned();
    loop {
        let (page, next) = events(&app, &ann.key, &query).await;
        assert!(page.len() <= 2);
        seen.extend(
            page.iter()
                .map(|event| event["id"].as_str().unwrap().to_owned()),
        );
        match next.as_str() {
            Some(before) => query = format!("?limit=2&before={before}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7, "{seen:?}");
    let numbers: Vec<i64> = seen.iter().map(|id| id.parse().unwrap()).collect();
    assert!(
        numbers.windows(2).all(|pair| pair[0] > pair[1]),
        "{numbers:?}"
    );

    let (found, _) = events(&app, &ann.key, "?q=NEEDLE").await;
    assert_eq!(actions(&found), ["example.created"]);
    let (found, _) = events(&app, &ann.key, "?q=gamma").await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["target"], "gamma");
    let (found, _) = events(&app, &ann.key, "?action=mock").await;
    assert_eq!(found.len(), 5);
    let (found, _) = events(&app, &ann.key, "?action=key.created").await;
    assert_eq!(
        found[0]["target"].as_str().unwrap().split(' ').next(),
        Some("ci")
    );
    let (found, _) = events(&app, &ann.key, "?actor=key%20ci").await;
    assert_eq!(actions(&found), ["example.created"]);
    let (found, _) = events(&app, &ann.key, "?actor=ANN@example.com&action=example").await;
    assert_eq!(found.len(), 1);
    let key_id = found[0]["key_id"].as_str().unwrap().to_owned();
    let (found, _) = events(&app, &ann.key, &format!("?actor={key_id}")).await;
    assert_eq!(actions(&found), ["example.created"]);
}

#[tokio::test]
async fn bad_parameters_are_refused_naming_the_field() {
    let app = TestApp::start().await;
    let ann = app.sign_up("ann@example.com").await;
    let long = "x".repeat(201);
    for (query, field) in [
        ("?before=abc", "before"),
        ("?before=-3", "before"),
        ("?limit=0", "limit"),
        ("?limit=201", "limit"),
        ("?action=mock.exploded", "action"),
        (&format!("?q={long}") as &str, "q"),
        (&format!("?actor={long}"), "actor"),
    ] {
        let (status, body) = app.get(&format!("/api/v1/audit{query}"), &ann.key).await;
        let error = error_of(
            status,
            &body,
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        );
        assert_eq!(error["field"], field, "{query}: {body}");
    }
}

#[tokio::test]
async fn another_workspace_sees_none_of_the_events() {
    let app = TestApp::start().await;
    let ann = app.sign_up("ann@example.com").await;
    let bob = app.sign_up("bob@example.com").await;
    app.create_mock(&ann.key, json!({"name": "Ann's secret"}))
        .await;
    let (ann_events, _) = events(&app, &ann.key, "").await;
    assert_eq!(ann_events.len(), 1);
    let (bob_events, _) = events(&app, &bob.key, "").await;
    assert!(bob_events.is_empty(), "{bob_events:?}");
    let (bob_events, _) = events(&app, &bob.key, "?q=secret").await;
    assert!(bob_events.is_empty());
    // Ann's cursor on Bob's log reads Bob's log, which has nothing before it.
    let before = ann_events[0]["id"]
        .as_str()
        .unwrap()
        .parse::<i64>()
        .unwrap()
        + 1;
    let (bob_events, _) = events(&app, &bob.key, &format!("?before={before}")).await;
    assert!(bob_events.is_empty());
}

#[tokio::test]
async fn reading_the_log_needs_an_admin() {
    let app = TestApp::start().await;
    let ann = app.sign_up("ann@example.com").await;
    sqlx::query("UPDATE workspace_members SET role = 'editor' WHERE workspace_id = $1::uuid")
        .bind(&ann.workspace)
        .execute(app.store().pool())
        .await
        .unwrap();
    let (status, body) = app.get("/api/v1/audit", &ann.key).await;
    error_of(status, &body, StatusCode::FORBIDDEN, "role_required");
    let (status, body) = app.call(Method::GET, "/api/v1/audit", None, None).await;
    error_of(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
}

#[tokio::test]
async fn events_cannot_be_changed_or_deleted_but_go_with_their_workspace() {
    let app = TestApp::start().await;
    let ann = app.sign_up("ann@example.com").await;
    app.create_mock(&ann.key, json!({"name": "Kept"})).await;
    let pool = app.store().pool();
    for statement in [
        "UPDATE audit_events SET action = 'mock.deleted'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ] {
        let error = sqlx::query(statement).execute(pool).await.unwrap_err();
        assert!(
            error.to_string().contains("append-only"),
            "{statement}: {error}"
        );
    }
    let (found, _) = events(&app, &ann.key, "").await;
    assert_eq!(actions(&found), ["mock.created"]);

    sqlx::query("DELETE FROM workspaces WHERE id = $1::uuid")
        .bind(&ann.workspace)
        .execute(pool)
        .await
        .unwrap();
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn a_key_is_still_named_after_it_is_revoked() {
    let app = TestApp::start().await;
    let ann = app.sign_up("ann@example.com").await;
    let (status, created) = app
        .post(
            "/api/v1/keys",
            &ann.key,
            json!({"name": "deploy bot", "scope": "admin"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let bot = created["api_key"].as_str().unwrap();
    let key_id = created["key"]["id"].as_str().unwrap();
    let prefix = created["key"]["prefix"].as_str().unwrap();
    app.create_mock(bot, json!({"name": "Made by the bot"}))
        .await;
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/keys/{key_id}"),
            Some(&ann.key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // And after its row is gone too: the name was kept as text.
    sqlx::query("DELETE FROM api_keys WHERE id = $1::uuid")
        .bind(key_id)
        .execute(app.store().pool())
        .await
        .unwrap();

    let (found, _) = events(&app, &ann.key, "").await;
    assert_eq!(
        actions(&found),
        ["key.revoked", "mock.created", "key.created"]
    );
    let by_bot = &found[1];
    assert_eq!(
        by_bot["actor"],
        format!("key deploy bot ({prefix}…) of ann@example.com")
    );
    assert_eq!(by_bot["key_id"], key_id);
    assert_eq!(found[0]["target"], format!("deploy bot ({prefix}…)"));
    assert_eq!(found[0]["details"]["key_id"], key_id);
    assert!(
        found[0]["actor"]
            .as_str()
            .unwrap()
            .starts_with("key First key")
    );
}

#[tokio::test]
async fn imports_calls_state_drafts_and_versions_are_recorded() {
    let app = TestApp::start().await;
    let ann = app.sign_up("ann@example.com").await;
    // A mock's export, imported again as a new mock.
    let source = app.create_mock(&ann.key, json!({"name": "Imported"})).await;
    app.add_example(&ann.key, &source, example("one", "/one"))
        .await;
    app.add_example(&ann.key, &source, example("two", "/two"))
        .await;
    let (_, native) = app
        .get(&format!("/api/v1/mocks/{source}/export"), &ann.key)
        .await;
    let (status, imported) = app.post("/api/v1/imports/native", &ann.key, native).await;
    assert_eq!(status, StatusCode::CREATED, "{imported}");
    let mock = imported["mock"]["id"].as_str().unwrap().to_owned();
    let steps: [(Method, String, Option<Value>); 5] = [
        (Method::DELETE, format!("/api/v1/mocks/{mock}/calls"), None),
        (Method::DELETE, format!("/api/v1/mocks/{mock}/state"), None),
        (Method::POST, format!("/api/v1/mocks/{mock}/draft"), None),
        (
            Method::POST,
            format!("/api/v1/mocks/{mock}/draft/publish"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/api/v1/mocks/{mock}/versions/1/restore"),
            None,
        ),
    ];
    for (method, path, body) in steps {
        let (status, answer) = app.call(method.clone(), &path, Some(&ann.key), body).await;
        assert!(status.is_success(), "{method} {path}: {status} {answer}");
    }
    let (found, _) = events(&app, &ann.key, "?limit=6").await;
    assert_eq!(
        actions(&found),
        [
            "version.restored",
            "draft.published",
            "draft.started",
            "state.reset",
            "calls.cleared",
            "import"
        ]
    );
    let import = &found[5];
    assert_eq!(import["details"]["kind"], "native");
    assert_eq!(import["details"]["examples"], 2);
    assert_eq!(import["target"], "Imported");
    assert_eq!(found[0]["details"]["number"], "1");
}

/// Calls every changing route of the API description once, so that it succeeds, and checks that
/// each recorded the event its route is named for: a new route that records nothing fails here
/// (it is not called, or its event is missing).
struct Walk<'a> {
    app: &'a TestApp,
    key: &'a str,
    done: std::collections::BTreeSet<(String, String)>,
}

impl Walk<'_> {
    async fn step(
        &mut self,
        method: Method,
        route: &str,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let (before, _) = events(self.app, self.key, "?limit=1").await;
        let (status, answer) = self
            .app
            .call(method.clone(), path, Some(self.key), body)
            .await;
        assert!(status.is_success(), "{method} {path}: {status} {answer}");
        let expected = lyrebird_server::audit::action(&method, route)
            .unwrap_or_else(|| panic!("{method} {route} has no action"));
        let (after, _) = events(self.app, self.key, "?limit=1").await;
        assert_ne!(
            after.first(),
            before.first(),
            "{method} {route} recorded nothing"
        );
        assert_eq!(after[0]["action"], expected, "{method} {route}");
        self.done.insert((method.to_string(), route.to_owned()));
        answer
    }
}

/// An admin key of `email`'s in `workspace`, made the way a member makes one: with a session
/// that switched there.
async fn member_key(app: &TestApp, email: &str, workspace: &str) -> String {
    use lyrebird_store::accounts::{Email, SessionOrigin};
    let store = app.store();
    let session = store
        .log_in(
            &Email::parse(email).unwrap(),
            lyrebird_store::Secret::new("correct horse battery"),
            &SessionOrigin::default(),
        )
        .await
        .unwrap()
        .unwrap()
        .token;
    store
        .switch_workspace(&session, workspace.parse().unwrap())
        .await
        .unwrap();
    let caller = store.authenticate_session(&session).await.unwrap().unwrap();
    let new = lyrebird_store::NewKey {
        name: "walker",
        scope: lyrebird_store::Scope::Admin,
        role: None,
    };
    let (_, secret) = store.create_key(&caller.workspace, &new).await.unwrap();
    secret.expose().to_owned()
}

#[tokio::test]
async fn every_changing_route_of_the_api_records_its_event() {
    let app = TestApp::start().await;
    let ann = app.sign_up("ann@example.com").await;
    let mut walk = Walk {
        app: &app,
        key: &ann.key,
        done: Default::default(),
    };
    let upstream = json!({"name": "All routes", "upstream": {"url": "http://127.0.0.1:9/"}});
    let created = walk
        .step(
            Method::POST,
            "/api/v1/mocks",
            "/api/v1/mocks",
            Some(upstream),
        )
        .await;
    let mock = created["id"].as_str().unwrap().to_owned();
    let at = |tail: &str| format!("/api/v1/mocks/{mock}{tail}");
    let route = |tail: &str| format!("/api/v1/mocks/{{id}}{tail}");
    let steps: Vec<(Method, &str, Option<Value>)> = vec![
        (Method::PATCH, "", Some(json!({"name": "Every route"}))),
        (
            Method::PUT,
            "/upstream-headers",
            Some(json!({"x-token": "secret"})),
        ),
        (
            Method::PUT,
            "/contract",
            Some(json!({"openapi": "3.0.3", "info": {"title": "C", "version": "1"}, "paths": {}})),
        ),
        (Method::DELETE, "/contract", None),
        (Method::POST, "/recording", Some(json!({}))),
        (Method::POST, "/recording/stop", Some(json!({}))),
        (Method::PUT, "/state", Some(json!({"values": {"n": 1}}))),
        (Method::DELETE, "/state", None),
        (Method::POST, "/drift-reports", Some(json!({}))),
    ];
    for (method, tail, body) in steps {
        walk.step(method, &route(tail), &at(tail), body).await;
    }

    let added = walk
        .step(
            Method::POST,
            &route("/examples"),
            &at("/examples"),
            Some(example("a", "/a")),
        )
        .await;
    let example_id = added["id"].as_str().unwrap().to_owned();
    let one = format!("/examples/{example_id}");
    walk.step(
        Method::PUT,
        &route("/examples/{example_id}"),
        &at(&one),
        Some(example("a", "/a2")),
    )
    .await;
    let mut kept = example("a", "/a3");
    kept["id"] = json!(example_id);
    walk.step(
        Method::PUT,
        &route("/examples"),
        &at("/examples"),
        Some(json!([kept])),
    )
    .await;

    // A logged call, for examples learned from calls.
    let answered = app
        .client
        .get(format!("{}/m/{mock}/a3", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(answered.status(), StatusCode::OK);
    let call = loop {
        let (_, page) = app.get(&at("/calls"), &ann.key).await;
        if let Some(id) = page["calls"][0]["id"].as_str() {
            break id.to_owned();
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };

    walk.step(Method::POST, &route("/draft"), &at("/draft"), None)
        .await;
    let draft_steps: Vec<(Method, String, String, Option<Value>)> = vec![
        (
            Method::PATCH,
            route("/draft"),
            at("/draft"),
            Some(json!({"name": "Drafted"})),
        ),
        (
            Method::POST,
            route("/draft/examples"),
            at("/draft/examples"),
            Some(example("b", "/b")),
        ),
        (
            Method::PUT,
            route("/draft/examples/{example_id}"),
            at(&format!("/draft{one}")),
            Some(example("c", "/c")),
        ),
        (
            Method::DELETE,
            route("/draft/examples/{example_id}"),
            at(&format!("/draft{one}")),
            None,
        ),
        (
            Method::PUT,
            route("/draft/examples"),
            at("/draft/examples"),
            Some(json!([example("d", "/d")])),
        ),
        (
            Method::POST,
            route("/draft/examples/from-calls"),
            at("/draft/examples/from-calls"),
            Some(json!({"calls": [call]})),
        ),
        (
            Method::POST,
            route("/draft/impact"),
            at("/draft/impact"),
            Some(json!({})),
        ),
        (
            Method::POST,
            route("/draft/publish"),
            at("/draft/publish"),
            Some(json!({"force": true})),
        ),
        (
            Method::POST,
            route("/versions/{number}/restore"),
            at("/versions/1/restore"),
            None,
        ),
        (Method::POST, route("/draft"), at("/draft"), None),
        (Method::DELETE, route("/draft"), at("/draft"), None),
        (Method::DELETE, route("/calls"), at("/calls"), None),
    ];
    for (method, route, path, body) in draft_steps {
        walk.step(method, &route, &path, body).await;
    }
    let added = walk
        .step(
            Method::POST,
            &route("/examples"),
            &at("/examples"),
            Some(example("e", "/e")),
        )
        .await;
    let one = format!("/examples/{}", added["id"].as_str().unwrap());
    walk.step(
        Method::DELETE,
        &route("/examples/{example_id}"),
        &at(&one),
        None,
    )
    .await;

    let created = walk
        .step(
            Method::POST,
            "/api/v1/keys",
            "/api/v1/keys",
            Some(json!({"name": "walker", "scope": "admin"})),
        )
        .await;
    let key_path = format!("/api/v1/keys/{}", created["key"]["id"].as_str().unwrap());
    walk.step(Method::DELETE, "/api/v1/keys/{id}", &key_path, None)
        .await;

    let (_, native) = app.get(&at("/export"), &ann.key).await;
    let files = [
        (
            "postman",
            json!({"info": {"name": "P", "schema": "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"},
                   "item": [{"name": "r", "request": {"method": "GET", "url": "https://x.test/r"}}]}),
        ),
        (
            "openapi",
            json!({"openapi": "3.0.3", "info": {"title": "O", "version": "1"},
                   "paths": {"/o": {"get": {"responses": {"200": {"description": "ok"}}}}}}),
        ),
        (
            "har",
            json!({"log": {"version": "1.2", "creator": {"name": "t", "version": "1"}, "entries": []}}),
        ),
        ("native", native),
    ];
    for (kind, file) in files {
        let route = format!("/api/v1/imports/{kind}");
        walk.step(Method::POST, &route, &route, Some(file)).await;
    }
    walk.step(Method::DELETE, "/api/v1/mocks/{id}", &at(""), None)
        .await;

    // Members: Bob joins Ann's workspace, gets another role, is removed, joins again and leaves.
    let bob = app.sign_up("bob@example.com").await;
    let join = async || -> String {
        sqlx::query_scalar::<_, uuid::Uuid>(
            "INSERT INTO workspace_members (workspace_id, account_id, role)
             SELECT $1::uuid, id, 'viewer' FROM accounts WHERE email = 'bob@example.com'
             RETURNING account_id",
        )
        .bind(&ann.workspace)
        .fetch_one(app.store().pool())
        .await
        .unwrap()
        .to_string()
    };
    let member = format!("/api/v1/members/{}", join().await);
    let route = "/api/v1/members/{account_id}";
    walk.step(
        Method::PATCH,
        route,
        &member,
        Some(json!({"role": "editor"})),
    )
    .await;
    walk.step(Method::DELETE, route, &member, None).await;
    let (latest, _) = events(&app, &ann.key, "?limit=2").await;
    for event in &latest {
        assert_eq!(event["target"], "bob@example.com", "{event}");
    }
    assert_eq!(latest[1]["details"]["role"], "editor", "{}", latest[1]);

    // Invitations: made and revoked in Ann's workspace; one accepted records its own event
    // there, naming who joined.
    let invite = json!({"email": "cy@example.com", "role": "viewer"});
    let invited = walk
        .step(
            Method::POST,
            "/api/v1/invitations",
            "/api/v1/invitations",
            Some(invite.clone()),
        )
        .await;
    let revoke = format!(
        "/api/v1/invitations/{}",
        invited["invitation"]["id"].as_str().unwrap()
    );
    walk.step(
        Method::DELETE,
        "/api/v1/invitations/{invitation}",
        &revoke,
        None,
    )
    .await;
    let invited = walk
        .step(
            Method::POST,
            "/api/v1/invitations",
            "/api/v1/invitations",
            Some(invite),
        )
        .await;
    let cy = app.sign_up("cy@example.com").await;
    let token = invited["link"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap();
    let accept = format!("/api/v1/invitations/{token}/accept");
    let (status, joined) = app.post(&accept, &cy.key, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{joined}");
    let (latest, _) = events(&app, &ann.key, "?limit=1").await;
    assert_eq!(latest[0]["action"], "invitation.accepted", "{latest:?}");
    assert_eq!(latest[0]["target"], "cy@example.com", "{latest:?}");
    join().await;
    let (_, answer) = app
        .call(
            Method::POST,
            &format!("/api/v1/workspaces/{}/switch", ann.workspace),
            Some(&bob.key),
            None,
        )
        .await;
    assert_eq!(answer["error"]["code"], "session_required", "{answer}");
    let bobs_key = member_key(&app, "bob@example.com", &ann.workspace).await;
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/workspace/leave",
            Some(&bobs_key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (latest, _) = events(&app, &ann.key, "?limit=1").await;
    assert_eq!(latest[0]["action"], "member.left");
    let actor = latest[0]["actor"].as_str().unwrap();
    assert!(
        actor.starts_with("key walker (") && actor.ends_with(" of bob@example.com"),
        "{actor}"
    );
    walk.done
        .insert(("POST".to_owned(), "/api/v1/workspace/leave".to_owned()));

    // A new workspace's log begins with its creation, by whoever made it.
    let (status, team) = app
        .post("/api/v1/workspaces", &ann.key, json!({"name": "Payments"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{team}");
    let in_team = member_key(&app, "ann@example.com", team["id"].as_str().unwrap()).await;
    let (first, _) = events(&app, &in_team, "").await;
    let created = first.last().unwrap();
    assert_eq!(
        (&created["action"], &created["target"]),
        (&json!("workspace.created"), &json!("Payments"))
    );

    // Every changing route of the description was called, but those that record nothing.
    let description = lyrebird_server::api::openapi::description();
    let mut missed = Vec::new();
    for (path, item) in &description.paths.paths {
        let methods = [
            (Method::POST, item.post.is_some()),
            (Method::PUT, item.put.is_some()),
            (Method::PATCH, item.patch.is_some()),
            (Method::DELETE, item.delete.is_some()),
        ];
        for (method, present) in methods {
            let key = (method.to_string(), path.clone());
            if present
                && !walk.done.contains(&key)
                && !lyrebird_server::audit::NOT_RECORDED.contains(&path.as_str())
            {
                missed.push(format!("{method} {path}"));
            }
        }
    }
    assert!(missed.is_empty(), "not walked: {missed:?}");
}

//! The caller's own account: reading it, changing the password, listing and ending sessions,
//! and deleting it with exactly its data.

use std::collections::BTreeMap;

use lyrebird_server::auth::csrf;
use lyrebird_store::{Email, NewKey, Scope, Secret, SessionOrigin, WorkspaceId};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::support::{TestApp, User, error_of, example, read};

const PASSWORD: &str = "correct horse battery";
const NEW_PASSWORD: &str = "a brand new secret";

/// A browser signed in with a session cookie, sending its CSRF token as the pages do.
struct Browser {
    base: String,
    cookie: String,
    csrf: String,
}

impl Browser {
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
        let mut request = reqwest::Client::new()
            .request(method, format!("{}{path}", self.base))
            .header(header::COOKIE, format!("lyrebird_session={}", self.cookie))
            .header("x-csrf-token", &self.csrf);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        read(self.send(method, path, body).await).await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    async fn change_password(&self, current: &str, new: &str) -> (StatusCode, Value) {
        let body = json!({"current_password": current, "new_password": new});
        self.call(Method::PUT, "/api/v1/account/password", Some(body))
            .await
    }

    /// Whether the session still opens the API.
    async fn signed_in(&self) -> bool {
        let (status, _) = self.get("/api/v1/account").await;
        status == StatusCode::OK
    }

    async fn session_id(&self) -> String {
        let (status, sessions) = self.get("/api/v1/account/sessions").await;
        assert_eq!(status, StatusCode::OK, "{sessions}");
        let current = sessions.as_array().unwrap().iter();
        let mut current = current.filter(|session| session["current"] == true);
        let id = current.next().expect("the current session is listed")["id"].clone();
        assert!(current.next().is_none(), "one session is current");
        id.as_str().unwrap().to_owned()
    }
}

/// Logs in with the API as a browser whose `User-Agent` is `agent`; `None` when refused.
async fn try_log_in(
    app: &TestApp,
    email: &str,
    password: &str,
    agent: &str,
) -> (StatusCode, Option<Browser>) {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/sessions", app.base))
        .header(header::USER_AGENT, agent)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let cookie = response
        .headers()
        .get(header::SET_COOKIE)
        .map(|value| value.to_str().unwrap().to_owned());
    let browser = cookie.filter(|_| status == StatusCode::OK).map(|cookie| {
        let token = cookie
            .split(';')
            .next()
            .unwrap()
            .strip_prefix("lyrebird_session=")
            .unwrap()
            .to_owned();
        Browser {
            base: app.base.clone(),
            csrf: csrf::session_token(&Secret::new(token.as_str())),
            cookie: token,
        }
    });
    (status, browser)
}

/// Ada, signed up, and signed in on a laptop and a phone.
async fn ada_on_two_browsers(app: &TestApp) -> (User, Browser, Browser) {
    let user = app.sign_up("ada@example.com").await;
    let laptop = log_in(app, "ada@example.com", "laptop").await;
    let phone = log_in(app, "ada@example.com", "phone").await;
    (user, laptop, phone)
}

async fn log_in(app: &TestApp, email: &str, agent: &str) -> Browser {
    log_in_with(app, email, PASSWORD, agent).await
}

async fn log_in_with(app: &TestApp, email: &str, password: &str, agent: &str) -> Browser {
    let (status, browser) = try_log_in(app, email, password, agent).await;
    assert_eq!(status, StatusCode::OK, "{email} logs in");
    browser.unwrap()
}

#[tokio::test]
async fn the_account_shows_its_email_operator_flag_and_workspaces_to_its_session_and_keys() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let browser = log_in(&app, "ada@example.com", "Firefox").await;
    let (status, by_key) = app.get("/api/v1/account", &user.key).await;
    assert_eq!(status, StatusCode::OK, "{by_key}");
    assert_eq!(by_key["email"], "ada@example.com");
    assert_eq!(by_key["operator"], false);
    assert!(by_key["created_at"].is_string());
    let workspaces = by_key["workspaces"].as_array().unwrap();
    assert_eq!(workspaces.len(), 1);
    assert_eq!(workspaces[0]["id"], user.workspace.as_str());
    assert_eq!(workspaces[0]["role"], "owner");
    assert_eq!(workspaces[0]["personal"], true);
    assert_eq!(workspaces[0]["members"], 1);
    let (status, by_session) = browser.get("/api/v1/account").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_session, by_key);

    // A mock-scoped key has no admin API, its account included.
    let (_, created) = app
        .post(
            "/api/v1/keys",
            &user.key,
            json!({"name": "frontend", "scope": "mock"}),
        )
        .await;
    let mock_key = created["api_key"].as_str().unwrap();
    let (status, body) = app.get("/api/v1/account", mock_key).await;
    error_of(status, &body, StatusCode::FORBIDDEN, "admin_scope_required");
    let (status, body) = app.call(Method::GET, "/api/v1/account", None, None).await;
    error_of(
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );
}

#[tokio::test]
async fn sessions_are_listed_with_their_address_and_browser_and_the_current_one_marked() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let laptop = log_in(&app, "ada@example.com", "Firefox on the laptop").await;
    let phone = log_in(&app, "ada@example.com", "Safari on the phone").await;
    let (status, sessions) = laptop.get("/api/v1/account/sessions").await;
    assert_eq!(status, StatusCode::OK, "{sessions}");
    let sessions = sessions.as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    // Newest first: the phone's.
    assert_eq!(sessions[0]["user_agent"], "Safari on the phone");
    assert_eq!(sessions[0]["current"], false);
    assert_eq!(sessions[1]["user_agent"], "Firefox on the laptop");
    assert_eq!(sessions[1]["current"], true);
    for session in sessions {
        assert_eq!(session["address"], "127.0.0.1");
        assert!(session["created_at"].as_str() < session["expires_at"].as_str());
    }
    assert_eq!(
        phone.session_id().await,
        sessions[0]["id"].as_str().unwrap()
    );
    assert_eq!(
        laptop.session_id().await,
        sessions[1]["id"].as_str().unwrap()
    );

    // A key lists the same sessions, none of them its own.
    let (status, by_key) = app.get("/api/v1/account/sessions", &user.key).await;
    assert_eq!(status, StatusCode::OK);
    let by_key = by_key.as_array().unwrap();
    assert_eq!(by_key.len(), 2);
    assert!(by_key.iter().all(|session| session["current"] == false));
}

#[tokio::test]
async fn changing_the_password_ends_the_other_sessions_keeps_this_one_and_the_new_one_logs_in() {
    let app = TestApp::start().await;
    let (_, laptop, phone) = ada_on_two_browsers(&app).await;
    let (status, body) = laptop.change_password(PASSWORD, NEW_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ended_sessions"], 1);
    assert!(laptop.signed_in().await, "the session that asked stays");
    assert!(!phone.signed_in().await, "every other session ends");
    let (status, _) = try_log_in(&app, "ada@example.com", PASSWORD, "old").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    log_in_with(&app, "ada@example.com", NEW_PASSWORD, "new").await;
}

#[tokio::test]
async fn a_key_changing_the_password_ends_every_session() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let laptop = log_in(&app, "ada@example.com", "laptop").await;
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/v1/account/password",
            Some(user.key.as_str()),
            Some(json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ended_sessions"], 1);
    assert!(!laptop.signed_in().await);
    let (status, _) = app.get("/api/v1/account", &user.key).await;
    assert_eq!(status, StatusCode::OK, "keys are not sessions: they stay");
}

#[tokio::test]
async fn a_wrong_current_password_is_403_changes_nothing_and_counts_toward_the_login_throttle() {
    let app = TestApp::start().await;
    let (_, laptop, phone) = ada_on_two_browsers(&app).await;
    for _ in 0..5 {
        let (status, body) = laptop
            .change_password("not the password", NEW_PASSWORD)
            .await;
        let error = error_of(status, &body, StatusCode::FORBIDDEN, "wrong_password");
        assert_eq!(error["field"], "current_password");
    }
    assert!(phone.signed_in().await, "nothing changed");
    // Five wrong passwords: the sixth attempt waits, even with the right password, and so does
    // logging in with it from the same address.
    let right = json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD});
    let response = laptop
        .send(Method::PUT, "/api/v1/account/password", Some(right))
        .await;
    assert!(response.headers().contains_key(header::RETRY_AFTER));
    let (status, body) = read(response).await;
    error_of(
        status,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
    );
    let (status, _) = try_log_in(&app, "ada@example.com", PASSWORD, "again").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(phone.signed_in().await, "nothing changed");
}

#[tokio::test]
async fn a_short_new_password_or_a_change_without_the_csrf_token_is_refused_and_changes_nothing() {
    let app = TestApp::start().await;
    let (_, laptop, phone) = ada_on_two_browsers(&app).await;
    let (status, body) = laptop.change_password(PASSWORD, "short").await;
    let error = error_of(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );
    assert_eq!(error["field"], "new_password");
    let forged = Browser {
        csrf: "forged".to_owned(),
        base: laptop.base.clone(),
        cookie: laptop.cookie.clone(),
    };
    let (status, answer) = forged.change_password(PASSWORD, NEW_PASSWORD).await;
    error_of(status, &answer, StatusCode::FORBIDDEN, "csrf_token_invalid");
    for path in ["/api/v1/account/sessions", "/api/v1/account"] {
        let (status, answer) = forged.call(Method::DELETE, path, None).await;
        error_of(status, &answer, StatusCode::FORBIDDEN, "csrf_token_invalid");
    }
    assert!(phone.signed_in().await && laptop.signed_in().await);
    log_in(&app, "ada@example.com", "the old password still works").await;
}

#[tokio::test]
async fn ending_a_session_signs_that_browser_out_and_another_accounts_session_is_a_404() {
    let app = TestApp::start().await;
    app.sign_up("ada@example.com").await;
    let grace_user = app.sign_up("grace@example.com").await;
    let laptop = log_in(&app, "ada@example.com", "laptop").await;
    let phone = log_in(&app, "ada@example.com", "phone").await;
    let grace = log_in(&app, "grace@example.com", "grace").await;
    let phone_id = phone.session_id().await;
    let grace_id = grace.session_id().await;

    let (status, body) = laptop
        .call(
            Method::DELETE,
            &format!("/api/v1/account/sessions/{grace_id}"),
            None,
        )
        .await;
    error_of(status, &body, StatusCode::NOT_FOUND, "not_found");
    for id in ["not-a-uuid", "00000000-0000-0000-0000-000000000000"] {
        let (status, body) = laptop
            .call(
                Method::DELETE,
                &format!("/api/v1/account/sessions/{id}"),
                None,
            )
            .await;
        error_of(status, &body, StatusCode::NOT_FOUND, "not_found");
    }
    assert!(grace.signed_in().await && phone.signed_in().await);

    let path = format!("/api/v1/account/sessions/{phone_id}");
    let (status, body) = laptop.call(Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert!(!phone.signed_in().await);
    assert!(laptop.signed_in().await);
    let (status, body) = laptop.call(Method::DELETE, &path, None).await;
    error_of(status, &body, StatusCode::NOT_FOUND, "not_found");

    // Grace's key ends only Grace's sessions.
    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/account/sessions/{}", laptop.session_id().await),
            Some(&grace_user.key),
            None,
        )
        .await;
    error_of(status, &body, StatusCode::NOT_FOUND, "not_found");
    assert!(laptop.signed_in().await);
}

#[tokio::test]
async fn ending_all_other_sessions_keeps_the_current_one_and_a_key_ends_them_all() {
    let app = TestApp::start().await;
    let user = app.sign_up("ada@example.com").await;
    let grace = {
        app.sign_up("grace@example.com").await;
        log_in(&app, "grace@example.com", "grace").await
    };
    let browsers = [
        log_in(&app, "ada@example.com", "one").await,
        log_in(&app, "ada@example.com", "two").await,
        log_in(&app, "ada@example.com", "three").await,
    ];
    let (status, body) = browsers[0]
        .call(Method::DELETE, "/api/v1/account/sessions", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ended_sessions"], 2);
    assert!(browsers[0].signed_in().await);
    assert!(!browsers[1].signed_in().await && !browsers[2].signed_in().await);

    let (status, body) = app
        .call(
            Method::DELETE,
            "/api/v1/account/sessions",
            Some(&user.key),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["ended_sessions"], 1);
    assert!(!browsers[0].signed_in().await);
    assert!(grace.signed_in().await, "another account's sessions stay");
}

#[tokio::test]
async fn deleting_the_account_needs_its_email_its_password_and_a_session_and_clears_the_cookie() {
    let app = TestApp::start().await;
    let (user, laptop, phone) = ada_on_two_browsers(&app).await;
    let mock = app.create_mock(&user.key, json!({"name": "Orders"})).await;

    let (status, body) = app
        .call(
            Method::DELETE,
            "/api/v1/account",
            Some(&user.key),
            Some(json!({"email": "ada@example.com", "password": PASSWORD})),
        )
        .await;
    error_of(status, &body, StatusCode::FORBIDDEN, "session_required");
    let (status, body) = laptop
        .call(
            Method::DELETE,
            "/api/v1/account",
            Some(json!({"email": "grace@example.com", "password": PASSWORD})),
        )
        .await;
    let error = error_of(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );
    assert_eq!(error["field"], "email");
    let (status, body) = laptop
        .call(
            Method::DELETE,
            "/api/v1/account",
            Some(json!({"email": "ada@example.com", "password": "not the password"})),
        )
        .await;
    let error = error_of(status, &body, StatusCode::FORBIDDEN, "wrong_password");
    assert_eq!(error["field"], "password");
    let (status, body) = laptop
        .call(
            Method::DELETE,
            "/api/v1/account",
            Some(json!({"email": "ada@example.com"})),
        )
        .await;
    error_of(
        status,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_field",
    );
    // Nothing changed.
    assert!(laptop.signed_in().await && phone.signed_in().await);
    let (status, _) = app.get(&format!("/api/v1/mocks/{mock}"), &user.key).await;
    assert_eq!(status, StatusCode::OK);

    // The email is typed as people type it: case and spaces do not matter.
    let response = laptop
        .send(
            Method::DELETE,
            "/api/v1/account",
            Some(json!({"email": " Ada@Example.com ", "password": PASSWORD})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cleared = response.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cleared.starts_with("lyrebird_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert!(!laptop.signed_in().await && !phone.signed_in().await);
    let (status, _) = app.get("/api/v1/account", &user.key).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = try_log_in(&app, "ada@example.com", PASSWORD, "again").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // The mock's URL stops answering at once.
    let (status, _) = call_mock(&app, &mock, "/a").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // The email is free again.
    app.sign_up("ada@example.com").await;
}

/// Calls a mock at its path-style URL.
async fn call_mock(app: &TestApp, mock: &str, path: &str) -> (StatusCode, String) {
    let port = app.base.rsplit(':').next().unwrap();
    let response = reqwest::Client::new()
        .get(format!("{}/m/{mock}{path}", app.base))
        .header(header::HOST, format!("lyrebird.test:{port}"))
        .send()
        .await
        .unwrap();
    (response.status(), response.text().await.unwrap())
}

/// An admin key of the account `email` in `workspace`, made as the member would make one.
async fn key_in(app: &TestApp, email: &str, workspace: WorkspaceId) -> String {
    let store = app.store();
    let session = store
        .log_in(
            &Email::parse(email).unwrap(),
            Secret::new(PASSWORD),
            &SessionOrigin::default(),
        )
        .await
        .unwrap()
        .unwrap();
    store
        .switch_workspace(&session.token, workspace)
        .await
        .unwrap();
    let caller = store
        .authenticate_session(&session.token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(caller.workspace.id(), workspace);
    let new = NewKey {
        name: "team key",
        scope: Scope::Admin,
        role: None,
    };
    let (_, secret) = store.create_key(&caller.workspace, &new).await.unwrap();
    secret.expose().to_owned()
}

/// A mock with two examples, a draft and a state, called `calls` times, once those calls are in
/// its call log.
async fn busy_mock(app: &TestApp, key: &str, name: &str, calls: usize) -> String {
    let mock = app.create_mock(key, json!({"name": name})).await;
    app.add_example(key, &mock, example("a", "/a")).await;
    app.add_example(key, &mock, example("b", "/b")).await;
    let (status, draft) = app
        .post(&format!("/api/v1/mocks/{mock}/draft"), key, json!(null))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");
    let (status, state) = app
        .call(
            Method::PUT,
            &format!("/api/v1/mocks/{mock}/state"),
            Some(key),
            Some(json!({"values": {"visits": 1}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{state}");
    for _ in 0..calls {
        let (status, body) = call_mock(app, &mock, "/a").await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let path = format!("/api/v1/mocks/{mock}/calls?limit=100");
    for _ in 0..200 {
        let (status, page) = app.get(&path, key).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        if page["calls"].as_array().unwrap().len() == calls {
            return mock;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the calls of {name} never reached the call log");
}

/// How each table's rows are told apart: by the workspace a row belongs to, or for the
/// account's own tables by account. Every table of the schema must be here, so a table added
/// later is counted too (or said to belong to nobody).
const ROW_OWNERS: [(&str, &str); 20] = [
    ("workspaces", "id::text"),
    ("workspace_members", "workspace_id::text"),
    ("api_keys", "workspace_id::text"),
    ("usage", "workspace_id::text"),
    ("mocks", "workspace_id::text"),
    (
        "examples",
        "(SELECT workspace_id FROM mocks m WHERE m.id = t.mock_id)::text",
    ),
    (
        "example_bodies",
        "(SELECT workspace_id FROM mocks m WHERE m.id = t.mock_id)::text",
    ),
    (
        "mock_versions",
        "(SELECT workspace_id FROM mocks m WHERE m.id = t.mock_id)::text",
    ),
    (
        "mock_drafts",
        "(SELECT workspace_id FROM mocks m WHERE m.id = t.mock_id)::text",
    ),
    (
        "mock_contracts",
        "(SELECT workspace_id FROM mocks m WHERE m.id = t.mock_id)::text",
    ),
    ("mock_states", "workspace_id::text"),
    (
        "mock_state_entries",
        "(SELECT workspace_id FROM mocks m WHERE m.id = t.mock_id)::text",
    ),
    ("drift_reports", "workspace_id::text"),
    ("audit_events", "workspace_id::text"),
    ("call_blocks", "workspace_id::text"),
    (
        "call_callbacks",
        "(SELECT b.workspace_id FROM call_blocks b WHERE t.call_id = ANY (b.call_ids) LIMIT 1)::text",
    ),
    ("invitations", "workspace_id::text"),
    ("accounts", "'account ' || id::text"),
    ("sessions", "'account ' || account_id::text"),
    ("account_tokens", "'account ' || account_id::text"),
];

/// Tables whose rows belong to no workspace or account: failed log-ins are counted by email and
/// address, and forgotten within the hour whoever they were about; plans and the operator's
/// settings are the server's.
const OWNERLESS: [&str; 4] = [
    "login_failures",
    "_sqlx_migrations",
    "plans",
    "operator_settings",
];

/// Rows per table and owner (a workspace id, or `account <id>`), with `None` for rows whose
/// owner is gone (none should be).
async fn rows_by_owner(app: &TestApp) -> BTreeMap<(String, Option<String>), i64> {
    let pool = app.store().pool();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for table in &tables {
        assert!(
            ROW_OWNERS.iter().any(|(name, _)| name == table) || OWNERLESS.contains(&table.as_str()),
            "the table {table} is not counted: say whose its rows are"
        );
    }
    let mut counts = BTreeMap::new();
    for (table, owner) in ROW_OWNERS {
        // Both names are this file's constants.
        let rows: Vec<(Option<String>, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {owner} AS owner, count(*) FROM {table} t GROUP BY 1"
        )))
        .fetch_all(pool)
        .await
        .unwrap();
        for (owner, count) in rows {
            counts.insert((table.to_owned(), owner), count);
        }
    }
    counts
}

#[tokio::test]
async fn deleting_an_account_removes_exactly_its_data_and_nothing_of_anyone_elses() {
    let app = TestApp::start().await;
    let store = app.store();
    let ada = app.sign_up("ada@example.com").await;
    let grace = app.sign_up("grace@example.com").await;
    let linus = app.sign_up("linus@example.com").await;
    let account_id = |user: &User| {
        let key = user.key.clone();
        let app = &app;
        async move {
            app.get("/api/v1/account", &key).await.1["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let ada_id = account_id(&ada).await;
    let grace_id = account_id(&grace).await;
    let linus_id = account_id(&linus).await;
    let member = |workspace: WorkspaceId, account: &str, role: &'static str| {
        let account: uuid::Uuid = account.parse().unwrap();
        async move {
            sqlx::query(
                "INSERT INTO workspace_members (workspace_id, account_id, role) VALUES ($1, $2, $3)",
            )
            .bind(workspace)
            .bind(account)
            .bind(role)
            .execute(store.pool())
            .await
            .unwrap();
        }
    };
    // Solo: Ada its only owner, Grace an editor there. Shared: Ada and Grace own it, Linus
    // views it. Linus is also an admin of Grace's personal workspace.
    let ada_account = ada_id.parse().unwrap();
    let solo = store
        .create_workspace(ada_account, "Solo")
        .await
        .unwrap()
        .id;
    let shared = store
        .create_workspace(ada_account, "Shared")
        .await
        .unwrap()
        .id;
    member(solo, &grace_id, "editor").await;
    member(shared, &grace_id, "owner").await;
    member(shared, &linus_id, "viewer").await;
    member(grace.workspace.parse().unwrap(), &linus_id, "admin").await;

    let ada_solo = key_in(&app, "ada@example.com", solo).await;
    let grace_solo = key_in(&app, "grace@example.com", solo).await;
    let ada_shared = key_in(&app, "ada@example.com", shared).await;
    let grace_shared = key_in(&app, "grace@example.com", shared).await;
    let linus_in_grace = key_in(&app, "linus@example.com", grace.workspace.parse().unwrap()).await;

    let ada_mock = busy_mock(&app, &ada.key, "Ada's", 3).await;
    let solo_mock = busy_mock(&app, &ada_solo, "Solo's by Ada", 2).await;
    let solo_mock_by_grace = busy_mock(&app, &grace_solo, "Solo's by Grace", 2).await;
    let shared_by_ada = busy_mock(&app, &ada_shared, "Shared by Ada", 2).await;
    let shared_by_grace = busy_mock(&app, &grace_shared, "Shared by Grace", 1).await;
    let grace_mock = busy_mock(&app, &grace.key, "Grace's", 2).await;
    let linus_mock = busy_mock(&app, &linus.key, "Linus's", 1).await;
    busy_mock(&app, &linus_in_grace, "Grace's by Linus", 1).await;

    // Sessions: Ada's two, Grace's acting in Solo (which goes: it falls back to her personal
    // workspace) and in her own.
    let ada_browser = log_in(&app, "ada@example.com", "laptop").await;
    log_in(&app, "ada@example.com", "phone").await;
    let grace_browser = log_in(&app, "grace@example.com", "grace").await;
    let grace_in_solo = log_in(&app, "grace@example.com", "grace in solo").await;
    store
        .switch_workspace(&Secret::new(grace_in_solo.cookie.as_str()), solo)
        .await
        .unwrap();

    // Invitations in the workspaces that go and in those that stay (Ada's in Shared stays,
    // without its inviter), and password-reset links of Ada and of Grace.
    for key in [&ada.key, &ada_solo, &ada_shared, &grace.key] {
        let invite = json!({"email": "newcomer@example.com", "role": "viewer"});
        let (status, body) = app.post("/api/v1/invitations", key, invite).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    for email in ["ada@example.com", "grace@example.com"] {
        let email = lyrebird_store::Email::parse(email).unwrap();
        store.issue_password_reset(&email).await.unwrap();
    }

    let before = rows_by_owner(&app).await;
    for owner in [
        ("invitations", ada.workspace.clone()),
        ("invitations", shared.to_string()),
        ("account_tokens", format!("account {ada_id}")),
        ("account_tokens", format!("account {grace_id}")),
    ] {
        assert_eq!(before.get(&(owner.0.to_owned(), Some(owner.1))), Some(&1));
    }
    let ws = |id: &str| Some(id.to_owned());
    let gone_workspaces = [ws(&ada.workspace), ws(&solo.to_string())];
    for workspace in &gone_workspaces {
        for table in [
            "workspaces",
            "mocks",
            "examples",
            "mock_versions",
            "mock_drafts",
        ] {
            assert!(
                before.get(&(table.to_owned(), workspace.clone())) > Some(&0),
                "{table} has rows in {workspace:?} before, or the test proves nothing"
            );
        }
        for table in [
            "call_blocks",
            "usage",
            "mock_states",
            "mock_state_entries",
            "api_keys",
        ] {
            assert!(
                before.get(&(table.to_owned(), workspace.clone())) > Some(&0),
                "{table}"
            );
        }
    }

    let (status, body) = ada_browser
        .call(
            Method::DELETE,
            "/api/v1/account",
            Some(json!({"email": "ada@example.com", "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let after = rows_by_owner(&app).await;

    // What went: every row of Ada's personal workspace and of Solo, her account and sessions;
    // in Shared, her membership and her key. Nothing else.
    let mut expected = before.clone();
    expected.retain(|(_, owner), _| {
        !gone_workspaces.contains(owner) && owner.as_deref() != Some(&format!("account {ada_id}"))
    });
    let shared_owner = ws(&shared.to_string());
    *expected
        .get_mut(&("workspace_members".to_owned(), shared_owner.clone()))
        .unwrap() -= 1;
    *expected
        .get_mut(&("api_keys".to_owned(), shared_owner.clone()))
        .unwrap() -= 1;
    let differences: Vec<_> = expected
        .keys()
        .chain(after.keys())
        .filter(|row| after.get(*row) != expected.get(*row))
        .map(|row| (row, expected.get(row), after.get(row)))
        .collect();
    assert!(
        differences.is_empty(),
        "(table, owner), expected, found: {differences:?}"
    );
    assert!(
        !after.keys().any(|(_, owner)| owner.is_none()),
        "orphans: {after:?}"
    );

    // What stays works as before; what went does not answer.
    for (key, mock) in [
        (&grace_shared, &shared_by_ada),
        (&grace_shared, &shared_by_grace),
        (&grace.key, &grace_mock),
        (&linus.key, &linus_mock),
    ] {
        let (status, body) = app.get(&format!("/api/v1/mocks/{mock}/calls"), key).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = call_mock(&app, mock, "/a").await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    for mock in [&ada_mock, &solo_mock, &solo_mock_by_grace] {
        let (status, _) = call_mock(&app, mock, "/a").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    for key in [&ada.key, &ada_solo, &ada_shared, &grace_solo] {
        let (status, _) = app.get("/api/v1/mocks", key).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    assert!(grace_browser.signed_in().await);
    let (status, account) = grace_in_solo.get("/api/v1/account").await;
    assert_eq!(status, StatusCode::OK, "back in her personal workspace");
    let names: Vec<&str> = account["workspaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Personal", "Shared"]);
    let (_, shared_members) = app.get("/api/v1/account", &linus.key).await;
    assert_eq!(shared_members["workspaces"].as_array().unwrap().len(), 3);
}

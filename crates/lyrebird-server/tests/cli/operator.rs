//! `lyrebird operator ...` against the database of a running `lyrebird serve`, which applies
//! every change at once: granting the console, suspending a workspace, and plans.

use lyrebird_store::testing::TestDatabase;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{self, Server, User, example};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `lyrebird operator <args>` on the test database.
fn operator(db: &TestDatabase, args: &[&str]) -> Run {
    let output = support::lyrebird()
        .arg("operator")
        .args(args)
        .env("DATABASE_URL", db.url())
        .output()
        .unwrap();
    let run = Run {
        code: output.status.code().unwrap(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    };
    eprintln!(
        "$ lyrebird operator {}\n{}{}exit {}",
        args.join(" "),
        run.stdout,
        run.stderr,
        run.code
    );
    run
}

/// Runs it and expects success; returns what it printed.
fn ok(db: &TestDatabase, args: &[&str]) -> String {
    let run = operator(db, args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout
}

/// Runs it and expects a failure (exit 1) that says `said`.
fn fails(db: &TestDatabase, args: &[&str], said: &str) {
    let run = operator(db, args);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(run.stderr.contains(said), "{}", run.stderr);
}

async fn call_mock(server: &Server, mock: &str) -> (StatusCode, Value) {
    support::json_of(
        server
            .by_path(Method::GET, mock, "/a")
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn grant_opens_the_operator_api_and_revoke_closes_it() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let ada = server.sign_up("ada@example.com").await;
    let list = || server.api(Method::GET, "/api/v1/operator/workspaces", &ada.key, None);
    assert_eq!(list().await.0, StatusCode::NOT_FOUND);

    assert_eq!(
        ok(&db, &["grant", "Ada@Example.com"]).trim(),
        "ada@example.com is an operator"
    );
    let (status, page) = list().await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 1);

    assert!(ok(&db, &["revoke", "ada@example.com"]).contains("no longer an operator"));
    assert_eq!(list().await.0, StatusCode::NOT_FOUND);
    fails(
        &db,
        &["grant", "nobody@example.com"],
        "no account has the email nobody@example.com",
    );
    let bad = operator(&db, &["grant", "not-an-email"]);
    assert_eq!(bad.code, 2, "a usage error");
}

#[tokio::test]
async fn suspend_refuses_the_workspaces_mocks_on_the_running_server_until_unsuspend() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("user@example.com").await;
    let mock = server
        .create_mock(
            &user.key,
            json!({"name": "Orders"}),
            &[example("a", "GET", "/a")],
        )
        .await;
    assert_eq!(call_mock(&server, &mock).await.0, StatusCode::OK);

    let said = ok(&db, &["suspend", "user@example.com"]);
    assert_eq!(
        said.trim(),
        format!("workspace {} is suspended", user.workspace)
    );
    // The server hears of it through PostgreSQL, a moment later.
    let waiting = std::time::Instant::now();
    let (status, answer) = loop {
        let (status, answer) = call_mock(&server, &mock).await;
        if status != StatusCode::OK || waiting.elapsed() > std::time::Duration::from_secs(5) {
            break (status, answer);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_eq!(answer["error"]["code"], "workspace_suspended");
    let listed = ok(&db, &["workspaces", "--search", "user@"]);
    assert!(
        listed.contains("suspended") && listed.contains("user@example.com (owner)"),
        "{listed}"
    );

    ok(&db, &["unsuspend", &user.workspace]);
    let waiting = std::time::Instant::now();
    while call_mock(&server, &mock).await.0 != StatusCode::OK {
        assert!(
            waiting.elapsed() < std::time::Duration::from_secs(5),
            "still refused"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    fails(
        &db,
        &["suspend", "nobody@example.com"],
        "no workspace is owned by nobody@example.com",
    );
    fails(&db, &["delete", &user.workspace], "personal workspace");
}

async fn create(server: &Server, user: &User, name: &str) -> (StatusCode, Value) {
    server
        .api(
            Method::POST,
            "/api/v1/mocks",
            &user.key,
            Some(json!({"name": name})),
        )
        .await
}

#[tokio::test]
async fn plans_are_made_assigned_enforced_made_the_default_and_deleted() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    let user = server.sign_up("user@example.com").await;

    assert!(
        ok(
            &db,
            &[
                "plan",
                "create",
                "small",
                "--max-mocks",
                "1",
                "--quota",
                "5"
            ]
        )
        .contains("plan small created")
    );
    fails(&db, &["plan", "create", "small"], "exists already");
    fails(&db, &["plan", "create", "Big Plan"], "a plan name is");
    fails(
        &db,
        &["plan", "assign", "user@example.com", "nope"],
        "no plan is named \"nope\"",
    );
    ok(&db, &["plan", "assign", "user@example.com", "small"]);
    let listed = ok(&db, &["workspaces"]);
    assert!(
        listed.contains("small") && listed.contains("0/5"),
        "{listed}"
    );

    assert_eq!(create(&server, &user, "One").await.0, StatusCode::CREATED);
    let (status, answer) = create(&server, &user, "Two").await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["error"]["code"], "mock_limit_reached");

    ok(&db, &["plan", "update", "small", "--max-mocks", "none"]);
    assert_eq!(create(&server, &user, "Two").await.0, StatusCode::CREATED);
    let plans = ok(&db, &["plan", "list"]);
    assert!(
        plans
            .lines()
            .any(|line| line.starts_with("small ") && line.contains("default")),
        "{plans}"
    );

    ok(&db, &["quota", "user@example.com", "7"]);
    let (_, usage) = server
        .api(Method::GET, "/api/v1/usage", &user.key, None)
        .await;
    assert_eq!(
        usage["quota"], 7,
        "the workspace's own quota beats its plan's"
    );
    ok(&db, &["quota", "user@example.com", "none"]);
    let (_, usage) = server
        .api(Method::GET, "/api/v1/usage", &user.key, None)
        .await;
    assert_eq!(usage["quota"], 5);

    ok(&db, &["plan", "default", "small"]);
    let later = server.sign_up("later@example.com").await;
    let listed = ok(&db, &["workspaces", "--search", &later.workspace]);
    assert!(
        listed.contains("small") && listed.contains("1-1 of 1"),
        "{listed}"
    );
    fails(
        &db,
        &["plan", "delete", "small"],
        "2 workspace(s) are on this plan",
    );
    ok(&db, &["plan", "assign", "user@example.com", "none"]);
    ok(&db, &["plan", "assign", "later@example.com", "none"]);
    ok(&db, &["plan", "default", "none"]);
    assert!(ok(&db, &["plan", "delete", "small"]).contains("plan small deleted"));
    fails(
        &db,
        &["plan", "delete", "small"],
        "no plan is named \"small\"",
    );
}

#[tokio::test]
async fn reset_link_prints_a_link_that_sets_a_new_password_once() {
    let db = TestDatabase::new().await;
    let server = Server::start(&db, &[]);
    server.sign_up("ada@example.com").await;
    fails(
        &db,
        &["reset-link", "nobody@example.com"],
        "no account has the email",
    );

    let link = ok(&db, &["reset-link", "Ada@Example.com"]);
    let link = link.trim();
    let path = link
        .strip_prefix("http://localhost:8080")
        .unwrap_or_else(|| panic!("a link on the server's default host: {link}"));
    assert!(path.starts_with("/reset-password/"), "{path}");

    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let page = browser
        .get(server.url(path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = page
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("the page has a form: {page}"))
        .to_owned();
    let new_password = "a brand new password";
    let reset = || {
        browser
            .post(server.url(path))
            .form(&[("csrf_token", token.as_str()), ("password", new_password)])
            .send()
    };
    assert_eq!(reset().await.unwrap().status(), StatusCode::OK);
    let log_in = |password: &'static str| {
        server.api(
            Method::POST,
            "/api/v1/sessions",
            "",
            Some(json!({"email": "ada@example.com", "password": password})),
        )
    };
    assert_eq!(log_in(new_password).await.0, StatusCode::OK);
    assert_eq!(
        log_in("correct horse battery").await.0,
        StatusCode::UNAUTHORIZED
    );
    // Once: the link is used up.
    assert_ne!(reset().await.unwrap().status(), StatusCode::OK);
}

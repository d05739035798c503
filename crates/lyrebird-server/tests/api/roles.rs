//! Roles: every operation of the OpenAPI document, called in a team workspace as its owner, an
//! admin, an editor and a viewer (each with a session, as the web app does), as a non-member, with
//! an admin-scoped key made by the viewer, and with a mock key. The table below says which role
//! each operation needs, independently of the server's own table; each call answers accordingly,
//! and nothing any refused call does changes the workspace.

use std::collections::BTreeSet;

use lyrebird_server::auth::csrf;
use lyrebird_store::accounts::{Access, Email, FirstAccess, NewPassword, SessionOrigin};
use lyrebird_store::{NewKey, Role, Scope, Secret};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, example};

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// No workspace: sign-up, logging in, probes and the description itself.
    Public,
    /// The caller's own account, whatever their role: any credential but a mock key.
    Own,
    /// The server's operators only: a 404 to everyone else, as for a route that does not exist.
    Operator,
    /// At least this role in the workspace.
    At(Role),
}

/// One operation of the document: its method, its path as documented, who may call it, the
/// body sent, and whether each caller who may call it gets a workspace of its own (it ends what
/// the others need: the mock, the workspace, a membership, the sessions).
struct Row {
    method: Method,
    path: &'static str,
    need: Need,
    body: Option<Value>,
    fresh: bool,
}

fn row(method: Method, path: &'static str, need: Need, body: Option<Value>) -> Row {
    Row {
        method,
        path,
        need,
        body,
        fresh: false,
    }
}

const VIEWER: Need = Need::At(Role::Viewer);
const EDITOR: Need = Need::At(Role::Editor);
const ADMIN: Need = Need::At(Role::Admin);
const OWNER: Need = Need::At(Role::Owner);

/// The table: every documented operation, and the least role it needs.
fn table() -> Vec<Row> {
    use Method as M;
    let none = || None;
    let mut rows = vec![
        row(M::GET, "/healthz", Need::Public, none()),
        row(M::GET, "/readyz", Need::Public, none()),
        row(M::GET, "/readyz/mocks", Need::Public, none()),
        row(M::GET, "/api/v1/openapi.json", Need::Public, none()),
        row(M::GET, "/api/v1/schemas/example.json", Need::Public, none()),
        row(M::POST, "/api/v1/accounts", Need::Public, none()),
        row(M::POST, "/api/v1/sessions", Need::Public, none()),
        row(M::DELETE, "/api/v1/sessions", Need::Public, none()),
        row(M::POST, "/api/v1/password-resets", Need::Public, none()),
        row(
            M::GET,
            "/api/v1/invitations/{invitation}",
            Need::Public,
            none(),
        ),
        // The operator's: none of the callers is one.
        row(
            M::GET,
            "/api/v1/operator/workspaces",
            Need::Operator,
            none(),
        ),
        row(
            M::GET,
            "/api/v1/operator/workspaces/{id}",
            Need::Operator,
            none(),
        ),
        row(
            M::PATCH,
            "/api/v1/operator/workspaces/{id}",
            Need::Operator,
            Some(json!({"suspended": true})),
        ),
        row(
            M::DELETE,
            "/api/v1/operator/workspaces/{id}",
            Need::Operator,
            none(),
        ),
        row(M::GET, "/api/v1/operator/plans", Need::Operator, none()),
        row(
            M::POST,
            "/api/v1/operator/plans",
            Need::Operator,
            Some(json!({"name": "free"})),
        ),
        row(
            M::PATCH,
            "/api/v1/operator/plans/{name}",
            Need::Operator,
            Some(json!({"monthly_quota": 1})),
        ),
        row(
            M::DELETE,
            "/api/v1/operator/plans/{name}",
            Need::Operator,
            none(),
        ),
        row(M::GET, "/api/v1/operator/settings", Need::Operator, none()),
        row(
            M::PUT,
            "/api/v1/operator/settings",
            Need::Operator,
            Some(json!({"default_plan": null})),
        ),
        // The caller's own account (a wrong password or a key where a session is needed is
        // refused by the operation itself, never by role).
        row(M::GET, "/api/v1/account", Need::Own, none()),
        row(M::GET, "/api/v1/account/sessions", Need::Own, none()),
        row(
            M::DELETE,
            "/api/v1/account/sessions/{id}",
            Need::Own,
            none(),
        ),
        row(
            M::PUT,
            "/api/v1/account/password",
            Need::Own,
            Some(json!({"current_password": "not it", "new_password": "a new long password"})),
        ),
        row(
            M::DELETE,
            "/api/v1/account",
            Need::Own,
            Some(json!({"email": "someone@example.com", "password": "not it"})),
        ),
        // Reading.
        row(M::GET, "/api/v1/mocks", VIEWER, none()),
        row(M::GET, "/api/v1/mocks/{id}", VIEWER, none()),
        row(M::GET, "/api/v1/mocks/{id}/examples", VIEWER, none()),
        row(
            M::GET,
            "/api/v1/mocks/{id}/examples/{example_id}",
            VIEWER,
            none(),
        ),
        row(M::GET, "/api/v1/mocks/{id}/calls", VIEWER, none()),
        row(M::GET, "/api/v1/mocks/{id}/calls/export", VIEWER, none()),
        row(M::GET, "/api/v1/mocks/{id}/calls/stream", VIEWER, none()),
        row(M::GET, "/api/v1/mocks/{id}/calls/{call_id}", VIEWER, none()),
        row(M::GET, "/api/v1/mocks/{id}/draft", VIEWER, none()),
        row(M::GET, "/api/v1/mocks/{id}/draft/diff", VIEWER, none()),
        row(M::GET, "/api/v1/mocks/{id}/draft/impact", VIEWER, none()),
        row(M::GET, "/api/v1/mocks/{id}/drift-reports", VIEWER, none()),
        row(
            M::GET,
            "/api/v1/mocks/{id}/drift-reports/{report_id}",
            VIEWER,
            none(),
        ),
        row(M::GET, "/api/v1/mocks/{id}/export", VIEWER, none()),
        row(M::GET, "/api/v1/mocks/{id}/health-report", VIEWER, none()),
        row(M::GET, "/api/v1/mocks/{id}/recording", VIEWER, none()),
        row(M::GET, "/api/v1/mocks/{id}/state", VIEWER, none()),
        row(M::GET, "/api/v1/mocks/{id}/versions", VIEWER, none()),
        row(
            M::GET,
            "/api/v1/mocks/{id}/versions/{number}",
            VIEWER,
            none(),
        ),
        row(
            M::GET,
            "/api/v1/mocks/{id}/versions/{number}/diff",
            VIEWER,
            none(),
        ),
        row(M::GET, "/api/v1/mocks/{id}/contract", VIEWER, none()),
        row(
            M::GET,
            "/api/v1/mocks/{id}/contract/document",
            VIEWER,
            none(),
        ),
        row(M::GET, "/api/v1/usage", VIEWER, none()),
        row(M::GET, "/api/v1/workspace", VIEWER, none()),
        row(M::GET, "/api/v1/members", VIEWER, none()),
        // Asking without changing anything.
        row(
            M::POST,
            "/api/v1/mocks/{id}/try",
            VIEWER,
            Some(json!({"path": "/a"})),
        ),
        row(
            M::POST,
            "/api/v1/mocks/{id}/draft/try",
            VIEWER,
            Some(json!({"path": "/a"})),
        ),
        row(
            M::POST,
            "/api/v1/mocks/{id}/verify",
            VIEWER,
            Some(json!({"path": "/a"})),
        ),
        row(
            M::POST,
            "/api/v1/mocks/{id}/verify/order",
            VIEWER,
            Some(json!({"sequence": [{"path": "/a"}]})),
        ),
        row(
            M::POST,
            "/api/v1/mocks/{id}/verify/unmatched",
            VIEWER,
            Some(json!({})),
        ),
        // A member's own: keys, workspaces, the session's choice.
        row(M::GET, "/api/v1/keys", VIEWER, none()),
        row(
            M::POST,
            "/api/v1/keys",
            VIEWER,
            Some(json!({"name": "mine", "scope": "mock"})),
        ),
        row(M::DELETE, "/api/v1/keys/{id}", VIEWER, none()),
        row(M::GET, "/api/v1/workspaces", VIEWER, none()),
        row(
            M::POST,
            "/api/v1/workspaces",
            VIEWER,
            Some(json!({"name": "Side project"})),
        ),
        row(M::POST, "/api/v1/workspaces/{id}/switch", VIEWER, none()),
        // An account's own, in no workspace: the path's token is no invitation (every account
        // is told so alike), and the email is refused (every account is told so alike).
        row(
            M::POST,
            "/api/v1/invitations/{invitation}/accept",
            Need::Own,
            none(),
        ),
        row(
            M::POST,
            "/api/v1/account/email",
            Need::Own,
            Some(json!({"email": "not an email", "password": PASSWORD})),
        ),
        // Changing mocks.
        row(
            M::POST,
            "/api/v1/mocks",
            EDITOR,
            Some(json!({"name": "Another"})),
        ),
        row(M::POST, "/api/v1/imports/postman", EDITOR, Some(json!({}))),
        row(M::POST, "/api/v1/imports/openapi", EDITOR, Some(json!({}))),
        row(M::POST, "/api/v1/imports/har", EDITOR, Some(json!({}))),
        row(M::POST, "/api/v1/imports/native", EDITOR, Some(json!({}))),
        row(
            M::PATCH,
            "/api/v1/mocks/{id}",
            EDITOR,
            Some(json!({"name": "Renamed"})),
        ),
        row(
            M::PUT,
            "/api/v1/mocks/{id}/upstream-headers",
            EDITOR,
            Some(json!({})),
        ),
        row(
            M::POST,
            "/api/v1/mocks/{id}/examples",
            EDITOR,
            Some(example("b", "/b")),
        ),
        row(
            M::PUT,
            "/api/v1/mocks/{id}/examples/{example_id}",
            EDITOR,
            Some(example("c", "/c")),
        ),
        row(
            M::PUT,
            "/api/v1/mocks/{id}/state",
            EDITOR,
            Some(json!({"scenarios": {}})),
        ),
        row(M::DELETE, "/api/v1/mocks/{id}/state", EDITOR, none()),
        row(M::DELETE, "/api/v1/mocks/{id}/calls", EDITOR, none()),
        row(
            M::PUT,
            "/api/v1/mocks/{id}/contract",
            EDITOR,
            Some(json!({
                "openapi": "3.0.3",
                "info": {"title": "Orders", "version": "1"},
                "paths": {"/a": {"get": {"responses": {"200": {"description": "ok"}}}}}
            })),
        ),
        row(M::DELETE, "/api/v1/mocks/{id}/contract", EDITOR, none()),
        row(M::POST, "/api/v1/mocks/{id}/recording", EDITOR, none()),
        row(M::POST, "/api/v1/mocks/{id}/recording/stop", EDITOR, none()),
        row(
            M::POST,
            "/api/v1/mocks/{id}/drift-reports",
            EDITOR,
            Some(json!({})),
        ),
        row(
            M::POST,
            "/api/v1/mocks/{id}/versions/{number}/restore",
            EDITOR,
            none(),
        ),
        row(M::POST, "/api/v1/mocks/{id}/draft", EDITOR, none()),
        row(
            M::PATCH,
            "/api/v1/mocks/{id}/draft",
            EDITOR,
            Some(json!({"name": "Drafted"})),
        ),
        row(
            M::POST,
            "/api/v1/mocks/{id}/draft/examples",
            EDITOR,
            Some(example("d", "/d")),
        ),
        row(
            M::POST,
            "/api/v1/mocks/{id}/draft/examples/from-calls",
            EDITOR,
            Some(json!({"calls": []})),
        ),
        row(
            M::PUT,
            "/api/v1/mocks/{id}/draft/examples/{example_id}",
            EDITOR,
            Some(example("e", "/e")),
        ),
        row(
            M::DELETE,
            "/api/v1/mocks/{id}/draft/examples/{example_id}",
            EDITOR,
            none(),
        ),
        row(
            M::PUT,
            "/api/v1/mocks/{id}/draft/examples",
            EDITOR,
            Some(json!([example("f", "/f")])),
        ),
        row(
            M::POST,
            "/api/v1/mocks/{id}/draft/impact",
            EDITOR,
            Some(json!({})),
        ),
        row(
            M::POST,
            "/api/v1/mocks/{id}/draft/publish",
            EDITOR,
            Some(json!({"force": true})),
        ),
        row(M::DELETE, "/api/v1/mocks/{id}/draft", EDITOR, none()),
        row(
            M::PUT,
            "/api/v1/mocks/{id}/examples",
            EDITOR,
            Some(json!([example("g", "/g")])),
        ),
        row(
            M::DELETE,
            "/api/v1/mocks/{id}/examples/{example_id}",
            EDITOR,
            none(),
        ),
        // The workspace, its members and its audit log.
        row(M::GET, "/api/v1/audit", ADMIN, none()),
        row(
            M::PATCH,
            "/api/v1/workspace",
            ADMIN,
            Some(json!({"name": "Renamed team"})),
        ),
        row(
            M::PATCH,
            "/api/v1/members/{account_id}",
            ADMIN,
            Some(json!({"role": "editor"})),
        ),
        row(M::DELETE, "/api/v1/members/{account_id}", ADMIN, none()),
        row(M::GET, "/api/v1/invitations", ADMIN, none()),
        row(
            M::POST,
            "/api/v1/invitations",
            ADMIN,
            Some(json!({"email": "new@example.com", "role": "viewer"})),
        ),
        row(M::DELETE, "/api/v1/invitations/{invitation}", ADMIN, none()),
    ];
    for (method, path, need) in [
        // With a key, it ends every session of the key's member.
        (M::DELETE, "/api/v1/account/sessions", Need::Own),
        (M::DELETE, "/api/v1/mocks/{id}", EDITOR),
        (M::POST, "/api/v1/workspace/leave", VIEWER),
        (M::DELETE, "/api/v1/workspace", OWNER),
    ] {
        rows.push(Row {
            fresh: true,
            ..row(method, path, need, None)
        });
    }
    rows
}

/// How a caller authenticates.
#[derive(Debug, Clone)]
enum Credential {
    /// A session cookie, with its CSRF token (as the web app's scripts send it).
    Session(Secret),
    Key(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Owner,
    Admin,
    Editor,
    Viewer,
    NonMember,
    ViewerAdminKey,
    MockKey,
}

impl Who {
    const ALL: [Who; 7] = [
        Who::MockKey,
        Who::NonMember,
        Who::Owner,
        Who::Admin,
        Who::Editor,
        Who::ViewerAdminKey,
        Who::Viewer,
    ];

    fn role(self) -> Option<Role> {
        match self {
            Who::Owner => Some(Role::Owner),
            Who::Admin => Some(Role::Admin),
            Who::Editor => Some(Role::Editor),
            Who::Viewer | Who::ViewerAdminKey => Some(Role::Viewer),
            Who::NonMember | Who::MockKey => None,
        }
    }
}

/// A team workspace with a member of each role, a non-member, and what the paths name.
struct Team {
    id: String,
    callers: Vec<(Who, Credential)>,
    owner: Credential,
    mock: String,
    example: String,
    /// An admin key of the owner's, for the key routes to act on.
    spare_key: String,
    /// A viewer nobody's column uses, for the member routes to act on.
    spare_member: String,
    /// A pending invitation's id, for the invitation routes to act on.
    invitation: String,
}

const PASSWORD: &str = "correct horse battery";

async fn log_in(app: &TestApp, email: &str) -> Secret {
    app.store()
        .log_in(
            &Email::parse(email).unwrap(),
            Secret::new(PASSWORD),
            &SessionOrigin::default(),
        )
        .await
        .unwrap()
        .expect("the password is right")
        .token
}

/// A session of `email` acting in `workspace`.
async fn session_in(app: &TestApp, email: &str, workspace: &str) -> Secret {
    let token = log_in(app, email).await;
    app.store()
        .switch_workspace(&token, workspace.parse().unwrap())
        .await
        .expect("a member switches");
    token
}

async fn key_of(app: &TestApp, session: &Secret, scope: Scope) -> String {
    let caller = app
        .store()
        .authenticate_session(session)
        .await
        .unwrap()
        .unwrap();
    let new = NewKey {
        name: "matrix",
        scope,
        role: None,
    };
    let (_, secret) = app
        .store()
        .create_key(&caller.workspace, &new)
        .await
        .unwrap();
    secret.expose().to_owned()
}

/// Signs up through the store (the API's sign-ups are throttled per address, and this test
/// makes dozens); the first key.
async fn sign_up(app: &TestApp, email: &str) -> String {
    let signed_up = app
        .store()
        .sign_up(
            &Email::parse(email).unwrap(),
            NewPassword::parse(Secret::new(PASSWORD)).unwrap(),
            FirstAccess::ApiKey,
        )
        .await
        .unwrap();
    let Access::ApiKey { secret, .. } = signed_up.access else {
        panic!("a key was asked for");
    };
    secret.expose().to_owned()
}

async fn join(app: &TestApp, workspace: &str, email: &str, role: Role) -> String {
    sign_up(app, email).await;
    let account: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO workspace_members (workspace_id, account_id, role)
         SELECT $1, id, $2 FROM accounts WHERE email = $3 RETURNING account_id",
    )
    .bind(workspace.parse::<uuid::Uuid>().unwrap())
    .bind(role.as_str())
    .bind(email)
    .fetch_one(app.store().pool())
    .await
    .unwrap();
    account.to_string()
}

async fn team(app: &TestApp, n: usize) -> Team {
    let owner_email = format!("owner{n}@example.com");
    let owner_key = sign_up(app, &owner_email).await;
    let (status, created) = app
        .post(
            "/api/v1/workspaces",
            &owner_key,
            json!({"name": format!("Team {n}")}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let owner = session_in(app, &owner_email, &id).await;
    let owners_key = key_of(app, &owner, Scope::Admin).await;
    let mock = app
        .create_mock(&owners_key, json!({"name": "Orders"}))
        .await;
    let example = app
        .add_example(&owners_key, &mock, example("a", "/a"))
        .await;
    let (status, draft) = app
        .post(
            &format!("/api/v1/mocks/{mock}/draft"),
            &owners_key,
            json!(null),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{draft}");

    let mut callers = vec![(Who::Owner, Credential::Session(owner.clone()))];
    for (who, role) in [
        (Who::Admin, Role::Admin),
        (Who::Editor, Role::Editor),
        (Who::Viewer, Role::Viewer),
    ] {
        let email = format!("{who:?}{n}@example.com").to_lowercase();
        join(app, &id, &email, role).await;
        let session = session_in(app, &email, &id).await;
        if who == Who::Viewer {
            let key = key_of(app, &session, Scope::Admin).await;
            callers.push((Who::ViewerAdminKey, Credential::Key(key)));
        }
        callers.push((who, Credential::Session(session)));
    }
    let stranger = sign_up(app, &format!("stranger{n}@example.com")).await;
    callers.push((Who::NonMember, Credential::Key(stranger)));
    callers.push((
        Who::MockKey,
        Credential::Key(key_of(app, &owner, Scope::Mock).await),
    ));
    let spare_member = join(app, &id, &format!("spare{n}@example.com"), Role::Viewer).await;
    let (_, keys) = app.get("/api/v1/keys", &owners_key).await;
    let spare_key = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["scope"] == "admin")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, invited) = app
        .post(
            "/api/v1/invitations",
            &owners_key,
            json!({"email": format!("invitee{n}@example.com"), "role": "viewer"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{invited}");
    Team {
        invitation: invited["invitation"]["id"].as_str().unwrap().to_owned(),
        id,
        callers,
        owner: Credential::Session(owner),
        mock,
        example,
        spare_key,
        spare_member,
    }
}

impl Team {
    /// The documented path with this team's ids; whether it names one of them.
    fn path(&self, template: &str) -> (String, bool) {
        let path = template
            .replace("/mocks/{id}", &format!("/mocks/{}", self.mock))
            .replace("/keys/{id}", &format!("/keys/{}", self.spare_key))
            .replace(
                "/sessions/{id}",
                "/sessions/01a1fdf6-0000-7000-8000-000000000003",
            )
            .replace("/workspaces/{id}", &format!("/workspaces/{}", self.id))
            .replace("{name}", "free")
            .replace("{example_id}", &self.example)
            .replace("{account_id}", &self.spare_member)
            .replace("{invitation}/accept", "lbi_no_such_invitation/accept")
            .replace("{invitation}", &self.invitation)
            .replace("{number}", "1")
            .replace("{call_id}", "01a1fdf6-0000-7000-8000-000000000001")
            .replace("{report_id}", "01a1fdf6-0000-7000-8000-000000000002");
        (path.clone(), path != template)
    }

    /// What the owner sees of the workspace: what no refused call may change.
    async fn snapshot(&self, app: &TestApp, client: &reqwest::Client) -> Vec<(u16, Value)> {
        let mock = format!("/api/v1/mocks/{}", self.mock);
        let mut seen = Vec::new();
        for path in [
            "/api/v1/workspace".to_owned(),
            "/api/v1/members".to_owned(),
            "/api/v1/invitations".to_owned(),
            "/api/v1/keys".to_owned(),
            "/api/v1/mocks".to_owned(),
            mock.clone(),
            format!("{mock}/examples"),
            format!("{mock}/draft"),
            format!("{mock}/versions"),
            format!("{mock}/state"),
            format!("{mock}/contract"),
            format!("{mock}/recording"),
        ] {
            let response = send(app, client, Method::GET, &path, &self.owner, None).await;
            let status = response.status().as_u16();
            let mut body: Value = response.json().await.unwrap_or(Value::Null);
            // Reading with a key records its use; that is not a change.
            if let Some(keys) = body.as_array_mut() {
                for key in keys {
                    if let Some(key) = key.as_object_mut() {
                        key.remove("last_used_at");
                    }
                }
            }
            seen.push((status, body));
        }
        seen
    }
}

async fn send(
    app: &TestApp,
    client: &reqwest::Client,
    method: Method,
    path: &str,
    credential: &Credential,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut request = client.request(method, format!("{}{path}", app.base));
    request = match credential {
        Credential::Session(token) => request
            .header("cookie", format!("lyrebird_session={}", token.expose()))
            .header("x-csrf-token", csrf::session_token(token)),
        Credential::Key(key) => request.bearer_auth(key),
    };
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.unwrap()
}

/// The status, and the error code of an error answer (a success's body is not read: the live
/// tail's never ends).
async fn outcome(response: reqwest::Response) -> (StatusCode, Option<String>) {
    let status = response.status();
    if status.is_success() {
        return (status, None);
    }
    let body: Value = response.json().await.unwrap_or(Value::Null);
    (status, body["error"]["code"].as_str().map(str::to_owned))
}

#[tokio::test]
async fn every_operation_answers_each_role_as_the_table_says_and_refusals_change_nothing() {
    let app = TestApp::start().await;
    let client = reqwest::Client::new();

    let (_, document) = app
        .call(Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    let documented: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|method| {
                    ["get", "post", "put", "patch", "delete"].contains(&method.as_str())
                })
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    let rows = table();
    let tabled: BTreeSet<(String, String)> = rows
        .iter()
        .map(|row| (row.method.to_string(), row.path.to_owned()))
        .collect();
    assert_eq!(
        documented.difference(&tabled).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "documented operations the table does not say the role of"
    );
    assert_eq!(
        tabled.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "operations in the table that are not documented"
    );

    let shared = team(&app, 0).await;
    let mut teams_made = 0;
    let mut checked = 0;
    for row in rows {
        let need = match row.need {
            Need::Public => continue,
            Need::Own | Need::Operator => None,
            Need::At(role) => Some(role),
        };
        let operators_only = row.need == Need::Operator;
        // Those who may not act go first, each checked to have changed nothing; then those
        // who may. A row that ends something (the mock, a membership, the workspace) gives
        // each caller who may call it a team of its own.
        let (allowed, refused): (Vec<Who>, Vec<Who>) = Who::ALL.into_iter().partition(|who| {
            who.role()
                .is_some_and(|role| need.is_none_or(|need| role >= need))
        });
        let groups: Vec<Vec<Who>> = if row.fresh {
            std::iter::once(refused)
                .chain(allowed.into_iter().map(|who| vec![who]))
                .collect()
        } else {
            vec![refused.into_iter().chain(allowed).collect()]
        };
        for callers in groups {
            let fresh;
            let team = if row.fresh {
                teams_made += 1;
                fresh = team(&app, teams_made).await;
                &fresh
            } else {
                &shared
            };
            let (path, names_ids) = team.path(row.path);
            let before = team.snapshot(&app, &client).await;
            for who in callers {
                let credential = &team.callers.iter().find(|(w, _)| *w == who).unwrap().1;
                let response = send(
                    &app,
                    &client,
                    row.method.clone(),
                    &path,
                    credential,
                    row.body.as_ref(),
                )
                .await;
                let (status, code) = outcome(response).await;
                let cell = format!("{} {} as {who:?}: {status} {code:?}", row.method, row.path);
                let expected = match (who, who.role(), need) {
                    _ if operators_only => Some((StatusCode::NOT_FOUND, "not_found")),
                    (Who::MockKey, _, _) => Some((StatusCode::FORBIDDEN, "admin_scope_required")),
                    (Who::NonMember, _, _) if names_ids => {
                        Some((StatusCode::NOT_FOUND, "not_found"))
                    }
                    (_, Some(role), Some(need)) if role < need => {
                        Some((StatusCode::FORBIDDEN, "role_required"))
                    }
                    // Allowed, or a non-member acting in its own workspace or on its own
                    // account.
                    _ => None,
                };
                match expected {
                    Some((status_wanted, code_wanted)) => assert_eq!(
                        (status, code.as_deref()),
                        (status_wanted, Some(code_wanted)),
                        "{cell}"
                    ),
                    // The account's own operations refuse some callers themselves (a key
                    // where a session is needed, a wrong password), never for want of a role.
                    None if need.is_none() => assert!(
                        status != StatusCode::UNAUTHORIZED
                            && !matches!(
                                code.as_deref(),
                                Some("role_required" | "admin_scope_required")
                            ),
                        "allowed: {cell}"
                    ),
                    None => assert!(!matches!(status.as_u16(), 401 | 403), "allowed: {cell}"),
                }
                if who == Who::NonMember || expected.is_some() {
                    let after = team.snapshot(&app, &client).await;
                    assert_eq!(before, after, "a refused call changed nothing: {cell}");
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 400, "{checked} calls checked");
}

#[tokio::test]
async fn an_admin_manages_every_members_keys_but_an_owners() {
    let app = TestApp::start().await;
    let client = reqwest::Client::new();
    let team = team(&app, 0).await;
    let admin = &team
        .callers
        .iter()
        .find(|(w, _)| *w == Who::Admin)
        .unwrap()
        .1;
    let get = async |credential: &Credential| -> Value {
        let response = send(&app, &client, Method::GET, "/api/v1/keys", credential, None).await;
        response.json().await.unwrap()
    };
    let (members, owners_keys) = (
        send(&app, &client, Method::GET, "/api/v1/members", admin, None)
            .await
            .json::<Value>()
            .await
            .unwrap(),
        get(&team.owner).await,
    );
    let owner_id = members
        .as_array()
        .unwrap()
        .iter()
        .find(|member| member["role"] == "owner")
        .unwrap()["account_id"]
        .clone();
    let listed = get(admin).await;
    let listed = listed.as_array().unwrap();
    assert!(
        listed.iter().any(|key| key["account_id"] != owner_id),
        "the viewer's key is the admin's to manage: {listed:?}"
    );
    assert!(
        listed.iter().all(|key| key["account_id"] != owner_id),
        "no key of the owner's: {listed:?}"
    );
    assert!(owners_keys.as_array().unwrap().len() > listed.len());

    let path = format!("/api/v1/keys/{}", team.spare_key);
    let (status, code) =
        outcome(send(&app, &client, Method::DELETE, &path, admin, None).await).await;
    assert_eq!(
        (status, code.as_deref()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let still = get(&team.owner).await;
    let spare = still
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["id"] == team.spare_key.as_str())
        .unwrap();
    assert!(spare["revoked_at"].is_null(), "the owner's key still works");
}

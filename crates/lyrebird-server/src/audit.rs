//! The audit log's recording: one layer around every route of the API and the pages writes an
//! event for each change that succeeded, named by one table ([`ACTIONS`]) keyed, like the role
//! table of [`crate::auth::roles`], on the method and the matched route. No handler has to
//! remember to record: the caller is noted by the extractors that authenticate it ([`Admin`]
//! and the pages' `WebSession`, through [`seen`]), and a handler only adds what the route alone
//! does not say (a name, a diff) with a [`Note`] in its answer.
//!
//! A change whose route has no name here is still recorded, as `request` with its method and
//! route; a unit test fails on any changing route of the API description without a name.
//!
//! The event is written right after the change, before the answer leaves, on a task that a
//! client hanging up does not stop (docs/audit.md says what that guarantees). Changes made
//! elsewhere than in the caller's workspace (a workspace created, an invitation accepted) record
//! their own with [`record`].
//!
//! [`Admin`]: crate::auth::Admin

use std::sync::{Arc, Mutex};

use axum::extract::{FromRequestParts, RawPathParams, Request, State};
use axum::http::Method;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, IntoResponseParts, Response, ResponseParts};
use lyrebird_store::{AuditActor, Mock, MockId, NewAuditEvent, Store, StoredExample, Workspace};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::AppState;
use crate::auth::client_addr::ClientAddr;
use crate::auth::matched_route;
use crate::diff::json_changes;
use crate::error::ApiError;

/// The action each change is recorded as: method, route (as matched), action. The API's and
/// the pages' routes alike.
pub const ACTIONS: &[(Method, &str, &str)] = &[
    // Mocks and their settings.
    (Method::POST, "/api/v1/mocks", "mock.created"),
    (Method::POST, "/mocks", "mock.created"),
    (Method::PATCH, "/api/v1/mocks/{id}", "mock.changed"),
    (Method::POST, "/mocks/{id}/settings", "mock.changed"),
    (Method::DELETE, "/api/v1/mocks/{id}", "mock.deleted"),
    (Method::POST, "/mocks/{id}/delete", "mock.deleted"),
    (
        Method::PUT,
        "/api/v1/mocks/{id}/upstream-headers",
        "upstream.headers_changed",
    ),
    (
        Method::POST,
        "/mocks/{id}/upstream-headers",
        "upstream.headers_changed",
    ),
    (Method::PUT, "/api/v1/mocks/{id}/contract", "contract.set"),
    (Method::POST, "/mocks/{id}/contract", "contract.set"),
    (
        Method::DELETE,
        "/api/v1/mocks/{id}/contract",
        "contract.removed",
    ),
    (
        Method::POST,
        "/mocks/{id}/contract/remove",
        "contract.removed",
    ),
    (
        Method::POST,
        "/api/v1/mocks/{id}/recording",
        "recording.started",
    ),
    (Method::POST, "/mocks/{id}/recording", "recording.started"),
    (
        Method::POST,
        "/api/v1/mocks/{id}/recording/stop",
        "recording.stopped",
    ),
    (
        Method::POST,
        "/mocks/{id}/recording/stop",
        "recording.stopped",
    ),
    // Examples.
    (
        Method::POST,
        "/api/v1/mocks/{id}/examples",
        "example.created",
    ),
    (Method::POST, "/mocks/{id}/examples/new", "example.created"),
    (
        Method::POST,
        "/mocks/{id}/examples/{example_id}/duplicate",
        "example.created",
    ),
    (
        Method::PUT,
        "/api/v1/mocks/{id}/examples",
        "example.replaced_all",
    ),
    (
        Method::PUT,
        "/api/v1/mocks/{id}/examples/{example_id}",
        "example.changed",
    ),
    (
        Method::POST,
        "/mocks/{id}/examples/{example_id}",
        "example.changed",
    ),
    (
        Method::DELETE,
        "/api/v1/mocks/{id}/examples/{example_id}",
        "example.deleted",
    ),
    (
        Method::POST,
        "/mocks/{id}/examples/{example_id}/delete",
        "example.deleted",
    ),
    (
        Method::POST,
        "/mocks/{id}/examples/{example_id}/priority",
        "example.reordered",
    ),
    // Drafts and versions.
    (Method::POST, "/api/v1/mocks/{id}/draft", "draft.started"),
    (Method::POST, "/mocks/{id}/draft", "draft.started"),
    (Method::PATCH, "/api/v1/mocks/{id}/draft", "draft.changed"),
    (Method::POST, "/mocks/{id}/health/apply", "draft.changed"),
    (
        Method::POST,
        "/api/v1/mocks/{id}/draft/examples",
        "draft.example_created",
    ),
    (
        Method::POST,
        "/mocks/{id}/draft/examples",
        "draft.example_created",
    ),
    (
        Method::POST,
        "/api/v1/mocks/{id}/draft/examples/from-calls",
        "draft.examples_learned",
    ),
    (
        Method::POST,
        "/mocks/{id}/calls/examples",
        "draft.examples_learned",
    ),
    (
        Method::PUT,
        "/api/v1/mocks/{id}/draft/examples",
        "draft.examples_replaced",
    ),
    (
        Method::PUT,
        "/api/v1/mocks/{id}/draft/examples/{example_id}",
        "draft.example_changed",
    ),
    (
        Method::POST,
        "/mocks/{id}/draft/examples/{example_id}",
        "draft.example_changed",
    ),
    (
        Method::DELETE,
        "/api/v1/mocks/{id}/draft/examples/{example_id}",
        "draft.example_deleted",
    ),
    (
        Method::POST,
        "/mocks/{id}/draft/examples/{example_id}/remove",
        "draft.example_deleted",
    ),
    (
        Method::POST,
        "/api/v1/mocks/{id}/draft/impact",
        "draft.impact_checked",
    ),
    (
        Method::POST,
        "/mocks/{id}/draft/impact",
        "draft.impact_checked",
    ),
    (
        Method::POST,
        "/api/v1/mocks/{id}/draft/publish",
        "draft.published",
    ),
    (Method::POST, "/mocks/{id}/draft/publish", "draft.published"),
    (
        Method::DELETE,
        "/api/v1/mocks/{id}/draft",
        "draft.discarded",
    ),
    (Method::POST, "/mocks/{id}/draft/discard", "draft.discarded"),
    (
        Method::POST,
        "/api/v1/mocks/{id}/versions/{number}/restore",
        "version.restored",
    ),
    (
        Method::POST,
        "/mocks/{id}/versions/{number}/restore",
        "version.restored",
    ),
    // State, the call log, checks.
    (Method::PUT, "/api/v1/mocks/{id}/state", "state.changed"),
    (Method::DELETE, "/api/v1/mocks/{id}/state", "state.reset"),
    (Method::POST, "/mocks/{id}/state/reset", "state.reset"),
    (Method::DELETE, "/api/v1/mocks/{id}/calls", "calls.cleared"),
    (Method::POST, "/mocks/{id}/calls/clear", "calls.cleared"),
    (
        Method::POST,
        "/api/v1/mocks/{id}/drift-reports",
        "drift.checked",
    ),
    (Method::POST, "/mocks/{id}/drift", "drift.checked"),
    // Imports.
    (Method::POST, "/api/v1/imports/postman", "import"),
    (Method::POST, "/api/v1/imports/openapi", "import"),
    (Method::POST, "/api/v1/imports/har", "import"),
    (Method::POST, "/api/v1/imports/native", "import"),
    (Method::POST, "/mocks/import", "import"),
    // Keys.
    (Method::POST, "/api/v1/keys", "key.created"),
    (Method::POST, "/keys", "key.created"),
    (Method::DELETE, "/api/v1/keys/{id}", "key.revoked"),
    (Method::POST, "/keys/{id}/revoke", "key.revoked"),
    // Members and the workspace.
    (
        Method::PATCH,
        "/api/v1/members/{account_id}",
        "member.role_changed",
    ),
    (
        Method::DELETE,
        "/api/v1/members/{account_id}",
        "member.removed",
    ),
    (Method::POST, "/api/v1/workspace/leave", "member.left"),
    (Method::POST, "/workspace/leave", "member.left"),
    (Method::PATCH, "/api/v1/workspace", "workspace.renamed"),
    (Method::POST, "/workspace", "workspace.renamed"),
    (Method::POST, "/api/v1/invitations", "member.invited"),
    (Method::POST, "/invitations", "member.invited"),
    (
        Method::DELETE,
        "/api/v1/invitations/{invitation}",
        "invitation.revoked",
    ),
    (
        Method::POST,
        "/invitations/{id}/revoke",
        "invitation.revoked",
    ),
];

/// Actions of the changes that record their own with [`record`] (creating a workspace,
/// accepting an invitation...), and of a change with no name; listed so that the log's filter
/// knows them.
pub const OTHER_ACTIONS: &[&str] = &[
    "invitation.accepted",
    "workspace.renamed",
    "workspace.created",
    "workspace.operator_changed",
    "request",
];

/// Changing routes that record nothing in the caller's workspace: they ask without changing it
/// (tries and checks), are not a workspace's business (signing up, logging in and out, a
/// session's choice of workspace), delete the workspace and its log with it, or record their
/// own event in another workspace with [`record`] (creating one).
pub const NOT_RECORDED: &[&str] = &[
    "/api/v1/accounts",
    "/api/v1/sessions",
    "/api/v1/workspaces",
    "/api/v1/workspaces/{id}/switch",
    "/api/v1/workspace",
    "/workspaces",
    "/workspaces/switch",
    "/workspace/delete",
    // The operator's, which record their own in the workspace changed, or are the server's.
    "/api/v1/operator/plans",
    "/api/v1/operator/plans/{name}",
    "/api/v1/operator/settings",
    "/api/v1/operator/workspaces/{id}",
    // Accepting an invitation, which records its own in the workspace joined.
    "/api/v1/invitations/{invitation}/accept",
    "/invite/{token}",
    // The account's own, which is no workspace's.
    "/api/v1/account/email",
    "/api/v1/password-resets",
    "/account/email",
    "/confirm-email/{token}",
    "/reset-password",
    "/reset-password/{token}",
    "/api/v1/account",
    "/api/v1/account/password",
    "/api/v1/account/sessions",
    "/api/v1/account/sessions/{id}",
    "/account/delete",
    "/account/password",
    "/account/sessions/end-others",
    "/account/sessions/{id}/end",
    "/api/v1/mocks/{id}/try",
    "/api/v1/mocks/{id}/draft/try",
    "/api/v1/mocks/{id}/verify",
    "/api/v1/mocks/{id}/verify/order",
    "/api/v1/mocks/{id}/verify/unmatched",
    "/login",
    "/signup",
    "/logout",
];

/// The action `method` on `route` is recorded as, if it has one.
pub fn action(method: &Method, route: &str) -> Option<&'static str> {
    ACTIONS
        .iter()
        .find(|(m, r, _)| m == method && *r == route)
        .map(|(_, _, action)| *action)
}

/// Whether `name` is an action or a group of them (`mock` for `mock.*`), as the log's filter
/// takes it.
pub fn known_action(name: &str) -> bool {
    ACTIONS
        .iter()
        .map(|(_, _, action)| *action)
        .chain(OTHER_ACTIONS.iter().copied())
        .any(|action| action == name || action.split('.').next() == Some(name))
}

/// Every action name, sorted, once each: what the log's filter offers.
pub fn action_names() -> Vec<&'static str> {
    let mut names: Vec<_> = ACTIONS
        .iter()
        .map(|(_, _, action)| *action)
        .chain(OTHER_ACTIONS.iter().copied())
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// The actions, by group (`mock` for `mock.created`, ...), as the filter offers them.
pub fn action_groups() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for action in action_names() {
        let group = action.split('.').next().unwrap_or(action);
        match groups.last_mut() {
            Some((last, actions)) if *last == group => actions.push(action),
            _ => groups.push((group, vec![action])),
        }
    }
    groups
}

/// What a handler adds to the event of its change, in its answer
/// (`Ok((Note::mock(&mock), Json(view)))`): what the change was to, and details.
#[derive(Debug, Clone, Default)]
pub struct Note {
    target: Option<String>,
    mock: Option<(MockId, String)>,
    details: Map<String, Value>,
}

impl Note {
    /// A change to `mock` itself: its name is the target. (A route's own mock is found without
    /// it, but a mock the change created or deleted is not.)
    pub fn mock(mock: &Mock) -> Self {
        Self {
            mock: Some((mock.id, mock.name.clone())),
            ..Self::default()
        }
    }

    /// A change to something named `target`.
    pub fn target(target: impl Into<String>) -> Self {
        Self {
            target: Some(target.into()),
            ..Self::default()
        }
    }

    /// A change to one of a mock's examples: its name is the target.
    pub fn example(example: &StoredExample) -> Self {
        Self::target(&example.example.name).with("example_id", example.id)
    }

    /// A change to an example, with what changed in it.
    pub fn example_changed(before: &StoredExample, after: &StoredExample) -> Self {
        Self::example(after).with_diff(&before.example, &after.example)
    }

    /// No target beyond the route's mock; details only.
    pub fn details() -> Self {
        Self::default()
    }

    /// Adds a detail.
    pub fn with(mut self, name: &str, value: impl Serialize) -> Self {
        self.details.insert(
            name.to_owned(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
        self
    }

    /// Adds `changes`: what differs from `before` to `after`, as JSON Pointer paths with the
    /// values before and after ([`crate::diff`]).
    pub fn with_diff(self, before: &impl Serialize, after: &impl Serialize) -> Self {
        let (Ok(before), Ok(after)) = (serde_json::to_value(before), serde_json::to_value(after))
        else {
            return self;
        };
        self.with("changes", json_changes(&before, &after))
    }
}

impl IntoResponseParts for Note {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut parts: ResponseParts) -> Result<ResponseParts, Self::Error> {
        parts.extensions_mut().insert(self);
        Ok(parts)
    }
}

/// Marks a page's answer to a form as a refusal, although it is a redirect: the change was not
/// made (the pages' `redirect_with` adds it with an error message).
#[derive(Debug, Clone, Copy)]
pub struct Refused;

/// Where the extractors leave the caller they authenticated, for [`layer`].
#[derive(Debug, Clone, Default)]
struct Seen(Arc<Mutex<Option<Workspace>>>);

/// Notes the caller authenticated for this request (the API's `Admin` and the pages'
/// `WebSession` call it), so that its change is recorded as theirs.
pub fn seen(parts: &Parts, workspace: &Workspace) {
    if let Some(Seen(slot)) = parts.extensions.get::<Seen>() {
        *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(workspace.clone());
    }
}

/// Records the change a request made, once it has succeeded: the layer around every route.
pub async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let address = ClientAddr::of(&parts).0;
    let method = parts.method.clone();
    let route = matched_route(&parts).to_owned();
    let params = path_details(&mut parts).await;
    let seen = Seen::default();
    parts.extensions.insert(seen.clone());
    // The change and its event run on a task of their own: a client that hangs up while its
    // change is made stops neither, so a change that is made is recorded.
    let task = tokio::spawn(async move {
        let response = next.run(Request::from_parts(parts, body)).await;
        let caller = seen.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        let status = response.status();
        let done = (status.is_success() || status.is_redirection())
            && response.extensions().get::<Refused>().is_none();
        if let Some(workspace) = caller
            && done
            && (action(&method, &route).is_some() || !NOT_RECORDED.contains(&route.as_str()))
        {
            let note = response.extensions().get::<Note>().cloned();
            let event = event(&method, &route, params, note);
            let by = AuditActor::of(&workspace, address);
            if let Err(error) = state.store.record_audit(&by, &event).await {
                tracing::error!(
                    %error,
                    action = %event.action,
                    "the change was made but its audit event could not be recorded"
                );
            }
        }
        response
    });
    match task.await {
        Ok(response) => response,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(error) => ApiError::Internal(Box::new(error)).into_response(),
    }
}

/// The route's path parameters, as details; the mock's `id` on a mock's routes.
async fn path_details(parts: &mut Parts) -> Map<String, Value> {
    let Ok(params) = RawPathParams::from_request_parts(parts, &()).await else {
        return Map::new();
    };
    params
        .iter()
        .map(|(name, value)| {
            let name = match name {
                "id" => "mock_id",
                other => other,
            };
            (name.to_owned(), Value::String(value.to_owned()))
        })
        .collect()
}

/// The event of a change: the route's action, the route's mock, the handler's note.
fn event(
    method: &Method,
    route: &str,
    mut details: Map<String, Value>,
    note: Option<Note>,
) -> NewAuditEvent {
    let on_mock = route.starts_with("/api/v1/mocks/{id}") || route.starts_with("/mocks/{id}");
    let path_mock = details
        .get("mock_id")
        .and_then(Value::as_str)
        .filter(|_| on_mock)
        .and_then(|id| id.parse().ok());
    if !on_mock {
        // `{id}` of another route (a key's) is not a mock's.
        if let Some(id) = details.remove("mock_id") {
            details.insert("id".to_owned(), id);
        }
    }
    let note = note.unwrap_or_default();
    let (mock, mock_name) = match note.mock {
        Some((id, name)) => (Some(id), Some(name)),
        None => (path_mock, None),
    };
    if let Some(mock) = mock {
        details.insert("mock_id".to_owned(), json!(mock));
    }
    details.extend(note.details);
    let action = match action(method, route) {
        Some(action) => action.to_owned(),
        None => {
            details.insert("route".to_owned(), json!(format!("{method} {route}")));
            "request".to_owned()
        }
    };
    NewAuditEvent {
        action,
        target: note.target.unwrap_or_default(),
        mock,
        mock_name,
        details: Value::Object(details),
    }
}

/// Records an event that the layer cannot: a change in another workspace than the caller's
/// (the workspace it just created, the one an invitation let it into), or one made outside a
/// request. `workspace` is where the event goes, `by` who acted (`Workspace::actor()` and
/// `member()` of the caller), `address` the client's ([`ClientAddr`]).
pub async fn record(
    store: &Store,
    by: AuditActor,
    action: &str,
    target: &str,
    details: Value,
) -> lyrebird_store::Result<()> {
    let event = NewAuditEvent {
        action: action.to_owned(),
        target: target.to_owned(),
        mock: None,
        mock_name: None,
        details,
    };
    store.record_audit(&by, &event).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route of the API description that changes something has an action, or is one of
    /// the few that record nothing.
    #[test]
    fn every_changing_route_of_the_api_has_an_action() {
        let description = crate::api::openapi::description();
        let mut missing = Vec::new();
        for (path, item) in &description.paths.paths {
            let route = path.as_str();
            let changing = [
                (Method::POST, item.post.is_some()),
                (Method::PUT, item.put.is_some()),
                (Method::PATCH, item.patch.is_some()),
                (Method::DELETE, item.delete.is_some()),
            ];
            for (method, present) in changing {
                if present && action(&method, route).is_none() && !NOT_RECORDED.contains(&route) {
                    missing.push(format!("{method} {route}"));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "changes with no audit action in audit::ACTIONS: {missing:?}"
        );
    }

    #[test]
    fn actions_are_dotted_names_and_groups_filter() {
        for name in action_names() {
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_'),
                "{name}"
            );
        }
        assert!(known_action("mock.created"));
        assert!(known_action("mock"));
        assert!(known_action("member.invited"));
        assert!(!known_action("mock.exploded"));
        assert!(!known_action("mo"));
    }

    #[test]
    fn a_route_without_a_name_is_recorded_as_a_request() {
        let event = event(&Method::POST, "/somewhere/{id}", Map::new(), None);
        assert_eq!(event.action, "request");
        assert_eq!(event.details["route"], "POST /somewhere/{id}");
    }
}

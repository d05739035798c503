//! Which role each operation needs, for the admin API and the pages alike: one table, read by
//! the extractors ([`super::Admin`], the pages' `WebSession`) with the route the request
//! matched, so no handler can forget to check.
//!
//! Reading needs `viewer`; so do the operations that only ask (trying a request, verifying
//! what a mock received) and a member's own keys. Changing members, and invitations, need `admin`;
//! deleting the workspace needs `owner`; every other change needs `editor`. Accepting an
//! invitation and changing one's own email need only an account.

use axum::http::Method;
use lyrebird_store::{Role, Workspace};

use crate::error::ApiError;

/// Routes whose `POST` asks without changing anything.
const ASKING: [&str; 5] = [
    "/api/v1/mocks/{id}/try",
    "/api/v1/mocks/{id}/draft/try",
    "/api/v1/mocks/{id}/verify",
    "/api/v1/mocks/{id}/verify/order",
    "/api/v1/mocks/{id}/verify/unmatched",
];

/// Routes any member may use whatever the method: their own keys, their own membership, their
/// own session's choice of workspace, their own account (its password, sessions, email,
/// deletion), and an invitation's page.
const ANY_MEMBER: [&str; 23] = [
    "/api/v1/account",
    "/api/v1/account/email",
    "/api/v1/account/password",
    "/api/v1/account/sessions",
    "/api/v1/account/sessions/{id}",
    "/account",
    "/account/email",
    "/account/password",
    "/account/sessions/{id}/end",
    "/account/sessions/end-others",
    "/account/delete",
    "/api/v1/keys",
    "/api/v1/keys/{id}",
    "/api/v1/workspaces",
    "/api/v1/workspaces/{id}/switch",
    "/api/v1/workspace/leave",
    "/keys",
    "/keys/{id}/revoke",
    "/logout",
    "/workspaces",
    "/workspaces/switch",
    "/workspace/leave",
    "/invite/{token}",
];

/// Accepting an invitation (into another workspace) is any account's, although it sits under
/// the invitations' admin prefix.
const ACCEPT: &str = "/api/v1/invitations/{invitation}/accept";

/// Route prefixes that need an admin: for any change, and to read invitations and the audit log
/// (every member sees who the members are).
const ADMIN: [&str; 6] = [
    "/api/v1/members",
    "/api/v1/invitations",
    "/api/v1/audit",
    "/members",
    "/invitations",
    "/audit",
];

/// Route prefixes of the operator's console and API: no workspace role is asked for there (the
/// `Operator` extractors check that the account is an operator), so any member passes here.
const OPERATOR: [&str; 2] = ["/api/v1/operator/", "/operator"];

/// The least role `method` on `route` (the route's pattern, as axum matched it) needs.
pub fn required(method: &Method, route: &str) -> Role {
    let reads = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let member_list = route == "/api/v1/members" || route == "/members";
    if route == ACCEPT || OPERATOR.iter().any(|prefix| route.starts_with(prefix)) {
        Role::Viewer
    } else if ADMIN.iter().any(|prefix| route.starts_with(prefix)) && !(reads && member_list) {
        Role::Admin
    } else if ANY_MEMBER.contains(&route) || reads || ASKING.contains(&route) {
        Role::Viewer
    } else if matches!(
        route,
        "/api/v1/workspace" | "/workspace" | "/workspace/delete"
    ) {
        // Renaming is an admin's; deleting an owner's.
        if *method == Method::DELETE || route == "/workspace/delete" {
            Role::Owner
        } else {
            Role::Admin
        }
    } else {
        Role::Editor
    }
}

/// Refuses, as a 403 `role_required`, a caller whose role in the workspace is below what
/// `method` on `route` needs.
pub fn check(workspace: &Workspace, method: &Method, route: &str) -> Result<(), ApiError> {
    let needed = required(method, route);
    if workspace.role() >= needed {
        return Ok(());
    }
    let acting = match workspace.actor() {
        lyrebird_store::Actor::Key(_) => "this key acts as",
        _ => "you are",
    };
    Err(ApiError::RoleRequired(format!(
        "this needs the {needed} role in the workspace, and {acting} {}",
        workspace.role()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_questions_are_a_viewers_and_changes_an_editors() {
        assert_eq!(required(&Method::GET, "/api/v1/mocks/{id}"), Role::Viewer);
        assert_eq!(
            required(&Method::POST, "/api/v1/mocks/{id}/try"),
            Role::Viewer
        );
        assert_eq!(required(&Method::PATCH, "/api/v1/mocks/{id}"), Role::Editor);
        assert_eq!(
            required(&Method::DELETE, "/api/v1/mocks/{id}/calls"),
            Role::Editor
        );
        assert_eq!(
            required(&Method::POST, "/mocks/{id}/settings"),
            Role::Editor
        );
    }

    #[test]
    fn members_are_an_admins_and_the_workspace_an_owners() {
        assert_eq!(required(&Method::GET, "/api/v1/members"), Role::Viewer);
        assert_eq!(required(&Method::GET, "/api/v1/invitations"), Role::Admin);
        assert_eq!(
            required(&Method::PATCH, "/api/v1/members/{account_id}"),
            Role::Admin
        );
        assert_eq!(required(&Method::PATCH, "/api/v1/workspace"), Role::Admin);
        assert_eq!(required(&Method::DELETE, "/api/v1/workspace"), Role::Owner);
        assert_eq!(required(&Method::POST, "/api/v1/keys"), Role::Viewer);
        assert_eq!(required(&Method::GET, "/api/v1/audit"), Role::Admin);
        assert_eq!(required(&Method::GET, "/audit"), Role::Admin);
    }

    #[test]
    fn invitations_are_an_admins_but_accepting_one_any_accounts() {
        assert_eq!(required(&Method::POST, "/api/v1/invitations"), Role::Admin);
        assert_eq!(
            required(&Method::DELETE, "/api/v1/invitations/{invitation}"),
            Role::Admin
        );
        assert_eq!(required(&Method::POST, "/invitations"), Role::Admin);
        assert_eq!(
            required(&Method::POST, "/api/v1/invitations/{invitation}/accept"),
            Role::Viewer
        );
        assert_eq!(required(&Method::POST, "/invite/{token}"), Role::Viewer);
        assert_eq!(
            required(&Method::POST, "/api/v1/account/email"),
            Role::Viewer
        );
        assert_eq!(required(&Method::POST, "/account/email"), Role::Viewer);
    }

    #[test]
    fn the_account_is_its_owners_whatever_their_role() {
        for (method, route) in [
            (Method::GET, "/api/v1/account"),
            (Method::DELETE, "/api/v1/account"),
            (Method::PUT, "/api/v1/account/password"),
            (Method::GET, "/api/v1/account/sessions"),
            (Method::DELETE, "/api/v1/account/sessions"),
            (Method::DELETE, "/api/v1/account/sessions/{id}"),
            (Method::GET, "/account"),
            (Method::POST, "/account/password"),
            (Method::POST, "/account/sessions/{id}/end"),
            (Method::POST, "/account/sessions/end-others"),
            (Method::POST, "/account/delete"),
        ] {
            assert_eq!(required(&method, route), Role::Viewer, "{method} {route}");
        }
    }

    #[test]
    fn the_operators_routes_ask_for_no_workspace_role() {
        assert_eq!(
            required(&Method::DELETE, "/api/v1/operator/workspaces/{id}"),
            Role::Viewer
        );
        assert_eq!(
            required(&Method::POST, "/operator/workspaces/{id}/suspend"),
            Role::Viewer
        );
    }
}

//! The team pages: `/members` (who is in the workspace and with what role; admins change roles
//! and remove members; anyone leaves; the workspace's name and its deletion), `/workspaces`
//! (every workspace of the account, and a new one), and the header's switcher
//! (`POST /workspaces/switch`).
//!
//! The rules are the store's, reached the way the API reaches them; a refusal comes back as a
//! flash on the page it came from.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lyrebird_store::{AccountId, Role, StoreError, WorkspaceId, workspace_name};
use minijinja::context;
use minijinja::value::Serde;
use serde::{Deserialize, Serialize};

use super::csrf::PostedForm;
use super::{Flash, PageError, PagePath, WebSession, format, page, redirect_with};
use crate::AppState;
use crate::api::workspaces::member_note;
use crate::auth::client_addr::ClientAddr;
use crate::auth::session_token;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/members", get(members_page))
        .route("/members/{account_id}", post(change_role))
        .route("/members/{account_id}/remove", post(remove_member))
        .route("/workspace", post(rename))
        .route("/workspace/leave", post(leave))
        .route("/workspace/delete", post(delete))
        .route("/workspaces", get(workspaces_page).post(create))
        .route("/workspaces/switch", post(switch))
}

/// A member as the page lists them.
#[derive(Debug, Serialize)]
struct MemberRow {
    account_id: String,
    email: String,
    role: &'static str,
    joined: String,
    you: bool,
    /// Whether the viewer may change this member's role or remove them.
    manageable: bool,
}

async fn members_page(
    State(state): State<AppState>,
    session: WebSession,
) -> Result<Response, PageError> {
    let role = session.workspace.role();
    let members: Vec<MemberRow> = state
        .store
        .members(&session.workspace)
        .await?
        .into_iter()
        .map(|member| MemberRow {
            you: member.account_id == session.workspace.member(),
            manageable: role == Role::Owner || (role == Role::Admin && member.role != Role::Owner),
            account_id: member.account_id.to_string(),
            email: member.email,
            role: member.role.as_str(),
            joined: format::date(member.created_at),
        })
        .collect();
    let personal = session
        .workspaces
        .iter()
        .any(|membership| membership.id == session.workspace.id() && membership.personal);
    // Owners are offered to owners only; a personal workspace has just its own.
    let roles: Vec<&str> = Role::ALL
        .into_iter()
        .rev()
        .filter(|offered| *offered < Role::Owner || (role == Role::Owner && !personal))
        .map(Role::as_str)
        .collect();
    page(
        &session,
        StatusCode::OK,
        "members.html",
        context! { nav => "members", members => Serde(members), roles, personal },
    )
}

#[derive(Debug, Deserialize)]
struct RoleForm {
    #[serde(default)]
    role: String,
}

async fn change_role(
    State(state): State<AppState>,
    PagePath(account): PagePath<AccountId>,
    PostedForm { session, form }: PostedForm<RoleForm>,
) -> Result<Response, PageError> {
    let Ok(role) = form.role.parse::<Role>() else {
        return Ok(back_to_members(Flash::error(
            "Choose a role from the list.",
        )));
    };
    let changed = state
        .store
        .set_member_role(&session.workspace, account, role)
        .await;
    Ok(match changed {
        Ok(member) => {
            let done = Flash::success(format!("{} is now {}.", member.email, member.role));
            (member_note(&member), back_to_members(done)).into_response()
        }
        Err(error) => back_to_members(refusal(error)?),
    })
}

async fn remove_member(
    State(state): State<AppState>,
    PagePath(account): PagePath<AccountId>,
    PostedForm { session, .. }: PostedForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    let removed = state.store.remove_member(&session.workspace, account).await;
    Ok(match removed {
        Ok(member) => {
            let done = Flash::success(format!(
                "{} is removed from the workspace; their keys here no longer work.",
                member.email
            ));
            (member_note(&member), back_to_members(done)).into_response()
        }
        Err(error) => back_to_members(refusal(error)?),
    })
}

#[derive(Debug, Deserialize)]
struct NameForm {
    #[serde(default)]
    name: String,
}

async fn rename(
    State(state): State<AppState>,
    PostedForm { session, form }: PostedForm<NameForm>,
) -> Result<Response, PageError> {
    Ok(back_to_members(match workspace_name(&form.name) {
        Ok(name) => {
            state
                .store
                .rename_workspace(&session.workspace, name)
                .await?;
            Flash::success(format!("The workspace is now called {name}."))
        }
        Err(message) => Flash::error(format::sentence(&message)),
    }))
}

async fn leave(
    State(state): State<AppState>,
    PostedForm { session, .. }: PostedForm<serde::de::IgnoredAny>,
) -> Result<Response, PageError> {
    match state.store.leave(&session.workspace).await {
        Ok(()) => Ok(redirect_with(
            "/mocks",
            &[Flash::success(
                "You left the workspace; you are back in your personal one.",
            )],
        )),
        Err(error) => Ok(back_to_members(refusal(error)?)),
    }
}

#[derive(Debug, Deserialize)]
struct DeleteForm {
    #[serde(default)]
    confirm: String,
}

async fn delete(
    State(state): State<AppState>,
    PostedForm { session, form }: PostedForm<DeleteForm>,
) -> Result<Response, PageError> {
    let membership = state.store.membership(&session.workspace).await?;
    if form.confirm.trim() != membership.name {
        return Ok(back_to_members(Flash::error(format!(
            "Type the workspace's name, {}, to delete it.",
            membership.name
        ))));
    }
    match state.store.delete_workspace(&session.workspace).await {
        Ok(()) => Ok(redirect_with(
            "/mocks",
            &[Flash::success(format!(
                "Deleted {} and everything in it; you are back in your personal workspace.",
                membership.name
            ))],
        )),
        Err(error) => Ok(back_to_members(refusal(error)?)),
    }
}

async fn workspaces_page(session: WebSession) -> Result<Response, PageError> {
    page(
        &session,
        StatusCode::OK,
        "workspaces.html",
        context! { nav => "workspaces" },
    )
}

async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientAddr(address): ClientAddr,
    PostedForm { session, form }: PostedForm<NameForm>,
) -> Result<Response, PageError> {
    let name = match workspace_name(&form.name) {
        Ok(name) => name,
        Err(message) => {
            return Ok(redirect_with(
                "/workspaces",
                &[Flash::error(format::sentence(&message))],
            ));
        }
    };
    let created =
        crate::api::workspaces::created_workspace(&state, &session.workspace, address, name)
            .await?;
    switch_to(&state, &headers, created.id).await?;
    Ok(redirect_with(
        "/members",
        &[Flash::success(format!(
            "Created {}: you are its owner. Invite your team from here.",
            created.name
        ))],
    ))
}

#[derive(Debug, Deserialize)]
struct SwitchForm {
    #[serde(default)]
    workspace: String,
}

async fn switch(
    State(state): State<AppState>,
    headers: HeaderMap,
    PostedForm { form, .. }: PostedForm<SwitchForm>,
) -> Result<Response, PageError> {
    let id: WorkspaceId = form.workspace.parse().map_err(|_| PageError::NotFound)?;
    switch_to(&state, &headers, id).await?;
    Ok(redirect_with("/mocks", &[]))
}

/// Makes the session of this request act in `workspace`; not a member there is the 404 page.
async fn switch_to(
    state: &AppState,
    headers: &HeaderMap,
    workspace: WorkspaceId,
) -> Result<(), PageError> {
    let token = session_token(headers).ok_or(PageError::NotFound)?;
    Ok(state.store.switch_workspace(&token, workspace).await?)
}

fn back_to_members(flash: Flash) -> Response {
    redirect_with("/members", &[flash])
}

/// A refusal of the workspace's rules as a flash; anything else is the page's error.
fn refusal(error: StoreError) -> Result<Flash, PageError> {
    match error {
        StoreError::OwnerRequired
        | StoreError::AdminRequired
        | StoreError::LastOwner
        | StoreError::PersonalWorkspace
        | StoreError::NotFound => Ok(Flash::error(format::sentence(&error.to_string()))),
        other => Err(other.into()),
    }
}

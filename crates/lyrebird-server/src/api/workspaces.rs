//! Workspaces and their members.
//!
//! - `GET /api/v1/workspaces`: the caller's workspaces with their role; `POST` makes a team
//!   workspace with the caller as its owner; `POST /api/v1/workspaces/{id}/switch` chooses the
//!   one a session acts in (keys act in their own).
//! - `GET/PATCH/DELETE /api/v1/workspace`: the one the caller acts in; `POST
//!   /api/v1/workspace/leave`.
//! - `GET /api/v1/members`, `PATCH/DELETE /api/v1/members/{account_id}`.
//!
//! Which role each needs is in [`crate::auth::roles`]; the rules about owners (an admin does
//! not touch them, the last one stays) are the store's.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use std::net::IpAddr;

use lyrebird_store::audit::AuditActor;
use lyrebird_store::{AccountId, Member, Membership, Role, Workspace, WorkspaceId, workspace_name};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::api::keys::role_schema;
use crate::audit::Note;
use crate::auth::client_addr::ClientAddr;
use crate::auth::{Admin, session_token};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_workspaces, create_workspace))
        .routes(routes!(switch_workspace))
        .routes(routes!(
            current_workspace,
            rename_workspace,
            delete_workspace
        ))
        .routes(routes!(leave_workspace))
        .routes(routes!(list_members))
        .routes(routes!(change_member, remove_member))
}

/// A workspace the caller belongs to.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceMembership {
    #[schema(value_type = String, format = Uuid)]
    pub id: WorkspaceId,
    pub name: String,
    /// The caller's role there: `owner`, `admin`, `editor` or `viewer`.
    #[schema(value_type = String, example = "owner")]
    pub role: Role,
    /// The caller's personal workspace, made at sign-up and deleted with the account.
    pub personal: bool,
    pub members: i64,
    /// The one this request acted in.
    pub current: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl WorkspaceMembership {
    pub(crate) fn of(membership: Membership, current: WorkspaceId) -> Self {
        Self {
            current: membership.id == current,
            id: membership.id,
            name: membership.name,
            role: membership.role,
            personal: membership.personal,
            members: membership.members,
            created_at: membership.created_at,
        }
    }
}

/// A member of the workspace.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    #[schema(value_type = String, format = Uuid)]
    pub account_id: AccountId,
    pub email: String,
    #[schema(value_type = String, example = "editor")]
    pub role: Role,
    /// When they joined.
    #[serde(with = "time::serde::rfc3339")]
    pub joined_at: OffsetDateTime,
}

impl From<Member> for MemberView {
    fn from(member: Member) -> Self {
        Self {
            account_id: member.account_id,
            email: member.email,
            role: member.role,
            joined_at: member.created_at,
        }
    }
}

/// A workspace's name, to create or rename it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceName {
    #[schema(example = "Payments team")]
    pub name: String,
}

/// A member's new role.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberRole {
    #[schema(schema_with = role_schema)]
    pub role: Role,
}

/// Lists the workspaces the caller belongs to, personal first, with the caller's role in each.
#[utoipa::path(
    get,
    path = "/api/v1/workspaces",
    tag = "workspaces",
    responses((status = 200, body = Vec<WorkspaceMembership>), (status = 401, body = ErrorBody))
)]
async fn list_workspaces(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<Json<Vec<WorkspaceMembership>>, ApiError> {
    let current = admin.workspace.id();
    let listed = state.store.workspaces_of(admin.workspace.member()).await?;
    Ok(Json(
        listed
            .into_iter()
            .map(|membership| WorkspaceMembership::of(membership, current))
            .collect(),
    ))
}

/// Creates a team workspace, with the caller as its owner. A session goes on acting in the
/// workspace it was in until it switches.
#[utoipa::path(
    post,
    path = "/api/v1/workspaces",
    tag = "workspaces",
    request_body = WorkspaceName,
    responses(
        (status = 201, body = WorkspaceMembership),
        (status = 401, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
async fn create_workspace(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    admin: Admin,
    ApiJson(body): ApiJson<WorkspaceName>,
) -> Result<(StatusCode, Json<WorkspaceMembership>), ApiError> {
    let name = workspace_name(&body.name).map_err(|message| ApiError::invalid("name", message))?;
    let created = created_workspace(&state, &admin.workspace, address, name).await?;
    Ok((
        StatusCode::CREATED,
        Json(WorkspaceMembership::of(created, admin.workspace.id())),
    ))
}

/// Creates a team workspace owned by the caller's member, and records it as the first event of
/// its audit log: the API's and the page's one way to do it.
pub async fn created_workspace(
    state: &AppState,
    by: &Workspace,
    address: Option<IpAddr>,
    name: &str,
) -> Result<Membership, ApiError> {
    let created = state.store.create_workspace(by.member(), name).await?;
    let actor = AuditActor {
        workspace: created.id,
        ..AuditActor::of(by, address)
    };
    let recorded = crate::audit::record(&state.store, actor, "workspace.created", name, json!({}));
    if let Err(error) = recorded.await {
        // As for every change: it stands, and the log says its event is missing.
        tracing::error!(%error, "the workspace was created but its audit event could not be recorded");
    }
    Ok(created)
}

/// Makes the session act in another of its account's workspaces, from the next request on.
/// A key acts in its own workspace only (409 `session_required`); a workspace the account is
/// not a member of is a 404.
#[utoipa::path(
    post,
    path = "/api/v1/workspaces/{id}/switch",
    tag = "workspaces",
    params(("id" = String, Path, format = Uuid, description = "The workspace's id")),
    responses(
        (status = 200, body = WorkspaceMembership),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Called with a key (`session_required`)", body = ErrorBody),
    )
)]
async fn switch_workspace(
    State(state): State<AppState>,
    headers: HeaderMap,
    admin: Admin,
    ApiPath(id): ApiPath<WorkspaceId>,
) -> Result<Json<WorkspaceMembership>, ApiError> {
    let switched = state
        .store
        .workspaces_of(admin.workspace.member())
        .await?
        .into_iter()
        .find(|membership| membership.id == id)
        .ok_or(ApiError::NotFound)?;
    let token = match admin.workspace.actor() {
        lyrebird_store::Actor::Account(_) => session_token(&headers),
        _ => None,
    }
    .ok_or(ApiError::StateConflict {
        code: "session_required",
        message: "a key acts in the workspace it was made in; only a session switches".into(),
    })?;
    state.store.switch_workspace(&token, id).await?;
    Ok(Json(WorkspaceMembership::of(switched, id)))
}

/// The workspace the caller acts in.
#[utoipa::path(
    get,
    path = "/api/v1/workspace",
    tag = "workspaces",
    responses((status = 200, body = WorkspaceMembership), (status = 401, body = ErrorBody))
)]
async fn current_workspace(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<Json<WorkspaceMembership>, ApiError> {
    let membership = state.store.membership(&admin.workspace).await?;
    Ok(Json(WorkspaceMembership::of(
        membership,
        admin.workspace.id(),
    )))
}

/// Renames the workspace (an admin's or owner's).
#[utoipa::path(
    patch,
    path = "/api/v1/workspace",
    tag = "workspaces",
    request_body = WorkspaceName,
    responses(
        (status = 200, body = WorkspaceMembership),
        (status = 403, description = "Below admin (`role_required`)", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
async fn rename_workspace(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<WorkspaceName>,
) -> Result<Json<WorkspaceMembership>, ApiError> {
    let name = workspace_name(&body.name).map_err(|message| ApiError::invalid("name", message))?;
    state.store.rename_workspace(&admin.workspace, name).await?;
    current_workspace(State(state), admin).await
}

/// Deletes the workspace and everything in it (an owner's). A personal workspace goes only
/// with its account (409 `personal_workspace`).
#[utoipa::path(
    delete,
    path = "/api/v1/workspace",
    tag = "workspaces",
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Below owner (`role_required`)", body = ErrorBody),
        (status = 409, description = "A personal workspace (`personal_workspace`)", body = ErrorBody),
    )
)]
async fn delete_workspace(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<StatusCode, ApiError> {
    state.store.delete_workspace(&admin.workspace).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Leaves the workspace: the caller's keys there stop working. The last owner cannot leave
/// (409 `last_owner`), nor anyone their personal workspace.
#[utoipa::path(
    post,
    path = "/api/v1/workspace/leave",
    tag = "workspaces",
    responses(
        (status = 204, description = "Left"),
        (status = 409, description = "The last owner (`last_owner`)", body = ErrorBody),
    )
)]
async fn leave_workspace(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<StatusCode, ApiError> {
    state.store.leave(&admin.workspace).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The workspace's members, owners first.
#[utoipa::path(
    get,
    path = "/api/v1/members",
    tag = "workspaces",
    responses((status = 200, body = Vec<MemberView>), (status = 401, body = ErrorBody))
)]
async fn list_members(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<Json<Vec<MemberView>>, ApiError> {
    let members = state.store.members(&admin.workspace).await?;
    Ok(Json(members.into_iter().map(MemberView::from).collect()))
}

/// Gives a member another role. Making an owner, or changing an owner's role, is an owner's;
/// the last owner keeps the role (409 `last_owner`).
#[utoipa::path(
    patch,
    path = "/api/v1/members/{account_id}",
    tag = "workspaces",
    params(("account_id" = String, Path, format = Uuid, description = "The member's account id")),
    request_body = MemberRole,
    responses(
        (status = 200, body = MemberView),
        (status = 403, description = "Below admin, or an admin acting on an owner (`role_required`)", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The last owner (`last_owner`), or an owner of a personal workspace (`personal_workspace`)", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
async fn change_member(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(account): ApiPath<AccountId>,
    ApiJson(body): ApiJson<MemberRole>,
) -> Result<(Note, Json<MemberView>), ApiError> {
    let member = state
        .store
        .set_member_role(&admin.workspace, account, body.role)
        .await?;
    Ok((member_note(&member), Json(member.into())))
}

/// The audit log's note of a change to `member`: who, and their role now.
pub(crate) fn member_note(member: &Member) -> Note {
    Note::target(&member.email)
        .with("account_id", member.account_id)
        .with("role", member.role)
}

/// Removes a member: their keys in this workspace stop working at once. Removing an owner is
/// an owner's; the last owner stays (409 `last_owner`).
#[utoipa::path(
    delete,
    path = "/api/v1/members/{account_id}",
    tag = "workspaces",
    params(("account_id" = String, Path, format = Uuid, description = "The member's account id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, description = "Below admin, or an admin removing an owner (`role_required`)", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The last owner (`last_owner`)", body = ErrorBody),
    )
)]
async fn remove_member(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(account): ApiPath<AccountId>,
) -> Result<(Note, StatusCode), ApiError> {
    let removed = state.store.remove_member(&admin.workspace, account).await?;
    Ok((member_note(&removed), StatusCode::NO_CONTENT))
}

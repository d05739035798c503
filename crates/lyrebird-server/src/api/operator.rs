//! The operator's API (`/api/v1/operator/...`): every workspace with its members, mocks,
//! calls and plan; a workspace's quota, plan and suspension; deleting a workspace; plans; and
//! the plan new workspaces get. Only operators reach it ([`Operator`]); to anyone else every
//! route is a 404, as a path no route has.
//!
//! The console's pages (`crate::web::operator`) and `lyrebird operator` (the command line) do
//! the same through the functions here.

use std::net::IpAddr;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use lyrebird_store::{
    AccountId, Actor, AuditActor, MemberBrief, Plan, PlanChange, PlanLimits, Role, Store,
    UsageMonth, WorkspaceId, WorkspaceOverview, WorkspaceRef, plan_name,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::api::mocks::present;
use crate::auth::client_addr::ClientAddr;
use crate::auth::operator::Operator;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_workspaces))
        .routes(routes!(show_workspace, change_workspace, delete_workspace))
        .routes(routes!(list_plans, create_plan))
        .routes(routes!(update_plan, delete_plan))
        .routes(routes!(show_settings, change_settings))
}

/// Workspaces on a page when the request does not say.
pub const DEFAULT_PER_PAGE: u64 = 50;
/// The most workspaces on a page.
pub const MAX_PER_PAGE: u64 = 200;

/// A member as the operator's list shows them.
#[derive(Debug, Serialize, ToSchema)]
pub struct OperatorMemberView {
    pub email: String,
    #[schema(value_type = String, example = "owner")]
    pub role: Role,
}

/// A workspace as the operator sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OperatorWorkspaceView {
    #[schema(value_type = String, format = Uuid)]
    pub id: WorkspaceId,
    pub name: String,
    /// An account's personal workspace (deleted only with the account).
    pub personal: bool,
    /// Owners first.
    pub members: Vec<OperatorMemberView>,
    pub mocks: i64,
    /// Mock calls this calendar month (UTC), calls this server has not written yet included.
    pub calls_this_month: u64,
    /// The quota in force: the workspace's own, else its plan's, else the server's default.
    pub quota: u64,
    /// The workspace's own quota, which beats its plan's; `null` when it has none.
    pub own_quota: Option<u64>,
    pub plan: Option<String>,
    /// The latest call or change of a mock; `null` when there was none.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_activity: Option<OffsetDateTime>,
    pub suspended: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub suspended_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl OperatorWorkspaceView {
    pub fn new(state: &AppState, workspace: WorkspaceOverview) -> Self {
        let month = UsageMonth::current();
        let unwritten = state.runtime.unwritten_calls(workspace.id, month);
        let positive = |n: i64| u64::try_from(n).unwrap_or(0);
        let quota = workspace
            .monthly_quota
            .or(workspace.plan_quota)
            .map_or(state.settings.monthly_quota, positive);
        Self {
            id: workspace.id,
            name: workspace.name,
            personal: workspace.personal,
            members: workspace
                .members
                .0
                .into_iter()
                .map(|MemberBrief { email, role }| OperatorMemberView { email, role })
                .collect(),
            mocks: workspace.mocks,
            calls_this_month: positive(workspace.calls_this_month) + unwritten,
            quota,
            own_quota: workspace.monthly_quota.map(positive),
            plan: workspace.plan,
            last_activity: workspace.last_activity,
            suspended: workspace.suspended_at.is_some(),
            suspended_at: workspace.suspended_at,
            created_at: workspace.created_at,
        }
    }
}

/// A page of workspaces.
#[derive(Debug, Serialize, ToSchema)]
pub struct OperatorWorkspacePage {
    pub workspaces: Vec<OperatorWorkspaceView>,
    /// Workspaces matching the search, over all pages.
    pub total: i64,
    pub page: u64,
    pub per_page: u64,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WorkspaceSearch {
    /// Part of a workspace's name or of a member's email (any case), or a workspace's id.
    pub search: Option<String>,
    /// From 1 (the default).
    pub page: Option<u64>,
    /// 1 to 200; default 50.
    pub per_page: Option<u64>,
}

/// The page of workspaces a search asks for; a page or size out of range is a 422.
pub async fn search_workspaces(
    state: &AppState,
    search: WorkspaceSearch,
) -> Result<OperatorWorkspacePage, ApiError> {
    let page = search.page.unwrap_or(1);
    if page == 0 {
        return Err(ApiError::invalid("page", "pages are counted from 1"));
    }
    let per_page = search.per_page.unwrap_or(DEFAULT_PER_PAGE);
    if !(1..=MAX_PER_PAGE).contains(&per_page) {
        return Err(ApiError::invalid(
            "per_page",
            format!("from 1 to {MAX_PER_PAGE} workspaces a page"),
        ));
    }
    let found = state
        .store
        .operator_workspaces(
            search.search.as_deref(),
            (page - 1).saturating_mul(per_page),
            per_page,
        )
        .await?;
    Ok(OperatorWorkspacePage {
        workspaces: found
            .workspaces
            .into_iter()
            .map(|workspace| OperatorWorkspaceView::new(state, workspace))
            .collect(),
        total: found.total,
        page,
        per_page,
    })
}

/// Every workspace, newest first, with its members, mocks, calls, quota, plan, last activity
/// and suspension; searched by name, member's email or id, a page at a time.
#[utoipa::path(
    get,
    path = "/api/v1/operator/workspaces",
    tag = "operator",
    params(WorkspaceSearch),
    responses(
        (status = 200, body = OperatorWorkspacePage),
        (status = 404, description = "Not an operator", body = ErrorBody),
        (status = 422, body = ErrorBody)
    )
)]
async fn list_workspaces(
    State(state): State<AppState>,
    _: Operator,
    ApiQuery(search): ApiQuery<WorkspaceSearch>,
) -> Result<Json<OperatorWorkspacePage>, ApiError> {
    Ok(Json(search_workspaces(&state, search).await?))
}

/// One workspace as the operator sees it.
#[utoipa::path(
    get,
    path = "/api/v1/operator/workspaces/{id}",
    tag = "operator",
    params(("id" = String, Path, format = Uuid, description = "The workspace's id")),
    responses(
        (status = 200, body = OperatorWorkspaceView),
        (status = 404, description = "No such workspace, or not an operator", body = ErrorBody)
    )
)]
async fn show_workspace(
    State(state): State<AppState>,
    _: Operator,
    ApiPath(id): ApiPath<WorkspaceId>,
) -> Result<Json<OperatorWorkspaceView>, ApiError> {
    let workspace = state.store.operator_workspace(id).await?;
    Ok(Json(OperatorWorkspaceView::new(&state, workspace)))
}

/// What an operator changes about a workspace; fields left out stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorWorkspaceChange {
    /// The workspace's own monthly quota of mock calls, which beats its plan's; `null` removes
    /// it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>)]
    pub monthly_quota: Option<Option<u64>>,
    /// The plan's name; `null` puts the workspace on no plan (the server's defaults).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub plan: Option<Option<String>>,
    /// Suspended: its mocks answer 403 `workspace_suspended`, and its members can read and
    /// export but change nothing.
    pub suspended: Option<bool>,
}

/// Who makes an operator's change to a workspace, as its audit log names them.
#[derive(Debug, Clone, Copy)]
pub struct ChangedBy {
    actor: Actor,
    member: Option<AccountId>,
    address: Option<IpAddr>,
}

impl ChangedBy {
    /// An operator's account, from the console or the API.
    pub fn operator(account: AccountId, address: Option<IpAddr>) -> Self {
        Self {
            actor: Actor::Account(account),
            member: Some(account),
            address,
        }
    }

    /// `lyrebird operator ...` at the server's command line.
    pub const COMMAND_LINE: Self = Self {
        actor: Actor::System,
        member: None,
        address: None,
    };
}

/// Applies an operator's change to a workspace, and records it in the workspace's audit log as
/// the operator's (`workspace.operator_changed`); a plan that does not exist is a 422 and
/// changes nothing.
pub async fn change(
    store: &Store,
    workspace: &WorkspaceRef,
    change: OperatorWorkspaceChange,
    by: ChangedBy,
) -> Result<WorkspaceId, ApiError> {
    let id = store.workspace_id(workspace).await?;
    let mut details = serde_json::Map::new();
    if let Some(quota) = change.monthly_quota {
        details.insert("monthly_quota".into(), json!(quota));
    }
    if let Some(plan) = &change.plan {
        details.insert("plan".into(), json!(plan));
    }
    if let Some(suspended) = change.suspended {
        details.insert("suspended".into(), json!(suspended));
    }
    let workspace = WorkspaceRef::Id(id);
    if let Some(Some(plan)) = &change.plan {
        known_plan(store, plan).await?;
    }
    if let Some(quota) = change.monthly_quota {
        store.set_monthly_quota(&workspace, quota).await?;
    }
    if let Some(plan) = &change.plan {
        store.assign_plan(&workspace, plan.as_deref()).await?;
    }
    if let Some(suspended) = change.suspended {
        store.set_suspended(&workspace, suspended).await?;
    }
    let by = AuditActor {
        workspace: id,
        actor: by.actor,
        member: by.member,
        address: by.address,
    };
    let recorded =
        crate::audit::record(store, by, "workspace.operator_changed", "", details.into());
    if let Err(error) = recorded.await {
        tracing::error!(%error, "the operator's change was made but its audit event could not be recorded");
    }
    Ok(id)
}

/// A plan named in a request: a 422 on `plan` when there is none.
async fn known_plan(store: &Store, name: &str) -> Result<Plan, ApiError> {
    match store.plan(name).await {
        Err(lyrebird_store::StoreError::NotFound) => Err(ApiError::invalid(
            "plan",
            format!("no plan is named {name:?}"),
        )),
        other => Ok(other?),
    }
}

/// Sets a workspace's own quota or plan, or suspends or unsuspends it; every server applies it
/// at once.
#[utoipa::path(
    patch,
    path = "/api/v1/operator/workspaces/{id}",
    tag = "operator",
    params(("id" = String, Path, format = Uuid, description = "The workspace's id")),
    request_body = OperatorWorkspaceChange,
    responses(
        (status = 200, body = OperatorWorkspaceView),
        (status = 403, description = "A session's change without its CSRF token", body = ErrorBody),
        (status = 404, description = "No such workspace, or not an operator", body = ErrorBody),
        (status = 422, description = "No such plan, or a field that is not accepted", body = ErrorBody)
    )
)]
async fn change_workspace(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    operator: Operator,
    ApiPath(id): ApiPath<WorkspaceId>,
    ApiJson(body): ApiJson<OperatorWorkspaceChange>,
) -> Result<Json<OperatorWorkspaceView>, ApiError> {
    let by = ChangedBy::operator(operator.account, address);
    change(&state.store, &WorkspaceRef::Id(id), body, by).await?;
    let workspace = state.store.operator_workspace(id).await?;
    Ok(Json(OperatorWorkspaceView::new(&state, workspace)))
}

/// Deletes a team workspace with its mocks, calls and keys. A personal workspace goes only
/// with its account: 409 `personal_workspace`.
#[utoipa::path(
    delete,
    path = "/api/v1/operator/workspaces/{id}",
    tag = "operator",
    params(("id" = String, Path, format = Uuid, description = "The workspace's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "A session's change without its CSRF token", body = ErrorBody),
        (status = 404, description = "No such workspace, or not an operator", body = ErrorBody),
        (status = 409, description = "A personal workspace", body = ErrorBody)
    )
)]
async fn delete_workspace(
    State(state): State<AppState>,
    _: Operator,
    ApiPath(id): ApiPath<WorkspaceId>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .operator_delete_workspace(&WorkspaceRef::Id(id))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A plan: named limits; `null` is the server's default for that limit.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanView {
    pub name: String,
    /// Mock calls per calendar month (UTC), unless the workspace has a quota of its own.
    pub monthly_quota: Option<u64>,
    /// Mocks a workspace may hold; creating or importing one more is a 409
    /// `mock_limit_reached`.
    pub max_mocks: Option<u32>,
    /// Days the call log keeps the workspace's calls.
    pub call_retention_days: Option<u32>,
    /// Bytes one state of a mock may hold; a call that would write more is answered 507
    /// `state_full`.
    pub state_max_bytes: Option<u64>,
    /// Workspaces on the plan.
    pub workspaces: i64,
    /// New workspaces get this plan.
    pub default: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<Plan> for PlanView {
    fn from(plan: Plan) -> Self {
        let PlanLimits {
            monthly_quota,
            max_mocks,
            call_retention_days,
            state_max_bytes,
        } = plan.limits;
        Self {
            name: plan.name,
            monthly_quota,
            max_mocks,
            call_retention_days,
            state_max_bytes,
            workspaces: plan.workspaces,
            default: plan.default,
            created_at: plan.created_at,
        }
    }
}

/// A plan's limits as a request gives them: on creation, fields left out are the server's
/// defaults; on an update, fields left out stay and `null` gives the limit back to the
/// server's default.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanFields {
    /// Lowercase letters, digits, `-` and `_` (creation only).
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>)]
    pub monthly_quota: Option<Option<u64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>)]
    pub max_mocks: Option<Option<u32>>,
    /// At least 1.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>)]
    pub call_retention_days: Option<Option<u32>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>)]
    pub state_max_bytes: Option<Option<u64>>,
}

impl PlanFields {
    /// The change these fields ask for; a retention of 0 days is a 422.
    pub fn change(&self) -> Result<PlanChange, ApiError> {
        if self.call_retention_days == Some(Some(0)) {
            return Err(ApiError::invalid(
                "call_retention_days",
                "the call log keeps calls for at least 1 day",
            ));
        }
        Ok(PlanChange {
            monthly_quota: self.monthly_quota,
            max_mocks: self.max_mocks,
            call_retention_days: self.call_retention_days,
            state_max_bytes: self.state_max_bytes,
        })
    }
}

/// Creates a plan from its fields: a name that is missing, not a plan name, or taken is
/// refused.
pub async fn create(store: &Store, fields: &PlanFields) -> Result<Plan, ApiError> {
    let Some(name) = fields.name.as_deref() else {
        return Err(ApiError::invalid("name", "a plan needs a name"));
    };
    let name = plan_name(name).map_err(|message| ApiError::invalid("name", message))?;
    let change = fields.change()?;
    let limits = PlanLimits {
        monthly_quota: change.monthly_quota.flatten(),
        max_mocks: change.max_mocks.flatten(),
        call_retention_days: change.call_retention_days.flatten(),
        state_max_bytes: change.state_max_bytes.flatten(),
    };
    Ok(store.create_plan(name, limits).await?)
}

/// Every plan, by name.
#[utoipa::path(
    get,
    path = "/api/v1/operator/plans",
    tag = "operator",
    responses(
        (status = 200, body = Vec<PlanView>),
        (status = 404, description = "Not an operator", body = ErrorBody)
    )
)]
async fn list_plans(
    State(state): State<AppState>,
    _: Operator,
) -> Result<Json<Vec<PlanView>>, ApiError> {
    let plans = state.store.plans().await?;
    Ok(Json(plans.into_iter().map(PlanView::from).collect()))
}

/// Creates a plan.
#[utoipa::path(
    post,
    path = "/api/v1/operator/plans",
    tag = "operator",
    request_body = PlanFields,
    responses(
        (status = 201, body = PlanView),
        (status = 403, description = "A session's change without its CSRF token", body = ErrorBody),
        (status = 404, description = "Not an operator", body = ErrorBody),
        (status = 409, description = "The name is taken: `plan_exists`", body = ErrorBody),
        (status = 422, body = ErrorBody)
    )
)]
async fn create_plan(
    State(state): State<AppState>,
    _: Operator,
    ApiJson(fields): ApiJson<PlanFields>,
) -> Result<(StatusCode, Json<PlanView>), ApiError> {
    let plan = create(&state.store, &fields).await?;
    Ok((StatusCode::CREATED, Json(plan.into())))
}

/// Changes a plan's limits; the workspaces on it take them in at once.
#[utoipa::path(
    patch,
    path = "/api/v1/operator/plans/{name}",
    tag = "operator",
    params(("name" = String, Path, description = "The plan's name")),
    request_body = PlanFields,
    responses(
        (status = 200, body = PlanView),
        (status = 403, description = "A session's change without its CSRF token", body = ErrorBody),
        (status = 404, description = "No such plan, or not an operator", body = ErrorBody),
        (status = 422, body = ErrorBody)
    )
)]
async fn update_plan(
    State(state): State<AppState>,
    _: Operator,
    ApiPath(name): ApiPath<String>,
    ApiJson(fields): ApiJson<PlanFields>,
) -> Result<Json<PlanView>, ApiError> {
    if fields.name.is_some() {
        return Err(ApiError::invalid("name", "a plan keeps its name"));
    }
    let plan = state.store.update_plan(&name, fields.change()?).await?;
    Ok(Json(plan.into()))
}

/// Deletes a plan no workspace is on (409 `plan_in_use` otherwise).
#[utoipa::path(
    delete,
    path = "/api/v1/operator/plans/{name}",
    tag = "operator",
    params(("name" = String, Path, description = "The plan's name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "A session's change without its CSRF token", body = ErrorBody),
        (status = 404, description = "No such plan, or not an operator", body = ErrorBody),
        (status = 409, description = "Workspaces are on it: `plan_in_use`", body = ErrorBody)
    )
)]
async fn delete_plan(
    State(state): State<AppState>,
    _: Operator,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.store.delete_plan(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The operator's settings of the server.
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OperatorSettings {
    /// The plan new workspaces get (sign-ups and team workspaces); `null`: none.
    pub default_plan: Option<String>,
}

/// The operator's settings.
#[utoipa::path(
    get,
    path = "/api/v1/operator/settings",
    tag = "operator",
    responses(
        (status = 200, body = OperatorSettings),
        (status = 404, description = "Not an operator", body = ErrorBody)
    )
)]
async fn show_settings(
    State(state): State<AppState>,
    _: Operator,
) -> Result<Json<OperatorSettings>, ApiError> {
    let plans = state.store.plans().await?;
    Ok(Json(OperatorSettings {
        default_plan: plans.into_iter().find(|plan| plan.default).map(|p| p.name),
    }))
}

/// Chooses the plan new workspaces get; workspaces that exist keep theirs.
#[utoipa::path(
    put,
    path = "/api/v1/operator/settings",
    tag = "operator",
    request_body = OperatorSettings,
    responses(
        (status = 200, body = OperatorSettings),
        (status = 403, description = "A session's change without its CSRF token", body = ErrorBody),
        (status = 404, description = "Not an operator", body = ErrorBody),
        (status = 422, description = "No such plan", body = ErrorBody)
    )
)]
async fn change_settings(
    State(state): State<AppState>,
    _: Operator,
    ApiJson(settings): ApiJson<OperatorSettings>,
) -> Result<Json<OperatorSettings>, ApiError> {
    set_default_plan(&state.store, settings.default_plan.as_deref()).await?;
    Ok(Json(settings))
}

/// Makes new workspaces get this plan (`None`: no plan); a plan that does not exist is a 422.
pub async fn set_default_plan(store: &Store, plan: Option<&str>) -> Result<(), ApiError> {
    if let Some(plan) = plan {
        known_plan(store, plan).await?;
    }
    Ok(store.set_default_plan(plan).await?)
}

//! The operator's console (`/operator`): every workspace with its members, mocks, calls, quota,
//! plan, last activity and suspension, searched and paged; a workspace's page to set its quota
//! or plan, suspend or unsuspend it, or delete it (typing its name); and the plans, with the
//! one new workspaces get. The work is the operator API's ([`crate::api::operator`]).
//!
//! To anyone who is not an operator, signed in or not, every page here is the 404 page.

use axum::Router;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lyrebird_store::{Credential, WorkspaceId, WorkspaceRef};
use minijinja::context;
use minijinja::value::Serde;
use serde::{Deserialize, Serialize};

use super::csrf::PostedForm;
use super::{Flash, PageError, PagePath, WebSession, format, page, redirect_with};
use crate::AppState;
use crate::api::operator::{
    self as api, ChangedBy, OperatorWorkspaceChange, OperatorWorkspaceView, PlanFields,
    WorkspaceSearch,
};
use crate::auth::client_addr::ClientAddr;
use crate::auth::session_token;
use crate::error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/operator", get(console))
        .route("/operator/workspaces/{id}", get(workspace_page))
        .route("/operator/workspaces/{id}/quota", post(set_quota))
        .route("/operator/workspaces/{id}/plan", post(set_plan))
        .route("/operator/workspaces/{id}/suspend", post(suspend))
        .route("/operator/workspaces/{id}/unsuspend", post(unsuspend))
        .route("/operator/workspaces/{id}/delete", post(delete))
        .route("/operator/plans", get(plans_page).post(create_plan))
        .route("/operator/plans/default", post(set_default_plan))
        .route("/operator/plans/{name}/delete", post(delete_plan))
}

/// A signed-in operator on a page of the console; anyone else gets the 404 page.
#[derive(Debug)]
pub struct OperatorPage(pub WebSession);

impl FromRequestParts<AppState> for OperatorPage {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let not_found = || PageError::NotFound.into_response();
        let token = session_token(&parts.headers).ok_or_else(not_found)?;
        let caller = state
            .store
            .authenticate_session(&token)
            .await
            .map_err(|error| PageError::from(error).into_response())?
            .ok_or_else(not_found)?;
        let Credential::Session { account } = caller.credential else {
            return Err(not_found());
        };
        let operator = state
            .store
            .is_operator(account)
            .await
            .map_err(|error| PageError::from(error).into_response())?;
        if !operator {
            return Err(not_found());
        }
        Ok(OperatorPage(
            WebSession::from_request_parts(parts, state).await?,
        ))
    }
}

#[derive(Debug, Deserialize)]
struct ConsoleQuery {
    q: Option<String>,
    /// From 1; anything else is the first page.
    page: Option<String>,
}

async fn console(
    State(state): State<AppState>,
    OperatorPage(session): OperatorPage,
    axum::extract::Query(query): axum::extract::Query<ConsoleQuery>,
) -> Result<Response, PageError> {
    let search = query.q.clone().filter(|q| !q.trim().is_empty());
    let found = api::search_workspaces(
        &state,
        WorkspaceSearch {
            search: search.clone(),
            page: Some(
                query
                    .page
                    .and_then(|page| page.parse().ok())
                    .unwrap_or(1u64)
                    .max(1),
            ),
            per_page: None,
        },
    )
    .await?;
    let pages = found.total.unsigned_abs().div_ceil(found.per_page).max(1);
    let rows: Vec<WorkspaceRow> = found
        .workspaces
        .into_iter()
        .map(WorkspaceRow::from)
        .collect();
    let link = |page: u64| match &search {
        Some(q) => format!(
            "/operator?q={}&page={page}",
            super::session::percent_encode(q)
        ),
        None => format!("/operator?page={page}"),
    };
    page(
        &session,
        StatusCode::OK,
        "operator.html",
        context! {
            nav => "operator",
            search => &search,
            workspaces => Serde(&rows),
            total => found.total,
            page => found.page,
            pages => pages,
            previous => (found.page > 1).then(|| link(found.page - 1)),
            next => (found.page < pages).then(|| link(found.page + 1)),
        },
    )
}

/// A workspace as the console shows it.
#[derive(Debug, Serialize)]
struct WorkspaceRow {
    id: String,
    name: String,
    personal: bool,
    members: Vec<String>,
    mocks: i64,
    calls: String,
    quota: String,
    own_quota: Option<u64>,
    plan: Option<String>,
    last_activity: Option<String>,
    suspended: bool,
    created: String,
}

impl From<OperatorWorkspaceView> for WorkspaceRow {
    fn from(workspace: OperatorWorkspaceView) -> Self {
        Self {
            id: workspace.id.to_string(),
            name: workspace.name,
            personal: workspace.personal,
            members: workspace
                .members
                .into_iter()
                .map(|member| format!("{} ({})", member.email, member.role))
                .collect(),
            mocks: workspace.mocks,
            calls: format::count(workspace.calls_this_month),
            quota: format::count(workspace.quota),
            own_quota: workspace.own_quota,
            plan: workspace.plan,
            last_activity: workspace.last_activity.map(format::time),
            suspended: workspace.suspended,
            created: format::date(workspace.created_at),
        }
    }
}

async fn workspace_page(
    State(state): State<AppState>,
    OperatorPage(session): OperatorPage,
    PagePath(id): PagePath<WorkspaceId>,
) -> Result<Response, PageError> {
    let workspace = state.store.operator_workspace(id).await?;
    let row = WorkspaceRow::from(OperatorWorkspaceView::new(&state, workspace));
    let plans = state.store.plans().await?;
    let plan_names: Vec<String> = plans.into_iter().map(|plan| plan.name).collect();
    page(
        &session,
        StatusCode::OK,
        "operator_workspace.html",
        context! {
            nav => "operator",
            workspace => Serde(&row),
            plans => plan_names,
        },
    )
}

fn workspace_path(id: WorkspaceId) -> String {
    format!("/operator/workspaces/{id}")
}

/// Applies a change to the workspace and leads back to its page with what happened.
async fn apply(
    state: &AppState,
    id: WorkspaceId,
    change: OperatorWorkspaceChange,
    by: ChangedBy,
    done: &str,
) -> Result<Response, PageError> {
    let flash = match api::change(&state.store, &WorkspaceRef::Id(id), change, by).await {
        Ok(_) => Flash::success(done),
        Err(ApiError::Invalid { message, .. }) => Flash::error(format::sentence(&message)),
        Err(error) => return Err(error.into()),
    };
    Ok(redirect_with(&workspace_path(id), &[flash]))
}

#[derive(Debug, Deserialize)]
struct QuotaForm {
    /// Empty: remove the workspace's own quota.
    quota: String,
}

async fn set_quota(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    _: OperatorPage,
    PagePath(id): PagePath<WorkspaceId>,
    PostedForm { form, session }: PostedForm<QuotaForm>,
) -> Result<Response, PageError> {
    let quota = match form.quota.trim() {
        "" => None,
        given => match given.replace([',', '_', ' '], "").parse::<u64>() {
            Ok(quota) => Some(quota),
            Err(_) => {
                let flash = Flash::error("The quota is a whole number of mock calls, or empty.");
                return Ok(redirect_with(&workspace_path(id), &[flash]));
            }
        },
    };
    let change = OperatorWorkspaceChange {
        monthly_quota: Some(quota),
        ..OperatorWorkspaceChange::default()
    };
    let done = match quota {
        Some(quota) => format!("Monthly quota set to {}.", format::count(quota)),
        None => "The workspace's own quota is removed: its plan's applies.".to_owned(),
    };
    let by = ChangedBy::operator(session.workspace.member(), address);
    apply(&state, id, change, by, &done).await
}

#[derive(Debug, Deserialize)]
struct PlanForm {
    /// Empty: no plan.
    plan: String,
}

async fn set_plan(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    _: OperatorPage,
    PagePath(id): PagePath<WorkspaceId>,
    PostedForm { form, session }: PostedForm<PlanForm>,
) -> Result<Response, PageError> {
    let plan = Some(form.plan.trim().to_owned()).filter(|plan| !plan.is_empty());
    let done = match &plan {
        Some(plan) => format!("The workspace is on plan {plan}."),
        None => "The workspace is on no plan: the server's defaults apply.".to_owned(),
    };
    let change = OperatorWorkspaceChange {
        plan: Some(plan),
        ..OperatorWorkspaceChange::default()
    };
    let by = ChangedBy::operator(session.workspace.member(), address);
    apply(&state, id, change, by, &done).await
}

/// A form with nothing but its CSRF token.
#[derive(Debug, Deserialize)]
struct Confirm {}

async fn suspend(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    _: OperatorPage,
    PagePath(id): PagePath<WorkspaceId>,
    PostedForm { session, .. }: PostedForm<Confirm>,
) -> Result<Response, PageError> {
    set_suspended(
        &state,
        id,
        true,
        ChangedBy::operator(session.workspace.member(), address),
    )
    .await
}

async fn unsuspend(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    _: OperatorPage,
    PagePath(id): PagePath<WorkspaceId>,
    PostedForm { session, .. }: PostedForm<Confirm>,
) -> Result<Response, PageError> {
    set_suspended(
        &state,
        id,
        false,
        ChangedBy::operator(session.workspace.member(), address),
    )
    .await
}

async fn set_suspended(
    state: &AppState,
    id: WorkspaceId,
    suspended: bool,
    by: ChangedBy,
) -> Result<Response, PageError> {
    let change = OperatorWorkspaceChange {
        suspended: Some(suspended),
        ..OperatorWorkspaceChange::default()
    };
    let done = match suspended {
        true => "The workspace is suspended: its mocks answer 403.",
        false => "The workspace is no longer suspended.",
    };
    apply(state, id, change, by, done).await
}

#[derive(Debug, Deserialize)]
struct DeleteForm {
    /// The workspace's name, typed to confirm.
    name: String,
}

async fn delete(
    State(state): State<AppState>,
    _: OperatorPage,
    PagePath(id): PagePath<WorkspaceId>,
    PostedForm { form, .. }: PostedForm<DeleteForm>,
) -> Result<Response, PageError> {
    let workspace = state.store.operator_workspace(id).await?;
    if form.name.trim() != workspace.name {
        let flash = Flash::error("Type the workspace's name exactly to delete it.");
        return Ok(redirect_with(&workspace_path(id), &[flash]));
    }
    match state
        .store
        .operator_delete_workspace(&WorkspaceRef::Id(id))
        .await
    {
        Ok(_) => {
            let flash = Flash::success(format!("Workspace “{}” is deleted.", workspace.name));
            Ok(redirect_with("/operator", &[flash]))
        }
        Err(lyrebird_store::StoreError::PersonalWorkspace) => {
            let flash = Flash::error(
                "A personal workspace is deleted only with its account: suspend it instead.",
            );
            Ok(redirect_with(&workspace_path(id), &[flash]))
        }
        Err(error) => Err(error.into()),
    }
}

async fn plans_page(
    State(state): State<AppState>,
    OperatorPage(session): OperatorPage,
) -> Result<Response, PageError> {
    let plans: Vec<api::PlanView> = state
        .store
        .plans()
        .await?
        .into_iter()
        .map(api::PlanView::from)
        .collect();
    page(
        &session,
        StatusCode::OK,
        "operator_plans.html",
        context! {
            nav => "operator",
            plans => Serde(&plans),
            default_plan => plans.iter().find(|plan| plan.default).map(|plan| &plan.name),
        },
    )
}

#[derive(Debug, Deserialize)]
struct NewPlanForm {
    name: String,
    monthly_quota: String,
    max_mocks: String,
    call_retention_days: String,
    state_max_bytes: String,
}

/// A limit typed in a form: empty is the server's default.
fn form_limit<T: std::str::FromStr>(value: &str, label: &str) -> Result<Option<Option<T>>, String> {
    match value.trim().replace([',', '_', ' '], "").as_str() {
        "" => Ok(Some(None)),
        number => number
            .parse()
            .map(|n| Some(Some(n)))
            .map_err(|_| format!("{label} is a whole number, or empty for the server's default.")),
    }
}

async fn create_plan(
    State(state): State<AppState>,
    _: OperatorPage,
    PostedForm { form, .. }: PostedForm<NewPlanForm>,
) -> Result<Response, PageError> {
    let fields = (|| {
        Ok::<_, String>(PlanFields {
            name: Some(form.name.clone()),
            monthly_quota: form_limit(&form.monthly_quota, "The monthly quota")?,
            max_mocks: form_limit(&form.max_mocks, "The most mocks")?,
            call_retention_days: form_limit(&form.call_retention_days, "The call-log retention")?,
            state_max_bytes: form_limit(&form.state_max_bytes, "The state size")?,
        })
    })();
    let flash = match fields {
        Err(message) => Flash::error(message),
        Ok(fields) => match api::create(&state.store, &fields).await {
            Ok(plan) => Flash::success(format!("Plan {} created.", plan.name)),
            Err(error @ (ApiError::Invalid { .. } | ApiError::Conflict { .. })) => {
                Flash::error(format::sentence(&error.to_string()))
            }
            Err(error) => return Err(error.into()),
        },
    };
    Ok(redirect_with("/operator/plans", &[flash]))
}

async fn set_default_plan(
    State(state): State<AppState>,
    _: OperatorPage,
    PostedForm { form, .. }: PostedForm<PlanForm>,
) -> Result<Response, PageError> {
    let plan = Some(form.plan.trim()).filter(|plan| !plan.is_empty());
    let flash = match api::set_default_plan(&state.store, plan).await {
        Ok(()) => Flash::success(match plan {
            Some(plan) => format!("New workspaces get plan {plan}."),
            None => "New workspaces get no plan.".to_owned(),
        }),
        Err(ApiError::Invalid { message, .. }) => Flash::error(format::sentence(&message)),
        Err(error) => return Err(error.into()),
    };
    Ok(redirect_with("/operator/plans", &[flash]))
}

async fn delete_plan(
    State(state): State<AppState>,
    _: OperatorPage,
    PagePath(name): PagePath<String>,
    _: PostedForm<Confirm>,
) -> Result<Response, PageError> {
    let flash = match state.store.delete_plan(&name).await {
        Ok(()) => Flash::success(format!("Plan {name} deleted.")),
        Err(error @ lyrebird_store::StoreError::PlanInUse { .. }) => {
            Flash::error(format::sentence(&error.to_string()))
        }
        Err(error) => return Err(error.into()),
    };
    Ok(redirect_with("/operator/plans", &[flash]))
}

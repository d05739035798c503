//! The workspace's mock calls this month against its quota: `GET /api/v1/usage`, and the
//! operator's `lyrebird workspace set-quota` (the older spelling of `lyrebird operator quota`).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use lyrebird_store::{StoreError, UsageMonth, Workspace, WorkspaceId, WorkspaceRef};

use crate::AppState;
use crate::auth::Admin;
use crate::config::ServeArgs;
use crate::database;
use crate::error::{ApiError, ErrorBody};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(usage))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageView {
    /// The calendar month (UTC) being counted.
    #[schema(example = "2026-11")]
    pub month: String,
    /// Mock calls served this month: matched, unmatched and fallback answers. Calls refused for
    /// a missing key or over the quota do not count.
    pub calls: u64,
    pub quota: u64,
    pub remaining: u64,
    /// When the count starts again: the first day of next month, 00:00 UTC.
    #[serde(with = "time::serde::rfc3339")]
    pub resets_at: OffsetDateTime,
}

/// The workspace's usage of its monthly quota of mock calls.
#[utoipa::path(
    get,
    path = "/api/v1/usage",
    tag = "usage",
    responses((status = 200, body = UsageView), (status = 401, body = ErrorBody))
)]
async fn usage(State(state): State<AppState>, admin: Admin) -> Result<Json<UsageView>, ApiError> {
    Ok(Json(this_month(&state, &admin.workspace).await?))
}

/// The workspace's usage this month, calls not yet written included: what the API and the
/// usage page show.
pub async fn this_month(state: &AppState, workspace: &Workspace) -> Result<UsageView, ApiError> {
    let month = UsageMonth::current();
    let stored = state
        .store
        .usage(workspace, month, state.settings.monthly_quota)
        .await?;
    let calls = stored.calls + state.runtime.unwritten_calls(workspace.id(), month);
    Ok(UsageView {
        month: month.to_string(),
        calls,
        quota: stored.quota,
        remaining: stored.quota.saturating_sub(calls),
        resets_at: month.resets_at(),
    })
}

/// `lyrebird workspace set-quota`: sets the quota in the database the server uses (the
/// embedded cluster, running or not, or `DATABASE_URL`); running servers apply it at once.
pub async fn set_quota(
    args: &ServeArgs,
    workspace: &WorkspaceRef,
    quota: u64,
) -> anyhow::Result<WorkspaceId> {
    let (store, embedded) = database::open(args, database::Running::Share).await?;
    let set = store.set_monthly_quota(workspace, Some(quota)).await;
    store.close().await;
    if let Some(postgres) = embedded {
        postgres.stop().await?;
    }
    match set {
        Err(StoreError::NotFound) => anyhow::bail!("no workspace is {}", describe(workspace)),
        other => Ok(other?),
    }
}

/// A workspace reference as messages name it.
pub(crate) fn describe(workspace: &WorkspaceRef) -> String {
    match workspace {
        WorkspaceRef::Id(id) => format!("{id}"),
        WorkspaceRef::OwnerEmail(email) => format!("owned by {}", email.as_str()),
    }
}

//! The workspace's audit log, `GET /api/v1/audit`: what was changed, by whom, from where,
//! newest first, searchable and paged (docs/audit.md). Reading it needs an admin.

use axum::Json;
use axum::extract::State;
use lyrebird_store::{AccountId, AuditEvent, AuditFilter, KeyId, MockId, Workspace};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::api::calls::search::{MAX_TEXT_CHARS, page_size};
use crate::auth::Admin;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiQuery;

/// Events per page when the query does not say.
const DEFAULT_LIMIT: u32 = 50;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_events))
}

/// What to list, as the query string gives it.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Text anywhere in the action, the target, the mock's name or the details, any letter case.
    #[param(pattern = r"^[^\x00]*$")]
    pub q: Option<String>,
    /// An action (`example.changed`) or a group of them (`example`).
    pub action: Option<String>,
    /// Part of who acted (an email, a key's name or prefix), or an account's or key's id.
    #[param(max_length = 200, pattern = r"^[^\x00]*$")]
    pub actor: Option<String>,
    /// The `next` of the previous page.
    #[param(pattern = "^([1-9][0-9]{0,17})?$")]
    pub before: Option<String>,
    /// Events per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// One change, as the log recorded it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventView {
    /// Increasing in the order events were recorded.
    pub id: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    /// Who, as named then: an email, or `key <name> (<prefix>…) of <email>`.
    pub actor: String,
    /// The account that acted, or whose key it was.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub account_id: Option<AccountId>,
    /// The key that acted, if one did.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub key_id: Option<KeyId>,
    /// The client's address (behind trusted proxies, the one they forwarded for).
    pub address: Option<String>,
    /// What was done: `mock.created`, `example.changed`, ... (docs/audit.md lists them).
    pub action: String,
    /// What it was done to, by name.
    pub target: String,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub mock_id: Option<MockId>,
    /// The mock's name when the event was recorded.
    pub mock_name: Option<String>,
    /// Ids, counts, and for changes `changes`: `[{"path", "before", "after"}]`.
    #[schema(value_type = Object)]
    pub details: Value,
}

impl From<AuditEvent> for AuditEventView {
    fn from(event: AuditEvent) -> Self {
        Self {
            id: event.id.to_string(),
            at: event.at,
            actor: event.actor,
            account_id: event.account_id,
            key_id: event.key_id,
            address: event.address,
            action: event.action,
            target: event.target,
            mock_id: event.mock_id,
            mock_name: event.mock_name,
            details: event.details,
        }
    }
}

/// A page of events, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    pub events: Vec<AuditEventView>,
    /// `before` of the next page; `null` on the last.
    pub next: Option<String>,
}

/// The workspace's audit log, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "audit",
    params(AuditParams),
    responses(
        (status = 200, body = AuditPage),
        (status = 403, description = "Reading the log needs the admin role (`role_required`)", body = ErrorBody),
        (status = 422, description = "A parameter that does not read; `field` names it", body = ErrorBody),
    )
)]
async fn list_events(
    State(state): State<AppState>,
    admin: Admin,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Json<AuditPage>, ApiError> {
    Ok(Json(page(&state, &admin.workspace, &params).await?))
}

/// A page of the log: what the API and the page show.
pub async fn page(
    state: &AppState,
    workspace: &Workspace,
    params: &AuditParams,
) -> Result<AuditPage, ApiError> {
    let filter = params.parse()?;
    let limit = filter.limit;
    let mut events = state
        .store
        .audit_events(
            workspace,
            &AuditFilter {
                limit: limit + 1,
                ..filter
            },
        )
        .await?;
    let next = (events.len() as i64 > limit).then(|| {
        events.truncate(limit as usize);
        events.last().map(|event| event.id.to_string())
    });
    Ok(AuditPage {
        events: events.into_iter().map(AuditEventView::from).collect(),
        next: next.flatten(),
    })
}

/// A text parameter, left out when empty.
fn given(value: &Option<String>) -> Option<&str> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

impl AuditParams {
    /// The filter, or a 422 naming the parameter that does not read.
    fn parse(&self) -> Result<AuditFilter, ApiError> {
        for (field, value) in [
            ("q", &self.q),
            ("actor", &self.actor),
            ("action", &self.action),
        ] {
            // The API's query extractor refuses these already; the page's form comes here
            // without it.
            if value.as_deref().is_some_and(|value| value.contains('\0')) {
                return Err(ApiError::invalid(field, "a NUL character is not accepted"));
            }
            if given(value).is_some_and(|text| text.chars().count() > MAX_TEXT_CHARS) {
                return Err(ApiError::invalid(
                    field,
                    format!("search for at most {MAX_TEXT_CHARS} characters"),
                ));
            }
        }
        let action = given(&self.action)
            .map(|action| {
                if crate::audit::known_action(action) {
                    Ok(action.to_owned())
                } else {
                    Err(ApiError::invalid(
                        "action",
                        "not an action (docs/audit.md lists them), nor a group of them (`mock`)",
                    ))
                }
            })
            .transpose()?;
        let before = given(&self.before)
            .map(|cursor| {
                cursor
                    .parse::<i64>()
                    .ok()
                    .filter(|id| *id > 0)
                    .ok_or_else(|| {
                        ApiError::invalid("before", "use the `next` of the previous page")
                    })
            })
            .transpose()?;
        let limit = page_size(self.limit, DEFAULT_LIMIT)?;
        Ok(AuditFilter {
            before,
            text: given(&self.q).map(str::to_owned),
            action,
            actor: given(&self.actor).map(str::to_owned),
            limit: i64::from(limit),
        })
    }
}

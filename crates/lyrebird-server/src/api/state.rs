//! A mock's state: `GET/PUT/DELETE /api/v1/mocks/{id}/state` (docs/state.md, "The state API").
//!
//! `GET` shows one state (the default, or `?key=`'s) as every call of it reads it: each scenario
//! the mock's examples name with its current state, the keys, and every collection's records,
//! with the list of the mock's written states. `PUT` sets a whole state (what it leaves out
//! starts over: scenarios in `started`, collections as their seed). `DELETE` resets one state,
//! or with no `key` every state of the mock.

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use lyrebird_engine::state::{self, StateDocument};
use lyrebird_store::state::check_state_key;
use lyrebird_store::{Mock, StateSummary, Workspace};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::auth::OwnMock;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiQuery};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_state, put_state, reset_state))
}

/// Which state: the `x-lyrebird-state` key a test run sends.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StateQuery {
    /// The state key; left out or empty, the mock's default state (a `DELETE` without it
    /// resets every state).
    #[param(pattern = "^[!-~]{0,128}$")]
    pub(crate) key: Option<String>,
}

impl StateQuery {
    pub(crate) fn key(&self) -> Result<Option<&str>, ApiError> {
        let key = self.key.as_deref().map(str::trim);
        if let Some(key) = key {
            check_state_key(key).map_err(|message| ApiError::invalid("key", message))?;
        }
        Ok(key)
    }
}

/// One state of a mock, and the mock's written states.
#[derive(Debug, Serialize, ToSchema)]
pub struct StateView {
    /// The state key; empty for the default state.
    pub key: String,
    /// The version of this state's last write (0: never written).
    pub version: i64,
    /// Every scenario the mock's examples name, with its current state.
    pub scenarios: BTreeMap<String, String>,
    /// The key/value store (counters included).
    pub values: BTreeMap<String, Value>,
    /// Every collection's records, oldest first.
    pub collections: BTreeMap<String, Vec<Value>>,
    /// The states that have been written, the default one (`""`) first.
    pub states: Vec<StateSummaryView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StateSummaryView {
    pub key: String,
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<StateSummary> for StateSummaryView {
    fn from(summary: StateSummary) -> Self {
        Self {
            key: summary.key,
            version: summary.version,
            updated_at: summary.updated_at,
        }
    }
}

/// A whole state to set: scenarios by name with their states, keys with their values, and
/// collections by name with their records. What is left out starts over.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StateBody {
    #[serde(default)]
    scenarios: BTreeMap<String, String>,
    #[serde(default)]
    values: BTreeMap<String, Value>,
    #[serde(default)]
    collections: BTreeMap<String, Vec<Value>>,
}

/// The scenario names the mock's examples use, and the mock's collections.
async fn shape(
    state: &AppState,
    workspace: &Workspace,
    mock: &Mock,
) -> Result<(BTreeSet<String>, state::Seeds), ApiError> {
    let examples = state.store.list_examples(workspace, mock.id).await?;
    let scenarios = examples
        .into_iter()
        .filter_map(|stored| stored.example.scenario.map(|step| step.name))
        .collect();
    let (seeds, _) = state::seeds(&mock.settings.collections);
    Ok((scenarios, seeds))
}

/// The state `key` of one of the workspace's mocks, as the API and the mock page show it.
pub(crate) async fn view(
    state: &AppState,
    workspace: &Workspace,
    mock: &Mock,
    key: &str,
) -> Result<StateView, ApiError> {
    let (scenarios, seeds) = shape(state, workspace, mock).await?;
    let current = state.store.mock_state(mock.id, key).await?;
    let states = state.store.mock_states(workspace, mock.id).await?;
    let StateDocument {
        scenarios,
        values,
        collections,
    } = StateDocument::of(&current, &seeds, scenarios.iter().map(String::as_str));
    Ok(StateView {
        key: key.to_owned(),
        version: current.version,
        scenarios,
        values,
        collections,
        states: states.into_iter().map(StateSummaryView::from).collect(),
    })
}

/// One state of the mock, as its calls read it.
#[utoipa::path(
    get,
    path = "/api/v1/mocks/{id}/state",
    tag = "state",
    params(("id" = String, Path, format = Uuid, description = "The mock's id"), StateQuery),
    responses((status = 200, body = StateView), (status = 404, body = ErrorBody))
)]
async fn get_state(
    State(state): State<AppState>,
    OwnMock(admin, mock): OwnMock,
    ApiQuery(query): ApiQuery<StateQuery>,
) -> Result<Json<StateView>, ApiError> {
    let key = query.key()?.unwrap_or_default();
    Ok(Json(view(&state, &admin.workspace, &mock, key).await?))
}

/// Sets one state of the mock as a whole. Every process serving the mock answers from it at
/// once.
#[utoipa::path(
    put,
    path = "/api/v1/mocks/{id}/state",
    tag = "state",
    params(("id" = String, Path, format = Uuid, description = "The mock's id"), StateQuery),
    request_body = StateBody,
    responses(
        (status = 200, body = StateView),
        (status = 404, body = ErrorBody),
        (status = 422, description = "An unknown scenario or collection, or a record or value that is refused; nothing is changed", body = ErrorBody),
        (status = 507, description = "The mock holds as many states as it may", body = ErrorBody),
    )
)]
async fn put_state(
    State(state): State<AppState>,
    OwnMock(admin, mock): OwnMock,
    ApiQuery(query): ApiQuery<StateQuery>,
    ApiJson(body): ApiJson<StateBody>,
) -> Result<Json<StateView>, ApiError> {
    let document = StateDocument {
        scenarios: body.scenarios,
        values: body.values,
        collections: body.collections,
    };
    let key = query.key()?.unwrap_or_default();
    let (scenarios, seeds) = shape(&state, &admin.workspace, &mock).await?;
    let names = scenarios.iter().map(String::as_str).collect();
    let writes = document
        .writes(&seeds, &names)
        .map_err(|errors| ApiError::invalid_fields(&errors))?;
    let mut lock = state
        .store
        .lock_state(admin.workspace.id(), mock.id, key)
        .await?;
    lock.clear().await?;
    lock.commit(&writes).await?;
    Ok(Json(view(&state, &admin.workspace, &mock, key).await?))
}

/// Resets one state of the mock (`key`, empty for the default state), or every state when no
/// `key` is given, to how every state starts.
#[utoipa::path(
    delete,
    path = "/api/v1/mocks/{id}/state",
    tag = "state",
    params(("id" = String, Path, format = Uuid, description = "The mock's id"), StateQuery),
    responses((status = 204), (status = 404, body = ErrorBody))
)]
async fn reset_state(
    State(state): State<AppState>,
    OwnMock(admin, mock): OwnMock,
    ApiQuery(query): ApiQuery<StateQuery>,
) -> Result<StatusCode, ApiError> {
    let key = query.key()?;
    state
        .store
        .reset_state(&admin.workspace, mock.id, key)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

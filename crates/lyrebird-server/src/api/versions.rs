//! A mock's versions: `GET /api/v1/mocks/{id}/versions` (newest first),
//! `GET .../versions/{number}` (the mock as it was), `GET .../versions/{number}/diff` (what
//! changed from another version) and `POST .../versions/{number}/restore` (make the mock that
//! version again, as its next one). Every change to a mock that leaves it different makes a
//! version (docs/versions-and-impact.md); a mock keeps its newest 200.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use lyrebird_engine::Example;
use lyrebird_store::{Author, ExampleId, MockId, MockSettings, MockVersion, VersionSummary};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::api::mocks::{MockView, SettingsView};
use crate::auth::{Admin, OwnMock};
use crate::diff::{JsonChange, json_changes};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_versions))
        .routes(routes!(get_version))
        .routes(routes!(diff_versions))
        .routes(routes!(restore_version))
}

/// Who made a version or edited a draft: `{"kind": "account", "id", "name"}` (the email),
/// `{"kind": "key", "id", "name"}` or `{"kind": "system"}`; names as they were then.
#[derive(Debug, Serialize, ToSchema)]
#[schema(value_type = Object)]
#[serde(transparent)]
pub struct AuthorView(pub Author);

/// A version in the list.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    pub number: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub author: AuthorView,
    /// What made it when it was not an edit: an import, a restore, a published draft.
    pub note: Option<String>,
    /// How many examples the mock had.
    pub examples: usize,
    /// What changed from the version before (absent for the oldest kept).
    pub changes: Option<ChangeCounts>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChangeCounts {
    /// The mock's settings changed.
    pub settings: bool,
    pub added: u64,
    pub removed: u64,
    pub changed: u64,
    /// The examples kept are in another order.
    pub reordered: bool,
}

impl From<VersionSummary> for VersionView {
    fn from(version: VersionSummary) -> Self {
        Self {
            number: version.number,
            created_at: version.created_at,
            author: AuthorView(version.author),
            note: version.note,
            examples: version.examples,
            changes: version.changes.map(|changes| ChangeCounts {
                settings: changes.settings,
                added: changes.added,
                removed: changes.removed,
                changed: changes.changed,
                reordered: changes.reordered,
            }),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VersionList {
    /// The mock's current version.
    pub current: i32,
    /// Newest first.
    pub versions: Vec<VersionView>,
    /// Pass as `before` for older versions; absent on the last page.
    pub next_before: Option<i32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Versions older than this number.
    pub before: Option<i32>,
    /// How many, 1 to 200 (default 50).
    pub limit: Option<u32>,
}

/// The mock's kept versions, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/mocks/{id}/versions",
    tag = "versions",
    params(("id" = String, Path, format = Uuid, description = "The mock's id"), ListParams),
    responses(
        (status = 200, body = VersionList),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
async fn list_versions(
    State(state): State<AppState>,
    OwnMock(admin, mock): OwnMock,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<VersionList>, ApiError> {
    let limit = match params.limit {
        None => 50,
        Some(limit @ 1..=200) => limit,
        Some(_) => return Err(ApiError::invalid("limit", "use a number from 1 to 200")),
    };
    // One more than asked says whether older versions are kept.
    let mut versions = state
        .store
        .list_versions(&admin.workspace, mock.id, params.before, limit + 1)
        .await?;
    let more = versions.len() > limit as usize;
    versions.truncate(limit as usize);
    let next_before = versions.last().filter(|_| more).map(|oldest| oldest.number);
    Ok(Json(VersionList {
        current: mock.version,
        versions: versions.into_iter().map(VersionView::from).collect(),
        next_before,
    }))
}

/// A version whole: the mock's settings and examples as they were.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionDocument {
    pub number: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub author: AuthorView,
    pub note: Option<String>,
    pub mock: SettingsView,
    /// In order, each with its id.
    pub examples: Vec<KeptExample>,
}

/// An example as a version or a draft keeps it: its id and the engine's format.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeptExample {
    #[schema(value_type = String, format = Uuid)]
    pub id: ExampleId,
    /// `name`, `priority`, `request`, `response`: the engine's example format.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub example: Example,
}

pub(crate) fn kept_examples(examples: Vec<(ExampleId, Example)>) -> Vec<KeptExample> {
    examples
        .into_iter()
        .map(|(id, example)| KeptExample { id, example })
        .collect()
}

/// The mock as it was at a version.
#[utoipa::path(
    get,
    path = "/api/v1/mocks/{id}/versions/{number}",
    tag = "versions",
    params(
        ("id" = String, Path, format = Uuid, description = "The mock's id"),
        ("number" = i32, Path, description = "The version's number"),
    ),
    responses((status = 200, body = VersionDocument), (status = 404, body = ErrorBody))
)]
async fn get_version(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath((mock, number)): ApiPath<(MockId, i32)>,
) -> Result<Json<VersionDocument>, ApiError> {
    let version = state.store.version(&admin.workspace, mock, number).await?;
    Ok(Json(VersionDocument {
        number: version.number,
        created_at: version.created_at,
        author: AuthorView(version.author),
        note: version.note,
        mock: SettingsView::from(version.settings),
        examples: kept_examples(version.examples),
    }))
}

/// What changed from one state of a mock to another.
#[derive(Debug, Serialize, ToSchema)]
pub struct MockDiff {
    /// Changes to the mock's settings, by field.
    pub settings: Vec<JsonChange>,
    pub added: Vec<ExampleRef>,
    pub removed: Vec<ExampleRef>,
    /// Examples in both whose content differs, with the changes.
    pub changed: Vec<ChangedExample>,
    /// Examples in both at another place among the examples both have.
    pub moved: Vec<ExampleRef>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExampleRef {
    #[schema(value_type = String, format = Uuid)]
    pub id: ExampleId,
    pub name: String,
    /// Its place (from 0) on the side that has it (the newer for a move).
    pub position: usize,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ChangedExample {
    #[schema(value_type = String, format = Uuid)]
    pub id: ExampleId,
    /// Its name in the newer state.
    pub name: String,
    /// By JSON Pointer into the example (`/request/path`, `/response/status`).
    pub changes: Vec<JsonChange>,
}

/// One side of a comparison: settings and examples in order.
pub(crate) struct Side<'a> {
    pub settings: &'a MockSettings,
    pub examples: &'a [(ExampleId, Example)],
}

impl<'a> From<&'a MockVersion> for Side<'a> {
    fn from(version: &'a MockVersion) -> Self {
        Side {
            settings: &version.settings,
            examples: &version.examples,
        }
    }
}

fn example_json(example: &Example) -> Value {
    serde_json::to_value(example).unwrap_or(Value::Null)
}

fn settings_json(settings: &MockSettings) -> Value {
    serde_json::to_value(SettingsView::from(settings.clone())).unwrap_or(Value::Null)
}

impl MockDiff {
    pub(crate) fn between(old: Side<'_>, new: Side<'_>) -> Self {
        let reference = |(position, (id, example)): (usize, &(ExampleId, Example))| ExampleRef {
            id: *id,
            name: example.name.clone(),
            position,
        };
        let old_at: HashMap<ExampleId, usize> = old
            .examples
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (*id, i))
            .collect();
        let new_ids: HashMap<ExampleId, usize> = new
            .examples
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (*id, i))
            .collect();
        let added = new
            .examples
            .iter()
            .enumerate()
            .filter(|(_, (id, _))| !old_at.contains_key(id))
            .map(reference)
            .collect();
        let removed = old
            .examples
            .iter()
            .enumerate()
            .filter(|(_, (id, _))| !new_ids.contains_key(id))
            .map(reference)
            .collect();
        let mut changed = Vec::new();
        let mut moved = Vec::new();
        // The places of the examples both have, among those: a move is a change of that place.
        let old_kept: HashMap<ExampleId, usize> = old
            .examples
            .iter()
            .filter(|(id, _)| new_ids.contains_key(id))
            .enumerate()
            .map(|(place, (id, _))| (*id, place))
            .collect();
        let kept_new = new
            .examples
            .iter()
            .enumerate()
            .filter(|(_, (id, _))| old_at.contains_key(id));
        for (place, (position, (id, example))) in kept_new.enumerate() {
            let (_, before) = &old.examples[old_at[id]];
            if before != example {
                changed.push(ChangedExample {
                    id: *id,
                    name: example.name.clone(),
                    changes: json_changes(&example_json(before), &example_json(example)),
                });
            }
            if old_kept[id] != place {
                moved.push(ExampleRef {
                    id: *id,
                    name: example.name.clone(),
                    position,
                });
            }
        }
        Self {
            settings: json_changes(&settings_json(old.settings), &settings_json(new.settings)),
            added,
            removed,
            changed,
            moved,
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiffParams {
    /// The version compared with (default: the one before).
    pub from: Option<i32>,
}

/// What changed from another version (by default the one before) to this one.
#[utoipa::path(
    get,
    path = "/api/v1/mocks/{id}/versions/{number}/diff",
    tag = "versions",
    params(
        ("id" = String, Path, format = Uuid, description = "The mock's id"),
        ("number" = i32, Path, description = "The version's number"),
        DiffParams,
    ),
    responses((status = 200, body = MockDiff), (status = 404, body = ErrorBody))
)]
async fn diff_versions(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath((mock, number)): ApiPath<(MockId, i32)>,
    ApiQuery(params): ApiQuery<DiffParams>,
) -> Result<Json<MockDiff>, ApiError> {
    let store = &state.store;
    let new = store.version(&admin.workspace, mock, number).await?;
    let from = params.from.unwrap_or(number - 1);
    let old = store.version(&admin.workspace, mock, from).await?;
    Ok(Json(MockDiff::between((&old).into(), (&new).into())))
}

/// Makes the mock what it was at a version, as its next version (its examples keep their ids).
#[utoipa::path(
    post,
    path = "/api/v1/mocks/{id}/versions/{number}/restore",
    tag = "versions",
    params(
        ("id" = String, Path, format = Uuid, description = "The mock's id"),
        ("number" = i32, Path, description = "The version to restore"),
    ),
    responses(
        (status = 200, description = "The mock, at its new version", body = MockView),
        (status = 404, body = ErrorBody),
        (status = 422, description = "The version would make the mock too large", body = ErrorBody),
    )
)]
async fn restore_version(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath((mock, number)): ApiPath<(MockId, i32)>,
) -> Result<Json<MockView>, ApiError> {
    let (mock, _) = state
        .store
        .restore_version(&admin.workspace, mock, number)
        .await?;
    Ok(Json(MockView::new(mock, &state.settings)))
}

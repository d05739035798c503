//! A mock's examples: `GET/POST/PUT /api/v1/mocks/{id}/examples` and
//! `GET/PUT/DELETE /api/v1/mocks/{id}/examples/{example_id}`.
//!
//! An example travels in the engine's own format (what `lyrebird_engine::Example` reads), with the
//! fields the API adds beside it: `id`, `position`, `created_at`, `updated_at`. Those are
//! read-only and ignored on input, except `id` in a replace-all, where it keeps an example's id,
//! so a list fetched with `GET` can be `PUT` back as it is (export, import, mocks kept in git).
//! Every example is checked by the engine before it is saved, against the mock's environment.

use std::collections::{BTreeMap, HashSet};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use lyrebird_engine::Example;
use lyrebird_import::contract::Violation;
use lyrebird_store::{ExampleId, MockId, StoredExample};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, KnownFormat, ObjectBuilder, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::api::contract::check_examples;
use crate::api::openapi::EXAMPLE_SCHEMA_PATH;
use crate::audit::Note;
use crate::auth::Admin;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, from_value};

/// Fields the API adds to an example; they are not part of the engine's format.
const READ_ONLY_FIELDS: [&str; 3] = ["position", "created_at", "updated_at"];

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_examples, add_example, replace_examples))
        .routes(routes!(get_example, replace_example, delete_example))
}

/// An example as the API shows it: the engine's format plus id, position and timestamps.
#[derive(Debug, Serialize)]
pub struct ExampleView {
    pub id: ExampleId,
    /// Place in the mock, from 0; the order the examples were given in.
    pub position: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// `name`, `priority`, `request`, `response`: the engine's example format.
    #[serde(flatten)]
    pub example: Example,
    /// In the answer to a save, where the example breaks the mock's OpenAPI contract (which
    /// warns, rather than refuses): `{"at", "schema_path", "message"}` of each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contract_violations: Vec<Violation>,
}

/// The engine's example format with the fields the API adds: required and typed as answers
/// carry them (`read`), or optional and ignored, but for `id`, as requests may send them.
fn example_schema(read: bool) -> RefOr<Schema> {
    let engine = lyrebird_engine::example_json_schema();
    let mut object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    for (name, property) in engine["properties"].as_object().into_iter().flatten() {
        let property = serde_json::from_value::<RefOr<Schema>>(in_served_schema(property.clone()))
            .expect("the engine's schema of a field is an OpenAPI schema");
        object = object.property(name, property);
    }
    for name in engine["required"].as_array().into_iter().flatten() {
        object = object.required(name.as_str().unwrap_or_default());
    }
    let uuid = ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)));
    object = object.property("id", uuid);
    if !read {
        for field in READ_ONLY_FIELDS {
            let ignored = ObjectBuilder::new()
                .schema_type(SchemaType::AnyValue)
                .description(Some("Ignored"));
            object = object.property(field, ignored);
        }
        return object.into();
    }
    let timestamp = || {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
    };
    object
        .property(
            "position",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0)),
        )
        .property("created_at", timestamp())
        .property("updated_at", timestamp())
        .property(
            "contract_violations",
            ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::Object)),
        )
        .required("id")
        .required("position")
        .required("created_at")
        .required("updated_at")
        .into()
}

/// Points the engine schema's references to its definitions (`#/$defs/...`) into the served
/// copy of that schema, so they resolve from the API description.
fn in_served_schema(mut value: Value) -> Value {
    match &mut value {
        Value::Object(object) => {
            for (key, inner) in object.iter_mut() {
                match inner {
                    Value::String(reference) if key == "$ref" && reference.starts_with('#') => {
                        *reference = format!("{EXAMPLE_SCHEMA_PATH}{reference}");
                    }
                    _ => *inner = in_served_schema(inner.take()),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                *item = in_served_schema(item.take());
            }
        }
        _ => {}
    }
    value
}

impl PartialSchema for ExampleView {
    fn schema() -> RefOr<Schema> {
        example_schema(true)
    }
}

impl ToSchema for ExampleView {}

impl ExampleView {
    /// A saved example, with where it breaks the mock's contract.
    fn warned(stored: StoredExample, contract_violations: Vec<Violation>) -> Self {
        Self {
            contract_violations,
            ..Self::from(stored)
        }
    }
}

/// Where one example about to be saved breaks the mock's contract (refused when it refuses).
async fn check_one(
    state: &AppState,
    admin: &Admin,
    mock: MockId,
    example: &Example,
) -> Result<Vec<Violation>, ApiError> {
    let found = check_examples(state, &admin.workspace, mock, [(String::new(), example)]).await?;
    Ok(found.into_iter().next().unwrap_or_default())
}

impl From<StoredExample> for ExampleView {
    fn from(stored: StoredExample) -> Self {
        Self {
            id: stored.id,
            position: stored.position,
            created_at: stored.created_at,
            updated_at: stored.updated_at,
            example: stored.example,
            contract_violations: Vec::new(),
        }
    }
}

/// An example in the engine's format (`name`, `priority`, `request`, `response`); `id`,
/// `position` and the timestamps may be present and are ignored, except `id` in a replace-all.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct ExampleDocument(Value);

impl PartialSchema for ExampleDocument {
    fn schema() -> RefOr<Schema> {
        example_schema(false)
    }
}

impl ToSchema for ExampleDocument {}

/// The environment of one of the workspace's mocks, which its examples are checked against.
async fn environment(
    state: &AppState,
    admin: &Admin,
    mock: MockId,
) -> Result<BTreeMap<String, String>, ApiError> {
    Ok(state.store.mock(&admin.workspace, mock).await?.environment)
}

/// Reads an example document: its id if it has one, and the example, checked by the engine
/// against the mock's environment.
pub(crate) fn read_example(
    document: ExampleDocument,
    env: &BTreeMap<String, String>,
) -> Result<(Option<ExampleId>, Example), ApiError> {
    let Value::Object(mut object) = document.0 else {
        return Err(ApiError::invalid(".", "an example is a JSON object"));
    };
    let id = object
        .remove("id")
        .map(|id| from_value::<ExampleId>(id).map_err(|e| e.within("id")))
        .transpose()?;
    for field in READ_ONLY_FIELDS {
        object.remove(field);
    }
    let example: Example = from_value(Value::Object(object))?;
    lyrebird_engine::validate_example(&example, env).map_err(ApiError::InvalidExample)?;
    Ok((id, example))
}

/// The mock's examples, in order.
#[utoipa::path(
    get,
    path = "/api/v1/mocks/{id}/examples",
    tag = "examples",
    params(("id" = String, Path, format = Uuid, description = "The mock's id")),
    responses((status = 200, body = Vec<ExampleView>), (status = 404, body = ErrorBody))
)]
async fn list_examples(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(mock): ApiPath<MockId>,
) -> Result<Json<Vec<ExampleView>>, ApiError> {
    let examples = state.store.list_examples(&admin.workspace, mock).await?;
    Ok(Json(examples.into_iter().map(ExampleView::from).collect()))
}

/// Adds an example after the last one.
#[utoipa::path(
    post,
    path = "/api/v1/mocks/{id}/examples",
    tag = "examples",
    params(("id" = String, Path, format = Uuid, description = "The mock's id")),
    request_body = ExampleDocument,
    responses(
        (status = 201, body = ExampleView),
        (status = 404, body = ErrorBody),
        (status = 422, description = "The engine refused the example", body = ErrorBody),
    )
)]
async fn add_example(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(mock): ApiPath<MockId>,
    ApiJson(document): ApiJson<ExampleDocument>,
) -> Result<(StatusCode, Note, Json<ExampleView>), ApiError> {
    let env = environment(&state, &admin, mock).await?;
    let (_, example) = read_example(document, &env)?;
    let violations = check_one(&state, &admin, mock, &example).await?;
    let stored = state
        .store
        .add_example(&admin.workspace, mock, &example)
        .await?;
    Ok((
        StatusCode::CREATED,
        Note::example(&stored),
        Json(ExampleView::warned(stored, violations)),
    ))
}

/// Replaces all of the mock's examples at once, in the order given.
#[utoipa::path(
    put,
    path = "/api/v1/mocks/{id}/examples",
    tag = "examples",
    params(("id" = String, Path, format = Uuid, description = "The mock's id")),
    request_body = Vec<ExampleDocument>,
    responses(
        (status = 200, body = Vec<ExampleView>),
        (status = 404, body = ErrorBody),
        (status = 422, description = "An example was refused; `field` starts with its index", body = ErrorBody),
    )
)]
async fn replace_examples(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(mock): ApiPath<MockId>,
    ApiJson(documents): ApiJson<Vec<ExampleDocument>>,
) -> Result<(Note, Json<Vec<ExampleView>>), ApiError> {
    let env = environment(&state, &admin, mock).await?;
    let mut seen = HashSet::new();
    let examples = documents
        .into_iter()
        .enumerate()
        .map(|(index, document)| {
            let place = format!("[{index}]");
            let (id, example) = read_example(document, &env).map_err(|e| e.within(&place))?;
            if id.is_some_and(|id| !seen.insert(id)) {
                return Err(ApiError::invalid(
                    format!("{place}.id"),
                    "the same id is given to two examples",
                ));
            }
            Ok((id, example))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let places = examples
        .iter()
        .enumerate()
        .map(|(index, (_, example))| (format!("[{index}]"), example));
    let violations = check_examples(&state, &admin.workspace, mock, places).await?;
    let stored = state
        .store
        .replace_examples(&admin.workspace, mock, &examples)
        .await?;
    let note = Note::details().with("examples", stored.len());
    Ok((
        note,
        Json(
            stored
                .into_iter()
                .zip(violations)
                .map(|(stored, violations)| ExampleView::warned(stored, violations))
                .collect(),
        ),
    ))
}

/// One example.
#[utoipa::path(
    get,
    path = "/api/v1/mocks/{id}/examples/{example_id}",
    tag = "examples",
    params(
        ("id" = String, Path, format = Uuid, description = "The mock's id"),
        ("example_id" = String, Path, format = Uuid),
    ),
    responses((status = 200, body = ExampleView), (status = 404, body = ErrorBody))
)]
async fn get_example(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath((mock, id)): ApiPath<(MockId, ExampleId)>,
) -> Result<Json<ExampleView>, ApiError> {
    let stored = state.store.example(&admin.workspace, mock, id).await?;
    Ok(Json(stored.into()))
}

/// Replaces one example; it keeps its id and position.
#[utoipa::path(
    put,
    path = "/api/v1/mocks/{id}/examples/{example_id}",
    tag = "examples",
    params(
        ("id" = String, Path, format = Uuid, description = "The mock's id"),
        ("example_id" = String, Path, format = Uuid),
    ),
    request_body = ExampleDocument,
    responses(
        (status = 200, body = ExampleView),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
async fn replace_example(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath((mock, id)): ApiPath<(MockId, ExampleId)>,
    ApiJson(document): ApiJson<ExampleDocument>,
) -> Result<(Note, Json<ExampleView>), ApiError> {
    let env = environment(&state, &admin, mock).await?;
    let (_, example) = read_example(document, &env)?;
    let violations = check_one(&state, &admin, mock, &example).await?;
    let before = state.store.example(&admin.workspace, mock, id).await?;
    let stored = state
        .store
        .replace_example(&admin.workspace, mock, id, &example)
        .await?;
    let note = Note::example_changed(&before, &stored);
    Ok((note, Json(ExampleView::warned(stored, violations))))
}

/// Deletes one example.
#[utoipa::path(
    delete,
    path = "/api/v1/mocks/{id}/examples/{example_id}",
    tag = "examples",
    params(
        ("id" = String, Path, format = Uuid, description = "The mock's id"),
        ("example_id" = String, Path, format = Uuid),
    ),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody))
)]
async fn delete_example(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath((mock, id)): ApiPath<(MockId, ExampleId)>,
) -> Result<(Note, StatusCode), ApiError> {
    let example = state.store.example(&admin.workspace, mock, id).await?;
    state
        .store
        .delete_example(&admin.workspace, mock, id)
        .await?;
    Ok((Note::example(&example), StatusCode::NO_CONTENT))
}

//! API keys of the caller's workspace: `GET/POST /api/v1/keys`, `DELETE /api/v1/keys/{id}`.
//!
//! Every member may make keys, which act for them: an `admin` key never does more than its
//! member's role, nor more than its own ceiling (`role`). Members see and revoke their own
//! keys; admins also every other member's but an owner's; owners everyone's.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use lyrebird_store::{AccountId, ApiKey, KeyId, Role, Scope, Workspace};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::audit::Note;
use crate::auth::Admin;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath};

pub(crate) const MAX_NAME_CHARS: usize = 100;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
}

/// A key as listed: its prefix, never the key.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    #[schema(value_type = String, format = Uuid)]
    pub id: KeyId,
    pub name: String,
    #[schema(value_type = String, example = "admin")]
    pub scope: Scope,
    /// The most an `admin` key may do (it never does more than its member's role); `null` for
    /// a `mock` key.
    #[schema(value_type = Option<String>, example = "editor")]
    pub role: Option<Role>,
    /// The member the key acts for.
    #[schema(value_type = String, format = Uuid)]
    pub account_id: AccountId,
    /// The first characters of the key, to tell keys apart.
    #[schema(example = "lb_3kTq9xY")]
    pub prefix: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl From<ApiKey> for KeyView {
    fn from(key: ApiKey) -> Self {
        Self {
            id: key.id,
            name: key.name,
            scope: key.scope,
            role: key.role,
            account_id: key.account_id,
            prefix: key.prefix,
            created_at: key.created_at,
            last_used_at: key.last_used_at,
            revoked_at: key.revoked_at,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    #[schema(example = "frontend dev")]
    pub name: String,
    /// `admin` (the whole API) or `mock` (only calling the workspace's private mocks).
    #[schema(schema_with = scope_schema)]
    pub scope: Scope,
    /// For an `admin` key, the most it may do: `owner`, `admin`, `editor` or `viewer`, at most
    /// the caller's own role (the default).
    #[serde(default)]
    #[schema(schema_with = role_schema)]
    pub role: Option<Role>,
}

/// A role as it is written: its name.
pub(crate) fn role_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(Role::ALL.map(Role::as_str)))
        .examples(["editor"])
        .build()
}

/// A scope as it is written: its name.
fn scope_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some([Scope::Admin, Scope::Mock].map(Scope::as_str)))
        .examples(["mock"])
        .build()
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKey {
    pub key: KeyView,
    /// The key itself, shown only this once.
    pub api_key: String,
}

/// Lists the keys the caller manages, revoked ones included: their own; an admin's also every
/// other member's but an owner's; an owner's every member's.
#[utoipa::path(
    get,
    path = "/api/v1/keys",
    tag = "keys",
    responses((status = 200, body = Vec<KeyView>), (status = 401, body = ErrorBody))
)]
async fn list_keys(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<Json<Vec<KeyView>>, ApiError> {
    let keys = state.store.list_keys(&admin.workspace).await?;
    Ok(Json(keys.into_iter().map(KeyView::from).collect()))
}

/// Creates a key.
#[utoipa::path(
    post,
    path = "/api/v1/keys",
    tag = "keys",
    request_body = NewKey,
    responses(
        (status = 201, body = CreatedKey),
        (status = 401, body = ErrorBody),
        (status = 403, description = "A mock-scoped key", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
async fn create_key(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<NewKey>,
) -> Result<(StatusCode, Note, Json<CreatedKey>), ApiError> {
    let new = lyrebird_store::NewKey {
        name: &body.name,
        scope: body.scope,
        role: body.role,
    };
    let created = create(&state, &admin.workspace, new).await?;
    Ok((StatusCode::CREATED, note(&created.key), Json(created)))
}

/// The audit log's note of a change to `key`: its name and prefix, scope and ceiling.
pub(crate) fn note(key: &KeyView) -> Note {
    Note::target(format!("{} ({}…)", key.name, key.prefix))
        .with("key_id", key.id)
        .with("scope", key.scope)
        .with("role", key.role)
}

/// Creates a key named `name` (trimmed, 1 to 100 characters), with a ceiling no higher than the
/// caller's role: the API's and the keys page's one way to do it.
pub async fn create(
    state: &AppState,
    workspace: &Workspace,
    new: lyrebird_store::NewKey<'_>,
) -> Result<CreatedKey, ApiError> {
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::invalid(
            "name",
            format!("a key needs a name of 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    if let Some(role) = new.role.filter(|role| *role > workspace.role()) {
        return Err(ApiError::invalid(
            "role",
            format!(
                "a key does no more than its member: you are {} here, so a key of yours can be \
                 at most {0}, not {role}",
                workspace.role()
            ),
        ));
    }
    let new = lyrebird_store::NewKey { name, ..new };
    let (key, secret) = state.store.create_key(workspace, &new).await?;
    Ok(CreatedKey {
        key: key.into(),
        api_key: secret.expose().to_owned(),
    })
}

/// Revokes a key the caller manages; requests with it are refused from the next one on.
/// Another member's key, to anyone below admin, is not found.
#[utoipa::path(
    delete,
    path = "/api/v1/keys/{id}",
    tag = "keys",
    params(("id" = String, Path, format = Uuid, description = "The key's id")),
    responses((status = 204, description = "Revoked"), (status = 404, body = ErrorBody))
)]
async fn revoke_key(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<KeyId>,
) -> Result<(Note, StatusCode), ApiError> {
    let key = state.store.revoke_key(&admin.workspace, id).await?;
    Ok((note(&key.into()), StatusCode::NO_CONTENT))
}

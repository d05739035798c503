//! A mock's OpenAPI contract (docs/proxy.md, "OpenAPI contract"):
//! `PUT/GET/DELETE /api/v1/mocks/{id}/contract` and `GET .../contract/document`. Examples are
//! checked against it when saved ([`check_examples`]), warned of or refused as the contract
//! says, and the calls of a mock that asks for it are checked by the runtime.

use axum::Json;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::StatusCode;
use lyrebird_engine::Example;
use lyrebird_import::contract::{Contract, Violation};
use lyrebird_store::{ExampleId, MockId, StoredContract, Workspace};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::api::imports::{Format, read_upload};
use crate::auth::Admin;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(attach_contract))
        // An OpenAPI document is a file: the import limit applies, not the API's general one.
        .layer(DefaultBodyLimit::disable())
        .routes(routes!(get_contract, remove_contract))
        .routes(routes!(contract_document))
}

/// What a mock does with examples that break its contract.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExamplesPolicy {
    /// Saved, with their violations in the answer.
    #[default]
    Warn,
    /// Not saved: 422 `contract_violation`.
    Refuse,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AttachParams {
    /// `warn` (default) or `refuse` examples that break the contract.
    #[param(inline)]
    pub examples: Option<ExamplesPolicy>,
    /// Check the calls the mock receives; a call that breaks the contract is answered 422
    /// `request_invalid` with its violations. Default `false`.
    pub requests: Option<bool>,
}

/// A mock's contract, and the examples that break it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContractView {
    /// `info.title` and `info.version` of the document, and its `openapi` version.
    pub title: String,
    pub version: String,
    pub openapi: String,
    /// Operations in the document.
    pub operations: usize,
    pub examples: ExamplesPolicy,
    pub requests: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub attached_at: OffsetDateTime,
    /// The mock's examples that break the contract now.
    pub violations: Vec<ExampleViolations>,
}

/// One example's violations.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExampleViolations {
    #[schema(value_type = String, format = Uuid)]
    pub example_id: ExampleId,
    pub name: String,
    /// `{"at", "schema_path", "message"}`: where in the example, the schema keyword's place in
    /// the document (a JSON pointer), and what is wrong.
    #[schema(value_type = Vec<Object>)]
    pub violations: Vec<Violation>,
}

/// Attaches an OpenAPI 3.0 or 3.1 document (JSON or YAML, the body as it is) as the mock's
/// contract, in place of any it had, and checks the mock's examples against it. Not a version
/// of the mock.
#[utoipa::path(
    put,
    path = "/api/v1/mocks/{id}/contract",
    tag = "contract",
    params(("id" = String, Path, format = Uuid, description = "The mock's id"), AttachParams),
    request_body(content = String, description = "An OpenAPI 3.0 or 3.1 document, JSON or YAML"),
    responses(
        (status = 200, body = ContractView),
        (status = 404, body = ErrorBody),
        (status = 413, description = "Over the import limit (`import_too_large`)", body = ErrorBody),
        (status = 422, description = "Not an OpenAPI 3 document (`invalid_document`)", body = ErrorBody),
    )
)]
async fn attach_contract(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(mock): ApiPath<MockId>,
    ApiQuery(params): ApiQuery<AttachParams>,
    request: Request,
) -> Result<Json<ContractView>, ApiError> {
    let upload = read_upload(&state, request, Format::OpenApi).await?;
    let contract = Contract::parse(&upload.file).map_err(ApiError::from)?;
    let stored = state
        .store
        .set_contract(
            &admin.workspace,
            mock,
            contract.document(),
            params.examples == Some(ExamplesPolicy::Refuse),
            params.requests.unwrap_or(false),
        )
        .await?;
    Ok(Json(
        view(&state, &admin.workspace, mock, &contract, &stored).await?,
    ))
}

/// The mock's contract and the examples that break it; 404 when it has none.
#[utoipa::path(
    get,
    path = "/api/v1/mocks/{id}/contract",
    tag = "contract",
    params(("id" = String, Path, format = Uuid, description = "The mock's id")),
    responses((status = 200, body = ContractView), (status = 404, body = ErrorBody))
)]
async fn get_contract(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(mock): ApiPath<MockId>,
) -> Result<Json<ContractView>, ApiError> {
    let (contract, stored) = attached(&state, &admin.workspace, mock)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(
        view(&state, &admin.workspace, mock, &contract, &stored).await?,
    ))
}

/// The contract's document, as JSON.
#[utoipa::path(
    get,
    path = "/api/v1/mocks/{id}/contract/document",
    tag = "contract",
    params(("id" = String, Path, format = Uuid, description = "The mock's id")),
    responses((status = 200, body = Object), (status = 404, body = ErrorBody))
)]
async fn contract_document(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(mock): ApiPath<MockId>,
) -> Result<Json<Value>, ApiError> {
    let stored = state
        .store
        .contract(&admin.workspace, mock)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(stored.document))
}

/// Detaches the contract: examples are no longer checked, nor calls.
#[utoipa::path(
    delete,
    path = "/api/v1/mocks/{id}/contract",
    tag = "contract",
    params(("id" = String, Path, format = Uuid, description = "The mock's id")),
    responses((status = 204, description = "Detached"), (status = 404, body = ErrorBody))
)]
async fn remove_contract(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(mock): ApiPath<MockId>,
) -> Result<StatusCode, ApiError> {
    state.store.remove_contract(&admin.workspace, mock).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The mock's contract, read, if it has one.
async fn attached(
    state: &AppState,
    workspace: &Workspace,
    mock: MockId,
) -> Result<Option<(Contract, StoredContract)>, ApiError> {
    let Some(mut stored) = state.store.contract(workspace, mock).await? else {
        return Ok(None);
    };
    // The document moves into the contract: it is read once per save, not copied.
    let contract = Contract::new(std::mem::take(&mut stored.document))
        .map_err(|error| ApiError::Internal(Box::new(error)))?;
    Ok(Some((contract, stored)))
}

async fn view(
    state: &AppState,
    workspace: &Workspace,
    mock: MockId,
    contract: &Contract,
    stored: &StoredContract,
) -> Result<ContractView, ApiError> {
    let examples = state.store.list_examples(workspace, mock).await?;
    let violations = examples
        .into_iter()
        .filter_map(|stored| {
            let violations = contract.check_example(&stored.example);
            (!violations.is_empty()).then_some(ExampleViolations {
                example_id: stored.id,
                name: stored.example.name,
                violations,
            })
        })
        .collect();
    let (title, version) = contract.title_and_version();
    Ok(ContractView {
        title,
        version,
        openapi: contract
            .document()
            .get("openapi")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        operations: contract.operations(),
        examples: if stored.refuse_examples {
            ExamplesPolicy::Refuse
        } else {
            ExamplesPolicy::Warn
        },
        requests: stored.requests,
        attached_at: stored.attached_at,
        violations,
    })
}

/// The violations of examples about to be saved in the mock, one list per example (empty
/// without a contract). When the contract refuses them, the first example that breaks it is
/// refused with 422 `contract_violation`, `field` naming its place (`at`, prefixed by `place`
/// of the example).
pub(crate) async fn check_examples<'a>(
    state: &AppState,
    workspace: &Workspace,
    mock: MockId,
    examples: impl IntoIterator<Item = (String, &'a Example)>,
) -> Result<Vec<Vec<Violation>>, ApiError> {
    let Some((contract, stored)) = attached(state, workspace, mock).await? else {
        return Ok(examples.into_iter().map(|_| Vec::new()).collect());
    };
    let mut found = Vec::new();
    for (place, example) in examples {
        let violations = contract.check_example(example);
        if stored.refuse_examples && !violations.is_empty() {
            return Err(ApiError::ContractViolation { place, violations });
        }
        found.push(violations);
    }
    Ok(found)
}

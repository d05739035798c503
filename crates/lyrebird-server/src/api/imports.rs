//! Importing files as mocks and exporting mocks as files:
//! `POST /api/v1/imports/{postman,openapi,har,native}` and `GET /api/v1/mocks/{id}/export`.
//!
//! The file comes as the raw body (JSON or YAML, any content type) or as `multipart/form-data`
//! with a `file` part and, for Postman, an optional `environment` part. The importers of
//! `lyrebird_import` turn it into examples; the mock and all of its examples are then written in
//! one transaction, so a file that fails anywhere leaves nothing behind. Uploads get their own
//! size limit (`LYREBIRD_MAX_IMPORT_BYTES`), larger than the rest of the API's, because real
//! collections and descriptions are often several megabytes.
//!
//! With `?mock=<id>` the import replaces that mock's examples instead of creating one. The
//! mock's selection settings become the import's (its examples were made for them); imported
//! variables are merged into its environment, the file's values winning, so variables the user
//! added (tokens, hosts) survive a re-import. A native file is the whole mock's content, so it
//! replaces the environment too. Name, privacy, delay, fallback and version tag stay unless
//! `?name=` renames.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use lyrebird_import::{Counts, ImportError, ImportedMock, NativeMock, Warning};
use lyrebird_store::{Mock, MockId, MockSettings, Store, Workspace, WorkspaceId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::api::gate::Gate;
use crate::api::mocks::{MAX_NAME_CHARS, MockView, bounded, check_environment_with};
use crate::audit::Note;
use crate::auth::Admin;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(import_postman))
        .routes(routes!(import_openapi))
        .routes(routes!(import_har))
        .routes(routes!(import_native))
        // The handlers apply the import limit themselves, instead of the API's general one.
        .layer(DefaultBodyLimit::disable())
        .routes(routes!(export_mock))
}

/// The formats the import endpoints, and the web app's upload form, read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Postman,
    OpenApi,
    Har,
    Native,
}

impl Format {
    /// The file's kind, as the audit log names it.
    fn name(self) -> &'static str {
        match self {
            Format::Postman => "postman",
            Format::OpenApi => "openapi",
            Format::Har => "har",
            Format::Native => "native",
        }
    }

    /// The audit log's note of an import into `mock`: the file's kind and what it held.
    pub(crate) fn audit_note(self, mock: &Mock, counts: &Counts, replaced: bool) -> Note {
        Note::mock(mock)
            .with("kind", self.name())
            .with("mocks", 1)
            .with("examples", counts.examples)
            .with("counts", counts)
            .with("replaced", replaced)
    }

    /// What an import of this format notes on the version it makes.
    fn note(self) -> &'static str {
        match self {
            Format::Postman => "imported a Postman collection",
            Format::OpenApi => "imported an OpenAPI description",
            Format::Har => "imported a HAR recording",
            Format::Native => "imported a Lyrebird mock",
        }
    }
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportParams {
    /// The new mock's name (default: the name in the file). With `mock`, renames that mock.
    pub name: Option<String>,
    /// Replace this mock's examples instead of creating a mock.
    #[param(value_type = Option<String>, format = Uuid)]
    pub mock: Option<MockId>,
}

/// What an import made: the mock, what the file held, and what could not be imported.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportOutcome {
    /// The mock, as `GET /api/v1/mocks/{id}` shows it.
    pub mock: MockView,
    /// `folders`, `requests`, `examples`, `generated`, `without_examples`, `duplicates`.
    #[schema(value_type = Object)]
    pub counts: Counts,
    pub warnings: Vec<WarningView>,
}

/// A part of the file that was left out or changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct WarningView {
    /// Where in the file: `folder / request / example` for Postman, `METHOD /path / status /
    /// example` for OpenAPI, `entry N (METHOD /path)` for HAR.
    pub location: String,
    pub message: String,
}

impl From<Warning> for WarningView {
    fn from(warning: Warning) -> Self {
        Self {
            location: warning.location.join(" / "),
            message: warning.message,
        }
    }
}

/// One endpoint per format: they share their handler and differ only in their documentation.
macro_rules! import_endpoint {
    (
        $(#[doc = $doc:literal])+
        $name:ident, $format:expr, $path:literal,
        body: $body:literal, [$($media:literal),+],
        refused: $refused:literal $(,)?
    ) => {
        $(#[doc = $doc])+
        #[utoipa::path(
            post,
            path = $path,
            tag = "imports",
            params(ImportParams),
            request_body(description = $body, content($(($media)),+)),
            responses(
                (status = 201, description = "A mock was created", body = ImportOutcome),
                (status = 200, description = "The mock of `?mock=` was replaced", body = ImportOutcome),
                (status = 400, description = "Not JSON or YAML (`invalid_file`)", body = ErrorBody),
                (status = 404, body = ErrorBody),
                (status = 413, body = ErrorBody),
                (status = 429, description = "An import of this workspace is under way, or the server is importing all it can (`busy`)", body = ErrorBody),
                (status = 422, description = $refused, body = ErrorBody),
            )
        )]
        async fn $name(
            State(state): State<AppState>,
            admin: Admin,
            ApiQuery(params): ApiQuery<ImportParams>,
            request: Request,
        ) -> Result<(StatusCode, Note, Json<ImportOutcome>), ApiError> {
            import(state, admin, params, request, $format).await
        }
    };
}

import_endpoint! {
    /// Imports a Postman collection v2.0 / v2.1, with an optional environment file.
    import_postman, Format::Postman, "/api/v1/imports/postman",
    body: "The collection as the body (JSON), or multipart/form-data with a `file` part and an \
           optional `environment` part",
    ["application/json", "multipart/form-data"],
    refused: "Another kind of file, an unsupported version, folders nested too deep",
}

import_endpoint! {
    /// Imports an OpenAPI 3.0 / 3.1 or Swagger 2.0 description (JSON or YAML).
    import_openapi, Format::OpenApi, "/api/v1/imports/openapi",
    body: "The description as the body (JSON or YAML), or multipart/form-data with a `file` part",
    ["application/json", "application/yaml", "multipart/form-data"],
    refused: "Another kind of file or an unsupported version",
}

import_endpoint! {
    /// Imports a HAR 1.1 / 1.2 recording, such as a browser's or `GET .../calls/export?format=har`.
    import_har, Format::Har, "/api/v1/imports/har",
    body: "The recording as the body, or multipart/form-data with a `file` part",
    ["application/json", "multipart/form-data"],
    refused: "Another kind of file",
}

import_endpoint! {
    /// Imports a native document (`GET /api/v1/mocks/{id}/export`): exactly the exported mock.
    import_native, Format::Native, "/api/v1/imports/native",
    body: "The native document as the body (JSON or YAML), or multipart/form-data with a `file` \
           part",
    ["application/json", "application/yaml", "multipart/form-data"],
    refused: "Another kind of file, another version, an unknown field",
}

async fn import(
    state: AppState,
    admin: Admin,
    params: ImportParams,
    request: Request,
    format: Format,
) -> Result<(StatusCode, Note, Json<ImportOutcome>), ApiError> {
    let name = params
        .name
        .map(|name| bounded("name", &name, MAX_NAME_CHARS))
        .transpose()?;
    // A mock that is not ours is refused before the upload is read or parsed.
    if let Some(id) = params.mock {
        state.store.mock(&admin.workspace, id).await?;
    }
    let upload = read_upload(&state, request, format).await?;
    let imported = run_importer(admin.workspace.id(), format, upload).await?;
    let (status, mock, counts, warnings) = match params.mock {
        None => {
            let (mock, counts, warnings) =
                create_imported(&state.store, &admin.workspace, name, format, imported).await?;
            (StatusCode::CREATED, mock, counts, warnings)
        }
        Some(id) => {
            let ImportedMock {
                examples,
                environment,
                settings,
                warnings,
                counts,
                ..
            } = imported;
            let examples: Vec<_> = examples.into_iter().map(|e| (None, e)).collect();
            let edit = |draft: &mut MockSettings| {
                if let Some(name) = name {
                    draft.name = name;
                }
                draft.settings = settings;
                merge_environment(&mut draft.environment, environment, format);
                check_environment_with(&draft.environment, examples.iter().map(|(_, e)| e))
            };
            let (mock, _) = state
                .store
                .update_mock_and_replace_examples(
                    &admin.workspace,
                    id,
                    edit,
                    &examples,
                    format.note(),
                )
                .await?;
            (StatusCode::OK, mock, counts, warnings)
        }
    };
    let note = format.audit_note(&mock, &counts, status == StatusCode::OK);
    Ok((
        status,
        note,
        Json(ImportOutcome {
            mock: MockView::new(mock, &state.settings),
            counts,
            warnings: warnings.into_iter().map(WarningView::from).collect(),
        }),
    ))
}

/// Creates the mock an import made, with all of its examples in one transaction, named `name`
/// or else after the file; hands back what the file held and the importer's warnings. The API
/// and the web app's upload form both create mocks through it.
pub(crate) async fn create_imported(
    store: &Store,
    workspace: &Workspace,
    name: Option<String>,
    format: Format,
    imported: ImportedMock,
) -> lyrebird_store::Result<(Mock, Counts, Vec<Warning>)> {
    let ImportedMock {
        name: file_name,
        examples,
        environment,
        settings,
        warnings,
        counts,
    } = imported;
    let draft = MockSettings {
        name: name.unwrap_or_else(|| name_from_file(&file_name, format)),
        environment,
        settings,
        ..MockSettings::default()
    };
    let (mock, _) = store
        .create_mock_with_examples(workspace, &draft, &examples, format.note())
        .await?;
    Ok((mock, counts, warnings))
}

/// A native document is the whole mock, so its environment replaces the mock's; the other
/// formats add their variables to the ones the user has.
fn merge_environment(
    current: &mut BTreeMap<String, String>,
    imported: BTreeMap<String, String>,
    format: Format,
) {
    if format == Format::Native {
        *current = imported;
    } else {
        current.extend(imported);
    }
}

/// The file's own name, cut to what a mock name may hold; a file without one gets its kind.
fn name_from_file(name: &str, format: Format) -> String {
    let name: String = name.trim().chars().take(MAX_NAME_CHARS).collect();
    let name = name.trim();
    if !name.is_empty() {
        return name.to_owned();
    }
    match format {
        Format::Postman => "Imported Postman collection",
        Format::OpenApi => "Imported OpenAPI description",
        Format::Har => "Imported HAR recording",
        Format::Native => "Imported mock",
    }
    .to_owned()
}

/// Imports under way: one at a time for a workspace, and no more in all than the machine has
/// cores, so a tenant uploading in a loop holds one importer, not every one (an import may take
/// seconds of CPU and tens of MiB).
static IMPORTS: Gate = Gate::new(
    1,
    1,
    "an import of this workspace is under way: send the next when it is done",
    "the server is importing as many files as it can: try again in a moment",
);

/// The file through its importer, for `workspace`, off the async threads (large files take a
/// while), within [`IMPORTS`]' room.
pub(crate) async fn run_importer(
    workspace: WorkspaceId,
    format: Format,
    upload: Upload,
) -> Result<ImportedMock, ApiError> {
    let running = IMPORTS.enter(workspace)?;
    let imported = tokio::task::spawn_blocking(move || {
        let _running = running;
        let mut imported = import_file(format, &upload)?;
        imported.keep_compilable();
        Ok::<_, ImportError>(imported)
    })
    .await
    .map_err(|error| ApiError::Internal(error.into()))?;
    Ok(imported?)
}

fn import_file(format: Format, upload: &Upload) -> Result<ImportedMock, ImportError> {
    match format {
        Format::Postman => {
            lyrebird_import::postman::import(&upload.file, upload.environment.as_deref())
        }
        Format::OpenApi => lyrebird_import::openapi::import(&upload.file),
        Format::Har => lyrebird_import::har::import(&upload.file),
        Format::Native => lyrebird_import::import_native(&upload.file),
    }
}

/// The uploaded file, and the Postman environment file sent beside it.
pub(crate) struct Upload {
    pub(crate) file: Bytes,
    pub(crate) environment: Option<Bytes>,
}

/// Reads the body within the import limit, as a raw file or as multipart parts.
pub(crate) async fn read_upload(
    state: &AppState,
    request: Request,
    format: Format,
) -> Result<Upload, ApiError> {
    let limit = state.settings.max_import_bytes;
    let too_large = ApiError::ImportTooLarge { limit };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large);
    }
    let multipart = is_multipart(request.headers());
    let request = request.map(|body| Body::new(Limited::new(body, limit)));
    if !multipart {
        let file = request
            .into_body()
            .collect()
            .await
            .map_err(|error| {
                if is_length_limit(&error) {
                    ApiError::ImportTooLarge { limit }
                } else {
                    ApiError::BadRequest(format!("the upload broke off: {error}"))
                }
            })?
            .to_bytes();
        return Ok(Upload {
            file,
            environment: None,
        });
    }
    let mut parts = Multipart::from_request(request, state)
        .await
        .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
    let mut file = None;
    let mut environment = None;
    let part_error = |error: axum::extract::multipart::MultipartError| {
        if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::ImportTooLarge { limit }
        } else {
            ApiError::BadRequest(format!(
                "the multipart upload cannot be read: {}",
                error.body_text()
            ))
        }
    };
    while let Some(part) = parts.next_field().await.map_err(part_error)? {
        let slot = match part.name() {
            Some("file") => &mut file,
            Some("environment") if format == Format::Postman => &mut environment,
            other => {
                let expected = if format == Format::Postman {
                    "`file` and `environment`"
                } else {
                    "`file`"
                };
                return Err(ApiError::invalid(
                    other.unwrap_or_default(),
                    format!(
                        "unexpected part {:?}: this upload takes {expected}",
                        other.unwrap_or_default()
                    ),
                ));
            }
        };
        *slot = Some(part.bytes().await.map_err(part_error)?);
    }
    Ok(Upload {
        file: file
            .ok_or_else(|| ApiError::invalid("file", "the multipart upload has no `file` part"))?,
        environment,
    })
}

fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}

/// Whether reading the body failed because it went over the limit, somewhere in its causes.
fn is_length_limit(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error.is::<LengthLimitError>() {
            return true;
        }
        current = error.source();
    }
    false
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// `native` (default): the whole mock, which `POST /api/v1/imports/native` reads back
    /// exactly; `postman`: a Postman collection v2.1.
    pub format: Option<String>,
}

/// Downloads the mock as a native document or a Postman collection v2.1.
#[utoipa::path(
    get,
    path = "/api/v1/mocks/{id}/export",
    tag = "imports",
    params(("id" = String, Path, format = Uuid, description = "The mock's id"), ExportParams),
    responses(
        (status = 200, description = "The file, as an attachment", content_type = "application/json"),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
async fn export_mock(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<MockId>,
    ApiQuery(params): ApiQuery<ExportParams>,
) -> Result<Response, ApiError> {
    let postman = match params.format.as_deref().map(str::trim) {
        None | Some("" | "native") => false,
        Some("postman") => true,
        Some(_) => return Err(ApiError::invalid("format", "use native or postman")),
    };
    // One snapshot of the mock and its examples.
    let served = state.store.served_mock_in(&admin.workspace, id).await?;
    let mock = served.mock;
    let examples: Vec<_> = served.examples.into_iter().map(|e| e.example).collect();
    let (text, extension) = if postman {
        let export = lyrebird_import::export_postman(&mock.name, &examples, &mock.environment);
        let text = serde_json::to_string_pretty(&export.collection)
            .map_err(|error| ApiError::Internal(error.into()))?;
        (text, "postman_collection.json")
    } else {
        let native = NativeMock::new(mock.name.clone(), mock.settings, mock.environment, examples);
        (lyrebird_import::export_native(&native), "lyrebird.json")
    };
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"{}.{extension}\"",
                    file_stem(&mock.name)
                ),
            ),
        ],
        text,
    )
        .into_response())
}

/// The mock's name as a file name: letters, digits, `-`, `_` and `.`, the rest as `-`.
fn file_stem(name: &str) -> String {
    let stem: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let stem = stem.trim_matches(|c| c == '-' || c == '.');
    if stem.is_empty() {
        "mock".to_owned()
    } else {
        stem.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_name_keeps_only_safe_characters() {
        assert_eq!(file_stem("Twitter API v2"), "Twitter-API-v2");
        assert_eq!(file_stem("../etc/passwd"), "etc-passwd");
        assert_eq!(file_stem("\"; rm"), "rm");
        assert_eq!(file_stem("¿?"), "mock");
    }

    #[test]
    fn a_file_without_a_name_gives_its_kind() {
        assert_eq!(name_from_file("  ", Format::Har), "Imported HAR recording");
        assert_eq!(name_from_file(" Petstore ", Format::OpenApi), "Petstore");
        assert_eq!(name_from_file(&"x".repeat(300), Format::Postman).len(), 200);
    }

    #[test]
    fn only_a_native_import_replaces_the_environment() {
        let mut current = BTreeMap::from([("token".to_owned(), "t".to_owned())]);
        let imported = BTreeMap::from([("base".to_owned(), "b".to_owned())]);
        merge_environment(&mut current, imported.clone(), Format::Postman);
        assert_eq!(current.len(), 2);
        merge_environment(&mut current, imported.clone(), Format::Native);
        assert_eq!(current, imported);
    }

    #[test]
    fn one_import_per_workspace_and_no_more_than_the_cores_in_all() {
        let first = WorkspaceId::generate();
        let held = IMPORTS.enter(first).expect("room");
        let again = IMPORTS.enter(first).err().expect("busy");
        assert_eq!(
            again.to_string(),
            "an import of this workspace is under way: send the next when it is done"
        );
        drop(held);
        let held = IMPORTS
            .enter(first)
            .expect("room again once the first is done");

        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let others: Vec<_> = (1..cores)
            .map(|_| IMPORTS.enter(WorkspaceId::generate()).expect("room"))
            .collect();
        let full = IMPORTS.enter(WorkspaceId::generate()).err().expect("full");
        assert_eq!(
            full.to_string(),
            "the server is importing as many files as it can: try again in a moment"
        );
        drop((held, others));
    }
}

//! A mock's draft: `POST/GET/PATCH/DELETE /api/v1/mocks/{id}/draft`, its examples
//! (`.../draft/examples`, `.../draft/examples/{example_id}`), what publishing it would change
//! (`GET .../draft/diff`), a request tried on the draft and the live mock side by side
//! (`POST .../draft/try`), and publishing it (`POST .../draft/publish`) as the mock's next
//! version. Edits to a draft change nothing the mock answers (docs/versions-and-impact.md).
//!
//! Every answer with the draft carries its revision as `ETag`; a write with `If-Match` naming
//! another revision is refused with 412 `draft_changed`, and without `If-Match` the last write
//! wins.

use std::collections::HashSet;

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lyrebird_engine::Example;
use lyrebird_store::{
    Draft, ExampleId, MAX_EXAMPLE_BYTES_PER_MOCK, MAX_EXAMPLES_PER_MOCK, MockId, StoreError,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::api::examples::{ExampleDocument, read_example};
use crate::api::mocks::{MockFields, MockView, SettingsView, check_environment_with};
use crate::api::try_request::{TRIES, TryRequest, TryResult, tried};
use crate::api::versions::{AuthorView, KeptExample, MockDiff, Side, kept_examples};
use crate::auth::{Admin, OwnMock};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start_draft, get_draft, edit_draft, discard_draft))
        .routes(routes!(add_draft_example, replace_draft_examples))
        .routes(routes!(replace_draft_example, delete_draft_example))
        .routes(routes!(diff_draft))
        .routes(routes!(try_draft))
        .routes(routes!(publish_draft))
}

/// A draft as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DraftView {
    /// The mock's version the draft began from.
    pub based_on: i32,
    /// Renewed by every edit (never the same for two states of any draft); also the `ETag`.
    pub revision: i64,
    /// Who edited it last.
    pub author: AuthorView,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub mock: SettingsView,
    pub examples: Vec<KeptExample>,
}

/// The draft, with its revision as `ETag`.
struct DraftAnswer(StatusCode, Draft);

impl IntoResponse for DraftAnswer {
    fn into_response(self) -> Response {
        let DraftAnswer(status, draft) = self;
        let etag = HeaderValue::from_str(&format!("\"{}\"", draft.revision))
            .expect("a number in quotes is a header value");
        (status, [(header::ETAG, etag)], Json(DraftView::from(draft))).into_response()
    }
}

impl From<Draft> for DraftView {
    fn from(draft: Draft) -> Self {
        DraftView {
            based_on: draft.based_on,
            revision: draft.revision,
            author: AuthorView(draft.author),
            created_at: draft.created_at,
            updated_at: draft.updated_at,
            mock: SettingsView::from(draft.settings),
            examples: kept_examples(draft.examples),
        }
    }
}

/// The revision a write expects the draft at: `If-Match: "3"` (the draft's `ETag`); none
/// without the header or with `*`.
struct IfMatch(Option<i64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(header::IF_MATCH) else {
            return Ok(IfMatch(None));
        };
        let text = value.to_str().unwrap_or_default().trim();
        if text == "*" {
            return Ok(IfMatch(None));
        }
        text.trim_start_matches("W/")
            .trim_matches('"')
            .parse()
            .map(|revision| IfMatch(Some(revision)))
            .map_err(|_| {
                ApiError::BadRequest(
                    "If-Match names the draft's revision as its ETag gives it, such as \"3\""
                        .to_owned(),
                )
            })
    }
}

/// The edits of a draft's examples the API and the pages share, each checked against what a
/// published mock may hold.
pub(crate) enum ExampleEdit {
    Add(Example),
    /// Examples learned from calls ([`crate::api::recording`]), after the draft's last one.
    AddAll(Vec<Example>),
    Replace(ExampleId, Example),
    Remove(ExampleId),
}

impl ExampleEdit {
    /// Applies the edit; an example that is not in the draft is a 404.
    pub(crate) fn apply(self, examples: &mut Vec<(ExampleId, Example)>) -> Result<(), ApiError> {
        match self {
            ExampleEdit::Add(example) => examples.push((ExampleId::generate(), example)),
            ExampleEdit::AddAll(new) => examples.extend(
                new.into_iter()
                    .map(|example| (ExampleId::generate(), example)),
            ),
            ExampleEdit::Replace(id, example) => {
                let (_, slot) = examples
                    .iter_mut()
                    .find(|(own, _)| *own == id)
                    .ok_or(ApiError::NotFound)?;
                *slot = example;
            }
            ExampleEdit::Remove(id) => {
                let before = examples.len();
                examples.retain(|(own, _)| *own != id);
                if examples.len() == before {
                    return Err(ApiError::NotFound);
                }
            }
        }
        check_size(examples)
    }
}

/// Refuses examples a published mock could not hold.
fn check_size(examples: &[(ExampleId, Example)]) -> Result<(), ApiError> {
    let bytes: usize = examples
        .iter()
        .map(|(_, example)| serde_json::to_string(example).map_or(0, |text| text.len()))
        .sum();
    let (count, bytes) = (examples.len() as i64, bytes as i64);
    if count > MAX_EXAMPLES_PER_MOCK || bytes > MAX_EXAMPLE_BYTES_PER_MOCK {
        let error = StoreError::MockTooLarge {
            examples: count,
            bytes,
        };
        return Err(ApiError::MockTooLarge(error.to_string()));
    }
    Ok(())
}

/// Starts a draft: a copy of the mock as it is now.
#[utoipa::path(
    post,
    path = "/api/v1/mocks/{id}/draft",
    tag = "drafts",
    params(("id" = String, Path, format = Uuid, description = "The mock's id")),
    responses(
        (status = 201, body = DraftView),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The mock has a draft (`draft_exists`)", body = ErrorBody),
    )
)]
async fn start_draft(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(mock): ApiPath<MockId>,
) -> Result<impl IntoResponse, ApiError> {
    let draft = state.store.start_draft(&admin.workspace, mock).await?;
    Ok(DraftAnswer(StatusCode::CREATED, draft))
}

/// The mock's draft.
#[utoipa::path(
    get,
    path = "/api/v1/mocks/{id}/draft",
    tag = "drafts",
    params(("id" = String, Path, format = Uuid, description = "The mock's id")),
    responses(
        (status = 200, body = DraftView),
        (status = 404, description = "No such mock, or it has no draft", body = ErrorBody),
    )
)]
async fn get_draft(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(mock): ApiPath<MockId>,
) -> Result<impl IntoResponse, ApiError> {
    let draft = state.store.draft(&admin.workspace, mock).await?;
    Ok(DraftAnswer(StatusCode::OK, draft))
}

/// Changes the draft's settings: the fields given, as `PATCH /api/v1/mocks/{id}` does.
#[utoipa::path(
    patch,
    path = "/api/v1/mocks/{id}/draft",
    tag = "drafts",
    params(("id" = String, Path, format = Uuid, description = "The mock's id")),
    request_body = MockFields,
    responses(
        (status = 200, body = DraftView),
        (status = 404, body = ErrorBody),
        (status = 412, description = "`If-Match` names another revision", body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
async fn edit_draft(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(mock): ApiPath<MockId>,
    IfMatch(expected): IfMatch,
    ApiJson(fields): ApiJson<MockFields>,
) -> Result<impl IntoResponse, ApiError> {
    let (draft, ()) = state
        .store
        .edit_draft(&admin.workspace, mock, expected, |settings, examples| {
            fields.apply(settings)?;
            check_environment_with(&settings.environment, examples.iter().map(|(_, e)| e))
        })
        .await?;
    Ok(DraftAnswer(StatusCode::OK, draft))
}

/// Drops the draft; the mock is unchanged.
#[utoipa::path(
    delete,
    path = "/api/v1/mocks/{id}/draft",
    tag = "drafts",
    params(("id" = String, Path, format = Uuid, description = "The mock's id")),
    responses((status = 204, description = "Discarded"), (status = 404, body = ErrorBody))
)]
async fn discard_draft(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(mock): ApiPath<MockId>,
) -> Result<StatusCode, ApiError> {
    state.store.discard_draft(&admin.workspace, mock).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds an example after the draft's last one.
#[utoipa::path(
    post,
    path = "/api/v1/mocks/{id}/draft/examples",
    tag = "drafts",
    params(("id" = String, Path, format = Uuid, description = "The mock's id")),
    request_body = ExampleDocument,
    responses(
        (status = 201, description = "The draft, with the example last", body = DraftView),
        (status = 404, body = ErrorBody),
        (status = 412, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
async fn add_draft_example(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(mock): ApiPath<MockId>,
    IfMatch(expected): IfMatch,
    ApiJson(document): ApiJson<ExampleDocument>,
) -> Result<impl IntoResponse, ApiError> {
    let (draft, ()) = state
        .store
        .edit_draft(&admin.workspace, mock, expected, |settings, examples| {
            let (_, example) = read_example(document, &settings.environment)?;
            ExampleEdit::Add(example).apply(examples)
        })
        .await?;
    Ok(DraftAnswer(StatusCode::CREATED, draft))
}

/// Replaces all of the draft's examples, in the order given. An `id` of one of the draft's
/// examples keeps it; the others get new ones.
#[utoipa::path(
    put,
    path = "/api/v1/mocks/{id}/draft/examples",
    tag = "drafts",
    params(("id" = String, Path, format = Uuid, description = "The mock's id")),
    request_body = Vec<ExampleDocument>,
    responses(
        (status = 200, body = DraftView),
        (status = 404, body = ErrorBody),
        (status = 412, body = ErrorBody),
        (status = 422, description = "An example was refused; `field` starts with its index", body = ErrorBody),
    )
)]
async fn replace_draft_examples(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(mock): ApiPath<MockId>,
    IfMatch(expected): IfMatch,
    ApiJson(documents): ApiJson<Vec<ExampleDocument>>,
) -> Result<impl IntoResponse, ApiError> {
    let (draft, ()) = state
        .store
        .edit_draft(&admin.workspace, mock, expected, |settings, examples| {
            let own: HashSet<ExampleId> = examples.iter().map(|(id, _)| *id).collect();
            let mut seen = HashSet::new();
            let new = documents
                .into_iter()
                .enumerate()
                .map(|(index, document)| {
                    let place = format!("[{index}]");
                    let (id, example) = read_example(document, &settings.environment)
                        .map_err(|e| e.within(&place))?;
                    let id = id
                        .filter(|id| own.contains(id))
                        .unwrap_or_else(ExampleId::generate);
                    if !seen.insert(id) {
                        return Err(ApiError::invalid(
                            format!("{place}.id"),
                            "the same id is given to two examples",
                        ));
                    }
                    Ok((id, example))
                })
                .collect::<Result<Vec<_>, ApiError>>()?;
            check_size(&new)?;
            *examples = new;
            Ok::<_, ApiError>(())
        })
        .await?;
    Ok(DraftAnswer(StatusCode::OK, draft))
}

/// Replaces one of the draft's examples; it keeps its id and place.
#[utoipa::path(
    put,
    path = "/api/v1/mocks/{id}/draft/examples/{example_id}",
    tag = "drafts",
    params(
        ("id" = String, Path, format = Uuid, description = "The mock's id"),
        ("example_id" = String, Path, format = Uuid),
    ),
    request_body = ExampleDocument,
    responses(
        (status = 200, body = DraftView),
        (status = 404, description = "No such mock, draft or example in the draft", body = ErrorBody),
        (status = 412, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
async fn replace_draft_example(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath((mock, id)): ApiPath<(MockId, ExampleId)>,
    IfMatch(expected): IfMatch,
    ApiJson(document): ApiJson<ExampleDocument>,
) -> Result<impl IntoResponse, ApiError> {
    let (draft, ()) = state
        .store
        .edit_draft(&admin.workspace, mock, expected, |settings, examples| {
            let (_, example) = read_example(document, &settings.environment)?;
            ExampleEdit::Replace(id, example).apply(examples)
        })
        .await?;
    Ok(DraftAnswer(StatusCode::OK, draft))
}

/// Removes one of the draft's examples.
#[utoipa::path(
    delete,
    path = "/api/v1/mocks/{id}/draft/examples/{example_id}",
    tag = "drafts",
    params(
        ("id" = String, Path, format = Uuid, description = "The mock's id"),
        ("example_id" = String, Path, format = Uuid),
    ),
    responses(
        (status = 200, body = DraftView),
        (status = 404, body = ErrorBody),
        (status = 412, body = ErrorBody),
    )
)]
async fn delete_draft_example(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath((mock, id)): ApiPath<(MockId, ExampleId)>,
    IfMatch(expected): IfMatch,
) -> Result<impl IntoResponse, ApiError> {
    let (draft, ()) = state
        .store
        .edit_draft(&admin.workspace, mock, expected, |_, examples| {
            ExampleEdit::Remove(id).apply(examples)
        })
        .await?;
    Ok(DraftAnswer(StatusCode::OK, draft))
}

/// What publishing the draft would change in the mock as it is now.
#[utoipa::path(
    get,
    path = "/api/v1/mocks/{id}/draft/diff",
    tag = "drafts",
    params(("id" = String, Path, format = Uuid, description = "The mock's id")),
    responses((status = 200, body = MockDiff), (status = 404, body = ErrorBody))
)]
async fn diff_draft(
    State(state): State<AppState>,
    OwnMock(admin, mock): OwnMock,
) -> Result<Json<MockDiff>, ApiError> {
    let draft = state.store.draft(&admin.workspace, mock.id).await?;
    let live = state.store.list_examples(&admin.workspace, mock.id).await?;
    let live: Vec<(ExampleId, Example)> = live
        .into_iter()
        .map(|stored| (stored.id, stored.example))
        .collect();
    let settings = mock.to_settings();
    let live = Side {
        settings: &settings,
        examples: &live,
    };
    let draft = Side {
        settings: &draft.settings,
        examples: &draft.examples,
    };
    Ok(Json(MockDiff::between(live, draft)))
}

/// A request tried on the draft and on the live mock.
#[derive(Debug, Serialize, ToSchema)]
pub struct DraftTry {
    pub draft: TryResult,
    pub live: TryResult,
    /// Whether the two would answer alike: the same example (or none), status and body.
    pub same: bool,
}

/// Tries a request on the draft and on the live mock, side by side, as `POST .../try` does
/// (nothing counted or recorded).
#[utoipa::path(
    post,
    path = "/api/v1/mocks/{id}/draft/try",
    tag = "drafts",
    params(("id" = String, Path, format = Uuid, description = "The mock's id")),
    request_body = TryRequest,
    responses(
        (status = 200, body = DraftTry),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody),
    )
)]
async fn try_draft(
    State(state): State<AppState>,
    OwnMock(admin, mock): OwnMock,
    ApiJson(request): ApiJson<TryRequest>,
) -> Result<Json<DraftTry>, ApiError> {
    let draft = state.store.draft(&admin.workspace, mock.id).await?;
    let live_request = request.clone().into_engine_request()?;
    let draft_request = request.into_engine_request()?;
    let _trying = TRIES.enter(admin.workspace.id())?;
    let runtime = &state.runtime;
    let live = runtime.try_request(admin.workspace.id(), mock.id, live_request);
    let live = tried(live.await)?.ok_or(ApiError::NotFound)?;
    let draft = tried(
        runtime
            .try_draft(draft.served(&mock), draft_request)
            .await
            .map(Some),
    )?
    .ok_or(ApiError::NotFound)?;
    let same = live.example.as_ref().map(|e| e.id) == draft.example.as_ref().map(|e| e.id)
        && live.response.status == draft.response.status
        && live.response.body == draft.response.body;
    Ok(Json(DraftTry { draft, live, same }))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Publish {
    /// Publish even though the mock changed since the draft began (what changed is lost).
    #[serde(default)]
    pub force: bool,
}

/// Makes the draft the mock's next version, and drops the draft.
#[utoipa::path(
    post,
    path = "/api/v1/mocks/{id}/draft/publish",
    tag = "drafts",
    params(("id" = String, Path, format = Uuid, description = "The mock's id")),
    request_body = Publish,
    responses(
        (status = 200, description = "The mock, at its new version", body = MockView),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The mock changed since the draft began (`live_changed`)", body = ErrorBody),
        (status = 412, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
async fn publish_draft(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(mock): ApiPath<MockId>,
    IfMatch(expected): IfMatch,
    ApiJson(publish): ApiJson<Publish>,
) -> Result<Json<MockView>, ApiError> {
    let (mock, _) = state
        .store
        .publish_draft(&admin.workspace, mock, expected, publish.force)
        .await?;
    Ok(Json(MockView::new(mock, &state.settings)))
}

//! Mocks of the caller's workspace: `GET/POST /api/v1/mocks`,
//! `GET/PATCH/DELETE /api/v1/mocks/{id}`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use lyrebird_engine::faults::upstream_origin;
use lyrebird_engine::{
    Chaos, CollectionSpec, Example, Latency, MatchSettings, RateLimit, ResponseSpec, SelectionMode,
    Upstream,
};
use lyrebird_store::mocks::MAX_DELAY_MS;
use lyrebird_store::{Delay, Mock, MockId, MockSettings, Store, Workspace};
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::Note;
use crate::auth::{Admin, OwnMock};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use crate::{AppState, Settings};

pub(crate) const MAX_NAME_CHARS: usize = 200;
pub(crate) const MAX_VERSION_TAG_CHARS: usize = 100;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_mocks, create_mock))
        .routes(routes!(get_mock, update_mock, delete_mock))
        .routes(routes!(set_upstream_headers))
}

/// A mock as the API shows it, with the two URLs that reach it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MockView {
    #[schema(value_type = String, format = Uuid)]
    pub id: MockId,
    #[serde(flatten)]
    pub settings: SettingsView,
    /// The version that answers the mock's calls (docs/versions-and-impact.md).
    pub version: i32,
    /// The names of the headers added to calls passed to the upstream; their values are
    /// write-only (`PUT /api/v1/mocks/{id}/upstream-headers`). Empty when the upstream's origin
    /// is not the one they were set for: they are not sent to another.
    pub upstream_headers: Vec<String>,
    /// When the mock's recording began; absent when it is not recording
    /// (`/api/v1/mocks/{id}/recording`).
    #[serde(
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub recording_since: Option<OffsetDateTime>,
    /// The mock's own host: `http://<id>.mock.<base-host>/`.
    pub url: String,
    /// The same mock without wildcard DNS: `http://<base-host>/m/<id>/`.
    pub path_url: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl MockView {
    pub(crate) fn new(mock: Mock, settings: &Settings) -> Self {
        Self {
            url: settings.mock_url(mock.id),
            path_url: settings.mock_path_url(mock.id),
            id: mock.id,
            settings: SettingsView::from(mock.to_settings()),
            version: mock.version,
            upstream_headers: upstream_header_names(&mock),
            recording_since: mock.recording_since,
            created_at: mock.created_at,
            updated_at: mock.updated_at,
        }
    }
}

/// The names of the headers the mock adds to calls passed to its upstream: none when its
/// upstream's origin is not the one they were set for, as they are not sent then.
pub(crate) fn upstream_header_names(mock: &Mock) -> Vec<String> {
    match (&mock.settings.upstream, &mock.upstream_headers_origin) {
        (Some(upstream), Some(origin))
            if upstream_origin(&upstream.url).as_ref() == Some(origin) =>
        {
            mock.upstream_header_names.clone()
        }
        _ => Vec::new(),
    }
}

/// A mock's settings as the API shows them: of the mock, of one of its versions, of its draft.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettingsView {
    pub name: String,
    /// Private mocks answer only requests with an `x-api-key` of this workspace.
    pub private: bool,
    /// `"none"`, `"2g"` (300 ms), `"3g"` (100 ms) or milliseconds up to 180000.
    #[schema(schema_with = delay_schema)]
    pub delay: Delay,
    /// Variables the response templates can read.
    pub environment: BTreeMap<String, String>,
    pub version_tag: Option<String>,
    /// The response given when no example matches (the engine's response format).
    #[schema(value_type = Option<Object>)]
    pub fallback: Option<ResponseSpec>,
    /// `rules` (explicit rules and priorities) or `postman` (Postman's matching).
    #[schema(value_type = String, example = "rules")]
    pub selection: SelectionMode,
    /// Postman selection only: allow fuzzy path matching.
    pub fuzzy_paths: bool,
    /// Postman selection only: headers that must match.
    pub match_headers: Vec<String>,
    /// Postman selection only: match request bodies.
    pub match_body: bool,
    /// Collections of JSON records by name, with the records every state starts with
    /// (docs/state.md, "Collections").
    #[schema(value_type = Object)]
    pub collections: BTreeMap<String, CollectionSpec>,
    /// A wait drawn per call and added to `delay`: `{"type": "uniform", "min_ms", "max_ms"}`,
    /// `{"type": "lognormal", "median_ms", "sigma"}` or `{"type": "fixed", "ms"}`
    /// (docs/testing-with-lyrebird.md, "Latency").
    #[schema(value_type = Option<Object>)]
    pub latency: Option<Latency>,
    /// Faults for a share of the calls: `{"percent", "faults", "seed"?, "paths"?}`
    /// (docs/testing-with-lyrebird.md, "Chaos").
    #[schema(value_type = Option<Object>)]
    pub chaos: Option<Chaos>,
    /// A simulated per-client rate limit: `{"limit", "window_s", "by"?, "header"?}`
    /// (docs/testing-with-lyrebird.md, "Rate limits").
    #[schema(value_type = Option<Object>)]
    pub rate_limit: Option<RateLimit>,
    /// The real API behind the mock: `{"url", "pass_through"?, "timeout_ms"?}`; with
    /// `pass_through` (the default), calls no example matches are sent to it and its answer
    /// returned, within `timeout_ms` (docs/proxy.md).
    #[schema(value_type = Option<Object>)]
    pub upstream: Option<Upstream>,
}

impl From<MockSettings> for SettingsView {
    fn from(settings: MockSettings) -> Self {
        let MatchSettings {
            selection,
            fuzzy_paths,
            match_headers,
            match_body,
            collections,
            latency,
            chaos,
            rate_limit,
            upstream,
        } = settings.settings;
        Self {
            name: settings.name,
            private: settings.private,
            delay: settings.delay,
            environment: settings.environment,
            version_tag: settings.version_tag,
            fallback: settings.fallback,
            selection,
            fuzzy_paths,
            match_headers,
            match_body,
            collections,
            latency,
            chaos,
            rate_limit,
            upstream,
        }
    }
}

/// A delay as it is written and read (`Delay`'s serde form): one of the names, or a number of
/// milliseconds up to the limit.
fn delay_variants() -> OneOfBuilder {
    let names = [Delay::None, Delay::TwoG, Delay::ThreeG].map(|delay| delay.to_string());
    OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(names)),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0))
                .maximum(Some(MAX_DELAY_MS)),
        )
        .examples(["3g"])
}

fn delay_schema() -> Schema {
    delay_variants().into()
}

/// A delay in an edit, where `null` is the same as leaving it out.
fn optional_delay_schema() -> Schema {
    delay_variants()
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .into()
}

/// The settings of a mock. Creating needs `name`; the rest have defaults. Editing changes only
/// the fields given; `null` clears `version_tag` and `fallback`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MockFields {
    pub name: Option<String>,
    pub private: Option<bool>,
    /// `"none"`, `"2g"`, `"3g"` or milliseconds up to 180000.
    #[schema(schema_with = optional_delay_schema)]
    pub delay: Option<Delay>,
    pub environment: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub version_tag: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub fallback: Option<Option<ResponseSpec>>,
    #[schema(value_type = Option<String>, example = "postman")]
    pub selection: Option<SelectionMode>,
    pub fuzzy_paths: Option<bool>,
    pub match_headers: Option<Vec<String>>,
    pub match_body: Option<bool>,
    /// Replaces every collection (their seeds included); states already written keep their
    /// records until reset.
    #[schema(value_type = Option<Object>)]
    pub collections: Option<BTreeMap<String, CollectionSpec>>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub latency: Option<Option<Latency>>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub chaos: Option<Option<Chaos>>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub rate_limit: Option<Option<RateLimit>>,
    /// `{"url", "pass_through"?, "timeout_ms"?}`; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Object>)]
    pub upstream: Option<Option<Upstream>>,
}

/// Tells a field given as `null` (`Some(None)`) from one left out (`None`).
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

impl MockFields {
    /// Saves the given fields to one of the workspace's mocks. A new environment is checked
    /// against the mock's examples in the same transaction's edit: one whose values would make
    /// an example's path too long is refused, rather than leaving a mock that cannot be served.
    /// With the note of the audit log: what changed.
    pub(crate) async fn save(
        self,
        store: &Store,
        workspace: &Workspace,
        id: MockId,
    ) -> Result<(Mock, Note), ApiError> {
        let examples = match self.environment {
            Some(_) => store.list_examples(workspace, id).await?,
            None => Vec::new(),
        };
        let mut before = None;
        let mock = store
            .update_mock(workspace, id, |draft| {
                before = Some(SettingsView::from(draft.clone()));
                self.apply(draft)?;
                check_environment_with(&draft.environment, examples.iter().map(|e| &e.example))
            })
            .await?;
        let after = SettingsView::from(mock.to_settings());
        let note = Note::mock(&mock).with_diff(&before, &after);
        Ok((mock, note))
    }

    /// Checks the given fields and writes them into `draft`.
    pub(crate) fn apply(self, draft: &mut MockSettings) -> Result<(), ApiError> {
        if let Some(name) = self.name {
            draft.name = bounded("name", &name, MAX_NAME_CHARS)?;
        }
        if let Some(tag) = self.version_tag {
            draft.version_tag = tag
                .map(|tag| bounded("version_tag", &tag, MAX_VERSION_TAG_CHARS))
                .transpose()?;
        }
        if let Some(fallback) = self.fallback {
            if let Some(response) = &fallback {
                check_fallback(response)?;
            }
            draft.fallback = fallback;
        }
        if let Some(private) = self.private {
            draft.private = private;
        }
        if let Some(delay) = self.delay {
            draft.delay = delay;
        }
        if let Some(environment) = self.environment {
            lyrebird_engine::check_environment(&environment)
                .map_err(|message| ApiError::invalid("environment", message))?;
            draft.environment = environment;
        }
        let settings = &mut draft.settings;
        if let Some(selection) = self.selection {
            settings.selection = selection;
        }
        if let Some(fuzzy_paths) = self.fuzzy_paths {
            settings.fuzzy_paths = fuzzy_paths;
        }
        if let Some(match_headers) = self.match_headers {
            settings.match_headers = match_headers;
        }
        if let Some(match_body) = self.match_body {
            settings.match_body = match_body;
        }
        if let Some(collections) = self.collections {
            lyrebird_engine::state::check_collections(&collections)
                .map_err(|errors| ApiError::invalid_fields(&errors))?;
            settings.collections = collections;
        }
        if let Some(latency) = self.latency {
            settings.latency = latency;
        }
        if let Some(chaos) = self.chaos {
            settings.chaos = chaos;
        }
        if let Some(rate_limit) = self.rate_limit {
            settings.rate_limit = rate_limit;
        }
        if let Some(upstream) = self.upstream {
            settings.upstream = upstream;
        }
        let errors = lyrebird_engine::faults::check_settings(settings);
        if !errors.is_empty() {
            return Err(ApiError::invalid_fields(&errors));
        }
        Ok(())
    }
}

/// Refuses an environment that some of `examples` would not compile with (only paths name its
/// variables), naming the first such example by its position.
pub(crate) fn check_environment_with<'a>(
    env: &BTreeMap<String, String>,
    examples: impl IntoIterator<Item = &'a Example>,
) -> Result<(), ApiError> {
    for (position, example) in examples.into_iter().enumerate() {
        if !example.request.path.contains("{{") {
            continue;
        }
        if let Err(errors) = lyrebird_engine::validate_example(example, env) {
            let reasons: Vec<String> = errors.iter().map(ToString::to_string).collect();
            return Err(ApiError::invalid(
                "environment",
                format!(
                    "example {position} ({}) would not compile with this environment: {}",
                    example.name,
                    reasons.join("; ")
                ),
            ));
        }
    }
    Ok(())
}

/// The text trimmed, refused when empty or longer than `max` characters.
pub(crate) fn bounded(field: &str, text: &str, max: usize) -> Result<String, ApiError> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > max {
        return Err(ApiError::invalid(
            field,
            format!("{field} takes 1 to {max} characters"),
        ));
    }
    Ok(text.to_owned())
}

/// A fallback is an example's response, so the engine checks it as one (templates included).
fn check_fallback(response: &ResponseSpec) -> Result<(), ApiError> {
    let example = Example {
        name: "fallback".to_owned(),
        response: response.clone(),
        ..Example::default()
    };
    lyrebird_engine::validate_example(&example, &BTreeMap::new()).map_err(|errors| {
        ApiError::InvalidExample(
            errors
                .into_iter()
                .map(|mut error| {
                    error.field = error.field.replacen("response", "fallback", 1);
                    error
                })
                .collect(),
        )
    })
}

/// Lists the workspace's mocks, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/mocks",
    tag = "mocks",
    responses((status = 200, body = Vec<MockView>), (status = 401, body = ErrorBody))
)]
async fn list_mocks(
    State(state): State<AppState>,
    admin: Admin,
) -> Result<Json<Vec<MockView>>, ApiError> {
    let mocks = state.store.list_mocks(&admin.workspace).await?;
    Ok(Json(
        mocks
            .into_iter()
            .map(|mock| MockView::new(mock, &state.settings))
            .collect(),
    ))
}

/// Creates a mock.
#[utoipa::path(
    post,
    path = "/api/v1/mocks",
    tag = "mocks",
    request_body = MockFields,
    responses(
        (status = 201, body = MockView),
        (status = 400, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
async fn create_mock(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(fields): ApiJson<MockFields>,
) -> Result<(StatusCode, Note, Json<MockView>), ApiError> {
    if fields.name.is_none() {
        return Err(ApiError::invalid("name", "a mock needs a name"));
    }
    let mut draft = MockSettings::default();
    fields.apply(&mut draft)?;
    let mock = state.store.create_mock(&admin.workspace, &draft).await?;
    Ok((
        StatusCode::CREATED,
        Note::mock(&mock),
        Json(MockView::new(mock, &state.settings)),
    ))
}

/// One mock.
#[utoipa::path(
    get,
    path = "/api/v1/mocks/{id}",
    tag = "mocks",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 200, body = MockView), (status = 404, body = ErrorBody))
)]
async fn get_mock(
    State(state): State<AppState>,
    OwnMock(_admin, mock): OwnMock,
) -> Result<Json<MockView>, ApiError> {
    Ok(Json(MockView::new(mock, &state.settings)))
}

/// Changes the given settings of a mock.
#[utoipa::path(
    patch,
    path = "/api/v1/mocks/{id}",
    tag = "mocks",
    params(("id" = String, Path, format = Uuid)),
    request_body = MockFields,
    responses(
        (status = 200, body = MockView),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
async fn update_mock(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<MockId>,
    ApiJson(fields): ApiJson<MockFields>,
) -> Result<(Note, Json<MockView>), ApiError> {
    let (mock, note) = fields.save(&state.store, &admin.workspace, id).await?;
    Ok((note, Json(MockView::new(mock, &state.settings))))
}

/// At most this many headers are added to calls passed to an upstream.
const MAX_UPSTREAM_HEADERS: usize = 32;
/// The longest value of one of them.
const MAX_UPSTREAM_HEADER_VALUE: usize = 4096;

/// Replaces the headers added to every call the mock passes to its upstream, such as an API
/// token: `{"authorization": "Bearer ..."}`; `{}` removes them. They are sent to the origin of
/// the mock's upstream as it is now, and to no other. Their values are never shown again (the
/// mock shows their names), nor kept in versions or exports (docs/proxy.md).
#[utoipa::path(
    put,
    path = "/api/v1/mocks/{id}/upstream-headers",
    tag = "mocks",
    params(("id" = String, Path, format = Uuid)),
    request_body(content = Object, description = "Header names and values"),
    responses(
        (status = 200, body = MockView),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
async fn set_upstream_headers(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<MockId>,
    ApiJson(headers): ApiJson<BTreeMap<String, String>>,
) -> Result<Json<MockView>, ApiError> {
    let mock = save_upstream_headers(&state.store, &admin.workspace, id, headers).await?;
    Ok(Json(MockView::new(mock, &state.settings)))
}

/// Checks the headers and stores them for the origin of the mock's upstream (the API's and the
/// web app's).
pub(crate) async fn save_upstream_headers(
    store: &Store,
    workspace: &Workspace,
    id: MockId,
    headers: BTreeMap<String, String>,
) -> Result<Mock, ApiError> {
    let headers = checked_upstream_headers(headers)?;
    let mock = store.mock(workspace, id).await?;
    let origin = mock
        .settings
        .upstream
        .as_ref()
        .and_then(|upstream| upstream_origin(&upstream.url))
        .ok_or_else(|| {
            ApiError::invalid(
                "upstream",
                "the mock has no upstream: set `upstream` first, the headers are sent to it alone",
            )
        })?;
    Ok(store
        .set_upstream_headers(workspace, id, &origin, &headers)
        .await?)
}

/// The headers with their names in lower case, or why they cannot be added.
fn checked_upstream_headers(
    headers: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ApiError> {
    if headers.len() > MAX_UPSTREAM_HEADERS {
        return Err(ApiError::invalid(
            "headers",
            format!("at most {MAX_UPSTREAM_HEADERS} headers are added to upstream calls"),
        ));
    }
    let mut checked = BTreeMap::new();
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        let field = format!("headers.{name}");
        if axum::http::HeaderName::from_bytes(lower.as_bytes()).is_err() {
            return Err(ApiError::invalid(field, "not a header name"));
        }
        if !lyrebird_runtime::upstream::may_be_added(&lower) {
            return Err(ApiError::invalid(
                field,
                "the server sets this header itself, or it belongs to one connection",
            ));
        }
        if value.len() > MAX_UPSTREAM_HEADER_VALUE
            || axum::http::HeaderValue::from_str(&value).is_err()
        {
            return Err(ApiError::invalid(
                field,
                format!(
                    "a header value is visible ASCII and spaces, at most {MAX_UPSTREAM_HEADER_VALUE} bytes"
                ),
            ));
        }
        if checked.insert(lower, value).is_some() {
            return Err(ApiError::invalid(
                field,
                "given twice: header names are the same in any case",
            ));
        }
    }
    Ok(checked)
}

/// Deletes a mock and its examples.
#[utoipa::path(
    delete,
    path = "/api/v1/mocks/{id}",
    tag = "mocks",
    params(("id" = String, Path, format = Uuid)),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody))
)]
async fn delete_mock(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<MockId>,
) -> Result<(Note, StatusCode), ApiError> {
    let mock = state.store.mock(&admin.workspace, id).await?;
    state.store.delete_mock(&admin.workspace, id).await?;
    Ok((Note::mock(&mock), StatusCode::NO_CONTENT))
}

//! The mock pages: the dashboard (`/mocks`), creating a mock from scratch (`/mocks/new`), a
//! mock's page with its URLs, examples and settings (`/mocks/{id}`), and deleting it after a
//! confirmation page.
//!
//! Settings go through the API's own [`MockFields`], so the page accepts exactly what
//! `PATCH /api/v1/mocks/{id}` does; a refused value is shown beside its field with what was
//! typed kept.

use std::collections::{BTreeMap, HashMap};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lyrebird_engine::{
    BodyMatch, CollectionSpec, JsonMode, RequestPattern, ResponseSpec, SelectionMode, Upstream,
    ValueMatch, ValueRule,
};
use lyrebird_store::{Delay, Mock, MockId, MockSettings, StoredExample, UsageMonth};
use minijinja::context;
use minijinja::value::{Serde, Value};
use serde::{Deserialize, Serialize};

use super::csrf::PostedForm;
use super::format;
use super::{Flash, PageError, PagePath, WebSession, field_errors, page, redirect_with};
use crate::api::mocks::{MockFields, save_upstream_headers, upstream_header_names};
use crate::api::state::{StateQuery, StateView, view as view_state};
use crate::audit::Note;
use crate::auth::{OwnMock, own_mock};
use crate::extract::parse_json;
use crate::{AppState, Settings};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/mocks", get(dashboard).post(create_mock))
        .route("/mocks/new", get(new_mock))
        .route("/mocks/{id}", get(mock_page))
        .route("/mocks/{id}/settings", post(save_settings))
        .route(
            "/mocks/{id}/upstream-headers",
            post(save_upstream_headers_form),
        )
        .route("/mocks/{id}/state/reset", post(reset_state))
        .route("/mocks/{id}/delete", get(confirm_delete).post(delete_mock))
}

/// A mock as the pages show it.
#[derive(Debug, Serialize)]
pub struct MockSummary {
    pub id: String,
    pub name: String,
    pub private: bool,
    /// `http://<id>.mock.<base-host>/`
    pub url: String,
    /// `http://<base-host>/m/<id>/`
    pub path_url: String,
}

impl MockSummary {
    pub fn new(mock: &Mock, settings: &Settings) -> Self {
        Self {
            id: mock.id.to_string(),
            name: mock.name.clone(),
            private: mock.private,
            url: settings.mock_url(mock.id),
            path_url: settings.mock_path_url(mock.id),
        }
    }
}

async fn dashboard(
    State(state): State<AppState>,
    session: WebSession,
) -> Result<Response, PageError> {
    let month_start = UsageMonth::current().first_day().midnight().assume_utc();
    let (mocks, calls, examples) = tokio::try_join!(
        state.store.list_mocks(&session.workspace),
        state.store.calls_per_mock(&session.workspace, month_start),
        state.store.examples_per_mock(&session.workspace),
    )?;
    let calls: HashMap<MockId, i64> = calls.into_iter().collect();
    let examples: HashMap<MockId, i64> = examples.into_iter().collect();
    let mocks: Vec<Value> = mocks
        .iter()
        .rev()
        .map(|mock| {
            context! {
                calls => calls.get(&mock.id).copied().unwrap_or(0),
                examples => examples.get(&mock.id).copied().unwrap_or(0),
                ..Value::from(Serde(MockSummary::new(mock, &state.settings)))
            }
        })
        .collect();
    page(
        &session,
        StatusCode::OK,
        "mocks.html",
        context! { nav => "mocks", mocks },
    )
}

async fn new_mock(session: WebSession) -> Result<Response, PageError> {
    new_mock_page(
        &session,
        StatusCode::OK,
        &NewMockForm::default(),
        None,
        &ImportForm::default(),
    )
}

/// The scratch form's fields.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct NewMockForm {
    #[serde(default)]
    name: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    private: Option<String>,
}

/// The upload form's choices, and why the last upload made no mock.
#[derive(Debug, Serialize)]
pub struct ImportForm {
    /// `postman`, `openapi` or `har`.
    pub kind: String,
    pub name: String,
    pub error: Option<String>,
}

impl Default for ImportForm {
    fn default() -> Self {
        Self {
            kind: "postman".to_owned(),
            name: String::new(),
            error: None,
        }
    }
}

pub fn new_mock_page(
    session: &WebSession,
    status: StatusCode,
    form: &NewMockForm,
    name_error: Option<String>,
    import: &ImportForm,
) -> Result<Response, PageError> {
    page(
        session,
        status,
        "mock_new.html",
        context! {
            nav => "mocks",
            form => Serde(form),
            name_error,
            import => Serde(import),
        },
    )
}

async fn create_mock(
    State(state): State<AppState>,
    PostedForm { session, form }: PostedForm<NewMockForm>,
) -> Result<Response, PageError> {
    let fields = MockFields {
        name: Some(form.name.clone()),
        private: Some(form.private.is_some()),
        ..MockFields::default()
    };
    let mut draft = MockSettings::default();
    if let Err(error) = fields.apply(&mut draft) {
        let errors = field_errors(error)?;
        let name_error = errors.into_values().next();
        return new_mock_page(
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            &form,
            name_error,
            &ImportForm::default(),
        );
    }
    let mock = state.store.create_mock(&session.workspace, &draft).await?;
    let done = redirect_with(
        &format!("/mocks/{}", mock.id),
        &[Flash::success(format!(
            "Created {}. Add an example to tell it what to answer.",
            mock.name
        ))],
    );
    Ok((Note::mock(&mock), done).into_response())
}

/// The settings form, as typed: kept as text so a refused value comes back as it was.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct SettingsForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    private: Option<String>,
    #[serde(default)]
    delay: String,
    /// One `NAME=value` per line.
    #[serde(default)]
    environment: String,
    #[serde(default)]
    version_tag: String,
    #[serde(default)]
    selection: String,
    #[serde(default)]
    fuzzy_paths: Option<String>,
    /// Comma-separated header names.
    #[serde(default)]
    match_headers: String,
    #[serde(default)]
    match_body: Option<String>,
    /// The fallback response as JSON in the engine's response format; empty for none.
    #[serde(default)]
    fallback: String,
    /// The collections as JSON (`{"todos": {"seed": [...]}}`); empty for none.
    #[serde(default)]
    collections: String,
    /// Latency, chaos and the rate limit as JSON, each empty for none.
    #[serde(default)]
    latency: String,
    #[serde(default)]
    chaos: String,
    #[serde(default)]
    rate_limit: String,
    /// The upstream's URL; empty for none.
    #[serde(default)]
    upstream_url: String,
    pass_through: Option<String>,
    /// Milliseconds; empty for the default.
    #[serde(default)]
    upstream_timeout_ms: String,
}

impl SettingsForm {
    fn of(mock: &Mock) -> Self {
        let on = |flag: bool| flag.then(|| "on".to_owned());
        let upstream = mock.settings.upstream.as_ref();
        Self {
            name: mock.name.clone(),
            private: on(mock.private),
            delay: mock.delay.to_string(),
            environment: mock
                .environment
                .iter()
                .map(|(name, value)| format!("{name}={value}\n"))
                .collect(),
            version_tag: mock.version_tag.clone().unwrap_or_default(),
            selection: match mock.settings.selection {
                SelectionMode::Rules => "rules",
                SelectionMode::Postman => "postman",
            }
            .to_owned(),
            fuzzy_paths: on(mock.settings.fuzzy_paths),
            match_headers: mock.settings.match_headers.join(", "),
            match_body: on(mock.settings.match_body),
            fallback: pretty(mock.fallback.as_ref()),
            collections: pretty(
                Some(&mock.settings.collections).filter(|collections| !collections.is_empty()),
            ),
            latency: pretty(mock.settings.latency.as_ref()),
            chaos: pretty(mock.settings.chaos.as_ref()),
            rate_limit: pretty(mock.settings.rate_limit.as_ref()),
            upstream_url: upstream.map(|u| u.url.clone()).unwrap_or_default(),
            // A mock without an upstream shows the default that setting one gets.
            pass_through: on(upstream.is_none_or(|u| u.pass_through)),
            upstream_timeout_ms: upstream
                .and_then(|u| u.timeout_ms)
                .map(|ms| ms.to_string())
                .unwrap_or_default(),
        }
    }

    /// The API's fields, or the errors of the fields that could not be read, by form field.
    fn fields(&self) -> Result<MockFields, BTreeMap<String, String>> {
        let mut errors = BTreeMap::new();
        let delay = Delay::try_from(self.delay.trim().to_owned())
            .map_err(|error| errors.insert("delay".to_owned(), error.to_string()))
            .ok();
        let environment = parse_environment(&self.environment)
            .map_err(|error| errors.insert("environment".to_owned(), error))
            .ok();
        let selection = match self.selection.as_str() {
            "postman" => SelectionMode::Postman,
            _ => SelectionMode::Rules,
        };
        let fallback = optional_json::<ResponseSpec>("fallback", &self.fallback, &mut errors);
        let collections = if self.collections.trim().is_empty() {
            Some(BTreeMap::new())
        } else {
            parse_json::<BTreeMap<String, CollectionSpec>>(self.collections.as_bytes())
                .map_err(|error| errors.insert("collections".to_owned(), error.to_string()))
                .ok()
        };
        let latency = optional_json("latency", &self.latency, &mut errors);
        let chaos = optional_json("chaos", &self.chaos, &mut errors);
        let rate_limit = optional_json("rate_limit", &self.rate_limit, &mut errors);
        let timeout = self.upstream_timeout_ms.trim();
        let timeout_ms = (!timeout.is_empty())
            .then(|| timeout.parse::<u32>())
            .transpose()
            .map_err(|_| {
                errors.insert(
                    "upstream_timeout_ms".to_owned(),
                    "a number of milliseconds, 1 to 30000".to_owned(),
                )
            })
            .unwrap_or_default();
        let url = self.upstream_url.trim();
        let upstream = (!url.is_empty()).then(|| Upstream {
            url: url.to_owned(),
            pass_through: self.pass_through.is_some(),
            timeout_ms,
        });
        if !errors.is_empty() {
            return Err(errors);
        }
        let version_tag = self.version_tag.trim();
        Ok(MockFields {
            name: Some(self.name.clone()),
            private: Some(self.private.is_some()),
            delay,
            environment,
            version_tag: Some((!version_tag.is_empty()).then(|| version_tag.to_owned())),
            fallback,
            selection: Some(selection),
            fuzzy_paths: Some(self.fuzzy_paths.is_some()),
            match_headers: Some(
                self.match_headers
                    .split(',')
                    .map(str::trim)
                    .filter(|name| !name.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
            match_body: Some(self.match_body.is_some()),
            collections,
            latency,
            chaos,
            rate_limit,
            upstream: Some(upstream),
        })
    }
}

/// A setting shown as pretty JSON; empty when there is none.
fn pretty<T: Serialize>(value: Option<&T>) -> String {
    value.map(format::pretty).unwrap_or_default()
}

/// A setting typed as JSON: empty removes it (`Some(None)`); a refused one goes to `errors`.
fn optional_json<T: serde::de::DeserializeOwned>(
    field: &str,
    text: &str,
    errors: &mut BTreeMap<String, String>,
) -> Option<Option<T>> {
    if text.trim().is_empty() {
        return Some(None);
    }
    parse_json::<T>(text.as_bytes())
        .map_err(|error| errors.insert(field.to_owned(), error.to_string()))
        .ok()
        .map(Some)
}

/// `NAME=value` lines; blank lines are skipped, a value may contain `=`.
fn parse_environment(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut environment = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match line.split_once('=') {
            Some((name, value)) if !name.trim().is_empty() => {
                environment.insert(name.trim().to_owned(), value.trim().to_owned());
            }
            _ => {
                return Err(format!(
                    "line {}: write each variable as NAME=value",
                    number + 1
                ));
            }
        }
    }
    Ok(environment)
}

/// Everything the mock page shows.
struct MockPage<'a> {
    mock: &'a Mock,
    examples: &'a [StoredExample],
    settings: &'a SettingsForm,
    errors: &'a BTreeMap<String, String>,
    /// The state shown, when the mock has any to show.
    state: Option<StateView>,
}

/// An example as the mock page lists it.
#[derive(Debug, Serialize)]
pub struct ExampleRow {
    pub id: String,
    pub name: String,
    pub method: Option<String>,
    pub path: String,
    pub status: u16,
    /// Empty for one response; else `sequence of N` or `collection NAME`.
    pub answer: String,
    /// The scenario step in brief: `login: started → logged_in`.
    pub scenario: Option<String>,
    /// The other conditions in brief: `?page=2`, `header x-tenant`, `JSON body`, `expression`.
    pub conditions: Vec<String>,
    pub priority: i32,
}

impl From<&StoredExample> for ExampleRow {
    fn from(stored: &StoredExample) -> Self {
        let example = &stored.example;
        let answer = match (&example.sequence, &example.resource) {
            (_, Some(resource)) => format!("collection {}", resource.collection),
            (Some(sequence), None) => format!("sequence of {}", sequence.responses.len()),
            (None, None) => String::new(),
        };
        let scenario = example.scenario.as_ref().map(|step| {
            let from = step.requires.as_deref().unwrap_or("any state");
            match &step.then {
                Some(then) => format!("{}: {from} → {then}", step.name),
                None => format!("{}: {from}", step.name),
            }
        });
        Self {
            id: stored.id.to_string(),
            name: example.name.clone(),
            method: example.request.method.clone(),
            path: example.request.path.clone(),
            status: example.response.status,
            answer,
            scenario,
            conditions: conditions_in_brief(&example.request),
            priority: example.priority.unwrap_or(0),
        }
    }
}

/// What tells an example's request apart besides method and path, a few words each.
fn conditions_in_brief(request: &RequestPattern) -> Vec<String> {
    let value = |value: &ValueMatch| match value {
        ValueMatch::Equals(text) | ValueMatch::Rule(ValueRule::Equals(text)) => format!("={text}"),
        ValueMatch::Rule(ValueRule::Matches(pattern)) => format!(" matching {pattern}"),
        ValueMatch::Rule(ValueRule::Absent(true) | ValueRule::Present(false)) => {
            " absent".to_owned()
        }
        ValueMatch::Rule(ValueRule::Present(true) | ValueRule::Absent(false)) => String::new(),
    };
    let mut brief: Vec<String> = request
        .query
        .iter()
        .map(|(name, rule)| format!("?{name}{}", value(rule)))
        .chain(
            request
                .headers
                .iter()
                .map(|(name, rule)| format!("header {name}{}", value(rule))),
        )
        .chain(
            request
                .cookies
                .iter()
                .map(|(name, rule)| format!("cookie {name}{}", value(rule))),
        )
        .collect();
    let body = match &request.body {
        BodyMatch::None {} => None,
        BodyMatch::Text { .. } => Some("text body"),
        BodyMatch::Json {
            mode: JsonMode::Equals,
            ..
        } => Some("JSON body"),
        BodyMatch::Json { .. } => Some("JSON body containing"),
        BodyMatch::Xml { .. } => Some("XML body"),
        BodyMatch::Form { .. } => Some("form parameters"),
        BodyMatch::Any {} => Some("any body"),
    };
    brief.extend(body.map(str::to_owned));
    if request.expression.is_some() {
        brief.push("expression".to_owned());
    }
    brief
}

async fn render_mock_page(
    state: &AppState,
    session: &WebSession,
    status: StatusCode,
    view: MockPage<'_>,
) -> Result<Response, PageError> {
    let draft = super::versions::optional_draft(state, session, view.mock.id).await?;
    let drift_reports = super::drift::reports_of(state, session, view.mock.id).await?;
    let contract = state
        .store
        .contract_brief(&session.workspace, view.mock.id)
        .await?;
    let examples: Vec<ExampleRow> = view.examples.iter().map(ExampleRow::from).collect();
    // The try panel starts with a request the first example answers.
    let first = examples.first();
    let try_method = first.and_then(|e| e.method.clone());
    let try_path = first.map(|e| super::examples::sample_path(&e.path));
    let summary = MockSummary::new(view.mock, &state.settings);
    let curl = format!(
        "curl {}{}{}",
        if summary.private {
            "-H 'x-api-key: YOUR_KEY' "
        } else {
            ""
        },
        summary.path_url.trim_end_matches('/'),
        try_path.as_deref().unwrap_or("/")
    );
    page(
        session,
        status,
        "mock.html",
        context! {
            nav => "mocks",
            mock => Serde(summary),
            curl,
            examples => Serde(examples),
            settings => Serde(view.settings),
            errors => Serde(view.errors),
            state => view.state.map(Serde),
            try_method,
            try_path,
            version => view.mock.version,
            upstream_headers => upstream_header_names(view.mock),
            recording_since => view.mock.recording_since.map(super::versions::when),
            drift_reports,
            contract => contract.map(|brief| context! {
                title => brief.title,
                version => brief.version,
                refuse_examples => brief.refuse_examples,
                requests => brief.requests,
                attached_at => super::versions::when(brief.attached_at),
            }),
            draft => draft.map(|draft| context! {
                revision => draft.revision,
                based_on => draft.based_on,
                author => Serde(draft.author),
                updated_at => super::versions::when(draft.updated_at),
            }),
        },
    )
}

/// The examples of a mock already found. Never read beside the search for the mock: a join that
/// gives up on this read when the mock is not found may cancel it inside its `BEGIN`, and sqlx
/// 0.9 then returns the connection to the pool in a transaction nobody ends (the next
/// `SET TRANSACTION` on it fails).
async fn examples_of(
    state: &AppState,
    session: &WebSession,
    mock: &Mock,
) -> Result<Vec<StoredExample>, PageError> {
    Ok(state
        .store
        .list_examples(&session.workspace, mock.id)
        .await?)
}

/// The state the mock page shows: `?state=KEY`, or the default state.
#[derive(Debug, Deserialize)]
struct StatePick {
    state: Option<String>,
}

/// The mock's state `key`, when the mock has scenarios, values, collections or written states.
async fn state_panel(
    state: &AppState,
    session: &WebSession,
    mock: &Mock,
    key: &str,
) -> Result<Option<StateView>, PageError> {
    let view = view_state(state, &session.workspace, mock, key).await?;
    let shown = !(view.scenarios.is_empty()
        && view.values.is_empty()
        && view.collections.is_empty()
        && view.states.is_empty());
    Ok(shown.then_some(view))
}

async fn mock_page(
    State(state): State<AppState>,
    OwnMock(session, mock): OwnMock<WebSession>,
    Query(pick): Query<StatePick>,
) -> Result<Response, PageError> {
    let key = StateQuery { key: pick.state };
    let key = key.key()?.unwrap_or_default();
    let examples = examples_of(&state, &session, &mock).await?;
    let settings = SettingsForm::of(&mock);
    render_mock_page(
        &state,
        &session,
        StatusCode::OK,
        MockPage {
            mock: &mock,
            examples: &examples,
            settings: &settings,
            errors: &BTreeMap::new(),
            state: state_panel(&state, &session, &mock, key).await?,
        },
    )
    .await
}

/// The state panel's reset: one state (`key`, empty for the default one), or with `all` every
/// state of the mock.
#[derive(Debug, Deserialize)]
struct ResetForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    all: Option<String>,
}

async fn reset_state(
    State(state): State<AppState>,
    PagePath(id): PagePath<MockId>,
    PostedForm { session, form }: PostedForm<ResetForm>,
) -> Result<Response, PageError> {
    let key = StateQuery {
        key: Some(form.key),
    };
    let key = key.key()?.unwrap_or_default();
    let every = form.all.is_some();
    state
        .store
        .reset_state(&session.workspace, id, (!every).then_some(key))
        .await?;
    let done = if every {
        "Reset every state of this mock.".to_owned()
    } else if key.is_empty() {
        "Reset the default state.".to_owned()
    } else {
        format!("Reset the state {key}.")
    };
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("state", key)
        .finish();
    Ok(redirect_with(
        &format!("/mocks/{id}?{query}#state"),
        &[Flash::success(done)],
    ))
}

async fn save_settings(
    State(state): State<AppState>,
    PagePath(id): PagePath<MockId>,
    PostedForm { session, form }: PostedForm<SettingsForm>,
) -> Result<Response, PageError> {
    let errors = match form.fields() {
        Err(errors) => errors,
        Ok(fields) => {
            let saved = fields.save(&state.store, &session.workspace, id).await;
            match saved {
                Ok((mock, note)) => {
                    let done = redirect_with(
                        &format!("/mocks/{id}#settings"),
                        &[Flash::success(format!(
                            "Saved the settings of {}.",
                            mock.name
                        ))],
                    );
                    return Ok((note, done).into_response());
                }
                Err(error) => field_errors(error)?
                    .into_iter()
                    .map(|(field, message)| (form_field(&field).to_owned(), message))
                    .collect(),
            }
        }
    };
    let mock = own_mock(&state, &session.workspace, id).await?;
    let examples = examples_of(&state, &session, &mock).await?;
    render_mock_page(
        &state,
        &session,
        StatusCode::UNPROCESSABLE_ENTITY,
        MockPage {
            mock: &mock,
            examples: &examples,
            settings: &form,
            errors: &errors,
            state: state_panel(&state, &session, &mock, "").await?,
        },
    )
    .await
}

/// The headers added to calls passed to the upstream, one `Name: value` per line.
#[derive(Debug, Deserialize)]
struct UpstreamHeadersForm {
    #[serde(default)]
    headers: String,
}

/// Saves the upstream's headers; the page says how it went (a refused value is not shown
/// again: it may be a secret).
async fn save_upstream_headers_form(
    State(state): State<AppState>,
    PagePath(id): PagePath<MockId>,
    PostedForm { session, form }: PostedForm<UpstreamHeadersForm>,
) -> Result<Response, PageError> {
    let back = format!("/mocks/{id}#settings");
    let mut headers = BTreeMap::new();
    for line in form.headers.lines().filter(|line| !line.trim().is_empty()) {
        let parsed = line
            .split_once(':')
            .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()));
        let Some((name, value)) = parsed.filter(|(name, _)| !name.is_empty()) else {
            return Ok(redirect_with(
                &back,
                &[Flash::error("Each line is one header, Name: value.")],
            ));
        };
        if headers.insert(name.clone(), value).is_some() {
            return Ok(redirect_with(
                &back,
                &[Flash::error(format!("{name} is given twice."))],
            ));
        }
    }
    let count = headers.len();
    let flash = match save_upstream_headers(&state.store, &session.workspace, id, headers).await {
        Ok(_) if count == 0 => Flash::success("Removed the upstream's headers."),
        Ok(_) => Flash::success(format!("Saved {count} header(s) for the upstream.")),
        Err(error) => {
            let errors = field_errors(error)?;
            Flash::error(format!(
                "The headers were not saved: {}",
                errors.into_values().collect::<Vec<_>>().join("; ")
            ))
        }
    };
    Ok(redirect_with(&back, &[flash]))
}

/// The form field of an API field: `fallback.body` belongs to the fallback's text area, the
/// upstream's timeout to its own field.
fn form_field(field: &str) -> &str {
    if field == "upstream.timeout_ms" {
        return "upstream_timeout_ms";
    }
    field.split(['.', '[']).next().unwrap_or(field)
}

async fn confirm_delete(
    State(state): State<AppState>,
    OwnMock(session, mock): OwnMock<WebSession>,
) -> Result<Response, PageError> {
    let examples = examples_of(&state, &session, &mock).await?;
    page(
        &session,
        StatusCode::OK,
        "mock_delete.html",
        context! {
            nav => "mocks",
            mock => Serde(MockSummary::new(&mock, &state.settings)),
            example_count => examples.len(),
        },
    )
}

/// A form with nothing but its CSRF token.
#[derive(Debug, Deserialize)]
struct NoFields {}

async fn delete_mock(
    State(state): State<AppState>,
    PagePath(id): PagePath<MockId>,
    PostedForm { session, .. }: PostedForm<NoFields>,
) -> Result<Response, PageError> {
    let mock = own_mock(&state, &session.workspace, id).await?;
    state.store.delete_mock(&session.workspace, id).await?;
    let done = redirect_with(
        "/mocks",
        &[Flash::success(format!(
            "Deleted {} and its examples.",
            mock.name
        ))],
    );
    Ok((Note::mock(&mock), done).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_lines_are_read_and_a_line_without_equals_is_named() {
        let environment = parse_environment("TOKEN=abc\n\n  base = http://x/?a=b \n").unwrap();
        assert_eq!(environment["TOKEN"], "abc");
        assert_eq!(environment["base"], "http://x/?a=b");
        assert_eq!(
            parse_environment("A=1\noops").unwrap_err(),
            "line 2: write each variable as NAME=value"
        );
    }

    #[test]
    fn api_fields_land_on_their_form_field() {
        assert_eq!(form_field("fallback.body"), "fallback");
        assert_eq!(form_field("upstream.url"), "upstream");
        assert_eq!(form_field("upstream.timeout_ms"), "upstream_timeout_ms");
        assert_eq!(form_field("name"), "name");
    }
}

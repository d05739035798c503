//! The example editor: `/mocks/{id}/examples/new` and `/mocks/{id}/examples/{example_id}`.
//!
//! One form edits every part of an example: the request's method, path and path match; its
//! query, header and cookie conditions and form parameters, as `name: value` lines for
//! equalities or as JSON objects in the engine's own format (`{"id": {"matches": "^\\d+$"}}`),
//! so every rule the engine knows can be written; the body condition; the expression; and the
//! response's status, headers (`Name: value` lines), body, template flag and delay. A second
//! form takes the whole example as JSON, for those who prefer it. Whatever is refused, by the
//! form or by the engine's validation, is shown beside its field, with line and column for
//! templates, expressions and JSON.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lyrebird_engine::render::json_shaped;
use lyrebird_engine::{
    BodyMatch, Example, Fault, Header, JsonMode, Latency, PathMatch, RequestPattern, Resource,
    ResponseSpec, ScenarioStep, Sequence, ValueMatch,
};
use lyrebird_store::{ExampleId, MockId};
use minijinja::context;
use minijinja::value::Serde;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::csrf::PostedForm;
use super::format::pretty;
use super::mocks::MockSummary;
use super::{Flash, PageError, PagePath, WebSession, field_errors, page, redirect_with};
use crate::AppState;
use crate::api::contract::check_examples;
use crate::audit::Note;
use crate::auth::{OwnMock, own_mock};
use crate::error::ApiError;
use crate::extract::parse_json;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/mocks/{id}/examples/new",
            get(new_example).post(create_example),
        )
        .route(
            "/mocks/{id}/examples/{example_id}",
            get(edit_example).post(save_example),
        )
        .route(
            "/mocks/{id}/examples/{example_id}/delete",
            post(delete_example),
        )
        .route(
            "/mocks/{id}/examples/{example_id}/duplicate",
            post(duplicate_example),
        )
        .route(
            "/mocks/{id}/examples/{example_id}/priority",
            post(change_priority),
        )
}

/// The methods offered in the method menu; another method an example has is offered too.
const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// The editor's fields as typed. Kept as text, so a refused value comes back as it was.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct ExampleForm {
    /// `fields` (the form) or `json` (the whole example as JSON).
    #[serde(default)]
    mode: String,
    #[serde(default)]
    json: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    priority: String,
    /// Empty for any method.
    #[serde(default)]
    method: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    path_match: String,
    #[serde(default)]
    query: String,
    #[serde(default)]
    headers: String,
    #[serde(default)]
    cookies: String,
    /// `none`, `text`, `json`, `json_contains`, `xml`, `form` or `any`.
    #[serde(default)]
    body_kind: String,
    #[serde(default)]
    body_value: String,
    #[serde(default)]
    expression: String,
    #[serde(default)]
    status: String,
    /// `Name: value` lines.
    #[serde(default)]
    response_headers: String,
    /// `text` or `json`.
    #[serde(default)]
    response_body_kind: String,
    #[serde(default)]
    response_body: String,
    #[serde(default)]
    template: Option<String>,
    #[serde(default)]
    delay_ms: String,
    /// The response's fault and latency as JSON, each empty for none.
    #[serde(default)]
    fault: String,
    #[serde(default)]
    latency: String,
    /// The scenario the example requires a state of or moves; empty for none.
    #[serde(default)]
    scenario_name: String,
    #[serde(default)]
    scenario_requires: String,
    #[serde(default)]
    scenario_then: String,
    /// `response` (the fields above), `sequence` or `resource`.
    #[serde(default)]
    answer_kind: String,
    /// A sequence in the engine's format: `{"policy", "seed", "responses"}`.
    #[serde(default)]
    sequence: String,
    /// The collection a resource example serves.
    #[serde(default)]
    collection: String,
    /// Whether a drift check sends the example: empty by its method, `yes` or `no`.
    #[serde(default)]
    drift_check: String,
}

impl ExampleForm {
    fn of(example: &Example) -> Self {
        let request = &example.request;
        let response = &example.response;
        let (body_kind, body_value) = match &request.body {
            BodyMatch::None {} => ("none", String::new()),
            BodyMatch::Text { value } => ("text", value.clone()),
            BodyMatch::Json { value, mode } => (
                match mode {
                    JsonMode::Equals => "json",
                    JsonMode::Contains => "json_contains",
                },
                pretty(value),
            ),
            BodyMatch::Xml { value } => ("xml", value.clone()),
            BodyMatch::Form { params } => ("form", conditions_text(params)),
            BodyMatch::Any {} => ("any", String::new()),
        };
        let (response_body_kind, response_body) = match &response.body {
            None => ("text", String::new()),
            // A JSON template is kept as text until it is rendered; the editor shows it as the
            // JSON it was written as.
            Some(Value::String(text)) if response.template && json_shaped(text, true) => {
                ("json", text.clone())
            }
            Some(Value::String(text)) => ("text", text.clone()),
            Some(value) => ("json", pretty(value)),
        };
        let scenario = example.scenario.as_ref();
        let text = |value: Option<&String>| value.cloned().unwrap_or_default();
        let answer_kind = if example.resource.is_some() {
            "resource"
        } else if example.sequence.is_some() {
            "sequence"
        } else if example.response.proxy {
            "upstream"
        } else {
            "response"
        };
        Self {
            scenario_name: text(scenario.map(|step| &step.name)),
            scenario_requires: text(scenario.and_then(|step| step.requires.as_ref())),
            scenario_then: text(scenario.and_then(|step| step.then.as_ref())),
            answer_kind: answer_kind.to_owned(),
            sequence: example.sequence.as_ref().map(pretty).unwrap_or_default(),
            collection: text(example.resource.as_ref().map(|r| &r.collection)),
            drift_check: match example.drift_check {
                None => "",
                Some(true) => "yes",
                Some(false) => "no",
            }
            .to_owned(),
            mode: "fields".to_owned(),
            json: pretty(example),
            name: example.name.clone(),
            priority: example.priority.map(|p| p.to_string()).unwrap_or_default(),
            method: request.method.clone().unwrap_or_default(),
            path: request.path.clone(),
            path_match: match request.path_match {
                PathMatch::Exact => "exact",
                PathMatch::Prefix => "prefix",
            }
            .to_owned(),
            query: conditions_text(&request.query),
            headers: conditions_text(&request.headers),
            cookies: conditions_text(&request.cookies),
            body_kind: body_kind.to_owned(),
            body_value,
            expression: request.expression.clone().unwrap_or_default(),
            status: response.status.to_string(),
            response_headers: response
                .headers
                .iter()
                .map(|header| format!("{}: {}\n", header.name, header.value))
                .collect(),
            response_body_kind: response_body_kind.to_owned(),
            response_body,
            template: response.template.then(|| "on".to_owned()),
            delay_ms: response.delay_ms.to_string(),
            fault: response.fault.as_ref().map(pretty).unwrap_or_default(),
            latency: response.latency.as_ref().map(pretty).unwrap_or_default(),
        }
    }

    /// The editor after a refused save of the whole example as JSON: the fields of the example
    /// the JSON describes, or of `saved` when it describes none, and the JSON as typed.
    fn json_kept(self, saved: Option<Example>) -> Self {
        let shown = parse_json::<Example>(self.json.as_bytes()).ok().or(saved);
        let fields = shown.map_or_else(Self::blank, |example| Self::of(&example));
        Self {
            mode: self.mode,
            json: self.json,
            ..fields
        }
    }

    /// A new example: `GET /`, answering 200 with an empty JSON object.
    fn blank() -> Self {
        let example = Example {
            name: String::new(),
            priority: None,
            request: RequestPattern {
                method: Some("GET".to_owned()),
                ..RequestPattern::default()
            },
            response: ResponseSpec {
                body: Some(serde_json::json!({})),
                ..ResponseSpec::default()
            },
            ..Example::default()
        };
        Self::of(&example)
    }

    /// The example the form describes, or the errors of the fields it could not read, keyed
    /// by the example's field paths (`request.query`, `response.body`).
    fn example(&self) -> Result<Example, BTreeMap<String, String>> {
        if self.mode == "json" {
            return parse_json::<Example>(self.json.as_bytes()).map_err(|error| {
                let message = match &error {
                    ApiError::Invalid { field, message } => format!("{field}: {message}"),
                    other => other.to_string(),
                };
                BTreeMap::from([("json".to_owned(), message)])
            });
        }
        let mut errors = Errors::default();
        let priority = match self.priority.trim() {
            "" => None,
            text => errors.check(
                "priority",
                text.parse::<i32>().map_err(|_| {
                    "a priority is a whole number; higher wins among equally good matches"
                        .to_owned()
                }),
            ),
        };
        let body = match self.body_kind.as_str() {
            "text" => Some(BodyMatch::Text {
                value: self.body_value.clone(),
            }),
            kind @ ("json" | "json_contains") => errors
                .check("request.body", json_field::<Value>(&self.body_value))
                .map(|value| BodyMatch::Json {
                    value,
                    mode: if kind == "json" {
                        JsonMode::Equals
                    } else {
                        JsonMode::Contains
                    },
                }),
            "xml" => Some(BodyMatch::Xml {
                value: self.body_value.clone(),
            }),
            "form" => errors
                .check("request.body", conditions(&self.body_value))
                .map(|params| BodyMatch::Form { params }),
            "any" => Some(BodyMatch::Any {}),
            _ => Some(BodyMatch::None {}),
        };
        let request = RequestPattern {
            method: Some(self.method.trim().to_ascii_uppercase()).filter(|m| !m.is_empty()),
            path: Some(self.path.trim().to_owned())
                .filter(|path| !path.is_empty())
                .unwrap_or_else(|| "/".to_owned()),
            path_match: if self.path_match == "prefix" {
                PathMatch::Prefix
            } else {
                PathMatch::Exact
            },
            query: errors
                .check("request.query", conditions(&self.query))
                .unwrap_or_default(),
            headers: errors
                .check("request.headers", conditions(&self.headers))
                .unwrap_or_default(),
            cookies: errors
                .check("request.cookies", conditions(&self.cookies))
                .unwrap_or_default(),
            body: body.unwrap_or_default(),
            expression: Some(self.expression.clone()).filter(|e| !e.trim().is_empty()),
        };
        let status = errors.check(
            "response.status",
            self.status
                .trim()
                .parse::<u16>()
                .ok()
                .filter(|status| (100..=599).contains(status))
                .ok_or_else(|| "a status is a number from 100 to 599".to_owned()),
        );
        let headers = errors.check("response.headers", header_lines(&self.response_headers));
        let response_body = if self.response_body.is_empty() {
            None
        } else if self.response_body_kind == "json" && self.template.is_none() {
            errors
                .check("response.body", json_field::<Value>(&self.response_body))
                .map(Some)
                .unwrap_or_default()
        } else {
            Some(Value::String(self.response_body.clone()))
        };
        let delay_ms = match self.delay_ms.trim() {
            "" => Some(0),
            text => errors.check(
                "response.delay_ms",
                text.parse::<u64>()
                    .map_err(|_| "a delay is a whole number of milliseconds".to_owned()),
            ),
        };
        let fault = optional(&self.fault)
            .and_then(|text| errors.check("response.fault", json_field::<Fault>(text)));
        let latency = optional(&self.latency)
            .and_then(|text| errors.check("response.latency", json_field::<Latency>(text)));
        let (sequence, resource) = match self.answer_kind.as_str() {
            "sequence" => (
                errors.check("sequence", json_field::<Sequence>(&self.sequence)),
                None,
            ),
            "resource" => (
                None,
                Some(Resource {
                    collection: self.collection.trim().to_owned(),
                }),
            ),
            _ => (None, None),
        };
        if !errors.0.is_empty() {
            return Err(errors.0);
        }
        let response = if self.answer_kind == "response" || self.answer_kind.is_empty() {
            ResponseSpec {
                status: status.unwrap_or(200),
                headers: headers.unwrap_or_default(),
                body: response_body,
                template: self.template.is_some(),
                delay_ms: delay_ms.unwrap_or_default(),
                weight: None,
                latency,
                fault,
                proxy: false,
            }
        } else if self.answer_kind == "upstream" {
            ResponseSpec {
                proxy: true,
                ..ResponseSpec::default()
            }
        } else {
            ResponseSpec::default()
        };
        let owned = |text: &str| optional(text).map(str::to_owned);
        Ok(Example {
            name: self.name.trim().to_owned(),
            priority,
            request,
            response,
            scenario: owned(&self.scenario_name).map(|name| ScenarioStep {
                name,
                requires: owned(&self.scenario_requires),
                then: owned(&self.scenario_then),
            }),
            sequence,
            resource,
            drift_check: match self.drift_check.as_str() {
                "yes" => Some(true),
                "no" => Some(false),
                _ => None,
            },
        })
    }
}

/// A text field's trimmed value; `None` when it is empty.
fn optional(text: &str) -> Option<&str> {
    Some(text.trim()).filter(|text| !text.is_empty())
}

/// A request path that the pattern matches, to start the try panel with: captures (`:id`,
/// `{id}`, `{{var}}`) become `1` and a final `*` becomes `x`.
pub fn sample_path(pattern: &str) -> String {
    let (path, query) = pattern.split_once('?').unwrap_or((pattern, ""));
    let path = path
        .split('/')
        .map(|segment| {
            if segment.starts_with(':') || (segment.starts_with('{') && segment.ends_with('}')) {
                "1"
            } else if segment == "*" {
                "x"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/");
    if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    }
}

/// Field errors gathered while reading the form.
#[derive(Debug, Default)]
struct Errors(BTreeMap<String, String>);

impl Errors {
    fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        result
            .map_err(|message| self.0.insert(field.to_owned(), message))
            .ok()
    }
}

/// Conditions as the editor shows them: `name: value` lines when every condition is an equality
/// (the common case), else the JSON object; nothing when there are none.
fn conditions_text(conditions: &BTreeMap<String, ValueMatch>) -> String {
    let equalities: Option<String> = conditions
        .iter()
        .map(|(name, condition)| match condition {
            ValueMatch::Equals(value) if !name.contains(':') && !value.contains('\n') => {
                Some(format!("{name}: {value}\n"))
            }
            _ => None,
        })
        .collect();
    match equalities {
        Some(lines) => lines,
        None => pretty(conditions),
    }
}

/// A JSON text area: its value, or the error with its line and column.
fn json_field<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    parse_json(text.as_bytes()).map_err(|error| match error {
        ApiError::Invalid { field, message } if field != "." => format!("{field}: {message}"),
        ApiError::Invalid { message, .. } => message,
        other => other.to_string(),
    })
}

/// A conditions text area: empty for none, `name: value` lines for equalities, or a JSON
/// object of names to values or rules.
fn conditions(text: &str) -> Result<BTreeMap<String, ValueMatch>, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok(BTreeMap::new());
    }
    if trimmed.starts_with('{') {
        return json_field(text);
    }
    let mut conditions = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match line.split_once(':') {
            Some((name, value)) if !name.trim().is_empty() => {
                let value = ValueMatch::Equals(value.trim().to_owned());
                conditions.insert(name.trim().to_owned(), value);
            }
            _ => {
                return Err(format!(
                    "line {}: write name: value, or a JSON object for rules",
                    number + 1
                ));
            }
        }
    }
    Ok(conditions)
}

/// `Name: value` lines; blank lines are skipped.
fn header_lines(text: &str) -> Result<Vec<Header>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(number, line)| match line.split_once(':') {
            Some((name, value)) if !name.trim().is_empty() => Ok(Header {
                name: name.trim().to_owned(),
                value: value.trim().to_owned(),
            }),
            _ => Err(format!(
                "line {}: write each header as Name: value",
                number + 1
            )),
        })
        .collect()
}

/// The editor's field for an error of the engine: `request.query.page` belongs to the query
/// conditions, `response.headers[1].name` to the response headers.
fn editor_field(field: &str) -> &'static str {
    const FIELDS: [&str; 20] = [
        "name",
        "priority",
        "request.method",
        "request.path_match",
        "request.path",
        "request.query",
        "request.headers",
        "request.cookies",
        "request.body",
        "request.expression",
        "response.status",
        "response.headers",
        "response.body",
        "response.delay_ms",
        "response.fault",
        "response.latency",
        "scenario",
        "sequence",
        "resource",
        "response",
    ];
    FIELDS
        .into_iter()
        .find(|known| {
            field == *known
                || field
                    .strip_prefix(known)
                    .is_some_and(|rest| rest.starts_with(['.', '[']))
        })
        .unwrap_or("example")
}

/// Checks the example as the API does: the engine's validation with the mock's environment,
/// errors placed on the editor's fields. In JSON mode every error belongs to the JSON text area.
fn validate(
    example: &Example,
    env: &BTreeMap<String, String>,
    json_mode: bool,
) -> Result<(), BTreeMap<String, String>> {
    let Err(errors) = lyrebird_engine::validate_example(example, env) else {
        return Ok(());
    };
    let by_field = field_errors(ApiError::InvalidExample(errors)).unwrap_or_default();
    let mut placed = BTreeMap::<String, String>::new();
    for (field, message) in by_field {
        let (key, message) = if json_mode {
            ("json", format!("{field}: {message}"))
        } else {
            (editor_field(&field), message)
        };
        placed
            .entry(key.to_owned())
            .and_modify(|text| {
                text.push_str("; ");
                text.push_str(&message);
            })
            .or_insert(message);
    }
    Err(placed)
}

struct EditorPage<'a> {
    mock: &'a lyrebird_store::Mock,
    example_id: Option<ExampleId>,
    form: &'a ExampleForm,
    errors: &'a BTreeMap<String, String>,
}

fn editor(
    state: &AppState,
    session: &WebSession,
    status: StatusCode,
    view: EditorPage<'_>,
) -> Result<Response, PageError> {
    let current = view.form.method.trim();
    let mut methods: Vec<String> = METHODS.map(str::to_owned).to_vec();
    if !current.is_empty() && !METHODS.contains(&current) {
        methods.push(current.to_owned());
    }
    let try_path = sample_path(view.form.path.trim());
    page(
        session,
        status,
        "example.html",
        context! {
            nav => "mocks",
            mock => Serde(MockSummary::new(view.mock, &state.settings)),
            example_id => view.example_id.map(|id| id.to_string()),
            form => Serde(view.form),
            errors => Serde(view.errors),
            try_method => if current.is_empty() { "GET".to_owned() } else { current.to_owned() },
            try_path => if try_path.is_empty() { "/".to_owned() } else { try_path },
            methods,
            try_unsaved => true,
        },
    )
}

async fn new_example(
    State(state): State<AppState>,
    OwnMock(session, mock): OwnMock<WebSession>,
) -> Result<Response, PageError> {
    editor(
        &state,
        &session,
        StatusCode::OK,
        EditorPage {
            mock: &mock,
            example_id: None,
            form: &ExampleForm::blank(),
            errors: &BTreeMap::new(),
        },
    )
}

/// The route's `{example_id}`, beside the mock's `{id}`.
#[derive(Debug, Deserialize)]
struct ExamplePath {
    example_id: ExampleId,
}

async fn edit_example(
    State(state): State<AppState>,
    OwnMock(session, mock): OwnMock<WebSession>,
    PagePath(ExamplePath { example_id }): PagePath<ExamplePath>,
) -> Result<Response, PageError> {
    let stored = state
        .store
        .example(&session.workspace, mock.id, example_id)
        .await?;
    editor(
        &state,
        &session,
        StatusCode::OK,
        EditorPage {
            mock: &mock,
            example_id: Some(example_id),
            form: &ExampleForm::of(&stored.example),
            errors: &BTreeMap::new(),
        },
    )
}

async fn create_example(
    State(state): State<AppState>,
    PagePath(mock_id): PagePath<MockId>,
    PostedForm { session, form }: PostedForm<ExampleForm>,
) -> Result<Response, PageError> {
    save(&state, &session, mock_id, None, form).await
}

async fn save_example(
    State(state): State<AppState>,
    PagePath((mock_id, example_id)): PagePath<(MockId, ExampleId)>,
    PostedForm { session, form }: PostedForm<ExampleForm>,
) -> Result<Response, PageError> {
    save(&state, &session, mock_id, Some(example_id), form).await
}

/// Saves a new example (`example_id` is `None`) or replaces one, or shows the editor again
/// with the errors beside their fields.
async fn save(
    state: &AppState,
    session: &WebSession,
    mock_id: MockId,
    example_id: Option<ExampleId>,
    form: ExampleForm,
) -> Result<Response, PageError> {
    let mock = own_mock(state, &session.workspace, mock_id).await?;
    let checked = form.example().and_then(|example| {
        validate(&example, &mock.environment, form.mode == "json").map(|()| example)
    });
    let errors = match checked {
        Ok(example) => {
            let checked = check_examples(
                state,
                &session.workspace,
                mock_id,
                [(String::new(), &example)],
            )
            .await;
            match checked {
                Ok(mut found) => {
                    let violations = found.pop().unwrap_or_default();
                    let store = &state.store;
                    let (stored, note) = match example_id {
                        None => {
                            let stored = store
                                .add_example(&session.workspace, mock_id, &example)
                                .await?;
                            let note = Note::example(&stored);
                            (stored, note)
                        }
                        Some(id) => {
                            let before = store.example(&session.workspace, mock_id, id).await?;
                            let stored = store
                                .replace_example(&session.workspace, mock_id, id, &example)
                                .await?;
                            let note = Note::example_changed(&before, &stored);
                            (stored, note)
                        }
                    };
                    let mut flashes = vec![Flash::success(format!(
                        "Saved {}. Try a request below to see it answer.",
                        stored.example.name
                    ))];
                    flashes.extend(violations.iter().map(|violation| {
                        Flash::warning(format!(
                            "It breaks the mock's OpenAPI contract at {}: {} ({}).",
                            violation.at, violation.message, violation.schema_path
                        ))
                    }));
                    let done = redirect_with(
                        &format!("/mocks/{mock_id}/examples/{}", stored.id),
                        &flashes,
                    );
                    return Ok((note, done).into_response());
                }
                Err(refused @ ApiError::ContractViolation { .. }) => field_errors(refused)?,
                Err(other) => return Err(other.into()),
            }
        }
        Err(errors) => errors,
    };
    // A refused JSON save keeps the form above filled: from the JSON when it reads as an
    // example, else from the example as saved (or a new one's), with the JSON as it was typed.
    let form = if form.mode == "json" {
        let saved = match example_id {
            Some(id) => Some(
                state
                    .store
                    .example(&session.workspace, mock_id, id)
                    .await?
                    .example,
            ),
            None => None,
        };
        form.json_kept(saved)
    } else {
        form
    };
    editor(
        state,
        session,
        StatusCode::UNPROCESSABLE_ENTITY,
        EditorPage {
            mock: &mock,
            example_id,
            form: &form,
            errors: &errors,
        },
    )
}

/// A form with nothing but its CSRF token.
#[derive(Debug, Deserialize)]
struct NoFields {}

async fn delete_example(
    State(state): State<AppState>,
    PagePath((mock_id, example_id)): PagePath<(MockId, ExampleId)>,
    PostedForm { session, .. }: PostedForm<NoFields>,
) -> Result<Response, PageError> {
    let stored = state
        .store
        .example(&session.workspace, mock_id, example_id)
        .await?;
    state
        .store
        .delete_example(&session.workspace, mock_id, example_id)
        .await?;
    let done = redirect_with(
        &format!("/mocks/{mock_id}"),
        &[Flash::success(format!(
            "Deleted the example {}.",
            stored.example.name
        ))],
    );
    Ok((Note::example(&stored), done).into_response())
}

/// A copy of the example, named so, added after the mock's last; its editor is where this leads.
async fn duplicate_example(
    State(state): State<AppState>,
    PagePath((mock_id, example_id)): PagePath<(MockId, ExampleId)>,
    PostedForm { session, .. }: PostedForm<NoFields>,
) -> Result<Response, PageError> {
    let store = &state.store;
    let mut example = store
        .example(&session.workspace, mock_id, example_id)
        .await?
        .example;
    example.name = format!("{} (copy)", example.name);
    let copy = store
        .add_example(&session.workspace, mock_id, &example)
        .await?;
    let done = redirect_with(
        &format!("/mocks/{mock_id}/examples/{}", copy.id),
        &[Flash::success(format!(
            "Made {}: change what tells it apart, then save.",
            copy.example.name
        ))],
    );
    let note = Note::example(&copy).with("copy_of", example_id);
    Ok((note, done).into_response())
}

/// The priority buttons of the examples list: `by` is 1 or -1.
#[derive(Debug, Deserialize)]
struct PriorityForm {
    by: i32,
}

/// Raises or lowers the example's priority by one: among examples that fit a request equally
/// well, the higher priority answers.
async fn change_priority(
    State(state): State<AppState>,
    PagePath((mock_id, example_id)): PagePath<(MockId, ExampleId)>,
    PostedForm { session, form }: PostedForm<PriorityForm>,
) -> Result<Response, PageError> {
    let store = &state.store;
    let before = store
        .example(&session.workspace, mock_id, example_id)
        .await?;
    let mut example = before.example.clone();
    let priority = example
        .priority
        .unwrap_or(0)
        .saturating_add(form.by.clamp(-1, 1));
    example.priority = (priority != 0).then_some(priority);
    let after = store
        .replace_example(&session.workspace, mock_id, example_id, &example)
        .await?;
    let done = redirect_with(
        &format!("/mocks/{mock_id}#examples-title"),
        &[Flash::success(format!(
            "{} now has priority {priority}.",
            example.name
        ))],
    );
    Ok((Note::example_changed(&before, &after), done).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> ExampleForm {
        ExampleForm::blank()
    }

    #[test]
    fn an_example_survives_the_round_trip_through_the_form() {
        let example: Example = serde_json::from_value(serde_json::json!({
            "name": "one pet",
            "priority": 3,
            "request": {
                "method": "POST", "path": "/pets/:id", "path_match": "prefix",
                "query": {"expand": "owner", "page": {"matches": "^\\d+$"}},
                "headers": {"x-tenant": {"present": true}},
                "body": {"type": "json", "value": {"a": 1}, "mode": "contains"},
                "expression": "request.method == \"POST\""
            },
            "response": {
                "status": 201,
                "headers": [{"name": "Set-Cookie", "value": "a=1"}, {"name": "Set-Cookie", "value": "b=2"}],
                "body": "Hello {{ request.path }}", "template": true, "delay_ms": 5
            }
        }))
        .unwrap();
        assert_eq!(ExampleForm::of(&example).example().unwrap(), example);
    }

    #[test]
    fn a_json_template_stays_json_in_the_editor() {
        let example: Example = serde_json::from_value(serde_json::json!({
            "name": "user",
            "request": {"path": "/users/:id"},
            "response": {"body": "{\"id\": \"{{ path.id }}\"}", "template": true}
        }))
        .unwrap();
        let form = ExampleForm::of(&example);
        assert_eq!(form.response_body_kind, "json");
        assert_eq!(form.example().unwrap(), example);
    }

    #[test]
    fn broken_json_in_a_conditions_field_is_placed_with_its_line_and_column() {
        let form = ExampleForm {
            query: "{\n  \"a\": }".to_owned(),
            ..form()
        };
        let errors = form.example().unwrap_err();
        assert!(
            errors["request.query"].contains("line 2, column 8"),
            "{errors:?}"
        );
    }

    #[test]
    fn a_bad_template_is_shown_on_the_response_body_with_line_and_column() {
        let form = ExampleForm {
            response_body_kind: "text".to_owned(),
            response_body: "Hello\n{{ request.path ".to_owned(),
            template: Some("on".to_owned()),
            ..form()
        };
        let example = form.example().unwrap();
        let errors = validate(&example, &BTreeMap::new(), false).unwrap_err();
        assert!(errors["response.body"].contains("line 2"), "{errors:?}");
    }

    #[test]
    fn engine_fields_land_on_the_closest_editor_field() {
        assert_eq!(editor_field("request.query.page"), "request.query");
        assert_eq!(editor_field("response.headers[1].name"), "response.headers");
        assert_eq!(editor_field("request.path_match"), "request.path_match");
        assert_eq!(editor_field("request.path"), "request.path");
        assert_eq!(editor_field("something.else"), "example");
    }

    #[test]
    fn the_try_panel_starts_with_a_path_the_pattern_matches() {
        assert_eq!(sample_path("/pets/:id/toys/{toy}/*"), "/pets/1/toys/1/x");
        assert_eq!(sample_path("/{{base}}/items?page=2"), "/1/items?page=2");
        assert_eq!(sample_path(""), "");
    }

    #[test]
    fn equalities_read_and_show_as_lines_and_rules_as_json() {
        let lines = conditions("expand: owner\n\npage : 2\n").unwrap();
        assert_eq!(lines["expand"], ValueMatch::Equals("owner".to_owned()));
        assert_eq!(lines["page"], ValueMatch::Equals("2".to_owned()));
        assert_eq!(conditions_text(&lines), "expand: owner\npage: 2\n");
        let rules = conditions(r#"{"page": {"matches": "^\\d+$"}}"#).unwrap();
        assert!(conditions_text(&rules).starts_with('{'));
        assert_eq!(
            conditions("expand").unwrap_err(),
            "line 1: write name: value, or a JSON object for rules"
        );
    }

    #[test]
    fn header_lines_need_a_colon() {
        assert_eq!(header_lines("A: 1\n\nB:2").unwrap().len(), 2);
        assert_eq!(
            header_lines("A: 1\nnope").unwrap_err(),
            "line 2: write each header as Name: value"
        );
    }
}

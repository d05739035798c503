//! A mock's history and drafts in the web app: its versions (`/mocks/{id}/versions`), what
//! changed in one (`/mocks/{id}/versions/{n}`), restoring one; its draft
//! (`/mocks/{id}/draft`): examples edited as JSON, what publishing changes, a request tried on
//! the draft and the live mock, the impact on the mock's calls, publishing and discarding; and
//! its health report (`/mocks/{id}/health`), whose suggestions go to the draft in one click.
//!
//! Every form that edits the draft carries the revision it was shown, so an edit made in another
//! tab meanwhile is never overwritten unseen: the page says so and shows the draft as it is.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use lyrebird_engine::Example;
use lyrebird_store::{Draft, ExampleId, Mock, MockId, StoreError};
use minijinja::context;
use minijinja::value::Serde;
use serde::Deserialize;

use super::csrf::PostedForm;
use super::{Flash, PageError, PagePath, WebSession, page, redirect_with};
use crate::AppState;
use crate::api::drafts::ExampleEdit;
use crate::api::examples::read_example;
use crate::api::health_report::report;
use crate::api::impact::{impact, keep};
use crate::api::versions::{ChangeCounts, MockDiff, Side, VersionView};
use crate::auth::{OwnMock, own_mock};
use crate::error::ApiError;
use crate::extract::from_value;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/mocks/{id}/versions", get(versions_page))
        .route("/mocks/{id}/versions/{number}", get(version_page))
        .route("/mocks/{id}/versions/{number}/restore", post(restore))
        .route("/mocks/{id}/draft", get(draft_page).post(start_draft))
        .route("/mocks/{id}/draft/examples", post(add_example))
        .route(
            "/mocks/{id}/draft/examples/{example_id}",
            post(save_example),
        )
        .route(
            "/mocks/{id}/draft/examples/{example_id}/remove",
            post(remove_example),
        )
        .route("/mocks/{id}/draft/impact", post(run_impact))
        .route("/mocks/{id}/draft/publish", post(publish))
        .route("/mocks/{id}/draft/discard", post(discard))
        .route("/mocks/{id}/health", get(health_page))
        .route("/mocks/{id}/health/apply", post(apply_suggestion))
}

/// A time as the pages show it: `<time datetime="{{ t.iso }}" data-ago>{{ t.text }}</time>`.
pub(super) fn when(at: time::OffsetDateTime) -> minijinja::Value {
    context! { iso => super::format::iso_time(at), text => super::format::time(at) }
}

/// A form with nothing but its CSRF token.
#[derive(Debug, Deserialize)]
struct NoFields {}

fn summary(mock: &Mock) -> minijinja::Value {
    context! { id => mock.id.to_string(), name => &mock.name, version => mock.version }
}

async fn versions_page(
    State(state): State<AppState>,
    OwnMock(session, mock): OwnMock<WebSession>,
) -> Result<Response, PageError> {
    let versions = state
        .store
        .list_versions(&session.workspace, mock.id, None, 200)
        .await?;
    let versions: Vec<minijinja::Value> = versions
        .into_iter()
        .map(VersionView::from)
        .map(|version| {
            let words = in_words(version.changes.as_ref(), version.examples);
            let at = when(version.created_at);
            context! { changes_in_words => words, when => at, ..minijinja::Value::from(Serde(version)) }
        })
        .collect();
    let draft = optional_draft(&state, &session, mock.id).await?;
    page(
        &session,
        StatusCode::OK,
        "versions.html",
        context! {
            nav => "mocks",
            mock => summary(&mock),
            versions,
            draft => draft.map(|draft| context! { revision => draft.revision, based_on => draft.based_on }),
        },
    )
}

/// What a version changed, in brief: "1 added, 2 changed, settings".
fn in_words(changes: Option<&ChangeCounts>, examples: usize) -> String {
    let Some(changes) = changes else {
        return match examples {
            1 => "1 example".to_owned(),
            n => format!("{n} examples"),
        };
    };
    let counted = [
        (changes.added, "added"),
        (changes.removed, "removed"),
        (changes.changed, "changed"),
    ];
    let mut parts: Vec<String> = counted
        .iter()
        .filter(|(count, _)| *count > 0)
        .map(|(count, what)| format!("{count} {what}"))
        .collect();
    if changes.reordered {
        parts.push("reordered".to_owned());
    }
    if changes.settings {
        parts.push("settings".to_owned());
    }
    parts.join(", ")
}

#[derive(Debug, Deserialize)]
struct DiffQuery {
    from: Option<i32>,
}

async fn version_page(
    State(state): State<AppState>,
    session: WebSession,
    PagePath((id, number)): PagePath<(MockId, i32)>,
    Query(query): Query<DiffQuery>,
) -> Result<Response, PageError> {
    let mock = own_mock(&state, &session.workspace, id).await?;
    let new = state.store.version(&session.workspace, id, number).await?;
    let from = query.from.unwrap_or(number - 1);
    let old = match state.store.version(&session.workspace, id, from).await {
        Ok(old) => Some(old),
        Err(StoreError::NotFound) => None,
        Err(other) => return Err(ApiError::from(other).into()),
    };
    let diff = old
        .as_ref()
        .map(|old| MockDiff::between(old.into(), (&new).into()));
    page(
        &session,
        StatusCode::OK,
        "version.html",
        context! {
            nav => "mocks",
            mock => summary(&mock),
            number,
            from => old.as_ref().map(|old| old.number),
            author => Serde(&new.author),
            note => &new.note,
            created_at => when(new.created_at),
            diff => diff.map(Serde),
            examples => new.examples.len(),
        },
    )
}

async fn restore(
    State(state): State<AppState>,
    PagePath((id, number)): PagePath<(MockId, i32)>,
    PostedForm { session, .. }: PostedForm<NoFields>,
) -> Result<Response, PageError> {
    let (mock, _) = state
        .store
        .restore_version(&session.workspace, id, number)
        .await?;
    Ok(redirect_with(
        &format!("/mocks/{id}/versions"),
        &[Flash::success(format!(
            "Restored version {number}: the mock is now at version {}.",
            mock.version
        ))],
    ))
}

pub(super) async fn optional_draft(
    state: &AppState,
    session: &WebSession,
    mock: MockId,
) -> Result<Option<Draft>, PageError> {
    match state.store.draft(&session.workspace, mock).await {
        Ok(draft) => Ok(Some(draft)),
        Err(StoreError::NotFound) => Ok(None),
        Err(other) => Err(ApiError::from(other).into()),
    }
}

async fn start_draft(
    State(state): State<AppState>,
    PagePath(id): PagePath<MockId>,
    PostedForm { session, .. }: PostedForm<NoFields>,
) -> Result<Response, PageError> {
    match state.store.start_draft(&session.workspace, id).await {
        Ok(_) | Err(StoreError::DraftExists) => {
            Ok(redirect_with(&format!("/mocks/{id}/draft"), &[]))
        }
        Err(other) => Err(ApiError::from(other).into()),
    }
}

/// What a draft page shows besides the draft: a refused edit, with what was typed.
#[derive(Debug, Default)]
struct Refused {
    /// The example's id, or `new`.
    example: String,
    typed: String,
    error: String,
}

async fn render_draft(
    state: &AppState,
    session: &WebSession,
    mock: &Mock,
    status: StatusCode,
    refused: Option<Refused>,
) -> Result<Response, PageError> {
    let Some(draft) = optional_draft(state, session, mock.id).await? else {
        return Ok(redirect_with(
            &format!("/mocks/{}", mock.id),
            &[Flash::warning(
                "This mock has no draft: start one to edit without changing what it answers.",
            )],
        ));
    };
    let live: Vec<(ExampleId, Example)> = state
        .store
        .list_examples(&session.workspace, mock.id)
        .await?
        .into_iter()
        .map(|stored| (stored.id, stored.example))
        .collect();
    let settings = mock.to_settings();
    let diff = MockDiff::between(
        Side {
            settings: &settings,
            examples: &live,
        },
        Side {
            settings: &draft.settings,
            examples: &draft.examples,
        },
    );
    let refused = refused.unwrap_or_default();
    let examples: Vec<minijinja::Value> = draft
        .examples
        .iter()
        .map(|(id, example)| {
            let id = id.to_string();
            let (text, error) = if refused.example == id {
                (refused.typed.clone(), Some(refused.error.clone()))
            } else {
                (pretty(example), None)
            };
            context! {
                id,
                name => &example.name,
                method => example.request.method.as_deref().unwrap_or("ANY"),
                path => &example.request.path,
                text,
                error,
            }
        })
        .collect();
    let new_example = (refused.example == "new")
        .then(|| context! { text => &refused.typed, error => &refused.error });
    let author = Serde(&draft.author);
    page(
        session,
        status,
        "draft.html",
        context! {
            nav => "mocks",
            mock => summary(mock),
            draft => context! {
                revision => draft.revision,
                based_on => draft.based_on,
                author,
                updated_at => when(draft.updated_at),
                live_changed => draft.based_on != mock.version,
            },
            examples,
            new_example,
            diff => Serde(diff),
            impact => draft.impact.map(Serde),
            try_url => format!("/api/v1/mocks/{}/draft/try", mock.id),
            try_path => draft.examples.first().map(|(_, e)| super::examples::sample_path(&e.request.path)),
            try_method => draft.examples.first().and_then(|(_, e)| e.request.method.clone()),
        },
    )
}

fn pretty(example: &Example) -> String {
    serde_json::to_string_pretty(example).unwrap_or_default()
}

async fn draft_page(
    State(state): State<AppState>,
    OwnMock(session, mock): OwnMock<WebSession>,
) -> Result<Response, PageError> {
    render_draft(&state, &session, &mock, StatusCode::OK, None).await
}

/// An example edited as JSON, with the revision of the draft the page showed.
#[derive(Debug, Deserialize)]
struct ExampleForm {
    revision: i64,
    example: String,
}

/// The outcome of a draft edit as the page answers it: back to the draft, or, when the edit was
/// refused, the draft page with the reason (and what was typed, for an example).
async fn after_edit(
    state: &AppState,
    mut session: WebSession,
    id: MockId,
    outcome: Result<(), ApiError>,
    done: &str,
    refused_example: Option<(String, String)>,
) -> Result<Response, PageError> {
    let error = match outcome {
        Ok(()) => {
            return Ok(redirect_with(
                &format!("/mocks/{id}/draft"),
                &[Flash::success(done)],
            ));
        }
        Err(error) => error,
    };
    let message = match &error {
        ApiError::DraftChanged(_) => "The draft changed since this page showed it (in another tab, or by someone else): your change was not saved. This is the draft as it is now.".to_owned(),
        ApiError::Invalid { .. } | ApiError::InvalidExample(_) | ApiError::MockTooLarge(_) | ApiError::MalformedJson(_) => error.to_string(),
        _ => return Err(error.into()),
    };
    let mock = own_mock(state, &session.workspace, id).await?;
    let refused = refused_example.map(|(example, typed)| Refused {
        example,
        typed,
        error: message.clone(),
    });
    session.flashes.push(Flash::error(message));
    render_draft(
        state,
        &session,
        &mock,
        StatusCode::UNPROCESSABLE_ENTITY,
        refused,
    )
    .await
}

/// The example in a form's JSON, checked by the engine against the draft's environment.
fn parse_example(text: &str, environment: &BTreeMap<String, String>) -> Result<Example, ApiError> {
    let value: serde_json::Value = crate::extract::parse_json(text.as_bytes())?;
    let document = from_value(value)?;
    read_example(document, environment).map(|(_, example)| example)
}

async fn add_example(
    State(state): State<AppState>,
    PagePath(id): PagePath<MockId>,
    PostedForm { session, form }: PostedForm<ExampleForm>,
) -> Result<Response, PageError> {
    save_posted_example(&state, session, id, form, None).await
}

async fn save_example(
    State(state): State<AppState>,
    PagePath((id, example_id)): PagePath<(MockId, ExampleId)>,
    PostedForm { session, form }: PostedForm<ExampleForm>,
) -> Result<Response, PageError> {
    save_posted_example(&state, session, id, form, Some(example_id)).await
}

/// An example posted as JSON, added to the draft (`to` none) or put in place of one of its
/// examples; refused, the draft page shows it again as it was typed.
async fn save_posted_example(
    state: &AppState,
    session: WebSession,
    id: MockId,
    form: ExampleForm,
    to: Option<ExampleId>,
) -> Result<Response, PageError> {
    let outcome = state
        .store
        .edit_draft(
            &session.workspace,
            id,
            Some(form.revision),
            |settings, examples| {
                let example = parse_example(&form.example, &settings.environment)?;
                match to {
                    Some(example_id) => ExampleEdit::Replace(example_id, example),
                    None => ExampleEdit::Add(example),
                }
                .apply(examples)
            },
        )
        .await
        .map(|_| ());
    let (slot, done) = match to {
        Some(example_id) => (example_id.to_string(), "Saved the example in the draft."),
        None => ("new".to_owned(), "Added the example to the draft."),
    };
    after_edit(
        state,
        session,
        id,
        outcome,
        done,
        Some((slot, form.example)),
    )
    .await
}

#[derive(Debug, Deserialize)]
struct RevisionForm {
    revision: i64,
    #[serde(default)]
    force: Option<String>,
    #[serde(default)]
    days: Option<u32>,
}

async fn remove_example(
    State(state): State<AppState>,
    PagePath((id, example_id)): PagePath<(MockId, ExampleId)>,
    PostedForm { session, form }: PostedForm<RevisionForm>,
) -> Result<Response, PageError> {
    let outcome = state
        .store
        .edit_draft(
            &session.workspace,
            id,
            Some(form.revision),
            |_, examples| ExampleEdit::Remove(example_id).apply(examples),
        )
        .await
        .map(|_| ());
    after_edit(
        &state,
        session,
        id,
        outcome,
        "Removed the example from the draft.",
        None,
    )
    .await
}

async fn run_impact(
    State(state): State<AppState>,
    PagePath(id): PagePath<MockId>,
    PostedForm { session, form }: PostedForm<RevisionForm>,
) -> Result<Response, PageError> {
    let mock = own_mock(&state, &session.workspace, id).await?;
    let draft = state.store.draft(&session.workspace, id).await?;
    if draft.revision != form.revision {
        return after_edit(
            &state,
            session,
            id,
            Err(ApiError::DraftChanged(String::new())),
            "",
            None,
        )
        .await;
    }
    let days = form.days.unwrap_or(7);
    let outcome = match impact(&state, &session.workspace, &mock, &draft, days, None).await {
        Ok(report) => keep(&state, &session.workspace, &mock, &report).await,
        Err(error) => Err(error),
    };
    match outcome {
        Ok(()) => Ok(redirect_with(&format!("/mocks/{id}/draft#impact"), &[])),
        Err(ApiError::Invalid { message, .. }) => Ok(redirect_with(
            &format!("/mocks/{id}/draft#impact"),
            &[Flash::error(message)],
        )),
        Err(
            error @ (ApiError::Busy(_) | ApiError::CallLogBehind | ApiError::TooManyCalls { .. }),
        ) => Ok(redirect_with(
            &format!("/mocks/{id}/draft#impact"),
            &[Flash::error(error.to_string())],
        )),
        Err(error) => Err(error.into()),
    }
}

async fn publish(
    State(state): State<AppState>,
    PagePath(id): PagePath<MockId>,
    PostedForm { session, form }: PostedForm<RevisionForm>,
) -> Result<Response, PageError> {
    let force = form.force.is_some();
    match state
        .store
        .publish_draft(&session.workspace, id, Some(form.revision), force)
        .await
    {
        Ok((mock, _)) => Ok(redirect_with(
            &format!("/mocks/{id}"),
            &[Flash::success(format!(
                "Published the draft: the mock answers from version {} now.",
                mock.version
            ))],
        )),
        Err(error @ (StoreError::LiveChanged { .. } | StoreError::DraftChanged { .. })) => {
            Ok(redirect_with(
                &format!("/mocks/{id}/draft"),
                &[Flash::error(format!("Not published: {error}."))],
            ))
        }
        Err(other) => Err(ApiError::from(other).into()),
    }
}

async fn discard(
    State(state): State<AppState>,
    PagePath(id): PagePath<MockId>,
    PostedForm { session, .. }: PostedForm<NoFields>,
) -> Result<Response, PageError> {
    state.store.discard_draft(&session.workspace, id).await?;
    Ok(redirect_with(
        &format!("/mocks/{id}"),
        &[Flash::success(
            "Discarded the draft; the mock is as it was.",
        )],
    ))
}

#[derive(Debug, Deserialize)]
struct DaysQuery {
    days: Option<u32>,
}

async fn health_page(
    State(state): State<AppState>,
    OwnMock(session, mock): OwnMock<WebSession>,
    Query(query): Query<DaysQuery>,
) -> Result<Response, PageError> {
    let days = query.days.unwrap_or(7);
    let (report, error) = match report(&state, &session.workspace, &mock, Some(days)).await {
        Ok(report) => (Some(report), None),
        Err(error @ (ApiError::Invalid { .. } | ApiError::Busy(_) | ApiError::CallLogBehind)) => {
            (None, Some(error.to_string()))
        }
        Err(error) => return Err(error.into()),
    };
    let draft = optional_draft(&state, &session, mock.id).await?;
    page(
        &session,
        StatusCode::OK,
        "health.html",
        context! {
            nav => "mocks",
            mock => summary(&mock),
            draft_revision => draft.map(|draft| draft.revision),
            days,
            report => report.map(Serde),
            error,
        },
    )
}

/// A suggestion of the health report, as its form sends it.
#[derive(Debug, Deserialize)]
struct SuggestionForm {
    /// `edit` or `add`.
    kind: String,
    #[serde(default)]
    example_id: Option<ExampleId>,
    example: String,
    summary: String,
    /// The draft's revision when the page showed one; none when there was no draft yet.
    #[serde(default)]
    revision: Option<i64>,
}

async fn apply_suggestion(
    State(state): State<AppState>,
    PagePath(id): PagePath<MockId>,
    PostedForm { session, form }: PostedForm<SuggestionForm>,
) -> Result<Response, PageError> {
    match state.store.start_draft(&session.workspace, id).await {
        Ok(_) | Err(StoreError::DraftExists) => {}
        Err(other) => return Err(ApiError::from(other).into()),
    }
    let outcome = state
        .store
        .edit_draft(
            &session.workspace,
            id,
            form.revision,
            |settings, examples| {
                let example = parse_example(&form.example, &settings.environment)?;
                let edit = match (form.kind.as_str(), form.example_id) {
                    ("edit", Some(example_id)) => ExampleEdit::Replace(example_id, example),
                    ("add", None) => ExampleEdit::Add(example),
                    _ => {
                        return Err(ApiError::invalid(
                            "kind",
                            "a suggestion is an edit or an addition",
                        ));
                    }
                };
                edit.apply(examples).map_err(|error| match error {
                    ApiError::NotFound => {
                        ApiError::invalid("example_id", "the draft no longer has this example")
                    }
                    other => other,
                })
            },
        )
        .await
        .map(|_| ());
    let done = format!("Applied to the draft: {}.", form.summary);
    after_edit(&state, session, id, outcome, &done, None).await
}

//! A mock's call log: the list (`/mocks/{id}/calls`, newest first, with a search box and
//! filters sent as a GET form, and paging by the API's cursor), one call in full
//! (`/mocks/{id}/calls/{call_id}`: headers, bodies pretty-printed, the key used, and why the
//! example answered or which examples came closest), clearing, and links to the exports.
//!
//! The numbers come from the call log's own service functions ([`crate::api::calls::search`]), so the
//! page and the API always agree. The live tail is `web/static/calls.js`: an `EventSource` on
//! the API's `calls/stream`, authenticated by the session cookie, that fills the row template of
//! the list page for each call as it arrives.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lyrebird_engine::{DecidedBy, Explanation, RequestPattern};
use lyrebird_store::calls::TextScope;
use lyrebird_store::{KeyId, Mock, MockId, Workspace};
use minijinja::context;
use minijinja::value::Serde;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::csrf::PostedForm;
use super::format::{self, ShownBody};
use super::session::percent_encode;
use super::{Flash, PageError, PagePath, WebSession, page, redirect_with};
use crate::AppState;
use crate::api::calls::search::{
    self, CallDetailView, CallPath, CallSummaryView, FilterParams, MessageView, PageParams,
};
use crate::api::keys::KeyView;
use crate::api::verify::{self, CountCheck};
use crate::auth::{OwnMock, own_mock};
use crate::error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/mocks/{id}/calls", get(call_log))
        .route("/mocks/{id}/calls/clear", post(clear_calls))
        .route("/mocks/{id}/calls/verify", get(verify_page))
        .route("/mocks/{id}/calls/{call_id}", get(call_page))
        .route("/static/calls.js", get(script))
}

/// The search form as the query string gives it. Times come from `datetime-local` inputs,
/// read as UTC.
#[derive(Debug, Default, Deserialize, Serialize)]
struct SearchForm {
    #[serde(default)]
    q: String,
    /// `anywhere` (or empty), `request` or `response`.
    #[serde(default)]
    q_in: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    matched: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    cursor: String,
}

impl SearchForm {
    /// The API's filters, or the field the form gave in a form they do not read.
    fn filters(&self) -> Result<FilterParams, ApiError> {
        let given = |value: &str| Some(value.trim().to_owned()).filter(|value| !value.is_empty());
        let matched = match self.matched.trim() {
            "" => None,
            "true" => Some(true),
            "false" => Some(false),
            _ => return Err(ApiError::invalid("matched", "use true or false")),
        };
        let time = |field: &'static str, value: &str| {
            given(value)
                .map(|value| {
                    OffsetDateTime::parse(&utc(&value), &Rfc3339).map_err(|_| {
                        ApiError::invalid(field, format!("{value:?} is not a date and time"))
                    })
                })
                .transpose()
        };
        let q_in = match self.q_in.trim() {
            "" | "anywhere" => None,
            "request" => Some(TextScope::Request),
            "response" => Some(TextScope::Response),
            _ => {
                return Err(ApiError::invalid(
                    "q_in",
                    "use anywhere, request or response",
                ));
            }
        };
        Ok(FilterParams {
            q_in,
            method: given(&self.method),
            status: given(&self.status),
            path_prefix: None,
            matched,
            from: time("from", &self.from)?,
            to: time("to", &self.to)?,
            q: given(&self.q),
        })
    }

    fn is_filtered(&self) -> bool {
        [
            &self.q,
            &self.method,
            &self.status,
            &self.matched,
            &self.from,
            &self.to,
        ]
        .iter()
        .any(|value| !value.trim().is_empty())
    }

    /// The filters given, as a query string, to carry them to the next page (times as the form
    /// has them) or to the API's exports (`time` makes them RFC 3339).
    fn query(&self, time: fn(&str) -> String) -> String {
        [
            ("q", self.q.clone()),
            ("q_in", self.q_in.clone()),
            ("method", self.method.clone()),
            ("status", self.status.clone()),
            ("matched", self.matched.clone()),
            ("from", time(&self.from)),
            ("to", time(&self.to)),
        ]
        .iter()
        .filter(|(_, value)| !value.trim().is_empty())
        .map(|(name, value)| format!("{name}={}", percent_encode(value)))
        .collect::<Vec<_>>()
        .join("&")
    }
}

/// A `datetime-local` value (`2026-11-21T12:00`, seconds optional) as RFC 3339 in UTC; other
/// text is passed on as it is.
fn utc(time: &str) -> String {
    let bytes = time.as_bytes();
    let local = |len: usize| bytes.len() == len && bytes.get(10) == Some(&b'T');
    if local(16) {
        format!("{time}:00Z")
    } else if local(19) {
        format!("{time}Z")
    } else {
        time.to_owned()
    }
}

/// A call in the list.
#[derive(Debug, Serialize)]
struct CallRow {
    id: uuid::Uuid,
    href: String,
    at: String,
    /// RFC 3339, for the page's script to say how long ago.
    iso: String,
    method: String,
    /// The path with its query.
    target: String,
    status: u16,
    matched: bool,
    /// The example's name, or what happened instead.
    answer: String,
    example_href: Option<String>,
    latency: String,
}

impl CallRow {
    fn new(mock: MockId, call: CallSummaryView) -> Self {
        let answer = match (&call.example_name, call.outcome.as_str()) {
            (Some(name), "proxied") => format!("{name}: passed to the upstream"),
            (Some(name), _) => name.clone(),
            (None, "fallback") => "No matching example (fallback response)".to_owned(),
            (None, "refused") if call.status == 401 => "Refused: no valid key".to_owned(),
            (None, "refused") => "Refused".to_owned(),
            (None, "over_quota") => "Refused: monthly quota used up".to_owned(),
            (None, "preflight") => "CORS preflight, answered by Lyrebird".to_owned(),
            (None, "proxied") => "No matching example: passed to the upstream".to_owned(),
            (None, _) => "No matching example".to_owned(),
        };
        Self {
            id: call.id,
            href: format!("/mocks/{mock}/calls/{}", call.id),
            at: format::precise_time(call.at),
            iso: format::iso_time(call.at),
            target: target(&call.path, &call.query),
            method: call.method,
            status: call.status,
            matched: call.matched,
            answer,
            example_href: call
                .example_id
                .map(|example| format!("/mocks/{mock}/examples/{example}")),
            latency: format::latency(call.latency_us),
        }
    }
}

fn target(path: &str, query: &str) -> String {
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{query}")
    }
}

/// The mock's name and URL, for the heading and the empty state.
fn mock_heading(state: &AppState, mock: &Mock) -> minijinja::Value {
    context! {
        id => mock.id.to_string(),
        name => &mock.name,
        private => mock.private,
        path_url => state.settings.mock_path_url(mock.id),
    }
}

/// A field the page refused, and why, for its template's `error`.
fn refused(field: &str, message: &str) -> minijinja::Value {
    context! { field, message => format::sentence(message) }
}

/// A page's status: 422 when it shows a refused field.
fn status_with(error: Option<&minijinja::Value>) -> StatusCode {
    match error {
        Some(_) => StatusCode::UNPROCESSABLE_ENTITY,
        None => StatusCode::OK,
    }
}

fn mock_id(id: &str) -> Result<MockId, PageError> {
    id.parse().map_err(|_| PageError::NotFound)
}

async fn call_log(
    State(state): State<AppState>,
    OwnMock(session, mock): OwnMock<WebSession>,
    Query(search): Query<SearchForm>,
) -> Result<Response, PageError> {
    let id = mock.id;
    let mock = mock_heading(&state, &mock);
    let params = PageParams {
        limit: None,
        cursor: Some(search.cursor.clone()).filter(|cursor| !cursor.is_empty()),
    };
    let found = match search.filters() {
        Ok(filters) => search::search(&state, &session.workspace, id, &filters, &params).await,
        Err(error) => Err(error),
    };
    let (calls, next_cursor, searched_back_to, error) = match found {
        Ok(found) => (
            found
                .calls
                .into_iter()
                .map(|call| CallRow::new(id, call))
                .collect(),
            found.next_cursor,
            found.searched_back_to.map(format::time),
            None,
        ),
        Err(ApiError::Invalid { field, message }) => {
            (Vec::new(), None, None, Some(refused(&field, &message)))
        }
        Err(other) => return Err(other.into()),
    };
    let query = search.query(str::to_owned);
    page(
        &session,
        status_with(error.as_ref()),
        "calls.html",
        context! {
            nav => "mocks",
            mock,
            calls => Serde(calls),
            search => Serde(&search),
            error,
            filtered => search.is_filtered(),
            paged => !search.cursor.is_empty(),
            searched_back_to,
            next_href => next_cursor.map(|cursor| {
                let join = if query.is_empty() { "" } else { "&" };
                format!("/mocks/{id}/calls?{query}{join}cursor={cursor}")
            }),
            export_query => search.query(|time| utc(time.trim())),
        },
    )
}

/// The call log's verify box, as the query string gives it.
#[derive(Debug, Default, Deserialize, Serialize)]
struct VerifyForm {
    /// A request pattern as JSON; empty: only the form is shown.
    #[serde(default)]
    request: String,
    /// `at_least`, `count` or `at_most`.
    #[serde(default)]
    expect: String,
    #[serde(default)]
    n: String,
    /// An `x-lyrebird-state` key; empty for every call.
    #[serde(default)]
    state: String,
}

impl VerifyForm {
    fn check(&self) -> Result<CountCheck, ApiError> {
        let request = crate::extract::parse_json::<RequestPattern>(self.request.as_bytes())
            .map_err(|error| error.within("request"))?;
        let n = match self.n.trim() {
            "" => None,
            n => Some(
                n.parse::<u64>()
                    .map_err(|_| ApiError::invalid("n", "a number of calls, from 0"))?,
            ),
        };
        let (count, at_least, at_most) = match self.expect.as_str() {
            "count" => (n, None, None),
            "at_most" => (None, None, n),
            _ => (None, n, None),
        };
        Ok(CountCheck {
            request,
            count,
            at_least,
            at_most,
            since: None,
            until: None,
            state: Some(self.state.trim().to_owned()).filter(|key| !key.is_empty()),
        })
    }
}

/// Counts the calls that fit a pattern, from the call log's verify box; the verdict, the
/// fitting calls and the near misses, linked to their calls.
async fn verify_page(
    State(state): State<AppState>,
    OwnMock(session, mock): OwnMock<WebSession>,
    Query(form): Query<VerifyForm>,
) -> Result<Response, PageError> {
    let verdict = if form.request.trim().is_empty() {
        Ok(None)
    } else {
        match form.check() {
            Ok(check) => verify::count(&state, &session.workspace, &mock, check)
                .await
                .map(Some),
            Err(error) => Err(error),
        }
    };
    let (verdict, error) = match verdict {
        Ok(verdict) => (verdict, None),
        Err(ApiError::Invalid { field, message }) => (None, Some(refused(&field, &message))),
        Err(ApiError::InvalidExample(errors)) => {
            let message = errors
                .first()
                .map(|e| format!("{}: {}", e.field, e.message))
                .unwrap_or_default();
            (None, Some(refused("request", &message)))
        }
        Err(other) => return Err(other.into()),
    };
    page(
        &session,
        status_with(error.as_ref()),
        "verify.html",
        context! {
            nav => "mocks",
            mock => mock_heading(&state, &mock),
            form => Serde(&form),
            verdict => verdict.map(Serde),
            error,
        },
    )
}

async fn clear_calls(
    State(state): State<AppState>,
    Path(id): Path<String>,
    PostedForm { session, .. }: PostedForm<IgnoredAny>,
) -> Result<Response, PageError> {
    let mock = own_mock(&state, &session.workspace, mock_id(&id)?).await?;
    let cleared = search::clear(&state, &session.workspace, &mock).await?;
    let text = match cleared {
        1 => "Cleared 1 call from the log.".to_owned(),
        n => format!("Cleared {} calls from the log.", format::count(n)),
    };
    Ok(redirect_with(
        &format!("/mocks/{id}/calls"),
        &[Flash::success(text)],
    ))
}

/// One side of a call as the detail page shows it.
#[derive(Debug, Serialize)]
struct MessagePart {
    headers: Vec<(String, String)>,
    body: ShownBody,
    size: String,
    truncated: bool,
}

impl From<MessageView> for MessagePart {
    fn from(message: MessageView) -> Self {
        let content_type = message
            .headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            .map(|(_, value)| value.as_str());
        let body = format::body(
            &message.body.text,
            message.body.encoding == "base64",
            content_type,
        );
        Self {
            size: format::count(message.body.size),
            truncated: message.body.truncated,
            headers: message.headers,
            body,
        }
    }
}

/// One example that came close, and the condition it failed.
#[derive(Debug, Serialize)]
struct Miss {
    name: String,
    href: String,
    failed: String,
}

async fn call_page(
    State(state): State<AppState>,
    OwnMock(session, mock): OwnMock<WebSession>,
    PagePath(CallPath { call_id }): PagePath<CallPath>,
) -> Result<Response, PageError> {
    let call: CallDetailView = search::detail(&state, &session.workspace, &mock, call_id).await?;
    let id = mock.id;
    let mock = mock_heading(&state, &mock);
    let key = match call.key_id {
        Some(key) => key_used(&state, &session.workspace, KeyId::from(key)).await?,
        None => None,
    };
    let explanation = explain(id, &call);
    let callbacks: Vec<_> = call
        .callbacks
        .iter()
        .map(|callback| {
            context! {
                at => format::time(callback.at),
                method => &callback.method,
                url => &callback.url,
                status => callback.status,
                latency => format::latency(callback.latency_us),
                error => &callback.error,
            }
        })
        .collect();
    let summary = &call.summary;
    let info = context! {
        at => format::time(summary.at),
        method => &summary.method,
        host => &summary.host,
        target => target(&summary.path, &summary.query),
        status => summary.status,
        outcome => &summary.outcome,
        example => &summary.example_name,
        example_href => summary
            .example_id
            .map(|example| format!("/mocks/{id}/examples/{example}")),
        latency => format::latency(summary.latency_us),
        client_addr => &summary.client_addr,
        error => &summary.error,
        callbacks_queued => call.callbacks_queued,
        version => summary.version,
    };
    page(
        &session,
        StatusCode::OK,
        "call.html",
        context! {
            nav => "mocks",
            mock,
            call => info,
            key,
            explanation,
            callbacks,
            request => Serde(MessagePart::from(call.request)),
            response => Serde(MessagePart::from(call.response)),
            answer_changed => call.answer_changed.map(Serde),
        },
    )
}

/// The key the call presented: its name, prefix and scope, and whether it is revoked since.
async fn key_used(
    state: &AppState,
    workspace: &Workspace,
    id: KeyId,
) -> Result<Option<minijinja::Value>, PageError> {
    Ok(state
        .store
        .list_keys(workspace)
        .await?
        .into_iter()
        .find(|key| key.id == id)
        .map(|key| {
            let key = KeyView::from(key);
            context! {
                name => key.name,
                prefix => key.prefix,
                scope => key.scope.as_str(),
                revoked => key.revoked_at.is_some(),
            }
        }))
}

/// The stored explanation as the page tells it: the rule that chose the example, the closest
/// examples with the condition each failed, or the reason for a refusal.
fn explain(mock: MockId, call: &CallDetailView) -> minijinja::Value {
    let Some(stored) = call.explanation.clone() else {
        return context! { kind => "none" };
    };
    match call.summary.outcome.as_str() {
        // An example answered, itself or by passing the call to the upstream.
        "matched" | "proxied" if call.summary.example_id.is_some() => {
            match serde_json::from_value::<DecidedBy>(stored.clone()) {
                Ok(decided) => context! {
                    kind => "matched",
                    reason => decided.describe(),
                    upstream => stored.get("upstream").cloned().map(Serde),
                },
                Err(_) => context! { kind => "none" },
            }
        }
        "no_match" | "fallback" | "proxied" => {
            match serde_json::from_value::<Explanation>(stored.clone()) {
                Ok(explanation) => {
                    let misses: Vec<Miss> = explanation
                        .near_misses
                        .into_iter()
                        .map(|miss| Miss {
                            href: format!("/mocks/{mock}/examples/{}", miss.id),
                            name: miss.name,
                            failed: miss.failed.describe(),
                        })
                        .collect();
                    context! {
                        kind => "no_match",
                        fallback => call.summary.outcome == "fallback",
                        upstream => stored.get("upstream").cloned().map(Serde),
                        misses => Serde(misses),
                    }
                }
                Err(_) => context! { kind => "none" },
            }
        }
        _ => {
            let reason = stored
                .get("reason")
                .and_then(|reason| reason.as_str())
                .unwrap_or_default();
            context! { kind => "refused", reason => refusal(reason) }
        }
    }
}

fn refusal(reason: &str) -> String {
    match reason {
        "invalid_credentials" => {
            "The mock is private, and the call came without a live key of this workspace (x-api-key).".to_owned()
        }
        "payload_too_large" => "The request body was over the mock body limit.".to_owned(),
        "bad_request" => "The request body could not be read.".to_owned(),
        "mock_broken" => "The mock could not be loaded: one of its examples no longer compiles.".to_owned(),
        "database_unavailable" => "The database did not answer while the mock was loaded.".to_owned(),
        "request_invalid" => "The request breaks the mock's OpenAPI contract: the answer (below) lists each violation.".to_owned(),
        "" => "The call was refused before matching.".to_owned(),
        other => format!("The call was refused before matching ({other})."),
    }
}

async fn script() -> impl IntoResponse {
    super::static_file(
        "text/javascript; charset=utf-8",
        include_str!("../../../../web/static/calls.js"),
    )
}

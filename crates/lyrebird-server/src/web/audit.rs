//! The audit log page (`/audit`): the workspace's changes, newest first, with a search box,
//! filters by action and actor, pages of older events, and each change's diff. The events are
//! the API's ([`crate::api::audit::page`]); reading them needs an admin.

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use minijinja::context;
use minijinja::value::Serde;
use serde_json::Value;

use super::{PageError, WebSession, format, page};
use crate::AppState;
use crate::api::audit::{AuditEventView, AuditParams};
use crate::error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new().route("/audit", get(audit_page))
}

/// Events per page.
const PAGE_SIZE: u32 = 25;

async fn audit_page(
    State(state): State<AppState>,
    session: WebSession,
    Query(mut params): Query<AuditParams>,
) -> Result<Response, PageError> {
    params.limit = Some(params.limit.unwrap_or(PAGE_SIZE));
    let (events, next, error) =
        match crate::api::audit::page(&state, &session.workspace, &params).await {
            Ok(found) => (found.events, found.next, None),
            Err(ApiError::Invalid { field, message }) => {
                (Vec::new(), None, Some(format!("{field}: {message}")))
            }
            Err(other) => return Err(other.into()),
        };
    let older = next.map(|before| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in [
            ("q", &params.q),
            ("action", &params.action),
            ("actor", &params.actor),
        ] {
            if let Some(value) = value.as_deref().filter(|value| !value.is_empty()) {
                query.append_pair(name, value);
            }
        }
        query.append_pair("before", &before);
        format!("/audit?{}", query.finish())
    });
    let rows: Vec<_> = events.iter().map(row).collect();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    page(
        &session,
        status,
        "audit.html",
        context! {
            nav => "audit",
            events => rows,
            q => params.q.as_deref().unwrap_or_default(),
            action => params.action.as_deref().unwrap_or_default(),
            actor => params.actor.as_deref().unwrap_or_default(),
            groups => crate::audit::action_groups(),
            paged => params.before.is_some(),
            older,
            error,
        },
    )
}

/// An event as the page shows it: the diff apart from the other details.
fn row(event: &AuditEventView) -> minijinja::Value {
    let mut details = event.details.clone();
    let changes = details
        .as_object_mut()
        .and_then(|details| details.remove("changes"))
        .unwrap_or(Value::Null);
    let other: Vec<(String, String)> = details
        .as_object()
        .into_iter()
        .flatten()
        // The mock is linked; a detail without a value says nothing.
        .filter(|(name, value)| *name != "mock_id" && !value.is_null())
        .map(|(name, value)| {
            let text = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            (name.clone(), text)
        })
        .collect();
    context! {
        id => &event.id,
        at => format::time(event.at),
        actor => &event.actor,
        address => &event.address,
        action => &event.action,
        target => &event.target,
        mock_id => event.mock_id.map(|id| id.to_string()),
        mock_name => &event.mock_name,
        changes => Serde(changes),
        details => other,
    }
}

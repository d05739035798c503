//! `GET /api/v1/mocks/{id}/calls/export?format=ndjson|har`: a mock's calls, with the filters of
//! a search, newest first, streamed page by page so an export of any size holds one page in
//! memory.
//!
//! NDJSON is one call per line, as `GET .../calls/{call_id}` shows it. HAR is HAR 1.2, which
//! browsers' developer tools and Lyrebird's own importer read (a recording becomes a mock again);
//! Lyrebird's own fields go in `_lyrebird` of each entry, as HAR allows for custom fields.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use lyrebird_store::calls::{CallFilter, CallPosition, Header, StoredCall, StoredCallback};
use lyrebird_store::{MockId, Store, Workspace};
use serde::Deserialize;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use tokio::sync::mpsc;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::search::{CallDetailView, FilterParams};
use crate::AppState;
use crate::auth::{Admin, own_mock};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ApiQuery};

/// Calls read from the database at a time.
const PAGE: u32 = 200;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// `ndjson` (default) or `har`.
    #[param(inline)]
    pub format: Option<Format>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Ndjson,
    Har,
}

/// Exports the mock's calls (newest first) as NDJSON or HAR 1.2.
#[utoipa::path(
    get,
    path = "/api/v1/mocks/{id}/calls/export",
    tag = "calls",
    params(
        ("id" = String, Path, format = Uuid, description = "The mock's id"),
        FilterParams,
        ExportParams,
    ),
    responses(
        (status = 200, description = "NDJSON (application/x-ndjson) or HAR (application/json)"),
        (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub(super) async fn export_calls(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(mock): ApiPath<MockId>,
    ApiQuery(filter): ApiQuery<FilterParams>,
    ApiQuery(params): ApiQuery<ExportParams>,
) -> Result<Response, ApiError> {
    let filter = filter.parse()?;
    let format = params.format.unwrap_or(Format::Ndjson);
    own_mock(&state, &admin.workspace, mock).await?;
    let (chunks, receiver) = mpsc::channel(2);
    tokio::spawn(write_export(
        state.store.clone(),
        admin.workspace,
        mock,
        filter,
        format,
        chunks,
    ));
    let (content_type, extension) = match format {
        Format::Ndjson => ("application/x-ndjson", "ndjson"),
        Format::Har => ("application/json", "har"),
    };
    let mut receiver = receiver;
    let body = Body::from_stream(futures_util::stream::poll_fn(move |cx| {
        receiver.poll_recv(cx)
    }));
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"calls-{mock}.{extension}\""),
            ),
        ],
        body,
    )
        .into_response())
}

type Chunk = Result<Bytes, std::io::Error>;

/// Pages through the calls and sends the export in chunks, one page each. A database error
/// mid-way ends the body with an error, so the client sees a broken download rather than a
/// short one that looks whole.
async fn write_export(
    store: Store,
    workspace: Workspace,
    mock: MockId,
    filter: CallFilter,
    format: Format,
    chunks: mpsc::Sender<Chunk>,
) {
    if let Err(error) = write_pages(&store, &workspace, mock, &filter, format, &chunks).await {
        tracing::error!(error = %error, "call log export failed");
        let _ = chunks.send(Err(std::io::Error::other(error))).await;
    }
}

/// The export's chunks; `Ok` also when the client went away, as nobody is left to tell.
async fn write_pages(
    store: &Store,
    workspace: &Workspace,
    mock: MockId,
    filter: &CallFilter,
    format: Format,
    chunks: &mpsc::Sender<Chunk>,
) -> lyrebird_store::Result<()> {
    if format == Format::Har && !send(chunks, har_opening()).await {
        return Ok(());
    }
    let mut after: Option<CallPosition> = None;
    let mut first = true;
    loop {
        let page = store
            .export_calls(workspace, mock, filter, after, PAGE)
            .await?;
        after = page.last().map(|call| call.summary.position());
        let full = page.len() == PAGE as usize;
        let mut text = String::new();
        match format {
            // NDJSON shows each call with its callback results; HAR has no place for them.
            Format::Ndjson => {
                let calls: Vec<_> = page.iter().map(|call| call.summary.position()).collect();
                let mut callbacks: HashMap<Uuid, Vec<StoredCallback>> = HashMap::new();
                for callback in store.callbacks_of(workspace, mock, &calls).await? {
                    callbacks
                        .entry(callback.call_id)
                        .or_default()
                        .push(callback);
                }
                for call in page {
                    let own = callbacks.remove(&call.summary.id).unwrap_or_default();
                    text.push_str(&to_json(&CallDetailView::new(call, own, None)));
                    text.push('\n');
                }
            }
            Format::Har => {
                for call in &page {
                    if !first {
                        text.push(',');
                    }
                    text.push_str(&har_entry(call).to_string());
                    first = false;
                }
            }
        }
        if !text.is_empty() && !send(chunks, text).await {
            return Ok(());
        }
        if !full {
            break;
        }
    }
    if format == Format::Har {
        send(chunks, "]}}".to_owned()).await;
    }
    Ok(())
}

/// False when the client went away.
async fn send(chunks: &mpsc::Sender<Chunk>, text: String) -> bool {
    chunks.send(Ok(Bytes::from(text))).await.is_ok()
}

fn to_json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|error| json!({ "error": error.to_string() }).to_string())
}

fn har_opening() -> String {
    let creator = json!({"name": "Lyrebird", "version": env!("CARGO_PKG_VERSION")});
    format!(r#"{{"log":{{"version":"1.2","creator":{creator},"entries":["#)
}

/// One HAR entry. Redacted headers stay redacted; a body kept as base64 is marked so in the
/// response (HAR's `encoding`) and left out of the request (HAR has no encoding there).
fn har_entry(call: &StoredCall) -> Value {
    let summary = &call.summary;
    let pairs = |headers: &[Header]| -> Vec<Value> {
        headers
            .iter()
            .map(|(name, value)| json!({"name": name, "value": value}))
            .collect()
    };
    let header = |headers: &[Header], name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_string())
    };
    let query: Vec<Value> = summary
        .query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            json!({"name": name, "value": value})
        })
        .collect();
    let url = if summary.query.is_empty() {
        format!("http://{}{}", summary.host, summary.path)
    } else {
        format!("http://{}{}?{}", summary.host, summary.path, summary.query)
    };
    let latency_ms = summary.latency_us as f64 / 1000.0;
    let mut request = json!({
        "method": summary.method,
        "url": url,
        "httpVersion": "HTTP/1.1",
        "cookies": [],
        "headers": pairs(&call.request_headers.0),
        "queryString": query,
        "headersSize": -1,
        "bodySize": call.request_body_size,
    });
    if !call.request_body.is_empty() && !call.request_body_base64 {
        request["postData"] = json!({
            "mimeType": header(&call.request_headers.0, "content-type").unwrap_or_default(),
            "text": call.request_body,
        });
    }
    let mut content = json!({
        "size": call.response_body_size,
        "mimeType": header(&call.response_headers.0, "content-type").unwrap_or_default(),
        "text": call.response_body,
    });
    if call.response_body_base64 {
        content["encoding"] = json!("base64");
    }
    let status = u16::try_from(summary.status).unwrap_or_default();
    json!({
        "startedDateTime": summary.at.format(&Rfc3339).unwrap_or_default(),
        "time": latency_ms,
        "request": request,
        "response": {
            "status": status,
            "statusText": StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or_default(),
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": pairs(&call.response_headers.0),
            "content": content,
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": call.response_body_size,
        },
        "cache": {},
        "timings": {"send": 0, "wait": latency_ms, "receive": 0},
        "_lyrebird": {
            "id": summary.id,
            "outcome": summary.outcome,
            "example_id": summary.example_id,
            "example_name": summary.example_name,
            "version": summary.version,
            "error": summary.error,
            "client_addr": summary.client_addr,
            "truncated": call.request_body_size > call.body_cap || call.response_body_size > call.body_cap,
        },
    })
}

//! `GET /api/v1/mocks/{id}/calls/stream`: a live tail of a mock's calls as Server-Sent Events.
//!
//! Each call the runtime records from the moment of subscribing is an event `call` whose data is
//! the call's summary (as in a listing) and whose id is the call's id; a comment every 15 s keeps
//! idle connections open through proxies. A tail that falls more than 1,024 calls behind gets a
//! comment saying how many it skipped. The stream ends when the server shuts down.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::search::CallSummaryView;
use crate::AppState;
use crate::auth::OwnMock;
use crate::error::{ApiError, ErrorBody};

const HEARTBEAT: Duration = Duration::from_secs(15);

/// Streams the mock's calls as they happen (Server-Sent Events, event `call`).
#[utoipa::path(
    get,
    path = "/api/v1/mocks/{id}/calls/stream",
    tag = "calls",
    params(("id" = String, Path, format = Uuid, description = "The mock's id")),
    responses(
        (status = 200, description = "Events `call` with a call summary as data", content_type = "text/event-stream", body = CallSummaryView),
        (status = 404, body = ErrorBody),
    )
)]
pub(super) async fn stream_calls(
    State(state): State<AppState>,
    OwnMock(admin, mock): OwnMock,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let (workspace, mock) = (admin.workspace.id(), mock.id);
    let (calls, closing) = state.runtime.call_log().subscribe();
    let events = futures_util::stream::unfold(
        (calls, closing),
        move |(mut calls, mut closing)| async move {
            loop {
                if *closing.borrow_and_update() {
                    return None;
                }
                let event = tokio::select! {
                    received = calls.recv() => match received {
                        Ok(call) if call.mock_id == mock && call.workspace_id == workspace =>
                        {
                            let summary = CallSummaryView::from(&*call);
                            Event::default()
                                .event("call")
                                .id(call.id.to_string())
                                .json_data(summary)
                                .unwrap_or_else(|_| Event::default().comment("unencodable call"))
                        }
                        Ok(_) => continue,
                        Err(RecvError::Lagged(skipped)) => Event::default()
                            .comment(format!("{skipped} calls skipped: this tail fell behind")),
                        Err(RecvError::Closed) => return None,
                    },
                    changed = closing.changed() => {
                        if changed.is_err() {
                            return None;
                        }
                        continue;
                    }
                };
                return Some((Ok(event), (calls, closing)));
            }
        },
    );
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat")))
}

//! `GET /api/v1/mocks/{id}/calls/stream`: a live tail of a mock's calls as Server-Sent Events.
//!
//! Each call the runtime records from the moment of subscribing is an event `call` whose data is
//! the call's summary (as in a listing) and whose id is the call's id. Calls answered by other
//! servers on the database come too, once their call log has written them (told through
//! PostgreSQL: `lyrebird_store::Change::CallsWritten`), so a tail sees every replica's calls,
//! in order per server, within the writers' flush interval (0.1 s) plus the write; a comment every 15 s keeps
//! idle connections open through proxies. A tail that falls more than 1,024 calls behind gets a
//! comment saying how many it skipped. The stream ends when the server shuts down.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use lyrebird_store::calls::CallSummary;
use tokio::sync::broadcast::error::RecvError;

use super::search::CallSummaryView;
use crate::AppState;
use crate::auth::OwnMock;
use crate::error::{ApiError, ErrorBody};

const HEARTBEAT: Duration = Duration::from_secs(15);

/// Reads of other servers' blocks of calls for live tails, at once, in this process: a few of
/// the pool's connections at most, however many tails are open (a tail that waits falls behind
/// and is told what it skipped).
static BLOCK_READS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// A call as its event: `call`, with the call's id, and its summary as data.
fn call_event(id: uuid::Uuid, summary: CallSummaryView) -> Event {
    Event::default()
        .event("call")
        .id(id.to_string())
        .json_data(summary)
        .unwrap_or_else(|_| Event::default().comment("unencodable call"))
}

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
    let tail = state.runtime.call_log().subscribe();
    let store = state.store.clone();
    let events = futures_util::stream::unfold(
        (tail, VecDeque::new()),
        move |(mut tail, mut waiting)| {
            let store = store.clone();
            async move {
                loop {
                    if *tail.closing.borrow_and_update() {
                        return None;
                    }
                    if let Some(event) = waiting.pop_front() {
                        return Some((Ok(event), (tail, waiting)));
                    }
                    let event = tokio::select! {
                        received = tail.calls.recv() => match received {
                            Ok(call) if call.mock_id == mock && call.workspace_id == workspace => {
                                call_event(call.id, CallSummaryView::from(&*call))
                            }
                            Ok(_) => continue,
                            Err(RecvError::Lagged(skipped)) => Event::default()
                                .comment(format!("{skipped} calls skipped: this tail fell behind")),
                            Err(RecvError::Closed) => return None,
                        },
                        received = tail.elsewhere.recv() => match received {
                            Ok(block) if block.mock == mock && block.workspace == workspace => {
                                // Another server's calls, once its writer wrote them; a few
                                // reads at a time, so tails never take the pool from calls.
                                let _reading = BLOCK_READS.acquire().await;
                                match store.block_calls(&block).await {
                                    Ok(calls) => waiting.extend(calls.into_iter().map(|call| {
                                        call_event(call.id, CallSummary::from(call).into())
                                    })),
                                    Err(error) => tracing::warn!(%error, "a live tail could not read another server's calls"),
                                }
                                continue;
                            }
                            Ok(_) => continue,
                            Err(RecvError::Lagged(skipped)) => Event::default().comment(format!(
                                "{skipped} blocks of other servers' calls skipped: this tail fell behind"
                            )),
                            Err(RecvError::Closed) => return None,
                        },
                        changed = tail.closing.changed() => {
                            if changed.is_err() {
                                return None;
                            }
                            continue;
                        }
                    };
                    return Some((Ok(event), (tail, waiting)));
                }
            }
        },
    );
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(HEARTBEAT).text("heartbeat")))
}

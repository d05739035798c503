//! The background writer: takes calls off the queue and stores them in batches, one multi-row
//! INSERT each, so the request path never waits for the database.
//!
//! A batch closes when it holds `batch_size` rows or `flush_interval` after its first call. When
//! the database is away, the writer keeps the batch and retries with backoff while the queue
//! fills up behind it (past its capacity, [`super::CallLog::record`] drops and counts). Once an
//! hour, and at start, it creates the coming monthly partitions and applies the retention.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lyrebird_store::Store;
use lyrebird_store::calls::{NewCall, NewCallback, StoredBody};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use uuid::Uuid;

use super::{CallLogOptions, CallbackResult, LoggedCall, Message, Shared};

/// How often partitions are created ahead and old calls removed.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(3600);
/// Backoff between failed writes, doubling from the first to the last.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(5);
/// At shutdown, how long a failing database is retried before the queued calls are given up.
const SHUTDOWN_PATIENCE: Duration = Duration::from_secs(10);

struct Writer {
    store: Store,
    options: CallLogOptions,
    shared: Arc<Shared>,
    calls: Vec<NewCall>,
    callbacks: Vec<NewCallback>,
    /// Set once the database failed for longer than the shutdown patience while stopping:
    /// later batches are not retried.
    giving_up: bool,
}

/// Runs until a flush request or until every handle is gone.
pub(super) async fn run(
    store: Store,
    mut queue: mpsc::Receiver<Message>,
    options: CallLogOptions,
    shared: Arc<Shared>,
) {
    let mut writer = Writer {
        calls: Vec::with_capacity(options.batch_size),
        callbacks: Vec::new(),
        store,
        options,
        shared,
        giving_up: false,
    };
    let mut maintenance = tokio::time::interval(MAINTENANCE_EVERY);
    loop {
        let message = tokio::select! {
            message = queue.recv() => message,
            _ = maintenance.tick() => {
                writer.maintain().await;
                continue;
            }
        };
        let Some(message) = message else {
            return;
        };
        let mut flush = writer.take(message);
        let deadline = Instant::now() + writer.options.flush_interval;
        let mut closed = false;
        while flush.is_none() && writer.pending() < writer.options.batch_size {
            match tokio::time::timeout_at(deadline, queue.recv()).await {
                Ok(Some(message)) => flush = writer.take(message),
                Ok(None) => {
                    closed = true;
                    break;
                }
                Err(_) => break,
            }
        }
        writer.write().await;
        if let Some(done) = flush {
            let _ = done.send(());
            return;
        }
        if closed {
            return;
        }
    }
}

impl Writer {
    fn pending(&self) -> usize {
        self.calls.len() + self.callbacks.len()
    }

    /// Adds a message to the batch; hands back the answer channel of a flush request.
    fn take(&mut self, message: Message) -> Option<oneshot::Sender<()>> {
        match message {
            Message::Call(call) => self.calls.push(new_call(&call)),
            Message::Callback(call_id, result) => {
                self.callbacks.push(new_callback(call_id, result))
            }
            Message::Flush(done) => return Some(done),
        }
        None
    }

    /// Writes the batch, retrying until it is written (or, while stopping, given up).
    async fn write(&mut self) {
        if self.pending() == 0 {
            return;
        }
        let mut retry = FIRST_RETRY;
        let mut failing_since: Option<Instant> = None;
        loop {
            match self.store.insert_calls(&self.calls, &self.callbacks).await {
                Ok(()) => {
                    if let Some(since) = failing_since {
                        tracing::info!(
                            calls = self.calls.len(),
                            after_ms = since.elapsed().as_millis() as u64,
                            "call log writes again"
                        );
                    }
                    break;
                }
                Err(error) => {
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    let stopping = self.shared.stopping.load(Ordering::Relaxed);
                    if self.giving_up || (stopping && since.elapsed() >= SHUTDOWN_PATIENCE) {
                        self.giving_up = true;
                        tracing::error!(
                            error = %error_chain(&error),
                            lost = self.calls.len(),
                            "call log: the database is away at shutdown; these calls are lost"
                        );
                        break;
                    }
                    tracing::warn!(
                        error = %error_chain(&error),
                        calls = self.calls.len(),
                        retry_ms = retry.as_millis() as u64,
                        "call log: writing failed; keeping the batch and retrying"
                    );
                    tokio::time::sleep(retry).await;
                    retry = (retry * 2).min(LAST_RETRY);
                }
            }
        }
        self.calls.clear();
        self.callbacks.clear();
    }

    async fn maintain(&self) {
        let now = time::OffsetDateTime::now_utc();
        if let Err(error) = self.store.ensure_call_partitions(now).await {
            tracing::warn!(error = %error_chain(&error), "call log: creating partitions failed");
        }
        let cutoff = now - time::Duration::days(i64::from(self.options.retention_days));
        match self.store.apply_call_retention(cutoff).await {
            Ok(report) => {
                if !report.dropped_partitions.is_empty() || report.deleted_rows > 0 {
                    tracing::info!(
                        dropped = ?report.dropped_partitions,
                        deleted_rows = report.deleted_rows,
                        "call log retention applied"
                    );
                }
            }
            Err(error) => {
                tracing::warn!(error = %error_chain(&error), "call log: retention failed");
            }
        }
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn new_call(call: &LoggedCall) -> NewCall {
    let record = &call.record;
    NewCall {
        id: record.id,
        workspace_id: record.workspace_id,
        mock_id: record.mock_id,
        at: record.at,
        method: record.method.clone(),
        host: record.host.clone(),
        path: record.path.clone(),
        query: record.query.clone(),
        request_headers: record.request_headers.clone(),
        request_body: stored_body(&record.request_body, call.request_body_size),
        status: record.status,
        response_headers: record.response_headers.clone(),
        response_body: stored_body(&record.response_body, call.response_body_size),
        body_cap: call.body_cap as u64,
        outcome: record.outcome.kind(),
        example_id: record.outcome.example().map(|(id, _)| id),
        example_name: record.outcome.example().map(|(_, name)| name.to_owned()),
        explanation: record.outcome.explanation(),
        error: record.error.clone(),
        latency_us: record.latency_us,
        client_addr: record.client_addr,
        key_id: record.key_id,
        callbacks_queued: u32::try_from(record.callbacks).unwrap_or(u32::MAX),
    }
}

/// Text when the bytes are UTF-8 without NUL (PostgreSQL text cannot hold NUL), else base64.
fn stored_body(body: &[u8], size: usize) -> StoredBody {
    let size = size as u64;
    match std::str::from_utf8(body) {
        Ok(text) if !text.contains('\0') => StoredBody {
            text: text.to_owned(),
            base64: false,
            size,
        },
        _ => StoredBody {
            text: STANDARD.encode(body),
            base64: true,
            size,
        },
    }
}

fn new_callback(call_id: Uuid, result: CallbackResult) -> NewCallback {
    NewCallback {
        id: Uuid::now_v7(),
        call_id,
        at: result.at,
        url: result.url,
        method: result.method,
        status: result.status,
        latency_us: result.latency_us,
        error: result.error,
    }
}

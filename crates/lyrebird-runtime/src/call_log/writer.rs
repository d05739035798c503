//! The background writer: takes calls off the queue, writes each into its block as it comes
//! (a block per mock, see `lyrebird_store::calls`), and stores the blocks in batches, one
//! transaction each, so the request path never waits for the database.
//!
//! A batch closes when it holds `batch_size` rows or `flush_interval` after its first call; up to
//! `writers` batches are written at once, each on its own connection. When the database is away,
//! each batch is kept and retried with backoff while the queue fills up behind them (past its
//! capacity, [`super::CallLog::record`] drops and counts). Once an hour, and at start, a task
//! beside the writer creates the coming monthly partitions and applies the retention.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use lyrebird_store::Store;
use lyrebird_store::calls::{CallBlocks, NewCallback};
use lyrebird_store::error::error_chain;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;
use uuid::Uuid;

use super::{CallLogOptions, CallbackResult, Message, Shared};

/// How often partitions are created ahead and old calls removed.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(3600);
/// Backoff between failed writes, doubling from the first to the last.
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(5);
/// At shutdown, how long a failing database is retried before the queued calls are given up.
const SHUTDOWN_PATIENCE: Duration = Duration::from_secs(10);

/// Calls and callback results written together.
#[derive(Default)]
struct Batch {
    /// Written into blocks as they come, while each call's parts are still in the CPU's caches.
    calls: CallBlocks,
    callbacks: Vec<NewCallback>,
    /// When its first call came, for the writer's lag.
    first_at: Option<Instant>,
}

impl Batch {
    fn len(&self) -> usize {
        self.calls.len() + self.callbacks.len()
    }
}

struct Writer {
    store: Store,
    options: CallLogOptions,
    shared: Arc<Shared>,
    batch: Batch,
    /// Batches being written, at most `options.writers`.
    in_flight: JoinSet<()>,
    /// Answered once every call before their request is written ([`super::CallLog::written`]).
    waiting: Vec<oneshot::Sender<()>>,
}

/// Runs until a flush request or until every handle is gone. The hourly maintenance runs
/// beside it, so a long retention pass never holds up writing.
pub(super) async fn run(
    store: Store,
    queue: mpsc::Receiver<Message>,
    options: CallLogOptions,
    shared: Arc<Shared>,
) {
    let maintenance = tokio::spawn(maintain_periodically(store.clone(), options.retention_days));
    let writer = Writer {
        batch: Batch::default(),
        in_flight: JoinSet::new(),
        waiting: Vec::new(),
        store,
        options,
        shared,
    };
    writer.write_until_stopped(queue).await;
    maintenance.abort();
}

impl Writer {
    async fn write_until_stopped(mut self, mut queue: mpsc::Receiver<Message>) {
        loop {
            let Some(message) = queue.recv().await else {
                self.finish().await;
                return;
            };
            let mut flush = self.take(message);
            // One timer per batch, not per call: the queue is read first, as long as it has
            // calls.
            let deadline = tokio::time::sleep_until(Instant::now() + self.options.flush_interval);
            tokio::pin!(deadline);
            let mut closed = false;
            while flush.is_none()
                && self.waiting.is_empty()
                && self.batch.len() < self.options.batch_size
            {
                tokio::select! {
                    biased;
                    message = queue.recv() => match message {
                        Some(message) => flush = self.take(message),
                        None => {
                            closed = true;
                            break;
                        }
                    },
                    () = &mut deadline => break,
                }
            }
            self.send_batch().await;
            if !self.waiting.is_empty() {
                self.finish().await;
                for done in self.waiting.drain(..) {
                    let _ = done.send(());
                }
            }
            if let Some(done) = flush {
                self.finish().await;
                let _ = done.send(());
                return;
            }
            if closed {
                self.finish().await;
                return;
            }
        }
    }

    /// Adds a message to the batch; hands back the answer channel of a flush request.
    fn take(&mut self, message: Message) -> Option<oneshot::Sender<()>> {
        match message {
            Message::Call(call) => {
                self.batch.first_at.get_or_insert_with(Instant::now);
                let id = call.id;
                if let Err(error) = self.batch.calls.push(*call) {
                    self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(call = %id, %error, "call log: a call could not be encoded; it is not logged");
                }
            }
            Message::Callback(call_id, result) => {
                self.batch.callbacks.push(new_callback(call_id, result))
            }
            Message::Flush(done) => return Some(done),
            Message::Written(done) => self.waiting.push(done),
        }
        None
    }

    /// Starts writing the batch once fewer than `writers` batches are being written; while
    /// it waits, the queue holds new calls.
    async fn send_batch(&mut self) {
        if self.batch.len() == 0 {
            return;
        }
        while self.in_flight.len() >= self.options.writers.max(1) {
            joined(self.in_flight.join_next().await);
        }
        let batch = std::mem::take(&mut self.batch);
        self.in_flight
            .spawn(write(self.store.clone(), batch, self.shared.clone()));
    }

    /// Waits for every batch being written.
    async fn finish(&mut self) {
        while let Some(result) = self.in_flight.join_next().await {
            joined(Some(result));
        }
    }
}

/// Creates the coming monthly partitions and applies the retention: at start, then hourly.
/// Expired web sessions and old login failure counts go in the same pass, the server's one
/// hourly task.
async fn maintain_periodically(store: Store, retention_days: u32) {
    let mut every = tokio::time::interval(MAINTENANCE_EVERY);
    loop {
        every.tick().await;
        let now = time::OffsetDateTime::now_utc();
        if let Err(error) = store.ensure_call_partitions(now).await {
            tracing::warn!(error = %error_chain(&error), "call log: creating partitions failed");
        }
        let cutoff = now - time::Duration::days(i64::from(retention_days));
        match store.apply_call_retention(cutoff).await {
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
        if let Err(error) = store.delete_expired_sessions().await {
            tracing::warn!(error = %error_chain(&error), "deleting expired sessions failed");
        }
        // The throttle forgets a count after an hour without a failure.
        if let Err(error) = store
            .forget_login_failures(now - time::Duration::HOUR)
            .await
        {
            tracing::warn!(error = %error_chain(&error), "forgetting old login failures failed");
        }
    }
}

fn joined(result: Option<Result<(), tokio::task::JoinError>>) {
    if let Some(Err(error)) = result {
        tracing::error!(%error, "call log: a batch write failed");
    }
}

/// Writes a batch, retrying until it is written or, once the log is stopping and the database
/// has failed for [`SHUTDOWN_PATIENCE`], given up (and every later failing batch with it).
async fn write(store: Store, batch: Batch, shared: Arc<Shared>) {
    let mut retry = FIRST_RETRY;
    let mut failing_since: Option<Instant> = None;
    loop {
        match store.insert_calls(&batch.calls, &batch.callbacks).await {
            Ok(()) => {
                let written = batch.calls.len() as u64;
                shared.written.fetch_add(written, Ordering::Relaxed);
                if let Some(first) = batch.first_at {
                    let lag = u64::try_from(first.elapsed().as_micros()).unwrap_or(u64::MAX);
                    shared.lag_us.store(lag, Ordering::Relaxed);
                }
                if let Some(since) = failing_since {
                    tracing::info!(
                        calls = batch.calls.len(),
                        after_ms = since.elapsed().as_millis() as u64,
                        "call log writes again"
                    );
                }
                return;
            }
            Err(error) => {
                let since = *failing_since.get_or_insert_with(Instant::now);
                let stopping = shared.stopping.load(Ordering::Relaxed);
                if shared.giving_up.load(Ordering::Relaxed)
                    || (stopping && since.elapsed() >= SHUTDOWN_PATIENCE)
                {
                    shared.giving_up.store(true, Ordering::Relaxed);
                    let lost = batch.calls.len() as u64;
                    shared.dropped.fetch_add(lost, Ordering::Relaxed);
                    tracing::error!(
                        error = %error_chain(&error),
                        lost = batch.calls.len(),
                        "call log: the database is away at shutdown; these calls are lost"
                    );
                    return;
                }
                tracing::warn!(
                    error = %error_chain(&error),
                    calls = batch.calls.len(),
                    retry_ms = retry.as_millis() as u64,
                    "call log: writing failed; keeping the batch and retrying"
                );
                tokio::time::sleep(retry).await;
                retry = (retry * 2).min(LAST_RETRY);
            }
        }
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

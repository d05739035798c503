//! The call recorder: every mock call, as the runtime saw it, queued for the call log.
//!
//! The runtime hands each call to [`CallLog::record`], which redacts secrets, caps the bodies,
//! makes the call into the form the store keeps (`encode`, on the request path) and queues it
//! on a bounded channel without ever waiting; a background writer (`writer`) writes the queue
//! into blocks and stores them in batches. Callback results arrive
//! later through [`CallLog::record_callback`] and join their call. [`CallLog::shutdown`] writes
//! everything still queued, so a graceful stop loses nothing.
//!
//! Every recorded call is also offered to the live tails ([`CallLog::subscribe`]) through a
//! broadcast channel. Reading the log (search, live tail, export) is the admin API's, in the
//! server.

mod encode;
mod writer;

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use lyrebird_engine::{ClientBy, DecidedBy, Selection};
use lyrebird_store::calls::{CallOutcomeKind, Header, NewCall};
use lyrebird_store::{ExampleId, KeyId, MockId, Store, WorkspaceId, WrittenBlock};
use serde::{Serialize, Serializer};
use tokio::sync::{Mutex, broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::faults::FaultNote;
use crate::rate_limit::Limiter;
use crate::upstream::UpstreamNote;

/// One mock call, as the runtime saw it: the one shape in which a call goes from the runtime to
/// the store. The call log, not the runtime, caps the bodies (and records the original sizes)
/// and redacts secrets.
#[derive(Debug, Clone)]
pub struct CallRecord {
    /// A UUIDv7, made by the runtime, so calls sort by time within an index.
    pub id: Uuid,
    pub workspace_id: WorkspaceId,
    pub mock_id: MockId,
    pub at: time::OffsetDateTime,
    pub method: String,
    pub host: String,
    /// The path the engine saw (after the mock's base).
    pub path: String,
    /// The query string without `?`, as received.
    pub query: String,
    pub request_headers: Vec<Header>,
    pub request_body: Bytes,
    pub status: u16,
    pub response_headers: Vec<Header>,
    pub response_body: Bytes,
    pub outcome: CallOutcome,
    /// A render error, if the response could not be rendered as the example says.
    pub error: Option<String>,
    pub latency_us: u64,
    pub client_addr: Option<IpAddr>,
    /// The key the caller presented, when it was one of the workspace's keys.
    pub key_id: Option<KeyId>,
    /// How many callbacks this call queued; their results come later.
    pub callbacks: usize,
    /// How the answer was served, when there is more to say than the outcome: a fault, a
    /// wait, a simulated rate limit.
    pub note: Option<Box<ServingNote>>,
    /// The mock's version that answered.
    pub version: u32,
}

/// How the call was answered: what users filter on when they troubleshoot.
#[derive(Debug, Clone, PartialEq)]
pub enum CallOutcome {
    /// An example answered, for the engine's reason (kept typed until the call is encoded).
    Matched {
        example_id: ExampleId,
        example_name: String,
        decided_by: DecidedBy,
        /// For a mock with state: the state the answer was decided in and what it changed.
        state: Option<Box<StateNote>>,
    },
    /// No example fitted; the 404 carried this explanation.
    NoMatch { explanation: Miss },
    /// No example fitted and the mock's fallback response answered.
    Fallback { explanation: Miss },
    /// Refused before matching, e.g. `invalid_credentials` for a private mock.
    Refused { reason: String },
    /// Refused because the workspace used up its monthly quota.
    OverQuota,
    /// A browser's CORS preflight, answered by the runtime (no example answers `OPTIONS` on
    /// that path).
    Preflight,
    /// No example fitted, and the call was sent to the mock's upstream: its answer, or why
    /// there is none (then the error answered).
    Proxied {
        explanation: Miss,
        upstream: Box<UpstreamNote>,
    },
    /// An example whose response passes its calls on fitted, and the call was sent to the
    /// mock's upstream: its answer, or why there is none (then the error answered).
    ExampleProxied {
        example_id: ExampleId,
        example_name: String,
        decided_by: DecidedBy,
        state: Option<Box<StateNote>>,
        upstream: Box<UpstreamNote>,
    },
}

impl CallOutcome {
    pub fn kind(&self) -> CallOutcomeKind {
        match self {
            CallOutcome::Matched { .. } => CallOutcomeKind::Matched,
            CallOutcome::NoMatch { .. } => CallOutcomeKind::NoMatch,
            CallOutcome::Fallback { .. } => CallOutcomeKind::Fallback,
            CallOutcome::Refused { .. } => CallOutcomeKind::Refused,
            CallOutcome::OverQuota => CallOutcomeKind::OverQuota,
            CallOutcome::Preflight => CallOutcomeKind::Preflight,
            CallOutcome::Proxied { .. } | CallOutcome::ExampleProxied { .. } => {
                CallOutcomeKind::Proxied
            }
        }
    }

    /// The example that answered, if one did.
    pub fn example(&self) -> Option<(ExampleId, &str)> {
        match self {
            CallOutcome::Matched {
                example_id,
                example_name,
                ..
            }
            | CallOutcome::ExampleProxied {
                example_id,
                example_name,
                ..
            } => Some((*example_id, example_name)),
            _ => None,
        }
    }

    /// What the call log keeps as the call's explanation, as a JSON tree (for the admin API's
    /// "try a request"; the call log writes it as text from the typed value).
    pub fn explanation(&self) -> Option<serde_json::Value> {
        serde_json::to_value(self.explained()?).ok()
    }

    fn explained(&self) -> Option<Explained<'_>> {
        match self {
            CallOutcome::Matched {
                decided_by, state, ..
            } => Some(Explained::DecidedBy(Decided {
                decided_by,
                state: state.as_deref(),
            })),
            CallOutcome::NoMatch { explanation } | CallOutcome::Fallback { explanation } => {
                Some(Explained::Explanation(explanation))
            }
            CallOutcome::Refused { reason } => Some(Explained::Refused { reason }),
            CallOutcome::Proxied {
                explanation,
                upstream,
            } => Some(Explained::Proxied {
                explanation,
                upstream,
            }),
            CallOutcome::ExampleProxied {
                decided_by,
                state,
                upstream,
                ..
            } => Some(Explained::ExampleProxied {
                decided: Decided {
                    decided_by,
                    state: state.as_deref(),
                },
                upstream,
            }),
            CallOutcome::OverQuota | CallOutcome::Preflight => None,
        }
    }
}

/// Why no example answered, as the engine's selection said: its explanation of a miss, an
/// `x-mock-response-id` or `-name` that named no example, or a match that could not be rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct Miss(pub Selection);

impl Serialize for Miss {
    /// A miss as its explanation alone; anything else as the selection.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Selection::NoMatch(explanation) => explanation.serialize(serializer),
            other => other.serialize(serializer),
        }
    }
}

/// The state a call of a mock with state was answered in (docs/state.md, "In the call log").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateNote {
    /// The state key (`x-lyrebird-state`); empty for the mock's default state.
    pub key: String,
    /// The version of the state the answer was decided in (0: never written).
    pub version: i64,
    /// The scenarios that had left `started`, with their states.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub scenarios: std::collections::BTreeMap<String, String>,
    /// What the answer changed, in words.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changed: Vec<String>,
}

/// How a call was served beyond its answer (docs/testing-with-lyrebird.md, "In the call log"):
/// written into its explanation.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ServingNote {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<FaultNote>,
    /// The whole wait before answering: the mock's and the response's, fixed and drawn.
    #[serde(skip_serializing_if = "is_zero")]
    pub delay_ms: u64,
    /// The simulated rate limit that refused the call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateNote>,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RateNote {
    /// The client as the limit told it apart; a key, or the value of a header that carries
    /// secrets (`authorization`, `cookie`...), shows only its last four characters.
    pub client: String,
    pub limit: u32,
    pub window_s: u32,
}

impl RateNote {
    pub(crate) fn new(limiter: &Limiter, client: String) -> Self {
        let secret_header = limiter.setting.header.as_deref().is_some_and(|name| {
            name.eq_ignore_ascii_case("cookie")
                || SECRET_HEADERS.iter().any(|s| name.eq_ignore_ascii_case(s))
        });
        let ending = |what: &str| {
            let tail: String = client.chars().rev().take(4).collect();
            format!("{what} ending {}", tail.chars().rev().collect::<String>())
        };
        let client = match limiter.setting.by {
            ClientBy::Key if client.is_empty() => "no key".to_owned(),
            ClientBy::Key => ending("key"),
            ClientBy::Header if secret_header && !client.is_empty() => ending("a value"),
            ClientBy::Address | ClientBy::Header => client.chars().take(64).collect(),
        };
        Self {
            client,
            limit: limiter.setting.limit,
            window_s: limiter.setting.window_s,
        }
    }
}

/// The reason for a match, with the state it was decided in.
#[derive(Serialize)]
struct Decided<'a> {
    #[serde(flatten)]
    decided_by: &'a DecidedBy,
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'a StateNote>,
}

/// An explanation with how the call was served.
#[derive(Serialize)]
struct Noted<'a> {
    #[serde(flatten)]
    explained: Option<Explained<'a>>,
    #[serde(flatten)]
    note: &'a ServingNote,
}

/// A call's explanation as stored: the engine's reason for a match, its explanation of a miss,
/// or `{"reason": ...}` for a refusal.
#[derive(Serialize)]
#[serde(untagged)]
enum Explained<'a> {
    DecidedBy(Decided<'a>),
    Explanation(&'a Miss),
    Refused {
        reason: &'a str,
    },
    /// The miss, and what the upstream did with the call.
    Proxied {
        #[serde(flatten)]
        explanation: &'a Miss,
        upstream: &'a UpstreamNote,
    },
    /// The reason for the match, and what the upstream did with the call.
    ExampleProxied {
        #[serde(flatten)]
        decided: Decided<'a>,
        upstream: &'a UpstreamNote,
    },
}

/// The result of one callback a call queued.
#[derive(Debug, Clone, PartialEq)]
pub struct CallbackResult {
    pub url: String,
    pub method: String,
    /// When the callback was sent.
    pub at: time::OffsetDateTime,
    /// The receiver's status, when it answered.
    pub status: Option<u16>,
    pub latency_us: u64,
    /// Why it failed or was refused (e.g. a private address without the allow-list).
    pub error: Option<String>,
}

/// Settings of the call log.
#[derive(Debug, Clone)]
pub struct CallLogOptions {
    /// Calls that may wait for the writer; past it, calls are counted as dropped, never waited
    /// for.
    pub queue_capacity: usize,
    /// Most calls written in one batch (one transaction, a block per mock).
    pub batch_size: usize,
    /// Batches written at the same time, each on a connection of its own.
    pub writers: usize,
    /// How long a call may wait for more calls to join its batch.
    pub flush_interval: Duration,
    /// Bodies longer than this many bytes are cut to it; the original size is kept.
    pub body_cap: usize,
    /// Calls older than this many days are removed.
    pub retention_days: u32,
}

impl Default for CallLogOptions {
    fn default() -> Self {
        Self {
            queue_capacity: 10_000,
            batch_size: 1000,
            writers: 2,
            flush_interval: Duration::from_millis(100),
            body_cap: 64 * 1024,
            retention_days: 30,
        }
    }
}

/// What the writer receives, in order.
#[derive(Debug)]
enum Message {
    Call(Box<NewCall>),
    Callback(Uuid, CallbackResult),
    /// Write everything before this, then answer and stop.
    Flush(oneshot::Sender<()>),
    /// Write everything before this, then answer and go on.
    Written(oneshot::Sender<()>),
}

/// The handle the runtime and the callback worker record through. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CallLog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    queue: mpsc::Sender<Message>,
    options: CallLogOptions,
    shared: Arc<Shared>,
    /// Every recorded call, for the live tails; sent to only when someone listens.
    live: broadcast::Sender<Arc<CallRecord>>,
    /// The blocks of calls other processes wrote, for the live tails likewise.
    elsewhere: broadcast::Sender<WrittenBlock>,
    /// Turns true when the server stops, which ends the live tails.
    closing: watch::Sender<bool>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

/// What the handle and the writer both see.
#[derive(Debug, Default)]
struct Shared {
    dropped: AtomicU64,
    /// Calls written, and how long the oldest call of the last batch written waited (µs).
    written: AtomicU64,
    lag_us: AtomicU64,
    /// Callback results: with an answer, and without one.
    callbacks_answered: AtomicU64,
    callbacks_failed: AtomicU64,
    /// Set by [`CallLog::shutdown`]: the writer stops retrying a dead database after a while.
    stopping: AtomicBool,
    /// Set when, while stopping, the database stayed away too long: batches are not retried.
    giving_up: AtomicBool,
}

/// How many calls a slow live tail may fall behind before it skips some.
const LIVE_CAPACITY: usize = 1024;
/// How many blocks of other processes' calls a slow live tail may fall behind.
const ELSEWHERE_CAPACITY: usize = 256;

/// What a live tail receives: the calls this process records, the blocks of calls other
/// processes write (read them with [`lyrebird_store::Store::block_calls`]: they arrive once
/// written, within the writer's flush interval), and a signal that turns true when the server
/// stops.
pub struct Tail {
    pub calls: broadcast::Receiver<Arc<CallRecord>>,
    pub elsewhere: broadcast::Receiver<WrittenBlock>,
    pub closing: watch::Receiver<bool>,
}

impl CallLog {
    /// Starts the background writer on the store.
    pub fn start(store: Store, options: CallLogOptions) -> Self {
        let (queue, receiver) = mpsc::channel(options.queue_capacity);
        let shared = Arc::new(Shared::default());
        let writer = tokio::spawn(writer::run(
            store,
            receiver,
            options.clone(),
            shared.clone(),
        ));
        Self {
            inner: Arc::new(Inner {
                queue,
                options,
                shared,
                live: broadcast::channel(LIVE_CAPACITY).0,
                elsewhere: broadcast::channel(ELSEWHERE_CAPACITY).0,
                closing: watch::channel(false).0,
                writer: Mutex::new(Some(writer)),
            }),
        }
    }

    /// Queues a call for the writer. Never waits: when the queue is full the call is dropped,
    /// counted and logged, so a slow database cannot slow mock responses.
    pub fn record(&self, record: CallRecord) {
        let response_size = record.response_body.len();
        self.record_passed(record, response_size);
    }

    /// Queues a call whose answer was passed on as it came: its `response_body` is the start of
    /// the answer, at least as much as the log keeps ([`CallLog::body_cap`]), of
    /// `response_size` bytes in all.
    pub fn record_passed(&self, mut record: CallRecord, response_size: usize) {
        redact_request_headers(&mut record.request_headers);
        redact_response_headers(&mut record.response_headers);
        let sizes = encode::Sizes {
            request: record.request_body.len(),
            response: response_size,
            cap: self.inner.options.body_cap,
        };
        record.request_body = cap_body(&record.request_body, sizes.request, sizes.cap);
        record.response_body = cap_body(&record.response_body, sizes.response, sizes.cap);
        let call = if self.inner.live.receiver_count() > 0 {
            let record = Arc::new(record);
            let call = encode::encode(CallRecord::clone(&record), sizes);
            let _ = self.inner.live.send(record);
            call
        } else {
            encode::encode(record, sizes)
        };
        self.enqueue(Message::Call(Box::new(call)));
    }

    /// Queues the result of a callback of call `call_id`, to be stored with that call.
    pub fn record_callback(&self, call_id: Uuid, result: CallbackResult) {
        let counter = match result.status {
            Some(_) => &self.inner.shared.callbacks_answered,
            None => &self.inner.shared.callbacks_failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.enqueue(Message::Callback(call_id, result));
    }

    /// The log's part of the metrics.
    pub(crate) fn read_into(&self, snapshot: &mut crate::stats::Snapshot) {
        let shared = &self.inner.shared;
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let queue = &self.inner.queue;
        snapshot.log_queued = (queue.max_capacity() - queue.capacity()) as u64;
        snapshot.log_written = read(&shared.written);
        snapshot.log_dropped = read(&shared.dropped);
        snapshot.log_lag = Duration::from_micros(read(&shared.lag_us));
        snapshot.callbacks_answered = read(&shared.callbacks_answered);
        snapshot.callbacks_failed = read(&shared.callbacks_failed);
    }

    /// The most bytes of a body the log keeps.
    pub fn body_cap(&self) -> usize {
        self.inner.options.body_cap
    }

    /// Calls dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.inner.shared.dropped.load(Ordering::Relaxed)
    }

    /// Every call recorded from now on, here and by other processes on the database.
    pub fn subscribe(&self) -> Tail {
        Tail {
            calls: self.inner.live.subscribe(),
            elsewhere: self.inner.elsewhere.subscribe(),
            closing: self.inner.closing.subscribe(),
        }
    }

    /// Tells the live tails of a block of calls another process wrote.
    pub(crate) fn written_elsewhere(&self, block: WrittenBlock) {
        if self.inner.elsewhere.receiver_count() > 0 {
            let _ = self.inner.elsewhere.send(block);
        }
    }

    /// Ends the live tails. Called when the shutdown signal arrives, so that open streams do
    /// not hold up the graceful shutdown (which waits for every connection).
    pub fn close_live_tails(&self) {
        self.inner.closing.send_replace(true);
    }

    /// Returns once every call recorded before has been written (or dropped), so a read of
    /// the log that follows sees them: for checks of what a mock received (verification).
    /// Waits as long as the writer does: give it a timeout.
    pub async fn written(&self) {
        let (done, written) = oneshot::channel();
        if self.inner.queue.send(Message::Written(done)).await.is_ok() {
            let _ = written.await;
        }
    }

    /// Writes everything queued so far and stops the writer. Called once serving has stopped
    /// and before the database stops. If the database is away, it is retried for a while, then
    /// the queued calls are given up (and logged as lost).
    pub async fn shutdown(&self) {
        self.close_live_tails();
        let Some(writer) = self.inner.writer.lock().await.take() else {
            return;
        };
        self.inner.shared.stopping.store(true, Ordering::Relaxed);
        let (done, written) = oneshot::channel();
        if self.inner.queue.send(Message::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
        if let Err(error) = writer.await {
            tracing::error!(%error, "the call log writer failed");
        }
    }

    fn enqueue(&self, message: Message) {
        if let Err(error) = self.inner.queue.try_send(message) {
            let dropped = self.inner.shared.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            // Logged at powers of two so a flood of drops does not flood the log.
            if dropped.is_power_of_two() {
                tracing::warn!(dropped, reason = %error, "call log queue full or closed: calls dropped");
            }
        }
    }
}

/// Headers as plain strings, e.g. of a call read back (whose are all owned already).
pub fn plain_headers(headers: Vec<Header>) -> Vec<(String, String)> {
    headers
        .into_iter()
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect()
}

/// Headers as the call log keeps them, from plain strings (moved, not copied).
pub(crate) fn logged_headers(headers: Vec<(String, String)>) -> Vec<Header> {
    headers
        .into_iter()
        .map(|(name, value)| (name.into(), value.into()))
        .collect()
}

/// Request headers whose whole value is a secret.
const SECRET_HEADERS: [&str; 3] = ["x-api-key", "authorization", "proxy-authorization"];

/// What a redacted value is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Secrets out of request headers: key and credential headers entirely, cookie values
/// (names kept, so users still see which cookies came).
fn redact_request_headers(headers: &mut [Header]) {
    for (name, value) in headers {
        if SECRET_HEADERS.iter().any(|s| name.eq_ignore_ascii_case(s)) {
            *value = REDACTED.into();
        } else if name.eq_ignore_ascii_case("cookie") {
            *value = value
                .split(';')
                .map(|pair| match pair.split_once('=') {
                    Some((cookie, _)) => format!("{}={REDACTED}", cookie.trim()),
                    None => pair.trim().to_owned(),
                })
                .collect::<Vec<_>>()
                .join("; ")
                .into();
        }
    }
}

/// Cookie values out of `Set-Cookie` response headers (name and attributes kept).
fn redact_response_headers(headers: &mut [Header]) {
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("set-cookie") {
            let (cookie, attributes) = value.split_once(';').unwrap_or((value, ""));
            let cookie_name = cookie.split_once('=').map_or(cookie, |(n, _)| n).trim();
            *value = if attributes.is_empty() {
                format!("{cookie_name}={REDACTED}")
            } else {
                format!("{cookie_name}={REDACTED};{attributes}")
            }
            .into();
        }
    }
}

/// The first `cap` bytes of a body of `size` bytes that starts with `body`; when that cuts a
/// UTF-8 character of a text body in two, the cut moves back to the character's start, so the
/// stored text stays text.
fn cap_body(body: &Bytes, size: usize, cap: usize) -> Bytes {
    if size <= cap {
        return body.clone();
    }
    let capped = body.slice(..cap.min(body.len()));
    match std::str::from_utf8(&capped) {
        Err(error) if error.error_len().is_none() => capped.slice(..error.valid_up_to()),
        _ => capped,
    }
}

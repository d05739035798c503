//! The mock runtime of Lyrebird: everything a mock call touches (`docs/serving.md`).
//!
//! The server hands a [`Runtime`] what it needs at start ([`RuntimeOptions`]: the base host,
//! the names of the app's cookies, the limits), a [`CallLog`] and [`Callbacks`]; from then on it
//! asks [`Runtime::target`] whether a request is a mock call and hands those to
//! [`Runtime::serve`]. Nothing here knows the admin API's routes or the web app.
//!
//! - [`routing`]: which requests are mock calls, by host or by path.
//! - `call`: one mock call, start to finish: the compiled mock from `cache`, the key from
//!   `keys` for private mocks, the monthly quota from `quota`, the engine's answer, delays on
//!   the timer, `cors`, then the call record and callbacks. None of it touches the database for
//!   a warm mock.
//! - `state`: mocks' state (scenarios, sequences, keys, collections) kept in memory, read by
//!   calls and written through PostgreSQL (docs/state.md).
//! - `headers`: the headers the runtime adds, as types that cannot hold an invalid one.
//! - [`call_log`]: the call recorder and its background writer.
//! - [`callbacks`]: the worker that sends the requests examples ask for after their response,
//!   through [`network`], the guard that keeps them off non-public addresses; [`upstream`]:
//!   calls no example matches, passed on to the mock's upstream through the same guard.
//!
//! Coherence (`changes`): the runtime takes in every [`lyrebird_store::Change`], those this
//! process commits at once (the server's store applies them through the runtime before the
//! write returns) and everyone's through a listener.

mod cache;
mod call;
pub mod call_log;
pub mod callbacks;
mod changes;
pub mod connection;
mod cors;
mod faults;
mod headers;
mod keys;
pub mod network;
mod quota;
mod rate_limit;
mod response_headers;
pub mod routing;
mod state;
pub mod stats;
pub mod upstream;

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::http::request::Parts;
use axum::response::Response;
use lyrebird_store::{MockId, ServedMock, Store, StoreError, UsageMonth, WorkspaceId};
use tokio::task::JoinHandle;

use cache::{Entry, LoadedMock, MockCache};
pub use call::TriedAnswer;
use call_log::CallLog;
use callbacks::Callbacks;
use connection::Breaker;
use keys::KeyMap;
use quota::Quotas;
pub use routing::MockTarget;
use state::States;
use stats::{Snapshot, Stats};
use upstream::{Answered, Failure, Forward, Upstream, UpstreamNote};

/// What the runtime is handed at start.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// The public host[:port] that mock hosts (`<id>.mock.<base-host>`) are recognised on.
    pub base_host: String,
    /// The cookies the app sets on its own origin. A mock's templates, its call log and its
    /// callbacks never see them: a mock called by path on the app's host would otherwise
    /// receive a signed-in visitor's session.
    pub app_cookies: &'static [&'static str],
    /// Mock calls a workspace may make per calendar month, unless set for that workspace.
    pub monthly_quota: u64,
    /// How many compiled mocks the process keeps in memory; the least recently used leave
    /// first.
    pub mock_cache_size: usize,
    /// The largest request body a mock accepts, in bytes (a larger one is answered 413).
    pub mock_max_body_bytes: usize,
    /// Mock calls first reserved from a workspace's monthly quota at a time (the lease doubles
    /// when calls outrun it).
    pub quota_lease: u64,
}

/// The runtime's shared state. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    cache: MockCache,
    states: States,
    keys: KeyMap,
    quotas: Quotas,
    call_log: CallLog,
    callbacks: Callbacks,
    base_host: String,
    app_cookies: &'static [&'static str],
    max_body_bytes: usize,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Calls by outcome, fault and duration, for the metrics.
    stats: Stats,
}

/// Why a mock could not be tried.
#[derive(Debug, thiserror::Error)]
pub enum TryError {
    /// The stored mock does not compile with this engine.
    #[error("this mock cannot be served: {0}")]
    Broken(String),
    /// The tried request's `x-lyrebird-state` cannot be a state key; why.
    #[error("x-lyrebird-state: {0}")]
    StateKey(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How often served calls and key uses are written.
const WRITE_INTERVAL: Duration = Duration::from_secs(1);

impl Runtime {
    /// Loads the keys and starts listening for changes (before any call is served, so none is
    /// missed), then the background writer of usage and key use. Calls are recorded in
    /// `call_log` and their callbacks sent by `callbacks`.
    pub async fn start(
        store: Store,
        options: RuntimeOptions,
        call_log: CallLog,
        callbacks: Callbacks,
    ) -> lyrebird_store::Result<Self> {
        let listener = store.listen_for_changes().await?;
        let runtime = Self {
            inner: Arc::new(Inner {
                store: store.clone(),
                cache: MockCache::new(store.clone(), options.mock_cache_size),
                states: States::new(store.clone()),
                keys: KeyMap::load(store.clone()).await?,
                quotas: Quotas::new(store, options.monthly_quota, options.quota_lease),
                call_log,
                callbacks,
                base_host: options.base_host,
                app_cookies: options.app_cookies,
                max_body_bytes: options.mock_max_body_bytes,
                tasks: Mutex::default(),
                stats: Stats::default(),
            }),
        };
        let notified = tokio::spawn(runtime.clone().follow_changes(listener));
        let writer = tokio::spawn(runtime.clone().write_periodically());
        runtime
            .inner
            .tasks
            .lock()
            .expect("task list lock")
            .extend([notified, writer]);
        Ok(runtime)
    }

    /// Stops the background tasks, writes usage and key use, hands back unused leased calls,
    /// waits for the callbacks under way and writes the call log. Run after serving has
    /// stopped, before the database stops.
    pub async fn shutdown(&self) {
        for task in self.inner.tasks.lock().expect("task list lock").drain(..) {
            task.abort();
        }
        self.inner.quotas.shutdown().await;
        self.inner.keys.write_last_used().await;
        self.inner.callbacks.shutdown().await;
        self.inner.call_log.shutdown().await;
    }

    /// The mock a request with this `Host` and path is for, or `None` when it is not a mock
    /// call ([`routing`]).
    pub fn target(&self, host: Option<&str>, path: &str) -> Option<MockTarget> {
        routing::mock_target(&self.inner.base_host, host, path)
    }

    /// Answers a request addressed to a mock. `client` tells the caller's address, for the call
    /// log; it is asked only once the mock is found (calls that name no mock are not logged).
    pub async fn serve(
        &self,
        target: MockTarget,
        client: impl FnOnce(&Parts) -> Option<IpAddr>,
        request: Request,
        breaker: &Breaker,
    ) -> Response {
        call::serve(&self.inner, target, client, request, breaker).await
    }

    /// Everything the runtime counts, as of now (the server's `GET /metrics`).
    pub fn metrics(&self) -> Snapshot {
        let inner = &self.inner;
        let mut snapshot = Snapshot::default();
        inner.stats.read_into(&mut snapshot);
        (
            snapshot.cache_hits,
            snapshot.cache_misses,
            snapshot.cache_mocks,
        ) = inner.cache.use_counts();
        snapshot.quota_leases = inner.quotas.leases();
        inner.call_log.read_into(&mut snapshot);
        snapshot
    }

    /// The call log the runtime records in, for reading it live.
    pub fn call_log(&self) -> &CallLog {
        &self.inner.call_log
    }

    /// What the workspace's mock would answer to `request`, from the compiled mock that serves
    /// it, in the state its `x-lyrebird-state` header names (read, never written), without
    /// counting or recording anything; `None` when the workspace has no such mock.
    pub async fn try_request(
        &self,
        workspace: WorkspaceId,
        id: MockId,
        request: lyrebird_engine::Request,
    ) -> Result<Option<TriedAnswer>, TryError> {
        let entry = self.inner.cache.get(id).await?;
        match &*entry {
            Entry::Ready(mock) if mock.workspace == workspace => {
                self.try_loaded(mock, request).await.map(Some)
            }
            Entry::Broken {
                workspace: owner,
                reason,
            } if *owner == workspace => Err(TryError::Broken(reason.clone())),
            _ => Ok(None),
        }
    }

    /// [`Runtime::try_request`] on a mock as given rather than as stored (a draft of it,
    /// compiled for this request), in the stored mock's states.
    pub async fn try_draft(
        &self,
        draft: ServedMock,
        request: lyrebird_engine::Request,
    ) -> Result<TriedAnswer, TryError> {
        let mock = LoadedMock::compile(draft).map_err(TryError::Broken)?;
        self.try_loaded(&mock, request).await
    }

    async fn try_loaded(
        &self,
        mock: &LoadedMock,
        request: lyrebird_engine::Request,
    ) -> Result<TriedAnswer, TryError> {
        let key = request
            .header("x-lyrebird-state")
            .unwrap_or("")
            .trim()
            .to_owned();
        lyrebird_store::state::check_state_key(&key).map_err(TryError::StateKey)?;
        let state = if mock.engine.is_stateful() {
            self.inner.states.get(mock.id, &key).await?
        } else {
            std::sync::Arc::default()
        };
        Ok(call::try_answer(mock, request, &key, &state))
    }

    /// Sends a request to an upstream as pass-through sends a call no example matches: through
    /// the same guard, client and limits ([`upstream`]); with the note the call log would keep
    /// of it. For checks of a mock against its upstream, which are no mock calls.
    pub async fn send_upstream(
        &self,
        upstream: &Upstream,
        request: Forward<'_>,
    ) -> (Result<Answered, Failure>, UpstreamNote) {
        self.inner
            .callbacks
            .upstreams()
            .forward(upstream, request)
            .await
    }

    /// Calls served this month and not yet written, for `GET /api/v1/usage`.
    pub fn unwritten_calls(&self, workspace: WorkspaceId, month: UsageMonth) -> u64 {
        self.inner.quotas.unwritten(workspace, month)
    }

    async fn write_periodically(self) {
        let mut every = tokio::time::interval(WRITE_INTERVAL);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            self.inner.quotas.write_usage().await;
            self.inner.keys.write_last_used().await;
        }
    }
}
